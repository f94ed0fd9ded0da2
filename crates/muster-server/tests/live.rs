//! Live views over real HTTP on both backends: one rendering per change and
//! kind of viewer however many watch, a change waking only its own
//! incident's viewers (on PostgreSQL through `LISTEN` too), resuming with
//! `Last-Event-ID`, a viewer that fell behind catching up from the store,
//! and what differs between viewers never leaking into the shared bytes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::receiver::Receiver;
use common::{ADMIN_TOKEN, ManualClock, TestServer};
use muster_app::{App, Config, EntryInput, SystemClock};
use muster_domain::timeline::EntryKind;
use muster_domain::{Actor, Handle, IncidentRef, Permission};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    fifty_viewers_of_one_incident_cause_one_render_per_change_and_get_the_same_bytes,
    a_change_on_one_incident_sends_nothing_to_the_viewers_of_another,
    a_viewer_reconnecting_with_last_event_id_gets_everything_after_it_once,
    a_viewer_that_falls_behind_the_broadcast_catches_up_from_the_store,
);

/// With the engine left to the test, so the pages panel holds still.
mod manual {
    use super::*;
    on_both_backends_with_manual_clock!(
        each_viewer_gets_only_the_buttons_and_addresses_they_got_before_and_no_csrf_token
    );
}

/// How long any live event may take to arrive.
const WITHIN: Duration = Duration::from_secs(10);

/// One Server-Sent Event as it came: its text whole, and its parts.
#[derive(Debug, Clone)]
struct Record {
    raw: String,
    id: Option<u64>,
    event: String,
    data: Value,
}

/// A live stream read over HTTP.
struct Live {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Live {
    async fn open(server: &TestServer, header: (&str, String), path: &str) -> Live {
        Self::open_with(server, header, path, None).await
    }

    async fn open_with(server: &TestServer, header: (&str, String), path: &str, last_event_id: Option<u64>) -> Live {
        let mut request = server.http().get(format!("{}{path}", server.url)).header(header.0, header.1);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "the stream opens");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Live { response, buffer: Vec::new() }
    }

    /// The next event, or `None` if none came within `within`.
    async fn next_within(&mut self, within: Duration) -> Option<Record> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let raw = String::from_utf8(self.buffer.drain(..end + 2).collect()).unwrap();
                if let Some(record) = parse(&raw) {
                    return Some(record);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            self.buffer.extend_from_slice(&chunk.expect("the stream reads").expect("the stream stays open"));
        }
    }

    async fn next(&mut self) -> Record {
        self.next_within(WITHIN).await.expect("a live event within 10 s")
    }

    /// Events up to and including the first `until` accepts.
    async fn until(&mut self, until: impl Fn(&Record) -> bool) -> Vec<Record> {
        let mut got = Vec::new();
        loop {
            let record = self.next().await;
            let done = until(&record);
            got.push(record);
            if done {
                return got;
            }
        }
    }
}

/// An event from its text; `None` for a comment (the keep-alive).
fn parse(raw: &str) -> Option<Record> {
    let (mut id, mut event, mut data) = (None, String::new(), None);
    for line in raw.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).unwrap());
        }
    }
    Some(Record { raw: raw.to_owned(), id, event, data: data? })
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn session(cookie: &str) -> (&'static str, String) {
    ("cookie", format!("muster_session={cookie}"))
}

/// A counter of this instance from `/metrics`.
async fn counter(server: &TestServer, name: &str) -> u64 {
    let text = server.http().get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line[name.len() + 1..].parse().unwrap()
}

async fn declare(server: &TestServer, token: &str, title: &str) {
    server.post(token, "/api/v1/incidents", json!({"title": title, "priority": "P2"})).await.ok(201);
}

async fn note(server: &TestServer, token: &str, incident: &str, text: &str) -> u64 {
    let path = format!("/api/v1/incidents/{incident}/timeline");
    server.post(token, &path, json!({"kind": "note", "text": text})).await.ok(201)["id"].as_u64().unwrap()
}

fn is_entry_with(text: &str) -> impl Fn(&Record) -> bool + '_ {
    move |r: &Record| r.event == "entry" && r.data["html"].as_str().is_some_and(|h| h.contains(text))
}

async fn fifty_viewers_of_one_incident_cause_one_render_per_change_and_get_the_same_bytes(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    server.user("carol", "responder").await;
    declare(&server, &alice, "Checkout fails").await;
    let mut viewers = Vec::new();
    for i in 0..50 {
        let token = server.user(&format!("viewer{i}"), "viewer").await;
        viewers.push(Live::open(&server, bearer(&token), "/incidents/INC-1/events").await);
    }
    for n in 0..3 {
        let renders = counter(&server, "muster_live_renders_total").await;
        let body = json!({"role": "tech_lead", "user": "carol", "scope": format!("db-{n}")});
        server.post(&alice, "/api/v1/incidents/INC-1/roles", body).await.ok(201);
        let scope = format!("(db-{n})");
        let mut seen = Vec::new();
        for v in &mut viewers {
            let got = v.until(is_entry_with(&scope)).await;
            seen.push(got.last().unwrap().raw.clone());
        }
        assert!(seen.iter().all(|s| *s == seen[0]), "every viewer got the same bytes for change {n}");
        assert!(seen[0].contains("TL @carol"), "the board is in it: {}", seen[0]);
        assert_eq!(
            counter(&server, "muster_live_renders_total").await - renders,
            1,
            "50 viewers of the same kind, one change: one rendering"
        );
    }
}

async fn a_change_on_one_incident_sends_nothing_to_the_viewers_of_another(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    declare(&server, &alice, "One").await;
    declare(&server, &alice, "Two").await;
    let mut ones = Vec::new();
    let mut twos = Vec::new();
    for i in 0..5 {
        let token = server.user(&format!("viewer{i}"), "viewer").await;
        ones.push(Live::open(&server, bearer(&token), "/incidents/INC-1/events").await);
        twos.push(Live::open(&server, bearer(&token), "/incidents/INC-2/events").await);
    }
    let frames = counter(&server, "muster_live_frames_total").await;
    note(&server, &alice, "INC-1", "only on the first").await;
    for v in &mut ones {
        v.until(is_entry_with("only on the first")).await;
    }
    // The first thing INC-2's viewers get is INC-2's own change: nothing
    // of INC-1's came before it.
    let seq = note(&server, &alice, "INC-2", "only on the second").await;
    for v in &mut twos {
        let first = v.next().await;
        assert_eq!((first.event.as_str(), first.id), ("entry", Some(seq)), "{}", first.raw);
        assert!(first.raw.contains("only on the second") && !first.raw.contains("only on the first"));
    }
    assert_eq!(counter(&server, "muster_live_frames_total").await - frames, 2, "one read per incident and change");
}

async fn a_viewer_reconnecting_with_last_event_id_gets_everything_after_it_once(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    let vera = server.user("vera", "viewer").await;
    declare(&server, &alice, "Checkout fails").await;
    let mut live = Live::open(&server, bearer(&vera), "/incidents/INC-1/events").await;
    // Another viewer keeps the room going while this one is away.
    let _other = Live::open(&server, bearer(&alice), "/incidents/INC-1/events").await;
    let first = note(&server, &alice, "INC-1", "note 1").await;
    live.until(is_entry_with("note 1")).await;
    drop(live);
    let mut later = Vec::new();
    for n in 2..=4 {
        later.push(note(&server, &alice, "INC-1", &format!("note {n}")).await);
    }
    let mut again = Live::open_with(&server, bearer(&vera), "/incidents/INC-1/events", Some(first)).await;
    let got = again.until(is_entry_with("note 4")).await;
    let ids: Vec<u64> = got.iter().filter(|r| r.event == "entry").filter_map(|r| r.id).collect();
    assert_eq!(ids, later, "everything after the last event it had, once, in order");
    // And it is live again: the next change comes through the broadcast.
    let next = note(&server, &alice, "INC-1", "note 5").await;
    assert_eq!(again.until(is_entry_with("note 5")).await.last().unwrap().id, Some(next));

    // `?after=` from the start replays the whole timeline, in order.
    let mut whole = Live::open(&server, bearer(&vera), "/incidents/INC-1/events?after=0").await;
    let got = whole.until(is_entry_with("note 5")).await;
    let ids: Vec<u64> = got.iter().filter_map(|r| r.id).collect();
    assert_eq!(ids, (1..=next).collect::<Vec<_>>());
}

/// A stream that does not read: a socket with a small receive buffer, so
/// the server cannot write ahead of it for long.
async fn stalled_stream(server: &TestServer, token: &str, path: &str) -> tokio::net::TcpStream {
    let address: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

async fn a_viewer_that_falls_behind_the_broadcast_catches_up_from_the_store(server: TestServer) {
    let alice = server.user("alice", "responder").await;
    let vera = server.user("vera", "viewer").await;
    declare(&server, &alice, "Checkout fails").await;
    let start = server.get(&alice, "/api/v1/incidents/INC-1").await.ok(200)["version"].as_u64().unwrap();
    let mut stalled = stalled_stream(&server, &vera, "/incidents/INC-1/events").await;
    // A viewer that keeps up, so the room broadcasts every change.
    let mut keeping_up = Live::open(&server, bearer(&alice), "/incidents/INC-1/events").await;
    let behind = counter(&server, "muster_live_fell_behind_total").await;
    // Far more than the room keeps, and than the sockets and the server's
    // buffers hold: 6.6 MB (the kernel lets a socket's send buffer grow to
    // 4 MiB). The stream notices it fell behind when it reads again.
    let long = "x".repeat(9_500);
    let mut last = 0;
    for n in 0..700 {
        last = note(&server, &alice, "INC-1", &format!("{n} {long}")).await;
        keeping_up.until(is_entry_with(&format!("{n} x"))).await;
    }
    last = note(&server, &alice, "INC-1", "the last one").await.max(last);
    // Now it reads: every entry since it connected, once each, in order.
    let mut raw = Vec::new();
    let mut buffer = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // The ids as they come ("id: N" lines, which the chunked encoding never
    // splits: each chunk is whole events).
    let (mut ids, mut scanned) = (Vec::new(), 0);
    while ids.last() != Some(&last) {
        let read = tokio::time::timeout_at(deadline, stalled.read(&mut buffer)).await.expect("it catches up in 30 s");
        let read = read.unwrap();
        assert!(read > 0, "the stream stays open");
        raw.extend_from_slice(&buffer[..read]);
        while let Some(at) = raw[scanned..].windows(5).position(|w| w == b"\nid: ") {
            let line = &raw[scanned + at + 5..];
            let Some(end) = line.iter().position(|b| *b == b'\n') else { break };
            ids.push(std::str::from_utf8(&line[..end]).unwrap().parse::<u64>().unwrap());
            scanned += at + 5 + end;
        }
    }
    assert_eq!(ids, (start + 1..=last).collect::<Vec<_>>(), "every entry once, in order");
    assert!(counter(&server, "muster_live_fell_behind_total").await > behind, "it did fall behind the broadcast");
}

/// A responder or viewer who signs in through the web form.
async fn person(server: &TestServer, handle: &str, permission: &str) -> String {
    let body = json!({"handle": handle, "name": handle, "email": format!("{handle}@example.com"),
                      "permission": permission, "password": "correct horse battery",
                      "email_contact_method": false});
    server.post(ADMIN_TOKEN, "/api/v1/users", body).await.ok(201);
    common::web_sign_in(server, handle, "correct horse battery").await.expect("signed in")
}

async fn token_of(server: &TestServer, handle: &str) -> String {
    let reply = server.post(ADMIN_TOKEN, &format!("/api/v1/users/{handle}/tokens"), json!({})).await;
    reply.ok(201)["token"].as_str().unwrap().to_owned()
}

async fn each_viewer_gets_only_the_buttons_and_addresses_they_got_before_and_no_csrf_token(
    server: TestServer,
    _clock: Arc<ManualClock>,
) {
    let alice = person(&server, "alice", "responder").await;
    let carol = person(&server, "carol", "responder").await;
    let dan = person(&server, "dan", "responder").await;
    let vera = person(&server, "vera", "viewer").await;
    let vic = person(&server, "vic", "viewer").await;
    let alice_token = token_of(&server, "alice").await;
    let dan_token = token_of(&server, "dan").await;
    declare(&server, &alice_token, "Checkout fails").await;
    let body = json!({"role": "tech_lead", "user": "carol", "scope": "db"});
    server.post(&alice_token, "/api/v1/incidents/INC-1/roles", body).await.ok(201);
    let (receiver, url) = Receiver::start(vec![]).await;
    let methods = "/api/v1/users/dan/contact-methods";
    server.post(&dan_token, methods, json!({"kind": "webhook", "address": url})).await.ok(201);
    let page = json!({"target": {"user": "dan"}, "message": "help with the database"});
    server.post(&alice_token, "/api/v1/incidents/INC-1/pages", page).await.ok(201);
    // The page is notified and delivered before the streams start, so the
    // panel holds still while they watch.
    server.deliver_due().await;
    assert_eq!(receiver.count(), 1, "dan's webhook got the page");
    let origin = url.trim_end_matches("/hook");

    let path = "/incidents/INC-1/events";
    let mut streams = Vec::new();
    for (who, header) in [
        ("alice", session(&alice)),
        ("carol", session(&carol)),
        ("dan", session(&dan)),
        ("vera", session(&vera)),
        ("vic", session(&vic)),
        ("admin", bearer(ADMIN_TOKEN)),
    ] {
        streams.push((who, Live::open(&server, header, path).await));
    }
    let renders = counter(&server, "muster_live_renders_total").await;
    note(&server, &alice_token, "INC-1", "the pool is exhausted").await;
    let mut got = std::collections::HashMap::new();
    for (who, live) in &mut streams {
        let record = live.until(is_entry_with("the pool is exhausted")).await.pop().unwrap();
        got.insert(*who, record);
    }
    let board = |who: &str| got[who].data["board"].as_str().unwrap().to_owned();
    let pages = |who: &str| got[who].data["pages"].as_str().unwrap().to_owned();
    for who in ["alice", "carol", "dan", "vera", "vic", "admin"] {
        let filled = board(who).matches("name=\"csrf\" value=\"").count();
        let empty = board(who).matches("name=\"csrf\" value=\"\"").count();
        assert_eq!(filled, empty, "{who}'s board carries no CSRF token");
    }
    // The incident manager may relieve anyone; a tech lead only themself;
    // a viewer nobody.
    assert!(board("alice").contains("Relieve @alice as incident manager"), "{}", board("alice"));
    assert!(board("alice").contains("Relieve @carol as tech lead"));
    assert!(board("carol").contains("Relieve @carol as tech lead"), "{}", board("carol"));
    assert!(!board("carol").contains("Relieve @alice"));
    for who in ["dan", "vera", "vic", "admin"] {
        assert!(!board(who).contains("Relieve"), "{who}: {}", board(who));
    }
    // Dan's address whole to Dan and the admin only.
    for who in ["dan", "admin"] {
        assert!(pages(who).contains(&url), "{who}: {}", pages(who));
    }
    for who in ["alice", "carol", "vera", "vic"] {
        assert!(pages(who).contains(&format!("{origin}/…")), "{who}: {}", pages(who));
        assert!(!got[who].raw.contains(&url), "{who}");
    }
    // Vera and Vic watch alike, and so do Dan and the admin (neither holds
    // a role; both see Dan's address): the same bytes, rendered once each.
    assert_eq!(got["vera"].raw, got["vic"].raw);
    assert_eq!(got["dan"].raw, got["admin"].raw);
    assert_eq!(counter(&server, "muster_live_renders_total").await - renders, 4, "six viewers of four kinds");
}

// Not on SQLite: one SQLite database has one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_by_another_postgres_instance_wakes_only_that_incidents_viewers() {
    let Some(server) = TestServer::start(muster_store::testing::Backend::Postgres).await else { return };
    let alice = server.user("alice", "responder").await;
    declare(&server, &alice, "One").await;
    declare(&server, &alice, "Two").await;
    let vera = server.user("vera", "viewer").await;
    let mut one = Live::open(&server, bearer(&vera), "/incidents/INC-1/events").await;
    let mut two = Live::open(&server, bearer(&vera), "/incidents/INC-2/events").await;
    let other = App::with_config(
        server.database().open().await,
        Arc::new(SystemClock),
        Config { run_engine: false, ..Config::default() },
    )
    .unwrap();
    let (watch_one, watch_two) = (server.app.changes.watch(1), server.app.changes.watch(2));
    let (woken_one, woken_two) = (watch_one.notified(), watch_two.notified());
    tokio::pin!(woken_one, woken_two);
    woken_one.as_mut().enable();
    woken_two.as_mut().enable();

    let actor = Actor { handle: Handle::parse("alice").unwrap(), permission: Permission::Responder };
    let entry = |text: &str| EntryInput {
        kind: EntryKind::Note,
        text: text.to_owned(),
        tag: None,
        corrects: None,
        occurred_at: None,
        workstream: None,
    };
    other.add_entry(&actor, IncidentRef(1), entry("written elsewhere")).await.unwrap();
    tokio::time::timeout(WITHIN, woken_one).await.expect("INC-1's views wake through LISTEN");
    let ready = woken_two.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())).is_ready();
    assert!(!ready, "INC-2's views sleep on");
    one.until(is_entry_with("written elsewhere")).await;

    other.add_entry(&actor, IncidentRef(2), entry("second, elsewhere")).await.unwrap();
    let first = two.next().await;
    assert!(first.raw.contains("second, elsewhere") && !first.raw.contains("written elsewhere"), "{}", first.raw);
}
