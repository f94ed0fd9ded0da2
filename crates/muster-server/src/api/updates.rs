//! The communications manager's updates on an incident: write (a draft or
//! published at once), list, change a draft, publish a draft.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muster_app::App;
use muster_app::updates::EditUpdate;
use muster_domain::update::{PublicStatus, UpdateAudience, UpdateInput};
use muster_store::UpdateRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::incident_ref;
use crate::auth::Caller;
use crate::dto::schema;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

/// A component named by an update, and its status then.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ComponentStatus {
    pub component: String,
    pub status: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpdateRequest {
    pub audience: String,
    pub body: Option<String>,
    /// The structured form: `conditions`, `actions`, `needs` (internal);
    /// `current_status`, `overview`, `next_steps` (executive).
    pub form: Option<BTreeMap<String, String>>,
    pub status: Option<String>,
    pub components: Option<Vec<ComponentStatus>>,
    pub next_update_in_minutes: Option<u32>,
    pub draft: Option<bool>,
}

impl utoipa::PartialSchema for NewUpdateRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::new_update_request()
    }
}
impl ToSchema for NewUpdateRequest {}

/// A draft's changes; a field left out keeps what the draft has, `null`
/// clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditUpdateRequest {
    pub body: Option<String>,
    pub form: Option<BTreeMap<String, String>>,
    #[serde(default, with = "double_option")]
    pub status: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub next_update_in_minutes: Option<Option<u32>>,
    pub components: Option<Vec<ComponentStatus>>,
}

impl utoipa::PartialSchema for EditUpdateRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::edit_update_request()
    }
}
impl ToSchema for EditUpdateRequest {}

/// `null` as `Some(None)`, absent as `None`.
pub(super) mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[derive(Serialize, ToSchema)]
pub struct UpdateResponse {
    pub id: u64,
    /// `INC-7`.
    pub incident: String,
    #[schema(value_type = String, example = "internal")]
    pub audience: &'static str,
    /// `draft` or `published`.
    #[schema(value_type = String, example = "draft")]
    pub state: &'static str,
    pub body: String,
    /// The form's fields that were filled in.
    pub form: BTreeMap<String, String>,
    /// The text as published: the form's fields, one a line, then the body.
    pub text: String,
    /// External updates: what customers are told.
    pub status: Option<String>,
    /// External updates: the components it puts in a state (by id).
    pub components: Vec<ComponentStateResponse>,
    pub next_update_in_minutes: Option<u32>,
    pub author: String,
    #[schema(schema_with = schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = schema::date_time)]
    pub updated_at: String,
    #[schema(schema_with = schema::date_time_or_null)]
    pub published_at: Option<String>,
    pub published_by: Option<String>,
    /// The `update_published` timeline entry.
    pub entry: Option<u64>,
    /// Where a published update went: each stakeholder and follower, how,
    /// and whether it arrived.
    pub deliveries: Vec<UpdateDeliveryResponse>,
    /// Customers' replies to an external update.
    pub responses: Vec<super::stakeholders::ResponseResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct ComponentStateResponse {
    pub component: u64,
    #[schema(value_type = String, example = "partial_outage")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct UpdateDeliveryResponse {
    /// Why they received it: `group Executives: @ann`, `follower: @cat`,
    /// `group Executives (webhook)`.
    pub recipient: String,
    /// `email` or `webhook`.
    pub via: String,
    /// The address, or the webhook's origin.
    pub to: String,
    /// `pending` (with `error` while it is retried), `delivered` or `failed`.
    #[schema(value_type = String, example = "delivered")]
    pub state: &'static str,
    pub attempts: u32,
    #[schema(schema_with = schema::date_time_or_null)]
    pub delivered_at: Option<String>,
    pub error: Option<String>,
}

impl From<&muster_store::UpdateDelivery> for UpdateDeliveryResponse {
    fn from(d: &muster_store::UpdateDelivery) -> Self {
        let state = match (d.delivered_at, d.dead_at) {
            (Some(_), _) => "delivered",
            (None, Some(_)) => "failed",
            (None, None) => "pending",
        };
        let to = if d.kind == "webhook" { muster_app::channels::webhook::origin(&d.to) } else { d.to.clone() };
        UpdateDeliveryResponse {
            recipient: d.recipient.clone(),
            via: d.kind.clone(),
            to,
            state,
            attempts: d.attempts,
            delivered_at: d.delivered_at.map(|t| t.to_string()),
            error: d.last_error.clone(),
        }
    }
}

impl UpdateResponse {
    /// With the deliveries and responses (of the whole incident) that are
    /// this update's.
    pub fn with(
        u: &UpdateRecord,
        deliveries: &[muster_store::UpdateDelivery],
        responses: &[muster_store::ResponseRecord],
    ) -> UpdateResponse {
        let mut out = UpdateResponse::from(u);
        out.deliveries = deliveries.iter().filter(|d| d.update == u.id).map(UpdateDeliveryResponse::from).collect();
        out.responses = responses.iter().filter(|r| r.update == u.id).map(Into::into).collect();
        out
    }
}

impl From<&UpdateRecord> for UpdateResponse {
    fn from(u: &UpdateRecord) -> Self {
        UpdateResponse {
            id: u.id,
            incident: format!("INC-{}", u.incident),
            audience: u.content.audience.as_str(),
            state: u.state.as_str(),
            body: u.content.body.clone(),
            form: u.content.form.iter().cloned().collect(),
            text: u.content.text(),
            status: u.content.status.map(|s| s.as_str().to_owned()),
            components: u
                .content
                .components
                .iter()
                .map(|a| ComponentStateResponse { component: a.component, status: a.status.as_str() })
                .collect(),
            next_update_in_minutes: u.content.next_update_in_minutes,
            author: u.author.to_string(),
            created_at: u.created_at.to_string(),
            updated_at: u.updated_at.to_string(),
            published_at: u.published_at.map(|t| t.to_string()),
            published_by: u.published_by.as_ref().map(ToString::to_string),
            entry: u.seq,
            deliveries: Vec::new(),
            responses: Vec::new(),
        }
    }
}

fn status(s: &str) -> Result<PublicStatus, ApiError> {
    Ok(s.parse::<PublicStatus>()?)
}

fn update_id(r: muster_domain::IncidentRef, id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("{r} has no update {id:?}")))
}

/// Write an update for an audience: published at once, or a draft for
/// someone who may publish it. Internal and executive updates are
/// published by the incident manager, the backup and the internal
/// communications manager; external ones by the incident manager and the
/// external communications manager; admins always. Anyone who writes may
/// draft.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/updates", tag = "updates", request_body = NewUpdateRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 201, body = UpdateResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn write_update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<NewUpdateRequest>,
) -> ApiResult<(StatusCode, Json<UpdateResponse>)> {
    let r = incident_ref(&r)?;
    let audience: UpdateAudience = body.audience.parse()?;
    let input = UpdateInput {
        body: body.body.unwrap_or_default(),
        form: body.form.unwrap_or_default().into_iter().collect(),
        status: body.status.as_deref().map(status).transpose()?,
        components: body.components.unwrap_or_default().into_iter().map(|c| (c.component, c.status)).collect(),
        next_update_in_minutes: body.next_update_in_minutes,
    };
    let update = app.write_update(&actor, r, audience, input, body.draft.unwrap_or(false)).await?;
    let deliveries = app.update_deliveries(r).await?;
    Ok((StatusCode::CREATED, Json(UpdateResponse::with(&update, &deliveries, &[]))))
}

/// An incident's updates, drafts too, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/updates", tag = "updates", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = Vec<UpdateResponse>), (status = 404, body = Problem)))]
pub async fn list_updates(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Vec<UpdateResponse>>> {
    let r = incident_ref(&r)?;
    let updates = app.updates(r).await?;
    let (deliveries, responses) = (app.update_deliveries(r).await?, app.update_responses(r).await?);
    Ok(Json(updates.iter().map(|u| UpdateResponse::with(u, &deliveries, &responses)).collect()))
}

/// Change a draft (its author, or someone who may publish it). A
/// published update is never changed: write a new one.
#[utoipa::path(patch, path = "/api/v1/incidents/{ref}/updates/{id}", tag = "updates", request_body = EditUpdateRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path)),
    responses((status = 200, body = UpdateResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn edit_update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EditUpdateRequest>,
) -> ApiResult<Json<UpdateResponse>> {
    let r = incident_ref(&r)?;
    let id = update_id(r, &id)?;
    let edit = EditUpdate {
        body: body.body,
        form: body.form.map(|f| f.into_iter().collect()),
        status: body.status.map(|s| s.as_deref().map(status).transpose()).transpose()?,
        next_update_in_minutes: body.next_update_in_minutes,
        components: body.components.map(|c| c.into_iter().map(|c| (c.component, c.status)).collect()),
    };
    Ok(Json(UpdateResponse::from(&app.edit_update(&actor, r, id, edit).await?)))
}

/// Publish a draft: its text goes on the timeline. Publishing twice is a
/// conflict.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/updates/{id}/publish", tag = "updates", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path)),
    responses((status = 200, body = UpdateResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn publish_update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
) -> ApiResult<Json<UpdateResponse>> {
    let r = incident_ref(&r)?;
    let id = update_id(r, &id)?;
    let update = app.publish_update(&actor, r, id).await?;
    let deliveries = app.update_deliveries(r).await?;
    Ok(Json(UpdateResponse::with(&update, &deliveries, &[])))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    pub audience: String,
    pub minutes: u32,
}

impl utoipa::PartialSchema for SnoozeRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::snooze_request()
    }
}
impl ToSchema for SnoozeRequest {}

/// Snooze the reminder of an audience's next update for 30, 60 or 120
/// minutes (whoever may publish for that audience). Answers the incident,
/// with its `next_update_due`.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/updates/snooze", tag = "updates", request_body = SnoozeRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = crate::dto::IncidentResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn snooze_update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<SnoozeRequest>,
) -> ApiResult<Json<crate::dto::IncidentResponse>> {
    let r = incident_ref(&r)?;
    let audience: UpdateAudience = body.audience.parse()?;
    let view = app.snooze_update(&actor, r, audience, body.minutes).await?;
    Ok(Json(crate::dto::IncidentResponse::from(&view)))
}

/// A cadence table as the API reads and writes it.
pub struct CadenceBody;

impl utoipa::PartialSchema for CadenceBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::update_cadence()
    }
}
impl ToSchema for CadenceBody {}

/// How often each audience expects an update, per priority: minutes while
/// investigating or identified (`active`) and while monitoring; a priority
/// left out has no cadence. `escalate_after_minutes` past due, the
/// incident manager is reminded too.
#[utoipa::path(get, path = "/api/v1/settings/update-cadence", tag = "updates", security(("bearer" = [])),
    responses((status = 200, body = CadenceBody)))]
pub async fn get_update_cadence(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
) -> ApiResult<Json<muster_domain::cadence::UpdateCadence>> {
    Ok(Json(app.update_cadence().await?))
}

/// Replace the cadence table (admins).
#[utoipa::path(put, path = "/api/v1/settings/update-cadence", tag = "updates", request_body = CadenceBody, security(("bearer" = [])),
    responses((status = 200, body = CadenceBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_update_cadence(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<muster_domain::cadence::UpdateCadence>,
) -> ApiResult<Json<muster_domain::cadence::UpdateCadence>> {
    Ok(Json(app.set_update_cadence(&actor, body).await?))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestionQuery {
    /// `internal` (the default), `external` or `executive`.
    #[param(schema_with = schema::audience_param)]
    pub audience: Option<String>,
}

/// Suggested text for a new update
#[derive(Serialize, ToSchema)]
pub struct SuggestionResponse {
    #[schema(value_type = String, example = "internal")]
    pub audience: &'static str,
    pub body: String,
    pub form: BTreeMap<String, String>,
    pub status: Option<String>,
}

/// Where a new update for an audience starts: the latest published one for
/// it, with (internal) the room topic and the latest theories, (executive)
/// the status and priority. An external suggestion holds nothing internal:
/// the latest external text, or a neutral sentence, and the public status
/// the incident's status suggests.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/updates/suggestion", tag = "updates", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7"), SuggestionQuery),
    responses((status = 200, body = SuggestionResponse), (status = 404, body = Problem)))]
pub async fn suggest_update(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
    Path(r): Path<String>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<SuggestionQuery>,
) -> ApiResult<Json<SuggestionResponse>> {
    let r = incident_ref(&r)?;
    let audience: UpdateAudience = q.audience.as_deref().unwrap_or("internal").parse().map_err(|e| {
        let message = match e {
            muster_domain::DomainError::Invalid { message, .. } => message,
            other => other.to_string(),
        };
        ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", "audience", message)
    })?;
    let s = app.suggest_update(r, audience).await?;
    Ok(Json(SuggestionResponse {
        audience: audience.as_str(),
        body: s.body,
        form: s.form.into_iter().collect(),
        status: s.status.map(|p| p.as_str().to_owned()),
    }))
}
