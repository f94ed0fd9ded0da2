//! The client commands. Each talks to a server over the API and prints a
//! table for people, or the API's JSON with `--json`.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::Client;
use crate::text;

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
    /// The server's URL [env: MUSTER_URL] [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// An API token [env: MUSTER_TOKEN] [default: the profile's].
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// A profile from the config file (muster profile add): it wins over MUSTER_URL and
    /// MUSTER_TOKEN, --url and --token win over it. Without one, the profile named "default" if
    /// there is one, after MUSTER_URL and MUSTER_TOKEN.
    #[arg(long, global = true, env = "MUSTER_PROFILE")]
    pub profile: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Times in UTC (2026-12-01 14:04:05Z) instead of local time (2026-12-01 15:04:05 CET).
    #[arg(long, global = true, env = "MUSTER_UTC", value_parser = clap::builder::FalseyValueParser::new())]
    pub utc: bool,
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
    /// Updates for an audience (internal, external, executive): post, list, publish a draft.
    #[command(subcommand, visible_alias = "updates")]
    Update(UpdateCmd),
    /// Stakeholder groups that hear published updates: add, list, remove.
    #[command(subcommand, visible_alias = "stakeholder")]
    Stakeholders(StakeholdersCmd),
    /// The public status page: components, maintenance windows, subscribers.
    #[command(subcommand)]
    Status(StatusCmd),
    /// Customer reports, for the customer support lead: add, list (the queue), show, link, respond, pass, close.
    #[command(subcommand, visible_alias = "reports")]
    Report(ReportCmd),
    /// An incident's postmortem: generate it from the timeline, show it, write its sections, move it, export it.
    #[command(subcommand)]
    Postmortem(PostmortemCmd),
    /// Insights across incidents: counts, time to acknowledge, mitigate and resolve, load per person.
    Insights {
        /// Incidents declared from then (RFC 3339, local, or a while ago: 30d ago).
        #[arg(long)]
        from: Option<String>,
        /// … until before then.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        priority: Option<String>,
        /// Only incidents with an alert of this service.
        #[arg(long)]
        service: Option<String>,
        /// Print the CSV export instead.
        #[arg(long)]
        csv: bool,
    },
    /// Follow-ups, the work after an incident: add one, list them across incidents, mark one done.
    #[command(subcommand, visible_alias = "followups")]
    Followup(FollowupCmd),
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
    /// Escalation policies: add, list, show (as a timeline).
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// How you are reached when paged: add, list, remove, test (yours, or --user's for admins).
    #[command(subcommand, visible_alias = "contacts")]
    Contact(ContactCmd),
    /// When each contact method is used after you are paged: add, list, remove.
    #[command(subcommand, visible_alias = "rules")]
    Rule(RuleCmd),
    /// Named servers and tokens in the config file ($MUSTER_CONFIG, else
    /// $XDG_CONFIG_HOME/muster/config.toml, else ~/.config/muster/config.toml), for --profile.
    #[command(subcommand, visible_alias = "profiles")]
    Profile(ProfileCmd),
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
        /// Comma-separated: pending, notified, acknowledged, declined, expired, cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Only pages older than this one (to see more of a long list).
        #[arg(long)]
        before: Option<u64>,
        /// Show the newest this many (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Who is on call now (or --at), on one schedule or all.
    Oncall {
        /// A schedule id or name; all schedules when left out.
        schedule: Option<String>,
        /// 2026-12-24T20:00:00Z, or local time: 2026-12-24 20:00.
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Add a policy, read as "notify these, and after N minutes without an answer, go on to …":
    /// `muster policy add Checkout --notify schedule:Primary --after 5m --notify @carol,schedule:Primary --repeat 2`.
    #[command(verbatim_doc_comment)]
    Add {
        name: String,
        /// Whom a step notifies: TARGET[,TARGET…], a target being @handle or
        /// schedule:<id or name>. The first step is notified at once.
        #[arg(long, value_name = "TARGETS")]
        notify: Vec<String>,
        /// How long the step before waits for an answer before the next
        /// --notify (30s, 5m, 1h, 1h30m). A last --after is how long the last
        /// step waits before the policy repeats or the page expires (5m if not given).
        #[arg(long, value_name = "DURATION")]
        after: Vec<String>,
        /// How many more times the whole policy runs when nobody answers.
        #[arg(long, default_value_t = 0)]
        repeat: u32,
        /// Gone: see --notify and --after.
        #[arg(long, hide = true)]
        step: Vec<String>,
        /// --notify and --after in the order given (filled from the parsed command line).
        #[arg(skip)]
        order: Vec<PolicyWord>,
    },
    /// List policies, each with its timeline in brief.
    List,
    /// Show a policy as a timeline: who is notified when, repeats, when the page expires.
    Show {
        /// A policy id or name.
        policy: String,
    },
}

/// A `--notify` or an `--after` of `muster policy add`, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyWord {
    Notify(String),
    After(String),
}

/// The `--notify` and `--after` values of `policy add` in the order they
/// were given: clap keeps each argument's values apart, and their indices.
pub fn policy_order(matches: &clap::ArgMatches) -> Vec<PolicyWord> {
    let Some(add) = matches.subcommand_matches("policy").and_then(|m| m.subcommand_matches("add")) else {
        return Vec::new();
    };
    let mut words: Vec<(usize, PolicyWord)> = Vec::new();
    for (id, make) in [("notify", PolicyWord::Notify as fn(String) -> PolicyWord), ("after", PolicyWord::After)] {
        if let (Some(indices), Some(values)) = (add.indices_of(id), add.get_many::<String>(id)) {
            words.extend(indices.zip(values).map(|(i, v)| (i, make(v.clone()))));
        }
    }
    words.sort_by_key(|(i, _)| *i);
    words.into_iter().map(|(_, w)| w).collect()
}

/// The last step's wait when no final `--after` is given.
const DEFAULT_LAST_WAIT: u32 = 300;

/// Steps as (targets, wait in seconds) from `--notify`/`--after` in order:
/// a `--notify` first, never two `--after`s or two `--notify`s in a row.
pub fn policy_steps(words: &[PolicyWord]) -> anyhow::Result<Vec<(String, u32)>> {
    let mut steps: Vec<(String, Option<u32>)> = Vec::new();
    for word in words {
        match word {
            PolicyWord::Notify(targets) => {
                if let Some((before, None)) = steps.last() {
                    bail!(
                        "--notify {before} --notify {targets}: say how long to wait between them \
                         (--after 5m), or notify both at once (--notify {before},{targets})"
                    );
                }
                steps.push((targets.clone(), None));
            }
            PolicyWord::After(d) => match steps.last_mut() {
                None => bail!("--after {d} comes before any --notify: start with whom to notify first"),
                Some((_, Some(_))) => bail!("--after {d} follows another --after: give one wait between two --notify"),
                Some((_, wait)) => *wait = Some(duration(d).with_context(|| format!("--after {d}"))?),
            },
        }
    }
    if steps.is_empty() {
        bail!("give at least one --notify");
    }
    Ok(steps.into_iter().map(|(t, w)| (t, w.unwrap_or(DEFAULT_LAST_WAIT))).collect())
}

/// A duration as people write it: `30s`, `5m`, `1h`, `1h30m`, `0`; in seconds.
pub fn duration(text: &str) -> anyhow::Result<u32> {
    let t = text.trim();
    if t == "0" {
        return Ok(0);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => bail!("{text:?} is not a duration like 30s, 5m, 1h or 1h30m"),
        };
        let n: u64 = number.parse().map_err(|_| anyhow::anyhow!("{text:?} is not a duration like 30s, 5m or 1h"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any {
        bail!("{text:?} needs a unit: 30s, 5m, 1h");
    }
    u32::try_from(total).map_err(|_| anyhow::anyhow!("{text:?} is too long"))
}

#[derive(Subcommand)]
pub enum ProfileCmd {
    /// Add or replace a profile: `muster profile add prod --url https://muster.example.com --token mst_…`;
    /// with `--token -` (or no token at all) the token is read from the first line of stdin.
    #[command(verbatim_doc_comment)]
    Add { name: String },
    /// The profiles, tokens masked.
    List,
    /// Remove a profile.
    Remove { name: String },
}

#[derive(Subcommand)]
pub enum ContactCmd {
    /// Add a contact method: `muster contact add email bob@example.com` or
    /// `muster contact add webhook https://hooks.example.com/…` (prints its signing secret, once).
    #[command(verbatim_doc_comment)]
    Add {
        /// email or webhook.
        kind: String,
        /// An email address, or an http(s) URL.
        address: String,
        /// Whose (admins); yours by default.
        #[arg(long)]
        user: Option<String>,
    },
    /// Your contact methods with the rules that use them (or --user's).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a contact method by id, with the rules that use it.
    Remove {
        id: u64,
        #[arg(long)]
        user: Option<String>,
    },
    /// Send a test notification through a contact method.
    Test {
        id: u64,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RuleCmd {
    /// Use a contact method this long after you are paged: `muster rule add --method 3 --after 2m`.
    /// Someone without rules is notified on every method at once.
    Add {
        /// The contact method's id (muster contact list).
        #[arg(long)]
        method: u64,
        /// 0 (at once), 30s, 2m, 1h …
        #[arg(long, default_value = "0")]
        after: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Your notification rules (or --user's).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a notification rule by id.
    Remove {
        id: u64,
        #[arg(long)]
        user: Option<String>,
    },
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
    /// Put someone on call from --start to --end (2026-12-24T17:00:00Z, or local time: 2026-12-24 18:00).
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
    /// Print a service's integration key alone, for scripts: `KEY=$(muster service key checkout)`
    /// (its owner and admins).
    Key {
        /// The service's name or id.
        service: String,
    },
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
    /// Check that the timeline is as written: every entry in place, each hash following from the
    /// one before. Exits 1 naming the first broken entry.
    Verify { reference: String },
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
        /// The milestone tag (started, detected, acknowledged, mitigated, resolved, cause_identified, …).
        #[arg(long)]
        tag: Option<String>,
        /// Backdate: when it happened (2026-11-26T14:03:00Z, or local time: 2026-11-26 15:03).
        #[arg(long = "at")]
        occurred_at: Option<String>,
        /// The id of the entry this corrects.
        #[arg(long)]
        corrects: Option<u64>,
    },
}

// Parsed once per run: the size of `Post` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum UpdateCmd {
    /// Publish an update (or keep it as a --draft for someone who may):
    /// `muster update post INC-3 external "We found the cause." --status identified`.
    Post {
        reference: String,
        /// internal, external or executive.
        audience: String,
        /// The update, Markdown (may be left out when a form field says it all).
        #[arg(default_value = "")]
        body: String,
        /// Internal: what is happening now.
        #[arg(long)]
        conditions: Option<String>,
        /// Internal: what is being done.
        #[arg(long)]
        actions: Option<String>,
        /// Internal: what help is needed.
        #[arg(long)]
        needs: Option<String>,
        /// Executive: the current status.
        #[arg(long)]
        current_status: Option<String>,
        /// Executive: an overview.
        #[arg(long)]
        overview: Option<String>,
        /// Executive: the next steps.
        #[arg(long)]
        next_steps: Option<String>,
        /// External: investigating, identified, monitoring or resolved.
        #[arg(long)]
        status: Option<String>,
        /// When the next update is due, in minutes.
        #[arg(long = "next")]
        next_update_in_minutes: Option<u32>,
        /// Keep it as a draft.
        #[arg(long)]
        draft: bool,
    },
    /// An incident's updates, drafts too.
    List { reference: String },
    /// Publish a draft.
    Publish { reference: String, id: u64 },
    /// Snooze the reminder of an audience's next update: 30, 60 or 120 minutes.
    Snooze {
        reference: String,
        audience: String,
        #[arg(default_value_t = 30)]
        minutes: u32,
    },
    /// When each audience's next update is due.
    Due { reference: String },
    /// Follow an incident: its internal updates reach you (or --user, for admins).
    Follow {
        reference: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Stop following an incident.
    Unfollow {
        reference: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Record a customer's reply to a published external update.
    Respond {
        reference: String,
        id: u64,
        /// What they said.
        body: String,
        /// Who replied: a customer, an organization.
        #[arg(long)]
        from: String,
        /// email, phone, ticket, social, chat or other.
        #[arg(long, default_value = "email")]
        channel: String,
    },
}

#[derive(Subcommand)]
pub enum StatusCmd {
    /// The page's components: add, list, set a state.
    #[command(subcommand, visible_alias = "components")]
    Component(ComponentCmd),
    /// Scheduled maintenance: add, list, update.
    #[command(subcommand, visible_alias = "maintenances")]
    Maintenance(MaintenanceCmd),
    /// Who follows the page (admins): addresses and webhooks, confirmed or not.
    Subscribers,
}

#[derive(Subcommand)]
pub enum ComponentCmd {
    /// Add a component: `muster status component add API --group Platform --description "The public API"`.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// The group it shows in.
        #[arg(long)]
        group: Option<String>,
        /// Its place on the page (lower first).
        #[arg(long)]
        position: Option<u32>,
    },
    /// Every component and its state.
    List,
    /// Put a component in a state: `muster status component set API partial_outage --incident INC-7`
    /// (operational, degraded_performance, partial_outage, major_outage, under_maintenance).
    Set {
        /// Its name or id.
        component: String,
        status: String,
        /// The incident it is for: its timeline says so.
        #[arg(long)]
        incident: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum MaintenanceCmd {
    /// Announce a window: `muster status maintenance add "Database upgrade" --component API
    /// --from "2026-12-24 22:00" --to "2026-12-24 23:00"`. It starts and completes on its own.
    Add {
        title: String,
        /// A component it is of, by name or id; repeat for more.
        #[arg(long = "component", required = true)]
        components: Vec<String>,
        /// Its start: 2026-12-24T22:00:00Z, or a local 2026-12-24 22:00.
        #[arg(long)]
        from: String,
        /// Its end.
        #[arg(long)]
        to: String,
        /// What customers read.
        #[arg(long, short = 'm', default_value = "")]
        message: String,
        /// Remind subscribers this many minutes before (0: not).
        #[arg(long, default_value_t = 60)]
        remind: u32,
        /// Start and complete it by hand (`muster status maintenance update`).
        #[arg(long)]
        manual: bool,
    },
    /// The windows to come, under way, and of the last 90 days.
    List,
    /// Move a window forward (in_progress, verifying, completed) or say more:
    /// `muster status maintenance update 3 completed -m "Done early"`.
    Update {
        id: u64,
        status: Option<String>,
        #[arg(long, short = 'm', default_value = "")]
        message: String,
    },
}

#[derive(Subcommand)]
pub enum FollowupCmd {
    /// Record an action as a follow-up: `muster followup add INC-7 "alert on retries" --owner carol --due 2026-12-10`.
    Add {
        reference: String,
        text: String,
        #[arg(long)]
        owner: Option<String>,
        /// When it is due: RFC 3339 or local (2026-12-10, 2026-12-10 09:00).
        #[arg(long)]
        due: Option<String>,
        /// A ticket's key or URL.
        #[arg(long)]
        ticket: Option<String>,
    },
    /// Follow-ups across incidents, by due time.
    List {
        /// Only this person's.
        #[arg(long)]
        owner: Option<String>,
        /// open, done or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Only those open past their due time.
        #[arg(long)]
        overdue: bool,
    },
    /// Mark a follow-up done (or --cancel it): `muster followup done INC-7 12`.
    Done {
        reference: String,
        /// The action's timeline entry.
        action: u64,
        #[arg(long)]
        cancel: bool,
    },
}

#[derive(Subcommand)]
pub enum PostmortemCmd {
    /// Draft the postmortem of a resolved incident from its timeline: the facts filled in, the
    /// sections to write listed.
    Generate {
        reference: String,
        /// standard or lightweight (default: the one the incident's priority gets).
        #[arg(long)]
        template: Option<String>,
    },
    /// Where it stands: its state, the durations, the sections still to write.
    Show { reference: String },
    /// Write a section (summary, trigger, root_cause, contributing_factors, resolution, went_well,
    /// went_wrong, lucky, public_summary); an empty text clears it.
    Write { reference: String, section: String, text: String },
    /// Send it for review (in_review), back to draft, or publish it (published: the incident managers).
    Move { reference: String, state: String },
    /// Print it as Markdown (or --html: the printable page), with the head hash of its timeline.
    Export {
        reference: String,
        #[arg(long)]
        html: bool,
    },
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Log a report: `muster report add "Ann Lee" "Checkout fails for card payments" --channel phone --org Acme`.
    Add {
        /// Who reported it.
        customer: String,
        /// What they said.
        body: String,
        /// ticket, phone, email, social or chat.
        #[arg(long, default_value = "ticket")]
        channel: String,
        /// How to reach them: an address or a number.
        #[arg(long)]
        contact: Option<String>,
        #[arg(long = "org")]
        organization: Option<String>,
        /// The service it is about (its name).
        #[arg(long)]
        service: Option<String>,
        /// Link it to this incident at once, e.g. INC-7.
        #[arg(long)]
        incident: Option<String>,
    },
    /// The queue: reports not closed, new first, with their timers and the suggested incident;
    /// or with --incident, --state or --channel, every report that matches.
    List {
        /// INC-7, or `none` for the unlinked.
        #[arg(long)]
        incident: Option<String>,
        /// new, acknowledged, responded or closed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        channel: Option<String>,
    },
    /// A report in full, with its answers and the suggested reply.
    Show { id: u64 },
    /// Link reports to an incident: `muster report link INC-7 12 13 14`.
    Link {
        incident: String,
        #[arg(required = true)]
        reports: Vec<u64>,
    },
    /// Unlink a report from its incident.
    Unlink { id: u64 },
    /// Record the answer given: `muster report respond 12 "We are on it …"`; --suggested sends the
    /// suggested reply (from the incident's latest published external update).
    Respond {
        id: u64,
        /// What you told the customer.
        body: Option<String>,
        #[arg(long, conflicts_with = "body")]
        suggested: bool,
    },
    /// Pass it on to the responders: a timeline entry, and a notification to the incident manager
    /// and the tech leads.
    Pass {
        id: u64,
        /// What to pass on (default: the report's text).
        #[arg(long)]
        excerpt: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// Page them instead of notifying them.
        #[arg(long)]
        page: bool,
    },
    /// Close a report.
    Close { id: u64 },
}

#[derive(Subcommand)]
pub enum StakeholdersCmd {
    /// Add a group: `muster stakeholders add Executives --priority P1 --priority P2
    /// --audience executive --email vp@example.com`.
    Add {
        name: String,
        /// P1 … P4; repeat for more.
        #[arg(long = "priority", required = true)]
        priorities: Vec<String>,
        /// internal, external or executive; repeat for more.
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// A user reached through their contact methods; repeat for more.
        #[arg(long = "member")]
        members: Vec<String>,
        /// An email address; repeat for more.
        #[arg(long = "email")]
        emails: Vec<String>,
        /// A webhook URL (signed; its secret is shown once); repeat for more.
        #[arg(long = "webhook")]
        webhooks: Vec<String>,
        /// Only incidents of this service; repeat for more (none: every service).
        #[arg(long = "service")]
        services: Vec<String>,
    },
    /// Every group.
    List,
    /// Remove a group.
    Remove { id: u64 },
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
        /// Their IANA time zone (Europe/Berlin); insights count their night
        /// and weekend pages on it. UTC by default.
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Set a user's time zone (yourself, or anyone if you are an admin);
    /// `UTC` or `none` clears it.
    TimeZone { handle: String, zone: String },
    /// Create an API token for a user (yourself, or anyone if you are an admin).
    Token {
        handle: String,
        /// To tell your tokens apart later (`muster token list`); default "api".
        #[arg(long)]
        name: Option<String>,
        /// When it stops working (2027-01-31T00:00:00Z, or local time: 2027-01-31 09:00); never by default.
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

/// An environment variable, when set and not empty.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where the client goes when neither a flag, the environment nor a profile says.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

pub async fn run(cmd: ClientCommand, conn: Connection) -> anyhow::Result<()> {
    text::init(conn.utc);
    let out = Output { json: conn.json, utc: conn.utc };
    if let ClientCommand::Profile(c) = cmd {
        return profiles(&out, c, &conn);
    }
    // --url and --token win; then a profile you named (so `--profile bob`
    // is Bob even with the first start's MUSTER_TOKEN still exported); then
    // MUSTER_URL and MUSTER_TOKEN; then the profile named "default".
    let named = conn.profile.is_some();
    let chosen = match (&conn.url, &conn.token) {
        (Some(_), Some(_)) if !named => None,
        _ => crate::profile::chosen(conn.profile.as_deref())?.map(|(_, p)| p),
    };
    let chosen = chosen.unwrap_or_default();
    let layered = |flag: &Option<String>, from_profile: Option<String>, env: Option<String>| {
        flag.clone().or_else(|| if named { from_profile.clone().or(env.clone()) } else { env.clone().or(from_profile) })
    };
    let url = layered(&conn.url, Some(chosen.url.clone()).filter(|u| !u.is_empty()), env_var("MUSTER_URL"))
        .unwrap_or_else(|| DEFAULT_URL.into());
    // The "default" profile's token goes only to the default profile's
    // server: `--url https://other` must not carry it elsewhere.
    let profile_token = chosen.token.filter(|_| named || url == chosen.url);
    let bearer = layered(&conn.token, profile_token, env_var("MUSTER_TOKEN"));
    let ca_file = conn.ca_file.clone().or(chosen.ca_file);
    let client = Client::new(&url, bearer, ca_file.as_deref())?;
    match cmd {
        ClientCommand::Incident(c) => incident(&client, &out, c).await,
        ClientCommand::Role(c) => role(&client, &out, c).await,
        ClientCommand::Timeline(c) => timeline(&client, &out, c).await,
        ClientCommand::Update(c) => update(&client, &out, c).await,
        ClientCommand::Stakeholders(c) => stakeholders(&client, &out, c).await,
        ClientCommand::Status(c) => status_page(&client, &out, c).await,
        ClientCommand::Report(c) => report(&client, &out, c).await,
        ClientCommand::Postmortem(c) => postmortem(&client, &out, c).await,
        ClientCommand::Followup(c) => followup(&client, &out, c).await,
        ClientCommand::Insights { from, to, priority, service, csv } => {
            insights(&client, &out, from, to, priority, service, csv).await
        }
        ClientCommand::User(c) => user(&client, &out, c).await,
        ClientCommand::Token(c) => token(&client, &out, c).await,
        ClientCommand::Alert(c) => alert(&client, &out, c).await,
        ClientCommand::Service(c) => service(&client, &out, c).await,
        ClientCommand::Schedule(c) => schedule(&client, &out, c).await,
        ClientCommand::Oncall { schedule, at } => oncall(&client, &out, schedule, at).await,
        ClientCommand::Policy(c) => policy(&client, &out, c).await,
        ClientCommand::Contact(c) => contact(&client, &out, c).await,
        ClientCommand::Rule(c) => rule(&client, &out, c).await,
        ClientCommand::Profile(c) => profiles(&out, c, &conn),
        ClientCommand::Page { incident, target, message, role } => {
            page(&client, &out, &incident, &target, &message, role).await
        }
        ClientCommand::Ack { page } => answer(&client, &out, page, "acknowledge").await,
        ClientCommand::Decline { page } => answer(&client, &out, page, "decline").await,
        ClientCommand::Pages { page, open, incident, state, before, limit } => {
            pages(&client, &out, page, PagesList { open, incident, state, before, limit }).await
        }
    }
}

struct Output {
    json: bool,
    /// Times in UTC rather than local time.
    utc: bool,
}

impl Output {
    fn json(&self, v: &Value) {
        say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }

    /// Prints `v` as JSON, or as people read it.
    fn show(&self, v: &Value, human: impl FnOnce(&Value)) {
        if self.json { self.json(v) } else { human(v) }
    }

    /// Says what was done, for an answer with no body: `v` as JSON, or
    /// the sentence.
    fn done(&self, v: &Value, human: impl FnOnce()) {
        if self.json { self.json(v) } else { human() }
    }
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A time from the API as people read it (see [`text::when`]); empty when absent.
fn t(v: &Value, key: &str) -> String {
    text::when(&s(v, key))
}

/// A handle from the API as `@handle`; empty when absent.
fn at(v: &Value, key: &str) -> String {
    match s(v, key) {
        h if h.is_empty() => h,
        h => format!("@{h}"),
    }
}

/// A JSON list of handles as `@handle`s.
fn handles(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|h| h.as_str()).map(|h| format!("@{h}")).collect()
}

/// `path` with `&key=value` added for each value given.
/// `path` with the parameters given (`?` first, then `&`), their values
/// percent-encoded.
fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let mut out = path.to_owned();
    for (key, value) in params {
        if let Some(v) = value {
            let sep = if out.contains('?') { '&' } else { '?' };
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            out.push_str(&format!("{sep}{key}={v}"));
        }
    }
    out
}

fn path_ref(r: &str) -> String {
    r.trim().to_owned()
}

/// Prints rows as left-aligned columns under a header, fitting the
/// terminal's width: the widest column is cut with `…` first.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    // A cell is one line: text written on several (a note, an update's
    // form) shows its breaks as " / ".
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| if c.contains('\n') { c.lines().collect::<Vec<_>>().join(" / ") } else { c })
                .collect()
        })
        .collect();
    let headers: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    let mut natural = headers.clone();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            natural[i] = natural[i].max(cell.chars().count());
        }
    }
    let widths = text::fit(&natural, &headers, text::width());
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| format!("{:<w$}", text::cut(c, widths[i]), w = widths[i])).collect();
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
                .map(|r| vec![s(r, "id"), s(r, "role"), at(r, "user"), s(r, "scope"), t(r, "assigned_at")])
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
    say!("Declared {}", t(v, "declared_at"));
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
                                    at(i, "incident_manager"),
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
        IncidentCmd::Verify { reference } => {
            let v = client.get(&format!("/api/v1/incidents/{}/timeline/verify", path_ref(&reference))).await?;
            let r = reference.trim().to_uppercase();
            let r = if r.starts_with("INC-") { r } else { format!("INC-{r}") };
            out.show(&v, |v| {
                if v["ok"] == true {
                    say!("{r}: the timeline verifies: {} entries, head {}", v["entries"], s(v, "head"));
                }
            });
            if v["ok"] != true {
                anyhow::bail!(
                    "{r}: the timeline does not verify: entry {}: {} ({} entries)",
                    v["broken"]["id"],
                    s(&v["broken"], "reason"),
                    v["entries"]
                );
            }
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
                // Every entry, folded ones too, so that a page of 1000 means more.
                let mut path = format!("/api/v1/incidents/{r}/timeline?limit=1000&all=true");
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
                // A topic change shows under the entry that caused it; the
                // relief half of a handover not at all (its assignment says it).
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e.get("folded_into").is_none_or(Value::is_null))
                    .flat_map(|e| {
                        // The topic's short labels (IM, TL, FR …), so the column
                        // leaves room for what happened.
                        let catalog = muster_domain::RoleCatalog::default();
                        let roles: Vec<String> = e["actor_roles"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|r| r.as_str())
                            .map(|r| catalog.parse(r, "role").map_or_else(|_| r.to_owned(), |k| catalog.label(&k)))
                            .collect();
                        let actor = if roles.is_empty() {
                            format!("@{}", s(e, "actor"))
                        } else {
                            format!("@{} ({})", s(e, "actor"), roles.join(", "))
                        };
                        let row = vec![s(e, "id"), t(e, "at"), actor, s(e, "kind"), s(e, "text")];
                        let topic = e.get("topic").and_then(Value::as_str).map(|t| {
                            vec![String::new(), String::new(), String::new(), String::new(), format!("↳ topic: {t}")]
                        });
                        std::iter::once(row).chain(topic)
                    })
                    .collect();
                table(&["ID", "AT", "WHO", "KIND", "WHAT"], rows);
            });
        }
        TimelineCmd::Add { reference, kind, text, tag, occurred_at, corrects } => {
            let occurred_at = occurred_at.map(|t| text::time_input(&t).context("--at")).transpose()?;
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

async fn update(client: &Client, out: &Output, cmd: UpdateCmd) -> anyhow::Result<()> {
    let said = |v: &Value| {
        let what = if s(v, "state") == "draft" { "Saved draft" } else { "Published" };
        say!("{what} {} update {} on {}: {}", s(v, "audience"), s(v, "id"), s(v, "incident"), s(v, "text"));
    };
    match cmd {
        UpdateCmd::Post {
            reference,
            audience,
            body,
            conditions,
            actions,
            needs,
            current_status,
            overview,
            next_steps,
            status,
            next_update_in_minutes,
            draft,
        } => {
            let fields = [
                ("conditions", conditions),
                ("actions", actions),
                ("needs", needs),
                ("current_status", current_status),
                ("overview", overview),
                ("next_steps", next_steps),
            ];
            let form: serde_json::Map<String, Value> =
                fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), Value::String(v?)))).collect();
            let form = if form.is_empty() { Value::Null } else { Value::Object(form) };
            let body = json!({"audience": audience, "body": body, "form": form, "status": status,
                              "next_update_in_minutes": next_update_in_minutes, "draft": draft});
            let v = client.post(&format!("/api/v1/incidents/{}/updates", path_ref(&reference)), &body).await?;
            out.show(&v, said);
        }
        UpdateCmd::List { reference } => {
            let v = client.get(&format!("/api/v1/incidents/{}/updates", path_ref(&reference))).await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| {
                        let when = if s(u, "state") == "draft" { t(u, "updated_at") } else { t(u, "published_at") };
                        let who = if s(u, "state") == "draft" { s(u, "author") } else { s(u, "published_by") };
                        let sent = u["deliveries"].as_array().map_or(0, Vec::len);
                        let delivered = u["deliveries"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|d| s(d, "state") == "delivered")
                            .count();
                        let sent = if sent == 0 { "-".to_owned() } else { format!("{delivered}/{sent}") };
                        let replies = u["responses"].as_array().map_or(0, Vec::len);
                        let text = match replies {
                            0 => s(u, "text"),
                            1 => format!("{} (1 reply)", s(u, "text")),
                            n => format!("{} ({n} replies)", s(u, "text")),
                        };
                        vec![s(u, "id"), s(u, "audience"), s(u, "state"), when, format!("@{who}"), sent, text]
                    })
                    .collect();
                table(&["ID", "AUDIENCE", "STATE", "AT", "BY", "DELIVERED", "TEXT"], rows);
            });
        }
        UpdateCmd::Publish { reference, id } => {
            let path = format!("/api/v1/incidents/{}/updates/{id}/publish", path_ref(&reference));
            let v = client.post(&path, &json!({})).await?;
            out.show(&v, said);
        }
        UpdateCmd::Snooze { reference, audience, minutes } => {
            let path = format!("/api/v1/incidents/{}/updates/snooze", path_ref(&reference));
            let v = client.post(&path, &json!({"audience": audience, "minutes": minutes})).await?;
            out.show(&v, |v| {
                let at = t(&v["next_update_due"][audience.as_str()], "at");
                say!("Snoozed: the next {audience} update of {} is due at {at}", s(v, "ref"));
            });
        }
        UpdateCmd::Due { reference } => {
            let v = client.get(&format!("/api/v1/incidents/{}", path_ref(&reference))).await?;
            out.show(&v["next_update_due"], |due| {
                let rows = ["internal", "external", "executive"]
                    .iter()
                    .map(|a| match due.get(*a).filter(|d| !d.is_null()) {
                        Some(d) => {
                            let late = d["overdue_minutes"].as_i64().unwrap_or(0);
                            let state = if late > 0 { format!("{late} min overdue") } else { "on time".to_owned() };
                            vec![(*a).to_owned(), t(d, "at"), state]
                        }
                        None => vec![(*a).to_owned(), "-".to_owned(), "no cadence".to_owned()],
                    })
                    .collect();
                table(&["AUDIENCE", "NEXT UPDATE", ""], rows);
            });
        }
        UpdateCmd::Follow { reference, user } => {
            let path = format!("/api/v1/incidents/{}/followers", path_ref(&reference));
            let v = client.post(&path, &json!({"user": user})).await?;
            out.show(&v, |v| {
                let who: Vec<String> =
                    v.as_array().into_iter().flatten().map(|f| format!("@{}", s(f, "user"))).collect();
                say!("Following {}: {}", reference.to_uppercase(), who.join(", "));
            });
        }
        UpdateCmd::Unfollow { reference, user } => {
            let who = match user {
                Some(u) => u.trim_start_matches('@').to_owned(),
                None => s(&client.get("/api/v1/me").await?, "handle"),
            };
            let path = format!("/api/v1/incidents/{}/followers/{who}", path_ref(&reference));
            client.delete(&path).await?;
            let r = reference.to_uppercase();
            out.done(&json!({"unfollowed": r, "user": who}), || say!("@{who} no longer follows {r}"));
        }
        UpdateCmd::Respond { reference, id, body, from, channel } => {
            let path = format!("/api/v1/incidents/{}/updates/{id}/responses", path_ref(&reference));
            let v = client.post(&path, &json!({"from": from, "channel": channel, "body": body})).await?;
            out.show(&v, |v| {
                say!("Recorded {}'s reply ({}) to update {id}: {}", s(v, "from"), s(v, "channel"), s(v, "body"));
            });
        }
    }
    Ok(())
}

async fn stakeholders(client: &Client, out: &Output, cmd: StakeholdersCmd) -> anyhow::Result<()> {
    match cmd {
        StakeholdersCmd::Add { name, priorities, audiences, members, emails, webhooks, services } => {
            let body = json!({"name": name, "priorities": priorities, "audiences": audiences, "members": members,
                              "emails": emails, "webhooks": webhooks, "services": services});
            let v = client.post("/api/v1/stakeholder-groups", &body).await?;
            out.show(&v, |v| {
                say!("Added stakeholder group {} {}: {}", s(v, "id"), s(v, "name"), group_line(v));
                for w in v["webhooks"].as_array().into_iter().flatten() {
                    say!("Webhook {} signs with {} (shown once: keep it)", s(w, "url"), s(w, "secret"));
                }
            });
        }
        StakeholdersCmd::List => {
            let v = client.get("/api/v1/stakeholder-groups").await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        let members: Vec<String> = strings(&g["members"]).iter().map(|m| format!("@{m}")).collect();
                        let mut to = members;
                        to.extend(strings(&g["emails"]));
                        to.extend(g["webhooks"].as_array().into_iter().flatten().map(|w| s(w, "url")));
                        vec![s(g, "id"), s(g, "name"), group_line(g), to.join(", ")]
                    })
                    .collect();
                table(&["ID", "NAME", "HEARS", "REACHES"], rows);
            });
        }
        StakeholdersCmd::Remove { id } => {
            client.delete(&format!("/api/v1/stakeholder-groups/{id}")).await?;
            out.done(&json!({"removed": id}), || say!("Removed stakeholder group {id}"));
        }
    }
    Ok(())
}

/// One report as a line: `#12 ticket Ann Lee (Acme) · new · due 10:15 (overdue) · INC-7`.
fn report_line(v: &Value) -> String {
    let from = match v["organization"].as_str() {
        Some(o) => format!("{} ({o})", s(v, "customer")),
        None => s(v, "customer"),
    };
    let timer = match s(v, "state").as_str() {
        "new" | "acknowledged" if v["to_close"] == true => "to close".to_owned(),
        "new" | "acknowledged" => {
            let late = if v["overdue"] == true { " (overdue)" } else { "" };
            format!("due {}{late}", t(v, "response_due_at"))
        }
        _ if v["to_close"] == true => "to close".to_owned(),
        _ => "answered".to_owned(),
    };
    let incident = match (v["incident"].as_str(), v["suggestion"]["incident"].as_str()) {
        (Some(i), _) => i.to_owned(),
        (None, Some(i)) => format!("suggested {i} ({})", s(&v["suggestion"], "reason")),
        (None, None) => "–".to_owned(),
    };
    format!("#{} {} {from} · {} · {timer} · {incident}", s(v, "id"), s(v, "channel"), s(v, "state"))
}

fn print_postmortem(v: &Value) {
    let d = &v["facts"]["durations"];
    let took = |k: &str| d[k].as_i64().map(muster_domain::postmortem::document::human_duration).unwrap_or("–".into());
    say!(
        "{} postmortem: {}, {} template; made from {} entries, head {}",
        s(v, "incident"),
        s(v, "state").replace('_', " "),
        s(v, "template"),
        v["entries"],
        s(v, "head")
    );
    say!(
        "From the start: detected {}, acknowledged {}, mitigated {}, resolved {}",
        took("to_detect"),
        took("to_acknowledge"),
        took("to_mitigate"),
        took("to_resolve")
    );
    let empty: Vec<&str> = v["prompts"].as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    if empty.is_empty() {
        say!("Every section is written.");
    } else {
        say!("To write: {}", empty.join(", "));
    }
}

async fn insights(
    client: &Client,
    out: &Output,
    from: Option<String>,
    to: Option<String>,
    priority: Option<String>,
    service: Option<String>,
    csv: bool,
) -> anyhow::Result<()> {
    let from = from.map(|t| text::time_input(&t).context("--from")).transpose()?;
    let to = to.map(|t| text::time_input(&t).context("--to")).transpose()?;
    let params = [("from", from), ("to", to), ("priority", priority), ("service", service)];
    if csv {
        print!("{}", client.get_text(&with_query("/api/v1/insights.csv", &params)).await?);
        return Ok(());
    }
    let v = client.get(&with_query("/api/v1/insights", &params)).await?;
    out.show(&v, |v| {
        let took =
            |x: &Value| x.as_i64().map(muster_domain::postmortem::document::human_duration).unwrap_or("–".into());
        let by: Vec<String> = v["by_priority"]
            .as_object()
            .map(|o| o.iter().map(|(k, n)| format!("{k} {n}")).collect())
            .unwrap_or_default();
        say!("{} incidents ({}), {} declared from alerts", v["incidents"], by.join(", "), v["auto_declared"]);
        let rows = ["to_acknowledge", "to_mitigate", "to_resolve"]
            .iter()
            .map(|k| {
                let s = &v[*k];
                vec![k.replace('_', " "), s["count"].to_string(), took(&s["median"]), took(&s["p90"]), took(&s["mean"])]
            })
            .collect();
        table(&["FROM THE START", "INCIDENTS", "MEDIAN", "P90", "MEAN"], rows);
        let pages: Vec<Vec<String>> = v["pages_per_person"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, n)| {
                        let of = |m: &str| v[m][k].as_u64().unwrap_or(0).to_string();
                        vec![format!("@{k}"), n.to_string(), of("pages_at_night"), of("pages_on_weekends")]
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !pages.is_empty() {
            table(&["PAGED", "PAGES", "AT NIGHT", "ON WEEKENDS"], pages);
        }
        let noisy: Vec<Vec<String>> = v["noisiest_alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| vec![s(n, "summary"), s(n, "service"), n["events"].to_string(), n["alerts"].to_string()])
            .collect();
        if !noisy.is_empty() {
            table(&["NOISIEST ALERT", "SERVICE", "EVENTS", "FIRED"], noisy);
        }
        say!(
            "Follow-ups: {} open, {} overdue; {} update reminders went overdue",
            v["follow_ups_open"],
            v["follow_ups_overdue"],
            v["overdue_updates"]
        );
    });
    Ok(())
}

async fn followup(client: &Client, out: &Output, cmd: FollowupCmd) -> anyhow::Result<()> {
    let said = |v: &Value| {
        let owner = v["owner"].as_str().map(|o| format!("@{o}")).unwrap_or_else(|| "nobody".into());
        let due = if v["due_at"].is_string() { format!(", due {}", t(v, "due_at")) } else { String::new() };
        say!("{} action {}: {} ({}, {owner}{due})", s(v, "incident"), v["id"], s(v, "text"), s(v, "status"));
    };
    match cmd {
        FollowupCmd::Add { reference, text, owner, due, ticket } => {
            let due = due.map(|d| text::time_input(&d).context("--due")).transpose()?;
            let body = json!({"text": text, "owner": owner, "due_at": due, "ticket": ticket, "follow_up": true});
            let v = client.post(&format!("/api/v1/incidents/{}/actions", path_ref(&reference)), &body).await?;
            out.show(&v, said);
        }
        FollowupCmd::List { owner, state, overdue } => {
            let overdue = overdue.then(|| "true".to_owned());
            let v = client
                .get(&with_query("/api/v1/follow-ups", &[("owner", owner), ("state", state), ("overdue", overdue)]))
                .await?;
            out.show(&v, |v| {
                let rows = v
                    .as_array()
                    .map(|all| {
                        all.iter()
                            .map(|f| {
                                let status = if f["overdue"] == true { "overdue".to_owned() } else { s(f, "status") };
                                vec![
                                    format!("{} {}", s(f, "incident"), f["action"]),
                                    f["owner"].as_str().map(|o| format!("@{o}")).unwrap_or_default(),
                                    if f["due_at"].is_string() { t(f, "due_at") } else { String::new() },
                                    status,
                                    f["ticket"].as_str().unwrap_or_default().to_owned(),
                                    s(f, "text"),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table(&["ACTION", "OWNER", "DUE", "STATUS", "TICKET", "WHAT"], rows);
            });
        }
        FollowupCmd::Done { reference, action, cancel } => {
            let status = if cancel { "cancelled" } else { "done" };
            let path = format!("/api/v1/incidents/{}/actions/{action}", path_ref(&reference));
            let v = client.patch(&path, &json!({"status": status})).await?;
            out.show(&v, said);
        }
    }
    Ok(())
}

async fn postmortem(client: &Client, out: &Output, cmd: PostmortemCmd) -> anyhow::Result<()> {
    let at = |r: &str| format!("/api/v1/incidents/{}/postmortem", path_ref(r));
    match cmd {
        PostmortemCmd::Generate { reference, template } => {
            let v = client.post(&at(&reference), &json!({"template": template})).await?;
            out.show(&v, |v| {
                print_postmortem(v);
                say!("Write a section: muster postmortem write {} summary \"…\"", s(v, "incident"));
            });
        }
        PostmortemCmd::Show { reference } => {
            let v = client.get(&at(&reference)).await?;
            out.show(&v, print_postmortem);
        }
        PostmortemCmd::Write { reference, section, text } => {
            let v = client.patch(&at(&reference), &json!({ section: text })).await?;
            out.show(&v, print_postmortem);
        }
        PostmortemCmd::Move { reference, state } => {
            let v = client.patch(&at(&reference), &json!({"state": state})).await?;
            out.show(&v, print_postmortem);
        }
        PostmortemCmd::Export { reference, html } => {
            let suffix = if html { "html" } else { "md" };
            let text = client.get_text(&format!("{}.{suffix}", at(&reference))).await?;
            print!("{text}");
        }
    }
    Ok(())
}

async fn report(client: &Client, out: &Output, cmd: ReportCmd) -> anyhow::Result<()> {
    match cmd {
        ReportCmd::Add { customer, body, channel, contact, organization, service, incident } => {
            let new = json!({"channel": channel, "customer": customer, "body": body, "contact": contact,
                             "organization": organization, "service": service});
            let mut v = client.post("/api/v1/customer-reports", &new).await?;
            if let Some(i) = incident {
                v = client
                    .post(&format!("/api/v1/customer-reports/{}/link", s(&v, "id")), &json!({"incident": i}))
                    .await?;
            }
            out.show(&v, |v| {
                say!("Logged report {}: answer by {}", s(v, "id"), t(v, "response_due_at"));
                if v["incident"].is_null() {
                    say!("Link it: muster report link INC-… {}", s(v, "id"));
                }
            });
        }
        ReportCmd::List { incident, state, channel } => {
            let v = if incident.is_none() && state.is_none() && channel.is_none() {
                client.get("/api/v1/support/queue").await?
            } else {
                client
                    .get(&with_query(
                        "/api/v1/customer-reports?limit=1000",
                        &[("incident", incident), ("state", state), ("channel", channel)],
                    ))
                    .await?
            };
            out.show(&v, |v| {
                let all = v.as_array().cloned().unwrap_or_default();
                if all.is_empty() {
                    say!("No reports waiting.");
                }
                for r in &all {
                    say!("{}", report_line(r));
                    say!("    {}", text::cut(&s(r, "body").split_whitespace().collect::<Vec<_>>().join(" "), 100));
                }
            });
        }
        ReportCmd::Show { id } => {
            let v = client.get(&format!("/api/v1/customer-reports/{id}")).await?;
            out.show(&v, |v| {
                say!("{}", report_line(v));
                if let Some(c) = v["contact"].as_str() {
                    say!("Contact: {c}");
                }
                if let Some(x) = v["external_ref"].as_str() {
                    say!("In the helpdesk: {x} {}", s(v, "external_url"));
                }
                say!("Received {}\n\n{}\n", t(v, "received_at"), s(v, "body"));
                for a in v["responses"].as_array().into_iter().flatten() {
                    say!("Answered {} by @{}: {}", t(a, "at"), s(a, "responder"), s(a, "body"));
                }
                if let Some(reply) = v["suggested_reply"].as_str() {
                    say!("Suggested reply (muster report respond {id} --suggested):\n{reply}");
                }
            });
        }
        ReportCmd::Link { incident, reports } => {
            let v = client
                .post("/api/v1/customer-reports/link", &json!({"reports": reports, "incident": incident}))
                .await?;
            out.show(&v, |v| {
                for r in v.as_array().into_iter().flatten() {
                    say!("Linked {}", report_line(r));
                }
            });
        }
        ReportCmd::Unlink { id } => {
            let v = client.post(&format!("/api/v1/customer-reports/{id}/unlink"), &json!({})).await?;
            out.show(&v, |v| say!("Unlinked {}", report_line(v)));
        }
        ReportCmd::Respond { id, body, suggested } => {
            let body = match (body, suggested) {
                (Some(b), _) => b,
                (None, true) => {
                    let v = client.get(&format!("/api/v1/customer-reports/{id}")).await?;
                    v["suggested_reply"].as_str().map(str::to_owned).context(
                        "there is no suggested reply: its incident has published no external update yet (write the answer yourself)",
                    )?
                }
                (None, false) => anyhow::bail!("say what you told the customer, or --suggested"),
            };
            let v = client.post(&format!("/api/v1/customer-reports/{id}/respond"), &json!({"body": body})).await?;
            out.show(&v, |v| say!("Answer recorded: {}", report_line(v)));
        }
        ReportCmd::Pass { id, excerpt, note, page } => {
            let body = json!({"excerpt": excerpt, "note": note, "page": page});
            let v = client.post(&format!("/api/v1/customer-reports/{id}/pass"), &body).await?;
            out.show(&v, |v| say!("Passed on to the responders of {}: {}", s(v, "incident"), report_line(v)));
        }
        ReportCmd::Close { id } => {
            let v = client.patch(&format!("/api/v1/customer-reports/{id}"), &json!({"state": "closed"})).await?;
            out.show(&v, |v| say!("Closed {}", report_line(v)));
        }
    }
    Ok(())
}

async fn status_page(client: &Client, out: &Output, cmd: StatusCmd) -> anyhow::Result<()> {
    match cmd {
        StatusCmd::Component(ComponentCmd::Add { name, description, group, position }) => {
            let body = json!({"name": name, "description": description, "group": group, "position": position});
            let v = client.post("/api/v1/status/components", &body).await?;
            out.show(&v, |v| say!("Added component {} {} ({})", s(v, "id"), s(v, "name"), s(v, "status")));
        }
        StatusCmd::Component(ComponentCmd::List) => {
            let v = client.get("/api/v1/status/components").await?;
            out.show(&v, |v| {
                if v.as_array().is_none_or(Vec::is_empty) {
                    say!("No components yet: muster status component add API");
                    return;
                }
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let group = c["group"].as_str().unwrap_or("–").to_owned();
                        vec![s(c, "id"), s(c, "name"), group, s(c, "status")]
                    })
                    .collect();
                table(&["ID", "NAME", "GROUP", "STATUS"], rows);
            });
        }
        StatusCmd::Component(ComponentCmd::Set { component, status, incident }) => {
            let id = component_id(client, &component).await?;
            let body = json!({"status": status, "incident": incident});
            let v = client.put(&format!("/api/v1/status/components/{id}/status"), &body).await?;
            out.show(&v, |v| say!("{} is {}", s(v, "name"), s(v, "status")));
        }
        StatusCmd::Maintenance(MaintenanceCmd::Add { title, components, from, to, message, remind, manual }) => {
            let body = json!({"title": title, "components": components, "starts_at": text::time_input(&from)?,
                              "ends_at": text::time_input(&to)?, "body": message, "remind_minutes_before": remind,
                              "auto_start": !manual, "auto_complete": !manual});
            let v = client.post("/api/v1/status/maintenances", &body).await?;
            out.show(&v, |v| {
                say!("Scheduled maintenance {} {}: {}", s(v, "id"), s(v, "title"), window(v));
                if manual {
                    say!("Start and complete it yourself: muster status maintenance update {} in_progress", s(v, "id"));
                }
            });
        }
        StatusCmd::Maintenance(MaintenanceCmd::List) => {
            let v = client.get("/api/v1/status/maintenances").await?;
            out.show(&v, |v| {
                if v.as_array().is_none_or(Vec::is_empty) {
                    say!("No maintenance scheduled: muster status maintenance add announces one");
                    return;
                }
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| vec![s(m, "id"), s(m, "title"), window(m), s(m, "status")])
                    .collect();
                table(&["ID", "TITLE", "WINDOW", "STATUS"], rows);
            });
        }
        StatusCmd::Maintenance(MaintenanceCmd::Update { id, status, message }) => {
            let body = json!({"status": status, "body": message});
            let v = client.post(&format!("/api/v1/status/maintenances/{id}/updates"), &body).await?;
            out.show(&v, |v| say!("Maintenance {} {} is {}", s(v, "id"), s(v, "title"), s(v, "status")));
        }
        StatusCmd::Subscribers => {
            let v = client.get("/api/v1/status/subscribers").await?;
            out.show(&v, |v| {
                if v.as_array().is_none_or(Vec::is_empty) {
                    say!(
                        "No subscribers yet: people subscribe on the page's form (/status), or POST /status/subscribe"
                    );
                    return;
                }
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        let components: Vec<String> =
                            x["components"].as_array().into_iter().flatten().map(|c| c.to_string()).collect();
                        let hears =
                            if components.is_empty() { "the whole page".to_owned() } else { components.join(", ") };
                        let confirmed = if x["confirmed"].as_bool() == Some(true) { "yes" } else { "not yet" };
                        vec![s(x, "id"), s(x, "kind"), s(x, "address"), hears, confirmed.to_owned()]
                    })
                    .collect();
                table(&["ID", "KIND", "ADDRESS", "COMPONENTS", "CONFIRMED"], rows);
            });
        }
    }
    Ok(())
}

/// A component's id from its id or name.
async fn component_id(client: &Client, named: &str) -> anyhow::Result<u64> {
    if let Ok(id) = named.trim().parse() {
        return Ok(id);
    }
    let all = client.get("/api/v1/status/components").await?;
    all.as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"].as_str() == Some(named.trim()))
        .and_then(|c| c["id"].as_u64())
        .ok_or_else(|| anyhow::anyhow!("there is no component {named:?}: muster status component list shows them"))
}

/// A maintenance's window as people read it.
fn window(m: &Value) -> String {
    format!("{} – {}", text::when(&s(m, "starts_at")), text::when(&s(m, "ends_at")))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

/// What a group hears: "P1, P2 · internal, executive · checkout".
fn group_line(g: &Value) -> String {
    let services = strings(&g["services"]);
    let services = if services.is_empty() { "every service".to_owned() } else { services.join(", ") };
    format!("{} · {} · {services}", strings(&g["priorities"]).join(", "), strings(&g["audiences"]).join(", "))
}

async fn user(client: &Client, out: &Output, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { handle, name, email, permission, no_contact_method, time_zone } => {
            let body = json!({"handle": handle, "name": name, "email": email, "permission": permission,
                              "email_contact_method": !no_contact_method, "time_zone": time_zone});
            let v = client.post("/api/v1/users", &body).await?;
            out.show(&v, |v| {
                say!("Added @{} ({}, {})", s(v, "handle"), s(v, "name"), s(v, "permission"));
                if no_contact_method {
                    say!("@{} has no contact method: pages reach nobody until one is added", s(v, "handle"));
                }
            });
        }
        UserCmd::Token { handle, name, expires } => {
            let expires = expires.map(|t| text::time_input(&t).context("--expires")).transpose()?;
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
        UserCmd::TimeZone { handle, zone } => {
            let handle = handle.trim_start_matches('@');
            let zone = (!matches!(zone.trim(), "none" | "UTC" | "utc")).then_some(zone);
            let v = client.patch(&format!("/api/v1/users/{handle}"), &json!({"time_zone": zone})).await?;
            out.show(&v, |v| match v["time_zone"].as_str() {
                Some(z) => say!("@{}'s time zone is {z}", s(v, "handle")),
                None => say!("@{} is on UTC", s(v, "handle")),
            });
        }
        UserCmd::Disable { handle } => {
            let handle = handle.trim_start_matches('@');
            let v = client.post(&format!("/api/v1/users/{handle}/disable"), &json!({})).await?;
            out.show(&v, |v| say!("Disabled @{} at {}", s(v, "handle"), t(v, "disabled_at")));
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
                    .map(|u| {
                        let zone = u["time_zone"].as_str().unwrap_or("UTC").to_owned();
                        vec![format!("@{}", s(u, "handle")), s(u, "name"), s(u, "email"), s(u, "permission"), zone]
                    })
                    .collect();
                table(&["HANDLE", "NAME", "EMAIL", "PERMISSION", "TIME ZONE"], rows);
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
                            text::when(&s(t, "created_at")),
                            never(text::when(&s(t, "expires_at"))),
                            never(text::when(&s(t, "last_used_at"))),
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
    say!("Seen {} times, first {}, last {}", s(a, "count"), t(a, "first_seen_at"), t(a, "last_seen_at"));
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
            warn_of(&v);
            out.show(&v, |v| {
                say!("Added service {} ({})", s(v, "name"), s(v, "id"));
                say!("Integration key (PagerDuty routing key): {}", s(v, "integration_key"));
                say!("Alertmanager webhook: {}{}", client.base(), s(v, "alertmanager_url"));
                say!("Generic webhook:      {}{}", client.base(), s(v, "generic_url"));
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
                        let owner = at(x, "owner");
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
        ServiceCmd::Key { service } => {
            let id = id_by_name(client, "/api/v1/services", "service", &service).await?;
            let v = client.get(&format!("/api/v1/services/{id}")).await?;
            if !out.json && v["integration_key"].as_str().is_none() {
                bail!("only the owner of {service} and admins see its integration key");
            }
            out.show(&v, |v| say!("{}", s(v, "integration_key")));
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

/// Shifts with their times in `tz` (the schedule's own zone).
fn print_shifts(v: &Value, tz: &jiff::tz::TimeZone) {
    let rows = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| vec![at(x, "user"), text::when_in(&s(x, "start"), tz), text::when_in(&s(x, "end"), tz)])
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
            warn_of(&v);
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
            if out.json {
                out.json(&v);
            } else {
                let one = client.get(&format!("/api/v1/schedules/{id}")).await?;
                let (tz, zone) = if out.utc {
                    (jiff::tz::TimeZone::UTC, "UTC".to_owned())
                } else {
                    let zone = s(&one, "time_zone");
                    (jiff::tz::TimeZone::get(&zone).unwrap_or(jiff::tz::TimeZone::UTC), zone)
                };
                say!("Shifts of {} in the next {days} days, in {zone}:", s(&one, "name"));
                print_shifts(&v, &tz);
            }
        }
        ScheduleCmd::Override { schedule, user, start, end } => {
            let start = text::time_input(&start).context("--start")?;
            let end = text::time_input(&end).context("--end")?;
            let id = schedule_id(client, &schedule).await?;
            let body = json!({"user": user.trim_start_matches('@'), "start": start, "end": end});
            let v = client.post(&format!("/api/v1/schedules/{id}/overrides"), &body).await?;
            out.show(&v, |v| say!("@{} is on call from {} until {}", s(v, "user"), t(v, "start"), t(v, "end")));
        }
    }
    Ok(())
}

async fn oncall(client: &Client, out: &Output, which: Option<String>, at: Option<String>) -> anyhow::Result<()> {
    let at = at.map(|t| text::time_input(&t).context("--at")).transpose()?;
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

/// A policy's timeline from its JSON, naming schedules from `schedules`.
fn timeline_of(p: &Value, schedules: &Value) -> Vec<String> {
    let steps: Vec<muster_domain::paging::Step> = serde_json::from_value(p["steps"].clone()).unwrap_or_default();
    let policy = muster_domain::paging::EscalationPolicy {
        name: s(p, "name"),
        repeat: p["repeat"].as_u64().unwrap_or(0) as u32,
        steps,
    };
    let name = |id: u64| {
        schedules
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["id"].as_u64() == Some(id))
            .map_or_else(|| format!("schedule {id}"), |x| s(x, "name"))
    };
    muster_domain::paging::describe_policy(&policy, &name)
}

fn print_policy(p: &Value, schedules: &Value) {
    say!("Escalation policy {} ({})", s(p, "name"), s(p, "id"));
    for line in timeline_of(p, schedules) {
        say!("  {line}");
    }
}

async fn policy(client: &Client, out: &Output, cmd: PolicyCmd) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::Add { name, repeat, step, order, .. } => {
            if let Some(old) = step.first() {
                bail!(
                    "--step {old}: --step is gone (its number was the wait after the step, which read backwards); \
                     write whom to notify and how long to wait: --notify schedule:Primary --after 5m --notify @carol"
                );
            }
            let mut parsed = Vec::new();
            for (targets, wait) in policy_steps(&order)? {
                let mut list = Vec::new();
                for target in targets.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    match target.strip_prefix("schedule:") {
                        Some(which) => list.push(json!({"schedule": schedule_id(client, which).await?})),
                        None if target.contains(':') => {
                            bail!("--notify {target}: a target is @handle or schedule:<id or name>")
                        }
                        None => list.push(json!({"user": target.trim_start_matches('@')})),
                    }
                }
                if list.is_empty() {
                    bail!("--notify {targets:?} names nobody: give @handle or schedule:<id or name>");
                }
                parsed.push(json!({"delay_seconds": wait, "targets": list}));
            }
            let v = client
                .post("/api/v1/escalation-policies", &json!({"name": name, "repeat": repeat, "steps": parsed}))
                .await?;
            if out.json {
                out.json(&v);
            } else {
                let schedules = client.get("/api/v1/schedules").await?;
                say!("Added escalation policy {} ({})", s(&v, "name"), s(&v, "id"));
                for line in timeline_of(&v, &schedules) {
                    say!("  {line}");
                }
            }
        }
        PolicyCmd::List => {
            let v = client.get("/api/v1/escalation-policies").await?;
            if out.json {
                out.json(&v);
            } else {
                let schedules = client.get("/api/v1/schedules").await?;
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| vec![s(p, "id"), s(p, "name"), timeline_of(p, &schedules).join("; ")])
                    .collect();
                table(&["ID", "NAME", "TIMELINE"], rows);
            }
        }
        PolicyCmd::Show { policy } => {
            let id = policy_id(client, &policy).await?;
            let v = client.get(&format!("/api/v1/escalation-policies/{id}")).await?;
            if out.json {
                out.json(&v);
            } else {
                print_policy(&v, &client.get("/api/v1/schedules").await?);
            }
        }
    }
    Ok(())
}

async fn contact(client: &Client, out: &Output, cmd: ContactCmd) -> anyhow::Result<()> {
    match cmd {
        ContactCmd::Add { kind, address, user } => {
            let handle = handle_or_me(client, user).await?;
            let body = json!({"kind": kind, "address": address});
            let v = client.post(&format!("/api/v1/users/{handle}/contact-methods"), &body).await?;
            // With rules, only the methods they name are used: say so, or
            // the new method waits unused and nobody knows.
            let rules = if out.json {
                Value::Null
            } else {
                client.get(&format!("/api/v1/users/{handle}/notification-rules")).await?
            };
            out.show(&v, |v| {
                say!("Added {} contact method {} for @{handle}: {}", s(v, "kind"), s(v, "id"), s(v, "address"));
                if !s(v, "secret").is_empty() {
                    say!("Signing secret, shown only this once: {}", s(v, "secret"));
                    say!("Each request is signed in X-Muster-Signature with it (HMAC-SHA256).");
                }
                if rules.as_array().is_some_and(|r| !r.is_empty()) {
                    say!(
                        "No rule uses it yet, so pages do not: `muster rule add --method {} --after 0m` to be notified by it at once",
                        s(v, "id")
                    );
                }
            });
        }
        ContactCmd::List { user } => {
            let handle = handle_or_me(client, user).await?;
            let methods = client.get(&format!("/api/v1/users/{handle}/contact-methods")).await?;
            let rules = client.get(&format!("/api/v1/users/{handle}/notification-rules")).await?;
            if out.json {
                out.json(&json!({"contact_methods": methods, "notification_rules": rules}));
                return Ok(());
            }
            let no_rules = rules.as_array().is_none_or(Vec::is_empty);
            let rows = methods
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let used: Vec<String> = rules
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["contact_method"] == m["id"])
                        .map(|r| after_words(r["delay_seconds"].as_u64().unwrap_or(0)))
                        .collect();
                    let used = match (used.is_empty(), no_rules) {
                        (false, _) => used.join(", "),
                        (true, true) => "at once (no rules)".to_owned(),
                        (true, false) => "never (no rule uses it)".to_owned(),
                    };
                    vec![s(m, "id"), s(m, "kind"), s(m, "address"), used]
                })
                .collect::<Vec<_>>();
            if rows.is_empty() {
                say!("@{handle} has no contact methods: a page reaches nobody. Add one: muster contact add email …");
            } else {
                table(&["ID", "KIND", "ADDRESS", "USED WHEN PAGED"], rows);
            }
        }
        ContactCmd::Remove { id, user } => {
            let handle = handle_or_me(client, user).await?;
            client.delete(&format!("/api/v1/users/{handle}/contact-methods/{id}")).await?;
            if out.json {
                out.json(&json!({"removed": id}));
            } else {
                say!("Removed contact method {id} of @{handle}, with the rules that used it");
            }
        }
        ContactCmd::Test { id, user } => {
            let handle = handle_or_me(client, user).await?;
            let v = client.post(&format!("/api/v1/users/{handle}/contact-methods/{id}/test"), &json!({})).await?;
            out.show(&v, |v| {
                say!("Sent a test notification through contact method {id} of @{handle} (job {})", s(v, "job"));
            });
        }
    }
    Ok(())
}

fn profiles(out: &Output, cmd: ProfileCmd, conn: &Connection) -> anyhow::Result<()> {
    use crate::profile;
    let path = profile::path()?;
    let mut config = profile::load(&path)?;
    match cmd {
        ProfileCmd::Add { name } => {
            profile::check_name(&name)?;
            let Some(url) = conn.url.clone().or_else(|| env_var("MUSTER_URL")) else {
                bail!("give the server's address: --url https://… (or MUSTER_URL)")
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("--url {url}: give an http:// or https:// address");
            }
            let token = match conn.token.clone().or_else(|| env_var("MUSTER_TOKEN")).as_deref() {
                Some(t) if t != "-" => t.to_owned(),
                _ => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("failed to read the token from stdin")?;
                    line.trim().to_owned()
                }
            };
            if token.is_empty() {
                bail!("no token: give --token, or the token on stdin");
            }
            let replaced = config
                .profiles
                .insert(
                    name.clone(),
                    profile::Profile { url: url.clone(), token: Some(token), ca_file: conn.ca_file.clone() },
                )
                .is_some();
            profile::save(&path, &config)?;
            let verb = if replaced { "Replaced" } else { "Added" };
            say!("{verb} profile {name} ({url}) in {}; use it with --profile {name}", path.display());
        }
        ProfileCmd::List => {
            let shown: Vec<Value> = config
                .profiles
                .iter()
                .map(|(name, p)| {
                    json!({"name": name, "url": p.url, "token": p.token.as_deref().map(profile::masked),
                           "ca_file": p.ca_file})
                })
                .collect();
            let v = Value::Array(shown);
            out.show(&v, |v| {
                if config.profiles.is_empty() {
                    say!("No profiles in {}; add one: muster profile add NAME --url … --token …", path.display());
                    return;
                }
                say!("Profiles in {}:", path.display());
                let rows = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| vec![s(p, "name"), s(p, "url"), s(p, "token"), s(p, "ca_file")])
                    .collect();
                table(&["NAME", "URL", "TOKEN", "CA FILE"], rows);
            });
        }
        ProfileCmd::Remove { name } => {
            if config.profiles.remove(&name).is_none() {
                bail!("there is no profile {name:?} in {}", path.display());
            }
            profile::save(&path, &config)?;
            say!("Removed profile {name} from {}", path.display());
        }
    }
    Ok(())
}

/// `at once`, `after 2 min`.
fn after_words(seconds: u64) -> String {
    if seconds == 0 { "at once".to_owned() } else { format!("after {}", muster_domain::paging::minutes(seconds)) }
}

async fn rule(client: &Client, out: &Output, cmd: RuleCmd) -> anyhow::Result<()> {
    match cmd {
        RuleCmd::Add { method, after, user } => {
            let handle = handle_or_me(client, user).await?;
            let delay = duration(&after).with_context(|| format!("--after {after}"))?;
            let body = json!({"contact_method": method, "delay_seconds": delay});
            let v = client.post(&format!("/api/v1/users/{handle}/notification-rules"), &body).await?;
            out.show(&v, |v| {
                let when = after_words(v["delay_seconds"].as_u64().unwrap_or(0));
                say!("Added rule {}: @{handle} is notified through contact method {method} {when}", s(v, "id"));
            });
        }
        RuleCmd::List { user } => {
            let handle = handle_or_me(client, user).await?;
            let v = client.get(&format!("/api/v1/users/{handle}/notification-rules")).await?;
            out.show(&v, |v| {
                let rows: Vec<Vec<String>> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        vec![s(r, "id"), s(r, "contact_method"), after_words(r["delay_seconds"].as_u64().unwrap_or(0))]
                    })
                    .collect();
                if rows.is_empty() {
                    say!("@{handle} has no notification rules: every contact method is used at once");
                } else {
                    table(&["ID", "METHOD", "WHEN"], rows);
                }
            });
        }
        RuleCmd::Remove { id, user } => {
            let handle = handle_or_me(client, user).await?;
            client.delete(&format!("/api/v1/users/{handle}/notification-rules/{id}")).await?;
            if out.json {
                out.json(&json!({"removed": id}));
            } else {
                say!("Removed rule {id} of @{handle}");
            }
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

/// What `muster pages` lists when it shows no one page.
struct PagesList {
    open: bool,
    incident: Option<String>,
    state: Option<String>,
    before: Option<u64>,
    limit: u32,
}

async fn pages(client: &Client, out: &Output, id: Option<u64>, list: PagesList) -> anyhow::Result<()> {
    let PagesList { open, incident, state, before, limit } = list;
    if let Some(id) = id {
        let v = client.get(&format!("/api/v1/pages/{id}")).await?;
        out.show(&v, |v| {
            say!("Page {} ({}): {}", s(v, "id"), s(v, "state"), s(v, "message"));
            if !s(v, "incident").is_empty() {
                say!("Incident: {}", s(v, "incident"));
            }
            let notified = handles(&v["notified"]);
            if !notified.is_empty() {
                say!("Notified: {}", notified.join(", "));
            }
            let answered = match (s(v, "state").as_str(), at(v, "answered_by")) {
                ("acknowledged", who) if !who.is_empty() => {
                    Some(format!("Acknowledged by {who} at {}", t(v, "updated_at")))
                }
                ("declined", who) if !who.is_empty() => Some(format!("Declined by {who} at {}", t(v, "updated_at"))),
                ("pending" | "notified", _) => Some("Not answered yet".to_owned()),
                (state, _) => {
                    let why = s(v, "reason");
                    let why = if why.is_empty() { String::new() } else { format!(": {why}") };
                    Some(format!("Nobody answered: {state} at {}{why}", t(v, "updated_at")))
                }
            };
            if let Some(line) = answered {
                say!("{line}");
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
                    let delivered = match (t(d, "delivered_at"), t(d, "gave_up_at")) {
                        (at, gave_up) if at.is_empty() && !gave_up.is_empty() => format!("gave up {gave_up}"),
                        (at, _) if at.is_empty() => "not yet".to_owned(),
                        (at, _) => at,
                    };
                    vec![at(d, "person"), s(d, "kind"), s(d, "to"), delivered, s(d, "last_error")]
                })
                .collect();
            table(&["PERSON", "KIND", "TO", "DELIVERED", "ERROR"], rows);
        });
        return Ok(());
    }
    // An incident's pages, or everyone's: the same paged list either way.
    let list = match &incident {
        Some(r) => format!("/api/v1/incidents/{}/pages?limit={limit}", path_ref(r)),
        None => format!("/api/v1/pages?limit={limit}"),
    };
    let query = [
        ("open", open.then(|| "true".to_owned())),
        ("state", state.clone()),
        ("before", before.map(|b| b.to_string())),
    ];
    let v = client.get(&with_query(&list, &query)).await?;
    // Nothing is followed on its own: a full list says how to see the older ones.
    let shown = v.as_array().map_or(0, Vec::len);
    if shown == limit as usize
        && let Some(last) = v.as_array().and_then(|a| a.last()).and_then(|p| p["id"].as_u64())
    {
        let mut again = vec!["muster pages".to_owned()];
        if open {
            again.push("--open".to_owned());
        }
        for (flag, value) in [("--incident", incident.clone()), ("--state", state.clone())] {
            if let Some(v) = value {
                again.push(format!("{flag} {v}"));
            }
        }
        again.push(format!("--limit {limit} --before {last}"));
        eprintln!("The newest {shown} pages; there may be more: {}", again.join(" "));
    }
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
                    notified.join(", "),
                    at(p, "answered_by"),
                    s(p, "message"),
                ]
            })
            .collect();
        table(&["ID", "STATE", "INCIDENT", "NOTIFIED", "ANSWERED BY", "MESSAGE"], rows);
    });
    Ok(())
}

/// Prints the `warnings` of an answer (what a service or schedule made as
/// asked will not do) on stderr, so they are seen even with `--json`.
fn warn_of(v: &Value) {
    for w in v.get("warnings").and_then(Value::as_array).into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
}
