//! End to end in a real browser: Chromium driven over WebDriver
//! (chromedriver) by fantoccini, on both backends. Alice signs in,
//! declares, assigns a tech lead from the role board and types a theory in
//! the room; Bob, in a second browser, sees the topic and the timeline change
//! live, without reloading.
//!
//! The screenshots in docs/screenshots are taken here: run with
//! `MUSTER_UPDATE_SCREENSHOTS=1` to refresh them (otherwise they go to the
//! temporary directory).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::external::{eventually, free_port, program};
use common::{ADMIN_TOKEN, TestServer};
use fantoccini::{Client, ClientBuilder, Locator};
use muster_store::testing::Backend;
use serde_json::{Value, json};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free port, and where to connect to it.
async fn chromedriver() -> Option<(Driver, String)> {
    let driver = program(&["chromedriver"], "chromedriver (Debian's chromium-driver)")?;
    program(&["chromium", "chromium-browser"], "chromium")?;
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    eventually(Duration::from_secs(20), "chromedriver to listen", || async {
        reqwest::get(&status).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    Some((Driver(child), url))
}

async fn browser(webdriver: &str, width: u32, height: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                        format!("--window-size={width},{height}")]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(webdriver).await.expect("a browser session")
}

async fn sign_in(c: &Client, base: &str, handle: &str) {
    c.goto(&format!("{base}/")).await.unwrap();
    // Signed out: the dashboard sends us to the form.
    c.wait().for_element(Locator::Css("input[name=handle]")).await.unwrap().send_keys(handle).await.unwrap();
    c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("correct horse battery").await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("header.top .me")).await.unwrap();
}

/// The element's text; empty while it is missing or being replaced (a page
/// loading after a form, the board rebuilt by a live update).
async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (at most 10 s) until the element's text contains `want`.
async fn until_text(c: &Client, css: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = text(c, css).await;
        if got.contains(want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{css} never showed {want:?}; it shows {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn screenshot_dir() -> Option<PathBuf> {
    std::env::var("MUSTER_UPDATE_SCREENSHOTS")
        .is_ok_and(|v| v == "1")
        .then(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"))
}

async fn shoot(c: &Client, name: &str) {
    save_png(c.screenshot().await.unwrap(), name);
}

fn save_png(png: Vec<u8>, name: &str) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir = screenshot_dir().unwrap_or_else(|| std::env::temp_dir().join("muster-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Like [`shoot`], of one element only.
async fn shoot_element(e: &fantoccini::elements::Element, name: &str) {
    save_png(e.screenshot().await.unwrap(), name);
}

async fn a_role_change_and_a_theory_reach_a_second_browser_live(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let Some(server) = TestServer::start_with(backend, common::Setup::default()).await else { return };
    for (h, name) in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")] {
        let body = json!({"handle": h, "name": name, "email": format!("{h}@example.com"), "password": "correct horse battery"});
        server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
    }
    let schedule = json!({"name": "Primary", "time_zone": "Europe/Berlin", "layers": [
        {"rotation": {"users": ["alice", "bob", "carol"], "shift": "1d", "handoff": "09:00", "start": "2026-01-05"}}]});
    server.post(ADMIN_TOKEN, "/api/v1/schedules", schedule).await.ok(201);
    let base = server.url.clone();

    let alice = browser(&webdriver, 1280, 900).await;
    sign_in(&alice, &base, "alice").await;
    // Declare from the dashboard.
    alice.find(Locator::Css("details.card summary")).await.unwrap().click().await.unwrap();
    alice.find(Locator::Css("input[name=title]")).await.unwrap().send_keys("Checkout returns 500").await.unwrap();
    alice.find(Locator::Css("select[name=priority]")).await.unwrap().select_by_value("P1").await.unwrap();
    alice.find(Locator::Css("form[action='/incidents'] button")).await.unwrap().click().await.unwrap();
    alice.wait().for_element(Locator::Id("topic")).await.unwrap();
    assert!(alice.current_url().await.unwrap().path().starts_with("/incidents/INC-1"));

    let bob = browser(&webdriver, 1280, 900).await;
    sign_in(&bob, &base, "bob").await;
    bob.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    until_text(&bob, "#topic", "IM @alice").await;
    // Mark Bob's page: a reload would lose the mark.
    bob.execute("document.body.dataset.untouched = 'yes'", vec![]).await.unwrap();

    // Alice assigns Carol from the role board.
    let form = "form[aria-label='Assign a role']";
    alice
        .find(Locator::Css(&format!("{form} select[name=role]")))
        .await
        .unwrap()
        .select_by_value("tech_lead")
        .await
        .unwrap();
    alice
        .find(Locator::Css(&format!("{form} select[name=user]")))
        .await
        .unwrap()
        .select_by_value("carol")
        .await
        .unwrap();
    alice.find(Locator::Css(&format!("{form} input[name=scope]"))).await.unwrap().send_keys("database").await.unwrap();
    alice.find(Locator::Css(&format!("{form} button"))).await.unwrap().click().await.unwrap();
    until_text(&alice, "#topic", "TL @carol (database)").await;

    // Bob sees it without reloading.
    until_text(&bob, "#topic", "TL @carol (database)").await;
    until_text(&bob, "#board", "@carol").await;

    // A theory typed in the room reaches both timelines.
    let room = alice.find(Locator::Css("form.room textarea")).await.unwrap();
    room.send_keys("/theory cache stampede after the deploy").await.unwrap();
    alice.find(Locator::Css("form.room button")).await.unwrap().click().await.unwrap();
    until_text(&alice, "#timeline", "cache stampede after the deploy").await;
    until_text(&bob, "#timeline", "cache stampede after the deploy").await;
    // A backdated entry arrives live where it happened, before the theory.
    let early = json!({"kind": "note", "text": "first error in the logs", "occurred_at": "2026-01-01T00:00:00Z"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline", early).await.ok(201);
    until_text(&bob, "#timeline", "first error in the logs").await;
    let order = bob
        .execute(
            "const t = Array.from(document.querySelectorAll('#timeline li')).map(li => li.textContent); \
             return t.findIndex(x => x.includes('first error')) < t.findIndex(x => x.includes('cache stampede'));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(order, json!(true), "in time order, not arrival order");

    let room = alice.find(Locator::Css("form.room textarea")).await.unwrap();
    room.send_keys("/status identified").await.unwrap();
    alice.find(Locator::Css("form.room button")).await.unwrap().click().await.unwrap();
    until_text(&bob, "#status", "identified").await;
    let selected = bob.execute("return document.querySelector('select[name=status]').value", vec![]).await.unwrap();
    assert_eq!(selected, json!("identified"), "the status control follows too");
    let marked = bob.execute("return document.body.dataset.untouched || ''", vec![]).await.unwrap();
    assert_eq!(marked, json!("yes"), "Bob's page was never reloaded");

    if backend == Backend::Sqlite {
        shoot(&alice, "incident").await;
        alice.goto(&format!("{base}/")).await.unwrap();
        alice.wait().for_element(Locator::Css("h1")).await.unwrap();
        shoot(&alice, "dashboard").await;
        alice.goto(&format!("{base}/schedules/1")).await.unwrap();
        alice.wait().for_element(Locator::Css(".shifts")).await.unwrap();
        shoot(&alice, "schedule").await;
        let phone = phone(&webdriver).await;
        sign_in(&phone, &base, "carol").await;
        phone.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
        phone.wait().for_element(Locator::Id("topic")).await.unwrap();
        shoot(&phone, "incident-phone").await;
        let wide = phone
            .execute(
                "return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 5).join(' ')",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(wide, json!(""), "nothing is wider than a phone");
        phone.close().await.unwrap();
    }
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

/// The communications manager publishes from the panel; a second browser
/// sees the due time move and the text arrive, without reloading.
async fn a_published_update_moves_the_due_time_in_a_second_browser_live(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let Some(server) = TestServer::start_with(backend, common::Setup::default()).await else { return };
    for (h, name) in [("ian", "Ian"), ("cole", "Cole"), ("vic", "Vic")] {
        let body = json!({"handle": h, "name": name, "email": format!("{h}@example.com"), "password": "correct horse battery"});
        server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
    }
    let body = json!({"title": "Payments fail", "priority": "P1", "incident_manager": "ian"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201);
    let cm = json!({"role": "communications_manager", "user": "cole", "scope": "internal"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/roles", cm).await.ok(201);
    let base = server.url.clone();

    let vic = browser(&webdriver, 1280, 900).await;
    sign_in(&vic, &base, "vic").await;
    vic.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    until_text(&vic, "#due-internal", "Next update due").await;
    let due = |c: &Client| {
        let c = c.clone();
        async move { c.execute("return document.getElementById('due-internal').dataset.at", vec![]).await.unwrap() }
    };
    let before = due(&vic).await;
    vic.execute("document.body.dataset.untouched = 'yes'", vec![]).await.unwrap();

    let cole = browser(&webdriver, 1280, 900).await;
    sign_in(&cole, &base, "cole").await;
    cole.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    let panel = "#comms-internal";
    cole.find(Locator::Css(&format!("{panel} details.write summary"))).await.unwrap().click().await.unwrap();
    let conditions = cole.find(Locator::Css(&format!("{panel} textarea[name=conditions]"))).await.unwrap();
    conditions.clear().await.unwrap();
    conditions.send_keys("5 % of card payments fail since 10:02").await.unwrap();
    cole.find(Locator::Css(&format!("{panel} textarea[name=needs]"))).await.unwrap().send_keys("a DBA").await.unwrap();
    cole.find(Locator::Css(&format!("{panel} button[value=publish]"))).await.unwrap().click().await.unwrap();
    until_text(&cole, ".notice", "Published the internal update.").await;
    until_text(&cole, &format!("{panel} blockquote.latest"), "5 % of card payments fail since 10:02").await;

    // Vic's page moves on its own: the due time is half an hour from now.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let now = due(&vic).await;
        if now != before {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "the due time never moved from {before}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1").await.ok(200).clone();
    assert_eq!(after, incident["next_update_due"]["internal"]["at"], "what the API says");
    until_text(&vic, "#due-internal .countdown", "in 30 min").await;
    until_text(&vic, "#timeline", "5 % of card payments fail since 10:02").await;
    let marked = vic.execute("return document.body.dataset.untouched || ''", vec![]).await.unwrap();
    assert_eq!(marked, json!("yes"), "Vic's page was never reloaded");
    if backend == Backend::Sqlite {
        shoot(&cole, "communications").await;
    }
    cole.close().await.unwrap();
    vic.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_published_update_moves_the_due_time_in_a_second_browser_live() {
    a_published_update_moves_the_due_time_in_a_second_browser_live(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_published_update_moves_the_due_time_in_a_second_browser_live() {
    a_published_update_moves_the_due_time_in_a_second_browser_live(Backend::Postgres).await;
}

/// The customer support lead links a report from the queue in one click;
/// the incident manager's page counts it live, without reloading.
async fn a_report_linked_from_the_queue_is_counted_on_the_incident_page_live(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let Some(server) = TestServer::start_with(backend, common::Setup::default()).await else { return };
    for (h, name) in [("ian", "Ian"), ("gina", "Gina")] {
        let body = json!({"handle": h, "name": name, "email": format!("{h}@example.com"), "password": "correct horse battery"});
        server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
    }
    let body = json!({"title": "Checkout returns error 500", "priority": "P1", "incident_manager": "ian"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201);
    let csl = json!({"role": "customer_support_lead", "user": "gina"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/roles", csl).await.ok(201);
    let two_hours_ago = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_hours(2)).unwrap().to_string();
    for report in [
        json!({"channel": "phone", "customer": "Dee Ode", "organization": "Ode & Co", "body": "Called: the basket page hangs.", "received_at": two_hours_ago}),
        json!({"channel": "social", "customer": "@shopper", "body": "is anyone else getting a 500 at checkout??"}),
        json!({"channel": "ticket", "customer": "Ann Lee", "organization": "Acme", "body": "Checkout returns error 500 and the payment is not taken."}),
    ] {
        server.post(ADMIN_TOKEN, "/api/v1/customer-reports", report).await.ok(201);
    }
    let base = server.url.clone();

    let ian = browser(&webdriver, 1280, 900).await;
    sign_in(&ian, &base, "ian").await;
    ian.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    until_text(&ian, "#reports-panel", "No customer reports linked.").await;
    ian.execute("document.body.dataset.untouched = 'yes'", vec![]).await.unwrap();

    let gina = browser(&webdriver, 1280, 900).await;
    sign_in(&gina, &base, "gina").await;
    gina.goto(&format!("{base}/support")).await.unwrap();
    until_text(&gina, "#report-1", "overdue").await;
    until_text(&gina, "#report-3", "Link to INC-1").await;
    if backend == Backend::Sqlite {
        shoot(&gina, "support").await;
    }
    gina.find(Locator::Css("#report-3 button[name=incident]")).await.unwrap().click().await.unwrap();
    until_text(&gina, ".notice", "Report 3 linked to INC-1.").await;
    until_text(&gina, "#report-3", "INC-1").await;

    // Ian's page counts it, and the topic shows the support lead with it.
    until_text(&ian, "#reports-panel", "1 report from 1 customer in 1 organization").await;
    until_text(&ian, "#topic", "CSL @gina (1 report)").await;
    let marked = ian.execute("return document.body.dataset.untouched || ''", vec![]).await.unwrap();
    assert_eq!(marked, json!("yes"), "Ian's page was never reloaded");

    // The report's page: an answer to record, and passing it on.
    gina.goto(&format!("{base}/support/reports/3")).await.unwrap();
    gina.find(Locator::Css("form[action$='/pass'] input[name=note]"))
        .await
        .unwrap()
        .send_keys("Acme is a top account")
        .await
        .unwrap();
    gina.find(Locator::Css("form[action$='/pass'] button")).await.unwrap().click().await.unwrap();
    until_text(&gina, ".notice", "Passed on").await;
    until_text(&ian, "#timeline", "Acme is a top account").await;
    gina.close().await.unwrap();
    ian.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_report_linked_from_the_queue_is_counted_on_the_incident_page_live() {
    a_report_linked_from_the_queue_is_counted_on_the_incident_page_live(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_report_linked_from_the_queue_is_counted_on_the_incident_page_live() {
    a_report_linked_from_the_queue_is_counted_on_the_incident_page_live(Backend::Postgres).await;
}

/// The public status page as customers see it, on a desktop and a phone:
/// components in groups with weeks of uptime bars (an injected clock makes
/// the history), an incident being worked on, a resolved one, a
/// maintenance under way and one to come.
async fn the_status_page_reads_on_a_desktop_and_a_phone(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let (setup, clock) = common::manual_setup();
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    for (name, group, description) in [
        ("API", Some("Core"), "REST and GraphQL"),
        ("Website", Some("Core"), ""),
        ("Payments", Some("Core"), "Card and bank payments"),
        ("Search", None, ""),
        ("EU region", Some("Regions"), ""),
        ("US region", Some("Regions"), ""),
    ] {
        let body = json!({"name": name, "group": group, "description": description});
        server.post(ADMIN_TOKEN, "/api/v1/status/components", body).await.ok(201);
    }
    let declare = |title: &str| json!({"title": title, "priority": "P1", "incident_manager": "admin"});
    let old =
        server.post(ADMIN_TOKEN, "/api/v1/incidents", declare("Search results were slow")).await.ok(201)["number"]
            .clone();
    let update = |_for: &Value, body: &str, status: &str, components: Value| json!({"audience": "external", "body": body, "status": status, "components": components});
    let path = |r: &Value| format!("/api/v1/incidents/INC-{r}/updates");
    clock.advance(3 * 3600);
    let slow = update(
        &old,
        "Search results are slow; we are looking into it.",
        "investigating",
        json!([{"component": "Search", "status": "partial_outage"}]),
    );
    server.post(ADMIN_TOKEN, &path(&old), slow).await.ok(201);
    clock.advance(5 * 3600);
    let fine = update(
        &old,
        "Search is back to normal.",
        "resolved",
        json!([{"component": "Search", "status": "operational"}]),
    );
    server.post(ADMIN_TOKEN, &path(&old), fine).await.ok(201);
    server.patch(ADMIN_TOKEN, &format!("/api/v1/incidents/INC-{old}"), json!({"status": "resolved"})).await.ok(200);
    clock.advance(12 * 24 * 3600);
    let now =
        server.post(ADMIN_TOKEN, "/api/v1/incidents", declare("Checkout returns 500")).await.ok(201)["number"].clone();
    let down = update(
        &now,
        "Some card payments fail. We are investigating.",
        "investigating",
        json!([{"component": "Payments", "status": "major_outage"}, {"component": "API", "status": "degraded_performance"}]),
    );
    server.post(ADMIN_TOKEN, &path(&now), down).await.ok(201);
    clock.advance(3 * 3600);
    let found = update(
        &now,
        "We found the cause, a bad deploy, and are rolling it back.",
        "identified",
        json!([{"component": "Payments", "status": "partial_outage"}]),
    );
    server.post(ADMIN_TOKEN, &path(&now), found).await.ok(201);
    // 2026-12-09 21:00: the US region's maintenance under way, the EU's tomorrow.
    for (title, component, starts, ends) in [
        ("Network upgrade", "US region", "2026-12-09T21:00:00Z", "2026-12-09T23:00:00Z"),
        ("Database failover test", "EU region", "2026-12-10T22:00:00Z", "2026-12-10T23:30:00Z"),
    ] {
        let body = json!({"title": title, "components": [component], "starts_at": starts, "ends_at": ends,
                          "body": "Connections may drop for a few seconds; they reconnect on their own."});
        server.post(ADMIN_TOKEN, "/api/v1/status/maintenances", body).await.ok(201);
    }
    server.deliver_due().await;
    let settings = json!({"name": "Acme status", "time_zone": "Europe/Berlin",
                          "links": [{"label": "acme.example", "url": "https://acme.example"}, {"label": "Support", "url": "https://acme.example/support"}]});
    server.put(ADMIN_TOKEN, "/api/v1/settings/status-page", settings).await.ok(200);
    let base = server.url.clone();

    let desktop = browser(&webdriver, 1280, 1400).await;
    desktop.goto(&format!("{base}/status")).await.unwrap();
    until_text(&desktop, "#indicator", "Partial System Outage").await;
    until_text(&desktop, "main", "We found the cause").await;
    until_text(&desktop, "main", "Maintenance in progress").await;
    until_text(&desktop, "main", "Database failover test").await;
    let bars = desktop.execute("return document.querySelectorAll('.bars .bar').length", vec![]).await.unwrap();
    assert_eq!(bars, json!(6 * 90), "90 days for each component");
    let phone = phone(&webdriver).await;
    phone.goto(&format!("{base}/status")).await.unwrap();
    until_text(&phone, "#indicator", "Partial System Outage").await;
    assert_eq!(wider_than_the_window(&phone).await, "", "the page fits a phone");
    if backend == Backend::Sqlite {
        shoot(&desktop, "status").await;
        shoot(&phone, "status-phone").await;
    }
    desktop.close().await.unwrap();
    phone.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_status_page_reads_on_a_desktop_and_a_phone() {
    the_status_page_reads_on_a_desktop_and_a_phone(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_status_page_reads_on_a_desktop_and_a_phone() {
    the_status_page_reads_on_a_desktop_and_a_phone(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_role_change_and_a_theory_reach_a_second_browser_live() {
    a_role_change_and_a_theory_reach_a_second_browser_live(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_role_change_and_a_theory_reach_a_second_browser_live() {
    a_role_change_and_a_theory_reach_a_second_browser_live(Backend::Postgres).await;
}

/// Every page a person reaches, as paths into the world that
/// [`long_text_everywhere`] makes: kept in this one list, so that a new page
/// is checked for long text by adding it here.
fn pages_to_fit() -> Vec<&'static str> {
    vec![
        "/",
        "/alerts",
        "/alerts?status=resolved",
        "/alerts/1",
        "/incidents/INC-1",
        "/incidents/INC-1?filter=roles",
        "/services",
        "/schedules",
        "/schedules/1",
        "/policies",
        "/users",
        "/users/alice",
        "/me",
        "/stakeholders",
        "/support",
        "/support/reports/1",
        "/status",
        "/status/incidents/INC-1",
    ]
}

/// A browser the size of a phone: 390 px wide, as a phone reports itself
/// (a desktop window is never narrower than 500 px in headless Chromium).
async fn phone(webdriver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
               "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": true}}}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(webdriver).await.expect("a browser session")
}

/// One "word" of `n` characters: no space to break at.
fn word(stem: &str, n: usize) -> String {
    stem.chars().cycle().take(n).collect()
}

/// A world where every kind of free text is as long as Muster lets it be,
/// without a space: alert summaries (one resolved), an incident title, a
/// role's scope, a timeline entry, a page message, names of the service,
/// schedule and policy, a person's name and contact addresses, an alert
/// linked to the incident and a line said in its room.
async fn long_text_everywhere(server: &TestServer) {
    let alice = json!({"handle": "alice", "name": word("Alice", 100), "email": "alice@example.com",
                       "password": "correct horse battery", "permission": "admin"});
    server.post(ADMIN_TOKEN, "/api/v1/users", alice).await.ok(201);
    let method =
        json!({"kind": "email", "address": format!("{}@{}.example.com", word("alice", 64), word("mail", 150))});
    server.post(ADMIN_TOKEN, "/api/v1/users/alice/contact-methods", method).await.ok(201);
    let hook = json!({"kind": "webhook", "address": format!("https://hooks.invalid/{}", word("path", 1000))});
    server.post(ADMIN_TOKEN, "/api/v1/users/alice/contact-methods", hook).await.ok(201);
    let schedule = json!({"name": word("Primary", 100), "time_zone": "Europe/Berlin", "layers": [
        {"rotation": {"users": ["alice"], "shift": "1d", "handoff": "09:00", "start": "2026-01-05"}}]});
    let schedule = server.post(ADMIN_TOKEN, "/api/v1/schedules", schedule).await.ok(201)["id"].clone();
    let policy = json!({"name": word("Checkout", 100), "repeat": 2, "steps": [
        {"delay_seconds": 300, "targets": [{"schedule": schedule}]}, {"delay_seconds": 0, "targets": [{"user": "alice"}]}]});
    let policy = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", policy).await.ok(201)["id"].clone();
    let service = server.service(&word("checkout", 100), json!({"owner": "alice", "escalation_policy": policy})).await;
    let key = service["integration_key"].as_str().unwrap().to_owned();
    let ingest = format!("/api/v1/integrations/generic/{key}");
    for (dedup, stem) in [("one", "Summary"), ("two", "Resolved")] {
        let alert = json!({"summary": word(stem, 1024), "severity": "error", "dedup_key": dedup});
        server.ingest(&ingest, &alert).await.ok(202);
    }
    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    let resolved = alerts.as_array().unwrap().iter().find(|a| a["dedup_key"] == "two").unwrap()["id"].clone();
    server.post(ADMIN_TOKEN, &format!("/api/v1/alerts/{resolved}/resolve"), json!({})).await.ok(200);
    let incident = json!({"title": word("Title", 200), "priority": "P1", "incident_manager": "alice"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents", incident).await.ok(201);
    let scope = json!({"role": "tech_lead", "user": "alice", "scope": word("scope", 64)});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/roles", scope).await.ok(201);
    let entry = json!({"kind": "note", "text": word("Entry", 10_000)});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline", entry).await.ok(201);
    let page = json!({"target": {"user": "alice"}, "message": word("Message", 1000)});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages", page).await.ok(201);
    let linked = alerts.as_array().unwrap().iter().find(|a| a["dedup_key"] == "one").unwrap()["id"].clone();
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/alerts", json!({"alert_id": linked})).await.ok(200);
    // A line said in the room, as the web's room box says it.
    let alice: muster_domain::Handle = "alice".parse().unwrap();
    let alice = server.app.user(&alice).await.unwrap().actor();
    server.app.room_line(&alice, "INC-1".parse().unwrap(), &word("Room", 5000)).await.unwrap();
    // A status page component, named by the external update below.
    let component =
        json!({"name": word("Checkout", 100), "description": word("Description", 1000), "group": word("Group", 100)});
    server.post(ADMIN_TOKEN, "/api/v1/status/components", component).await.ok(201);
    // Updates and their deliveries, a draft, a customer's reply, a group.
    let group = json!({"name": word("Executives", 100), "emails": [format!("{}@{}.example.com", word("vp", 64), word("corp", 150))],
                       "webhooks": [format!("https://{}.invalid/{}", word("hooks", 60), word("path", 1000))],
                       "services": [word("checkout", 100)], "priorities": ["P1"], "audiences": ["internal", "external"]});
    server.post(ADMIN_TOKEN, "/api/v1/stakeholder-groups", group).await.ok(201);
    let internal = json!({"audience": "internal", "form": {"conditions": word("Conditions", 10_000)}, "body": word("Body", 10_000)});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/updates", internal).await.ok(201);
    let external = json!({"audience": "external", "body": word("Customers", 10_000), "status": "investigating",
                          "components": [{"component": "1", "status": "partial_outage"}]});
    let external = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/updates", external).await.ok(201)["id"].clone();
    let draft = json!({"audience": "executive", "form": {"overview": word("Overview", 10_000)}, "draft": true});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/updates", draft).await.ok(201);
    let reply = json!({"from": word("Customer", 200), "channel": "email", "body": word("Reply", 10_000)});
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/INC-1/updates/{external}/responses"), reply).await.ok(201);
    // A customer report, linked, answered and passed on.
    let report = json!({"channel": "ticket", "customer": word("Customer", 200), "contact": word("contact", 200),
                        "organization": word("Organization", 200), "body": word("Report", 20_000),
                        "external_ref": word("Ticket", 200), "external_url": format!("https://desk.invalid/{}", word("t", 1000))});
    server.post(ADMIN_TOKEN, "/api/v1/customer-reports", report).await.ok(201);
    server.post(ADMIN_TOKEN, "/api/v1/customer-reports/1/link", json!({"incident": "INC-1"})).await.ok(200);
    server
        .post(ADMIN_TOKEN, "/api/v1/customer-reports/1/respond", json!({"body": word("Answer", 20_000)}))
        .await
        .ok(200);
    server.post(ADMIN_TOKEN, "/api/v1/customer-reports/1/pass", json!({"note": word("Note", 2000)})).await.ok(200);
}

/// What on the page reaches past the window's right edge (a few, for the
/// message), or an empty string when the page fits.
async fn wider_than_the_window(c: &Client) -> String {
    let found = c
        .execute(
            "const sideways = Array.from(document.querySelectorAll('.scroll')).filter(e => e.scrollWidth > e.clientWidth + 1); \
             if (sideways.length) return 'a table scrolls sideways: ' + sideways[0].scrollWidth + ' px in ' + sideways[0].clientWidth; \
             if (document.documentElement.scrollWidth <= window.innerWidth) return ''; \
             return document.documentElement.scrollWidth + ' px in ' + window.innerWidth + ': ' + \
               Array.from(document.querySelectorAll('body *')) \
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
                 .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(-5).join(' ');",
            vec![],
        )
        .await
        .unwrap();
    found.as_str().unwrap_or_default().to_owned()
}

async fn long_text_never_makes_a_page_wider_than_the_window(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let Some(server) = TestServer::start_with(backend, common::Setup::default()).await else { return };
    long_text_everywhere(&server).await;
    let base = server.url.clone();
    let mut wrong = Vec::new();
    for width in [1280, 390] {
        let c = if width == 390 { phone(&webdriver).await } else { browser(&webdriver, width, 900).await };
        // Signed out: the sign-in form, after a long wrong handle.
        c.goto(&format!("{base}/login")).await.unwrap();
        let handle = c.wait().for_element(Locator::Css("input[name=handle]")).await.unwrap();
        let shown = c.execute("return window.innerWidth", vec![]).await.unwrap();
        assert_eq!(shown, json!(width), "the window is {width} px wide");
        handle.send_keys(&word("mallory", 300)).await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("wrong password").await.unwrap();
        c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("p.error")).await.unwrap();
        let wide = wider_than_the_window(&c).await;
        if !wide.is_empty() {
            wrong.push(format!("/login at {width} px: {wide}"));
        }
        c.goto(&format!("{base}/login")).await.unwrap();
        sign_in(&c, &base, "alice").await;
        for path in pages_to_fit() {
            c.goto(&format!("{base}{path}")).await.unwrap();
            c.wait().for_element(Locator::Css("main h1")).await.unwrap();
            let wide = wider_than_the_window(&c).await;
            if !wide.is_empty() {
                wrong.push(format!("{path} at {width} px: {wide}"));
            }
            // To look at (never into the README's screenshots).
            let png = c.screenshot().await.unwrap();
            let dir = std::env::temp_dir().join(format!("muster-long-text-{backend:?}"));
            std::fs::create_dir_all(&dir).unwrap();
            let name: String = path.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' }).collect();
            std::fs::write(dir.join(format!("{width}{name}.png")), png).unwrap();
        }
        c.close().await.unwrap();
    }
    assert!(wrong.is_empty(), "pages wider than the window:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_long_text_never_makes_a_page_wider_than_the_window() {
    long_text_never_makes_a_page_wider_than_the_window(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_long_text_never_makes_a_page_wider_than_the_window() {
    long_text_never_makes_a_page_wider_than_the_window(Backend::Postgres).await;
}

/// A page to Bob, who has no contact method, goes on at once to Carol,
/// whose webhook reaches a receiver on 127.0.0.1 (allowed by the operator
/// setting, as in tests/paging.rs). Alice sees the warning on the incident
/// page and the dashboard, and the pages panel listing Carol's delivery;
/// Carol's answer page says what pressing does; `/alerts/1` shows the
/// alert; Carol's acknowledgement reaches Alice's page live.
async fn a_page_that_reached_nobody_shows_on_the_incident_page_and_escalates(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let (setup, _clock) = common::manual_setup();
    let Some(server) = TestServer::start_with(backend, setup).await else { return };
    let alice = json!({"handle": "alice", "name": "Alice", "email": "alice@example.com", "permission": "admin",
                       "password": "correct horse battery", "email_contact_method": false});
    server.post(ADMIN_TOKEN, "/api/v1/users", alice).await.ok(201);
    server.user("bob", "responder").await; // no contact method
    let carol_token = server.user("carol", "responder").await;
    let (carol_hook, url) = common::receiver::Receiver::start(vec![]).await;
    let method = json!({"kind": "webhook", "address": url});
    server.post(&carol_token, "/api/v1/users/carol/contact-methods", method).await.ok(201);
    let policy = json!({"name": "Checkout", "repeat": 0, "steps": [
        {"delay_seconds": 300, "targets": [{"user": "bob"}]},
        {"delay_seconds": 300, "targets": [{"user": "carol"}]}]});
    let policy = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", policy).await.ok(201)["id"].clone();
    let svc =
        server.service("checkout", json!({"auto_declare": {"critical": "P1"}, "escalation_policy": policy})).await;
    let alert = json!({"routing_key": svc["integration_key"], "event_action": "trigger", "dedup_key": "c",
                       "payload": {"summary": "checkout is failing", "source": "lb-1", "severity": "critical"}});
    server.ingest("/v2/enqueue", &alert).await.ok(202);
    server.deliver_due().await;
    assert_eq!(carol_hook.count(), 1, "the escalation went on to step 2 at once");

    let base = server.url.clone();
    let c = browser(&webdriver, 1280, 900).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    until_text(
        &c,
        "#page-warnings",
        "Page 1 reached nobody at step 1: @bob has no contact method — escalated to step 2",
    )
    .await;
    until_text(&c, "#pages", "Step 2 of 2").await;
    let panel = text(&c, "#pages").await;
    assert!(panel.contains("@carol") && panel.contains("webhook") && panel.contains("delivered"), "{panel}");
    assert!(panel.contains("Step 1 reached nobody: @bob has no contact method"), "{panel}");
    if backend == Backend::Sqlite {
        // The warning at the top of the window, the panel under it.
        c.execute("document.getElementById('pages').scrollIntoView({block: 'center'})", vec![]).await.unwrap();
        shoot(&c, "incident-pages").await;
    }
    c.goto(&format!("{base}/")).await.unwrap();
    until_text(&c, "main", "a page reached nobody").await;
    c.goto(&format!("{base}/alerts/1")).await.unwrap();
    until_text(&c, "h1", "Alert 1 · checkout").await;
    until_text(&c, "main", "checkout is failing").await;

    // Carol's link: the answer page says what pressing does, and links to the incident.
    let ack_url = carol_hook.bodies()[0]["ack_url"].as_str().unwrap().to_owned();
    let carol = browser(&webdriver, 390, 844).await;
    carol.goto(&ack_url).await.unwrap();
    until_text(&carol, "body", "You become incident manager of INC-1").await;
    assert!(carol.find(Locator::Css("a[href='/incidents/INC-1']")).await.is_ok(), "it links to the incident");

    // Alice watches the incident while Carol presses the button.
    c.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    until_text(&c, "#page-warnings", "reached nobody").await;
    carol.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    until_text(&carol, "body", "Acknowledged").await;
    until_text(&c, "#pages", "acknowledged by @carol").await;
    assert_eq!(text(&c, "#page-warnings").await, "", "the warning went with the answer, live");

    // A new page to Carol: its step runs, then its webhook arrives — the
    // panel follows both, the second without a timeline entry.
    let again = json!({"target": {"user": "carol"}, "message": "one more thing"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/pages", again).await.ok(201);
    server.app.engine.run_due().await.unwrap(); // the step: notifies carol, her webhook due now
    until_text(&c, "#page-2", "pending").await;
    server.app.engine.run_due().await.unwrap(); // the webhook
    until_text(&c, "#page-2", "delivered").await;
    assert_eq!(carol_hook.count(), 2);
    carol.close().await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_page_that_reached_nobody_shows_on_the_incident_page_and_escalates() {
    a_page_that_reached_nobody_shows_on_the_incident_page_and_escalates(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_page_that_reached_nobody_shows_on_the_incident_page_and_escalates() {
    a_page_that_reached_nobody_shows_on_the_incident_page_and_escalates(Backend::Postgres).await;
}

/// After the incident, in Chromium: the scribe drafts the postmortem from
/// the incident page's button and reads the printable page; the insights
/// page draws its charts as SVG and fits a phone.
async fn the_postmortem_drafted_from_the_incident_page_and_the_insights_read_in_a_browser(backend: Backend) {
    let Some((_driver, webdriver)) = chromedriver().await else { return };
    let Some(server) = TestServer::start_with(backend, common::Setup::default()).await else { return };
    for (h, name) in [("alice", "Alice"), ("carol", "Carol"), ("hank", "Hank")] {
        let body = json!({"handle": h, "name": name, "email": format!("{h}@example.com"), "password": "correct horse battery"});
        server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
    }
    let carol = server.post(ADMIN_TOKEN, "/api/v1/users/carol/tokens", json!({})).await.ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (n, (title, priority)) in
        [("Checkout returns 500", "P1"), ("Search is slow", "P3"), ("Login loops", "P2")].iter().enumerate()
    {
        let r = format!("/api/v1/incidents/INC-{}", n + 1);
        server
            .post(
                ADMIN_TOKEN,
                "/api/v1/incidents",
                json!({"title": title, "priority": priority, "incident_manager": "alice"}),
            )
            .await
            .ok(201);
        server
            .post(
                ADMIN_TOKEN,
                &format!("{r}/roles"),
                json!({"role": "tech_lead", "user": "carol", "scope": "database"}),
            )
            .await
            .ok(201);
        server.post(ADMIN_TOKEN, &format!("{r}/roles"), json!({"role": "scribe", "user": "hank"})).await.ok(201);
        // The impact began a while before the declaration (the real clock: a screenshot reads true).
        let began = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(12 + 9 * n as i64);
        let started =
            json!({"kind": "milestone", "tag": "started", "text": "first 500s", "occurred_at": began.to_string()});
        server.post(ADMIN_TOKEN, &format!("{r}/timeline"), started).await.ok(201);
        let pool = json!({"kind": "theory", "text": "the pool is exhausted", "workstream": "database"});
        let theory = server.post(ADMIN_TOKEN, &format!("{r}/timeline"), pool).await.ok(201)["id"].clone();
        let report = json!({"conditions": "db-7 at 100 % CPU, 40 of 40 connections busy",
                            "actions": "raising the pool to 80 and restarting checkout", "needs": "a DBA to watch the replica"});
        server.post(&carol, &format!("{r}/tech-lead-reports"), report).await.ok(201);
        server
            .post(
                ADMIN_TOKEN,
                &format!("{r}/theories/{theory}/status"),
                json!({"status": "confirmed", "evidence": "40 of 40 connections busy"}),
            )
            .await
            .ok(201);
        let follow_up = json!({"text": "alert on pool saturation", "owner": "carol", "due_at": "2027-01-15T09:00:00Z", "follow_up": true, "ticket": "OPS-7", "workstream": "database"});
        server.post(ADMIN_TOKEN, &format!("{r}/actions"), follow_up).await.ok(201);
        server.patch(ADMIN_TOKEN, &r, json!({"status": "monitoring"})).await.ok(200);
        server.patch(ADMIN_TOKEN, &r, json!({"status": "resolved"})).await.ok(200);
    }
    // Alerts for the insights: a noisy one and a quiet one.
    let key = server.service("checkout", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    for (dedup, times) in [("5xx", 4), ("latency", 1)] {
        for _ in 0..times {
            let alert = json!({"summary": format!("checkout {dedup} above threshold"), "dedup_key": dedup});
            server.ingest(&format!("/api/v1/integrations/generic/{key}"), &alert).await.ok(202);
        }
    }
    let summary = json!({"summary": "Card payments failed at checkout: the connection pool to db-7 ran dry."});
    server.patch(ADMIN_TOKEN, "/api/v1/incidents/INC-1", summary).await.ok(200);
    let base = server.url.clone();
    let hank = browser(&webdriver, 1280, 900).await;
    sign_in(&hank, &base, "hank").await;
    hank.goto(&format!("{base}/incidents/INC-1")).await.unwrap();
    let panel = text(&hank, "#workstreams-panel").await;
    assert!(panel.contains("database") && panel.contains("a DBA to watch the replica"), "{panel}");
    assert!(panel.contains("the pool is exhausted"), "the theory in its workstream: {panel}");
    hank.execute("document.getElementById('workstreams').scrollIntoView()", vec![]).await.unwrap();
    let card = hank.find(Locator::Css("#workstreams-panel")).await.unwrap();
    shoot_element(&card, "workstreams").await;
    hank.find(Locator::Css("form[aria-label='Draft the postmortem'] button")).await.unwrap().click().await.unwrap();
    until_text(&hank, "h1", "INC-1 postmortem: Checkout returns 500").await;
    assert!(hank.current_url().await.unwrap().path().ends_with("/incidents/INC-1/postmortem"));
    let page = text(&hank, "body").await;
    for part in [
        "Impact",
        "Roles",
        "Timeline",
        "Root cause",
        "Action items",
        "alert on pool saturation",
        "Made from the timeline of INC-1",
    ] {
        assert!(page.contains(part), "{part} is on the page: {page}");
    }
    shoot(&hank, "postmortem").await;

    hank.goto(&format!("{base}/insights")).await.unwrap();
    until_text(&hank, "h1", "Insights").await;
    let charts = hank.execute("return document.querySelectorAll('svg.chart').length", vec![]).await.unwrap();
    assert_eq!(charts.as_u64(), Some(6), "six charts");
    let main = text(&hank, "main").await;
    assert!(main.contains("Noisiest alerts") && main.contains("checkout 5xx above threshold"), "{main}");
    let bars = hank.execute("return document.querySelectorAll('svg.chart rect.bar').length", vec![]).await.unwrap();
    assert!(bars.as_u64().unwrap() >= 8, "bars for the durations, priorities and roles: {bars}");
    assert!(text(&hank, "main").await.contains("3 incidents"), "{}", text(&hank, "main").await);
    shoot(&hank, "insights").await;

    let small = phone(&webdriver).await;
    sign_in(&small, &base, "hank").await;
    small.goto(&format!("{base}/insights")).await.unwrap();
    until_text(&small, "h1", "Insights").await;
    assert_eq!(wider_than_the_window(&small).await, "", "the insights fit a phone");
    shoot(&small, "insights-phone").await;
    small.goto(&format!("{base}/incidents/INC-1/postmortem")).await.unwrap();
    until_text(&small, "h1", "INC-1 postmortem").await;
    assert_eq!(wider_than_the_window(&small).await, "", "the postmortem fits a phone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_postmortem_drafted_from_the_incident_page_and_the_insights_read_in_a_browser() {
    the_postmortem_drafted_from_the_incident_page_and_the_insights_read_in_a_browser(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_postmortem_drafted_from_the_incident_page_and_the_insights_read_in_a_browser() {
    the_postmortem_drafted_from_the_incident_page_and_the_insights_read_in_a_browser(Backend::Postgres).await;
}
