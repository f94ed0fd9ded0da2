//! The delivery engine: takes jobs from the outbox and hands each to its
//! channel.
//!
//! A job is written in the same transaction as the event that caused it.
//! The engine leases due jobs (so a crashed worker's job is taken over when
//! its lease runs out), delivers each through the [`Channel`] registered for
//! its kind, and records the delivery in the store's ledger (`finish_job`),
//! after which the job is never run again. A failed delivery is retried
//! with exponential backoff (capped at five minutes), honouring the
//! receiver's `Retry-After`, up to [`Settings::max_attempts`]; then, or at
//! once when trying again cannot help, the job is dead-lettered
//! (`bury_job`): kept with its last error for admins to see
//! (`GET /api/v1/jobs?state=dead`, `muster_outbox_jobs_dead`).
//!
//! Pages come first. Jobs of the paging lane (page steps, page
//! notifications) are claimed before any other, and other jobs may fill at
//! most [`Settings::other_slots`] of the delivery slots, so a thousand
//! failing test notifications never hold up a page.
//!
//! The ambiguous case: a delivery that reached the receiver, whose
//! recording then failed (a crash between the two), is delivered again.
//! Receivers tell the two apart by the `Idempotency-Key` header, which is
//! the same on every attempt of a job.
//!
//! The engine wakes when work is enqueued (`Engine::wake`, and on
//! PostgreSQL when another instance commits a job: `LISTEN muster_jobs`)
//! and otherwise sleeps until the next job is due; there is no polling on
//! the hot path. Its clock is injected, so tests step time with
//! [`Engine::run_due`].
//!
//! A notification for a page that was answered before it went out is
//! skipped: delayed notification rules stop with the page.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use muster_domain::Timestamp;
use muster_domain::outbox::Lane;
use muster_store::{ClaimedJob, Store, StoreError};
use tokio::sync::Notify;

use crate::batch::Batcher;
use crate::channels::{Attempt, Channel, Failure};
use crate::clock::Clock;

/// How long a claimed job is leased to one worker, unless configured.
pub const LEASE: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Attempts before a job is dead-lettered, unless configured: with the
/// backoff above, about 25 minutes of trying.
pub const MAX_ATTEMPTS: u32 = 12;
/// Sleeping longer than this re-checks the outbox anyway (other instances
/// may have enqueued work).
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// After the outbox could not be read: the first wait, doubled after each
/// failure in a row up to the second (a database outage is retried every
/// few seconds, and logged once, not every second).
const RETRY_READ: Duration = Duration::from_secs(1);
const MAX_RETRY_READ: Duration = Duration::from_secs(5);

/// How the engine delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub lease: Duration,
    pub max_attempts: u32,
    /// Jobs delivered at the same time by one instance. A page step or a
    /// notification spends most of its time waiting (for the database, a
    /// batch's commit, a receiver), so the engine keeps up with a storm
    /// only with many in flight: by Little's law, 16 slots of jobs taking
    /// 45 ms each is 350 jobs/s, fewer than a storm of 500 alerts/s needs
    /// (a step and a notification each). Webhooks are bounded per receiver
    /// on their own (`channels::webhook::PER_HOST`).
    pub slots: usize,
    /// Of those, at most this many for jobs outside the paging lane.
    pub other_slots: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { lease: LEASE, max_attempts: MAX_ATTEMPTS, slots: 64, other_slots: 12 }
    }
}

pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channels: HashMap<&'static str, Arc<dyn Channel>>,
    wake: Notify,
    settings: Settings,
    /// Attempts that succeeded and failed, and jobs given up on, for `/metrics`.
    delivered: AtomicU64,
    failed: AtomicU64,
    buried: AtomicU64,
    /// Deliveries recorded together (see [`crate::batch`]): under load, one
    /// transaction for many.
    completions: std::sync::OnceLock<Batcher<(u64, Timestamp, Timestamp), bool>>,
}

/// What became of one attempt.
enum Outcome {
    Done,
    Retry(Failure),
    Bury(String),
}

impl Engine {
    /// An engine delivering through `channels` (the last one registered for
    /// a kind wins).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        channels: Vec<Arc<dyn Channel>>,
        settings: Settings,
    ) -> Arc<Engine> {
        let mut by_kind = HashMap::new();
        for channel in channels {
            for kind in channel.kinds() {
                by_kind.insert(*kind, channel.clone());
            }
        }
        Arc::new(Engine {
            store,
            clock,
            channels: by_kind,
            wake: Notify::new(),
            settings,
            delivered: Default::default(),
            failed: Default::default(),
            buried: Default::default(),
            completions: std::sync::OnceLock::new(),
        })
    }

    /// Records a delivery (in the next batch of them).
    async fn finish(&self, id: u64, lease: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        let store = self.store.clone();
        self.completions
            .get_or_init(|| {
                Batcher::spawn(
                    "recording deliveries",
                    crate::batch::lanes_for(store.backend()),
                    Arc::new(move |done: Vec<(u64, Timestamp, Timestamp)>| {
                        let store = store.clone();
                        Box::pin(async move { store.finish_jobs(&done).await })
                    }),
                )
            })
            .write((id, lease, now))
            .await
    }

    /// Runs the engine until the runtime stops.
    pub fn spawn(self: &Arc<Self>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let waker = engine.clone();
            match engine.store.listen_for_jobs(Arc::new(move || waker.wake())).await {
                Ok(true) => tracing::info!("listening for jobs committed by other instances"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot listen for other instances' jobs; re-checking every 30 s"),
            }
            engine.run().await;
        });
    }

    async fn run(self: Arc<Self>) {
        // A slot that frees up is filled with the next due job at once, so
        // one slow receiver does not hold back the rest. Deliveries of each
        // lane run in a set of their own, which counts them.
        let mut paging: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut other: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        // The other lane is claimed only when it may have something: not
        // again after it came back short, until something happens that may
        // have changed that (a wake-up, one of its deliveries ending, time
        // passing). On the hot path of a page that saves a claim per hop.
        let mut other_quiet = false;
        // Reads of the outbox that failed in a row.
        let mut failures: u32 = 0;
        loop {
            while paging.try_join_next().is_some() {}
            while other.try_join_next().is_some() {}
            let mut maybe_more = false;
            let mut failed = false;
            for lane in Lane::ALL {
                let free = self.free_slots(lane, paging.len() + other.len(), other.len());
                if free == 0 || (lane == Lane::Other && other_quiet) {
                    continue;
                }
                match self.claim(lane, free).await {
                    Ok((jobs, lease)) => {
                        if failures > 0 {
                            tracing::info!(failures, "the engine reads the outbox again");
                            failures = 0;
                        }
                        maybe_more |= jobs.len() == free;
                        if lane == Lane::Other {
                            other_quiet = jobs.len() < free;
                        }
                        let set = if lane == Lane::Paging { &mut paging } else { &mut other };
                        for job in jobs {
                            let worker = self.clone();
                            set.spawn(async move {
                                match worker.deliver(job, lease).await {
                                    Ok(()) => {}
                                    // The outage is logged once, by the store's health; the
                                    // job runs again after its lease.
                                    Err(e @ StoreError::Unavailable(_)) => {
                                        tracing::debug!(error = %e, "the engine could not record a delivery");
                                    }
                                    Err(e) => tracing::error!(error = %e, "the engine could not record a delivery"),
                                }
                            });
                        }
                    }
                    Err(e) => {
                        read_failed(&mut failures, &e);
                        failed = true;
                        break;
                    }
                }
            }
            if maybe_more {
                continue;
            }
            // Sleep until the next job is due in a lane with a free slot (a
            // full lane wakes the loop when one of its deliveries ends).
            let open: Vec<Lane> = Lane::ALL
                .into_iter()
                .filter(|lane| self.free_slots(*lane, paging.len() + other.len(), other.len()) > 0)
                .collect();
            let sleep = if failed {
                retry_wait(failures)
            } else if open.is_empty() {
                IDLE_CHECK
            } else {
                match self.store.next_job_due(&open).await {
                    Ok(Some(due)) => {
                        let now = self.clock.now();
                        Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO).min(IDLE_CHECK)
                    }
                    Ok(None) => IDLE_CHECK,
                    Err(e) => {
                        read_failed(&mut failures, &e);
                        retry_wait(failures)
                    }
                }
            };

            tokio::select! {
                Some(_) = paging.join_next(), if !paging.is_empty() => {}
                Some(_) = other.join_next(), if !other.is_empty() => other_quiet = false,
                () = self.wake.notified() => other_quiet = false,
                () = tokio::time::sleep(sleep.max(Duration::from_millis(5))) => other_quiet = false,
            }
        }
    }

    /// Slots `lane` may fill now, with `running` deliveries under way of
    /// which `other` are outside the paging lane.
    fn free_slots(&self, lane: Lane, running: usize, other: usize) -> usize {
        let free = self.settings.slots.saturating_sub(running);
        match lane {
            Lane::Paging => free,
            Lane::Other => free.min(self.settings.other_slots.saturating_sub(other)),
        }
    }

    /// Jobs run by this instance so far: (succeeded, failed attempts).
    pub fn attempts(&self) -> (u64, u64) {
        (self.delivered.load(Relaxed), self.failed.load(Relaxed))
    }

    /// Jobs this instance dead-lettered so far.
    pub fn buried(&self) -> u64 {
        self.buried.load(Relaxed)
    }

    /// Wakes the engine: call after committing a job.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Delivers the jobs due now, as one round of the loop would: paging
    /// first, then others in the slots left to them. Returns how many it
    /// tried (more may be due: call again).
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        // Claim only what runs at once: a claimed job's lease is ticking.
        let mut claimed = Vec::new();
        for lane in Lane::ALL {
            let free = self.free_slots(lane, claimed.len(), 0);
            if free > 0 {
                let (jobs, lease) = self.claim(lane, free).await?;
                claimed.extend(jobs.into_iter().map(|j| (j, lease)));
            }
        }
        let n = claimed.len();
        use futures_util::StreamExt;
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(claimed)
            .map(|(job, lease)| self.deliver(job, lease))
            .buffer_unordered(self.settings.slots.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(n)
    }

    /// Leases up to `n` due jobs of `lane`; returns them and the lease's end.
    async fn claim(&self, lane: Lane, n: usize) -> Result<(Vec<ClaimedJob>, Timestamp), StoreError> {
        let now = self.clock.now();
        let lease_until =
            now.checked_add(jiff::SignedDuration::try_from(self.settings.lease).unwrap_or_default()).unwrap_or(now);
        let jobs = self.store.claim_jobs(lane, now, lease_until, n as u32).await?;
        Ok((jobs, lease_until))
    }

    #[tracing::instrument(name = "job.deliver", skip_all, fields(job.id = job.id, job.kind = %job.kind, job.attempt = job.attempts))]
    async fn deliver(&self, job: ClaimedJob, lease: Timestamp) -> Result<(), StoreError> {
        let outcome = self.attempt(&job).await;
        let now = self.clock.now();
        let recorded = match outcome {
            Outcome::Done => {
                self.delivered.fetch_add(1, Relaxed);
                let done = self.finish(job.id, lease, now).await?;
                self.scrub(&job).await?;
                if done
                    && let Ok(j) = &job.job
                    && let Some(channel) = self.channels.get(j.kind())
                    && let Err(f) = channel.delivered(j).await
                {
                    tracing::warn!(error = %f.message, "after recording the delivery");
                }
                done
            }
            Outcome::Retry(f) if f.waiting => {
                // The channel could not try: the job waits, its attempts untouched.
                let wait = f.retry_after.unwrap_or(MAX_BACKOFF);
                tracing::info!(reason = %f.message, retry_in = ?wait, "delivery waits");
                let due = now.checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default()).unwrap_or(now);
                self.store.put_back_job(job.id, lease, due, &f.message).await?
            }
            Outcome::Retry(f) if !f.permanent && job.attempts < self.settings.max_attempts => {
                self.failed.fetch_add(1, Relaxed);
                self.retry(&job, lease, now, &f).await?
            }
            Outcome::Retry(f) => {
                self.failed.fetch_add(1, Relaxed);
                self.bury(&job, lease, now, &f.message).await?
            }
            Outcome::Bury(why) => self.bury(&job, lease, now, &why).await?,
        };
        if !recorded {
            tracing::warn!("the lease ran out before the outcome was recorded; another worker has the job");
        }
        Ok(())
    }

    /// Tries again later, after the backoff (or the receiver's `Retry-After`).
    async fn retry(&self, job: &ClaimedJob, lease: Timestamp, now: Timestamp, f: &Failure) -> Result<bool, StoreError> {
        let backoff = Duration::from_secs(1u64 << job.attempts.min(9)).min(MAX_BACKOFF);
        let wait = f.retry_after.map_or(backoff, |r| r.max(backoff).min(Duration::from_secs(3600)));
        tracing::warn!(error = %f.message, retry_in = ?wait, "delivery failed");
        let due = now.checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default()).unwrap_or(now);
        self.store.retry_job(job.id, lease, due, &f.message).await
    }

    async fn bury(&self, job: &ClaimedJob, lease: Timestamp, now: Timestamp, why: &str) -> Result<bool, StoreError> {
        // The channel says what giving up means (a page step's page
        // expires). If that fails, the job is not buried but tried again
        // later: burying it would leave, say, a page waiting forever.
        if let Ok(j) = &job.job
            && let Some(channel) = self.channels.get(j.kind())
            && let Err(f) = channel.gave_up(j, why).await
        {
            tracing::error!(error = %f.message, "giving up the job failed; trying again later");
            let f = Failure::new(format!("{why}; giving up failed: {}", f.message));
            return self.retry(job, lease, now, &f).await;
        }
        self.buried.fetch_add(1, Relaxed);
        tracing::error!(error = %why, attempts = job.attempts, "delivery given up: the job is dead-lettered");
        let buried = self.store.bury_job(job.id, lease, now, why).await?;
        self.scrub(job).await?;
        // The job is dead whatever happens here; a failure is only logged
        // (a page step's own timer still moves the page on).
        if buried
            && let Ok(j) = &job.job
            && let Some(channel) = self.channels.get(j.kind())
            && let Err(f) = channel.buried(j).await
        {
            tracing::error!(error = %f.message, "after burying the job");
        }
        Ok(buried)
    }

    /// Drops a secret that an older version copied into the job, now that
    /// the job is done with.
    async fn scrub(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        match &job.job {
            Ok(j @ muster_domain::outbox::Job::Webhook(w)) if w.legacy_secret.is_some() => {
                self.store.rewrite_job(job.id, j).await
            }
            _ => Ok(()),
        }
    }

    async fn attempt(&self, claimed: &ClaimedJob) -> Outcome {
        let job = match &claimed.job {
            Ok(job) => job,
            Err(why) => return Outcome::Bury(why.clone()),
        };
        if let Some(page) = job.notifies_for_page() {
            match self.store.page(page).await {
                Err(e) => return Outcome::Retry(Failure::new(format!("reading page {page}: {e}"))),
                Ok(Some(p)) if !p.state.is_open() => {
                    tracing::info!("skipped: the page was answered before this notification went out");
                    return Outcome::Done;
                }
                Ok(_) => {}
            }
        }
        if let Some(person) = job.notifies_person().and_then(|p| muster_domain::Handle::parse(p).ok()) {
            match self.store.user(&person).await {
                Err(e) => return Outcome::Retry(Failure::new(format!("reading @{person}: {e}"))),
                Ok(Some(u)) if u.disabled_at.is_some() => {
                    tracing::info!(user.handle = %person, "skipped: the person was disabled before this notification went out");
                    return Outcome::Done;
                }
                Ok(_) => {}
            }
        }
        let Some(channel) = self.channels.get(job.kind()) else {
            return Outcome::Bury(format!("no channel delivers jobs of kind {:?}", job.kind()));
        };
        let attempt = Attempt {
            job: claimed.id,
            idempotency_key: &claimed.idempotency_key,
            number: claimed.attempts,
            now: self.clock.now(),
        };
        // A delivery must end well within its lease, or another instance
        // could take the job over while this one still sends it.
        let limit = (self.settings.lease / 2).max(Duration::from_millis(500));
        match tokio::time::timeout(limit, channel.deliver(job, &attempt)).await {
            Ok(Ok(())) => Outcome::Done,
            Ok(Err(f)) => Outcome::Retry(f),
            Err(_) => Outcome::Retry(Failure::new(format!("gave up after {limit:?}"))),
        }
    }
}

/// When a job enqueued now for immediate delivery is due.
pub fn immediately(now: Timestamp) -> Timestamp {
    now
}

/// Counts a failed read of the outbox; logs the first of a run.
fn read_failed(failures: &mut u32, e: &StoreError) {
    if *failures == 0 {
        tracing::error!(error = %e, "the engine could not read the outbox; retrying every few seconds until it can");
    }
    *failures = failures.saturating_add(1);
}

/// How long to wait after `failures` failed reads in a row.
fn retry_wait(failures: u32) -> Duration {
    RETRY_READ.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(MAX_RETRY_READ)
}
