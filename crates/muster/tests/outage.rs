//! A database outage, answered at once: a real `muster serve` whose
//! database goes away while alerts keep coming.
//!
//! PostgreSQL through a TCP proxy the test controls (the shared server is
//! never stopped): connections hang (a blackhole, also for the ones already
//! open), are accepted and dropped, refused. SQLite on a small tmpfs that a
//! ballast file fills. Meanwhile every ingest answer is a fast 503 with
//! `Retry-After`, `/healthz` is 503, the web shows a page saying what is
//! wrong; afterwards, without restarting anything, every event answered 2xx
//! (before, after, or retried) is stored once and paged.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN, BIN, all};
use muster_store::testing::{Backend, TestDatabase};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The generous bound on one answer during an outage (the store answers
/// in milliseconds once it knows; finding a blackhole takes a second or
/// two: a pooled connection's ping, then the heartbeat's).
const FAST: Duration = Duration::from_secs(3);

// The proxy.

/// What the proxy does with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Accept, and never forward a byte, nor close.
    Hang,
    /// Accept, and close at once.
    Drop,
    /// Do not listen: connections are refused.
    Refuse,
}

/// What the proxy does with an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    Forward,
    Hang,
    Cut,
}

/// A TCP proxy between Muster and PostgreSQL.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    conns: Arc<Mutex<Vec<watch::Sender<Conn>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = watch::channel(Mode::Forward).0;
        let conns: Arc<Mutex<Vec<watch::Sender<Conn>>>> = Arc::default();
        let (mut modes, current, registry) = (mode.subscribe(), mode.subscribe(), conns.clone());
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                let l = match listener.take() {
                    Some(l) => l,
                    None => {
                        let _ = modes.wait_for(|m| *m != Mode::Refuse).await;
                        // The same port again (Tokio sets SO_REUSEADDR).
                        match TcpListener::bind(("127.0.0.1", port)).await {
                            Ok(l) => l,
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                };
                loop {
                    tokio::select! {
                        accepted = l.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            let mode = *current.borrow();
                            match mode {
                                Mode::Drop | Mode::Refuse => drop(client),
                                Mode::Hang | Mode::Forward => {
                                    let state = watch::channel(if mode == Mode::Hang { Conn::Hang } else { Conn::Forward }).0;
                                    let rx = state.subscribe();
                                    registry.lock().unwrap().push(state);
                                    tokio::spawn(pump(client, upstream, rx));
                                }
                            }
                        }
                        _ = modes.wait_for(|m| *m == Mode::Refuse) => break,
                    }
                }
                drop(l);
            }
        });
        Proxy { port, mode, conns }
    }

    /// Packets vanish: open connections and new ones hang.
    fn blackhole(&self) {
        self.mode.send_replace(Mode::Hang);
        for c in self.conns.lock().unwrap().iter() {
            c.send_if_modified(|s| {
                let was = *s;
                if *s == Conn::Forward {
                    *s = Conn::Hang;
                }
                was != *s
            });
        }
    }

    /// New connections are accepted and closed at once.
    fn drop_new(&self) {
        self.mode.send_replace(Mode::Drop);
    }

    /// The server is gone: open connections are cut, new ones refused.
    fn stop(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.send_replace(Conn::Cut);
        }
        self.mode.send_replace(Mode::Refuse);
    }

    /// New connections are forwarded again; connections that hung stay
    /// hung, as after a network that lost them for good.
    fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

/// Forwards bytes both ways while the connection's state says so; holds
/// them (and the sockets) while it hangs; closes both sides when cut.
async fn pump(client: TcpStream, upstream: SocketAddr, mut state: watch::Receiver<Conn>) {
    if state.wait_for(|s| *s != Conn::Hang).await.map(|s| *s == Conn::Cut).unwrap_or(true) {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        () = copy(cr, sw, state.clone()) => {}
        () = copy(sr, cw, state.clone()) => {}
        _ = state.wait_for(|s| *s == Conn::Cut) => {}
    }
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<Conn>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read while hanging are held, never sent.
        if state.wait_for(|s| *s == Conn::Forward).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

// The server.

/// `muster serve` with its log in a file.
struct Served {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Served {
    fn start(database: &str, log: &Path) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            // The receiver is on 127.0.0.1, which webhooks may reach only when allowed.
            .args(["--webhook-allow", "127.0.0.1/32,::1"])
            // A job claimed just before the database vanished (the claim
            // committed, its answer lost) is taken over once its lease ends.
            .args(["--job-lease-seconds", "5"])
            .env("MUSTER_LOG", "warn")
            .env("MUSTER_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("muster serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no listening line, got {line:?}"))
            .to_owned();
        Served { child, url, log: log.to_owned() }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "muster serve did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts the notifications Muster sends.
async fn receiver() -> (Arc<AtomicU64>, String) {
    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                ""
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

async fn post(http: &reqwest::Client, url: &str, path: &str, body: Value) -> Value {
    let r = http.post(format!("{url}{path}")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.unwrap()
}

/// Dan, on a webhook, paged at once by the service's policy (which then
/// waits an hour: pages stay `notified`), and signed in on the web.
/// Returns the integration key and Dan's session cookie.
async fn setup(http: &reqwest::Client, url: &str, hook: &str) -> (String, String) {
    let password = "dan-has-a-long-password";
    post(
        http,
        url,
        "/api/v1/users",
        json!({"handle": "dan", "name": "Dan", "email": "dan@example.com", "email_contact_method": false, "password": password}),
    )
    .await;
    post(http, url, "/api/v1/users/dan/contact-methods", json!({"kind": "webhook", "address": hook})).await;
    let policy = post(
        http,
        url,
        "/api/v1/escalation-policies",
        json!({"name": "Dan", "repeat": 0, "steps": [{"delay_seconds": 3600, "targets": [{"user": "dan"}]}]}),
    )
    .await;
    let service =
        post(http, url, "/api/v1/services", json!({"name": "checkout", "escalation_policy": policy["id"]})).await;
    let key = service["integration_key"].as_str().unwrap().to_owned();
    (key, sign_in(url, "dan", password).await)
}

/// Signs in through the web form, as a browser does; the session cookie.
async fn sign_in(url: &str, handle: &str, password: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{url}/login")).send().await.unwrap();
    let login = cookie(&form, "muster_login").expect("the form sets its CSRF cookie");
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    let csrf: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let body = format!("csrf={}&handle={}&password={}&next=%2F", encode(&csrf), encode(handle), encode(password));
    let answer = http
        .post(format!("{url}/login"))
        .header("cookie", format!("muster_login={login}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    cookie(&answer, "muster_session").unwrap_or_else(|| panic!("no session: {}", answer.status()))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (kv, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = kv.split_once('=')?;
        (k == name && !val.is_empty()).then(|| val.to_owned())
    })
}

// Sending alerts.

/// How an event was sent: PagerDuty Events v2, or an Alertmanager webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Via {
    PagerDuty,
    Alertmanager,
}

/// One answer to one event.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    took: Duration,
    body: String,
}

async fn send(http: &reqwest::Client, url: &str, key: &str, via: Via, dedup: &str) -> Answer {
    let started = Instant::now();
    let request = match via {
        Via::PagerDuty => http.post(format!("{url}/v2/enqueue")).json(&json!({
            "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": format!("{dedup} failing"), "source": "outage-test", "severity": "error"}})),
        Via::Alertmanager => http.post(format!("{url}/api/v1/integrations/alertmanager/{key}")).json(&json!({
            "version": "4", "status": "firing",
            "alerts": [{"status": "firing", "fingerprint": dedup,
                        "labels": {"alertname": "Failing", "instance": dedup, "severity": "error"},
                        "annotations": {"summary": format!("{dedup} failing")}}]})),
    };
    let r = request.send().await.unwrap_or_else(|e| panic!("{via:?} {dedup}: no answer: {e}"));
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = r.text().await.unwrap_or_default();
    Answer { status, retry_after, took: started.elapsed(), body }
}

/// Every event sent, and what became of it.
#[derive(Default)]
struct Ledger {
    accepted: HashSet<String>,
    /// Answered 503: sent again after the outage, as monitoring does.
    refused: Vec<(Via, String)>,
    slowest_refusal: Duration,
    n: usize,
}

impl Ledger {
    fn next(&mut self, via: Via) -> String {
        self.n += 1;
        format!("{}-{}", if via == Via::PagerDuty { "pd" } else { "am" }, self.n)
    }

    /// Sends `n` events of each kind while the database works: all accepted.
    async fn healthy(&mut self, http: &reqwest::Client, url: &str, key: &str, n: usize) {
        for _ in 0..n {
            for via in [Via::PagerDuty, Via::Alertmanager] {
                let dedup = self.next(via);
                let a = send(http, url, key, via, &dedup).await;
                assert!((200..300).contains(&a.status), "{via:?} {dedup} while healthy: {} {}", a.status, a.body);
                self.accepted.insert(dedup);
            }
        }
    }

    /// Sends events for `period` while the database cannot be used: each is
    /// refused, fast, with `Retry-After` and a body saying why.
    async fn outage(&mut self, http: &reqwest::Client, url: &str, key: &str, period: Duration, phase: &str) {
        let until = Instant::now() + period;
        let mut sent = 0;
        let mut took: Vec<Duration> = Vec::new();
        while Instant::now() < until || sent < 4 {
            for via in [Via::PagerDuty, Via::Alertmanager] {
                let dedup = self.next(via);
                let a = send(http, url, key, via, &dedup).await;
                assert_eq!(a.status, 503, "{phase}: {via:?} {dedup}: {}", a.body);
                assert!(a.took < FAST, "{phase}: {via:?} {dedup} took {:?}", a.took);
                let wait: u64 = a.retry_after.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                assert!(wait >= 1, "{phase}: {via:?} {dedup}: Retry-After {:?}", a.retry_after);
                assert!(
                    a.body.contains("database cannot be reached")
                        || a.body.contains("disk holding the database is full"),
                    "{phase}: {via:?} {dedup}: {}",
                    a.body
                );
                self.slowest_refusal = self.slowest_refusal.max(a.took);
                took.push(a.took);
                self.refused.push((via, dedup));
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        took.sort();
        let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
        eprintln!("{phase}: {} answers 503, p50 {:?}, p99 {:?}, slowest {:?}", took.len(), at(0.5), at(0.99), at(1.0));
    }

    /// Sends every refused event again until it is accepted, as a
    /// monitoring system's retries would.
    async fn retry_refused(&mut self, http: &reqwest::Client, url: &str, key: &str) {
        for (via, dedup) in std::mem::take(&mut self.refused) {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let a = send(http, url, key, via, &dedup).await;
                if (200..300).contains(&a.status) {
                    break;
                }
                assert!(Instant::now() < deadline, "{via:?} {dedup} still refused: {} {}", a.status, a.body);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            self.accepted.insert(dedup);
        }
    }
}

/// `/healthz` during an outage: 503 at once, saying why.
async fn unhealthy(http: &reqwest::Client, url: &str, says: &str) {
    let started = Instant::now();
    let r = http.get(format!("{url}/healthz")).send().await.unwrap();
    let took = started.elapsed();
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(r.headers().contains_key("retry-after"), "/healthz during an outage has Retry-After");
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 503, "/healthz during an outage: {body}");
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
    assert!(took < FAST, "/healthz took {took:?}");
}

/// Waits (at most 15 s) until `/healthz` answers 200.
async fn wait_healthy(http: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status() == 200
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "/healthz never answered 200 after the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The web during an outage: an HTML page saying what is wrong, at once.
async fn web_says(http: &reqwest::Client, url: &str, session: &str, title: &str) {
    let started = Instant::now();
    let r = http.get(format!("{url}/")).header("cookie", format!("muster_session={session}")).send().await.unwrap();
    assert!(started.elapsed() < FAST, "the dashboard took {:?}", started.elapsed());
    assert_eq!(r.status(), 503);
    let kind = r.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "the web answers HTML, not {kind}");
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(html.contains("tries again every"), "{html}");
}

/// Every accepted event is one alert, and (within 30 s) each alert has one
/// page, notified: the engine resumed by itself.
async fn stored_once_and_paged(http: &reqwest::Client, url: &str, accepted: &HashSet<String>) {
    let alerts = all(http, url, "alerts").await;
    let mut by_key: HashMap<String, u64> = HashMap::new();
    for a in &alerts {
        let key = a["dedup_key"].as_str().unwrap().to_owned();
        assert!(by_key.insert(key.clone(), a["id"].as_u64().unwrap()).is_none(), "alert {key} exists twice");
    }
    for key in accepted {
        assert!(by_key.contains_key(key), "{key} was answered 2xx and is not stored");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pages = all(http, url, "pages").await;
        let mut per_alert: HashMap<u64, usize> = HashMap::new();
        for p in &pages {
            *per_alert.entry(p["alert"].as_u64().unwrap_or(0)).or_default() += 1;
        }
        let notified = pages.iter().filter(|p| p["state"] == "notified").count();
        let paged = accepted.iter().filter(|k| per_alert.get(&by_key[*k]) == Some(&1)).count();
        if paged == accepted.len() && notified == pages.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "30 s after the outage: {paged} of {} alerts have one page; {notified} of {} pages notified",
            accepted.len(),
            pages.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The lines of `log` that say `what`.
fn lines(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

// PostgreSQL.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_outage_is_answered_503_at_once_and_every_event_answered_2xx_is_stored_once_and_paged() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else { return };
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    let upstream: SocketAddr = {
        let host = url.host_str().unwrap().to_owned();
        tokio::net::lookup_host((host.as_str(), url.port().unwrap_or(5432))).await.unwrap().next().unwrap()
    };
    let proxy = Proxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let log = std::env::temp_dir().join(format!("muster-outage-{}.log", std::process::id()));
    let served = tokio::task::block_in_place(|| Served::start(url.as_str(), &log));
    let base = served.url.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let (notifications, hook) = receiver().await;
    let (key, session) = setup(&http, &base, &hook).await;
    let mut ledger = Ledger::default();
    ledger.healthy(&http, &base, &key, 10).await;

    // Packets vanish, on the open connections too; then connections are
    // accepted and dropped; then refused.
    proxy.blackhole();
    ledger.outage(&http, &base, &key, Duration::from_secs(3), "blackhole").await;
    unhealthy(&http, &base, "").await;
    web_says(&http, &base, &session, "The database cannot be reached").await;
    proxy.drop_new();
    ledger.outage(&http, &base, &key, Duration::from_secs(2), "accepted and dropped").await;
    proxy.stop();
    ledger.outage(&http, &base, &key, Duration::from_secs(2), "refused").await;
    unhealthy(&http, &base, "the database cannot be reached").await;
    web_says(&http, &base, &session, "The database cannot be reached").await;

    proxy.restore();
    let back = wait_healthy(&http, &base).await;
    ledger.healthy(&http, &base, &key, 10).await;

    // The nastiest: a blackhole whose hung connections never come back,
    // even after new ones work again. Muster must not wait on them.
    proxy.blackhole();
    ledger.outage(&http, &base, &key, Duration::from_secs(2), "second blackhole").await;
    proxy.restore();
    let back_again = wait_healthy(&http, &base).await;
    ledger.healthy(&http, &base, &key, 10).await;

    ledger.retry_refused(&http, &base, &key).await;
    stored_once_and_paged(&http, &base, &ledger.accepted).await;
    assert!(notifications.load(Ordering::Relaxed) > 0, "the receiver was notified");

    let log = served.log();
    // Each outage is logged when it begins and when it ends, not per request.
    let began = lines(&log, "requests that need it answer 503 at once");
    let ended = lines(&log, "the database works again");
    assert!((2..=4).contains(&began), "{began} outage lines:\n{log}");
    assert!((2..=4).contains(&ended), "{ended} recovery lines:\n{log}");
    // At most: each outage's line, the engine's first failed read, and a few
    // failures that are not the outage's (deliveries in flight when it
    // began, up to 64, are not recorded, but are no errors of their own).
    let errors = lines(&log, "ERROR");
    assert!(errors <= 2 * 4, "{errors} error lines for two outages:\n{log}");
    eprintln!(
        "slowest 503: {:?}; healthy again {back:?} and {back_again:?} after restoring; {} events accepted; log:\n{log}",
        ledger.slowest_refusal,
        ledger.accepted.len()
    );
    let _ = std::fs::remove_file(&served.log);
}

// SQLite.

/// A tmpfs of `size`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (and why, loudly) where mounting is impossible, unless
    /// `CI=true`: there it fails.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("muster-full-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir)),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                let _ = std::fs::remove_dir(&dir);
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true and a tmpfs cannot be mounted (the test needs root): {why}"
                );
                eprintln!("SKIPPED: the full-disk test needs a tmpfs it mounts (as root): {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Writes `path` until the disk is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    // The last bytes that fit.
    for _ in 0..64 * 1024 {
        if f.write_all(&[0]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_full_disk_is_answered_503_logged_clearly_and_recovers_when_space_returns() {
    let Some(disk) = Tmpfs::mount("16m") else { return };
    let file = disk.0.join("muster.db");
    let database = format!("sqlite://{}", file.display());
    let log = std::env::temp_dir().join(format!("muster-full-disk-{}.log", std::process::id()));
    let mut served = tokio::task::block_in_place(|| Served::start(&database, &log));
    let base = served.url.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let (_, hook) = receiver().await;
    let (key, session) = setup(&http, &base, &hook).await;
    let mut ledger = Ledger::default();
    ledger.healthy(&http, &base, &key, 10).await;

    let ballast = disk.0.join("ballast");
    fill(&ballast);
    // What SQLite had already allotted may take a few more writes: every
    // answer is 2xx (stored) or 503 (not), and 503s come.
    let mut refused = 0;
    for _ in 0..2000 {
        let via = if ledger.n % 2 == 0 { Via::PagerDuty } else { Via::Alertmanager };
        let dedup = ledger.next(via);
        let a = send(&http, &base, &key, via, &dedup).await;
        match a.status {
            200..300 => {
                ledger.accepted.insert(dedup);
            }
            503 => {
                assert!(a.retry_after.is_some(), "{via:?} {dedup}: 503 without Retry-After");
                assert!(a.body.contains("disk holding the database is full"), "{}", a.body);
                assert!(a.took < FAST, "{via:?} {dedup} took {:?}", a.took);
                ledger.refused.push((via, dedup));
                refused += 1;
                if refused == 20 {
                    break;
                }
            }
            other => panic!("{via:?} {dedup} on a full disk: {other} {}", a.body),
        }
    }
    assert_eq!(refused, 20, "a full disk never refused an alert");
    unhealthy(&http, &base, "disk holding the database is full").await;
    // What is stored can still be read.
    let dashboard =
        http.get(format!("{base}/")).header("cookie", format!("muster_session={session}")).send().await.unwrap();
    assert_eq!(dashboard.status(), 200, "the dashboard reads, and reads work on a full disk");
    let during = served.log();
    assert!(
        during
            .lines()
            .any(|l| l.contains("the disk holding the database is full") && l.contains(&file.display().to_string())),
        "no log line names the full disk and the database:\n{during}"
    );
    // Once by the store's health (others' lines, such as the engine's first
    // failed write, may quote the same error).
    assert_eq!(lines(&during, "until space is freed"), 1, "the full disk is logged once:\n{during}");

    // Space returns: Muster accepts again by itself.
    std::fs::remove_file(&ballast).unwrap();
    ledger.retry_refused(&http, &base, &key).await;
    ledger.healthy(&http, &base, &key, 5).await;
    wait_healthy(&http, &base).await;
    stored_once_and_paged(&http, &base, &ledger.accepted).await;
    assert!(lines(&served.log(), "the database works again") >= 1, "{}", served.log());

    // Stopped, the file is whole and holds every accepted alert once.
    tokio::task::block_in_place(|| served.stop());
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&database).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut c).await.unwrap();
    assert_eq!(check, "ok");
    let keys: Vec<(String, i64)> =
        sqlx::query_as("SELECT dedup_key, count(*) FROM alerts GROUP BY dedup_key").fetch_all(&mut c).await.unwrap();
    let keys: HashMap<String, i64> = keys.into_iter().collect();
    for k in &ledger.accepted {
        assert_eq!(keys.get(k), Some(&1), "{k} in the file");
    }
    drop(c);
    drop(served);
    let _ = std::fs::remove_file(&log);
}
