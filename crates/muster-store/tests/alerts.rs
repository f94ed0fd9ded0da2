//! Alert storage on both backends: dedup, acknowledge, resolve, auto-declare,
//! alerts firing again, change events.

use std::sync::Arc;

use muster_domain::alert::{AlertAction, AlertStatus, AutoDeclare, IntegrationKey, Severity};
use muster_domain::timeline::verify_chain;
use muster_domain::{Actor, Handle, Permission, Priority, Timestamp};
use muster_store::testing::TestDatabase;
use muster_store::{ChangeEvent, NewService, Store, StoreError};
use serde_json::json;

use muster_store::on_both_backends;

mod common;
use common::event;

on_both_backends!(
    repeated_triggers_make_one_alert_with_a_count,
    acknowledge_and_resolve_touch_the_open_alert_only,
    two_hundred_concurrent_triggers_make_one_alert_and_at_most_one_incident,
    an_alert_firing_again_after_resolving_joins_its_incident,
    a_change_event_lands_on_the_open_incidents_of_its_service,
    service_names_and_keys_are_unique,
    a_batch_keeps_the_order_events_arrived_in,
);

fn now() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn key(n: u8) -> IntegrationKey {
    IntegrationKey::from_bytes([n; 16])
}

async fn service(store: &dyn Store, auto: &[(Severity, Priority)]) -> u64 {
    common::service(store, "checkout", 1, auto, None, now()).await
}

async fn repeated_triggers_make_one_alert_with_a_count(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, &[]).await;
    let e = event(s, AlertAction::Trigger, "disk-db-1", Severity::Critical);
    let out = store.ingest(&[e.clone(), e.clone(), e], now()).await.unwrap();
    assert_eq!(out.iter().map(|o| o.count).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(out.iter().all(|o| o.alert == out[0].alert && o.incident.is_none()));
    let alert = store.alert(out[0].alert.unwrap()).await.unwrap().unwrap();
    assert_eq!((alert.count, alert.status, alert.service_name.as_str()), (3, AlertStatus::Triggered, "checkout"));
}

async fn acknowledge_and_resolve_touch_the_open_alert_only(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, &[]).await;
    let none = store.ingest(&[event(s, AlertAction::Resolve, "k", Severity::Error)], now()).await.unwrap();
    assert_eq!(none[0].alert, None, "nothing open: accepted and ignored");
    let first = store.ingest(&[event(s, AlertAction::Trigger, "k", Severity::Error)], now()).await.unwrap()[0].alert;
    store.ingest(&[event(s, AlertAction::Acknowledge, "k", Severity::Error)], now()).await.unwrap();
    assert_eq!(store.alert(first.unwrap()).await.unwrap().unwrap().status, AlertStatus::Acknowledged);
    store.ingest(&[event(s, AlertAction::Resolve, "k", Severity::Error)], now()).await.unwrap();
    let resolved = store.alert(first.unwrap()).await.unwrap().unwrap();
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert!(resolved.resolved_at.is_some());
    let again = store.ingest(&[event(s, AlertAction::Trigger, "k", Severity::Error)], now()).await.unwrap();
    assert_ne!(again[0].alert, first, "a trigger after resolve opens a new alert");
    assert_eq!(again[0].count, 1);
}

async fn two_hundred_concurrent_triggers_make_one_alert_and_at_most_one_incident(db: TestDatabase) {
    let store: Arc<dyn Store> = db.open().await;
    let s = service(&*store, &[(Severity::Critical, Priority::P1)]).await;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store.ingest(&[event(s, AlertAction::Trigger, "fp-1", Severity::Critical)], now()).await.unwrap()
            })
        })
        .collect();
    let mut declared = 0;
    for t in tasks {
        declared += t.await.unwrap().iter().filter(|o| o.declared).count();
    }
    assert_eq!(declared, 1);
    let alerts = store.alerts(&muster_store::AlertFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, 200);
    let incidents = store.incidents(&muster_store::IncidentFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(alerts[0].incident, Some(incidents[0].number));
    let im = incidents[0].incident_manager().unwrap();
    assert_eq!(im.user.as_str(), "owner", "the service owner is first responder and incident manager");
    assert_eq!(incidents[0].alerts.len(), 1);
}

async fn an_alert_firing_again_after_resolving_joins_its_incident(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, &[(Severity::Critical, Priority::P2)]).await;
    let first = store.ingest(&[event(s, AlertAction::Trigger, "fp", Severity::Critical)], now()).await.unwrap();
    let number = first[0].incident.unwrap();
    store.ingest(&[event(s, AlertAction::Resolve, "fp", Severity::Critical)], now()).await.unwrap();
    let incident = store.incident(number).await.unwrap().unwrap();
    assert!(incident.all_alerts_resolved(), "a hint, not a resolution");
    assert_eq!(incident.status, muster_domain::Status::Investigating);

    let again = store.ingest(&[event(s, AlertAction::Trigger, "fp", Severity::Critical)], now()).await.unwrap();
    assert_eq!(again[0].incident, Some(number));
    assert!(!again[0].declared, "no second incident");
    let events = store.events(number).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.change.kind()).collect();
    assert!(kinds.ends_with(&["alert_resolved", "alert_retriggered"]), "{kinds:?}");
    assert_eq!(verify_chain(&events), Ok(()));
    assert_eq!(store.alerts_of_incident(number).await.unwrap().len(), 2);
}

async fn a_change_event_lands_on_the_open_incidents_of_its_service(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, &[(Severity::Error, Priority::P2)]).await;
    let out = store.ingest(&[event(s, AlertAction::Trigger, "5xx", Severity::Error)], now()).await.unwrap();
    let change = ChangeEvent {
        service: s,
        summary: "deploy v1.2".into(),
        source: Some("ci".into()),
        at: None,
        details: json!({}),
        links: json!([]),
    };
    let touched = store.record_change(&change, now()).await.unwrap();
    assert_eq!(touched, vec![out[0].incident.unwrap()]);
    let last = store.events(touched[0]).await.unwrap().pop().unwrap();
    assert_eq!(last.text(), "Change on checkout from ci: deploy v1.2");

    let actor = Actor { handle: Handle::parse("owner").unwrap(), permission: Permission::Responder };
    let acked = store.set_alert_status(out[0].alert.unwrap(), AlertStatus::Acknowledged, &actor, now()).await.unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    let last = store.events(touched[0]).await.unwrap().pop().unwrap();
    assert_eq!(last.change.kind(), "alert_acknowledged");
    assert_eq!(last.actor.as_str(), "owner");
}

async fn service_names_and_keys_are_unique(db: TestDatabase) {
    let store = db.open().await;
    service(&*store, &[]).await;
    let again = NewService {
        name: "checkout".into(),
        description: String::new(),
        owner: None,
        integration_key: key(2),
        auto_declare: AutoDeclare::default(),
        escalation_policy: None,
    };
    assert!(matches!(store.create_service(&again, now()).await, Err(StoreError::Conflict(_))));
    assert!(store.service_by_key(key(1).as_str()).await.unwrap().is_some());
    assert!(store.service_by_key(key(3).as_str()).await.unwrap().is_none());
}

async fn a_batch_keeps_the_order_events_arrived_in(db: TestDatabase) {
    let store = db.open().await;
    let s = service(&*store, &[(Severity::Critical, Priority::P1)]).await;
    let t = |k: &str| event(s, AlertAction::Trigger, k, Severity::Warning);
    let batch = [
        t("k"),
        t("j"),
        t("k"),
        event(s, AlertAction::Resolve, "k", Severity::Warning),
        t("k"),
        event(s, AlertAction::Trigger, "storm", Severity::Critical),
        event(s, AlertAction::Trigger, "storm", Severity::Critical),
    ];
    let out = store.ingest(&batch, now()).await.unwrap();
    let counts: Vec<u64> = out.iter().map(|o| o.count).collect();
    assert_eq!(counts, [1, 1, 2, 2, 1, 1, 2]);
    assert_eq!(out[0].alert, out[2].alert);
    assert_eq!(out[3].alert, out[0].alert, "the resolve touched the open alert");
    assert_ne!(out[4].alert, out[0].alert, "a trigger after the resolve opened a new one");
    assert_eq!(out.iter().filter(|o| o.declared).count(), 1);
    assert!(out[5].declared && out[6].incident == out[5].incident);
    let first = store.alert(out[0].alert.unwrap()).await.unwrap().unwrap();
    assert_eq!((first.status, first.count), (AlertStatus::Resolved, 2));
}
