//! Pages flowing through real `muster serve` processes: a webhook receiver
//! that counts every delivery, a policy that escalates every second, and
//! the checks that no page was lost and nothing recorded as delivered was
//! sent again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::ADMIN;

/// Steps per page: two people, each step 1 s apart, the policy run twice.
pub const STEPS: u64 = 4;

/// A delivery as `(page, step, person)`.
pub type Key = (u64, u64, String);

/// Counts deliveries by page, step and person, and checks their signatures' presence.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<HashMap<Key, u32>>>,
}

impl Receiver {
    pub async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    assert!(headers.contains_key("x-muster-signature") && headers.contains_key("idempotency-key"));
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let key = (
                        v["page_id"].as_u64().unwrap(),
                        v["step"].as_u64().unwrap(),
                        v["person"].as_str().unwrap().to_owned(),
                    );
                    *state.got.lock().unwrap().entry(key).or_default() += 1;
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    pub fn total(&self) -> u32 {
        self.got.lock().unwrap().values().sum()
    }

    pub fn snapshot(&self) -> HashMap<Key, u32> {
        self.got.lock().unwrap().clone()
    }
}

pub async fn post(http: &reqwest::Client, url: &str, path: &str, body: Value) -> Value {
    let r = http.post(format!("{url}{path}")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.unwrap()
}

/// Bob and carol on webhooks, a policy escalating every second from bob to
/// carol and round again, and a service using it. Returns its integration key.
pub async fn setup(http: &reqwest::Client, url: &str, hook: &str) -> String {
    for u in ["bob", "carol"] {
        post(
            http,
            url,
            "/api/v1/users",
            json!({"handle": u, "name": u, "email": format!("{u}@example.com"), "email_contact_method": false}),
        )
        .await;
        post(http, url, &format!("/api/v1/users/{u}/contact-methods"), json!({"kind": "webhook", "address": hook}))
            .await;
    }
    let policy = post(
        http,
        url,
        "/api/v1/escalation-policies",
        json!({"name": "Every second", "repeat": 1, "steps": [
            {"delay_seconds": 1, "targets": [{"user": "bob"}]},
            {"delay_seconds": 1, "targets": [{"user": "carol"}]}]}),
    )
    .await;
    // Every notification on its own (no bundling): these tests count each
    // step's delivery.
    let svc = json!({"name": "checkout", "escalation_policy": policy["id"], "bundle_window_seconds": 0});
    let svc = post(http, url, "/api/v1/services", svc).await;
    svc["integration_key"].as_str().unwrap().to_owned()
}

pub async fn trigger(http: &reqwest::Client, url: &str, key: &str, dedup: &str) -> bool {
    let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                      "payload": {"summary": format!("{dedup} failing"), "source": "load", "severity": "error"}});
    matches!(http.post(format!("{url}/v2/enqueue")).json(&body).send().await, Ok(r) if r.status().as_u16() == 202)
}

pub async fn pages(http: &reqwest::Client, url: &str) -> Vec<Value> {
    http.get(format!("{url}/api/v1/pages?limit=1000")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

/// Waits (at most `limit`) until every page expired and every step of it
/// reached the receiver at least once.
pub async fn wait_until_done(http: &reqwest::Client, url: &str, receiver: &Receiver, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let all = pages(http, url).await;
        let expired = all.iter().filter(|p| p["state"] == "expired").count();
        let got = receiver.snapshot();
        let delivered = all
            .iter()
            .filter(|p| (1..=STEPS).all(|s| got.contains_key(&(p["id"].as_u64().unwrap(), s, person(s)))))
            .count();
        if all.len() == n && expired == n && delivered == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {limit:?}: {} pages, {expired} expired, {delivered} fully delivered, of {n}",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Who step `s` (from 1) notifies.
pub fn person(s: u64) -> String {
    if s % 2 == 1 { "bob".into() } else { "carol".into() }
}

/// Every page got each of its steps at least once, and any delivery the
/// server had recorded as done before `killed_at` arrived exactly once.
/// Returns how many deliveries arrived twice (the in-flight case).
pub async fn check_deliveries(http: &reqwest::Client, url: &str, receiver: &Receiver, killed_at: SystemTime) -> usize {
    let got = receiver.snapshot();
    let killed_at = jiff::Timestamp::try_from(killed_at).unwrap();
    let mut twice = 0;
    for p in pages(http, url).await {
        let id = p["id"].as_u64().unwrap();
        assert_eq!(p["notified"], json!(["bob", "carol"]), "page {id}");
        for s in 1..=STEPS {
            let n = got.get(&(id, s, person(s))).copied().unwrap_or(0);
            assert!(n >= 1, "page {id} step {s} was never delivered");
            twice += usize::from(n > 1);
        }
        let shown: Value =
            http.get(format!("{url}/api/v1/pages/{id}")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        let deliveries = shown["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), STEPS as usize, "page {id}: one notification per step");
        for (i, d) in deliveries.iter().enumerate() {
            let at: jiff::Timestamp = d["delivered_at"].as_str().expect("delivered").parse().unwrap();
            if at < killed_at {
                let key = (id, i as u64 + 1, d["person"].as_str().unwrap().to_owned());
                assert_eq!(got[&key], 1, "{key:?} was recorded as delivered before the kill and sent again");
            }
        }
    }
    twice
}
