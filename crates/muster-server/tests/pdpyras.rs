//! Muster behind the real `pdpyras` Python client (PagerDuty Events API v2
//! and change events), with `session.url` pointed at Muster. The Python
//! comes from `MUSTER_TEST_PYTHON` (set by .ci/run to a virtualenv with
//! pdpyras) or `.venv/bin/python` at the workspace root.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{ADMIN_TOKEN, TestServer};
use serde_json::{Value, json};

on_both_backends!(the_pdpyras_client_triggers_acknowledges_resolves_and_sends_changes);

fn python_with_pdpyras() -> Option<PathBuf> {
    common::external::python_with(
        "pdpyras",
        "set MUSTER_TEST_PYTHON, or python3 -m venv .venv && .venv/bin/pip install pdpyras",
    )
}

async fn the_pdpyras_client_triggers_acknowledges_resolves_and_sends_changes(server: TestServer) {
    let Some(python) = python_with_pdpyras() else { return };
    let svc = server.service("db", json!({"auto_declare": {"critical": "P1"}})).await;
    let key = svc["integration_key"].as_str().unwrap().to_owned();
    let script = format!("{}/tests/clients/pdpyras_client.py", env!("CARGO_MANIFEST_DIR"));
    let (url, python2) = (server.url.clone(), python.clone());
    let out =
        tokio::task::spawn_blocking(move || Command::new(python2).arg(script).arg(url).arg(key).output().unwrap())
            .await
            .unwrap();
    assert!(out.status.success(), "the client failed: {}", String::from_utf8_lossy(&out.stderr));
    let said: Value = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    assert_eq!((said["disk"].as_str(), said["again"].as_str()), (Some("disk-db-1"), Some("disk-db-1")));
    assert_eq!(said["api"].as_str().unwrap().len(), 32, "Muster generated the dedup key");
    assert_eq!(said["rejected"], 400, "an unknown routing key is refused the PagerDuty way");

    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    let by_key = |k: &str| alerts.as_array().unwrap().iter().find(|a| a["dedup_key"] == k).unwrap().clone();
    let disk = by_key("disk-db-1");
    assert_eq!((disk["count"].as_u64(), disk["status"].as_str()), (Some(2), Some("resolved")));
    assert_eq!(disk["details"]["custom_details"]["pct"], 99, "the latest details win");
    let api = by_key(said["api"].as_str().unwrap());
    assert_eq!((api["status"].as_str(), api["severity"].as_str()), (Some("acknowledged"), Some("error")));

    // The critical alert declared a P1; its resolution and the deploy are on the timeline.
    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/1/timeline").await.ok(200).clone();
    let kinds: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"alert_linked") && kinds.contains(&"alert_resolved"), "{kinds:?}");
    assert!(kinds.contains(&"change"), "the deploy shows beside the symptoms: {kinds:?}");
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/incidents/1").await.body["all_alerts_resolved"], true);
}
