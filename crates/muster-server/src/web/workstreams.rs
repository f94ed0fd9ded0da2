//! The incident page's workstreams panel, for the incident manager: each
//! tech lead's workstream with its latest report (conditions, actions,
//! needs), its theories and its actions; and the form a tech lead reports
//! with.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use muster_app::App;
use muster_app::workstreams::ReportInput;
use muster_domain::workstream::Workstream;
use muster_domain::{IncidentRef, Scope};

use super::incident::incident_ref;
use super::{Posted, back};
use crate::error::ApiError;

pub struct ReportView {
    pub seq: u64,
    pub at: String,
    pub by: String,
    pub conditions: String,
    pub actions: String,
    pub needs: String,
}

pub struct ItemView {
    pub seq: u64,
    pub text: String,
    /// A theory's or action's status.
    pub state: String,
    /// An action's owner, due time and whether it is a follow-up.
    pub detail: String,
    /// For the badge's colour: `open`, `confirmed`, `ruled_out`, `done`, `cancelled`.
    pub class: String,
}

pub struct WorkstreamView {
    pub name: String,
    /// Whether it is the rest: what belongs to no workstream.
    pub rest: bool,
    pub leads: String,
    pub latest: Option<ReportView>,
    /// Reports before the latest.
    pub earlier: usize,
    pub theories: Vec<ItemView>,
    pub actions: Vec<ItemView>,
}

impl WorkstreamView {
    fn of(w: &Workstream) -> WorkstreamView {
        let leads: Vec<String> = w.leads.iter().map(|h| format!("@{h}")).collect();
        WorkstreamView {
            name: w.scope.as_ref().map_or_else(|| "No workstream".to_owned(), |s| s.to_string()),
            rest: w.scope.is_none(),
            leads: if leads.is_empty() && w.scope.is_some() {
                "nobody leads it now".to_owned()
            } else {
                leads.join(", ")
            },
            latest: w.latest().map(|r| ReportView {
                seq: r.seq,
                at: r.at.to_string(),
                by: r.actor.to_string(),
                conditions: r.conditions.clone(),
                actions: r.actions.clone(),
                needs: r.needs.clone(),
            }),
            earlier: w.reports.len().saturating_sub(1),
            theories: w
                .theories
                .iter()
                .map(|t| ItemView {
                    seq: t.seq,
                    text: t.text.clone(),
                    state: t.status.as_str().replace('_', " "),
                    detail: String::new(),
                    class: t.status.as_str().to_owned(),
                })
                .collect(),
            actions: w
                .actions
                .iter()
                .map(|a| {
                    let t = &a.tracking;
                    let mut detail = Vec::new();
                    if let Some(o) = &t.owner {
                        detail.push(format!("@{o}"));
                    }
                    if let Some(d) = t.due_at {
                        detail.push(format!("due {}", d.strftime("%Y-%m-%d %H:%M UTC")));
                    }
                    if t.follow_up {
                        detail.push("follow-up".to_owned());
                    }
                    ItemView {
                        seq: a.seq,
                        text: a.text.clone(),
                        state: t.status.as_str().to_owned(),
                        detail: detail.join(" · "),
                        class: t.status.as_str().to_owned(),
                    }
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "workstreams_panel.html")]
pub struct WorkstreamsPart {
    pub workstreams: Vec<WorkstreamView>,
}

/// The panel, the same for every viewer.
pub async fn panel_html(app: &App, number: u64) -> Result<String, ApiError> {
    let all = app.workstreams(IncidentRef(number)).await?;
    WorkstreamsPart { workstreams: all.iter().map(WorkstreamView::of).collect() }
        .render()
        .map_err(|e| ApiError::internal("the workstreams panel failed to render", e))
}

/// `POST /incidents/{ref}/tech-lead-reports`: the report form.
pub async fn report(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let input = ReportInput {
            workstream: form.optional("workstream").map(|w| Scope::workstream(w, "workstream")).transpose()?,
            conditions: form.get("conditions").unwrap_or("").to_owned(),
            actions: form.get("actions").unwrap_or("").to_owned(),
            needs: form.get("needs").unwrap_or("").to_owned(),
        };
        let report = app.report_to_incident_manager(&form.viewer.user.actor(), incident_ref(&r)?, input).await?;
        Ok::<_, ApiError>(format!("Reported to the incident manager (entry {}).", report.seq))
    }
    .await;
    let here = r.parse::<IncidentRef>().map_or_else(|_| "/".to_owned(), |r| format!("/incidents/{r}#workstreams"));
    back(&here, result)
}
