//! Scheduled maintenance (admins announce it): the window and its timers
//! written in one transaction, its moves by hand or by those timers (the
//! `maintenance` channel), and what each tells the subscribers — at the
//! announcement, before the start, at the start and at the end — in
//! Statuspage's shapes, through the outbox.

use std::sync::Arc;

use muster_domain::access::{self, Action, Standing};
use muster_domain::maintenance::{self, MaintenanceSpec, MaintenanceState};
use muster_domain::outbox::Job;
use muster_domain::statuspage::{self, ComponentStatus};
use muster_domain::{Actor, DomainError, Timestamp};
use muster_store::{
    ComponentChange, ComponentRecord, DecideMaintenance, MaintenanceMove, MaintenanceNotice, MaintenanceRecord, NewJob,
    Store, StoreError, SubscriberRecord,
};
use serde_json::{Value, json};

use crate::channels::{Attempt, Channel, Failure};
use crate::clock::Clock;
use crate::subscribers::{Notice, component_jobs, incident_body, notice_jobs, page_value};
use crate::{App, Result};

/// A window as written: components by id or name.
#[derive(Debug, Clone)]
pub struct MaintenanceInput {
    pub title: String,
    pub body: String,
    pub components: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub auto_start: bool,
    pub auto_complete: bool,
    pub remind_minutes_before: Option<u32>,
}

/// What a maintenance's update says when its author said nothing.
pub fn default_text(state: MaintenanceState) -> &'static str {
    match state {
        MaintenanceState::Scheduled => "The maintenance is scheduled.",
        MaintenanceState::InProgress => "The scheduled maintenance is in progress. We will give updates as needed.",
        MaintenanceState::Verifying => "The work is done: we are verifying the results.",
        MaintenanceState::Completed => "The scheduled maintenance has been completed.",
    }
}

fn no_maintenance(id: u64) -> crate::Error {
    DomainError::not_found("id", format!("there is no maintenance {id}")).into()
}

/// Builds the jobs of a maintenance's notices; shared by the API and the
/// timers' channel.
pub(crate) struct Notices {
    pub base: String,
    pub subscribers: Vec<SubscriberRecord>,
    pub components: Vec<ComponentRecord>,
}

impl Notices {
    pub(crate) async fn read(store: &dyn Store, base: &str) -> std::result::Result<Notices, StoreError> {
        Ok(Notices {
            base: base.trim_end_matches('/').to_owned(),
            subscribers: store.subscribers(true).await?,
            components: store.components().await?,
        })
    }

    fn name(&self, id: u64) -> String {
        self.components.iter().find(|c| c.id == id).map_or_else(|| format!("component {id}"), |c| c.spec.name.clone())
    }

    /// The timers of a new window, then what `notice` tells the subscribers.
    pub(crate) fn jobs(
        &self,
        m: &MaintenanceRecord,
        notice: MaintenanceNotice,
        changes: &[ComponentChange],
        now: Timestamp,
    ) -> Vec<NewJob> {
        let mut jobs = Vec::new();
        if notice == MaintenanceNotice::Announced {
            for (step, at) in maintenance::timers(&m.spec, now) {
                let job = Job::Maintenance { maintenance: m.id, step };
                jobs.push(NewJob {
                    job,
                    idempotency_key: format!("maintenance:{}:{}", m.id, step.as_str()),
                    due_at: at,
                });
            }
        }
        let states = self
            .components
            .iter()
            .map(|c| changes.iter().rev().find(|x| x.component == c.id).map_or(c.status, |x| x.new_status));
        let page = page_value(statuspage::rollup(states));
        let last = m.updates.last();
        let (key, subject) = match notice {
            MaintenanceNotice::Announced => {
                ("announced".to_owned(), format!("Scheduled maintenance: {}", m.spec.title))
            }
            MaintenanceNotice::Reminder => {
                ("reminder".to_owned(), format!("Maintenance starts soon: {}", m.spec.title))
            }
            MaintenanceNotice::Update => (
                format!("update:{}", last.map_or(0, |u| u.id)),
                format!("Maintenance {}: {}", m.state.label().to_lowercase(), m.spec.title),
            ),
        };
        let said = last.map(|u| u.body.as_str()).filter(|b| !b.is_empty());
        let text = match notice {
            MaintenanceNotice::Reminder => "The scheduled maintenance starts soon.".to_owned(),
            _ => said.unwrap_or(default_text(m.state)).to_owned(),
        };
        let names: Vec<String> = m.spec.components.iter().map(|c| self.name(*c)).collect();
        let link = format!("{}/status", self.base);
        let window = format!("From {} to {} (UTC)", short(m.spec.starts_at), short(m.spec.ends_at));
        let mail = format!("{}\n\n{text}\n\n{window}\nComponents: {}\n\n{link}\n", m.spec.title, names.join(", "));
        let id = format!("maintenance-{}", m.id);
        let affected: Vec<Value> = m
            .spec
            .components
            .iter()
            .map(|c| {
                let old = changes.iter().find(|x| x.component == *c).map(|x| x.old_status);
                let now_state = self.components.iter().find(|x| x.id == *c).map_or(ComponentStatus::Operational, |x| x.status);
                let new = changes.iter().rev().find(|x| x.component == *c).map_or(now_state, |x| x.new_status);
                json!({"code": c.to_string(), "name": self.name(*c), "old_status": old.unwrap_or(new).as_str(), "new_status": new.as_str()})
            })
            .collect();
        let at = last.map_or(now, |u| u.at).to_string();
        let incident = incident_body(json!({
            "id": id,
            "name": m.spec.title,
            "status": m.state.as_str(),
            "impact": "maintenance",
            "created_at": m.created_at.to_string(),
            "updated_at": m.updated_at.to_string(),
            "resolved_at": m.completed_at.map(|t| t.to_string()),
            "shortlink": link,
            "scheduled_for": m.spec.starts_at.to_string(),
            "scheduled_until": m.spec.ends_at.to_string(),
            "scheduled_remind_prior": m.spec.remind_minutes_before.is_some(),
            "scheduled_reminded_at": m.reminded_at.map(|t| t.to_string()),
            "scheduled_auto_transition": m.spec.auto_start || m.spec.auto_complete,
            "scheduled_auto_in_progress": m.spec.auto_start,
            "scheduled_auto_completed": m.spec.auto_complete,
            "incident_updates": [{
                "body": text,
                "created_at": at,
                "display_at": at,
                "status": m.state.as_str(),
                "twitter_updated_at": Value::Null,
                "updated_at": at,
                "wants_twitter_update": false,
                "id": format!("{id}-{}", last.map_or(0, |u| u.id)),
                "incident_id": id,
                "affected_components": affected,
            }],
        }));
        let notice = Notice {
            key: format!("maintenance:{}:{key}", m.id),
            affected: &m.spec.components,
            subject,
            text: mail,
            incident,
            page: &page,
        };
        jobs.extend(notice_jobs(&self.base, &self.subscribers, &notice, now));
        for change in changes {
            if let Some(c) = self.components.iter().find(|c| c.id == change.component) {
                let key = format!("component-change:{}", change.id);
                jobs.extend(component_jobs(&self.base, &self.subscribers, c, change, &page, &key, now));
            }
        }
        jobs
    }
}

/// `2026-12-01 22:00`.
fn short(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::UTC).strftime("%Y-%m-%d %H:%M").to_string()
}

impl App {
    /// Announces a maintenance window (admins): its subscribers are told,
    /// its timers set.
    pub async fn create_maintenance(&self, actor: &Actor, input: MaintenanceInput) -> Result<MaintenanceRecord> {
        actor.require_write()?;
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        let components = self.component_ids(&input.components).await?;
        let now = self.clock.now();
        let spec = MaintenanceSpec {
            title: input.title,
            body: input.body,
            components,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            auto_start: input.auto_start,
            auto_complete: input.auto_complete,
            remind_minutes_before: input.remind_minutes_before,
        }
        .checked(now)?;
        let notices = Notices::read(self.store.as_ref(), &self.config.public_url).await?;
        let decide: &DecideMaintenance<'_> = &|m, notice, changes| Ok(notices.jobs(m, notice, changes, now));
        let m = self.store.create_maintenance(&spec, decide, now).await?;
        self.engine.wake();
        Ok(m)
    }

    /// Moves maintenance `id` to `to` (or updates it in its state) saying
    /// `body` (admins); its components and subscribers follow.
    pub async fn update_maintenance(
        &self,
        actor: &Actor,
        id: u64,
        to: Option<MaintenanceState>,
        body: &str,
    ) -> Result<MaintenanceRecord> {
        actor.require_write()?;
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        if body.chars().count() > maintenance::MAX_BODY_CHARS {
            let max = maintenance::MAX_BODY_CHARS;
            return Err(DomainError::invalid("body", format!("it says at most {max} characters")).into());
        }
        let current = self.store.maintenance(id).await?.ok_or_else(|| no_maintenance(id))?;
        let to = to.unwrap_or(current.state);
        let now = self.clock.now();
        let notices = Notices::read(self.store.as_ref(), &self.config.public_url).await?;
        let decide: &DecideMaintenance<'_> = &|m, notice, changes| Ok(notices.jobs(m, notice, changes, now));
        let moved = self.store.advance_maintenance(id, MaintenanceMove::To { to, body }, decide, now).await?;
        self.engine.wake();
        moved.map(|(m, _)| m).ok_or_else(|| no_maintenance(id))
    }

    /// The windows not completed and those of the last 90 days.
    pub async fn maintenances(&self) -> Result<Vec<MaintenanceRecord>> {
        let since = self.clock.now() - jiff::SignedDuration::from_hours(24 * crate::statuspage::UPTIME_DAYS);
        Ok(self.store.maintenances(since).await?)
    }

    pub async fn maintenance(&self, id: u64) -> Result<MaintenanceRecord> {
        self.store.maintenance(id).await?.ok_or_else(|| no_maintenance(id))
    }
}

/// Runs a maintenance's timers (`maintenance` jobs): a reminder, the
/// automatic start and end. A timer the maintenance moved past does
/// nothing.
pub struct MaintenanceChannel {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    public_url: String,
}

impl MaintenanceChannel {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        MaintenanceChannel { store, clock, public_url: public_url.to_owned() }
    }
}

#[async_trait::async_trait]
impl Channel for MaintenanceChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["maintenance"]
    }

    async fn deliver(&self, job: &Job, _: &Attempt<'_>) -> std::result::Result<(), Failure> {
        let Job::Maintenance { maintenance: id, step } = job else {
            return Err(Failure::permanent("not a maintenance timer"));
        };
        let fail = |e: StoreError| Failure::new(format!("maintenance {id}'s {} timer: {e}", step.as_str()));
        let notices = Notices::read(self.store.as_ref(), &self.public_url).await.map_err(fail)?;
        let now = self.clock.now();
        let decide: &DecideMaintenance<'_> = &|m, notice, changes| Ok(notices.jobs(m, notice, changes, now));
        match self.store.advance_maintenance(*id, MaintenanceMove::Timer(*step), decide, now).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                tracing::info!(maintenance = id, step = step.as_str(), "the maintenance moved past its timer");
                Ok(())
            }
            Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(fail(e)),
        }
    }
}
