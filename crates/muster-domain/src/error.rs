use thiserror::Error;

/// Why a command was refused. Each variant maps to one HTTP status at the edge;
/// the message is written for the person who issued the command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A value does not parse or is out of range. `field` names the input.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The actor may not do this; the message says who may.
    #[error("{0}")]
    Forbidden(String),
    /// The command is well formed but conflicts with the incident's state.
    #[error("{0}")]
    Conflict(String),
    /// Something the command refers to does not exist.
    #[error("{field}: {message}")]
    NotFound { field: String, message: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::NotFound { field: field.into(), message: message.into() }
    }
}
