//! Actions tracked as things (owner, due time, status, ticket, follow-up)
//! and follow-ups across incidents, with the tracker webhook new
//! follow-ups are posted to.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muster_app::App;
use muster_app::actions::TrackingPatch;
use muster_domain::action::{ActionItem, ActionStatus};
use muster_domain::{Handle, Scope, Timestamp};
use muster_store::{FollowUpFilter, FollowUpRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::incident_ref;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};

/// An action on an incident's timeline and how it is tracked.
#[derive(Serialize, ToSchema)]
pub struct ActionResponse {
    /// Its timeline entry.
    pub id: u64,
    pub incident: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub actor: String,
    pub actor_roles: Vec<String>,
    pub text: String,
    pub owner: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub due_at: Option<String>,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    /// Work after the incident.
    pub follow_up: bool,
    pub ticket: Option<String>,
    /// Open with its due time passed.
    pub overdue: bool,
    /// The workstream (a tech lead's scope) it belongs to.
    pub workstream: Option<String>,
}

pub(super) fn action_response(number: u64, a: &ActionItem, now: Timestamp) -> ActionResponse {
    let t = &a.tracking;
    ActionResponse {
        id: a.seq,
        incident: format!("INC-{number}"),
        at: a.at.to_string(),
        actor: a.actor.to_string(),
        actor_roles: a.roles.iter().map(|r| r.key().to_owned()).collect(),
        text: a.text.clone(),
        owner: t.owner.as_ref().map(|o| o.to_string()),
        due_at: t.due_at.map(|d| d.to_string()),
        status: t.status.as_str().to_owned(),
        follow_up: t.follow_up,
        ticket: t.ticket.clone(),
        overdue: t.overdue(now),
        workstream: a.workstream.as_ref().map(|w| w.to_string()),
    }
}

/// An action's status.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatusName {
    Open,
    Done,
    Cancelled,
}

impl From<ActionStatusName> for ActionStatus {
    fn from(s: ActionStatusName) -> Self {
        match s {
            ActionStatusName::Open => ActionStatus::Open,
            ActionStatusName::Done => ActionStatus::Done,
            ActionStatusName::Cancelled => ActionStatus::Cancelled,
        }
    }
}

fn owner(s: Option<String>) -> Result<Option<Handle>, ApiError> {
    s.map(|h| Handle::parse(h.trim().trim_start_matches('@')).map_err(|e| ApiError::invalid("owner", e.to_string())))
        .transpose()
}

fn due(s: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    s.map(|t| t.parse::<Timestamp>().map_err(|e| ApiError::invalid("due_at", format!("not an RFC 3339 time: {e}"))))
        .transpose()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActionRequest {
    #[schema(schema_with = crate::dto::schema::entry_text)]
    pub text: String,
    /// Who does it.
    #[schema(schema_with = crate::dto::schema::handle_or_null)]
    pub owner: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub due_at: Option<String>,
    /// Work after the incident (an action item of the postmortem).
    pub follow_up: Option<bool>,
    #[schema(schema_with = crate::dto::schema::ticket_or_null)]
    pub ticket: Option<String>,
    /// The workstream (a current tech lead's scope) it belongs to; a tech
    /// lead's own when they lead one and name none.
    #[schema(schema_with = crate::dto::schema::workstream_or_null)]
    pub workstream: Option<String>,
}

/// Record an action, tracked from the start: an owner, a due time, a
/// ticket, marked a follow-up. A follow-up with an owner and a due time
/// reminds its owner when due, then weekly while it is open.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/actions", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    request_body = NewActionRequest, security(("bearer" = [])),
    responses((status = 201, body = ActionResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_action(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(b): ApiJson<NewActionRequest>,
) -> ApiResult<(StatusCode, Json<ActionResponse>)> {
    let r = incident_ref(&r)?;
    let patch = TrackingPatch {
        owner: Some(owner(b.owner)?),
        due_at: Some(due(b.due_at)?),
        status: None,
        follow_up: b.follow_up,
        ticket: Some(b.ticket),
    };
    let workstream = b.workstream.as_deref().map(|w| Scope::workstream(w, "workstream")).transpose()?;
    let a = app.add_action(&actor, r, b.text, workstream, patch).await?;
    Ok((StatusCode::CREATED, Json(action_response(r.0, &a, app.clock.now()))))
}

/// The incident's actions, in the order they were recorded.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/actions", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, body = [ActionResponse]), (status = 404, body = Problem)))]
pub async fn list_actions(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Vec<ActionResponse>>> {
    let r = incident_ref(&r)?;
    let now = app.clock.now();
    Ok(Json(app.actions(r).await?.iter().map(|a| action_response(r.0, a, now)).collect()))
}

/// What changes in an action's tracking; a field left out stays, `null`
/// clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPatchRequest {
    #[serde(default, with = "super::updates::double_option")]
    #[schema(schema_with = crate::dto::schema::handle_or_null)]
    pub owner: Option<Option<String>>,
    #[serde(default, with = "super::updates::double_option")]
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub due_at: Option<Option<String>>,
    pub status: Option<ActionStatusName>,
    pub follow_up: Option<bool>,
    #[serde(default, with = "super::updates::double_option")]
    #[schema(schema_with = crate::dto::schema::ticket_or_null)]
    pub ticket: Option<Option<String>>,
}

/// Change how an action is tracked (any responder, also once the
/// incident is closed: follow-ups are worked after it): its owner, due
/// time, status, ticket, whether it is a follow-up. Each change is a
/// timeline entry.
#[utoipa::path(patch, path = "/api/v1/incidents/{ref}/actions/{id}", tag = "timeline",
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path, description = "the action's timeline entry")),
    request_body = ActionPatchRequest, security(("bearer" = [])),
    responses((status = 200, body = ActionResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_action(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<ActionPatchRequest>,
) -> ApiResult<Json<ActionResponse>> {
    let r = incident_ref(&r)?;
    let id: u64 = id.parse().map_err(|_| ApiError::invalid("id", "an action is named by its timeline entry's id"))?;
    let patch = TrackingPatch {
        owner: b.owner.map(owner).transpose()?,
        due_at: b.due_at.map(due).transpose()?,
        status: b.status.map(Into::into),
        follow_up: b.follow_up,
        ticket: b.ticket,
    };
    let a = app.track_action(&actor, r, id, patch).await?;
    Ok(Json(action_response(r.0, &a, app.clock.now())))
}

/// A follow-up: an action marked work after its incident.
#[derive(Serialize, ToSchema)]
pub struct FollowUpResponse {
    pub incident: String,
    /// The action's timeline entry.
    pub action: u64,
    pub text: String,
    pub owner: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub due_at: Option<String>,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    pub ticket: Option<String>,
    pub overdue: bool,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub updated_at: String,
}

fn follow_up_response(f: &FollowUpRecord, now: Timestamp) -> FollowUpResponse {
    FollowUpResponse {
        incident: format!("INC-{}", f.incident),
        action: f.action,
        text: f.text.clone(),
        owner: f.owner.as_ref().map(|o| o.to_string()),
        due_at: f.due_at.map(|d| d.to_string()),
        status: f.status.as_str().to_owned(),
        ticket: f.ticket.clone(),
        overdue: f.status == ActionStatus::Open && f.due_at.is_some_and(|d| d <= now),
        created_at: f.created_at.to_string(),
        updated_at: f.updated_at.to_string(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FollowUpQuery {
    /// open, done or cancelled (default: all).
    #[param(schema_with = crate::dto::schema::action_status_param)]
    pub state: Option<String>,
    /// Only this person's.
    #[param(schema_with = crate::dto::schema::handle)]
    pub owner: Option<String>,
    /// Only those open past their due time.
    pub overdue: Option<bool>,
}

/// Follow-ups across incidents, by due time (undated last).
#[utoipa::path(get, path = "/api/v1/follow-ups", tag = "postmortem", params(FollowUpQuery),
    security(("bearer" = [])), responses((status = 200, body = [FollowUpResponse]), (status = 422, body = Problem)))]
pub async fn follow_ups(
    State(app): State<Arc<App>>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<FollowUpQuery>,
) -> ApiResult<Json<Vec<FollowUpResponse>>> {
    let now = app.clock.now();
    let filter = FollowUpFilter {
        statuses: q.state.as_deref().map(str::parse::<ActionStatus>).transpose()?.into_iter().collect(),
        owner: owner(q.owner)?,
        overdue_at: q.overdue.unwrap_or(false).then_some(now),
        incident: None,
    };
    let all = app.follow_ups(&filter).await?;
    Ok(Json(all.iter().map(|f| follow_up_response(f, now)).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct TrackerWebhookResponse {
    /// Where new follow-ups are posted; null: nowhere.
    pub url: Option<String>,
    /// Shown once, when it is set.
    pub secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackerWebhookRequest {
    /// An http:// or https:// URL.
    #[schema(schema_with = crate::dto::schema::webhook_url)]
    pub url: String,
    /// What Muster signs with (`x-muster-signature`); none: one is made.
    #[schema(schema_with = crate::dto::schema::support_secret_or_null)]
    pub secret: Option<String>,
}

/// Where new follow-ups are posted for a tracker to mirror them.
#[utoipa::path(get, path = "/api/v1/settings/follow-up-webhook", tag = "postmortem", security(("bearer" = [])),
    responses((status = 200, body = TrackerWebhookResponse)))]
pub async fn get_tracker_webhook(
    State(app): State<Arc<App>>,
    _caller: Caller,
) -> ApiResult<Json<TrackerWebhookResponse>> {
    Ok(Json(TrackerWebhookResponse { url: app.follow_up_webhook().await?, secret: None }))
}

/// Post each new follow-up (`follow_up.created`, signed as Muster signs
/// its webhooks) to a tracker (admins).
#[utoipa::path(put, path = "/api/v1/settings/follow-up-webhook", tag = "postmortem", security(("bearer" = [])),
    request_body = TrackerWebhookRequest,
    responses((status = 200, body = TrackerWebhookResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_tracker_webhook(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<TrackerWebhookRequest>,
) -> ApiResult<Json<TrackerWebhookResponse>> {
    let (url, secret) = app.set_follow_up_webhook(&actor, &b.url, b.secret).await?;
    Ok(Json(TrackerWebhookResponse { url: Some(url), secret: Some(secret) }))
}

/// Stop posting new follow-ups to the tracker (admins).
#[utoipa::path(delete, path = "/api/v1/settings/follow-up-webhook", tag = "postmortem", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem)))]
pub async fn remove_tracker_webhook(State(app): State<Arc<App>>, Caller(actor): Caller) -> ApiResult<StatusCode> {
    app.remove_follow_up_webhook(&actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
