//! Webhooks: a JSON POST to a person's webhook contact method, over HTTP or
//! HTTPS, signed with the method's secret.
//!
//! The job names the contact method (or a stakeholder group's webhook);
//! its URL and secret are read here, at
//! delivery, so no secret is ever in the outbox and a corrected URL is used
//! by the next retry. Receivers check `X-Muster-Signature` (see
//! [`signature`]) and deduplicate retries by `Idempotency-Key`.
//!
//! A webhook reaches only addresses on the internet, unless the operator
//! allowed more (`--webhook-allow`, [`WebhookAllow`]): [`check_target`]
//! refuses an internal target when a contact method is created, and at
//! delivery [`Guard`] — the HTTP client's resolver — keeps only the
//! resolved addresses that may be reached, so a name that resolves
//! elsewhere by then (DNS rebinding) connects nowhere. A URL with a literal
//! address never asks a resolver, so it is checked before sending.
//! Redirects are not followed. What is stored, shown or logged about a
//! target is its [`origin`]: the path and query of a webhook URL are often
//! its credential.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use muster_domain::egress::WebhookAllow;
use muster_domain::outbox::{Job, Webhook};
use muster_store::{Store, SupportIntegration};
use sha2::Sha256;

use super::{Attempt, Channel, Failure, error_chain};

/// How long creating a contact method waits for its host to resolve.
const CREATION_LOOKUP: Duration = Duration::from_secs(5);

/// What may be said about a webhook URL: its scheme, host and port, never
/// its user, path or query.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match u.host_str() {
            Some(host) => match u.port() {
                Some(port) => format!("{}://{host}:{port}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            },
            None => format!("{}: (no host)", u.scheme()),
        },
        Err(_) => "(a URL that does not parse)".to_owned(),
    }
}

/// A webhook target that may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0} does not parse as a URL")]
    Unreadable(String),
    #[error("{origin} is an address webhooks may not reach ({why}) unless the operator allows it (--webhook-allow)")]
    Address { origin: String, why: muster_domain::egress::Internal },
    #[error(
        "{host} resolves only to {why} addresses, which webhooks may not reach unless the operator allows them (--webhook-allow)"
    )]
    Resolves { host: String, why: String },
}

/// Keeps the addresses `allow` lets a webhook reach; fails naming why
/// when none is left.
fn reachable(allow: &WebhookAllow, host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, TargetError> {
    if allow.allows_host(host) {
        return Ok(found);
    }
    let mut refused = Vec::new();
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| match allow.check(a.ip()) {
            Ok(()) => true,
            Err(r) => {
                if !refused.contains(&r.why) {
                    refused.push(r.why);
                }
                false
            }
        })
        .collect();
    if kept.is_empty() && !refused.is_empty() {
        let why = refused.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(" or ");
        return Err(TargetError::Resolves { host: host.to_owned(), why });
    }
    Ok(kept)
}

/// The literal address of a URL's host, if it has one.
fn literal(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// Refuses a URL whose host is an internal address the operator did not
/// allow. Names are left to [`Guard`], which sees what they resolve to.
fn check_literal(allow: &WebhookAllow, url: &str) -> Result<reqwest::Url, TargetError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| TargetError::Unreadable(origin(url)))?;
    if let Some(ip) = literal(&parsed) {
        allow.check(ip).map_err(|r| TargetError::Address { origin: origin(url), why: r.why })?;
    }
    Ok(parsed)
}

/// Whether a webhook to `url` may be created: its host is not an internal
/// address, nor a name that resolves only to internal ones. A name that
/// does not resolve (yet) is accepted; delivery checks again.
pub async fn check_target(allow: &WebhookAllow, url: &str) -> Result<(), TargetError> {
    let parsed = check_literal(allow, url)?;
    let Some(url::Host::Domain(host)) = parsed.host() else { return Ok(()) };
    let port = parsed.port_or_known_default().unwrap_or(0);
    match tokio::time::timeout(CREATION_LOOKUP, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(found)) => reachable(allow, host, found.collect()).map(|_| ()),
        _ => Ok(()),
    }
}

/// The webhook client's resolver: the system's, keeping only the
/// addresses a webhook may reach. Connecting happens to what this returns,
/// so no answer given later can change where a request goes.
pub struct Guard {
    allow: Arc<WebhookAllow>,
}

impl Guard {
    pub fn new(allow: WebhookAllow) -> Guard {
        Guard { allow: Arc::new(allow) }
    }
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = reachable(&allow, &host, found)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether a delivery failed because the target may not be reached (the
/// resolver's refusal comes back inside reqwest's error).
fn refused_target(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.downcast_ref::<TargetError>().is_some() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Signs `timestamp.body` with the contact method's secret: the value of
/// the `X-Muster-Signature` header is `sha256=<hex>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct WebhookChannel {
    store: Arc<dyn Store>,
    clock: Arc<dyn crate::clock::Clock>,
    /// Built with [`Guard`] as its resolver and no redirects
    /// ([`super::tls::TrustRoots::http_client`]).
    http: reqwest::Client,
    allow: WebhookAllow,
    /// Requests under way per receiver (scheme, host and port): at most
    /// [`PER_HOST`] each, so one slow receiver cannot take every delivery
    /// slot from the others.
    hosts: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// Requests at once to one receiver.
pub const PER_HOST: usize = 8;

impl WebhookChannel {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn crate::clock::Clock>,
        http: reqwest::Client,
        allow: WebhookAllow,
    ) -> WebhookChannel {
        WebhookChannel { store, clock, http, allow, hosts: Default::default() }
    }

    /// A turn at sending to `origin`, waited for when it has [`PER_HOST`]
    /// requests under way.
    async fn turn(&self, origin: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let gate = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            if hosts.len() > 1024 {
                // Forget receivers nobody is sending to.
                hosts.retain(|_, s| s.available_permits() < PER_HOST);
            }
            hosts.entry(origin.to_owned()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PER_HOST))).clone()
        };
        gate.acquire_owned().await.ok()
    }
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["webhook"]
    }

    /// A status page subscriber's webhook answered 2xx: it is confirmed
    /// (its first delivery is the check that it takes them).
    async fn delivered(&self, job: &Job) -> Result<(), Failure> {
        let Job::Webhook(Webhook { status_subscriber: Some(id), .. }) = job else { return Ok(()) };
        self.store
            .confirm_subscriber(*id, self.clock.now())
            .await
            .map_err(|e| Failure::new(format!("status subscriber {id}: {e}")))?;
        Ok(())
    }

    async fn deliver(&self, job: &Job, attempt: &Attempt<'_>) -> Result<(), Failure> {
        let Job::Webhook(hook) = job else { return Err(Failure::permanent("not a webhook job")) };
        let (url, secret) = match (hook.contact_method, hook.stakeholder_webhook.or(hook.status_subscriber)) {
            (None, None) if hook.setting.is_some() => {
                let key = hook.setting.clone().unwrap_or_default();
                match self.store.setting(&key).await {
                    Ok(Some(json)) => match serde_json::from_str::<serde_json::Value>(&json) {
                        Ok(v) if v["url"].is_string() => (
                            v["url"].as_str().unwrap_or_default().to_owned(),
                            v["secret"].as_str().unwrap_or_default().to_owned(),
                        ),
                        // Removed by an admin: an object without a URL.
                        Ok(v) if v.as_object().is_some_and(|o| o.is_empty()) => {
                            return Err(Failure::permanent(format!("the setting {key} was removed")));
                        }
                        _ => return Err(Failure::permanent(format!("the setting {key} is not a webhook"))),
                    },
                    Ok(None) => return Err(Failure::permanent(format!("the setting {key} was removed"))),
                    Err(e) => return Err(Failure::new(format!("reading the setting {key}: {e}"))),
                }
            }
            (None, None) if hook.support_integration.is_some() => {
                let id = hook.support_integration.unwrap_or_default();
                match self.store.support_integration(id).await {
                    Ok(Some(SupportIntegration { reply_url: Some(url), secret, .. })) => (url, secret),
                    Ok(_) => return Err(Failure::permanent(format!("support integration {id} has no reply URL now"))),
                    Err(e) => return Err(Failure::new(format!("reading support integration {id}: {e}"))),
                }
            }
            (None, Some(id)) if hook.status_subscriber.is_some() => match self.store.subscriber(id).await {
                Ok(Some(s)) => (s.address, s.secret.unwrap_or_default()),
                Ok(None) => return Err(Failure::permanent(format!("status subscriber {id} unsubscribed"))),
                Err(e) => return Err(Failure::new(format!("reading status subscriber {id}: {e}"))),
            },
            (Some(id), _) => match self.store.contact_method(id).await {
                Ok(Some(m)) => (m.address, m.secret.unwrap_or_default()),
                Ok(None) => return Err(Failure::permanent(format!("contact method {id} was removed"))),
                Err(e) => return Err(Failure::new(format!("reading contact method {id}: {e}"))),
            },
            (None, Some(id)) => match self.store.stakeholder_webhook(id).await {
                Ok(Some(w)) => (w.url, w.secret),
                Ok(None) => return Err(Failure::permanent(format!("stakeholder webhook {id} was removed"))),
                Err(e) => return Err(Failure::new(format!("reading stakeholder webhook {id}: {e}"))),
            },
            (None, None) => (hook.to.clone(), hook.legacy_secret.clone().unwrap_or_default()),
        };
        let target = origin(&url);
        // Trying again cannot make an internal address external: give up.
        let parsed = check_literal(&self.allow, &url).map_err(|e| Failure::permanent(e.to_string()))?;
        let body = serde_json::to_vec(&hook.body).unwrap_or_default();
        let timestamp = attempt.now.as_second();
        let _turn = self.turn(&target).await;
        let response = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header("idempotency-key", attempt.idempotency_key)
            .header("x-muster-timestamp", timestamp.to_string())
            .header("x-muster-signature", signature(&secret, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let refused = refused_target(&e);
                let message = format!("POST {target}: {}", error_chain(&e.without_url()));
                if refused { Failure::permanent(message) } else { Failure::new(message) }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_redirection() {
            return Err(Failure::new(format!("POST {target}: {status} (webhooks do not follow redirects)")));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(Failure { retry_after, ..Failure::new(format!("POST {target}: {status}")) })
    }
}
