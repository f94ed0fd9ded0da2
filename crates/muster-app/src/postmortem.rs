//! The postmortem of an incident: drafted from its timeline once it is
//! resolved, its sections written by the responders, sent for review and
//! published by an incident manager. What it states as fact is gathered
//! from the timeline each time it is read (`postmortem::document::Facts`),
//! so it never disagrees with the timeline it names by its head hash.

use std::collections::BTreeMap;

use muster_domain::access::{self, Action, Standing};
use muster_domain::incident::{Command, Context};
use muster_domain::postmortem::Theory;
use muster_domain::postmortem::document::{self, Document, Facts, Narrative, PostmortemState, Section, Template};
use muster_domain::timeline::TheoryStatus;
use muster_domain::{Actor, DomainError, Event, IncidentRef, Priority};
use muster_store::{PostmortemRecord, StoreError};

use crate::incidents::no_incident;
use crate::{App, Result};

/// The setting naming the template per priority (`{"P3": "standard"}`).
const TEMPLATES: &str = "postmortem_templates";

/// A postmortem as it is read: what was written, the facts from the
/// timeline, and the document they make.
#[derive(Debug, Clone)]
pub struct Postmortem {
    pub record: PostmortemRecord,
    pub facts: Facts,
    pub document: Document,
}

impl Postmortem {
    pub fn markdown(&self) -> String {
        document::markdown(&self.document)
    }
}

impl App {
    /// The incident's theories, each with where it stands.
    pub async fn theories(&self, r: IncidentRef) -> Result<Vec<Theory>> {
        self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        Ok(muster_domain::postmortem::theories(&self.store.events(r.0).await?))
    }

    /// Confirms, rules out or reopens the theory of entry `seq` (its tech
    /// leads and incident managers); returns the judgement's entry.
    pub async fn judge_theory(
        &self,
        actor: &Actor,
        r: IncidentRef,
        seq: u64,
        status: TheoryStatus,
        evidence: Option<String>,
    ) -> Result<Event> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        // Who may is said before anything about the entry; the command
        // checks it again under the incident's lock.
        let standing = Standing::roles(&incident, actor, incident.roles_of(&actor.handle));
        let holders = |role: muster_domain::RoleKind| incident.holders(&role).map(|a| a.user.clone()).collect();
        access::check_naming(actor, Action::JudgeTheory, &standing, &holders)?;
        // Entries never change once written, so the theory is read before
        // the incident's lock; two judgements at once are both recorded,
        // and the later one stands.
        let theory = muster_domain::postmortem::theory(&self.store.events(r.0).await?, seq)?;
        let (_, events) = self.execute(actor, r, Command::JudgeTheory { theory, status, evidence }).await?;
        first_of(events, |c| matches!(c, muster_domain::Change::TheoryJudged { .. }))
    }

    /// Records a decision with its reasons and the theory it follows from.
    pub async fn decide(
        &self,
        actor: &Actor,
        r: IncidentRef,
        text: String,
        rationale: Option<String>,
        theory: Option<u64>,
    ) -> Result<Event> {
        actor.require_write()?;
        self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        let follows = match theory {
            // Named in the body, not the path: a missing theory is a bad field.
            Some(seq) => {
                Some(muster_domain::postmortem::theory(&self.store.events(r.0).await?, seq).map_err(|e| match e {
                    DomainError::NotFound { message, .. } => DomainError::invalid("theory", message),
                    other => other,
                })?)
            }
            None => None,
        };
        let (_, events) = self.execute(actor, r, Command::Decide { text, rationale, follows }).await?;
        first_of(events, |c| matches!(c, muster_domain::Change::Entry { .. }))
    }

    /// Highlights entry `entry` for the postmortem, or takes the highlight
    /// off (the scribe, the incident managers); returns the entry saying so.
    pub async fn highlight(&self, actor: &Actor, r: IncidentRef, entry: u64, highlighted: bool) -> Result<Event> {
        let (_, events) = self.execute(actor, r, Command::Highlight { entry, highlighted }).await?;
        first_of(events, |c| matches!(c, muster_domain::Change::EntryHighlighted { .. }))
    }

    /// Adds a remark to entry `entry` (the scribe, the incident managers).
    pub async fn annotate(&self, actor: &Actor, r: IncidentRef, entry: u64, text: String) -> Result<Event> {
        let (_, events) = self.execute(actor, r, Command::Annotate { entry, text }).await?;
        first_of(events, |c| matches!(c, muster_domain::Change::EntryAnnotated { .. }))
    }

    /// The template an incident of each priority gets: the admins' choice,
    /// else the full one for P1 and P2 and the lightweight one below.
    pub async fn postmortem_templates(&self) -> Result<BTreeMap<Priority, Template>> {
        let chosen: BTreeMap<Priority, Template> = match self.store.setting(TEMPLATES).await? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("the setting {TEMPLATES}: {e}")))?
            }
            None => BTreeMap::new(),
        };
        Ok(Priority::ALL
            .into_iter()
            .map(|p| (p, chosen.get(&p).copied().unwrap_or(Template::default_for(p))))
            .collect())
    }

    /// Sets the template of the priorities named (admins).
    pub async fn set_postmortem_templates(
        &self,
        actor: &Actor,
        chosen: BTreeMap<Priority, Template>,
    ) -> Result<BTreeMap<Priority, Template>> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        let mut all = self.postmortem_templates().await?;
        all.extend(chosen);
        let json = serde_json::to_string(&all).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.set_setting(TEMPLATES, &json).await?;
        Ok(all)
    }

    /// Drafts the postmortem of a resolved incident from its timeline, in
    /// `template` or the one its priority gets. One per incident.
    pub async fn draft_postmortem(
        &self,
        actor: &Actor,
        r: IncidentRef,
        template: Option<Template>,
    ) -> Result<Postmortem> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        let templates = self.postmortem_templates().await?;
        // The milestones' words come from the timeline read before the lock;
        // a milestone marked in between shows in the facts, not the draft.
        let events_before = self.store.events(r.0).await?;
        let decide = |incident: &muster_domain::Incident, existing: Option<&PostmortemRecord>| {
            if existing.is_some() {
                return Err(DomainError::Conflict(format!(
                    "{} has its postmortem already: edit it with PATCH, or read it",
                    incident.reference()
                )));
            }
            let template = template.unwrap_or(templates[&incident.priority]);
            let now = self.clock.now();
            let (state, events) =
                incident.execute(Command::DraftPostmortem { template }, Context { actor, now, catalog: &catalog })?;
            let record = PostmortemRecord {
                incident: incident.number,
                template,
                state: PostmortemState::Draft,
                narrative: Narrative::first_draft(incident, &events_before),
                created_by: actor.handle.clone(),
                created_at: now,
                updated_at: now,
                published_at: None,
            };
            Ok((state, events, record))
        };
        self.write(r, &decide).await
    }

    /// The incident's postmortem with the facts as the timeline has them now.
    /// What the public status page shows of an incident's postmortem: its
    /// public summary, once the postmortem is published and the summary
    /// written; nothing else of it is public.
    pub async fn public_postmortem_summary(&self, r: IncidentRef) -> Result<Option<String>> {
        Ok(self
            .store
            .postmortem(r.0)
            .await?
            .filter(|p| p.state == muster_domain::postmortem::document::PostmortemState::Published)
            .map(|p| p.narrative.get(Section::PublicSummary).trim().to_owned())
            .filter(|s| !s.is_empty()))
    }

    pub async fn postmortem(&self, r: IncidentRef) -> Result<Postmortem> {
        let record = self.store.postmortem(r.0).await?.ok_or_else(|| {
            DomainError::not_found("ref", format!("{r} has no postmortem yet: draft it once the incident is resolved"))
        })?;
        self.read(record).await
    }

    /// Writes the sections named (an empty text clears one). A published
    /// postmortem is not edited.
    pub async fn edit_postmortem(
        &self,
        actor: &Actor,
        r: IncidentRef,
        edits: &[(Section, String)],
    ) -> Result<Postmortem> {
        actor.require_write()?;
        let decide = |incident: &muster_domain::Incident, existing: Option<&PostmortemRecord>| {
            let mut record = existing.cloned().ok_or_else(|| not_drafted(r))?;
            let standing = Standing::roles(incident, actor, incident.roles_of(&actor.handle));
            access::check(actor, Action::WritePostmortem, &standing)?;
            if !record.state.editable() {
                return Err(DomainError::Conflict(format!(
                    "the postmortem of {r} is published, and published is final"
                )));
            }
            for (section, text) in edits {
                record.narrative.set(*section, text)?;
            }
            record.updated_at = self.clock.now();
            Ok((incident.clone(), Vec::new(), record))
        };
        self.write(r, &decide).await
    }

    /// Sends the postmortem for review, back to draft, or publishes it; the
    /// move is on the timeline.
    pub async fn move_postmortem(&self, actor: &Actor, r: IncidentRef, to: PostmortemState) -> Result<Postmortem> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        let decide = |incident: &muster_domain::Incident, existing: Option<&PostmortemRecord>| {
            let mut record = existing.cloned().ok_or_else(|| not_drafted(r))?;
            if record.state == to {
                return Ok((incident.clone(), Vec::new(), record));
            }
            let now = self.clock.now();
            let command = Command::MovePostmortem { from: record.state, to };
            let (state, events) = incident.execute(command, Context { actor, now, catalog: &catalog })?;
            record.state = to;
            record.updated_at = now;
            if to == PostmortemState::Published {
                record.published_at = Some(now);
            }
            Ok((state, events, record))
        };
        self.write(r, &decide).await
    }

    async fn write(&self, r: IncidentRef, decide: &muster_store::DecidePostmortem<'_>) -> Result<Postmortem> {
        let (_, events, record) = match self.store.write_postmortem(r.0, decide).await {
            Err(StoreError::NotFound(_)) => return Err(no_incident(r).into()),
            other => other?,
        };
        if !events.is_empty() {
            self.changes.changed(r.0);
        }
        self.read(record).await
    }

    async fn read(&self, record: PostmortemRecord) -> Result<Postmortem> {
        let number = record.incident;
        let incident = self.store.incident(number).await?.ok_or_else(|| no_incident(IncidentRef(number)))?;
        let events = self.store.events(number).await?;
        let names: BTreeMap<u64, String> =
            self.store.components().await?.into_iter().map(|c| (c.id, c.spec.name)).collect();
        let components: Vec<_> = self
            .store
            .incident_component_changes(number)
            .await?
            .into_iter()
            .map(|c| {
                (names.get(&c.component).cloned().unwrap_or_else(|| format!("component {}", c.component)), c.new_status)
            })
            .collect();
        let until = muster_domain::postmortem::counted_until(&incident, self.clock.now());
        let facts = Facts::of(&incident, &events, &components, until);
        let document = document::document(record.template, record.state, &facts, &record.narrative);
        Ok(Postmortem { record, facts, document })
    }
}

/// The event a command was made for, among those it recorded.
fn first_of(events: Vec<Event>, wanted: impl Fn(&muster_domain::Change) -> bool) -> Result<Event> {
    events
        .into_iter()
        .find(|e| wanted(&e.change))
        .ok_or_else(|| crate::Error::Internal("the command recorded no entry".into()))
}

fn not_drafted(r: IncidentRef) -> DomainError {
    DomainError::not_found("ref", format!("{r} has no postmortem yet: draft it with POST first"))
}
