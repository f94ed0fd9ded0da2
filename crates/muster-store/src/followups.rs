//! Follow-ups across incidents: the actions marked follow-ups, projected
//! from `action_tracked` events into `follow_ups` in the transaction that
//! records them, so `GET /api/v1/follow-ups` reads one table rather than
//! every timeline.

use muster_domain::action::ActionStatus;
use muster_domain::incident::Change;
use muster_domain::{Event, Handle, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{micros, timestamp};
use crate::{Result, StoreError};

/// A follow-up as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRecord {
    pub incident: u64,
    /// The action's timeline entry.
    pub action: u64,
    pub text: String,
    pub owner: Option<Handle>,
    pub due_at: Option<Timestamp>,
    pub status: ActionStatus,
    pub ticket: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which follow-ups to list: by due time (none last), then incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUpFilter {
    pub statuses: Vec<ActionStatus>,
    pub owner: Option<Handle>,
    /// Only those open and due at or before this time.
    pub overdue_at: Option<Timestamp>,
    pub incident: Option<u64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    incident: i64,
    action: i64,
    text: String,
    owner: Option<String>,
    due_at: Option<i64>,
    status: String,
    ticket: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for FollowUpRecord {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |e: muster_domain::DomainError| {
            StoreError::Corrupt(format!("follow-up {} of INC-{}: {e}", r.action, r.incident))
        };
        Ok(FollowUpRecord {
            incident: r.incident as u64,
            action: r.action as u64,
            owner: r.owner.as_deref().map(Handle::parse).transpose().map_err(corrupt)?,
            due_at: r.due_at.map(timestamp).transpose()?,
            status: r.status.parse().map_err(corrupt)?,
            text: r.text,
            ticket: r.ticket,
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
        })
    }
}

/// Writes what `events` (of incident `number`) say of its follow-ups.
pub(crate) async fn project<D: Dialect>(c: &mut D::Connection, number: u64, events: &[Event]) -> Result<()> {
    for e in events {
        let Change::ActionTracked { action, text, tracking: t, .. } = &e.change else { continue };
        if !t.follow_up {
            D::query("DELETE FROM follow_ups WHERE incident = $1 AND action = $2")
                .bind(number as i64)
                .bind(*action as i64)
                .execute(&mut *c)
                .await?;
            continue;
        }
        D::query(
            "INSERT INTO follow_ups (incident, action, text, owner, due_at, status, ticket, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (incident, action) DO UPDATE SET text = excluded.text, owner = excluded.owner,
                 due_at = excluded.due_at, status = excluded.status, ticket = excluded.ticket,
                 updated_at = excluded.updated_at",
        )
        .bind(number as i64)
        .bind(*action as i64)
        .bind(text.as_str())
        .bind(t.owner.as_ref().map(|o| o.as_str().to_owned()))
        .bind(t.due_at.map(micros))
        .bind(t.status.as_str())
        .bind(t.ticket.clone())
        .bind(micros(e.recorded_at))
        .bind(micros(e.recorded_at))
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

pub(crate) async fn follow_ups<D: Dialect>(c: &mut D::Connection, f: &FollowUpFilter) -> Result<Vec<FollowUpRecord>> {
    let mut q = D::query(
        "SELECT incident, action, text, owner, due_at, status, ticket, created_at, updated_at FROM follow_ups",
    );
    q.push(" WHERE 1 = 1");
    q.push_in("status", f.statuses.iter().map(|s| s.as_str()));
    if let Some(o) = &f.owner {
        q.push(" AND owner = ").push_bind(o.as_str().to_owned());
    }
    if let Some(t) = f.overdue_at {
        q.push(" AND status = 'open' AND due_at <= ").push_bind(micros(t));
    }
    if let Some(n) = f.incident {
        q.push(" AND incident = ").push_bind(n as i64);
    }
    q.push(" ORDER BY due_at IS NULL, due_at, incident, action");
    let rows: Vec<Row> = q.fetch_all(c).await?;
    rows.into_iter().map(TryInto::try_into).collect()
}
