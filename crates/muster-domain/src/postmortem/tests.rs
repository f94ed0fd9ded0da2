use proptest::prelude::*;

use super::*;
use crate::incident::{Context, Declaration};
use crate::timeline::EntryKind;
use crate::{Actor, Command, Incident, Permission, Priority, RoleCatalog};

fn user(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Responder }
}

fn t(hm: &str) -> Timestamp {
    format!("2026-11-26T{hm}:00Z").parse().unwrap()
}

/// An incident driven with times of our choosing.
struct Run {
    catalog: RoleCatalog,
    state: Incident,
    log: Vec<Event>,
}

impl Run {
    fn declared(by: &Actor, at: &str) -> Run {
        let catalog = RoleCatalog::default();
        let d = Declaration {
            title: "Checkout returns 500".into(),
            summary: String::new(),
            priority: Priority::P1,
            incident_manager: by.clone(),
        };
        let (state, log) = Incident::declare(1, d, Context { actor: by, now: t(at), catalog: &catalog }).unwrap();
        Run { catalog, state, log }
    }

    fn run(&mut self, by: &Actor, at: &str, cmd: Command) {
        let (state, events) =
            self.state.execute(cmd, Context { actor: by, now: t(at), catalog: &self.catalog }).unwrap();
        self.state = state;
        self.log.extend(events);
    }

    /// Marks a milestone as the app does: checked against the moments first.
    fn mark(&mut self, by: &Actor, at: &str, tag: MilestoneTag, when: &str) -> Result<(), DomainError> {
        Moments::of(&self.log).check(&self.log, tag, t(when))?;
        let cmd = Command::AddEntry {
            kind: EntryKind::Milestone,
            text: tag.as_str().into(),
            tag: Some(tag),
            corrects: None,
            occurred_at: Some(t(when)),
            workstream: None,
        };
        self.run(by, at, cmd);
        Ok(())
    }
}

fn seq_of_last_milestone(log: &[Event], tag: MilestoneTag) -> u64 {
    log.iter().rev().find(|e| matches!(&e.change, Change::Entry { tag: Some(x), .. } if *x == tag)).unwrap().seq
}

#[test]
fn durations_run_from_the_start_the_scribe_marked_and_moved_back_and_a_milestone_before_it_is_refused() {
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let mut r = Run::declared(&alice, "14:10");
    let tl = Command::Assign { role: RoleKind::TechLead, user: carol.clone(), scope: None };
    r.run(&alice, "14:12", tl);
    r.mark(&alice, "14:15", MilestoneTag::Started, "14:03").unwrap();
    r.mark(&alice, "14:16", MilestoneTag::Detected, "14:05").unwrap();
    let before = r.mark(&alice, "14:20", MilestoneTag::Mitigated, "14:00").unwrap_err();
    assert!(before.to_string().contains("cannot precede the incident's start"), "{before}");
    r.mark(&carol, "14:40", MilestoneTag::Mitigated, "14:40").unwrap();
    // The start moved back; the first mark stays on the timeline.
    r.mark(&alice, "14:45", MilestoneTag::Started, "14:01").unwrap();
    let late = r.mark(&alice, "14:46", MilestoneTag::Started, "14:06").unwrap_err();
    assert!(late.to_string().contains("after the detected milestone"), "{late}");
    r.run(&alice, "14:50", Command::Assign { role: RoleKind::IncidentManager, user: bob.clone(), scope: None });
    let resolve = Command::Update { title: None, summary: None, priority: None, status: Some(Status::Resolved) };
    r.run(&bob, "15:10", resolve);

    let m = Moments::of(&r.log);
    let started = seq_of_last_milestone(&r.log, MilestoneTag::Started);
    assert_eq!(m.started, Some(Moment { at: t("14:01"), source: Source::Milestone { seq: started } }));
    assert_eq!(m.detected.map(|m| m.at), Some(t("14:05")));
    assert_eq!(m.acknowledged, Some(Moment { at: t("14:10"), source: Source::Declared }), "a person declared it");
    assert_eq!(m.mitigated.map(|m| m.at), Some(t("14:40")));
    assert_eq!(m.resolved, Some(Moment { at: t("15:10"), source: Source::StatusResolved }));
    assert_eq!(
        m.durations(),
        Durations { to_detect: Some(240), to_acknowledge: Some(540), to_mitigate: Some(2340), to_resolve: Some(4140) }
    );
    let marked: Vec<u64> = r
        .log
        .iter()
        .filter(|e| matches!(&e.change, Change::Entry { tag: Some(MilestoneTag::Started), .. }))
        .map(|e| e.seq)
        .collect();
    assert_eq!(marked.len(), 2, "both marks of the start are on the timeline");

    let roster = roster(&r.log, t("15:10"));
    let of = |h: &str| roster.iter().find(|p| p.handle.as_str() == h).unwrap();
    assert_eq!(roster.iter().map(|p| p.handle.as_str()).collect::<Vec<_>>(), ["alice", "carol", "bob"]);
    let a = of("alice");
    assert_eq!(a.time_in_role.get("incident_manager"), Some(&2400), "14:10 to the handover at 14:50");
    assert_eq!(a.time_in_role.get("first_responder"), Some(&3600), "held to the resolution");
    let im = a.roles.iter().find(|s| s.role == RoleKind::IncidentManager).unwrap();
    assert_eq!((im.to, im.ended.as_deref()), (Some(t("14:50")), Some("handed over to @bob")));
    assert_eq!(of("carol").time_in_role.get("tech_lead"), Some(&3480));
    assert_eq!(of("bob").time_in_role.get("incident_manager"), Some(&1200));
    assert_eq!((of("bob").first_activity, of("bob").last_activity), (t("14:50"), t("15:10")));
    assert_eq!(of("carol").first_activity, t("14:12"), "from the role given to her");
    assert_eq!(of("carol").last_activity, t("14:40"));
}

#[test]
fn without_milestones_the_moments_come_from_the_pages_and_the_status() {
    let (alice, carol) = (user("alice"), user("carol"));
    let system = crate::intake::system_actor();
    let mut r = Run::declared(&system, "09:00");
    let page =
        Command::Page { page: 1, target: "@carol".into(), message: "checkout".into(), roles: vec![], automatic: true };
    r.run(&system, "09:00", page);
    let ack = Command::ClosePage { page: 1, state: PageState::Acknowledged, reason: None, roles: vec![] };
    r.run(&carol, "09:07", ack);
    let im = Command::Assign { role: RoleKind::IncidentManager, user: alice.clone(), scope: None };
    r.run(&system, "09:08", im);
    let status = |s| Command::Update { title: None, summary: None, priority: None, status: Some(s) };
    r.run(&alice, "09:30", status(Status::Monitoring));
    r.run(&alice, "09:45", status(Status::Resolved));
    r.run(&alice, "09:50", status(Status::Investigating)); // reopened: not resolved any more
    let m = Moments::of(&r.log);
    assert_eq!(m.started.map(|m| (m.at, m.source)), Some((t("09:00"), Source::Declared)));
    assert_eq!(m.acknowledged.map(|m| (m.at, m.source)), Some((t("09:07"), Source::PageAcknowledged)));
    assert_eq!(m.mitigated.map(|m| (m.at, m.source)), Some((t("09:30"), Source::Monitoring)));
    assert_eq!(m.resolved, None, "reopened");
    r.run(&alice, "10:20", status(Status::Resolved));
    let d = Moments::of(&r.log).durations();
    assert_eq!(
        d,
        Durations { to_detect: Some(0), to_acknowledge: Some(420), to_mitigate: Some(1800), to_resolve: Some(4800) }
    );
    let roster = roster(&r.log, t("10:20"));
    let carol = roster.iter().find(|p| p.handle.as_str() == "carol").unwrap();
    assert_eq!(carol.pages_answered, 1);
    assert!(roster.iter().all(|p| p.handle.as_str() != crate::intake::SYSTEM), "the system is no one");
}

proptest! {
    /// Whatever milestones are marked in whatever order, the moments the
    /// checks let through never precede the start, and time in role never
    /// goes negative.
    #[test]
    fn no_accepted_milestone_precedes_the_start(marks in prop::collection::vec((0usize..9, 0u32..120), 1..20)) {
        let alice = user("alice");
        let mut r = Run::declared(&alice, "12:00");
        for (i, (tag, minute)) in marks.iter().enumerate() {
            let tag = MilestoneTag::ALL[*tag];
            let when = format!("{:02}:{:02}", 11 + minute / 60, minute % 60);
            let at = format!("{:02}:{:02}", 13 + i / 60, i % 60);
            let _ = r.mark(&alice, &at, tag, &when);
        }
        let m = Moments::of(&r.log);
        let start = m.started.unwrap().at;
        for e in &r.log {
            if let Change::Entry { tag: Some(tag), .. } = &e.change
                && *tag != MilestoneTag::Started
            {
                prop_assert!(e.at >= start, "{tag} at {} before the start {start}", e.at);
            }
        }
        let d = m.durations();
        for v in [d.to_detect, d.to_acknowledge, d.to_mitigate, d.to_resolve].into_iter().flatten() {
            prop_assert!(v >= 0);
        }
        for p in roster(&r.log, t("15:00")) {
            prop_assert!(p.roles.iter().all(|s| s.seconds >= 0));
        }
    }
}

fn theory_entry(text: &str) -> Command {
    Command::AddEntry {
        kind: EntryKind::Theory,
        text: text.into(),
        tag: None,
        corrects: None,
        occurred_at: None,
        workstream: None,
    }
}

#[test]
fn a_theory_is_judged_by_its_tech_leads_and_incident_managers_and_stands_as_last_judged() {
    use crate::timeline::TheoryStatus;
    let alice = user("alice");
    let carol = user("carol");
    let erin = user("erin");
    let mut r = Run::declared(&alice, "10:00");
    let tl = Command::Assign { role: RoleKind::TechLead, user: carol.clone(), scope: None };
    r.run(&alice, "10:01", tl);
    r.run(&carol, "10:02", theory_entry("the pool is exhausted"));
    let seq = r.log.last().unwrap().seq;
    let judge = |r: &Run, status| Command::JudgeTheory { theory: theory(&r.log, seq).unwrap(), status, evidence: None };
    let by_erin = r
        .state
        .execute(judge(&r, TheoryStatus::Confirmed), Context { actor: &erin, now: t("10:03"), catalog: &r.catalog });
    assert!(matches!(by_erin, Err(DomainError::Forbidden(_))), "{by_erin:?}");
    let c = judge(&r, TheoryStatus::RuledOut);
    r.run(&carol, "10:04", c);
    let again = r
        .state
        .execute(judge(&r, TheoryStatus::RuledOut), Context { actor: &carol, now: t("10:05"), catalog: &r.catalog });
    assert!(matches!(again, Err(DomainError::Conflict(_))), "{again:?}");
    let c = judge(&r, TheoryStatus::Open);
    r.run(&alice, "10:06", c);
    let c = judge(&r, TheoryStatus::Confirmed);
    r.run(&carol, "10:07", c);
    let all = theories(&r.log);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, TheoryStatus::Confirmed);
    let judged: Vec<TheoryStatus> = all[0].judgements.iter().map(|j| j.status).collect();
    assert_eq!(judged, [TheoryStatus::RuledOut, TheoryStatus::Open, TheoryStatus::Confirmed]);
    assert!(matches!(theory(&r.log, 1), Err(DomainError::NotFound { .. })), "the declaration is no theory");
}

proptest! {
    /// A postmortem only moves draft → in_review → published (or back to
    /// draft from review): whatever moves are asked for, the ones allowed
    /// never leave published, and reach it only through a review.
    #[test]
    fn a_postmortem_reaches_published_only_through_review_and_never_leaves_it(
        asks in prop::collection::vec(0usize..3, 0..30),
    ) {
        use document::PostmortemState;
        let mut state = PostmortemState::Draft;
        let mut reviewed = false;
        for a in asks {
            let to = PostmortemState::ALL[a];
            match state.check_move(to) {
                Ok(()) => {
                    prop_assert!(state != PostmortemState::Published);
                    if to == PostmortemState::Published {
                        prop_assert_eq!(state, PostmortemState::InReview);
                    }
                    reviewed |= to == PostmortemState::InReview;
                    state = to;
                }
                Err(_) => prop_assert!(state == PostmortemState::Published || state == to || (state, to) == (PostmortemState::Draft, PostmortemState::Published)),
            }
        }
        if state == PostmortemState::Published {
            prop_assert!(reviewed);
        }
    }

    /// Whatever people write, the Markdown export keeps its tables whole:
    /// every row of the timeline has its three cells on one line.
    #[test]
    fn the_markdown_tables_hold_one_row_per_line_whatever_the_entries_say(
        texts in prop::collection::vec("[a-z|\\n `*_#-]{1,40}", 1..12),
    ) {
        let alice = user("alice");
        let mut r = Run::declared(&alice, "10:00");
        for (i, text) in texts.iter().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            let at = format!("10:{:02}", i + 1);
            r.run(&alice, &at, Command::AddEntry { kind: EntryKind::Decision, text: text.clone(), tag: None, corrects: None, occurred_at: None, workstream: None });
        }
        let facts = document::Facts::of(&r.state, &r.log, &[], t("12:00"));
        let doc = document::document(document::Template::Standard, document::PostmortemState::Draft, &facts, &document::Narrative::default());
        let md = document::markdown(&doc);
        let timeline = md.split("## Timeline\n\n").nth(1).unwrap().split("\n\n").next().unwrap();
        let rows: Vec<&str> = timeline.lines().collect();
        prop_assert_eq!(rows.len(), 2 + facts.timeline.len(), "{}", timeline);
        for row in rows {
            let cells = row.replace("\\|", "").matches('|').count();
            prop_assert_eq!(cells, 4, "{}", row);
        }
    }
}
