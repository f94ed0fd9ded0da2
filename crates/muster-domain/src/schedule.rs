//! On-call schedules: who is on call at an instant, and the shifts between
//! two instants.
//!
//! A schedule has a time zone and layers. Each layer is a rotation — people
//! taking turns in shifts of hours, days or weeks, handing off at a local
//! time — optionally restricted to weekly windows (weekdays, business
//! hours). Later layers win inside their windows; overrides win over all
//! layers. All calendar arithmetic is done in the schedule's time zone with
//! the tz database (jiff), so a daily 09:00 handoff stays at 09:00 across
//! daylight-saving changes: that shift is 23 or 25 hours long.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::{DomainError, Handle};

/// How long one person's turn lasts: `12h`, `1d`, `1w` …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

impl ShiftLength {
    /// The length in civil seconds (a civil day is always 86,400 of them).
    fn civil_seconds(self) -> i64 {
        match self {
            ShiftLength::Hours(n) => i64::from(n) * 3600,
            ShiftLength::Days(n) => i64::from(n) * 86_400,
            ShiftLength::Weeks(n) => i64::from(n) * 7 * 86_400,
        }
    }
}

impl FromStr for ShiftLength {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DomainError::invalid("shift", format!("{s:?} is not a shift length like 8h, 12h, 1d or 1w"));
        let s = s.trim();
        let (n, unit) = s.split_at(s.len().saturating_sub(1));
        let n: u32 = n.parse().map_err(|_| bad())?;
        match unit {
            "h" if (1..=24 * 7).contains(&n) => Ok(ShiftLength::Hours(n)),
            "d" if (1..=366).contains(&n) => Ok(ShiftLength::Days(n)),
            "w" if (1..=52).contains(&n) => Ok(ShiftLength::Weeks(n)),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for ShiftLength {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        s.parse()
    }
}

impl From<ShiftLength> for String {
    fn from(s: ShiftLength) -> String {
        s.to_string()
    }
}

impl fmt::Display for ShiftLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShiftLength::Hours(n) => write!(f, "{n}h"),
            ShiftLength::Days(n) => write!(f, "{n}d"),
            ShiftLength::Weeks(n) => write!(f, "{n}w"),
        }
    }
}

/// People taking turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub users: Vec<Handle>,
    pub shift: ShiftLength,
    /// The local time shifts change at.
    pub handoff: Time,
    /// The local date of the first shift, which starts at `handoff`.
    pub start: Date,
}

/// A weekly window in local time, e.g. Monday to Friday 09:00–17:00. An
/// `end` at or before `start` runs past midnight into the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The days the window starts on (`mon` … `sun`); empty means every day.
    #[serde(with = "weekdays", default)]
    pub days: Vec<Weekday>,
    pub start: Time,
    pub end: Time,
}

impl Window {
    fn starts_on(&self, day: Weekday) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }

    fn contains(&self, local: DateTime) -> bool {
        let (day, time) = (local.weekday(), local.time());
        if self.start < self.end {
            self.starts_on(day) && self.start <= time && time < self.end
        } else {
            (self.starts_on(day) && time >= self.start) || (self.starts_on(day.previous()) && time < self.end)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub rotation: Rotation,
    /// When present, the layer applies only inside these windows.
    #[serde(default)]
    pub restrict: Vec<Window>,
}

/// Someone taking the pager for a while, whatever the layers say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub id: u64,
    pub user: Handle,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A schedule, checked: a real time zone, every rotation non-empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub time_zone: TimeZone,
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// One person's stretch on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub user: Handle,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The most steps `shifts` takes, so a query over a long span of short
/// shifts stays bounded.
pub const MAX_SHIFTS: usize = 10_000;

/// Weekdays as `mon`, `tue` … on the wire.
mod weekdays {
    use jiff::civil::Weekday;
    use serde::{Deserialize, Deserializer, Serializer};

    const NAMES: [(&str, Weekday); 7] = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];

    pub fn parse(s: &str) -> Option<Weekday> {
        let s = s.trim().to_ascii_lowercase();
        NAMES.iter().find(|(n, _)| s.starts_with(n)).map(|(_, d)| *d)
    }

    pub fn name(d: Weekday) -> &'static str {
        NAMES.iter().find(|(_, x)| *x == d).map_or("mon", |(n, _)| n)
    }

    pub fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(days.iter().map(|d| name(*d)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| {
                parse(n).ok_or_else(|| serde::de::Error::custom(format!("{n:?} is not a weekday like mon or tue")))
            })
            .collect()
    }
}

pub use weekdays::parse as parse_weekday;

/// Parses an IANA time zone name such as `Europe/Berlin`.
pub fn time_zone(name: &str) -> Result<TimeZone, DomainError> {
    TimeZone::get(name.trim())
        .map_err(|_| DomainError::invalid("time_zone", format!("{name:?} is not an IANA time zone like Europe/Berlin")))
}

fn civil_seconds(dt: DateTime) -> i64 {
    // A civil date-time read as if it were UTC: arithmetic on local clocks.
    dt.to_zoned(TimeZone::UTC).map(|z| z.timestamp().as_second()).unwrap_or(0)
}

fn local(t: Timestamp, tz: &TimeZone) -> DateTime {
    t.to_zoned(tz.clone()).datetime()
}

/// The instant a local date-time names; in a gap (spring forward) the
/// instant after it, in a fold (fall back) the first of the two.
fn instant(dt: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_ambiguous_zoned(dt).compatible().ok().map(|z| z.timestamp())
}

impl Rotation {
    fn anchor(&self) -> DateTime {
        self.start.to_datetime(self.handoff)
    }

    /// The instant shift `k` starts (shift 0 is the first).
    fn boundary(&self, k: i64, tz: &TimeZone) -> Option<Timestamp> {
        let seconds = k.checked_mul(self.shift.civil_seconds())?;
        let dt = self.anchor().checked_add(seconds.seconds()).ok()?;
        instant(dt, tz)
    }

    /// The number of the shift running at `t`, if the rotation has started.
    fn shift_at(&self, t: Timestamp, tz: &TimeZone) -> Option<i64> {
        let first = self.boundary(0, tz)?;
        if t < first {
            return None;
        }
        // Estimate from local clocks, then settle on real boundary instants,
        // which are what a handoff is.
        let elapsed = civil_seconds(local(t, tz)) - civil_seconds(self.anchor());
        let mut k = elapsed.div_euclid(self.shift.civil_seconds()).max(0);
        while k > 0 && self.boundary(k, tz).is_none_or(|b| b > t) {
            k -= 1;
        }
        while self.boundary(k + 1, tz).is_some_and(|b| b <= t) {
            k += 1;
        }
        Some(k)
    }

    pub fn on_call(&self, t: Timestamp, tz: &TimeZone) -> Option<&Handle> {
        let k = self.shift_at(t, tz)?;
        let n = self.users.len() as i64;
        (n > 0).then(|| &self.users[k.rem_euclid(n) as usize])
    }

    fn next_boundary(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match self.shift_at(t, tz) {
            None => self.boundary(0, tz),
            Some(k) => (k + 1..k + 4).filter_map(|i| self.boundary(i, tz)).find(|b| *b > t),
        }
    }
}

impl Layer {
    fn applies(&self, t: Timestamp, tz: &TimeZone) -> bool {
        self.restrict.is_empty() || {
            let l = local(t, tz);
            self.restrict.iter().any(|w| w.contains(l))
        }
    }

    /// The next instant after `t` at which a window opens or closes.
    fn next_window_edge(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let today = local(t, tz).date();
        (-1..=8)
            .filter_map(|d| today.checked_add(d.days()).ok())
            .flat_map(|date| {
                self.restrict.iter().flat_map(move |w| [date.to_datetime(w.start), date.to_datetime(w.end)])
            })
            .filter_map(|dt| instant(dt, tz))
            .filter(|i| *i > t)
            .min()
    }
}

impl Schedule {
    /// Who is on call at `t`: the newest override covering it, else the
    /// last layer that applies and has started.
    pub fn on_call(&self, t: Timestamp) -> Option<&Handle> {
        if let Some(o) = self.overrides.iter().rev().find(|o| o.start <= t && t < o.end) {
            return Some(&o.user);
        }
        self.layers
            .iter()
            .rev()
            .filter(|l| l.applies(t, &self.time_zone))
            .find_map(|l| l.rotation.on_call(t, &self.time_zone))
    }

    /// The first instant after `t` at which who is on call may change.
    fn next_change(&self, t: Timestamp) -> Option<Timestamp> {
        let tz = &self.time_zone;
        let layers = self.layers.iter().flat_map(|l| [l.rotation.next_boundary(t, tz), l.next_window_edge(t, tz)]);
        let overrides = self.overrides.iter().flat_map(|o| [Some(o.start), Some(o.end)]);
        layers.chain(overrides).flatten().filter(|i| *i > t).min()
    }

    /// Who is on call from `from` to `to`, as consecutive shifts (gaps with
    /// nobody on call are left out), at most [`MAX_SHIFTS`] of them.
    pub fn shifts(&self, from: Timestamp, to: Timestamp) -> Vec<Shift> {
        let mut out: Vec<Shift> = Vec::new();
        let mut t = from;
        while t < to && out.len() < MAX_SHIFTS {
            let next = self.next_change(t).map_or(to, |n| n.min(to));
            if let Some(user) = self.on_call(t) {
                match out.last_mut() {
                    Some(last) if last.end == t && &last.user == user => last.end = next,
                    _ => out.push(Shift { user: user.clone(), start: t, end: next }),
                }
            }
            t = next;
        }
        out
    }
}

/// Text escaped for an iCalendar property value (RFC 5545 §3.3.11).
fn ics_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n").replace('\r', "")
}

fn ics_time(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// An iCalendar (RFC 5545) feed of shifts, one event each, that calendar
/// apps can subscribe to. `uid` makes event ids stable across refreshes.
pub fn icalendar(name: &str, uid: &str, shifts: &[(String, Shift)], now: Timestamp) -> String {
    let mut out =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Muster//On call//EN\r\nCALSCALE:GREGORIAN\r\n");
    out.push_str(&format!("X-WR-CALNAME:{}\r\n", ics_text(name)));
    for (schedule, shift) in shifts {
        out.push_str("BEGIN:VEVENT\r\n");
        out.push_str(&format!("UID:{uid}-{}-{}@muster\r\n", shift.start.as_second(), shift.user));
        out.push_str(&format!("DTSTAMP:{}\r\n", ics_time(now)));
        out.push_str(&format!("DTSTART:{}\r\nDTEND:{}\r\n", ics_time(shift.start), ics_time(shift.end)));
        out.push_str(&format!("SUMMARY:{}\r\n", ics_text(&format!("On call: @{} ({schedule})", shift.user))));
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

#[cfg(test)]
mod tests;
