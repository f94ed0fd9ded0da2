//! After the incident, over the API on both backends: the timeline's
//! tamper evidence (a row changed in the database behind Muster's back is
//! named by `verify`), the scribe's milestones and the durations and
//! roster computed from them, checked against values worked out by hand.

mod common;

use std::sync::Arc;

use common::{ManualClock, TestServer};
use serde_json::json;

on_both_backends!(a_timeline_row_changed_in_the_database_is_named_by_verify_as_the_first_broken_entry,);

mod manual {
    use super::*;
    on_both_backends_with_manual_clock!(
        the_roster_and_the_durations_follow_the_scribes_backdated_milestones_and_the_handover,
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
