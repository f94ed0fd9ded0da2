//! Pages: sending them from an incident, answering them, following them;
//! notification rules; and the signed answer links in notifications.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use muster_domain::page::{NotificationRule, PageState, PageTarget};
use muster_store::{Delivery, PageFilter, PageRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::incident_ref;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use muster_app::pager::Answer;
use muster_app::{App, parse_handle};

/// Whom to page: exactly one of `user`, `schedule` (whoever is on call) or
/// `policy` (an escalation policy, step by step).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageTargetRequest {
    #[schema(schema_with = crate::dto::schema::handle_or_null)]
    pub user: Option<String>,
    pub schedule: Option<u64>,
    pub policy: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageRequest {
    #[schema(schema_with = crate::dto::schema::page_target)]
    pub target: PageTargetRequest,
    /// What the paged people read first.
    #[schema(schema_with = crate::dto::schema::message)]
    pub message: String,
    /// A role whoever acknowledges takes on, e.g. `tech_lead`.
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub job: u64,
    /// `webhook` or `email`.
    pub kind: String,
    pub to: String,
    pub person: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub due_at: String,
    pub attempts: u32,
    /// When the receiver took it; absent while it is pending or retrying.
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub delivered_at: Option<String>,
    /// When Muster gave up on it after its last attempt (it is dead-lettered).
    #[schema(schema_with = crate::dto::schema::date_time_or_null)]
    pub gave_up_at: Option<String>,
    pub last_error: Option<String>,
}

/// An escalation step that reached nobody; the page went on at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreachableStepResponse {
    /// Counting from 1, repeats included.
    pub step: u32,
    /// Who could not be reached and why, e.g. `@bob has no contact method`.
    pub why: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse {
    pub id: u64,
    /// `pending`, `notified`, `acknowledged`, `declined`, `expired` or `cancelled`.
    #[schema(schema_with = crate::dto::schema::page_state)]
    pub state: String,
    /// `{"user": …}`, `{"schedule": …}` or `{"policy": …}`.
    #[schema(value_type = Object)]
    pub target: serde_json::Value,
    pub message: String,
    /// The incident, as `INC-7`.
    pub incident: Option<String>,
    pub alert: Option<u64>,
    /// The roles whoever acknowledges takes on.
    pub roles: Vec<String>,
    /// Escalation steps notified so far.
    pub step: u32,
    pub notified: Vec<String>,
    pub created_by: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub updated_at: String,
    /// Who acknowledged or declined it.
    pub answered_by: Option<String>,
    pub reason: Option<String>,
    /// The steps that reached nobody (nobody on call, no contact method,
    /// every notification given up), in order.
    pub unreachable: Vec<UnreachableStepResponse>,
    /// Where its notifications went (on `GET /api/v1/pages/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryResponse>>,
}

fn page_response(p: PageRecord, deliveries: Option<Vec<Delivery>>) -> PageResponse {
    PageResponse {
        id: p.id,
        state: p.state.as_str().into(),
        target: serde_json::to_value(&p.target).unwrap_or_default(),
        message: p.message,
        incident: p.incident.map(|n| format!("INC-{n}")),
        alert: p.alert,
        roles: p.roles.iter().map(|r| r.key().to_owned()).collect(),
        step: p.step,
        notified: p.notified.iter().map(|h| h.as_str().to_owned()).collect(),
        created_by: p.created_by.as_str().into(),
        created_at: p.created_at.to_string(),
        updated_at: p.updated_at.to_string(),
        answered_by: p.closed_by.map(|h| h.as_str().to_owned()),
        reason: p.reason,
        unreachable: p
            .unreachable
            .into_iter()
            .map(|u| UnreachableStepResponse { step: u.step, why: u.why, at: u.at.to_string() })
            .collect(),
        deliveries: deliveries.map(|ds| {
            ds.into_iter()
                .map(|d| DeliveryResponse {
                    job: d.job,
                    kind: d.kind,
                    to: d.to,
                    person: d.person,
                    due_at: d.due_at.to_string(),
                    attempts: d.attempts,
                    delivered_at: d.delivered_at.map(|t| t.to_string()),
                    gave_up_at: d.dead_at.map(|t| t.to_string()),
                    last_error: d.last_error,
                })
                .collect()
        }),
    }
}

fn target(t: PageTargetRequest) -> Result<PageTarget, ApiError> {
    match (t.user, t.schedule, t.policy) {
        (Some(u), None, None) => Ok(PageTarget::User(parse_handle(&u, "target.user")?)),
        (None, Some(s), None) => Ok(PageTarget::Schedule(s)),
        (None, None, Some(p)) => Ok(PageTarget::Policy(p)),
        _ => Err(muster_domain::DomainError::invalid("target", "name exactly one of user, schedule or policy").into()),
    }
}

fn page_id(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("id", format!("there is no page {s:?}")))
}

/// Page someone for an incident: a person, whoever is on call on a schedule,
/// or an escalation policy. With `role`, whoever acknowledges takes it on.
#[utoipa::path(post, path = "/api/v1/incidents/{ref}/pages", tag = "pages", security(("bearer" = [])),
    params(("ref" = String, Path)), request_body = PageRequest,
    responses((status = 201, body = PageResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "not sent: the incident is resolved (\"not sent: INC-6 is resolved; …\") or closed"),
        (status = 422, body = Problem)))]
pub async fn create_page(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(r): Path<String>,
    ApiJson(body): ApiJson<PageRequest>,
) -> ApiResult<(StatusCode, Json<PageResponse>)> {
    let r = incident_ref(&r)?;
    app.incident(r).await?;
    let t = target(body.target)?;
    let page = app.page_for_incident(&actor, r, t, &body.message, body.role.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(page_response(page, None))))
}

/// The pages of an incident, newest first, paged and filtered like
/// `GET /api/v1/pages`. A full page carries `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/api/v1/incidents/{ref}/pages", tag = "pages", security(("bearer" = [])),
    params(("ref" = String, Path), PageListQuery),
    responses((status = 200, body = [PageResponse],
            headers(("Link" = String, description = "`</api/v1/incidents/INC-7/pages?limit=…&before=…>; rel=\"next\"` while there may be more"))),
        (status = 400, body = Problem, description = "a `limit`, `state`, `before`, `alert` or `open` that is not one"),
        (status = 404, body = Problem)))]
pub async fn incident_pages(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(r): Path<String>,
    ApiQuery(q): ApiQuery<PageListQuery>,
) -> ApiResult<Response> {
    let r = incident_ref(&r)?;
    app.incident(r).await?;
    listed(&app, Some(r.0), &q, &format!("/api/v1/incidents/INC-{}/pages", r.0)).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageListQuery {
    /// Only pages still escalating.
    pub open: Option<bool>,
    /// Only the pages of this alert.
    #[param(schema_with = crate::dto::schema::u64_param)]
    pub alert: Option<u64>,
    /// Comma-separated: pending, notified, acknowledged, declined, expired, cancelled.
    #[param(schema_with = crate::dto::schema::page_states_param)]
    pub state: Option<String>,
    /// Only pages with a smaller id (the next page).
    #[param(schema_with = crate::dto::schema::u64_param)]
    pub before: Option<u64>,
    /// 1 to 1000, default 100.
    #[param(schema_with = crate::dto::schema::limit)]
    pub limit: Option<u32>,
}

/// Recent pages, newest first; filter by state, alert, or still escalating.
/// A full page carries `Link: <…>; rel="next"`.
#[utoipa::path(get, path = "/api/v1/pages", tag = "pages", security(("bearer" = [])), params(PageListQuery),
    responses((status = 200, body = [PageResponse],
            headers(("Link" = String, description = "`</api/v1/pages?limit=…&before=…>; rel=\"next\"` while there may be more"))),
        (status = 400, body = Problem, description = "a `limit`, `state`, `before`, `alert` or `open` that is not one")))]
pub async fn list_pages(
    State(app): State<Arc<App>>,
    _c: Caller,
    ApiQuery(q): ApiQuery<PageListQuery>,
) -> ApiResult<Response> {
    listed(&app, None, &q, "/api/v1/pages").await
}

/// One paged listing of pages (of one incident, or all), newest first,
/// with the `Link` to the next page at `path`.
async fn listed(app: &App, incident: Option<u64>, q: &PageListQuery, path: &str) -> ApiResult<Response> {
    let limit = super::page_size(q.limit, 100)?;
    let states = match q.state.as_deref() {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse::<PageState>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| match e {
                muster_domain::DomainError::Invalid { message, .. } => {
                    ApiError::field(StatusCode::BAD_REQUEST, "invalid-query", "state", message)
                }
                other => other.into(),
            })?,
    };
    let filter = PageFilter {
        incident,
        alert: q.alert,
        open: q.open.unwrap_or(false),
        states,
        before: q.before,
        notified: None,
        unreachable: false,
        limit,
    };
    let found = app.pages(&filter).await?;
    let last = found.last().map(|p| p.id);
    let full = found.len() == limit as usize;
    let body: Vec<PageResponse> = found.into_iter().map(|p| page_response(p, None)).collect();
    let mut response = Json(body).into_response();
    if full && let Some(last) = last {
        let mut url = format!("{path}?limit={limit}&before={last}");
        if let Some(s) = &q.state {
            url.push_str(&format!("&state={s}"));
        }
        if let Some(a) = q.alert {
            url.push_str(&format!("&alert={a}"));
        }
        if let Some(o) = q.open {
            url.push_str(&format!("&open={o}"));
        }
        response.headers_mut().extend(super::next_link(url));
    }
    Ok(response)
}

/// A page with where each of its notifications went.
#[utoipa::path(get, path = "/api/v1/pages/{id}", tag = "pages", security(("bearer" = [])),
    params(("id" = u64, Path)), responses((status = 200, body = PageResponse), (status = 404, body = Problem)))]
pub async fn get_page(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PageResponse>> {
    let (p, deliveries) = app.page(&actor, page_id(&id)?).await?;
    Ok(Json(page_response(p, Some(deliveries))))
}

/// Acknowledge a page: its escalation stops, and the caller takes on the
/// roles it asked for. Acknowledging an alert's page acknowledges the alert.
#[utoipa::path(post, path = "/api/v1/pages/{id}/acknowledge", tag = "pages", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PageResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn acknowledge_page(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PageResponse>> {
    Ok(Json(page_response(app.acknowledge_page(&actor, page_id(&id)?).await?, None)))
}

/// Decline a page: it goes on to its next escalation step at once, or ends
/// as declined when there is none.
#[utoipa::path(post, path = "/api/v1/pages/{id}/decline", tag = "pages", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PageResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn decline_page(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PageResponse>> {
    Ok(Json(page_response(app.decline_page(&actor, page_id(&id)?).await?, None)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRuleRequest {
    #[schema(schema_with = crate::dto::schema::u64_value)]
    pub contact_method: u64,
    /// Seconds after the person is paged (0: at once), at most a day.
    #[schema(maximum = 86_400)]
    #[serde(default)]
    pub delay_seconds: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRuleResponse {
    pub id: u64,
    pub contact_method: u64,
    pub delay_seconds: u32,
}

/// Add a notification rule: which contact method, how long after being
/// paged. Someone without rules is notified on every method at once.
#[utoipa::path(post, path = "/api/v1/users/{handle}/notification-rules", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = NotificationRuleRequest,
    responses((status = 201, body = NotificationRuleResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_notification_rule(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<NotificationRuleRequest>,
) -> ApiResult<(StatusCode, Json<NotificationRuleResponse>)> {
    let handle = parse_handle(&handle, "handle").map_err(|e| ApiError::not_found("handle", e.to_string()))?;
    let rule = NotificationRule { contact_method: body.contact_method, delay_seconds: body.delay_seconds };
    let r = app.add_notification_rule(&actor, &handle, rule).await?;
    let body = NotificationRuleResponse {
        id: r.id,
        contact_method: r.rule.contact_method,
        delay_seconds: r.rule.delay_seconds,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/api/v1/users/{handle}/notification-rules", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), responses((status = 200, body = [NotificationRuleResponse]), (status = 404, body = Problem)))]
pub async fn list_notification_rules(
    State(app): State<Arc<App>>,
    _c: Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<NotificationRuleResponse>>> {
    let handle = parse_handle(&handle, "handle").map_err(|e| ApiError::not_found("handle", e.to_string()))?;
    let rules = app.notification_rules(&handle).await?;
    Ok(Json(
        rules
            .into_iter()
            .map(|r| NotificationRuleResponse {
                id: r.id,
                contact_method: r.rule.contact_method,
                delay_seconds: r.rule.delay_seconds,
            })
            .collect(),
    ))
}

/// Remove a notification rule (the user themself, or an admin).
#[utoipa::path(delete, path = "/api/v1/users/{handle}/notification-rules/{id}", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path), ("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem, description = "no such user, or the user has no notification rule `id`")))]
pub async fn remove_notification_rule(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let handle = parse_handle(&handle, "handle").map_err(|e| ApiError::not_found("handle", e.to_string()))?;
    let id: u64 = id.parse().map_err(|_| ApiError::not_found("id", format!("there is no notification rule {id:?}")))?;
    app.remove_notification_rule(&actor, &handle, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// The answer links in notifications: `GET` shows what the link does and a
// button, `POST` (the button, or a chat bot) does it. A `GET` never changes
// anything, because mail scanners open links before people do.

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    sig: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t} · Muster</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}}\
         button{{font-size:1.1rem;padding:.6rem 1.2rem}}@media(prefers-color-scheme:dark){{body{{background:#111;color:#eee}}}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (status, Html(doc)).into_response()
}

/// The page and the answer a link's path names; `None` means a 404 page.
fn link_target(id: &str, action: &str) -> Option<(u64, Answer)> {
    let answer = match action {
        "ack" => Some(Answer::Acknowledge),
        "decline" => Some(Answer::Decline),
        _ => None,
    };
    Some((id.parse::<u64>().ok()?, answer?))
}

fn no_such_page() -> Response {
    html_page(StatusCode::NOT_FOUND, "Not found", "<p>There is no such page.</p>")
}

fn link_error(e: ApiError) -> Response {
    let (status, text) = (e.status, e.detail);
    let title = if status == StatusCode::FORBIDDEN { "This link is not valid" } else { "Not done" };
    html_page(status, title, &format!("<p>{}</p>", escape(&text)))
}

/// Shows a page and a button that answers it as the person the link is for.
pub async fn answer_link_form(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<LinkQuery>,
) -> Response {
    let Some((id, answer)) = link_target(&id, &action) else { return no_such_page() };
    let valid = match muster_domain::Handle::parse(&q.user) {
        Ok(h) => app.pager.verify(answer, id, &h, &q.sig).await.unwrap_or(false),
        Err(_) => false,
    };
    if !valid {
        return html_page(StatusCode::FORBIDDEN, "This link is not valid", "<p>Ask for a new page.</p>");
    }
    let p = match app.page_record(id).await {
        Ok(p) => p,
        Err(e) => return link_error(e.into()),
    };
    let verb = if answer == Answer::Acknowledge { "Acknowledge" } else { "Decline" };
    let incident =
        p.incident.map(|n| format!("<p>Incident: <a href=\"/incidents/INC-{n}\">INC-{n}</a></p>")).unwrap_or_default();
    let form = if p.state.is_open() {
        let says = match answer {
            Answer::Acknowledge => match muster_domain::Handle::parse(&q.user) {
                Ok(h) => app.acknowledging_says(id, &h).await.unwrap_or_default(),
                Err(_) => String::new(),
            },
            Answer::Decline => {
                "This tells Muster it is not you: the page goes on to its next step, if it has one.".to_owned()
            }
        };
        format!(
            "<p class=\"says\">{}</p><form method=\"post\"><button type=\"submit\">{verb} as @{}</button></form>",
            escape(&says),
            escape(&q.user)
        )
    } else {
        format!("<p>This page is {} already.</p>", p.state)
    };
    let body = format!("<p><strong>{}</strong></p>{incident}{form}", escape(&p.message));
    html_page(StatusCode::OK, &format!("Page {id}"), &body)
}

/// Answers a page as the person the signed link is for.
pub async fn answer_link(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<LinkQuery>,
) -> Response {
    let Some((id, answer)) = link_target(&id, &action) else { return no_such_page() };
    match app.answer_by_link(answer, id, &q.user, &q.sig).await {
        Ok(p) => {
            let what = match p.state {
                muster_domain::page::PageState::Acknowledged => "Acknowledged. The escalation has stopped.".to_owned(),
                muster_domain::page::PageState::Declined => "Declined.".to_owned(),
                _ => "Declined; the page goes on to the next step.".to_owned(),
            };
            let roles = if p.state == muster_domain::page::PageState::Acknowledged && !p.roles.is_empty() {
                let names: Vec<String> = p.roles.iter().map(muster_domain::RoleKind::name).collect();
                format!("<p>You are now {}.</p>", escape(&names.join(" and ")))
            } else {
                String::new()
            };
            let incident = p
                .incident
                .map(|n| format!("<p><a href=\"/incidents/INC-{n}\">Open INC-{n}</a></p>"))
                .unwrap_or_default();
            html_page(StatusCode::OK, &format!("Page {id}"), &format!("<p>{what}</p>{roles}{incident}"))
        }
        Err(e) => link_error(e.into()),
    }
}

/// Shows the open pages of a bundle (the follow-up of a storm) and a
/// button that acknowledges them all as the person it was sent to.
pub async fn ack_all_form(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<LinkQuery>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else { return no_such_page() };
    let valid = match muster_domain::Handle::parse(&q.user) {
        Ok(h) => app.pager.verify_ack_all(id, &h, &q.sig).await.unwrap_or(false),
        Err(_) => false,
    };
    if !valid {
        return html_page(StatusCode::FORBIDDEN, "This link is not valid", "<p>Ask for a new page.</p>");
    }
    let (b, open) = match app.open_bundle_pages(id).await {
        Ok(found) => found,
        Err(e) => return link_error(e.into()),
    };
    if open.is_empty() {
        let body = format!("<p>Every page of this storm on {} is answered already.</p>", escape(&b.service_name));
        return html_page(StatusCode::OK, "Nothing left to acknowledge", &body);
    }
    let items: String = open
        .iter()
        .take(100)
        .map(|p| {
            let incident = p.incident.map(|n| format!(" (<a href=\"/incidents/INC-{n}\">INC-{n}</a>)")).unwrap_or_default();
            format!("<li>Page {}: {}{incident}</li>", p.id, escape(&p.message))
        })
        .collect();
    let more = if open.len() > 100 { format!("<p>… and {} more.</p>", open.len() - 100) } else { String::new() };
    let body = format!(
        "<p>{} pages on {} are waiting for an answer:</p><ul>{items}</ul>{more}\
         <form method=\"post\"><button type=\"submit\">Acknowledge all {} as @{}</button></form>",
        open.len(),
        escape(&b.service_name),
        open.len(),
        escape(&q.user)
    );
    html_page(StatusCode::OK, &format!("{} pages on {}", open.len(), b.service_name), &body)
}

/// Acknowledges every open page of a bundle as the person its link is for.
pub async fn ack_all(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<LinkQuery>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else { return no_such_page() };
    match app.acknowledge_bundle_by_link(id, &q.user, &q.sig).await {
        Ok(done) => {
            let what = match done.len() {
                0 => "Nothing was left to acknowledge.".to_owned(),
                1 => "Acknowledged 1 page. Its escalation has stopped.".to_owned(),
                n => format!("Acknowledged {n} pages. Their escalations have stopped."),
            };
            let mut incidents: Vec<u64> = done.iter().filter_map(|p| p.incident).collect();
            incidents.sort_unstable();
            incidents.dedup();
            let links: String = incidents
                .iter()
                .take(10)
                .map(|n| format!("<p><a href=\"/incidents/INC-{n}\">Open INC-{n}</a></p>"))
                .collect();
            html_page(StatusCode::OK, "Acknowledged", &format!("<p>{what}</p>{links}"))
        }
        Err(e) => link_error(e.into()),
    }
}
