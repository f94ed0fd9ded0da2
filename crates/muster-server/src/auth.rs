//! API tokens and the authenticated caller.
//!
//! A token is `mst_` and 40 hex characters (160 random bits). Only its
//! SHA-256 is stored, so a leaked database does not leak working tokens.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use muster_domain::Actor;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::error::ApiError;

pub fn new_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    format!("mst_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

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
