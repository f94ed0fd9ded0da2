//! API tokens and the authenticated caller.
//!
//! The token itself is made and hashed in `muster_app::tokens`, and whether
//! it is accepted (not revoked, not expired, its user not disabled, the
//! right kind) is decided by `App::authenticate`; this module reads it from
//! the request and turns a refusal into a problem document.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use muster_app::tokens::TokenError;
use muster_domain::Actor;
use muster_domain::token::{Refusal, TokenKind};
use muster_store::User;

use crate::error::ApiError;
use muster_app::App;

/// The caller, from `Authorization: Bearer <API token>`; 401 otherwise (403
/// for a disabled user).
pub struct Caller(pub Actor);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(ApiError::unauthorized("send an API token as Authorization: Bearer <token>"));
        }
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be Bearer <token>"))?;
        let user = app.authenticate(token, TokenKind::Api).await.map_err(|e| token_problem(e, TokenKind::Api))?;
        Ok(Caller(user.actor()))
    }
}

/// The token in `Authorization: Bearer <token>`, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Who reads a calendar feed: a calendar feed token in `?token=` (calendar
/// apps cannot send headers) or in `Authorization: Bearer`, or an API
/// token in `Authorization: Bearer`. An API token in the URL is refused:
/// URLs end up in logs, calendar apps and shared links.
pub async fn feed_reader(app: &App, headers: &HeaderMap, query_token: Option<&str>) -> Result<User, ApiError> {
    if let Some(token) = query_token {
        return app.authenticate(token, TokenKind::Feed).await.map_err(|e| token_problem(e, TokenKind::Feed));
    }
    let Some(token) = bearer(headers) else {
        return Err(ApiError::unauthorized(
            "add ?token=<calendar feed token> to the feed's URL (POST /api/v1/users/{handle}/calendar-token \
             makes one), or send an API token as Authorization: Bearer",
        ));
    };
    match app.authenticate(token, TokenKind::Api).await {
        Err(TokenError::Refused(Refusal::WrongKind { got: TokenKind::Feed, .. })) => {
            app.authenticate(token, TokenKind::Feed).await.map_err(|e| token_problem(e, TokenKind::Feed))
        }
        other => other.map_err(|e| token_problem(e, TokenKind::Api)),
    }
}

/// The problem document for a token that was not accepted: 401, or 403
/// when its user is disabled.
pub fn token_problem(e: TokenError, wanted: TokenKind) -> ApiError {
    match e {
        TokenError::Unknown => ApiError::unauthorized(match wanted {
            TokenKind::Api => "this API token is not valid",
            TokenKind::Feed => "this calendar feed token is not valid",
        }),
        TokenError::Refused(r) => {
            let (status, slug) = match &r {
                Refusal::Revoked(_) => (StatusCode::UNAUTHORIZED, "token-revoked"),
                Refusal::Expired(_) => (StatusCode::UNAUTHORIZED, "token-expired"),
                Refusal::Disabled(_) => (StatusCode::FORBIDDEN, "user-disabled"),
                Refusal::WrongKind { .. } => (StatusCode::UNAUTHORIZED, "wrong-token-kind"),
            };
            ApiError::new(status, slug, r.to_string())
        }
        TokenError::Failed(e) => e.into(),
    }
}
