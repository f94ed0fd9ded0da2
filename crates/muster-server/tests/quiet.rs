//! Quiet mistakes, made loud: input that was taken without a word, or
//! refused in Rust's words, on SQLite and PostgreSQL.

mod common;

use common::{ADMIN_TOKEN, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    a_rotation_listing_someone_twice_is_refused_naming_its_users,
    a_rotation_starting_years_ahead_is_made_with_a_warning,
    bad_json_is_refused_in_the_apis_words_not_rusts,
    a_bad_limit_says_what_a_limit_is_on_every_list,
);

fn layer(users: &[&str], start: &str) -> Value {
    json!({"rotation": {"users": users, "shift": "1d", "handoff": "09:00", "start": start}})
}

async fn a_rotation_listing_someone_twice_is_refused_naming_its_users(server: TestServer) {
    for u in ["alice", "bob"] {
        server.user(u, "responder").await;
    }
    let body = json!({"name": "Primary", "time_zone": "Europe/Berlin",
        "layers": [layer(&["alice", "bob"], "2026-03-23"), layer(&["bob", "alice", "bob"], "2026-03-23")]});
    let reply = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await;
    let problem = reply.problem(422);
    assert_eq!(problem["field"], "layers[1].rotation.users");
    assert!(problem["detail"].as_str().unwrap().contains("@bob is in this rotation twice"), "{problem}");
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/schedules").await.ok(200), &json!([]), "nothing was made");
}

async fn a_rotation_starting_years_ahead_is_made_with_a_warning(server: TestServer) {
    server.user("alice", "responder").await;
    let body = json!({"name": "Primary", "time_zone": "Europe/Berlin", "layers": [layer(&["alice"], "2030-01-01")]});
    let made = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.ok(201).clone();
    let warnings = made["warnings"].as_array().expect("warnings in the answer");
    assert_eq!(warnings.len(), 1, "{made}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.starts_with("layers[0].rotation.start: the rotation starts on 2030-01-01"), "{warning}");
    assert!(warning.contains("nobody on call"), "{warning}");

    let soon = json!({"name": "Soon", "time_zone": "UTC", "layers": [layer(&["alice"], "2020-01-01")]});
    let made = server.post(ADMIN_TOKEN, "/api/v1/schedules", soon).await.ok(201).clone();
    assert!(made.get("warnings").is_none(), "no warnings, no field: {made}");
}

/// Words of Rust, not of the API, that no problem may carry.
fn assert_in_api_words(problem: &Value) {
    let detail = problem["detail"].as_str().unwrap();
    for rust in ["struct ", "u32", "u64", "usize", "i64", "invalid digit", "invalid type", "with 4 elements", "Request"]
    {
        assert!(!detail.contains(rust), "{rust:?} in {detail:?}");
    }
}

async fn bad_json_is_refused_in_the_apis_words_not_rusts(server: TestServer) {
    server.user("alice", "responder").await;
    // A list where an object belongs: the body names its fields.
    let reply = server.post(ADMIN_TOKEN, "/api/v1/incidents", json!(["Checkout fails", "P1", null, null])).await;
    let problem = reply.problem(422).clone();
    assert_in_api_words(&problem);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.starts_with("the body must be a JSON object with the fields `title`, `priority`"), "{detail}");
    assert!(detail.ends_with("not a list"), "{detail}");

    let cases = [
        (
            "/api/v1/incidents",
            json!({"title": 5, "priority": "P1"}),
            "title",
            "`title` must be text (a JSON string), not 5",
        ),
        ("/api/v1/incidents", json!("declare"), ".", "the body must be a JSON object with the fields `title`"),
        (
            "/api/v1/escalation-policies",
            json!({"name": "p", "repeat": "twice", "steps": []}),
            "repeat",
            "`repeat` must be a whole number, 0 or more, not \"twice\"",
        ),
        (
            "/api/v1/escalation-policies",
            json!({"name": "p", "repeat": -1, "steps": []}),
            "repeat",
            "`repeat` must be a whole number, 0 or more, not -1",
        ),
        (
            "/api/v1/schedules",
            json!({"name": "p", "time_zone": "UTC", "layers": "alice"}),
            "layers",
            "`layers` must be a list (a JSON array), not \"alice\"",
        ),
        (
            "/api/v1/users",
            json!({"handle": "bob", "name": ["Bob"]}),
            "name",
            "`name` must be text (a JSON string), not a list",
        ),
    ];
    for (path, body, field, starts) in cases {
        let reply = server.post(ADMIN_TOKEN, path, body.clone()).await;
        let problem = reply.problem(422).clone();
        assert_eq!(problem["field"], field, "{path} {body}: {problem}");
        assert!(problem["detail"].as_str().unwrap().starts_with(starts), "{path} {body}: {problem}");
        assert_in_api_words(&problem);
    }
    // Not JSON at all says so, without a line and column of serde's.
    let reply = server.request(Some(ADMIN_TOKEN), Method::POST, "/api/v1/incidents", None).await;
    assert!(reply.status == 400 || reply.status == 415, "{}", reply.status);
}

async fn a_bad_limit_says_what_a_limit_is_on_every_list(server: TestServer) {
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "x", "priority": "P3"})).await.ok(201);
    for path in ["/api/v1/alerts", "/api/v1/incidents", "/api/v1/incidents/1/timeline", "/api/v1/jobs"] {
        for limit in ["-5", "abc", "0", "5000", "1.5", ""] {
            let reply = server.get(ADMIN_TOKEN, &format!("{path}?limit={limit}")).await;
            let problem = reply.problem(400).clone();
            assert_eq!(problem["field"], "limit", "{path}?limit={limit}: {problem}");
            assert_eq!(problem["detail"], "`limit` must be a whole number from 1 to 1000", "{path}?limit={limit}");
        }
    }
}
