//! What the database holds now, for monitoring Muster itself (`/metrics`).

use crate::Result;
use crate::dialect::Dialect;

/// What the database holds now, for monitoring Muster itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Incidents by (status, priority).
    pub incidents: Vec<(String, String, u64)>,
    /// Alerts by status.
    pub alerts: Vec<(String, u64)>,
    /// Pages still escalating.
    pub open_pages: u64,
    /// Outbox jobs not done yet, and those among them that failed at least once.
    pub jobs_pending: u64,
    pub jobs_retrying: u64,
    /// Outbox jobs that were given up on (dead-lettered).
    pub jobs_dead: u64,
}

#[derive(sqlx::FromRow)]
struct IncidentCount {
    status: String,
    priority: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct AlertCount {
    status: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct PendingJobs {
    pending: i64,
    retrying: i64,
}

pub(crate) async fn gauges<D: Dialect>(c: &mut D::Connection) -> Result<Gauges> {
    let incidents: Vec<IncidentCount> = D::query(
        "SELECT status, priority, COUNT(*) AS n FROM incidents GROUP BY status, priority ORDER BY status, priority",
    )
    .fetch_all(c)
    .await?;
    let alerts: Vec<AlertCount> =
        D::query("SELECT status, COUNT(*) AS n FROM alerts GROUP BY status ORDER BY status").fetch_all(c).await?;
    let open_pages: i64 =
        D::query("SELECT COUNT(*) FROM pages WHERE state IN ('pending', 'notified')").scalar(c).await?;
    let jobs: PendingJobs = D::query(
        "SELECT COUNT(*) AS pending, COALESCE(SUM(CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END), 0) AS retrying
         FROM jobs WHERE done_at IS NULL AND dead_at IS NULL",
    )
    .fetch_one(c)
    .await?;
    let dead: i64 =
        D::query("SELECT COUNT(*) FROM jobs WHERE dead_at IS NOT NULL AND done_at IS NULL").scalar(c).await?;
    Ok(Gauges {
        incidents: incidents.into_iter().map(|r| (r.status, r.priority, r.n as u64)).collect(),
        alerts: alerts.into_iter().map(|r| (r.status, r.n as u64)).collect(),
        open_pages: open_pages as u64,
        jobs_pending: jobs.pending as u64,
        jobs_retrying: jobs.retrying as u64,
        jobs_dead: dead as u64,
    })
}
