use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// An incident's lifecycle, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Status {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Investigating, Status::Identified, Status::Monitoring, Status::Resolved, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Open means people are still working on it: the role rules apply.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }

    /// The allowed moves:
    /// - forward among investigating → identified → monitoring → resolved,
    ///   skipping steps if the response went faster than the labels;
    /// - back to investigating from identified, monitoring or resolved
    ///   (the fix did not hold, or the incident reopens);
    /// - closed only from resolved, and closed is final.
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (Closed, _) => false,
            (Resolved, Closed) => true,
            (_, Closed) => false,
            (from, Investigating) => from != Investigating,
            (from, to) => to > from,
        }
    }
}

impl FromStr for Status {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|st| st.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid(
                "status",
                format!(
                    "unknown status {s:?}, expected one of investigating, identified, monitoring, resolved, closed"
                ),
            )
        })
    }
}

impl TryFrom<String> for Status {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Status> for String {
    fn from(s: Status) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn forward_moves_may_skip_steps() {
        assert!(Investigating.can_move_to(Resolved));
        assert!(Identified.can_move_to(Monitoring));
    }

    #[test]
    fn closing_is_only_possible_from_resolved_and_is_final() {
        assert!(!Investigating.can_move_to(Closed));
        assert!(Resolved.can_move_to(Closed));
        for to in super::Status::ALL {
            assert!(!Closed.can_move_to(to));
        }
    }

    #[test]
    fn a_resolved_incident_may_reopen_to_investigating_only() {
        assert!(Resolved.can_move_to(Investigating));
        assert!(!Resolved.can_move_to(Identified));
        assert!(!Resolved.can_move_to(Monitoring));
    }

    #[test]
    fn staying_in_place_is_not_a_move() {
        for s in super::Status::ALL {
            assert!(!s.can_move_to(s));
        }
    }
}
