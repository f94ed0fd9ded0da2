use proptest::prelude::*;

use super::*;
use crate::RoleDef;
use crate::timeline::verify_chain;

fn user(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Responder }
}

fn admin(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Admin }
}

fn viewer(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Viewer }
}

fn now() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn catalog() -> RoleCatalog {
    RoleCatalog {
        custom: vec![RoleDef::new("sme", "SME", true).unwrap(), RoleDef::new("liaison", "Liaison", false).unwrap()],
    }
}

struct World {
    catalog: RoleCatalog,
    state: Incident,
    log: Vec<Event>,
}

impl World {
    fn declared_by(by: &Actor, priority: Priority) -> World {
        let catalog = catalog();
        let ctx = Context { actor: by, now: now(), catalog: &catalog };
        let d = Declaration {
            title: "Checkout fails".into(),
            summary: String::new(),
            priority,
            incident_manager: by.clone(),
        };
        let (state, log) = Incident::declare(7, d, ctx).unwrap();
        World { catalog, state, log }
    }

    fn run(&mut self, by: &Actor, cmd: Command) -> Result<Vec<Event>, DomainError> {
        let ctx = Context { actor: by, now: now(), catalog: &self.catalog };
        let (state, events) = self.state.execute(cmd, ctx)?;
        self.state = state;
        self.log.extend(events.iter().cloned());
        Ok(events)
    }

    fn assign(
        &mut self,
        by: &Actor,
        role: RoleKind,
        to: &Actor,
        scope: Option<&str>,
    ) -> Result<Vec<Event>, DomainError> {
        let scope = self.catalog.parse_scope(&role, scope).unwrap();
        self.run(by, Command::Assign { role, user: to.clone(), scope })
    }

    fn id_of(&self, role: &RoleKind, h: &str) -> u64 {
        self.state.roles.iter().find(|a| &a.role == role && a.user.as_str() == h).unwrap().id
    }

    fn holders(&self, role: RoleKind) -> Vec<String> {
        self.state
            .holders(&role)
            .map(|a| match &a.scope {
                Some(s) => format!("{} ({s})", a.user),
                None => a.user.to_string(),
            })
            .collect()
    }
}

#[test]
fn declaring_makes_the_declarer_first_responder_and_incident_manager() {
    let alice = user("alice");
    let w = World::declared_by(&alice, Priority::P1);
    assert_eq!(w.holders(RoleKind::FirstResponder), ["alice"]);
    assert_eq!(w.holders(RoleKind::IncidentManager), ["alice"]);
    assert_eq!(w.state.topic, "INC-7 P1 investigating — Checkout fails | IM @alice | FR @alice");
    let kinds: Vec<&str> = w.log.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["declared", "role_assigned", "role_assigned", "topic_changed"]);
    assert_eq!(w.log[0].actor_roles, [RoleKind::FirstResponder, RoleKind::IncidentManager]);
}

#[test]
fn assigning_a_second_tech_lead_keeps_the_first() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::TechLead, &user("carol"), Some("database")).unwrap();
    w.assign(&alice, RoleKind::TechLead, &user("dan"), Some("network")).unwrap();
    assert_eq!(w.holders(RoleKind::TechLead), ["carol (database)", "dan (network)"]);
    assert!(w.state.topic.contains("| TL @carol (database), @dan (network) |"), "{}", w.state.topic);
}

#[test]
fn assigning_the_same_role_twice_to_the_same_person_is_a_conflict() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::TechLead, &user("carol"), Some("database")).unwrap();
    let err = w.assign(&alice, RoleKind::TechLead, &user("carol"), Some("database")).unwrap_err();
    assert!(matches!(err, DomainError::Conflict(m) if m.contains("already holds")));
}

#[test]
fn a_single_holder_role_replaces_its_holder() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::Scribe, &user("hank"), None).unwrap();
    w.assign(&alice, RoleKind::Scribe, &user("ivan"), None).unwrap();
    assert_eq!(w.holders(RoleKind::Scribe), ["ivan"]);
    assert!(!w.state.topic.contains("hank"));
}

#[test]
fn separate_internal_and_external_communications_managers_coexist() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::CommunicationsManager, &user("erin"), Some("internal")).unwrap();
    w.assign(&alice, RoleKind::CommunicationsManager, &user("frank"), Some("external")).unwrap();
    assert_eq!(w.holders(RoleKind::CommunicationsManager), ["erin (internal)", "frank (external)"]);
    assert!(w.state.topic.contains("| Comms @erin (internal), @frank (external)"));
}

#[test]
fn a_communications_manager_for_both_audiences_keeps_the_other_when_one_is_taken() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::CommunicationsManager, &user("erin"), None).unwrap();
    w.assign(&alice, RoleKind::CommunicationsManager, &user("frank"), Some("external")).unwrap();
    assert_eq!(w.holders(RoleKind::CommunicationsManager), ["erin (internal)", "frank (external)"]);
}

#[test]
fn a_responder_who_is_not_the_incident_manager_may_not_assign_roles() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    let err = w.assign(&user("mallory"), RoleKind::TechLead, &user("mallory"), None).unwrap_err();
    let DomainError::Forbidden(reason) = err else { panic!("expected Forbidden") };
    assert!(reason.contains("only the incident manager (@alice)"), "{reason}");
}

#[test]
fn the_backup_incident_manager_and_admins_may_assign_roles() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::BackupIncidentManager, &user("bob"), None).unwrap();
    w.assign(&user("bob"), RoleKind::Scribe, &user("hank"), None).unwrap();
    w.assign(&admin("root"), RoleKind::CustomerSupportLead, &user("gina"), None).unwrap();
    assert_eq!(w.holders(RoleKind::Scribe), ["hank"]);
    assert_eq!(w.holders(RoleKind::CustomerSupportLead), ["gina"]);
}

#[test]
fn anyone_may_relieve_themselves() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::Scribe, &user("hank"), None).unwrap();
    let id = w.id_of(&RoleKind::Scribe, "hank");
    w.run(&user("hank"), Command::Relieve { assignment: id }).unwrap();
    assert!(w.holders(RoleKind::Scribe).is_empty());
    assert_eq!(w.log.iter().rev().nth(1).unwrap().text(), "@hank stepped down as scribe");
}

#[test]
fn assigning_a_new_incident_manager_is_a_handover() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    let events = w.assign(&alice, RoleKind::IncidentManager, &user("bob"), None).unwrap();
    assert_eq!(w.holders(RoleKind::IncidentManager), ["bob"]);
    let texts: Vec<String> = events.iter().map(Event::text).collect();
    assert_eq!(texts[0], "@alice is no longer incident manager: handed over to @bob");
    assert_eq!(texts[1], "@alice handed over incident manager to @bob");
    assert_eq!(events[1].actor_roles, [RoleKind::FirstResponder, RoleKind::IncidentManager]);
}

#[test]
fn a_handover_shows_as_one_line_carrying_the_new_topic() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::IncidentManager, &user("bob"), None).unwrap();
    let folds = crate::timeline::fold(&w.log);
    let shown: Vec<(String, Option<String>)> = w
        .log
        .iter()
        .zip(&folds)
        .filter(|(_, f)| f.folded_into.is_none())
        .map(|(e, f)| (e.text(), f.topic.clone()))
        .collect();
    let texts: Vec<&str> = shown.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        texts,
        [
            "@alice declared INC-7 (P1): Checkout fails",
            "@alice is first responder",
            "@alice is incident manager",
            "@alice handed over incident manager to @bob"
        ]
    );
    assert_eq!(shown[2].1.as_deref(), Some("INC-7 P1 investigating — Checkout fails | IM @alice | FR @alice"));
    assert_eq!(shown[3].1.as_deref(), Some(w.state.topic.as_str()), "the handover carries the topic it set");
    // Every entry is still there: the two folded ones name their companion.
    let kinds: Vec<(&str, Option<u64>)> =
        w.log.iter().zip(&folds).map(|(e, f)| (e.change.kind(), f.folded_into)).collect();
    assert_eq!(
        kinds,
        [
            ("declared", None),
            ("role_assigned", None),
            ("role_assigned", None),
            ("topic_changed", Some(3)),
            ("role_relieved", Some(6)),
            ("role_assigned", None),
            ("topic_changed", Some(6))
        ]
    );
}

#[test]
fn relieving_the_incident_manager_promotes_the_backup() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::BackupIncidentManager, &user("bob"), None).unwrap();
    let id = w.id_of(&RoleKind::IncidentManager, "alice");
    w.run(&alice, Command::Relieve { assignment: id }).unwrap();
    assert_eq!(w.holders(RoleKind::IncidentManager), ["bob"]);
    assert!(w.holders(RoleKind::BackupIncidentManager).is_empty());
}

#[test]
fn relieving_the_incident_manager_without_a_backup_is_refused_with_the_reason() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    let id = w.id_of(&RoleKind::IncidentManager, "alice");
    let err = w.run(&alice, Command::Relieve { assignment: id }).unwrap_err();
    assert!(matches!(err, DomainError::Conflict(m) if m.contains("must always have an incident manager")));
}

#[test]
fn viewers_change_nothing_and_hold_no_roles() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    assert!(matches!(
        w.assign(&alice, RoleKind::Scribe, &viewer("vic"), None),
        Err(DomainError::Invalid { field, .. }) if field == "user"
    ));
    let note = Command::AddEntry {
        kind: EntryKind::Note,
        text: "hi".into(),
        tag: None,
        corrects: None,
        occurred_at: None,
        workstream: None,
    };
    assert!(matches!(w.run(&viewer("vic"), note), Err(DomainError::Forbidden(_))));
}

#[test]
fn the_incident_manager_cannot_be_their_own_backup() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    assert!(w.assign(&alice, RoleKind::BackupIncidentManager, &alice, None).is_err());
}

#[test]
fn a_closed_incident_is_final_but_still_takes_notes() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P2);
    let to = |s| Command::Update { title: None, summary: None, priority: None, status: Some(s) };
    w.run(&alice, to(Status::Resolved)).unwrap();
    w.run(&alice, to(Status::Closed)).unwrap();
    assert!(w.state.closed_at.is_some());
    assert!(matches!(w.run(&alice, to(Status::Investigating)), Err(DomainError::Conflict(_))));
    let note = Command::AddEntry {
        kind: EntryKind::Note,
        text: "postmortem booked".into(),
        tag: None,
        corrects: None,
        occurred_at: None,
        workstream: None,
    };
    w.run(&alice, note).unwrap();
}

#[test]
fn missing_roles_follow_the_priority() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    let req = crate::RequiredRoles::default();
    assert_eq!(w.state.missing_roles(&req), [RoleKind::TechLead, RoleKind::CommunicationsManager, RoleKind::Scribe]);
    w.assign(&alice, RoleKind::CommunicationsManager, &user("erin"), Some("internal")).unwrap();
    assert!(w.state.missing_roles(&req).contains(&RoleKind::CommunicationsManager), "external is still uncovered");
    w.run(&alice, Command::Update { title: None, summary: None, priority: Some(Priority::P3), status: None }).unwrap();
    assert!(w.state.missing_roles(&req).is_empty());
}

#[test]
fn a_backdated_entry_keeps_its_true_recording_time() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    let earlier: Timestamp = "2026-11-26T09:40:00Z".parse().unwrap();
    let events = w
        .run(
            &alice,
            Command::AddEntry {
                kind: EntryKind::Milestone,
                text: "errors started".into(),
                tag: Some(MilestoneTag::ImpactDetected),
                corrects: None,
                occurred_at: Some(earlier),
                workstream: None,
            },
        )
        .unwrap();
    assert_eq!(events[0].at, earlier);
    assert_eq!(events[0].recorded_at, now());
}

// Property tests: random command sequences by random people keep every
// invariant, and the state always equals the replay of its events.

const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dan", "root"];

fn person(i: usize) -> Actor {
    if PEOPLE[i] == "root" { admin("root") } else { user(PEOPLE[i]) }
}

fn role_kinds() -> Vec<RoleKind> {
    let mut v = RoleKind::BUILTIN.to_vec();
    v.push(RoleKind::Custom(crate::RoleKey::parse("sme").unwrap()));
    v.push(RoleKind::Custom(crate::RoleKey::parse("liaison").unwrap()));
    v
}

#[derive(Debug, Clone)]
enum Op {
    Assign {
        by: usize,
        role: usize,
        to: usize,
        scope: usize,
    },
    Relieve {
        by: usize,
        pick: usize,
    },
    Status {
        by: usize,
        status: usize,
    },
    /// Someone pages for roles (`roles` picks a subset); someone else acknowledges.
    Page {
        by: usize,
        roles: u16,
        acker: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5usize, 0..9usize, 0..5usize, 0..4usize).prop_map(|(by, role, to, scope)| Op::Assign { by, role, to, scope }),
        2 => (0..5usize, 0..20usize).prop_map(|(by, pick)| Op::Relieve { by, pick }),
        1 => (0..5usize, 0..5usize).prop_map(|(by, status)| Op::Status { by, status }),
        2 => (0..5usize, 0..512u16, 0..5usize).prop_map(|(by, roles, acker)| Op::Page { by, roles, acker }),
    ]
}

fn check_invariants(s: &Incident, catalog: &RoleCatalog) {
    let ims: Vec<_> = s.holders(&RoleKind::IncidentManager).collect();
    assert_eq!(ims.len(), 1, "exactly one incident manager: {:?}", s.roles);
    for role in role_kinds() {
        let n = s.holders(&role).count();
        if !catalog.many(&role) && role != RoleKind::CommunicationsManager {
            assert!(n <= 1, "{role} has {n} holders");
        }
    }
    for aud in Audience::BOTH {
        assert!(s.roles.iter().filter(|a| a.covers(aud)).count() <= 1, "{aud:?} covered twice");
    }
    if let Some(b) = s.holders(&RoleKind::BackupIncidentManager).next() {
        assert_ne!(b.user, ims[0].user, "the backup is not the incident manager");
    }
    for (i, a) in s.roles.iter().enumerate() {
        for b in &s.roles[i + 1..] {
            assert!(a.id != b.id, "assignment ids are unique");
            assert!(!(a.role == b.role && a.user == b.user && a.scope == b.scope), "no duplicate assignment");
        }
    }
    assert_eq!(s.topic, topic::render(s, catalog), "the topic is current");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn role_invariants_hold_after_any_sequence_of_commands(ops in proptest::collection::vec(op(), 1..40)) {
        let mut w = World::declared_by(&user("alice"), Priority::P1);
        let roles = role_kinds();
        let scopes = [None, Some("internal"), Some("external"), Some("database")];
        for op in ops {
            let version = w.state.version;
            let before = w.state.clone();
            let result = match op {
                Op::Assign { by, role, to, scope } => {
                    let role = roles[role].clone();
                    // A scope the role does not take is dropped rather than sent.
                    let scope = w.catalog.parse_scope(&role, scopes[scope]).unwrap_or_default();
                    w.run(&person(by), Command::Assign { role, user: person(to), scope })
                }
                Op::Relieve { by, pick } => {
                    let id = w.state.roles.get(pick % w.state.roles.len().max(1)).map_or(999, |a| a.id);
                    w.run(&person(by), Command::Relieve { assignment: id })
                }
                Op::Status { by, status } => w.run(
                    &person(by),
                    Command::Update { title: None, summary: None, priority: None, status: Some(Status::ALL[status]) },
                ),
                Op::Page { by, roles: mask, acker } => {
                    let asked: Vec<RoleKind> =
                        roles.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, r)| r.clone()).collect();
                    let page = w.state.version + 1;
                    let sent = Command::Page {
                        page,
                        target: "@x".into(),
                        message: "help".into(),
                        roles: asked.clone(),
                        automatic: false,
                    };
                    match w.run(&person(by), sent) {
                        Err(e) => Err(e),
                        Ok(mut sent_events) => {
                            let ack = Command::ClosePage {
                                page,
                                state: crate::page::PageState::Acknowledged,
                                reason: None,
                                roles: asked.clone(),
                            };
                            let before_ack = w.state.clone();
                            let r = w.run(&person(acker), ack);
                            if r.is_ok() {
                                // The acknowledger holds every role asked for.
                                let acker_is_im =
                                    w.state.incident_manager().is_some_and(|a| a.user == person(acker).handle);
                                for role in &asked {
                                    if *role == RoleKind::BackupIncidentManager && acker_is_im {
                                        continue; // the incident manager is never their own backup
                                    }
                                    prop_assert!(
                                        w.state.holders(role).any(|a| a.user == person(acker).handle),
                                        "{} holds {role} after acknowledging", person(acker).handle
                                    );
                                }
                            } else {
                                // A refused acknowledgement changes nothing; the page was sent.
                                prop_assert_eq!(&w.state, &before_ack);
                            }
                            sent_events.extend(r.unwrap_or_default());
                            Ok(sent_events)
                        }
                    }
                }
            };
            match result {
                // A refused command changes nothing.
                Err(_) => prop_assert_eq!(&w.state, &before),
                Ok(events) => prop_assert_eq!(w.state.version, version + events.len() as u64),
            }
            check_invariants(&w.state, &w.catalog);
        }
        prop_assert!(crate::timeline::projection_matches(&w.log, &w.state));
        prop_assert_eq!(verify_chain(&w.log), Ok(()));
    }

    #[test]
    fn in_charge_says_exactly_who_may_assign_after_any_handovers(ops in proptest::collection::vec(op(), 1..30)) {
        let mut w = World::declared_by(&user("alice"), Priority::P1);
        let roles = role_kinds();
        for op in ops {
            // Only role changes move authority; other ops are skipped here.
            match op {
                Op::Assign { by, role, to, .. } => {
                    let _ = w.run(&person(by), Command::Assign { role: roles[role].clone(), user: person(to), scope: None });
                }
                Op::Relieve { by, pick } => {
                    let id = w.state.roles.get(pick % w.state.roles.len().max(1)).map_or(999, |a| a.id);
                    let _ = w.run(&person(by), Command::Relieve { assignment: id });
                }
                _ => {}
            }
        }
        for p in 0..5 {
            let who = person(p);
            let attempt = w.state.execute(
                Command::Assign { role: RoleKind::Scribe, user: person((p + 1) % 5), scope: None },
                Context { actor: &who, now: now(), catalog: &w.catalog },
            );
            let forbidden = matches!(attempt, Err(DomainError::Forbidden(_)));
            prop_assert_eq!(!forbidden, w.state.in_charge(&who), "@{} in charge: {:?}", who.handle, w.state.roles);
        }
    }

    #[test]
    fn only_authorities_or_the_holder_change_roles(by in 0..5usize, to in 0..5usize, role in 0..9usize) {
        let mut w = World::declared_by(&user("alice"), Priority::P1);
        w.assign(&user("alice"), RoleKind::BackupIncidentManager, &user("bob"), None).unwrap();
        let actor = person(by);
        let role = role_kinds()[role].clone();
        let allowed = actor.is_admin() || ["alice", "bob"].contains(&actor.handle.as_str());
        if let Err(DomainError::Forbidden(_)) = w.assign(&actor, role, &person(to), None) {
            prop_assert!(!allowed);
        } else {
            prop_assert!(allowed);
        }
    }
}

#[test]
fn tampering_with_an_entry_breaks_the_chain_from_there() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::Scribe, &user("hank"), None).unwrap();
    assert_eq!(verify_chain(&w.log), Ok(()));
    w.log[1].actor = Handle::parse("mallory").unwrap();
    assert_eq!(verify_chain(&w.log), Err(2));
}

#[test]
fn a_command_with_a_slower_clock_is_recorded_no_earlier_than_the_last_event() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    let earlier: Timestamp = "2026-11-26T09:59:00Z".parse().unwrap();
    let ctx = Context { actor: &alice, now: earlier, catalog: &w.catalog };
    let note = Command::AddEntry {
        kind: EntryKind::Note,
        text: "late".into(),
        tag: None,
        corrects: None,
        occurred_at: None,
        workstream: None,
    };
    let (state, events) = w.state.execute(note, ctx).unwrap();
    assert_eq!(events[0].recorded_at, now());
    assert_eq!(events[0].at, now());
    w.state = state;
}

fn report(id: u64, customer: &str) -> crate::support::ReportRef {
    crate::support::ReportRef {
        id,
        channel: crate::support::ReportChannel::Ticket,
        customer: customer.into(),
        organization: Some("Acme".into()),
    }
}

#[test]
fn the_topic_shows_the_support_lead_with_the_reports_linked() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::CustomerSupportLead, &user("gina"), None).unwrap();
    let gina = user("gina");
    let events =
        w.run(&gina, Command::LinkCustomerReports { reports: vec![report(1, "Ann"), report(2, "Bo")] }).unwrap();
    assert_eq!(events.len(), 3, "two links and one topic change");
    assert!(w.state.topic.contains("| CSL @gina (2 reports)"), "{}", w.state.topic);
    w.run(&gina, Command::UnlinkCustomerReport { report: report(2, "Bo") }).unwrap();
    assert!(w.state.topic.contains("| CSL @gina (1 report)"), "{}", w.state.topic);
    assert_eq!(Incident::replay(&w.log).unwrap(), w.state);
    assert!(verify_chain(&w.log).is_ok());
}

#[test]
fn only_the_support_lead_and_the_incident_managers_pass_customer_reports_on() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::TechLead, &user("carol"), None).unwrap();
    w.assign(&alice, RoleKind::CustomerSupportLead, &user("gina"), None).unwrap();
    let pass = || Command::PassCustomerReport { report: report(4, "Ann"), excerpt: "card declined".into(), note: None };
    let err = w.run(&user("carol"), pass()).unwrap_err();
    let DomainError::Forbidden(reason) = err else { panic!("expected Forbidden") };
    assert!(reason.contains("the customer support lead (@gina)"), "{reason}");
    let events = w.run(&user("gina"), pass()).unwrap();
    assert_eq!(events[0].change.kind(), "customer_report");
    assert_eq!(events[0].text(), "@gina passed on ticket from Ann (Acme) (report 4): “card declined”");
    w.run(&alice, pass()).unwrap();
    w.run(&admin("root"), pass()).unwrap();
}

#[test]
fn the_support_lead_may_page_the_responders_about_a_report_and_a_tech_lead_may_not_that_way() {
    let alice = user("alice");
    let mut w = World::declared_by(&alice, Priority::P1);
    w.assign(&alice, RoleKind::TechLead, &user("carol"), None).unwrap();
    w.assign(&alice, RoleKind::CustomerSupportLead, &user("gina"), None).unwrap();
    let page = |n| Command::PageAboutCustomerReport { page: n, target: "@carol".into(), message: "Ann says".into() };
    let err = w.run(&user("carol"), page(1)).unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    let events = w.run(&user("gina"), page(2)).unwrap();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0].change, Change::PageSent { page: 2, roles, .. } if roles.is_empty()));
    w.run(&alice, Command::Update { title: None, summary: None, priority: None, status: Some(Status::Resolved) })
        .unwrap();
    let err = w.run(&user("gina"), page(3)).unwrap_err();
    assert!(matches!(err, DomainError::Conflict(ref m) if m.contains("resolved")), "{err:?}");
}

proptest! {
    /// A timeline as written verifies, and changing, dropping or reordering
    /// any one entry is found at that entry.
    #[test]
    fn the_chain_check_finds_the_first_entry_changed_dropped_or_moved(
        notes in 1usize..12,
        pick in any::<prop::sample::Index>(),
        how in 0u8..3,
    ) {
        use crate::timeline::ChainChecker;
        let alice = user("alice");
        let mut w = World::declared_by(&alice, Priority::P2);
        for n in 0..notes {
            w.run(&alice, Command::AddEntry {
                kind: EntryKind::Note, text: format!("note {n}"), tag: None, corrects: None, occurred_at: None, workstream: None,
            }).unwrap();
        }
        let check = |events: &[Event]| {
            let mut c = ChainChecker::default();
            for e in events {
                c.push(e.seq, Ok(e));
            }
            c.finish()
        };
        let whole = check(&w.log);
        prop_assert!(whole.ok());
        prop_assert_eq!(whole.entries, w.log.len() as u64);
        prop_assert_eq!(whole.head.as_deref(), Some(w.log.last().unwrap().hash.as_str()));

        let i = pick.index(w.log.len());
        let mut log = w.log.clone();
        let broken_at = match how {
            0 => {
                log[i].actor = user("mallory").handle;
                log[i].seq
            }
            1 => {
                let gone = log.remove(i);
                if i == log.len() { return Ok(()); } // the last one dropped leaves a valid, shorter chain
                gone.seq + 1
            }
            _ => {
                if i + 1 >= log.len() { return Ok(()); }
                log.swap(i, i + 1);
                log[i].seq
            }
        };
        let mut c = ChainChecker::default();
        // Rows as stored: a dropped row leaves a gap in the numbers.
        for e in &log {
            c.push(e.seq, Ok(e));
        }
        let found = c.finish();
        prop_assert_eq!(found.broken.map(|b| b.seq), Some(broken_at));
    }
}

#[test]
fn an_entry_that_cannot_be_read_breaks_the_chain_there_and_the_rest_is_still_counted() {
    use crate::timeline::ChainChecker;
    let alice = user("alice");
    let w = World::declared_by(&alice, Priority::P2);
    let mut c = ChainChecker::default();
    c.push(1, Ok(&w.log[0]));
    c.push(2, Err("its body is not an event: expected value".into()));
    for e in &w.log[2..] {
        c.push(e.seq, Ok(e));
    }
    let found = c.finish();
    assert_eq!(found.entries, w.log.len() as u64);
    let broken = found.broken.unwrap();
    assert_eq!((broken.seq, broken.reason.as_str()), (2, "its body is not an event: expected value"));
}
