//! The PostgreSQL store, for several `muster serve` instances on one database.
//!
//! Commands on one incident are serialized by a row lock
//! (`SELECT … FOR UPDATE`) on its row in `incidents`; incident numbers come
//! from a locked counter row, so they have no gaps. Migrations take
//! PostgreSQL's advisory lock, so instances may start together.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::Result;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`; tests add
    /// `?options=-c search_path=…` to use a schema of their own).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

store_impl!(
    PgStore,
    "postgres",
    sqlx::Postgres,
    postgres_queries,
    write = pool,
    read = pool,
    skip_locked = " FOR UPDATE SKIP LOCKED"
);
