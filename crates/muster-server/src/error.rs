//! One error type for the HTTP edge, rendered as RFC 9457
//! `application/problem+json`. Internal errors are logged once, here, and
//! shown as a generic message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::DomainError;
use muster_store::StoreError;
use serde::Serialize;

/// The `Retry-After` (seconds) of an answer during a database outage: the
/// store notices the database back within a second.
pub const RETRY_AFTER_OUTAGE: u64 = 2;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short slug; the problem `type` is `urn:muster:problem:<slug>`.
    pub slug: &'static str,
    pub detail: String,
    /// The request field that is wrong, when one is.
    pub field: Option<String>,
    /// Seconds to wait before trying again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
    /// The problem's title, when the status's own words say too little.
    pub title: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:muster:problem:<slug>`, e.g. `urn:muster:problem:invalid-field`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field that is wrong, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, slug, detail: detail.into(), field: None, retry_after: None, title: None }
    }

    pub fn field(status: StatusCode, slug: &'static str, field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError { status, slug, detail: detail.into(), field: Some(field.into()), retry_after: None, title: None }
    }

    /// 429: too many too fast; try again after `wait` (at least a second).
    pub fn too_many(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", detail);
        e.retry_after = Some(wait.as_secs().max(1));
        e
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn not_found(field: &str, detail: impl Into<String>) -> Self {
        ApiError::field(StatusCode::NOT_FOUND, "not-found", field, detail)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", field, detail)
    }

    /// 503: the database cannot be used now (logged once by the store's
    /// health, not here); retry after a few seconds.
    pub fn unavailable(outage: &muster_store::Outage) -> Self {
        let slug = match outage.kind {
            muster_store::OutageKind::DiskFull => "database-disk-full",
            _ => "database-unavailable",
        };
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, slug, outage.headline());
        e.retry_after = Some(RETRY_AFTER_OUTAGE);
        e.title = Some("Database unavailable");
        e
    }

    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => {
                ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", field, message)
            }
            DomainError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            DomainError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            DomainError::NotFound { field, message } => {
                ApiError::field(StatusCode::NOT_FOUND, "not-found", field, message)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(d) => d.into(),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::NotFound(m) => ApiError::field(StatusCode::NOT_FOUND, "not-found", "ref", m),
            StoreError::Unavailable(outage) => ApiError::unavailable(&outage),
            other => ApiError::internal("store failed", other),
        }
    }
}

impl From<muster_app::Error> for ApiError {
    fn from(e: muster_app::Error) -> Self {
        use muster_app::Error;
        match e {
            Error::Refused(d) => d.into(),
            Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            Error::NotFound(m) => ApiError::field(StatusCode::NOT_FOUND, "not-found", "ref", m),
            Error::TooMany { message, retry_after } => ApiError::too_many(message, retry_after),
            Error::Store(StoreError::Unavailable(outage)) => ApiError::unavailable(&outage),
            Error::Store(e) => ApiError::internal("the store failed", e),
            Error::Internal(m) => ApiError::internal("an invariant broke", m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.title.or(self.status.canonical_reason()).unwrap_or("Error").to_owned();
        let body = Problem {
            kind: format!("urn:muster:problem:{}", self.slug),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(wait) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
