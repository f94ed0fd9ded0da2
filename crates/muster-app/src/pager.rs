//! Paging: sending pages, running their escalation steps, and answering
//! them (in the API, with the CLI, or through a signed link).
//!
//! A page is written with the timer of its first step (a `page.step` job)
//! in one transaction. The engine runs that job: [`Pager::run_step`] asks
//! the domain what the step does, works out who is on call and how each
//! person wants to be reached, and writes — again in one transaction — the
//! page's move, the timeline entry, one job per notification and the next
//! step's timer. A timer that fires twice, late, or on two instances at once
//! acts once: the page's move is conditional on the step it expects.

use std::collections::HashMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use muster_domain::outbox::ForPage;
use muster_domain::page::{self, PageState, StepDecision};
use muster_domain::paging::Target;
use muster_domain::{Actor, Command, Handle, RoleKind, Timestamp};
use muster_store::bundles::{BundleRecord, BundledPage, Bundling};
use muster_store::pages::step_job;
use muster_store::{NewJob, PageMove, PageRecord, Store};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::changes::Changes;
use crate::clock::Clock;
use crate::error::Result;

const SIGNING_KEY_SETTING: &str = "paging.signing_key";

/// What an answer link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Acknowledge,
    Decline,
}

impl Answer {
    fn as_str(self) -> &'static str {
        match self {
            Answer::Acknowledge => "ack",
            Answer::Decline => "decline",
        }
    }
}

/// Runs escalation steps and signs answer links.
pub struct Pager {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    changes: Arc<Changes>,
    public_url: String,
    key: tokio::sync::OnceCell<Vec<u8>>,
    /// The escalation steps' moves, written together (see
    /// [`crate::batch`]): in a storm, one transaction for many pages.
    moves: std::sync::OnceLock<crate::batch::Batcher<(PageMove, Timestamp), Option<PageRecord>>>,
}

impl Pager {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, changes: Arc<Changes>, public_url: &str) -> Pager {
        Pager {
            store,
            clock,
            changes,
            public_url: public_url.trim_end_matches('/').to_owned(),
            key: tokio::sync::OnceCell::new(),
            moves: std::sync::OnceLock::new(),
        }
    }

    /// The key answer links are signed with: made once per database and
    /// shared by every instance on it.
    async fn key(&self) -> Result<&[u8]> {
        self.key
            .get_or_try_init(|| async {
                let mut fresh = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
                let stored = self.store.ensure_setting(SIGNING_KEY_SETTING, &hex::encode(fresh)).await?;
                hex::decode(stored.trim())
                    .map_err(|e| crate::error::Error::Internal(format!("{SIGNING_KEY_SETTING}: {e}")))
            })
            .await
            .map(Vec::as_slice)
    }

    /// The HMAC of `text` under the database's key: what every signed link carries.
    async fn mac(&self, text: &str) -> Result<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key().await?).expect("HMAC takes a key of any length");
        mac.update(text.as_bytes());
        Ok(mac)
    }

    /// `text` signed, as a link carries it (the first 16 bytes, in hex).
    async fn sign(&self, text: &str) -> Result<String> {
        Ok(hex::encode(&self.mac(text).await?.finalize().into_bytes()[..16]))
    }

    /// Whether `sig` is `text` signed (compared in constant time).
    async fn signs(&self, text: &str, sig: &str) -> Result<bool> {
        let Ok(given) = hex::decode(sig.trim()) else { return Ok(false) };
        Ok(given.len() == 16 && self.mac(text).await?.verify_truncated_left(&given).is_ok())
    }

    fn answer_text(answer: Answer, page: u64, user: &Handle) -> String {
        format!("{}\n{page}\n{user}", answer.as_str())
    }

    async fn signature(&self, answer: Answer, page: u64, user: &Handle) -> Result<String> {
        self.sign(&Self::answer_text(answer, page, user)).await
    }

    /// The link that answers page `page` as `user`, without signing in.
    pub async fn answer_url(&self, answer: Answer, page: u64, user: &Handle) -> Result<String> {
        let sig = self.signature(answer, page, user).await?;
        Ok(format!("{}/pages/{page}/{}?user={user}&sig={sig}", self.public_url, answer.as_str()))
    }

    /// Whether `sig` is the signature of that link (compared in constant time).
    pub async fn verify(&self, answer: Answer, page: u64, user: &Handle, sig: &str) -> Result<bool> {
        self.signs(&Self::answer_text(answer, page, user), sig).await
    }

    fn bundle_signature_text(bundle: u64, user: &Handle) -> String {
        format!("ack-all\nbundle:{bundle}\n{user}")
    }

    /// The link that acknowledges every open page of bundle `bundle` as
    /// `user` (the person it was sent to), without signing in.
    pub async fn ack_all_url(&self, bundle: u64, user: &Handle) -> Result<String> {
        let sig = self.sign(&Self::bundle_signature_text(bundle, user)).await?;
        Ok(format!("{}/bundles/{bundle}/ack?user={user}&sig={sig}", self.public_url))
    }

    /// Whether `sig` signs the acknowledge-all link of `bundle` for `user`.
    pub async fn verify_ack_all(&self, bundle: u64, user: &Handle, sig: &str) -> Result<bool> {
        self.signs(&Self::bundle_signature_text(bundle, user), sig).await
    }

    /// Sends the follow-up of bundle `id` (its `page.bundle` job is due:
    /// the window closed): one notification per contact method the person
    /// is reached by at once, telling of the bundle's pages still open,
    /// with one link that acknowledges them all. Nothing is sent when every
    /// page was answered meanwhile.
    pub async fn send_bundle(&self, id: u64) -> Result<()> {
        let Some(b) = self.store.bundle(id).await? else { return Ok(()) };
        if b.sent_at.is_some() {
            return Ok(());
        }
        let methods = self.store.contact_methods(&b.person).await?;
        let rules: Vec<page::NotificationRule> =
            self.store.notification_rules(&b.person).await?.into_iter().map(|r| r.rule).collect();
        let ids: Vec<u64> = methods.iter().map(|m| m.id).collect();
        // The methods the person is reached by first: the follow-up is one
        // message, not a second escalation of its own.
        let planned = page::notifications(&ids, &rules);
        let first = planned.iter().map(|(_, d)| *d).min();
        let now_methods: Vec<&muster_store::ContactMethod> = planned
            .iter()
            .filter(|(_, d)| Some(*d) == first)
            .filter_map(|(m, _)| methods.iter().find(|c| c.id == *m))
            .collect();
        let ack_all = self.ack_all_url(id, &b.person).await?;
        let now = self.clock.now();
        let compose = move |b: &BundleRecord, pages: &[BundledPage]| -> (Vec<NewJob>, u64) {
            let open: Vec<&BundledPage> = pages.iter().filter(|p| p.state.is_open()).collect();
            if open.is_empty() {
                return (Vec::new(), 0);
            }
            let mut seen = std::collections::HashSet::new();
            let open: Vec<&BundledPage> = open.into_iter().filter(|p| seen.insert(p.page)).collect();
            let summary = muster_domain::bundle::summary(open.len(), &b.service_name);
            let listed: Vec<Value> = open
                .iter()
                .map(|p| {
                    json!({
                        "page_id": p.page, "step": p.step, "message": p.message,
                        "alert": p.alert.map(|a| json!({"id": a, "dedup_key": p.dedup_key, "summary": p.summary})),
                        "incident": p.incident.map(|n| format!("INC-{n}")),
                    })
                })
                .collect();
            let first_lines: Vec<String> =
                open.iter().take(10).map(|p| format!("- page {}: {}", p.page, p.message)).collect();
            let more = if open.len() > 10 { format!("\n… and {} more", open.len() - 10) } else { String::new() };
            let headline = match open.first() {
                Some(p) => format!("{summary}: {}", p.message),
                None => summary,
            };
            let body = json!({
                "type": "page_bundle", "bundle_id": b.id, "person": b.person.as_str(), "service": b.service_name,
                "count": open.len(), "summary": headline, "pages": listed, "ack_all_url": ack_all,
                "url": ack_all, "sent_at": now.to_string(),
            });
            let text = format!(
                "{headline}\n\nStill waiting for an answer:\n{}{more}\n\nAcknowledge all {}: {ack_all}\n",
                first_lines.join("\n"),
                open.len()
            );
            let jobs = now_methods
                .iter()
                .map(|m| {
                    let subject = format!("[Muster] {headline}");
                    let job = crate::channels::notification(m, body.clone(), &subject, text.clone()).for_bundle(b.id);
                    NewJob { job, idempotency_key: format!("page.bundle:{}:method:{}", b.id, m.id), due_at: now }
                })
                .collect();
            (jobs, open.len() as u64)
        };
        if let Some(count) = self.store.send_bundle(id, &compose, now).await? {
            tracing::info!(bundle = id, user.handle = %b.person, pages = count, "bundled pages followed up");
        }
        Ok(())
    }

    fn system() -> Actor {
        muster_domain::intake::system_actor()
    }

    /// Runs step `n` of page `id`: the engine calls this for a `page.step` job.
    pub async fn run_step(&self, id: u64, n: u32) -> Result<()> {
        let Some(p) = self.store.page(id).await? else { return Ok(()) };
        let now = self.clock.now();
        if p.state.is_open()
            && let Some(number) = p.incident
            && let Some(incident) = self.store.incident(number).await?
            && matches!(incident.status, muster_domain::Status::Resolved | muster_domain::Status::Closed)
        {
            // Nobody is woken for an incident that is over.
            let reason = format!("{} is {}", incident.reference(), incident.status);
            let command = Command::ClosePage {
                page: id,
                state: PageState::Cancelled,
                reason: Some(reason.clone()),
                roles: vec![],
            };
            let m = PageMove {
                page: id,
                from_step: p.step,
                state: PageState::Cancelled,
                step: p.step,
                notified: vec![],
                current: Some(vec![]),
                closed_by: None,
                reason: Some(reason),
                command: Some((Self::system(), command)),
                jobs: vec![],
                acknowledge_alert: false,
                unreachable: None,
                bundling: None,
            };
            self.move_page(&m, now).await?;
            return Ok(());
        }
        match page::decide_step(&p.policy, p.state, p.step, n) {
            StepDecision::Nothing => Ok(()),
            StepDecision::Expire => {
                let command = Command::ClosePage { page: id, state: PageState::Expired, reason: None, roles: vec![] };
                let m = PageMove {
                    page: id,
                    from_step: p.step,
                    state: PageState::Expired,
                    step: p.step,
                    notified: vec![],
                    current: Some(vec![]),
                    closed_by: None,
                    reason: Some("every step was notified and nobody acknowledged".into()),
                    command: Some((Self::system(), command)),
                    jobs: vec![],
                    acknowledge_alert: false,
                    unreachable: None,
                    bundling: None,
                };
                self.move_page(&m, now).await?;
                Ok(())
            }
            StepDecision::Notify { step, wait_seconds } => {
                let policy_step = p.policy.step(step as usize).expect("the domain chose an existing step");
                let mut schedules = HashMap::new();
                for t in &policy_step.targets {
                    if let Target::Schedule(sid) = t
                        && let Some(found) = self.store.schedule(*sid).await?
                    {
                        match found.schedule() {
                            Ok(s) => {
                                schedules.insert(*sid, s);
                            }
                            // Nobody is on call on a schedule that cannot be read;
                            // the step's other targets are still notified.
                            Err(e) => tracing::error!(schedule = sid, error = %e, "a schedule cannot be read"),
                        }
                    }
                }
                let named = p.policy.people(policy_step, now, |sid| schedules.get(&sid));
                // A disabled user is skipped, whether named or on call.
                let (about, service) = self.about(&p).await?;
                // A service's alert may have its notifications bundled per
                // person (the store decides, in the move's transaction).
                let mut bundling = match service {
                    Some(s) if s.bundle_window() > 0 => Some(Bundling {
                        service: s.id,
                        window_seconds: s.bundle_window(),
                        step: step + 1,
                        people: Vec::new(),
                    }),
                    _ => None,
                };
                let mut people = Vec::with_capacity(named.len());
                let mut reaches = Vec::with_capacity(named.len());
                let mut jobs = Vec::new();
                for person in named {
                    let disabled = matches!(self.store.user(&person).await?, Some(u) if u.disabled_at.is_some());
                    if disabled {
                        tracing::info!(page = id, user.handle = %person, "not paging a disabled user");
                        reaches.push(page::reach(person, true, 0, 0));
                        continue;
                    }
                    let (methods, made) = self.notifications(&p, step, &person, now, &about).await?;
                    reaches.push(page::reach(person.clone(), false, methods, made.len()));
                    match bundling.as_mut() {
                        Some(b) => b.people.push((person.clone(), made)),
                        None => jobs.extend(made),
                    }
                    people.push(person);
                }
                let Some(why) = page::why_unreachable(&reaches) else {
                    let next_due = now
                        .checked_add(jiff::SignedDuration::from_secs(i64::from(wait_seconds)))
                        .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
                    jobs.push(step_job(id, step + 1, next_due));
                    let command = Command::PageNotified { page: id, step: step + 1, people: people.clone() };
                    let m = PageMove {
                        page: id,
                        from_step: step,
                        state: PageState::Notified,
                        step: step + 1,
                        notified: people.clone(),
                        current: Some(people),
                        closed_by: None,
                        reason: None,
                        command: Some((Self::system(), command)),
                        jobs,
                        acknowledge_alert: false,
                        unreachable: None,
                        bundling,
                    };
                    self.move_page(&m, now).await?;
                    return Ok(());
                };
                // Nobody was reached: the step is recorded as unreachable,
                // and the next one is due now rather than after the wait.
                tracing::warn!(page = id, step = step + 1, why = %why, "a page step reached nobody");
                let named: Vec<Handle> = reaches.iter().map(|r| r.person().clone()).collect();
                let m = self.unreachable_move(&p, step, step + 1, &why, people, named, now);
                self.move_page(&m, now).await?;
                Ok(())
            }
        }
    }

    /// The move of page `p` whose step `step` (counting from 0) reached
    /// nobody for `why`, the page having notified `done` steps: the next
    /// step due now, or the page expired after its last step.
    #[allow(clippy::too_many_arguments)]
    fn unreachable_move(
        &self,
        p: &PageRecord,
        step: u32,
        done: u32,
        why: &str,
        people: Vec<Handle>,
        named: Vec<Handle>,
        now: Timestamp,
    ) -> PageMove {
        let record = page::UnreachableStep { step: step + 1, why: why.to_owned(), at: now };
        let entry = Command::PageUnreachable { page: p.id, step: step + 1, why: why.to_owned(), people: named };
        let (state, reason, jobs) = match page::decide_unreachable(&p.policy, step, why) {
            // A separate timer from the step's own (which may be waiting
            // already): whichever fires first moves the page, the other
            // finds it moved on and does nothing.
            page::UnreachableDecision::EscalateNow { next } => {
                let mut timer = step_job(p.id, next, now);
                timer.idempotency_key.push_str(":unreachable");
                (PageState::Notified, None, vec![timer])
            }
            page::UnreachableDecision::Expire { reason } => (PageState::Expired, Some(reason), vec![]),
        };
        // The last step: the page's end says who could not be reached.
        let entry = match &reason {
            Some(r) => Command::ClosePage { page: p.id, state, reason: Some(r.clone()), roles: vec![] },
            None => entry,
        };
        PageMove {
            page: p.id,
            from_step: p.step,
            state,
            step: done,
            notified: people.clone(),
            current: Some(people),
            closed_by: None,
            reason,
            command: Some((Self::system(), entry)),
            jobs,
            acknowledge_alert: false,
            unreachable: Some(record),
            bundling: None,
        }
    }

    /// A notification of step `step` (counting from 1) of page `id` was
    /// given up for good (dead-lettered). When every notification of that
    /// step was, and the page still waits on it, the step reached nobody:
    /// it is recorded so and the page escalates at once.
    pub async fn notification_gave_up(&self, id: u64, step: u32) -> Result<()> {
        let Some(p) = self.store.page(id).await? else { return Ok(()) };
        if !p.state.is_open() || p.step != step || step == 0 {
            return Ok(());
        }
        let outcomes: Vec<page::DeliveryOutcome> = self
            .store
            .deliveries(id)
            .await?
            .iter()
            .filter(|d| d.step == Some(step))
            .map(|d| match (d.delivered_at, d.dead_at) {
                (Some(_), _) => page::DeliveryOutcome::Delivered,
                (None, Some(_)) => page::DeliveryOutcome::GaveUp,
                (None, None) => page::DeliveryOutcome::Pending,
            })
            .collect();
        let Some(why) = page::why_deliveries_failed(&outcomes, &p.current) else { return Ok(()) };
        tracing::warn!(page = id, step, why = %why, "every notification of a page step failed");
        let now = self.clock.now();
        let m = self.unreachable_move(&p, step - 1, step, &why, p.current.clone(), p.current.clone(), now);
        self.move_page(&m, now).await
    }

    /// Expires an open page whose escalation cannot go on (its step was
    /// given up), saying why on the page and its incident's timeline.
    pub async fn give_up(&self, id: u64, reason: &str) -> Result<()> {
        let Some(p) = self.store.page(id).await? else { return Ok(()) };
        if !p.state.is_open() {
            return Ok(());
        }
        let state = PageState::Expired;
        let command = Command::ClosePage { page: id, state, reason: Some(reason.to_owned()), roles: vec![] };
        let m = PageMove {
            page: id,
            from_step: p.step,
            state,
            step: p.step,
            notified: vec![],
            current: Some(vec![]),
            closed_by: None,
            reason: Some(reason.to_owned()),
            command: Some((Self::system(), command)),
            jobs: vec![],
            acknowledge_alert: false,
            unreachable: None,
            bundling: None,
        };
        self.move_page(&m, self.clock.now()).await
    }

    /// Wakes the live views of page `id`'s incident: something about it
    /// they show changed without a timeline entry (a notification arrived).
    pub async fn page_seen_moving(&self, id: u64) -> Result<()> {
        if let Some(p) = self.store.page(id).await?
            && let Some(number) = p.incident
        {
            self.changes.changed(number);
        }
        Ok(())
    }

    /// Moves a page (in the next batch of moves) and wakes the live views
    /// of its incident.
    async fn move_page(&self, m: &PageMove, now: Timestamp) -> Result<()> {
        let store = self.store.clone();
        let moves = self.moves.get_or_init(|| {
            crate::batch::Batcher::spawn(
                "moving pages",
                crate::batch::lanes_for(store.backend()),
                Arc::new(move |moves: Vec<(PageMove, Timestamp)>| {
                    let store = store.clone();
                    Box::pin(async move { store.move_pages(&moves).await })
                }),
            )
        });
        if let Some(moved) = moves.write((m.clone(), now)).await?
            && let Some(number) = moved.incident
        {
            self.changes.changed(number);
        }
        Ok(())
    }

    /// What a page is about, for notifications: its alert and incident;
    /// and the alert's service.
    async fn about(&self, p: &PageRecord) -> Result<(Value, Option<muster_store::Service>)> {
        let found = match p.alert {
            Some(a) => self.store.alert(a).await?,
            None => None,
        };
        let service = match &found {
            Some(a) => self.store.service(a.service).await?,
            None => None,
        };
        let alert = found.map(|a| {
            json!({"id": a.id, "service": a.service_name, "dedup_key": a.dedup_key.as_str(),
                   "severity": a.severity.as_str(), "status": a.status.as_str(), "summary": a.summary})
        });
        let incident = match p.incident {
            Some(n) => self.store.incident(n).await?.map(|i| {
                json!({"ref": i.reference().to_string(), "number": i.number, "title": i.title,
                       "priority": i.priority.as_str(), "status": i.status.as_str(), "topic": i.topic,
                       "url": format!("{}/incidents/{}", self.public_url, i.reference())})
            }),
            None => None,
        };
        Ok((json!({"alert": alert, "incident": incident}), service))
    }

    /// One job per way `person` is reached for step `step` of a page.
    async fn notifications(
        &self,
        p: &PageRecord,
        step: u32,
        person: &Handle,
        now: Timestamp,
        about: &Value,
    ) -> Result<(usize, Vec<NewJob>)> {
        let methods = self.store.contact_methods(person).await?;
        let rules: Vec<page::NotificationRule> =
            self.store.notification_rules(person).await?.into_iter().map(|r| r.rule).collect();
        let ids: Vec<u64> = methods.iter().map(|m| m.id).collect();
        let ack_url = self.answer_url(Answer::Acknowledge, p.id, person).await?;
        let decline_url = self.answer_url(Answer::Decline, p.id, person).await?;
        let summary = match &about["incident"]["ref"] {
            Value::String(r) => format!("{r}: {}", p.message),
            _ => p.message.clone(),
        };
        let mut jobs = Vec::new();
        for (method, delay) in page::notifications(&ids, &rules) {
            let Some(m) = methods.iter().find(|m| m.id == method) else { continue };
            let due_at = now
                .checked_add(jiff::SignedDuration::from_secs(i64::from(delay)))
                .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
            let body = json!({
                "type": "page", "page_id": p.id, "step": step + 1, "person": person.as_str(),
                "summary": summary, "message": p.message, "ack_url": ack_url, "decline_url": decline_url,
                "alert": about["alert"], "incident": about["incident"],
                "roles": p.roles.iter().map(RoleKind::key).collect::<Vec<_>>(), "sent_at": now.to_string(),
            });
            let for_page = ForPage { page: p.id, step: step + 1, person: person.as_str().to_owned() };
            let subject = format!("[Muster] Page {}: {summary}", p.id);
            let mut text = format!("You are paged: {summary}\n\n");
            if let Some(i) = about["incident"].as_object() {
                text.push_str(&format!(
                    "Incident: {} ({}, {}): {}\n",
                    i["ref"].as_str().unwrap_or(""),
                    i["priority"].as_str().unwrap_or(""),
                    i["status"].as_str().unwrap_or(""),
                    i["title"].as_str().unwrap_or("")
                ));
            }
            if let Some(a) = about["alert"].as_object() {
                text.push_str(&format!(
                    "Alert {} on {} ({}): {}\n",
                    a["id"],
                    a["service"].as_str().unwrap_or(""),
                    a["severity"].as_str().unwrap_or(""),
                    a["summary"].as_str().unwrap_or("")
                ));
            }
            text.push_str(&format!("\nAcknowledge: {ack_url}\nDecline: {decline_url}\n"));
            let job = crate::channels::notification(m, body, &subject, text).for_page(for_page);
            jobs.push(NewJob {
                job,
                idempotency_key: format!("page:{}:step:{step}:method:{method}:after:{delay}", p.id),
                due_at,
            });
        }
        Ok((methods.len(), jobs))
    }
}
