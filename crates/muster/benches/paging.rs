//! Paging latency: from an alert accepted to its first webhook page.
//!
//! Run: `cargo bench -p muster --bench paging` (PostgreSQL too when
//! `MUSTER_TEST_POSTGRES_URL` is set). For each backend and each rate, a
//! fresh database and a fresh `muster serve` (the release binary, a child
//! process on 127.0.0.1) with one user, `bob`, whose only contact method is a
//! webhook to a receiver inside this process, an escalation policy of one
//! step that notifies bob, and a service on that policy. Then:
//!
//! - one warm-up alert, whose page is awaited and not counted;
//! - an open-loop sender: alert `i` (a new dedup key) goes out at
//!   `t0 + i / rate` in a task of its own, whatever happened to the others,
//!   for `MUSTER_BENCH_SECONDS` (default 10) seconds;
//! - the receiver notes when the first page for each dedup key arrived
//!   (`alert.dedup_key` in the webhook's body);
//! - after the last send, it waits up to `MUSTER_BENCH_WAIT_SECONDS`
//!   (default 40: longer than the engine's 30 s idle re-check) for the rest.
//!
//! Latency is the page's arrival minus the moment the 202 arrived (also:
//! minus the moment the request was sent). Sender and receiver share one
//! monotonic clock. Printed as a Markdown table.
//!
//! `MUSTER_BENCH_RATES` (default `10,100`, alerts per second) and
//! `MUSTER_BENCH_BACKENDS` (`sqlite`, `postgres`; default both, PostgreSQL
//! only with its URL) narrow a run.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use muster_store::testing::{Backend, TestDatabase};
use serde_json::{Value, json};

const ADMIN: &str = "mst_bench_admin_token_of_32_characters";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the webhook receiver saw: the first arrival of a page per dedup key.
#[derive(Default)]
struct Inbox {
    first: Mutex<HashMap<String, Instant>>,
    /// Pages for a dedup key that had one already (retries, repeats).
    duplicates: AtomicU64,
    /// Bodies that are not pages about an alert.
    other: AtomicU64,
}

impl Inbox {
    fn arrived(&self, key: &str) -> Option<Instant> {
        self.first.lock().unwrap().get(key).copied()
    }
}

async fn hook(State(inbox): State<Arc<Inbox>>, body: axum::body::Bytes) -> StatusCode {
    let at = Instant::now();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = match (&parsed["type"], &parsed["alert"]["dedup_key"]) {
        (Value::String(t), Value::String(k)) if t == "page" => k.clone(),
        _ => {
            inbox.other.fetch_add(1, Ordering::Relaxed);
            return StatusCode::OK;
        }
    };
    match inbox.first.lock().unwrap().entry(key) {
        Entry::Vacant(e) => {
            e.insert(at);
        }
        Entry::Occupied(_) => {
            inbox.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::OK
}

/// Starts the receiver on 127.0.0.1; returns its URL.
async fn receiver(inbox: Arc<Inbox>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/hook", post(hook)).with_state(inbox);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

/// `muster serve` on a free port of 127.0.0.1, its log in `log`.
fn muster(database: &str, log: &Path) -> (Proc, String) {
    let stderr = std::fs::File::create(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .env("MUSTER_ADMIN_TOKEN", ADMIN)
        .env("MUSTER_LOG", "warn")
        .env("MUSTER_INGEST_RATE", "1000000000")
        // The receiver is in this process, on 127.0.0.1.
        .env("MUSTER_WEBHOOK_ALLOW", "127.0.0.1/32")
        .env_remove("MUSTER_PUBLIC_URL")
        .env_remove("MUSTER_SMTP_URL")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("muster serve starts").to_owned();
    (Proc(child), url)
}

async fn admin_post(http: &reqwest::Client, url: &str, path: &str, body: Value) -> Value {
    let response = http.post(format!("{url}{path}")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status.as_u16(), 201, "POST {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Bob, his webhook, a one-step policy and a service on it; returns the
/// service's integration key.
async fn setup(http: &reqwest::Client, url: &str, hook: &str) -> String {
    let user = json!({"handle":"bob","name":"Bob","email":"bob@example.com","permission":"responder"});
    admin_post(http, url, "/api/v1/users", user).await;
    admin_post(http, url, "/api/v1/users/bob/contact-methods", json!({"kind":"webhook","address":hook})).await;
    let policy = json!({"name":"Bench","repeat":0,"steps":[{"delay_seconds":3600,"targets":[{"user":"bob"}]}]});
    let policy = admin_post(http, url, "/api/v1/escalation-policies", policy).await;
    let service = json!({"name":"bench","escalation_policy":policy["id"]});
    let service = admin_post(http, url, "/api/v1/services", service).await;
    service["integration_key"].as_str().unwrap().to_owned()
}

fn event(key: &str, dedup: &str) -> Value {
    json!({"routing_key":key,"event_action":"trigger","dedup_key":dedup,
           "payload":{"summary":"s","source":"bench","severity":"error"}})
}

/// Waits until every key has a page, or until `deadline`.
async fn await_pages(inbox: &Inbox, keys: &[&str], deadline: Instant) {
    while Instant::now() < deadline {
        if keys.iter().all(|k| inbox.arrived(k).is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `later - earlier` in milliseconds, negative when `later` came first.
fn ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier.duration_since(later).as_secs_f64() * 1e3),
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1} ms"))
}

struct Row {
    backend: &'static str,
    rate: f64,
    sent: usize,
    accepted: usize,
    received: usize,
    duplicates: u64,
    /// 202 received → page arrived.
    from_accept: Vec<f64>,
    /// Request sent → page arrived.
    from_send: Vec<f64>,
    /// Request sent → 202 received.
    ingest: Vec<f64>,
    warnings: usize,
}

struct Sent {
    dedup: String,
    sent: Instant,
    answered: Instant,
    status: Option<u16>,
}

async fn run(backend: Backend, rate: f64, seconds: f64, wait: Duration, inbox: Arc<Inbox>, hook: &str) -> Row {
    let db = TestDatabase::new(backend).await.expect("a database");
    let tag = format!("{}-{rate}-{}", std::process::id(), rand_suffix());
    let log = std::env::temp_dir().join(format!("muster-bench-paging-{tag}.log"));
    let (server, url) = muster(&db.url, &log);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let key = setup(&http, &url, hook).await;
    let duplicates_before = inbox.duplicates.load(Ordering::Relaxed);

    // Warm-up: connections, caches and the engine's first wake-up.
    let warm = format!("{tag}-warm-up");
    let begun = Instant::now();
    let r = http.post(format!("{url}/v2/enqueue")).json(&event(&key, &warm)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202, "the warm-up alert is accepted");
    await_pages(&inbox, &[&warm], Instant::now() + wait).await;
    match inbox.arrived(&warm) {
        Some(at) => eprintln!("  warm-up page after {:.1} ms", ms(at, begun)),
        None => eprintln!("  warm-up page did not arrive within {wait:?}"),
    }

    let n = (rate * seconds).round() as usize;
    eprintln!("  sending {n} alerts at {rate}/s");
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate);
        let (http, body, endpoint) = (http.clone(), event(&key, &format!("{tag}-{i}")), format!("{url}/v2/enqueue"));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let sent = Instant::now();
            let response = http.post(endpoint).json(&body).send().await;
            let answered = Instant::now();
            let status = match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    Some(status)
                }
                Err(_) => None,
            };
            Sent { dedup: body["dedup_key"].as_str().unwrap().to_owned(), sent, answered, status }
        }));
    }
    let mut sends = Vec::with_capacity(n);
    for t in tasks {
        sends.push(t.await.unwrap());
    }
    let accepted: Vec<&Sent> = sends.iter().filter(|s| s.status == Some(202)).collect();
    let keys: Vec<&str> = accepted.iter().map(|s| s.dedup.as_str()).collect();
    await_pages(&inbox, &keys, Instant::now() + wait).await;
    drop(server);

    let (mut from_accept, mut from_send, mut ingest) = (Vec::new(), Vec::new(), Vec::new());
    for s in &accepted {
        ingest.push(ms(s.answered, s.sent));
        if let Some(at) = inbox.arrived(&s.dedup) {
            from_accept.push(ms(at, s.answered));
            from_send.push(ms(at, s.sent));
        }
    }
    let received = sends.iter().filter(|s| inbox.arrived(&s.dedup).is_some()).count();
    for v in [&mut from_accept, &mut from_send, &mut ingest] {
        v.sort_by(f64::total_cmp);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let noted: Vec<&str> = text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
    for l in noted.iter().take(5) {
        eprintln!("  server: {l}");
    }
    let _ = std::fs::remove_file(&log);
    let failed: Vec<String> =
        sends.iter().filter(|s| s.status != Some(202)).map(|s| format!("{:?}", s.status)).collect();
    if !failed.is_empty() {
        eprintln!("  {} sends not accepted, e.g. {:?}", failed.len(), &failed[..failed.len().min(5)]);
    }
    Row {
        backend: match backend {
            Backend::Sqlite => "SQLite (WAL, synchronous=FULL)",
            Backend::Postgres => "PostgreSQL",
        },
        rate,
        sent: n,
        accepted: accepted.len(),
        received,
        duplicates: inbox.duplicates.load(Ordering::Relaxed) - duplicates_before,
        from_accept,
        from_send,
        ingest,
        warnings: noted.len(),
    }
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks; there is nothing to list.
    }
    let seconds: f64 = env_or("MUSTER_BENCH_SECONDS", 10.0);
    let wait = Duration::from_secs_f64(env_or("MUSTER_BENCH_WAIT_SECONDS", 40.0));
    let rates: Vec<f64> = std::env::var("MUSTER_BENCH_RATES")
        .unwrap_or_else(|_| "10,100".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .filter(|r: &f64| *r > 0.0)
        .collect();
    let only = std::env::var("MUSTER_BENCH_BACKENDS").unwrap_or_default();
    let mut backends = Vec::new();
    if only.is_empty() || only.contains("sqlite") {
        backends.push(Backend::Sqlite);
    }
    if (only.is_empty() || only.contains("postgres")) && std::env::var("MUSTER_TEST_POSTGRES_URL").is_ok() {
        backends.push(Backend::Postgres);
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let inbox = Arc::new(Inbox::default());
        let hook = receiver(inbox.clone()).await;
        let mut rows = Vec::new();
        for &backend in &backends {
            for &rate in &rates {
                eprintln!("{backend:?}, {rate} alerts/s for {seconds} s");
                rows.push(run(backend, rate, seconds, wait, inbox.clone(), &hook).await);
            }
        }
        let other = inbox.other.load(Ordering::Relaxed);
        if other > 0 {
            eprintln!("{other} webhook bodies were not pages about an alert");
        }
        rows
    });

    println!("\nLatency of the first webhook page per alert ({seconds} s per run, open loop).\n");
    println!(
        "| backend | alerts/s | sent | 202 | pages | 202 → page p50 | p99 | max | sent → page p50 | p99 | max \
         | sent → 202 p50 | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (a, s, i) = (&r.from_accept, &r.from_send, &r.ingest);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.backend,
            r.rate,
            r.sent,
            r.accepted,
            r.received,
            show(pct(a, 0.5)),
            show(pct(a, 0.99)),
            show(a.last().copied()),
            show(pct(s, 0.5)),
            show(pct(s, 0.99)),
            show(s.last().copied()),
            show(pct(i, 0.5)),
            show(pct(i, 0.99)),
        );
    }
    for r in rows.iter().filter(|r| r.received < r.accepted || r.warnings > 0 || r.duplicates > 0) {
        println!(
            "\n{} at {}/s: {} of {} accepted alerts paged within the wait; {} server warnings; {} duplicate pages",
            r.backend, r.rate, r.received, r.accepted, r.warnings, r.duplicates
        );
    }
}
