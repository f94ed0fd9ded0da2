//! The outbox's jobs, as stored: a [`muster_domain::outbox::Job`] in two
//! columns (`kind`, `payload`), its lane, and its delivery ledger
//! (`attempts`, `locked_until`, `done_at`, `dead_at`, `last_error`); and
//! the queries on them.

use muster_domain::Timestamp;
use muster_domain::outbox::{Job, Lane};

use crate::dialect::Dialect;
use crate::rows::{self, micros};
use crate::{Result, StoreError};

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
    pub const ALL: [JobState; 3] = [JobState::Pending, JobState::Done, JobState::Dead];

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
struct ClaimedRow {
    id: i64,
    kind: String,
    payload: String,
    idempotency_key: String,
    attempts: i64,
    due_at: i64,
}

impl ClaimedRow {
    fn into_job(self) -> Result<ClaimedJob, StoreError> {
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
struct JobRow {
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

const JOB_COLUMNS: &str =
    "SELECT id, kind, payload, lane, page, attempts, due_at, created_at, done_at, dead_at, last_error FROM jobs";

impl JobRow {
    fn into_record(self) -> Result<JobRecord, StoreError> {
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

#[derive(sqlx::FromRow)]
struct StatusRow {
    attempts: i64,
    done_at: Option<i64>,
    dead_at: Option<i64>,
    last_error: Option<String>,
}

/// Adds jobs, in the caller's transaction; a key enqueued before is skipped.
pub(crate) async fn insert<D: Dialect>(c: &mut D::Connection, jobs: &[NewJob], now: Timestamp) -> Result<()> {
    for job in jobs {
        let (kind, payload) = job.job.to_stored();
        D::query(
            "INSERT INTO jobs (kind, payload, idempotency_key, due_at, created_at, page, lane, update_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(kind)
        .bind(payload.to_string())
        .bind(&job.idempotency_key)
        .bind(micros(job.due_at))
        .bind(micros(now))
        .bind(job.job.page().map(|p| p as i64))
        .bind(job.job.lane().as_i64())
        .bind(job.job.update().map(|u| u.update as i64))
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Adds a job unless its key was enqueued before; its id either way.
pub(crate) async fn enqueue<D: Dialect>(c: &mut D::Connection, job: &NewJob, now: Timestamp) -> Result<u64> {
    insert::<D>(c, std::slice::from_ref(job), now).await?;
    let id: i64 =
        D::query("SELECT id FROM jobs WHERE idempotency_key = $1").bind(&job.idempotency_key).scalar(c).await?;
    Ok(id as u64)
}

pub(crate) async fn claim<D: Dialect>(
    c: &mut D::Connection,
    lane: Lane,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<ClaimedJob>> {
    let sql = format!(
        "UPDATE jobs SET locked_until = $1, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs WHERE done_at IS NULL AND dead_at IS NULL AND lane = $4
                      AND due_at <= $2 AND (locked_until IS NULL OR locked_until <= $2)
                      ORDER BY due_at, id LIMIT $3{}) RETURNING id, kind, payload, idempotency_key, attempts, due_at",
        D::SKIP_LOCKED
    );
    let found: Vec<ClaimedRow> = D::query(sql)
        .bind(micros(lease_until))
        .bind(micros(now))
        .bind(i64::from(limit))
        .bind(lane.as_i64())
        .fetch_all(c)
        .await?;
    found.into_iter().map(ClaimedRow::into_job).collect()
}

/// Records what became of a claimed job, only under the lease it was
/// claimed with: a worker whose lease ran out (the job was claimed again)
/// records nothing and gets `false`. `set` assigns `$1` (a time) and `$2`
/// (the error, if any).
async fn record<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    lease: Timestamp,
    set: &str,
    at: Timestamp,
    error: Option<&str>,
) -> Result<bool> {
    // `COALESCE(done_at, dead_at) IS NULL`, not the two `IS NULL`s: those
    // are the predicate of the partial index `jobs_ready`, and PostgreSQL's
    // generic plan then scans that whole index (every pending job) for the
    // one id instead of looking it up by key. In a storm that made each
    // recorded delivery cost milliseconds.
    let sql = format!(
        "UPDATE jobs SET {set}, locked_until = NULL
         WHERE id = $3 AND locked_until = $4 AND COALESCE(done_at, dead_at) IS NULL"
    );
    let done = D::query(sql).bind(micros(at)).bind(error).bind(id as i64).bind(micros(lease)).execute(c).await?;
    Ok(done == 1)
}

/// Delivered: never run again.
pub(crate) async fn finish<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    lease: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    record::<D>(c, id, lease, "done_at = $1, last_error = $2", now, None).await
}

/// [`finish`] for many jobs `(id, lease, now)` in one transaction; whether
/// each was recorded, in order. On PostgreSQL one statement (a round trip
/// per job made a storm's batch of two hundred take longer than the
/// deliveries); on SQLite, in the process, one statement per job.
pub(crate) async fn finish_many<D: Dialect>(
    c: &mut D::Connection,
    done: &[(u64, Timestamp, Timestamp)],
) -> Result<Vec<bool>> {
    if D::BACKEND != "postgres" {
        let mut out = Vec::with_capacity(done.len());
        for (id, lease, now) in done {
            out.push(finish::<D>(&mut *c, *id, *lease, *now).await?);
        }
        return Ok(out);
    }
    // Three arrays (as text: `{1,2,3}`), not one JSON parameter: the
    // generic plan of a join with `unnest` looks each job up by key, the
    // one with `jsonb_to_recordset` scanned the whole table.
    let array = |f: &dyn Fn(&(u64, Timestamp, Timestamp)) -> i64| {
        format!("{{{}}}", done.iter().map(|d| f(d).to_string()).collect::<Vec<_>>().join(","))
    };
    let recorded: Vec<i64> = D::query(
        "UPDATE jobs SET done_at = x.at, last_error = NULL, locked_until = NULL
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x (id, lease, at)
         WHERE jobs.id = x.id AND jobs.locked_until = x.lease AND COALESCE(jobs.done_at, jobs.dead_at) IS NULL
         RETURNING jobs.id",
    )
    .bind(array(&|d| d.0 as i64))
    .bind(array(&|d| micros(d.1)))
    .bind(array(&|d| micros(d.2)))
    .scalars(c)
    .await?;
    // A job listed twice is recorded once, as one after the other would be.
    let mut recorded: std::collections::HashSet<u64> = recorded.into_iter().map(|id| id as u64).collect();
    Ok(done.iter().map(|(id, _, _)| recorded.remove(id)).collect())
}

/// Failed: try again at `due_at`.
pub(crate) async fn retry<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    lease: Timestamp,
    due_at: Timestamp,
    error: &str,
) -> Result<bool> {
    record::<D>(c, id, lease, "due_at = $1, last_error = $2", due_at, Some(error)).await
}

/// Given up: kept with its error, never run again.
pub(crate) async fn bury<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    lease: Timestamp,
    now: Timestamp,
    error: &str,
) -> Result<bool> {
    record::<D>(c, id, lease, "dead_at = $1, last_error = $2", now, Some(error)).await
}

pub(crate) async fn list<D: Dialect>(c: &mut D::Connection, f: &JobFilter) -> Result<Vec<JobRecord>> {
    let mut q = D::query(JOB_COLUMNS);
    q.push(" WHERE 1 = 1");
    match f.state {
        None => {}
        Some(JobState::Pending) => {
            q.push(" AND done_at IS NULL AND dead_at IS NULL");
        }
        Some(JobState::Done) => {
            q.push(" AND done_at IS NOT NULL");
        }
        Some(JobState::Dead) => {
            q.push(" AND dead_at IS NOT NULL AND done_at IS NULL");
        }
    }
    if let Some(before) = f.before {
        q.push(" AND id < ").push_bind(before as i64);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(rows::limit(f.limit.unwrap_or(100)));
    let found: Vec<JobRow> = q.fetch_all(c).await?;
    found.into_iter().map(JobRow::into_record).collect()
}

/// When the next unfinished job (of `lanes`) is due, or its lease runs out.
pub(crate) async fn next_due<D: Dialect>(c: &mut D::Connection, lanes: &[Lane]) -> Result<Option<Timestamp>> {
    let mut q = D::query(
        "SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > due_at THEN locked_until ELSE due_at END)
         FROM jobs WHERE done_at IS NULL AND dead_at IS NULL AND lane IN (",
    );
    for (i, lane) in lanes.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_bind(lane.as_i64());
    }
    if lanes.is_empty() {
        q.push("NULL");
    }
    q.push(")");
    let due: Option<i64> = q.scalar(c).await?;
    due.map(rows::timestamp).transpose()
}

/// Puts a job back for later without counting the attempt: its channel
/// could not try (nothing is configured to deliver it yet). Same lease rule.
pub(crate) async fn put_back<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    lease: Timestamp,
    due_at: Timestamp,
    why: &str,
) -> Result<bool> {
    record::<D>(c, id, lease, "due_at = $1, last_error = $2, attempts = attempts - 1", due_at, Some(why)).await
}

/// Rewrites a job's payload (to drop what an older version put in it).
pub(crate) async fn rewrite<D: Dialect>(c: &mut D::Connection, id: u64, job: &Job) -> Result<()> {
    let (_, payload) = job.to_stored();
    D::query("UPDATE jobs SET payload = $1 WHERE id = $2").bind(payload.to_string()).bind(id as i64).execute(c).await?;
    Ok(())
}

pub(crate) async fn status<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<JobStatus>> {
    let found: Option<StatusRow> = D::query("SELECT attempts, done_at, dead_at, last_error FROM jobs WHERE id = $1")
        .bind(id as i64)
        .fetch_optional(c)
        .await?;
    found
        .map(|r| {
            Ok(JobStatus {
                attempts: r.attempts as u32,
                done_at: r.done_at.map(rows::timestamp).transpose()?,
                dead_at: r.dead_at.map(rows::timestamp).transpose()?,
                last_error: r.last_error,
            })
        })
        .transpose()
}
