//! `muster serve` as a real process, for the binary's black-box tests.

#![allow(dead_code)]

pub mod pages;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_muster");
pub const ADMIN: &str = "mst_cli_admin_token_of_32_characters";

pub struct Server {
    pub child: Child,
    stdout: BufReader<ChildStdout>,
    pub url: String,
}

impl Server {
    pub fn start(database: &str, admin_token: Option<&str>) -> Server {
        Self::start_with(database, admin_token, &[])
    }

    /// With more `serve` arguments.
    pub fn start_with(database: &str, admin_token: Option<&str>, args: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .args(args)
            .env("MUSTER_LOG", "warn")
            .env_remove("MUSTER_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(t) = admin_token {
            cmd.env("MUSTER_ADMIN_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("muster serve starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no listening line, got {line:?}"))
            .to_owned();
        Server { child, stdout, url }
    }

    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }

    /// Sends SIGTERM; returns whether it exited successfully, and the rest of stdout.
    pub fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "muster serve did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (status.success(), rest)
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Runs a client command with `input` on its stdin.
    pub fn run_with_stdin(&self, token: &str, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .env("MUSTER_URL", &self.url)
            .env("MUSTER_TOKEN", token)
            .env("TZ", "UTC")
            .env_remove("MUSTER_PROFILE")
            .env_remove("MUSTER_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn run(&self, token: &str, args: &[&str]) -> Output {
        self.run_with_env(token, args, &[])
    }

    /// A client command as people run it, not as the test process happens
    /// to be set up: no terminal (tables fit 100 columns), local time in
    /// UTC, no profile; then `env` on top.
    pub fn run_with_env(&self, token: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("MUSTER_URL", &self.url).env("MUSTER_TOKEN", token).env("TZ", "UTC");
        for var in ["COLUMNS", "MUSTER_UTC", "MUSTER_PROFILE", "MUSTER_CONFIG"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied()).output().unwrap()
    }

    /// Like [`Server::ok`], with `env` set.
    #[track_caller]
    pub fn ok_with_env(&self, token: &str, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run_with_env(token, args, env);
        assert!(out.status.success(), "muster {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a client command that must succeed; returns its stdout.
    #[track_caller]
    pub fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(out.status.success(), "muster {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[track_caller]
    pub fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(token, &args)).expect("--json prints JSON")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let db = muster_store::testing::TestDatabase::new(muster_store::testing::Backend::Sqlite).await.unwrap();
                tokio::task::spawn_blocking(move || super::$name(db)).await.unwrap();
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(db) = muster_store::testing::TestDatabase::new(muster_store::testing::Backend::Postgres).await {
                    tokio::task::spawn_blocking(move || super::$name(db)).await.unwrap();
                }
            })*
        }
    };
}

/// Everything a list of the API holds (`what`: `alerts`, `pages`), following
/// its `before` cursor.
pub async fn all(http: &reqwest::Client, url: &str, what: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut page = format!("{url}/api/v1/{what}?limit=1000");
        if let Some(b) = before {
            page.push_str(&format!("&before={b}"));
        }
        let got: Vec<Value> = http.get(page).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        let full = got.len() == 1000;
        before = got.last().and_then(|a| a["id"].as_u64());
        out.extend(got);
        if !full {
            return out;
        }
    }
}
