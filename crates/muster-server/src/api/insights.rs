//! Insights across incidents (`GET /api/v1/insights`, and as CSV).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use muster_app::App;
use muster_app::insights::{InsightsQuery, InsightsView};
use muster_domain::insights::Stat;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;

/// A duration over the incidents that have it, in seconds from their start.
#[derive(Serialize, ToSchema)]
pub struct StatResponse {
    pub count: u32,
    /// Nearest rank.
    pub median: Option<i64>,
    /// Nearest rank.
    pub p90: Option<i64>,
    /// Rounded down.
    pub mean: Option<i64>,
}

impl From<Stat> for StatResponse {
    fn from(s: Stat) -> Self {
        StatResponse { count: s.count, median: s.median, p90: s.p90, mean: s.mean }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeclaringResponse {
    pub service: String,
    pub summary: String,
    pub incidents: u32,
}

/// An alert key and its noise over the span.
#[derive(Serialize, ToSchema)]
pub struct NoisyAlertResponse {
    pub service: String,
    pub dedup_key: String,
    /// Its latest alert's summary.
    pub summary: String,
    /// Events it took in: each alert's first and every repeat.
    pub events: u64,
    /// Times it fired anew (an alert each).
    pub alerts: u64,
}

#[derive(Serialize, ToSchema)]
pub struct InsightsResponse {
    pub incidents: u32,
    pub by_priority: BTreeMap<String, u32>,
    pub by_status: BTreeMap<String, u32>,
    /// Declared by Muster from an alert.
    pub auto_declared: u32,
    pub to_acknowledge: StatResponse,
    pub to_mitigate: StatResponse,
    pub to_resolve: StatResponse,
    /// An incident counts for each service it had alerts from.
    pub incidents_per_service: BTreeMap<String, u32>,
    /// The alerts that declared the most incidents (at most 10).
    pub most_declaring: Vec<DeclaringResponse>,
    /// Alerts first seen in the span, per service (the priority does not
    /// narrow them).
    pub alerts_per_service: BTreeMap<String, u64>,
    /// The noisiest alert keys of the span, most events first (at most 10).
    pub noisiest_alerts: Vec<NoisyAlertResponse>,
    /// Notifications of pages, per person.
    pub pages_per_person: BTreeMap<String, u32>,
    /// Of those, at night (22:00 to 07:00) on the person's clock (their
    /// time zone; UTC when they set none).
    pub pages_at_night: BTreeMap<String, u32>,
    /// Of those, on a Saturday or Sunday on the person's clock.
    pub pages_on_weekends: BTreeMap<String, u32>,
    /// Seconds per person and role.
    pub seconds_in_role: BTreeMap<String, BTreeMap<String, i64>>,
    /// Update reminders that went past their grace.
    pub overdue_updates: u32,
    pub follow_ups_open: u32,
    pub follow_ups_overdue: u32,
}

impl From<InsightsView> for InsightsResponse {
    fn from(v: InsightsView) -> Self {
        let i = v.insights;
        InsightsResponse {
            incidents: i.incidents,
            by_priority: i.by_priority,
            by_status: i.by_status,
            auto_declared: i.auto_declared,
            to_acknowledge: i.to_acknowledge.into(),
            to_mitigate: i.to_mitigate.into(),
            to_resolve: i.to_resolve.into(),
            incidents_per_service: i.incidents_per_service,
            most_declaring: i
                .most_declaring
                .into_iter()
                .map(|d| DeclaringResponse { service: d.service, summary: d.summary, incidents: d.incidents })
                .collect(),
            alerts_per_service: v.alerts.per_service,
            noisiest_alerts: v
                .alerts
                .noisiest
                .into_iter()
                .map(|n| NoisyAlertResponse {
                    service: n.service,
                    dedup_key: n.dedup_key,
                    summary: n.summary,
                    events: n.events,
                    alerts: n.alerts,
                })
                .collect(),
            pages_per_person: i.pages_per_person,
            pages_at_night: i.pages_at_night,
            pages_on_weekends: i.pages_on_weekends,
            seconds_in_role: i.seconds_in_role,
            overdue_updates: i.overdue_updates,
            follow_ups_open: v.follow_ups_open,
            follow_ups_overdue: v.follow_ups_overdue,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InsightsParams {
    /// Incidents declared at or after this time (RFC 3339).
    #[param(schema_with = crate::dto::schema::date_time)]
    pub from: Option<String>,
    /// … and before this one.
    #[param(schema_with = crate::dto::schema::date_time)]
    pub to: Option<String>,
    #[param(schema_with = crate::dto::schema::priority)]
    pub priority: Option<String>,
    /// Only incidents with an alert of this service (its name).
    pub service: Option<String>,
}

fn query(p: InsightsParams) -> Result<InsightsQuery, ApiError> {
    let time = |field: &str, v: Option<String>| {
        v.map(|t| t.parse().map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 time: {e}")))).transpose()
    };
    Ok(InsightsQuery {
        from: time("from", p.from)?,
        to: time("to", p.to)?,
        priority: p.priority.as_deref().map(str::parse).transpose()?,
        service: p.service.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
    })
}

/// Insights over the incidents declared in a span (by default all):
/// counts; time to acknowledge, mitigate and resolve from the start
/// (median and p90 by nearest rank, mean); incidents per service and the
/// alerts that declare the most; pages per person; time in role; overdue
/// updates; open and overdue follow-ups.
#[utoipa::path(get, path = "/api/v1/insights", tag = "postmortem", params(InsightsParams), security(("bearer" = [])),
    responses((status = 200, body = InsightsResponse), (status = 422, body = Problem)))]
pub async fn insights(
    State(app): State<Arc<App>>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<InsightsParams>,
) -> ApiResult<Json<InsightsResponse>> {
    Ok(Json(app.insights(&query(p)?).await?.into()))
}

/// The same as CSV, one number a row (`section,key,value`), for a
/// spreadsheet.
#[utoipa::path(get, path = "/api/v1/insights.csv", tag = "postmortem", params(InsightsParams), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = Problem)))]
pub async fn insights_csv(
    State(app): State<Arc<App>>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<InsightsParams>,
) -> ApiResult<Response> {
    let r: InsightsResponse = app.insights(&query(p)?).await?.into();
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv(&r)).into_response())
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

pub fn csv(r: &InsightsResponse) -> String {
    let mut out = String::from("section,key,value\r\n");
    let mut row = |section: &str, key: &str, value: String| {
        let _ = write!(out, "{},{},{}\r\n", field(section), field(key), field(&value));
    };
    row("incidents", "all", r.incidents.to_string());
    row("incidents", "auto_declared", r.auto_declared.to_string());
    for (k, v) in &r.by_priority {
        row("by_priority", k, v.to_string());
    }
    for (k, v) in &r.by_status {
        row("by_status", k, v.to_string());
    }
    for (name, s) in
        [("to_acknowledge", &r.to_acknowledge), ("to_mitigate", &r.to_mitigate), ("to_resolve", &r.to_resolve)]
    {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        row(name, "count", s.count.to_string());
        row(name, "median_seconds", opt(s.median));
        row(name, "p90_seconds", opt(s.p90));
        row(name, "mean_seconds", opt(s.mean));
    }
    for (k, v) in &r.incidents_per_service {
        row("incidents_per_service", k, v.to_string());
    }
    for d in &r.most_declaring {
        row("most_declaring", &format!("{}: {}", d.service, d.summary), d.incidents.to_string());
    }
    for (k, v) in &r.alerts_per_service {
        row("alerts_per_service", k, v.to_string());
    }
    for n in &r.noisiest_alerts {
        row("noisiest_alerts", &format!("{}/{}: {}", n.service, n.dedup_key, n.summary), n.events.to_string());
    }
    for (k, v) in &r.pages_per_person {
        row("pages_per_person", k, v.to_string());
    }
    for (k, v) in &r.pages_at_night {
        row("pages_at_night", k, v.to_string());
    }
    for (k, v) in &r.pages_on_weekends {
        row("pages_on_weekends", k, v.to_string());
    }
    for (person, roles) in &r.seconds_in_role {
        for (role, secs) in roles {
            row("seconds_in_role", &format!("{person}/{role}"), secs.to_string());
        }
    }
    row("updates", "overdue", r.overdue_updates.to_string());
    row("follow_ups", "open", r.follow_ups_open.to_string());
    row("follow_ups", "overdue", r.follow_ups_overdue.to_string());
    out
}
