//! A Muster server on a random port over a fresh database, and a small
//! client for it. Used by the black-box API tests.

#![allow(dead_code)]

pub mod external;
pub mod receiver;
pub mod smtp;

use std::sync::{Arc, Mutex};

use muster_app::ingest::RateLimit;
use muster_app::{App, Clock, Config, SystemClock};
use muster_domain::Timestamp;
use muster_store::testing::{Backend, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_TOKEN: &str = "mst_test_admin_token_of_32_characters";

pub struct TestServer {
    pub url: String,
    pub app: Arc<App>,
    setup: Setup,
    db: Option<TestDatabase>,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A response: status, headers and the JSON body (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts this is a problem document with `status`; returns it.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        &self.body
    }
}

/// A clock the test moves by hand.
pub struct ManualClock(Mutex<Timestamp>);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

impl ManualClock {
    pub fn at(t: &str) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(t.parse().unwrap())))
    }

    pub fn advance(&self, seconds: i64) {
        let mut t = self.0.lock().unwrap();
        *t = Timestamp::from_second(t.as_second() + seconds).unwrap();
    }
}

/// How a test server runs: its clock and configuration (`public_url` is
/// filled in with the server's own address).
#[derive(Clone)]
pub struct Setup {
    pub clock: Arc<dyn Clock>,
    pub config: Config,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { clock: Arc::new(SystemClock), config: Config::default() }
    }
}

impl TestServer {
    /// `None` when the backend is PostgreSQL and it is not configured (outside CI).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, Setup::default()).await
    }

    /// A server whose integrations may send only `limit`.
    pub async fn start_with_rate_limit(backend: Backend, limit: RateLimit) -> Option<TestServer> {
        let mut setup = Setup::default();
        setup.config.rate_limit = limit;
        Self::start_with(backend, setup).await
    }

    pub async fn start_with(backend: Backend, setup: Setup) -> Option<TestServer> {
        let db = TestDatabase::new(backend).await?;
        Some(Self::start_on(db, setup).await)
    }

    async fn start_on(db: TestDatabase, setup: Setup) -> TestServer {
        let store = db.open().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = setup.config.clone();
        config.public_url.clone_from(&url);
        let app = Arc::new(App::with_config(store, setup.clock.clone(), config).expect("a valid configuration"));
        app.bootstrap_admin(Some(ADMIN_TOKEN)).await.expect("the admin is set up");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = app.clone();
        let task = tokio::spawn(async move {
            muster_server::serve(listener, serving, async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
        });
        TestServer { url, app, setup, db: Some(db), http: reqwest::Client::new(), stop: Some(stop), task: Some(task) }
    }

    /// Runs the delivery engine until nothing is due at the current time
    /// (for servers with `run_engine: false` and a manual clock).
    pub async fn deliver_due(&self) -> usize {
        let mut total = 0;
        for _ in 0..50 {
            let n = self.app.engine.run_due().await.expect("the engine reads the outbox");
            if n == 0 {
                return total;
            }
            total += n;
        }
        panic!("the engine still had work after 50 rounds");
    }

    /// Stops the server (gracefully) and starts a new one on the same database.
    pub async fn restart(mut self) -> TestServer {
        self.stop.take().map(|s| s.send(()));
        if let Some(t) = self.task.take() {
            t.await.expect("the server stops cleanly");
        }
        let db = self.db.take().expect("a database");
        let setup = self.setup.clone();
        Self::start_on(db, setup).await
    }

    pub async fn request(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.request(Some(token), Method::GET, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request(Some(token), Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request(Some(token), Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request(Some(token), Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Reply {
        self.request(Some(token), Method::DELETE, path, None).await
    }

    /// Creates a user with `permission` and returns their token. They have
    /// no contact method (`"email_contact_method": false`): tests add the
    /// ones they mean.
    pub async fn user(&self, handle: &str, permission: &str) -> String {
        let body = json!({"handle": handle, "name": handle.to_uppercase(), "email": format!("{handle}@example.com"),
                          "permission": permission, "email_contact_method": false});
        self.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
        let reply = self.post(ADMIN_TOKEN, &format!("/api/v1/users/{handle}/tokens"), json!({})).await;
        reply.ok(201)["token"].as_str().unwrap().to_owned()
    }

    pub fn database(&self) -> &TestDatabase {
        self.db.as_ref().expect("a database")
    }

    /// Creates a service and returns its JSON (with `integration_key`).
    pub async fn service(&self, name: &str, body: Value) -> Value {
        let mut body = body;
        body["name"] = json!(name);
        self.post(ADMIN_TOKEN, "/api/v1/services", body).await.ok(201).clone()
    }

    /// Posts raw JSON to an unauthenticated ingest path.
    pub async fn ingest(&self, path: &str, body: &Value) -> Reply {
        self.request(None, Method::POST, path, Some(body.clone())).await
    }

    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Generates `sqlite::name` and `postgres::name` tests that call `name(server)`;
/// with `setup = f;` first, the servers start with the [`Setup`] `f()` returns.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(setup = $crate::common::Setup::default; $($name),*);
    };
    (setup = $setup:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let server = $crate::common::TestServer::start_with(muster_store::testing::Backend::Sqlite, $setup()).await.unwrap();
                super::$name(server).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(server) = $crate::common::TestServer::start_with(muster_store::testing::Backend::Postgres, $setup()).await {
                    super::$name(server).await;
                }
            })*
        }
    };
}

/// Like `on_both_backends!`, for tests that drive the delivery engine
/// themselves: `async fn name(server: TestServer, clock: Arc<ManualClock>)`.
#[macro_export]
macro_rules! on_both_backends_with_manual_clock {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (setup, clock) = $crate::common::manual_setup();
                let server = $crate::common::TestServer::start_with(muster_store::testing::Backend::Sqlite, setup).await.unwrap();
                super::$name(server, clock).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (setup, clock) = $crate::common::manual_setup();
                if let Some(server) = $crate::common::TestServer::start_with(muster_store::testing::Backend::Postgres, setup).await {
                    super::$name(server, clock).await;
                }
            })*
        }
    };
}

/// A manual clock at 2026-11-27T10:00:00Z and a server that leaves the
/// engine to the test (`TestServer::deliver_due`), delivering to the
/// test's receivers on 127.0.0.1 ([`allowing_receivers`]).
pub fn manual_setup() -> (Setup, Arc<ManualClock>) {
    let clock = ManualClock::at("2026-11-27T10:00:00Z");
    let config = allowing_receivers(Config { run_engine: false, ..Config::default() });
    (Setup { clock: clock.clone(), config }, clock)
}

/// `config` with the operator setting that lets webhooks reach the tests'
/// receivers on 127.0.0.1 (`--webhook-allow 127.0.0.1/32`): without it
/// they are refused, as every internal address is.
pub fn allowing_receivers(config: Config) -> Config {
    Config { webhook_allow: muster_domain::egress::WebhookAllow::parse(["127.0.0.1/32"]).unwrap(), ..config }
}

/// A server whose webhooks may reach the test's receivers.
pub fn receivers_setup() -> Setup {
    Setup { config: allowing_receivers(Config::default()), ..Setup::default() }
}

/// Signs in through the web form as a browser does (the form's CSRF cookie
/// and field, then the post); the session cookie's value, or the answer's
/// status when no session was given.
pub async fn web_sign_in(server: &TestServer, handle: &str, password: &str) -> Result<String, u16> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{}/login", server.url)).send().await.unwrap();
    let login = set_cookie_value(&form, "muster_login").expect("the form sets its CSRF cookie");
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    let csrf: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", csrf.as_str()), ("handle", handle), ("password", password), ("next", "/")])
        .finish();
    let answer = http
        .post(format!("{}/login", server.url))
        .header("cookie", format!("muster_login={login}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    match set_cookie_value(&answer, "muster_session") {
        Some(session) => Ok(session),
        None => Err(answer.status().as_u16()),
    }
}

/// The value a response's `Set-Cookie` gives `name`, when not empty.
pub fn set_cookie_value(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (kv, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = kv.split_once('=')?;
        (k == name && !val.is_empty()).then(|| val.to_owned())
    })
}
