//! The outbox on both backends: idempotent enqueue, leases, the ledger,
//! and concurrent claims that never hand out the same job twice.

use std::collections::HashSet;
use std::sync::Arc;

use muster_domain::Timestamp;
use muster_store::testing::TestDatabase;
use muster_store::{NewJob, Store};
use serde_json::json;

use muster_store::on_both_backends;

on_both_backends!(
    a_job_is_leased_retried_and_once_done_never_claimed_again,
    concurrent_claims_never_share_a_job,
    another_instance_hears_of_a_committed_job,
    another_instance_hears_of_new_timeline_entries,
);

fn at(s: u64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + s as i64).unwrap()
}

fn job(key: &str, due: u64) -> NewJob {
    NewJob {
        kind: "webhook".into(),
        payload: json!({"k": key}),
        idempotency_key: key.into(),
        due_at: at(due),
        page: None,
    }
}

async fn a_job_is_leased_retried_and_once_done_never_claimed_again(db: TestDatabase) {
    let store = db.open().await;
    let id = store.enqueue_job(&job("a", 10), at(0)).await.unwrap();
    assert_eq!(store.enqueue_job(&job("a", 10), at(0)).await.unwrap(), id, "one job per idempotency key");
    assert_eq!(store.next_job_due().await.unwrap(), Some(at(10)));
    assert!(store.claim_jobs(at(9), at(39), 10).await.unwrap().is_empty(), "not due yet");
    let claimed = store.claim_jobs(at(10), at(40), 10).await.unwrap();
    assert_eq!((claimed.len(), claimed[0].attempts, claimed[0].payload["k"].as_str()), (1, 1, Some("a")));
    assert!(store.claim_jobs(at(20), at(50), 10).await.unwrap().is_empty(), "leased");
    let again = store.claim_jobs(at(40), at(70), 10).await.unwrap();
    assert_eq!(again[0].attempts, 2, "an expired lease (a crashed worker) is claimed again");
    assert!(!store.finish_job(id, at(40), at(41)).await.unwrap(), "the first worker's lease is gone");
    assert!(!store.retry_job(id, at(40), at(41), "late").await.unwrap());
    assert!(store.job_status(id).await.unwrap().unwrap().done_at.is_none(), "a lost lease records nothing");
    assert!(store.retry_job(id, at(70), at(100), "503 from the receiver").await.unwrap());
    assert_eq!(store.job_status(id).await.unwrap().unwrap().last_error.as_deref(), Some("503 from the receiver"));
    assert!(store.claim_jobs(at(99), at(129), 10).await.unwrap().is_empty());
    assert_eq!(store.claim_jobs(at(100), at(130), 10).await.unwrap().len(), 1);
    assert!(store.finish_job(id, at(130), at(101)).await.unwrap());
    assert!(!store.finish_job(id, at(130), at(102)).await.unwrap(), "done once");
    assert!(store.claim_jobs(at(10_000), at(10_030), 10).await.unwrap().is_empty(), "done is done");
    assert_eq!(store.next_job_due().await.unwrap(), None);
    let status = store.job_status(id).await.unwrap().unwrap();
    assert_eq!((status.attempts, status.done_at), (3, Some(at(101))));
}

async fn concurrent_claims_never_share_a_job(db: TestDatabase) {
    let store: Arc<dyn Store> = db.open().await;
    for i in 0..200 {
        store.enqueue_job(&job(&format!("j{i}"), 0), at(0)).await.unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store.claim_jobs(at(1), at(1000), 7).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 200);
}

/// PostgreSQL: an instance listening (`LISTEN muster_jobs`) is woken when
/// another commits a job. SQLite has one instance and says it cannot listen.
async fn another_instance_hears_of_a_committed_job(db: TestDatabase) {
    let (listening, other) = (db.open().await, db.open().await);
    let heard = Arc::new(tokio::sync::Notify::new());
    let wake = heard.clone();
    let listens = listening.listen_for_jobs(Arc::new(move || wake.notify_one())).await.unwrap();
    assert_eq!(listens, db.backend == muster_store::testing::Backend::Postgres);
    if !listens {
        return;
    }
    other.enqueue_job(&job("from-the-other-instance", 0), at(0)).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), heard.notified())
        .await
        .expect("the listener was woken by the other instance's commit");
}

/// PostgreSQL: live views on one instance wake when another commits
/// timeline entries (`LISTEN muster_incidents`).
async fn another_instance_hears_of_new_timeline_entries(db: TestDatabase) {
    use muster_domain::incident::{Context, Declaration};
    use muster_domain::{Actor, Handle, Incident, Permission, Priority, RoleCatalog};
    let (listening, other) = (db.open().await, db.open().await);
    let heard = Arc::new(tokio::sync::Notify::new());
    let wake = heard.clone();
    let listens = listening.listen_for_incidents(Arc::new(move || wake.notify_one())).await.unwrap();
    assert_eq!(listens, db.backend == muster_store::testing::Backend::Postgres);
    if !listens {
        return;
    }
    let alice = Actor { handle: Handle::parse("alice").unwrap(), permission: Permission::Responder };
    let catalog = RoleCatalog::default();
    let decide = |number: u64| {
        let d = Declaration {
            title: "x".into(),
            summary: String::new(),
            priority: Priority::P2,
            incident_manager: alice.clone(),
        };
        Incident::declare(number, d, Context { actor: &alice, now: at(0), catalog: &catalog })
    };
    other.declare_incident(&decide).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), heard.notified())
        .await
        .expect("the listener was woken by the other instance's timeline entries");
}
