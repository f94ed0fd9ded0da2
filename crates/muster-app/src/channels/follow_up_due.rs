//! A follow-up fell due (`follow_up.due` jobs, written with the tracking
//! that gave it its due time): tell its owner through their contact
//! methods, and put the next reminder a week on in the outbox, in one
//! transaction under the incident's lock. A job whose follow-up is done,
//! cancelled, given another due time or owner, or no follow-up any more
//! does nothing.

use std::sync::Arc;

use muster_domain::Timestamp;
use muster_domain::action;
use muster_domain::outbox::Job;
use muster_store::{NewJob, Store, StoreError};
use serde_json::json;

use super::{Attempt, Channel, Failure};
use crate::clock::Clock;

pub struct FollowUpDueChannel {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    public_url: String,
}

/// The job that reminds the owner of follow-up `action` of incident
/// `incident` the `nth` time in the run the entry `run` started, due then.
pub fn reminder(incident: u64, action: u64, due_at: Timestamp, nth: u32, run: u64) -> NewJob {
    NewJob {
        job: Job::FollowUpDue { incident, action, due_at, nth, run },
        idempotency_key: format!("follow_up.due:{incident}:{action}:{run}:{nth}"),
        due_at: action::reminder_at(due_at, nth),
    }
}

impl FollowUpDueChannel {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        FollowUpDueChannel { store, clock, public_url: public_url.trim_end_matches('/').to_owned() }
    }

    async fn remind(&self, number: u64, seq: u64, due_at: Timestamp, nth: u32, run: u64) -> Result<(), StoreError> {
        let Some(incident) = self.store.incident(number).await? else { return Ok(()) };
        let stands = |i: &muster_domain::Incident| {
            i.reminders.get(&seq) == Some(&run)
                && i.actions.get(&seq).is_some_and(|t| action::reminder_stands(t, due_at))
        };
        let Some(owner) = incident.actions.get(&seq).filter(|_| stands(&incident)).and_then(|t| t.owner.clone()) else {
            tracing::info!(incident = number, action = seq, "done, moved or no follow-up: no reminder");
            return Ok(());
        };
        let methods = self.store.contact_methods(&owner).await?;
        let text = action::action(&self.store.events(number).await?, seq).map(|a| a.text).unwrap_or_default();
        let url = format!("{}/incidents/INC-{number}", self.public_url);
        let now = self.clock.now();
        let decide = |current: &muster_domain::Incident| {
            // Checked again under the lock: marked done in between, nothing goes.
            if !stands(current) {
                return Ok((current.clone(), Vec::new(), Vec::new()));
            }
            let late = if nth == 0 { "is due now".to_owned() } else { format!("has been overdue for {nth} week(s)") };
            let headline = format!("your follow-up from INC-{number} {late}");
            let body = json!({"type": "follow_up.due", "incident": format!("INC-{number}"), "action": seq,
                              "text": text, "owner": owner.as_str(), "due_at": due_at.to_string(),
                              "reminder": nth + 1, "summary": headline, "url": url});
            let mail = format!("{headline}: {text}\n\nDue {due_at}. Mark it done or move it: {url}\n");
            let mut jobs = Vec::new();
            for m in &methods {
                let job = super::notification(m, body.clone(), &format!("[Muster] {headline}"), mail.clone());
                let key =
                    format!("follow_up.reminded:{number}:{seq}:{}:{nth}:method:{}", due_at.as_microsecond(), m.id);
                jobs.push(NewJob { job, idempotency_key: key, due_at: now });
            }
            jobs.push(reminder(number, seq, due_at, nth + 1, run));
            Ok((current.clone(), Vec::new(), jobs))
        };
        self.store.update_incident_with_jobs(number, &decide, now).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Channel for FollowUpDueChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["follow_up.due"]
    }

    async fn deliver(&self, job: &Job, _: &Attempt<'_>) -> Result<(), Failure> {
        let Job::FollowUpDue { incident, action, due_at, nth, run } = job else {
            return Err(Failure::permanent("not a follow-up reminder"));
        };
        self.remind(*incident, *action, *due_at, *nth, *run)
            .await
            .map_err(|e| Failure::new(format!("follow-up {action} of INC-{incident}'s reminder: {e}")))
    }
}
