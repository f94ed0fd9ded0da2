//! Schedules, overrides, shifts and escalation policies.

use muster_domain::{Actor, DomainError, Handle, Timestamp};

use crate::{App, Result};

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
        let sent = name.chars().count();
        let name = name.trim().to_owned();
        if name.is_empty() || sent > 100 {
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
        Ok(self.store.create_schedule(&schedule, self.clock.now()).await?)
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
        Ok(self.store.add_override(&o, self.clock.now()).await?)
    }

    /// Who is on call on every schedule at `at`, by schedule (nobody, in a
    /// gap between rotations).
    pub async fn on_call_everywhere(
        &self,
        at: Timestamp,
    ) -> Result<Vec<(muster_store::ScheduleRecord, Option<Handle>)>> {
        let mut out = Vec::new();
        for record in self.store.schedules().await? {
            let who = record.schedule()?.on_call(at).cloned();
            out.push((record, who));
        }
        Ok(out)
    }

    /// One person's shifts on every schedule between two instants (at most
    /// a year apart), soonest first, with the schedule's name.
    pub async fn shifts_of(
        &self,
        user: &Handle,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, muster_domain::schedule::Shift)>> {
        if to <= from || to.duration_since(from) > MAX_SHIFT_SPAN {
            return Err(DomainError::invalid("to", "give a `to` after `from`, at most 366 days later").into());
        }
        let mut out = Vec::new();
        for record in self.store.schedules().await? {
            let shifts = record.schedule()?.shifts(from, to);
            out.extend(shifts.into_iter().filter(|s| &s.user == user).map(|s| (record.name.clone(), s)));
        }
        out.sort_by_key(|(_, s)| s.start);
        Ok(out)
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
        Ok(self.store.create_policy(&policy, self.clock.now()).await?)
    }

    pub async fn policy(&self, id: u64) -> Result<muster_store::PolicyRecord> {
        self.store
            .policy(id)
            .await?
            .ok_or_else(|| DomainError::not_found("id", format!("there is no escalation policy {id}")).into())
    }

    /// An escalation policy named in a service's `escalation_policy` field.
    pub(crate) async fn policy_for_field(&self, id: u64) -> Result<()> {
        match self.store.policy(id).await? {
            Some(_) => Ok(()),
            None => {
                Err(DomainError::invalid("escalation_policy", format!("there is no escalation policy {id}")).into())
            }
        }
    }
}
