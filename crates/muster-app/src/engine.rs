//! The delivery engine: takes jobs from the outbox and delivers them.
//!
//! A job is written in the same transaction as the event that caused it.
//! The engine leases due jobs (so a crashed worker's job is taken over when
//! its lease runs out), delivers each, and records the delivery in the
//! store's ledger (`finish_job`), after which the job is never run again.
//! A failed delivery is retried with exponential backoff (capped at five
//! minutes), honouring the receiver's `Retry-After`.
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
//! Job kinds: `webhook` (a signed JSON POST), `email` (SMTP), and
//! `page.step` (an escalation step's timer, run by [`crate::paging::Pager`]).
//! A notification for a page that was answered before it went out is
//! skipped: delayed notification rules stop with the page.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use muster_domain::Timestamp;
use muster_store::{Job, Store};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::pager::Pager;

/// How long a claimed job is leased to one worker, unless configured.
pub const LEASE: Duration = Duration::from_secs(60);
/// Jobs delivered at the same time by one instance.
const CONCURRENCY: usize = 16;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Sleeping longer than this re-checks the outbox anyway (other instances
/// may have enqueued work).
const IDLE_CHECK: Duration = Duration::from_secs(30);

pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    wake: Notify,
    pager: Arc<Pager>,
    mailer: Option<Mailer>,
    lease: Duration,
    /// Attempts that succeeded and failed, for `/metrics`.
    delivered: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

/// Where mail goes: an SMTP server from a URL like
/// `smtp://[user:password@]host:port` (no TLS: a local relay).
pub struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let rest = url.strip_prefix("smtp://").ok_or_else(|| format!("{url:?} is not an smtp:// URL"))?;
        let (auth, host_port) = match rest.trim_end_matches('/').rsplit_once('@') {
            Some((auth, hp)) => (Some(auth), hp),
            None => (None, rest.trim_end_matches('/')),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{url:?} has no valid port"))?),
            None => (host_port, 25),
        };
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((user, password)) = auth.and_then(|a| a.split_once(':')) {
            builder = builder
                .credentials(lettre::transport::smtp::authentication::Credentials::new(user.into(), password.into()));
        }
        let from = from.parse().map_err(|e| format!("the sender {from:?} is not an address: {e}"))?;
        Ok(Mailer { transport: builder.build(), from })
    }
}

/// Signs `timestamp.body` with the contact method's secret: the value of
/// the `X-Muster-Signature` header is `sha256=<hex>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a delivery failed, and when to try again at the earliest.
struct Failure {
    message: String,
    retry_after: Option<Duration>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        pager: Arc<Pager>,
        mailer: Option<Mailer>,
        lease: Duration,
    ) -> Arc<Engine> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client without TLS builds");
        Arc::new(Engine {
            store,
            clock,
            http,
            wake: Notify::new(),
            pager,
            mailer,
            lease,
            delivered: Default::default(),
            failed: Default::default(),
        })
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
            // Up to CONCURRENCY deliveries run at once; a slot that frees up
            // is filled with the next due job at once, so one slow receiver
            // does not hold back the rest.
            let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
            loop {
                let free = CONCURRENCY.saturating_sub(running.len());
                let mut maybe_more = false;
                if free > 0 {
                    match engine.claim(free).await {
                        Ok((jobs, lease)) => {
                            maybe_more = jobs.len() == free;
                            for job in jobs {
                                let worker = engine.clone();
                                running.spawn(async move {
                                    if let Err(e) = worker.deliver(job, lease).await {
                                        tracing::error!(error = %e, "the engine could not record a delivery");
                                    }
                                });
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the engine could not read the outbox; retrying in a second");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                }
                if maybe_more {
                    continue;
                }
                let sleep = match engine.store.next_job_due().await {
                    Ok(Some(due)) => {
                        let now = engine.clock.now();
                        Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO).min(IDLE_CHECK)
                    }
                    _ => IDLE_CHECK,
                };
                tokio::select! {
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    () = engine.wake.notified() => {}
                    () = tokio::time::sleep(sleep.max(Duration::from_millis(5))) => {}
                }
            }
        });
    }

    /// Jobs run by this instance so far: (succeeded, failed attempts).
    pub fn attempts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.delivered.load(Relaxed), self.failed.load(Relaxed))
    }

    /// Wakes the engine: call after committing a job.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Delivers every job due now; returns how many it tried.
    pub async fn run_due(&self) -> Result<usize, muster_store::StoreError> {
        // Claim only what runs at once: a claimed job's lease is ticking.
        let (jobs, lease_until) = self.claim(CONCURRENCY).await?;
        let n = jobs.len();
        use futures_util::StreamExt;
        let results: Vec<Result<(), muster_store::StoreError>> = futures_util::stream::iter(jobs)
            .map(|job| self.deliver(job, lease_until))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(n)
    }

    /// Leases up to `n` due jobs; returns them and the lease's end.
    async fn claim(&self, n: usize) -> Result<(Vec<Job>, Timestamp), muster_store::StoreError> {
        let now = self.clock.now();
        let lease_until =
            now.checked_add(jiff::SignedDuration::try_from(self.lease).unwrap_or_default()).unwrap_or(now);
        let jobs = self.store.claim_jobs(now, lease_until, n as u32).await?;
        Ok((jobs, lease_until))
    }

    #[tracing::instrument(name = "job.deliver", skip_all, fields(job.id = job.id, job.kind = %job.kind, job.attempt = job.attempts))]
    async fn deliver(&self, job: Job, lease: Timestamp) -> Result<(), muster_store::StoreError> {
        // A delivery must end well within its lease, or another instance
        // could take the job over while this one still sends it.
        let limit = (self.lease / 2).max(Duration::from_millis(500));
        let result = match tokio::time::timeout(limit, self.attempt(&job)).await {
            Ok(result) => result,
            Err(_) => Err(Failure { message: format!("gave up after {limit:?}"), retry_after: None }),
        };
        let now = self.clock.now();
        let counter = if result.is_ok() { &self.delivered } else { &self.failed };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let recorded = match result {
            Ok(()) => self.store.finish_job(job.id, lease, now).await?,
            Err(f) => {
                let backoff = Duration::from_secs(1u64 << job.attempts.min(9)).min(MAX_BACKOFF);
                let wait = f.retry_after.map_or(backoff, |r| r.max(backoff).min(Duration::from_secs(3600)));
                tracing::warn!(error = %f.message, retry_in = ?wait, "delivery failed");
                let due = now.checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default()).unwrap_or(now);
                self.store.retry_job(job.id, lease, due, &f.message).await?
            }
        };
        if !recorded {
            tracing::warn!("the lease ran out before the outcome was recorded; another worker has the job");
        }
        Ok(())
    }

    async fn attempt(&self, job: &Job) -> Result<(), Failure> {
        match job.kind.as_str() {
            "page.step" => self.page_step(job).await,
            _ => match self.answered(job).await {
                Err(e) => Err(Failure { message: format!("reading the page: {e}"), retry_after: None }),
                Ok(true) => {
                    tracing::info!("skipped: the page was answered before this notification went out");
                    Ok(())
                }
                Ok(false) => match job.kind.as_str() {
                    "webhook" => self.webhook(job).await,
                    "email" => self.email(job).await,
                    other => {
                        Err(Failure { message: format!("no deliverer for jobs of kind {other:?}"), retry_after: None })
                    }
                },
            },
        }
    }

    /// Whether the job notifies for a page that is no longer open.
    async fn answered(&self, job: &Job) -> Result<bool, muster_store::StoreError> {
        let Some(page) = job.payload.get("page").and_then(Value::as_u64) else { return Ok(false) };
        Ok(self.store.page(page).await?.is_some_and(|p| !p.state.is_open()))
    }

    async fn page_step(&self, job: &Job) -> Result<(), Failure> {
        let fail = |message: String| Failure { message, retry_after: None };
        let page = job.payload["page"].as_u64().ok_or_else(|| fail("the job names no page".into()))?;
        let step = job.payload["step"].as_u64().ok_or_else(|| fail("the job names no step".into()))?;
        self.pager.run_step(page, step as u32).await.map_err(|e| fail(format!("page {page} step {step}: {e}")))
    }

    /// Sends the job's `subject` and `text` to `to` over SMTP.
    async fn email(&self, job: &Job) -> Result<(), Failure> {
        let fail = |message: String| Failure { message, retry_after: None };
        let Some(mailer) = &self.mailer else {
            return Err(fail("no SMTP server is configured (MUSTER_SMTP_URL)".into()));
        };
        let to = job.payload["to"].as_str().ok_or_else(|| fail("the job has no recipient".into()))?;
        let message = lettre::Message::builder()
            .from(mailer.from.clone())
            .to(to.parse().map_err(|e| fail(format!("{to:?}: {e}")))?)
            .subject(job.payload["subject"].as_str().unwrap_or("Muster"))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .message_id(Some(format!("<{}@muster>", job.idempotency_key.replace([':', ' '], "."))))
            .body(job.payload["text"].as_str().unwrap_or_default().to_owned())
            .map_err(|e| fail(format!("cannot build the mail: {e}")))?;
        use lettre::AsyncTransport;
        mailer.transport.send(message).await.map_err(|e| fail(format!("SMTP to {to}: {e}")))?;
        Ok(())
    }

    /// POSTs the job's `body` to its `url`, signed with its `secret`.
    async fn webhook(&self, job: &Job) -> Result<(), Failure> {
        let fail = |message: String| Failure { message, retry_after: None };
        let url = job.payload["url"].as_str().ok_or_else(|| fail("the job has no url".into()))?;
        let secret = job.payload["secret"].as_str().unwrap_or("");
        let body = serde_json::to_vec(job.payload.get("body").unwrap_or(&Value::Null)).unwrap_or_default();
        let timestamp = self.clock.now().as_second();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", &job.idempotency_key)
            .header("x-muster-timestamp", timestamp.to_string())
            .header("x-muster-signature", signature(secret, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| fail(format!("POST {url}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(Failure { message: format!("POST {url}: {status}"), retry_after })
    }
}

/// When a job enqueued now for immediate delivery is due.
pub fn immediately(now: Timestamp) -> Timestamp {
    now
}
