//! The application layer: one function per use case. Each loads what the
//! command needs, lets the domain decide inside the store's transaction, and
//! returns domain values. No HTTP here, so the CLI-facing API, the web UI
//! and chat adapters can all call the same functions.

use std::sync::Arc;

use muster_domain::alert::{AlertRef, AlertStatus, AutoDeclare, Impact, ImpactMatrix, IntegrationKey, Severity};
use muster_domain::incident::{Context, Declaration};
use muster_domain::timeline::{EntryKind, MilestoneTag};
use muster_domain::{
    Actor, Assignment, Change, Command, DomainError, Event, Handle, Incident, IncidentRef, Permission, Priority,
    RequiredRoles, RoleCatalog, RoleDef, RoleKind, Status, Timestamp,
};
use muster_store::{
    Alert, IncidentFilter, NewService, NewUser, Service, ServicePatch, Store, StoreError, TimelineQuery, User,
};

use crate::auth;
use crate::ingest::{Ingestor, RateLimit};

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where time comes from; tests inject a fixed or stepping clock.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system clock, truncated to microseconds (what the databases keep).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub ingestor: Ingestor,
    /// Services by integration key, read on every ingested event.
    services_by_key: ServiceCache,
    pub engine: Arc<crate::engine::Engine>,
    pub pager: Arc<crate::paging::Pager>,
    /// Failed sign-ins, per account and per address.
    pub(crate) throttle: crate::signin::Throttle,
    /// Failed sign-ins and open live streams, for `/metrics`.
    pub sign_in_failures: std::sync::atomic::AtomicU64,
    pub live_streams: Arc<std::sync::atomic::AtomicI64>,
    /// At most a few password checks at once (argon2 is memory-hard).
    pub(crate) password_checks: tokio::sync::Semaphore,
    /// Woken when this instance committed a change to an incident (live views wait on it).
    pub changed: Arc<tokio::sync::Notify>,
    pub config: Config,
}

/// How a server runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub rate_limit: RateLimit,
    /// The address people's browsers reach this server at, for the links
    /// in notifications (`--public-url`).
    pub public_url: String,
    /// Where mail goes, e.g. `smtp://127.0.0.1:2525` (`MUSTER_SMTP_URL`).
    pub smtp_url: Option<String>,
    /// The sender of notification mail.
    pub mail_from: String,
    /// How long a job claimed by one instance is its own.
    pub job_lease: std::time::Duration,
    /// Run the delivery engine in the background. Tests that step a manual
    /// clock leave it off and call `engine.run_due()` themselves.
    pub run_engine: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate_limit: RateLimit::default(),
            public_url: "http://127.0.0.1:8080".into(),
            smtp_url: None,
            mail_from: "Muster <muster@localhost>".into(),
            job_lease: crate::engine::LEASE,
            run_engine: true,
        }
    }
}

/// How long a service looked up by integration key is trusted. A key rotated
/// on another instance stops working here after at most this long.
const SERVICE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
struct ServiceCache(std::sync::Mutex<std::collections::HashMap<String, (Service, std::time::Instant)>>);

impl ServiceCache {
    fn get(&self, key: &str) -> Option<Service> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(_, at)| at.elapsed() < SERVICE_CACHE_TTL).map(|(s, _)| s.clone())
    }

    fn put(&self, key: &str, service: &Service) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key.to_owned(), (service.clone(), std::time::Instant::now()));
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// An incident with what is derived from it at read time.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub incident: Incident,
    pub missing_roles: Vec<RoleKind>,
}

/// What a declaration asks for, parsed.
pub struct DeclareInput {
    pub title: String,
    pub summary: String,
    pub priority: Priority,
    pub incident_manager: Option<Handle>,
}

/// A timeline entry someone writes.
pub struct EntryInput {
    pub kind: EntryKind,
    pub text: String,
    pub tag: Option<MilestoneTag>,
    pub corrects: Option<u64>,
    pub occurred_at: Option<Timestamp>,
}

fn renamed(e: DomainError, field: &str) -> DomainError {
    match e {
        DomainError::Invalid { message, .. } => DomainError::invalid(field, message),
        other => other,
    }
}

impl App {
    /// Needs a Tokio runtime: it starts the ingest task.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self::with_rate_limit(store, clock, RateLimit::default())
    }

    pub fn with_rate_limit(store: Arc<dyn Store>, clock: Arc<dyn Clock>, limit: RateLimit) -> Self {
        Self::with_config(store, clock, Config { rate_limit: limit, ..Config::default() })
            .expect("the default configuration is valid")
    }

    /// Fails on a configuration that cannot work (an SMTP URL that does not
    /// parse).
    pub fn with_config(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> std::result::Result<Self, String> {
        let mailer =
            config.smtp_url.as_deref().map(|url| crate::engine::Mailer::new(url, &config.mail_from)).transpose()?;
        let pager = Arc::new(crate::paging::Pager::new(store.clone(), clock.clone(), &config.public_url));
        let engine = crate::engine::Engine::new(store.clone(), clock.clone(), pager.clone(), mailer, config.job_lease);
        let waker = engine.clone();
        let ingestor = Ingestor::spawn(store.clone(), clock.clone(), config.rate_limit, Arc::new(move || waker.wake()));
        if config.run_engine {
            engine.spawn();
        }
        // Live views wake on every instance's timeline commits, too.
        let changed = Arc::new(tokio::sync::Notify::new());
        let (listening, waker) = (store.clone(), changed.clone());
        tokio::spawn(async move {
            if let Err(e) = listening.listen_for_incidents(Arc::new(move || waker.notify_waiters())).await {
                tracing::warn!(error = %e, "cannot listen for other instances' incident changes; live views re-check every second");
            }
        });
        Ok(App {
            store,
            clock,
            ingestor,
            services_by_key: ServiceCache::default(),
            engine,
            pager,
            throttle: crate::signin::Throttle::default(),
            password_checks: tokio::sync::Semaphore::new(crate::signin::CONCURRENT_CHECKS),
            sign_in_failures: Default::default(),
            live_streams: Default::default(),
            changed,
            config,
        })
    }

    /// Makes sure an admin can sign in. With `token` (from
    /// `MUSTER_ADMIN_TOKEN`), user `admin` exists and that token works, on
    /// every start. Without it, a first start on an empty database creates
    /// `admin` with a fresh token and returns it, to be shown once.
    pub async fn bootstrap_admin(&self, token: Option<&str>) -> Result<Option<String>> {
        let admin = NewUser {
            handle: Handle::parse("admin")?,
            name: "Administrator".into(),
            email: "admin@localhost".into(),
            permission: Permission::Admin,
        };
        let now = self.clock.now();
        match token {
            Some(token) => {
                let user = self.store.ensure_user(&admin, now).await?;
                self.store.add_token(&user.handle, &auth::hash_token(token), now).await?;
                Ok(None)
            }
            None if self.store.user_count().await? == 0 => {
                let user = self.store.ensure_user(&admin, now).await?;
                let token = auth::new_token();
                self.store.add_token(&user.handle, &auth::hash_token(&token), now).await?;
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    // Users.

    pub async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User> {
        actor.require_admin()?;
        if user.handle.as_str() == muster_store::alerts::SYSTEM {
            return Err(DomainError::invalid("handle", "@muster is reserved for Muster itself").into());
        }
        self.store.create_user(&user, self.clock.now()).await
    }

    pub async fn user(&self, handle: &Handle) -> Result<User> {
        self.store
            .user(handle)
            .await?
            .ok_or_else(|| DomainError::not_found("handle", format!("there is no user @{handle}")).into())
    }

    /// A new API token for `handle`: admins for anyone, users for themselves.
    pub async fn issue_token(&self, actor: &Actor, handle: &Handle) -> Result<String> {
        if &actor.handle != handle {
            actor.require_admin().map_err(|_| {
                DomainError::Forbidden(format!(
                    "@{} may only create tokens for themself, not for @{handle}",
                    actor.handle
                ))
            })?;
        }
        self.user(handle).await?;
        let token = auth::new_token();
        self.store.add_token(handle, &auth::hash_token(&token), self.clock.now()).await?;
        Ok(token)
    }

    /// The user named in `field` as someone to hold a role.
    async fn member(&self, handle: &Handle, field: &str) -> Result<Actor> {
        match self.store.user(handle).await? {
            Some(u) => Ok(u.actor()),
            None => Err(DomainError::invalid(field, format!("there is no user @{handle}")).into()),
        }
    }

    // Roles and required roles.

    pub async fn create_role(&self, actor: &Actor, role: RoleDef) -> Result<RoleDef> {
        actor.require_admin()?;
        self.store.create_role(&role, self.clock.now()).await?;
        Ok(role)
    }

    pub async fn role_catalog(&self) -> Result<RoleCatalog> {
        self.store.role_catalog().await
    }

    pub async fn required_roles(&self) -> Result<RequiredRoles> {
        self.store.required_roles().await
    }

    pub async fn set_required_roles(&self, actor: &Actor, required: RequiredRoles) -> Result<RequiredRoles> {
        actor.require_admin()?;
        self.store.set_required_roles(&required).await?;
        Ok(required)
    }

    // Incidents.

    async fn view(&self, incident: Incident) -> Result<IncidentView> {
        let required = self.store.required_roles().await?;
        let missing_roles = incident.missing_roles(&required);
        Ok(IncidentView { incident, missing_roles })
    }

    #[tracing::instrument(name = "incident.declare", skip_all, fields(user.handle = %actor.handle))]
    pub async fn declare(&self, actor: &Actor, input: DeclareInput) -> Result<IncidentView> {
        actor.require_write()?;
        let incident_manager = match &input.incident_manager {
            Some(h) => self.member(h, "incident_manager").await?,
            None => actor.clone(),
        };
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let decide = |number| {
            let declaration = Declaration {
                title: input.title.clone(),
                summary: input.summary.clone(),
                priority: input.priority,
                incident_manager: incident_manager.clone(),
            };
            Incident::declare(number, declaration, Context { actor, now, catalog: &catalog })
        };
        let (incident, _) = self.store.declare_incident(&decide).await?;
        tracing::info!(incident.r#ref = %incident.reference(), "declared");
        self.view(incident).await
    }

    pub async fn incident(&self, r: IncidentRef) -> Result<IncidentView> {
        let incident = self.store.incident(r.0).await?.ok_or_else(|| no_incident(r))?;
        self.view(incident).await
    }

    pub async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentView>> {
        let required = self.store.required_roles().await?;
        let found = self.store.incidents(filter).await?;
        Ok(found
            .into_iter()
            .map(|incident| IncidentView { missing_roles: incident.missing_roles(&required), incident })
            .collect())
    }

    /// Runs one command on an incident, in the store's transaction.
    #[tracing::instrument(name = "incident.command", skip_all, fields(incident.r#ref = %r, user.handle = %actor.handle))]
    async fn execute(&self, actor: &Actor, r: IncidentRef, command: Command) -> Result<(Incident, Vec<Event>)> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        // The time is read inside the store's lock, so that commands queued
        // behind one another get times in the order they are applied.
        let decide = |state: &Incident| {
            state.execute(command.clone(), Context { actor, now: self.clock.now(), catalog: &catalog })
        };
        let done = match self.store.update_incident(r.0, &decide).await {
            Err(StoreError::NotFound(_)) => Err(no_incident(r).into()),
            other => other,
        };
        if done.as_ref().is_ok_and(|(_, events)| !events.is_empty()) {
            self.changed.notify_waiters();
        }
        done
    }

    pub async fn update(
        &self,
        actor: &Actor,
        r: IncidentRef,
        title: Option<String>,
        summary: Option<String>,
        priority: Option<Priority>,
        status: Option<Status>,
    ) -> Result<IncidentView> {
        let (incident, _) = self.execute(actor, r, Command::Update { title, summary, priority, status }).await?;
        self.view(incident).await
    }

    /// Assigns `role` (a key from the catalog) to `user`; returns the new assignment.
    pub async fn assign(
        &self,
        actor: &Actor,
        r: IncidentRef,
        role: &str,
        user: &Handle,
        scope: Option<&str>,
    ) -> Result<Assignment> {
        actor.require_write()?;
        let catalog = self.store.role_catalog().await?;
        let role = catalog.parse(role, "role")?;
        let scope = catalog.parse_scope(&role, scope)?;
        let member = self.member(user, "user").await?;
        let (_, events) = self.execute(actor, r, Command::Assign { role, user: member, scope }).await?;
        events
            .into_iter()
            .rev()
            .find_map(|e| match e.change {
                Change::RoleAssigned { assignment, .. } if &assignment.user == user => Some(assignment),
                _ => None,
            })
            .ok_or_else(|| StoreError::Corrupt("an assignment made no role_assigned event".into()))
    }

    pub async fn relieve(&self, actor: &Actor, r: IncidentRef, assignment: u64) -> Result<()> {
        self.execute(actor, r, Command::Relieve { assignment }).await.map(|_| ())
    }

    pub async fn add_entry(&self, actor: &Actor, r: IncidentRef, e: EntryInput) -> Result<Event> {
        let command = Command::AddEntry {
            kind: e.kind,
            text: e.text,
            tag: e.tag,
            corrects: e.corrects,
            occurred_at: e.occurred_at,
        };
        let (_, events) = self.execute(actor, r, command).await?;
        events
            .into_iter()
            .find(|e| matches!(e.change, Change::Entry { .. }))
            .ok_or_else(|| StoreError::Corrupt("an entry made no event".into()))
    }

    pub async fn timeline(&self, r: IncidentRef, query: &TimelineQuery) -> Result<Vec<Event>> {
        self.store.timeline(r.0, query).await?.ok_or_else(|| no_incident(r).into())
    }
}

fn no_incident(r: IncidentRef) -> DomainError {
    DomainError::not_found("ref", format!("there is no incident {r}"))
}

pub(crate) fn parse_handle(s: &str, field: &str) -> std::result::Result<Handle, DomainError> {
    Handle::parse(s).map_err(|e| renamed(e, field))
}

const IMPACT_MATRIX_KEY: &str = "impact_matrix";

/// A service's fields as given by a person.
pub struct ServiceInput {
    pub name: String,
    pub description: String,
    pub owner: Option<Handle>,
    pub auto_declare: AutoDeclare,
    pub escalation_policy: Option<u64>,
}

fn new_integration_key() -> IntegrationKey {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    IntegrationKey::from_bytes(bytes)
}

/// The priority an alert suggests before anyone assessed it.
pub fn priority_for_severity(s: Severity) -> Priority {
    match s {
        Severity::Critical => Priority::P1,
        Severity::Error => Priority::P2,
        Severity::Warning => Priority::P3,
        Severity::Info => Priority::P4,
    }
}

impl App {
    // Services.

    pub async fn create_service(&self, actor: &Actor, input: ServiceInput) -> Result<Service> {
        actor.require_write()?;
        if let Some(owner) = &input.owner {
            self.member(owner, "owner").await?;
        }
        if let Some(p) = input.escalation_policy {
            self.policy_for_field(p).await?;
        }
        let service = NewService {
            name: input.name,
            description: input.description,
            owner: input.owner,
            integration_key: new_integration_key(),
            auto_declare: input.auto_declare,
            escalation_policy: input.escalation_policy,
        };
        self.store.create_service(&service, self.clock.now()).await
    }

    /// The service an integration key belongs to (cached briefly: this is on
    /// the path of every ingested event).
    pub async fn service_by_key(&self, key: &str) -> Result<Option<Service>> {
        if let Some(s) = self.services_by_key.get(key) {
            return Ok(Some(s));
        }
        let found = self.store.service_by_key(key).await?;
        if let Some(s) = &found {
            self.services_by_key.put(key, s);
        }
        Ok(found)
    }

    pub async fn service(&self, id: u64) -> Result<Service> {
        self.store
            .service(id)
            .await?
            .ok_or_else(|| DomainError::not_found("id", format!("there is no service {id}")).into())
    }

    pub async fn update_service(
        &self,
        actor: &Actor,
        id: u64,
        mut patch: ServicePatch,
        rotate_key: bool,
    ) -> Result<Service> {
        actor.require_write()?;
        if let Some(Some(owner)) = &patch.owner {
            self.member(owner, "owner").await?;
        }
        if let Some(Some(p)) = patch.escalation_policy {
            self.policy_for_field(p).await?;
        }
        if rotate_key {
            patch.integration_key = Some(new_integration_key());
        }
        let updated = match self.store.update_service(id, &patch).await {
            Err(StoreError::NotFound(m)) => Err(DomainError::not_found("id", m).into()),
            other => other,
        };
        self.services_by_key.clear();
        updated
    }

    // Alerts.

    pub async fn alert(&self, id: u64) -> Result<Alert> {
        self.store
            .alert(id)
            .await?
            .ok_or_else(|| DomainError::not_found("id", format!("there is no alert {id}")).into())
    }

    pub async fn set_alert_status(&self, actor: &Actor, id: u64, status: AlertStatus) -> Result<Alert> {
        actor.require_write()?;
        match self.store.set_alert_status(id, status, actor, self.clock.now()).await {
            Err(StoreError::NotFound(m)) => Err(DomainError::not_found("id", m).into()),
            other => other,
        }
    }

    pub async fn impact_matrix(&self) -> Result<ImpactMatrix> {
        match self.store.setting(IMPACT_MATRIX_KEY).await? {
            None => Ok(ImpactMatrix::default()),
            Some(v) => serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(format!("impact matrix: {e}"))),
        }
    }

    pub async fn set_impact_matrix(&self, actor: &Actor, matrix: ImpactMatrix) -> Result<ImpactMatrix> {
        actor.require_admin()?;
        let json = serde_json::to_string(&matrix).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.set_setting(IMPACT_MATRIX_KEY, &json).await?;
        Ok(matrix)
    }

    /// Records the first responder's assessment and the priority it suggests.
    pub async fn assess(&self, actor: &Actor, id: u64, impact: Impact) -> Result<Alert> {
        actor.require_write()?;
        let suggested = self.impact_matrix().await?.suggest(&impact);
        let assessment = serde_json::json!({
            "customer_impact": impact.customer_impact,
            "services_affected": impact.services_affected,
            "data_loss": impact.data_loss,
            "security": impact.security,
            "suggested_priority": suggested.as_str(),
            "assessed_by": actor.handle.as_str(),
            "assessed_at": self.clock.now().to_string(),
        });
        match self.store.assess_alert(id, &assessment).await {
            Err(StoreError::NotFound(m)) => Err(DomainError::not_found("id", m).into()),
            other => other,
        }
    }

    /// Declares an incident from an alert: the caller is first responder;
    /// the priority defaults to the assessment's suggestion, else the severity's.
    pub async fn declare_from_alert(
        &self,
        actor: &Actor,
        id: u64,
        priority: Option<Priority>,
        title: Option<String>,
        incident_manager: Option<Handle>,
    ) -> Result<IncidentView> {
        actor.require_write()?;
        let alert = self.alert(id).await?;
        let suggested = alert
            .assessment
            .as_ref()
            .and_then(|a| a["suggested_priority"].as_str())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| priority_for_severity(alert.severity));
        let incident_manager = match &incident_manager {
            Some(h) => self.member(h, "incident_manager").await?,
            None => actor.clone(),
        };
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let declaration = Declaration {
            title: title.unwrap_or_else(|| alert.summary.chars().take(200).collect()),
            summary: format!("Declared from alert {} on {}.", alert.id, alert.service_name),
            priority: priority.unwrap_or(suggested),
            incident_manager,
        };
        let decide = |number, alert: &AlertRef| {
            let ctx = Context { actor, now, catalog: &catalog };
            let (state, mut events) = Incident::declare(number, declaration.clone(), ctx)?;
            let (state, more) = state.execute(Command::LinkAlert { alert: alert.clone(), retriggered: false }, ctx)?;
            events.extend(more);
            Ok((state, events))
        };
        let (incident, _) = match self.store.declare_for_alert(id, &decide).await {
            Err(StoreError::NotFound(m)) => return Err(DomainError::not_found("id", m).into()),
            other => other?,
        };
        self.view(incident).await
    }

    pub async fn link_alert(&self, actor: &Actor, r: IncidentRef, alert_id: u64) -> Result<IncidentView> {
        actor.require_write()?;
        self.alert(alert_id)
            .await
            .map_err(|_| DomainError::invalid("alert_id", format!("there is no alert {alert_id}")))?;
        let catalog = self.store.role_catalog().await?;
        let decide = |state: &Incident, alert: &AlertRef| {
            let ctx = Context { actor, now: self.clock.now(), catalog: &catalog };
            state.execute(Command::LinkAlert { alert: alert.clone(), retriggered: false }, ctx)
        };
        let (incident, _) = match self.store.link_alert(alert_id, r.0, &decide).await {
            Err(StoreError::NotFound(_)) => return Err(no_incident(r).into()),
            other => other?,
        };
        self.view(incident).await
    }
}

/// Shifts further ahead than this are not computed in one request.
pub const MAX_SHIFT_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 366);

impl App {
    // Schedules.

    pub async fn create_schedule(
        &self,
        actor: &Actor,
        name: String,
        time_zone: String,
        layers: Vec<muster_domain::schedule::Layer>,
    ) -> Result<muster_store::ScheduleRecord> {
        actor.require_write()?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::invalid("name", "a schedule name has 1-100 characters").into());
        }
        muster_domain::schedule::time_zone(&time_zone)?;
        if layers.is_empty() {
            return Err(DomainError::invalid("layers", "a schedule needs at least one layer").into());
        }
        for (i, layer) in layers.iter().enumerate() {
            if layer.rotation.users.is_empty() {
                return Err(
                    DomainError::invalid(format!("layers[{i}].rotation.users"), "a rotation needs someone").into()
                );
            }
            for (j, user) in layer.rotation.users.iter().enumerate() {
                self.member(user, &format!("layers[{i}].rotation.users[{j}]")).await?;
            }
        }
        let schedule = muster_store::NewSchedule { name, time_zone: time_zone.trim().to_owned(), layers };
        self.store.create_schedule(&schedule, self.clock.now()).await
    }

    pub async fn schedule(&self, id: u64) -> Result<muster_store::ScheduleRecord> {
        self.store
            .schedule(id)
            .await?
            .ok_or_else(|| DomainError::not_found("id", format!("there is no schedule {id}")).into())
    }

    pub async fn add_override(
        &self,
        actor: &Actor,
        schedule: u64,
        user: Handle,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<muster_domain::schedule::Override> {
        actor.require_write()?;
        self.schedule(schedule).await?;
        self.member(&user, "user").await?;
        if end <= start {
            return Err(DomainError::invalid("end", "an override ends after it starts").into());
        }
        let o = muster_store::NewOverride { schedule, user, start, end, created_by: actor.handle.clone() };
        self.store.add_override(&o, self.clock.now()).await
    }

    /// Shifts of one schedule between two instants (at most a year apart).
    pub async fn shifts(
        &self,
        id: u64,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(muster_store::ScheduleRecord, Vec<muster_domain::schedule::Shift>)> {
        if to <= from || to.duration_since(from) > MAX_SHIFT_SPAN {
            return Err(DomainError::invalid("to", "give a `to` after `from`, at most 366 days later").into());
        }
        let record = self.schedule(id).await?;
        let shifts = record.schedule()?.shifts(from, to);
        Ok((record, shifts))
    }
}

impl App {
    // Escalation policies.

    pub async fn create_policy(
        &self,
        actor: &Actor,
        policy: muster_domain::paging::EscalationPolicy,
    ) -> Result<muster_store::PolicyRecord> {
        actor.require_write()?;
        for (i, step) in policy.steps.iter().enumerate() {
            for (j, target) in step.targets.iter().enumerate() {
                let field = format!("steps[{i}].targets[{j}]");
                match target {
                    muster_domain::paging::Target::User(h) => {
                        self.member(h, &field).await?;
                    }
                    muster_domain::paging::Target::Schedule(id) => {
                        if self.store.schedule(*id).await?.is_none() {
                            return Err(DomainError::invalid(field, format!("there is no schedule {id}")).into());
                        }
                    }
                }
            }
        }
        self.store.create_policy(&policy, self.clock.now()).await
    }

    pub async fn policy(&self, id: u64) -> Result<muster_store::PolicyRecord> {
        self.store
            .policy(id)
            .await?
            .ok_or_else(|| DomainError::not_found("id", format!("there is no escalation policy {id}")).into())
    }

    /// An escalation policy named in a service's `escalation_policy` field.
    async fn policy_for_field(&self, id: u64) -> Result<()> {
        match self.store.policy(id).await? {
            Some(_) => Ok(()),
            None => {
                Err(DomainError::invalid("escalation_policy", format!("there is no escalation policy {id}")).into())
            }
        }
    }
}

impl App {
    // Contact methods.

    /// Adds a way to reach `user` (the user themself or an admin). A
    /// webhook gets a signing secret, returned here only.
    pub async fn add_contact_method(
        &self,
        actor: &Actor,
        user: &Handle,
        kind: muster_domain::paging::ContactKind,
        address: &str,
    ) -> Result<muster_store::ContactMethod> {
        actor.require_write()?;
        if &actor.handle != user {
            actor.require_admin().map_err(|_| {
                DomainError::Forbidden(format!(
                    "@{} may only add contact methods for themself, not for @{user}",
                    actor.handle
                ))
            })?;
        }
        self.user(user).await?;
        let address = muster_domain::paging::contact_address(kind, address)?;
        let secret = (kind == muster_domain::paging::ContactKind::Webhook).then(|| {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            format!("whsec_{}", hex::encode(bytes))
        });
        self.store.add_contact_method(user, kind, &address, secret.as_deref(), self.clock.now()).await
    }
}

impl App {
    /// Sends a test notification through a contact method: a job in the
    /// outbox, delivered by the engine. Returns the job's id.
    pub async fn test_notification(&self, actor: &Actor, user: &Handle, method: u64) -> Result<u64> {
        actor.require_write()?;
        if &actor.handle != user {
            actor.require_admin().map_err(|_| {
                DomainError::Forbidden(format!("@{} may only test their own contact methods", actor.handle))
            })?;
        }
        let methods = self.store.contact_methods(user).await?;
        let Some(m) = methods.into_iter().find(|m| m.id == method) else {
            return Err(DomainError::not_found("id", format!("@{user} has no contact method {method}")).into());
        };
        let now = self.clock.now();
        let mut key = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        let summary = format!("Test notification for @{user} from Muster");
        let payload = match m.kind {
            muster_domain::paging::ContactKind::Webhook => serde_json::json!({
                "to": m.address,
                "url": m.address,
                "secret": m.secret,
                "body": {"type": "test", "user": user.as_str(), "contact_method": m.id,
                         "summary": summary, "sent_at": now.to_string()},
            }),
            muster_domain::paging::ContactKind::Email => serde_json::json!({
                "to": m.address,
                "subject": format!("[Muster] {summary}"),
                "text": format!("{summary}: this contact method works.\n"),
            }),
        };
        let job = muster_store::NewJob {
            kind: m.kind.as_str().into(),
            payload,
            idempotency_key: format!("test-{}", hex::encode(key)),
            due_at: crate::engine::immediately(now),
            page: None,
        };
        let id = self.store.enqueue_job(&job, now).await?;
        self.engine.wake();
        Ok(id)
    }
}
