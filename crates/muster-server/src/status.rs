//! The public status page, without signing in: `GET /status` (the page),
//! `/status/incidents/{ref}`, and the JSON Statuspage's clients read, at
//! Statuspage's paths and in its shapes (`/api/v2/summary.json`,
//! `status.json`, `components.json`, `incidents.json`,
//! `incidents/unresolved.json`), and the history as feeds
//! (`/history.atom`, `/history.rss`: an item per public update).
//!
//! Everything here comes from `App::status_page` and
//! `App::public_incident`, which read components, their history and
//! published external updates only: no internal update, timeline entry or
//! responder's name is within reach of these handlers.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use muster_app::App;
use muster_app::statuspage::{PublicComponent, PublicIncidentView, StatusPage, component_json, group_id};
use muster_domain::maintenance::MaintenanceState;
use muster_domain::statuspage::{ComponentStatus, Indicator, PageSettings};
use muster_store::MaintenanceRecord;
use serde_json::{Value, json};

use crate::error::ApiError;

/// The page's strings, in one place for translations (English built in).
pub mod strings {
    pub const TITLE: &str = "Status";
    pub const CURRENT: &str = "Current status";
    pub const COMPONENTS: &str = "Components";
    pub const ACTIVE_INCIDENTS: &str = "Active incidents";
    pub const PAST_INCIDENTS: &str = "Past incidents (90 days)";
    pub const NO_INCIDENTS: &str = "No incidents in the last 90 days.";
    pub const NO_COMPONENTS: &str = "No components yet.";
    pub const ACTIVE_MAINTENANCE: &str = "Maintenance in progress";
    pub const UPCOMING_MAINTENANCE: &str = "Scheduled maintenance";
    pub const WINDOW: &str = "Window";
    pub const HISTORY: &str = "History (90 days)";
    pub const PAST_MAINTENANCE: &str = "Past maintenance";
    pub const MANAGE: &str = "Your subscription";
    pub const MANAGE_TEXT: &str = "Choose the components you hear about; none: everything on this page.";
    pub const SAVE: &str = "Save";
    pub const SAVED: &str = "Saved";
    pub const SAVED_TEXT: &str = "You will hear about what you chose.";
    pub const UPTIME: &str = "uptime";
    pub const DAYS_AGO: &str = "90 days ago";
    pub const TODAY: &str = "Today";
    pub const NEXT_UPDATE_BY: &str = "Next update by";
    pub const POSTMORTEM: &str = "What happened";
    pub const AFFECTED: &str = "Affected";
    pub const ALL_INCIDENTS: &str = "All incidents";
    pub const RESOLVED: &str = "Resolved";
    pub const SUBSCRIBE: &str = "Get updates by email";
    pub const SUBSCRIBE_HINT: &str = "Choose components to hear about only them; none: everything. We send a confirmation first, and every mail has a one-click unsubscribe.";
    pub const CHECK_MAIL: &str = "Check your mail";
    pub const CHECK_MAIL_TEXT: &str = "If this address is not subscribed yet, a mail with a confirmation link is on its way. Nothing else is sent before you confirm.";
    pub const CONFIRM: &str = "Confirm your subscription";
    pub const CONFIRM_TEXT: &str = "Confirm, and you will get this page's incident updates by mail.";
    pub const CONFIRMED: &str = "Subscribed";
    pub const CONFIRMED_TEXT: &str = "You will get this page's incident updates. Every mail has a link to unsubscribe.";
    pub const UNSUBSCRIBE: &str = "Unsubscribe";
    pub const UNSUBSCRIBE_TEXT: &str = "Stop getting this page's incident updates?";
    pub const UNSUBSCRIBED: &str = "Unsubscribed";
    pub const UNSUBSCRIBED_TEXT: &str = "You will get nothing more from this page.";
    pub const GONE: &str = "No such subscription";
    pub const GONE_TEXT: &str = "This link names no subscription: it may have ended already.";
}

/// The page's identity in Statuspage's JSON (the subscribers' webhooks say the same).
use muster_app::subscribers::PAGE_ID;

fn page(app: &App, p: &StatusPage) -> Value {
    json!({
        "id": PAGE_ID,
        "name": p.settings.name,
        "url": app.status_url(&p.settings),
        "time_zone": p.settings.time_zone,
        "updated_at": p.updated_at.to_string(),
    })
}

/// `t` on the page's clock: `2026-12-24 22:00 CET`.
fn local(t: muster_domain::Timestamp, settings: &PageSettings) -> String {
    let tz = muster_domain::schedule::time_zone(&settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    t.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string()
}

/// The components as Statuspage lists them: each, and each group as a
/// component of its own (`group: true`, its children's ids) in the worst
/// state of its children.
fn components_json(p: &StatusPage) -> Vec<Value> {
    let mut out = Vec::new();
    let mut groups: Vec<(String, Vec<&PublicComponent>)> = Vec::new();
    for c in &p.components {
        if let Some(g) = &c.record.spec.group {
            match groups.iter_mut().find(|(n, _)| n == g) {
                Some((_, list)) => list.push(c),
                None => groups.push((g.clone(), vec![c])),
            }
        }
    }
    out.extend(p.components.iter().map(|c| component_json(&c.record)));
    for (name, children) in groups {
        let worst = children
            .iter()
            .map(|c| c.record.status)
            .max_by_key(|s| severity(*s))
            .unwrap_or(ComponentStatus::Operational);
        let first = children.iter().map(|c| c.record.created_at).min().unwrap_or(p.updated_at);
        let last = children.iter().map(|c| c.record.updated_at).max().unwrap_or(p.updated_at);
        out.push(json!({
            "id": group_id(&name),
            "name": name,
            "status": worst.as_str(),
            "created_at": first.to_string(),
            "updated_at": last.to_string(),
            "position": children.iter().map(|c| c.record.spec.position).min().unwrap_or(0),
            "description": Value::Null,
            "showcase": false,
            "start_date": Value::Null,
            "group_id": Value::Null,
            "page_id": PAGE_ID,
            "group": true,
            "only_show_if_degraded": false,
            "components": children.iter().map(|c| c.record.id.to_string()).collect::<Vec<_>>(),
        }));
    }
    out
}

/// Worse states sort higher (maintenance above operational, below the rest).
fn severity(s: ComponentStatus) -> u8 {
    match s {
        ComponentStatus::Operational => 0,
        ComponentStatus::UnderMaintenance => 1,
        ComponentStatus::DegradedPerformance => 2,
        ComponentStatus::PartialOutage => 3,
        ComponentStatus::MajorOutage => 4,
    }
}

fn incident_json(app: &App, p: &StatusPage, i: &PublicIncidentView) -> Value {
    let id = format!("INC-{}", i.number);
    let component = |cid: u64| p.components.iter().find(|c| c.record.id == cid);
    json!({
        "id": id,
        "name": i.title,
        "status": i.status.as_str(),
        "created_at": i.created_at.to_string(),
        "updated_at": i.updated_at.to_string(),
        "monitoring_at": i.updates.iter().filter(|u| u.status == muster_domain::update::PublicStatus::Monitoring).map(|u| u.at).min().map(|t| t.to_string()),
        "resolved_at": i.resolved_at.filter(|_| !i.is_open()).map(|t| t.to_string()),
        "impact": i.impact.as_str(),
        "shortlink": format!("{}/status/incidents/{id}", app.config.public_url.trim_end_matches('/')),
        "started_at": i.created_at.to_string(),
        "page_id": PAGE_ID,
        "incident_updates": i.updates.iter().map(|u| json!({
            "id": format!("{id}-{}", u.id),
            "status": u.status.as_str(),
            "body": u.text,
            "incident_id": id,
            "created_at": u.at.to_string(),
            "updated_at": u.at.to_string(),
            "display_at": u.at.to_string(),
            "affected_components": u.components.iter().map(|(cid, name, old, new)| json!({
                "code": cid.to_string(), "name": name, "old_status": old.as_str(), "new_status": new.as_str(),
            })).collect::<Vec<_>>(),
            "deliver_notifications": true,
            "custom_tweet": Value::Null,
            "tweet_id": Value::Null,
        })).collect::<Vec<_>>(),
        "components": i.components.iter().filter_map(|(cid, _)| component(*cid)).map(|c| component_json(&c.record)).collect::<Vec<_>>(),
    })
}

/// A maintenance as Statuspage gives it: an incident with its window.
fn maintenance_json(app: &App, p: &StatusPage, m: &MaintenanceRecord) -> Value {
    let id = format!("maintenance-{}", m.id);
    let component = |cid: &u64| p.components.iter().find(|c| c.record.id == *cid);
    json!({
        "id": id,
        "name": m.spec.title,
        "status": m.state.as_str(),
        "created_at": m.created_at.to_string(),
        "updated_at": m.updated_at.to_string(),
        "monitoring_at": Value::Null,
        "resolved_at": m.completed_at.map(|t| t.to_string()),
        "impact": "maintenance",
        "shortlink": format!("{}/status#{id}", app.config.public_url.trim_end_matches('/')),
        "started_at": m.started_at.unwrap_or(m.spec.starts_at).to_string(),
        "page_id": PAGE_ID,
        "scheduled_for": m.spec.starts_at.to_string(),
        "scheduled_until": m.spec.ends_at.to_string(),
        "incident_updates": m.updates.iter().rev().map(|u| json!({
            "id": format!("{id}-{}", u.id),
            "status": u.state.as_str(),
            "body": maintenance_text(u),
            "incident_id": id,
            "created_at": u.at.to_string(),
            "updated_at": u.at.to_string(),
            "display_at": u.at.to_string(),
            "affected_components": m.spec.components.iter().filter_map(component).map(|c| json!({
                "code": c.record.id.to_string(), "name": c.record.spec.name,
                "old_status": c.record.status.as_str(), "new_status": c.record.status.as_str(),
            })).collect::<Vec<_>>(),
            "deliver_notifications": true,
            "custom_tweet": Value::Null,
            "tweet_id": Value::Null,
        })).collect::<Vec<_>>(),
        "components": m.spec.components.iter().filter_map(component).map(|c| component_json(&c.record)).collect::<Vec<_>>(),
    })
}

/// What a maintenance's update says, its state's words when it said nothing.
fn maintenance_text(u: &muster_store::MaintenanceUpdate) -> String {
    if u.body.is_empty() { muster_app::maintenance::default_text(u.state).to_owned() } else { u.body.clone() }
}

fn maintenances_json(app: &App, p: &StatusPage, keep: impl Fn(MaintenanceState) -> bool) -> Vec<Value> {
    p.maintenances.iter().filter(|m| keep(m.state)).map(|m| maintenance_json(app, p, m)).collect()
}

fn upcoming(s: MaintenanceState) -> bool {
    s == MaintenanceState::Scheduled
}

fn active(s: MaintenanceState) -> bool {
    s.holds_components()
}

fn status_json(indicator: Indicator) -> Value {
    json!({"indicator": indicator.as_str(), "description": indicator.description()})
}

/// JSON for anyone, cached briefly by proxies and browsers.
fn public_json(v: Value) -> Response {
    let mut r = Json(v).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=10"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

async fn read(app: &App) -> Result<StatusPage, ApiError> {
    let p = app.status_page().await?;
    if !p.settings.enabled {
        return Err(muster_app::statuspage::page_off().into());
    }
    Ok(p)
}

pub async fn summary(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let open: Vec<Value> = p.incidents.iter().filter(|i| i.is_open()).map(|i| incident_json(&app, &p, i)).collect();
    Ok(public_json(json!({
        "page": page(&app, &p),
        "components": components_json(&p),
        "incidents": open,
        "scheduled_maintenances": maintenances_json(&app, &p, |s| upcoming(s) || active(s)),
        "status": status_json(p.indicator),
    })))
}

pub async fn status(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    Ok(public_json(json!({"page": page(&app, &p), "status": status_json(p.indicator)})))
}

pub async fn components(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    Ok(public_json(json!({"page": page(&app, &p), "components": components_json(&p)})))
}

pub async fn incidents(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let all: Vec<Value> = p.incidents.iter().take(50).map(|i| incident_json(&app, &p, i)).collect();
    Ok(public_json(json!({"page": page(&app, &p), "incidents": all})))
}

pub async fn unresolved(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let open: Vec<Value> = p.incidents.iter().filter(|i| i.is_open()).map(|i| incident_json(&app, &p, i)).collect();
    Ok(public_json(json!({"page": page(&app, &p), "incidents": open})))
}

pub async fn scheduled_maintenances(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let all = maintenances_json(&app, &p, |_| true);
    Ok(public_json(json!({"page": page(&app, &p), "scheduled_maintenances": all})))
}

pub async fn upcoming_maintenances(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let list = maintenances_json(&app, &p, upcoming);
    Ok(public_json(json!({"page": page(&app, &p), "scheduled_maintenances": list})))
}

pub async fn active_maintenances(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let list = maintenances_json(&app, &p, active);
    Ok(public_json(json!({"page": page(&app, &p), "scheduled_maintenances": list})))
}

/// One day's bar: its colour (the worst state), what it says on hover.
pub struct Bar {
    pub class: &'static str,
    pub title: String,
}

pub struct ComponentRow {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub status: &'static str,
    pub label: &'static str,
    pub uptime: String,
    pub bars: Vec<Bar>,
}

pub struct GroupRows {
    pub name: Option<String>,
    pub components: Vec<ComponentRow>,
}

pub struct IncidentRow {
    pub reference: String,
    pub title: String,
    pub status: &'static str,
    pub impact: &'static str,
    pub affected: String,
    pub next_update: Option<String>,
    /// (status, text, at), newest first.
    pub updates: Vec<(&'static str, String, String)>,
    pub at: String,
}

/// A maintenance window on the page.
pub struct MaintenanceRow {
    pub anchor: String,
    pub title: String,
    pub status: &'static str,
    pub label: &'static str,
    pub window: String,
    pub affected: String,
    /// (state, text, at), newest first.
    pub updates: Vec<(&'static str, String, String)>,
}

fn maintenance_row(p: &StatusPage, m: &MaintenanceRecord) -> MaintenanceRow {
    let names: Vec<&str> = m
        .spec
        .components
        .iter()
        .filter_map(|id| p.components.iter().find(|c| c.record.id == *id).map(|c| c.record.spec.name.as_str()))
        .collect();
    MaintenanceRow {
        anchor: format!("maintenance-{}", m.id),
        title: m.spec.title.clone(),
        status: m.state.as_str(),
        label: m.state.label(),
        window: format!("{} – {}", local(m.spec.starts_at, &p.settings), local(m.spec.ends_at, &p.settings)),
        affected: names.join(", "),
        updates: m.updates.iter().rev().map(|u| (u.state.label(), maintenance_text(u), u.at.to_string())).collect(),
    }
}

#[derive(Template)]
#[template(path = "status.html")]
struct Page {
    s: Strings,
    indicator: &'static str,
    description: &'static str,
    groups: Vec<GroupRows>,
    open: Vec<IncidentRow>,
    past: Vec<IncidentRow>,
    active_maintenance: Vec<MaintenanceRow>,
    upcoming_maintenance: Vec<MaintenanceRow>,
    updated_at: String,
}

/// The strings as the template reads them, and how the page presents
/// itself (its name, logo and links).
struct Strings {
    name: String,
    logo_url: Option<String>,
    links: Vec<muster_domain::statuspage::PageLink>,
}

impl Strings {
    fn of(settings: &PageSettings) -> Strings {
        Strings { name: settings.name.clone(), logo_url: settings.logo_url.clone(), links: settings.links.clone() }
    }

    fn get(&self, key: &str) -> &'static str {
        match key {
            "title" => strings::TITLE,
            "current" => strings::CURRENT,
            "components" => strings::COMPONENTS,
            "active" => strings::ACTIVE_INCIDENTS,
            "past" => strings::PAST_INCIDENTS,
            "no_incidents" => strings::NO_INCIDENTS,
            "no_components" => strings::NO_COMPONENTS,
            "uptime" => strings::UPTIME,
            "days_ago" => strings::DAYS_AGO,
            "today" => strings::TODAY,
            "next_update_by" => strings::NEXT_UPDATE_BY,
            "postmortem" => strings::POSTMORTEM,
            "affected" => strings::AFFECTED,
            "all" => strings::ALL_INCIDENTS,
            "subscribe" => strings::SUBSCRIBE,
            "subscribe_hint" => strings::SUBSCRIBE_HINT,
            "active_maintenance" => strings::ACTIVE_MAINTENANCE,
            "upcoming_maintenance" => strings::UPCOMING_MAINTENANCE,
            "window" => strings::WINDOW,
            "history" => strings::HISTORY,
            "past_maintenance" => strings::PAST_MAINTENANCE,
            "manage" => strings::MANAGE,
            "manage_text" => strings::MANAGE_TEXT,
            "save" => strings::SAVE,
            "unsubscribe" => strings::UNSUBSCRIBE,
            _ => "",
        }
    }
}

fn bar(day: &(jiff::civil::Date, muster_domain::statuspage::DayUptime)) -> Bar {
    let (date, u) = day;
    let class = match u.percent {
        None => "none",
        Some(_) => match u.worst {
            ComponentStatus::MajorOutage => "major_outage",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::UnderMaintenance | ComponentStatus::Operational => "operational",
        },
    };
    let title = match u.percent {
        None => format!("{date}: no data"),
        Some(p) => format!("{date}: {p:.2} % ({})", u.worst.label()),
    };
    Bar { class, title }
}

fn incident_row(i: &PublicIncidentView, settings: &PageSettings) -> IncidentRow {
    IncidentRow {
        reference: format!("INC-{}", i.number),
        title: i.title.clone(),
        status: i.status.as_str(),
        impact: i.impact.as_str(),
        affected: i.components.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", "),
        next_update: i.next_update_at.filter(|_| i.is_open()).map(|t| local(t, settings)),
        updates: i.updates.iter().map(|u| (u.status.label(), u.text.clone(), u.at.to_string())).collect(),
        at: i.created_at.to_string(),
    }
}

fn html(t: &impl Template) -> Result<Response, ApiError> {
    let body = t.render().map_err(|e| ApiError::internal("the status page failed to render", e))?;
    let mut r = Html(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=10"));
    Ok(r)
}

pub async fn page_html(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let mut groups: Vec<GroupRows> = Vec::new();
    for c in p.components.iter().filter(|c| !c.record.spec.only_show_if_degraded || c.record.status.is_degraded()) {
        let row = ComponentRow {
            id: c.record.id,
            name: c.record.spec.name.clone(),
            description: c.record.spec.description.clone(),
            status: c.record.status.as_str(),
            label: c.record.status.label(),
            uptime: c.uptime_percent.map_or_else(|| "–".to_owned(), |u| format!("{u:.2} %")),
            bars: c.days.iter().map(bar).collect(),
        };
        let group = c.record.spec.group.clone();
        match groups.iter_mut().find(|g| g.name == group) {
            Some(g) => g.components.push(row),
            None => groups.push(GroupRows { name: group, components: vec![row] }),
        }
    }
    html(&Page {
        s: Strings::of(&p.settings),
        indicator: p.indicator.as_str(),
        description: p.indicator.description(),
        groups,
        open: p.incidents.iter().filter(|i| i.is_open()).map(|i| incident_row(i, &p.settings)).collect(),
        past: p.incidents.iter().filter(|i| !i.is_open()).map(|i| incident_row(i, &p.settings)).collect(),
        active_maintenance: p.maintenances.iter().filter(|m| active(m.state)).map(|m| maintenance_row(&p, m)).collect(),
        upcoming_maintenance: p
            .maintenances
            .iter()
            .filter(|m| upcoming(m.state))
            .map(|m| maintenance_row(&p, m))
            .collect(),
        updated_at: p.updated_at.to_string(),
    })
}

#[derive(Template)]
#[template(path = "status_history.html")]
struct HistoryPage {
    s: Strings,
    incidents: Vec<IncidentRow>,
    maintenances: Vec<MaintenanceRow>,
}

/// `GET /status/history`: every incident of the last 90 days, newest
/// first, and the maintenance completed.
pub async fn history_html(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let incidents = p.incidents.iter().map(|i| incident_row(i, &p.settings)).collect();
    let maintenances = p
        .maintenances
        .iter()
        .rev()
        .filter(|m| m.state == MaintenanceState::Completed)
        .map(|m| maintenance_row(&p, m))
        .collect();
    html(&HistoryPage { s: Strings::of(&p.settings), incidents, maintenances })
}

#[derive(Template)]
#[template(path = "status_subscription.html")]
struct SubscriptionPage {
    s: Strings,
    token: String,
    /// (id, name, chosen).
    components: Vec<(u64, String, bool)>,
}

/// `GET /status/subscriptions/{token}`: the components the subscriber
/// hears of, to change.
pub async fn subscription_form(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some(sub) = app.subscriber_by_token(&token).await? else { return gone(&app).await };
    let components =
        app.components().await?.into_iter().map(|c| (c.id, c.spec.name, sub.components.contains(&c.id))).collect();
    let s = Strings::of(&app.status_settings().await?);
    let mut r = html(&SubscriptionPage { s, token, components })?;
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `POST /status/subscriptions/{token}`: the components chosen (none: all).
pub async fn change_subscription(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let components: Vec<String> =
        form_urlencoded::parse(&body).filter(|(k, _)| k == "components").map(|(_, v)| v.into_owned()).collect();
    if !app.change_subscription(&token, &components).await? {
        return gone(&app).await;
    }
    message(&app, strings::SAVED, strings::SAVED_TEXT, None, "").await
}

#[derive(Template)]
#[template(path = "status_incident.html")]
struct IncidentPage {
    s: Strings,
    i: IncidentRow,
    /// The published postmortem's public summary, when there is one.
    postmortem: Option<String>,
}

pub async fn incident_html(State(app): State<Arc<App>>, Path(r): Path<String>) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found("ref", format!("there is no public incident {r:?}"));
    let reference: muster_domain::IncidentRef = r.parse().map_err(|_| missing())?;
    let settings = app.public_settings().await?;
    let Some(i) = app.public_incident(reference.0).await? else { return Err(missing()) };
    let postmortem = app.public_postmortem_summary(reference).await?;
    html(&IncidentPage { s: Strings::of(&settings), i: incident_row(&i, &settings), postmortem })
}

/// Text for XML: the five characters XML gives meaning to, escaped.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// One feed item per public update, newest first: (id, title, link, at, text).
fn feed_items(app: &App, p: &StatusPage) -> Vec<(String, String, String, muster_domain::Timestamp, String)> {
    let base = app.config.public_url.trim_end_matches('/').to_owned();
    let mut items = Vec::new();
    for i in &p.incidents {
        let link = format!("{base}/status/incidents/INC-{}", i.number);
        for u in &i.updates {
            let label = u.status.label();
            let affected: Vec<String> =
                u.components.iter().map(|(_, name, _, new)| format!("{name}: {}", new.label())).collect();
            let text =
                if affected.is_empty() { u.text.clone() } else { format!("{}\n\n{}", u.text, affected.join("\n")) };
            items.push((format!("{link}#update-{}", u.id), format!("{}: {label}", i.title), link.clone(), u.at, text));
        }
    }
    for m in &p.maintenances {
        let anchor = format!("maintenance-{}", m.id);
        let link = format!("{base}/status#{anchor}");
        for u in &m.updates {
            let text = format!("{}\n\n{}", maintenance_text(u), maintenance_row(p, m).window);
            let title = format!("{}: {}", m.spec.title, u.state.label());
            items.push((format!("{base}/status/{anchor}#update-{}", u.id), title, link.clone(), u.at, text));
        }
    }
    items.sort_by(|a, b| b.3.cmp(&a.3).then(b.0.cmp(&a.0)));
    items
}

fn feed(body: String, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    r
}

/// The page's history as Atom: an entry per public incident update.
pub async fn atom(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let base = app.config.public_url.trim_end_matches('/');
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n",
    );
    out.push_str(&format!(
        "<id>{}</id>\n<title>{} – {}</title>\n",
        xml(&format!("{base}/status")),
        xml(strings::TITLE),
        xml(strings::PAST_INCIDENTS)
    ));
    out.push_str(&format!(
        "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        xml(&format!("{base}/status"))
    ));
    out.push_str(&format!(
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        xml(&format!("{base}/history.atom"))
    ));
    out.push_str(&format!("<updated>{}</updated>\n", p.updated_at));
    for (id, title, link, at, text) in feed_items(&app, &p) {
        let html = format!("<p>{}</p>", xml(&text).replace("\n\n", "</p><p>").replace('\n', "<br>"));
        out.push_str(&format!(
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<published>{at}</published>\n<updated>{at}</updated>\n<author><name>{}</name></author>\n<content type=\"html\">{}</content>\n</entry>\n",
            xml(&id), xml(&title), xml(&link), xml(strings::TITLE), xml(&html)
        ));
    }
    out.push_str("</feed>\n");
    Ok(feed(out, "application/atom+xml; charset=utf-8"))
}

/// The same history as RSS 2.0.
pub async fn rss(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let p = read(&app).await?;
    let base = app.config.public_url.trim_end_matches('/');
    let date = |t: muster_domain::Timestamp| {
        t.to_zoned(jiff::tz::TimeZone::UTC).strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\">\n<channel>\n");
    out.push_str(&format!(
        "<title>{} – {}</title>\n<link>{}</link>\n<description>{}</description>\n<language>en</language>\n<lastBuildDate>{}</lastBuildDate>\n",
        xml(strings::TITLE), xml(strings::PAST_INCIDENTS), xml(&format!("{base}/status")), xml(strings::PAST_INCIDENTS), date(p.updated_at)
    ));
    for (id, title, link, at, text) in feed_items(&app, &p) {
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>{}</link>\n<guid isPermaLink=\"false\">{}</guid>\n<pubDate>{}</pubDate>\n<description>{}</description>\n</item>\n",
            xml(&title), xml(&link), xml(&id), date(at), xml(&text)
        ));
    }
    out.push_str("</channel>\n</rss>\n");
    Ok(feed(out, "application/rss+xml; charset=utf-8"))
}

#[derive(Template)]
#[template(path = "status_message.html")]
struct Message {
    s: Strings,
    heading: &'static str,
    text: &'static str,
    action: Option<String>,
    button: &'static str,
}

async fn message(
    app: &App,
    heading: &'static str,
    text: &'static str,
    action: Option<String>,
    button: &'static str,
) -> Result<Response, ApiError> {
    let s = Strings::of(&app.status_settings().await?);
    let mut r = html(&Message { s, heading, text, action, button })?;
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `POST /status/subscribe`: `{"email", "components"?}` or
/// `{"webhook", "components"?}` as JSON, or the page's form. For mail the
/// answer is the same whether the address was subscribed or not.
pub async fn subscribe(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let json = crate::extract::require_json(&headers).is_ok();
    let (email, webhook, components) = if json {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            email: Option<String>,
            webhook: Option<String>,
            components: Option<Vec<String>>,
        }
        let r: Request = crate::extract::parse_json(&body)?;
        (r.email, r.webhook, r.components.unwrap_or_default())
    } else {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let email = pairs.iter().find(|(k, _)| k == "email").map(|(_, v)| v.clone());
        let components = pairs.iter().filter(|(k, _)| k == "components").map(|(_, v)| v.clone()).collect();
        (email, None, components)
    };
    match (email, webhook) {
        (Some(email), None) => {
            app.subscribe_email(&email, &components).await?;
            if json {
                let said = json!({"message": strings::CHECK_MAIL_TEXT});
                Ok((axum::http::StatusCode::ACCEPTED, Json(said)).into_response())
            } else {
                message(&app, strings::CHECK_MAIL, strings::CHECK_MAIL_TEXT, None, "").await
            }
        }
        (None, Some(url)) => match app.subscribe_webhook(&url, &components).await? {
            muster_app::subscribers::Subscribed::Webhook { id, secret } => {
                let said = json!({"id": id, "secret": secret,
                    "message": "A first delivery comes now: answer it with 2xx and the webhook is subscribed. The secret signs every delivery (X-Muster-Signature)."});
                Ok((axum::http::StatusCode::CREATED, Json(said)).into_response())
            }
            _ => Err(ApiError::internal("a webhook subscription answered as mail", "subscribe")),
        },
        _ => Err(ApiError::invalid(
            "email",
            "give an email address (\"email\") or a webhook URL (\"webhook\"), one of them",
        )),
    }
}

async fn gone(app: &App) -> Result<Response, ApiError> {
    let mut r = message(app, strings::GONE, strings::GONE_TEXT, None, "").await?;
    *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
    Ok(r)
}

/// The confirmation link: a button (mail scanners follow links; only a
/// person presses it).
pub async fn confirm_form(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    if app.subscriber_by_token(&token).await?.is_none() {
        return gone(&app).await;
    }
    let action = format!("/status/subscriptions/{token}/confirm");
    message(&app, strings::CONFIRM, strings::CONFIRM_TEXT, Some(action), strings::CONFIRM).await
}

pub async fn confirm(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    if !app.confirm_subscription(&token).await? {
        return gone(&app).await;
    }
    message(&app, strings::CONFIRMED, strings::CONFIRMED_TEXT, None, "").await
}

pub async fn unsubscribe_form(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    if app.subscriber_by_token(&token).await?.is_none() {
        return gone(&app).await;
    }
    let action = format!("/status/subscriptions/{token}/unsubscribe");
    message(&app, strings::UNSUBSCRIBE, strings::UNSUBSCRIBE_TEXT, Some(action), strings::UNSUBSCRIBE).await
}

/// Unsubscribes: the page's button, or a mail client's one click
/// (RFC 8058: `List-Unsubscribe=One-Click` posted to the same URL).
pub async fn unsubscribe(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    if !app.unsubscribe(&token).await? {
        return gone(&app).await;
    }
    message(&app, strings::UNSUBSCRIBED, strings::UNSUBSCRIBED_TEXT, None, "").await
}
