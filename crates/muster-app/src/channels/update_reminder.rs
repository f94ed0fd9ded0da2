//! An audience's next update is due (`update.reminder` jobs, scheduled by
//! the store whenever an incident's update clock moves): remind whoever
//! handles that audience's communications through their contact methods,
//! and put the reminder on the timeline, in one transaction. Past the grace
//! (`escalate_after_minutes`) a second job reminds the incident manager
//! too. A job whose due time is no longer the audience's (an update was
//! published, a snooze, the incident resolved) does nothing.

use std::sync::Arc;

use muster_domain::cadence::{self, UpdateCadence};
use muster_domain::incident::Context;
use muster_domain::outbox::Job;
use muster_domain::update::UpdateAudience;
use muster_domain::{Command, Incident, Timestamp};
use muster_store::{NewJob, Store, StoreError};
use serde_json::json;

use super::{Attempt, Channel, Failure};
use crate::changes::Changes;
use crate::clock::Clock;

pub struct UpdateReminderChannel {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    changes: Arc<Changes>,
    public_url: String,
}

impl UpdateReminderChannel {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, changes: Arc<Changes>, public_url: &str) -> Self {
        UpdateReminderChannel { store, clock, changes, public_url: public_url.trim_end_matches('/').to_owned() }
    }

    async fn table(&self) -> Result<UpdateCadence, StoreError> {
        match self.store.setting(cadence::SETTING).await? {
            None => Ok(UpdateCadence::default()),
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("{}: {e}", cadence::SETTING)))
            }
        }
    }

    async fn remind(
        &self,
        number: u64,
        audience: UpdateAudience,
        due_at: Timestamp,
        overdue: bool,
    ) -> Result<(), StoreError> {
        let table = self.table().await?;
        let Some(incident) = self.store.incident(number).await? else { return Ok(()) };
        let now = self.clock.now();
        let current = |i: &Incident| cadence::next_due(i, audience, &table, now).is_some_and(|d| d.at == due_at);
        if !current(&incident) {
            tracing::info!(incident = number, %audience, "the update clock moved on: no reminder");
            return Ok(());
        }
        // Whom, and how to reach them, read before the incident's lock.
        let mut methods = Vec::new();
        for person in cadence::reminded(&incident, audience, overdue) {
            methods.push((person.clone(), self.store.contact_methods(&person).await?));
        }
        let catalog = self.store.role_catalog().await?;
        let system = muster_domain::intake::system_actor();
        let url = format!("{}/incidents/INC-{number}", self.public_url);
        let decide = |state: &Incident| {
            if !current(state) {
                return Ok((state.clone(), Vec::new(), Vec::new()));
            }
            let people = cadence::reminded(state, audience, overdue);
            let command = Command::RemindUpdate { audience, due_at, overdue, people: people.clone() };
            let (next, events) = state.execute(command, Context { actor: &system, now, catalog: &catalog })?;
            let late = if overdue { "is overdue" } else { "is due" };
            let headline = format!("INC-{number}: the next {audience} update {late} ({})", state.title);
            let body = json!({"type": "update_reminder", "incident": format!("INC-{number}"), "audience": audience.as_str(),
                              "due_at": due_at.to_string(), "overdue": overdue, "summary": headline, "url": url});
            let text = format!("{headline}.\n\nIt was due at {due_at}. Publish it, or snooze the reminder: {url}\n");
            let mut jobs = Vec::new();
            for (person, found) in methods.iter().filter(|(p, _)| people.contains(p)) {
                for m in found {
                    let job = super::notification(m, body.clone(), &format!("[Muster] {headline}"), text.clone());
                    let stage = if overdue { "overdue" } else { "due" };
                    let key = format!("{}:{stage}:{person}:method:{}", reminder_key(number, audience, due_at), m.id);
                    jobs.push(NewJob { job, idempotency_key: key, due_at: now });
                }
            }
            if !overdue {
                // The incident manager, past the grace, unless the clock moves first.
                let grace = jiff::SignedDuration::from_mins(i64::from(table.escalate_after_minutes));
                let at = due_at.checked_add(grace).unwrap_or(due_at);
                let job = Job::UpdateReminder { incident: number, audience, due_at, overdue: true };
                jobs.push(NewJob {
                    job,
                    idempotency_key: format!("{}:overdue", reminder_key(number, audience, due_at)),
                    due_at: at,
                });
            }
            Ok((next, events, jobs))
        };
        let (_, events) = self.store.update_incident_with_jobs(number, &decide, now).await?;
        if !events.is_empty() {
            self.changes.changed(number);
        }
        Ok(())
    }
}

/// What every job of one due time's reminders starts its key with.
fn reminder_key(number: u64, audience: UpdateAudience, due_at: Timestamp) -> String {
    format!("update.reminder:{number}:{audience}:{}", due_at.as_microsecond())
}

#[async_trait::async_trait]
impl Channel for UpdateReminderChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["update.reminder"]
    }

    async fn deliver(&self, job: &Job, _: &Attempt<'_>) -> Result<(), Failure> {
        let Job::UpdateReminder { incident, audience, due_at, overdue } = job else {
            return Err(Failure::permanent("not an update reminder"));
        };
        self.remind(*incident, *audience, *due_at, *overdue)
            .await
            .map_err(|e| Failure::new(format!("INC-{incident}'s {audience} update reminder: {e}")))
    }
}
