//! Tokens: `mst_` and 40 hex characters (160 random bits) for the API,
//! `msc_` and 40 for calendar feeds. Only their SHA-256 is stored, so a
//! leaked database does not leak working tokens.
//!
//! The use cases: listing and revoking a user's tokens, a user's calendar
//! feed token, and [`App::authenticate`], which every edge calls with the
//! token it was given and the kind it needs. Whether a token is accepted is
//! the domain's rule (`muster_domain::token::accept`).

use muster_domain::access::{self, Action, Standing};
use muster_domain::token::{self, FEED_TOKEN_NAME, Refusal, TokenKind};
use muster_domain::{Actor, DomainError, Handle};
use muster_store::{NewToken, TokenRecord, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{App, Result};

/// `last_used_at` is written at most this often per token, so using a
/// token costs a write only every few minutes, not on every request.
pub const LAST_USED_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Working (or expired, not revoked) tokens one user may hold: enough for
/// every laptop and script, few enough that a loop cannot fill the table.
pub const MAX_TOKENS_PER_USER: usize = 50;

pub fn new_token() -> String {
    random_token("mst_")
}

/// A calendar feed token: another prefix, so that people (and secret
/// scanners) can tell the two kinds apart.
pub fn new_feed_token() -> String {
    random_token("msc_")
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a presented token was not accepted.
#[derive(Debug)]
pub enum TokenError {
    /// No such token.
    Unknown,
    /// It exists, but the domain refuses it (revoked, expired, its user
    /// disabled, the other kind).
    Refused(Refusal),
    /// Not the caller's doing.
    Failed(crate::Error),
}

impl From<muster_store::StoreError> for TokenError {
    fn from(e: muster_store::StoreError) -> Self {
        TokenError::Failed(e.into())
    }
}

impl App {
    /// The user a token of kind `wanted` belongs to, if it is accepted now.
    /// Records when it was used (every [`LAST_USED_EVERY`] at most).
    pub async fn authenticate(&self, token: &str, wanted: TokenKind) -> std::result::Result<User, TokenError> {
        let Some((record, user)) = self.store.token(&hash_token(token)).await? else {
            return Err(TokenError::Unknown);
        };
        let now = self.clock.now();
        let presented = token::Presented {
            kind: record.kind,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            user: &user.handle,
            user_disabled_at: user.disabled_at,
        };
        token::accept(wanted, presented, now).map_err(TokenError::Refused)?;
        let stale = record.last_used_at.is_none_or(|t| now.duration_since(t) >= LAST_USED_EVERY);
        if stale && let Err(e) = self.store.touch_token(record.id, now).await {
            // Bookkeeping; the request goes on.
            tracing::warn!(error = %e, token.id = record.id, "could not record a token's use");
        }
        Ok(user)
    }

    /// A user's tokens that work or expired (never their secrets): the user
    /// themself or an admin.
    pub async fn tokens(&self, actor: &Actor, user: &Handle) -> Result<Vec<TokenRecord>> {
        access::check(actor, Action::ManageTokens, &Standing::user(user, actor))?;
        self.user(user).await?;
        Ok(self.store.tokens(user).await?)
    }

    /// Revokes one of a user's tokens (the user themself or an admin): it
    /// is refused from now on, and open live streams using it re-check at
    /// once.
    pub async fn revoke_token(&self, actor: &Actor, user: &Handle, id: u64) -> Result<()> {
        access::check(actor, Action::ManageTokens, &Standing::user(user, actor))?;
        self.user(user).await?;
        self.store.revoke_token(user, id, self.clock.now()).await.map_err(|e| match e {
            muster_store::StoreError::NotFound(m) => DomainError::not_found("id", m).into(),
            other => crate::Error::from(other),
        })?;
        self.changes.credentials_changed();
        Ok(())
    }

    /// A new calendar feed token for a user (the user themself or an
    /// admin), replacing the one they had: it reads the calendar feeds and
    /// nothing else.
    pub async fn issue_feed_token(&self, actor: &Actor, user: &Handle) -> Result<(String, TokenRecord)> {
        access::check(actor, Action::ManageTokens, &Standing::user(user, actor))?;
        let owner = self.user(user).await?;
        refuse_disabled(&owner)?;
        let secret = new_feed_token();
        let new = NewToken {
            hash: hash_token(&secret),
            user: user.clone(),
            kind: TokenKind::Feed,
            name: FEED_TOKEN_NAME.to_owned(),
            expires_at: None,
        };
        let record = self.store.replace_token(&new, self.clock.now()).await?;
        self.changes.credentials_changed();
        Ok((secret, record))
    }
}

/// Nothing new is made for a disabled user.
pub(crate) fn refuse_disabled(user: &User) -> std::result::Result<(), DomainError> {
    match user.disabled_at {
        Some(at) => Err(DomainError::Conflict(format!("@{} was disabled at {at}", user.handle))),
        None => Ok(()),
    }
}
