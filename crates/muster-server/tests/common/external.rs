//! Finding the real programs tests drive (Alertmanager, Python with
//! pdpyras), skipping loudly when one is missing, failing under `CI=true`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The first of `names` on the PATH. Missing: `None` with a note, or a panic under CI.
pub fn program(names: &[&str], what: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    missing(what)
}

pub fn missing<T>(what: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {what} is missing: .ci/run must install it");
    }
    eprintln!("SKIPPED: {what} is not installed");
    None
}

/// A free TCP port on 127.0.0.1 (free when asked; taken back at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Python that can import `module`: `MUSTER_TEST_PYTHON`, else the
/// repository's `.venv`; missing (see [`missing`]) otherwise, with `how` to
/// get one.
pub fn python_with(module: &str, how: &str) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let candidates = std::env::var_os("MUSTER_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")]);
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args(["-W", "ignore", "-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    missing(&format!("a Python with {module} ({how})"))
}
