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
//! - [`forwarded`]: the client's address behind trusted reverse proxies.
//! - [`error`]: the one error type, rendered as `application/problem+json`.
//!
//! [`serve`] takes its listener and shutdown signal as arguments, so tests
//! start it on port 0 and stop it when they like.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub mod api;
pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod metrics;
pub mod status;
pub mod web;

use crate::error::ApiError;
use muster_app::App;

/// The whole HTTP surface of a Muster server.
pub fn router(app: Arc<App>) -> Router {
    let (api, _) = api::routes();
    let others = other_routes().into_iter().fold(axum::Router::new(), |r, (path, _, handler)| r.route(path, handler));
    api.merge(web::routes())
        .merge(others)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "there is nothing at this path") })
        .layer(axum::middleware::map_response(ensure_problem))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a request handler panicked", "panic").into_response()
        }))
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        // The live views' rooms, shared by every stream of this router.
        .layer(axum::Extension(web::live::Hub::new()))
        // Failures are logged where they happen (`ApiError::internal`), and
        // a database outage once, by the store's health: a line per 503
        // would flood the log for as long as an outage lasts.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .with_state(app)
}

type Route = (&'static str, Method, MethodRouter<Arc<App>>);

/// The routes neither in the API's document's operations nor in the web's
/// table: health, metrics, the document itself, the answer links in
/// notifications.
fn other_routes() -> Vec<Route> {
    vec![
        ("/healthz", Method::GET, get(healthz)),
        ("/metrics", Method::GET, get(metrics::metrics)),
        ("/api/v1/openapi.json", Method::GET, get(openapi_json)),
        ("/pages/{id}/{action}", Method::GET, get(api::pages::answer_link_form)),
        ("/pages/{id}/{action}", Method::POST, post(api::pages::answer_link)),
        ("/bundles/{id}/ack", Method::GET, get(api::pages::ack_all_form)),
        ("/bundles/{id}/ack", Method::POST, post(api::pages::ack_all)),
        ("/status", Method::GET, get(status::page_html)),
        ("/status/incidents/{ref}", Method::GET, get(status::incident_html)),
        ("/status/history", Method::GET, get(status::history_html)),
        ("/status/subscriptions/{token}", Method::GET, get(status::subscription_form)),
        ("/status/subscriptions/{token}", Method::POST, post(status::change_subscription)),
        ("/api/v2/summary.json", Method::GET, get(status::summary)),
        ("/api/v2/status.json", Method::GET, get(status::status)),
        ("/api/v2/components.json", Method::GET, get(status::components)),
        ("/api/v2/incidents.json", Method::GET, get(status::incidents)),
        ("/api/v2/incidents/unresolved.json", Method::GET, get(status::unresolved)),
        ("/api/v2/scheduled-maintenances.json", Method::GET, get(status::scheduled_maintenances)),
        ("/api/v2/scheduled-maintenances/upcoming.json", Method::GET, get(status::upcoming_maintenances)),
        ("/api/v2/scheduled-maintenances/active.json", Method::GET, get(status::active_maintenances)),
        ("/history.atom", Method::GET, get(status::atom)),
        ("/status/subscribe", Method::POST, post(status::subscribe)),
        ("/status/subscriptions/{token}/confirm", Method::GET, get(status::confirm_form)),
        ("/status/subscriptions/{token}/confirm", Method::POST, post(status::confirm)),
        ("/status/subscriptions/{token}/unsubscribe", Method::GET, get(status::unsubscribe_form)),
        ("/status/subscriptions/{token}/unsubscribe", Method::POST, post(status::unsubscribe)),
        ("/history.rss", Method::GET, get(status::rss)),
    ]
}

/// Every route the server answers, as (method, path): the API's from its
/// OpenAPI document, the web's from its table, and the others. The
/// route-by-principal test walks this list, so a new route without a row in
/// its table fails it.
pub fn route_list() -> Vec<(Method, String)> {
    let (_, doc) = api::routes();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        out.extend(ops.into_iter().filter(|(_, has)| *has).map(|(m, _)| (m, path.clone())));
    }
    out.extend(web::listed().into_iter().map(|(m, p)| (m, p.to_owned())));
    out.extend(other_routes().into_iter().map(|(p, m, _)| (m, p.to_owned())));
    out
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
                    "summary": "200 when the server reaches its database, 503 otherwise (at once during an outage the server already knows of). No authentication.",
                    "responses": {"200": {"description": "healthy"}, "503": {"description": "the database cannot be used: a problem document saying why, with Retry-After"}}
                }},
                "/metrics": {"get": {
                    "summary": "Muster's own gauges and counters in the Prometheus text format. No authentication, unless the server runs with --metrics-token: then that token as a bearer token.",
                    "responses": {"200": {"description": "the metrics"},
                                  "401": {"description": "the server has a metrics token and the request does not carry it"}}
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

/// 503 at once during a PostgreSQL outage the store knows of (with what
/// showed it and since when); otherwise a ping, bounded by the store's own
/// limits (a second or two in the worst case, when the network drops
/// packets and the heartbeat has not noticed yet). On SQLite during an
/// outage the ping also writes, so it sees space return.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let health = app.store.health();
    let result = match health.check() {
        Err(muster_store::StoreError::Unavailable(outage)) => Err(outage),
        _ => match app.store.ping().await {
            Ok(()) => Ok(()),
            Err(muster_store::StoreError::Unavailable(outage)) => Err(outage),
            Err(e) => Err(muster_store::Outage::new(muster_store::OutageKind::Unreachable, e.to_string())),
        },
    };
    match result {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(outage) => {
            let since = health.down().and_then(|d| jiff::Timestamp::try_from(d.since).ok());
            let mut e = ApiError::unavailable(&outage);
            e.detail = match since {
                Some(t) => format!("{outage} (since {t:.0})"),
                None => outage.to_string(),
            };
            e.into_response()
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

/// How long clients may take to send a request, so slow ones (slowloris)
/// cannot hold connections open for free.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To send all of a request's headers, from the connection's start or
    /// the previous response; the connection is closed past it.
    pub header_read: std::time::Duration,
    /// Between two pieces of a request's body; the request gets 408.
    pub body_read: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: muster_domain::limits::HEADER_READ_TIMEOUT,
            body_read: muster_domain::limits::BODY_READ_TIMEOUT,
        }
    }
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, Timeouts::default()).await
}

/// [`serve`] with other timeouts. HTTP/1.1 through hyper's own connection
/// builder rather than `axum::serve`, which has no header read timeout.
pub async fn serve_with(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let router = router(app);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, usually: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let body_read = timeouts.body_read;
        let service =
            tower::ServiceExt::map_request(router.clone(), move |req: axum::http::Request<hyper::body::Incoming>| {
                let mut req =
                    req.map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_read, body)));
                req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
                req
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeouts.header_read)
            .serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, client = %remote, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
