//! After the incident, over the API on both backends: the timeline's
//! tamper evidence (a row changed in the database behind Muster's back is
//! named by `verify`).

mod common;

use common::TestServer;
use serde_json::json;

on_both_backends!(a_timeline_row_changed_in_the_database_is_named_by_verify_as_the_first_broken_entry,);

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
