//! Small helpers every query module uses: timestamps as stored
//! (microseconds), page sizes, unique violations.

use muster_domain::Timestamp;

use crate::StoreError;

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn timestamp(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("timestamp {us}: {e}")))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Page sizes are clamped to 1..=1000.
pub(crate) fn limit(l: u32) -> i64 {
    i64::from(l.clamp(1, 1000))
}
