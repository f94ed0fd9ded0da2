//! Who was paged and whether it reached them: the incident page's pages
//! panel and its warning while a page reaches nobody, the dashboard's mark
//! on such incidents, and the alert detail page.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use muster_domain::access::{self, Action, Standing};
use muster_domain::page::{PageState, PageTarget};
use muster_domain::paging::{ContactKind, shown_address};
use muster_domain::{Actor, Handle, Priority};
use muster_store::{Delivery, PageFilter, PageRecord};

use super::{Nav, Viewer, page_error, render};
use crate::error::ApiError;
use muster_app::App;

/// Pages shown on an incident or an alert, newest first.
const SHOWN: u32 = 20;

/// One notification of a page, as the viewer may see its address.
pub struct DeliveryView {
    pub person: String,
    pub kind: String,
    pub to: String,
    /// `delivered`, `failed`, `gave up` or `pending`.
    pub outcome: &'static str,
    pub at: String,
    pub error: String,
}

pub struct PageView {
    pub id: u64,
    pub target: String,
    pub state: String,
    /// Steps notified so far, of how many the escalation has.
    pub step: u32,
    pub steps: u32,
    pub deliveries: Vec<DeliveryView>,
    /// Steps that reached nobody: (step, why).
    pub unreachable: Vec<(u32, String)>,
    pub answered_by: String,
    pub answered_at: String,
    pub reason: String,
    /// Said in a warning while the page is open and one of its steps
    /// reached nobody.
    pub warning: Option<String>,
}

/// What an open page's warning says: its latest step that reached
/// nobody, why, and where the escalation went on to.
pub fn warning(p: &PageRecord) -> Option<String> {
    let u = p.unreachable.last()?;
    if !p.state.is_open() {
        return None;
    }
    let went = if p.step > u.step {
        format!("escalated to step {}", p.step)
    } else {
        "escalating to the next step".to_owned()
    };
    Some(format!("Page {} reached nobody at step {}: {} — {went}", p.id, u.step, u.why))
}

fn target_text(p: &PageRecord) -> String {
    match &p.target {
        PageTarget::Policy(_) => format!("escalation policy {:?}", p.policy.name),
        other => other.to_string(),
    }
}

/// The newest [`SHOWN`] pages of an alert, with their deliveries as `actor`
/// may see them (`App::page` masks other people's addresses), and how many
/// older ones are not shown: a storm does not make the page render
/// thousands.
pub async fn page_views(app: &App, actor: &Actor, filter: PageFilter) -> Result<(Vec<PageView>, u64), ApiError> {
    let (newest, more) = newest_pages(app, &filter).await?;
    let mut views = Vec::new();
    for p in newest {
        let (p, deliveries) = app.page(actor, p.id).await?;
        views.push(page_view(&p, &deliveries, &|_| true));
    }
    Ok((views, more))
}

/// The newest [`SHOWN`] pages `filter` selects, and how many older ones
/// there are besides.
async fn newest_pages(app: &App, filter: &PageFilter) -> Result<(Vec<PageRecord>, u64), ApiError> {
    let newest = app.pages(&PageFilter { limit: SHOWN, ..filter.clone() }).await?;
    let more =
        if newest.len() == SHOWN as usize { app.page_count(filter).await?.saturating_sub(u64::from(SHOWN)) } else { 0 };
    Ok((newest, more))
}

/// One page as shown; `whole(person)` says whether a delivery to that
/// person keeps its whole address (the others are shortened to
/// `paging::shown_address`).
fn page_view(p: &PageRecord, deliveries: &[Delivery], whole: &dyn Fn(Option<&str>) -> bool) -> PageView {
    let deliveries = deliveries
        .iter()
        .map(|d| {
            let (outcome, at) = match (d.delivered_at, d.dead_at) {
                (Some(t), _) => ("delivered", t.to_string()),
                (None, Some(t)) => ("gave up", t.to_string()),
                (None, None) if d.last_error.is_some() => ("failed", d.due_at.to_string()),
                (None, None) => ("pending", d.due_at.to_string()),
            };
            let to = match d.kind.parse::<ContactKind>() {
                Ok(kind) if !whole(d.person.as_deref()) => shown_address(kind, &d.to),
                _ => d.to.clone(),
            };
            DeliveryView {
                person: d.person.clone().unwrap_or_default(),
                kind: d.kind.clone(),
                to,
                outcome,
                at,
                error: d.last_error.clone().unwrap_or_default(),
            }
        })
        .collect();
    let answered = matches!(p.state, PageState::Acknowledged | PageState::Declined);
    PageView {
        id: p.id,
        target: target_text(p),
        state: p.state.as_str().to_owned(),
        step: p.step,
        steps: (p.policy.steps.len() as u32).saturating_mul(p.policy.repeat.saturating_add(1)),
        deliveries,
        unreachable: p.unreachable.iter().map(|u| (u.step, u.why.clone())).collect(),
        answered_by: p.closed_by.as_ref().filter(|_| answered).map(|h| h.to_string()).unwrap_or_default(),
        answered_at: if answered { p.updated_at.to_string() } else { String::new() },
        reason: p.reason.clone().unwrap_or_default(),
        warning: warning(p),
    }
}

/// Whether `actor` sees the whole address of a delivery to `person`: the
/// access table's rule for contact addresses (their own, or anyone's for
/// an admin), which `App::page` applies too.
pub fn sees_whole(actor: &Actor, person: Option<&str>) -> bool {
    let person = person.and_then(|h| Handle::parse(h).ok());
    actor.is_admin()
        || person.is_some_and(|h| access::may(actor, Action::SeeContactAddresses, &Standing::user(&h, actor)))
}

/// An incident's pages panel and warnings as read from the store, whole
/// (every address unmasked): read once per change, and rendered for each
/// kind of viewer by [`PagesSnapshot::render`], which masks the addresses
/// that viewer may not see. Never sent as it is.
#[derive(Clone, PartialEq)]
pub struct PagesSnapshot {
    number: u64,
    newest: Vec<(PageRecord, Vec<Delivery>)>,
    more: u64,
    /// Every open page that reached nobody, not only those among the
    /// newest shown (a storm must not hide one).
    warned: Vec<(PageRecord, Vec<Delivery>)>,
}

async fn with_deliveries(app: &App, pages: Vec<PageRecord>) -> Result<Vec<(PageRecord, Vec<Delivery>)>, ApiError> {
    let mut out = Vec::with_capacity(pages.len());
    for p in pages {
        let deliveries = app.store.deliveries(p.id).await?;
        out.push((p, deliveries));
    }
    Ok(out)
}

impl PagesSnapshot {
    pub async fn read(app: &App, number: u64) -> Result<PagesSnapshot, ApiError> {
        let (newest, more) = newest_pages(app, &PageFilter { incident: Some(number), ..PageFilter::default() }).await?;
        let reached_nobody =
            PageFilter { incident: Some(number), open: true, unreachable: true, ..PageFilter::default() };
        let (warned, _) = newest_pages(app, &reached_nobody).await?;
        let newest = with_deliveries(app, newest).await?;
        let warned = with_deliveries(app, warned).await?;
        Ok(PagesSnapshot { number, newest, more, warned })
    }

    /// Everyone a delivery shown here went to (`None` for a delivery that
    /// names nobody).
    pub fn people(&self) -> impl Iterator<Item = Option<&str>> {
        self.newest.iter().chain(&self.warned).flat_map(|(_, ds)| ds.iter().map(|d| d.person.as_deref()))
    }

    /// The pages panel and its warnings, with the whole address only of the
    /// deliveries `whole` says.
    pub fn render(&self, whole: &dyn Fn(Option<&str>) -> bool) -> Result<(String, String), ApiError> {
        let views = |list: &[(PageRecord, Vec<Delivery>)]| -> Vec<PageView> {
            list.iter().map(|(p, ds)| page_view(p, ds, whole)).collect()
        };
        let (pages, warned) = (views(&self.newest), views(&self.warned));
        let failed = |e| ApiError::internal("the pages panel failed to render", e);
        let more_at = format!("muster pages --incident INC-{} --limit 1000", self.number);
        Ok((
            PagesPart { pages: &pages, more: self.more, more_at }.render().map_err(failed)?,
            PageWarningsPart { pages: &warned }.render().map_err(failed)?,
        ))
    }
}

/// The incidents with an open page that reached nobody at some step.
pub async fn unreachable_incidents(app: &App) -> Result<Vec<u64>, ApiError> {
    let filter = PageFilter { open: true, unreachable: true, limit: 1000, ..PageFilter::default() };
    let open = app.pages(&filter).await?;
    let mut found: Vec<u64> = open.iter().filter(|p| warning(p).is_some()).filter_map(|p| p.incident).collect();
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// The pages panel: on the incident page, and re-rendered by the live
/// stream.
#[derive(Template)]
#[template(path = "pages.html")]
pub struct PagesPart<'a> {
    pub pages: &'a [PageView],
    /// Older pages not shown.
    pub more: u64,
    /// Where to see them, e.g. `muster pages --incident INC-7`.
    pub more_at: String,
}

/// The warnings at the top of the incident page while one of its open
/// pages reached nobody at some step.
#[derive(Template)]
#[template(path = "page_warnings.html")]
pub struct PageWarningsPart<'a> {
    pub pages: &'a [PageView],
}

/// The incident's pages panel and its warnings, rendered as `actor` may
/// see them.
pub async fn incident_pages_html(app: &App, actor: &Actor, number: u64) -> Result<(String, String), ApiError> {
    PagesSnapshot::read(app, number).await?.render(&|person| sees_whole(actor, person))
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    nav: Nav,
    id: u64,
    service: String,
    severity: String,
    status: String,
    summary: String,
    source: String,
    dedup_key: String,
    count: u64,
    /// What the store keeps of its events: (what, when).
    events: Vec<(&'static str, String)>,
    links: Vec<(String, String)>,
    details: String,
    incident: String,
    suggested: String,
    /// Many customers reported problems on its service lately (else empty).
    reports_note: String,
    priorities: Vec<String>,
    open_incidents: Vec<String>,
    pages: Vec<PageView>,
    /// Older pages not shown, and where to see them.
    pages_more: u64,
    pages_more_at: String,
}

/// `GET /alerts/{id}`: one alert, whole.
pub async fn alert(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    match alert_page(&app, &viewer, &id).await {
        Ok(r) => r,
        Err(e) => page_error(e),
    }
}

async fn alert_page(app: &App, viewer: &Viewer, id: &str) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("id", format!("there is no alert {id:?}"));
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let a = app.store.alert(id).await?.ok_or_else(not_found)?;
    let mut events = vec![("first seen", a.first_seen_at.to_string()), ("last seen", a.last_seen_at.to_string())];
    if let Some(t) = a.acknowledged_at {
        events.push(("acknowledged", t.to_string()));
    }
    if let Some(t) = a.resolved_at {
        events.push(("resolved", t.to_string()));
    }
    let links = a
        .links
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| {
                    let href = l["href"].as_str().or_else(|| l.as_str())?;
                    let safe = href.starts_with("https://") || href.starts_with("http://");
                    safe.then(|| (href.to_owned(), l["text"].as_str().unwrap_or(href).to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let details = if a.details.is_null() || a.details == serde_json::json!({}) {
        String::new()
    } else {
        serde_json::to_string_pretty(&a.details).unwrap_or_default()
    };
    let open_incidents = if a.incident.is_none() {
        let filter = muster_store::IncidentFilter {
            statuses: vec![
                muster_domain::Status::Investigating,
                muster_domain::Status::Identified,
                muster_domain::Status::Monitoring,
            ],
            limit: 500,
            ..muster_store::IncidentFilter::default()
        };
        app.incidents(&filter).await?.into_iter().map(|v| v.incident.reference().to_string()).collect()
    } else {
        Vec::new()
    };
    let (pages, pages_more) =
        page_views(app, &viewer.user.actor(), PageFilter { alert: Some(a.id), ..PageFilter::default() }).await?;
    let reports_note = match a.incident {
        None => super::lists::reports_note(&app.recent_reports_on(a.service).await?, &a.service_name),
        Some(_) => String::new(),
    };
    let page = AlertPage {
        reports_note,
        nav: viewer.nav("alerts"),
        id: a.id,
        service: a.service_name.clone(),
        severity: a.severity.as_str().to_owned(),
        status: a.status.as_str().to_owned(),
        summary: a.summary.clone(),
        source: a.source.clone(),
        dedup_key: a.dedup_key.clone(),
        count: a.count,
        events,
        links,
        details,
        incident: a.incident.map(|n| format!("INC-{n}")).unwrap_or_default(),
        suggested: a.assessment.as_ref().and_then(|v| v["suggested_priority"].as_str()).unwrap_or_default().to_owned(),
        priorities: Priority::ALL.iter().map(|p| p.as_str().to_owned()).collect(),
        open_incidents,
        pages,
        pages_more,
        pages_more_at: format!("GET /api/v1/pages?alert={}&limit=1000", a.id),
    };
    Ok(render(&page))
}
