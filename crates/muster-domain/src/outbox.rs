//! The outbox's jobs: every side effect Muster causes, as data.
//!
//! A job is written in the transaction of the event that causes it and
//! delivered later by a channel of the application layer. This module says
//! *what* is to be delivered; *how* is the channel's business.
//!
//! Stored, a job is its `kind` (the serde tag, e.g. `"webhook"`) and its
//! `payload` (the variant's fields as JSON), in two columns. Both are a
//! contract with every job already in a database: a variant's tag never
//! changes, a field is only ever added with a default, so a job written by
//! an older version is still delivered by a newer one. A job that no
//! longer parses (a kind from a newer version, say) is dead-lettered, not
//! retried.
//!
//! Secrets never go into a job: a webhook names its contact method, whose
//! URL and signing secret the channel reads at delivery.

use serde::{Deserialize, Serialize};

/// Something to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// An escalation step's timer: run step `step` (0-based) of page `page`.
    #[serde(rename = "page.step")]
    PageStep { page: u64, step: u32 },
    /// A signed JSON POST to a person's webhook contact method.
    #[serde(rename = "webhook")]
    Webhook(Webhook),
    /// A plain-text mail.
    #[serde(rename = "email")]
    Email(Email),
    /// The follow-up of a person's bundle of pages (see
    /// [`crate::bundle`]), due when its window closes: the pager writes
    /// one notification per contact method, listing the pages still open.
    #[serde(rename = "page.bundle")]
    PageBundle { bundle: u64 },
    /// An audience's next update of an incident was due at `due_at` (see
    /// [`crate::cadence`]): remind whoever handles it, or (`overdue`) the
    /// incident manager too. Stale once the clock moved (an update was
    /// published, a snooze, the incident resolved): then it does nothing.
    #[serde(rename = "update.reminder")]
    UpdateReminder { incident: u64, audience: crate::update::UpdateAudience, due_at: jiff::Timestamp, overdue: bool },
    /// A maintenance window's timer (see [`crate::maintenance::timers`]):
    /// remind its subscribers, start it or complete it. Stale once the
    /// maintenance moved past it: then it does nothing.
    #[serde(rename = "maintenance")]
    Maintenance { maintenance: u64, step: crate::maintenance::Step },
    /// A customer report's first response was due at `due_at` (see
    /// [`crate::support::ResponseTargets`]): remind the support lead. Stale
    /// once the report was answered or its due time moved (linked to an
    /// incident of another priority): then it does nothing.
    #[serde(rename = "customer_report.due")]
    ReportDue { report: u64, due_at: jiff::Timestamp },
    /// A follow-up fell due at `due_at` (see [`crate::action`]): remind its
    /// owner, the `nth` time (0 when it falls due, then weekly while it is
    /// overdue), in the run of reminders the entry `run` started. Stale
    /// once another run started or none stands (done, cancelled, no
    /// follow-up): then it does nothing.
    #[serde(rename = "follow_up.due")]
    FollowUpDue { incident: u64, action: u64, due_at: jiff::Timestamp, nth: u32, run: u64 },
}

/// Which jobs go first. Pages find people; everything else can wait for a
/// free delivery slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Page steps and page notifications: claimed before any other job, and
    /// always left delivery slots of their own.
    Paging,
    /// Everything else (test notifications, later stakeholder mail, chat).
    Other,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Paging, Lane::Other];

    /// The value stored in the `lane` column; lower goes first.
    pub fn as_i64(self) -> i64 {
        match self {
            Lane::Paging => 0,
            Lane::Other => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Paging => "paging",
            Lane::Other => "other",
        }
    }
}

/// Who a notification is for, when it is for a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForPage {
    pub page: u64,
    /// 1-based, as people count steps.
    pub step: u32,
    pub person: String,
}

/// The published update a notification carries, and why its recipient
/// gets it ("group Executives", "follower"): the update shows its
/// deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForUpdate {
    pub update: u64,
    pub recipient: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// The contact method: its current URL and secret are read at delivery.
    /// `None` only in jobs written before secrets left the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_method: Option<u64>,
    /// The URL when the job was written, for showing where it goes (and
    /// where it goes when the job names no contact method).
    pub to: String,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub for_page: Option<ForPage>,
    /// The bundle of pages it is the follow-up of, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_bundle: Option<u64>,
    /// The JSON that is posted.
    pub body: serde_json::Value,
    /// The update it carries to a stakeholder, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_update: Option<ForUpdate>,
    /// A stakeholder group's webhook (instead of a contact method): its URL
    /// and secret are read at delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stakeholder_webhook: Option<u64>,
    /// A status page subscriber's webhook: its URL and secret are read at
    /// delivery, and nothing goes to one that unsubscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_subscriber: Option<u64>,
    /// A setting holding `{"url", "secret"}` (the follow-up tracker's
    /// webhook): read at delivery, and nothing goes once it is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    /// A support integration's reply URL (an answer to a report it sent):
    /// its URL and secret are read at delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_integration: Option<u64>,
    /// Jobs written by older versions carried the secret; read, never written.
    #[serde(default, rename = "secret", skip_serializing)]
    pub legacy_secret: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The same as HTML, sent as the alternative to `text` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The update it carries to a stakeholder, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_update: Option<ForUpdate>,
    /// A status page subscriber it goes to: nothing is sent once they
    /// unsubscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_subscriber: Option<u64>,
    /// The one-click unsubscribe URL (`List-Unsubscribe`, with
    /// `List-Unsubscribe-Post`), for mail to subscribers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_unsubscribe: Option<String>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub for_page: Option<ForPage>,
    /// The bundle of pages it is the follow-up of, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_bundle: Option<u64>,
    /// The contact method it goes to, read again at delivery: a mail to a
    /// method removed since is not sent. Older jobs have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_method: Option<u64>,
}

impl Job {
    /// The serde tag, which is also the `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::PageStep { .. } => "page.step",
            Job::Webhook(_) => "webhook",
            Job::Email(_) => "email",
            Job::PageBundle { .. } => "page.bundle",
            Job::UpdateReminder { .. } => "update.reminder",
            Job::Maintenance { .. } => "maintenance",
            Job::ReportDue { .. } => "customer_report.due",
            Job::FollowUpDue { .. } => "follow_up.due",
        }
    }

    pub fn lane(&self) -> Lane {
        match self {
            Job::PageStep { .. } | Job::PageBundle { .. } => Lane::Paging,
            _ if self.notifies_for_page().is_some() || self.bundle().is_some() => Lane::Paging,
            _ => Lane::Other,
        }
    }

    /// This notification, as one for `page` (a webhook or a mail; other
    /// jobs are left as they are).
    pub fn for_page(mut self, page: ForPage) -> Job {
        match &mut self {
            Job::Webhook(w) => w.for_page = Some(page),
            Job::Email(e) => e.for_page = Some(page),
            _ => {}
        }
        self
    }

    /// This notification, as the follow-up of `bundle`.
    pub fn for_bundle(mut self, bundle: u64) -> Job {
        match &mut self {
            Job::Webhook(w) => w.for_bundle = Some(bundle),
            Job::Email(e) => e.for_bundle = Some(bundle),
            _ => {}
        }
        self
    }

    /// The bundle of pages this job follows up on.
    pub fn bundle(&self) -> Option<u64> {
        match self {
            Job::PageBundle { bundle } => Some(*bundle),
            Job::Webhook(w) => w.for_bundle,
            Job::Email(e) => e.for_bundle,
            Job::PageStep { .. }
            | Job::UpdateReminder { .. }
            | Job::Maintenance { .. }
            | Job::ReportDue { .. }
            | Job::FollowUpDue { .. } => None,
        }
    }

    /// The published update this job carries to a stakeholder.
    pub fn update(&self) -> Option<&ForUpdate> {
        match self {
            Job::Webhook(w) => w.for_update.as_ref(),
            Job::Email(e) => e.for_update.as_ref(),
            _ => None,
        }
    }

    /// This notification, as one carrying an update (a webhook or a mail).
    pub fn for_update(mut self, update: ForUpdate) -> Job {
        match &mut self {
            Job::Webhook(w) => w.for_update = Some(update),
            Job::Email(e) => e.for_update = Some(update),
            _ => {}
        }
        self
    }

    /// The page this job times or notifies for.
    pub fn page(&self) -> Option<u64> {
        match self {
            Job::PageStep { page, .. } => Some(*page),
            _ => self.notifies_for_page(),
        }
    }

    /// The page this job notifies someone of: such a notification is
    /// pointless once the page was answered.
    pub fn notifies_for_page(&self) -> Option<u64> {
        match self {
            Job::PageStep { .. }
            | Job::PageBundle { .. }
            | Job::UpdateReminder { .. }
            | Job::Maintenance { .. }
            | Job::ReportDue { .. }
            | Job::FollowUpDue { .. } => None,
            Job::Webhook(w) => w.for_page.as_ref().map(|f| f.page),
            Job::Email(e) => e.for_page.as_ref().map(|f| f.page),
        }
    }

    /// The person this job notifies of a page: nobody disabled is.
    pub fn notifies_person(&self) -> Option<&str> {
        match self {
            Job::PageStep { .. }
            | Job::PageBundle { .. }
            | Job::UpdateReminder { .. }
            | Job::Maintenance { .. }
            | Job::ReportDue { .. }
            | Job::FollowUpDue { .. } => None,
            Job::Webhook(w) => w.for_page.as_ref().map(|f| f.person.as_str()),
            Job::Email(e) => e.for_page.as_ref().map(|f| f.person.as_str()),
        }
    }

    /// Where it goes, for people reading the outbox.
    pub fn to(&self) -> Option<&str> {
        match self {
            Job::PageStep { .. }
            | Job::PageBundle { .. }
            | Job::UpdateReminder { .. }
            | Job::Maintenance { .. }
            | Job::ReportDue { .. }
            | Job::FollowUpDue { .. } => None,
            Job::Webhook(w) => Some(&w.to),
            Job::Email(e) => Some(&e.to),
        }
    }

    /// The person a page notification is for.
    pub fn person(&self) -> Option<&str> {
        match self {
            Job::PageStep { .. }
            | Job::PageBundle { .. }
            | Job::UpdateReminder { .. }
            | Job::Maintenance { .. }
            | Job::ReportDue { .. }
            | Job::FollowUpDue { .. } => None,
            Job::Webhook(w) => w.for_page.as_ref().map(|f| f.person.as_str()),
            Job::Email(e) => e.for_page.as_ref().map(|f| f.person.as_str()),
        }
    }

    /// The two stored columns: `kind` and the payload's JSON.
    pub fn to_stored(&self) -> (&'static str, serde_json::Value) {
        let payload = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut o)) => o.remove("payload").unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        (self.kind(), payload)
    }

    /// A job from its stored columns, or why it cannot be read.
    pub fn from_stored(kind: &str, payload: serde_json::Value) -> Result<Job, String> {
        serde_json::from_value(serde_json::json!({"kind": kind, "payload": payload}))
            .map_err(|e| format!("a job of kind {kind:?} that cannot be read: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn webhook() -> Job {
        Job::Webhook(Webhook {
            contact_method: Some(7),
            to: "https://hooks.example.com/x".into(),
            for_page: Some(ForPage { page: 3, step: 1, person: "dan".into() }),
            for_bundle: None,
            body: json!({"type": "page"}),
            legacy_secret: None,
            ..Webhook::default()
        })
    }

    #[test]
    fn every_job_survives_being_stored_and_read_back() {
        let jobs = [
            Job::PageStep { page: 3, step: 2 },
            Job::ReportDue { report: 5, due_at: "2026-11-27T10:15:00Z".parse().unwrap() },
            Job::FollowUpDue {
                incident: 1,
                action: 12,
                due_at: "2026-12-08T09:00:00Z".parse().unwrap(),
                nth: 1,
                run: 14,
            },
            webhook(),
            Job::Email(Email {
                to: "dan@example.com".into(),
                subject: "s".into(),
                text: "t".into(),
                for_page: None,
                for_bundle: None,
                contact_method: None,
                html: Some("<p>t</p>".into()),
                for_update: Some(ForUpdate { update: 4, recipient: "group Executives".into() }),
                status_subscriber: Some(9),
                list_unsubscribe: Some("https://status.example.com/status/subscriptions/t/unsubscribe".into()),
            }),
        ];
        for job in jobs {
            let (kind, payload) = job.to_stored();
            assert_eq!(Job::from_stored(kind, payload), Ok(job));
        }
    }

    #[test]
    fn the_stored_form_of_a_page_step_is_the_one_older_versions_wrote() {
        let (kind, payload) = Job::PageStep { page: 3, step: 2 }.to_stored();
        assert_eq!((kind, payload), ("page.step", json!({"page": 3, "step": 2})));
    }

    #[test]
    fn a_webhook_job_written_before_secrets_left_the_payload_is_still_read() {
        let old = json!({"page": 3, "step": 1, "person": "dan", "to": "http://h/x", "url": "http://h/x",
                         "secret": "whsec_1", "body": {"type": "page"}});
        let Ok(Job::Webhook(w)) = Job::from_stored("webhook", old) else { panic!("an old webhook job reads") };
        assert_eq!(w.contact_method, None);
        assert_eq!(w.legacy_secret.as_deref(), Some("whsec_1"));
        assert_eq!(w.for_page.map(|f| f.page), Some(3));
    }

    #[test]
    fn no_secret_is_ever_written_into_a_payload() {
        let mut job = webhook();
        if let Job::Webhook(w) = &mut job {
            w.legacy_secret = Some("whsec_1".into());
        }
        let (_, payload) = job.to_stored();
        assert!(!payload.to_string().contains("whsec_1"), "{payload}");
    }

    #[test]
    fn page_notifications_and_steps_go_first_and_the_rest_waits() {
        assert_eq!(Job::PageStep { page: 1, step: 0 }.lane(), Lane::Paging);
        assert_eq!(webhook().lane(), Lane::Paging);
        let test = Job::Email(Email {
            to: "a@b.c".into(),
            subject: "s".into(),
            text: "t".into(),
            for_page: None,
            for_bundle: None,
            contact_method: None,
            ..Email::default()
        });
        assert_eq!(test.lane(), Lane::Other);
    }

    #[test]
    fn a_kind_this_version_does_not_know_is_an_error_not_a_panic() {
        assert!(Job::from_stored("matrix.topic", json!({})).unwrap_err().contains("matrix.topic"));
        assert!(Job::from_stored("webhook", json!({"nonsense": true})).is_err());
    }
}
