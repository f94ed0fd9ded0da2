//! The communications manager's updates: written as drafts or published at
//! once, drafts changed and published later. Who may publish an audience's
//! update is the domain's (`muster_domain::update`, the access table); the
//! store writes the update and its timeline entry in one transaction.

use muster_domain::access::{self, Action};
use muster_domain::incident::Context;
use muster_domain::update::{self, UpdateAudience, UpdateContent, UpdateInput};
use muster_domain::{Actor, Command, DomainError, Event, Incident, IncidentRef};
use muster_store::{StoreError, UpdateRecord};

use crate::incidents::no_incident;
use crate::{App, IncidentView, Result};
use muster_domain::cadence::UpdateCadence;

/// The settings key of the update cadence table.
const CADENCE: &str = muster_domain::cadence::SETTING;

impl App {
    /// Writes an update to incident `r`: a draft when `draft`, else
    /// published at once (refused unless `actor` may publish for
    /// `audience`, naming who may).
    pub async fn write_update(
        &self,
        actor: &Actor,
        r: IncidentRef,
        audience: UpdateAudience,
        input: UpdateInput,
        draft: bool,
    ) -> Result<UpdateRecord> {
        actor.require_write()?;
        let catalog = if input.components.is_empty() { Vec::new() } else { self.component_catalog().await? };
        let content = UpdateContent::with_components(audience, input, &catalog)?;
        if draft {
            access::check(actor, Action::DraftUpdate, &access::Standing::none())?;
            let written = self.store.write_update(r.0, &content, &actor.handle, None, self.clock.now()).await;
            return Ok(self.found(r, written)?.0);
        }
        let catalog = self.store.role_catalog().await?;
        let receivers = self.update_audience(audience, r.0).await?;
        let decide = |state: &Incident, u: &UpdateRecord| self.decide_publish(actor, &catalog, &receivers, state, u);
        let written = self.store.write_update(r.0, &content, &actor.handle, Some(&decide), self.clock.now()).await;
        let (update, events) = self.found(r, written)?;
        self.published(r, &events);
        Ok(update)
    }

    /// Publishes draft `id` of incident `r`.
    pub async fn publish_update(&self, actor: &Actor, r: IncidentRef, id: u64) -> Result<UpdateRecord> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        let audience = self.updates(r).await?.iter().find(|u| u.id == id).map(|u| u.content.audience);
        let receivers = self.update_audience(audience.unwrap_or(UpdateAudience::Internal), r.0).await?;
        let decide = |state: &Incident, u: &UpdateRecord| self.decide_publish(actor, &catalog, &receivers, state, u);
        let published = self.store.publish_update(r.0, id, &actor.handle, &decide, self.clock.now()).await;
        let (update, events) = self.found(r, published)?;
        self.published(r, &events);
        Ok(update)
    }

    /// Publishing `u` on `state`: the entry, and the jobs that carry it
    /// to its stakeholder groups and followers.
    fn decide_publish(
        &self,
        actor: &Actor,
        catalog: &muster_domain::RoleCatalog,
        receivers: &crate::stakeholders::Audience,
        state: &Incident,
        u: &UpdateRecord,
    ) -> std::result::Result<(Incident, Vec<Event>, Vec<muster_store::NewJob>), DomainError> {
        let now = self.clock.now();
        let command = Command::PublishUpdate { update: u.id, content: u.content.clone() };
        let (next, events) = state.execute(command, Context { actor, now, catalog })?;
        let mut published = u.clone();
        published.published_at = Some(now);
        published.published_by = Some(actor.handle.clone());
        let mut jobs = if u.content.audience == receivers.audience() {
            crate::stakeholders::update_jobs(receivers, &next, &published, &self.config.public_url, now)
        } else {
            Vec::new()
        };
        if u.content.audience == UpdateAudience::External
            && let Some(subs) = &receivers.subscribers
        {
            jobs.extend(self.subscriber_jobs(subs, &next, &published, now));
        }
        Ok((next, events, jobs))
    }

    /// Changes draft `id` of incident `r`: what `input` gives replaces what
    /// it had (its author, or someone who may publish it).
    pub async fn edit_update(&self, actor: &Actor, r: IncidentRef, id: u64, input: EditUpdate) -> Result<UpdateRecord> {
        actor.require_write()?;
        let catalog = self.component_catalog().await?;
        let decide = |state: &Incident, u: &UpdateRecord| -> std::result::Result<UpdateContent, DomainError> {
            update::check_edit(actor, state, u.content.audience, &u.author)?;
            let old = &u.content;
            let merged = UpdateInput {
                body: input.body.clone().unwrap_or_else(|| old.body.clone()),
                form: input.form.clone().unwrap_or_else(|| old.form.clone()),
                status: input.status.unwrap_or(old.status),
                components: input.components.clone().unwrap_or_else(|| {
                    old.components.iter().map(|a| (a.component.to_string(), a.status.as_str().to_owned())).collect()
                }),
                next_update_in_minutes: input.next_update_in_minutes.unwrap_or(old.next_update_in_minutes),
            };
            UpdateContent::with_components(old.audience, merged, &catalog)
        };
        let edited = self.store.edit_update(r.0, id, &decide, self.clock.now()).await;
        self.found(r, edited)
    }

    /// Snoozes the reminder of `audience`'s next update in incident `r`
    /// for `minutes` (30, 60 or 120): whoever may publish for it.
    pub async fn snooze_update(
        &self,
        actor: &Actor,
        r: IncidentRef,
        audience: UpdateAudience,
        minutes: u32,
    ) -> Result<IncidentView> {
        let (incident, _) = self.execute(actor, r, Command::SnoozeUpdate { audience, minutes }).await?;
        self.view(incident).await
    }

    /// The cadence table: the admins' setting, else the defaults.
    pub async fn update_cadence(&self) -> Result<UpdateCadence> {
        match self.store.setting(CADENCE).await? {
            None => Ok(UpdateCadence::default()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| crate::Error::Internal(format!("the stored update cadence does not read: {e}"))),
        }
    }

    /// Replaces the cadence table (admins).
    pub async fn set_update_cadence(&self, actor: &Actor, table: UpdateCadence) -> Result<UpdateCadence> {
        access::check(actor, Action::ChangeSettings, &access::Standing::none())?;
        table.check()?;
        let json = serde_json::to_string(&table).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.set_setting(CADENCE, &json).await?;
        Ok(table)
    }

    /// Where a new update for `audience` starts (see
    /// `muster_domain::update::suggest`): the latest published one for the
    /// audience, the topic and the latest theories.
    pub async fn suggest_update(&self, r: IncidentRef, audience: UpdateAudience) -> Result<UpdateInput> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        let updates = self.store.updates(r.0).await?;
        let latest = updates
            .iter()
            .rev()
            .find(|u| u.content.audience == audience && u.state == muster_domain::update::UpdateState::Published)
            .map(|u| &u.content);
        let query =
            muster_store::TimelineQuery { kinds: vec!["theory".into()], latest: true, limit: 10, ..Default::default() };
        let theories: Vec<String> = self
            .store
            .timeline(r.0, &query)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| match e.change {
                muster_domain::Change::Entry { text, .. } => Some(text),
                _ => None,
            })
            .collect();
        Ok(update::suggest(audience, &incident, latest, &theories))
    }

    /// Incident `r`'s updates, drafts too, oldest first.
    pub async fn updates(&self, r: IncidentRef) -> Result<Vec<UpdateRecord>> {
        if self.store.incident_version(r.0).await?.is_none() {
            return Err(no_incident(r).into());
        }
        Ok(self.store.updates(r.0).await?)
    }

    /// The store's answer, with "no such incident" in the API's words.
    fn found<T>(&self, r: IncidentRef, done: std::result::Result<T, StoreError>) -> Result<T> {
        match done {
            Err(StoreError::NotFound(m)) if m.starts_with("there is no incident") => Err(no_incident(r).into()),
            Err(StoreError::NotFound(m)) => Err(DomainError::not_found("id", m).into()),
            other => Ok(other?),
        }
    }

    /// Tells the live views that the incident's timeline moved, and the
    /// engine that the update's deliveries are due.
    fn published(&self, r: IncidentRef, events: &[Event]) {
        if !events.is_empty() {
            self.changes.changed(r.0);
            self.engine.wake();
        }
    }
}

/// A draft's changes: each field given replaces the draft's.
#[derive(Debug, Clone, Default)]
pub struct EditUpdate {
    pub body: Option<String>,
    pub form: Option<Vec<(String, String)>>,
    /// `Some(None)` clears it.
    pub status: Option<Option<muster_domain::update::PublicStatus>>,
    pub next_update_in_minutes: Option<Option<u32>>,
    /// Affected components (by id or name) and their new status.
    pub components: Option<Vec<(String, String)>>,
}
