//! The use cases without HTTP, on both backends: an incident declared,
//! its roles mustered, someone paged and answering, the room's line — the
//! calls a chat adapter or a drill makes — and the live views of exactly
//! the incident that changed woken.

mod common;

use std::sync::Arc;

use common::{Receiver, TestApp};
use muster_domain::page::{PageState, PageTarget};
use muster_domain::paging::ContactKind;
use muster_domain::{RoleKind, Status};
use muster_store::testing::TestDatabase;
use tokio::sync::Notify;

muster_store::on_both_backends!(
    an_incident_is_declared_mustered_paged_and_answered_without_http,
    the_room_line_runs_commands_as_the_person_who_typed_it,
    a_change_to_one_incident_wakes_only_its_own_watchers,
);

/// Whether `notify` was woken since `armed` was enabled.
fn woken(armed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
    use std::future::Future;
    armed.poll(&mut std::task::Context::from_waker(std::task::Waker::noop())).is_ready()
}

async fn an_incident_is_declared_mustered_paged_and_answered_without_http(db: TestDatabase) {
    let t = TestApp::with_receivers(db).await;
    let (alice, bob, carol) = (t.person("alice").await, t.person("bob").await, t.person("carol").await);
    let inc = t.declare(&alice, "Checkout returns 500").await;
    let view = t.app.incident(inc).await.unwrap();
    assert_eq!(view.incident.incident_manager().map(|a| a.user.as_str()), Some("alice"));
    assert!(view.missing_roles.contains(&RoleKind::TechLead), "a P1 misses its tech lead");

    t.app.assign(&alice, inc, "backup_incident_manager", &bob.handle, None).await.unwrap();
    let tl = t.app.assign(&bob, inc, "tech_lead", &carol.handle, Some("database")).await.unwrap();
    assert_eq!(tl.scope.as_ref().map(|s| s.as_str()), Some("database"), "the backup IM assigns too");
    assert!(
        t.app.assign(&carol, inc, "scribe", &bob.handle, None).await.is_err(),
        "a tech lead holds no authority over roles"
    );
    let topic = t.app.incident(inc).await.unwrap().incident.topic;
    assert!(topic.contains("IM @alice") && topic.contains("TL @carol (database)"), "{topic}");

    // Dan is paged as a second tech lead, by webhook, and acknowledges.
    let dan = t.person("dan").await;
    let receiver = Receiver::start(200, None).await;
    let url = format!("http://127.0.0.1:{}/", receiver.port);
    t.app.add_contact_method(&dan, &dan.handle, ContactKind::Webhook, &url).await.unwrap();
    let page = t
        .app
        .page_for_incident(&alice, inc, PageTarget::User(dan.handle.clone()), "replica lag", Some("tech_lead"))
        .await
        .unwrap();
    t.deliver_due(5).await;
    assert_eq!(receiver.count(), 1, "the page went out through the outbox");
    let answered = t.app.acknowledge_page(&dan, page.id).await.unwrap();
    assert_eq!(answered.state, PageState::Acknowledged);
    let roles = t.app.incident(inc).await.unwrap().incident.roles;
    assert!(
        roles.iter().any(|a| a.user == dan.handle && a.role == RoleKind::TechLead),
        "acknowledging took on the role"
    );

    t.app.update(&alice, inc, None, None, None, Some(Status::Identified)).await.unwrap();
    let kinds: Vec<String> =
        t.app.store.events(inc.0).await.unwrap().iter().map(|e| e.change.kind().to_owned()).collect();
    for kind in ["declared", "role_assigned", "page_sent", "page_notified", "page_closed", "status_changed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} is on the timeline: {kinds:?}");
    }
}

async fn the_room_line_runs_commands_as_the_person_who_typed_it(db: TestDatabase) {
    let t = TestApp::new(db).await;
    let (alice, carol) = (t.person("alice").await, t.person("carol").await);
    let inc = t.declare(&alice, "Checkout returns 500").await;

    assert_eq!(t.app.room_line(&alice, inc, "the pool is exhausted").await.unwrap(), "", "a message needs no reply");
    assert_eq!(
        t.app.room_line(&alice, inc, "/role tech_lead @carol database").await.unwrap(),
        "@carol is now tech lead."
    );
    assert_eq!(
        t.app.room_line(&carol, inc, "/theory connection pool after the deploy").await.unwrap(),
        "Added the theory."
    );
    let refused = t.app.room_line(&carol, inc, "/role scribe @carol").await;
    assert!(refused.is_err(), "the room does what the person may do, no more");
    let bad = format!("{:?}", t.app.room_line(&alice, inc, "/role").await.unwrap_err());
    assert!(bad.contains("line") && bad.contains("Usage"), "a mistake says how to write it: {bad}");
    assert_eq!(
        t.app.room_line(&alice, inc, "/relieve @carol tech_lead").await.unwrap(),
        "Relieved @carol as tech lead."
    );
    assert_eq!(t.app.room_line(&alice, inc, "/status identified").await.unwrap(), "Status: identified.");
    assert!(t.app.room_line(&alice, inc, "/help").await.unwrap().contains("/role"));

    let view = t.app.incident(inc).await.unwrap().incident;
    assert_eq!(view.status, Status::Identified);
    assert!(!view.roles.iter().any(|a| a.user == carol.handle), "carol was relieved");
    let events = t.app.store.events(inc.0).await.unwrap();
    let message = events.iter().find(|e| e.change.kind() == "message").expect("the message is on the timeline");
    assert_eq!(message.actor.as_str(), "alice");
}

async fn a_change_to_one_incident_wakes_only_its_own_watchers(db: TestDatabase) {
    let t = TestApp::new(db).await;
    let alice = t.person("alice").await;
    let (one, two) = (t.declare(&alice, "one").await, t.declare(&alice, "two").await);
    let (watch_one, watch_two): (Arc<Notify>, Arc<Notify>) = (t.app.changes.watch(one.0), t.app.changes.watch(two.0));
    let (a, b) = (watch_one.notified(), watch_two.notified());
    tokio::pin!(a, b);
    a.as_mut().enable();
    b.as_mut().enable();

    t.app.room_line(&alice, two, "/note only the second").await.unwrap();
    assert!(woken(b.as_mut()), "the second incident's views wake");
    assert!(!woken(a.as_mut()), "the first incident's views sleep on");

    // The engine's writes wake too: a page's step writes page_notified.
    let carol = t.person("carol").await;
    t.app.page_for_incident(&alice, one, PageTarget::User(carol.handle.clone()), "help", None).await.unwrap();
    assert!(woken(a.as_mut()), "page_sent woke the first incident");
    let again = watch_one.notified();
    tokio::pin!(again);
    again.as_mut().enable();
    t.deliver_due(5).await;
    assert!(woken(again.as_mut()), "the step the engine ran woke the first incident's views");
}
