//! Several `muster serve` instances on one PostgreSQL database share the
//! paging work: jobs are claimed with `FOR UPDATE SKIP LOCKED` and
//! instances wake each other with `LISTEN`/`NOTIFY`. One is killed with
//! SIGKILL while pages escalate; the other finishes every page, and nothing
//! recorded as delivered is sent twice.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::pages::{Receiver, check_deliveries, setup, trigger, wait_until_done};
use common::{ADMIN, Server};
use muster_store::testing::{Backend, TestDatabase};

const ALERTS: usize = 30;

#[tokio::test]
async fn two_instances_share_the_pages_and_one_finishes_when_the_other_is_killed() {
    // Only PostgreSQL runs several instances; without it configured this
    // skips loudly (and fails under CI=true).
    let Some(db) = TestDatabase::new(Backend::Postgres).await else { return };
    tokio::task::spawn_blocking(move || run(db)).await.unwrap();
}

fn run(db: TestDatabase) {
    // The receiver is on 127.0.0.1, which webhooks may reach only when allowed.
    let args = ["--job-lease-seconds", "2", "--webhook-allow", "127.0.0.1/32"];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (receiver, hook) = rt.block_on(Receiver::start());
    let a = Server::start_with(&db.url, Some(ADMIN), &args);
    let b = Server::start_with(&db.url, Some(ADMIN), &args);
    let (url_a, url_b) = (a.url.clone(), b.url.clone());

    rt.block_on(async {
        let key = setup(&http, &url_a, &hook).await;
        for i in 0..ALERTS {
            // Alerts reach both instances, as behind a load balancer.
            let url = if i % 2 == 0 { &url_a } else { &url_b };
            assert!(trigger(&http, url, &key, &format!("alert-{i}")).await);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while receiver.total() < ALERTS as u32 + 10 {
            assert!(Instant::now() < deadline, "escalations never got going");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    a.kill();
    let killed_at = SystemTime::now();
    assert!(receiver.total() < (ALERTS as u32) * 4, "the kill came after everything was delivered");

    rt.block_on(async {
        wait_until_done(&http, &url_b, &receiver, ALERTS, Duration::from_secs(60)).await;
        let twice = check_deliveries(&http, &url_b, &receiver, killed_at).await;
        assert!(twice <= 32, "{twice} deliveries were repeated: more than one claim's worth in flight");
    });
    drop(b);
}
