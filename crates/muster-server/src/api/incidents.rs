use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::{Priority, Status, Timestamp};
use muster_store::{IncidentFilter, TimelineQuery};

use super::{incident_ref, next_link};
use crate::auth::Caller;
use crate::dto::{
    AssignRequest, AssignmentResponse, DeclareRequest, EntryResponse, IncidentListQuery, IncidentResponse,
    NewEntryRequest, TimelineListQuery, UpdateRequest,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use muster_app::{App, DeclareInput, EntryInput, parse_handle};
use serde::Serialize;
use utoipa::ToSchema;

fn created_incident(v: &muster_app::IncidentView) -> Response {
    let location = format!("/api/v1/incidents/{}", v.incident.reference());
    let mut response = (StatusCode::CREATED, Json(IncidentResponse::from(v))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Declare an incident. The caller becomes first responder and, unless
/// another is named, incident manager.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = DeclareRequest, security(("bearer" = [])),
    responses((status = 201, body = IncidentResponse), (status = 400, body = Problem), (status = 403, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn declare(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<DeclareRequest>,
) -> ApiResult<Response> {
    let input = DeclareInput {
        title: body.title,
        summary: body.summary.unwrap_or_default(),
        priority: body.priority.parse()?,
        incident_manager: body.incident_manager.as_deref().map(|h| parse_handle(h, "incident_manager")).transpose()?,
    };
    let view = app.declare(&actor, input).await?;
    Ok(created_incident(&view))
}

fn list_of<T: std::str::FromStr<Err = muster_domain::DomainError>>(s: Option<&str>) -> Result<Vec<T>, ApiError> {
    s.map(|s| s.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect::<Result<Vec<T>, _>>())
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| match e {
            muster_domain::DomainError::Invalid { field, message } => {
                ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", field, message)
            }
            other => other.into(),
        })
}

/// List incidents, newest first; filter by status and priority. A full page
/// carries `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentListQuery), security(("bearer" = [])),
    responses((status = 200, body = [IncidentResponse]), (status = 400, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<IncidentListQuery>,
) -> ApiResult<Response> {
    let limit = super::page_size(q.limit, 50)?;
    let filter = IncidentFilter {
        statuses: list_of::<Status>(q.status.as_deref())?,
        priorities: list_of::<Priority>(q.priority.as_deref())?,
        before: q.before,
        limit,
        ..IncidentFilter::default()
    };
    let found = app.incidents(&filter).await?;
    let body: Vec<IncidentResponse> = found.iter().map(IncidentResponse::from).collect();
    let mut response = Json(body).into_response();
    if found.len() == limit as usize
        && let Some(last) = found.last()
    {
        let mut url = format!("/api/v1/incidents?limit={limit}&before={}", last.incident.number);
        for (key, value) in [("status", &q.status), ("priority", &q.priority)] {
            if let Some(v) = value {
                url.push_str(&format!("&{key}={v}"));
            }
        }
        response.headers_mut().extend(next_link(url));
    }
    Ok(response)
}

/// One incident.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}", tag = "incidents", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")), responses((status = 200, body = IncidentResponse), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<IncidentResponse>> {
    let view = app.incident(incident_ref(&r)?).await?;
    Ok(Json(IncidentResponse::from(&view)))
}

/// Change the title, summary, priority or status.
#[utoipa::path(patch, path = "/api/v1/incidents/{ref}", tag = "incidents", request_body = UpdateRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = IncidentResponse), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<UpdateRequest>,
) -> ApiResult<Json<IncidentResponse>> {
    let r = incident_ref(&r)?;
    let priority = body.priority.as_deref().map(str::parse::<Priority>).transpose()?;
    let status = body.status.as_deref().map(str::parse::<Status>).transpose()?;
    let view = app.update(&actor, r, body.title, body.summary, priority, status).await?;
    Ok(Json(IncidentResponse::from(&view)))
}

/// Assign a role. Only the incident manager, the backup and admins may.
/// Assigning a new incident manager is a handover.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/roles", tag = "roles", request_body = AssignRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 201, body = AssignmentResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn assign_role(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> ApiResult<(StatusCode, Json<AssignmentResponse>)> {
    let r = incident_ref(&r)?;
    let user = parse_handle(&body.user, "user")?;
    let assignment = app.assign(&actor, r, &body.role, &user, body.scope.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(AssignmentResponse::from(&assignment))))
}

/// The current role assignments.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/roles", tag = "roles", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")), responses((status = 200, body = [AssignmentResponse]), (status = 404, body = Problem)))]
pub async fn list_roles(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<Vec<AssignmentResponse>>> {
    let view = app.incident(incident_ref(&r)?).await?;
    Ok(Json(view.incident.roles.iter().map(AssignmentResponse::from).collect()))
}

/// Relieve someone of a role. Anyone may relieve themselves; relieving the
/// incident manager promotes the backup, and is refused without one.
#[utoipa::path(delete, path = "/api/v1/incidents/{ref}/roles/{id}", tag = "roles", security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7"), ("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn relieve_role(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((r, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let r = incident_ref(&r)?;
    let id: u64 = id.parse().map_err(|_| ApiError::not_found("id", format!("{r} has no role assignment {id:?}")))?;
    app.relieve(&actor, r, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_cursor(s: &str) -> Result<(Timestamp, u64), ApiError> {
    let bad = || ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", "after", "not a cursor from a Link header");
    let (at, seq) = s.split_once('.').ok_or_else(bad)?;
    let at = Timestamp::from_microsecond(at.parse().map_err(|_| bad())?).map_err(|_| bad())?;
    Ok((at, seq.parse().map_err(|_| bad())?))
}

/// What verifying a timeline found.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    /// Whether the whole chain holds.
    pub ok: bool,
    /// How many entries the timeline holds (folded ones too).
    pub entries: u64,
    /// The last entry's hash: what a postmortem or an export can quote so
    /// that a later check shows nothing before it changed.
    pub head: Option<String>,
    /// The first entry that breaks the chain.
    pub broken: Option<BrokenEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct BrokenEntry {
    /// The entry's `id` on the timeline.
    pub id: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Verify the timeline as stored: every entry numbered in order, each hash
/// the SHA-256 of the previous hash and the entry, the stored columns
/// agreeing with the entry. A change made behind Muster's back is named by
/// its first broken entry (`ok: false`).
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/timeline/verify", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7")),
    security(("bearer" = [])), responses((status = 200, body = VerifyResponse), (status = 404, body = Problem)))]
pub async fn verify_timeline(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
) -> ApiResult<Json<VerifyResponse>> {
    let check = app.verify_timeline(incident_ref(&r)?).await?;
    Ok(Json(VerifyResponse {
        ok: check.ok(),
        entries: check.entries,
        head: check.head,
        broken: check.broken.map(|b| BrokenEntry { id: b.seq, reason: b.reason }),
    }))
}

/// The timeline in the order things happened, paged (`Link: rel="next"`;
/// a page may hold fewer than `limit` entries, folded ones left out). A
/// topic change is shown with the entry that caused it (`topic` on it),
/// the relief half of a handover with its assignment; `?all=true` or
/// `?kind=topic_changed` lists them too.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/timeline", tag = "timeline", params(("ref" = String, Path, description = "INC-7 or 7"), TimelineListQuery),
    security(("bearer" = [])), responses((status = 200, body = [EntryResponse]), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn timeline(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(r): Path<String>,
    ApiQuery(q): ApiQuery<TimelineListQuery>,
) -> ApiResult<Response> {
    let r = incident_ref(&r)?;
    let limit = super::page_size(q.limit, 1000)?;
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    // Kinds are lower-case words: anything else (a NUL byte, say, which
    // PostgreSQL refuses in a string) is a mistake to name, not to look up.
    if let Some(k) = &q.kind
        && (k.len() > 1000 || !k.chars().all(|c| c.is_ascii_lowercase() || matches!(c, '_' | ',' | ' ')))
    {
        return Err(ApiError::invalid(
            "kind",
            "entry kinds are lower-case words, comma-separated: e.g. theory,decision",
        ));
    }
    let kinds: Vec<String> = q
        .kind
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let every = q.all.unwrap_or(false) || !kinds.is_empty();
    let events = app.timeline(r, &TimelineQuery { after, limit, kinds, ..TimelineQuery::default() }).await?;
    let folds = muster_domain::timeline::fold(&events);
    // A folded entry whose companion is on another page stands alone.
    let here: std::collections::HashSet<u64> = events.iter().map(|e| e.seq).collect();
    let body: Vec<EntryResponse> = events
        .iter()
        .zip(folds)
        .filter(|(_, f)| every || f.folded_into.is_none_or(|c| !here.contains(&c)))
        .map(|(e, f)| EntryResponse { topic: f.topic, folded_into: f.folded_into, ..EntryResponse::from(e) })
        .collect();
    let mut response = Json(body).into_response();
    if events.len() == limit as usize
        && let Some(last) = events.last()
    {
        let mut url =
            format!("/api/v1/incidents/{r}/timeline?limit={limit}&after={}.{}", last.at.as_microsecond(), last.seq);
        if let Some(kind) = q.kind.as_deref().filter(|k| !k.trim().is_empty()) {
            url.push_str(&format!("&kind={}", form_urlencoded::byte_serialize(kind.as_bytes()).collect::<String>()));
        }
        if q.all == Some(true) {
            url.push_str("&all=true");
        }
        response.headers_mut().extend(next_link(url));
    }
    Ok(response)
}

/// Write a timeline entry: a note, theory, decision, action or milestone.
/// Entries are never changed; a correction is a new entry with `corrects`.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/timeline", tag = "timeline", request_body = NewEntryRequest, security(("bearer" = [])),
    params(("ref" = String, Path, description = "INC-7 or 7")),
    responses((status = 201, body = EntryResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_entry(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<NewEntryRequest>,
) -> ApiResult<(StatusCode, Json<EntryResponse>)> {
    let r = incident_ref(&r)?;
    let input = EntryInput {
        kind: body.kind.parse()?,
        text: body.text,
        tag: body.tag.as_deref().map(str::parse).transpose()?,
        corrects: body.corrects,
        occurred_at: body
            .occurred_at
            .as_deref()
            .map(|s| s.parse::<Timestamp>())
            .transpose()
            .map_err(|e| ApiError::invalid("occurred_at", format!("not an RFC 3339 time: {e}")))?,
        workstream: body
            .workstream
            .as_deref()
            .map(|w| muster_domain::Scope::workstream(w, "workstream"))
            .transpose()?,
    };
    let event = app.add_entry(&actor, r, input).await?;
    Ok((StatusCode::CREATED, Json(EntryResponse::from(&event))))
}
