//! The pages around the incident: the dashboard, alerts, services,
//! schedules, escalation policies, users and the personal page.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use muster_domain::alert::AlertStatus;
use muster_domain::limits::MAX_BULK_IDS;
use muster_domain::{IncidentRef, Priority, Status, Timestamp};
use muster_store::{AlertFilter, IncidentFilter, PageFilter};

use super::{Nav, Posted, Viewer, back, page_error, render};
use crate::error::ApiError;
use muster_app::App;

fn show<T: Template>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(page) => render(&page),
        Err(e) => page_error(e),
    }
}

fn nav(viewer: &Viewer, current: &'static str, _q: &HashMap<String, String>) -> Nav {
    viewer.nav(current)
}

pub struct IncidentRow {
    pub reference: String,
    pub title: String,
    pub priority: String,
    pub status: String,
    pub incident_manager: String,
    pub missing: String,
    pub declared_at: String,
    /// An open page of it reached nobody at some step.
    pub unreachable: bool,
    /// Audiences whose update is overdue, with the minutes: "internal 12 min".
    pub overdue: String,
}

pub struct AlertRow {
    pub id: u64,
    pub summary: String,
    pub service: String,
    pub severity: String,
    pub status: String,
    pub count: u64,
    pub incident: String,
    pub last_seen_at: String,
    /// The priority the first responder's assessment suggests, if assessed.
    pub suggested: String,
    pub service_id: u64,
    /// Many customers reported problems on its service lately: the
    /// assessment offers "many customers" (empty: not).
    pub reports_note: String,
}

impl From<muster_store::Alert> for AlertRow {
    fn from(a: muster_store::Alert) -> Self {
        AlertRow {
            id: a.id,
            summary: a.summary,
            service: a.service_name,
            service_id: a.service,
            reports_note: String::new(),
            severity: a.severity.as_str().to_owned(),
            status: a.status.as_str().to_owned(),
            count: a.count,
            incident: a.incident.map(|n| format!("INC-{n}")).unwrap_or_default(),
            last_seen_at: a.last_seen_at.to_string(),
            suggested: a
                .assessment
                .as_ref()
                .and_then(|v| v["suggested_priority"].as_str())
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

pub struct OnCall {
    pub id: u64,
    pub name: String,
    pub users: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    nav: Nav,
    incidents: Vec<IncidentRow>,
    alerts: Vec<AlertRow>,
    on_call: Vec<OnCall>,
    priorities: Vec<String>,
    /// The open incidents' references, for the triage forms' "link".
    open_incidents: Vec<String>,
}

/// Open incidents, most urgent and oldest first.
async fn open_incidents(app: &App) -> Result<Vec<IncidentRow>, ApiError> {
    let filter = IncidentFilter {
        statuses: vec![Status::Investigating, Status::Identified, Status::Monitoring],
        limit: 500,
        ..IncidentFilter::default()
    };
    let mut views = app.incidents(&filter).await?;
    views.sort_by_key(|v| (v.incident.priority, v.incident.declared_at));
    let unreachable = super::pages::unreachable_incidents(app).await?;
    Ok(views
        .into_iter()
        .map(|v| IncidentRow {
            reference: v.incident.reference().to_string(),
            title: v.incident.title.clone(),
            priority: v.incident.priority.as_str().to_owned(),
            status: v.incident.status.as_str().to_owned(),
            incident_manager: v.incident.incident_manager().map(|a| a.user.to_string()).unwrap_or_default(),
            missing: v.missing_roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
            declared_at: v.incident.declared_at.to_string(),
            unreachable: unreachable.contains(&v.incident.number),
            overdue: v
                .next_updates
                .iter()
                .filter(|(_, d)| d.overdue_minutes > 0)
                .map(|(a, d)| format!("{a} {} min", d.overdue_minutes))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect())
}

async fn on_call_now(app: &App, now: Timestamp) -> Result<Vec<OnCall>, ApiError> {
    let found = app.on_call_everywhere(now).await?;
    Ok(found
        .into_iter()
        .map(|(s, who)| OnCall { id: s.id, name: s.name, users: who.map(|h| format!("@{h}")).unwrap_or_default() })
        .collect())
}

pub async fn dashboard(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    show(
        async {
            let incidents = open_incidents(&app).await?;
            let filter = AlertFilter {
                statuses: vec![AlertStatus::Triggered, AlertStatus::Acknowledged],
                limit: 100,
                ..AlertFilter::default()
            };
            let mut alerts: Vec<AlertRow> = app
                .store
                .alerts(&filter)
                .await?
                .into_iter()
                .filter(|a| a.incident.is_none())
                .map(AlertRow::from)
                .collect();
            offer_customer_impact(&app, &mut alerts).await?;
            let on_call = on_call_now(&app, app.clock.now()).await?;
            Ok(Dashboard {
                nav: nav(&viewer, "dashboard", &q),
                open_incidents: incidents.iter().map(|i| i.reference.clone()).collect(),
                incidents,
                alerts,
                on_call,
                priorities: Priority::ALL.iter().map(|p| p.as_str().to_owned()).collect(),
            })
        }
        .await,
    )
}

/// Each alert's note when many customers reported problems on its
/// service in the last hour (one read per service).
async fn offer_customer_impact(app: &App, alerts: &mut [AlertRow]) -> Result<(), ApiError> {
    let mut seen: HashMap<u64, String> = HashMap::new();
    for a in alerts.iter_mut() {
        a.reports_note = match seen.get(&a.service_id) {
            Some(note) => note.clone(),
            None => {
                let note = reports_note(&app.recent_reports_on(a.service_id).await?, &a.service);
                seen.insert(a.service_id, note.clone());
                note
            }
        };
    }
    Ok(())
}

/// "12 customers reported problems on checkout in the last hour", when
/// that is many; else empty.
pub fn reports_note(counts: &muster_app::support::ReportCounts, service: &str) -> String {
    if counts.many_customers() {
        format!("{} customers reported problems on {service} in the last hour: many customers.", counts.customers)
    } else {
        String::new()
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct Alerts {
    nav: Nav,
    alerts: Vec<AlertRow>,
    status: String,
    statuses: Vec<String>,
}

pub async fn alerts(State(app): State<Arc<App>>, viewer: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    show(
        async {
            let status = q.get("status").cloned().unwrap_or_default();
            let statuses = match status.as_str() {
                "" => vec![],
                s => vec![s.parse::<AlertStatus>()?],
            };
            let filter = AlertFilter { statuses, limit: 500, ..AlertFilter::default() };
            let alerts = app.store.alerts(&filter).await?.into_iter().map(AlertRow::from).collect();
            Ok(Alerts {
                nav: nav(&viewer, "alerts", &q),
                alerts,
                status,
                statuses: ["triggered", "acknowledged", "resolved"].map(String::from).to_vec(),
            })
        }
        .await,
    )
}

fn alert_id(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("id", format!("there is no alert {s:?}")))
}

pub async fn acknowledge_alerts(State(app): State<Arc<App>>, form: Posted) -> Response {
    let result = async {
        let ticked = form.all("alert");
        if ticked.len() > MAX_BULK_IDS {
            return Err(ApiError::invalid(
                "alert",
                format!("acknowledge at most {MAX_BULK_IDS} alerts at once, not {}", ticked.len()),
            ));
        }
        let ids: Vec<u64> = ticked.iter().map(|s| alert_id(s)).collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Err(ApiError::invalid("alert", "tick the alerts to acknowledge"));
        }
        for id in &ids {
            app.set_alert_status(&form.viewer.user.actor(), *id, AlertStatus::Acknowledged).await?;
        }
        Ok(format!("Acknowledged {} alert{}.", ids.len(), if ids.len() == 1 { "" } else { "s" }))
    }
    .await;
    back("/alerts", result)
}

/// Where a form on the dashboard or the alerts page goes back to.
fn from(form: &Posted) -> &str {
    match form.get("back") {
        Some("/alerts") => "/alerts",
        _ => "/",
    }
}

pub async fn acknowledge_alert(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let a = app.set_alert_status(&form.viewer.user.actor(), alert_id(&id)?, AlertStatus::Acknowledged).await?;
        Ok(format!("Acknowledged alert {}.", a.id))
    }
    .await;
    back(from(&form), result)
}

/// The first responder's assessment: who is affected, and how badly.
pub async fn assess_alert(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let impact = muster_domain::alert::Impact {
            customer_impact: form.get("customer_impact").unwrap_or("").parse()?,
            services_affected: form
                .optional("services_affected")
                .map(|n| n.parse::<u32>())
                .transpose()
                .map_err(|_| ApiError::invalid("services_affected", "give a number of services"))?
                .unwrap_or(1)
                .max(1),
            data_loss: form.get("data_loss").is_some(),
            security: form.get("security").is_some(),
        };
        let a = app.assess(&form.viewer.user.actor(), alert_id(&id)?, impact).await?;
        let suggested = a.assessment.as_ref().and_then(|v| v["suggested_priority"].as_str()).unwrap_or("?").to_owned();
        Ok::<_, ApiError>(format!("Alert {id} assessed: the impact suggests {suggested}."))
    }
    .await;
    back(from(&form), result)
}

pub async fn declare_alert(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let priority: Option<Priority> = form.optional("priority").map(str::parse).transpose()?;
        let view = app.declare_from_alert(&form.viewer.user.actor(), alert_id(&id)?, priority, None, None).await?;
        Ok::<_, ApiError>(view.incident.reference().to_string())
    }
    .await;
    match result {
        Ok(r) => back(&format!("/incidents/{r}"), Ok(format!("Declared {r} for alert {id}."))),
        Err(e) => back(from(&form), Err(e)),
    }
}

pub async fn link_alert(State(app): State<Arc<App>>, Path(id): Path<String>, form: Posted) -> Response {
    let result = async {
        let r: IncidentRef = form.get("incident").unwrap_or("").parse()?;
        app.link_alert(&form.viewer.user.actor(), r, alert_id(&id)?).await?;
        Ok(format!("Linked alert {id} to {r}."))
    }
    .await;
    back(from(&form), result)
}

pub struct ServiceRow {
    pub id: u64,
    pub name: String,
    pub owner: String,
    pub key: String,
    pub policy: String,
    pub auto_declare: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct Services {
    nav: Nav,
    services: Vec<ServiceRow>,
}

pub async fn services(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    show(
        async {
            let policies: HashMap<u64, String> =
                app.store.policies().await?.into_iter().map(|p| (p.id, p.policy.name)).collect();
            let services = app
                .store
                .services()
                .await?
                .into_iter()
                .map(|s| ServiceRow {
                    // Integration keys are credentials: only the owner and admins see them.
                    key: if App::shows_key(&viewer.user.actor(), &s) {
                        s.integration_key.as_str().to_owned()
                    } else {
                        "hidden".to_owned()
                    },
                    id: s.id,
                    name: s.name,
                    owner: s.owner.map(|h| format!("@{h}")).unwrap_or_default(),
                    policy: s
                        .escalation_policy
                        .map(|id| policies.get(&id).cloned().unwrap_or_else(|| id.to_string()))
                        .unwrap_or_default(),
                    auto_declare: serde_json::to_string(&s.auto_declare).unwrap_or_default(),
                })
                .collect();
            Ok(Services { nav: nav(&viewer, "services", &q), services })
        }
        .await,
    )
}

pub struct ScheduleRow {
    pub id: u64,
    pub name: String,
    pub time_zone: String,
    pub on_call: String,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct Schedules {
    nav: Nav,
    schedules: Vec<ScheduleRow>,
}

pub async fn schedules(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    show(
        async {
            let now = app.clock.now();
            let rows = app
                .on_call_everywhere(now)
                .await?
                .into_iter()
                .map(|(s, who)| ScheduleRow {
                    id: s.id,
                    name: s.name,
                    time_zone: s.time_zone,
                    on_call: who.map(|h| format!("@{h}")).unwrap_or_default(),
                })
                .collect();
            Ok(Schedules { nav: nav(&viewer, "schedules", &q), schedules: rows })
        }
        .await,
    )
}

/// A shift drawn on a two-week line: where it starts and how wide it is,
/// in percent of the line.
pub struct Bar {
    pub user: String,
    pub left: String,
    pub width: String,
    pub start: String,
    pub end: String,
}

pub struct Lane {
    pub name: String,
    pub bars: Vec<Bar>,
}

pub struct OverrideRow {
    pub user: String,
    pub start: String,
    pub end: String,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    nav: Nav,
    name: String,
    time_zone: String,
    from: String,
    to: String,
    lanes: Vec<Lane>,
    overrides: Vec<OverrideRow>,
}

const DAYS_SHOWN: i64 = 14;

fn bars(shifts: &[muster_domain::schedule::Shift], from: Timestamp, to: Timestamp) -> Vec<Bar> {
    let span = to.duration_since(from).as_secs_f64().max(1.0);
    shifts
        .iter()
        .map(|s| {
            let start = s.start.max(from);
            let end = s.end.min(to);
            Bar {
                user: s.user.to_string(),
                left: format!("{:.3}", start.duration_since(from).as_secs_f64() / span * 100.0),
                width: format!("{:.3}", end.duration_since(start).as_secs_f64() / span * 100.0),
                start: s.start.to_string(),
                end: s.end.to_string(),
            }
        })
        .collect()
}

pub async fn schedule(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    show(
        async {
            let id: u64 = id.parse().map_err(|_| ApiError::not_found("id", format!("there is no schedule {id:?}")))?;
            let from = app.clock.now();
            let to = from
                .checked_add(jiff::SignedDuration::from_hours(24 * DAYS_SHOWN))
                .map_err(|e| ApiError::internal("a time out of range", e))?;
            let (record, shifts) = app.shifts(id, from, to).await?;
            let schedule = record.schedule()?;
            let mut lanes = vec![Lane { name: "On call (layers and overrides)".into(), bars: bars(&shifts, from, to) }];
            for (i, layer) in schedule.layers.iter().enumerate() {
                // A layer on its own: the same schedule with only this layer.
                let alone = muster_domain::schedule::Schedule {
                    time_zone: schedule.time_zone.clone(),
                    layers: vec![layer.clone()],
                    overrides: vec![],
                };
                let alone = app.shifts_of_schedule(alone, from, to).await?;
                lanes.push(Lane { name: format!("Layer {}", i + 1), bars: bars(&alone, from, to) });
            }
            let overrides = record
                .overrides
                .iter()
                .map(|o| OverrideRow { user: o.user.to_string(), start: o.start.to_string(), end: o.end.to_string() })
                .collect();
            Ok(SchedulePage {
                nav: nav(&viewer, "schedules", &q),
                name: record.name,
                time_zone: record.time_zone,
                from: from.to_string(),
                to: to.to_string(),
                lanes,
                overrides,
            })
        }
        .await,
    )
}

pub struct PolicyRow {
    pub id: u64,
    pub name: String,
    /// The policy as a timeline: "at 0 min: the on-call of Primary", …
    pub timeline: Vec<String>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct Policies {
    nav: Nav,
    policies: Vec<PolicyRow>,
}

pub async fn policies(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    show(
        async {
            let names: HashMap<u64, String> =
                app.store.schedules().await?.into_iter().map(|s| (s.id, s.name)).collect();
            let schedule_name = |id: u64| names.get(&id).cloned().unwrap_or_else(|| format!("schedule {id}"));
            let policies = app
                .store
                .policies()
                .await?
                .into_iter()
                .map(|p| PolicyRow {
                    id: p.id,
                    timeline: muster_domain::paging::describe_policy(&p.policy, &schedule_name),
                    name: p.policy.name,
                })
                .collect();
            Ok(Policies { nav: nav(&viewer, "policies", &q), policies })
        }
        .await,
    )
}

pub struct MethodRow {
    pub id: u64,
    pub kind: String,
    pub address: String,
}

pub struct UserRow {
    pub handle: String,
    pub name: String,
    pub permission: String,
    pub methods: Vec<MethodRow>,
    pub may_test: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct Users {
    nav: Nav,
    users: Vec<UserRow>,
}

pub async fn users(State(app): State<Arc<App>>, viewer: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    show(
        async {
            let mut rows = Vec::new();
            for u in app.store.users().await? {
                let may_test = muster_domain::access::may(
                    &viewer.user.actor(),
                    muster_domain::access::Action::ManageContacts,
                    &muster_domain::access::Standing::user(&u.handle, &viewer.user.actor()),
                );
                // Webhook URLs are often credentials: only the person and admins see them.
                let methods = app
                    .contact_methods(&viewer.user.actor(), &u.handle)
                    .await?
                    .into_iter()
                    .map(|m| MethodRow { id: m.id, kind: m.kind.as_str().to_owned(), address: m.address })
                    .collect();
                rows.push(UserRow {
                    handle: u.handle.to_string(),
                    name: u.name,
                    permission: match u.disabled_at {
                        Some(_) => format!("{} (disabled)", u.permission.as_str()),
                        None => u.permission.as_str().to_owned(),
                    },
                    methods,
                    may_test,
                });
            }
            Ok(Users { nav: nav(&viewer, "users", &q), users: rows })
        }
        .await,
    )
}

pub struct PageRow {
    pub id: u64,
    pub state: String,
    pub incident: String,
    pub message: String,
    pub updated_at: String,
}

pub struct RoleRow {
    pub incident: String,
    pub title: String,
    pub role: String,
}

pub struct ShiftRow {
    pub schedule: String,
    pub start: String,
    pub end: String,
}

#[derive(Template)]
#[template(path = "me.html")]
struct Me {
    nav: Nav,
    name: String,
    pages: Vec<PageRow>,
    /// My older pages, not shown.
    pages_more: u64,
    roles: Vec<RoleRow>,
    shifts: Vec<ShiftRow>,
    contacts: super::contacts::ContactPanel,
    /// My time zone (empty: UTC), and every zone the server knows.
    time_zone: String,
    zones: Vec<String>,
}

/// Pages shown on my page, newest first.
const MY_PAGES: u32 = 20;

/// `POST /me/time-zone`: the viewer's time zone (blank: UTC).
/// Viewers too: it is their own.
pub async fn set_my_time_zone(State(app): State<Arc<App>>, form: super::SessionForm) -> Response {
    let result = async {
        let user = &form.viewer.user;
        let zone = form
            .pairs
            .iter()
            .rev()
            .find(|(k, _)| k == "time_zone")
            .map(|(_, v)| v.trim())
            .filter(|z| !z.is_empty() && !z.eq_ignore_ascii_case("utc"));
        let u = app.set_time_zone(&user.actor(), &user.handle, zone).await?;
        Ok::<_, ApiError>(match u.time_zone {
            Some(z) => format!("Your time zone is {z}."),
            None => "You are on UTC.".to_owned(),
        })
    }
    .await;
    super::back("/me", result)
}

pub async fn me(State(app): State<Arc<App>>, viewer: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    show(
        async {
            let me = &viewer.user.handle;
            // The newest pages that notified me, however many others a storm sent.
            let mine = PageFilter { notified: Some(me.clone()), ..PageFilter::default() };
            let newest = app.pages(&PageFilter { limit: MY_PAGES, ..mine.clone() }).await?;
            let pages_more = if newest.len() == MY_PAGES as usize {
                app.page_count(&mine).await?.saturating_sub(u64::from(MY_PAGES))
            } else {
                0
            };
            let pages = newest
                .into_iter()
                .filter(|p| p.notified.contains(me))
                .map(|p| PageRow {
                    id: p.id,
                    state: p.state.as_str().to_owned(),
                    incident: p.incident.map(|n| format!("INC-{n}")).unwrap_or_default(),
                    message: p.message,
                    updated_at: p.updated_at.to_string(),
                })
                .collect();
            let filter = IncidentFilter {
                statuses: vec![Status::Investigating, Status::Identified, Status::Monitoring],
                limit: 500,
                ..IncidentFilter::default()
            };
            let mut roles = Vec::new();
            for v in app.incidents(&filter).await? {
                for a in v.incident.roles.iter().filter(|a| &a.user == me) {
                    let role = match &a.scope {
                        Some(s) => format!("{} ({s})", a.role.name()),
                        None => a.role.name(),
                    };
                    roles.push(RoleRow {
                        incident: v.incident.reference().to_string(),
                        title: v.incident.title.clone(),
                        role,
                    });
                }
            }
            let from = app.clock.now();
            let to = from
                .checked_add(jiff::SignedDuration::from_hours(24 * DAYS_SHOWN))
                .map_err(|e| ApiError::internal("a time out of range", e))?;
            let shifts = app
                .shifts_of(me, from, to)
                .await?
                .into_iter()
                .map(|(schedule, shift)| ShiftRow {
                    schedule,
                    start: shift.start.to_string(),
                    end: shift.end.to_string(),
                })
                .collect();
            let contacts = super::contacts::ContactPanel::load(&app, &viewer, me, "/me".to_owned()).await?;
            Ok(Me {
                nav: nav(&viewer, "me", &q),
                name: viewer.user.name.clone(),
                pages,
                pages_more,
                roles,
                shifts,
                contacts,
                time_zone: viewer.user.time_zone.clone().unwrap_or_default(),
                zones: {
                    let mut z: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_owned()).collect();
                    z.sort();
                    z
                },
            })
        }
        .await,
    )
}
