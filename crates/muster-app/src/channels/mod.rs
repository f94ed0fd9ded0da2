//! Channels: the ways a job leaves Muster.
//!
//! The engine knows none of them. It hands each claimed job to the channel
//! registered for the job's kind ([`Channel::kinds`]) and records what came
//! back: done, try again (after `Retry-After`, when the receiver said), or
//! never (a permanent failure goes straight to the dead letters). A new way
//! to reach people is a new file here implementing [`Channel`], registered
//! in `App::with_config`.
//!
//! - [`webhook`]: signed JSON POSTs over HTTP or HTTPS.
//! - [`email`]: mail over SMTP, with STARTTLS or implicit TLS.
//! - [`page_step`]: an escalation step's timer, run by the pager.
//! - [`page_notices`]: wraps the channels that notify people of pages: a
//!   step whose every notification was given up reached nobody.
//! - [`tls`]: the roots both trust (the system's, plus `--ca-file`).

use std::time::Duration;

use muster_domain::Timestamp;
use muster_domain::outbox::Job;

pub mod email;
pub mod follow_up_due;
pub mod page_bundle;
pub mod page_notices;
pub mod page_step;
pub mod report_due;
pub mod tls;
pub mod update_reminder;
pub mod webhook;

/// One attempt at delivering a job.
/// A notification to contact method `m`: a webhook posts `body`, a mail
/// says `subject` (cut to 200 characters) and `text`. For a page or a
/// bundle, the caller sets `for_page` or `for_bundle` on it
/// ([`Job::for_page`], [`Job::for_bundle`]).
pub fn notification(m: &muster_store::ContactMethod, body: serde_json::Value, subject: &str, text: String) -> Job {
    use muster_domain::outbox::{Email, Webhook};
    use muster_domain::paging::ContactKind;
    match m.kind {
        ContactKind::Webhook => Job::Webhook(Webhook {
            contact_method: Some(m.id),
            to: m.address.clone(),
            for_page: None,
            for_bundle: None,
            body,
            legacy_secret: None,
            ..Webhook::default()
        }),
        ContactKind::Email => Job::Email(Email {
            to: m.address.clone(),
            subject: subject.chars().take(200).collect(),
            text,
            for_page: None,
            for_bundle: None,
            contact_method: Some(m.id),
            ..Email::default()
        }),
    }
}

#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub job: u64,
    /// The same on every attempt of the job: receivers deduplicate with it.
    pub idempotency_key: &'a str,
    /// 1 for the first attempt.
    pub number: u32,
    pub now: Timestamp,
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// The receiver asked to wait at least this long.
    pub retry_after: Option<Duration>,
    /// Trying again cannot help (the contact method is gone, the job names
    /// nothing that exists): dead-letter it now.
    pub permanent: bool,
    /// The channel cannot deliver anything yet (no SMTP server configured):
    /// the job waits (`retry_after`), and this attempt is not counted.
    pub waiting: bool,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), retry_after: None, permanent: false, waiting: false }
    }

    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure { permanent: true, ..Failure::new(message) }
    }

    /// Not deliverable until the operator configures the channel.
    pub fn waiting(message: impl Into<String>) -> Failure {
        Failure { waiting: true, retry_after: Some(std::time::Duration::from_secs(300)), ..Failure::new(message) }
    }
}

/// A way to deliver jobs of some kinds.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// The [`Job::kind`]s this channel delivers.
    fn kinds(&self) -> &'static [&'static str];

    /// Delivers `job` once. The engine bounds how long this may take (half
    /// the job's lease) and records the outcome.
    async fn deliver(&self, job: &Job, attempt: &Attempt<'_>) -> Result<(), Failure>;

    /// Called when the engine gives `job` up (its last attempt failed, or
    /// it can never be delivered), before it is dead-lettered: what giving
    /// up means for what the job was part of. Nothing, for most.
    async fn gave_up(&self, _job: &Job, _why: &str) -> Result<(), Failure> {
        Ok(())
    }

    /// Called once `job` is dead-lettered (after [`Channel::gave_up`]): what
    /// follows from it being dead, which other jobs may be too — read
    /// after the job's own burial committed, so of jobs given up at the
    /// same time, the last sees them all. Nothing, for most.
    async fn buried(&self, _job: &Job) -> Result<(), Failure> {
        Ok(())
    }

    /// Called once `job` is recorded as delivered: what follows (the
    /// incident page's pages panel shows it). Nothing, for most.
    async fn delivered(&self, _job: &Job) -> Result<(), Failure> {
        Ok(())
    }
}

/// An error with its causes, for people: reqwest's own message says only
/// "error sending request"; the causes say why (a refused connection, a
/// certificate for another name).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
