//! Postmortems: what people wrote about an incident after it (see
//! `muster_domain::postmortem::document`). The facts a postmortem shows
//! come from the timeline; this table keeps only the sections, the
//! template and the state. Every write is made under the incident's lock
//! with the events it records.

use muster_domain::postmortem::document::{Narrative, PostmortemState, Template};
use muster_domain::{DomainError, Handle, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{micros, timestamp};
use crate::{Result, StoreError};

/// A postmortem as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmortemRecord {
    /// The incident's number.
    pub incident: u64,
    pub template: Template,
    pub state: PostmortemState,
    pub narrative: Narrative,
    pub created_by: Handle,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct PostmortemRow {
    incident: i64,
    template: String,
    state: String,
    sections: String,
    created_by: String,
    created_at: i64,
    updated_at: i64,
    published_at: Option<i64>,
}

impl TryFrom<PostmortemRow> for PostmortemRecord {
    type Error = StoreError;
    fn try_from(r: PostmortemRow) -> Result<Self> {
        let corrupt = |e: String| StoreError::Corrupt(format!("postmortem of INC-{}: {e}", r.incident));
        let domain = |e: DomainError| corrupt(e.to_string());
        Ok(PostmortemRecord {
            incident: r.incident as u64,
            template: Template::parse(&r.template).map_err(domain)?,
            state: PostmortemState::parse(&r.state).map_err(domain)?,
            narrative: serde_json::from_str(&r.sections).map_err(|e| corrupt(e.to_string()))?,
            created_by: Handle::parse(&r.created_by).map_err(domain)?,
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
            published_at: r.published_at.map(timestamp).transpose()?,
        })
    }
}

pub(crate) async fn postmortem<D: Dialect>(c: &mut D::Connection, number: u64) -> Result<Option<PostmortemRecord>> {
    let row: Option<PostmortemRow> = D::query(
        "SELECT incident, template, state, sections, created_by, created_at, updated_at, published_at
         FROM postmortems WHERE incident = $1",
    )
    .bind(number as i64)
    .fetch_optional(c)
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Writes `p` (a new postmortem, or the new form of the incident's one).
pub(crate) async fn save<D: Dialect>(c: &mut D::Connection, p: &PostmortemRecord) -> Result<()> {
    let sections = serde_json::to_string(&p.narrative).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    D::query(
        "INSERT INTO postmortems (incident, template, state, sections, created_by, created_at, updated_at, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (incident) DO UPDATE SET template = excluded.template, state = excluded.state,
             sections = excluded.sections, updated_at = excluded.updated_at, published_at = excluded.published_at",
    )
    .bind(p.incident as i64)
    .bind(p.template.as_str())
    .bind(p.state.as_str())
    .bind(sections)
    .bind(p.created_by.as_str())
    .bind(micros(p.created_at))
    .bind(micros(p.updated_at))
    .bind(p.published_at.map(micros))
    .execute(c)
    .await?;
    Ok(())
}
