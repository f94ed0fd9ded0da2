//! The incident room's line, for every room: the web page's box today, the
//! chat adapters' rooms next. A line is parsed by the domain
//! (`muster_domain::room::parse`) into a message or a command, and run as
//! the person who typed it through the same use cases as the API, so the
//! room can do exactly what that person may do elsewhere.

use muster_domain::page::PageTarget;
use muster_domain::room::{self, RoomCommand};
use muster_domain::timeline::EntryKind;
use muster_domain::{Actor, DomainError, IncidentRef};

use crate::{App, EntryInput, Result};

impl App {
    /// Runs one line typed in incident `r`'s room by `actor`, and returns
    /// the reply to show them: empty for a plain message (the message itself
    /// is the answer), a short confirmation for a command. A line that is
    /// not a valid command is refused with how to write it (field `line`).
    #[tracing::instrument(name = "room.line", skip_all, fields(incident.r#ref = %r, user.handle = %actor.handle))]
    pub async fn room_line(&self, actor: &Actor, r: IncidentRef, line: &str) -> Result<String> {
        let command = room::parse(line).map_err(|reply| DomainError::invalid("line", reply))?;
        let entry = |kind: EntryKind, text: String| EntryInput {
            kind,
            text,
            tag: None,
            corrects: None,
            occurred_at: None,
            workstream: None,
        };
        let reply = match command {
            RoomCommand::Say(text) => {
                self.add_entry(actor, r, entry(EntryKind::Message, text)).await?;
                String::new()
            }
            RoomCommand::Entry { kind, text } => {
                self.add_entry(actor, r, entry(kind, text)).await?;
                format!("Added the {}.", kind.as_str())
            }
            RoomCommand::Assign { role, user, scope } => {
                let a = self.assign(actor, r, &role, &user, scope.as_deref()).await?;
                format!("@{} is now {}.", a.user, a.role.name())
            }
            RoomCommand::Relieve { user, role } => {
                let view = self.incident(r).await?;
                let catalog = self.role_catalog().await?;
                let role = catalog.parse(&role, "line")?;
                let Some(a) = view.incident.assignment_of(&user, &role) else {
                    return Err(DomainError::invalid("line", format!("@{user} does not hold {}", role.name())).into());
                };
                self.relieve(actor, r, a.id).await?;
                format!("Relieved @{user} as {}.", role.name())
            }
            RoomCommand::Page { user, role, message } => {
                let message = message.unwrap_or_else(|| format!("You are needed in {r}"));
                let p = self.page_for_incident(actor, r, PageTarget::User(user), &message, role.as_deref()).await?;
                format!("Page {} sent.", p.id)
            }
            RoomCommand::Status(s) => {
                self.update(actor, r, None, None, None, Some(s)).await?;
                format!("Status: {s}.")
            }
            RoomCommand::Priority(p) => {
                self.update(actor, r, None, None, Some(p), None).await?;
                format!("Priority: {p}.")
            }
            RoomCommand::Update { audience, draft, text } => {
                let input = muster_domain::update::UpdateInput { body: text, ..Default::default() };
                let u = self.write_update(actor, r, audience, input, draft).await?;
                if draft {
                    format!("Draft {audience} update {} saved, for someone who may publish it.", u.id)
                } else {
                    format!("Published the {audience} update {}.", u.id)
                }
            }
            RoomCommand::Customer { channel, customer, organization, text } => {
                let input = crate::support::ReportInput {
                    channel,
                    customer,
                    contact: None,
                    organization,
                    body: text,
                    external_ref: None,
                    external_url: None,
                    received_at: None,
                    service: None,
                };
                // Who may pass a report on here, asked before anything is logged.
                let incident = self.incident(r).await?.incident;
                let holders = |role| incident.holders(&role).map(|a| a.user.clone()).collect();
                let standing = muster_domain::access::Standing::incident(&incident, actor);
                let action = muster_domain::access::Action::HandleCustomerReports;
                muster_domain::access::check_naming(actor, action, &standing, &holders)?;
                let logged = self.log_report(actor, input).await?;
                let id = logged.report.id;
                self.link_reports(actor, &[id], r).await?;
                self.pass_report(actor, id, None, None, false).await?;
                format!("Report {id} logged, linked to {r} and passed on to the incident manager and the tech leads.")
            }
            RoomCommand::Judge { theory, status, evidence } => {
                self.judge_theory(actor, r, theory, status, evidence).await?;
                format!("Theory {theory} {}.", status.verb())
            }
            RoomCommand::Highlight { entry, highlighted } => {
                self.highlight(actor, r, entry, highlighted).await?;
                if highlighted {
                    format!("Entry {entry} is highlighted for the postmortem.")
                } else {
                    format!("Entry {entry} is no longer highlighted.")
                }
            }
            RoomCommand::Annotate { entry, text } => {
                self.annotate(actor, r, entry, text).await?;
                format!("Annotated entry {entry}.")
            }
            RoomCommand::Report { conditions, actions, needs } => {
                let input = crate::workstreams::ReportInput { workstream: None, conditions, actions, needs };
                let report = self.report_to_incident_manager(actor, r, input).await?;
                format!("Reported to the incident manager (entry {}).", report.seq)
            }
            RoomCommand::Help => room::HELP.to_owned(),
        };
        Ok(reply)
    }
}
