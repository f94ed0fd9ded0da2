//! The incident by workstream, and the tech leads' reports to the incident
//! manager (see `muster_domain::workstream`).

use muster_domain::workstream::{self, Report, Workstream};
use muster_domain::{Actor, Change, Command, IncidentRef, Scope};

use crate::incidents::no_incident;
use crate::{App, Result};

/// What a tech lead tells the incident manager about their workstream.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    /// Defaults to the reporter's one workstream.
    pub workstream: Option<Scope>,
    pub conditions: String,
    pub actions: String,
    pub needs: String,
}

impl App {
    /// The incident's workstreams: their leads, theories, actions and
    /// reports, the rest (what belongs to none) last.
    pub async fn workstreams(&self, r: IncidentRef) -> Result<Vec<Workstream>> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        let events = self.store.events(r.0).await?;
        Ok(workstream::workstreams(&incident, &events))
    }

    /// Records a tech lead's report to the incident manager.
    pub async fn report_to_incident_manager(
        &self,
        actor: &Actor,
        r: IncidentRef,
        input: ReportInput,
    ) -> Result<Report> {
        let command = Command::ReportToIncidentManager {
            workstream: input.workstream,
            conditions: input.conditions,
            actions: input.actions,
            needs: input.needs,
        };
        let (_, events) = self.execute(actor, r, command).await?;
        events
            .into_iter()
            .find_map(|e| match e.change {
                Change::TechLeadReported { workstream, conditions, actions, needs } => {
                    Some(Report { seq: e.seq, at: e.at, actor: e.actor, workstream, conditions, actions, needs })
                }
                _ => None,
            })
            .ok_or_else(|| crate::Error::Internal("a report made no entry".into()))
    }
}
