//! API tokens and the authenticated caller.
//!
//! The token itself is made and hashed in `muster_app::tokens`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use muster_app::tokens::hash_token;
use muster_domain::Actor;

use crate::error::ApiError;
use muster_app::App;

/// The caller, from `Authorization: Bearer <token>`; 401 otherwise.
pub struct Caller(pub Actor);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized("send an API token as Authorization: Bearer <token>"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be Bearer <token>"))?;
        match app.store.user_for_token(&hash_token(token)).await? {
            Some(user) => Ok(Caller(user.actor())),
            None => Err(ApiError::unauthorized("this API token is not valid")),
        }
    }
}
