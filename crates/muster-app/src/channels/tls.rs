//! Which certificates outgoing TLS trusts: the system's roots, plus the
//! PEM bundle of `--ca-file` (`MUSTER_CA_FILE`) for a private CA. Webhooks
//! (HTTPS) and mail (STARTTLS, SMTPS) use the same roots; certificates are
//! always verified, names included.

use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Default)]
pub struct TrustRoots {
    /// The extra roots, as PEM.
    extra: Option<Arc<Vec<u8>>>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots").field("extra", &self.extra.is_some()).finish()
    }
}

impl TrustRoots {
    /// The system's roots only.
    pub fn system() -> TrustRoots {
        TrustRoots::default()
    }

    /// The system's roots and every certificate in the PEM bundle `pem`.
    pub fn with_pem(pem: Vec<u8>) -> Result<TrustRoots, String> {
        let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("not a PEM bundle: {e}"))?;
        if found.is_empty() {
            return Err("holds no PEM certificate".into());
        }
        Ok(TrustRoots { extra: Some(Arc::new(pem)) })
    }

    /// Reads a PEM bundle of CA certificates.
    pub fn from_file(path: &std::path::Path) -> Result<TrustRoots, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        TrustRoots::with_pem(pem).map_err(|e| format!("the CA file {} {e}", path.display()))
    }

    /// An HTTP client for webhooks: HTTP and HTTPS, these roots, no
    /// redirects followed (a receiver answers, it does not send us on),
    /// and names resolved by `resolver` (the webhook channel's
    /// [`super::webhook::Guard`], which drops internal addresses). No
    /// proxy from the environment either: through a proxy, the proxy would
    /// resolve the name and the guard would see only the proxy's.
    pub fn http_client(
        &self,
        timeout: Duration,
        resolver: Arc<super::webhook::Guard>,
    ) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(resolver)
            .user_agent(concat!("Muster/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.extra {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))
    }

    /// TLS parameters for an SMTP connection to `host`.
    pub fn smtp(&self, host: &str) -> Result<lettre::transport::smtp::client::TlsParameters, String> {
        use lettre::transport::smtp::client::{Certificate, TlsParameters};
        let mut builder = TlsParameters::builder(host.to_owned());
        if let Some(pem) = &self.extra {
            let cert = Certificate::from_pem(pem).map_err(|e| format!("the CA file: {e}"))?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build_rustls().map_err(|e| format!("TLS for {host}: {e}"))
    }
}
