//! Alerts as the first responder sees them: severities, the dedup rules,
//! integration keys and the impact matrix that suggests a priority.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{DomainError, Priority};

/// PagerDuty's four severities, which Muster uses for every source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::Error, Severity::Warning, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Reads a Prometheus `severity` label, whose values are a convention
    /// rather than a standard: `page` and `critical` are critical, `error` and
    /// `major` error, `info`/`informational`/`none` info, anything else warning.
    pub fn from_label(label: Option<&str>) -> Severity {
        match label.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
            Some("critical" | "page" | "fatal" | "emergency" | "p1") => Severity::Critical,
            Some("error" | "major" | "high" | "p2") => Severity::Error,
            Some("info" | "informational" | "none" | "low" | "p4" | "p5") => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

impl FromStr for Severity {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            DomainError::invalid(
                "severity",
                format!("unknown severity {s:?}, expected one of critical, error, warning, info"),
            )
        })
    }
}

impl TryFrom<String> for Severity {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        s.parse()
    }
}

impl From<Severity> for String {
    fn from(s: Severity) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 3] = [AlertStatus::Triggered, AlertStatus::Acknowledged, AlertStatus::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl FromStr for AlertStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertStatus::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            DomainError::invalid(
                "status",
                format!("unknown alert status {s:?}, expected one of triggered, acknowledged, resolved"),
            )
        })
    }
}

impl TryFrom<String> for AlertStatus {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AlertStatus> for String {
    fn from(s: AlertStatus) -> String {
        s.as_str().to_owned()
    }
}

/// What a monitoring event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    Trigger,
    Acknowledge,
    Resolve,
}

impl FromStr for AlertAction {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trigger" => Ok(AlertAction::Trigger),
            "acknowledge" => Ok(AlertAction::Acknowledge),
            "resolve" => Ok(AlertAction::Resolve),
            _ => Err(DomainError::invalid(
                "event_action",
                format!("unknown action {s:?}, expected one of trigger, acknowledge, resolve"),
            )),
        }
    }
}

/// A service's integration key: 32 lowercase hex characters, usable as a
/// PagerDuty routing key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IntegrationKey(String);

impl IntegrationKey {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(IntegrationKey(s.to_owned()))
        } else {
            Err(DomainError::invalid("routing_key", "an integration key is 32 lowercase hex characters"))
        }
    }

    /// A key from 16 random bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        IntegrationKey(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IntegrationKey {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        IntegrationKey::parse(&s)
    }
}

impl From<IntegrationKey> for String {
    fn from(k: IntegrationKey) -> String {
        k.0
    }
}

/// The key that makes repeated events one alert. At most 255 bytes (PagerDuty's limit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DedupKey(String);

impl DedupKey {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() || s.len() > 255 {
            return Err(DomainError::invalid("dedup_key", "a dedup key has 1-255 bytes"));
        }
        Ok(DedupKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DedupKey {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DedupKey::parse(&s)
    }
}

impl From<DedupKey> for String {
    fn from(k: DedupKey) -> String {
        k.0
    }
}

/// Which severities declare an incident at once, and at which priority.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoDeclare(pub BTreeMap<Severity, Priority>);

impl AutoDeclare {
    pub fn priority_for(&self, severity: Severity) -> Option<Priority> {
        self.0.get(&severity).copied()
    }
}

/// How many customers an incident touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerImpact {
    None,
    Some,
    Many,
    All,
}

impl CustomerImpact {
    pub const ALL: [CustomerImpact; 4] =
        [CustomerImpact::None, CustomerImpact::Some, CustomerImpact::Many, CustomerImpact::All];

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerImpact::None => "none",
            CustomerImpact::Some => "some",
            CustomerImpact::Many => "many",
            CustomerImpact::All => "all",
        }
    }
}

impl FromStr for CustomerImpact {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(CustomerImpact::None),
            "some" => Ok(CustomerImpact::Some),
            "many" => Ok(CustomerImpact::Many),
            "all" => Ok(CustomerImpact::All),
            _ => Err(DomainError::invalid(
                "customer_impact",
                format!("unknown customer impact {s:?}, expected one of none, some, many, all"),
            )),
        }
    }
}

/// The first responder's assessment of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    pub customer_impact: CustomerImpact,
    /// How many services are affected (at least the alert's own).
    pub services_affected: u32,
    pub data_loss: bool,
    pub security: bool,
}

/// Turns an impact assessment into a suggested priority. The default:
///
/// | customer impact | priority |
/// |---|---|
/// | all | P1 |
/// | many | P2 |
/// | some | P3 |
/// | none | P4 |
///
/// then data loss or a security issue makes it P1, and `escalate_at` or more
/// affected services raise it one step (P4 → P3, P3 → P2, P2 → P1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactMatrix {
    pub customer_impact: BTreeMap<CustomerImpact, Priority>,
    pub data_loss: Priority,
    pub security: Priority,
    pub escalate_at_services: u32,
}

impl Default for ImpactMatrix {
    fn default() -> Self {
        ImpactMatrix {
            customer_impact: BTreeMap::from([
                (CustomerImpact::None, Priority::P4),
                (CustomerImpact::Some, Priority::P3),
                (CustomerImpact::Many, Priority::P2),
                (CustomerImpact::All, Priority::P1),
            ]),
            data_loss: Priority::P1,
            security: Priority::P1,
            escalate_at_services: 3,
        }
    }
}

impl ImpactMatrix {
    pub fn suggest(&self, impact: &Impact) -> Priority {
        let mut p = self.customer_impact.get(&impact.customer_impact).copied().unwrap_or(Priority::P3);
        if impact.services_affected >= self.escalate_at_services {
            p = match p {
                Priority::P4 => Priority::P3,
                Priority::P3 => Priority::P2,
                _ => Priority::P1,
            };
        }
        if impact.data_loss {
            p = p.min(self.data_loss);
        }
        if impact.security {
            p = p.min(self.security);
        }
        p
    }
}

/// What an incident keeps of an alert linked to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRef {
    pub id: u64,
    pub service: String,
    pub summary: String,
    pub severity: Severity,
    pub status: AlertStatus,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn impact(c: CustomerImpact, services: u32, data_loss: bool, security: bool) -> Impact {
        Impact { customer_impact: c, services_affected: services, data_loss, security }
    }

    #[test]
    fn the_default_matrix_follows_customer_impact() {
        let m = ImpactMatrix::default();
        assert_eq!(m.suggest(&impact(CustomerImpact::All, 1, false, false)), Priority::P1);
        assert_eq!(m.suggest(&impact(CustomerImpact::Many, 1, false, false)), Priority::P2);
        assert_eq!(m.suggest(&impact(CustomerImpact::Some, 1, false, false)), Priority::P3);
        assert_eq!(m.suggest(&impact(CustomerImpact::None, 1, false, false)), Priority::P4);
    }

    #[test]
    fn data_loss_or_security_is_a_p1_and_many_services_raise_a_step() {
        let m = ImpactMatrix::default();
        assert_eq!(m.suggest(&impact(CustomerImpact::None, 1, true, false)), Priority::P1);
        assert_eq!(m.suggest(&impact(CustomerImpact::None, 1, false, true)), Priority::P1);
        assert_eq!(m.suggest(&impact(CustomerImpact::Some, 3, false, false)), Priority::P2);
    }

    #[test]
    fn prometheus_severity_labels_map_to_severities() {
        assert_eq!(Severity::from_label(Some("page")), Severity::Critical);
        assert_eq!(Severity::from_label(Some("Critical")), Severity::Critical);
        assert_eq!(Severity::from_label(Some("warning")), Severity::Warning);
        assert_eq!(Severity::from_label(None), Severity::Warning);
    }

    #[test]
    fn integration_keys_are_32_lowercase_hex_characters() {
        assert!(IntegrationKey::parse("0123456789abcdef0123456789abcdef").is_ok());
        assert!(IntegrationKey::parse("R0UTINGKEY0123456789abcdef012345").is_err());
        assert!(IntegrationKey::parse("abc").is_err());
    }

    proptest! {
        #[test]
        fn more_impact_never_lowers_the_priority(c in 0..4usize, s in 0..6u32, d: bool, x: bool, more in 0..4usize) {
            let all = [CustomerImpact::None, CustomerImpact::Some, CustomerImpact::Many, CustomerImpact::All];
            let m = ImpactMatrix::default();
            let base = m.suggest(&impact(all[c], s, d, x));
            let worse = m.suggest(&impact(all[c.max(more)], s + 1, d, x));
            prop_assert!(worse <= base);
        }
    }
}
