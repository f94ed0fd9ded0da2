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
    a_summary_over_1024_characters_is_refused_on_pagerdutys_endpoint_as_on_the_generic_one,
    a_change_event_is_placed_at_its_own_timestamp_never_in_the_future,
    paging_for_a_resolved_incident_is_refused_saying_it_was_not_sent,
    a_service_that_would_auto_declare_with_nobody_in_charge_or_paged_is_made_with_warnings,
    an_auto_declared_incident_is_muster_s_on_behalf_of_the_owner,
    the_timeline_folds_each_topic_change_into_its_cause_and_a_handover_into_one_line,
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
    let cut_short = reqwest::Client::new()
        .post(format!("{}/api/v1/incidents", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"title":"#)
        .send()
        .await
        .unwrap();
    assert_eq!(cut_short.status(), 400);
    let problem: Value = cut_short.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.starts_with("the body is not valid JSON"), "{detail}");
    assert!(!detail.contains("line ") && !detail.contains("column"), "{detail}");
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

async fn a_summary_over_1024_characters_is_refused_on_pagerdutys_endpoint_as_on_the_generic_one(server: TestServer) {
    let key = server.service("web", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let (long, longest) = ("x".repeat(1025), "x".repeat(1024));
    let pd = |summary: &str| {
        json!({"routing_key": key, "event_action": "trigger",
            "payload": {"summary": summary, "source": "lb", "severity": "error"}})
    };
    let refused = server.ingest("/v2/enqueue", &pd(&long)).await;
    let errors = refused.ok(400)["errors"].clone();
    assert!(
        errors[0].as_str().unwrap().contains("'payload.summary' has 1025 characters; the most is 1024"),
        "{errors}"
    );
    server.ingest("/v2/enqueue", &pd(&longest)).await.ok(202);

    let generic = format!("/api/v1/integrations/generic/{key}");
    let refused = server.ingest(&generic, &json!({"summary": long, "severity": "error"})).await;
    assert_eq!(refused.problem(422)["field"], "summary");
    server.ingest(&generic, &json!({"summary": longest, "severity": "error"})).await.ok(202);

    let change = json!({"routing_key": key, "payload": {"summary": long, "source": "ci"}});
    let refused = server.ingest("/v2/change/enqueue", &change).await;
    assert!(refused.ok(400)["errors"][0].as_str().unwrap().contains("payload.summary"));

    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    let lengths: Vec<usize> =
        alerts.as_array().unwrap().iter().map(|a| a["summary"].as_str().unwrap().chars().count()).collect();
    assert_eq!(lengths, [1024, 1024], "nothing was cut, the long ones were refused");
}

async fn a_change_event_is_placed_at_its_own_timestamp_never_in_the_future(server: TestServer) {
    let svc = server.service("web", json!({"auto_declare": {"error": "P2"}})).await;
    let key = svc["integration_key"].as_str().unwrap().to_owned();
    let trigger = json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "5xx", "source": "lb", "severity": "error"}});
    server.ingest("/v2/enqueue", &trigger).await.ok(202);
    let now = jiff::Timestamp::now();
    let ago = |minutes: i64| now.checked_sub(jiff::SignedDuration::from_mins(minutes)).unwrap();
    let change = |summary: &str, timestamp: Value| json!({"routing_key": key, "payload": {"summary": summary, "source": "ci", "timestamp": timestamp}});
    // Ten minutes ago, in RFC 3339; two hours ago, as PagerDuty's own example writes it.
    let deploy = ago(10);
    server.ingest("/v2/change/enqueue", &change("deploy v1.2", json!(deploy.to_string()))).await.ok(202);
    let earlier = ago(120).strftime("%Y-%m-%dT%H:%M:%S%.3f%z").to_string();
    assert!(earlier.ends_with("+0000"), "{earlier}");
    server.ingest("/v2/change/enqueue", &change("config v7", json!(earlier))).await.ok(202);
    // A day ahead is placed at its arrival, not in the future.
    let ahead = now.checked_add(jiff::SignedDuration::from_hours(24)).unwrap();
    server.ingest("/v2/change/enqueue", &change("deploy v1.3", json!(ahead.to_string()))).await.ok(202);
    let bad = server.ingest("/v2/change/enqueue", &change("deploy v1.4", json!("yesterday"))).await;
    assert!(bad.ok(400)["errors"][0].as_str().unwrap().contains("payload.timestamp"));

    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline").await.ok(200).clone();
    let at = |text: &str| -> jiff::Timestamp {
        let e = timeline.as_array().unwrap().iter().find(|e| e["text"].as_str().unwrap().ends_with(text)).unwrap();
        e["at"].as_str().unwrap().parse().unwrap()
    };
    assert_eq!(at("deploy v1.2"), deploy, "at the time its sender gave");
    assert_eq!(at("config v7").as_millisecond(), ago(120).as_millisecond());
    let placed = at("deploy v1.3");
    assert!(placed <= jiff::Timestamp::now() && placed >= now, "at its arrival: {placed}");
    let kinds: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "change").count(), 3, "{kinds:?}");
    let texts: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    let first_change = texts.iter().position(|t| t.contains("config v7")).unwrap();
    assert_eq!(first_change, 0, "the timeline is in time order: the earlier change comes first: {texts:?}");
}

async fn paging_for_a_resolved_incident_is_refused_saying_it_was_not_sent(server: TestServer) {
    server.user("bob", "responder").await;
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P2"})).await.ok(201);
    let page = json!({"target": {"user": "bob"}, "message": "help"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/1/pages", page.clone()).await.ok(201);
    server.patch(ADMIN_TOKEN, "/api/v1/incidents/1", json!({"status": "resolved"})).await.ok(200);
    let refused = server.post(ADMIN_TOKEN, "/api/v1/incidents/1/pages", page.clone()).await;
    let detail = refused.problem(409)["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("not sent: INC-1 is resolved"), "{detail}");
    let pages = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/pages").await.ok(200).clone();
    assert_eq!(pages.as_array().unwrap().len(), 1, "only the page sent before: {pages}");
    // Reopened, it pages again.
    server.patch(ADMIN_TOKEN, "/api/v1/incidents/1", json!({"status": "investigating"})).await.ok(200);
    server.post(ADMIN_TOKEN, "/api/v1/incidents/1/pages", page).await.ok(201);
}

async fn a_service_that_would_auto_declare_with_nobody_in_charge_or_paged_is_made_with_warnings(server: TestServer) {
    let made = server.service("web", json!({"auto_declare": {"critical": "P1"}})).await;
    let warnings: Vec<&str> = made["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("no owner") && warnings[0].contains("@muster as incident manager"), "{warnings:?}");
    assert!(warnings[1].contains("no escalation policy") && warnings[1].contains("page nobody"), "{warnings:?}");
    let quiet = server.service("batch", json!({})).await;
    assert!(quiet.get("warnings").is_none(), "nothing to warn of without auto_declare: {quiet}");
    assert!(server.get(ADMIN_TOKEN, "/api/v1/services").await.ok(200)[0].get("warnings").is_none());

    // Such an incident says so on its timeline, in Muster's name.
    let key = made["integration_key"].as_str().unwrap();
    let trigger = json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "site down", "source": "lb", "severity": "critical"}});
    server.ingest("/v2/enqueue", &trigger).await.ok(202);
    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline").await.ok(200).clone();
    let note = timeline.as_array().unwrap().iter().find(|e| e["kind"] == "note").expect("a note").clone();
    assert_eq!(note["actor"], "muster");
    let text = note["text"].as_str().unwrap();
    assert!(text.starts_with("Nobody is on this yet: web has no owner"), "{text}");
    assert!(text.contains("web has no escalation policy, so nobody was paged"), "{text}");
}

async fn an_auto_declared_incident_is_muster_s_on_behalf_of_the_owner(server: TestServer) {
    server.user("alice", "responder").await;
    server.user("bob", "responder").await;
    let policy = json!({"name": "web", "steps": [{"delay_seconds": 300, "targets": [{"user": "bob"}]}]});
    let policy = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", policy).await.ok(201)["id"].clone();
    let made = server
        .service("web", json!({"owner": "alice", "auto_declare": {"critical": "P1"}, "escalation_policy": policy}))
        .await;
    assert!(made.get("warnings").is_none(), "an owner and a policy: nothing to warn of: {made}");
    let key = made["integration_key"].as_str().unwrap();
    let trigger = json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "site down", "source": "lb", "severity": "critical"}});
    server.ingest("/v2/enqueue", &trigger).await.ok(202);

    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline").await.ok(200).clone();
    let entries = timeline.as_array().unwrap();
    let declared = entries.iter().find(|e| e["kind"] == "declared").unwrap();
    assert_eq!(declared["actor"], "muster", "the system declared it: {declared}");
    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/1").await.ok(200).clone();
    assert!(incident["summary"].as_str().unwrap().ends_with("On behalf of its owner, @alice."), "{incident}");
    assert_eq!(incident["incident_manager"], "alice");
    let roles: Vec<(&str, &str, &str)> = incident["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["role"].as_str().unwrap(), r["user"].as_str().unwrap(), r["assigned_by"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("first_responder", "alice", "muster"), ("incident_manager", "alice", "muster")]);
    assert!(entries.iter().all(|e| e["actor"] != "alice"), "nothing is credited to the owner: {timeline}");
    assert!(entries.iter().all(|e| e["kind"] != "note"), "no warning note when someone is paged");
}

fn kinds(entries: &Value) -> Vec<&str> {
    entries.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// The incident page's HTML as `handle` (password `correct horse battery`) sees it.
async fn incident_page(server: &TestServer, handle: &str, path: &str) -> String {
    let session = common::web_sign_in(server, handle, "correct horse battery").await.expect("signed in");
    let page = reqwest::Client::new().get(format!("{}{path}", server.url));
    page.header("cookie", format!("muster_session={session}")).send().await.unwrap().text().await.unwrap()
}

async fn the_timeline_folds_each_topic_change_into_its_cause_and_a_handover_into_one_line(server: TestServer) {
    let user = |h: &str| json!({"handle": h, "name": h, "email": format!("{h}@example.com"), "password": "correct horse battery"});
    server.post(ADMIN_TOKEN, "/api/v1/users", user("alice")).await.ok(201);
    server.post(ADMIN_TOKEN, "/api/v1/users", user("bob")).await.ok(201);
    let alice = server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({})).await.ok(201)["token"].clone();
    let alice = alice.as_str().unwrap();
    server.post(alice, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P1"})).await.ok(201);
    server.post(alice, "/api/v1/incidents/1/roles", json!({"role": "incident_manager", "user": "bob"})).await.ok(201);
    let topic = server.get(ADMIN_TOKEN, "/api/v1/incidents/1").await.ok(200)["topic"].as_str().unwrap().to_owned();

    let shown = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline").await.ok(200).clone();
    assert_eq!(kinds(&shown), ["declared", "role_assigned", "role_assigned", "role_assigned"], "{shown}");
    let texts: Vec<&str> = shown.as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts.iter().filter(|t| t.contains("handed over")).count(), 1, "the handover reads once: {texts:?}");
    let handover = &shown[3];
    assert_eq!(handover["text"], "@alice handed over incident manager to @bob");
    assert_eq!(handover["topic"], topic, "the cause carries the topic it set");
    assert!(shown[2]["topic"].as_str().unwrap().contains("IM @alice"), "{shown}");
    assert!(shown[0].get("topic").is_none() && shown[0].get("folded_into").is_none());

    // The topic changes are still there for those who ask.
    let topics = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline?kind=topic_changed").await.ok(200).clone();
    assert_eq!(kinds(&topics), ["topic_changed", "topic_changed"]);
    assert_eq!(topics[1]["folded_into"], handover["id"]);
    assert_eq!(topics[1]["text"], format!("Topic: {topic}"));
    let all = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline?all=true").await.ok(200).clone();
    assert_eq!(
        kinds(&all),
        [
            "declared",
            "role_assigned",
            "role_assigned",
            "topic_changed",
            "role_relieved",
            "role_assigned",
            "topic_changed"
        ]
    );
    assert_eq!(all[4]["folded_into"], handover["id"], "the relief half of the handover");
    let ids: Vec<u64> = all.as_array().unwrap().iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7], "every entry, for the hash chain");

    // The web timeline: the topic under its cause, the handover once.
    let html = incident_page(&server, "alice", "/incidents/INC-1").await;
    assert_eq!(html.matches("handed over incident manager to @bob").count(), 1, "{html}");
    assert!(html.contains("class=\"folded\" data-kind=\"topic_changed\""), "{html}");
    assert!(html.contains("↳ Topic: "), "{html}");
}
