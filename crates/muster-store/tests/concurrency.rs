//! Writers racing for one alert, on both backends: an alert joins one
//! incident, however many people link it or declare from it at once.

use muster_domain::alert::{AlertAction, AlertRef, Severity};
use muster_domain::incident::{Context, Declaration};
use muster_domain::{Actor, Change, Command, Event, Handle, Incident, Permission, Priority, RoleCatalog, Timestamp};
use muster_store::testing::TestDatabase;
use muster_store::{IncidentFilter, Store, StoreError};

use muster_store::on_both_backends;

mod common;

on_both_backends!(
    two_people_linking_one_alert_to_two_incidents_at_once_link_it_to_one,
    two_people_declaring_from_one_alert_at_once_declare_one_incident,
);

/// Rounds per test: each round is a fresh alert and one race for it.
const ROUNDS: usize = 20;

fn now() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn actor(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Responder }
}

/// A service that declares nothing by itself, so only the racers do.
async fn service(store: &dyn Store) -> u64 {
    common::service(store, "checkout", 1, &[], None, now()).await
}

/// A new alert on `service`, in no incident.
async fn alert(store: &dyn Store, service: u64, round: usize) -> u64 {
    let e = common::event(service, AlertAction::Trigger, &format!("fp-{round}"), Severity::Critical);
    let out = store.ingest(&[e], now()).await.unwrap();
    assert_eq!(out[0].incident, None);
    out[0].alert.unwrap()
}

fn declaration(by: &Actor) -> Declaration {
    Declaration {
        title: "Checkout fails".into(),
        summary: String::new(),
        priority: Priority::P2,
        incident_manager: by.clone(),
    }
}

async fn declare(store: &dyn Store, by: &Actor) -> u64 {
    let catalog = RoleCatalog::default();
    let decide =
        |number| Incident::declare(number, declaration(by), Context { actor: by, now: now(), catalog: &catalog });
    store.declare_incident(&decide).await.unwrap().0.number
}

async fn link(store: &dyn Store, by: &Actor, id: u64, number: u64) -> Result<(Incident, Vec<Event>), StoreError> {
    let catalog = RoleCatalog::default();
    let decide = |state: &Incident, alert: &AlertRef| {
        let command = Command::LinkAlert { alert: alert.clone(), retriggered: false };
        state.execute(command, Context { actor: by, now: now(), catalog: &catalog })
    };
    store.link_alert(id, number, &decide).await
}

async fn declare_for(store: &dyn Store, by: &Actor, id: u64) -> Result<(Incident, Vec<Event>), StoreError> {
    let catalog = RoleCatalog::default();
    let decide = |number, alert: &AlertRef| {
        let ctx = Context { actor: by, now: now(), catalog: &catalog };
        let (state, mut events) = Incident::declare(number, declaration(by), ctx)?;
        let (state, more) = state.execute(Command::LinkAlert { alert: alert.clone(), retriggered: false }, ctx)?;
        events.extend(more);
        Ok((state, events))
    };
    store.declare_for_alert(id, &decide).await
}

/// How many `alert_linked` entries for alert `id` incident `number`'s
/// timeline has.
async fn linked_entries(store: &dyn Store, number: u64, id: u64) -> usize {
    let events = store.events(number).await.unwrap();
    events.iter().filter(|e| matches!(&e.change, Change::AlertLinked { alert } if alert.id == id)).count()
}

async fn incident_count(store: &dyn Store) -> usize {
    store.incidents(&IncidentFilter { limit: 1000, ..Default::default() }).await.unwrap().len()
}

async fn two_people_linking_one_alert_to_two_incidents_at_once_link_it_to_one(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store).await;
    let (alice, bob) = (actor("alice"), actor("bob"));
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        let id = alert(&*store, s, round).await;
        let first = declare(&*store, &alice).await;
        let second = declare(&*store, &bob).await;
        let (a, b) = tokio::join!(link(&*store, &alice, id, first), link(&*store, &bob, id, second));
        for r in [&a, &b] {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::Conflict(_)), "round {round}: a loser is a conflict, not {e:?}");
            }
        }
        let winner = match (&a, &b) {
            (Ok(_), Err(_)) => Some(first),
            (Err(_), Ok(_)) => Some(second),
            _ => None,
        };
        let on_timelines = (linked_entries(&*store, first, id).await, linked_entries(&*store, second, id).await);
        let row = store.alert(id).await.unwrap().unwrap().incident;
        let expected = winner.map(|n| if n == first { (1, 0) } else { (0, 1) });
        if expected != Some(on_timelines) || row != winner {
            wrong.push(format!(
                "round {round}: link to INC-{first} {:?}, to INC-{second} {:?}; alert_linked entries {on_timelines:?}; \
                 the alert's row points at {row:?}",
                a.as_ref().map(|_| ()),
                b.as_ref().map(|_| ()),
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {ROUNDS} rounds went wrong:\n{}", wrong.len(), wrong.join("\n"));
}

async fn two_people_declaring_from_one_alert_at_once_declare_one_incident(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store).await;
    let (alice, bob) = (actor("alice"), actor("bob"));
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        let id = alert(&*store, s, round).await;
        let before = incident_count(&*store).await;
        let (a, b) = tokio::join!(declare_for(&*store, &alice, id), declare_for(&*store, &bob, id));
        for r in [&a, &b] {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::Conflict(_)), "round {round}: a loser is a conflict, not {e:?}");
            }
        }
        let declared = incident_count(&*store).await - before;
        let winner = match (&a, &b) {
            (Ok((i, _)), Err(_)) | (Err(_), Ok((i, _))) => Some(i.number),
            _ => None,
        };
        let row = store.alert(id).await.unwrap().unwrap().incident;
        let on_timeline = match winner {
            Some(n) => linked_entries(&*store, n, id).await,
            None => 0,
        };
        if winner.is_none() || declared != 1 || row != winner || on_timeline != 1 {
            let numbers =
                |r: &Result<(Incident, Vec<Event>), StoreError>| r.as_ref().map(|(i, _)| i.number).map_err(|_| ());
            wrong.push(format!(
                "round {round}: declared {:?} and {:?}; {declared} incidents more; the alert's row points at {row:?}",
                numbers(&a),
                numbers(&b),
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {ROUNDS} rounds went wrong:\n{}", wrong.len(), wrong.join("\n"));
}
