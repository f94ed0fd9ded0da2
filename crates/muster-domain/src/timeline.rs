//! How events read on the timeline, and the hash chain.
//!
//! Every event is a timeline entry: its `kind` is a stable string for
//! filtering, its `text` a sentence for people, its `data` the event's fields.
//! Each event's hash covers the previous event's hash and the event's own
//! fields, so changing or dropping a stored entry breaks the chain from that
//! point on ([`verify_chain`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::incident::{Change, Event, Relief, Via};
use crate::{DomainError, Incident};

/// The kinds of entry people write themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Note,
    Theory,
    Decision,
    Action,
    Milestone,
    /// A line said in the incident room.
    Message,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Note,
        EntryKind::Theory,
        EntryKind::Decision,
        EntryKind::Action,
        EntryKind::Milestone,
        EntryKind::Message,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Note => "note",
            EntryKind::Theory => "theory",
            EntryKind::Decision => "decision",
            EntryKind::Action => "action",
            EntryKind::Milestone => "milestone",
            EntryKind::Message => "message",
        }
    }
}

impl FromStr for EntryKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid(
                "kind",
                format!("unknown entry kind {s:?}, expected one of note, theory, decision, action, milestone, message"),
            )
        })
    }
}

/// The moments of an incident that postmortems measure from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneTag {
    /// The impact began: what every duration is measured from.
    Started,
    /// Someone (or something) noticed.
    Detected,
    /// A responder took it on.
    Acknowledged,
    /// When impact was detected; counts as `detected` where that is not marked.
    ImpactDetected,
    CustomersNotified,
    CauseIdentified,
    FixDeployed,
    Mitigated,
    Resolved,
}

/// Where a tech lead's theory stands: still open, confirmed by what was
/// found, or ruled out. A theory may be judged again (reopened, or ruled
/// out after all): every judgement stays on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TheoryStatus {
    Open,
    Confirmed,
    RuledOut,
}

impl TheoryStatus {
    pub const ALL: [TheoryStatus; 3] = [TheoryStatus::Open, TheoryStatus::Confirmed, TheoryStatus::RuledOut];

    pub fn as_str(self) -> &'static str {
        match self {
            TheoryStatus::Open => "open",
            TheoryStatus::Confirmed => "confirmed",
            TheoryStatus::RuledOut => "ruled_out",
        }
    }

    /// What judging a theory so is called: "confirmed", "ruled out", "reopened".
    pub fn verb(self) -> &'static str {
        match self {
            TheoryStatus::Open => "reopened",
            TheoryStatus::Confirmed => "confirmed",
            TheoryStatus::RuledOut => "ruled out",
        }
    }
}

impl FromStr for TheoryStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TheoryStatus::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            DomainError::invalid("status", format!("unknown status {s:?}, expected open, confirmed or ruled_out"))
        })
    }
}

impl MilestoneTag {
    pub const ALL: [MilestoneTag; 9] = [
        MilestoneTag::Started,
        MilestoneTag::Detected,
        MilestoneTag::Acknowledged,
        MilestoneTag::ImpactDetected,
        MilestoneTag::CustomersNotified,
        MilestoneTag::CauseIdentified,
        MilestoneTag::FixDeployed,
        MilestoneTag::Mitigated,
        MilestoneTag::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MilestoneTag::Started => "started",
            MilestoneTag::Detected => "detected",
            MilestoneTag::Acknowledged => "acknowledged",
            MilestoneTag::ImpactDetected => "impact_detected",
            MilestoneTag::CustomersNotified => "customers_notified",
            MilestoneTag::CauseIdentified => "cause_identified",
            MilestoneTag::FixDeployed => "fix_deployed",
            MilestoneTag::Mitigated => "mitigated",
            MilestoneTag::Resolved => "resolved",
        }
    }

    pub fn list() -> String {
        MilestoneTag::ALL.map(MilestoneTag::as_str).join(", ")
    }
}

impl FromStr for MilestoneTag {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MilestoneTag::ALL.into_iter().find(|k| k.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid(
                "tag",
                format!("unknown milestone tag {s:?}, expected one of {}", MilestoneTag::list()),
            )
        })
    }
}

impl fmt::Display for MilestoneTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Change {
    /// The entry kind, stable for filtering: `declared`, `title_changed`,
    /// `summary_changed`, `priority_changed`, `status_changed`,
    /// `role_assigned`, `role_relieved`, `topic_changed`, `alert_linked`,
    /// `alert_retriggered`, `alert_acknowledged`, `alert_resolved`, `change`, `page_sent`, `page_notified`,
    /// `page_closed`, `page_declined`, `page_unreachable`, `update_published`, `update_snoozed`, `update_reminded`,
    /// `component_set`, `customer_report_linked`, `customer_report_unlinked`, `customer_report` (passed on),
    /// `customer_report_responded`, `postmortem_drafted`, `postmortem_moved`, `theory_judged`, `action_tracked`, `entry_highlighted`,
    /// `entry_annotated`, or one of the
    /// written kinds (`note`, `theory`, `decision`, `action`, `milestone`, `message`).
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Declared { .. } => "declared",
            Change::TitleChanged { .. } => "title_changed",
            Change::SummaryChanged { .. } => "summary_changed",
            Change::PriorityChanged { .. } => "priority_changed",
            Change::StatusChanged { .. } => "status_changed",
            Change::RoleAssigned { .. } => "role_assigned",
            Change::RoleRelieved { .. } => "role_relieved",
            Change::TopicChanged { .. } => "topic_changed",
            Change::AlertLinked { .. } => "alert_linked",
            Change::AlertRetriggered { .. } => "alert_retriggered",
            Change::AlertAcknowledged { .. } => "alert_acknowledged",
            Change::AlertResolved { .. } => "alert_resolved",
            Change::ServiceChanged { .. } => "change",
            Change::PageSent { .. } => "page_sent",
            Change::PageNotified { .. } => "page_notified",
            Change::PageClosed { .. } => "page_closed",
            Change::PageDeclined { .. } => "page_declined",
            Change::PageUnreachable { .. } => "page_unreachable",
            Change::UpdatePublished { .. } => "update_published",
            Change::UpdateSnoozed { .. } => "update_snoozed",
            Change::UpdateReminded { .. } => "update_reminded",
            Change::ComponentSet { .. } => "component_set",
            Change::CustomerReportLinked { .. } => "customer_report_linked",
            Change::CustomerReportUnlinked { .. } => "customer_report_unlinked",
            Change::CustomerReportPassed { .. } => "customer_report",
            Change::CustomerReportResponded { .. } => "customer_report_responded",
            Change::PostmortemDrafted { .. } => "postmortem_drafted",
            Change::TheoryJudged { .. } => "theory_judged",
            Change::TechLeadReported { .. } => "tech_lead_report",
            Change::EntryHighlighted { .. } => "entry_highlighted",
            Change::ActionTracked { .. } => "action_tracked",
            Change::EntryAnnotated { .. } => "entry_annotated",
            Change::PostmortemMoved { .. } => "postmortem_moved",
            Change::Entry { kind, .. } => kind.as_str(),
        }
    }

    /// The event's fields, without the `type` tag.
    pub fn data(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("type");
        }
        v
    }
}

fn scoped(role: &crate::RoleKind, scope: &Option<crate::Scope>) -> String {
    match scope {
        Some(s) => format!("{} ({s})", role.name()),
        None => role.name(),
    }
}

impl Event {
    /// Whether this entry is shown folded into a companion rather than as
    /// a line of its own (see [`fold`]): a topic change, or the relief half
    /// of a handover.
    pub fn folds(&self) -> bool {
        matches!(
            self.change,
            Change::TopicChanged { .. } | Change::RoleRelieved { reason: Relief::HandedOver { .. }, .. }
        )
    }

    /// A sentence for people reading the timeline.
    pub fn text(&self) -> String {
        let by = &self.actor;
        match &self.change {
            Change::Declared { number, title, priority, .. } => {
                format!("@{by} declared INC-{number} ({priority}): {title}")
            }
            Change::TitleChanged { to, .. } => format!("@{by} changed the title to {to:?}"),
            Change::SummaryChanged { .. } => format!("@{by} updated the summary"),
            Change::PriorityChanged { from, to } => {
                format!("@{by} changed the priority from {from} to {to}")
            }
            Change::StatusChanged { from, to } => {
                format!("@{by} moved the incident from {from} to {to}")
            }
            Change::RoleAssigned { assignment: a, via } => {
                let role = scoped(&a.role, &a.scope);
                match via {
                    Via::Assigned if a.user == *by => format!("@{by} took the role of {role}"),
                    Via::Assigned => format!("@{by} assigned @{} as {role}", a.user),
                    Via::Declaration => format!("@{} is {role}", a.user),
                    Via::Handover { from } => {
                        format!("@{from} handed over incident manager to @{}", a.user)
                    }
                    Via::Promotion { from } => {
                        format!("backup @{} took over as incident manager from @{from}", a.user)
                    }
                    Via::Narrowed => format!("@{} now covers {role} only", a.user),
                    Via::Page { page } => format!("@{} took on {role} by acknowledging page {page}", a.user),
                }
            }
            Change::RoleRelieved { assignment: a, reason } => {
                let role = scoped(&a.role, &a.scope);
                match reason {
                    Relief::Relieved if a.user == *by => format!("@{by} stepped down as {role}"),
                    Relief::Relieved => format!("@{by} relieved @{} as {role}", a.user),
                    Relief::Replaced { by: next } => {
                        format!("@{} was replaced as {role} by @{next}", a.user)
                    }
                    Relief::HandedOver { to } => format!("@{} is no longer {role}: handed over to @{to}", a.user),
                    Relief::BecameIncidentManager => {
                        format!("@{} is no longer {role}: now incident manager", a.user)
                    }
                    Relief::Narrowed => {
                        format!("@{} no longer covers both audiences as {role}", a.user)
                    }
                }
            }
            Change::TopicChanged { to, .. } => format!("Topic: {to}"),
            Change::AlertLinked { alert: a } => {
                format!("@{by} linked alert {} on {} ({}): {}", a.id, a.service, a.severity, a.summary)
            }
            Change::AlertRetriggered { alert: a } => {
                format!("Alert fired again on {} ({}): {} (alert {})", a.service, a.severity, a.summary, a.id)
            }
            Change::AlertAcknowledged { alert: a } => format!("@{by} acknowledged alert {}: {}", a.id, a.summary),
            Change::AlertResolved { alert: a } => format!("Alert {} on {} resolved: {}", a.id, a.service, a.summary),
            Change::ServiceChanged { service, summary, source } => match source {
                Some(src) => format!("Change on {service} from {src}: {summary}"),
                None => format!("Change on {service}: {summary}"),
            },
            Change::PageSent { page, target, message, roles } => {
                let roles: Vec<String> = roles.iter().map(crate::RoleKind::name).collect();
                let asks =
                    if roles.is_empty() { String::new() } else { format!(" to take on {}", roles.join(" and ")) };
                format!("@{by} paged {target}{asks} (page {page}): {message}")
            }
            Change::PageNotified { page, step, people } if people.is_empty() => {
                format!("Page {page}, step {step}, reached nobody: no one is on call")
            }
            Change::PageNotified { page, step, people } => {
                let people: Vec<String> = people.iter().map(|p| format!("@{p}")).collect();
                format!("Page {page}, step {step}, notified {}", people.join(", "))
            }
            Change::PageClosed { page, state, reason } => {
                let why = reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default();
                match state {
                    crate::page::PageState::Acknowledged => format!("@{by} acknowledged page {page}"),
                    crate::page::PageState::Declined => format!("@{by} declined page {page}"),
                    crate::page::PageState::Expired => format!("Page {page} expired: nobody acknowledged it{why}"),
                    other => format!("Page {page} {other}{why}"),
                }
            }
            Change::PageDeclined { page } => format!("@{by} declined page {page}; it goes on to the next step"),
            Change::PageUnreachable { page, step, why, .. } => {
                format!("Page {page}: step {step} reached nobody: {why}")
            }
            Change::UpdateReminded { audience, due_at, overdue, people } => {
                let people: Vec<String> = people.iter().map(|p| format!("@{p}")).collect();
                let whom = if people.is_empty() {
                    "nobody could be reminded".to_owned()
                } else {
                    format!("reminded {}", people.join(", "))
                };
                let late = if *overdue { " and is overdue" } else { "" };
                format!("The next {audience} update was due at {due_at}{late}: {whom}")
            }
            Change::UpdateSnoozed { audience, minutes, until } => {
                format!("@{by} snoozed the reminder of the next {audience} update for {minutes} min, until {until}")
            }
            Change::UpdatePublished { update, audience, text, status, .. } => {
                // internal, external, executive: each takes "an".
                let status = status.map(|s| format!(" ({})", s.as_str())).unwrap_or_default();
                format!("@{by} published an {audience} update{status} (update {update}): {text}")
            }
            Change::ComponentSet { name, from, to, .. } => {
                format!("@{by} set {name} on the status page to {} (was {})", to.label(), from.label())
            }
            Change::CustomerReportLinked { report } => format!("@{by} linked {}", report.describe()),
            Change::CustomerReportUnlinked { report } => format!("@{by} unlinked {}", report.describe()),
            Change::CustomerReportPassed { report, excerpt, note } => {
                let note = note.as_ref().map(|n| format!(" — {n}")).unwrap_or_default();
                format!("@{by} passed on {}: “{excerpt}”{note}", report.describe())
            }
            Change::CustomerReportResponded { report, .. } => format!("@{by} answered {}", report.describe()),
            Change::EntryHighlighted { entry, highlighted: true } => {
                format!("@{by} highlighted entry {entry} for the postmortem")
            }
            Change::EntryHighlighted { entry, highlighted: false } => {
                format!("@{by} took the highlight off entry {entry}")
            }
            Change::EntryAnnotated { entry, text } => format!("@{by} annotated entry {entry}: {text}"),
            Change::ActionTracked { said, .. } => said.clone(),
            Change::TheoryJudged { theory, text, status, evidence } => {
                let evidence = evidence.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
                format!("@{by} {} theory {theory} (“{text}”){evidence}", status.verb())
            }
            Change::TechLeadReported { workstream, conditions, actions, needs } => {
                let on = workstream.as_ref().map(|w| format!(" on {w}")).unwrap_or_default();
                let or_none = |t: &str| if t.is_empty() { "none".to_owned() } else { t.to_owned() };
                format!(
                    "@{by} reported{on} to the incident manager — conditions: {conditions} · actions: {} · needs: {}",
                    or_none(actions),
                    or_none(needs)
                )
            }
            Change::PostmortemDrafted { template } => {
                format!("@{by} drafted the postmortem from the timeline ({} template)", template.as_str())
            }
            Change::PostmortemMoved { to, .. } => match to {
                crate::postmortem::document::PostmortemState::Draft => {
                    format!("@{by} sent the postmortem back to draft")
                }
                crate::postmortem::document::PostmortemState::InReview => {
                    format!("@{by} sent the postmortem for review")
                }
                crate::postmortem::document::PostmortemState::Published => format!("@{by} published the postmortem"),
            },
            Change::Entry { text, .. } => text.clone(),
        }
    }
}

/// The fields the hash covers: everything but the hash itself.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: &'a jiff::Timestamp,
    recorded_at: &'a jiff::Timestamp,
    actor: &'a crate::Handle,
    actor_roles: &'a [crate::RoleKind],
    change: &'a Change,
}

/// `sha256(previous hash ‖ canonical JSON of the event)`, hex-encoded.
pub fn chain_hash(previous: &str, event: &Event) -> String {
    let body = serde_json::to_vec(&Hashed {
        seq: event.seq,
        at: &event.at,
        recorded_at: &event.recorded_at,
        actor: &event.actor,
        actor_roles: &event.actor_roles,
        change: &event.change,
    })
    .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(&body);
    hex::encode(h.finalize())
}

/// Checks an incident's events in `seq` order: numbered 1, 2, 3 … with no
/// gap, each hash matching. Returns the `seq` of the first bad event.
pub fn verify_chain<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<(), u64> {
    let mut checker = ChainChecker::default();
    for e in events {
        checker.push(e.seq, Ok(e));
    }
    match checker.finish().broken {
        None => Ok(()),
        Some(b) => Err(b.seq),
    }
}

/// What checking a timeline's chain found: how many entries it holds, the
/// hash of the last one (the head), and the first entry that breaks the
/// chain, if one does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    pub entries: u64,
    /// The last readable entry's stored hash; none for an empty timeline.
    pub head: Option<String>,
    pub broken: Option<BrokenLink>,
}

/// The first entry whose stored form does not follow from the one before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub seq: u64,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl ChainCheck {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks a timeline entry by entry, as its rows are read in `seq` order:
/// each numbered one after the one before, its hash the chain hash of its
/// content and the previous hash. The first break is kept; entries after
/// it are counted only.
#[derive(Debug, Default)]
pub struct ChainChecker {
    previous: String,
    check: ChainCheck,
}

impl ChainChecker {
    /// One more entry: its row's `seq`, and the event as stored or why it
    /// could not be read back.
    pub fn push(&mut self, seq: u64, event: Result<&Event, String>) {
        self.check.entries += 1;
        let expected = self.check.entries;
        let problem = if seq != expected {
            Some(format!("is numbered {seq} where {expected} was expected: an entry is missing or out of place"))
        } else {
            match &event {
                Err(why) => Some(why.clone()),
                Ok(e) if e.seq != seq => Some(format!("says it is entry {} but is stored as {seq}", e.seq)),
                Ok(e) if chain_hash(&self.previous, e) != e.hash => {
                    Some("its content does not match its hash".to_owned())
                }
                Ok(_) => None,
            }
        };
        if let (Some(reason), None) = (problem, &self.check.broken) {
            self.check.broken = Some(BrokenLink { seq, reason });
        }
        if let Ok(e) = event {
            self.previous.clone_from(&e.hash);
            self.check.head = Some(e.hash.clone());
        }
    }

    pub fn finish(self) -> ChainCheck {
        self.check
    }
}

/// Whether replaying `events` gives `state`: the projection matches its log.
pub fn projection_matches(events: &[Event], state: &Incident) -> bool {
    Incident::replay(events).as_ref() == Some(state)
}

/// How one entry is shown beside the others (see [`fold`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folding {
    /// The entry this one is shown with, rather than as a line of its own.
    pub folded_into: Option<u64>,
    /// On the entry that caused a topic change: the topic it set.
    pub topic: Option<String>,
}

/// How the timeline shows `events` (one [`Folding`] each, in order): a
/// topic change is shown with the entry that caused it (the entry just
/// before it, the last of the same command, which carries the new topic),
/// and the relief half of a handover with its assignment, whose line says
/// the same ("@alice handed over incident manager to @bob"), when that is
/// among `events`. Folded entries are still recorded, listed when asked
/// for, and part of the hash chain.
pub fn fold(events: &[Event]) -> Vec<Folding> {
    let mut out = vec![Folding::default(); events.len()];
    for (i, e) in events.iter().enumerate() {
        match &e.change {
            Change::TopicChanged { to, .. } => {
                // The topic is re-rendered at the end of a command, so the
                // entry before it is that command's last.
                out[i].folded_into = e.seq.checked_sub(1).filter(|s| *s > 0);
                if let Some(j) = events.iter().position(|c| c.seq + 1 == e.seq) {
                    out[j].topic = Some(to.clone());
                }
            }
            Change::RoleRelieved { assignment, reason: Relief::HandedOver { to } } => {
                let taken = events.iter().find(|a| {
                    a.seq > e.seq
                        && a.recorded_at == e.recorded_at
                        && matches!(&a.change, Change::RoleAssigned { assignment: next, via: Via::Handover { from } }
                            if *from == assignment.user && next.user == *to)
                });
                out[i].folded_into = taken.map(|a| a.seq);
            }
            _ => {}
        }
    }
    out
}
