//! Insights across incidents: how long responses take, where the alerts
//! come from, who carries the load. Pure aggregation over what each
//! incident's timeline shows ([`Sample::of`]); the app reads the timelines.
//!
//! Every duration runs from the incident's start (see
//! [`crate::postmortem::Moments`]). Medians and 90th percentiles are by
//! nearest rank (the smallest value with at least that share of the
//! values at or below it), means are rounded down to the second.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::incident::{Change, Event};
use crate::postmortem::{Moments, roster};
use crate::{Handle, Incident, Priority, Status};

/// What one incident adds to the insights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub number: u64,
    pub priority: Priority,
    pub status: Status,
    /// Declared by Muster from an alert.
    pub auto_declared: bool,
    /// The services of its alerts, in the order they came.
    pub services: Vec<String>,
    /// Its first alert's service and summary, when an alert declared it.
    pub declared_by_alert: Option<(String, String)>,
    pub to_acknowledge: Option<i64>,
    pub to_mitigate: Option<i64>,
    pub to_resolve: Option<i64>,
    /// Each person notified by its pages, once per notification.
    pub notified: Vec<(Handle, Timestamp)>,
    /// Seconds each person held each role (role key).
    pub in_role: Vec<(Handle, String, i64)>,
    /// Reminders of an update that went past its grace (`overdue`).
    pub overdue_updates: u32,
}

impl Sample {
    /// The sample of `incident` from its `events`; roles still held count
    /// up to the resolution, or to `now`.
    pub fn of(incident: &Incident, events: &[Event], now: Timestamp) -> Sample {
        let d = Moments::of(events).durations();
        let until = crate::postmortem::counted_until(incident, now);
        let mut services = Vec::new();
        let mut first_alert = None;
        let mut notified = Vec::new();
        let mut overdue_updates = 0;
        let mut auto_declared = false;
        for e in events {
            match &e.change {
                Change::Declared { .. } => auto_declared = e.actor.as_str() == crate::intake::SYSTEM,
                Change::AlertLinked { alert } => {
                    if !services.contains(&alert.service) {
                        services.push(alert.service.clone());
                    }
                    first_alert.get_or_insert_with(|| (alert.service.clone(), alert.summary.clone()));
                }
                Change::PageNotified { people, .. } => notified.extend(people.iter().map(|p| (p.clone(), e.at))),
                Change::UpdateReminded { overdue: true, .. } => overdue_updates += 1,
                _ => {}
            }
        }
        let in_role = roster(events, until)
            .into_iter()
            .flat_map(|p| p.time_in_role.into_iter().map(move |(role, s)| (p.handle.clone(), role, s)))
            .collect();
        Sample {
            number: incident.number,
            priority: incident.priority,
            status: incident.status,
            declared_by_alert: if auto_declared { first_alert } else { None },
            auto_declared,
            services,
            to_acknowledge: d.to_acknowledge,
            to_mitigate: d.to_mitigate,
            to_resolve: d.to_resolve,
            notified,
            in_role,
            overdue_updates,
        }
    }
}

/// A duration's spread over the incidents that have it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stat {
    /// How many incidents have it (not yet mitigated: not counted).
    pub count: u32,
    pub median: Option<i64>,
    pub p90: Option<i64>,
    pub mean: Option<i64>,
}

/// The nearest-rank `q` quantile (0 < q ≤ 1) of sorted `values`.
pub fn nearest_rank(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub fn stat(mut values: Vec<i64>) -> Stat {
    values.sort_unstable();
    let sum: i64 = values.iter().sum();
    Stat {
        count: values.len() as u32,
        median: nearest_rank(&values, 0.5),
        p90: nearest_rank(&values, 0.9),
        mean: (!values.is_empty()).then(|| sum.div_euclid(values.len() as i64)),
    }
}

/// An alert that declared incidents, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declaring {
    pub service: String,
    pub summary: String,
    pub incidents: u32,
}

/// The insights over a set of incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Insights {
    pub incidents: u32,
    pub by_priority: BTreeMap<String, u32>,
    pub by_status: BTreeMap<String, u32>,
    pub auto_declared: u32,
    pub to_acknowledge: Stat,
    pub to_mitigate: Stat,
    pub to_resolve: Stat,
    /// Incidents per service (an incident counts for each of its services).
    pub incidents_per_service: BTreeMap<String, u32>,
    /// The alerts that declared the most incidents, most first (at most 10).
    pub most_declaring: Vec<Declaring>,
    /// Notifications per person.
    pub pages_per_person: BTreeMap<String, u32>,
    /// Of those, the ones at night (22:00 to 07:00) in the person's time
    /// zone, for everyone paged (zero included).
    pub pages_at_night: BTreeMap<String, u32>,
    /// And on a Saturday or Sunday in the person's time zone.
    pub pages_on_weekends: BTreeMap<String, u32>,
    /// Seconds per person and role.
    pub seconds_in_role: BTreeMap<String, BTreeMap<String, i64>>,
    pub overdue_updates: u32,
}

/// Where the night begins and ends on a person's clock: from 22:00 until
/// 07:00.
pub const NIGHT_FROM_HOUR: i8 = 22;
pub const NIGHT_UNTIL_HOUR: i8 = 7;

/// Each person's time zone; a person not in it is on UTC.
pub type Zones = BTreeMap<Handle, jiff::tz::TimeZone>;

/// Whether `at` is at night, and on a weekend, on the clock of `zone`.
pub fn night_and_weekend(at: Timestamp, zone: &jiff::tz::TimeZone) -> (bool, bool) {
    let local = at.to_zoned(zone.clone());
    let night = local.hour() >= NIGHT_FROM_HOUR || local.hour() < NIGHT_UNTIL_HOUR;
    let weekend = matches!(local.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday);
    (night, weekend)
}

/// Adds up `samples`; pages at night and on weekends are counted on each
/// person's clock (`zones`).
pub fn aggregate(samples: &[Sample], zones: &Zones) -> Insights {
    let mut out = Insights { incidents: samples.len() as u32, ..Insights::default() };
    let (mut ack, mut mitigate, mut resolve) = (Vec::new(), Vec::new(), Vec::new());
    let mut declaring: BTreeMap<(String, String), u32> = BTreeMap::new();
    for s in samples {
        *out.by_priority.entry(s.priority.to_string()).or_default() += 1;
        *out.by_status.entry(s.status.as_str().to_owned()).or_default() += 1;
        out.auto_declared += s.auto_declared as u32;
        ack.extend(s.to_acknowledge);
        mitigate.extend(s.to_mitigate);
        resolve.extend(s.to_resolve);
        for svc in &s.services {
            *out.incidents_per_service.entry(svc.clone()).or_default() += 1;
        }
        if let Some(a) = &s.declared_by_alert {
            *declaring.entry(a.clone()).or_default() += 1;
        }
        for (p, at) in &s.notified {
            let person = p.to_string();
            *out.pages_per_person.entry(person.clone()).or_default() += 1;
            let (night, weekend) = night_and_weekend(*at, zones.get(p).unwrap_or(&jiff::tz::TimeZone::UTC));
            *out.pages_at_night.entry(person.clone()).or_default() += night as u32;
            *out.pages_on_weekends.entry(person).or_default() += weekend as u32;
        }
        for (p, role, secs) in &s.in_role {
            *out.seconds_in_role.entry(p.to_string()).or_default().entry(role.clone()).or_default() += secs;
        }
        out.overdue_updates += s.overdue_updates;
    }
    out.to_acknowledge = stat(ack);
    out.to_mitigate = stat(mitigate);
    out.to_resolve = stat(resolve);
    let mut most: Vec<Declaring> = declaring
        .into_iter()
        .map(|((service, summary), incidents)| Declaring { service, summary, incidents })
        .collect();
    most.sort_by(|a, b| {
        b.incidents.cmp(&a.incidents).then_with(|| (&a.service, &a.summary).cmp(&(&b.service, &b.summary)))
    });
    most.truncate(10);
    out.most_declaring = most;
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn night_and_weekend_are_on_the_persons_clock() {
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // Friday 21:30 UTC: 22:30 in Berlin (night), Saturday 06:30 in Tokyo.
        assert_eq!(night_and_weekend(at("2026-11-27T21:30:00Z"), &jiff::tz::TimeZone::UTC), (false, false));
        assert_eq!(night_and_weekend(at("2026-11-27T21:30:00Z"), &berlin), (true, false));
        assert_eq!(night_and_weekend(at("2026-11-27T21:30:00Z"), &tokyo), (true, true));
        // The edges: 07:00 is day, 06:59 and 22:00 are night (Berlin in winter is UTC+1).
        assert_eq!(night_and_weekend(at("2026-11-26T06:00:00Z"), &berlin), (false, false));
        assert_eq!(night_and_weekend(at("2026-11-26T05:59:00Z"), &berlin), (true, false));
        assert_eq!(night_and_weekend(at("2026-11-26T21:00:00Z"), &berlin), (true, false));
        // Summer time moves the night with the clock: 21:00 UTC is 23:00 in Berlin in July.
        assert_eq!(night_and_weekend(at("2026-07-01T20:30:00Z"), &berlin), (true, false));
        assert_eq!(night_and_weekend(at("2026-07-01T19:30:00Z"), &berlin), (false, false));
    }

    #[test]
    fn percentiles_are_by_nearest_rank_and_the_mean_rounds_down() {
        let s = stat((1..=10).collect());
        assert_eq!((s.count, s.median, s.p90, s.mean), (10, Some(5), Some(9), Some(5)));
        let s = stat(vec![7]);
        assert_eq!((s.median, s.p90, s.mean), (Some(7), Some(7), Some(7)));
        assert_eq!(stat(Vec::new()), Stat::default());
        assert_eq!(stat(vec![1, 2]).mean, Some(1));
    }

    proptest! {
        /// The median and p90 are values of the set, at least half and nine
        /// tenths of the values are at or below them, and they are ordered.
        #[test]
        fn the_percentiles_hold_their_share(values in prop::collection::vec(0i64..100_000, 1..300)) {
            let s = stat(values.clone());
            let (m, p) = (s.median.unwrap(), s.p90.unwrap());
            prop_assert!(values.contains(&m) && values.contains(&p));
            let at_or_below = |x: i64| values.iter().filter(|v| **v <= x).count() as f64;
            prop_assert!(at_or_below(m) >= 0.5 * values.len() as f64);
            prop_assert!(at_or_below(p) >= 0.9 * values.len() as f64);
            prop_assert!(m <= p);
            let min = *values.iter().min().unwrap();
            let max = *values.iter().max().unwrap();
            prop_assert!(s.mean.unwrap() >= min && s.mean.unwrap() <= max);
        }
    }
}
