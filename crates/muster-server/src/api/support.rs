//! The customer support lead's API: customer reports, the queue, linking,
//! answers and passing on; the support integrations (admins) and the
//! helpdesks' webhooks (Zendesk, Freshdesk, Intercom and a generic hook),
//! each verified by its vendor's signature before anything is read.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use muster_app::App;
use muster_app::support::{ReportCounts, ReportDetail, ReportInput, ReportPatch, ReportView, SupportEvent};
use muster_domain::Timestamp;
use muster_domain::support::{ReportChannel, ReportSpec, ReportState, ResponseTargets};
use muster_store::{ReportFilter, ReportRecord, SupportIntegration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::incident_ref;
use crate::auth::Caller;
use crate::dto::schema;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, parse_json, read_body, require_json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReportBody {
    pub channel: String,
    pub customer: String,
    pub contact: Option<String>,
    pub organization: Option<String>,
    pub body: String,
    pub external_ref: Option<String>,
    pub external_url: Option<String>,
    pub received_at: Option<String>,
    pub service: Option<String>,
}

/// A customer report to log.
pub struct NewReportRequest;
impl utoipa::PartialSchema for NewReportRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::customer_report_request()
    }
}
impl ToSchema for NewReportRequest {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportPatchBody {
    pub state: Option<String>,
    pub customer: Option<String>,
    #[serde(default, with = "super::updates::double_option")]
    pub contact: Option<Option<String>>,
    #[serde(default, with = "super::updates::double_option")]
    pub organization: Option<Option<String>>,
}

/// A report's changes: each field given replaces; `state` only moves forward.
pub struct ReportPatchRequest;
impl utoipa::PartialSchema for ReportPatchRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::customer_report_patch()
    }
}
impl ToSchema for ReportPatchRequest {}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// `INC-7` or `7`.
    #[schema(schema_with = schema::incident_ref_value)]
    pub incident: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkLinkRequest {
    #[schema(schema_with = schema::report_ids)]
    pub reports: Vec<u64>,
    #[schema(schema_with = schema::incident_ref_value)]
    pub incident: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondRequest {
    /// What the customer was told.
    #[schema(schema_with = schema::report_body)]
    pub body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassRequest {
    /// What to pass on; none: the report's text.
    #[schema(schema_with = schema::excerpt_or_null)]
    pub excerpt: Option<String>,
    /// A word from the support lead.
    #[schema(schema_with = schema::excerpt_or_null)]
    pub note: Option<String>,
    /// Page the incident manager and the tech leads instead of notifying
    /// them (default false).
    #[serde(default)]
    pub page: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ReportSuggestion {
    /// `INC-7`.
    pub incident: String,
    pub same_service: bool,
    pub shared_words: Vec<String>,
    /// "same service; shares checkout".
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResponseRecordResponse {
    pub id: u64,
    pub body: String,
    pub responder: String,
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportResponse {
    pub id: u64,
    #[schema(value_type = String)]
    pub channel: &'static str,
    pub customer: String,
    pub contact: Option<String>,
    pub organization: Option<String>,
    pub body: String,
    pub external_ref: Option<String>,
    pub external_url: Option<String>,
    pub received_at: String,
    pub service: Option<u64>,
    pub integration: Option<u64>,
    /// `INC-7`, when linked.
    pub incident: Option<String>,
    #[schema(value_type = String)]
    pub state: &'static str,
    pub response_due_at: String,
    /// Not answered, and past its due time.
    pub overdue: bool,
    pub acknowledged_at: Option<String>,
    pub responded_at: Option<String>,
    pub closed_at: Option<String>,
    pub passed_at: Option<String>,
    pub logged_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// An unlinked report's likely incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<ReportSuggestion>,
    /// What to answer: from the latest published external update of its
    /// incident, never internal text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_reply: Option<String>,
    /// Its incident is resolved: answer and close it.
    pub to_close: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<Vec<ResponseRecordResponse>>,
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_string())
}

impl ReportResponse {
    fn of(r: &ReportRecord, now: Timestamp) -> ReportResponse {
        ReportResponse {
            id: r.id,
            channel: r.spec.channel.as_str(),
            customer: r.spec.customer.clone(),
            contact: r.spec.contact.clone(),
            organization: r.spec.organization.clone(),
            body: r.spec.body.clone(),
            external_ref: r.spec.external_ref.clone(),
            external_url: r.spec.external_url.clone(),
            received_at: r.spec.received_at.to_string(),
            service: r.service,
            integration: r.integration,
            incident: r.incident.map(|n| format!("INC-{n}")),
            state: r.state.as_str(),
            response_due_at: r.response_due_at.to_string(),
            overdue: r.state.awaits_response() && r.response_due_at <= now,
            acknowledged_at: time(r.acknowledged_at),
            responded_at: time(r.responded_at),
            closed_at: time(r.closed_at),
            passed_at: time(r.passed_at),
            logged_by: r.logged_by.as_ref().map(ToString::to_string),
            created_at: r.created_at.to_string(),
            updated_at: r.updated_at.to_string(),
            suggestion: None,
            suggested_reply: None,
            to_close: false,
            responses: None,
        }
    }

    fn view(v: &ReportView, now: Timestamp) -> ReportResponse {
        ReportResponse {
            overdue: v.overdue,
            suggestion: v.suggestion.as_ref().map(|s| ReportSuggestion {
                incident: format!("INC-{}", s.incident),
                same_service: s.same_service,
                shared_words: s.shared_words.clone(),
                reason: s.reason(),
            }),
            suggested_reply: v.suggested_reply.clone(),
            to_close: v.to_close,
            ..ReportResponse::of(&v.report, now)
        }
    }

    fn detail(d: &ReportDetail, now: Timestamp) -> ReportResponse {
        let responses = d
            .responses
            .iter()
            .map(|r| ResponseRecordResponse {
                id: r.id,
                body: r.body.clone(),
                responder: r.responder.to_string(),
                at: r.at.to_string(),
            })
            .collect();
        ReportResponse { responses: Some(responses), ..ReportResponse::view(&d.view, now) }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CountsResponse {
    pub reports: usize,
    /// Distinct customers (by contact, else name).
    pub customers: usize,
    pub organizations: usize,
    /// Reports by channel.
    #[schema(value_type = Object)]
    pub by_channel: serde_json::Map<String, Value>,
    /// Enough customers for the impact assessment's "many customers".
    pub many_customers: bool,
}

impl From<&ReportCounts> for CountsResponse {
    fn from(c: &ReportCounts) -> Self {
        CountsResponse {
            reports: c.reports,
            customers: c.customers,
            organizations: c.organizations,
            by_channel: c.by_channel.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect(),
            many_customers: c.many_customers(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentReportsResponse {
    pub counts: CountsResponse,
    pub reports: Vec<ReportResponse>,
}

fn report_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("there is no customer report {id:?}")))
}

fn parse_channel(s: &str) -> Result<ReportChannel, ApiError> {
    Ok(s.parse::<ReportChannel>()?)
}

fn parse_time(field: &str, s: &str) -> Result<Timestamp, ApiError> {
    s.trim().parse().map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 time: {e}")))
}

/// Log a customer report (any responder): a ticket, a call, a mail, a post
/// or a chat. Its first response is due within the unlinked target (1 h by
/// default) until it is linked to an incident.
#[utoipa::path(post, path = "/api/v1/customer-reports", tag = "support", request_body = NewReportRequest, security(("bearer" = [])),
    responses((status = 201, body = ReportResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn log_report(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<NewReportBody>,
) -> ApiResult<(StatusCode, Json<ReportResponse>)> {
    let input = ReportInput {
        channel: parse_channel(&b.channel)?,
        customer: b.customer,
        contact: b.contact,
        organization: b.organization,
        body: b.body,
        external_ref: b.external_ref,
        external_url: b.external_url,
        received_at: b.received_at.as_deref().map(|s| parse_time("received_at", s)).transpose()?,
        service: b.service,
    };
    let view = app.log_report(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(ReportResponse::view(&view, app.clock.now()))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportListQuery {
    /// new, acknowledged, responded or closed.
    #[param(schema_with = crate::dto::schema::report_state_param)]
    pub state: Option<String>,
    /// Only the reports linked to this incident (`INC-7`), or `none`: linked to none.
    #[param(schema_with = crate::dto::schema::incident_or_none_param)]
    pub incident: Option<String>,
    /// ticket, phone, email, social or chat.
    #[param(schema_with = crate::dto::schema::report_channel_param)]
    pub channel: Option<String>,
    /// 1 to 1000, default 100.
    #[param(schema_with = crate::dto::schema::limit)]
    pub limit: Option<u32>,
}

fn query_error(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", field, detail)
}

/// Customer reports, newest first.
#[utoipa::path(get, path = "/api/v1/customer-reports", tag = "support", security(("bearer" = [])), params(ReportListQuery),
    responses((status = 200, body = [ReportResponse]), (status = 400, body = Problem)))]
pub async fn list_reports(
    State(app): State<Arc<App>>,
    _c: Caller,
    ApiQuery(q): ApiQuery<ReportListQuery>,
) -> ApiResult<Json<Vec<ReportResponse>>> {
    let mut filter = ReportFilter { limit: super::page_size(q.limit, 100)?, ..ReportFilter::default() };
    if let Some(s) = &q.state {
        filter.states = vec![s.parse::<ReportState>().map_err(|e| query_error("state", e.to_string()))?];
    }
    if let Some(c) = &q.channel {
        filter.channel = Some(c.parse::<ReportChannel>().map_err(|e| query_error("channel", e.to_string()))?);
    }
    match q.incident.as_deref() {
        None => {}
        Some("none") => filter.unlinked = true,
        Some(r) => {
            let r: muster_domain::IncidentRef =
                r.parse().map_err(|_| query_error("incident", "an incident looks like INC-7 or 7, or `none`"))?;
            filter.incident = Some(r.0);
        }
    }
    let now = app.clock.now();
    let reports = app.reports(&filter).await?;
    Ok(Json(reports.iter().map(|r| ReportResponse::of(r, now)).collect()))
}

/// The support lead's queue: every report not closed, new ones first,
/// then overdue, then by due time; with the suggested incident of each
/// unlinked one and the suggested reply of each linked one.
#[utoipa::path(get, path = "/api/v1/support/queue", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = [ReportResponse])))]
pub async fn queue(State(app): State<Arc<App>>, _c: Caller) -> ApiResult<Json<Vec<ReportResponse>>> {
    let now = app.clock.now();
    let views = app.support_queue(None).await?;
    Ok(Json(views.iter().map(|v| ReportResponse::view(v, now)).collect()))
}

/// One report, with its answers, its suggested incident or reply.
#[utoipa::path(get, path = "/api/v1/customer-reports/{id}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ReportResponse), (status = 404, body = Problem)))]
pub async fn get_report(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReportResponse>> {
    let detail = app.report(report_id(&id)?).await?;
    Ok(Json(ReportResponse::detail(&detail, app.clock.now())))
}

/// Change a report: its state (only forward: new, acknowledged, responded,
/// closed) or who it is from.
#[utoipa::path(patch, path = "/api/v1/customer-reports/{id}", tag = "support", request_body = ReportPatchRequest, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ReportResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_report(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReportPatchBody>,
) -> ApiResult<Json<ReportResponse>> {
    let id = report_id(&id)?;
    let patch = ReportPatch {
        state: b.state.as_deref().map(str::parse::<ReportState>).transpose()?,
        customer: b.customer,
        contact: b.contact,
        organization: b.organization,
    };
    let view = app.patch_report(&actor, id, patch).await?;
    Ok(Json(ReportResponse::view(&view, app.clock.now())))
}

fn link_target(s: &str) -> Result<muster_domain::IncidentRef, ApiError> {
    s.trim().parse().map_err(|_| ApiError::invalid("incident", "an incident looks like INC-7 or 7"))
}

/// Link a report to an incident (its customer support lead, its incident
/// managers, admins): it counts in the incident's reports and topic, and
/// is due by the incident's priority (P1 15 min from its receipt).
#[utoipa::path(post, path = "/api/v1/customer-reports/{id}/link", tag = "support", request_body = LinkRequest, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ReportResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn link_report(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<LinkRequest>,
) -> ApiResult<Json<ReportResponse>> {
    let id = report_id(&id)?;
    let r = link_target(&b.incident)?;
    if app.store.report(id).await?.is_none() {
        return Err(ApiError::not_found("id", format!("there is no customer report {id}")));
    }
    app.link_reports(&actor, &[id], r).await?;
    let detail = app.report(id).await?;
    Ok(Json(ReportResponse::detail(&detail, app.clock.now())))
}

/// Link many reports to one incident at once.
#[utoipa::path(post, path = "/api/v1/customer-reports/link", tag = "support", request_body = BulkLinkRequest, security(("bearer" = [])),
    responses((status = 200, body = [ReportResponse]), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn link_reports(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<BulkLinkRequest>,
) -> ApiResult<Json<Vec<ReportResponse>>> {
    let r = link_target(&b.incident)?;
    for id in &b.reports {
        if app.store.report(*id).await?.is_none() {
            return Err(ApiError::invalid("reports", format!("there is no customer report {id}")));
        }
    }
    let moved = app.link_reports(&actor, &b.reports, r).await?;
    let now = app.clock.now();
    Ok(Json(moved.iter().map(|r| ReportResponse::of(r, now)).collect()))
}

/// Unlink a report from its incident.
#[utoipa::path(post, path = "/api/v1/customer-reports/{id}/unlink", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ReportResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn unlink_report(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReportResponse>> {
    let view = app.unlink_report(&actor, report_id(&id)?).await?;
    Ok(Json(ReportResponse::view(&view, app.clock.now())))
}

/// Record the answer given to the customer: the timer stops. A report from
/// a helpdesk whose integration has a reply URL is answered there too (a
/// signed webhook through the outbox).
#[utoipa::path(post, path = "/api/v1/customer-reports/{id}/respond", tag = "support", request_body = RespondRequest, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ReportResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn respond(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RespondRequest>,
) -> ApiResult<Json<ReportResponse>> {
    let view = app.respond_to_report(&actor, report_id(&id)?, &b.body).await?;
    Ok(Json(ReportResponse::view(&view, app.clock.now())))
}

/// Pass what the customer said on to the responders: a `customer_report`
/// entry on the incident's timeline, and a notification to the incident
/// manager and the tech leads through their contact methods (with
/// `"page": true`, a page to each of them instead).
#[utoipa::path(post, path = "/api/v1/customer-reports/{id}/pass", tag = "support", request_body = PassRequest, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ReportResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn pass(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PassRequest>,
) -> ApiResult<Json<ReportResponse>> {
    let view = app.pass_report(&actor, report_id(&id)?, b.excerpt.as_deref(), b.note.as_deref(), b.page).await?;
    Ok(Json(ReportResponse::view(&view, app.clock.now())))
}

/// An incident's customer reports, newest first, and what they count:
/// reports, distinct customers and organizations, by channel.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/customer-reports", tag = "support", security(("bearer" = [])),
    params(("ref" = String, Path)),
    responses((status = 200, body = IncidentReportsResponse), (status = 404, body = Problem)))]
pub async fn incident_reports(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<IncidentReportsResponse>> {
    let (reports, counts) = app.incident_reports(incident_ref(&r)?).await?;
    let now = app.clock.now();
    Ok(Json(IncidentReportsResponse {
        counts: (&counts).into(),
        reports: reports.iter().map(|r| ReportResponse::of(r, now)).collect(),
    }))
}

/// The first-response targets.
#[utoipa::path(get, path = "/api/v1/support/response-targets", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "{\"p1_minutes\":15,\"p2_minutes\":30,\"p3_minutes\":240,\"p4_business_days\":1,\"unlinked_minutes\":60}")))]
pub async fn get_targets(State(app): State<Arc<App>>, _c: Caller) -> ApiResult<Json<ResponseTargets>> {
    Ok(Json(app.response_targets().await?))
}

/// The first-response targets as a body.
pub struct TargetsRequest;
impl utoipa::PartialSchema for TargetsRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::response_targets()
    }
}
impl ToSchema for TargetsRequest {}

/// Replace the first-response targets (admins); reports already due keep
/// their due time.
#[utoipa::path(put, path = "/api/v1/support/response-targets", tag = "support", request_body = TargetsRequest, security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_targets(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(t): ApiJson<ResponseTargets>,
) -> ApiResult<Json<ResponseTargets>> {
    Ok(Json(app.set_response_targets(&actor, t).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    #[schema(schema_with = schema::support_kind)]
    pub kind: String,
    #[schema(schema_with = schema::name_100)]
    pub name: String,
    /// The signing secret set in the vendor's webhook (16-200 characters);
    /// none: one is made and shown once.
    #[schema(schema_with = schema::support_secret_or_null)]
    pub secret: Option<String>,
    /// Where answers to its reports are posted, signed with the secret.
    #[schema(schema_with = schema::webhook_url_or_null)]
    pub reply_url: Option<String>,
    /// The service (name) its reports are about.
    #[schema(schema_with = schema::name_100_or_null)]
    pub service: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationResponse {
    pub id: u64,
    pub kind: String,
    pub name: String,
    /// The path to give the vendor: `/api/v1/integrations/{kind}/{key}`.
    pub url: String,
    pub secret: String,
    pub reply_url: Option<String>,
    pub service: Option<u64>,
    pub created_at: String,
}

/// The URL path a vendor posts to. The generic support hook is under
/// `support`: `generic` is the alerts' generic hook.
pub fn hook_path(i: &SupportIntegration) -> String {
    let kind = if i.kind == "generic" { "support" } else { i.kind.as_str() };
    format!("/api/v1/integrations/{kind}/{}", i.key)
}

impl From<&SupportIntegration> for IntegrationResponse {
    fn from(i: &SupportIntegration) -> Self {
        IntegrationResponse {
            id: i.id,
            kind: i.kind.clone(),
            name: i.name.clone(),
            url: hook_path(i),
            secret: i.secret.clone(),
            reply_url: i.reply_url.clone(),
            service: i.service,
            created_at: i.created_at.to_string(),
        }
    }
}

/// Add a helpdesk's integration (admins): Zendesk, Freshdesk, Intercom or
/// a generic hook. `url` is the path to give the vendor; the secret signs
/// its requests (Freshdesk: sent as `X-Muster-Secret`).
#[utoipa::path(post, path = "/api/v1/support-integrations", tag = "support", request_body = IntegrationRequest, security(("bearer" = [])),
    responses((status = 201, body = IntegrationResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_integration(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<IntegrationRequest>,
) -> ApiResult<(StatusCode, Json<IntegrationResponse>)> {
    let made = app
        .create_support_integration(
            &actor,
            &b.kind,
            &b.name,
            b.secret.as_deref(),
            b.reply_url.as_deref(),
            b.service.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json((&made).into())))
}

/// Every support integration (admins: they carry their secrets).
#[utoipa::path(get, path = "/api/v1/support-integrations", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = [IntegrationResponse]), (status = 403, body = Problem)))]
pub async fn list_integrations(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> ApiResult<Json<Vec<IntegrationResponse>>> {
    Ok(Json(app.support_integrations(&actor).await?.iter().map(Into::into).collect()))
}

// The helpdesks' webhooks.

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn integration(app: &App, kind: &str, key: &str) -> ApiResult<SupportIntegration> {
    app.support_integration_for(kind, key)
        .await?
        .ok_or_else(|| ApiError::not_found("integration_key", format!("no {kind} integration has this key")))
}

/// What a vendor's body became.
enum Parsed {
    Event(SupportEvent),
    /// An event that is not about a customer's ticket or conversation.
    Ignored(String),
}

async fn received(app: &App, i: &SupportIntegration, parsed: Parsed) -> Response {
    let event = match parsed {
        Parsed::Event(e) => e,
        Parsed::Ignored(why) => {
            return (StatusCode::OK, Json(json!({"status": "ignored", "reason": why}))).into_response();
        }
    };
    match app.receive_support_event(i, event).await {
        Ok(Some((r, created))) => {
            let status = if created { "created" } else { "updated" };
            (StatusCode::ACCEPTED, Json(json!({"status": status, "report": r.id}))).into_response()
        }
        Ok(None) => (StatusCode::OK, Json(json!({"status": "repeated"}))).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn unverified(e: muster_app::support::Unverified) -> Response {
    ApiError::unauthorized(e.0).into_response()
}

#[allow(clippy::too_many_arguments)]
fn spec(
    channel: ReportChannel,
    customer: &str,
    contact: Option<&str>,
    organization: Option<&str>,
    body: &str,
    external_ref: Option<&str>,
    external_url: Option<&str>,
    received_at: Option<Timestamp>,
    now: Timestamp,
) -> ApiResult<ReportSpec> {
    let received_at = received_at.map(|t| t.min(now));
    Ok(ReportSpec::new(channel, customer, contact, organization, body, external_ref, external_url, received_at, now)?)
}

/// Text from HTML the helpdesks send (Intercom's and Freshdesk's bodies):
/// tags dropped, a few entities read.
fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The body of a vendor's request: JSON, read whole.
async fn json_body(headers: &HeaderMap, body: Body) -> ApiResult<axum::body::Bytes> {
    require_json(headers)?;
    read_body(body).await
}

/// A vendor's webhook, in the one order: the integration by its key (a
/// stranger's body is not read), the body, its signature, then what it
/// says.
async fn hook(
    app: &App,
    kind: &str,
    key: &str,
    headers: &HeaderMap,
    body: Body,
    verify: impl Fn(&SupportIntegration, &HeaderMap, &[u8], Timestamp) -> Result<(), muster_app::support::Unverified>,
    parse: impl Fn(&[u8], Timestamp) -> ApiResult<Parsed>,
) -> Response {
    let i = match integration(app, kind, key).await {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let bytes = match json_body(headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = app.clock.now();
    if let Err(e) = verify(&i, headers, &bytes, now) {
        return unverified(e);
    }
    match parse(&bytes, now) {
        Ok(parsed) => received(app, &i, parsed).await,
        Err(e) => e.into_response(),
    }
}

/// Zendesk's ticket event webhooks (`zen:event-type:ticket.*`), verified
/// by `x-zendesk-webhook-signature`; deduplicated by the event `id`; a
/// later event of the same ticket updates its report.
#[utoipa::path(post, path = "/api/v1/integrations/zendesk/{integration_key}", tag = "support",
    params(("integration_key" = String, Path)), request_body(content = Object, description = "A Zendesk event: type, account_id, id, time, zendesk_event_version, subject, detail, event"),
    responses((status = 202, description = "{\"status\":\"created\"|\"updated\",\"report\":…}"), (status = 200, description = "{\"status\":\"repeated\"|\"ignored\"}"),
        (status = 401, body = Problem, description = "the signature is missing, wrong or too old"), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn zendesk(State(app): State<Arc<App>>, Path(key): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let verify = |i: &SupportIntegration, h: &HeaderMap, bytes: &[u8], now| {
        let timestamp = header(h, "x-zendesk-webhook-signature-timestamp");
        muster_app::support::verify_zendesk(&i.secret, timestamp, header(h, "x-zendesk-webhook-signature"), bytes, now)
    };
    let parse = |bytes: &[u8], now| parse_json::<Value>(bytes).and_then(|v| zendesk_event(&v, now));
    hook(&app, "zendesk", &key, &headers, body, verify, parse).await
}

fn zendesk_channel(via: Option<&str>) -> ReportChannel {
    match via.unwrap_or_default() {
        "voice" | "phone" => ReportChannel::Phone,
        "email" | "mail" => ReportChannel::Email,
        "twitter" | "facebook" | "instagram_dm" | "x" => ReportChannel::Social,
        "chat" | "messaging" | "native_messaging" | "whatsapp" | "sms" => ReportChannel::Chat,
        _ => ReportChannel::Ticket,
    }
}

/// A Zendesk event as a report: the ticket's subject and description, its
/// requester (Zendesk sends only their id) and organization; a comment
/// event adds the comment.
fn zendesk_event(v: &Value, now: Timestamp) -> ApiResult<Parsed> {
    let kind = v["type"].as_str().ok_or_else(|| ApiError::invalid("type", "a Zendesk event has a type"))?;
    if !kind.starts_with("zen:event-type:ticket.") {
        return Ok(Parsed::Ignored(format!("{kind} is not a ticket event")));
    }
    let event_id = as_text(&v["id"]).ok_or_else(|| ApiError::invalid("id", "a Zendesk event has an id"))?;
    let d = &v["detail"];
    let ticket = as_text(&d["id"])
        .or_else(|| v["subject"].as_str().and_then(|s| s.strip_prefix("zen:ticket:")).map(str::to_owned))
        .ok_or_else(|| ApiError::invalid("detail.id", "a ticket event names its ticket"))?;
    let subject = as_text(&d["subject"]);
    let description = as_text(&d["description"]);
    let body = match (&subject, &description) {
        (Some(s), Some(t)) if s != t => format!("{s}\n\n{t}"),
        (Some(s), _) => s.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => format!("Zendesk ticket {ticket}"),
    };
    let requester = as_text(&d["requester_id"])
        .map_or_else(|| "a Zendesk requester".to_owned(), |id| format!("Zendesk requester {id}"));
    let organization = as_text(&d["organization_id"]).filter(|o| o != "0").map(|o| format!("Zendesk organization {o}"));
    let created = d["created_at"].as_str().or(v["time"].as_str()).and_then(|t| t.parse().ok());
    let addition = ["comment", "current"]
        .iter()
        .find_map(|k| v["event"][k]["body"].as_str().or(v["event"][k]["value"].as_str()))
        .filter(|_| kind.contains("comment"))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let spec = spec(
        zendesk_channel(d["via"]["channel"].as_str()),
        &requester,
        None,
        organization.as_deref(),
        &body,
        Some(&ticket),
        None,
        created,
        now,
    )?;
    Ok(Parsed::Event(SupportEvent { event_id, spec, addition }))
}

/// Freshdesk's automation-rule webhooks, with the JSON template Muster
/// documents (`{"freshdesk_webhook": {"ticket_id", …}}`). Freshdesk does not
/// sign: the key authenticates, and `X-Muster-Secret`, when sent, must be
/// the integration's secret. A repeated delivery (the same body) counts once.
#[utoipa::path(post, path = "/api/v1/integrations/freshdesk/{integration_key}", tag = "support",
    params(("integration_key" = String, Path)), request_body(content = Object, description = "{\"freshdesk_webhook\":{\"ticket_id\",\"ticket_subject\",\"ticket_description\",\"ticket_url\",\"requester_name\",\"requester_email\",…}}"),
    responses((status = 202, description = "{\"status\":\"created\"|\"updated\",\"report\":…}"), (status = 200, description = "{\"status\":\"repeated\"|\"ignored\"}"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn freshdesk(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let verify = |i: &SupportIntegration, h: &HeaderMap, _: &[u8], _| {
        muster_app::support::verify_shared_secret(&i.secret, header(h, "x-muster-secret"))
    };
    let parse = |bytes: &[u8], now| parse_json::<Value>(bytes).and_then(|v| freshdesk_event(&v, bytes, now));
    hook(&app, "freshdesk", &key, &headers, body, verify, parse).await
}

fn freshdesk_event(v: &Value, raw: &[u8], now: Timestamp) -> ApiResult<Parsed> {
    let t = &v["freshdesk_webhook"];
    if !t.is_object() {
        return Err(ApiError::invalid(
            "freshdesk_webhook",
            "the body is {\"freshdesk_webhook\": {…}}, as Muster's template",
        ));
    }
    let ticket = as_text(&t["ticket_id"])
        .ok_or_else(|| ApiError::invalid("freshdesk_webhook.ticket_id", "the template sends {{ticket.id}}"))?;
    let subject = as_text(&t["ticket_subject"]);
    let description = as_text(&t["ticket_description"]).map(|d| plain(&d));
    let body = match (&subject, &description) {
        (Some(s), Some(d)) => format!("{s}\n\n{d}"),
        (Some(s), None) => s.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => format!("Freshdesk ticket {ticket}"),
    };
    let email = as_text(&t["requester_email"]);
    let customer =
        as_text(&t["requester_name"]).or_else(|| email.clone()).unwrap_or_else(|| "a Freshdesk requester".into());
    let organization = as_text(&t["ticket_company_name"]).or_else(|| as_text(&t["company_name"]));
    let url = as_text(&t["ticket_url"]).filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let channel = match as_text(&t["ticket_source"]).unwrap_or_default().to_lowercase().as_str() {
        "phone" => ReportChannel::Phone,
        "email" => ReportChannel::Email,
        "chat" => ReportChannel::Chat,
        "twitter" | "facebook" => ReportChannel::Social,
        _ => ReportChannel::Ticket,
    };
    let addition = as_text(&t["ticket_latest_public_comment"]).map(|c| plain(&c));
    let spec = spec(
        channel,
        &customer,
        email.as_deref(),
        organization.as_deref(),
        &body,
        Some(&ticket),
        url.as_deref(),
        None,
        now,
    )?;
    Ok(Parsed::Event(SupportEvent { event_id: format!("sha256:{}", sha256_hex(raw)), spec, addition }))
}

/// Intercom's webhook notifications (`notification_event`, topics
/// `conversation.user.created` and `conversation.user.replied`), verified
/// by `X-Hub-Signature` (HMAC-SHA1 of the body with the app's client
/// secret), deduplicated by the notification's `id`.
#[utoipa::path(post, path = "/api/v1/integrations/intercom/{integration_key}", tag = "support",
    params(("integration_key" = String, Path)), request_body(content = Object, description = "An Intercom notification_event"),
    responses((status = 202, description = "{\"status\":\"created\"|\"updated\",\"report\":…}"), (status = 200, description = "{\"status\":\"repeated\"|\"ignored\"}"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn intercom(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let verify = |i: &SupportIntegration, h: &HeaderMap, bytes: &[u8], _| {
        muster_app::support::verify_intercom(&i.secret, header(h, "x-hub-signature"), bytes)
    };
    let parse = |bytes: &[u8], now| parse_json::<Value>(bytes).and_then(|v| intercom_event(&v, now));
    hook(&app, "intercom", &key, &headers, body, verify, parse).await
}

fn intercom_event(v: &Value, now: Timestamp) -> ApiResult<Parsed> {
    if v["type"].as_str() != Some("notification_event") {
        return Err(ApiError::invalid("type", "an Intercom notification has type notification_event"));
    }
    let topic = v["topic"].as_str().unwrap_or_default();
    if topic != "conversation.user.created" && topic != "conversation.user.replied" {
        return Ok(Parsed::Ignored(format!("topic {topic:?} is not a customer's conversation")));
    }
    let event_id = as_text(&v["id"]).ok_or_else(|| ApiError::invalid("id", "an Intercom notification has an id"))?;
    let item = &v["data"]["item"];
    let conversation =
        as_text(&item["id"]).ok_or_else(|| ApiError::invalid("data.item.id", "the conversation's id"))?;
    let source = &item["source"];
    let author = &source["author"];
    let email = as_text(&author["email"]);
    let customer = as_text(&author["name"]).or_else(|| email.clone()).unwrap_or_else(|| "an Intercom user".into());
    let subject = as_text(&source["subject"]).map(|s| plain(&s));
    let first = as_text(&source["body"]).map(|b| plain(&b)).unwrap_or_default();
    let body = match subject {
        Some(s) if !s.is_empty() => format!("{s}\n\n{first}"),
        _ if first.is_empty() => format!("Intercom conversation {conversation}"),
        _ => first,
    };
    let organization = as_text(&item["contacts"]["contacts"][0]["company"]["name"]);
    let created = item["created_at"].as_i64().and_then(|s| Timestamp::from_second(s).ok());
    let addition = if topic == "conversation.user.replied" {
        item["conversation_parts"]["conversation_parts"]
            .as_array()
            .and_then(|parts| parts.last())
            .and_then(|p| as_text(&p["body"]))
            .map(|b| plain(&b))
    } else {
        None
    };
    let url = as_text(&source["url"]).filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let spec = spec(
        ReportChannel::Chat,
        &customer,
        email.as_deref(),
        organization.as_deref(),
        &body,
        Some(&conversation),
        url.as_deref(),
        created,
        now,
    )?;
    Ok(Parsed::Event(SupportEvent { event_id, spec, addition }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericReport {
    pub id: Option<String>,
    pub channel: String,
    pub customer: String,
    pub contact: Option<String>,
    pub organization: Option<String>,
    pub body: String,
    pub external_ref: Option<String>,
    pub external_url: Option<String>,
    pub received_at: Option<String>,
}

/// A generic support hook for anything else (phone systems, social
/// listening): the report's fields as `POST /api/v1/customer-reports`
/// takes them and an optional event `id`, signed as Muster signs its own
/// webhooks (`X-Muster-Timestamp`, `X-Muster-Signature: sha256=…` of
/// `timestamp.body`). A repeated `id` (or, without one, body) counts once.
#[utoipa::path(post, path = "/api/v1/integrations/support/{integration_key}", tag = "support",
    params(("integration_key" = String, Path)), request_body(content = Object, description = "{\"id\"?,\"channel\",\"customer\",\"contact\"?,\"organization\"?,\"body\",\"external_ref\"?,\"external_url\"?,\"received_at\"?}"),
    responses((status = 202, description = "{\"status\":\"created\"|\"updated\",\"report\":…}"), (status = 200, description = "{\"status\":\"repeated\"}"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn generic(State(app): State<Arc<App>>, Path(key): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let verify = |i: &SupportIntegration, h: &HeaderMap, bytes: &[u8], now| {
        let (timestamp, signature) = (header(h, "x-muster-timestamp"), header(h, "x-muster-signature"));
        muster_app::support::verify_muster(&i.secret, timestamp, signature, bytes, now)
    };
    hook(&app, "generic", &key, &headers, body, verify, generic_event).await
}

fn generic_event(bytes: &[u8], now: Timestamp) -> ApiResult<Parsed> {
    let g = parse_json::<GenericReport>(bytes)?;
    let received_at = g.received_at.as_deref().map(|s| parse_time("received_at", s)).transpose()?;
    let spec = spec(
        parse_channel(&g.channel)?,
        &g.customer,
        g.contact.as_deref(),
        g.organization.as_deref(),
        &g.body,
        g.external_ref.as_deref(),
        g.external_url.as_deref(),
        received_at,
        now,
    )?;
    let event_id = g.id.filter(|i| !i.trim().is_empty()).unwrap_or_else(|| format!("sha256:{}", sha256_hex(bytes)));
    Ok(Parsed::Event(SupportEvent { event_id, spec, addition: None }))
}
