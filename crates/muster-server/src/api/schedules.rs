//! On-call schedules: layers, overrides, who is on call, shifts and an
//! iCalendar feed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::Timestamp;
use muster_domain::schedule::{Layer, Shift, icalendar};
use muster_store::ScheduleRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use muster_app::{App, parse_handle};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    #[schema(schema_with = crate::dto::schema::name_100)]
    pub name: String,
    /// An IANA time zone, e.g. `Europe/Berlin`.
    #[schema(schema_with = crate::dto::schema::time_zone)]
    pub time_zone: String,
    /// `[{"rotation": {"users": ["alice","bob"], "shift": "1d", "handoff": "09:00", "start": "2026-03-23"},
    /// "restrict": [{"days": ["mon","tue"], "start": "09:00", "end": "17:00"}]}]`; later layers win.
    #[schema(schema_with = crate::dto::schema::layers)]
    pub layers: Vec<Layer>,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleResponse {
    pub id: u64,
    pub name: String,
    pub time_zone: String,
    #[schema(value_type = Vec<Object>)]
    pub layers: Vec<Layer>,
    pub overrides: Vec<OverrideResponse>,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
    /// When the schedule was made: what it will not do as given (e.g. a
    /// rotation starting years ahead puts nobody on call until then).
    /// Left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OverrideResponse {
    pub id: u64,
    pub user: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub start: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub end: String,
}

impl From<ScheduleRecord> for ScheduleResponse {
    fn from(r: ScheduleRecord) -> Self {
        ScheduleResponse {
            id: r.id,
            name: r.name,
            time_zone: r.time_zone,
            layers: r.layers,
            overrides: r
                .overrides
                .into_iter()
                .map(|o| OverrideResponse {
                    id: o.id,
                    user: o.user.to_string(),
                    start: o.start.to_string(),
                    end: o.end.to_string(),
                })
                .collect(),
            created_at: r.created_at.to_string(),
            warnings: Vec::new(),
        }
    }
}

fn id_of(s: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| ApiError::not_found("id", format!("there is no schedule {s:?}")))
}

fn instant(s: &str, field: &str) -> ApiResult<Timestamp> {
    s.parse().map_err(|_| ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", field, "not an RFC 3339 time"))
}

/// Create a schedule. A rotation listing someone twice is refused (422,
/// field `layers[i].rotation.users`); one starting more than 90 days ahead
/// is made, with `warnings` saying so.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "on-call", request_body = ScheduleRequest, security(("bearer" = [])),
    responses((status = 201, body = ScheduleResponse), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_schedule(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ScheduleRequest>,
) -> ApiResult<(StatusCode, Json<ScheduleResponse>)> {
    let (record, warnings) = app.create_schedule(&actor, body.name, body.time_zone, body.layers).await?;
    Ok((StatusCode::CREATED, Json(ScheduleResponse { warnings, ..record.into() })))
}

/// All schedules.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "on-call", security(("bearer" = [])), responses((status = 200, body = [ScheduleResponse])))]
pub async fn list_schedules(State(app): State<Arc<App>>, _c: Caller) -> ApiResult<Json<Vec<ScheduleResponse>>> {
    Ok(Json(app.store.schedules().await?.into_iter().map(Into::into).collect()))
}

/// One schedule with its overrides.
#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "on-call", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = ScheduleResponse), (status = 404, body = Problem)))]
pub async fn get_schedule(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleResponse>> {
    Ok(Json(app.schedule(id_of(&id)?).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    #[schema(schema_with = crate::dto::schema::handle)]
    pub user: String,
    /// RFC 3339.
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub start: String,
    /// RFC 3339, after `start`.
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub end: String,
}

/// Put someone on call for a while, whatever the layers say.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", tag = "on-call", security(("bearer" = [])), params(("id" = u64, Path)),
    request_body = OverrideRequest, responses((status = 201, body = OverrideResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_override(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OverrideRequest>,
) -> ApiResult<(StatusCode, Json<OverrideResponse>)> {
    let id = id_of(&id)?;
    let user = parse_handle(&body.user, "user")?;
    let start: Timestamp = body.start.parse().map_err(|_| ApiError::invalid("start", "not an RFC 3339 time"))?;
    let end: Timestamp = body.end.parse().map_err(|_| ApiError::invalid("end", "not an RFC 3339 time"))?;
    let o = app.add_override(&actor, id, user, start, end).await?;
    let body =
        OverrideResponse { id: o.id, user: o.user.to_string(), start: o.start.to_string(), end: o.end.to_string() };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// RFC 3339; default now.
    #[param(schema_with = crate::dto::schema::date_time_param)]
    pub at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OnCallResponse {
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
    pub users: Vec<String>,
}

/// Who is on call at an instant (default now).
#[utoipa::path(get, path = "/api/v1/schedules/{id}/on-call", tag = "on-call", security(("bearer" = [])), params(("id" = u64, Path), AtQuery),
    responses((status = 200, body = OnCallResponse), (status = 404, body = Problem)))]
pub async fn on_call(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> ApiResult<Json<OnCallResponse>> {
    let at = match q.at.as_deref() {
        Some(s) => instant(s, "at")?,
        None => app.clock.now(),
    };
    let schedule = app.schedule(id_of(&id)?).await?.schedule()?;
    let users = schedule.on_call(at).map(|u| vec![u.to_string()]).unwrap_or_default();
    Ok(Json(OnCallResponse { at: at.to_string(), users }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpanQuery {
    /// RFC 3339; default now.
    #[param(schema_with = crate::dto::schema::date_time_param)]
    pub from: Option<String>,
    /// RFC 3339; default two weeks after `from`; at most 366 days after it.
    #[param(schema_with = crate::dto::schema::date_time_param)]
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShiftResponse {
    pub user: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub start: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub end: String,
}

fn span(app: &App, q: &SpanQuery) -> ApiResult<(Timestamp, Timestamp)> {
    let from = match q.from.as_deref() {
        Some(s) => instant(s, "from")?,
        None => app.clock.now(),
    };
    let to = match q.to.as_deref() {
        Some(s) => instant(s, "to")?,
        None => from.checked_add(jiff::SignedDuration::from_hours(24 * 14)).unwrap_or(from),
    };
    Ok((from, to))
}

/// Who is on call from `from` to `to`, as shifts.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/shifts", tag = "on-call", security(("bearer" = [])), params(("id" = u64, Path), SpanQuery),
    responses((status = 200, body = [ShiftResponse]), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn shifts(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SpanQuery>,
) -> ApiResult<Json<Vec<ShiftResponse>>> {
    let (from, to) = span(&app, &q)?;
    let (_, shifts) = app.shifts(id_of(&id)?, from, to).await?;
    Ok(Json(shifts.iter().map(shift_response).collect()))
}

fn shift_response(s: &Shift) -> ShiftResponse {
    ShiftResponse { user: s.user.to_string(), start: s.start.to_string(), end: s.end.to_string() }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CalendarQuery {
    /// RFC 3339, default now. Without `from` and `to` the feed holds every
    /// shift from 30 days back to 180 days ahead, each with its real start;
    /// with either, the shifts in that span, cut to it.
    #[param(schema_with = crate::dto::schema::date_time_param)]
    pub from: Option<String>,
    /// RFC 3339; default two weeks after `from`; at most 366 days after it.
    #[param(schema_with = crate::dto::schema::date_time_param)]
    pub to: Option<String>,
    /// For calendar apps, which cannot send headers: a calendar feed token
    /// (`POST /api/v1/users/{handle}/calendar-token`), never an API token.
    pub token: Option<String>,
}

/// The feed's span: as the shift listing's if `from` or `to` is given
/// (`from` defaults to now, `to` to two weeks after `from`), else the feed
/// window.
fn feed_span(app: &App, q: &CalendarQuery) -> ApiResult<Option<(Timestamp, Timestamp)>> {
    if q.from.is_none() && q.to.is_none() {
        return Ok(None);
    }
    let q = SpanQuery { from: q.from.clone(), to: q.to.clone() };
    span(app, &q).map(Some)
}

fn calendar_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response()
}

/// The schedule as an iCalendar feed (`text/calendar`), for calendar apps to
/// subscribe to: one event per shift from 30 days back to 180 days ahead
/// (overrides shape the shifts), its UID the same at every fetch (schedule,
/// person, start), DTSTAMP and SEQUENCE the schedule's last revision. They
/// cannot send headers, so a calendar feed token goes in `?token=`; an API
/// token only in `Authorization: Bearer`.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/calendar.ics", tag = "on-call", params(("id" = u64, Path), CalendarQuery),
    responses((status = 200, content_type = "text/calendar", description = "RFC 5545"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn calendar(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Response> {
    crate::auth::feed_reader(&app, &headers, q.token.as_deref()).await?;
    let span = feed_span(&app, &q)?;
    let (record, events) = app.schedule_feed(id_of(&id)?, span).await?;
    Ok(calendar_response(icalendar(&format!("On call: {}", record.name), &events)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[schema(schema_with = crate::dto::schema::name_100)]
    pub name: String,
    /// How many more times the policy runs after its last step (0-10).
    #[serde(default)]
    #[schema(maximum = 10)]
    pub repeat: u32,
    /// `[{"delay_seconds": 300, "targets": [{"user": "alice"}, {"schedule": 1}]}]`
    #[schema(schema_with = crate::dto::schema::steps)]
    pub steps: Vec<muster_domain::paging::Step>,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyResponse {
    pub id: u64,
    pub name: String,
    pub repeat: u32,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<muster_domain::paging::Step>,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
}

impl From<muster_store::PolicyRecord> for PolicyResponse {
    fn from(r: muster_store::PolicyRecord) -> Self {
        PolicyResponse {
            id: r.id,
            name: r.policy.name,
            repeat: r.policy.repeat,
            steps: r.policy.steps,
            created_at: r.created_at.to_string(),
        }
    }
}

/// Create an escalation policy: steps of targets (people, schedules), each
/// waiting `delay_seconds` for an acknowledgement before the next.
#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "on-call", request_body = PolicyRequest, security(("bearer" = [])),
    responses((status = 201, body = PolicyResponse), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_policy(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<PolicyRequest>,
) -> ApiResult<(StatusCode, Json<PolicyResponse>)> {
    let policy = muster_domain::paging::EscalationPolicy::new(&body.name, body.repeat, body.steps)?;
    Ok((StatusCode::CREATED, Json(app.create_policy(&actor, policy).await?.into())))
}

/// All escalation policies.
#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "on-call", security(("bearer" = [])), responses((status = 200, body = [PolicyResponse])))]
pub async fn list_policies(State(app): State<Arc<App>>, _c: Caller) -> ApiResult<Json<Vec<PolicyResponse>>> {
    Ok(Json(app.store.policies().await?.into_iter().map(Into::into).collect()))
}

/// One escalation policy.
#[utoipa::path(get, path = "/api/v1/escalation-policies/{id}", tag = "on-call", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = PolicyResponse), (status = 404, body = Problem)))]
pub async fn get_policy(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PolicyResponse>> {
    let id: u64 = id.parse().map_err(|_| ApiError::not_found("id", format!("there is no escalation policy {id:?}")))?;
    Ok(Json(app.policy(id).await?.into()))
}

/// A person's shifts on every schedule as an iCalendar feed, as the
/// schedule's feed (the same shift has the same UID in both).
#[utoipa::path(get, path = "/api/v1/users/{handle}/calendar.ics", tag = "on-call", params(("handle" = String, Path), CalendarQuery),
    responses((status = 200, content_type = "text/calendar", description = "RFC 5545"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn user_calendar(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    Path(handle): Path<String>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Response> {
    crate::auth::feed_reader(&app, &headers, q.token.as_deref()).await?;
    let handle = parse_handle(&handle, "handle").map_err(|e| ApiError::not_found("handle", e.to_string()))?;
    app.user(&handle).await?;
    let span = feed_span(&app, &q)?;
    let events = app.user_feed(&handle, span).await?;
    Ok(calendar_response(icalendar(&format!("On call: @{handle}"), &events)))
}
