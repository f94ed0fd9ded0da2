//! Insights across the incidents declared in a span (see
//! `muster_domain::insights`): read from their timelines, a thousand
//! incidents at a time, and the follow-ups they left.

use muster_domain::action::ActionStatus;
use muster_domain::insights::{self, Insights, Sample};
use muster_domain::{Priority, Timestamp};
use muster_store::{FollowUpFilter, IncidentFilter};

use crate::{App, Result};

/// Which incidents: declared from `from` until before `to`, of a priority,
/// with an alert of a service.
#[derive(Debug, Clone, Default)]
pub struct InsightsQuery {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub priority: Option<Priority>,
    pub service: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InsightsView {
    pub insights: Insights,
    /// The follow-ups these incidents left that are open, and of those the
    /// ones past their due time.
    pub follow_ups_open: u32,
    pub follow_ups_overdue: u32,
    /// The alerts first seen in the span (of the service when one is
    /// named; the priority does not narrow them): per service, and the
    /// noisiest.
    pub alerts: muster_store::alerts::AlertNoise,
}

impl App {
    /// Each person's time zone, for what is counted on their clock.
    pub async fn time_zones(&self) -> Result<insights::Zones> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .filter_map(|u| {
                let tz = jiff::tz::TimeZone::get(u.time_zone.as_deref()?).ok()?;
                Some((u.handle, tz))
            })
            .collect())
    }

    pub async fn insights(&self, q: &InsightsQuery) -> Result<InsightsView> {
        let now = self.clock.now();
        let mut samples: Vec<Sample> = Vec::new();
        let mut before = None;
        loop {
            let filter = IncidentFilter {
                priorities: q.priority.into_iter().collect(),
                before,
                declared_from: q.from,
                declared_to: q.to,
                limit: 1000,
                ..IncidentFilter::default()
            };
            let page = self.store.incidents(&filter).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.number);
            let numbers: Vec<u64> = page.iter().map(|i| i.number).collect();
            let mut events: std::collections::BTreeMap<u64, Vec<muster_domain::Event>> =
                self.store.events_of(&numbers).await?.into_iter().collect();
            for incident in &page {
                let sample = Sample::of(incident, &events.remove(&incident.number).unwrap_or_default(), now);
                if q.service.as_ref().is_none_or(|s| sample.services.contains(s)) {
                    samples.push(sample);
                }
            }
            if page.len() < 1000 {
                break;
            }
        }
        samples.sort_by_key(|s| s.number);
        let numbers: std::collections::BTreeSet<u64> = samples.iter().map(|s| s.number).collect();
        let open = self
            .store
            .follow_ups(&FollowUpFilter { statuses: vec![ActionStatus::Open], ..FollowUpFilter::default() })
            .await?;
        let open: Vec<_> = open.into_iter().filter(|f| numbers.contains(&f.incident)).collect();
        let overdue = open.iter().filter(|f| f.due_at.is_some_and(|d| d <= now)).count() as u32;
        Ok(InsightsView {
            insights: insights::aggregate(&samples, &self.time_zones().await?),
            follow_ups_open: open.len() as u32,
            follow_ups_overdue: overdue,
            alerts: self.store.alert_noise(q.from, q.to, q.service.as_deref()).await?,
        })
    }
}
