//! `muster_store::backup` refuses what would lose data or cannot be read:
//! a backup of a newer schema version than this code knows, a file that is
//! not a Muster backup, an existing backup file. (The round trip through
//! the binary is in `crates/muster/tests/backup.rs`.)

use muster_store::backup::{self, BackupError};
use muster_store::on_both_backends;
use muster_store::testing::{Backend, TestDatabase};
use sqlx::Connection;

on_both_backends!(
    a_backup_of_a_newer_schema_version_is_not_restored,
    a_file_that_is_not_a_muster_backup_is_not_restored,
    a_backup_never_overwrites_a_file,
);

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-store-backup-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn execute(db: &TestDatabase, sql: &str) {
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
    }
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, BackupError>, because: &str) {
    match result {
        Err(BackupError::Refused(why)) => assert!(why.contains(because), "refused with {why:?}, not {because:?}"),
        other => panic!("expected a refusal ({because}), got {other:?}"),
    }
}

async fn a_backup_of_a_newer_schema_version_is_not_restored(db: TestDatabase) {
    let dir = scratch(&format!("newer-{:?}", db.backend));
    let newer = backup::newest_version() + 1;
    execute(
        &db,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({newer}, 'from the future', TRUE, X'00', 1)"
        )
        .replace("X'00'", if db.backend == Backend::Sqlite { "X'00'" } else { "'\\x00'::bytea" }),
    )
    .await;
    let file = dir.join("newer.backup");
    let done = backup::backup(&db.url, &file).await.unwrap();
    assert_eq!(done.schema_version, newer);
    // Into the same database: refused before anything is replaced.
    assert_refused(backup::restore(&db.url, &file, true).await, &format!("schema version {newer}, newer than"));
    assert!(
        muster_store::open(&db.url, false).await.unwrap().user_count().await.is_ok(),
        "the database is still there"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn a_file_that_is_not_a_muster_backup_is_not_restored(db: TestDatabase) {
    let dir = scratch(&format!("junk-{:?}", db.backend));
    let junk = dir.join("junk");
    std::fs::write(&junk, "SELECT 1;\n").unwrap();
    assert_refused(backup::restore(&db.url, &junk, true).await, "not a");
    assert_refused(backup::restore(&db.url, &dir.join("missing"), true).await, "is not a file");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn a_backup_never_overwrites_a_file(db: TestDatabase) {
    let dir = scratch(&format!("exists-{:?}", db.backend));
    let file = dir.join("taken");
    std::fs::write(&file, "keep me").unwrap();
    assert_refused(backup::backup(&db.url, &file).await, "exists already");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(&dir);
}
