//! The insights page: the numbers of `GET /api/v1/insights` with bar
//! charts drawn as SVG on the server (no script), coloured from the
//! stylesheet's variables so they read in dark mode, and as wide as the
//! screen so they read on a phone.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use muster_app::App;
use muster_app::insights::InsightsQuery;
use muster_domain::postmortem::document::human_duration;

use super::{Nav, Viewer, page_error, render};
use crate::error::ApiError;

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A horizontal bar chart: one row per `(label, value, shown)`, the
/// longest bar the largest value.
pub fn bar_chart(title: &str, rows: &[(String, f64, String)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let (label_w, bar_w, row_h) = (170.0, 330.0, 24.0);
    let height = (rows.len() as f64 * row_h).max(row_h);
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 600 {height}\" preserveAspectRatio=\"xMinYMin meet\"><title>{t}</title>",
        t = xml(title)
    );
    if rows.is_empty() {
        let _ = write!(svg, "<text x=\"0\" y=\"16\" class=\"value\">nothing in this span</text>");
    }
    for (i, (label, value, shown)) in rows.iter().enumerate() {
        let y = i as f64 * row_h;
        let w = if max > 0.0 { (value / max * bar_w).max(1.0) } else { 1.0 };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\" class=\"label\">{l}</text><rect x=\"{label_w}\" y=\"{ry}\" width=\"{w:.1}\" height=\"16\" rx=\"2\" class=\"bar\"/><text x=\"{vx:.1}\" y=\"{ty}\" class=\"value\">{v}</text>",
            ty = y + 16.0,
            ry = y + 4.0,
            l = xml(label),
            vx = label_w + w + 6.0,
            v = xml(shown),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[derive(Template)]
#[template(path = "insights.html")]
struct InsightsPage {
    nav: Nav,
    from: String,
    to: String,
    priority: String,
    incidents: u32,
    auto_declared: u32,
    /// (measure, count, median, p90, mean).
    durations: Vec<(&'static str, u32, String, String, String)>,
    charts: Vec<(&'static str, String)>,
    /// The noisiest alert keys: (service, key, summary, events, alerts).
    noisy: Vec<(String, String, String, u64, u64)>,
    /// Pages per person: (person, pages, at night, on weekends), most first.
    paged: Vec<(String, u32, u32, u32)>,
    follow_ups_open: u32,
    follow_ups_overdue: u32,
    overdue_updates: u32,
    csv: String,
}

pub async fn page(State(app): State<Arc<App>>, viewer: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    let result = async {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let time = |k: &str| {
            get(k)
                .map(|v| {
                    v.parse::<muster_domain::Timestamp>()
                        .or_else(|_| format!("{v}T00:00:00Z").parse())
                        .map_err(|_| ApiError::invalid(k, format!("{v:?} is not a date: give 2026-11-01")))
                })
                .transpose()
        };
        let query = InsightsQuery {
            from: time("from")?,
            to: time("to")?,
            priority: get("priority").as_deref().map(str::parse).transpose()?,
            service: get("service"),
        };
        let view = app.insights(&query).await?;
        let i = &view.insights;
        let took = |v: Option<i64>| v.map(human_duration).unwrap_or_else(|| "–".into());
        let durations = [("acknowledge", &i.to_acknowledge), ("mitigate", &i.to_mitigate), ("resolve", &i.to_resolve)]
            .into_iter()
            .map(|(k, s)| (k, s.count, took(s.median), took(s.p90), took(s.mean)))
            .collect();
        let minutes = |v: Option<i64>| v.unwrap_or(0) as f64 / 60.0;
        let mut spread = Vec::new();
        for (k, s) in [("acknowledge", &i.to_acknowledge), ("mitigate", &i.to_mitigate), ("resolve", &i.to_resolve)] {
            spread.push((format!("to {k}, median"), minutes(s.median), took(s.median)));
            spread.push((format!("to {k}, p90"), minutes(s.p90), took(s.p90)));
        }
        let counted = |m: &std::collections::BTreeMap<String, u32>, prefix: &str| {
            let mut rows: Vec<(String, f64, String)> =
                m.iter().map(|(k, n)| (format!("{prefix}{k}"), *n as f64, n.to_string())).collect();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            rows.truncate(15);
            rows
        };
        let mut hours: Vec<(String, f64, String)> = i
            .seconds_in_role
            .iter()
            .map(|(p, roles)| {
                let s: i64 = roles.values().sum();
                (format!("@{p}"), s as f64 / 3600.0, format!("{:.1} h", s as f64 / 3600.0))
            })
            .collect();
        hours.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        hours.truncate(15);
        let mut alerts: Vec<(String, f64, String)> =
            view.alerts.per_service.iter().map(|(k, n)| (k.clone(), *n as f64, n.to_string())).collect();
        alerts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        alerts.truncate(15);
        let noisy = view
            .alerts
            .noisiest
            .iter()
            .map(|n| (n.service.clone(), n.dedup_key.clone(), n.summary.clone(), n.events, n.alerts))
            .collect();
        let mut paged: Vec<(String, u32, u32, u32)> = i
            .pages_per_person
            .iter()
            .map(|(p, n)| {
                let of = |m: &std::collections::BTreeMap<String, u32>| m.get(p).copied().unwrap_or(0);
                (p.clone(), *n, of(&i.pages_at_night), of(&i.pages_on_weekends))
            })
            .collect();
        paged.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let charts = vec![
            ("Time from the start", bar_chart("Time from the start, median and p90", &spread)),
            ("Incidents by priority", bar_chart("Incidents by priority", &counted(&i.by_priority, ""))),
            ("Incidents per service", bar_chart("Incidents per service", &counted(&i.incidents_per_service, ""))),
            ("Alerts per service", bar_chart("Alerts per service", &alerts)),
            ("Pages per person", bar_chart("Pages per person", &counted(&i.pages_per_person, "@"))),
            ("Hours in a role", bar_chart("Hours in a role per person", &hours)),
        ];
        let mut csv = String::from("/api/v1/insights.csv");
        let params: Vec<String> = ["from", "to", "priority", "service"]
            .iter()
            .filter_map(|k| {
                get(k).map(|v| format!("{k}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
            })
            .collect();
        if !params.is_empty() {
            csv = format!("{csv}?{}", params.join("&"));
        }
        Ok::<_, ApiError>(InsightsPage {
            nav: viewer.nav("insights"),
            from: get("from").unwrap_or_default(),
            to: get("to").unwrap_or_default(),
            priority: get("priority").unwrap_or_default(),
            incidents: i.incidents,
            auto_declared: i.auto_declared,
            durations,
            charts,
            noisy,
            paged,
            follow_ups_open: view.follow_ups_open,
            follow_ups_overdue: view.follow_ups_overdue,
            overdue_updates: i.overdue_updates,
            csv,
        })
    }
    .await;
    match result {
        Ok(page) => render(&page),
        Err(e) => page_error(e),
    }
}
