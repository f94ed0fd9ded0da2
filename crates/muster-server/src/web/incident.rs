//! The incident page, the command center: role board, status and priority,
//! paging, the timeline (filtered, windowed) and the incident room.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use muster_domain::access;
use muster_domain::page::PageTarget;
use muster_domain::timeline::{EntryKind, MilestoneTag};
use muster_domain::{Event, Incident, IncidentRef, Priority, RoleCatalog, RoleKind, Status};
use muster_store::TimelineQuery;

use super::{Nav, Posted, Viewer, back, page_error, render};
use crate::error::ApiError;
use muster_app::{App, DeclareInput, EntryInput, parse_handle};

/// Entries shown at once; older ones are a link away.
pub const WINDOW: u32 = 200;

/// The timeline filters: a name for the link, the kinds it shows.
pub const FILTERS: [(&str, &str, &[&str]); 9] = [
    ("all", "All", &[]),
    ("messages", "Room", &["message"]),
    ("notes", "Notes", &["note"]),
    ("theories", "Theories", &["theory"]),
    ("decisions", "Decisions", &["decision"]),
    ("actions", "Actions", &["action"]),
    ("milestones", "Milestones", &["milestone", "declared", "status_changed"]),
    ("roles", "Role changes", &["role_assigned", "role_relieved", "topic_changed"]),
    ("alerts", "Alerts", &["alert_linked", "alert_retriggered", "alert_acknowledged", "alert_resolved", "change"]),
];

pub struct EntryView {
    pub seq: u64,
    pub kind: String,
    pub at: String,
    pub text: String,
    pub by: String,
    pub roles: String,
    /// Shown folded into its companion (`Event::folds`): a topic change as
    /// a short line under the entry that caused it, the relief half of a
    /// handover not at all (its assignment's line says it).
    pub folded: bool,
}

impl From<&Event> for EntryView {
    fn from(e: &Event) -> Self {
        EntryView {
            seq: e.seq,
            kind: e.change.kind().to_owned(),
            at: e.at.to_string(),
            text: e.text(),
            by: if e.actor.as_str() == muster_store::alerts::SYSTEM { String::new() } else { e.actor.to_string() },
            roles: e.actor_roles.iter().map(|r| r.key().to_owned()).collect::<Vec<_>>().join(", "),
            folded: e.folds(),
        }
    }
}

pub struct Holder {
    pub id: u64,
    pub user: String,
    pub scope: Option<String>,
}

pub struct Slot {
    pub name: String,
    pub missing: bool,
    pub holders: Vec<Holder>,
}

/// The role board: every built-in role, and custom roles someone holds,
/// with their holders; required roles nobody holds are marked missing.
pub fn board(incident: &Incident, catalog: &RoleCatalog, missing: &[RoleKind]) -> Vec<Slot> {
    let mut kinds: Vec<RoleKind> = RoleKind::BUILTIN.to_vec();
    for a in &incident.roles {
        if !kinds.contains(&a.role) {
            kinds.push(a.role.clone());
        }
    }
    kinds
        .into_iter()
        .map(|k| Slot {
            name: match &k {
                RoleKind::Custom(_) => catalog
                    .custom
                    .iter()
                    .find(|d| RoleKind::Custom(d.key.clone()) == k)
                    .map_or_else(|| k.name(), |d| d.name.clone()),
                builtin => builtin.name(),
            },
            missing: missing.contains(&k),
            holders: incident
                .holders(&k)
                .map(|a| Holder { id: a.id, user: a.user.to_string(), scope: a.scope.as_ref().map(|s| s.to_string()) })
                .collect(),
        })
        .collect()
}

/// Whether `viewer` may assign and relieve: the incident manager, the
/// backup, or an admin.
pub fn can_manage(incident: &Incident, viewer: &Viewer) -> bool {
    incident.in_charge(&viewer.user.actor())
}

#[derive(Template)]
#[template(path = "board.html")]
pub struct BoardPart<'a> {
    pub board: &'a [Slot],
    pub can_manage: bool,
    pub me: &'a str,
    pub reference: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "entry.html")]
pub struct EntryPart<'a> {
    pub e: &'a EntryView,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    nav: Nav,
    reference: String,
    /// The last entry this page shows, where its live stream starts.
    version: u64,
    title: String,
    priority: String,
    status: String,
    declared_at: String,
    topic: String,
    board: Vec<Slot>,
    can_manage: bool,
    me: String,
    csrf: String,
    role_keys: Vec<String>,
    people: Vec<String>,
    schedules: Vec<(u64, String)>,
    policies: Vec<(u64, String)>,
    /// Every status, and whether the viewer may choose it (the others show
    /// disabled, so the control still follows live changes).
    statuses: Vec<(String, bool)>,
    priorities: Vec<String>,
    /// Whether the viewer may change the priority.
    can_edit: bool,
    /// Whether the viewer may change anything on the status form, and if
    /// not, who may.
    can_update: bool,
    who_may_update: String,
    /// Whether the viewer may page people from here.
    can_page: bool,
    filters: Vec<(&'static str, &'static str)>,
    filter: String,
    filter_kinds: String,
    entries: Vec<EntryView>,
    older: Option<String>,
    /// Showing older entries: new ones do not belong at the end of this window.
    history: bool,
    entry_kinds: Vec<&'static str>,
    tags: Vec<&'static str>,
    /// The pages panel and the warnings above the board, rendered.
    pages_html: String,
    page_warnings_html: String,
    /// The incident's alerts: (id, what), each linking to its page.
    alerts: Vec<(u64, String)>,
    /// The communications panel, rendered.
    comms_html: String,
    /// The customer reports panel, rendered.
    reports_html: String,
    /// The workstreams panel, rendered.
    workstreams_html: String,
    /// Whether the viewer may report to the incident manager (a tech lead,
    /// an admin), and the workstreams they may name, theirs first.
    can_report: bool,
    report_workstreams: Vec<String>,
    /// The workstreams a theory or action may be placed in.
    current_workstreams: Vec<String>,
}

pub(super) fn incident_ref(s: &str) -> Result<IncidentRef, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("ref", format!("there is no incident {s:?}")))
}

pub async fn page(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(r): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match incident_page(&app, &viewer, &r, &q).await {
        Ok(r) => r,
        Err(e) => page_error(e),
    }
}

async fn incident_page(app: &App, viewer: &Viewer, r: &str, q: &HashMap<String, String>) -> Result<Response, ApiError> {
    let r = incident_ref(r)?;
    let view = app.incident(r).await?;
    let catalog = app.role_catalog().await?;
    let filter = q.get("filter").map(String::as_str).unwrap_or("all");
    let (filter, kinds) = FILTERS.iter().find(|(k, _, _)| *k == filter).map_or(("all", &[][..]), |(k, _, v)| (*k, *v));
    // `before` is an entry's position, `<micros>.<seq>`, from the "older" link.
    let before = q.get("before").and_then(|b| {
        let (at, seq) = b.split_once('.')?;
        Some((muster_domain::Timestamp::from_microsecond(at.parse().ok()?).ok()?, seq.parse().ok()?))
    });
    let query = TimelineQuery {
        latest: true,
        before,
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        limit: WINDOW,
        ..TimelineQuery::default()
    };
    let events = app.timeline(r, &query).await?;
    let older = (events.len() == WINDOW as usize)
        .then(|| events.first().map(|e| format!("{}.{}", e.at.as_microsecond(), e.seq)))
        .flatten();
    let i = &view.incident;
    let board = board(i, &catalog, &view.missing_roles);
    let nav = viewer.nav("");
    let mut role_keys: Vec<String> = RoleKind::BUILTIN.iter().map(|k| k.key().to_owned()).collect();
    role_keys.extend(catalog.custom.iter().map(|d| d.key.as_str().to_owned()));
    let people = app
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.permission != muster_domain::Permission::Viewer)
        .map(|u| u.handle.to_string())
        .collect();
    let schedules = app.store.schedules().await?.into_iter().map(|s| (s.id, s.name)).collect();
    let policies = app.store.policies().await?.into_iter().map(|p| (p.id, p.policy.name)).collect();
    // The forms offer only what the access table lets this viewer do.
    let actor = viewer.user.actor();
    let standing = access::Standing::incident(i, &actor);
    let statuses: Vec<(String, bool)> = Status::ALL
        .into_iter()
        .map(|s| {
            let may = s == i.status
                || (i.status.can_move_to(s) && access::may(&actor, access::status_action(i.status, s), &standing));
            (s.as_str().to_owned(), may)
        })
        .collect();
    let can_edit = access::may(&actor, access::Action::EditIncident, &standing);
    let can_update = can_edit || statuses.iter().filter(|(_, may)| *may).count() > 1;
    let holders = |role: RoleKind| i.holders(&role).map(|a| a.user.clone()).collect();
    let who_may_update = access::who_may(access::Action::ResolveIncident, &holders);
    let can_page = access::may(&actor, access::Action::PageForHelp, &standing);
    let (pages_html, page_warnings_html) = super::pages::incident_pages_html(app, &actor, i.number).await?;
    let comms = super::comms::panel(app, viewer, i, &view.next_updates).await?;
    let following = app.followers(r).await?.iter().any(|(h, _)| *h == viewer.user.handle);
    let comms_html = super::comms::CommsPart {
        comms: &comms,
        reference: &i.reference().to_string(),
        csrf: &viewer.session.csrf,
        can_write: viewer.user.permission != muster_domain::Permission::Viewer,
        following,
        states: super::comms::component_states(),
    }
    .render()
    .map_err(|e| ApiError::internal("the communications panel failed to render", e))?;
    let reports_html = super::support::panel_html(app, i.number).await?;
    let workstreams_html = super::workstreams::panel_html(app, i.number).await?;
    let current_workstreams: Vec<String> =
        muster_domain::workstream::current(i).iter().map(|s| s.to_string()).collect();
    let mut report_workstreams: Vec<String> = i
        .holders(&RoleKind::TechLead)
        .filter(|a| a.user == viewer.user.handle)
        .filter_map(|a| a.scope.as_ref().map(|s| s.to_string()))
        .collect();
    for w in &current_workstreams {
        if !report_workstreams.contains(w) {
            report_workstreams.push(w.clone());
        }
    }
    let page = IncidentPage {
        can_report: access::may(&actor, access::Action::ReportToIncidentManager, &standing),
        report_workstreams,
        current_workstreams,
        workstreams_html,
        comms_html,
        reports_html,
        pages_html,
        page_warnings_html,
        alerts: i
            .alerts
            .iter()
            .map(|a| (a.id, format!("{} on {} ({}): {}", a.id, a.service, a.status.as_str(), a.summary)))
            .collect(),
        can_update,
        can_page,
        reference: i.reference().to_string(),
        version: i.version,
        title: i.title.clone(),
        priority: i.priority.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        declared_at: i.declared_at.to_string(),
        topic: i.topic.clone(),
        can_manage: can_manage(i, viewer),
        board,
        me: viewer.user.handle.to_string(),
        csrf: viewer.session.csrf.clone(),
        nav,
        role_keys,
        people,
        schedules,
        policies,
        statuses,
        priorities: Priority::ALL.iter().map(|p| p.as_str().to_owned()).collect(),
        can_edit,
        who_may_update,
        filters: FILTERS.iter().map(|(k, name, _)| (*k, *name)).collect(),
        filter: filter.to_owned(),
        filter_kinds: kinds.join(","),
        entries: events.iter().map(EntryView::from).collect(),
        older,
        history: before.is_some(),
        entry_kinds: EntryKind::ALL.iter().map(|k| k.as_str()).collect(),
        tags: MilestoneTag::ALL.iter().map(|t| t.as_str()).collect(),
    };
    Ok(render(&page))
}

/// Where a form on an incident page goes back to: the incident, named
/// canonically (the path segment is input), or the dashboard.
fn here(r: &str) -> String {
    r.parse::<IncidentRef>().map_or_else(|_| "/".to_owned(), |r| format!("/incidents/{r}"))
}

pub async fn declare(State(app): State<Arc<App>>, form: Posted) -> Response {
    let result = async {
        let priority: Priority = form.get("priority").unwrap_or("").parse()?;
        let input = DeclareInput {
            title: form.get("title").unwrap_or("").to_owned(),
            summary: String::new(),
            priority,
            incident_manager: None,
        };
        let view = app.declare(&form.viewer.user.actor(), input).await?;
        Ok::<_, ApiError>(view.incident.reference().to_string())
    }
    .await;
    match result {
        Ok(r) => back(&here(&r), Ok(format!("Declared {r}. You are first responder and incident manager."))),
        Err(e) => back("/", Err(e)),
    }
}

pub async fn assign(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let reference = incident_ref(&r)?;
        let user = parse_handle(form.get("user").unwrap_or("").trim_start_matches('@'), "user")?;
        let role = form.get("role").unwrap_or("");
        let a = app.assign(&form.viewer.user.actor(), reference, role, &user, form.optional("scope")).await?;
        Ok::<_, ApiError>(format!("@{} is now {}", a.user, a.role.name()))
    }
    .await;
    back(&here(&r), result)
}

pub async fn relieve(State(app): State<Arc<App>>, Path((r, id)): Path<(String, u64)>, form: Posted) -> Response {
    let result = async {
        app.relieve(&form.viewer.user.actor(), incident_ref(&r)?, id).await?;
        Ok::<_, ApiError>("Relieved.".to_owned())
    }
    .await;
    back(&here(&r), result)
}

pub async fn update(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        // Only what the person changed on the form they saw: a field equal
        // to the value the page was rendered with (`was_…`) is left alone, so
        // an older page does not undo someone else's change.
        let changed = |field: &str| {
            let v = form.optional(field);
            v.filter(|v| Some(*v) != form.optional(&format!("was_{field}")))
        };
        let status: Option<Status> = changed("status").map(str::parse).transpose()?;
        let priority: Option<Priority> = changed("priority").map(str::parse).transpose()?;
        if status.is_none() && priority.is_none() {
            return Ok("Nothing to change.".to_owned());
        }
        app.update(&form.viewer.user.actor(), incident_ref(&r)?, None, None, priority, status).await?;
        Ok::<_, ApiError>("Updated.".to_owned())
    }
    .await;
    back(&here(&r), result)
}

fn page_target(s: &str) -> Result<PageTarget, ApiError> {
    let bad = || ApiError::invalid("target", format!("{s:?} is not someone to page"));
    let (kind, id) = s.split_once(':').ok_or_else(bad)?;
    match kind {
        "user" => Ok(PageTarget::User(parse_handle(id, "target")?)),
        "schedule" => Ok(PageTarget::Schedule(id.parse().map_err(|_| bad())?)),
        "policy" => Ok(PageTarget::Policy(id.parse().map_err(|_| bad())?)),
        _ => Err(bad()),
    }
}

pub async fn page_someone(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let target = page_target(form.get("target").unwrap_or(""))?;
        let p = app
            .page_for_incident(
                &form.viewer.user.actor(),
                incident_ref(&r)?,
                target,
                form.get("message").unwrap_or(""),
                form.optional("role"),
            )
            .await?;
        Ok::<_, ApiError>(format!("Page {} sent.", p.id))
    }
    .await;
    back(&here(&r), result)
}

/// `datetime-local` gives `2026-11-27T10:00` (no zone): read as UTC, as
/// the form says.
fn occurred_at(s: Option<&str>) -> Result<Option<muster_domain::Timestamp>, ApiError> {
    let Some(s) = s else { return Ok(None) };
    let with_seconds = if s.len() == 16 { format!("{s}:00Z") } else { format!("{s}Z") };
    with_seconds
        .parse()
        .or_else(|_| s.parse())
        .map(Some)
        .map_err(|_| ApiError::invalid("occurred_at", format!("{s:?} is not a time like 2026-11-27T10:00")))
}

pub async fn add_entry(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let kind: EntryKind = form.get("kind").unwrap_or("").parse()?;
        let tag: Option<MilestoneTag> = form.optional("tag").map(str::parse).transpose()?;
        let input = EntryInput {
            kind,
            text: form.get("text").unwrap_or("").to_owned(),
            tag,
            corrects: None,
            occurred_at: occurred_at(form.optional("occurred_at"))?,
            workstream: form
                .optional("workstream")
                .map(|w| muster_domain::Scope::workstream(w, "workstream"))
                .transpose()?,
        };
        app.add_entry(&form.viewer.user.actor(), incident_ref(&r)?, input).await?;
        Ok::<_, ApiError>(format!("Added the {kind}.", kind = kind.as_str()))
    }
    .await;
    back(&here(&r), result)
}

/// A line from the room's box: a message, or a command run as the viewer
/// (`App::room_line`, which every room shares). A mistake is answered with
/// how to write it, on the same page.
pub async fn room(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let reference = incident_ref(&r)?;
        let line = form.get("line").unwrap_or("");
        Ok::<_, ApiError>(app.room_line(&form.viewer.user.actor(), reference, line).await?)
    }
    .await;
    back(&here(&r), result)
}
