//! The embedded SQLite store.
//!
//! Durability: WAL with `synchronous = FULL`, so a commit that returned is on
//! disk and survives a power cut, not only a crash of the process.
//!
//! Writes go through a pool of one connection: SQLite has a single writer
//! anyway, and queueing in the pool rather than in SQLite's lock avoids
//! `SQLITE_BUSY` between our own transactions. Reads use their own pool and
//! run beside the writer thanks to WAL.
//!
//! A full disk: SQLite refuses the write (`SQLITE_FULL`) and rolls back,
//! the database stays whole, and the next write that finds space
//! succeeds. The store records the outage ([`crate::health`]: one log line
//! naming the file and the full disk, `/healthz` answers 503) until a
//! transaction commits again. A connection whose transaction SQLite rolled
//! back by itself is closed when returned (sqlx would otherwise believe it
//! still inside the transaction, and nest the next one in it).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Arguments as _, Connection as _, Sqlite, SqliteConnection, SqlitePool};

use crate::Result;
use crate::dialect::{BoxFuture, Dialect, Record, Value};
use crate::health::{Guarded, Health};
use crate::store::Db;

pub type SqliteStore = Db<Sqlite>;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`, e.g.
    /// `sqlite://muster-data/muster.db`. Parent directories are created.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let health = Health::new(format!("sqlite {}", options.get_filename().display()), false);
        // No ping before each use (sqlx's default): a SQLite connection is
        // a file in this process, and the ping is one more hop to its
        // worker thread on the one write connection everything queues for.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            // The rollback of a transaction dropped without committing is
            // queued on the connection: the ping runs it, and a connection
            // still inside a transaction after it is closed, not reused.
            .after_release(|c, _| {
                Box::pin(async move {
                    c.ping().await?;
                    Ok(!c.is_in_transaction())
                })
            })
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new().max_connections(4).test_before_acquire(false).connect_with(options).await?;
        Ok(Db {
            read: Guarded::new(read, health.clone(), None),
            write: Guarded::new(write, health.clone(), None),
            health,
            _heartbeat: None,
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(self.write.pool()).await?;
        Ok(())
    }
}

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    // SQLite has one writer at a time: a transaction that writes holds the
    // database, so no row lock is needed (nor understood).
    const LOCK: &'static str = "";
    const SKIP_LOCKED: &'static str = "";

    /// One instance per SQLite file: the engine's own wake-up suffices.
    fn listen<'a>(
        _pool: &'a SqlitePool,
        _channel: &'a str,
        _wake: Arc<dyn Fn(Option<u64>) + Send + Sync>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async { Ok(false) })
    }

    fn shorten<'a, 'b: 'a>(args: Self::Arguments<'b>) -> Self::Arguments<'a> {
        args
    }

    fn add<'q>(args: &mut Self::Arguments<'q>, value: impl Value<'q>) -> Result<(), BoxDynError> {
        args.add(value)
    }

    async fn execute<'c>(
        c: &'c mut SqliteConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query_with(sql, args).execute(c).await?.rows_affected())
    }

    async fn fetch_all<'c, R: Record>(
        c: &'c mut SqliteConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<Vec<R>, sqlx::Error> {
        sqlx::query_as_with(sql, args).fetch_all(c).await
    }

    async fn fetch_optional<'c, R: Record>(
        c: &'c mut SqliteConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<Option<R>, sqlx::Error> {
        sqlx::query_as_with(sql, args).fetch_optional(c).await
    }
}
