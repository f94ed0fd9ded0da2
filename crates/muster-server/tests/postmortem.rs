//! After the incident, over the API on both backends: the timeline's
//! tamper evidence (a row changed in the database behind Muster's back is
//! named by `verify`), the scribe's milestones and the durations and
//! roster computed from them, checked against values worked out by hand,
//! and the postmortem drafted from the timeline, compared with a reviewed
//! file (`MUSTER_UPDATE_GOLDEN=1` writes it anew; read the diff).

mod common;

use std::sync::Arc;

use common::receiver::Receiver;
use common::{ADMIN_TOKEN, ManualClock, TestServer};
use muster_app::channels::webhook::signature;
use serde_json::{Value, json};

on_both_backends!(a_timeline_row_changed_in_the_database_is_named_by_verify_as_the_first_broken_entry,);

mod manual {
    use super::*;
    on_both_backends_with_manual_clock!(
        the_roster_and_the_durations_follow_the_scribes_backdated_milestones_and_the_handover,
        the_tour_incident_drafts_the_postmortem_in_the_reviewed_file_and_is_published_by_its_incident_manager,
        a_follow_up_reminds_its_owner_when_due_and_weekly_until_done_and_the_tracker_hears_of_it,
    );
}

async fn the_roster_and_the_durations_follow_the_scribes_backdated_milestones_and_the_handover(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let bob = server.user("bob", "responder").await;
    let carol = server.user("carol", "responder").await;
    server.post(&alice, "/api/v1/incidents", json!({"title": "Checkout returns 500", "priority": "P1"})).await.ok(201);
    clock.advance(2 * 60);
    let tl = json!({"role": "tech_lead", "user": "carol", "scope": "database"});
    server.post(&alice, "/api/v1/incidents/INC-1/roles", tl).await.ok(201);
    clock.advance(3 * 60);
    let milestone = |tag: &str, at: Option<&str>| json!({"kind": "milestone", "text": format!("{tag} (marked by the scribe)"), "tag": tag, "occurred_at": at});
    let path = "/api/v1/incidents/INC-1/timeline";
    server.post(&alice, path, milestone("started", Some("2026-11-27T09:55:00Z"))).await.ok(201);
    server.post(&alice, path, milestone("detected", Some("2026-11-27T09:58:00Z"))).await.ok(201);
    let early = server.post(&alice, path, milestone("mitigated", Some("2026-11-27T09:50:00Z"))).await;
    assert_eq!(early.problem(422)["field"], "occurred_at");
    assert!(early.body["detail"].as_str().unwrap().contains("cannot precede the incident's start"), "{}", early.body);
    clock.advance(25 * 60);
    server.post(&carol, path, milestone("mitigated", None)).await.ok(201);
    clock.advance(10 * 60);
    server
        .post(&alice, "/api/v1/incidents/INC-1/roles", json!({"role": "incident_manager", "user": "bob"}))
        .await
        .ok(201);
    clock.advance(20 * 60);
    server.patch(&bob, "/api/v1/incidents/INC-1", json!({"status": "resolved"})).await.ok(200);
    clock.advance(60 * 60); // read an hour later: nothing counts past the resolution

    let roster = server.get(&carol, "/api/v1/incidents/INC-1/roster").await.ok(200).clone();
    let moments = &roster["moments"];
    assert_eq!(
        (moments["started"]["at"].as_str(), moments["started"]["source"].as_str()),
        (Some("2026-11-27T09:55:00Z"), Some("milestone"))
    );
    assert_eq!(moments["detected"]["at"], "2026-11-27T09:58:00Z");
    assert_eq!(
        (moments["acknowledged"]["at"].as_str(), moments["acknowledged"]["source"].as_str()),
        (Some("2026-11-27T10:00:00Z"), Some("declared"))
    );
    assert_eq!(moments["mitigated"]["at"], "2026-11-27T10:30:00Z");
    assert_eq!(
        (moments["resolved"]["at"].as_str(), moments["resolved"]["source"].as_str()),
        (Some("2026-11-27T11:00:00Z"), Some("status_resolved"))
    );
    assert_eq!(
        roster["durations"],
        json!({"to_detect": 180, "to_acknowledge": 300, "to_mitigate": 2100, "to_resolve": 3900})
    );
    assert_eq!(roster["until"], "2026-11-27T11:00:00Z");
    let people: Vec<&str> =
        roster["participants"].as_array().unwrap().iter().map(|p| p["user"].as_str().unwrap()).collect();
    assert_eq!(people, ["alice", "carol", "bob"]);
    let of = |h: &str| roster["participants"].as_array().unwrap().iter().find(|p| p["user"] == h).unwrap().clone();
    assert_eq!(of("alice")["time_in_role"], json!({"first_responder": 3600, "incident_manager": 2400}));
    assert_eq!(of("carol")["time_in_role"], json!({"tech_lead": 3480}));
    assert_eq!(of("carol")["roles"][0]["scope"], "database");
    assert_eq!(of("bob")["time_in_role"], json!({"incident_manager": 1200}));
    let handed =
        of("alice")["roles"].as_array().unwrap().iter().find(|s| s["role"] == "incident_manager").unwrap().clone();
    assert_eq!(
        (handed["to"].as_str(), handed["ended"].as_str()),
        (Some("2026-11-27T10:40:00Z"), Some("handed over to @bob"))
    );
    server.get(&carol, "/api/v1/incidents/INC-9/roster").await.problem(404);
}

async fn a_timeline_row_changed_in_the_database_is_named_by_verify_as_the_first_broken_entry(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.post(&alice, "/api/v1/incidents", json!({"title": "Checkout returns 500", "priority": "P1"})).await.ok(201);
    for text in ["db-7 is at 100 % CPU", "the 14:02 deploy is the cause", "rolling back the deploy"] {
        let entry = json!({"kind": "note", "text": text});
        server.post(&alice, "/api/v1/incidents/INC-1/timeline", entry).await.ok(201);
    }
    let all = server.get(&alice, "/api/v1/incidents/INC-1/timeline?all=true").await.ok(200).clone();
    let entries = all.as_array().unwrap();
    let verified = server.get(&alice, "/api/v1/incidents/INC-1/timeline/verify").await.ok(200).clone();
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["entries"].as_u64(), Some(entries.len() as u64));
    assert!(verified["broken"].is_null());
    let head = verified["head"].as_str().unwrap().to_owned();
    assert_eq!(head.len(), 64, "a SHA-256, hex: {head}");

    // Someone with the database's rights rewrites what the timeline says.
    let seq = entries.iter().find(|e| e["text"] == "the 14:02 deploy is the cause").unwrap()["id"].as_u64().unwrap();
    let sql = format!(
        "UPDATE incident_events SET body = REPLACE(body, 'the 14:02 deploy', 'a cosmic ray') \
         WHERE incident = 1 AND seq = {seq}"
    );
    assert_eq!(server.database().tamper_past_the_triggers(&sql).await, 1);
    let shown = server.get(&alice, "/api/v1/incidents/INC-1/timeline").await.ok(200).clone();
    assert!(shown.to_string().contains("a cosmic ray is the cause"), "the rewrite shows: {shown}");
    let verified = server.get(&alice, "/api/v1/incidents/INC-1/timeline/verify").await.ok(200).clone();
    assert_eq!(verified["ok"], false, "{verified}");
    assert_eq!(verified["broken"]["id"].as_u64(), Some(seq));
    assert_eq!(verified["broken"]["reason"], "its content does not match its hash");
    assert_eq!(verified["head"], head.as_str(), "the head as stored");

    server.get(&alice, "/api/v1/incidents/INC-9/timeline/verify").await.problem(404);
}

/// The README tour's incident, on a manual clock: two tech leads on their
/// workstreams, internal and external communications split, a backup
/// incident manager who takes over, a scribe's backdated milestones,
/// theories (one corrected), a decision, an action, a customer report
/// passed on, a mitigation and the resolution.
async fn the_tour_incident_drafts_the_postmortem_in_the_reviewed_file_and_is_published_by_its_incident_manager(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let mut t = std::collections::BTreeMap::new();
    for who in ["bob", "carol", "dan", "erin", "frank", "gina", "hank"] {
        t.insert(who, server.user(who, "responder").await);
    }
    for name in ["Checkout", "Search"] {
        server.post(ADMIN_TOKEN, "/api/v1/status/components", json!({"name": name})).await.ok(201);
    }
    let declared = json!({"title": "Checkout returns 500", "priority": "P1",
        "summary": "Card payments fail at checkout for customers in the EU."});
    server.post(&alice, "/api/v1/incidents", declared).await.ok(201);
    let roles = "/api/v1/incidents/INC-1/roles";
    let path = "/api/v1/incidents/INC-1/timeline";
    clock.advance(2 * 60);
    for (role, user, scope) in [
        ("tech_lead", "carol", Some("database")),
        ("tech_lead", "dan", Some("payments-api")),
        ("backup_incident_manager", "bob", None),
        ("communications_manager", "erin", Some("internal")),
        ("communications_manager", "frank", Some("external")),
        ("customer_support_lead", "gina", None),
        ("scribe", "hank", None),
    ] {
        server.post(&alice, roles, json!({"role": role, "user": user, "scope": scope})).await.ok(201);
    }
    clock.advance(4 * 60); // 10:06
    let milestone = |tag: &str, text: &str, at: Option<&str>| json!({"kind": "milestone", "tag": tag, "text": text, "occurred_at": at});
    let hank = &t["hank"];
    server
        .post(hank, path, milestone("started", "first 500s in the checkout logs", Some("2026-11-27T09:55:00Z")))
        .await
        .ok(201);
    server
        .post(hank, path, milestone("detected", "the checkout error-rate alert fired", Some("2026-11-27T09:58:00Z")))
        .await
        .ok(201);
    clock.advance(4 * 60); // 10:10
    let entry = |kind: &str, text: &str| json!({"kind": kind, "text": text});
    let cpu =
        server.post(&t["carol"], path, entry("theory", "db-7 at 100 % CPU exhausts the connection pool")).await.ok(201)
            ["id"]
            .clone();
    let retries_theory = server
        .post(&t["dan"], path, entry("theory", "the 09:50 payments-api deploy retries every card call five times"))
        .await
        .ok(201)["id"]
        .clone();
    clock.advance(60); // 10:11
    let graph = server.post(&t["carol"], path, entry("note", "db-7 CPU at 100 % since 09:52 (grafana)")).await.ok(201)
        ["id"]
        .clone();
    let highlight = format!("/api/v1/incidents/INC-1/timeline/{graph}/highlight");
    let by_tl = server.post(&t["dan"], &highlight, json!({})).await;
    assert!(by_tl.problem(403)["detail"].as_str().unwrap().contains("the scribe (@hank)"), "{}", by_tl.body);
    server.post(hank, &highlight, json!({})).await.ok(201);
    server.post(hank, &highlight, json!({})).await.problem(409);
    clock.advance(60); // 10:12
    let call = json!({"channel": "ticket", "customer": "Ann Lee", "organization": "Acme", "body": "Our checkout fails with a 500"});
    let report = server.post(&t["gina"], "/api/v1/customer-reports", call).await.ok(201)["id"].as_u64().unwrap();
    server
        .post(&t["gina"], &format!("/api/v1/customer-reports/{report}/link"), json!({"incident": "INC-1"}))
        .await
        .ok(200);
    server
        .post(
            &t["gina"],
            &format!("/api/v1/customer-reports/{report}/pass"),
            json!({"note": "Acme sees it on every card"}),
        )
        .await
        .ok(200);
    clock.advance(3 * 60); // 10:15
    let reasoned = json!({"text": "roll back the 09:50 payments-api deploy", "theory": retries_theory,
                          "rationale": "a rollback takes two minutes and the deploy changed nothing else"});
    server.post(&t["dan"], "/api/v1/incidents/INC-1/decisions", json!({"text": "x", "theory": 1})).await.problem(422);
    let decision = server.post(&t["dan"], "/api/v1/incidents/INC-1/decisions", reasoned).await.ok(201).clone();
    assert_eq!(decision["kind"], "decision");
    assert_eq!(decision["data"]["follows"], retries_theory);
    let decision = decision["id"].clone();
    let remark = json!({"text": "taken five minutes after the theory, before it was confirmed"});
    server.post(hank, &format!("/api/v1/incidents/INC-1/timeline/{decision}/annotations"), remark).await.ok(201);
    clock.advance(60);
    server.post(&t["dan"], path, entry("action", "rolled payments-api back to v2.31")).await.ok(201);
    clock.advance(4 * 60); // 10:20
    server.patch(&t["carol"], "/api/v1/incidents/INC-1", json!({"status": "identified"})).await.ok(200);
    let internal = json!({"audience": "internal", "form": {"conditions": "card payments fail in the EU", "actions": "rolling back payments-api", "needs": "nothing yet"}});
    server.post(&t["erin"], "/api/v1/incidents/INC-1/updates", internal).await.ok(201);
    let outage = json!({"audience": "external", "body": "Card payments at checkout fail.", "status": "identified",
                        "components": [{"component": "Checkout", "status": "major_outage"}]});
    server.post(&t["frank"], "/api/v1/incidents/INC-1/updates", outage).await.ok(201);
    clock.advance(5 * 60); // 10:25
    let corrected =
        json!({"kind": "theory", "text": "db-7's CPU is the retries' load, a symptom, not the cause", "corrects": cpu});
    server.post(&t["carol"], path, corrected).await.ok(201);
    clock.advance(3 * 60); // 10:28: the tech leads judge their theories
    let judge = |id: &serde_json::Value| format!("/api/v1/incidents/INC-1/theories/{id}/status");
    let out = json!({"status": "ruled_out", "evidence": "the pool had 40 free connections throughout"});
    let by_comms = server.post(&t["erin"], &judge(&cpu), out.clone()).await;
    assert!(by_comms.problem(403)["detail"].as_str().unwrap().contains("@carol, @dan"), "{}", by_comms.body);
    server.post(&t["carol"], &judge(&json!(1)), out.clone()).await.problem(404);
    let ruled_out = server.post(&t["carol"], &judge(&cpu), out.clone()).await.ok(201).clone();
    assert_eq!(ruled_out["kind"], "theory_judged");
    server.post(&t["carol"], &judge(&cpu), out).await.problem(409);
    let theories = server.get(&alice, "/api/v1/incidents/INC-1/theories").await.ok(200).clone();
    let retries = theories[1]["id"].clone();
    let confirmed = json!({"status": "confirmed", "evidence": "the deploy's diff sets retries from 1 to 5"});
    server.post(&t["dan"], &judge(&retries), confirmed).await.ok(201);
    let theories = server.get(&alice, "/api/v1/incidents/INC-1/theories").await.ok(200).clone();
    let states: Vec<(&str, &str)> = theories
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["text"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("db-7's CPU is the retries' load, a symptom, not the cause", "ruled_out"),
            ("the 09:50 payments-api deploy retries every card call five times", "confirmed")
        ]
    );
    clock.advance(2 * 60); // 10:30
    server.post(&t["dan"], path, milestone("mitigated", "the error rate is back under 0.1 %", None)).await.ok(201);
    server.patch(&t["carol"], "/api/v1/incidents/INC-1", json!({"status": "monitoring"})).await.ok(200);
    let better = json!({"audience": "external", "body": "Payments work again; we are watching.", "status": "monitoring",
                        "components": [{"component": "Checkout", "status": "degraded_performance"}]});
    server.post(&t["frank"], "/api/v1/incidents/INC-1/updates", better).await.ok(201);
    clock.advance(5 * 60); // 10:35: a follow-up for after the incident
    let follow_up = json!({"text": "alert on retries per card call", "owner": "carol",
                           "due_at": "2026-12-04T09:00:00Z", "follow_up": true, "ticket": "OPS-42"});
    server.post(&t["dan"], "/api/v1/incidents/INC-1/actions", follow_up).await.ok(201);
    clock.advance(5 * 60); // 10:40: the backup takes over
    server.post(&alice, roles, json!({"role": "incident_manager", "user": "bob"})).await.ok(201);
    clock.advance(20 * 60); // 11:00
    let bob = &t["bob"];
    server.patch(bob, "/api/v1/incidents/INC-1", json!({"status": "resolved"})).await.ok(200);

    // A postmortem is of an incident that ended.
    server.post(&alice, "/api/v1/incidents", json!({"title": "Slow search", "priority": "P3"})).await.ok(201);
    let open = server.post(&alice, "/api/v1/incidents/INC-2/postmortem", json!({})).await;
    assert!(open.problem(409)["detail"].as_str().unwrap().contains("resolved"), "{}", open.body);
    server.get(&alice, "/api/v1/incidents/INC-1/postmortem").await.problem(404);

    clock.advance(60 * 60); // 12:00, drafted the next hour
    let drafted = server.post(hank, "/api/v1/incidents/INC-1/postmortem", json!({})).await.ok(201).clone();
    assert_eq!((drafted["template"].as_str(), drafted["state"].as_str()), (Some("standard"), Some("draft")), "a P1's");
    assert_eq!(drafted["sections"]["summary"], "Card payments fail at checkout for customers in the EU.");
    assert_eq!(drafted["sections"]["resolution"], "the error rate is back under 0.1 %");
    assert_eq!(
        drafted["sections"]["root_cause"], "the 09:50 payments-api deploy retries every card call five times",
        "from the confirmed theory"
    );
    assert!(drafted["prompts"]["went_well"].as_str().unwrap().starts_with("What worked"));
    assert_eq!(
        drafted["facts"]["durations"],
        json!({"to_detect": 180, "to_acknowledge": 300, "to_mitigate": 2100, "to_resolve": 3900})
    );
    assert_eq!(
        (drafted["facts"]["customer_reports"].as_u64(), drafted["facts"]["customers"].as_u64()),
        (Some(1), Some(1))
    );
    let items = &drafted["facts"]["follow_ups"];
    assert_eq!((items[0]["owner"].as_str(), items[0]["ticket"].as_str()), (Some("carol"), Some("OPS-42")), "{items}");
    let again = server.post(hank, "/api/v1/incidents/INC-1/postmortem", json!({})).await;
    assert_eq!(again.problem(409)["detail"], "INC-1 has its postmortem already: edit it with PATCH, or read it");

    let markdown = server.get(hank, "/api/v1/incidents/INC-1/postmortem.md").await.ok(200).as_str().unwrap().to_owned();
    let verified = server.get(hank, "/api/v1/incidents/INC-1/timeline/verify").await.ok(200).clone();
    assert!(markdown.contains(verified["head"].as_str().unwrap()), "the export names the head it was made from");
    golden("postmortem-tour.md", &markdown);

    // The sections are written, it goes for review, and only an incident
    // manager publishes it.
    assert_eq!(
        drafted["facts"]["components"],
        json!([{"name": "Checkout", "worst": "major_outage"}]),
        "the worst state it was in, not the last"
    );
    let written = json!({"root_cause": "The 09:50 deploy retried each card call five times.", "went_well": "The backup took over without a gap.",
                         "public_summary": "From 09:55 to 10:30 UTC card payments at checkout failed for customers in the EU."});
    let edited = server.patch(&t["carol"], "/api/v1/incidents/INC-1/postmortem", written).await.ok(200).clone();
    assert_eq!(edited["sections"]["root_cause"], "The 09:50 deploy retried each card call five times.");
    assert!(edited["prompts"].get("root_cause").is_none());
    let unknown = server.patch(&t["carol"], "/api/v1/incidents/INC-1/postmortem", json!({"blame": "dan"})).await;
    unknown.problem(422);
    server.patch(bob, "/api/v1/incidents/INC-1/postmortem", json!({"state": "published"})).await.problem(409);
    server.patch(&t["carol"], "/api/v1/incidents/INC-1/postmortem", json!({"state": "in_review"})).await.ok(200);
    let refused = server.patch(&t["carol"], "/api/v1/incidents/INC-1/postmortem", json!({"state": "published"})).await;
    assert!(refused.problem(403)["detail"].as_str().unwrap().contains("publish the postmortem"), "{}", refused.body);
    let status_page = || async {
        let r = server.http().get(format!("{}/status/incidents/INC-1", server.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    assert!(!status_page().await.contains("What happened"), "in review: nothing of it is public");
    let published =
        server.patch(bob, "/api/v1/incidents/INC-1/postmortem", json!({"state": "published"})).await.ok(200).clone();
    // Published: its public summary, and only that, is on the status page's incident.
    let public = status_page().await;
    assert!(public.contains("What happened") && public.contains("From 09:55 to 10:30 UTC card payments"), "{public}");
    assert!(!public.contains("retried each card call") && !public.contains("without a gap"), "nothing else: {public}");
    assert_eq!(
        (published["state"].as_str(), published["published_at"].as_str()),
        (Some("published"), Some("2026-11-27T12:00:00Z"))
    );
    let frozen = server.patch(&t["carol"], "/api/v1/incidents/INC-1/postmortem", json!({"lucky": "x"})).await;
    frozen.problem(409);
    let timeline = server.get(&alice, "/api/v1/incidents/INC-1/timeline?kind=postmortem_moved").await.ok(200).clone();
    let texts: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["@carol sent the postmortem for review", "@bob published the postmortem"]);
    let html = server.get(hank, "/api/v1/incidents/INC-1/postmortem.html").await.ok(200).as_str().unwrap().to_owned();
    assert!(
        html.contains("<h2>Root cause</h2>") && html.contains("The 09:50 deploy retried each card call five times.")
    );
}

async fn a_follow_up_reminds_its_owner_when_due_and_weekly_until_done_and_the_tracker_hears_of_it(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let carol = server.user("carol", "responder").await;
    let vic = server.user("vic", "viewer").await;
    let (hook, url) = Receiver::start(vec![]).await;
    server
        .post(&carol, "/api/v1/users/carol/contact-methods", json!({"kind": "webhook", "address": url}))
        .await
        .ok(201);
    let (tracker, tracker_url) = Receiver::start(vec![]).await;
    let secret = "tracker-secret-0123456789";
    let set = json!({"url": tracker_url, "secret": secret});
    server.put(&alice, "/api/v1/settings/follow-up-webhook", set.clone()).await.problem(403);
    let saved = server.put(ADMIN_TOKEN, "/api/v1/settings/follow-up-webhook", set).await.ok(200).clone();
    assert_eq!(saved["secret"], secret);
    assert!(server.get(&alice, "/api/v1/settings/follow-up-webhook").await.ok(200)["secret"].is_null());

    server.post(&alice, "/api/v1/incidents", json!({"title": "Search is slow", "priority": "P2"})).await.ok(201);
    let actions = "/api/v1/incidents/INC-1/actions";
    let index = json!({"text": "add an index on orders.created_at", "owner": "@carol",
                       "due_at": "2026-11-28T09:00:00Z", "follow_up": true, "ticket": "OPS-7"});
    let added = server.post(&alice, actions, index).await.ok(201).clone();
    assert_eq!(
        (added["owner"].as_str(), added["status"].as_str(), added["overdue"].as_bool()),
        (Some("carol"), Some("open"), Some(false))
    );
    let id = added["id"].as_u64().unwrap();
    server.post(&alice, actions, json!({"text": "restart the search nodes"})).await.ok(201);
    server.post(&alice, actions, json!({"text": "x", "owner": "nobody"})).await.problem(422);
    let all = server.get(&vic, "/api/v1/follow-ups").await.ok(200).clone();
    assert_eq!(all.as_array().unwrap().len(), 1, "only the follow-up: {all}");
    assert_eq!((all[0]["incident"].as_str(), all[0]["action"].as_u64()), (Some("INC-1"), Some(id)));

    // The tracker hears of it at once, signed; the owner nothing yet.
    server.deliver_due().await;
    assert_eq!(tracker.count(), 1);
    let (headers, body) = tracker.got.lock().unwrap()[0].clone();
    let ts: i64 = headers["x-muster-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(headers["x-muster-signature"].to_str().unwrap(), signature(secret, ts, &body), "signed");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["ticket"].as_str(), body["owner"].as_str()),
        (Some("follow_up.created"), Some("OPS-7"), Some("carol"))
    );
    assert_eq!(hook.count(), 0, "not due yet");

    // Due: the owner is reminded, then each week while it is open.
    clock.advance(23 * 3600); // 2026-11-28T09:00
    server.deliver_due().await;
    let reminders = |hook: &Receiver| -> Vec<Value> {
        hook.bodies().into_iter().filter(|b| b["type"] == "follow_up.due").collect()
    };
    assert_eq!(reminders(&hook).len(), 1);
    assert_eq!((reminders(&hook)[0]["reminder"].as_u64(), reminders(&hook)[0]["action"].as_u64()), (Some(1), Some(id)));
    let overdue = server.get(&carol, "/api/v1/follow-ups?overdue=true&owner=carol").await.ok(200).clone();
    assert_eq!((overdue.as_array().unwrap().len(), overdue[0]["overdue"].as_bool()), (1, Some(true)));
    clock.advance(6 * 86_400);
    server.deliver_due().await;
    assert_eq!(reminders(&hook).len(), 1, "a week has not passed");
    clock.advance(86_400);
    server.deliver_due().await;
    assert_eq!(reminders(&hook).len(), 2);
    assert_eq!(reminders(&hook)[1]["reminder"], 2);

    // Done: the reminders stop; the change is on the timeline, and works
    // on a closed incident too.
    let path = format!("{actions}/{id}");
    server.patch(&vic, &path, json!({"status": "done"})).await.problem(403);
    server.patch(&carol, "/api/v1/incidents/INC-1/actions/1", json!({"status": "done"})).await.problem(404);
    let done = server.patch(&carol, &path, json!({"status": "done"})).await.ok(200).clone();
    assert_eq!((done["status"].as_str(), done["overdue"].as_bool()), (Some("done"), Some(false)));
    clock.advance(14 * 86_400);
    server.deliver_due().await;
    assert_eq!(reminders(&hook).len(), 2, "done: no more reminders");
    assert!(server.get(&carol, "/api/v1/follow-ups?overdue=true").await.ok(200).as_array().unwrap().is_empty());
    assert_eq!(server.get(&carol, "/api/v1/follow-ups?state=done").await.ok(200).as_array().unwrap().len(), 1);
    let timeline = server.get(&alice, "/api/v1/incidents/INC-1/timeline?kind=action_tracked").await.ok(200).clone();
    let said: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(
        said,
        [
            format!(
                "@alice made it a follow-up, gave it to @carol, set it due 2026-11-28 09:00 UTC, linked OPS-7 (action {id})"
            ),
            format!("@carol marked it done (action {id})"),
        ]
    );
    server.patch(&alice, "/api/v1/incidents/INC-1", json!({"status": "resolved"})).await.ok(200);
    server.patch(&alice, "/api/v1/incidents/INC-1", json!({"status": "closed"})).await.ok(200);
    let moved = json!({"status": "open", "due_at": "2026-12-20T09:00:00Z"});
    let reopened = server.patch(&carol, &path, moved).await.ok(200).clone();
    assert_eq!(reopened["status"], "open", "follow-ups are worked after the incident closed");
    assert_eq!(tracker.count(), 1, "it was a follow-up before: the tracker heard once");

    // The tracker webhook removed (admins only), new follow-ups stay here.
    server.delete(&alice, "/api/v1/settings/follow-up-webhook").await.problem(403);
    assert_eq!(server.delete(ADMIN_TOKEN, "/api/v1/settings/follow-up-webhook").await.status, 204);
    assert!(server.get(&alice, "/api/v1/settings/follow-up-webhook").await.ok(200)["url"].is_null());
    server.post(&alice, "/api/v1/incidents", json!({"title": "Login is slow", "priority": "P3"})).await.ok(201);
    let later = json!({"text": "cache the sessions", "owner": "carol", "follow_up": true});
    server.post(&alice, "/api/v1/incidents/INC-2/actions", later).await.ok(201);
    server.deliver_due().await;
    assert_eq!(tracker.count(), 1, "nothing more reached the tracker");
    assert_eq!(server.get(&vic, "/api/v1/follow-ups?state=open").await.ok(200).as_array().unwrap().len(), 2);
}

/// Compares `actual` with the reviewed file `tests/fixtures/<name>`, or
/// writes it with `MUSTER_UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    if std::env::var("MUSTER_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "{name} differs from the reviewed file (first differing line {:?}); run with MUSTER_UPDATE_GOLDEN=1 and read the diff\n{actual}",
            first.map(|i| i + 1)
        );
    }
}
