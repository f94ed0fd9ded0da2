//! Web UI benchmarks: the real server in-process on 127.0.0.1, on SQLite (a
//! temporary file) and, when `MUSTER_TEST_POSTGRES_URL` is set, on
//! PostgreSQL (a schema of its own).
//!
//! 1. The incident page, `GET /incidents/INC-1`, of an incident with
//!    `MUSTER_BENCH_ENTRIES` timeline entries, requested with the session
//!    cookie of a person who signed in through the real forms (the incident
//!    manager, so the page carries every form). `MUSTER_BENCH_READS`
//!    sequential requests after `MUSTER_BENCH_WARMUP`: over HTTP on loopback
//!    (a kept-alive connection; the round trip up to the last byte of the
//!    body), through the router in-process (tower `oneshot`, no socket), and
//!    the store reads the page handler makes, in-process. Then once more
//!    over HTTP while the live viewers of part 2 are connected and idle.
//! 2. Live updates: `MUSTER_BENCH_VIEWERS` people (permission `viewer`),
//!    each signed in through the forms and watching
//!    `GET /incidents/INC-1/events` on an HTTP connection of their own. The
//!    incident manager then assigns `MUSTER_BENCH_CHANGES` roles over the
//!    API (`POST /api/v1/incidents/INC-1/roles`, tech lead with scope
//!    `db-<n>`), one after another, `MUSTER_BENCH_GAP_MS` apart, after
//!    `MUSTER_BENCH_WARMUP_CHANGES` that are not counted. For each change:
//!    when its response arrived, and when the first and the last viewer
//!    had the `role_assigned` event naming that scope. At the end every
//!    viewer must have had every event of the incident since it connected,
//!    once each and in order. Last, in-process, the entry reads an
//!    incident's live room makes per change (once, for all its viewers). With `MUSTER_BENCH_INCIDENTS` above 1 the
//!    viewers are dealt round the incidents INC-1..INC-n (the others
//!    declared small), the changes are still made on INC-1, the figures
//!    are for INC-1's viewers, and every other viewer must have had
//!    nothing at all.
//!
//! Run: `MUSTER_TEST_POSTGRES_URL=postgres://… cargo bench -p muster-server --bench web`.
//! `MUSTER_BENCH_BACKENDS=sqlite` (or `postgres`) runs only one backend.
//! Clients and server share one process, one tokio runtime and the
//! machine's cores, so client-side times include the clients' own work.
//! The in-process measurements run on a runtime worker, as handlers do.
//! See docs/PERFORMANCE.md.

mod common;

use common::{Stats, env_usize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use muster_app::{App, EntryInput};
use muster_domain::timeline::EntryKind;
use muster_domain::{Handle, IncidentRef};
use muster_store::TimelineQuery;
use muster_store::testing::Backend;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "bench-admin-token-of-32-characters";
const PASSWORD: &str = "correct horse battery";
/// Entries the incident page shows at once (`web::incident::WINDOW`).
const WINDOW: usize = 200;
/// The longest a change may take to reach every viewer before it counts as missed.
const FAN_OUT_TIMEOUT: Duration = Duration::from_secs(30);
/// A bound on any single request of the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Config {
    entries: usize,
    reads: usize,
    warmup: usize,
    viewers: usize,
    /// Incidents the viewers are dealt round; the changes are on the first.
    incidents: usize,
    changes: usize,
    warmup_changes: usize,
    gap: Duration,
    backends: Vec<Backend>,
}

impl Config {
    fn from_env() -> Config {
        let backends = common::backends_from_env();
        Config {
            entries: env_usize("MUSTER_BENCH_ENTRIES", 10_000).max(1),
            reads: env_usize("MUSTER_BENCH_READS", 300).max(1),
            warmup: env_usize("MUSTER_BENCH_WARMUP", 30),
            viewers: env_usize("MUSTER_BENCH_VIEWERS", 200).max(1),
            incidents: env_usize("MUSTER_BENCH_INCIDENTS", 1).max(1),
            changes: env_usize("MUSTER_BENCH_CHANGES", 20).max(1),
            warmup_changes: env_usize("MUSTER_BENCH_WARMUP_CHANGES", 3),
            gap: Duration::from_millis(env_usize("MUSTER_BENCH_GAP_MS", 250) as u64),
            backends,
        }
    }
}

/// One row of the final table.
struct Row {
    backend: &'static str,
    what: String,
    stats: Stats,
    note: String,
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
        common::Server::start(backend, ADMIN_TOKEN, browser()).await.map(Bench)
    }

    async fn stop(self) {
        self.0.stop().await;
    }

    /// An API call with a bearer token; the JSON reply.
    async fn api(&self, token: &str, path: &str, body: Option<&Value>, want: StatusCode) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        };
        let response = request
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} was not answered: {e}"));
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_else(|e| panic!("{path}: the body could not be read: {e}"));
        assert_eq!(status, want, "{path}: unexpected status; body: {}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: the reply is not JSON: {e}"))
    }

    /// A user with a password (for the sign-in form).
    async fn user(&self, handle: &str, permission: &str) {
        let body = json!({"handle": handle, "name": handle, "email": format!("{handle}@example.com"),
                          "permission": permission, "password": PASSWORD});
        self.api(ADMIN_TOKEN, "/api/v1/users", Some(&body), StatusCode::CREATED).await;
    }

    /// Signs in through the real forms; the session cookie (`muster_session=…`).
    async fn sign_in(&self, http: &reqwest::Client, handle: &str) -> String {
        let form = http
            .get(format!("{}/login", self.base))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .expect("GET /login is answered");
        assert_eq!(form.status(), StatusCode::OK, "GET /login");
        let login = set_cookie(&form, "muster_login").expect("the sign-in form sets its CSRF cookie");
        let html = form.text().await.expect("the sign-in form is read");
        let csrf = hidden(&html, "csrf");
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("csrf", csrf.as_str()), ("handle", handle), ("password", PASSWORD), ("next", "/")])
            .finish();
        let answer = http
            .post(format!("{}/login", self.base))
            .header("cookie", format!("muster_login={login}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .expect("POST /login is answered");
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{handle} signs in");
        let session = set_cookie(&answer, "muster_session").expect("signing in sets the session cookie");
        format!("muster_session={session}")
    }
}

/// A client like a browser: no automatic redirects, cookies by hand.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).pool_max_idle_per_host(64).build().expect("a reqwest client")
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (kv, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = kv.split_once('=')?;
        (k == name).then(|| val.to_owned())
    })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no hidden {name} field in the page")) + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

/// Declares the incident as `alice` (so she is its incident manager) and
/// fills its timeline in-process; returns the ref, alice's API token and
/// how long the filling took.
async fn big_incident(b: &Bench, cfg: &Config) -> (String, String, Duration) {
    b.user("alice", "responder").await;
    b.user("carol", "responder").await;
    let token = b.api(ADMIN_TOKEN, "/api/v1/users/alice/tokens", Some(&json!({})), StatusCode::CREATED).await["token"]
        .as_str()
        .expect("a new token")
        .to_owned();
    let incident = b
        .api(
            &token,
            "/api/v1/incidents",
            Some(&json!({"title": "Checkout fails for a third of customers", "priority": "P1"})),
            StatusCode::CREATED,
        )
        .await;
    let number = incident["number"].as_u64().expect("a declared incident has a number");
    let r = incident["ref"].as_str().expect("a declared incident has a ref").to_owned();
    let alice = b.app.user(&Handle::parse("alice").expect("a handle")).await.expect("alice exists").actor();
    let have = incident["version"].as_u64().unwrap_or(0) as usize;
    let todo = cfg.entries.saturating_sub(have);
    let writers = 8.min(todo.max(1));
    let kinds = [EntryKind::Message, EntryKind::Note, EntryKind::Message, EntryKind::Theory, EntryKind::Decision];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let count = todo / writers + usize::from(w < todo % writers);
        let app = b.app.clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..count {
                let input = EntryInput {
                    kind: kinds[n % kinds.len()],
                    text: format!(
                        "writer {w}, line {n}: replica lag on db-{} is {} s and still climbing; \
                         failing over if it passes 60 s",
                        n % 7,
                        n % 50
                    ),
                    tag: None,
                    corrects: None,
                    occurred_at: None,
                    workstream: None,
                };
                app.add_entry(&alice, IncidentRef(number), input).await.expect("a timeline entry is written");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer task finishes");
    }
    (r, token, started.elapsed())
}

/// Checks a rendered incident page once: a full window of entries, the
/// link to older ones, the live stream's address.
fn check_page(html: &str, entries: usize) {
    let shown = html.matches("<li id=\"entry-").count();
    assert_eq!(shown, WINDOW.min(entries), "the page shows a window of the timeline");
    assert!(entries <= WINDOW || html.contains("Older entries"), "the page links to older entries");
    assert!(html.contains("data-live=\"/incidents/"), "the page starts a live stream");
    assert!(html.contains("action=\"/incidents/INC-1/roles\""), "the incident manager sees the role form");
}

/// Sequential GETs of the incident page over HTTP; the latencies and the body size.
async fn page_http(b: &Bench, cfg: &Config, cookie: &str, path: &str) -> (Stats, usize) {
    let url = format!("{}{path}", b.base);
    let once = || async {
        let started = Instant::now();
        let response = b
            .http
            .get(&url)
            .header("cookie", cookie)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} was not answered: {e}"));
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_else(|e| panic!("GET {path}: the body could not be read: {e}"));
        let elapsed = started.elapsed();
        assert_eq!(status, StatusCode::OK, "GET {path}: unexpected status");
        (bytes, elapsed)
    };
    let (first, _) = once().await;
    check_page(&String::from_utf8_lossy(&first), cfg.entries);
    for _ in 0..cfg.warmup {
        once().await;
    }
    let mut samples = Vec::with_capacity(cfg.reads);
    for _ in 0..cfg.reads {
        samples.push(once().await.1);
    }
    (Stats::of(&samples), first.len())
}

/// The same page through the router, in-process: no socket, no HTTP parsing.
async fn page_router(app: Arc<App>, cfg: &Config, cookie: &str, path: &str) -> Stats {
    let router = muster_server::router(app);
    let once = || async {
        let request =
            axum::http::Request::builder().uri(path).header("cookie", cookie).body(Body::empty()).expect("a request");
        let started = Instant::now();
        let response = router.clone().oneshot(request).await.expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("the body is read");
        let elapsed = started.elapsed();
        assert_eq!(status, StatusCode::OK, "{path} through the router");
        (bytes, elapsed)
    };
    let (first, _) = once().await;
    check_page(&String::from_utf8_lossy(&first), cfg.entries);
    for _ in 0..cfg.warmup {
        once().await;
    }
    let mut samples = Vec::with_capacity(cfg.reads);
    for _ in 0..cfg.reads {
        samples.push(once().await.1);
    }
    Stats::of(&samples)
}

/// Runs `f` on a runtime worker thread, where the server's handlers run too
/// (the benchmark's main future runs on the thread that called `block_on`,
/// and waking that thread costs more).
async fn on_worker<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    tokio::spawn(f).await.expect("a measuring task finishes")
}

/// The store reads the page handler makes, in the same order, in-process:
/// the session, the incident (and required roles), the role catalog, the
/// last window of the timeline, users, schedules, policies.
async fn page_reads(app: &App, cfg: &Config, cookie: &str, number: u64) -> Stats {
    let id = cookie.trim_start_matches("muster_session=").to_owned();
    let r = IncidentRef(number);
    common::timed(cfg.warmup, cfg.reads, || async {
        app.session(&id).await.expect("the session reads").expect("the session exists");
        app.incident(r).await.expect("the incident reads");
        app.role_catalog().await.expect("the catalog reads");
        let query = TimelineQuery { latest: true, limit: WINDOW as u32, ..TimelineQuery::default() };
        let events = app.timeline(r, &query).await.expect("the timeline reads");
        assert_eq!(events.len(), WINDOW.min(cfg.entries));
        app.store.users().await.expect("users read");
        app.store.schedules().await.expect("schedules read");
        app.store.policies().await.expect("policies read");
    })
    .await
}

/// What a live stream makes of one change, per viewer, in-process: the new
/// entries, the incident (for the board and topic) and the role catalog.
async fn stream_reads(app: &App, cfg: &Config, number: u64) -> Stats {
    let version = app.store.incident_version(number).await.expect("the version reads").expect("the incident exists");
    let r = IncidentRef(number);
    common::timed(cfg.warmup, cfg.reads, || async {
        let events = app.store.events_since(number, version.saturating_sub(2), 100).await.expect("events read");
        assert_eq!(events.len() as u64, version.min(2));
        app.incident(r).await.expect("the incident reads");
        app.role_catalog().await.expect("the catalog reads");
    })
    .await
}

/// What a viewer's task reports.
enum Report {
    /// An `entry` event: its id, the scope of the role it assigns (for
    /// `role_assigned` events with a `db-<n>` scope), when its last byte came.
    Event { viewer: usize, seq: u64, scope: Option<usize>, at: Instant },
    /// The stream failed or ended.
    Ended { viewer: usize, why: String },
}

/// `db-<n>` from the entry html of a `role_assigned` event's data.
fn assigned_scope(data: &str) -> Option<usize> {
    if !data.contains("\"kind\":\"role_assigned\"") {
        return None;
    }
    let html = &data[data.find("\"html\":\"")?..];
    let after = &html[html.find("(db-")? + 4..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One viewer: reads the stream on a connection of its own and reports
/// every event with the time its bytes arrived.
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
            let (mut event, mut id, mut data) = ("", None, "");
            for line in record.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = v.trim_start();
                }
            }
            if event == "entry" {
                let Some(seq) = id else {
                    let _ = reports.send(Report::Ended { viewer, why: "an entry event without an id".into() });
                    return;
                };
                let _ = reports.send(Report::Event { viewer, seq, scope: assigned_scope(data), at });
            }
        }
    }
}

/// The live viewers: their tasks, and what they reported so far.
struct Fanout {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Per viewer, whether it watches INC-1 (where the changes are).
    watches_first: Vec<bool>,
    reports: mpsc::UnboundedReceiver<Report>,
    start_version: u64,
    /// Per viewer, the ids of the events it got, in order.
    seqs: Vec<Vec<u64>>,
    /// Per scope number, per viewer, when its `role_assigned` event came.
    arrivals: HashMap<usize, Vec<Option<Instant>>>,
    ended: Vec<String>,
}

impl Fanout {
    async fn connect(b: &Bench, cfg: &Config, r: &str) -> Fanout {
        let started = Instant::now();
        let mut cookies = Vec::with_capacity(cfg.viewers);
        for i in 0..cfg.viewers {
            let handle = format!("viewer{i}");
            b.user(&handle, "viewer").await;
            cookies.push(b.sign_in(&b.http, &handle).await);
        }
        println!("  {} viewers created and signed in in {:.1} s", cfg.viewers, started.elapsed().as_secs_f64());
        let start_version = b
            .app
            .store
            .incident_version(r.trim_start_matches("INC-").parse().expect("a ref"))
            .await
            .expect("the version reads")
            .expect("the incident exists");
        let (tx, reports) = mpsc::unbounded_channel();
        let mut tasks = Vec::with_capacity(cfg.viewers);
        let mut watches_first = Vec::with_capacity(cfg.viewers);
        let started = Instant::now();
        for (i, cookie) in cookies.iter().enumerate() {
            // A client per viewer: a connection of its own, like a browser each.
            let http = browser();
            let incident = i % cfg.incidents + 1;
            watches_first.push(incident == 1);
            let url = if incident == 1 {
                format!("{}/incidents/{r}/events?after={start_version}", b.base)
            } else {
                format!("{}/incidents/INC-{incident}/events", b.base)
            };
            let response = tokio::time::timeout(REQUEST_TIMEOUT, http.get(&url).header("cookie", cookie).send())
                .await
                .expect("the stream answers within the timeout")
                .unwrap_or_else(|e| panic!("viewer {i}: the stream was not answered: {e}"));
            assert_eq!(response.status(), StatusCode::OK, "viewer {i}: the stream opens");
            let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(content_type.starts_with("text/event-stream"), "viewer {i}: {content_type}");
            tasks.push(tokio::spawn(viewer(i, response, tx.clone())));
        }
        println!("  {} streams open in {:.2} s", cfg.viewers, started.elapsed().as_secs_f64());
        Fanout {
            tasks,
            watches_first,
            reports,
            start_version,
            seqs: vec![Vec::new(); cfg.viewers],
            arrivals: HashMap::new(),
            ended: Vec::new(),
        }
    }

    fn take(&mut self, report: Report, viewers: usize) {
        match report {
            Report::Event { viewer, seq, scope, at } => {
                self.seqs[viewer].push(seq);
                if let Some(n) = scope {
                    let slot = &mut self.arrivals.entry(n).or_insert_with(|| vec![None; viewers])[viewer];
                    if slot.is_none() {
                        *slot = Some(at);
                    }
                }
            }
            Report::Ended { viewer, why } => self.ended.push(format!("viewer {viewer}: {why}")),
        }
    }

    fn arrived(&self, n: usize) -> usize {
        self.arrivals.get(&n).map_or(0, |a| a.iter().flatten().count())
    }

    /// Takes reports until scope `n` reached `watching` viewers or `deadline` passes.
    async fn wait_for(&mut self, n: usize, watching: usize, viewers: usize, deadline: tokio::time::Instant) {
        while self.arrived(n) < watching {
            match tokio::time::timeout_at(deadline, self.reports.recv()).await {
                Ok(Some(report)) => self.take(report, viewers),
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Takes whatever reports are there within `within`.
    async fn drain(&mut self, viewers: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(report)) = tokio::time::timeout_at(deadline, self.reports.recv()).await {
            self.take(report, viewers);
        }
    }

    async fn close(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Makes the changes one after another and measures how they reach the
/// viewers; then checks that every viewer got every event.
async fn fan_out(
    b: &Bench,
    cfg: &Config,
    f: &mut Fanout,
    r: &str,
    token: &str,
    backend: &'static str,
    rows: &mut Vec<Row>,
) {
    let viewers = cfg.viewers;
    // The viewers of INC-1, where the changes are.
    let watching = f.watches_first.iter().filter(|w| **w).count();
    // Let every stream park on its wait before the first change.
    f.drain(viewers, Duration::from_secs(1)).await;
    let path = format!("/api/v1/incidents/{r}/roles");
    let (mut post_rtt, mut first_resp, mut last_resp, mut first_req, mut last_req) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut missed = Vec::new();
    for n in 0..cfg.warmup_changes + cfg.changes {
        tokio::time::sleep(cfg.gap).await;
        let body = json!({"role": "tech_lead", "user": "carol", "scope": format!("db-{n}")});
        let sent = Instant::now();
        b.api(token, &path, Some(&body), StatusCode::CREATED).await;
        let answered = Instant::now();
        f.wait_for(n, watching, viewers, tokio::time::Instant::now() + FAN_OUT_TIMEOUT).await;
        let got: Vec<Instant> = f.arrivals.get(&n).map(|a| a.iter().flatten().copied().collect()).unwrap_or_default();
        if got.len() < watching {
            missed.push(format!("db-{n}: {} of {watching} viewers within {FAN_OUT_TIMEOUT:?}", got.len()));
        }
        if n < cfg.warmup_changes || got.is_empty() {
            continue;
        }
        let first = *got.iter().min().expect("some arrivals");
        let last = *got.iter().max().expect("some arrivals");
        let signed = |a: Instant, b: Instant| -> f64 {
            if a >= b { (a - b).as_secs_f64() * 1000.0 } else { -((b - a).as_secs_f64() * 1000.0) }
        };
        post_rtt.push(signed(answered, sent));
        first_resp.push(signed(first, answered));
        last_resp.push(signed(last, answered));
        first_req.push(signed(first, sent));
        last_req.push(signed(last, sent));
    }
    let label = if cfg.incidents > 1 {
        format!("x{watching} of {viewers} on {}", cfg.incidents)
    } else {
        format!("x{viewers}")
    };
    rows.push(Row {
        backend,
        what: "POST role (the change), round trip".into(),
        stats: Stats::of_ms(&post_rtt),
        note: format!("{} changes, {} ms apart", post_rtt.len(), cfg.gap.as_millis()),
    });
    for (what, samples) in [
        ("response → first viewer", &first_resp),
        ("response → last viewer", &last_resp),
        ("request → first viewer", &first_req),
        ("request → last viewer", &last_req),
    ] {
        rows.push(Row {
            backend,
            what: format!("SSE {label}: {what}"),
            stats: Stats::of_ms(samples),
            note: String::new(),
        });
    }

    // Every viewer must have had every event since it connected, once each, in order.
    let number: u64 = r.trim_start_matches("INC-").parse().expect("a ref");
    let last = b.app.store.incident_version(number).await.expect("the version reads").expect("the incident exists");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while f
        .seqs
        .iter()
        .zip(&f.watches_first)
        .any(|(s, first)| *first && s.last().copied().unwrap_or(f.start_version) < last)
        && tokio::time::Instant::now() < deadline
    {
        f.drain(viewers, Duration::from_millis(200)).await;
    }
    // The other incidents' viewers: anything they got would have come by now.
    f.drain(viewers, Duration::from_millis(200)).await;
    let want: Vec<u64> = (f.start_version + 1..=last).collect();
    let wrong: Vec<String> = f
        .seqs
        .iter()
        .zip(&f.watches_first)
        .enumerate()
        .filter(|(_, (s, first))| if **first { **s != want } else { !s.is_empty() })
        .map(|(i, (s, _))| format!("viewer {i}: {} events, first {:?}, last {:?}", s.len(), s.first(), s.last()))
        .collect();
    println!(
        "  {backend}: {} events ({}..={last}) per viewer of {r}; {} of {viewers} viewers got all of them once, in order, \
         and nothing of the other incidents",
        want.len(),
        f.start_version + 1,
        viewers - wrong.len()
    );
    for w in wrong.iter().take(10) {
        println!("  WRONG {w}");
    }
    for m in &missed {
        println!("  MISSED {m}");
    }
    for e in f.ended.iter().take(10) {
        println!("  ENDED {e}");
    }
    let verdict = if wrong.is_empty() && missed.is_empty() && f.ended.is_empty() && cfg.incidents > 1 {
        format!("all {watching} got all {} events, the other {} nothing", want.len(), viewers - watching)
    } else if wrong.is_empty() && missed.is_empty() && f.ended.is_empty() {
        format!("all {viewers} viewers got all {} events", want.len())
    } else {
        format!("{} viewers wrong, {} changes missed, {} streams ended", wrong.len(), missed.len(), f.ended.len())
    };
    if let Some(row) = rows.iter_mut().rev().find(|row| row.backend == backend && row.what.contains("request → last"))
    {
        row.note = verdict;
    }
}

async fn run(b: &Bench, cfg: &Config, backend: &'static str, rows: &mut Vec<Row>) {
    println!("{backend}: declaring INC-1 and writing {} timeline entries …", cfg.entries);
    let (r, token, filled) = big_incident(b, cfg).await;
    assert_eq!(r, "INC-1", "the benchmark's incident is the first one");
    println!("  filled in {:.1} s", filled.as_secs_f64());
    let number = 1;
    let alice = b.sign_in(&b.http, "alice").await;
    let path = format!("/incidents/{r}");

    println!("{backend}: the incident page …");
    let (stats, bytes) = page_http(b, cfg, &alice, &path).await;
    let note = format!("{:.0} KiB of HTML", bytes as f64 / 1024.0);
    rows.push(Row { backend, what: format!("GET {path}, HTTP loopback"), stats, note });
    let (app, c, cookie, p) = (b.app.clone(), cfg.clone(), alice.clone(), path.clone());
    let stats = on_worker(async move { page_router(app, &c, &cookie, &p).await }).await;
    rows.push(Row { backend, what: format!("GET {path}, router in-process"), stats, note: String::new() });
    let (app, c, cookie) = (b.app.clone(), cfg.clone(), alice.clone());
    let stats = on_worker(async move { page_reads(&app, &c, &cookie, number).await }).await;
    rows.push(Row { backend, what: "  its store reads, in-process".into(), stats, note: "7 reads".into() });

    for n in 2..=cfg.incidents {
        let body = json!({"title": format!("Another incident, number {n}"), "priority": "P3"});
        b.api(&token, "/api/v1/incidents", Some(&body), StatusCode::CREATED).await;
    }
    println!("{backend}: {} live viewers over {} incidents …", cfg.viewers, cfg.incidents);
    let mut fanout = Fanout::connect(b, cfg, &r).await;
    fanout.drain(cfg.viewers, Duration::from_secs(1)).await;
    let (stats, _) = page_http(b, cfg, &alice, &path).await;
    rows.push(Row {
        backend,
        what: format!("GET {path}, HTTP, {} viewers idle", cfg.viewers),
        stats,
        note: String::new(),
    });
    println!("{backend}: {} role changes …", cfg.warmup_changes + cfg.changes);
    fan_out(b, cfg, &mut fanout, &r, &token, backend, rows).await;
    fanout.close().await;
    let (app, c) = (b.app.clone(), cfg.clone());
    let stats = on_worker(async move { stream_reads(&app, &c, number).await }).await;
    rows.push(Row {
        backend,
        what: "  a change's entry reads, in-process".into(),
        stats,
        note: "3 reads, once per incident and change (and the pages panel's)".into(),
    });
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<9} {:<44} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8}  note",
        "backend", "measure", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"
    );
    println!("{}", "-".repeat(124));
    for row in rows {
        println!(
            "{:<9} {:<44} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}",
            row.backend,
            row.what,
            row.stats.count,
            row.stats.p50,
            row.stats.p90,
            row.stats.p99,
            row.stats.max,
            row.stats.mean,
            row.note
        );
    }
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and
    // only wants the target to build and run cheaply.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("muster-server web bench: run it with `cargo bench -p muster-server --bench web`");
        return;
    }
    let cfg = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    println!(
        "muster-server web bench: {} timeline entries, {} page reads after {} warm-up, {} viewers over {} \
         incidents, {} changes after {} warm-up, {} ms apart; {} CPUs",
        cfg.entries,
        cfg.reads,
        cfg.warmup,
        cfg.viewers,
        cfg.incidents,
        cfg.changes,
        cfg.warmup_changes,
        cfg.gap.as_millis(),
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
            run(&bench, &cfg, name, &mut rows).await;
            println!("{name}: done in {:.1} s", t.elapsed().as_secs_f64());
            bench.stop().await;
        }
        rows
    });
    print_table(&rows);
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
