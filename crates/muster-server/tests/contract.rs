//! The OpenAPI document is the contract: schemathesis reads
//! `/api/v1/openapi.json` from a live server, generates requests that fit
//! it and requests that break it, and checks every answer against it
//! (`--checks all`). Any failure fails this test with schemathesis' report.
//!
//! schemathesis comes from the virtualenv of `MUSTER_TEST_PYTHON` (set by
//! .ci/run, which installs it there) or `.venv/bin/python` at the workspace
//! root. Its few exclusions, and why, are in `tests/fixtures/schemathesis.toml`,
//! `tests/fixtures/schemathesis_hooks.py` and the README ("The API contract").

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::external::TempDir;
use common::{ADMIN_TOKEN, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    schemathesis_finds_every_answer_as_the_openapi_document_describes_it,
    every_error_the_document_lists_is_a_problem_and_every_authenticated_operation_may_refuse,
    a_limit_outside_the_documented_range_is_refused_naming_it,
);

/// The document names a schema after its Rust type, without the module:
/// two types of one name (an update's deliveries and a page's were both
/// `DeliveryResponse`) become one schema, and one of them is described
/// wrongly. Every type the document describes has a name of its own.
#[test]
fn no_two_schemas_of_the_document_share_a_name() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src];
    let mut names: Vec<(String, String)> = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut derives_schema = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") {
                derives_schema = line.contains("ToSchema");
                continue;
            }
            let named = line.strip_prefix("pub struct ").or_else(|| line.strip_prefix("pub enum "));
            let implemented =
                line.strip_prefix("impl ToSchema for ").or_else(|| line.strip_prefix("impl utoipa::ToSchema for "));
            let name = match (named, implemented) {
                (Some(rest), _) if derives_schema => rest,
                (_, Some(rest)) => rest,
                _ => {
                    if !line.starts_with("#[") && !line.starts_with("///") {
                        derives_schema = false;
                    }
                    continue;
                }
            };
            derives_schema = false;
            let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            names.push((name, path.display().to_string()));
        }
    }
    names.sort();
    let twice: Vec<_> = names
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| format!("{} in {} and {}", w[0].0, w[0].1, w[1].1))
        .collect();
    assert!(twice.is_empty(), "schema names used twice: {twice:?}");
    assert!(names.len() > 20, "the scan found the schemas: {names:?}");
}

fn python_with_schemathesis() -> Option<PathBuf> {
    common::external::python_with("schemathesis.cli", "set MUSTER_TEST_PYTHON, or .venv/bin/pip install schemathesis")
}

/// A few of everything, so that generated ids and handles sometimes name
/// something that exists and the operations get past "not found".
async fn seed(server: &TestServer) {
    let alice = server.user("alice", "responder").await;
    server.user("vera", "viewer").await;
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P1"})).await.ok(201);
    server
        .post(&alice, "/api/v1/incidents", json!({"title": "Slow search", "priority": "P3", "summary": "p99 at 4 s"}))
        .await
        .ok(201);
    // Drafts to change and publish (ids 1 and 2), for each kind of form.
    for (audience, body) in [("internal", "Checkout fails for 5 %"), ("external", "Some payments fail")] {
        let draft = json!({"audience": audience, "body": body, "draft": true});
        server.post(&alice, "/api/v1/incidents/INC-1/updates", draft).await.ok(201);
    }
    let service = server.service("db", json!({"auto_declare": {"critical": "P2"}})).await;
    let key = service["integration_key"].as_str().unwrap().to_owned();
    let event = json!({"summary": "disk full", "severity": "error", "dedup_key": "disk"});
    server.post(ADMIN_TOKEN, &format!("/api/v1/integrations/generic/{key}"), event).await.ok(202);
    let layers =
        json!([{"rotation": {"users": ["alice", "admin"], "shift": "1d", "handoff": "09:00", "start": "2026-03-23"}}]);
    server
        .post(
            ADMIN_TOKEN,
            "/api/v1/schedules",
            json!({"name": "primary", "time_zone": "Europe/Berlin", "layers": layers}),
        )
        .await
        .ok(201);
    let steps = json!([{"delay_seconds": 300, "targets": [{"user": "alice"}, {"schedule": 1}]}]);
    server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", json!({"name": "db", "steps": steps})).await.ok(201);
    let method = json!({"kind": "email", "address": "alice@example.com"});
    server.post(&alice, "/api/v1/users/alice/contact-methods", method).await.ok(201);
}

async fn schemathesis_finds_every_answer_as_the_openapi_document_describes_it(server: TestServer) {
    let Some(python) = python_with_schemathesis() else { return };
    seed(&server).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let config = fixtures.join("schemathesis.toml");
    let reports = TempDir::new("muster-contract");
    let url = format!("{}/api/v1/openapi.json", server.url);
    let args: Vec<String> = vec![
        "-W".into(),
        "ignore".into(),
        "-c".into(),
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())"
            .into(),
        "--config-file".into(),
        config.display().to_string(),
        "--no-color".into(),
        "run".into(),
        url,
        "--checks".into(),
        "all".into(),
        // Replaced by `positive_data_acceptance_but_references` from the hooks:
        // the same check, excusing only what no schema can express.
        "--exclude-checks".into(),
        "positive_data_acceptance".into(),
        // PostgreSQL cannot store NUL in text, so every string with one is
        // refused (422) on both backends; the document does not repeat that
        // on every string.
        "--generation-allow-x00".into(),
        "false".into(),
        "--header".into(),
        format!("Authorization: Bearer {ADMIN_TOKEN}"),
        // Small and fixed, so that a run takes well under three minutes on
        // two busy cores and finds the same cases every time.
        "--max-examples".into(),
        "10".into(),
        "--seed".into(),
        "1".into(),
        "--workers".into(),
        "2".into(),
        "--report-dir".into(),
        reports.0.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(args)
            .env("PYTHONPATH", &fixtures)
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found the API breaking its OpenAPI document:\n{report}");
}

async fn every_error_the_document_lists_is_a_problem_and_every_authenticated_operation_may_refuse(server: TestServer) {
    let doc = server.request(None, Method::GET, "/api/v1/openapi.json", None).await.ok(200).clone();
    let problem = json!({"schema": {"$ref": "#/components/schemas/Problem"}});
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{method} {path} does not list {status}");
                }
            }
            if op["requestBody"]["content"].get("application/json").is_some() && !path.starts_with("/v2/") {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} does not list {status}");
                }
            }
            for (status, response) in responses {
                if status.starts_with('4') && !path.starts_with("/v2/") {
                    assert_eq!(
                        response["content"]["application/problem+json"], problem,
                        "{method} {path} {status} is not a problem document"
                    );
                }
            }
        }
    }
}

async fn a_limit_outside_the_documented_range_is_refused_naming_it(server: TestServer) {
    let doc = server.request(None, Method::GET, "/api/v1/openapi.json", None).await.ok(200).clone();
    let params = doc["paths"]["/api/v1/incidents"]["get"]["parameters"].as_array().unwrap().clone();
    let limit: &Value = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["in"].as_str(), limit["schema"]["minimum"].as_u64()), (Some("query"), Some(1)));
    assert_eq!(limit["schema"]["maximum"], 1000);
    for path in ["/api/v1/incidents", "/api/v1/alerts", "/api/v1/pages", "/api/v1/jobs", "/api/v1/incidents/1/timeline"]
    {
        for bad in [0, 1001] {
            let reply = server.get(ADMIN_TOKEN, &format!("{path}?limit={bad}")).await;
            assert_eq!(reply.problem(400)["field"], "limit", "{path}?limit={bad}");
        }
    }
    server.post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Checkout fails", "priority": "P1"})).await.ok(201);
    for path in ["/api/v1/incidents?limit=1000", "/api/v1/incidents/1/timeline?limit=1"] {
        server.get(ADMIN_TOKEN, path).await.ok(200);
    }
}
