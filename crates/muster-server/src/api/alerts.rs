//! Services and the first responder's triage queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use muster_domain::alert::{AlertStatus, AutoDeclare, CustomerImpact, Impact, ImpactMatrix, Severity};
use muster_domain::{Actor, Priority, Timestamp};
use muster_store::{Alert, AlertFilter, Service, ServicePatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{incident_ref, next_link};
use crate::auth::Caller;
use crate::dto::IncidentResponse;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use muster_app::{App, ServiceInput, parse_handle};

fn ts(t: Timestamp) -> String {
    t.to_string()
}

#[derive(Serialize, ToSchema)]
pub struct ServiceResponse {
    pub id: u64,
    pub name: String,
    pub description: String,
    #[schema(schema_with = crate::dto::schema::handle_in_path_or_null)]
    pub owner: Option<String>,
    /// 32 lowercase hex characters; also a PagerDuty routing key. Shown to
    /// the service's owner and admins only (absent for others).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub integration_key: Option<String>,
    /// Severity → priority: alerts of these severities declare an incident at once.
    pub auto_declare: BTreeMap<String, String>,
    /// The id of the escalation policy that pages for this service.
    pub escalation_policy: Option<u64>,
    /// While a person has an unanswered page of this service, further
    /// pages for them within this many seconds are notified together in
    /// one follow-up when it ends (0: each on its own). Default 60.
    pub bundle_window_seconds: u32,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
    /// Where to point Alertmanager's `webhook_configs` (with the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alertmanager_url: Option<String>,
    /// Where to point anything that can POST JSON (with the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generic_url: Option<String>,
    /// When the service was made: what it will not do as set (with
    /// `auto_declare` but no owner, its incidents have @muster as incident
    /// manager; with no escalation policy, they page nobody). Left out
    /// when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ServiceResponse {
    /// The service as `actor` may see it: the key only for its owner and admins.
    fn seen_by(actor: &Actor, s: Service) -> Self {
        let key = App::shows_key(actor, &s).then(|| s.integration_key.as_str().to_owned());
        let bundle_window_seconds = s.bundle_window();
        ServiceResponse {
            id: s.id,
            name: s.name,
            description: s.description,
            owner: s.owner.map(|h| h.to_string()),
            auto_declare: s.auto_declare.0.iter().map(|(k, v)| (k.as_str().into(), v.as_str().into())).collect(),
            escalation_policy: s.escalation_policy,
            bundle_window_seconds,
            created_at: ts(s.created_at),
            alertmanager_url: key.as_ref().map(|k| format!("/api/v1/integrations/alertmanager/{k}")),
            generic_url: key.as_ref().map(|k| format!("/api/v1/integrations/generic/{k}")),
            integration_key: key,
            warnings: Vec::new(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    #[schema(schema_with = crate::dto::schema::name_100_or_null)]
    pub name: Option<String>,
    pub description: Option<String>,
    /// A handle; the first responder of auto-declared incidents.
    #[schema(schema_with = crate::dto::schema::handle_or_null)]
    pub owner: Option<String>,
    #[schema(schema_with = crate::dto::schema::auto_declare_or_null)]
    pub auto_declare: Option<BTreeMap<String, String>>,
    /// The id of an escalation policy.
    #[schema(schema_with = crate::dto::schema::u64_value_or_null)]
    pub escalation_policy: Option<u64>,
    /// Seconds, 0–3600: further pages for a person within this long of an
    /// unanswered one are notified together in one follow-up (0: never).
    pub bundle_window_seconds: Option<i64>,
    /// With PATCH: `true` replaces the integration key.
    #[serde(default)]
    pub rotate_key: bool,
}

/// [`ServiceRequest`] as creating a service reads it: with a name.
pub struct NewServiceRequest;

impl utoipa::PartialSchema for NewServiceRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut v = serde_json::to_value(<ServiceRequest as utoipa::PartialSchema>::schema()).unwrap_or_default();
        v["required"] = serde_json::json!(["name"]);
        v["properties"]["name"]["type"] = serde_json::json!("string");
        serde_json::from_value(v).expect("still a schema")
    }
}

impl ToSchema for NewServiceRequest {}

fn parse_auto_declare(m: BTreeMap<String, String>) -> ApiResult<AutoDeclare> {
    let mut out = BTreeMap::new();
    for (sev, p) in m {
        let s: Severity =
            sev.parse().map_err(|_| ApiError::invalid("auto_declare", format!("{sev:?} is not a severity")))?;
        let p: Priority =
            p.parse().map_err(|_| ApiError::invalid("auto_declare", format!("{p:?} is not a priority")))?;
        out.insert(s, p);
    }
    Ok(AutoDeclare(out))
}

fn parse_window(seconds: i64) -> ApiResult<u32> {
    muster_domain::bundle::check_window(seconds).map_err(|e| ApiError::invalid("bundle_window_seconds", e))
}

fn parse_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "a service name has 1-100 characters"));
    }
    Ok(n.to_owned())
}

/// Add a service; it gets an integration key for its monitoring. With
/// `auto_declare` but no owner or no escalation policy, it is made, and
/// `warnings` say what its incidents will lack.
#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = NewServiceRequest, security(("bearer" = [])),
    responses((status = 201, body = ServiceResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_service(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ServiceRequest>,
) -> ApiResult<(StatusCode, Json<ServiceResponse>)> {
    let input = ServiceInput {
        name: parse_name(body.name.as_deref().ok_or_else(|| ApiError::invalid("name", "a service needs a name"))?)?,
        description: body.description.unwrap_or_default(),
        owner: body.owner.as_deref().map(|h| parse_handle(h, "owner")).transpose()?,
        auto_declare: parse_auto_declare(body.auto_declare.unwrap_or_default())?,
        escalation_policy: body.escalation_policy,
        bundle_window_seconds: body.bundle_window_seconds.map(parse_window).transpose()?,
    };
    let (service, warnings) = app.create_service(&actor, input).await?;
    // Its creator sees the key once, whoever owns it.
    let admin = Actor { permission: muster_domain::Permission::Admin, ..actor };
    Ok((StatusCode::CREATED, Json(ServiceResponse { warnings, ..ServiceResponse::seen_by(&admin, service) })))
}

/// All services.
#[utoipa::path(get, path = "/api/v1/services", tag = "services", security(("bearer" = [])), responses((status = 200, body = [ServiceResponse])))]
pub async fn list_services(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> ApiResult<Json<Vec<ServiceResponse>>> {
    Ok(Json(app.store.services().await?.into_iter().map(|s| ServiceResponse::seen_by(&actor, s)).collect()))
}

fn id_of(s: &str, what: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| ApiError::not_found("id", format!("there is no {what} {s:?}")))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = ServiceResponse), (status = 404, body = Problem)))]
pub async fn get_service(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ServiceResponse>> {
    Ok(Json(ServiceResponse::seen_by(&actor, app.service(id_of(&id, "service")?).await?)))
}

/// Change a service, or rotate its integration key (`"rotate_key": true`).
#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = u64, Path)),
    request_body = ServiceRequest, responses((status = 200, body = ServiceResponse), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_service(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ServiceRequest>,
) -> ApiResult<Json<ServiceResponse>> {
    let id = id_of(&id, "service")?;
    let patch = ServicePatch {
        name: body.name.as_deref().map(parse_name).transpose()?,
        description: body.description,
        owner: body.owner.as_deref().map(|h| parse_handle(h, "owner").map(Some)).transpose()?,
        auto_declare: body.auto_declare.map(parse_auto_declare).transpose()?,
        integration_key: None,
        escalation_policy: body.escalation_policy.map(Some),
        bundle_window_seconds: body.bundle_window_seconds.map(parse_window).transpose()?.map(Some),
    };
    let service = app.update_service(&actor, id, patch, body.rotate_key).await?;
    Ok(Json(ServiceResponse::seen_by(&actor, service)))
}

#[derive(Serialize, ToSchema)]
pub struct AlertResponse {
    pub id: u64,
    pub service: String,
    pub service_id: u64,
    pub dedup_key: String,
    pub summary: String,
    #[schema(schema_with = crate::dto::schema::severity)]
    pub severity: String,
    pub source: String,
    #[schema(schema_with = crate::dto::schema::alert_status)]
    pub status: String,
    pub count: u64,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub first_seen_at: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub last_seen_at: String,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub acknowledged_at: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub resolved_at: Option<String>,
    /// `INC-<n>` when the alert belongs to an incident.
    pub incident: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    #[schema(value_type = Vec<Object>)]
    pub links: Value,
    /// The first responder's assessment and the priority it suggests.
    #[schema(value_type = Option<Object>)]
    pub assessment: Option<Value>,
}

impl From<Alert> for AlertResponse {
    fn from(a: Alert) -> Self {
        AlertResponse {
            id: a.id,
            service: a.service_name,
            service_id: a.service,
            dedup_key: a.dedup_key,
            summary: a.summary,
            severity: a.severity.as_str().into(),
            source: a.source,
            status: a.status.as_str().into(),
            count: a.count,
            first_seen_at: ts(a.first_seen_at),
            last_seen_at: ts(a.last_seen_at),
            acknowledged_at: a.acknowledged_at.map(ts),
            resolved_at: a.resolved_at.map(ts),
            incident: a.incident.map(|n| format!("INC-{n}")),
            details: a.details,
            links: a.links,
            assessment: a.assessment,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertListQuery {
    /// Comma-separated: triggered, acknowledged, resolved.
    #[param(schema_with = crate::dto::schema::alert_statuses_param)]
    pub status: Option<String>,
    /// A service id.
    #[param(schema_with = crate::dto::schema::u64_param)]
    pub service: Option<u64>,
    /// Only alerts with a smaller id (the next page).
    #[param(schema_with = crate::dto::schema::u64_param)]
    pub before: Option<u64>,
    /// 1 to 1000, default 100.
    #[param(schema_with = crate::dto::schema::limit)]
    pub limit: Option<u32>,
}

/// The triage queue: alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertListQuery), security(("bearer" = [])),
    responses((status = 200, body = [AlertResponse]), (status = 400, body = Problem)))]
pub async fn list_alerts(
    State(app): State<Arc<App>>,
    _c: Caller,
    ApiQuery(q): ApiQuery<AlertListQuery>,
) -> ApiResult<Response> {
    let limit = super::page_size(q.limit, 100)?;
    let statuses = match q.status.as_deref() {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse::<AlertStatus>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", "status", e.to_string()))?,
    };
    let found = app.store.alerts(&AlertFilter { statuses, service: q.service, before: q.before, limit }).await?;
    let last = found.last().map(|a| a.id);
    let full = found.len() == limit as usize;
    let body: Vec<AlertResponse> = found.into_iter().map(Into::into).collect();
    let mut response = Json(body).into_response();
    if full && let Some(last) = last {
        let mut url = format!("/api/v1/alerts?limit={limit}&before={last}");
        if let Some(s) = &q.status {
            url.push_str(&format!("&status={s}"));
        }
        if let Some(s) = q.service {
            url.push_str(&format!("&service={s}"));
        }
        response.headers_mut().extend(next_link(url));
    }
    Ok(response)
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = AlertResponse), (status = 404, body = Problem)))]
pub async fn get_alert(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AlertResponse>> {
    Ok(Json(app.alert(id_of(&id, "alert")?).await?.into()))
}

/// Acknowledge an alert: someone is on it.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = AlertResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn acknowledge_alert(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AlertResponse>> {
    Ok(Json(app.set_alert_status(&actor, id_of(&id, "alert")?, AlertStatus::Acknowledged).await?.into()))
}

/// Resolve an alert by hand.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = AlertResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn resolve_alert(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AlertResponse>> {
    Ok(Json(app.set_alert_status(&actor, id_of(&id, "alert")?, AlertStatus::Resolved).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessRequest {
    /// none, some, many or all.
    #[schema(schema_with = crate::dto::schema::customer_impact)]
    pub customer_impact: String,
    /// How many services are affected; default 1.
    #[schema(schema_with = crate::dto::schema::u32_value)]
    pub services_affected: Option<u32>,
    #[serde(default)]
    pub data_loss: bool,
    #[serde(default)]
    pub security: bool,
}

/// Assess an alert's impact; the answer carries the suggested priority.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/assess", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path)),
    request_body = AssessRequest, responses((status = 200, body = AlertResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn assess_alert(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssessRequest>,
) -> ApiResult<Json<AlertResponse>> {
    let impact = Impact {
        customer_impact: body.customer_impact.parse::<CustomerImpact>()?,
        services_affected: body.services_affected.unwrap_or(1),
        data_loss: body.data_loss,
        security: body.security,
    };
    Ok(Json(app.assess(&actor, id_of(&id, "alert")?, impact).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareFromAlertRequest {
    /// Default: the assessment's suggestion, else from the severity.
    #[schema(schema_with = crate::dto::schema::priority_or_null)]
    pub priority: Option<String>,
    /// Default: the alert's summary.
    #[schema(schema_with = crate::dto::schema::title_or_null)]
    pub title: Option<String>,
    #[schema(schema_with = crate::dto::schema::handle_or_null)]
    pub incident_manager: Option<String>,
}

/// Declare an incident from an alert; the caller is first responder.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/declare", tag = "alerts", security(("bearer" = [])), params(("id" = u64, Path)),
    request_body = DeclareFromAlertRequest,
    responses((status = 201, body = IncidentResponse), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn declare_from_alert(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DeclareFromAlertRequest>,
) -> ApiResult<(StatusCode, Json<IncidentResponse>)> {
    let id = id_of(&id, "alert")?;
    let priority = body.priority.as_deref().map(str::parse::<Priority>).transpose()?;
    let im = body.incident_manager.as_deref().map(|h| parse_handle(h, "incident_manager")).transpose()?;
    let view = app.declare_from_alert(&actor, id, priority, body.title, im).await?;
    Ok((StatusCode::CREATED, Json(IncidentResponse::from(&view))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkAlertRequest {
    #[schema(schema_with = crate::dto::schema::u64_value)]
    pub alert_id: u64,
}

/// Link another alert to an open incident.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/alerts", tag = "alerts", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")), request_body = LinkAlertRequest,
    responses((status = 200, body = IncidentResponse), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn link_alert(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<LinkAlertRequest>,
) -> ApiResult<Json<IncidentResponse>> {
    let view = app.link_alert(&actor, incident_ref(&r)?, body.alert_id).await?;
    Ok(Json(IncidentResponse::from(&view)))
}

/// The impact matrix that suggests priorities.
#[utoipa::path(get, path = "/api/v1/settings/impact-matrix", tag = "alerts", security(("bearer" = [])), responses((status = 200, body = crate::dto::ImpactMatrixBody)))]
pub async fn get_impact_matrix(State(app): State<Arc<App>>, _c: Caller) -> ApiResult<Json<ImpactMatrix>> {
    Ok(Json(app.impact_matrix().await?))
}

/// Replace the impact matrix (admins only).
#[utoipa::path(put, path = "/api/v1/settings/impact-matrix", tag = "alerts", security(("bearer" = [])), request_body = crate::dto::ImpactMatrixBody,
    responses((status = 200, body = crate::dto::ImpactMatrixBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_impact_matrix(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(matrix): ApiJson<ImpactMatrix>,
) -> ApiResult<Json<ImpactMatrix>> {
    Ok(Json(app.set_impact_matrix(&actor, matrix).await?))
}
