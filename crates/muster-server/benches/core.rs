//! Core benchmarks: the real server in-process on 127.0.0.1, driven over
//! HTTP with reqwest, on SQLite (a temporary file) and, when
//! `MUSTER_TEST_POSTGRES_URL` is set, on PostgreSQL (a schema of its own).
//!
//! 1. Declare + assign: `MUSTER_BENCH_N` declarations, each followed by one
//!    role assignment, from `MUSTER_BENCH_CONCURRENCY` client tasks.
//! 2. Reads of an incident with `MUSTER_BENCH_ENTRIES` timeline entries:
//!    the incident, the first timeline page (limit 1000), a page of 100 and
//!    a deep page of 100; `MUSTER_BENCH_READS` sequential requests each,
//!    after a warm-up.
//!
//! Run: `MUSTER_TEST_POSTGRES_URL=postgres://… cargo bench -p muster-server --bench core`.
//! `MUSTER_BENCH_BACKENDS=sqlite` (or `postgres`) runs only one backend.
//! Latencies are client-side round trips (loopback HTTP included), so they
//! are an upper bound on server time. See docs/PERFORMANCE.md.

mod common;

use common::{Stats, env_usize};
use std::time::{Duration, Instant};

use muster_app::EntryInput;
use muster_domain::timeline::EntryKind;
use muster_domain::{Actor, Handle, IncidentRef};
use muster_store::TimelineQuery;
use muster_store::testing::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "bench-admin-token-0123456789abcdef";

struct Config {
    pairs: usize,
    concurrency: usize,
    entries: usize,
    reads: usize,
    warmup: usize,
    backends: Vec<Backend>,
}

impl Config {
    fn from_env() -> Config {
        let backends = common::backends_from_env();
        Config {
            pairs: env_usize("MUSTER_BENCH_N", 3000).max(1),
            concurrency: env_usize("MUSTER_BENCH_CONCURRENCY", 8).max(1),
            entries: env_usize("MUSTER_BENCH_ENTRIES", 10_000).max(1),
            reads: env_usize("MUSTER_BENCH_READS", 200).max(1),
            warmup: env_usize("MUSTER_BENCH_WARMUP", 20),
            backends,
        }
    }
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

/// One row of the final table.
struct Row {
    backend: &'static str,
    what: String,
    stats: Stats,
    /// Throughput, where it means something.
    rate: Option<String>,
}

/// The server under test (see `common::Server`).
struct Bench(common::Server);

impl std::ops::Deref for Bench {
    type Target = common::Server;
    fn deref(&self) -> &common::Server {
        &self.0
    }
}

impl Bench {
    async fn start(backend: Backend) -> Option<Bench> {
        common::Server::start(
            backend,
            TOKEN,
            reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("a reqwest client"),
        )
        .await
        .map(Bench)
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

/// POSTs JSON; returns the JSON reply and the round-trip time.
async fn post(http: &reqwest::Client, url: &str, body: &Value, want: StatusCode) -> (Value, Duration) {
    let started = Instant::now();
    let response = http
        .post(url)
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} was not answered: {e}"));
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("POST {url}: the body could not be read: {e}"));
    let elapsed = started.elapsed();
    assert_eq!(status, want, "POST {url} {body}: unexpected status; body: {}", String::from_utf8_lossy(&bytes));
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("POST {url}: the reply is not JSON: {e}"));
    (value, elapsed)
}

/// GETs a path; returns the body bytes and the round-trip time.
async fn get(http: &reqwest::Client, url: &str) -> (impl AsRef<[u8]>, Duration) {
    let started = Instant::now();
    let response =
        http.get(url).bearer_auth(TOKEN).send().await.unwrap_or_else(|e| panic!("GET {url} was not answered: {e}"));
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("GET {url}: the body could not be read: {e}"));
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::OK, "GET {url}: unexpected status; body: {}", String::from_utf8_lossy(&bytes));
    (bytes, elapsed)
}

/// Declares incidents and assigns a tech lead to each, from several tasks.
async fn declare_and_assign(b: &Bench, cfg: &Config, backend: &'static str, rows: &mut Vec<Row>) {
    // One tech lead per client task, created over the API.
    let mut leads = Vec::new();
    for i in 0..cfg.concurrency {
        let handle = format!("lead{i}");
        post(
            &b.http,
            &format!("{}/api/v1/users", b.base),
            &json!({"handle": handle, "name": format!("Lead {i}"), "email": format!("lead{i}@example.com")}),
            StatusCode::CREATED,
        )
        .await;
        leads.push(handle);
    }

    async fn pair(http: &reqwest::Client, base: &str, lead: &str, n: usize) -> (Duration, Duration) {
        let (incident, declare) = post(
            http,
            &format!("{base}/api/v1/incidents"),
            &json!({"title": format!("bench incident {n}"), "priority": "P1"}),
            StatusCode::CREATED,
        )
        .await;
        let r = incident["ref"].as_str().expect("a declared incident has a ref").to_owned();
        let (_, assign) = post(
            http,
            &format!("{base}/api/v1/incidents/{r}/roles"),
            &json!({"role": "tech_lead", "user": lead, "scope": "db"}),
            StatusCode::CREATED,
        )
        .await;
        (declare, assign)
    }

    // Warm-up: connections, statement caches.
    for n in 0..cfg.warmup.min(20) {
        pair(&b.http, &b.base, &leads[0], n).await;
    }

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (t, lead) in leads.iter().enumerate() {
        let count = cfg.pairs / cfg.concurrency + usize::from(t < cfg.pairs % cfg.concurrency);
        let http = b.http.clone();
        let base = b.base.clone();
        let lead = lead.clone();
        tasks.push(tokio::spawn(async move {
            let mut declares = Vec::with_capacity(count);
            let mut assigns = Vec::with_capacity(count);
            for n in 0..count {
                let (d, a) = pair(&http, &base, &lead, t * 1_000_000 + n).await;
                declares.push(d);
                assigns.push(a);
            }
            (declares, assigns)
        }));
    }
    let mut declares = Vec::new();
    let mut assigns = Vec::new();
    for task in tasks {
        let (d, a) = task.await.expect("a client task finishes");
        declares.extend(d);
        assigns.extend(a);
    }
    let wall = started.elapsed();
    let pairs_per_s = declares.len() as f64 / wall.as_secs_f64();
    let both: Vec<Duration> = declares.iter().chain(&assigns).copied().collect();
    let label = format!(" x{}", cfg.concurrency);
    rows.push(Row { backend, what: format!("POST declare{label}"), stats: Stats::of(&declares), rate: None });
    rows.push(Row { backend, what: format!("POST assign{label}"), stats: Stats::of(&assigns), rate: None });
    rows.push(Row {
        backend,
        what: format!("declare+assign pairs{label}"),
        stats: Stats::of(&both),
        rate: Some(format!(
            "{pairs_per_s:.0} pairs/s ({:.0} req/s) over {:.1} s",
            pairs_per_s * 2.0,
            wall.as_secs_f64()
        )),
    });
}

/// Fills an incident's timeline in-process; returns its ref and the cursor
/// of the entry 90% of the way in.
async fn big_incident(b: &Bench, cfg: &Config, backend: &'static str, rows: &mut Vec<Row>) -> (String, String) {
    let (incident, _) = post(
        &b.http,
        &format!("{}/api/v1/incidents", b.base),
        &json!({"title": "a long incident", "priority": "P1"}),
        StatusCode::CREATED,
    )
    .await;
    let number = incident["number"].as_u64().expect("a declared incident has a number");
    let r = incident["ref"].as_str().expect("a declared incident has a ref").to_owned();
    let admin: Actor =
        b.app.user(&Handle::parse("admin").expect("\"admin\" is a handle")).await.expect("the admin exists").actor();

    // The declaration wrote some entries of its own; top up to `entries`.
    let have = incident["version"].as_u64().unwrap_or(0) as usize;
    let todo = cfg.entries.saturating_sub(have);
    let writers = cfg.concurrency.min(todo.max(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let count = todo / writers + usize::from(w < todo % writers);
        let app = b.app.clone();
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::with_capacity(count);
            for n in 0..count {
                let t = Instant::now();
                let event = app
                    .add_entry(
                        &admin,
                        IncidentRef(number),
                        EntryInput {
                            kind: EntryKind::Note,
                            text: format!(
                                "writer {w}, note {n}: checked the replica lag on db-{}; \
                                 still climbing, next look in five minutes",
                                n % 7
                            ),
                            tag: None,
                            corrects: None,
                            occurred_at: None,
                            workstream: None,
                        },
                    )
                    .await
                    .expect("a timeline entry is written");
                written.push((t.elapsed(), event.seq, event.at.as_microsecond()));
            }
            written
        }));
    }
    let mut latencies = Vec::new();
    let mut cursors = Vec::new();
    for task in tasks {
        for (d, seq, at) in task.await.expect("a writer task finishes") {
            latencies.push(d);
            cursors.push((seq, at));
        }
    }
    let wall = started.elapsed();
    if !latencies.is_empty() {
        rows.push(Row {
            backend,
            what: format!("App::add_entry (in-process) x{writers}"),
            stats: Stats::of(&latencies),
            rate: Some(format!(
                "{:.0} entries/s over {:.1} s",
                latencies.len() as f64 / wall.as_secs_f64(),
                wall.as_secs_f64()
            )),
        });
    }
    cursors.sort_unstable();
    let deep = cursors.get(cursors.len() * 9 / 10).map(|(seq, at)| format!("{at}.{seq}")).unwrap_or_default();
    (r, deep)
}

/// Sequential GETs of one URL after a warm-up.
async fn read_latency(b: &Bench, cfg: &Config, path: &str, check: impl Fn(&Value)) -> Stats {
    let url = format!("{}{path}", b.base);
    for i in 0..cfg.warmup.max(1) {
        let (body, _) = get(&b.http, &url).await;
        if i == 0 {
            let value: Value = serde_json::from_slice(body.as_ref())
                .unwrap_or_else(|e| panic!("GET {url}: the reply is not JSON: {e}"));
            check(&value);
        }
    }
    let mut samples = Vec::with_capacity(cfg.reads);
    for _ in 0..cfg.reads {
        samples.push(get(&b.http, &url).await.1);
    }
    Stats::of(&samples)
}

/// The same reads through the App, without HTTP or JSON: the store's share.
async fn app_latency<F, Fut>(cfg: &Config, call: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    common::timed(cfg.warmup, cfg.reads, call).await
}

/// Checks a reply's shape once, before timing.
type Check = Box<dyn Fn(&Value)>;

async fn reads(b: &Bench, cfg: &Config, backend: &'static str, rows: &mut Vec<Row>) {
    let (r, deep) = big_incident(b, cfg, backend, rows).await;
    let entries = cfg.entries as u64;
    let page = |n: usize| {
        move |v: &Value| {
            let len = v.as_array().map_or(0, Vec::len);
            assert_eq!(len, n.min(entries as usize), "a timeline page of the expected length");
        }
    };
    let cases: Vec<(String, String, Check)> = vec![
        (
            format!("GET incident ({} entries)", cfg.entries),
            format!("/api/v1/incidents/{r}"),
            Box::new(move |v: &Value| {
                assert!(
                    v["version"].as_u64().is_some_and(|n| n >= entries),
                    "the incident has its {entries} entries: {v}"
                );
            }),
        ),
        ("GET timeline (limit 1000, default)".into(), format!("/api/v1/incidents/{r}/timeline"), Box::new(page(1000))),
        ("GET timeline?limit=100".into(), format!("/api/v1/incidents/{r}/timeline?limit=100"), Box::new(page(100))),
        (
            "GET timeline?limit=100, 90% in".into(),
            format!("/api/v1/incidents/{r}/timeline?limit=100&after={deep}"),
            Box::new(|v: &Value| {
                assert!(v.as_array().is_some_and(|a| !a.is_empty()), "a deep page has entries");
            }),
        ),
    ];
    for (what, path, check) in cases {
        let stats = read_latency(b, cfg, &path, check).await;
        rows.push(Row { backend, what, stats, rate: None });
    }

    // The store's share of the same reads, in-process.
    let number: IncidentRef = r.parse().expect("the server's ref parses");
    let app = &b.app;
    let stats = app_latency(cfg, || async {
        app.incident(number).await.expect("App::incident answers");
    })
    .await;
    rows.push(Row { backend, what: "App::incident (in-process)".into(), stats, rate: None });
    for limit in [1000, 100] {
        let stats = app_latency(cfg, || async {
            app.timeline(number, &TimelineQuery { after: None, limit, ..TimelineQuery::default() })
                .await
                .expect("App::timeline answers");
        })
        .await;
        rows.push(Row { backend, what: format!("App::timeline limit {limit} (in-process)"), stats, rate: None });
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<9} {:<40} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}  throughput",
        "backend", "measure", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"
    );
    println!("{}", "-".repeat(120));
    for row in rows {
        println!(
            "{:<9} {:<40} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            row.backend,
            row.what,
            row.stats.count,
            ms(row.stats.p50),
            ms(row.stats.p90),
            ms(row.stats.p99),
            ms(row.stats.max),
            ms(row.stats.mean),
            row.rate.as_deref().unwrap_or("")
        );
    }
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and
    // only wants the target to build and run cheaply.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("muster-server core bench: run it with `cargo bench -p muster-server --bench core`");
        return;
    }
    let cfg = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    println!(
        "muster-server core bench: N={} pairs x{} clients, {} timeline entries, {} reads each after {} warm-up; {} CPUs",
        cfg.pairs,
        cfg.concurrency,
        cfg.entries,
        cfg.reads,
        cfg.warmup,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let started = Instant::now();
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        for backend in &cfg.backends {
            let name = match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            };
            let Some(bench) = Bench::start(*backend).await else {
                println!("{name}: skipped (set MUSTER_TEST_POSTGRES_URL to include it)");
                continue;
            };
            let t = Instant::now();
            println!("{name}: declare + assign …");
            declare_and_assign(&bench, &cfg, name, &mut rows).await;
            println!("{name}: timeline of {} entries, reads …", cfg.entries);
            reads(&bench, &cfg, name, &mut rows).await;
            println!("{name}: done in {:.1} s", t.elapsed().as_secs_f64());
            bench.stop().await;
        }
        rows
    });
    print_table(&rows);
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
