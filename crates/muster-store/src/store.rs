//! The one `Store` implementation, for both backends: each method takes a
//! connection from the pool it reads or writes with (SQLite has a
//! one-connection write pool and a read pool, PostgreSQL one pool for
//! both), or begins a transaction on the write pool, and calls the plain
//! generic function that holds its SQL (see [`crate::dialect`] for why they
//! are generic over a [`Dialect`] and not over sqlx's traits).
//!
//! A connection taken for one call is returned at the end of that
//! statement (`&mut *self.read.acquire().await?`), as sqlx's pool executor
//! would: no method holds two at once.

use std::sync::Arc;

use crate::dialect::Dialect;
use crate::health::{Guarded, Health};
use crate::{
    Alert, AlertFilter, ChangeEvent, Decide, DecideAlertDeclaration, DecideDeclaration, DecideLink, IncidentFilter,
    IngestEvent, IngestOutcome, NewService, NewToken, NewUser, Result, Service, ServicePatch, Store, TimelineQuery,
    TokenRecord, User,
};
use muster_domain::alert::AlertStatus;
use muster_domain::{Actor, Event, Handle, Incident, RequiredRoles, RoleCatalog, RoleDef, Timestamp};

/// A store on backend `D`: [`crate::sqlite::SqliteStore`] or
/// [`crate::postgres::PgStore`].
pub struct Db<D: sqlx::Database> {
    /// Where writes (and every transaction) go.
    pub(crate) write: Guarded<D>,
    /// Where reads go; on PostgreSQL the same pool.
    pub(crate) read: Guarded<D>,
    pub(crate) health: Arc<Health>,
    /// PostgreSQL's heartbeat, stopped with the store.
    pub(crate) _heartbeat: Option<Abort>,
}

/// Aborts a task when dropped.
pub(crate) struct Abort(pub(crate) tokio::task::AbortHandle);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait::async_trait]
impl<D: Dialect> Store for Db<D> {
    fn backend(&self) -> &'static str {
        D::BACKEND
    }

    async fn ping(&self) -> Result<()> {
        D::query("SELECT 1").execute(&mut *self.read.acquire().await?).await?;
        // An outage found by a write (SQLite's full disk) is ended by the
        // next commit: while one lasts, the ping writes too, and removes
        // what it wrote, so that `/healthz` sees space return without
        // waiting for traffic.
        if !self.health.probed() && self.health.down().is_some() {
            const KEY: &str = "muster.write_probe";
            let mut tx = self.write.begin().await?;
            crate::accounts::set_setting::<D>(&mut tx, KEY, "true").await?;
            D::query("DELETE FROM settings WHERE key = $1").bind(KEY).execute(&mut tx).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    fn health(&self) -> &Health {
        &self.health
    }

    async fn create_user(&self, u: &NewUser, now: Timestamp) -> Result<User> {
        crate::accounts::create_user::<D>(&mut *self.write.acquire().await?, u, now).await?;
        crate::accounts::stored_user(&u.handle, self.user(&u.handle).await?)
    }

    async fn create_user_with_email_method(&self, u: &NewUser, now: Timestamp) -> Result<User> {
        let mut tx = self.write.begin().await?;
        crate::accounts::create_user::<D>(&mut tx, u, now).await?;
        let kind = muster_domain::paging::ContactKind::Email;
        let method = crate::schedules::add_contact_method::<D>(&mut tx, &u.handle, kind, &u.email, None, now).await?;
        let rule = muster_domain::page::NotificationRule { contact_method: method.id, delay_seconds: 0 };
        crate::schedules::add_notification_rule::<D>(&mut tx, &u.handle, &rule, now).await?;
        tx.commit().await?;
        crate::accounts::stored_user(&u.handle, self.user(&u.handle).await?)
    }

    async fn ensure_user(&self, u: &NewUser, now: Timestamp) -> Result<User> {
        crate::accounts::ensure_user::<D>(&mut *self.write.acquire().await?, u, now).await?;
        crate::accounts::stored_user(&u.handle, self.user(&u.handle).await?)
    }

    async fn users(&self) -> Result<Vec<User>> {
        crate::accounts::users::<D>(&mut *self.read.acquire().await?).await
    }

    async fn user(&self, handle: &Handle) -> Result<Option<User>> {
        crate::accounts::user::<D>(&mut *self.read.acquire().await?, handle).await
    }

    async fn user_count(&self) -> Result<u64> {
        crate::accounts::user_count::<D>(&mut *self.read.acquire().await?).await
    }

    async fn add_token(&self, token: &NewToken, now: Timestamp) -> Result<TokenRecord> {
        crate::accounts::add_token::<D>(&mut *self.write.acquire().await?, token, now).await
    }

    async fn replace_token(&self, token: &NewToken, now: Timestamp) -> Result<TokenRecord> {
        let mut tx = self.write.begin().await?;
        let stored = crate::accounts::replace_token::<D>(&mut tx, token, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn tokens(&self, user: &Handle) -> Result<Vec<TokenRecord>> {
        crate::accounts::tokens::<D>(&mut *self.read.acquire().await?, user).await
    }

    async fn token(&self, token_hash: &str) -> Result<Option<(TokenRecord, User)>> {
        crate::accounts::token::<D>(&mut *self.read.acquire().await?, token_hash).await
    }

    async fn revoke_token(&self, user: &Handle, id: u64, now: Timestamp) -> Result<()> {
        crate::accounts::revoke_token::<D>(&mut *self.write.acquire().await?, user, id, now).await
    }

    async fn touch_token(&self, id: u64, now: Timestamp) -> Result<()> {
        crate::accounts::touch_token::<D>(&mut *self.write.acquire().await?, id, now).await
    }

    async fn disable_user(&self, user: &Handle, now: Timestamp) -> Result<()> {
        let mut tx = self.write.begin().await?;
        crate::accounts::disable_user::<D>(&mut tx, user, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_role(&self, role: &RoleDef, now: Timestamp) -> Result<()> {
        crate::accounts::create_role::<D>(&mut *self.write.acquire().await?, role, now).await
    }

    async fn role_catalog(&self) -> Result<RoleCatalog> {
        crate::accounts::role_catalog::<D>(&mut *self.read.acquire().await?).await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        crate::accounts::setting::<D>(&mut *self.read.acquire().await?, key).await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        crate::accounts::set_setting::<D>(&mut *self.write.acquire().await?, key, value).await
    }

    async fn required_roles(&self) -> Result<RequiredRoles> {
        crate::accounts::required_roles::<D>(&mut *self.read.acquire().await?).await
    }

    async fn set_required_roles(&self, required: &RequiredRoles) -> Result<()> {
        crate::accounts::set_required_roles::<D>(&mut *self.write.acquire().await?, required).await
    }

    async fn declare_incident(&self, decide: &DecideDeclaration<'_>) -> Result<(Incident, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::incidents::declare::<D>(&mut tx, decide).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn update_incident(&self, number: u64, decide: &Decide<'_>) -> Result<(Incident, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::incidents::update::<D>(&mut tx, number, decide).await?;
        if !done.1.is_empty() {
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn update_incident_with_jobs(
        &self,
        number: u64,
        decide: &crate::DecideWithJobs<'_>,
        now: Timestamp,
    ) -> Result<(Incident, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let current = crate::incidents::lock_incident::<D>(&mut tx, number)
            .await?
            .ok_or_else(|| crate::StoreError::NotFound(format!("there is no incident INC-{number}")))?;
        let (state, events, jobs) = decide(&current)?;
        if events.is_empty() && jobs.is_empty() {
            return Ok((current, events));
        }
        crate::incidents::save_incident::<D>(&mut tx, &state, &events).await?;
        crate::jobs::insert::<D>(&mut tx, &jobs, now).await?;
        tx.commit().await?;
        Ok((state, events))
    }

    async fn events_of(&self, numbers: &[u64]) -> Result<Vec<(u64, Vec<Event>)>> {
        crate::incidents::events_of::<D>(&mut *self.read.acquire().await?, numbers).await
    }

    async fn alert_noise(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        service: Option<&str>,
    ) -> Result<crate::alerts::AlertNoise> {
        crate::alerts::alert_noise::<D>(&mut *self.read.acquire().await?, from, to, service).await
    }

    async fn follow_ups(&self, filter: &crate::FollowUpFilter) -> Result<Vec<crate::FollowUpRecord>> {
        crate::followups::follow_ups::<D>(&mut *self.read.acquire().await?, filter).await
    }

    async fn postmortem(&self, number: u64) -> Result<Option<crate::PostmortemRecord>> {
        crate::postmortems::postmortem::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn write_postmortem(
        &self,
        number: u64,
        decide: &crate::DecidePostmortem<'_>,
    ) -> Result<(Incident, Vec<Event>, crate::PostmortemRecord)> {
        let mut tx = self.write.begin().await?;
        let current = crate::incidents::lock_incident::<D>(&mut tx, number)
            .await?
            .ok_or_else(|| crate::StoreError::NotFound(format!("there is no incident INC-{number}")))?;
        let existing = crate::postmortems::postmortem::<D>(&mut tx, number).await?;
        let (state, events, postmortem) = decide(&current, existing.as_ref())?;
        if !events.is_empty() {
            crate::incidents::save_incident::<D>(&mut tx, &state, &events).await?;
        }
        crate::postmortems::save::<D>(&mut tx, &postmortem).await?;
        tx.commit().await?;
        Ok((state, events, postmortem))
    }

    async fn incident(&self, number: u64) -> Result<Option<Incident>> {
        crate::incidents::incident_by_number::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        crate::incidents::incidents::<D>(&mut *self.read.acquire().await?, filter).await
    }

    async fn timeline(&self, number: u64, query: &TimelineQuery) -> Result<Option<Vec<Event>>> {
        crate::incidents::timeline::<D>(&mut *self.read.acquire().await?, number, query).await
    }

    async fn events(&self, number: u64) -> Result<Vec<Event>> {
        crate::incidents::events::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn verify_timeline(&self, number: u64) -> Result<Option<muster_domain::timeline::ChainCheck>> {
        crate::incidents::verify::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn events_since(&self, number: u64, seq: u64, limit: u32) -> Result<Vec<Event>> {
        crate::incidents::events_since::<D>(&mut *self.read.acquire().await?, number, seq, limit).await
    }

    async fn write_update(
        &self,
        number: u64,
        content: &muster_domain::update::UpdateContent,
        author: &Handle,
        publish: Option<&crate::DecideUpdate<'_>>,
        now: Timestamp,
    ) -> Result<(crate::UpdateRecord, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::updates::write::<D>(&mut tx, number, content, author, publish, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn publish_update(
        &self,
        number: u64,
        id: u64,
        by: &Handle,
        decide: &crate::DecideUpdate<'_>,
        now: Timestamp,
    ) -> Result<(crate::UpdateRecord, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::updates::publish_draft::<D>(&mut tx, number, id, by, decide, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn edit_update(
        &self,
        number: u64,
        id: u64,
        decide: &crate::DecideEdit<'_>,
        now: Timestamp,
    ) -> Result<crate::UpdateRecord> {
        let mut tx = self.write.begin().await?;
        let done = crate::updates::edit_draft::<D>(&mut tx, number, id, decide, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn updates(&self, number: u64) -> Result<Vec<crate::UpdateRecord>> {
        crate::updates::updates::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn update_deliveries(&self, number: u64) -> Result<Vec<crate::UpdateDelivery>> {
        crate::stakeholders::deliveries::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn add_update_response(
        &self,
        number: u64,
        update: u64,
        response: &crate::NewResponse<'_>,
        now: Timestamp,
    ) -> Result<crate::ResponseRecord> {
        crate::stakeholders::add_response::<D>(&mut *self.write.acquire().await?, number, update, response, now).await
    }

    async fn update_responses(&self, number: u64) -> Result<Vec<crate::ResponseRecord>> {
        crate::stakeholders::responses::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn create_stakeholder_group(
        &self,
        spec: &muster_domain::stakeholder::GroupSpec,
        webhooks: &[(String, String)],
        now: Timestamp,
    ) -> Result<muster_domain::stakeholder::Group> {
        let mut tx = self.write.begin().await?;
        let done = crate::stakeholders::create_group::<D>(&mut tx, spec, webhooks, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn stakeholder_groups(&self) -> Result<Vec<muster_domain::stakeholder::Group>> {
        crate::stakeholders::groups::<D>(&mut *self.read.acquire().await?).await
    }

    async fn stakeholder_group(&self, id: u64) -> Result<Option<muster_domain::stakeholder::Group>> {
        crate::stakeholders::group::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn change_stakeholder_group(
        &self,
        id: u64,
        spec: &muster_domain::stakeholder::GroupSpec,
        add: &[(String, String)],
        remove: &[u64],
        now: Timestamp,
    ) -> Result<muster_domain::stakeholder::Group> {
        let mut tx = self.write.begin().await?;
        let done = crate::stakeholders::change_group::<D>(&mut tx, id, spec, add, remove, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn delete_stakeholder_group(&self, id: u64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = crate::stakeholders::delete_group::<D>(&mut tx, id).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn stakeholder_webhook(&self, id: u64) -> Result<Option<crate::StakeholderWebhook>> {
        crate::stakeholders::webhook::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn follow_incident(&self, number: u64, person: &Handle, now: Timestamp) -> Result<bool> {
        crate::stakeholders::follow::<D>(&mut *self.write.acquire().await?, number, person, now).await
    }

    async fn unfollow_incident(&self, number: u64, person: &Handle) -> Result<bool> {
        crate::stakeholders::unfollow::<D>(&mut *self.write.acquire().await?, number, person).await
    }

    async fn followers(&self, number: u64) -> Result<Vec<(Handle, Timestamp)>> {
        crate::stakeholders::followers::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn components(&self) -> Result<Vec<crate::ComponentRecord>> {
        crate::statuspage::components::<D>(&mut *self.read.acquire().await?).await
    }

    async fn component(&self, id: u64) -> Result<Option<crate::ComponentRecord>> {
        crate::statuspage::component::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn create_component(
        &self,
        spec: &muster_domain::statuspage::ComponentSpec,
        now: Timestamp,
    ) -> Result<crate::ComponentRecord> {
        let mut tx = self.write.begin().await?;
        let done = crate::statuspage::create_component::<D>(&mut tx, spec, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn change_component(
        &self,
        id: u64,
        spec: &muster_domain::statuspage::ComponentSpec,
        now: Timestamp,
    ) -> Result<crate::ComponentRecord> {
        let mut tx = self.write.begin().await?;
        let done = crate::statuspage::change_component::<D>(&mut tx, id, spec, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn delete_component(&self, id: u64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = crate::statuspage::delete_component::<D>(&mut tx, id).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn component_changes_since(&self, since: Timestamp) -> Result<Vec<crate::ComponentChange>> {
        crate::statuspage::changes_since::<D>(&mut *self.read.acquire().await?, since).await
    }

    async fn incident_component_changes(&self, number: u64) -> Result<Vec<crate::ComponentChange>> {
        crate::statuspage::incident_changes::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn public_incidents(&self, since: Timestamp) -> Result<Vec<crate::PublicIncident>> {
        crate::statuspage::public_incidents::<D>(&mut *self.read.acquire().await?, since).await
    }

    async fn set_component_status(
        &self,
        id: u64,
        status: muster_domain::statuspage::ComponentStatus,
        incident: Option<u64>,
        decide: &crate::DecideComponent<'_>,
        now: Timestamp,
    ) -> Result<Option<crate::ComponentChange>> {
        let mut tx = self.write.begin().await?;
        let current = match incident {
            None => None,
            Some(number) => Some(
                crate::incidents::lock_incident::<D>(&mut tx, number)
                    .await?
                    .ok_or_else(|| crate::StoreError::NotFound(format!("there is no incident INC-{number}")))?,
            ),
        };
        let source = crate::statuspage::Source { kind: "direct", incident, update: None };
        let Some(change) = crate::statuspage::set_status::<D>(&mut tx, id, status, source, now).await? else {
            return Ok(None);
        };
        let (state, jobs) = decide(current.as_ref(), &change)?;
        if let Some((state, events)) = state {
            crate::incidents::save_incident::<D>(&mut tx, &state, &events).await?;
        }
        crate::jobs::insert::<D>(&mut tx, &jobs, now).await?;
        tx.commit().await?;
        Ok(Some(change))
    }

    async fn create_maintenance(
        &self,
        spec: &muster_domain::maintenance::MaintenanceSpec,
        decide: &crate::DecideMaintenance<'_>,
        now: Timestamp,
    ) -> Result<crate::MaintenanceRecord> {
        let mut tx = self.write.begin().await?;
        let done = crate::maintenances::create::<D>(&mut tx, spec, decide, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn maintenances(&self, since: Timestamp) -> Result<Vec<crate::MaintenanceRecord>> {
        crate::maintenances::maintenances::<D>(&mut *self.read.acquire().await?, since).await
    }

    async fn maintenance(&self, id: u64) -> Result<Option<crate::MaintenanceRecord>> {
        crate::maintenances::maintenance::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn advance_maintenance(
        &self,
        id: u64,
        how: crate::MaintenanceMove<'_>,
        decide: &crate::DecideMaintenance<'_>,
        now: Timestamp,
    ) -> Result<Option<(crate::MaintenanceRecord, Vec<crate::ComponentChange>)>> {
        let mut tx = self.write.begin().await?;
        let done = crate::maintenances::advance::<D>(&mut tx, id, how, decide, now).await?;
        if done.is_some() {
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn subscribe(&self, new: &crate::SubscriberRecord) -> Result<(crate::SubscriberRecord, bool)> {
        let mut tx = self.write.begin().await?;
        let done = crate::statuspage::subscribe::<D>(&mut tx, new).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn subscriber(&self, id: u64) -> Result<Option<crate::SubscriberRecord>> {
        crate::statuspage::subscriber::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn subscriber_by_token(&self, token: &str) -> Result<Option<crate::SubscriberRecord>> {
        crate::statuspage::subscriber_by_token::<D>(&mut *self.read.acquire().await?, token).await
    }

    async fn subscribers(&self, confirmed: bool) -> Result<Vec<crate::SubscriberRecord>> {
        crate::statuspage::subscribers::<D>(&mut *self.read.acquire().await?, confirmed).await
    }

    async fn confirm_subscriber(&self, id: u64, now: Timestamp) -> Result<bool> {
        crate::statuspage::confirm_subscriber::<D>(&mut *self.write.acquire().await?, id, now).await
    }

    async fn set_subscriber_components(&self, id: u64, components: &[u64]) -> Result<bool> {
        crate::statuspage::set_subscriber_components::<D>(&mut *self.write.acquire().await?, id, components).await
    }

    async fn remove_subscriber(&self, id: u64) -> Result<bool> {
        crate::statuspage::remove_subscriber::<D>(&mut *self.write.acquire().await?, id).await
    }

    async fn public_incident_parts(
        &self,
        numbers: &[u64],
    ) -> Result<(Vec<Incident>, Vec<crate::ComponentChange>, Vec<crate::UpdateRecord>)> {
        let mut c = self.read.acquire().await?;
        let incidents = crate::incidents::incidents_numbered::<D>(&mut c, numbers).await?;
        let changes = crate::statuspage::changes_of::<D>(&mut c, numbers).await?;
        let updates = crate::updates::external_updates_of::<D>(&mut c, numbers).await?;
        Ok((incidents, changes, updates))
    }

    async fn public_incident(&self, number: u64) -> Result<Option<crate::PublicIncident>> {
        crate::statuspage::public_incident::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn create_support_integration(
        &self,
        new: &crate::NewSupportIntegration,
        now: Timestamp,
    ) -> Result<crate::SupportIntegration> {
        let mut tx = self.write.begin().await?;
        let done = crate::reports::create_integration::<D>(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn support_integrations(&self) -> Result<Vec<crate::SupportIntegration>> {
        crate::reports::integrations::<D>(&mut *self.read.acquire().await?).await
    }

    async fn support_integration(&self, id: u64) -> Result<Option<crate::SupportIntegration>> {
        crate::reports::integration::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn support_integration_by_key(&self, key: &str) -> Result<Option<crate::SupportIntegration>> {
        crate::reports::integration_by_key::<D>(&mut *self.read.acquire().await?, key).await
    }

    async fn create_report(
        &self,
        new: &crate::NewReport,
        jobs: &crate::ReportJobs<'_>,
        now: Timestamp,
    ) -> Result<crate::ReportRecord> {
        let mut tx = self.write.begin().await?;
        let done = crate::reports::create::<D>(&mut tx, new, jobs, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn receive_report(
        &self,
        new: &crate::NewReport,
        event_id: &str,
        merge: &crate::MergeReport<'_>,
        jobs: &crate::ReportJobs<'_>,
        now: Timestamp,
    ) -> Result<crate::Received> {
        let mut tx = self.write.begin().await?;
        let done = crate::reports::receive::<D>(&mut tx, new, event_id, merge, jobs, now).await?;
        if !matches!(done, crate::Received::Repeated(_)) {
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn reports(&self, filter: &crate::ReportFilter) -> Result<Vec<crate::ReportRecord>> {
        crate::reports::reports::<D>(&mut *self.read.acquire().await?, filter).await
    }

    async fn report(&self, id: u64) -> Result<Option<crate::ReportRecord>> {
        crate::reports::report::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn report_responses(&self, id: u64) -> Result<Vec<crate::ReportResponse>> {
        crate::reports::responses::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn change_reports(
        &self,
        ids: &[u64],
        incident: Option<u64>,
        decide: &crate::DecideReports<'_>,
        now: Timestamp,
    ) -> Result<(Vec<crate::ReportRecord>, Vec<muster_domain::Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::reports::change::<D>(&mut tx, ids, incident, decide, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn edit_public_incident(
        &self,
        number: u64,
        title: Option<&str>,
        impact: Option<Option<muster_domain::statuspage::Impact>>,
        now: Timestamp,
    ) -> Result<Option<crate::PublicIncident>> {
        let mut tx = self.write.begin().await?;
        let done = crate::statuspage::edit_public_incident::<D>(&mut tx, number, title, impact, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn incident_version(&self, number: u64) -> Result<Option<u64>> {
        crate::incidents::version::<D>(&mut *self.read.acquire().await?, number).await
    }

    async fn create_service(&self, service: &NewService, now: Timestamp) -> Result<Service> {
        let mut c = self.write.acquire().await?;
        crate::alerts::create_service::<D>(&mut c, service, now).await
    }

    async fn services(&self) -> Result<Vec<Service>> {
        let mut c = self.read.acquire().await?;
        crate::alerts::services::<D>(&mut c).await
    }

    async fn service(&self, id: u64) -> Result<Option<Service>> {
        let mut c = self.read.acquire().await?;
        crate::alerts::service::<D>(&mut c, id).await
    }

    async fn service_by_key(&self, key: &str) -> Result<Option<Service>> {
        let mut c = self.read.acquire().await?;
        crate::alerts::service_by_key::<D>(&mut c, key).await
    }

    async fn update_service(&self, id: u64, patch: &ServicePatch) -> Result<Service> {
        let mut tx = self.write.begin().await?;
        let s = crate::alerts::update_service::<D>(&mut tx, id, patch).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn ingest(&self, batch: &[IngestEvent], now: Timestamp) -> Result<Vec<IngestOutcome>> {
        // A batch PostgreSQL failed to break a deadlock wrote nothing, and
        // the other side has gone on: running it again is all it needs.
        let mut tries = 0;
        loop {
            let mut tx = self.write.begin().await?;
            match crate::alerts::ingest::<D>(&mut tx, batch, now).await {
                Ok(outcomes) => {
                    tx.commit().await?;
                    return Ok(outcomes);
                }
                Err(e) if tries < 3 && crate::alerts::is_retryable(&e) => {
                    tries += 1;
                    tracing::info!(error = %e, tries, "an ingest batch met another in a deadlock; running it again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn record_change(&self, change: &ChangeEvent, now: Timestamp) -> Result<Vec<u64>> {
        let mut tx = self.write.begin().await?;
        let touched = crate::alerts::record_change::<D>(&mut tx, change, now).await?;
        tx.commit().await?;
        Ok(touched)
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>> {
        let mut c = self.read.acquire().await?;
        crate::alerts::alerts::<D>(&mut c, filter).await
    }

    async fn alert(&self, id: u64) -> Result<Option<Alert>> {
        crate::alerts::alert::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn alerts_of_incident(&self, number: u64) -> Result<Vec<Alert>> {
        let mut c = self.read.acquire().await?;
        crate::alerts::alerts_of_incident::<D>(&mut c, number).await
    }

    async fn set_alert_status(&self, id: u64, status: AlertStatus, actor: &Actor, now: Timestamp) -> Result<Alert> {
        let mut tx = self.write.begin().await?;
        let a = crate::alerts::set_alert_status::<D>(&mut tx, id, status, now, actor).await?;
        tx.commit().await?;
        Ok(a)
    }

    async fn assess_alert(&self, id: u64, assessment: &serde_json::Value) -> Result<Alert> {
        let mut c = self.write.acquire().await?;
        crate::alerts::assess_alert::<D>(&mut c, id, assessment).await
    }

    async fn link_alert(&self, id: u64, number: u64, decide: &DecideLink<'_>) -> Result<(Incident, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::alerts::link_alert::<D>(&mut tx, id, number, decide).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn declare_for_alert(&self, id: u64, decide: &DecideAlertDeclaration<'_>) -> Result<(Incident, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::alerts::declare_for_alert::<D>(&mut tx, id, decide).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn create_schedule(&self, s: &crate::NewSchedule, now: Timestamp) -> Result<crate::ScheduleRecord> {
        let id = crate::schedules::create_schedule::<D>(&mut *self.write.acquire().await?, s, now).await?;
        self.schedule(id).await?.ok_or_else(|| crate::StoreError::NotFound("schedule".into()))
    }

    async fn schedules(&self) -> Result<Vec<crate::ScheduleRecord>> {
        crate::schedules::schedules::<D>(&mut *self.read.acquire().await?).await
    }

    async fn schedule(&self, id: u64) -> Result<Option<crate::ScheduleRecord>> {
        crate::schedules::schedule::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn add_override(&self, o: &crate::NewOverride, now: Timestamp) -> Result<muster_domain::schedule::Override> {
        crate::schedules::add_override::<D>(&mut *self.write.acquire().await?, o, now).await
    }

    async fn create_policy(
        &self,
        policy: &muster_domain::paging::EscalationPolicy,
        now: Timestamp,
    ) -> Result<crate::PolicyRecord> {
        let id = crate::schedules::create_policy::<D>(&mut *self.write.acquire().await?, policy, now).await?;
        self.policy(id).await?.ok_or_else(|| crate::StoreError::NotFound("policy".into()))
    }

    async fn policies(&self) -> Result<Vec<crate::PolicyRecord>> {
        crate::schedules::policies::<D>(&mut *self.read.acquire().await?).await
    }

    async fn policy(&self, id: u64) -> Result<Option<crate::PolicyRecord>> {
        crate::schedules::policy::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn add_contact_method(
        &self,
        user: &Handle,
        kind: muster_domain::paging::ContactKind,
        address: &str,
        secret: Option<&str>,
        now: Timestamp,
    ) -> Result<crate::ContactMethod> {
        let mut c = self.write.acquire().await?;
        crate::schedules::add_contact_method::<D>(&mut c, user, kind, address, secret, now).await
    }

    async fn contact_method(&self, id: u64) -> Result<Option<crate::ContactMethod>> {
        crate::schedules::contact_method::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn contact_methods(&self, user: &Handle) -> Result<Vec<crate::ContactMethod>> {
        crate::schedules::contact_methods::<D>(&mut *self.read.acquire().await?, user).await
    }

    async fn remove_contact_method(&self, user: &Handle, id: u64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let removed = crate::schedules::remove_contact_method::<D>(&mut tx, user, id).await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn enqueue_job(&self, job: &crate::NewJob, now: Timestamp) -> Result<u64> {
        crate::jobs::enqueue::<D>(&mut *self.write.acquire().await?, job, now).await
    }

    async fn claim_jobs(
        &self,
        lane: muster_domain::outbox::Lane,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<crate::ClaimedJob>> {
        crate::jobs::claim::<D>(&mut *self.write.acquire().await?, lane, now, lease_until, limit).await
    }

    async fn finish_job(&self, id: u64, lease: Timestamp, now: Timestamp) -> Result<bool> {
        crate::jobs::finish::<D>(&mut *self.write.acquire().await?, id, lease, now).await
    }

    async fn finish_jobs(&self, done: &[(u64, Timestamp, Timestamp)]) -> Result<Vec<bool>> {
        let mut tx = self.write.begin().await?;
        let out = crate::jobs::finish_many::<D>(&mut tx, done).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn retry_job(&self, id: u64, lease: Timestamp, due_at: Timestamp, error: &str) -> Result<bool> {
        crate::jobs::retry::<D>(&mut *self.write.acquire().await?, id, lease, due_at, error).await
    }

    async fn bury_job(&self, id: u64, lease: Timestamp, now: Timestamp, error: &str) -> Result<bool> {
        crate::jobs::bury::<D>(&mut *self.write.acquire().await?, id, lease, now, error).await
    }

    async fn jobs(&self, f: &crate::JobFilter) -> Result<Vec<crate::JobRecord>> {
        crate::jobs::list::<D>(&mut *self.read.acquire().await?, f).await
    }

    async fn next_job_due(&self, lanes: &[muster_domain::outbox::Lane]) -> Result<Option<Timestamp>> {
        crate::jobs::next_due::<D>(&mut *self.read.acquire().await?, lanes).await
    }

    async fn put_back_job(&self, id: u64, lease: Timestamp, due_at: Timestamp, why: &str) -> Result<bool> {
        crate::jobs::put_back::<D>(&mut *self.write.acquire().await?, id, lease, due_at, why).await
    }

    async fn rewrite_job(&self, id: u64, job: &muster_domain::outbox::Job) -> Result<()> {
        crate::jobs::rewrite::<D>(&mut *self.write.acquire().await?, id, job).await
    }

    async fn job_status(&self, id: u64) -> Result<Option<crate::JobStatus>> {
        crate::jobs::status::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn listen_for_jobs(&self, wake: Arc<dyn Fn() + Send + Sync>) -> Result<bool> {
        D::listen(self.write.pool(), "muster_jobs", Arc::new(move |_| wake())).await
    }

    async fn listen_for_incidents(&self, wake: Arc<dyn Fn(Option<u64>) + Send + Sync>) -> Result<bool> {
        D::listen(self.write.pool(), "muster_incidents", wake).await
    }

    async fn ensure_setting(&self, key: &str, value: &str) -> Result<String> {
        crate::accounts::ensure_setting::<D>(&mut *self.write.acquire().await?, key, value).await
    }

    async fn create_page(
        &self,
        page: &crate::NewPage,
        now: Timestamp,
        decide: &crate::DecidePage<'_>,
    ) -> Result<(crate::PageRecord, Vec<Event>)> {
        let mut tx = self.write.begin().await?;
        let done = crate::pages::create_page::<D>(&mut tx, page, now, decide).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn move_page(&self, m: &crate::PageMove, now: Timestamp) -> Result<Option<crate::PageRecord>> {
        let mut tx = self.write.begin().await?;
        let done = crate::pages::move_page::<D>(&mut tx, m, now).await?;
        if done.is_some() {
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn bundle(&self, id: u64) -> Result<Option<crate::bundles::BundleRecord>> {
        crate::bundles::bundle::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn bundled_pages(&self, id: u64) -> Result<Vec<crate::bundles::BundledPage>> {
        crate::bundles::bundled_pages::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn send_bundle(
        &self,
        id: u64,
        compose: &crate::bundles::ComposeFollowUp<'_>,
        now: Timestamp,
    ) -> Result<Option<u64>> {
        let mut tx = self.write.begin().await?;
        let sent = crate::bundles::send::<D>(&mut tx, id, compose, now).await?;
        if sent.is_some() {
            tx.commit().await?;
        }
        Ok(sent)
    }

    async fn move_pages(&self, moves: &[(crate::PageMove, Timestamp)]) -> Result<Vec<Option<crate::PageRecord>>> {
        let mut tx = self.write.begin().await?;
        // Every alert first, then every incident, then every notification
        // window, each in order: the order a single move (or an answer)
        // locks them in. Then the pages, by id. So two batches (written at
        // once on PostgreSQL) or a batch and an answer never wait on each
        // other in a circle.
        let mut alerts = std::collections::BTreeSet::new();
        let mut incidents = std::collections::BTreeSet::new();
        let mut windows = std::collections::BTreeSet::new();
        for (m, _) in moves {
            if let Some(p) = crate::pages::page::<D>(&mut tx, m.page).await? {
                alerts.extend(p.alert);
                incidents.extend(p.incident);
            }
            windows.extend(m.bundling.iter().flat_map(crate::bundles::windows));
        }
        for a in alerts {
            crate::alerts::lock_alert::<D>(&mut tx, a).await?;
        }
        for n in incidents {
            crate::incidents::lock_incident::<D>(&mut tx, n).await?;
        }
        for (person, service) in windows {
            crate::bundles::lock_window::<D>(&mut tx, &person, service).await?;
        }
        // Moves of one page stay in the order they came.
        let mut order: Vec<usize> = (0..moves.len()).collect();
        order.sort_by_key(|&i| moves[i].0.page);
        let mut out = vec![None; moves.len()];
        for i in order {
            let (m, now) = &moves[i];
            out[i] = crate::pages::move_page::<D>(&mut tx, m, *now).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn page(&self, id: u64) -> Result<Option<crate::PageRecord>> {
        crate::pages::page::<D>(&mut *self.read.acquire().await?, id).await
    }

    async fn pages(&self, f: &crate::PageFilter) -> Result<Vec<crate::PageRecord>> {
        crate::pages::pages::<D>(&mut *self.read.acquire().await?, f).await
    }

    async fn page_count(&self, f: &crate::PageFilter) -> Result<u64> {
        crate::pages::page_count::<D>(&mut *self.read.acquire().await?, f).await
    }

    async fn deliveries(&self, page: u64) -> Result<Vec<crate::Delivery>> {
        crate::pages::deliveries::<D>(&mut *self.read.acquire().await?, page).await
    }

    async fn add_notification_rule(
        &self,
        user: &Handle,
        rule: &muster_domain::page::NotificationRule,
        now: Timestamp,
    ) -> Result<crate::NotificationRuleRecord> {
        crate::schedules::add_notification_rule::<D>(&mut *self.write.acquire().await?, user, rule, now).await
    }

    async fn set_time_zone(&self, user: &Handle, zone: Option<&str>) -> Result<()> {
        crate::accounts::set_time_zone::<D>(&mut *self.write.acquire().await?, user, zone).await
    }

    async fn set_password_hash(&self, user: &Handle, hash: Option<&str>) -> Result<()> {
        let mut tx = self.write.begin().await?;
        crate::accounts::set_password_hash::<D>(&mut tx, user, hash).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn password_hash(&self, user: &Handle) -> Result<Option<String>> {
        crate::accounts::password_hash::<D>(&mut *self.read.acquire().await?, user).await
    }

    async fn create_session(&self, s: &crate::Session) -> Result<()> {
        crate::accounts::create_session::<D>(&mut *self.write.acquire().await?, s).await
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<(crate::Session, User)>> {
        crate::accounts::session::<D>(&mut *self.read.acquire().await?, id_hash, now).await
    }

    async fn gauges(&self) -> Result<crate::Gauges> {
        crate::gauges::gauges::<D>(&mut *self.read.acquire().await?).await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        crate::accounts::delete_session::<D>(&mut *self.write.acquire().await?, id_hash).await
    }

    async fn notification_rules(&self, user: &Handle) -> Result<Vec<crate::NotificationRuleRecord>> {
        crate::schedules::notification_rules::<D>(&mut *self.read.acquire().await?, user).await
    }

    async fn remove_notification_rule(&self, user: &Handle, id: u64) -> Result<bool> {
        crate::schedules::remove_notification_rule::<D>(&mut *self.write.acquire().await?, user, id).await
    }
}
