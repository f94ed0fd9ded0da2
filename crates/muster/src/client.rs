//! The HTTP client behind the CLI commands.

use anyhow::{Context as _, anyhow, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the server at `base` (http:// or https://, verified
    /// against the system's roots and those in `ca_file`).
    pub fn new(base: &str, token: Option<String>, ca_file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).with_context(|| format!("cannot read the CA file {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("the CA file {} is not a PEM bundle", path.display()))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().context("failed to build the HTTP client")?;
        Ok(Client { http, base: base.trim_end_matches('/').to_owned(), token })
    }

    /// Sends a request; returns the JSON body (`Null` for 204), or an error
    /// carrying the problem document's detail and field.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (status, text) = self.exchange(method.clone(), path, body).await?;
        if status == StatusCode::NO_CONTENT || text.is_empty() {
            return if status.is_success() { Ok(Value::Null) } else { bail!("{method} {path}: {status}") };
        }
        let value: Value = serde_json::from_str(&text).map_err(|_| anyhow!("{method} {path}: {status}: {text}"))?;
        if status.is_success() {
            return Ok(value);
        }
        Err(problem(status, &value))
    }

    /// GETs a document that is not JSON (Markdown, HTML); a refusal is the
    /// problem document's detail, as for [`Client::send`].
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let (status, text) = self.exchange(Method::GET, path, None).await?;
        if status.is_success() {
            return Ok(text);
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => Err(problem(status, &value)),
            Err(_) => bail!("GET {path}: {status}: {text}"),
        }
    }

    async fn exchange(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(StatusCode, String)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow!("cannot reach Muster at {} (set MUSTER_URL): {}", self.base, muster_app::channels::error_chain(&e))
        })?;
        let status = resp.status();
        let text = resp.text().await.context("failed to read the response")?;
        Ok((status, text))
    }

    /// The server's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::DELETE, path, None).await
    }
}

/// The error a problem document says.
fn problem(status: StatusCode, value: &Value) -> anyhow::Error {
    let detail = value.get("detail").and_then(Value::as_str).unwrap_or("no detail");
    let hint = if status == StatusCode::UNAUTHORIZED { " (set MUSTER_TOKEN)" } else { "" };
    match value.get("field").and_then(Value::as_str) {
        Some(field) => anyhow!("{} ({field}): {detail}{hint}", status.as_u16()),
        None => anyhow!("{}: {detail}{hint}", status.as_u16()),
    }
}
