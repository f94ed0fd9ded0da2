//! The public status page, on both backends: components kept by admins,
//! external updates that put them in states and bring the incident onto
//! the page, Statuspage's JSON (its rollup for every component state), the
//! uptime bars from the state history with an injected clock, and nothing
//! internal ever reaching the page or the JSON.

mod common;

use std::sync::Arc;

use common::{ADMIN_TOKEN, ManualClock, TestServer};
use serde_json::{Value, json};

on_both_backends!(
    admins_keep_the_components_and_bad_ones_are_refused_naming_the_field,
    an_external_update_puts_components_in_states_and_brings_the_incident_onto_the_page,
    the_page_rolls_up_to_its_worst_component_as_statuspage_does,
    nothing_internal_ever_reaches_the_public_page_or_its_json,
    the_feeds_parse_with_a_real_feed_parser_with_an_entry_per_public_update,
    operators_name_the_page_set_its_zone_logo_and_links_and_may_take_it_offline,
);

mod manual {
    use super::*;
    on_both_backends_with_manual_clock!(uptime_bars_follow_the_state_history_and_leave_maintenance_out);
}

/// GET without signing in.
async fn public(server: &TestServer, path: &str) -> (u16, String) {
    let r = server.http().get(format!("{}{path}", server.url)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn public_json(server: &TestServer, path: &str) -> Value {
    let (status, body) = public(server, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn component(server: &TestServer, name: &str, group: Option<&str>) -> u64 {
    let body = json!({"name": name, "group": group, "description": format!("{name} for customers")});
    server.post(ADMIN_TOKEN, "/api/v1/status/components", body).await.ok(201)["id"].as_u64().unwrap()
}

async fn declare(server: &TestServer, title: &str) -> String {
    let body = json!({"title": title, "priority": "P1", "incident_manager": "admin"});
    format!("INC-{}", server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201)["number"])
}

async fn admins_keep_the_components_and_bad_ones_are_refused_naming_the_field(server: TestServer) {
    let rita = server.user("rita", "responder").await;
    let path = "/api/v1/status/components";
    server.post(&rita, path, json!({"name": "API"})).await.problem(403);
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": " "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "API", "group": ""}), "group"),
        (json!({"name": "API", "services": [""]}), "services[0]"),
    ] {
        let refused = server.post(ADMIN_TOKEN, path, body.clone()).await;
        assert_eq!(refused.problem(422)["field"], field, "{body}: {}", refused.body);
    }
    assert_eq!(server.get(ADMIN_TOKEN, path).await.ok(200), &json!([]), "nothing was written");
    let api = component(&server, "API", Some("Core")).await;
    server.post(ADMIN_TOKEN, path, json!({"name": "API"})).await.problem(409);
    let shown = server.get(&rita, &format!("{path}/{api}")).await.ok(200).clone();
    assert_eq!((shown["status"].as_str(), shown["group"].as_str()), (Some("operational"), Some("Core")));
    let changed = server.patch(ADMIN_TOKEN, &format!("{path}/{api}"), json!({"group": null, "position": 3})).await;
    let changed = changed.ok(200).clone();
    assert_eq!(
        (changed["group"].clone(), changed["position"].clone(), changed["name"].clone()),
        (Value::Null, json!(3), json!("API"))
    );
    server.delete(&rita, &format!("{path}/{api}")).await.problem(403);
    assert_eq!(server.delete(ADMIN_TOKEN, &format!("{path}/{api}")).await.status, 204);
    server.get(ADMIN_TOKEN, &format!("{path}/{api}")).await.problem(404);
}

async fn an_external_update_puts_components_in_states_and_brings_the_incident_onto_the_page(server: TestServer) {
    let api = component(&server, "API", Some("Core")).await;
    let web = component(&server, "Website", Some("Core")).await;
    component(&server, "Search", None).await;
    let r = declare(&server, "Checkout returns 500").await;
    let path = format!("/api/v1/incidents/{r}/updates");
    // Not on the page before its first external update.
    assert_eq!(public_json(&server, "/api/v2/incidents.json").await["incidents"], json!([]));
    let bad =
        json!({"audience": "external", "body": "x", "components": [{"component": "Nope", "status": "major_outage"}]});
    assert_eq!(server.post(ADMIN_TOKEN, &path, bad).await.problem(422)["field"], "components[0].component");
    let bad = json!({"audience": "external", "body": "x", "components": [{"component": "API", "status": "on_fire"}]});
    assert_eq!(server.post(ADMIN_TOKEN, &path, bad).await.problem(422)["field"], "components[0].status");
    let internal =
        json!({"audience": "internal", "body": "x", "components": [{"component": "API", "status": "major_outage"}]});
    assert_eq!(server.post(ADMIN_TOKEN, &path, internal).await.problem(422)["field"], "components");
    assert_eq!(public_json(&server, "/api/v2/status.json").await["status"]["indicator"], "none", "nothing changed");

    let first = json!({"audience": "external", "body": "Some payments fail.", "status": "investigating",
                       "components": [{"component": "API", "status": "partial_outage"}, {"component": web.to_string(), "status": "degraded_performance"}]});
    let first = server.post(ADMIN_TOKEN, &path, first).await.ok(201).clone();
    assert_eq!(first["components"][0], json!({"component": api, "status": "partial_outage"}));
    let summary = public_json(&server, "/api/v2/summary.json").await;
    assert_eq!(summary["status"], json!({"indicator": "major", "description": "Partial System Outage"}));
    let incident = &summary["incidents"][0];
    assert_eq!((incident["id"].as_str(), incident["name"].as_str()), (Some(r.as_str()), Some("Checkout returns 500")));
    assert_eq!((incident["status"].as_str(), incident["impact"].as_str()), (Some("investigating"), Some("major")));
    let affected = &incident["incident_updates"][0]["affected_components"];
    assert_eq!(
        affected,
        &json!([{"code": api.to_string(), "name": "API", "old_status": "operational", "new_status": "partial_outage"},
                {"code": web.to_string(), "name": "Website", "old_status": "operational", "new_status": "degraded_performance"}])
    );
    let components = summary["components"].as_array().unwrap();
    let group = components.iter().find(|c| c["group"] == true).expect("the group is a component of its own");
    assert_eq!(
        (group["name"].as_str(), group["status"].as_str()),
        (Some("Core"), Some("partial_outage")),
        "its worst child"
    );
    assert_eq!(group["components"], json!([api.to_string(), web.to_string()]));
    let child = components.iter().find(|c| c["name"] == "API").unwrap();
    assert_eq!(child["group_id"], group["id"]);

    // A draft changes nothing until it is published.
    let draft = json!({"audience": "external", "body": "Fixed, watching.", "status": "monitoring", "draft": true,
                       "components": [{"component": "API", "status": "operational"}, {"component": "Website", "status": "operational"}]});
    let draft = server.post(ADMIN_TOKEN, &path, draft).await.ok(201)["id"].clone();
    assert_eq!(public_json(&server, "/api/v2/status.json").await["status"]["indicator"], "major");
    server.post(ADMIN_TOKEN, &format!("{path}/{draft}/publish"), json!({})).await.ok(200);
    let unresolved = public_json(&server, "/api/v2/incidents/unresolved.json").await;
    let i = &unresolved["incidents"][0];
    assert_eq!(
        (i["status"].as_str(), i["incident_updates"].as_array().unwrap().len()),
        (Some("monitoring"), 2),
        "newest first"
    );
    assert_eq!(i["incident_updates"][0]["body"], "Fixed, watching.");
    assert_eq!(public_json(&server, "/api/v2/status.json").await["status"]["indicator"], "none");

    // Its public title, and on the page.
    let edit = json!({"title": "Payments are failing", "impact": "critical"});
    server.patch(ADMIN_TOKEN, &format!("/api/v1/status/incidents/{r}"), edit).await.ok(200);
    let (status, html) = public(&server, "/status").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Payments are failing")
            && html.contains("Fixed, watching.")
            && html.contains("All Systems Operational"),
        "{html}"
    );
    assert!(!html.contains("Checkout returns 500"), "the public title only: {html}");
    let (status, one) = public(&server, &format!("/status/incidents/{r}")).await;
    assert!(status == 200 && one.contains("Some payments fail."), "{one}");
    assert_eq!(public(&server, "/status/incidents/INC-99").await.0, 404);

    // Resolved: off the unresolved list, resolved on the page.
    server.patch(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}"), json!({"status": "resolved"})).await.ok(200);
    assert_eq!(public_json(&server, "/api/v2/incidents/unresolved.json").await["incidents"], json!([]));
    let all = public_json(&server, "/api/v2/incidents.json").await;
    assert_eq!(
        (all["incidents"][0]["status"].as_str(), all["incidents"][0]["impact"].as_str()),
        (Some("resolved"), Some("critical"))
    );
    assert!(all["incidents"][0]["resolved_at"].is_string());
}

async fn the_page_rolls_up_to_its_worst_component_as_statuspage_does(server: TestServer) {
    component(&server, "API", None).await;
    component(&server, "Website", None).await;
    let r = declare(&server, "Something").await;
    let path = format!("/api/v1/incidents/{r}/updates");
    for (state, indicator, description) in [
        ("operational", "none", "All Systems Operational"),
        ("under_maintenance", "maintenance", "Service Under Maintenance"),
        ("degraded_performance", "minor", "Minor Service Outage"),
        ("partial_outage", "major", "Partial System Outage"),
        ("major_outage", "critical", "Major System Outage"),
    ] {
        let body = json!({"audience": "external", "body": format!("API: {state}"), "components": [{"component": "API", "status": state}]});
        server.post(ADMIN_TOKEN, &path, body).await.ok(201);
        let status = public_json(&server, "/api/v2/status.json").await;
        assert_eq!(status["status"], json!({"indicator": indicator, "description": description}), "API {state}");
        let summary = public_json(&server, "/api/v2/summary.json").await;
        assert_eq!(summary["status"]["indicator"], indicator);
        let states: Vec<&str> =
            summary["components"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
        assert_eq!(states, [state, "operational"], "the other stays operational");
    }
    let page = public_json(&server, "/api/v2/components.json").await;
    assert_eq!(page["page"]["url"], format!("{}/status", server.url));
}

async fn nothing_internal_ever_reaches_the_public_page_or_its_json(server: TestServer) {
    const MARKER: &str = "zanzibar";
    server.user("zoe", "responder").await;
    component(&server, "API", None).await;
    let r = declare(&server, &format!("Checkout {MARKER} fails")).await;
    let path = format!("/api/v1/incidents/{r}/updates");
    for body in [
        json!({"audience": "internal", "body": format!("internal {MARKER}")}),
        json!({"audience": "executive", "form": {"overview": format!("executive {MARKER}")}}),
        json!({"audience": "external", "body": format!("draft {MARKER}"), "draft": true}),
    ] {
        server.post(ADMIN_TOKEN, &path, body).await.ok(201);
    }
    for (kind, text) in [("note", "note"), ("theory", "theory"), ("decision", "decision")] {
        let entry = json!({"kind": kind, "text": format!("{text} {MARKER}")});
        server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline"), entry).await.ok(201);
    }
    let role = json!({"role": "tech_lead", "user": "zoe", "scope": MARKER});
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/roles"), role).await.ok(201);
    // The public title is set before the first external update, by the incident's own title…
    let external = json!({"audience": "external", "body": "Some payments fail.", "components": [{"component": "API", "status": "major_outage"}]});
    server.post(ADMIN_TOKEN, &path, external).await.ok(201);
    // …which the external communications manager changes for customers.
    server
        .patch(ADMIN_TOKEN, &format!("/api/v1/status/incidents/{r}"), json!({"title": "Checkout fails"}))
        .await
        .ok(200);
    for path in [
        "/status".to_owned(),
        format!("/status/incidents/{r}"),
        "/api/v2/summary.json".to_owned(),
        "/api/v2/status.json".to_owned(),
        "/api/v2/components.json".to_owned(),
        "/api/v2/incidents.json".to_owned(),
        "/api/v2/incidents/unresolved.json".to_owned(),
        "/api/v2/scheduled-maintenances.json".to_owned(),
        "/api/v2/scheduled-maintenances/upcoming.json".to_owned(),
        "/api/v2/scheduled-maintenances/active.json".to_owned(),
        "/status/history".to_owned(),
        "/history.atom".to_owned(),
        "/history.rss".to_owned(),
    ] {
        let (status, body) = public(&server, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!body.contains(MARKER), "{path} shows something internal: {body}");
        for name in ["@admin", "@zoe", "zoe"] {
            assert!(!body.contains(name), "{path} names a responder ({name}): {body}");
        }
    }
    let (_, page) = public(&server, "/status").await;
    assert!(
        page.contains("Some payments fail.") && page.contains("Checkout fails"),
        "the external update is there: {page}"
    );
}

pub(crate) async fn uptime_bars_follow_the_state_history_and_leave_maintenance_out(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    component(&server, "API", None).await;
    let r = declare(&server, "API down").await;
    let path = format!("/api/v1/incidents/{r}/updates");
    let set = |state: &'static str| json!({"audience": "external", "body": format!("API {state}"), "components": [{"component": "API", "status": state}]});
    // The component was made at 10:00 on 2026-11-27; 6 hours maintenance,
    // 2 hours major outage, 4 hours partial, then fine to the end of the day.
    clock.advance(3600);
    server.post(ADMIN_TOKEN, &path, set("under_maintenance")).await.ok(201);
    clock.advance(6 * 3600);
    server.post(ADMIN_TOKEN, &path, set("major_outage")).await.ok(201);
    clock.advance(2 * 3600);
    server.post(ADMIN_TOKEN, &path, set("partial_outage")).await.ok(201);
    clock.advance(4 * 3600);
    server.post(ADMIN_TOKEN, &path, set("operational")).await.ok(201);
    clock.advance(2 * 24 * 3600);
    let (_, html) = public(&server, "/status").await;
    // 27 Nov: 14 h counted (1 + 2 + 4 + 1 h to midnight… from 10:00: 1 h up,
    // 6 maintenance, 2 major, 4 partial, 1 up): down 2 + 1.2 = 3.2 of 8 h.
    let day = "2026-11-27: 60.00 % (Major outage)";
    assert!(html.contains(day), "the day's bar: {html}");
    assert!(html.contains("class=\"bar major_outage\" title=\"2026-11-27"), "red that day: {html}");
    assert!(html.contains("2026-11-28: 100.00 % (Operational)"), "{html}");
    assert!(html.contains("2026-11-26: no data"), "before the component existed: {html}");
    let bars = html.matches("class=\"bar ").count();
    assert_eq!(bars, 90, "90 days");
}

/// The feed at `path`, as Python's `feedparser` reads it: whether it is
/// well formed, its version, and each entry's id, title, link and summary.
async fn parsed_feed(server: &TestServer, python: &std::path::Path, path: &str) -> Value {
    let (status, body) = public(server, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    let script = "import feedparser, json, sys\n\
        f = feedparser.parse(sys.stdin.buffer.read())\n\
        print(json.dumps({'bozo': bool(f.bozo), 'error': str(f.get('bozo_exception', '')), 'version': f.version,\n\
          'title': f.feed.get('title'), 'entries': [{'id': e.get('id'), 'title': e.get('title'), 'link': e.get('link'),\n\
          'summary': e.get('summary'), 'published': e.get('published')} for e in f.entries]}))";
    let mut child = std::process::Command::new(python)
        .args(["-W", "ignore", "-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "feedparser: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn the_feeds_parse_with_a_real_feed_parser_with_an_entry_per_public_update(server: TestServer) {
    let Some(python) = common::external::python_with(
        "feedparser",
        "set MUSTER_TEST_PYTHON, or python3 -m venv .venv && .venv/bin/pip install feedparser",
    ) else {
        return;
    };
    component(&server, "API", None).await;
    let first = declare(&server, "Checkout & <payments> fail").await;
    let second = declare(&server, "Search is slow").await;
    for (r, body, components) in [
        (&first, "Some payments fail.", json!([{"component": "API", "status": "major_outage"}])),
        (&first, "Fixed; we are watching.", json!([{"component": "API", "status": "operational"}])),
        (&second, "Search results are slow.", json!([])),
    ] {
        let update = json!({"audience": "external", "body": body, "status": "identified", "components": components});
        server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/updates"), update).await.ok(201);
    }
    let internal = json!({"audience": "internal", "body": "not for the feed"});
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{first}/updates"), internal).await.ok(201);
    for (path, version) in [("/history.atom", "atom10"), ("/history.rss", "rss20")] {
        let feed = parsed_feed(&server, &python, path).await;
        assert_eq!((feed["bozo"].clone(), feed["version"].clone()), (json!(false), json!(version)), "{path}: {feed}");
        let entries = feed["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "one entry per public update: {feed}");
        let titles: Vec<&str> = entries.iter().map(|e| e["title"].as_str().unwrap()).collect();
        assert!(titles.contains(&"Checkout & <payments> fail: Identified"), "escaped and read back: {titles:?}");
        let fixed =
            entries.iter().find(|e| e["summary"].as_str().unwrap().contains("Fixed; we are watching.")).unwrap();
        assert!(fixed["summary"].as_str().unwrap().contains("API: Operational"), "{fixed}");
        assert!(fixed["link"].as_str().unwrap().ends_with(&format!("/status/incidents/{first}")), "{fixed}");
        assert!(fixed["published"].is_string(), "{fixed}");
        let ids: std::collections::BTreeSet<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 3, "distinct ids");
    }
}

async fn operators_name_the_page_set_its_zone_logo_and_links_and_may_take_it_offline(server: TestServer) {
    let rita = server.user("rita", "responder").await;
    let path = "/api/v1/settings/status-page";
    assert_eq!(server.get(&rita, path).await.ok(200)["name"], "Status", "the default");
    let settings = json!({"name": "Acme status", "url": "https://status.acme.example", "time_zone": "Europe/Berlin",
                          "logo_url": "https://acme.example/logo.png",
                          "links": [{"label": "Support", "url": "https://acme.example/support"}]});
    server.put(&rita, path, settings.clone()).await.problem(403);
    for (bad, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "Acme", "time_zone": "Mars/Base"}), "time_zone"),
        (json!({"name": "Acme", "language": "tlh"}), "language"),
        (json!({"name": "Acme", "links": [{"label": "x", "url": "javascript:alert(1)"}]}), "links[0].url"),
        (json!({"name": "Acme", "colour": "red"}), "colour"),
    ] {
        assert_eq!(server.put(ADMIN_TOKEN, path, bad.clone()).await.problem(422)["field"], field, "{bad}");
    }
    let saved = server.put(ADMIN_TOKEN, path, settings).await.ok(200).clone();
    assert_eq!((saved["language"].as_str(), saved["enabled"].as_bool()), (Some("en"), Some(true)));

    component(&server, "API", None).await;
    let starts = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48)).to_string();
    let ends = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(49)).to_string();
    let window = json!({"title": "Upgrade", "components": ["API"], "starts_at": starts, "ends_at": ends});
    server.post(ADMIN_TOKEN, "/api/v1/status/maintenances", window).await.ok(201);
    let (_, html) = public(&server, "/status").await;
    assert!(html.contains("<title>Acme status</title>"), "{html}");
    assert!(html.contains("src=\"https://acme.example/logo.png\"") && html.contains(">Support</a>"), "{html}");
    assert!(html.contains(" CET") || html.contains(" CEST"), "times on the page's clock: {html}");
    let summary = public_json(&server, "/api/v2/summary.json").await;
    assert_eq!(summary["page"]["name"], "Acme status");
    assert_eq!(summary["page"]["url"], "https://status.acme.example");
    assert_eq!(summary["page"]["time_zone"], "Europe/Berlin");

    server.put(ADMIN_TOKEN, path, json!({"name": "Acme status", "enabled": false})).await.ok(200);
    for p in [
        "/status",
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/history.atom",
        "/history.rss",
        "/api/v2/scheduled-maintenances/upcoming.json",
    ] {
        assert_eq!(public(&server, p).await.0, 404, "{p} is off");
    }
    let r = server.http().post(format!("{}/status/subscribe", server.url)).json(&json!({"email": "a@example.com"}));
    assert_eq!(r.send().await.unwrap().status(), 404, "nobody subscribes to a page that is off");
    server.put(ADMIN_TOKEN, path, json!({"name": "Acme status"})).await.ok(200);
    assert_eq!(public(&server, "/status").await.0, 200, "on again");
}
