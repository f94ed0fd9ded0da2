//! Where webhooks may go, on both backends, with real receivers: internal
//! addresses refused when a contact method is created and again when a
//! stored one is delivered (literal addresses before sending, names on
//! what they resolve to), the operator's allow setting, no redirects, and
//! errors that name the scheme and host but never the path or query.

mod common;

use common::{Receiver, TestApp, allowing_receivers};
use muster_app::Config;
use muster_app::channels::webhook::origin;
use muster_domain::egress::WebhookAllow;
use muster_domain::outbox::{Job, Webhook};
use muster_domain::paging::ContactKind;
use muster_domain::{Actor, DomainError};
use muster_store::testing::TestDatabase;

muster_store::on_both_backends!(
    a_webhook_to_an_internal_address_is_refused_at_creation_unless_the_operator_allows_it,
    a_stored_webhook_to_an_internal_address_or_name_is_never_sent_and_given_up_at_once,
    a_receiver_answering_307_to_an_internal_address_is_not_followed,
    a_delivery_error_names_the_scheme_and_host_but_not_the_path_or_query,
);

async fn add_webhook(t: &TestApp, who: &Actor, url: &str) -> muster_app::Result<muster_store::ContactMethod> {
    t.app.add_contact_method(who, &who.handle, ContactKind::Webhook, url).await
}

/// The field a refusal names, and its message.
fn refusal(r: muster_app::Result<muster_store::ContactMethod>) -> (String, String) {
    match r {
        Err(muster_app::Error::Refused(DomainError::Invalid { field, message })) => (field, message),
        other => panic!("expected a refusal naming a field, got {other:?}"),
    }
}

/// A test notification to `method`, delivered once; the job's status.
async fn notify_once(t: &TestApp, who: &Actor, method: u64) -> muster_store::JobStatus {
    let job = t.app.test_notification(who, &who.handle, method).await.unwrap();
    assert_eq!(t.deliver_due(5).await, 1);
    t.app.store.job_status(job).await.unwrap().unwrap()
}

async fn a_webhook_to_an_internal_address_is_refused_at_creation_unless_the_operator_allows_it(db: TestDatabase) {
    let t = TestApp::new(db).await;
    let alice = t.person("alice").await;
    for (url, why) in [
        ("http://127.0.0.1:1/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.7:8080/hook", "private"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://[fd00::1]/", "unique-local"),
        ("http://[::ffff:127.0.0.1]:8080/", "loopback"),
        ("http://0.0.0.0:9000/", "unspecified"),
        ("http://2130706433/", "loopback"), // 127.0.0.1, as URL parsers read it
        ("http://localhost:1/", "loopback"),
    ] {
        let (field, message) = refusal(add_webhook(&t, &alice, url).await);
        assert_eq!(field, "address", "{url}");
        assert!(message.contains(why) && message.contains("--webhook-allow"), "{url}: {message}");
    }
    // A name that does not resolve (yet) is not refused here: delivery checks it.
    add_webhook(&t, &alice, "https://hooks.muster.invalid/x").await.unwrap();
    assert!(t.app.store.contact_methods(&alice.handle).await.unwrap().len() == 1, "nothing refused was stored");

    // The operator allows the receivers' network, and only that.
    let t2 = TestApp::with_config(t.into_db(), allowing_receivers(Config::default())).await;
    let bob = t2.person("bob").await;
    add_webhook(&t2, &bob, "http://127.0.0.1:1/").await.unwrap();
    add_webhook(&t2, &bob, "http://localhost:1/").await.unwrap();
    assert_eq!(refusal(add_webhook(&t2, &bob, "http://127.0.0.2:1/").await).0, "address");
    assert_eq!(refusal(add_webhook(&t2, &bob, "http://169.254.169.254/").await).0, "address");
}

async fn a_stored_webhook_to_an_internal_address_or_name_is_never_sent_and_given_up_at_once(db: TestDatabase) {
    let receiver = Receiver::start(200, None).await;
    let t = TestApp::new(db).await;
    let alice = t.person("alice").await;
    let now = muster_app::Clock::now(&*t.app.clock);
    // Contact methods stored before the rule (or by an operator allowing
    // what it no longer allows) are checked again at delivery.
    for url in [
        format!("http://127.0.0.1:{}/hook/abc?token=s3cret", receiver.port),
        format!("http://localhost:{}/hook/abc?token=s3cret", receiver.port),
        format!("http://[::ffff:7f00:1]:{}/hook/abc?token=s3cret", receiver.port),
    ] {
        let m = t
            .app
            .store
            .add_contact_method(&alice.handle, ContactKind::Webhook, &url, Some("whsec_x"), now)
            .await
            .unwrap();
        let status = notify_once(&t, &alice, m.id).await;
        assert!(status.dead_at.is_some() && status.attempts == 1, "{url}: given up at once: {status:?}");
        let error = status.last_error.unwrap();
        assert!(error.contains("loopback") && error.contains(&origin(&url)), "{url}: {error}");
        assert!(!error.contains("s3cret") && !error.contains("/hook"), "{url}: no path or query: {error}");
    }
    // A job from before contact methods were named carries its URL.
    let legacy = muster_store::NewJob {
        job: Job::Webhook(Webhook {
            contact_method: None,
            to: format!("http://127.0.0.1:{}/legacy", receiver.port),
            for_page: None,
            for_bundle: None,
            body: serde_json::json!({"type": "test"}),
            legacy_secret: Some("whsec_old".into()),
            ..Webhook::default()
        }),
        idempotency_key: "legacy-1".into(),
        due_at: now,
    };
    let id = t.app.store.enqueue_job(&legacy, now).await.unwrap();
    assert_eq!(t.deliver_due(5).await, 1);
    assert!(t.app.store.job_status(id).await.unwrap().unwrap().dead_at.is_some());
    assert_eq!(receiver.count(), 0, "nothing reached the internal receiver");
}

async fn a_receiver_answering_307_to_an_internal_address_is_not_followed(db: TestDatabase) {
    let internal = Receiver::start(200, None).await;
    let location = format!("location: http://127.0.0.1:{}/internal\r\n", internal.port);
    let redirecting = Receiver::answering(307, &location, None).await;
    // Both receivers are on 127.0.0.1, which this operator allows: even an
    // allowed address is not reached through a redirect.
    let t = TestApp::with_config(db, allowing_receivers(Config { job_max_attempts: 1, ..Config::default() })).await;
    let alice = t.person("alice").await;
    let url = format!("http://127.0.0.1:{}/hook", redirecting.port);
    let method = add_webhook(&t, &alice, &url).await.unwrap();

    let status = notify_once(&t, &alice, method.id).await;
    assert_eq!(redirecting.count(), 1);
    assert_eq!(internal.count(), 0, "the redirect was not followed");
    assert!(status.done_at.is_none() && status.dead_at.is_some(), "not delivered: {status:?}");
    let error = status.last_error.unwrap();
    assert!(error.contains("307") && error.contains("redirects"), "{error}");
}

async fn a_delivery_error_names_the_scheme_and_host_but_not_the_path_or_query(db: TestDatabase) {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let failing = Receiver::start(500, None).await;
    let config = Config {
        webhook_allow: WebhookAllow::parse([format!("127.0.0.1/32,{}", "hooks.muster.invalid").as_str()]).unwrap(),
        ..Config::default()
    };
    let t = TestApp::with_config(db, config).await;
    let alice = t.person("alice").await;
    for (url, expected) in [
        (format!("http://127.0.0.1:{port}/services/T000/B000/XXXX?key=s3cret"), format!("http://127.0.0.1:{port}")),
        (format!("http://127.0.0.1:{}/services/T000/B000/XXXX?key=s3cret", failing.port), "500".to_owned()),
        ("https://user:pw@hooks.muster.invalid/services/XXXX?key=s3cret".to_owned(), "hooks.muster.invalid".to_owned()),
    ] {
        let method = add_webhook(&t, &alice, &url).await.unwrap();
        let status = notify_once(&t, &alice, method.id).await;
        assert!(status.done_at.is_none(), "{status:?}");
        let error = status.last_error.unwrap();
        assert!(error.contains(&origin(&url)) && error.contains(&expected), "{url}: {error}");
        for secret in ["services", "s3cret", "XXXX", "pw@", "user:"] {
            assert!(!error.contains(secret), "{url}: {error}");
        }
    }
    assert_eq!(failing.count(), 1);
}
