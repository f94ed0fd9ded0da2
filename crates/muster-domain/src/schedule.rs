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
use jiff::{SignedDuration, Timestamp};
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
        // The unit is the last character, which need not be one byte long.
        let unit_at = s.char_indices().next_back().map_or(0, |(i, _)| i);
        let (n, unit) = s.split_at(unit_at);
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

pub use crate::limits::{MAX_LAYERS, MAX_ROTATION_USERS, MAX_SCHEDULE_STEPS, MAX_SHIFTS, MAX_WINDOWS};

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

/// `dt` plus `seconds` on the local clock, across the whole civil range:
/// jiff refuses one duration longer than about 12,000 years even when the
/// sum is in range, so a long one is added in pieces.
fn add_civil(dt: DateTime, seconds: i64) -> Option<DateTime> {
    const PIECE: i64 = 1_000_000 * 86_400;
    let (mut dt, mut left) = (dt, seconds);
    while left != 0 {
        let piece = left.clamp(-PIECE, PIECE);
        dt = dt.checked_add(SignedDuration::from_secs(piece)).ok()?;
        left -= piece;
    }
    Some(dt)
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
        // A signed duration, not a span: a span's seconds are bounded far
        // below what an extreme start date with long shifts reaches.
        let seconds = k.checked_mul(self.shift.civil_seconds())?;
        let dt = add_civil(self.anchor(), seconds)?;
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
        // The estimate is off by at most a shift or two (a clock change), so
        // a few steps settle it; more means the instants are out of range.
        let elapsed = local(t, tz).duration_since(self.anchor()).as_secs();
        let mut k = elapsed.div_euclid(self.shift.civil_seconds()).max(0);
        let mut steps = 0;
        while k > 0 && self.boundary(k, tz).is_none_or(|b| b > t) {
            k -= 1;
            steps += 1;
            if steps > 8 {
                return None;
            }
        }
        while self.boundary(k + 1, tz).is_some_and(|b| b <= t) {
            k += 1;
            steps += 1;
            if steps > 8 {
                return None;
            }
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

    /// Who is on call from `from` to `to`, as consecutive shifts (gaps with
    /// nobody on call are left out).
    ///
    /// A sweep over the moments at which who is on call may change: each
    /// layer knows its own next one (a handoff, or an edge of its windows
    /// as one weekly pattern; only edges while it is off), overrides and
    /// the zone's clock changes are known in advance, so a step costs the
    /// layers whose moment it is, not every layer and window. At most
    /// [`MAX_SCHEDULE_STEPS`] steps and [`MAX_SHIFTS`] shifts: a span
    /// needing more is refused (field `to`) rather than computed.
    /// Whether `user` is ever on call here: in a rotation or an override.
    pub fn has_member(&self, user: &Handle) -> bool {
        self.layers.iter().any(|l| l.rotation.users.contains(user)) || self.overrides.iter().any(|o| o.user == *user)
    }

    pub fn shifts(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Shift>, DomainError> {
        let tz = &self.time_zone;
        let too_long = |what: String| {
            DomainError::invalid("to", format!("{what} between `from` and `to`; ask for a shorter span"))
        };
        let mut out: Vec<Shift> = Vec::new();
        if to <= from {
            return Ok(out);
        }
        // The clock changes and override edges inside the span, soonest first.
        let mut clock_changes = Vec::new();
        for transition in tz.following(from) {
            if transition.timestamp() >= to {
                break;
            }
            if clock_changes.len() >= MAX_SCHEDULE_STEPS {
                return Err(too_long(format!("the time zone changes its clocks more than {MAX_SCHEDULE_STEPS} times")));
            }
            clock_changes.push(transition.timestamp());
        }
        let mut override_edges: Vec<Timestamp> =
            self.overrides.iter().flat_map(|o| [o.start, o.end]).filter(|t| from < *t && *t < to).collect();
        override_edges.sort_unstable();
        override_edges.dedup();
        let mut layers: Vec<LayerSweep<'_>> = self.layers.iter().map(LayerSweep::new).collect();
        for layer in &mut layers {
            layer.refresh(from, tz);
        }
        let (mut next_clock, mut next_override) = (0, 0);
        let mut t = from;
        let mut steps = 0;
        while t < to {
            steps += 1;
            if steps > MAX_SCHEDULE_STEPS {
                return Err(too_long(format!("who is on call changes more than {MAX_SCHEDULE_STEPS} times")));
            }
            let who = match self.overrides.iter().rev().find(|o| o.start <= t && t < o.end) {
                Some(o) => Some(&o.user),
                None => layers.iter().rev().find_map(LayerSweep::on_call),
            };
            while clock_changes.get(next_clock).is_some_and(|c| *c <= t) {
                next_clock += 1;
            }
            while override_edges.get(next_override).is_some_and(|e| *e <= t) {
                next_override += 1;
            }
            let next = layers
                .iter()
                .filter_map(|l| l.next)
                .chain(clock_changes.get(next_clock).copied())
                .chain(override_edges.get(next_override).copied())
                .filter(|n| *n > t)
                .min()
                .map_or(to, |n| n.min(to));
            if let Some(user) = who {
                match out.last_mut() {
                    Some(last) if last.end == t && &last.user == user => last.end = next,
                    _ => {
                        if out.len() >= MAX_SHIFTS {
                            return Err(too_long(format!("there are more than {MAX_SHIFTS} shifts")));
                        }
                        out.push(Shift { user: user.clone(), start: t, end: next });
                    }
                }
            }
            t = next;
            let clock_changed = clock_changes.get(next_clock) == Some(&t);
            for layer in &mut layers {
                if clock_changed || layer.next.is_some_and(|n| n <= t) {
                    layer.refresh(t, tz);
                }
            }
        }
        Ok(out)
    }
}

/// Refuses a rotation listing someone twice (field
/// `layers[i].rotation.users`); the warnings for a schedule made on
/// `today` (in its zone): a rotation starting more than
/// [`ROTATION_FAR_START_DAYS`](crate::limits::ROTATION_FAR_START_DAYS)
/// days ahead puts nobody on call until then.
pub fn check_rotations(layers: &[Layer], today: Date) -> Result<Vec<String>, DomainError> {
    let mut warnings = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let users = &layer.rotation.users;
        if let Some((j, user)) = users.iter().enumerate().find(|(j, u)| users[..*j].contains(u)) {
            return Err(DomainError::invalid(
                format!("layers[{i}].rotation.users"),
                format!("@{user} is in this rotation twice (users[{j}]); list each person once"),
            ));
        }
        let ahead = today.until(layer.rotation.start).map(|d| d.get_days()).unwrap_or(0);
        if i64::from(ahead) > crate::limits::ROTATION_FAR_START_DAYS {
            warnings.push(format!(
                "layers[{i}].rotation.start: the rotation starts on {}, {ahead} days from now; \
                 until then it puts nobody on call",
                layer.rotation.start
            ));
        }
    }
    Ok(warnings)
}

/// Refuses a schedule larger than the limits: at most [`MAX_LAYERS`]
/// layers, [`MAX_WINDOWS`] restriction windows in all, and
/// [`MAX_ROTATION_USERS`] people per rotation.
pub fn check_size(layers: &[Layer]) -> Result<(), DomainError> {
    if layers.len() > MAX_LAYERS {
        return Err(DomainError::invalid(
            "layers",
            format!("a schedule has at most {MAX_LAYERS} layers, not {}", layers.len()),
        ));
    }
    let mut windows = 0;
    for (i, layer) in layers.iter().enumerate() {
        windows += layer.restrict.len();
        if windows > MAX_WINDOWS {
            let all: usize = layers.iter().map(|l| l.restrict.len()).sum();
            return Err(DomainError::invalid(
                format!("layers[{i}].restrict"),
                format!("a schedule has at most {MAX_WINDOWS} restriction windows in all its layers, not {all}"),
            ));
        }
        if layer.rotation.users.len() > MAX_ROTATION_USERS {
            return Err(DomainError::invalid(
                format!("layers[{i}].rotation.users"),
                format!("a rotation has at most {MAX_ROTATION_USERS} people"),
            ));
        }
    }
    Ok(())
}

/// Nanoseconds in a week.
const WEEK: i64 = 7 * 86_400 * 1_000_000_000;

/// A local date-time's place in its week: nanoseconds since Monday 00:00.
fn week_nanos(dt: DateTime) -> i64 {
    i64::from(dt.weekday().to_monday_zero_offset()) * 86_400 * 1_000_000_000 + day_nanos(dt.time())
}

fn day_nanos(t: Time) -> i64 {
    (i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())) * 1_000_000_000
        + i64::from(t.subsec_nanosecond())
}

/// A layer's windows as one weekly pattern: the sorted places in the week
/// (see [`week_nanos`]) at which their union opens or closes. Whether the
/// layer applies changes only there, or when the clock itself jumps.
struct WeeklyEdges(Vec<i64>);

impl WeeklyEdges {
    fn of(windows: &[Window]) -> Self {
        const DAY: i64 = 86_400 * 1_000_000_000;
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for w in windows {
            let (start, end) = (day_nanos(w.start), day_nanos(w.end));
            let length = if start < end { end - start } else { DAY - start + end };
            for (d, day) in (0i64..).zip(std::iter::successors(Some(Weekday::Monday), |d| Some(d.next())).take(7)) {
                if w.starts_on(day) {
                    let (s, e) = (d * DAY + start, d * DAY + start + length);
                    if e <= WEEK {
                        spans.push((s, e));
                    } else {
                        spans.push((s, WEEK));
                        spans.push((0, e - WEEK));
                    }
                }
            }
        }
        spans.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let mut edges: Vec<i64> = merged.iter().flat_map(|(s, e)| [*s, *e % WEEK]).collect();
        edges.sort_unstable();
        edges.dedup();
        WeeklyEdges(edges)
    }

    /// The first instant after `t` at which the local clock reaches an
    /// edge: in a fold (fall back) either of the two instants, whichever
    /// is next.
    fn next(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let first = *self.0.first()?;
        let mut l = local(t, tz);
        // Only in a fold can an edge's instants all lie before `t`; the
        // edge after it then does not.
        for _ in 0..4 {
            let here = week_nanos(l);
            let i = self.0.partition_point(|e| *e <= here);
            let ahead = self.0.get(i).map_or(first + WEEK - here, |e| e - here);
            let edge = l.checked_add(SignedDuration::from_nanos(ahead)).ok()?;
            let found = [tz.to_ambiguous_timestamp(edge).earlier(), tz.to_ambiguous_timestamp(edge).later()]
                .into_iter()
                .filter_map(Result::ok)
                .filter(|i| *i > t)
                .min();
            if found.is_some() {
                return found;
            }
            l = edge;
        }
        None
    }
}

/// One layer during a sweep: whether it applies and who its rotation has
/// on call, as of its last refresh, and when that may next change.
struct LayerSweep<'a> {
    layer: &'a Layer,
    edges: WeeklyEdges,
    applies: bool,
    user: Option<&'a Handle>,
    next: Option<Timestamp>,
}

impl<'a> LayerSweep<'a> {
    fn new(layer: &'a Layer) -> Self {
        LayerSweep { layer, edges: WeeklyEdges::of(&layer.restrict), applies: false, user: None, next: None }
    }

    fn refresh(&mut self, t: Timestamp, tz: &TimeZone) {
        self.applies = self.layer.applies(t, tz);
        let edge = self.edges.next(t, tz);
        if self.applies {
            self.user = self.layer.rotation.on_call(t, tz);
            let handoff = self.layer.rotation.next_boundary(t, tz);
            self.next = [edge, handoff].into_iter().flatten().min();
        } else {
            // While the layer is off its handoffs change nothing; whoever
            // is on call is read again when a window opens.
            self.user = None;
            self.next = edge;
        }
    }

    fn on_call(&self) -> Option<&'a Handle> {
        if self.applies { self.user } else { None }
    }
}

/// Text escaped for an iCalendar TEXT value (RFC 5545 §3.3.11): `\`, `;`,
/// `,` and newlines escaped, other control characters (which TEXT may not
/// hold) left out.
fn ics_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn ics_time(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Appends one content line, folded (RFC 5545 §3.1): at most 75 octets a
/// line, never inside a UTF-8 character, continuation lines starting with
/// a space.
fn ics_line(out: &mut String, line: &str) {
    let mut room = 75;
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > room {
            out.push_str("\r\n ");
            room = 74;
            used = 0;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The span a calendar feed covers at `now`: shifts that overlap
/// [`FeedWindow::from`]..[`FeedWindow::to`] (30 days back, 180 ahead),
/// computed from [`FeedWindow::sweep_from`] to [`FeedWindow::sweep_to`],
/// fixed points of a 30-day grid around the window, so that a shift that
/// began before the window or ends after it keeps its real start and end
/// (and its UID) from one fetch to the next. The sweep begins a whole grid
/// step before the window's grid point and ends a whole step after the next
/// one, so a shift cut at either end of the sweep lies outside the window,
/// unless it is longer than a grid step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedWindow {
    pub sweep_from: Timestamp,
    pub from: Timestamp,
    pub to: Timestamp,
    pub sweep_to: Timestamp,
}

impl FeedWindow {
    pub fn at(now: Timestamp) -> FeedWindow {
        use crate::limits::{FEED_DAYS_AHEAD, FEED_DAYS_BACK, FEED_GRID_DAYS};
        let day = 86_400;
        let grid = FEED_GRID_DAYS * day;
        let (from, to) = (now.as_second() - FEED_DAYS_BACK * day, now.as_second() + FEED_DAYS_AHEAD * day);
        let at = |s: i64| Timestamp::from_second(s).unwrap_or(now);
        FeedWindow {
            sweep_from: at((from.div_euclid(grid) - 1) * grid),
            from: at(from),
            to: at(to),
            sweep_to: at((to.div_euclid(grid) + 2) * grid),
        }
    }

    /// A span as given: shifts cut to it.
    pub fn exactly(from: Timestamp, to: Timestamp) -> FeedWindow {
        FeedWindow { sweep_from: from, from, to, sweep_to: to }
    }

    /// The shifts of `schedule` in the window, each with its real start
    /// and end (as far as the sweep reaches).
    pub fn shifts(&self, schedule: &Schedule) -> Result<Vec<Shift>, DomainError> {
        let mut shifts = schedule.shifts(self.sweep_from, self.sweep_to)?;
        shifts.retain(|s| s.end > self.from && s.start < self.to);
        Ok(shifts)
    }
}

/// One event of a calendar feed: a shift on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    pub schedule: u64,
    pub schedule_name: String,
    pub shift: Shift,
    /// When the schedule was last revised (made, or an override added):
    /// the event's DTSTAMP and LAST-MODIFIED, so they do not change from
    /// one fetch to the next.
    pub revised: Timestamp,
    /// The schedule's revision: 0 as made, one more with each override
    /// (the event's SEQUENCE).
    pub revision: u64,
}

impl FeedEvent {
    /// Stable for a shift: its schedule, person and start. The same shift
    /// has the same UID in the schedule's feed and in the person's.
    pub fn uid(&self) -> String {
        format!("schedule-{}-{}-{}@muster", self.schedule, self.shift.user, ics_time(self.shift.start))
    }
}

/// An iCalendar (RFC 5545) feed of shifts, one event each, that calendar
/// apps can subscribe to. Overrides shape the shifts (a shift is whoever
/// is on call, override or not); they are not events of their own.
pub fn icalendar(name: &str, events: &[FeedEvent]) -> String {
    let mut out = String::new();
    for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Muster//On call//EN", "CALSCALE:GREGORIAN"] {
        ics_line(&mut out, line);
    }
    ics_line(&mut out, &format!("X-WR-CALNAME:{}", ics_text(name)));
    for e in events {
        ics_line(&mut out, "BEGIN:VEVENT");
        ics_line(&mut out, &format!("UID:{}", ics_text(&e.uid())));
        ics_line(&mut out, &format!("DTSTAMP:{}", ics_time(e.revised)));
        ics_line(&mut out, &format!("DTSTART:{}", ics_time(e.shift.start)));
        ics_line(&mut out, &format!("DTEND:{}", ics_time(e.shift.end)));
        ics_line(
            &mut out,
            &format!("SUMMARY:{}", ics_text(&format!("On call: @{} ({})", e.shift.user, e.schedule_name))),
        );
        ics_line(&mut out, &format!("LAST-MODIFIED:{}", ics_time(e.revised)));
        ics_line(&mut out, &format!("SEQUENCE:{}", e.revision));
        ics_line(&mut out, "TRANSP:TRANSPARENT");
        ics_line(&mut out, "END:VEVENT");
    }
    ics_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests;
