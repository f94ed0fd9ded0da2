//! What the in-process benchmarks share: their settings from the
//! environment, and a real server on 127.0.0.1 over a fresh database.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use muster_app::{App, SystemClock};
use muster_store::testing::{Backend, TestDatabase};
use tokio::sync::oneshot;

/// A whole number from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number"))
        }
        _ => default,
    }
}

/// The backends `MUSTER_BENCH_BACKENDS` names (`sqlite`, `postgres`), both by default.
pub fn backends_from_env() -> Vec<Backend> {
    match std::env::var("MUSTER_BENCH_BACKENDS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                other => panic!("MUSTER_BENCH_BACKENDS: {other:?} is neither \"sqlite\" nor \"postgres\""),
            })
            .collect(),
        _ => vec![Backend::Sqlite, Backend::Postgres],
    }
}

/// Latency figures in milliseconds (signed: a viewer may see an event
/// before the change's own response arrives), nearest-rank percentiles.
pub struct Stats {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of_ms(samples: &[f64]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        let pick = |p: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Stats {
            count: sorted.len(),
            p50: pick(50.0),
            p90: pick(90.0),
            p99: pick(99.0),
            max: sorted.last().copied().unwrap_or_default(),
            mean: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
        }
    }

    pub fn of(samples: &[Duration]) -> Stats {
        Stats::of_ms(&samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>())
    }
}

/// Times `call` `reads` times after `warmup` untimed calls (at least one).
pub async fn timed<F, Fut>(warmup: usize, reads: usize, mut call: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..warmup.max(1) {
        call().await;
    }
    let mut samples = Vec::with_capacity(reads);
    for _ in 0..reads {
        let t = std::time::Instant::now();
        call().await;
        samples.push(t.elapsed());
    }
    Stats::of(&samples)
}

/// A running server, its app, and a client for it.
pub struct Server {
    pub app: Arc<App>,
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    // Dropped last: removes the SQLite file.
    _db: TestDatabase,
}

impl Server {
    /// `None` when the backend is PostgreSQL and it is not configured. The
    /// admin signs in with `admin_token`.
    pub async fn start(backend: Backend, admin_token: &str, http: reqwest::Client) -> Option<Server> {
        Server::start_with(backend, admin_token, http, muster_app::Config::default()).await
    }

    /// [`Server::start`] with `config`.
    pub async fn start_with(
        backend: Backend,
        admin_token: &str,
        http: reqwest::Client,
        config: muster_app::Config,
    ) -> Option<Server> {
        let db = TestDatabase::new(backend).await?;
        let store = db.open().await;
        let app = Arc::new(App::with_config(store, Arc::new(SystemClock), config).expect("the configuration is valid"));
        app.bootstrap_admin(Some(admin_token)).await.expect("the admin user and bench token are set up");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port on 127.0.0.1");
        let addr = listener.local_addr().expect("the listener has a local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server_app = app.clone();
        let task = tokio::spawn(async move {
            muster_server::serve(listener, server_app, async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs until told to stop");
        });
        Some(Server { app, base: format!("http://{addr}"), http, stop: Some(stop), task: Some(task), _db: db })
    }

    /// Stops gracefully, waiting at most 30 s for open connections.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(30), task).await.is_err()
        {
            println!("the server did not stop within 30 s; leaving it to the runtime");
        }
    }
}
