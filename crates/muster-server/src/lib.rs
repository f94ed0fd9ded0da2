//! Muster's HTTP server.
//!
//! # Layout
//!
//! - [`app`]: the application layer, one function per use case, over
//!   `Arc<dyn Store>` and an injected [`app::Clock`]. No HTTP in it.
//! - [`api`]: the JSON API handlers; thin: extract, parse into domain types,
//!   call one `App` function, render a [`dto`].
//! - [`auth`]: API tokens (stored hashed) and the [`auth::Caller`] extractor.
//! - [`engine`]: the delivery engine over the outbox (leases, retries with
//!   backoff, the done ledger, signed webhooks).
//! - [`ingest`]: the batching pipeline that makes monitoring events durable
//!   before they are answered, and the per-integration rate limit.
//! - [`extract`]: JSON and query extractors whose rejections name the field.
//! - [`error`]: the one error type, rendered as `application/problem+json`.
//!
//! [`serve`] takes its listener and shutdown signal as arguments, so tests
//! start it on port 0 and stop it when they like.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub mod api;
pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod web;

use crate::error::ApiError;
use muster_app::App;

/// The whole HTTP surface of a Muster server.
pub fn router(app: Arc<App>) -> Router {
    let (api, _) = api::routes();
    api.merge(web::routes())
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route("/api/v1/openapi.json", axum::routing::get(openapi_json))
        .route("/pages/{id}/{action}", axum::routing::get(api::pages::answer_link_form).post(api::pages::answer_link))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "there is nothing at this path") })
        .layer(axum::middleware::map_response(ensure_problem))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a request handler panicked", "panic").into_response()
        }))
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// The OpenAPI document, built once from the same route list as the router.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut doc) = api::routes();
        let extra: utoipa::openapi::OpenApi = serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "", "version": ""},
            "paths": {
                "/healthz": {"get": {
                    "summary": "200 when the server reaches its database, 503 otherwise. No authentication.",
                    "responses": {"200": {"description": "healthy"}, "503": {"description": "the database does not answer"}}
                }},
                "/metrics": {"get": {
                    "summary": "Muster's own gauges and counters in the Prometheus text format. No authentication.",
                    "responses": {"200": {"description": "the metrics"}}
                }},
                "/api/v1/openapi.json": {"get": {
                    "summary": "This document. No authentication.",
                    "responses": {"200": {"description": "the OpenAPI document"}}
                }}
            }
        }))
        .expect("a valid OpenAPI fragment");
        doc.merge(extra);
        let mut value = serde_json::to_value(&doc).expect("the document serializes");
        api::describe_errors(&mut value);
        serde_json::from_value(value).expect("the described document is still a document")
    })
}

async fn openapi_json() -> impl IntoResponse {
    axum::Json(openapi())
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer")
                .into_response()
        }
    }
}

/// Makes every error response a problem document, also the ones axum makes
/// itself (405, a bad path parameter).
async fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    // Problem documents, and the JSON errors of wire formats that have their
    // own (PagerDuty's), pass as they are.
    let is_problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/problem+json") || v.starts_with(b"application/json") || v.starts_with(b"text/html")
    });
    if status.as_u16() < 400 || is_problem {
        return response;
    }
    let detail = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => match status {
            StatusCode::METHOD_NOT_ALLOWED => "this path does not take that method".to_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_owned(),
        },
    };
    let slug = if status.is_server_error() { "internal" } else { "bad-request" };
    ApiError::new(status, slug, detail).into_response()
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}
