use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use muster_domain::Permission;
use muster_store::NewUser;

use crate::auth::Caller;
use crate::dto::{NewTokenRequest, NewUserRequest, TokenInfo, TokenResponse, UserResponse};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, OptionalJson};
use muster_app::{App, parse_handle};
use muster_domain::token::TokenName;

fn parse_email(s: &str) -> Result<String, muster_domain::DomainError> {
    let s = s.trim();
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !s.contains(char::is_whitespace);
    if ok {
        Ok(s.to_owned())
    } else {
        Err(muster_domain::DomainError::invalid("email", format!("{s:?} is not an email address")))
    }
}

/// Create a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest, security(("bearer" = [])),
    responses((status = 201, body = UserResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    actor.require_admin()?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || body.name.chars().count() > 100 {
        return Err(crate::error::ApiError::invalid("name", "a name has 1-100 characters"));
    }
    let user = NewUser {
        handle: parse_handle(&body.handle, "handle")?,
        name,
        email: parse_email(&body.email)?,
        permission: body.permission.as_deref().map(str::parse::<Permission>).transpose()?.unwrap_or_default(),
        time_zone: None,
    };
    if let Some(p) = &body.password {
        muster_app::signin::check_password(p)?;
    }
    if let Some(zone) = &body.time_zone {
        muster_domain::schedule::time_zone(zone)?;
    }
    let mut user = app.create_user_reached(&actor, user, body.email_contact_method.unwrap_or(true)).await?;
    if let Some(p) = &body.password {
        app.set_password(&actor, &user.handle, p).await?;
    }
    if let Some(zone) = &body.time_zone {
        user = app.set_time_zone(&actor, &user.handle, Some(zone)).await?;
    }
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), responses((status = 200, body = [UserResponse])))]
pub async fn list_users(State(app): State<Arc<App>>, _caller: Caller) -> ApiResult<Json<Vec<UserResponse>>> {
    Ok(Json(app.store.users().await?.into_iter().map(Into::into).collect()))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{handle}", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), responses((status = 200, body = UserResponse), (status = 404, body = Problem)))]
pub async fn get_user(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<UserResponse>> {
    let handle =
        parse_handle(&handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))?;
    Ok(Json(app.user(&handle).await?.into()))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("bearer" = [])), responses((status = 200, body = UserResponse)))]
pub async fn whoami(State(app): State<Arc<App>>, Caller(actor): Caller) -> ApiResult<Json<UserResponse>> {
    Ok(Json(app.user(&actor.handle).await?.into()))
}

fn path_handle(handle: &str) -> ApiResult<muster_domain::Handle> {
    parse_handle(handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))
}

/// Create an API token: admins for anyone, users for themselves. The body
/// may be left out (a token named `api` that never expires).
#[utoipa::path(post, path = "/api/v1/users/{handle}/tokens", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body(content = Option<NewTokenRequest>, description = "optional"),
    responses((status = 201, body = TokenResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
    OptionalJson(body): OptionalJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    actor.require_write()?;
    let handle = path_handle(&handle)?;
    let name = body.name.as_deref().map(TokenName::parse).transpose()?.unwrap_or_default();
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|s| s.parse().map_err(|_| crate::error::ApiError::invalid("expires_at", "not an RFC 3339 time")))
        .transpose()?;
    let (token, record) = app.issue_token(&actor, &handle, name, expires_at).await?;
    Ok((StatusCode::CREATED, Json(TokenResponse { token, about: record.into() })))
}

/// A user's tokens, working or expired, without their secrets: the user
/// themself or an admin. Revoked tokens are not listed.
#[utoipa::path(get, path = "/api/v1/users/{handle}/tokens", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = [TokenInfo]), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let handle = path_handle(&handle)?;
    Ok(Json(app.tokens(&actor, &handle).await?.into_iter().map(Into::into).collect()))
}

/// Revoke a token (the user themself or an admin): it gets 401 from now on,
/// and live streams using it close.
#[utoipa::path(delete, path = "/api/v1/users/{handle}/tokens/{id}", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path), ("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let handle = path_handle(&handle)?;
    let id: u64 =
        id.parse().map_err(|_| crate::error::ApiError::not_found("id", format!("there is no token {id:?}")))?;
    app.revoke_token(&actor, &handle, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CalendarTokenResponse {
    /// Shown once; goes in the feeds' URLs as `?token=`. It reads calendar
    /// feeds and nothing else.
    pub token: String,
    #[serde(flatten)]
    pub about: TokenInfo,
    /// This user's own feed, with the token.
    pub feed_url: String,
}

/// Make a calendar feed token (the user themself or an admin), replacing
/// the user's previous one: read-only, valid only for the calendar feeds.
#[utoipa::path(post, path = "/api/v1/users/{handle}/calendar-token", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 201, body = CalendarTokenResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn create_calendar_token(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
) -> ApiResult<(StatusCode, Json<CalendarTokenResponse>)> {
    let handle = path_handle(&handle)?;
    let (token, record) = app.issue_feed_token(&actor, &handle).await?;
    let feed_url = format!("{}/api/v1/users/{handle}/calendar.ics?token={token}", app.config.public_url);
    Ok((StatusCode::CREATED, Json(CalendarTokenResponse { token, about: record.into(), feed_url })))
}

/// Disable a user (admins only): their sessions end and their tokens are
/// revoked; they cannot sign in, use a token, be given a role or be paged.
/// They stay on past timelines.
#[utoipa::path(post, path = "/api/v1/users/{handle}/disable", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn disable_user(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<UserResponse>> {
    let handle = path_handle(&handle)?;
    Ok(Json(app.disable_user(&actor, &handle).await?.into()))
}

/// What a person may change about themself (an admin, about anyone).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    /// An IANA time zone such as `Europe/Berlin`; null clears it (UTC).
    /// Insights count the pages that reached the person at night and on
    /// weekends in it.
    #[serde(default, with = "super::updates::double_option")]
    #[schema(schema_with = crate::dto::schema::time_zone_or_null)]
    pub time_zone: Option<Option<String>>,
}

/// Change a person's profile: the person themself, or an admin.
#[utoipa::path(patch, path = "/api/v1/users/{handle}", tag = "users", request_body = UserPatchRequest, security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn patch_user(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<UserPatchRequest>,
) -> ApiResult<Json<UserResponse>> {
    let handle = path_handle(&handle)?;
    let user = match body.time_zone {
        Some(zone) => app.set_time_zone(&actor, &handle, zone.as_deref()).await?,
        None => {
            muster_domain::access::check(
                &actor,
                muster_domain::access::Action::EditProfile,
                &muster_domain::access::Standing::user(&handle, &actor),
            )?;
            app.user(&handle).await?
        }
    };
    Ok(Json(user.into()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactMethodRequest {
    /// `email` or `webhook`.
    pub kind: String,
    /// An email address, or an http(s) URL for a webhook.
    pub address: String,
}

impl utoipa::PartialSchema for ContactMethodRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::dto::schema::contact_method_request()
    }
}

impl utoipa::ToSchema for ContactMethodRequest {}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ContactMethodResponse {
    pub id: u64,
    #[schema(schema_with = crate::dto::schema::contact_kind)]
    pub kind: String,
    pub address: String,
    /// A webhook's HMAC-SHA256 signing secret: in the answer to its creation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(schema_with = crate::dto::schema::date_time)]
    pub created_at: String,
}

fn contact_response(c: muster_store::ContactMethod, with_secret: bool) -> ContactMethodResponse {
    ContactMethodResponse {
        id: c.id,
        kind: c.kind.as_str().into(),
        address: c.address,
        secret: c.secret.filter(|_| with_secret),
        created_at: c.created_at.to_string(),
    }
}

/// Add a way to reach a user (the user themself, or an admin).
#[utoipa::path(post, path = "/api/v1/users/{handle}/contact-methods", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = ContactMethodRequest,
    responses((status = 201, body = ContactMethodResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_contact_method(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<ContactMethodRequest>,
) -> ApiResult<(StatusCode, Json<ContactMethodResponse>)> {
    let handle =
        parse_handle(&handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))?;
    let kind: muster_domain::paging::ContactKind = body.kind.parse()?;
    let method = app.add_contact_method(&actor, &handle, kind, &body.address).await?;
    Ok((StatusCode::CREATED, Json(contact_response(method, true))))
}

/// A user's contact methods (secrets are never shown again; others than the
/// user and admins see only a webhook's scheme and host, an email's domain).
#[utoipa::path(get, path = "/api/v1/users/{handle}/contact-methods", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), responses((status = 200, body = [ContactMethodResponse]), (status = 404, body = Problem)))]
pub async fn list_contact_methods(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<ContactMethodResponse>>> {
    let handle =
        parse_handle(&handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))?;
    let methods = app.contact_methods(&actor, &handle).await?;
    Ok(Json(methods.into_iter().map(|c| contact_response(c, false)).collect()))
}

/// Remove a contact method (the user themself, or an admin), with the
/// notification rules that use it.
#[utoipa::path(delete, path = "/api/v1/users/{handle}/contact-methods/{id}", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path), ("id" = u64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem, description = "no such user, or the user has no contact method `id`")))]
pub async fn remove_contact_method(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let handle =
        parse_handle(&handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))?;
    let id: u64 = id
        .parse()
        .map_err(|_| crate::error::ApiError::not_found("id", format!("there is no contact method {id:?}")))?;
    app.remove_contact_method(&actor, &handle, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = TestNotificationResponse)]
pub struct TestNotificationResponse {
    /// The outbox job that delivers it.
    pub job: u64,
}

/// Send a test notification through a contact method.
#[utoipa::path(post, path = "/api/v1/users/{handle}/contact-methods/{id}/test", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path), ("id" = u64, Path)),
    responses((status = 202, body = TestNotificationResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem, description = "more than 5 test notifications for this user in a minute; see Retry-After")))]
pub async fn test_contact_method(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<TestNotificationResponse>)> {
    let handle =
        parse_handle(&handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))?;
    let id: u64 = id
        .parse()
        .map_err(|_| crate::error::ApiError::not_found("id", format!("there is no contact method {id:?}")))?;
    let job = app.test_notification(&actor, &handle, id).await?;
    Ok((StatusCode::ACCEPTED, Json(TestNotificationResponse { job })))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// 10-1024 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
}

/// Set a user's password for the web UI (the user themself, or an admin).
#[utoipa::path(post, path = "/api/v1/users/{handle}/password", tag = "users", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = PasswordRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_password(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> ApiResult<StatusCode> {
    let handle =
        parse_handle(&handle, "handle").map_err(|e| crate::error::ApiError::not_found("handle", e.to_string()))?;
    app.set_password(&actor, &handle, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
