//! Durable ingest throughput, side by side with Prometheus Alertmanager.
//!
//! Run: `cargo bench -p muster --bench ingest` (needs `wrk` and
//! `prometheus-alertmanager` on the PATH; PostgreSQL through
//! `MUSTER_TEST_POSTGRES_URL`). The same load generator (`wrk`, 2 threads,
//! 64 connections, or each count in `MUSTER_BENCH_CONNECTIONS`, e.g.
//! `64,256`) hits, one after another on the same machine:
//!
//! - Alertmanager 0.25 `POST /api/v2/alerts` (in memory, not durable);
//! - Muster `POST /v2/enqueue` (PagerDuty Events v2) on SQLite
//!   (WAL, `synchronous=FULL`) and on PostgreSQL, answered only once durable;
//!
//! each with one new alert per request, then with every request a repeat of
//! one alert (dedup hits). `MUSTER_BENCH_SECONDS` sets each run's length
//! (default 10).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muster_store::testing::{Backend, TestDatabase};

const ADMIN: &str = "mst_bench_admin_token_of_32_characters";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let ok = Command::new("curl").args(["-sf", "-o", "/dev/null", url]).status().is_ok_and(|s| s.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not become ready");
}

/// A wrk script that POSTs `template` with `%s` replaced by a unique key per
/// request (or the same key every time).
fn script(dir: &std::path::Path, name: &str, template: &str, unique: bool) -> std::path::PathBuf {
    let key = if unique { r#"id .. "-" .. counter"# } else { r#""same""# };
    let lua = format!(
        r#"local counter = 0
local template = [==[{template}]==]
function setup(thread) thread:set("id", tostring(math.random(1, 1000000000))) end
request = function()
  counter = counter + 1
  local body = string.gsub(template, "%%s", {key})
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
end
"#
    );
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).unwrap();
    path
}

struct Run {
    rps: f64,
    p50: String,
    p99: String,
    errors: u64,
}

fn wrk(url: &str, script: &std::path::Path, seconds: u64, connections: u32) -> Run {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk runs (Debian: wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Run { rps: field("Requests/sec:").parse().unwrap_or(0.0), p50: field("50%"), p99: field("99%"), errors }
}

fn alertmanager(dir: &std::path::Path) -> (Proc, String) {
    let config = dir.join("am.yml");
    std::fs::write(&config, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n").unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager starts (Debian: prometheus-alertmanager)");
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/-/ready"));
    (Proc(child), url)
}

fn muster(database: &str) -> (Proc, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .env("MUSTER_ADMIN_TOKEN", ADMIN)
        .env("MUSTER_LOG", "error")
        .env("MUSTER_INGEST_RATE", "1000000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let out = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {ADMIN}"),
            "-H",
            "Content-Type: application/json",
        ])
        .args(["-d", r#"{"name":"bench"}"#, &format!("{url}/api/v1/services")])
        .output()
        .unwrap();
    let svc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the service is created");
    (Proc(child), url, svc["integration_key"].as_str().unwrap().to_owned())
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks; there is nothing to list.
    }
    let seconds: u64 = std::env::var("MUSTER_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: Vec<u32> = std::env::var("MUSTER_BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "64".into())
        .split(',')
        .map(|n| n.trim().parse().expect("MUSTER_BENCH_CONNECTIONS is a list of numbers, like 64,256"))
        .collect();
    let dir = std::env::temp_dir().join(format!("muster-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let am_body =
        r#"[{"labels":{"alertname":"Bench","instance":"%s","severity":"critical"},"annotations":{"summary":"bench"}}]"#;
    let mut rows: Vec<(String, &str, u32, Run)> = Vec::new();
    {
        let (_am, url) = alertmanager(&dir);
        for &n in &connections {
            for (mode, unique) in [("new alerts", true), ("dedup hits", false)] {
                let s = script(&dir, "am", am_body, unique);
                rows.push((
                    "Alertmanager 0.25 /api/v2/alerts (memory)".into(),
                    mode,
                    n,
                    wrk(&format!("{url}/api/v2/alerts"), &s, seconds, n),
                ));
            }
        }
    }
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("MUSTER_TEST_POSTGRES_URL").is_ok() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let db = rt.block_on(TestDatabase::new(backend)).expect("a database");
        let (_m, url, key) = muster(&db.url);
        let pd_body = format!(
            r#"{{"routing_key":"{key}","event_action":"trigger","dedup_key":"%s","payload":{{"summary":"bench","source":"wrk","severity":"warning"}}}}"#
        );
        let name = match backend {
            Backend::Sqlite => "Muster /v2/enqueue, SQLite (WAL, synchronous=FULL)",
            Backend::Postgres => "Muster /v2/enqueue, PostgreSQL",
        };
        for &n in &connections {
            for (mode, unique) in [("new alerts", true), ("dedup hits", false)] {
                let s = script(&dir, "pd", &pd_body, unique);
                rows.push((name.into(), mode, n, wrk(&format!("{url}/v2/enqueue"), &s, seconds, n)));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!("\n| target | load | connections | requests/s | p50 | p99 | non-2xx |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (name, mode, n, r) in &rows {
        println!("| {name} | {mode} | {n} | {:.0} | {} | {} | {} |", r.rps, r.p50, r.p99, r.errors);
    }
    println!();
    for &n in &connections {
        // Each Muster run against Alertmanager's new-alert rate at the
        // same number of connections.
        let am_new = rows
            .iter()
            .find(|(name, mode, c, _)| name.starts_with("Alertmanager") && *mode == "new alerts" && *c == n)
            .map(|r| r.3.rps)
            .filter(|v| *v > 0.0);
        let Some(am) = am_new else { continue };
        for (name, mode, _, r) in rows.iter().filter(|(name, _, c, _)| name.starts_with("Muster") && *c == n) {
            println!("{name}, {mode}, {n} connections: {:.2}× Alertmanager's new-alert rate", r.rps / am);
        }
    }
}
