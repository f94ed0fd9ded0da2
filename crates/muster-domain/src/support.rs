//! The customer support lead's rules: customer reports (tickets, calls,
//! mails, posts, chats about an incident), their states, when a first
//! response is due, which open incident a report is probably about, and the
//! reply it is offered — drawn from published external updates only.
//!
//! A report is not part of an incident's state; linking, passing and
//! answering one are events on the incident it is linked to
//! ([`crate::Change::CustomerReportLinked`] and the others), so the
//! timeline and the topic (`CSL @gina (14 reports)`) follow from them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{DomainError, Priority};

/// Where a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportChannel {
    Ticket,
    Phone,
    Email,
    Social,
    Chat,
}

impl ReportChannel {
    pub const ALL: [ReportChannel; 5] =
        [ReportChannel::Ticket, ReportChannel::Phone, ReportChannel::Email, ReportChannel::Social, ReportChannel::Chat];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportChannel::Ticket => "ticket",
            ReportChannel::Phone => "phone",
            ReportChannel::Email => "email",
            ReportChannel::Social => "social",
            ReportChannel::Chat => "chat",
        }
    }
}

impl fmt::Display for ReportChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportChannel {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        ReportChannel::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            DomainError::invalid("channel", format!("{s:?} is not one of ticket, phone, email, social, chat"))
        })
    }
}

/// Where a report stands: `new → acknowledged → responded → closed`, only
/// forward (a step may be skipped: a report answered at once is never
/// "acknowledged").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    New,
    Acknowledged,
    Responded,
    Closed,
}

impl ReportState {
    pub const ALL: [ReportState; 4] =
        [ReportState::New, ReportState::Acknowledged, ReportState::Responded, ReportState::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::New => "new",
            ReportState::Acknowledged => "acknowledged",
            ReportState::Responded => "responded",
            ReportState::Closed => "closed",
        }
    }

    /// Whether the first-response timer runs: nobody has answered yet.
    pub fn awaits_response(self) -> bool {
        matches!(self, ReportState::New | ReportState::Acknowledged)
    }

    /// Whether a report may move from `self` to `to`.
    pub fn check_move(self, to: ReportState) -> Result<(), DomainError> {
        if to > self {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "state",
                format!(
                    "a report that is {self} cannot become {to}: reports only move forward (new, acknowledged, responded, closed)"
                ),
            ))
        }
    }
}

impl fmt::Display for ReportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        ReportState::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            DomainError::invalid("state", format!("{s:?} is not one of new, acknowledged, responded, closed"))
        })
    }
}

/// The longest customer name, contact, organization or reference.
pub const MAX_NAME: usize = 200;
/// The longest report body or reply.
pub const MAX_BODY: usize = 20_000;
/// The longest excerpt passed to the responders.
pub const MAX_EXCERPT: usize = 2_000;
/// The most reports linked in one request.
pub const MAX_BULK: usize = 200;

/// A report as it arrives, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSpec {
    pub channel: ReportChannel,
    pub customer: String,
    pub contact: Option<String>,
    pub organization: Option<String>,
    pub body: String,
    pub external_ref: Option<String>,
    pub external_url: Option<String>,
    pub received_at: Timestamp,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(field, format!("is longer than {max} characters")));
    }
    Ok(value.to_owned())
}

fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// A report's body, checked (also a reply's, an excerpt's).
pub fn check_body(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    text(field, value, max)
}

impl ReportSpec {
    /// Checks a report; `received_at` defaults to `now` and may not be later
    /// than it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        channel: ReportChannel,
        customer: &str,
        contact: Option<&str>,
        organization: Option<&str>,
        body: &str,
        external_ref: Option<&str>,
        external_url: Option<&str>,
        received_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<ReportSpec, DomainError> {
        let external_url = optional("external_url", external_url, 2_000)?;
        if let Some(url) = &external_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(DomainError::invalid("external_url", "must be an http:// or https:// URL"));
        }
        let received_at = received_at.unwrap_or(now);
        if received_at > now {
            return Err(DomainError::invalid("received_at", "is in the future"));
        }
        Ok(ReportSpec {
            channel,
            customer: text("customer", customer, MAX_NAME)?,
            contact: optional("contact", contact, MAX_NAME)?,
            organization: optional("organization", organization, MAX_NAME)?,
            body: text("body", body, MAX_BODY)?,
            external_ref: optional("external_ref", external_ref, MAX_NAME)?,
            external_url,
            received_at,
        })
    }
}

/// How long a first response may take, by the priority of the report's
/// incident: the `customer_response_targets` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseTargets {
    pub p1_minutes: u32,
    pub p2_minutes: u32,
    pub p3_minutes: u32,
    /// Business days (Monday to Friday, UTC): the same time of day on the
    /// next business day for one.
    pub p4_business_days: u32,
    pub unlinked_minutes: u32,
}

/// The setting that holds the [`ResponseTargets`].
pub const TARGETS_SETTING: &str = "customer_response_targets";

impl Default for ResponseTargets {
    fn default() -> Self {
        ResponseTargets { p1_minutes: 15, p2_minutes: 30, p3_minutes: 240, p4_business_days: 1, unlinked_minutes: 60 }
    }
}

impl ResponseTargets {
    /// Every target between one minute and 30 days.
    pub fn check(&self) -> Result<(), DomainError> {
        for (field, minutes) in [
            ("p1_minutes", self.p1_minutes),
            ("p2_minutes", self.p2_minutes),
            ("p3_minutes", self.p3_minutes),
            ("unlinked_minutes", self.unlinked_minutes),
        ] {
            if !(1..=43_200).contains(&minutes) {
                return Err(DomainError::invalid(field, "must be between 1 and 43200 minutes (30 days)"));
            }
        }
        if !(1..=20).contains(&self.p4_business_days) {
            return Err(DomainError::invalid("p4_business_days", "must be between 1 and 20"));
        }
        Ok(())
    }

    /// When the first response to a report received at `received_at` is
    /// due, linked to an incident of `priority` (none: unlinked).
    pub fn due_at(&self, received_at: Timestamp, priority: Option<Priority>) -> Timestamp {
        let minutes = match priority {
            None => self.unlinked_minutes,
            Some(Priority::P1) => self.p1_minutes,
            Some(Priority::P2) => self.p2_minutes,
            Some(Priority::P3) => self.p3_minutes,
            Some(Priority::P4) => return add_business_days(received_at, self.p4_business_days),
        };
        received_at.checked_add(SignedDuration::from_mins(i64::from(minutes))).unwrap_or(received_at)
    }
}

/// `days` business days after `t`: the same time of day (UTC), skipping
/// Saturdays and Sundays. From a weekend the count starts on Monday.
pub fn add_business_days(t: Timestamp, days: u32) -> Timestamp {
    let mut at = t.to_zoned(TimeZone::UTC);
    let mut left = days;
    while left > 0 {
        at = match at.tomorrow() {
            Ok(next) => next,
            Err(_) => return t,
        };
        if is_business_day(at.weekday()) {
            left -= 1;
        }
    }
    at.timestamp()
}

fn is_business_day(day: jiff::civil::Weekday) -> bool {
    !matches!(day, jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday)
}

/// Words too common to say a report is about an incident.
const STOP_WORDS: &[&str] = &[
    "about", "after", "again", "also", "been", "being", "can't", "cannot", "could", "does", "doesn't", "done", "down",
    "from", "have", "having", "hello", "help", "here", "into", "just", "like", "more", "most", "much", "need",
    "please", "some", "still", "than", "thank", "thanks", "that", "their", "them", "then", "there", "these", "they",
    "this", "today", "very", "want", "were", "what", "when", "where", "which", "while", "will", "with", "would",
    "your", "yours", "issue", "problem", "since", "every", "anyone", "working", "getting",
];

/// The words of `text` that can tie a report to an incident: lower case,
/// four letters or more, not among the most common.
pub fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| w.chars().count() >= 4 && !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// An open incident a report might be about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub number: u64,
    /// The services its alerts came from.
    pub services: Vec<u64>,
    pub title: String,
    /// Its published external updates' text (never internal text).
    pub public_text: String,
}

/// Why an incident is suggested for a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub incident: u64,
    pub same_service: bool,
    /// The words the report shares with the incident's title and public
    /// updates, in order.
    pub shared_words: Vec<String>,
}

impl Suggestion {
    fn score(&self) -> usize {
        self.shared_words.len() + if self.same_service { 3 } else { 0 }
    }

    /// In words, for the queue: "same service; shares checkout, payment".
    pub fn reason(&self) -> String {
        let mut parts = Vec::new();
        if self.same_service {
            parts.push("same service".to_owned());
        }
        if !self.shared_words.is_empty() {
            parts.push(format!("shares {}", self.shared_words.join(", ")));
        }
        parts.join("; ")
    }
}

/// The open incident a report is most likely about: the one on the
/// report's service, and sharing the most words with it; ties go to the
/// newest incident. `None` when none shares a service or a word.
pub fn suggest(service: Option<u64>, body: &str, candidates: &[Candidate]) -> Option<Suggestion> {
    let mine = words(body);
    candidates
        .iter()
        .map(|c| {
            let theirs = words(&format!("{} {}", c.title, c.public_text));
            Suggestion {
                incident: c.number,
                same_service: service.is_some_and(|s| c.services.contains(&s)),
                shared_words: mine.intersection(&theirs).cloned().collect(),
            }
        })
        .filter(|s| s.score() > 0)
        .max_by_key(|s| (s.score(), s.incident))
}

/// The reply a report is offered: the latest published external update of
/// its incident (what customers may read), or, once the incident is
/// resolved, a closing reply. `None` when the incident has published
/// nothing for customers yet: there is nothing to say that was cleared.
pub fn suggested_reply(customer: &str, latest_external: Option<&str>, resolved: bool) -> Option<String> {
    let greeting = format!("Hello {},", first_name(customer));
    match (latest_external.map(str::trim).filter(|t| !t.is_empty()), resolved) {
        (Some(update), false) => Some(format!(
            "{greeting}\n\nThank you for letting us know. We are aware of the problem and working on it. Our latest update:\n\n{update}\n\nWe will keep you posted."
        )),
        (Some(update), true) => Some(format!(
            "{greeting}\n\nThe problem you reported has been resolved. Our last update:\n\n{update}\n\nThank you for your patience; reply if you still see it."
        )),
        (None, true) => Some(format!(
            "{greeting}\n\nThe problem you reported has been resolved. Thank you for your patience; reply if you still see it."
        )),
        (None, false) => None,
    }
}

fn first_name(customer: &str) -> &str {
    customer.split_whitespace().next().unwrap_or(customer)
}

/// The excerpt passed to the responders: the given one, or the report's
/// body cut at [`MAX_EXCERPT`] characters.
pub fn excerpt(given: Option<&str>, body: &str) -> Result<String, DomainError> {
    match given.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => text("excerpt", e, MAX_EXCERPT),
        None => {
            let mut cut: String = body.chars().take(MAX_EXCERPT).collect();
            if body.chars().count() > MAX_EXCERPT {
                cut.pop();
                cut.push('…');
            }
            Ok(cut)
        }
    }
}

/// A report as the incident's events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRef {
    pub id: u64,
    pub channel: ReportChannel,
    pub customer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

impl ReportRef {
    /// "Acme's ticket (report 12)", "a call from Ann (report 3)".
    pub fn describe(&self) -> String {
        let who = match &self.organization {
            Some(o) => format!("{} ({o})", self.customer),
            None => self.customer.clone(),
        };
        format!("{} from {who} (report {})", self.channel_noun(), self.id)
    }

    fn channel_noun(&self) -> &'static str {
        match self.channel {
            ReportChannel::Ticket => "ticket",
            ReportChannel::Phone => "call",
            ReportChannel::Email => "mail",
            ReportChannel::Social => "post",
            ReportChannel::Chat => "chat",
        }
    }
}

/// Who hears of a report passed on to the responders: the incident
/// manager and the tech leads, each once.
pub fn told_when_passed(incident: &crate::Incident) -> Vec<crate::Handle> {
    let mut people: Vec<crate::Handle> = Vec::new();
    for role in [crate::RoleKind::IncidentManager, crate::RoleKind::TechLead] {
        for a in incident.holders(&role) {
            if !people.contains(&a.user) {
                people.push(a.user.clone());
            }
        }
    }
    people
}

/// Who is reminded when a linked report's first answer is due: the
/// customer support lead, or the incident manager when nobody holds it.
pub fn reminded(incident: &crate::Incident) -> Vec<crate::Handle> {
    let leads: Vec<crate::Handle> =
        incident.holders(&crate::RoleKind::CustomerSupportLead).map(|a| a.user.clone()).collect();
    if leads.is_empty() {
        incident.holders(&crate::RoleKind::IncidentManager).map(|a| a.user.clone()).collect()
    } else {
        leads
    }
}

/// How many linked reports make the first responder's impact assessment
/// offer "many customers".
pub const MANY_CUSTOMERS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_p1_report_is_due_in_fifteen_minutes_and_an_unlinked_one_in_an_hour() {
        let t = ResponseTargets::default();
        let received = at("2026-11-27T10:00:00Z");
        assert_eq!(t.due_at(received, Some(Priority::P1)), at("2026-11-27T10:15:00Z"));
        assert_eq!(t.due_at(received, Some(Priority::P2)), at("2026-11-27T10:30:00Z"));
        assert_eq!(t.due_at(received, Some(Priority::P3)), at("2026-11-27T14:00:00Z"));
        assert_eq!(t.due_at(received, None), at("2026-11-27T11:00:00Z"));
    }

    #[test]
    fn a_p4_report_on_a_friday_is_due_on_monday() {
        let t = ResponseTargets::default();
        // 2026-11-27 is a Friday.
        assert_eq!(t.due_at(at("2026-11-27T10:00:00Z"), Some(Priority::P4)), at("2026-11-30T10:00:00Z"));
        // From Saturday, the next business day is Monday.
        assert_eq!(add_business_days(at("2026-11-28T09:00:00Z"), 1), at("2026-11-30T09:00:00Z"));
        assert_eq!(add_business_days(at("2026-11-25T09:00:00Z"), 1), at("2026-11-26T09:00:00Z"));
    }

    #[test]
    fn reports_move_only_forward() {
        assert!(ReportState::New.check_move(ReportState::Responded).is_ok());
        assert!(ReportState::Responded.check_move(ReportState::Closed).is_ok());
        let err = ReportState::Closed.check_move(ReportState::New).unwrap_err();
        assert!(err.to_string().starts_with("state:"), "{err}");
        assert!(ReportState::New.check_move(ReportState::New).is_err());
    }

    #[test]
    fn a_report_names_the_field_it_lacks() {
        let now = at("2026-11-27T10:00:00Z");
        let err = ReportSpec::new(ReportChannel::Phone, " ", None, None, "down", None, None, None, now).unwrap_err();
        assert_eq!(err.to_string(), "customer: must not be empty");
        let later = Some(at("2026-11-27T11:00:00Z"));
        let err = ReportSpec::new(ReportChannel::Phone, "Ann", None, None, "down", None, None, later, now).unwrap_err();
        assert_eq!(err.to_string(), "received_at: is in the future");
        let err = ReportSpec::new(ReportChannel::Phone, "Ann", None, None, "x", None, Some("ftp://x"), None, now)
            .unwrap_err();
        assert!(err.to_string().starts_with("external_url:"));
    }

    #[test]
    fn the_incident_on_the_same_service_sharing_words_is_suggested() {
        let candidates = vec![
            Candidate { number: 1, services: vec![9], title: "Search is slow".into(), public_text: String::new() },
            Candidate {
                number: 2,
                services: vec![3],
                title: "Checkout returns 500".into(),
                public_text: "Payments are failing at checkout".into(),
            },
        ];
        let s = suggest(Some(3), "I can't pay, the checkout page errors", &candidates).unwrap();
        assert_eq!(s.incident, 2);
        assert!(s.same_service);
        assert_eq!(s.shared_words, vec!["checkout".to_owned()]);
        assert_eq!(s.reason(), "same service; shares checkout");
        assert_eq!(suggest(None, "the weather is nice", &candidates), None);
    }

    #[test]
    fn no_reply_is_suggested_before_anything_was_published_for_customers() {
        assert_eq!(suggested_reply("Ann Lee", None, false), None);
        let r = suggested_reply("Ann Lee", Some("We found the cause."), false).unwrap();
        assert!(r.starts_with("Hello Ann,"));
        assert!(r.contains("We found the cause."));
        assert!(suggested_reply("Ann", None, true).unwrap().contains("resolved"));
    }

    proptest! {
        #[test]
        fn due_is_never_before_receipt_and_p1_is_the_soonest(minutes in 0i64..10_000_000) {
            let received = at("2026-01-01T00:00:00Z").checked_add(SignedDuration::from_mins(minutes)).unwrap();
            let t = ResponseTargets::default();
            let due: Vec<Timestamp> = Priority::ALL.iter().map(|p| t.due_at(received, Some(*p))).collect();
            prop_assert!(due.iter().all(|d| *d > received));
            prop_assert!(due.windows(2).all(|w| w[0] <= w[1]));
            // A business day ahead is at least a day and at most three.
            let p4 = due[3].duration_since(received);
            prop_assert!(p4 >= SignedDuration::from_hours(24) && p4 <= SignedDuration::from_hours(72 + 24));
        }

        #[test]
        fn state_moves_are_a_total_forward_order(a in 0usize..4, b in 0usize..4) {
            let (from, to) = (ReportState::ALL[a], ReportState::ALL[b]);
            prop_assert_eq!(from.check_move(to).is_ok(), b > a);
        }

        #[test]
        fn a_suggestion_always_shares_a_service_or_a_word(
            body in "[a-z ]{0,80}",
            titles in proptest::collection::vec("[a-z ]{0,40}", 0..5),
            service in proptest::option::of(0u64..4),
        ) {
            let candidates: Vec<Candidate> = titles.iter().enumerate()
                .map(|(i, t)| Candidate { number: i as u64 + 1, services: vec![i as u64], title: t.clone(), public_text: String::new() })
                .collect();
            if let Some(s) = suggest(service, &body, &candidates) {
                let c = candidates.iter().find(|c| c.number == s.incident).unwrap();
                prop_assert!(s.same_service || !s.shared_words.is_empty());
                for w in &s.shared_words {
                    prop_assert!(words(&body).contains(w) && words(&c.title).contains(w));
                }
            }
        }
    }
}
