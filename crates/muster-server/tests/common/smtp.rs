//! A real SMTP server for tests: Debian's python3-aiosmtpd on 127.0.0.1,
//! storing what it receives in a maildir.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::external::{TempDir, eventually, free_port, missing};

/// aiosmtpd listening on 127.0.0.1, killed on drop.
pub struct Smtp {
    child: Child,
    maildir: PathBuf,
    pub port: u16,
    _dir: TempDir,
}

impl Smtp {
    pub async fn start() -> Option<Smtp> {
        let candidates =
            [std::env::var("MUSTER_TEST_SMTP_PYTHON").unwrap_or_default(), "/usr/bin/python3".into(), "python3".into()];
        let python = candidates.into_iter().filter(|p| !p.is_empty()).find(|p| {
            Command::new(p).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        });
        let Some(python) = python else { return missing("python3-aiosmtpd (a Python that can import aiosmtpd)") };
        let dir = TempDir::new("muster-smtp");
        // Mailbox creates the maildir itself, so it must not exist yet.
        let maildir = dir.0.join("maildir");
        let port = free_port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let smtp = Smtp { child, maildir, port, _dir: dir };
        eventually(Duration::from_secs(15), "aiosmtpd to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
        Some(smtp)
    }

    /// The messages received so far, as text, quoted-printable decoded.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return vec![] };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|m| m.replace("=\r\n", "").replace("=\n", "").replace("=3D", "="))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
