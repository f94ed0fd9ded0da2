//! The status page's subscribers: email addresses confirmed through a
//! mailed link before anything else reaches them (double opt-in), and
//! webhooks confirmed by a first delivery they answered with 2xx. Each
//! published external update reaches the confirmed subscribers of the
//! components it (or its incident before) affects, in Statuspage's shapes,
//! through the outbox; every mail carries a one-click unsubscribe.

use muster_domain::access::{self, Action, Standing};
use muster_domain::outbox::{Email, Job, Webhook};
use muster_domain::paging::{ContactKind, contact_address};
use muster_domain::statuspage::{self, ComponentStatus};
use muster_domain::{Actor, DomainError, Incident, Timestamp};
use muster_store::{NewJob, SubscriberRecord, UpdateRecord};
use serde_json::{Value, json};

use crate::{App, Result};

/// The page's id in Statuspage's shapes.
pub const PAGE_ID: &str = "muster";

/// What `subscribe` did, for the caller to say (the public answer is the
/// same either way for mail, so that it reveals nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A confirmation was sent (or is on its way again).
    Confirming,
    /// Subscribed and confirmed already: nothing was sent.
    Already,
    /// A new webhook, with the secret that signs what it receives.
    Webhook { id: u64, secret: String },
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// Who hears an external update, read before publishing.
pub(crate) struct Subscribers {
    list: Vec<SubscriberRecord>,
    /// Components the incident's earlier updates named.
    earlier: Vec<u64>,
    /// (id, name, state now) of every component.
    components: Vec<(u64, String, ComponentStatus)>,
    /// The title the page shows (the incident's until it is on the page).
    title: Option<String>,
}

impl App {
    fn base(&self) -> String {
        self.config.public_url.trim_end_matches('/').to_owned()
    }

    /// The components named (by id or name), as ids.
    async fn component_ids(&self, named: &[String]) -> Result<Vec<u64>> {
        let catalog = self.component_catalog().await?;
        let mut ids = Vec::new();
        for (i, n) in named.iter().enumerate() {
            let n = n.trim();
            let found = catalog.iter().find(|(id, name)| name == n || n.parse::<u64>().is_ok_and(|x| x == *id));
            let Some((id, _)) = found else {
                return Err(
                    DomainError::invalid(format!("components[{i}]"), format!("there is no component {n:?}")).into()
                );
            };
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        Ok(ids)
    }

    /// Subscribes `email` to `components` (none: the whole page): a
    /// confirmation mail, unless it is confirmed already (then nothing).
    pub async fn subscribe_email(&self, email: &str, components: &[String]) -> Result<Subscribed> {
        let address = contact_address(ContactKind::Email, email).map_err(|e| match e {
            DomainError::Invalid { message, .. } => DomainError::invalid("email", message),
            other => other,
        })?;
        let components = self.component_ids(components).await?;
        let now = self.clock.now();
        let new = SubscriberRecord {
            id: 0,
            kind: "email".into(),
            address: address.clone(),
            components,
            token: token(),
            secret: None,
            confirmed_at: None,
            created_at: now,
        };
        let (s, _) = self.store.subscribe(&new).await?;
        if s.confirmed_at.is_some() {
            return Ok(Subscribed::Already);
        }
        let link = format!("{}/status/subscriptions/{}/confirm", self.base(), s.token);
        let text = format!(
            "Someone (we hope you) asked to hear about incidents on {}/status at this address.\n\n\
             Confirm, and you will: {link}\n\nIf it was not you, ignore this mail: nothing more will come.\n",
            self.base()
        );
        let job = Job::Email(Email {
            to: s.address.clone(),
            subject: "Confirm your status page subscription".into(),
            text,
            status_subscriber: Some(s.id),
            ..Email::default()
        });
        // One confirmation an hour at most, however often it is asked for.
        let hour = now.as_second() / 3600;
        let key = format!("subscriber:{}:confirm:{hour}", s.id);
        self.store.enqueue_job(&NewJob { job, idempotency_key: key, due_at: now }, now).await?;
        self.engine.wake();
        Ok(Subscribed::Confirming)
    }

    /// Subscribes a webhook to `components`: a first delivery it must
    /// answer with 2xx confirms it; its secret signs everything it gets.
    pub async fn subscribe_webhook(&self, url: &str, components: &[String]) -> Result<Subscribed> {
        let url = contact_address(ContactKind::Webhook, url).map_err(|e| match e {
            DomainError::Invalid { message, .. } => DomainError::invalid("webhook", message),
            other => other,
        })?;
        crate::channels::webhook::check_target(&self.config.webhook_allow, &url)
            .await
            .map_err(|e| DomainError::invalid("webhook", e.to_string()))?;
        let components = self.component_ids(components).await?;
        let now = self.clock.now();
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let new = SubscriberRecord {
            id: 0,
            kind: "webhook".into(),
            address: url,
            components,
            token: token(),
            secret: Some(format!("whsec_{}", hex::encode(secret))),
            confirmed_at: None,
            created_at: now,
        };
        let (s, added) = self.store.subscribe(&new).await?;
        if !added {
            return Err(DomainError::Conflict("this webhook is subscribed already".into()).into());
        }
        let page = self.page_json(None).await?;
        let body = json!({"meta": self.meta(&s, now), "page": page});
        let job = Job::Webhook(Webhook {
            to: crate::channels::webhook::origin(&s.address),
            body,
            status_subscriber: Some(s.id),
            ..Webhook::default()
        });
        let key = format!("subscriber:{}:verify", s.id);
        self.store.enqueue_job(&NewJob { job, idempotency_key: key, due_at: now }, now).await?;
        self.engine.wake();
        Ok(Subscribed::Webhook { id: s.id, secret: s.secret.unwrap_or_default() })
    }

    /// The subscriber a link's token names.
    pub async fn subscriber_by_token(&self, token: &str) -> Result<Option<SubscriberRecord>> {
        if token.len() > 100 {
            return Ok(None);
        }
        Ok(self.store.subscriber_by_token(token).await?)
    }

    /// Confirms the subscription the link names; `false` if there is none.
    pub async fn confirm_subscription(&self, token: &str) -> Result<bool> {
        let Some(s) = self.subscriber_by_token(token).await? else { return Ok(false) };
        self.store.confirm_subscriber(s.id, self.clock.now()).await?;
        Ok(true)
    }

    /// Ends the subscription the link names; `false` if there is none.
    pub async fn unsubscribe(&self, token: &str) -> Result<bool> {
        let Some(s) = self.subscriber_by_token(token).await? else { return Ok(false) };
        Ok(self.store.remove_subscriber(s.id).await?)
    }

    /// Every subscriber (admins).
    pub async fn subscribers(&self, actor: &Actor) -> Result<Vec<SubscriberRecord>> {
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        Ok(self.store.subscribers(false).await?)
    }

    pub async fn remove_subscriber(&self, actor: &Actor, id: u64) -> Result<()> {
        access::check(actor, Action::ManageStatusPage, &Standing::none())?;
        if self.store.remove_subscriber(id).await? {
            Ok(())
        } else {
            Err(DomainError::not_found("id", format!("there is no subscriber {id}")).into())
        }
    }

    fn meta(&self, s: &SubscriberRecord, now: Timestamp) -> Value {
        json!({
            "unsubscribe": format!("{}/status/subscriptions/{}/unsubscribe", self.base(), s.token),
            "documentation": format!("{}/status", self.base()),
            "generated_at": now.to_string(),
        })
    }

    /// `page` in Statuspage's webhook body; with `states`, the indicator
    /// from them, else from the components now.
    async fn page_json(&self, states: Option<Vec<ComponentStatus>>) -> Result<Value> {
        let states = match states {
            Some(s) => s,
            None => self.store.components().await?.into_iter().map(|c| c.status).collect(),
        };
        let indicator = statuspage::rollup(states);
        Ok(
            json!({"id": PAGE_ID, "status_indicator": indicator.as_str(), "status_description": indicator.description()}),
        )
    }

    /// The confirmed subscribers and what they need to hear of an external
    /// update of incident `number`.
    pub(crate) async fn update_subscribers(&self, number: u64) -> Result<Subscribers> {
        let list = self.store.subscribers(true).await?;
        if list.is_empty() {
            return Ok(Subscribers { list, earlier: Vec::new(), components: Vec::new(), title: None });
        }
        let mut earlier: Vec<u64> = Vec::new();
        for c in self.store.incident_component_changes(number).await? {
            if !earlier.contains(&c.component) {
                earlier.push(c.component);
            }
        }
        let components = self.store.components().await?.into_iter().map(|c| (c.id, c.spec.name, c.status)).collect();
        let title = self.store.public_incident(number).await?.map(|p| p.title);
        Ok(Subscribers { list, earlier, components, title })
    }

    /// The jobs that carry external update `u` of `incident` to the
    /// subscribers who hear of it.
    pub(crate) fn subscriber_jobs(
        &self,
        subs: &Subscribers,
        incident: &Incident,
        u: &UpdateRecord,
        now: Timestamp,
    ) -> Vec<NewJob> {
        if subs.list.is_empty() {
            return Vec::new();
        }
        let mut affected = subs.earlier.clone();
        for a in &u.content.components {
            if !affected.contains(&a.component) {
                affected.push(a.component);
            }
        }
        let name =
            |id: u64| subs.components.iter().find(|(c, _, _)| *c == id).map_or_else(String::new, |(_, n, _)| n.clone());
        let old =
            |id: u64| subs.components.iter().find(|(c, _, _)| *c == id).map_or(ComponentStatus::Operational, |c| c.2);
        let states: Vec<ComponentStatus> = subs
            .components
            .iter()
            .map(|(id, _, s)| u.content.components.iter().find(|a| a.component == *id).map_or(*s, |a| a.status))
            .collect();
        let indicator = statuspage::rollup(states);
        let page = json!({"id": PAGE_ID, "status_indicator": indicator.as_str(), "status_description": indicator.description()});
        let title = subs.title.clone().unwrap_or_else(|| incident.title.clone());
        let status = u.content.status.unwrap_or_else(|| muster_domain::update::PublicStatus::of(incident.status));
        let reference = incident.reference().to_string();
        let link = format!("{}/status/incidents/{reference}", self.base());
        let text = u.content.text();
        let changes: Vec<Value> = u
            .content
            .components
            .iter()
            .map(|a| json!({"code": a.component.to_string(), "name": name(a.component), "old_status": old(a.component).as_str(), "new_status": a.status.as_str()}))
            .collect();
        // Every key of Statuspage's incident webhook, so that its receivers
        // read ours (postmortems and scheduling are not Muster's to say here).
        let incident_json = json!({
            "backfilled": false,
            "created_at": incident.declared_at.to_string(),
            "impact": statuspage::Impact::of(u.content.components.iter().map(|a| a.status)).as_str(),
            "impact_override": Value::Null,
            "monitoring_at": incident.monitoring_at.map(|t| t.to_string()),
            "postmortem_body": Value::Null,
            "postmortem_body_last_updated_at": Value::Null,
            "postmortem_ignored": false,
            "postmortem_notified_subscribers": false,
            "postmortem_notified_twitter": false,
            "postmortem_published_at": Value::Null,
            "resolved_at": incident.resolved_at.map(|t| t.to_string()),
            "scheduled_auto_transition": false,
            "scheduled_for": Value::Null,
            "scheduled_remind_prior": false,
            "scheduled_reminded_at": Value::Null,
            "scheduled_until": Value::Null,
            "shortlink": link,
            "status": status.as_str(),
            "updated_at": now.to_string(),
            "id": reference,
            "organization_id": PAGE_ID,
            "incident_updates": [{
                "body": text,
                "created_at": now.to_string(),
                "display_at": now.to_string(),
                "status": status.as_str(),
                "twitter_updated_at": Value::Null,
                "updated_at": now.to_string(),
                "wants_twitter_update": false,
                "id": format!("{reference}-{}", u.id),
                "incident_id": reference,
                "affected_components": changes,
            }],
            "name": title,
        });
        let affected_names: Vec<String> =
            u.content.components.iter().map(|a| format!("{}: {}", name(a.component), a.status.label())).collect();
        let mut jobs = Vec::new();
        for s in subs.list.iter().filter(|s| statuspage::subscriber_hears(&s.components, &affected)) {
            let unsubscribe = format!("{}/status/subscriptions/{}/unsubscribe", self.base(), s.token);
            let key = format!("update:{}:subscriber:{}", u.id, s.id);
            let job = if s.kind == "webhook" {
                let body = json!({"meta": self.meta(s, now), "page": page, "incident": incident_json});
                Job::Webhook(Webhook {
                    to: crate::channels::webhook::origin(&s.address),
                    body,
                    status_subscriber: Some(s.id),
                    ..Webhook::default()
                })
            } else {
                let affected_text = if affected_names.is_empty() {
                    String::new()
                } else {
                    format!("\n\n{}", affected_names.join("\n"))
                };
                Job::Email(Email {
                    to: s.address.clone(),
                    subject: format!("{title}: {}", status.label()).chars().take(200).collect(),
                    text: format!(
                        "{title}\n\n{}: {text}{affected_text}\n\n{link}\n\nUnsubscribe: {unsubscribe}\n",
                        status.label()
                    ),
                    status_subscriber: Some(s.id),
                    list_unsubscribe: Some(unsubscribe),
                    ..Email::default()
                })
            };
            jobs.push(NewJob { job, idempotency_key: key, due_at: now });
        }
        jobs
    }
}
