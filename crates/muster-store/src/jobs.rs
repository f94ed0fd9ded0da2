//! The outbox's jobs.

use muster_domain::Timestamp;

use crate::StoreError;

/// A side effect to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What to do, e.g. `webhook`.
    pub kind: String,
    pub payload: serde_json::Value,
    /// Enqueuing the same key twice makes one job; receivers see it as the
    /// `Idempotency-Key` of every attempt.
    pub idempotency_key: String,
    pub due_at: Timestamp,
    /// The page this job notifies for (or times), if any.
    pub page: Option<u64>,
}

/// A job claimed for delivery (leased until a time; an unfinished lease
/// runs out and the job is claimed again, by this instance or another).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: u64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: String,
    /// Including this one.
    pub attempts: u32,
    pub due_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    pub attempts: u32,
    pub done_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

pub(crate) type JobRow = (i64, String, String, String, i64, i64);

pub(crate) fn job((id, kind, payload, key, attempts, due): JobRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: id as u64,
        kind,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("job {id}: {e}")))?,
        idempotency_key: key,
        attempts: attempts as u32,
        due_at: crate::rows::timestamp(due)?,
    })
}
