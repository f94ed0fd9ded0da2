//! On-call schedules over HTTP, on SQLite and PostgreSQL.

mod common;

use common::{ADMIN_TOKEN, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    a_daily_rotation_answers_who_is_on_call_across_daylight_saving,
    an_override_wins_and_the_calendar_feed_shows_the_shifts,
    bad_schedules_get_problems_naming_the_field,
    escalation_policies_target_people_and_schedules_and_services_point_at_them,
    a_time_zone_in_the_wrong_case_is_stored_by_its_canonical_name,
);

async fn a_time_zone_in_the_wrong_case_is_stored_by_its_canonical_name(server: TestServer) {
    server.user("alice", "responder").await;
    let body = json!({"name": "Primary", "time_zone": " europe/berlin ", "layers": [
        {"rotation": {"users": ["alice"], "shift": "1d", "handoff": "09:00", "start": "2026-03-23"}}
    ]});
    let created = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await;
    assert_eq!(created.ok(201)["time_zone"], "Europe/Berlin");
    let id = &created.body["id"];
    assert_eq!(server.get(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}")).await.ok(200)["time_zone"], "Europe/Berlin");
}

async fn berlin(server: &TestServer) -> Value {
    for u in ["alice", "bob", "carol"] {
        server.user(u, "responder").await;
    }
    let body = json!({"name": "Primary", "time_zone": "Europe/Berlin", "layers": [
        {"rotation": {"users": ["alice", "bob"], "shift": "1d", "handoff": "09:00", "start": "2026-03-23"}}
    ]});
    server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.ok(201).clone()
}

async fn on_call(server: &TestServer, id: &Value, at: &str) -> Value {
    server.get(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}/on-call?at={at}")).await.ok(200)["users"].clone()
}

async fn a_daily_rotation_answers_who_is_on_call_across_daylight_saving(server: TestServer) {
    let s = berlin(&server).await;
    let id = &s["id"];
    assert_eq!(s["layers"][0]["rotation"]["shift"], "1d");
    assert_eq!(on_call(&server, id, "2026-03-23T07:59:59Z").await, json!([]), "before the first shift");
    assert_eq!(on_call(&server, id, "2026-03-23T08:00:00Z").await, json!(["alice"]));
    assert_eq!(on_call(&server, id, "2026-03-24T08:00:00Z").await, json!(["bob"]));

    // Spring forward on 2026-03-29: the handoff stays at 09:00 local, 07:00Z.
    let shifts = server
        .get(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}/shifts?from=2026-03-28T12:00:00Z&to=2026-03-30T12:00:00Z"))
        .await;
    let got: Vec<(String, String, String)> = shifts
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["user"].as_str().unwrap().into(), s["start"].as_str().unwrap().into(), s["end"].as_str().unwrap().into())
        })
        .collect();
    let want = [
        ("bob", "2026-03-28T12:00:00Z", "2026-03-29T07:00:00Z"),
        ("alice", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"),
        ("bob", "2026-03-30T07:00:00Z", "2026-03-30T12:00:00Z"),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())));
    let all = server.get(ADMIN_TOKEN, "/api/v1/schedules").await;
    assert_eq!(all.ok(200).as_array().unwrap().len(), 1);
}

async fn an_override_wins_and_the_calendar_feed_shows_the_shifts(server: TestServer) {
    let s = berlin(&server).await;
    let id = &s["id"];
    let o = json!({"user": "carol", "start": "2026-03-24T10:00:00Z", "end": "2026-03-24T12:00:00Z"});
    server.post(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}/overrides"), o).await.ok(201);
    assert_eq!(on_call(&server, id, "2026-03-24T11:00:00Z").await, json!(["carol"]));
    assert_eq!(on_call(&server, id, "2026-03-24T12:00:00Z").await, json!(["bob"]));
    assert_eq!(server.get(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}")).await.body["overrides"][0]["user"], "carol");

    // Calendar apps cannot send headers: a calendar feed token goes in the URL.
    let feed = server.post(ADMIN_TOKEN, "/api/v1/users/admin/calendar-token", json!({})).await.ok(201)["token"].clone();
    let feed = feed.as_str().unwrap();
    let path = format!("/api/v1/schedules/{id}/calendar.ics?from=2026-03-24T00:00:00Z&to=2026-03-25T00:00:00Z");
    let resp = server.http().get(format!("{}{path}&token={feed}", server.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let ics = resp.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"), "{ics}");
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 4, "alice, bob, carol, bob: {ics}");
    assert!(ics.contains("DTSTART:20260324T100000Z\r\nDTEND:20260324T120000Z\r\nSUMMARY:On call: @carol (Primary)"));
    server.request(None, Method::GET, &path, None).await.problem(401);
    server.request(None, Method::GET, &format!("{path}&token=mst_wrong"), None).await.problem(401);

    // Carol's own feed: only her shifts, across schedules.
    let mine = "/api/v1/users/carol/calendar.ics?from=2026-03-24T00:00:00Z&to=2026-03-25T00:00:00Z";
    let resp = server.http().get(format!("{}{mine}&token={feed}", server.url)).send().await.unwrap();
    let ics = resp.text().await.unwrap();
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1, "{ics}");
    assert!(ics.contains("SUMMARY:On call: @carol (Primary)"));
    server
        .request(None, Method::GET, &format!("/api/v1/users/nobody/calendar.ics?token={feed}"), None)
        .await
        .problem(404);
}

async fn bad_schedules_get_problems_naming_the_field(server: TestServer) {
    server.user("alice", "responder").await;
    let layer =
        |rotation: Value| json!({"name": "x", "time_zone": "Europe/Berlin", "layers": [{"rotation": rotation}]});
    let ok_rotation = json!({"users": ["alice"], "shift": "1d", "handoff": "09:00", "start": "2026-03-23"});
    let field = |r: &common::Reply, status: u16| r.problem(status)["field"].as_str().unwrap_or("").to_owned();

    let mut bad_tz = layer(ok_rotation.clone());
    bad_tz["time_zone"] = json!("Mars/Olympus");
    assert_eq!(field(&server.post(ADMIN_TOKEN, "/api/v1/schedules", bad_tz).await, 422), "time_zone");
    let mut r = ok_rotation.clone();
    r["shift"] = json!("1y");
    assert_eq!(field(&server.post(ADMIN_TOKEN, "/api/v1/schedules", layer(r)).await, 422), "layers[0].rotation.shift");
    let mut r = ok_rotation.clone();
    r["handoff"] = json!("25:00");
    assert_eq!(
        field(&server.post(ADMIN_TOKEN, "/api/v1/schedules", layer(r)).await, 422),
        "layers[0].rotation.handoff"
    );
    let mut r = ok_rotation.clone();
    r["users"] = json!(["nobody"]);
    assert_eq!(
        field(&server.post(ADMIN_TOKEN, "/api/v1/schedules", layer(r)).await, 422),
        "layers[0].rotation.users[0]"
    );
    let mut r = ok_rotation.clone();
    r["users"] = json!([]);
    assert_eq!(field(&server.post(ADMIN_TOKEN, "/api/v1/schedules", layer(r)).await, 422), "layers[0].rotation.users");
    let mut w = layer(ok_rotation.clone());
    w["layers"][0]["restrict"] = json!([{"days": ["someday"], "start": "09:00", "end": "17:00"}]);
    assert_eq!(field(&server.post(ADMIN_TOKEN, "/api/v1/schedules", w).await, 422), "layers[0].restrict[0].days");

    let created = server.post(ADMIN_TOKEN, "/api/v1/schedules", layer(ok_rotation.clone())).await.ok(201).clone();
    server.post(ADMIN_TOKEN, "/api/v1/schedules", layer(ok_rotation)).await.problem(409);
    let id = &created["id"];
    let o = json!({"user": "alice", "start": "2026-03-24T12:00:00Z", "end": "2026-03-24T10:00:00Z"});
    assert_eq!(field(&server.post(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}/overrides"), o).await, 422), "end");
    server.get(ADMIN_TOKEN, "/api/v1/schedules/999/on-call").await.problem(404);
    server.get(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}/on-call?at=yesterday")).await.problem(400);
    let span = format!("/api/v1/schedules/{id}/shifts?from=2026-03-24T00:00:00Z&to=2026-03-23T00:00:00Z");
    assert_eq!(field(&server.get(ADMIN_TOKEN, &span).await, 422), "to");
}

async fn escalation_policies_target_people_and_schedules_and_services_point_at_them(server: TestServer) {
    let schedule = berlin(&server).await;
    let sid = schedule["id"].as_u64().unwrap();
    let body = json!({"name": "Checkout", "repeat": 2, "steps": [
        {"delay_seconds": 0, "targets": [{"schedule": sid}]},
        {"delay_seconds": 300, "targets": [{"user": "carol"}, {"schedule": sid}]},
    ]});
    let policy = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", body.clone()).await.ok(201).clone();
    assert_eq!(policy["steps"][1]["targets"][0], json!({"user": "carol"}));
    assert_eq!(policy["repeat"], 2);
    server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", body).await.problem(409);
    let pid = policy["id"].as_u64().unwrap();
    assert_eq!(
        server.get(ADMIN_TOKEN, &format!("/api/v1/escalation-policies/{pid}")).await.ok(200)["name"],
        "Checkout"
    );
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/escalation-policies").await.ok(200).as_array().unwrap().len(), 1);
    server.get(ADMIN_TOKEN, "/api/v1/escalation-policies/999").await.problem(404);

    let svc = server.service("checkout", json!({"escalation_policy": pid})).await;
    assert_eq!(svc["escalation_policy"], pid);
    let field = |r: &common::Reply| r.problem(422)["field"].as_str().unwrap_or("").to_owned();
    let bad = server.post(ADMIN_TOKEN, "/api/v1/services", json!({"name": "x", "escalation_policy": 999})).await;
    assert_eq!(field(&bad), "escalation_policy");

    let step = |targets: Value| json!({"name": "Other", "steps": [{"delay_seconds": 60, "targets": targets}]});
    let r = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", step(json!([{"user": "nobody"}]))).await;
    assert_eq!(field(&r), "steps[0].targets[0]");
    let r = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", step(json!([{"schedule": 999}]))).await;
    assert_eq!(field(&r), "steps[0].targets[0]");
    let r = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", step(json!([]))).await;
    assert_eq!(field(&r), "steps[0].targets");
    let r = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", step(json!([{"team": "x"}]))).await;
    assert!(field(&r).starts_with("steps[0].targets[0]"), "{}", r.body);
    let r = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", json!({"name": "Empty", "steps": []})).await;
    assert_eq!(field(&r), "steps");
}
