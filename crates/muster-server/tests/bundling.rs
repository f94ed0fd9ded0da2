//! An alert storm, as the person on call lives it: the first page at once,
//! the rest of the storm in one follow-up when the service's window closes,
//! one link that acknowledges them all — and every page still a page. And
//! a storm on one service declares one incident, not one per alert. On both
//! backends, with an injected clock; webhooks go to a real local receiver.

mod common;

use std::sync::Arc;

use common::receiver::Receiver;
use common::{ADMIN_TOKEN, ManualClock, TestServer};
use serde_json::{Value, json};

on_both_backends_with_manual_clock!(
    a_storm_notifies_the_first_page_at_once_and_folds_the_rest_into_one_follow_up_that_acknowledges_them_all,
    pages_answered_before_the_window_closes_are_left_out_of_the_follow_up_and_none_is_sent_for_none,
    a_service_whose_window_is_zero_notifies_every_page_on_its_own,
    a_storm_longer_than_the_window_gets_one_follow_up_a_window,
    pages_sent_by_hand_are_never_folded,
    a_storm_on_one_service_declares_one_incident_until_it_is_resolved,
    a_window_that_is_not_one_is_refused_naming_the_field,
);

/// A responder whose only contact method is a webhook to a fresh receiver.
async fn on_webhook(server: &TestServer, handle: &str) -> (String, Receiver) {
    let token = server.user(handle, "responder").await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let path = format!("/api/v1/users/{handle}/contact-methods");
    server.post(&token, &path, json!({"kind": "webhook", "address": url})).await.ok(201);
    (token, receiver)
}

/// A service paging bob, then (after 300 s) carol; its integration key.
async fn checkout(server: &TestServer, extra: Value) -> String {
    let policy = server
        .post(
            ADMIN_TOKEN,
            "/api/v1/escalation-policies",
            json!({"name": "Checkout", "steps": [
                {"delay_seconds": 300, "targets": [{"user": "bob"}]},
                {"delay_seconds": 300, "targets": [{"user": "carol"}]}]}),
        )
        .await
        .ok(201)["id"]
        .as_u64()
        .unwrap();
    let mut body = json!({"escalation_policy": policy});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let svc = server.service("checkout", body).await;
    svc["integration_key"].as_str().unwrap().to_owned()
}

async fn trigger(server: &TestServer, key: &str, dedup: &str) {
    let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                      "payload": {"summary": format!("{dedup} is failing"), "source": "lb-1", "severity": "critical"}});
    server.ingest("/v2/enqueue", &body).await.ok(202);
}

async fn pages_in(server: &TestServer, state: &str) -> Vec<Value> {
    server.get(ADMIN_TOKEN, &format!("/api/v1/pages?state={state}&limit=1000")).await.ok(200).as_array().unwrap().clone()
}

fn dedup_keys(bundle: &Value) -> Vec<String> {
    let mut keys: Vec<String> = bundle["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alert"]["dedup_key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

async fn a_storm_notifies_the_first_page_at_once_and_folds_the_rest_into_one_follow_up_that_acknowledges_them_all(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (_, bob) = on_webhook(&server, "bob").await;
    let (_, carol) = on_webhook(&server, "carol").await;
    let key = checkout(&server, json!({})).await;

    trigger(&server, &key, "a00").await;
    server.deliver_due().await;
    assert_eq!(bob.count(), 1, "the first page of a storm is never delayed");
    assert_eq!(bob.bodies()[0]["type"], "page");

    for i in 1..=36 {
        clock.advance(1);
        trigger(&server, &key, &format!("a{i:02}")).await;
        server.deliver_due().await;
    }
    assert_eq!(bob.count(), 1, "the rest of the storm waits for the window");
    let notified = pages_in(&server, "notified").await;
    assert_eq!(notified.len(), 37, "every page is still a page: notified, escalating, answerable");
    assert!(notified.iter().all(|p| p["notified"] == json!(["bob"])));

    clock.advance(23); // 59 s after the first page
    server.deliver_due().await;
    assert_eq!(bob.count(), 1);
    clock.advance(1); // the window closes
    server.deliver_due().await;
    assert_eq!(bob.count(), 2, "one follow-up for the rest of the storm");
    let bundle = bob.bodies()[1].clone();
    assert_eq!(bundle["type"], "page_bundle");
    assert_eq!(bundle["count"], 36);
    assert_eq!(bundle["person"], "bob");
    assert_eq!(bundle["service"], "checkout");
    let summary = bundle["summary"].as_str().unwrap();
    assert!(summary.starts_with("36 more alerts on checkout: [critical] checkout: a01 is failing"), "{summary}");
    let expected: Vec<String> = (1..=36).map(|i| format!("a{i:02}")).collect();
    assert_eq!(dedup_keys(&bundle), expected, "the follow-up names every folded alert");

    // One link acknowledges them all, after showing what it will do.
    let link = bundle["ack_all_url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{}/bundles/", server.url)), "{link}");
    let form = reqwest::get(&link).await.unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains("37 pages on checkout are waiting"), "the first page too: {form}");
    assert!(form.contains("Acknowledge all 37 as @bob"), "{form}");
    let forged = link.replace("user=bob", "user=carol");
    let refused = reqwest::Client::new().post(&forged).send().await.unwrap();
    assert_eq!(refused.status(), 403, "the link is bob's alone");
    let done = reqwest::Client::new().post(&link).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    assert!(done.contains("Acknowledged 37 pages"), "{done}");
    let acknowledged = pages_in(&server, "acknowledged").await;
    assert_eq!(acknowledged.len(), 37);
    assert!(acknowledged.iter().all(|p| p["answered_by"] == "bob"));
    assert!(pages_in(&server, "pending,notified").await.is_empty());
    let again = reqwest::Client::new().post(&link).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("Nothing was left to acknowledge"), "{again}");

    // Answered: nobody escalates to carol, and the next page is told at once.
    clock.advance(600);
    server.deliver_due().await;
    assert_eq!(carol.count(), 0);
    trigger(&server, &key, "b00").await;
    server.deliver_due().await;
    assert_eq!(bob.count(), 3);
    assert_eq!(bob.bodies()[2]["type"], "page");
    assert_eq!(bob.bodies()[2]["alert"]["dedup_key"], "b00");
}

async fn pages_answered_before_the_window_closes_are_left_out_of_the_follow_up_and_none_is_sent_for_none(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (bob_token, bob) = on_webhook(&server, "bob").await;
    on_webhook(&server, "carol").await;
    let key = checkout(&server, json!({})).await;
    for i in 0..4 {
        trigger(&server, &key, &format!("a{i}")).await;
        server.deliver_due().await;
    }
    assert_eq!(bob.count(), 1);
    // Bob answers one of the folded pages (page 2) on his own.
    server.post(&bob_token, "/api/v1/pages/2/acknowledge", json!({})).await.ok(200);
    clock.advance(60);
    server.deliver_due().await;
    assert_eq!(bob.count(), 2);
    assert_eq!(bob.bodies()[1]["count"], 2, "pages 3 and 4, not the answered one");
    assert_eq!(dedup_keys(&bob.bodies()[1]), ["a2", "a3"]);

    // Next window: everything answered before it closes sends nothing.
    for i in 0..3 {
        trigger(&server, &key, &format!("b{i}")).await;
        server.deliver_due().await;
    }
    // Pages 1, 3, 4 are still open, so the window goes on folding: no page went out on its own.
    assert_eq!(bob.count(), 2);
    for p in pages_in(&server, "notified").await {
        let id = p["id"].as_u64().unwrap();
        server.post(&bob_token, &format!("/api/v1/pages/{id}/acknowledge"), json!({})).await.ok(200);
    }
    clock.advance(120);
    server.deliver_due().await;
    assert_eq!(bob.count(), 2, "no follow-up about pages already answered");
}

async fn a_service_whose_window_is_zero_notifies_every_page_on_its_own(server: TestServer, _clock: Arc<ManualClock>) {
    let (_, bob) = on_webhook(&server, "bob").await;
    on_webhook(&server, "carol").await;
    let key = checkout(&server, json!({"bundle_window_seconds": 0})).await;
    let svc = server.get(ADMIN_TOKEN, "/api/v1/services").await.ok(200)[0].clone();
    assert_eq!(svc["bundle_window_seconds"], 0);
    for i in 0..3 {
        trigger(&server, &key, &format!("a{i}")).await;
    }
    server.deliver_due().await;
    assert_eq!(bob.count(), 3);
    assert!(bob.bodies().iter().all(|b| b["type"] == "page"));
}

async fn a_storm_longer_than_the_window_gets_one_follow_up_a_window(server: TestServer, clock: Arc<ManualClock>) {
    let (_, bob) = on_webhook(&server, "bob").await;
    on_webhook(&server, "carol").await;
    let key = checkout(&server, json!({})).await;
    let id = server.get(ADMIN_TOKEN, "/api/v1/services").await.ok(200)[0]["id"].as_u64().unwrap();
    server.patch(ADMIN_TOKEN, &format!("/api/v1/services/{id}"), json!({"bundle_window_seconds": 30})).await.ok(200);
    // Three minutes of storm, an alert every 5 s, nobody answering.
    for i in 0..36 {
        trigger(&server, &key, &format!("a{i:02}")).await;
        server.deliver_due().await;
        clock.advance(5);
    }
    clock.advance(60);
    server.deliver_due().await;
    let bodies = bob.bodies();
    assert_eq!(bodies[0]["type"], "page");
    assert!(bodies[1..].iter().all(|b| b["type"] == "page_bundle"), "after the first, only follow-ups");
    // 180 s of storm in 30 s windows: the first page and about one follow-up per window.
    assert!((6..=8).contains(&bodies.len()), "{} notifications", bodies.len());
    let told: u64 = bodies[1..].iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(told, 35, "every page was told, once");
}

async fn pages_sent_by_hand_are_never_folded(server: TestServer, _clock: Arc<ManualClock>) {
    let (_, bob) = on_webhook(&server, "bob").await;
    on_webhook(&server, "carol").await;
    let key = checkout(&server, json!({})).await;
    trigger(&server, &key, "a0").await;
    trigger(&server, &key, "a1").await;
    server.deliver_due().await;
    assert_eq!(bob.count(), 1);
    // Someone asks for bob by name: he hears of it at once.
    let incident = server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout is down", "priority": "P2"})).await;
    let reference = incident.ok(201)["ref"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{reference}/pages");
    let page = json!({"target": {"user": "bob"}, "message": "need you on checkout"});
    server.post(ADMIN_TOKEN, &path, page).await.ok(201);
    server.deliver_due().await;
    assert_eq!(bob.count(), 2);
    assert_eq!(bob.bodies()[1]["message"], "need you on checkout");
}

async fn a_storm_on_one_service_declares_one_incident_until_it_is_resolved(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    on_webhook(&server, "bob").await;
    on_webhook(&server, "carol").await;
    let key = checkout(&server, json!({"auto_declare": {"critical": "P1"}})).await;
    for i in 0..5 {
        trigger(&server, &key, &format!("a{i}")).await;
    }
    let incidents = server.get(ADMIN_TOKEN, "/api/v1/incidents").await.ok(200).as_array().unwrap().clone();
    assert_eq!(incidents.len(), 1, "one incident for the storm: {incidents:#?}");
    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).as_array().unwrap().clone();
    assert_eq!(alerts.len(), 5);
    assert!(alerts.iter().all(|a| a["incident"] == "INC-1"), "{alerts:#?}");
    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline?limit=1000").await.ok(200).clone();
    let links = timeline.as_array().unwrap().iter().filter(|e| e["kind"] == "alert_linked").count();
    assert_eq!(links, 5, "every alert of the storm is on its timeline");

    // Once it is resolved, a new storm is a new incident.
    server.patch(ADMIN_TOKEN, "/api/v1/incidents/INC-1", json!({"status": "resolved"})).await.ok(200);
    trigger(&server, &key, "b0").await;
    let incidents = server.get(ADMIN_TOKEN, "/api/v1/incidents").await.ok(200).as_array().unwrap().clone();
    assert_eq!(incidents.len(), 2);
}

async fn a_window_that_is_not_one_is_refused_naming_the_field(server: TestServer, _clock: Arc<ManualClock>) {
    let svc = server.service("checkout", json!({})).await;
    assert_eq!(svc["bundle_window_seconds"], 60, "the default");
    let id = svc["id"].as_u64().unwrap();
    for bad in [json!(-1), json!(3601), json!("soon")] {
        let reply = server.patch(ADMIN_TOKEN, &format!("/api/v1/services/{id}"), json!({"bundle_window_seconds": bad})).await;
        assert_eq!(reply.status, 422, "{bad}: {:?}", reply.body);
        assert!(reply.body.to_string().contains("bundle_window_seconds"), "{bad}: {:?}", reply.body);
    }
}
