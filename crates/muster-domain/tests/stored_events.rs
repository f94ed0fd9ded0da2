//! The stored event schema is a contract: every incident's hash chain is
//! recomputed from events read back from the database, so an event written
//! today must deserialize and re-serialize to the same JSON forever. A
//! change to a `Change` variant's serde form (a renamed field, a new
//! required field, a different tag) breaks `verify_chain` for every stored
//! incident — this test fails first.
//!
//! `fixtures/events-v1.json` is a chain made by the domain on 2026-12-01,
//! covering every kind of change. It is never regenerated to make this test
//! pass; a deliberate new format gets a new fixture beside it (see
//! ARCHITECTURE.md, "The stored event schema").

use muster_domain::Event;
use muster_domain::alert::{AlertRef, AlertStatus, Severity};
use muster_domain::incident::{Command, Context, Declaration};
use muster_domain::page::PageState;
use muster_domain::timeline::{EntryKind, MilestoneTag, verify_chain};
use muster_domain::{Actor, Handle, Incident, Permission, Priority, RoleCatalog, RoleKind, Status};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events-v1.json");

/// Every kind a stored chain may hold, as of v1.
const KINDS: [&str; 19] = [
    "declared",
    "title_changed",
    "summary_changed",
    "priority_changed",
    "status_changed",
    "role_assigned",
    "role_relieved",
    "topic_changed",
    "alert_linked",
    "alert_retriggered",
    "alert_acknowledged",
    "alert_resolved",
    "change",
    "page_sent",
    "page_notified",
    "page_closed",
    "page_declined",
    "note",
    "milestone",
];

fn person(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Responder }
}

/// The scenario the fixture was made from.
fn scenario() -> Vec<Event> {
    let catalog = RoleCatalog::default();
    let (alice, bob, carol) = (person("alice"), person("bob"), person("carol"));
    let muster = muster_domain::intake::system_actor();
    let mut t: jiff::Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let d = Declaration {
        title: "Checkout returns 500".into(),
        summary: "Errors on pay".into(),
        priority: Priority::P2,
        incident_manager: alice.clone(),
    };
    let (mut state, mut log) = Incident::declare(1, d, Context { actor: &alice, now: t, catalog: &catalog }).unwrap();
    let alert = |status| AlertRef {
        id: 7,
        service: "checkout".into(),
        summary: "5xx above 2%".into(),
        severity: Severity::Critical,
        status,
    };
    let steps: Vec<(&Actor, Command)> = vec![
        (
            &alice,
            Command::Update {
                title: Some("Checkout fails".into()),
                summary: Some("All pay calls".into()),
                priority: Some(Priority::P1),
                status: None,
            },
        ),
        (&alice, Command::Assign { role: RoleKind::BackupIncidentManager, user: bob, scope: None }),
        (
            &alice,
            Command::Assign {
                role: RoleKind::TechLead,
                user: carol.clone(),
                scope: Some(catalog.parse_scope(&RoleKind::TechLead, Some("database")).unwrap().unwrap()),
            },
        ),
        (&muster, Command::LinkAlert { alert: alert(AlertStatus::Triggered), retriggered: false }),
        (&muster, Command::AlertStatus { alert: alert(AlertStatus::Acknowledged) }),
        (
            &muster,
            Command::RecordChange {
                service: "checkout".into(),
                summary: "deploy 4f2a".into(),
                source: Some("ci".into()),
                at: None,
            },
        ),
        (
            &alice,
            Command::Page {
                page: 3,
                target: "@dan".into(),
                message: "need a DBA".into(),
                roles: vec![RoleKind::TechLead],
                automatic: false,
            },
        ),
        (&muster, Command::PageNotified { page: 3, step: 1, people: vec![Handle::parse("dan").unwrap()] }),
        (&alice, Command::DeclinePage { page: 3 }),
        (
            &alice,
            Command::ClosePage {
                page: 3,
                state: PageState::Expired,
                reason: Some("nobody answered".into()),
                roles: vec![],
            },
        ),
        (
            &carol,
            Command::AddEntry {
                kind: EntryKind::Note,
                text: "pool exhausted".into(),
                tag: None,
                corrects: None,
                occurred_at: None,
                workstream: None,
            },
        ),
        (
            &carol,
            Command::AddEntry {
                kind: EntryKind::Milestone,
                text: "errors began".into(),
                tag: Some(MilestoneTag::ImpactDetected),
                corrects: None,
                occurred_at: Some("2026-12-01T08:50:00Z".parse().unwrap()),
                workstream: None,
            },
        ),
        (&muster, Command::AlertStatus { alert: alert(AlertStatus::Resolved) }),
        (&alice, Command::Relieve { assignment: 4 }),
        (&alice, Command::Update { title: None, summary: None, priority: None, status: Some(Status::Resolved) }),
    ];
    for (actor, command) in steps {
        t = t.checked_add(jiff::SignedDuration::from_secs(60)).unwrap();
        let (next, events) = state.execute(command, Context { actor, now: t, catalog: &catalog }).unwrap();
        state = next;
        log.extend(events);
    }
    // The alert fires again after it was resolved: a new alert rejoins.
    let again = AlertRef { id: 8, ..alert(AlertStatus::Triggered) };
    t = t.checked_add(jiff::SignedDuration::from_secs(60)).unwrap();
    let (_, events) = state
        .execute(
            Command::LinkAlert { alert: again, retriggered: true },
            Context { actor: &muster, now: t, catalog: &catalog },
        )
        .unwrap();
    log.extend(events);
    log
}

fn stored() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(FIXTURE).expect("the fixture is in the repository");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

#[test]
fn a_chain_stored_by_an_earlier_version_still_verifies() {
    let events: Vec<Event> =
        stored().into_iter().map(|v| serde_json::from_value(v).expect("every stored event still reads")).collect();
    assert_eq!(verify_chain(&events), Ok(()), "the stored chain verifies");
    assert!(Incident::replay(&events).is_some(), "and replays into an incident");
}

#[test]
fn every_stored_event_serializes_back_to_the_json_it_was_stored_as() {
    for v in stored() {
        let e: Event = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&e).unwrap(), v, "event {} changed its serde form", e.seq);
    }
}

#[test]
fn the_fixture_covers_every_kind_of_change() {
    let kinds: Vec<String> =
        stored().into_iter().map(|v| serde_json::from_value::<Event>(v).unwrap().change.kind().to_owned()).collect();
    for kind in KINDS {
        assert!(kinds.iter().any(|k| k == kind), "the fixture has no {kind} event: {kinds:?}");
    }
}

/// The domain today still makes the chain the fixture holds: when this
/// fails, the domain changed what it records for the same commands. That
/// may be intended (a new entry), but stored chains must still verify (the
/// tests above).
#[test]
fn the_scenario_still_makes_the_stored_chain() {
    let made: Vec<serde_json::Value> = scenario().iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    if std::env::var("MUSTER_WRITE_EVENT_FIXTURE").as_deref() == Ok("1") && !std::path::Path::new(FIXTURE).exists() {
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&made).unwrap()).unwrap();
    }
    assert_eq!(made, stored());
}

/// Kinds added after v1, each with a fixture of its own (a chain made when
/// the kind was added), that must verify forever too.
const PAGE_UNREACHABLE_FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events-page-unreachable.json");

/// The scenario the `page_unreachable` fixture was made from.
fn page_unreachable_scenario() -> Vec<Event> {
    let catalog = RoleCatalog::default();
    let alice = person("alice");
    let muster = muster_domain::intake::system_actor();
    let t: jiff::Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let d = Declaration {
        title: "Checkout returns 500".into(),
        summary: "Errors on pay".into(),
        priority: Priority::P2,
        incident_manager: alice.clone(),
    };
    let (state, mut log) = Incident::declare(1, d, Context { actor: &alice, now: t, catalog: &catalog }).unwrap();
    let t = t.checked_add(jiff::SignedDuration::from_secs(60)).unwrap();
    let unreachable = [
        Command::PageUnreachable {
            page: 3,
            step: 1,
            why: "@bob has no contact method".into(),
            people: vec![Handle::parse("bob").unwrap()],
        },
        Command::PageUnreachable { page: 3, step: 2, why: "nobody is on call".into(), people: vec![] },
    ];
    let mut state = state;
    for command in unreachable {
        let (next, events) = state.execute(command, Context { actor: &muster, now: t, catalog: &catalog }).unwrap();
        state = next;
        log.extend(events);
    }
    log
}

#[test]
fn a_stored_page_unreachable_chain_verifies_and_reads_back_as_stored() {
    let made: Vec<serde_json::Value> =
        page_unreachable_scenario().iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    if std::env::var("MUSTER_WRITE_EVENT_FIXTURE").as_deref() == Ok("1")
        && !std::path::Path::new(PAGE_UNREACHABLE_FIXTURE).exists()
    {
        std::fs::write(PAGE_UNREACHABLE_FIXTURE, serde_json::to_string_pretty(&made).unwrap()).unwrap();
    }
    let text = std::fs::read_to_string(PAGE_UNREACHABLE_FIXTURE).expect("the fixture is in the repository");
    let stored: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let events: Vec<Event> = stored.iter().map(|v| serde_json::from_value(v.clone()).unwrap()).collect();
    assert_eq!(verify_chain(&events), Ok(()));
    for (e, v) in events.iter().zip(&stored) {
        assert_eq!(&serde_json::to_value(e).unwrap(), v, "event {} changed its serde form", e.seq);
    }
    let texts: Vec<String> = events.iter().filter(|e| e.change.kind() == "page_unreachable").map(Event::text).collect();
    assert_eq!(
        texts,
        [
            "Page 3: step 1 reached nobody: @bob has no contact method",
            "Page 3: step 2 reached nobody: nobody is on call"
        ]
    );
    assert_eq!(made, stored, "the domain still makes the stored chain");
}
