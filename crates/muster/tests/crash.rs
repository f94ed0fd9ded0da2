//! Crash safety of ingestion: `muster serve` is killed with SIGKILL in the
//! middle of a load of PagerDuty events and started again. Every event that
//! was answered 2xx must be there, no alert may exist twice, and the alert
//! storm that auto-declares must have made exactly one incident.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN, Server, all};
use muster_store::testing::TestDatabase;
use serde_json::{Value, json};

on_both_backends!(a_sigkill_during_ingest_loses_no_accepted_alert_and_duplicates_nothing);

const TASKS: usize = 16;
const KILL_AFTER: u64 = 400;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn a_sigkill_during_ingest_loses_no_accepted_alert_and_duplicates_nothing(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    let url = server.url.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let accepted: Arc<Mutex<HashMap<String, u64>>> = Arc::default();

    runtime().block_on(async {
        let svc: Value = http
            .post(format!("{url}/api/v1/services"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "checkout", "auto_declare": {"critical": "P1"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = svc["integration_key"].as_str().unwrap().to_owned();
        let total = Arc::new(AtomicU64::new(0));
        let dead = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (http, url, key, accepted, total, dead) =
                (http.clone(), url.clone(), key.clone(), accepted.clone(), total.clone(), dead.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..5_000 {
                    if dead.load(Ordering::Relaxed) {
                        break;
                    }
                    // A storm on one key that auto-declares, repeats on a few
                    // keys, and many distinct alerts.
                    let (dedup, severity) = match i % 4 {
                        0 => ("storm".to_owned(), "critical"),
                        1 => (format!("repeat-{}", i % 7), "error"),
                        _ => (format!("t{task}-{i}"), "warning"),
                    };
                    let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                                      "payload": {"summary": format!("{dedup} failing"), "source": "load", "severity": severity}});
                    match http.post(format!("{url}/v2/enqueue")).json(&body).send().await {
                        Ok(r) if r.status().as_u16() == 202 => {
                            *accepted.lock().unwrap().entry(dedup).or_default() += 1;
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("unexpected answer {}", r.status()),
                        Err(_) => break, // the server is gone
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while total.load(Ordering::Relaxed) < KILL_AFTER {
            assert!(Instant::now() < deadline, "the load never reached {KILL_AFTER} accepted events");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        dead.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
    });

    let server = Server::start(&db.url, Some(ADMIN));
    let url = server.url.clone();
    runtime().block_on(async {
        let alerts = all(&http, &url, "alerts").await;
        let mut seen: HashMap<String, &Value> = HashMap::new();
        for a in &alerts {
            let key = a["dedup_key"].as_str().unwrap().to_owned();
            assert!(seen.insert(key.clone(), a).is_none(), "alert {key} exists twice");
        }
        let accepted = accepted.lock().unwrap().clone();
        assert!(accepted.values().sum::<u64>() >= KILL_AFTER);
        for (key, n) in accepted.iter() {
            let alert = seen.get(key).unwrap_or_else(|| panic!("accepted alert {key} was lost"));
            // In-flight events may have committed without an answer, never the reverse.
            assert!(alert["count"].as_u64().unwrap() >= *n, "{key}: {} < {n} accepted", alert["count"]);
        }
        let incidents: Vec<Value> =
            http.get(format!("{url}/api/v1/incidents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        assert_eq!(incidents.len(), 1, "the storm declared exactly one incident");
        assert_eq!(seen["storm"]["incident"], incidents[0]["ref"]);
    });
}
