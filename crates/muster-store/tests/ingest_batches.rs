//! What the ingest path's batching relies on, on both backends: a batch
//! gives every event the outcome it would have had one at a time (repeated
//! keys, a trigger and a resolve of one key, several services, acknowledges
//! and resolves side by side), and dedup is exactly-once when batches from
//! two store instances on one database commit side by side.

use std::sync::Arc;

use muster_domain::alert::{AlertAction, AlertStatus, Severity};
use muster_domain::page::PageState;
use muster_domain::paging::{EscalationPolicy, Step, Target};
use muster_domain::{Handle, Priority, Timestamp};
use muster_store::testing::TestDatabase;
use muster_store::{AlertFilter, IncidentFilter, IngestEvent, IngestOutcome, PageFilter, Store};

use muster_store::on_both_backends;

mod common;
use common::event;

on_both_backends!(
    a_batch_gives_each_event_the_outcome_it_has_one_at_a_time,
    a_trigger_and_a_resolve_of_one_key_in_one_batch_resolve_the_alert_the_trigger_opened,
    the_same_key_on_two_services_in_one_batch_makes_two_alerts,
    acknowledges_and_resolves_in_one_batch_each_move_their_own_alert_and_write_its_incident,
    resolving_a_paged_alert_in_a_batch_cancels_its_page_and_leaves_the_others,
    batches_from_two_instances_side_by_side_count_every_event_once,
);

fn now() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

async fn owner(store: &dyn Store) -> Handle {
    common::owner(store, now()).await
}

async fn service(store: &dyn Store, n: u8, auto: &[(Severity, Priority)], policy: Option<u64>) -> u64 {
    common::service(store, &format!("service-{n}"), n, auto, policy, now()).await
}

fn trigger(service: u64, dedup: &str) -> IngestEvent {
    event(service, AlertAction::Trigger, dedup, Severity::Warning)
}

fn resolve(service: u64, dedup: &str) -> IngestEvent {
    event(service, AlertAction::Resolve, dedup, Severity::Warning)
}

fn acknowledge(service: u64, dedup: &str) -> IngestEvent {
    event(service, AlertAction::Acknowledge, dedup, Severity::Warning)
}

/// What an outcome says, with its alert named by its key and its place
/// among that key's alerts (ids are numbered per batch, so they may
/// differ between a batch and the same events one at a time), and the
/// alert as it ended up.
async fn described(store: &dyn Store, o: &IngestOutcome) -> String {
    let Some(id) = o.alert else { return format!("no alert, count {}", o.count) };
    let a = store.alert(id).await.unwrap().unwrap();
    let earlier = store
        .alerts(&AlertFilter { service: Some(a.service), limit: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.dedup_key == a.dedup_key && b.id < a.id)
        .count();
    format!(
        "{}#{earlier} on {}: count {} (now {} {:?}), incident {:?}, declared {}",
        a.dedup_key, a.service_name, o.count, a.count, a.status, o.incident, o.declared
    )
}

async fn a_batch_gives_each_event_the_outcome_it_has_one_at_a_time(db: TestDatabase) {
    let other = TestDatabase::new(db.backend).await.unwrap();
    let (batched, single) = (db.open().await, other.open().await);
    let mut events = Vec::new();
    for store in [&batched, &single] {
        let a = service(&**store, 1, &[(Severity::Critical, Priority::P2)], None).await;
        let b = service(&**store, 2, &[], None).await;
        let crit = |s, k| event(s, AlertAction::Trigger, k, Severity::Critical);
        events = vec![
            trigger(a, "k"),
            trigger(b, "k"),
            trigger(a, "j"),
            trigger(a, "k"),
            acknowledge(a, "k"),
            trigger(a, "k"),
            resolve(a, "k"),
            resolve(a, "k"),
            acknowledge(b, "nothing"),
            trigger(a, "k"),
            crit(a, "storm"),
            crit(a, "storm"),
            trigger(b, "j"),
            resolve(a, "storm"),
            resolve(b, "k"),
            crit(a, "storm"),
            acknowledge(b, "j"),
            acknowledge(b, "j"),
        ];
    }
    let together = batched.ingest(&events, now()).await.unwrap();
    let mut one_by_one = Vec::new();
    for e in &events {
        one_by_one.extend(single.ingest(std::slice::from_ref(e), now()).await.unwrap());
    }
    assert_eq!(together.len(), events.len());
    for (i, (t, o)) in together.iter().zip(&one_by_one).enumerate() {
        assert_eq!(described(&*batched, t).await, described(&*single, o).await, "event {i}: {:?}", events[i].action);
    }
    let incidents = |s: Arc<dyn Store>| async move {
        let found = s.incidents(&IncidentFilter { limit: 10, ..Default::default() }).await.unwrap();
        let mut kinds = Vec::new();
        for i in &found {
            let events = s.events(i.number).await.unwrap();
            kinds.push(events.iter().map(|e| e.change.kind().to_owned()).collect::<Vec<_>>());
        }
        kinds
    };
    let (a, b) = (incidents(batched.clone()).await, incidents(single.clone()).await);
    assert_eq!(a.len(), 1, "one critical storm declared one incident: {a:?}");
    assert_eq!(a, b, "the incident's timeline is the same whether its events came in a batch or one at a time");
}

async fn a_trigger_and_a_resolve_of_one_key_in_one_batch_resolve_the_alert_the_trigger_opened(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, 1, &[], None).await;
    let out = store.ingest(&[trigger(s, "k"), resolve(s, "k"), trigger(s, "k")], now()).await.unwrap();
    assert_eq!(out[0].count, 1);
    assert_eq!(out[1].alert, out[0].alert, "the resolve found the alert the trigger before it opened");
    assert_ne!(out[2].alert, out[0].alert, "a trigger after the resolve opens a new alert");
    assert_eq!(out[2].count, 1);
    let first = store.alert(out[0].alert.unwrap()).await.unwrap().unwrap();
    assert_eq!(first.status, AlertStatus::Resolved);
    assert_eq!(first.resolved_at, Some(now()));
    let second = store.alert(out[2].alert.unwrap()).await.unwrap().unwrap();
    assert_eq!(second.status, AlertStatus::Triggered);
}

async fn the_same_key_on_two_services_in_one_batch_makes_two_alerts(db: TestDatabase) {
    let store = db.open().await;
    let (a, b) = (service(&*store, 1, &[], None).await, service(&*store, 2, &[], None).await);
    let out = store
        .ingest(&[trigger(a, "disk"), trigger(b, "disk"), trigger(a, "disk"), resolve(b, "disk")], now())
        .await
        .unwrap();
    assert_ne!(out[0].alert, out[1].alert);
    assert_eq!((out[2].alert, out[2].count), (out[0].alert, 2));
    assert_eq!(out[3].alert, out[1].alert, "the resolve is of its own service's alert");
    let on_a = store.alert(out[0].alert.unwrap()).await.unwrap().unwrap();
    let on_b = store.alert(out[1].alert.unwrap()).await.unwrap().unwrap();
    assert_eq!((on_a.service, on_a.status, on_a.count), (a, AlertStatus::Triggered, 2));
    assert_eq!((on_b.service, on_b.status, on_b.count), (b, AlertStatus::Resolved, 1));
}

async fn acknowledges_and_resolves_in_one_batch_each_move_their_own_alert_and_write_its_incident(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, 1, &[(Severity::Critical, Priority::P2)], None).await;
    let crit = |k| event(s, AlertAction::Trigger, k, Severity::Critical);
    let opened = store.ingest(&[crit("db"), trigger(s, "cache"), trigger(s, "queue")], now()).await.unwrap();
    let number = opened[0].incident.expect("the critical alert declared");
    let out = store
        .ingest(
            &[acknowledge(s, "db"), resolve(s, "cache"), acknowledge(s, "queue"), resolve(s, "db"), resolve(s, "none")],
            now(),
        )
        .await
        .unwrap();
    let alerts: Vec<Option<u64>> = out.iter().map(|o| o.alert).collect();
    assert_eq!(alerts, [opened[0].alert, opened[1].alert, opened[2].alert, opened[0].alert, None]);
    assert_eq!(out[0].incident, Some(number));
    assert_eq!(out[3].incident, Some(number));
    let status = |id: Option<u64>| {
        let store = store.clone();
        async move { store.alert(id.unwrap()).await.unwrap().unwrap().status }
    };
    assert_eq!(status(opened[0].alert).await, AlertStatus::Resolved, "acknowledged, then resolved");
    assert_eq!(status(opened[1].alert).await, AlertStatus::Resolved);
    assert_eq!(status(opened[2].alert).await, AlertStatus::Acknowledged);
    let kinds: Vec<String> = store.events(number).await.unwrap().iter().map(|e| e.change.kind().to_owned()).collect();
    assert!(kinds.ends_with(&["alert_acknowledged".into(), "alert_resolved".into()]), "{kinds:?}");
}

async fn resolving_a_paged_alert_in_a_batch_cancels_its_page_and_leaves_the_others(db: TestDatabase) {
    let store = db.open().await;
    let person = owner(&*store).await;
    let policy = EscalationPolicy {
        name: "owner first".into(),
        repeat: 0,
        steps: vec![Step { delay_seconds: 300, targets: vec![Target::User(person)] }],
    };
    let policy = store.create_policy(&policy, now()).await.unwrap().id;
    let s = service(&*store, 1, &[], Some(policy)).await;
    let opened = store.ingest(&[trigger(s, "a"), trigger(s, "b"), trigger(s, "c")], now()).await.unwrap();
    let page_of = |alert: Option<u64>| {
        let store = store.clone();
        async move {
            let found = store
                .pages(&PageFilter { alert: Some(alert.unwrap()), limit: 10, ..Default::default() })
                .await
                .unwrap();
            assert_eq!(found.len(), 1, "one page per new alert");
            found[0].state
        }
    };
    assert_eq!(page_of(opened[0].alert).await, PageState::Pending);
    assert!(opened.iter().all(|o| o.enqueued), "each new alert's page step is in the outbox: {opened:?}");
    let moved = store.ingest(&[resolve(s, "a"), trigger(s, "b"), acknowledge(s, "c")], now()).await.unwrap();
    assert!(moved.iter().all(|o| !o.enqueued), "closing pages and a repeat add no job: {moved:?}");
    assert_eq!(page_of(opened[0].alert).await, PageState::Cancelled);
    assert_eq!(page_of(opened[1].alert).await, PageState::Pending, "a repeat pages nobody again");
    assert_eq!(page_of(opened[2].alert).await, PageState::Cancelled, "acknowledged by its monitoring");
}

async fn batches_from_two_instances_side_by_side_count_every_event_once(db: TestDatabase) {
    // Two stores on one database, as two servers are; each sends batches
    // of the same keys, in orders of their own, all at once.
    let (first, second) = (db.open().await, db.open().await);
    let s = service(&*first, 1, &[(Severity::Critical, Priority::P2)], None).await;
    let keys: Vec<String> = (0..20).map(|k| format!("key-{k}")).collect();
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (n, store) in [&first, &second].into_iter().enumerate() {
            let store = store.clone();
            let mut batch: Vec<IngestEvent> =
                keys.iter().map(|k| event(s, AlertAction::Trigger, k, Severity::Critical)).collect();
            batch.rotate_left((round * 7 + n * 3) % keys.len());
            if n == 1 {
                batch.reverse();
            }
            tasks.push(tokio::spawn(async move { store.ingest(&batch, now()).await.unwrap() }));
        }
    }
    let mut declared = 0;
    for t in tasks {
        declared += t.await.unwrap().iter().filter(|o| o.declared).count();
    }
    let alerts = first.alerts(&AlertFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(alerts.len(), keys.len(), "one alert per key");
    assert!(
        alerts.iter().all(|a| a.count == 16),
        "every event counted once: {:?}",
        alerts.iter().map(|a| a.count).collect::<Vec<_>>()
    );
    let incidents = first.incidents(&IncidentFilter { limit: 100, ..Default::default() }).await.unwrap();
    // Twenty new alerts of one service are a storm: one incident (its
    // group's), declared once, holds them all.
    assert_eq!((declared, incidents.len()), (1, 1), "a storm on one service declares one incident");
    assert!(alerts.iter().all(|a| a.incident == Some(incidents[0].number)));
}
