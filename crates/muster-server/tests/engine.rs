//! The delivery engine with a real HTTP receiver, on both backends: signed
//! webhooks, retries honouring Retry-After with an injected clock, and a
//! delivery recorded as done is never sent again.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::external::eventually;
use common::receiver::Receiver;
use common::{ADMIN_TOKEN, ManualClock, TestServer};
use muster_app::channels::webhook::signature;
use muster_app::{App, Clock, Config};
use muster_domain::outbox::{Job, Webhook};
use muster_store::NewJob;
use muster_store::testing::TestDatabase;
use serde_json::{Value, json};

on_both_backends!(setup = crate::common::receivers_setup; a_test_notification_reaches_the_webhook_signed_with_its_secret);

async fn a_test_notification_reaches_the_webhook_signed_with_its_secret(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let method =
        server.post(&alice, "/api/v1/users/alice/contact-methods", json!({"kind": "webhook", "address": url})).await;
    let (id, secret) = (method.ok(201)["id"].clone(), method.body["secret"].as_str().unwrap().to_owned());
    let sent = server.post(&alice, &format!("/api/v1/users/alice/contact-methods/{id}/test"), json!({})).await;
    sent.ok(202);

    eventually(Duration::from_secs(10), "the webhook delivery", || async { (receiver.count() > 0).then_some(()) })
        .await;
    let (headers, body) = receiver.got.lock().unwrap()[0].clone();
    let ts: i64 = headers["x-muster-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        headers["x-muster-signature"].to_str().unwrap(),
        signature(&secret, ts, &body),
        "signed with the secret"
    );
    assert_ne!(signature("another secret", ts, &body), signature(&secret, ts, &body));
    assert!(headers["idempotency-key"].to_str().unwrap().starts_with("test-"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((body["type"].as_str(), body["user"].as_str()), (Some("test"), Some("alice")));

    let mail = server
        .post(&alice, "/api/v1/users/alice/contact-methods", json!({"kind": "email", "address": "a@example.com"}))
        .await;
    let mail_id = mail.ok(201)["id"].clone();
    // Mail is accepted into the outbox (this server has no SMTP server, so it waits there; see mail.rs).
    server.post(&alice, &format!("/api/v1/users/alice/contact-methods/{mail_id}/test"), json!({})).await.ok(202);
    server.post(&alice, "/api/v1/users/alice/contact-methods/999/test", json!({})).await.problem(404);
    server.user("bob", "responder").await;
    server.post(ADMIN_TOKEN, &format!("/api/v1/users/alice/contact-methods/{id}/test"), json!({})).await.ok(202);
}

async fn retries_honour_retry_after_and_a_delivered_job_is_never_sent_again(db: TestDatabase) {
    let store = db.open().await;
    let clock = ManualClock::at("2026-11-27T10:00:00Z");
    let config = common::allowing_receivers(Config { run_engine: false, ..Config::default() });
    let app = App::with_config(store.clone(), clock.clone(), config).unwrap();
    let engine = app.engine.clone();
    let (receiver, url) = Receiver::start(vec![StatusCode::SERVICE_UNAVAILABLE]).await;
    let job = NewJob {
        job: Job::Webhook(Webhook {
            contact_method: None,
            to: url,
            for_page: None,
            for_bundle: None,
            body: json!({"hello": "world"}),
            legacy_secret: None,
            ..Webhook::default()
        }),
        idempotency_key: "page-1-step-0".into(),
        due_at: clock.now(),
    };
    let id = store.enqueue_job(&job, clock.now()).await.unwrap();

    assert_eq!(engine.run_due().await.unwrap(), 1);
    assert_eq!(receiver.count(), 1);
    let status = store.job_status(id).await.unwrap().unwrap();
    assert!(status.done_at.is_none() && status.last_error.unwrap().contains("503"));
    clock.advance(29);
    assert_eq!(engine.run_due().await.unwrap(), 0, "Retry-After: 30 is honoured");
    clock.advance(1);
    assert_eq!(engine.run_due().await.unwrap(), 1);
    assert_eq!(receiver.count(), 2);
    assert!(store.job_status(id).await.unwrap().unwrap().done_at.is_some());
    clock.advance(3600);
    assert_eq!(engine.run_due().await.unwrap(), 0, "done is never delivered again");
    let keys: Vec<String> =
        receiver.got.lock().unwrap().iter().map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_owned()).collect();
    assert_eq!(keys, ["page-1-step-0", "page-1-step-0"], "every attempt carries the same key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retries_honour_retry_after_and_a_delivered_job_is_never_sent_again() {
    let db = TestDatabase::new(muster_store::testing::Backend::Sqlite).await.unwrap();
    retries_honour_retry_after_and_a_delivered_job_is_never_sent_again(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retries_honour_retry_after_and_a_delivered_job_is_never_sent_again() {
    if let Some(db) = TestDatabase::new(muster_store::testing::Backend::Postgres).await {
        retries_honour_retry_after_and_a_delivered_job_is_never_sent_again(db).await;
    }
}

/// The ingest task and the engine, on the store of both backends.
mod ingest_wakes {
    use std::sync::Arc;

    use muster_app::Clock;
    use muster_store::testing::TestDatabase;
    use serde_json::json;

    use super::ManualClock;

    muster_store::on_both_backends!(a_batch_that_pages_wakes_the_engine_and_one_that_adds_no_job_does_not);

    /// The engine sleeps until its next job is due; an alert whose service pages
    /// puts a job in the outbox, so the ingest task must wake the engine after
    /// committing a batch that paged (and only then: a storm of alerts that
    /// page nobody would otherwise send the engine to look after every batch).
    async fn a_batch_that_pages_wakes_the_engine_and_one_that_adds_no_job_does_not(db: TestDatabase) {
        use muster_app::ingest::{Ingestor, RateLimit};
        use muster_domain::alert::{AlertAction, DedupKey, Severity};
        use muster_domain::paging::{EscalationPolicy, Step, Target};
        use muster_store::{IngestEvent, NewService};
        use std::sync::atomic::{AtomicUsize, Ordering};

        let store = db.open().await;
        let clock = ManualClock::at("2026-11-27T10:00:00Z");
        let person = muster_domain::Handle::parse("alice").unwrap();
        let alice = muster_store::NewUser {
            handle: person.clone(),
            name: "Alice".into(),
            email: "alice@example.com".into(),
            permission: muster_domain::Permission::Responder,
            time_zone: None,
        };
        store.create_user(&alice, clock.now()).await.unwrap();
        let policy = EscalationPolicy {
            name: "alice".into(),
            repeat: 0,
            steps: vec![Step { delay_seconds: 300, targets: vec![Target::User(person)] }],
        };
        let policy = store.create_policy(&policy, clock.now()).await.unwrap().id;
        let service = |name: &str, key: u8, escalation_policy| NewService {
            name: name.into(),
            description: String::new(),
            owner: None,
            integration_key: muster_domain::alert::IntegrationKey::from_bytes([key; 16]),
            auto_declare: Default::default(),
            escalation_policy,
        };
        let paging = store.create_service(&service("web", 7, Some(policy)), clock.now()).await.unwrap().id;
        let quiet = store.create_service(&service("batch", 8, None), clock.now()).await.unwrap().id;
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = wakes.clone();
        let ingestor = Ingestor::spawn(
            store,
            clock,
            RateLimit::default(),
            Arc::new(move |_: &[IngestEvent], outcomes: &[muster_store::IngestOutcome]| {
                if muster_app::ingest::wakes_engine(outcomes) {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }),
        );
        let event = |service, action| IngestEvent {
            service,
            action,
            dedup_key: DedupKey::parse("disk-full").unwrap(),
            summary: "disk full".into(),
            severity: Severity::Error,
            source: "db-1".into(),
            details: json!({}),
            links: json!([]),
        };
        let woken = || wakes.load(Ordering::SeqCst);
        let first = ingestor.ingest(event(paging, AlertAction::Trigger)).await.unwrap();
        assert!(first.enqueued, "{first:?}");
        assert_eq!(woken(), 1, "a new alert that pages wakes the engine");
        let repeat = ingestor.ingest(event(paging, AlertAction::Trigger)).await.unwrap();
        ingestor.ingest(event(paging, AlertAction::Acknowledge)).await.unwrap();
        assert!(!repeat.enqueued && repeat.count == 2, "{repeat:?}");
        assert_eq!(woken(), 1, "a repeat or an acknowledgement adds no job");
        let unpaged = ingestor.ingest(event(quiet, AlertAction::Trigger)).await.unwrap();
        assert!(unpaged.alert.is_some() && unpaged.count == 1 && !unpaged.enqueued, "{unpaged:?}");
        assert_eq!(woken(), 1, "a new alert on a service that pages nobody adds no job");
    }
}
