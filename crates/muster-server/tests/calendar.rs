//! The iCalendar feeds read by a real parser (Python's `icalendar`), as a
//! calendar app subscribed to them would: stable UIDs across fetches, a
//! window from 30 days back to 180 days ahead, overrides in it, on SQLite
//! and PostgreSQL. The Python comes from `MUSTER_TEST_PYTHON` (set by
//! .ci/run to a virtualenv with icalendar) or `.venv/bin/python` at the
//! workspace root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{ADMIN_TOKEN, ManualClock, TestServer};
use serde_json::{Value, json};

on_both_backends_with_manual_clock!(
    two_fetches_of_a_feed_give_the_same_uids_and_an_override_40_days_ahead_is_in_it,
    a_feed_holds_30_days_back_to_180_ahead_with_each_shift_at_its_real_start,
);

fn python_with_icalendar() -> Option<PathBuf> {
    common::external::python_with(
        "icalendar",
        "set MUSTER_TEST_PYTHON, or python3 -m venv .venv && .venv/bin/pip install icalendar",
    )
}

/// Every feed at `paths` (with the feed token), parsed by `icalendar`.
async fn parsed(server: &TestServer, python: &Path, feed: &str, paths: &[String]) -> Vec<Value> {
    static FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("muster-calendar-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let resp = server.http().get(format!("{}{path}?token={feed}", server.url)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let file = dir.join(format!("{i}.ics"));
        std::fs::write(&file, resp.bytes().await.unwrap()).unwrap();
        files.push(file);
    }
    let script = format!("{}/tests/clients/ics_events.py", env!("CARGO_MANIFEST_DIR"));
    let python = python.to_path_buf();
    let cleanup = dir.clone();
    let out = tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(files).output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "icalendar could not read the feed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(cleanup).unwrap();
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("the script prints JSON")
}

fn uids(feed: &Value) -> Vec<String> {
    feed["events"].as_array().unwrap().iter().map(|e| e["uid"].as_str().unwrap().to_owned()).collect()
}

/// A daily rotation of alice and bob handing off at 09:00 in Berlin, under
/// a name that needs escaping and folding; a feed token for the admin.
async fn rotation(server: &TestServer, name: &str) -> (Value, String) {
    for u in ["alice", "bob", "carol"] {
        server.user(u, "responder").await;
    }
    let body = json!({"name": name, "time_zone": "Europe/Berlin", "layers": [
        {"rotation": {"users": ["alice", "bob"], "shift": "1d", "handoff": "09:00", "start": "2026-01-05"}}
    ]});
    let schedule = server.post(ADMIN_TOKEN, "/api/v1/schedules", body).await.ok(201).clone();
    let feed = server.post(ADMIN_TOKEN, "/api/v1/users/admin/calendar-token", json!({})).await.ok(201)["token"].clone();
    (schedule, feed.as_str().unwrap().to_owned())
}

async fn two_fetches_of_a_feed_give_the_same_uids_and_an_override_40_days_ahead_is_in_it(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let Some(python) = python_with_icalendar() else { return };
    let name = format!("Primary; EU, nights — Zürich \\ {}", "é".repeat(60));
    let (schedule, feed) = rotation(&server, &name).await;
    let id = &schedule["id"];
    // The clock is at 2026-11-27T10:00:00Z: 40 days ahead is 6 January.
    let o = json!({"user": "carol", "start": "2027-01-06T10:00:00Z", "end": "2027-01-06T18:00:00Z"});
    server.post(ADMIN_TOKEN, &format!("/api/v1/schedules/{id}/overrides"), o).await.ok(201);
    let paths = [format!("/api/v1/schedules/{id}/calendar.ics"), "/api/v1/users/carol/calendar.ics".to_owned()];
    let first = parsed(&server, &python, &feed, &paths).await;

    clock.advance(600);
    let second = parsed(&server, &python, &feed, &paths).await;
    let summary = first[0]["events"][0]["summary"].as_str().unwrap();
    assert!(summary.ends_with(&format!("({name})")), "escaped and folded, read back whole: {summary}");
    assert_eq!(uids(&first[0]), uids(&second[0]), "ten minutes later, the same shifts under the same UIDs");
    assert_eq!(first, second, "and nothing else about them changed either");
    let all = uids(&first[0]);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "one UID per shift");

    let events = first[0]["events"].as_array().unwrap();
    let carol =
        events.iter().find(|e| e["summary"].as_str().unwrap().starts_with("On call: @carol")).expect("the override");
    assert_eq!(
        (carol["start"].as_str(), carol["end"].as_str()),
        (Some("2027-01-06T10:00:00+00:00"), Some("2027-01-06T18:00:00+00:00"))
    );
    assert_eq!(carol["dtstamp"], "2026-11-27T10:00:00+00:00", "stamped with the schedule's last revision");
    assert_eq!(carol["sequence"], 1, "the schedule's first override");
    // The override cuts the day's shift in two around it.
    let around: Vec<&str> = events
        .iter()
        .filter(|e| e["start"].as_str().unwrap().starts_with("2027-01-06"))
        .map(|e| &e["summary"].as_str().unwrap()[..15])
        .collect();
    assert_eq!(around, ["On call: @alice", "On call: @carol", "On call: @alice"]);

    // Carol's own feed: the same event, under the same UID.
    let mine = first[1]["events"].as_array().unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0], *carol);
}

async fn a_feed_holds_30_days_back_to_180_ahead_with_each_shift_at_its_real_start(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let Some(python) = python_with_icalendar() else { return };
    let (schedule, feed) = rotation(&server, "Primary").await;
    let path = format!("/api/v1/schedules/{}/calendar.ics", schedule["id"]);
    let feeds = parsed(&server, &python, &feed, std::slice::from_ref(&path)).await;
    let events = feeds[0]["events"].as_array().unwrap();
    let (first, last) = (&events[0], &events[events.len() - 1]);
    // Now is 2026-11-27T10:00:00Z: 30 days back is 28 October, 10:00, in
    // the middle of a shift that began at 09:00 Berlin (08:00 UTC).
    assert_eq!(first["start"], "2026-10-28T08:00:00+00:00", "the shift at its real start, not cut: {first}");
    // 180 days ahead is 26 May 2027, 10:00, inside a shift from 09:00 Berlin.
    assert_eq!(last["start"], "2027-05-26T07:00:00+00:00", "{last}");
    assert_eq!(last["end"], "2027-05-27T07:00:00+00:00", "the shift at its real end, not cut: {last}");
    assert_eq!(events.len(), 211, "one a day, both edges included");
    assert!(first["uid"].as_str().unwrap().contains("20261028T080000Z"), "{first}");

    // A day later the window has moved on by a day; the shifts in both
    // fetches keep their UIDs.
    clock.advance(86_400);
    let later = parsed(&server, &python, &feed, &[path]).await;
    let (before, after) = (uids(&feeds[0]), uids(&later[0]));
    assert_eq!(before[1..], after[..after.len() - 1]);
}
