//! Tokens that can be revoked, on both backends: names and expiry, listing
//! without secrets, revoking (live streams close), disabling a user,
//! calendar feed tokens that open nothing else, and the admin token the
//! server setting makes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_TOKEN, ManualClock, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends_with_manual_clock!(
    a_revoked_token_gets_401,
    an_expired_token_gets_401,
    tokens_are_listed_without_their_secrets_and_only_to_their_user_and_admins,
    a_token_is_made_without_a_body_for_old_clients,
    a_disabled_user_cannot_sign_in_or_use_a_token,
    a_disabled_user_is_skipped_by_paging_and_cannot_be_given_a_role,
    a_calendar_feed_token_cannot_call_the_api,
    the_admin_token_setting_replaces_the_token_it_set_before,
    a_live_stream_closes_when_its_token_is_revoked,
    a_live_stream_closes_when_its_user_is_disabled,
);

/// A new API token for `handle`, made by an admin, with `body`.
async fn token_for(server: &TestServer, handle: &str, body: Value) -> Value {
    server.post(ADMIN_TOKEN, &format!("/api/v1/users/{handle}/tokens"), body).await.ok(201).clone()
}

fn secret(v: &Value) -> String {
    v["token"].as_str().expect("a token").to_owned()
}

async fn a_revoked_token_gets_401(server: TestServer, _clock: Arc<ManualClock>) {
    let alice = server.user("alice", "responder").await;
    let laptop = token_for(&server, "alice", json!({"name": "laptop"})).await;
    let laptop_token = secret(&laptop);
    server.get(&laptop_token, "/api/v1/me").await.ok(200);

    let id = laptop["id"].as_u64().unwrap();
    server.delete(&alice, &format!("/api/v1/users/alice/tokens/{id}")).await.ok(204);
    let refused = server.get(&laptop_token, "/api/v1/me").await;
    let problem = refused.problem(401);
    assert_eq!(problem["type"], "urn:muster:problem:token-revoked");
    assert!(problem["detail"].as_str().unwrap().contains("revoked"), "{problem}");
    // Once is enough; the other token goes on working.
    server.delete(&alice, &format!("/api/v1/users/alice/tokens/{id}")).await.problem(404);
    server.get(&alice, "/api/v1/me").await.ok(200);

    // Someone else's token: only an admin.
    let bob = server.user("bob", "responder").await;
    let ci = token_for(&server, "bob", json!({"name": "ci"})).await;
    let ci_id = ci["id"].as_u64().unwrap();
    server.delete(&alice, &format!("/api/v1/users/bob/tokens/{ci_id}")).await.problem(403);
    // A token of bob's named under alice's handle is not found.
    server.delete(&alice, &format!("/api/v1/users/alice/tokens/{ci_id}")).await.problem(404);
    server.get(&secret(&ci), "/api/v1/me").await.ok(200);
    server.delete(ADMIN_TOKEN, &format!("/api/v1/users/bob/tokens/{ci_id}")).await.ok(204);
    server.get(&secret(&ci), "/api/v1/me").await.problem(401);
    server.get(&bob, "/api/v1/me").await.ok(200);
    server.delete(ADMIN_TOKEN, "/api/v1/users/bob/tokens/nope").await.problem(404);
}

async fn an_expired_token_gets_401(server: TestServer, clock: Arc<ManualClock>) {
    server.user("alice", "responder").await;
    let body = json!({"name": "one hour", "expires_at": "2026-11-27T11:00:00Z"});
    let hour = token_for(&server, "alice", body).await;
    assert_eq!(hour["expires_at"], "2026-11-27T11:00:00Z");
    let token = secret(&hour);
    server.get(&token, "/api/v1/me").await.ok(200);
    clock.advance(3599);
    server.get(&token, "/api/v1/me").await.ok(200);
    clock.advance(1);
    let refused = server.get(&token, "/api/v1/me").await;
    let problem = refused.problem(401);
    assert_eq!(problem["type"], "urn:muster:problem:token-expired");
    assert!(problem["detail"].as_str().unwrap().contains("expired at 2026-11-27T11:00:00Z"), "{problem}");
    // An expired token is still listed, so its owner sees why.
    let listed = server.get(ADMIN_TOKEN, "/api/v1/users/alice/tokens").await.ok(200).clone();
    assert!(listed.as_array().unwrap().iter().any(|t| t["name"] == "one hour"), "{listed}");

    // An expiry must be in the future and a time.
    let past = server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({"expires_at": "2026-11-27T10:00:00Z"}));
    assert_eq!(past.await.problem(422)["field"], "expires_at");
    let garbled = server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({"expires_at": "tomorrow"}));
    assert_eq!(garbled.await.problem(422)["field"], "expires_at");
}

async fn tokens_are_listed_without_their_secrets_and_only_to_their_user_and_admins(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    let bob = server.user("bob", "responder").await;
    let laptop = token_for(&server, "alice", json!({"name": "laptop"})).await;
    clock.advance(60);
    server.get(&secret(&laptop), "/api/v1/me").await.ok(200);

    let listed = server.get(&alice, "/api/v1/users/alice/tokens").await.ok(200).clone();
    let tokens = listed.as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{listed}");
    let text = listed.to_string();
    assert!(!text.contains(&alice) && !text.contains(&secret(&laptop)), "no secret is listed: {text}");
    assert!(!text.contains("hash"), "{text}");
    let laptop_row = tokens.iter().find(|t| t["name"] == "laptop").unwrap();
    assert_eq!(laptop_row["kind"], "api");
    assert_eq!(laptop_row["id"], laptop["id"]);
    assert_eq!(laptop_row["created_at"], "2026-11-27T10:00:00Z");
    assert_eq!(laptop_row["expires_at"], Value::Null);
    assert_eq!(laptop_row["last_used_at"], "2026-11-27T10:01:00Z");
    for key in ["id", "name", "kind", "created_at", "expires_at", "last_used_at"] {
        assert!(laptop_row.get(key).is_some(), "{key} in {laptop_row}");
    }

    server.get(&bob, "/api/v1/users/alice/tokens").await.problem(403);
    server.get(ADMIN_TOKEN, "/api/v1/users/alice/tokens").await.ok(200);
    server.get(ADMIN_TOKEN, "/api/v1/users/nobody/tokens").await.problem(404);
    // Names are checked, and the setting's name is kept for the setting.
    let long = server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({"name": "x".repeat(101)}));
    assert_eq!(long.await.problem(422)["field"], "name");
    let reserved = server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({"name": "MUSTER_ADMIN_TOKEN"}));
    assert_eq!(reserved.await.problem(422)["field"], "name");
    server.post(&bob, "/api/v1/users/alice/tokens", json!({})).await.problem(403);

    // At most 50 a user: then revoke some first.
    for _ in 2..50 {
        server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({})).await.ok(201);
    }
    let full = server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({})).await;
    assert!(full.problem(409)["detail"].as_str().unwrap().contains("revoke some first"));
    let id = laptop["id"].as_u64().unwrap();
    server.delete(ADMIN_TOKEN, &format!("/api/v1/users/alice/tokens/{id}")).await.ok(204);
    server.post(ADMIN_TOKEN, "/api/v1/users/alice/tokens", json!({})).await.ok(201);
}

async fn a_token_is_made_without_a_body_for_old_clients(server: TestServer, _clock: Arc<ManualClock>) {
    server.user("alice", "responder").await;
    let made = server.request(Some(ADMIN_TOKEN), Method::POST, "/api/v1/users/alice/tokens", None).await;
    let made = made.ok(201);
    assert_eq!((&made["name"], &made["kind"], &made["expires_at"]), (&json!("api"), &json!("api"), &Value::Null));
    server.get(&secret(made), "/api/v1/me").await.ok(200);
}

async fn status_with_session(server: &TestServer, session: &str, path: &str) -> u16 {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http.get(format!("{}{path}", server.url)).header("cookie", format!("muster_session={session}"));
    r.send().await.unwrap().status().as_u16()
}

const PASSWORD: &str = "correct horse battery";

async fn a_disabled_user_cannot_sign_in_or_use_a_token(server: TestServer, _clock: Arc<ManualClock>) {
    let dan = server.user("dan", "responder").await;
    let alice = server.user("alice", "responder").await;
    server.post(ADMIN_TOKEN, "/api/v1/users/dan/password", json!({"password": PASSWORD})).await.ok(204);
    let session = common::web_sign_in(&server, "dan", PASSWORD).await.expect("dan signs in");
    assert_eq!(status_with_session(&server, &session, "/").await, 200);
    // Dan writes on an incident's timeline, which stays.
    server.post(&dan, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P2"})).await.ok(201);
    server.post(&dan, "/api/v1/incidents/INC-1/timeline", json!({"kind": "note", "text": "rolled back"})).await.ok(201);

    // Only admins disable, and not themselves.
    server.post(&alice, "/api/v1/users/dan/disable", json!({})).await.problem(403);
    server.post(ADMIN_TOKEN, "/api/v1/users/admin/disable", json!({})).await.problem(422);
    server.post(ADMIN_TOKEN, "/api/v1/users/nobody/disable", json!({})).await.problem(404);
    let disabled = server.post(ADMIN_TOKEN, "/api/v1/users/dan/disable", json!({})).await.ok(200).clone();
    assert_eq!(disabled["disabled_at"], "2026-11-27T10:00:00Z");

    let refused = server.get(&dan, "/api/v1/me").await;
    let problem = refused.problem(403);
    assert_eq!(problem["type"], "urn:muster:problem:user-disabled");
    assert!(problem["detail"].as_str().unwrap().contains("@dan is disabled"), "{problem}");
    assert_ne!(status_with_session(&server, &session, "/").await, 200, "the session ended");
    assert_eq!(common::web_sign_in(&server, "dan", PASSWORD).await, Err(403), "the right password, refused");
    assert_eq!(common::web_sign_in(&server, "dan", "wrong password!").await, Err(401), "a wrong one says nothing more");
    assert!(server.get(ADMIN_TOKEN, "/api/v1/users/dan/tokens").await.ok(200).as_array().unwrap().is_empty());
    server.post(ADMIN_TOKEN, "/api/v1/users/dan/tokens", json!({})).await.problem(409);

    // Dan stays where he was: listed, and on the timeline.
    let users = server.get(ADMIN_TOKEN, "/api/v1/users").await.ok(200).clone();
    let listed = users.as_array().unwrap().iter().find(|u| u["handle"] == "dan").cloned().unwrap();
    assert_eq!(listed["disabled_at"], "2026-11-27T10:00:00Z");
    let timeline = server.get(&alice, "/api/v1/incidents/INC-1/timeline").await.ok(200).clone();
    assert!(timeline.to_string().contains("rolled back"), "{timeline}");
    // Disabling again keeps the first time.
    let again = server.post(ADMIN_TOKEN, "/api/v1/users/dan/disable", json!({})).await.ok(200).clone();
    assert_eq!(again["disabled_at"], "2026-11-27T10:00:00Z");
}

async fn a_disabled_user_is_skipped_by_paging_and_cannot_be_given_a_role(server: TestServer, _clock: Arc<ManualClock>) {
    server.user("dan", "responder").await;
    server.user("erin", "responder").await;
    let policy =
        json!({"name": "db", "steps": [{"delay_seconds": 300, "targets": [{"user": "dan"}, {"user": "erin"}]}]});
    let policy = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", policy).await.ok(201).clone();
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Replica lag", "priority": "P2"})).await.ok(201);
    server.post(ADMIN_TOKEN, "/api/v1/users/dan/disable", json!({})).await.ok(200);

    let role = json!({"role": "tech_lead", "user": "dan"});
    let refused = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/roles", role).await;
    assert_eq!(refused.problem(422)["field"], "user");
    let direct = json!({"target": {"user": "dan"}, "message": "help"});
    let refused = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages", direct).await;
    assert_eq!(refused.problem(422)["field"], "target.user");

    let email = json!({"kind": "email", "address": "erin@example.com"});
    server.post(ADMIN_TOKEN, "/api/v1/users/erin/contact-methods", email).await.ok(201);
    let by_policy = json!({"target": {"policy": policy["id"]}, "message": "replica lag"});
    let page = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages", by_policy).await.ok(201).clone();
    server.app.engine.run_due().await.unwrap(); // the step: who, and the mail to erin
    let page = server.get(ADMIN_TOKEN, &format!("/api/v1/pages/{}", page["id"])).await.ok(200).clone();
    assert_eq!(page["notified"], json!(["erin"]), "dan is skipped: {page}");

    // Erin is disabled before her mail goes out: it is dropped, not sent
    // (without the skip it would wait for an SMTP server, pending).
    server.post(ADMIN_TOKEN, "/api/v1/users/erin/disable", json!({})).await.ok(200);
    server.deliver_due().await;
    let done = server.get(ADMIN_TOKEN, "/api/v1/jobs?state=done").await.ok(200).clone();
    let mail = done.as_array().unwrap().iter().find(|j| j["to"] == "erin@example.com").cloned();
    assert!(mail.is_some_and(|j| j["attempts"] == 0 || j["attempts"] == 1), "{done}");
    let pending = server.get(ADMIN_TOKEN, "/api/v1/jobs?state=pending").await.ok(200).clone();
    assert!(!pending.to_string().contains("erin@example.com"), "{pending}");
}

async fn a_calendar_feed_token_cannot_call_the_api(server: TestServer, _clock: Arc<ManualClock>) {
    let alice = server.user("alice", "responder").await;
    let bob = server.user("bob", "responder").await;
    let schedule = json!({"name": "Primary", "time_zone": "UTC", "layers": [{"rotation": {
        "users": ["alice", "bob"], "shift": "1d", "handoff": "09:00", "start": "2026-11-23"}}]});
    let schedule = server.post(ADMIN_TOKEN, "/api/v1/schedules", schedule).await.ok(201).clone();
    let feed_path = format!("/api/v1/schedules/{}/calendar.ics", schedule["id"]);

    let made = server.post(&alice, "/api/v1/users/alice/calendar-token", json!({})).await.ok(201).clone();
    let feed = secret(&made);
    assert_eq!(made["kind"], "feed");
    assert!(made["feed_url"].as_str().unwrap().ends_with(&format!("/api/v1/users/alice/calendar.ics?token={feed}")));
    // It reads the feeds, by URL or header.
    let calendar = server.request(None, Method::GET, &format!("{feed_path}?token={feed}"), None).await;
    assert!(calendar.ok(200).as_str().unwrap().starts_with("BEGIN:VCALENDAR"), "{}", calendar.body);
    server.request(None, Method::GET, &format!("/api/v1/users/alice/calendar.ics?token={feed}"), None).await.ok(200);
    server.get(&feed, &feed_path).await.ok(200);

    // And nothing else.
    let refused = server.get(&feed, "/api/v1/me").await;
    let problem = refused.problem(401);
    assert_eq!(problem["type"], "urn:muster:problem:wrong-token-kind");
    assert!(problem["detail"].as_str().unwrap().contains("calendar feed token"), "{problem}");
    server.post(&feed, "/api/v1/incidents", json!({"title": "x", "priority": "P4"})).await.problem(401);

    // API tokens no longer go in a URL; in a header they still read feeds.
    let in_url = server.request(None, Method::GET, &format!("{feed_path}?token={alice}"), None).await;
    let problem = in_url.problem(401);
    assert!(problem["detail"].as_str().unwrap().contains("calendar-token"), "says how to move: {problem}");
    server.get(&alice, &feed_path).await.ok(200);
    server.request(None, Method::GET, &feed_path, None).await.problem(401);

    // A new feed token replaces the old; others may not make one for alice.
    server.post(&bob, "/api/v1/users/alice/calendar-token", json!({})).await.problem(403);
    let renewed = server.post(ADMIN_TOKEN, "/api/v1/users/alice/calendar-token", json!({})).await.ok(201).clone();
    server.request(None, Method::GET, &format!("{feed_path}?token={feed}"), None).await.problem(401);
    server.request(None, Method::GET, &format!("{feed_path}?token={}", secret(&renewed)), None).await.ok(200);
    let listed = server.get(&alice, "/api/v1/users/alice/tokens").await.ok(200).clone();
    let feeds: Vec<&Value> = listed.as_array().unwrap().iter().filter(|t| t["kind"] == "feed").collect();
    assert_eq!(feeds.len(), 1, "{listed}");
    // Revoking it closes the feed.
    let id = renewed["id"].as_u64().unwrap();
    server.delete(&alice, &format!("/api/v1/users/alice/tokens/{id}")).await.ok(204);
    server.request(None, Method::GET, &format!("{feed_path}?token={}", secret(&renewed)), None).await.problem(401);
}

async fn the_admin_token_setting_replaces_the_token_it_set_before(server: TestServer, _clock: Arc<ManualClock>) {
    let own = token_for(&server, "admin", json!({"name": "laptop"})).await;
    let setting = |tokens: &Value| -> Vec<Value> {
        tokens.as_array().unwrap().iter().filter(|t| t["name"] == "MUSTER_ADMIN_TOKEN").cloned().collect()
    };
    let before = server.get(ADMIN_TOKEN, "/api/v1/users/admin/tokens").await.ok(200).clone();
    assert_eq!(setting(&before).len(), 1, "the setting's token is marked: {before}");

    // The same setting again (a restart) changes nothing.
    server.app.bootstrap_admin(Some(ADMIN_TOKEN)).await.unwrap();
    let same = server.get(ADMIN_TOKEN, "/api/v1/users/admin/tokens").await.ok(200).clone();
    assert_eq!(setting(&same), setting(&before));

    // A new setting: the old token stops working, the new one works.
    let next = "mst_the_next_admin_token_of_32_characters";
    server.app.bootstrap_admin(Some(next)).await.unwrap();
    let old = server.get(ADMIN_TOKEN, "/api/v1/me").await;
    assert_eq!(old.problem(401)["type"], "urn:muster:problem:token-revoked");
    assert_eq!(server.get(next, "/api/v1/me").await.ok(200)["handle"], "admin");
    let after = server.get(next, "/api/v1/users/admin/tokens").await.ok(200).clone();
    assert_eq!(setting(&after).len(), 1, "{after}");
    assert_ne!(setting(&after)[0]["id"], setting(&before)[0]["id"]);
    // Tokens the admin made themself are not the setting's.
    server.get(&secret(&own), "/api/v1/me").await.ok(200);

    // Too short: refused, and the current token stays.
    let short = server.app.bootstrap_admin(Some("mst_short")).await.unwrap_err();
    assert!(short.to_string().contains("at least 32"), "{short}");
    server.get(next, "/api/v1/me").await.ok(200);
}

/// Opens an incident's live stream with `auth` (a bearer token or a
/// session cookie) and waits for it to end, up to 10 s, after `then` ran.
async fn stream_ends_after(server: &TestServer, auth: (&str, String), then: impl std::future::Future<Output = ()>) {
    let http = reqwest::Client::new();
    let mut stream =
        http.get(format!("{}/incidents/INC-1/events", server.url)).header(auth.0, auth.1).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    then.await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Err(_) => panic!("the live stream was still open 10 s after its credential ended"),
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Ok(Ok(Some(_))) => {}
        }
    }
}

async fn a_live_stream_closes_when_its_token_is_revoked(server: TestServer, _clock: Arc<ManualClock>) {
    server.user("alice", "responder").await;
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P2"})).await.ok(201);
    let watching = token_for(&server, "alice", json!({"name": "dashboard"})).await;
    let id = watching["id"].as_u64().unwrap();
    let revoke = async {
        server.delete(ADMIN_TOKEN, &format!("/api/v1/users/alice/tokens/{id}")).await.ok(204);
    };
    stream_ends_after(&server, ("authorization", format!("Bearer {}", secret(&watching))), revoke).await;
}

async fn a_live_stream_closes_when_its_user_is_disabled(server: TestServer, _clock: Arc<ManualClock>) {
    server.user("dan", "responder").await;
    server.post(ADMIN_TOKEN, "/api/v1/users/dan/password", json!({"password": PASSWORD})).await.ok(204);
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P2"})).await.ok(201);
    let session = common::web_sign_in(&server, "dan", PASSWORD).await.expect("dan signs in");
    let disable = async {
        server.post(ADMIN_TOKEN, "/api/v1/users/dan/disable", json!({})).await.ok(200);
    };
    stream_ends_after(&server, ("cookie", format!("muster_session={session}")), disable).await;
}
