//! The command-line client against an `https://` server: behind a TLS
//! proxy with a certificate from the test's own CA, the CLI works once it
//! trusts that CA (`MUSTER_CA_FILE`), and refuses the server otherwise.
//! The database does not matter here: SQLite only.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{ADMIN, BIN, Server};
use muster_store::testing::{Backend, TestDatabase};
use tokio_rustls::rustls;

/// A CA, and a certificate for `localhost` it signed: (CA PEM, chain, key).
fn certificates() -> (String, Vec<rustls::pki_types::CertificateDer<'static>>, Vec<u8>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "Muster CLI test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), vec![leaf.der().clone()], key.serialize_der())
}

/// Terminates TLS on 127.0.0.1 and forwards to `upstream` (host:port), on a
/// runtime of its own that lives as long as the test. Returns its port.
fn tls_proxy(upstream: String, chain: Vec<rustls::pki_types::CertificateDer<'static>>, key: Vec<u8>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
    });
    port
}

#[test]
fn the_cli_reaches_an_https_server_that_it_trusts_and_refuses_one_it_does_not() {
    let db = tokio::runtime::Runtime::new().unwrap().block_on(TestDatabase::new(Backend::Sqlite)).unwrap();
    let server = Server::start(&db.url, Some(ADMIN));
    let (ca, chain, key) = certificates();
    let upstream = server.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let port = tls_proxy(upstream, chain, key);
    let dir = std::env::temp_dir().join(format!("muster-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let url = format!("https://localhost:{port}");
    let cli = |ca: Option<&std::path::Path>| {
        let mut c = Command::new(BIN);
        c.args(["incident", "list"]).env("MUSTER_URL", &url).env("MUSTER_TOKEN", ADMIN).env_remove("MUSTER_CA_FILE");
        if let Some(ca) = ca {
            c.env("MUSTER_CA_FILE", ca);
        }
        c.output().unwrap()
    };

    let trusted = cli(Some(&ca_file));
    assert!(trusted.status.success(), "with the CA: {}", String::from_utf8_lossy(&trusted.stderr));
    assert!(String::from_utf8_lossy(&trusted.stdout).starts_with("REF"), "the incident list came back over TLS");

    let untrusted = cli(None);
    assert!(!untrusted.status.success(), "a server signed by an unknown CA is refused");
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(said.contains("cannot reach Muster") && said.contains("certificate"), "says why: {said}");
    let _ = std::fs::remove_dir_all(dir);
}
