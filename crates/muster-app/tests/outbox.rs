//! The outbox with real receivers, on both backends, without HTTP in front:
//! webhooks over HTTPS with a private CA, a certificate for another name
//! retried and then dead-lettered, pages ahead of a flood of failing test
//! notifications, and mail through aiosmtpd over STARTTLS and SMTPS.

mod common;

use common::mail::{Smtp, SmtpTls};
use common::{Receiver, TestApp, TestCa, allowing_receivers};
use std::sync::Arc;

use muster_app::Config;
use muster_app::channels::tls::TrustRoots;
use muster_app::channels::webhook::signature;
use muster_app::channels::{Attempt, Channel, Failure};
use muster_app::engine::{Engine, Settings};
use muster_domain::Actor;
use muster_domain::outbox::Job;
use muster_domain::page::PageState;
use muster_domain::page::PageTarget;
use muster_domain::paging::ContactKind;
use muster_store::testing::TestDatabase;
use muster_store::{JobFilter, JobState};

muster_store::on_both_backends!(
    a_webhook_to_an_https_receiver_signed_by_a_private_ca_is_delivered,
    a_certificate_for_another_name_is_refused_retried_and_then_dead_lettered,
    a_page_is_not_held_up_by_a_thousand_failing_test_notifications,
    mail_goes_through_starttls_and_smtps_and_not_in_the_clear_where_tls_is_required,
    a_job_whose_contact_method_was_removed_is_dead_lettered_at_once,
    a_mail_written_before_its_contact_method_was_removed_is_not_sent,
    a_page_step_given_up_expires_its_page_with_the_reason_on_the_timeline,
    mail_waits_for_an_smtp_server_without_running_out_of_attempts,
);

fn trusting(ca: &TestCa) -> Config {
    allowing_receivers(Config { trust: TrustRoots::with_pem(ca.pem().into_bytes()).unwrap(), ..Config::default() })
}

async fn webhook(t: &TestApp, who: &Actor, url: &str) -> muster_store::ContactMethod {
    t.app.add_contact_method(who, &who.handle, ContactKind::Webhook, url).await.unwrap()
}

async fn a_webhook_to_an_https_receiver_signed_by_a_private_ca_is_delivered(db: TestDatabase) {
    let ca = TestCa::new();
    let receiver = Receiver::start(200, Some(&ca.issue(&["localhost", "127.0.0.1"]))).await;
    let t = TestApp::with_config(db, trusting(&ca)).await;
    let alice = t.person("alice").await;
    let method = webhook(&t, &alice, &format!("https://localhost:{}/hook", receiver.port)).await;

    let job = t.app.test_notification(&alice, &alice.handle, method.id).await.unwrap();
    assert_eq!(t.deliver_due(5).await, 1);

    let status = t.app.store.job_status(job).await.unwrap().unwrap();
    assert!(status.done_at.is_some(), "delivered over HTTPS: {status:?}");
    let got = receiver.got.lock().unwrap()[0].clone();
    let ts: i64 = got.header("x-muster-timestamp").unwrap().parse().unwrap();
    assert_eq!(got.header("x-muster-signature"), Some(signature(method.secret.as_deref().unwrap(), ts, &got.body)));
    let payload = t.app.store.jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(payload[0].to.as_deref(), Some(format!("https://localhost:{}/hook", receiver.port).as_str()));
}

async fn a_certificate_for_another_name_is_refused_retried_and_then_dead_lettered(db: TestDatabase) {
    let ca = TestCa::new();
    let receiver = Receiver::start(200, Some(&ca.issue(&["hooks.example.com"]))).await;
    let t = TestApp::with_config(db, Config { job_max_attempts: 3, ..trusting(&ca) }).await;
    let alice = t.person("alice").await;
    let method = webhook(&t, &alice, &format!("https://localhost:{}/hook", receiver.port)).await;
    let job = t.app.test_notification(&alice, &alice.handle, method.id).await.unwrap();

    assert_eq!(t.deliver_due(5).await, 1);
    let status = t.app.store.job_status(job).await.unwrap().unwrap();
    assert_eq!((status.attempts, status.done_at, status.dead_at), (1, None, None), "{status:?}");
    let error = status.last_error.unwrap();
    assert!(error.contains("certificate"), "says why: {error}");

    // Backoff: 2 s after the first failure, 4 s after the second.
    t.clock.advance(1);
    assert_eq!(t.deliver_due(5).await, 0, "not due before its backoff");
    t.clock.advance(1);
    assert_eq!(t.deliver_due(5).await, 1);
    t.clock.advance(4);
    assert_eq!(t.deliver_due(5).await, 1);
    let status = t.app.store.job_status(job).await.unwrap().unwrap();
    assert_eq!(status.attempts, 3);
    assert!(status.dead_at.is_some(), "dead after the last attempt: {status:?}");
    t.clock.advance(3600);
    assert_eq!(t.deliver_due(5).await, 0, "a dead job is never tried again");
    assert_eq!(receiver.count(), 0, "nothing was ever sent to a server with the wrong name");

    let dead = t.app.jobs(&t.admin, &JobFilter { state: Some(JobState::Dead), ..Default::default() }).await.unwrap();
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), [job]);
    assert!(t.app.jobs(&alice, &JobFilter::default()).await.is_err(), "only admins see the outbox");
    assert_eq!(t.app.store.gauges().await.unwrap().jobs_dead, 1);
}

async fn a_page_is_not_held_up_by_a_thousand_failing_test_notifications(db: TestDatabase) {
    let failing = Receiver::start(500, None).await;
    let paged = Receiver::start(200, None).await;
    let t = TestApp::with_receivers(db).await;
    let (alice, bob, carol) = (t.person("alice").await, t.person("bob").await, t.person("carol").await);
    let noisy = webhook(&t, &bob, &format!("http://127.0.0.1:{}/", failing.port)).await;
    for i in 0..1000 {
        t.app.test_notification(&bob, &bob.handle, noisy.id).await.unwrap();
        // Five test notifications a minute per user: a minute passes every five.
        if i % muster_domain::limits::MAX_TEST_NOTIFICATIONS == muster_domain::limits::MAX_TEST_NOTIFICATIONS - 1 {
            t.clock.advance(60);
        }
    }
    webhook(&t, &carol, &format!("http://127.0.0.1:{}/", paged.port)).await;
    let incident = t.declare(&alice, "Checkout down").await;
    let page = t
        .app
        .page_for_incident(&alice, incident, PageTarget::User(carol.handle.clone()), "need you", None)
        .await
        .unwrap();

    // One round runs the page's step, the next delivers its notification.
    t.app.engine.run_due().await.unwrap();
    t.app.engine.run_due().await.unwrap();
    assert_eq!(paged.count(), 1, "the page reached carol in the second round");
    let (_, deliveries) = t.app.page(&t.admin, page.id).await.unwrap();
    assert!(deliveries[0].delivered_at.is_some(), "{deliveries:?}");
    assert!(failing.count() <= 24, "test notifications got only their own slots: {}", failing.count());
}

async fn mail_goes_through_starttls_and_smtps_and_not_in_the_clear_where_tls_is_required(db: TestDatabase) {
    let ca = TestCa::new();
    let cert = ca.issue(&["localhost"]);
    let Some(starttls) = Smtp::start(SmtpTls::RequireStartTls, &cert).await else { return };
    let Some(smtps) = Smtp::start(SmtpTls::Implicit, &cert).await else { return };
    // One database, three servers' worth of settings: each App is its own instance.
    let urls = [
        (format!("smtp://localhost:{}?tls=required", starttls.port), true),
        (format!("smtps://localhost:{}", smtps.port), true),
        (format!("smtp://localhost:{}", starttls.port), false),
    ];
    let t = TestApp::new(db).await;
    let alice = t.person("alice").await;
    let method =
        t.app.add_contact_method(&alice, &alice.handle, ContactKind::Email, "alice@example.com").await.unwrap();
    for (url, works) in urls {
        let config = Config { smtp_url: Some(url.clone()), ..trusting(&ca) };
        let app =
            muster_app::App::with_config(t.app.store.clone(), t.clock.clone(), Config { run_engine: false, ..config })
                .unwrap();
        let job = app.test_notification(&alice, &alice.handle, method.id).await.unwrap();
        app.engine.run_due().await.unwrap();
        let status = app.store.job_status(job).await.unwrap().unwrap();
        assert_eq!(status.done_at.is_some(), works, "{url}: {status:?}");
        if !works {
            let error = status.last_error.unwrap_or_default();
            assert!(error.contains("SMTP"), "{url}: says why: {error}");
        }
    }
    for (server, name) in [(&starttls, "STARTTLS"), (&smtps, "SMTPS")] {
        let messages = server.messages();
        assert_eq!(messages.len(), 1, "{name}: one mail arrived: {messages:?}");
        assert!(messages[0].contains("Test notification for @alice"), "{name}: {}", messages[0]);
    }
}

async fn a_job_whose_contact_method_was_removed_is_dead_lettered_at_once(db: TestDatabase) {
    let t = TestApp::new(db).await;
    let alice = t.person("alice").await;
    // A webhook job naming a contact method that does not exist (it was removed after the job was written).
    let job = muster_store::NewJob {
        job: muster_domain::outbox::Job::Webhook(muster_domain::outbox::Webhook {
            contact_method: Some(4242),
            to: "http://127.0.0.1:9/".into(),
            for_page: None,
            for_bundle: None,
            body: serde_json::json!({}),
            legacy_secret: None,
            ..muster_domain::outbox::Webhook::default()
        }),
        idempotency_key: format!("orphan-{}", alice.handle),
        due_at: t.clock.now(),
    };
    use muster_app::Clock;
    let id = t.app.store.enqueue_job(&job, t.clock.now()).await.unwrap();
    assert_eq!(t.deliver_due(5).await, 1);
    let status = t.app.store.job_status(id).await.unwrap().unwrap();
    assert_eq!(status.attempts, 1);
    assert!(status.dead_at.is_some(), "retrying cannot bring a contact method back: {status:?}");
    assert!(status.last_error.unwrap().contains("4242"));
}

async fn a_mail_written_before_its_contact_method_was_removed_is_not_sent(db: TestDatabase) {
    let t = TestApp::new(db).await;
    let alice = t.person("alice").await;
    let method =
        t.app.add_contact_method(&alice, &alice.handle, ContactKind::Email, "alice@example.com").await.unwrap();
    let job = t.app.test_notification(&alice, &alice.handle, method.id).await.unwrap();
    t.app.remove_contact_method(&alice, &alice.handle, method.id).await.unwrap();
    assert_eq!(t.deliver_due(5).await, 1);
    let status = t.app.store.job_status(job).await.unwrap().unwrap();
    assert!(status.dead_at.is_some(), "given up, not waiting for an SMTP server: {status:?}");
    assert!(status.last_error.unwrap().contains("was removed"));
}

/// A page-step channel whose steps always fail, giving up as the real one does.
struct StepsFail(muster_app::channels::page_step::PageStepChannel);

#[async_trait::async_trait]
impl Channel for StepsFail {
    fn kinds(&self) -> &'static [&'static str] {
        &["page.step"]
    }

    async fn deliver(&self, _: &Job, _: &Attempt<'_>) -> Result<(), Failure> {
        Err(Failure::new("the schedule cannot be read"))
    }

    async fn gave_up(&self, job: &Job, why: &str) -> Result<(), Failure> {
        self.0.gave_up(job, why).await
    }
}

async fn a_page_step_given_up_expires_its_page_with_the_reason_on_the_timeline(db: TestDatabase) {
    let t = TestApp::new(db).await;
    let (alice, carol) = (t.person("alice").await, t.person("carol").await);
    let incident = t.declare(&alice, "Checkout down").await;
    let page =
        t.app.page_for_incident(&alice, incident, PageTarget::User(carol.handle.clone()), "help", None).await.unwrap();
    let channel = StepsFail(muster_app::channels::page_step::PageStepChannel::new(t.app.pager.clone()));
    let settings = Settings { max_attempts: 2, ..Settings::default() };
    let engine = Engine::new(t.app.store.clone(), t.clock.clone(), vec![Arc::new(channel)], settings);

    assert_eq!(engine.run_due().await.unwrap(), 1);
    assert!(t.app.page(&t.admin, page.id).await.unwrap().0.state.is_open(), "one failure: the step is retried");
    t.clock.advance(2);
    assert_eq!(engine.run_due().await.unwrap(), 1);
    let (p, _) = t.app.page(&t.admin, page.id).await.unwrap();
    assert_eq!(p.state, PageState::Expired, "a step that cannot run does not leave its page waiting forever");
    assert!(p.reason.as_deref().is_some_and(|r| r.contains("could not run step 1") && r.contains("schedule")), "{p:?}");
    let events = t.app.store.events(incident.0).await.unwrap();
    assert!(events.iter().any(|e| e.change.kind() == "page_closed"), "the timeline says so");
    assert_eq!(engine.buried(), 1);
    let dead = t.app.jobs(&t.admin, &JobFilter { state: Some(JobState::Dead), ..Default::default() }).await.unwrap();
    assert_eq!(dead.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(), ["page.step"]);
}

async fn mail_waits_for_an_smtp_server_without_running_out_of_attempts(db: TestDatabase) {
    let t = TestApp::with_config(db, Config { job_max_attempts: 2, ..Config::default() }).await;
    let alice = t.person("alice").await;
    let method =
        t.app.add_contact_method(&alice, &alice.handle, ContactKind::Email, "alice@example.com").await.unwrap();
    let job = t.app.test_notification(&alice, &alice.handle, method.id).await.unwrap();
    for _ in 0..4 {
        t.deliver_due(5).await;
        t.clock.advance(301);
    }
    let status = t.app.store.job_status(job).await.unwrap().unwrap();
    assert_eq!(
        (status.attempts, status.dead_at, status.done_at),
        (0, None, None),
        "waiting, no attempt counted: {status:?}"
    );
    assert!(status.last_error.unwrap().contains("no SMTP server"));
}
