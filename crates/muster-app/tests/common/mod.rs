//! What the application-layer tests share: an `App` over a test database
//! with a manual clock and no background engine, people, a test CA, and
//! receivers that speak HTTP or HTTPS.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use muster_app::{App, Config, ManualClock};
use muster_domain::{Actor, Handle, Permission};
use muster_store::NewUser;
use muster_store::testing::TestDatabase;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub mod mail;

/// An `App` whose engine runs only when the test says (`run_due`).
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub admin: Actor,
    _db: TestDatabase,
}

/// `config` with the operator setting that lets webhooks reach the tests'
/// receivers on 127.0.0.1, which they refuse by default.
pub fn allowing_receivers(config: Config) -> Config {
    Config { webhook_allow: muster_domain::egress::WebhookAllow::parse(["127.0.0.1/32"]).unwrap(), ..config }
}

impl TestApp {
    pub async fn new(db: TestDatabase) -> TestApp {
        Self::with_config(db, Config::default()).await
    }

    /// An app whose webhooks may reach the test's receivers.
    pub async fn with_receivers(db: TestDatabase) -> TestApp {
        Self::with_config(db, allowing_receivers(Config::default())).await
    }

    pub async fn with_config(db: TestDatabase, config: Config) -> TestApp {
        let clock = ManualClock::new("2026-12-01T09:00:00Z".parse().unwrap());
        let config = Config { run_engine: false, public_url: "http://muster.test".into(), ..config };
        let app = App::with_config(db.open().await, clock.clone(), config).expect("the configuration is valid");
        let admin = Actor { handle: Handle::parse("admin").unwrap(), permission: Permission::Admin };
        let user = NewUser {
            handle: admin.handle.clone(),
            name: "Admin".into(),
            email: "admin@example.com".into(),
            permission: Permission::Admin,
            time_zone: None,
        };
        app.store.ensure_user(&user, app.clock.now()).await.unwrap();
        TestApp { app, clock, admin, _db: db }
    }

    /// Its database, to start another app on.
    pub fn into_db(self) -> TestDatabase {
        self._db
    }

    /// A responder named `handle`.
    pub async fn person(&self, handle: &str) -> Actor {
        let user = NewUser {
            handle: Handle::parse(handle).unwrap(),
            name: handle.to_owned(),
            email: format!("{handle}@example.com"),
            permission: Permission::Responder,
            time_zone: None,
        };
        self.app.create_user(&self.admin, user).await.unwrap().actor()
    }

    /// A P1 declared by `who` (its incident manager); its reference.
    pub async fn declare(&self, who: &Actor, title: &str) -> muster_domain::IncidentRef {
        let input = muster_app::DeclareInput {
            title: title.into(),
            summary: String::new(),
            priority: muster_domain::Priority::P1,
            incident_manager: None,
        };
        self.app.declare(who, input).await.unwrap().incident.reference()
    }

    /// Runs the engine until nothing more is due now (at most `rounds` times).
    pub async fn deliver_due(&self, rounds: usize) -> usize {
        let mut total = 0;
        for _ in 0..rounds {
            let n = self.app.engine.run_due().await.unwrap();
            total += n;
            if n == 0 {
                break;
            }
        }
        total
    }
}

/// A certificate authority of the test's own, and certificates it signs.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

/// A server certificate and its key, as DER.
pub struct ServerCert {
    pub chain: Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
    pub key_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Muster test CA");
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> ServerCert {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("server"));
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        ServerCert {
            chain: vec![cert.der().clone()],
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A request a receiver got: its head (lower-cased header names) and body.
#[derive(Debug, Clone)]
pub struct Got {
    pub head: String,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A webhook receiver on 127.0.0.1 answering every request with `status`,
/// over TLS with `cert` when given. Stops with the test's runtime.
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Got>>>,
    pub port: u16,
}

impl Receiver {
    pub async fn start(status: u16, cert: Option<&ServerCert>) -> Receiver {
        Self::answering(status, "", cert).await
    }

    /// A receiver that answers with `status` and the header lines `extra`
    /// (each ending in CRLF), e.g. a redirect's `location`.
    pub async fn answering(status: u16, extra: &str, cert: Option<&ServerCert>) -> Receiver {
        let extra: Arc<str> = extra.into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let acceptor = cert.map(|c| {
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_der.clone().into());
            let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(c.chain.clone(), key)
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let record = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (record, acceptor, extra) = (record.clone(), acceptor.clone(), extra.clone());
                tokio::spawn(async move {
                    match acceptor {
                        Some(a) => {
                            // A client that refuses the certificate ends the handshake: nothing to record.
                            if let Ok(tls) = a.accept(tcp).await {
                                answer(tls, status, &extra, &record).await;
                            }
                        }
                        None => answer(tcp, status, &extra, &record).await,
                    }
                });
            }
        });
        Receiver { got, port }
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// Reads one HTTP/1.1 request, records it, answers `status` (with the
/// header lines `extra`) and closes.
async fn answer(mut io: impl AsyncRead + AsyncWrite + Unpin, status: u16, extra: &str, record: &Mutex<Vec<Got>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let got = Got { head, body: Vec::new() };
    let length: usize = got.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    record.lock().unwrap().push(Got { body: buf[head_end..head_end + length].to_vec(), ..got });
    let reply = format!("HTTP/1.1 {status} X\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n");
    let _ = io.write_all(reply.as_bytes()).await;
    let _ = io.shutdown().await;
}
