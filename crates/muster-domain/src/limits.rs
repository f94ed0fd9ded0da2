//! Every limit on input, in one place, so the numbers the code enforces, the
//! README lists and the tests try are the same. Each bounds the work or the
//! storage one request (or one user) can cause; a request beyond one gets a
//! 4xx problem naming the field.

use std::time::Duration;

/// Layers in one schedule.
pub const MAX_LAYERS: usize = 20;

/// Restriction windows in one schedule, all layers together.
pub const MAX_WINDOWS: usize = 50;

/// People in one layer's rotation.
pub const MAX_ROTATION_USERS: usize = 100;

/// The longest span one shift listing covers (`from` to `to`).
pub const MAX_SHIFT_SPAN_DAYS: i64 = 366;

/// Characters in an alert's or a change's summary: PagerDuty's documented
/// maximum for `payload.summary`. Longer ones are refused on every ingest
/// endpoint (Alertmanager's annotations, which set no limit, are cut).
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// A rotation starting more than this many days after its schedule is made
/// is accepted with a warning (a typo such as 2030 puts nobody on call).
pub const ROTATION_FAR_START_DAYS: i64 = 90;

/// A calendar feed's window: shifts from this many days back …
pub const FEED_DAYS_BACK: i64 = 30;

/// … to this many days ahead.
pub const FEED_DAYS_AHEAD: i64 = 180;

/// A feed's shifts are computed between fixed points on a grid of this
/// many days (around the window), so that a shift that began before the
/// window or ends after it keeps its real start and end, and so its UID,
/// from one fetch to the next.
pub const FEED_GRID_DAYS: i64 = 30;

// The longest computation a feed makes is one shift listing.
const _: () = assert!(4 * FEED_GRID_DAYS + FEED_DAYS_BACK + FEED_DAYS_AHEAD <= MAX_SHIFT_SPAN_DAYS);

/// Shifts in one listing; a listing that would hold more is refused.
pub const MAX_SHIFTS: usize = 10_000;

/// The step budget of one shift listing: moments at which who is on call
/// may change (handoffs, window edges, overrides, clock changes) that one
/// computation examines. A span with more is refused rather than computed,
/// so no schedule, however built, keeps a thread busy for long.
pub const MAX_SCHEDULE_STEPS: usize = 200_000;

/// Alerts in one Alertmanager webhook payload. Alertmanager itself sends
/// all of a group's alerts in one payload, so this is generous.
pub const MAX_ALERTS_PER_PAYLOAD: usize = 1_000;

/// Ids in one bulk action (acknowledging alerts from the triage list).
pub const MAX_BULK_IDS: usize = 500;

/// Live streams (open incident pages) one user may hold at once.
pub const MAX_LIVE_STREAMS_PER_USER: usize = 20;

/// Contact methods per user.
pub const MAX_CONTACT_METHODS: usize = 10;

/// Notification rules per user.
pub const MAX_NOTIFICATION_RULES: usize = 20;

/// Test notifications per user within [`TEST_NOTIFICATION_WINDOW`].
pub const MAX_TEST_NOTIFICATIONS: usize = 5;

/// The window [`MAX_TEST_NOTIFICATIONS`] counts in.
pub const TEST_NOTIFICATION_WINDOW: Duration = Duration::from_secs(60);

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may stall between two pieces of it.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Characters in one written section of a postmortem (its summary, root
/// cause, …).
pub const POSTMORTEM_SECTION: usize = 20_000;
