//! Stakeholder groups, followers and customer responses, and the jobs that
//! carry a published update to whoever should hear it.
//!
//! Who receives an update is the domain's
//! ([`muster_domain::stakeholder::recipients`]); here the contact methods
//! of the people it names are read, and each receiver becomes one job per
//! way to reach them, written in the publishing transaction: a draft
//! reaches nobody, and a published update reaches everyone once.

use muster_domain::access::{self, Action, Standing};
use muster_domain::outbox::{Email, ForUpdate, Job, Webhook};
use muster_domain::paging::{ContactKind, contact_address};
use muster_domain::stakeholder::{self, Group, GroupSpec, Recipient};
use muster_domain::update::{MAX_UPDATE_CHARS, UpdateAudience};
use muster_domain::{Actor, DomainError, Handle, Incident, IncidentRef, Priority, Timestamp};
use muster_store::{ContactMethod, NewJob, NewResponse, ResponseRecord, UpdateDelivery, UpdateRecord};
use serde_json::json;

use crate::incidents::no_incident;
use crate::{App, Result};

/// Webhooks in one group.
pub const MAX_GROUP_WEBHOOKS: usize = 20;

/// A group as written: every field on creation (members, emails, webhooks
/// and services may be empty); on a change, the fields given replace.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    pub name: Option<String>,
    pub members: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
    /// URLs; on a change, a URL the group has keeps its secret.
    pub webhooks: Option<Vec<String>>,
    pub priorities: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
}

/// A group, with the secrets of the webhooks just added (shown once).
#[derive(Debug, Clone)]
pub struct GroupWritten {
    pub group: Group,
    pub secrets: Vec<(u64, String)>,
}

/// Ways a customer's reply can have come in.
pub const RESPONSE_CHANNELS: [&str; 6] = ["email", "phone", "ticket", "social", "chat", "other"];

/// Who receives an update and how to reach each, read before publishing.
pub(crate) struct Audience {
    audience: UpdateAudience,
    /// External updates: the status page's subscribers.
    pub(crate) subscribers: Option<crate::subscribers::Subscribers>,
    groups: Vec<Group>,
    followers: Vec<Handle>,
    methods: Vec<(Handle, Vec<ContactMethod>)>,
}

fn parse_all<T>(field: &str, items: &[String], parse: impl Fn(&str) -> Result<T, DomainError>) -> Result<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse(s).map_err(|e| match e {
                DomainError::Invalid { message, .. } => DomainError::invalid(format!("{field}[{i}]"), message).into(),
                other => other.into(),
            })
        })
        .collect()
}

pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

impl App {
    /// The spec `input` gives over `old` (none on creation, when the name,
    /// priorities and audiences are required); members must be users.
    async fn group_spec(&self, input: &GroupInput, old: Option<&GroupSpec>) -> Result<GroupSpec> {
        let required = |field: &str| DomainError::invalid(field, format!("a stakeholder group needs {field}"));
        let name = match (&input.name, old) {
            (Some(n), _) => n.clone(),
            (None, Some(o)) => o.name.clone(),
            (None, None) => return Err(required("name").into()),
        };
        let members = match &input.members {
            Some(m) => parse_all("members", m, Handle::parse)?,
            None => old.map(|o| o.members.clone()).unwrap_or_default(),
        };
        for (i, m) in members.iter().enumerate() {
            if self.store.user(m).await?.is_none() {
                return Err(DomainError::invalid(format!("members[{i}]"), format!("there is no user @{m}")).into());
            }
        }
        let priorities = match (&input.priorities, old) {
            (Some(p), _) => parse_all("priorities", p, str::parse::<Priority>)?,
            (None, Some(o)) => o.priorities.clone(),
            (None, None) => return Err(required("priorities").into()),
        };
        let audiences = match (&input.audiences, old) {
            (Some(a), _) => parse_all("audiences", a, str::parse::<UpdateAudience>)?,
            (None, Some(o)) => o.audiences.clone(),
            (None, None) => return Err(required("audiences").into()),
        };
        let emails = input.emails.clone().or_else(|| old.map(|o| o.emails.clone())).unwrap_or_default();
        let services = input.services.clone().or_else(|| old.map(|o| o.services.clone())).unwrap_or_default();
        Ok(GroupSpec::new(&name, members, emails, priorities, services, audiences)?)
    }

    /// Checks webhook URLs as contact methods' are checked: a URL, and a
    /// target webhooks may reach.
    async fn group_webhooks(&self, urls: &[String]) -> Result<Vec<String>> {
        if urls.len() > MAX_GROUP_WEBHOOKS {
            return Err(DomainError::invalid("webhooks", format!("at most {MAX_GROUP_WEBHOOKS} in one group")).into());
        }
        let mut out: Vec<String> = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let field = format!("webhooks[{i}]");
            let url = contact_address(ContactKind::Webhook, url).map_err(|e| match e {
                DomainError::Invalid { message, .. } => DomainError::invalid(field.clone(), message),
                other => other,
            })?;
            crate::channels::webhook::check_target(&self.config.webhook_allow, &url)
                .await
                .map_err(|e| DomainError::invalid(field, e.to_string()))?;
            if !out.contains(&url) {
                out.push(url);
            }
        }
        Ok(out)
    }

    /// A new stakeholder group (admins). Its webhooks get signing secrets,
    /// returned here only.
    pub async fn create_stakeholder_group(&self, actor: &Actor, input: GroupInput) -> Result<GroupWritten> {
        access::check(actor, Action::ManageStakeholders, &Standing::none())?;
        let spec = self.group_spec(&input, None).await?;
        let urls = self.group_webhooks(input.webhooks.as_deref().unwrap_or_default()).await?;
        let hooks: Vec<(String, String)> = urls.into_iter().map(|u| (u, new_secret())).collect();
        let group = self.store.create_stakeholder_group(&spec, &hooks, self.clock.now()).await?;
        Ok(GroupWritten { secrets: secrets_of(&group, &hooks), group })
    }

    pub async fn stakeholder_groups(&self) -> Result<Vec<Group>> {
        Ok(self.store.stakeholder_groups().await?)
    }

    pub async fn stakeholder_group(&self, id: u64) -> Result<Group> {
        self.store.stakeholder_group(id).await?.ok_or_else(|| no_group(id))
    }

    /// Changes group `id` (admins): the fields given replace; webhooks
    /// given replace the list, keeping the secret of each URL it had.
    pub async fn change_stakeholder_group(&self, actor: &Actor, id: u64, input: GroupInput) -> Result<GroupWritten> {
        access::check(actor, Action::ManageStakeholders, &Standing::none())?;
        let old = self.stakeholder_group(id).await?;
        let spec = self.group_spec(&input, Some(&old.spec)).await?;
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        if let Some(urls) = &input.webhooks {
            let urls = self.group_webhooks(urls).await?;
            remove = old.webhooks.iter().filter(|(_, u)| !urls.contains(u)).map(|(id, _)| *id).collect();
            add = urls
                .into_iter()
                .filter(|u| !old.webhooks.iter().any(|(_, o)| o == u))
                .map(|u| (u, new_secret()))
                .collect();
        }
        let group = self.store.change_stakeholder_group(id, &spec, &add, &remove, self.clock.now()).await?;
        Ok(GroupWritten { secrets: secrets_of(&group, &add), group })
    }

    pub async fn delete_stakeholder_group(&self, actor: &Actor, id: u64) -> Result<()> {
        access::check(actor, Action::ManageStakeholders, &Standing::none())?;
        if self.store.delete_stakeholder_group(id).await? { Ok(()) } else { Err(no_group(id)) }
    }

    /// `person` follows incident `r` (themself, or anyone for an admin);
    /// `false` if they did already.
    pub async fn follow(&self, actor: &Actor, r: IncidentRef, person: &Handle) -> Result<bool> {
        access::check(actor, Action::FollowIncident, &Standing::user(person, actor))?;
        self.user(person).await?;
        if self.store.incident_version(r.0).await?.is_none() {
            return Err(no_incident(r).into());
        }
        Ok(self.store.follow_incident(r.0, person, self.clock.now()).await?)
    }

    /// `person` stops following incident `r`; `false` if they did not.
    pub async fn unfollow(&self, actor: &Actor, r: IncidentRef, person: &Handle) -> Result<bool> {
        access::check(actor, Action::FollowIncident, &Standing::user(person, actor))?;
        if self.store.incident_version(r.0).await?.is_none() {
            return Err(no_incident(r).into());
        }
        Ok(self.store.unfollow_incident(r.0, person).await?)
    }

    pub async fn followers(&self, r: IncidentRef) -> Result<Vec<(Handle, Timestamp)>> {
        if self.store.incident_version(r.0).await?.is_none() {
            return Err(no_incident(r).into());
        }
        Ok(self.store.followers(r.0).await?)
    }

    /// Records a customer's reply to published external update `id`.
    pub async fn record_response(
        &self,
        actor: &Actor,
        r: IncidentRef,
        id: u64,
        from: &str,
        channel: &str,
        body: &str,
    ) -> Result<ResponseRecord> {
        actor.require_write()?;
        access::check(actor, Action::RecordCustomerResponse, &Standing::none())?;
        let (from, body) = (from.trim(), body.trim());
        if from.is_empty() || from.chars().count() > 200 {
            return Err(DomainError::invalid("from", "who replied: 1 to 200 characters").into());
        }
        if !RESPONSE_CHANNELS.contains(&channel) {
            let list = RESPONSE_CHANNELS.join(", ");
            return Err(DomainError::invalid("channel", format!("{channel:?} is not one of {list}")).into());
        }
        if body.is_empty() || body.chars().count() > MAX_UPDATE_CHARS {
            return Err(
                DomainError::invalid("body", format!("what they said: 1 to {MAX_UPDATE_CHARS} characters")).into()
            );
        }
        let update = self.updates(r).await?.into_iter().find(|u| u.id == id);
        let Some(update) = update else {
            return Err(DomainError::not_found("id", format!("{r} has no update {id}")).into());
        };
        if update.content.audience != UpdateAudience::External
            || update.state != muster_domain::update::UpdateState::Published
        {
            return Err(DomainError::Conflict(format!(
                "update {id} is a {} {} update: customers reply to published external updates",
                update.state.as_str(),
                update.content.audience
            ))
            .into());
        }
        let response = NewResponse { from, channel, body, recorded_by: &actor.handle };
        Ok(self.store.add_update_response(r.0, id, &response, self.clock.now()).await?)
    }

    pub async fn update_responses(&self, r: IncidentRef) -> Result<Vec<ResponseRecord>> {
        Ok(self.store.update_responses(r.0).await?)
    }

    pub async fn update_deliveries(&self, r: IncidentRef) -> Result<Vec<UpdateDelivery>> {
        Ok(self.store.update_deliveries(r.0).await?)
    }

    /// Everyone who might receive `audience`'s update, with their contact
    /// methods: read before the incident is locked to publish.
    pub(crate) async fn update_audience(&self, audience: UpdateAudience, number: u64) -> Result<Audience> {
        let groups: Vec<Group> = self
            .store
            .stakeholder_groups()
            .await?
            .into_iter()
            .filter(|g| g.spec.audiences.contains(&audience))
            .collect();
        let followers = if audience == UpdateAudience::Internal {
            self.store.followers(number).await?.into_iter().map(|(h, _)| h).collect()
        } else {
            Vec::new()
        };
        let mut methods: Vec<(Handle, Vec<ContactMethod>)> = Vec::new();
        for person in groups.iter().flat_map(|g| g.spec.members.iter()).chain(followers.iter()) {
            if !methods.iter().any(|(h, _)| h == person) {
                methods.push((person.clone(), self.store.contact_methods(person).await?));
            }
        }
        let subscribers =
            if audience == UpdateAudience::External { Some(self.update_subscribers(number).await?) } else { None };
        Ok(Audience { audience, subscribers, groups, followers, methods })
    }
}

impl Audience {
    /// The audience whose receivers these are.
    pub(crate) fn audience(&self) -> UpdateAudience {
        self.audience
    }
}

fn no_group(id: u64) -> crate::Error {
    DomainError::not_found("id", format!("there is no stakeholder group {id}")).into()
}

fn secrets_of(group: &Group, added: &[(String, String)]) -> Vec<(u64, String)> {
    added
        .iter()
        .filter_map(|(url, secret)| group.webhooks.iter().find(|(_, u)| u == url).map(|(id, _)| (*id, secret.clone())))
        .collect()
}

/// The jobs that carry `update` of `incident` to `audience`: one per
/// receiver and way of reaching them.
pub(crate) fn update_jobs(
    audience: &Audience,
    incident: &Incident,
    update: &UpdateRecord,
    public_url: &str,
    now: Timestamp,
) -> Vec<NewJob> {
    let a = update.content.audience;
    let reference = incident.reference();
    let url = format!("{}/incidents/{reference}", public_url.trim_end_matches('/'));
    let text = update.content.text();
    let subject = format!("[Muster] {reference} {a} update: {}", incident.title);
    let mail_text = format!(
        "{reference} {} ({}, {}) — {a} update by @{}\n\n{text}\n\n{url}\n",
        incident.title,
        incident.priority,
        incident.status,
        update.published_by.as_ref().unwrap_or(&update.author)
    );
    let html = mail_html(incident, update, &url);
    let body = json!({
        "type": "incident_update",
        "incident": reference.to_string(),
        "title": incident.title,
        "priority": incident.priority.as_str(),
        "status": incident.status.as_str(),
        "url": url,
        "update": {
            "id": update.id,
            "audience": a.as_str(),
            "text": text,
            "body": update.content.body,
            "form": update.content.form.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "status": update.content.status.map(|s| s.as_str()),
            "published_at": update.published_at.unwrap_or(now).to_string(),
            "published_by": update.published_by.as_ref().unwrap_or(&update.author).as_str(),
        },
    });
    let key = |rest: String| format!("update:{}:{rest}", update.id);
    let mut jobs = Vec::new();
    for r in stakeholder::recipients(incident, a, &audience.groups, &audience.followers) {
        match &r {
            Recipient::Person { handle, why } => {
                let found = audience.methods.iter().find(|(h, _)| h == handle).map(|(_, m)| m.as_slice());
                for m in found.unwrap_or_default() {
                    let carried = ForUpdate { update: update.id, recipient: format!("{why}: @{handle}") };
                    let mut job = crate::channels::notification(m, body.clone(), &subject, mail_text.clone());
                    if let Job::Email(e) = &mut job {
                        e.html = Some(html.clone());
                    }
                    jobs.push(NewJob {
                        job: job.for_update(carried),
                        idempotency_key: key(format!("method:{}", m.id)),
                        due_at: now,
                    });
                }
            }
            Recipient::Email { address, why } => jobs.push(NewJob {
                job: Job::Email(Email {
                    to: address.clone(),
                    subject: subject.chars().take(200).collect(),
                    text: mail_text.clone(),
                    html: Some(html.clone()),
                    for_update: Some(ForUpdate { update: update.id, recipient: why.clone() }),
                    ..Email::default()
                }),
                idempotency_key: key(format!("email:{}", address.to_ascii_lowercase())),
                due_at: now,
            }),
            Recipient::Webhook { id, why } => {
                let to = audience
                    .groups
                    .iter()
                    .flat_map(|g| g.webhooks.iter())
                    .find(|(h, _)| h == id)
                    .map(|(_, u)| crate::channels::webhook::origin(u))
                    .unwrap_or_default();
                jobs.push(NewJob {
                    job: Job::Webhook(Webhook {
                        to,
                        body: body.clone(),
                        stakeholder_webhook: Some(*id),
                        for_update: Some(ForUpdate { update: update.id, recipient: format!("{why} (webhook)") }),
                        ..Webhook::default()
                    }),
                    idempotency_key: key(format!("webhook:{id}")),
                    due_at: now,
                });
            }
        }
    }
    jobs
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The update as a small HTML mail: the heading, each form field and
/// paragraph of the body, the link.
fn mail_html(incident: &Incident, update: &UpdateRecord, url: &str) -> String {
    let mut out = format!(
        "<!doctype html><html><body><h2>{} {}</h2><p>{} · {} · {} update</p>",
        incident.reference(),
        escape(&incident.title),
        incident.priority,
        incident.status,
        update.content.audience
    );
    for (name, value) in &update.content.form {
        out.push_str(&format!("<p><strong>{}</strong>: {}</p>", escape(&name.replace('_', " ")), escape(value)));
    }
    for paragraph in update.content.body.split("\n\n").filter(|p| !p.trim().is_empty()) {
        out.push_str(&format!("<p>{}</p>", escape(paragraph).replace('\n', "<br>")));
    }
    out.push_str(&format!(
        "<p><a href=\"{}\">Open {} in Muster</a></p></body></html>",
        escape(url),
        incident.reference()
    ));
    out
}
