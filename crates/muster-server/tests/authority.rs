//! The findings the access table answers, each as a user would meet it
//! over the API, on SQLite and PostgreSQL.

mod common;

use common::{ADMIN_TOKEN, TestServer};
use serde_json::json;

on_both_backends!(
    a_responder_with_no_role_cannot_resolve_or_reprioritise_and_the_incident_managers_can,
    a_tech_lead_moves_the_status_between_the_open_states_but_does_not_resolve,
    only_the_owner_and_admins_see_and_rotate_a_services_integration_key,
    other_peoples_contact_addresses_show_only_scheme_and_host,
    schedules_are_admins_and_overrides_are_their_members_too,
);

async fn a_responder_with_no_role_cannot_resolve_or_reprioritise_and_the_incident_managers_can(server: TestServer) {
    let ian = server.user("ian", "responder").await;
    let bea = server.user("bea", "responder").await;
    let rita = server.user("rita", "responder").await;
    server.post(&ian, "/api/v1/incidents", json!({"title": "Payments down", "priority": "P1"})).await.ok(201);
    server
        .post(&ian, "/api/v1/incidents/1/roles", json!({"role": "backup_incident_manager", "user": "bea"}))
        .await
        .ok(201);

    // Another team's responder: no role here.
    let refused = server.patch(&rita, "/api/v1/incidents/1", json!({"status": "resolved"})).await;
    let detail = refused.problem(403)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("the incident manager (@ian), the backup incident manager (@bea) or an admin"), "{detail}");
    assert!(detail.contains("@rita is none of those"), "{detail}");
    server.patch(&rita, "/api/v1/incidents/1", json!({"priority": "P4"})).await.problem(403);
    server.patch(&rita, "/api/v1/incidents/1", json!({"title": "nothing to see"})).await.problem(403);
    let unchanged = server.get(&rita, "/api/v1/incidents/1").await;
    assert_eq!(
        (unchanged.ok(200)["status"].as_str(), unchanged.body["priority"].as_str()),
        (Some("investigating"), Some("P1"))
    );
    // Sending what is already there changes nothing, and is no refusal.
    server.patch(&rita, "/api/v1/incidents/1", json!({"priority": "P1"})).await.ok(200);

    // The incident manager, the backup and an admin may.
    let p2 = server.patch(&ian, "/api/v1/incidents/1", json!({"priority": "P2"})).await;
    assert_eq!(p2.ok(200)["priority"], "P2");
    let renamed = server.patch(&bea, "/api/v1/incidents/1", json!({"title": "Payments slow"})).await;
    assert_eq!(renamed.ok(200)["title"], "Payments slow");
    let resolved = server.patch(&bea, "/api/v1/incidents/1", json!({"status": "resolved"})).await;
    assert_eq!(resolved.ok(200)["status"], "resolved");
    let closed = server.patch(ADMIN_TOKEN, "/api/v1/incidents/1", json!({"status": "closed"})).await;
    assert_eq!(closed.ok(200)["status"], "closed");
}

async fn a_tech_lead_moves_the_status_between_the_open_states_but_does_not_resolve(server: TestServer) {
    let ian = server.user("ian", "responder").await;
    let tess = server.user("tess", "responder").await;
    server.post(&ian, "/api/v1/incidents", json!({"title": "Search slow", "priority": "P3"})).await.ok(201);
    server.post(&ian, "/api/v1/incidents/1/roles", json!({"role": "tech_lead", "user": "tess"})).await.ok(201);

    let identified = server.patch(&tess, "/api/v1/incidents/1", json!({"status": "identified"})).await;
    assert_eq!(identified.ok(200)["status"], "identified");
    server.patch(&tess, "/api/v1/incidents/1", json!({"status": "monitoring"})).await.ok(200);
    server.patch(&tess, "/api/v1/incidents/1", json!({"status": "investigating"})).await.ok(200);
    let refused = server.patch(&tess, "/api/v1/incidents/1", json!({"status": "resolved"})).await;
    assert!(refused.problem(403)["detail"].as_str().unwrap().contains("may resolve, close or reopen"));
    server.patch(&tess, "/api/v1/incidents/1", json!({"priority": "P1"})).await.problem(403);
    server.post(&tess, "/api/v1/incidents/1/timeline", json!({"kind": "note", "text": "index rebuilt"})).await.ok(201);
}

async fn only_the_owner_and_admins_see_and_rotate_a_services_integration_key(server: TestServer) {
    let owen = server.user("owen", "responder").await;
    let rita = server.user("rita", "responder").await;
    let vic = server.user("vic", "viewer").await;
    let service = server.service("payments", json!({"owner": "owen"})).await;
    let key = service["integration_key"].as_str().unwrap().to_owned();

    for token in [&rita, &vic] {
        let list = server.get(token, "/api/v1/services").await;
        assert_eq!(list.ok(200)[0]["name"], "payments");
        assert!(list.body[0].get("integration_key").is_none(), "{}", list.body);
        assert!(list.body[0].get("alertmanager_url").is_none(), "the URL carries the key: {}", list.body);
        let one = server.get(token, "/api/v1/services/1").await;
        assert!(one.ok(200).get("integration_key").is_none(), "{}", one.body);
        server.patch(token, "/api/v1/services/1", json!({"rotate_key": true})).await.problem(403);
        server.patch(token, "/api/v1/services/1", json!({"name": "mine now"})).await.problem(403);
    }
    // Still the same key: monitoring was not cut off.
    assert_eq!(server.get(&owen, "/api/v1/services/1").await.ok(200)["integration_key"], key.as_str());
    let rotated = server.patch(&owen, "/api/v1/services/1", json!({"rotate_key": true})).await;
    let new_key = rotated.ok(200)["integration_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/services/1").await.ok(200)["integration_key"], new_key.as_str());

    // A responder's own service: they own it, so they see its key.
    let mine = server.post(&rita, "/api/v1/services", json!({"name": "search"})).await;
    assert_eq!(mine.ok(201)["owner"], "rita");
    let id = mine.body["id"].as_u64().unwrap();
    assert!(server.get(&rita, &format!("/api/v1/services/{id}")).await.ok(200)["integration_key"].is_string());
}

async fn other_peoples_contact_addresses_show_only_scheme_and_host(server: TestServer) {
    let sam = server.user("sam", "responder").await;
    let rita = server.user("rita", "responder").await;
    let hook = json!({"kind": "webhook", "address": "https://hooks.example.com/services/T0/B1/s3cret?token=x"});
    server.post(&sam, "/api/v1/users/sam/contact-methods", hook).await.ok(201);
    let mail = json!({"kind": "email", "address": "sam@example.com"});
    server.post(&sam, "/api/v1/users/sam/contact-methods", mail).await.ok(201);

    let theirs = server.get(&rita, "/api/v1/users/sam/contact-methods").await;
    assert_eq!(theirs.ok(200)[0]["address"], "https://hooks.example.com/…");
    assert_eq!(theirs.body[1]["address"], "…@example.com");
    assert!(!theirs.body.to_string().contains("s3cret"), "{}", theirs.body);
    let own = server.get(&sam, "/api/v1/users/sam/contact-methods").await;
    assert_eq!(own.ok(200)[0]["address"], "https://hooks.example.com/services/T0/B1/s3cret?token=x");
    let admin = server.get(ADMIN_TOKEN, "/api/v1/users/sam/contact-methods").await;
    assert_eq!(admin.ok(200)[1]["address"], "sam@example.com");
    // Nor may anyone else add or test them.
    let other = json!({"kind": "email", "address": "rita@example.com"});
    server.post(&rita, "/api/v1/users/sam/contact-methods", other).await.problem(403);
    server.post(&rita, "/api/v1/users/sam/contact-methods/1/test", json!({})).await.problem(403);
}

async fn schedules_are_admins_and_overrides_are_their_members_too(server: TestServer) {
    let mia = server.user("mia", "responder").await;
    let rita = server.user("rita", "responder").await;
    let body = json!({"name": "Primary", "time_zone": "UTC", "layers": [
        {"rotation": {"users": ["mia"], "shift": "1w", "handoff": "09:00", "start": "2026-11-23"}}]});
    let refused = server.post(&mia, "/api/v1/schedules", body.clone()).await;
    assert!(refused.problem(403)["detail"].as_str().unwrap().contains("only an admin may create schedules"));
    server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.ok(201);
    let swap = json!({"user": "rita", "start": "2026-12-02T10:00:00Z", "end": "2026-12-02T12:00:00Z"});
    let detail = server.post(&rita, "/api/v1/schedules/1/overrides", swap.clone()).await;
    assert!(detail.problem(403)["detail"].as_str().unwrap().contains("a member of the schedule"));
    server.post(&mia, "/api/v1/schedules/1/overrides", swap).await.ok(201);
    let policy = json!({"name": "Payments", "steps": [{"delay_seconds": 0, "targets": [{"schedule": 1}]}]});
    server.post(&mia, "/api/v1/escalation-policies", policy).await.problem(403);
}
