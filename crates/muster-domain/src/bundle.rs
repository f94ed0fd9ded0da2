//! Notifications bundled per person: in an alert storm a person is told of
//! the first page at once and of the rest in one follow-up, not once per
//! alert.
//!
//! While a person has an unanswered notification from a service, further
//! pages for them on that service within the service's window (default
//! [`DEFAULT_WINDOW_SECONDS`]) are *folded*: they are notified together in
//! one follow-up when the window closes ("37 more alerts on checkout"),
//! with one link that acknowledges them all. The first page of a storm is
//! never delayed, and every page is still a page: it is notified (the
//! person is on its current step), escalates on its own timer and can be
//! answered one by one. Only the messages are bundled.
//!
//! Pages that are not about a service's alert (a page sent by hand to a
//! person or for a role) are never folded: someone asked for that person.
//!
//! ```text
//!  page 1 ──► notified at once ─┐ window opens: [t, t + window)
//!  page 2 ──► folded ───────────┤
//!  …                            │
//!  page 37 ─► folded ───────────┴─► at t + window: one follow-up for pages 2–37
//!  page 38 (after the window, page 1 still unanswered) ─► folded into the next window
//!  page 39 (everything answered) ─► notified at once, a new window opens
//! ```

use crate::Timestamp;

/// The window of a service that does not set its own.
pub const DEFAULT_WINDOW_SECONDS: u32 = 60;
/// The longest window a service may set: longer would hold a storm's
/// follow-up back for too long.
pub const MAX_WINDOW_SECONDS: u32 = 3600;

/// A person's current window on a service, as the store found it (locked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub closes_at: Timestamp,
    /// The bundle pages fold into, once one was folded.
    pub bundle: Option<u64>,
    /// Whether a page of this window (the one notified on its own, or one
    /// folded) is still waiting for an answer.
    pub unanswered: bool,
}

/// What a page's notifications for one person do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Go out on their own, now (or after the person's own delays), and
    /// open a new window, closing at `closes_at`, with this page as its
    /// lead.
    Notify { closes_at: Timestamp },
    /// Go out only as part of the follow-up of `bundle` (a new bundle when
    /// `None`), due at `closes_at`.
    Fold { bundle: Option<u64>, closes_at: Timestamp },
    /// The service bundles nothing: notify, and keep no window.
    Alone,
}

/// Decides whether a page notifies a person on its own or folds into their
/// window on its service, at `now`, with the service's window of
/// `window_seconds` (0: never bundle).
pub fn decide(window: Option<&Window>, now: Timestamp, window_seconds: u32) -> Fold {
    if window_seconds == 0 {
        return Fold::Alone;
    }
    let len = jiff::SignedDuration::from_secs(i64::from(window_seconds.min(MAX_WINDOW_SECONDS)));
    let later = now.checked_add(len).unwrap_or(now);
    match window {
        // Nothing unanswered: the person is told at once.
        None => Fold::Notify { closes_at: later },
        Some(w) if !w.unanswered => Fold::Notify { closes_at: later },
        Some(w) if now < w.closes_at => Fold::Fold { bundle: w.bundle, closes_at: w.closes_at },
        // The storm goes on past the window and nothing was answered: the
        // next follow-up is one window away, not at once.
        Some(_) => Fold::Fold { bundle: None, closes_at: later },
    }
}

/// The first line of a follow-up: "37 more alerts on checkout".
pub fn summary(count: usize, service: &str) -> String {
    let what = if count == 1 { "alert" } else { "alerts" };
    format!("{count} more {what} on {service}")
}

/// Checks a service's window setting.
pub fn check_window(seconds: i64) -> Result<u32, String> {
    if !(0..=i64::from(MAX_WINDOW_SECONDS)).contains(&seconds) {
        return Err(format!(
            "must be between 0 (every page notifies on its own) and {MAX_WINDOW_SECONDS} seconds; got {seconds}"
        ));
    }
    Ok(seconds as u32)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn the_first_page_notifies_at_once_and_opens_a_window() {
        assert_eq!(decide(None, at(0), 60), Fold::Notify { closes_at: at(60) });
    }

    #[test]
    fn a_page_inside_an_unanswered_window_folds_into_its_bundle() {
        let w = Window { closes_at: at(60), bundle: Some(4), unanswered: true };
        assert_eq!(decide(Some(&w), at(10), 60), Fold::Fold { bundle: Some(4), closes_at: at(60) });
        let first = Window { bundle: None, ..w };
        assert_eq!(decide(Some(&first), at(10), 60), Fold::Fold { bundle: None, closes_at: at(60) });
    }

    #[test]
    fn a_page_after_everything_was_answered_notifies_at_once() {
        let w = Window { closes_at: at(60), bundle: Some(4), unanswered: false };
        assert_eq!(decide(Some(&w), at(10), 60), Fold::Notify { closes_at: at(70) });
    }

    #[test]
    fn a_storm_longer_than_the_window_is_told_once_a_window() {
        let w = Window { closes_at: at(60), bundle: Some(4), unanswered: true };
        assert_eq!(decide(Some(&w), at(61), 60), Fold::Fold { bundle: None, closes_at: at(121) });
    }

    #[test]
    fn a_service_without_a_window_notifies_every_page() {
        let w = Window { closes_at: at(60), bundle: Some(4), unanswered: true };
        assert_eq!(decide(Some(&w), at(10), 0), Fold::Alone);
    }

    #[test]
    fn a_follow_up_counts_its_alerts() {
        assert_eq!(summary(37, "checkout"), "37 more alerts on checkout");
        assert_eq!(summary(1, "checkout"), "1 more alert on checkout");
    }

    #[test]
    fn a_window_is_checked() {
        assert_eq!(check_window(0), Ok(0));
        assert_eq!(check_window(3600), Ok(3600));
        assert!(check_window(-1).unwrap_err().contains("between 0"));
        assert!(check_window(3601).is_err());
    }

    /// One person's storm on one service, replayed through `decide` as the
    /// store applies it: how many messages they get and when.
    fn replay(arrivals: &[i64], answered_after: Option<usize>, window: u32) -> (Vec<i64>, Vec<(i64, usize)>) {
        let mut current: Option<Window> = None;
        let mut alone = Vec::new();
        // bundle id → (due, pages)
        let mut bundles: Vec<(i64, usize)> = Vec::new();
        for (i, t) in arrivals.iter().enumerate() {
            if let (Some(n), Some(w)) = (answered_after, current.as_mut())
                && i == n
            {
                w.unanswered = false;
            }
            match decide(current.as_ref(), at(*t), window) {
                Fold::Notify { closes_at } => {
                    alone.push(*t);
                    current = Some(Window { closes_at, bundle: None, unanswered: true });
                }
                Fold::Alone => alone.push(*t),
                Fold::Fold { bundle: Some(b), .. } => bundles[b as usize].1 += 1,
                Fold::Fold { bundle: None, closes_at } => {
                    bundles.push((closes_at.as_second() - 1_800_000_000, 1));
                    current = Some(Window { closes_at, bundle: Some(bundles.len() as u64 - 1), unanswered: true });
                }
            }
        }
        (alone, bundles)
    }

    proptest! {
        /// However pages arrive, the first is told at once, none is lost
        /// (told on its own or in exactly one follow-up), no follow-up is
        /// due later than one window after its first page, and while
        /// nothing is answered a person gets at most one message per window.
        #[test]
        fn a_storm_tells_a_person_of_every_page_once_and_rarely(
            mut gaps in proptest::collection::vec(0i64..30, 1..200),
            window in 1u32..120,
        ) {
            gaps[0] = 0;
            let arrivals: Vec<i64> = gaps.iter().scan(0, |t, g| { *t += g; Some(*t) }).collect();
            let (alone, bundles) = replay(&arrivals, None, window);
            prop_assert_eq!(alone.first().copied(), Some(arrivals[0]));
            prop_assert_eq!(alone.len() + bundles.iter().map(|b| b.1).sum::<usize>(), arrivals.len());
            // Unanswered: only the first goes out on its own.
            prop_assert_eq!(alone.len(), 1);
            let span = arrivals.last().unwrap() - arrivals[0];
            let messages = alone.len() + bundles.len();
            prop_assert!(messages as i64 <= 2 + span / i64::from(window), "{messages} messages over {span} s");
            for (due, _) in &bundles {
                prop_assert!(*due <= arrivals.last().unwrap() + i64::from(window));
            }
        }

        /// Once everything was answered, the next page is told at once.
        #[test]
        fn after_an_answer_the_next_page_is_never_held_back(
            n in 2usize..50,
            answered in 1usize..50,
            window in 1u32..120,
        ) {
            let answered = answered.min(n - 1);
            let arrivals: Vec<i64> = (0..n as i64).collect();
            let (alone, _) = replay(&arrivals, Some(answered), window);
            prop_assert!(alone.contains(&arrivals[answered]));
        }
    }
}
