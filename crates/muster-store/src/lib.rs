//! Muster's storage. Only this crate knows SQL.
//!
//! # Layout
//!
//! - [`Store`]: the one trait the application layer uses, held as `Arc<dyn Store>`.
//! - [`sqlite::SqliteStore`]: the default, an embedded SQLite file in WAL mode.
//! - [`postgres::PgStore`]: PostgreSQL, for several instances on one database.
//! - One implementation of [`Store`] for both (`store.rs`), over plain
//!   generic functions that hold the SQL, once, in modules named for what
//!   they store: [`incidents`] (and the timeline), [`alerts`] (services,
//!   change events, ingest), [`pages`], [`jobs`] (the outbox),
//!   [`schedules`] (with policies, contact methods, notification rules),
//!   [`accounts`] (users, tokens, sessions, roles, settings) and
//!   [`gauges`]. They are generic over a small `Dialect` (`dialect.rs`):
//!   what the backends do differently (the row lock, `SKIP LOCKED`,
//!   `LISTEN`) and how a statement reaches sqlx.
//! - `migrations/sqlite` and `migrations/postgres`: one schema per backend,
//!   kept equal by `tests/schema.rs` (it migrates both and compares tables,
//!   columns, keys, indexes and triggers); `tests/conformance.rs` runs
//!   every store test on both.
//! - [`testing`]: fresh stores for tests (a temporary SQLite file, a
//!   PostgreSQL schema of its own).
//!
//! Incident changes go through [`Store::declare_incident`] and
//! [`Store::update_incident`]: the store locks the incident, hands its state
//! to a pure decision function from `muster-domain`, and writes the events
//! and the new state in one transaction. Concurrent commands on one incident
//! are therefore serialized, and each sees the effects of the one before.

use async_trait::async_trait;
use muster_domain::alert::{AlertRef, AlertStatus};
use muster_domain::{DomainError, Event, Handle, Incident, RequiredRoles, RoleCatalog, RoleDef, Timestamp};

pub mod accounts;
pub mod alerts;
pub mod backup;
pub mod bundles;
mod dialect;
mod followups;
pub mod gauges;
pub mod health;
pub mod incidents;
pub mod jobs;
pub mod maintenances;
pub mod pages;
pub mod postgres;
pub mod postmortems;
pub mod reports;
mod rows;
pub mod schedules;
pub mod sqlite;
pub mod stakeholders;
pub mod statuspage;
mod store;
pub mod testing;
pub mod updates;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// A unique thing (a handle, a role key) exists already.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// The database cannot be used now: it cannot be reached, did not
    /// answer in time, or cannot write. Trying again later may succeed
    /// (the API answers 503 with `Retry-After`).
    #[error("{0}")]
    Unavailable(Outage),
    #[error("database error: {0}")]
    Backend(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}

/// Why the database cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// No connection: refused, reset, closed, or none to be had.
    Unreachable,
    /// The database did not answer within the store's limits.
    TimedOut,
    /// The disk holding the database is full: nothing more can be written.
    DiskFull,
}

/// A database outage as one error saw it: its kind and the driver's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub kind: OutageKind,
    pub detail: String,
}

impl Outage {
    pub fn new(kind: OutageKind, detail: impl Into<String>) -> Self {
        Outage { kind, detail: detail.into() }
    }

    /// What people are told, without the driver's details: the reason and
    /// that trying again is the remedy.
    pub fn headline(&self) -> &'static str {
        match self.kind {
            OutageKind::Unreachable | OutageKind::TimedOut => "the database cannot be reached; retry",
            OutageKind::DiskFull => "the disk holding the database is full; retry once space is freed",
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            OutageKind::Unreachable => write!(f, "the database cannot be reached: {}", self.detail),
            OutageKind::TimedOut => write!(f, "the database cannot be reached (no answer in time): {}", self.detail),
            OutageKind::DiskFull => write!(f, "the disk holding the database is full: {}", self.detail),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// Sorts the driver's errors: those that say the database cannot be used
    /// now (so that retrying later is the remedy) become
    /// [`StoreError::Unavailable`]; the rest stay [`StoreError::Backend`].
    fn from(e: sqlx::Error) -> Self {
        match outage_of(&e) {
            Some(kind) => StoreError::Unavailable(Outage::new(kind, e.to_string())),
            None => StoreError::Backend(e),
        }
    }
}

/// Whether `e` means the database cannot be used now, and why.
fn outage_of(e: &sqlx::Error) -> Option<OutageKind> {
    use sqlx::Error as E;
    match e {
        E::Io(io) => Some(match io.kind() {
            std::io::ErrorKind::TimedOut => OutageKind::TimedOut,
            std::io::ErrorKind::StorageFull => OutageKind::DiskFull,
            _ => OutageKind::Unreachable,
        }),
        E::PoolTimedOut => Some(OutageKind::TimedOut),
        E::PoolClosed | E::WorkerCrashed | E::Tls(_) => Some(OutageKind::Unreachable),
        E::Database(d) => {
            let code = d.code()?;
            match d.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // SQLite's extended result codes carry the primary code in
                // their low byte.
                Some(_) => match code.parse::<i32>().ok()? & 0xff {
                    13 => Some(OutageKind::DiskFull),         // SQLITE_FULL
                    10 | 14 => Some(OutageKind::Unreachable), // SQLITE_IOERR, SQLITE_CANTOPEN
                    5 | 6 => Some(OutageKind::TimedOut),      // SQLITE_BUSY, SQLITE_LOCKED past busy_timeout
                    _ => None,
                },
                // PostgreSQL's SQLSTATE: connection exceptions (08), the
                // server shutting down or starting (57P01-57P03), out of
                // resources (53: disk full, memory, connections), a session
                // ended for idling in a transaction (25P03), a statement
                // cancelled by a timeout (57014).
                None => match code.as_ref() {
                    "53100" => Some(OutageKind::DiskFull),
                    "57014" => Some(OutageKind::TimedOut),
                    c if c.starts_with("08") || c.starts_with("53") => Some(OutageKind::Unreachable),
                    "57P01" | "57P02" | "57P03" | "25P03" => Some(OutageKind::Unreachable),
                    _ => None,
                },
            }
        }
        _ => None,
    }
}

/// Decides a command on an incident's current state: the new state and the
/// events that lead to it (see `muster_domain::Incident::execute`).
pub type Decide<'a> = dyn Fn(&Incident) -> Result<(Incident, Vec<Event>), DomainError> + Send + Sync + 'a;

/// Decides a command and the jobs it puts in the outbox, in one
/// transaction with its events.
pub type DecideWithJobs<'a> =
    dyn Fn(&Incident) -> Result<(Incident, Vec<Event>, Vec<NewJob>), DomainError> + Send + Sync + 'a;

/// Decides what a component's direct change writes besides itself: the
/// named incident's new state and events (given its state), and the jobs
/// that tell the subscribers.
pub type DecideComponent<'a> = dyn Fn(Option<&Incident>, &ComponentChange) -> Result<(Option<(Incident, Vec<Event>)>, Vec<NewJob>), DomainError>
    + Send
    + Sync
    + 'a;

/// Decides a declaration, given the number the store allots.
/// Decides a postmortem's write from the incident and the postmortem as it
/// is (none yet): the incident's new state and events, and the postmortem.
pub type DecidePostmortem<'a> = dyn Fn(&Incident, Option<&PostmortemRecord>) -> Result<(Incident, Vec<Event>, PostmortemRecord), DomainError>
    + Send
    + Sync
    + 'a;

pub type DecideDeclaration<'a> = dyn Fn(u64) -> Result<(Incident, Vec<Event>), DomainError> + Send + Sync + 'a;

/// Decides linking an alert to an incident, given the incident's state.
pub type DecideLink<'a> =
    dyn Fn(&Incident, &AlertRef) -> Result<(Incident, Vec<Event>), DomainError> + Send + Sync + 'a;

/// Decides the `page_sent` entry of a page on its incident, given the
/// page's id.
pub type DecidePage<'a> = dyn Fn(&Incident, u64) -> Result<(Incident, Vec<Event>), DomainError> + Send + Sync + 'a;

/// Decides a declaration for an alert, given the number the store allots.
pub type DecideAlertDeclaration<'a> =
    dyn Fn(u64, &AlertRef) -> Result<(Incident, Vec<Event>), DomainError> + Send + Sync + 'a;

pub use accounts::{NewToken, NewUser, Session, TokenRecord, User};
pub use alerts::{Alert, AlertFilter, ChangeEvent, IngestEvent, IngestOutcome, NewService, Service, ServicePatch};
pub use followups::{FollowUpFilter, FollowUpRecord};
pub use gauges::Gauges;
pub use incidents::{IncidentFilter, TimelineQuery};
pub use jobs::{ClaimedJob, JobFilter, JobRecord, JobState, JobStatus, NewJob};
pub use maintenances::{DecideMaintenance, MaintenanceMove, MaintenanceNotice, MaintenanceRecord, MaintenanceUpdate};
pub use pages::{Delivery, NewPage, PageFilter, PageMove, PageRecord};
pub use postmortems::PostmortemRecord;
pub use reports::{
    DecideReports, MergeReport, NewReport, NewSupportIntegration, Received, ReportFilter, ReportJobs, ReportMove,
    ReportRecord, ReportResponse, SupportIntegration,
};
pub use schedules::{ContactMethod, NewOverride, NewSchedule, NotificationRuleRecord, PolicyRecord, ScheduleRecord};
pub use stakeholders::{NewResponse, ResponseRecord, StakeholderWebhook, UpdateDelivery};
pub use statuspage::{ComponentChange, ComponentRecord, PublicIncident, SubscriberRecord};
pub use updates::{DecideEdit, DecideUpdate, UpdateRecord};

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and benchmarks.
    fn backend(&self) -> &'static str;

    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;

    /// Whether the database is usable, as this store last saw it: an
    /// outage found by one call makes the next ones fail at once (see
    /// [`health`]).
    fn health(&self) -> &health::Health;

    async fn create_user(&self, user: &NewUser, now: Timestamp) -> Result<User>;
    /// Creates the user with an email contact method to their address and
    /// the rule that uses it at once, in one transaction.
    async fn create_user_with_email_method(&self, user: &NewUser, now: Timestamp) -> Result<User>;
    /// Creates the user unless one with that handle exists; returns the stored one.
    async fn ensure_user(&self, user: &NewUser, now: Timestamp) -> Result<User>;
    async fn users(&self) -> Result<Vec<User>>;
    async fn user(&self, handle: &Handle) -> Result<Option<User>>;
    async fn user_count(&self) -> Result<u64>;
    /// Stores a new token (its hash); a conflict if the hash is stored already.
    async fn add_token(&self, token: &NewToken, now: Timestamp) -> Result<TokenRecord>;
    /// Makes `token` its user's one working token of its kind and name, in
    /// one transaction: the others are revoked, and it is stored or, if it
    /// was stored and revoked before, works again.
    async fn replace_token(&self, token: &NewToken, now: Timestamp) -> Result<TokenRecord>;
    /// A user's tokens that were not revoked, oldest first.
    async fn tokens(&self, user: &Handle) -> Result<Vec<TokenRecord>>;
    /// The token with this hash and its user, whatever its state.
    async fn token(&self, token_hash: &str) -> Result<Option<(TokenRecord, User)>>;
    /// Revokes a user's token; not found unless theirs and still working.
    async fn revoke_token(&self, user: &Handle, id: u64, now: Timestamp) -> Result<()>;
    /// Records when a token was last used.
    async fn touch_token(&self, id: u64, now: Timestamp) -> Result<()>;
    /// Disables a user, ends their sessions and revokes their tokens, in
    /// one transaction.
    async fn disable_user(&self, user: &Handle, now: Timestamp) -> Result<()>;

    async fn create_role(&self, role: &RoleDef, now: Timestamp) -> Result<()>;
    async fn role_catalog(&self) -> Result<RoleCatalog>;

    /// A stored setting (JSON text), `None` when never set.
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;

    async fn required_roles(&self) -> Result<RequiredRoles>;
    async fn set_required_roles(&self, required: &RequiredRoles) -> Result<()>;

    /// Allots the next incident number and writes the declaration's state
    /// and events, all in one transaction.
    async fn declare_incident(&self, decide: &DecideDeclaration<'_>) -> Result<(Incident, Vec<Event>)>;
    /// Locks incident `number`, decides on its current state and writes the
    /// new state and events in one transaction. No events, no write.
    async fn update_incident(&self, number: u64, decide: &Decide<'_>) -> Result<(Incident, Vec<Event>)>;
    /// [`Store::update_incident`], with the jobs `decide` gives put in the
    /// outbox in the same transaction.
    async fn update_incident_with_jobs(
        &self,
        number: u64,
        decide: &DecideWithJobs<'_>,
        now: Timestamp,
    ) -> Result<(Incident, Vec<Event>)>;
    async fn incident(&self, number: u64) -> Result<Option<Incident>>;
    /// The alerts first seen from `from` until before `to` (of one
    /// service when named): per service, and the noisiest keys.
    async fn alert_noise(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        service: Option<&str>,
    ) -> Result<alerts::AlertNoise>;
    /// The follow-ups across incidents that `filter` asks for.
    async fn follow_ups(&self, filter: &FollowUpFilter) -> Result<Vec<FollowUpRecord>>;
    /// The incident's postmortem, when one was drafted.
    async fn postmortem(&self, number: u64) -> Result<Option<PostmortemRecord>>;
    /// Locks incident `number`, reads its postmortem, and writes what
    /// `decide` gives — the incident's new state and events, and the
    /// postmortem — in one transaction.
    async fn write_postmortem(
        &self,
        number: u64,
        decide: &DecidePostmortem<'_>,
    ) -> Result<(Incident, Vec<Event>, PostmortemRecord)>;
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// A page of the timeline in time order; `None` if there is no such incident.
    async fn timeline(&self, number: u64, query: &TimelineQuery) -> Result<Option<Vec<Event>>>;
    /// Every event of an incident in `seq` order, as stored (for replay and
    /// verifying the hash chain).
    async fn events(&self, number: u64) -> Result<Vec<Event>>;
    /// The events of each incident named, in `seq` order, in few statements.
    async fn events_of(&self, numbers: &[u64]) -> Result<Vec<(u64, Vec<Event>)>>;
    /// Checks the incident's stored timeline: its hash chain, and its rows'
    /// columns against their content. `None`: no such incident.
    async fn verify_timeline(&self, number: u64) -> Result<Option<muster_domain::timeline::ChainCheck>>;
    /// The events recorded after `seq`, in `seq` order (for live views).
    async fn events_since(&self, number: u64, seq: u64, limit: u32) -> Result<Vec<Event>>;
    /// An incident's version (its last `seq`), cheaply; `None` if there is none.
    async fn incident_version(&self, number: u64) -> Result<Option<u64>>;

    /// Writes an update to incident `number` by `author`: a draft, or
    /// published at once when `publish` decides its timeline entry; in one
    /// transaction under the incident's lock.
    async fn write_update(
        &self,
        number: u64,
        content: &muster_domain::update::UpdateContent,
        author: &Handle,
        publish: Option<&DecideUpdate<'_>>,
        now: Timestamp,
    ) -> Result<(UpdateRecord, Vec<Event>)>;
    /// Publishes draft `id` of incident `number`; a published one is a conflict.
    async fn publish_update(
        &self,
        number: u64,
        id: u64,
        by: &Handle,
        decide: &DecideUpdate<'_>,
        now: Timestamp,
    ) -> Result<(UpdateRecord, Vec<Event>)>;
    /// Changes draft `id` of incident `number`; a published one is a conflict.
    async fn edit_update(&self, number: u64, id: u64, decide: &DecideEdit<'_>, now: Timestamp) -> Result<UpdateRecord>;
    /// Incident `number`'s updates, drafts too, oldest first.
    async fn updates(&self, number: u64) -> Result<Vec<UpdateRecord>>;
    /// The notifications that carried incident `number`'s published updates.
    async fn update_deliveries(&self, number: u64) -> Result<Vec<UpdateDelivery>>;
    /// Records a customer's response to update `update` of incident `number`.
    async fn add_update_response(
        &self,
        number: u64,
        update: u64,
        response: &NewResponse<'_>,
        now: Timestamp,
    ) -> Result<ResponseRecord>;
    /// The responses recorded on incident `number`'s updates, oldest first.
    async fn update_responses(&self, number: u64) -> Result<Vec<ResponseRecord>>;

    /// Writes a stakeholder group with its webhooks (URL, secret); a name
    /// taken is a conflict.
    async fn create_stakeholder_group(
        &self,
        spec: &muster_domain::stakeholder::GroupSpec,
        webhooks: &[(String, String)],
        now: Timestamp,
    ) -> Result<muster_domain::stakeholder::Group>;
    /// Every stakeholder group, by name.
    async fn stakeholder_groups(&self) -> Result<Vec<muster_domain::stakeholder::Group>>;
    async fn stakeholder_group(&self, id: u64) -> Result<Option<muster_domain::stakeholder::Group>>;
    /// Replaces group `id`'s spec, adds webhooks (URL, secret), removes the
    /// webhooks named.
    async fn change_stakeholder_group(
        &self,
        id: u64,
        spec: &muster_domain::stakeholder::GroupSpec,
        add: &[(String, String)],
        remove: &[u64],
        now: Timestamp,
    ) -> Result<muster_domain::stakeholder::Group>;
    /// Deletes group `id` and its webhooks; `false` if there is none.
    async fn delete_stakeholder_group(&self, id: u64) -> Result<bool>;
    /// A group's webhook with its secret (for delivery).
    async fn stakeholder_webhook(&self, id: u64) -> Result<Option<StakeholderWebhook>>;
    /// `person` follows incident `number`; `false` if they did already.
    async fn follow_incident(&self, number: u64, person: &Handle, now: Timestamp) -> Result<bool>;
    /// `person` stops following; `false` if they did not.
    async fn unfollow_incident(&self, number: u64, person: &Handle) -> Result<bool>;
    /// Incident `number`'s followers, with when each began.
    async fn followers(&self, number: u64) -> Result<Vec<(Handle, Timestamp)>>;

    /// The status page's components, in the page's order.
    async fn components(&self) -> Result<Vec<ComponentRecord>>;
    async fn component(&self, id: u64) -> Result<Option<ComponentRecord>>;
    /// A new component (operational); a name taken is a conflict.
    async fn create_component(
        &self,
        spec: &muster_domain::statuspage::ComponentSpec,
        now: Timestamp,
    ) -> Result<ComponentRecord>;
    async fn change_component(
        &self,
        id: u64,
        spec: &muster_domain::statuspage::ComponentSpec,
        now: Timestamp,
    ) -> Result<ComponentRecord>;
    /// Deletes a component and its history; `false` if there is none.
    async fn delete_component(&self, id: u64) -> Result<bool>;
    /// Puts component `id` in `status` directly, for incident `incident`
    /// when one is named (locked): the change recorded, and what `decide`
    /// makes of it written, in one transaction. `None` (nothing written)
    /// when the component was in that state already.
    async fn set_component_status(
        &self,
        id: u64,
        status: muster_domain::statuspage::ComponentStatus,
        incident: Option<u64>,
        decide: &DecideComponent<'_>,
        now: Timestamp,
    ) -> Result<Option<ComponentChange>>;
    /// Every component's state changes from `since` on, with the last one
    /// before it of each, oldest first.
    async fn component_changes_since(&self, since: Timestamp) -> Result<Vec<ComponentChange>>;
    /// The component changes incident `number`'s updates made.
    async fn incident_component_changes(&self, number: u64) -> Result<Vec<ComponentChange>>;
    /// What the status page shows of the incidents `numbers`, in one
    /// read: their states, the component changes they made and their
    /// published external updates (oldest first).
    async fn public_incident_parts(
        &self,
        numbers: &[u64],
    ) -> Result<(Vec<Incident>, Vec<ComponentChange>, Vec<UpdateRecord>)>;
    /// The incidents on the status page updated since `since`, newest first.
    async fn public_incidents(&self, since: Timestamp) -> Result<Vec<PublicIncident>>;
    async fn public_incident(&self, number: u64) -> Result<Option<PublicIncident>>;
    /// Adds a subscriber; one whose kind and address subscribed already is
    /// returned as it is, with `false`.
    async fn subscribe(&self, new: &SubscriberRecord) -> Result<(SubscriberRecord, bool)>;
    async fn subscriber(&self, id: u64) -> Result<Option<SubscriberRecord>>;
    async fn subscriber_by_token(&self, token: &str) -> Result<Option<SubscriberRecord>>;
    /// Every subscriber (only confirmed ones when `confirmed`), oldest first.
    async fn subscribers(&self, confirmed: bool) -> Result<Vec<SubscriberRecord>>;
    /// Confirms a subscriber; `false` if it was confirmed already or is gone.
    async fn confirm_subscriber(&self, id: u64, now: Timestamp) -> Result<bool>;
    async fn remove_subscriber(&self, id: u64) -> Result<bool>;
    /// Replaces the components a subscriber hears of (none: the whole page).
    async fn set_subscriber_components(&self, id: u64, components: &[u64]) -> Result<bool>;
    /// Announces a maintenance window, with the jobs `decide` gives, in one
    /// transaction.
    async fn create_maintenance(
        &self,
        spec: &muster_domain::maintenance::MaintenanceSpec,
        decide: &DecideMaintenance<'_>,
        now: Timestamp,
    ) -> Result<MaintenanceRecord>;
    /// The windows not completed and those that ended from `since` on, by
    /// their start.
    async fn maintenances(&self, since: Timestamp) -> Result<Vec<MaintenanceRecord>>;
    async fn maintenance(&self, id: u64) -> Result<Option<MaintenanceRecord>>;
    /// Moves a maintenance (its components follow) with the jobs `decide`
    /// gives, in one transaction; `None` when a timer found it moved past.
    async fn advance_maintenance(
        &self,
        id: u64,
        how: MaintenanceMove<'_>,
        decide: &DecideMaintenance<'_>,
        now: Timestamp,
    ) -> Result<Option<(MaintenanceRecord, Vec<ComponentChange>)>>;
    /// Sets an incident's public title or impact; `None` if it is not on the page.
    async fn edit_public_incident(
        &self,
        number: u64,
        title: Option<&str>,
        impact: Option<Option<muster_domain::statuspage::Impact>>,
        now: Timestamp,
    ) -> Result<Option<PublicIncident>>;

    async fn create_support_integration(
        &self,
        new: &NewSupportIntegration,
        now: Timestamp,
    ) -> Result<SupportIntegration>;
    async fn support_integrations(&self) -> Result<Vec<SupportIntegration>>;
    async fn support_integration(&self, id: u64) -> Result<Option<SupportIntegration>>;
    async fn support_integration_by_key(&self, key: &str) -> Result<Option<SupportIntegration>>;
    /// Logs a customer report with the jobs its due time needs.
    async fn create_report(&self, new: &NewReport, jobs: &ReportJobs<'_>, now: Timestamp) -> Result<ReportRecord>;
    /// A helpdesk's event, counted once by its id: a new report, or the
    /// ticket's report merged; nothing written when it was seen before.
    async fn receive_report(
        &self,
        new: &NewReport,
        event_id: &str,
        merge: &MergeReport<'_>,
        jobs: &ReportJobs<'_>,
        now: Timestamp,
    ) -> Result<Received>;
    async fn reports(&self, filter: &ReportFilter) -> Result<Vec<ReportRecord>>;
    async fn report(&self, id: u64) -> Result<Option<ReportRecord>>;
    async fn report_responses(&self, id: u64) -> Result<Vec<ReportResponse>>;
    /// Moves reports as `decide` says, under incident `incident`'s lock
    /// when one is named, with the incident's events and the jobs, in one
    /// transaction.
    async fn change_reports(
        &self,
        ids: &[u64],
        incident: Option<u64>,
        decide: &DecideReports<'_>,
        now: Timestamp,
    ) -> Result<(Vec<ReportRecord>, Vec<Event>)>;

    async fn create_service(&self, service: &NewService, now: Timestamp) -> Result<Service>;
    async fn services(&self) -> Result<Vec<Service>>;
    async fn service(&self, id: u64) -> Result<Option<Service>>;
    async fn service_by_key(&self, key: &str) -> Result<Option<Service>>;
    async fn update_service(&self, id: u64, patch: &ServicePatch) -> Result<Service>;

    /// Applies monitoring events in order, in one transaction: dedup,
    /// acknowledge, resolve, auto-declare, and the resulting timeline
    /// entries. Either all are durable when this returns, or none.
    async fn ingest(&self, batch: &[IngestEvent], now: Timestamp) -> Result<Vec<IngestOutcome>>;
    /// Records a change event; returns the incidents whose timeline shows it.
    async fn record_change(&self, change: &ChangeEvent, now: Timestamp) -> Result<Vec<u64>>;
    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>>;
    async fn alert(&self, id: u64) -> Result<Option<Alert>>;
    async fn alerts_of_incident(&self, number: u64) -> Result<Vec<Alert>>;
    /// Acknowledges or resolves an alert for a person; other moves change nothing.
    async fn set_alert_status(
        &self,
        id: u64,
        status: AlertStatus,
        actor: &muster_domain::Actor,
        now: Timestamp,
    ) -> Result<Alert>;
    async fn assess_alert(&self, id: u64, assessment: &serde_json::Value) -> Result<Alert>;
    async fn link_alert(&self, id: u64, number: u64, decide: &DecideLink<'_>) -> Result<(Incident, Vec<Event>)>;
    async fn declare_for_alert(&self, id: u64, decide: &DecideAlertDeclaration<'_>) -> Result<(Incident, Vec<Event>)>;

    async fn create_schedule(&self, schedule: &NewSchedule, now: Timestamp) -> Result<ScheduleRecord>;
    async fn schedules(&self) -> Result<Vec<ScheduleRecord>>;
    async fn schedule(&self, id: u64) -> Result<Option<ScheduleRecord>>;
    async fn add_override(&self, o: &NewOverride, now: Timestamp) -> Result<muster_domain::schedule::Override>;

    async fn create_policy(
        &self,
        policy: &muster_domain::paging::EscalationPolicy,
        now: Timestamp,
    ) -> Result<PolicyRecord>;
    async fn policies(&self) -> Result<Vec<PolicyRecord>>;
    async fn policy(&self, id: u64) -> Result<Option<PolicyRecord>>;

    async fn add_contact_method(
        &self,
        user: &Handle,
        kind: muster_domain::paging::ContactKind,
        address: &str,
        secret: Option<&str>,
        now: Timestamp,
    ) -> Result<ContactMethod>;
    async fn contact_methods(&self, user: &Handle) -> Result<Vec<ContactMethod>>;
    /// One contact method by id (with its secret: channels read it at delivery).
    async fn contact_method(&self, id: u64) -> Result<Option<ContactMethod>>;
    /// Removes one of `user`'s contact methods with the rules that use it,
    /// in one transaction; `false` if `user` has no method `id`.
    async fn remove_contact_method(&self, user: &Handle, id: u64) -> Result<bool>;

    /// Adds a job to the outbox; the same idempotency key twice is one job.
    async fn enqueue_job(&self, job: &NewJob, now: Timestamp) -> Result<u64>;
    /// Leases up to `limit` due jobs of `lane` until `lease_until`, the
    /// longest due first. On PostgreSQL `FOR UPDATE SKIP LOCKED`, so
    /// instances never claim the same job.
    async fn claim_jobs(
        &self,
        lane: muster_domain::outbox::Lane,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>>;
    /// Records a delivery: the job is never run again. `lease` is the
    /// `lease_until` of the claim: a worker whose lease ran out (and the job
    /// was claimed again) records nothing, and gets `false`.
    async fn finish_job(&self, id: u64, lease: Timestamp, now: Timestamp) -> Result<bool>;
    /// Records many deliveries (job, lease, when) in one transaction, as
    /// `finish_job` would each: whether each was recorded.
    async fn finish_jobs(&self, done: &[(u64, Timestamp, Timestamp)]) -> Result<Vec<bool>>;
    /// Puts a job back for another attempt at `due_at`, under the same lease rule.
    async fn retry_job(&self, id: u64, lease: Timestamp, due_at: Timestamp, error: &str) -> Result<bool>;
    /// Dead-letters a job (its last attempt failed, or it can never be
    /// delivered): kept with its error, never run again. Same lease rule.
    async fn bury_job(&self, id: u64, lease: Timestamp, now: Timestamp, error: &str) -> Result<bool>;
    /// Jobs newest first, for admins.
    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>>;
    /// When the next unfinished job of `lanes` is due (or its lease runs out).
    async fn next_job_due(&self, lanes: &[muster_domain::outbox::Lane]) -> Result<Option<Timestamp>>;
    /// Puts a job back for `due_at` without counting the attempt (its
    /// channel could not try yet), under the same lease rule.
    async fn put_back_job(&self, id: u64, lease: Timestamp, due_at: Timestamp, why: &str) -> Result<bool>;
    /// Rewrites a job's stored payload from `job` (which drops what older
    /// versions put there and no longer belongs: a copied secret).
    async fn rewrite_job(&self, id: u64, job: &muster_domain::outbox::Job) -> Result<()>;
    async fn job_status(&self, id: u64) -> Result<Option<JobStatus>>;
    /// Calls `wake` whenever another instance commits a job (PostgreSQL
    /// `LISTEN`), from a task of its own, until the process ends. Returns
    /// whether the backend can do that (SQLite has one instance).
    async fn listen_for_jobs(&self, wake: std::sync::Arc<dyn Fn() + Send + Sync>) -> Result<bool>;
    /// Calls `wake` with the incident's number whenever an instance commits
    /// timeline entries to it (PostgreSQL `LISTEN`; once per incident and
    /// transaction), like `listen_for_jobs`. `None` means "any incident may
    /// have changed" (the listener reconnected and may have missed some).
    async fn listen_for_incidents(&self, wake: std::sync::Arc<dyn Fn(Option<u64>) + Send + Sync>) -> Result<bool>;

    /// Stores `value` under `key` unless a value is there; returns the
    /// stored one (so instances starting together agree).
    async fn ensure_setting(&self, key: &str, value: &str) -> Result<String>;

    /// Writes a page, its first step's timer, and (with an incident) the
    /// `page_sent` entry `decide` makes, in one transaction.
    async fn create_page(
        &self,
        page: &NewPage,
        now: Timestamp,
        decide: &DecidePage<'_>,
    ) -> Result<(PageRecord, Vec<Event>)>;
    /// Moves a page if it is still open at `from_step`, with its incident
    /// entry and jobs, in one transaction; `None` if it had moved on.
    async fn move_page(&self, m: &PageMove, now: Timestamp) -> Result<Option<PageRecord>>;
    /// Makes many moves (each at its own time) in one transaction, in
    /// order, as `move_page` would each; an error in one fails them all
    /// (the caller may then move them one by one).
    async fn move_pages(&self, moves: &[(PageMove, Timestamp)]) -> Result<Vec<Option<PageRecord>>>;
    async fn page(&self, id: u64) -> Result<Option<PageRecord>>;
    async fn pages(&self, filter: &PageFilter) -> Result<Vec<PageRecord>>;
    /// How many pages `filter` selects, whatever its limit.
    async fn page_count(&self, filter: &PageFilter) -> Result<u64>;
    /// The notifications a page sent or is sending, in order.
    async fn deliveries(&self, page: u64) -> Result<Vec<Delivery>>;

    /// A bundle of folded pages (`bundles`), and its pages oldest first.
    async fn bundle(&self, id: u64) -> Result<Option<bundles::BundleRecord>>;
    async fn bundled_pages(&self, id: u64) -> Result<Vec<bundles::BundledPage>>;
    /// Sends a bundle's follow-up once, with the notifications `compose`
    /// makes of its pages, in one transaction; `None` if it was sent
    /// before. Returns how many pages it told of.
    async fn send_bundle(&self, id: u64, compose: &bundles::ComposeFollowUp<'_>, now: Timestamp)
    -> Result<Option<u64>>;

    async fn add_notification_rule(
        &self,
        user: &Handle,
        rule: &muster_domain::page::NotificationRule,
        now: Timestamp,
    ) -> Result<NotificationRuleRecord>;
    async fn notification_rules(&self, user: &Handle) -> Result<Vec<NotificationRuleRecord>>;
    /// Removes one of `user`'s rules; `false` if `user` has no rule `id`.
    async fn remove_notification_rule(&self, user: &Handle, id: u64) -> Result<bool>;

    /// Sets (or with `None` removes) a user's password hash (a PHC string),
    /// and ends the user's sessions.
    /// Sets or clears a user's time zone (an IANA name the caller checked).
    async fn set_time_zone(&self, user: &Handle, zone: Option<&str>) -> Result<()>;
    async fn set_password_hash(&self, user: &Handle, hash: Option<&str>) -> Result<()>;
    async fn password_hash(&self, user: &Handle) -> Result<Option<String>>;
    /// Stores a web session by the SHA-256 of its id.
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// The session with this id hash and its user, unless it expired.
    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<(Session, User)>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    /// Counts for `/metrics`.
    async fn gauges(&self) -> Result<Gauges>;
}

/// Opens the store a URL names: `sqlite://PATH` (or `sqlite::memory:`) or
/// `postgres://…`, and applies its migrations when `migrate` is set.
pub async fn open(url: &str, migrate: bool) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PgStore::connect(url).await?;
        if migrate {
            store.migrate().await?;
        }
        Ok(std::sync::Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::connect(url).await?;
        if migrate {
            store.migrate().await?;
        }
        Ok(std::sync::Arc::new(store))
    } else {
        Err(StoreError::Rejected(DomainError::invalid(
            "database",
            format!("{url:?} is neither a sqlite:// nor a postgres:// URL"),
        )))
    }
}
