//! What alerts do to incidents and pages, decided here and executed by the
//! store inside the transaction that ingests or moves the alert.
//!
//! - A new alert rejoins the open incident of its key's previous alert, or
//!   its service's auto-declare rule declares one (with which title,
//!   summary and first responder), or it stays in triage: [`new_alert`].
//! - A service with an escalation policy pages it, asking for first
//!   responder and incident manager when it declared a P1 or P2:
//!   [`automatic_page`].
//! - Alert statuses move forward only: [`AlertStatus::moves_to`].
//! - An alert acknowledged or resolved ends its open pages — acknowledged by
//!   the person who acknowledged it, else cancelled: [`close_for_alert`].
//! - Nothing more is written on a closed incident: [`records_on`].
//!
//! Each decision carries the commands to run on the incident, so the store
//! builds none; a command the incident then refuses is an error that rolls
//! the transaction back, never dropped.

use crate::alert::{AlertRef, AlertStatus, AutoDeclare, Severity};
use crate::incident::{Command, Declaration};
use crate::page::{PageState, roles_on_acknowledge};
use crate::{Actor, Handle, Incident, Permission, Priority, RoleKind, Status, Timestamp};

/// The handle of Muster itself: the actor of what nobody did by hand.
pub const SYSTEM: &str = "muster";

/// Muster itself, as an actor: a responder who holds no role.
pub fn system_actor() -> Actor {
    Actor { handle: Handle::parse(SYSTEM).expect("a valid handle"), permission: Permission::Responder }
}

impl AlertStatus {
    /// Whether an alert in this status may move to `to`: triggered →
    /// acknowledged → resolved, or triggered → resolved; never back (a new
    /// trigger after a resolve is a new alert).
    pub fn moves_to(self, to: AlertStatus) -> bool {
        matches!(
            (self, to),
            (AlertStatus::Triggered, AlertStatus::Acknowledged)
                | (AlertStatus::Triggered | AlertStatus::Acknowledged, AlertStatus::Resolved)
        )
    }

    /// The statuses an alert may be in to move to `to`.
    pub fn moves_from(to: AlertStatus) -> Vec<AlertStatus> {
        AlertStatus::ALL.into_iter().filter(|from| from.moves_to(to)).collect()
    }
}

/// What is known about an alert's service when the alert arrives.
#[derive(Debug, Clone)]
pub struct ServiceRules<'a> {
    pub name: &'a str,
    pub auto_declare: &'a AutoDeclare,
    /// The service owner, with their permission, if they still exist.
    pub owner: Option<Actor>,
    /// Whether it has an escalation policy to page through.
    pub has_policy: bool,
}

/// What a service made with these settings will not do: an auto-declared
/// incident with nobody in charge (no owner) or paging nobody (no policy).
/// Said when it is made (`warnings`), and on each such incident.
pub fn service_warnings(auto_declare: &AutoDeclare, owner: Option<&Handle>, policy: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    if auto_declare.0.is_empty() {
        return out;
    }
    if owner.is_none() {
        out.push(
            "auto_declare is set but the service has no owner: its incidents will have @muster as incident manager; \
             set an owner"
                .to_owned(),
        );
    }
    if policy.is_none() {
        out.push(
            "auto_declare is set but the service has no escalation policy: its incidents will page nobody; \
             set escalation_policy"
                .to_owned(),
        );
    }
    out
}

/// Where a new alert goes.
#[derive(Debug, Clone, PartialEq)]
pub enum NewAlert {
    /// Its key's previous alert is in `incident`, which is still open.
    Rejoin { incident: u64, command: Command },
    /// It would declare, but its group's incident is open: it joins that
    /// one (a storm on one service declares one incident, not one each).
    JoinGroup { incident: u64, command: Command },
    /// The service declares an incident for it.
    Declare(AutoDeclaration),
    /// It waits in the triage queue.
    Triage,
}

/// An incident declared automatically for a new alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoDeclaration {
    pub declaration: Declaration,
    /// Its first responder and incident manager: the service owner
    /// (unless a viewer, who holds no roles), else Muster. Muster declares
    /// it, on their behalf: the entries are credited to @muster.
    pub declarer: Actor,
    /// What a person should know about it, put on its timeline as a note
    /// of Muster's: it has nobody in charge, or pages nobody.
    pub warning: Option<String>,
    /// Links the alert, run after the declaration.
    pub link: Command,
}

/// Whether a new alert of `severity` declares an incident (its key's
/// previous incident, if any, is closed, and the service's rule names the
/// severity): only then does [`new_alert`] need the service owner, which
/// the caller may look up just for that.
pub fn declares(auto_declare: &AutoDeclare, severity: Severity, previous: Option<&Incident>) -> bool {
    rejoins(previous).is_none() && auto_declare.priority_for(severity).is_some()
}

/// The still-open incident a new alert rejoins.
fn rejoins(previous: Option<&Incident>) -> Option<&Incident> {
    previous.filter(|i| i.status != Status::Closed)
}

/// The group a new alert of service `service` declares for: alerts of one
/// group that would each declare an incident join the first one's while it
/// is open, the way Alertmanager groups alerts into one notification. The
/// group is the service: a storm on it is one incident.
pub fn alert_group(service: u64) -> String {
    format!("service:{service}")
}

/// Whether an alert's group incident still takes new alerts: until it is
/// resolved (after that, a new storm is a new incident).
pub fn group_takes_alerts(incident: &Incident) -> bool {
    !matches!(incident.status, Status::Resolved | Status::Closed)
}

/// Decides where a new alert goes, given its key's previous incident (if
/// any) and its group's latest incident (if any; both loaded and locked by
/// the caller).
pub fn new_alert(
    alert: &AlertRef,
    service: &ServiceRules<'_>,
    previous: Option<&Incident>,
    group: Option<&Incident>,
) -> NewAlert {
    if let Some(incident) = rejoins(previous) {
        let command = Command::LinkAlert { alert: alert.clone(), retriggered: true };
        return NewAlert::Rejoin { incident: incident.number, command };
    }
    let Some(priority) = service.auto_declare.priority_for(alert.severity) else { return NewAlert::Triage };
    if let Some(incident) = group.filter(|i| group_takes_alerts(i)) {
        return NewAlert::JoinGroup { incident: incident.number, command: link_entry(alert) };
    }
    let declarer = match &service.owner {
        Some(owner) if owner.permission != Permission::Viewer => owner.clone(),
        _ => system_actor(),
    };
    let title: String = alert.summary.chars().take(200).collect();
    let title = if title.trim().is_empty() { format!("Alert on {}", service.name) } else { title };
    let on_behalf = if declarer.handle.as_str() == SYSTEM {
        String::new()
    } else {
        format!(" On behalf of its owner, @{}.", declarer.handle)
    };
    let declaration = Declaration {
        title,
        summary: format!(
            "Declared automatically: {} alert on {}.{on_behalf}",
            with_article(alert.severity.as_str()),
            service.name
        ),
        priority,
        incident_manager: declarer.clone(),
    };
    let link = link_entry(alert);
    let mut missing = Vec::new();
    if declarer.handle.as_str() == SYSTEM {
        missing.push(format!(
            "{} has no owner, so @muster is incident manager until someone takes the role",
            service.name
        ));
    }
    if !service.has_policy {
        missing.push(format!("{} has no escalation policy, so nobody was paged", service.name));
    }
    let warning = (!missing.is_empty()).then(|| format!("Nobody is on this yet: {}.", missing.join("; ")));
    NewAlert::Declare(AutoDeclaration { declaration, declarer, warning, link })
}

/// `a critical`, `an error`: the article a word takes (by its first letter,
/// which is right for the severities).
fn with_article(word: &str) -> String {
    let vowel = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if vowel { "an" } else { "a" })
}

/// The priority an alert suggests before anyone assessed it.
pub fn priority_for_severity(s: Severity) -> Priority {
    match s {
        Severity::Critical => Priority::P1,
        Severity::Error => Priority::P2,
        Severity::Warning => Priority::P3,
        Severity::Info => Priority::P4,
    }
}

/// What a first responder declares from an alert in triage, with what
/// they did not say filled in: the alert's summary as title, the
/// assessment's suggested priority (else the severity's).
pub fn declaration_from_alert(
    alert: &AlertRef,
    assessed: Option<Priority>,
    priority: Option<Priority>,
    title: Option<String>,
    incident_manager: Actor,
) -> Declaration {
    Declaration {
        title: title.unwrap_or_else(|| alert.summary.chars().take(200).collect()),
        summary: format!("Declared from alert {} on {}.", alert.id, alert.service),
        priority: priority.or(assessed).unwrap_or_else(|| priority_for_severity(alert.severity)),
        incident_manager,
    }
}

/// Links an alert to an incident someone chose (or just declared for it).
pub fn link_entry(alert: &AlertRef) -> Command {
    Command::LinkAlert { alert: alert.clone(), retriggered: false }
}

/// The page a new alert sends through its service's escalation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomaticPage {
    pub message: String,
    pub target_text: String,
    /// What whoever acknowledges first takes on.
    pub roles: Vec<RoleKind>,
}

impl AutomaticPage {
    /// The `page_sent` entry on the alert's incident, once the page has its id.
    pub fn command(&self, page: u64) -> Command {
        Command::Page {
            page,
            target: self.target_text.clone(),
            message: self.message.clone(),
            roles: self.roles.clone(),
            automatic: true,
        }
    }
}

/// The page for a new alert on policy `policy_name`; `declared` is the
/// priority of the incident the alert just declared, if it did. Whoever
/// answers a page for an auto-declared P1 or P2 first becomes its first
/// responder and incident manager.
pub fn automatic_page(alert: &AlertRef, policy_name: &str, declared: Option<Priority>) -> AutomaticPage {
    let roles = if declared.is_some_and(Priority::is_major) {
        vec![RoleKind::FirstResponder, RoleKind::IncidentManager]
    } else {
        Vec::new()
    };
    let message: String =
        format!("[{}] {}: {}", alert.severity, alert.service, alert.summary).chars().take(1000).collect();
    AutomaticPage { message, target_text: format!("escalation policy {policy_name:?}"), roles }
}

/// An open page of an alert that was just acknowledged or resolved.
#[derive(Debug, Clone)]
pub struct OpenPage<'a> {
    pub id: u64,
    pub notified: &'a [Handle],
    pub roles: &'a [RoleKind],
}

/// How such a page ends.
#[derive(Debug, Clone, PartialEq)]
pub struct PageClosing {
    pub state: PageState,
    pub closed_by: Option<Handle>,
    /// Runs the `page_closed` entry, as this actor.
    pub actor: Actor,
    pub command: Command,
}

/// Ends an alert's open page: a person who acknowledged or resolved the
/// alert (`by`) acknowledges it — taking on its roles if the page asked
/// them — while monitoring acknowledging or resolving it cancels it.
pub fn close_for_alert(page: &OpenPage<'_>, by: Option<&Actor>, reason: &str) -> PageClosing {
    let (state, actor) = match by {
        Some(a) => (PageState::Acknowledged, a.clone()),
        None => (PageState::Cancelled, system_actor()),
    };
    let asked = by.is_some_and(|a| page.notified.contains(&a.handle));
    let roles = roles_on_acknowledge(page.roles, asked, true);
    let command = Command::ClosePage { page: page.id, state, reason: Some(reason.to_owned()), roles };
    PageClosing { state, closed_by: by.map(|a| a.handle.clone()), actor, command }
}

/// The timeline entry of an alert's new status on its incident.
pub fn alert_status_entry(alert: &AlertRef) -> Command {
    Command::AlertStatus { alert: alert.clone() }
}

/// The timeline entry of a change event (a deploy) on one of its service's
/// incidents that are not resolved or closed yet, at the time its sender
/// gave (`at`; never after now) or now.
pub fn change_entry(service: &str, summary: &str, source: Option<&str>, at: Option<Timestamp>) -> Command {
    Command::RecordChange {
        service: service.to_owned(),
        summary: summary.to_owned(),
        source: source.map(str::to_owned),
        at,
    }
}

/// Whether alerts and pages still write on `incident`: not once it is
/// closed (closed is final). The page or the alert moves on all the same.
pub fn records_on(incident: &Incident) -> bool {
    incident.status != Status::Closed
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::RoleCatalog;
    use crate::incident::Context;

    fn alert(summary: &str, severity: Severity) -> AlertRef {
        AlertRef {
            id: 12,
            service: "checkout".into(),
            summary: summary.into(),
            severity,
            status: AlertStatus::Triggered,
        }
    }

    fn rules(auto: &AutoDeclare, owner: Option<Actor>) -> ServiceRules<'_> {
        ServiceRules { name: "checkout", auto_declare: auto, owner, has_policy: true }
    }

    fn person(h: &str, permission: Permission) -> Actor {
        Actor { handle: Handle::parse(h).unwrap(), permission }
    }

    fn critical_is_p1() -> AutoDeclare {
        AutoDeclare(BTreeMap::from([(Severity::Critical, Priority::P1)]))
    }

    fn incident(status: Status) -> Incident {
        let alice = person("alice", Permission::Responder);
        let catalog = RoleCatalog::default();
        let ctx = Context { actor: &alice, now: "2026-12-01T09:00:00Z".parse().unwrap(), catalog: &catalog };
        let d = Declaration {
            title: "t".into(),
            summary: String::new(),
            priority: Priority::P2,
            incident_manager: alice.clone(),
        };
        let (mut i, _) = Incident::declare(4, d, ctx).unwrap();
        i.status = status;
        i
    }

    #[test]
    fn a_critical_alert_declares_a_p1_with_the_owner_as_first_responder() {
        let auto = critical_is_p1();
        let dan = person("dan", Permission::Responder);
        let NewAlert::Declare(d) =
            new_alert(&alert("Checkout returns 500", Severity::Critical), &rules(&auto, Some(dan.clone())), None, None)
        else {
            panic!("declares")
        };
        assert_eq!((d.declaration.priority, d.declaration.title.as_str()), (Priority::P1, "Checkout returns 500"));
        assert_eq!(
            d.declaration.summary,
            "Declared automatically: a critical alert on checkout. On behalf of its owner, @dan."
        );
        assert_eq!(with_article("error"), "an error");
        assert_eq!(with_article("info"), "an info");
        assert_eq!(with_article("warning"), "a warning");
        assert_eq!((d.declarer.clone(), d.declaration.incident_manager), (dan.clone(), dan));
        assert!(matches!(d.link, Command::LinkAlert { retriggered: false, .. }));
    }

    #[test]
    fn a_viewer_owner_or_none_leaves_the_declaring_to_muster_and_an_empty_summary_gets_a_title() {
        let auto = critical_is_p1();
        for owner in [None, Some(person("vic", Permission::Viewer))] {
            let NewAlert::Declare(d) = new_alert(&alert("  ", Severity::Critical), &rules(&auto, owner), None, None) else {
                panic!("declares")
            };
            assert_eq!(d.declarer.handle.as_str(), SYSTEM);
            assert_eq!(d.declaration.title, "Alert on checkout");
        }
    }

    #[test]
    fn an_alert_rejoins_its_keys_open_incident_but_not_a_closed_one() {
        let auto = critical_is_p1();
        let open = incident(Status::Resolved);
        let got = new_alert(&alert("x", Severity::Critical), &rules(&auto, None), Some(&open), None);
        assert!(matches!(got, NewAlert::Rejoin { incident: 4, command: Command::LinkAlert { retriggered: true, .. } }));
        let closed = incident(Status::Closed);
        assert!(matches!(
            new_alert(&alert("x", Severity::Critical), &rules(&auto, None), Some(&closed), None),
            NewAlert::Declare(_)
        ));
        assert_eq!(new_alert(&alert("x", Severity::Warning), &rules(&auto, None), Some(&closed), None), NewAlert::Triage);
    }

    #[test]
    fn a_storm_on_one_service_declares_one_incident_until_it_is_resolved() {
        let auto = critical_is_p1();
        for (status, joins) in [
            (Status::Investigating, true),
            (Status::Identified, true),
            (Status::Monitoring, true),
            (Status::Resolved, false),
            (Status::Closed, false),
        ] {
            let group = incident(status);
            let got = new_alert(&alert("x", Severity::Critical), &rules(&auto, None), None, Some(&group));
            assert_eq!(matches!(got, NewAlert::JoinGroup { incident: 4, .. }), joins, "{status:?}");
            assert_eq!(!matches!(got, NewAlert::Declare(_)), joins, "{status:?}");
        }
        // An alert that would not declare stays in triage; its key's own incident comes first.
        let group = incident(Status::Identified);
        assert_eq!(
            new_alert(&alert("x", Severity::Warning), &rules(&auto, None), None, Some(&group)),
            NewAlert::Triage
        );
        let mut own = incident(Status::Identified);
        own.number = 9;
        let got = new_alert(&alert("x", Severity::Critical), &rules(&auto, None), Some(&own), Some(&group));
        assert!(matches!(got, NewAlert::Rejoin { incident: 9, .. }));
        assert_eq!(alert_group(3), "service:3");
    }

    #[test]
    fn the_owner_is_needed_exactly_when_the_alert_declares() {
        let auto = critical_is_p1();
        let owner = Some(person("dan", Permission::Responder));
        let (open, closed) = (incident(Status::Identified), incident(Status::Closed));
        for severity in [Severity::Critical, Severity::Warning] {
            for previous in [None, Some(&open), Some(&closed)] {
                let declared = matches!(
                    new_alert(&alert("x", severity), &rules(&auto, owner.clone()), previous, None),
                    NewAlert::Declare(_)
                );
                assert_eq!(
                    declares(&auto, severity, previous),
                    declared,
                    "{severity:?}, {:?}",
                    previous.map(|i| i.status)
                );
            }
        }
    }

    #[test]
    fn a_page_for_an_auto_declared_major_incident_asks_for_its_first_responder_and_manager() {
        let a = alert("disk full", Severity::Critical);
        assert_eq!(
            automatic_page(&a, "Primary", Some(Priority::P2)).roles,
            [RoleKind::FirstResponder, RoleKind::IncidentManager]
        );
        assert!(automatic_page(&a, "Primary", Some(Priority::P3)).roles.is_empty());
        let p = automatic_page(&a, "Primary", None);
        assert_eq!(
            (p.message.as_str(), p.target_text.as_str()),
            ("[critical] checkout: disk full", "escalation policy \"Primary\"")
        );
        assert!(p.roles.is_empty());
    }

    #[test]
    fn alert_statuses_only_move_forward() {
        use AlertStatus::*;
        for from in AlertStatus::ALL {
            for to in AlertStatus::ALL {
                let rank = |s| AlertStatus::ALL.iter().position(|x| *x == s).unwrap();
                assert_eq!(from.moves_to(to), rank(to) > rank(from), "{from:?} → {to:?}");
            }
        }
        assert_eq!(AlertStatus::moves_from(Resolved), [Triggered, Acknowledged]);
        assert_eq!(AlertStatus::moves_from(Acknowledged), [Triggered]);
    }

    #[test]
    fn a_person_acknowledging_an_alert_answers_its_page_and_monitoring_cancels_it() {
        let dan = person("dan", Permission::Responder);
        let notified = [dan.handle.clone()];
        let roles = [RoleKind::IncidentManager];
        let page = OpenPage { id: 9, notified: &notified, roles: &roles };
        let by_dan = close_for_alert(&page, Some(&dan), "alert 12 acknowledged");
        assert_eq!((by_dan.state, &by_dan.closed_by), (PageState::Acknowledged, &Some(dan.handle)));
        assert!(matches!(&by_dan.command, Command::ClosePage { roles, .. } if roles == &[RoleKind::IncidentManager]));
        let erin = person("erin", Permission::Responder);
        let by_erin = close_for_alert(&page, Some(&erin), "alert 12 acknowledged");
        assert!(
            matches!(&by_erin.command, Command::ClosePage { roles, .. } if roles.is_empty()),
            "only someone it asked takes its roles"
        );
        let by_monitoring = close_for_alert(&page, None, "alert 12 resolved");
        assert_eq!((by_monitoring.state, by_monitoring.actor.handle.as_str()), (PageState::Cancelled, SYSTEM));
    }
}
