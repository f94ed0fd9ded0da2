//! Who is told that an incident changed: the live views watching it.
//!
//! Every write that puts entries on an incident's timeline calls
//! [`Changes::changed`] with its number after committing — the use cases,
//! the pager (escalation steps), the ingest task (alerts joining, acknowledged,
//! resolved) — and on PostgreSQL the entries other instances commit arrive
//! the same way (`LISTEN muster_incidents`, whose payload names the
//! incident). A change to INC-3 wakes INC-3's streams only.
//!
//! Credentials are watched apart from incidents: a token revoked or a user
//! disabled wakes every live stream (`credentials_watch`) without making
//! any incident's view read its timeline again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Notify, watch};

pub struct Changes {
    watched: Mutex<HashMap<u64, Weak<Notify>>>,
    /// Bumped whenever a token is revoked or a user disabled, so open
    /// live streams check their credentials again at once.
    credentials: std::sync::atomic::AtomicU64,
    /// The same count, for streams to wait on.
    credentials_tx: watch::Sender<u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            watched: Mutex::default(),
            credentials: std::sync::atomic::AtomicU64::new(0),
            credentials_tx: watch::Sender::new(0),
        }
    }
}

impl Changes {
    /// What to wait on for changes to incident `number`; held while watching.
    pub fn watch(&self, number: u64) -> Arc<Notify> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = watched.get(&number).and_then(Weak::upgrade) {
            return n;
        }
        if watched.len() >= 1024 {
            watched.retain(|_, w| w.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        watched.insert(number, Arc::downgrade(&n));
        n
    }

    /// Wakes everyone watching incident `number`.
    pub fn changed(&self, number: u64) {
        let found = self.watched.lock().unwrap_or_else(|p| p.into_inner()).get(&number).and_then(Weak::upgrade);
        if let Some(n) = found {
            n.notify_waiters();
        }
    }

    /// Wakes every watcher (a change may have been missed).
    pub fn changed_all(&self) {
        let all: Vec<Arc<Notify>> =
            self.watched.lock().unwrap_or_else(|p| p.into_inner()).values().filter_map(Weak::upgrade).collect();
        for n in all {
            n.notify_waiters();
        }
    }

    /// A token was revoked or a user disabled: every live stream on this
    /// instance wakes and checks its credential (other instances' streams
    /// find out at their next periodic check).
    pub fn credentials_changed(&self) {
        let now = self.credentials.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        self.credentials_tx.send_replace(now);
    }

    /// What a live stream waits on to hear of [`Changes::credentials_changed`].
    pub fn credentials_watch(&self) -> watch::Receiver<u64> {
        self.credentials_tx.subscribe()
    }

    /// How many times credentials changed; a stream re-checks when it moved.
    pub fn credentials_version(&self) -> u64 {
        self.credentials.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Incidents watched now.
    pub fn watched(&self) -> usize {
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(f: std::pin::Pin<&mut impl std::future::Future>) -> bool {
        f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop())).is_ready()
    }

    #[tokio::test]
    async fn a_change_wakes_the_watchers_of_that_incident_only() {
        let changes = Changes::default();
        let (three, four) = (changes.watch(3), changes.watch(4));
        let (woken3, woken4) = (three.notified(), four.notified());
        tokio::pin!(woken3, woken4);
        woken3.as_mut().enable();
        woken4.as_mut().enable();
        changes.changed(3);
        assert!(ready(woken3.as_mut()), "INC-3's watcher wakes");
        assert!(!ready(woken4.as_mut()), "INC-4's does not");
        changes.changed_all();
        assert!(ready(woken4.as_mut()));
    }

    #[tokio::test]
    async fn a_revoked_credential_wakes_the_credential_watchers_and_no_incident() {
        let changes = Changes::default();
        let three = changes.watch(3);
        let mut credentials = changes.credentials_watch();
        let woken3 = three.notified();
        tokio::pin!(woken3);
        woken3.as_mut().enable();
        changes.credentials_changed();
        assert!(credentials.has_changed().unwrap(), "the streams hear of it");
        assert_eq!(*credentials.borrow_and_update(), changes.credentials_version());
        assert!(!ready(woken3.as_mut()), "no incident's view reads its timeline for it");
    }

    #[test]
    fn watchers_share_one_notify_per_incident_and_it_goes_when_they_do() {
        let changes = Changes::default();
        let (a, b) = (changes.watch(3), changes.watch(3));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(changes.watched(), 1);
        drop((a, b));
        assert_eq!(changes.watched(), 0);
    }
}
