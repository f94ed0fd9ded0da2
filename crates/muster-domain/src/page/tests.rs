use proptest::prelude::*;

use super::*;

fn policy(steps: usize, repeat: u32) -> EscalationPolicy {
    let steps = (0..steps)
        .map(|i| Step { delay_seconds: 60 * (i as u32 + 1), targets: vec![Target::Schedule(i as u64 + 1)] })
        .collect();
    EscalationPolicy::new("p", repeat, steps).unwrap()
}

/// What may happen to a page: a step's timer fires (possibly late, twice, or
/// out of order, as after a crash), someone acknowledges or declines, or the
/// alert is acknowledged elsewhere.
#[derive(Debug, Clone)]
enum Op {
    Fire(u32),
    Ack,
    Decline,
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..12).prop_map(Op::Fire),
        1 => Just(Op::Ack),
        1 => Just(Op::Decline),
        1 => Just(Op::Cancel),
    ]
}

proptest! {
    /// However timers fire (late, repeated, out of order), a page notifies
    /// its steps in order, each once, never after it was answered, and only
    /// expires once every step of every repeat has been notified.
    #[test]
    fn a_page_notifies_each_step_once_in_order_and_never_after_it_was_answered(
        steps in 1usize..4,
        repeat in 0u32..3,
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let p = policy(steps, repeat);
        let total = steps as u32 * (repeat + 1);
        let mut state = PageState::Pending;
        let mut done = 0u32;
        let mut notified: Vec<u32> = Vec::new();
        for op in ops {
            let before = state;
            match op {
                Op::Fire(n) => match decide_step(&p, state, done, n) {
                    StepDecision::Nothing => {}
                    StepDecision::Notify { step, wait_seconds } => {
                        prop_assert!(before.is_open());
                        prop_assert_eq!(step, done);
                        prop_assert_eq!(wait_seconds, p.step(step as usize).unwrap().delay_seconds);
                        notified.push(step);
                        done += 1;
                        state = PageState::Notified;
                    }
                    StepDecision::Expire => {
                        prop_assert_eq!(done, total, "expires only after every step");
                        state = PageState::Expired;
                    }
                },
                Op::Ack | Op::Cancel if state.is_open() => {
                    state = if matches!(op, Op::Ack) { PageState::Acknowledged } else { PageState::Cancelled };
                }
                Op::Ack | Op::Cancel => {}
                Op::Decline => match decide_decline(&p, state, done) {
                    Ok(DeclineDecision::Escalate) => prop_assert!(done < total),
                    Ok(DeclineDecision::End) => state = PageState::Declined,
                    Err(_) => prop_assert!(!before.is_open()),
                },
            }
            if !before.is_open() {
                prop_assert_eq!(state, before, "an answered page stays as it was");
            }
        }
        prop_assert_eq!(notified, (0..done).collect::<Vec<_>>());
        prop_assert!(done <= total);
    }

    /// Every contact method of a person without rules is used at once; with
    /// rules, exactly the rules for methods they have, each once.
    #[test]
    fn notification_rules_choose_methods_and_delays(
        methods in proptest::collection::btree_set(1u64..10, 0..5),
        rules in proptest::collection::vec((1u64..12, 0u32..600), 0..6),
    ) {
        let methods: Vec<u64> = methods.into_iter().collect();
        let rules: Vec<NotificationRule> =
            rules.into_iter().map(|(contact_method, delay_seconds)| NotificationRule { contact_method, delay_seconds }).collect();
        let out = notifications(&methods, &rules);
        if rules.is_empty() {
            prop_assert_eq!(out, methods.iter().map(|m| (*m, 0)).collect::<Vec<_>>());
        } else {
            for (m, d) in &out {
                prop_assert!(methods.contains(m));
                prop_assert!(rules.iter().any(|r| r.contact_method == *m && r.delay_seconds == *d));
            }
            for r in rules.iter().filter(|r| methods.contains(&r.contact_method)) {
                prop_assert!(out.contains(&(r.contact_method, r.delay_seconds)));
            }
            let mut unique = out.clone();
            unique.dedup();
            prop_assert_eq!(unique.len(), out.len());
        }
    }
}

#[test]
fn a_direct_page_waits_fifteen_minutes_then_expires() {
    let p = single_step(Target::User(Handle::parse("bob").unwrap()));
    assert_eq!(decide_step(&p, PageState::Pending, 0, 0), StepDecision::Notify { step: 0, wait_seconds: 900 });
    assert_eq!(decide_step(&p, PageState::Notified, 1, 1), StepDecision::Expire);
    assert_eq!(decide_step(&p, PageState::Acknowledged, 1, 1), StepDecision::Nothing);
    assert_eq!(decide_decline(&p, PageState::Notified, 1).unwrap(), DeclineDecision::End);
}

#[test]
fn page_states_and_messages_parse() {
    for s in PageState::ALL {
        assert_eq!(s.as_str().parse::<PageState>().unwrap(), s);
    }
    assert!("paged".parse::<PageState>().is_err());
    assert!(parse_message("  ").is_err());
    assert_eq!(parse_message(" db is down ").unwrap(), "db is down");
    let t: PageTarget = serde_json::from_str(r#"{"policy":3}"#).unwrap();
    assert_eq!(t, PageTarget::Policy(3));
    assert!(serde_json::from_str::<PageTarget>(r#"{"team":3}"#).is_err());
}

#[test]
fn only_those_asked_or_in_charge_answer_and_only_those_asked_take_the_roles() {
    let (bob, carol) = (Handle::parse("bob").unwrap(), Handle::parse("carol").unwrap());
    let notified = [bob.clone()];
    assert!(may_acknowledge(&notified, &bob, false));
    assert!(!may_acknowledge(&notified, &carol, false), "a bystander may not answer someone else's page");
    assert!(may_acknowledge(&notified, &carol, true), "the incident manager may");
    assert!(may_decline(&notified, &bob) && !may_decline(&notified, &carol));
    let roles = [RoleKind::TechLead];
    assert_eq!(roles_on_acknowledge(&roles, true, true), roles);
    assert!(roles_on_acknowledge(&roles, false, true).is_empty(), "the IM answering for someone takes no role");
    assert!(roles_on_acknowledge(&roles, true, false).is_empty(), "the sender no longer in charge gives nothing");
}

fn h(s: &str) -> Handle {
    Handle::parse(s).unwrap()
}

#[test]
fn a_step_that_names_nobody_is_unreachable_because_nobody_is_on_call() {
    assert_eq!(why_unreachable(&[]), Some("nobody is on call".to_owned()));
}

#[test]
fn a_step_whose_person_has_no_contact_method_says_who() {
    let bob = reach(h("bob"), false, 0, 0);
    assert_eq!(why_unreachable(&[bob]), Some("@bob has no contact method".to_owned()));
}

#[test]
fn a_step_names_each_person_it_could_not_reach() {
    let people = [reach(h("bob"), false, 0, 0), reach(h("carol"), true, 2, 0), reach(h("dan"), false, 1, 0)];
    assert_eq!(
        why_unreachable(&people).unwrap(),
        "@bob has no contact method, @carol is disabled, no notification rule of @dan uses a contact method they have"
    );
}

#[test]
fn a_step_that_notified_one_person_is_reachable() {
    let people = [reach(h("bob"), false, 0, 0), reach(h("carol"), false, 1, 1)];
    assert_eq!(why_unreachable(&people), None);
}

#[test]
fn an_unreachable_step_escalates_at_once_and_the_last_one_expires_saying_so() {
    let p = policy(2, 1);
    assert_eq!(decide_unreachable(&p, 0, "x"), UnreachableDecision::EscalateNow { next: 1 });
    assert_eq!(decide_unreachable(&p, 2, "x"), UnreachableDecision::EscalateNow { next: 3 });
    assert_eq!(
        decide_unreachable(&p, 3, "@bob has no contact method"),
        UnreachableDecision::Expire {
            reason: "step 4 reached nobody: @bob has no contact method; no step is left".into()
        }
    );
}

#[test]
fn deliveries_fail_the_step_only_when_every_one_was_given_up() {
    use DeliveryOutcome::*;
    let bob = [h("bob")];
    assert_eq!(
        why_deliveries_failed(&[GaveUp, GaveUp], &bob),
        Some("every notification to @bob failed for good".into())
    );
    assert_eq!(why_deliveries_failed(&[GaveUp, Pending], &bob), None);
    assert_eq!(why_deliveries_failed(&[GaveUp, Delivered], &bob), None);
    assert_eq!(why_deliveries_failed(&[], &bob), None);
}

proptest! {
    /// A step is unreachable exactly when no person of it got a notification.
    #[test]
    fn a_step_is_unreachable_exactly_when_it_made_no_notification(
        people in proptest::collection::vec((any::<bool>(), 0usize..3, 0usize..3), 0..5),
    ) {
        let reaches: Vec<Reach> = people
            .iter()
            .enumerate()
            .map(|(i, (disabled, methods, jobs))| {
                let jobs = if *methods == 0 { 0 } else { *jobs };
                reach(h(&format!("p{i}")), *disabled, *methods, jobs)
            })
            .collect();
        let reached = people.iter().any(|(disabled, methods, jobs)| !disabled && *methods > 0 && *jobs > 0);
        prop_assert_eq!(why_unreachable(&reaches).is_none(), reached);
    }

    /// An unreachable step never waits: the next one is due at once, and the
    /// page expires only after its last step of its last repeat.
    #[test]
    fn an_unreachable_step_goes_on_to_the_next_or_expires_after_the_last(steps in 1usize..4, repeat in 0u32..3, n in 0u32..12) {
        let p = policy(steps, repeat);
        let total = steps as u32 * (repeat + 1);
        prop_assume!(n < total);
        match decide_unreachable(&p, n, "why") {
            UnreachableDecision::EscalateNow { next } => { prop_assert_eq!(next, n + 1); prop_assert!(next < total); }
            UnreachableDecision::Expire { reason } => { prop_assert_eq!(n + 1, total); prop_assert!(reason.contains("why")); }
        }
    }
}

#[test]
fn the_answer_page_says_what_acknowledging_does() {
    let (alice, dan) = (h("alice"), h("dan"));
    let major = [RoleKind::FirstResponder, RoleKind::IncidentManager];
    assert_eq!(
        acknowledging_says(&major, Some("INC-5"), Some(&alice), &dan),
        "You become incident manager of INC-5, taking over from @alice and its first responder; the escalation stops."
    );
    assert_eq!(
        acknowledging_says(&major, Some("INC-5"), Some(&dan), &dan),
        "You become incident manager of INC-5 and its first responder; the escalation stops."
    );
    assert_eq!(
        acknowledging_says(&[RoleKind::TechLead], Some("INC-5"), Some(&alice), &dan),
        "You become tech lead of INC-5; the escalation stops."
    );
    assert_eq!(
        acknowledging_says(&[], Some("INC-5"), Some(&alice), &dan),
        "This tells Muster you are on it; the escalation stops."
    );
}
