//! Who is on call and how to reach them: stored schedules and their
//! overrides, escalation policies, contact methods and notification rules;
//! the types, and the queries on them.

use muster_domain::page::NotificationRule;
use muster_domain::paging::{ContactKind, EscalationPolicy};
use muster_domain::schedule::{Layer, Override, Schedule, time_zone};
use muster_domain::{DomainError, Handle, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{self, micros};
use crate::{Result, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub id: u64,
    pub name: String,
    pub time_zone: String,
    pub layers: Vec<Layer>,
    /// Every override, oldest first.
    pub overrides: Vec<Override>,
    pub created_at: Timestamp,
    /// When the schedule last changed: made, or an override added.
    pub revised_at: Timestamp,
    /// 0 as made, one more with each override added.
    pub revision: u64,
}

impl ScheduleRecord {
    /// The domain schedule, for on-call questions.
    pub fn schedule(&self) -> Result<Schedule, StoreError> {
        Ok(Schedule {
            time_zone: time_zone(&self.time_zone).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            layers: self.layers.clone(),
            overrides: self.overrides.clone(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub name: String,
    pub time_zone: String,
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone)]
pub struct NewOverride {
    pub schedule: u64,
    pub user: Handle,
    pub start: Timestamp,
    pub end: Timestamp,
    pub created_by: Handle,
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: i64,
    name: String,
    time_zone: String,
    layers: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct OverrideRow {
    id: i64,
    handle: String,
    starts_at: i64,
    ends_at: i64,
    created_at: i64,
}

fn record(row: ScheduleRow, overrides: Vec<OverrideRow>) -> Result<ScheduleRecord> {
    let id = row.id;
    let corrupt = |e: String| StoreError::Corrupt(format!("schedule {id}: {e}"));
    let revised_at = overrides.iter().map(|o| o.created_at).fold(row.created_at, i64::max);
    let revision = overrides.len() as u64;
    Ok(ScheduleRecord {
        id: id as u64,
        name: row.name,
        time_zone: row.time_zone,
        layers: serde_json::from_str(&row.layers).map_err(|e| corrupt(e.to_string()))?,
        overrides: overrides
            .into_iter()
            .map(|o| {
                Ok(Override {
                    id: o.id as u64,
                    user: Handle::parse(&o.handle).map_err(|e| corrupt(e.to_string()))?,
                    start: rows::timestamp(o.starts_at)?,
                    end: rows::timestamp(o.ends_at)?,
                })
            })
            .collect::<Result<_>>()?,
        created_at: rows::timestamp(row.created_at)?,
        revised_at: rows::timestamp(revised_at)?,
        revision,
    })
}

/// A stored escalation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub id: u64,
    pub policy: EscalationPolicy,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: i64,
    name: String,
    repeat: i64,
    steps: String,
    created_at: i64,
}

fn policy_record(row: PolicyRow) -> Result<PolicyRecord> {
    let id = row.id;
    Ok(PolicyRecord {
        id: id as u64,
        policy: EscalationPolicy {
            name: row.name,
            repeat: row.repeat as u32,
            steps: serde_json::from_str(&row.steps).map_err(|e| StoreError::Corrupt(format!("policy {id}: {e}")))?,
        },
        created_at: rows::timestamp(row.created_at)?,
    })
}

/// A way to reach a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMethod {
    pub id: u64,
    pub user: Handle,
    pub kind: ContactKind,
    pub address: String,
    /// A webhook's signing secret.
    pub secret: Option<String>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    handle: String,
    kind: String,
    address: String,
    secret: Option<String>,
    created_at: i64,
}

fn contact(row: ContactRow) -> Result<ContactMethod> {
    let id = row.id;
    let corrupt = |e: String| StoreError::Corrupt(format!("contact method {id}: {e}"));
    Ok(ContactMethod {
        id: id as u64,
        user: Handle::parse(&row.handle).map_err(|e| corrupt(e.to_string()))?,
        kind: row.kind.parse().map_err(|e: DomainError| corrupt(e.to_string()))?,
        address: row.address,
        secret: row.secret,
        created_at: rows::timestamp(row.created_at)?,
    })
}

/// When to use which of a person's contact methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRuleRecord {
    pub id: u64,
    pub user: Handle,
    pub rule: NotificationRule,
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    contact_method: i64,
    delay_seconds: i64,
}

/// Stores a schedule; its id.
pub(crate) async fn create_schedule<D: Dialect>(c: &mut D::Connection, s: &NewSchedule, now: Timestamp) -> Result<u64> {
    let layers = serde_json::to_string(&s.layers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let result =
        D::query("INSERT INTO schedules (name, time_zone, layers, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(&s.name)
            .bind(&s.time_zone)
            .bind(layers)
            .bind(micros(now))
            .scalar::<i64>(c)
            .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("a schedule named {:?} exists already", s.name)))
        }
        Err(e) => Err(e.into()),
        Ok(id) => Ok(id as u64),
    }
}

/// Every schedule, by name.
pub(crate) async fn schedules<D: Dialect>(c: &mut D::Connection) -> Result<Vec<ScheduleRecord>> {
    let ids: Vec<i64> = D::query("SELECT id FROM schedules ORDER BY name").scalars(c).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = schedule::<D>(c, id as u64).await? {
            out.push(s);
        }
    }
    Ok(out)
}

pub(crate) async fn schedule<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<ScheduleRecord>> {
    let row: Option<ScheduleRow> =
        D::query("SELECT id, name, time_zone, layers, created_at FROM schedules WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(c)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let overrides: Vec<OverrideRow> = D::query(
        "SELECT id, handle, starts_at, ends_at, created_at FROM schedule_overrides WHERE schedule = $1 ORDER BY id",
    )
    .bind(id as i64)
    .fetch_all(c)
    .await?;
    record(row, overrides).map(Some)
}

pub(crate) async fn add_override<D: Dialect>(
    c: &mut D::Connection,
    o: &NewOverride,
    now: Timestamp,
) -> Result<Override> {
    let id: i64 = D::query(
        "INSERT INTO schedule_overrides (schedule, handle, starts_at, ends_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(o.schedule as i64)
    .bind(o.user.as_str())
    .bind(micros(o.start))
    .bind(micros(o.end))
    .bind(o.created_by.as_str())
    .bind(micros(now))
    .scalar(c)
    .await?;
    Ok(Override { id: id as u64, user: o.user.clone(), start: o.start, end: o.end })
}

/// Stores a policy; its id.
pub(crate) async fn create_policy<D: Dialect>(
    c: &mut D::Connection,
    policy: &EscalationPolicy,
    now: Timestamp,
) -> Result<u64> {
    let steps = serde_json::to_string(&policy.steps).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let result = D::query(
        "INSERT INTO escalation_policies (name, repeat, steps, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&policy.name)
    .bind(i64::from(policy.repeat))
    .bind(steps)
    .bind(micros(now))
    .scalar::<i64>(c)
    .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("a policy named {:?} exists already", policy.name)))
        }
        Err(e) => Err(e.into()),
        Ok(id) => Ok(id as u64),
    }
}

/// Every policy, by name.
pub(crate) async fn policies<D: Dialect>(c: &mut D::Connection) -> Result<Vec<PolicyRecord>> {
    let found: Vec<PolicyRow> =
        D::query("SELECT id, name, repeat, steps, created_at FROM escalation_policies ORDER BY name")
            .fetch_all(c)
            .await?;
    found.into_iter().map(policy_record).collect()
}

pub(crate) async fn policy<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<PolicyRecord>> {
    let found: Option<PolicyRow> =
        D::query("SELECT id, name, repeat, steps, created_at FROM escalation_policies WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(c)
            .await?;
    found.map(policy_record).transpose()
}

pub(crate) async fn add_contact_method<D: Dialect>(
    c: &mut D::Connection,
    user: &Handle,
    kind: ContactKind,
    address: &str,
    secret: Option<&str>,
    now: Timestamp,
) -> Result<ContactMethod> {
    let id: i64 = D::query(
        "INSERT INTO contact_methods (handle, kind, address, secret, created_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(user.as_str())
    .bind(kind.as_str())
    .bind(address)
    .bind(secret.map(str::to_owned))
    .bind(micros(now))
    .scalar(c)
    .await?;
    Ok(ContactMethod {
        id: id as u64,
        user: user.clone(),
        kind,
        address: address.to_owned(),
        secret: secret.map(str::to_owned),
        created_at: now,
    })
}

pub(crate) async fn contact_method<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<ContactMethod>> {
    let found: Option<ContactRow> =
        D::query("SELECT id, handle, kind, address, secret, created_at FROM contact_methods WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(c)
            .await?;
    found.map(contact).transpose()
}

/// A person's contact methods, oldest first.
pub(crate) async fn contact_methods<D: Dialect>(c: &mut D::Connection, user: &Handle) -> Result<Vec<ContactMethod>> {
    let found: Vec<ContactRow> = D::query(
        "SELECT id, handle, kind, address, secret, created_at FROM contact_methods WHERE handle = $1 ORDER BY id",
    )
    .bind(user.as_str())
    .fetch_all(c)
    .await?;
    found.into_iter().map(contact).collect()
}

/// Removes one of the person's contact methods and the rules that use it;
/// `false` if the person has no such method. Jobs already written for it
/// are given up at delivery (their channel finds no method).
pub(crate) async fn remove_contact_method<D: Dialect>(c: &mut D::Connection, user: &Handle, id: u64) -> Result<bool> {
    D::query("DELETE FROM notification_rules WHERE contact_method = $1 AND handle = $2")
        .bind(id as i64)
        .bind(user.as_str())
        .execute(&mut *c)
        .await?;
    let removed = D::query("DELETE FROM contact_methods WHERE id = $1 AND handle = $2")
        .bind(id as i64)
        .bind(user.as_str())
        .execute(&mut *c)
        .await?;
    Ok(removed > 0)
}

/// Removes one of the person's rules; `false` if the person has no such rule.
pub(crate) async fn remove_notification_rule<D: Dialect>(
    c: &mut D::Connection,
    user: &Handle,
    id: u64,
) -> Result<bool> {
    let removed = D::query("DELETE FROM notification_rules WHERE id = $1 AND handle = $2")
        .bind(id as i64)
        .bind(user.as_str())
        .execute(c)
        .await?;
    Ok(removed > 0)
}

/// Adds a rule on one of the person's own contact methods.
pub(crate) async fn add_notification_rule<D: Dialect>(
    c: &mut D::Connection,
    user: &Handle,
    rule: &NotificationRule,
    now: Timestamp,
) -> Result<NotificationRuleRecord> {
    let owner: Option<String> = D::query("SELECT handle FROM contact_methods WHERE id = $1")
        .bind(rule.contact_method as i64)
        .scalar_optional(c)
        .await?;
    if owner.as_deref() != Some(user.as_str()) {
        return Err(StoreError::Rejected(DomainError::invalid(
            "contact_method",
            format!("@{user} has no contact method {}", rule.contact_method),
        )));
    }
    let result = D::query(
        "INSERT INTO notification_rules (handle, contact_method, delay_seconds, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user.as_str())
    .bind(rule.contact_method as i64)
    .bind(i64::from(rule.delay_seconds))
    .bind(micros(now))
    .scalar::<i64>(c)
    .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => Err(StoreError::Conflict(format!(
            "contact method {} is used after {} already",
            rule.contact_method,
            muster_domain::paging::minutes(u64::from(rule.delay_seconds))
        ))),
        Err(e) => Err(e.into()),
        Ok(id) => Ok(NotificationRuleRecord { id: id as u64, user: user.clone(), rule: *rule }),
    }
}

/// A person's rules, by delay.
pub(crate) async fn notification_rules<D: Dialect>(
    c: &mut D::Connection,
    user: &Handle,
) -> Result<Vec<NotificationRuleRecord>> {
    let found: Vec<RuleRow> = D::query(
        "SELECT id, contact_method, delay_seconds FROM notification_rules WHERE handle = $1 ORDER BY delay_seconds, id",
    )
    .bind(user.as_str())
    .fetch_all(c)
    .await?;
    Ok(found
        .into_iter()
        .map(|r| NotificationRuleRecord {
            id: r.id as u64,
            user: user.clone(),
            rule: NotificationRule { contact_method: r.contact_method as u64, delay_seconds: r.delay_seconds as u32 },
        })
        .collect())
}
