//! Stored schedules and their overrides.

use muster_domain::schedule::{Layer, Override, Schedule, time_zone};
use muster_domain::{Handle, Timestamp};

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub id: u64,
    pub name: String,
    pub time_zone: String,
    pub layers: Vec<Layer>,
    /// Overrides that have not ended, oldest first.
    pub overrides: Vec<Override>,
    pub created_at: Timestamp,
}

impl ScheduleRecord {
    /// The domain schedule, for on-call questions.
    pub fn schedule(&self) -> Result<Schedule, StoreError> {
        Ok(Schedule {
            time_zone: time_zone(&self.time_zone).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            layers: self.layers.clone(),
            overrides: self.overrides.clone(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub name: String,
    pub time_zone: String,
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone)]
pub struct NewOverride {
    pub schedule: u64,
    pub user: Handle,
    pub start: Timestamp,
    pub end: Timestamp,
    pub created_by: Handle,
}

pub(crate) type ScheduleRow = (i64, String, String, String, i64);
pub(crate) type OverrideRow = (i64, String, i64, i64);

pub(crate) fn record(row: ScheduleRow, overrides: Vec<OverrideRow>) -> Result<ScheduleRecord, StoreError> {
    let (id, name, time_zone, layers, created_at) = row;
    let corrupt = |e: String| StoreError::Corrupt(format!("schedule {id}: {e}"));
    Ok(ScheduleRecord {
        id: id as u64,
        name,
        time_zone,
        layers: serde_json::from_str(&layers).map_err(|e| corrupt(e.to_string()))?,
        overrides: overrides
            .into_iter()
            .map(|(oid, handle, start, end)| {
                Ok(Override {
                    id: oid as u64,
                    user: Handle::parse(&handle).map_err(|e| corrupt(e.to_string()))?,
                    start: crate::rows::timestamp(start)?,
                    end: crate::rows::timestamp(end)?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        created_at: crate::rows::timestamp(created_at)?,
    })
}

/// A stored escalation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub id: u64,
    pub policy: muster_domain::paging::EscalationPolicy,
    pub created_at: Timestamp,
}

pub(crate) type PolicyRow = (i64, String, i64, String, i64);

pub(crate) fn policy(row: PolicyRow) -> Result<PolicyRecord, StoreError> {
    let (id, name, repeat, steps, created_at) = row;
    Ok(PolicyRecord {
        id: id as u64,
        policy: muster_domain::paging::EscalationPolicy {
            name,
            repeat: repeat as u32,
            steps: serde_json::from_str(&steps).map_err(|e| StoreError::Corrupt(format!("policy {id}: {e}")))?,
        },
        created_at: crate::rows::timestamp(created_at)?,
    })
}

/// A way to reach a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMethod {
    pub id: u64,
    pub user: Handle,
    pub kind: muster_domain::paging::ContactKind,
    pub address: String,
    /// A webhook's signing secret.
    pub secret: Option<String>,
    pub created_at: Timestamp,
}

pub(crate) type ContactRow = (i64, String, String, String, Option<String>, i64);

pub(crate) fn contact(row: ContactRow) -> Result<ContactMethod, StoreError> {
    let (id, handle, kind, address, secret, created_at) = row;
    let corrupt = |e: String| StoreError::Corrupt(format!("contact method {id}: {e}"));
    Ok(ContactMethod {
        id: id as u64,
        user: Handle::parse(&handle).map_err(|e| corrupt(e.to_string()))?,
        kind: kind.parse().map_err(|e: muster_domain::DomainError| corrupt(e.to_string()))?,
        address,
        secret,
        created_at: crate::rows::timestamp(created_at)?,
    })
}
