//! When the next update for an audience is due: the communications
//! manager's clock.
//!
//! The interval comes from a table of audience × priority × status
//! ([`UpdateCadence`], an admin setting; the defaults follow Netflix
//! Dispatch's reminders, tightened for P1), or from the last update's own
//! `next_update_in_minutes`. The clock starts at declaration; publishing
//! restarts it, a snooze pushes it out, resolving ends it. Everything the
//! clock needs is in the incident's state (its last published update per
//! audience, the snoozes), folded from events, so the due time is a pure
//! function of the state, the table and nothing else.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::update::UpdateAudience;
use crate::{DomainError, Incident, Priority, Status};

/// Minutes between two updates of an audience at a priority: while
/// investigating or identified (`active`), and while monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub active: u32,
    pub monitoring: u32,
}

/// The table: per audience, per priority, an interval; a priority left out
/// has no cadence for that audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCadence {
    #[serde(default)]
    pub internal: BTreeMap<Priority, Interval>,
    #[serde(default)]
    pub external: BTreeMap<Priority, Interval>,
    #[serde(default)]
    pub executive: BTreeMap<Priority, Interval>,
    /// Minutes past due after which the incident manager is reminded too.
    #[serde(default = "default_escalate")]
    pub escalate_after_minutes: u32,
}

fn default_escalate() -> u32 {
    10
}

/// The settings key of the table.
pub const SETTING: &str = "update_cadence";

/// Snoozes a reminder may take, in minutes.
pub const SNOOZES: [u32; 3] = [30, 60, 120];

/// The longest interval the table takes: a day.
pub const MAX_INTERVAL_MINUTES: u32 = 24 * 60;

impl Default for UpdateCadence {
    /// Internal: P1 30 min while investigating or identified, 60 monitoring;
    /// P2 60 / 120. External: the same. Executive: P1 60, P2 240. P3 and
    /// P4: none. The incident manager 10 minutes past due.
    fn default() -> Self {
        let table = |p1: (u32, u32), p2: (u32, u32)| {
            BTreeMap::from([
                (Priority::P1, Interval { active: p1.0, monitoring: p1.1 }),
                (Priority::P2, Interval { active: p2.0, monitoring: p2.1 }),
            ])
        };
        UpdateCadence {
            internal: table((30, 60), (60, 120)),
            external: table((30, 60), (60, 120)),
            executive: table((60, 60), (240, 240)),
            escalate_after_minutes: default_escalate(),
        }
    }
}

impl UpdateCadence {
    fn of(&self, audience: UpdateAudience) -> &BTreeMap<Priority, Interval> {
        match audience {
            UpdateAudience::Internal => &self.internal,
            UpdateAudience::External => &self.external,
            UpdateAudience::Executive => &self.executive,
        }
    }

    /// Minutes between updates for `audience` at `priority` in `status`;
    /// `None`: no cadence (or the incident is no longer open).
    pub fn minutes(&self, audience: UpdateAudience, priority: Priority, status: Status) -> Option<u32> {
        let interval = self.of(audience).get(&priority)?;
        match status {
            Status::Investigating | Status::Identified => Some(interval.active),
            Status::Monitoring => Some(interval.monitoring),
            Status::Resolved | Status::Closed => None,
        }
    }

    /// Checks a table an admin sends: every interval 1..=a day, the
    /// escalation 1..=a day. The refusal names the field.
    pub fn check(&self) -> Result<(), DomainError> {
        let bounded = |m: u32| (1..=MAX_INTERVAL_MINUTES).contains(&m);
        for audience in UpdateAudience::ALL {
            for (priority, i) in self.of(audience) {
                for (name, m) in [("active", i.active), ("monitoring", i.monitoring)] {
                    if !bounded(m) {
                        return Err(DomainError::invalid(
                            format!("{audience}.{priority}.{name}"),
                            format!("between 1 and {MAX_INTERVAL_MINUTES} minutes"),
                        ));
                    }
                }
            }
        }
        if !bounded(self.escalate_after_minutes) {
            return Err(DomainError::invalid(
                "escalate_after_minutes",
                format!("between 1 and {MAX_INTERVAL_MINUTES} minutes"),
            ));
        }
        Ok(())
    }
}

/// What the incident's state keeps per audience for its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AudienceClock {
    /// When the last update for the audience was published.
    pub published_at: Option<Timestamp>,
    /// What that update said about the next one.
    pub next_update_in_minutes: Option<u32>,
    /// A snooze since: the reminder waits until then.
    pub snoozed_until: Option<Timestamp>,
}

/// Each audience's clock, in the incident's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Clocks {
    #[serde(default)]
    pub internal: AudienceClock,
    #[serde(default)]
    pub external: AudienceClock,
    #[serde(default)]
    pub executive: AudienceClock,
}

impl Clocks {
    pub fn get(&self, audience: UpdateAudience) -> AudienceClock {
        match audience {
            UpdateAudience::Internal => self.internal,
            UpdateAudience::External => self.external,
            UpdateAudience::Executive => self.executive,
        }
    }

    pub(crate) fn get_mut(&mut self, audience: UpdateAudience) -> &mut AudienceClock {
        match audience {
            UpdateAudience::Internal => &mut self.internal,
            UpdateAudience::External => &mut self.external,
            UpdateAudience::Executive => &mut self.executive,
        }
    }
}

/// The next update for an audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub at: Timestamp,
    /// Past `at` by now (zero before).
    pub overdue_minutes: i64,
}

/// When `incident`'s next update for `audience` is due, as of `now`;
/// `None` when there is no cadence for it (a P3, a resolved incident, a
/// table without the priority and no `next_update_in_minutes`).
pub fn next_due(incident: &Incident, audience: UpdateAudience, table: &UpdateCadence, now: Timestamp) -> Option<Due> {
    if !incident.status.is_open() {
        return None;
    }
    let clock = incident.clock(audience);
    let minutes = clock
        .next_update_in_minutes
        .filter(|_| clock.published_at.is_some())
        .or_else(|| table.minutes(audience, incident.priority, incident.status))?;
    let since = clock.published_at.unwrap_or(incident.declared_at);
    let mut at = since.checked_add(SignedDuration::from_mins(i64::from(minutes))).ok()?;
    if let Some(until) = clock.snoozed_until
        && until > at
    {
        at = until;
    }
    let overdue_minutes = if now > at { now.duration_since(at).as_mins() } else { 0 };
    Some(Due { at, overdue_minutes })
}

/// Whether `change` may move an audience's clock: the reminders are then
/// scheduled again.
pub fn moves_clock(change: &crate::Change) -> bool {
    use crate::Change;
    matches!(
        change,
        Change::Declared { .. }
            | Change::PriorityChanged { .. }
            | Change::StatusChanged { .. }
            | Change::UpdatePublished { .. }
            | Change::UpdateSnoozed { .. }
    )
}

/// Who is reminded of `audience`'s due update: the communications managers
/// who cover it, else the incident manager; past the grace (`overdue`), the
/// incident manager too.
pub fn reminded(incident: &Incident, audience: UpdateAudience, overdue: bool) -> Vec<crate::Handle> {
    let covering = audience.communications();
    let mut people: Vec<crate::Handle> = incident
        .roles
        .iter()
        .filter(|a| incident.communications_covered_by(&a.user).contains(&covering))
        .map(|a| a.user.clone())
        .collect();
    if people.is_empty() || overdue {
        people.extend(incident.incident_manager().map(|a| a.user.clone()));
    }
    people.dedup();
    let mut seen = std::collections::HashSet::new();
    people.retain(|p| seen.insert(p.clone()));
    people
}

/// Checks a snooze: 30, 60 or 120 minutes.
pub fn check_snooze(minutes: u32) -> Result<(), DomainError> {
    if SNOOZES.contains(&minutes) {
        Ok(())
    } else {
        Err(DomainError::invalid("minutes", "a reminder snoozes for 30, 60 or 120 minutes"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::incident::{Command, Context};
    use crate::update::{UpdateContent, UpdateInput};
    use crate::{Actor, Handle, Permission, RoleCatalog};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn admin() -> Actor {
        Actor { handle: Handle::parse("ada").unwrap(), permission: Permission::Admin }
    }

    fn declared(priority: Priority, at: Timestamp) -> Incident {
        let catalog = RoleCatalog::default();
        let d = crate::incident::Declaration {
            title: "Checkout fails".into(),
            summary: String::new(),
            priority,
            incident_manager: admin(),
        };
        Incident::declare(1, d, Context { actor: &admin(), now: at, catalog: &catalog }).unwrap().0
    }

    fn run(i: &Incident, command: Command, now: Timestamp) -> Incident {
        let catalog = RoleCatalog::default();
        i.execute(command, Context { actor: &admin(), now, catalog: &catalog }).unwrap().0
    }

    fn publish(i: &Incident, audience: UpdateAudience, next: Option<u32>, now: Timestamp) -> Incident {
        let input = UpdateInput { body: "news".into(), next_update_in_minutes: next, ..UpdateInput::default() };
        let content = UpdateContent::new(audience, input).unwrap();
        run(i, Command::PublishUpdate { update: 1, content }, now)
    }

    #[test]
    fn a_p1_is_due_30_minutes_after_declaration_and_publishing_restarts_the_clock() {
        let table = UpdateCadence::default();
        let i = declared(Priority::P1, t("2026-12-01T10:00:00Z"));
        let due = |i: &Incident, now| next_due(i, UpdateAudience::Internal, &table, t(now));
        assert_eq!(due(&i, "2026-12-01T10:29:00Z"), Some(Due { at: t("2026-12-01T10:30:00Z"), overdue_minutes: 0 }));
        assert_eq!(due(&i, "2026-12-01T10:41:00Z").unwrap().overdue_minutes, 11);
        let i = publish(&i, UpdateAudience::Internal, None, t("2026-12-01T10:41:00Z"));
        assert_eq!(due(&i, "2026-12-01T10:41:00Z").unwrap().at, t("2026-12-01T11:11:00Z"));
        // The other audiences keep their own clocks.
        let executive = next_due(&i, UpdateAudience::Executive, &table, t("2026-12-01T10:41:00Z"));
        assert_eq!(executive.unwrap().at, t("2026-12-01T11:00:00Z"));
        // An update that says when the next one comes sets it.
        let i = publish(&i, UpdateAudience::Internal, Some(15), t("2026-12-01T10:50:00Z"));
        assert_eq!(due(&i, "2026-12-01T10:50:00Z").unwrap().at, t("2026-12-01T11:05:00Z"));
    }

    #[test]
    fn a_snooze_moves_the_clock_and_resolving_stops_it() {
        let table = UpdateCadence::default();
        let i = declared(Priority::P2, t("2026-12-01T10:00:00Z"));
        let due = |i: &Incident| next_due(i, UpdateAudience::External, &table, t("2026-12-01T11:05:00Z"));
        assert_eq!(due(&i).unwrap().at, t("2026-12-01T11:00:00Z"));
        let i = run(
            &i,
            Command::SnoozeUpdate { audience: UpdateAudience::External, minutes: 30 },
            t("2026-12-01T11:05:00Z"),
        );
        assert_eq!(due(&i), Some(Due { at: t("2026-12-01T11:35:00Z"), overdue_minutes: 0 }));
        let monitoring =
            Command::Update { title: None, summary: None, priority: None, status: Some(Status::Monitoring) };
        let i = run(&i, monitoring, t("2026-12-01T11:06:00Z"));
        assert_eq!(due(&i).unwrap().at, t("2026-12-01T12:00:00Z"), "P2 monitoring: 120 min from declaration");
        let resolved = Command::Update { title: None, summary: None, priority: None, status: Some(Status::Resolved) };
        let i = run(&i, resolved, t("2026-12-01T11:07:00Z"));
        assert_eq!(due(&i), None);
        let p3 = declared(Priority::P3, t("2026-12-01T10:00:00Z"));
        assert_eq!(next_due(&p3, UpdateAudience::Internal, &table, t("2026-12-01T10:00:00Z")), None);
    }

    #[test]
    fn a_table_out_of_bounds_is_refused_naming_the_cell() {
        let mut table = UpdateCadence::default();
        table.external.insert(Priority::P3, Interval { active: 0, monitoring: 30 });
        assert_eq!(
            table.check().unwrap_err(),
            DomainError::invalid("external.P3.active", "between 1 and 1440 minutes")
        );
        assert!(check_snooze(45).is_err() && check_snooze(60).is_ok());
        let read: UpdateCadence =
            serde_json::from_str(r#"{"internal": {"P1": {"active": 15, "monitoring": 30}}}"#).unwrap();
        assert_eq!(
            (read.minutes(UpdateAudience::Internal, Priority::P1, Status::Identified), read.escalate_after_minutes),
            (Some(15), 10)
        );
        assert_eq!(read.minutes(UpdateAudience::External, Priority::P1, Status::Identified), None);
    }

    proptest! {
        /// However the clock was moved, the next update is never due before
        /// the last thing that moved it, and a published update is never
        /// overdue at the moment it is published.
        #[test]
        fn the_clock_never_runs_backwards(
            steps in proptest::collection::vec((0u8..3, 1u32..200, 0usize..3), 1..12),
            priority in 0usize..2,
        ) {
            let table = UpdateCadence::default();
            let mut now = t("2026-12-01T10:00:00Z");
            let mut i = declared(Priority::ALL[priority], now);
            for (what, gap, audience) in steps {
                now = now.checked_add(SignedDuration::from_mins(i64::from(gap))).unwrap();
                let audience = UpdateAudience::ALL[audience];
                match what {
                    0 => i = publish(&i, audience, None, now),
                    1 => i = run(&i, Command::SnoozeUpdate { audience, minutes: SNOOZES[(gap % 3) as usize] }, now),
                    _ => {}
                }
                let due = next_due(&i, audience, &table, now).unwrap();
                let clock = i.clock(audience);
                let since = clock.published_at.unwrap_or(i.declared_at);
                prop_assert!(due.at > since);
                if what == 0 {
                    prop_assert_eq!(due.overdue_minutes, 0);
                }
                if what == 1 {
                    prop_assert!(due.at >= now);
                }
            }
        }
    }
}
