//! What happened, measured from the timeline: the incident's moments
//! (started, detected, acknowledged, mitigated, resolved), the durations
//! between them, and the roster of who took part and held which role from
//! when to when.
//!
//! All of it is computed from the events, so it is as complete as the
//! timeline is: nothing is kept beside it. Every duration is measured from
//! the incident's start, as Google's SRE postmortems, Rootly and
//! FireHydrant measure theirs.
//!
//! A moment is the scribe's milestone when one is marked (the last one
//! marked with that tag: marking it again, backdated, keeps the first on the
//! timeline and moves the moment); otherwise it is derived from what the
//! events show, and says so ([`Source`]).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::incident::{Change, Event, Relief};
use crate::page::PageState;
use crate::timeline::{EntryKind, MilestoneTag, TheoryStatus};
use crate::{DomainError, Handle, RoleKind, Scope, Status};

/// Where a moment's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Source {
    /// A milestone on the timeline, the entry `seq`.
    Milestone { seq: u64 },
    /// The declaration.
    Declared,
    /// The first acknowledged page.
    PageAcknowledged,
    /// The status moving to `monitoring`.
    Monitoring,
    /// The status moving to `resolved` (the last time, when reopened).
    StatusResolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Moment {
    pub at: Timestamp,
    #[serde(flatten)]
    pub source: Source,
}

/// The moments every duration is measured between.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Moments {
    /// When the impact began: the `started` milestone, or the declaration.
    pub started: Option<Moment>,
    /// The `detected` milestone (or `impact_detected`), or the declaration.
    pub detected: Option<Moment>,
    /// The `acknowledged` milestone, or the first acknowledged page, or
    /// the declaration when a person declared it.
    pub acknowledged: Option<Moment>,
    /// The `mitigated` milestone, or the status moving to monitoring.
    pub mitigated: Option<Moment>,
    /// The `resolved` milestone, or the status moving to resolved while it
    /// still is.
    pub resolved: Option<Moment>,
}

impl Moments {
    /// The moments `events` show (in `seq` order, from the declaration).
    pub fn of(events: &[Event]) -> Moments {
        let mut marked: BTreeMap<&'static str, Moment> = BTreeMap::new();
        let mut declared: Option<(Timestamp, bool)> = None;
        let mut first_ack: Option<Timestamp> = None;
        let mut monitoring: Option<Timestamp> = None;
        let mut resolved: Option<Timestamp> = None;
        for e in events {
            match &e.change {
                Change::Declared { .. } => {
                    declared = Some((e.at, e.actor.as_str() != crate::intake::SYSTEM));
                }
                Change::Entry { tag: Some(tag), .. } => {
                    let key = match tag {
                        MilestoneTag::ImpactDetected => "impact_detected",
                        other => other.as_str(),
                    };
                    // The last marked wins: a re-marked milestone moves the moment.
                    marked.insert(key, Moment { at: e.at, source: Source::Milestone { seq: e.seq } });
                }
                Change::PageClosed { state: PageState::Acknowledged, .. } if first_ack.is_none() => {
                    first_ack = Some(e.at);
                }
                Change::StatusChanged { to: Status::Monitoring, .. } if monitoring.is_none() => {
                    monitoring = Some(e.at);
                }
                Change::StatusChanged { to: Status::Resolved, .. } => resolved = Some(e.at),
                Change::StatusChanged { from: Status::Resolved, to, .. } if *to != Status::Closed => {
                    resolved = None;
                }
                _ => {}
            }
        }
        let get = |k: &str| marked.get(k).copied();
        let at_declaration = declared.map(|(at, _)| Moment { at, source: Source::Declared });
        Moments {
            started: get("started").or(at_declaration),
            detected: get("detected").or_else(|| get("impact_detected")).or(at_declaration),
            acknowledged: get("acknowledged")
                .or(first_ack.map(|at| Moment { at, source: Source::PageAcknowledged }))
                .or(declared
                    .filter(|(_, by_person)| *by_person)
                    .map(|(at, _)| Moment { at, source: Source::Declared })),
            mitigated: get("mitigated").or(monitoring.map(|at| Moment { at, source: Source::Monitoring })),
            resolved: get("resolved").or(resolved.map(|at| Moment { at, source: Source::StatusResolved })),
        }
    }

    /// Whether a milestone `tag` at `at` may be marked: none precedes the
    /// incident's start, and a `started` milestone comes before every other
    /// one marked.
    pub fn check(&self, events: &[Event], tag: MilestoneTag, at: Timestamp) -> Result<(), DomainError> {
        if tag == MilestoneTag::Started {
            let later: Option<(MilestoneTag, Timestamp)> = events
                .iter()
                .filter_map(|e| match &e.change {
                    Change::Entry { tag: Some(t), .. } if *t != MilestoneTag::Started && e.at < at => Some((*t, e.at)),
                    _ => None,
                })
                .min_by_key(|(_, at)| *at);
            return match later {
                Some((t, before)) => Err(DomainError::invalid(
                    "occurred_at",
                    format!("the impact cannot start after the {t} milestone at {before}: mark it at or before that"),
                )),
                None => Ok(()),
            };
        }
        match self.started {
            Some(start) if at < start.at => Err(DomainError::invalid(
                "occurred_at",
                format!(
                    "a {tag} milestone cannot precede the incident's start at {}; mark when the impact started first",
                    start.at
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The durations from the start.
    pub fn durations(&self) -> Durations {
        let since = |m: Option<Moment>| match (self.started, m) {
            (Some(s), Some(m)) => Some((m.at.as_second() - s.at.as_second()).max(0)),
            _ => None,
        };
        Durations {
            to_detect: since(self.detected),
            to_acknowledge: since(self.acknowledged),
            to_mitigate: since(self.mitigated),
            to_resolve: since(self.resolved),
        }
    }
}

/// Seconds from the incident's start to each moment; none where the moment
/// is not known (not yet mitigated, say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    pub to_detect: Option<i64>,
    pub to_acknowledge: Option<i64>,
    pub to_mitigate: Option<i64>,
    pub to_resolve: Option<i64>,
}

/// One stretch of a role held by one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stint {
    pub role: RoleKind,
    pub scope: Option<Scope>,
    pub from: Timestamp,
    /// None: still held.
    pub to: Option<Timestamp>,
    /// From `from` to `to`, or to the roster's end while still held.
    pub seconds: i64,
    /// How it ended: relieved, replaced, handed over …
    pub ended: Option<String>,
}

/// Someone who took part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    pub handle: Handle,
    pub first_activity: Timestamp,
    pub last_activity: Timestamp,
    /// The timeline entries they made.
    pub entries: u32,
    pub roles: Vec<Stint>,
    /// Seconds in each role, summed over stints.
    pub time_in_role: BTreeMap<String, i64>,
    pub pages_answered: u32,
}

/// Where roles still held stop counting: the resolution of a resolved or
/// closed incident, else `now`.
pub fn counted_until(incident: &crate::Incident, now: Timestamp) -> Timestamp {
    match incident.status {
        Status::Resolved | Status::Closed => incident.resolved_at.unwrap_or(now),
        _ => now,
    }
}

/// Who took part, in the order they first did, computed from `events`;
/// roles still held are counted up to `until` (the resolution, or now).
/// The system's own entries are no one's.
pub fn roster(events: &[Event], until: Timestamp) -> Vec<Participant> {
    let mut people: Vec<Participant> = Vec::new();
    // An assignment's id → its holder's index and the stint's.
    let mut stint_of: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    fn person<'a>(people: &'a mut Vec<Participant>, h: &Handle, at: Timestamp) -> (usize, &'a mut Participant) {
        let i = match people.iter().position(|p| &p.handle == h) {
            Some(i) => i,
            None => {
                people.push(Participant {
                    handle: h.clone(),
                    first_activity: at,
                    last_activity: at,
                    entries: 0,
                    roles: Vec::new(),
                    time_in_role: BTreeMap::new(),
                    pages_answered: 0,
                });
                people.len() - 1
            }
        };
        let p = &mut people[i];
        p.first_activity = p.first_activity.min(at);
        p.last_activity = p.last_activity.max(at);
        (i, p)
    }
    for e in events {
        let system = e.actor.as_str() == crate::intake::SYSTEM;
        if !system && !matches!(e.change, Change::TopicChanged { .. }) {
            let (_, p) = person(&mut people, &e.actor, e.at);
            p.entries += 1;
            if matches!(e.change, Change::PageClosed { state: PageState::Acknowledged, .. }) {
                p.pages_answered += 1;
            }
        }
        match &e.change {
            Change::RoleAssigned { assignment: a, .. } if a.user.as_str() != crate::intake::SYSTEM => {
                let (i, p) = person(&mut people, &a.user, e.at);
                p.roles.push(Stint {
                    role: a.role.clone(),
                    scope: a.scope.clone(),
                    from: e.at,
                    to: None,
                    seconds: 0,
                    ended: None,
                });
                stint_of.insert(a.id, (i, p.roles.len() - 1));
            }
            Change::RoleRelieved { assignment: a, reason } => {
                if let Some((i, j)) = stint_of.remove(&a.id) {
                    let s = &mut people[i].roles[j];
                    s.to = Some(e.at);
                    s.ended = Some(match reason {
                        Relief::Relieved => "relieved".to_owned(),
                        Relief::Replaced { by } => format!("replaced by @{by}"),
                        Relief::HandedOver { to } => format!("handed over to @{to}"),
                        Relief::BecameIncidentManager => "became incident manager".to_owned(),
                        Relief::Narrowed => "narrowed".to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    for p in &mut people {
        for s in &mut p.roles {
            let end = s.to.unwrap_or(until).max(s.from);
            s.seconds = end.as_second() - s.from.as_second();
            *p.time_in_role.entry(s.role.key().to_owned()).or_default() += s.seconds;
        }
    }
    people
}

/// A tech lead's theory and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Theory {
    /// The entry that put it forward.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Handle,
    pub roles: Vec<RoleKind>,
    /// Its words: the latest correction's, when it was corrected.
    pub text: String,
    /// The workstream it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workstream: Option<Scope>,
    /// The last judgement's status; open until judged.
    pub status: TheoryStatus,
    pub judgements: Vec<Judgement>,
}

/// One judgement of a theory, with what it rested on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Handle,
    pub status: TheoryStatus,
    pub evidence: Option<String>,
}

/// The theories on the timeline (`events` in `seq` order), in the order
/// they were put forward, each with its corrections and judgements.
pub fn theories(events: &[Event]) -> Vec<Theory> {
    let mut all: Vec<Theory> = Vec::new();
    for e in events {
        match &e.change {
            Change::Entry { kind: EntryKind::Theory, text, corrects: None, workstream, .. } => all.push(Theory {
                seq: e.seq,
                at: e.at,
                actor: e.actor.clone(),
                roles: e.actor_roles.clone(),
                text: text.clone(),
                workstream: workstream.clone(),
                status: TheoryStatus::Open,
                judgements: Vec::new(),
            }),
            Change::Entry { text, corrects: Some(earlier), .. } => {
                if let Some(t) = all.iter_mut().find(|t| t.seq == *earlier) {
                    t.text = text.clone();
                }
            }
            Change::TheoryJudged { theory, status, evidence, .. } => {
                if let Some(t) = all.iter_mut().find(|t| t.seq == *theory) {
                    t.status = *status;
                    t.judgements.push(Judgement {
                        seq: e.seq,
                        at: e.at,
                        actor: e.actor.clone(),
                        status: *status,
                        evidence: evidence.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    all
}

/// The theory put forward by entry `seq`, as it stands; not found when
/// that entry is not a theory.
pub fn theory(events: &[Event], seq: u64) -> Result<Theory, DomainError> {
    if let Some(t) = theories(events).into_iter().find(|t| t.seq == seq) {
        return Ok(t);
    }
    match events.iter().find(|e| e.seq == seq) {
        Some(e) => Err(DomainError::not_found(
            "id",
            format!("there is no theory {seq}: entry {seq} is a {} entry", e.change.kind().replace('_', " ")),
        )),
        None => Err(DomainError::not_found("id", format!("there is no timeline entry {seq}"))),
    }
}

pub mod document;

#[cfg(test)]
mod tests;
