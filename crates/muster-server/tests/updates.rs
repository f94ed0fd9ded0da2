//! The communications manager's updates over the API, on both backends:
//! who may publish for which audience (the scope of a communications
//! manager decides), drafts for those who may, the timeline entry that
//! publishing is, and bad input refused naming its field with nothing
//! written.

mod common;

use std::sync::Arc;

use common::{ADMIN_TOKEN, ManualClock, TestServer};
use serde_json::{Value, json};

on_both_backends!(
    each_audience_is_published_by_those_who_handle_its_communications_and_drafted_by_anyone,
    a_draft_is_changed_by_its_author_or_a_publisher_and_published_once_onto_the_timeline,
    bad_updates_are_refused_naming_the_field_and_nothing_is_written,
    a_new_update_starts_from_the_last_one_and_an_external_one_from_nothing_internal,
);

/// INC-n with @ian as incident manager, @bea backup, @cole communications
/// manager for internal, @eve for external, @una with both (unscoped), and
/// @rita with no role. Returns the tokens by handle and the ref.
async fn cast(server: &TestServer) -> (std::collections::HashMap<&'static str, String>, String) {
    let mut tokens = std::collections::HashMap::new();
    for h in ["ian", "bea", "cole", "eve", "una", "rita"] {
        tokens.insert(h, server.user(h, "responder").await);
    }
    tokens.insert("vic", server.user("vic", "viewer").await);
    tokens.insert("admin", ADMIN_TOKEN.to_owned());
    let declared = server
        .post(
            ADMIN_TOKEN,
            "/api/v1/incidents",
            json!({"title": "Payments fail", "priority": "P1", "incident_manager": "ian"}),
        )
        .await;
    let r = format!("INC-{}", declared.ok(201)["number"]);
    for (role, user, scope) in [
        ("backup_incident_manager", "bea", Value::Null),
        ("communications_manager", "cole", json!("internal")),
        ("communications_manager", "eve", json!("external")),
    ] {
        let body = json!({"role": role, "user": user, "scope": scope});
        server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/roles"), body).await.ok(201);
    }
    // A second incident where @una covers both audiences.
    let other = server
        .post(
            ADMIN_TOKEN,
            "/api/v1/incidents",
            json!({"title": "Search slow", "priority": "P2", "incident_manager": "ian"}),
        )
        .await;
    let other = format!("INC-{}", other.ok(201)["number"]);
    let body = json!({"role": "communications_manager", "user": "una"});
    server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{other}/roles"), body).await.ok(201);
    tokens.insert("una-incident", other);
    (tokens, r)
}

fn update(audience: &str) -> Value {
    match audience {
        "internal" => {
            json!({"audience": "internal", "form": {"conditions": "5 % of card payments fail", "needs": "a DBA"}})
        }
        "executive" => json!({"audience": "executive", "form": {"overview": "Card payments fail for some"}}),
        _ => json!({"audience": "external", "body": "Some card payments fail; we are on it.", "status": "identified"}),
    }
}

async fn each_audience_is_published_by_those_who_handle_its_communications_and_drafted_by_anyone(server: TestServer) {
    let (tokens, r) = cast(&server).await;
    let path = format!("/api/v1/incidents/{r}/updates");
    // Who may publish each audience's update, of the cast on INC-n.
    let may: [(&str, &[&str]); 3] = [
        ("internal", &["ian", "bea", "cole", "admin"]),
        ("executive", &["ian", "bea", "cole", "admin"]),
        ("external", &["ian", "eve", "admin"]),
    ];
    for (audience, allowed) in may {
        for who in ["ian", "bea", "cole", "eve", "rita", "vic", "admin"] {
            let reply = server.post(&tokens[who], &path, update(audience)).await;
            if allowed.contains(&who) {
                let u = reply.ok(201);
                assert_eq!((u["state"].as_str(), u["audience"].as_str()), (Some("published"), Some(audience)), "{who}");
                assert_eq!(u["published_by"], who, "{u}");
            } else {
                let problem = reply.problem(403);
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(&format!("@{who}")), "{detail}");
                if who != "vic" {
                    let whom = if audience == "external" { "external updates" } else { "internal updates" };
                    assert!(detail.contains(&format!("the communications manager for {whom}")), "{detail}");
                }
                // A draft instead: anyone who writes may (viewers may not).
                let mut draft = update(audience);
                draft["draft"] = json!(true);
                let reply = server.post(&tokens[who], &path, draft).await;
                if who == "vic" {
                    reply.problem(403);
                } else {
                    assert_eq!(reply.ok(201)["state"], "draft", "{who}");
                }
            }
        }
    }
    // An unscoped communications manager covers both audiences.
    let other = &tokens["una-incident"];
    for audience in ["internal", "external", "executive"] {
        server.post(&tokens["una"], &format!("/api/v1/incidents/{other}/updates"), update(audience)).await.ok(201);
    }
    // Every update is listed, drafts too; only the published are on the timeline.
    let listed = server.get(&tokens["vic"], &path).await;
    let listed = listed.ok(200).as_array().unwrap().clone();
    let published = listed.iter().filter(|u| u["state"] == "published").count();
    assert_eq!(published, 4 + 4 + 3);
    assert_eq!(listed.len() - published, 2 + 2 + 3, "the drafts of the refused (not the viewer)");
    let timeline =
        server.get(&tokens["vic"], &format!("/api/v1/incidents/{r}/timeline?kind=update_published&limit=100")).await;
    assert_eq!(timeline.ok(200).as_array().unwrap().len(), published);
}

async fn a_draft_is_changed_by_its_author_or_a_publisher_and_published_once_onto_the_timeline(server: TestServer) {
    let (tokens, r) = cast(&server).await;
    let path = format!("/api/v1/incidents/{r}/updates");
    let mut draft = update("external");
    draft["draft"] = json!(true);
    draft["next_update_in_minutes"] = json!(30);
    let written = server.post(&tokens["rita"], &path, draft).await;
    let written = written.ok(201);
    let id = written["id"].as_u64().unwrap();
    assert_eq!((written["author"].as_str(), written["entry"].as_u64()), (Some("rita"), None));
    let before = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}")).await.ok(200)["version"].clone();

    // Someone else's draft: not @cole's to change (internal only), but the
    // external communications manager's.
    let edit = json!({"body": "Card payments fail for about 5 % of customers."});
    let refused = server.patch(&tokens["cole"], &format!("{path}/{id}"), edit.clone()).await;
    let detail = refused.problem(403)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("its author (@rita)") && detail.contains("@cole"), "{detail}");
    let edited = server.patch(&tokens["eve"], &format!("{path}/{id}"), edit).await;
    let edited = edited.ok(200);
    assert_eq!(edited["body"], "Card payments fail for about 5 % of customers.");
    assert_eq!((edited["status"].as_str(), edited["next_update_in_minutes"].as_u64()), (Some("identified"), Some(30)));
    let cleared = server.patch(&tokens["rita"], &format!("{path}/{id}"), json!({"next_update_in_minutes": null})).await;
    assert_eq!(cleared.ok(200)["next_update_in_minutes"], Value::Null);
    let after = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}")).await.ok(200)["version"].clone();
    assert_eq!(before, after, "a draft is not on the timeline");

    // Its author may not publish it; the external communications manager may, once.
    let refused = server.post(&tokens["rita"], &format!("{path}/{id}/publish"), json!({})).await;
    assert!(refused.problem(403)["detail"].as_str().unwrap().contains("publish external updates"));
    let published = server.post(&tokens["eve"], &format!("{path}/{id}/publish"), json!({})).await;
    let published = published.ok(200);
    assert_eq!((published["state"].as_str(), published["published_by"].as_str()), (Some("published"), Some("eve")));
    let entry = published["entry"].as_u64().unwrap();
    let again = server.post(&tokens["ian"], &format!("{path}/{id}/publish"), json!({})).await;
    assert!(again.problem(409)["detail"].as_str().unwrap().contains("published already"));
    let changed = server.patch(&tokens["eve"], &format!("{path}/{id}"), json!({"body": "x"})).await;
    changed.problem(409);

    let timeline = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline?kind=update_published")).await;
    let entries = timeline.ok(200).as_array().unwrap().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["id"].as_u64(), Some(entry));
    assert_eq!(entries[0]["actor"], "eve");
    assert_eq!(
        entries[0]["text"],
        format!(
            "@eve published an external update (identified) (update {id}): Card payments fail for about 5 % of customers."
        )
    );
    assert_eq!(entries[0]["data"]["audience"], "external");
}

async fn bad_updates_are_refused_naming_the_field_and_nothing_is_written(server: TestServer) {
    let (tokens, r) = cast(&server).await;
    let path = format!("/api/v1/incidents/{r}/updates");
    let ian = &tokens["ian"];
    // A group that hears everything: a refused update must reach nobody.
    let group = json!({"name": "Everyone", "emails": ["all@example.com"], "priorities": ["P1", "P2", "P3", "P4"],
                       "audiences": ["internal", "external", "executive"]});
    server.post(ADMIN_TOKEN, "/api/v1/stakeholder-groups", group).await.ok(201);
    for (body, status, field) in [
        (json!({"audience": "everyone", "body": "x"}), 422, "audience"),
        (json!({"audience": "internal", "body": "   "}), 422, "body"),
        (json!({"audience": "external"}), 422, "body"),
        (json!({"audience": "internal", "form": {"overview": "x"}}), 422, "form.overview"),
        (json!({"audience": "internal", "body": "x", "status": "resolved"}), 422, "status"),
        (json!({"audience": "external", "body": "x", "status": "fixed"}), 422, "status"),
        (
            json!({"audience": "external", "body": "x", "components": [{"component": "api", "status": "major_outage"}]}),
            422,
            "components[0].component",
        ),
        (json!({"audience": "external", "body": "x", "next_update_in_minutes": 0}), 422, "next_update_in_minutes"),
        (json!({"audience": "external", "body": "x".repeat(10_001)}), 422, "body"),
    ] {
        let problem = server.post(ian, &path, body.clone()).await;
        let problem = problem.problem(status);
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    // Unknown fields and a missing audience are the JSON's.
    server.post(ian, &path, json!({"audience": "internal", "body": "x", "urgent": true})).await.problem(422);
    server.post(ian, &path, json!({"body": "x"})).await.problem(422);
    server.post(ian, "/api/v1/incidents/INC-999/updates", update("internal")).await.problem(404);
    server.post(ian, &format!("{path}/77/publish"), json!({})).await.problem(404);
    server.patch(ian, &format!("{path}/nope"), json!({"body": "x"})).await.problem(404);
    let listed = server.get(ian, &path).await;
    assert_eq!(listed.ok(200), &json!([]), "nothing was written");
    let jobs = server.get(ADMIN_TOKEN, "/api/v1/jobs").await.ok(200).to_string();
    assert!(!jobs.contains("all@example.com"), "nothing was sent: {jobs}");
}

async fn a_new_update_starts_from_the_last_one_and_an_external_one_from_nothing_internal(server: TestServer) {
    let (tokens, r) = cast(&server).await;
    let path = format!("/api/v1/incidents/{r}/updates");
    let theory = json!({"kind": "theory", "text": "the pool shrank after the deploy"});
    server.post(&tokens["ian"], &format!("/api/v1/incidents/{r}/timeline"), theory).await.ok(201);
    server.post(&tokens["cole"], &path, update("internal")).await.ok(201);
    let internal = server.get(&tokens["rita"], &format!("{path}/suggestion?audience=internal")).await;
    let internal = internal.ok(200);
    assert_eq!(internal["form"], json!({"conditions": "5 % of card payments fail", "needs": "a DBA"}), "{internal}");
    let body = internal["body"].as_str().unwrap();
    assert!(body.contains("IM @ian") && body.contains("- the pool shrank after the deploy"), "{body}");

    let external = server.get(&tokens["rita"], &format!("{path}/suggestion?audience=external")).await;
    let external = external.ok(200).clone();
    let text = external["body"].as_str().unwrap();
    for secret in ["Payments fail", "pool", "card payments", "@ian"] {
        assert!(!text.contains(secret), "{secret:?} in an external suggestion: {text}");
    }
    assert_eq!((external["status"].as_str(), external["form"].clone()), (Some("investigating"), json!({})));
    // From the latest external update, once there is one.
    server.post(&tokens["eve"], &path, update("external")).await.ok(201);
    let again = server.get(&tokens["rita"], &format!("{path}/suggestion?audience=external")).await;
    assert_eq!(again.ok(200)["body"], "Some card payments fail; we are on it.");
    let bad = server.get(&tokens["rita"], &format!("{path}/suggestion?audience=everyone")).await;
    assert_eq!(bad.problem(400)["field"], "audience", "a bad query is the query's");
}

/// The communications manager's clock, with an injected one.
mod cadence {
    use super::*;

    on_both_backends_with_manual_clock!(
        the_communications_manager_is_reminded_when_due_and_the_incident_manager_ten_minutes_later,
        the_next_update_is_due_on_the_cadence_from_declaration_and_publishing_and_snoozing_move_it,
        the_cadence_table_is_the_admins_and_refused_out_of_bounds_naming_the_cell,
    );

    /// A responder whose only contact method is a webhook to a fresh receiver.
    async fn on_webhook(server: &TestServer, handle: &str) -> (String, common::receiver::Receiver) {
        let token = server.user(handle, "responder").await;
        let (receiver, url) = common::receiver::Receiver::start(vec![]).await;
        let path = format!("/api/v1/users/{handle}/contact-methods");
        server.post(&token, &path, json!({"kind": "webhook", "address": url})).await.ok(201);
        (token, receiver)
    }

    /// The reminders of internal updates each receiver got: (due_at, overdue).
    fn reminders(r: &common::receiver::Receiver) -> Vec<(String, bool)> {
        r.bodies()
            .iter()
            .filter(|b| b["type"] == "update_reminder" && b["audience"] == "internal")
            .map(|b| (b["due_at"].as_str().unwrap().to_owned(), b["overdue"].as_bool().unwrap()))
            .collect()
    }

    /// The scenario: a P1 declared at t; no reminder at t+29 min;
    /// the internal communications manager reminded at t+30, the incident
    /// manager at t+40; publishing at t+41 makes the next due t+71, a
    /// snooze of 30 minutes at t+71 moves it to t+101; resolving stops it.
    /// Every step is on the timeline.
    async fn the_communications_manager_is_reminded_when_due_and_the_incident_manager_ten_minutes_later(
        server: TestServer,
        clock: Arc<ManualClock>,
    ) {
        let (cole, cole_hooks) = on_webhook(&server, "cole").await;
        let (_, ian_hooks) = on_webhook(&server, "ian").await;
        let r = p1_with_cole(&server).await;
        let to = |minute: i64| {
            let now: jiff::Timestamp = clock_now(&clock);
            let target: jiff::Timestamp = t(minute).parse().unwrap();
            clock.advance(target.duration_since(now).as_secs());
        };

        to(29);
        server.deliver_due().await;
        assert_eq!(reminders(&cole_hooks), [], "not before it is due");
        to(30);
        server.deliver_due().await;
        assert_eq!(reminders(&cole_hooks), [(t(30), false)], "the internal communications manager, when due");
        assert_eq!(reminders(&ian_hooks), [], "the incident manager only past the grace");
        to(40);
        server.deliver_due().await;
        assert_eq!(reminders(&ian_hooks), [(t(30), true)], "10 minutes overdue: the incident manager too");
        assert_eq!(reminders(&cole_hooks), [(t(30), false), (t(30), true)]);

        to(41);
        let path = format!("/api/v1/incidents/{r}/updates");
        server.post(&cole, &path, json!({"audience": "internal", "body": "Failing over the database."})).await.ok(201);
        to(70);
        server.deliver_due().await;
        assert_eq!(reminders(&cole_hooks).len(), 2, "publishing restarted the clock: due at t+71");
        to(71);
        server.deliver_due().await;
        assert_eq!(reminders(&cole_hooks).last(), Some(&(t(71), false)));
        let snoozed =
            server.post(&cole, &format!("{path}/snooze"), json!({"audience": "internal", "minutes": 30})).await;
        assert_eq!(snoozed.ok(200)["next_update_due"]["internal"]["at"], t(101));
        to(81);
        server.deliver_due().await;
        assert_eq!(reminders(&ian_hooks).len(), 1, "the snooze holds the incident manager's reminder too");
        to(101);
        server.deliver_due().await;
        assert_eq!(reminders(&cole_hooks).last(), Some(&(t(101), false)));
        server.patch(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}"), json!({"status": "resolved"})).await.ok(200);
        to(200);
        server.deliver_due().await;
        let (cole_total, ian_total) = (reminders(&cole_hooks).len(), reminders(&ian_hooks).len());
        assert_eq!((cole_total, ian_total), (4, 1), "resolving ended the reminders");

        let timeline = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline?limit=100")).await;
        let lines: Vec<String> = timeline
            .ok(200)
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().starts_with("update_"))
            .map(|e| format!("{} {}", e["kind"].as_str().unwrap(), e["text"].as_str().unwrap()))
            .collect();
        // Nobody handles external communications here: the incident manager is reminded of those.
        let external = format!("update_reminded The next external update was due at {}: reminded @ian", t(30));
        assert!(lines.contains(&external), "{lines:#?}");
        let internal: Vec<&String> = lines.iter().filter(|l| l.contains(" internal ")).collect();
        let kinds: Vec<&str> = internal.iter().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "update_reminded",
                "update_reminded",
                "update_published",
                "update_reminded",
                "update_snoozed",
                "update_reminded"
            ],
            "{lines:#?}"
        );
        assert!(internal[0].ends_with(&format!("was due at {}: reminded @cole", t(30))), "{}", internal[0]);
        assert!(internal[1].contains("and is overdue: reminded @cole, @ian"), "{}", internal[1]);
        assert!(internal[5].contains(&format!("was due at {}: reminded @cole", t(101))), "{}", internal[5]);
    }

    /// A P1 declared now (the manual clock's start, t) with @ian as incident
    /// manager and @cole as communications manager for internal updates.
    async fn p1_with_cole(server: &TestServer) -> String {
        let declare = json!({"title": "Payments fail", "priority": "P1", "incident_manager": "ian"});
        let r =
            server.post(ADMIN_TOKEN, "/api/v1/incidents", declare).await.ok(201)["ref"].as_str().unwrap().to_owned();
        let body = json!({"role": "communications_manager", "user": "cole", "scope": "internal"});
        server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/roles"), body).await.ok(201);
        r
    }

    /// t + `minutes`, as the API writes times.
    fn t(minutes: i64) -> String {
        let start: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        start.checked_add(jiff::SignedDuration::from_mins(minutes)).unwrap().to_string()
    }

    fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
        use muster_app::Clock;
        clock.now()
    }

    /// The clock of the scenario, as far as it is built: a P1 declared
    /// at t is due an internal update at t+30 min (overdue 10 at t+40);
    /// publishing at t+41 makes it t+71; a 30-minute snooze at t+60 makes it
    /// t+90; resolving ends it. Each step is on the timeline.
    async fn the_next_update_is_due_on_the_cadence_from_declaration_and_publishing_and_snoozing_move_it(
        server: TestServer,
        clock: Arc<ManualClock>,
    ) {
        let cole = server.user("cole", "responder").await;
        server.user("ian", "responder").await;
        let r = p1_with_cole(&server).await;
        clock.advance(29 * 60);
        let at29 = due(&server, &r).await;
        assert_eq!(at29["internal"], json!({"at": t(30), "overdue_minutes": 0}));
        assert_eq!(at29["external"], json!({"at": t(30), "overdue_minutes": 0}));
        assert_eq!(at29["executive"], json!({"at": t(60), "overdue_minutes": 0}));
        clock.advance(11 * 60);
        assert_eq!(due(&server, &r).await["internal"]["overdue_minutes"], 10);

        clock.advance(60);
        let path = format!("/api/v1/incidents/{r}/updates");
        server.post(&cole, &path, json!({"audience": "internal", "body": "Failing over the database."})).await.ok(201);
        let at41 = due(&server, &r).await;
        assert_eq!(at41["internal"], json!({"at": t(71), "overdue_minutes": 0}), "publishing restarts the clock");
        assert_eq!(at41["external"]["overdue_minutes"], 11, "the other audiences keep theirs");

        clock.advance(19 * 60);
        let snoozed =
            server.post(&cole, &format!("{path}/snooze"), json!({"audience": "internal", "minutes": 30})).await;
        assert_eq!(snoozed.ok(200)["next_update_due"]["internal"], json!({"at": t(90), "overdue_minutes": 0}));
        // External communications are not @cole's to snooze; 45 minutes is no snooze.
        let refused =
            server.post(&cole, &format!("{path}/snooze"), json!({"audience": "external", "minutes": 30})).await;
        assert!(
            refused.problem(403)["detail"]
                .as_str()
                .unwrap()
                .contains("the communications manager for external updates")
        );
        let odd = server.post(&cole, &format!("{path}/snooze"), json!({"audience": "internal", "minutes": 45})).await;
        assert_eq!(odd.problem(422)["field"], "minutes");

        let resolve = json!({"status": "resolved"});
        server.patch(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}"), resolve).await.ok(200);
        let after = due(&server, &r).await;
        assert_eq!(after, json!({"internal": null, "external": null, "executive": null}), "resolving ends every clock");
        let late = server.post(&cole, &format!("{path}/snooze"), json!({"audience": "internal", "minutes": 30})).await;
        late.problem(409);

        let timeline = server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/timeline?limit=100")).await;
        let kinds: Vec<String> =
            timeline.ok(200).as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
        let at = |k: &str| kinds.iter().position(|x| x == k).unwrap_or_else(|| panic!("no {k} in {kinds:?}"));
        assert!(at("update_published") < at("update_snoozed"), "{kinds:?}");
        assert!(at("update_snoozed") < kinds.iter().rposition(|k| k == "status_changed").unwrap(), "{kinds:?}");
    }

    async fn the_cadence_table_is_the_admins_and_refused_out_of_bounds_naming_the_cell(
        server: TestServer,
        _clock: Arc<ManualClock>,
    ) {
        let rita = server.user("rita", "responder").await;
        let table = server.get(&rita, "/api/v1/settings/update-cadence").await.ok(200).clone();
        assert_eq!(table["internal"]["P1"], json!({"active": 30, "monitoring": 60}));
        assert_eq!(table["executive"]["P2"], json!({"active": 240, "monitoring": 240}));
        assert_eq!(table["escalate_after_minutes"], 10);
        let mut faster = table.clone();
        faster["internal"]["P3"] = json!({"active": 120, "monitoring": 240});
        server.put(&rita, "/api/v1/settings/update-cadence", faster.clone()).await.problem(403);
        assert_eq!(server.put(ADMIN_TOKEN, "/api/v1/settings/update-cadence", faster.clone()).await.ok(200), &faster);
        let p3 = server
            .post(ADMIN_TOKEN, "/api/v1/incidents", json!({"title": "Search slow", "priority": "P3"}))
            .await
            .ok(201)["next_update_due"]
            .clone();
        assert_eq!(p3["internal"]["at"], "2026-11-27T12:00:00Z", "the admins' table, not the default");
        assert_eq!(p3["external"], Value::Null);
        let mut zero = faster.clone();
        zero["external"]["P1"]["active"] = json!(0);
        let refused = server.put(ADMIN_TOKEN, "/api/v1/settings/update-cadence", zero).await;
        assert_eq!(refused.problem(422)["field"], "external.P1.active");
        assert_eq!(server.get(&rita, "/api/v1/settings/update-cadence").await.ok(200), &faster, "nothing was written");
    }

    /// The incident's `next_update_due`.
    async fn due(server: &TestServer, r: &str) -> Value {
        server.get(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}")).await.ok(200)["next_update_due"].clone()
    }
}
