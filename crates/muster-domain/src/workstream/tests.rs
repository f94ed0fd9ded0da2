use proptest::prelude::*;

use super::*;
use crate::incident::{Context, Declaration};
use crate::timeline::EntryKind;
use crate::{Actor, Command, DomainError, Permission, Priority, RoleCatalog};

fn user(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Responder }
}

fn scope(s: &str) -> Scope {
    Scope::workstream(s, "workstream").unwrap()
}

struct Run {
    catalog: RoleCatalog,
    state: Incident,
    log: Vec<Event>,
    now: Timestamp,
}

impl Run {
    fn declared(by: &Actor) -> Run {
        let catalog = RoleCatalog::default();
        let now: Timestamp = "2026-11-26T14:00:00Z".parse().unwrap();
        let d = Declaration {
            title: "Checkout returns 500".into(),
            summary: String::new(),
            priority: Priority::P1,
            incident_manager: by.clone(),
        };
        let (state, log) = Incident::declare(1, d, Context { actor: by, now, catalog: &catalog }).unwrap();
        Run { catalog, state, log, now }
    }

    fn try_run(&mut self, by: &Actor, cmd: Command) -> Result<(), DomainError> {
        self.now += jiff::SignedDuration::from_secs(60);
        let (state, events) = self.state.execute(cmd, Context { actor: by, now: self.now, catalog: &self.catalog })?;
        self.state = state;
        self.log.extend(events);
        Ok(())
    }

    fn run(&mut self, by: &Actor, cmd: Command) {
        self.try_run(by, cmd).unwrap();
    }

    fn lead(&mut self, by: &Actor, who: &Actor, s: Option<&str>) {
        self.run(by, Command::Assign { role: RoleKind::TechLead, user: who.clone(), scope: s.map(scope) });
    }

    fn last_seq(&self) -> u64 {
        self.state.version
    }
}

fn entry(kind: EntryKind, text: &str, workstream: Option<&str>) -> Command {
    Command::AddEntry {
        kind,
        text: text.into(),
        tag: None,
        corrects: None,
        occurred_at: None,
        workstream: workstream.map(scope),
    }
}

fn report(workstream: Option<&str>, conditions: &str, needs: &str) -> Command {
    Command::ReportToIncidentManager {
        workstream: workstream.map(scope),
        conditions: conditions.into(),
        actions: "failing over the primary".into(),
        needs: needs.into(),
    }
}

#[test]
fn theories_and_actions_go_to_the_workstream_of_the_tech_lead_who_writes_them_or_the_one_named() {
    let (alice, carol, dan, erin) = (user("alice"), user("carol"), user("dan"), user("erin"));
    let mut r = Run::declared(&alice);
    r.lead(&alice, &carol, Some("database"));
    r.lead(&alice, &dan, Some("network"));
    r.run(&carol, entry(EntryKind::Theory, "the pool is exhausted", None));
    let pool = r.last_seq();
    r.run(&dan, entry(EntryKind::Action, "drain the bad load balancer", None));
    let drain = r.last_seq();
    r.run(&alice, entry(EntryKind::Theory, "a route flaps", Some("network")));
    let flaps = r.last_seq();
    r.run(&alice, entry(EntryKind::Theory, "the deploy at 13:50", None));
    let deploy = r.last_seq();
    r.run(&carol, entry(EntryKind::Action, "ask the network team about the LB", Some("network")));
    let ask = r.last_seq();

    let w = workstreams(&r.state, &r.log);
    let names: Vec<Option<&str>> = w.iter().map(|w| w.scope.as_ref().map(Scope::as_str)).collect();
    assert_eq!(names, [Some("database"), Some("network"), None], "in the order opened, the rest last");
    let seqs = |w: &Workstream| {
        (w.theories.iter().map(|t| t.seq).collect::<Vec<_>>(), w.actions.iter().map(|a| a.seq).collect::<Vec<_>>())
    };
    assert_eq!(seqs(&w[0]), (vec![pool], vec![]));
    assert_eq!(seqs(&w[1]), (vec![flaps], vec![drain, ask]), "a tech lead may name another workstream");
    assert_eq!(seqs(&w[2]), (vec![deploy], vec![]), "the incident manager leads none");
    assert_eq!(w[0].leads.as_slice(), std::slice::from_ref(&carol.handle));
    assert_eq!(w[1].leads.as_slice(), std::slice::from_ref(&dan.handle));
    assert!(w[2].leads.is_empty());
    assert_eq!(w[0].theories[0].workstream, Some(scope("database")));

    let unknown = r.try_run(&erin, entry(EntryKind::Theory, "disk", Some("storage"))).unwrap_err();
    assert!(
        matches!(&unknown, DomainError::Invalid { field, .. } if field == "workstream"),
        "{unknown:?} names the field"
    );
    assert!(unknown.to_string().contains("its workstreams are database, network"), "{unknown}");
    let note = r.try_run(&carol, entry(EntryKind::Note, "hi", Some("database"))).unwrap_err();
    assert!(note.to_string().contains("only theories and actions"), "{note}");
    // A note by a tech lead belongs to no workstream (nothing groups notes).
    r.run(&carol, entry(EntryKind::Note, "looking", None));
    assert!(matches!(&r.log.last().unwrap().change, Change::Entry { workstream: None, .. }));
}

#[test]
fn a_tech_lead_with_two_scopes_or_none_writes_outside_a_workstream_unless_they_name_one() {
    let (alice, carol, dan) = (user("alice"), user("carol"), user("dan"));
    let mut r = Run::declared(&alice);
    r.lead(&alice, &carol, Some("database"));
    r.lead(&alice, &carol, Some("cache"));
    r.lead(&alice, &dan, None);
    r.run(&carol, entry(EntryKind::Theory, "eviction storm", None));
    r.run(&dan, entry(EntryKind::Theory, "bad config", None));
    r.run(&carol, entry(EntryKind::Theory, "replica lag", Some("database")));
    let w = workstreams(&r.state, &r.log);
    let database = w.iter().find(|w| w.scope == Some(scope("database"))).unwrap();
    assert_eq!(database.theories.len(), 1);
    let rest = w.iter().find(|w| w.scope.is_none()).unwrap();
    assert_eq!(rest.theories.len(), 2);
    assert_eq!(rest.leads.as_slice(), std::slice::from_ref(&dan.handle), "an unscoped tech lead leads the rest");
    assert!(w.iter().any(|w| w.scope == Some(scope("cache")) && w.theories.is_empty()), "an empty workstream shows");
}

#[test]
fn a_tech_lead_reports_conditions_actions_and_needs_and_the_latest_is_the_one_shown() {
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let mut r = Run::declared(&alice);
    r.lead(&alice, &carol, Some("database"));
    r.run(&carol, report(None, "primary at 100% CPU", "a DBA"));
    r.run(&carol, report(None, "replica promoted, errors falling", ""));
    let latest = r.last_seq();
    let text = r.log.last().unwrap().text();
    assert_eq!(
        text,
        "@carol reported on database to the incident manager — conditions: replica promoted, errors falling · \
         actions: failing over the primary · needs: none"
    );
    let w = workstreams(&r.state, &r.log);
    assert_eq!(w[0].reports.len(), 2);
    assert_eq!(w[0].latest().map(|l| l.seq), Some(latest));
    assert_eq!(w[0].latest().map(|l| l.needs.as_str()), Some(""));

    let refused = r.try_run(&bob, report(None, "looks fine to me", "")).unwrap_err();
    assert!(matches!(refused, DomainError::Forbidden(_)), "{refused:?}");
    assert!(refused.to_string().contains("only a tech lead (@carol)"), "{refused}");
    let empty = r.try_run(&carol, report(None, "  ", "")).unwrap_err();
    assert!(matches!(&empty, DomainError::Invalid { field, .. } if field == "conditions"), "{empty:?}");

    // Relieved, the lead is gone but the workstream and its reports stay.
    let id = r.state.holders(&RoleKind::TechLead).next().unwrap().id;
    r.run(&alice, Command::Relieve { assignment: id });
    let w = workstreams(&r.state, &r.log);
    assert_eq!((w[0].scope.clone(), w[0].leads.len(), w[0].reports.len()), (Some(scope("database")), 0, 2));
    let gone = r.try_run(&alice, entry(EntryKind::Theory, "x", Some("database"))).unwrap_err();
    assert!(gone.to_string().contains("has no workstreams"), "{gone}");
}

#[derive(Debug, Clone)]
enum Step {
    Theory { by: usize, named: Option<usize> },
    Action { by: usize, named: Option<usize> },
}

fn step() -> impl Strategy<Value = Step> {
    let named = proptest::option::of(0..3usize);
    prop_oneof![
        (0..4usize, named.clone()).prop_map(|(by, named)| Step::Theory { by, named }),
        (0..4usize, named).prop_map(|(by, named)| Step::Action { by, named }),
    ]
}

proptest! {
    /// Every theory and action is in exactly one workstream: the one named,
    /// else its writer's only scope, else none.
    #[test]
    fn every_theory_and_action_is_in_exactly_one_workstream(steps in proptest::collection::vec(step(), 1..30)) {
        let people = [user("alice"), user("carol"), user("dan"), user("erin")];
        let scopes = ["database", "network", "cache"];
        let mut r = Run::declared(&people[0]);
        r.lead(&people[0], &people[1], Some("database"));
        r.lead(&people[0], &people[2], Some("network"));
        r.lead(&people[0], &people[2], Some("cache"));
        let mut expected: Vec<(u64, Option<&str>)> = Vec::new();
        for s in &steps {
            let (kind, by, named) = match s {
                Step::Theory { by, named } => (EntryKind::Theory, *by, *named),
                Step::Action { by, named } => (EntryKind::Action, *by, *named),
            };
            let named = named.map(|i| scopes[i]);
            r.run(&people[by], entry(kind, "something", named));
            let fallback = if by == 1 { Some("database") } else { None };
            expected.push((r.last_seq(), named.or(fallback)));
        }
        let w = workstreams(&r.state, &r.log);
        for (seq, place) in expected {
            let holding: Vec<Option<&str>> = w
                .iter()
                .filter(|w| w.theories.iter().any(|t| t.seq == seq) || w.actions.iter().any(|a| a.seq == seq))
                .map(|w| w.scope.as_ref().map(Scope::as_str))
                .collect();
            prop_assert_eq!(holding, vec![place]);
        }
    }
}
