//! Insights over 200 incidents made through the API on a manual clock,
//! each with durations that follow from its number, so every figure the
//! insights give is worked out here independently (nearest-rank medians
//! and 90th percentiles, means rounded down), on both backends, as JSON
//! and as CSV: the pages that reached Carol at night and on weekends on
//! her clock (Tokyo), and the noisiest alerts.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::receiver::Receiver;
use common::{ManualClock, TestServer};
use muster_app::Clock;
use serde_json::{Value, json};

mod manual {
    use super::*;
    on_both_backends_with_manual_clock!(
        insights_over_two_hundred_generated_incidents_give_every_number_worked_out_by_hand,
    );
}

/// What incident `i` (0-based) goes through, in minutes.
struct Plan {
    priority: &'static str,
    /// The impact started this long before the declaration.
    started_before: i64,
    /// Mitigated (moved to monitoring) this long after the declaration.
    mitigated_after: Option<i64>,
    /// Resolved this long after the mitigation (or the declaration).
    resolved_after: Option<i64>,
    /// Bob is tech lead from the declaration.
    tech_lead: bool,
    /// Carol is paged.
    paged: bool,
    /// A follow-up: `Some(true)` already overdue at the end, `Some(false)` due later.
    follow_up: Option<bool>,
}

fn plan(i: i64) -> Plan {
    Plan {
        priority: ["P1", "P2", "P3", "P4"][(i % 4) as usize],
        started_before: i % 5,
        mitigated_after: (i % 10 != 9).then_some(i % 13 + 1),
        resolved_after: (i % 20 != 19).then_some(i % 7 + 1),
        tech_lead: i % 2 == 0,
        paged: i % 25 == 0,
        follow_up: (i % 40 == 0).then_some(i % 80 == 0),
    }
}

/// Nearest rank, as the README defines it.
fn rank(mut v: Vec<i64>, q: f64) -> Option<i64> {
    v.sort();
    if v.is_empty() {
        return None;
    }
    let r = ((q * v.len() as f64).ceil() as usize).max(1);
    Some(v[r - 1])
}

fn stat(v: Vec<i64>) -> Value {
    let mean = if v.is_empty() { None } else { Some(v.iter().sum::<i64>() / v.len() as i64) };
    json!({"count": v.len(), "median": rank(v.clone(), 0.5), "p90": rank(v, 0.9), "mean": mean})
}

async fn insights_over_two_hundred_generated_incidents_give_every_number_worked_out_by_hand(
    server: TestServer,
    clock: Arc<ManualClock>,
) {
    let alice = server.user("alice", "responder").await;
    server.user("bob", "responder").await;
    let carol = server.user("carol", "responder").await;
    let (_hook, url) = Receiver::start(vec![]).await;
    server
        .post(&carol, "/api/v1/users/carol/contact-methods", json!({"kind": "webhook", "address": url}))
        .await
        .ok(201);
    // Carol lives in Tokyo (the name as she typed it; kept as the database spells it).
    let zone = server.patch(&carol, "/api/v1/users/carol", json!({"time_zone": "asia/tokyo"})).await.ok(200).clone();
    assert_eq!(zone["time_zone"], "Asia/Tokyo");
    let bad = server.patch(&carol, "/api/v1/users/carol", json!({"time_zone": "Mars/Olympus"})).await;
    assert_eq!(bad.problem(422)["field"], "time_zone");
    server.patch(&alice, "/api/v1/users/carol", json!({"time_zone": null})).await.problem(403);
    assert_eq!(clock.now().to_string(), "2026-11-27T10:00:00Z", "a Friday: the page times below follow from it");

    let (mut ack, mut mitigate, mut resolve) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_role: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    let mut unresolved: Vec<i64> = Vec::new(); // declared at (second), still open at the end
    let mut declared_at: Vec<String> = Vec::new();
    let (mut paged, mut open_follow_ups, mut overdue_follow_ups) = (0, 0, 0);
    for i in 0..200i64 {
        let p = plan(i);
        let n = i + 1;
        declared_at.push(
            server
                .post(&alice, "/api/v1/incidents", json!({"title": format!("Incident {n}"), "priority": p.priority}))
                .await
                .ok(201)["declared_at"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let path = format!("/api/v1/incidents/INC-{n}");
        let start = clock.now().as_second() - p.started_before * 60;
        if p.started_before > 0 {
            let at = jiff::Timestamp::from_second(start).unwrap().to_string();
            let m = json!({"kind": "milestone", "tag": "started", "text": "first errors", "occurred_at": at});
            server.post(&alice, &format!("{path}/timeline"), m).await.ok(201);
        }
        // Declared by a person: acknowledged at the declaration.
        ack.push(p.started_before * 60);
        if p.tech_lead {
            server.post(&alice, &format!("{path}/roles"), json!({"role": "tech_lead", "user": "bob"})).await.ok(201);
        }
        if p.paged {
            let page = json!({"target": {"user": "carol"}, "message": "look at this"});
            server.post(&alice, &format!("{path}/pages"), page).await.ok(201);
            server.deliver_due().await;
            paged += 1;
        }
        if let Some(overdue) = p.follow_up {
            // Due a day before the last incident, or long after it.
            let due = if overdue { "2026-12-04T00:00:00Z" } else { "2027-06-01T00:00:00Z" };
            let f = json!({"text": "fix it for good", "owner": "alice", "due_at": due, "follow_up": true});
            server.post(&alice, &format!("{path}/actions"), f).await.ok(201);
            open_follow_ups += 1;
            overdue_follow_ups += overdue as i32;
        }
        let declared = clock.now().as_second();
        let mut elapsed = 0;
        if let Some(m) = p.mitigated_after {
            clock.advance(m * 60);
            elapsed += m * 60;
            server.patch(&alice, &path, json!({"status": "monitoring"})).await.ok(200);
            mitigate.push(p.started_before * 60 + elapsed);
        }
        match p.resolved_after {
            Some(r) => {
                clock.advance(r * 60);
                elapsed += r * 60;
                server.patch(&alice, &path, json!({"status": "resolved"})).await.ok(200);
                resolve.push(p.started_before * 60 + elapsed);
                *in_role.entry("alice").or_default().entry("first_responder").or_default() += elapsed;
                *in_role.entry("alice").or_default().entry("incident_manager").or_default() += elapsed;
                if p.tech_lead {
                    *in_role.entry("bob").or_default().entry("tech_lead").or_default() += elapsed;
                }
            }
            None => {
                assert!(!p.tech_lead, "the plan keeps tech leads on resolved incidents");
                unresolved.push(declared);
            }
        }
        clock.advance(3600 - elapsed);
    }
    // Roles still held count up to now.
    let now = clock.now().as_second();
    for declared in &unresolved {
        *in_role.entry("alice").or_default().entry("first_responder").or_default() += now - declared;
        *in_role.entry("alice").or_default().entry("incident_manager").or_default() += now - declared;
    }

    let got = server.get(&alice, "/api/v1/insights").await.ok(200).clone();
    assert_eq!(got["incidents"], 200);
    assert_eq!(got["by_priority"], json!({"P1": 50, "P2": 50, "P3": 50, "P4": 50}));
    assert_eq!(
        got["by_status"],
        json!({"investigating": 10, "resolved": 190}),
        "19, 39, … never mitigated nor resolved"
    );
    assert_eq!(got["auto_declared"], 0);
    assert_eq!(got["to_acknowledge"], stat(ack.clone()));
    assert_eq!(got["to_mitigate"], stat(mitigate.clone()));
    assert_eq!(got["to_resolve"], stat(resolve.clone()));
    assert_eq!((got["to_mitigate"]["count"].as_u64(), got["to_resolve"]["count"].as_u64()), (Some(180), Some(190)));
    assert_eq!(got["pages_per_person"], json!({"carol": paged}));
    assert_eq!(paged, 8);
    // Incident i is declared i hours after Friday 10:00 UTC, and Carol is
    // paged at once in incidents 0, 25, …, 175. In Tokyo (UTC+9) that is
    // Fri 19:00, Sat 20:00, Sun 21:00 (days), Mon 22:00, Tue 23:00,
    // Thu 00:00, Fri 01:00, Sat 02:00 (nights): five at night, three on a
    // weekend. On UTC it would be none at night and two on a weekend.
    assert_eq!(got["pages_at_night"], json!({"carol": 5}));
    assert_eq!(got["pages_on_weekends"], json!({"carol": 3}));
    assert_eq!(got["seconds_in_role"], json!(in_role));
    assert_eq!(
        (got["follow_ups_open"].as_i64(), got["follow_ups_overdue"].as_i64()),
        (Some(open_follow_ups), Some(overdue_follow_ups as i64))
    );
    assert_eq!((open_follow_ups, overdue_follow_ups), (5, 3));
    assert_eq!(got["overdue_updates"], 0);
    assert_eq!(got["incidents_per_service"], json!({}));
    assert_eq!(got["alerts_per_service"], json!({}), "no alerts yet");
    assert_eq!(got["noisiest_alerts"], json!([]));

    // Alerts after the incidents: 5xx on checkout takes three events,
    // resolves and fires again twice; latency once; slow on search twice.
    let checkout = server.service("checkout", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let search = server.service("search", json!({})).await["integration_key"].as_str().unwrap().to_owned();
    let server = &server;
    let send = |key: &str, body: Value| {
        let path = format!("/api/v1/integrations/generic/{key}");
        async move { server.ingest(&path, &body).await.ok(202).clone() }
    };
    let fire = |key: &str| json!({"summary": format!("{key} is failing"), "severity": "error", "dedup_key": key});
    for _ in 0..3 {
        send(&checkout, fire("5xx")).await;
    }
    send(&checkout, json!({"action": "resolve", "dedup_key": "5xx"})).await;
    clock.advance(60);
    send(&checkout, fire("5xx")).await;
    send(&checkout, fire("5xx")).await;
    send(&checkout, fire("latency")).await;
    send(&search, fire("slow")).await;
    send(&search, fire("slow")).await;
    let got = server.get(&alice, "/api/v1/insights").await.ok(200).clone();
    assert_eq!(got["alerts_per_service"], json!({"checkout": 3, "search": 1}));
    let noisy: Vec<(String, u64, u64)> = got["noisiest_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                format!("{}/{}", n["service"].as_str().unwrap(), n["dedup_key"].as_str().unwrap()),
                n["events"].as_u64().unwrap(),
                n["alerts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(noisy, [("checkout/5xx".into(), 5, 2), ("search/slow".into(), 2, 1), ("checkout/latency".into(), 1, 1)]);
    assert_eq!(got["noisiest_alerts"][0]["summary"], "5xx is failing");
    let one = server.get(&alice, "/api/v1/insights?service=search").await.ok(200).clone();
    assert_eq!(one["alerts_per_service"], json!({"search": 1}));
    assert_eq!(one["incidents"], 0, "no incident had a search alert");

    // A span and a priority narrow it; the numbers follow.
    let from = &declared_at[100];
    let later = server.get(&alice, &format!("/api/v1/insights?from={from}&priority=P1")).await.ok(200).clone();
    assert_eq!(later["incidents"], 25, "100..200, one in four");
    let p1_later: Vec<i64> = (100..200).filter(|i| i % 4 == 0).map(|i| plan(i).started_before * 60).collect();
    assert_eq!(later["to_acknowledge"], stat(p1_later));
    let to = &declared_at[10];
    let first = server.get(&alice, &format!("/api/v1/insights?to={to}")).await.ok(200).clone();
    assert_eq!(first["incidents"], 10);
    assert_eq!(first["alerts_per_service"], json!({}), "the alerts came after the span");
    server.get(&alice, "/api/v1/insights?from=yesterday").await.problem(422);

    // The CSV says the same, one number a row.
    let csv = server.get(&alice, "/api/v1/insights.csv").await.ok(200).as_str().unwrap().to_owned();
    let rows: BTreeMap<(String, String), String> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.splitn(3, ',');
            ((f.next().unwrap().to_owned(), f.next().unwrap().to_owned()), f.next().unwrap().to_owned())
        })
        .collect();
    assert!(csv.starts_with("section,key,value\r\n"), "{csv}");
    assert_eq!(rows[&("incidents".into(), "all".into())], "200");
    assert_eq!(rows[&("to_resolve".into(), "median_seconds".into())], got["to_resolve"]["median"].to_string());
    assert_eq!(rows[&("to_mitigate".into(), "p90_seconds".into())], got["to_mitigate"]["p90"].to_string());
    assert_eq!(rows[&("seconds_in_role".into(), "bob/tech_lead".into())], in_role["bob"]["tech_lead"].to_string());
    assert_eq!(rows[&("follow_ups".into(), "overdue".into())], "3");
    assert_eq!(rows[&("pages_at_night".into(), "carol".into())], "5");
    assert_eq!(rows[&("pages_on_weekends".into(), "carol".into())], "3");
    assert_eq!(rows[&("alerts_per_service".into(), "checkout".into())], "3");
    assert_eq!(rows[&("noisiest_alerts".into(), "checkout/5xx: 5xx is failing".into())], "5");
}
