//! Scheduled maintenance on the status page, on both backends, with the
//! injected clock and the engine run by the test: announced ahead, a
//! reminder before it, in progress at its start and completed at its end
//! by its own timers in the outbox; its components under maintenance and
//! back, the uptime bars leaving it out; the subscribers told each time,
//! by mail at a real SMTP server (aiosmtpd) and by webhook in Statuspage's
//! shapes. Bad windows are refused naming their field; a maintenance only
//! moves forward (a timer it moved past does nothing: the domain's
//! property tests).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::external::eventually;
use common::receiver::Receiver;
use common::smtp::Smtp;
use common::{ADMIN_TOKEN, ManualClock, TestServer, manual_setup};
use muster_store::testing::Backend;
use serde_json::{Value, json};

on_both_backends!(bad_maintenance_windows_are_refused_naming_the_field_and_it_only_moves_forward,);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_maintenance_reminds_starts_and_completes_on_its_own_and_its_subscribers_hear_each_step() {
    a_maintenance_reminds_starts_and_completes_on_its_own_and_its_subscribers_hear_each_step(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_maintenance_reminds_starts_and_completes_on_its_own_and_its_subscribers_hear_each_step() {
    a_maintenance_reminds_starts_and_completes_on_its_own_and_its_subscribers_hear_each_step(Backend::Postgres).await;
}

async fn public_json(server: &TestServer, path: &str) -> Value {
    let r = server.http().get(format!("{}{path}", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn public_html(server: &TestServer) -> String {
    server.http().get(format!("{}/status", server.url)).send().await.unwrap().text().await.unwrap()
}

async fn component_state(server: &TestServer, name: &str) -> String {
    let list = server.get(ADMIN_TOKEN, "/api/v1/status/components").await.ok(200).clone();
    let c = list.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    c["status"].as_str().unwrap().to_owned()
}

/// The subjects of the mails to `to`, in no particular order.
fn subjects(smtp: &Smtp, to: &str) -> Vec<String> {
    let to = format!("To: {to}");
    let mut found: Vec<String> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.contains(&to))
        .filter_map(|m| m.lines().find(|l| l.starts_with("Subject: ")).map(|l| l["Subject: ".len()..].to_owned()))
        .collect();
    found.sort();
    found
}

async fn mail_with(smtp: &Smtp, to: &str, subject: &str) -> String {
    let to = format!("To: {to}");
    let subject = format!("Subject: {subject}");
    eventually(Duration::from_secs(20), "the mail", || async {
        smtp.messages().into_iter().find(|m| m.contains(&to) && m.contains(&subject))
    })
    .await
}

/// Runs the engine over what is due now, twice over: a timer's notices
/// are jobs of their own.
async fn run(server: &TestServer) {
    server.deliver_due().await;
    server.deliver_due().await;
}

async fn a_maintenance_reminds_starts_and_completes_on_its_own_and_its_subscribers_hear_each_step(backend: Backend) {
    let Some(smtp) = Smtp::start().await else { return };
    let (mut setup, clock) = manual_setup();
    setup.config.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    let clock: Arc<ManualClock> = clock;
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    for name in ["API", "Dashboard"] {
        server.post(ADMIN_TOKEN, "/api/v1/status/components", json!({"name": name})).await.ok(201);
    }
    // Subscribers: sam by mail to the API, a webhook to the whole page, dee
    // by mail to the Dashboard only.
    let (hook, url) = Receiver::start(vec![]).await;
    for body in [
        json!({"email": "sam@example.com", "components": ["API"]}),
        json!({"email": "dee@example.com", "components": ["Dashboard"]}),
    ] {
        server.http().post(format!("{}/status/subscribe", server.url)).json(&body).send().await.unwrap();
    }
    server.http().post(format!("{}/status/subscribe", server.url)).json(&json!({"webhook": url})).send().await.unwrap();
    run(&server).await;
    for to in ["sam@example.com", "dee@example.com"] {
        let mail = mail_with(&smtp, to, "Confirm your status page subscription").await;
        let at = mail.find("/confirm").unwrap();
        let link = &mail[mail[..at].rfind("http").unwrap()..at + "/confirm".len()];
        assert_eq!(server.http().post(link).send().await.unwrap().status(), 200);
    }
    assert_eq!(hook.count(), 1, "the webhook's first delivery confirmed it");

    // 10:00: announced for 12:00 to 13:00, a reminder an hour before.
    let body = json!({"title": "Database upgrade", "components": ["API"], "starts_at": "2026-11-27T12:00:00Z",
                      "ends_at": "2026-11-27T13:00:00Z", "body": "We upgrade the database; writes pause for a minute."});
    let m = server.post(ADMIN_TOKEN, "/api/v1/status/maintenances", body).await.ok(201).clone();
    assert_eq!((m["status"].as_str(), m["remind_minutes_before"].as_u64()), (Some("scheduled"), Some(60)), "{m}");
    let id = m["id"].as_u64().unwrap();
    run(&server).await;
    let announced = mail_with(&smtp, "sam@example.com", "Scheduled maintenance: Database upgrade").await;
    assert!(announced.contains("From 2026-11-27 12:00 to 2026-11-27 13:00 (UTC)"), "{announced}");
    assert!(announced.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{announced}");
    let body = hook.bodies().pop().unwrap();
    assert_eq!(body["incident"]["status"], "scheduled", "{body}");
    assert_eq!(body["incident"]["scheduled_for"], "2026-11-27T12:00:00Z");
    assert_eq!(body["incident"]["impact"], "maintenance");
    let upcoming = public_json(&server, "/api/v2/scheduled-maintenances/upcoming.json").await;
    assert_eq!(upcoming["scheduled_maintenances"][0]["name"], "Database upgrade", "{upcoming}");
    assert_eq!(upcoming["scheduled_maintenances"][0]["scheduled_until"], "2026-11-27T13:00:00Z");
    assert!(public_html(&server).await.contains("Scheduled maintenance"), "shown ahead");
    assert_eq!(public_json(&server, "/api/v2/status.json").await["status"]["indicator"], "none");

    // 11:00: the reminder; nothing else moves.
    clock.advance(3600);
    run(&server).await;
    mail_with(&smtp, "sam@example.com", "Maintenance starts soon: Database upgrade").await;
    let m = server.get(ADMIN_TOKEN, &format!("/api/v1/status/maintenances/{id}")).await.ok(200).clone();
    assert_eq!((m["status"].as_str(), m["reminded_at"].as_str()), (Some("scheduled"), Some("2026-11-27T11:00:00Z")));
    assert_eq!(component_state(&server, "API").await, "operational");

    // 12:00: in progress on its own; the API under maintenance.
    clock.advance(3600);
    run(&server).await;
    mail_with(&smtp, "sam@example.com", "Maintenance in progress: Database upgrade").await;
    assert_eq!(component_state(&server, "API").await, "under_maintenance");
    let status = public_json(&server, "/api/v2/status.json").await;
    assert_eq!(status["status"]["indicator"], "maintenance", "{status}");
    let active = public_json(&server, "/api/v2/scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"][0]["status"], "in_progress", "{active}");
    let summary = public_json(&server, "/api/v2/summary.json").await;
    assert_eq!(summary["scheduled_maintenances"].as_array().unwrap().len(), 1);
    let html = public_html(&server).await;
    assert!(html.contains("Maintenance in progress") && html.contains("Under maintenance"), "{html}");
    let changed: Vec<Value> = hook.bodies().into_iter().filter(|b| b.get("component_update").is_some()).collect();
    assert_eq!(changed.len(), 1, "the API went under maintenance");
    assert_eq!(changed[0]["component_update"]["new_status"], "under_maintenance");

    // 12:30: the author says more, in progress still.
    clock.advance(1800);
    let more = json!({"body": "Half of the shards are done."});
    server.post(ADMIN_TOKEN, &format!("/api/v1/status/maintenances/{id}/updates"), more).await.ok(200);
    run(&server).await;

    // 13:00: completed on its own; the API back.
    clock.advance(1800);
    run(&server).await;
    mail_with(&smtp, "sam@example.com", "Maintenance completed: Database upgrade").await;
    assert_eq!(component_state(&server, "API").await, "operational");
    assert_eq!(public_json(&server, "/api/v2/status.json").await["status"]["indicator"], "none");
    let m = server.get(ADMIN_TOKEN, &format!("/api/v1/status/maintenances/{id}")).await.ok(200).clone();
    let states: Vec<&str> = m["updates"].as_array().unwrap().iter().map(|u| u["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["scheduled", "in_progress", "in_progress", "completed"], "{m}");
    assert_eq!(m["completed_at"], "2026-11-27T13:00:00Z");
    let history = server.http().get(format!("{}/status/history", server.url)).send().await.unwrap();
    let history = history.text().await.unwrap();
    assert!(history.contains("Past maintenance") && history.contains("Half of the shards are done."), "{history}");

    // The day's uptime leaves the maintenance hour out: the API was up all
    // the rest of it.
    clock.advance(11 * 3600);
    run(&server).await;
    let html = public_html(&server).await;
    assert!(html.contains("2026-11-27: 100.00 % (Operational)"), "{html}");
    let feed = server.http().get(format!("{}/history.atom", server.url)).send().await.unwrap();
    let feed = feed.text().await.unwrap();
    assert_eq!(feed.matches("<entry>").count(), 4, "an entry per maintenance update: {feed}");

    let sam = subjects(&smtp, "sam@example.com");
    assert_eq!(
        sam,
        [
            "Confirm your status page subscription",
            "Maintenance completed: Database upgrade",
            "Maintenance in progress: Database upgrade",
            "Maintenance in progress: Database upgrade",
            "Maintenance starts soon: Database upgrade",
            "Scheduled maintenance: Database upgrade",
        ],
        "each step once, the update in progress too"
    );
    assert_eq!(subjects(&smtp, "dee@example.com"), ["Confirm your status page subscription"], "not the Dashboard's");
    let incidents: Vec<String> =
        hook.bodies().iter().filter_map(|b| b["incident"]["status"].as_str().map(str::to_owned)).collect();
    assert_eq!(incidents, ["scheduled", "scheduled", "in_progress", "in_progress", "completed"]);
}

async fn bad_maintenance_windows_are_refused_naming_the_field_and_it_only_moves_forward(server: TestServer) {
    server.post(ADMIN_TOKEN, "/api/v1/status/components", json!({"name": "API"})).await.ok(201);
    let rita = server.user("rita", "responder").await;
    let window = |starts: &str, ends: &str, components: Value| json!({"title": "Upgrade", "components": components, "starts_at": starts, "ends_at": ends});
    let path = "/api/v1/status/maintenances";
    let (soon, later) = ("2027-01-01T10:00:00Z", "2027-01-01T12:00:00Z");
    let cases = [
        (window(later, soon, json!(["API"])), "ends_at"),
        (window(soon, later, json!(["Nope"])), "components[0]"),
        (window(soon, later, json!([])), "components"),
        (window("tomorrow", later, json!(["API"])), "starts_at"),
        (window("2020-01-01T10:00:00Z", "2020-01-01T12:00:00Z", json!(["API"])), "ends_at"),
    ];
    for (body, field) in cases {
        let refused = server.post(ADMIN_TOKEN, path, body.clone()).await;
        assert_eq!(refused.problem(422)["field"], field, "{body}");
    }
    server.post(&rita, path, window(soon, later, json!(["API"]))).await.problem(403);
    assert_eq!(server.get(ADMIN_TOKEN, path).await.ok(200).as_array().unwrap().len(), 0, "nothing written");

    let start = "2026-12-20T10:00:00Z";
    let m = server.post(ADMIN_TOKEN, path, window(start, "2026-12-20T11:00:00Z", json!(["API"]))).await;
    let id = m.ok(201)["id"].as_u64().unwrap();
    let updates = format!("{path}/{id}/updates");
    let done = server.post(ADMIN_TOKEN, &updates, json!({"status": "completed", "body": "Called off."})).await;
    assert_eq!(done.ok(200)["status"], "completed");
    let back = server.post(ADMIN_TOKEN, &updates, json!({"status": "in_progress"})).await;
    back.problem(409);
    let bad = server.post(ADMIN_TOKEN, &updates, json!({"status": "paused"})).await;
    assert_eq!(bad.problem(422)["field"], "status");
    server.post(ADMIN_TOKEN, &format!("{path}/999/updates"), json!({})).await.problem(404);
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/status/components").await.ok(200)[0]["status"], "operational");
}
