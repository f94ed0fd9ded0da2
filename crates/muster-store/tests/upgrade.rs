//! A database written by the version before the typed outbox (migrations up
//! to 0009, jobs with their secrets in the payload) upgrades in place: its
//! pending jobs still read as jobs, take the right lane and keep what they
//! need to be delivered, and the jobs that are done lose their secrets.
//! Its API tokens (before names, expiry and revocation) keep working, as
//! API tokens named `api`.

use std::str::FromStr;

use muster_domain::outbox::{Job, Lane};
use muster_store::testing::{Backend, TestDatabase};
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pending_jobs_of_the_previous_version_survive_the_upgrade_and_done_ones_lose_their_secrets() {
    upgrade(TestDatabase::empty(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pending_jobs_of_the_previous_version_survive_the_upgrade_and_done_ones_lose_their_secrets() {
    if let Some(db) = TestDatabase::empty(Backend::Postgres).await {
        upgrade(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tokens_of_the_previous_version_keep_working_after_the_upgrade() {
    old_tokens(TestDatabase::empty(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tokens_of_the_previous_version_keep_working_after_the_upgrade() {
    if let Some(db) = TestDatabase::empty(Backend::Postgres).await {
        old_tokens(db).await;
    }
}

/// A user and a token as 0001's code wrote them.
const OLD_TOKEN_SQL: &str = "INSERT INTO users (handle, name, email, permission, created_at) \
     VALUES ('alice', 'Alice', 'alice@example.com', 'responder', 7); \
     INSERT INTO api_tokens (hash, handle, created_at) VALUES ('oldhash', 'alice', 8);";

async fn old_tokens(db: TestDatabase) {
    migrate_to_0009(&db).await;
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(OLD_TOKEN_SQL).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(OLD_TOKEN_SQL).execute(&mut c).await.unwrap();
        }
    }
    let store = db.open().await;
    let (token, user) = store.token("oldhash").await.unwrap().expect("the old token is still there");
    assert_eq!((user.handle.as_str(), user.disabled_at), ("alice", None));
    assert_eq!(
        (token.kind, token.name.as_str(), token.created_at.as_microsecond(), token.expires_at, token.revoked_at),
        (muster_domain::token::TokenKind::Api, "api", 8, None, None)
    );
    // New tokens get ids after it.
    let new = muster_store::NewToken {
        hash: "newhash".into(),
        user: user.handle.clone(),
        kind: muster_domain::token::TokenKind::Api,
        name: "laptop".into(),
        expires_at: None,
    };
    let added = store.add_token(&new, muster_domain::Timestamp::from_second(9).unwrap()).await.unwrap();
    assert!(added.id > token.id);
}

/// The jobs 0009's code wrote: (kind, payload, key, due, done).
const OLD_JOBS: [(&str, &str, &str, i64, Option<i64>); 4] = [
    ("page.step", r#"{"page":5,"step":1}"#, "page:5:step:1", 10, None),
    (
        "webhook",
        r#"{"page":5,"step":1,"person":"dan","to":"http://h/x","url":"http://h/x","secret":"whsec_pending","body":{"type":"page"}}"#,
        "page:5:step:0:method:2:after:0",
        10,
        None,
    ),
    ("email", r#"{"to":"a@example.com","subject":"[Muster] Test","text":"works"}"#, "test-1", 10, None),
    (
        "webhook",
        r#"{"to":"http://h/y","url":"http://h/y","secret":"whsec_done","body":{"type":"test"}}"#,
        "test-2",
        5,
        Some(6),
    ),
];

/// One INSERT of `OLD_JOBS`, as SQL both backends read (the values are this
/// file's constants, so quoting them by hand is safe).
fn old_jobs_sql() -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let rows: Vec<String> = OLD_JOBS
        .iter()
        .map(|(kind, payload, key, due, done)| {
            let done = done.map_or("NULL".to_owned(), |d| d.to_string());
            let page = if payload.contains("\"page\"") { "5" } else { "NULL" };
            format!("({}, {}, {}, {due}, 0, {done}, {page})", quote(kind), quote(payload), quote(key))
        })
        .collect();
    format!(
        "INSERT INTO jobs (kind, payload, idempotency_key, due_at, created_at, done_at, page) VALUES {}",
        rows.join(", ")
    )
}

async fn migrate_to_0009(db: &TestDatabase) {
    match db.backend {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).unwrap().create_if_missing(true);
            let mut c = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
            let mut m = sqlx::migrate!("./migrations/sqlite");
            m.migrations = m.migrations.iter().filter(|x| x.version <= 9).cloned().collect::<Vec<_>>().into();
            m.run(&mut c).await.unwrap();
            sqlx::raw_sql(&old_jobs_sql()).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.migrations = m.migrations.iter().filter(|x| x.version <= 9).cloned().collect::<Vec<_>>().into();
            m.run(&mut c).await.unwrap();
            sqlx::raw_sql(&old_jobs_sql()).execute(&mut c).await.unwrap();
        }
    }
}

async fn done_payload(db: &TestDatabase) -> String {
    let sql = "SELECT payload FROM jobs WHERE idempotency_key = 'test-2'";
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

async fn upgrade(db: TestDatabase) {
    migrate_to_0009(&db).await;
    let store = db.open().await; // the rest of the migrations, as a new version's start does
    let at = |s: i64| muster_domain::Timestamp::from_second(s).unwrap();

    let paging = store.claim_jobs(Lane::Paging, at(100), at(130), 10).await.unwrap();
    let mut kinds: Vec<&str> = paging.iter().map(|j| j.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["page.step", "webhook"], "page steps and page notifications took the paging lane");
    for j in &paging {
        match j.job.as_ref().expect("an old job still reads") {
            Job::PageStep { page, step } => assert_eq!((*page, *step), (5, 1)),
            Job::Webhook(w) => {
                assert_eq!((w.to.as_str(), w.legacy_secret.as_deref()), ("http://h/x", Some("whsec_pending")));
                assert_eq!(w.for_page.as_ref().map(|f| (f.page, f.person.as_str())), Some((5, "dan")));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let other = store.claim_jobs(Lane::Other, at(100), at(130), 10).await.unwrap();
    assert_eq!(other.len(), 1);
    assert!(matches!(other[0].job.as_ref().unwrap(), Job::Email(e) if e.to == "a@example.com"));

    let done = done_payload(&db).await;
    assert!(!done.contains("whsec_done"), "a done job keeps no secret: {done}");
    assert!(done.contains("http://h/y"), "and keeps the rest: {done}");
}
