//! Services, alerts and change events, and ingest: the types, and the
//! queries on them. Where a row is read to be changed, it is locked
//! (`Dialect::LOCK`: `FOR UPDATE` on PostgreSQL; SQLite serializes writers
//! anyway), in the writers' one order: the alert, its incident, a page.
//!
//! Dedup is the database's job: a partial unique index allows one alert that
//! is not resolved per (service, dedup key), and a trigger is an upsert
//! against it. That holds across instances, batches and crashes alike.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use muster_domain::alert::{AlertAction, AlertRef, AlertStatus, AutoDeclare, DedupKey, IntegrationKey, Severity};
use muster_domain::incident::{Command, Context};
use muster_domain::intake::{self, NewAlert, system_actor as system};
use muster_domain::timeline::EntryKind;
use muster_domain::{Actor, Event, Handle, Incident, Permission, Timestamp};
use serde_json::Value;

use crate::dialect::{Dialect, Query};
use crate::incidents::{insert_incident, lock_incident, next_number, no_incident, run_on_incident, save_incident};
use crate::pages::{close_alert_pages, page_for_alert};
use crate::rows::{self, micros};
use crate::{DecideAlertDeclaration, DecideLink, Result, StoreError};

/// The reserved handle that acts for integrations on the timeline.
pub use muster_domain::intake::SYSTEM;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub owner: Option<Handle>,
    pub integration_key: IntegrationKey,
    pub auto_declare: AutoDeclare,
    /// The escalation policy that pages for this service's alerts.
    pub escalation_policy: Option<u64>,
    /// How long further pages for a person fold into one follow-up
    /// (`muster_domain::bundle`); `None`: the default, 0: never.
    pub bundle_window_seconds: Option<u32>,
    pub created_at: Timestamp,
}

impl Service {
    /// The bundling window its pages use, in seconds (0: none).
    pub fn bundle_window(&self) -> u32 {
        self.bundle_window_seconds.unwrap_or(muster_domain::bundle::DEFAULT_WINDOW_SECONDS)
    }
}

#[derive(Debug, Clone)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub owner: Option<Handle>,
    pub integration_key: IntegrationKey,
    pub auto_declare: AutoDeclare,
    pub escalation_policy: Option<u64>,
}

/// Changes to a service; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: Option<Option<Handle>>,
    pub auto_declare: Option<AutoDeclare>,
    pub integration_key: Option<IntegrationKey>,
    pub escalation_policy: Option<Option<u64>>,
    /// `Some(None)` goes back to the default window.
    pub bundle_window_seconds: Option<Option<u32>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: u64,
    pub service: u64,
    pub service_name: String,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub summary: String,
    pub source: String,
    pub details: Value,
    pub links: Value,
    pub count: u64,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub incident: Option<u64>,
    pub assessment: Option<Value>,
}

impl Alert {
    pub fn reference(&self) -> AlertRef {
        AlertRef {
            id: self.id,
            service: self.service_name.clone(),
            summary: self.summary.clone(),
            severity: self.severity,
            status: self.status,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub statuses: Vec<AlertStatus>,
    pub service: Option<u64>,
    /// Only alerts numbered below this (the next page).
    pub before: Option<u64>,
    pub limit: u32,
}

/// One event from a monitoring tool, already parsed and matched to its service.
#[derive(Debug, Clone)]
pub struct IngestEvent {
    pub service: u64,
    pub action: AlertAction,
    pub dedup_key: DedupKey,
    pub summary: String,
    pub severity: Severity,
    pub source: String,
    pub details: Value,
    pub links: Value,
}

/// What an ingested event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The alert it created or touched; `None` for an acknowledge or resolve
    /// with no open alert (accepted and ignored, as PagerDuty does).
    pub alert: Option<u64>,
    pub count: u64,
    pub incident: Option<u64>,
    /// Whether this event declared `incident`.
    pub declared: bool,
    /// Whether this event put a job in the outbox (a new alert's page,
    /// its first step due now): only then is the engine woken. Most
    /// events of a storm on a service that pages nobody add none.
    pub enqueued: bool,
}

/// A change event (a deploy, a config change) on a service.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub service: u64,
    pub summary: String,
    pub source: Option<String>,
    /// When the change happened, as its sender said (`payload.timestamp`);
    /// none: when it arrived. Never placed after its arrival.
    pub at: Option<Timestamp>,
    pub details: Value,
    pub links: Value,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    service: i64,
    service_name: String,
    dedup_key: String,
    status: String,
    severity: String,
    summary: String,
    source: String,
    details: String,
    links: String,
    count: i64,
    first_seen_at: i64,
    last_seen_at: i64,
    acknowledged_at: Option<i64>,
    resolved_at: Option<i64>,
    incident: Option<i64>,
    assessment: Option<String>,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn json(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(corrupt)
}

impl TryFrom<AlertRow> for Alert {
    type Error = StoreError;
    fn try_from(r: AlertRow) -> Result<Alert> {
        use crate::rows::timestamp;
        Ok(Alert {
            id: r.id as u64,
            service: r.service as u64,
            service_name: r.service_name,
            dedup_key: r.dedup_key,
            status: r.status.parse().map_err(corrupt)?,
            severity: r.severity.parse().map_err(corrupt)?,
            summary: r.summary,
            source: r.source,
            details: json(&r.details)?,
            links: json(&r.links)?,
            count: r.count as u64,
            first_seen_at: timestamp(r.first_seen_at)?,
            last_seen_at: timestamp(r.last_seen_at)?,
            acknowledged_at: r.acknowledged_at.map(timestamp).transpose()?,
            resolved_at: r.resolved_at.map(timestamp).transpose()?,
            incident: r.incident.map(|n| n as u64),
            assessment: r.assessment.as_deref().map(json).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    name: String,
    description: String,
    owner: Option<String>,
    integration_key: String,
    auto_declare: String,
    created_at: i64,
    escalation_policy: Option<i64>,
    bundle_window_seconds: Option<i64>,
}

impl TryFrom<ServiceRow> for Service {
    type Error = StoreError;
    fn try_from(r: ServiceRow) -> Result<Service> {
        Ok(Service {
            id: r.id as u64,
            name: r.name,
            description: r.description,
            owner: r.owner.as_deref().map(Handle::parse).transpose().map_err(corrupt)?,
            integration_key: IntegrationKey::parse(&r.integration_key).map_err(corrupt)?,
            auto_declare: serde_json::from_str(&r.auto_declare).map_err(corrupt)?,
            escalation_policy: r.escalation_policy.map(|p| p as u64),
            bundle_window_seconds: r.bundle_window_seconds.map(|s| s.clamp(0, i64::from(u32::MAX)) as u32),
            created_at: rows::timestamp(r.created_at)?,
        })
    }
}

/// What the multi-row upsert of a run of triggers returns for each key.
#[derive(sqlx::FromRow)]
struct UpsertRow {
    id: i64,
    service: i64,
    dedup_key: String,
    count: i64,
    incident: Option<i64>,
    previous_incident: Option<i64>,
}

const SERVICE_COLUMNS: &str = "SELECT id, name, description, owner, integration_key, auto_declare, created_at, escalation_policy, \
     bundle_window_seconds FROM services";

const ALERT_COLUMNS: &str = "SELECT a.id, a.service, s.name AS service_name, a.dedup_key, a.status, \
     a.severity, a.summary, a.source, a.details, a.links, a.count, a.first_seen_at, a.last_seen_at, \
     a.acknowledged_at, a.resolved_at, a.incident, a.assessment FROM alerts a JOIN services s ON s.id = a.service";

pub(crate) async fn alert<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<Alert>> {
    let found: Option<AlertRow> =
        D::query(format!("{ALERT_COLUMNS} WHERE a.id = $1")).bind(id as i64).fetch_optional(c).await?;
    found.map(Alert::try_from).transpose()
}

/// Locks alert `id`'s row (alone: on the read, which joins the service,
/// `FOR UPDATE` would lock the service's row too).
pub(crate) async fn lock_alert<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<()> {
    D::query(D::locking("SELECT id FROM alerts WHERE id = $1 FOR UPDATE")).bind(id as i64).execute(c).await?;
    Ok(())
}

pub(crate) async fn create_service<D: Dialect>(
    c: &mut D::Connection,
    s: &NewService,
    now: Timestamp,
) -> Result<Service> {
    let result = D::query(
        "INSERT INTO services (name, description, owner, integration_key, auto_declare, created_at, escalation_policy)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.owner.as_ref().map(|h| h.as_str().to_owned()))
    .bind(s.integration_key.as_str())
    .bind(serde_json::to_string(&s.auto_declare).expect("auto-declare serializes"))
    .bind(micros(now))
    .bind(s.escalation_policy.map(|p| p as i64))
    .scalar::<i64>(c)
    .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("a service named {:?} exists already", s.name)))
        }
        Err(e) => Err(e.into()),
        Ok(id) => service::<D>(c, id as u64).await?.ok_or_else(|| StoreError::NotFound("service".into())),
    }
}

/// Every service, by name.
pub(crate) async fn services<D: Dialect>(c: &mut D::Connection) -> Result<Vec<Service>> {
    let found: Vec<ServiceRow> = D::query(format!("{SERVICE_COLUMNS} ORDER BY name")).fetch_all(c).await?;
    found.into_iter().map(Service::try_from).collect()
}

pub(crate) async fn service<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<Service>> {
    let found: Option<ServiceRow> =
        D::query(format!("{SERVICE_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(c).await?;
    found.map(Service::try_from).transpose()
}

pub(crate) async fn service_by_key<D: Dialect>(c: &mut D::Connection, key: &str) -> Result<Option<Service>> {
    let found: Option<ServiceRow> =
        D::query(format!("{SERVICE_COLUMNS} WHERE integration_key = $1")).bind(key).fetch_optional(c).await?;
    found.map(Service::try_from).transpose()
}

pub(crate) async fn update_service<D: Dialect>(c: &mut D::Connection, id: u64, p: &ServicePatch) -> Result<Service> {
    let Some(mut s) = service::<D>(c, id).await? else {
        return Err(StoreError::NotFound(format!("there is no service {id}")));
    };
    if let Some(v) = &p.name {
        s.name.clone_from(v);
    }
    if let Some(v) = &p.description {
        s.description.clone_from(v);
    }
    if let Some(v) = &p.owner {
        s.owner.clone_from(v);
    }
    if let Some(v) = &p.auto_declare {
        s.auto_declare = v.clone();
    }
    if let Some(v) = &p.integration_key {
        s.integration_key = v.clone();
    }
    if let Some(v) = p.escalation_policy {
        s.escalation_policy = v;
    }
    if let Some(v) = p.bundle_window_seconds {
        s.bundle_window_seconds = v;
    }
    let result = D::query(
        "UPDATE services SET name = $1, description = $2, owner = $3, integration_key = $4, auto_declare = $5,
         escalation_policy = $6, bundle_window_seconds = $8 WHERE id = $7",
    )
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.owner.as_ref().map(|h| h.as_str().to_owned()))
    .bind(s.integration_key.as_str())
    .bind(serde_json::to_string(&s.auto_declare).expect("auto-declare serializes"))
    .bind(s.escalation_policy.map(|p| p as i64))
    .bind(id as i64)
    .bind(s.bundle_window_seconds.map(i64::from))
    .execute(c)
    .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("a service named {:?} exists already", s.name)))
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(s),
    }
}

/// The alerts a filter selects, newest first.
pub(crate) async fn alerts<D: Dialect>(c: &mut D::Connection, f: &AlertFilter) -> Result<Vec<Alert>> {
    let mut q = D::query(ALERT_COLUMNS);
    q.push(" WHERE 1 = 1");
    q.push_in("a.status", f.statuses.iter().map(|s| s.as_str()));
    if let Some(s) = f.service {
        q.push(" AND a.service = ").push_bind(s as i64);
    }
    if let Some(b) = f.before {
        q.push(" AND a.id < ").push_bind(b as i64);
    }
    q.push(" ORDER BY a.id DESC LIMIT ").push_bind(rows::limit(f.limit));
    let found: Vec<AlertRow> = q.fetch_all(c).await?;
    found.into_iter().map(Alert::try_from).collect()
}

pub(crate) async fn alerts_of_incident<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<Alert>> {
    let found: Vec<AlertRow> = D::query(format!("{ALERT_COLUMNS} WHERE a.incident = $1 ORDER BY a.id"))
        .bind(number as i64)
        .fetch_all(c)
        .await?;
    found.into_iter().map(Alert::try_from).collect()
}

/// A batch of monitoring events, in order, inside one transaction.
///
/// The batch is cut into runs that keep the order events arrived in:
/// triggers, then the acknowledges and resolves after them, until a
/// trigger follows those or a key comes again among them. A run of
/// triggers becomes one multi-row upsert per (up to) 100 distinct keys:
/// repeats of a key within it are counted together (`count + n`), so
/// each key appears once per statement, which both backends need. A
/// run of acknowledges and resolves, each of its own key, becomes one
/// multi-row update. So the common cases (new alerts, repeats, alerts
/// ending) take a few statements per batch, not per event; what is rare
/// (an incident to write to, pages to close, declaring) runs per event.
pub(crate) async fn ingest<D: Dialect>(
    c: &mut D::Connection,
    batch: &[IngestEvent],
    now: Timestamp,
) -> Result<Vec<IngestOutcome>> {
    let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; batch.len()];
    let mut services = HashMap::new();
    let mut run: Vec<usize> = Vec::new();
    let mut moves: Vec<usize> = Vec::new();
    for (i, e) in batch.iter().enumerate() {
        let again = |m: &usize| batch[*m].service == e.service && batch[*m].dedup_key == e.dedup_key;
        if e.action == AlertAction::Trigger {
            if !moves.is_empty() {
                triggers::<D>(c, batch, &run, now, &mut services, &mut outcomes).await?;
                acknowledges_or_resolves::<D>(c, batch, &moves, now, &mut outcomes).await?;
                run.clear();
                moves.clear();
            }
            run.push(i);
        } else {
            if moves.iter().any(again) {
                triggers::<D>(c, batch, &run, now, &mut services, &mut outcomes).await?;
                acknowledges_or_resolves::<D>(c, batch, &moves, now, &mut outcomes).await?;
                run.clear();
                moves.clear();
            }
            moves.push(i);
        }
    }
    triggers::<D>(c, batch, &run, now, &mut services, &mut outcomes).await?;
    acknowledges_or_resolves::<D>(c, batch, &moves, now, &mut outcomes).await?;
    Ok(outcomes.into_iter().map(|o| o.expect("every event has an outcome")).collect())
}

/// Whether a failed ingest may simply run again: PostgreSQL broke a
/// deadlock between two batches (or instances) by failing this one.
/// Batches lock their alerts in one order (see `triggers`), so this
/// needs batches that cross over keys in runs of different actions.
pub(crate) fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(sqlx::Error::Database(d))
        if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// What a multi-row acknowledge or resolve returns for each alert it moved.
#[derive(sqlx::FromRow)]
struct MovedRow {
    id: i64,
    service: i64,
    dedup_key: String,
    count: i64,
    incident: Option<i64>,
}

/// Acknowledges or resolves, by key, a run of events (indexes into
/// `batch`, no key twice) in one statement. An alert in an incident gets
/// its timeline entry, and one with open pages has them closed, event
/// by event in order.
async fn acknowledges_or_resolves<D: Dialect>(
    c: &mut D::Connection,
    batch: &[IngestEvent],
    run: &[usize],
    now: Timestamp,
    outcomes: &mut [Option<IngestOutcome>],
) -> Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    // Each event's wanted status, and where it may come from.
    let from = |to: AlertStatus| -> String {
        let from: Vec<String> = AlertStatus::moves_from(to).iter().map(|s| format!("'{}'", s.as_str())).collect();
        format!("(x.target = '{}' AND status IN ({}))", to.as_str(), from.join(", "))
    };
    let (ack, resolved) = (AlertStatus::Acknowledged.as_str(), AlertStatus::Resolved.as_str());
    let target = |e: &IngestEvent| if e.action == AlertAction::Resolve { resolved } else { ack };
    // The rows `x (s, k, target, at)`: service, key, wanted status, when.
    let mut q = if json_rows::<D>() {
        let rows: Vec<Value> = run
            .iter()
            .map(|&i| {
                let e = &batch[i];
                serde_json::json!({"s": e.service, "k": e.dedup_key.as_str(), "target": target(e), "at": micros(now)})
            })
            .collect();
        D::query(
            "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r (s bigint, k text, target text, at bigint)) ",
        )
        .bind(Value::Array(rows).to_string())
    } else {
        let mut q = D::query("WITH x (s, k, target, at) AS (VALUES ");
        for (n, &i) in run.iter().enumerate() {
            let e = &batch[i];
            q.push(if n == 0 { "(" } else { ", (" });
            q.push_bind(e.service as i64).push(", ").push_bind(e.dedup_key.as_str()).push(", ");
            q.push_bind(target(e)).push(", ").push_bind(micros(now)).push(")");
        }
        q.push(") ");
        q
    };
    q.push(format!(
        "UPDATE alerts SET status = x.target, \
         acknowledged_at = CASE WHEN x.target = '{ack}' THEN x.at ELSE acknowledged_at END, \
         resolved_at = CASE WHEN x.target = '{resolved}' THEN x.at ELSE resolved_at END \
         FROM x WHERE service = x.s AND dedup_key = x.k AND ({} OR {}) \
         RETURNING id, service, dedup_key, count, incident",
        from(AlertStatus::Acknowledged),
        from(AlertStatus::Resolved)
    ));
    let moved: Vec<MovedRow> = q.fetch_all(c).await?;
    let by_key: HashMap<(u64, &str), &MovedRow> =
        moved.iter().map(|r| ((r.service as u64, r.dedup_key.as_str()), r)).collect();
    // The alerts with pages to close, asked once for the run.
    let paged: Vec<i64> = if moved.is_empty() {
        Vec::new()
    } else if json_rows::<D>() {
        let ids: Vec<i64> = moved.iter().map(|r| r.id).collect();
        D::query(
            "SELECT DISTINCT alert FROM pages WHERE state IN ('pending', 'notified') \
             AND alert IN (SELECT (jsonb_array_elements_text($1::jsonb))::bigint)",
        )
        .bind(serde_json::to_string(&ids).expect("numbers serialize"))
        .scalars(c)
        .await?
    } else {
        let mut q = D::query("SELECT DISTINCT alert FROM pages WHERE state IN ('pending', 'notified') AND alert IN (");
        for (n, r) in moved.iter().enumerate() {
            q.push(if n == 0 { "" } else { ", " }).push_bind(r.id);
        }
        q.push(")");
        q.scalars(c).await?
    };
    for &i in run {
        let e = &batch[i];
        let Some(&&MovedRow { id, count, incident, .. }) = by_key.get(&(e.service, e.dedup_key.as_str())) else {
            outcomes[i] =
                Some(IngestOutcome { alert: None, count: 0, incident: None, declared: false, enqueued: false });
            continue;
        };
        if let Some(number) = incident {
            let alert = alert::<D>(c, id as u64).await?.ok_or_else(|| StoreError::Corrupt("alert".into()))?;
            run_on_incident::<D>(c, number as u64, &system(), intake::alert_status_entry(&alert.reference()), now)
                .await?;
        }
        if paged.contains(&id) {
            let reason = if e.action == AlertAction::Resolve {
                format!("alert {id} resolved")
            } else {
                format!("alert {id} was acknowledged by its monitoring")
            };
            close_alert_pages::<D>(c, id as u64, None, &reason, now).await?;
        }
        outcomes[i] = Some(IngestOutcome {
            alert: Some(id as u64),
            count: count as u64,
            incident: incident.map(|n| n as u64),
            declared: false,
            enqueued: false,
        });
    }
    Ok(())
}

/// Keys per multi-row upsert: 12 parameters a row stays far below
/// both backends' limits.
const KEYS_PER_STATEMENT: usize = 100;

/// Upserts a run of triggers (indexes into `batch`).
async fn triggers<D: Dialect>(
    c: &mut D::Connection,
    batch: &[IngestEvent],
    run: &[usize],
    now: Timestamp,
    services: &mut HashMap<u64, Service>,
    outcomes: &mut [Option<IngestOutcome>],
) -> Result<()> {
    // Group the run by key, in order of first appearance; the latest
    // event's fields win, as they would one by one.
    let mut groups: Vec<(u64, &str, Vec<usize>)> = Vec::new();
    let mut index: HashMap<(u64, &str), usize> = HashMap::new();
    for &i in run {
        let e = &batch[i];
        let k = (e.service, e.dedup_key.as_str());
        match index.get(&k) {
            Some(&g) => groups[g].2.push(i),
            None => {
                index.insert(k, groups.len());
                groups.push((e.service, e.dedup_key.as_str(), vec![i]));
            }
        }
    }
    // In one order of keys, so two batches upserting the same keys side
    // by side (PostgreSQL, several lanes or instances) lock their rows in
    // the same order and wait for each other rather than deadlock. New
    // alerts of one batch are numbered in this order too.
    groups.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let per_statement = if json_rows::<D>() { groups.len().max(1) } else { KEYS_PER_STATEMENT };
    for chunk in groups.chunks(per_statement) {
        let statement =
            if json_rows::<D>() { upsert_json::<D>(batch, chunk, now) } else { upsert::<D>(batch, chunk, now) };
        let found: Vec<UpsertRow> = statement.fetch_all(c).await?;
        let by_key: HashMap<(u64, &str), &UpsertRow> =
            found.iter().map(|r| ((r.service as u64, r.dedup_key.as_str()), r)).collect();
        for (service, key, members) in chunk {
            let row =
                by_key.get(&(*service, *key)).ok_or_else(|| StoreError::Corrupt("an upsert returned no row".into()))?;
            let (id, count, n) = (row.id as u64, row.count as u64, members.len() as u64);
            let mut incident = row.incident.map(|x| x as u64);
            let (mut declared, mut enqueued) = (false, false);
            if count == n {
                // Inserted: a new alert, with the fields of its key's last
                // event in the run (what the upsert wrote).
                let last = &batch[*members.last().expect("a group has members")];
                let previous = row.previous_incident.map(|p| p as u64);
                (incident, declared, enqueued) = new_alert::<D>(c, last, (id, count), previous, now, services).await?;
            }
            for (j, &i) in members.iter().enumerate() {
                outcomes[i] = Some(IngestOutcome {
                    alert: Some(id),
                    count: count - n + j as u64 + 1,
                    incident,
                    declared: declared && j == 0,
                    enqueued: enqueued && j == 0,
                });
            }
        }
    }
    Ok(())
}

/// The multi-row upsert of some keys' triggers (each key's latest event).
fn upsert<'q, D: Dialect>(
    batch: &'q [IngestEvent],
    chunk: &[(u64, &'q str, Vec<usize>)],
    now: Timestamp,
) -> Query<'q, D> {
    let mut q = D::query(
        "INSERT INTO alerts (service, dedup_key, status, severity, summary, source, details, links, count, \
         first_seen_at, last_seen_at, previous_incident) VALUES ",
    );
    for (i, (service, key, members)) in chunk.iter().enumerate() {
        let last = &batch[*members.last().expect("a group has members")];
        q.push(if i == 0 { "(" } else { ", (" });
        q.push_bind(*service as i64).push(", ").push_bind(*key).push(", 'triggered', ");
        q.push_bind(last.severity.as_str()).push(", ");
        q.push_bind(last.summary.as_str()).push(", ");
        q.push_bind(last.source.as_str()).push(", ");
        q.push_bind(last.details.to_string()).push(", ");
        q.push_bind(last.links.to_string()).push(", ");
        q.push_bind(members.len() as i64).push(", ");
        q.push_bind(micros(now)).push(", ");
        q.push_bind(micros(now)).push(", ");
        q.push("(SELECT p.incident FROM alerts p WHERE p.service = ").push_bind(*service as i64);
        q.push(" AND p.dedup_key = ").push_bind(*key).push(" ORDER BY p.id DESC LIMIT 1))");
    }
    q.push(UPSERT_CONFLICT);
    q
}

/// What a trigger does to the open alert of its key, and what the upsert
/// returns.
const UPSERT_CONFLICT: &str = " ON CONFLICT (service, dedup_key) WHERE status <> 'resolved' \
     DO UPDATE SET count = alerts.count + excluded.count, last_seen_at = excluded.last_seen_at, \
     severity = excluded.severity, summary = excluded.summary, details = excluded.details, links = excluded.links \
     RETURNING id, service, dedup_key, count, incident, previous_incident";

/// Whether statements over many rows take them as one JSON array rather
/// than a `VALUES` list. On PostgreSQL: a `VALUES` list is a different
/// statement text for every number of rows, so a storm, whose batches
/// come in every size, keeps preparing and planning new statements (a
/// round trip and, for a hundred rows, about as long again in the
/// planner) and pushes the pool's other statements out of each
/// connection's cache; one text for any number of rows is prepared
/// once. On SQLite, in the process, preparing is cheap, and `VALUES`
/// stays.
fn json_rows<D: Dialect>() -> bool {
    D::BACKEND == "postgres"
}

/// [`upsert`] on PostgreSQL, with the keys' rows as one JSON parameter.
fn upsert_json<'q, D: Dialect>(
    batch: &'q [IngestEvent],
    chunk: &[(u64, &'q str, Vec<usize>)],
    now: Timestamp,
) -> Query<'q, D> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO alerts (service, dedup_key, status, severity, summary, source, details, links, count, \
             first_seen_at, last_seen_at, previous_incident) \
             SELECT x.s, x.k, 'triggered', x.severity, x.summary, x.source, x.details, x.links, x.n, $2, $2, \
             (SELECT p.incident FROM alerts p WHERE p.service = x.s AND p.dedup_key = x.k ORDER BY p.id DESC LIMIT 1) \
             FROM jsonb_to_recordset($1::jsonb) AS x (s bigint, k text, severity text, summary text, source text, \
             details text, links text, n bigint){UPSERT_CONFLICT}"
        )
    });
    let rows: Vec<Value> = chunk
        .iter()
        .map(|(service, key, members)| {
            let last = &batch[*members.last().expect("a group has members")];
            serde_json::json!({
                "s": service, "k": key, "severity": last.severity.as_str(), "summary": last.summary,
                "source": last.source, "details": last.details.to_string(), "links": last.links.to_string(),
                "n": members.len(),
            })
        })
        .collect();
    D::query(SQL.as_str()).bind(Value::Array(rows).to_string()).bind(micros(now))
}

/// A new alert fired: it finds its incident (`alert_incident`) and,
/// when its service has an escalation policy, pages it. Returns the
/// alert's incident, whether this declared it, and whether it paged.
async fn new_alert<D: Dialect>(
    c: &mut D::Connection,
    e: &IngestEvent,
    (id, count): (u64, u64),
    previous: Option<u64>,
    now: Timestamp,
    services: &mut HashMap<u64, Service>,
) -> Result<(Option<u64>, bool, bool)> {
    let (incident, declared) = alert_incident::<D>(c, e, id, previous, now, services).await?;
    let mut paged = false;
    let service = &services[&e.service];
    if let Some(policy) = service.escalation_policy {
        let priority = declared.then(|| service.auto_declare.priority_for(e.severity)).flatten();
        // The alert as the upsert inserted it, in this transaction: no
        // need to read it back, a round trip per new alert of a storm.
        let found = Alert {
            id,
            service: e.service,
            service_name: service.name.clone(),
            dedup_key: e.dedup_key.as_str().to_owned(),
            status: AlertStatus::Triggered,
            severity: e.severity,
            summary: e.summary.clone(),
            source: e.source.clone(),
            details: e.details.clone(),
            links: e.links.clone(),
            count,
            first_seen_at: now,
            last_seen_at: now,
            acknowledged_at: None,
            resolved_at: None,
            incident,
            assessment: None,
        };
        paged = page_for_alert::<D>(c, &found, policy, priority, now).await?;
    }
    Ok((incident, declared, paged))
}

/// The incident a new alert belongs to, as `intake::new_alert`
/// decides from the service's rules and the key's previous incident
/// (locked here). Returns it and whether it was declared now.
async fn alert_incident<D: Dialect>(
    c: &mut D::Connection,
    e: &IngestEvent,
    id: u64,
    previous: Option<u64>,
    now: Timestamp,
    services: &mut HashMap<u64, Service>,
) -> Result<(Option<u64>, bool)> {
    if let Entry::Vacant(slot) = services.entry(e.service) {
        slot.insert(service::<D>(c, e.service).await?.ok_or_else(|| StoreError::Corrupt("service".into()))?);
    }
    let service = &services[&e.service];
    let previous = match previous {
        Some(number) => lock_incident::<D>(c, number).await?,
        None => None,
    };
    // The group's incident matters only when the alert would declare one:
    // most alerts don't, and this runs for every new alert of a storm.
    let would_declare = intake::declares(&service.auto_declare, e.severity, previous.as_ref());
    let group = intake::alert_group(service.id);
    let grouped = if would_declare {
        let number: Option<i64> = D::query(
            "SELECT number FROM incidents WHERE alert_group = $1 AND status NOT IN ('resolved', 'closed')
             ORDER BY number DESC LIMIT 1",
        )
        .bind(&group)
        .scalar_optional(c)
        .await?;
        match number {
            Some(n) => lock_incident::<D>(c, n as u64).await?,
            None => None,
        }
    } else {
        None
    };
    // The owner is looked up only when the alert declares: most alerts
    // don't, and this runs for every new alert of a storm.
    let owner = match &service.owner {
        Some(h) if would_declare && grouped.is_none() => {
            let found: Option<String> =
                D::query("SELECT permission FROM users WHERE handle = $1").bind(h.as_str()).scalar_optional(c).await?;
            found.and_then(|p| p.parse::<Permission>().ok()).map(|permission| Actor { handle: h.clone(), permission })
        }
        _ => None,
    };
    let rules = intake::ServiceRules {
        name: &service.name,
        auto_declare: &service.auto_declare,
        owner,
        has_policy: service.escalation_policy.is_some(),
    };
    // The alert as its row now reads: `e` is the last event of its key in
    // the batch, whose fields the upsert wrote.
    let found = AlertRef {
        id,
        service: service.name.clone(),
        summary: e.summary.clone(),
        severity: e.severity,
        status: AlertStatus::Triggered,
    };
    match intake::new_alert(&found, &rules, previous.as_ref(), grouped.as_ref()) {
        NewAlert::Triage => Ok((None, false)),
        NewAlert::Rejoin { incident, command } | NewAlert::JoinGroup { incident, command } => {
            link::<D>(c, id, incident).await?;
            run_on_incident::<D>(c, incident, &system(), command, now).await?;
            Ok((Some(incident), false))
        }
        NewAlert::Declare(d) => {
            let catalog = crate::accounts::role_catalog::<D>(c).await?;
            let number = next_number::<D>(c).await?;
            // Muster declares, on behalf of the owner (first responder).
            let muster = system();
            let ctx = Context { actor: &muster, now, catalog: &catalog };
            let (state, mut events) = Incident::declare_for(number, d.declaration, d.declarer.handle.clone(), ctx)?;
            let (mut state, more) = state.execute(d.link, ctx)?;
            events.extend(more);
            if let Some(text) = d.warning {
                let note = Command::AddEntry {
                    kind: EntryKind::Note,
                    text,
                    tag: None,
                    corrects: None,
                    occurred_at: None,
                    workstream: None,
                };
                let (next, more) = state.execute(note, ctx)?;
                state = next;
                events.extend(more);
            }
            insert_incident::<D>(c, &state, &events).await?;
            D::query("UPDATE incidents SET alert_group = $1 WHERE number = $2")
                .bind(&group)
                .bind(number as i64)
                .execute(c)
                .await?;
            link::<D>(c, id, number).await?;
            Ok((Some(number), true))
        }
    }
}

/// Puts an alert, and its pages, in incident `number`. Only an alert
/// in no incident yet: anything else is a conflict, and the caller's
/// transaction, dropped on the error, writes nothing.
async fn link<D: Dialect>(c: &mut D::Connection, alert: u64, number: u64) -> Result<()> {
    let done = D::query("UPDATE alerts SET incident = $1 WHERE id = $2 AND incident IS NULL")
        .bind(number as i64)
        .bind(alert as i64)
        .execute(c)
        .await?;
    if done == 0 {
        return Err(StoreError::Conflict(format!("alert {alert} belongs to an incident already")));
    }
    // The alert's pages belong to the incident now, too.
    D::query("UPDATE pages SET incident = $1 WHERE alert = $2 AND incident IS NULL")
        .bind(number as i64)
        .bind(alert as i64)
        .execute(c)
        .await?;
    Ok(())
}

/// Links an alert to an incident through `decide`; refuses an alert
/// that belongs to an incident already.
pub(crate) async fn link_alert<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    number: u64,
    decide: &DecideLink<'_>,
) -> Result<(Incident, Vec<Event>)> {
    let found = unlinked_alert::<D>(c, id).await?;
    let state = lock_incident::<D>(c, number).await?.ok_or_else(|| no_incident(number))?;
    let (next, events) = decide(&state, &found.reference())?;
    save_incident::<D>(c, &next, &events).await?;
    link::<D>(c, id, number).await?;
    Ok((next, events))
}

/// Alert `id`, which must not belong to an incident yet, locked
/// before it is read: the first lock of the writers' order (alert,
/// incident, page), so two writers cannot both find it unlinked. The
/// lock is on its row alone: on the read, which joins the service,
/// `FOR UPDATE` would lock the service's row too.
async fn unlinked_alert<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Alert> {
    lock_alert::<D>(c, id).await?;
    let found = alert::<D>(c, id).await?.ok_or_else(|| StoreError::NotFound(format!("there is no alert {id}")))?;
    match found.incident {
        Some(other) => Err(StoreError::Conflict(format!("alert {id} belongs to INC-{other} already"))),
        None => Ok(found),
    }
}

/// Declares an incident for an alert and links it, in one go.
pub(crate) async fn declare_for_alert<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    decide: &DecideAlertDeclaration<'_>,
) -> Result<(Incident, Vec<Event>)> {
    let found = unlinked_alert::<D>(c, id).await?;
    let number = next_number::<D>(c).await?;
    let (state, events) = decide(number, &found.reference())?;
    insert_incident::<D>(c, &state, &events).await?;
    link::<D>(c, id, number).await?;
    Ok((state, events))
}

/// Acknowledges or resolves one alert by id, for a person.
pub(crate) async fn set_alert_status<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    status: AlertStatus,
    now: Timestamp,
    actor: &Actor,
) -> Result<Alert> {
    let found = alert::<D>(c, id).await?.ok_or_else(|| StoreError::NotFound(format!("there is no alert {id}")))?;
    if !found.status.moves_to(status) {
        return Ok(found);
    }
    let stamp = if status == AlertStatus::Resolved { "resolved_at" } else { "acknowledged_at" };
    D::query(format!("UPDATE alerts SET status = $1, {stamp} = $2 WHERE id = $3"))
        .bind(status.as_str())
        .bind(micros(now))
        .bind(id as i64)
        .execute(c)
        .await?;
    let updated = alert::<D>(c, id).await?.ok_or_else(|| StoreError::Corrupt("alert".into()))?;
    if let Some(number) = updated.incident {
        run_on_incident::<D>(c, number, actor, intake::alert_status_entry(&updated.reference()), now).await?;
    }
    let by = (status == AlertStatus::Acknowledged).then_some(actor);
    let reason = format!("@{} {} alert {id}", actor.handle, if by.is_some() { "acknowledged" } else { "resolved" });
    close_alert_pages::<D>(c, id, by, &reason, now).await?;
    Ok(updated)
}

pub(crate) async fn assess_alert<D: Dialect>(c: &mut D::Connection, id: u64, assessment: &Value) -> Result<Alert> {
    let done = D::query("UPDATE alerts SET assessment = $1 WHERE id = $2")
        .bind(assessment.to_string())
        .bind(id as i64)
        .execute(c)
        .await?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("there is no alert {id}")));
    }
    alert::<D>(c, id).await?.ok_or_else(|| StoreError::Corrupt("alert".into()))
}

/// Records a change event and puts it on the timeline of the
/// service's incidents that are not resolved or closed. Returns them.
pub(crate) async fn record_change<D: Dialect>(
    c: &mut D::Connection,
    e: &ChangeEvent,
    now: Timestamp,
) -> Result<Vec<u64>> {
    D::query(
        "INSERT INTO change_events (service, summary, source, details, links, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.service as i64)
    .bind(&e.summary)
    .bind(e.source.clone())
    .bind(e.details.to_string())
    .bind(e.links.to_string())
    .bind(micros(e.at.map_or(now, |at| at.min(now))))
    .execute(c)
    .await?;
    let service = service::<D>(c, e.service).await?.ok_or_else(|| StoreError::Corrupt("service".into()))?;
    let numbers: Vec<i64> = D::query(
        "SELECT DISTINCT a.incident FROM alerts a JOIN incidents i ON i.number = a.incident
         WHERE a.service = $1 AND i.status NOT IN ('resolved', 'closed') ORDER BY a.incident",
    )
    .bind(e.service as i64)
    .scalars(c)
    .await?;
    let mut touched = Vec::new();
    for n in numbers {
        let command = intake::change_entry(&service.name, &e.summary, e.source.as_deref(), e.at);
        run_on_incident::<D>(c, n as u64, &system(), command, now).await?;
        touched.push(n as u64);
    }
    Ok(touched)
}

/// An alert key's noise over a span: how many events its alerts took in
/// (repeats included) and how many times it fired anew.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NoisyAlert {
    pub service: String,
    pub dedup_key: String,
    /// The summary of its latest alert.
    pub summary: String,
    /// Events, the first of each alert and every repeat.
    pub events: u64,
    /// Alerts: times it fired after the one before resolved (or first).
    pub alerts: u64,
}

/// The alerts first seen from `from` until before `to` (of one service
/// when named): how many per service, and the ten noisiest keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertNoise {
    pub per_service: std::collections::BTreeMap<String, u64>,
    pub noisiest: Vec<NoisyAlert>,
}

#[derive(sqlx::FromRow)]
struct NoisyRow {
    service: String,
    dedup_key: String,
    summary: String,
    events: i64,
    alerts: i64,
}

pub(crate) async fn alert_noise<D: Dialect>(
    c: &mut D::Connection,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    service: Option<&str>,
) -> Result<AlertNoise> {
    let from = from.map_or(i64::MIN, micros);
    let to = to.map_or(i64::MAX, micros);
    let per: Vec<(String, i64)> = D::query(
        "SELECT s.name, COUNT(*) FROM alerts a JOIN services s ON s.id = a.service
         WHERE a.first_seen_at >= $1 AND a.first_seen_at < $2 AND ($3 IS NULL OR s.name = $3)
         GROUP BY s.name",
    )
    .bind(from)
    .bind(to)
    .bind(service)
    .fetch_all(&mut *c)
    .await?;
    let noisiest: Vec<NoisyRow> = D::query(
        "SELECT s.name AS service, a.dedup_key,
                (SELECT b.summary FROM alerts b WHERE b.service = a.service AND b.dedup_key = a.dedup_key
                 ORDER BY b.id DESC LIMIT 1) AS summary,
                CAST(SUM(a.count) AS BIGINT) AS events, COUNT(*) AS alerts
         FROM alerts a JOIN services s ON s.id = a.service
         WHERE a.first_seen_at >= $1 AND a.first_seen_at < $2 AND ($3 IS NULL OR s.name = $3)
         GROUP BY a.service, s.name, a.dedup_key
         ORDER BY events DESC, alerts DESC, s.name, a.dedup_key
         LIMIT 10",
    )
    .bind(from)
    .bind(to)
    .bind(service)
    .fetch_all(c)
    .await?;
    Ok(AlertNoise {
        per_service: per.into_iter().map(|(s, n)| (s, n as u64)).collect(),
        noisiest: noisiest
            .into_iter()
            .map(|r| NoisyAlert {
                service: r.service,
                dedup_key: r.dedup_key,
                summary: r.summary,
                events: r.events as u64,
                alerts: r.alerts as u64,
            })
            .collect(),
    })
}
