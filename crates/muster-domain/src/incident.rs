//! The incident aggregate.
//!
//! A command is checked against the current state and, if allowed, turns
//! into one or more [`Event`]s. Applying those events to the state gives the
//! new state, so the state is always the fold of its events
//! ([`Incident::replay`]), and the timeline is the events themselves.
//!
//! The role invariants, all checked by the property tests below:
//! - exactly one incident manager, always;
//! - at most one holder of each single-holder role (backup incident manager,
//!   customer support lead, scribe, first responder, single custom roles);
//! - each audience (internal, external) has at most one communications
//!   manager, where an unscoped one covers both;
//! - the backup incident manager is never the incident manager;
//! - nobody holds the same role with the same scope twice.

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::access::{self, Action, Standing};
use crate::alert::{AlertRef, AlertStatus};
use crate::page::PageState;
use crate::role::Audience;
use crate::timeline::{self, EntryKind, MilestoneTag};
use crate::update::{PublicStatus, UpdateAudience, UpdateContent};
use crate::{Actor, DomainError, Handle, Permission, Priority, RoleCatalog, RoleKind, Scope, Status, topic};

/// `INC-7`, or just `7`, in paths and commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentRef(pub u64);

impl FromStr for IncidentRef {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.strip_prefix("INC-").or_else(|| t.strip_prefix("inc-")).unwrap_or(t);
        match digits.parse::<u64>() {
            Ok(n) if n > 0 && n <= i64::MAX as u64 => Ok(IncidentRef(n)),
            _ => Err(DomainError::invalid("ref", format!("{s:?} is not an incident reference like INC-7 or 7"))),
        }
    }
}

impl fmt::Display for IncidentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

/// Someone holding a role in an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Counts from 1 within the incident; never reused.
    pub id: u64,
    pub role: RoleKind,
    pub user: Handle,
    pub scope: Option<Scope>,
    pub assigned_at: Timestamp,
    pub assigned_by: Handle,
}

impl Assignment {
    fn covers(&self, audience: Audience) -> bool {
        self.role == RoleKind::CommunicationsManager
            && self.scope.as_ref().is_none_or(|s| s.audience() == Some(audience))
    }
}

/// Why an assignment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relief {
    /// Relieved by the actor (who may be the holder themself).
    Relieved,
    /// The single-holder role went to someone else.
    Replaced { by: Handle },
    /// The incident manager handed over to someone else.
    HandedOver { to: Handle },
    /// The holder became incident manager, so stops being the backup.
    BecameIncidentManager,
    /// A communications manager for both audiences now covers only one.
    Narrowed,
}

/// How an assignment began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Via {
    #[default]
    Assigned,
    /// Incident manager handover from the previous holder.
    Handover { from: Handle },
    /// The backup incident manager took over when the incident manager was relieved.
    Promotion { from: Handle },
    /// What is left of a communications manager's cover after someone else
    /// took one audience.
    Narrowed,
    /// Recorded when the incident was declared.
    Declaration,
    /// Taken on by acknowledging a page that asked for the role.
    Page { page: u64 },
}

/// Something that happened to an incident. Each is one timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Declared {
        number: u64,
        title: String,
        summary: String,
        priority: Priority,
    },
    TitleChanged {
        from: String,
        to: String,
    },
    SummaryChanged {
        from: String,
        to: String,
    },
    PriorityChanged {
        from: Priority,
        to: Priority,
    },
    StatusChanged {
        from: Status,
        to: Status,
    },
    RoleAssigned {
        assignment: Assignment,
        via: Via,
    },
    RoleRelieved {
        assignment: Assignment,
        reason: Relief,
    },
    TopicChanged {
        from: String,
        to: String,
    },
    /// An alert became part of the incident.
    AlertLinked {
        alert: AlertRef,
    },
    /// An alert fired again after it had resolved: a new alert for the same
    /// dedup key, linked to the incident its predecessor belonged to.
    AlertRetriggered {
        alert: AlertRef,
    },
    AlertAcknowledged {
        alert: AlertRef,
    },
    AlertResolved {
        alert: AlertRef,
    },
    /// A change event (a deploy, a config change) on an affected service.
    ServiceChanged {
        service: String,
        summary: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Someone was paged for this incident.
    PageSent {
        page: u64,
        /// Whom, as people read it (`@bob`, `the on-call of Primary`).
        target: String,
        message: String,
        /// The roles whoever acknowledges takes on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        roles: Vec<RoleKind>,
    },
    /// A page's escalation step notified these people (none when nobody
    /// was on call).
    PageNotified {
        page: u64,
        /// Counting from 1, repeats included.
        step: u32,
        people: Vec<Handle>,
    },
    /// A page ended: acknowledged or declined by the event's actor, expired,
    /// or cancelled because its alert was answered elsewhere.
    PageClosed {
        page: u64,
        state: PageState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The actor declined a page that goes on to its next step at once.
    PageDeclined {
        page: u64,
    },
    /// A page's step reached nobody (nobody on call, no contact method,
    /// every delivery given up): the page escalates at once.
    PageUnreachable {
        page: u64,
        /// Counting from 1, repeats included.
        step: u32,
        /// Who could not be reached and why.
        why: String,
        /// The people the step named (none when nobody was on call).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        people: Vec<Handle>,
    },
    /// An update for `audience` went out (a draft is not on the timeline).
    UpdatePublished {
        update: u64,
        audience: UpdateAudience,
        text: String,
        /// What an external update tells customers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<PublicStatus>,
        /// When the update said the next one comes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_update_in_minutes: Option<u32>,
    },
    /// `audience`'s next update was due at `due_at`: these people were
    /// reminded (`overdue`: the incident manager, past the grace).
    UpdateReminded {
        audience: UpdateAudience,
        due_at: Timestamp,
        overdue: bool,
        people: Vec<Handle>,
    },
    /// The reminder of `audience`'s next update waits until `until`.
    UpdateSnoozed {
        audience: UpdateAudience,
        minutes: u32,
        until: Timestamp,
    },
    /// The communications manager put a status page component in a state
    /// directly, for this incident.
    ComponentSet {
        component: u64,
        name: String,
        from: crate::statuspage::ComponentStatus,
        to: crate::statuspage::ComponentStatus,
    },
    /// A customer report was linked to this incident (it counts in the
    /// topic's `CSL @gina (14 reports)`).
    CustomerReportLinked {
        report: crate::support::ReportRef,
    },
    /// A report linked before is no longer about this incident.
    CustomerReportUnlinked {
        report: crate::support::ReportRef,
    },
    /// The support lead passed what a customer said to the responders.
    CustomerReportPassed {
        report: crate::support::ReportRef,
        excerpt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A customer was answered.
    CustomerReportResponded {
        report: crate::support::ReportRef,
        text: String,
    },
    /// An action's tracking changed (`said`: what changed, as a sentence);
    /// `text` is the action's words.
    ActionTracked {
        action: u64,
        text: String,
        tracking: crate::action::Tracking,
        said: String,
    },
    /// The scribe highlighted an entry for the postmortem (or took the
    /// highlight off).
    EntryHighlighted {
        entry: u64,
        highlighted: bool,
    },
    /// A remark on an entry, which stays as written.
    EntryAnnotated {
        entry: u64,
        text: String,
    },
    /// A theory (the entry `theory`, whose words were `text`) was judged.
    TheoryJudged {
        theory: u64,
        text: String,
        status: crate::timeline::TheoryStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
    },
    /// A tech lead told the incident manager how their workstream stands:
    /// the conditions they see, the actions under way, what they need.
    TechLeadReported {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workstream: Option<Scope>,
        conditions: String,
        actions: String,
        needs: String,
    },
    /// The postmortem was drafted from the timeline.
    PostmortemDrafted {
        template: crate::postmortem::document::Template,
    },
    /// The postmortem went for review, back to its writers, or was published.
    PostmortemMoved {
        from: crate::postmortem::document::PostmortemState,
        to: crate::postmortem::document::PostmortemState,
    },
    Entry {
        kind: EntryKind,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<MilestoneTag>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        corrects: Option<u64>,
        /// A decision's reasons.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rationale: Option<String>,
        /// The theory a decision follows from (its entry).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        follows: Option<u64>,
        /// The workstream (a tech lead's scope) a theory or action belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workstream: Option<Scope>,
    },
}

/// A change with who made it and when. `seq` counts from 1 within the
/// incident and is the timeline entry's id; `hash` chains each event to the
/// one before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// When it happened: `recorded_at` unless backdated.
    pub at: Timestamp,
    pub recorded_at: Timestamp,
    pub actor: Handle,
    /// The roles the actor held when acting.
    pub actor_roles: Vec<RoleKind>,
    pub change: Change,
    pub hash: String,
}

/// The current state of an incident: the fold of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub number: u64,
    pub title: String,
    pub summary: String,
    pub priority: Priority,
    pub status: Status,
    pub declared_at: Timestamp,
    pub updated_at: Timestamp,
    pub identified_at: Option<Timestamp>,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Current assignments, in the order they were made.
    pub roles: Vec<Assignment>,
    pub topic: String,
    /// Alerts linked to the incident, with their last known status.
    #[serde(default)]
    pub alerts: Vec<AlertRef>,
    /// Each audience's update clock (see [`crate::cadence`]).
    #[serde(default)]
    pub clocks: crate::cadence::Clocks,
    /// How many customer reports are linked to it.
    #[serde(default)]
    pub customer_reports: u32,
    /// The follow-ups being reminded: action entry → the `action_tracked`
    /// entry that started the current run of reminders (its jobs name it;
    /// a job of an earlier run does nothing).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reminders: std::collections::BTreeMap<u64, u64>,
    /// The tracked actions: entry → its latest tracking.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub actions: std::collections::BTreeMap<u64, crate::action::Tracking>,
    /// The entries the scribe highlighted for the postmortem, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub highlighted: Vec<u64>,
    next_assignment: u64,
    /// The `seq` of the last event.
    pub version: u64,
    pub last_hash: String,
}

/// What a command needs besides the state: who, when, and the role catalog.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
    pub catalog: &'a RoleCatalog,
}

/// A command on one incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Update {
        title: Option<String>,
        summary: Option<String>,
        priority: Option<Priority>,
        status: Option<Status>,
    },
    /// `user` carries the assignee's permission: viewers hold no roles.
    Assign {
        role: RoleKind,
        user: Actor,
        scope: Option<Scope>,
    },
    Relieve {
        assignment: u64,
    },
    /// `workstream` places a theory or action in a tech lead's scope; a
    /// tech lead with one scoped assignment writes into it unless they say
    /// otherwise.
    AddEntry {
        kind: EntryKind,
        text: String,
        tag: Option<MilestoneTag>,
        corrects: Option<u64>,
        occurred_at: Option<Timestamp>,
        workstream: Option<Scope>,
    },
    /// Link an alert; `retriggered` when it replaces a resolved alert of the
    /// same dedup key that was linked before.
    LinkAlert {
        alert: AlertRef,
        retriggered: bool,
    },
    /// A linked alert was acknowledged or resolved.
    AlertStatus {
        alert: AlertRef,
    },
    /// A change event on one of the incident's services.
    RecordChange {
        service: String,
        summary: String,
        source: Option<String>,
        /// When the change happened, as its sender said (placed there on
        /// the timeline, never after now); none: now.
        at: Option<Timestamp>,
    },
    /// Page someone for this incident. The incident manager, the backup and
    /// admins may page anyone and ask for any role; a tech lead may page
    /// subject-matter experts (no role). `automatic` pages come from an
    /// alert's escalation policy and need no authority.
    Page {
        page: u64,
        target: String,
        message: String,
        roles: Vec<RoleKind>,
        automatic: bool,
    },
    /// A page's step notified people.
    PageNotified {
        page: u64,
        step: u32,
        people: Vec<Handle>,
    },
    /// Publish update `update` (stored as a draft, or written now). Who may
    /// depends on its audience: [`UpdateAudience::publish_action`].
    PublishUpdate {
        update: u64,
        content: UpdateContent,
    },
    /// Record that `people` were reminded of `audience`'s update due at
    /// `due_at` (Muster's, from the outbox: no authority needed).
    RemindUpdate {
        audience: UpdateAudience,
        due_at: Timestamp,
        overdue: bool,
        people: Vec<Handle>,
    },
    /// Snooze the reminder of an audience's next update for 30, 60 or 120
    /// minutes (whoever may publish for it).
    SnoozeUpdate {
        audience: UpdateAudience,
        minutes: u32,
    },
    /// Put status page component `component` (`name`) from `from` in `to`
    /// for this incident (whoever may publish its external updates).
    SetComponent {
        component: u64,
        name: String,
        from: crate::statuspage::ComponentStatus,
        to: crate::statuspage::ComponentStatus,
    },
    /// Link customer reports to this incident (the support lead, the
    /// incident managers, admins).
    LinkCustomerReports {
        reports: Vec<crate::support::ReportRef>,
    },
    UnlinkCustomerReport {
        report: crate::support::ReportRef,
    },
    /// Pass what a customer said to the responders.
    PassCustomerReport {
        report: crate::support::ReportRef,
        excerpt: String,
        note: Option<String>,
    },
    /// Page one of the responders a customer report was passed to, when the
    /// one passing it asked for pages instead of notifications. The
    /// authority is the support lead's (no role given, nobody outside the
    /// incident manager and the tech leads: the app chooses whom).
    PageAboutCustomerReport {
        page: u64,
        target: String,
        message: String,
    },
    /// Record the answer given to a linked report's customer.
    RespondCustomerReport {
        report: crate::support::ReportRef,
        text: String,
    },
    /// Record a decision with its reasons and the theory it follows from
    /// (as the timeline shows it: [`crate::postmortem::theory`]).
    Decide {
        text: String,
        rationale: Option<String>,
        follows: Option<crate::postmortem::Theory>,
    },
    /// Record an action, tracked at once when `tracking` says more than
    /// the default (open, no owner, no due time).
    AddAction {
        text: String,
        tracking: crate::action::Tracking,
        workstream: Option<Scope>,
    },
    /// A tech lead's report to the incident manager on their workstream
    /// (conditions, actions, needs); `workstream` defaults to the
    /// reporter's one scope.
    ReportToIncidentManager {
        workstream: Option<Scope>,
        conditions: String,
        actions: String,
        needs: String,
    },
    /// Change how an action (as the timeline shows it now:
    /// [`crate::action::action`]) is tracked.
    TrackAction {
        action: crate::action::ActionItem,
        tracking: crate::action::Tracking,
    },
    /// Highlight an entry for the postmortem, or take the highlight off.
    Highlight {
        entry: u64,
        highlighted: bool,
    },
    /// Add a remark to an entry (its words stay as written).
    Annotate {
        entry: u64,
        text: String,
    },
    /// Judge a theory on the timeline: confirmed, ruled out, or open again
    /// (`theory` as the timeline shows it now: [`crate::postmortem::theories`]).
    JudgeTheory {
        theory: crate::postmortem::Theory,
        status: crate::timeline::TheoryStatus,
        evidence: Option<String>,
    },
    /// Start the postmortem of an incident that ended.
    DraftPostmortem {
        template: crate::postmortem::document::Template,
    },
    /// Move its postmortem on (`from` is where it is now).
    MovePostmortem {
        from: crate::postmortem::document::PostmortemState,
        to: crate::postmortem::document::PostmortemState,
    },
    /// A page ended. Acknowledged, the actor takes on `roles` (the authority
    /// to give them was checked when the page was sent).
    ClosePage {
        page: u64,
        state: PageState,
        reason: Option<String>,
        roles: Vec<RoleKind>,
    },
    /// The actor declined a page that goes on to its next step.
    DeclinePage {
        page: u64,
    },
    /// A page's step reached nobody.
    PageUnreachable {
        page: u64,
        step: u32,
        why: String,
        people: Vec<Handle>,
    },
}

/// A new incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    pub title: String,
    pub summary: String,
    pub priority: Priority,
    /// Defaults to the declaring actor at the edge.
    pub incident_manager: Actor,
}

/// How far into the future a backdated entry may be (clock skew).
const FUTURE_SKEW: SignedDuration = SignedDuration::from_secs(60);

fn parse_title(title: &str) -> Result<String, DomainError> {
    let t = title.trim();
    if t.is_empty() || title.chars().count() > 200 {
        return Err(DomainError::invalid("title", "a title has 1-200 characters"));
    }
    Ok(t.to_owned())
}

fn parse_summary(summary: &str) -> Result<String, DomainError> {
    let s = summary.trim();
    if summary.chars().count() > 10_000 {
        return Err(DomainError::invalid("summary", "a summary has at most 10,000 characters"));
    }
    Ok(s.to_owned())
}

fn require_role_holder(user: &Actor) -> Result<(), DomainError> {
    if user.permission == Permission::Viewer {
        return Err(DomainError::invalid(
            "user",
            format!("@{} is a viewer, and viewers cannot hold roles", user.handle),
        ));
    }
    Ok(())
}

impl Incident {
    pub fn reference(&self) -> IncidentRef {
        IncidentRef(self.number)
    }

    /// The incident manager. There is always exactly one.
    pub fn incident_manager(&self) -> Option<&Assignment> {
        self.holders(&RoleKind::IncidentManager).next()
    }

    pub fn holders<'a>(&'a self, role: &'a RoleKind) -> impl Iterator<Item = &'a Assignment> + 'a {
        self.roles.iter().filter(move |a| &a.role == role)
    }

    /// Whether `who` is in charge of this incident: its incident manager,
    /// its backup, or an admin. They assign and relieve roles, page anyone,
    /// answer any of its pages. The one place this rule is written: the
    /// API, the web, the room and paging all ask here.
    pub fn in_charge(&self, who: &Actor) -> bool {
        access::may(who, Action::ManageRoles, &Standing::incident(self, who))
    }

    /// The assignment of `role` held by `user`, if they hold it: what
    /// relieving "@dan as tech lead" relieves (the first, if several).
    pub fn assignment_of(&self, user: &Handle, role: &RoleKind) -> Option<&Assignment> {
        self.roles.iter().find(|a| &a.user == user && &a.role == role)
    }

    /// The roles a user holds now, without duplicates, in assignment order.
    /// `audience`'s update clock.
    pub fn clock(&self, audience: UpdateAudience) -> crate::cadence::AudienceClock {
        self.clocks.get(audience)
    }

    /// The audiences `user` covers as a communications manager: the
    /// scope's, or both when unscoped.
    pub fn communications_covered_by(&self, user: &Handle) -> Vec<Audience> {
        Audience::BOTH.into_iter().filter(|a| self.roles.iter().any(|r| &r.user == user && r.covers(*a))).collect()
    }

    pub fn roles_of(&self, user: &Handle) -> Vec<RoleKind> {
        let mut out: Vec<RoleKind> = Vec::new();
        for a in self.roles.iter().filter(|a| &a.user == user) {
            if !out.contains(&a.role) {
                out.push(a.role.clone());
            }
        }
        out
    }

    /// Whether every linked alert has resolved: a hint that the incident may
    /// be resolved too (it never resolves by itself).
    pub fn all_alerts_resolved(&self) -> bool {
        !self.alerts.is_empty() && self.alerts.iter().all(|a| a.status == AlertStatus::Resolved)
    }

    /// Required roles nobody holds. A required communications manager is
    /// missing until both audiences are covered.
    pub fn missing_roles(&self, required: &crate::RequiredRoles) -> Vec<RoleKind> {
        required
            .for_priority(self.priority)
            .iter()
            .filter(|role| match role {
                RoleKind::CommunicationsManager => {
                    !Audience::BOTH.iter().all(|aud| self.roles.iter().any(|a| a.covers(*aud)))
                }
                role => self.holders(role).next().is_none(),
            })
            .cloned()
            .collect()
    }

    /// Declares incident `number`: the actor becomes first responder and the
    /// chosen incident manager takes the role.
    pub fn declare(number: u64, d: Declaration, ctx: Context<'_>) -> Result<(Incident, Vec<Event>), DomainError> {
        let first_responder = ctx.actor.handle.clone();
        Incident::declare_for(number, d, first_responder, ctx)
    }

    /// Declares an incident whose first responder is someone other than
    /// the declarer: Muster (`ctx.actor`, the system) declaring on behalf
    /// of a service's owner. The entries are Muster's; the roles the
    /// owner's.
    pub fn declare_for(
        number: u64,
        d: Declaration,
        first_responder: Handle,
        ctx: Context<'_>,
    ) -> Result<(Incident, Vec<Event>), DomainError> {
        ctx.actor.require_write()?;
        let title = parse_title(&d.title)?;
        let summary = parse_summary(&d.summary)?;
        require_role_holder(&d.incident_manager).map_err(|_| {
            DomainError::invalid(
                "incident_manager",
                format!("@{} is a viewer, and viewers cannot hold roles", d.incident_manager.handle),
            )
        })?;
        let declared = Change::Declared { number, title, summary, priority: d.priority };
        let mut state = Incident::from_declared(&declared, ctx.now).expect("a Declared change");
        let mut tx = Transaction::new(&mut state, ctx);
        // The declarer acts as first responder (and as incident manager
        // when they keep that role).
        tx.actor_roles = Vec::new();
        if first_responder == ctx.actor.handle {
            tx.actor_roles.push(RoleKind::FirstResponder);
        }
        if d.incident_manager.handle == ctx.actor.handle {
            tx.actor_roles.push(RoleKind::IncidentManager);
        }
        tx.record(declared, None);
        tx.assign_new(RoleKind::FirstResponder, first_responder, None, Via::Declaration);
        tx.assign_new(RoleKind::IncidentManager, d.incident_manager.handle, None, Via::Declaration);
        let events = tx.finish();
        Ok((state, events))
    }

    /// Runs a command; on success returns the new state and the events that
    /// led to it (possibly none, when nothing changed).
    pub fn execute(&self, command: Command, ctx: Context<'_>) -> Result<(Incident, Vec<Event>), DomainError> {
        ctx.actor.require_write()?;
        let mut state = self.clone();
        let mut tx = Transaction::new(&mut state, ctx);
        match command {
            Command::Update { title, summary, priority, status } => tx.update(title, summary, priority, status)?,
            Command::Assign { role, user, scope } => tx.assign(role, user, scope)?,
            Command::Relieve { assignment } => tx.relieve(assignment)?,
            Command::AddEntry { kind, text, tag, corrects, occurred_at, workstream } => {
                let workstream = match (kind, workstream) {
                    (EntryKind::Theory | EntryKind::Action, named) => tx.workstream(named)?,
                    (_, None) => None,
                    (_, Some(_)) => {
                        return Err(DomainError::invalid(
                            "workstream",
                            "only theories and actions belong to a workstream",
                        ));
                    }
                };
                tx.entry(kind, text, tag, corrects, occurred_at, (None, None, workstream))?;
            }
            Command::LinkAlert { alert, retriggered } => tx.link_alert(alert, retriggered)?,
            Command::AlertStatus { alert } => tx.alert_status(alert),
            Command::RecordChange { service, summary, source, at } => {
                let at = at.map(|t| t.min(tx.now));
                tx.record(Change::ServiceChanged { service, summary, source }, at);
            }
            Command::Page { page, target, message, roles, automatic } => {
                tx.page(page, target, message, roles, automatic)?;
            }
            Command::PageNotified { page, step, people } => {
                tx.require_not_closed()?;
                tx.record(Change::PageNotified { page, step, people }, None);
            }
            Command::ClosePage { page, state, reason, roles } => tx.close_page(page, state, reason, roles)?,
            Command::DeclinePage { page } => {
                tx.require_not_closed()?;
                tx.record(Change::PageDeclined { page }, None);
            }
            Command::PageUnreachable { page, step, why, people } => {
                tx.require_not_closed()?;
                tx.record(Change::PageUnreachable { page, step, why, people }, None);
            }
            Command::PublishUpdate { update, content } => {
                tx.require_not_closed()?;
                tx.require(content.audience.publish_action())?;
                let text = content.text();
                let published = Change::UpdatePublished {
                    update,
                    audience: content.audience,
                    text,
                    status: content.status,
                    next_update_in_minutes: content.next_update_in_minutes,
                };
                tx.record(published, None);
            }
            Command::RemindUpdate { audience, due_at, overdue, people } => {
                tx.require_not_closed()?;
                tx.record(Change::UpdateReminded { audience, due_at, overdue, people }, None);
            }
            Command::SnoozeUpdate { audience, minutes } => {
                tx.require_not_closed()?;
                tx.require(audience.publish_action())?;
                crate::cadence::check_snooze(minutes)?;
                if !tx.state.status.is_open() {
                    return Err(DomainError::Conflict(format!(
                        "{} is {}: no update is due, there is nothing to snooze",
                        tx.state.reference(),
                        tx.state.status
                    )));
                }
                let until = tx.now.checked_add(SignedDuration::from_mins(i64::from(minutes))).unwrap_or(tx.now);
                tx.record(Change::UpdateSnoozed { audience, minutes, until }, None);
            }
            Command::SetComponent { component, name, from, to } => {
                tx.require_not_closed()?;
                tx.require(Action::PublishExternalUpdate)?;
                tx.record(Change::ComponentSet { component, name, from, to }, None);
            }
            Command::LinkCustomerReports { reports } => {
                tx.require_not_closed()?;
                tx.require(Action::HandleCustomerReports)?;
                for report in reports {
                    tx.record(Change::CustomerReportLinked { report }, None);
                }
            }
            Command::UnlinkCustomerReport { report } => {
                tx.require(Action::HandleCustomerReports)?;
                tx.record(Change::CustomerReportUnlinked { report }, None);
            }
            Command::PassCustomerReport { report, excerpt, note } => {
                tx.require_not_closed()?;
                tx.require(Action::HandleCustomerReports)?;
                tx.record(Change::CustomerReportPassed { report, excerpt, note }, None);
            }
            Command::PageAboutCustomerReport { page, target, message } => {
                tx.require(Action::HandleCustomerReports)?;
                if tx.state.status == Status::Resolved {
                    return Err(DomainError::Conflict(format!(
                        "not paged: {} is resolved; pass the report on without a page",
                        tx.reference()
                    )));
                }
                tx.page(page, target, message, Vec::new(), true)?;
            }
            Command::RespondCustomerReport { report, text } => {
                tx.require(Action::HandleCustomerReports)?;
                tx.record(Change::CustomerReportResponded { report, text }, None);
            }
            Command::Decide { text, rationale, follows } => {
                tx.require(Action::AddToTimeline)?;
                let rationale = rationale.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
                if rationale.as_ref().is_some_and(|r| r.chars().count() > 10_000) {
                    return Err(DomainError::invalid("rationale", "a rationale has at most 10,000 characters"));
                }
                tx.entry(EntryKind::Decision, text, None, None, None, (rationale, follows.map(|t| t.seq), None))?;
            }
            Command::AddAction { text, tracking, workstream } => {
                tx.require(Action::AddToTimeline)?;
                let tracking = tracking.checked()?;
                let workstream = tx.workstream(workstream)?;
                tx.entry(EntryKind::Action, text, None, None, None, (None, None, workstream))?;
                let seq = tx.state.version;
                let text = match tx.events.last().map(|e| &e.change) {
                    Some(Change::Entry { text, .. }) => text.clone(),
                    _ => String::new(),
                };
                if tracking != crate::action::Tracking::default() {
                    tx.track(seq, text, &crate::action::Tracking::default(), tracking);
                }
            }
            Command::TrackAction { action, tracking } => {
                tx.require(Action::TrackActions)?;
                let tracking = tracking.checked()?;
                if tracking == action.tracking {
                    return Ok((self.clone(), Vec::new()));
                }
                tx.track(action.seq, action.text, &action.tracking, tracking);
            }
            Command::ReportToIncidentManager { workstream, conditions, actions, needs } => {
                tx.require_not_closed()?;
                tx.require(Action::ReportToIncidentManager)?;
                let workstream = tx.workstream(workstream)?;
                let part = |field: &str, text: String, required: bool| {
                    let sent = text.chars().count();
                    let text = text.trim().to_owned();
                    if (required && text.is_empty()) || sent > 10_000 {
                        let what = if required { "1-10,000" } else { "at most 10,000" };
                        return Err(DomainError::invalid(field, format!("a report's {field} has {what} characters")));
                    }
                    Ok(text)
                };
                let conditions = part("conditions", conditions, true)?;
                let actions = part("actions", actions, false)?;
                let needs = part("needs", needs, false)?;
                tx.record(Change::TechLeadReported { workstream, conditions, actions, needs }, None);
            }
            Command::Highlight { entry, highlighted } => {
                tx.require(Action::CurateTimeline)?;
                tx.require_entry(entry)?;
                if tx.state.highlighted.contains(&entry) == highlighted {
                    let is = if highlighted { "highlighted already" } else { "not highlighted" };
                    return Err(DomainError::Conflict(format!("entry {entry} is {is}")));
                }
                tx.record(Change::EntryHighlighted { entry, highlighted }, None);
            }
            Command::Annotate { entry, text } => {
                tx.require(Action::CurateTimeline)?;
                tx.require_entry(entry)?;
                let sent = text.chars().count();
                let text = text.trim().to_owned();
                if text.is_empty() || sent > 10_000 {
                    return Err(DomainError::invalid("text", "an annotation has 1-10,000 characters"));
                }
                tx.record(Change::EntryAnnotated { entry, text }, None);
            }
            Command::JudgeTheory { theory, status, evidence } => {
                tx.require_not_closed()?;
                tx.require(Action::JudgeTheory)?;
                if theory.status == status {
                    return Err(DomainError::Conflict(format!(
                        "theory {} is {} already",
                        theory.seq,
                        status.as_str().replace('_', " ")
                    )));
                }
                let evidence = evidence.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
                if evidence.as_ref().is_some_and(|e| e.chars().count() > 10_000) {
                    return Err(DomainError::invalid("evidence", "evidence has at most 10,000 characters"));
                }
                tx.record(Change::TheoryJudged { theory: theory.seq, text: theory.text, status, evidence }, None);
            }
            Command::DraftPostmortem { template } => {
                tx.require(Action::WritePostmortem)?;
                if !matches!(tx.state.status, Status::Resolved | Status::Closed) {
                    return Err(DomainError::Conflict(format!(
                        "{} is {}: a postmortem is written once the incident is resolved",
                        tx.reference(),
                        tx.state.status
                    )));
                }
                tx.record(Change::PostmortemDrafted { template }, None);
            }
            Command::MovePostmortem { from, to } => {
                use crate::postmortem::document::PostmortemState;
                tx.require(if to == PostmortemState::Published {
                    Action::PublishPostmortem
                } else {
                    Action::WritePostmortem
                })?;
                from.check_move(to)?;
                tx.record(Change::PostmortemMoved { from, to }, None);
            }
        }
        let events = tx.finish();
        Ok((state, events))
    }

    fn from_declared(change: &Change, at: Timestamp) -> Option<Incident> {
        let Change::Declared { number, title, summary, priority } = change else {
            return None;
        };
        Some(Incident {
            number: *number,
            title: title.clone(),
            summary: summary.clone(),
            priority: *priority,
            status: Status::Investigating,
            declared_at: at,
            updated_at: at,
            identified_at: None,
            monitoring_at: None,
            resolved_at: None,
            closed_at: None,
            roles: Vec::new(),
            topic: String::new(),
            alerts: Vec::new(),
            clocks: Default::default(),
            customer_reports: 0,
            highlighted: Vec::new(),
            actions: Default::default(),
            reminders: Default::default(),
            next_assignment: 1,
            version: 0,
            last_hash: String::new(),
        })
    }

    /// Rebuilds the state from the events, as stored. `None` if the first
    /// event is not a declaration.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<Incident> {
        let mut events = events.into_iter();
        let first = events.next()?;
        let mut state = Incident::from_declared(&first.change, first.recorded_at)?;
        state.apply(first);
        for e in events {
            state.apply(e);
        }
        Some(state)
    }

    /// Folds one event into the state. Events were validated when they were
    /// made, so applying cannot fail.
    pub fn apply(&mut self, e: &Event) {
        match &e.change {
            Change::Declared { .. }
            | Change::Entry { .. }
            | Change::ServiceChanged { .. }
            | Change::PageSent { .. }
            | Change::PageNotified { .. }
            | Change::PageClosed { .. }
            | Change::PageDeclined { .. }
            | Change::PageUnreachable { .. }
            | Change::UpdateReminded { .. }
            | Change::ComponentSet { .. }
            | Change::CustomerReportPassed { .. }
            | Change::CustomerReportResponded { .. }
            | Change::TheoryJudged { .. }
            | Change::TechLeadReported { .. }
            | Change::EntryAnnotated { .. }
            | Change::PostmortemDrafted { .. }
            | Change::PostmortemMoved { .. } => {}
            Change::CustomerReportLinked { .. } => self.customer_reports += 1,
            Change::EntryHighlighted { entry, highlighted: true } => self.highlighted.push(*entry),
            Change::ActionTracked { action, tracking, .. } => {
                if crate::action::starts_reminders(self.actions.get(action), tracking) {
                    self.reminders.insert(*action, e.seq);
                } else if !crate::action::reminded(tracking) {
                    self.reminders.remove(action);
                }
                self.actions.insert(*action, tracking.clone());
            }
            Change::EntryHighlighted { entry, highlighted: false } => self.highlighted.retain(|e| e != entry),
            Change::CustomerReportUnlinked { .. } => self.customer_reports = self.customer_reports.saturating_sub(1),
            Change::UpdatePublished { audience, next_update_in_minutes, .. } => {
                *self.clocks.get_mut(*audience) = crate::cadence::AudienceClock {
                    published_at: Some(e.recorded_at),
                    next_update_in_minutes: *next_update_in_minutes,
                    snoozed_until: None,
                };
            }
            Change::UpdateSnoozed { audience, until, .. } => {
                self.clocks.get_mut(*audience).snoozed_until = Some(*until);
            }
            Change::AlertLinked { alert } | Change::AlertRetriggered { alert } => self.alerts.push(alert.clone()),
            Change::AlertAcknowledged { alert } | Change::AlertResolved { alert } => {
                if let Some(a) = self.alerts.iter_mut().find(|a| a.id == alert.id) {
                    a.status = alert.status;
                }
            }
            Change::TitleChanged { to, .. } => self.title.clone_from(to),
            Change::SummaryChanged { to, .. } => self.summary.clone_from(to),
            Change::PriorityChanged { to, .. } => self.priority = *to,
            Change::StatusChanged { to, .. } => {
                self.status = *to;
                let at = Some(e.recorded_at);
                match to {
                    Status::Investigating => {
                        self.resolved_at = None;
                    }
                    Status::Identified => self.identified_at = at,
                    Status::Monitoring => self.monitoring_at = at,
                    Status::Resolved => self.resolved_at = at,
                    Status::Closed => self.closed_at = at,
                }
            }
            Change::RoleAssigned { assignment, .. } => {
                self.next_assignment = self.next_assignment.max(assignment.id + 1);
                self.roles.push(assignment.clone());
            }
            Change::RoleRelieved { assignment, .. } => self.roles.retain(|a| a.id != assignment.id),
            Change::TopicChanged { to, .. } => self.topic.clone_from(to),
        }
        self.version = e.seq;
        self.last_hash.clone_from(&e.hash);
        self.updated_at = e.recorded_at;
    }
}

/// One command's worth of events, applied to the state as they are made so
/// that later checks in the same command see earlier effects.
struct Transaction<'s, 'c> {
    state: &'s mut Incident,
    ctx: Context<'c>,
    /// The command's time, never before the incident's last event: clocks
    /// of concurrent callers (or instances) may disagree, and the timeline's
    /// order must follow the order of events.
    now: Timestamp,
    /// The roles the actor held when the command began.
    actor_roles: Vec<RoleKind>,
    events: Vec<Event>,
}

impl<'s, 'c> Transaction<'s, 'c> {
    fn new(state: &'s mut Incident, ctx: Context<'c>) -> Self {
        let actor_roles = state.roles_of(&ctx.actor.handle);
        let now = ctx.now.max(state.updated_at);
        Transaction { state, ctx, now, actor_roles, events: Vec::new() }
    }

    fn record(&mut self, change: Change, at: Option<Timestamp>) {
        let mut event = Event {
            seq: self.state.version + 1,
            at: at.unwrap_or(self.now),
            recorded_at: self.now,
            actor: self.ctx.actor.handle.clone(),
            actor_roles: self.actor_roles.clone(),
            change,
            hash: String::new(),
        };
        event.hash = timeline::chain_hash(&self.state.last_hash, &event);
        self.state.apply(&event);
        self.events.push(event);
    }

    /// Re-renders the topic and records it when it changed.
    fn finish(mut self) -> Vec<Event> {
        if !self.events.is_empty() {
            let topic = topic::render(self.state, self.ctx.catalog);
            if topic != self.state.topic {
                let from = self.state.topic.clone();
                self.record(Change::TopicChanged { from, to: topic }, None);
            }
        }
        self.events
    }

    fn reference(&self) -> IncidentRef {
        self.state.reference()
    }

    /// Records an action's new tracking, saying what changed.
    fn track(
        &mut self,
        action: u64,
        text: String,
        before: &crate::action::Tracking,
        tracking: crate::action::Tracking,
    ) {
        let said = crate::action::describe_change(&self.ctx.actor.handle, action, before, &tracking);
        self.record(Change::ActionTracked { action, text, tracking, said }, None);
    }

    /// Refuses unless the timeline has entry `entry`.
    fn require_entry(&self, entry: u64) -> Result<(), DomainError> {
        if entry == 0 || entry > self.state.version {
            return Err(DomainError::not_found("id", format!("{} has no timeline entry {entry}", self.reference())));
        }
        Ok(())
    }

    fn require_not_closed(&self) -> Result<(), DomainError> {
        if self.state.status == Status::Closed {
            return Err(DomainError::Conflict(format!("{} is closed, and closed is final", self.reference())));
        }
        Ok(())
    }

    /// The actor's standing, from the roles they held when the command
    /// began (the rule of [`Incident::in_charge`] is [`Action::ManageRoles`]).
    fn standing(&self) -> Standing {
        Standing::roles(self.state, self.ctx.actor, self.actor_roles.clone())
    }

    /// Refuses unless the table lets the actor take `action` here; the
    /// refusal names who holds the roles that may.
    fn require(&self, action: Action) -> Result<(), DomainError> {
        let holders = |role: RoleKind| self.state.holders(&role).map(|a| a.user.clone()).collect();
        access::check_naming(self.ctx.actor, action, &self.standing(), &holders)
    }

    fn assign_new(&mut self, role: RoleKind, user: Handle, scope: Option<Scope>, via: Via) {
        let assignment = Assignment {
            id: self.state.next_assignment,
            role,
            user,
            scope,
            assigned_at: self.now,
            assigned_by: self.ctx.actor.handle.clone(),
        };
        self.record(Change::RoleAssigned { assignment, via }, None);
    }

    fn relieve_existing(&mut self, assignment: Assignment, reason: Relief) {
        self.record(Change::RoleRelieved { assignment, reason }, None);
    }

    fn update(
        &mut self,
        title: Option<String>,
        summary: Option<String>,
        priority: Option<Priority>,
        status: Option<Status>,
    ) -> Result<(), DomainError> {
        self.require_not_closed()?;
        // Validate everything before recording anything.
        let title = title.as_deref().map(parse_title).transpose()?;
        let summary = summary.as_deref().map(parse_summary).transpose()?;
        if let Some(to) = status {
            let from = self.state.status;
            if from != to && !from.can_move_to(to) {
                let allowed: Vec<&str> =
                    Status::ALL.into_iter().filter(|s| from.can_move_to(*s)).map(Status::as_str).collect();
                return Err(DomainError::invalid(
                    "status",
                    format!(
                        "{} cannot move from {from} to {to}; from {from} it may move to {}",
                        self.reference(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let edits = title.as_ref().is_some_and(|t| *t != self.state.title)
            || summary.as_ref().is_some_and(|s| *s != self.state.summary)
            || priority.is_some_and(|p| p != self.state.priority);
        if edits {
            self.require(Action::EditIncident)?;
        }
        if let Some(to) = status.filter(|s| *s != self.state.status) {
            self.require(access::status_action(self.state.status, to))?;
        }
        if let Some(to) = title.filter(|t| *t != self.state.title) {
            let from = self.state.title.clone();
            self.record(Change::TitleChanged { from, to }, None);
        }
        if let Some(to) = summary.filter(|s| *s != self.state.summary) {
            let from = self.state.summary.clone();
            self.record(Change::SummaryChanged { from, to }, None);
        }
        if let Some(to) = priority.filter(|p| *p != self.state.priority) {
            let from = self.state.priority;
            self.record(Change::PriorityChanged { from, to }, None);
        }
        if let Some(to) = status.filter(|s| *s != self.state.status) {
            let from = self.state.status;
            self.record(Change::StatusChanged { from, to }, None);
        }
        Ok(())
    }

    fn assign(&mut self, role: RoleKind, user: Actor, scope: Option<Scope>) -> Result<(), DomainError> {
        self.require_not_closed()?;
        self.require(Action::ManageRoles)?;
        require_role_holder(&user)?;
        let user = user.handle;
        if let Some(same) = self.state.roles.iter().find(|a| a.role == role && a.user == user && a.scope == scope) {
            return Err(DomainError::Conflict(format!(
                "@{user} already holds {}{} in {}",
                same.role.key(),
                same.scope.as_ref().map(|s| format!(" ({s})")).unwrap_or_default(),
                self.reference()
            )));
        }
        self.place(role, user, scope, None)
    }

    /// Gives `user` the role, relieving whoever it displaces. `page` names
    /// the page whose acknowledgement this is, if any.
    fn place(
        &mut self,
        role: RoleKind,
        user: Handle,
        scope: Option<Scope>,
        page: Option<u64>,
    ) -> Result<(), DomainError> {
        let via = |other: Via| page.map_or(other, |page| Via::Page { page });
        match &role {
            RoleKind::IncidentManager => {
                let current =
                    self.state.incident_manager().cloned().expect("an incident always has an incident manager");
                self.relieve_existing(current.clone(), Relief::HandedOver { to: user.clone() });
                let backup = self.state.holders(&RoleKind::BackupIncidentManager).find(|a| a.user == user).cloned();
                if let Some(backup) = backup {
                    self.relieve_existing(backup, Relief::BecameIncidentManager);
                }
                self.assign_new(role, user, None, via(Via::Handover { from: current.user }));
            }
            RoleKind::BackupIncidentManager if self.state.incident_manager().is_some_and(|a| a.user == user) => {
                return Err(DomainError::invalid(
                    "user",
                    format!("@{user} is the incident manager and cannot also be their own backup"),
                ));
            }
            RoleKind::CommunicationsManager => {
                let holders: Vec<Assignment> = self.state.holders(&role).cloned().collect();
                match scope.as_ref().and_then(Scope::audience) {
                    // Covering both audiences replaces everyone.
                    None => {
                        for h in holders {
                            self.relieve_existing(h, Relief::Replaced { by: user.clone() });
                        }
                    }
                    Some(audience) => {
                        for h in holders {
                            match h.scope.as_ref().and_then(Scope::audience) {
                                Some(a) if a == audience => {
                                    self.relieve_existing(h, Relief::Replaced { by: user.clone() });
                                }
                                Some(_) => {}
                                // Whoever covered both keeps the other audience.
                                None => {
                                    self.relieve_existing(h.clone(), Relief::Narrowed);
                                    if h.user != user {
                                        let other = Some(Scope::of_audience(audience.other()));
                                        self.assign_new(role.clone(), h.user, other, Via::Narrowed);
                                    }
                                }
                            }
                        }
                    }
                }
                self.assign_new(role, user, scope, via(Via::Assigned));
            }
            role if self.ctx.catalog.many(role) => {
                self.assign_new(role.clone(), user, scope, via(Via::Assigned));
            }
            role => {
                let holders: Vec<Assignment> = self.state.holders(role).cloned().collect();
                for h in holders {
                    self.relieve_existing(h, Relief::Replaced { by: user.clone() });
                }
                self.assign_new(role.clone(), user, scope, via(Via::Assigned));
            }
        }
        Ok(())
    }

    fn relieve(&mut self, id: u64) -> Result<(), DomainError> {
        self.require_not_closed()?;
        let Some(assignment) = self.state.roles.iter().find(|a| a.id == id).cloned() else {
            return Err(DomainError::not_found(
                "id",
                format!("{} has no current role assignment {id}", self.reference()),
            ));
        };
        if assignment.user != self.ctx.actor.handle {
            self.require(Action::ManageRoles)?;
        }
        if assignment.role == RoleKind::IncidentManager {
            let Some(backup) = self.state.holders(&RoleKind::BackupIncidentManager).next().cloned() else {
                return Err(DomainError::Conflict(format!(
                    "{} must always have an incident manager: assign a new incident manager (a handover) or a backup incident manager first",
                    self.reference()
                )));
            };
            let from = assignment.user.clone();
            self.relieve_existing(assignment, Relief::Relieved);
            self.relieve_existing(backup.clone(), Relief::BecameIncidentManager);
            self.assign_new(RoleKind::IncidentManager, backup.user, None, Via::Promotion { from });
        } else {
            self.relieve_existing(assignment, Relief::Relieved);
        }
        Ok(())
    }

    fn page(
        &mut self,
        page: u64,
        target: String,
        message: String,
        roles: Vec<RoleKind>,
        automatic: bool,
    ) -> Result<(), DomainError> {
        self.require_not_closed()?;
        if !automatic {
            self.require(if roles.is_empty() { Action::PageForHelp } else { Action::ManageRoles })?;
            // A page on a resolved incident would be cancelled at once: say
            // so instead of sending it.
            if self.state.status == Status::Resolved {
                return Err(DomainError::Conflict(format!(
                    "not sent: {} is resolved; reopen it (status investigating) to page for it",
                    self.reference()
                )));
            }
        }
        let message = crate::page::parse_message(&message)?;
        if roles.contains(&RoleKind::IncidentManager) && roles.contains(&RoleKind::BackupIncidentManager) {
            return Err(DomainError::invalid(
                "role",
                "one person cannot be both incident manager and backup incident manager",
            ));
        }
        let mut unique: Vec<RoleKind> = Vec::new();
        for r in roles {
            if !unique.contains(&r) {
                unique.push(r);
            }
        }
        let roles = unique;
        self.record(Change::PageSent { page, target, message, roles }, None);
        Ok(())
    }

    /// Ends a page; an acknowledgement gives the actor the roles the page
    /// asked for (those they do not hold already).
    fn close_page(
        &mut self,
        page: u64,
        state: PageState,
        reason: Option<String>,
        roles: Vec<RoleKind>,
    ) -> Result<(), DomainError> {
        self.require_not_closed()?;
        if state.is_open() {
            return Err(DomainError::invalid("state", format!("a page does not end as {state}")));
        }
        self.record(Change::PageClosed { page, state, reason }, None);
        if state == PageState::Acknowledged {
            let user = self.ctx.actor.handle.clone();
            for role in roles {
                if self.state.roles.iter().any(|a| a.role == role && a.user == user) {
                    continue;
                }
                if role == RoleKind::BackupIncidentManager
                    && self.state.incident_manager().is_some_and(|a| a.user == user)
                {
                    continue;
                }
                self.place(role, user.clone(), None, Some(page))?;
            }
        }
        Ok(())
    }

    fn link_alert(&mut self, alert: AlertRef, retriggered: bool) -> Result<(), DomainError> {
        self.require_not_closed()?;
        if self.state.alerts.iter().any(|a| a.id == alert.id) {
            return Err(DomainError::Conflict(format!("alert {} is already linked to {}", alert.id, self.reference())));
        }
        let change = if retriggered { Change::AlertRetriggered { alert } } else { Change::AlertLinked { alert } };
        self.record(change, None);
        Ok(())
    }

    /// Records a linked alert's new status; alerts not linked here, or with
    /// no change, record nothing.
    fn alert_status(&mut self, alert: AlertRef) {
        let known = self.state.alerts.iter().find(|a| a.id == alert.id);
        if known.is_none_or(|a| a.status == alert.status) {
            return;
        }
        match alert.status {
            AlertStatus::Resolved => self.record(Change::AlertResolved { alert }, None),
            AlertStatus::Acknowledged => self.record(Change::AlertAcknowledged { alert }, None),
            AlertStatus::Triggered => {}
        }
    }

    /// The workstream a theory, action or report goes in: the one named,
    /// which must be a current tech lead's scope, or else the actor's own
    /// when they lead exactly one.
    fn workstream(&self, named: Option<Scope>) -> Result<Option<Scope>, DomainError> {
        let current = crate::workstream::current(self.state);
        match named {
            Some(w) if current.contains(&w) => Ok(Some(w)),
            Some(w) => Err(DomainError::invalid(
                "workstream",
                if current.is_empty() {
                    format!("{} has no workstreams: a tech lead assigned with a scope leads one", self.reference())
                } else {
                    let list: Vec<&str> = current.iter().map(Scope::as_str).collect();
                    format!(
                        "{} has no workstream {:?}; its workstreams are {}",
                        self.reference(),
                        w.as_str(),
                        list.join(", ")
                    )
                },
            )),
            None => {
                let mine: Vec<&Scope> = self
                    .state
                    .holders(&RoleKind::TechLead)
                    .filter(|a| a.user == self.ctx.actor.handle)
                    .filter_map(|a| a.scope.as_ref())
                    .collect();
                Ok(match mine.as_slice() {
                    [one] => Some((*one).clone()),
                    _ => None,
                })
            }
        }
    }

    fn entry(
        &mut self,
        kind: EntryKind,
        text: String,
        tag: Option<MilestoneTag>,
        corrects: Option<u64>,
        occurred_at: Option<Timestamp>,
        (rationale, follows, workstream): (Option<String>, Option<u64>, Option<Scope>),
    ) -> Result<(), DomainError> {
        // Limits count what was sent, as the API's document says.
        let sent = text.chars().count();
        let text = text.trim().to_owned();
        if text.is_empty() || sent > 10_000 {
            return Err(DomainError::invalid("text", "an entry's text has 1-10,000 characters"));
        }
        match (kind, tag) {
            (EntryKind::Milestone, None) => {
                return Err(DomainError::invalid(
                    "tag",
                    format!("a milestone needs a tag, one of {}", MilestoneTag::list()),
                ));
            }
            (EntryKind::Milestone, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(DomainError::invalid("tag", "only milestones take a tag")),
        }
        if let Some(c) = corrects
            && (c == 0 || c > self.state.version)
        {
            return Err(DomainError::not_found("corrects", format!("{} has no timeline entry {c}", self.reference())));
        }
        if let Some(at) = occurred_at
            && at > self.now + FUTURE_SKEW
        {
            return Err(DomainError::invalid("occurred_at", "an entry cannot be dated in the future"));
        }
        self.record(Change::Entry { kind, text, tag, corrects, rationale, follows, workstream }, occurred_at);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
