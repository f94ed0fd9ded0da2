//! The postmortem as a document: the facts gathered from the timeline
//! ([`Facts::of`]), the sections people write ([`Narrative`]), and the one
//! [`Document`] both exports render (Markdown here, HTML in the server), so
//! the two never say different things.
//!
//! Only the narrative is stored. The facts are read again from the timeline
//! every time the postmortem is shown, so a follow-up done or a milestone
//! marked later shows at once, and the export carries the head hash of the
//! timeline it was made from.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Durations, Moment, Moments, Participant, Source, Theory};
use crate::incident::{Change, Event, Via};
use crate::page::PageState;
use crate::statuspage::ComponentStatus;
use crate::timeline::EntryKind;
use crate::timeline::TheoryStatus;
use crate::{DomainError, Handle, Incident, Priority, RoleKind, Status};

/// Which sections a postmortem has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// Every section: Google's SRE postmortem with the roster.
    Standard,
    /// Summary, impact, response, timeline, root cause and action items.
    Lightweight,
}

impl Template {
    pub const ALL: [Template; 2] = [Template::Standard, Template::Lightweight];

    pub fn as_str(self) -> &'static str {
        match self {
            Template::Standard => "standard",
            Template::Lightweight => "lightweight",
        }
    }

    pub fn parse(s: &str) -> Result<Template, DomainError> {
        Template::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            DomainError::invalid("template", format!("unknown template {s:?}, expected standard or lightweight"))
        })
    }

    /// The template an incident of `priority` gets unless the admins chose
    /// otherwise: the full one for P1 and P2.
    pub fn default_for(priority: Priority) -> Template {
        match priority {
            Priority::P1 | Priority::P2 => Template::Standard,
            _ => Template::Lightweight,
        }
    }

    /// The narrative sections it asks people to write.
    pub fn sections(self) -> &'static [Section] {
        match self {
            Template::Standard => &Section::ALL,
            Template::Lightweight => &[Section::Summary, Section::RootCause, Section::WentWell, Section::WentWrong],
        }
    }
}

/// Where a postmortem is: written, read by others, then published. Only
/// forward, except that a review may send it back to its writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostmortemState {
    Draft,
    InReview,
    Published,
}

impl PostmortemState {
    pub const ALL: [PostmortemState; 3] =
        [PostmortemState::Draft, PostmortemState::InReview, PostmortemState::Published];

    pub fn as_str(self) -> &'static str {
        match self {
            PostmortemState::Draft => "draft",
            PostmortemState::InReview => "in_review",
            PostmortemState::Published => "published",
        }
    }

    pub fn parse(s: &str) -> Result<PostmortemState, DomainError> {
        PostmortemState::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            DomainError::invalid("state", format!("unknown state {s:?}, expected draft, in_review or published"))
        })
    }

    /// Whether the postmortem may move from `self` to `to`.
    pub fn check_move(self, to: PostmortemState) -> Result<(), DomainError> {
        use PostmortemState::*;
        match (self, to) {
            (Draft, InReview) | (InReview, Published) | (InReview, Draft) => Ok(()),
            (Published, _) => Err(DomainError::Conflict("the postmortem is published, and published is final".into())),
            (from, to) => Err(DomainError::Conflict(format!(
                "a postmortem in {} cannot move to {}: draft, then in_review, then published",
                from.as_str(),
                to.as_str()
            ))),
        }
    }

    /// Whether its sections may still be edited.
    pub fn editable(self) -> bool {
        self != PostmortemState::Published
    }
}

impl std::fmt::Display for PostmortemState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A section people write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Summary,
    Trigger,
    RootCause,
    ContributingFactors,
    Resolution,
    WentWell,
    WentWrong,
    Lucky,
    PublicSummary,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::Summary,
        Section::Trigger,
        Section::RootCause,
        Section::ContributingFactors,
        Section::Resolution,
        Section::WentWell,
        Section::WentWrong,
        Section::Lucky,
        Section::PublicSummary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Summary => "summary",
            Section::Trigger => "trigger",
            Section::RootCause => "root_cause",
            Section::ContributingFactors => "contributing_factors",
            Section::Resolution => "resolution",
            Section::WentWell => "went_well",
            Section::WentWrong => "went_wrong",
            Section::Lucky => "lucky",
            Section::PublicSummary => "public_summary",
        }
    }

    pub fn parse(s: &str) -> Result<Section, DomainError> {
        Section::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Section::ALL.iter().map(|s| s.as_str()).collect();
            DomainError::invalid(s, format!("there is no section {s:?}; the sections are {}", names.join(", ")))
        })
    }

    pub fn heading(self) -> &'static str {
        match self {
            Section::Summary => "Summary",
            Section::Trigger => "Trigger",
            Section::RootCause => "Root cause",
            Section::ContributingFactors => "Contributing factors",
            Section::Resolution => "Resolution",
            Section::WentWell => "What went well",
            Section::WentWrong => "What went wrong",
            Section::Lucky => "Where we got lucky",
            Section::PublicSummary => "Public summary",
        }
    }

    /// What to write, shown while the section is empty.
    pub fn prompt(self) -> &'static str {
        match self {
            Section::Summary => "What happened, in two or three sentences, for someone who was not there.",
            Section::Trigger => {
                "What set it off: a deploy, a configuration change, a traffic spike, a failure elsewhere?"
            }
            Section::RootCause => {
                "Why it could happen. Start from the confirmed theory; say why the ruled-out ones were not it."
            }
            Section::ContributingFactors => "What made it possible, longer or worse, besides the root cause?",
            Section::Resolution => "What ended the impact, and what made it safe to call it resolved?",
            Section::WentWell => "What worked: the alert, the handover, a runbook, a quick decision?",
            Section::WentWrong => {
                "What made it slower or harder: a missing alert, an unclear owner, a page nobody got?"
            }
            Section::Lucky => "Where did luck rather than design keep it small?",
            Section::PublicSummary => {
                "What customers may read once it is published: what they saw, for how long, and what changes."
            }
        }
    }
}

/// The sections people wrote, by name; an empty one shows its prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Narrative {
    sections: BTreeMap<Section, String>,
}

impl Narrative {
    pub fn get(&self, s: Section) -> &str {
        self.sections.get(&s).map(String::as_str).unwrap_or("")
    }

    /// Sets a section (trimmed; empty clears it), refusing one over
    /// [`crate::limits::POSTMORTEM_SECTION`] characters.
    pub fn set(&mut self, s: Section, text: &str) -> Result<(), DomainError> {
        let text = text.trim();
        if text.chars().count() > crate::limits::POSTMORTEM_SECTION {
            return Err(DomainError::invalid(
                s.as_str(),
                format!("a section holds at most {} characters", crate::limits::POSTMORTEM_SECTION),
            ));
        }
        if text.is_empty() {
            self.sections.remove(&s);
        } else {
            self.sections.insert(s, text.to_owned());
        }
        Ok(())
    }

    /// Where a new postmortem starts: the incident's summary, the root
    /// cause from the confirmed theories, and the resolution from the
    /// `mitigated` or `resolved` milestone's words.
    pub fn first_draft(incident: &Incident, events: &[Event]) -> Narrative {
        let mut n = Narrative::default();
        let _ = n.set(Section::Summary, &incident.summary);
        let said = |tag: crate::timeline::MilestoneTag| {
            events.iter().rev().find_map(|e| match &e.change {
                Change::Entry { tag: Some(t), text, .. } if *t == tag => Some(text.clone()),
                _ => None,
            })
        };
        use crate::timeline::MilestoneTag;
        if let Some(text) = said(MilestoneTag::Mitigated).or_else(|| said(MilestoneTag::Resolved)) {
            let _ = n.set(Section::Resolution, &text);
        }
        let confirmed: Vec<String> = super::theories(events)
            .into_iter()
            .filter(|t| t.status == TheoryStatus::Confirmed)
            .map(|t| t.text)
            .collect();
        let _ = n.set(Section::RootCause, &confirmed.join("\n\n"));
        n
    }
}

/// One line of the postmortem's timeline, with the roles its actor held
/// at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Handle,
    pub roles: Vec<RoleKind>,
    pub text: String,
    /// The entry that corrected this one, when one did: `text` is then the
    /// correction's.
    pub corrected_by: Option<u64>,
    /// Highlighted by the scribe for the postmortem.
    pub highlighted: bool,
    /// Remarks on it: who and what.
    pub annotations: Vec<(Handle, String)>,
}

/// The first alert of the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstAlert {
    pub at: Timestamp,
    pub service: String,
    pub summary: String,
}

/// A status page component the incident touched, and the worst state it
/// was in for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentImpact {
    pub name: String,
    pub worst: ComponentStatus,
}

/// Everything the postmortem says that nobody has to write, from the
/// timeline and the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub number: u64,
    pub title: String,
    pub priority: Priority,
    pub status: Status,
    pub moments: Moments,
    pub durations: Durations,
    /// From the start to the resolution (or to `until` while unresolved).
    pub impact_seconds: Option<i64>,
    /// The services of the alerts linked to it, in the order they came.
    pub services: Vec<String>,
    pub components: Vec<ComponentImpact>,
    /// Customer reports linked to it (and still linked), and from how many
    /// distinct customers.
    pub customer_reports: u32,
    pub customers: u32,
    pub first_alert: Option<FirstAlert>,
    pub pages_sent: u32,
    pub pages_answered: u32,
    /// Escalation steps past the first that notified someone, and steps
    /// that reached nobody.
    pub escalations: u32,
    pub roster: Vec<Participant>,
    /// The declaration, status and priority moves, incident manager
    /// changes, milestones, theories, decisions, actions, published updates
    /// and customer details passed on.
    pub timeline: Vec<Line>,
    pub theories: Vec<Theory>,
    pub decisions: Vec<Line>,
    pub actions: Vec<Line>,
    /// The actions marked follow-ups: the action items, live.
    pub follow_ups: Vec<crate::action::ActionItem>,
    /// The timeline's length and head hash when the facts were gathered.
    pub entries: u64,
    pub head: String,
}

impl Facts {
    /// Gathers the facts from the incident's `events` (in `seq` order),
    /// the component changes made for it (`(name, to)` in time order), and
    /// `until`: where roles still held stop counting.
    pub fn of(
        incident: &Incident,
        events: &[Event],
        components: &[(String, ComponentStatus)],
        until: Timestamp,
    ) -> Facts {
        let moments = Moments::of(events);
        let durations = moments.durations();
        let impact_seconds = match (moments.started, moments.resolved) {
            (Some(s), Some(r)) => Some((r.at.as_second() - s.at.as_second()).max(0)),
            (Some(s), None) => Some((until.as_second() - s.at.as_second()).max(0)),
            _ => None,
        };
        let mut services: Vec<String> = Vec::new();
        let mut first_alert = None;
        let mut linked: BTreeMap<u64, String> = BTreeMap::new();
        let (mut pages_sent, mut pages_answered, mut escalations) = (0, 0, 0);
        let mut timeline = Vec::new();
        let (mut decisions, mut actions) = (Vec::new(), Vec::new());
        // The scribe's curation, which follows the entries it is about.
        let mut highlighted: BTreeSet<u64> = BTreeSet::new();
        let mut annotations: BTreeMap<u64, Vec<(Handle, String)>> = BTreeMap::new();
        for e in events {
            match &e.change {
                Change::EntryHighlighted { entry, highlighted: true } => {
                    highlighted.insert(*entry);
                }
                Change::EntryHighlighted { entry, highlighted: false } => {
                    highlighted.remove(entry);
                }
                Change::EntryAnnotated { entry, text } => {
                    annotations.entry(*entry).or_default().push((e.actor.clone(), text.clone()));
                }
                _ => {}
            }
        }
        for e in events {
            match &e.change {
                Change::AlertLinked { alert } => {
                    if !services.contains(&alert.service) {
                        services.push(alert.service.clone());
                    }
                    if first_alert.is_none() {
                        first_alert = Some(FirstAlert {
                            at: e.at,
                            service: alert.service.clone(),
                            summary: alert.summary.clone(),
                        });
                    }
                }
                Change::PageSent { .. } => pages_sent += 1,
                Change::PageClosed { state: PageState::Acknowledged, .. } => pages_answered += 1,
                Change::PageNotified { step, people, .. } if *step > 1 && !people.is_empty() => escalations += 1,
                Change::PageUnreachable { .. } => escalations += 1,
                Change::CustomerReportLinked { report } => {
                    linked.insert(report.id, report.organization.clone().unwrap_or_else(|| report.customer.clone()));
                }
                Change::CustomerReportUnlinked { report } => {
                    linked.remove(&report.id);
                }
                _ => {}
            }
            if let Change::Entry { corrects: Some(earlier), text, .. } = &e.change {
                // A correction replaces the words of the entry it corrects,
                // wherever that one is listed; the original stays on the
                // timeline itself.
                let mut found = false;
                for list in [&mut timeline, &mut decisions, &mut actions] {
                    if let Some(l) = list.iter_mut().find(|l: &&mut Line| l.seq == *earlier) {
                        l.text = format!("{}{text}", label_of(&l.text));
                        l.corrected_by = Some(e.seq);
                        found = true;
                    }
                }
                if found {
                    continue;
                }
            }
            let marked = highlighted.contains(&e.seq);
            let Some(text) = line_text(e).or_else(|| marked.then(|| e.text())) else { continue };
            let line = Line {
                seq: e.seq,
                at: e.at,
                actor: e.actor.clone(),
                roles: e.actor_roles.clone(),
                text,
                corrected_by: None,
                highlighted: marked,
                annotations: annotations.get(&e.seq).cloned().unwrap_or_default(),
            };
            if let Change::Entry { kind, .. } = &e.change {
                match kind {
                    EntryKind::Decision => decisions.push(line.clone()),
                    EntryKind::Action => actions.push(line.clone()),
                    _ => {}
                }
            }
            timeline.push(line);
        }
        // Backdated milestones sit where they happened.
        timeline.sort_by_key(|l| (l.at, l.seq));
        let mut worst: Vec<ComponentImpact> = Vec::new();
        for (name, to) in components {
            match worst.iter_mut().find(|c| &c.name == name) {
                Some(c) => c.worst = c.worst.max(*to),
                None => worst.push(ComponentImpact { name: name.clone(), worst: *to }),
            }
        }
        // Follow-ups are work after the incident, listed as action items.
        let follow_ups: Vec<crate::action::ActionItem> =
            crate::action::actions(events).into_iter().filter(|a| a.tracking.follow_up).collect();
        actions.retain(|l| !follow_ups.iter().any(|a| a.seq == l.seq));
        let customers: BTreeSet<&String> = linked.values().collect();
        Facts {
            number: incident.number,
            title: incident.title.clone(),
            priority: incident.priority,
            status: incident.status,
            moments,
            durations,
            impact_seconds,
            services,
            components: worst,
            customer_reports: linked.len() as u32,
            customers: customers.len() as u32,
            first_alert,
            pages_sent,
            pages_answered,
            escalations,
            roster: super::roster(events, until),
            timeline,
            theories: super::theories(events),
            decisions,
            actions,
            follow_ups,
            entries: events.len() as u64,
            head: events.last().map(|e| e.hash.clone()).unwrap_or_default(),
        }
    }
}

/// "Theory: ", "Milestone mitigated: ": what a line says it is.
fn label_of(text: &str) -> &str {
    let labelled = ["Theory: ", "Decision: ", "Action: ", "Milestone"].iter().any(|p| text.starts_with(p));
    match text.find(": ") {
        Some(i) if labelled => &text[..i + 2],
        _ => "",
    }
}

fn entry_line(kind: EntryKind, text: &str) -> String {
    match kind {
        EntryKind::Theory => format!("Theory: {text}"),
        EntryKind::Decision => format!("Decision: {text}"),
        EntryKind::Action => format!("Action: {text}"),
        _ => text.to_owned(),
    }
}

/// What an event says on the postmortem's timeline, or none when it is not
/// one of the moments a reader needs.
fn line_text(e: &Event) -> Option<String> {
    match &e.change {
        Change::Declared { .. } | Change::StatusChanged { .. } | Change::PriorityChanged { .. } => Some(e.text()),
        Change::RoleAssigned { assignment, via } => match (assignment.role.clone(), via) {
            (RoleKind::IncidentManager, Via::Declaration) => None,
            (RoleKind::IncidentManager, _) => Some(e.text()),
            _ => None,
        },
        Change::UpdatePublished { .. } | Change::CustomerReportPassed { .. } | Change::TheoryJudged { .. } => {
            Some(e.text())
        }
        Change::Entry { kind: EntryKind::Milestone, tag, text, .. } => Some(match tag {
            Some(t) => format!("Milestone {t}: {text}"),
            None => format!("Milestone: {text}"),
        }),
        Change::Entry { kind: EntryKind::Decision, text, rationale, follows, .. } => {
            let mut line = entry_line(EntryKind::Decision, text);
            if let Some(r) = rationale {
                let _ = write!(line, ", because {r}");
            }
            if let Some(t) = follows {
                let _ = write!(line, " (on theory {t})");
            }
            Some(line)
        }
        Change::Entry { kind: kind @ (EntryKind::Theory | EntryKind::Action), text, .. } => {
            Some(entry_line(*kind, text))
        }
        _ => None,
    }
}

/// A part of the document, in the order it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// What people wrote, as they wrote it (Markdown).
    Text {
        text: String,
    },
    /// What to write here, while nobody has.
    Prompt {
        text: String,
    },
    /// A heading inside a part.
    Subheading {
        text: String,
    },
    /// Terms and their values.
    Facts {
        rows: Vec<(String, String)>,
    },
    List {
        items: Vec<String>,
    },
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// The postmortem as it is read: a title, a line about it, the parts and
/// the footer naming the timeline it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub title: String,
    pub byline: String,
    pub parts: Vec<Part>,
    pub footer: String,
}

/// "35 s", "12 min", "1 h 05 min".
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s % 60 == 0 => format!("{} min", s / 60),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// "2026-11-27 10:03 UTC".
pub fn human_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn moment(m: Option<Moment>) -> String {
    match m {
        None => "not yet".to_owned(),
        Some(m) => {
            let how = match m.source {
                Source::Milestone { seq } => format!("milestone, entry {seq}"),
                Source::Declared => "the declaration".to_owned(),
                Source::PageAcknowledged => "the first page acknowledged".to_owned(),
                Source::Monitoring => "moved to monitoring".to_owned(),
                Source::StatusResolved => "moved to resolved".to_owned(),
            };
            format!("{} ({how})", human_time(m.at))
        }
    }
}

fn since_start(seconds: Option<i64>) -> String {
    seconds.map(human_duration).unwrap_or_else(|| "not yet".to_owned())
}

/// " (database tech lead)": the roles `l`'s actor held then, each with
/// the scope of the stint it was part of.
fn roles_at(f: &Facts, l: &Line) -> String {
    if l.roles.is_empty() {
        return String::new();
    }
    let stints: Vec<&super::Stint> =
        f.roster.iter().filter(|p| p.handle == l.actor).flat_map(|p| p.roles.iter()).collect();
    let names: Vec<String> = l
        .roles
        .iter()
        .map(|role| {
            let held = stints.iter().find(|s| &s.role == role && s.from <= l.at && s.to.is_none_or(|t| l.at <= t));
            match held.and_then(|s| s.scope.as_ref()) {
                Some(scope) => format!("{} {}", scope.as_str(), role.name()),
                None => role.name(),
            }
        })
        .collect();
    format!(" ({})", names.join(", "))
}

/// A line's words, saying when a later entry corrected them, with the
/// remarks made on it.
fn said(l: &Line) -> String {
    let mut text = strip_kind(&l.text).to_owned();
    if let Some(seq) = l.corrected_by {
        let _ = write!(text, " (corrected by entry {seq})");
    }
    for (by, remark) in &l.annotations {
        let _ = write!(text, " [@{by}: {remark}]");
    }
    text
}

fn written(n: &Narrative, s: Section) -> Block {
    match n.get(s) {
        "" => Block::Prompt { text: s.prompt().to_owned() },
        text => Block::Text { text: text.to_owned() },
    }
}

fn lines(f: &Facts, list: &[Line], none: &str) -> Block {
    if list.is_empty() {
        return Block::Prompt { text: none.to_owned() };
    }
    Block::List {
        items: list
            .iter()
            .map(|l| format!("{} — @{}{}: {}", human_time(l.at), l.actor, roles_at(f, l), said(l)))
            .collect(),
    }
}

/// "carol's theory at 10:10 — …; ruled out by @dan at 10:25: the pool had room".
fn theory_item(f: &Facts, t: &Theory) -> String {
    let line = Line {
        seq: t.seq,
        at: t.at,
        actor: t.actor.clone(),
        roles: t.roles.clone(),
        text: t.text.clone(),
        corrected_by: None,
        highlighted: false,
        annotations: Vec::new(),
    };
    let mut item = format!("{} — @{}{}: {}", human_time(t.at), t.actor, roles_at(f, &line), t.text);
    if let Some(j) = t.judgements.last() {
        let _ = write!(item, "; {} by @{} at {}", j.status.verb(), j.actor, human_time(j.at));
        if let Some(e) = &j.evidence {
            let _ = write!(item, ": {e}");
        }
    }
    item
}

fn strip_kind(text: &str) -> &str {
    ["Theory: ", "Decision: ", "Action: "].iter().find_map(|p| text.strip_prefix(p)).unwrap_or(text)
}

/// The postmortem of `facts` with what people wrote, in `template`'s
/// sections.
pub fn document(template: Template, state: PostmortemState, facts: &Facts, n: &Narrative) -> Document {
    let f = facts;
    let standard = template == Template::Standard;
    let mut parts = Vec::new();
    let mut part = |heading: &str, blocks: Vec<Block>| parts.push(Part { heading: heading.to_owned(), blocks });

    part(Section::Summary.heading(), vec![written(n, Section::Summary)]);

    let mut impact = vec![
        ("Started".to_owned(), moment(f.moments.started)),
        ("Ended".to_owned(), moment(f.moments.resolved)),
        ("Duration".to_owned(), since_start(f.impact_seconds)),
        ("Services".to_owned(), if f.services.is_empty() { "none alerted".to_owned() } else { f.services.join(", ") }),
    ];
    if !f.components.is_empty() {
        let c: Vec<String> = f.components.iter().map(|c| format!("{} ({})", c.name, c.worst.label())).collect();
        impact.push(("Status page".to_owned(), c.join(", ")));
    }
    impact.push((
        "Customer reports".to_owned(),
        match (f.customer_reports, f.customers) {
            (0, _) => "none".to_owned(),
            (1, _) => "1 report from 1 customer".to_owned(),
            (r, 1) => format!("{r} reports from 1 customer"),
            (r, c) => format!("{r} reports from {c} customers"),
        },
    ));
    part("Impact", vec![Block::Facts { rows: impact }]);

    let mut detection = vec![
        (
            "First alert".to_owned(),
            match &f.first_alert {
                Some(a) => format!("{} on {}: {}", human_time(a.at), a.service, a.summary),
                None => "none: declared by a person".to_owned(),
            },
        ),
        ("Detected".to_owned(), moment(f.moments.detected)),
        ("Time to detect".to_owned(), since_start(f.durations.to_detect)),
        ("Time to acknowledge".to_owned(), since_start(f.durations.to_acknowledge)),
    ];
    let mut response = vec![
        ("Mitigated".to_owned(), moment(f.moments.mitigated)),
        ("Time to mitigate".to_owned(), since_start(f.durations.to_mitigate)),
        ("Time to resolve".to_owned(), since_start(f.durations.to_resolve)),
        (
            "Pages".to_owned(),
            format!("{} sent, {} answered, {} escalations", f.pages_sent, f.pages_answered, f.escalations),
        ),
    ];
    if standard {
        part("Detection", vec![Block::Facts { rows: detection }]);
        part("Response", vec![Block::Facts { rows: response }]);
    } else {
        // The lightweight template folds detection into one list.
        detection.append(&mut response);
        part("Response", vec![Block::Facts { rows: detection }]);
    }

    if standard {
        let mut rows = Vec::new();
        for p in &f.roster {
            for s in &p.roles {
                let role = match &s.scope {
                    Some(scope) => format!("{} ({})", s.role.name(), scope.as_str()),
                    None => s.role.name(),
                };
                let to = match (s.to, &s.ended) {
                    (Some(t), Some(how)) => format!("{} ({how})", human_time(t)),
                    (Some(t), None) => human_time(t),
                    (None, _) => "still held".to_owned(),
                };
                rows.push(vec![format!("@{}", p.handle), role, human_time(s.from), to, human_duration(s.seconds)]);
            }
            if p.roles.is_empty() {
                rows.push(vec![
                    format!("@{}", p.handle),
                    "no role".to_owned(),
                    human_time(p.first_activity),
                    human_time(p.last_activity),
                    String::new(),
                ]);
            }
        }
        let head = ["Who", "Role", "From", "To", "Time in role"].map(String::from).to_vec();
        let mut blocks = vec![Block::Table { head, rows }];
        let answered: Vec<String> = f
            .roster
            .iter()
            .filter(|p| p.pages_answered > 0)
            .map(|p| {
                format!(
                    "@{} answered {} page{}",
                    p.handle,
                    p.pages_answered,
                    if p.pages_answered == 1 { "" } else { "s" }
                )
            })
            .collect();
        if !answered.is_empty() {
            blocks.push(Block::List { items: answered });
        }
        part("Roles", blocks);
    }

    let rows = f
        .timeline
        .iter()
        .map(|l| {
            let mut text = match l.corrected_by {
                Some(seq) => format!("{} (corrected by entry {seq})", l.text),
                None => l.text.clone(),
            };
            for (by, remark) in &l.annotations {
                let _ = write!(text, " [@{by}: {remark}]");
            }
            let when = if l.highlighted { format!("{} ★", human_time(l.at)) } else { human_time(l.at) };
            vec![when, format!("@{}{}", l.actor, roles_at(f, l)), text]
        })
        .collect();
    part("Timeline", vec![Block::Table { head: ["When", "Who", "What"].map(String::from).to_vec(), rows }]);

    if standard {
        part(Section::Trigger.heading(), vec![written(n, Section::Trigger)]);
    }
    let mut cause = vec![written(n, Section::RootCause)];
    for (status, heading) in [
        (TheoryStatus::Confirmed, "Confirmed theories"),
        (TheoryStatus::RuledOut, "Ruled-out theories"),
        (TheoryStatus::Open, "Theories left open"),
    ] {
        let items: Vec<String> = f.theories.iter().filter(|t| t.status == status).map(|t| theory_item(f, t)).collect();
        if !items.is_empty() {
            cause.push(Block::Subheading { text: heading.to_owned() });
            cause.push(Block::List { items });
        }
    }
    part(Section::RootCause.heading(), cause);
    if standard {
        part(Section::ContributingFactors.heading(), vec![written(n, Section::ContributingFactors)]);
        part("Decisions", vec![lines(f, &f.decisions, "No decision was recorded on the timeline.")]);
        part("Actions taken", vec![lines(f, &f.actions, "No action was recorded on the timeline.")]);
        part(Section::Resolution.heading(), vec![written(n, Section::Resolution)]);
    }
    part(Section::WentWell.heading(), vec![written(n, Section::WentWell)]);
    part(Section::WentWrong.heading(), vec![written(n, Section::WentWrong)]);
    if standard {
        part(Section::Lucky.heading(), vec![written(n, Section::Lucky)]);
    }
    let items = if f.follow_ups.is_empty() {
        Block::Prompt {
            text: "The work after the incident: mark actions as follow-ups, each with an owner, a due date and a \
                   ticket."
                .to_owned(),
        }
    } else {
        let rows = f
            .follow_ups
            .iter()
            .map(|a| {
                let t = &a.tracking;
                vec![
                    a.text.clone(),
                    t.owner.as_ref().map(|o| format!("@{o}")).unwrap_or_else(|| "nobody yet".to_owned()),
                    t.due_at.map(human_time).unwrap_or_else(|| "no date".to_owned()),
                    t.status.as_str().to_owned(),
                    t.ticket.clone().unwrap_or_default(),
                ]
            })
            .collect();
        Block::Table { head: ["What", "Owner", "Due", "Status", "Ticket"].map(String::from).to_vec(), rows }
    };
    part("Action items", vec![items]);
    if standard || !n.get(Section::PublicSummary).is_empty() {
        part(Section::PublicSummary.heading(), vec![written(n, Section::PublicSummary)]);
    }

    Document {
        title: format!("INC-{} postmortem: {}", f.number, f.title),
        byline: format!(
            "{} · incident {} · postmortem {} · {} template",
            f.priority,
            f.status,
            state.as_str().replace('_', " "),
            template.as_str()
        ),
        parts,
        footer: format!(
            "Made from the timeline of INC-{}: {} entries, head {}. `muster incident verify INC-{}` checks that chain.",
            f.number, f.entries, f.head, f.number
        ),
    }
}

/// The document as Markdown (GitHub's dialect for the tables).
pub fn markdown(doc: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n\n{}\n", doc.title, doc.byline);
    for part in &doc.parts {
        let _ = writeln!(out, "## {}\n", part.heading);
        for block in &part.blocks {
            match block {
                Block::Text { text } => {
                    let _ = writeln!(out, "{text}\n");
                }
                Block::Prompt { text } => {
                    let _ = writeln!(out, "_To write: {text}_\n");
                }
                Block::Subheading { text } => {
                    let _ = writeln!(out, "### {text}\n");
                }
                Block::Facts { rows } => {
                    for (term, value) in rows {
                        let _ = writeln!(out, "- **{term}:** {value}");
                    }
                    out.push('\n');
                }
                Block::List { items } => {
                    for item in items {
                        let _ = writeln!(out, "- {}", one_line(item));
                    }
                    out.push('\n');
                }
                Block::Table { head, rows } => {
                    let _ = writeln!(out, "| {} |", head.join(" | "));
                    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                    for row in rows {
                        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                        let _ = writeln!(out, "| {} |", cells.join(" | "));
                    }
                    out.push('\n');
                }
            }
        }
    }
    let _ = writeln!(out, "---\n\n{}", doc.footer);
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A table cell: one line, its pipes escaped.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}
