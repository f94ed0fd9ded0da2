//! Incidents and their timelines, as stored: an incident's state (JSON, with
//! the columns lists filter on) in `incidents`, and its events, hash-chained,
//! in `incident_events`; the queries on them.
//!
//! Commands on one incident are serialized by locking its row
//! (`lock_incident`: `FOR UPDATE` on PostgreSQL; SQLite has one writer),
//! and every writer locks in one order: an alert, then its incident, then a
//! page.

use muster_domain::incident::Context;
use muster_domain::intake;
use muster_domain::timeline::{ChainCheck, ChainChecker};
use muster_domain::{Actor, Command, Event, Incident, Priority, Status, Timestamp};

use crate::dialect::{Dialect, Query};
use crate::rows::{self, micros};
use crate::{Decide, DecideDeclaration, Result, StoreError};

/// Which incidents to list: newest first, `before` an incident number.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    pub before: Option<u64>,
    /// Only those declared at or after this time.
    pub declared_from: Option<Timestamp>,
    /// Only those declared before this time.
    pub declared_to: Option<Timestamp>,
    pub limit: u32,
}

/// A page of the timeline, in the order things happened: by `at`, then `seq`.
#[derive(Debug, Clone, Default)]
pub struct TimelineQuery {
    /// Start after this entry's position (`at`, `seq`).
    pub after: Option<(Timestamp, u64)>,
    /// With `latest`: end before this entry's position.
    pub before: Option<(Timestamp, u64)>,
    /// The last `limit` entries (still returned in time order) instead of the first.
    pub latest: bool,
    /// Only entries of these kinds (all when empty).
    pub kinds: Vec<String>,
    pub limit: u32,
}

pub(crate) fn incident(state: &str) -> Result<Incident> {
    serde_json::from_str(state).map_err(|e| StoreError::Corrupt(format!("incident state: {e}")))
}

fn incident_json(state: &Incident) -> String {
    serde_json::to_string(state).expect("an incident serializes")
}

fn event(body: &str) -> Result<Event> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

fn event_json(event: &Event) -> String {
    serde_json::to_string(event).expect("an event serializes")
}

pub(crate) fn no_incident(number: u64) -> StoreError {
    StoreError::NotFound(format!("there is no incident INC-{number}"))
}

/// Allots the next incident number (from a locked counter row, so numbers
/// have no gaps).
pub(crate) async fn next_number<D: Dialect>(c: &mut D::Connection) -> Result<u64> {
    let n: i64 =
        D::query("UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value").scalar(c).await?;
    Ok(n as u64)
}

/// Incident `number`'s state, its row locked until the transaction ends.
pub(crate) async fn lock_incident<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Option<Incident>> {
    let found: Option<String> = D::query(D::locking("SELECT state FROM incidents WHERE number = $1 FOR UPDATE"))
        .bind(number as i64)
        .scalar_optional(c)
        .await?;
    found.map(|s| incident(&s)).transpose()
}

async fn insert_events<D: Dialect>(c: &mut D::Connection, number: u64, events: &[Event]) -> Result<()> {
    for e in events {
        D::query(
            "INSERT INTO incident_events (incident, seq, occurred_at, recorded_at, actor, kind, body, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(number as i64)
        .bind(e.seq as i64)
        .bind(micros(e.at))
        .bind(micros(e.recorded_at))
        .bind(e.actor.as_str())
        .bind(e.change.kind())
        .bind(event_json(e))
        .bind(&e.hash)
        .execute(c)
        .await?;
    }
    Ok(())
}

/// Writes a new incident's state and events.
pub(crate) async fn insert_incident<D: Dialect>(
    c: &mut D::Connection,
    state: &Incident,
    events: &[Event],
) -> Result<()> {
    D::query(
        "INSERT INTO incidents (number, title, priority, status, declared_at, updated_at, version, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(state.number as i64)
    .bind(&state.title)
    .bind(state.priority.as_str())
    .bind(state.status.as_str())
    .bind(micros(state.declared_at))
    .bind(micros(state.updated_at))
    .bind(state.version as i64)
    .bind(incident_json(state))
    .execute(c)
    .await?;
    insert_events::<D>(c, state.number, events).await?;
    schedule_reminders::<D>(c, state, events).await
}

/// When `events` may have moved an audience's update clock, puts a
/// reminder for each audience's next due time in the outbox, in the
/// caller's transaction (a reminder whose clock moved on since does
/// nothing when it runs; its key makes scheduling the same due twice one).
async fn schedule_reminders<D: Dialect>(c: &mut D::Connection, state: &Incident, events: &[Event]) -> Result<()> {
    use muster_domain::cadence::{self, UpdateCadence};
    if !events.iter().any(|e| cadence::moves_clock(&e.change)) {
        return Ok(());
    }
    let table = match crate::accounts::setting::<D>(c, cadence::SETTING).await? {
        Some(json) => {
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("{}: {e}", cadence::SETTING)))?
        }
        None => UpdateCadence::default(),
    };
    let now = state.updated_at;
    let mut jobs = Vec::new();
    for audience in muster_domain::update::UpdateAudience::ALL {
        let Some(due) = cadence::next_due(state, audience, &table, now) else { continue };
        let job = muster_domain::outbox::Job::UpdateReminder {
            incident: state.number,
            audience,
            due_at: due.at,
            overdue: false,
        };
        let key = format!("update.reminder:{}:{audience}:{}:due", state.number, due.at.as_microsecond());
        jobs.push(crate::NewJob { job, idempotency_key: key, due_at: due.at });
    }
    crate::jobs::insert::<D>(c, &jobs, now).await
}

/// Writes an incident's new state and the events that led to it.
pub(crate) async fn save_incident<D: Dialect>(c: &mut D::Connection, state: &Incident, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    D::query(
        "UPDATE incidents SET title = $1, priority = $2, status = $3, updated_at = $4, version = $5, state = $6
         WHERE number = $7",
    )
    .bind(&state.title)
    .bind(state.priority.as_str())
    .bind(state.status.as_str())
    .bind(micros(state.updated_at))
    .bind(state.version as i64)
    .bind(incident_json(state))
    .bind(state.number as i64)
    .execute(c)
    .await?;
    insert_events::<D>(c, state.number, events).await?;
    crate::followups::project::<D>(c, state.number, events).await?;
    schedule_reminders::<D>(c, state, events).await
}

/// Runs `command` on incident `number` as `actor`, in the caller's
/// transaction. Nothing is written on a closed incident
/// (`intake::records_on`); any other refusal is an error, which rolls
/// the caller's transaction back.
pub(crate) async fn run_on_incident<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    actor: &Actor,
    command: Command,
    now: Timestamp,
) -> Result<()> {
    let Some(state) = lock_incident::<D>(c, number).await? else { return Ok(()) };
    if !intake::records_on(&state) {
        return Ok(());
    }
    let catalog = crate::accounts::role_catalog::<D>(c).await?;
    let (next, events) = state.execute(command, Context { actor, now, catalog: &catalog })?;
    save_incident::<D>(c, &next, &events).await
}

/// Allots the next number and writes the declaration `decide` makes, in the
/// caller's transaction.
pub(crate) async fn declare<D: Dialect>(
    c: &mut D::Connection,
    decide: &DecideDeclaration<'_>,
) -> Result<(Incident, Vec<Event>)> {
    let number = next_number::<D>(c).await?;
    let (state, events) = decide(number)?;
    insert_incident::<D>(c, &state, &events).await?;
    Ok((state, events))
}

/// Locks incident `number`, decides on its state and writes what `decide`
/// makes, in the caller's transaction. No events: the current state, and
/// nothing written.
pub(crate) async fn update<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    decide: &Decide<'_>,
) -> Result<(Incident, Vec<Event>)> {
    let current = lock_incident::<D>(c, number).await?.ok_or_else(|| no_incident(number))?;
    let (state, events) = decide(&current)?;
    if events.is_empty() {
        return Ok((current, events));
    }
    save_incident::<D>(c, &state, &events).await?;
    Ok((state, events))
}

pub(crate) async fn incident_by_number<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Option<Incident>> {
    let found: Option<String> =
        D::query("SELECT state FROM incidents WHERE number = $1").bind(number as i64).scalar_optional(c).await?;
    found.map(|s| incident(&s)).transpose()
}

/// The incidents numbered `numbers`, by number.
pub(crate) async fn incidents_numbered<D: Dialect>(c: &mut D::Connection, numbers: &[u64]) -> Result<Vec<Incident>> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = numbers.iter().map(|n| (*n as i64).to_string()).collect();
    let sql = format!("SELECT state FROM incidents WHERE number IN ({}) ORDER BY number", list.join(", "));
    let found: Vec<String> = D::query(sql).scalars(c).await?;
    found.iter().map(|s| incident(s)).collect()
}

/// The incidents a filter selects, newest first.
pub(crate) async fn incidents<D: Dialect>(c: &mut D::Connection, filter: &IncidentFilter) -> Result<Vec<Incident>> {
    let mut q = D::query("SELECT state FROM incidents WHERE 1 = 1");
    push_in(&mut q, "status", filter.statuses.iter().map(|s| s.as_str()));
    push_in(&mut q, "priority", filter.priorities.iter().map(|p| p.as_str()));
    if let Some(before) = filter.before {
        q.push(" AND number < ").push_bind(before as i64);
    }
    if let Some(from) = filter.declared_from {
        q.push(" AND declared_at >= ").push_bind(micros(from));
    }
    if let Some(to) = filter.declared_to {
        q.push(" AND declared_at < ").push_bind(micros(to));
    }
    q.push(" ORDER BY number DESC LIMIT ").push_bind(rows::limit(filter.limit));
    let found: Vec<String> = q.scalars(c).await?;
    found.iter().map(|s| incident(s)).collect()
}

/// ` AND column IN (…)` for some values; nothing for none.
fn push_in<'q, D: Dialect>(q: &mut Query<'q, D>, column: &str, values: impl ExactSizeIterator<Item = &'q str>) {
    if values.len() == 0 {
        return;
    }
    q.push(format_args!(" AND {column} IN ("));
    for (i, v) in values.enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_bind(v);
    }
    q.push(")");
}

/// A page of incident `number`'s timeline; `None` if there is no such incident.
pub(crate) async fn timeline<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    query: &TimelineQuery,
) -> Result<Option<Vec<Event>>> {
    let exists: Option<i64> =
        D::query("SELECT number FROM incidents WHERE number = $1").bind(number as i64).scalar_optional(c).await?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut q = D::query("SELECT body FROM incident_events WHERE incident = ");
    q.push_bind(number as i64);
    if let Some((at, seq)) = query.after {
        q.push(" AND (occurred_at, seq) > (").push_bind(micros(at)).push(", ").push_bind(seq as i64).push(")");
    }
    if let Some((at, seq)) = query.before {
        q.push(" AND (occurred_at, seq) < (").push_bind(micros(at)).push(", ").push_bind(seq as i64).push(")");
    }
    push_in(&mut q, "kind", query.kinds.iter().map(String::as_str));
    q.push(if query.latest { " ORDER BY occurred_at DESC, seq DESC" } else { " ORDER BY occurred_at, seq" });
    q.push(" LIMIT ").push_bind(rows::limit(query.limit));
    let mut found: Vec<String> = q.scalars(c).await?;
    if query.latest {
        found.reverse();
    }
    found.iter().map(|b| event(b)).collect::<Result<_>>().map(Some)
}

/// Every event of an incident, in `seq` order.
pub(crate) async fn events<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<Event>> {
    let found: Vec<String> = D::query("SELECT body FROM incident_events WHERE incident = $1 ORDER BY seq")
        .bind(number as i64)
        .scalars(c)
        .await?;
    found.iter().map(|b| event(b)).collect()
}

/// The events of each incident named, in `seq` order, read in a few
/// statements (500 incidents each).
pub(crate) async fn events_of<D: Dialect>(c: &mut D::Connection, numbers: &[u64]) -> Result<Vec<(u64, Vec<Event>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        incident: i64,
        body: String,
    }
    let mut out: Vec<(u64, Vec<Event>)> = Vec::with_capacity(numbers.len());
    for chunk in numbers.chunks(500) {
        let mut q = D::query("SELECT incident, body FROM incident_events WHERE incident IN (");
        for (i, n) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_bind(*n as i64);
        }
        q.push(") ORDER BY incident, seq");
        let rows: Vec<Row> = q.fetch_all(&mut *c).await?;
        for r in rows {
            let n = r.incident as u64;
            let e = event(&r.body)?;
            match out.last_mut() {
                Some((last, events)) if *last == n => events.push(e),
                _ => out.push((n, vec![e])),
            }
        }
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct StoredEventRow {
    seq: i64,
    occurred_at: i64,
    actor: String,
    kind: String,
    body: String,
    hash: String,
}

/// Checks an incident's stored timeline row by row: the chain of hashes
/// ([`ChainChecker`]), and that the columns the store queries by (number,
/// time, actor, kind, hash) say what the entry itself says. `None`: no such
/// incident.
pub(crate) async fn verify<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Option<ChainCheck>> {
    let exists: Option<i64> =
        D::query("SELECT number FROM incidents WHERE number = $1").bind(number as i64).scalar_optional(c).await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows: Vec<StoredEventRow> = D::query(
        "SELECT seq, occurred_at, actor, kind, body, hash FROM incident_events WHERE incident = $1 ORDER BY seq",
    )
    .bind(number as i64)
    .fetch_all(c)
    .await?;
    let mut checker = ChainChecker::default();
    for row in &rows {
        let read = serde_json::from_str::<Event>(&row.body).map_err(|e| format!("its content cannot be read: {e}"));
        let agrees = read.and_then(|e| {
            let differs = |column: &str| Err(format!("its {column} column differs from its content"));
            if row.occurred_at != micros(e.at) {
                differs("time")
            } else if row.actor != e.actor.as_str() {
                differs("actor")
            } else if row.kind != e.change.kind() {
                differs("kind")
            } else if row.hash != e.hash {
                differs("hash")
            } else {
                Ok(e)
            }
        });
        checker.push(row.seq as u64, agrees.as_ref().map_err(String::clone));
    }
    Ok(Some(checker.finish()))
}

/// The events recorded after `seq`, in `seq` order.
pub(crate) async fn events_since<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    seq: u64,
    limit: u32,
) -> Result<Vec<Event>> {
    let found: Vec<String> =
        D::query("SELECT body FROM incident_events WHERE incident = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(number as i64)
            .bind(seq as i64)
            .bind(rows::limit(limit))
            .scalars(c)
            .await?;
    found.iter().map(|b| event(b)).collect()
}

pub(crate) async fn version<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Option<u64>> {
    let found: Option<i64> =
        D::query("SELECT version FROM incidents WHERE number = $1").bind(number as i64).scalar_optional(c).await?;
    Ok(found.map(|v| v as u64))
}
