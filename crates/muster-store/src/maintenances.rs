//! Scheduled maintenance on the status page (see
//! `muster_domain::maintenance`): the windows, each update they got, and
//! the component changes their moves make, written with the jobs that
//! tell the subscribers in one transaction.

use muster_domain::Timestamp;
use muster_domain::maintenance::{self, MaintenanceSpec, MaintenanceState, Step};
use muster_domain::statuspage::ComponentStatus;

use crate::dialect::Dialect;
use crate::rows::{micros, timestamp};
use crate::statuspage::{ComponentChange, Source};
use crate::{NewJob, Result, StoreError};

/// A maintenance as stored, with its updates (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceRecord {
    pub id: u64,
    pub spec: MaintenanceSpec,
    pub state: MaintenanceState,
    pub reminded_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updates: Vec<MaintenanceUpdate>,
}

/// One thing a maintenance told customers, in the state it was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceUpdate {
    pub id: u64,
    pub state: MaintenanceState,
    pub body: String,
    pub at: Timestamp,
}

/// What a maintenance's move means for the subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceNotice {
    Announced,
    Reminder,
    /// Moved to (or updated in) its current state.
    Update,
}

/// Decides the jobs of a maintenance's announcement or move, given it as
/// written and the component changes the move made.
pub type DecideMaintenance<'a> = dyn Fn(
        &MaintenanceRecord,
        MaintenanceNotice,
        &[ComponentChange],
    ) -> std::result::Result<Vec<NewJob>, muster_domain::DomainError>
    + Send
    + Sync
    + 'a;

/// A move asked of a maintenance.
#[derive(Debug, Clone, Copy)]
pub enum MaintenanceMove<'a> {
    /// Someone moved it to `to` (or, the same state, updated it) saying `body`.
    To { to: MaintenanceState, body: &'a str },
    /// One of its timers is due.
    Timer(Step),
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    body: String,
    components: String,
    starts_at: i64,
    ends_at: i64,
    auto_start: i64,
    auto_complete: i64,
    remind_minutes_before: Option<i64>,
    state: String,
    reminded_at: Option<i64>,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct UpdateRow {
    id: i64,
    maintenance: i64,
    state: String,
    body: String,
    at: i64,
}

const COLUMNS: &str = "SELECT id, title, body, components, starts_at, ends_at, auto_start, auto_complete, \
     remind_minutes_before, state, reminded_at, started_at, completed_at, created_at, updated_at FROM maintenances";

fn corrupt(id: i64, what: &str, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("maintenance {id}: {what}: {e}"))
}

fn record(r: Row, updates: &[UpdateRow]) -> Result<MaintenanceRecord> {
    let opt = |t: Option<i64>| t.map(timestamp).transpose();
    Ok(MaintenanceRecord {
        id: r.id as u64,
        spec: MaintenanceSpec {
            title: r.title,
            body: r.body,
            components: serde_json::from_str(&r.components).map_err(|e| corrupt(r.id, "components", &e))?,
            starts_at: timestamp(r.starts_at)?,
            ends_at: timestamp(r.ends_at)?,
            auto_start: r.auto_start != 0,
            auto_complete: r.auto_complete != 0,
            remind_minutes_before: r.remind_minutes_before.map(|m| m as u32),
        },
        state: r.state.parse().map_err(|e| corrupt(r.id, "state", &e))?,
        reminded_at: opt(r.reminded_at)?,
        started_at: opt(r.started_at)?,
        completed_at: opt(r.completed_at)?,
        created_at: timestamp(r.created_at)?,
        updated_at: timestamp(r.updated_at)?,
        updates: updates
            .iter()
            .filter(|u| u.maintenance == r.id)
            .map(|u| {
                Ok(MaintenanceUpdate {
                    id: u.id as u64,
                    state: u.state.parse().map_err(|e| corrupt(r.id, "update state", &e))?,
                    body: u.body.clone(),
                    at: timestamp(u.at)?,
                })
            })
            .collect::<Result<_>>()?,
    })
}

async fn read<D: Dialect>(c: &mut D::Connection, filter: &str, bind: i64) -> Result<Vec<MaintenanceRecord>> {
    let rows: Vec<Row> =
        D::query(format!("{COLUMNS} WHERE {filter} ORDER BY starts_at, id")).bind(bind).fetch_all(&mut *c).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let first = rows.iter().map(|r| r.id).min().unwrap_or(0);
    let updates: Vec<UpdateRow> = D::query(
        "SELECT id, maintenance, state, body, at FROM maintenance_updates WHERE maintenance >= $1 ORDER BY at, id",
    )
    .bind(first)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(|r| record(r, &updates)).collect()
}

/// The windows not completed, and those that ended from `since` on, by
/// their start.
pub(crate) async fn maintenances<D: Dialect>(
    c: &mut D::Connection,
    since: Timestamp,
) -> Result<Vec<MaintenanceRecord>> {
    read::<D>(c, "(state <> 'completed' OR ends_at >= $1 OR completed_at >= $1)", micros(since)).await
}

pub(crate) async fn maintenance<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<MaintenanceRecord>> {
    Ok(read::<D>(c, "id = $1", id as i64).await?.pop())
}

async fn add_update<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    state: MaintenanceState,
    body: &str,
    now: Timestamp,
) -> Result<()> {
    D::query("INSERT INTO maintenance_updates (maintenance, state, body, at) VALUES ($1, $2, $3, $4)")
        .bind(id as i64)
        .bind(state.as_str())
        .bind(body)
        .bind(micros(now))
        .execute(c)
        .await?;
    Ok(())
}

/// Announces a window: it and its first update written, and the jobs
/// `decide` gives (its timers, the announcement's notices).
pub(crate) async fn create<D: Dialect>(
    c: &mut D::Connection,
    spec: &MaintenanceSpec,
    decide: &DecideMaintenance<'_>,
    now: Timestamp,
) -> Result<MaintenanceRecord> {
    let id: i64 = D::query(
        "INSERT INTO maintenances (title, body, components, starts_at, ends_at, auto_start, auto_complete,
         remind_minutes_before, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', $9, $9) RETURNING id",
    )
    .bind(&spec.title)
    .bind(&spec.body)
    .bind(serde_json::to_string(&spec.components).expect("ids serialize"))
    .bind(micros(spec.starts_at))
    .bind(micros(spec.ends_at))
    .bind(i64::from(spec.auto_start))
    .bind(i64::from(spec.auto_complete))
    .bind(spec.remind_minutes_before.map(i64::from))
    .bind(micros(now))
    .scalar(&mut *c)
    .await?;
    add_update::<D>(c, id as u64, MaintenanceState::Scheduled, &spec.body, now).await?;
    let written = maintenance::<D>(c, id as u64).await?.ok_or_else(|| no_maintenance(id as u64))?;
    let jobs = decide(&written, MaintenanceNotice::Announced, &[])?;
    crate::jobs::insert::<D>(c, &jobs, now).await?;
    Ok(written)
}

fn no_maintenance(id: u64) -> StoreError {
    StoreError::NotFound(format!("there is no maintenance {id}"))
}

/// Moves maintenance `id` (its row locked): its components go under
/// maintenance when it starts and back to operational when it completes
/// (those still under maintenance), and the jobs `decide` gives are
/// written. `None` when a timer found it moved past (nothing written).
pub(crate) async fn advance<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    how: MaintenanceMove<'_>,
    decide: &DecideMaintenance<'_>,
    now: Timestamp,
) -> Result<Option<(MaintenanceRecord, Vec<ComponentChange>)>> {
    let locked: Option<String> = D::query(D::locking("SELECT state FROM maintenances WHERE id = $1 FOR UPDATE"))
        .bind(id as i64)
        .scalar_optional(&mut *c)
        .await?;
    let from: MaintenanceState =
        locked.ok_or_else(|| no_maintenance(id))?.parse().map_err(|e| corrupt(id as i64, "state", &e))?;
    let current = maintenance::<D>(c, id).await?.ok_or_else(|| no_maintenance(id))?;
    let (to, body, notice) = match how {
        MaintenanceMove::To { to, body } => {
            from.check_move(to)?;
            (Some(to), body.trim().to_owned(), MaintenanceNotice::Update)
        }
        MaintenanceMove::Timer(step) => match maintenance::on_timer(step, from) {
            None => return Ok(None),
            Some(None) => (None, String::new(), MaintenanceNotice::Reminder),
            Some(Some(to)) => (Some(to), String::new(), MaintenanceNotice::Update),
        },
    };
    let mut changes = Vec::new();
    match to {
        None => {
            D::query("UPDATE maintenances SET reminded_at = $1, updated_at = $1 WHERE id = $2")
                .bind(micros(now))
                .bind(id as i64)
                .execute(&mut *c)
                .await?;
        }
        Some(to) => {
            D::query(
                "UPDATE maintenances SET state = $1, updated_at = $2,
                 started_at = CASE WHEN started_at IS NULL AND $3 = 1 THEN $2 ELSE started_at END,
                 completed_at = CASE WHEN $4 = 1 THEN $2 ELSE completed_at END WHERE id = $5",
            )
            .bind(to.as_str())
            .bind(micros(now))
            .bind(i64::from(to.holds_components() || to == MaintenanceState::Completed))
            .bind(i64::from(to == MaintenanceState::Completed))
            .bind(id as i64)
            .execute(&mut *c)
            .await?;
            add_update::<D>(c, id, to, &body, now).await?;
            let target = if to.holds_components() && !from.holds_components() {
                Some((None, ComponentStatus::UnderMaintenance))
            } else if to == MaintenanceState::Completed && from.holds_components() {
                Some((Some(ComponentStatus::UnderMaintenance), ComponentStatus::Operational))
            } else {
                None
            };
            if let Some((only_from, status)) = target {
                for component in &current.spec.components {
                    let Some(now_c) = crate::statuspage::component::<D>(c, *component).await? else { continue };
                    if only_from.is_some_and(|f| f != now_c.status) {
                        continue;
                    }
                    let source = Source { kind: "maintenance", incident: None, update: None };
                    if let Some(change) = crate::statuspage::set_status::<D>(c, *component, status, source, now).await?
                    {
                        changes.push(change);
                    }
                }
            }
        }
    }
    let moved = maintenance::<D>(c, id).await?.ok_or_else(|| no_maintenance(id))?;
    let jobs = decide(&moved, notice, &changes)?;
    crate::jobs::insert::<D>(c, &jobs, now).await?;
    Ok(Some((moved, changes)))
}
