//! Incidents: declaring, commands on them, their timeline.

use muster_domain::access::{self, Action, Standing};
use muster_domain::incident::{Context, Declaration};
use muster_domain::timeline::{EntryKind, MilestoneTag};
use muster_domain::{
    Actor, Assignment, Change, Command, DomainError, Event, Handle, Incident, IncidentRef, Priority, RoleKind, Status,
    Timestamp,
};
use muster_store::{IncidentFilter, StoreError, TimelineQuery};

use crate::{App, Result};

/// An incident with what is derived from it at read time.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub incident: Incident,
    pub missing_roles: Vec<RoleKind>,
    /// When each audience's next update is due (none: no cadence for it).
    pub next_updates: Vec<(muster_domain::update::UpdateAudience, muster_domain::cadence::Due)>,
}

/// Each audience's next update for `incident`, as of `now`.
pub(crate) fn next_updates(
    incident: &Incident,
    table: &muster_domain::cadence::UpdateCadence,
    now: muster_domain::Timestamp,
) -> Vec<(muster_domain::update::UpdateAudience, muster_domain::cadence::Due)> {
    muster_domain::update::UpdateAudience::ALL
        .into_iter()
        .filter_map(|a| muster_domain::cadence::next_due(incident, a, table, now).map(|d| (a, d)))
        .collect()
}

/// What a declaration asks for, parsed.
pub struct DeclareInput {
    pub title: String,
    pub summary: String,
    pub priority: Priority,
    pub incident_manager: Option<Handle>,
}

/// A timeline entry someone writes.
pub struct EntryInput {
    pub kind: EntryKind,
    pub text: String,
    pub tag: Option<MilestoneTag>,
    pub corrects: Option<u64>,
    pub occurred_at: Option<Timestamp>,
    /// A theory's or action's workstream (a tech lead's scope).
    pub workstream: Option<muster_domain::Scope>,
}

fn renamed(e: DomainError, field: &str) -> DomainError {
    match e {
        DomainError::Invalid { message, .. } => DomainError::invalid(field, message),
        other => other,
    }
}

impl App {
    // Incidents.

    pub(crate) async fn view(&self, incident: Incident) -> Result<IncidentView> {
        let required = self.store.required_roles().await?;
        let missing_roles = incident.missing_roles(&required);
        let next_updates = next_updates(&incident, &self.update_cadence().await?, self.clock.now());
        Ok(IncidentView { incident, missing_roles, next_updates })
    }

    #[tracing::instrument(name = "incident.declare", skip_all, fields(user.handle = %actor.handle))]
    pub async fn declare(&self, actor: &Actor, input: DeclareInput) -> Result<IncidentView> {
        access::check(actor, Action::DeclareIncident, &Standing::none())?;
        let incident_manager = match &input.incident_manager {
            Some(h) => self.member(h, "incident_manager").await?,
            None => actor.clone(),
        };
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let decide = |number| {
            let declaration = Declaration {
                title: input.title.clone(),
                summary: input.summary.clone(),
                priority: input.priority,
                incident_manager: incident_manager.clone(),
            };
            Incident::declare(number, declaration, Context { actor, now, catalog: &catalog })
        };
        let (incident, _) = self.store.declare_incident(&decide).await?;
        tracing::info!(incident.r#ref = %incident.reference(), "declared");
        self.view(incident).await
    }

    pub async fn incident(&self, r: IncidentRef) -> Result<IncidentView> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        self.view(incident).await
    }

    pub async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentView>> {
        let required = self.store.required_roles().await?;
        let table = self.update_cadence().await?;
        let now = self.clock.now();
        let found = self.store.incidents(filter).await?;
        Ok(found
            .into_iter()
            .map(|incident| IncidentView {
                missing_roles: incident.missing_roles(&required),
                next_updates: next_updates(&incident, &table, now),
                incident,
            })
            .collect())
    }

    /// Runs one command on an incident, in the store's transaction.
    #[tracing::instrument(name = "incident.command", skip_all, fields(incident.r#ref = %r, user.handle = %actor.handle))]
    pub(crate) async fn execute(
        &self,
        actor: &Actor,
        r: IncidentRef,
        command: Command,
    ) -> Result<(Incident, Vec<Event>)> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        // The time is read inside the store's lock, so that commands queued
        // behind one another get times in the order they are applied.
        let decide = |state: &Incident| {
            state.execute(command.clone(), Context { actor, now: self.clock.now(), catalog: &catalog })
        };
        let done = match self.store.update_incident(r.0, &decide).await {
            Err(StoreError::NotFound(_)) => Err(no_incident(r).into()),
            other => other.map_err(crate::Error::from),
        };
        if done.as_ref().is_ok_and(|(_, events)| !events.is_empty()) {
            self.changes.changed(r.0);
        }
        let reprioritized =
            |events: &[Event]| events.iter().any(|e| matches!(e.change, Change::PriorityChanged { .. }));
        if done.as_ref().is_ok_and(|(_, events)| reprioritized(events)) {
            self.retime_reports(r.0).await?;
        }
        done
    }

    pub async fn update(
        &self,
        actor: &Actor,
        r: IncidentRef,
        title: Option<String>,
        summary: Option<String>,
        priority: Option<Priority>,
        status: Option<Status>,
    ) -> Result<IncidentView> {
        let (incident, _) = self.execute(actor, r, Command::Update { title, summary, priority, status }).await?;
        self.view(incident).await
    }

    /// Assigns `role` (a key from the catalog) to `user`; returns the new assignment.
    pub async fn assign(
        &self,
        actor: &Actor,
        r: IncidentRef,
        role: &str,
        user: &Handle,
        scope: Option<&str>,
    ) -> Result<Assignment> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        let role = catalog.parse(role, "role")?;
        let scope = catalog.parse_scope(&role, scope)?;
        let member = self.member(user, "user").await?;
        let (_, events) = self.execute(actor, r, Command::Assign { role, user: member, scope }).await?;
        events
            .into_iter()
            .rev()
            .find_map(|e| match e.change {
                Change::RoleAssigned { assignment, .. } if &assignment.user == user => Some(assignment),
                _ => None,
            })
            .ok_or_else(|| crate::Error::Internal("an assignment made no role_assigned event".into()))
    }

    pub async fn relieve(&self, actor: &Actor, r: IncidentRef, assignment: u64) -> Result<()> {
        self.execute(actor, r, Command::Relieve { assignment }).await.map(|_| ())
    }

    /// Writes a timeline entry. A milestone is checked against the moments
    /// the timeline shows so far (`postmortem::Moments::check`): none
    /// before the incident's start.
    pub async fn add_entry(&self, actor: &Actor, r: IncidentRef, e: EntryInput) -> Result<Event> {
        if let (EntryKind::Milestone, Some(tag)) = (e.kind, e.tag) {
            let events = self.store.events(r.0).await?;
            let at = e.occurred_at.unwrap_or_else(|| self.clock.now());
            muster_domain::postmortem::Moments::of(&events).check(&events, tag, at)?;
        }
        let command = Command::AddEntry {
            kind: e.kind,
            text: e.text,
            tag: e.tag,
            corrects: e.corrects,
            occurred_at: e.occurred_at,
            workstream: e.workstream,
        };
        let (_, events) = self.execute(actor, r, command).await?;
        events
            .into_iter()
            .find(|e| matches!(e.change, Change::Entry { .. }))
            .ok_or_else(|| crate::Error::Internal("an entry made no event".into()))
    }

    pub async fn timeline(&self, r: IncidentRef, query: &TimelineQuery) -> Result<Vec<Event>> {
        self.store.timeline(r.0, query).await?.ok_or_else(|| no_incident(r).into())
    }

    /// Who took part and in which roles, and the incident's moments with
    /// the durations from its start, computed from its timeline. Roles
    /// still held count up to the resolution, or to now while it is open.
    pub async fn roster(&self, r: IncidentRef) -> Result<Roster> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        let events = self.store.events(r.0).await?;
        let until = muster_domain::postmortem::counted_until(&incident, self.clock.now());
        let moments = muster_domain::postmortem::Moments::of(&events);
        Ok(Roster {
            durations: moments.durations(),
            moments,
            participants: muster_domain::postmortem::roster(&events, until),
            until,
        })
    }

    /// Checks the incident's timeline as stored: every entry in its place,
    /// each hash following from the one before, the rows' columns agreeing
    /// with their content. The first break is named.
    pub async fn verify_timeline(&self, r: IncidentRef) -> Result<muster_domain::timeline::ChainCheck> {
        self.store.verify_timeline(r.0).await?.ok_or_else(|| no_incident(r).into())
    }
}

/// The roster and the moments of an incident ([`App::roster`]).
#[derive(Debug, Clone)]
pub struct Roster {
    pub moments: muster_domain::postmortem::Moments,
    pub durations: muster_domain::postmortem::Durations,
    pub participants: Vec<muster_domain::postmortem::Participant>,
    /// Where roles still held stop counting.
    pub until: Timestamp,
}

pub(crate) fn no_incident(r: IncidentRef) -> DomainError {
    DomainError::not_found("ref", format!("there is no incident {r}"))
}

pub fn parse_handle(s: &str, field: &str) -> std::result::Result<Handle, DomainError> {
    Handle::parse(s).map_err(|e| renamed(e, field))
}
