//! People and what they sign in with (users, API and calendar feed
//! tokens, passwords, web sessions), the role catalog, and settings; the
//! types, and the queries on them.

use muster_domain::token::TokenKind;
use muster_domain::{Handle, Permission, RequiredRoles, RoleCatalog, RoleDef, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{self, micros};
use crate::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub handle: Handle,
    pub name: String,
    pub email: String,
    pub permission: Permission,
    pub created_at: Timestamp,
    /// When an admin disabled the account: no sign-in, no token, no page.
    pub disabled_at: Option<Timestamp>,
    /// Their time zone, an IANA name (`Europe/Berlin`); none: UTC.
    pub time_zone: Option<String>,
}

impl User {
    pub fn actor(&self) -> muster_domain::Actor {
        muster_domain::Actor { handle: self.handle.clone(), permission: self.permission }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub handle: Handle,
    pub name: String,
    pub email: String,
    pub permission: Permission,
    /// An IANA time zone name, checked by the caller.
    pub time_zone: Option<String>,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user: Handle,
    /// Sent with every form the session renders, and checked on every post.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A token to store: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub hash: String,
    pub user: Handle,
    pub kind: TokenKind,
    pub name: String,
    pub expires_at: Option<Timestamp>,
}

/// A stored token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: u64,
    pub user: Handle,
    pub kind: TokenKind,
    pub name: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// To the nearest few minutes (see `muster_app::tokens`).
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const REQUIRED_ROLES_KEY: &str = "required_roles";

const USER_COLUMNS: &str = "SELECT handle, name, email, permission, created_at, disabled_at, time_zone FROM users";

const TOKEN_COLUMNS: &str =
    "SELECT id, handle, kind, name, created_at, expires_at, last_used_at, revoked_at FROM tokens";

#[derive(sqlx::FromRow)]
struct UserRow {
    handle: String,
    name: String,
    email: String,
    permission: String,
    created_at: i64,
    disabled_at: Option<i64>,
    time_zone: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    handle: String,
    kind: String,
    name: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn optional_timestamp(us: Option<i64>) -> Result<Option<Timestamp>> {
    us.map(rows::timestamp).transpose()
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<TokenRecord> {
        Ok(TokenRecord {
            id: r.id as u64,
            user: Handle::parse(&r.handle).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            kind: r.kind.parse().map_err(|e: muster_domain::DomainError| StoreError::Corrupt(e.to_string()))?,
            name: r.name,
            created_at: rows::timestamp(r.created_at)?,
            expires_at: optional_timestamp(r.expires_at)?,
            last_used_at: optional_timestamp(r.last_used_at)?,
            revoked_at: optional_timestamp(r.revoked_at)?,
        })
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            handle: Handle::parse(&r.handle).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            name: r.name,
            email: r.email,
            permission: r.permission.parse::<Permission>().map_err(|e| StoreError::Corrupt(e.to_string()))?,
            created_at: rows::timestamp(r.created_at)?,
            disabled_at: optional_timestamp(r.disabled_at)?,
            time_zone: r.time_zone,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    key: String,
    name: String,
    many: bool,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    handle: String,
    csrf: String,
    created_at: i64,
    expires_at: i64,
}

fn handle_taken(handle: &Handle) -> StoreError {
    StoreError::Conflict(format!("a user @{handle} exists already"))
}

/// Stores a new user; a conflict if the handle is taken.
pub(crate) async fn create_user<D: Dialect>(c: &mut D::Connection, u: &NewUser, now: Timestamp) -> Result<()> {
    let result = D::query(
        "INSERT INTO users (handle, name, email, permission, created_at, time_zone) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(u.handle.as_str())
    .bind(&u.name)
    .bind(&u.email)
    .bind(u.permission.as_str())
    .bind(micros(now))
    .bind(u.time_zone.as_deref())
    .execute(c)
    .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => Err(handle_taken(&u.handle)),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// Stores a user unless one with that handle exists.
pub(crate) async fn ensure_user<D: Dialect>(c: &mut D::Connection, u: &NewUser, now: Timestamp) -> Result<()> {
    D::query(
        "INSERT INTO users (handle, name, email, permission, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (handle) DO NOTHING",
    )
    .bind(u.handle.as_str())
    .bind(&u.name)
    .bind(&u.email)
    .bind(u.permission.as_str())
    .bind(micros(now))
    .execute(c)
    .await?;
    Ok(())
}

/// The user a handle names, stored just now: a conflict if it is not there.
pub(crate) fn stored_user(handle: &Handle, found: Option<User>) -> Result<User> {
    found.ok_or_else(|| handle_taken(handle))
}

pub(crate) async fn users<D: Dialect>(c: &mut D::Connection) -> Result<Vec<User>> {
    let found: Vec<UserRow> = D::query(format!("{USER_COLUMNS} ORDER BY handle")).fetch_all(c).await?;
    found.into_iter().map(User::try_from).collect()
}

pub(crate) async fn user<D: Dialect>(c: &mut D::Connection, handle: &Handle) -> Result<Option<User>> {
    let found: Option<UserRow> =
        D::query(format!("{USER_COLUMNS} WHERE handle = $1")).bind(handle.as_str()).fetch_optional(c).await?;
    found.map(User::try_from).transpose()
}

pub(crate) async fn user_count<D: Dialect>(c: &mut D::Connection) -> Result<u64> {
    let n: i64 = D::query("SELECT CAST(COUNT(*) AS BIGINT) FROM users").scalar(c).await?;
    Ok(n as u64)
}

/// Stores a new token; a conflict if its hash is stored already.
pub(crate) async fn add_token<D: Dialect>(c: &mut D::Connection, t: &NewToken, now: Timestamp) -> Result<TokenRecord> {
    let result = D::query(
        "INSERT INTO tokens (hash, handle, kind, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.hash)
    .bind(t.user.as_str())
    .bind(t.kind.as_str())
    .bind(&t.name)
    .bind(micros(now))
    .bind(t.expires_at.map(micros))
    .execute(c)
    .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => Err(StoreError::Conflict("this token exists already".into())),
        Err(e) => Err(e.into()),
        Ok(_) => stored_token::<D>(c, &t.hash).await,
    }
}

async fn stored_token<D: Dialect>(c: &mut D::Connection, hash: &str) -> Result<TokenRecord> {
    let found: TokenRow = D::query(format!("{TOKEN_COLUMNS} WHERE hash = $1")).bind(hash).fetch_one(c).await?;
    found.try_into()
}

/// Makes `t` the user's one working token of its kind and name, in the
/// caller's transaction: the others of that kind and name are revoked, and
/// `t` is stored, or made to work again if it was stored before. A conflict
/// if its hash is another user's or another kind's token.
pub(crate) async fn replace_token<D: Dialect>(
    c: &mut D::Connection,
    t: &NewToken,
    now: Timestamp,
) -> Result<TokenRecord> {
    D::query(
        "UPDATE tokens SET revoked_at = $1
         WHERE handle = $2 AND kind = $3 AND name = $4 AND hash <> $5 AND revoked_at IS NULL",
    )
    .bind(micros(now))
    .bind(t.user.as_str())
    .bind(t.kind.as_str())
    .bind(&t.name)
    .bind(&t.hash)
    .execute(&mut *c)
    .await?;
    D::query(
        "INSERT INTO tokens (hash, handle, kind, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (hash) DO UPDATE SET revoked_at = NULL, expires_at = excluded.expires_at
         WHERE tokens.handle = excluded.handle AND tokens.kind = excluded.kind AND tokens.name = excluded.name",
    )
    .bind(&t.hash)
    .bind(t.user.as_str())
    .bind(t.kind.as_str())
    .bind(&t.name)
    .bind(micros(now))
    .bind(t.expires_at.map(micros))
    .execute(&mut *c)
    .await?;
    let stored = stored_token::<D>(c, &t.hash).await?;
    if stored.user != t.user || stored.kind != t.kind || stored.name != t.name {
        return Err(StoreError::Conflict("this token exists already".into()));
    }
    Ok(stored)
}

/// A user's tokens that were not revoked (expired ones too), oldest first.
pub(crate) async fn tokens<D: Dialect>(c: &mut D::Connection, user: &Handle) -> Result<Vec<TokenRecord>> {
    let found: Vec<TokenRow> =
        D::query(format!("{TOKEN_COLUMNS} WHERE handle = $1 AND revoked_at IS NULL ORDER BY id"))
            .bind(user.as_str())
            .fetch_all(c)
            .await?;
    found.into_iter().map(TokenRecord::try_from).collect()
}

/// A token and its user, read in one statement (every API request does).
#[derive(sqlx::FromRow)]
struct TokenOwnerRow {
    #[sqlx(flatten)]
    token: TokenRow,
    name_of_user: String,
    email: String,
    permission: String,
    user_created_at: i64,
    disabled_at: Option<i64>,
    time_zone: Option<String>,
}

/// The token with this hash and its user, revoked or not: whether it is
/// accepted is the caller's decision.
pub(crate) async fn token<D: Dialect>(c: &mut D::Connection, hash: &str) -> Result<Option<(TokenRecord, User)>> {
    let found: Option<TokenOwnerRow> = D::query(
        "SELECT t.id, t.handle, t.kind, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at,
                u.name AS name_of_user, u.email, u.permission, u.created_at AS user_created_at, u.disabled_at,
                u.time_zone
         FROM tokens t JOIN users u ON u.handle = t.handle WHERE t.hash = $1",
    )
    .bind(hash)
    .fetch_optional(c)
    .await?;
    let Some(row) = found else { return Ok(None) };
    let user = User::try_from(UserRow {
        handle: row.token.handle.clone(),
        name: row.name_of_user,
        email: row.email,
        permission: row.permission,
        created_at: row.user_created_at,
        disabled_at: row.disabled_at,
        time_zone: row.time_zone,
    })?;
    Ok(Some((row.token.try_into()?, user)))
}

/// Revokes one of a user's tokens; not found unless it is theirs and was
/// not revoked already.
pub(crate) async fn revoke_token<D: Dialect>(
    c: &mut D::Connection,
    user: &Handle,
    id: u64,
    now: Timestamp,
) -> Result<()> {
    let done = D::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND handle = $3 AND revoked_at IS NULL")
        .bind(micros(now))
        .bind(id as i64)
        .bind(user.as_str())
        .execute(c)
        .await?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("@{user} has no token {id}")));
    }
    Ok(())
}

/// Sets (or clears) a user's time zone.
pub(crate) async fn set_time_zone<D: Dialect>(c: &mut D::Connection, user: &Handle, zone: Option<&str>) -> Result<()> {
    let done =
        D::query("UPDATE users SET time_zone = $1 WHERE handle = $2").bind(zone).bind(user.as_str()).execute(c).await?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("there is no user @{user}")));
    }
    Ok(())
}

/// Records that a token was used at `now`.
pub(crate) async fn touch_token<D: Dialect>(c: &mut D::Connection, id: u64, now: Timestamp) -> Result<()> {
    D::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2").bind(micros(now)).bind(id as i64).execute(c).await?;
    Ok(())
}

/// Disables a user in the caller's transaction: ends their sessions and
/// revokes their tokens. Disabling a disabled user keeps the first time.
pub(crate) async fn disable_user<D: Dialect>(c: &mut D::Connection, user: &Handle, now: Timestamp) -> Result<()> {
    let done = D::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE handle = $2")
        .bind(micros(now))
        .bind(user.as_str())
        .execute(&mut *c)
        .await?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("there is no user @{user}")));
    }
    D::query("DELETE FROM sessions WHERE handle = $1").bind(user.as_str()).execute(&mut *c).await?;
    D::query("UPDATE tokens SET revoked_at = $1 WHERE handle = $2 AND revoked_at IS NULL")
        .bind(micros(now))
        .bind(user.as_str())
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn create_role<D: Dialect>(c: &mut D::Connection, role: &RoleDef, now: Timestamp) -> Result<()> {
    let result = D::query("INSERT INTO custom_roles (key, name, many, created_at) VALUES ($1, $2, $3, $4)")
        .bind(role.key.as_str())
        .bind(&role.name)
        .bind(role.many)
        .bind(micros(now))
        .execute(c)
        .await;
    match result {
        Err(e) if rows::is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("a role {:?} exists already", role.key.as_str())))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub(crate) async fn role_catalog<D: Dialect>(c: &mut D::Connection) -> Result<RoleCatalog> {
    let found: Vec<RoleRow> = D::query("SELECT key, name, many FROM custom_roles ORDER BY key").fetch_all(c).await?;
    let custom = found
        .into_iter()
        .map(|r| RoleDef::new(&r.key, &r.name, r.many).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect::<Result<_>>()?;
    Ok(RoleCatalog { custom })
}

/// A stored setting (JSON text), `None` when never set.
pub(crate) async fn setting<D: Dialect>(c: &mut D::Connection, key: &str) -> Result<Option<String>> {
    Ok(D::query("SELECT value FROM settings WHERE key = $1").bind(key).scalar_optional(c).await?)
}

pub(crate) async fn set_setting<D: Dialect>(c: &mut D::Connection, key: &str, value: &str) -> Result<()> {
    D::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(c)
    .await?;
    Ok(())
}

/// Stores `value` under `key` unless a value is there; the stored one.
pub(crate) async fn ensure_setting<D: Dialect>(c: &mut D::Connection, key: &str, value: &str) -> Result<String> {
    D::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(c)
        .await?;
    Ok(D::query("SELECT value FROM settings WHERE key = $1").bind(key).scalar(c).await?)
}

pub(crate) async fn required_roles<D: Dialect>(c: &mut D::Connection) -> Result<RequiredRoles> {
    match setting::<D>(c, REQUIRED_ROLES_KEY).await? {
        None => Ok(RequiredRoles::default()),
        Some(v) => serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(format!("required roles: {e}"))),
    }
}

pub(crate) async fn set_required_roles<D: Dialect>(c: &mut D::Connection, required: &RequiredRoles) -> Result<()> {
    let value = serde_json::to_string(required).expect("required roles serialize");
    set_setting::<D>(c, REQUIRED_ROLES_KEY, &value).await
}

/// Sets or removes a password hash and ends the user's sessions, in the
/// caller's transaction.
pub(crate) async fn set_password_hash<D: Dialect>(
    c: &mut D::Connection,
    user: &Handle,
    hash: Option<&str>,
) -> Result<()> {
    let done = D::query("UPDATE users SET password_hash = $1 WHERE handle = $2")
        .bind(hash)
        .bind(user.as_str())
        .execute(c)
        .await?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("there is no user @{user}")));
    }
    // A new password ends every session signed in with the old one.
    D::query("DELETE FROM sessions WHERE handle = $1").bind(user.as_str()).execute(c).await?;
    Ok(())
}

pub(crate) async fn password_hash<D: Dialect>(c: &mut D::Connection, user: &Handle) -> Result<Option<String>> {
    let found: Option<Option<String>> =
        D::query("SELECT password_hash FROM users WHERE handle = $1").bind(user.as_str()).scalar_optional(c).await?;
    Ok(found.flatten())
}

pub(crate) async fn create_session<D: Dialect>(c: &mut D::Connection, s: &Session) -> Result<()> {
    // Expired sessions go when new ones come.
    D::query("DELETE FROM sessions WHERE expires_at <= $1").bind(micros(s.created_at)).execute(c).await?;
    D::query("INSERT INTO sessions (id_hash, handle, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&s.id_hash)
        .bind(s.user.as_str())
        .bind(&s.csrf)
        .bind(micros(s.created_at))
        .bind(micros(s.expires_at))
        .execute(c)
        .await?;
    Ok(())
}

/// The session with this id hash and its user, unless it expired.
pub(crate) async fn session<D: Dialect>(
    c: &mut D::Connection,
    id_hash: &str,
    now: Timestamp,
) -> Result<Option<(Session, User)>> {
    let found: Option<SessionRow> =
        D::query("SELECT handle, csrf, created_at, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(micros(now))
            .fetch_optional(c)
            .await?;
    let Some(row) = found else { return Ok(None) };
    let handle = Handle::parse(&row.handle).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some(found_user) = user::<D>(c, &handle).await? else { return Ok(None) };
    let session = Session {
        id_hash: id_hash.to_owned(),
        user: handle,
        csrf: row.csrf,
        created_at: rows::timestamp(row.created_at)?,
        expires_at: rows::timestamp(row.expires_at)?,
    };
    Ok(Some((session, found_user)))
}

pub(crate) async fn delete_session<D: Dialect>(c: &mut D::Connection, id_hash: &str) -> Result<()> {
    D::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(c).await?;
    Ok(())
}
