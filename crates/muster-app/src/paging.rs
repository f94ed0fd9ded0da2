//! The paging use cases: sending a page, answering it, notification rules.

use muster_domain::access::{self, Action, Standing};
use muster_domain::limits::MAX_NOTIFICATION_RULES;
use muster_domain::page::{self, DeclineDecision, PageState, PageTarget};
use muster_domain::paging::{ContactKind, Target, shown_address};
use muster_domain::{Actor, Command, DomainError, Handle, IncidentRef, RoleKind};
use muster_store::pages::step_job;
use muster_store::{NewPage, PageMove, PageRecord};

use crate::pager::Answer;
use crate::{App, Result};

/// A move that answers the page as it is now (giving `roles` on an
/// acknowledgement), or `None` when it is not open.
fn answered(p: &PageRecord, state: PageState, by: &Actor, roles: Vec<RoleKind>) -> Option<PageMove> {
    if !p.state.is_open() {
        return None;
    }
    Some(PageMove {
        page: p.id,
        from_step: p.step,
        state,
        step: p.step,
        notified: vec![],
        current: Some(vec![]),
        closed_by: Some(by.handle.clone()),
        reason: None,
        command: Some((by.clone(), Command::ClosePage { page: p.id, state, reason: None, roles })),
        jobs: vec![],
        // The page was the alert's way of finding someone: its answer acknowledges the alert.
        acknowledge_alert: state == PageState::Acknowledged,
        unreachable: None,
        bundling: None,
    })
}

fn not_open(p: &PageRecord) -> crate::Error {
    let by = p.closed_by.as_ref().map(|h| format!(" by @{h}")).unwrap_or_default();
    DomainError::Conflict(format!("page {} was {}{by} already", p.id, p.state)).into()
}

impl App {
    /// Wakes the live views of a page's incident after it moved.
    fn page_changed(&self, p: &PageRecord) {
        if let Some(number) = p.incident {
            self.changes.changed(number);
        }
    }

    pub async fn page_record(&self, id: u64) -> Result<PageRecord> {
        self.store.page(id).await?.ok_or_else(|| DomainError::not_found("id", format!("there is no page {id}")).into())
    }

    /// A page and where its notifications went, as `actor` may see them:
    /// someone else's address only as [`shown_address`] (webhook URLs are
    /// often credentials), unless the actor is an admin.
    pub async fn page(&self, actor: &Actor, id: u64) -> Result<(PageRecord, Vec<muster_store::Delivery>)> {
        let p = self.page_record(id).await?;
        let mut deliveries = self.store.deliveries(id).await?;
        for d in &mut deliveries {
            let person = d.person.as_deref().and_then(|h| Handle::parse(h).ok());
            let whole = person
                .is_some_and(|h| access::may(actor, Action::SeeContactAddresses, &Standing::user(&h, actor)))
                || actor.is_admin();
            if !whole && let Ok(kind) = d.kind.parse::<ContactKind>() {
                d.to = shown_address(kind, &d.to);
            }
        }
        Ok((p, deliveries))
    }

    pub async fn pages(&self, filter: &muster_store::PageFilter) -> Result<Vec<PageRecord>> {
        Ok(self.store.pages(filter).await?)
    }

    /// How many pages `filter` selects, whatever its limit: what a capped
    /// list leaves out.
    pub async fn page_count(&self, filter: &muster_store::PageFilter) -> Result<u64> {
        Ok(self.store.page_count(filter).await?)
    }

    /// Pages someone for an incident. The incident manager (or backup, or an
    /// admin) may page anyone and ask for a role; a tech lead may page
    /// subject-matter experts. The page's first step is notified at once.
    pub async fn page_for_incident(
        &self,
        actor: &Actor,
        r: IncidentRef,
        target: PageTarget,
        message: &str,
        role: Option<&str>,
    ) -> Result<PageRecord> {
        actor.require_write()?;
        let message = page::parse_message(message)?;
        let catalog = self.store.role_catalog().await?;
        let roles: Vec<RoleKind> = role.map(|r| catalog.parse(r, "role")).transpose()?.into_iter().collect();
        let (policy, target_text) = match &target {
            PageTarget::User(h) => {
                let member = self.store.user(h).await?;
                match member {
                    Some(u) if u.disabled_at.is_some() => {
                        return Err(DomainError::invalid(
                            "target.user",
                            format!("@{h} is disabled and cannot be paged"),
                        )
                        .into());
                    }
                    Some(u) if u.permission != muster_domain::Permission::Viewer => {}
                    Some(_) => {
                        return Err(DomainError::invalid(
                            "target.user",
                            format!("@{h} is a viewer and cannot respond"),
                        )
                        .into());
                    }
                    None => return Err(DomainError::invalid("target.user", format!("there is no user @{h}")).into()),
                }
                (page::single_step(Target::User(h.clone())), format!("@{h}"))
            }
            PageTarget::Schedule(id) => {
                let Some(s) = self.store.schedule(*id).await? else {
                    return Err(DomainError::invalid("target.schedule", format!("there is no schedule {id}")).into());
                };
                (page::single_step(Target::Schedule(*id)), format!("the on-call of {:?}", s.name))
            }
            PageTarget::Policy(id) => {
                let Some(p) = self.store.policy(*id).await? else {
                    return Err(
                        DomainError::invalid("target.policy", format!("there is no escalation policy {id}")).into()
                    );
                };
                let text = format!("escalation policy {:?}", p.policy.name);
                (p.policy, text)
            }
        };
        let new = NewPage {
            incident: Some(r.0),
            alert: None,
            target,
            target_text: target_text.clone(),
            message: message.clone(),
            roles: roles.clone(),
            policy,
            created_by: actor.clone(),
        };
        let now = self.clock.now();
        let decide = |state: &muster_domain::Incident, page: u64| {
            let command = Command::Page {
                page,
                target: target_text.clone(),
                message: message.clone(),
                roles: roles.clone(),
                automatic: false,
            };
            state.execute(command, muster_domain::incident::Context { actor, now, catalog: &catalog })
        };
        let (p, _) = self.store.create_page(&new, now, &decide).await?;
        self.engine.wake();
        self.changes.changed(r.0);
        Ok(p)
    }

    /// Whether `who` is in charge of the page's incident (incident manager
    /// or backup), or an admin.
    async fn in_charge(&self, incident: Option<&muster_domain::Incident>, who: &Handle) -> Result<bool> {
        let Some(person) = self.store.user(who).await? else { return Ok(false) };
        let person = person.actor();
        // Without an incident, only the rule's admin part applies.
        Ok(match incident {
            Some(i) => i.in_charge(&person),
            None => person.is_admin(),
        })
    }

    /// The roles `who` takes on by acknowledging `p` now: those it asks for,
    /// if `who` was asked and its sender may still give them.
    async fn roles_on_acknowledge(
        &self,
        p: &PageRecord,
        incident: Option<&muster_domain::Incident>,
        who: &Handle,
    ) -> Result<Vec<RoleKind>> {
        let automatic = p.created_by.as_str() == muster_domain::intake::SYSTEM;
        let sender_may = automatic || self.in_charge(incident, &p.created_by).await?;
        Ok(page::roles_on_acknowledge(&p.roles, p.notified.contains(who), sender_may))
    }

    /// What acknowledging page `id` as `who` would do, in words for the
    /// answer page: the same decision [`App::acknowledge_page`] makes.
    pub async fn acknowledging_says(&self, id: u64, who: &Handle) -> Result<String> {
        let p = self.page_record(id).await?;
        let incident = match p.incident {
            Some(n) => self.store.incident(n).await?,
            None => None,
        };
        let roles = self.roles_on_acknowledge(&p, incident.as_ref(), who).await?;
        let reference = incident.as_ref().map(|i| i.reference().to_string());
        let manager = incident.as_ref().and_then(|i| i.incident_manager()).map(|a| a.user.clone());
        Ok(page::acknowledging_says(&roles, reference.as_deref(), manager.as_ref(), who))
    }

    /// Acknowledges a page as `actor`: someone it notified (who takes on the
    /// roles it asked for, if its sender may still give them), or whoever is
    /// in charge of its incident. Acknowledging twice is fine; after someone
    /// else did, 409.
    pub async fn acknowledge_page(&self, actor: &Actor, id: u64) -> Result<PageRecord> {
        actor.require_write()?;
        for _ in 0..5 {
            let p = self.page_record(id).await?;
            if p.state == PageState::Acknowledged && p.closed_by.as_ref() == Some(&actor.handle) {
                return Ok(p);
            }
            if !p.state.is_open() {
                return Err(not_open(&p));
            }
            let incident = match p.incident {
                Some(n) => self.store.incident(n).await?,
                None => None,
            };
            let in_charge = self.in_charge(incident.as_ref(), &actor.handle).await?;
            if !page::may_acknowledge(&p.notified, &actor.handle, in_charge) {
                return Err(DomainError::Forbidden(format!(
                    "only the people page {id} notified, the incident manager, the backup or an admin may acknowledge it; @{} is none of those",
                    actor.handle
                ))
                .into());
            }
            let roles = self.roles_on_acknowledge(&p, incident.as_ref(), &actor.handle).await?;
            let m = answered(&p, PageState::Acknowledged, actor, roles).ok_or_else(|| not_open(&p))?;
            if let Some(done) = self.store.move_page(&m, self.clock.now()).await? {
                self.page_changed(&done);
                return Ok(done);
            }
            // A step ran in between: look again.
        }
        Err(DomainError::Conflict(format!("page {id} kept changing; try again")).into())
    }

    /// Declines a page as one of the people its current step notified: an
    /// escalation with steps left goes on to the next at once; otherwise the
    /// page ends as declined.
    pub async fn decline_page(&self, actor: &Actor, id: u64) -> Result<PageRecord> {
        actor.require_write()?;
        let p = self.page_record(id).await?;
        let now = self.clock.now();
        let decision = page::decide_decline(&p.policy, p.state, p.step).map_err(|_| not_open(&p))?;
        if !page::may_decline(&p.current, &actor.handle) {
            return Err(DomainError::Forbidden(format!(
                "only the people the current step of page {id} notified may decline it; @{} is not one of them",
                actor.handle
            ))
            .into());
        }
        let m = match decision {
            DeclineDecision::End => answered(&p, PageState::Declined, actor, vec![]).ok_or_else(|| not_open(&p))?,
            DeclineDecision::Escalate => {
                let mut next = step_job(id, p.step, now);
                next.idempotency_key = format!("page:{id}:step:{}:declined-by:{}", p.step, actor.handle);
                PageMove {
                    page: id,
                    from_step: p.step,
                    state: p.state,
                    step: p.step,
                    notified: vec![],
                    current: Some(p.current.iter().filter(|h| **h != actor.handle).cloned().collect()),
                    closed_by: None,
                    reason: None,
                    command: Some((actor.clone(), Command::DeclinePage { page: id })),
                    jobs: vec![next],
                    acknowledge_alert: false,
                    unreachable: None,
                    bundling: None,
                }
            }
        };
        match self.store.move_page(&m, now).await? {
            Some(done) => {
                self.engine.wake();
                self.page_changed(&done);
                Ok(done)
            }
            None => Err(DomainError::Conflict(format!("page {id} moved on meanwhile; look again")).into()),
        }
    }

    /// Answers a page through a signed link: no sign-in, the link names the
    /// person and carries the signature.
    pub async fn answer_by_link(&self, answer: Answer, id: u64, user: &str, sig: &str) -> Result<PageRecord> {
        let handle = Handle::parse(user).map_err(|_| DomainError::Forbidden("this link is not valid".into()))?;
        if !self.pager.verify(answer, id, &handle, sig).await? {
            return Err(DomainError::Forbidden("this link is not valid".into()).into());
        }
        let Some(person) = self.store.user(&handle).await? else {
            return Err(DomainError::Forbidden("this link is not valid".into()).into());
        };
        if person.disabled_at.is_some() {
            return Err(DomainError::Forbidden(format!("@{handle} is disabled")).into());
        }
        match answer {
            Answer::Acknowledge => self.acknowledge_page(&person.actor(), id).await,
            Answer::Decline => self.decline_page(&person.actor(), id).await,
        }
    }

    /// The pages of bundle `id` still waiting for an answer, oldest first
    /// (its lead page first, when it has one): what its acknowledge-all
    /// link would answer.
    pub async fn open_bundle_pages(&self, id: u64) -> Result<(muster_store::bundles::BundleRecord, Vec<PageRecord>)> {
        let Some(b) = self.store.bundle(id).await? else {
            return Err(crate::error::Error::NotFound(format!("there is no bundle {id}")));
        };
        let mut ids: Vec<u64> = b.lead_page.into_iter().collect();
        for p in self.store.bundled_pages(id).await? {
            if !ids.contains(&p.page) {
                ids.push(p.page);
            }
        }
        let mut open = Vec::new();
        for page in ids {
            if let Some(p) = self.store.page(page).await?
                && p.state.is_open()
            {
                open.push(p);
            }
        }
        Ok((b, open))
    }

    /// Acknowledges every open page of bundle `id` as the person it was
    /// sent to, through its signed link. Pages someone else answered
    /// meanwhile are left as they are. Returns the pages acknowledged now.
    pub async fn acknowledge_bundle_by_link(&self, id: u64, user: &str, sig: &str) -> Result<Vec<PageRecord>> {
        let invalid = || crate::error::Error::from(DomainError::Forbidden("this link is not valid".into()));
        let handle = Handle::parse(user).map_err(|_| invalid())?;
        if !self.pager.verify_ack_all(id, &handle, sig).await? {
            return Err(invalid());
        }
        let Some(person) = self.store.user(&handle).await? else { return Err(invalid()) };
        if person.disabled_at.is_some() {
            return Err(DomainError::Forbidden(format!("@{handle} is disabled")).into());
        }
        let (b, open) = self.open_bundle_pages(id).await?;
        if b.person != handle {
            return Err(invalid());
        }
        let actor = person.actor();
        let mut done = Vec::new();
        for p in open {
            match self.acknowledge_page(&actor, p.id).await {
                Ok(p) => done.push(p),
                // Answered by someone else meanwhile, or escalated past
                // this person: that page is not theirs to answer now.
                Err(crate::error::Error::Refused(DomainError::Conflict(_) | DomainError::Forbidden(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    pub async fn add_notification_rule(
        &self,
        actor: &Actor,
        user: &Handle,
        rule: page::NotificationRule,
    ) -> Result<muster_store::NotificationRuleRecord> {
        access::check(actor, Action::ManageContacts, &Standing::user(user, actor))?;
        if rule.delay_seconds > muster_domain::paging::MAX_DELAY_SECONDS {
            return Err(DomainError::invalid("delay_seconds", "a rule waits at most 86400 seconds").into());
        }
        self.user(user).await?;
        // Counted, then added (see `add_contact_method`).
        if self.store.notification_rules(user).await?.len() >= MAX_NOTIFICATION_RULES {
            return Err(DomainError::invalid(
                "notification_rules",
                format!("@{user} has {MAX_NOTIFICATION_RULES} notification rules, the most a user may have"),
            )
            .into());
        }
        Ok(self.store.add_notification_rule(user, &rule, self.clock.now()).await?)
    }

    /// Removes one of `user`'s notification rules (the user themself or an admin).
    pub async fn remove_notification_rule(&self, actor: &Actor, user: &Handle, id: u64) -> Result<()> {
        access::check(actor, Action::ManageContacts, &Standing::user(user, actor))?;
        self.user(user).await?;
        if !self.store.remove_notification_rule(user, id).await? {
            return Err(DomainError::not_found("id", format!("@{user} has no notification rule {id}")).into());
        }
        Ok(())
    }

    pub async fn notification_rules(&self, user: &Handle) -> Result<Vec<muster_store::NotificationRuleRecord>> {
        self.user(user).await?;
        Ok(self.store.notification_rules(user).await?)
    }
}
