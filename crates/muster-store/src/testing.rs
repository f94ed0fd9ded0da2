//! Fresh stores for tests, on either backend.
//!
//! PostgreSQL is found through `MUSTER_TEST_POSTGRES_URL`. Without it, a
//! PostgreSQL test skips loudly, unless `CI=true`, where it fails: CI must
//! never skip.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use sqlx::Connection;

use crate::{Store, open};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of a test's own. SQLite files are removed on drop; PostgreSQL
/// schemas are swept by later runs once they are a few hours old.
pub struct TestDatabase {
    pub backend: Backend,
    /// A URL `muster_store::open` (and `muster serve --database`) accepts.
    pub url: String,
    file: Option<PathBuf>,
}

impl TestDatabase {
    /// A new, migrated database, or `None` when PostgreSQL is not configured
    /// outside CI.
    pub async fn new(backend: Backend) -> Option<TestDatabase> {
        let db = Self::empty(backend).await?;
        db.open().await;
        Some(db)
    }

    /// A new database with no tables yet (for upgrade tests, which migrate
    /// it part of the way themselves).
    pub async fn empty(backend: Backend) -> Option<TestDatabase> {
        let db = match backend {
            Backend::Sqlite => {
                static N: AtomicU64 = AtomicU64::new(0);
                let file = std::env::temp_dir().join(format!(
                    "muster-test-{}-{}-{:08x}.db",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed),
                    rand::rng().random::<u32>()
                ));
                TestDatabase { backend, url: format!("sqlite://{}", file.display()), file: Some(file) }
            }
            Backend::Postgres => {
                let base = postgres_url()?;
                let schema = new_schema(&base).await;
                let sep = if base.contains('?') { '&' } else { '?' };
                TestDatabase { backend, url: format!("{base}{sep}options=-c%20search_path%3D{schema}"), file: None }
            }
        };
        Some(db)
    }

    /// Opens the database (again), applying migrations.
    pub async fn open(&self) -> Arc<dyn Store> {
        open(&self.url, true).await.expect("the test database opens")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

/// `MUSTER_TEST_POSTGRES_URL`, or `None` (and a loud note) when it is unset
/// outside CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var("MUSTER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but MUSTER_TEST_POSTGRES_URL is not set: PostgreSQL tests must not skip in CI")
        }
        _ => {
            eprintln!(
                "SKIPPED: PostgreSQL test, MUSTER_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            None
        }
    }
}

const SCHEMA_PREFIX: &str = "muster_t_";
const SWEEP_AFTER_SECS: u64 = 6 * 3600;

async fn new_schema(base: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let schema = format!("{SCHEMA_PREFIX}{now}_{:08x}", rand::rng().random::<u32>());
    let mut conn = sqlx::PgConnection::connect(base).await.expect("PostgreSQL at MUSTER_TEST_POSTGRES_URL answers");
    let old: Vec<(String,)> = sqlx::query_as("SELECT nspname::TEXT FROM pg_namespace WHERE starts_with(nspname, $1)")
        .bind(SCHEMA_PREFIX)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
    for (name,) in old {
        let born = name.trim_start_matches(SCHEMA_PREFIX).split('_').next().and_then(|s| s.parse::<u64>().ok());
        if born.is_some_and(|b| b + SWEEP_AFTER_SECS < now) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).execute(&mut conn).await;
        }
    }
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut conn).await.expect("a test schema");
    schema
}

impl TestDatabase {
    /// Tries to change and to delete a stored timeline entry behind the
    /// store's back; returns what the database said to each attempt.
    pub async fn tamper_with_timeline(&self) -> (Result<u64, String>, Result<u64, String>) {
        async fn run(url: &str, sql: &str) -> Result<u64, String> {
            if url.starts_with("sqlite:") {
                let mut c = sqlx::SqliteConnection::connect(url).await.map_err(|e| e.to_string())?;
                sqlx::query(sql).execute(&mut c).await.map(|r| r.rows_affected()).map_err(|e| e.to_string())
            } else {
                let mut c = sqlx::PgConnection::connect(url).await.map_err(|e| e.to_string())?;
                sqlx::query(sql).execute(&mut c).await.map(|r| r.rows_affected()).map_err(|e| e.to_string())
            }
        }
        (
            run(&self.url, "UPDATE incident_events SET actor = 'mallory'").await,
            run(&self.url, "DELETE FROM incident_events").await,
        )
    }
}

impl TestDatabase {
    /// Runs `sql` (an `UPDATE` or `DELETE` of `incident_events`) with the
    /// append-only triggers out of the way, as someone with the database's
    /// own rights could, and puts them back; returns the rows it touched.
    pub async fn tamper_past_the_triggers(&self, sql: &str) -> u64 {
        if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("the test database");
            let triggers: Vec<String> = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'incident_events'",
            )
            .fetch_all(&mut c)
            .await
            .expect("the triggers");
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'incident_events'",
            )
            .fetch_all(&mut c)
            .await
            .expect("the triggers' names");
            for name in &names {
                sqlx::query(&format!("DROP TRIGGER {name}")).execute(&mut c).await.expect("a trigger dropped");
            }
            let done = sqlx::query(sql).execute(&mut c).await.expect("the tampering").rows_affected();
            for t in &triggers {
                sqlx::query(t).execute(&mut c).await.expect("a trigger put back");
            }
            done
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.expect("the test database");
            sqlx::query("ALTER TABLE incident_events DISABLE TRIGGER USER").execute(&mut c).await.expect("disabled");
            let done = sqlx::query(sql).execute(&mut c).await.expect("the tampering").rows_affected();
            sqlx::query("ALTER TABLE incident_events ENABLE TRIGGER USER").execute(&mut c).await.expect("enabled");
            done
        }
    }
}

/// Generates `sqlite::name` and `postgres::name` tests, each calling
/// `name(db: TestDatabase)` with a fresh database of that backend (the
/// PostgreSQL ones skip loudly when it is not configured, outside CI).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let db = $crate::testing::TestDatabase::new($crate::testing::Backend::Sqlite).await.unwrap();
                super::$name(db).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(db) = $crate::testing::TestDatabase::new($crate::testing::Backend::Postgres).await {
                    super::$name(db).await;
                }
            })*
        }
    };
}
