//! Stakeholder groups and followers, on both backends: a published update
//! reaches the groups whose filters match (by mail at a real SMTP server,
//! Debian's python3-aiosmtpd, and by a signed webhook at a receiver on
//! 127.0.0.1) and the incident's followers, each once; a draft, another
//! audience and another priority reach nobody; every delivery shows on the
//! update. Bad groups, follows and customer responses are refused naming
//! their field, with nothing written.

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
    stakeholder_groups_are_kept_by_admins_and_bad_ones_are_refused_naming_the_field,
    followers_are_people_following_for_themselves_and_admins_for_anyone,
    customer_responses_are_recorded_on_published_external_updates_only,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_published_update_reaches_the_matching_groups_and_followers_by_mail_and_signed_webhook() {
    a_published_update_reaches_the_matching_groups_and_followers_by_mail_and_signed_webhook(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_published_update_reaches_the_matching_groups_and_followers_by_mail_and_signed_webhook() {
    a_published_update_reaches_the_matching_groups_and_followers_by_mail_and_signed_webhook(Backend::Postgres).await;
}

async fn declare(server: &TestServer, title: &str, priority: &str) -> String {
    let body = json!({"title": title, "priority": priority, "incident_manager": "admin"});
    format!("INC-{}", server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201)["number"])
}

async fn updates(server: &TestServer, r: &str) -> Vec<Value> {
    server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/updates")).await.ok(200).as_array().unwrap().clone()
}

async fn a_published_update_reaches_the_matching_groups_and_followers_by_mail_and_signed_webhook(backend: Backend) {
    let Some(smtp) = Smtp::start().await else { return };
    let mut setup = Setup { config: allowing_receivers(muster_app::Config::default()), ..Setup::default() };
    setup.config.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    let (receiver, url) = Receiver::start(vec![]).await;
    for (h, address) in [("ann", "ann@example.com"), ("cat", "cat@example.com")] {
        let token = server.user(h, "responder").await;
        let method = json!({"kind": "email", "address": address});
        server.post(&token, &format!("/api/v1/users/{h}/contact-methods"), method).await.ok(201);
    }
    let cat = server.user("cat2", "viewer").await;
    let group = json!({"name": "Executives", "members": ["ann"], "emails": ["vp@example.com", "VP@example.com"],
                       "webhooks": [url], "priorities": ["P1", "P2"], "audiences": ["internal", "executive"]});
    let created = server.post(ADMIN_TOKEN, "/api/v1/stakeholder-groups", group).await;
    let created = created.ok(201).clone();
    assert_eq!(created["emails"], json!(["vp@example.com"]), "an address once: {created}");
    let secret = created["webhooks"][0]["secret"].as_str().expect("the secret, once").to_owned();
    let listed = server.get(ADMIN_TOKEN, "/api/v1/stakeholder-groups").await.ok(200).clone();
    assert!(listed[0]["webhooks"][0].get("secret").is_none(), "never shown again: {listed}");

    let p1 = declare(&server, "Checkout fails", "P1").await;
    let p3 = declare(&server, "Search is slow", "P3").await;
    // @cat follows the P3; a viewer (cat2) may follow too.
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{p3}/followers"), json!({"user": "cat"})).await.ok(200);
    server.post(&cat, &format!("/api/v1/incidents/{p1}/followers"), json!({})).await.ok(200);

    // A draft reaches nobody.
    let draft = json!({"audience": "internal", "body": "DRAFT: nobody hears this", "draft": true});
    let draft = server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{p1}/updates"), draft).await.ok(201).clone();
    assert_eq!(draft["deliveries"], json!([]));
    // An external update is not the group's audience.
    let external = json!({"audience": "external", "body": "EXTERNAL: some payments fail", "status": "investigating"});
    let external = server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{p1}/updates"), external).await.ok(201).clone();
    assert_eq!(external["deliveries"], json!([]), "nobody hears an external update here: {external}");
    // The P3's internal update reaches its follower only.
    let slow = json!({"audience": "internal", "form": {"conditions": "SLOW: search p99 is 4 s"}});
    let slow = server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{p3}/updates"), slow).await.ok(201).clone();
    let to: Vec<&str> = slow["deliveries"].as_array().unwrap().iter().map(|d| d["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["cat@example.com"], "the P3 is not the group's: {slow}");
    assert_eq!(slow["deliveries"][0]["recipient"], "follower: @cat");

    // The P1's internal update reaches the group: its member, its address,
    // its webhook; and the P1's follower (a viewer without contact methods:
    // nothing to send).
    let update = json!({"audience": "internal", "form": {"conditions": "CARDS: 5 % of card payments fail", "needs": "a DBA"},
                        "body": "We <b>roll back</b> the deploy."});
    let published = server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{p1}/updates"), update).await.ok(201).clone();
    let mut to: Vec<(String, String)> = published["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["via"].as_str().unwrap().to_owned(), d["to"].as_str().unwrap().to_owned()))
        .collect();
    to.sort();
    let origin = muster_app::channels::webhook::origin(&url);
    let expected = [("email", "ann@example.com"), ("email", "vp@example.com"), ("webhook", origin.as_str())];
    assert_eq!(to, expected.map(|(a, b)| (a.to_owned(), b.to_owned())), "{published}");

    let mails = eventually(Duration::from_secs(30), "the mails of the P1's update", || async {
        let found: Vec<String> = smtp.messages().into_iter().filter(|m| m.contains("CARDS")).collect();
        (found.len() == 2).then_some(found)
    })
    .await;
    for address in ["ann@example.com", "vp@example.com"] {
        let mail = mails.iter().find(|m| m.contains(&format!("To: {address}"))).expect(address);
        assert!(mail.contains(&format!("Subject: [Muster] {p1} internal update: Checkout fails")), "{mail}");
        assert!(mail.contains("multipart/alternative") && mail.contains("text/html"), "plain text and HTML: {mail}");
        assert!(mail.contains("Needs: a DBA"), "{mail}");
        assert!(mail.contains("&lt;b&gt;roll back&lt;/b&gt;"), "the HTML escapes the text: {mail}");
        assert!(mail.contains(&format!("{}/incidents/{p1}", server.url)), "a link to the incident: {mail}");
    }
    eventually(Duration::from_secs(30), "the group's webhook", || async { (receiver.count() > 0).then_some(()) }).await;
    let (headers, body) = receiver.got.lock().unwrap()[0].clone();
    let ts: i64 = headers["x-muster-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(headers["x-muster-signature"].to_str().unwrap(), signature(&secret, ts, &body), "signed");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((body["type"].as_str(), body["incident"].as_str()), (Some("incident_update"), Some(p1.as_str())));
    assert_eq!(body["update"]["audience"], "internal");
    assert!(body["update"]["text"].as_str().unwrap().contains("CARDS"), "{body}");

    // Every delivery shows on the update, delivered.
    eventually(Duration::from_secs(30), "every delivery recorded", || async {
        let list = updates(&server, &p1).await;
        let last = list.iter().find(|u| u["id"] == published["id"]).unwrap().clone();
        let states: Vec<&str> =
            last["deliveries"].as_array().unwrap().iter().map(|d| d["state"].as_str().unwrap()).collect();
        (states == ["delivered"; 3]).then_some(())
    })
    .await;
    // The follower's mail of the P3 came; nothing else did.
    eventually(Duration::from_secs(30), "the follower's mail", || async {
        smtp.messages().into_iter().find(|m| m.contains("SLOW") && m.contains("To: cat@example.com")).map(|_| ())
    })
    .await;
    let all = smtp.messages();
    assert!(!all.iter().any(|m| m.contains("DRAFT") || m.contains("EXTERNAL")), "no draft, no external update");
    assert_eq!(all.iter().filter(|m| m.contains("SLOW")).count(), 1, "the P3's update reached its follower alone");
    assert_eq!(receiver.count(), 1, "the webhook heard the P1's update once");
}

async fn stakeholder_groups_are_kept_by_admins_and_bad_ones_are_refused_naming_the_field(server: TestServer) {
    let rita = server.user("rita", "responder").await;
    server.user("ann", "responder").await;
    let path = "/api/v1/stakeholder-groups";
    let ok = json!({"name": "Support", "members": ["ann"], "priorities": ["P1"], "audiences": ["internal"]});
    server.post(&rita, path, ok.clone()).await.problem(403);
    for (body, field, status) in [
        (json!({"priorities": ["P1"], "audiences": ["internal"]}), "name", 422),
        (
            json!({"name": "x", "members": ["nobody"], "priorities": ["P1"], "audiences": ["internal"]}),
            "members[0]",
            422,
        ),
        (
            json!({"name": "x", "emails": ["not-an-address"], "priorities": ["P1"], "audiences": ["internal"]}),
            "emails[0]",
            422,
        ),
        (
            json!({"name": "x", "webhooks": ["http://127.0.0.1:9/x"], "priorities": ["P1"], "audiences": ["internal"]}),
            "webhooks[0]",
            422,
        ),
        (json!({"name": "x", "priorities": [], "audiences": ["internal"]}), "priorities", 422),
        (json!({"name": "x", "priorities": ["P1"], "audiences": ["everyone"]}), "audiences[0]", 422),
        (json!({"name": "x", "priorities": ["P9"], "audiences": ["internal"]}), "priorities[0]", 422),
    ] {
        let refused = server.post(ADMIN_TOKEN, path, body.clone()).await;
        assert_eq!(refused.problem(status)["field"], field, "{body}: {}", refused.body);
    }
    assert_eq!(server.get(ADMIN_TOKEN, path).await.ok(200), &json!([]), "nothing was written");

    let created = server.post(ADMIN_TOKEN, path, ok.clone()).await.ok(201).clone();
    let id = created["id"].as_u64().unwrap();
    server.post(ADMIN_TOKEN, path, ok).await.problem(409);
    let changed = server
        .patch(
            ADMIN_TOKEN,
            &format!("{path}/{id}"),
            json!({"audiences": ["internal", "executive"], "services": ["checkout"]}),
        )
        .await;
    let changed = changed.ok(200).clone();
    assert_eq!((changed["name"].as_str(), changed["members"].clone()), (Some("Support"), json!(["ann"])), "kept");
    assert_eq!(changed["audiences"], json!(["internal", "executive"]));
    assert_eq!(changed["services"], json!(["checkout"]));
    server.patch(&rita, &format!("{path}/{id}"), json!({"name": "Mine"})).await.problem(403);
    server.patch(ADMIN_TOKEN, &format!("{path}/{id}"), json!({"audiences": []})).await.problem(422);
    assert_eq!(server.get(&rita, &format!("{path}/{id}")).await.ok(200)["audiences"], json!(["internal", "executive"]));
    server.delete(&rita, &format!("{path}/{id}")).await.problem(403);
    assert_eq!(server.delete(ADMIN_TOKEN, &format!("{path}/{id}")).await.status, 204);
    server.get(ADMIN_TOKEN, &format!("{path}/{id}")).await.problem(404);
    server.delete(ADMIN_TOKEN, &format!("{path}/{id}")).await.problem(404);
}

async fn followers_are_people_following_for_themselves_and_admins_for_anyone(server: TestServer) {
    let rita = server.user("rita", "responder").await;
    let vic = server.user("vic", "viewer").await;
    let r = declare(&server, "Checkout fails", "P2").await;
    let path = format!("/api/v1/incidents/{r}/followers");
    server.post(&rita, &path, json!({"user": "vic"})).await.problem(403);
    let followed = server.post(&vic, &path, json!({})).await.ok(200).clone();
    assert_eq!(followed[0]["user"], "vic", "a viewer follows for themself: {followed}");
    let again = server.post(&vic, &path, json!({})).await.ok(200).clone();
    assert_eq!(again.as_array().unwrap().len(), 1, "following twice is following");
    server.post(ADMIN_TOKEN, &path, json!({"user": "rita"})).await.ok(200);
    server.post(ADMIN_TOKEN, &path, json!({"user": "nobody"})).await.problem(404);
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-99/followers", json!({})).await.problem(404);
    server.delete(&rita, &format!("{path}/vic")).await.problem(403);
    assert_eq!(server.delete(&vic, &format!("{path}/vic")).await.status, 204);
    server.delete(&vic, &format!("{path}/vic")).await.problem(404);
    let left: Vec<Value> = server.get(&vic, &path).await.ok(200).as_array().unwrap().clone();
    assert_eq!(left.iter().map(|f| f["user"].as_str().unwrap()).collect::<Vec<_>>(), ["rita"]);
}

async fn customer_responses_are_recorded_on_published_external_updates_only(server: TestServer) {
    let rita = server.user("rita", "responder").await;
    let vic = server.user("vic", "viewer").await;
    let r = declare(&server, "Checkout fails", "P1").await;
    let path = format!("/api/v1/incidents/{r}/updates");
    let external = json!({"audience": "external", "body": "Some payments fail.", "status": "investigating"});
    let external = server.post(ADMIN_TOKEN, &path, external).await.ok(201)["id"].as_u64().unwrap();
    let internal = json!({"audience": "internal", "body": "The DB is full."});
    let internal = server.post(ADMIN_TOKEN, &path, internal).await.ok(201)["id"].as_u64().unwrap();
    let draft = json!({"audience": "external", "body": "Fixed?", "draft": true});
    let draft = server.post(ADMIN_TOKEN, &path, draft).await.ok(201)["id"].as_u64().unwrap();

    let reply = json!({"from": "Acme Corp", "channel": "email", "body": "Still failing for our EU shop."});
    server.post(&vic, &format!("{path}/{external}/responses"), reply.clone()).await.problem(403);
    server.post(&rita, &format!("{path}/{internal}/responses"), reply.clone()).await.problem(409);
    server.post(&rita, &format!("{path}/{draft}/responses"), reply.clone()).await.problem(409);
    server.post(&rita, &format!("{path}/9999/responses"), reply.clone()).await.problem(404);
    for (bad, field) in [
        (json!({"from": "Acme", "channel": "pigeon", "body": "x"}), "channel"),
        (json!({"from": " ", "channel": "email", "body": "x"}), "from"),
        (json!({"from": "Acme", "channel": "email", "body": ""}), "body"),
    ] {
        let refused = server.post(&rita, &format!("{path}/{external}/responses"), bad.clone()).await;
        assert_eq!(refused.problem(422)["field"], field, "{bad}: {}", refused.body);
    }
    let recorded = server.post(&rita, &format!("{path}/{external}/responses"), reply).await.ok(201).clone();
    assert_eq!((recorded["from"].as_str(), recorded["recorded_by"].as_str()), (Some("Acme Corp"), Some("rita")));
    let list = updates(&server, &r).await;
    let shown: Vec<(u64, usize)> =
        list.iter().map(|u| (u["id"].as_u64().unwrap(), u["responses"].as_array().unwrap().len())).collect();
    assert_eq!(shown, [(external, 1), (internal, 0), (draft, 0)], "the reply shows with its update only");
    assert_eq!(list[0]["responses"][0]["body"], "Still failing for our EU shop.");
}
