//! Who may do what: the one table of permissions.
//!
//! Every change anyone asks for names an [`Action`]; [`rule`] says who may
//! take it, as a list of [`Who`]; [`check`] decides for one actor from their
//! [`Standing`] towards the thing acted on (their roles in the incident,
//! whether they own the service, ...). The API, the web pages, the room and
//! the CLI (through the API) all come here, so a rule is written once.
//!
//! Two rules sit above the table:
//! - admins may take every action;
//! - viewers read everything and change nothing, except their own tokens
//!   and password ([`Action::viewers_too`]).
//!
//! Reading needs only a signed-in user, with two exceptions that are
//! actions of their own: integration keys ([`Action::SeeIntegrationKey`])
//! and contact addresses ([`Action::SeeContactAddresses`]).

use crate::role::Audience;
use crate::{Actor, DomainError, Handle, Incident, RoleKind, Status};

/// Someone a rule lets through, relative to the thing acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// Any user who may write: responders and admins.
    Responders,
    /// The incident's incident manager or backup incident manager.
    IncidentManagers,
    /// The incident's incident manager alone (not the backup).
    TheIncidentManager,
    /// A communications manager of the incident covering internal
    /// communications (scope `internal`, or none: both).
    InternalCommunications,
    /// A communications manager covering external communications.
    ExternalCommunications,
    /// A tech lead of the incident.
    TechLeads,
    /// The incident's customer support lead.
    SupportLead,
    /// The incident's scribe.
    Scribe,
    /// The owner of the service.
    ServiceOwner,
    /// Someone in one of the schedule's rotations.
    ScheduleMembers,
    /// The user the thing belongs to (their contact methods, tokens).
    TheUser,
    Admins,
}

impl Who {
    pub const ALL: [Who; 12] = [
        Who::Responders,
        Who::IncidentManagers,
        Who::TheIncidentManager,
        Who::InternalCommunications,
        Who::ExternalCommunications,
        Who::TechLeads,
        Who::SupportLead,
        Who::Scribe,
        Who::ServiceOwner,
        Who::ScheduleMembers,
        Who::TheUser,
        Who::Admins,
    ];

    fn describe(self) -> &'static str {
        match self {
            Who::Responders => "any responder",
            Who::IncidentManagers => "the incident manager, the backup incident manager",
            Who::TheIncidentManager => "the incident manager",
            Who::InternalCommunications => "the communications manager for internal updates",
            Who::ExternalCommunications => "the communications manager for external updates",
            Who::TechLeads => "a tech lead",
            Who::SupportLead => "the customer support lead",
            Who::Scribe => "the scribe",
            Who::ServiceOwner => "the service's owner",
            Who::ScheduleMembers => "a member of the schedule",
            Who::TheUser => "the user themself",
            Who::Admins => "an admin",
        }
    }
}

/// A change someone may ask for. Each has one row in [`rule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    DeclareIncident,
    /// Change an incident's title, summary or priority.
    EditIncident,
    /// Move an open incident between investigating, identified and monitoring.
    MoveStatus,
    /// Resolve, close or reopen an incident.
    ResolveIncident,
    /// Assign and relieve roles, page anyone for a role.
    ManageRoles,
    /// Page people to help, without giving a role.
    PageForHelp,
    /// Write on an incident's timeline, link an alert to it.
    AddToTimeline,
    /// Acknowledge, resolve and assess alerts, declare from them.
    TriageAlerts,
    CreateService,
    /// Change a service: name, owner, policy, auto-declare; rotate its key.
    ChangeService,
    SeeIntegrationKey,
    /// Create a schedule with its layers.
    CreateSchedule,
    AddOverride,
    /// Create or change an escalation policy.
    ChangePolicy,
    /// Add or test contact methods and notification rules.
    ManageContacts,
    SeeContactAddresses,
    /// Create, list and revoke API and calendar tokens, set the password.
    ManageTokens,
    /// Create and disable users, change their permission.
    ManageUsers,
    /// Required roles, the impact matrix, custom roles.
    ChangeSettings,
    /// See the outbox's jobs and dead letters.
    SeeDeliveries,
    /// Write a draft update for those who may publish it.
    DraftUpdate,
    /// Publish an internal or executive update.
    PublishInternalUpdate,
    /// Publish an external update (what customers read).
    PublishExternalUpdate,
    /// Record a customer's reply to an external update.
    RecordCustomerResponse,
    /// Create, change and delete stakeholder groups.
    ManageStakeholders,
    /// Follow an incident (hear its internal updates), or stop.
    FollowIncident,
    /// Add, change and remove the status page's components; set an
    /// incident's public title and impact.
    ManageStatusPage,
    /// Log a customer report (a ticket, a call, a post); handle an
    /// unlinked one.
    LogCustomerReport,
    /// Link, unlink, answer, pass on and close the customer reports of an
    /// incident.
    HandleCustomerReports,
    /// Confirm, rule out or reopen a theory on the incident's timeline.
    JudgeTheory,
    /// Change a person's profile: their time zone.
    EditProfile,
    /// Report to the incident manager on a workstream: conditions, actions,
    /// needs.
    ReportToIncidentManager,
    /// Give an action an owner, a due time, a ticket, mark it a follow-up,
    /// done or cancelled.
    TrackActions,
    /// Highlight entries for the postmortem (or take a highlight off), and
    /// annotate entries.
    CurateTimeline,
    /// Draft the incident's postmortem, edit its sections, send it for
    /// review or back to draft.
    WritePostmortem,
    /// Publish the incident's postmortem.
    PublishPostmortem,
}

impl Action {
    pub const ALL: [Action; 36] = [
        Action::DeclareIncident,
        Action::EditIncident,
        Action::MoveStatus,
        Action::ResolveIncident,
        Action::ManageRoles,
        Action::PageForHelp,
        Action::AddToTimeline,
        Action::TriageAlerts,
        Action::CreateService,
        Action::ChangeService,
        Action::SeeIntegrationKey,
        Action::CreateSchedule,
        Action::AddOverride,
        Action::ChangePolicy,
        Action::ManageContacts,
        Action::SeeContactAddresses,
        Action::ManageTokens,
        Action::ManageUsers,
        Action::ChangeSettings,
        Action::SeeDeliveries,
        Action::DraftUpdate,
        Action::PublishInternalUpdate,
        Action::PublishExternalUpdate,
        Action::RecordCustomerResponse,
        Action::ManageStakeholders,
        Action::FollowIncident,
        Action::ManageStatusPage,
        Action::LogCustomerReport,
        Action::HandleCustomerReports,
        Action::JudgeTheory,
        Action::ReportToIncidentManager,
        Action::EditProfile,
        Action::TrackActions,
        Action::CurateTimeline,
        Action::WritePostmortem,
        Action::PublishPostmortem,
    ];

    /// What it is, to finish "only ... may ...".
    pub fn describe(self) -> &'static str {
        match self {
            Action::DeclareIncident => "declare incidents",
            Action::EditIncident => "change the title, summary or priority",
            Action::MoveStatus => "move the status between investigating, identified and monitoring",
            Action::ResolveIncident => "resolve, close or reopen",
            Action::ManageRoles => "page someone to take a role, or assign and relieve roles",
            Action::PageForHelp => "page people",
            Action::AddToTimeline => "add to the timeline or link alerts",
            Action::TriageAlerts => "acknowledge, resolve, assess or declare from alerts",
            Action::CreateService => "create services",
            Action::ChangeService => "change the service or rotate its integration key",
            Action::SeeIntegrationKey => "see the integration key",
            Action::CreateSchedule => "create schedules",
            Action::AddOverride => "add overrides to the schedule",
            Action::ChangePolicy => "create or change escalation policies",
            Action::ManageContacts => "manage the contact methods and notification rules",
            Action::SeeContactAddresses => "see the contact addresses",
            Action::ManageTokens => "manage the tokens and password",
            Action::ManageUsers => "create, change or disable users",
            Action::ChangeSettings => "change settings, required roles and custom roles",
            Action::SeeDeliveries => "see the outbox's deliveries",
            Action::DraftUpdate => "write draft updates",
            Action::PublishInternalUpdate => "publish internal and executive updates",
            Action::PublishExternalUpdate => {
                "publish external updates or set the status page's components for the incident"
            }
            Action::RecordCustomerResponse => "record customer responses",
            Action::ManageStakeholders => "manage stakeholder groups",
            Action::FollowIncident => "follow incidents or stop following",
            Action::ManageStatusPage => "manage the status page's components",
            Action::LogCustomerReport => "log customer reports, or handle those not linked to an incident",
            Action::HandleCustomerReports => "link, answer, pass on or close the incident's customer reports",
            Action::JudgeTheory => "confirm, rule out or reopen theories",
            Action::ReportToIncidentManager => "report to the incident manager on a workstream",
            Action::EditProfile => "change a person's profile (their time zone)",
            Action::TrackActions => "track actions and follow-ups: owner, due time, ticket, done",
            Action::CurateTimeline => "highlight timeline entries for the postmortem, or annotate them",
            Action::WritePostmortem => "draft or edit the postmortem, or send it for review",
            Action::PublishPostmortem => "publish the postmortem",
        }
    }

    /// Whether a viewer, who otherwise changes nothing, may take it (their
    /// own tokens and password, following an incident, their profile).
    pub fn viewers_too(self) -> bool {
        matches!(
            self,
            Action::ManageTokens | Action::SeeContactAddresses | Action::FollowIncident | Action::EditProfile
        )
    }
}

/// Who may take `action`, besides admins: the table.
pub fn rule(action: Action) -> &'static [Who] {
    use Who::*;
    match action {
        Action::DeclareIncident => &[Responders],
        Action::EditIncident => &[IncidentManagers],
        Action::MoveStatus => &[IncidentManagers, TechLeads],
        Action::ResolveIncident => &[IncidentManagers],
        Action::ManageRoles => &[IncidentManagers],
        Action::PageForHelp => &[IncidentManagers, TechLeads],
        Action::AddToTimeline => &[Responders],
        Action::TriageAlerts => &[Responders],
        Action::CreateService => &[Responders],
        Action::ChangeService => &[ServiceOwner],
        Action::SeeIntegrationKey => &[ServiceOwner],
        Action::CreateSchedule => &[],
        Action::AddOverride => &[ScheduleMembers],
        Action::ChangePolicy => &[],
        Action::ManageContacts => &[TheUser],
        Action::SeeContactAddresses => &[TheUser],
        Action::ManageTokens => &[TheUser],
        Action::ManageUsers => &[],
        Action::ChangeSettings => &[],
        Action::SeeDeliveries => &[],
        Action::DraftUpdate => &[Responders],
        Action::PublishInternalUpdate => &[IncidentManagers, InternalCommunications],
        Action::PublishExternalUpdate => &[TheIncidentManager, ExternalCommunications],
        Action::RecordCustomerResponse => &[Responders],
        Action::ManageStakeholders => &[],
        Action::FollowIncident => &[TheUser],
        Action::ManageStatusPage => &[],
        Action::LogCustomerReport => &[Responders],
        Action::HandleCustomerReports => &[SupportLead, IncidentManagers],
        Action::JudgeTheory => &[TechLeads, IncidentManagers],
        Action::ReportToIncidentManager => &[TechLeads],
        Action::EditProfile => &[TheUser],
        Action::TrackActions => &[Responders],
        Action::CurateTimeline => &[Scribe, IncidentManagers],
        Action::WritePostmortem => &[Responders],
        Action::PublishPostmortem => &[IncidentManagers],
    }
}

/// The actor's relation to the thing acted on. Build it with the
/// constructors, which know where each relation comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// The roles the actor holds in the incident.
    pub roles: Vec<RoleKind>,
    /// The audiences the actor covers as the incident's communications
    /// manager (both when unscoped).
    pub communications: Vec<Audience>,
    pub service_owner: bool,
    pub schedule_member: bool,
    pub the_user: bool,
    /// The thing, as the end of a refusal: "in INC-7", "(service 3)", "of @bob".
    pub place: Option<String>,
}

impl Standing {
    /// Towards nothing in particular (creating something, settings).
    pub fn none() -> Standing {
        Standing::default()
    }

    /// Towards an incident, from the roles held in it now.
    pub fn incident(incident: &Incident, actor: &Actor) -> Standing {
        Standing::roles(incident, actor, incident.roles_of(&actor.handle))
    }

    /// Towards an incident, with the roles the actor held when a command
    /// began (a command that hands over a role is judged on the roles held
    /// before it).
    pub fn roles(incident: &Incident, actor: &Actor, roles: Vec<RoleKind>) -> Standing {
        let communications = if roles.contains(&RoleKind::CommunicationsManager) {
            incident.communications_covered_by(&actor.handle)
        } else {
            Vec::new()
        };
        Standing { roles, communications, place: Some(format!("in {}", incident.reference())), ..Standing::default() }
    }

    /// Towards a service (or a policy used by services) owned by `owners`.
    pub fn service<'a>(id: u64, mut owners: impl Iterator<Item = &'a Handle>, actor: &Actor) -> Standing {
        Standing {
            service_owner: owners.any(|o| *o == actor.handle),
            place: Some(format!("(service {id})")),
            ..Standing::default()
        }
    }

    /// Towards a schedule whose rotations hold `members`.
    pub fn schedule<'a>(id: u64, mut members: impl Iterator<Item = &'a Handle>, actor: &Actor) -> Standing {
        Standing {
            schedule_member: members.any(|m| *m == actor.handle),
            place: Some(format!("(schedule {id})")),
            ..Standing::default()
        }
    }

    /// Towards a user's own things.
    pub fn user(user: &Handle, actor: &Actor) -> Standing {
        Standing { the_user: *user == actor.handle, place: Some(format!("of @{user}")), ..Standing::default() }
    }

    fn is(&self, actor: &Actor, who: Who) -> bool {
        let holds = |r: RoleKind| self.roles.contains(&r);
        match who {
            Who::Responders => actor.permission != crate::Permission::Viewer,
            Who::IncidentManagers => holds(RoleKind::IncidentManager) || holds(RoleKind::BackupIncidentManager),
            Who::TheIncidentManager => holds(RoleKind::IncidentManager),
            Who::InternalCommunications => self.communications.contains(&Audience::Internal),
            Who::ExternalCommunications => self.communications.contains(&Audience::External),
            Who::TechLeads => holds(RoleKind::TechLead),
            Who::SupportLead => holds(RoleKind::CustomerSupportLead),
            Who::Scribe => holds(RoleKind::Scribe),
            Who::ServiceOwner => self.service_owner,
            Who::ScheduleMembers => self.schedule_member,
            Who::TheUser => self.the_user,
            Who::Admins => actor.is_admin(),
        }
    }
}

/// Whether `actor` may take `action`.
pub fn may(actor: &Actor, action: Action, standing: &Standing) -> bool {
    if actor.is_admin() {
        return true;
    }
    if actor.permission == crate::Permission::Viewer && !action.viewers_too() {
        return false;
    }
    rule(action).iter().any(|who| standing.is(actor, *who))
}

/// [`may`], as the error a caller gets: it names who may.
pub fn check(actor: &Actor, action: Action, standing: &Standing) -> Result<(), DomainError> {
    check_naming(actor, action, standing, &|_| Vec::new())
}

/// [`check`], naming the people who hold the roles that may (`holders`
/// gives them for a role): "only the incident manager (@alice), ...".
pub fn check_naming(
    actor: &Actor,
    action: Action,
    standing: &Standing,
    holders: &dyn Fn(RoleKind) -> Vec<Handle>,
) -> Result<(), DomainError> {
    if may(actor, action, standing) {
        return Ok(());
    }
    if actor.permission == crate::Permission::Viewer && !action.viewers_too() {
        return Err(DomainError::Forbidden(format!(
            "@{} is a viewer: viewers can read everything and change nothing",
            actor.handle
        )));
    }
    let place = standing.place.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
    Err(DomainError::Forbidden(format!(
        "only {} may {}{place}; @{} is none of those",
        who_may(action, holders),
        action.describe(),
        actor.handle
    )))
}

/// The action's rule in words: "the incident manager, the backup incident
/// manager or an admin".
pub fn who_may(action: Action, holders: &dyn Fn(RoleKind) -> Vec<Handle>) -> String {
    let named = |text: &str, role: RoleKind| {
        let people = holders(role);
        if people.is_empty() {
            text.to_owned()
        } else {
            let list: Vec<String> = people.iter().map(|h| format!("@{h}")).collect();
            format!("{text} ({})", list.join(", "))
        }
    };
    let mut names: Vec<String> = rule(action)
        .iter()
        .map(|w| match w {
            Who::IncidentManagers => format!(
                "{}, {}",
                named("the incident manager", RoleKind::IncidentManager),
                named("the backup incident manager", RoleKind::BackupIncidentManager)
            ),
            Who::TechLeads => named("a tech lead", RoleKind::TechLead),
            Who::SupportLead => named("the customer support lead", RoleKind::CustomerSupportLead),
            Who::Scribe => named("the scribe", RoleKind::Scribe),
            Who::TheIncidentManager => named("the incident manager", RoleKind::IncidentManager),
            other => other.describe().to_owned(),
        })
        .collect();
    names.push(Who::Admins.describe().to_owned());
    let last = names.pop().unwrap_or_default();
    if names.is_empty() { last } else { format!("{} or {last}", names.join(", ")) }
}

/// Which action moving an incident from `from` to `to` is.
pub fn status_action(from: Status, to: Status) -> Action {
    if from.is_open() && to.is_open() { Action::MoveStatus } else { Action::ResolveIncident }
}

/// The table as Markdown, for the README (a test keeps the two the same).
pub fn table_markdown() -> String {
    let mut out = String::from("| To ... | Who may (admins always may) |\n|---|---|\n");
    for action in Action::ALL {
        let mut who = who_may(action, &|_| Vec::new());
        who = who.strip_suffix(" or an admin").map_or_else(|| "admins only".to_owned(), str::to_owned);
        let viewers = if action.viewers_too() { " (viewers too)" } else { "" };
        out.push_str(&format!("| {} | {who}{viewers} |\n", action.describe()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Permission;
    use proptest::prelude::*;

    fn actor(permission: Permission) -> Actor {
        Actor { handle: Handle::parse("sam").unwrap(), permission }
    }

    fn standing() -> impl Strategy<Value = Standing> {
        let role = prop_oneof![
            Just(RoleKind::IncidentManager),
            Just(RoleKind::BackupIncidentManager),
            Just(RoleKind::TechLead),
            Just(RoleKind::Scribe),
            Just(RoleKind::FirstResponder),
        ];
        let audience = prop_oneof![Just(Audience::Internal), Just(Audience::External)];
        (
            proptest::collection::vec(role, 0..3),
            proptest::collection::vec(audience, 0..3),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mut roles, communications, service_owner, schedule_member, the_user)| {
                // Covering an audience is holding the role.
                if !communications.is_empty() {
                    roles.push(RoleKind::CommunicationsManager);
                }
                Standing { roles, communications, service_owner, schedule_member, the_user, place: None }
            })
    }

    fn permission() -> impl Strategy<Value = Permission> {
        prop_oneof![Just(Permission::Admin), Just(Permission::Responder), Just(Permission::Viewer)]
    }

    fn action() -> impl Strategy<Value = Action> {
        (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
    }

    proptest! {
        #[test]
        fn admins_may_take_every_action(action in action(), standing in standing()) {
            prop_assert!(may(&actor(Permission::Admin), action, &standing));
        }

        #[test]
        fn viewers_change_nothing_but_their_own_tokens(action in action(), standing in standing()) {
            let allowed = may(&actor(Permission::Viewer), action, &standing);
            prop_assert_eq!(allowed, action.viewers_too() && standing.the_user);
        }

        #[test]
        fn a_relation_never_takes_a_permission_away(
            action in action(), permission in permission(), less in standing(), more in standing()
        ) {
            let union = Standing {
                roles: less.roles.iter().chain(&more.roles).cloned().collect(),
                communications: less.communications.iter().chain(&more.communications).copied().collect(),
                service_owner: less.service_owner || more.service_owner,
                schedule_member: less.schedule_member || more.schedule_member,
                the_user: less.the_user || more.the_user,
                place: None,
            };
            let a = actor(permission);
            prop_assert!(!may(&a, action, &less) || may(&a, action, &union));
        }

        #[test]
        fn only_the_incident_managers_and_admins_resolve(permission in permission(), standing in standing()) {
            let a = actor(permission);
            let in_charge = a.is_admin()
                || standing.roles.iter().any(|r| matches!(r, RoleKind::IncidentManager | RoleKind::BackupIncidentManager));
            prop_assert_eq!(may(&a, Action::ResolveIncident, &standing), in_charge && permission != Permission::Viewer || a.is_admin());
            prop_assert_eq!(may(&a, Action::EditIncident, &standing), may(&a, Action::ResolveIncident, &standing));
        }

        #[test]
        fn a_refusal_names_everyone_who_may(action in action(), standing in standing()) {
            let a = actor(Permission::Responder);
            if let Err(DomainError::Forbidden(message)) = check(&a, action, &standing) {
                for who in rule(action) {
                    prop_assert!(message.contains(who.describe()), "{message} misses {who:?}");
                }
                prop_assert!(message.contains("an admin"));
            }
        }

        #[test]
        fn internal_and_executive_updates_are_published_by_the_incident_managers_and_internal_communications(
            permission in permission(), standing in standing()
        ) {
            let a = actor(permission);
            let holds = |r: RoleKind| standing.roles.contains(&r);
            let writes = permission != Permission::Viewer;
            let allowed = a.is_admin()
                || writes && (holds(RoleKind::IncidentManager) || holds(RoleKind::BackupIncidentManager)
                    || standing.communications.contains(&Audience::Internal));
            prop_assert_eq!(may(&a, Action::PublishInternalUpdate, &standing), allowed);
        }

        #[test]
        fn external_updates_are_published_by_the_incident_manager_and_external_communications_only(
            permission in permission(), standing in standing()
        ) {
            let a = actor(permission);
            let writes = permission != Permission::Viewer;
            let allowed = a.is_admin()
                || writes && (standing.roles.contains(&RoleKind::IncidentManager)
                    || standing.communications.contains(&Audience::External));
            prop_assert_eq!(may(&a, Action::PublishExternalUpdate, &standing), allowed);
            // Neither the backup nor the internal communications manager
            // speaks to customers by that alone.
            let inside = Standing {
                roles: vec![RoleKind::BackupIncidentManager, RoleKind::CommunicationsManager],
                communications: vec![Audience::Internal],
                ..Standing::none()
            };
            prop_assert_eq!(may(&a, Action::PublishExternalUpdate, &inside), a.is_admin());
        }

        #[test]
        fn anyone_who_writes_may_draft_an_update(permission in permission(), standing in standing()) {
            let a = actor(permission);
            prop_assert_eq!(may(&a, Action::DraftUpdate, &standing), permission != Permission::Viewer);
        }

        #[test]
        fn a_status_move_out_of_the_open_states_is_resolving(from in 0..5usize, to in 0..5usize) {
            let (from, to) = (Status::ALL[from], Status::ALL[to]);
            let action = status_action(from, to);
            prop_assert_eq!(action == Action::MoveStatus, from.is_open() && to.is_open());
        }
    }

    #[test]
    fn a_responder_with_no_role_may_declare_and_write_but_not_resolve() {
        let a = actor(Permission::Responder);
        let none = Standing::none();
        assert!(may(&a, Action::DeclareIncident, &none));
        assert!(may(&a, Action::AddToTimeline, &none));
        assert!(!may(&a, Action::ResolveIncident, &none));
        assert!(!may(&a, Action::EditIncident, &none));
        let tech_lead = Standing { roles: vec![RoleKind::TechLead], ..Standing::none() };
        assert!(may(&a, Action::MoveStatus, &tech_lead));
        assert!(!may(&a, Action::ResolveIncident, &tech_lead));
    }

    #[test]
    fn the_refusal_says_who_may_resolve() {
        let a = actor(Permission::Responder);
        let err = check(&a, Action::ResolveIncident, &Standing { place: Some("in INC-7".into()), ..Standing::none() })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "only the incident manager, the backup incident manager or an admin may resolve, close or reopen in INC-7; @sam is none of those"
        );
    }

    #[test]
    fn a_refusal_about_someone_elses_contacts_names_whose() {
        let a = actor(Permission::Responder);
        let err = check(&a, Action::ManageContacts, &Standing::user(&Handle::parse("bob").unwrap(), &a)).unwrap_err();
        assert!(err.to_string().ends_with("notification rules of @bob; @sam is none of those"), "{err}");
    }

    /// The README shows the table; this keeps the two the same. Run with
    /// `MUSTER_UPDATE_README=1` to rewrite it after changing a rule.
    #[test]
    fn the_readme_shows_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("the README");
        let (start, end) = ("<!-- access table -->\n", "<!-- end of access table -->");
        let from = readme.find(start).expect("the README marks the table") + start.len();
        let to = readme.find(end).expect("the README marks the table's end");
        let table = table_markdown();
        if std::env::var_os("MUSTER_UPDATE_README").is_some() {
            std::fs::write(path, format!("{}{table}{}", &readme[..from], &readme[to..])).unwrap();
        } else {
            assert_eq!(&readme[from..to], table, "README's access table differs; MUSTER_UPDATE_README=1 rewrites it");
        }
    }

    #[test]
    fn every_action_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a), "{a:?} twice");
        }
        assert!(table_markdown().lines().count() == Action::ALL.len() + 2);
    }
}
