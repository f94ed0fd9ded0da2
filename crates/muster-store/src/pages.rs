//! Stored pages and their moves, the notifications they sent; the types,
//! and the queries on them.

use muster_domain::incident::Context;
use muster_domain::intake::{self, system_actor as system};
use muster_domain::page::{PageState, PageTarget, UnreachableStep};
use muster_domain::paging::EscalationPolicy;
use muster_domain::{Actor, Command, DomainError, Event, Handle, Incident, Priority, RoleKind, Timestamp};

use crate::alerts::Alert;
use crate::dialect::Dialect;
use crate::incidents::{lock_incident, no_incident, run_on_incident, save_incident};
use crate::rows::{self, micros};
use crate::{DecidePage, NewJob, Result, StoreError};

/// A page to create.
#[derive(Debug, Clone)]
pub struct NewPage {
    pub incident: Option<u64>,
    pub alert: Option<u64>,
    pub target: PageTarget,
    /// How the target reads on the timeline.
    pub target_text: String,
    pub message: String,
    /// What whoever acknowledges takes on.
    pub roles: Vec<RoleKind>,
    /// The escalation the page follows, as it was when the page was sent.
    pub policy: EscalationPolicy,
    pub created_by: Actor,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageRecord {
    pub id: u64,
    pub incident: Option<u64>,
    pub alert: Option<u64>,
    pub target: PageTarget,
    pub message: String,
    pub roles: Vec<RoleKind>,
    pub policy: EscalationPolicy,
    pub state: PageState,
    /// How many steps were notified.
    pub step: u32,
    /// Everyone notified so far, in order, each once.
    pub notified: Vec<Handle>,
    /// Those the latest step notified (and who have not declined): the
    /// people who may decline it.
    pub current: Vec<Handle>,
    pub created_by: Handle,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Who acknowledged or declined it.
    pub closed_by: Option<Handle>,
    pub reason: Option<String>,
    /// The steps that reached nobody, in order.
    pub unreachable: Vec<UnreachableStep>,
}

/// A page's move, applied only if the page is still open and has notified
/// exactly `from_step` steps; otherwise nothing is written.
#[derive(Debug, Clone)]
pub struct PageMove {
    pub page: u64,
    pub from_step: u32,
    pub state: PageState,
    pub step: u32,
    /// Added to the people notified.
    pub notified: Vec<Handle>,
    /// Replaces the people of the current step, when given.
    pub current: Option<Vec<Handle>>,
    pub closed_by: Option<Handle>,
    pub reason: Option<String>,
    /// Run on the page's incident, by this actor, in the same transaction.
    /// Nothing is written on a closed incident (`intake::records_on`); any
    /// other refusal is an error and the move is not made.
    pub command: Option<(Actor, Command)>,
    /// Enqueued in the same transaction.
    pub jobs: Vec<NewJob>,
    /// Acknowledge the page's alert too (if still triggered), as the
    /// actor of `command`, in the same transaction.
    pub acknowledge_alert: bool,
    /// A step that reached nobody, recorded on the page.
    pub unreachable: Option<UnreachableStep>,
    /// A step's notifications of a service's alert, each person's sent or
    /// folded into their bundle (`crate::bundles`), in the same
    /// transaction. Notifications not to bundle are in `jobs`.
    pub bundling: Option<crate::bundles::Bundling>,
}

/// Which pages to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct PageFilter {
    pub incident: Option<u64>,
    pub alert: Option<u64>,
    pub open: bool,
    /// Only pages in one of these states (none: every state).
    pub states: Vec<PageState>,
    /// Only pages with a smaller id (the next page of a list).
    pub before: Option<u64>,
    /// Only pages that notified this person.
    pub notified: Option<Handle>,
    /// Only pages with a step that reached nobody.
    pub unreachable: bool,
    pub limit: u32,
}

/// One notification of a page (a job), for showing where it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub job: u64,
    pub kind: String,
    pub to: String,
    pub person: Option<String>,
    /// The step it notifies for, counting from 1.
    pub step: Option<u32>,
    pub due_at: Timestamp,
    pub attempts: u32,
    pub delivered_at: Option<Timestamp>,
    /// When it was given up on (dead-lettered).
    pub dead_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The job that runs step `step` of page `page` at `due_at`. Its key makes
/// each step's timer one job, however often it is enqueued.
pub fn step_job(page: u64, step: u32, due_at: Timestamp) -> NewJob {
    NewJob {
        job: muster_domain::outbox::Job::PageStep { page, step },
        idempotency_key: format!("page:{page}:step:{step}"),
        due_at,
    }
}

const PAGE_COLUMNS: &str = "SELECT id, incident, alert, target, message, roles, policy, state, step, notified, \
     created_by, created_at, updated_at, closed_by, reason, current, unreachable FROM pages";

#[derive(sqlx::FromRow)]
struct PageRow {
    id: i64,
    incident: Option<i64>,
    alert: Option<i64>,
    target: String,
    message: String,
    roles: String,
    policy: String,
    state: String,
    step: i64,
    notified: String,
    created_by: String,
    created_at: i64,
    updated_at: i64,
    closed_by: Option<String>,
    reason: Option<String>,
    current: String,
    unreachable: String,
}

impl TryFrom<PageRow> for PageRecord {
    type Error = StoreError;
    fn try_from(r: PageRow) -> Result<PageRecord> {
        let id = r.id;
        let corrupt = |e: String| StoreError::Corrupt(format!("page {id}: {e}"));
        let handle = |s: &str| Handle::parse(s).map_err(|e| corrupt(e.to_string()));
        Ok(PageRecord {
            id: id as u64,
            incident: r.incident.map(|n| n as u64),
            alert: r.alert.map(|n| n as u64),
            target: serde_json::from_str(&r.target).map_err(|e| corrupt(e.to_string()))?,
            message: r.message,
            roles: serde_json::from_str(&r.roles).map_err(|e| corrupt(e.to_string()))?,
            policy: serde_json::from_str(&r.policy).map_err(|e| corrupt(e.to_string()))?,
            state: r.state.parse().map_err(|e: DomainError| corrupt(e.to_string()))?,
            step: r.step as u32,
            notified: serde_json::from_str(&r.notified).map_err(|e| corrupt(e.to_string()))?,
            created_by: handle(&r.created_by)?,
            created_at: rows::timestamp(r.created_at)?,
            updated_at: rows::timestamp(r.updated_at)?,
            closed_by: r.closed_by.as_deref().map(handle).transpose()?,
            reason: r.reason,
            current: serde_json::from_str(&r.current).map_err(|e| corrupt(e.to_string()))?,
            unreachable: serde_json::from_str(&r.unreachable).map_err(|e| corrupt(e.to_string()))?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    kind: String,
    payload: String,
    due_at: i64,
    attempts: i64,
    done_at: Option<i64>,
    last_error: Option<String>,
    dead_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Delivery> {
        let payload: serde_json::Value =
            serde_json::from_str(&r.payload).map_err(|e| StoreError::Corrupt(format!("job {}: {e}", r.id)))?;
        Ok(Delivery {
            job: r.id as u64,
            kind: r.kind,
            to: payload["to"].as_str().unwrap_or_default().to_owned(),
            person: payload["person"].as_str().map(str::to_owned),
            step: payload["step"].as_u64().map(|s| s as u32),
            due_at: rows::timestamp(r.due_at)?,
            attempts: r.attempts as u32,
            delivered_at: r.done_at.map(rows::timestamp).transpose()?,
            dead_at: r.dead_at.map(rows::timestamp).transpose()?,
            last_error: r.last_error,
        })
    }
}

pub(crate) async fn page<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<PageRecord>> {
    let found: Option<PageRow> =
        D::query(format!("{PAGE_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(c).await?;
    found.map(PageRecord::try_from).transpose()
}

/// Appends the `WHERE` of a page filter (its limit aside).
fn push_filter<D: Dialect>(q: &mut crate::dialect::Query<'_, D>, f: &PageFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(n) = f.incident {
        q.push(" AND incident = ").push_bind(n as i64);
    }
    if let Some(a) = f.alert {
        q.push(" AND alert = ").push_bind(a as i64);
    }
    if f.open {
        q.push(" AND state IN ('pending', 'notified')");
    }
    q.push_in("state", f.states.iter().map(|s| s.as_str()));
    if let Some(b) = f.before {
        q.push(" AND id < ").push_bind(b as i64);
    }
    if f.unreachable {
        q.push(" AND unreachable <> '[]'");
    }
    if let Some(h) = &f.notified {
        // `notified` is a JSON list of handles; a handle's `_` is no wildcard.
        let quoted = serde_json::to_string(h.as_str()).expect("a handle serializes").replace('_', "!_");
        q.push(" AND notified LIKE ").push_bind(format!("%{quoted}%")).push(" ESCAPE '!'");
    }
}

/// The pages a filter selects, newest first.
pub(crate) async fn pages<D: Dialect>(c: &mut D::Connection, f: &PageFilter) -> Result<Vec<PageRecord>> {
    let mut q = D::query(PAGE_COLUMNS);
    push_filter(&mut q, f);
    q.push(" ORDER BY id DESC LIMIT ").push_bind(rows::limit(f.limit));
    let found: Vec<PageRow> = q.fetch_all(c).await?;
    found.into_iter().map(PageRecord::try_from).collect()
}

/// How many pages a filter selects, whatever its limit.
pub(crate) async fn page_count<D: Dialect>(c: &mut D::Connection, f: &PageFilter) -> Result<u64> {
    let mut q = D::query("SELECT CAST(COUNT(*) AS BIGINT) FROM pages");
    push_filter(&mut q, f);
    let n: i64 = q.scalar(c).await?;
    Ok(n as u64)
}

/// The notifications a page sent or is sending, in order.
pub(crate) async fn deliveries<D: Dialect>(c: &mut D::Connection, page: u64) -> Result<Vec<Delivery>> {
    let found: Vec<DeliveryRow> = D::query(
        "SELECT id, kind, payload, due_at, attempts, done_at, last_error, dead_at FROM jobs
         WHERE page = $1 AND kind <> 'page.step' ORDER BY due_at, id",
    )
    .bind(page as i64)
    .fetch_all(c)
    .await?;
    found.into_iter().map(Delivery::try_from).collect()
}

/// Writes a page and its first step's timer (due now); with an
/// incident, also the `page_sent` entry that `decide` makes.
pub(crate) async fn create_page<D: Dialect>(
    c: &mut D::Connection,
    p: &NewPage,
    now: Timestamp,
    decide: &DecidePage<'_>,
) -> Result<(PageRecord, Vec<Event>)> {
    let id: i64 = D::query(
        "INSERT INTO pages (incident, alert, target, message, roles, policy, state, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8) RETURNING id",
    )
    .bind(p.incident.map(|n| n as i64))
    .bind(p.alert.map(|n| n as i64))
    .bind(serde_json::to_string(&p.target).expect("a target serializes"))
    .bind(&p.message)
    .bind(serde_json::to_string(&p.roles).expect("roles serialize"))
    .bind(serde_json::to_string(&p.policy).expect("a policy serializes"))
    .bind(p.created_by.handle.as_str())
    .bind(micros(now))
    .scalar(c)
    .await?;
    let id = id as u64;
    let mut events = Vec::new();
    if let Some(number) = p.incident {
        let state = lock_incident::<D>(c, number).await?.ok_or_else(|| no_incident(number))?;
        let (next, made) = decide(&state, id)?;
        save_incident::<D>(c, &next, &made).await?;
        events = made;
    }
    crate::jobs::insert::<D>(c, &[step_job(id, 0, now)], now).await?;
    let page = page::<D>(c, id).await?.ok_or_else(|| StoreError::Corrupt("page".into()))?;
    Ok((page, events))
}

/// Applies a page move if the page is still where the mover saw it.
pub(crate) async fn move_page<D: Dialect>(
    c: &mut D::Connection,
    m: &PageMove,
    now: Timestamp,
) -> Result<Option<PageRecord>> {
    let Some(current) = page::<D>(c, m.page).await? else {
        return Err(StoreError::NotFound(format!("there is no page {}", m.page)));
    };
    // Locks in the order every writer takes them: the alert, the
    // incident, then the page (as acknowledging an alert does).
    if let Some(a) = current.alert {
        crate::alerts::lock_alert::<D>(c, a).await?;
    }
    if let Some(n) = current.incident {
        lock_incident::<D>(c, n).await?;
    }
    let mut notified = current.notified.clone();
    for p in &m.notified {
        if !notified.contains(p) {
            notified.push(p.clone());
        }
    }
    let people = m.current.as_ref().unwrap_or(&current.current);
    let mut unreachable = current.unreachable.clone();
    unreachable.extend(m.unreachable.iter().cloned());
    let done = D::query(
        "UPDATE pages SET state = $1, step = $2, notified = $3, closed_by = $4, reason = $5, updated_at = $6,
         current = $9, unreachable = $10
         WHERE id = $7 AND step = $8 AND state IN ('pending', 'notified')",
    )
    .bind(m.state.as_str())
    .bind(i64::from(m.step))
    .bind(serde_json::to_string(&notified).expect("handles serialize"))
    .bind(m.closed_by.as_ref().map(|h| h.as_str().to_owned()))
    .bind(m.reason.clone())
    .bind(micros(now))
    .bind(m.page as i64)
    .bind(i64::from(m.from_step))
    .bind(serde_json::to_string(people).expect("handles serialize"))
    .bind(serde_json::to_string(&unreachable).expect("steps serialize"))
    .execute(c)
    .await?;
    if done == 0 {
        return Ok(None);
    }
    if let (Some(number), Some((actor, command))) = (current.incident, &m.command) {
        run_on_incident::<D>(c, number, actor, command.clone(), now).await?;
    }
    if let (true, Some(alert_id), Some((actor, _))) = (m.acknowledge_alert, current.alert, &m.command) {
        let acked = D::query(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $1 WHERE id = $2 AND status = 'triggered'",
        )
        .bind(micros(now))
        .bind(alert_id as i64)
        .execute(c)
        .await?;
        if acked > 0 {
            let found =
                crate::alerts::alert::<D>(c, alert_id).await?.ok_or_else(|| StoreError::Corrupt("alert".into()))?;
            if let Some(number) = found.incident {
                run_on_incident::<D>(c, number, actor, intake::alert_status_entry(&found.reference()), now).await?;
            }
        }
    }
    crate::jobs::insert::<D>(c, &m.jobs, now).await?;
    if let Some(b) = &m.bundling {
        crate::bundles::apply::<D>(c, m.page, b, now).await?;
    }
    page::<D>(c, m.page).await
}

/// Ends the open pages of an alert that was acknowledged or
/// resolved: acknowledged by `by` when a person acknowledged it (who
/// then takes on the roles the page asked for), else cancelled.
pub(crate) async fn close_alert_pages<D: Dialect>(
    c: &mut D::Connection,
    alert: u64,
    by: Option<&Actor>,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let open: Vec<PageRow> =
        D::query(format!("{PAGE_COLUMNS} WHERE alert = $1 AND state IN ('pending', 'notified') ORDER BY id"))
            .bind(alert as i64)
            .fetch_all(c)
            .await?;
    for row in open {
        let page = PageRecord::try_from(row)?;
        let open = intake::OpenPage { id: page.id, notified: &page.notified, roles: &page.roles };
        let closing = intake::close_for_alert(&open, by, reason);
        let m = PageMove {
            page: page.id,
            from_step: page.step,
            state: closing.state,
            step: page.step,
            notified: Vec::new(),
            current: None,
            closed_by: closing.closed_by,
            reason: Some(reason.to_owned()),
            command: Some((closing.actor, closing.command)),
            jobs: Vec::new(),
            acknowledge_alert: false,
            unreachable: None,
            bundling: None,
        };
        move_page::<D>(c, &m, now).await?;
    }
    Ok(())
}

/// Pages a new alert through its service's escalation policy. An
/// incident it auto-declared at P1 or P2 gives whoever acknowledges
/// first the roles of first responder and incident manager. Returns
/// whether it paged (the policy may be gone).
pub(crate) async fn page_for_alert<D: Dialect>(
    c: &mut D::Connection,
    alert: &Alert,
    policy_id: u64,
    declared: Option<Priority>,
    now: Timestamp,
) -> Result<bool> {
    let Some(policy) = crate::schedules::policy::<D>(c, policy_id).await? else {
        tracing::warn!(alert = alert.id, policy = policy_id, "the service's escalation policy is gone");
        return Ok(false);
    };
    let page = intake::automatic_page(&alert.reference(), &policy.policy.name, declared);
    let new = NewPage {
        incident: alert.incident,
        alert: Some(alert.id),
        target: PageTarget::Policy(policy_id),
        target_text: page.target_text.clone(),
        message: page.message.clone(),
        roles: page.roles.clone(),
        policy: policy.policy,
        created_by: system(),
    };
    let catalog = crate::accounts::role_catalog::<D>(c).await?;
    let decide = |state: &Incident, id: u64| {
        let actor = system();
        state.execute(page.command(id), Context { actor: &actor, now, catalog: &catalog })
    };
    create_page::<D>(c, &new, now, &decide).await?;
    Ok(true)
}
