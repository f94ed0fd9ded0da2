//! Black-box API tests over TCP, each on SQLite and PostgreSQL.

mod common;

use common::{ADMIN_TOKEN, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    a_restart_loses_nothing,
    concurrent_role_assignments_and_patches_are_all_kept,
    bad_input_gets_a_problem_naming_the_field_and_never_a_500,
    viewers_read_everything_and_change_nothing,
    users_are_managed_by_admins_and_tokens_by_their_owners,
    required_roles_are_configurable_and_custom_roles_count,
    written_entries_can_be_backdated_and_corrected_but_never_changed,
    incidents_list_newest_first_with_filters_and_a_next_link,
    every_route_in_the_openapi_document_exists,
    status_moves_follow_the_lifecycle_and_stamp_their_time,
    contact_methods_belong_to_their_user_and_a_webhook_secret_shows_once,
    removing_a_contact_method_takes_its_rules_with_it_and_only_its_user_or_an_admin_may,
    metrics_count_incidents_alerts_and_this_instances_work,
);

async fn declare(server: &TestServer, token: &str, title: &str, priority: &str) -> Value {
    server.post(token, "/api/v1/incidents", json!({"title": title, "priority": priority})).await.ok(201).clone()
}

async fn a_restart_loses_nothing(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.user("carol", "responder").await;
    declare(&server, &alice, "Checkout fails", "P1").await;
    server
        .post(&alice, "/api/v1/incidents/1/roles", json!({"role": "tech_lead", "user": "carol", "scope": "db"}))
        .await
        .ok(201);
    server
        .post(&alice, "/api/v1/incidents/1/timeline", json!({"kind": "theory", "text": "the pool is exhausted"}))
        .await
        .ok(201);
    let before = (
        server.get(&alice, "/api/v1/incidents/1").await.body,
        server.get(&alice, "/api/v1/incidents/1/timeline").await.body,
        server.get(&alice, "/api/v1/users").await.body,
    );

    let server = server.restart().await;
    let after = (
        server.get(&alice, "/api/v1/incidents/1").await.body,
        server.get(&alice, "/api/v1/incidents/1/timeline").await.body,
        server.get(&alice, "/api/v1/users").await.body,
    );
    assert_eq!(before, after);
    assert_eq!(declare(&server, &alice, "Second", "P3").await["ref"], "INC-2");
}

async fn concurrent_role_assignments_and_patches_are_all_kept(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    for i in 0..25 {
        server.user(&format!("tl{i}"), "responder").await;
    }
    declare(&server, &alice, "Checkout fails", "P1").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (http, url, token) = (server.http(), server.url.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let req = if i % 2 == 0 {
                http.post(format!("{url}/api/v1/incidents/1/roles"))
                    .json(&json!({"role": "tech_lead", "user": format!("tl{}", i / 2), "scope": format!("stream {i}")}))
            } else {
                http.patch(format!("{url}/api/v1/incidents/1")).json(&json!({"summary": format!("update {i}")}))
            };
            req.bearer_auth(token).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status}");
    }
    let inc = server.get(&alice, "/api/v1/incidents/1").await.ok(200).clone();
    let roles = inc["roles"].as_array().unwrap();
    assert_eq!(roles.iter().filter(|a| a["role"] == "tech_lead").count(), 25);
    assert_eq!(roles.iter().filter(|a| a["role"] == "incident_manager").count(), 1);
    let timeline = server.get(&alice, "/api/v1/incidents/1/timeline?all=true").await.ok(200).clone();
    let entries = timeline.as_array().unwrap();
    assert_eq!(entries.len() as u64, inc["version"].as_u64().unwrap());
    assert_eq!(entries.iter().filter(|e| e["kind"] == "summary_changed").count(), 25);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["kind"] == "role_assigned" && e["data"]["assignment"]["role"] == "tech_lead")
            .count(),
        25
    );
    let last_topic = entries.iter().rev().find(|e| e["kind"] == "topic_changed").unwrap();
    assert_eq!(last_topic["data"]["to"], inc["topic"]);
}

async fn bad_input_gets_a_problem_naming_the_field_and_never_a_500(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    declare(&server, &alice, "Checkout fails", "P1").await;
    let post = |path: &'static str, body: Value| {
        let (server, alice) = (&server, alice.clone());
        async move { server.post(&alice, path, body).await }
    };
    let field = |reply: &common::Reply, status: u16| reply.problem(status)["field"].as_str().unwrap_or("").to_owned();

    assert_eq!(field(&post("/api/v1/incidents", json!({"title": "x", "priority": "P9"})).await, 422), "priority");
    assert_eq!(field(&post("/api/v1/incidents", json!({"priority": "P1"})).await, 422), "title");
    assert_eq!(field(&post("/api/v1/incidents", json!({"title": 5, "priority": "P1"})).await, 422), "title");
    assert_eq!(field(&post("/api/v1/incidents", json!({"title": " ", "priority": "P1"})).await, 422), "title");
    assert_eq!(field(&post("/api/v1/incidents", json!({"title": "a\u{0}b", "priority": "P1"})).await, 422), "title");
    assert_eq!(
        field(&post("/api/v1/incidents", json!({"title": "x", "priority": "P1", "severity": 1})).await, 422),
        "severity"
    );
    assert_eq!(
        field(
            &post("/api/v1/incidents", json!({"title": "x", "priority": "P1", "incident_manager": "nobody"})).await,
            422
        ),
        "incident_manager"
    );
    assert_eq!(
        field(&post("/api/v1/incidents/1/roles", json!({"role": "wizard", "user": "alice"})).await, 422),
        "role"
    );
    assert_eq!(
        field(&post("/api/v1/incidents/1/roles", json!({"role": "scribe", "user": "nobody"})).await, 422),
        "user"
    );
    assert_eq!(
        field(&post("/api/v1/incidents/1/roles", json!({"role": "scribe", "user": "Not Valid"})).await, 422),
        "user"
    );
    assert_eq!(
        field(
            &post(
                "/api/v1/incidents/1/roles",
                json!({"role": "communications_manager", "user": "alice", "scope": "press"})
            )
            .await,
            422
        ),
        "scope"
    );
    assert_eq!(field(&post("/api/v1/incidents/1/timeline", json!({"kind": "rumour", "text": "x"})).await, 422), "kind");
    assert_eq!(
        field(&post("/api/v1/incidents/1/timeline", json!({"kind": "milestone", "text": "x"})).await, 422),
        "tag"
    );
    assert_eq!(
        field(
            &post("/api/v1/incidents/1/timeline", json!({"kind": "note", "text": "x", "occurred_at": "yesterday"}))
                .await,
            422
        ),
        "occurred_at"
    );
    assert_eq!(
        field(&post("/api/v1/incidents/1/timeline", json!({"kind": "note", "text": "x", "corrects": 999})).await, 404),
        "corrects"
    );
    assert_eq!(field(&server.patch(&alice, "/api/v1/incidents/1", json!({"status": "done"})).await, 422), "status");

    let raw = |body: &'static [u8], content_type: Option<&'static str>, token: Option<String>| {
        let (http, url) = (server.http(), server.url.clone());
        async move {
            let mut req = http.post(format!("{url}/api/v1/incidents")).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            (resp.status().as_u16(), ct, resp.json::<Value>().await.unwrap())
        }
    };
    let json_ct = Some("application/json");
    let (status, ct, body) = raw(b"{\"title\": ", json_ct, Some(alice.clone())).await;
    assert_eq!((status, ct.as_str()), (400, "application/problem+json"), "{body}");
    let (status, _, _) = raw(b"title=x", Some("application/x-www-form-urlencoded"), Some(alice.clone())).await;
    assert_eq!(status, 415);
    let (status, _, _) = raw(b"{}", None, Some(alice.clone())).await;
    assert_eq!(status, 415);
    let huge: &'static [u8] = Box::leak(
        format!("{{\"title\": \"{}\", \"priority\": \"P1\"}}", "x".repeat(1_100_000)).into_bytes().into_boxed_slice(),
    );
    let (status, ct, _) = raw(huge, json_ct, Some(alice.clone())).await;
    assert_eq!((status, ct.as_str()), (413, "application/problem+json"));
    let (status, _, _) = raw(b"{}", json_ct, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = raw(b"{}", json_ct, Some("mst_wrong".into())).await;
    assert_eq!(status, 401);

    server.get(&alice, "/api/v1/incidents/99").await.problem(404);
    server.get(&alice, "/api/v1/incidents/INC-x").await.problem(404);
    server.delete(&alice, "/api/v1/incidents/1/roles/999").await.problem(404);
    server.delete(&alice, "/api/v1/incidents/1/roles/abc").await.problem(404);
    server.get(&alice, "/api/v1/incidents?priority=P7").await.problem(400);
    server.get(&alice, "/api/v1/incidents?limit=-1").await.problem(400);
    server.get(&alice, "/api/v1/incidents/1/timeline?after=garbage").await.problem(400);
    server.get(&alice, "/api/v1/nothing-here").await.problem(404);
    server.request(Some(&alice), Method::PUT, "/api/v1/incidents", None).await.problem(405);

    // Nothing that was refused changed the incident.
    let inc = server.get(&alice, "/api/v1/incidents/1").await;
    assert_eq!(inc.ok(200)["version"], 4, "{}", inc.body);
}

async fn viewers_read_everything_and_change_nothing(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    let vic = server.user("vic", "viewer").await;
    declare(&server, &alice, "Checkout fails", "P2").await;
    server.get(&vic, "/api/v1/incidents/1").await.ok(200);
    server.get(&vic, "/api/v1/incidents/1/timeline").await.ok(200);
    server.get(&vic, "/api/v1/users").await.ok(200);
    server.post(&vic, "/api/v1/incidents", json!({"title": "x", "priority": "P1"})).await.problem(403);
    server.patch(&vic, "/api/v1/incidents/1", json!({"title": "x"})).await.problem(403);
    server.post(&vic, "/api/v1/incidents/1/timeline", json!({"kind": "note", "text": "x"})).await.problem(403);
    server.post(&vic, "/api/v1/incidents/1/roles", json!({"role": "scribe", "user": "vic"})).await.problem(403);
    let refused = server.post(&alice, "/api/v1/incidents/1/roles", json!({"role": "scribe", "user": "vic"})).await;
    assert_eq!(refused.problem(422)["field"], "user", "viewers hold no roles");
}

async fn users_are_managed_by_admins_and_tokens_by_their_owners(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.user("bob", "responder").await;
    let me = server.get(&alice, "/api/v1/me").await;
    assert_eq!(me.ok(200)["handle"], "alice");
    let user = server.get(&alice, "/api/v1/users/bob").await;
    assert_eq!(user.ok(200)["email"], "bob@example.com");
    assert_eq!(user.body["permission"], "responder");
    server.get(&alice, "/api/v1/users/nobody").await.problem(404);

    let dup = json!({"handle": "bob", "name": "Bob", "email": "bob@example.com"});
    server.post(ADMIN_TOKEN, "/api/v1/users", dup.clone()).await.problem(409);
    server
        .post(&alice, "/api/v1/users", json!({"handle": "eve", "name": "Eve", "email": "eve@example.com"}))
        .await
        .problem(403);
    let bad = json!({"handle": "eve", "name": "Eve", "email": "not-an-address"});
    assert_eq!(server.post(ADMIN_TOKEN, "/api/v1/users", bad).await.problem(422)["field"], "email");
    let bad = json!({"handle": "eve", "name": "Eve", "email": "e@x.io", "permission": "root"});
    assert_eq!(server.post(ADMIN_TOKEN, "/api/v1/users", bad).await.problem(422)["field"], "permission");

    let second = server.post(&alice, "/api/v1/users/alice/tokens", json!({})).await.ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.get(&second, "/api/v1/me").await.ok(200)["handle"], "alice");
    server.post(&alice, "/api/v1/users/bob/tokens", json!({})).await.problem(403);
    let users = server.get(&alice, "/api/v1/users").await;
    let handles: Vec<&str> = users.ok(200).as_array().unwrap().iter().map(|u| u["handle"].as_str().unwrap()).collect();
    assert_eq!(handles, ["admin", "alice", "bob"]);
}

async fn required_roles_are_configurable_and_custom_roles_count(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.user("hank", "responder").await;
    server.post(ADMIN_TOKEN, "/api/v1/roles", json!({"key": "liaison", "name": "Liaison"})).await.ok(201);
    server.post(ADMIN_TOKEN, "/api/v1/roles", json!({"key": "liaison", "name": "Liaison"})).await.problem(409);
    server.post(ADMIN_TOKEN, "/api/v1/roles", json!({"key": "scribe", "name": "Scribe"})).await.problem(409);
    server.post(&alice, "/api/v1/roles", json!({"key": "x1", "name": "X"})).await.problem(403);
    let roles = server.get(&alice, "/api/v1/roles").await;
    assert_eq!(roles.ok(200).as_array().unwrap().len(), 8);

    let defaults = server.get(&alice, "/api/v1/settings/required-roles").await;
    assert_eq!(defaults.ok(200)["P2"], json!(["incident_manager", "tech_lead"]));
    let config = json!({"P1": ["incident_manager"], "P3": ["incident_manager", "scribe", "liaison"]});
    server
        .request(Some(&alice), Method::PUT, "/api/v1/settings/required-roles", Some(config.clone()))
        .await
        .problem(403);
    let saved = server.request(Some(ADMIN_TOKEN), Method::PUT, "/api/v1/settings/required-roles", Some(config)).await;
    assert_eq!(saved.ok(200)["P2"], json!([]));
    let bad = json!({"P3": ["wizard"]});
    server.request(Some(ADMIN_TOKEN), Method::PUT, "/api/v1/settings/required-roles", Some(bad)).await.problem(422);

    let inc = declare(&server, &alice, "Slow search", "P3").await;
    assert_eq!(inc["missing_roles"], json!(["scribe", "liaison"]));
    server.post(&alice, "/api/v1/incidents/1/roles", json!({"role": "liaison", "user": "hank"})).await.ok(201);
    let inc = server.get(&alice, "/api/v1/incidents/1").await;
    assert_eq!(inc.ok(200)["missing_roles"], json!(["scribe"]));
    assert!(inc.body["topic"].as_str().unwrap().ends_with("| FR @alice | Liaison @hank"), "{}", inc.body["topic"]);
}

async fn written_entries_can_be_backdated_and_corrected_but_never_changed(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    declare(&server, &alice, "Checkout fails", "P1").await;
    let note = server
        .post(&alice, "/api/v1/incidents/1/timeline", json!({"kind": "note", "text": "errors from eu-west"}))
        .await
        .ok(201)
        .clone();
    assert_eq!(note["actor_roles"], json!(["first_responder", "incident_manager"]));
    let fix = json!({"kind": "note", "text": "errors from eu-central, not eu-west", "corrects": note["id"]});
    let correction = server.post(&alice, "/api/v1/incidents/1/timeline", fix).await.ok(201).clone();
    assert_eq!(correction["data"]["corrects"], note["id"]);
    let early =
        json!({"kind": "milestone", "text": "first errors", "tag": "started", "occurred_at": "2020-01-01T00:00:00Z"});
    let milestone = server.post(&alice, "/api/v1/incidents/1/timeline", early).await.ok(201).clone();
    assert_eq!(milestone["at"], "2020-01-01T00:00:00Z");
    assert_ne!(milestone["recorded_at"], milestone["at"]);

    let timeline = server.get(&alice, "/api/v1/incidents/1/timeline").await;
    let entries = timeline.ok(200).as_array().unwrap();
    assert_eq!(entries[0]["kind"], "milestone", "backdated entries sort where they happened");
    assert!(entries.iter().any(|e| e["id"] == note["id"] && e["text"] == "errors from eu-west"), "the original stays");

    // There is no way to change or delete an entry through the API.
    let path = format!("/api/v1/incidents/1/timeline/{}", note["id"]);
    assert!(server.request(Some(&alice), Method::DELETE, &path, None).await.status.is_client_error());
    assert!(
        server.request(Some(&alice), Method::PATCH, &path, Some(json!({"text": "x"}))).await.status.is_client_error()
    );
}

async fn incidents_list_newest_first_with_filters_and_a_next_link(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    for (title, p) in [("a", "P1"), ("b", "P2"), ("c", "P1"), ("d", "P4")] {
        declare(&server, &alice, title, p).await;
    }
    server.patch(&alice, "/api/v1/incidents/INC-3", json!({"status": "resolved"})).await.ok(200);
    let refs = |r: &common::Reply| -> Vec<String> {
        r.body.as_array().unwrap().iter().map(|i| i["ref"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(refs(&server.get(&alice, "/api/v1/incidents").await), ["INC-4", "INC-3", "INC-2", "INC-1"]);
    assert_eq!(refs(&server.get(&alice, "/api/v1/incidents?priority=P1").await), ["INC-3", "INC-1"]);
    assert_eq!(
        refs(&server.get(&alice, "/api/v1/incidents?priority=P1,P2&status=investigating").await),
        ["INC-2", "INC-1"]
    );
    let page = server.get(&alice, "/api/v1/incidents?limit=2").await;
    assert_eq!(refs(&page), ["INC-4", "INC-3"]);
    let link = page.headers["link"].to_str().unwrap().to_owned();
    let next = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
    assert_eq!(refs(&server.get(&alice, &next).await), ["INC-2", "INC-1"]);
}

async fn every_route_in_the_openapi_document_exists(server: TestServer) {
    let doc = server.request(None, Method::GET, "/api/v1/openapi.json", None).await;
    let paths = doc.ok(200)["paths"].as_object().unwrap().clone();
    assert!(paths.len() >= 13);
    for (path, ops) in paths {
        let concrete = path
            .replace("{ref}", "1")
            .replace("{id}", "1")
            .replace("{handle}", "admin")
            .replace("{integration_key}", "0123456789abcdef0123456789abcdef");
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = server.request(None, m, &concrete, None).await;
            // Authenticated routes refuse the anonymous caller; ingest routes
            // (no token, a key in the path or body) refuse the empty event.
            let status = reply.status.as_u16();
            let ingest = path.starts_with("/v2/") || path.contains("/integrations/");
            let expected: &[u16] = if ingest { &[400, 404, 415] } else { &[200, 401] };
            assert!(expected.contains(&status), "{method} {path}: {} {}", reply.status, reply.body);
            assert_ne!(reply.body["detail"], "there is nothing at this path");
        }
    }
    assert_eq!(server.request(None, Method::GET, "/healthz", None).await.status, 200);
}

async fn status_moves_follow_the_lifecycle_and_stamp_their_time(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    declare(&server, &alice, "Checkout fails", "P2").await;
    let path = "/api/v1/incidents/1";
    server.patch(&alice, path, json!({"status": "closed"})).await.problem(422);
    let resolved = server.patch(&alice, path, json!({"status": "resolved"})).await.ok(200).clone();
    assert!(resolved["resolved_at"].is_string());
    assert!(resolved["identified_at"].is_null(), "skipped steps get no stamp");
    let reopened = server.patch(&alice, path, json!({"status": "investigating"})).await.ok(200).clone();
    assert!(reopened["resolved_at"].is_null());
    server
        .patch(&alice, path, json!({"status": "resolved", "priority": "P1", "title": "Checkout failed"}))
        .await
        .ok(200);
    let closed = server.patch(&alice, path, json!({"status": "closed"})).await.ok(200).clone();
    assert!(closed["closed_at"].is_string());
    assert_eq!(closed["topic"].as_str().unwrap().split(" | ").next().unwrap(), "INC-1 P1 closed — Checkout failed");
    let refused = server.patch(&alice, path, json!({"status": "investigating"})).await;
    assert!(refused.problem(409)["detail"].as_str().unwrap().contains("closed is final"));
}

async fn contact_methods_belong_to_their_user_and_a_webhook_secret_shows_once(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.user("bob", "responder").await;
    let path = "/api/v1/users/alice/contact-methods";
    let mail = server.post(&alice, path, json!({"kind": "email", "address": "alice@example.com"})).await;
    assert!(mail.ok(201).get("secret").is_none());
    let hook = server.post(&alice, path, json!({"kind": "webhook", "address": "https://hooks.example.com/T1"})).await;
    let secret = hook.ok(201)["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let listed = server.get(&alice, path).await.ok(200).clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed.as_array().unwrap().iter().all(|m| m.get("secret").is_none()), "never shown again");

    server
        .post(&alice, "/api/v1/users/bob/contact-methods", json!({"kind": "email", "address": "b@x.io"}))
        .await
        .problem(403);
    server
        .post(ADMIN_TOKEN, "/api/v1/users/bob/contact-methods", json!({"kind": "email", "address": "b@x.io"}))
        .await
        .ok(201);
    let bad = server.post(&alice, path, json!({"kind": "pigeon", "address": "roof"})).await;
    assert_eq!(bad.problem(422)["field"], "kind");
    let bad = server.post(&alice, path, json!({"kind": "webhook", "address": "ftp://x"})).await;
    assert_eq!(bad.problem(422)["field"], "address");
    server.get(&alice, "/api/v1/users/nobody/contact-methods").await.problem(404);
}

async fn removing_a_contact_method_takes_its_rules_with_it_and_only_its_user_or_an_admin_may(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    let bob = server.user("bob", "responder").await;
    let methods = "/api/v1/users/alice/contact-methods";
    let rules = "/api/v1/users/alice/notification-rules";
    let before = server.get(&alice, methods).await.ok(200).as_array().unwrap().len();
    let add = |address: &'static str| server.post(&alice, methods, json!({"kind": "email", "address": address}));
    let first = add("alice.one@example.com").await.ok(201)["id"].as_u64().unwrap();
    let second = add("alice.two@example.com").await.ok(201)["id"].as_u64().unwrap();
    let rule = |method: u64, delay: u32| json!({"contact_method": method, "delay_seconds": delay});
    let kept = server.post(&alice, rules, rule(second, 0)).await.ok(201)["id"].as_u64().unwrap();
    server.post(&alice, rules, rule(first, 300)).await.ok(201);

    // Nobody else's, and nothing that is not there.
    assert_eq!(server.delete(&bob, &format!("{methods}/{first}")).await.problem(403)["status"], 403);
    server.post(&bob, "/api/v1/users/bob/contact-methods", json!({"kind": "email", "address": "b@x.io"})).await.ok(201);
    let bobs = server.get(&bob, "/api/v1/users/bob/contact-methods").await.ok(200).clone();
    let bobs = bobs.as_array().unwrap().last().unwrap()["id"].as_u64().unwrap();
    let not_hers = server.delete(&alice, &format!("/api/v1/users/alice/contact-methods/{bobs}")).await;
    assert_eq!(not_hers.problem(404)["field"], "id", "another user's method is not hers to remove");
    assert_eq!(server.delete(&alice, &format!("{methods}/nine")).await.problem(404)["field"], "id");
    assert_eq!(server.delete(&alice, &format!("{methods}/99999")).await.problem(404)["field"], "id");

    let removed = server.delete(&alice, &format!("{methods}/{first}")).await;
    assert_eq!(removed.status.as_u16(), 204, "{}", removed.body);
    let left = server.get(&alice, methods).await.ok(200).clone();
    assert_eq!(left.as_array().unwrap().len(), before + 1);
    assert!(left.as_array().unwrap().iter().all(|m| m["id"] != first));
    let left = server.get(&alice, rules).await.ok(200).clone();
    assert_eq!(left, json!([{"id": kept, "contact_method": second, "delay_seconds": 0}]), "its rule went with it");
    assert_eq!(server.delete(&alice, &format!("{methods}/{first}")).await.problem(404)["field"], "id");

    // A rule alone; an admin may remove anyone's.
    assert_eq!(server.delete(&bob, &format!("{rules}/{kept}")).await.problem(403)["status"], 403);
    assert_eq!(server.delete(ADMIN_TOKEN, &format!("{rules}/{kept}")).await.status.as_u16(), 204);
    assert_eq!(server.get(&alice, rules).await.ok(200).clone(), json!([]));
    assert_eq!(server.delete(&alice, &format!("{rules}/{kept}")).await.problem(404)["field"], "id");
    assert_eq!(server.delete(ADMIN_TOKEN, &format!("{methods}/{second}")).await.status.as_u16(), 204);
    server.delete(ADMIN_TOKEN, "/api/v1/users/nobody/notification-rules/1").await.problem(404);
}

/// `/metrics` tells an operator how Muster itself is doing, in the
/// Prometheus text format: every sample line belongs to a declared family.
async fn metrics_count_incidents_alerts_and_this_instances_work(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.post(&alice, "/api/v1/incidents", json!({"title": "Checkout down", "priority": "P1"})).await.ok(201);
    let key = server.service("web", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let hook = format!("/api/v1/integrations/generic/{key}");
    server.ingest(&hook, &json!({"summary": "5xx", "severity": "error", "dedup_key": "a"})).await.ok(202);
    let r = server.http().get(format!("{}/metrics", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(text.contains("muster_incidents{status=\"investigating\",priority=\"P1\"} 1"), "{text}");
    assert!(text.contains("muster_alerts{status=\"triggered\"} 1"), "{text}");
    assert!(text.contains("muster_ingested_events_total 1"), "{text}");
    assert!(text.contains("muster_live_streams 0"), "{text}");
    let families: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(families.contains(&name), "{name} has no # TYPE");
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}
