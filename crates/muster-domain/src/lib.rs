//! Muster's pure rules. Nothing in this crate does IO, talks to a database or
//! knows about HTTP: every function takes state and a command and returns new
//! state and events, or an error that says why not. That makes the rules easy
//! to test exhaustively (see the property tests in `incident.rs`).
//!
//! # Layout
//!
//! - [`action`]: actions tracked as things — owner, due time, status,
//!   ticket, follow-ups and when their owners are reminded.
//! - [`access`]: who may do what — the one table of permissions, the
//!   actor's standing towards an incident, service, schedule or user.
//! - [`alert`]: severities, alert statuses and actions, integration and
//!   dedup keys, auto-declare rules and the impact matrix.
//! - [`paging`]: escalation policies: steps, targets, repeats, and who a
//!   step notifies at an instant.
//! - [`page`]: pages and their escalation: states, what a step's timer
//!   does, declines, and which contact methods notify a person when.
//! - [`insights`]: across incidents — counts, the durations' median, p90
//!   and mean, incidents per service, the alerts that declare most, pages
//!   per person, time in role, overdue updates.
//! - [`intake`]: what alerts do to incidents and pages: rejoin or
//!   auto-declare (title, summary, first responder), the automatic page,
//!   alert status moves, ending an alert's pages.
//! - [`egress`]: which addresses webhooks may reach (not loopback,
//!   link-local, private…, unless the operator allows them), and networks
//!   written as CIDRs.
//! - [`limits`]: every limit on input (layers, windows, alerts per
//!   payload, ids per bulk action, streams, contact methods …), in one place.
//! - [`outbox`]: the side effects to deliver (page steps, webhooks, mail)
//!   as one enum, their stored form and which lane they take.
//! - [`priority`], [`status`]: the incident's priority and its lifecycle,
//!   with the allowed status moves.
//! - [`user`]: handles, permission levels and the acting user.
//! - [`role`]: the seed's roles as data (built-in kinds, custom roles, scopes)
//!   and the required roles per priority.
//! - [`incident`]: the incident aggregate. Commands (`declare`, `update`,
//!   `assign`, `relieve`, `add_entry`) are validated here and produce
//!   [`incident::Event`]s; [`incident::Incident::apply`] folds them into state.
//!   Every command also re-renders the room topic and records a
//!   `topic_changed` event when it differs.
//! - [`room`]: the incident room's input line: a message, or a command
//!   (`/role tech_lead @carol database`, `/status identified` …).
//! - [`schedule`]: on-call schedules: rotations, restrictions, overrides,
//!   who is on call at an instant, shifts between two instants; DST-correct.
//! - [`token`]: API and calendar feed tokens: their kinds, names, and when
//!   one is accepted (not revoked, not expired, its user not disabled).
//! - [`stakeholder`]: stakeholder groups (members, emails, webhooks,
//!   filtered by priority, service and audience) and followers: whom a
//!   published update reaches, each once.
//! - [`statuspage`]: the public status page's rules: component states,
//!   the page's indicator (the worst component wins), a public incident's
//!   impact, a day's uptime (maintenance left out), in Statuspage's words.
//! - [`topic`]: the one-line room topic rendered from state.
//! - [`timeline`]: what each event looks like on the timeline (kind, text,
//!   data) and the hash chain that makes the timeline tamper-evident.

pub mod access;
pub mod action;
pub mod alert;
pub mod bundle;
pub mod cadence;
pub mod egress;
pub mod error;
pub mod incident;
pub mod insights;
pub mod intake;
pub mod limits;
pub mod maintenance;
pub mod outbox;
pub mod page;
pub mod paging;
pub mod postmortem;
pub mod priority;
pub mod role;
pub mod room;
pub mod schedule;
pub mod stakeholder;
pub mod status;
pub mod statuspage;
pub mod support;
pub mod timeline;
pub mod token;
pub mod topic;
pub mod update;
pub mod user;
pub mod workstream;

pub use error::DomainError;
pub use incident::{Assignment, Change, Command, Event, Incident, IncidentRef};
pub use priority::Priority;
pub use role::{RequiredRoles, RoleCatalog, RoleDef, RoleKey, RoleKind, Scope};
pub use status::Status;
pub use user::{Actor, Handle, Permission};

/// Times are UTC instants throughout.
pub use jiff::Timestamp;

/// The most items one page of a list answers with.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// How many items a list answers with: `default` when the caller did not
/// say, else what they asked for, from 1 to [`MAX_PAGE_SIZE`].
pub fn page_size(limit: Option<u32>, default: u32) -> Result<u32, DomainError> {
    match limit {
        None => Ok(default.clamp(1, MAX_PAGE_SIZE)),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(DomainError::invalid("limit", format!("limit is from 1 to {MAX_PAGE_SIZE}"))),
    }
}

#[cfg(test)]
mod page_size_tests {
    use super::*;

    #[test]
    fn a_page_size_outside_one_to_a_thousand_is_refused() {
        assert_eq!(page_size(None, 50), Ok(50));
        assert_eq!(page_size(Some(1), 50), Ok(1));
        assert_eq!(page_size(Some(MAX_PAGE_SIZE), 50), Ok(MAX_PAGE_SIZE));
        assert!(page_size(Some(0), 50).is_err());
        assert!(page_size(Some(MAX_PAGE_SIZE + 1), 50).is_err());
    }
}
