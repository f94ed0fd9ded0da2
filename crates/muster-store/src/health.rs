//! Whether the database is usable, and the pools every store call goes
//! through, which consult it.
//!
//! An outage must be answered at once, not by every request waiting for
//! its own timeout: ingest answers 503 so that monitoring retries, and
//! `/healthz` says so. So the store keeps one [`Health`]:
//!
//! - On PostgreSQL it is *probed*: a heartbeat (`postgres.rs`) pings the
//!   server on a connection of its own every second, and at once when a
//!   call saw a connection fail. While the probe fails, every call that
//!   needs a connection fails at once with [`StoreError::Unavailable`], and
//!   calls waiting for one are released; a probe that succeeds ends the
//!   outage. A heartbeat ping unanswered within a second is an outage (the
//!   "blackhole" case: packets vanish, nothing is refused); a pooled
//!   connection that fails or hangs only asks for a probe, so one stale
//!   connection, or a slow ping on a busy machine, does not stop the
//!   server.
//! - On SQLite nothing is probed: every call tries (its failures are
//!   immediate, a full disk among them), an outage is recorded for the log
//!   and `/healthz`, and the next transaction that commits ends it.
//!
//! The transitions are logged, once each: a line naming the database and
//! why it cannot be used when the outage begins, one when it ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sqlx::Pool;
use sqlx::pool::PoolConnection;
use tokio::sync::{Notify, watch};

use crate::dialect::Dialect;
use crate::{Outage, OutageKind, Result, StoreError};

/// For how long after an outage pooled connections are still suspected of
/// hanging (they may have been opened before it), and tested with a
/// bounded ping when they are returned.
const SUSPICION: Duration = Duration::from_secs(60);

pub struct Health {
    /// The database as logs name it: the SQLite file, or PostgreSQL's host
    /// and database.
    name: String,
    /// Whether an outage is ended by a probe (PostgreSQL) rather than by
    /// the next success (SQLite), and so makes calls fail at once meanwhile.
    probed: bool,
    state: Mutex<State>,
    /// `true` while the database is usable; waited on by calls in flight.
    up: watch::Sender<bool>,
    /// Asks the probe to look now.
    probe: Notify,
}

#[derive(Default)]
struct State {
    down: Option<Down>,
    /// When the last outage ended.
    ended: Option<Instant>,
}

/// An outage under way.
#[derive(Debug, Clone)]
pub struct Down {
    /// The first error that showed it.
    pub outage: Outage,
    pub since: SystemTime,
    started: Instant,
}

impl Health {
    pub(crate) fn new(name: impl Into<String>, probed: bool) -> Arc<Health> {
        Arc::new(Health {
            name: name.into(),
            probed,
            state: Mutex::default(),
            up: watch::channel(true).0,
            probe: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a probe ends outages (PostgreSQL), rather than the next
    /// commit (SQLite).
    pub(crate) fn probed(&self) -> bool {
        self.probed
    }

    /// The outage under way, if any.
    pub fn down(&self) -> Option<Down> {
        self.state().down.clone()
    }

    /// Fails at once while an outage blocks calls (PostgreSQL, until a probe
    /// succeeds).
    pub fn check(&self) -> Result<()> {
        match (&self.state().down, self.probed) {
            (Some(d), true) => Err(StoreError::Unavailable(d.outage.clone())),
            _ => Ok(()),
        }
    }

    /// The error a call that gives up because of the outage returns.
    fn outage_error(&self) -> StoreError {
        let outage = self.state().down.as_ref().map(|d| d.outage.clone());
        StoreError::Unavailable(
            outage.unwrap_or_else(|| Outage::new(OutageKind::Unreachable, "the database stopped answering")),
        )
    }

    /// `true` while the database is usable, changing as outages begin and end.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    /// Resolves when an outage that blocks calls begins (at once if one is
    /// under way), for calls in flight to give up.
    pub async fn blocked(&self) {
        if !self.probed {
            return std::future::pending().await;
        }
        let mut up = self.up.subscribe();
        if up.wait_for(|up| !*up).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Takes note of an error a call returned: an outage begins (SQLite, or
    /// a timeout), or the probe is asked to look at once (a connection
    /// failed: the server may be gone, or only that connection).
    pub fn report(&self, e: &StoreError) {
        if let StoreError::Unavailable(outage) = e {
            if !self.probed || outage.kind == OutageKind::TimedOut {
                self.fail(outage.clone());
            }
            self.probe.notify_one();
        }
    }

    /// An outage begins, unless one is under way.
    pub(crate) fn fail(&self, outage: Outage) {
        let mut state = self.state();
        if state.down.is_some() {
            return;
        }
        let consequence = match (outage.kind, self.probed) {
            (OutageKind::DiskFull, _) => "writes fail, and ingest answers 503, until space is freed",
            (_, true) => "requests that need it answer 503 at once until it answers again",
            (_, false) => "requests that need it answer 503 until it works again",
        };
        tracing::error!(database = %self.name, "{outage}; {consequence}");
        state.down = Some(Down { outage, since: SystemTime::now(), started: Instant::now() });
        drop(state);
        self.up.send_replace(false);
    }

    /// The outage under way, if any, ends.
    pub(crate) fn recover(&self) {
        let mut state = self.state();
        let Some(down) = state.down.take() else { return };
        state.ended = Some(Instant::now());
        drop(state);
        let after = down.started.elapsed().as_secs_f64();
        tracing::warn!(database = %self.name, "the database works again, after {after:.1} s ({})", down.outage);
        self.up.send_replace(true);
    }

    /// A transaction committed: on SQLite that ends an outage (on
    /// PostgreSQL only the probe does, so that calls finishing late do not
    /// reopen the gate while the server is gone).
    pub(crate) fn committed(&self) {
        if !self.probed && self.state().down.is_some() {
            self.recover();
        }
    }

    /// Whether pooled connections may hang: during an outage and for a
    /// while after it.
    pub(crate) fn suspicious(&self) -> bool {
        let state = self.state();
        state.down.is_some() || state.ended.is_some_and(|t| t.elapsed() < SUSPICION)
    }

    /// Resolves when a call asked the probe to look.
    pub(crate) async fn probe_wanted(&self) {
        self.probe.notified().await;
    }
}

/// A pool whose `acquire` and `begin` consult the store's [`Health`] (fail
/// at once during an outage, give up when one begins while they wait) and
/// whose transactions commit within the store's time limit. The store's
/// methods use it exactly as they would use sqlx's pool.
pub(crate) struct Guarded<D: sqlx::Database> {
    pool: Pool<D>,
    health: Arc<Health>,
    /// The longest a `BEGIN` (with its connection) or a `COMMIT` may take;
    /// none on SQLite, which has no network to lose.
    limit: Option<Duration>,
}

impl<D: Dialect> Guarded<D> {
    pub(crate) fn new(pool: Pool<D>, health: Arc<Health>, limit: Option<Duration>) -> Self {
        Guarded { pool, health, limit }
    }

    /// The pool itself, for what manages its own connections (migrations,
    /// `LISTEN`).
    pub(crate) fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    pub(crate) async fn acquire(&self) -> Result<PoolConnection<D>> {
        let work = async { self.pool.acquire().await.map_err(StoreError::from) };
        self.guard(work).await
    }

    pub(crate) async fn begin(&self) -> Result<Tx<D>> {
        let work = async {
            let tx = within(&self.health, self.limit, "BEGIN", self.pool.begin()).await?;
            Ok(Tx { tx, health: self.health.clone(), limit: self.limit })
        };
        self.guard(work).await
    }

    async fn guard<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.health.check()?;
        let result = tokio::select! {
            biased;
            r = work => r,
            () = self.health.blocked() => Err(self.health.outage_error()),
        };
        if let Err(e) = &result {
            self.health.report(e);
        }
        result
    }
}

/// A transaction from [`Guarded::begin`]: the connection it runs on, and a
/// `commit` within the store's time limit. Dropped without committing, it
/// rolls back, as sqlx's does.
pub(crate) struct Tx<D: sqlx::Database> {
    tx: sqlx::Transaction<'static, D>,
    health: Arc<Health>,
    limit: Option<Duration>,
}

impl<D: Dialect> Tx<D> {
    pub(crate) async fn commit(self) -> Result<()> {
        let Tx { tx, health, limit } = self;
        within(&health, limit, "COMMIT", tx.commit()).await?;
        health.committed();
        Ok(())
    }
}

impl<D: sqlx::Database> std::ops::Deref for Tx<D> {
    type Target = D::Connection;
    fn deref(&self) -> &D::Connection {
        &self.tx
    }
}

impl<D: sqlx::Database> std::ops::DerefMut for Tx<D> {
    fn deref_mut(&mut self) -> &mut D::Connection {
        &mut self.tx
    }
}

/// `work`, failing as timed out past `limit` (if any); its errors are
/// reported to `health`. A timeout is reported before `work` (holding the
/// connection) is dropped, so that the connection, returned to the pool,
/// is already suspected of hanging and tested with a bounded ping.
async fn within<T>(
    health: &Health,
    limit: Option<Duration>,
    what: &str,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T> {
    let result = match limit {
        None => work.await.map_err(StoreError::from),
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => {
                let e = StoreError::Unavailable(Outage::new(
                    OutageKind::TimedOut,
                    format!("no answer to {what} within {} s", limit.as_secs_f64()),
                ));
                health.report(&e);
                return Err(e);
            }
        },
    };
    if let Err(e) = &result {
        health.report(e);
    }
    result
}
