//! Upgrades never break a database: every migration is a released schema
//! version, and a database built at each of them opens with the current
//! code and reads back whole.
//!
//! For each version N, the test builds an empty database and, for every
//! version v up to N in order, applies migration v and then
//! `tests/fixtures/schemas/<v>.sql`: the rows version v's code wrote, in
//! version v's columns (the same file on both backends). The database then
//! holds what a deployment that ran every version up to N would hold. It is
//! opened with `muster_store::open` (which applies the remaining migrations)
//! and read through the store's current API: users and tokens, the
//! timeline (its hash chain verifies), services and alerts, schedules,
//! policies, contact methods and rules, pages and their deliveries, jobs,
//! sessions.
//!
//! A migration without a fixture fails the test, and so does a fixture
//! without a migration: whoever adds migration N adds `<N>.sql` (at least a
//! comment saying why that version wrote nothing new) and the checks here
//! for what it stores.

use std::path::PathBuf;
use std::str::FromStr;

use muster_domain::Timestamp;
use muster_domain::outbox::Lane;
use muster_domain::token::TokenKind;
use muster_store::testing::{Backend, TestDatabase};
use muster_store::{JobFilter, JobState, PageFilter, Store};
use sqlx::Connection;
use sqlx::migrate::Migrator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_database_of_every_schema_version_opens_and_reads_back_whole() {
    for version in versions(Backend::Sqlite) {
        let db = TestDatabase::empty(Backend::Sqlite).await.unwrap();
        build(&db, version).await;
        check(db.open().await.as_ref(), version).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_database_of_every_schema_version_opens_and_reads_back_whole() {
    for version in versions(Backend::Postgres) {
        let Some(db) = TestDatabase::empty(Backend::Postgres).await else { return };
        build(&db, version).await;
        check(db.open().await.as_ref(), version).await;
    }
}

#[test]
fn every_schema_version_has_a_fixture_and_every_fixture_a_version() {
    let sqlite = versions(Backend::Sqlite);
    assert_eq!(sqlite, versions(Backend::Postgres), "both backends have the same schema versions");
    let mut fixtures: Vec<i64> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".sql").map(|v| v.parse().expect("a fixture is named <version>.sql")))
        .collect();
    fixtures.sort_unstable();
    assert_eq!(
        fixtures, sqlite,
        "tests/fixtures/schemas holds one <version>.sql per migration: a new migration needs the rows its version writes"
    );
}

fn migrator(backend: Backend) -> Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
}

fn versions(backend: Backend) -> Vec<i64> {
    migrator(backend).migrations.iter().map(|m| m.version).collect()
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemas")
}

fn fixture(version: i64) -> String {
    let path = fixtures_dir().join(format!("{version:04}.sql"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "schema version {version} has no fixture {} ({e}): add the rows its code writes, in its columns",
            path.display()
        )
    })
}

/// Whether a fixture holds a statement (some versions wrote nothing new).
fn has_statements(sql: &str) -> bool {
    sql.lines().map(str::trim).any(|l| !l.is_empty() && !l.starts_with("--"))
}

/// Migrates `db` to `version`, one version at a time, writing each version's
/// fixture after its migration.
async fn build(db: &TestDatabase, version: i64) {
    let all = migrator(db.backend);
    for v in all.migrations.iter().map(|m| m.version).filter(|v| *v <= version) {
        let mut m = migrator(db.backend);
        m.migrations = all.migrations.iter().filter(|x| x.version <= v).cloned().collect::<Vec<_>>().into();
        let sql = fixture(v);
        let context = format!("schema version {v}'s fixture, on the way to {version}");
        match db.backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url).unwrap().create_if_missing(true);
                let mut c = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
                m.run(&mut c).await.unwrap();
                if has_statements(&sql) {
                    sqlx::raw_sql(&sql).execute(&mut c).await.unwrap_or_else(|e| panic!("{context}: {e}"));
                }
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                m.run(&mut c).await.unwrap();
                if has_statements(&sql) {
                    sqlx::raw_sql(&sql).execute(&mut c).await.unwrap_or_else(|e| panic!("{context}: {e}"));
                }
            }
        }
    }
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap()
}

/// Reads everything the fixtures up to `version` wrote through the current
/// store, and writes a little more.
async fn check(store: &dyn Store, version: i64) {
    let v = version;
    let now = at(1_796_150_000_000_000);
    let handle = |h: &str| muster_domain::Handle::parse(h).unwrap();

    // 0001: users, tokens (named `api` since 0012), the timeline.
    let users: Vec<String> = store.users().await.unwrap().iter().map(|u| u.handle.to_string()).collect();
    assert_eq!(users, ["admin", "alice", "bob"], "at {v}");
    let (token, user) = store.token("hash-of-alices-token").await.unwrap().expect("alice's first token");
    assert_eq!((user.handle.as_str(), token.kind, token.name.as_str()), ("alice", TokenKind::Api, "api"), "at {v}");
    assert_eq!(token.revoked_at, None, "at {v}");
    let incident = store.incident(1).await.unwrap().expect("INC-1 reads");
    assert_eq!(incident.title, "Checkout is down", "at {v}");
    let events = store.events(1).await.unwrap();
    assert_eq!(events.len(), if v >= 7 { 7 } else { 4 }, "at {v}");
    assert_eq!(muster_domain::timeline::verify_chain(&events), Ok(()), "the timeline verifies at {v}");
    let timeline = store
        .timeline(1, &muster_store::TimelineQuery { limit: 100, ..Default::default() })
        .await
        .unwrap()
        .expect("INC-1's timeline");
    assert_eq!(timeline.len(), events.len(), "at {v}");
    let roles: Vec<(String, bool)> =
        store.role_catalog().await.unwrap().custom.iter().map(|r| (r.key.as_str().to_owned(), r.many)).collect();
    assert_eq!(roles, [("customer_liaison".to_owned(), false)], "at {v}");
    assert_eq!(store.setting("paging.signing_key").await.unwrap().map(|k| k.len()), Some(64), "at {v}");

    if v >= 2 {
        let services = store.services().await.unwrap();
        assert_eq!(services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["checkout"], "at {v}");
        assert_eq!(services[0].escalation_policy, (v >= 4).then_some(1), "at {v}");
        let alerts = store.alerts(&muster_store::AlertFilter { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(alerts.iter().map(|a| a.summary.as_str()).collect::<Vec<_>>(), ["Disk full on db-1"], "at {v}");
    }
    if v >= 3 {
        let schedules = store.schedules().await.unwrap();
        assert_eq!(schedules.len(), 1, "at {v}");
        assert_eq!((schedules[0].name.as_str(), schedules[0].overrides.len()), ("Primary", 1), "at {v}");
    }
    if v >= 4 {
        let policies = store.policies().await.unwrap();
        assert_eq!(policies.iter().map(|p| p.policy.name.as_str()).collect::<Vec<_>>(), ["Ops"], "at {v}");
        assert_eq!(policies[0].policy.steps.len(), 2, "at {v}");
    }
    if v >= 5 {
        assert_eq!(store.contact_methods(&handle("alice")).await.unwrap().len(), 2, "at {v}");
    }
    if v >= 6 {
        let jobs = store.jobs(&JobFilter { limit: Some(100), ..Default::default() }).await.unwrap();
        let count = |state: JobState| jobs.iter().filter(|j| j.state == state).count();
        let pending = 1 + usize::from(v >= 9) + usize::from(v >= 13) + usize::from(v >= 15);
        let done = 1 + usize::from(v >= 7);
        let dead = usize::from(v >= 10);
        assert_eq!(
            (count(JobState::Pending), count(JobState::Done), count(JobState::Dead)),
            (pending, done, dead),
            "at {v}"
        );
    }
    if v >= 7 {
        let pages = store.pages(&PageFilter { incident: Some(1), limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(pages.len(), 1, "at {v}");
        assert_eq!((pages[0].message.as_str(), pages[0].step), ("DB lag", 1), "at {v}");
        store.deliveries(pages[0].id).await.unwrap();
        assert_eq!(store.notification_rules(&handle("alice")).await.unwrap().len(), 1, "at {v}");
    }
    if v >= 8 {
        assert!(store.password_hash(&handle("alice")).await.unwrap().is_some(), "at {v}");
        assert!(store.session("hash-of-alices-session", now).await.unwrap().is_some(), "at {v}");
    }
    if v >= 9 {
        // The pending page notification still delivers, on the paging lane.
        let claimed = store.claim_jobs(Lane::Paging, now, at(1_796_150_060_000_000), 10).await.unwrap();
        assert!(claimed.iter().any(|j| j.kind == "webhook" && j.job.is_ok()), "at {v}: {claimed:?}");
        if v >= 15 {
            let bundle = claimed.iter().find(|j| j.kind == "page.bundle").expect("the follow-up's job");
            assert_eq!(bundle.job, Ok(muster_domain::outbox::Job::PageBundle { bundle: 1 }), "at {v}");
        }
    }
    let (bob_token, bob) = store.token("hash-of-bobs-token").await.unwrap().expect("bob's token");
    assert_eq!((bob.disabled_at.is_some(), bob_token.revoked_at.is_some()), (v >= 12, v >= 12), "at {v}");
    if v >= 12 {
        let (feed, _) = store.token("hash-of-alices-feed").await.unwrap().expect("the feed token");
        assert_eq!((feed.kind, feed.name.as_str()), (TokenKind::Feed, "calendar"), "at {v}");
        let working: Vec<String> =
            store.tokens(&handle("alice")).await.unwrap().iter().map(|t| t.name.clone()).collect();
        assert_eq!(working, ["api", "calendar", "laptop"], "at {v}");
    }
    if v >= 13 {
        let pages = store.pages(&PageFilter { alert: Some(1), limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(pages.len(), 1, "at {v}");
        assert_eq!(pages[0].unreachable.iter().map(|u| u.step).collect::<Vec<_>>(), [1], "at {v}");
    }

    if v >= 15 {
        let services = store.services().await.unwrap();
        assert_eq!((services[0].bundle_window_seconds, services[0].bundle_window()), (Some(30), 30), "at {v}");
        let bundle = store.bundle(1).await.unwrap().expect("alice's bundle");
        assert_eq!((bundle.person.as_str(), bundle.service_name.as_str(), bundle.sent_at), ("alice", "checkout", None));
        let pages: Vec<u64> = store.bundled_pages(1).await.unwrap().iter().map(|p| p.page).collect();
        assert_eq!(pages, [2], "at {v}");
    } else if v >= 2 {
        assert_eq!(store.services().await.unwrap()[0].bundle_window_seconds, None, "the default, at {v}");
    }
    if v >= 17 {
        use muster_domain::update::{PublicStatus, UpdateAudience, UpdateState};
        let updates = store.updates(1).await.unwrap();
        let read: Vec<(UpdateAudience, UpdateState, String, &str)> =
            updates.iter().map(|u| (u.content.audience, u.state, u.content.text(), u.author.as_str())).collect();
        assert_eq!(
            read,
            [
                (
                    UpdateAudience::Internal,
                    UpdateState::Draft,
                    "Conditions: checkout fails\nNeeds: a DBA".into(),
                    "alice"
                ),
                (UpdateAudience::External, UpdateState::Draft, "Some payments fail; we are on it.".into(), "bob"),
            ],
            "at {v}"
        );
        let (next, status) = (updates[0].content.next_update_in_minutes, updates[1].content.status);
        assert_eq!((next, status), (Some(30), Some(PublicStatus::Identified)), "at {v}");
    }
    if v >= 18 {
        use muster_domain::update::UpdateAudience;
        let groups = store.stakeholder_groups().await.unwrap();
        let g = &groups[0];
        assert_eq!(
            (g.spec.name.as_str(), g.spec.members[0].as_str(), g.spec.emails[0].as_str()),
            ("Executives", "alice", "vp@example.com"),
            "at {v}"
        );
        assert_eq!(g.spec.audiences, [UpdateAudience::Internal, UpdateAudience::Executive], "at {v}");
        let hook = store.stakeholder_webhook(g.webhooks[0].0).await.unwrap().unwrap();
        assert_eq!(
            (hook.url.as_str(), hook.secret.as_str()),
            ("https://hooks.example.com/execs", "whsec_0018"),
            "at {v}"
        );
        let followers = store.followers(1).await.unwrap();
        assert_eq!(followers[0].0.as_str(), "bob", "at {v}");
        let responses = store.update_responses(1).await.unwrap();
        assert_eq!((responses[0].from.as_str(), responses[0].update), ("Acme Corp", 2), "at {v}");
        assert!(store.update_deliveries(1).await.unwrap().is_empty(), "no update was published, at {v}");
    }
    if v >= 19 {
        use muster_domain::statuspage::ComponentStatus;
        let components = store.components().await.unwrap();
        let c = &components[0];
        assert_eq!(
            (c.spec.name.as_str(), c.spec.group.as_deref(), c.status),
            ("Checkout API", Some("Core"), ComponentStatus::Operational),
            "at {v}"
        );
        let since = Timestamp::from_microsecond(1_796_140_000_000_000).unwrap();
        let changes = store.component_changes_since(since).await.unwrap();
        let read: Vec<(ComponentStatus, Option<u64>)> = changes.iter().map(|c| (c.new_status, c.update)).collect();
        assert_eq!(read, [(ComponentStatus::PartialOutage, Some(2)), (ComponentStatus::Operational, None)], "at {v}");
        let public = store.public_incident(1).await.unwrap().expect("INC-1 is on the page");
        assert_eq!((public.title.as_str(), public.impact), ("Payments are failing", None), "at {v}");
        let updates = store.updates(1).await.unwrap();
        assert!(updates.iter().all(|u| u.content.components.is_empty()), "older updates name no components, at {v}");
    }
    if v >= 20 {
        let all = store.subscribers(false).await.unwrap();
        let read: Vec<(&str, &str, bool)> =
            all.iter().map(|s| (s.kind.as_str(), s.address.as_str(), s.confirmed_at.is_some())).collect();
        assert_eq!(
            read,
            [("email", "ops@customer.example", true), ("webhook", "https://customer.example/hooks/status", false)],
            "at {v}"
        );
        assert_eq!(all[0].components, [1], "at {v}");
        assert_eq!(
            store.subscriber_by_token("tok_0020_webhook").await.unwrap().unwrap().secret.as_deref(),
            Some("whsec_0020")
        );
        assert_eq!(store.subscribers(true).await.unwrap().len(), 1, "confirmed ones, at {v}");
    }
    if v >= 21 {
        use muster_domain::maintenance::MaintenanceState;
        let all = store.maintenances(Timestamp::from_microsecond(0).unwrap()).await.unwrap();
        let m = &all[0];
        assert_eq!(
            (m.spec.title.as_str(), m.state, m.spec.components.as_slice()),
            ("Database upgrade", MaintenanceState::InProgress, &[1][..]),
            "at {v}"
        );
        assert_eq!(m.spec.remind_minutes_before, Some(60), "at {v}");
        let states: Vec<MaintenanceState> = m.updates.iter().map(|u| u.state).collect();
        assert_eq!(states, [MaintenanceState::Scheduled, MaintenanceState::InProgress], "at {v}");
        assert!(m.completed_at.is_none() && m.started_at.is_some(), "at {v}");
    }

    if v >= 22 {
        use muster_domain::support::ReportState;
        let integration = store.support_integration_by_key("sup_0022_zendesk").await.unwrap().expect("the integration");
        assert_eq!((integration.kind.as_str(), integration.secret.as_str()), ("zendesk", "zdsecret_0022"), "at {v}");
        let report = store.report(1).await.unwrap().expect("report 1");
        assert_eq!(
            (report.spec.customer.as_str(), report.incident, report.state, report.integration),
            ("Ann Lee", Some(1), ReportState::Responded, Some(integration.id)),
            "at {v}"
        );
        assert_eq!(report.spec.external_ref.as_deref(), Some("35436"), "at {v}");
        assert!(report.passed_at.is_some() && report.logged_by.is_none(), "at {v}");
        let responses = store.report_responses(1).await.unwrap();
        assert_eq!(responses.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(), ["We are on it."], "at {v}");
    }

    if v >= 23 {
        use muster_domain::postmortem::document::{PostmortemState, Section, Template};
        let p = store.postmortem(1).await.unwrap().expect("the postmortem of INC-1");
        assert_eq!(
            (p.template, p.state, p.created_by.as_str()),
            (Template::Standard, PostmortemState::InReview, "alice")
        );
        assert_eq!(p.narrative.get(Section::Summary), "Checkout failed for 20 minutes.", "at {v}");
        assert_eq!(p.narrative.get(Section::RootCause), "A bad deploy.", "at {v}");
        assert!(p.published_at.is_none(), "at {v}");
        let all = store.follow_ups(&muster_store::FollowUpFilter::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|f| (f.incident, f.action, f.text.as_str(), f.ticket.as_deref())).collect::<Vec<_>>(),
            [(1, 7, "Add an alert on the pool", Some("OPS-12"))],
            "at {v}"
        );
        assert_eq!(all[0].owner.as_ref().map(|o| o.as_str()), Some("alice"), "at {v}");
    }

    if v >= 24 {
        let alice = store.user(&handle("alice")).await.unwrap().unwrap();
        assert_eq!(alice.time_zone.as_deref(), Some("Europe/Berlin"), "at {v}");
        let bob = store.user(&handle("bob")).await.unwrap().unwrap();
        assert_eq!(bob.time_zone, None, "at {v}");
    }

    // The upgraded database takes new rows after the old ones.
    let new = muster_store::NewToken {
        hash: format!("hash-of-a-new-token-{v}"),
        user: handle("alice"),
        kind: TokenKind::Api,
        name: "new".into(),
        expires_at: None,
    };
    let added = store.add_token(&new, now).await.unwrap();
    assert!(added.id > token.id, "at {v}");
}
