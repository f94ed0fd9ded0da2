//! The outbox's jobs, as stored: a [`muster_domain::outbox::Job`] in two
//! columns (`kind`, `payload`), its lane, and its delivery ledger
//! (`attempts`, `locked_until`, `done_at`, `dead_at`, `last_error`).

use muster_domain::Timestamp;
use muster_domain::outbox::{Job, Lane};

use crate::StoreError;

/// A side effect to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job: Job,
    /// Enqueuing the same key twice makes one job; receivers see it as the
    /// `Idempotency-Key` of every attempt.
    pub idempotency_key: String,
    pub due_at: Timestamp,
}

/// A job claimed for delivery (leased until a time; an unfinished lease
/// runs out and the job is claimed again, by this instance or another).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: u64,
    pub kind: String,
    /// The job, or why its stored form cannot be read (it is then buried:
    /// retrying would not make it readable).
    pub job: Result<Job, String>,
    pub idempotency_key: String,
    /// Including this one.
    pub attempts: u32,
    pub due_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    pub attempts: u32,
    pub done_at: Option<Timestamp>,
    pub dead_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its first attempt, or for its next one.
    Pending,
    Done,
    /// Failed its last allowed attempt, or can never be delivered.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        match s {
            "pending" => Some(JobState::Pending),
            "done" => Some(JobState::Done),
            "dead" => Some(JobState::Dead),
            _ => None,
        }
    }
}

/// Which jobs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    /// Only jobs with a smaller id (the next page).
    pub before: Option<u64>,
    pub limit: Option<u32>,
}

/// A job as people look at it (no payload: it may hold what the recipient
/// sees, not what an admin should browse).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: u64,
    pub kind: String,
    pub lane: Lane,
    pub state: JobState,
    pub to: Option<String>,
    pub page: Option<u64>,
    pub attempts: u32,
    pub due_at: Timestamp,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
    pub dead_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    id: i64,
    kind: String,
    payload: String,
    idempotency_key: String,
    attempts: i64,
    due_at: i64,
}

impl ClaimedRow {
    pub(crate) fn into_job(self) -> Result<ClaimedJob, StoreError> {
        let job = serde_json::from_str(&self.payload)
            .map_err(|e| format!("job {}: the payload is not JSON: {e}", self.id))
            .and_then(|payload| Job::from_stored(&self.kind, payload));
        Ok(ClaimedJob {
            id: self.id as u64,
            kind: self.kind,
            job,
            idempotency_key: self.idempotency_key,
            attempts: self.attempts as u32,
            due_at: crate::rows::timestamp(self.due_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    kind: String,
    payload: String,
    lane: i64,
    page: Option<i64>,
    attempts: i64,
    due_at: i64,
    created_at: i64,
    done_at: Option<i64>,
    dead_at: Option<i64>,
    last_error: Option<String>,
}

pub(crate) const JOB_COLUMNS: &str =
    "SELECT id, kind, payload, lane, page, attempts, due_at, created_at, done_at, dead_at, last_error FROM jobs";

impl JobRow {
    pub(crate) fn into_record(self) -> Result<JobRecord, StoreError> {
        let ts = crate::rows::timestamp;
        let to = serde_json::from_str::<serde_json::Value>(&self.payload)
            .ok()
            .and_then(|p| p.get("to").and_then(|t| t.as_str()).map(str::to_owned));
        let state = match (self.done_at, self.dead_at) {
            (Some(_), _) => JobState::Done,
            (None, Some(_)) => JobState::Dead,
            (None, None) => JobState::Pending,
        };
        Ok(JobRecord {
            id: self.id as u64,
            kind: self.kind,
            lane: if self.lane == Lane::Paging.as_i64() { Lane::Paging } else { Lane::Other },
            state,
            to,
            page: self.page.map(|p| p as u64),
            attempts: self.attempts as u32,
            due_at: ts(self.due_at)?,
            created_at: ts(self.created_at)?,
            done_at: self.done_at.map(ts).transpose()?,
            dead_at: self.dead_at.map(ts).transpose()?,
            last_error: self.last_error,
        })
    }
}
