//! The seed's roles as data.
//!
//! Built-in kinds cover every role the seed names; admins add custom roles
//! (say `subject_matter_expert`) to the [`RoleCatalog`]. Whether a role has a
//! single holder or many is a property of its kind: see [`RoleCatalog::many`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{DomainError, Priority};

/// The key of a custom role: 2–32 characters of lowercase letters, digits and
/// `_`, starting with a letter, and not the key of a built-in role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleKey(String);

impl RoleKey {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let ok = (2..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(DomainError::invalid(
                "key",
                format!(
                    "{s:?} is not a valid role key: use 2-32 lowercase letters, digits or '_', starting with a letter"
                ),
            ));
        }
        if RoleKind::builtin(s).is_some() {
            return Err(DomainError::Conflict(format!("{s:?} is a built-in role")));
        }
        Ok(RoleKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoleKey {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RoleKey::parse(&s)
    }
}

impl From<RoleKey> for String {
    fn from(k: RoleKey) -> String {
        k.0
    }
}

/// A role someone can hold in an incident.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RoleKind {
    FirstResponder,
    IncidentManager,
    BackupIncidentManager,
    /// Scope `internal` or `external`; no scope covers both audiences.
    CommunicationsManager,
    /// Scope is the workstream; several tech leads at once.
    TechLead,
    CustomerSupportLead,
    Scribe,
    Custom(RoleKey),
}

impl RoleKind {
    pub const BUILTIN: [RoleKind; 7] = [
        RoleKind::FirstResponder,
        RoleKind::IncidentManager,
        RoleKind::BackupIncidentManager,
        RoleKind::CommunicationsManager,
        RoleKind::TechLead,
        RoleKind::CustomerSupportLead,
        RoleKind::Scribe,
    ];

    fn builtin(s: &str) -> Option<RoleKind> {
        RoleKind::BUILTIN.into_iter().find(|k| k.key() == s)
    }

    pub fn key(&self) -> &str {
        match self {
            RoleKind::FirstResponder => "first_responder",
            RoleKind::IncidentManager => "incident_manager",
            RoleKind::BackupIncidentManager => "backup_incident_manager",
            RoleKind::CommunicationsManager => "communications_manager",
            RoleKind::TechLead => "tech_lead",
            RoleKind::CustomerSupportLead => "customer_support_lead",
            RoleKind::Scribe => "scribe",
            RoleKind::Custom(k) => k.as_str(),
        }
    }

    /// A human name for texts on the timeline.
    pub fn name(&self) -> String {
        match self {
            RoleKind::Custom(k) => k.as_str().replace('_', " "),
            builtin => builtin.key().replace('_', " "),
        }
    }
}

impl From<String> for RoleKind {
    /// Stored events may name any role ever defined; only input is checked
    /// against the catalog (see [`RoleCatalog::parse`]).
    fn from(s: String) -> Self {
        RoleKind::builtin(&s).unwrap_or(RoleKind::Custom(RoleKey(s)))
    }
}

impl From<RoleKind> for String {
    fn from(k: RoleKind) -> String {
        k.key().to_owned()
    }
}

impl fmt::Display for RoleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The audience a communications manager writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Internal,
    External,
}

impl Audience {
    pub const BOTH: [Audience; 2] = [Audience::Internal, Audience::External];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Internal => "internal",
            Audience::External => "external",
        }
    }

    pub fn other(self) -> Audience {
        match self {
            Audience::Internal => Audience::External,
            Audience::External => Audience::Internal,
        }
    }
}

/// What part of a role an assignment covers: the audience of a
/// communications manager, the workstream of a tech lead.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scope(String);

impl Scope {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn audience(&self) -> Option<Audience> {
        Audience::BOTH.into_iter().find(|a| a.as_str() == self.0)
    }

    pub fn of_audience(a: Audience) -> Scope {
        Scope(a.as_str().to_owned())
    }

    /// A workstream's name (a tech lead's scope), as `field` of the input:
    /// 1-64 characters, no `|` (the topic's separator) and no line breaks.
    pub fn workstream(name: &str, field: &str) -> Result<Scope, DomainError> {
        let raw = name.trim();
        if raw.is_empty() || name.chars().count() > 64 || raw.contains(['\n', '|']) {
            return Err(Scope::too_long(field));
        }
        Ok(Scope(raw.to_owned()))
    }

    fn too_long(field: &str) -> DomainError {
        DomainError::invalid(field, "a workstream name has 1-64 characters, no '|' and no line breaks")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An admin-defined role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    pub key: RoleKey,
    pub name: String,
    /// Several holders at once (like tech leads) rather than one.
    pub many: bool,
}

impl RoleDef {
    pub fn new(key: &str, name: &str, many: bool) -> Result<Self, DomainError> {
        let key = RoleKey::parse(key)?;
        let sent = name.chars().count();
        let name = name.trim();
        if name.is_empty() || sent > 64 {
            return Err(DomainError::invalid("name", "a role name has 1-64 characters"));
        }
        Ok(RoleDef { key, name: name.to_owned(), many })
    }
}

/// The roles that exist: the built-in ones and the custom ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleCatalog {
    pub custom: Vec<RoleDef>,
}

impl RoleCatalog {
    /// Parses a role named in input; unknown names are an error on `field`.
    pub fn parse(&self, s: &str, field: &str) -> Result<RoleKind, DomainError> {
        let s = s.trim();
        if let Some(k) = RoleKind::builtin(s) {
            return Ok(k);
        }
        self.custom.iter().find(|d| d.key.as_str() == s).map(|d| RoleKind::Custom(d.key.clone())).ok_or_else(|| {
            let mut known: Vec<&str> = RoleKind::BUILTIN.iter().map(|k| k.key()).collect();
            known.extend(self.custom.iter().map(|d| d.key.as_str()));
            DomainError::invalid(field, format!("unknown role {s:?}, expected one of {}", known.join(", ")))
        })
    }

    /// Whether several people may hold the role at once.
    pub fn many(&self, role: &RoleKind) -> bool {
        match role {
            RoleKind::TechLead => true,
            RoleKind::Custom(k) => self.custom.iter().any(|d| &d.key == k && d.many),
            _ => false,
        }
    }

    /// The short label used in the room topic.
    pub fn label(&self, role: &RoleKind) -> String {
        match role {
            RoleKind::FirstResponder => "FR".into(),
            RoleKind::IncidentManager => "IM".into(),
            RoleKind::BackupIncidentManager => "Backup IM".into(),
            RoleKind::CommunicationsManager => "Comms".into(),
            RoleKind::TechLead => "TL".into(),
            RoleKind::CustomerSupportLead => "CSL".into(),
            RoleKind::Scribe => "Scribe".into(),
            RoleKind::Custom(k) => {
                self.custom.iter().find(|d| &d.key == k).map(|d| d.name.clone()).unwrap_or_else(|| role.name())
            }
        }
    }

    /// Checks the scope given for a role: communications managers take
    /// `internal` or `external` (none covers both), tech leads and custom
    /// roles take a free workstream name, other roles take none.
    pub fn parse_scope(&self, role: &RoleKind, scope: Option<&str>) -> Result<Option<Scope>, DomainError> {
        let sent = scope.map_or(0, |s| s.chars().count());
        let Some(raw) = scope.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        match role {
            RoleKind::CommunicationsManager => match raw {
                "internal" | "external" => Ok(Some(Scope(raw.to_owned()))),
                _ => Err(DomainError::invalid(
                    "scope",
                    format!("a communications manager's scope is internal or external (none means both), not {raw:?}"),
                )),
            },
            RoleKind::TechLead | RoleKind::Custom(_) if sent > 64 => Err(Scope::too_long("scope")),
            RoleKind::TechLead | RoleKind::Custom(_) => Scope::workstream(raw, "scope").map(Some),
            other => Err(DomainError::invalid(
                "scope",
                format!("{} takes no scope; only tech_lead, communications_manager and custom roles do", other.key()),
            )),
        }
    }
}

/// Which roles each priority needs filled. Unfilled ones are the incident's
/// `missing_roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredRoles(pub BTreeMap<Priority, Vec<RoleKind>>);

impl Default for RequiredRoles {
    fn default() -> Self {
        use RoleKind::*;
        RequiredRoles(BTreeMap::from([
            (Priority::P1, vec![IncidentManager, TechLead, CommunicationsManager, Scribe]),
            (Priority::P2, vec![IncidentManager, TechLead]),
            (Priority::P3, vec![IncidentManager]),
            (Priority::P4, vec![IncidentManager]),
        ]))
    }
}

impl RequiredRoles {
    pub fn for_priority(&self, p: Priority) -> &[RoleKind] {
        self.0.get(&p).map(Vec::as_slice).unwrap_or(&[])
    }
}
