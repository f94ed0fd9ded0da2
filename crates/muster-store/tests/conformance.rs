//! The store conformance suite: every test runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use muster_domain::incident::{Context, Declaration};
use muster_domain::paging::ContactKind;
use muster_domain::timeline::{EntryKind, projection_matches, verify_chain};
use muster_domain::token::TokenKind;
use muster_domain::{
    Actor, Command, DomainError, Handle, Incident, Permission, Priority, RequiredRoles, RoleCatalog, RoleDef, RoleKind,
    Status, Timestamp,
};
use muster_store::testing::{Backend, TestDatabase};
use muster_store::{IncidentFilter, NewToken, NewUser, Store, StoreError, TimelineQuery};

use muster_store::on_both_backends;

on_both_backends!(
    users_are_found_by_handle_and_by_token_hash,
    a_second_user_with_the_same_handle_is_a_conflict,
    ensuring_a_user_twice_keeps_the_first,
    custom_roles_round_trip_and_duplicates_conflict,
    required_roles_default_until_configured,
    incidents_are_numbered_from_one,
    an_update_writes_state_and_events_together,
    a_refused_command_writes_nothing,
    the_timeline_is_in_time_order_and_pages,
    stored_timeline_entries_cannot_be_changed_or_deleted,
    verify_names_the_first_entry_changed_or_removed_behind_the_triggers,
    concurrent_commands_on_one_incident_are_all_applied,
    incidents_filter_by_status_and_priority_newest_first,
    a_reopened_store_has_everything,
    the_latest_entries_window_filters_by_kind_and_live_views_read_since_a_seq,
    sessions_expire_and_passwords_are_kept_as_hashes,
    tokens_are_listed_without_their_hashes_and_revoked_ones_stay_readable,
    replacing_a_token_revokes_the_others_of_its_name_and_revives_itself,
    disabling_a_user_ends_their_sessions_and_revokes_their_tokens,
    a_user_made_with_their_email_method_has_it_and_the_rule_or_neither,
    pages_filter_by_state_person_and_cursor_newest_first_and_are_counted,
);

fn now() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn actor(h: &str) -> Actor {
    Actor { handle: Handle::parse(h).unwrap(), permission: Permission::Responder }
}

fn new_user(h: &str) -> NewUser {
    NewUser {
        handle: Handle::parse(h).unwrap(),
        name: h.to_uppercase(),
        email: format!("{h}@example.com"),
        permission: Permission::Responder,
        time_zone: None,
    }
}

async fn declare(store: &dyn Store, by: &str, priority: Priority) -> Incident {
    let by = actor(by);
    let catalog = RoleCatalog::default();
    let decide = |number| {
        let d =
            Declaration { title: "Checkout fails".into(), summary: "".into(), priority, incident_manager: by.clone() };
        Incident::declare(number, d, Context { actor: &by, now: now(), catalog: &catalog })
    };
    store.declare_incident(&decide).await.unwrap().0
}

async fn run(
    store: &dyn Store,
    number: u64,
    by: &Actor,
    cmd: Command,
) -> Result<Vec<muster_domain::Event>, StoreError> {
    let catalog = RoleCatalog::default();
    let decide = |state: &Incident| state.execute(cmd.clone(), Context { actor: by, now: now(), catalog: &catalog });
    store.update_incident(number, &decide).await.map(|(_, events)| events)
}

fn note(text: &str, at: Option<Timestamp>) -> Command {
    Command::AddEntry {
        kind: EntryKind::Note,
        text: text.into(),
        tag: None,
        corrects: None,
        occurred_at: at,
        workstream: None,
    }
}

async fn users_are_found_by_handle_and_by_token_hash(db: TestDatabase) {
    let store = db.open().await;
    let alice = store.create_user(&new_user("alice"), now()).await.unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(store.user(&alice.handle).await.unwrap(), Some(alice.clone()));
    let token = store.add_token(&new_token("alice", "abc123", "laptop"), now()).await.unwrap();
    assert!(matches!(
        store.add_token(&new_token("alice", "abc123", "again"), now()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.token("abc123").await.unwrap(), Some((token, alice)));
    assert_eq!(store.token("nope").await.unwrap(), None);
    assert_eq!(store.user_count().await.unwrap(), 1);
}

fn new_token(user: &str, hash: &str, name: &str) -> NewToken {
    NewToken {
        hash: hash.into(),
        user: Handle::parse(user).unwrap(),
        kind: TokenKind::Api,
        name: name.into(),
        expires_at: None,
    }
}

fn hours(h: i64) -> Timestamp {
    now().checked_add(jiff::SignedDuration::from_hours(h)).unwrap()
}

async fn tokens_are_listed_without_their_hashes_and_revoked_ones_stay_readable(db: TestDatabase) {
    let store = db.open().await;
    let alice = store.create_user(&new_user("alice"), now()).await.unwrap();
    store.create_user(&new_user("bob"), now()).await.unwrap();
    let expiring = NewToken { expires_at: Some(hours(24)), ..new_token("alice", "h1", "laptop") };
    let laptop = store.add_token(&expiring, now()).await.unwrap();
    assert_eq!(
        (laptop.kind, laptop.name.as_str(), laptop.expires_at, laptop.last_used_at, laptop.revoked_at),
        (TokenKind::Api, "laptop", Some(hours(24)), None, None)
    );
    let feed = NewToken { kind: TokenKind::Feed, ..new_token("alice", "h2", "calendar") };
    let calendar = store.add_token(&feed, hours(1)).await.unwrap();
    let bobs = store.add_token(&new_token("bob", "h3", "ci"), now()).await.unwrap();
    assert_eq!(store.tokens(&alice.handle).await.unwrap(), [laptop.clone(), calendar.clone()]);

    store.touch_token(laptop.id, hours(2)).await.unwrap();
    let (used, _) = store.token("h1").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(hours(2)));

    // Only the owner's token, once.
    assert!(matches!(store.revoke_token(&alice.handle, bobs.id, hours(3)).await, Err(StoreError::NotFound(_))));
    store.revoke_token(&alice.handle, laptop.id, hours(3)).await.unwrap();
    assert!(matches!(store.revoke_token(&alice.handle, laptop.id, hours(4)).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.tokens(&alice.handle).await.unwrap(), [calendar]);
    let (revoked, owner) = store.token("h1").await.unwrap().unwrap();
    assert_eq!((revoked.revoked_at, owner.handle), (Some(hours(3)), alice.handle));
    assert_eq!(store.token("h3").await.unwrap().unwrap().0.revoked_at, None, "bob's token still works");
}

async fn replacing_a_token_revokes_the_others_of_its_name_and_revives_itself(db: TestDatabase) {
    let store = db.open().await;
    let admin = store.create_user(&new_user("admin"), now()).await.unwrap();
    let other = store.add_token(&new_token("admin", "other", "laptop"), now()).await.unwrap();
    let first = store.replace_token(&new_token("admin", "first", "SETTING"), now()).await.unwrap();
    // The same token again changes nothing.
    assert_eq!(store.replace_token(&new_token("admin", "first", "SETTING"), hours(1)).await.unwrap(), first);
    let second = store.replace_token(&new_token("admin", "second", "SETTING"), hours(2)).await.unwrap();
    assert_eq!(store.tokens(&admin.handle).await.unwrap(), [other.clone(), second.clone()]);
    assert_eq!(store.token("first").await.unwrap().unwrap().0.revoked_at, Some(hours(2)));
    // Back to the first: it works again and the second is revoked.
    let again = store.replace_token(&new_token("admin", "first", "SETTING"), hours(3)).await.unwrap();
    assert_eq!((again.id, again.revoked_at), (first.id, None));
    assert_eq!(store.tokens(&admin.handle).await.unwrap(), [other, again]);
    // A hash that is another token's is not taken over.
    assert!(matches!(
        store.replace_token(&new_token("admin", "other", "SETTING"), hours(4)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.token("first").await.unwrap().unwrap().0.revoked_at,
        None,
        "a refused replacement revokes nothing"
    );
    assert_eq!(second.revoked_at, None);
}

async fn disabling_a_user_ends_their_sessions_and_revokes_their_tokens(db: TestDatabase) {
    let store = db.open().await;
    let dan = store.create_user(&new_user("dan"), now()).await.unwrap();
    assert_eq!(dan.disabled_at, None);
    store.create_user(&new_user("erin"), now()).await.unwrap();
    store.add_token(&new_token("dan", "d1", "api"), now()).await.unwrap();
    store.add_token(&new_token("erin", "e1", "api"), now()).await.unwrap();
    let session = |id: &str, user: &str| muster_store::Session {
        id_hash: id.into(),
        user: Handle::parse(user).unwrap(),
        csrf: "csrf".into(),
        created_at: now(),
        expires_at: hours(12),
    };
    store.create_session(&session("ds", "dan")).await.unwrap();
    store.create_session(&session("es", "erin")).await.unwrap();

    store.disable_user(&dan.handle, hours(1)).await.unwrap();
    store.disable_user(&dan.handle, hours(2)).await.unwrap();
    let dan = store.user(&dan.handle).await.unwrap().unwrap();
    assert_eq!(dan.disabled_at, Some(hours(1)), "disabling twice keeps the first time");
    assert!(store.session("ds", hours(1)).await.unwrap().is_none());
    assert!(store.tokens(&dan.handle).await.unwrap().is_empty());
    assert_eq!(store.token("d1").await.unwrap().unwrap().0.revoked_at, Some(hours(1)));
    assert!(store.session("es", hours(1)).await.unwrap().is_some(), "others keep theirs");
    assert_eq!(store.token("e1").await.unwrap().unwrap().0.revoked_at, None);
    assert!(store.users().await.unwrap().iter().any(|u| u.handle == dan.handle), "a disabled user is still listed");
    let nobody = Handle::parse("nobody").unwrap();
    assert!(matches!(store.disable_user(&nobody, hours(1)).await, Err(StoreError::NotFound(_))));
}

async fn a_second_user_with_the_same_handle_is_a_conflict(db: TestDatabase) {
    let store = db.open().await;
    store.create_user(&new_user("alice"), now()).await.unwrap();
    assert!(matches!(store.create_user(&new_user("alice"), now()).await, Err(StoreError::Conflict(_))));
}

async fn ensuring_a_user_twice_keeps_the_first(db: TestDatabase) {
    let store = db.open().await;
    let first = store.ensure_user(&new_user("admin"), now()).await.unwrap();
    let mut other = new_user("admin");
    other.name = "Someone else".into();
    assert_eq!(store.ensure_user(&other, now()).await.unwrap(), first);
    assert_eq!(store.users().await.unwrap().len(), 1);
}

async fn custom_roles_round_trip_and_duplicates_conflict(db: TestDatabase) {
    let store = db.open().await;
    let sme = RoleDef::new("sme", "Subject-matter expert", true).unwrap();
    store.create_role(&sme, now()).await.unwrap();
    assert!(matches!(store.create_role(&sme, now()).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.role_catalog().await.unwrap().custom, vec![sme]);
}

async fn required_roles_default_until_configured(db: TestDatabase) {
    let store = db.open().await;
    assert_eq!(store.required_roles().await.unwrap(), RequiredRoles::default());
    let mut custom = RequiredRoles::default();
    custom.0.insert(Priority::P3, vec![RoleKind::IncidentManager, RoleKind::Scribe]);
    store.set_required_roles(&custom).await.unwrap();
    assert_eq!(store.required_roles().await.unwrap(), custom);
}

async fn incidents_are_numbered_from_one(db: TestDatabase) {
    let store = db.open().await;
    assert_eq!(declare(&*store, "alice", Priority::P1).await.number, 1);
    assert_eq!(declare(&*store, "alice", Priority::P2).await.number, 2);
}

async fn an_update_writes_state_and_events_together(db: TestDatabase) {
    let store = db.open().await;
    let inc = declare(&*store, "alice", Priority::P1).await;
    let cmd = Command::Assign { role: RoleKind::Scribe, user: actor("hank"), scope: None };
    run(&*store, inc.number, &actor("alice"), cmd).await.unwrap();
    let stored = store.incident(inc.number).await.unwrap().unwrap();
    assert!(stored.topic.ends_with("| Scribe @hank | FR @alice"), "{}", stored.topic);
    let events = store.events(inc.number).await.unwrap();
    assert_eq!(events.len() as u64, stored.version);
    assert!(projection_matches(&events, &stored));
    assert_eq!(verify_chain(&events), Ok(()));
}

async fn a_refused_command_writes_nothing(db: TestDatabase) {
    let store = db.open().await;
    let inc = declare(&*store, "alice", Priority::P1).await;
    let cmd = Command::Assign { role: RoleKind::Scribe, user: actor("hank"), scope: None };
    let err = run(&*store, inc.number, &actor("mallory"), cmd).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected(DomainError::Forbidden(_))));
    assert_eq!(store.incident(inc.number).await.unwrap().unwrap(), inc);
    assert!(matches!(run(&*store, 99, &actor("alice"), note("x", None)).await, Err(StoreError::NotFound(_))));
}

async fn the_timeline_is_in_time_order_and_pages(db: TestDatabase) {
    let store = db.open().await;
    let inc = declare(&*store, "alice", Priority::P1).await;
    let alice = actor("alice");
    let earlier: Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
    run(&*store, inc.number, &alice, note("later", None)).await.unwrap();
    run(&*store, inc.number, &alice, note("backdated", Some(earlier))).await.unwrap();
    let all = store
        .timeline(inc.number, &TimelineQuery { after: None, limit: 100, ..TimelineQuery::default() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all[0].text(), "backdated");
    assert_eq!(all.last().unwrap().text(), "later");
    assert_eq!(all.len(), 6);

    let first = store
        .timeline(inc.number, &TimelineQuery { after: None, limit: 4, ..TimelineQuery::default() })
        .await
        .unwrap()
        .unwrap();
    let last = first.last().unwrap();
    let rest = store
        .timeline(inc.number, &TimelineQuery { after: Some((last.at, last.seq)), limit: 4, ..TimelineQuery::default() })
        .await
        .unwrap()
        .unwrap();
    let paged: Vec<u64> = first.iter().chain(&rest).map(|e| e.seq).collect();
    assert_eq!(paged, all.iter().map(|e| e.seq).collect::<Vec<_>>());
    assert!(store.timeline(99, &TimelineQuery::default()).await.unwrap().is_none());
}

async fn stored_timeline_entries_cannot_be_changed_or_deleted(db: TestDatabase) {
    let store = db.open().await;
    declare(&*store, "alice", Priority::P1).await;
    let (update, delete) = db.tamper_with_timeline().await;
    assert!(update.unwrap_err().contains("append-only"));
    assert!(delete.unwrap_err().contains("append-only"));
    assert_eq!(verify_chain(&store.events(1).await.unwrap()), Ok(()));
}

async fn verify_names_the_first_entry_changed_or_removed_behind_the_triggers(db: TestDatabase) {
    let store = db.open().await;
    for _ in 0..4 {
        let inc = declare(&*store, "alice", Priority::P2).await;
        for n in 0..4 {
            let cmd = Command::AddEntry {
                kind: EntryKind::Note,
                text: format!("note {n} of INC-{}", inc.number),
                tag: None,
                corrects: None,
                occurred_at: None,
                workstream: None,
            };
            run(&*store, inc.number, &actor("alice"), cmd).await.unwrap();
        }
    }
    let events = store.events(1).await.unwrap();
    let check = store.verify_timeline(1).await.unwrap().unwrap();
    assert!(check.ok(), "{check:?}");
    assert_eq!(check.entries, events.len() as u64);
    assert_eq!(check.head.as_deref(), Some(events.last().unwrap().hash.as_str()));
    assert!(store.verify_timeline(99).await.unwrap().is_none());

    // What the timeline shows, rewritten: INC-1's second note.
    let seq = events.iter().find(|e| e.text() == "note 1 of INC-1").unwrap().seq;
    let changed = db
        .tamper_past_the_triggers(&format!(
            "UPDATE incident_events SET body = REPLACE(body, 'note 1 of INC-1', 'nothing to see') \
             WHERE incident = 1 AND seq = {seq}"
        ))
        .await;
    assert_eq!(changed, 1);
    let check = store.verify_timeline(1).await.unwrap().unwrap();
    let broken = check.broken.clone().expect("the change is found");
    assert_eq!((broken.seq, broken.reason.as_str()), (seq, "its content does not match its hash"));
    assert_eq!(check.entries, events.len() as u64, "every entry still counted");

    // Only a column the store searches by: INC-2's third entry's actor.
    db.tamper_past_the_triggers("UPDATE incident_events SET actor = 'mallory' WHERE incident = 2 AND seq = 3").await;
    let broken = store.verify_timeline(2).await.unwrap().unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.reason.as_str()), (3, "its actor column differs from its content"));

    // An entry removed: the one after it is where the chain breaks.
    db.tamper_past_the_triggers("DELETE FROM incident_events WHERE incident = 3 AND seq = 2").await;
    let broken = store.verify_timeline(3).await.unwrap().unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3, "{broken:?}");
    assert!(broken.reason.contains("missing"), "{broken:?}");

    // Content no longer an event at all.
    db.tamper_past_the_triggers("UPDATE incident_events SET body = 'gone' WHERE incident = 4 AND seq = 1").await;
    let broken = store.verify_timeline(4).await.unwrap().unwrap().broken.unwrap();
    assert_eq!(broken.seq, 1);
    assert!(broken.reason.starts_with("its content cannot be read"), "{broken:?}");

    // The triggers are back.
    let (update, delete) = db.tamper_with_timeline().await;
    assert!(update.unwrap_err().contains("append-only") && delete.unwrap_err().contains("append-only"));
}

async fn concurrent_commands_on_one_incident_are_all_applied(db: TestDatabase) {
    let store: Arc<dyn Store> = db.open().await;
    let inc = declare(&*store, "alice", Priority::P1).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let cmd = Command::Assign { role: RoleKind::TechLead, user: actor(&format!("tl{i}")), scope: None };
                run(&*store, inc.number, &actor("alice"), cmd).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stored = store.incident(inc.number).await.unwrap().unwrap();
    assert_eq!(stored.holders(&RoleKind::TechLead).count(), 50);
    let events = store.events(inc.number).await.unwrap();
    assert!(projection_matches(&events, &stored));
    assert_eq!(verify_chain(&events), Ok(()));
}

async fn incidents_filter_by_status_and_priority_newest_first(db: TestDatabase) {
    let store = db.open().await;
    for p in [Priority::P1, Priority::P2, Priority::P1, Priority::P3] {
        declare(&*store, "alice", p).await;
    }
    let resolve = Command::Update { title: None, summary: None, priority: None, status: Some(Status::Resolved) };
    run(&*store, 3, &actor("alice"), resolve).await.unwrap();
    let numbers = |v: Vec<Incident>| v.into_iter().map(|i| i.number).collect::<Vec<_>>();
    let all = store.incidents(&IncidentFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(numbers(all), [4, 3, 2, 1]);
    let p1 = IncidentFilter { priorities: vec![Priority::P1], limit: 10, ..Default::default() };
    assert_eq!(numbers(store.incidents(&p1).await.unwrap()), [3, 1]);
    let open_p1 = IncidentFilter { statuses: vec![Status::Investigating], ..p1 };
    assert_eq!(numbers(store.incidents(&open_p1).await.unwrap()), [1]);
    let page = IncidentFilter { before: Some(3), limit: 1, ..Default::default() };
    assert_eq!(numbers(store.incidents(&page).await.unwrap()), [2]);
}

async fn a_reopened_store_has_everything(db: TestDatabase) {
    let store = db.open().await;
    store.create_user(&new_user("alice"), now()).await.unwrap();
    let inc = declare(&*store, "alice", Priority::P1).await;
    run(&*store, inc.number, &actor("alice"), note("checkpoint", None)).await.unwrap();
    let before = (store.incident(1).await.unwrap(), store.events(1).await.unwrap(), store.users().await.unwrap());
    drop(store);
    let reopened = db.open().await;
    let after =
        (reopened.incident(1).await.unwrap(), reopened.events(1).await.unwrap(), reopened.users().await.unwrap());
    assert_eq!(before, after);
    assert_eq!(declare(&*reopened, "alice", Priority::P2).await.number, 2);
}

#[tokio::test]
async fn an_unknown_database_url_is_refused_with_the_field_named() {
    let err = muster_store::open("mysql://x", true).await.err().unwrap();
    assert!(matches!(err, StoreError::Rejected(DomainError::Invalid { field, .. }) if field == "database"));
    let _ = Backend::Sqlite;
}

async fn the_latest_entries_window_filters_by_kind_and_live_views_read_since_a_seq(db: TestDatabase) {
    let store = db.open().await;
    let inc = declare(&*store, "alice", Priority::P1).await;
    let alice = actor("alice");
    for i in 0..5 {
        run(&*store, inc.number, &alice, note(&format!("note {i}"), None)).await.unwrap();
    }
    let version = store.incident_version(inc.number).await.unwrap().unwrap();
    assert_eq!(version, inc.version + 5);
    assert_eq!(store.incident_version(99).await.unwrap(), None);

    let latest = |limit, before, kinds: &[&str]| TimelineQuery {
        latest: true,
        before,
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        limit,
        ..TimelineQuery::default()
    };
    let last_two = store.timeline(inc.number, &latest(2, None, &[])).await.unwrap().unwrap();
    assert_eq!(last_two.iter().map(|e| e.text()).collect::<Vec<_>>(), ["note 3", "note 4"], "in time order");
    let first = &last_two[0];
    let older = store.timeline(inc.number, &latest(2, Some((first.at, first.seq)), &[])).await.unwrap().unwrap();
    assert_eq!(older.iter().map(|e| e.text()).collect::<Vec<_>>(), ["note 1", "note 2"]);
    let notes = store.timeline(inc.number, &latest(100, None, &["note"])).await.unwrap().unwrap();
    assert_eq!(notes.len(), 5);
    assert!(notes.iter().all(|e| e.change.kind() == "note"));

    let since = store.events_since(inc.number, version - 2, 100).await.unwrap();
    assert_eq!(since.iter().map(|e| e.seq).collect::<Vec<_>>(), [version - 1, version]);
    assert!(store.events_since(inc.number, version, 100).await.unwrap().is_empty());
}

async fn sessions_expire_and_passwords_are_kept_as_hashes(db: TestDatabase) {
    let store = db.open().await;
    let alice = store.create_user(&new_user("alice"), now()).await.unwrap();
    assert_eq!(store.password_hash(&alice.handle).await.unwrap(), None);
    store.set_password_hash(&alice.handle, Some("$argon2id$v=19$example")).await.unwrap();
    assert_eq!(store.password_hash(&alice.handle).await.unwrap().as_deref(), Some("$argon2id$v=19$example"));
    let nobody = Handle::parse("nobody").unwrap();
    assert!(matches!(store.set_password_hash(&nobody, Some("x")).await, Err(StoreError::NotFound(_))));

    let later = |h: i64| now().checked_add(jiff::SignedDuration::from_hours(h)).unwrap();
    let session = muster_store::Session {
        id_hash: "abc".into(),
        user: alice.handle.clone(),
        csrf: "token".into(),
        created_at: now(),
        expires_at: later(12),
    };
    store.create_session(&session).await.unwrap();
    let (found, user) = store.session("abc", later(1)).await.unwrap().unwrap();
    assert_eq!((found, user.handle), (session.clone(), alice.handle.clone()));
    assert!(store.session("abc", later(12)).await.unwrap().is_none(), "expired");
    assert!(store.session("other", later(1)).await.unwrap().is_none());
    // A new session sweeps the expired ones away.
    let next = muster_store::Session { id_hash: "def".into(), created_at: later(13), expires_at: later(25), ..session };
    store.create_session(&next).await.unwrap();
    assert!(store.session("abc", later(1)).await.unwrap().is_none(), "swept");
    assert!(store.session("def", later(14)).await.unwrap().is_some());
    store.set_password_hash(&alice.handle, Some("$argon2id$v=19$new")).await.unwrap();
    assert!(store.session("def", later(14)).await.unwrap().is_none(), "a new password ends the sessions");
    store.create_session(&muster_store::Session { id_hash: "ghi".into(), ..next.clone() }).await.unwrap();
    store.delete_session("ghi").await.unwrap();
    assert!(store.session("ghi", later(14)).await.unwrap().is_none(), "signed out");
}

async fn a_user_made_with_their_email_method_has_it_and_the_rule_or_neither(db: TestDatabase) {
    let store = db.open().await;
    let alice = store.create_user_with_email_method(&new_user("alice"), now()).await.unwrap();
    let methods = store.contact_methods(&alice.handle).await.unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!((methods[0].kind, methods[0].address.as_str()), (ContactKind::Email, "alice@example.com"));
    let rules = store.notification_rules(&alice.handle).await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!((rules[0].rule.contact_method, rules[0].rule.delay_seconds), (methods[0].id, 0));
    // A handle taken: a conflict, and the taken user keeps only what they had.
    assert!(matches!(
        store.create_user_with_email_method(&new_user("alice"), now()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.contact_methods(&alice.handle).await.unwrap().len(), 1, "nothing half-made");
}

async fn pages_filter_by_state_person_and_cursor_newest_first_and_are_counted(db: TestDatabase) {
    use muster_domain::page::{PageState, PageTarget};
    use muster_store::{NewPage, PageFilter, PageMove};
    let store = db.open().await;
    let new = NewPage {
        incident: None,
        alert: None,
        target: PageTarget::User(Handle::parse("bob_1").unwrap()),
        target_text: "@bob_1".into(),
        message: "on fire".into(),
        roles: vec![],
        policy: muster_domain::paging::EscalationPolicy { name: "@bob_1".into(), repeat: 0, steps: vec![] },
        created_by: actor("alice"),
    };
    let no_incident = |_: &Incident, _: u64| -> Result<_, DomainError> { unreachable!("no incident") };
    let mut ids = Vec::new();
    // Page 1 notifies @bob_1, page 2 @bob-1 (whom a `_` wildcard would match too); page 3 nobody.
    for notified in ["bob_1", "bob-1", ""] {
        let (page, _) = store.create_page(&new, now(), &no_incident).await.unwrap();
        if !notified.is_empty() {
            let moved = PageMove {
                page: page.id,
                from_step: 0,
                state: PageState::Acknowledged,
                step: 1,
                notified: vec![Handle::parse(notified).unwrap()],
                current: None,
                closed_by: Some(Handle::parse(notified).unwrap()),
                reason: None,
                command: None,
                jobs: vec![],
                acknowledge_alert: false,
                unreachable: None,
                bundling: None,
            };
            store.move_page(&moved, now()).await.unwrap().expect("the page was open");
        }
        ids.push(page.id);
    }
    let found = |f: PageFilter| {
        let store = store.clone();
        async move { store.pages(&PageFilter { limit: 10, ..f }).await.unwrap().iter().map(|p| p.id).collect::<Vec<_>>() }
    };
    assert_eq!(found(PageFilter::default()).await, [ids[2], ids[1], ids[0]]);
    let answered = PageFilter { states: vec![PageState::Acknowledged, PageState::Declined], ..PageFilter::default() };
    assert_eq!(found(answered.clone()).await, [ids[1], ids[0]]);
    assert_eq!(found(PageFilter { states: vec![PageState::Pending], ..PageFilter::default() }).await, [ids[2]]);
    assert_eq!(found(PageFilter { before: Some(ids[1]), ..answered.clone() }).await, [ids[0]]);
    let bob = PageFilter { notified: Some(Handle::parse("bob_1").unwrap()), ..PageFilter::default() };
    assert_eq!(found(bob.clone()).await, [ids[0]], "a handle's `_` is no wildcard");
    assert_eq!(store.page_count(&PageFilter { limit: 1, ..answered }).await.unwrap(), 2, "whatever the limit");
    assert_eq!(store.page_count(&bob).await.unwrap(), 1);
    assert_eq!(store.page_count(&PageFilter::default()).await.unwrap(), 3);
}
