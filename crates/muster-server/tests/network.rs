//! The server's edges to the network, over HTTP on both backends: a
//! webhook to an internal address refused at creation, the sign-in
//! slow-down per account and address (clients on 127.0.0.1 and 127.0.0.2,
//! and behind a trusted proxy), sign-ins refused while every password check
//! is busy, and the metrics token.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{ADMIN_TOKEN, Setup, TestServer};
use muster_store::testing::Backend;
use reqwest::redirect::Policy;
use serde_json::json;

/// Generates `sqlite::name` and `postgres::name` tests that call
/// `name(backend)`: these tests start servers with settings of their own.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(muster_store::testing::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(muster_store::testing::Backend::Postgres).await;
            })*
        }
    };
}

on_both!(
    a_webhook_to_127_0_0_1_is_refused_at_creation_without_the_allow_setting,
    the_admin_can_still_sign_in_from_another_address_after_six_wrong_guesses_from_a_first,
    x_forwarded_for_names_the_client_only_when_the_peer_is_a_trusted_proxy,
    a_sign_in_refused_because_every_password_check_is_busy_is_not_counted,
    setting_a_password_waits_for_a_free_password_check,
    metrics_need_the_token_when_the_server_has_one,
);

async fn start(backend: Backend, config: muster_app::Config) -> Option<TestServer> {
    TestServer::start_with(backend, Setup { config, ..Setup::default() }).await
}

const PASSWORD: &str = "correct horse battery";

async fn with_password(server: &TestServer, handle: &str) {
    let path = format!("/api/v1/users/{handle}/password");
    server.post(ADMIN_TOKEN, &path, json!({"password": PASSWORD})).await.ok(204);
}

/// A browser on `local` (127.0.0.1 or 127.0.0.2: both reach the server).
fn browser(local: &str) -> reqwest::Client {
    let local: IpAddr = local.parse().unwrap();
    reqwest::Client::builder().redirect(Policy::none()).local_address(local).build().unwrap()
}

fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (kv, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = kv.split_once('=')?;
        (k == name).then(|| val.to_owned())
    })
}

/// Fills in and sends the sign-in form, as a browser would, with an
/// `X-Forwarded-For` header when given.
async fn sign_in(
    http: &reqwest::Client,
    server: &TestServer,
    handle: &str,
    password: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let form = http.get(format!("{}/login", server.url)).send().await.unwrap();
    let login = cookie(&form, "muster_login").expect("the form sets its CSRF cookie");
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", csrf.as_str()), ("handle", handle), ("password", password), ("next", "/")])
        .finish();
    let mut req = http
        .post(format!("{}/login", server.url))
        .header("cookie", format!("muster_login={login}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

async fn a_webhook_to_127_0_0_1_is_refused_at_creation_without_the_allow_setting(backend: Backend) {
    let Some(server) = start(backend, muster_app::Config::default()).await else { return };
    let alice = server.user("alice", "responder").await;
    let path = "/api/v1/users/alice/contact-methods";
    for address in ["http://127.0.0.1:1/", "http://169.254.169.254/latest/meta-data/", "http://localhost:8080/"] {
        let refused = server.post(&alice, path, json!({"kind": "webhook", "address": address})).await;
        let body = refused.problem(422);
        assert_eq!(body["field"], "address", "{address}");
        assert!(body["detail"].as_str().unwrap().contains("--webhook-allow"), "says how to allow it: {body}");
    }
    assert_eq!(server.get(&alice, path).await.ok(200).as_array().unwrap().len(), 0, "nothing was stored");
}

async fn the_admin_can_still_sign_in_from_another_address_after_six_wrong_guesses_from_a_first(backend: Backend) {
    let Some(server) = start(backend, muster_app::Config::default()).await else { return };
    with_password(&server, "admin").await;
    let (guesser, admin) = (browser("127.0.0.1"), browser("127.0.0.2"));
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(sign_in(&guesser, &server, "admin", "not the password", None).await.status().as_u16());
    }
    assert_eq!(answers, [401, 401, 401, 401, 401, 429], "the guesser is slowed down after five");
    assert_eq!(sign_in(&guesser, &server, "admin", PASSWORD, None).await.status(), 429, "and stays slowed");

    let signed_in = sign_in(&admin, &server, "admin", PASSWORD, None).await;
    assert_eq!(signed_in.status(), 303, "another address is not locked out by someone else's guesses");
    assert!(cookie(&signed_in, "muster_session").is_some());
}

async fn x_forwarded_for_names_the_client_only_when_the_peer_is_a_trusted_proxy(backend: Backend) {
    // Behind a proxy on 127.0.0.1 that the operator trusts.
    let trusting = muster_app::Config { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..Default::default() };
    let Some(server) = start(backend, trusting).await else { return };
    with_password(&server, "admin").await;
    let proxy = browser("127.0.0.1");
    for _ in 0..5 {
        let r = sign_in(&proxy, &server, "admin", "not the password", Some("198.51.100.1, 203.0.113.7")).await;
        assert_eq!(r.status(), 401);
    }
    let guesser = sign_in(&proxy, &server, "admin", PASSWORD, Some("203.0.113.7")).await;
    assert_eq!(guesser.status(), 429, "the client behind the proxy is slowed");
    let other = sign_in(&proxy, &server, "admin", PASSWORD, Some("203.0.113.8")).await;
    assert_eq!(other.status(), 303, "another client behind the same proxy is not");
    drop(server);

    // A peer that is not a trusted proxy cannot choose its address by header.
    let Some(server) = start(backend, muster_app::Config::default()).await else { return };
    with_password(&server, "admin").await;
    let client = browser("127.0.0.1");
    for i in 0..5 {
        let forwarded = format!("203.0.113.{i}");
        let r = sign_in(&client, &server, "admin", "not the password", Some(&forwarded)).await;
        assert_eq!(r.status(), 401);
    }
    let r = sign_in(&client, &server, "admin", PASSWORD, Some("203.0.113.99")).await;
    assert_eq!(r.status(), 429, "the header of an untrusted peer is ignored");
}

async fn a_sign_in_refused_because_every_password_check_is_busy_is_not_counted(backend: Backend) {
    let Some(server) = start(backend, muster_app::Config::default()).await else { return };
    with_password(&server, "admin").await;
    let http = browser("127.0.0.1");
    let busy = server.app.password_checks.acquire_many(muster_app::signin::CONCURRENT_CHECKS as u32).await.unwrap();
    for password in ["not the password"; 6].into_iter().chain([PASSWORD; 2]) {
        let r = sign_in(&http, &server, "admin", password, None).await;
        assert_eq!(r.status(), 503, "every check is busy");
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(r.text().await.unwrap().contains("Try again in a moment"));
    }
    drop(busy);
    let r = sign_in(&http, &server, "admin", PASSWORD, None).await;
    assert_eq!(r.status(), 303, "none of the busy attempts counted as a failure");
}

async fn setting_a_password_waits_for_a_free_password_check(backend: Backend) {
    let Some(server) = start(backend, muster_app::Config::default()).await else { return };
    let busy = server.app.password_checks.acquire_many(muster_app::signin::CONCURRENT_CHECKS as u32).await.unwrap();
    let (app, admin) = (server.app.clone(), muster_domain::Handle::parse("admin").unwrap());
    let actor = muster_domain::Actor { handle: admin.clone(), permission: muster_domain::Permission::Admin };
    let mut setting = tokio::spawn(async move { app.set_password(&actor, &admin, PASSWORD).await });
    // Not a timing claim: whatever the machine's speed, a hash that waits
    // for a check does not finish while every check is held.
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut setting).await.is_err(), "hashing waits");
    assert!(server.app.store.password_hash(&muster_domain::Handle::parse("admin").unwrap()).await.unwrap().is_none());
    drop(busy);
    setting.await.unwrap().unwrap();
    let r = sign_in(&browser("127.0.0.1"), &server, "admin", PASSWORD, None).await;
    assert_eq!(r.status(), 303);
}

async fn metrics_need_the_token_when_the_server_has_one(backend: Backend) {
    let http = reqwest::Client::new();
    let Some(open) = start(backend, muster_app::Config::default()).await else { return };
    let r = http.get(format!("{}/metrics", open.url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "without the setting /metrics stays open");
    drop(open);

    let token = "metrics-token-0123456789abcdef";
    let config = muster_app::Config { metrics_token: Some(token.into()), ..Default::default() };
    let Some(server) = start(backend, config).await else { return };
    let without = server.request(None, reqwest::Method::GET, "/metrics", None).await;
    without.problem(401);
    assert_eq!(without.headers["www-authenticate"], "Bearer");
    server.get("not-the-metrics-token", "/metrics").await.problem(401);
    server.get(ADMIN_TOKEN, "/metrics").await.problem(401);
    let r = http.get(format!("{}/metrics", server.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("muster_incidents"));
}
