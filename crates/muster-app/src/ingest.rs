//! The ingest pipeline: monitoring events are committed in batches, and an
//! event is answered only once its batch is durable.
//!
//! Handlers send each parsed event to one batching task per server; the task
//! takes whatever has queued up (up to [`MAX_BATCH`]), commits it in one
//! transaction with `Store::ingest`, and replies to every sender. Under load
//! many events share one commit (and one fsync on SQLite); with a single
//! event in flight it commits at once. On PostgreSQL a few batches commit at
//! once ([`POSTGRES_LANES`]): the next batch is written while the previous
//! one waits for its commit. Dedup does not depend on the batching: it is
//! enforced by the database (see `muster_store::alerts`).
//!
//! During a database outage every event is answered at once (503, and
//! monitoring retries): the store's health fails the request before it is
//! queued, a batch the task holds when an outage begins is answered
//! without waiting for the store's own timeouts, and a batch that fails for
//! the outage is not retried event by event. Events whose sender stopped
//! waiting are dropped from the batch, never stored unanswered. The queue
//! is bounded, so a sender waits for room rather than memory growing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use muster_store::{IngestEvent, IngestOutcome, Store, StoreError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::clock::Clock;

pub const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<IngestOutcome, Arc<StoreError>>>;

/// Why an event was not accepted.
#[derive(Debug)]
pub enum IngestError {
    /// The event could not be stored now; the sender should retry. The
    /// text says why, for the sender: the database cannot be reached, its
    /// disk is full, the server is stopping.
    Unavailable(String),
    /// The integration sends faster than its limit; retry after this long.
    RateLimited(Duration),
}

/// What a sender is told when storing failed for another reason than an
/// outage (the error itself is logged).
const NOT_STORED: &str = "the alert could not be stored; retry";

impl IngestError {
    fn from_store(e: &StoreError) -> IngestError {
        match e {
            StoreError::Unavailable(outage) => IngestError::Unavailable(outage.headline().to_owned()),
            _ => IngestError::Unavailable(NOT_STORED.to_owned()),
        }
    }
}

#[derive(Clone)]
pub struct Ingestor {
    store: Arc<dyn Store>,
    queue: mpsc::Sender<(IngestEvent, Reply)>,
    limiter: Arc<RateLimiter>,
    /// Events accepted (durable) by this instance, for `/metrics`.
    accepted: Arc<std::sync::atomic::AtomicU64>,
}

/// Told of every committed batch: its events and their outcomes, in order.
pub type AfterCommit = Arc<dyn Fn(&[IngestEvent], &[IngestOutcome]) + Send + Sync>;

/// Whether an event's outcome created an alert.
pub fn is_new_alert(o: &IngestOutcome) -> bool {
    o.alert.is_some() && o.count == 1
}

/// Whether a committed batch needs the engine now: one of its events put
/// a job in the outbox. The engine otherwise sleeps until its next job is
/// due, and a claim that finds nothing is a round trip for nothing (under
/// a storm of alerts that page nobody, one per batch).
pub fn wakes_engine(outcomes: &[IngestOutcome]) -> bool {
    outcomes.iter().any(|o| o.enqueued)
}

/// The incident whose timeline an event's outcome wrote to: a new alert
/// joining (or declaring) it, or its alert acknowledged or resolved. A
/// repeat only counts, and wakes nobody.
pub fn touched_incident(e: &IngestEvent, o: &IngestOutcome) -> Option<u64> {
    let wrote = e.action != muster_domain::alert::AlertAction::Trigger || is_new_alert(o);
    o.incident.filter(|_| wrote)
}

impl Ingestor {
    /// Starts the batching task on the current runtime. `committed` runs
    /// after each batch committed, with its events and their outcomes: the
    /// app wakes the engine for events that paged (their pages' first steps
    /// are in the outbox: [`wakes_engine`]) and the live views of incidents whose timeline moved.
    pub fn spawn(store: Arc<dyn Store>, clock: Arc<dyn Clock>, limit: RateLimit, committed: AfterCommit) -> Ingestor {
        let (queue, mut rx) = mpsc::channel::<(IngestEvent, Reply)>(8 * MAX_BATCH);
        let lanes = Arc::new(Semaphore::new(lanes(store.backend())));
        let task_store = store.clone();
        tokio::spawn(async move {
            let store = task_store;
            loop {
                // A lane first, then the batch: the batch is whatever queued
                // up while every lane was busy, so it is as large as it can be.
                let Ok(lane) = lanes.clone().acquire_owned().await else { return };
                let mut batch = Vec::with_capacity(MAX_BATCH);
                if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    return;
                }
                let (store, clock, committed) = (store.clone(), clock.clone(), committed.clone());
                tokio::spawn(async move {
                    commit(&*store, &*clock, &committed, batch).await;
                    drop(lane);
                });
            }
        });
        Ingestor { store, queue, limiter: Arc::new(RateLimiter::new(limit)), accepted: Arc::default() }
    }

    /// Takes one event from `service`; returns once it is durable.
    pub async fn ingest(&self, event: IngestEvent) -> Result<IngestOutcome, IngestError> {
        self.admit(event.service)?;
        // During an outage, at once: not even queued.
        self.store.health().check().map_err(|e| IngestError::from_store(&e))?;
        let (reply, answer) = oneshot::channel();
        let stopping = || IngestError::Unavailable("Muster is stopping; retry".into());
        self.queue.send((event, reply)).await.map_err(|_| stopping())?;
        match answer.await {
            Ok(Ok(outcome)) => {
                self.accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(outcome)
            }
            Ok(Err(e)) => Err(IngestError::from_store(&e)),
            Err(_) => Err(stopping()),
        }
    }

    /// Events accepted so far by this instance.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one request against the service's rate limit.
    pub fn admit(&self, service: u64) -> Result<(), IngestError> {
        self.limiter.admit(service).map_err(IngestError::RateLimited)
    }
}

/// How many batches commit at once on `backend`. SQLite has one writer,
/// so a second batch would only wait for the first; PostgreSQL commits
/// side by side, so while one batch waits for its commit (a round trip
/// and a WAL flush) the next is already writing. Dedup holds across them
/// as across instances: it is the database's unique index.
fn lanes(backend: &str) -> usize {
    if backend == "postgres" { POSTGRES_LANES } else { 1 }
}

/// Batches in flight on PostgreSQL; each holds one connection of the pool
/// while it commits (see `muster_store::postgres`).
pub const POSTGRES_LANES: usize = 3;

/// Commits one batch and answers each of its senders.
async fn commit(store: &dyn Store, clock: &dyn Clock, committed: &AfterCommit, mut batch: Vec<(IngestEvent, Reply)>) {
    // A sender that stopped waiting gets no answer: its event is
    // not stored behind its back.
    batch.retain(|(_, reply): &(IngestEvent, Reply)| !reply.is_closed());
    if batch.is_empty() {
        return;
    }
    let (events, replies): (Vec<IngestEvent>, Vec<Reply>) = batch.into_iter().unzip();
    let health = store.health();
    let result = match health.check() {
        Err(e) => Err(e),
        // An outage that begins meanwhile answers the batch at
        // once; the transaction, abandoned, rolls back.
        Ok(()) => tokio::select! {
            biased;
            r = store.ingest(&events, clock.now()) => r,
            () = health.blocked() => health.check().and(Err(StoreError::Unavailable(
                muster_store::Outage::new(muster_store::OutageKind::Unreachable, "the database stopped answering"),
            ))),
        },
    };
    match result {
        Ok(outcomes) => {
            committed(&events, &outcomes);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e @ StoreError::Unavailable(_)) => {
            // Logged once, by the store's health, when the outage began.
            health.report(&e);
            tracing::debug!(error = %e, events = events.len(), "ingest answered 503: the database cannot be used");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) if events.len() > 1 => {
            // One bad event must not fail its neighbours: retry
            // each on its own, so only the culprit gets the error.
            tracing::warn!(error = %e, events = events.len(), "ingest batch failed; retrying one by one");
            for (event, reply) in events.into_iter().zip(replies) {
                let result = store.ingest(std::slice::from_ref(&event), clock.now()).await;
                if let Ok(outcomes) = &result {
                    committed(std::slice::from_ref(&event), outcomes);
                }
                let _ = reply.send(match result {
                    Ok(mut outcomes) => {
                        outcomes.pop().ok_or_else(|| Arc::new(StoreError::Corrupt("no outcome".into())))
                    }
                    Err(e) => {
                        health.report(&e);
                        if !matches!(e, StoreError::Unavailable(_)) {
                            tracing::error!(error = %e, "ingest failed");
                        }
                        Err(Arc::new(e))
                    }
                });
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "ingest failed");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Events per second per integration, with a burst allowance.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// Generous: a storm from Alertmanager should get through, a runaway
    /// script should not take the database with it.
    fn default() -> Self {
        RateLimit { per_second: 10_000.0, burst: 100_000.0 }
    }
}

/// A token bucket per service.
struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<u64, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(limit: RateLimit) -> Self {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    fn admit(&self, service: u64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(service).or_insert((self.limit.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.limit.per_second).min(self.limit.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.clamp(0.001, 3600.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_the_rate_applies_per_service() {
        let limiter = RateLimiter::new(RateLimit { per_second: 0.5, burst: 2.0 });
        assert!(limiter.admit(1).is_ok());
        assert!(limiter.admit(1).is_ok());
        let wait = limiter.admit(1).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(2), "{wait:?}");
        assert!(limiter.admit(2).is_ok(), "another service has its own bucket");
    }
}
