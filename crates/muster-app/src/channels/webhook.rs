//! Webhooks: a JSON POST to a person's webhook contact method, over HTTP or
//! HTTPS, signed with the method's secret.
//!
//! The job names the contact method; its URL and secret are read here, at
//! delivery, so no secret is ever in the outbox and a corrected URL is used
//! by the next retry. Receivers check `X-Muster-Signature` (see
//! [`signature`]) and deduplicate retries by `Idempotency-Key`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use muster_domain::outbox::Job;
use muster_store::Store;
use sha2::Sha256;

use super::{Attempt, Channel, Failure, error_chain};

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
    http: reqwest::Client,
}

impl WebhookChannel {
    pub fn new(store: Arc<dyn Store>, http: reqwest::Client) -> WebhookChannel {
        WebhookChannel { store, http }
    }
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["webhook"]
    }

    async fn deliver(&self, job: &Job, attempt: &Attempt<'_>) -> Result<(), Failure> {
        let Job::Webhook(hook) = job else { return Err(Failure::permanent("not a webhook job")) };
        let (url, secret) = match hook.contact_method {
            Some(id) => match self.store.contact_method(id).await {
                Ok(Some(m)) => (m.address, m.secret.unwrap_or_default()),
                Ok(None) => return Err(Failure::permanent(format!("contact method {id} was removed"))),
                Err(e) => return Err(Failure::new(format!("reading contact method {id}: {e}"))),
            },
            None => (hook.to.clone(), hook.legacy_secret.clone().unwrap_or_default()),
        };
        let body = serde_json::to_vec(&hook.body).unwrap_or_default();
        let timestamp = attempt.now.as_second();
        let response = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("idempotency-key", attempt.idempotency_key)
            .header("x-muster-timestamp", timestamp.to_string())
            .header("x-muster-signature", signature(&secret, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::new(format!("POST {url}: {}", error_chain(&e))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(Failure { retry_after, ..Failure::new(format!("POST {url}: {status}")) })
    }
}
