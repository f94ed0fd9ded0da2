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

on_both_backends!(
    a_sigkill_during_escalations_loses_no_page_and_resends_nothing_recorded_as_delivered,
    a_sigkill_during_a_storm_of_batched_steps_loses_no_page_and_resends_nothing_recorded_as_delivered,
);

fn a_sigkill_during_escalations_loses_no_page_and_resends_nothing_recorded_as_delivered(db: TestDatabase) {
    kill_while_paging(db, 30, Duration::from_millis(30));
}

/// A storm: every alert at once, so the engine claims, moves pages and
/// records deliveries in batches (one transaction for many) when it dies.
fn a_sigkill_during_a_storm_of_batched_steps_loses_no_page_and_resends_nothing_recorded_as_delivered(db: TestDatabase) {
    kill_while_paging(db, 200, Duration::ZERO);
}

/// Sends `alerts` alerts `spacing` apart, kills the server once some steps
/// were delivered and most are still to come, starts it again, and checks
/// every step of every page arrived, none recorded before the kill twice.
fn kill_while_paging(db: TestDatabase, alerts: usize, spacing: Duration) {
    // The receiver is on 127.0.0.1, which webhooks may reach only when allowed.
    let args = ["--job-lease-seconds", "2", "--webhook-allow", "127.0.0.1/32,::1"];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (receiver, hook) = rt.block_on(Receiver::start());

    let server = Server::start_with(&db.url, Some(ADMIN), &args);
    let url = server.url.clone();
    rt.block_on(async {
        let key = setup(&http, &url, &hook).await;
        let mut sent = tokio::task::JoinSet::new();
        for i in 0..alerts {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            sent.spawn(async move { trigger(&http, &url, &key, &format!("alert-{i}")).await });
            if !spacing.is_zero() {
                tokio::time::sleep(spacing).await;
            }
        }
        while let Some(accepted) = sent.join_next().await {
            assert!(accepted.unwrap(), "an alert was not accepted");
        }
        // Kill in the middle: some steps delivered, most still to come.
        let deadline = Instant::now() + Duration::from_secs(30);
        while receiver.total() < alerts as u32 + 10 {
            assert!(Instant::now() < deadline, "escalations never got going");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    server.kill();
    let killed_at = SystemTime::now();
    let before = receiver.total();
    assert!(before < (alerts as u32) * 4, "the kill came after everything was delivered");

    let server = Server::start_with(&db.url, Some(ADMIN), &args);
    let url = server.url.clone();
    rt.block_on(async {
        wait_until_done(&http, &url, &receiver, alerts, Duration::from_secs(90)).await;
        let twice = check_deliveries(&http, &url, &receiver, killed_at).await;
        assert!(twice <= 32, "{twice} deliveries were repeated: more than one claim's worth in flight");
    });
}
