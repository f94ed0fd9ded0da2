//! The incident by workstream, and the tech leads' reports to the incident
//! manager: `GET /api/v1/incidents/{ref}/workstreams`,
//! `POST /api/v1/incidents/{ref}/tech-lead-reports`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muster_app::App;
use muster_app::workstreams::ReportInput;
use muster_domain::Scope;
use muster_domain::workstream::{Report, Workstream};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::actions::{ActionResponse, action_response};
use super::incident_ref;
use super::postmortem::TheoryResponse;
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;

/// A tech lead's report to the incident manager.
#[derive(Serialize, ToSchema)]
pub struct TechLeadReportResponse {
    /// Its timeline entry.
    pub id: u64,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub actor: String,
    /// The workstream reported on; null: what belongs to none.
    pub workstream: Option<String>,
    /// What the tech lead sees.
    pub conditions: String,
    /// What is being done (may be empty).
    pub actions: String,
    /// What they need from the incident manager (may be empty).
    pub needs: String,
}

impl From<&Report> for TechLeadReportResponse {
    fn from(r: &Report) -> Self {
        TechLeadReportResponse {
            id: r.seq,
            at: r.at.to_string(),
            actor: r.actor.to_string(),
            workstream: r.workstream.as_ref().map(|w| w.to_string()),
            conditions: r.conditions.clone(),
            actions: r.actions.clone(),
            needs: r.needs.clone(),
        }
    }
}

/// One workstream: a tech lead's scope, with what belongs to it.
#[derive(Serialize, ToSchema)]
pub struct WorkstreamResponse {
    /// Its name; null for what belongs to no workstream.
    pub workstream: Option<String>,
    /// Who leads it now (empty once its leads were relieved).
    pub leads: Vec<String>,
    pub theories: Vec<TheoryResponse>,
    pub actions: Vec<ActionResponse>,
    /// The latest report to the incident manager, if any.
    pub latest_report: Option<TechLeadReportResponse>,
    /// Every report, oldest first.
    pub reports: Vec<TechLeadReportResponse>,
}

fn workstream_response(number: u64, w: &Workstream, now: muster_domain::Timestamp) -> WorkstreamResponse {
    WorkstreamResponse {
        workstream: w.scope.as_ref().map(|s| s.to_string()),
        leads: w.leads.iter().map(|h| h.to_string()).collect(),
        theories: w.theories.iter().map(Into::into).collect(),
        actions: w.actions.iter().map(|a| action_response(number, a, now)).collect(),
        latest_report: w.latest().map(Into::into),
        reports: w.reports.iter().map(Into::into).collect(),
    }
}

/// The incident by workstream, in the order they were opened (a tech lead
/// assigned with a scope opens one), with what belongs to none last: each
/// with its leads, theories, actions and reports to the incident manager.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/workstreams", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, body = [WorkstreamResponse]), (status = 404, body = Problem)))]
pub async fn workstreams(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Vec<WorkstreamResponse>>> {
    let r = incident_ref(&r)?;
    let now = app.clock.now();
    Ok(Json(app.workstreams(r).await?.iter().map(|w| workstream_response(r.0, w, now)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TechLeadReportRequest {
    /// The workstream reported on; the reporter's own when they lead one
    /// and name none.
    #[schema(schema_with = crate::dto::schema::workstream_or_null)]
    pub workstream: Option<String>,
    /// What the tech lead sees.
    #[schema(schema_with = crate::dto::schema::entry_text)]
    pub conditions: String,
    /// What is being done.
    #[schema(schema_with = crate::dto::schema::evidence_or_null)]
    pub actions: Option<String>,
    /// What they need from the incident manager: people, decisions, access.
    #[schema(schema_with = crate::dto::schema::evidence_or_null)]
    pub needs: Option<String>,
}

/// A tech lead reports to the incident manager on their workstream:
/// conditions, actions, needs. It goes on the timeline and shows on the
/// incident page under the workstream, the latest first.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/tech-lead-reports", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    request_body = TechLeadReportRequest, security(("bearer" = [])),
    responses((status = 201, body = TechLeadReportResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn report(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(b): ApiJson<TechLeadReportRequest>,
) -> ApiResult<(StatusCode, Json<TechLeadReportResponse>)> {
    let r = incident_ref(&r)?;
    let input = ReportInput {
        workstream: b.workstream.as_deref().map(|w| Scope::workstream(w, "workstream")).transpose()?,
        conditions: b.conditions,
        actions: b.actions.unwrap_or_default(),
        needs: b.needs.unwrap_or_default(),
    };
    let report = app.report_to_incident_manager(&actor, r, input).await?;
    Ok((StatusCode::CREATED, Json((&report).into())))
}
