//! Customer reports and the support integrations they arrive through (see
//! `muster_domain::support`). A report's moves that concern an incident
//! (linking, answering, passing on) are written with the incident's events
//! under its lock, in the order incident, then reports.

use muster_domain::support::{ReportChannel, ReportSpec, ReportState};
use muster_domain::{DomainError, Event, Handle, Incident, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{self, micros, timestamp};
use crate::{NewJob, Result, StoreError};

/// A helpdesk's inbound integration, with its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportIntegration {
    pub id: u64,
    /// `zendesk`, `freshdesk`, `intercom` or `generic`.
    pub kind: String,
    pub name: String,
    /// The URL's last part: `/api/v1/integrations/{kind}/{key}`.
    pub key: String,
    /// What the vendor signs with (Zendesk, Intercom) or sends in a header
    /// (Freshdesk, generic).
    pub secret: String,
    /// Where answers to its reports are posted, signed with the secret.
    pub reply_url: Option<String>,
    /// The service its reports are about, when it is one.
    pub service: Option<u64>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSupportIntegration {
    pub kind: String,
    pub name: String,
    pub key: String,
    pub secret: String,
    pub reply_url: Option<String>,
    pub service: Option<u64>,
}

/// A customer report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: u64,
    pub spec: ReportSpec,
    pub service: Option<u64>,
    pub integration: Option<u64>,
    /// The number of the incident it is linked to.
    pub incident: Option<u64>,
    pub state: ReportState,
    pub response_due_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub responded_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// When it was last passed on to the responders.
    pub passed_at: Option<Timestamp>,
    /// Who logged it; none when a helpdesk sent it.
    pub logged_by: Option<Handle>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ReportRecord {
    /// The report as an incident's events name it.
    pub fn reference(&self) -> muster_domain::support::ReportRef {
        muster_domain::support::ReportRef {
            id: self.id,
            channel: self.spec.channel,
            customer: self.spec.customer.clone(),
            organization: self.spec.organization.clone(),
        }
    }
}

/// An answer given to a report's customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportResponse {
    pub id: u64,
    pub report: u64,
    pub body: String,
    pub responder: Handle,
    pub at: Timestamp,
}

/// A report to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub spec: ReportSpec,
    pub service: Option<u64>,
    pub integration: Option<u64>,
    pub logged_by: Option<Handle>,
    pub response_due_at: Timestamp,
}

/// What a helpdesk event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A new ticket: a new report.
    Created(ReportRecord),
    /// A later event of a ticket already reported.
    Updated(ReportRecord),
    /// The event was received before: nothing written.
    Repeated(u64),
}

/// Which reports to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub states: Vec<ReportState>,
    pub incident: Option<u64>,
    /// Only those linked to no incident.
    pub unlinked: bool,
    pub channel: Option<ReportChannel>,
    /// Only those about this service.
    pub service: Option<u64>,
    /// Only those received from then on.
    pub since: Option<Timestamp>,
    /// At most this many (0: no limit).
    pub limit: u32,
}

/// What a move of reports writes: their new rows, the answers given, the
/// jobs, and the incident's new state with its events.
#[derive(Debug, Clone, Default)]
pub struct ReportMove {
    pub reports: Vec<ReportRecord>,
    pub responses: Vec<(u64, String, Handle)>,
    pub jobs: Vec<NewJob>,
    pub incident: Option<(Incident, Vec<Event>)>,
}

/// Decides a move of reports from the incident (locked) and the reports
/// as they are (locked, in the order asked).
pub type DecideReports<'a> =
    dyn Fn(Option<&Incident>, &[ReportRecord]) -> std::result::Result<ReportMove, DomainError> + Send + Sync + 'a;

/// A ticket's report as a later event of it leaves it.
pub type MergeReport<'a> = dyn Fn(&ReportRecord) -> ReportRecord + Send + Sync + 'a;

/// The jobs a new report's due time needs (its reminder), once it has an id.
pub type ReportJobs<'a> = dyn Fn(&ReportRecord) -> Vec<NewJob> + Send + Sync + 'a;

#[derive(sqlx::FromRow)]
struct IntegrationRow {
    id: i64,
    kind: String,
    name: String,
    key: String,
    secret: String,
    reply_url: Option<String>,
    service: Option<i64>,
    created_at: i64,
}

impl TryFrom<IntegrationRow> for SupportIntegration {
    type Error = StoreError;
    fn try_from(r: IntegrationRow) -> Result<Self> {
        Ok(SupportIntegration {
            id: r.id as u64,
            kind: r.kind,
            name: r.name,
            key: r.key,
            secret: r.secret,
            reply_url: r.reply_url,
            service: r.service.map(|s| s as u64),
            created_at: timestamp(r.created_at)?,
        })
    }
}

const INTEGRATION_COLUMNS: &str =
    "SELECT id, kind, name, key, secret, reply_url, service, created_at FROM support_integrations";

pub(crate) async fn create_integration<D: Dialect>(
    c: &mut D::Connection,
    new: &NewSupportIntegration,
    now: Timestamp,
) -> Result<SupportIntegration> {
    let inserted = D::query(
        "INSERT INTO support_integrations (kind, name, key, secret, reply_url, service, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&new.kind)
    .bind(&new.name)
    .bind(&new.key)
    .bind(&new.secret)
    .bind(new.reply_url.as_deref())
    .bind(new.service.map(|s| s as i64))
    .bind(micros(now))
    .scalar::<i64>(&mut *c)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if rows::is_unique_violation(&e) => {
            return Err(StoreError::Conflict(format!("a support integration {:?} exists already", new.name)));
        }
        Err(e) => return Err(e.into()),
    };
    let row: IntegrationRow = D::query(format!("{INTEGRATION_COLUMNS} WHERE id = $1")).bind(id).fetch_one(c).await?;
    row.try_into()
}

pub(crate) async fn integrations<D: Dialect>(c: &mut D::Connection) -> Result<Vec<SupportIntegration>> {
    let rows: Vec<IntegrationRow> = D::query(format!("{INTEGRATION_COLUMNS} ORDER BY id")).fetch_all(c).await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(crate) async fn integration<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<SupportIntegration>> {
    let row: Option<IntegrationRow> =
        D::query(format!("{INTEGRATION_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(c).await?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn integration_by_key<D: Dialect>(
    c: &mut D::Connection,
    key: &str,
) -> Result<Option<SupportIntegration>> {
    let row: Option<IntegrationRow> =
        D::query(format!("{INTEGRATION_COLUMNS} WHERE key = $1")).bind(key).fetch_optional(c).await?;
    row.map(TryInto::try_into).transpose()
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: i64,
    channel: String,
    customer: String,
    contact: Option<String>,
    organization: Option<String>,
    body: String,
    external_ref: Option<String>,
    external_url: Option<String>,
    received_at: i64,
    service: Option<i64>,
    integration: Option<i64>,
    incident: Option<i64>,
    state: String,
    response_due_at: i64,
    acknowledged_at: Option<i64>,
    responded_at: Option<i64>,
    closed_at: Option<i64>,
    passed_at: Option<i64>,
    logged_by: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn optional_time(us: Option<i64>) -> Result<Option<Timestamp>> {
    us.map(timestamp).transpose()
}

impl TryFrom<ReportRow> for ReportRecord {
    type Error = StoreError;
    fn try_from(r: ReportRow) -> Result<Self> {
        let corrupt = |e: DomainError| StoreError::Corrupt(format!("customer report {}: {e}", r.id));
        Ok(ReportRecord {
            id: r.id as u64,
            spec: ReportSpec {
                channel: r.channel.parse().map_err(corrupt)?,
                customer: r.customer,
                contact: r.contact,
                organization: r.organization,
                body: r.body,
                external_ref: r.external_ref,
                external_url: r.external_url,
                received_at: timestamp(r.received_at)?,
            },
            service: r.service.map(|s| s as u64),
            integration: r.integration.map(|s| s as u64),
            incident: r.incident.map(|s| s as u64),
            state: r.state.parse().map_err(corrupt)?,
            response_due_at: timestamp(r.response_due_at)?,
            acknowledged_at: optional_time(r.acknowledged_at)?,
            responded_at: optional_time(r.responded_at)?,
            closed_at: optional_time(r.closed_at)?,
            passed_at: optional_time(r.passed_at)?,
            logged_by: r
                .logged_by
                .map(|h| Handle::parse(&h).map_err(|e| StoreError::Corrupt(format!("customer report {}: {e}", r.id))))
                .transpose()?,
            created_at: timestamp(r.created_at)?,
            updated_at: timestamp(r.updated_at)?,
        })
    }
}

const REPORT_COLUMNS: &str = "SELECT id, channel, customer, contact, organization, body, external_ref, external_url,
    received_at, service, integration, incident, state, response_due_at, acknowledged_at, responded_at, closed_at,
    passed_at, logged_by, created_at, updated_at FROM customer_reports";

pub(crate) async fn report<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<ReportRecord>> {
    let row: Option<ReportRow> =
        D::query(format!("{REPORT_COLUMNS} WHERE id = $1")).bind(id as i64).fetch_optional(c).await?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn reports<D: Dialect>(c: &mut D::Connection, f: &ReportFilter) -> Result<Vec<ReportRecord>> {
    let mut q = D::query(REPORT_COLUMNS);
    q.push(" WHERE 1 = 1");
    q.push_in("state", f.states.iter().map(|s| s.as_str()));
    if let Some(n) = f.incident {
        q.push(" AND incident = ").push_bind(n as i64);
    }
    if f.unlinked {
        q.push(" AND incident IS NULL");
    }
    if let Some(ch) = f.channel {
        q.push(" AND channel = ").push_bind(ch.as_str());
    }
    if let Some(service) = f.service {
        q.push(" AND service = ").push_bind(service as i64);
    }
    if let Some(since) = f.since {
        q.push(" AND received_at >= ").push_bind(micros(since));
    }
    q.push(" ORDER BY id DESC");
    if f.limit > 0 {
        q.push(" LIMIT ").push_bind(rows::limit(f.limit));
    }
    let found: Vec<ReportRow> = q.fetch_all(c).await?;
    found.into_iter().map(TryInto::try_into).collect()
}

pub(crate) async fn responses<D: Dialect>(c: &mut D::Connection, report: u64) -> Result<Vec<ReportResponse>> {
    let rows: Vec<(i64, i64, String, String, i64)> =
        D::query("SELECT id, report, body, responder, at FROM customer_report_responses WHERE report = $1 ORDER BY id")
            .bind(report as i64)
            .fetch_all(c)
            .await?;
    rows.into_iter()
        .map(|(id, report, body, responder, at)| {
            Ok(ReportResponse {
                id: id as u64,
                report: report as u64,
                body,
                responder: Handle::parse(&responder)
                    .map_err(|e| StoreError::Corrupt(format!("customer report response {id}: {e}")))?,
                at: timestamp(at)?,
            })
        })
        .collect()
}

async fn insert_report<D: Dialect>(c: &mut D::Connection, new: &NewReport, now: Timestamp) -> Result<u64> {
    let s = &new.spec;
    let id: i64 = D::query(
        "INSERT INTO customer_reports (channel, customer, contact, organization, body, external_ref, external_url,
         received_at, service, integration, incident, state, response_due_at, logged_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 'new', $11, $12, $13, $13) RETURNING id",
    )
    .bind(s.channel.as_str())
    .bind(&s.customer)
    .bind(s.contact.as_deref())
    .bind(s.organization.as_deref())
    .bind(&s.body)
    .bind(s.external_ref.as_deref())
    .bind(s.external_url.as_deref())
    .bind(micros(s.received_at))
    .bind(new.service.map(|v| v as i64))
    .bind(new.integration.map(|v| v as i64))
    .bind(micros(new.response_due_at))
    .bind(new.logged_by.as_ref().map(|h| h.as_str().to_owned()))
    .bind(micros(now))
    .scalar(&mut *c)
    .await?;
    Ok(id as u64)
}

async fn save_report<D: Dialect>(c: &mut D::Connection, r: &ReportRecord, now: Timestamp) -> Result<()> {
    let s = &r.spec;
    D::query(
        "UPDATE customer_reports SET customer = $1, contact = $2, organization = $3, body = $4, external_url = $5,
         service = $6, incident = $7, state = $8, response_due_at = $9, acknowledged_at = $10, responded_at = $11,
         closed_at = $12, passed_at = $13, updated_at = $14 WHERE id = $15",
    )
    .bind(&s.customer)
    .bind(s.contact.as_deref())
    .bind(s.organization.as_deref())
    .bind(&s.body)
    .bind(s.external_url.as_deref())
    .bind(r.service.map(|v| v as i64))
    .bind(r.incident.map(|v| v as i64))
    .bind(r.state.as_str())
    .bind(micros(r.response_due_at))
    .bind(r.acknowledged_at.map(micros))
    .bind(r.responded_at.map(micros))
    .bind(r.closed_at.map(micros))
    .bind(r.passed_at.map(micros))
    .bind(micros(now))
    .bind(r.id as i64)
    .execute(c)
    .await?;
    Ok(())
}

/// Logs a report, with the jobs its due time needs, in one transaction.
pub(crate) async fn create<D: Dialect>(
    c: &mut D::Connection,
    new: &NewReport,
    jobs: &ReportJobs<'_>,
    now: Timestamp,
) -> Result<ReportRecord> {
    let id = insert_report::<D>(c, new, now).await?;
    let record = report::<D>(c, id).await?.ok_or_else(|| StoreError::NotFound(format!("no customer report {id}")))?;
    crate::jobs::insert::<D>(c, &jobs(&record), now).await?;
    Ok(record)
}

/// A helpdesk's event: counted once by `event_id`; the first of a ticket
/// (`new.spec.external_ref`) makes a report, a later one hands the report
/// to `merge`, whose result is saved. `None` from the caller's point of
/// view is [`Received::Repeated`]: the event was seen before.
pub(crate) async fn receive<D: Dialect>(
    c: &mut D::Connection,
    new: &NewReport,
    event_id: &str,
    merge: &MergeReport<'_>,
    jobs: &ReportJobs<'_>,
    now: Timestamp,
) -> Result<Received> {
    let integration =
        new.integration.ok_or_else(|| StoreError::NotFound("a support event needs its integration".into()))?;
    let seen: Option<i64> = D::query("SELECT report FROM support_events WHERE integration = $1 AND event_id = $2")
        .bind(integration as i64)
        .bind(event_id)
        .scalar_optional(&mut *c)
        .await?;
    if let Some(report) = seen {
        return Ok(Received::Repeated(report as u64));
    }
    let existing: Option<ReportRow> = match &new.spec.external_ref {
        None => None,
        Some(ticket) => {
            D::query(format!("{REPORT_COLUMNS} WHERE integration = $1 AND external_ref = $2{}", D::LOCK))
                .bind(integration as i64)
                .bind(ticket.as_str())
                .fetch_optional(&mut *c)
                .await?
        }
    };
    let outcome = match existing {
        Some(row) => {
            let merged = merge(&ReportRecord::try_from(row)?);
            save_report::<D>(c, &merged, now).await?;
            Received::Updated(merged)
        }
        None => Received::Created(create::<D>(c, new, jobs, now).await?),
    };
    let report = match &outcome {
        Received::Created(r) | Received::Updated(r) => r.id,
        Received::Repeated(id) => *id,
    };
    let recorded = D::query(
        "INSERT INTO support_events (integration, event_id, report, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (integration, event_id) DO NOTHING",
    )
    .bind(integration as i64)
    .bind(event_id)
    .bind(report as i64)
    .bind(micros(now))
    .execute(c)
    .await?;
    if recorded == 0 {
        // Another request counted this event meanwhile: the caller rolls back.
        return Ok(Received::Repeated(report));
    }
    Ok(outcome)
}

/// Moves reports `ids` (locked after incident `incident`, when one is
/// named) as `decide` says, in the caller's transaction.
pub(crate) async fn change<D: Dialect>(
    c: &mut D::Connection,
    ids: &[u64],
    incident: Option<u64>,
    decide: &DecideReports<'_>,
    now: Timestamp,
) -> Result<(Vec<ReportRecord>, Vec<Event>)> {
    let state = match incident {
        None => None,
        Some(number) => Some(
            crate::incidents::lock_incident::<D>(c, number)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("there is no incident INC-{number}")))?,
        ),
    };
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut found = Vec::with_capacity(sorted.len());
    for id in &sorted {
        let row: Option<ReportRow> = D::query(format!("{REPORT_COLUMNS} WHERE id = $1{}", D::LOCK))
            .bind(*id as i64)
            .fetch_optional(&mut *c)
            .await?;
        let row = row.ok_or_else(|| StoreError::NotFound(format!("there is no customer report {id}")))?;
        found.push(ReportRecord::try_from(row)?);
    }
    // In the order asked.
    let current: Vec<ReportRecord> = ids.iter().filter_map(|id| found.iter().find(|r| r.id == *id).cloned()).collect();
    let decided = decide(state.as_ref(), &current)?;
    let mut events = Vec::new();
    if let Some((next, evs)) = &decided.incident {
        crate::incidents::save_incident::<D>(c, next, evs).await?;
        events.clone_from(evs);
    }
    for r in &decided.reports {
        save_report::<D>(c, r, now).await?;
    }
    for (report, body, responder) in &decided.responses {
        D::query("INSERT INTO customer_report_responses (report, body, responder, at) VALUES ($1, $2, $3, $4)")
            .bind(*report as i64)
            .bind(body.as_str())
            .bind(responder.as_str())
            .bind(micros(now))
            .execute(&mut *c)
            .await?;
    }
    crate::jobs::insert::<D>(c, &decided.jobs, now).await?;
    Ok((decided.reports, events))
}
