//! What a use case can fail with, by audience: the caller's mistakes and
//! refusals (`Refused`, `Conflict`, `NotFound`), which the edges show as
//! they are, and ours (`Store`, `Internal`), which they log and hide.

use muster_domain::DomainError;
use muster_store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain refused: invalid input (naming the field), not allowed,
    /// a conflict with the state, or nothing there.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Something unique exists already (a handle, a role key).
    #[error("{0}")]
    Conflict(String),
    /// The thing asked for is not there.
    #[error("{0}")]
    NotFound(String),
    /// Too many of something in too short a time; try again after
    /// `retry_after`.
    #[error("{message}")]
    TooMany { message: String, retry_after: std::time::Duration },
    /// The database failed, or holds what cannot be read.
    #[error(transparent)]
    Store(StoreError),
    /// Something that cannot happen did.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(d) => Error::Refused(d),
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::NotFound(m) => Error::NotFound(m),
            other => Error::Store(other),
        }
    }
}
