//! Actions as things: an `action` entry on the timeline may be tracked —
//! given an owner, a due time, a status (`open`, `done`, `cancelled`), a
//! ticket, and marked a **follow-up**: work after the incident, which the
//! postmortem lists as its action items and which is reminded to its owner
//! when due and weekly while overdue.
//!
//! The action's words are its entry's and never change; each change of its
//! tracking is an `action_tracked` event carrying the whole tracking, so the
//! timeline tells every step and the incident's state keeps the latest
//! (`Incident::actions`).

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::incident::{Change, Event};
use crate::timeline::EntryKind;
use crate::{DomainError, Handle, RoleKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    #[default]
    Open,
    Done,
    Cancelled,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 3] = [ActionStatus::Open, ActionStatus::Done, ActionStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Open => "open",
            ActionStatus::Done => "done",
            ActionStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionStatus::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            DomainError::invalid("status", format!("unknown status {s:?}, expected open, done or cancelled"))
        })
    }
}

/// How an action is tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tracking {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Handle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    #[serde(default)]
    pub status: ActionStatus,
    /// Work after the incident: listed in the postmortem's action items
    /// and across incidents.
    #[serde(default)]
    pub follow_up: bool,
    /// Where it is tracked besides: a ticket's key or URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// A ticket's key or URL has at most this many characters.
pub const MAX_TICKET: usize = 500;

impl Tracking {
    /// Checks a tracking asked for: a ticket of 1-500 characters, trimmed.
    pub fn checked(mut self) -> Result<Tracking, DomainError> {
        self.ticket = self.ticket.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if self.ticket.as_ref().is_some_and(|t| t.chars().count() > MAX_TICKET) {
            return Err(DomainError::invalid("ticket", format!("a ticket has at most {MAX_TICKET} characters")));
        }
        Ok(self)
    }

    /// Open, with a due time passed.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.status == ActionStatus::Open && self.due_at.is_some_and(|d| d <= now)
    }
}

/// How often an overdue follow-up is reminded again.
pub const REMIND_EVERY: SignedDuration = SignedDuration::from_hours(24 * 7);

/// When the owner of an open follow-up due at `due_at` is reminded, the
/// `nth` time (0: when it falls due, then weekly).
pub fn reminder_at(due_at: Timestamp, nth: u32) -> Timestamp {
    due_at.saturating_add(REMIND_EVERY * nth as i32).unwrap_or(due_at)
}

/// Whether a reminder for the tracking `due_at` still stands: the action
/// is an open follow-up with that due time and an owner to remind.
pub fn reminder_stands(t: &Tracking, due_at: Timestamp) -> bool {
    reminded(t) && t.due_at == Some(due_at)
}

/// Whether an action tracked so has an owner to remind at a due time.
pub fn reminded(t: &Tracking) -> bool {
    t.follow_up && t.status == ActionStatus::Open && t.due_at.is_some() && t.owner.is_some()
}

/// Whether a tracking change starts a new run of reminders: the follow-up
/// comes to have an owner to remind at a due time, or another owner or due
/// time. (A change of ticket keeps the run going; done or cancelled ends it.)
pub fn starts_reminders(before: Option<&Tracking>, after: &Tracking) -> bool {
    reminded(after)
        && match before {
            Some(b) if reminded(b) => b.due_at != after.due_at || b.owner != after.owner,
            _ => true,
        }
}

/// An action on the timeline and how it is tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionItem {
    /// The entry that recorded it.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Handle,
    pub roles: Vec<RoleKind>,
    /// Its words: the latest correction's.
    pub text: String,
    /// The workstream it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workstream: Option<crate::Scope>,
    pub tracking: Tracking,
}

/// The actions on the timeline (`events` in `seq` order), each with its
/// latest tracking.
pub fn actions(events: &[Event]) -> Vec<ActionItem> {
    let mut all: Vec<ActionItem> = Vec::new();
    for e in events {
        match &e.change {
            Change::Entry { kind: EntryKind::Action, text, corrects: None, workstream, .. } => all.push(ActionItem {
                seq: e.seq,
                at: e.at,
                actor: e.actor.clone(),
                roles: e.actor_roles.clone(),
                text: text.clone(),
                workstream: workstream.clone(),
                tracking: Tracking::default(),
            }),
            Change::Entry { text, corrects: Some(earlier), .. } => {
                if let Some(a) = all.iter_mut().find(|a| a.seq == *earlier) {
                    a.text = text.clone();
                }
            }
            Change::ActionTracked { action, tracking, .. } => {
                if let Some(a) = all.iter_mut().find(|a| a.seq == *action) {
                    a.tracking = tracking.clone();
                }
            }
            _ => {}
        }
    }
    all
}

/// The action recorded by entry `seq`; not found when that entry is not
/// an action.
pub fn action(events: &[Event], seq: u64) -> Result<ActionItem, DomainError> {
    if let Some(a) = actions(events).into_iter().find(|a| a.seq == seq) {
        return Ok(a);
    }
    match events.iter().find(|e| e.seq == seq) {
        Some(e) => Err(DomainError::not_found(
            "id",
            format!("there is no action {seq}: entry {seq} is a {} entry", e.change.kind().replace('_', " ")),
        )),
        None => Err(DomainError::not_found("id", format!("there is no timeline entry {seq}"))),
    }
}

/// The sentence of a tracking change on the timeline: what changed from
/// `before` to `after`.
pub fn describe_change(by: &Handle, action: u64, before: &Tracking, after: &Tracking) -> String {
    let mut said = Vec::new();
    if before.status != after.status {
        said.push(match after.status {
            ActionStatus::Done => "marked it done".to_owned(),
            ActionStatus::Cancelled => "cancelled it".to_owned(),
            ActionStatus::Open => "reopened it".to_owned(),
        });
    }
    if before.follow_up != after.follow_up {
        said.push(if after.follow_up { "made it a follow-up" } else { "made it no follow-up" }.to_owned());
    }
    if before.owner != after.owner {
        said.push(match &after.owner {
            Some(o) => format!("gave it to @{o}"),
            None => "left it without an owner".to_owned(),
        });
    }
    if before.due_at != after.due_at {
        said.push(match after.due_at {
            Some(d) => format!("set it due {}", d.strftime("%Y-%m-%d %H:%M UTC")),
            None => "took its due time off".to_owned(),
        });
    }
    if before.ticket != after.ticket {
        said.push(match &after.ticket {
            Some(t) => format!("linked {t}"),
            None => "unlinked its ticket".to_owned(),
        });
    }
    if said.is_empty() {
        said.push("tracked it".to_owned());
    }
    format!("@{by} {} (action {action})", said.join(", "))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn an_overdue_follow_up_is_reminded_when_due_then_every_week() {
        let due = t("2026-12-01T09:00:00Z");
        assert_eq!(reminder_at(due, 0), due);
        assert_eq!(reminder_at(due, 1), t("2026-12-08T09:00:00Z"));
        assert_eq!(reminder_at(due, 3), t("2026-12-22T09:00:00Z"));
        let open = Tracking {
            owner: Some(Handle::parse("carol").unwrap()),
            due_at: Some(due),
            follow_up: true,
            ..Tracking::default()
        };
        assert!(reminder_stands(&open, due));
        assert!(!reminder_stands(&Tracking { status: ActionStatus::Done, ..open.clone() }, due));
        assert!(!reminder_stands(&Tracking { due_at: Some(reminder_at(due, 1)), ..open.clone() }, due));
        assert!(!reminder_stands(&Tracking { owner: None, ..open.clone() }, due));
        assert!(!open.overdue(t("2026-12-01T08:59:59Z")) && open.overdue(due));
        assert!(starts_reminders(None, &open));
        assert!(!starts_reminders(Some(&open), &Tracking { ticket: Some("OPS-1".into()), ..open.clone() }));
        assert!(starts_reminders(Some(&open), &Tracking { due_at: Some(reminder_at(due, 1)), ..open.clone() }));
        let done = Tracking { status: ActionStatus::Done, ..open.clone() };
        assert!(!starts_reminders(Some(&open), &done));
        assert!(starts_reminders(Some(&done), &open), "reopened: reminded again");
    }

    proptest! {
        /// Whatever changes, the sentence names each field that changed and
        /// nothing when none did but that it was tracked.
        #[test]
        fn the_timeline_says_what_changed(a in 0usize..3, b in 0usize..3, fa: bool, fb: bool, da in 0u8..3, db in 0u8..3) {
            let by = Handle::parse("dan").unwrap();
            let due = |d: u8| (d > 0).then(|| t("2026-12-01T09:00:00Z") + SignedDuration::from_hours(d as i64));
            let before = Tracking { status: ActionStatus::ALL[a], follow_up: fa, due_at: due(da), ..Tracking::default() };
            let after = Tracking { status: ActionStatus::ALL[b], follow_up: fb, due_at: due(db), ..Tracking::default() };
            let s = describe_change(&by, 7, &before, &after);
            prop_assert!(s.starts_with("@dan ") && s.ends_with("(action 7)"));
            prop_assert_eq!(a != b, s.contains("done") || s.contains("cancelled it") || s.contains("reopened"));
            prop_assert_eq!(fa != fb, s.contains("follow-up"));
            prop_assert_eq!(da != db, s.contains("due"));
        }
    }
}
