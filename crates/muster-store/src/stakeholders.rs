//! Stakeholder groups and their webhooks, an incident's followers, the
//! customer responses recorded on external updates, and the deliveries of
//! published updates (see `muster_domain::stakeholder`).

use muster_domain::stakeholder::{Group, GroupSpec};
use muster_domain::update::UpdateAudience;
use muster_domain::{Handle, Priority, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{self, micros, timestamp};
use crate::{Result, StoreError};

/// A group's webhook with its secret, as the channel reads it at delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeholderWebhook {
    pub id: u64,
    pub group: u64,
    pub url: String,
    pub secret: String,
}

/// A customer's reply to an external update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRecord {
    pub id: u64,
    pub update: u64,
    pub from: String,
    pub channel: String,
    pub body: String,
    pub recorded_by: Handle,
    pub created_at: Timestamp,
}

/// One notification carrying a published update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateDelivery {
    pub job: u64,
    pub update: u64,
    /// `email` or `webhook`.
    pub kind: String,
    /// The address or URL.
    pub to: String,
    /// Why: "group Executives: @ann", "follower: @cat".
    pub recipient: String,
    pub attempts: u32,
    pub delivered_at: Option<Timestamp>,
    pub dead_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    name: String,
    members: String,
    emails: String,
    priorities: String,
    services: String,
    audiences: String,
}

fn read_list<T: std::str::FromStr>(id: i64, what: &str, json: &str) -> Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    let items: Vec<String> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("stakeholder group {id}: {what}: {e}")))?;
    items
        .iter()
        .map(|s| s.parse::<T>().map_err(|e| StoreError::Corrupt(format!("stakeholder group {id}: {what}: {e}"))))
        .collect()
}

fn write_list<T: ToString>(items: &[T]) -> String {
    serde_json::to_string(&items.iter().map(ToString::to_string).collect::<Vec<_>>()).expect("strings serialize")
}

impl GroupRow {
    fn into_group(self, webhooks: Vec<(u64, String)>) -> Result<Group> {
        let members: Vec<String> = read_list(self.id, "members", &self.members)?;
        let members = members
            .iter()
            .map(|m| Handle::parse(m).map_err(|e| StoreError::Corrupt(format!("stakeholder group {}: {e}", self.id))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Group {
            id: self.id as u64,
            spec: GroupSpec {
                name: self.name,
                members,
                emails: read_list(self.id, "emails", &self.emails)?,
                priorities: read_list::<Priority>(self.id, "priorities", &self.priorities)?,
                services: read_list(self.id, "services", &self.services)?,
                audiences: read_list::<UpdateAudience>(self.id, "audiences", &self.audiences)?,
            },
            webhooks,
        })
    }
}

const GROUP_COLUMNS: &str = "SELECT id, name, members, emails, priorities, services, audiences FROM stakeholder_groups";

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a stakeholder group {name:?} exists already"))
}

async fn webhooks_of<D: Dialect>(c: &mut D::Connection, group: Option<u64>) -> Result<Vec<(u64, u64, String)>> {
    let rows: Vec<(i64, i64, String)> = match group {
        Some(g) => {
            D::query("SELECT id, grp, url FROM stakeholder_webhooks WHERE grp = $1 ORDER BY id")
                .bind(g as i64)
                .fetch_all(c)
                .await?
        }
        None => D::query("SELECT id, grp, url FROM stakeholder_webhooks ORDER BY id").fetch_all(c).await?,
    };
    Ok(rows.into_iter().map(|(id, g, url)| (id as u64, g as u64, url)).collect())
}

/// Every group, by name.
pub(crate) async fn groups<D: Dialect>(c: &mut D::Connection) -> Result<Vec<Group>> {
    let rows: Vec<GroupRow> = D::query(format!("{GROUP_COLUMNS} ORDER BY name")).fetch_all(&mut *c).await?;
    let hooks = webhooks_of::<D>(c, None).await?;
    rows.into_iter()
        .map(|r| {
            let id = r.id as u64;
            let mine = hooks.iter().filter(|(_, g, _)| *g == id).map(|(id, _, url)| (*id, url.clone()));
            r.into_group(mine.collect())
        })
        .collect()
}

pub(crate) async fn group<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<Group>> {
    let row: Option<GroupRow> =
        D::query(format!("{GROUP_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(&mut *c).await?;
    let Some(row) = row else { return Ok(None) };
    let hooks = webhooks_of::<D>(c, Some(id)).await?;
    Ok(Some(row.into_group(hooks.into_iter().map(|(id, _, url)| (id, url)).collect())?))
}

async fn add_webhooks<D: Dialect>(
    c: &mut D::Connection,
    group: u64,
    hooks: &[(String, String)],
    now: Timestamp,
) -> Result<()> {
    for (url, secret) in hooks {
        D::query("INSERT INTO stakeholder_webhooks (grp, url, secret, created_at) VALUES ($1, $2, $3, $4)")
            .bind(group as i64)
            .bind(url)
            .bind(secret)
            .bind(micros(now))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Writes a new group with its webhooks (URL, secret).
pub(crate) async fn create_group<D: Dialect>(
    c: &mut D::Connection,
    spec: &GroupSpec,
    hooks: &[(String, String)],
    now: Timestamp,
) -> Result<Group> {
    let inserted = D::query(
        "INSERT INTO stakeholder_groups (name, members, emails, priorities, services, audiences, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(&spec.name)
    .bind(write_list(&spec.members))
    .bind(write_list(&spec.emails))
    .bind(write_list(&spec.priorities.iter().map(|p| p.as_str()).collect::<Vec<_>>()))
    .bind(write_list(&spec.services))
    .bind(write_list(&spec.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>()))
    .bind(micros(now))
    .scalar::<i64>(&mut *c)
    .await;
    let id = match inserted {
        Ok(id) => id as u64,
        Err(e) if rows::is_unique_violation(&e) => return Err(name_taken(&spec.name)),
        Err(e) => return Err(e.into()),
    };
    add_webhooks::<D>(c, id, hooks, now).await?;
    group::<D>(c, id).await?.ok_or_else(|| StoreError::NotFound(format!("there is no stakeholder group {id}")))
}

/// Replaces group `id`'s spec, adds webhooks and removes the ones named.
pub(crate) async fn change_group<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    spec: &GroupSpec,
    add: &[(String, String)],
    remove: &[u64],
    now: Timestamp,
) -> Result<Group> {
    let changed = D::query(
        "UPDATE stakeholder_groups SET name = $1, members = $2, emails = $3, priorities = $4, services = $5,
         audiences = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&spec.name)
    .bind(write_list(&spec.members))
    .bind(write_list(&spec.emails))
    .bind(write_list(&spec.priorities.iter().map(|p| p.as_str()).collect::<Vec<_>>()))
    .bind(write_list(&spec.services))
    .bind(write_list(&spec.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>()))
    .bind(micros(now))
    .bind(id as i64)
    .execute(&mut *c)
    .await;
    match changed {
        Ok(0) => return Err(StoreError::NotFound(format!("there is no stakeholder group {id}"))),
        Ok(_) => {}
        Err(e) if rows::is_unique_violation(&e) => return Err(name_taken(&spec.name)),
        Err(e) => return Err(e.into()),
    }
    for hook in remove {
        D::query("DELETE FROM stakeholder_webhooks WHERE id = $1 AND grp = $2")
            .bind(*hook as i64)
            .bind(id as i64)
            .execute(&mut *c)
            .await?;
    }
    add_webhooks::<D>(c, id, add, now).await?;
    group::<D>(c, id).await?.ok_or_else(|| StoreError::NotFound(format!("there is no stakeholder group {id}")))
}

/// Deletes group `id` and its webhooks; `false` if there is none.
pub(crate) async fn delete_group<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<bool> {
    D::query("DELETE FROM stakeholder_webhooks WHERE grp = $1").bind(id as i64).execute(&mut *c).await?;
    let gone = D::query("DELETE FROM stakeholder_groups WHERE id = $1").bind(id as i64).execute(&mut *c).await?;
    Ok(gone > 0)
}

pub(crate) async fn webhook<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<StakeholderWebhook>> {
    let row: Option<(i64, i64, String, String)> =
        D::query("SELECT id, grp, url, secret FROM stakeholder_webhooks WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(c)
            .await?;
    Ok(row.map(|(id, group, url, secret)| StakeholderWebhook { id: id as u64, group: group as u64, url, secret }))
}

/// Adds `person` to incident `number`'s followers; `false` if they were.
pub(crate) async fn follow<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    person: &Handle,
    now: Timestamp,
) -> Result<bool> {
    let added = D::query(
        "INSERT INTO incident_followers (incident, person, since) VALUES ($1, $2, $3)
         ON CONFLICT (incident, person) DO NOTHING",
    )
    .bind(number as i64)
    .bind(person.as_str())
    .bind(micros(now))
    .execute(c)
    .await?;
    Ok(added > 0)
}

pub(crate) async fn unfollow<D: Dialect>(c: &mut D::Connection, number: u64, person: &Handle) -> Result<bool> {
    let gone = D::query("DELETE FROM incident_followers WHERE incident = $1 AND person = $2")
        .bind(number as i64)
        .bind(person.as_str())
        .execute(c)
        .await?;
    Ok(gone > 0)
}

/// Incident `number`'s followers, with when each began following.
pub(crate) async fn followers<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<(Handle, Timestamp)>> {
    let rows: Vec<(String, i64)> =
        D::query("SELECT person, since FROM incident_followers WHERE incident = $1 ORDER BY since, person")
            .bind(number as i64)
            .fetch_all(c)
            .await?;
    rows.into_iter()
        .map(|(p, since)| {
            let h = Handle::parse(&p).map_err(|e| StoreError::Corrupt(format!("follower of INC-{number}: {e}")))?;
            Ok((h, timestamp(since)?))
        })
        .collect()
}

/// A customer response.
#[derive(Debug, Clone)]
pub struct NewResponse<'a> {
    pub from: &'a str,
    pub channel: &'a str,
    pub body: &'a str,
    pub recorded_by: &'a Handle,
}

/// Records a response to update `update` of incident `number`.
pub(crate) async fn add_response<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    update: u64,
    r: &NewResponse<'_>,
    now: Timestamp,
) -> Result<ResponseRecord> {
    let id: i64 = D::query(
        "INSERT INTO update_responses (update_id, from_name, channel, body, recorded_by, created_at)
         SELECT id, $1, $2, $3, $4, $5 FROM incident_updates WHERE id = $6 AND incident = $7 RETURNING id",
    )
    .bind(r.from)
    .bind(r.channel)
    .bind(r.body)
    .bind(r.recorded_by.as_str())
    .bind(micros(now))
    .bind(update as i64)
    .bind(number as i64)
    .scalar_optional::<i64>(c)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("INC-{number} has no update {update}")))?;
    Ok(ResponseRecord {
        id: id as u64,
        update,
        from: r.from.to_owned(),
        channel: r.channel.to_owned(),
        body: r.body.to_owned(),
        recorded_by: r.recorded_by.clone(),
        created_at: now,
    })
}

/// The responses recorded on incident `number`'s updates, oldest first.
pub(crate) async fn responses<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<ResponseRecord>> {
    let rows: Vec<(i64, i64, String, String, String, String, i64)> = D::query(
        "SELECT r.id, r.update_id, r.from_name, r.channel, r.body, r.recorded_by, r.created_at
         FROM update_responses r JOIN incident_updates u ON u.id = r.update_id
         WHERE u.incident = $1 ORDER BY r.id",
    )
    .bind(number as i64)
    .fetch_all(c)
    .await?;
    rows.into_iter()
        .map(|(id, update, from, channel, body, by, at)| {
            Ok(ResponseRecord {
                id: id as u64,
                update: update as u64,
                from,
                channel,
                body,
                recorded_by: Handle::parse(&by).map_err(|e| StoreError::Corrupt(format!("response {id}: {e}")))?,
                created_at: timestamp(at)?,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    update_id: i64,
    kind: String,
    payload: String,
    attempts: i64,
    done_at: Option<i64>,
    dead_at: Option<i64>,
    last_error: Option<String>,
}

/// The notifications that carried incident `number`'s updates, in the
/// order they were written.
pub(crate) async fn deliveries<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<UpdateDelivery>> {
    let rows: Vec<DeliveryRow> = D::query(
        "SELECT id, update_id, kind, payload, attempts, done_at, dead_at, last_error FROM jobs
         WHERE update_id IN (SELECT id FROM incident_updates WHERE incident = $1) ORDER BY id",
    )
    .bind(number as i64)
    .fetch_all(c)
    .await?;
    rows.into_iter()
        .map(|r| {
            let payload: serde_json::Value =
                serde_json::from_str(&r.payload).map_err(|e| StoreError::Corrupt(format!("job {}: {e}", r.id)))?;
            Ok(UpdateDelivery {
                job: r.id as u64,
                update: r.update_id as u64,
                kind: r.kind,
                to: payload["to"].as_str().unwrap_or_default().to_owned(),
                recipient: payload["for_update"]["recipient"].as_str().unwrap_or_default().to_owned(),
                attempts: r.attempts as u32,
                delivered_at: r.done_at.map(timestamp).transpose()?,
                dead_at: r.dead_at.map(timestamp).transpose()?,
                last_error: r.last_error,
            })
        })
        .collect()
}
