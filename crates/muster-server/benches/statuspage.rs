//! The public status page under its largest expected load, on SQLite and
//! PostgreSQL:
//!
//! 1. `GET /status` and `GET /api/v2/summary.json` with 50 components in
//!    5 groups, 90 days of state history (several changes a day each,
//!    maintenance among them), `MUSTER_BENCH_INCIDENTS` public incidents
//!    (default 20) of 3 external updates
//!    and 3 maintenance windows: `MUSTER_BENCH_READS` sequential reads
//!    each (default 200) after a warm-up, then 8 clients at once for
//!    `MUSTER_BENCH_SECONDS` (default 5).
//! 2. Fan-out: one external update to `MUSTER_BENCH_SUBSCRIBERS` confirmed
//!    webhook subscribers (default 10,000) of its component, all at a
//!    receiver on 127.0.0.1: the publishing request (it writes every
//!    subscriber's job in its transaction), then until the receiver got
//!    the last delivery.
//!
//! Run: `MUSTER_TEST_POSTGRES_URL=postgres://… cargo bench -p muster-server --bench statuspage`.
//! `MUSTER_BENCH_BACKENDS=sqlite` (or `postgres`) runs only one backend.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, Stats, env_usize, timed};
use jiff::SignedDuration;
use muster_domain::Timestamp;
use muster_domain::statuspage::{ComponentSpec, ComponentStatus};
use muster_store::testing::Backend;
use muster_store::{ComponentChange, DecideComponent, SubscriberRecord};
use serde_json::json;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const COMPONENTS: u64 = 50;
const DAYS: i64 = 90;

fn row(backend: Backend, what: &str, s: &Stats) {
    println!("| {backend:?} | {what} | {} | {:.1} | {:.1} | {:.1} | {:.1} |", s.count, s.p50, s.p90, s.p99, s.max);
}

/// 50 components made 91 days ago, each with a few state changes a day.
async fn history(server: &Server) -> usize {
    let store = &server.app.store;
    let now = Timestamp::now();
    let born = now - SignedDuration::from_hours(24 * (DAYS + 1));
    let nothing: &DecideComponent<'_> = &|_, _: &ComponentChange| Ok((None, Vec::new()));
    let mut changes = 0;
    for c in 0..COMPONENTS {
        let group = format!("Region {}", c % 5);
        let spec = ComponentSpec::new(&format!("Service {c:02}"), "", Some(&group), c as u32, false, vec![]).unwrap();
        let id = store.create_component(&spec, born).await.unwrap().id;
        for day in 0..DAYS {
            let start = born + SignedDuration::from_hours(24 * day + (c as i64 + day) % 20);
            let bad = match (c as i64 + day) % 10 {
                0 => ComponentStatus::PartialOutage,
                3 => ComponentStatus::UnderMaintenance,
                7 => ComponentStatus::MajorOutage,
                _ => ComponentStatus::DegradedPerformance,
            };
            let back = start + SignedDuration::from_mins(20 + (c as i64 * 7 + day) % 90);
            for (status, at) in [(bad, start), (ComponentStatus::Operational, back)] {
                if store.set_component_status(id, status, None, nothing, at).await.unwrap().is_some() {
                    changes += 1;
                }
            }
        }
    }
    changes
}

/// POSTs `body` as the admin; the answer, which must be 201.
async fn post(server: &Server, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let r = server.http.post(format!("{}{path}", server.base)).bearer_auth(TOKEN).json(body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 201, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// 20 incidents on the page, 3 external updates each; 3 maintenances.
async fn incidents(server: &Server, count: u64) {
    for i in 0..count {
        let body = json!({"title": format!("Incident {i}"), "priority": "P2", "incident_manager": "admin"});
        let number = post(server, "/api/v1/incidents", &body).await["number"].as_u64().unwrap();
        for (u, state) in ["partial_outage", "degraded_performance", "operational"].iter().enumerate() {
            let component = format!("Service {:02}", (i * 3 + u as u64) % COMPONENTS);
            let status = ["investigating", "identified", "resolved"][u];
            let update = json!({"audience": "external", "body": format!("Update {u} of incident {i}: we are on it."),
                                "status": status,
                                "components": [{"component": component, "status": state}]});
            post(server, &format!("/api/v1/incidents/{number}/updates"), &update).await;
        }
    }
    let now = Timestamp::now();
    for (m, hours) in [(0, 2), (1, 30), (2, 200)] {
        let starts = now + SignedDuration::from_hours(hours);
        let body = json!({"title": format!("Maintenance {m}"), "components": [format!("Service {:02}", m * 7)],
                          "starts_at": starts.to_string(), "ends_at": (starts + SignedDuration::from_hours(2)).to_string()});
        post(server, "/api/v1/status/maintenances", &body).await;
    }
}

async fn reads(backend: Backend, server: &Server, reads: usize, seconds: u64) {
    for path in ["/status", "/api/v2/summary.json"] {
        let url = format!("{}{path}", server.base);
        let size = server.http.get(&url).send().await.unwrap().bytes().await.unwrap().len();
        let stats = timed(5, reads, || {
            let (http, url) = (server.http.clone(), url.clone());
            async move {
                let r = http.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
        })
        .await;
        row(backend, &format!("`GET {path}` ({} KB), one client", size / 1024), &stats);
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut clients = Vec::new();
        for _ in 0..8 {
            let (http, url) = (server.http.clone(), url.clone());
            clients.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let r = http.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    samples.push(t.elapsed());
                }
                samples
            }));
        }
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.unwrap());
        }
        let per_second = all.len() as f64 / seconds as f64;
        row(backend, &format!("`GET {path}`, 8 clients ({per_second:.0}/s)"), &Stats::of(&all));
    }
}

/// A receiver that counts what it gets.
async fn receiver() -> (Arc<AtomicUsize>, String) {
    let got = Arc::new(AtomicUsize::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

async fn fan_out(backend: Backend, server: &Server, subscribers: usize) {
    let (got, url) = receiver().await;
    let store = &server.app.store;
    let now = Timestamp::now();
    let made = Instant::now();
    for i in 0..subscribers {
        let new = SubscriberRecord {
            id: 0,
            kind: "webhook".into(),
            address: format!("{url}?subscriber={i}"),
            components: vec![1],
            token: format!("bench-token-{i}"),
            secret: Some(format!("whsec_bench_{i}")),
            confirmed_at: None,
            created_at: now,
        };
        let (s, _) = store.subscribe(&new).await.unwrap();
        store.confirm_subscriber(s.id, now).await.unwrap();
    }
    eprintln!("{subscribers} subscribers written in {:.1} s ({backend:?}).", made.elapsed().as_secs_f64());
    let body = json!({"title": "Fan-out", "priority": "P1", "incident_manager": "admin"});
    let number = post(server, "/api/v1/incidents", &body).await["number"].as_u64().unwrap();
    let update = json!({"audience": "external", "body": "Service 00 is down for some customers.", "status": "investigating",
                        "components": [{"component": "Service 00", "status": "major_outage"}]});
    let start = Instant::now();
    let r = server
        .http
        .post(format!("{}/api/v1/incidents/{number}/updates", server.base))
        .bearer_auth(TOKEN)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let published = start.elapsed();
    // Each subscriber gets the incident body and the component's.
    let expected = 2 * subscribers;
    let limit = Duration::from_secs(600);
    while got.load(Ordering::Relaxed) < expected && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = start.elapsed();
    let delivered = got.load(Ordering::Relaxed);
    println!(
        "| {backend:?} | {subscribers} | {:.0} | {:.1} | {delivered} of {expected} | {:.0}/s |",
        published.as_secs_f64() * 1000.0,
        all.as_secs_f64(),
        delivered as f64 / all.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let n = env_usize("MUSTER_BENCH_READS", 200).max(1);
    let seconds = env_usize("MUSTER_BENCH_SECONDS", 5).max(1) as u64;
    let subscribers = env_usize("MUSTER_BENCH_SUBSCRIBERS", 10_000);
    let http = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap();
    let mut fanouts = Vec::new();
    println!("| backend | what | requests | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for backend in common::backends_from_env() {
        let config = muster_app::Config {
            webhook_allow: muster_domain::egress::WebhookAllow::parse(["127.0.0.1/32"]).unwrap(),
            ..muster_app::Config::default()
        };
        let Some(server) = Server::start_with(backend, TOKEN, http.clone(), config).await else {
            println!("| {backend:?} | skipped: MUSTER_TEST_POSTGRES_URL is not set | | | | | |");
            continue;
        };
        let changes = history(&server).await;
        incidents(&server, env_usize("MUSTER_BENCH_INCIDENTS", 20) as u64).await;
        eprintln!("{backend:?}: {changes} component changes over {DAYS} days");
        reads(backend, &server, n, seconds).await;
        fanouts.push((backend, server));
    }
    println!("\n| backend | subscribers | publish request ms | last delivery s | delivered | rate |");
    println!("|---|---:|---:|---:|---|---:|");
    for (backend, server) in fanouts {
        fan_out(backend, &server, subscribers).await;
        server.stop().await;
    }
}
