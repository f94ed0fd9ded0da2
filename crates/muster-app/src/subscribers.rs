//! The status page's subscribers: email addresses confirmed through a
//! mailed link before anything else reaches them (double opt-in), and
//! webhooks confirmed by a first delivery they answered with 2xx. Each
//! published external update reaches the confirmed subscribers of the
//! components it (or its incident before) affects, in Statuspage's shapes,
//! through the outbox; every mail carries a one-click unsubscribe.

use muster_domain::access::{self, Action, Standing};
use muster_domain::incident::Context;
use muster_domain::outbox::{Email, Job, Webhook};
use muster_domain::paging::{ContactKind, contact_address};
use muster_domain::statuspage::{self, ComponentStatus};
use muster_domain::{Actor, Command, DomainError, Incident, IncidentRef, Timestamp};
use muster_store::{ComponentChange, ComponentRecord, NewJob, SubscriberRecord, UpdateRecord};
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
    /// Every component, as it is now.
    components: Vec<ComponentRecord>,
    /// The title the page shows (the incident's until it is on the page).
    title: Option<String>,
}

impl App {
    fn base(&self) -> String {
        self.config.public_url.trim_end_matches('/').to_owned()
    }

    /// The components named (by id or name), as ids.
    pub(crate) async fn component_ids(&self, named: &[String]) -> Result<Vec<u64>> {
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
        self.public_settings().await?;
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
        self.public_settings().await?;
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
        let body = json!({"meta": meta(&self.base(), &s, now), "page": page});
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

    /// Changes what the subscription the link names hears of (none: the
    /// whole page); `false` if there is none.
    pub async fn change_subscription(&self, token: &str, components: &[String]) -> Result<bool> {
        let Some(s) = self.subscriber_by_token(token).await? else { return Ok(false) };
        let ids = self.component_ids(components).await?;
        Ok(self.store.set_subscriber_components(s.id, &ids).await?)
    }

    /// Ends the subscription the link names; `false` if there is none.
    pub async fn unsubscribe(&self, token: &str) -> Result<bool> {
        let Some(s) = self.subscriber_by_token(token).await? else { return Ok(false) };
        Ok(self.store.remove_subscriber(s.id).await?)
    }

    /// How many confirmed subscribers hear of the whole page (they chose
    /// no component), and of each component (those who chose it too).
    pub async fn subscriber_counts(&self) -> Result<(usize, Vec<(u64, usize)>)> {
        let list = self.store.subscribers(true).await?;
        let whole = list.iter().filter(|s| s.components.is_empty()).count();
        let counts = self
            .store
            .components()
            .await?
            .iter()
            .map(|c| (c.id, list.iter().filter(|s| statuspage::subscriber_hears(&s.components, &[c.id])).count()))
            .collect();
        Ok((whole, counts))
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

    /// `page` in Statuspage's webhook body; with `states`, the indicator
    /// from them, else from the components now.
    async fn page_json(&self, states: Option<Vec<ComponentStatus>>) -> Result<Value> {
        let states = match states {
            Some(s) => s,
            None => self.store.components().await?.into_iter().map(|c| c.status).collect(),
        };
        Ok(page_value(statuspage::rollup(states)))
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
        let components = self.store.components().await?;
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
        let find = |id: u64| subs.components.iter().find(|c| c.id == id);
        let name = |id: u64| find(id).map_or_else(String::new, |c| c.spec.name.clone());
        let old = |id: u64| find(id).map_or(ComponentStatus::Operational, |c| c.status);
        let states = subs
            .components
            .iter()
            .map(|c| u.content.components.iter().find(|a| a.component == c.id).map_or(c.status, |a| a.status));
        let page = page_value(statuspage::rollup(states));
        // The components the update moves, as Statuspage's component
        // webhooks tell them (their change ids are not known yet: the
        // update's id and the component's key them).
        let moved: Vec<(&ComponentRecord, ComponentChange)> = u
            .content
            .components
            .iter()
            .filter_map(|a| {
                let c = find(a.component)?;
                (c.status != a.status).then(|| {
                    let change = ComponentChange {
                        id: 0,
                        component: c.id,
                        old_status: c.status,
                        new_status: a.status,
                        at: now,
                        source: "update".into(),
                        incident: Some(incident.number),
                        update: Some(u.id),
                    };
                    (c, change)
                })
            })
            .collect();
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
        let incident_json = incident_body(json!({
            "created_at": incident.declared_at.to_string(),
            "impact": statuspage::Impact::of(u.content.components.iter().map(|a| a.status)).as_str(),
            "monitoring_at": incident.monitoring_at.map(|t| t.to_string()),
            "resolved_at": incident.resolved_at.map(|t| t.to_string()),
            "shortlink": link,
            "status": status.as_str(),
            "updated_at": now.to_string(),
            "id": reference,
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
        }));
        let affected_names: Vec<String> =
            u.content.components.iter().map(|a| format!("{}: {}", name(a.component), a.status.label())).collect();
        let affected_text =
            if affected_names.is_empty() { String::new() } else { format!("\n\n{}", affected_names.join("\n")) };
        let notice = Notice {
            key: format!("update:{}", u.id),
            affected: &affected,
            subject: format!("{title}: {}", status.label()),
            text: format!("{title}\n\n{}: {text}{affected_text}\n\n{link}\n", status.label()),
            incident: incident_json,
            page: &page,
        };
        let mut jobs = notice_jobs(&self.base(), &subs.list, &notice, now);
        for (c, change) in &moved {
            let key = format!("update:{}:component:{}", u.id, c.id);
            jobs.extend(component_jobs(&self.base(), &subs.list, c, change, &page, &key, now));
        }
        jobs
    }

    /// Puts component `id` in `status` directly: for incident `incident`
    /// (a timeline entry there; whoever may publish its external updates)
    /// or, with none named, by an admin. Webhook subscribers are told.
    /// `None` when it was in that state already.
    pub async fn set_component_status(
        &self,
        actor: &Actor,
        id: u64,
        status: ComponentStatus,
        incident: Option<IncidentRef>,
    ) -> Result<Option<ComponentChange>> {
        actor.require_write()?;
        let component = self.component(id).await?;
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let command = |from: ComponentStatus| Command::SetComponent {
            component: id,
            name: component.spec.name.clone(),
            from,
            to: status,
        };
        match incident {
            None => access::check(actor, Action::ManageStatusPage, &Standing::none())?,
            Some(r) => {
                // Decided once before, so that whoever may not is refused
                // even when the component is in that state already.
                let state = self.store.incident(r.0).await?.ok_or_else(|| crate::incidents::no_incident(r))?;
                state.execute(command(component.status), Context { actor, now, catalog: &catalog })?;
            }
        }
        let list = self.store.subscribers(true).await?;
        let all = self.store.components().await?;
        let decide = |state: Option<&Incident>, change: &ComponentChange| {
            let next = match state {
                Some(s) => Some(s.execute(command(change.old_status), Context { actor, now, catalog: &catalog })?),
                None => None,
            };
            let states = all.iter().map(|c| if c.id == id { change.new_status } else { c.status });
            let page = page_value(statuspage::rollup(states));
            let key = format!("component-change:{}", change.id);
            Ok((next, component_jobs(&self.base(), &list, &component, change, &page, &key, now)))
        };
        let changed = self.store.set_component_status(id, status, incident.map(|r| r.0), &decide, now).await;
        let changed = match changed {
            Err(muster_store::StoreError::NotFound(m)) if m.starts_with("there is no component") => {
                return Err(DomainError::not_found("id", m).into());
            }
            other => other?,
        };
        if changed.is_some() {
            if let Some(r) = incident {
                self.changes.changed(r.0);
            }
            self.engine.wake();
        }
        Ok(changed)
    }
}

/// `page` in Statuspage's webhook bodies.
pub(crate) fn page_value(indicator: statuspage::Indicator) -> Value {
    json!({"id": PAGE_ID, "status_indicator": indicator.as_str(), "status_description": indicator.description()})
}

/// Statuspage's component webhook (`component` and `component_update`)
/// for `change` of `c`, to each confirmed webhook subscriber who hears
/// of it; `key` names the change in the jobs' keys.
pub(crate) fn component_jobs(
    base: &str,
    list: &[SubscriberRecord],
    c: &ComponentRecord,
    change: &ComponentChange,
    page: &Value,
    key: &str,
    now: Timestamp,
) -> Vec<NewJob> {
    let id = c.id.to_string();
    let mut now_c = c.clone();
    now_c.status = change.new_status;
    now_c.updated_at = change.at;
    let component = crate::statuspage::component_json(&now_c);
    let update = json!({
        "old_status": change.old_status.as_str(),
        "new_status": change.new_status.as_str(),
        "created_at": change.at.to_string(),
        "component_type": "Component",
        "id": if change.id == 0 { key.replace(':', "-") } else { change.id.to_string() },
        "component_id": id,
    });
    list.iter()
        .filter(|s| s.kind == "webhook" && statuspage::subscriber_hears(&s.components, &[c.id]))
        .map(|s| {
            let body = json!({"meta": meta(base, s, now), "page": page, "component": component,
                              "component_update": update});
            let job = Job::Webhook(Webhook {
                to: crate::channels::webhook::origin(&s.address),
                body,
                status_subscriber: Some(s.id),
                ..Webhook::default()
            });
            NewJob { job, idempotency_key: format!("{key}:subscriber:{}", s.id), due_at: now }
        })
        .collect()
}

fn meta(base: &str, s: &SubscriberRecord, now: Timestamp) -> Value {
    json!({
        "unsubscribe": format!("{base}/status/subscriptions/{}/unsubscribe", s.token),
        "documentation": format!("{base}/status"),
        "generated_at": now.to_string(),
    })
}

/// Statuspage's incident webhook body: every key it has, so that its
/// receivers read ours, `fields` over the ones Muster has nothing to say
/// in (postmortems, tweets).
pub(crate) fn incident_body(fields: Value) -> Value {
    let mut body = json!({
        "backfilled": false,
        "impact_override": Value::Null,
        "monitoring_at": Value::Null,
        "resolved_at": Value::Null,
        "postmortem_body": Value::Null,
        "postmortem_body_last_updated_at": Value::Null,
        "postmortem_ignored": false,
        "postmortem_notified_subscribers": false,
        "postmortem_notified_twitter": false,
        "postmortem_published_at": Value::Null,
        "scheduled_auto_transition": false,
        "scheduled_for": Value::Null,
        "scheduled_remind_prior": false,
        "scheduled_reminded_at": Value::Null,
        "scheduled_until": Value::Null,
        "organization_id": PAGE_ID,
        "page_id": PAGE_ID,
    });
    if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
        b.extend(f);
    }
    body
}

/// One thing the subscribers of some components hear: by mail (`subject`,
/// `text`, then the unsubscribe link) or by webhook (`incident`, in
/// Statuspage's incident body).
pub(crate) struct Notice<'a> {
    /// What the jobs' keys start with: one job per subscriber under it.
    pub key: String,
    /// The components it is of; none: the whole page.
    pub affected: &'a [u64],
    pub subject: String,
    pub text: String,
    pub incident: Value,
    pub page: &'a Value,
}

/// The jobs that carry `notice` to the confirmed subscribers in `list`
/// who hear of its components.
pub(crate) fn notice_jobs(base: &str, list: &[SubscriberRecord], notice: &Notice<'_>, now: Timestamp) -> Vec<NewJob> {
    list.iter()
        .filter(|s| s.confirmed_at.is_some() && statuspage::subscriber_hears(&s.components, notice.affected))
        .map(|s| {
            let job = if s.kind == "webhook" {
                let body = json!({"meta": meta(base, s, now), "page": notice.page, "incident": notice.incident});
                Job::Webhook(Webhook {
                    to: crate::channels::webhook::origin(&s.address),
                    body,
                    status_subscriber: Some(s.id),
                    ..Webhook::default()
                })
            } else {
                let unsubscribe = format!("{base}/status/subscriptions/{}/unsubscribe", s.token);
                let manage = format!("{base}/status/subscriptions/{}", s.token);
                Job::Email(Email {
                    to: s.address.clone(),
                    subject: notice.subject.chars().take(200).collect(),
                    text: format!("{}\nChoose what you hear of: {manage}\nUnsubscribe: {unsubscribe}\n", notice.text),
                    status_subscriber: Some(s.id),
                    list_unsubscribe: Some(unsubscribe),
                    ..Email::default()
                })
            };
            NewJob { job, idempotency_key: format!("{}:subscriber:{}", notice.key, s.id), due_at: now }
        })
        .collect()
}
