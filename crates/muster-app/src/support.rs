//! The customer support lead's work: customer reports logged by people or
//! received from a helpdesk, the queue with its response timers, linking
//! reports to incidents, answering them from the published external
//! updates, and passing what customers say on to the responders.
//!
//! Who may: any responder logs a report and handles one linked to no
//! incident; once linked, the incident's customer support lead, its
//! incident managers and admins (`Action::HandleCustomerReports`, checked
//! by the domain inside the incident's transaction).

use std::collections::{BTreeMap, BTreeSet};

use muster_domain::access::{self, Action, Standing};
use muster_domain::incident::Context;
use muster_domain::outbox::{Job, Webhook};
use muster_domain::support::{
    self, Candidate, MAX_BODY, ReportChannel, ReportSpec, ReportState, ResponseTargets, Suggestion,
};
use muster_domain::update::{UpdateAudience, UpdateState};
use muster_domain::{Actor, Command, DomainError, Incident, IncidentRef, Status, Timestamp};
use muster_store::{
    IncidentFilter, NewJob, NewReport, NewSupportIntegration, Received, ReportFilter, ReportMove, ReportRecord,
    ReportResponse, SupportIntegration,
};
use serde_json::json;

use crate::incidents::no_incident;
use crate::{App, Result};

/// A report as someone logs it.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub channel: ReportChannel,
    pub customer: String,
    pub contact: Option<String>,
    pub organization: Option<String>,
    pub body: String,
    pub external_ref: Option<String>,
    pub external_url: Option<String>,
    pub received_at: Option<Timestamp>,
    /// A service's name.
    pub service: Option<String>,
}

/// A change to a report: the fields given replace.
#[derive(Debug, Clone, Default)]
pub struct ReportPatch {
    pub state: Option<ReportState>,
    pub customer: Option<String>,
    pub contact: Option<Option<String>>,
    pub organization: Option<Option<String>>,
}

/// A report with what the support lead needs beside it.
#[derive(Debug, Clone)]
pub struct ReportView {
    pub report: ReportRecord,
    /// Whether its first response is late.
    pub overdue: bool,
    /// An unlinked report's likely incident.
    pub suggestion: Option<Suggestion>,
    /// What to answer, from its incident's published external updates.
    pub suggested_reply: Option<String>,
    /// Its incident is resolved and it is not closed: answer and close it.
    pub to_close: bool,
}

/// A report in full: its view and its answers.
#[derive(Debug, Clone)]
pub struct ReportDetail {
    pub view: ReportView,
    pub responses: Vec<ReportResponse>,
}

/// What an incident's reports say of its impact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportCounts {
    pub reports: usize,
    pub customers: usize,
    pub organizations: usize,
    pub by_channel: BTreeMap<ReportChannel, usize>,
}

impl ReportCounts {
    pub fn of(reports: &[ReportRecord]) -> ReportCounts {
        let mut by_channel = BTreeMap::new();
        for r in reports {
            *by_channel.entry(r.spec.channel).or_insert(0) += 1;
        }
        let customers: BTreeSet<String> = reports
            .iter()
            .map(|r| r.spec.contact.clone().unwrap_or_else(|| r.spec.customer.clone()).to_lowercase())
            .collect();
        let organizations: BTreeSet<String> =
            reports.iter().filter_map(|r| r.spec.organization.as_ref().map(|o| o.to_lowercase())).collect();
        ReportCounts {
            reports: reports.len(),
            customers: customers.len(),
            organizations: organizations.len(),
            by_channel,
        }
    }

    /// Whether the first responder's assessment should offer "many customers".
    pub fn many_customers(&self) -> bool {
        self.customers >= support::MANY_CUSTOMERS
    }
}

/// The kinds of support integration.
pub const INTEGRATION_KINDS: [&str; 4] = ["zendesk", "freshdesk", "intercom", "generic"];

/// What a helpdesk's event says, parsed from its wire format.
#[derive(Debug, Clone)]
pub struct SupportEvent {
    /// The vendor's event id (deduplicates retries and replays).
    pub event_id: String,
    pub spec: ReportSpec,
    /// A later event's new text (a reply, a comment), added to the report.
    pub addition: Option<String>,
}

pub(crate) fn due_job(r: &ReportRecord) -> Vec<NewJob> {
    if !r.state.awaits_response() {
        return Vec::new();
    }
    vec![NewJob {
        job: Job::ReportDue { report: r.id, due_at: r.response_due_at },
        idempotency_key: format!("customer_report.due:{}:{}", r.id, r.response_due_at.as_microsecond()),
        due_at: r.response_due_at,
    }]
}

fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("sup_{}", hex::encode(bytes))
}

fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// Decides the move of one report from its incident (locked) and the report.
type DecideOne<'a> =
    dyn Fn(Option<&Incident>, &ReportRecord) -> std::result::Result<ReportMove, DomainError> + Send + Sync + 'a;

fn no_report(id: u64) -> crate::Error {
    crate::Error::NotFound(format!("there is no customer report {id}"))
}

impl App {
    /// The first-response targets: the admins' setting, else the defaults.
    pub async fn response_targets(&self) -> Result<ResponseTargets> {
        match self.store.setting(support::TARGETS_SETTING).await? {
            None => Ok(ResponseTargets::default()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| crate::Error::Internal(format!("the stored response targets do not read: {e}"))),
        }
    }

    /// Replaces the first-response targets (admins). Reports already due
    /// keep their due time.
    pub async fn set_response_targets(&self, actor: &Actor, targets: ResponseTargets) -> Result<ResponseTargets> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        targets.check()?;
        let json = serde_json::to_string(&targets).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.set_setting(support::TARGETS_SETTING, &json).await?;
        Ok(targets)
    }

    async fn service_named(&self, name: Option<&str>) -> Result<Option<u64>> {
        let Some(name) = name.map(str::trim) else { return Ok(None) };
        if name.is_empty() {
            return Err(DomainError::invalid("service", "name a service, or leave it out").into());
        }
        let services = self.store.services().await?;
        match services.iter().find(|s| s.name == name || s.id.to_string() == name) {
            Some(s) => Ok(Some(s.id)),
            None => Err(DomainError::invalid("service", format!("there is no service {name:?}")).into()),
        }
    }

    /// Logs a report (any responder); its first response is due by the
    /// unlinked target.
    #[tracing::instrument(name = "report.log", skip_all, fields(user.handle = %actor.handle))]
    pub async fn log_report(&self, actor: &Actor, input: ReportInput) -> Result<ReportView> {
        access::check(actor, Action::LogCustomerReport, &Standing::none())?;
        let now = self.clock.now();
        let spec = ReportSpec::new(
            input.channel,
            &input.customer,
            input.contact.as_deref(),
            input.organization.as_deref(),
            &input.body,
            input.external_ref.as_deref(),
            input.external_url.as_deref(),
            input.received_at,
            now,
        )?;
        let service = self.service_named(input.service.as_deref()).await?;
        let targets = self.response_targets().await?;
        let new = NewReport {
            response_due_at: targets.due_at(spec.received_at, None),
            spec,
            service,
            integration: None,
            logged_by: Some(actor.handle.clone()),
        };
        let report = self.store.create_report(&new, &due_job, now).await?;
        self.engine.wake();
        self.report_view(report).await
    }

    /// A helpdesk's event through integration `integration`: a new report
    /// (`true`), the ticket's report updated (`false`), or nothing when the
    /// event was received before (`None`).
    pub async fn receive_support_event(
        &self,
        integration: &SupportIntegration,
        event: SupportEvent,
    ) -> Result<Option<(ReportRecord, bool)>> {
        let now = self.clock.now();
        let targets = self.response_targets().await?;
        let new = NewReport {
            response_due_at: targets.due_at(event.spec.received_at, None),
            spec: event.spec.clone(),
            service: integration.service,
            integration: Some(integration.id),
            logged_by: None,
        };
        let addition = event.addition.clone();
        let merge = move |old: &ReportRecord| {
            let mut r = old.clone();
            if let Some(more) = &addition
                && !old.spec.body.contains(more.as_str())
            {
                let joined = format!("{}\n\n{more}", old.spec.body);
                r.spec.body = joined.chars().take(MAX_BODY).collect();
            }
            if r.spec.organization.is_none() {
                r.spec.organization.clone_from(&event.spec.organization);
            }
            if r.spec.external_url.is_none() {
                r.spec.external_url.clone_from(&event.spec.external_url);
            }
            r
        };
        let received = self.store.receive_report(&new, &event.event_id, &merge, &due_job, now).await?;
        match received {
            Received::Repeated(id) => {
                tracing::info!(integration = integration.id, report = id, "support event received before: ignored");
                Ok(None)
            }
            Received::Created(r) => {
                self.engine.wake();
                Ok(Some((r, true)))
            }
            Received::Updated(r) => {
                if let Some(n) = r.incident {
                    self.changes.changed(n);
                }
                Ok(Some((r, false)))
            }
        }
    }

    /// Open incidents as suggestions for unlinked reports: their services
    /// (from their alerts) and their published external updates only.
    async fn candidates(&self) -> Result<Vec<Candidate>> {
        let filter = IncidentFilter {
            statuses: vec![Status::Investigating, Status::Identified, Status::Monitoring],
            limit: 50,
            ..IncidentFilter::default()
        };
        let mut out = Vec::new();
        for incident in self.store.incidents(&filter).await? {
            let alerts = self.store.alerts_of_incident(incident.number).await?;
            let mut services: Vec<u64> = alerts.iter().map(|a| a.service).collect();
            services.sort_unstable();
            services.dedup();
            let public_text = self
                .store
                .updates(incident.number)
                .await?
                .into_iter()
                .filter(|u| u.content.audience == UpdateAudience::External && u.state == UpdateState::Published)
                .map(|u| u.content.text())
                .collect::<Vec<_>>()
                .join(" ");
            out.push(Candidate { number: incident.number, services, title: incident.title, public_text });
        }
        Ok(out)
    }

    /// The text of incident `number`'s latest published external update.
    async fn latest_external(&self, number: u64) -> Result<Option<String>> {
        Ok(self
            .store
            .updates(number)
            .await?
            .into_iter()
            .filter(|u| u.content.audience == UpdateAudience::External && u.state == UpdateState::Published)
            .max_by_key(|u| (u.published_at, u.id))
            .map(|u| u.content.text()))
    }

    fn view_of(
        &self,
        report: ReportRecord,
        incident: Option<&Incident>,
        suggestion: Option<Suggestion>,
        reply: Option<String>,
    ) -> ReportView {
        let now = self.clock.now();
        let overdue = report.state.awaits_response() && report.response_due_at <= now;
        let to_close = report.state != ReportState::Closed
            && incident.is_some_and(|i| matches!(i.status, Status::Resolved | Status::Closed));
        ReportView { report, overdue, suggestion, suggested_reply: reply, to_close }
    }

    async fn report_view(&self, report: ReportRecord) -> Result<ReportView> {
        let incident = match report.incident {
            Some(n) => self.store.incident(n).await?,
            None => None,
        };
        let suggestion = match &incident {
            Some(_) => None,
            None => support::suggest(report.service, &report.spec.body, &self.candidates().await?),
        };
        let reply = match &incident {
            Some(i) => reply(&report, i, self.latest_external(i.number).await?.as_deref()),
            None => None,
        };
        Ok(self.view_of(report, incident.as_ref(), suggestion, reply))
    }

    pub async fn report(&self, id: u64) -> Result<ReportDetail> {
        let report = self.store.report(id).await?.ok_or_else(|| no_report(id))?;
        let responses = self.store.report_responses(id).await?;
        Ok(ReportDetail { view: self.report_view(report).await?, responses })
    }

    /// Reports, newest first.
    pub async fn reports(&self, filter: &ReportFilter) -> Result<Vec<ReportRecord>> {
        Ok(self.store.reports(filter).await?)
    }

    /// The support lead's queue: every report not closed — new ones first,
    /// then by due time — with its timer, suggestion and reply.
    pub async fn support_queue(&self, channel: Option<ReportChannel>) -> Result<Vec<ReportView>> {
        let filter = ReportFilter {
            states: vec![ReportState::New, ReportState::Acknowledged, ReportState::Responded],
            channel,
            limit: 500,
            ..ReportFilter::default()
        };
        let reports = self.store.reports(&filter).await?;
        let candidates = self.candidates().await?;
        // Each incident and its latest external update read once.
        let mut incidents: BTreeMap<u64, Option<(Incident, Option<String>)>> = BTreeMap::new();
        let mut out = Vec::with_capacity(reports.len());
        for r in reports {
            let linked = match r.incident {
                Some(n) => match incidents.get(&n) {
                    Some(found) => found.clone(),
                    None => {
                        let found = match self.store.incident(n).await? {
                            Some(i) => Some((i, self.latest_external(n).await?)),
                            None => None,
                        };
                        incidents.insert(n, found.clone());
                        found
                    }
                },
                None => None,
            };
            let view = match linked {
                Some((incident, latest)) => {
                    let reply = reply(&r, &incident, latest.as_deref());
                    self.view_of(r, Some(&incident), None, reply)
                }
                None => {
                    let suggestion = support::suggest(r.service, &r.spec.body, &candidates);
                    self.view_of(r, None, suggestion, None)
                }
            };
            out.push(view);
        }
        out.sort_by_key(|v| (v.report.state != ReportState::New, !v.overdue, v.report.response_due_at));
        Ok(out)
    }

    /// Incident `r`'s reports, newest first, and what they count.
    pub async fn incident_reports(&self, r: IncidentRef) -> Result<(Vec<ReportRecord>, ReportCounts)> {
        if self.store.incident_version(r.0).await?.is_none() {
            return Err(no_incident(r).into());
        }
        let reports = self.store.reports(&ReportFilter { incident: Some(r.0), ..ReportFilter::default() }).await?;
        let counts = ReportCounts::of(&reports);
        Ok((reports, counts))
    }

    /// What customers reported about `service` in the last hour: for the
    /// first responder's impact assessment, which offers "many customers"
    /// when enough distinct customers did ([`ReportCounts::many_customers`]).
    pub async fn recent_reports_on(&self, service: u64) -> Result<ReportCounts> {
        let since = self.clock.now().checked_sub(jiff::SignedDuration::from_hours(1)).ok();
        let filter = ReportFilter { service: Some(service), since, limit: 1000, ..ReportFilter::default() };
        Ok(ReportCounts::of(&self.store.reports(&filter).await?))
    }

    /// Runs a move of one report under its incident's lock (if linked);
    /// `decide` gets the incident and the report as they are now.
    async fn move_report(&self, id: u64, decide: &DecideOne<'_>) -> Result<ReportRecord> {
        let before = self.store.report(id).await?.ok_or_else(|| no_report(id))?;
        let now = self.clock.now();
        let expected = before.incident;
        let run = |incident: Option<&Incident>, reports: &[ReportRecord]| {
            let report = &reports[0];
            if report.incident != expected {
                return Err(DomainError::Conflict(format!(
                    "report {id} was linked or unlinked meanwhile: look again and retry"
                )));
            }
            decide(incident, report)
        };
        let (moved, events) = self.store.change_reports(&[id], expected, &run, now).await?;
        if !events.is_empty()
            && let Some(n) = expected
        {
            self.changes.changed(n);
        }
        self.engine.wake();
        Ok(moved.into_iter().next().unwrap_or(before))
    }

    /// Changes a report's state or who it is from.
    pub async fn patch_report(&self, actor: &Actor, id: u64, patch: ReportPatch) -> Result<ReportView> {
        let now = self.clock.now();
        let decide = |incident: Option<&Incident>, r: &ReportRecord| {
            match incident {
                Some(i) => access::check(actor, Action::HandleCustomerReports, &Standing::incident(i, actor))?,
                None => access::check(actor, Action::LogCustomerReport, &Standing::none())?,
            }
            let mut next = r.clone();
            if let Some(state) = patch.state.filter(|s| *s != r.state) {
                r.state.check_move(state)?;
                next.state = state;
                match state {
                    ReportState::Acknowledged => next.acknowledged_at = Some(now),
                    ReportState::Responded => next.responded_at = Some(now),
                    ReportState::Closed => next.closed_at = Some(now),
                    ReportState::New => {}
                }
            }
            let checked = ReportSpec::new(
                r.spec.channel,
                patch.customer.as_deref().unwrap_or(&r.spec.customer),
                patch.contact.clone().unwrap_or_else(|| r.spec.contact.clone()).as_deref(),
                patch.organization.clone().unwrap_or_else(|| r.spec.organization.clone()).as_deref(),
                &r.spec.body,
                r.spec.external_ref.as_deref(),
                r.spec.external_url.as_deref(),
                Some(r.spec.received_at.min(now)),
                now,
            )?;
            next.spec = checked;
            Ok(ReportMove { reports: vec![next], ..ReportMove::default() })
        };
        let moved = self.move_report(id, &decide).await?;
        self.report_view(moved).await
    }

    /// Links reports to incident `r` (its support lead, its incident
    /// managers, admins); a report linked elsewhere must be unlinked first.
    /// Each report still awaiting an answer is due by the incident's
    /// priority from when it was received.
    pub async fn link_reports(&self, actor: &Actor, ids: &[u64], r: IncidentRef) -> Result<Vec<ReportRecord>> {
        let mut unique: Vec<u64> = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(id) {
                unique.push(*id);
            }
        }
        let ids = unique.as_slice();
        if ids.is_empty() {
            return Err(DomainError::invalid("reports", "name at least one report").into());
        }
        if ids.len() > support::MAX_BULK {
            return Err(DomainError::invalid("reports", format!("at most {} at once", support::MAX_BULK)).into());
        }
        if self.store.incident_version(r.0).await?.is_none() {
            return Err(DomainError::invalid("incident", format!("there is no incident {r}")).into());
        }
        let targets = self.response_targets().await?;
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let decide = |incident: Option<&Incident>, reports: &[ReportRecord]| {
            let incident = incident.ok_or_else(|| DomainError::Conflict(format!("{r} is gone")))?;
            let mut moved = Vec::new();
            let mut refs = Vec::new();
            for report in reports {
                match report.incident {
                    Some(n) if n == incident.number => continue,
                    Some(n) => {
                        return Err(DomainError::Conflict(format!(
                            "report {} is linked to INC-{n}: unlink it first",
                            report.id
                        )));
                    }
                    None => {}
                }
                let mut next = report.clone();
                next.incident = Some(incident.number);
                if next.state.awaits_response() {
                    next.response_due_at = targets.due_at(report.spec.received_at, Some(incident.priority));
                }
                refs.push(report.reference());
                moved.push(next);
            }
            // Run even when every report is linked here already: the
            // command is where the authority is checked.
            let command = Command::LinkCustomerReports { reports: refs };
            let (state, events) = incident.execute(command, Context { actor, now, catalog: &catalog })?;
            let jobs = moved.iter().flat_map(due_job).collect();
            Ok(ReportMove { reports: moved, jobs, incident: Some((state, events)), ..ReportMove::default() })
        };
        let (moved, events) = self.store.change_reports(ids, Some(r.0), &decide, now).await?;
        if !events.is_empty() {
            self.changes.changed(r.0);
        }
        self.engine.wake();
        Ok(moved)
    }

    /// Moves the first-response due time of the incident's reports still
    /// awaiting an answer to its priority's target, after the priority
    /// changed: a P3 raised to P1 makes its reports due 15 minutes from
    /// their receipt. Each moved report gets a new reminder; the old job
    /// finds the due time moved and does nothing.
    pub(crate) async fn retime_reports(&self, number: u64) -> Result<()> {
        let filter = ReportFilter {
            incident: Some(number),
            states: vec![ReportState::New, ReportState::Acknowledged],
            ..ReportFilter::default()
        };
        let ids: Vec<u64> = self.store.reports(&filter).await?.iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let targets = self.response_targets().await?;
        let decide = |incident: Option<&Incident>, reports: &[ReportRecord]| {
            let priority = incident.map(|i| i.priority);
            let mut moved = Vec::new();
            for report in reports.iter().filter(|r| r.incident == Some(number) && r.state.awaits_response()) {
                let due = targets.due_at(report.spec.received_at, priority);
                if due != report.response_due_at {
                    let mut next = report.clone();
                    next.response_due_at = due;
                    moved.push(next);
                }
            }
            let jobs = moved.iter().flat_map(due_job).collect();
            Ok(ReportMove { reports: moved, jobs, ..ReportMove::default() })
        };
        self.store.change_reports(&ids, Some(number), &decide, self.clock.now()).await?;
        self.engine.wake();
        Ok(())
    }

    /// Unlinks a report from its incident: it is due by the unlinked target again.
    pub async fn unlink_report(&self, actor: &Actor, id: u64) -> Result<ReportView> {
        let targets = self.response_targets().await?;
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let decide = |incident: Option<&Incident>, report: &ReportRecord| {
            let Some(incident) = incident else {
                return Err(DomainError::Conflict(format!("report {id} is linked to no incident")));
            };
            let command = Command::UnlinkCustomerReport { report: report.reference() };
            let (state, events) = incident.execute(command, Context { actor, now, catalog: &catalog })?;
            let mut next = report.clone();
            next.incident = None;
            if next.state.awaits_response() {
                next.response_due_at = targets.due_at(report.spec.received_at, None);
            }
            let jobs = due_job(&next);
            Ok(ReportMove { reports: vec![next], jobs, incident: Some((state, events)), ..ReportMove::default() })
        };
        let moved = self.move_report(id, &decide).await?;
        self.report_view(moved).await
    }

    /// Records the answer given to a report's customer: the timer stops.
    /// A report from a helpdesk whose integration has a reply URL gets the
    /// answer there too, as a signed webhook through the outbox.
    pub async fn respond_to_report(&self, actor: &Actor, id: u64, body: &str) -> Result<ReportView> {
        let body = support::check_body("body", body, MAX_BODY)?;
        let before = self.store.report(id).await?.ok_or_else(|| no_report(id))?;
        let integration = match before.integration {
            Some(i) => self.store.support_integration(i).await?,
            None => None,
        };
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let decide = |incident: Option<&Incident>, report: &ReportRecord| {
            if report.state == ReportState::Closed {
                return Err(DomainError::Conflict(format!("report {id} is closed")));
            }
            let state = match incident {
                Some(i) => {
                    let command = Command::RespondCustomerReport { report: report.reference(), text: body.clone() };
                    Some(i.execute(command, Context { actor, now, catalog: &catalog })?)
                }
                None => {
                    access::check(actor, Action::LogCustomerReport, &Standing::none())?;
                    None
                }
            };
            let mut next = report.clone();
            next.state = ReportState::Responded;
            next.responded_at = Some(now);
            let mut jobs = Vec::new();
            if let Some(SupportIntegration { id: integration, kind, reply_url: Some(url), .. }) = &integration {
                let payload = json!({
                    "type": "customer_report.response",
                    "integration": kind,
                    "report": report.id,
                    "external_ref": report.spec.external_ref,
                    "customer": report.spec.customer,
                    "contact": report.spec.contact,
                    "incident": report.incident.map(|n| format!("INC-{n}")),
                    "body": body,
                    "responded_by": actor.handle.as_str(),
                    "responded_at": now.to_string(),
                });
                let hook = Webhook {
                    to: url.clone(),
                    body: payload,
                    support_integration: Some(*integration),
                    ..Webhook::default()
                };
                jobs.push(NewJob {
                    job: Job::Webhook(hook),
                    idempotency_key: format!("customer_report.response:{id}:{}", now.as_microsecond()),
                    due_at: now,
                });
            }
            Ok(ReportMove {
                reports: vec![next],
                responses: vec![(id, body.clone(), actor.handle.clone())],
                jobs,
                incident: state,
            })
        };
        let moved = self.move_report(id, &decide).await?;
        self.report_view(moved).await
    }

    /// Passes what a customer said on to the responders: a
    /// `customer_report` entry on the incident's timeline, and a
    /// notification (not a page) to the incident manager and the tech
    /// leads through their contact methods. With `page`, they are paged
    /// instead: one page each, tracked and answerable like any other,
    /// sent once the entry is written.
    pub async fn pass_report(
        &self,
        actor: &Actor,
        id: u64,
        excerpt: Option<&str>,
        note: Option<&str>,
        page: bool,
    ) -> Result<ReportView> {
        let before = self.store.report(id).await?.ok_or_else(|| no_report(id))?;
        let Some(number) = before.incident else {
            return Err(DomainError::Conflict(format!(
                "report {id} is linked to no incident: link it first, then pass it on"
            ))
            .into());
        };
        let excerpt = support::excerpt(excerpt, &before.spec.body)?;
        let note = match note.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => Some(support::check_body("note", n, support::MAX_EXCERPT)?),
            None => None,
        };
        // Whom, and how to reach them, read before the lock.
        let incident = self.store.incident(number).await?.ok_or_else(|| no_incident(IncidentRef(number)))?;
        let mut methods = Vec::new();
        for person in support::told_when_passed(&incident) {
            methods.push((person.clone(), self.store.contact_methods(&person).await?));
        }
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let url = format!("{}/incidents/INC-{number}", self.config.public_url.trim_end_matches('/'));
        let decide = |incident: Option<&Incident>, report: &ReportRecord| {
            let incident = incident.ok_or_else(|| DomainError::Conflict(format!("INC-{number} is gone")))?;
            let command = Command::PassCustomerReport {
                report: report.reference(),
                excerpt: excerpt.clone(),
                note: note.clone(),
            };
            let (state, events) = incident.execute(command, Context { actor, now, catalog: &catalog })?;
            let seq = events.first().map(|e| e.seq).unwrap_or_default();
            let headline = format!("INC-{number}: {} says", report.reference().describe());
            let body = json!({
                "type": "customer_report", "incident": format!("INC-{number}"), "report": report.id,
                "channel": report.spec.channel.as_str(), "customer": report.spec.customer,
                "organization": report.spec.organization, "excerpt": excerpt, "note": note,
                "passed_by": actor.handle.as_str(), "url": url,
            });
            let note_line = note.as_ref().map(|n| format!("\n\n@{}: {n}", actor.handle)).unwrap_or_default();
            let text = format!("{headline}:\n\n{excerpt}{note_line}\n\n{url}\n");
            let people = support::told_when_passed(&state);
            let mut jobs = Vec::new();
            for (person, found) in methods.iter().filter(|(p, _)| !page && people.contains(p)) {
                for m in found {
                    let job =
                        crate::channels::notification(m, body.clone(), &format!("[Muster] {headline}"), text.clone());
                    let key = format!("customer_report.passed:{number}:{seq}:{person}:method:{}", m.id);
                    jobs.push(NewJob { job, idempotency_key: key, due_at: now });
                }
            }
            let mut next = report.clone();
            next.passed_at = Some(now);
            Ok(ReportMove { reports: vec![next], jobs, incident: Some((state, events)), ..ReportMove::default() })
        };
        let moved = self.move_report(id, &decide).await?;
        if page {
            let incident = self.store.incident(number).await?.ok_or_else(|| no_incident(IncidentRef(number)))?;
            let said = moved.reference().describe();
            let message: String =
                format!("{said} says: {excerpt}").chars().take(muster_domain::page::MAX_MESSAGE).collect();
            for person in support::told_when_passed(&incident) {
                self.page_about_report(actor, number, &person, &message, &catalog).await?;
            }
        }
        self.report_view(moved).await
    }

    /// Pages one responder about a report passed on: a one-step page to
    /// them, on the incident's timeline as sent by the one passing it.
    async fn page_about_report(
        &self,
        actor: &Actor,
        number: u64,
        person: &muster_domain::Handle,
        message: &str,
        catalog: &muster_domain::RoleCatalog,
    ) -> Result<()> {
        use muster_domain::page::{self, PageTarget};
        use muster_domain::paging::Target;
        let target_text = format!("@{person}");
        let new = muster_store::NewPage {
            incident: Some(number),
            alert: None,
            target: PageTarget::User(person.clone()),
            target_text: target_text.clone(),
            message: message.to_owned(),
            roles: Vec::new(),
            policy: page::single_step(Target::User(person.clone())),
            created_by: actor.clone(),
        };
        let now = self.clock.now();
        let decide = |state: &Incident, page: u64| {
            let command =
                Command::PageAboutCustomerReport { page, target: target_text.clone(), message: message.to_owned() };
            state.execute(command, Context { actor, now, catalog })
        };
        self.store.create_page(&new, now, &decide).await?;
        self.engine.wake();
        self.changes.changed(number);
        Ok(())
    }

    // Support integrations.

    /// Adds a helpdesk's integration (admins). The secret is the one set in
    /// the vendor's webhook, or made here; it is shown once.
    pub async fn create_support_integration(
        &self,
        actor: &Actor,
        kind: &str,
        name: &str,
        secret: Option<&str>,
        reply_url: Option<&str>,
        service: Option<&str>,
    ) -> Result<SupportIntegration> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        if !INTEGRATION_KINDS.contains(&kind) {
            return Err(DomainError::invalid(
                "kind",
                format!("{kind:?} is not one of zendesk, freshdesk, intercom, generic"),
            )
            .into());
        }
        let name = support::check_body("name", name, 100)?;
        let secret = match secret.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() < 16 => {
                return Err(DomainError::invalid("secret", "must be at least 16 characters").into());
            }
            Some(s) if s.chars().count() > 200 => {
                return Err(DomainError::invalid("secret", "is longer than 200 characters").into());
            }
            Some(s) => s.to_owned(),
            None => new_secret(),
        };
        let reply_url = match reply_url {
            Some(u) => {
                let url = muster_domain::paging::contact_address(muster_domain::paging::ContactKind::Webhook, u)
                    .map_err(|e| match e {
                        DomainError::Invalid { message, .. } => DomainError::invalid("reply_url", message),
                        other => other,
                    })?;
                crate::channels::webhook::check_target(&self.config.webhook_allow, &url)
                    .await
                    .map_err(|e| DomainError::invalid("reply_url", e.to_string()))?;
                Some(url)
            }
            None => None,
        };
        let service = self.service_named(service).await?;
        let new = NewSupportIntegration { kind: kind.to_owned(), name, key: new_key(), secret, reply_url, service };
        Ok(self.store.create_support_integration(&new, self.clock.now()).await?)
    }

    /// Every support integration (admins: they hold secrets).
    pub async fn support_integrations(&self, actor: &Actor) -> Result<Vec<SupportIntegration>> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        Ok(self.store.support_integrations().await?)
    }

    /// The integration a vendor's request names by kind and key.
    pub async fn support_integration_for(&self, kind: &str, key: &str) -> Result<Option<SupportIntegration>> {
        Ok(self.store.support_integration_by_key(key).await?.filter(|i| i.kind == kind))
    }
}

/// The reply a report linked to `incident` is offered, from the latest
/// published external update's text.
fn reply(report: &ReportRecord, incident: &Incident, latest_external: Option<&str>) -> Option<String> {
    let resolved = matches!(incident.status, Status::Resolved | Status::Closed);
    support::suggested_reply(&report.spec.customer, latest_external, resolved)
}

/// How far a signed request's timestamp may be from now: older is a replay.
pub const SIGNATURE_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Why a helpdesk's request was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unverified(pub String);

fn fresh(timestamp: Timestamp, now: Timestamp) -> Result<(), Unverified> {
    let age = now.duration_since(timestamp).abs();
    if age > SIGNATURE_TOLERANCE {
        return Err(Unverified(format!(
            "the signature's timestamp {timestamp} is more than {} minutes from now: a replay, or a clock that is off",
            SIGNATURE_TOLERANCE.as_mins()
        )));
    }
    Ok(())
}

/// What Zendesk puts in `x-zendesk-webhook-signature` for `body` sent at
/// `timestamp` (for drills and tests that play Zendesk).
pub fn zendesk_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What Intercom puts in `X-Hub-Signature` for `body`.
pub fn intercom_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Zendesk's webhook signature: `x-zendesk-webhook-signature` is
/// base64(HMAC-SHA256(secret, `x-zendesk-webhook-signature-timestamp` +
/// body)), and the timestamp (RFC 3339) is recent.
pub fn verify_zendesk(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), Unverified> {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Unverified(
            "x-zendesk-webhook-signature and x-zendesk-webhook-signature-timestamp are required".into(),
        ));
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Unverified("x-zendesk-webhook-signature is not base64".into()))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| Unverified("the Zendesk signature does not match this integration's secret".into()))?;
    let at: Timestamp = timestamp
        .trim()
        .parse()
        .map_err(|_| Unverified("x-zendesk-webhook-signature-timestamp is not an RFC 3339 time".into()))?;
    fresh(at, now)
}

/// Intercom's webhook signature: `X-Hub-Signature` is `sha1=` and the hex
/// HMAC-SHA1 of the body with the app's client secret.
pub fn verify_intercom(secret: &str, signature: Option<&str>, body: &[u8]) -> Result<(), Unverified> {
    use hmac::{Hmac, Mac};
    let Some(hex_sig) = signature.and_then(|s| s.trim().strip_prefix("sha1=")) else {
        return Err(Unverified("X-Hub-Signature (sha1=<hex>) is required".into()));
    };
    let given = hex::decode(hex_sig).map_err(|_| Unverified("X-Hub-Signature is not hex".into()))?;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| Unverified("the Intercom signature does not match this integration's secret".into()))
}

/// Muster's own signature, for the generic hook: `X-Muster-Signature` is
/// `sha256=` and the hex HMAC-SHA256 of `X-Muster-Timestamp` (seconds since
/// the epoch), a dot and the body — what Muster's outgoing webhooks send.
pub fn verify_muster(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), Unverified> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Unverified("X-Muster-Signature and X-Muster-Timestamp are required".into()));
    };
    let seconds: i64 =
        timestamp.trim().parse().map_err(|_| Unverified("X-Muster-Timestamp is not seconds since the epoch".into()))?;
    let expected = crate::channels::webhook::signature(secret, seconds, body);
    if !same(expected.as_bytes(), signature.trim().as_bytes()) {
        return Err(Unverified("the signature does not match this integration's secret".into()));
    }
    let at = Timestamp::from_second(seconds).map_err(|_| Unverified("X-Muster-Timestamp is out of range".into()))?;
    fresh(at, now)
}

/// A shared secret sent as a header (Freshdesk does not sign): when the
/// request carries `X-Muster-Secret`, it must be the integration's.
pub fn verify_shared_secret(secret: &str, header: Option<&str>) -> Result<(), Unverified> {
    match header {
        None => Ok(()),
        Some(given) if same(given.trim().as_bytes(), secret.as_bytes()) => Ok(()),
        Some(_) => Err(Unverified("X-Muster-Secret is not this integration's secret".into())),
    }
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-04-17T17:18:30Z".parse().unwrap()
    }

    #[test]
    fn a_zendesk_signature_is_checked_and_an_old_one_refused() {
        let body = br#"{"type":"zen:event-type:ticket.created"}"#;
        let ts = "2024-04-17T17:18:10Z";
        let sig = zendesk_signature("s3cret", ts, body);
        assert_eq!(verify_zendesk("s3cret", Some(ts), Some(&sig), body, now()), Ok(()));
        assert!(verify_zendesk("other", Some(ts), Some(&sig), body, now()).is_err());
        assert!(verify_zendesk("s3cret", Some(ts), Some(&sig), b"{}", now()).is_err());
        let late = "2024-04-17T18:00:00Z".parse().unwrap();
        let err = verify_zendesk("s3cret", Some(ts), Some(&sig), body, late).unwrap_err();
        assert!(err.0.contains("replay"), "{err}");
        assert!(verify_zendesk("s3cret", None, Some(&sig), body, now()).is_err());
    }

    #[test]
    fn an_intercom_signature_is_the_hmac_sha1_of_the_body() {
        let body = br#"{"type":"notification_event"}"#;
        let sig = intercom_signature("client-secret", body);
        assert_eq!(verify_intercom("client-secret", Some(&sig), body), Ok(()));
        assert!(verify_intercom("client-secret", Some(&sig), b"{}").is_err());
        assert!(verify_intercom("client-secret", Some("sha256=00"), body).is_err());
    }

    #[test]
    fn the_generic_hook_takes_musters_own_signature() {
        let body = br#"{"body":"down"}"#;
        let ts = now().as_second();
        let sig = crate::channels::webhook::signature("s3cret", ts, body);
        assert_eq!(verify_muster("s3cret", Some(&ts.to_string()), Some(&sig), body, now()), Ok(()));
        assert!(verify_muster("nope", Some(&ts.to_string()), Some(&sig), body, now()).is_err());
        let old = (ts - 3600).to_string();
        let resigned = crate::channels::webhook::signature("s3cret", ts - 3600, body);
        assert!(verify_muster("s3cret", Some(&old), Some(&resigned), body, now()).is_err());
        assert_eq!(verify_shared_secret("s3cret", None), Ok(()));
        assert!(verify_shared_secret("s3cret", Some("s3cre")).is_err());
    }
}
