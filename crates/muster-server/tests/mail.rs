//! Email notifications reach a real SMTP server (Debian's python3-aiosmtpd,
//! storing what it receives in a maildir), with an answer link that works.

mod common;

use std::time::Duration;

use common::external::eventually;
use common::smtp::Smtp;
use common::{ADMIN_TOKEN, Setup, TestServer};
use muster_store::testing::Backend;
use serde_json::json;

async fn mail_reaches_the_smtp_server_with_an_ack_link_that_works(backend: Backend) {
    let Some(smtp) = Smtp::start().await else { return };
    let mut setup = Setup::default();
    setup.config.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    let alice = server.user("alice", "responder").await;
    let bob = server.user("bob", "responder").await;
    let method = server
        .post(&bob, "/api/v1/users/bob/contact-methods", json!({"kind": "email", "address": "bob@example.com"}))
        .await;
    let method = method.ok(201)["id"].as_u64().unwrap();
    server.post(&bob, &format!("/api/v1/users/bob/contact-methods/{method}/test"), json!({})).await.ok(202);
    eventually(Duration::from_secs(20), "the test mail", || async {
        smtp.messages().into_iter().find(|m| m.contains("Test notification for @bob")).map(|_| ())
    })
    .await;

    server.post(&alice, "/api/v1/incidents", json!({"title": "Checkout down", "priority": "P1"})).await.ok(201);
    let page = json!({"target": {"user": "bob"}, "message": "Please keep the timeline", "role": "scribe"});
    let id = server.post(&alice, "/api/v1/incidents/INC-1/pages", page).await.ok(201)["id"].as_u64().unwrap();
    let mail = eventually(Duration::from_secs(20), "the page mail", || async {
        smtp.messages().into_iter().find(|m| m.contains("Please keep the timeline"))
    })
    .await;
    assert!(mail.contains("To: bob@example.com"), "{mail}");
    assert!(mail.contains(&format!("Subject: [Muster] Page {id}: INC-1: Please keep the timeline")), "{mail}");
    assert!(mail.contains("Incident: INC-1 (P1, investigating): Checkout down"), "{mail}");
    let prefix = format!("{}/pages/{id}/ack?", server.url);
    let start = mail.find(&prefix).unwrap_or_else(|| panic!("no ack link in {mail}"));
    let link: String = mail[start..].chars().take_while(|c| !c.is_whitespace()).collect();

    let http = reqwest::Client::new();
    let answered = http.post(&link).send().await.unwrap();
    assert_eq!(answered.status(), 200);
    assert_eq!(server.get(ADMIN_TOKEN, &format!("/api/v1/pages/{id}")).await.ok(200)["state"], "acknowledged");
    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1").await.ok(200).clone();
    assert!(
        incident["roles"].as_array().unwrap().iter().any(|a| a["role"] == "scribe" && a["user"] == "bob"),
        "{incident}"
    );
    let shown = server.get(ADMIN_TOKEN, &format!("/api/v1/pages/{id}")).await.ok(200).clone();
    assert_eq!(shown["deliveries"][0]["kind"], "email");
    assert_eq!(shown["deliveries"][0]["to"], "bob@example.com");
    assert!(shown["deliveries"][0]["delivered_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_mail_reaches_the_smtp_server_with_an_ack_link_that_works() {
    mail_reaches_the_smtp_server_with_an_ack_link_that_works(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_mail_reaches_the_smtp_server_with_an_ack_link_that_works() {
    mail_reaches_the_smtp_server_with_an_ack_link_that_works(Backend::Postgres).await;
}
