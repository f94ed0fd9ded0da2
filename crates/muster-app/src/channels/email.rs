//! Mail over SMTP: plain text, or plain text and HTML as alternatives.
//!
//! The server is a URL: `smtp://[user:password@]host[:port][?tls=…]` or
//! `smtps://…` (TLS from the first byte, port 465 by default). With
//! `smtp://`, `tls=none` (the default: a local relay) sends in the clear,
//! `tls=starttls` upgrades when the server offers STARTTLS, and
//! `tls=required` refuses to send unless the upgrade succeeds. Certificates
//! are verified against [`super::tls::TrustRoots`]. The user name and
//! password come from the URL (percent-encoded) or from
//! `MUSTER_SMTP_USERNAME` / `MUSTER_SMTP_PASSWORD`; a URL with a user and no
//! password takes the password from the environment, or sends none.

use std::time::Duration;

use lettre::AsyncTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use muster_domain::outbox::Job;

use super::tls::TrustRoots;
use super::{Attempt, Channel, Failure};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    /// STARTTLS when offered.
    StartTls,
    /// STARTTLS or nothing.
    Required,
    /// TLS from the start (`smtps://`).
    Implicit,
}

/// An SMTP server, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
}

impl SmtpServer {
    /// Parses a URL; `env_credentials` (user, password) apply when the URL
    /// has none.
    pub fn parse(url: &str, env_credentials: Option<(String, String)>) -> Result<SmtpServer, String> {
        // Errors show the URL without its user and password.
        let shown = redacted(url);
        let (implicit, rest) = match (url.strip_prefix("smtp://"), url.strip_prefix("smtps://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Err(format!("{shown:?} is not an smtp:// or smtps:// URL")),
        };
        // The user info ends at the last '@' (a password may hold '@' and
        // '?' only percent-encoded, as in any URL).
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (host_port, query) = match rest.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (rest, None),
        };
        let host_port = host_port.trim_end_matches('/');
        let default_port = if implicit { 465 } else { 25 };
        let (host, port) = match host_port.strip_prefix('[') {
            // An IPv6 address: [::1] or [::1]:2525.
            Some(v6) => {
                let (addr, after) =
                    v6.split_once(']').ok_or_else(|| format!("{shown:?}: an unclosed [ in the host"))?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse::<u16>().map_err(|_| format!("{shown:?} has no valid port"))?,
                    None if after.is_empty() => default_port,
                    None => return Err(format!("{shown:?}: unexpected {after:?} after the host")),
                };
                (addr, port)
            }
            None => match host_port.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{shown:?} has no valid port"))?),
                None => (host_port, default_port),
            },
        };
        if host.is_empty() {
            return Err(format!("{shown:?} names no host"));
        }
        let mut tls = if implicit { SmtpTls::Implicit } else { SmtpTls::None };
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match (key.as_ref(), value.as_ref(), implicit) {
                ("tls", "none", false) => tls = SmtpTls::None,
                ("tls", "starttls", false) => tls = SmtpTls::StartTls,
                ("tls", "required", false) => tls = SmtpTls::Required,
                ("tls", _, true) => return Err(format!("{shown:?}: smtps:// is TLS already; leave out tls=")),
                ("tls", other, false) => {
                    return Err(format!("{shown:?}: tls={other} is not one of none, starttls, required"));
                }
                (other, _, _) => return Err(format!("{shown:?}: unknown parameter {other:?}")),
            }
        }
        let decode = |s: &str| percent_decode(s).ok_or_else(|| format!("{shown:?}: bad percent-encoding"));
        let credentials = match auth.map(|a| a.split_once(':').ok_or(a)) {
            Some(Ok((user, password))) => Some((decode(user)?, decode(password)?)),
            // A user without a password (`smtp://relay-user@host`) takes the
            // password from the environment, and without one sends no
            // credentials, as a relay that wants none expects.
            Some(Err(user)) => env_credentials
                .map(|(_, password)| (user, password))
                .map(|(u, p)| Ok::<_, String>((decode(u)?, p)))
                .transpose()?,
            None => env_credentials,
        };
        Ok(SmtpServer { host: host.to_owned(), port, tls, credentials })
    }
}

/// `url` with its user and password replaced by `…`, for messages.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Where mail goes, and from whom.
pub struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    pub fn new(server: &SmtpServer, from: &str, roots: &TrustRoots) -> Result<Mailer, String> {
        let tls = match server.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Opportunistic(roots.smtp(&server.host)?),
            SmtpTls::Required => Tls::Required(roots.smtp(&server.host)?),
            SmtpTls::Implicit => Tls::Wrapper(roots.smtp(&server.host)?),
        };
        let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((user, password)) = &server.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = from.parse().map_err(|e| format!("the sender {from:?} is not an address: {e}"))?;
        Ok(Mailer { transport: builder.build(), from })
    }
}

/// Delivers `email` jobs; without an SMTP server configured, mail waits in
/// the outbox (each attempt fails until one is).
pub struct EmailChannel {
    store: std::sync::Arc<dyn muster_store::Store>,
    mailer: Option<Mailer>,
}

impl EmailChannel {
    pub fn new(store: std::sync::Arc<dyn muster_store::Store>, mailer: Option<Mailer>) -> EmailChannel {
        EmailChannel { store, mailer }
    }
}

#[async_trait::async_trait]
impl Channel for EmailChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["email"]
    }

    async fn deliver(&self, job: &Job, attempt: &Attempt<'_>) -> Result<(), Failure> {
        let Job::Email(mail) = job else { return Err(Failure::permanent("not an email job")) };
        if let Some(id) = mail.contact_method {
            match self.store.contact_method(id).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(Failure::permanent(format!("contact method {id} was removed"))),
                Err(e) => return Err(Failure::new(format!("reading contact method {id}: {e}"))),
            }
        }
        if let Some(id) = mail.status_subscriber {
            match self.store.subscriber(id).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(Failure::permanent(format!("status subscriber {id} unsubscribed"))),
                Err(e) => return Err(Failure::new(format!("reading status subscriber {id}: {e}"))),
            }
        }
        let Some(mailer) = &self.mailer else {
            return Err(Failure::waiting("no SMTP server is configured (MUSTER_SMTP_URL): the mail waits"));
        };
        let to = mail.to.parse().map_err(|e| Failure::permanent(format!("{:?}: {e}", mail.to)))?;
        let mut builder = lettre::Message::builder()
            .from(mailer.from.clone())
            .to(to)
            .subject(&mail.subject)
            .message_id(Some(format!("<{}@muster>", attempt.idempotency_key.replace([':', ' ', '@'], "."))));
        if let Some(url) = &mail.list_unsubscribe {
            // RFC 8058: one click in the mail client unsubscribes.
            use lettre::message::header::{HeaderName, HeaderValue};
            let name = |n: &'static str| HeaderName::new_from_ascii_str(n);
            builder = builder
                .raw_header(HeaderValue::new(name("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(name("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click".to_owned()));
        }
        let built = match &mail.html {
            None => builder.header(lettre::message::header::ContentType::TEXT_PLAIN).body(mail.text.clone()),
            Some(html) => {
                builder.multipart(lettre::message::MultiPart::alternative_plain_html(mail.text.clone(), html.clone()))
            }
        };
        let message = built.map_err(|e| Failure::permanent(format!("cannot build the mail: {e}")))?;
        mailer.transport.send(message).await.map_err(|e| Failure::new(format!("SMTP to {}: {e}", mail.to)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SmtpServer, String> {
        SmtpServer::parse(url, None)
    }

    #[test]
    fn a_plain_url_is_a_local_relay_in_the_clear_on_port_25() {
        let s = parse("smtp://relay").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls, s.credentials), ("relay", 25, SmtpTls::None, None));
    }

    #[test]
    fn tls_is_chosen_in_the_url() {
        assert_eq!(parse("smtp://h:587?tls=starttls").unwrap().tls, SmtpTls::StartTls);
        assert_eq!(parse("smtp://h:587/?tls=required").unwrap().tls, SmtpTls::Required);
        let s = parse("smtps://h").unwrap();
        assert_eq!((s.port, s.tls), (465, SmtpTls::Implicit));
    }

    #[test]
    fn credentials_come_from_the_url_percent_decoded_or_else_from_the_environment() {
        let s = SmtpServer::parse("smtp://mu%40ster:p%3Ass@h:2525", Some(("env".into(), "pw".into()))).unwrap();
        assert_eq!(s.credentials, Some(("mu@ster".into(), "p:ss".into())));
        let s = SmtpServer::parse("smtp://h:2525", Some(("env".into(), "pw".into()))).unwrap();
        assert_eq!(s.credentials, Some(("env".into(), "pw".into())));
    }

    #[test]
    fn a_url_that_cannot_work_is_refused_with_a_reason() {
        for (url, says) in [
            ("http://h", "not an smtp://"),
            ("smtp://", "names no host"),
            ("smtp://h:x", "no valid port"),
            ("smtp://h?tls=maybe", "tls=maybe"),
            ("smtps://h?tls=required", "TLS already"),
            ("smtp://h?verify=no", "unknown parameter"),
            ("smtp://a%zz:b@h", "percent-encoding"),
            ("smtp://u:hunter2@h?tls=maybe", "…@h"),
            ("smtp://[::1", "unclosed"),
        ] {
            let e = parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("hunter2"), "no password in an error: {e}");
        }
    }

    #[test]
    fn a_password_may_hold_an_encoded_at_or_question_mark_and_a_user_alone_sends_no_credentials() {
        let s = parse("smtp://me:p%40ss%3F@h:587?tls=required").unwrap();
        assert_eq!((s.credentials, s.tls), (Some(("me".into(), "p@ss?".into())), SmtpTls::Required));
        assert_eq!(parse("smtp://relay-user@h").unwrap().credentials, None);
        let with_env = SmtpServer::parse("smtp://relay-user@h", Some(("env".into(), "pw".into()))).unwrap();
        assert_eq!(
            with_env.credentials,
            Some(("relay-user".into(), "pw".into())),
            "the URL's user, the environment's password"
        );
    }

    #[test]
    fn an_ipv6_host_is_written_in_brackets() {
        let s = parse("smtp://[::1]:2525").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 2525));
        assert_eq!(parse("smtps://[::1]").unwrap().port, 465);
    }
}
