//! A real SMTP server for the mail tests: Debian's python3-aiosmtpd,
//! storing what it receives in a maildir, with TLS from the test's CA.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ServerCert;

/// How the server wants TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS offered, and required before MAIL.
    RequireStartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// aiosmtpd on 127.0.0.1, killed on drop.
pub struct Smtp {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Smtp {
    /// `None` when aiosmtpd is missing outside CI (said loudly); under
    /// `CI=true` a missing aiosmtpd fails the test.
    pub async fn start(tls: SmtpTls, cert: &ServerCert) -> Option<Smtp> {
        let candidates =
            [std::env::var("MUSTER_TEST_SMTP_PYTHON").unwrap_or_default(), "/usr/bin/python3".into(), "python3".into()];
        let python = candidates.into_iter().filter(|p| !p.is_empty()).find(|p| {
            Command::new(p).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        });
        let Some(python) = python else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: python3-aiosmtpd is required");
            eprintln!("SKIPPED: python3-aiosmtpd (a Python that can import aiosmtpd) is not installed");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("muster-smtp-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, &cert.cert_pem).unwrap();
        std::fs::write(&key_file, &cert.key_pem).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (cert_flag, key_flag) = match tls {
            SmtpTls::RequireStartTls => ("--tlscert", "--tlskey"),
            SmtpTls::Implicit => ("--smtpscert", "--smtpskey"),
        };
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("maildir"))
            .arg(cert_flag)
            .arg(&cert_file)
            .arg(key_flag)
            .arg(&key_file)
            .stdout(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let smtp = Smtp { child, port, dir };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(15), "aiosmtpd did not listen within 15 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(smtp)
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("maildir").join("new")) else { return vec![] };
        entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
