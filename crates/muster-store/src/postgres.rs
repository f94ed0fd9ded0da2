//! The PostgreSQL store, for several `muster serve` instances on one database.
//!
//! Commands on one incident are serialized by a row lock
//! (`SELECT … FOR UPDATE`) on its row in `incidents`; incident numbers come
//! from a locked counter row, so they have no gaps. Migrations take
//! PostgreSQL's advisory lock, so instances may start together.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Arguments as _, PgConnection, PgPool, Postgres};

use crate::Result;
use crate::dialect::{BoxFuture, Dialect, Record, Value};
use crate::store::Db;

pub type PgStore = Db<Postgres>;

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`; tests add
    /// `?options=-c search_path=…` to use a schema of their own).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        // Ten connections: the ingest task's batches in flight (three,
        // `muster_app::ingest::POSTGRES_LANES`) each hold one while they
        // commit, which leaves seven for the engine, the pager and the
        // web. More would only queue in PostgreSQL instead of here: the
        // database has the same two cores.
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // One pool: reads and writes go to the same database.
        Ok(Db { read: pool.clone(), write: pool })
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.write).await?;
        Ok(())
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
        Ok(sqlx::query_with(sql, args).execute(c).await?.rows_affected())
    }

    async fn fetch_all<'c, R: Record>(
        c: &'c mut PgConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<Vec<R>, sqlx::Error> {
        sqlx::query_as_with(sql, args).fetch_all(c).await
    }

    async fn fetch_optional<'c, R: Record>(
        c: &'c mut PgConnection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> Result<Option<R>, sqlx::Error> {
        sqlx::query_as_with(sql, args).fetch_optional(c).await
    }
}
