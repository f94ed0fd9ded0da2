//! Tokens: what each kind opens, what a token may be named, and when one is
//! accepted.
//!
//! An API token opens the API for its user; a calendar feed token opens
//! only the calendar feeds (they go in URLs that calendar apps keep and
//! share, so they must not be able to do anything else). A token is
//! accepted until it is revoked or expires, and never for a disabled user.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::{DomainError, Handle};

/// What a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// The API, as its user.
    Api,
    /// The calendar feeds only (read-only).
    Feed,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Feed => "feed",
        }
    }
}

impl FromStr for TokenKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        match s {
            "api" => Ok(TokenKind::Api),
            "feed" => Ok(TokenKind::Feed),
            _ => Err(DomainError::invalid("kind", format!("{s:?} is not a token kind: use api or feed"))),
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of the token `MUSTER_ADMIN_TOKEN` sets, so that the next
/// setting can find and replace it. People cannot give a token this name.
pub const ADMIN_TOKEN_NAME: &str = "MUSTER_ADMIN_TOKEN";
/// `MUSTER_ADMIN_TOKEN` has at least this many characters: it is a
/// password for the most powerful account, chosen by a person.
pub const ADMIN_TOKEN_MIN_CHARS: usize = 32;
/// A user's one calendar feed token is named this; a new one replaces it.
pub const FEED_TOKEN_NAME: &str = "calendar";
/// What a token is named when its creator gave no name.
pub const DEFAULT_TOKEN_NAME: &str = "api";

/// A token's name, for people to tell their tokens apart: 1-100
/// characters, no control characters, not [`ADMIN_TOKEN_NAME`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 100 {
            return Err(DomainError::invalid("name", "a token's name has 1-100 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(DomainError::invalid("name", "a token's name may not contain control characters"));
        }
        if s.eq_ignore_ascii_case(ADMIN_TOKEN_NAME) {
            return Err(DomainError::invalid(
                "name",
                format!("{ADMIN_TOKEN_NAME} is the name of the token the server setting makes; choose another"),
            ));
        }
        Ok(TokenName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TokenName {
    fn default() -> Self {
        TokenName(DEFAULT_TOKEN_NAME.to_owned())
    }
}

/// `MUSTER_ADMIN_TOKEN`'s value, checked: at least
/// [`ADMIN_TOKEN_MIN_CHARS`] characters, no whitespace or control
/// characters (it travels in an `Authorization` header).
pub fn check_admin_token(token: &str) -> Result<(), DomainError> {
    let n = token.chars().count();
    if n < ADMIN_TOKEN_MIN_CHARS {
        return Err(DomainError::invalid(
            "MUSTER_ADMIN_TOKEN",
            format!(
                "MUSTER_ADMIN_TOKEN has {n} characters; it needs at least {ADMIN_TOKEN_MIN_CHARS} \
                 (for example `openssl rand -hex 24`)"
            ),
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) {
        return Err(DomainError::invalid(
            "MUSTER_ADMIN_TOKEN",
            "MUSTER_ADMIN_TOKEN may hold only printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

/// An expiry chosen for a new token: in the future.
pub fn check_expiry(expires_at: Option<Timestamp>, now: Timestamp) -> Result<(), DomainError> {
    match expires_at {
        Some(t) if t <= now => Err(DomainError::invalid("expires_at", format!("{t} is not in the future"))),
        _ => Ok(()),
    }
}

/// What is known of a presented token and its user when deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub kind: TokenKind,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub user: &'a Handle,
    pub user_disabled_at: Option<Timestamp>,
}

/// Why a token that exists is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Revoked(Timestamp),
    Expired(Timestamp),
    /// Its user is disabled.
    Disabled(Handle),
    /// A token of the other kind.
    WrongKind {
        wanted: TokenKind,
        got: TokenKind,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Revoked(at) => write!(f, "this token was revoked at {at}"),
            Refusal::Expired(at) => write!(f, "this token expired at {at}; create a new one"),
            Refusal::Disabled(h) => write!(f, "@{h} is disabled; an admin disabled this account"),
            Refusal::WrongKind { wanted: TokenKind::Api, got: TokenKind::Feed } => {
                f.write_str("this is a calendar feed token: it only reads calendar feeds; send an API token")
            }
            Refusal::WrongKind { .. } => f.write_str(
                "an API token does not go in a feed's URL; create a calendar feed token \
                 (POST /api/v1/users/{handle}/calendar-token) and use ?token=<feed token>",
            ),
        }
    }
}

/// Whether a token presented at `now` for `wanted` is accepted. A token of
/// a disabled user is refused whatever else holds; then a revoked one, an
/// expired one (at its expiry instant it no longer works), and one of the
/// other kind.
pub fn accept(wanted: TokenKind, token: Presented<'_>, now: Timestamp) -> Result<(), Refusal> {
    if token.user_disabled_at.is_some() {
        return Err(Refusal::Disabled(token.user.clone()));
    }
    if let Some(at) = token.revoked_at {
        return Err(Refusal::Revoked(at));
    }
    if let Some(at) = token.expires_at
        && at <= now
    {
        return Err(Refusal::Expired(at));
    }
    if token.kind != wanted {
        return Err(Refusal::WrongKind { wanted, got: token.kind });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn kind() -> impl Strategy<Value = TokenKind> {
        prop_oneof![Just(TokenKind::Api), Just(TokenKind::Feed)]
    }

    proptest! {
        /// A token accepted at some instant was accepted at every instant
        /// before it, and once refused stays refused: nothing brings a
        /// token back to life.
        #[test]
        fn once_refused_a_token_stays_refused(
            wanted in kind(), got in kind(),
            expires in proptest::option::of(0i64..1000),
            revoked in proptest::option::of(0i64..1000),
            disabled in proptest::option::of(0i64..1000),
            earlier in 0i64..1000, later in 0i64..1000,
        ) {
            let (earlier, later) = (earlier.min(later), earlier.max(later));
            let alice = Handle::parse("alice").unwrap();
            let token = Presented {
                kind: got,
                expires_at: expires.map(at),
                revoked_at: revoked.map(at),
                user: &alice,
                user_disabled_at: disabled.map(at),
            };
            let before = accept(wanted, token, at(earlier));
            let after = accept(wanted, token, at(later));
            prop_assert!(before.is_ok() || after.is_err());
            // Accepted means: the right kind, not revoked, not disabled, not yet expired.
            prop_assert_eq!(
                after.is_ok(),
                got == wanted && revoked.is_none() && disabled.is_none() && expires.is_none_or(|e| e > later)
            );
        }
    }

    #[test]
    fn a_feed_token_is_refused_for_the_api_and_says_what_it_is() {
        let alice = Handle::parse("alice").unwrap();
        let token = Presented {
            kind: TokenKind::Feed,
            expires_at: None,
            revoked_at: None,
            user: &alice,
            user_disabled_at: None,
        };
        let refused = accept(TokenKind::Api, token, at(0)).unwrap_err();
        assert!(refused.to_string().contains("calendar feed token"), "{refused}");
    }

    #[test]
    fn a_disabled_users_token_says_the_user_is_disabled_even_when_revoked() {
        let alice = Handle::parse("alice").unwrap();
        let token = Presented {
            kind: TokenKind::Api,
            expires_at: None,
            revoked_at: Some(at(1)),
            user: &alice,
            user_disabled_at: Some(at(1)),
        };
        assert_eq!(accept(TokenKind::Api, token, at(2)), Err(Refusal::Disabled(alice.clone())));
    }

    #[test]
    fn token_names_are_short_printable_and_not_the_admin_settings() {
        assert_eq!(TokenName::parse("  laptop ").unwrap().as_str(), "laptop");
        assert!(TokenName::parse("").is_err());
        assert!(TokenName::parse(&"x".repeat(101)).is_err());
        assert!(TokenName::parse("a\nb").is_err());
        assert!(TokenName::parse("muster_admin_token").is_err());
        assert_eq!(TokenName::default().as_str(), "api");
    }

    #[test]
    fn the_admin_token_setting_needs_32_printable_characters() {
        assert!(check_admin_token(&"a".repeat(31)).is_err());
        assert!(check_admin_token(&"a".repeat(32)).is_ok());
        assert!(check_admin_token(&format!("{} b", "a".repeat(32))).is_err());
        let short = check_admin_token("short").unwrap_err().to_string();
        assert!(short.contains("at least 32"), "{short}");
    }

    #[test]
    fn an_expiry_in_the_past_or_now_is_refused() {
        assert!(check_expiry(Some(at(0)), at(0)).is_err());
        assert!(check_expiry(Some(at(1)), at(0)).is_ok());
        assert!(check_expiry(None, at(0)).is_ok());
    }
}
