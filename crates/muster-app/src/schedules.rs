//! Schedules, overrides, shifts and escalation policies.

use muster_domain::access::{self, Action, Standing};
use muster_domain::{Actor, DomainError, Handle, Timestamp};

use crate::{App, Result};

/// Shifts further ahead than this are not computed in one request.
pub const MAX_SHIFT_SPAN: jiff::SignedDuration =
    jiff::SignedDuration::from_hours(24 * muster_domain::limits::MAX_SHIFT_SPAN_DAYS);

/// Shift listings computed at once: half the cores, at least one, so the
/// runtime's threads (ingest, paging) always keep a core.
pub(crate) fn listings_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

impl App {
    // Schedules.

    /// Makes a schedule; with it, warnings about what it will not do (a
    /// rotation starting far ahead). A rotation listing someone twice is
    /// refused.
    pub async fn create_schedule(
        &self,
        actor: &Actor,
        name: String,
        time_zone: String,
        layers: Vec<muster_domain::schedule::Layer>,
    ) -> Result<(muster_store::ScheduleRecord, Vec<String>)> {
        access::check(actor, Action::CreateSchedule, &Standing::none())?;
        let sent = name.chars().count();
        let name = name.trim().to_owned();
        if name.is_empty() || sent > 100 {
            return Err(DomainError::invalid("name", "a schedule name has 1-100 characters").into());
        }
        // Stored by its canonical name: "europe/berlin" is kept as "Europe/Berlin".
        let zone = muster_domain::schedule::time_zone(&time_zone)?;
        let time_zone = zone.iana_name().map_or_else(|| time_zone.trim().to_owned(), str::to_owned);
        if layers.is_empty() {
            return Err(DomainError::invalid("layers", "a schedule needs at least one layer").into());
        }
        muster_domain::schedule::check_size(&layers)?;
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
        let today = self.clock.now().to_zoned(zone).date();
        let warnings = muster_domain::schedule::check_rotations(&layers, today)?;
        let schedule = muster_store::NewSchedule { name, time_zone, layers };
        Ok((self.store.create_schedule(&schedule, self.clock.now()).await?, warnings))
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
        let record = self.schedule(schedule).await?;
        let members = record.layers.iter().flat_map(|l| l.rotation.users.iter());
        access::check(actor, Action::AddOverride, &Standing::schedule(schedule, members, actor))?;
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
        let schedules = self
            .store
            .schedules()
            .await?
            .into_iter()
            .map(|r| Ok((r.name.clone(), r.schedule()?)))
            .collect::<Result<Vec<_>>>()?;
        let user = user.clone();
        self.compute(move || {
            let mut out = Vec::new();
            for (name, schedule) in schedules {
                let shifts = schedule.shifts(from, to)?;
                out.extend(shifts.into_iter().filter(|s| s.user == user).map(|s| (name.clone(), s)));
            }
            out.sort_by_key(|(_, s)| s.start);
            Ok(out)
        })
        .await
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
        let schedule = record.schedule()?;
        let shifts = self.compute(move || schedule.shifts(from, to)).await?;
        Ok((record, shifts))
    }

    /// A schedule's calendar feed: its shifts over `span`, or by default
    /// over the feed window (30 days back to 180 ahead, each shift with its
    /// real start, so that its UID is the same at every fetch).
    pub async fn schedule_feed(
        &self,
        id: u64,
        span: Option<(Timestamp, Timestamp)>,
    ) -> Result<(muster_store::ScheduleRecord, Vec<muster_domain::schedule::FeedEvent>)> {
        let record = self.schedule(id).await?;
        let events = self.feed(vec![record.clone()], None, span).await?;
        Ok((record, events))
    }

    /// One person's shifts on every schedule as a calendar feed (as
    /// [`App::schedule_feed`]), soonest first.
    pub async fn user_feed(
        &self,
        user: &Handle,
        span: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<muster_domain::schedule::FeedEvent>> {
        let schedules = self.store.schedules().await?;
        self.feed(schedules, Some(user.clone()), span).await
    }

    async fn feed(
        &self,
        records: Vec<muster_store::ScheduleRecord>,
        user: Option<Handle>,
        span: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<muster_domain::schedule::FeedEvent>> {
        use muster_domain::schedule::{FeedEvent, FeedWindow};
        let window = match span {
            Some((from, to)) => {
                if to <= from || to.duration_since(from) > MAX_SHIFT_SPAN {
                    return Err(DomainError::invalid("to", "give a `to` after `from`, at most 366 days later").into());
                }
                FeedWindow::exactly(from, to)
            }
            None => FeedWindow::at(self.clock.now()),
        };
        let mut schedules = records.into_iter().map(|r| Ok((r.schedule()?, r))).collect::<Result<Vec<_>>>()?;
        // A person's feed: only the schedules they are on.
        if let Some(u) = &user {
            schedules.retain(|(s, _)| s.has_member(u));
        }
        let personal = user.is_some();
        self.compute(move || {
            let mut out = Vec::new();
            for (schedule, record) in schedules {
                let shifts = match window.shifts(&schedule) {
                    Ok(shifts) => shifts,
                    // One schedule with more shifts than a listing may hold
                    // leaves a person's feed without it, not without the rest.
                    Err(e) if personal => {
                        tracing::warn!(schedule = record.id, error = %e, "a schedule left out of a personal feed");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for shift in shifts {
                    if user.as_ref().is_none_or(|u| *u == shift.user) {
                        out.push(FeedEvent {
                            schedule: record.id,
                            schedule_name: record.name.clone(),
                            shift,
                            revised: record.revised_at,
                            revision: record.revision,
                        });
                    }
                }
            }
            out.sort_by_key(|e| e.shift.start);
            Ok(out)
        })
        .await
    }

    /// Shifts of a schedule as it is given, for views of one layer alone.
    pub async fn shifts_of_schedule(
        &self,
        schedule: muster_domain::schedule::Schedule,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<muster_domain::schedule::Shift>> {
        self.compute(move || schedule.shifts(from, to)).await
    }

    /// Runs schedule maths off the runtime's threads, a few at a time, so
    /// a large listing never stalls ingest or paging. The domain's step
    /// budget bounds how long each runs.
    async fn compute<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> std::result::Result<T, DomainError> + Send + 'static,
    ) -> Result<T> {
        let _turn = self
            .schedule_work
            .acquire()
            .await
            .map_err(|_| crate::Error::Internal("the schedule workers are closed".into()))?;
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(crate::Error::Internal(format!("a shift computation failed: {e}"))),
        }
    }
}

impl App {
    // Escalation policies.

    pub async fn create_policy(
        &self,
        actor: &Actor,
        policy: muster_domain::paging::EscalationPolicy,
    ) -> Result<muster_store::PolicyRecord> {
        access::check(actor, Action::ChangePolicy, &Standing::none())?;
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
