//! Escalation policies: who gets paged, in which order, after how long
//! without an acknowledgement, and how often the whole policy repeats.

use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;
use crate::{DomainError, Handle, Timestamp};

/// Someone to notify: a person, or whoever is on call on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    User(Handle),
    Schedule(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// How long this step waits for an acknowledgement before the next
    /// step is notified.
    pub delay_seconds: u32,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub name: String,
    /// How many more times the whole policy runs after its last step.
    pub repeat: u32,
    pub steps: Vec<Step>,
}

/// A step may wait at most a day; a policy repeats at most ten times.
pub const MAX_DELAY_SECONDS: u32 = 86_400;
pub const MAX_REPEAT: u32 = 10;

impl EscalationPolicy {
    /// Checks a policy as given; errors name the field.
    pub fn new(name: &str, repeat: u32, steps: Vec<Step>) -> Result<Self, DomainError> {
        let sent = name.chars().count();
        let name = name.trim();
        if name.is_empty() || sent > 100 {
            return Err(DomainError::invalid("name", "a policy name has 1-100 characters"));
        }
        if repeat > MAX_REPEAT {
            return Err(DomainError::invalid("repeat", format!("a policy repeats at most {MAX_REPEAT} times")));
        }
        if steps.is_empty() {
            return Err(DomainError::invalid("steps", "a policy needs at least one step"));
        }
        for (i, step) in steps.iter().enumerate() {
            if step.targets.is_empty() {
                return Err(DomainError::invalid(format!("steps[{i}].targets"), "a step needs at least one target"));
            }
            if step.delay_seconds > MAX_DELAY_SECONDS {
                return Err(DomainError::invalid(
                    format!("steps[{i}].delay_seconds"),
                    "a step waits at most 86400 seconds",
                ));
            }
        }
        Ok(EscalationPolicy { name: name.to_owned(), repeat, steps })
    }

    /// The step notified `n` steps into the escalation (counting repeats),
    /// or `None` once the policy is exhausted.
    pub fn step(&self, n: usize) -> Option<&Step> {
        let total = self.steps.len() * (self.repeat as usize + 1);
        (n < total).then(|| &self.steps[n % self.steps.len()])
    }

    /// The people a step notifies at `t`: its users, and whoever is on call
    /// on its schedules (`schedules` finds a schedule by id). No one twice.
    pub fn people<'a>(
        &self,
        step: &Step,
        t: Timestamp,
        schedules: impl Fn(u64) -> Option<&'a Schedule>,
    ) -> Vec<Handle> {
        let mut out: Vec<Handle> = Vec::new();
        for target in &step.targets {
            let person = match target {
                Target::User(h) => Some(h.clone()),
                Target::Schedule(id) => schedules(*id).and_then(|s| s.on_call(t)).cloned(),
            };
            if let Some(p) = person.filter(|p| !out.contains(p)) {
                out.push(p);
            }
        }
        out
    }
}

/// A policy told as a timeline, one line per step, then its repeats and
/// when the page expires, as the pager runs it: step 1 at once, each next
/// step after the previous step's `delay_seconds` without an answer, the
/// whole policy `repeat` more times, and the page expires after the last
/// step's wait. `schedule_name` names a schedule target by its id.
///
/// ```text
/// at 0 min: the on-call of Primary
/// at 5 min: @carol and the on-call of Primary
/// then again from the start, 2 more times (every 10 min)
/// at 30 min without an answer, the page expires
/// ```
pub fn describe_policy(policy: &EscalationPolicy, schedule_name: &dyn Fn(u64) -> String) -> Vec<String> {
    let mut lines = Vec::with_capacity(policy.steps.len() + 2);
    let mut at: u64 = 0;
    for step in &policy.steps {
        let targets: Vec<String> = step
            .targets
            .iter()
            .map(|t| match t {
                Target::User(h) => format!("@{h}"),
                Target::Schedule(id) => format!("the on-call of {}", schedule_name(*id)),
            })
            .collect();
        lines.push(format!("at {}: {}", minutes(at), and_list(&targets)));
        at += u64::from(step.delay_seconds);
    }
    let round = at;
    if policy.repeat > 0 {
        let times = if policy.repeat == 1 { "1 more time".to_owned() } else { format!("{} more times", policy.repeat) };
        lines.push(format!("then again from the start, {times} (every {})", minutes(round)));
    }
    let end = round * (u64::from(policy.repeat) + 1);
    lines.push(format!("at {} without an answer, the page expires", minutes(end)));
    lines
}

/// A span of seconds as people say it in a timeline: `0 min`, `45 s`,
/// `5 min`, `2 min 30 s`, `1 h 30 min`.
pub fn minutes(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 || (h == 0 && s == 0) {
        parts.push(format!("{m} min"));
    }
    if s > 0 {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => "nobody".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;
    use proptest::prelude::*;

    fn name(id: u64) -> String {
        if id == 1 { "Primary".to_owned() } else { format!("schedule {id}") }
    }

    fn describe(p: &EscalationPolicy) -> Vec<String> {
        describe_policy(p, &name)
    }

    fn step(delay_seconds: u32, targets: Vec<Target>) -> Step {
        Step { delay_seconds, targets }
    }

    #[test]
    fn a_policy_reads_as_a_timeline_from_its_step_delays_and_repeats() {
        let carol = Target::User(Handle::parse("carol").unwrap());
        let steps = vec![step(300, vec![Target::Schedule(1)]), step(300, vec![carol, Target::Schedule(1)])];
        let p = EscalationPolicy::new("Checkout", 2, steps).unwrap();
        assert_eq!(
            describe(&p),
            [
                "at 0 min: the on-call of Primary",
                "at 5 min: @carol and the on-call of Primary",
                "then again from the start, 2 more times (every 10 min)",
                "at 30 min without an answer, the page expires",
            ]
        );
    }

    #[test]
    fn a_step_that_waits_nothing_is_at_the_same_time_as_the_next() {
        // The old CLI's `--step 0=schedule:Primary --step 300=@carol`: both at once.
        let carol = Target::User(Handle::parse("carol").unwrap());
        let dan = Target::User(Handle::parse("dan").unwrap());
        let steps = vec![step(0, vec![Target::Schedule(1)]), step(90, vec![carol, dan, Target::Schedule(7)])];
        let p = EscalationPolicy::new("Checkout", 1, steps).unwrap();
        assert_eq!(
            describe(&p),
            [
                "at 0 min: the on-call of Primary",
                "at 0 min: @carol, @dan and the on-call of schedule 7",
                "then again from the start, 1 more time (every 1 min 30 s)",
                "at 3 min without an answer, the page expires",
            ]
        );
    }

    #[test]
    fn spans_are_said_in_hours_minutes_and_seconds() {
        assert_eq!(minutes(0), "0 min");
        assert_eq!(minutes(45), "45 s");
        assert_eq!(minutes(300), "5 min");
        assert_eq!(minutes(150), "2 min 30 s");
        assert_eq!(minutes(5400), "1 h 30 min");
        assert_eq!(minutes(7200), "2 h");
        assert_eq!(minutes(3601), "1 h 1 s");
    }

    /// The minutes a timeline line starts at, e.g. `at 5 min: …` → 300 s.
    fn seconds_of(line: &str) -> Option<u64> {
        let rest = line.strip_prefix("at ")?;
        let span = rest.split([':']).next()?.trim_end_matches(" without an answer, the page expires");
        let words: Vec<&str> = span.split(' ').collect();
        let mut total = 0;
        for pair in words.chunks(2) {
            let n: u64 = pair[0].parse().ok()?;
            total += n * match pair[1] {
                "h" => 3600,
                "min" => 60,
                "s" => 1,
                _ => return None,
            };
        }
        Some(total)
    }

    proptest! {
        #[test]
        fn a_timeline_has_one_line_per_step_in_time_order_and_ends_with_the_expiry(
            delays in proptest::collection::vec(0u32..=MAX_DELAY_SECONDS, 1..6),
            repeat in 0u32..=MAX_REPEAT,
        ) {
            let steps: Vec<Step> = delays.iter().map(|d| step(*d, vec![Target::Schedule(1)])).collect();
            let p = EscalationPolicy::new("p", repeat, steps).unwrap();
            let lines = describe(&p);
            prop_assert_eq!(lines.len(), delays.len() + usize::from(repeat > 0) + 1);
            let times: Vec<u64> = lines.iter().filter_map(|l| seconds_of(l)).collect();
            prop_assert_eq!(times.len(), delays.len() + 1, "every step and the expiry say when: {:?}", lines);
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order: {:?}", lines);
            let round: u64 = delays.iter().map(|d| u64::from(*d)).sum();
            prop_assert_eq!(*times.last().unwrap(), round * (u64::from(repeat) + 1));
            prop_assert!(lines.last().unwrap().ends_with("the page expires"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Handle {
        Handle::parse(s).unwrap()
    }

    fn policy(repeat: u32) -> EscalationPolicy {
        let steps = vec![
            Step { delay_seconds: 300, targets: vec![Target::Schedule(1)] },
            Step { delay_seconds: 600, targets: vec![Target::User(h("lead")), Target::Schedule(1)] },
        ];
        EscalationPolicy::new("Primary", repeat, steps).unwrap()
    }

    #[test]
    fn steps_run_in_order_and_repeat_then_stop() {
        let p = policy(1);
        let delays: Vec<u32> = (0..5).map_while(|n| p.step(n)).map(|s| s.delay_seconds).collect();
        assert_eq!(delays, [300, 600, 300, 600]);
    }

    #[test]
    fn a_schedule_target_pages_whoever_is_on_call_and_nobody_twice() {
        use crate::schedule::{Layer, Rotation, Schedule, time_zone};
        let schedule = Schedule {
            time_zone: time_zone("UTC").unwrap(),
            layers: vec![Layer {
                rotation: Rotation {
                    users: vec![h("lead")],
                    shift: "1d".parse().unwrap(),
                    handoff: "00:00".parse().unwrap(),
                    start: "2026-01-01".parse().unwrap(),
                },
                restrict: vec![],
            }],
            overrides: vec![],
        };
        let p = policy(0);
        let t: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let find = |id: u64| (id == 1).then_some(&schedule);
        assert_eq!(p.people(p.step(0).unwrap(), t, find), [h("lead")]);
        assert_eq!(p.people(p.step(1).unwrap(), t, find), [h("lead")], "the lead once, though targeted twice");
        let before: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        assert!(p.people(p.step(0).unwrap(), before, find).is_empty(), "nobody on call yet");
    }

    #[test]
    fn bad_policies_name_the_field() {
        let field = |r: Result<EscalationPolicy, DomainError>| match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(EscalationPolicy::new("x", 0, vec![])), "steps");
        assert_eq!(field(EscalationPolicy::new("x", 11, vec![])), "repeat");
        assert_eq!(field(EscalationPolicy::new(" ", 0, vec![])), "name");
        let empty = vec![Step { delay_seconds: 0, targets: vec![] }];
        assert_eq!(field(EscalationPolicy::new("x", 0, empty)), "steps[0].targets");
        let slow = vec![Step { delay_seconds: 90_000, targets: vec![Target::Schedule(1)] }];
        assert_eq!(field(EscalationPolicy::new("x", 0, slow)), "steps[0].delay_seconds");
    }
}

/// How a person is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    /// A JSON POST signed with HMAC-SHA256.
    Webhook,
}

impl ContactKind {
    pub const ALL: [ContactKind; 2] = [ContactKind::Email, ContactKind::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Webhook => "webhook",
        }
    }
}

impl std::str::FromStr for ContactKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "email" => Ok(ContactKind::Email),
            "webhook" => Ok(ContactKind::Webhook),
            other => {
                Err(DomainError::invalid("kind", format!("unknown contact kind {other:?}, expected email or webhook")))
            }
        }
    }
}

/// Checks an address for its kind: an email address, or an http(s) URL.
pub fn contact_address(kind: ContactKind, address: &str) -> Result<String, DomainError> {
    let a = address.trim();
    // Lengths count what was sent, in characters, as the API's document says.
    let sent = address.chars().count();
    let ok = match kind {
        ContactKind::Email => {
            sent <= 254
                && !a.contains(char::is_whitespace)
                && a.split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && (domain.contains('.') || domain == "localhost"))
        }
        ContactKind::Webhook => {
            sent <= 2048
                && !a.contains(char::is_whitespace)
                && ["http://", "https://"].iter().any(|p| a.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        }
    };
    if ok {
        Ok(a.to_owned())
    } else {
        let expected = match kind {
            ContactKind::Email => "an email address",
            ContactKind::Webhook => "an http:// or https:// URL",
        };
        Err(DomainError::invalid("address", format!("{a:?} is not {expected}")))
    }
}

/// An address as shown to someone who may not see it whole: a webhook's
/// scheme and host (its path and query are often credentials), an email's
/// domain. Enough to tell how a person is reached, not to reach them.
pub fn shown_address(kind: ContactKind, address: &str) -> String {
    match kind {
        ContactKind::Email => match address.rsplit_once('@') {
            Some((_, domain)) => format!("…@{domain}"),
            None => "…".to_owned(),
        },
        ContactKind::Webhook => {
            let (scheme, rest) = address.split_once("://").unwrap_or(("http", address));
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}/…")
        }
    }
}

#[cfg(test)]
mod contact_tests {
    use super::*;

    #[test]
    fn a_shown_address_keeps_only_the_scheme_and_host_or_the_domain() {
        let hook = "https://user:pw@hooks.example.com:8443/T0/B1/secret?token=x";
        assert_eq!(shown_address(ContactKind::Webhook, hook), "https://hooks.example.com:8443/…");
        assert_eq!(shown_address(ContactKind::Webhook, "http://h?k=1"), "http://h/…");
        assert_eq!(shown_address(ContactKind::Email, "dan@example.com"), "…@example.com");
    }

    #[test]
    fn addresses_are_checked_for_their_kind() {
        assert!(contact_address(ContactKind::Email, "alice@example.com").is_ok());
        assert!(contact_address(ContactKind::Email, "alice@localhost").is_ok());
        assert!(contact_address(ContactKind::Email, "https://x.test").is_err());
        assert!(contact_address(ContactKind::Email, "@localhost").is_err());
        assert!(contact_address(ContactKind::Webhook, "http://127.0.0.1:9000/hook").is_ok());
        assert!(contact_address(ContactKind::Webhook, "ftp://x").is_err());
        assert!(contact_address(ContactKind::Webhook, "https://").is_err());
    }
}
