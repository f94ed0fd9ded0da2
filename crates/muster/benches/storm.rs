//! The alert storm (issue 12): every row of the issue's table, side by side
//! for SQLite and PostgreSQL.
//!
//! Run: `MUSTER_TEST_POSTGRES_URL=postgres://… cargo bench -p muster --bench storm`.
//! Each part starts the release `muster serve` as a child process on
//! 127.0.0.1 over a fresh database (a new SQLite file, a new PostgreSQL
//! schema), sets it up over the API with the admin token, measures, and
//! stops it. The parts:
//!
//! 1. `paging`: alert → first page. One person, `bob`, reached only by a
//!    webhook to a receiver in this process; a one-step policy that notifies
//!    him; one service on it. New alerts (`POST /v2/enqueue`, a new dedup key
//!    each) are sent open loop — alert `i` leaves at `t0 + i / rate` in a task
//!    of its own — at each of `MUSTER_BENCH_RATES` for `MUSTER_BENCH_SECONDS`.
//!    An alert is reached when a webhook of `"type": "page"` names its dedup
//!    key (`alert.dedup_key`) or one of `"type": "page_bundle"` lists it
//!    (`pages[].alert.dedup_key`). Measured: the 202 → first reach latency
//!    of every accepted alert (an alert never reached counts as slower than
//!    any other), the share not reached 1 s and `MUSTER_BENCH_WAIT_SECONDS`
//!    after the storm ended (the last 202), the pages whose first step had
//!    not run 1 s after it (neither notified nor folded into a bundle; read
//!    from the database), and the notifications bob got.
//!    `MUSTER_BENCH_BUNDLE_WINDOW` sets the services' `bundle_window_seconds`
//!    (unset: the server's default).
//! 2. `services`: `MUSTER_BENCH_SERVICES_RATE` alerts/s over
//!    `MUSTER_BENCH_SERVICES` services, each with a policy paging a person of
//!    its own, round robin. Per service, its first alert's 202 → its
//!    person's first notification; alerts not reached 1 s after the storm;
//!    notifications per person.
//! 3. `ingest`: durable ingest against Alertmanager (Debian's
//!    `prometheus-alertmanager`, in memory), `wrk` with 2 threads at each of
//!    `MUSTER_BENCH_CONNECTIONS` for `MUSTER_BENCH_INGEST_SECONDS`, one new
//!    alert per request on both (Alertmanager: a new label set; Muster: a new
//!    dedup key). Requests/s, the ratio, non-2xx answers and socket errors.
//! 4. `live`: role change → last of N live viewers. People with the `viewer`
//!    permission, at most `limits::MAX_LIVE_STREAMS_PER_USER` streams each,
//!    watch `GET /incidents/{ref}/events` with API tokens, each stream on a
//!    connection of its own; the incident manager assigns tech leads over the
//!    API one after another, `MUSTER_BENCH_GAP_MS` apart. For each of
//!    `MUSTER_BENCH_VIEWERS` on one incident, then `MUSTER_BENCH_SPREAD_VIEWERS`
//!    over `MUSTER_BENCH_INCIDENTS` incidents (each change on one of them,
//!    in turn): request → first and last of the incident's own viewers, and
//!    how many streams, of its own incident and of the others, received
//!    anything between the request and 200 ms after its last viewer had it.
//! 5. `outage` (PostgreSQL only): Muster reaches PostgreSQL through a TCP
//!    proxy in this process. Alerts go out at `MUSTER_BENCH_OUTAGE_RATE`
//!    and `/healthz` is asked every 100 ms; after `MUSTER_BENCH_OUTAGE_BEFORE`
//!    seconds the proxy is cut for `MUSTER_BENCH_OUTAGE_SECONDS`, then
//!    restored, and the load goes on `MUSTER_BENCH_OUTAGE_AFTER` seconds more.
//!    Cut means, per `MUSTER_BENCH_OUTAGE_MODES`: `stop` (a stopped server:
//!    open connections closed, new ones closed at once) and `blackhole` (a
//!    partition: nothing passes, connections hang until it heals, then
//!    close). Each request has a `MUSTER_BENCH_CLIENT_TIMEOUT` (10 s) client
//!    timeout. Measured per phase: answers by status, latency; the same for
//!    `/healthz`; then, read from the database directly, that every event
//!    answered 202 is stored exactly once.
//!
//! Output: a Markdown table per part, a summary in the shape of the issue's
//! table, and everything as JSON in `target/bench/storm.json` (or
//! `MUSTER_BENCH_JSON`); the path is printed. `MUSTER_BENCH_PARTS`
//! (`paging,services,ingest,live,outage`) and `MUSTER_BENCH_BACKENDS`
//! (`sqlite,postgres`; PostgreSQL only with `MUSTER_TEST_POSTGRES_URL`)
//! narrow a run. Sender, receivers, viewers, proxy, server and PostgreSQL
//! share the machine's cores, so every figure includes some of the
//! benchmark's own work. See docs/PERFORMANCE.md.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::post;
use muster_store::AlertFilter;
use muster_store::testing::{Backend, TestDatabase};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const ADMIN: &str = "mst_bench_admin_token_of_32_characters";
/// `muster_domain::limits::MAX_LIVE_STREAMS_PER_USER`: streams per viewer.
const STREAMS_PER_USER: usize = muster_domain::limits::MAX_LIVE_STREAMS_PER_USER;
/// The longest a role change may take to reach its viewers before it counts as missed.
const FAN_OUT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after its last viewer a change's window stays open for stragglers.
const SETTLE: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------
// Settings

struct Config {
    parts: Vec<String>,
    backends: Vec<Backend>,
    rates: Vec<f64>,
    seconds: f64,
    wait: Duration,
    services: usize,
    services_rate: f64,
    ingest_seconds: u64,
    connections: Vec<u32>,
    viewers: Vec<usize>,
    spread_viewers: usize,
    incidents: usize,
    changes: usize,
    warmup_changes: usize,
    gap: Duration,
    outage_rate: f64,
    outage_before: f64,
    outage_seconds: f64,
    outage_after: f64,
    outage_modes: Vec<String>,
    client_timeout: Duration,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} cannot be read as a number"))
        }
        _ => default,
    }
}

fn env_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    let v = std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned());
    v.split(',').map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name}: {s:?} cannot be read"))).collect()
}

impl Config {
    fn from_env() -> Config {
        let mut backends = Vec::new();
        for b in env_list::<String>("MUSTER_BENCH_BACKENDS", "sqlite,postgres") {
            match b.as_str() {
                "sqlite" => backends.push(Backend::Sqlite),
                "postgres" if std::env::var("MUSTER_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) => {
                    backends.push(Backend::Postgres);
                }
                "postgres" => eprintln!("PostgreSQL skipped: MUSTER_TEST_POSTGRES_URL is not set"),
                other => panic!("MUSTER_BENCH_BACKENDS: {other:?} is neither \"sqlite\" nor \"postgres\""),
            }
        }
        let parts = env_list::<String>("MUSTER_BENCH_PARTS", "paging,services,ingest,live,outage");
        for p in &parts {
            assert!(
                ["paging", "services", "ingest", "live", "outage"].contains(&p.as_str()),
                "MUSTER_BENCH_PARTS: {p:?} is not one of paging, services, ingest, live, outage"
            );
        }
        Config {
            parts,
            backends,
            rates: env_list("MUSTER_BENCH_RATES", "100,200,500"),
            seconds: env_or("MUSTER_BENCH_SECONDS", 10.0),
            wait: Duration::from_secs_f64(env_or("MUSTER_BENCH_WAIT_SECONDS", 15.0)),
            services: env_or("MUSTER_BENCH_SERVICES", 50usize).max(1),
            services_rate: env_or("MUSTER_BENCH_SERVICES_RATE", 500.0),
            ingest_seconds: env_or("MUSTER_BENCH_INGEST_SECONDS", 10u64).max(1),
            connections: env_list("MUSTER_BENCH_CONNECTIONS", "256,64"),
            viewers: env_list("MUSTER_BENCH_VIEWERS", "200,1000"),
            spread_viewers: env_or("MUSTER_BENCH_SPREAD_VIEWERS", 1000usize),
            incidents: env_or("MUSTER_BENCH_INCIDENTS", 50usize).max(1),
            changes: env_or("MUSTER_BENCH_CHANGES", 20usize).max(1),
            warmup_changes: env_or("MUSTER_BENCH_WARMUP_CHANGES", 3usize),
            gap: Duration::from_millis(env_or("MUSTER_BENCH_GAP_MS", 250u64)),
            outage_rate: env_or("MUSTER_BENCH_OUTAGE_RATE", 50.0),
            outage_before: env_or("MUSTER_BENCH_OUTAGE_BEFORE", 3.0),
            outage_seconds: env_or("MUSTER_BENCH_OUTAGE_SECONDS", 5.0),
            outage_after: env_or("MUSTER_BENCH_OUTAGE_AFTER", 5.0),
            outage_modes: env_list("MUSTER_BENCH_OUTAGE_MODES", "stop,blackhole"),
            client_timeout: Duration::from_secs_f64(env_or("MUSTER_BENCH_CLIENT_TIMEOUT", 10.0)),
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    fn describe(&self) -> Value {
        json!({
            "parts": self.parts, "rates": self.rates, "seconds": self.seconds, "wait_seconds": self.wait.as_secs_f64(),
            "services": self.services, "services_rate": self.services_rate,
            "ingest_seconds": self.ingest_seconds, "connections": self.connections,
            "viewers": self.viewers, "spread_viewers": self.spread_viewers, "incidents": self.incidents,
            "changes": self.changes, "warmup_changes": self.warmup_changes, "gap_ms": self.gap.as_millis() as u64,
            "outage_rate": self.outage_rate, "outage_before": self.outage_before,
            "outage_seconds": self.outage_seconds, "outage_after": self.outage_after,
            "outage_modes": self.outage_modes, "client_timeout_seconds": self.client_timeout.as_secs_f64(),
        })
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

// ---------------------------------------------------------------------------
// Figures

/// `later - earlier` in milliseconds, negative when `later` came first.
fn ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier.duration_since(later).as_secs_f64() * 1e3),
    }
}

/// Nearest-rank percentile; `None` (never happened) sorts after every value,
/// so a percentile that lands on one is `None` too.
fn pct(values: &[Option<f64>], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::INFINITY)).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1]).filter(|v| v.is_finite())
}

fn pct_of(values: &[f64], p: f64) -> Option<f64> {
    pct(&values.iter().map(|v| Some(*v)).collect::<Vec<_>>(), p)
}

/// A latency for people: "6.2 ms", "1.93 s", or `none` when it never came.
fn show(v: Option<f64>, none: &str) -> String {
    match v {
        None => none.to_owned(),
        Some(v) if v.abs() >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) => format!("{v:.1} ms"),
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

// ---------------------------------------------------------------------------
// The server under test

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Muster {
    proc: Proc,
    url: String,
    log: PathBuf,
}

impl Muster {
    /// `muster serve` (the release binary) on a free port of 127.0.0.1.
    fn start(database: &str, name: &str) -> Muster {
        let log = std::env::temp_dir().join(format!("muster-bench-storm-{}-{name}.log", std::process::id()));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .env("MUSTER_ADMIN_TOKEN", ADMIN)
            .env("MUSTER_LOG", "warn")
            .env("MUSTER_INGEST_RATE", "1000000000")
            .env("MUSTER_INGEST_BURST", "1000000000")
            // The receivers are in this process, on 127.0.0.1.
            .env("MUSTER_WEBHOOK_ALLOW", "127.0.0.1/32")
            .env_remove("MUSTER_PUBLIC_URL")
            .env_remove("MUSTER_SMTP_URL")
            .env_remove("MUSTER_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the release muster binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("muster serve did not start: {line:?}\n{text}");
        };
        Muster { url: url.to_owned(), proc: Proc(child), log }
    }

    /// The server's warnings and errors so far (printed, a few of them).
    fn warnings(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).map(str::to_owned).collect()
    }

    /// Whether the child is still running.
    fn alive(&mut self) -> bool {
        matches!(self.proc.0.try_wait(), Ok(None))
    }

    fn stop(self) -> Vec<String> {
        let warnings = self.warnings();
        for w in warnings.iter().take(3) {
            eprintln!("    server: {}", w.chars().take(300).collect::<String>());
        }
        if warnings.len() > 3 {
            eprintln!("    server: … {} warnings and errors in all", warnings.len());
        }
        drop(self.proc);
        let _ = std::fs::remove_file(&self.log);
        warnings
    }
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(512).build().unwrap()
}

/// A POST with the admin token (or `token`), expecting `want`; the JSON answer.
async fn api(http: &reqwest::Client, url: &str, token: &str, path: &str, body: Value, want: u16) -> Value {
    let response = http
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} was not answered: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, want, "POST {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn user(http: &reqwest::Client, url: &str, handle: &str, permission: &str) {
    let body = json!({"handle": handle, "name": handle, "email": format!("{handle}@example.com"),
                      "permission": permission, "email_contact_method": false});
    api(http, url, ADMIN, "/api/v1/users", body, 201).await;
}

async fn token_of(http: &reqwest::Client, url: &str, handle: &str) -> String {
    let t = api(http, url, ADMIN, &format!("/api/v1/users/{handle}/tokens"), json!({}), 201).await;
    t["token"].as_str().expect("a new token").to_owned()
}

/// A person reached only by a webhook to `hook`, a one-step policy that
/// notifies them (the next step an hour later), and a service on it; the
/// service's integration key.
async fn paged_service(http: &reqwest::Client, url: &str, person: &str, hook: &str) -> String {
    user(http, url, person, "responder").await;
    api(
        http,
        url,
        ADMIN,
        &format!("/api/v1/users/{person}/contact-methods"),
        json!({"kind":"webhook","address":hook}),
        201,
    )
    .await;
    let policy = json!({"name": format!("policy of {person}"), "repeat": 0,
                        "steps": [{"delay_seconds": 3600, "targets": [{"user": person}]}]});
    let policy = api(http, url, ADMIN, "/api/v1/escalation-policies", policy, 201).await;
    let mut service = json!({"name": format!("service of {person}"), "escalation_policy": policy["id"]});
    // Unset, the server's default window for bundling a person's pages.
    if let Ok(window) = std::env::var("MUSTER_BENCH_BUNDLE_WINDOW") {
        let window: u64 = window.trim().parse().expect("MUSTER_BENCH_BUNDLE_WINDOW is a whole number of seconds");
        service["bundle_window_seconds"] = json!(window);
    }
    let service = api(http, url, ADMIN, "/api/v1/services", service, 201).await;
    service["integration_key"].as_str().unwrap().to_owned()
}

fn event(key: &str, dedup: &str) -> Value {
    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
           "payload": {"summary": "storm", "source": "bench", "severity": "error"}})
}

fn unique_tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}", nanos as u64 ^ u64::from(std::process::id()).rotate_left(32))
}

// ---------------------------------------------------------------------------
// The webhook receiver

/// One webhook request the receiver had.
struct Note {
    at: Instant,
    person: String,
    bundle: bool,
}

/// What the webhook receiver saw: every notification, and when each alert
/// was first reached.
#[derive(Default)]
struct Inbox {
    first: HashMap<String, Instant>,
    notes: Vec<Note>,
    /// An alert named again after it was reached (a retry or a repeat).
    again: u64,
    /// Bodies that are neither a page nor a bundle of pages.
    other: u64,
}

type Shared = Arc<Mutex<Inbox>>;

/// The dedup keys a notification names: one for a page, every bundled
/// page's for a bundle.
fn named_keys(body: &Value) -> Option<(bool, Vec<String>)> {
    let key = |v: &Value| v["alert"]["dedup_key"].as_str().map(str::to_owned);
    match body["type"].as_str()? {
        "page" => Some((false, key(body).into_iter().collect())),
        "page_bundle" => Some((true, body["pages"].as_array()?.iter().filter_map(key).collect())),
        _ => None,
    }
}

async fn hook(State(inbox): State<Shared>, UrlPath(person): UrlPath<String>, body: axum::body::Bytes) -> StatusCode {
    let at = Instant::now();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inbox = inbox.lock().unwrap();
    let Some((bundle, keys)) = named_keys(&parsed) else {
        inbox.other += 1;
        return StatusCode::OK;
    };
    inbox.notes.push(Note { at, person, bundle });
    let state = &mut *inbox;
    for k in keys {
        match state.first.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => state.again += 1,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(at);
            }
        }
    }
    StatusCode::OK
}

struct Receiver {
    inbox: Shared,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver on 127.0.0.1; a person's webhook is `{base}/{person}`.
    async fn start() -> Receiver {
        let inbox = Shared::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/hook/{person}", post(hook)).with_state(inbox.clone());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { inbox, base: format!("http://{addr}/hook"), task }
    }

    fn reached(&self, key: &str) -> Option<Instant> {
        self.inbox.lock().unwrap().first.get(key).copied()
    }

    /// Waits until every key was reached, or until `deadline`.
    async fn await_all(&self, keys: &[&str], deadline: Instant) {
        while Instant::now() < deadline {
            if keys.iter().all(|k| self.reached(k).is_some()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// The open-loop sender

struct Sent {
    dedup: String,
    /// Which of the routing keys it went to.
    to: usize,
    sent: Instant,
    answered: Instant,
    /// The status, or why there was none.
    status: Result<u16, String>,
}

impl Sent {
    fn accepted(&self) -> bool {
        self.status == Ok(202)
    }
}

/// Sends `n` new alerts at `rate` per second, alert `i` to `keys[i % len]`
/// at `t0 + i / rate`, each in a task of its own whatever became of the
/// others; returns them all once every one was answered.
async fn storm(http: &reqwest::Client, url: &str, keys: &[String], tag: &str, rate: f64, n: usize) -> Vec<Sent> {
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let endpoint = format!("{url}/v2/enqueue");
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate);
        let to = i % keys.len();
        let dedup = format!("{tag}-{i}");
        let body = event(&keys[to], &dedup);
        let (http, endpoint) = (http.clone(), endpoint.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let sent = Instant::now();
            let status = match http.post(endpoint).json(&body).send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    Ok(s)
                }
                Err(e) if e.is_timeout() => Err("timeout".to_owned()),
                Err(e) => Err(format!("error: {e}")),
            };
            Sent { dedup, to, sent, answered: Instant::now(), status }
        }));
    }
    let mut sends = Vec::with_capacity(n);
    for t in tasks {
        sends.push(t.await.unwrap());
    }
    sends
}

fn not_accepted(sends: &[Sent]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for s in sends.iter().filter(|s| !s.accepted()) {
        let what = match &s.status {
            Ok(code) => code.to_string(),
            Err(e) => e.chars().take(80).collect(),
        };
        *counts.entry(what).or_default() += 1;
    }
    let mut v: Vec<String> = counts.into_iter().map(|(k, n)| format!("{n}× {k}")).collect();
    v.sort();
    v
}

/// Sends one alert and waits for it to be reached: connections, caches and
/// the engine's first wake-up, not counted.
async fn warm_up(http: &reqwest::Client, url: &str, key: &str, receiver: &Receiver, tag: &str) {
    let dedup = format!("{tag}-warm-up");
    let begun = Instant::now();
    let r = http.post(format!("{url}/v2/enqueue")).json(&event(key, &dedup)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202, "the warm-up alert is accepted");
    receiver.await_all(&[&dedup], Instant::now() + Duration::from_secs(30)).await;
    match receiver.reached(&dedup) {
        Some(at) => eprintln!("    warm-up page after {:.1} ms", ms(at, begun)),
        None => eprintln!("    warm-up page did not arrive within 30 s"),
    }
}

// ---------------------------------------------------------------------------
// Part 1: alert → first page, one service

struct Reach {
    accepted: usize,
    /// When the storm ended: the last answer.
    end: Instant,
    /// Per accepted alert, 202 → first reached, if it was.
    latencies: Vec<Option<f64>>,
    /// Accepted alerts reached by 1 s after the end, and by the end of the wait.
    by_1s: usize,
    by_wait: usize,
}

/// Waits up to `wait` after the storm for the accepted alerts to be
/// reached, noting how many were by 1 s after the end.
async fn reach(receiver: &Receiver, sends: &[Sent], wait: Duration) -> Reach {
    let accepted: Vec<&Sent> = sends.iter().filter(|s| s.accepted()).collect();
    let end = sends.iter().map(|s| s.answered).max().unwrap_or_else(Instant::now);
    let keys: Vec<&str> = accepted.iter().map(|s| s.dedup.as_str()).collect();
    receiver.await_all(&keys, end + wait).await;
    // Whatever the wait, look 1 s after the end too (it may have passed already).
    tokio::time::sleep_until((end + Duration::from_secs(1)).into()).await;
    let count_by = |t: Instant| keys.iter().filter(|k| receiver.reached(k).is_some_and(|at| at <= t)).count();
    let latencies = accepted.iter().map(|s| receiver.reached(&s.dedup).map(|at| ms(at, s.answered))).collect();
    Reach {
        accepted: accepted.len(),
        end,
        latencies,
        by_1s: count_by(end + Duration::from_secs(1)),
        by_wait: count_by(end + wait),
    }
}

/// Pages whose first step had not run 1 s after the storm ended (read from
/// the database): neither notified nor folded into a bundle yet. With
/// bundling on, a folded page is reached only when its bundle's window
/// closes, so this, not the reach, says whether the engine kept up.
async fn steps_waiting(db: &TestDatabase, sends: &[Sent]) -> u64 {
    let end = sends.iter().map(|s| s.answered).max().unwrap_or_else(Instant::now);
    tokio::time::sleep_until((end + Duration::from_secs(1)).into()).await;
    let filter =
        muster_store::PageFilter { states: vec![muster_domain::page::PageState::Pending], ..Default::default() };
    db.open().await.page_count(&filter).await.expect("pages are counted")
}

async fn paging_run(backend: Backend, cfg: &Config, rate: f64) -> Value {
    let db = TestDatabase::new(backend).await.expect("a database");
    let server = Muster::start(&db.url, "paging");
    let receiver = Receiver::start().await;
    let http = client(Duration::from_secs(30));
    let key = paged_service(&http, &server.url, "bob", &format!("{}/bob", receiver.base)).await;
    let tag = unique_tag();
    warm_up(&http, &server.url, &key, &receiver, &tag).await;
    let before = receiver.inbox.lock().unwrap().notes.len();

    let n = (rate * cfg.seconds).round() as usize;
    eprintln!("    sending {n} alerts at {rate}/s");
    let sends = storm(&http, &server.url, &[key], &tag, rate, n).await;
    let waiting_1s = steps_waiting(&db, &sends).await;
    let r = reach(&receiver, &sends, cfg.wait).await;
    let warnings = server.stop();

    let inbox = receiver.inbox.lock().unwrap();
    let notes = &inbox.notes[before..];
    let in_time = |t: Instant| notes.iter().filter(|n| n.at <= t).count();
    let bundles = notes.iter().filter(|n| n.bundle).count();
    let ingest: Vec<f64> = sends.iter().filter(|s| s.accepted()).map(|s| ms(s.answered, s.sent)).collect();
    let failed = not_accepted(&sends);
    if !failed.is_empty() {
        eprintln!("    not accepted: {failed:?}");
    }
    json!({
        "backend": backend_name(backend), "rate": rate, "seconds": cfg.seconds, "sent": n, "accepted": r.accepted,
        "not_accepted": failed,
        "p50_ms": pct(&r.latencies, 0.5), "p99_ms": pct(&r.latencies, 0.99), "max_ms": pct(&r.latencies, 1.0),
        "ingest_p50_ms": pct_of(&ingest, 0.5), "ingest_p99_ms": pct_of(&ingest, 0.99),
        "not_reached_1s_pct": share(r.accepted - r.by_1s, r.accepted),
        "not_reached_wait_pct": share(r.accepted - r.by_wait, r.accepted),
        "wait_seconds": cfg.wait.as_secs_f64(),
        "steps_waiting_1s": waiting_1s,
        "notifications_1s": in_time(r.end + Duration::from_secs(1)),
        "notifications": notes.len(), "bundles": bundles, "named_again": inbox.again, "other_bodies": inbox.other,
        "server_warnings": warnings.len(),
    })
}

// ---------------------------------------------------------------------------
// Part 2: many services, a person each

async fn services_run(backend: Backend, cfg: &Config) -> Value {
    let db = TestDatabase::new(backend).await.expect("a database");
    let server = Muster::start(&db.url, "services");
    let receiver = Receiver::start().await;
    let http = client(Duration::from_secs(30));
    let mut keys = Vec::with_capacity(cfg.services);
    for s in 0..cfg.services {
        let person = format!("p{s}");
        keys.push(paged_service(&http, &server.url, &person, &format!("{}/{person}", receiver.base)).await);
    }
    let tag = unique_tag();
    warm_up(&http, &server.url, &keys[0], &receiver, &tag).await;
    let before = receiver.inbox.lock().unwrap().notes.len();

    let rate = cfg.services_rate;
    let n = (rate * cfg.seconds).round() as usize;
    eprintln!("    sending {n} alerts at {rate}/s over {} services", cfg.services);
    let sends = storm(&http, &server.url, &keys, &tag, rate, n).await;
    let r = reach(&receiver, &sends, cfg.wait).await;
    let warnings = server.stop();

    let inbox = receiver.inbox.lock().unwrap();
    let notes = &inbox.notes[before..];
    // Per service: its first accepted alert's 202 → its person's first notification.
    let mut first_page = Vec::with_capacity(cfg.services);
    for (s, _) in keys.iter().enumerate() {
        let person = format!("p{s}");
        let first_alert = sends.iter().filter(|x| x.to == s && x.accepted()).map(|x| x.answered).min();
        let first_note = notes.iter().filter(|n| n.person == person).map(|n| n.at).min();
        first_page.push(match (first_alert, first_note) {
            (Some(a), Some(n)) => Some(ms(n, a)),
            _ => None,
        });
    }
    let per_person = |t: Instant| {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for n in notes.iter().filter(|n| n.at <= t) {
            *counts.entry(n.person.as_str()).or_default() += 1;
        }
        counts.values().copied().max().unwrap_or(0)
    };
    let at_1s = r.end + Duration::from_secs(1);
    let far = r.end + Duration::from_secs(3600);
    let failed = not_accepted(&sends);
    if !failed.is_empty() {
        eprintln!("    not accepted: {failed:?}");
    }
    json!({
        "backend": backend_name(backend), "rate": rate, "services": cfg.services, "seconds": cfg.seconds,
        "sent": n, "accepted": r.accepted, "not_accepted": failed,
        "first_page_per_service_p50_ms": pct(&first_page, 0.5), "first_page_per_service_p99_ms": pct(&first_page, 0.99),
        "alert_p50_ms": pct(&r.latencies, 0.5), "alert_p99_ms": pct(&r.latencies, 0.99),
        "not_reached_1s": r.accepted - r.by_1s, "not_reached_wait": r.accepted - r.by_wait,
        "wait_seconds": cfg.wait.as_secs_f64(),
        "max_notifications_per_person_1s": per_person(at_1s), "max_notifications_per_person": per_person(far),
        "notifications": notes.len(), "bundles": notes.iter().filter(|n| n.bundle).count(),
        "named_again": inbox.again, "server_warnings": warnings.len(),
    })
}

// ---------------------------------------------------------------------------
// Part 3: durable ingest against Alertmanager

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A wrk script that POSTs `template` with `%s` replaced by a key of its own
/// per request.
fn wrk_script(dir: &Path, name: &str, template: &str) -> PathBuf {
    let lua = format!(
        r#"local counter = 0
local template = [==[{template}]==]
function setup(thread) thread:set("id", tostring(math.random(1, 1000000000))) end
request = function()
  counter = counter + 1
  local body = string.gsub(template, "%%s", id .. "-" .. counter)
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
end
"#
    );
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).unwrap();
    path
}

/// One wrk run: requests/s, latency, non-2xx and socket errors.
fn wrk(url: &str, script: &Path, connections: u32, seconds: u64) -> Value {
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
    let non_2xx: u64 = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 12"
    let socket_errors: u64 = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(|l| l.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    json!({"rps": field("Requests/sec:").parse::<f64>().unwrap_or(0.0), "p50": field("50%"), "p99": field("99%"),
           "non_2xx": non_2xx, "socket_errors": socket_errors, "connections": connections})
}

fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(url.trim_start_matches("http://")).is_ok() {
            let ok = Command::new("curl")
                .args(["-sf", "-o", "/dev/null", &format!("{url}/-/ready")])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not become ready");
}

/// Alertmanager at each concurrency, then Muster on each backend.
async fn ingest_part(cfg: &Config) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("muster-bench-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = Vec::new();
    {
        let config = dir.join("am.yml");
        std::fs::write(&config, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n").unwrap();
        let port = free_port();
        let _am = Proc(
            Command::new("prometheus-alertmanager")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", dir.join("am-data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus-alertmanager starts (Debian: prometheus-alertmanager)"),
        );
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&url);
        let body = r#"[{"labels":{"alertname":"Storm","instance":"%s","severity":"critical"},"annotations":{"summary":"storm"}}]"#;
        let script = wrk_script(&dir, "am", body);
        for &c in &cfg.connections {
            eprintln!("  alertmanager, {c} connections");
            let mut r = wrk(&format!("{url}/api/v2/alerts"), &script, c, cfg.ingest_seconds);
            r["target"] = json!("alertmanager");
            rows.push(r);
        }
    }
    for &backend in &cfg.backends {
        let db = TestDatabase::new(backend).await.expect("a database");
        let server = Muster::start(&db.url, "ingest");
        let http = client(Duration::from_secs(30));
        let service = api(&http, &server.url, ADMIN, "/api/v1/services", json!({"name": "storm"}), 201).await;
        let key = service["integration_key"].as_str().unwrap();
        let body = format!(
            r#"{{"routing_key":"{key}","event_action":"trigger","dedup_key":"%s","payload":{{"summary":"storm","source":"wrk","severity":"error"}}}}"#
        );
        let script = wrk_script(&dir, backend_name(backend), &body);
        for &c in &cfg.connections {
            eprintln!("  {}, {c} connections", backend_name(backend));
            let mut r = wrk(&format!("{}/v2/enqueue", server.url), &script, c, cfg.ingest_seconds);
            r["target"] = json!(backend_name(backend));
            let am = rows
                .iter()
                .find(|a| a["target"] == "alertmanager" && a["connections"] == c)
                .and_then(|a| a["rps"].as_f64())
                .filter(|v| *v > 0.0);
            r["ratio"] = json!(am.map(|am| r["rps"].as_f64().unwrap_or(0.0) / am));
            rows.push(r);
        }
        server.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

// ---------------------------------------------------------------------------
// Part 4: live viewers

/// What a viewer's task reports: a record of its stream (not a comment),
/// with the time its last byte came.
enum Report {
    Record { viewer: usize, at: Instant, data: String },
    Ended { viewer: usize, why: String },
}

/// The scope the `n`th change gives its tech lead; no scope's text is
/// inside another's, so finding it in a record means that change arrived.
fn scope(n: usize) -> String {
    format!("ws{n}q")
}

async fn viewer(viewer: usize, mut response: reqwest::Response, reports: mpsc::UnboundedSender<Report>) {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                let _ = reports.send(Report::Ended { viewer, why: "the stream ended".into() });
                return;
            }
            Err(e) => {
                let _ = reports.send(Report::Ended { viewer, why: format!("the stream failed: {e}") });
                return;
            }
        };
        let at = Instant::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let record: Vec<u8> = buffer.drain(..end + 2).collect();
            let record = String::from_utf8_lossy(&record);
            // Keep-alive comments (": …") carry nothing.
            if record.lines().all(|l| l.is_empty() || l.starts_with(':')) {
                continue;
            }
            let _ = reports.send(Report::Record { viewer, at, data: record.into_owned() });
        }
    }
}

/// `viewers` streams over `incidents` incidents (viewer `i` on incident
/// `1 + i % incidents`); the changes go to incident `1 + n % incidents`.
async fn live_run(backend: Backend, cfg: &Config, viewers: usize, incidents: usize) -> Value {
    let db = TestDatabase::new(backend).await.expect("a database");
    let server = Muster::start(&db.url, "live");
    let http = client(Duration::from_secs(60));
    let url = server.url.clone();
    user(&http, &url, "alice", "responder").await;
    user(&http, &url, "carol", "responder").await;
    let alice = token_of(&http, &url, "alice").await;
    for i in 0..incidents {
        let body = json!({"title": format!("Storm {i}"), "priority": "P3"});
        let made = api(&http, &url, &alice, "/api/v1/incidents", body, 201).await;
        assert_eq!(made["number"].as_u64(), Some(i as u64 + 1), "incidents are numbered from 1");
    }
    let users = viewers.div_ceil(STREAMS_PER_USER);
    let mut tokens = Vec::with_capacity(users);
    for u in 0..users {
        let handle = format!("viewer{u}");
        user(&http, &url, &handle, "viewer").await;
        tokens.push(token_of(&http, &url, &handle).await);
    }
    let (tx, mut reports) = mpsc::unbounded_channel();
    let started = Instant::now();
    let streams = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut tasks = Vec::with_capacity(viewers);
    let incident_of = |i: usize| 1 + i % incidents;
    for i in 0..viewers {
        let response = tokio::time::timeout(
            Duration::from_secs(30),
            streams
                .get(format!("{url}/incidents/INC-{}/events", incident_of(i)))
                .bearer_auth(&tokens[i / STREAMS_PER_USER])
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("viewer {i}: the stream did not answer within 30 s"))
        .unwrap_or_else(|e| panic!("viewer {i}: the stream was not answered: {e}"));
        assert_eq!(response.status().as_u16(), 200, "viewer {i}: the stream opens");
        tasks.push(tokio::spawn(viewer(i, response, tx.clone())));
    }
    drop(tx);
    eprintln!("    {viewers} streams over {incidents} incidents open in {:.2} s", started.elapsed().as_secs_f64());

    let mut ended = Vec::new();

    let (mut first_req, mut last_req, mut last_resp, mut post_rtt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut own_woken, mut others_woken) = (Vec::new(), Vec::new());
    let mut missed = Vec::new();
    // Let every stream park on its wait before the first change.
    drain(&mut reports, &mut ended, Duration::from_secs(1)).await;
    for n in 0..cfg.warmup_changes + cfg.changes {
        drain(&mut reports, &mut ended, cfg.gap).await;
        let target = 1 + n % incidents;
        let own: HashSet<usize> = (0..viewers).filter(|i| incident_of(*i) == target).collect();
        let want = scope(n);
        let body = json!({"role": "tech_lead", "user": "carol", "scope": want});
        let sent = Instant::now();
        api(&http, &url, &alice, &format!("/api/v1/incidents/INC-{target}/roles"), body, 201).await;
        let answered = Instant::now();
        let mut arrived: HashMap<usize, Instant> = HashMap::new();
        let mut woken: HashSet<usize> = HashSet::new();
        let deadline = tokio::time::Instant::now() + FAN_OUT_TIMEOUT;
        let mut settle: Option<tokio::time::Instant> = None;
        loop {
            let until = settle.unwrap_or(deadline);
            match tokio::time::timeout_at(until, reports.recv()).await {
                Ok(Some(Report::Record { viewer, at, data })) => {
                    woken.insert(viewer);
                    if own.contains(&viewer) && data.contains(&want) {
                        arrived.entry(viewer).or_insert(at);
                    }
                    if settle.is_none() && arrived.len() == own.len() {
                        settle = Some(tokio::time::Instant::now() + SETTLE);
                    }
                }
                Ok(Some(Report::Ended { viewer, why })) => ended.push(format!("viewer {viewer}: {why}")),
                Ok(None) | Err(_) => break,
            }
        }
        if arrived.len() < own.len() {
            missed.push(format!("{want}: {} of {} viewers within {FAN_OUT_TIMEOUT:?}", arrived.len(), own.len()));
        }
        if n < cfg.warmup_changes || arrived.is_empty() {
            continue;
        }
        let first = *arrived.values().min().unwrap();
        let last = *arrived.values().max().unwrap();
        post_rtt.push(ms(answered, sent));
        first_req.push(ms(first, sent));
        last_req.push(ms(last, sent));
        last_resp.push(ms(last, answered));
        own_woken.push(woken.iter().filter(|v| own.contains(v)).count());
        others_woken.push(woken.iter().filter(|v| !own.contains(v)).count());
    }
    for t in &tasks {
        t.abort();
    }
    let warnings = server.stop();
    for m in &missed {
        eprintln!("    MISSED {m}");
    }
    for e in ended.iter().take(5) {
        eprintln!("    ENDED {e}");
    }
    json!({
        "backend": backend_name(backend), "viewers": viewers, "incidents": incidents,
        "viewers_per_incident": viewers.div_ceil(incidents), "changes": last_req.len(),
        "post_p50_ms": pct_of(&post_rtt, 0.5),
        "request_to_first_p50_ms": pct_of(&first_req, 0.5), "request_to_first_p99_ms": pct_of(&first_req, 0.99),
        "request_to_last_p50_ms": pct_of(&last_req, 0.5), "request_to_last_p99_ms": pct_of(&last_req, 0.99),
        "response_to_last_p50_ms": pct_of(&last_resp, 0.5), "response_to_last_p99_ms": pct_of(&last_resp, 0.99),
        "own_streams_receiving_max": own_woken.iter().max(), "own_streams_receiving_min": own_woken.iter().min(),
        "other_streams_receiving_max": others_woken.iter().max(),
        "other_streams_receiving_mean": others_woken.iter().sum::<usize>() as f64 / others_woken.len().max(1) as f64,
        "missed": missed, "ended": ended.len(), "server_warnings": warnings.len(),
    })
}

/// Takes whatever reports come within `within`.
async fn drain(reports: &mut mpsc::UnboundedReceiver<Report>, ended: &mut Vec<String>, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(report)) = tokio::time::timeout_at(deadline, reports.recv()).await {
        if let Report::Ended { viewer, why } = report {
            ended.push(format!("viewer {viewer}: {why}"));
        }
    }
}

// ---------------------------------------------------------------------------
// Part 5: PostgreSQL stopped while serving

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Up,
    /// A stopped server: open connections are closed, new ones closed at once.
    Stopped,
    /// A partition: nothing passes; connections hang until it heals, then close.
    Blackholed,
}

/// A TCP proxy on 127.0.0.1 in front of `upstream`, cut and restored at will.
struct Proxy {
    addr: std::net::SocketAddr,
    link: watch::Sender<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (link, rx) = watch::channel(Link::Up);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(Self::carry(socket, upstream.clone(), rx.clone()));
            }
        });
        Proxy { addr, link, task }
    }

    async fn carry(mut client: TcpStream, upstream: String, mut link: watch::Receiver<Link>) {
        let now = *link.borrow_and_update();
        match now {
            Link::Stopped => return,
            Link::Blackholed => {
                let _ = link.wait_for(|l| *l != Link::Blackholed).await;
                return;
            }
            Link::Up => {}
        }
        let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
        let cut = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
            cut = link.wait_for(|l| *l != Link::Up) => cut.ok().map(|l| *l),
        };
        if cut == Some(Link::Blackholed) {
            // Hold both ends, reading nothing, until it heals.
            let _ = link.wait_for(|l| *l != Link::Blackholed).await;
        }
    }

    fn set(&self, l: Link) {
        let _ = self.link.send(l);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The URL with its host and port replaced by `addr`; the old host and port.
fn through(url: &str, addr: std::net::SocketAddr) -> (String, String) {
    let scheme_end = url.find("://").expect("a URL") + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host = &authority[host_start..];
    let upstream = if host.contains(':') { host.to_owned() } else { format!("{host}:5432") };
    let new = format!("{}{}{}{}", &url[..scheme_end], &authority[..host_start], addr, &rest[authority_end..]);
    (new, upstream)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Phase {
    Before,
    During,
    After,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }
}

struct Answer {
    dedup: Option<String>,
    sent: Instant,
    answered: Instant,
    status: Result<u16, String>,
}

fn phase_of(t: Instant, cut: Instant, restored: Instant) -> Phase {
    if t < cut {
        Phase::Before
    } else if t < restored {
        Phase::During
    } else {
        Phase::After
    }
}

/// Answers of one phase by status, and their latency.
fn phase_figures(answers: &[&Answer]) -> Value {
    let mut by: HashMap<String, usize> = HashMap::new();
    for a in answers {
        let k = match &a.status {
            Ok(c) => c.to_string(),
            Err(e) if e == "timeout" => "timeout".to_owned(),
            Err(_) => "error".to_owned(),
        };
        *by.entry(k).or_default() += 1;
    }
    let lat: Vec<f64> = answers.iter().map(|a| ms(a.answered, a.sent)).collect();
    json!({"requests": answers.len(), "by_status": by,
           "p50_ms": pct_of(&lat, 0.5), "p99_ms": pct_of(&lat, 0.99), "max_ms": pct_of(&lat, 1.0)})
}

async fn outage_run(cfg: &Config, mode: &str) -> Value {
    let cut_to = match mode {
        "stop" => Link::Stopped,
        "blackhole" => Link::Blackholed,
        other => panic!("MUSTER_BENCH_OUTAGE_MODES: {other:?} is neither \"stop\" nor \"blackhole\""),
    };
    let db = TestDatabase::new(Backend::Postgres).await.expect("a database");
    let placeholder: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let (_, upstream) = through(&db.url, placeholder);
    let proxy = Proxy::start(upstream).await;
    let (proxied, _) = through(&db.url, proxy.addr);
    let mut server = Muster::start(&proxied, "outage");
    let http = client(cfg.client_timeout);
    let url = server.url.clone();
    let service = api(&http, &url, ADMIN, "/api/v1/services", json!({"name": "storm"}), 201).await;
    let key = service["integration_key"].as_str().unwrap().to_owned();
    let tag = unique_tag();

    let total = cfg.outage_before + cfg.outage_seconds + cfg.outage_after;
    let n = (cfg.outage_rate * total).round() as usize;
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / cfg.outage_rate);
        let dedup = format!("{tag}-{i}");
        let (http, endpoint, body) = (http.clone(), format!("{url}/v2/enqueue"), event(&key, &dedup));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let sent = Instant::now();
            let status = match http.post(endpoint).json(&body).send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    Ok(s)
                }
                Err(e) if e.is_timeout() => Err("timeout".to_owned()),
                Err(e) => Err(format!("error: {e}")),
            };
            Answer { dedup: Some(dedup), sent, answered: Instant::now(), status }
        }));
    }
    let checks = (total * 10.0).round() as usize;
    for i in 0..checks {
        let at = t0 + Duration::from_millis(100 * i as u64);
        let (http, endpoint) = (http.clone(), format!("{url}/healthz"));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let sent = Instant::now();
            let status = match http.get(endpoint).send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    Ok(s)
                }
                Err(e) if e.is_timeout() => Err("timeout".to_owned()),
                Err(e) => Err(format!("error: {e}")),
            };
            Answer { dedup: None, sent, answered: Instant::now(), status }
        }));
    }
    tokio::time::sleep_until(t0 + Duration::from_secs_f64(cfg.outage_before)).await;
    let cut = Instant::now();
    proxy.set(cut_to);
    eprintln!("    PostgreSQL cut ({mode}) for {} s", cfg.outage_seconds);
    tokio::time::sleep_until(t0 + Duration::from_secs_f64(cfg.outage_before + cfg.outage_seconds)).await;
    let restored = Instant::now();
    proxy.set(Link::Up);
    let mut answers = Vec::with_capacity(tasks.len());
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let alive = server.alive();

    // Let the ingest task finish what it had, then read every alert stored.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let store = muster_store::open(&db.url, false).await.expect("the database opens directly");
    let mut stored: HashMap<String, (usize, u64)> = HashMap::new();
    let mut before = None;
    loop {
        let filter = AlertFilter { statuses: Vec::new(), service: None, before, limit: 500 };
        let page = store.alerts(&filter).await.expect("alerts read");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for a in &page {
            let e = stored.entry(a.dedup_key.clone()).or_default();
            e.0 += 1;
            e.1 += a.count;
        }
    }
    let warnings = server.stop();
    drop(proxy);

    let (ingest, health): (Vec<&Answer>, Vec<&Answer>) = answers.iter().partition(|a| a.dedup.is_some());
    let mut phases = serde_json::Map::new();
    for phase in [Phase::Before, Phase::During, Phase::After] {
        let pick = |v: &[&Answer]| -> Value {
            let of_phase: Vec<&Answer> =
                v.iter().copied().filter(|a| phase_of(a.sent, cut, restored) == phase).collect();
            phase_figures(&of_phase)
        };
        phases.insert(phase.name().to_owned(), json!({"ingest": pick(&ingest), "healthz": pick(&health)}));
    }
    // After the restore: the first request sent then that was answered 202 (200 for /healthz).
    let first_ok = |v: &[&Answer], code: u16| {
        v.iter()
            .filter(|a| a.sent >= restored && a.status == Ok(code))
            .map(|a| ms(a.answered, restored))
            .reduce(f64::min)
    };
    let accepted: Vec<&str> =
        ingest.iter().filter(|a| a.status == Ok(202)).filter_map(|a| a.dedup.as_deref()).collect();
    let once = accepted.iter().filter(|k| stored.get(**k) == Some(&(1, 1))).count();
    let missing = accepted.iter().filter(|k| !stored.contains_key(**k)).count();
    let accepted_set: HashSet<&str> = accepted.iter().copied().collect();
    let stored_unanswered = stored.keys().filter(|k| k.starts_with(&tag) && !accepted_set.contains(k.as_str())).count();
    json!({
        "backend": "postgres", "mode": mode, "rate": cfg.outage_rate, "outage_seconds": ms(restored, cut) / 1000.0,
        "phases": phases,
        "first_202_after_restore_ms": first_ok(&ingest, 202), "first_healthz_200_after_restore_ms": first_ok(&health, 200),
        "accepted": accepted.len(), "stored_once": once, "missing": missing,
        "stored_more_than_once": accepted.len() - once - missing, "stored_without_202": stored_unanswered,
        "server_survived": alive, "server_warnings": warnings.len(),
    })
}

// ---------------------------------------------------------------------------
// Tables

fn f(v: &Value, key: &str) -> Option<f64> {
    v[key].as_f64()
}

/// A number as people write it: 100, 2.5 (not 100.0).
fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x}"),
        None => v.to_string(),
    }
}

fn print_tables(parts: &serde_json::Map<String, Value>) {
    let rows = |name: &str| parts.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
    let paging = rows("paging");
    if !paging.is_empty() {
        println!("\n### Alert → first page, one service paging one person\n");
        println!(
            "| backend | alerts/s | sent | 202 | 202 → reached p50 | p99 | max | not reached 1 s after | after {} s \
             | steps not run 1 s after | notifications (by 1 s after / all) | bundles | sent → 202 p99 |",
            num(&paging[0]["wait_seconds"])
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &paging {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.1} % | {:.1} % | {} | {} / {} | {} | {} |",
                r["backend"].as_str().unwrap_or("?"),
                num(&r["rate"]),
                r["sent"],
                r["accepted"],
                show(f(r, "p50_ms"), "not reached"),
                show(f(r, "p99_ms"), "not reached"),
                show(f(r, "max_ms"), "not reached"),
                f(r, "not_reached_1s_pct").unwrap_or(0.0),
                f(r, "not_reached_wait_pct").unwrap_or(0.0),
                r["steps_waiting_1s"],
                r["notifications_1s"],
                r["notifications"],
                r["bundles"],
                show(f(r, "ingest_p99_ms"), "–"),
            );
        }
    }
    let services = rows("services");
    if !services.is_empty() {
        println!("\n### Many services, each paging its own person\n");
        println!(
            "| backend | alerts/s | services | 202 | first page per service p50 | p99 | per alert p50 | p99 \
             | not reached 1 s after | after wait | most notifications per person (by 1 s after / all) | bundles |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &services {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
                r["backend"].as_str().unwrap_or("?"),
                num(&r["rate"]),
                r["services"],
                r["accepted"],
                show(f(r, "first_page_per_service_p50_ms"), "not reached"),
                show(f(r, "first_page_per_service_p99_ms"), "not reached"),
                show(f(r, "alert_p50_ms"), "not reached"),
                show(f(r, "alert_p99_ms"), "not reached"),
                r["not_reached_1s"],
                r["not_reached_wait"],
                r["max_notifications_per_person_1s"],
                r["max_notifications_per_person"],
                r["bundles"],
            );
        }
    }
    let ingest = rows("ingest");
    if !ingest.is_empty() {
        println!("\n### Durable ingest against Alertmanager (wrk, new alerts)\n");
        println!("| target | connections | requests/s | × Alertmanager | p50 | p99 | non-2xx | socket errors |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &ingest {
            println!(
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                r["target"].as_str().unwrap_or("?"),
                r["connections"],
                f(r, "rps").unwrap_or(0.0),
                f(r, "ratio").map_or("–".into(), |x| format!("{x:.2}×")),
                r["p50"].as_str().unwrap_or("?"),
                r["p99"].as_str().unwrap_or("?"),
                r["non_2xx"],
                r["socket_errors"],
            );
        }
    }
    let live = rows("live");
    if !live.is_empty() {
        println!("\n### Role change → live viewers (SSE)\n");
        println!(
            "| backend | viewers | incidents | changes | request → first p50 | request → last p50 | p99 \
             | response → last p99 | own streams receiving (min–max) | other streams receiving (max) | missed | ended |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &live {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {}–{} of {} | {} | {} | {} |",
                r["backend"].as_str().unwrap_or("?"),
                r["viewers"],
                r["incidents"],
                r["changes"],
                show(f(r, "request_to_first_p50_ms"), "–"),
                show(f(r, "request_to_last_p50_ms"), "–"),
                show(f(r, "request_to_last_p99_ms"), "–"),
                show(f(r, "response_to_last_p99_ms"), "–"),
                r["own_streams_receiving_min"],
                r["own_streams_receiving_max"],
                r["viewers_per_incident"],
                r["other_streams_receiving_max"],
                r["missed"].as_array().map_or(0, Vec::len),
                r["ended"],
            );
        }
    }
    let outage = rows("outage");
    if !outage.is_empty() {
        println!("\n### PostgreSQL cut while serving (through a TCP proxy)\n");
        println!("| mode | phase | what | requests | by status | p50 | p99 | max |");
        println!("|---|---|---|---:|---|---:|---:|---:|");
        for r in &outage {
            for phase in ["before", "during", "after"] {
                for what in ["ingest", "healthz"] {
                    let p = &r["phases"][phase][what];
                    let mut by: Vec<String> = p["by_status"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k}: {v}")).collect())
                        .unwrap_or_default();
                    by.sort();
                    println!(
                        "| {} | {phase} | {what} | {} | {} | {} | {} | {} |",
                        r["mode"].as_str().unwrap_or("?"),
                        p["requests"],
                        by.join(", "),
                        show(f(p, "p50_ms"), "–"),
                        show(f(p, "p99_ms"), "–"),
                        show(f(p, "max_ms"), "–"),
                    );
                }
            }
        }
        println!();
        for r in &outage {
            println!(
                "{}: {} events answered 202, {} stored exactly once, {} missing, {} stored more than once, \
                 {} stored without a 202; first 202 {} and first /healthz 200 {} after the restore; server {}",
                r["mode"].as_str().unwrap_or("?"),
                r["accepted"],
                r["stored_once"],
                r["missing"],
                r["stored_more_than_once"],
                r["stored_without_202"],
                show(f(r, "first_202_after_restore_ms"), "never"),
                show(f(r, "first_healthz_200_after_restore_ms"), "never"),
                if r["server_survived"].as_bool() == Some(true) { "kept running" } else { "EXITED" },
            );
        }
    }
}

/// The issue's table: one line per measure, SQLite and PostgreSQL side by side.
fn summary(parts: &serde_json::Map<String, Value>) -> Vec<[String; 3]> {
    let rows = |name: &str| parts.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut lines: Vec<[String; 3]> = Vec::new();
    let mut put = |measure: String, backend: &str, cell: String| {
        let col = if backend == "sqlite" { 1 } else { 2 };
        if let Some(line) = lines.iter_mut().find(|l| l[0] == measure) {
            line[col] = cell;
        } else {
            let mut line = [measure, "–".to_owned(), "–".to_owned()];
            line[col] = cell;
            lines.push(line);
        }
    };
    for r in rows("paging") {
        put(
            format!("Alert → first page, {} new alerts/s for {} s", num(&r["rate"]), num(&r["seconds"])),
            r["backend"].as_str().unwrap_or(""),
            format!(
                "p50 {}, p99 {}; {:.0} % not reached 1 s after the storm, {:.0} % after {} s; \
                 {} first steps not run 1 s after; {} notifications ({} bundles)",
                show(f(&r, "p50_ms"), "not reached"),
                show(f(&r, "p99_ms"), "not reached"),
                f(&r, "not_reached_1s_pct").unwrap_or(0.0),
                f(&r, "not_reached_wait_pct").unwrap_or(0.0),
                num(&r["wait_seconds"]),
                r["steps_waiting_1s"],
                r["notifications"],
                r["bundles"],
            ),
        );
    }
    for r in rows("services") {
        put(
            format!("{} alerts/s over {} services, each paging its own person", num(&r["rate"]), r["services"]),
            r["backend"].as_str().unwrap_or(""),
            format!(
                "first page per service p99 {}; {} alerts not reached 1 s after the storm; up to {} notifications \
                 per person by then ({} in all)",
                show(f(&r, "first_page_per_service_p99_ms"), "not reached"),
                r["not_reached_1s"],
                r["max_notifications_per_person_1s"],
                r["max_notifications_per_person"],
            ),
        );
    }
    for r in rows("ingest").iter().filter(|r| r["target"] != "alertmanager") {
        put(
            format!("Durable ingest vs Alertmanager (in memory), {} concurrent senders", r["connections"]),
            r["target"].as_str().unwrap_or(""),
            format!(
                "{} ({:.0} requests/s; {} non-2xx, {} socket errors)",
                f(r, "ratio").map_or("–".into(), |x| format!("{x:.2}×")),
                f(r, "rps").unwrap_or(0.0),
                r["non_2xx"],
                r["socket_errors"],
            ),
        );
    }
    for r in rows("live") {
        let measure = if r["incidents"] == 1 {
            format!("Role change → last of {} live viewers (from sending the request)", r["viewers"])
        } else {
            format!("… {} viewers over {} incidents", r["viewers"], r["incidents"])
        };
        let mut cell = format!(
            "p50 {}, p99 {}",
            show(f(&r, "request_to_last_p50_ms"), "–"),
            show(f(&r, "request_to_last_p99_ms"), "–")
        );
        if r["incidents"] != 1 {
            cell.push_str(&format!(
                "; streams of other incidents receiving something: at most {}",
                r["other_streams_receiving_max"]
            ));
        }
        put(measure, r["backend"].as_str().unwrap_or(""), cell);
    }
    for r in rows("outage") {
        let during = &r["phases"]["during"];
        let by = |p: &Value| {
            let mut v: Vec<String> = p["by_status"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{v}× {k}")).collect())
                .unwrap_or_default();
            v.sort();
            v.join(", ")
        };
        put(
            format!(
                "PostgreSQL cut while serving ({}, {:.0} s)",
                r["mode"].as_str().unwrap_or("?"),
                f(&r, "outage_seconds").unwrap_or(0.0)
            ),
            "postgres",
            format!(
                "ingest p99 {} ({}); /healthz p99 {} ({}); {} of {} accepted stored once, {} missing",
                show(f(&during["ingest"], "p99_ms"), "–"),
                by(&during["ingest"]),
                show(f(&during["healthz"], "p99_ms"), "–"),
                by(&during["healthz"]),
                r["stored_once"],
                r["accepted"],
                r["missing"],
            ),
        );
    }
    lines
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and
    // only wants the target to build and run cheaply.
    if !std::env::args().any(|a| a == "--bench") {
        println!("storm bench: run it with `cargo bench -p muster --bench storm`");
        return;
    }
    let cfg = Config::from_env();
    let started = Instant::now();
    // The machine is shared: its load says how far to trust the figures.
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned();
    let load_start = load();
    eprintln!("storm bench: load average at the start {load_start}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut parts = serde_json::Map::new();
    rt.block_on(async {
        let mut put = |name: &str, v: Value| {
            parts.entry(name.to_owned()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(v);
        };
        if cfg.runs("paging") {
            for &backend in &cfg.backends {
                for &rate in &cfg.rates {
                    eprintln!("paging: {}, {rate} alerts/s for {} s", backend_name(backend), cfg.seconds);
                    put("paging", paging_run(backend, &cfg, rate).await);
                }
            }
        }
        if cfg.runs("services") {
            for &backend in &cfg.backends {
                eprintln!(
                    "services: {}, {} alerts/s over {} services",
                    backend_name(backend),
                    cfg.services_rate,
                    cfg.services
                );
                put("services", services_run(backend, &cfg).await);
            }
        }
        if cfg.runs("ingest") {
            eprintln!("ingest: wrk against Alertmanager and Muster");
            for r in ingest_part(&cfg).await {
                put("ingest", r);
            }
        }
        if cfg.runs("live") {
            for &backend in &cfg.backends {
                for &n in &cfg.viewers {
                    eprintln!("live: {}, {n} viewers of one incident", backend_name(backend));
                    put("live", live_run(backend, &cfg, n, 1).await);
                }
                if cfg.spread_viewers > 0 {
                    eprintln!(
                        "live: {}, {} viewers over {} incidents",
                        backend_name(backend),
                        cfg.spread_viewers,
                        cfg.incidents
                    );
                    put("live", live_run(backend, &cfg, cfg.spread_viewers, cfg.incidents).await);
                }
            }
        }
        if cfg.runs("outage") && cfg.backends.contains(&Backend::Postgres) {
            for mode in &cfg.outage_modes {
                eprintln!("outage: postgres, {mode}");
                put("outage", outage_run(&cfg, mode).await);
            }
        }
    });

    print_tables(&parts);
    let lines = summary(&parts);
    println!("\n### Summary (the issue's table)\n");
    println!("| Measure | SQLite | PostgreSQL |");
    println!("|---|---|---|");
    for [m, s, p] in &lines {
        println!("| {m} | {s} | {p} |");
    }
    let commit = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let report = json!({
        "commit": commit,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "config": cfg.describe(), "parts": parts,
        "summary": lines.iter().map(|[m, s, p]| json!({"measure": m, "sqlite": s, "postgres": p})).collect::<Vec<_>>(),
        "seconds": started.elapsed().as_secs_f64(),
        "loadavg_start": load_start, "loadavg_end": load(),
    });
    let path = std::env::var("MUSTER_BENCH_JSON").map(PathBuf::from).unwrap_or_else(|_| {
        // The release binary is target/release/muster: the JSON goes beside, in target/bench.
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_muster"));
        bin.parent().and_then(Path::parent).unwrap_or(Path::new(".")).join("bench").join("storm.json")
    });
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!(
        "\nJSON: {}\ntotal {:.0} s; load average at the start {load_start}, at the end {}",
        path.display(),
        started.elapsed().as_secs_f64(),
        load()
    );
}
