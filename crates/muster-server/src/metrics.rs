//! `GET /metrics`: Muster's own health in the Prometheus text format, for
//! whoever watches the watcher. Gauges come from the database (the same on
//! every instance); counters are this instance's since it started.
//!
//! Open by default; with `--metrics-token` it wants that token as
//! `Authorization: Bearer …` and answers 401 without it.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use muster_app::App;
use sha2::{Digest, Sha256};

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Whether the request carries the metrics token (compared by their
/// SHA-256, so the time taken says nothing about how much matched).
fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(expected) = &app.config.metrics_token else { return true };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    given.is_some_and(|g| Sha256::digest(g.as_bytes()) == Sha256::digest(expected.trim().as_bytes()))
}

pub async fn metrics(
    State(app): State<Arc<App>>,
    Extension(hub): Extension<Arc<crate::web::live::Hub>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&app, &headers) {
        let mut r =
            ApiError::unauthorized("/metrics needs the metrics token: Authorization: Bearer <token>").into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        return r;
    }
    let gauges = match app.store.gauges().await {
        Ok(g) => g,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut out = String::new();
    family(&mut out, "muster_incidents", "gauge", "Incidents by status and priority.");
    for (status, priority, n) in &gauges.incidents {
        let _ = writeln!(out, "muster_incidents{{status=\"{}\",priority=\"{}\"}} {n}", label(status), label(priority));
    }
    family(&mut out, "muster_alerts", "gauge", "Alerts by status.");
    for (status, n) in &gauges.alerts {
        let _ = writeln!(out, "muster_alerts{{status=\"{}\"}} {n}", label(status));
    }
    family(&mut out, "muster_pages_open", "gauge", "Pages still escalating.");
    let _ = writeln!(out, "muster_pages_open {}", gauges.open_pages);
    family(&mut out, "muster_outbox_jobs_pending", "gauge", "Outbox jobs not done yet.");
    let _ = writeln!(out, "muster_outbox_jobs_pending {}", gauges.jobs_pending);
    family(&mut out, "muster_outbox_jobs_retrying", "gauge", "Outbox jobs not done yet that failed at least once.");
    let _ = writeln!(out, "muster_outbox_jobs_retrying {}", gauges.jobs_retrying);
    family(
        &mut out,
        "muster_outbox_jobs_dead",
        "gauge",
        "Outbox jobs given up on after their last attempt (GET /api/v1/jobs?state=dead).",
    );
    let _ = writeln!(out, "muster_outbox_jobs_dead {}", gauges.jobs_dead);
    family(&mut out, "muster_ingested_events_total", "counter", "Monitoring events this instance accepted.");
    let _ = writeln!(out, "muster_ingested_events_total {}", app.ingestor.accepted());
    let (delivered, failed) = app.engine.attempts();
    family(&mut out, "muster_job_attempts_total", "counter", "Outbox jobs this instance ran, by outcome.");
    let _ = writeln!(out, "muster_job_attempts_total{{outcome=\"succeeded\"}} {delivered}");
    let _ = writeln!(out, "muster_job_attempts_total{{outcome=\"failed\"}} {failed}");
    family(&mut out, "muster_jobs_given_up_total", "counter", "Outbox jobs this instance dead-lettered.");
    let _ = writeln!(out, "muster_jobs_given_up_total {}", app.engine.buried());
    family(&mut out, "muster_sign_in_failures_total", "counter", "Failed web sign-ins on this instance.");
    let _ = writeln!(out, "muster_sign_in_failures_total {}", app.sign_in_failures.load(Ordering::Relaxed));
    family(&mut out, "muster_live_streams", "gauge", "Open live incident streams on this instance.");
    let _ = writeln!(out, "muster_live_streams {}", app.live_streams.load(Ordering::Relaxed));
    family(
        &mut out,
        "muster_live_renders_total",
        "counter",
        "Live view events rendered on this instance: once per change and kind of viewer, however many watch.",
    );
    let _ = writeln!(out, "muster_live_renders_total {}", hub.renders());
    family(&mut out, "muster_live_frames_total", "counter", "Changes the live views' rooms read once and broadcast.");
    let _ = writeln!(out, "muster_live_frames_total {}", hub.frames());
    family(
        &mut out,
        "muster_live_fell_behind_total",
        "counter",
        "Times a live stream fell behind the broadcast and read the store on its own.",
    );
    let _ = writeln!(out, "muster_live_fell_behind_total {}", hub.fell_behind());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}
