//! Alert ingestion and triage over HTTP, with the payloads real clients
//! send (captured in tests/fixtures), on SQLite and PostgreSQL.

mod common;

use common::{ADMIN_TOKEN, TestServer};
use muster_app::ingest::RateLimit;
use muster_store::testing::Backend;
use serde_json::{Value, json};

on_both_backends!(
    pagerduty_client_payloads_trigger_deduplicate_acknowledge_and_resolve,
    alertmanager_webhook_payloads_fire_and_resolve_each_alert_by_fingerprint,
    bad_pagerduty_events_get_pagerduty_errors_naming_each_field,
    the_generic_hook_takes_plain_json,
    two_hundred_concurrent_triggers_make_one_alert_and_one_incident,
    the_first_responder_assesses_declares_and_links,
    a_change_event_shows_beside_the_symptoms,
);

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the fixture exists")).expect("the fixture is JSON")
}

/// A captured client request's body, sent to our service's key.
fn pd_body(name: &str, key: &str) -> Value {
    let mut f = fixture(name);
    let mut body = if f.get("body").is_some() { f["body"].take() } else { f };
    body["routing_key"] = json!(key);
    body
}

async fn pagerduty_client_payloads_trigger_deduplicate_acknowledge_and_resolve(server: TestServer) {
    let key = server.service("db", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let trigger = pd_body("pdpyras-5.4.1-trigger.json", &key);
    let reply = server.ingest("/v2/enqueue", &trigger).await;
    assert_eq!(reply.ok(202), &json!({"status": "success", "message": "Event processed", "dedup_key": "disk-db-1"}));
    server.ingest("/v2/enqueue", &trigger).await.ok(202);

    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    let alert = &alerts[0];
    assert_eq!((alert["count"].as_u64(), alert["severity"].as_str()), (Some(2), Some("critical")));
    assert_eq!(alert["summary"], "disk full on db-1");
    assert_eq!(alert["details"]["custom_details"]["pct"], 98);

    let no_key = server.ingest("/v2/enqueue", &pd_body("pagerduty-7.2.0-trigger-no-dedup-key.json", &key)).await;
    let generated = no_key.ok(202)["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "a dedup key is generated and returned");

    let mut ack = pd_body("pagerduty-7.2.0-acknowledge.json", &key);
    ack["dedup_key"] = json!("disk-db-1");
    server.ingest("/v2/enqueue", &ack).await.ok(202);
    let id = alert["id"].as_u64().unwrap();
    assert_eq!(server.get(ADMIN_TOKEN, &format!("/api/v1/alerts/{id}")).await.body["status"], "acknowledged");
    server.ingest("/v2/enqueue", &pd_body("pdpyras-5.4.1-resolve.json", &key)).await.ok(202);
    let resolved = server.get(ADMIN_TOKEN, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!(resolved.body["status"], "resolved");

    // Alertmanager's own pagerduty_configs payload.
    let am = pd_body("alertmanager-0.25-pagerduty-trigger.json", &key);
    server.ingest("/v2/enqueue", &am).await.ok(202);
    let open = server.get(ADMIN_TOKEN, "/api/v1/alerts?status=triggered").await;
    assert!(
        open.body.as_array().unwrap().iter().any(|a| a["summary"] == "[FIRING:1] PdTest (lb-2 critical pagerduty)")
    );
}

async fn alertmanager_webhook_payloads_fire_and_resolve_each_alert_by_fingerprint(server: TestServer) {
    let key = server.service("api", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/integrations/alertmanager/{key}");
    let firing = fixture("alertmanager-0.25-webhook-firing.json");
    assert_eq!(server.ingest(&path, &firing).await.ok(200)["accepted"], 1);
    server.ingest(&path, &firing).await.ok(200);
    let resolved = fixture("alertmanager-0.25-webhook-resolved.json");
    server.ingest(&path, &resolved).await.ok(200);

    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    let by_key = |k: &str| alerts.as_array().unwrap().iter().find(|a| a["dedup_key"] == k).cloned();
    let latency = by_key("e53f292757fdc998").expect("the firing alert");
    assert_eq!((latency["count"].as_u64(), latency["status"].as_str()), (Some(2), Some("triggered")));
    assert_eq!(latency["severity"], "critical", "severity=page is critical");
    assert_eq!(latency["summary"], "p99 latency above 2s");
    assert_eq!(latency["links"][0]["href"], "http://runbooks.example.test/latency");
    assert!(by_key("9556f853bb27ef8b").is_none(), "a resolve with nothing open is accepted and ignored");

    // Unknown fields are ignored; an unknown key is a 404; garbage is a 4xx.
    let mut extra = firing.clone();
    extra["somethingNew"] = json!({"x": 1});
    server.ingest(&path, &extra).await.ok(200);
    server.ingest("/api/v1/integrations/alertmanager/ffffffffffffffffffffffffffffffff", &firing).await.problem(404);
    server.ingest(&path, &json!({"alerts": "nope"})).await.problem(422);
    let mut bad = firing;
    bad["alerts"][0]["status"] = json!("smouldering");
    assert_eq!(server.ingest(&path, &bad).await.problem(422)["field"], "alerts[0].status");
}

async fn bad_pagerduty_events_get_pagerduty_errors_naming_each_field(server: TestServer) {
    let key = server.service("db", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let reply = server
        .ingest("/v2/enqueue", &json!({"routing_key": key, "event_action": "trigger", "payload": {"severity": "bad"}}))
        .await;
    let body = reply.ok(400);
    assert_eq!(body["status"], "invalid event");
    let errors: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for field in ["payload.summary", "payload.source", "payload.severity"] {
        assert!(errors.iter().any(|e| e.contains(field)), "{field} in {errors:?}");
    }
    let unknown = server
        .ingest(
            "/v2/enqueue",
            &json!({"routing_key": "ffffffffffffffffffffffffffffffff", "event_action": "resolve", "dedup_key": "x"}),
        )
        .await;
    assert!(unknown.ok(400)["errors"][0].as_str().unwrap().contains("routing_key"));
    let no_dedup = server.ingest("/v2/enqueue", &json!({"routing_key": key, "event_action": "resolve"})).await;
    assert!(no_dedup.ok(400)["errors"][0].as_str().unwrap().contains("dedup_key"));
    let garbage = server.request(None, reqwest::Method::POST, "/v2/enqueue", Some(json!([1, 2]))).await;
    assert_eq!(garbage.ok(400)["status"], "invalid event");
}

async fn the_generic_hook_takes_plain_json(server: TestServer) {
    let key = server.service("batch", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/integrations/generic/{key}");
    let reply = server
        .ingest(&path, &json!({"summary": "nightly export failed", "severity": "error", "dedup_key": "export"}))
        .await;
    assert_eq!(reply.ok(202)["dedup_key"], "export");
    let resolve = server.ingest(&path, &json!({"action": "resolve", "dedup_key": "export"})).await;
    resolve.ok(202);
    let alert = server.get(ADMIN_TOKEN, &format!("/api/v1/alerts/{}", reply.body["alert_id"])).await;
    assert_eq!(alert.body["status"], "resolved");
    assert_eq!(server.ingest(&path, &json!({"severity": "error"})).await.problem(422)["field"], "summary");
    assert_eq!(
        server.ingest(&path, &json!({"summary": "x", "severity": "loud"})).await.problem(422)["field"],
        "severity"
    );
    assert_eq!(server.ingest(&path, &json!({"summary": "x", "colour": "red"})).await.problem(422)["field"], "colour");
}

async fn two_hundred_concurrent_triggers_make_one_alert_and_one_incident(server: TestServer) {
    server.user("owner", "responder").await;
    let svc = server.service("checkout", json!({"owner": "owner", "auto_declare": {"critical": "P1"}})).await;
    let key = svc["integration_key"].as_str().unwrap().to_owned();
    let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "checkout-5xx",
                      "payload": {"summary": "checkout 5xx", "source": "lb", "severity": "critical"}});
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (http, url, body) = (server.http(), server.url.clone(), body.clone());
            tokio::spawn(async move {
                http.post(format!("{url}/v2/enqueue")).json(&body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["count"], 200);
    let incidents = server.get(ADMIN_TOKEN, "/api/v1/incidents").await.ok(200).clone();
    assert_eq!(incidents.as_array().unwrap().len(), 1);
    let inc = &incidents[0];
    assert_eq!((inc["priority"].as_str(), inc["incident_manager"].as_str()), (Some("P1"), Some("owner")));
    assert_eq!(alerts[0]["incident"], inc["ref"]);
}

async fn the_first_responder_assesses_declares_and_links(server: TestServer) {
    let fr = server.user("fiona", "responder").await;
    let key = server.service("search", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/integrations/generic/{key}");
    let first =
        server.ingest(&path, &json!({"summary": "search latency", "severity": "warning", "dedup_key": "a"})).await;
    let second =
        server.ingest(&path, &json!({"summary": "search errors", "severity": "error", "dedup_key": "b"})).await;
    let (a, b) = (first.body["alert_id"].as_u64().unwrap(), second.body["alert_id"].as_u64().unwrap());

    server.post(&fr, &format!("/api/v1/alerts/{a}/acknowledge"), json!({})).await.ok(200);
    let assess = json!({"customer_impact": "many", "services_affected": 1});
    let assessed = server.post(&fr, &format!("/api/v1/alerts/{a}/assess"), assess).await;
    assert_eq!(assessed.ok(200)["assessment"]["suggested_priority"], "P2");
    assert_eq!(assessed.body["status"], "acknowledged");
    let bad = server.post(&fr, &format!("/api/v1/alerts/{a}/assess"), json!({"customer_impact": "lots"})).await;
    assert_eq!(bad.problem(422)["field"], "customer_impact");

    let declared = server.post(&fr, &format!("/api/v1/alerts/{a}/declare"), json!({})).await;
    let inc = declared.ok(201).clone();
    assert_eq!((inc["priority"].as_str(), inc["title"].as_str()), (Some("P2"), Some("search latency")));
    assert!(inc["roles"].as_array().unwrap().iter().any(|r| r["role"] == "first_responder" && r["user"] == "fiona"));
    assert_eq!(inc["alerts"][0]["id"], a);
    server.post(&fr, &format!("/api/v1/alerts/{a}/declare"), json!({})).await.problem(409);

    let r = inc["ref"].as_str().unwrap();
    let linked = server.post(&fr, &format!("/api/v1/incidents/{r}/alerts"), json!({"alert_id": b})).await;
    assert_eq!(linked.ok(200)["alerts"].as_array().unwrap().len(), 2);
    server.post(&fr, &format!("/api/v1/incidents/{r}/alerts"), json!({"alert_id": 999})).await.problem(422);

    for id in [a, b] {
        server.post(&fr, &format!("/api/v1/alerts/{id}/resolve"), json!({})).await.ok(200);
    }
    let inc = server.get(&fr, &format!("/api/v1/incidents/{r}")).await;
    assert_eq!(inc.body["all_alerts_resolved"], true, "a hint");
    assert_eq!(inc.body["status"], "investigating", "resolving the alerts does not resolve the incident");
    let timeline = server.get(&fr, &format!("/api/v1/incidents/{r}/timeline")).await;
    let kinds: Vec<&str> = timeline.body.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "alert_resolved").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"alert_linked"));
}

async fn a_change_event_shows_beside_the_symptoms(server: TestServer) {
    let svc = server.service("web", json!({"auto_declare": {"error": "P2"}})).await;
    let key = svc["integration_key"].as_str().unwrap().to_owned();
    let trigger = json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "5xx", "source": "lb", "severity": "error"}});
    server.ingest("/v2/enqueue", &trigger).await.ok(202);
    let change = pd_body("pagerduty-7.2.0-change-event.json", &key);
    let reply = server.ingest("/v2/change/enqueue", &change).await;
    assert_eq!(reply.ok(202)["status"], "success");
    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline").await;
    let last = timeline.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["text"].as_str()),
        (Some("change"), Some("Change on web from ci: deploy v1.2"))
    );
    let bad = server.ingest("/v2/change/enqueue", &json!({"routing_key": key, "payload": {}})).await;
    assert!(bad.ok(400)["errors"][0].as_str().unwrap().contains("payload.summary"));
}

#[tokio::test]
async fn an_integration_over_its_rate_gets_429_with_retry_after() {
    let limit = RateLimit { per_second: 0.01, burst: 2.0 };
    let server = TestServer::start_with_rate_limit(Backend::Sqlite, limit).await.unwrap();
    let key = server.service("noisy", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let body = json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "x", "source": "y", "severity": "info"}});
    server.ingest("/v2/enqueue", &body).await.ok(202);
    server.ingest("/v2/enqueue", &body).await.ok(202);
    let throttled = server.ingest("/v2/enqueue", &body).await;
    assert_eq!(throttled.ok(429)["status"], "throttle event");
    let wait: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1);
    let generic = server.ingest(&format!("/api/v1/integrations/generic/{key}"), &json!({"summary": "x"})).await;
    generic.problem(429);
    assert!(generic.headers.contains_key("retry-after"));
}
