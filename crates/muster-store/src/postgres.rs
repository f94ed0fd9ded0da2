//! The PostgreSQL store, for several `muster serve` instances on one database.
//!
//! Commands on one incident are serialized by a row lock
//! (`SELECT … FOR UPDATE`) on its row in `incidents`; incident numbers come
//! from a locked counter row, so they have no gaps. Migrations take
//! PostgreSQL's advisory lock, so instances may start together.
//!
//! # When the server goes away
//!
//! A stopped server refuses connections and ends the open ones; a network
//! that drops packets ("blackhole") answers nothing at all, and a
//! statement sent into it would wait for TCP to give up, a quarter of an
//! hour. So nothing waits without a limit ([`ACQUIRE_LIMIT`],
//! [`PING_LIMIT`], [`STATEMENT_LIMIT`]), a heartbeat on a connection of
//! its own finds an outage within a second or two and ends it as soon as
//! the server answers again (see [`crate::health`]), pooled connections
//! are tested with a bounded ping before use when they sat idle (a
//! connection in use a moment ago needs none: under load a ping before
//! every statement doubled the round trips) and, around an outage, when
//! returned, and every pooled connection idle when an outage begins or
//! ends is closed, so none opened before it is used after it. The server ends a
//! session that leaves a transaction idle for [`IDLE_IN_TRANSACTION_LIMIT`]
//! (`idle_in_transaction_session_timeout`, unless the URL sets it), so a
//! transaction whose client vanished mid-way does not hold its row locks
//! for long: one on a person's notification window would hold up every
//! page to that person.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Arguments as _, Connection as _, PgConnection, PgPool, Postgres};

use crate::dialect::{BoxFuture, Dialect, Record, Value};
use crate::health::{Guarded, Health};
use crate::store::Db;
use crate::{Outage, OutageKind, Result, StoreError};

pub type PgStore = Db<Postgres>;

/// The longest a call waits for a pooled connection (a new one included).
pub const ACQUIRE_LIMIT: Duration = Duration::from_secs(5);
/// The longest a ping may take, before a pooled connection is used (past
/// it the connection is closed and the heartbeat asked to look) and in the
/// heartbeat (past it an outage begins).
pub const PING_LIMIT: Duration = Duration::from_secs(1);
/// The longest one statement, `BEGIN` or `COMMIT` may take. Far above
/// anything Muster runs (a storm's batch commits in a fraction of it), it
/// only ends waits on connections whose packets vanish.
pub const STATEMENT_LIMIT: Duration = Duration::from_secs(10);
/// How often the heartbeat pings while the server answers, and how often it
/// tries while it does not.
const HEARTBEAT: Duration = Duration::from_secs(1);
const RETRY: Duration = Duration::from_millis(250);
/// A pooled connection idle longer than this is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);
/// The longest the server lets a transaction sit idle before it ends the
/// session, releasing its locks. Muster sends a transaction's statements
/// one after the other, so idle this long means its client is gone (a
/// connection lost in a blackhole, which the server cannot tell from a
/// slow one); at 30 s every page to the person whose notification window
/// it held waited that long after the network came back.
const IDLE_IN_TRANSACTION_LIMIT: &str = "5s";
/// The longest the heartbeat waits for a new connection.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`; tests add
    /// `?options=-c search_path=…` to use a schema of their own), and
    /// starts the heartbeat.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if !options.get_options().is_some_and(|o| o.contains("idle_in_transaction_session_timeout")) {
            options = options.options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_LIMIT)]);
        }
        let name =
            format!("postgres {}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""));
        let health = Health::new(name, true);
        let (before, after) = (health.clone(), health.clone());
        // Ten connections. The batches in flight — of ingest (three,
        // `muster_app::ingest::POSTGRES_LANES`), of page moves and of
        // recorded deliveries (two each, `muster_app::batch::POSTGRES_LANES`)
        // — hold one each while they write; the rest serve the engine's
        // claims, the reads of its deliveries and the web. More only queue
        // in PostgreSQL instead of here, on the same cores: with sixteen, a
        // storm of 500 alerts/s was paged 30 times slower (p50 0.97 s
        // against 31 ms; `cargo bench --bench storm`, docs/PERFORMANCE.md).
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_LIMIT)
            // sqlx's own test waits as long as the acquire may: this one is
            // bounded by `PING_LIMIT`.
            .test_before_acquire(false)
            .before_acquire(move |c, meta| {
                let health = before.clone();
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING || health.suspicious() {
                        bounded_ping(c, &health).await?;
                    }
                    Ok(true)
                })
            })
            // sqlx pings every returned connection, without a limit: one
            // whose statement was abandoned in a blackhole would hang there,
            // holding its place in the pool. Around an outage, ping it here
            // first, bounded; a failure closes it.
            .after_release(move |c, _| {
                let health = after.clone();
                Box::pin(async move {
                    if health.suspicious() {
                        bounded_ping(c, &health).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await?;
        let heartbeat = tokio::spawn(heartbeat(health.clone(), options, pool.clone()));
        // One pool: reads and writes go to the same database.
        let read = Guarded::new(pool.clone(), health.clone(), Some(STATEMENT_LIMIT));
        let write = Guarded::new(pool, health.clone(), Some(STATEMENT_LIMIT));
        Ok(Db { read, write, health, _heartbeat: Some(crate::store::Abort(heartbeat.abort_handle())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres").run(self.write.pool()).await?;
        Ok(())
    }
}

/// Pings `c` within [`PING_LIMIT`]. A connection that fails or does not
/// answer in time is closed, and asks the heartbeat to look at once: the
/// server may be gone, or only this connection (one left over from an
/// outage, or a ping slowed by a busy machine), and only the heartbeat's
/// own connection tells them apart.
async fn bounded_ping(c: &mut PgConnection, health: &Health) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(PING_LIMIT, c.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            health.report(&StoreError::Unavailable(Outage::new(OutageKind::Unreachable, e.to_string())));
            Err(e)
        }
        Err(_) => {
            let detail = format!("a connection did not answer a ping within {} s", PING_LIMIT.as_secs_f64());
            health.report(&StoreError::Unavailable(Outage::new(OutageKind::Unreachable, detail.clone())));
            Err(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, detail)))
        }
    }
}

/// Pings the server every [`HEARTBEAT`] on a connection of its own (and at
/// once when a call asks), every [`RETRY`] during an outage; declares and
/// ends outages.
async fn heartbeat(health: Arc<Health>, options: PgConnectOptions, pool: PgPool) {
    let mut conn: Option<PgConnection> = None;
    loop {
        let wait = if health.down().is_some() { RETRY } else { HEARTBEAT };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = health.probe_wanted() => {}
        }
        let was_down = health.down().is_some();
        match probe(&mut conn, &options).await {
            Ok(()) => health.recover(),
            Err(outage) => health.fail(outage),
        }
        if was_down != health.down().is_some() {
            close_idle(&pool);
        }
    }
}

/// Closes the pool's idle connections, when an outage begins or ends:
/// every one was opened before (or during) it, and may hang. Dropped, not
/// closed politely: closing may hang too.
fn close_idle(pool: &PgPool) {
    while let Some(idle) = pool.try_acquire() {
        drop(idle.detach());
    }
}

/// One look at the server: a ping on the heartbeat's connection, or (when
/// it has none, or it broke) on a new one.
async fn probe(conn: &mut Option<PgConnection>, options: &PgConnectOptions) -> Result<(), Outage> {
    let limit =
        |what: &str, d: Duration| Outage::new(OutageKind::TimedOut, format!("no {what} within {} s", d.as_secs_f64()));
    if let Some(c) = conn.as_mut() {
        match tokio::time::timeout(PING_LIMIT, c.ping()).await {
            Ok(Ok(())) => return Ok(()),
            // This connection broke: a new one decides.
            Ok(Err(_)) => *conn = None,
            Err(_) => {
                *conn = None;
                return Err(limit("answer to a ping", PING_LIMIT));
            }
        }
    }
    let mut c = match tokio::time::timeout(CONNECT_LIMIT, PgConnection::connect_with(options)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(match StoreError::from(e) {
                StoreError::Unavailable(o) => o,
                other => Outage::new(OutageKind::Unreachable, other.to_string()),
            });
        }
        Err(_) => return Err(limit("connection", CONNECT_LIMIT)),
    };
    match tokio::time::timeout(PING_LIMIT, c.ping()).await {
        Ok(Ok(())) => {
            *conn = Some(c);
            Ok(())
        }
        Ok(Err(e)) => Err(Outage::new(OutageKind::Unreachable, e.to_string())),
        Err(_) => Err(limit("answer to a ping", PING_LIMIT)),
    }
}

/// A statement's future, failing as timed out past [`STATEMENT_LIMIT`].
async fn bounded<T>(work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(STATEMENT_LIMIT, work).await {
        Ok(r) => r,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer to a statement within {} s", STATEMENT_LIMIT.as_secs_f64()),
        ))),
    }
}

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    // Instances write side by side: a row read to be changed is locked
    // until the transaction ends.
    const LOCK: &'static str = " FOR UPDATE";
    // A locked job is another instance's claim: pass it over, don't wait.
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    /// `LISTEN` on `channel` (`muster_jobs`, `muster_incidents`) on a
    /// connection of its own; triggers notify on the commits that matter.
    /// A lost connection is re-established (and `wake` called, as
    /// notifications may have been missed meanwhile).
    fn listen<'a>(
        pool: &'a PgPool,
        channel: &'a str,
        wake: Arc<dyn Fn(Option<u64>) + Send + Sync>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let (schema,): (String,) = sqlx::query_as("SELECT current_schema()").fetch_one(pool).await?;
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen(channel).await?;
            tokio::spawn(async move {
                loop {
                    match listener.try_recv().await {
                        // "<schema>" alone, or "<schema> <number>" naming an
                        // incident (a schema name may hold spaces: the number
                        // is after the last one).
                        Ok(Some(n)) if n.payload() == schema => wake(None),
                        Ok(Some(n)) => {
                            if let Some((s, number)) = n.payload().rsplit_once(' ')
                                && s == schema
                            {
                                wake(number.parse().ok());
                            }
                        }
                        Ok(None) => {
                            tracing::info!("a listener reconnected");
                            wake(None);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "a listener failed; retrying in a second");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
            Ok(true)
        })
    }

    fn shorten<'a, 'b: 'a>(args: Self::Arguments<'b>) -> Self::Arguments<'a> {
        args
    }

    fn add<'q>(args: &mut Self::Arguments<'q>, value: impl Value<'q>) -> Result<(), BoxDynError> {
        args.add(value)
    }

    async fn execute<'c>(c: &'c mut PgConnection, sql: &'c str, args: Self::Arguments<'c>) -> Result<u64, sqlx::Error> {
        Ok(bounded(sqlx::query_with(sql, args).execute(c)).await?.rows_affected())
    }

    async fn fetch_all<'c, R: Record>(
        c: &'c mut PgConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<Vec<R>, sqlx::Error> {
        bounded(sqlx::query_as_with(sql, args).fetch_all(c)).await
    }

    async fn fetch_optional<'c, R: Record>(
        c: &'c mut PgConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<Option<R>, sqlx::Error> {
        bounded(sqlx::query_as_with(sql, args).fetch_optional(c)).await
    }
}
