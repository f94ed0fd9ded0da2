//! Services and alerts: the triage queue, assessment, declaring from an alert.

use muster_domain::access::{self, Action, Standing};
use muster_domain::alert::{AlertRef, AlertStatus, AutoDeclare, Impact, ImpactMatrix, IntegrationKey};
use muster_domain::incident::Context;
use muster_domain::intake;
use muster_domain::{Actor, DomainError, Handle, Incident, IncidentRef, Priority};
use muster_store::{Alert, NewService, Service, ServicePatch, StoreError};

use crate::incidents::no_incident;
use crate::{App, IncidentView, Result};

const IMPACT_MATRIX_KEY: &str = "impact_matrix";

/// A service's fields as given by a person.
pub struct ServiceInput {
    pub name: String,
    pub description: String,
    pub owner: Option<Handle>,
    pub auto_declare: AutoDeclare,
    pub escalation_policy: Option<u64>,
    /// The service's bundling window, when not the default.
    pub bundle_window_seconds: Option<u32>,
}

fn new_integration_key() -> IntegrationKey {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    IntegrationKey::from_bytes(bytes)
}

impl App {
    // Services.

    /// Creates a service. A responder who names no owner becomes its owner,
    /// so that someone may see its integration key besides admins.
    /// Makes a service; with it, warnings about what its auto-declared
    /// incidents will lack (an owner, an escalation policy).
    pub async fn create_service(&self, actor: &Actor, mut input: ServiceInput) -> Result<(Service, Vec<String>)> {
        access::check(actor, Action::CreateService, &Standing::none())?;
        if input.owner.is_none() && !actor.is_admin() {
            input.owner = Some(actor.handle.clone());
        }
        if let Some(owner) = &input.owner {
            self.member(owner, "owner").await?;
        }
        if let Some(p) = input.escalation_policy {
            self.policy_for_field(p).await?;
        }
        let warnings =
            muster_domain::intake::service_warnings(&input.auto_declare, input.owner.as_ref(), input.escalation_policy);
        let service = NewService {
            name: input.name,
            description: input.description,
            owner: input.owner,
            integration_key: new_integration_key(),
            auto_declare: input.auto_declare,
            escalation_policy: input.escalation_policy,
        };
        let made = self.store.create_service(&service, self.clock.now()).await?;
        let made = match input.bundle_window_seconds {
            Some(w) => {
                let patch = ServicePatch { bundle_window_seconds: Some(Some(w)), ..ServicePatch::default() };
                self.store.update_service(made.id, &patch).await?
            }
            None => made,
        };
        Ok((made, warnings))
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

    /// Whether `actor` may see `service`'s integration key: its owner and
    /// admins. Others see the service without it.
    pub fn shows_key(actor: &Actor, service: &Service) -> bool {
        access::may(actor, Action::SeeIntegrationKey, &Standing::service(service.id, service.owner.iter(), actor))
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
        let current = self.service(id).await?;
        access::check(actor, Action::ChangeService, &Standing::service(id, current.owner.iter(), actor))?;
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
            other => Ok(other?),
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
        access::check(actor, Action::TriageAlerts, &Standing::none())?;
        let alert = match self.store.set_alert_status(id, status, actor, self.clock.now()).await {
            Err(StoreError::NotFound(m)) => return Err(DomainError::not_found("id", m).into()),
            other => other?,
        };
        if let Some(number) = alert.incident {
            self.changes.changed(number);
        }
        Ok(alert)
    }

    pub async fn impact_matrix(&self) -> Result<ImpactMatrix> {
        match self.store.setting(IMPACT_MATRIX_KEY).await? {
            None => Ok(ImpactMatrix::default()),
            Some(v) => serde_json::from_str(&v).map_err(|e| crate::Error::Internal(format!("impact matrix: {e}"))),
        }
    }

    pub async fn set_impact_matrix(&self, actor: &Actor, matrix: ImpactMatrix) -> Result<ImpactMatrix> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        let json = serde_json::to_string(&matrix).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.set_setting(IMPACT_MATRIX_KEY, &json).await?;
        Ok(matrix)
    }

    /// Records the first responder's assessment and the priority it suggests.
    pub async fn assess(&self, actor: &Actor, id: u64, impact: Impact) -> Result<Alert> {
        access::check(actor, Action::TriageAlerts, &Standing::none())?;
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
            other => Ok(other?),
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
        access::check(actor, Action::TriageAlerts, &Standing::none())?;
        let alert = self.alert(id).await?;
        let assessed =
            alert.assessment.as_ref().and_then(|a| a["suggested_priority"].as_str()).and_then(|p| p.parse().ok());
        let incident_manager = match &incident_manager {
            Some(h) => self.member(h, "incident_manager").await?,
            None => actor.clone(),
        };
        let catalog = self.store.role_catalog().await?;
        let now = self.clock.now();
        let declaration =
            intake::declaration_from_alert(&alert.reference(), assessed, priority, title, incident_manager);
        let decide = |number, alert: &AlertRef| {
            let ctx = Context { actor, now, catalog: &catalog };
            let (state, mut events) = Incident::declare(number, declaration.clone(), ctx)?;
            let (state, more) = state.execute(intake::link_entry(alert), ctx)?;
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
        access::check(actor, Action::AddToTimeline, &Standing::none())?;
        self.alert(alert_id)
            .await
            .map_err(|_| DomainError::invalid("alert_id", format!("there is no alert {alert_id}")))?;
        let catalog = self.store.role_catalog().await?;
        let decide = |state: &Incident, alert: &AlertRef| {
            let ctx = Context { actor, now: self.clock.now(), catalog: &catalog };
            state.execute(intake::link_entry(alert), ctx)
        };
        let (incident, _) = match self.store.link_alert(alert_id, r.0, &decide).await {
            Err(StoreError::NotFound(_)) => return Err(no_incident(r).into()),
            other => other?,
        };
        self.changes.changed(r.0);
        self.view(incident).await
    }

    /// A change event (a deploy, a config push) from monitoring: it goes on
    /// the timeline of the service's open incidents, whose numbers it returns.
    pub async fn record_change(&self, change: &muster_store::ChangeEvent) -> Result<Vec<u64>> {
        let touched = self.store.record_change(change, self.clock.now()).await?;
        for number in &touched {
            self.changes.changed(*number);
        }
        Ok(touched)
    }
}
