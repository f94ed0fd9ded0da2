//! The slow-down of failed sign-ins, per account and per address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before attempts are slowed down.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Keys the throttle remembers at most.
const MAX_KEYS: usize = 100_000;

/// Failed attempts per key (an account, or an address).
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<String, (u32, Instant)>>);

impl Throttle {
    /// How long `key` must still wait before its next attempt, if at all.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (failures, last) = map.get(key)?;
        if *failures < FREE_FAILURES {
            return None;
        }
        let wait = Duration::from_secs(1u64 << (failures - FREE_FAILURES).min(10)).min(MAX_WAIT);
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
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.wait("user:bob", start), None);
            t.fail("user:bob", start);
        }
        assert_eq!(t.wait("user:bob", start), Some(Duration::from_secs(1)));
        assert_eq!(t.wait("user:bob", start + Duration::from_secs(1)), None);
        t.fail("user:bob", start + Duration::from_secs(1));
        assert_eq!(t.wait("user:bob", start + Duration::from_secs(1)), Some(Duration::from_secs(2)));
        assert_eq!(t.wait("user:alice", start), None, "each account on its own");
        t.clear("user:bob");
        assert_eq!(t.wait("user:bob", start + Duration::from_secs(1)), None);
    }
}
