//! The public status page: components (admins), and what the page shows —
//! read here from the components, their state history and the published
//! external updates only, so nothing internal (internal updates, the
//! timeline, who responds) can reach it.

use muster_domain::access::{self, Action, Standing};
use muster_domain::statuspage::{self, ComponentSpec, ComponentStatus, DayUptime, Impact, Indicator, StateChange};
use muster_domain::update::{PublicStatus, UpdateAudience, UpdateState};
use muster_domain::{Actor, DomainError, IncidentRef, Timestamp};
use muster_store::{ComponentChange, ComponentRecord};
use serde_json::{Value, json};

use crate::{App, Result};

/// Where the page's settings are kept.
pub const SETTINGS_KEY: &str = "status_page";

/// Days of uptime the page shows.
pub const UPTIME_DAYS: i64 = 90;

/// A component as written: every field on creation but the name may be
/// left out; on a change, the fields given replace.
#[derive(Debug, Clone, Default)]
pub struct ComponentInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)`: no group.
    pub group: Option<Option<String>>,
    pub position: Option<u32>,
    pub only_show_if_degraded: Option<bool>,
    pub services: Option<Vec<String>>,
}

/// A component on the page, with its uptime.
#[derive(Debug, Clone)]
pub struct PublicComponent {
    pub record: ComponentRecord,
    /// Oldest first, one a day, the last one today.
    pub days: Vec<(jiff::civil::Date, DayUptime)>,
    /// Over the days shown; `None` when none counted.
    pub uptime_percent: Option<f64>,
}

/// One external update as the page shows it.
#[derive(Debug, Clone)]
pub struct PublicUpdate {
    pub id: u64,
    pub status: PublicStatus,
    pub text: String,
    pub at: Timestamp,
    /// (component id, name, old, new).
    pub components: Vec<(u64, String, ComponentStatus, ComponentStatus)>,
}

/// An incident as the page shows it.
#[derive(Debug, Clone)]
pub struct PublicIncidentView {
    pub number: u64,
    pub title: String,
    pub status: PublicStatus,
    pub impact: Impact,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Newest first.
    pub updates: Vec<PublicUpdate>,
    /// The components its updates named: (id, name).
    pub components: Vec<(u64, String)>,
    /// When customers are told next, if the cadence says.
    pub next_update_at: Option<Timestamp>,
}

impl PublicIncidentView {
    pub fn is_open(&self) -> bool {
        self.status != PublicStatus::Resolved
    }
}

/// The whole page.
#[derive(Debug, Clone)]
pub struct StatusPage {
    pub components: Vec<PublicComponent>,
    pub indicator: Indicator,
    /// Newest first: those updated in the last [`UPTIME_DAYS`] days.
    pub incidents: Vec<PublicIncidentView>,
    /// The windows not completed and those of the last [`UPTIME_DAYS`]
    /// days, by their start.
    pub maintenances: Vec<muster_store::MaintenanceRecord>,
    pub updated_at: Timestamp,
    pub settings: statuspage::PageSettings,
}

/// A group's id: stable while its name is.
pub fn group_id(name: &str) -> String {
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("group-{slug}")
}

/// One component as Statuspage gives it (its public JSON and its
/// webhooks).
pub fn component_json(r: &muster_store::ComponentRecord) -> Value {
    json!({
        "id": r.id.to_string(),
        "name": r.spec.name,
        "status": r.status.as_str(),
        "created_at": r.created_at.to_string(),
        "updated_at": r.updated_at.to_string(),
        "position": r.spec.position,
        "description": if r.spec.description.is_empty() { Value::Null } else { json!(r.spec.description) },
        "showcase": true,
        "start_date": r.created_at.to_zoned(jiff::tz::TimeZone::UTC).date().to_string(),
        "group_id": r.spec.group.as_deref().map(group_id),
        "page_id": crate::subscribers::PAGE_ID,
        "group": false,
        "only_show_if_degraded": r.spec.only_show_if_degraded,
    })
}

/// The uptime of each component's days before today, kept once computed:
/// the past's state history never changes (changes are recorded at the
/// time they happen), so every instance may keep its own. Only today's
/// changes are read while every component's past days are here.
#[derive(Default)]
pub(crate) struct PastUptime(std::sync::Mutex<std::collections::HashMap<(u64, jiff::civil::Date), DayUptime>>);

impl PastUptime {
    fn get(&self, component: u64, day: jiff::civil::Date) -> Option<DayUptime> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&(component, day)).copied()
    }

    fn has_all(&self, components: &[ComponentRecord], first: jiff::civil::Date, today: jiff::civil::Date) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        components.iter().all(|c| {
            let mut day = first;
            while day < today {
                if !map.contains_key(&(c.id, day)) {
                    return false;
                }
                let Ok(next) = day.tomorrow() else { return false };
                day = next;
            }
            true
        })
    }

    /// Keeps `found` and forgets the days before `first`.
    fn keep(&self, found: Vec<((u64, jiff::civil::Date), DayUptime)>, first: jiff::civil::Date) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(_, day), _| *day >= first);
        map.extend(found);
    }
}

/// What every public path answers while the page is off.
pub fn page_off() -> crate::Error {
    DomainError::not_found("page", "the status page is off").into()
}

fn no_component(id: u64) -> crate::Error {
    DomainError::not_found("id", format!("there is no component {id}")).into()
}

impl App {
    async fn component_spec(&self, input: &ComponentInput, old: Option<&ComponentSpec>) -> Result<ComponentSpec> {
        let name = match (&input.name, old) {
            (Some(n), _) => n.clone(),
            (None, Some(o)) => o.name.clone(),
            (None, None) => return Err(DomainError::invalid("name", "a component needs a name").into()),
        };
        let description = input.description.clone().or_else(|| old.map(|o| o.description.clone())).unwrap_or_default();
        let group = match &input.group {
            Some(g) => g.clone(),
            None => old.and_then(|o| o.group.clone()),
        };
        let position = input.position.or(old.map(|o| o.position)).unwrap_or(0);
        let only = input.only_show_if_degraded.or(old.map(|o| o.only_show_if_degraded)).unwrap_or(false);
        let services = input.services.clone().or_else(|| old.map(|o| o.services.clone())).unwrap_or_default();
        Ok(ComponentSpec::new(&name, &description, group.as_deref(), position, only, services)?)
    }

    /// How the page presents itself.
    pub async fn status_settings(&self) -> Result<statuspage::PageSettings> {
        match self.store.setting(SETTINGS_KEY).await? {
            None => Ok(statuspage::PageSettings::default()),
            Some(v) => serde_json::from_str(&v).map_err(|e| crate::Error::Internal(format!("{SETTINGS_KEY}: {e}"))),
        }
    }

    /// The page's settings; refused (not found) while the operator has the
    /// page off, as every public path and subscription is.
    pub async fn public_settings(&self) -> Result<statuspage::PageSettings> {
        let settings = self.status_settings().await?;
        if settings.enabled { Ok(settings) } else { Err(page_off()) }
    }

    /// Replaces the page's settings (admins).
    pub async fn set_status_settings(
        &self,
        actor: &Actor,
        settings: statuspage::PageSettings,
    ) -> Result<statuspage::PageSettings> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        let settings = settings.checked()?;
        let json = serde_json::to_string(&settings).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.set_setting(SETTINGS_KEY, &json).await?;
        Ok(settings)
    }

    /// The page's address as customers read it.
    pub fn status_url(&self, settings: &statuspage::PageSettings) -> String {
        settings.url.clone().unwrap_or_else(|| format!("{}/status", self.config.public_url.trim_end_matches('/')))
    }

    /// A new component, operational (admins).
    pub async fn create_component(&self, actor: &Actor, input: ComponentInput) -> Result<ComponentRecord> {
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        let spec = self.component_spec(&input, None).await?;
        if self.store.components().await?.len() >= statuspage::MAX_COMPONENTS {
            let max = statuspage::MAX_COMPONENTS;
            return Err(DomainError::invalid("name", format!("the page has {max} components, the most it may")).into());
        }
        Ok(self.store.create_component(&spec, self.clock.now()).await?)
    }

    pub async fn components(&self) -> Result<Vec<ComponentRecord>> {
        Ok(self.store.components().await?)
    }

    pub async fn component(&self, id: u64) -> Result<ComponentRecord> {
        self.store.component(id).await?.ok_or_else(|| no_component(id))
    }

    pub async fn change_component(&self, actor: &Actor, id: u64, input: ComponentInput) -> Result<ComponentRecord> {
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        let old = self.component(id).await?;
        let spec = self.component_spec(&input, Some(&old.spec)).await?;
        Ok(self.store.change_component(id, &spec, self.clock.now()).await?)
    }

    pub async fn delete_component(&self, actor: &Actor, id: u64) -> Result<()> {
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        if self.store.delete_component(id).await? { Ok(()) } else { Err(no_component(id)) }
    }

    /// The components an update may name: (id, name).
    pub(crate) async fn component_catalog(&self) -> Result<Vec<(u64, String)>> {
        Ok(self.store.components().await?.into_iter().map(|c| (c.id, c.spec.name)).collect())
    }

    /// Sets an incident's public title or impact (admins and whoever may
    /// publish its external updates).
    pub async fn edit_public_incident(
        &self,
        actor: &Actor,
        r: IncidentRef,
        title: Option<&str>,
        impact: Option<Option<Impact>>,
    ) -> Result<PublicIncidentView> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| crate::incidents::no_incident(r))?;
        access::check(actor, UpdateAudience::External.publish_action(), &Standing::incident(&incident, actor))?;
        if let Some(t) = title
            && (t.chars().count() > 200 || t.trim().is_empty())
        {
            return Err(DomainError::invalid("title", "a public title has 1 to 200 characters").into());
        }
        let edited = self.store.edit_public_incident(r.0, title.map(str::trim), impact, self.clock.now()).await?;
        if edited.is_none() {
            return Err(DomainError::Conflict(format!(
                "{r} is not on the status page: it shows once its first external update is published"
            ))
            .into());
        }
        self.public_incident(r.0).await?.ok_or_else(|| crate::incidents::no_incident(r).into())
    }

    /// One incident as the page shows it; `None` if it is not on the page.
    pub async fn public_incident(&self, number: u64) -> Result<Option<PublicIncidentView>> {
        let Some(p) = self.store.public_incident(number).await? else { return Ok(None) };
        let names: Vec<(u64, String)> = self.component_catalog().await?;
        Ok(self.public_views(vec![p], &names).await?.pop())
    }

    /// The incidents `list` as the page shows them, read at once.
    async fn public_views(
        &self,
        list: Vec<muster_store::PublicIncident>,
        names: &[(u64, String)],
    ) -> Result<Vec<PublicIncidentView>> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let numbers: Vec<u64> = list.iter().map(|p| p.incident).collect();
        let (incidents, changes, updates) = self.store.public_incident_parts(&numbers).await?;
        let table = self.update_cadence().await?;
        let now = self.clock.now();
        let mut views = Vec::with_capacity(list.len());
        for p in list {
            let number = p.incident;
            let Some(incident) = incidents.iter().find(|i| i.number == number) else { continue };
            let changes: Vec<&ComponentChange> = changes.iter().filter(|c| c.incident == Some(number)).collect();
            let updates = updates.iter().filter(|u| u.incident == number);
            views.push(public_view(p, incident, &changes, updates, names, &table, now));
        }
        Ok(views)
    }

    /// The page: components with 90 days of uptime, the indicator, and the
    /// incidents of the last 90 days.
    pub async fn status_page(&self) -> Result<StatusPage> {
        let now = self.clock.now();
        let tz = jiff::tz::TimeZone::UTC;
        let midnight = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map(|z| z.timestamp()).unwrap_or(now);
        let today = now.to_zoned(tz.clone()).date();
        let first = today.checked_sub(jiff::Span::new().days(UPTIME_DAYS - 1)).unwrap_or(today);
        let since = midnight(first);
        let records = self.store.components().await?;
        // Today's changes alone when every past day is known, else all 90 days'.
        let known = self.past_uptime.has_all(&records, first, today);
        let changes = self.store.component_changes_since(if known { midnight(today) } else { since }).await?;
        let mut found = Vec::new();
        let mut components = Vec::with_capacity(records.len());
        for record in records {
            let history: Vec<StateChange> = changes
                .iter()
                .filter(|c: &&ComponentChange| c.component == record.id)
                .map(|c| StateChange { at: c.at, status: c.new_status })
                .collect();
            let mut days = Vec::with_capacity(UPTIME_DAYS as usize);
            let (mut counted, mut up) = (0.0, 0.0);
            let mut day = first;
            while day <= today {
                let next = day.tomorrow().unwrap_or(day);
                let u = match (day < today).then(|| self.past_uptime.get(record.id, day)).flatten() {
                    Some(u) => u,
                    None => {
                        let u = statuspage::uptime(&history, record.created_at, midnight(day), midnight(next).min(now));
                        if day < today {
                            found.push(((record.id, day), u));
                        }
                        u
                    }
                };
                if let Some(p) = u.percent {
                    counted += u.counted_seconds;
                    up += u.counted_seconds * p / 100.0;
                }
                days.push((day, u));
                if next == day {
                    break;
                }
                day = next;
            }
            let uptime_percent = (counted > 0.0).then(|| 100.0 * up / counted);
            components.push(PublicComponent { record, days, uptime_percent });
        }
        self.past_uptime.keep(found, first);
        let indicator = statuspage::rollup(components.iter().map(|c| c.record.status));
        let names: Vec<(u64, String)> = components.iter().map(|c| (c.record.id, c.record.spec.name.clone())).collect();
        let incidents = self.public_views(self.store.public_incidents(since).await?, &names).await?;
        let maintenances = self.store.maintenances(since).await?;
        let updated_at = components
            .iter()
            .map(|c| c.record.updated_at)
            .chain(incidents.iter().map(|i| i.updated_at))
            .chain(maintenances.iter().map(|m| m.updated_at))
            .max()
            .unwrap_or(now);
        let settings = self.status_settings().await?;
        Ok(StatusPage { components, indicator, incidents, maintenances, updated_at, settings })
    }
}

/// An incident as the page shows it, from its parts.
fn public_view<'a>(
    p: muster_store::PublicIncident,
    incident: &muster_domain::Incident,
    changes: &[&ComponentChange],
    updates: impl Iterator<Item = &'a muster_store::UpdateRecord>,
    names: &[(u64, String)],
    table: &muster_domain::cadence::UpdateCadence,
    now: Timestamp,
) -> PublicIncidentView {
    let name =
        |id: u64| names.iter().find(|(c, _)| *c == id).map_or_else(|| format!("component {id}"), |(_, n)| n.clone());
    let mut updates: Vec<PublicUpdate> = updates
        .filter(|u| u.content.audience == UpdateAudience::External && u.state == UpdateState::Published)
        .map(|u| PublicUpdate {
            id: u.id,
            status: u.content.status.unwrap_or_else(|| PublicStatus::of(incident.status)),
            text: u.content.text(),
            at: u.published_at.unwrap_or(u.updated_at),
            components: changes
                .iter()
                .filter(|c| c.update == Some(u.id))
                .map(|c| (c.component, name(c.component), c.old_status, c.new_status))
                .collect(),
        })
        .collect();
    updates.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    let status = if incident.status.is_open() {
        updates.first().map_or(PublicStatus::Investigating, |u| u.status)
    } else {
        PublicStatus::Resolved
    };
    let impact = p.impact.unwrap_or_else(|| Impact::of(changes.iter().map(|c| c.new_status)));
    let mut components: Vec<(u64, String)> = Vec::new();
    for c in changes {
        if !components.iter().any(|(id, _)| *id == c.component) {
            components.push((c.component, name(c.component)));
        }
    }
    let next_update_at = muster_domain::cadence::next_due(incident, UpdateAudience::External, table, now).map(|d| d.at);
    PublicIncidentView {
        number: p.incident,
        title: p.title,
        status,
        impact,
        created_at: p.created_at,
        updated_at: updates.first().map_or(p.updated_at, |u| u.at),
        resolved_at: incident.resolved_at,
        updates,
        components,
        next_update_at,
    }
}
