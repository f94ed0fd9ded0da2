use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A user's handle: 1–32 characters of lowercase letters, digits, `-`, `_`
/// and `.`, starting with a letter or digit. Shown as `@handle`. A leading `@`
/// is accepted on input and dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let s = s.strip_prefix('@').unwrap_or(s);
        let valid_start = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_rest =
            s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if s.is_empty() || s.len() > 32 || !valid_start || !valid_rest {
            return Err(DomainError::invalid(
                "handle",
                format!(
                    "{s:?} is not a valid handle: use 1-32 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
                ),
            ));
        }
        Ok(Handle(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Handle {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Handle::parse(s)
    }
}

impl TryFrom<String> for Handle {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Handle::parse(&s)
    }
}

impl From<Handle> for String {
    fn from(h: Handle) -> String {
        h.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do across Muster. Incident authority (who may assign
/// roles) comes on top of this, from the roles held in that incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(try_from = "String", into = "String")]
pub enum Permission {
    Admin,
    #[default]
    Responder,
    Viewer,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Admin, Permission::Responder, Permission::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Admin => "admin",
            Permission::Responder => "responder",
            Permission::Viewer => "viewer",
        }
    }
}

impl FromStr for Permission {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "admin" => Ok(Permission::Admin),
            "responder" => Ok(Permission::Responder),
            "viewer" => Ok(Permission::Viewer),
            _ => Err(DomainError::invalid(
                "permission",
                format!("unknown permission {s:?}, expected one of admin, responder, viewer"),
            )),
        }
    }
}

impl TryFrom<String> for Permission {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.as_str().to_owned()
    }
}

/// The user a command comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub handle: Handle,
    pub permission: Permission,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.permission == Permission::Admin
    }

    /// Viewers read everything and change nothing.
    pub fn require_write(&self) -> Result<(), DomainError> {
        if self.permission == Permission::Viewer {
            Err(DomainError::Forbidden(format!(
                "@{} is a viewer: viewers can read everything and change nothing",
                self.handle
            )))
        } else {
            Ok(())
        }
    }

    pub fn require_admin(&self) -> Result<(), DomainError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(DomainError::Forbidden(format!("only admins may do this, and @{} is not one", self.handle)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_drops_a_leading_at_sign() {
        assert_eq!(Handle::parse("@alice").unwrap().as_str(), "alice");
    }

    #[test]
    fn a_handle_rejects_uppercase_spaces_and_empty_input() {
        for bad in ["", "@", "Alice", "al ice", "-alice", &"a".repeat(33)] {
            assert!(Handle::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
