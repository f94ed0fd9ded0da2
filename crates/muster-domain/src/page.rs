//! Pages: a request for someone to respond, and its escalation.
//!
//! A page is sent to a person, to whoever is on call on a schedule, or
//! through an escalation policy. It is notified one step at a time: step 1 at
//! once, each next step when the one before waited `delay_seconds` without an
//! acknowledgement, the policy again `repeat` times, and then it expires.
//! Acknowledging, declining, or the alert behind it being acknowledged or
//! resolved ends the escalation.
//!
//! ```text
//! pending ──step 1──► notified ──step n──► notified ─┬─► acknowledged
//!    │                    │                         ├─► declined
//!    └────────────────────┴─────────────────────────┼─► expired   (every step, every repeat, no answer)
//!                                                   └─► cancelled (the alert was acknowledged or resolved)
//! ```
//!
//! Everything here is a pure decision on a page's state; the server turns a
//! [`StepDecision`] into jobs and timeline entries in one transaction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::paging::{EscalationPolicy, Step, Target};
use crate::{DomainError, Handle, RoleKind};

/// How long a page to one person or one schedule waits for an answer before
/// it expires.
pub const DEFAULT_ACK_TIMEOUT_SECONDS: u32 = 900;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    /// Created; its first step has not been notified yet.
    Pending,
    Notified,
    Acknowledged,
    Declined,
    /// Every step was notified and nobody answered.
    Expired,
    /// The alert it was about was acknowledged or resolved elsewhere.
    Cancelled,
}

impl PageState {
    pub const ALL: [PageState; 6] = [
        PageState::Pending,
        PageState::Notified,
        PageState::Acknowledged,
        PageState::Declined,
        PageState::Expired,
        PageState::Cancelled,
    ];

    /// Still escalating: waiting for someone to answer.
    pub fn is_open(self) -> bool {
        matches!(self, PageState::Pending | PageState::Notified)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PageState::Pending => "pending",
            PageState::Notified => "notified",
            PageState::Acknowledged => "acknowledged",
            PageState::Declined => "declined",
            PageState::Expired => "expired",
            PageState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for PageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PageState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PageState::ALL.into_iter().find(|k| k.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid(
                "state",
                format!(
                    "unknown page state {s:?}, expected one of {}",
                    PageState::ALL.map(PageState::as_str).join(", ")
                ),
            )
        })
    }
}

/// Whom a page is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PageTarget {
    User(Handle),
    Schedule(u64),
    Policy(u64),
}

impl fmt::Display for PageTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageTarget::User(h) => write!(f, "@{h}"),
            PageTarget::Schedule(id) => write!(f, "the on-call of schedule {id}"),
            PageTarget::Policy(id) => write!(f, "escalation policy {id}"),
        }
    }
}

/// The escalation a page to one person or one schedule follows: one step,
/// waiting [`DEFAULT_ACK_TIMEOUT_SECONDS`] before the page expires.
pub fn single_step(target: Target) -> EscalationPolicy {
    EscalationPolicy {
        name: "direct".into(),
        repeat: 0,
        steps: vec![Step { delay_seconds: DEFAULT_ACK_TIMEOUT_SECONDS, targets: vec![target] }],
    }
}

/// A page message has at most 1000 characters, not all white space.
/// The most characters a page's message has.
pub const MAX_MESSAGE: usize = 1000;

pub fn parse_message(message: &str) -> Result<String, DomainError> {
    let m = message.trim();
    if m.is_empty() || message.chars().count() > MAX_MESSAGE {
        return Err(DomainError::invalid("message", "a page message has 1-1000 characters"));
    }
    Ok(m.to_owned())
}

/// What a page's escalation does when its step `n` (counting from 0, repeats
/// included) comes due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDecision {
    /// Nothing: the page was answered, or this step already ran.
    Nothing,
    /// Notify the step's people; the next step is due after `wait_seconds`.
    Notify { step: u32, wait_seconds: u32 },
    /// Every step ran without an answer.
    Expire,
}

/// Decides step `n` of a page in `state` that has run `done` steps so far.
pub fn decide_step(policy: &EscalationPolicy, state: PageState, done: u32, n: u32) -> StepDecision {
    if !state.is_open() || n != done {
        return StepDecision::Nothing;
    }
    match policy.step(n as usize) {
        Some(step) => StepDecision::Notify { step: n, wait_seconds: step.delay_seconds },
        None => StepDecision::Expire,
    }
}

/// What a decline does: the page goes on to its next step at once when the
/// escalation has one, else the page ends as declined.
pub fn decide_decline(policy: &EscalationPolicy, state: PageState, done: u32) -> Result<DeclineDecision, DomainError> {
    if !state.is_open() {
        return Err(DomainError::Conflict(format!("the page is {state} already")));
    }
    if policy.step(done as usize).is_some() { Ok(DeclineDecision::Escalate) } else { Ok(DeclineDecision::End) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineDecision {
    Escalate,
    End,
}

/// Who may acknowledge a page: the people it notified, and those in
/// charge of its incident (incident manager, backup) or admins.
pub fn may_acknowledge(notified: &[Handle], who: &Handle, in_charge: bool) -> bool {
    in_charge || notified.contains(who)
}

/// Only the people the current step notified may decline it: a decline
/// says "not me, try the next step".
pub fn may_decline(current: &[Handle], who: &Handle) -> bool {
    current.contains(who)
}

/// The roles an acknowledgement gives: those the page asked for, to someone
/// it asked (notified), while whoever sent it may still give them (an
/// automatic page from an alert always may).
pub fn roles_on_acknowledge(roles: &[RoleKind], answerer_was_notified: bool, sender_may_still: bool) -> Vec<RoleKind> {
    if answerer_was_notified && sender_may_still { roles.to_vec() } else { Vec::new() }
}

/// What acknowledging a page does, said to the person about to press the
/// button: the roles they take on (from [`roles_on_acknowledge`]), whom they
/// take the incident manager's role over from, or that the escalation
/// stops.
pub fn acknowledging_says(
    roles: &[RoleKind],
    incident: Option<&str>,
    incident_manager: Option<&Handle>,
    answerer: &Handle,
) -> String {
    let of = incident.map(|r| format!(" of {r}")).unwrap_or_default();
    let mut said: Vec<String> = Vec::new();
    let im = roles.contains(&RoleKind::IncidentManager);
    if im {
        let from = match incident_manager {
            Some(h) if h != answerer => format!(", taking over from @{h}"),
            _ => String::new(),
        };
        said.push(format!("You become incident manager{of}{from}"));
    }
    let others: Vec<String> = roles
        .iter()
        // With the incident manager's role, first responder is said last.
        .filter(|r| **r != RoleKind::IncidentManager && !(im && **r == RoleKind::FirstResponder))
        .map(RoleKind::name)
        .collect();
    if !others.is_empty() {
        let start = if said.is_empty() { "You become" } else { "and" };
        said.push(format!("{start} {}{of}", others.join(" and ")));
    }
    if im && roles.contains(&RoleKind::FirstResponder) {
        said.push("and its first responder".to_owned());
    }
    if said.is_empty() {
        return "This tells Muster you are on it; the escalation stops.".to_owned();
    }
    format!("{}; the escalation stops.", said.join(" "))
}

/// When a person's contact method is used: `delay_seconds` after they are
/// notified, unless the page was answered by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRule {
    pub contact_method: u64,
    pub delay_seconds: u32,
}

/// The (contact method, delay) pairs that notify a person: their rules, or
/// every method at once when they have none. A rule for a method they no
/// longer have is skipped; each pair once.
pub fn notifications(methods: &[u64], rules: &[NotificationRule]) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = if rules.is_empty() {
        methods.iter().map(|m| (*m, 0)).collect()
    } else {
        rules
            .iter()
            .filter(|r| methods.contains(&r.contact_method))
            .map(|r| (r.contact_method, r.delay_seconds))
            .collect()
    };
    out.sort_by_key(|(m, d)| (*d, *m));
    out.dedup();
    out
}

/// Why one person of a step could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreached {
    /// Disabled: nobody disabled is paged.
    Disabled(Handle),
    /// No contact method at all.
    NoContactMethod(Handle),
    /// Contact methods, but no notification rule that uses one of them.
    NoRuleForMethods(Handle),
}

impl fmt::Display for Unreached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreached::Disabled(h) => write!(f, "@{h} is disabled"),
            Unreached::NoContactMethod(h) => write!(f, "@{h} has no contact method"),
            Unreached::NoRuleForMethods(h) => write!(f, "no notification rule of @{h} uses a contact method they have"),
        }
    }
}

/// How one person named by a step stands: the notifications their contact
/// methods and rules make, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// `n` notifications (jobs) were made for them.
    Notified(Handle, usize),
    Unreached(Unreached),
}

impl Reach {
    pub fn person(&self) -> &Handle {
        match self {
            Reach::Notified(h, _)
            | Reach::Unreached(
                Unreached::Disabled(h) | Unreached::NoContactMethod(h) | Unreached::NoRuleForMethods(h),
            ) => h,
        }
    }
}

/// How a person with `methods` contact methods, whose rules and methods
/// made `notifications` jobs, is reached: the one statement of "has no
/// contact method".
pub fn reach(person: Handle, disabled: bool, methods: usize, notifications: usize) -> Reach {
    if disabled {
        Reach::Unreached(Unreached::Disabled(person))
    } else if methods == 0 {
        Reach::Unreached(Unreached::NoContactMethod(person))
    } else if notifications == 0 {
        Reach::Unreached(Unreached::NoRuleForMethods(person))
    } else {
        Reach::Notified(person, notifications)
    }
}

/// Why a step reached nobody, or `None` when it notified someone: nobody
/// named (nobody on call), or each person named could not be reached.
pub fn why_unreachable(people: &[Reach]) -> Option<String> {
    if people.iter().any(|r| matches!(r, Reach::Notified(_, n) if *n > 0)) {
        return None;
    }
    let why: Vec<String> = people
        .iter()
        .map(|r| match r {
            Reach::Unreached(u) => u.to_string(),
            Reach::Notified(h, _) => format!("@{h} has no contact method"),
        })
        .collect();
    if why.is_empty() { Some("nobody is on call".to_owned()) } else { Some(why.join(", ")) }
}

/// Why a step's deliveries reached nobody, when every one of them was given
/// up for good: `None` while any is delivered or still trying, or when the
/// step made none (that step was unreachable already).
pub fn why_deliveries_failed(outcomes: &[DeliveryOutcome], people: &[Handle]) -> Option<String> {
    if outcomes.is_empty() || outcomes.iter().any(|o| *o != DeliveryOutcome::GaveUp) {
        return None;
    }
    let people: Vec<String> = people.iter().map(|p| format!("@{p}")).collect();
    let who = if people.is_empty() { "its people".to_owned() } else { people.join(", ") };
    Some(format!("every notification to {who} failed for good"))
}

/// Where one notification of a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Due later, or being tried.
    Pending,
    Delivered,
    GaveUp,
}

/// A step that reached nobody: what its page does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnreachableDecision {
    /// The next step (`n`, counting from 0) is due now, without the wait.
    EscalateNow { next: u32 },
    /// It was the last step of the last repeat: the page expires, saying so.
    Expire { reason: String },
}

/// What a page does when its step `n` (counting from 0) reached nobody for
/// `why`.
pub fn decide_unreachable(policy: &EscalationPolicy, n: u32, why: &str) -> UnreachableDecision {
    if policy.step(n as usize + 1).is_some() {
        UnreachableDecision::EscalateNow { next: n + 1 }
    } else {
        UnreachableDecision::Expire { reason: format!("step {} reached nobody: {why}; no step is left", n + 1) }
    }
}

/// A step recorded as having reached nobody, on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachableStep {
    /// Counting from 1, repeats included.
    pub step: u32,
    pub why: String,
    pub at: crate::Timestamp,
}

#[cfg(test)]
mod tests;
