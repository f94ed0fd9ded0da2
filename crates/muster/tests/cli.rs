//! The `muster` binary, end to end: `muster serve` as a real process and
//! the client commands against it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{ADMIN, BIN, Server};
use muster_store::testing::{Backend, TestDatabase};
use serde_json::Value;

on_both_backends!(
    the_five_minute_tour_works_from_the_command_line,
    sigterm_stops_the_server_and_a_restart_keeps_everything,
    the_first_responder_triages_from_the_command_line,
    who_is_on_call_from_the_command_line,
    the_incident_manager_pages_and_the_paged_acknowledges_from_the_command_line,
    tokens_are_listed_and_revoked_and_users_disabled_from_the_command_line,
    a_too_short_admin_token_is_refused_at_start,
);

fn the_five_minute_tour_works_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    for (h, name) in [("alice", "Alice"), ("carol", "Carol")] {
        let out = server.ok(ADMIN, &["user", "add", h, "--name", name, "--email", &format!("{h}@example.com")]);
        assert_eq!(out.trim(), format!("Added @{h} ({name}, responder)"));
    }
    let out = server
        .ok(ADMIN, &["user", "add", "erin", "--name", "Erin", "--email", "erin@example.com", "--no-contact-method"]);
    assert!(out.contains("@erin has no contact method: pages reach nobody until one is added"), "{out}");
    let alice = server.ok(ADMIN, &["user", "token", "alice"]).trim().to_owned();
    assert!(alice.starts_with("mst_"));

    let inc = server.json(&alice, &["incident", "declare", "Checkout fails", "--priority", "P1"]);
    assert_eq!(inc["ref"], "INC-1");
    // Erin has no contact method: paging her reaches nobody, and `pages N` says so.
    let sent = server.json(&alice, &["page", "INC-1", "@erin", "-m", "anyone?"]);
    let page = sent["id"].to_string();
    let shown = (0..100)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            server.ok(&alice, &["pages", &page])
        })
        .find(|out| out.contains("reached nobody"))
        .expect("the page's step runs");
    assert!(shown.contains("Step 1 reached nobody: @erin has no contact method"), "{shown}");
    let out = server.ok(&alice, &["role", "assign", "INC-1", "tech_lead", "@carol", "--scope", "database"]);
    assert!(out.contains("@carol is now tech_lead (database)"), "{out}");
    server.ok(&alice, &["timeline", "add", "1", "theory", "connection pool exhausted"]);
    server.ok(&alice, &["incident", "update", "1", "--status", "identified"]);

    let show = server.ok(&alice, &["incident", "show", "INC-1"]);
    assert!(
        show.contains("Topic:   INC-1 P1 identified — Checkout fails | IM @alice | TL @carol (database) | FR @alice"),
        "{show}"
    );
    assert!(show.contains("tech_lead") && show.contains("@carol"), "{show}");
    let list = server.ok(&alice, &["incident", "list"]);
    assert!(list.lines().next().unwrap().starts_with("REF"), "{list}");
    assert!(list.contains("INC-1") && list.contains("identified"), "{list}");

    let timeline = server.ok(&alice, &["timeline", "show", "1"]);
    assert!(timeline.contains("theory") && timeline.contains("connection pool exhausted"), "{timeline}");
    assert!(timeline.contains("@alice (first_responder, incident_manager)"), "{timeline}");

    server.ok(&alice, &["role", "relieve", "INC-1", "tech_lead", "@carol"]);
    let roles = server.json(&alice, &["role", "list", "1"]);
    assert!(roles.as_array().unwrap().iter().all(|a| a["user"] != "carol"));

    // Errors: stderr, non-zero exit, the field named.
    let bad = server.run(&alice, &["incident", "declare", "x", "--priority", "P9"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("422 (priority)"), "{stderr}");
    let unauthorized = server.run("mst_nope", &["incident", "list"]);
    assert!(String::from_utf8_lossy(&unauthorized.stderr).contains("401"), "a wrong token is refused");

    // A password for the web UI, from stdin.
    let set = server.run_with_stdin(&alice, &["user", "password", "alice"], "correct horse battery\n");
    assert!(String::from_utf8_lossy(&set.stdout).starts_with("Password set for @alice"), "{set:?}");
    let short = server.run_with_stdin(&alice, &["user", "password", "alice"], "short\n");
    assert!(String::from_utf8_lossy(&short.stderr).contains("422 (password)"), "{short:?}");
    let other = server.run_with_stdin(&alice, &["user", "password", "carol"], "correct horse battery\n");
    assert!(String::from_utf8_lossy(&other.stderr).contains("403"), "only your own, unless admin");
}

fn sigterm_stops_the_server_and_a_restart_keeps_everything(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["incident", "declare", "Checkout fails", "--priority", "P2"]);
    server.ok(ADMIN, &["timeline", "add", "1", "note", "still failing"]);
    let before = (server.json(ADMIN, &["incident", "show", "1"]), server.json(ADMIN, &["timeline", "show", "1"]));
    let (clean, _) = server.terminate();
    assert!(clean, "SIGTERM is a graceful shutdown with exit code 0");

    let server = Server::start(&db.url, Some(ADMIN));
    let after = (server.json(ADMIN, &["incident", "show", "1"]), server.json(ADMIN, &["timeline", "show", "1"]));
    assert_eq!(before, after);
    let users = server.json(ADMIN, &["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1, "the admin is not created twice");
}

fn tokens_are_listed_and_revoked_and_users_disabled_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["user", "add", "dan", "--name", "Dan", "--email", "dan@example.com"]);
    let laptop = server.ok(ADMIN, &["user", "token", "dan", "--name", "laptop", "--expires", "2099-01-01T00:00:00Z"]);
    let laptop = laptop.trim().to_owned();
    let ci = server.ok(ADMIN, &["user", "token", "dan", "--name", "ci"]).trim().to_owned();

    let list = server.ok(&laptop, &["tokens", "list"]);
    let header = list.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("LAST USED"), "{list}");
    assert!(list.contains("laptop") && list.contains("2099-01-01T00:00:00Z") && list.contains("ci"), "{list}");
    assert!(!list.contains(&laptop) && !list.contains(&ci), "no secret is shown: {list}");
    let tokens = server.json(ADMIN, &["token", "list", "@dan"]);
    let ci_id = tokens.as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap()["id"].to_string();

    let out = server.ok(&laptop, &["token", "revoke", &ci_id]);
    assert_eq!(out.trim(), format!("Revoked token {ci_id} of @dan"));
    let refused = server.run(&ci, &["incident", "list"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{refused:?}");

    let out = server.ok(ADMIN, &["users", "disable", "@dan"]);
    assert!(out.starts_with("Disabled @dan at "), "{out}");
    let refused = server.run(&laptop, &["incident", "list"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("403") && stderr.contains("disabled"), "{stderr}");

    // A calendar feed token comes with the feed's URL.
    let url = server.ok(ADMIN, &["user", "calendar-token", "admin"]);
    assert!(
        url.trim().starts_with(&server.url) && url.contains("/api/v1/users/admin/calendar.ics?token=msc_"),
        "{url}"
    );

    // Another MUSTER_ADMIN_TOKEN on the next start replaces the first.
    let (clean, _) = server.terminate();
    assert!(clean);
    let next = "mst_the_next_cli_admin_token_of_32_chars";
    let server = Server::start(&db.url, Some(next));
    let refused = server.run(ADMIN, &["incident", "list"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{refused:?}");
    let mine = server.json(next, &["token", "list"]);
    let set: Vec<&Value> = mine.as_array().unwrap().iter().filter(|t| t["name"] == "MUSTER_ADMIN_TOKEN").collect();
    assert_eq!(set.len(), 1, "{mine}");
}

fn a_too_short_admin_token_is_refused_at_start(db: TestDatabase) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .env("MUSTER_LOG", "warn")
        .env("MUSTER_ADMIN_TOKEN", "mst_only_twenty_chars")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It must exit on its own; a server that started would run forever.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("muster serve started with a 21-character admin token");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MUSTER_ADMIN_TOKEN") && stderr.contains("at least 32"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"), "it never listened");
}

#[tokio::test]
async fn a_first_start_prints_an_admin_token_once() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    tokio::task::spawn_blocking(move || {
        let mut server = Server::start(&db.url, None);
        assert!(server.next_line().contains("created user admin"));
        let line = server.next_line();
        let token = line.split("MUSTER_TOKEN=").nth(1).expect("the token is printed").trim().to_owned();
        let me = server.json(&token, &["user", "list"]);
        assert_eq!(me[0]["handle"], "admin");
        let (_, rest) = server.terminate();
        assert!(rest.is_empty(), "{rest}");

        let server = Server::start(&db.url, None);
        let (_, rest) = server.terminate();
        assert!(!rest.contains("MUSTER_TOKEN"), "the token is shown only on the first start");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn migrate_applies_the_schema_and_can_run_again() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    for _ in 0..2 {
        let out = Command::new(BIN).args(["migrate", "--database", &db.url]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("Migrations applied"));
    }
    let bad = Command::new(BIN).args(["migrate", "--database", "mysql://nope"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("database"));
}

#[tokio::test]
async fn log_lines_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .env("MUSTER_LOG", "info")
        .env_remove("MUSTER_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    // Serving, so SIGTERM is the graceful stop that logs.
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("INFO"), "serve logged something: {log}");
    assert!(!log.contains('\u{1b}'), "no escape codes in a piped log: {log:?}");
}

#[tokio::test]
async fn serve_refuses_network_settings_that_do_not_parse_naming_the_setting() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let serve = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url]).args(args);
        for var in ["MUSTER_WEBHOOK_ALLOW", "MUSTER_TRUSTED_PROXY", "MUSTER_METRICS_TOKEN"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{args:?} {env:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(serve(&["--webhook-allow", "127.0.0.1/32,http://x"], &[]).contains("--webhook-allow"));
    assert!(serve(&[], &[("MUSTER_WEBHOOK_ALLOW", "10.0.0.0/40")]).contains("MUSTER_WEBHOOK_ALLOW"));
    assert!(serve(&["--trusted-proxy", "proxy.internal"], &[]).contains("--trusted-proxy"));
    assert!(serve(&["--metrics-token", "short"], &[]).contains("--metrics-token"));
}

#[tokio::test]
async fn with_a_metrics_token_the_binary_serves_metrics_only_to_its_bearer() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let token = "metrics-0123456789abcdef";
    let server = tokio::task::spawn_blocking(move || {
        let s = Server::start_with(&db.url, Some(ADMIN), &["--metrics-token", token]);
        (s, db)
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.0.url);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&url).bearer_auth(ADMIN).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&url).bearer_auth(token).send().await.unwrap().status(), 200);
    tokio::task::spawn_blocking(move || server.0.terminate()).await.unwrap();
}

/// Posts JSON from blocking test code.
fn post_json(url: &str, body: &Value) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new().post(url).json(body).send().await.unwrap();
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        resp.json().await.unwrap()
    })
}

fn the_first_responder_triages_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    let svc = server.json(ADMIN, &["service", "add", "web", "--auto-declare", "critical=P1"]);
    let key = svc["integration_key"].as_str().unwrap().to_owned();
    assert_eq!(svc["auto_declare"]["critical"], "P1");
    let list = server.ok(ADMIN, &["service", "list"]);
    assert!(list.contains("web") && list.contains(&key), "{list}");

    let sent = post_json(
        &format!("{}/api/v1/integrations/generic/{key}", server.url),
        &serde_json::json!({"summary": "checkout latency high", "severity": "warning"}),
    );
    let id = sent["alert_id"].as_u64().unwrap().to_string();
    let queue = server.ok(ADMIN, &["alert", "list", "--status", "triggered"]);
    assert!(queue.contains("checkout latency high") && queue.contains("warning"), "{queue}");
    server.ok(ADMIN, &["alert", "ack", &id]);
    let assessed = server.ok(ADMIN, &["alert", "assess", &id, "--customers", "many"]);
    assert_eq!(assessed.trim(), "Suggested priority: P2");
    let inc = server.json(ADMIN, &["alert", "declare", &id]);
    assert_eq!((inc["ref"].as_str(), inc["priority"].as_str()), (Some("INC-1"), Some("P2")));
    let shown = server.ok(ADMIN, &["alert", "show", &id]);
    assert!(shown.contains("Incident: INC-1") && shown.contains("acknowledged"), "{shown}");
    let bad = server.run(ADMIN, &["service", "add", "x", "--auto-declare", "critical"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("severity=priority"));
}

fn who_is_on_call_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    for u in ["alice", "bob", "carol"] {
        server.ok(ADMIN, &["user", "add", u, "--name", u, "--email", &format!("{u}@example.com")]);
    }
    let out = server.ok(
        ADMIN,
        &[
            "schedule",
            "add",
            "Primary",
            "--tz",
            "Europe/Berlin",
            "--users",
            "alice,@bob",
            "--shift",
            "1w",
            "--start",
            "2026-01-05",
        ],
    );
    assert!(out.starts_with("Added schedule Primary"), "{out}");
    let now = server.ok(ADMIN, &["oncall", "Primary", "--at", "2026-01-05T10:00:00Z"]);
    assert!(now.lines().nth(1).unwrap().contains("@alice"), "{now}");
    let later = server.json(ADMIN, &["oncall", "--at", "2026-01-12T10:00:00Z"]);
    assert_eq!(later[0]["users"], serde_json::json!(["bob"]));
    server.ok(
        ADMIN,
        &[
            "schedule",
            "override",
            "Primary",
            "carol",
            "--start",
            "2026-01-12T09:00:00Z",
            "--end",
            "2026-01-12T11:00:00Z",
        ],
    );
    let covered = server.json(ADMIN, &["oncall", "1", "--at", "2026-01-12T10:00:00Z"]);
    assert_eq!(covered[0]["users"], serde_json::json!(["carol"]));
    let list = server.ok(ADMIN, &["schedule", "list"]);
    assert!(list.contains("Primary") && list.contains("Europe/Berlin"), "{list}");
    let shifts = server.json(ADMIN, &["schedule", "show", "Primary", "--days", "7"]);
    assert!(!shifts.as_array().unwrap().is_empty());
    let policy = server.json(
        ADMIN,
        &[
            "policy",
            "add",
            "Checkout",
            "--step",
            "0=schedule:Primary",
            "--step",
            "300=@carol,schedule:1",
            "--repeat",
            "2",
        ],
    );
    assert_eq!(policy["steps"][1]["targets"], serde_json::json!([{"user": "carol"}, {"schedule": 1}]));
    assert!(server.ok(ADMIN, &["policy", "list"]).contains("Checkout"));
    let bad = server.run(ADMIN, &["policy", "add", "X", "--step", "soon=@carol"]);
    assert!(!bad.status.success());
    let missing = server.run(ADMIN, &["oncall", "Secondary"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no schedule named"));
}

fn the_incident_manager_pages_and_the_paged_acknowledges_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    for u in ["alice", "bob", "carol"] {
        server.ok(ADMIN, &["user", "add", u, "--name", u, "--email", &format!("{u}@example.com")]);
    }
    let alice = server.ok(ADMIN, &["user", "token", "alice"]).trim().to_owned();
    let bob = server.ok(ADMIN, &["user", "token", "bob"]).trim().to_owned();
    let carol = server.ok(ADMIN, &["user", "token", "carol"]).trim().to_owned();
    server.ok(&alice, &["incident", "declare", "Replica lag", "--priority", "P2"]);

    let sent = server.ok(&alice, &["page", "INC-1", "@bob", "--role", "tech_lead", "-m", "Replica lag on db-2"]);
    assert!(sent.starts_with("Page ") && sent.contains("sent for INC-1: Replica lag on db-2"), "{sent}");
    let id = server.json(&alice, &["pages", "--incident", "INC-1"])[0]["id"].as_u64().unwrap().to_string();
    let id = id.as_str();
    let refused = server.run(&carol, &["page", "INC-1", "@alice", "-m", "help"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "only those in charge page");

    // The engine notifies bob's step at once (by email, which waits: no SMTP server is configured).
    let notified = (0..100)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            server.json(&alice, &["pages", id])
        })
        .find(|p| p["state"] == "notified")
        .expect("the page's first step runs");
    assert_eq!(notified["notified"], serde_json::json!(["bob"]));

    let acked = server.ok(&bob, &["ack", id]);
    assert_eq!(acked.trim(), format!("Acknowledged page {id}; you are now tech_lead"));
    let again = server.run(&carol, &["decline", id]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"), "answered pages stay answered");
    let list = server.ok(&alice, &["pages"]);
    assert!(list.contains("acknowledged") && list.contains("@bob") && list.contains("bob"), "{list}");
    assert!(server.ok(&alice, &["pages", "--open"]).lines().count() == 1, "only the header: none open");
    let show = server.ok(&alice, &["incident", "show", "INC-1"]);
    assert!(show.contains("TL @bob"), "{show}");
}
