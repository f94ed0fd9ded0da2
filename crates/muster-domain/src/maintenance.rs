//! Scheduled maintenance on the status page: a window announced ahead,
//! its components under maintenance while it runs, and its states in
//! Statuspage's words (`scheduled → in_progress → verifying → completed`,
//! never back). With `auto_start` and `auto_complete` the window's own
//! times move it; its reminder, start and end are timers in the outbox
//! (see [`timers`]), and each step tells the subscribers.

use std::fmt;
use std::str::FromStr;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::{DomainError, Timestamp};

/// Characters in a maintenance's title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Characters in what a maintenance (or one of its updates) says.
pub const MAX_BODY_CHARS: usize = 5_000;
/// The longest window.
pub const MAX_WINDOW_DAYS: i64 = 14;
/// How long ahead a window may be announced.
pub const MAX_AHEAD_DAYS: i64 = 366;
/// The earliest reminder, in minutes before the start.
pub const MAX_REMIND_MINUTES: u32 = 7 * 24 * 60;

/// Where a maintenance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceState {
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl MaintenanceState {
    pub const ALL: [MaintenanceState; 4] = [
        MaintenanceState::Scheduled,
        MaintenanceState::InProgress,
        MaintenanceState::Verifying,
        MaintenanceState::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceState::Scheduled => "scheduled",
            MaintenanceState::InProgress => "in_progress",
            MaintenanceState::Verifying => "verifying",
            MaintenanceState::Completed => "completed",
        }
    }

    /// How customers read it.
    pub fn label(self) -> &'static str {
        match self {
            MaintenanceState::Scheduled => "Scheduled",
            MaintenanceState::InProgress => "In progress",
            MaintenanceState::Verifying => "Verifying",
            MaintenanceState::Completed => "Completed",
        }
    }

    /// Whether its components are under maintenance in this state.
    pub fn holds_components(self) -> bool {
        matches!(self, MaintenanceState::InProgress | MaintenanceState::Verifying)
    }

    /// Whether a maintenance may go from `self` to `to`: forward only; an
    /// update in the same state is no move (see [`MaintenanceState::check_move`]).
    pub fn may_become(self, to: MaintenanceState) -> bool {
        self != MaintenanceState::Completed && to > self
    }

    /// `Ok` when `to` is the same state (an update) or a step forward.
    pub fn check_move(self, to: MaintenanceState) -> Result<(), DomainError> {
        if to == self && self != MaintenanceState::Completed || self.may_become(to) {
            return Ok(());
        }
        Err(DomainError::Conflict(format!(
            "the maintenance is {}: it cannot become {} (it only moves forward: scheduled, in_progress, verifying, completed)",
            self.as_str(),
            to.as_str()
        )))
    }
}

impl fmt::Display for MaintenanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MaintenanceState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MaintenanceState::ALL.into_iter().find(|m| m.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid(
                "status",
                format!("{s:?} is not a maintenance state: one of scheduled, in_progress, verifying, completed"),
            )
        })
    }
}

/// A maintenance window as its author writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceSpec {
    pub title: String,
    pub body: String,
    /// Component ids, each once, at least one.
    pub components: Vec<u64>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub auto_start: bool,
    pub auto_complete: bool,
    /// Subscribers are reminded this long before the start; `None`: not.
    pub remind_minutes_before: Option<u32>,
}

impl MaintenanceSpec {
    /// The window as written, checked at `now` (naming the field at
    /// fault), trimmed, each component once.
    pub fn checked(self, now: Timestamp) -> Result<MaintenanceSpec, DomainError> {
        let MaintenanceSpec {
            title,
            body,
            components,
            starts_at,
            ends_at,
            auto_start,
            auto_complete,
            remind_minutes_before,
        } = self;
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(DomainError::invalid("title", format!("a title has 1 to {MAX_TITLE_CHARS} characters")));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(DomainError::invalid("body", format!("it says at most {MAX_BODY_CHARS} characters")));
        }
        let mut ids = Vec::with_capacity(components.len());
        for c in components {
            if !ids.contains(&c) {
                ids.push(c);
            }
        }
        if ids.is_empty() {
            return Err(DomainError::invalid("components", "a maintenance is of at least one component"));
        }
        if ends_at <= starts_at {
            return Err(DomainError::invalid("ends_at", "a maintenance ends after it starts"));
        }
        if ends_at <= now {
            return Err(DomainError::invalid("ends_at", "that window is over already"));
        }
        if ends_at.duration_since(starts_at) > SignedDuration::from_hours(24 * MAX_WINDOW_DAYS) {
            return Err(DomainError::invalid("ends_at", format!("a window lasts at most {MAX_WINDOW_DAYS} days")));
        }
        if starts_at.duration_since(now) > SignedDuration::from_hours(24 * MAX_AHEAD_DAYS) {
            return Err(DomainError::invalid(
                "starts_at",
                format!("a window is announced at most {MAX_AHEAD_DAYS} days ahead"),
            ));
        }
        if let Some(m) = remind_minutes_before
            && m > MAX_REMIND_MINUTES
        {
            return Err(DomainError::invalid(
                "remind_minutes_before",
                format!("remind at most {MAX_REMIND_MINUTES} minutes (a week) before"),
            ));
        }
        Ok(MaintenanceSpec {
            title: title.to_owned(),
            body: body.trim().to_owned(),
            components: ids,
            starts_at,
            ends_at,
            auto_start,
            auto_complete,
            remind_minutes_before: remind_minutes_before.filter(|m| *m > 0),
        })
    }
}

/// A timer a maintenance sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Remind the subscribers that it starts soon.
    Remind,
    /// Start it (`auto_start`).
    Start,
    /// Complete it (`auto_complete`).
    Complete,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Remind => "remind",
            Step::Start => "start",
            Step::Complete => "complete",
        }
    }
}

/// The timers of a window announced at `now`, in time order: a reminder
/// when one is asked for and still ahead, the start and the end when
/// they are automatic. A timer already past is due at once.
pub fn timers(spec: &MaintenanceSpec, now: Timestamp) -> Vec<(Step, Timestamp)> {
    let mut out = Vec::new();
    if let Some(m) = spec.remind_minutes_before {
        let at = spec.starts_at.checked_sub(SignedDuration::from_mins(i64::from(m))).unwrap_or(spec.starts_at);
        if at > now {
            out.push((Step::Remind, at));
        }
    }
    if spec.auto_start {
        out.push((Step::Start, spec.starts_at.max(now)));
    }
    if spec.auto_complete {
        out.push((Step::Complete, spec.ends_at.max(now)));
    }
    out
}

/// What timer `step` does to a maintenance in `state`: the state it moves
/// to (`None`: stays), or nothing at all when it is stale (a reminder once
/// the window began, a start once it is under way, anything once done).
pub fn on_timer(step: Step, state: MaintenanceState) -> Option<Option<MaintenanceState>> {
    match (step, state) {
        (Step::Remind, MaintenanceState::Scheduled) => Some(None),
        (Step::Start, MaintenanceState::Scheduled) => Some(Some(MaintenanceState::InProgress)),
        (Step::Complete, MaintenanceState::Completed) => None,
        (Step::Complete, _) => Some(Some(MaintenanceState::Completed)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn spec(
        title: &str,
        components: Vec<u64>,
        starts_at: Timestamp,
        ends_at: Timestamp,
        remind: Option<u32>,
        (auto_start, auto_complete): (bool, bool),
    ) -> MaintenanceSpec {
        MaintenanceSpec {
            title: title.into(),
            body: String::new(),
            components,
            starts_at,
            ends_at,
            auto_start,
            auto_complete,
            remind_minutes_before: remind,
        }
    }

    fn state() -> impl Strategy<Value = MaintenanceState> {
        prop::sample::select(MaintenanceState::ALL.to_vec())
    }

    fn step() -> impl Strategy<Value = Step> {
        prop::sample::select(vec![Step::Remind, Step::Start, Step::Complete])
    }

    proptest! {
        #[test]
        fn a_maintenance_never_moves_back_and_nothing_follows_completion(from in state(), to in state()) {
            let allowed = from.check_move(to).is_ok();
            prop_assert_eq!(allowed, from != MaintenanceState::Completed && to >= from);
        }

        #[test]
        fn a_timer_only_moves_a_maintenance_forward(step in step(), from in state()) {
            if let Some(Some(to)) = on_timer(step, from) {
                prop_assert!(from.may_become(to));
            }
            if from == MaintenanceState::Completed {
                prop_assert_eq!(on_timer(step, from), None);
            }
        }

        #[test]
        fn timers_come_in_order_none_before_now_nor_after_the_end(
            start in 0i64..10_000, length in 1i64..10_000, remind in proptest::option::of(0u32..20_000),
            auto_start: bool, auto_complete: bool,
        ) {
            let now = at("2026-12-01T00:00:00Z");
            let starts_at = now.checked_add(SignedDuration::from_mins(start - 100)).unwrap();
            let ends_at = starts_at.checked_add(SignedDuration::from_mins(length)).unwrap();
            prop_assume!(ends_at > now);
            let spec = spec("Database upgrade", vec![1], starts_at, ends_at, remind, (auto_start, auto_complete)).checked(now);
            let Ok(spec) = spec else { return Ok(()) };
            let timers = timers(&spec, now);
            prop_assert!(timers.windows(2).all(|w| w[0].1 <= w[1].1), "{:?}", timers);
            prop_assert!(timers.iter().all(|(_, t)| *t >= now && *t <= ends_at));
            prop_assert_eq!(timers.iter().any(|(s, _)| *s == Step::Start), auto_start);
            prop_assert_eq!(timers.iter().any(|(s, _)| *s == Step::Complete), auto_complete);
        }
    }

    #[test]
    fn a_window_is_checked_naming_the_field_at_fault() {
        let now = at("2026-12-01T10:00:00Z");
        let (s, e) = (at("2026-12-02T01:00:00Z"), at("2026-12-02T03:00:00Z"));
        let field = |r: Result<MaintenanceSpec, DomainError>| match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(spec(" ", vec![1], s, e, None, (true, true)).checked(now)), "title");
        assert_eq!(field(spec("DB", vec![], s, e, None, (true, true)).checked(now)), "components");
        assert_eq!(field(spec("DB", vec![1], e, s, None, (true, true)).checked(now)), "ends_at");
        let past = at("2026-11-30T10:00:00Z");
        assert_eq!(field(spec("DB", vec![1], past, past, None, (true, true)).checked(now)), "ends_at");
        let ok = spec("DB", vec![2, 1, 2], s, e, Some(60), (true, true)).checked(now).unwrap();
        assert_eq!(ok.components, [2, 1]);
        let far = at("2026-12-20T03:00:00Z");
        assert_eq!(field(spec("DB", vec![1], s, far, None, (true, true)).checked(now)), "ends_at");
        let r = spec("DB", vec![1], s, e, Some(MAX_REMIND_MINUTES + 1), (true, true)).checked(now);
        assert_eq!(field(r), "remind_minutes_before");
    }
}
