//! Crash safety of paging: `muster serve` is killed with SIGKILL while pages
//! escalate (steps every second) and started again. Every step of every
//! page is delivered at least once, and no delivery recorded as done before
//! the kill is sent again. The ambiguous case — a webhook the receiver got
//! whose recording the kill prevented — is delivered again after the lease
//! (2 s here) runs out, with the same `Idempotency-Key`.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::pages::{Receiver, check_deliveries, setup, trigger, wait_until_done};
use common::{ADMIN, Server};
use muster_store::testing::TestDatabase;

on_both_backends!(a_sigkill_during_escalations_loses_no_page_and_resends_nothing_recorded_as_delivered);

const ALERTS: usize = 30;

fn a_sigkill_during_escalations_loses_no_page_and_resends_nothing_recorded_as_delivered(db: TestDatabase) {
    // The receiver is on 127.0.0.1, which webhooks may reach only when allowed.
    let args = ["--job-lease-seconds", "2", "--webhook-allow", "127.0.0.1/32,::1"];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (receiver, hook) = rt.block_on(Receiver::start());

    let server = Server::start_with(&db.url, Some(ADMIN), &args);
    let url = server.url.clone();
    rt.block_on(async {
        let key = setup(&http, &url, &hook).await;
        for i in 0..ALERTS {
            assert!(trigger(&http, &url, &key, &format!("alert-{i}")).await);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // Kill in the middle: some steps delivered, most still to come.
        let deadline = Instant::now() + Duration::from_secs(30);
        while receiver.total() < ALERTS as u32 + 10 {
            assert!(Instant::now() < deadline, "escalations never got going");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    server.kill();
    let killed_at = SystemTime::now();
    let before = receiver.total();
    assert!(before < (ALERTS as u32) * 4, "the kill came after everything was delivered");

    let server = Server::start_with(&db.url, Some(ADMIN), &args);
    let url = server.url.clone();
    rt.block_on(async {
        wait_until_done(&http, &url, &receiver, ALERTS, Duration::from_secs(60)).await;
        let twice = check_deliveries(&http, &url, &receiver, killed_at).await;
        assert!(twice <= 32, "{twice} deliveries were repeated: more than one claim's worth in flight");
    });
}
