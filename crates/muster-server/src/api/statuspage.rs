//! The status page's components (admins) and an incident's public title
//! and impact. The public page and its Statuspage-compatible JSON are in
//! `crate::status`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muster_app::App;
use muster_app::statuspage::{ComponentInput, PublicIncidentView};
use muster_store::ComponentRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::incident_ref;
use crate::auth::Caller;
use crate::dto::schema;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, with = "super::updates::double_option")]
    pub group: Option<Option<String>>,
    pub position: Option<u32>,
    pub only_show_if_degraded: Option<bool>,
    pub services: Option<Vec<String>>,
}

impl From<ComponentRequest> for ComponentInput {
    fn from(r: ComponentRequest) -> ComponentInput {
        ComponentInput {
            name: r.name,
            description: r.description,
            group: r.group,
            position: r.position,
            only_show_if_degraded: r.only_show_if_degraded,
            services: r.services,
        }
    }
}

pub struct NewComponentRequest;
impl utoipa::PartialSchema for NewComponentRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::component_request(true)
    }
}
impl ToSchema for NewComponentRequest {}

pub struct ComponentChangeRequest;
impl utoipa::PartialSchema for ComponentChangeRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::component_request(false)
    }
}
impl ToSchema for ComponentChangeRequest {}

#[derive(Serialize, ToSchema)]
pub struct ComponentResponse {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub position: u32,
    pub only_show_if_degraded: bool,
    pub services: Vec<String>,
    /// `operational`, `degraded_performance`, `partial_outage`,
    /// `major_outage` or `under_maintenance`.
    #[schema(value_type = String, example = "operational")]
    pub status: &'static str,
    #[schema(schema_with = schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = schema::date_time)]
    pub updated_at: String,
}

impl From<&ComponentRecord> for ComponentResponse {
    fn from(c: &ComponentRecord) -> Self {
        ComponentResponse {
            id: c.id,
            name: c.spec.name.clone(),
            description: c.spec.description.clone(),
            group: c.spec.group.clone(),
            position: c.spec.position,
            only_show_if_degraded: c.spec.only_show_if_degraded,
            services: c.spec.services.clone(),
            status: c.status.as_str(),
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

fn component_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("there is no component {id:?}")))
}

/// Add a component to the status page (admins): what customers see, in
/// an optional group, standing for some services. It starts operational;
/// external updates put it in other states.
#[utoipa::path(post, path = "/api/v1/status/components", tag = "status page", request_body = NewComponentRequest, security(("bearer" = [])),
    responses((status = 201, body = ComponentResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_component(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ComponentRequest>,
) -> ApiResult<(StatusCode, Json<ComponentResponse>)> {
    let c = app.create_component(&actor, body.into()).await?;
    Ok((StatusCode::CREATED, Json(ComponentResponse::from(&c))))
}

/// The status page's components, in the page's order.
#[utoipa::path(get, path = "/api/v1/status/components", tag = "status page", security(("bearer" = [])),
    responses((status = 200, body = Vec<ComponentResponse>)))]
pub async fn list_components(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
) -> ApiResult<Json<Vec<ComponentResponse>>> {
    Ok(Json(app.components().await?.iter().map(ComponentResponse::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/status/components/{id}", tag = "status page", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = ComponentResponse), (status = 404, body = Problem)))]
pub async fn get_component(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ComponentResponse>> {
    Ok(Json(ComponentResponse::from(&app.component(component_id(&id)?).await?)))
}

/// Change a component (admins): each field given replaces.
#[utoipa::path(patch, path = "/api/v1/status/components/{id}", tag = "status page", request_body = ComponentChangeRequest, security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = ComponentResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn change_component(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ComponentRequest>,
) -> ApiResult<Json<ComponentResponse>> {
    let c = app.change_component(&actor, component_id(&id)?, body.into()).await?;
    Ok(Json(ComponentResponse::from(&c)))
}

/// Remove a component and its history (admins).
#[utoipa::path(delete, path = "/api/v1/status/components/{id}", tag = "status page", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_component(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.delete_component(&actor, component_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentStatusRequest {
    pub status: String,
    pub incident: Option<String>,
}
impl utoipa::PartialSchema for ComponentStatusRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::component_status_request()
    }
}
impl ToSchema for ComponentStatusRequest {}

/// Put a component in a state directly: for an incident (`incident`; its
/// timeline says so; the incident manager and the external communications
/// manager) or, with none named, as an admin. Webhook subscribers hear of
/// it; a component in that state already is left as it is.
#[utoipa::path(put, path = "/api/v1/status/components/{id}/status", tag = "status page", request_body = ComponentStatusRequest, security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = ComponentResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_component_status(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ComponentStatusRequest>,
) -> ApiResult<Json<ComponentResponse>> {
    let id = component_id(&id)?;
    let status: muster_domain::statuspage::ComponentStatus = body.status.parse()?;
    let incident = match body.incident.as_deref() {
        None => None,
        Some(r) => Some(
            r.parse::<muster_domain::IncidentRef>()
                .map_err(|_| ApiError::invalid("incident", format!("{r:?} is not an incident: say INC-7 or 7")))?,
        ),
    };
    app.set_component_status(&actor, id, status, incident).await?;
    Ok(Json(ComponentResponse::from(&app.component(id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicIncidentRequest {
    pub title: Option<String>,
    #[serde(default, with = "super::updates::double_option")]
    pub impact: Option<Option<String>>,
}
impl utoipa::PartialSchema for PublicIncidentRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::public_incident_request()
    }
}
impl ToSchema for PublicIncidentRequest {}

#[derive(Serialize, ToSchema)]
pub struct PublicIncidentResponse {
    /// `INC-7`.
    pub incident: String,
    pub title: String,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    #[schema(value_type = String, example = "identified")]
    pub status: &'static str,
    /// `none`, `minor`, `major` or `critical`.
    #[schema(value_type = String, example = "major")]
    pub impact: &'static str,
    /// The components its updates named.
    pub components: Vec<u64>,
    /// Its external updates, newest first.
    pub updates: Vec<u64>,
}

impl From<&PublicIncidentView> for PublicIncidentResponse {
    fn from(p: &PublicIncidentView) -> Self {
        PublicIncidentResponse {
            incident: format!("INC-{}", p.number),
            title: p.title.clone(),
            status: p.status.as_str(),
            impact: p.impact.as_str(),
            components: p.components.iter().map(|(id, _)| *id).collect(),
            updates: p.updates.iter().map(|u| u.id).collect(),
        }
    }
}

/// How an incident shows on the status page: the title customers read
/// (by default the incident's, when its first external update was
/// published) and its impact (by default from the worst state its updates
/// put components in; `null` goes back to that). The incident manager,
/// the external communications manager and admins.
#[utoipa::path(patch, path = "/api/v1/status/incidents/{ref}", tag = "status page", request_body = PublicIncidentRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = PublicIncidentResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn edit_public_incident(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<PublicIncidentRequest>,
) -> ApiResult<Json<PublicIncidentResponse>> {
    let r = incident_ref(&r)?;
    let impact = body
        .impact
        .map(|i| i.as_deref().map(str::parse::<muster_domain::statuspage::Impact>).transpose())
        .transpose()?;
    let view = app.edit_public_incident(&actor, r, body.title.as_deref(), impact).await?;
    Ok(Json(PublicIncidentResponse::from(&view)))
}

#[derive(Serialize, ToSchema)]
pub struct SubscriberResponse {
    pub id: u64,
    /// `email` or `webhook`.
    pub kind: String,
    pub address: String,
    /// Component ids; none: the whole page.
    pub components: Vec<u64>,
    pub confirmed: bool,
    #[schema(schema_with = schema::date_time)]
    pub created_at: String,
}

/// The status page's subscribers, confirmed or not (admins).
#[utoipa::path(get, path = "/api/v1/status/subscribers", tag = "status page", security(("bearer" = [])),
    responses((status = 200, body = Vec<SubscriberResponse>), (status = 403, body = Problem)))]
pub async fn list_subscribers(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> ApiResult<Json<Vec<SubscriberResponse>>> {
    let list = app.subscribers(&actor).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SubscriberResponse {
                id: s.id,
                kind: s.kind,
                address: s.address,
                components: s.components,
                confirmed: s.confirmed_at.is_some(),
                created_at: s.created_at.to_string(),
            })
            .collect(),
    ))
}

/// Remove a subscriber (admins): nothing more is sent to them.
#[utoipa::path(delete, path = "/api/v1/status/subscribers/{id}", tag = "status page", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_subscriber(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: u64 = id.parse().map_err(|_| ApiError::not_found("id", format!("there is no subscriber {id:?}")))?;
    app.remove_subscriber(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    pub title: String,
    pub components: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub body: Option<String>,
    pub auto_start: Option<bool>,
    pub auto_complete: Option<bool>,
    pub remind_minutes_before: Option<u32>,
}
impl utoipa::PartialSchema for MaintenanceRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::maintenance_request()
    }
}
impl ToSchema for MaintenanceRequest {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceUpdateRequest {
    pub status: Option<String>,
    pub body: Option<String>,
}
impl utoipa::PartialSchema for MaintenanceUpdateRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::maintenance_update_request()
    }
}
impl ToSchema for MaintenanceUpdateRequest {}

#[derive(Serialize, ToSchema)]
pub struct MaintenanceUpdateResponse {
    pub id: u64,
    #[schema(value_type = String, example = "in_progress")]
    pub status: &'static str,
    pub body: String,
    #[schema(schema_with = schema::date_time)]
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct MaintenanceResponse {
    pub id: u64,
    pub title: String,
    pub body: String,
    /// Component ids.
    pub components: Vec<u64>,
    #[schema(schema_with = schema::date_time)]
    pub starts_at: String,
    #[schema(schema_with = schema::date_time)]
    pub ends_at: String,
    pub auto_start: bool,
    pub auto_complete: bool,
    pub remind_minutes_before: Option<u32>,
    /// `scheduled`, `in_progress`, `verifying` or `completed`.
    #[schema(value_type = String, example = "scheduled")]
    pub status: &'static str,
    #[schema(schema_with = schema::date_time_or_null)]
    pub reminded_at: Option<String>,
    #[schema(schema_with = schema::date_time_or_null)]
    pub started_at: Option<String>,
    #[schema(schema_with = schema::date_time_or_null)]
    pub completed_at: Option<String>,
    /// Oldest first: the announcement, then each update.
    pub updates: Vec<MaintenanceUpdateResponse>,
}

impl From<&muster_store::MaintenanceRecord> for MaintenanceResponse {
    fn from(m: &muster_store::MaintenanceRecord) -> Self {
        MaintenanceResponse {
            id: m.id,
            title: m.spec.title.clone(),
            body: m.spec.body.clone(),
            components: m.spec.components.clone(),
            starts_at: m.spec.starts_at.to_string(),
            ends_at: m.spec.ends_at.to_string(),
            auto_start: m.spec.auto_start,
            auto_complete: m.spec.auto_complete,
            remind_minutes_before: m.spec.remind_minutes_before,
            status: m.state.as_str(),
            reminded_at: m.reminded_at.map(|t| t.to_string()),
            started_at: m.started_at.map(|t| t.to_string()),
            completed_at: m.completed_at.map(|t| t.to_string()),
            updates: m
                .updates
                .iter()
                .map(|u| MaintenanceUpdateResponse {
                    id: u.id,
                    status: u.state.as_str(),
                    body: u.body.clone(),
                    at: u.at.to_string(),
                })
                .collect(),
        }
    }
}

fn time(field: &str, value: &str) -> Result<muster_domain::Timestamp, ApiError> {
    value.trim().parse().map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 time: {e}")))
}

fn maintenance_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("there is no maintenance {id:?}")))
}

/// Announce a maintenance window (admins): its components, by id or name,
/// go under maintenance at `starts_at` and back at `ends_at` on their own
/// (`auto_start`, `auto_complete`, both by default); subscribers hear of
/// it now, `remind_minutes_before` the start (60 by default; 0: no
/// reminder), at the start and at the end.
#[utoipa::path(post, path = "/api/v1/status/maintenances", tag = "status page", request_body = MaintenanceRequest, security(("bearer" = [])),
    responses((status = 201, body = MaintenanceResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_maintenance(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<MaintenanceRequest>,
) -> ApiResult<(StatusCode, Json<MaintenanceResponse>)> {
    let input = muster_app::maintenance::MaintenanceInput {
        title: body.title,
        body: body.body.unwrap_or_default(),
        components: body.components,
        starts_at: time("starts_at", &body.starts_at)?,
        ends_at: time("ends_at", &body.ends_at)?,
        auto_start: body.auto_start.unwrap_or(true),
        auto_complete: body.auto_complete.unwrap_or(true),
        remind_minutes_before: Some(body.remind_minutes_before.unwrap_or(60)),
    };
    let m = app.create_maintenance(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(MaintenanceResponse::from(&m))))
}

/// The maintenance windows not completed, and those of the last 90 days,
/// by their start.
#[utoipa::path(get, path = "/api/v1/status/maintenances", tag = "status page", security(("bearer" = [])),
    responses((status = 200, body = Vec<MaintenanceResponse>)))]
pub async fn list_maintenances(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
) -> ApiResult<Json<Vec<MaintenanceResponse>>> {
    Ok(Json(app.maintenances().await?.iter().map(MaintenanceResponse::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/status/maintenances/{id}", tag = "status page", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = MaintenanceResponse), (status = 404, body = Problem)))]
pub async fn get_maintenance(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MaintenanceResponse>> {
    Ok(Json(MaintenanceResponse::from(&app.maintenance(maintenance_id(&id)?).await?)))
}

/// Update a maintenance (admins): move it forward (`status`: `in_progress`,
/// `verifying`, `completed`) or, without one, say more in its state. Its
/// components and subscribers follow.
#[utoipa::path(post, path = "/api/v1/status/maintenances/{id}/updates", tag = "status page", request_body = MaintenanceUpdateRequest, security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = MaintenanceResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_maintenance(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MaintenanceUpdateRequest>,
) -> ApiResult<Json<MaintenanceResponse>> {
    let id = maintenance_id(&id)?;
    let to = body.status.as_deref().map(str::parse::<muster_domain::maintenance::MaintenanceState>).transpose()?;
    let m = app.update_maintenance(&actor, id, to, body.body.as_deref().unwrap_or("")).await?;
    Ok(Json(MaintenanceResponse::from(&m)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageLinkBody {
    pub label: String,
    pub url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSettingsRequest {
    pub name: String,
    pub url: Option<String>,
    pub time_zone: Option<String>,
    pub language: Option<String>,
    pub logo_url: Option<String>,
    pub links: Option<Vec<PageLinkBody>>,
    pub enabled: Option<bool>,
}
impl utoipa::PartialSchema for StatusSettingsRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::status_settings_request()
    }
}
impl ToSchema for StatusSettingsRequest {}

#[derive(Serialize, ToSchema)]
pub struct PageLinkResponse {
    pub label: String,
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct StatusSettingsResponse {
    pub name: String,
    /// Where customers read the page; `null`: this server's `/status`.
    pub url: Option<String>,
    pub time_zone: String,
    pub language: String,
    pub logo_url: Option<String>,
    pub links: Vec<PageLinkResponse>,
    pub enabled: bool,
}

impl From<muster_domain::statuspage::PageSettings> for StatusSettingsResponse {
    fn from(s: muster_domain::statuspage::PageSettings) -> Self {
        StatusSettingsResponse {
            name: s.name,
            url: s.url,
            time_zone: s.time_zone,
            language: s.language,
            logo_url: s.logo_url,
            links: s.links.into_iter().map(|l| PageLinkResponse { label: l.label, url: l.url }).collect(),
            enabled: s.enabled,
        }
    }
}

/// How the public page presents itself.
#[utoipa::path(get, path = "/api/v1/settings/status-page", tag = "status page", security(("bearer" = [])),
    responses((status = 200, body = StatusSettingsResponse)))]
pub async fn get_status_settings(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
) -> ApiResult<Json<StatusSettingsResponse>> {
    Ok(Json(app.status_settings().await?.into()))
}

/// Replace the public page's settings (admins): its name, the address
/// customers read it at, the time zone its times are shown in, its
/// language (`en`), a logo and header links; `enabled: false` takes the
/// page, its JSON and feeds offline and refuses subscriptions.
#[utoipa::path(put, path = "/api/v1/settings/status-page", tag = "status page", request_body = StatusSettingsRequest, security(("bearer" = [])),
    responses((status = 200, body = StatusSettingsResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_status_settings(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<StatusSettingsRequest>,
) -> ApiResult<Json<StatusSettingsResponse>> {
    let d = muster_domain::statuspage::PageSettings::default();
    let settings = muster_domain::statuspage::PageSettings {
        name: body.name,
        url: body.url,
        time_zone: body.time_zone.unwrap_or(d.time_zone),
        language: body.language.unwrap_or(d.language),
        logo_url: body.logo_url,
        links: body
            .links
            .unwrap_or_default()
            .into_iter()
            .map(|l| muster_domain::statuspage::PageLink { label: l.label, url: l.url })
            .collect(),
        enabled: body.enabled.unwrap_or(true),
    };
    Ok(Json(app.set_status_settings(&actor, settings).await?.into()))
}
