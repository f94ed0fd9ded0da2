//! Workstreams: each tech lead's scope is one (`/role tech_lead @carol
//! database` opens the `database` workstream). Theories and actions may
//! belong to one, and a tech lead reports to the incident manager on theirs
//! (conditions, actions, needs). The incident manager reads the incident
//! by workstream: who leads it, what it suspects, what it is doing, and
//! what it last said it needs.
//!
//! Like everything else this is computed from the events; a workstream
//! whose lead was relieved stays, with nobody leading it, because what it
//! found still matters to the postmortem.

use jiff::Timestamp;
use serde::Serialize;

use crate::action::ActionItem;
use crate::incident::{Change, Event, Incident};
use crate::postmortem::Theory;
use crate::{Handle, RoleKind, Scope};

/// The scopes of the incident's current tech leads, each once, in the
/// order they were assigned.
pub fn current(incident: &Incident) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = Vec::new();
    for a in incident.holders(&RoleKind::TechLead) {
        if let Some(s) = &a.scope
            && !scopes.contains(s)
        {
            scopes.push(s.clone());
        }
    }
    scopes
}

/// A tech lead's report to the incident manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Its timeline entry.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Handle,
    /// The workstream reported on; none: the rest.
    pub workstream: Option<Scope>,
    pub conditions: String,
    pub actions: String,
    pub needs: String,
}

/// One workstream, or (`scope` none) what belongs to no workstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workstream {
    pub scope: Option<Scope>,
    /// Who leads it now (none once its leads were relieved).
    pub leads: Vec<Handle>,
    pub theories: Vec<Theory>,
    pub actions: Vec<ActionItem>,
    /// Its reports to the incident manager, oldest first.
    pub reports: Vec<Report>,
}

impl Workstream {
    fn new(scope: Option<Scope>) -> Workstream {
        Workstream { scope, leads: Vec::new(), theories: Vec::new(), actions: Vec::new(), reports: Vec::new() }
    }

    /// The latest report, which the incident manager reads first.
    pub fn latest(&self) -> Option<&Report> {
        self.reports.last()
    }

    fn is_empty(&self) -> bool {
        self.leads.is_empty() && self.theories.is_empty() && self.actions.is_empty() && self.reports.is_empty()
    }
}

/// The incident's workstreams from its events (in `seq` order), in the
/// order they were opened, with what belongs to none last (only when
/// something does). `incident` is the state after the events, for the
/// current leads.
pub fn workstreams(incident: &Incident, events: &[Event]) -> Vec<Workstream> {
    let mut all: Vec<Workstream> = Vec::new();
    for e in events {
        match &e.change {
            Change::RoleAssigned { assignment, .. }
                if assignment.role == RoleKind::TechLead && assignment.scope.is_some() =>
            {
                place(&mut all, &assignment.scope);
            }
            Change::TechLeadReported { workstream, conditions, actions, needs } => {
                let i = place(&mut all, workstream);
                all[i].reports.push(Report {
                    seq: e.seq,
                    at: e.at,
                    actor: e.actor.clone(),
                    workstream: workstream.clone(),
                    conditions: conditions.clone(),
                    actions: actions.clone(),
                    needs: needs.clone(),
                });
            }
            _ => {}
        }
    }
    for t in crate::postmortem::theories(events) {
        let i = place(&mut all, &t.workstream);
        all[i].theories.push(t);
    }
    for a in crate::action::actions(events) {
        let i = place(&mut all, &a.workstream);
        all[i].actions.push(a);
    }
    for a in incident.holders(&RoleKind::TechLead) {
        let i = place(&mut all, &a.scope);
        if !all[i].leads.contains(&a.user) {
            all[i].leads.push(a.user.clone());
        }
    }
    // What belongs to no workstream goes last; an unscoped tech lead with
    // nothing of their own yet still shows, as leading "the rest".
    all.sort_by_key(|w| w.scope.is_none());
    all.retain(|w| w.scope.is_some() || !w.is_empty());
    all
}

/// The index of `scope`'s workstream in `all`, added when it is new.
fn place(all: &mut Vec<Workstream>, scope: &Option<Scope>) -> usize {
    match all.iter().position(|w| &w.scope == scope) {
        Some(i) => i,
        None => {
            all.push(Workstream::new(scope.clone()));
            all.len() - 1
        }
    }
}

#[cfg(test)]
mod tests;
