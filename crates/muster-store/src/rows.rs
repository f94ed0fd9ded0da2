//! Turning rows into domain values; shared by both backends.

use muster_domain::{Event, Incident, Timestamp};

use crate::{IncidentFilter, StoreError};

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn timestamp(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("timestamp {us}: {e}")))
}

pub(crate) fn incident(state: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(state).map_err(|e| StoreError::Corrupt(format!("incident state: {e}")))
}

pub(crate) fn incident_json(state: &Incident) -> String {
    serde_json::to_string(state).expect("an incident serializes")
}

pub(crate) fn event(body: &str) -> Result<Event, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

pub(crate) fn event_json(event: &Event) -> String {
    serde_json::to_string(event).expect("an event serializes")
}

pub(crate) fn no_incident(number: u64) -> StoreError {
    StoreError::NotFound(format!("there is no incident INC-{number}"))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Page sizes are clamped to 1..=1000.
pub(crate) fn limit(l: u32) -> i64 {
    i64::from(l.clamp(1, 1000))
}

/// `SELECT state FROM incidents` for a filter, newest first. The query
/// builder writes each backend's placeholders, so both share this.
pub(crate) fn incidents_query<'a, DB: sqlx::Database>(filter: &IncidentFilter) -> sqlx::QueryBuilder<'a, DB>
where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new("SELECT state FROM incidents WHERE 1 = 1");
    let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let priorities: Vec<&'static str> = filter.priorities.iter().map(|p| p.as_str()).collect();
    for (column, values) in [("status", statuses), ("priority", priorities)] {
        if values.is_empty() {
            continue;
        }
        q.push(format_args!(" AND {column} IN ("));
        let mut list = q.separated(", ");
        for v in values {
            list.push_bind(v);
        }
        q.push(")");
    }
    if let Some(before) = filter.before {
        q.push(" AND number < ").push_bind(before as i64);
    }
    q.push(" ORDER BY number DESC LIMIT ").push_bind(limit(filter.limit));
    q
}
