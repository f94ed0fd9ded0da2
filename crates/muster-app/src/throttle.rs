//! The slow-down of failed sign-ins.
//!
//! Failures are counted under three keys with their own allowance
//! ([`Limit`]): the pair of account and address ([`PER_PAIR`]: whoever
//! guesses one account from one place is slowed after a few tries), the
//! address ([`PER_ADDRESS`]: one place trying many accounts), and the
//! account alone ([`PER_ACCOUNT`]: a ceiling far higher, so guesses spread
//! over many addresses are slowed too). Someone else's wrong guesses thus
//! cannot lock an account's owner out from another address.
//!
//! Also how often one user may do something ([`Recent`]) and how many of
//! something one user may hold open at once ([`Slots`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many failures a key may have before its attempts are slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub free: u32,
}

/// One account from one address.
pub const PER_PAIR: Limit = Limit { free: 5 };
/// One address, whatever the accounts (an office behind one NAT shares it).
pub const PER_ADDRESS: Limit = Limit { free: 30 };
/// One account, from all addresses together.
pub const PER_ACCOUNT: Limit = Limit { free: 100 };

// The allowances grow from the pair to the address to the account.
const _: () = assert!(PER_PAIR.free < PER_ADDRESS.free && PER_ADDRESS.free < PER_ACCOUNT.free);

use muster_domain::Timestamp;

const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Keys the throttle remembers at most.
const MAX_KEYS: usize = 100_000;

/// Failed attempts per key (an account, or an address).
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<String, (u32, Instant)>>);

impl Throttle {
    /// How long `key` must still wait before its next attempt, if at all:
    /// after `limit.free` failures, each waits twice as long as the last.
    pub fn wait(&self, key: &str, limit: Limit, now: Instant) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (failures, last) = map.get(key)?;
        if *failures < limit.free {
            return None;
        }
        let wait = Duration::from_secs(1u64 << (failures - limit.free).min(10)).min(MAX_WAIT);
        let elapsed = now.saturating_duration_since(*last);
        (elapsed < wait).then(|| wait - elapsed)
    }

    pub fn fail(&self, key: &str, now: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, last)| now.saturating_duration_since(*last) < FORGET_AFTER);
            if map.len() >= MAX_KEYS {
                // A flood of keys: forget the quiet half rather than grow.
                let mut ages: Vec<Instant> = map.values().map(|(_, last)| *last).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                map.retain(|_, (_, last)| *last > cut);
            }
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) > FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
    }

    pub fn clear(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Takes back one failure counted in advance (an attempt that succeeded).
    pub fn undo(&self, key: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, _)) = map.get_mut(key) {
            *n = n.saturating_sub(1);
        }
    }
}

/// At most `max` actions per key within a sliding window, on the app's
/// clock (so tests step it). Keys with nothing recent are forgotten.
#[derive(Default)]
pub struct Recent(Mutex<HashMap<String, VecDeque<Timestamp>>>);

impl Recent {
    /// Counts one action at `now`, or says how long until one is allowed.
    pub fn admit(&self, key: &str, now: Timestamp, max: usize, window: Duration) -> Result<(), Duration> {
        let window = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let times = map.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
            times.pop_front();
        }
        if times.len() >= max.max(1) {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = window - now.duration_since(oldest);
            return Err(Duration::try_from(wait).unwrap_or(Duration::ZERO).max(Duration::from_secs(1)));
        }
        times.push_back(now);
        Ok(())
    }
}

/// How many of something each key holds at once (a user's open live
/// streams). A [`Slot`] gives its place back when dropped.
#[derive(Default, Clone)]
pub struct Slots(Arc<Mutex<HashMap<String, usize>>>);

pub struct Slot {
    slots: Slots,
    key: String,
}

impl Slots {
    /// A slot for `key`, unless it holds `max` already.
    pub fn take(&self, key: &str, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let held = map.entry(key.to_owned()).or_default();
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(Slot { slots: self.clone(), key: key.to_owned() })
    }

    pub fn held(&self, key: &str) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = map.get_mut(&self.key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_max_actions_a_window_and_is_told_how_long_to_wait() {
        let r = Recent::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| Timestamp::from_second(t0.as_second() + s).unwrap();
        let minute = Duration::from_secs(60);
        for i in 0..5 {
            assert_eq!(r.admit("bob", at(i * 10), 5, minute), Ok(()));
        }
        assert_eq!(r.admit("bob", at(50), 5, minute), Err(Duration::from_secs(10)));
        assert_eq!(r.admit("alice", at(50), 5, minute), Ok(()), "each key on its own");
        assert_eq!(r.admit("bob", at(60), 5, minute), Ok(()), "the first one left the window");
    }

    #[test]
    fn a_slot_is_given_back_when_dropped() {
        let s = Slots::default();
        let a = s.take("bob", 2).unwrap();
        let _b = s.take("bob", 2).unwrap();
        assert!(s.take("bob", 2).is_none());
        assert!(s.take("alice", 2).is_some());
        drop(a);
        assert_eq!(s.held("bob"), 1);
        assert!(s.take("bob", 2).is_some());
    }

    #[test]
    fn a_few_failures_are_free_then_each_waits_twice_as_long() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..PER_PAIR.free {
            assert_eq!(t.wait("user:bob", PER_PAIR, start), None);
            t.fail("user:bob", start);
        }
        assert_eq!(t.wait("user:bob", PER_PAIR, start), Some(Duration::from_secs(1)));
        assert_eq!(t.wait("user:bob", PER_ACCOUNT, start), None, "a higher limit is not reached yet");
        assert_eq!(t.wait("user:bob", PER_PAIR, start + Duration::from_secs(1)), None);
        t.fail("user:bob", start + Duration::from_secs(1));
        assert_eq!(t.wait("user:bob", PER_PAIR, start + Duration::from_secs(1)), Some(Duration::from_secs(2)));
        assert_eq!(t.wait("user:alice", PER_PAIR, start), None, "each key on its own");
        t.clear("user:bob");
        assert_eq!(t.wait("user:bob", PER_PAIR, start + Duration::from_secs(1)), None);
    }
}
