//! The communications manager's panel on the incident page — per audience
//! the next update due (counting down, red when overdue, kept live), the
//! latest published update and where it went, drafts waiting for someone
//! who may publish them, and a form that starts from the suggested text —
//! and the stakeholder groups page for admins.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use muster_app::App;
use muster_app::stakeholders::GroupInput;
use muster_domain::update::{self, PublicStatus, UpdateAudience, UpdateInput, UpdateState};
use muster_domain::{Incident, IncidentRef, RoleKind, Timestamp};
use muster_store::{UpdateDelivery, UpdateRecord};

use super::{Nav, Posted, SessionForm, Viewer, back, page_error, render};
use crate::error::ApiError;

/// One audience's part of the panel.
pub struct AudiencePanel {
    pub audience: &'static str,
    pub title: &'static str,
    pub due: DueView,
    pub latest: Option<UpdateView>,
    pub drafts: Vec<UpdateView>,
    pub can_publish: bool,
    /// Who may publish, when the viewer may not.
    pub who_may: String,
    /// The form: (field, label, suggested value).
    pub fields: Vec<(&'static str, String, String)>,
    pub body: String,
    /// External: the public statuses, and the one suggested.
    pub statuses: Vec<(&'static str, bool)>,
    /// External: the status page's components, to set with the update.
    pub components: Vec<ComponentChoice>,
    /// External: the confirmed subscribers of the whole page.
    pub whole_page: usize,
}

/// A status page component in the external update's form.
pub struct ComponentChoice {
    pub id: u64,
    pub name: String,
    /// Its state now, as customers read it.
    pub label: &'static str,
    /// The confirmed subscribers who hear of it.
    pub hears: usize,
}

/// The states a component may be put in, in the form's order.
pub fn component_states() -> Vec<(&'static str, &'static str)> {
    muster_domain::statuspage::ComponentStatus::ALL.iter().map(|s| (s.as_str(), s.label())).collect()
}

/// When the next update is due, as the page shows it (and the live stream
/// sends it again on every change).
pub struct DueView {
    /// RFC 3339; empty when there is no cadence.
    pub at: String,
    pub overdue_minutes: i64,
    /// "in 29 min", "12 min overdue", "no cadence".
    pub text: String,
}

pub struct UpdateView {
    pub id: u64,
    pub text: String,
    pub by: String,
    pub at: String,
    pub deliveries: Vec<DeliveryView>,
    pub delivered: usize,
    pub responses: Vec<(String, String, String)>,
}

pub struct DeliveryView {
    pub recipient: String,
    pub via: String,
    pub to: String,
    pub state: &'static str,
    pub error: String,
}

/// The words for a due time, as of `now`.
pub fn due_text(at: Option<Timestamp>, now: Timestamp) -> DueView {
    let Some(at) = at else { return DueView { at: String::new(), overdue_minutes: 0, text: "no cadence".into() } };
    let seconds = at.as_second() - now.as_second();
    let (overdue_minutes, text) = if seconds >= 0 {
        (0, format!("in {} min", (seconds + 59) / 60))
    } else {
        let late = -seconds / 60;
        (late, format!("{late} min overdue"))
    };
    DueView { at: at.to_string(), overdue_minutes, text }
}

fn delivery(d: &UpdateDelivery) -> DeliveryView {
    let state = match (d.delivered_at, d.dead_at) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "failed",
        (None, None) => "pending",
    };
    let to = if d.kind == "webhook" { muster_app::channels::webhook::origin(&d.to) } else { d.to.clone() };
    DeliveryView {
        recipient: d.recipient.clone(),
        via: d.kind.clone(),
        to,
        state,
        error: d.last_error.clone().unwrap_or_default(),
    }
}

fn update_view(
    u: &UpdateRecord,
    deliveries: &[UpdateDelivery],
    responses: &[muster_store::ResponseRecord],
) -> UpdateView {
    let mine: Vec<DeliveryView> = deliveries.iter().filter(|d| d.update == u.id).map(delivery).collect();
    UpdateView {
        id: u.id,
        text: u.content.text(),
        by: u.published_by.as_ref().unwrap_or(&u.author).to_string(),
        at: u.published_at.unwrap_or(u.updated_at).to_string(),
        delivered: mine.iter().filter(|d| d.state == "delivered").count(),
        deliveries: mine,
        responses: responses
            .iter()
            .filter(|r| r.update == u.id)
            .map(|r| (r.from.clone(), r.channel.clone(), r.body.clone()))
            .collect(),
    }
}

fn title(a: UpdateAudience) -> &'static str {
    match a {
        UpdateAudience::Internal => "Internal update",
        UpdateAudience::External => "External update (customers)",
        UpdateAudience::Executive => "Executive update",
    }
}

fn label(field: &str) -> String {
    let spaced = field.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The panel for `viewer`, per audience.
pub async fn panel(
    app: &App,
    viewer: &Viewer,
    incident: &Incident,
    next: &[(UpdateAudience, muster_domain::cadence::Due)],
) -> Result<Vec<AudiencePanel>, ApiError> {
    let r = IncidentRef(incident.number);
    let updates = app.updates(r).await?;
    let deliveries = app.update_deliveries(r).await?;
    let responses = app.update_responses(r).await?;
    let now = app.clock.now();
    let actor = viewer.user.actor();
    let (whole_page, counts) = app.subscriber_counts().await?;
    let components: Vec<ComponentChoice> = app
        .components()
        .await?
        .into_iter()
        .map(|c| ComponentChoice {
            id: c.id,
            hears: counts.iter().find(|(id, _)| *id == c.id).map_or(0, |(_, n)| *n),
            name: c.spec.name,
            label: c.status.label(),
        })
        .collect();
    let holders = |role: RoleKind| incident.holders(&role).map(|a| a.user.clone()).collect();
    let mut out = Vec::new();
    for audience in UpdateAudience::ALL {
        let mine: Vec<&UpdateRecord> = updates.iter().filter(|u| u.content.audience == audience).collect();
        let latest = mine.iter().rev().find(|u| u.state == UpdateState::Published);
        let suggested = app.suggest_update(r, audience).await?;
        let fields = audience
            .form_fields()
            .iter()
            .map(|f| {
                let value = suggested.form.iter().find(|(n, _)| n == f).map(|(_, v)| v.clone()).unwrap_or_default();
                (*f, label(f), value)
            })
            .collect();
        let due = next.iter().find(|(a, _)| *a == audience).map(|(_, d)| d.at);
        out.push(AudiencePanel {
            audience: audience.as_str(),
            title: title(audience),
            due: due_text(due, now),
            latest: latest.map(|u| update_view(u, &deliveries, &responses)),
            drafts: mine
                .iter()
                .filter(|u| u.state == UpdateState::Draft)
                .map(|u| update_view(u, &deliveries, &responses))
                .collect(),
            can_publish: update::may_publish(&actor, incident, audience),
            who_may: muster_domain::access::who_may(audience.publish_action(), &holders),
            fields,
            body: suggested.body,
            statuses: if audience == UpdateAudience::External {
                PublicStatus::ALL.iter().map(|s| (s.as_str(), Some(*s) == suggested.status)).collect()
            } else {
                Vec::new()
            },
            components: if audience == UpdateAudience::External {
                components.iter().map(|c| ComponentChoice { name: c.name.clone(), ..*c }).collect()
            } else {
                Vec::new()
            },
            whole_page: if audience == UpdateAudience::External { whole_page } else { 0 },
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "comms.html")]
pub struct CommsPart<'a> {
    pub comms: &'a [AudiencePanel],
    pub reference: &'a str,
    pub csrf: &'a str,
    pub can_write: bool,
    pub following: bool,
    /// The states a component may be put in: (value, label).
    pub states: Vec<(&'static str, &'static str)>,
}

fn incident_ref(s: &str) -> Result<IncidentRef, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("ref", format!("there is no incident {s:?}")))
}

fn here(r: &str) -> String {
    r.parse::<IncidentRef>().map_or_else(|_| "/".to_owned(), |r| format!("/incidents/{r}#comms"))
}

/// The panel's form: publish at once, or (`action=draft`) keep a draft.
pub async fn write_update(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let reference = incident_ref(&r)?;
        let audience: UpdateAudience = form.get("audience").unwrap_or("").parse()?;
        let fields = audience
            .form_fields()
            .iter()
            .filter_map(|f| form.optional(f).map(|v| ((*f).to_owned(), v.to_owned())))
            .collect();
        let status = form.optional("status").map(str::parse::<PublicStatus>).transpose()?;
        let input = UpdateInput {
            body: form.get("body").unwrap_or("").to_owned(),
            form: fields,
            status,
            components: form
                .prefixed("component.")
                .into_iter()
                .map(|(id, status)| (id.to_owned(), status.to_owned()))
                .collect(),
            next_update_in_minutes: form.optional("next_update_in_minutes").and_then(|m| m.parse().ok()),
        };
        let draft = form.get("action") == Some("draft");
        let u = app.write_update(&form.viewer.user.actor(), reference, audience, input, draft).await?;
        Ok::<_, ApiError>(if draft {
            format!("Saved the {audience} draft (update {}).", u.id)
        } else {
            format!("Published the {audience} update.")
        })
    }
    .await;
    back(&here(&r), result)
}

pub async fn publish_update(State(app): State<Arc<App>>, Path((r, id)): Path<(String, u64)>, form: Posted) -> Response {
    let result = async {
        let u = app.publish_update(&form.viewer.user.actor(), incident_ref(&r)?, id).await?;
        Ok::<_, ApiError>(format!("Published the {} update.", u.content.audience))
    }
    .await;
    back(&here(&r), result)
}

pub async fn snooze(State(app): State<Arc<App>>, Path(r): Path<String>, form: Posted) -> Response {
    let result = async {
        let audience: UpdateAudience = form.get("audience").unwrap_or("").parse()?;
        let minutes: u32 = form
            .get("minutes")
            .unwrap_or("")
            .parse()
            .map_err(|_| ApiError::invalid("minutes", "snooze for 30, 60 or 120 minutes"))?;
        app.snooze_update(&form.viewer.user.actor(), incident_ref(&r)?, audience, minutes).await?;
        Ok::<_, ApiError>(format!("Snoozed the {audience} reminder for {minutes} minutes."))
    }
    .await;
    back(&here(&r), result)
}

/// Follow or stop following (anyone signed in, for themself).
pub async fn follow(State(app): State<Arc<App>>, Path(r): Path<String>, form: SessionForm) -> Response {
    let result = async {
        let reference = incident_ref(&r)?;
        let me = form.viewer.user.handle.clone();
        let actor = form.viewer.user.actor();
        let stop = form.pairs.iter().any(|(k, v)| k == "action" && v == "unfollow");
        if stop {
            app.unfollow(&actor, reference, &me).await?;
            Ok::<_, ApiError>(format!("You no longer follow {reference}."))
        } else {
            app.follow(&actor, reference, &me).await?;
            Ok(format!("You follow {reference}: its internal updates reach you through your contact methods."))
        }
    }
    .await;
    back(&here(&r), result)
}

#[derive(Template)]
#[template(path = "stakeholders.html")]
struct StakeholdersPage {
    nav: Nav,
    groups: Vec<GroupRow>,
    priorities: Vec<&'static str>,
    audiences: Vec<&'static str>,
}

struct GroupRow {
    id: u64,
    name: String,
    hears: String,
    reaches: Vec<String>,
}

pub async fn page(State(app): State<Arc<App>>, viewer: Viewer) -> Response {
    let groups = match app.stakeholder_groups().await {
        Ok(g) => g,
        Err(e) => return page_error(e.into()),
    };
    let rows = groups
        .into_iter()
        .map(|g| {
            let services =
                if g.spec.services.is_empty() { "every service".to_owned() } else { g.spec.services.join(", ") };
            let priorities: Vec<&str> = g.spec.priorities.iter().map(|p| p.as_str()).collect();
            let audiences: Vec<&str> = g.spec.audiences.iter().map(|a| a.as_str()).collect();
            let mut reaches: Vec<String> = g.spec.members.iter().map(|m| format!("@{m}")).collect();
            reaches.extend(g.spec.emails.iter().cloned());
            reaches.extend(
                g.webhooks.iter().map(|(_, u)| format!("webhook {}", muster_app::channels::webhook::origin(u))),
            );
            GroupRow {
                id: g.id,
                name: g.spec.name,
                hears: format!("{} · {} · {services}", priorities.join(", "), audiences.join(", ")),
                reaches,
            }
        })
        .collect();
    render(&StakeholdersPage {
        nav: viewer.nav("stakeholders"),
        groups: rows,
        priorities: muster_domain::Priority::ALL.iter().map(|p| p.as_str()).collect(),
        audiences: UpdateAudience::ALL.iter().map(|a| a.as_str()).collect(),
    })
}

/// A comma- or line-separated list from a text field.
fn list(form: &Posted, name: &str) -> Option<Vec<String>> {
    let v = form.get(name)?;
    Some(v.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

pub async fn create(State(app): State<Arc<App>>, form: Posted) -> Response {
    let result = async {
        let input = GroupInput {
            name: form.get("name").map(str::to_owned),
            members: list(&form, "members")
                .map(|m| m.into_iter().map(|h| h.trim_start_matches('@').to_owned()).collect()),
            emails: list(&form, "emails"),
            webhooks: list(&form, "webhooks"),
            priorities: Some(form.all("priorities").into_iter().map(str::to_owned).collect()),
            services: list(&form, "services"),
            audiences: Some(form.all("audiences").into_iter().map(str::to_owned).collect()),
        };
        let written = app.create_stakeholder_group(&form.viewer.user.actor(), input).await?;
        let mut notice = format!("Added the stakeholder group {}.", written.group.spec.name);
        for (id, secret) in &written.secrets {
            let url = written.group.webhooks.iter().find(|(w, _)| w == id).map(|(_, u)| u.as_str()).unwrap_or("");
            notice.push_str(&format!(
                " Webhook {} signs with {secret} (shown once).",
                muster_app::channels::webhook::origin(url)
            ));
        }
        Ok::<_, ApiError>(notice)
    }
    .await;
    back("/stakeholders", result)
}

pub async fn remove(State(app): State<Arc<App>>, Path(id): Path<u64>, form: Posted) -> Response {
    let result = async {
        app.delete_stakeholder_group(&form.viewer.user.actor(), id).await?;
        Ok::<_, ApiError>("Removed the stakeholder group.".to_owned())
    }
    .await;
    back("/stakeholders", result)
}
