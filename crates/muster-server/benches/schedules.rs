//! Schedule benchmarks: the largest schedules and a year of their shifts.
//!
//! 1. The domain alone (`Schedule::shifts`, no server), a 366-day listing of:
//!    the largest schedule the API takes (20 layers, 50 restriction windows
//!    in all); 20 layers of 50 windows each (1,000 windows, twenty times the
//!    limit, as a schedule stored before the limits could be); and the
//!    issue's attack, one layer of 1,440 overlapping windows.
//!    `MUSTER_BENCH_READS` runs each (default 20) after a warm-up.
//! 2. Over HTTP, on SQLite and PostgreSQL: generic ingest latency alone,
//!    then while `MUSTER_BENCH_LISTERS` clients (default 4) list the largest
//!    allowed schedule's 366 days of shifts back to back, for
//!    `MUSTER_BENCH_SECONDS` each (default 5). Shows that ingest keeps
//!    answering while shifts are computed (off the runtime's threads).
//!
//! Run: `MUSTER_TEST_POSTGRES_URL=postgres://… cargo bench -p muster-server --bench schedules`.
//! `MUSTER_BENCH_BACKENDS=sqlite` (or `postgres`) runs only one backend.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Stats, env_usize};
use jiff::civil::{Time, Weekday};
use muster_domain::schedule::{Layer, Rotation, Schedule, Window, time_zone};
use muster_domain::{Handle, Timestamp};
use serde_json::{Value, json};

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const FROM: &str = "2026-03-23T00:00:00Z";
const TO: &str = "2027-03-24T00:00:00Z";
const DAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];
const NAMES: [&str; 5] = ["alice", "bob", "carol", "dan", "erin"];

fn hm(h: i64, m: i64) -> Time {
    Time::new((h.rem_euclid(24)) as i8, (m.rem_euclid(60)) as i8, 0, 0).unwrap()
}

/// Window `w` of layer `l`: staggered working hours on a few weekdays,
/// some past midnight, so edges differ from layer to layer.
fn window(l: i64, w: i64) -> Window {
    let days = (0..7).filter(|d| (d + l + w) % 3 != 0).map(|d| DAYS[d as usize]).collect();
    Window { days, start: hm(6 + (w + l) % 12, (7 * w + l) % 60), end: hm(14 + (w * 5 + l) % 12, (11 * w) % 60) }
}

fn layer(l: i64, windows: i64) -> Layer {
    Layer {
        rotation: Rotation {
            users: (0..3).map(|i| Handle::parse(NAMES[((l + i) % 5) as usize]).unwrap()).collect(),
            shift: ["8h", "12h", "1d", "1w"][(l % 4) as usize].parse().unwrap(),
            handoff: hm(9 + l % 3, 30 * (l % 2)),
            start: "2026-01-05".parse().unwrap(),
        },
        restrict: (0..windows).map(|w| window(l, w)).collect(),
    }
}

/// 20 layers: the first unrestricted (someone is always on call), the
/// others sharing `windows` restriction windows.
fn largest_allowed() -> Schedule {
    let per = muster_domain::limits::MAX_WINDOWS as i64 / 19;
    let mut spare = muster_domain::limits::MAX_WINDOWS as i64 % 19;
    let layers = (0..muster_domain::limits::MAX_LAYERS as i64)
        .map(|l| {
            if l == 0 {
                return layer(0, 0);
            }
            let extra = i64::from(spare > 0);
            spare -= extra;
            layer(l, per + extra)
        })
        .collect();
    Schedule { time_zone: time_zone("Europe/Berlin").unwrap(), layers, overrides: vec![] }
}

fn twenty_by_fifty() -> Schedule {
    let layers = (0..20).map(|l| layer(l, if l == 0 { 0 } else { 50 })).collect();
    Schedule { time_zone: time_zone("Europe/Berlin").unwrap(), layers, overrides: vec![] }
}

fn minute_windows() -> Schedule {
    let mut l = layer(0, 0);
    l.restrict =
        (0..1440).map(|m| Window { days: vec![], start: hm(m / 60, m % 60), end: hm(m / 60 + 8, m % 60) }).collect();
    Schedule { time_zone: time_zone("Europe/Berlin").unwrap(), layers: vec![layer(1, 0), l], overrides: vec![] }
}

fn domain(name: &str, schedule: &Schedule, reads: usize) {
    let (from, to): (Timestamp, Timestamp) = (FROM.parse().unwrap(), TO.parse().unwrap());
    let shifts = schedule.shifts(from, to).expect("within the step budget");
    let mut samples = Vec::new();
    for _ in 0..reads {
        let t = Instant::now();
        std::hint::black_box(schedule.shifts(from, to).unwrap());
        samples.push(t.elapsed());
    }
    let s = Stats::of(&samples);
    let windows: usize = schedule.layers.iter().map(|l| l.restrict.len()).sum();
    println!(
        "| {name} | {} | {windows} | {} | {:.1} | {:.1} | {:.1} |",
        schedule.layers.len(),
        shifts.len(),
        s.p50,
        s.p90,
        s.max
    );
}

fn schedule_json(s: &Schedule) -> Value {
    json!({"name": "largest", "time_zone": "Europe/Berlin", "layers": s.layers})
}

async fn ingest_latencies(server: &common::Server, key: &str, seconds: u64, offset: usize) -> Vec<Duration> {
    let url = format!("{}/api/v1/integrations/generic/{key}", server.base);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut samples = Vec::new();
    let mut i = offset;
    while Instant::now() < end {
        let body = json!({"summary": format!("disk {i}"), "dedup_key": format!("d{i}"), "severity": "info"});
        let t = Instant::now();
        let r = server.http.post(&url).json(&body).send().await.expect("ingest answers");
        assert_eq!(r.status(), 202, "ingest accepted");
        samples.push(t.elapsed());
        i += 1;
    }
    samples
}

async fn over_http(backend: muster_store::testing::Backend, listers: usize, seconds: u64) {
    let http = reqwest::Client::new();
    let Some(server) = common::Server::start(backend, TOKEN, http.clone()).await else {
        println!("{backend:?}: not configured, skipped");
        return;
    };
    for name in NAMES {
        let body = json!({"handle": name, "name": name, "email": format!("{name}@example.com")});
        let r = http.post(format!("{}/api/v1/users", server.base)).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = http
        .post(format!("{}/api/v1/schedules", server.base))
        .bearer_auth(TOKEN)
        .json(&schedule_json(&largest_allowed()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the largest allowed schedule is taken");
    let id = r.json::<Value>().await.unwrap()["id"].clone();
    let r = http
        .post(format!("{}/api/v1/services", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap();
    let key = r.json::<Value>().await.unwrap()["integration_key"].as_str().unwrap().to_owned();

    ingest_latencies(&server, &key, 1, 0).await;
    let alone = Stats::of(&ingest_latencies(&server, &key, seconds, 1_000_000).await);

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/api/v1/schedules/{id}/shifts?from={FROM}&to={TO}", server.base);
    let mut tasks = Vec::new();
    for _ in 0..listers {
        let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let loaded = Stats::of(&ingest_latencies(&server, &key, seconds, 2_000_000).await);
    stop.store(true, Ordering::Relaxed);
    let mut listings = Vec::new();
    for t in tasks {
        listings.extend(t.await.unwrap());
    }
    let listings = Stats::of(&listings);
    let row = |what: &str, s: &Stats| {
        println!("| {backend:?} | {what} | {} | {:.2} | {:.2} | {:.2} | {:.2} |", s.count, s.p50, s.p90, s.p99, s.max);
    };
    row("ingest, alone", &alone);
    row(&format!("ingest, while {listers} clients list shifts"), &loaded);
    row("366-day shift listing over HTTP, meanwhile", &listings);
    server.stop().await;
}

#[tokio::main]
async fn main() {
    let reads = env_usize("MUSTER_BENCH_READS", 20).max(1);
    let listers = env_usize("MUSTER_BENCH_LISTERS", 4).max(1);
    let seconds = env_usize("MUSTER_BENCH_SECONDS", 5).max(1) as u64;
    println!("366 days of shifts, the domain alone ({reads} runs each):\n");
    println!("| schedule | layers | windows | shifts | p50 ms | p90 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    domain("largest allowed", &largest_allowed(), reads);
    domain("20 x 50 windows (over the limit)", &twenty_by_fifty(), reads);
    domain("1,440 overlapping windows (over the limit)", &minute_windows(), reads);
    println!("\nIngest (generic hook, one client) with and without shift listings, {seconds} s each:\n");
    println!("| backend | what | requests | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for backend in common::backends_from_env() {
        over_http(backend, listers, seconds).await;
    }
}
