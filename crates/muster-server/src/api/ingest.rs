//! Where monitoring sends alerts, in the formats tools already speak:
//! PagerDuty Events API v2, the Alertmanager webhook, and a generic JSON
//! hook. Each answers 2xx only once the event is durable.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::alert::{AlertAction, DedupKey, Severity};
use muster_domain::limits::MAX_ALERTS_PER_PAYLOAD;
use muster_store::{ChangeEvent, IngestEvent, Service};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{parse_json, read_body, require_json};
use muster_app::App;
use muster_app::ingest::IngestError;
use muster_domain::limits::MAX_SUMMARY_CHARS;

/// PagerDuty's own limit on an event's size.
pub const PAGERDUTY_BODY_LIMIT: usize = 512 * 1024;

fn random_dedup_key() -> DedupKey {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    DedupKey::parse(&hex::encode(bytes)).expect("32 hex characters")
}

// PagerDuty Events API v2.

/// An answer in PagerDuty's format.
pub struct PagerDuty {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl PagerDuty {
    fn invalid(errors: Vec<String>) -> PagerDuty {
        PagerDuty {
            status: StatusCode::BAD_REQUEST,
            body: json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
            retry_after: None,
        }
    }

    fn from_ingest(e: IngestError) -> PagerDuty {
        match e {
            IngestError::RateLimited(wait) => PagerDuty {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}),
                retry_after: Some(wait.as_secs().max(1)),
            },
            IngestError::Unavailable(why) => PagerDuty {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: json!({"status": "unavailable", "message": format!("The event was not stored: {why}.")}),
                retry_after: Some(crate::error::RETRY_AFTER_OUTAGE),
            },
        }
    }
}

impl IntoResponse for PagerDuty {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

fn pd_json(body: &[u8]) -> Result<serde_json::Map<String, Value>, PagerDuty> {
    if body.len() > PAGERDUTY_BODY_LIMIT {
        return Err(PagerDuty {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: json!({"status": "invalid event", "message": "Event object is too large", "errors": ["the event is larger than 512 KB"]}),
            retry_after: None,
        });
    }
    if let Some(field) = crate::extract::nul_field(body) {
        return Err(PagerDuty::invalid(vec![format!("'{field}' may not contain NUL characters")]));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(PagerDuty::invalid(vec!["the event must be a JSON object".into()])),
        Err(e) => Err(PagerDuty::invalid(vec![format!("the body is not valid JSON: {e}")])),
    }
}

fn text<'a>(o: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

/// Finds the service a `routing_key` names, or the PagerDuty error.
async fn pd_service(
    app: &App,
    o: &serde_json::Map<String, Value>,
    errors: &mut Vec<String>,
) -> Result<Option<Service>, PagerDuty> {
    let Some(key) = text(o, "routing_key").filter(|k| !k.trim().is_empty()) else {
        errors.push("'routing_key' is missing or blank".into());
        return Ok(None);
    };
    if key.len() != 32 {
        errors.push("'routing_key' must be 32 characters".into());
        return Ok(None);
    }
    match app.service_by_key(key).await {
        Ok(Some(s)) => Ok(Some(s)),
        Ok(None) => {
            errors.push("'routing_key' does not match any service's integration key".into());
            Ok(None)
        }
        Err(e) => Err(PagerDuty::from_ingest(unavailable(e))),
    }
}

/// A failed lookup or write as an ingest answer: 503, saying why when the
/// database cannot be used (an outage is logged by the store's health;
/// anything else is logged here).
fn unavailable(e: muster_app::Error) -> IngestError {
    match e {
        muster_app::Error::Store(muster_store::StoreError::Unavailable(outage)) => {
            IngestError::Unavailable(outage.headline().to_owned())
        }
        other => {
            tracing::error!(error = %other, "ingest failed");
            IngestError::Unavailable("the event could not be stored; retry".to_owned())
        }
    }
}

/// Parses a PagerDuty event into what Muster stores, collecting every error.
pub fn parse_pagerduty(o: &serde_json::Map<String, Value>, service: u64) -> Result<IngestEvent, Vec<String>> {
    let mut errors = Vec::new();
    let action = match text(o, "event_action") {
        None => {
            errors.push("'event_action' is missing; use trigger, acknowledge or resolve".into());
            None
        }
        Some(a) => match a.parse::<AlertAction>() {
            Ok(a) => Some(a),
            Err(_) => {
                errors.push(format!("'event_action' must be trigger, acknowledge or resolve, not {a:?}"));
                None
            }
        },
    };
    let dedup_key = match o.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 255 => DedupKey::parse(k).ok(),
        Some(_) => {
            errors.push("'dedup_key' must be a string of 1-255 characters".into());
            None
        }
    };
    let empty = serde_json::Map::new();
    let payload = match o.get("payload") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            errors.push("'payload' must be an object".into());
            &empty
        }
        None => &empty,
    };
    let mut summary = String::new();
    let mut source = String::new();
    let mut severity = Severity::Error;
    if action == Some(AlertAction::Trigger) {
        if o.get("payload").is_none() {
            errors.push("'payload' is missing".into());
        }
        match text(payload, "summary") {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= MAX_SUMMARY_CHARS => summary = s.to_owned(),
            Some(s) if !s.trim().is_empty() => errors.push(summary_too_long(s)),
            _ => errors.push("'payload.summary' is missing or blank".into()),
        }
        match text(payload, "source") {
            Some(s) if !s.trim().is_empty() => source = s.chars().take(255).collect(),
            _ => errors.push("'payload.source' is missing or blank".into()),
        }
        match text(payload, "severity").map(str::parse::<Severity>) {
            Some(Ok(s)) => severity = s,
            _ => errors.push("'payload.severity' must be one of critical, error, warning, info".into()),
        }
        for key in ["timestamp", "component", "group", "class"] {
            if payload.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
                errors.push(format!("'payload.{key}' must be a string"));
            }
        }
    } else if action.is_some() && dedup_key.is_none() && !errors.iter().any(|e| e.contains("dedup_key")) {
        errors.push("'dedup_key' is required to acknowledge or resolve".into());
    }
    for key in ["links", "images"] {
        if o.get(key).is_some_and(|v| !v.is_array() && !v.is_null()) {
            errors.push(format!("'{key}' must be an array"));
        }
    }
    let Some(action) = action.filter(|_| errors.is_empty()) else { return Err(errors) };
    let mut details = json!({});
    for key in ["custom_details", "timestamp", "component", "group", "class"] {
        if let Some(v) = payload.get(key).filter(|v| !v.is_null()) {
            details[key] = v.clone();
        }
    }
    for key in ["client", "client_url", "images"] {
        if let Some(v) = o.get(key).filter(|v| !v.is_null()) {
            details[key] = v.clone();
        }
    }
    Ok(IngestEvent {
        service,
        action,
        dedup_key: dedup_key.unwrap_or_else(random_dedup_key),
        summary,
        severity,
        source,
        details,
        links: o.get("links").filter(|v| v.is_array()).cloned().unwrap_or(json!([])),
    })
}

/// PagerDuty documents `payload.summary` as at most 1024 characters; the
/// generic endpoint refuses longer ones too.
fn summary_too_long(s: &str) -> String {
    format!("'payload.summary' has {} characters; the most is {MAX_SUMMARY_CHARS}", s.chars().count())
}

/// An ISO 8601 time as PagerDuty's senders write it: RFC 3339
/// (`2026-03-24T10:00:00Z`), with an offset without a colon
/// (`2015-07-17T08:42:58.315+0000`, PagerDuty's own example), or with no
/// offset at all (taken as UTC).
fn iso_8601(s: &str) -> Option<jiff::Timestamp> {
    let s = s.trim();
    s.parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", s).ok()?.to_timestamp().ok())
        .or_else(|| {
            s.parse::<jiff::civil::DateTime>().ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
        })
}

/// PagerDuty Events API v2: trigger, acknowledge or resolve an alert.
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingest", request_body(content = Object, description = "A PagerDuty Events API v2 event"),
    responses((status = 202, description = "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":…}"), (status = 400), (status = 429), (status = 503)))]
pub async fn pagerduty_enqueue(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, PagerDuty> {
    let o = pd_json(&body)?;
    let mut errors = Vec::new();
    let service = pd_service(&app, &o, &mut errors).await?;
    let event = match parse_pagerduty(&o, service.as_ref().map_or(0, |s| s.id)) {
        Ok(e) if errors.is_empty() => e,
        Ok(_) => return Err(PagerDuty::invalid(errors)),
        Err(more) => {
            errors.extend(more);
            return Err(PagerDuty::invalid(errors));
        }
    };
    let dedup_key = event.dedup_key.as_str().to_owned();
    app.ingestor.ingest(event).await.map_err(PagerDuty::from_ingest)?;
    let body = json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// PagerDuty change events: a deploy or config change, shown on the timeline
/// of the service's open incidents.
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "ingest", request_body(content = Object, description = "A PagerDuty change event"),
    responses((status = 202, description = "{\"status\":\"success\",\"message\":\"Change event processed\"}"), (status = 400), (status = 429), (status = 503)))]
pub async fn pagerduty_change(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, PagerDuty> {
    let o = pd_json(&body)?;
    let mut errors = Vec::new();
    let service = pd_service(&app, &o, &mut errors).await?;
    let payload = o.get("payload").and_then(Value::as_object);
    let summary = payload.and_then(|p| text(p, "summary")).filter(|s| !s.trim().is_empty());
    if payload.is_none() {
        errors.push("'payload' is missing or not an object".into());
    } else if summary.is_none() {
        errors.push("'payload.summary' is missing or blank".into());
    } else if let Some(s) = summary.filter(|s| s.chars().count() > MAX_SUMMARY_CHARS) {
        errors.push(summary_too_long(s));
    }
    let at = match payload.and_then(|p| p.get("timestamp")) {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => {
            let at = iso_8601(t);
            if at.is_none() {
                errors.push("'payload.timestamp' must be an ISO 8601 time, e.g. 2026-03-24T10:00:00Z".into());
            }
            at
        }
        Some(_) => {
            errors.push("'payload.timestamp' must be a string".into());
            None
        }
    };
    let (Some(service), Some(summary), true) = (service, summary, errors.is_empty()) else {
        return Err(PagerDuty::invalid(errors));
    };
    app.ingestor.admit(service.id).map_err(PagerDuty::from_ingest)?;
    let payload = payload.cloned().unwrap_or_default();
    let change = ChangeEvent {
        service: service.id,
        summary: summary.to_owned(),
        source: text(&payload, "source").map(str::to_owned),
        at,
        details: json!({"custom_details": payload.get("custom_details"), "timestamp": payload.get("timestamp")}),
        links: o.get("links").filter(|v| v.is_array()).cloned().unwrap_or(json!([])),
    };
    app.record_change(&change).await.map_err(|e| PagerDuty::from_ingest(unavailable(e)))?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "success", "message": "Change event processed"}))).into_response())
}

// Alertmanager.

/// Alertmanager's webhook payload (version 4); unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    #[serde(default)]
    pub version: Option<String>,
    pub alerts: Vec<AlertmanagerAlert>,
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    pub status: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

impl AlertmanagerAlert {
    /// What Muster stores for this alert; `index` names it in errors.
    pub fn to_event(&self, service: u64, external_url: Option<&str>, index: usize) -> Result<IngestEvent, ApiError> {
        let action = match self.status.as_str() {
            "firing" => AlertAction::Trigger,
            "resolved" => AlertAction::Resolve,
            other => {
                return Err(ApiError::invalid(
                    &format!("alerts[{index}].status"),
                    format!("{other:?} is neither firing nor resolved"),
                ));
            }
        };
        let dedup = match self.fingerprint.as_deref().filter(|f| !f.is_empty()) {
            Some(f) => f.to_owned(),
            // Older senders have no fingerprint: the sorted labels identify the alert.
            None => {
                let labels = serde_json::to_string(&self.labels).unwrap_or_default();
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(labels.as_bytes()))
            }
        };
        let dedup_key = DedupKey::parse(&dedup)
            .map_err(|e| ApiError::invalid(&format!("alerts[{index}].fingerprint"), e.to_string()))?;
        let name = self.labels.get("alertname").map(String::as_str).unwrap_or("alert");
        let summary =
            self.annotations.get("summary").or_else(|| self.annotations.get("description")).cloned().unwrap_or_else(
                || match self.labels.get("instance") {
                    Some(i) => format!("{name} on {i}"),
                    None => name.to_owned(),
                },
            );
        let source = self
            .labels
            .get("instance")
            .or_else(|| self.labels.get("job"))
            .cloned()
            .or_else(|| external_url.map(str::to_owned))
            .unwrap_or_else(|| "alertmanager".into());
        let mut links = Vec::new();
        if let Some(u) = self.generator_url.as_deref().filter(|u| !u.is_empty()) {
            links.push(json!({"href": u, "text": "Source"}));
        }
        if let Some(u) = self.annotations.get("runbook_url") {
            links.push(json!({"href": u, "text": "Runbook"}));
        }
        Ok(IngestEvent {
            service,
            action,
            dedup_key,
            summary: summary.chars().take(MAX_SUMMARY_CHARS).collect(),
            severity: Severity::from_label(self.labels.get("severity").map(String::as_str)),
            source: source.chars().take(255).collect(),
            details: json!({"labels": self.labels, "annotations": self.annotations, "starts_at": self.starts_at, "ends_at": self.ends_at}),
            links: Value::Array(links),
        })
    }
}

fn ingest_problem(e: IngestError) -> ApiError {
    match e {
        IngestError::RateLimited(wait) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("this integration sends too fast; retry in {} s", wait.as_secs().max(1)),
        ),
        IngestError::Unavailable(why) => {
            let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why);
            e.retry_after = Some(crate::error::RETRY_AFTER_OUTAGE);
            e.title = Some("Not stored");
            e
        }
    }
}

fn with_retry_after(e: ApiError, wait: Option<u64>) -> Response {
    let mut r = e.into_response();
    if let Some(s) = wait
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

async fn service_for_key(app: &App, key: &str) -> ApiResult<Service> {
    let unknown = || ApiError::not_found("integration_key", "no service has this integration key");
    if key.len() != 32 {
        return Err(unknown());
    }
    app.service_by_key(key).await?.ok_or_else(unknown)
}

/// Prometheus Alertmanager webhook (`webhook_configs`, version 4). Each
/// alert is handled on its own, keyed by its fingerprint.
#[utoipa::path(post, path = "/api/v1/integrations/alertmanager/{integration_key}", tag = "ingest",
    params(("integration_key" = String, Path)), request_body(content = Object, description = "Alertmanager webhook payload"),
    responses((status = 200, description = "{\"status\":\"success\",\"accepted\":n}"), (status = 404, body = Problem), (status = 413, body = Problem, description = "more than 1000 alerts, or a body over 1 MiB"), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem, description = "the database cannot be used now (unreachable, or its disk full); retry after `Retry-After` seconds")))]
pub async fn alertmanager(State(app): State<Arc<App>>, Path(key): Path<String>, body: Body) -> Response {
    match alertmanager_inner(&app, &key, body).await {
        Ok(n) => (StatusCode::OK, Json(json!({"status": "success", "accepted": n}))).into_response(),
        Err((e, wait)) => with_retry_after(e, wait),
    }
}

async fn alertmanager_inner(app: &App, key: &str, body: Body) -> Result<usize, (ApiError, Option<u64>)> {
    // The key first: a stranger's body is not even read.
    let service = service_for_key(app, key).await.map_err(|e| (e, None))?;
    let body = read_body(body).await.map_err(|e| (e, None))?;
    let payload: AlertmanagerPayload = parse_json(&body).map_err(|e| (e, None))?;
    if payload.alerts.len() > MAX_ALERTS_PER_PAYLOAD {
        let e = ApiError::field(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-alerts",
            "alerts",
            format!(
                "a payload holds at most {MAX_ALERTS_PER_PAYLOAD} alerts, not {}; set max_alerts in Alertmanager's webhook_configs",
                payload.alerts.len()
            ),
        );
        return Err((e, None));
    }
    let events = payload
        .alerts
        .iter()
        .enumerate()
        .map(|(i, a)| a.to_event(service.id, payload.external_url.as_deref(), i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (e, None))?;
    let n = events.len();
    let answers = ingest_all(app, events).await;
    for a in answers {
        if let Err(e) = a {
            let wait = match &e {
                IngestError::RateLimited(w) => Some(w.as_secs().max(1)),
                IngestError::Unavailable(_) => Some(crate::error::RETRY_AFTER_OUTAGE),
            };
            return Err((ingest_problem(e), wait));
        }
    }
    Ok(n)
}

/// Sends every event to the pipeline at once, so they share a batch.
async fn ingest_all(app: &App, events: Vec<IngestEvent>) -> Vec<Result<muster_store::IngestOutcome, IngestError>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, e) in events.into_iter().enumerate() {
        let ingestor = app.ingestor.clone();
        tasks.spawn(async move { (i, ingestor.ingest(e).await) });
    }
    let mut out: Vec<(usize, Result<muster_store::IngestOutcome, IngestError>)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(r) => out.push(r),
            Err(e) => out.push((usize::MAX, Err(IngestError::Unavailable(e.to_string())))),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

// Generic.

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericEvent {
    pub summary: Option<String>,
    /// critical, error, warning (default) or info.
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    /// trigger (default), acknowledge or resolve.
    pub action: Option<String>,
    #[schema(value_type = Object)]
    pub details: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub links: Option<Value>,
    pub source: Option<String>,
}

/// A generic JSON hook for anything that can POST.
#[utoipa::path(post, path = "/api/v1/integrations/generic/{integration_key}", tag = "ingest",
    params(("integration_key" = String, Path)), request_body = GenericEvent,
    responses((status = 202, description = "{\"status\":\"accepted\",\"dedup_key\":…,\"alert_id\":…}"), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem, description = "the database cannot be used now (unreachable, or its disk full); retry after `Retry-After` seconds")))]
pub async fn generic(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    // The key first: a stranger's body is not even read.
    let service = match service_for_key(&app, &key).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let parsed = match require_json(&headers) {
        Ok(()) => read_body(body).await.and_then(|bytes| parse_json::<GenericEvent>(&bytes)),
        Err(e) => Err(e),
    };
    let e = match parsed {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let event = match generic_event(e, service.id) {
        Ok(ev) => ev,
        Err(e) => return e.into_response(),
    };
    let dedup_key = event.dedup_key.as_str().to_owned();
    match app.ingestor.ingest(event).await {
        Ok(outcome) => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "accepted", "dedup_key": dedup_key, "alert_id": outcome.alert, "incident": outcome.incident.map(|n| format!("INC-{n}"))})),
        )
            .into_response(),
        Err(e) => {
            let wait = match &e {
                IngestError::RateLimited(w) => Some(w.as_secs().max(1)),
                IngestError::Unavailable(_) => Some(crate::error::RETRY_AFTER_OUTAGE),
            };
            with_retry_after(ingest_problem(e), wait)
        }
    }
}

pub fn generic_event(e: GenericEvent, service: u64) -> ApiResult<IngestEvent> {
    let action = e
        .action
        .as_deref()
        .map(str::parse::<AlertAction>)
        .transpose()
        .map_err(|_| ApiError::invalid("action", "action is trigger, acknowledge or resolve"))?;
    let action = action.unwrap_or(AlertAction::Trigger);
    let severity = e.severity.as_deref().map(str::parse::<Severity>).transpose()?.unwrap_or(Severity::Warning);
    let dedup_key = e.dedup_key.as_deref().map(DedupKey::parse).transpose()?;
    let summary = e.summary.as_deref().map(str::trim).unwrap_or("");
    if action == AlertAction::Trigger && (summary.is_empty() || summary.chars().count() > MAX_SUMMARY_CHARS) {
        return Err(ApiError::invalid(
            "summary",
            format!("a trigger needs a summary of 1-{MAX_SUMMARY_CHARS} characters"),
        ));
    }
    if action != AlertAction::Trigger && dedup_key.is_none() {
        return Err(ApiError::invalid("dedup_key", "acknowledge and resolve need the dedup_key of the alert"));
    }
    if e.links.as_ref().is_some_and(|l| !l.is_array()) {
        return Err(ApiError::invalid("links", "links is an array"));
    }
    Ok(IngestEvent {
        service,
        action,
        dedup_key: dedup_key.unwrap_or_else(random_dedup_key),
        summary: summary.to_owned(),
        severity,
        source: e.source.unwrap_or_else(|| "generic".into()).chars().take(255).collect(),
        details: e.details.unwrap_or(json!({})),
        links: e.links.unwrap_or(json!([])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn pagerduty(name: &str) -> Result<IngestEvent, Vec<String>> {
        let f = fixture(name);
        let body = if f.get("body").is_some() { f["body"].clone() } else { f };
        parse_pagerduty(body.as_object().unwrap(), 7)
    }

    #[test]
    fn pdpyras_trigger_keeps_its_dedup_key_severity_and_details() {
        let e = pagerduty("pdpyras-5.4.1-trigger.json").unwrap();
        assert_eq!(
            (e.action, e.dedup_key.as_str(), e.severity),
            (AlertAction::Trigger, "disk-db-1", Severity::Critical)
        );
        assert_eq!((e.summary.as_str(), e.source.as_str()), ("disk full on db-1", "db-1"));
        assert_eq!(e.details["custom_details"]["pct"], 98);
    }

    #[test]
    fn a_trigger_without_a_dedup_key_gets_one() {
        let e = pagerduty("pagerduty-7.2.0-trigger-no-dedup-key.json").unwrap();
        assert_eq!(e.dedup_key.as_str().len(), 32);
        assert_eq!(e.severity, Severity::Error);
    }

    #[test]
    fn acknowledge_and_resolve_need_only_the_dedup_key() {
        assert_eq!(pagerduty("pagerduty-7.2.0-acknowledge.json").unwrap().action, AlertAction::Acknowledge);
        let r = pagerduty("pdpyras-5.4.1-resolve.json").unwrap();
        assert_eq!((r.action, r.dedup_key.as_str()), (AlertAction::Resolve, "disk-db-1"));
    }

    #[test]
    fn alertmanagers_pagerduty_receiver_payload_parses() {
        let e = pagerduty("alertmanager-0.25-pagerduty-trigger.json").unwrap();
        assert_eq!(e.summary, "[FIRING:1] PdTest (lb-2 critical pagerduty)");
        assert_eq!(e.details["client"], "Alertmanager");
        assert_eq!(e.dedup_key.as_str().len(), 64);
    }

    #[test]
    fn a_pagerduty_event_missing_everything_names_every_field() {
        let errors = parse_pagerduty(json!({"event_action": "trigger"}).as_object().unwrap(), 1).unwrap_err();
        for field in ["'payload' is missing", "payload.summary", "payload.source", "payload.severity"] {
            assert!(errors.iter().any(|e| e.contains(field)), "{field} in {errors:?}");
        }
    }

    #[test]
    fn alertmanager_webhooks_parse_firing_and_resolved_alerts() {
        let firing: AlertmanagerPayload =
            serde_json::from_value(fixture("alertmanager-0.25-webhook-firing.json")).unwrap();
        assert_eq!(firing.version.as_deref(), Some("4"));
        let e = firing.alerts[0].to_event(3, firing.external_url.as_deref(), 0).unwrap();
        assert_eq!((e.action, e.dedup_key.as_str()), (AlertAction::Trigger, "e53f292757fdc998"));
        assert_eq!(
            (e.severity, e.summary.as_str(), e.source.as_str()),
            (Severity::Critical, "p99 latency above 2s", "web-1")
        );
        assert_eq!(e.links[0]["href"], "http://runbooks.example.test/latency");

        let resolved: AlertmanagerPayload =
            serde_json::from_value(fixture("alertmanager-0.25-webhook-resolved.json")).unwrap();
        let e = resolved.alerts[0].to_event(3, None, 0).unwrap();
        assert_eq!(
            (e.action, e.dedup_key.as_str(), e.severity),
            (AlertAction::Resolve, "9556f853bb27ef8b", Severity::Critical)
        );
        assert_eq!(e.links[0]["href"], "http://prom.example.test/graph?g0.expr=x");
    }

    #[test]
    fn an_alert_without_a_fingerprint_is_keyed_by_its_labels() {
        let alert = |instance: &str| AlertmanagerAlert {
            status: "firing".into(),
            labels: [("alertname".to_owned(), "X".to_owned()), ("instance".to_owned(), instance.to_owned())].into(),
            annotations: Default::default(),
            starts_at: None,
            ends_at: None,
            generator_url: None,
            fingerprint: None,
        };
        let a = alert("a").to_event(1, None, 0).unwrap();
        assert_eq!(a.dedup_key, alert("a").to_event(1, None, 0).unwrap().dedup_key);
        assert_ne!(a.dedup_key, alert("b").to_event(1, None, 0).unwrap().dedup_key);
        assert_eq!(a.summary, "X on a");
    }
}
