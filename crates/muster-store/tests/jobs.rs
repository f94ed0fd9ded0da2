//! The outbox on both backends: idempotent enqueue, leases, the ledger,
//! and concurrent claims that never hand out the same job twice.

use std::collections::HashSet;
use std::sync::Arc;

use muster_domain::Timestamp;
use muster_domain::outbox::{Email, Job, Lane};
use muster_store::testing::TestDatabase;
use muster_store::{JobFilter, JobState};
use muster_store::{NewJob, Store};

use muster_store::on_both_backends;

on_both_backends!(
    a_job_is_leased_retried_and_once_done_never_claimed_again,
    concurrent_claims_never_share_a_job,
    each_lane_is_claimed_on_its_own,
    a_buried_job_is_never_claimed_again_and_is_listed_as_dead,
    another_instance_hears_of_a_committed_job,
    another_instance_hears_of_new_timeline_entries,
    a_batch_of_deliveries_records_each_job_held_under_its_lease_once,
);

fn at(s: u64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + s as i64).unwrap()
}

/// A job outside the paging lane (a mail to `key`).
fn job(key: &str, due: u64) -> NewJob {
    let mail = Email {
        to: key.into(),
        subject: "s".into(),
        text: "t".into(),
        for_page: None,
        for_bundle: None,
        contact_method: None,
        ..Email::default()
    };
    NewJob { job: Job::Email(mail), idempotency_key: key.into(), due_at: at(due) }
}

/// A page step's timer: the paging lane.
fn step(page: u64, due: u64) -> NewJob {
    NewJob { job: Job::PageStep { page, step: 0 }, idempotency_key: format!("step-{page}"), due_at: at(due) }
}

async fn a_job_is_leased_retried_and_once_done_never_claimed_again(db: TestDatabase) {
    let store = db.open().await;
    let id = store.enqueue_job(&job("a", 10), at(0)).await.unwrap();
    assert_eq!(store.enqueue_job(&job("a", 10), at(0)).await.unwrap(), id, "one job per idempotency key");
    assert_eq!(store.next_job_due(&Lane::ALL).await.unwrap(), Some(at(10)));
    assert!(store.claim_jobs(Lane::Other, at(9), at(39), 10).await.unwrap().is_empty(), "not due yet");
    let claimed = store.claim_jobs(Lane::Other, at(10), at(40), 10).await.unwrap();
    assert_eq!((claimed.len(), claimed[0].attempts), (1, 1));
    assert_eq!(claimed[0].job, Ok(job("a", 10).job), "the job reads back as it was written");
    assert!(store.claim_jobs(Lane::Other, at(20), at(50), 10).await.unwrap().is_empty(), "leased");
    let again = store.claim_jobs(Lane::Other, at(40), at(70), 10).await.unwrap();
    assert_eq!(again[0].attempts, 2, "an expired lease (a crashed worker) is claimed again");
    assert!(!store.finish_job(id, at(40), at(41)).await.unwrap(), "the first worker's lease is gone");
    assert!(!store.retry_job(id, at(40), at(41), "late").await.unwrap());
    assert!(store.job_status(id).await.unwrap().unwrap().done_at.is_none(), "a lost lease records nothing");
    assert!(store.retry_job(id, at(70), at(100), "503 from the receiver").await.unwrap());
    assert_eq!(store.job_status(id).await.unwrap().unwrap().last_error.as_deref(), Some("503 from the receiver"));
    assert!(store.claim_jobs(Lane::Other, at(99), at(129), 10).await.unwrap().is_empty());
    assert_eq!(store.claim_jobs(Lane::Other, at(100), at(130), 10).await.unwrap().len(), 1);
    assert!(store.finish_job(id, at(130), at(101)).await.unwrap());
    assert!(!store.finish_job(id, at(130), at(102)).await.unwrap(), "done once");
    assert!(store.claim_jobs(Lane::Other, at(10_000), at(10_030), 10).await.unwrap().is_empty(), "done is done");
    assert_eq!(store.next_job_due(&Lane::ALL).await.unwrap(), None);
    let status = store.job_status(id).await.unwrap().unwrap();
    assert_eq!((status.attempts, status.done_at), (3, Some(at(101))));
}

async fn a_batch_of_deliveries_records_each_job_held_under_its_lease_once(db: TestDatabase) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for key in ["held", "lost", "done", "twice"] {
        ids.push(store.enqueue_job(&job(key, 10), at(0)).await.unwrap());
    }
    let claimed = store.claim_jobs(Lane::Other, at(10), at(40), 10).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let (held, lost, done, twice) = (ids[0], ids[1], ids[2], ids[3]);
    assert!(store.finish_job(done, at(40), at(11)).await.unwrap());
    let recorded = store
        .finish_jobs(&[
            (held, at(40), at(12)),
            (lost, at(39), at(12)),
            (done, at(40), at(12)),
            (twice, at(40), at(12)),
            (twice, at(40), at(13)),
        ])
        .await
        .unwrap();
    assert_eq!(
        recorded,
        [true, false, false, true, false],
        "held: recorded; lost: another lease; done: already; twice: once"
    );
    let status = |id| {
        let store = store.clone();
        async move { store.job_status(id).await.unwrap().unwrap().done_at }
    };
    assert_eq!(status(held).await, Some(at(12)));
    assert_eq!(status(lost).await, None, "a lost lease records nothing");
    assert_eq!(status(done).await, Some(at(11)), "the first record stands");
    assert!(status(twice).await.is_some());
    assert!(store.claim_jobs(Lane::Other, at(41), at(70), 10).await.unwrap().iter().all(|j| j.id == lost));
}

async fn each_lane_is_claimed_on_its_own(db: TestDatabase) {
    let store = db.open().await;
    store.enqueue_job(&job("test-mail", 0), at(0)).await.unwrap();
    store.enqueue_job(&step(7, 5), at(0)).await.unwrap();
    let paging = store.claim_jobs(Lane::Paging, at(10), at(40), 10).await.unwrap();
    assert_eq!(paging.iter().map(|j| j.job.clone()).collect::<Vec<_>>(), [Ok(Job::PageStep { page: 7, step: 0 })]);
    let other = store.claim_jobs(Lane::Other, at(10), at(40), 10).await.unwrap();
    assert_eq!(other.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(), ["email"]);
    let listed = store.jobs(&JobFilter::default()).await.unwrap();
    let lanes: Vec<(&str, Lane)> = listed.iter().map(|j| (j.kind.as_str(), j.lane)).collect();
    assert_eq!(lanes, [("page.step", Lane::Paging), ("email", Lane::Other)], "newest first");
}

async fn a_buried_job_is_never_claimed_again_and_is_listed_as_dead(db: TestDatabase) {
    let store = db.open().await;
    let dead = store.enqueue_job(&job("dead@example.com", 0), at(0)).await.unwrap();
    let alive = store.enqueue_job(&job("alive@example.com", 0), at(0)).await.unwrap();
    let claimed = store.claim_jobs(Lane::Other, at(1), at(31), 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(!store.bury_job(dead, at(99), at(2), "late").await.unwrap(), "only under the lease it was claimed with");
    assert!(store.bury_job(dead, at(31), at(2), "550 no such user").await.unwrap());
    assert!(store.retry_job(alive, at(31), at(5), "timeout").await.unwrap());
    assert!(!store.finish_job(dead, at(31), at(3)).await.unwrap(), "dead is never done");
    let later = store.claim_jobs(Lane::Other, at(1000), at(1030), 10).await.unwrap();
    assert_eq!(later.iter().map(|j| j.id).collect::<Vec<_>>(), [alive], "the dead job is not claimed again");
    assert!(store.finish_job(alive, at(1030), at(1001)).await.unwrap());
    assert_eq!(store.next_job_due(&Lane::ALL).await.unwrap(), None, "a dead job is never due");

    let status = store.job_status(dead).await.unwrap().unwrap();
    assert_eq!(
        (status.dead_at, status.done_at, status.last_error.as_deref()),
        (Some(at(2)), None, Some("550 no such user"))
    );
    let listed = store.jobs(&JobFilter { state: Some(JobState::Dead), ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, listed[0].state, listed[0].to.as_deref()),
        (dead, JobState::Dead, Some("dead@example.com"))
    );
    let done = store.jobs(&JobFilter { state: Some(JobState::Done), ..Default::default() }).await.unwrap();
    assert_eq!(done.iter().map(|j| j.id).collect::<Vec<_>>(), [alive]);
    let gauges = store.gauges().await.unwrap();
    assert_eq!((gauges.jobs_pending, gauges.jobs_dead), (0, 1));
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
                    let got = store.claim_jobs(Lane::Other, at(1), at(1000), 7).await.unwrap();
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
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let listens = listening.listen_for_incidents(Arc::new(move |number| _ = tx.send(number))).await.unwrap();
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
    let (declared, events) = other.declare_incident(&decide).await.unwrap();
    assert!(events.len() > 1, "a declaration writes several entries");
    let number = tokio::time::timeout(std::time::Duration::from_secs(10), heard.recv())
        .await
        .expect("the listener was woken by the other instance's timeline entries");
    assert_eq!(number, Some(Some(declared.number)), "the wake names the incident");
    let again = tokio::time::timeout(std::time::Duration::from_millis(300), heard.recv()).await;
    assert!(again.is_err(), "one wake per incident and transaction, not one per entry: {again:?}");
}
