//! The public status page's rules: component states, the page's overall
//! indicator (Statuspage's rollup: the worst component wins), an
//! incident's public impact, and a day's uptime from a component's state
//! history (maintenance left out).
//!
//! The words and enums are Statuspage's, so that the dashboards, chat
//! integrations and aggregators that read Statuspage's public JSON read
//! Muster's page as they are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{DomainError, Timestamp};

/// Characters in a component's name and in a group's.
pub const MAX_COMPONENT_NAME_CHARS: usize = 100;
/// Characters in a component's description.
pub const MAX_COMPONENT_DESCRIPTION_CHARS: usize = 1000;
/// Components on one page.
pub const MAX_COMPONENTS: usize = 500;
/// The highest position a component may take.
pub const MAX_POSITION: u32 = 1_000_000;

/// What a component is doing, as Statuspage names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
        ComponentStatus::UnderMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
            ComponentStatus::UnderMaintenance => "under_maintenance",
        }
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
            ComponentStatus::UnderMaintenance => "Under maintenance",
        }
    }

    /// The share of its time that counts as down for uptime, as Statuspage
    /// counts it: a major outage all of it, a partial outage 30 %,
    /// degraded performance none. Maintenance is not counted at all
    /// (`None`): it is left out of the day.
    pub fn downtime_weight(self) -> Option<f64> {
        match self {
            ComponentStatus::Operational | ComponentStatus::DegradedPerformance => Some(0.0),
            ComponentStatus::PartialOutage => Some(0.3),
            ComponentStatus::MajorOutage => Some(1.0),
            ComponentStatus::UnderMaintenance => None,
        }
    }

    /// Whether it is anything but operational.
    pub fn is_degraded(self) -> bool {
        self != ComponentStatus::Operational
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ComponentStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComponentStatus::ALL.into_iter().find(|c| c.as_str() == s.trim()).ok_or_else(|| {
            let all: Vec<&str> = ComponentStatus::ALL.iter().map(|c| c.as_str()).collect();
            DomainError::invalid("status", format!("{s:?} is not a component status: one of {}", all.join(", ")))
        })
    }
}

/// The page's overall state (`status.indicator` in Statuspage's JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::None => "none",
            Indicator::Maintenance => "maintenance",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    /// `status.description`, in Statuspage's words.
    pub fn description(self) -> &'static str {
        match self {
            Indicator::None => "All Systems Operational",
            Indicator::Maintenance => "Service Under Maintenance",
            Indicator::Minor => "Minor Service Outage",
            Indicator::Major => "Partial System Outage",
            Indicator::Critical => "Major System Outage",
        }
    }
}

/// The page's indicator from its components' states: the worst wins — a
/// major outage is critical, a partial outage major, degraded performance
/// minor; maintenance shows only when nothing is worse.
pub fn rollup(states: impl IntoIterator<Item = ComponentStatus>) -> Indicator {
    states
        .into_iter()
        .map(|s| match s {
            ComponentStatus::Operational => Indicator::None,
            ComponentStatus::UnderMaintenance => Indicator::Maintenance,
            ComponentStatus::DegradedPerformance => Indicator::Minor,
            ComponentStatus::PartialOutage => Indicator::Major,
            ComponentStatus::MajorOutage => Indicator::Critical,
        })
        .max()
        .unwrap_or(Indicator::None)
}

/// How bad a public incident is (`incident.impact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    /// From the worst state its components were put in.
    pub fn of(states: impl IntoIterator<Item = ComponentStatus>) -> Impact {
        match rollup(states) {
            Indicator::None | Indicator::Maintenance => Impact::None,
            Indicator::Minor => Impact::Minor,
            Indicator::Major => Impact::Major,
            Indicator::Critical => Impact::Critical,
        }
    }
}

impl FromStr for Impact {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Impact::ALL.into_iter().find(|i| i.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid("impact", format!("{s:?} is not an impact: one of none, minor, major, critical"))
        })
    }
}

/// A component as its admins write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSpec {
    pub name: String,
    pub description: String,
    /// The group it shows in, by name; none: on its own.
    pub group: Option<String>,
    pub position: u32,
    /// Shown on the page only while it is not operational.
    pub only_show_if_degraded: bool,
    /// The services it stands for (their names).
    pub services: Vec<String>,
}

impl ComponentSpec {
    /// Checks and tidies a component, naming the field of each refusal.
    pub fn new(
        name: &str,
        description: &str,
        group: Option<&str>,
        position: u32,
        only_show_if_degraded: bool,
        services: Vec<String>,
    ) -> Result<ComponentSpec, DomainError> {
        let text = |field: &str, v: &str, min: usize, max: usize| -> Result<String, DomainError> {
            if v.chars().count() > max {
                return Err(DomainError::invalid(field, format!("at most {max} characters")));
            }
            let v = v.trim();
            if v.chars().count() < min {
                return Err(DomainError::invalid(field, "empty"));
            }
            Ok(v.to_owned())
        };
        if position > MAX_POSITION {
            return Err(DomainError::invalid("position", format!("from 0 to {MAX_POSITION}")));
        }
        let name = text("name", name, 1, MAX_COMPONENT_NAME_CHARS)?;
        let description = text("description", description, 0, MAX_COMPONENT_DESCRIPTION_CHARS)?;
        let group = group.map(|g| text("group", g, 1, MAX_COMPONENT_NAME_CHARS)).transpose()?;
        if services.len() > MAX_COMPONENTS {
            return Err(DomainError::invalid("services", format!("at most {MAX_COMPONENTS}")));
        }
        let mut clean = Vec::new();
        for (i, s) in services.iter().enumerate() {
            let s = text(&format!("services[{i}]"), s, 1, MAX_COMPONENT_NAME_CHARS)?;
            if !clean.contains(&s) {
                clean.push(s);
            }
        }
        Ok(ComponentSpec { name, description, group, position, only_show_if_degraded, services: clean })
    }
}

/// Whether a subscriber to `components` (none: the whole page) hears of
/// an incident whose updates affect `affected` (none: it names no
/// component, so it is the whole page's).
pub fn subscriber_hears(components: &[u64], affected: &[u64]) -> bool {
    components.is_empty() || affected.is_empty() || components.iter().any(|c| affected.contains(c))
}

/// A component's state from `at` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub at: Timestamp,
    pub status: ComponentStatus,
}

/// One day's uptime of a component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayUptime {
    /// Percent of the day's counted time the component was up; `None` when
    /// none of it counted (all maintenance, or before the component existed).
    pub percent: Option<f64>,
    /// The worst state it was in that day.
    pub worst: ComponentStatus,
    /// The seconds that counted (not maintenance, not before it existed),
    /// to weigh days when adding them up.
    pub counted_seconds: f64,
}

/// Uptime over `[from, to)` from a component's `history` (oldest first;
/// the state before the first change is operational, from `created`):
/// time in each state weighted by [`ComponentStatus::downtime_weight`],
/// maintenance and time before `created` left out.
pub fn uptime(history: &[StateChange], created: Timestamp, from: Timestamp, to: Timestamp) -> DayUptime {
    let start = from.max(created);
    let mut counted = 0.0_f64;
    let mut down = 0.0_f64;
    let mut worst = ComponentStatus::Operational;
    // The state at `start`, then each change inside the window.
    let mut state = history.iter().rev().find(|c| c.at <= start).map_or(ComponentStatus::Operational, |c| c.status);
    let mut since = start;
    let mut changes = history.iter().filter(|c| c.at > start && c.at < to).peekable();
    if start >= to {
        return DayUptime { percent: None, worst, counted_seconds: 0.0 };
    }
    loop {
        let until = changes.peek().map_or(to, |c| c.at);
        let seconds = (until.as_second() - since.as_second()).max(0) as f64;
        if seconds > 0.0 && state > worst {
            worst = state;
        }
        if let Some(w) = state.downtime_weight() {
            counted += seconds;
            down += seconds * w;
        }
        match changes.next() {
            Some(c) => {
                state = c.status;
                since = c.at;
            }
            None => break,
        }
    }
    let percent = (counted > 0.0).then(|| 100.0 * (counted - down) / counted);
    DayUptime { percent, worst, counted_seconds: counted }
}

/// The languages the page speaks (its strings are built in).
pub const LANGUAGES: [&str; 1] = ["en"];
/// Links in the page's header.
pub const MAX_LINKS: usize = 10;

/// A link in the page's header: the company's site, its support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLink {
    pub label: String,
    pub url: String,
}

/// How the page presents itself (operators): its name, the address it is
/// read at, the time zone its times are shown in, its language, a logo
/// and links; and whether it is public at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageSettings {
    pub name: String,
    /// Where customers read the page (`page.url`, the mails' link to it);
    /// none: the server's own `/status`.
    pub url: Option<String>,
    pub time_zone: String,
    pub language: String,
    pub logo_url: Option<String>,
    pub links: Vec<PageLink>,
    /// Off: `/status`, its JSON and feeds answer 404, and nobody may subscribe.
    pub enabled: bool,
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            name: "Status".into(),
            url: None,
            time_zone: "UTC".into(),
            language: "en".into(),
            logo_url: None,
            links: Vec::new(),
            enabled: true,
        }
    }
}

/// `value` if it is an absolute http(s) URL a page may link to.
fn web_url(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && value.chars().count() <= 2000
        && !v.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(DomainError::invalid(field, format!("{value:?} is not an http:// or https:// URL")))
    }
}

impl PageSettings {
    /// The settings as written, checked (naming the field at fault) and trimmed.
    pub fn checked(self) -> Result<PageSettings, DomainError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || self.name.chars().count() > MAX_COMPONENT_NAME_CHARS {
            return Err(DomainError::invalid("name", format!("a name has 1 to {MAX_COMPONENT_NAME_CHARS} characters")));
        }
        let url = self.url.as_deref().filter(|u| !u.trim().is_empty()).map(|u| web_url("url", u)).transpose()?;
        let time_zone = self.time_zone.trim().to_owned();
        crate::schedule::time_zone(&time_zone)?;
        let language = self.language.trim().to_owned();
        if !LANGUAGES.contains(&language.as_str()) {
            return Err(DomainError::invalid(
                "language",
                format!("{language:?} is not a language the page speaks: {}", LANGUAGES.join(", ")),
            ));
        }
        let logo_url =
            self.logo_url.as_deref().filter(|u| !u.trim().is_empty()).map(|u| web_url("logo_url", u)).transpose()?;
        if self.links.len() > MAX_LINKS {
            return Err(DomainError::invalid("links", format!("at most {MAX_LINKS} links")));
        }
        let mut links = Vec::with_capacity(self.links.len());
        for (i, l) in self.links.into_iter().enumerate() {
            let label = l.label.trim().to_owned();
            if label.is_empty() || l.label.chars().count() > 50 {
                return Err(DomainError::invalid(format!("links[{i}].label"), "a label has 1 to 50 characters"));
            }
            links.push(PageLink { label, url: web_url(&format!("links[{i}].url"), &l.url)? });
        }
        Ok(PageSettings { name, url, time_zone, language, logo_url, links, enabled: self.enabled })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_worst_component_decides_the_indicator() {
        use ComponentStatus::*;
        assert_eq!(rollup([]), Indicator::None);
        assert_eq!(rollup([Operational, Operational]), Indicator::None);
        assert_eq!(rollup([Operational, UnderMaintenance]), Indicator::Maintenance);
        assert_eq!(rollup([UnderMaintenance, DegradedPerformance]), Indicator::Minor);
        assert_eq!(rollup([DegradedPerformance, PartialOutage]), Indicator::Major);
        assert_eq!(rollup([PartialOutage, MajorOutage, UnderMaintenance]), Indicator::Critical);
        assert_eq!(Impact::of([UnderMaintenance]), Impact::None);
        assert_eq!(Impact::of([DegradedPerformance, PartialOutage]), Impact::Major);
    }

    #[test]
    fn a_partial_outage_counts_thirty_percent_and_maintenance_not_at_all() {
        let day = (t("2026-12-01T00:00:00Z"), t("2026-12-02T00:00:00Z"));
        let created = t("2026-11-01T00:00:00Z");
        let history = [
            StateChange { at: t("2026-12-01T06:00:00Z"), status: ComponentStatus::UnderMaintenance },
            StateChange { at: t("2026-12-01T12:00:00Z"), status: ComponentStatus::MajorOutage },
            StateChange { at: t("2026-12-01T13:48:00Z"), status: ComponentStatus::PartialOutage },
            StateChange { at: t("2026-12-01T15:48:00Z"), status: ComponentStatus::Operational },
        ];
        let u = uptime(&history, created, day.0, day.1);
        // 18 h counted; down 1.8 h + 0.3 × 2 h = 2.4 h.
        let percent = u.percent.unwrap();
        assert!((percent - 100.0 * (18.0 - 2.4) / 18.0).abs() < 1e-9, "{percent}");
        assert_eq!(u.worst, ComponentStatus::MajorOutage);
        let all_maintenance =
            [StateChange { at: t("2026-11-30T00:00:00Z"), status: ComponentStatus::UnderMaintenance }];
        assert_eq!(uptime(&all_maintenance, created, day.0, day.1).percent, None, "nothing counted");
        assert_eq!(uptime(&[], t("2026-12-03T00:00:00Z"), day.0, day.1).percent, None, "before it existed");
        assert_eq!(uptime(&[], created, day.0, day.1).percent, Some(100.0));
    }

    #[test]
    fn a_component_is_refused_naming_the_field() {
        let field = |r: Result<ComponentSpec, DomainError>| match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(ComponentSpec::new(" ", "", None, 0, false, vec![])), "name");
        assert_eq!(field(ComponentSpec::new(&"x".repeat(101), "", None, 0, false, vec![])), "name");
        assert_eq!(field(ComponentSpec::new("API", "", Some(""), 0, false, vec![])), "group");
        assert_eq!(field(ComponentSpec::new("API", "", None, 0, false, vec!["".into()])), "services[0]");
        let ok = ComponentSpec::new(" API ", "", Some(" Core "), 1, false, vec!["a".into(), "a".into()]).unwrap();
        assert_eq!((ok.name.as_str(), ok.group.as_deref(), ok.services.len()), ("API", Some("Core"), 1));
    }

    #[test]
    fn a_subscriber_hears_of_its_components_and_of_what_names_none() {
        assert!(subscriber_hears(&[], &[1]), "everything");
        assert!(subscriber_hears(&[1, 2], &[2, 3]));
        assert!(!subscriber_hears(&[1], &[2, 3]), "not theirs");
        assert!(subscriber_hears(&[1], &[]), "an incident naming no component is the whole page's");
    }

    fn state() -> impl Strategy<Value = ComponentStatus> {
        proptest::sample::select(ComponentStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn the_rollup_is_never_better_than_any_component(states in proptest::collection::vec(state(), 0..8), extra in state()) {
            let before = rollup(states.clone());
            let mut more = states.clone();
            more.push(extra);
            prop_assert!(rollup(more) >= before, "adding a component never improves the page");
            prop_assert_eq!(rollup(states.iter().copied().filter(|s| *s != ComponentStatus::Operational)), before);
        }

        #[test]
        fn uptime_is_a_percentage_and_maintenance_is_never_downtime(
            changes in proptest::collection::vec((0i64..86_400, state()), 0..10),
        ) {
            let from = t("2026-12-01T00:00:00Z");
            let to = t("2026-12-02T00:00:00Z");
            let mut history: Vec<StateChange> = changes
                .iter()
                .map(|(s, st)| StateChange { at: from.checked_add(jiff::SignedDuration::from_secs(*s)).unwrap(), status: *st })
                .collect();
            history.sort_by_key(|c| c.at);
            let created = t("2026-11-01T00:00:00Z");
            let u = uptime(&history, created, from, to);
            if let Some(p) = u.percent {
                prop_assert!((0.0..=100.0).contains(&p), "{}", p);
            }
            // Without outages, maintenance is never downtime: 100 %, or nothing counted.
            let calm: Vec<StateChange> = history
                .iter()
                .map(|c| match c.status {
                    ComponentStatus::PartialOutage | ComponentStatus::MajorOutage => StateChange { status: ComponentStatus::Operational, ..*c },
                    _ => *c,
                })
                .collect();
            let v = uptime(&calm, created, from, to);
            prop_assert!(v.percent.is_none() || v.percent == Some(100.0), "{:?}", v.percent);
        }
    }

    #[test]
    fn page_settings_are_checked_naming_the_field_at_fault() {
        let field = |p: PageSettings| match p.checked() {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let base = PageSettings::default;
        assert_eq!(field(PageSettings { name: " ".into(), ..base() }), "name");
        assert_eq!(field(PageSettings { url: Some("ftp://x".into()), ..base() }), "url");
        assert_eq!(field(PageSettings { time_zone: "Mars/Base".into(), ..base() }), "time_zone");
        assert_eq!(field(PageSettings { language: "tlh".into(), ..base() }), "language");
        assert_eq!(field(PageSettings { logo_url: Some("javascript:alert(1)".into()), ..base() }), "logo_url");
        let link = |url: &str| PageLink { label: "Support".into(), url: url.into() };
        assert_eq!(
            field(PageSettings { links: vec![link("https://a.example"), link("https://")], ..base() }),
            "links[1].url"
        );
        let ok = PageSettings {
            name: " Acme status ".into(),
            url: Some("".into()),
            time_zone: "Europe/Berlin".into(),
            ..base()
        };
        let ok = ok.checked().unwrap();
        assert_eq!((ok.name.as_str(), ok.url), ("Acme status", None));
    }
}
