//! Who hears about incidents besides the responders: stakeholder groups
//! (admins), an incident's followers, and the customer responses recorded
//! on external updates.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muster_app::App;
use muster_app::stakeholders::{GroupInput, GroupWritten};
use muster_domain::Handle;
use muster_domain::stakeholder::Group;
use muster_store::ResponseRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::incident_ref;
use crate::auth::Caller;
use crate::dto::schema;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    pub name: Option<String>,
    pub members: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
    pub webhooks: Option<Vec<String>>,
    pub priorities: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
}

impl From<GroupRequest> for GroupInput {
    fn from(r: GroupRequest) -> GroupInput {
        GroupInput {
            name: r.name,
            members: r.members,
            emails: r.emails,
            webhooks: r.webhooks,
            priorities: r.priorities,
            services: r.services,
            audiences: r.audiences,
        }
    }
}

/// A new stakeholder group.
pub struct NewGroupRequest;
impl utoipa::PartialSchema for NewGroupRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::stakeholder_group_request(true)
    }
}
impl ToSchema for NewGroupRequest {}

/// A stakeholder group's changes: each field given replaces.
pub struct GroupChangeRequest;
impl utoipa::PartialSchema for GroupChangeRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::stakeholder_group_request(false)
    }
}
impl ToSchema for GroupChangeRequest {}

#[derive(Serialize, ToSchema)]
pub struct GroupWebhookResponse {
    pub id: u64,
    pub url: String,
    /// The signing secret, only in the answer that added the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupResponse {
    pub id: u64,
    pub name: String,
    pub members: Vec<String>,
    pub emails: Vec<String>,
    pub webhooks: Vec<GroupWebhookResponse>,
    #[schema(value_type = Vec<String>)]
    pub priorities: Vec<&'static str>,
    /// None: every service.
    pub services: Vec<String>,
    #[schema(value_type = Vec<String>)]
    pub audiences: Vec<&'static str>,
}

impl GroupResponse {
    fn new(g: &Group, secrets: &[(u64, String)]) -> GroupResponse {
        GroupResponse {
            id: g.id,
            name: g.spec.name.clone(),
            members: g.spec.members.iter().map(ToString::to_string).collect(),
            emails: g.spec.emails.clone(),
            webhooks: g
                .webhooks
                .iter()
                .map(|(id, url)| GroupWebhookResponse {
                    id: *id,
                    url: url.clone(),
                    secret: secrets.iter().find(|(s, _)| s == id).map(|(_, s)| s.clone()),
                })
                .collect(),
            priorities: g.spec.priorities.iter().map(|p| p.as_str()).collect(),
            services: g.spec.services.clone(),
            audiences: g.spec.audiences.iter().map(|a| a.as_str()).collect(),
        }
    }
}

impl From<GroupWritten> for GroupResponse {
    fn from(w: GroupWritten) -> GroupResponse {
        GroupResponse::new(&w.group, &w.secrets)
    }
}

fn group_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("there is no stakeholder group {id:?}")))
}

/// Create a stakeholder group (admins): people, addresses and webhooks
/// that receive published updates of the audiences it names, for incidents
/// of its priorities (and services, when it names any). Each webhook's
/// signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/stakeholder-groups", tag = "stakeholders", request_body = NewGroupRequest, security(("bearer" = [])),
    responses((status = 201, body = GroupResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_group(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<GroupRequest>,
) -> ApiResult<(StatusCode, Json<GroupResponse>)> {
    let written = app.create_stakeholder_group(&actor, body.into()).await?;
    Ok((StatusCode::CREATED, Json(written.into())))
}

/// Every stakeholder group, by name.
#[utoipa::path(get, path = "/api/v1/stakeholder-groups", tag = "stakeholders", security(("bearer" = [])),
    responses((status = 200, body = Vec<GroupResponse>)))]
pub async fn list_groups(State(app): State<Arc<App>>, Caller(_actor): Caller) -> ApiResult<Json<Vec<GroupResponse>>> {
    Ok(Json(app.stakeholder_groups().await?.iter().map(|g| GroupResponse::new(g, &[])).collect()))
}

#[utoipa::path(get, path = "/api/v1/stakeholder-groups/{id}", tag = "stakeholders", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = GroupResponse), (status = 404, body = Problem)))]
pub async fn get_group(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupResponse>> {
    Ok(Json(GroupResponse::new(&app.stakeholder_group(group_id(&id)?).await?, &[])))
}

/// Change a stakeholder group (admins): each field given replaces what it
/// had; a webhook URL it had keeps its secret, a new one gets one (in this
/// answer only).
#[utoipa::path(patch, path = "/api/v1/stakeholder-groups/{id}", tag = "stakeholders", request_body = GroupChangeRequest, security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = GroupResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn change_group(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<GroupRequest>,
) -> ApiResult<Json<GroupResponse>> {
    let id = group_id(&id)?;
    Ok(Json(app.change_stakeholder_group(&actor, id, body.into()).await?.into()))
}

/// Delete a stakeholder group (admins). Deliveries already written for it
/// still go to its addresses; its webhooks are gone.
#[utoipa::path(delete, path = "/api/v1/stakeholder-groups/{id}", tag = "stakeholders", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_group(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.delete_stakeholder_group(&actor, group_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    pub user: Option<String>,
}
impl utoipa::PartialSchema for FollowRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::follow_request()
    }
}
impl ToSchema for FollowRequest {}

#[derive(Serialize, ToSchema)]
pub struct FollowerResponse {
    pub user: String,
    #[schema(schema_with = schema::date_time)]
    pub since: String,
}

async fn followers_of(app: &App, r: muster_domain::IncidentRef) -> ApiResult<Json<Vec<FollowerResponse>>> {
    let list = app.followers(r).await?;
    Ok(Json(
        list.into_iter().map(|(h, since)| FollowerResponse { user: h.to_string(), since: since.to_string() }).collect(),
    ))
}

/// Follow an incident: its internal updates reach you through your
/// contact methods. Yourself by default; admins may add anyone. Answers
/// the followers.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/followers", tag = "stakeholders", request_body = FollowRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = Vec<FollowerResponse>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn follow(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    crate::extract::OptionalJson(body): crate::extract::OptionalJson<FollowRequest>,
) -> ApiResult<Json<Vec<FollowerResponse>>> {
    let r = incident_ref(&r)?;
    let person = match body.user {
        Some(u) => Handle::parse(&u).map_err(|e| match e {
            muster_domain::DomainError::Invalid { message, .. } => {
                ApiError::from(muster_domain::DomainError::invalid("user", message))
            }
            other => other.into(),
        })?,
        None => actor.handle.clone(),
    };
    app.follow(&actor, r, &person).await?;
    followers_of(&app, r).await
}

/// Who follows an incident.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/followers", tag = "stakeholders", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = Vec<FollowerResponse>), (status = 404, body = Problem)))]
pub async fn list_followers(
    State(app): State<Arc<App>>,
    Caller(_actor): Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Vec<FollowerResponse>>> {
    followers_of(&app, incident_ref(&r)?).await
}

/// Stop following an incident (yourself; admins anyone).
#[utoipa::path(delete, path = "/api/v1/incidents/{ref}/followers/{handle}", tag = "stakeholders", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7"), ("handle" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn unfollow(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, handle)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let r = incident_ref(&r)?;
    let person =
        Handle::parse(&handle).map_err(|_| ApiError::not_found("handle", format!("@{handle} does not follow {r}")))?;
    if app.unfollow(&actor, r, &person).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("handle", format!("@{person} does not follow {r}")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRequest {
    pub from: String,
    pub channel: String,
    pub body: String,
}
impl utoipa::PartialSchema for ResponseRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::response_request()
    }
}
impl ToSchema for ResponseRequest {}

#[derive(Serialize, ToSchema)]
pub struct ResponseResponse {
    pub id: u64,
    pub update: u64,
    pub from: String,
    pub channel: String,
    pub body: String,
    pub recorded_by: String,
    #[schema(schema_with = schema::date_time)]
    pub recorded_at: String,
}

impl From<&ResponseRecord> for ResponseResponse {
    fn from(r: &ResponseRecord) -> Self {
        ResponseResponse {
            id: r.id,
            update: r.update,
            from: r.from.clone(),
            channel: r.channel.clone(),
            body: r.body.clone(),
            recorded_by: r.recorded_by.to_string(),
            recorded_at: r.created_at.to_string(),
        }
    }
}

/// Record a customer's reply to a published external update (any
/// responder): shown with the update.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/updates/{id}/responses", tag = "updates", request_body = ResponseRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path)),
    responses((status = 201, body = ResponseResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn record_response(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ResponseRequest>,
) -> ApiResult<(StatusCode, Json<ResponseResponse>)> {
    let r = incident_ref(&r)?;
    let id: u64 = id.parse().map_err(|_| ApiError::not_found("id", format!("{r} has no update {id:?}")))?;
    let recorded = app.record_response(&actor, r, id, &body.from, &body.channel, &body.body).await?;
    Ok((StatusCode::CREATED, Json(ResponseResponse::from(&recorded))))
}
