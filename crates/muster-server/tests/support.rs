//! The customer support lead's work over the API, on both backends: the
//! helpdesks' webhooks taken with their signatures (and refused forged or
//! old, storing nothing), the response timer and its reminder on the
//! injected clock, a Zendesk ticket followed from arrival to its closing
//! reply, who may handle a report, and bad input refused naming its field.

mod common;

use std::sync::Arc;

use common::receiver::Receiver;
use common::{ADMIN_TOKEN, ManualClock, TestServer};
use muster_app::Clock;
use serde_json::{Value, json};

mod manual {
    use super::*;
    on_both_backends_with_manual_clock!(
        each_helpdesks_sample_is_taken_with_its_signature_and_a_forged_or_old_one_stores_nothing,
        a_report_linked_to_a_p1_is_due_in_fifteen_minutes_and_its_support_lead_is_reminded_then,
        a_zendesk_ticket_is_linked_passed_on_answered_from_the_external_update_and_closed_after_the_fix,
        a_report_passed_on_with_a_page_pages_the_incident_manager_and_each_tech_lead_once,
        raising_an_incidents_priority_brings_its_unanswered_reports_due_times_forward,
    );
}

on_both_backends!(
    setup = crate::common::receivers_setup;
    only_the_support_lead_the_incident_managers_and_admins_handle_a_linked_report,
    bad_reports_are_refused_naming_the_field_and_nothing_is_written,
    a_customer_line_in_the_room_logs_links_and_passes_a_report_on,
    the_first_responders_assessment_offers_many_customers_when_many_reported_on_the_service,
);

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/support").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Adds a support integration as an admin; returns its answer (url, secret).
async fn integration(server: &TestServer, kind: &str, extra: Value) -> Value {
    let mut body = json!({"kind": kind, "name": format!("{kind} desk")});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    server.post(ADMIN_TOKEN, "/api/v1/support-integrations", body).await.ok(201).clone()
}

/// Posts `body` as it is to `path` with `headers`; the status and JSON.
async fn post_raw(server: &TestServer, path: &str, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
    let mut req = server.http().post(format!("{}{path}", server.url)).header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let r = req.body(body.to_vec()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn zendesk_post(server: &TestServer, i: &Value, body: &[u8], secret: &str, at: &str) -> (u16, Value) {
    let signature = muster_app::support::zendesk_signature(secret, at, body);
    let headers = [
        ("x-zendesk-webhook-signature", signature),
        ("x-zendesk-webhook-signature-timestamp", at.to_owned()),
        ("x-zendesk-webhook-id", "01GK8E6BKWMJZD2T8Y5AXJQMG5".to_owned()),
    ];
    post_raw(server, i["url"].as_str().unwrap(), body, &headers).await
}

async fn reports(server: &TestServer) -> Vec<Value> {
    server.get(ADMIN_TOKEN, "/api/v1/customer-reports").await.ok(200).as_array().unwrap().clone()
}

async fn each_helpdesks_sample_is_taken_with_its_signature_and_a_forged_or_old_one_stores_nothing(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let now = clock.now().to_string();
    let ten_minutes_ago = clock.now().checked_sub(jiff::SignedDuration::from_mins(10)).unwrap().to_string();

    // Zendesk: signed with the secret set in its webhook.
    let secret = "zendesk-webhook-signing-secret";
    let zendesk = integration(&server, "zendesk", json!({"secret": secret})).await;
    assert!(zendesk["url"].as_str().unwrap().starts_with("/api/v1/integrations/zendesk/sup_"), "{zendesk}");
    let created = fixture("zendesk_ticket_created.json");
    let (status, body) = zendesk_post(&server, &zendesk, &created, "not-the-secret", &now).await;
    assert_eq!((status, body["type"].as_str()), (401, Some("urn:muster:problem:unauthorized")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("does not match"), "{body}");
    let (status, body) = zendesk_post(&server, &zendesk, &created, secret, &ten_minutes_ago).await;
    assert_eq!(status, 401, "a signature ten minutes old is a replay: {body}");
    let mut tampered = created.clone();
    tampered.extend_from_slice(b" ");
    let signature = muster_app::support::zendesk_signature(secret, &now, &created);
    let headers = [("x-zendesk-webhook-signature", signature), ("x-zendesk-webhook-signature-timestamp", now.clone())];
    let (status, _) = post_raw(&server, zendesk["url"].as_str().unwrap(), &tampered, &headers).await;
    assert_eq!(status, 401, "a changed body");
    assert!(reports(&server).await.is_empty(), "nothing refused is stored");
    let (status, body) = zendesk_post(&server, &zendesk, &created, secret, &now).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("created")), "{body}");
    let report = body["report"].as_u64().unwrap();
    let (status, body) = zendesk_post(&server, &zendesk, &created, secret, &now).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("repeated")), "the same event id: {body}");
    let comment = fixture("zendesk_comment_added.json");
    let (status, body) = zendesk_post(&server, &zendesk, &comment, secret, &now).await;
    assert_eq!((status, body["status"].as_str(), body["report"].as_u64()), (202, Some("updated"), Some(report)));
    let got = server.get(ADMIN_TOKEN, &format!("/api/v1/customer-reports/{report}")).await.ok(200).clone();
    assert_eq!(got["external_ref"], "35436");
    assert_eq!(got["channel"], "ticket");
    assert_eq!(got["customer"], "Zendesk requester 20978392");
    assert_eq!(got["organization"], "Zendesk organization 509974");
    let text = got["body"].as_str().unwrap();
    assert!(text.starts_with("Checkout returns error 500\n\nSince a few minutes"), "{text}");
    assert!(text.ends_with("It also fails with PayPal, not only cards."), "the comment is added: {text}");
    assert_eq!(got["received_at"], "2026-11-27T09:58:10Z");
    assert_eq!(reports(&server).await.len(), 1, "one ticket, one report");

    // Intercom: signed with the app's client secret.
    let intercom = integration(&server, "intercom", json!({"secret": "intercom-client-secret-0001"})).await;
    let url = intercom["url"].as_str().unwrap().to_owned();
    let opened = fixture("intercom_conversation_user_created.json");
    let forged = muster_app::support::intercom_signature("someone-elses-secret", &opened);
    assert_eq!(post_raw(&server, &url, &opened, &[("x-hub-signature", forged)]).await.0, 401);
    assert_eq!(post_raw(&server, &url, &opened, &[]).await.0, 401, "unsigned");
    let signed = muster_app::support::intercom_signature("intercom-client-secret-0001", &opened);
    let (status, body) = post_raw(&server, &url, &opened, &[("x-hub-signature", signed.clone())]).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("created")), "{body}");
    let chat = body["report"].as_u64().unwrap();
    let (status, body) = post_raw(&server, &url, &opened, &[("x-hub-signature", signed)]).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("repeated")));
    let replied = fixture("intercom_conversation_user_replied.json");
    let signed = muster_app::support::intercom_signature("intercom-client-secret-0001", &replied);
    let (status, body) = post_raw(&server, &url, &replied, &[("x-hub-signature", signed)]).await;
    assert_eq!((status, body["report"].as_u64()), (202, Some(chat)), "{body}");
    let got = server.get(ADMIN_TOKEN, &format!("/api/v1/customer-reports/{chat}")).await.ok(200).clone();
    assert_eq!((got["channel"].as_str(), got["customer"].as_str()), (Some("chat"), Some("Cara Diaz")));
    assert_eq!(got["contact"], "cara@example.net");
    assert_eq!(
        got["body"], "Checkout keeps failing for me, I tried three times\n\nNow the app crashes when I open the basket",
        "HTML is read as text, and the reply added"
    );

    // Freshdesk does not sign: the key in the URL, and the secret header when sent.
    let freshdesk = integration(&server, "freshdesk", json!({})).await;
    let secret = freshdesk["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "a secret is made when none is given: {freshdesk}");
    let url = freshdesk["url"].as_str().unwrap().to_owned();
    let ticket = fixture("freshdesk_ticket_created.json");
    assert_eq!(post_raw(&server, &url, &ticket, &[("x-muster-secret", "wrong".into())]).await.0, 401);
    let (status, body) = post_raw(&server, &url, &ticket, &[("x-muster-secret", secret.clone())]).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("created")), "{body}");
    let fd = body["report"].as_u64().unwrap();
    assert_eq!(post_raw(&server, &url, &ticket, &[]).await.1["status"], "repeated", "the same delivery again");
    let got = server.get(ADMIN_TOKEN, &format!("/api/v1/customer-reports/{fd}")).await.ok(200).clone();
    assert_eq!(
        (got["customer"].as_str(), got["contact"].as_str(), got["organization"].as_str(), got["channel"].as_str()),
        (Some("Bo Chen"), Some("bo@shop.example"), Some("Shop Example Ltd"), Some("email"))
    );
    assert_eq!(got["external_url"], "https://acme.freshdesk.com/helpdesk/tickets/1042");
    assert_eq!(
        got["body"],
        "Cannot complete checkout\n\nHi, the checkout page shows an error and my order is not placed."
    );
    let wrong_key = url.replace("/sup_", "/sup_0");
    assert_eq!(post_raw(&server, &wrong_key, &ticket, &[]).await.0, 404, "an unknown key");

    // The generic hook takes Muster's own signature.
    let generic = integration(&server, "generic", json!({"secret": "phone-system-secret-0001"})).await;
    let url = generic["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/api/v1/integrations/support/sup_"), "{url}");
    let call = fixture("generic_phone_call.json");
    let signed = |secret: &str, at: i64| {
        let signature = muster_app::channels::webhook::signature(secret, at, &call);
        vec![("x-muster-timestamp", at.to_string()), ("x-muster-signature", signature)]
    };
    let at = clock.now().as_second();
    assert_eq!(post_raw(&server, &url, &call, &signed("wrong-secret-0000000", at)).await.0, 401);
    assert_eq!(post_raw(&server, &url, &call, &signed("phone-system-secret-0001", at - 600)).await.0, 401);
    let (status, body) = post_raw(&server, &url, &call, &signed("phone-system-secret-0001", at)).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("created")), "{body}");
    let (_, body) = post_raw(&server, &url, &call, &signed("phone-system-secret-0001", at)).await;
    assert_eq!(body["status"], "repeated");
    let all = reports(&server).await;
    let channels: Vec<&str> = all.iter().map(|r| r["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["phone", "email", "chat", "ticket"], "four reports, newest first");
    assert!(all.iter().all(|r| r["state"] == "new" && r["incident"].is_null()));
}

/// INC-1, a P1 with @ian as incident manager and @gina as customer support
/// lead; @gina's webhook goes to the receiver returned.
async fn p1_with_support_lead(server: &TestServer) -> (String, String, Receiver) {
    let ian = server.user("ian", "responder").await;
    let gina = server.user("gina", "responder").await;
    let (hook, url) = Receiver::start(vec![]).await;
    let method = json!({"kind": "webhook", "address": url});
    server.post(&gina, "/api/v1/users/gina/contact-methods", method).await.ok(201);
    server
        .post(&ian, "/api/v1/incidents", json!({"title": "Checkout returns error 500", "priority": "P1"}))
        .await
        .ok(201);
    let role = json!({"role": "customer_support_lead", "user": "gina"});
    server.post(&ian, "/api/v1/incidents/INC-1/roles", role).await.ok(201);
    (ian, gina, hook)
}

fn of_kind(hook: &Receiver, kind: &str) -> Vec<Value> {
    hook.bodies().into_iter().filter(|b| b["type"] == kind).collect()
}

async fn a_report_linked_to_a_p1_is_due_in_fifteen_minutes_and_its_support_lead_is_reminded_then(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (_ian, gina, hook) = p1_with_support_lead(&server).await;
    let call = json!({"channel": "phone", "customer": "Ann Lee", "body": "Checkout fails for me"});
    let logged = server.post(&gina, "/api/v1/customer-reports", call.clone()).await.ok(201).clone();
    assert_eq!(logged["response_due_at"], "2026-11-27T11:00:00Z", "unlinked: within the hour");
    let id = logged["id"].as_u64().unwrap();
    let linked = server.post(&gina, &format!("/api/v1/customer-reports/{id}/link"), json!({"incident": "INC-1"})).await;
    assert_eq!(linked.ok(200)["response_due_at"], "2026-11-27T10:15:00Z", "a P1's: 15 minutes from its receipt");
    assert_eq!(linked.body["incident"], "INC-1");

    clock.advance(14 * 60);
    server.deliver_due().await;
    assert!(of_kind(&hook, "customer_report.due").is_empty(), "not yet due");
    assert_eq!(server.get(&gina, "/api/v1/support/queue").await.ok(200)[0]["overdue"], false);
    clock.advance(61);
    server.deliver_due().await;
    let reminders = of_kind(&hook, "customer_report.due");
    assert_eq!(reminders.len(), 1, "{:?}", hook.bodies());
    assert_eq!((reminders[0]["report"].as_u64(), reminders[0]["incident"].as_str()), (Some(id), Some("INC-1")));
    assert_eq!(reminders[0]["due_at"], "2026-11-27T10:15:00Z");
    let queue = server.get(&gina, "/api/v1/support/queue").await.ok(200).clone();
    assert_eq!((queue[0]["id"].as_u64(), queue[0]["overdue"].as_bool()), (Some(id), Some(true)));

    // Answering stops the timer: a second report answered in time is never reminded.
    let second = server.post(&gina, "/api/v1/customer-reports", call).await.ok(201)["id"].as_u64().unwrap();
    server.post(&gina, &format!("/api/v1/customer-reports/{second}/link"), json!({"incident": "1"})).await.ok(200);
    let answered = server
        .post(&gina, &format!("/api/v1/customer-reports/{second}/respond"), json!({"body": "We are on it."}))
        .await;
    assert_eq!(
        (answered.ok(200)["state"].as_str(), answered.body["overdue"].as_bool()),
        (Some("responded"), Some(false))
    );
    let first = server.post(&gina, &format!("/api/v1/customer-reports/{id}/respond"), json!({"body": "On it."})).await;
    assert_eq!(first.ok(200)["overdue"], false, "answered late, but answered");
    clock.advance(2 * 3600);
    server.deliver_due().await;
    assert_eq!(
        of_kind(&hook, "customer_report.due").len(),
        1,
        "no reminder after an answer, nor for the old due times"
    );
}

async fn raising_an_incidents_priority_brings_its_unanswered_reports_due_times_forward(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (ian, gina, hook) = p1_with_support_lead(&server).await;
    server.patch(&ian, "/api/v1/incidents/INC-1", json!({"priority": "P3"})).await.ok(200);
    let call = json!({"channel": "email", "customer": "Ann Lee", "body": "Search is slow"});
    let id = server.post(&gina, "/api/v1/customer-reports", call.clone()).await.ok(201)["id"].as_u64().unwrap();
    let answered = server.post(&gina, "/api/v1/customer-reports", call).await.ok(201)["id"].as_u64().unwrap();
    for r in [id, answered] {
        let path = format!("/api/v1/customer-reports/{r}/link");
        let linked = server.post(&gina, &path, json!({"incident": "INC-1"})).await;
        assert_eq!(linked.ok(200)["response_due_at"], "2026-11-27T14:00:00Z", "a P3's: four hours");
    }
    server
        .post(&gina, &format!("/api/v1/customer-reports/{answered}/respond"), json!({"body": "Looking."}))
        .await
        .ok(200);

    clock.advance(5 * 60);
    server.patch(&ian, "/api/v1/incidents/INC-1", json!({"priority": "P1"})).await.ok(200);
    let got = server.get(&gina, &format!("/api/v1/customer-reports/{id}")).await.ok(200).clone();
    assert_eq!(got["response_due_at"], "2026-11-27T10:15:00Z", "a P1's: 15 minutes from its receipt");
    let done = server.get(&gina, &format!("/api/v1/customer-reports/{answered}")).await.ok(200).clone();
    assert_eq!(done["response_due_at"], "2026-11-27T14:00:00Z", "an answered report keeps its time");
    clock.advance(10 * 60);
    server.deliver_due().await;
    let reminders = of_kind(&hook, "customer_report.due");
    assert_eq!(reminders.len(), 1, "{:?}", hook.bodies());
    assert_eq!(
        (reminders[0]["report"].as_u64(), reminders[0]["due_at"].as_str()),
        (Some(id), Some("2026-11-27T10:15:00Z"))
    );
    clock.advance(4 * 3600);
    server.deliver_due().await;
    assert_eq!(of_kind(&hook, "customer_report.due").len(), 1, "the old four-hour job does nothing");
}

async fn a_zendesk_ticket_is_linked_passed_on_answered_from_the_external_update_and_closed_after_the_fix(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let (ian, gina, _) = p1_with_support_lead(&server).await;
    let tess = server.user("tess", "responder").await;
    server.post(&ian, "/api/v1/incidents/INC-1/roles", json!({"role": "tech_lead", "user": "tess"})).await.ok(201);
    let (im_hook, url) = Receiver::start(vec![]).await;
    server.post(&ian, "/api/v1/users/ian/contact-methods", json!({"kind": "webhook", "address": url})).await.ok(201);
    let (tl_hook, url) = Receiver::start(vec![]).await;
    server.post(&tess, "/api/v1/users/tess/contact-methods", json!({"kind": "webhook", "address": url})).await.ok(201);
    server.post(&ian, "/api/v1/incidents", json!({"title": "Search is slow", "priority": "P3"})).await.ok(201);
    let (helpdesk, reply_url) = Receiver::start(vec![]).await;
    let secret = "zendesk-webhook-signing-secret";
    let zendesk = integration(&server, "zendesk", json!({"secret": secret, "reply_url": reply_url})).await;

    // A ticket arrives; the queue suggests the checkout incident.
    let now = clock.now().to_string();
    let (_, body) = zendesk_post(&server, &zendesk, &fixture("zendesk_ticket_created.json"), secret, &now).await;
    let id = body["report"].as_u64().unwrap();
    let queue = server.get(&gina, "/api/v1/support/queue").await.ok(200).clone();
    assert_eq!(queue[0]["id"].as_u64(), Some(id));
    assert_eq!(queue[0]["suggestion"]["incident"], "INC-1", "{}", queue[0]);
    assert!(queue[0]["suggestion"]["reason"].as_str().unwrap().contains("checkout"), "{}", queue[0]);
    assert!(queue[0]["suggested_reply"].is_null(), "nothing published for customers yet");

    // Linked, then passed on to the responders.
    server.post(&gina, &format!("/api/v1/customer-reports/{id}/link"), json!({"incident": "INC-1"})).await.ok(200);
    let pass = json!({"excerpt": "every checkout ends with an error 500", "note": "a top-ten account"});
    let passed = server.post(&gina, &format!("/api/v1/customer-reports/{id}/pass"), pass).await;
    assert!(passed.ok(200)["passed_at"].is_string());
    let timeline = server.get(&ian, "/api/v1/incidents/INC-1/timeline?kind=customer_report").await.ok(200).clone();
    let entries = timeline.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{timeline}");
    let text = entries[0]["text"].as_str().unwrap();
    assert!(text.starts_with("@gina passed on ticket from Zendesk requester 20978392"), "{text}");
    assert!(text.contains("every checkout ends with an error 500") && text.contains("a top-ten account"), "{text}");
    server.deliver_due().await;
    for hook in [&im_hook, &tl_hook] {
        let told = of_kind(hook, "customer_report");
        assert_eq!(told.len(), 1, "{:?}", hook.bodies());
        assert_eq!(
            (told[0]["excerpt"].as_str(), told[0]["incident"].as_str()),
            (Some("every checkout ends with an error 500"), Some("INC-1"))
        );
        assert!(told[0]["url"].as_str().unwrap().ends_with("/incidents/INC-1"));
    }
    assert!(!of_kind(&im_hook, "page").iter().any(|_| true), "a notification, not a page");

    // The reply is drawn from the external update, never the internal one.
    let internal = json!({"audience": "internal", "body": "INTERNAL-ONLY: the db-7 rollback is risky"});
    server.post(&ian, "/api/v1/incidents/INC-1/updates", internal).await.ok(201);
    let external = json!({"audience": "external", "body": "Card payments fail at checkout; a fix is rolling out. EXT-TEXT-17", "status": "identified"});
    server.post(&ian, "/api/v1/incidents/INC-1/updates", external).await.ok(201);
    let got = server.get(&gina, &format!("/api/v1/customer-reports/{id}")).await.ok(200).clone();
    let reply = got["suggested_reply"].as_str().unwrap().to_owned();
    assert!(reply.contains("EXT-TEXT-17"), "{reply}");
    assert!(!reply.contains("INTERNAL-ONLY") && !reply.contains("db-7"), "{reply}");
    let answered = server.post(&gina, &format!("/api/v1/customer-reports/{id}/respond"), json!({"body": reply})).await;
    assert_eq!(answered.ok(200)["state"], "responded");
    server.deliver_due().await;
    let sent = helpdesk.bodies();
    assert_eq!(sent.len(), 1, "the answer goes back to the helpdesk");
    assert_eq!(
        (sent[0]["type"].as_str(), sent[0]["external_ref"].as_str()),
        (Some("customer_report.response"), Some("35436"))
    );
    assert!(sent[0]["body"].as_str().unwrap().contains("EXT-TEXT-17"));
    let (headers, raw) = helpdesk.got.lock().unwrap()[0].clone();
    let at: i64 = headers["x-muster-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        headers["x-muster-signature"].to_str().unwrap(),
        muster_app::channels::webhook::signature(secret, at, &raw),
        "signed with the integration's secret"
    );

    // The topic counts the reports with the support lead; the incident counts customers.
    let incident = server.get(&ian, "/api/v1/incidents/INC-1").await.ok(200).clone();
    assert!(incident["topic"].as_str().unwrap().contains("| CSL @gina (1 report)"), "{}", incident["topic"]);
    let counted = server.get(&ian, "/api/v1/incidents/INC-1/customer-reports").await.ok(200).clone();
    assert_eq!(
        (
            counted["counts"]["reports"].as_u64(),
            counted["counts"]["customers"].as_u64(),
            counted["counts"]["organizations"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(counted["counts"]["by_channel"], json!({"ticket": 1}));

    // Resolved: the report is to close, with a closing reply.
    server.patch(&ian, "/api/v1/incidents/INC-1", json!({"status": "resolved"})).await.ok(200);
    let got = server.get(&gina, &format!("/api/v1/customer-reports/{id}")).await.ok(200).clone();
    assert_eq!(got["to_close"], true);
    assert!(got["suggested_reply"].as_str().unwrap().contains("has been resolved"), "{got}");
    let queue = server.get(&gina, "/api/v1/support/queue").await.ok(200).clone();
    assert_eq!(queue[0]["to_close"], true);
    let closed = server.patch(&gina, &format!("/api/v1/customer-reports/{id}"), json!({"state": "closed"})).await;
    assert_eq!(closed.ok(200)["state"], "closed");
    assert!(server.get(&gina, "/api/v1/support/queue").await.ok(200).as_array().unwrap().is_empty());
}

async fn a_report_passed_on_with_a_page_pages_the_incident_manager_and_each_tech_lead_once(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let (ian, gina, gina_hook) = p1_with_support_lead(&server).await;
    let tess = server.user("tess", "responder").await;
    server.post(&ian, "/api/v1/incidents/INC-1/roles", json!({"role": "tech_lead", "user": "tess"})).await.ok(201);
    let (im_hook, url) = Receiver::start(vec![]).await;
    server.post(&ian, "/api/v1/users/ian/contact-methods", json!({"kind": "webhook", "address": url})).await.ok(201);
    let (tl_hook, url) = Receiver::start(vec![]).await;
    server.post(&tess, "/api/v1/users/tess/contact-methods", json!({"kind": "webhook", "address": url})).await.ok(201);
    let call =
        json!({"channel": "phone", "customer": "Ann Lee", "organization": "Acme", "body": "Our whole shop is down"});
    let id = server.post(&gina, "/api/v1/customer-reports", call).await.ok(201)["id"].as_u64().unwrap();
    server.post(&gina, &format!("/api/v1/customer-reports/{id}/link"), json!({"incident": "INC-1"})).await.ok(200);

    let pass = json!({"note": "they lose money by the minute", "page": true});
    server.post(&gina, &format!("/api/v1/customer-reports/{id}/pass"), pass).await.ok(200);
    server.deliver_due().await;
    for (hook, who) in [(&im_hook, "ian"), (&tl_hook, "tess")] {
        let paged = of_kind(hook, "page");
        assert_eq!(paged.len(), 1, "@{who}: {:?}", hook.bodies());
        assert_eq!(paged[0]["incident"]["ref"], "INC-1");
        let summary = paged[0]["summary"].as_str().unwrap();
        assert!(summary.contains("Ann Lee") && summary.contains("Our whole shop is down"), "{summary}");
        assert!(of_kind(hook, "customer_report").is_empty(), "@{who} is paged instead of notified");
    }
    assert!(of_kind(&gina_hook, "page").is_empty(), "the support lead does not page herself");
    let pages = server.get(&ian, "/api/v1/incidents/INC-1/pages").await.ok(200).clone();
    let mut targets: Vec<&str> =
        pages.as_array().unwrap().iter().map(|p| p["target"]["user"].as_str().unwrap()).collect();
    targets.sort();
    assert_eq!(targets, ["ian", "tess"], "{pages}");
    assert!(pages.as_array().unwrap().iter().all(|p| p["created_by"] == "gina" && p["roles"] == json!([])), "{pages}");
    let tess_page = pages.as_array().unwrap().iter().find(|p| p["target"]["user"] == "tess").unwrap();
    let tess_page = tess_page["id"].as_u64().unwrap();
    let acked = server.post(&tess, &format!("/api/v1/pages/{tess_page}/acknowledge"), json!({})).await;
    assert_eq!(acked.ok(200)["state"], "acknowledged", "a page like any other: answerable");
    let timeline = server.get(&ian, "/api/v1/incidents/INC-1/timeline").await.ok(200).clone();
    let kinds: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "customer_report").count(), 1, "{kinds:?}");

    // Only those who may handle the report page about it.
    server.post(&tess, &format!("/api/v1/customer-reports/{id}/pass"), json!({"page": true})).await.problem(403);
    assert_eq!(
        server.get(&ian, "/api/v1/incidents/INC-1/pages").await.ok(200).as_array().unwrap().len(),
        2,
        "nothing sent on a refusal"
    );
}

async fn only_the_support_lead_the_incident_managers_and_admins_handle_a_linked_report(server: TestServer) {
    let (ian, gina, _) = p1_with_support_lead(&server).await;
    let bea = server.user("bea", "responder").await;
    let tess = server.user("tess", "responder").await;
    let rita = server.user("rita", "responder").await;
    let vic = server.user("vic", "viewer").await;
    server
        .post(&ian, "/api/v1/incidents/INC-1/roles", json!({"role": "backup_incident_manager", "user": "bea"}))
        .await
        .ok(201);
    server.post(&ian, "/api/v1/incidents/INC-1/roles", json!({"role": "tech_lead", "user": "tess"})).await.ok(201);
    let report = json!({"channel": "social", "customer": "@shopper", "body": "is checkout down?"});
    server.post(&vic, "/api/v1/customer-reports", report.clone()).await.problem(403);
    // Any responder logs a report, and handles it while it is linked to nothing.
    let id = server.post(&rita, "/api/v1/customer-reports", report).await.ok(201)["id"].as_u64().unwrap();
    let path = |what: &str| format!("/api/v1/customer-reports/{id}{what}");
    server.patch(&rita, &path(""), json!({"state": "acknowledged"})).await.ok(200);
    let refused = server.post(&rita, &path("/link"), json!({"incident": "INC-1"})).await;
    let detail = refused.problem(403)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("the customer support lead (@gina)"), "{detail}");
    assert!(detail.contains("the incident manager (@ian), the backup incident manager (@bea) or an admin"), "{detail}");
    server.post(&tess, &path("/link"), json!({"incident": "INC-1"})).await.problem(403);
    server.post(&gina, &path("/link"), json!({"incident": "INC-1"})).await.ok(200);
    // Linked: the incident's authority.
    for who in [&rita, &tess] {
        server.post(who, &path("/pass"), json!({})).await.problem(403);
        server.post(who, &path("/respond"), json!({"body": "hi"})).await.problem(403);
        server.patch(who, &path(""), json!({"state": "closed"})).await.problem(403);
        server.post(who, &path("/unlink"), json!({})).await.problem(403);
    }
    server.post(&vic, &path("/pass"), json!({})).await.problem(403);
    for who in [gina.as_str(), ian.as_str(), bea.as_str(), ADMIN_TOKEN] {
        server.post(who, &path("/pass"), json!({})).await.ok(200);
        server.post(who, &path("/respond"), json!({"body": "We are on it."})).await.ok(200);
    }
    let timeline = server.get(&vic, "/api/v1/incidents/INC-1/timeline?kind=customer_report").await;
    assert_eq!(timeline.ok(200).as_array().unwrap().len(), 4);
    server.post(&bea, &path("/unlink"), json!({})).await.ok(200);
    let relinked = server
        .post(ADMIN_TOKEN, "/api/v1/customer-reports/link", json!({"reports": [id, id], "incident": "INC-1"}))
        .await;
    assert_eq!(relinked.ok(200).as_array().unwrap().len(), 1, "each report once");
    server.patch(&bea, &path(""), json!({"state": "closed"})).await.ok(200);
    let linked = server.get(&vic, "/api/v1/incidents/INC-1/timeline?kind=customer_report_linked").await;
    assert_eq!(linked.ok(200).as_array().unwrap().len(), 2);
}

async fn bad_reports_are_refused_naming_the_field_and_nothing_is_written(server: TestServer) {
    let rita = server.user("rita", "responder").await;
    let cases = [
        (json!({"channel": "fax", "customer": "Ann", "body": "x"}), "channel"),
        (json!({"channel": "phone", "customer": "  ", "body": "x"}), "customer"),
        (json!({"channel": "phone", "customer": "Ann", "body": ""}), "body"),
        (
            json!({"channel": "phone", "customer": "Ann", "body": "x", "received_at": "2099-01-01T00:00:00Z"}),
            "received_at",
        ),
        (json!({"channel": "phone", "customer": "Ann", "body": "x", "received_at": "yesterday"}), "received_at"),
        (json!({"channel": "phone", "customer": "Ann", "body": "x", "service": "no-such-service"}), "service"),
        (json!({"channel": "phone", "customer": "Ann", "body": "x", "external_url": "ftp://x"}), "external_url"),
        (json!({"channel": "phone", "customer": "Ann", "body": "x".repeat(20_001)}), "body"),
    ];
    for (body, field) in cases {
        let refused = server.post(&rita, "/api/v1/customer-reports", body.clone()).await;
        assert_eq!(refused.problem(422)["field"], field, "{body}");
    }
    assert!(reports(&server).await.is_empty());
    let id = server
        .post(&rita, "/api/v1/customer-reports", json!({"channel": "chat", "customer": "Ann", "body": "down?"}))
        .await
        .ok(201)["id"]
        .as_u64()
        .unwrap();
    let path = format!("/api/v1/customer-reports/{id}");
    server.patch(&rita, &path, json!({"state": "responded"})).await.ok(200);
    assert_eq!(server.patch(&rita, &path, json!({"state": "new"})).await.problem(422)["field"], "state");
    let missing = server.post(&rita, &format!("{path}/link"), json!({"incident": "INC-99"})).await;
    assert_eq!(missing.problem(422)["field"], "incident");
    assert_eq!(server.post(&rita, &format!("{path}/pass"), json!({})).await.problem(409)["status"], 409);
    server.get(&rita, "/api/v1/customer-reports/999").await.problem(404);
    let bad = server
        .post(ADMIN_TOKEN, "/api/v1/support-integrations", json!({"kind": "zendesk", "name": "Z", "secret": "short"}))
        .await;
    assert_eq!(bad.problem(422)["field"], "secret");
    let internal = json!({"kind": "zendesk", "name": "Z", "reply_url": "http://10.0.0.1/hook"});
    assert_eq!(
        server.post(ADMIN_TOKEN, "/api/v1/support-integrations", internal).await.problem(422)["field"],
        "reply_url"
    );
    server.post(&rita, "/api/v1/support-integrations", json!({"kind": "zendesk", "name": "Z"})).await.problem(403);
    let got = server.get(&rita, &path).await.ok(200).clone();
    assert_eq!(got["state"], "responded", "nothing refused changed it");
}

async fn a_customer_line_in_the_room_logs_links_and_passes_a_report_on(server: TestServer) {
    let (_ian, _gina, _) = p1_with_support_lead(&server).await;
    server.user("rita", "responder").await;
    let as_actor = |h: &str| {
        let app = server.app.clone();
        let h: muster_domain::Handle = h.parse().unwrap();
        async move { app.user(&h).await.unwrap().actor() }
    };
    let line = "/customer phone Ann Lee (Acme): card payments fail at checkout";
    let refused = server.app.room_line(&as_actor("rita").await, "INC-1".parse().unwrap(), line).await.unwrap_err();
    assert!(refused.to_string().contains("the customer support lead (@gina)"), "{refused}");
    assert!(reports(&server).await.is_empty(), "nothing logged when it may not be passed on");
    let reply = server.app.room_line(&as_actor("gina").await, "INC-1".parse().unwrap(), line).await.unwrap();
    assert!(reply.starts_with("Report 1 logged, linked to INC-1 and passed on"), "{reply}");
    let got = server.get(ADMIN_TOKEN, "/api/v1/customer-reports/1").await.ok(200).clone();
    assert_eq!(
        (got["channel"].as_str(), got["customer"].as_str(), got["organization"].as_str(), got["incident"].as_str()),
        (Some("phone"), Some("Ann Lee"), Some("Acme"), Some("INC-1"))
    );
    let timeline =
        server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline?kind=customer_report").await.ok(200).clone();
    assert!(timeline[0]["text"].as_str().unwrap().contains("“card payments fail at checkout”"), "{timeline}");
}

async fn the_first_responders_assessment_offers_many_customers_when_many_reported_on_the_service(server: TestServer) {
    let body = json!({"handle": "fay", "name": "Fay", "email": "fay@example.com", "password": "correct horse battery"});
    server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
    let session = common::web_sign_in(&server, "fay", "correct horse battery").await.unwrap();
    let service = server.service("checkout", json!({})).await;
    let key = service["integration_key"].as_str().unwrap().to_owned();
    let alert = json!({"summary": "5xx on checkout", "severity": "error", "dedup_key": "5xx"});
    server.ingest(&format!("/api/v1/integrations/generic/{key}"), &alert).await.ok(202);
    let page = |path: &'static str| {
        let (http, url, cookie) = (server.http(), format!("{}{path}", server.url), format!("muster_session={session}"));
        async move { http.get(url).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
    };
    let mut logged = 0;
    for n in 1..=10 {
        let report = json!({"channel": "ticket", "customer": format!("Customer {n}"), "body": "checkout fails",
                            "service": "checkout"});
        server.post(ADMIN_TOKEN, "/api/v1/customer-reports", report).await.ok(201);
        logged += 1;
        let html = page("/alerts/1").await;
        let offered = html.contains("customers reported problems on checkout in the last hour: many customers.");
        assert_eq!(offered, logged >= 10, "after {logged} reports");
        assert_eq!(html.contains(r#"<option value="many" selected>"#), logged >= 10);
    }
    assert!(page("/").await.contains("10 customers reported problems on checkout"), "the dashboard's triage too");
    // Another customer's second report is no new customer; another service's count is its own.
    let other = server.service("search", json!({})).await;
    let key = other["integration_key"].as_str().unwrap().to_owned();
    let alert = json!({"summary": "slow", "severity": "warning", "dedup_key": "slow"});
    server.ingest(&format!("/api/v1/integrations/generic/{key}"), &alert).await.ok(202);
    assert!(!page("/alerts/2").await.contains("customers reported problems"));
}
