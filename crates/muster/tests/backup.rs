//! `muster backup` and `muster restore`, round trip, on the real binary:
//! data made through a running server is backed up while it runs,
//! restored into a fresh database, and a server started on that one reads
//! everything back the same; its timeline's hash chain verifies and the old
//! token still works. What would lose data is refused.

mod common;

use std::process::{Command, Output};

use common::{ADMIN, BIN, Server};
use muster_store::testing::{Backend, TestDatabase};

on_both_backends!(a_backup_taken_while_serving_restores_into_a_fresh_database_that_reads_back_the_same);

fn muster(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("MUSTER_LOG", "warn").env_remove("MUSTER_DATABASE_URL").output().unwrap()
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let out = muster(args);
    assert!(out.status.success(), "muster {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn refused(args: &[&str], because: &str) {
    let out = muster(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "muster {args:?} should have been refused");
    assert!(stderr.contains(because), "muster {args:?} said {stderr:?}, not {because:?}");
}

/// What a person reads of the data through the API.
fn everything(server: &Server) -> Vec<serde_json::Value> {
    [
        &["incident", "show", "INC-1"][..],
        &["timeline", "show", "INC-1"],
        &["pages"],
        &["pages", "1"],
        &["token", "list"],
        &["user", "list"],
        &["schedule", "list"],
        &["policy", "list"],
    ]
    .iter()
    .map(|args| server.json(ADMIN, args))
    .collect()
}

/// A database of its own for the restore: a new SQLite file, or a new
/// PostgreSQL database with the schema name of `db` (a dump restores into
/// the schema it was taken from). Returns its URL and how to drop it.
fn fresh(db: &TestDatabase, tag: &str) -> (String, Box<dyn FnOnce()>) {
    match db.backend {
        Backend::Sqlite => {
            let path = format!("{}.restored-{tag}", db.url.trim_start_matches("sqlite://"));
            let url = format!("sqlite://{path}");
            (
                url,
                Box::new(move || {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{path}{suffix}"));
                    }
                }),
            )
        }
        Backend::Postgres => {
            let base = muster_store::testing::postgres_url().unwrap();
            let name = format!("muster_restore_{}_{tag}", std::process::id());
            let (server, rest) = base.rsplit_once('/').unwrap();
            let query = rest.split_once('?').map_or(String::new(), |(_, q)| format!("?{q}&"));
            let options = db.url.split_once('?').map(|(_, o)| o.to_owned()).unwrap();
            let options = options.rsplit('&').next().unwrap().to_owned();
            let url = format!("{server}/{name}{}{options}", if query.is_empty() { "?" } else { &query });
            psql(&base, &format!("DROP DATABASE IF EXISTS {name}"));
            psql(&base, &format!("CREATE DATABASE {name}"));
            (url, Box::new(move || psql(&base, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))))
        }
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql").args([url, "-qc", sql]).output().expect("psql runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
}

/// INC-1 of the database at `url` has at least `least` timeline entries,
/// its hash chain verifies, and its state is the fold of exactly those.
async fn verify(url: &str, least: usize) {
    let store = muster_store::open(url, false).await.unwrap();
    let events = store.events(1).await.unwrap();
    assert!(events.len() >= least, "{events:?}");
    assert_eq!(muster_domain::timeline::verify_chain(&events), Ok(()), "the restored timeline verifies");
    let incident = store.incident(1).await.unwrap().unwrap();
    assert_eq!(incident.version, events.len() as u64, "the incident's state is of its last entry");
    assert_eq!(incident.last_hash, events.last().unwrap().hash);
}

fn a_backup_taken_while_serving_restores_into_a_fresh_database_that_reads_back_the_same(db: TestDatabase) {
    let dir = std::env::temp_dir().join(format!("muster-backup-{}-{:?}", std::process::id(), db.backend));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("muster.backup");
    let file = file.to_str().unwrap();

    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["incident", "declare", "Checkout is down"]);
    server.ok(ADMIN, &["timeline", "add", "INC-1", "note", "Rolled back v42"]);
    server.ok(ADMIN, &["page", "INC-1", "@admin", "-m", "DB replica lag"]);
    server.ok(
        ADMIN,
        &["schedule", "add", "Primary", "--tz", "Europe/Berlin", "--users", "admin", "--start", "2026-01-01"],
    );
    server.ok(ADMIN, &["policy", "add", "Ops", "--notify", "@admin"]);
    let before = everything(&server);

    // Online: the server keeps running (and answering) through the backup.
    let said = ok(&["backup", file, "--database", &db.url]);
    assert!(said.contains("Backed up") && said.contains(file), "{said}");
    assert_eq!(everything(&server), before);
    refused(&["backup", file, "--database", &db.url], "exists already");
    refused(
        &["restore", file, "--database", &db.url],
        if db.backend == Backend::Sqlite { "a running muster serve has" } else { "pass --force" },
    );
    server.terminate();

    let (restored, drop_restored) = fresh(&db, "a");
    let said = ok(&["restore", file, "--database", &restored]);
    assert!(said.contains("Restored") && said.contains("migrated to schema version"), "{said}");
    refused(&["restore", file, "--database", &restored], "pass --force");
    ok(&["restore", file, "--database", &restored, "--force"]);

    // Served without --admin-token: the old token works because it was restored.
    let again = Server::start(&restored, None);
    assert_eq!(everything(&again), before);
    again.ok(ADMIN, &["timeline", "add", "INC-1", "note", "Restored"]);
    again.terminate();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(verify(&restored, 6));
    drop_restored();

    // A backup taken while the timeline is being written is a consistent
    // snapshot: the incident's state and its timeline agree and verify.
    let server = Server::start(&db.url, None);
    let second = dir.join("during-writes.backup");
    let second = second.to_str().unwrap();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..20 {
                server.ok(ADMIN, &["timeline", "add", "INC-1", "note", &format!("Still writing {i}")]);
            }
        });
        ok(&["backup", second, "--database", &db.url]);
        writer.join().unwrap();
    });
    server.terminate();
    let (restored, drop_restored) = fresh(&db, "b");
    ok(&["restore", second, "--database", &restored]);
    rt.block_on(verify(&restored, 6));
    drop_restored();

    // Not a Muster database: refused, and nothing is replaced.
    let junk = dir.join("junk");
    std::fs::write(&junk, "not a database").unwrap();
    refused(&["restore", junk.to_str().unwrap(), "--database", &db.url, "--force"], "not a");
    let _ = std::fs::remove_dir_all(&dir);
}
