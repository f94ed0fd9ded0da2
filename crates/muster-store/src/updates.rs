//! Updates about an incident: drafts and published ones (see
//! `muster_domain::update`). Publishing writes the update's state and its
//! timeline entry in one transaction, under the incident's lock, so an
//! update is published once and its entry is never without it.

use muster_domain::update::{PublicStatus, UpdateAudience, UpdateContent, UpdateState};
use muster_domain::{DomainError, Event, Handle, Incident, Timestamp};

use crate::dialect::Dialect;
use crate::incidents::{lock_incident, save_incident};
use crate::rows::{micros, timestamp};
use crate::{Result, StoreError};

/// An update as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRecord {
    pub id: u64,
    pub incident: u64,
    pub state: UpdateState,
    pub content: UpdateContent,
    pub author: Handle,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
    pub published_by: Option<Handle>,
    /// The `update_published` timeline entry.
    pub seq: Option<u64>,
}

/// Decides publishing an update on the incident's current state, given the
/// update (its id allotted): the new state, the events, and the jobs that
/// carry it to its stakeholders (written in the same transaction).
pub type DecideUpdate<'a> = dyn Fn(&Incident, &UpdateRecord) -> std::result::Result<(Incident, Vec<Event>, Vec<crate::NewJob>), DomainError>
    + Send
    + Sync
    + 'a;

/// Decides a draft's new content from the incident and the draft as it is.
pub type DecideEdit<'a> =
    dyn Fn(&Incident, &UpdateRecord) -> std::result::Result<UpdateContent, DomainError> + Send + Sync + 'a;

const COLUMNS: &str = "SELECT id, incident, audience, state, body, form, status, next_update_minutes, author, \
     created_at, updated_at, published_at, published_by, seq, components FROM incident_updates";

#[derive(sqlx::FromRow)]
struct UpdateRow {
    id: i64,
    incident: i64,
    audience: String,
    state: String,
    body: String,
    form: String,
    status: Option<String>,
    next_update_minutes: Option<i64>,
    author: String,
    created_at: i64,
    updated_at: i64,
    published_at: Option<i64>,
    published_by: Option<String>,
    seq: Option<i64>,
    components: String,
}

impl TryFrom<UpdateRow> for UpdateRecord {
    type Error = StoreError;
    fn try_from(r: UpdateRow) -> Result<UpdateRecord> {
        let bad = |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("update {}: {what}: {e}", r.id));
        let handle = |h: &str| Handle::parse(h).map_err(|e| bad("handle", &e));
        Ok(UpdateRecord {
            id: r.id as u64,
            incident: r.incident as u64,
            state: r.state.parse().map_err(|e| bad("state", &e))?,
            content: UpdateContent {
                audience: r.audience.parse::<UpdateAudience>().map_err(|e| bad("audience", &e))?,
                body: r.body.clone(),
                form: serde_json::from_str(&r.form).map_err(|e| bad("form", &e))?,
                status: r
                    .status
                    .as_deref()
                    .map(str::parse::<PublicStatus>)
                    .transpose()
                    .map_err(|e| bad("status", &e))?,
                next_update_in_minutes: r.next_update_minutes.map(|m| m as u32),
                components: serde_json::from_str(&r.components).map_err(|e| bad("components", &e))?,
            },
            author: handle(&r.author)?,
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
            published_at: r.published_at.map(timestamp).transpose()?,
            published_by: r.published_by.as_deref().map(handle).transpose()?,
            seq: r.seq.map(|s| s as u64),
        })
    }
}

fn no_update(number: u64, id: u64) -> StoreError {
    StoreError::NotFound(format!("INC-{number} has no update {id}"))
}

async fn locked<D: Dialect>(c: &mut D::Connection, number: u64, id: u64) -> Result<(Incident, UpdateRecord)> {
    let incident = lock_incident::<D>(c, number)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("there is no incident INC-{number}")))?;
    let row: Option<UpdateRow> = D::query(format!("{COLUMNS} WHERE incident = $1 AND id = $2"))
        .bind(number as i64)
        .bind(id as i64)
        .fetch_optional(c)
        .await?;
    let update = row.map(UpdateRecord::try_from).transpose()?.ok_or_else(|| no_update(number, id))?;
    Ok((incident, update))
}

fn components_json(content: &UpdateContent) -> String {
    serde_json::to_string(&content.components).expect("components serialize")
}

/// Marks `update` published by the events' entry and saves the incident;
/// an external one goes on the status page.
async fn publish<D: Dialect>(
    c: &mut D::Connection,
    mut update: UpdateRecord,
    state: &Incident,
    events: &[Event],
    jobs: &[crate::NewJob],
    by: &Handle,
    now: Timestamp,
) -> Result<UpdateRecord> {
    let seq = events
        .iter()
        .find(|e| matches!(&e.change, muster_domain::Change::UpdatePublished { update: u, .. } if *u == update.id))
        .map(|e| e.seq)
        .ok_or_else(|| StoreError::Corrupt(format!("publishing update {} made no entry", update.id)))?;
    save_incident::<D>(c, state, events).await?;
    crate::jobs::insert::<D>(c, jobs, now).await?;
    if update.content.audience == muster_domain::update::UpdateAudience::External {
        crate::statuspage::published::<D>(c, state, &update, now).await?;
    }
    D::query(
        "UPDATE incident_updates SET state = 'published', published_at = $1, published_by = $2, seq = $3, updated_at = $1
         WHERE id = $4",
    )
    .bind(micros(now))
    .bind(by.as_str())
    .bind(seq as i64)
    .bind(update.id as i64)
    .execute(c)
    .await?;
    update.state = UpdateState::Published;
    update.published_at = Some(now);
    update.published_by = Some(by.clone());
    update.seq = Some(seq);
    update.updated_at = now;
    Ok(update)
}

/// Writes a new update to incident `number`: a draft, or published at
/// once when `publish` is given (which decides the entry).
pub(crate) async fn write<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    content: &UpdateContent,
    author: &Handle,
    publish_with: Option<&DecideUpdate<'_>>,
    now: Timestamp,
) -> Result<(UpdateRecord, Vec<Event>)> {
    let incident = lock_incident::<D>(c, number)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("there is no incident INC-{number}")))?;
    let id: i64 = D::query(
        "INSERT INTO incident_updates (incident, audience, state, body, form, status, next_update_minutes, author,
         created_at, updated_at, components) VALUES ($1, $2, 'draft', $3, $4, $5, $6, $7, $8, $8, $9) RETURNING id",
    )
    .bind(number as i64)
    .bind(content.audience.as_str())
    .bind(&content.body)
    .bind(serde_json::to_string(&content.form).expect("pairs of strings serialize"))
    .bind(content.status.map(|s| s.as_str()))
    .bind(content.next_update_in_minutes.map(i64::from))
    .bind(author.as_str())
    .bind(micros(now))
    .bind(components_json(content))
    .scalar(c)
    .await?;
    let draft = UpdateRecord {
        id: id as u64,
        incident: number,
        state: UpdateState::Draft,
        content: content.clone(),
        author: author.clone(),
        created_at: now,
        updated_at: now,
        published_at: None,
        published_by: None,
        seq: None,
    };
    match publish_with {
        None => Ok((draft, Vec::new())),
        Some(decide) => {
            let (state, events, jobs) = decide(&incident, &draft)?;
            let published = publish::<D>(c, draft, &state, &events, &jobs, author, now).await?;
            Ok((published, events))
        }
    }
}

/// Publishes draft `id` of incident `number`, by `by`.
pub(crate) async fn publish_draft<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    id: u64,
    by: &Handle,
    decide: &DecideUpdate<'_>,
    now: Timestamp,
) -> Result<(UpdateRecord, Vec<Event>)> {
    let (incident, update) = locked::<D>(c, number, id).await?;
    if update.state == UpdateState::Published {
        return Err(StoreError::Rejected(DomainError::Conflict(format!(
            "update {id} of INC-{number} was published already (entry {})",
            update.seq.unwrap_or_default()
        ))));
    }
    let (state, events, jobs) = decide(&incident, &update)?;
    let published = publish::<D>(c, update, &state, &events, &jobs, by, now).await?;
    Ok((published, events))
}

/// Changes draft `id` of incident `number` to what `decide` says.
pub(crate) async fn edit_draft<D: Dialect>(
    c: &mut D::Connection,
    number: u64,
    id: u64,
    decide: &DecideEdit<'_>,
    now: Timestamp,
) -> Result<UpdateRecord> {
    let (incident, mut update) = locked::<D>(c, number, id).await?;
    if update.state == UpdateState::Published {
        return Err(StoreError::Rejected(DomainError::Conflict(format!(
            "update {id} of INC-{number} is published: published updates are not changed, write a new one"
        ))));
    }
    let content = decide(&incident, &update)?;
    D::query(
        "UPDATE incident_updates SET body = $1, form = $2, status = $3, next_update_minutes = $4, updated_at = $5,
         components = $7 WHERE id = $6",
    )
    .bind(&content.body)
    .bind(serde_json::to_string(&content.form).expect("pairs of strings serialize"))
    .bind(content.status.map(|s| s.as_str()))
    .bind(content.next_update_in_minutes.map(i64::from))
    .bind(micros(now))
    .bind(id as i64)
    .bind(components_json(&content))
    .execute(c)
    .await?;
    update.content = content;
    update.updated_at = now;
    Ok(update)
}

/// The updates of incident `number`, oldest first.
/// The published external updates of the incidents `numbers`, oldest first.
pub(crate) async fn external_updates_of<D: Dialect>(
    c: &mut D::Connection,
    numbers: &[u64],
) -> Result<Vec<UpdateRecord>> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = numbers.iter().map(|n| (*n as i64).to_string()).collect();
    let sql = format!(
        "{COLUMNS} WHERE incident IN ({}) AND audience = 'external' AND state = 'published' ORDER BY id",
        list.join(", ")
    );
    let rows: Vec<UpdateRow> = D::query(sql).fetch_all(c).await?;
    rows.into_iter().map(UpdateRecord::try_from).collect()
}

pub(crate) async fn updates<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Vec<UpdateRecord>> {
    let rows: Vec<UpdateRow> =
        D::query(format!("{COLUMNS} WHERE incident = $1 ORDER BY id")).bind(number as i64).fetch_all(c).await?;
    rows.into_iter().map(UpdateRecord::try_from).collect()
}
