//! Pages and their escalation, on both backends, with an injected clock:
//! the engine runs only when the test says so, and time moves only when
//! the test moves it. Webhooks go to a real local HTTP receiver.

mod common;

use std::sync::Arc;

use common::receiver::Receiver;
use common::{ADMIN_TOKEN, ManualClock, TestServer};
use serde_json::{Value, json};

on_both_backends_with_manual_clock!(
    an_alert_escalates_step_by_step_repeats_and_stops_when_acknowledged,
    resolving_the_alert_stops_the_escalation_and_a_decline_escalates_at_once,
    the_incident_manager_pages_for_a_role_and_the_ack_link_cannot_be_forged,
    a_page_nobody_answers_expires_and_delayed_rules_stop_with_an_answer,
    bystanders_cannot_answer_and_a_page_for_an_incident_that_is_over_is_cancelled,
    a_step_to_someone_without_a_contact_method_is_unreachable_and_escalates_at_once,
    a_last_step_that_reaches_only_disabled_people_expires_the_page_saying_so,
    a_step_with_nobody_on_call_is_unreachable,
    a_user_created_with_an_email_gets_an_email_contact_method_notified_at_once_unless_asked_otherwise,
    the_incident_page_shows_who_was_paged_and_warns_while_a_page_reached_nobody,
    the_pages_list_holds_a_storm_a_page_at_a_time_newest_first_and_filters_by_state,
    the_pages_list_refuses_a_state_or_limit_that_is_not_one_naming_it,
    in_a_storm_the_web_shows_the_newest_pages_and_counts_the_rest,
    an_open_page_that_reached_nobody_still_warns_under_a_storm_of_newer_pages,
);

/// A responder whose only contact method is a webhook to a fresh receiver.
async fn on_webhook(server: &TestServer, handle: &str) -> (String, Receiver) {
    let token = server.user(handle, "responder").await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let path = format!("/api/v1/users/{handle}/contact-methods");
    server.post(&token, &path, json!({"kind": "webhook", "address": url})).await.ok(201);
    (token, receiver)
}

async fn policy(server: &TestServer, body: Value) -> u64 {
    server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", body).await.ok(201)["id"].as_u64().unwrap()
}

async fn trigger(server: &TestServer, key: &str, dedup: &str, action: &str) {
    let body = json!({"routing_key": key, "event_action": action, "dedup_key": dedup,
                      "payload": {"summary": "checkout is failing", "source": "lb-1", "severity": "critical"}});
    server.ingest("/v2/enqueue", &body).await.ok(202);
}

async fn kinds(server: &TestServer, r: &str) -> Vec<String> {
    let timeline = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline?limit=1000")).await;
    timeline.ok(200).as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

async fn texts(server: &TestServer, r: &str) -> Vec<String> {
    let timeline = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline?limit=1000")).await;
    timeline.ok(200).as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap().to_owned()).collect()
}

async fn an_alert_escalates_step_by_step_repeats_and_stops_when_acknowledged(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (_, bob) = on_webhook(&server, "bob").await;
    let (carol_token, carol) = on_webhook(&server, "carol").await;
    let id = policy(
        &server,
        json!({"name": "Checkout", "repeat": 1, "steps": [
            {"delay_seconds": 60, "targets": [{"user": "bob"}]},
            {"delay_seconds": 120, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    let svc = server.service("checkout", json!({"auto_declare": {"critical": "P1"}, "escalation_policy": id})).await;
    let key = svc["integration_key"].as_str().unwrap();
    trigger(&server, key, "checkout-5xx", "trigger").await;
    trigger(&server, key, "checkout-5xx", "trigger").await; // a repeat is the same alert: no second page

    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (1, 0), "step 1 at once, and only step 1");
    let page = &bob.bodies()[0];
    assert_eq!(page["type"], "page");
    assert_eq!(page["step"], 1);
    assert_eq!(page["incident"]["ref"], "INC-1");
    assert_eq!(page["alert"]["summary"], "checkout is failing");
    assert!(page["summary"].as_str().unwrap().contains("checkout is failing"));
    assert!(page["ack_url"].as_str().unwrap().starts_with(&format!("{}/pages/1/ack?user=bob&sig=", server.url)));
    let form = reqwest::get(page["ack_url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    let alice_im = "You become incident manager of INC-1, taking over from @muster and its first responder";
    assert!(form.contains(alice_im), "the answer page says what pressing does: {form}");
    let pages = server.get(ADMIN_TOKEN, "/api/v1/pages").await.ok(200).clone();
    assert_eq!(pages.as_array().unwrap().len(), 1, "one page for one alert");
    assert_eq!(pages[0]["message"], "[critical] checkout: checkout is failing", "the service by its name");

    clock.advance(59);
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (1, 0), "step 2 waits for step 1's delay");
    clock.advance(1);
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (1, 1), "step 2 after 60 s");
    clock.advance(120);
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (2, 1), "the policy repeats");
    assert_eq!(bob.bodies()[1]["step"], 3);

    // Carol acknowledges: the escalation stops, and as the first to answer
    // a page of an auto-declared P1 she becomes first responder and incident manager.
    let acked = server.post(&carol_token, "/api/v1/pages/1/acknowledge", json!({})).await;
    assert_eq!(acked.ok(200)["state"], "acknowledged");
    assert_eq!(acked.body["answered_by"], "carol");
    let again = server.post(&carol_token, "/api/v1/pages/1/acknowledge", json!({})).await;
    assert_eq!(again.ok(200)["state"], "acknowledged", "acknowledging twice is fine");
    clock.advance(3600);
    server.deliver_due().await;
    // An hour on, the incident manager (now Carol) is reminded that updates are due; no page.
    let pages = |r: &Receiver| r.bodies().iter().filter(|b| b["type"] != "update_reminder").count();
    assert_eq!((pages(&bob), pages(&carol)), (2, 1), "no page after the acknowledgement");
    assert!(carol.bodies().iter().any(|b| b["type"] == "update_reminder"), "the P1's updates are due");

    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1").await.ok(200).clone();
    assert_eq!(incident["incident_manager"], "carol");
    let first_responders: Vec<&Value> =
        incident["roles"].as_array().unwrap().iter().filter(|a| a["role"] == "first_responder").collect();
    assert_eq!(first_responders.len(), 1);
    assert_eq!(first_responders[0]["user"], "carol", "the first to answer is first responder");
    assert!(incident["topic"].as_str().unwrap().contains("@carol"));
    let alert = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200)[0].clone();
    assert_eq!(alert["status"], "acknowledged", "acknowledging the page acknowledged its alert");
    let kinds = kinds(&server, "INC-1").await;
    let pages: Vec<&str> = kinds.iter().map(String::as_str).filter(|k| k.starts_with("page_")).collect();
    assert_eq!(pages, ["page_sent", "page_notified", "page_notified", "page_notified", "page_closed"]);
    let texts = texts(&server, "INC-1").await;
    assert!(texts.iter().any(|t| t == "Page 1, step 2, notified @carol"), "{texts:#?}");
    assert!(texts.iter().any(|t| t == "@carol acknowledged page 1"), "{texts:#?}");
    assert!(texts.iter().any(|t| t == "@carol took on incident manager by acknowledging page 1"), "{texts:#?}");

    let shown = server.get(ADMIN_TOKEN, "/api/v1/pages/1").await.ok(200).clone();
    let deliveries = shown["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d["delivered_at"].is_string() && d["kind"] == "webhook"));
    assert_eq!(shown["notified"], json!(["bob", "carol"]));
}

async fn resolving_the_alert_stops_the_escalation_and_a_decline_escalates_at_once(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (bob_token, bob) = on_webhook(&server, "bob").await;
    let (_, carol) = on_webhook(&server, "carol").await;
    let id = policy(
        &server,
        json!({"name": "Search", "repeat": 0, "steps": [
            {"delay_seconds": 300, "targets": [{"user": "bob"}]},
            {"delay_seconds": 300, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    let svc = server.service("search", json!({"escalation_policy": id})).await;
    let key = svc["integration_key"].as_str().unwrap();

    // Resolved by the monitoring: cancelled, nobody else is woken.
    trigger(&server, key, "a", "trigger").await;
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (1, 0));
    trigger(&server, key, "a", "resolve").await;
    clock.advance(300);
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (1, 0), "resolving stopped the escalation");
    let first = server.get(ADMIN_TOKEN, "/api/v1/pages/1").await.ok(200).clone();
    assert_eq!((first["state"].as_str(), first["reason"].as_str()), (Some("cancelled"), Some("alert 1 resolved")));

    // Bob declines: carol is notified at once, not after 300 s.
    trigger(&server, key, "b", "trigger").await;
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (2, 0));
    let declined = server.post(&bob_token, "/api/v1/pages/2/decline", json!({})).await;
    assert_eq!(declined.ok(200)["state"], "notified", "the page goes on");
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (2, 1), "the next step at once");
    clock.advance(300);
    server.deliver_due().await;
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/pages/2").await.ok(200)["state"], "expired");
    assert_eq!((bob.count(), carol.count()), (2, 1), "each step once, even after a decline");
    server.post(&bob_token, "/api/v1/pages/2/acknowledge", json!({})).await.problem(409);

    // Acknowledging the alert itself answers its page.
    trigger(&server, key, "c", "trigger").await;
    server.deliver_due().await;
    let alert = server.get(ADMIN_TOKEN, "/api/v1/alerts?status=triggered").await.ok(200)[0]["id"].clone();
    server.post(&bob_token, &format!("/api/v1/alerts/{alert}/acknowledge"), json!({})).await.ok(200);
    let third = server.get(ADMIN_TOKEN, "/api/v1/pages/3").await.ok(200).clone();
    assert_eq!((third["state"].as_str(), third["answered_by"].as_str()), (Some("acknowledged"), Some("bob")));
    clock.advance(300);
    server.deliver_due().await;
    assert_eq!((bob.count(), carol.count()), (3, 1), "no escalation after the alert was acknowledged");
    server.post(&bob_token, "/api/v1/pages/99/acknowledge", json!({})).await.problem(404);
    server.post(&bob_token, "/api/v1/pages/x/acknowledge", json!({})).await.problem(404);
}

async fn the_incident_manager_pages_for_a_role_and_the_ack_link_cannot_be_forged(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let (bob_token, bob) = on_webhook(&server, "bob").await;
    let (_, _carol) = on_webhook(&server, "carol").await;
    let dave = server.user("dave", "responder").await;
    server.post(&alice, "/api/v1/incidents", json!({"title": "Payments down", "priority": "P1"})).await.ok(201);

    // Only those with authority page for a role; a tech lead may page experts.
    let ask =
        json!({"target": {"user": "bob"}, "message": "Payments down, need the database expert", "role": "tech_lead"});
    let refused = server.post(&dave, "/api/v1/incidents/INC-1/pages", ask.clone()).await;
    assert!(refused.problem(403)["detail"].as_str().unwrap().contains("may page"));
    let sent = server.post(&alice, "/api/v1/incidents/INC-1/pages", ask).await;
    assert_eq!((sent.ok(201)["state"].as_str(), sent.body["roles"][0].as_str()), (Some("pending"), Some("tech_lead")));
    // Ids need not be contiguous (PostgreSQL keeps the id of the refused page).
    let id = sent.body["id"].as_u64().unwrap();
    let bad =
        server.post(&alice, "/api/v1/incidents/INC-1/pages", json!({"target": {"user": "zed"}, "message": "x"})).await;
    assert_eq!(bad.problem(422)["field"], "target.user");
    let two = json!({"target": {"user": "bob", "schedule": 1}, "message": "x"});
    assert_eq!(server.post(&alice, "/api/v1/incidents/INC-1/pages", two).await.problem(422)["field"], "target");
    let empty = json!({"target": {"user": "bob"}, "message": " "});
    assert_eq!(server.post(&alice, "/api/v1/incidents/INC-1/pages", empty).await.problem(422)["field"], "message");

    server.deliver_due().await;
    assert_eq!(bob.count(), 1);
    let ack_url = bob.bodies()[0]["ack_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    // Forged: another person's name on bob's signature, or a changed signature.
    let as_carol = ack_url.replace("user=bob", "user=carol");
    let mut flipped = ack_url.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    let other_page = ack_url.replace(&format!("/pages/{id}/"), &format!("/pages/{}/", id + 1));
    assert_ne!(other_page, ack_url);
    for forged in [&as_carol, &flipped, &other_page, &ack_url.replace("&sig=", "&sig=00")] {
        let r = http.post(forged).send().await.unwrap();
        assert_eq!(r.status(), 403, "{forged} is refused");
        assert_eq!(http.get(forged).send().await.unwrap().status(), 403);
    }
    assert_eq!(server.get(ADMIN_TOKEN, &format!("/api/v1/pages/{id}")).await.ok(200)["state"], "notified");

    // The real link, without any login: GET shows a button and changes nothing; POST acknowledges.
    let form = http.get(&ack_url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains("Acknowledge as @bob"));
    assert!(form.contains("You become tech lead of INC-1; the escalation stops."), "{form}");
    assert!(form.contains("href=\"/incidents/INC-1\""), "the answer page links to the incident: {form}");
    assert_eq!(server.get(ADMIN_TOKEN, &format!("/api/v1/pages/{id}")).await.ok(200)["state"], "notified");
    let done = http.post(&ack_url).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("You are now tech lead"));
    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1").await.ok(200).clone();
    let roles: Vec<(String, String)> = incident["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["role"].as_str().unwrap().to_owned(), a["user"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&("tech_lead".into(), "bob".into())), "{roles:?}");
    assert!(incident["topic"].as_str().unwrap().contains("@bob"));

    // Now bob is tech lead: he may page a subject-matter expert, without a role.
    let expert = json!({"target": {"user": "carol"}, "message": "Can you look at the replica lag?"});
    server.post(&bob_token, "/api/v1/incidents/INC-1/pages", expert).await.ok(201);
    let with_role = json!({"target": {"user": "carol"}, "message": "Be scribe", "role": "scribe"});
    server.post(&bob_token, "/api/v1/incidents/INC-1/pages", with_role).await.problem(403);
    let listed = server.get(&bob_token, "/api/v1/incidents/INC-1/pages").await.ok(200).clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let texts = texts(&server, "INC-1").await;
    assert!(
        texts.iter().any(|t| t
            == &format!("@alice paged @bob to take on tech lead (page {id}): Payments down, need the database expert")),
        "{texts:#?}"
    );
}

async fn a_page_nobody_answers_expires_and_delayed_rules_stop_with_an_answer(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let (bob_token, bob_hook) = on_webhook(&server, "bob").await;
    let (bob_sms, url) = Receiver::start(vec![]).await;
    let second =
        server.post(&bob_token, "/api/v1/users/bob/contact-methods", json!({"kind": "webhook", "address": url})).await;
    let (first_id, second_id) = (1, second.ok(201)["id"].as_u64().unwrap());
    // Bob wants his first method at once and the second only after two minutes.
    for (m, d) in [(first_id, 0), (second_id, 120)] {
        let rule = json!({"contact_method": m, "delay_seconds": d});
        server.post(&bob_token, "/api/v1/users/bob/notification-rules", rule).await.ok(201);
    }
    let dup = json!({"contact_method": second_id, "delay_seconds": 120});
    server.post(&bob_token, "/api/v1/users/bob/notification-rules", dup).await.problem(409);
    let foreign = json!({"contact_method": 999, "delay_seconds": 0});
    assert_eq!(
        server.post(&bob_token, "/api/v1/users/bob/notification-rules", foreign).await.problem(422)["field"],
        "contact_method"
    );
    assert_eq!(
        server.get(&bob_token, "/api/v1/users/bob/notification-rules").await.ok(200).as_array().unwrap().len(),
        2
    );

    server.post(&alice, "/api/v1/incidents", json!({"title": "Disk full", "priority": "P2"})).await.ok(201);
    let page = json!({"target": {"user": "bob"}, "message": "Disk full on db-1"});
    server.post(&alice, "/api/v1/incidents/INC-1/pages", page.clone()).await.ok(201);
    server.deliver_due().await;
    assert_eq!((bob_hook.count(), bob_sms.count()), (1, 0), "the first method at once");
    let form = reqwest::get(bob_hook.bodies()[0]["ack_url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    assert!(form.contains("This tells Muster you are on it; the escalation stops."), "{form}");
    clock.advance(120);
    server.deliver_due().await;
    assert_eq!((bob_hook.count(), bob_sms.count()), (1, 1), "the second after its delay");
    clock.advance(780);
    server.deliver_due().await;
    let expired = server.get(ADMIN_TOKEN, "/api/v1/pages/1").await.ok(200).clone();
    assert_eq!(expired["state"], "expired", "a direct page waits 15 minutes");
    assert!(texts(&server, "INC-1").await.iter().any(|t| t.starts_with("Page 1 expired: nobody acknowledged it")));

    // Answered before the delayed method's turn: it is never used.
    server.post(&alice, "/api/v1/incidents/INC-1/pages", page).await.ok(201);
    server.deliver_due().await;
    assert_eq!((bob_hook.count(), bob_sms.count()), (2, 1));
    server.post(&bob_token, "/api/v1/pages/2/acknowledge", json!({})).await.ok(200);
    clock.advance(600);
    server.deliver_due().await;
    assert_eq!((bob_hook.count(), bob_sms.count()), (2, 1), "the delayed notification stopped with the answer");
}

async fn bystanders_cannot_answer_and_a_page_for_an_incident_that_is_over_is_cancelled(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let (_, bob) = on_webhook(&server, "bob").await;
    let (carol_token, _carol) = on_webhook(&server, "carol").await;
    let id = policy(
        &server,
        json!({"name": "Payments", "repeat": 0, "steps": [
            {"delay_seconds": 60, "targets": [{"user": "bob"}]},
            {"delay_seconds": 60, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    let svc = server.service("payments", json!({"escalation_policy": id})).await;
    let key = svc["integration_key"].as_str().unwrap();
    trigger(&server, key, "a", "trigger").await;
    server.deliver_due().await;
    assert_eq!(bob.count(), 1);

    // Carol was not asked (yet): she may neither acknowledge nor decline bob's step.
    server.post(&carol_token, "/api/v1/pages/1/acknowledge", json!({})).await.problem(403);
    server.post(&carol_token, "/api/v1/pages/1/decline", json!({})).await.problem(403);
    // A decline link works once: bob is no longer asked after declining.
    let decline_url = bob.bodies()[0]["decline_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    assert_eq!(http.post(&decline_url).send().await.unwrap().status(), 200);
    assert_eq!(http.post(&decline_url).send().await.unwrap().status(), 403, "a decline link is spent");

    // The alert's page had no incident; declaring one for the alert adopts it.
    let declared = server.post(&alice, "/api/v1/alerts/1/declare", json!({"priority": "P2"})).await;
    let r = declared.ok(201)["ref"].as_str().unwrap().to_owned();
    let pages = server.get(&alice, &format!("/api/v1/incidents/{r}/pages")).await.ok(200).clone();
    assert_eq!(pages[0]["id"], 1, "{pages}");

    // Once the incident is resolved, the escalation stops at its next step.
    server.patch(&alice, &format!("/api/v1/incidents/{r}"), json!({"status": "resolved"})).await.ok(200);
    server.deliver_due().await; // carol's step, due at once after bob's decline
    clock.advance(120);
    server.deliver_due().await;
    let page = server.get(ADMIN_TOKEN, "/api/v1/pages/1").await.ok(200).clone();
    assert_eq!(page["state"], "cancelled", "{page}");
    assert_eq!(page["reason"], format!("{r} is resolved"));
}

/// Bob (no contact method), then Carol (a webhook), on checkout's policy;
/// an alert auto-declares INC-1 and pages it, and its steps run.
async fn bob_unreachable_then_carol(server: &TestServer) -> (String, Receiver) {
    server.user("bob", "responder").await; // no contact method
    let carol = on_webhook(server, "carol").await;
    let id = policy(
        server,
        json!({"name": "Checkout", "repeat": 0, "steps": [
            {"delay_seconds": 300, "targets": [{"user": "bob"}]},
            {"delay_seconds": 300, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    let svc = server.service("checkout", json!({"auto_declare": {"critical": "P1"}, "escalation_policy": id})).await;
    trigger(server, svc["integration_key"].as_str().unwrap(), "checkout-5xx", "trigger").await;
    server.deliver_due().await;
    carol
}

async fn page_of(server: &TestServer, id: u64) -> Value {
    server.get(ADMIN_TOKEN, &format!("/api/v1/pages/{id}")).await.ok(200).clone()
}

async fn a_step_to_someone_without_a_contact_method_is_unreachable_and_escalates_at_once(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (_, carol) = bob_unreachable_then_carol(&server).await;
    assert_eq!(carol.count(), 1, "step 2 at once, without waiting 300 s for bob");
    let page = page_of(&server, 1).await;
    assert_eq!(page["state"], "notified");
    assert_eq!(page["step"], 2);
    let unreachable = page["unreachable"].as_array().unwrap();
    assert_eq!(unreachable.len(), 1, "{page}");
    assert_eq!(unreachable[0]["step"], 1);
    assert_eq!(unreachable[0]["why"], "@bob has no contact method");
    let texts = texts(&server, "INC-1").await;
    assert!(texts.iter().any(|t| t == "Page 1: step 1 reached nobody: @bob has no contact method"), "{texts:#?}");
    assert!(kinds(&server, "INC-1").await.iter().any(|k| k == "page_unreachable"));

    // Step 1's own timer fires later and does nothing: carol is not paged twice.
    clock.advance(299);
    server.deliver_due().await;
    assert_eq!(carol.count(), 1);
}

async fn a_last_step_that_reaches_only_disabled_people_expires_the_page_saying_so(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let (_, dan) = on_webhook(&server, "dan").await;
    let id = policy(
        &server,
        json!({"name": "Database", "repeat": 0, "steps": [{"delay_seconds": 300, "targets": [{"user": "dan"}]}]}),
    )
    .await;
    server.post(ADMIN_TOKEN, "/api/v1/users/dan/disable", json!({})).await.ok(200); // after he was put in the policy
    let svc = server.service("database", json!({"auto_declare": {"critical": "P2"}, "escalation_policy": id})).await;
    trigger(&server, svc["integration_key"].as_str().unwrap(), "db", "trigger").await;

    server.deliver_due().await;
    assert_eq!(dan.count(), 0);
    let page = page_of(&server, 1).await;
    assert_eq!(page["state"], "expired", "no step is left to try: {page}");
    assert_eq!(page["reason"], "step 1 reached nobody: @dan is disabled; no step is left");
    assert_eq!(page["unreachable"][0]["why"], "@dan is disabled");
    let texts = texts(&server, "INC-1").await;
    assert!(
        texts
            .iter()
            .any(|t| t
                == "Page 1 expired: nobody acknowledged it: step 1 reached nobody: @dan is disabled; no step is left"),
        "{texts:#?}"
    );
}

async fn a_step_with_nobody_on_call_is_unreachable(server: TestServer, _clock: Arc<ManualClock>) {
    let (_, carol) = on_webhook(&server, "carol").await;
    server.user("erin", "responder").await;
    // Erin's rotation starts next year: nobody is on call now.
    let schedule = json!({"name": "Later", "time_zone": "UTC", "layers": [{"rotation": {
        "users": ["erin"], "shift": "1d", "handoff": "09:00", "start": "2027-06-01"}}]});
    let schedule = server.post(ADMIN_TOKEN, "/api/v1/schedules", schedule).await.ok(201)["id"].as_u64().unwrap();
    let id = policy(
        &server,
        json!({"name": "Search", "repeat": 0, "steps": [
            {"delay_seconds": 600, "targets": [{"schedule": schedule}]},
            {"delay_seconds": 600, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    let svc = server.service("search", json!({"escalation_policy": id})).await;
    trigger(&server, svc["integration_key"].as_str().unwrap(), "s", "trigger").await;
    server.deliver_due().await;
    assert_eq!(carol.count(), 1, "step 2 at once");
    let page = page_of(&server, 1).await;
    assert_eq!(page["unreachable"][0]["why"], "nobody is on call", "{page}");
}

/// Every notification of bob's step fails for good (one attempt allowed,
/// the receiver answers 500): the step reached nobody, and carol is paged
/// at once instead of after bob's ten minutes.
async fn a_step_whose_every_delivery_failed_for_good_escalates_at_once(backend: muster_store::testing::Backend) {
    let (mut setup, clock) = common::manual_setup();
    setup.config.job_max_attempts = 1;
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    let bob_token = server.user("bob", "responder").await;
    let (bob, url) = Receiver::start(vec![axum::http::StatusCode::INTERNAL_SERVER_ERROR; 2]).await;
    server
        .post(&bob_token, "/api/v1/users/bob/contact-methods", json!({"kind": "webhook", "address": url}))
        .await
        .ok(201);
    let (_, url2) = Receiver::start(vec![axum::http::StatusCode::INTERNAL_SERVER_ERROR; 2]).await;
    server
        .post(&bob_token, "/api/v1/users/bob/contact-methods", json!({"kind": "webhook", "address": url2}))
        .await
        .ok(201);
    let (_, carol) = on_webhook(&server, "carol").await;
    let id = policy(
        &server,
        json!({"name": "Checkout", "repeat": 0, "steps": [
            {"delay_seconds": 600, "targets": [{"user": "bob"}]},
            {"delay_seconds": 600, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    let svc = server.service("checkout", json!({"escalation_policy": id})).await;
    trigger(&server, svc["integration_key"].as_str().unwrap(), "c", "trigger").await;

    server.deliver_due().await;
    assert_eq!(bob.count(), 1, "bob's webhook was tried");
    assert_eq!(carol.count(), 1, "and, both of bob's deliveries given up, carol was paged at once");
    let page = page_of(&server, 1).await;
    assert_eq!(page["step"], 2, "{page}");
    assert_eq!(page["unreachable"][0]["step"], 1);
    assert_eq!(page["unreachable"][0]["why"], "every notification to @bob failed for good");
    let gave_up: Vec<&Value> =
        page["deliveries"].as_array().unwrap().iter().filter(|d| d["gave_up_at"].is_string()).collect();
    assert_eq!(gave_up.len(), 2, "{page}");
    clock.advance(600);
    server.deliver_due().await;
    assert_eq!(carol.count(), 1, "bob's own timer does nothing now");
}

mod every_delivery_failed {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::a_step_whose_every_delivery_failed_for_good_escalates_at_once(muster_store::testing::Backend::Sqlite)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::a_step_whose_every_delivery_failed_for_good_escalates_at_once(muster_store::testing::Backend::Postgres)
            .await;
    }
}

async fn a_user_created_with_an_email_gets_an_email_contact_method_notified_at_once_unless_asked_otherwise(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let alice = json!({"handle": "alice", "name": "Alice", "email": "alice@example.com"});
    server.post(ADMIN_TOKEN, "/api/v1/users", alice).await.ok(201);
    let methods = server.get(ADMIN_TOKEN, "/api/v1/users/alice/contact-methods").await.ok(200).clone();
    let methods = methods.as_array().unwrap();
    assert_eq!(methods.len(), 1, "{methods:?}");
    assert_eq!(
        (methods[0]["kind"].as_str(), methods[0]["address"].as_str()),
        (Some("email"), Some("alice@example.com"))
    );
    let rules = server.get(ADMIN_TOKEN, "/api/v1/users/alice/notification-rules").await.ok(200).clone();
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(rules[0]["contact_method"], methods[0]["id"]);
    assert_eq!(rules[0]["delay_seconds"], 0, "notify at once");

    let bob = json!({"handle": "bob", "name": "Bob", "email": "bob@example.com", "email_contact_method": false});
    server.post(ADMIN_TOKEN, "/api/v1/users", bob).await.ok(201);
    let none = server.get(ADMIN_TOKEN, "/api/v1/users/bob/contact-methods").await.ok(200).clone();
    assert_eq!(none, json!([]), "bob asked for none");
    let admin = server.get(ADMIN_TOKEN, "/api/v1/users/admin/contact-methods").await.ok(200).clone();
    assert_eq!(admin, json!([]), "the bootstrap admin (admin@localhost) gets none");

    // An address a user may have but mail cannot go to is refused, and nothing is created.
    let carol = json!({"handle": "carol", "name": "Carol", "email": "carol@intranet"});
    assert_eq!(server.post(ADMIN_TOKEN, "/api/v1/users", carol).await.problem(422)["field"], "email");
    server.get(ADMIN_TOKEN, "/api/v1/users/carol").await.problem(404);
    let flag = json!({"handle": "dan", "name": "Dan", "email": "dan@example.com", "email_contact_method": "no"});
    assert_eq!(server.post(ADMIN_TOKEN, "/api/v1/users", flag).await.problem(422)["field"], "email_contact_method");
}

/// A signed-in browser session's cookie, for the web pages.
async fn web_session(server: &TestServer, handle: &str, password: &str) -> String {
    format!("muster_session={}", common::web_sign_in(server, handle, password).await.expect("signed in"))
}

async fn web_get(server: &TestServer, session: &str, path: &str) -> (u16, String, String) {
    let r = reqwest::Client::new().get(format!("{}{path}", server.url)).header("cookie", session).send().await.unwrap();
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, r.text().await.unwrap())
}

async fn the_incident_page_shows_who_was_paged_and_warns_while_a_page_reached_nobody(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let alice = json!({"handle": "alice", "name": "Alice", "email": "alice@example.com", "permission": "admin",
                       "password": "correct horse battery", "email_contact_method": false});
    server.post(ADMIN_TOKEN, "/api/v1/users", alice).await.ok(201);
    let (carol_token, _carol) = bob_unreachable_then_carol(&server).await;

    let session = web_session(&server, "alice", "correct horse battery").await;
    let (status, _, html) = web_get(&server, &session, "/incidents/INC-1").await;
    assert_eq!(status, 200);
    let warning = "Page 1 reached nobody at step 1: @bob has no contact method — escalated to step 2";
    assert!(html.contains(warning), "the incident page warns: {html}");
    assert!(
        html.contains("Page 1 · escalation policy &#34;Checkout&#34; · <span class=\"page-state\">notified</span>"),
        "{html}"
    );
    assert!(html.contains("Step 2 of 2"), "{html}");
    assert!(html.contains("Step 1 reached nobody: @bob has no contact method"), "{html}");
    assert!(html.contains("<td>@carol</td><td>webhook</td>"), "carol's delivery is listed: {html}");
    assert!(html.contains("delivered <time"), "{html}");
    assert!(html.contains("href=\"/alerts/1\""), "the incident's alerts link to their page: {html}");
    let (_, _, dashboard) = web_get(&server, &session, "/").await;
    assert!(dashboard.contains("a page reached nobody"), "the dashboard marks the incident: {dashboard}");

    let (status, _, alert) = web_get(&server, &session, "/alerts/1").await;
    assert_eq!(status, 200);
    for shown in
        ["Alert 1 · checkout", "checkout is failing", "critical", "seen 1 time", "href=\"/incidents/INC-1\"", "Page 1"]
    {
        assert!(alert.contains(shown), "the alert page shows {shown:?}: {alert}");
    }
    let (_, _, alerts) = web_get(&server, &session, "/alerts").await;
    assert!(alerts.contains("href=\"/alerts/1\""), "the alerts list links to it");
    let (status, kind, missing) = web_get(&server, &session, "/alerts/999").await;
    assert_eq!(status, 404);
    assert!(kind.starts_with("text/html"), "a browser gets an HTML 404, not JSON: {kind}");
    assert!(missing.contains("there is no alert"), "{missing}");
    assert_eq!(web_get(&server, &session, "/alerts/nope").await.0, 404);

    // Carol answers: the page is no longer open, and the warning goes.
    server.post(&carol_token, "/api/v1/pages/1/acknowledge", json!({})).await.ok(200);
    let (_, _, html) = web_get(&server, &session, "/incidents/INC-1").await;
    assert!(!html.contains(warning));
    assert!(html.contains("acknowledged by @carol"), "who answered: {html}");
    let (_, _, dashboard) = web_get(&server, &session, "/").await;
    assert!(!dashboard.contains("a page reached nobody"));
}

/// `n` pages made straight in the store (a storm, cheaply), for `alert` if
/// given; every fourth notified @alice and was cancelled. Their ids,
/// oldest first.
async fn storm_of_pages(server: &TestServer, clock: &ManualClock, n: usize, alert: Option<u64>) -> Vec<u64> {
    use muster_app::Clock;
    use muster_domain::page::{PageState, PageTarget};
    use muster_domain::paging::EscalationPolicy;
    use muster_store::{NewPage, PageMove};
    let bob = muster_domain::Handle::parse("bob").unwrap();
    let new = NewPage {
        incident: None,
        alert,
        target: PageTarget::User(bob.clone()),
        target_text: "@bob".into(),
        message: "everything is on fire".into(),
        roles: vec![],
        policy: EscalationPolicy { name: "@bob".into(), repeat: 0, steps: vec![] },
        created_by: muster_domain::intake::system_actor(),
    };
    let no_incident = |_: &muster_domain::Incident, _: u64| -> Result<_, muster_domain::DomainError> {
        unreachable!("these pages have no incident")
    };
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let (page, _) = server.app.store.create_page(&new, clock.now(), &no_incident).await.unwrap();
        if i % 4 == 3 {
            let cancel = PageMove {
                page: page.id,
                from_step: 0,
                state: PageState::Cancelled,
                step: 0,
                notified: vec![muster_domain::Handle::parse("alice").unwrap()],
                current: None,
                closed_by: None,
                reason: Some("the storm passed".into()),
                command: None,
                jobs: vec![],
                acknowledge_alert: false,
                unreachable: None,
                bundling: None,
            };
            assert!(server.app.store.move_page(&cancel, clock.now()).await.unwrap().is_some());
        }
        ids.push(page.id);
    }
    ids
}

/// Follows `Link: rel="next"` from `first` to the end: every page's ids and
/// states, in order, and how many requests it took.
async fn follow(server: &TestServer, first: &str) -> (Vec<u64>, Vec<String>, usize) {
    let (mut ids, mut states, mut requests) = (Vec::new(), Vec::new(), 0);
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        requests += 1;
        assert!(requests < 100, "the links go round in circles");
        let reply = server.get(ADMIN_TOKEN, &url).await;
        for p in reply.ok(200).as_array().unwrap() {
            ids.push(p["id"].as_u64().unwrap());
            states.push(p["state"].as_str().unwrap().to_owned());
        }
        next = reply.headers.get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l.trim_start_matches('<').split('>').next().unwrap().to_owned()
        });
    }
    (ids, states, requests)
}

async fn the_pages_list_holds_a_storm_a_page_at_a_time_newest_first_and_filters_by_state(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let made = storm_of_pages(&server, &clock, 1_100, None).await;
    let newest_first: Vec<u64> = made.iter().rev().copied().collect();

    let first = server.get(ADMIN_TOKEN, "/api/v1/pages").await;
    assert_eq!(first.ok(200).as_array().unwrap().len(), 100, "100 by default");
    let link = first.headers["link"].to_str().unwrap();
    assert_eq!(link, format!("</api/v1/pages?limit=100&before={}>; rel=\"next\"", newest_first[99]));

    let (ids, _, requests) = follow(&server, "/api/v1/pages?limit=1000").await;
    assert_eq!(ids, newest_first, "every page once, newest first, past the first 1,000");
    assert_eq!(requests, 2, "1,000 then the last 100, which carries no link");

    let cancelled: Vec<u64> = made.iter().skip(3).step_by(4).rev().copied().collect();
    let (ids, states, _) = follow(&server, "/api/v1/pages?state=cancelled&limit=100").await;
    assert_eq!(ids, cancelled, "the link keeps the state filter");
    assert!(states.iter().all(|s| s == "cancelled"));

    let (ids, _, _) = follow(&server, "/api/v1/pages?state=pending,cancelled&limit=1000").await;
    assert_eq!(ids, newest_first, "several states, comma-separated");
    let (ids, states, _) = follow(&server, "/api/v1/pages?state=pending&open=true&limit=300").await;
    assert_eq!(ids.len(), 825);
    assert!(states.iter().all(|s| s == "pending"));
    let (ids, _, _) = follow(&server, "/api/v1/pages?state=acknowledged,declined").await;
    assert!(ids.is_empty(), "no page was answered");
}

async fn the_pages_list_refuses_a_state_or_limit_that_is_not_one_naming_it(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    for query in ["state=asleep", "state=pending,asleep", "state=PENDING"] {
        let refused = server.get(ADMIN_TOKEN, &format!("/api/v1/pages?{query}")).await;
        let problem = refused.problem(400);
        assert_eq!(problem["field"], "state", "{query}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("expected one of pending, notified, acknowledged"), "{query}: {detail}");
    }
    for query in ["limit=0", "limit=1001", "limit=many"] {
        let problem = server.get(ADMIN_TOKEN, &format!("/api/v1/pages?{query}")).await;
        assert_eq!(problem.problem(400)["field"], "limit", "{query}");
    }
    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts?limit=0").await;
    let pages = server.get(ADMIN_TOKEN, "/api/v1/pages?limit=0").await;
    assert_eq!(pages.problem(400)["detail"], alerts.problem(400)["detail"], "in the words of the other lists");
    let problem = server.get(ADMIN_TOKEN, "/api/v1/pages?before=soon").await;
    assert_eq!(problem.problem(400)["field"], "before");
}

async fn in_a_storm_the_web_shows_the_newest_pages_and_counts_the_rest(server: TestServer, clock: Arc<ManualClock>) {
    let alice = json!({"handle": "alice", "name": "Alice", "email": "alice@example.com", "permission": "admin",
                       "password": "correct horse battery", "email_contact_method": false});
    server.post(ADMIN_TOKEN, "/api/v1/users", alice).await.ok(201);
    server.user("bob", "responder").await;
    let session = web_session(&server, "alice", "correct horse battery").await;
    let cards = |html: &str| html.matches("<div class=\"card page\"").count();

    let svc = server.service("checkout", json!({})).await;
    trigger(&server, svc["integration_key"].as_str().unwrap(), "checkout-5xx", "trigger").await;
    let made = storm_of_pages(&server, &clock, 30, Some(1)).await;
    let (status, _, alert) = web_get(&server, &session, "/alerts/1").await;
    assert_eq!(status, 200);
    assert_eq!(cards(&alert), 20, "the newest 20 of the alert's 30 pages");
    assert!(
        alert.contains(&format!("id=\"page-{}\"", made[29])) && !alert.contains(&format!("id=\"page-{}\"", made[9]))
    );
    assert!(
        alert.contains("And 10 older pages, not shown: <code>GET /api/v1/pages?alert=1&#38;limit=1000</code>"),
        "{alert}"
    );

    // Others' pages do not push mine off my page: 25 of 100 more notified me.
    storm_of_pages(&server, &clock, 100, None).await;
    let (_, _, me) = web_get(&server, &session, "/me").await;
    assert_eq!(me.matches("<li>Page ").count(), 20, "{me}");
    assert!(me.contains("(cancelled)") && !me.contains("(pending)"), "only the pages that notified me");
    assert!(me.contains("And 12 older pages, not shown: <code>muster pages --limit 1000</code>"), "7 + 25 - 20: {me}");

    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout down", "priority": "P1"})).await.ok(201);
    for _ in 0..21 {
        let page = json!({"target": {"user": "bob"}, "message": "checkout is down"});
        server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages", page).await.ok(201);
    }
    let (_, _, incident) = web_get(&server, &session, "/incidents/INC-1").await;
    assert_eq!(cards(&incident), 20);
    assert!(
        incident.contains("And 1 older page, not shown: <code>muster pages --incident INC-1 --limit 1000</code>"),
        "{incident}"
    );
    // The incident's own list is paged the same way.
    let (ids, _, requests) = follow(&server, "/api/v1/incidents/1/pages?limit=10").await;
    assert_eq!((ids.len(), requests), (21, 3), "10, 10, then the last one");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "each once, newest first: {ids:?}");
    let first = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages?limit=10").await;
    let link = first.headers["link"].to_str().unwrap().to_owned();
    assert!(link.starts_with("</api/v1/incidents/INC-1/pages?limit=10&before="), "{link}");
    let open = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages?state=notified,pending").await;
    assert!(open.ok(200).as_array().unwrap().iter().all(|p| p["state"] == "notified" || p["state"] == "pending"));
    server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages?state=asleep").await.problem(400);
}

async fn an_open_page_that_reached_nobody_still_warns_under_a_storm_of_newer_pages(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let alice = json!({"handle": "alice", "name": "Alice", "email": "alice@example.com", "permission": "admin",
                       "password": "correct horse battery", "email_contact_method": false});
    server.post(ADMIN_TOKEN, "/api/v1/users", alice).await.ok(201);
    // Page 1 reached nobody at step 1 (Bob) and waits on Carol at step 2.
    bob_unreachable_then_carol(&server).await;
    let page = page_of(&server, 1).await;
    assert_eq!((page["state"].as_str(), page["step"].as_u64()), (Some("notified"), Some(2)), "{page}");
    // Then 21 newer pages to Carol, who is reached: page 1 is not among the newest 20.
    for _ in 0..21 {
        let page = json!({"target": {"user": "carol"}, "message": "still failing"});
        server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages", page).await.ok(201);
    }
    server.deliver_due().await;
    let session = web_session(&server, "alice", "correct horse battery").await;
    let (_, _, incident) = web_get(&server, &session, "/incidents/INC-1").await;
    assert!(!incident.contains("id=\"page-1\""), "page 1 is not in the panel");
    assert!(
        incident.contains("Page 1 reached nobody at step 1: @bob has no contact method — escalated to step 2"),
        "the warning stays: {incident}"
    );
    let (_, _, dashboard) = web_get(&server, &session, "/").await;
    assert!(dashboard.contains("a page reached nobody"), "{dashboard}");
}
