//! The core scenario, on SQLite and PostgreSQL: a P1 with every role kind,
//! authority, a handover, a backup promotion, the topic after each step and
//! a timeline that lists every step in order with who did it in which roles.

mod common;

use common::{ADMIN_TOKEN, TestServer};
use serde_json::{Value, json};

on_both_backends!(a_p1_incident_musters_every_role_and_the_timeline_tells_the_story);

const PATH: &str = "/api/v1/incidents/INC-1";

async fn topic(server: &TestServer, token: &str) -> String {
    server.get(token, PATH).await.ok(200)["topic"].as_str().unwrap().to_owned()
}

async fn a_p1_incident_musters_every_role_and_the_timeline_tells_the_story(server: TestServer) {
    let mut tokens = std::collections::HashMap::new();
    for h in ["alice", "bob", "carol", "dan", "erin", "frank", "gina", "hank", "ivan", "mallory"] {
        tokens.insert(h, server.user(h, "responder").await);
    }
    let t = |h: &str| tokens[h].clone();
    server.post(ADMIN_TOKEN, "/api/v1/roles", json!({"key": "sme", "name": "SME", "many": true})).await.ok(201);

    // Alice gets the alert and declares a P1: first responder and incident manager.
    let declared = server
        .post(
            &t("alice"),
            "/api/v1/incidents",
            json!({"title": "Checkout fails", "priority": "P1", "summary": "5xx on /pay"}),
        )
        .await;
    let inc = declared.ok(201);
    assert_eq!(inc["ref"], "INC-1");
    assert_eq!(inc["incident_manager"], "alice");
    assert_eq!(inc["missing_roles"], json!(["tech_lead", "communications_manager", "scribe"]));
    let base = "INC-1 P1 investigating — Checkout fails";
    assert_eq!(inc["topic"], format!("{base} | IM @alice | FR @alice"));

    // She musters the team; the topic follows every step.
    let steps: [(&str, &str, Option<&str>, &str); 9] = [
        ("backup_incident_manager", "bob", None, "| IM @alice | Backup IM @bob | FR @alice"),
        ("tech_lead", "carol", Some("database"), "| IM @alice | Backup IM @bob | TL @carol (database) | FR @alice"),
        (
            "tech_lead",
            "dan",
            Some("network"),
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | FR @alice",
        ),
        (
            "communications_manager",
            "erin",
            Some("internal"),
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | Comms @erin (internal) | FR @alice",
        ),
        (
            "communications_manager",
            "frank",
            Some("external"),
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | Comms @erin (internal), @frank (external) | FR @alice",
        ),
        (
            "customer_support_lead",
            "gina",
            None,
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | Comms @erin (internal), @frank (external) | CSL @gina | FR @alice",
        ),
        (
            "scribe",
            "hank",
            None,
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | Comms @erin (internal), @frank (external) | CSL @gina | Scribe @hank | FR @alice",
        ),
        (
            "sme",
            "ivan",
            Some("payments"),
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | Comms @erin (internal), @frank (external) | CSL @gina | Scribe @hank | FR @alice | SME @ivan (payments)",
        ),
        (
            "first_responder",
            "ivan",
            None,
            "| IM @alice | Backup IM @bob | TL @carol (database), @dan (network) | Comms @erin (internal), @frank (external) | CSL @gina | Scribe @hank | FR @ivan | SME @ivan (payments)",
        ),
    ];
    let mut topics = vec![format!("{base} | IM @alice | FR @alice")];
    for (role, user, scope, expected) in steps {
        let reply = server
            .post(&t("alice"), "/api/v1/incidents/INC-1/roles", json!({"role": role, "user": user, "scope": scope}))
            .await;
        let a = reply.ok(201);
        assert_eq!(
            (a["role"].as_str(), a["user"].as_str(), a["assigned_by"].as_str()),
            (Some(role), Some(user), Some("alice"))
        );
        let now = topic(&server, &t("alice")).await;
        assert_eq!(now, format!("{base} {expected}"), "after assigning {role} to {user}");
        topics.push(now);
    }
    assert_eq!(server.get(&t("alice"), PATH).await.ok(200)["missing_roles"], json!([]));

    // Mallory holds no authority in this incident.
    let refused =
        server.post(&t("mallory"), "/api/v1/incidents/INC-1/roles", json!({"role": "scribe", "user": "mallory"})).await;
    let problem = refused.problem(403);
    assert!(problem["detail"].as_str().unwrap().contains("only the incident manager (@alice)"), "{problem}");

    // Alice hands over to Carol.
    server
        .post(&t("alice"), "/api/v1/incidents/INC-1/roles", json!({"role": "incident_manager", "user": "carol"}))
        .await
        .ok(201);
    let now = topic(&server, &t("carol")).await;
    assert!(now.starts_with(&format!("{base} | IM @carol | Backup IM @bob | TL @carol (database)")), "{now}");
    topics.push(now);
    let inc = server.get(&t("carol"), PATH).await;
    assert_eq!(inc.ok(200)["incident_manager"], "carol");
    assert!(!inc.body["roles"].as_array().unwrap().iter().any(|a| a["user"] == "alice"), "alice holds nothing now");

    // Carol steps down as incident manager: the backup, Bob, takes over.
    let carol_im =
        inc.body["roles"].as_array().unwrap().iter().find(|a| a["role"] == "incident_manager").unwrap()["id"]
            .as_u64()
            .unwrap();
    server.delete(&t("carol"), &format!("/api/v1/incidents/INC-1/roles/{carol_im}")).await.ok(204);
    let now = topic(&server, &t("bob")).await;
    assert!(now.starts_with(&format!("{base} | IM @bob | TL @carol (database), @dan (network) |")), "{now}");
    topics.push(now);

    // Bob cannot simply step down: there is no backup now.
    let inc = server.get(&t("bob"), PATH).await;
    let bob_im = inc.body["roles"].as_array().unwrap().iter().find(|a| a["role"] == "incident_manager").unwrap()["id"]
        .as_u64()
        .unwrap();
    let refused = server.delete(&t("bob"), &format!("/api/v1/incidents/INC-1/roles/{bob_im}")).await;
    assert!(refused.problem(409)["detail"].as_str().unwrap().contains("must always have an incident manager"));

    // The cause is found.
    server.patch(&t("bob"), PATH, json!({"status": "identified"})).await.ok(200);
    let now = topic(&server, &t("bob")).await;
    assert!(now.starts_with("INC-1 P1 identified — Checkout fails | IM @bob"), "{now}");
    topics.push(now);

    // The timeline: every step, in order, with the actor and their roles then.
    let timeline = server.get(&t("hank"), "/api/v1/incidents/INC-1/timeline?all=true").await;
    let entries = timeline.ok(200).as_array().unwrap().clone();
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=entries.len() as u64).collect::<Vec<_>>(), "no gaps, in order");
    let line = |e: &Value| {
        let roles: Vec<&str> = e["actor_roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        format!(
            "{} [{}] {}: {}",
            e["actor"].as_str().unwrap(),
            roles.join(","),
            e["kind"].as_str().unwrap(),
            e["text"].as_str().unwrap()
        )
    };
    let story: Vec<String> = entries.iter().filter(|e| e["kind"] != "topic_changed").map(line).collect();
    let fr_im = "alice [first_responder,incident_manager]";
    let expected = [
        format!("{fr_im} declared: @alice declared INC-1 (P1): Checkout fails"),
        format!("{fr_im} role_assigned: @alice is first responder"),
        format!("{fr_im} role_assigned: @alice is incident manager"),
        format!("{fr_im} role_assigned: @alice assigned @bob as backup incident manager"),
        format!("{fr_im} role_assigned: @alice assigned @carol as tech lead (database)"),
        format!("{fr_im} role_assigned: @alice assigned @dan as tech lead (network)"),
        format!("{fr_im} role_assigned: @alice assigned @erin as communications manager (internal)"),
        format!("{fr_im} role_assigned: @alice assigned @frank as communications manager (external)"),
        format!("{fr_im} role_assigned: @alice assigned @gina as customer support lead"),
        format!("{fr_im} role_assigned: @alice assigned @hank as scribe"),
        format!("{fr_im} role_assigned: @alice assigned @ivan as sme (payments)"),
        format!("{fr_im} role_relieved: @alice was replaced as first responder by @ivan"),
        format!("{fr_im} role_assigned: @alice assigned @ivan as first responder"),
        "alice [incident_manager] role_relieved: @alice is no longer incident manager: handed over to @carol".to_owned(),
        "alice [incident_manager] role_assigned: @alice handed over incident manager to @carol".to_owned(),
        "carol [tech_lead,incident_manager] role_relieved: @carol stepped down as incident manager".to_owned(),
        "carol [tech_lead,incident_manager] role_relieved: @bob is no longer backup incident manager: now incident manager".to_owned(),
        "carol [tech_lead,incident_manager] role_assigned: backup @bob took over as incident manager from @carol".to_owned(),
        "bob [incident_manager] status_changed: @bob moved the incident from investigating to identified".to_owned(),
    ];
    assert_eq!(story, expected);
    let topic_entries: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == "topic_changed")
        .map(|e| e["data"]["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(topic_entries, topics, "each topic change is on the timeline");
    for e in &entries {
        assert!(!e["at"].as_str().unwrap().is_empty() && e["hash"].as_str().unwrap().len() == 64);
    }
}
