//! The status page's subscribers, on both backends. By mail at a real SMTP
//! server (Debian's python3-aiosmtpd): nothing but the confirmation
//! reaches an address before it is confirmed through the mailed link; then
//! the external updates of its components do, each with a one-click
//! unsubscribe that ends them. By webhook at a receiver on 127.0.0.1:
//! confirmed by a first delivery answered with 2xx (a 3xx does not count),
//! then Statuspage's incident and component bodies, their keys those of
//! Statuspage's published samples (in `fixtures/`), signed. Components set
//! directly are on the incident's timeline.

mod common;

use std::time::Duration;

use common::external::eventually;
use common::receiver::Receiver;
use common::smtp::Smtp;
use common::{ADMIN_TOKEN, Setup, TestServer, allowing_receivers};
use muster_app::channels::webhook::signature;
use muster_store::testing::Backend;
use serde_json::{Value, json};

on_both_backends!(
    components_set_directly_are_on_the_incident_timeline_and_bad_requests_name_their_field,
    a_subscriber_changes_what_they_hear_of_on_the_page_their_mails_link_to,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_mail_subscriber_hears_nothing_before_confirming_then_its_components_until_one_click_unsubscribes() {
    a_mail_subscriber_hears_nothing_before_confirming_then_its_components_until_one_click_unsubscribes(Backend::Sqlite)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_mail_subscriber_hears_nothing_before_confirming_then_its_components_until_one_click_unsubscribes() {
    a_mail_subscriber_hears_nothing_before_confirming_then_its_components_until_one_click_unsubscribes(
        Backend::Postgres,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_webhook_subscriber_confirmed_by_a_2xx_receives_statuspage_shaped_incident_and_component_bodies() {
    a_webhook_subscriber_confirmed_by_a_2xx_receives_statuspage_shaped_incident_and_component_bodies(Backend::Sqlite)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_webhook_subscriber_confirmed_by_a_2xx_receives_statuspage_shaped_incident_and_component_bodies() {
    a_webhook_subscriber_confirmed_by_a_2xx_receives_statuspage_shaped_incident_and_component_bodies(Backend::Postgres)
        .await;
}

async fn component(server: &TestServer, name: &str) -> u64 {
    let body = json!({"name": name, "group": "Platform"});
    server.post(ADMIN_TOKEN, "/api/v1/status/components", body).await.ok(201)["id"].as_u64().unwrap()
}

async fn declare(server: &TestServer, title: &str) -> String {
    let body = json!({"title": title, "priority": "P1", "incident_manager": "admin"});
    format!("INC-{}", server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201)["number"])
}

async fn external(server: &TestServer, r: &str, body: &str, components: Value) {
    let update = json!({"audience": "external", "body": body, "status": "identified", "components": components});
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/updates"), update).await.ok(201);
}

async fn subscribe(server: &TestServer, body: Value) -> (u16, Value) {
    let r = server.http().post(format!("{}/status/subscribe", server.url)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The mails to `to` that contain `marker`.
fn mails(smtp: &Smtp, to: &str, marker: &str) -> Vec<String> {
    let to = format!("To: {to}");
    smtp.messages().into_iter().filter(|m| m.contains(&to) && m.contains(marker)).collect()
}

/// The first link in `mail` that contains `path`.
fn link(mail: &str, path: &str) -> String {
    let at = mail.find(path).unwrap_or_else(|| panic!("{path} in {mail}"));
    let start = mail[..at].rfind("http").expect("a URL");
    mail[start..].split(|c: char| c.is_whitespace() || c == '<' || c == '>').next().unwrap().to_owned()
}

/// Waits for `to`'s confirmation mail and confirms as a person does: the
/// link shows a button, which posts.
async fn confirm(server: &TestServer, smtp: &Smtp, to: &str) {
    let mail = eventually(Duration::from_secs(30), "the confirmation mail", || async {
        mails(smtp, to, "Confirm your status page subscription").pop()
    })
    .await;
    let url = link(&mail, "/confirm");
    assert!(url.starts_with(&server.url), "the link is the page's: {url}");
    let page = server.http().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form"), "a link a mail scanner follows confirms nothing");
    let done = server.http().post(&url).send().await.unwrap();
    assert_eq!(done.status(), 200, "confirmed");
}

async fn a_mail_subscriber_hears_nothing_before_confirming_then_its_components_until_one_click_unsubscribes(
    backend: Backend,
) {
    let Some(smtp) = Smtp::start().await else { return };
    let mut setup = Setup::default();
    setup.config.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    component(&server, "API").await;
    component(&server, "Dashboard").await;
    let r = declare(&server, "Checkout fails").await;

    let (status, said) = subscribe(&server, json!({"email": "sam@example.com", "components": ["API"]})).await;
    assert_eq!(status, 202, "{said}");
    // Before it is confirmed, an update of its component reaches nobody.
    external(&server, &r, "EARLY: card payments fail", json!([{"component": "API", "status": "partial_outage"}])).await;
    // A whole-page subscriber and one of the Dashboard only, confirmed.
    for (address, components) in [("all@example.com", json!([])), ("dash@example.com", json!(["Dashboard"]))] {
        subscribe(&server, json!({"email": address, "components": components})).await;
        confirm(&server, &smtp, address).await;
    }
    confirm(&server, &smtp, "sam@example.com").await;
    // Asking again for a confirmed address says the same and sends nothing.
    let (again, said_again) = subscribe(&server, json!({"email": "sam@example.com"})).await;
    assert_eq!((again, &said_again), (202, &said), "nothing revealed");

    external(&server, &r, "NEXT: payments fail for 30 %", json!([{"component": "API", "status": "major_outage"}]))
        .await;
    let mail = eventually(Duration::from_secs(30), "sam's mail of the update", || async {
        mails(&smtp, "sam@example.com", "NEXT").pop()
    })
    .await;
    assert!(mail.contains("API: Major outage"), "its component and its state: {mail}");
    assert!(mail.contains(&format!("{}/status/incidents/{r}", server.url)), "{mail}");
    assert!(mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{mail}");
    let unsubscribe = link(&mail, "/unsubscribe");
    assert!(mail.contains(&format!("List-Unsubscribe: <{unsubscribe}>")), "{mail}");
    eventually(Duration::from_secs(30), "the whole page's subscriber's mail", || async {
        mails(&smtp, "all@example.com", "NEXT").pop()
    })
    .await;

    // One click, as a mail client makes it (RFC 8058).
    let clicked = server
        .http()
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), 200);
    external(&server, &r, "LATER: payments recover", json!([{"component": "API", "status": "operational"}])).await;
    eventually(Duration::from_secs(30), "the whole page's subscriber's last mail", || async {
        mails(&smtp, "all@example.com", "LATER").pop()
    })
    .await;
    server.deliver_due().await;

    let sam: Vec<String> = mails(&smtp, "sam@example.com", "");
    let subjects: Vec<&str> = sam.iter().filter_map(|m| m.lines().find(|l| l.starts_with("Subject:"))).collect();
    assert_eq!(sam.len(), 2, "the confirmation and the one update: {subjects:?}");
    assert!(!sam.iter().any(|m| m.contains("EARLY") || m.contains("LATER")), "{subjects:?}");
    assert!(mails(&smtp, "dash@example.com", "payments").is_empty(), "the API's updates are not the Dashboard's");
    let listed = server.get(ADMIN_TOKEN, "/api/v1/status/subscribers").await.ok(200).clone();
    let addresses: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["address"].as_str().unwrap()).collect();
    assert_eq!(addresses, ["all@example.com", "dash@example.com"], "sam is gone: {listed}");
    // The public page never shows an address.
    let page = server.http().get(format!("{}/status", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("@example.com"));
}

/// The keys of `sample`, recursively, missing from `ours` (arrays: their
/// first items).
fn missing_keys(sample: &Value, ours: &Value, at: &str, out: &mut Vec<String>) {
    match (sample, ours) {
        (Value::Object(s), Value::Object(o)) => {
            for (k, v) in s {
                match o.get(k) {
                    None => out.push(format!("{at}.{k}")),
                    Some(mine) => missing_keys(v, mine, &format!("{at}.{k}"), out),
                }
            }
        }
        (Value::Array(s), Value::Array(o)) => {
            if let (Some(s), Some(o)) = (s.first(), o.first()) {
                missing_keys(s, o, &format!("{at}[0]"), out);
            }
        }
        _ => {}
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn a_webhook_subscriber_confirmed_by_a_2xx_receives_statuspage_shaped_incident_and_component_bodies(
    backend: Backend,
) {
    let setup = Setup { config: allowing_receivers(muster_app::Config::default()), ..Setup::default() };
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    let api = component(&server, "API").await;
    component(&server, "Dashboard").await;
    let (hook, url) = Receiver::start(vec![]).await;
    // A receiver that redirects is not confirmed by it.
    let (redirecting, redirect_url) = Receiver::start(vec![axum::http::StatusCode::FOUND]).await;

    let (status, said) = subscribe(&server, json!({"webhook": url, "components": ["API"]})).await;
    assert_eq!(status, 201, "{said}");
    let secret = said["secret"].as_str().unwrap().to_owned();
    let (status, _) = subscribe(&server, json!({"webhook": redirect_url})).await;
    assert_eq!(status, 201);
    let (status, twice) = subscribe(&server, json!({"webhook": url})).await;
    assert_eq!(status, 409, "{twice}");
    let (status, bad) = subscribe(&server, json!({"webhook": "ftp://example.com/x"})).await;
    assert_eq!((status, bad["field"].as_str()), (422, Some("webhook")), "{bad}");

    eventually(Duration::from_secs(30), "both first deliveries", || async {
        (hook.count() == 1 && redirecting.count() == 1).then_some(())
    })
    .await;
    let first = hook.bodies()[0].clone();
    assert!(first["meta"]["unsubscribe"].as_str().unwrap().starts_with(&server.url), "{first}");
    let confirmed = eventually(Duration::from_secs(30), "the 2xx confirms", || async {
        let list = server.get(ADMIN_TOKEN, "/api/v1/status/subscribers").await.ok(200).clone();
        let states: Vec<bool> = list.as_array().unwrap().iter().map(|s| s["confirmed"].as_bool().unwrap()).collect();
        (states.first() == Some(&true)).then_some(states)
    })
    .await;
    assert_eq!(confirmed, [true, false], "a 302 confirms nothing");

    let r = declare(&server, "Checkout fails").await;
    external(&server, &r, "Card payments fail", json!([{"component": "API", "status": "partial_outage"}])).await;
    eventually(Duration::from_secs(30), "the incident and the component bodies", || async {
        (hook.count() == 3).then_some(())
    })
    .await;
    let bodies = hook.bodies();
    let incident = bodies.iter().find(|b| b.get("incident").is_some()).expect("an incident body").clone();
    let changed = bodies.iter().find(|b| b.get("component_update").is_some()).expect("a component body").clone();
    let mut missing = Vec::new();
    missing_keys(&fixture("statuspage-webhook-incident.json"), &incident, "", &mut missing);
    missing_keys(&fixture("statuspage-webhook-component.json"), &changed, "", &mut missing);
    assert!(missing.is_empty(), "Statuspage's keys missing: {missing:?}\n{incident}\n{changed}");
    assert_eq!(incident["page"]["status_indicator"], "major", "a partial outage rolls up to major");
    assert_eq!(incident["incident"]["status"], "identified");
    let update = &incident["incident"]["incident_updates"][0];
    assert_eq!(update["body"], "Card payments fail");
    assert_eq!(update["affected_components"][0]["old_status"], "operational");
    assert_eq!(update["affected_components"][0]["new_status"], "partial_outage");
    assert_eq!(changed["component"]["id"], api.to_string());
    assert_eq!(changed["component_update"]["new_status"], "partial_outage");
    for (headers, body) in hook.got.lock().unwrap().iter() {
        let ts: i64 = headers["x-muster-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(headers["x-muster-signature"].to_str().unwrap(), signature(&secret, ts, body), "signed");
    }

    // Set directly, for the incident: a component body, an entry on its timeline.
    let path = format!("/api/v1/status/components/{api}/status");
    let set = server.put(ADMIN_TOKEN, &path, json!({"status": "degraded_performance", "incident": r})).await;
    assert_eq!(set.ok(200)["status"], "degraded_performance");
    eventually(Duration::from_secs(30), "the direct change's body", || async { (hook.count() == 4).then_some(()) })
        .await;
    let last = hook.bodies().pop().unwrap();
    let mut missing = Vec::new();
    missing_keys(&fixture("statuspage-webhook-component.json"), &last, "", &mut missing);
    assert!(missing.is_empty(), "{missing:?}: {last}");
    assert_eq!(
        (last["component_update"]["old_status"].as_str(), last["component_update"]["new_status"].as_str()),
        (Some("partial_outage"), Some("degraded_performance"))
    );
    assert_eq!(last["page"]["status_indicator"], "minor");
    // The Dashboard is not this subscriber's.
    let dashboard = server.get(ADMIN_TOKEN, "/api/v1/status/components").await.ok(200)[1]["id"].as_u64().unwrap();
    let other = format!("/api/v1/status/components/{dashboard}/status");
    server.put(ADMIN_TOKEN, &other, json!({"status": "major_outage"})).await.ok(200);
    server.deliver_due().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.count(), 4, "nothing of the Dashboard");
    assert_eq!(redirecting.count(), 1, "an unconfirmed webhook hears nothing more");
}

async fn components_set_directly_are_on_the_incident_timeline_and_bad_requests_name_their_field(server: TestServer) {
    let api = component(&server, "API").await;
    let r = declare(&server, "Checkout fails").await;
    let rita = server.user("rita", "responder").await;
    let path = format!("/api/v1/status/components/{api}/status");

    let bad = server.put(ADMIN_TOKEN, &path, json!({"status": "on_fire"})).await;
    assert_eq!(bad.problem(422)["field"], "status");
    let bad = server.put(ADMIN_TOKEN, &path, json!({"status": "major_outage", "incident": "yesterday"})).await;
    assert_eq!(bad.problem(422)["field"], "incident");
    let bad = server.put(ADMIN_TOKEN, &path, json!({"status": "major_outage", "incident": "INC-999"})).await;
    bad.problem(404);
    let bad = server.put(ADMIN_TOKEN, "/api/v1/status/components/999/status", json!({"status": "major_outage"})).await;
    assert_eq!(bad.problem(404)["field"], "id");
    // A responder without a role in the incident may not, nor without one.
    server.put(&rita, &path, json!({"status": "major_outage", "incident": r})).await.problem(403);
    server.put(&rita, &path, json!({"status": "major_outage"})).await.problem(403);
    let unchanged = server.get(ADMIN_TOKEN, &format!("/api/v1/status/components/{api}")).await.ok(200).clone();
    assert_eq!(unchanged["status"], "operational", "nothing written");

    // The external communications manager may.
    let role = json!({"role": "communications_manager", "user": "rita", "scope": "external"});
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/roles"), role).await.ok(201);
    let set = server.put(&rita, &path, json!({"status": "major_outage", "incident": r})).await;
    assert_eq!(set.ok(200)["status"], "major_outage");
    // Again: in that state already, nothing more is written.
    server.put(&rita, &path, json!({"status": "major_outage", "incident": r})).await.ok(200);
    let timeline = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline")).await.ok(200).clone();
    let entries: Vec<&Value> = timeline.as_array().unwrap().iter().filter(|e| e["kind"] == "component_set").collect();
    assert_eq!(entries.len(), 1, "{timeline}");
    assert_eq!(entries[0]["text"], "@rita set API on the status page to Major outage (was Operational)");
    let status = reqwest::get(format!("{}/api/v2/status.json", server.url)).await.unwrap();
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["status"]["indicator"], "critical");
}

async fn a_subscriber_changes_what_they_hear_of_on_the_page_their_mails_link_to(server: TestServer) {
    component(&server, "API").await;
    let dashboard = component(&server, "Dashboard").await;
    let (status, _) = subscribe(&server, json!({"email": "sam@example.com", "components": ["API"]})).await;
    assert_eq!(status, 202);
    let token = server.app.store.subscribers(false).await.unwrap()[0].token.clone();
    let url = format!("{}/status/subscriptions/{token}", server.url);
    let page = server.http().get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"1\" checked") && page.contains("value=\"2\">"), "the API chosen: {page}");
    assert!(!page.contains("sam@example.com"), "the address is not shown");
    let form = |body: &str| {
        server
            .http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
    };
    assert_eq!(form(&format!("components={dashboard}")).await.unwrap().status(), 200);
    assert_eq!(server.app.store.subscribers(false).await.unwrap()[0].components, [dashboard]);
    let bad = form("components=Nope").await.unwrap();
    assert_eq!(bad.status(), 422);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["field"], "components[0]", "{problem}");
    assert_eq!(form("").await.unwrap().status(), 200, "none: the whole page");
    assert!(server.app.store.subscribers(false).await.unwrap()[0].components.is_empty());
    let gone = server.http().get(format!("{}/status/subscriptions/nope", server.url)).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}
