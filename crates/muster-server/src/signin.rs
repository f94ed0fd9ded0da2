//! Passwords and browser sessions.
//!
//! Passwords are hashed with argon2id (a PHC string in `users`). A session
//! is 256 random bits in an HttpOnly cookie; the store keeps only its
//! SHA-256, with a CSRF token that every form of the session carries.
//! Guessing is slowed per account and per address: after a few failures,
//! each further attempt must wait twice as long as the last (up to 15
//! minutes), whether or not the password would have been right.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use muster_domain::{Actor, DomainError, Handle};
use muster_store::{Session, StoreError, User};
use rand::RngCore;

use crate::app::{App, Result};
use crate::auth::hash_token;

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;
/// Failures allowed before attempts are slowed down.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Keys the throttle remembers at most.
const MAX_KEYS: usize = 100_000;
/// Password checks at once (each takes ~19 MiB and a core for a moment).
pub const CONCURRENT_CHECKS: usize = 4;

/// The key for an address: IPv6 by its /64, which one holder has whole.
pub fn address_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("addr:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => format!("addr:{address}"),
    }
}

/// Why signing in did not work.
#[derive(Debug)]
pub enum SignInError {
    /// Wrong handle or password (which one is not said).
    Invalid,
    /// Too many failures: try again after this long.
    TooSoon(Duration),
    Store(StoreError),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        SignInError::Store(e)
    }
}

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

/// A password is 10-1024 characters.
pub fn check_password(password: &str) -> std::result::Result<(), DomainError> {
    let n = password.chars().count();
    if !(10..=1024).contains(&n) {
        return Err(DomainError::invalid("password", "a password has 10-1024 characters"));
    }
    Ok(())
}

fn hash_password(password: &str) -> std::result::Result<String, StoreError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("hashing a password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of nothing anyone types, verified when there is no user, so a
/// wrong handle takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that is never accepted").unwrap_or_default())
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl App {
    /// Sets a user's password: the user themself or an admin.
    pub async fn set_password(&self, actor: &Actor, user: &Handle, password: &str) -> Result<()> {
        if &actor.handle != user {
            actor
                .require_admin()
                .map_err(|_| DomainError::Forbidden(format!("@{} may only set their own password", actor.handle)))?;
        }
        check_password(password)?;
        self.user(user).await?;
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        self.store.set_password_hash(user, Some(&hash)).await
    }

    /// Signs in with a handle and password from `address`; returns the
    /// session's id (for the cookie) and the session.
    pub async fn sign_in(
        &self,
        handle: &str,
        password: &str,
        address: &str,
    ) -> std::result::Result<(String, Session, User), SignInError> {
        let now = Instant::now();
        // Handles are lower case; phones capitalise the first letter.
        let handle = handle.trim().trim_start_matches('@').to_ascii_lowercase();
        let parsed = Handle::parse(&handle).ok();
        let account = match &parsed {
            Some(h) => format!("user:{h}"),
            None => "user:(not a handle)".to_owned(),
        };
        let from = address_key(address);
        if let Some(wait) = [&account, &from].iter().filter_map(|k| self.throttle.wait(k, now)).max() {
            return Err(SignInError::TooSoon(wait));
        }
        // Count the attempt before checking it, so parallel guesses are
        // counted too; a success takes it back.
        self.throttle.fail(&account, now);
        self.throttle.fail(&from, now);
        let Ok(_permit) = self.password_checks.try_acquire() else {
            return Err(SignInError::TooSoon(Duration::from_secs(1)));
        };
        let user = match &parsed {
            Some(h) => self.store.user(h).await?,
            None => None,
        };
        let hash = match &user {
            Some(u) => self.store.password_hash(&u.handle).await?,
            None => None,
        };
        let given = password.to_owned();
        let stored = hash.clone().unwrap_or_else(|| decoy_hash().to_owned());
        let matches = tokio::task::spawn_blocking(move || verify_password(&given, &stored)).await.unwrap_or(false);
        let (Some(user), true, Some(_)) = (user, matches, hash) else {
            self.sign_in_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(SignInError::Invalid);
        };
        self.throttle.undo(&from);
        self.throttle.clear(&account);
        let id = random_hex(32);
        let created_at = self.clock.now();
        let session = Session {
            id_hash: hash_token(&id),
            user: user.handle.clone(),
            csrf: random_hex(16),
            created_at,
            expires_at: created_at
                .checked_add(jiff::SignedDuration::from_hours(SESSION_HOURS))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        };
        self.store.create_session(&session).await?;
        Ok((id, session, user))
    }

    /// The session a cookie names, and its user.
    pub async fn session(&self, id: &str) -> Result<Option<(Session, User)>> {
        self.store.session(&hash_token(id), self.clock.now()).await
    }

    pub async fn sign_out(&self, id: &str) -> Result<()> {
        self.store.delete_session(&hash_token(id)).await
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

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
    }
}
