//! The limits on input (`muster_domain::limits`), over HTTP on both
//! backends: each refusal is a 4xx problem naming the field, and a refused
//! request leaves nothing behind.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_TOKEN, ManualClock, TestServer};
use muster_domain::limits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    a_schedule_with_1441_windows_or_21_layers_is_refused_and_not_stored,
    a_shift_length_ending_in_a_non_ascii_character_is_a_422_not_a_500,
    an_alertmanager_payload_of_1001_alerts_gets_413_and_stores_nothing,
    an_unknown_integration_key_is_refused_before_the_body_is_read,
    a_user_holds_at_most_20_live_streams_and_the_next_gets_429,
    a_user_has_at_most_10_contact_methods_and_20_notification_rules,
);
mod with_a_manual_clock {
    use super::*;
    on_both_backends_with_manual_clock!(test_notifications_are_at_most_5_a_minute_per_user_with_retry_after);
}

fn layer(restrict: Value) -> Value {
    json!({"rotation": {"users": ["admin"], "shift": "1d", "handoff": "09:00", "start": "2026-03-23"}, "restrict": restrict})
}

async fn a_schedule_with_1441_windows_or_21_layers_is_refused_and_not_stored(server: TestServer) {
    let minutes: Vec<Value> = (0..1441)
        .map(|m| {
            let t = format!("{:02}:{:02}", m % 1440 / 60, m % 60);
            json!({"start": t, "end": t})
        })
        .collect();
    let body = json!({"name": "storm", "time_zone": "UTC", "layers": [layer(Value::Array(minutes))]});
    let reply = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await;
    let problem = reply.problem(422);
    assert_eq!(problem["field"], "layers[0].restrict");
    assert!(problem["detail"].as_str().unwrap().contains("at most 50"), "{problem}");

    let layers: Vec<Value> = (0..=limits::MAX_LAYERS).map(|_| layer(json!([]))).collect();
    let body = json!({"name": "deep", "time_zone": "UTC", "layers": layers});
    assert_eq!(server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.problem(422)["field"], "layers");
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/schedules").await.ok(200), &json!([]), "nothing stored");

    // The largest allowed one is taken, and its year of shifts listed.
    let windows: Vec<Value> = (0..limits::MAX_WINDOWS / limits::MAX_LAYERS)
        .map(|w| json!({"days": ["mon", "wed", "fri"], "start": format!("{:02}:00", 8 + w), "end": "18:00"}))
        .collect();
    let mut layers: Vec<Value> = (0..limits::MAX_LAYERS).map(|_| layer(Value::Array(windows.clone()))).collect();
    layers[0]["restrict"] = json!([]);
    let body = json!({"name": "largest", "time_zone": "Europe/Berlin", "layers": layers});
    let id = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.ok(201)["id"].clone();
    let path = format!("/api/v1/schedules/{id}/shifts?from=2026-03-23T00:00:00Z&to=2027-03-24T00:00:00Z");
    assert!(!server.get(ADMIN_TOKEN, &path).await.ok(200).as_array().unwrap().is_empty());
}

async fn a_shift_length_ending_in_a_non_ascii_character_is_a_422_not_a_500(server: TestServer) {
    let mut l = layer(json!([]));
    l["rotation"]["shift"] = json!("1é");
    let body = json!({"name": "accent", "time_zone": "UTC", "layers": [l]});
    let reply = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await;
    assert_eq!(reply.problem(422)["field"], "layers[0].rotation.shift");
    let mut l = layer(json!([]));
    l["rotation"]["shift"] = json!("52w");
    l["rotation"]["start"] = json!("-009999-01-01");
    let body = json!({"name": "ancient", "time_zone": "Pacific/Kiritimati", "layers": [l]});
    let id = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.ok(201)["id"].clone();
    for path in [
        format!("/api/v1/schedules/{id}/on-call?at=9999-12-30T00:00:00Z"),
        format!("/api/v1/schedules/{id}/shifts?from=9999-01-01T00:00:00Z&to=9999-12-30T00:00:00Z"),
        format!("/api/v1/schedules/{id}/shifts?from=-009999-01-03T00:00:00Z&to=-009998-01-01T00:00:00Z"),
    ] {
        let reply = server.get(ADMIN_TOKEN, &path).await;
        assert!(reply.status.as_u16() < 500, "{path}: {}", reply.status);
    }
}

fn alert(i: usize) -> Value {
    json!({"status": "firing", "labels": {"alertname": format!("A{i}")}, "fingerprint": format!("f{i:06}")})
}

async fn an_alertmanager_payload_of_1001_alerts_gets_413_and_stores_nothing(server: TestServer) {
    let key = server.service("db", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/integrations/alertmanager/{key}");
    let alerts: Vec<Value> = (0..=limits::MAX_ALERTS_PER_PAYLOAD).map(alert).collect();
    let reply = server.ingest(&path, &json!({"version": "4", "alerts": alerts})).await;
    assert_eq!(reply.problem(413)["field"], "alerts");
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200), &json!([]), "the store is unchanged");

    let alerts: Vec<Value> = (0..limits::MAX_ALERTS_PER_PAYLOAD).map(alert).collect();
    let reply = server.ingest(&path, &json!({"version": "4", "alerts": alerts})).await;
    assert_eq!(reply.ok(200)["accepted"], limits::MAX_ALERTS_PER_PAYLOAD);
}

async fn an_unknown_integration_key_is_refused_before_the_body_is_read(server: TestServer) {
    server.service("db", json!({})).await;
    let stranger = "ffffffffffffffffffffffffffffffff";
    for path in
        [format!("/api/v1/integrations/alertmanager/{stranger}"), format!("/api/v1/integrations/generic/{stranger}")]
    {
        // Neither JSON nor its content type: a known key would get 400 or 415.
        let reply = server.http().post(format!("{}{path}", server.url)).body("\u{1}not json").send().await.unwrap();
        assert_eq!(reply.status(), 404, "{path}");
        let problem: Value = reply.json().await.unwrap();
        assert_eq!(problem["field"], "integration_key");
    }
}

async fn a_user_holds_at_most_20_live_streams_and_the_next_gets_429(server: TestServer) {
    let bob = server.user("bob", "responder").await;
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "watched", "priority": "P2"})).await.ok(201);
    let open = || server.http().get(format!("{}/incidents/INC-1/events", server.url)).bearer_auth(&bob).send();
    let mut streams = Vec::new();
    for _ in 0..limits::MAX_LIVE_STREAMS_PER_USER {
        let s = open().await.unwrap();
        assert_eq!(s.status(), 200);
        streams.push(s);
    }
    let refused = open().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let admin = server.http().get(format!("{}/incidents/INC-1/events", server.url)).bearer_auth(ADMIN_TOKEN);
    assert_eq!(admin.send().await.unwrap().status(), 200, "each user counts on their own");
    assert_eq!(server.app.live_slots.held("bob"), limits::MAX_LIVE_STREAMS_PER_USER);
}

async fn a_user_has_at_most_10_contact_methods_and_20_notification_rules(server: TestServer) {
    let bob = server.user("bob", "responder").await;
    let add = |i: usize| json!({"kind": "email", "address": format!("bob+{i}@example.com")});
    for i in 0..limits::MAX_CONTACT_METHODS {
        server.post(&bob, "/api/v1/users/bob/contact-methods", add(i)).await.ok(201);
    }
    let reply = server.post(&bob, "/api/v1/users/bob/contact-methods", add(99)).await;
    assert_eq!(reply.problem(422)["field"], "contact_methods");
    let methods = server.get(&bob, "/api/v1/users/bob/contact-methods").await;
    assert_eq!(methods.ok(200).as_array().unwrap().len(), limits::MAX_CONTACT_METHODS);

    let method = methods.body[0]["id"].as_u64().unwrap();
    let rule = |d: usize| json!({"contact_method": method, "delay_seconds": d * 60});
    for d in 0..limits::MAX_NOTIFICATION_RULES {
        server.post(&bob, "/api/v1/users/bob/notification-rules", rule(d)).await.ok(201);
    }
    let reply = server.post(&bob, "/api/v1/users/bob/notification-rules", rule(99)).await;
    assert_eq!(reply.problem(422)["field"], "notification_rules");
    let rules = server.get(&bob, "/api/v1/users/bob/notification-rules").await;
    assert_eq!(rules.ok(200).as_array().unwrap().len(), limits::MAX_NOTIFICATION_RULES);
}

async fn test_notifications_are_at_most_5_a_minute_per_user_with_retry_after(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let bob = server.user("bob", "responder").await;
    let method = json!({"kind": "email", "address": "bob@example.com"});
    let id = server.post(&bob, "/api/v1/users/bob/contact-methods", method).await.ok(201)["id"].clone();
    let path = format!("/api/v1/users/bob/contact-methods/{id}/test");
    for _ in 0..limits::MAX_TEST_NOTIFICATIONS {
        server.post(&bob, &path, json!({})).await.ok(202);
        clock.advance(5);
    }
    let refused = server.post(&bob, &path, json!({})).await;
    refused.problem(429);
    // The first was 25 s ago: it leaves the minute in 35 s.
    assert_eq!(refused.headers["retry-after"], "35");
    clock.advance(34);
    server.post(&bob, &path, json!({})).await.problem(429);
    clock.advance(1);
    server.post(&bob, &path, json!({})).await.ok(202);
}

/// A server with short read timeouts, on SQLite (the timeouts are the
/// connection's, before any backend is involved).
async fn short_timeouts() -> (String, tokio::sync::oneshot::Sender<()>, muster_store::testing::TestDatabase) {
    let db = muster_store::testing::TestDatabase::new(muster_store::testing::Backend::Sqlite).await.unwrap();
    let app = Arc::new(muster_app::App::new(db.open().await, Arc::new(muster_app::SystemClock)));
    app.bootstrap_admin(Some(ADMIN_TOKEN)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let timeouts =
        muster_server::Timeouts { header_read: Duration::from_millis(500), body_read: Duration::from_millis(500) };
    tokio::spawn(muster_server::serve_with(
        listener,
        app,
        async {
            let _ = stopped.await;
        },
        timeouts,
    ));
    (addr, stop, db)
}

/// Reads what the server sends until it closes the connection (or 30 s
/// pass, which fails the test).
async fn read_to_close(stream: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server still holds the connection");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_slowly_is_cut_off() {
    let (addr, _stop, _db) = short_timeouts().await;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // One header byte every 100 ms, for at most 20 s: the server must hang up first.
    let mut cut_off = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream.write_all(b"X").await.is_err() {
            cut_off = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            Ok(Ok(n)) => {
                let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                assert!(!answer.starts_with("HTTP/1.1 200"), "answered a request never finished: {answer}");
                cut_off = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(cut_off, "a client dribbling its headers kept its connection for 20 s");

    // A client sending its headers at once is served.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    assert!(read_to_close(&mut stream).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_body_stalls_gets_408() {
    let (addr, _stop, _db) = short_timeouts().await;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/incidents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"title\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}
