//! What the CLI says of what used to pass quietly: the timeline without
//! its noise, warnings when a service or schedule will not do what it
//! seems to, and a page that was not sent.

mod common;

use common::{ADMIN, Server};
use muster_store::testing::TestDatabase;

on_both_backends!(
    timeline_show_reads_a_handover_once_with_the_topic_under_its_cause,
    the_cli_prints_the_warnings_of_what_it_made_and_why_a_page_was_not_sent,
);

fn timeline_show_reads_a_handover_once_with_the_topic_under_its_cause(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    for h in ["alice", "bob"] {
        server.ok(ADMIN, &["user", "add", h, "--name", h, "--email", &format!("{h}@example.com")]);
    }
    let alice = server.ok(ADMIN, &["user", "token", "alice"]).trim().to_owned();
    server.ok(&alice, &["incident", "declare", "Checkout fails", "--priority", "P1"]);
    server.ok(&alice, &["role", "assign", "INC-1", "incident_manager", "@bob"]);
    // Wide enough for the whole topic.
    let timeline = server.ok_with_env(&alice, &["timeline", "show", "INC-1"], &[("COLUMNS", "400")]);
    assert_eq!(timeline.matches("handed over").count(), 1, "{timeline}");
    assert!(!timeline.contains("topic_changed"), "topic changes fold into their cause: {timeline}");
    let topics: Vec<&str> = timeline.lines().filter(|l| l.contains("↳ topic: INC-1 P1")).collect();
    assert_eq!(topics.len(), 2, "the declaration's and the handover's: {timeline}");
    assert!(topics[1].contains("IM @bob"), "{timeline}");
    // With --json, every entry as stored, the folded ones saying where they go.
    let all = server.json(&alice, &["timeline", "show", "INC-1"]);
    let kinds: Vec<&str> = all.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "topic_changed").count(), 2, "{kinds:?}");
}

fn the_cli_prints_the_warnings_of_what_it_made_and_why_a_page_was_not_sent(db: TestDatabase) {
    let server = Server::start(&db.url, Some(ADMIN));
    let made = server.run(ADMIN, &["service", "add", "web", "--auto-declare", "critical=P1"]);
    assert!(made.status.success());
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(stderr.contains("warning: auto_declare is set but the service has no owner"), "{stderr}");
    assert!(stderr.contains("warning: auto_declare is set but the service has no escalation policy"), "{stderr}");

    server.ok(ADMIN, &["user", "add", "bob", "--name", "Bob", "--email", "bob@example.com"]);
    server.ok(ADMIN, &["incident", "declare", "Checkout fails", "--priority", "P3"]);
    server.ok(ADMIN, &["incident", "update", "INC-1", "--status", "resolved"]);
    let page = server.run(ADMIN, &["page", "INC-1", "@bob", "-m", "help"]);
    assert!(!page.status.success(), "not sent, so not a success");
    let stderr = String::from_utf8_lossy(&page.stderr);
    assert!(stderr.contains("not sent: INC-1 is resolved"), "{stderr}");
}
