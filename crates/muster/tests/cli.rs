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
    pages_are_listed_newest_first_a_few_at_a_time_and_by_state_from_the_command_line,
    tokens_are_listed_and_revoked_and_users_disabled_from_the_command_line,
    contact_methods_and_rules_are_added_listed_tested_and_removed_from_the_command_line,
    a_policy_reads_notify_then_after_a_wait_notify_and_shows_as_a_timeline,
    times_are_local_to_the_second_and_long_text_fits_the_width,
    a_named_profile_wins_over_the_environment_and_flags_win_over_it,
    a_too_short_admin_token_is_refused_at_start,
    the_communications_manager_posts_drafts_and_publishes_updates_from_the_command_line,
    admins_keep_stakeholder_groups_and_people_follow_incidents_from_the_command_line,
    admins_keep_the_status_page_components_and_maintenance_from_the_command_line,
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

    let timeline = server.ok_with_env(&alice, &["timeline", "show", "1"], &[("COLUMNS", "200")]);
    assert!(timeline.contains("theory") && timeline.contains("connection pool exhausted"), "{timeline}");
    assert!(timeline.contains("@alice (FR, IM)"), "the topic's labels: {timeline}");

    server.ok(&alice, &["role", "relieve", "INC-1", "tech_lead", "@carol"]);
    let roles = server.json(&alice, &["role", "list", "1"]);
    assert!(roles.as_array().unwrap().iter().all(|a| a["user"] != "carol"));

    // The timeline verifies, until a row is changed behind Muster's back.
    let verified = server.ok(&alice, &["incident", "verify", "1"]);
    assert!(verified.starts_with("INC-1: the timeline verifies: "), "{verified}");
    let tamper = "UPDATE incident_events SET actor = 'mallory' WHERE incident = 1 AND seq = 2";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(db.tamper_past_the_triggers(tamper)), 1);
    let broken = server.run(&alice, &["incident", "verify", "INC-1"]);
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("INC-1: the timeline does not verify: entry 2: its actor column differs from its content"),
        "{stderr}"
    );

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

fn admins_keep_stakeholder_groups_and_people_follow_incidents_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["user", "add", "ann", "--name", "Ann", "--email", "ann@example.com"]);
    let ann = server.ok(ADMIN, &["user", "token", "ann"]).trim().to_owned();
    let add = [
        "stakeholders",
        "add",
        "Executives",
        "--priority",
        "P1",
        "--priority",
        "P2",
        "--audience",
        "executive",
        "--member",
        "ann",
        "--email",
        "vp@example.com",
    ];
    let out = server.ok(ADMIN, &add);
    assert_eq!(out.trim(), "Added stakeholder group 1 Executives: P1, P2 · executive · every service");
    let refused = server.run(&ann, &["stakeholders", "add", "Mine", "--priority", "P1", "--audience", "internal"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "{refused:?}");
    let bad = server.run(ADMIN, &["stakeholders", "add", "Odd", "--priority", "P1", "--audience", "everyone"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("422 (audiences[0])"), "{bad:?}");
    let list = server.ok_with_env(&ann, &["stakeholders", "list"], &[("COLUMNS", "200")]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("REACHES"), "{list}");
    assert!(lines[1].contains("Executives") && lines[1].contains("@ann, vp@example.com"), "{list}");

    server.ok(ADMIN, &["incident", "declare", "Checkout fails", "--priority", "P1"]);
    let out = server.ok(&ann, &["update", "follow", "INC-1"]);
    assert_eq!(out.trim(), "Following INC-1: @ann");
    let out = server.ok(&ann, &["update", "unfollow", "INC-1"]);
    assert_eq!(out.trim(), "@ann no longer follows INC-1");
    server.ok(ADMIN, &["update", "post", "INC-1", "external", "Some payments fail.", "--status", "investigating"]);
    let out = server.ok(&ann, &["update", "respond", "INC-1", "1", "Still failing here.", "--from", "Acme Corp"]);
    assert_eq!(out.trim(), "Recorded Acme Corp's reply (email) to update 1: Still failing here.");
    let list = server.ok_with_env(&ann, &["update", "list", "INC-1"], &[("COLUMNS", "200")]);
    assert!(list.lines().nth(1).unwrap().contains("(1 reply)"), "{list}");
    let out = server.ok(ADMIN, &["stakeholders", "remove", "1"]);
    assert_eq!(out.trim(), "Removed stakeholder group 1");
    let gone = server.run(ADMIN, &["stakeholders", "remove", "1"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("404"), "{gone:?}");
}

fn the_communications_manager_posts_drafts_and_publishes_updates_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["user", "add", "eve", "--name", "Eve", "--email", "eve@example.com"]);
    let eve = server.ok(ADMIN, &["user", "token", "eve"]).trim().to_owned();
    server.ok(ADMIN, &["incident", "declare", "Checkout fails", "--priority", "P1"]);
    server.ok(ADMIN, &["role", "assign", "INC-1", "communications_manager", "@eve", "--scope", "external"]);

    let out =
        server.ok(&eve, &["update", "post", "INC-1", "external", "Some payments fail.", "--status", "identified"]);
    assert_eq!(out.trim(), "Published external update 1 on INC-1: Some payments fail.");
    // Internal updates are not hers to publish: a draft, for whoever may.
    let refused =
        server.run(&eve, &["update", "post", "INC-1", "internal", "--conditions", "5 % fail", "--needs", "a DBA"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("403"), "{stderr}");
    assert!(stderr.contains("the communications manager for internal updates"), "{stderr}");
    let draft = server.json(
        &eve,
        &["update", "post", "INC-1", "internal", "--conditions", "5 % fail", "--needs", "a DBA", "--draft"],
    );
    assert_eq!(
        (draft["state"].as_str(), draft["text"].as_str()),
        (Some("draft"), Some("Conditions: 5 % fail\nNeeds: a DBA"))
    );
    let out = server.ok(ADMIN, &["update", "publish", "INC-1", &draft["id"].to_string()]);
    assert!(
        out.starts_with(&format!("Published internal update {} on INC-1: Conditions: 5 % fail", draft["id"])),
        "{out}"
    );

    let list = server.ok_with_env(&eve, &["update", "list", "INC-1"], &[("COLUMNS", "200")]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("AUDIENCE"), "{list}");
    assert_eq!(lines.len(), 3, "one line an update, a form on one line too: {list}");
    assert!(lines[2].contains("Conditions: 5 % fail / Needs: a DBA") && lines[2].contains("@admin"), "{list}");
    let bad = server.run(&eve, &["update", "post", "INC-1", "everyone", "hello"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("422 (audience)"), "{bad:?}");

    // The clock: external was just published, so due in 30 minutes; a snooze of an hour.
    let due = server.ok_with_env(&eve, &["update", "due", "INC-1"], &[("COLUMNS", "200")]);
    assert!(due.lines().next().unwrap().starts_with("AUDIENCE"), "{due}");
    assert!(due.lines().any(|l| l.starts_with("external") && l.ends_with("on time")), "{due}");
    let out = server.ok(&eve, &["update", "snooze", "INC-1", "external", "60"]);
    assert!(out.starts_with("Snoozed: the next external update of INC-1 is due at "), "{out}");
    let odd = server.run(&eve, &["update", "snooze", "INC-1", "external", "45"]);
    assert!(String::from_utf8_lossy(&odd.stderr).contains("422 (minutes)"), "{odd:?}");
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
    assert!(list.contains("laptop") && list.contains("2099-01-01 00:00:00 UTC") && list.contains("ci"), "{list}");
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
    // Kept open to the end: the server prints its first-start token after
    // this line, and a closed pipe would stop it.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    // Serving, so SIGTERM is the graceful stop that logs.
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    drop(stdout);
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
    // A time typed without a zone is the reader's local time: 11:30 in Berlin is 10:30Z.
    let local = ["oncall", "1", "--at", "2026-01-12 11:30", "--json"];
    let local: Value = serde_json::from_str(&server.ok_with_env(ADMIN, &local, &[("TZ", "Europe/Berlin")])).unwrap();
    assert_eq!(
        (&local[0]["users"], &local[0]["at"]),
        (&serde_json::json!(["carol"]), &serde_json::json!("2026-01-12T10:30:00Z"))
    );
    let bad = server.run(ADMIN, &["oncall", "1", "--at", "teatime"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--at"), "{bad:?}");
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
            "--notify",
            "schedule:Primary",
            "--after",
            "5m",
            "--notify",
            "@carol,schedule:1",
        ],
    );
    assert_eq!(policy["steps"][1]["targets"], serde_json::json!([{"user": "carol"}, {"schedule": 1}]));
    assert!(server.ok(ADMIN, &["policy", "list"]).contains("Checkout"));
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
    let shown = server.ok(&alice, &["pages", id]);
    assert!(shown.contains("Notified: @bob"), "{shown}");
    let answered =
        shown.lines().find(|l| l.starts_with("Acknowledged by @bob at ")).unwrap_or_else(|| panic!("{shown}"));
    assert!(answered.ends_with(" UTC") && !answered.contains('.'), "{answered}");
    let again = server.run(&carol, &["decline", id]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"), "answered pages stay answered");
    let list = server.ok(&alice, &["pages"]);
    assert!(list.contains("acknowledged") && list.contains("@bob") && list.contains("bob"), "{list}");
    assert!(server.ok(&alice, &["pages", "--open"]).lines().count() == 1, "only the header: none open");
    let show = server.ok(&alice, &["incident", "show", "INC-1"]);
    assert!(show.contains("TL @bob"), "{show}");
}

fn pages_are_listed_newest_first_a_few_at_a_time_and_by_state_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["user", "add", "bob", "--name", "bob", "--email", "bob@example.com"]);
    let bob = server.ok(ADMIN, &["user", "token", "bob"]).trim().to_owned();
    server.ok(ADMIN, &["incident", "declare", "Replica lag", "--priority", "P2"]);
    for n in 1..=5 {
        server.ok(ADMIN, &["page", "INC-1", "@bob", "-m", &format!("lag {n}")]);
    }
    let ids: Vec<String> =
        server.json(ADMIN, &["pages"]).as_array().unwrap().iter().map(|p| p["id"].to_string()).collect();
    assert_eq!(ids.len(), 5);
    server.ok(&bob, &["ack", &ids[4]]);

    let first = server.run(ADMIN, &["pages", "--limit", "2"]);
    let (rows, said) = (String::from_utf8_lossy(&first.stdout), String::from_utf8_lossy(&first.stderr));
    assert!(first.status.success(), "{said}");
    assert_eq!(rows.lines().count(), 3, "the header and the newest 2: {rows}");
    assert!(rows.contains("lag 5") && rows.contains("lag 4") && !rows.contains("lag 3"), "{rows}");
    let more = format!("The newest 2 pages; there may be more: muster pages --limit 2 --before {}", ids[1]);
    assert_eq!(said.trim(), more, "nothing is followed on its own");
    let next = server.ok(ADMIN, &["pages", "--limit", "2", "--before", &ids[1]]);
    assert!(next.contains("lag 3") && next.contains("lag 2") && !next.contains("lag 4"), "{next}");
    assert_eq!(server.json(ADMIN, &["pages", "--limit", "2"]).as_array().unwrap().len(), 2, "--json stays JSON");

    for args in [
        &["pages", "--state", "acknowledged"][..],
        &["pages", "--incident", "INC-1", "--state", "acknowledged,declined"],
    ] {
        let answered = server.run(ADMIN, args);
        let rows = String::from_utf8_lossy(&answered.stdout);
        assert_eq!(rows.lines().count(), 2, "{args:?}: {rows}");
        assert!(rows.contains("lag 1") && rows.contains("acknowledged"), "{args:?}: {rows}");
        assert!(answered.stderr.is_empty(), "a list that is not full says nothing more");
    }
    let bad = server.run(ADMIN, &["pages", "--state", "asleep"]);
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && said.contains("400 (state): unknown page state \"asleep\""), "{said}");
    let bad = server.run(ADMIN, &["pages", "--limit", "0"]);
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && said.contains("400 (limit)"), "{said}");
}

fn contact_methods_and_rules_are_added_listed_tested_and_removed_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    server.ok(ADMIN, &["user", "add", "bob", "--name", "Bob", "--email", "bob@example.com"]);
    let bob = server.ok(ADMIN, &["user", "token", "bob"]).trim().to_owned();
    let before = server.json(&bob, &["contact", "list"])["contact_methods"].as_array().unwrap().len();

    let mail = server.ok(&bob, &["contact", "add", "email", "bob.mobile@example.com"]);
    assert!(mail.starts_with("Added email contact method ") && mail.contains("for @bob"), "{mail}");
    assert!(mail.contains("No rule uses it yet, so pages do not: `muster rule add --method"), "{mail}");
    let hook = server.ok(&bob, &["contact", "add", "webhook", "https://hooks.example.com/bob"]);
    let secret = hook.lines().find_map(|l| l.strip_prefix("Signing secret, shown only this once: ")).unwrap();
    assert!(secret.starts_with("whsec_"), "{hook}");
    let listed = server.json(&bob, &["contact", "list"]);
    let methods = listed["contact_methods"].as_array().unwrap().clone();
    assert_eq!(methods.len(), before + 2);
    let id_of = |address: &str| methods.iter().find(|m| m["address"] == address).unwrap()["id"].to_string();
    let (mail_id, hook_id) = (id_of("bob.mobile@example.com"), id_of("https://hooks.example.com/bob"));
    let table = server.ok(&bob, &["contact", "list"]);
    assert!(!table.contains(secret), "the secret is shown once: {table}");
    assert!(table.lines().next().unwrap().starts_with("ID  KIND"), "{table}");
    assert!(table.contains("never (no rule uses it)"), "made with the email method's rule: {table}");

    let added = server.ok(&bob, &["rule", "add", "--method", &hook_id, "--after", "2m"]);
    assert!(added.contains(&format!("contact method {hook_id} after 2 min")), "{added}");
    let rules = server.json(&bob, &["rule", "list"]);
    let hook_rule =
        rules.as_array().unwrap().iter().find(|r| r["contact_method"] == hook_id.parse::<u64>().unwrap()).unwrap();
    assert_eq!(hook_rule["delay_seconds"], 120);
    let table = server.ok(&bob, &["contact", "list"]);
    let line = |id: &str| table.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap().to_owned();
    assert!(line(&hook_id).ends_with("after 2 min"), "{table}");
    assert!(line(&mail_id).ends_with("never (no rule uses it)"), "{table}");
    let bad = server.run(&bob, &["rule", "add", "--method", &hook_id, "--after", "soon"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--after soon"), "{bad:?}");

    let tested = server.ok(&bob, &["contact", "test", &mail_id]);
    assert!(tested.starts_with(&format!("Sent a test notification through contact method {mail_id} of @bob")));

    // Someone else's: only admins, with --user.
    server.ok(ADMIN, &["user", "add", "eve", "--name", "Eve", "--email", "eve@example.com"]);
    let eve = server.ok(ADMIN, &["user", "token", "eve"]).trim().to_owned();
    let refused = server.run(&eve, &["contact", "remove", &hook_id, "--user", "@bob"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "{refused:?}");
    let not_hers = server.run(&eve, &["contact", "remove", &hook_id]);
    assert!(String::from_utf8_lossy(&not_hers.stderr).contains("404 (id)"), "{not_hers:?}");

    let removed = server.ok(ADMIN, &["contact", "remove", &hook_id, "--user", "@bob"]);
    assert_eq!(removed.trim(), format!("Removed contact method {hook_id} of @bob, with the rules that used it"));
    let left = server.json(&bob, &["rule", "list"]);
    assert!(
        left.as_array().unwrap().iter().all(|r| r["contact_method"] != hook_id.parse::<u64>().unwrap()),
        "its rule went with it: {left}"
    );
    let rule = server.json(&bob, &["rule", "add", "--method", &mail_id])["id"].to_string();
    assert_eq!(server.ok(&bob, &["rule", "remove", &rule]).trim(), format!("Removed rule {rule} of @bob"));
    let gone = server.run(&bob, &["rule", "remove", &rule]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("404 (id)"), "{gone:?}");
}

fn a_policy_reads_notify_then_after_a_wait_notify_and_shows_as_a_timeline(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    for u in ["alice", "carol"] {
        server.ok(ADMIN, &["user", "add", u, "--name", u, "--email", &format!("{u}@example.com")]);
    }
    server.ok(ADMIN, &["schedule", "add", "Primary", "--tz", "UTC", "--users", "alice"]);
    let args = [
        "policy",
        "add",
        "Checkout",
        "--notify",
        "schedule:Primary",
        "--after",
        "5m",
        "--notify",
        "@carol,schedule:Primary",
        "--repeat",
        "2",
    ];
    let timeline = [
        "at 0 min: the on-call of Primary",
        "at 5 min: @carol and the on-call of Primary",
        "then again from the start, 2 more times (every 10 min)",
        "at 30 min without an answer, the page expires",
    ];
    let added = server.ok(ADMIN, &args);
    let lines: Vec<&str> = added.lines().map(str::trim).collect();
    assert_eq!(lines[0], "Added escalation policy Checkout (1)");
    assert_eq!(lines[1..], timeline, "{added}");
    let shown = server.ok(ADMIN, &["policy", "show", "Checkout"]);
    assert_eq!(shown.lines().skip(1).map(str::trim).collect::<Vec<_>>(), timeline);
    // What the server stores: each step waits before the next is notified.
    let stored = server.json(ADMIN, &["policy", "show", "1"]);
    let waits: Vec<&Value> = stored["steps"].as_array().unwrap().iter().map(|s| &s["delay_seconds"]).collect();
    assert_eq!(waits, [300, 300]);
    let list = server.ok(ADMIN, &["policy", "list"]);
    assert!(list.contains("Checkout") && list.contains("at 5 min: @carol"), "{list}");

    // A final --after is how long the last step waits.
    let one = server.json(ADMIN, &["policy", "add", "Solo", "--notify", "@carol", "--after", "1h30m"]);
    assert_eq!(one["steps"][0]["delay_seconds"], 5400);

    let refused = |args: &[&str], says: &str| {
        let out = server.run(ADMIN, args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(&["policy", "add", "X", "--notify", "@carol", "--notify", "@alice"], "--after");
    refused(&["policy", "add", "X", "--after", "5m", "--notify", "@carol"], "before any --notify");
    refused(&["policy", "add", "X", "--notify", "@carol", "--after", "5m", "--after", "2m"], "another --after");
    refused(&["policy", "add", "X", "--notify", "@carol", "--after", "5"], "needs a unit");
    refused(&["policy", "add", "X", "--notify", "team:ops"], "@handle or schedule:");
    refused(&["policy", "add", "X", "--step", "0=@carol"], "--step is gone");
    refused(&["policy", "add", "X"], "at least one --notify");
    refused(&["policy", "show", "Nope"], "no escalation policy named");
}

/// `2026-12-01 15:04:05 CET`: a date, a time to the second, a zone.
fn is_local_time(text: &str, zone: &str) -> bool {
    let Some(rest) = text.strip_suffix(zone) else { return false };
    let rest = rest.trim_end();
    rest.len() == 19
        && rest.as_bytes()[10] == b' '
        && jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", rest).is_ok()
}

fn times_are_local_to_the_second_and_long_text_fits_the_width(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    let berlin = [("TZ", "Europe/Berlin")];
    let shown = server.ok_with_env(ADMIN, &["incident", "declare", "Checkout fails", "-p", "P2"], &berlin);
    let declared = shown.lines().find_map(|l| l.strip_prefix("Declared ")).unwrap();
    assert!(is_local_time(declared, "CET") || is_local_time(declared, "CEST"), "{declared:?}");
    let roles = server.ok_with_env(ADMIN, &["role", "list", "1"], &berlin);
    assert!(roles.lines().nth(1).unwrap().trim_end().ends_with("CET") || roles.contains("CEST"), "{roles}");
    for utc in [vec![("MUSTER_UTC", "1")], vec![]] {
        let args: &[&str] =
            if utc.is_empty() { &["incident", "show", "1", "--utc"] } else { &["incident", "show", "1"] };
        let shown = server.ok_with_env(ADMIN, args, &[berlin.as_slice(), &utc].concat());
        let declared = shown.lines().find_map(|l| l.strip_prefix("Declared ")).unwrap();
        assert!(is_local_time(declared, "Z"), "--utc or MUSTER_UTC=1: {declared:?}");
    }

    // A schedule's shifts in its own zone, whatever the reader's.
    for u in ["alice", "bob"] {
        server.ok(ADMIN, &["user", "add", u, "--name", u, "--email", &format!("{u}@example.com")]);
    }
    server
        .ok(ADMIN, &["schedule", "add", "Nights", "--tz", "America/New_York", "--users", "alice,bob", "--shift", "1d"]);
    let shifts = server.ok_with_env(ADMIN, &["schedule", "show", "Nights", "--days", "2"], &berlin);
    let mut lines = shifts.lines();
    assert_eq!(lines.next().unwrap(), "Shifts of Nights in the next 2 days, in America/New_York:");
    assert!(lines.next().unwrap().starts_with("WHO"));
    let first = lines.next().unwrap();
    assert!(first.starts_with("@alice") && (first.contains(" EST ") || first.contains(" EDT ")), "{first}");
    assert!(first.ends_with(" 09:00:00 EST") || first.ends_with(" 09:00:00 EDT"), "the handoff, in its zone: {first}");

    // The service's real URLs; a 1,024-character summary cut to the width.
    let added = server.ok(ADMIN, &["service", "add", "web", "--auto-declare", "error=P2"]);
    assert!(!added.contains("<MUSTER_URL>"), "{added}");
    let key = server.json(ADMIN, &["service", "list"])[0]["integration_key"].as_str().unwrap().to_owned();
    let hook = format!("{}/api/v1/integrations/alertmanager/{key}", server.url);
    assert!(added.lines().any(|l| l == format!("Alertmanager webhook: {hook}")), "{added}");
    let long = "x".repeat(1024);
    let url = format!("{}/api/v1/integrations/generic/{key}", server.url);
    post_json(&url, &serde_json::json!({"summary": long, "severity": "error"}));
    let piped = server.ok(ADMIN, &["alert", "list"]);
    assert!(piped.contains(&long), "output to a pipe is not cut: {piped}");
    let list = server.ok_with_env(ADMIN, &["alert", "list"], &[("COLUMNS", "100")]);
    assert!(list.lines().all(|l| l.chars().count() <= 100), "{list}");
    assert!(list.lines().nth(1).unwrap().ends_with('…'), "{list}");
    let narrow = server.ok_with_env(ADMIN, &["incident", "list"], &[("COLUMNS", "60")]);
    assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
    assert!(narrow.contains("xxxx…"), "{narrow}");
    let full = server.json(ADMIN, &["alert", "list"]);
    assert_eq!(full[0]["summary"], long, "--json is whole");
    let incident = server.json(ADMIN, &["incident", "list"]);
    assert_eq!(incident[0]["summary"], "Declared automatically: an error alert on web.");
}

/// `muster` with only the environment given (no MUSTER_URL or MUSTER_TOKEN
/// from the test's own), and `input` on stdin.
fn muster(env: &[(&str, &str)], args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut cmd = Command::new(BIN);
    for var in ["MUSTER_URL", "MUSTER_TOKEN", "MUSTER_PROFILE", "MUSTER_CONFIG", "XDG_CONFIG_HOME", "COLUMNS"] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .args(args)
        .env("TZ", "UTC")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn a_named_profile_wins_over_the_environment_and_flags_win_over_it(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("muster-profiles-{}-{unique}", std::process::id()));
    let config = dir.join("muster").join("config.toml");
    let config_env = config.to_str().unwrap().to_owned();
    let env = [("MUSTER_CONFIG", config_env.as_str())];
    let stdout = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };

    let added = stdout(&muster(&env, &["profile", "add", "prod", "--url", &server.url, "--token", ADMIN], ""));
    assert!(added.starts_with("Added profile prod"), "{added}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "it holds tokens: the owner's alone");
    }
    let users = stdout(&muster(&env, &["--profile", "prod", "user", "list"], ""));
    assert!(users.contains("@admin"), "{users}");
    let by_env = [env[0], ("MUSTER_PROFILE", "prod")];
    assert!(stdout(&muster(&by_env, &["user", "list"], "")).contains("@admin"));

    // The token from stdin; a listing masks it.
    stdout(&muster(
        &env,
        &["user", "add", "alice", "--name", "Alice", "--email", "a@example.com", "--profile", "prod"],
        "",
    ));
    let alice = stdout(&muster(&env, &["--profile", "prod", "user", "token", "alice"], "")).trim().to_owned();
    let added = stdout(&muster(
        &env,
        &["profile", "add", "alice", "--url", &server.url, "--token", "-"],
        &format!("{alice}\n"),
    ));
    assert!(added.starts_with("Added profile alice"), "{added}");
    let me = muster(&env, &["--profile", "alice", "incident", "declare", "From a profile"], "");
    assert!(stdout(&me).contains("IM @alice"), "the profile's token is alice's");
    let list = stdout(&muster(&env, &["profile", "list"], ""));
    assert!(list.contains("prod") && list.contains("alice") && list.contains(&server.url), "{list}");
    assert!(!list.contains(ADMIN) && !list.contains(&alice), "tokens are masked: {list}");
    assert!(list.contains(&format!("mst_…{}", &ADMIN[ADMIN.len() - 4..])), "{list}");

    // Flags win over the profile; a profile you name wins over the
    // environment (the first start's export line may still be set).
    let wrong = muster(&env, &["--profile", "prod", "--token", "mst_not_a_token_at_all_but_long", "user", "list"], "");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"), "{wrong:?}");
    let elsewhere = [env[0], ("MUSTER_URL", "http://127.0.0.1:9"), ("MUSTER_TOKEN", "mst_not_a_token_at_all_but_long")];
    let named = muster(&elsewhere, &["--profile", "alice", "incident", "list"], "");
    assert!(String::from_utf8_lossy(&named.stdout).contains("From a profile"), "{named:?}");
    let by_env_name = [env[0], ("MUSTER_PROFILE", "alice"), ("MUSTER_TOKEN", "mst_not_a_token_at_all_but_long")];
    assert!(stdout(&muster(&by_env_name, &["incident", "list"], "")).contains("From a profile"));
    let unreachable = muster(&elsewhere, &["--profile", "prod", "--url", "http://127.0.0.1:9", "user", "list"], "");
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("127.0.0.1:9"), "{unreachable:?}");
    let missing = muster(&env, &["--profile", "staging", "user", "list"], "");
    let says = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && says.contains("no profile \"staging\"") && says.contains("alice, prod"),
        "{says}"
    );

    // A profile named default is used when none is named, after the environment.
    assert!(!muster(&env, &["user", "list"], "").status.success(), "no default yet: the built-in URL");
    stdout(&muster(&env, &["profile", "add", "default", "--url", &server.url, "--token", ADMIN], ""));
    assert!(stdout(&muster(&env, &["user", "list"], "")).contains("@alice"));
    let wrong_env = [env[0], ("MUSTER_TOKEN", "mst_not_a_token_at_all_but_long")];
    assert!(String::from_utf8_lossy(&muster(&wrong_env, &["user", "list"], "").stderr).contains("401"));
    // Its token goes to its own server only, not to another --url.
    let other = server.url.replace("127.0.0.1", "localhost");
    let elsewhere = muster(&env, &["--url", &other, "user", "list"], "");
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("401"), "sent without a token: {elsewhere:?}");
    assert!(stdout(&muster(&env, &["profile", "remove", "default"], "")).starts_with("Removed profile default"));
    let bad = muster(&env, &["profile", "add", "x y", "--url", &server.url, "--token", ADMIN], "");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a profile name"), "{bad:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn admins_keep_the_status_page_components_and_maintenance_from_the_command_line(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    let out = server.ok(ADMIN, &["status", "component", "add", "API", "--group", "Platform"]);
    assert_eq!(out.trim(), "Added component 1 API (operational)");
    server.ok(ADMIN, &["status", "component", "add", "Dashboard"]);
    server.ok(ADMIN, &["incident", "declare", "API errors", "--priority", "P2"]);
    let out = server.ok(ADMIN, &["status", "component", "set", "API", "partial_outage", "--incident", "INC-1"]);
    assert_eq!(out.trim(), "API is partial_outage");
    let bad = server.run(ADMIN, &["status", "component", "set", "API", "on_fire"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("422 (status)"), "{bad:?}");
    let missing = server.run(ADMIN, &["status", "component", "set", "Nope", "operational"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no component \"Nope\""), "{missing:?}");
    let list = server.ok_with_env(ADMIN, &["status", "component", "list"], &[("COLUMNS", "200")]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS"), "{list}");
    assert!(lines[1].contains("API") && lines[1].contains("Platform") && lines[1].contains("partial_outage"), "{list}");
    let timeline = server.ok_with_env(ADMIN, &["timeline", "show", "INC-1"], &[("COLUMNS", "250")]);
    assert!(timeline.contains("set API on the status page to Partial outage (was Operational)"), "{timeline}");

    let add = [
        "status",
        "maintenance",
        "add",
        "Database upgrade",
        "--component",
        "Dashboard",
        "--from",
        "2027-06-01T22:00:00Z",
        "--to",
        "2027-06-01T23:00:00Z",
        "-m",
        "Writes pause for a minute.",
    ];
    let out = server.ok_with_env(ADMIN, &add, &[("TZ", "UTC")]);
    assert!(out.starts_with("Scheduled maintenance 1 Database upgrade: 2027-06-01 22:00"), "{out}");
    let bad = server.run(
        ADMIN,
        &[
            "status",
            "maintenance",
            "add",
            "Later",
            "--component",
            "API",
            "--from",
            "2027-06-02 10:00",
            "--to",
            "2027-06-01 10:00",
        ],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("422 (ends_at)"), "{bad:?}");
    let list = server.ok_with_env(ADMIN, &["status", "maintenance", "list"], &[("COLUMNS", "200")]);
    assert!(list.lines().nth(1).unwrap().contains("Database upgrade") && list.contains("scheduled"), "{list}");
    let out = server.ok(ADMIN, &["status", "maintenance", "update", "1", "completed", "-m", "Called off."]);
    assert_eq!(out.trim(), "Maintenance 1 Database upgrade is completed");
    let back = server.run(ADMIN, &["status", "maintenance", "update", "1", "in_progress"]);
    assert!(String::from_utf8_lossy(&back.stderr).contains("409"), "{back:?}");
    let subscribers = server.ok(ADMIN, &["status", "subscribers"]);
    assert!(subscribers.starts_with("No subscribers yet"), "{subscribers}");
}
