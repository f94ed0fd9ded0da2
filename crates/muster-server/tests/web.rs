//! The web UI over HTTP, on both backends: signing in (CSRF, the guessing
//! slow-down), every page signed in and out, forms refused to viewers and
//! without the session's CSRF token, the incident room's commands, and the
//! live stream of an incident.

mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, TestServer};
use reqwest::redirect::Policy;
use serde_json::json;

on_both_backends!(
    signing_in_sets_a_session_and_every_page_needs_one,
    forms_need_the_session_csrf_token_and_a_writer,
    guessing_passwords_is_slowed_down,
    the_room_takes_messages_and_commands_and_the_live_stream_follows,
    the_first_responder_triages_from_the_dashboard,
    stale_pages_and_old_sessions_do_no_harm,
    people_manage_how_they_are_reached_on_my_page_and_admins_on_theirs,
    the_policies_page_tells_each_policy_as_a_timeline,
    the_communications_panel_counts_down_and_writes_drafts_and_updates_for_whoever_may_publish,
    the_external_update_form_sets_status_page_components_and_counts_their_subscribers,
    admins_keep_stakeholder_groups_on_their_page,
    the_incident_manager_reads_each_workstream_with_its_tech_leads_latest_report,
);

/// A browser: no automatic redirects (to see them), cookies by hand.
struct Browser {
    http: reqwest::Client,
    url: String,
    cookie: String,
    /// The last form's outcome, as the browser would keep its cookie.
    flash: std::sync::Mutex<String>,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        Browser { http, url: server.url.clone(), cookie: String::new(), flash: Default::default() }
    }

    fn cookies(&self) -> String {
        let flash = self.flash.lock().unwrap().clone();
        if flash.is_empty() { self.cookie.clone() } else { format!("{}; muster_flash={flash}", self.cookie) }
    }

    /// Keeps what a response sets as the flash (an empty value deletes it).
    fn keep_flash(&self, r: &reqwest::Response) {
        if let Some(v) = set_cookie(r, "muster_flash") {
            *self.flash.lock().unwrap() = v;
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let r = self.http.get(format!("{}{path}", self.url)).header("cookie", self.cookies()).send().await.unwrap();
        self.keep_flash(&r);
        r
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookies())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep_flash(&r);
        r
    }

    /// Signs in as `handle`; returns the login answer.
    async fn sign_in(&mut self, handle: &str, password: &str) -> reqwest::Response {
        let form = self.get("/login").await;
        let login_cookie = set_cookie(&form, "muster_login").expect("the form sets its CSRF cookie");
        let html = form.text().await.unwrap();
        let csrf = hidden(&html, "csrf");
        self.cookie = format!("muster_login={login_cookie}");
        let answer =
            self.post("/login", &[("csrf", &csrf), ("handle", handle), ("password", password), ("next", "/")]).await;
        if let Some(session) = set_cookie(&answer, "muster_session") {
            self.cookie = format!("muster_session={session}");
        }
        answer
    }

    /// The CSRF token of the forms on a page.
    async fn csrf(&self, path: &str) -> String {
        hidden(&self.get(path).await.text().await.unwrap(), "csrf")
    }
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (kv, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = kv.split_once('=')?;
        (k == name).then(|| val.to_owned())
    })
}

/// The outcome a form's answer sets: `error:…` or `notice:…`, decoded.
fn flash(r: &reqwest::Response) -> String {
    let v = set_cookie(r, "muster_flash").unwrap_or_default();
    form_urlencoded::parse(format!("f={v}").as_bytes()).next().map(|(_, t)| t.into_owned()).unwrap_or_default()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {html}")) + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

async fn user_with_password(server: &TestServer, handle: &str, permission: &str) {
    let body = json!({"handle": handle, "name": handle, "email": format!("{handle}@example.com"),
                      "permission": permission, "password": "correct horse battery"});
    server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
}

async fn signing_in_sets_a_session_and_every_page_needs_one(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    server
        .post(
            ADMIN_TOKEN,
            "/api/v1/users",
            json!({"handle": "x", "name": "x", "email": "x@e.com", "password": "short"}),
        )
        .await
        .problem(422);
    let mut b = Browser::new(&server);
    let pages = ["/", "/alerts", "/services", "/schedules", "/policies", "/users", "/me", "/incidents/INC-1"];
    for p in pages {
        let r = b.get(p).await;
        assert_eq!(r.status(), 303, "{p} signed out");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/login?next="), "{p} → {to}");
    }
    let wrong = b.sign_in("alice", "wrong password!").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("do not match"));
    let right = b.sign_in("alice", "correct horse battery").await;
    assert_eq!(right.status(), 303);
    let session =
        right.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(
        session
            .iter()
            .any(|c| c.starts_with("muster_session=") && c.contains("HttpOnly") && c.contains("SameSite=Lax"))
    );

    let csrf = b.csrf("/").await;
    b.post("/incidents", &[("csrf", &csrf), ("title", "Checkout down"), ("priority", "P1")]).await;
    server
        .post(
            ADMIN_TOKEN,
            "/api/v1/schedules",
            json!({"name": "Primary", "time_zone": "Europe/Berlin",
        "layers": [{"rotation": {"users": ["alice"], "shift": "1w", "handoff": "09:00", "start": "2026-01-05"}}]}),
        )
        .await
        .ok(201);
    for p in pages.iter().chain(&["/schedules/1", "/incidents/INC-1?filter=roles", "/alerts?status=triggered"]) {
        let r = b.get(p).await;
        assert_eq!(r.status(), 200, "{p} signed in");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(html.contains("@alice"), "{p} shows who is signed in");
    }
    let incident = b.get("/incidents/INC-1").await.text().await.unwrap();
    assert!(incident.contains("INC-1 P1 investigating — Checkout down | IM @alice | FR @alice"), "{incident}");
    // Whom to give a role or to page is chosen, never preselected.
    assert!(incident.contains("<option value=\"\" selected disabled>choose someone</option>"), "{incident}");
    assert!(incident.contains("<option value=\"\" selected disabled>choose who</option>"), "{incident}");
    assert!(!incident.contains("<option value=\"admin\" selected"), "{incident}");
    assert_eq!(b.get("/incidents/INC-99").await.status(), 404);

    let csrf = b.csrf("/").await;
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(b.get("/").await.status(), 303, "signed out again: the session is gone");
}

async fn forms_need_the_session_csrf_token_and_a_writer(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    user_with_password(&server, "vera", "viewer").await;
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", "correct horse battery").await;
    let refused = alice.post("/incidents", &[("csrf", "forged"), ("title", "x"), ("priority", "P1")]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("CSRF"));
    let missing = alice.post("/incidents", &[("title", "x"), ("priority", "P1")]).await;
    assert_eq!(missing.status(), 403);
    assert_eq!(server.get(ADMIN_TOKEN, "/api/v1/incidents").await.ok(200).as_array().unwrap().len(), 0);

    let mut vera = Browser::new(&server);
    vera.sign_in("vera", "correct horse battery").await;
    let csrf = vera.csrf("/").await;
    let viewer = vera.post("/incidents", &[("csrf", &csrf), ("title", "x"), ("priority", "P1")]).await;
    assert_eq!(viewer.status(), 403, "viewers look but do not post");
    // Every form, as a viewer with the right token, and as a writer without it.
    let alice_csrf = alice.csrf("/").await;
    alice.post("/incidents", &[("csrf", &alice_csrf), ("title", "Disk full"), ("priority", "P2")]).await;
    let forms = [
        "/incidents",
        "/incidents/INC-1/roles",
        "/incidents/INC-1/roles/1/relieve",
        "/incidents/INC-1/update",
        "/incidents/INC-1/pages",
        "/incidents/INC-1/entries",
        "/incidents/INC-1/room",
        "/alerts/acknowledge",
        "/alerts/1/acknowledge",
        "/alerts/1/assess",
        "/alerts/1/declare",
        "/alerts/1/link",
        "/users/vera/contact-methods/1/test",
        "/users/vera/contact-methods",
        "/users/vera/notification-rules",
        "/users/vera/contact-methods/1/remove",
        "/users/vera/notification-rules/1/remove",
    ];
    for path in forms {
        let as_viewer = vera.post(path, &[("csrf", &csrf), ("line", "/status resolved"), ("status", "resolved")]).await;
        assert_eq!(as_viewer.status(), 403, "{path} as a viewer");
        let forged =
            alice.post(path, &[("csrf", "not-the-token"), ("line", "/status resolved"), ("status", "resolved")]).await;
        assert_eq!(forged.status(), 403, "{path} without the session's token");
    }
    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1").await.ok(200).clone();
    assert_eq!(incident["status"], "investigating", "no refused form changed anything");
    assert_eq!(vera.get("/").await.status(), 200);

    // A login form without its cookie is refused too (login CSRF).
    let bare = Browser::new(&server);
    let r = bare.post("/login", &[("csrf", "x"), ("handle", "alice"), ("password", "correct horse battery")]).await;
    assert_eq!(r.status(), 403);

    // A good form with a bad field comes back with the reason.
    let csrf = alice.csrf("/").await;
    let bad = alice.post("/incidents", &[("csrf", &csrf), ("title", "x"), ("priority", "P9")]).await;
    assert_eq!(bad.status(), 303);
    let back = bad.headers()["location"].to_str().unwrap().to_owned();
    let shown = alice.get(&back).await.text().await.unwrap();
    assert!(shown.contains("class=\"error\"") && shown.contains("P9"), "{shown}");
}

async fn guessing_passwords_is_slowed_down(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    let mut b = Browser::new(&server);
    for _ in 0..5 {
        assert_eq!(b.sign_in("alice", "not the password").await.status(), 401);
    }
    let slowed = b.sign_in("alice", "correct horse battery").await;
    assert_eq!(slowed.status(), 429, "after five failures even the right password waits");
    assert!(slowed.headers().contains_key("retry-after"));
    assert!(slowed.text().await.unwrap().contains("Too many failed attempts"));
}

async fn the_room_takes_messages_and_commands_and_the_live_stream_follows(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    user_with_password(&server, "carol", "responder").await;
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", "correct horse battery").await;
    let csrf = alice.csrf("/").await;
    alice.post("/incidents", &[("csrf", &csrf), ("title", "Checkout down"), ("priority", "P1")]).await;

    // A second viewer watches the live stream from the version it saw.
    let mut carol = Browser::new(&server);
    carol.sign_in("carol", "correct horse battery").await;
    let page = carol.get("/incidents/INC-1").await.text().await.unwrap();
    let live = hidden_attr(&page, "data-live");
    let mut stream = carol.get(&live).await;
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    for line in [
        "/role tech_lead @carol database",
        "/theory connection pool exhausted",
        "db looks saturated",
        "/status identified",
        "/update internal Pool exhausted; failing over to the replica.",
    ] {
        let r = alice.post("/incidents/INC-1/room", &[("csrf", &csrf), ("line", line)]).await;
        assert_eq!(r.status(), 303, "{line}");
        let outcome = flash(&r);
        assert!(!outcome.starts_with("error:"), "{line}: {outcome}");
    }
    // The theory is judged, the declaration highlighted and annotated, from the room.
    let theories = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/theories").await.ok(200).clone();
    let theory = theories[0]["id"].as_u64().unwrap();
    let confirm = format!("/confirm {theory} the pool is at its maximum of 100");
    for (line, said) in [
        (confirm.as_str(), format!("Theory {theory} confirmed.")),
        ("/highlight 1", "Entry 1 is highlighted for the postmortem.".to_owned()),
        ("/annotate 1 declared from the web", "Annotated entry 1.".to_owned()),
    ] {
        let r = alice.post("/incidents/INC-1/room", &[("csrf", &csrf), ("line", line)]).await;
        assert_eq!(flash(&r), format!("notice:{said}"), "{line}");
    }
    let theories = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/theories").await.ok(200).clone();
    assert_eq!(theories[0]["status"], "confirmed");
    assert_eq!(theories[0]["judgements"][0]["evidence"], "the pool is at its maximum of 100");
    let unknown = alice.post("/incidents/INC-1/room", &[("csrf", &csrf), ("line", "/frobnicate")]).await;
    let back = unknown.headers()["location"].to_str().unwrap().to_owned();
    assert!(alice.get(&back).await.text().await.unwrap().contains("There is no command /frobnicate"));

    // Backdated entries: a picker's value without JavaScript (UTC), or as the script sends it.
    // The start comes first: no milestone may precede it.
    for (when, tag, text) in [
        ("2026-01-01T08:30", "started", "users saw errors"),
        ("2026-01-01T08:45:00.000Z", "impact_detected", "support noticed"),
    ] {
        let form =
            [("csrf", csrf.as_str()), ("kind", "milestone"), ("tag", tag), ("text", text), ("occurred_at", when)];
        let r = alice.post("/incidents/INC-1/entries", &form).await;
        assert!(!flash(&r).starts_with("error:"), "{when}");
    }
    let bad = [("csrf", csrf.as_str()), ("kind", "note"), ("text", "x"), ("occurred_at", "yesterday")];
    let r = alice.post("/incidents/INC-1/entries", &bad).await;
    assert!(flash(&r).starts_with("error:"), "a bad time is explained");

    let timeline = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline").await.ok(200).clone();
    let entries = timeline.as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"theory") && kinds.contains(&"message"), "{kinds:?}");
    assert!(kinds.contains(&"update_published"), "the incident manager published from the room: {kinds:?}");
    assert_eq!(entries[0]["at"], "2026-01-01T08:30:00Z", "backdated entries sort where they happened");
    assert_eq!(entries[1]["at"], "2026-01-01T08:45:00Z");

    // Carol's stream got every change: the role (and topic), the theory, the message, the status.
    // (Each event carries the incident's status when it was read, so the
    // status may show before the message's event: wait for all of them.)
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let every = ["connection pool exhausted", "db looks saturated", "\"status\":\"identified\""];
    while !every.iter().all(|text| got.contains(text)) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("live events within 10 s");
        got.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
    }
    assert!(got.contains("event: entry") && got.contains("TL @carol (database)"), "{got}");
    assert!(got.contains("db looks saturated"));

    // Reconnecting with Last-Event-ID replays what came after it.
    let again = carol
        .http
        .get(format!("{}/incidents/INC-1/events", carol.url))
        .header("cookie", &carol.cookie)
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    let mut replay = again;
    let first = tokio::time::timeout(Duration::from_secs(10), replay.chunk()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("id: 2"), "the entry after 1 comes first");
    // Without a session or token, no stream.
    assert_eq!(Browser::new(&server).get("/incidents/INC-1/events").await.status(), 401);
}

fn hidden_attr(html: &str, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect::<String>().replace("&amp;", "&")
}

async fn the_first_responder_triages_from_the_dashboard(server: TestServer) {
    user_with_password(&server, "fiona", "responder").await;
    let key = server.service("search", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let hook = format!("/api/v1/integrations/generic/{key}");
    for d in ["latency", "errors", "disk"] {
        server
            .ingest(&hook, &json!({"summary": format!("search {d}"), "severity": "error", "dedup_key": d}))
            .await
            .ok(202);
    }
    let mut b = Browser::new(&server);
    b.sign_in("fiona", "correct horse battery").await;
    let dashboard = b.get("/").await.text().await.unwrap();
    assert!(dashboard.contains("search latency") && !dashboard.contains("Nothing to triage"));
    // Nothing risky is chosen for her: no priority before an assessment,
    // none for a new incident.
    assert!(!dashboard.contains("<option value=\"P1\" selected>"), "P1 is not preselected");
    assert!(dashboard.contains("<option value=\"\" selected>from the severity</option>"));
    assert!(dashboard.contains("<option value=\"\" selected disabled>choose</option>"));
    let csrf = hidden(&dashboard, "csrf");

    let assessed =
        b.post("/alerts/1/assess", &[("csrf", &csrf), ("customer_impact", "many"), ("services_affected", "1")]).await;
    let back = assessed.headers()["location"].to_str().unwrap().to_owned();
    let shown = b.get(&back).await.text().await.unwrap();
    assert!(shown.contains("the impact suggests P2"), "{shown}");
    assert!(shown.contains("Assess (suggests P2)"));
    assert!(shown.contains("<option value=\"P2\" selected>"), "the suggestion is preselected");

    let declared = b.post("/alerts/1/declare", &[("csrf", &csrf), ("priority", "P2")]).await;
    assert!(declared.headers()["location"].to_str().unwrap().starts_with("/incidents/INC-1"));
    let linked = b.post("/alerts/2/link", &[("csrf", &csrf), ("incident", "INC-1")]).await;
    assert!(!flash(&linked).starts_with("error:"));
    let acked = b.post("/alerts/acknowledge", &[("csrf", &csrf), ("alert", "3")]).await;
    assert_eq!(flash(&acked), "notice:Acknowledged 1 alert.");
    let alerts = server.get(ADMIN_TOKEN, "/api/v1/alerts").await.ok(200).clone();
    let by_id = |id: u64| alerts.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!((by_id(1)["incident"].as_str(), by_id(2)["incident"].as_str()), (Some("INC-1"), Some("INC-1")));
    assert_eq!(by_id(3)["status"], "acknowledged");
    let none = b.post("/alerts/acknowledge", &[("csrf", &csrf)]).await;
    assert!(flash(&none).starts_with("error:"), "nothing ticked is explained");
    // A bulk action takes at most 500 ids, and a refused one does nothing.
    let mut too_many = vec![("csrf", csrf.as_str())];
    too_many.extend(std::iter::repeat_n(("alert", "2"), muster_domain::limits::MAX_BULK_IDS + 1));
    let refused = b.post("/alerts/acknowledge", &too_many).await;
    assert!(flash(&refused).starts_with("error:acknowledge at most 500 alerts"), "{}", flash(&refused));
    let alert = server.get(ADMIN_TOKEN, "/api/v1/alerts/2").await.ok(200).clone();
    assert_eq!(alert["status"], "triggered");
}

async fn stale_pages_and_old_sessions_do_no_harm(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    user_with_password(&server, "vera", "viewer").await;
    let mut alice = Browser::new(&server);
    // Phones capitalise the first letter of a handle.
    assert_eq!(alice.sign_in("Alice", "correct horse battery").await.status(), 303);
    let csrf = alice.csrf("/").await;
    alice.post("/incidents", &[("csrf", &csrf), ("title", "Checkout down"), ("priority", "P2")]).await;
    let page = alice.get("/incidents/INC-1").await.text().await.unwrap();
    assert!(page.contains("name=\"was_status\" value=\"investigating\""));

    // Someone resolves it meanwhile; Alice's older page only raises the priority.
    server.patch(ADMIN_TOKEN, "/api/v1/incidents/INC-1", json!({"status": "resolved"})).await.ok(200);
    let form = [
        ("csrf", csrf.as_str()),
        ("status", "investigating"),
        ("was_status", "investigating"),
        ("priority", "P1"),
        ("was_priority", "P2"),
    ];
    alice.post("/incidents/INC-1/update", &form).await;
    let incident = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1").await.ok(200).clone();
    assert_eq!((incident["status"].as_str(), incident["priority"].as_str()), (Some("resolved"), Some("P1")));

    // A path segment that is not a reference goes back to the dashboard, not to a 5xx.
    let odd = alice.post("/incidents/%0A/update", &form).await;
    assert_eq!(odd.status(), 303);
    assert_eq!(odd.headers()["location"].to_str().unwrap(), "/");
    assert!(flash(&odd).starts_with("error:"));

    // The outcome of a form is shown once, from a cookie; words in a link are not shown at all.
    let first = alice.get("/").await.text().await.unwrap();
    assert!(first.contains("class=\"error\""), "the last form's outcome");
    let again = alice.get("/").await.text().await.unwrap();
    assert!(!again.contains("class=\"error\""), "shown once");
    let crafted = alice.get("/?error=Your+session+expired%2C+call+555-0100").await.text().await.unwrap();
    assert!(!crafted.contains("555-0100"), "a link cannot put words in the banner");

    // After sign-in, `next` only ever points into this site.
    let mut b = Browser::new(&server);
    let form_page = b.get("/login?next=/%09/evil.example").await.text().await.unwrap();
    assert!(form_page.contains("name=\"next\" value=\"/\""), "an unsafe next becomes /");
    let _ = b.sign_in("alice", "correct horse battery").await;

    // Viewers may sign out too.
    let mut vera = Browser::new(&server);
    vera.sign_in("vera", "correct horse battery").await;
    let vera_csrf = vera.csrf("/").await;
    assert_eq!(vera.post("/logout", &[("csrf", &vera_csrf)]).await.status(), 303);
    assert_eq!(vera.get("/").await.status(), 303);

    // A new password ends the sessions signed in with the old one.
    assert_eq!(alice.get("/").await.status(), 200);
    server.post(ADMIN_TOKEN, "/api/v1/users/alice/password", json!({"password": "a new long password"})).await.ok(204);
    assert_eq!(alice.get("/").await.status(), 303, "the old session is gone");
    // A form posted after the session ended leads back to its page, not to its action.
    let late = alice
        .http
        .post(format!("{}/incidents/INC-1/room", alice.url))
        .header("cookie", &alice.cookie)
        .header("referer", format!("{}/incidents/INC-1", alice.url))
        .form(&[("csrf", "x"), ("line", "hello")])
        .send()
        .await
        .unwrap();
    assert_eq!(late.headers()["location"].to_str().unwrap(), "/login?next=%2Fincidents%2FINC-1");
}

/// The id of the contact method a page lists with `address`, from its test form.
fn method_id(html: &str, address: &str) -> String {
    let at = html.find(&format!(">{address}</span>")).unwrap_or_else(|| panic!("{address} in {html}"));
    let marker = "/contact-methods/";
    let start = html[at..].find(marker).unwrap() + at + marker.len();
    html[start..].chars().take_while(char::is_ascii_digit).collect()
}

async fn people_manage_how_they_are_reached_on_my_page_and_admins_on_theirs(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    user_with_password(&server, "bob", "responder").await;
    user_with_password(&server, "ada", "admin").await;
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", "correct horse battery").await;
    let me = alice.get("/me").await.text().await.unwrap();
    assert!(me.contains("aria-label=\"Add a contact method\""), "{me}");
    let csrf = hidden(&me, "csrf");

    // An email: added, and back on my page with the news.
    let form = [("csrf", csrf.as_str()), ("back", "/me"), ("kind", "email"), ("address", "alice.pager@example.com")];
    let added = alice.post("/users/alice/contact-methods", &form).await;
    assert_eq!((added.status().as_u16(), added.headers()["location"].to_str().unwrap()), (303, "/me"));
    assert_eq!(flash(&added), "notice:Added email alice.pager@example.com for @alice.");
    let me = alice.get("/me").await.text().await.unwrap();
    assert!(me.contains("Added email alice.pager@example.com"), "the outcome is shown");
    let email = method_id(&me, "alice.pager@example.com");

    // A webhook: its signing secret is on the answer, once, and nowhere after.
    let form =
        [("csrf", csrf.as_str()), ("back", "/me"), ("kind", "webhook"), ("address", "https://hooks.invalid/alice")];
    let added = alice.post("/users/alice/contact-methods", &form).await;
    assert_eq!(added.status(), 201);
    assert!(set_cookie(&added, "muster_flash").is_none_or(|v| !v.contains("whsec_")), "the secret is in no cookie");
    let shown = added.text().await.unwrap();
    let at = shown.find("whsec_").expect("the secret is shown");
    let secret: String = shown[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");
    assert!(shown.contains("shown only this once") && shown.contains("href=\"/me\""));
    let me = alice.get("/me").await.text().await.unwrap();
    assert!(me.contains("https://hooks.invalid/alice") && !me.contains("whsec_"), "never shown again");

    // Rules: the email after 5 minutes; a delay that is not minutes is refused by name.
    let rule = [("csrf", csrf.as_str()), ("back", "/me"), ("contact_method", email.as_str()), ("delay_minutes", "5")];
    let added = alice.post("/users/alice/notification-rules", &rule).await;
    assert!(flash(&added).starts_with("notice:"), "{}", flash(&added));
    let me = alice.get("/me").await.text().await.unwrap();
    assert!(me.contains("email alice.pager@example.com, after 5 min"), "{me}");
    let webhook_line = me.lines().find(|l| l.contains("hooks.invalid/alice\">")).unwrap_or_default();
    assert!(me.contains("no rule uses it: pages do not"), "with rules, the webhook is not used: {webhook_line}");
    // (A user made with an email may have a rule of its own already: find ours.)
    let rules = server.get(ADMIN_TOKEN, "/api/v1/users/alice/notification-rules").await.ok(200).clone();
    let ours = |rules: &serde_json::Value| {
        rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["contact_method"].as_u64().map(|id| id.to_string()).as_deref() == Some(email.as_str()))
            .cloned()
    };
    assert_eq!(ours(&rules).expect("the rule")["delay_seconds"], 300);
    for bad in ["-1", "five", "1441"] {
        let rule =
            [("csrf", csrf.as_str()), ("back", "/me"), ("contact_method", email.as_str()), ("delay_minutes", bad)];
        let refused = alice.post("/users/alice/notification-rules", &rule).await;
        assert!(flash(&refused).starts_with("error:give a whole number of minutes"), "{bad}: {}", flash(&refused));
    }
    let bad = [("csrf", csrf.as_str()), ("back", "/me"), ("kind", "email"), ("address", "not an address")];
    assert!(flash(&alice.post("/users/alice/contact-methods", &bad).await).starts_with("error:"));

    // A test through the email, from my page, comes back to my page.
    let tested =
        alice.post(&format!("/users/alice/contact-methods/{email}/test"), &[("csrf", &csrf), ("back", "/me")]).await;
    assert_eq!(tested.headers()["location"].to_str().unwrap(), "/me");
    assert_eq!(flash(&tested), "notice:A test notification to @alice is on its way.");

    // Bob sees Alice's page with her addresses shortened, and may not change them.
    let mut bob = Browser::new(&server);
    bob.sign_in("bob", "correct horse battery").await;
    let page = bob.get("/users/alice").await.text().await.unwrap();
    assert!(!page.contains("alice.pager@") && page.contains("example.com"), "{page}");
    assert!(!page.contains("aria-label=\"Add a contact method\"") && !page.contains("Send a test"));
    let bob_csrf = hidden(&page, "csrf");
    let form = [("csrf", bob_csrf.as_str()), ("kind", "email"), ("address", "bob.for.alice@example.com")];
    let refused = bob.post("/users/alice/contact-methods", &form).await;
    assert!(flash(&refused).starts_with("forbidden:"), "{}", flash(&refused));
    assert_eq!(refused.headers()["location"].to_str().unwrap(), "/users/alice");
    // "Back to my page" only ever leads to one's own.
    let form = [("csrf", bob_csrf.as_str()), ("back", "/me"), ("contact_method", email.as_str())];
    let refused = bob.post("/users/alice/notification-rules", &form).await;
    assert!(flash(&refused).starts_with("forbidden:"));
    assert_eq!(refused.headers()["location"].to_str().unwrap(), "/users/alice");

    // An admin manages anyone's, from their page.
    let mut ada = Browser::new(&server);
    ada.sign_in("ada", "correct horse battery").await;
    let users = ada.get("/users").await.text().await.unwrap();
    assert!(users.contains("<a href=\"/users/alice\">@alice</a>"));
    let page = ada.get("/users/alice").await.text().await.unwrap();
    assert!(page.contains("alice.pager@example.com") && page.contains("aria-label=\"Add a contact method\""));
    let ada_csrf = hidden(&page, "csrf");
    let form = [
        ("csrf", ada_csrf.as_str()),
        ("back", "/users/alice"),
        ("kind", "email"),
        ("address", "alice.home@example.com"),
    ];
    let added = ada.post("/users/alice/contact-methods", &form).await;
    assert_eq!(added.headers()["location"].to_str().unwrap(), "/users/alice");
    assert!(flash(&added).starts_with("notice:"));
    let methods = server.get(ADMIN_TOKEN, "/api/v1/users/alice/contact-methods").await.ok(200).clone();
    let addresses: Vec<&str> = methods.as_array().unwrap().iter().filter_map(|m| m["address"].as_str()).collect();
    for a in ["alice.pager@example.com", "https://hooks.invalid/alice", "alice.home@example.com"] {
        assert!(addresses.contains(&a), "{a} in {addresses:?}");
    }
    assert!(!addresses.contains(&"bob.for.alice@example.com"));

    // Removing: Bob may not; Alice removes her rule, then her webhook, from her page.
    let rule_id = ours(&rules).unwrap()["id"].as_u64().unwrap();
    let refused = bob.post(&format!("/users/alice/notification-rules/{rule_id}/remove"), &[("csrf", &bob_csrf)]).await;
    assert!(flash(&refused).starts_with("forbidden:"), "{}", flash(&refused));
    let me = alice.get("/me").await.text().await.unwrap();
    assert!(me.contains(&format!("action=\"/users/alice/notification-rules/{rule_id}/remove\"")), "{me}");
    let removed = alice
        .post(&format!("/users/alice/notification-rules/{rule_id}/remove"), &[("csrf", &csrf), ("back", "/me")])
        .await;
    assert_eq!(
        (flash(&removed).as_str(), removed.headers()["location"].to_str().unwrap()),
        (format!("notice:Removed notification rule {rule_id} of @alice.").as_str(), "/me")
    );
    let hook = method_id(&alice.get("/me").await.text().await.unwrap(), "https://hooks.invalid/alice");
    let removed =
        alice.post(&format!("/users/alice/contact-methods/{hook}/remove"), &[("csrf", &csrf), ("back", "/me")]).await;
    assert!(flash(&removed).starts_with("notice:Removed contact method"), "{}", flash(&removed));
    let again =
        alice.post(&format!("/users/alice/contact-methods/{hook}/remove"), &[("csrf", &csrf), ("back", "/me")]).await;
    assert!(flash(&again).starts_with("error:@alice has no contact method"), "{}", flash(&again));
    let odd = alice.post("/users/alice/notification-rules/x1/remove", &[("csrf", &csrf), ("back", "/me")]).await;
    assert_eq!(flash(&odd), "error:there is no notification rule \"x1\"");
    let me = alice.get("/me").await.text().await.unwrap();
    assert!(!me.contains("hooks.invalid") && !me.contains("after 5 min"), "{me}");
    let rules = server.get(ADMIN_TOKEN, "/api/v1/users/alice/notification-rules").await.ok(200).clone();
    assert_eq!(ours(&rules), None, "{rules}");
    assert_eq!(ada.get("/users/nobody").await.status(), 404);
}

async fn the_policies_page_tells_each_policy_as_a_timeline(server: TestServer) {
    user_with_password(&server, "alice", "responder").await;
    user_with_password(&server, "carol", "responder").await;
    let schedule = json!({"name": "Primary", "time_zone": "UTC", "layers": [
        {"rotation": {"users": ["alice"], "shift": "1w", "handoff": "09:00", "start": "2026-11-23"}}]});
    let schedule = server.post(ADMIN_TOKEN, "/api/v1/schedules", schedule).await.ok(201)["id"].clone();
    let policy = json!({"name": "Checkout", "repeat": 2, "steps": [
        {"delay_seconds": 300, "targets": [{"schedule": schedule}]},
        {"delay_seconds": 300, "targets": [{"user": "carol"}, {"user": "alice"}]}]});
    server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", policy).await.ok(201);
    let once = json!({"name": "Just Carol", "steps": [{"delay_seconds": 600, "targets": [{"user": "carol"}]}]});
    server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", once).await.ok(201);

    let mut b = Browser::new(&server);
    b.sign_in("alice", "correct horse battery").await;
    let page = b.get("/policies").await.text().await.unwrap();
    let checkout =
        &page[page.find("Policy Checkout").expect("the Checkout policy")..page.find("Policy Just Carol").unwrap()];
    let lines: Vec<&str> = checkout.split("<li>").skip(1).map(|l| l.split("</li>").next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "at 0 min: the on-call of Primary",
            "at 5 min: @carol and @alice",
            "then again from the start, 2 more times (every 10 min)",
            "at 30 min without an answer, the page expires",
        ],
        "{checkout}"
    );
    let carol = &page[page.find("Policy Just Carol").unwrap()..];
    assert!(carol.contains("<li>at 0 min: @carol</li>"), "{carol}");
    assert!(carol.contains("<li>at 10 min without an answer, the page expires</li>"), "{carol}");
    assert!(!carol.contains("again from the start"), "a policy that does not repeat says no repeat");
}

/// The panel's section for an audience, as the page has it.
fn audience_section(html: &str, audience: &str) -> String {
    let start = html.find(&format!("id=\"comms-{audience}\"")).unwrap_or_else(|| panic!("no {audience} panel: {html}"));
    let rest = &html[start..];
    rest[..rest.find("</section>").unwrap_or(rest.len())].to_owned()
}

async fn the_communications_panel_counts_down_and_writes_drafts_and_updates_for_whoever_may_publish(
    server: TestServer,
) {
    user_with_password(&server, "ian", "responder").await;
    user_with_password(&server, "cole", "responder").await;
    let body = json!({"title": "Payments fail", "priority": "P1", "incident_manager": "ian"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201);
    let cm = json!({"role": "communications_manager", "user": "cole", "scope": "internal"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/roles", cm).await.ok(201);
    let mut cole = Browser::new(&server);
    cole.sign_in("cole", "correct horse battery").await;
    let page = cole.get("/incidents/INC-1").await.text().await.unwrap();
    let internal = audience_section(&page, "internal");
    assert!(internal.contains("Next update due") && internal.contains("in 30 min"), "{internal}");
    assert!(internal.contains("name=\"conditions\"") && internal.contains(">Publish<"), "{internal}");
    let external = audience_section(&page, "external");
    assert!(!external.contains("value=\"publish\""), "not his to publish: {external}");
    assert!(external.contains("Only the incident manager (@ian)"), "{external}");
    assert!(audience_section(&page, "executive").contains("in 60 min"), "executives every hour on a P1");

    // He publishes the internal update, and drafts the external one.
    let csrf = hidden(&page, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("audience", "internal"),
        ("conditions", "5 % of card payments fail"),
        ("body", ""),
        ("action", "publish"),
    ];
    let r = cole.post("/incidents/INC-1/updates", &form).await;
    assert_eq!(flash(&r), "notice:Published the internal update.");
    let published = [
        ("csrf", csrf.as_str()),
        ("audience", "external"),
        ("body", "Some payments fail."),
        ("status", "investigating"),
        ("action", "publish"),
    ];
    let refused = cole.post("/incidents/INC-1/updates", &published).await;
    assert!(flash(&refused).starts_with("forbidden:only the incident manager (@ian)"), "{}", flash(&refused));
    let draft = [
        ("csrf", csrf.as_str()),
        ("audience", "external"),
        ("body", "Some payments fail."),
        ("status", "investigating"),
        ("action", "draft"),
    ];
    let r = cole.post("/incidents/INC-1/updates", &draft).await;
    assert!(flash(&r).starts_with("notice:Saved the external draft"), "{}", flash(&r));
    let page = cole.get("/incidents/INC-1").await.text().await.unwrap();
    let internal = audience_section(&page, "internal");
    assert!(
        internal.contains("Conditions: 5 % of card payments fail") && internal.contains("Published by @cole"),
        "{internal}"
    );
    let external = audience_section(&page, "external");
    assert!(
        external.contains("Draft by @cole") && external.contains("waiting for the incident manager (@ian)"),
        "{external}"
    );

    // The incident manager publishes the draft from his page.
    let mut ian = Browser::new(&server);
    ian.sign_in("ian", "correct horse battery").await;
    let page = ian.get("/incidents/INC-1").await.text().await.unwrap();
    let updates = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/updates").await.ok(200).clone();
    let id = updates.as_array().unwrap().iter().find(|u| u["state"] == "draft").unwrap()["id"].to_string();
    let button = format!("aria-label=\"Publish draft {id}\"");
    assert!(audience_section(&page, "external").contains(&button), "the button is his");
    let csrf = hidden(&page, "csrf");
    let publish = format!("/incidents/INC-1/updates/{id}/publish");
    let r = ian.post(&publish, &[("csrf", csrf.as_str())]).await;
    assert_eq!(flash(&r), "notice:Published the external update.");
    let again = ian.post(&publish, &[("csrf", csrf.as_str())]).await;
    let said = format!("error:update {id} of INC-1 was published already");
    assert!(flash(&again).starts_with(&said), "{}", flash(&again));
    let snooze = [("csrf", csrf.as_str()), ("audience", "executive"), ("minutes", "120")];
    let r = ian.post("/incidents/INC-1/updates/snooze", &snooze).await;
    assert_eq!(flash(&r), "notice:Snoozed the executive reminder for 120 minutes.");
    let page = ian.get("/incidents/INC-1").await.text().await.unwrap();
    assert!(audience_section(&page, "executive").contains("in 120 min"), "snoozed two hours from now");
    assert!(audience_section(&page, "external").contains("Some payments fail."));

    // Following, for anyone signed in.
    let r = cole.post("/incidents/INC-1/follow", &[("csrf", hidden(&page, "csrf").as_str())]).await;
    assert_eq!(r.status(), 403, "a form from ian's session is not cole's");
    let csrf = cole.csrf("/incidents/INC-1").await;
    let r = cole.post("/incidents/INC-1/follow", &[("csrf", csrf.as_str())]).await;
    assert!(flash(&r).starts_with("notice:You follow INC-1"), "{}", flash(&r));
    let page = cole.get("/incidents/INC-1").await.text().await.unwrap();
    assert!(page.contains(">Unfollow<"), "the button turns");
    let followers = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/followers").await.ok(200).clone();
    assert_eq!(followers[0]["user"], "cole");
    let r = cole.post("/incidents/INC-1/follow", &[("csrf", csrf.as_str()), ("action", "unfollow")]).await;
    assert!(flash(&r).starts_with("notice:You no longer follow INC-1"), "{}", flash(&r));
}

async fn the_external_update_form_sets_status_page_components_and_counts_their_subscribers(server: TestServer) {
    user_with_password(&server, "ian", "responder").await;
    for name in ["API", "Dashboard"] {
        server.post(ADMIN_TOKEN, "/api/v1/status/components", json!({"name": name})).await.ok(201);
    }
    // Two confirmed subscribers: one of the API, one of the whole page; and
    // one not confirmed, who is not counted.
    let store = &server.app.store;
    let now = jiff::Timestamp::now();
    for (i, (components, confirmed)) in [(vec![1], true), (vec![], true), (vec![2], false)].into_iter().enumerate() {
        let s = muster_store::SubscriberRecord {
            id: 0,
            kind: "email".into(),
            address: format!("s{i}@example.com"),
            components,
            token: format!("token-{i}"),
            secret: None,
            confirmed_at: None,
            created_at: now,
        };
        let (s, _) = store.subscribe(&s).await.unwrap();
        if confirmed {
            store.confirm_subscriber(s.id, now).await.unwrap();
        }
    }
    let body = json!({"title": "Payments fail", "priority": "P1", "incident_manager": "ian"});
    server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201);
    let mut ian = Browser::new(&server);
    ian.sign_in("ian", "correct horse battery").await;
    let page = ian.get("/incidents/INC-1").await.text().await.unwrap();
    let external = audience_section(&page, "external");
    assert!(external.contains("(1 subscribers of the whole page)"), "{external}");
    assert!(external.contains("name=\"component.1\"") && external.contains("unchanged: Operational"), "{external}");
    let api = &external[external.find("name=\"component.1\"").unwrap()..];
    assert!(api[..api.find("</label>").unwrap()].contains("2 subscribers"), "the API's and the whole page's: {api}");
    let dashboard = &external[external.find("name=\"component.2\"").unwrap()..];
    assert!(dashboard[..dashboard.find("</label>").unwrap()].contains("1 subscribers"), "{dashboard}");
    assert!(audience_section(&page, "internal").find("component.1").is_none(), "customers' business only");

    let csrf = hidden(&page, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("audience", "external"),
        ("body", "Card payments fail for some."),
        ("status", "investigating"),
        ("component.1", "partial_outage"),
        ("component.2", ""),
        ("action", "publish"),
    ];
    let r = ian.post("/incidents/INC-1/updates", &form).await;
    assert_eq!(flash(&r), "notice:Published the external update.");
    let components = server.get(ADMIN_TOKEN, "/api/v1/status/components").await.ok(200).clone();
    let states: Vec<&str> = components.as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["partial_outage", "operational"], "the API set, the Dashboard unchanged");
    let bad = [("component.1", "on_fire")];
    let form: Vec<(&str, &str)> = form.iter().filter(|(k, _)| *k != "component.1").copied().chain(bad).collect();
    let r = ian.post("/incidents/INC-1/updates", &form).await;
    assert!(flash(&r).starts_with("error:"), "{}", flash(&r));
    let updates = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/updates").await.ok(200).clone();
    assert_eq!(updates.as_array().unwrap().len(), 1, "nothing written");
}

async fn admins_keep_stakeholder_groups_on_their_page(server: TestServer) {
    user_with_password(&server, "ann", "responder").await;
    user_with_password(&server, "root", "admin").await;
    let mut ann = Browser::new(&server);
    ann.sign_in("ann", "correct horse battery").await;
    let page = ann.get("/stakeholders").await.text().await.unwrap();
    assert!(page.contains("No groups yet") && !page.contains("Add a group"), "only admins add: {page}");
    let csrf = hidden(&page, "csrf");
    let form = [("csrf", csrf.as_str()), ("name", "Mine"), ("priorities", "P1"), ("audiences", "internal")];
    let r = ann.post("/stakeholders", &form).await;
    assert!(flash(&r).starts_with("forbidden:only an admin may manage stakeholder groups"), "{}", flash(&r));

    let mut root = Browser::new(&server);
    root.sign_in("root", "correct horse battery").await;
    let csrf = root.csrf("/stakeholders").await;
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Executives"),
        ("priorities", "P1"),
        ("priorities", "P2"),
        ("audiences", "executive"),
        ("members", "@ann"),
        ("emails", "vp@example.com, cfo@example.com"),
        ("webhooks", ""),
        ("services", ""),
    ];
    let r = root.post("/stakeholders", &form).await;
    assert_eq!(flash(&r), "notice:Added the stakeholder group Executives.");
    let bad = [("csrf", csrf.as_str()), ("name", "Odd"), ("priorities", "P1"), ("emails", "nope")];
    let r = root.post("/stakeholders", &bad).await;
    assert!(flash(&r).starts_with("error:"), "{}", flash(&r));
    let page = root.get("/stakeholders").await.text().await.unwrap();
    assert!(page.contains("Executives") && page.contains("P1, P2 · executive · every service"), "{page}");
    assert!(page.contains("@ann, vp@example.com, cfo@example.com"), "{page}");
    let id = server.get(ADMIN_TOKEN, "/api/v1/stakeholder-groups").await.ok(200)[0]["id"].to_string();
    let r = root.post(&format!("/stakeholders/{id}/remove"), &[("csrf", csrf.as_str())]).await;
    assert_eq!(flash(&r), "notice:Removed the stakeholder group.");
}

/// With a clock the test moves.
mod manual {
    use super::*;

    on_both_backends_with_manual_clock!(the_dashboard_shows_whose_update_is_overdue);

    async fn the_dashboard_shows_whose_update_is_overdue(
        server: TestServer,
        clock: std::sync::Arc<common::ManualClock>,
    ) {
        user_with_password(&server, "root", "admin").await;
        let body = json!({"title": "Payments fail", "priority": "P1"});
        server.post(ADMIN_TOKEN, "/api/v1/incidents", body).await.ok(201);
        let mut root = Browser::new(&server);
        root.sign_in("root", "correct horse battery").await;
        let page = root.get("/").await.text().await.unwrap();
        assert!(!page.contains("update overdue"), "on time at first: {page}");
        // 31 minutes on, the internal update is a minute late (P1: every 30).
        clock.advance(31 * 60);
        let page = root.get("/").await.text().await.unwrap();
        assert!(page.contains("update overdue: internal 1 min, external 1 min"), "{page}");
        assert!(page.contains("href=\"/incidents/INC-1#comms\""), "{page}");
        let incident = root.get("/incidents/INC-1").await.text().await.unwrap();
        let internal = audience_section(&incident, "internal");
        assert!(
            internal.contains("due overdue") && internal.contains("1 min overdue"),
            "red on the incident page: {internal}"
        );
    }
}

/// Where the workstream `name`'s card starts on the page, to its end.
fn workstream_card<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!("aria-label=\"Workstream {name}\"")).unwrap_or_else(|| panic!("no {name} card"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap()]
}

async fn the_incident_manager_reads_each_workstream_with_its_tech_leads_latest_report(server: TestServer) {
    for h in ["alice", "carol", "dan", "erin"] {
        user_with_password(&server, h, "responder").await;
    }
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", "correct horse battery").await;
    let csrf = alice.csrf("/").await;
    alice.post("/incidents", &[("csrf", &csrf), ("title", "Checkout down"), ("priority", "P1")]).await;
    let empty = alice.get("/incidents/INC-1").await.text().await.unwrap();
    assert!(empty.contains("No workstreams yet"), "the panel says how one opens");
    for line in ["/role tech_lead @carol database", "/role tech_lead @dan network"] {
        let r = alice.post("/incidents/INC-1/room", &[("csrf", &csrf), ("line", line)]).await;
        assert!(flash(&r).starts_with("notice:"), "{line}: {}", flash(&r));
    }
    let mut carol = Browser::new(&server);
    carol.sign_in("carol", "correct horse battery").await;
    let carol_page = carol.get("/incidents/INC-1").await.text().await.unwrap();
    assert!(carol_page.contains("Report to the incident manager"), "a tech lead gets the report form");
    assert!(!empty.contains("action=\"/incidents/INC-1/tech-lead-reports\""), "the incident manager does not");
    let live = hidden_attr(&carol_page, "data-live");
    let ccsrf = hidden(&carol_page, "csrf");
    let mut stream = alice.get(&live).await;

    // Carol's theory lands in her workstream; Dan names his for an action.
    let r = carol.post("/incidents/INC-1/room", &[("csrf", &ccsrf), ("line", "/theory the pool is exhausted")]).await;
    assert_eq!(flash(&r), "notice:Added the theory.");
    let mut dan = Browser::new(&server);
    dan.sign_in("dan", "correct horse battery").await;
    let dcsrf = dan.csrf("/incidents/INC-1").await;
    let form = [("csrf", dcsrf.as_str()), ("kind", "action"), ("text", "drain lb-3"), ("workstream", "network")];
    assert!(flash(&dan.post("/incidents/INC-1/entries", &form).await).starts_with("notice:"));
    let report = [
        ("csrf", ccsrf.as_str()),
        ("workstream", "database"),
        ("conditions", "primary at 100% CPU, 40% of checkouts fail"),
        ("actions", "failing over to the replica"),
        ("needs", "a DBA who knows the replica"),
    ];
    let r = carol.post("/incidents/INC-1/tech-lead-reports", &report).await;
    assert!(flash(&r).starts_with("notice:Reported to the incident manager"), "{}", flash(&r));
    let r =
        carol.post("/incidents/INC-1/room", &[("csrf", &ccsrf), ("line", "/report errors falling | watching")]).await;
    assert!(flash(&r).starts_with("notice:Reported to the incident manager"), "{}", flash(&r));
    // Erin leads nothing: refused, naming who may.
    let mut erin = Browser::new(&server);
    erin.sign_in("erin", "correct horse battery").await;
    let ecsrf = erin.csrf("/incidents/INC-1").await;
    let refused = erin.post("/incidents/INC-1/tech-lead-reports", &[("csrf", &ecsrf), ("conditions", "fine")]).await;
    assert!(flash(&refused).contains("only a tech lead (@carol, @dan)"), "{}", flash(&refused));

    // The incident manager's page: each workstream with its lead, its latest report, its items.
    let page = alice.get("/incidents/INC-1").await.text().await.unwrap();
    let database = workstream_card(&page, "database");
    assert!(database.contains("@carol"), "{database}");
    assert!(
        database.contains("errors falling") && database.contains("1 earlier"),
        "the latest report first: {database}"
    );
    assert!(!database.contains("a DBA who knows"), "only the latest report shows");
    assert!(database.contains("the pool is exhausted") && database.contains(">open</span>"), "{database}");
    let network = workstream_card(&page, "network");
    assert!(network.contains("drain lb-3") && network.contains("No report to the incident manager yet"), "{network}");
    assert!(!network.contains("the pool is exhausted"));
    // The report is on the timeline too, and the API tells the same.
    assert!(page.contains("@carol reported on database to the incident manager — conditions: primary at 100% CPU"));
    let all = server.get(ADMIN_TOKEN, "/api/v1/incidents/INC-1/workstreams").await.ok(200).clone();
    let names: Vec<&str> = all.as_array().unwrap().iter().filter_map(|w| w["workstream"].as_str()).collect();
    assert_eq!(names, ["database", "network"]);
    assert_eq!(all[0]["latest_report"]["conditions"], "errors falling");
    assert_eq!(all[0]["latest_report"]["actions"], "watching");
    assert_eq!(all[0]["latest_report"]["workstream"], "database", "Carol's own, named by nobody");
    assert_eq!(all[0]["reports"][0]["needs"], "a DBA who knows the replica");
    assert_eq!(all[0]["theories"][0]["workstream"], "database");
    assert_eq!(all[1]["actions"][0]["text"], "drain lb-3");
    let theory = json!({"kind": "theory", "text": "disk full", "workstream": "storage"});
    let unknown = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline", theory).await;
    assert_eq!(unknown.problem(422)["field"], "workstream");
    assert!(unknown.body["detail"].as_str().unwrap().contains("its workstreams are database, network"));
    let note = json!({"kind": "note", "text": "x", "workstream": "database"});
    let note = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/timeline", note).await;
    assert_eq!(note.problem(422)["field"], "workstream");
    let by_admin = json!({"workstream": "network", "conditions": "lb-3 drained", "needs": ""});
    let made = server.post(ADMIN_TOKEN, "/api/v1/incidents/INC-1/tech-lead-reports", by_admin).await.ok(201).clone();
    assert_eq!((made["actor"].as_str(), made["needs"].as_str()), (Some("admin"), Some("")));
    assert_eq!(made["workstream"], "network");

    // The incident manager's live stream carried the panel as it changed.
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.contains("errors falling") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("live events within 10 s");
        got.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
    }
    assert!(got.contains("\"workstreams\":\"") && got.contains("Workstream database"), "{got}");
}
