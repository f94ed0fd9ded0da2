//! The customer support lead's pages: the queue (`/support`), a report
//! (`/support/reports/{id}`) with its suggested answer and the forms to
//! link, answer, pass on and close it, and the reports panel of the
//! incident page (re-sent by the live stream with every entry).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use muster_app::App;
use muster_app::support::{ReportCounts, ReportInput, ReportPatch, ReportView};
use muster_domain::support::{ReportChannel, ReportState};
use muster_domain::{IncidentRef, Status, Timestamp};
use muster_store::{IncidentFilter, ReportRecord};

use super::{Nav, Posted, Viewer, back, page_error, render};
use crate::error::ApiError;

/// A report as a row of the queue or of the incident's panel.
pub struct Row {
    pub id: u64,
    pub channel: &'static str,
    pub customer: String,
    pub excerpt: String,
    pub state: &'static str,
    pub awaiting: bool,
    pub due_at: String,
    pub overdue: bool,
    pub to_close: bool,
    pub incident: Option<String>,
    /// (`INC-7`, why).
    pub suggestion: Option<(String, String)>,
}

fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 160 {
        let mut cut: String = one_line.chars().take(159).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

fn from(r: &ReportRecord) -> String {
    match &r.spec.organization {
        Some(o) => format!("{} ({o})", r.spec.customer),
        None => r.spec.customer.clone(),
    }
}

impl Row {
    fn of(r: &ReportRecord, now: Timestamp) -> Row {
        Row {
            id: r.id,
            channel: r.spec.channel.as_str(),
            customer: from(r),
            excerpt: excerpt(&r.spec.body),
            state: r.state.as_str(),
            awaiting: r.state.awaits_response(),
            due_at: r.response_due_at.to_string(),
            overdue: r.state.awaits_response() && r.response_due_at <= now,
            to_close: false,
            incident: r.incident.map(|n| format!("INC-{n}")),
            suggestion: None,
        }
    }

    fn view(v: &ReportView, now: Timestamp) -> Row {
        Row {
            overdue: v.overdue,
            to_close: v.to_close,
            suggestion: v.suggestion.as_ref().map(|s| (format!("INC-{}", s.incident), s.reason())),
            ..Row::of(&v.report, now)
        }
    }
}

#[derive(Template)]
#[template(path = "reports_panel.html")]
pub struct ReportsPart {
    pub counts: ReportCounts,
    pub by_channel: String,
    pub many: bool,
    pub rows: Vec<Row>,
}

/// The incident page's reports panel: what they count, and the latest ten.
pub async fn panel_html(app: &App, number: u64) -> Result<String, ApiError> {
    let (reports, counts) = app.incident_reports(IncidentRef(number)).await?;
    let now = app.clock.now();
    let by_channel = counts.by_channel.iter().map(|(c, n)| format!("{n} by {c}")).collect::<Vec<_>>().join(", ");
    let part = ReportsPart {
        many: counts.many_customers(),
        by_channel,
        rows: reports.iter().take(10).map(|r| Row::of(r, now)).collect(),
        counts,
    };
    part.render().map_err(|e| ApiError::internal("the reports panel failed to render", e))
}

#[derive(Template)]
#[template(path = "support.html")]
struct SupportPage {
    nav: Nav,
    rows: Vec<Row>,
    /// Open incidents to link to: (`INC-7`, title).
    open: Vec<(String, String)>,
    channels: Vec<&'static str>,
}

async fn open_incidents(app: &App) -> Result<Vec<(String, String)>, ApiError> {
    let filter = IncidentFilter {
        statuses: vec![Status::Investigating, Status::Identified, Status::Monitoring],
        limit: 100,
        ..IncidentFilter::default()
    };
    Ok(app.store.incidents(&filter).await?.into_iter().map(|i| (i.reference().to_string(), i.title)).collect())
}

pub async fn queue(State(app): State<Arc<App>>, viewer: Viewer) -> Response {
    let result = async {
        let now = app.clock.now();
        let rows = app.support_queue(None).await?.iter().map(|v| Row::view(v, now)).collect();
        Ok::<_, ApiError>(SupportPage {
            nav: viewer.nav("support"),
            rows,
            open: open_incidents(&app).await?,
            channels: ReportChannel::ALL.iter().map(|c| c.as_str()).collect(),
        })
    }
    .await;
    match result {
        Ok(page) => render(&page),
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    nav: Nav,
    id: u64,
    channel: &'static str,
    customer: String,
    contact: Option<String>,
    organization: Option<String>,
    external: Option<String>,
    external_url: Option<String>,
    body: String,
    state: &'static str,
    received_at: String,
    awaiting: bool,
    due_at: String,
    overdue: bool,
    to_close: bool,
    incident: Option<String>,
    suggestion: Option<(String, String)>,
    reply: String,
    excerpt: String,
    /// (at, by, what).
    responses: Vec<(String, String, String)>,
    open: Vec<(String, String)>,
}

fn report_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("there is no customer report {id:?}")))
}

pub async fn report(State(app): State<Arc<App>>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let result = async {
        let detail = app.report(report_id(&id)?).await?;
        let v = &detail.view;
        let r = &v.report;
        let row = Row::view(v, app.clock.now());
        Ok::<_, ApiError>(ReportPage {
            nav: viewer.nav("support"),
            id: r.id,
            channel: row.channel,
            customer: r.spec.customer.clone(),
            contact: r.spec.contact.clone(),
            organization: r.spec.organization.clone(),
            external: r.spec.external_ref.clone(),
            external_url: r.spec.external_url.clone(),
            body: r.spec.body.clone(),
            state: row.state,
            received_at: r.spec.received_at.to_string(),
            awaiting: row.awaiting,
            due_at: row.due_at,
            overdue: row.overdue,
            to_close: row.to_close,
            incident: row.incident,
            suggestion: row.suggestion,
            reply: v.suggested_reply.clone().unwrap_or_default(),
            excerpt: muster_domain::support::excerpt(None, &r.spec.body).unwrap_or_default(),
            responses: detail
                .responses
                .iter()
                .map(|a| (a.at.to_string(), a.responder.to_string(), a.body.clone()))
                .collect(),
            open: open_incidents(&app).await?,
        })
    }
    .await;
    match result {
        Ok(page) => render(&page),
        Err(e) => page_error(e),
    }
}

fn here(id: &str) -> String {
    format!("/support/reports/{}", id.parse::<u64>().unwrap_or_default())
}

fn target(s: Option<&str>) -> Result<IncidentRef, ApiError> {
    s.unwrap_or("").parse().map_err(|_| ApiError::invalid("incident", "choose an incident"))
}

pub async fn log(State(app): State<Arc<App>>, form: Posted) -> Response {
    let result = async {
        let input = ReportInput {
            channel: form.get("channel").unwrap_or("").parse()?,
            customer: form.get("customer").unwrap_or("").to_owned(),
            contact: form.optional("contact").map(str::to_owned),
            organization: form.optional("organization").map(str::to_owned),
            body: form.get("body").unwrap_or("").to_owned(),
            external_ref: None,
            external_url: None,
            received_at: None,
            service: None,
        };
        let v = app.log_report(&form.viewer.user.actor(), input).await?;
        Ok::<_, ApiError>(format!("Report {} logged: answer it by {}.", v.report.id, v.report.response_due_at))
    }
    .await;
    back("/support", result)
}

pub async fn link(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let r = target(form.get("incident"))?;
        app.link_reports(&form.viewer.user.actor(), &[report_id(&id)?], r).await?;
        Ok::<_, ApiError>(format!("Report {id} linked to {r}."))
    }
    .await;
    // From the queue, back to the queue.
    let to = if form.get("bulk_incident").is_some() { "/support".to_owned() } else { here(&id) };
    back(&to, result)
}

pub async fn link_many(State(app): State<Arc<App>>, form: Posted) -> Response {
    let result = async {
        let r = target(form.get("bulk_incident"))?;
        let ids = form
            .all("reports")
            .iter()
            .map(|s| s.parse::<u64>().map_err(|_| ApiError::invalid("reports", "not a report")))
            .collect::<Result<Vec<_>, _>>()?;
        let moved = app.link_reports(&form.viewer.user.actor(), &ids, r).await?;
        Ok::<_, ApiError>(format!("{} report(s) linked to {r}.", moved.len()))
    }
    .await;
    back("/support", result)
}

pub async fn unlink(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        app.unlink_report(&form.viewer.user.actor(), report_id(&id)?).await?;
        Ok::<_, ApiError>(format!("Report {id} unlinked."))
    }
    .await;
    back(&here(&id), result)
}

pub async fn respond(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        app.respond_to_report(&form.viewer.user.actor(), report_id(&id)?, form.get("body").unwrap_or("")).await?;
        Ok::<_, ApiError>("Answer recorded: the timer stopped.".to_owned())
    }
    .await;
    back(&here(&id), result)
}

pub async fn pass(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let page = form.get("page") == Some("yes");
        let actor = form.viewer.user.actor();
        app.pass_report(&actor, report_id(&id)?, form.optional("excerpt"), form.optional("note"), page).await?;
        Ok::<_, ApiError>(if page {
            "Passed on: it is on the timeline, and the incident manager and tech leads are paged.".to_owned()
        } else {
            "Passed on: it is on the timeline, and the incident manager and tech leads are told.".to_owned()
        })
    }
    .await;
    back(&here(&id), result)
}

pub async fn state(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let state: ReportState = form.get("state").unwrap_or("").parse()?;
        let patch = ReportPatch { state: Some(state), ..ReportPatch::default() };
        app.patch_report(&form.viewer.user.actor(), report_id(&id)?, patch).await?;
        Ok::<_, ApiError>(format!("Report {id} is {state}."))
    }
    .await;
    back(&here(&id), result)
}
