//! Passwords and browser sessions.
//!
//! Passwords are hashed with argon2id (a PHC string in `users`). A session
//! is 256 random bits in an HttpOnly cookie; the store keeps only its
//! SHA-256, with a CSRF token that every form of the session carries.
//! Guessing is slowed per account and address, per address, and (with a
//! much higher allowance) per account ([`crate::throttle`]): after the
//! free failures, each further attempt must wait twice as long as the
//! last (up to 15 minutes), whether or not the password would have been
//! right. An attempt that finds every password check busy is refused
//! before anything is counted ([`SignInError::Busy`]).

use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use muster_domain::{Actor, DomainError, Handle};
use muster_store::{Session, StoreError, User};
use rand::RngCore;

use crate::throttle::{PER_ACCOUNT, PER_ADDRESS, PER_PAIR};
use crate::tokens::hash_token;
use crate::{App, Result};

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;
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
    /// The right password, for an account an admin disabled.
    Disabled(Handle),
    /// Every password check is taken: try again after this long. Not
    /// counted as a failure.
    Busy(Duration),
    /// Not the person's doing.
    Failed(crate::Error),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        SignInError::Failed(e.into())
    }
}

impl From<crate::Error> for SignInError {
    fn from(e: crate::Error) -> Self {
        SignInError::Failed(e)
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

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| crate::Error::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| crate::Error::Internal(format!("hashing a password: {e}")))
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
        muster_domain::access::check(
            actor,
            muster_domain::access::Action::ManageTokens,
            &muster_domain::access::Standing::user(user, actor),
        )?;
        check_password(password)?;
        self.user(user).await?;
        let password = password.to_owned();
        // Hashing costs what a check costs: it waits for one of the same slots.
        let _permit = self
            .password_checks
            .acquire()
            .await
            .map_err(|e| crate::Error::Internal(format!("password checks: {e}")))?;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| crate::Error::Internal(e.to_string()))??;
        Ok(self.store.set_password_hash(user, Some(&hash)).await?)
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
        let pair = format!("{account} {from}");
        let keys = [(&pair, PER_PAIR), (&from, PER_ADDRESS), (&account, PER_ACCOUNT)];
        if let Some(wait) = keys.iter().filter_map(|(k, limit)| self.throttle.wait(k, *limit, now)).max() {
            return Err(SignInError::TooSoon(wait));
        }
        // Nothing is counted for an attempt that was not checked.
        let Ok(_permit) = self.password_checks.try_acquire() else {
            return Err(SignInError::Busy(Duration::from_secs(1)));
        };
        // Count the attempt before checking it, so parallel guesses are
        // counted too; a success takes it back.
        for (key, _) in keys {
            self.throttle.fail(key, now);
        }
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
        // The account's ceiling keeps others' failures: only this one is
        // taken back, so signing in does not reset a distributed guess.
        self.throttle.clear(&pair);
        self.throttle.undo(&from);
        self.throttle.undo(&account);
        if user.disabled_at.is_some() {
            return Err(SignInError::Disabled(user.handle));
        }
        let id = random_hex(32);
        let created_at = self.clock.now();
        let session = Session {
            id_hash: hash_token(&id),
            user: user.handle.clone(),
            csrf: random_hex(16),
            created_at,
            expires_at: created_at
                .checked_add(jiff::SignedDuration::from_hours(SESSION_HOURS))
                .map_err(|e| crate::Error::Internal(e.to_string()))?,
        };
        self.store.create_session(&session).await?;
        Ok((id, session, user))
    }

    /// The session a cookie names, and its user (never a disabled one).
    pub async fn session(&self, id: &str) -> Result<Option<(Session, User)>> {
        let found = self.store.session(&hash_token(id), self.clock.now()).await?;
        Ok(found.filter(|(_, user)| user.disabled_at.is_none()))
    }

    pub async fn sign_out(&self, id: &str) -> Result<()> {
        Ok(self.store.delete_session(&hash_token(id)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
