//! The public status page: components and every change of their state,
//! and the incidents on the page (see `muster_domain::statuspage`). An
//! external update's components change in its publishing transaction.

use muster_domain::statuspage::{ComponentSpec, ComponentStatus, Impact};
use muster_domain::{Incident, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{self, micros, timestamp};
use crate::{Result, StoreError, UpdateRecord};

/// A component as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    pub id: u64,
    pub spec: ComponentSpec,
    pub status: ComponentStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One change of a component's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentChange {
    pub id: u64,
    pub component: u64,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
    pub at: Timestamp,
    /// `update`, `direct` or `maintenance`.
    pub source: String,
    pub incident: Option<u64>,
    pub update: Option<u64>,
}

/// An incident on the public page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIncident {
    pub incident: u64,
    /// The title customers see.
    pub title: String,
    /// Set by hand; `None`: from the components.
    pub impact: Option<Impact>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ComponentRow {
    id: i64,
    name: String,
    description: String,
    grp: Option<String>,
    position: i64,
    only_show_if_degraded: i64,
    services: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ComponentRow> for ComponentRecord {
    type Error = StoreError;
    fn try_from(r: ComponentRow) -> Result<ComponentRecord> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("component {}: {what}: {e}", r.id));
        Ok(ComponentRecord {
            id: r.id as u64,
            status: r.status.parse().map_err(|e| bad("status", &e))?,
            spec: ComponentSpec {
                name: r.name.clone(),
                description: r.description.clone(),
                group: r.grp.clone(),
                position: r.position as u32,
                only_show_if_degraded: r.only_show_if_degraded != 0,
                services: serde_json::from_str(&r.services).map_err(|e| bad("services", &e))?,
            },
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
        })
    }
}

const COMPONENT_COLUMNS: &str = "SELECT id, name, description, grp, position, only_show_if_degraded, services, status, \
     created_at, updated_at FROM status_components";

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a component {name:?} exists already"))
}

fn no_component(id: u64) -> StoreError {
    StoreError::NotFound(format!("there is no component {id}"))
}

/// Every component, in the page's order (position, then id).
pub(crate) async fn components<D: Dialect>(c: &mut D::Connection) -> Result<Vec<ComponentRecord>> {
    let rows: Vec<ComponentRow> = D::query(format!("{COMPONENT_COLUMNS} ORDER BY position, id")).fetch_all(c).await?;
    rows.into_iter().map(ComponentRecord::try_from).collect()
}

pub(crate) async fn component<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<ComponentRecord>> {
    let row: Option<ComponentRow> =
        D::query(format!("{COMPONENT_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(c).await?;
    row.map(ComponentRecord::try_from).transpose()
}

pub(crate) async fn create_component<D: Dialect>(
    c: &mut D::Connection,
    spec: &ComponentSpec,
    now: Timestamp,
) -> Result<ComponentRecord> {
    let inserted = D::query(
        "INSERT INTO status_components (name, description, grp, position, only_show_if_degraded, services, status,
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'operational', $7, $7) RETURNING id",
    )
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(spec.group.as_deref())
    .bind(i64::from(spec.position))
    .bind(i64::from(spec.only_show_if_degraded))
    .bind(serde_json::to_string(&spec.services).expect("strings serialize"))
    .bind(micros(now))
    .scalar::<i64>(&mut *c)
    .await;
    let id = match inserted {
        Ok(id) => id as u64,
        Err(e) if rows::is_unique_violation(&e) => return Err(name_taken(&spec.name)),
        Err(e) => return Err(e.into()),
    };
    component::<D>(c, id).await?.ok_or_else(|| no_component(id))
}

pub(crate) async fn change_component<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    spec: &ComponentSpec,
    now: Timestamp,
) -> Result<ComponentRecord> {
    let changed = D::query(
        "UPDATE status_components SET name = $1, description = $2, grp = $3, position = $4,
         only_show_if_degraded = $5, services = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(spec.group.as_deref())
    .bind(i64::from(spec.position))
    .bind(i64::from(spec.only_show_if_degraded))
    .bind(serde_json::to_string(&spec.services).expect("strings serialize"))
    .bind(micros(now))
    .bind(id as i64)
    .execute(&mut *c)
    .await;
    match changed {
        Ok(0) => return Err(no_component(id)),
        Ok(_) => {}
        Err(e) if rows::is_unique_violation(&e) => return Err(name_taken(&spec.name)),
        Err(e) => return Err(e.into()),
    }
    component::<D>(c, id).await?.ok_or_else(|| no_component(id))
}

/// Deletes a component and its history; `false` if there is none.
pub(crate) async fn delete_component<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<bool> {
    D::query("DELETE FROM component_changes WHERE component = $1").bind(id as i64).execute(&mut *c).await?;
    let gone = D::query("DELETE FROM status_components WHERE id = $1").bind(id as i64).execute(&mut *c).await?;
    Ok(gone > 0)
}

/// Where a state change comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// `update`, `direct` or `maintenance`.
    pub kind: &'a str,
    pub incident: Option<u64>,
    pub update: Option<u64>,
}

/// Puts component `id` in `status` (its row locked), recording the change;
/// the change, or `None` when it was in that state already.
pub(crate) async fn set_status<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    status: ComponentStatus,
    source: Source<'_>,
    now: Timestamp,
) -> Result<Option<ComponentChange>> {
    let old: Option<String> = D::query(D::locking("SELECT status FROM status_components WHERE id = $1 FOR UPDATE"))
        .bind(id as i64)
        .scalar_optional(&mut *c)
        .await?;
    let old: ComponentStatus = old
        .ok_or_else(|| no_component(id))?
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("component {id}: {e}")))?;
    if old == status {
        return Ok(None);
    }
    D::query("UPDATE status_components SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(micros(now))
        .bind(id as i64)
        .execute(&mut *c)
        .await?;
    let change: i64 = D::query(
        "INSERT INTO component_changes (component, old_status, new_status, at, source, incident, update_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(id as i64)
    .bind(old.as_str())
    .bind(status.as_str())
    .bind(micros(now))
    .bind(source.kind)
    .bind(source.incident.map(|n| n as i64))
    .bind(source.update.map(|u| u as i64))
    .scalar(&mut *c)
    .await?;
    Ok(Some(ComponentChange {
        id: change as u64,
        component: id,
        old_status: old,
        new_status: status,
        at: now,
        source: source.kind.to_owned(),
        incident: source.incident,
        update: source.update,
    }))
}

/// An external update was published on `state`: the incident is on the
/// page from now on (under its title then), and the components the
/// update names are put in their states.
pub(crate) async fn published<D: Dialect>(
    c: &mut D::Connection,
    state: &Incident,
    update: &UpdateRecord,
    now: Timestamp,
) -> Result<()> {
    D::query(
        "INSERT INTO public_incidents (incident, title, impact, created_at, updated_at) VALUES ($1, $2, NULL, $3, $3)
         ON CONFLICT (incident) DO UPDATE SET updated_at = $3",
    )
    .bind(state.number as i64)
    .bind(&state.title)
    .bind(micros(now))
    .execute(&mut *c)
    .await?;
    for a in &update.content.components {
        let source = Source { kind: "update", incident: Some(state.number), update: Some(update.id) };
        set_status::<D>(c, a.component, a.status, source, now).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    component: i64,
    old_status: String,
    new_status: String,
    at: i64,
    source: String,
    incident: Option<i64>,
    update_id: Option<i64>,
}

impl TryFrom<ChangeRow> for ComponentChange {
    type Error = StoreError;
    fn try_from(r: ChangeRow) -> Result<ComponentChange> {
        let bad = |e: muster_domain::DomainError| StoreError::Corrupt(format!("component change {}: {e}", r.id));
        Ok(ComponentChange {
            id: r.id as u64,
            component: r.component as u64,
            old_status: r.old_status.parse().map_err(bad)?,
            new_status: r.new_status.parse().map_err(bad)?,
            at: timestamp(r.at)?,
            source: r.source,
            incident: r.incident.map(|n| n as u64),
            update: r.update_id.map(|u| u as u64),
        })
    }
}

const CHANGE_COLUMNS: &str =
    "SELECT id, component, old_status, new_status, at, source, incident, update_id FROM component_changes";

/// Every component's changes from `since` on, and each one's last change
/// before it (its state at `since`), oldest first.
pub(crate) async fn changes_since<D: Dialect>(c: &mut D::Connection, since: Timestamp) -> Result<Vec<ComponentChange>> {
    let rows: Vec<ChangeRow> = D::query(format!(
        "{CHANGE_COLUMNS} WHERE at >= $1 OR id IN (SELECT MAX(id) FROM component_changes WHERE at < $1 GROUP BY component)
         ORDER BY at, id"
    ))
    .bind(micros(since))
    .fetch_all(c)
    .await?;
    rows.into_iter().map(ComponentChange::try_from).collect()
}

/// The changes the incidents `numbers` made, oldest first.
pub(crate) async fn changes_of<D: Dialect>(c: &mut D::Connection, numbers: &[u64]) -> Result<Vec<ComponentChange>> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = numbers.iter().map(|n| (*n as i64).to_string()).collect();
    let sql = format!("{CHANGE_COLUMNS} WHERE incident IN ({}) ORDER BY at, id", list.join(", "));
    let rows: Vec<ChangeRow> = D::query(sql).fetch_all(c).await?;
    rows.into_iter().map(ComponentChange::try_from).collect()
}

/// The changes incident `number`'s updates made, oldest first.
pub(crate) async fn incident_changes<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<ComponentChange>> {
    let rows: Vec<ChangeRow> = D::query(format!("{CHANGE_COLUMNS} WHERE incident = $1 ORDER BY at, id"))
        .bind(number as i64)
        .fetch_all(c)
        .await?;
    rows.into_iter().map(ComponentChange::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct PublicRow {
    incident: i64,
    title: String,
    impact: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<PublicRow> for PublicIncident {
    type Error = StoreError;
    fn try_from(r: PublicRow) -> Result<PublicIncident> {
        Ok(PublicIncident {
            incident: r.incident as u64,
            title: r.title,
            impact: r
                .impact
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("public incident {}: {e}", r.incident)))?,
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
        })
    }
}

/// The incidents on the page that were updated since `since`, newest first.
pub(crate) async fn public_incidents<D: Dialect>(
    c: &mut D::Connection,
    since: Timestamp,
) -> Result<Vec<PublicIncident>> {
    let rows: Vec<PublicRow> = D::query(
        "SELECT incident, title, impact, created_at, updated_at FROM public_incidents WHERE updated_at >= $1
         ORDER BY created_at DESC, incident DESC",
    )
    .bind(micros(since))
    .fetch_all(c)
    .await?;
    rows.into_iter().map(PublicIncident::try_from).collect()
}

pub(crate) async fn public_incident<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Option<PublicIncident>> {
    let row: Option<PublicRow> =
        D::query("SELECT incident, title, impact, created_at, updated_at FROM public_incidents WHERE incident = $1")
            .bind(number as i64)
            .fetch_optional(c)
            .await?;
    row.map(PublicIncident::try_from).transpose()
}

/// Sets the public title or impact (`Some(None)`: from the components
/// again) of incident `number` on the page.
pub(crate) async fn edit_public_incident<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    title: Option<&str>,
    impact: Option<Option<Impact>>,
    now: Timestamp,
) -> Result<Option<PublicIncident>> {
    let found = public_incident::<D>(c, number).await?;
    let Some(old) = found else { return Ok(None) };
    let title = title.unwrap_or(&old.title);
    let impact = impact.unwrap_or(old.impact);
    D::query("UPDATE public_incidents SET title = $1, impact = $2, updated_at = $3 WHERE incident = $4")
        .bind(title)
        .bind(impact.map(|i| i.as_str()))
        .bind(micros(now))
        .bind(number as i64)
        .execute(&mut *c)
        .await?;
    public_incident::<D>(c, number).await
}

/// A subscriber of the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRecord {
    pub id: u64,
    /// `email` or `webhook`.
    pub kind: String,
    pub address: String,
    /// Component ids; empty: the whole page.
    pub components: Vec<u64>,
    pub token: String,
    pub secret: Option<String>,
    pub confirmed_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct SubscriberRow {
    id: i64,
    kind: String,
    address: String,
    components: String,
    token: String,
    secret: Option<String>,
    confirmed_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<SubscriberRow> for SubscriberRecord {
    type Error = StoreError;
    fn try_from(r: SubscriberRow) -> Result<SubscriberRecord> {
        Ok(SubscriberRecord {
            id: r.id as u64,
            kind: r.kind,
            address: r.address,
            components: serde_json::from_str(&r.components)
                .map_err(|e| StoreError::Corrupt(format!("subscriber {}: {e}", r.id)))?,
            token: r.token,
            secret: r.secret,
            confirmed_at: r.confirmed_at.map(timestamp).transpose()?,
            created_at: timestamp(r.created_at)?,
        })
    }
}

const SUBSCRIBER_COLUMNS: &str =
    "SELECT id, kind, address, components, token, secret, confirmed_at, created_at FROM status_subscribers";

/// A new subscriber, or — the address subscribed already — the one there
/// is, with `false`.
pub(crate) async fn subscribe<D: Dialect>(
    c: &mut D::Connection,
    new: &SubscriberRecord,
) -> Result<(SubscriberRecord, bool)> {
    let added = D::query(
        "INSERT INTO status_subscribers (kind, address, components, token, secret, confirmed_at, created_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6) ON CONFLICT (kind, address) DO NOTHING",
    )
    .bind(&new.kind)
    .bind(&new.address)
    .bind(serde_json::to_string(&new.components).expect("ids serialize"))
    .bind(&new.token)
    .bind(new.secret.as_deref())
    .bind(micros(new.created_at))
    .execute(&mut *c)
    .await?;
    let row: SubscriberRow = D::query(format!("{SUBSCRIBER_COLUMNS} WHERE kind = $1 AND address = $2"))
        .bind(&new.kind)
        .bind(&new.address)
        .fetch_one(c)
        .await?;
    Ok((row.try_into()?, added > 0))
}

pub(crate) async fn subscriber_by_token<D: Dialect>(
    c: &mut D::Connection,
    token: &str,
) -> Result<Option<SubscriberRecord>> {
    let row: Option<SubscriberRow> =
        D::query(format!("{SUBSCRIBER_COLUMNS} WHERE token = $1")).bind(token).fetch_optional(c).await?;
    row.map(SubscriberRecord::try_from).transpose()
}

pub(crate) async fn subscriber<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<SubscriberRecord>> {
    let row: Option<SubscriberRow> =
        D::query(format!("{SUBSCRIBER_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(c).await?;
    row.map(SubscriberRecord::try_from).transpose()
}

/// Every subscriber, confirmed ones only when `confirmed`.
pub(crate) async fn subscribers<D: Dialect>(c: &mut D::Connection, confirmed: bool) -> Result<Vec<SubscriberRecord>> {
    let filter = if confirmed { " WHERE confirmed_at IS NOT NULL" } else { "" };
    let rows: Vec<SubscriberRow> = D::query(format!("{SUBSCRIBER_COLUMNS}{filter} ORDER BY id")).fetch_all(c).await?;
    rows.into_iter().map(SubscriberRecord::try_from).collect()
}

/// Confirms subscriber `id` (once: a confirmed one keeps its time).
pub(crate) async fn confirm_subscriber<D: Dialect>(c: &mut D::Connection, id: u64, now: Timestamp) -> Result<bool> {
    let changed = D::query("UPDATE status_subscribers SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL")
        .bind(micros(now))
        .bind(id as i64)
        .execute(c)
        .await?;
    Ok(changed > 0)
}

/// Replaces the components subscriber `id` hears of; `false` if it is gone.
pub(crate) async fn set_subscriber_components<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    components: &[u64],
) -> Result<bool> {
    let changed = D::query("UPDATE status_subscribers SET components = $1 WHERE id = $2")
        .bind(serde_json::to_string(components).expect("ids serialize"))
        .bind(id as i64)
        .execute(c)
        .await?;
    Ok(changed > 0)
}

pub(crate) async fn remove_subscriber<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<bool> {
    let gone = D::query("DELETE FROM status_subscribers WHERE id = $1").bind(id as i64).execute(c).await?;
    Ok(gone > 0)
}
