//! After-the-incident benchmarks: the real server in-process on 127.0.0.1,
//! on SQLite (a temporary file) and, when `MUSTER_TEST_POSTGRES_URL` is
//! set, on PostgreSQL.
//!
//! 1. The postmortem of an incident with `MUSTER_BENCH_ENTRIES` (10,000)
//!    timeline entries — notes, theories judged, decisions, actions,
//!    follow-ups, highlights, milestones — read `MUSTER_BENCH_READS` times
//!    as JSON and as Markdown (each read gathers every fact from the whole
//!    timeline).
//! 2. Insights over `MUSTER_BENCH_INCIDENTS` (10,000) resolved incidents,
//!    each with a tech lead, read `MUSTER_BENCH_INSIGHT_READS` times.
//!
//! Run: `MUSTER_TEST_POSTGRES_URL=postgres://… cargo bench -p muster-server --bench postmortem`
//! (`MUSTER_BENCH_BACKENDS=sqlite` for one backend). Latencies are
//! client-side round trips over loopback HTTP. See docs/PERFORMANCE.md.

mod common;

use std::time::Instant;

use common::{Stats, env_usize};
use muster_app::EntryInput;
use muster_domain::timeline::{EntryKind, MilestoneTag};
use muster_domain::{Actor, Handle, IncidentRef};
use muster_store::testing::Backend;
use serde_json::{Value, json};

const TOKEN: &str = "bench-admin-token-0123456789abcdef";

async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let mut req = http.request(method.clone(), url).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let response = req.send().await.unwrap_or_else(|e| panic!("{method} {url} was not answered: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {url}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

async fn timed_get(http: &reqwest::Client, url: &str, warmup: usize, reads: usize) -> Stats {
    common::timed(warmup, reads, || async {
        call(http, reqwest::Method::GET, url, None).await;
    })
    .await
}

fn row(backend: &str, what: &str, s: &Stats) {
    println!("| {backend} | {what} | {} | {:.1} | {:.1} | {:.1} | {:.1} |", s.count, s.p50, s.p90, s.p99, s.max);
}

async fn postmortem_of_a_long_incident(s: &common::Server, backend: &str, entries: usize, reads: usize) {
    let base = &s.base;
    let incident = call(
        &s.http,
        reqwest::Method::POST,
        &format!("{base}/api/v1/incidents"),
        Some(json!({"title": "a long incident", "priority": "P1"})),
    )
    .await;
    let number = incident["number"].as_u64().unwrap();
    let r = IncidentRef(number);
    let admin: Actor = s.app.user(&Handle::parse("admin").unwrap()).await.unwrap().actor();
    let started = Instant::now();
    let mark = |tag: MilestoneTag, text: &str| EntryInput {
        kind: EntryKind::Milestone,
        text: text.into(),
        tag: Some(tag),
        corrects: None,
        occurred_at: None,
        workstream: None,
    };
    s.app.add_entry(&admin, r, mark(MilestoneTag::Detected, "the alert fired")).await.unwrap();
    let have = incident["version"].as_u64().unwrap_or(0) as usize + 1;
    for n in have..entries {
        let kind = match n % 20 {
            0 => EntryKind::Theory,
            1 => EntryKind::Decision,
            2 => EntryKind::Action,
            _ => EntryKind::Note,
        };
        let text = format!("entry {n}: replica lag on db-{} still climbing; next look in five minutes", n % 7);
        let e = s
            .app
            .add_entry(
                &admin,
                r,
                EntryInput { kind, text, tag: None, corrects: None, occurred_at: None, workstream: None },
            )
            .await
            .unwrap();
        if n % 200 == 0 {
            let theory = s.app.theories(r).await.unwrap().last().map(|t| t.seq);
            if let Some(t) = theory {
                let status = if n % 400 == 0 { "confirmed" } else { "ruled_out" };
                let url = format!("{base}/api/v1/incidents/INC-{number}/theories/{t}/status");
                call(&s.http, reqwest::Method::POST, &url, Some(json!({"status": status, "evidence": "the graphs"})))
                    .await;
            }
            let url = format!("{base}/api/v1/incidents/INC-{number}/timeline/{}/highlight", e.seq);
            call(&s.http, reqwest::Method::POST, &url, Some(json!({}))).await;
        }
        if n % 1000 == 0 {
            let url = format!("{base}/api/v1/incidents/INC-{number}/actions");
            let body = json!({"text": format!("follow-up {n}"), "owner": "admin", "due_at": "2027-01-01T00:00:00Z", "follow_up": true});
            call(&s.http, reqwest::Method::POST, &url, Some(body)).await;
        }
    }
    let path = format!("{base}/api/v1/incidents/INC-{number}");
    call(&s.http, reqwest::Method::PATCH, &path, Some(json!({"status": "resolved"}))).await;
    eprintln!("{backend}: {entries} entries written in {:.1} s", started.elapsed().as_secs_f64());
    let drafted = Instant::now();
    call(&s.http, reqwest::Method::POST, &format!("{path}/postmortem"), Some(json!({}))).await;
    let draft = Stats::of(&[drafted.elapsed()]);
    row(backend, &format!("POST postmortem (draft, {entries} entries)"), &draft);
    let json = timed_get(&s.http, &format!("{path}/postmortem"), 3, reads).await;
    row(backend, &format!("GET postmortem JSON ({entries} entries)"), &json);
    let md = timed_get(&s.http, &format!("{path}/postmortem.md"), 3, reads).await;
    row(backend, &format!("GET postmortem.md ({entries} entries)"), &md);
}

async fn insights_over_many_incidents(s: &common::Server, backend: &str, incidents: usize, reads: usize) {
    let base = s.base.clone();
    call(
        &s.http,
        reqwest::Method::POST,
        &format!("{base}/api/v1/users"),
        Some(json!({"handle": "lead", "name": "Lead", "email": "lead@example.com"})),
    )
    .await;
    let started = Instant::now();
    let workers = 8;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let http = s.http.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            for n in (w..incidents).step_by(workers) {
                let p = ["P1", "P2", "P3", "P4"][n % 4];
                let i = call(
                    &http,
                    reqwest::Method::POST,
                    &format!("{base}/api/v1/incidents"),
                    Some(json!({"title": format!("incident {n}"), "priority": p})),
                )
                .await;
                let r = i["ref"].as_str().unwrap().to_owned();
                let role = json!({"role": "tech_lead", "user": "lead"});
                call(&http, reqwest::Method::POST, &format!("{base}/api/v1/incidents/{r}/roles"), Some(role)).await;
                let status = json!({"status": "resolved"});
                call(&http, reqwest::Method::PATCH, &format!("{base}/api/v1/incidents/{r}"), Some(status)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!("{backend}: {incidents} incidents made in {:.1} s", started.elapsed().as_secs_f64());
    let all = timed_get(&s.http, &format!("{base}/api/v1/insights"), 2, reads).await;
    row(backend, &format!("GET insights ({incidents} incidents)"), &all);
    let csv = timed_get(&s.http, &format!("{base}/api/v1/insights.csv?priority=P1"), 2, reads).await;
    row(backend, &format!("GET insights.csv?priority=P1 ({} incidents)", incidents / 4), &csv);
}

#[tokio::main]
async fn main() {
    let entries = env_usize("MUSTER_BENCH_ENTRIES", 10_000).max(100);
    let reads = env_usize("MUSTER_BENCH_READS", 50).max(1);
    let incidents = env_usize("MUSTER_BENCH_INCIDENTS", 10_000).max(10);
    let insight_reads = env_usize("MUSTER_BENCH_INSIGHT_READS", 20).max(1);
    println!("| Backend | What | n | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for backend in common::backends_from_env() {
        let name = match backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        let http = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap();
        let Some(s) = common::Server::start(backend, TOKEN, http.clone()).await else { continue };
        postmortem_of_a_long_incident(&s, name, entries, reads).await;
        s.stop().await;
        let Some(s) = common::Server::start(backend, TOKEN, http).await else { continue };
        insights_over_many_incidents(&s, name, incidents, insight_reads).await;
        s.stop().await;
    }
}
