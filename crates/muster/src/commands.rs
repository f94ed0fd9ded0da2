//! The client commands. Each talks to a server over the API and prints a
//! table for people, or the API's JSON with `--json`.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::Client;

/// `println!` that ends the program quietly when stdout is gone (as with
/// `muster incident list | head`), instead of panicking on a broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// How to reach the server; on every client command.
#[derive(Args, Clone)]
pub struct Connection {
    /// The server's URL.
    #[arg(long, global = true, env = "MUSTER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token.
    #[arg(long, global = true, env = "MUSTER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// PEM file of CA certificates to trust besides the system's: for the
    /// client against an https:// server, and for the server's https://
    /// webhooks and SMTP over TLS (a private CA).
    #[arg(long, global = true, env = "MUSTER_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Declare, list, show and update incidents.
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Assign and relieve roles in an incident.
    #[command(subcommand)]
    Role(RoleCmd),
    /// Read and write an incident's timeline.
    #[command(subcommand)]
    Timeline(TimelineCmd),
    /// Manage users: add, list, disable, passwords, new tokens.
    #[command(subcommand, visible_alias = "users")]
    User(UserCmd),
    /// A user's API tokens: list and revoke.
    #[command(subcommand, visible_alias = "tokens")]
    Token(TokenCmd),
    /// The triage queue: list, acknowledge, assess, declare.
    #[command(subcommand)]
    Alert(AlertCmd),
    /// Services and their integration keys.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// On-call schedules: add, list, show, override.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Escalation policies: add, list.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Page someone for an incident: `muster page INC-3 @carol --role tech_lead -m "DB replica lag"`.
    Page {
        /// The incident, e.g. INC-3.
        incident: String,
        /// @handle, schedule:<id or name>, or policy:<id or name>.
        target: String,
        /// What the paged person reads first.
        #[arg(long, short)]
        message: String,
        /// A role whoever acknowledges takes on, e.g. tech_lead.
        #[arg(long)]
        role: Option<String>,
    },
    /// Acknowledge a page: its escalation stops (and you take on the role it asked for).
    Ack { page: u64 },
    /// Decline a page: it goes on to the next escalation step.
    Decline { page: u64 },
    /// Recent pages, or one page with where its notifications went.
    Pages {
        /// Show this page in full.
        page: Option<u64>,
        /// Only pages still escalating.
        #[arg(long)]
        open: bool,
        /// Only the pages of this incident.
        #[arg(long)]
        incident: Option<String>,
    },
    /// Who is on call now (or --at), on one schedule or all.
    Oncall {
        /// A schedule id or name; all schedules when left out.
        schedule: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Add a policy: `muster policy add Checkout --step 0=schedule:Primary --step 300=@lead,schedule:Primary --repeat 2`.
    Add {
        name: String,
        /// DELAY_SECONDS=TARGET[,TARGET…], a target being @handle or schedule:<id or name>; in order.
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
        #[arg(long, default_value_t = 0)]
        repeat: u32,
    },
    /// List policies.
    List,
}

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// Add a schedule with one rotation: `muster schedule add Primary --tz Europe/Berlin --users alice,bob --shift 1w`.
    Add {
        name: String,
        /// IANA time zone.
        #[arg(long = "tz")]
        time_zone: String,
        /// Comma-separated handles, in rotation order.
        #[arg(long)]
        users: String,
        /// 8h, 12h, 1d, 1w …
        #[arg(long, default_value = "1w")]
        shift: String,
        /// Local handoff time.
        #[arg(long, default_value = "09:00")]
        handoff: String,
        /// Local date of the first shift (default: today).
        #[arg(long)]
        start: Option<String>,
    },
    /// List schedules.
    List,
    /// Show the next shifts of a schedule.
    Show {
        schedule: String,
        /// How many days ahead.
        #[arg(long, default_value_t = 14)]
        days: u32,
    },
    /// Put someone on call from --start to --end.
    Override {
        schedule: String,
        user: String,
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
    },
}

#[derive(Subcommand)]
pub enum AlertCmd {
    /// Alerts, newest first.
    List {
        /// Comma-separated: triggered, acknowledged, resolved.
        #[arg(long)]
        status: Option<String>,
        /// A service id.
        #[arg(long)]
        service: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One alert with its details.
    Show { id: u64 },
    /// Acknowledge: you are on it.
    Ack { id: u64 },
    /// Resolve by hand.
    Resolve { id: u64 },
    /// Assess the impact; prints the suggested priority.
    Assess {
        id: u64,
        /// none, some, many or all.
        #[arg(long)]
        customers: String,
        #[arg(long, default_value_t = 1)]
        services: u32,
        #[arg(long)]
        data_loss: bool,
        #[arg(long)]
        security: bool,
    },
    /// Declare an incident from the alert; you are first responder.
    Declare {
        id: u64,
        /// Default: the assessment's suggestion, else from the severity.
        #[arg(short, long)]
        priority: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long = "im")]
        incident_manager: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Add a service; prints its integration key.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// First responder of auto-declared incidents.
        #[arg(long)]
        owner: Option<String>,
        /// Severity=priority pairs that declare at once, e.g. critical=P1,error=P2.
        #[arg(long)]
        auto_declare: Option<String>,
    },
    /// List services with their integration keys.
    List,
}

#[derive(Subcommand)]
pub enum IncidentCmd {
    /// Declare an incident; you become first responder (and incident manager unless --im).
    Declare {
        title: String,
        #[arg(short, long, default_value = "P3")]
        priority: String,
        #[arg(short, long)]
        summary: Option<String>,
        /// The incident manager's handle (default: you).
        #[arg(long = "im")]
        incident_manager: Option<String>,
    },
    /// List incidents, newest first.
    List {
        /// Comma-separated statuses.
        #[arg(long)]
        status: Option<String>,
        /// Comma-separated priorities.
        #[arg(long)]
        priority: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show an incident with its roles.
    Show { reference: String },
    /// Change title, summary, priority or status.
    Update {
        reference: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long)]
        priority: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RoleCmd {
    /// Assign a role: `muster role assign INC-7 tech_lead @carol --scope database`.
    Assign {
        reference: String,
        role: String,
        user: String,
        #[arg(long)]
        scope: Option<String>,
    },
    /// Relieve by assignment id (`INC-7 12`) or by role and person (`INC-7 tech_lead @carol`).
    Relieve {
        reference: String,
        /// An assignment id, or a role key followed by a handle.
        #[arg(num_args = 1..=2, required = true)]
        what: Vec<String>,
    },
    /// The current assignments.
    List { reference: String },
}

#[derive(Subcommand)]
pub enum TimelineCmd {
    /// The whole timeline in the order things happened.
    Show { reference: String },
    /// Add a note, theory, decision, action or milestone.
    Add {
        reference: String,
        kind: String,
        text: String,
        /// The milestone tag (impact_detected, cause_identified, mitigated, …).
        #[arg(long)]
        tag: Option<String>,
        /// Backdate: when it happened (RFC 3339).
        #[arg(long = "at")]
        occurred_at: Option<String>,
        /// The id of the entry this corrects.
        #[arg(long)]
        corrects: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user (admins only).
    Add {
        handle: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// admin, responder or viewer.
        #[arg(long, default_value = "responder")]
        permission: String,
        /// Do not give them an email contact method to --email (by default
        /// they get one, with the rule that uses it at once).
        #[arg(long)]
        no_contact_method: bool,
    },
    /// Create an API token for a user (yourself, or anyone if you are an admin).
    Token {
        handle: String,
        /// To tell your tokens apart later (`muster token list`); default "api".
        #[arg(long)]
        name: Option<String>,
        /// When it stops working, RFC 3339 (e.g. 2027-01-31T00:00:00Z); never by default.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Create a calendar feed token for a user, replacing their previous one,
    /// and print their feed's URL (it reads calendar feeds and nothing else).
    CalendarToken { handle: String },
    /// Disable a user (admins only): ends their sessions, revokes their
    /// tokens; they can no longer sign in, hold new roles or be paged.
    Disable { handle: String },
    /// Set a password for the web UI, read from the first line of stdin
    /// (yourself, or anyone if you are an admin).
    Password { handle: String },
    /// List users.
    List,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// A user's tokens (never their secrets); yours when no handle is given.
    List { handle: Option<String> },
    /// Revoke a token by its id (from `muster token list`): it stops working at once.
    Revoke {
        id: u64,
        /// Whose token it is; yours by default.
        #[arg(long)]
        user: Option<String>,
    },
}

pub async fn run(cmd: ClientCommand, conn: Connection) -> anyhow::Result<()> {
    let client = Client::new(&conn.url, conn.token.clone(), conn.ca_file.as_deref())?;
    let out = Output { json: conn.json };
    match cmd {
        ClientCommand::Incident(c) => incident(&client, &out, c).await,
        ClientCommand::Role(c) => role(&client, &out, c).await,
        ClientCommand::Timeline(c) => timeline(&client, &out, c).await,
        ClientCommand::User(c) => user(&client, &out, c).await,
        ClientCommand::Token(c) => token(&client, &out, c).await,
        ClientCommand::Alert(c) => alert(&client, &out, c).await,
        ClientCommand::Service(c) => service(&client, &out, c).await,
        ClientCommand::Schedule(c) => schedule(&client, &out, c).await,
        ClientCommand::Oncall { schedule, at } => oncall(&client, &out, schedule, at).await,
        ClientCommand::Policy(c) => policy(&client, &out, c).await,
        ClientCommand::Page { incident, target, message, role } => {
            page(&client, &out, &incident, &target, &message, role).await
        }
        ClientCommand::Ack { page } => answer(&client, &out, page, "acknowledge").await,
        ClientCommand::Decline { page } => answer(&client, &out, page, "decline").await,
        ClientCommand::Pages { page, open, incident } => pages(&client, &out, page, open, incident).await,
    }
}

struct Output {
    json: bool,
}

impl Output {
    fn json(&self, v: &Value) {
        say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }

    /// Prints `v` as JSON, or as people read it.
    fn show(&self, v: &Value, human: impl FnOnce(&Value)) {
        if self.json { self.json(v) } else { human(v) }
    }
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A JSON list of handles as `@handle`s.
fn handles(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|h| h.as_str()).map(|h| format!("@{h}")).collect()
}

/// `path` with `&key=value` added for each value given.
fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let mut out = path.to_owned();
    for (key, value) in params {
        if let Some(v) = value {
            out.push_str(&format!("&{key}={v}"));
        }
    }
    out
}

fn path_ref(r: &str) -> String {
    r.trim().to_owned()
}

/// Prints rows as left-aligned columns under a header.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        say!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn print_roles(roles: &Value) {
    let rows = roles
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    vec![s(r, "id"), s(r, "role"), format!("@{}", s(r, "user")), s(r, "scope"), s(r, "assigned_at")]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["ID", "ROLE", "WHO", "SCOPE", "SINCE"], rows);
}

fn print_incident(v: &Value) {
    say!("{}  {}  {}  {}", s(v, "ref"), s(v, "priority"), s(v, "status"), s(v, "title"));
    say!("Topic:   {}", s(v, "topic"));
    if !s(v, "summary").is_empty() {
        say!("Summary: {}", s(v, "summary"));
    }
    say!("Declared {}", s(v, "declared_at"));
    let missing: Vec<String> = v["missing_roles"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if !missing.is_empty() {
        say!("Missing roles: {}", missing.join(", "));
    }
    say!();
    print_roles(&v["roles"]);
}

async fn incident(client: &Client, out: &Output, cmd: IncidentCmd) -> anyhow::Result<()> {
    match cmd {
        IncidentCmd::Declare { title, priority, summary, incident_manager } => {
            let body =
                json!({"title": title, "priority": priority, "summary": summary, "incident_manager": incident_manager});
            let v = client.post("/api/v1/incidents", &body).await?;
            out.show(&v, print_incident);
        }
        IncidentCmd::List { status, priority, limit } => {
            let path =
                with_query(&format!("/api/v1/incidents?limit={limit}"), &[("status", status), ("priority", priority)]);
            let v = client.get(&path).await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|i| {
                                vec![
                                    s(i, "ref"),
                                    s(i, "priority"),
                                    s(i, "status"),
                                    format!("@{}", s(i, "incident_manager")),
                                    s(i, "title"),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table(&["REF", "PRI", "STATUS", "IM", "TITLE"], rows);
            });
        }
        IncidentCmd::Show { reference } => {
            let v = client.get(&format!("/api/v1/incidents/{}", path_ref(&reference))).await?;
            out.show(&v, print_incident);
        }
        IncidentCmd::Update { reference, title, summary, priority, status } => {
            let mut body = serde_json::Map::new();
            for (k, val) in [("title", title), ("summary", summary), ("priority", priority), ("status", status)] {
                if let Some(val) = val {
                    body.insert(k.into(), Value::String(val));
                }
            }
            if body.is_empty() {
                bail!("nothing to update: give --title, --summary, --priority or --status");
            }
            let v = client.patch(&format!("/api/v1/incidents/{}", path_ref(&reference)), &Value::Object(body)).await?;
            out.show(&v, print_incident);
        }
    }
    Ok(())
}

async fn role(client: &Client, out: &Output, cmd: RoleCmd) -> anyhow::Result<()> {
    match cmd {
        RoleCmd::Assign { reference, role, user, scope } => {
            let body = json!({"role": role, "user": user, "scope": scope});
            let v = client.post(&format!("/api/v1/incidents/{}/roles", path_ref(&reference)), &body).await?;
            out.show(&v, |v| {
                let scope = if s(v, "scope").is_empty() { String::new() } else { format!(" ({})", s(v, "scope")) };
                say!("@{} is now {}{scope} (assignment {})", s(v, "user"), s(v, "role"), s(v, "id"));
            });
        }
        RoleCmd::Relieve { reference, what } => {
            let r = path_ref(&reference);
            let id = match what.as_slice() {
                [id] => id
                    .parse::<u64>()
                    .with_context(|| format!("{id:?} is not an assignment id; give an id or a role and a handle"))?,
                [role, user] => {
                    let user = user.trim_start_matches('@');
                    let roles = client.get(&format!("/api/v1/incidents/{r}/roles")).await?;
                    let found: Vec<u64> = roles
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|a| s(a, "role") == *role && s(a, "user") == user)
                        .filter_map(|a| a["id"].as_u64())
                        .collect();
                    match found.as_slice() {
                        [id] => *id,
                        [] => bail!("@{user} does not hold {role} in {r}"),
                        _ => bail!(
                            "@{user} holds {role} more than once in {r}; give the assignment id (muster role list {r})"
                        ),
                    }
                }
                _ => bail!("give an assignment id, or a role and a handle"),
            };
            client.delete(&format!("/api/v1/incidents/{r}/roles/{id}")).await?;
            if out.json {
                out.json(&json!({"relieved": id}));
            } else {
                say!("Relieved assignment {id} in {r}");
            }
        }
        RoleCmd::List { reference } => {
            let v = client.get(&format!("/api/v1/incidents/{}/roles", path_ref(&reference))).await?;
            out.show(&v, print_roles);
        }
    }
    Ok(())
}

async fn timeline(client: &Client, out: &Output, cmd: TimelineCmd) -> anyhow::Result<()> {
    match cmd {
        TimelineCmd::Show { reference } => {
            let r = path_ref(&reference);
            let mut entries: Vec<Value> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/incidents/{r}/timeline?limit=1000");
                if let Some(a) = &after {
                    path.push_str(&format!("&after={a}"));
                }
                let page = client.get(&path).await?;
                let page = page.as_array().cloned().unwrap_or_default();
                let full = page.len() == 1000;
                if let Some(last) = page.last() {
                    let at: jiff::Timestamp = s(last, "at").parse().context("a timeline entry without a time")?;
                    after = Some(format!("{}.{}", at.as_microsecond(), s(last, "id")));
                }
                entries.extend(page);
                if !full {
                    break;
                }
            }
            let v = Value::Array(entries);
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let roles: Vec<String> = e["actor_roles"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|r| r.as_str().map(String::from))
                            .collect();
                        let actor = if roles.is_empty() {
                            format!("@{}", s(e, "actor"))
                        } else {
                            format!("@{} ({})", s(e, "actor"), roles.join(", "))
                        };
                        vec![s(e, "id"), s(e, "at"), actor, s(e, "kind"), s(e, "text")]
                    })
                    .collect();
                table(&["ID", "AT", "WHO", "KIND", "WHAT"], rows);
            });
        }
        TimelineCmd::Add { reference, kind, text, tag, occurred_at, corrects } => {
            let body =
                json!({"kind": kind, "text": text, "tag": tag, "occurred_at": occurred_at, "corrects": corrects});
            let v = client.post(&format!("/api/v1/incidents/{}/timeline", path_ref(&reference)), &body).await?;
            out.show(&v, |v| {
                say!("Added {} {} to {}", s(v, "kind"), s(v, "id"), path_ref(&reference));
            });
        }
    }
    Ok(())
}

async fn user(client: &Client, out: &Output, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { handle, name, email, permission, no_contact_method } => {
            let body = json!({"handle": handle, "name": name, "email": email, "permission": permission,
                              "email_contact_method": !no_contact_method});
            let v = client.post("/api/v1/users", &body).await?;
            out.show(&v, |v| {
                say!("Added @{} ({}, {})", s(v, "handle"), s(v, "name"), s(v, "permission"));
                if no_contact_method {
                    say!("@{} has no contact method: pages reach nobody until one is added", s(v, "handle"));
                }
            });
        }
        UserCmd::Token { handle, name, expires } => {
            let handle = handle.trim_start_matches('@');
            let body = json!({"name": name, "expires_at": expires});
            let v = client.post(&format!("/api/v1/users/{handle}/tokens"), &body).await?;
            out.show(&v, |v| say!("{}", s(v, "token")));
        }
        UserCmd::CalendarToken { handle } => {
            let handle = handle.trim_start_matches('@');
            let v = client.post(&format!("/api/v1/users/{handle}/calendar-token"), &json!({})).await?;
            out.show(&v, |v| say!("{}", s(v, "feed_url")));
        }
        UserCmd::Disable { handle } => {
            let handle = handle.trim_start_matches('@');
            let v = client.post(&format!("/api/v1/users/{handle}/disable"), &json!({})).await?;
            out.show(&v, |v| say!("Disabled @{} at {}", s(v, "handle"), s(v, "disabled_at")));
        }
        UserCmd::Password { handle } => {
            let handle = handle.trim_start_matches('@');
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("failed to read the password from stdin")?;
            let password = line.trim_end_matches(['\r', '\n']);
            client.post(&format!("/api/v1/users/{handle}/password"), &json!({"password": password})).await?;
            say!("Password set for @{handle}; sign in at {}/login", client.base());
        }
        UserCmd::List => {
            let v = client.get("/api/v1/users").await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| vec![format!("@{}", s(u, "handle")), s(u, "name"), s(u, "email"), s(u, "permission")])
                    .collect();
                table(&["HANDLE", "NAME", "EMAIL", "PERMISSION"], rows);
            });
        }
    }
    Ok(())
}

/// The handle given, or the caller's own.
async fn handle_or_me(client: &Client, handle: Option<String>) -> anyhow::Result<String> {
    match handle {
        Some(h) => Ok(h.trim_start_matches('@').to_owned()),
        None => Ok(s(&client.get("/api/v1/me").await?, "handle")),
    }
}

async fn token(client: &Client, out: &Output, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::List { handle } => {
            let handle = handle_or_me(client, handle).await?;
            let v = client.get(&format!("/api/v1/users/{handle}/tokens")).await?;
            out.show(&v, |v| {
                let never = |t: String| if t.is_empty() { "never".to_owned() } else { t };
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        vec![
                            s(t, "id"),
                            s(t, "kind"),
                            s(t, "name"),
                            s(t, "created_at"),
                            never(s(t, "expires_at")),
                            never(s(t, "last_used_at")),
                        ]
                    })
                    .collect();
                table(&["ID", "KIND", "NAME", "CREATED", "EXPIRES", "LAST USED"], rows);
            });
        }
        TokenCmd::Revoke { id, user } => {
            let handle = handle_or_me(client, user).await?;
            client.delete(&format!("/api/v1/users/{handle}/tokens/{id}")).await?;
            say!("Revoked token {id} of @{handle}");
        }
    }
    Ok(())
}

fn print_alert_rows(v: &Value) {
    let rows = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                s(a, "id"),
                s(a, "status"),
                s(a, "severity"),
                s(a, "service"),
                s(a, "count"),
                s(a, "incident"),
                s(a, "summary"),
            ]
        })
        .collect();
    table(&["ID", "STATUS", "SEVERITY", "SERVICE", "COUNT", "INCIDENT", "SUMMARY"], rows);
}

fn print_alert(a: &Value) {
    say!("Alert {}  {}  {}  {}", s(a, "id"), s(a, "status"), s(a, "severity"), s(a, "summary"));
    say!("Service: {}   Source: {}   Dedup key: {}", s(a, "service"), s(a, "source"), s(a, "dedup_key"));
    say!("Seen {} times, first {}, last {}", s(a, "count"), s(a, "first_seen_at"), s(a, "last_seen_at"));
    if !s(a, "incident").is_empty() {
        say!("Incident: {}", s(a, "incident"));
    }
    if let Some(p) = a["assessment"]["suggested_priority"].as_str() {
        say!("Assessed by @{}: suggested priority {p}", s(&a["assessment"], "assessed_by"));
    }
}

async fn alert(client: &Client, out: &Output, cmd: AlertCmd) -> anyhow::Result<()> {
    match cmd {
        AlertCmd::List { status, service, limit } => {
            let path = with_query(
                &format!("/api/v1/alerts?limit={limit}"),
                &[("status", status), ("service", service.map(|s| s.to_string()))],
            );
            let v = client.get(&path).await?;
            out.show(&v, print_alert_rows);
        }
        AlertCmd::Show { id } => {
            let v = client.get(&format!("/api/v1/alerts/{id}")).await?;
            out.show(&v, print_alert);
        }
        AlertCmd::Ack { id } => {
            let v = client.post(&format!("/api/v1/alerts/{id}/acknowledge"), &json!({})).await?;
            out.show(&v, print_alert);
        }
        AlertCmd::Resolve { id } => {
            let v = client.post(&format!("/api/v1/alerts/{id}/resolve"), &json!({})).await?;
            out.show(&v, print_alert);
        }
        AlertCmd::Assess { id, customers, services, data_loss, security } => {
            let body = json!({"customer_impact": customers, "services_affected": services, "data_loss": data_loss, "security": security});
            let v = client.post(&format!("/api/v1/alerts/{id}/assess"), &body).await?;
            out.show(&v, |v| {
                say!("Suggested priority: {}", s(&v["assessment"], "suggested_priority"));
            });
        }
        AlertCmd::Declare { id, priority, title, incident_manager } => {
            let body = json!({"priority": priority, "title": title, "incident_manager": incident_manager});
            let v = client.post(&format!("/api/v1/alerts/{id}/declare"), &body).await?;
            out.show(&v, print_incident);
        }
    }
    Ok(())
}

async fn service(client: &Client, out: &Output, cmd: ServiceCmd) -> anyhow::Result<()> {
    match cmd {
        ServiceCmd::Add { name, description, owner, auto_declare } => {
            let mut auto = serde_json::Map::new();
            for pair in auto_declare.iter().flat_map(|a| a.split(',')).filter(|p| !p.trim().is_empty()) {
                let (sev, p) = pair
                    .split_once('=')
                    .with_context(|| format!("{pair:?} is not severity=priority, e.g. critical=P1"))?;
                auto.insert(sev.trim().to_owned(), Value::String(p.trim().to_owned()));
            }
            let body = json!({"name": name, "description": description, "owner": owner, "auto_declare": auto});
            let v = client.post("/api/v1/services", &body).await?;
            out.show(&v, |v| {
                say!("Added service {} ({})", s(v, "name"), s(v, "id"));
                say!("Integration key (PagerDuty routing key): {}", s(v, "integration_key"));
                say!("Alertmanager webhook: <MUSTER_URL>{}", s(v, "alertmanager_url"));
                say!("Only the service's owner and admins see the key again.");
            });
        }
        ServiceCmd::List => {
            let v = client.get("/api/v1/services").await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        let owner =
                            if s(x, "owner").is_empty() { String::new() } else { format!("@{}", s(x, "owner")) };
                        // The owner and admins see the key; others do not get it.
                        let key = match s(x, "integration_key") {
                            k if k.is_empty() => "(hidden)".to_owned(),
                            k => k,
                        };
                        vec![s(x, "id"), s(x, "name"), owner, key]
                    })
                    .collect();
                table(&["ID", "NAME", "OWNER", "INTEGRATION KEY"], rows);
            });
        }
    }
    Ok(())
}

/// A schedule's id from an id or a name.
async fn schedule_id(client: &Client, which: &str) -> anyhow::Result<u64> {
    id_by_name(client, "/api/v1/schedules", "schedule", which).await
}

/// An id given as a number or as the name of one of the things `list` lists.
async fn id_by_name(client: &Client, list: &str, what: &str, which: &str) -> anyhow::Result<u64> {
    if let Ok(id) = which.parse() {
        return Ok(id);
    }
    let all = client.get(list).await?;
    all.as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"].as_str() == Some(which))
        .and_then(|s| s["id"].as_u64())
        .with_context(|| format!("there is no {what} named {which:?}"))
}

fn print_shifts(v: &Value) {
    let rows = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| vec![format!("@{}", s(x, "user")), s(x, "start"), s(x, "end")])
        .collect();
    table(&["WHO", "FROM", "UNTIL"], rows);
}

async fn schedule(client: &Client, out: &Output, cmd: ScheduleCmd) -> anyhow::Result<()> {
    match cmd {
        ScheduleCmd::Add { name, time_zone, users, shift, handoff, start } => {
            // By default the rotation starts at the last handoff, so someone
            // is on call from now on.
            let start = match start {
                Some(s) => s,
                None => {
                    let tz = jiff::tz::TimeZone::get(&time_zone)
                        .with_context(|| format!("{time_zone:?} is not a time zone"))?;
                    let at: jiff::civil::Time =
                        handoff.parse().with_context(|| format!("{handoff:?} is not a time like 09:00"))?;
                    let now = jiff::Timestamp::now().to_zoned(tz);
                    let date = if now.time() >= at { now.date() } else { now.date().yesterday()? };
                    date.to_string()
                }
            };
            let users: Vec<&str> =
                users.split(',').map(|u| u.trim().trim_start_matches('@')).filter(|u| !u.is_empty()).collect();
            let body = json!({"name": name, "time_zone": time_zone, "layers": [
                {"rotation": {"users": users, "shift": shift, "handoff": handoff, "start": start}}]});
            let v = client.post("/api/v1/schedules", &body).await?;
            out.show(&v, |v| say!("Added schedule {} ({})", s(v, "name"), s(v, "id")));
        }
        ScheduleCmd::List => {
            let v = client.get("/api/v1/schedules").await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        vec![
                            s(x, "id"),
                            s(x, "name"),
                            s(x, "time_zone"),
                            x["layers"].as_array().map_or(0, Vec::len).to_string(),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "TIME ZONE", "LAYERS"], rows);
            });
        }
        ScheduleCmd::Show { schedule, days } => {
            let id = schedule_id(client, &schedule).await?;
            let from = jiff::Timestamp::now();
            let to = from.checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days.clamp(1, 366))))?;
            let v = client.get(&format!("/api/v1/schedules/{id}/shifts?from={from}&to={to}")).await?;
            out.show(&v, print_shifts);
        }
        ScheduleCmd::Override { schedule, user, start, end } => {
            let id = schedule_id(client, &schedule).await?;
            let body = json!({"user": user.trim_start_matches('@'), "start": start, "end": end});
            let v = client.post(&format!("/api/v1/schedules/{id}/overrides"), &body).await?;
            out.show(&v, |v| say!("@{} is on call from {} until {}", s(v, "user"), s(v, "start"), s(v, "end")));
        }
    }
    Ok(())
}

async fn oncall(client: &Client, out: &Output, which: Option<String>, at: Option<String>) -> anyhow::Result<()> {
    let ids: Vec<(u64, String)> = match which {
        Some(w) => {
            let id = schedule_id(client, &w).await?;
            let one = client.get(&format!("/api/v1/schedules/{id}")).await?;
            vec![(id, s(&one, "name"))]
        }
        None => client
            .get("/api/v1/schedules")
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| Some((x["id"].as_u64()?, s(x, "name"))))
            .collect(),
    };
    let mut answers = Vec::new();
    for (id, name) in ids {
        let path = match &at {
            Some(t) => format!("/api/v1/schedules/{id}/on-call?at={t}"),
            None => format!("/api/v1/schedules/{id}/on-call"),
        };
        let v = client.get(&path).await?;
        answers.push(json!({"schedule": name, "id": id, "users": v["users"], "at": v["at"]}));
    }
    let v = Value::Array(answers);
    out.show(&v, |v| {
        let rows = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let users = handles(&a["users"]);
                vec![s(a, "schedule"), if users.is_empty() { "nobody".into() } else { users.join(", ") }]
            })
            .collect();
        table(&["SCHEDULE", "ON CALL"], rows);
    });
    Ok(())
}

async fn policy(client: &Client, out: &Output, cmd: PolicyCmd) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::Add { name, steps, repeat } => {
            let mut parsed = Vec::new();
            for step in &steps {
                let (delay, targets) =
                    step.split_once('=').with_context(|| format!("{step:?} is not DELAY_SECONDS=TARGET[,TARGET…]"))?;
                let delay: u32 =
                    delay.trim().parse().with_context(|| format!("{delay:?} is not a number of seconds"))?;
                let mut list = Vec::new();
                for target in targets.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    match target.strip_prefix("schedule:") {
                        Some(which) => list.push(json!({"schedule": schedule_id(client, which).await?})),
                        None => list.push(json!({"user": target.trim_start_matches('@')})),
                    }
                }
                parsed.push(json!({"delay_seconds": delay, "targets": list}));
            }
            let v = client
                .post("/api/v1/escalation-policies", &json!({"name": name, "repeat": repeat, "steps": parsed}))
                .await?;
            out.show(&v, |v| say!("Added escalation policy {} ({})", s(v, "name"), s(v, "id")));
        }
        PolicyCmd::List => {
            let v = client.get("/api/v1/escalation-policies").await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let steps = p["steps"].as_array().map_or(0, Vec::len);
                        vec![s(p, "id"), s(p, "name"), steps.to_string(), s(p, "repeat")]
                    })
                    .collect();
                table(&["ID", "NAME", "STEPS", "REPEAT"], rows);
            });
        }
    }
    Ok(())
}

async fn policy_id(client: &Client, which: &str) -> anyhow::Result<u64> {
    id_by_name(client, "/api/v1/escalation-policies", "escalation policy", which).await
}

async fn page(
    client: &Client,
    out: &Output,
    incident: &str,
    target: &str,
    message: &str,
    role: Option<String>,
) -> anyhow::Result<()> {
    let target = if let Some(which) = target.strip_prefix("schedule:") {
        json!({"schedule": schedule_id(client, which).await?})
    } else if let Some(which) = target.strip_prefix("policy:") {
        json!({"policy": policy_id(client, which).await?})
    } else {
        json!({"user": target.trim_start_matches('@')})
    };
    let body = json!({"target": target, "message": message, "role": role});
    let v = client.post(&format!("/api/v1/incidents/{incident}/pages"), &body).await?;
    out.show(&v, |v| say!("Page {} sent for {}: {}", s(v, "id"), s(v, "incident"), s(v, "message")));
    Ok(())
}

async fn answer(client: &Client, out: &Output, id: u64, action: &str) -> anyhow::Result<()> {
    let v = client.post(&format!("/api/v1/pages/{id}/{action}"), &json!({})).await?;
    out.show(&v, |v| {
        let roles: Vec<String> =
            v["roles"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).map(str::to_owned).collect();
        let id = s(v, "id");
        let line = match s(v, "state").as_str() {
            "acknowledged" if !roles.is_empty() => {
                format!("Acknowledged page {id}; you are now {}", roles.join(" and "))
            }
            "acknowledged" => format!("Acknowledged page {id}"),
            "declined" => format!("Declined page {id}"),
            _ => format!("Declined page {id}; it goes on to the next step"),
        };
        say!("{line}");
    });
    Ok(())
}

async fn pages(
    client: &Client,
    out: &Output,
    id: Option<u64>,
    open: bool,
    incident: Option<String>,
) -> anyhow::Result<()> {
    if let Some(id) = id {
        let v = client.get(&format!("/api/v1/pages/{id}")).await?;
        out.show(&v, |v| {
            say!("Page {} ({}): {}", s(v, "id"), s(v, "state"), s(v, "message"));
            if !s(v, "incident").is_empty() {
                say!("Incident: {}", s(v, "incident"));
            }
            for u in v["unreachable"].as_array().into_iter().flatten() {
                say!("Step {} reached nobody: {}", u["step"], s(u, "why"));
            }
            let rows = v["deliveries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    // A delivery given up on says so where the time it arrived would be.
                    let delivered = match (s(d, "delivered_at"), s(d, "gave_up_at")) {
                        (at, gave_up) if at.is_empty() && !gave_up.is_empty() => format!("gave up {gave_up}"),
                        (at, _) => at,
                    };
                    vec![s(d, "person"), s(d, "kind"), s(d, "to"), delivered, s(d, "last_error")]
                })
                .collect();
            table(&["PERSON", "KIND", "TO", "DELIVERED", "ERROR"], rows);
        });
        return Ok(());
    }
    let v = match incident {
        Some(r) => {
            let all = client.get(&format!("/api/v1/incidents/{r}/pages")).await?;
            let keep = |p: &&Value| !open || matches!(p["state"].as_str(), Some("pending" | "notified"));
            Value::Array(all.as_array().into_iter().flatten().filter(keep).cloned().collect())
        }
        None => {
            client.get(&with_query("/api/v1/pages?limit=100", &[("open", open.then(|| "true".to_owned()))])).await?
        }
    };
    out.show(&v, |v| {
        let rows = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let notified = handles(&p["notified"]);
                vec![
                    s(p, "id"),
                    s(p, "state"),
                    s(p, "incident"),
                    notified.join(","),
                    s(p, "answered_by"),
                    s(p, "message"),
                ]
            })
            .collect();
        table(&["ID", "STATE", "INCIDENT", "NOTIFIED", "ANSWERED BY", "MESSAGE"], rows);
    });
    Ok(())
}
