//! The slow-down of failed sign-ins.
//!
//! Failures are counted under three keys with their own allowance
//! ([`Limit`]): the pair of account and address ([`PER_PAIR`]: whoever
//! guesses one account from one place is slowed after a few tries), the
//! address ([`PER_ADDRESS`]: one place trying many accounts), and the
//! account alone ([`PER_ACCOUNT`]: a ceiling far higher, so guesses spread
//! over many addresses are slowed too). Someone else's wrong guesses thus
//! cannot lock an account's owner out from another address.

use std::collections::HashMap;
use std::sync::Mutex;
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

#[cfg(test)]
mod tests {
    use super::*;

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
