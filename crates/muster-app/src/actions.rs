//! Actions tracked as things, and follow-ups across incidents (see
//! `muster_domain::action`): an action recorded with an owner and a due
//! time, marked a follow-up, done or cancelled. A follow-up with an owner
//! and a due time puts its owner's reminder in the outbox in the same
//! transaction; marking it a follow-up tells the tracker webhook, when one
//! is set.

use muster_domain::action::{self, ActionItem, ActionStatus, Tracking};
use muster_domain::incident::{Command, Context};
use muster_domain::{Actor, Change, DomainError, Handle, IncidentRef, Timestamp};
use muster_store::{FollowUpFilter, FollowUpRecord, NewJob, StoreError};
use serde_json::json;

use crate::channels::follow_up_due::reminder;
use crate::incidents::no_incident;
use crate::{App, Result};

/// The setting holding the tracker webhook (`{"url", "secret"}`).
pub const FOLLOW_UP_WEBHOOK: &str = "follow_up_webhook";

/// What changes in an action's tracking; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TrackingPatch {
    pub owner: Option<Option<Handle>>,
    pub due_at: Option<Option<Timestamp>>,
    pub status: Option<ActionStatus>,
    pub follow_up: Option<bool>,
    pub ticket: Option<Option<String>>,
}

impl TrackingPatch {
    fn apply(&self, t: &Tracking) -> Tracking {
        Tracking {
            owner: self.owner.clone().unwrap_or_else(|| t.owner.clone()),
            due_at: self.due_at.unwrap_or(t.due_at),
            status: self.status.unwrap_or(t.status),
            follow_up: self.follow_up.unwrap_or(t.follow_up),
            ticket: self.ticket.clone().unwrap_or_else(|| t.ticket.clone()),
        }
    }
}

impl App {
    /// The incident's actions, each with its tracking.
    pub async fn actions(&self, r: IncidentRef) -> Result<Vec<ActionItem>> {
        self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        Ok(action::actions(&self.store.events(r.0).await?))
    }

    /// Follow-ups across incidents.
    pub async fn follow_ups(&self, filter: &FollowUpFilter) -> Result<Vec<FollowUpRecord>> {
        Ok(self.store.follow_ups(filter).await?)
    }

    /// Records an action, tracked from the start as `patch` says.
    pub async fn add_action(
        &self,
        actor: &Actor,
        r: IncidentRef,
        text: String,
        workstream: Option<muster_domain::Scope>,
        patch: TrackingPatch,
    ) -> Result<ActionItem> {
        let tracking = patch.apply(&Tracking::default());
        self.check_owner(&tracking).await?;
        let command = |_: &muster_domain::Incident| Command::AddAction {
            text: text.clone(),
            tracking: tracking.clone(),
            workstream: workstream.clone(),
        };
        let events = self.track_with_jobs(actor, r, &command).await?;
        let seq = events
            .iter()
            .find(|e| matches!(e.change, Change::Entry { .. }))
            .map(|e| e.seq)
            .ok_or_else(|| crate::Error::Internal("an action made no entry".into()))?;
        Ok(action::action(&self.store.events(r.0).await?, seq)?)
    }

    /// Changes how the action of entry `seq` is tracked.
    pub async fn track_action(
        &self,
        actor: &Actor,
        r: IncidentRef,
        seq: u64,
        patch: TrackingPatch,
    ) -> Result<ActionItem> {
        // Who may is said before anything about the entry (any responder).
        actor.require_write()?;
        self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        // Its words never change; its tracking is read again under the lock.
        let item = action::action(&self.store.events(r.0).await?, seq)?;
        self.check_owner(&patch.apply(&item.tracking)).await?;
        let command = |current: &muster_domain::Incident| {
            let before = current.actions.get(&seq).cloned().unwrap_or_default();
            Command::TrackAction {
                action: ActionItem { tracking: before.clone(), ..item.clone() },
                tracking: patch.apply(&before),
            }
        };
        self.track_with_jobs(actor, r, &command).await?;
        Ok(action::action(&self.store.events(r.0).await?, seq)?)
    }

    async fn check_owner(&self, t: &Tracking) -> Result<()> {
        if let Some(owner) = &t.owner {
            self.member(owner, "owner").await?;
        }
        Ok(())
    }

    /// Runs the command `command` makes from the incident's state under its
    /// lock, with the jobs its `action_tracked` events call for: the
    /// owner's reminder of a follow-up due, and the tracker webhook for a
    /// new follow-up.
    async fn track_with_jobs(
        &self,
        actor: &Actor,
        r: IncidentRef,
        command: &(dyn Fn(&muster_domain::Incident) -> Command + Send + Sync),
    ) -> Result<Vec<muster_domain::Event>> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        let tracker = self.follow_up_webhook().await?;
        let public_url = self.config.public_url.trim_end_matches('/').to_owned();
        let decide = |state: &muster_domain::Incident| {
            let now = self.clock.now();
            let (next, events) = state.execute(command(state), Context { actor, now, catalog: &catalog })?;
            let mut jobs: Vec<NewJob> = Vec::new();
            for e in &events {
                let Change::ActionTracked { action: seq, text, tracking: t, .. } = &e.change else { continue };
                if let (Some(due_at), Some(run)) = (t.due_at, next.reminders.get(seq).filter(|run| **run == e.seq)) {
                    jobs.push(reminder(state.number, *seq, due_at, 0, *run));
                }
                let was = state.actions.get(seq).is_some_and(|before| before.follow_up);
                if t.follow_up && !was && tracker.is_some() {
                    let body = json!({"type": "follow_up.created", "incident": format!("INC-{}", state.number),
                        "action": seq, "text": text, "owner": t.owner.as_ref().map(|o| o.as_str()),
                        "due_at": t.due_at.map(|d| d.to_string()), "status": t.status.as_str(),
                        "ticket": t.ticket, "url": format!("{public_url}/incidents/INC-{}", state.number)});
                    let job = muster_domain::outbox::Job::Webhook(muster_domain::outbox::Webhook {
                        to: "the follow-up tracker webhook".into(),
                        body,
                        setting: Some(FOLLOW_UP_WEBHOOK.to_owned()),
                        ..Default::default()
                    });
                    let key = format!("follow_up.created:{}:{seq}", state.number);
                    jobs.push(NewJob { job, idempotency_key: key, due_at: now });
                }
            }
            Ok((next, events, jobs))
        };
        let (_, events) = match self.store.update_incident_with_jobs(r.0, &decide, self.clock.now()).await {
            Err(StoreError::NotFound(_)) => return Err(no_incident(r).into()),
            other => other?,
        };
        if !events.is_empty() {
            self.changes.changed(r.0);
            self.engine.wake();
        }
        Ok(events)
    }
}

/// Refuses a tracker webhook URL that is not http(s).
pub fn check_tracker_url(url: &str) -> std::result::Result<(), DomainError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(DomainError::invalid(
            "url",
            "the tracker webhook does not parse as a URL: give an http:// or https:// one",
        )),
    }
}

impl App {
    /// Where new follow-ups are posted for a tracker to mirror them, when
    /// set: its URL (the secret is shown only when set).
    pub async fn follow_up_webhook(&self) -> Result<Option<String>> {
        let Some(json) = self.store.setting(FOLLOW_UP_WEBHOOK).await? else { return Ok(None) };
        let v: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("the setting {FOLLOW_UP_WEBHOOK}: {e}")))?;
        Ok(v["url"].as_str().map(str::to_owned))
    }

    /// Sets the tracker webhook (admins); returns the URL and the signing
    /// secret (the one given, or a new one).
    pub async fn set_follow_up_webhook(
        &self,
        actor: &Actor,
        url: &str,
        secret: Option<String>,
    ) -> Result<(String, String)> {
        use muster_domain::access::{self, Action, Standing};
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        let url = url.trim().to_owned();
        check_tracker_url(&url)?;
        let secret = secret
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(crate::stakeholders::new_secret);
        if !(16..=200).contains(&secret.chars().count()) {
            return Err(DomainError::invalid("secret", "a signing secret has 16-200 characters").into());
        }
        let json = json!({"url": url, "secret": secret}).to_string();
        self.store.set_setting(FOLLOW_UP_WEBHOOK, &json).await?;
        Ok((url, secret))
    }

    /// Stops posting new follow-ups to a tracker (admins). Posts already
    /// waiting in the outbox are given up, saying the setting was removed.
    pub async fn remove_follow_up_webhook(&self, actor: &Actor) -> Result<()> {
        use muster_domain::access::{self, Action, Standing};
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        self.store.set_setting(FOLLOW_UP_WEBHOOK, "{}").await?;
        Ok(())
    }
}
