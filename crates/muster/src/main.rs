//! `muster`: the server (`muster serve`, `muster migrate`) and the
//! command-line client for it (`muster incident …`, `muster role …`, …).
//!
//! # Layout
//!
//! - `main.rs`: the command line, parsed with clap, and the server commands.
//! - `client.rs`: the HTTP client the other commands use (`MUSTER_URL`,
//!   `MUSTER_TOKEN`), with errors taken from problem documents.
//! - `commands.rs`: one function per client command, printing tables for
//!   people or JSON (`--json`) for scripts.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod client;
mod commands;
mod profile;
mod text;

// Serving allocates and frees per request, from both cores at once:
// glibc's allocator took a fifth of the server's CPU under a storm of
// ingest (`perf`, docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_DATABASE: &str = "sqlite://muster-data/muster.db";

#[derive(Parser)]
#[command(name = "muster", version, about = "Incident response with explicit roles", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Top,
    #[command(flatten)]
    connection: commands::Connection,
}

#[derive(Subcommand)]
enum Top {
    /// Run the server: API, migrations on start, graceful shutdown on SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "MUSTER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// sqlite://PATH or postgres://…
        #[arg(long, env = "MUSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Ensure user `admin` exists with this API token (at least 32
        /// characters); it replaces the token an earlier value set.
        #[arg(long, env = "MUSTER_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Events per second each integration may send before it gets 429.
        #[arg(long, env = "MUSTER_INGEST_RATE", default_value_t = 10_000.0)]
        ingest_rate: f64,
        /// How many events an integration may send at once above its rate.
        #[arg(long, env = "MUSTER_INGEST_BURST", default_value_t = 100_000.0)]
        ingest_burst: f64,
        /// The address people reach this server at, for links in notifications
        /// (default: http:// and the listening address).
        #[arg(long, env = "MUSTER_PUBLIC_URL")]
        public_url: Option<String>,
        /// SMTP server for email notifications: smtp://[user:password@]host[:port][?tls=none|starttls|required]
        /// or smtps://… (TLS from the start, port 465).
        #[arg(long, env = "MUSTER_SMTP_URL", hide_env_values = true)]
        smtp_url: Option<String>,
        /// SMTP user name, when the URL has none.
        #[arg(long, env = "MUSTER_SMTP_USERNAME")]
        smtp_username: Option<String>,
        /// SMTP password, when the URL has none.
        #[arg(long, env = "MUSTER_SMTP_PASSWORD", hide_env_values = true)]
        smtp_password: Option<String>,

        /// The sender of notification mail.
        #[arg(long, env = "MUSTER_MAIL_FROM", default_value = "Muster <muster@localhost>")]
        mail_from: String,
        /// Seconds a claimed delivery job belongs to this instance before
        /// another may take it over (longer than a delivery's 10 s timeout).
        #[arg(long, env = "MUSTER_JOB_LEASE_SECONDS", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(2..=86_400))]
        job_lease_seconds: u64,
        /// Attempts at delivering a job before it is dead-lettered
        /// (GET /api/v1/jobs?state=dead).
        #[arg(long, env = "MUSTER_JOB_MAX_ATTEMPTS", default_value_t = muster_app::engine::MAX_ATTEMPTS,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        job_max_attempts: u32,
        /// Internal hosts or networks webhooks may reach anyway (repeatable or
        /// comma-separated: 127.0.0.1/32, 10.1.0.0/16, hooks.internal). By default
        /// webhooks reach only internet addresses: not loopback, link-local,
        /// private, CGNAT, unique-local, multicast or unspecified ones.
        #[arg(long, env = "MUSTER_WEBHOOK_ALLOW", value_delimiter = ',', value_name = "HOST|CIDR")]
        webhook_allow: Vec<String>,
        /// Reverse proxies whose X-Forwarded-For says the client's address, for
        /// the sign-in slow-down (repeatable or comma-separated CIDRs).
        #[arg(long, env = "MUSTER_TRUSTED_PROXY", value_delimiter = ',', value_name = "CIDR")]
        trusted_proxy: Vec<String>,
        /// A token /metrics then requires as `Authorization: Bearer …` (open without it).
        #[arg(long, env = "MUSTER_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "MUSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Back up the database to a new FILE: SQLite online, while `serve` runs (VACUUM INTO);
    /// PostgreSQL with pg_dump, of the URL's schema.
    Backup {
        /// Where to write the backup; never overwritten.
        file: std::path::PathBuf,
        #[arg(long, env = "MUSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Replace the database with a backup FILE from `muster backup`, then migrate it. SQLite:
    /// refuses a database a running `serve` has open; PostgreSQL: restores with psql into the
    /// URL's schema.
    Restore {
        /// A backup from `muster backup`.
        file: std::path::PathBuf,
        #[arg(long, env = "MUSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Replace a database (PostgreSQL: a schema) that holds data.
        #[arg(long)]
        force: bool,
    },
    #[command(flatten)]
    Client(commands::ClientCommand),
}

fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Top::Client(commands::ClientCommand::Policy(commands::PolicyCmd::Add { order, .. })) = &mut cli.command {
        *order = commands::policy_order(&matches);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Top::Serve {
                listen,
                database,
                admin_token,
                ingest_rate,
                ingest_burst,
                public_url,
                smtp_url,
                smtp_username,
                smtp_password,
                mail_from,
                job_lease_seconds,
                job_max_attempts,
                webhook_allow,
                trusted_proxy,
                metrics_token,
            } => {
                let trust = match &cli.connection.ca_file {
                    Some(path) => muster_app::channels::tls::TrustRoots::from_file(path).map_err(anyhow::Error::msg),
                    None => Ok(muster_app::channels::tls::TrustRoots::system()),
                };
                let network = network_settings(&webhook_allow, &trusted_proxy, metrics_token);
                match trust.and_then(|t| network.map(|n| (t, n))) {
                    Ok((trust, (webhook_allow, trusted_proxies, metrics_token))) => {
                        let config = muster_app::Config {
                            rate_limit: muster_app::ingest::RateLimit { per_second: ingest_rate, burst: ingest_burst },
                            public_url: public_url.unwrap_or_default(),
                            smtp_url,
                            smtp_credentials: smtp_username.map(|u| (u, smtp_password.unwrap_or_default())),
                            trust,
                            mail_from,
                            job_lease: std::time::Duration::from_secs(job_lease_seconds),
                            job_max_attempts,
                            webhook_allow,
                            trusted_proxies,
                            metrics_token,
                            run_engine: true,
                        };
                        serve(listen, &database, admin_token.as_deref(), config).await
                    }
                    Err(e) => Err(e),
                }
            }
            Top::Migrate { database } => migrate(&database).await,
            Top::Backup { file, database } => backup(&database, &file).await,
            Top::Restore { file, database, force } => restore(&database, &file, force).await,
            Top::Client(cmd) => commands::run(cmd, cli.connection).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The allowed webhook targets, the trusted proxies and the metrics token,
/// parsed: a value that does not parse stops the server naming its flag.
fn network_settings(
    webhook_allow: &[String],
    trusted_proxy: &[String],
    metrics_token: Option<String>,
) -> anyhow::Result<(muster_domain::egress::WebhookAllow, Vec<muster_domain::egress::Cidr>, Option<String>)> {
    let allow = muster_domain::egress::WebhookAllow::parse(webhook_allow.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--webhook-allow (MUSTER_WEBHOOK_ALLOW): {e}"))?;
    let proxies = trusted_proxy
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().map_err(|e| anyhow::anyhow!("--trusted-proxy (MUSTER_TRUSTED_PROXY): {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if metrics_token.as_deref().is_some_and(|t| t.trim().len() < 16) {
        anyhow::bail!("--metrics-token (MUSTER_METRICS_TOKEN) must have at least 16 characters");
    }
    Ok((allow, proxies, metrics_token))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // Colour only on a terminal: a log file or a journal gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

async fn serve(
    listen: SocketAddr,
    database: &str,
    admin_token: Option<&str>,
    mut config: muster_app::Config,
) -> anyhow::Result<()> {
    init_tracing();
    // Before anything else: a short admin token is refused, not stored.
    if let Some(token) = admin_token {
        muster_domain::token::check_admin_token(token)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("refusing to start: MUSTER_ADMIN_TOKEN (--admin-token) is too weak")?;
    }
    // Held while serving: `muster restore` refuses a SQLite file in use.
    let _in_use = muster_store::backup::hold(database).with_context(|| format!("failed to open {database}"))?;
    let store =
        muster_store::open(database, true).await.with_context(|| format!("failed to open the database {database}"))?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("failed to listen on {listen}"))?;
    let addr = listener.local_addr()?;
    if config.public_url.is_empty() {
        if addr.ip().is_unspecified() {
            tracing::warn!(
                "listening on {addr} without --public-url: links in notifications point at http://{addr}, \
                 which people cannot open; set --public-url"
            );
        }
        config.public_url = format!("http://{addr}");
    }
    let clock = Arc::new(muster_app::SystemClock);
    let app = muster_app::App::with_config(store, clock, config)
        .map_err(|e| anyhow::anyhow!(e))
        .context("invalid configuration")?;
    let app = Arc::new(app);
    let generated = app.bootstrap_admin(admin_token).await.context("failed to set up the admin user")?;
    println!("Muster is listening on http://{addr} (database: {})", redact(database));
    if let Some(token) = generated {
        println!("First start: created user admin. Its API token, shown only this once:");
        println!("  export MUSTER_URL=http://{addr} MUSTER_TOKEN={token}");
    }
    let stop = shutdown_signal();
    muster_server::serve(listener, app, stop).await.context("the server failed")?;
    tracing::info!("shut down");
    Ok(())
}

async fn migrate(database: &str) -> anyhow::Result<()> {
    muster_store::open(database, true).await.with_context(|| format!("failed to migrate {database}"))?;
    println!("Migrations applied to {}", redact(database));
    Ok(())
}

async fn backup(database: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let done = muster_store::backup::backup(database, file)
        .await
        .with_context(|| format!("no backup of {} was made", redact(database)))?;
    println!("Backed up {} (schema version {}) to {}", redact(database), done.schema_version, file.display());
    Ok(())
}

async fn restore(database: &str, file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let done = muster_store::backup::restore(database, file, force)
        .await
        .with_context(|| format!("{} was not restored into {}", file.display(), redact(database)))?;
    println!(
        "Restored {} (schema version {}) into {}, migrated to schema version {}",
        file.display(),
        done.schema_version,
        redact(database),
        done.now_version
    );
    Ok(())
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The graceful stop: SIGTERM or Ctrl-C. The handlers are installed here,
/// before the server answers anything, so a SIGTERM that comes right after
/// the first answer stops it gracefully too (installed only when the future
/// is first polled, it could still kill the process outright).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let terminate = async {
            match terminate.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_password_is_not_printed() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("sqlite://muster-data/muster.db"), "sqlite://muster-data/muster.db");
    }
}
