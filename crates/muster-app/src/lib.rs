//! Muster's application layer: one function per use case, and the parts
//! that run without a request — ingest, paging, the outbox engine.
//!
//! Each use case loads what the command needs, lets the domain decide inside
//! the store's transaction, and returns domain values. Nothing here knows
//! HTTP: the API, the web UI, the CLI's server side and chat adapters all
//! call the same functions.
//!
//! # Layout
//!
//! - [`App`] and [`Config`] (this file): the handle every edge holds.
//! - Use cases, each an `impl App` block: [`incidents`], [`users`],
//!   [`tokens`] (authenticating, listing, revoking, calendar feed tokens),
//!   [`alerts`], [`schedules`], [`contacts`], [`paging`], [`signin`], [`jobs`],
//!   [`room`] (a line typed in an incident room).
//! - Parts the use cases stand on, which know nothing of `App`: [`clock`],
//!   [`changes`] (who is woken when an incident changes, and when
//!   credentials were revoked),
//!   [`throttle`], [`ingest`] (the batching pipeline),
//!   [`pager`] (runs escalation steps, signs answer links), [`engine`]
//!   (the outbox's delivery loop) and [`channels`] (webhooks, mail, page
//!   steps: how each kind of job is delivered).

use std::sync::Arc;

use muster_store::{Service, Store};

pub mod actions;
pub mod alerts;
pub mod batch;
pub mod changes;
pub mod channels;
pub mod clock;
pub mod contacts;
pub mod engine;
pub mod error;
pub mod incidents;
pub mod ingest;
pub mod insights;
pub mod jobs;
pub mod maintenance;
pub mod pager;
pub mod paging;
pub mod postmortem;
pub mod room;
pub mod schedules;
pub mod signin;
pub mod stakeholders;
pub mod statuspage;
pub mod subscribers;
pub mod support;
pub mod throttle;
pub mod tokens;
pub mod updates;
pub mod users;
pub mod workstreams;

pub use alerts::ServiceInput;
pub use clock::{Clock, ManualClock, SystemClock};
pub use incidents::{DeclareInput, EntryInput, IncidentView, Roster, parse_handle};

use crate::ingest::{Ingestor, RateLimit};

pub use error::{Error, Result};

pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub ingestor: Ingestor,
    /// Services by integration key, read on every ingested event.
    pub(crate) services_by_key: ServiceCache,
    pub engine: Arc<crate::engine::Engine>,
    pub pager: Arc<crate::pager::Pager>,
    /// Failed sign-ins, per account and address, per address, per account.
    pub(crate) throttle: crate::throttle::Throttle,
    /// Failed sign-ins and open live streams, for `/metrics`.
    pub sign_in_failures: std::sync::atomic::AtomicU64,
    pub live_streams: Arc<std::sync::atomic::AtomicI64>,
    /// At most a few password checks or hashes at once (argon2 is
    /// memory-hard). A sign-in that finds none free is refused as busy;
    /// setting a password waits for one.
    pub password_checks: tokio::sync::Semaphore,
    /// Open live streams per user, at most `limits::MAX_LIVE_STREAMS_PER_USER`.
    pub live_slots: crate::throttle::Slots,
    /// Test notifications per user, at most `limits::MAX_TEST_NOTIFICATIONS` a window.
    pub(crate) test_notifications: crate::throttle::Recent,
    /// Turns for schedule maths on the blocking pool (`schedules::compute`).
    pub(crate) schedule_work: tokio::sync::Semaphore,
    /// Live views wait here for changes to their incident.
    pub changes: Arc<changes::Changes>,
    /// The status page's uptime of days gone by (they cannot change).
    pub(crate) past_uptime: statuspage::PastUptime,
    pub config: Config,
}

/// How a server runs.
#[derive(Clone)]
pub struct Config {
    pub rate_limit: RateLimit,
    /// The address people's browsers reach this server at, for the links
    /// in notifications (`--public-url`).
    pub public_url: String,
    /// Where mail goes, e.g. `smtp://127.0.0.1:2525` or
    /// `smtps://mail.example.com` (`MUSTER_SMTP_URL`; see
    /// [`channels::email::SmtpServer`]).
    pub smtp_url: Option<String>,
    /// The SMTP user name and password when the URL has none
    /// (`MUSTER_SMTP_USERNAME`, `MUSTER_SMTP_PASSWORD`).
    pub smtp_credentials: Option<(String, String)>,
    /// Certificates to trust besides the system's, for webhooks and mail
    /// (`--ca-file`).
    pub trust: channels::tls::TrustRoots,
    /// The sender of notification mail.
    pub mail_from: String,
    /// How long a job claimed by one instance is its own.
    pub job_lease: std::time::Duration,
    /// Attempts before a job is dead-lettered.
    pub job_max_attempts: u32,
    /// The internal hosts and networks webhooks may reach anyway
    /// (`--webhook-allow`); none by default.
    pub webhook_allow: muster_domain::egress::WebhookAllow,
    /// Reverse proxies whose `X-Forwarded-For` names the client, for the
    /// sign-in slow-down (`--trusted-proxy`); none by default.
    pub trusted_proxies: Vec<muster_domain::egress::Cidr>,
    /// The bearer token `/metrics` requires (`--metrics-token`); open
    /// without one.
    pub metrics_token: Option<String>,
    /// Run the delivery engine in the background. Tests that step a manual
    /// clock leave it off and call `engine.run_due()` themselves.
    pub run_engine: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate_limit: RateLimit::default(),
            public_url: "http://127.0.0.1:8080".into(),
            smtp_url: None,
            smtp_credentials: None,
            trust: channels::tls::TrustRoots::system(),
            mail_from: "Muster <muster@localhost>".into(),
            job_lease: crate::engine::LEASE,
            job_max_attempts: crate::engine::MAX_ATTEMPTS,
            webhook_allow: muster_domain::egress::WebhookAllow::none(),
            trusted_proxies: Vec::new(),
            metrics_token: None,
            run_engine: true,
        }
    }
}

impl std::fmt::Debug for Config {
    /// Everything but the SMTP password and the metrics token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("rate_limit", &self.rate_limit)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_ref().map(|u| u.split('@').next_back().unwrap_or_default()))
            .field("smtp_user", &self.smtp_credentials.as_ref().map(|(u, _)| u))
            .field("trust", &self.trust)
            .field("mail_from", &self.mail_from)
            .field("job_lease", &self.job_lease)
            .field("job_max_attempts", &self.job_max_attempts)
            .field("webhook_allow", &self.webhook_allow)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "(set)"))
            .field("run_engine", &self.run_engine)
            .finish()
    }
}

/// How long a service looked up by integration key is trusted. A key rotated
/// on another instance stops working here after at most this long.
const SERVICE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct ServiceCache(std::sync::Mutex<std::collections::HashMap<String, (Service, std::time::Instant)>>);

impl ServiceCache {
    pub(crate) fn get(&self, key: &str) -> Option<Service> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(_, at)| at.elapsed() < SERVICE_CACHE_TTL).map(|(s, _)| s.clone())
    }

    pub(crate) fn put(&self, key: &str, service: &Service) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key.to_owned(), (service.clone(), std::time::Instant::now()));
    }

    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl App {
    /// Needs a Tokio runtime: it starts the ingest task.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self::with_rate_limit(store, clock, RateLimit::default())
    }

    pub fn with_rate_limit(store: Arc<dyn Store>, clock: Arc<dyn Clock>, limit: RateLimit) -> Self {
        Self::with_config(store, clock, Config { rate_limit: limit, ..Config::default() })
            .expect("the default configuration is valid")
    }

    /// Fails on a configuration that cannot work (an SMTP URL that does not
    /// parse, a sender that is no address).
    pub fn with_config(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> std::result::Result<Self, String> {
        use channels::email::{EmailChannel, Mailer, SmtpServer};
        let mailer = match &config.smtp_url {
            Some(url) => {
                let server = SmtpServer::parse(url, config.smtp_credentials.clone())?;
                Some(Mailer::new(&server, &config.mail_from, &config.trust)?)
            }
            None => None,
        };
        let changes = Arc::new(changes::Changes::default());
        let pager =
            Arc::new(crate::pager::Pager::new(store.clone(), clock.clone(), changes.clone(), &config.public_url));
        let guard = Arc::new(channels::webhook::Guard::new(config.webhook_allow.clone()));
        let http = config.trust.http_client(std::time::Duration::from_secs(10), guard)?;
        let channels: Vec<Arc<dyn channels::Channel>> = vec![
            Arc::new(channels::page_step::PageStepChannel::new(pager.clone())),
            Arc::new(channels::page_bundle::PageBundleChannel::new(pager.clone())),
            Arc::new(channels::update_reminder::UpdateReminderChannel::new(
                store.clone(),
                clock.clone(),
                changes.clone(),
                &config.public_url,
            )),
            Arc::new(maintenance::MaintenanceChannel::new(store.clone(), clock.clone(), &config.public_url)),
            Arc::new(channels::report_due::ReportDueChannel::new(store.clone(), clock.clone(), &config.public_url)),
            Arc::new(channels::follow_up_due::FollowUpDueChannel::new(
                store.clone(),
                clock.clone(),
                &config.public_url,
            )),
            Arc::new(channels::page_notices::PageNotices::new(
                Arc::new(channels::webhook::WebhookChannel::new(
                    store.clone(),
                    clock.clone(),
                    http,
                    config.webhook_allow.clone(),
                )),
                pager.clone(),
            )),
            Arc::new(channels::page_notices::PageNotices::new(
                Arc::new(EmailChannel::new(store.clone(), mailer)),
                pager.clone(),
            )),
        ];
        let settings = engine::Settings {
            lease: config.job_lease,
            max_attempts: config.job_max_attempts.max(1),
            ..engine::Settings::default()
        };
        let engine = engine::Engine::new(store.clone(), clock.clone(), channels, settings);
        let waker = engine.clone();
        let woken = changes.clone();
        let committed: ingest::AfterCommit = Arc::new(move |events, outcomes| {
            if ingest::wakes_engine(outcomes) {
                waker.wake();
            }
            let mut touched: Vec<u64> =
                events.iter().zip(outcomes).filter_map(|(e, o)| ingest::touched_incident(e, o)).collect();
            touched.sort_unstable();
            touched.dedup();
            for number in touched {
                woken.changed(number);
            }
        });
        let ingestor = Ingestor::spawn(store.clone(), clock.clone(), config.rate_limit, committed);
        if config.run_engine {
            engine.spawn();
        }
        // When an outage ends, the engine and the live views look again at
        // once rather than at their next retry.
        let (mut up, waker, woken) = (store.health().watch(), engine.clone(), changes.clone());
        tokio::spawn(async move {
            while up.changed().await.is_ok() {
                if *up.borrow_and_update() {
                    waker.wake();
                    woken.changed_all();
                }
            }
        });
        // Live views wake on every instance's timeline commits, too.
        let (listening, waker) = (store.clone(), changes.clone());
        tokio::spawn(async move {
            let wake = move |number: Option<u64>| match number {
                Some(n) => waker.changed(n),
                None => waker.changed_all(),
            };
            if let Err(e) = listening.listen_for_incidents(Arc::new(wake)).await {
                tracing::warn!(error = %e, "cannot listen for other instances' incident changes; live views re-check every second");
            }
        });
        Ok(App {
            store,
            clock,
            ingestor,
            services_by_key: ServiceCache::default(),
            engine,
            pager,
            throttle: crate::throttle::Throttle::default(),
            password_checks: tokio::sync::Semaphore::new(crate::signin::CONCURRENT_CHECKS),
            schedule_work: tokio::sync::Semaphore::new(crate::schedules::listings_at_once()),
            sign_in_failures: Default::default(),
            live_streams: Default::default(),
            live_slots: Default::default(),
            test_notifications: Default::default(),
            changes,
            past_uptime: Default::default(),
            config,
        })
    }
}
