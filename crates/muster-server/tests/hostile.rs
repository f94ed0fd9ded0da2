//! Hostile input: arbitrary bytes and arbitrary JSON at every route that
//! takes a body, arbitrary values at every route that takes a query — both
//! lists read from `muster_server::openapi()`, so a new route is covered
//! without editing this file — and arbitrary paths. Nothing may panic or
//! answer 5xx, and every error is a problem document.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use muster_app::{App, SystemClock};
use muster_store::testing::{Backend, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "mst_hostile_admin_token_of_32_characters";

/// Property names in the OpenAPI document's schemas, and those inside
/// the free-form objects it does not describe (schedule layers, policy
/// steps, wire formats).
fn field_names() -> Vec<&'static str> {
    let doc = serde_json::to_value(muster_server::openapi()).unwrap();
    let mut names: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    fn walk(v: &Value, names: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    names.extend(props.keys().cloned());
                }
                m.values().for_each(|v| walk(v, names));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, names)),
            _ => {}
        }
    }
    walk(&doc, &mut names);
    for extra in [
        "layers",
        "rotation",
        "users",
        "shift",
        "handoff",
        "start",
        "end",
        "restrict",
        "days",
        "time_zone",
        "steps",
        "targets",
        "delay_seconds",
        "repeat",
        "schedule",
        "address",
        "alerts",
        "labels",
        "annotations",
        "fingerprint",
        "routing_key",
        "event_action",
        "payload",
        "dedup_key",
        "severity",
        "source",
        "x",
        "P1",
        "P3",
    ] {
        names.insert(extra.to_owned());
    }
    names.into_iter().map(|n| &*Box::leak(n.into_boxed_str())).collect()
}

/// JSON built from the field names and values the API knows, and others.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(field_names());
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "P1",
            "P9",
            "alice",
            "admin",
            "@admin",
            "tech_lead",
            "incident_manager",
            "communications_manager",
            "internal",
            "note",
            "milestone",
            "impact_detected",
            "resolved",
            "closed",
            "investigating",
            "2020-01-01T00:00:00Z",
            "",
            "viewer",
            "a@b.c",
            "\u{0}",
            "🔥",
            "1é",
            "52w",
            "1d",
            "12h",
            "09:00",
            "24:00",
            "mon",
            "UTC",
            "Europe/Berlin",
            "Mars/Olympus",
            "-009999-01-01",
            "9999-12-31",
            "-009999-01-01T00:00:00Z",
            "9999-12-30T23:59:59Z",
            "firing",
            "webhook",
            "email",
            "http://127.0.0.1:1/",
        ])
        .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(names.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body_ {
    Bytes(Vec<u8>),
    Json(Value),
}

/// The key of the service `setup` creates, for the ingest routes.
const KEY: &str = "0123456789abcdef0123456789abcdef";

/// A server on each backend (PostgreSQL when configured): a runtime, the
/// router and the database, with one incident and one service.
fn setups() -> Vec<(tokio::runtime::Runtime, axum::Router, TestDatabase)> {
    [Backend::Sqlite, Backend::Postgres].into_iter().filter_map(setup).collect()
}

fn setup(backend: Backend) -> Option<(tokio::runtime::Runtime, axum::Router, TestDatabase)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::new(backend))?;
    let router = rt.block_on(async {
        let app = Arc::new(App::new(db.open().await, Arc::new(SystemClock)));
        app.bootstrap_admin(Some(TOKEN)).await.unwrap();
        let router = muster_server::router(app);
        let declare = Request::post("/api/v1/incidents")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"title":"target","priority":"P1"}"#))
            .unwrap();
        assert_eq!(router.clone().oneshot(declare).await.unwrap().status(), 201);
        // Schedule 1 starts as early as dates go, with long shifts, so
        // queries for its shifts reach the extremes of the calendar.
        let schedule = json!({"name": "ancient", "time_zone": "Pacific/Kiritimati", "layers": [
            {"rotation": {"users": ["admin"], "shift": "52w", "handoff": "23:59", "start": "-009998-01-01"},
             "restrict": [{"days": ["mon"], "start": "02:30", "end": "02:00"}]}]});
        let create = Request::post("/api/v1/schedules")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(schedule.to_string()))
            .unwrap();
        assert_eq!(router.clone().oneshot(create).await.unwrap().status(), 201);
        let service = muster_store::NewService {
            name: "target".into(),
            description: String::new(),
            owner: None,
            integration_key: muster_domain::alert::IntegrationKey::parse(KEY).unwrap(),
            auto_declare: muster_domain::alert::AutoDeclare(
                [(muster_domain::alert::Severity::Critical, muster_domain::Priority::P1)].into(),
            ),
            escalation_policy: None,
        };
        db.open().await.create_service(&service, muster_domain::Timestamp::now()).await.unwrap();
        router
    });
    Some((rt, router, db))
}

/// Sends a request; fails unless the answer is below 500, and a problem
/// document when it is an error.
fn check(rt: &tokio::runtime::Runtime, router: &axum::Router, req: Request<Body>) -> Result<(), TestCaseError> {
    let what = format!("{} {}", req.method(), req.uri());
    let response = rt.block_on(router.clone().oneshot(req)).unwrap();
    let status = response.status();
    prop_assert!(status.as_u16() < 500, "{what} answered {status}");
    if status.as_u16() >= 400 {
        let ct = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        prop_assert_eq!(ct, "application/problem+json", "{} answered {} without a problem", what, status);
    }
    Ok(())
}

/// One operation of the OpenAPI document, its path parameters filled in
/// with things that exist (incident 1, the admin, the service's key).
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    path: String,
    body: bool,
    query: Vec<String>,
}

/// Every operation in `muster_server::openapi()`: a route added to the API
/// is attacked here without editing this file.
fn operations() -> Vec<Operation> {
    let doc = serde_json::to_value(muster_server::openapi()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let mut filled = path.clone();
            for (name, value) in [("{integration_key}", KEY), ("{handle}", "admin")] {
                filled = filled.replace(name, value);
            }
            while let (Some(a), Some(b)) = (filled.find('{'), filled.find('}')) {
                filled.replace_range(a..=b, "1");
            }
            let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
            let query = parameters
                .iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            out.push(Operation {
                method: method.to_uppercase(),
                path: filled,
                body: op.get("requestBody").is_some(),
                query,
            });
        }
    }
    assert!(out.iter().filter(|o| o.body).count() >= 20, "the document lists the API's write routes");
    out
}

/// The PagerDuty-compatible routes answer errors in PagerDuty's format.
fn speaks_problems(path: &str) -> bool {
    !path.starts_with("/v2/")
}

/// A schedule-shaped body with hostile leaves where the schedule maths
/// reads them (shift lengths, start dates, zones), the rest well formed so
/// that parsing gets that far (serde reads the keys in sorted order).
fn schedule_like() -> impl Strategy<Value = Value> {
    let shift = prop::sample::select(vec!["1é", "52w", "366d", "1h", "é", "0d"]);
    let start = prop::sample::select(vec!["-009999-01-01", "9999-12-31", "2026-03-29", "0000-01-01"]);
    let time = prop::sample::select(vec!["00:00", "02:30", "09:00", "23:59"]);
    let days = prop::sample::select(vec![json!([]), json!(["mon", "sun"]), json!(["sat"])]);
    let zone = prop::sample::select(vec!["UTC", "Pacific/Kiritimati", "Europe/Berlin", "America/Santiago"]);
    (shift, start, time.clone(), time, days, zone).prop_map(|(shift, start, a, b, days, zone)| {
        json!({"name": "hostile", "time_zone": zone, "layers": [
            {"rotation": {"users": ["admin"], "shift": shift, "handoff": a, "start": start},
             "restrict": [{"days": days, "start": a, "end": b}]}
        ]})
    })
}

#[test]
fn no_body_at_any_route_that_takes_one_panics_or_answers_5xx() {
    for (rt, router, _db) in setups() {
        no_body_at_any_route_that_takes_one_panics_or_answers_5xx_on(&rt, &router);
    }
}

fn no_body_at_any_route_that_takes_one_panics_or_answers_5xx_on(rt: &tokio::runtime::Runtime, router: &axum::Router) {
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Body_::Bytes),
        json_value().prop_map(Body_::Json),
        schedule_like().prop_map(Body_::Json),
    ];
    for op in operations().into_iter().filter(|o| o.body) {
        let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
        runner
            .run(&body, |body| {
                let bytes = match body {
                    Body_::Bytes(b) => b,
                    Body_::Json(v) => serde_json::to_vec(&v).unwrap(),
                };
                let req = Request::builder()
                    .method(op.method.as_str())
                    .uri(op.path.as_str())
                    .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(bytes))
                    .unwrap();
                if speaks_problems(&op.path) { check(rt, router, req) } else { below_500(rt, router, req) }
            })
            .unwrap_or_else(|e| panic!("{} {}: {e}", op.method, op.path));
    }
}

/// Values that have broken query parsers elsewhere: out of range, out of
/// the calendar, not a number, not UTF-8 once decoded.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "0",
            "-1",
            "4294967296",
            "99999999999999999999999",
            "1.5",
            "true",
            "2026-01-01T00:00:00Z",
            "-009999-01-01T00:00:00Z",
            "9999-12-30T23:59:59Z",
            "2026-13-45",
            "1%C3%A9",
            "%FF%FE",
            "%00",
            "triggered,acknowledged",
            "P1,P9",
            ",,,",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9%._~-]{0,24}",
    ]
}

#[test]
fn no_query_at_any_route_that_takes_one_panics_or_answers_5xx() {
    for (rt, router, _db) in setups() {
        no_query_at_any_route_that_takes_one_panics_or_answers_5xx_on(&rt, &router);
    }
}

fn no_query_at_any_route_that_takes_one_panics_or_answers_5xx_on(rt: &tokio::runtime::Runtime, router: &axum::Router) {
    for op in operations().into_iter().filter(|o| !o.query.is_empty()) {
        let values = prop::collection::vec((0..op.query.len() + 1, query_value()), 0..4);
        let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
        runner
            .run(&values, |values| {
                let query: Vec<String> = values
                    .iter()
                    .map(|(i, v)| format!("{}={v}", op.query.get(*i).map_or("unknown", String::as_str)))
                    .collect();
                let uri = format!("{}?{}", op.path, query.join("&"));
                let Ok(req) = Request::builder()
                    .method(op.method.as_str())
                    .uri(&uri)
                    .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                else {
                    return Ok(());
                };
                if speaks_problems(&op.path) { check(rt, router, req) } else { below_500(rt, router, req) }
            })
            .unwrap_or_else(|e| panic!("{} {}: {e}", op.method, op.path));
    }
}

fn below_500(rt: &tokio::runtime::Runtime, router: &axum::Router, req: Request<Body>) -> Result<(), TestCaseError> {
    let what = format!("{} {}", req.method(), req.uri());
    let response = rt.block_on(router.clone().oneshot(req)).unwrap();
    prop_assert!(response.status().as_u16() < 500, "{} answered {}", what, response.status());
    Ok(())
}

#[test]
fn no_path_or_query_panics_or_answers_5xx() {
    for (rt, router, _db) in setups() {
        no_path_or_query_panics_or_answers_5xx_on(&rt, &router);
    }
}

fn no_path_or_query_panics_or_answers_5xx_on(rt: &tokio::runtime::Runtime, router: &axum::Router) {
    let segment = "[a-zA-Z0-9%._~-]{0,24}";
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    runner
        .run(&(segment, segment, 0..7usize), |(a, b, shape)| {
            let uri = match shape {
                0 => format!("/api/v1/incidents/{a}"),
                1 => format!("/api/v1/incidents?{a}={b}"),
                2 => format!("/api/v1/incidents/1/timeline?after={a}&limit={b}"),
                3 => format!("/api/v1/pages/{a}"),
                4 => format!("/api/v1/pages?{a}={b}"),
                5 => format!("/api/v1/incidents/{a}/pages"),
                _ => format!("/api/v1/incidents/{a}/roles/{b}"),
            };
            let Ok(req) =
                Request::get(&uri).header(header::AUTHORIZATION, format!("Bearer {TOKEN}")).body(Body::empty())
            else {
                return Ok(());
            };
            check(rt, router, req)
        })
        .unwrap();
}

#[test]
fn a_malformed_authorization_header_is_a_401_problem() {
    for (rt, router, _db) in setups() {
        a_malformed_authorization_header_is_a_401_problem_on(&rt, &router);
    }
}

fn a_malformed_authorization_header_is_a_401_problem_on(rt: &tokio::runtime::Runtime, router: &axum::Router) {
    for value in ["", "Bearer", "Bearer ", "Basic abc", "bearer \u{7f}", "Bearer mst_x y"] {
        let Ok(req) = Request::get("/api/v1/incidents").header(header::AUTHORIZATION, value).body(Body::empty()) else {
            continue;
        };
        let response = rt.block_on(router.clone().oneshot(req)).unwrap();
        assert_eq!(response.status(), 401, "{value:?}");
    }
}

/// The three ingest parsers (PagerDuty, Alertmanager, generic) with
/// arbitrary bytes and arbitrary JSON: never a panic, never a 5xx.
#[test]
fn no_body_at_any_ingest_route_panics_or_answers_5xx() {
    for (rt, router, _db) in setups() {
        no_body_at_any_ingest_route_panics_or_answers_5xx_on(&rt, &router);
    }
}

fn no_body_at_any_ingest_route_panics_or_answers_5xx_on(rt: &tokio::runtime::Runtime, router: &axum::Router) {
    let routes = [
        "/v2/enqueue".to_owned(),
        "/v2/change/enqueue".to_owned(),
        format!("/api/v1/integrations/alertmanager/{KEY}"),
        format!("/api/v1/integrations/generic/{KEY}"),
    ];
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Body_::Bytes),
        json_value().prop_map(Body_::Json),
        // Structured enough to reach deep into each parser.
        (json_value(), json_value(), json_value()).prop_map(|(payload, alert, extra)| Body_::Json(json!({
            "routing_key": KEY, "event_action": "trigger", "payload": payload, "dedup_key": extra,
            "alerts": [alert], "summary": "s",
        }))),
    ];
    let mut runner = TestRunner::new(Config { cases: 600, failure_persistence: None, ..Config::default() });
    runner
        .run(&(0..routes.len(), body), |(route, body)| {
            let bytes = match body {
                Body_::Bytes(b) => b,
                Body_::Json(v) => serde_json::to_vec(&v).unwrap(),
            };
            let req = Request::post(routes[route].as_str())
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(bytes))
                .unwrap();
            let what = format!("POST {}", req.uri());
            let response = rt.block_on(router.clone().oneshot(req)).unwrap();
            prop_assert!(response.status().as_u16() < 500, "{} answered {}", what, response.status());
            Ok(())
        })
        .unwrap();
}

/// PostgreSQL refuses NUL in text, SQLite keeps it: either way a NUL in a
/// string must be a 4xx (or dropped), never a failed write.
#[test]
fn a_nul_character_in_any_string_is_refused_or_dropped_not_a_500() {
    for (rt, router, _db) in setups() {
        let requests = [
            ("POST", "/api/v1/incidents".to_owned(), json!({"title": "a\u{0}b", "priority": "P1"})),
            ("POST", "/api/v1/incidents/1/timeline".to_owned(), json!({"kind": "note", "text": "a\u{0}b"})),
            ("POST", "/api/v1/users".to_owned(), json!({"handle": "nul", "name": "a\u{0}b", "email": "a@b.c"})),
            ("POST", "/api/v1/services".to_owned(), json!({"name": "a\u{0}b"})),
            ("POST", "/api/v1/roles".to_owned(), json!({"key": "nul", "name": "a\u{0}b"})),
            (
                "POST",
                "/v2/enqueue".to_owned(),
                json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "a\u{0}b",
                       "payload": {"summary": "a\u{0}b", "source": "s\u{0}", "severity": "critical"}}),
            ),
            (
                "POST",
                "/v2/enqueue".to_owned(),
                json!({"routing_key": KEY, "event_action": "trigger",
                       "payload": {"summary": "a\u{0}b", "source": "s\u{0}", "severity": "critical", "custom_details": {"k": "\u{0}"}}}),
            ),
            ("POST", format!("/api/v1/integrations/generic/{KEY}"), json!({"summary": "a\u{0}b"})),
            (
                "POST",
                format!("/api/v1/integrations/alertmanager/{KEY}"),
                json!({"alerts": [{"status": "firing", "labels": {"alertname": "a\u{0}"}, "annotations": {"summary": "\u{0}"}, "fingerprint": "f\u{0}"}]}),
            ),
        ];
        for (method, path, body) in requests {
            let req = Request::builder()
                .method(method)
                .uri(path.as_str())
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            let status = rt.block_on(router.clone().oneshot(req)).unwrap().status();
            assert!(status.as_u16() < 500, "{method} {path} answered {status}");
        }
    }
}

/// The answer links in notifications take no token: whatever the path,
/// person and signature, a link without the right signature is refused,
/// never with a 5xx, and explains itself in HTML.
#[test]
fn answer_links_refuse_anything_unsigned_without_5xx() {
    for (rt, router, _db) in setups() {
        let segment = "[a-zA-Z0-9%._~-]{0,24}";
        let mut runner = TestRunner::new(Config { cases: 200, failure_persistence: None, ..Config::default() });
        runner
            .run(&(segment, segment, segment, any::<bool>()), |(page, user, sig, post)| {
                let uri = format!("/pages/{page}/ack?user={user}&sig={sig}");
                let method = if post { "POST" } else { "GET" };
                let Ok(req) = Request::builder().method(method).uri(&uri).body(Body::empty()) else { return Ok(()) };
                let response = rt.block_on(router.clone().oneshot(req)).unwrap();
                let status = response.status().as_u16();
                prop_assert!([400, 403, 404].contains(&status), "{} {} answered {}", method, uri, status);
                let ct = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
                // A path that is not even UTF-8 is refused by the router (a problem document).
                let expected = if status == 400 { "application/problem+json" } else { "text/html" };
                prop_assert!(ct.starts_with(expected), "{} answered {} {}", uri, status, ct);
                Ok(())
            })
            .unwrap();
    }
}
