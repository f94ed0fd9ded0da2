//! People and what they sign in with (users, API tokens, passwords, web
//! sessions), the role catalog, and settings; the types, and the queries
//! on them.

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

const REQUIRED_ROLES_KEY: &str = "required_roles";

const USER_COLUMNS: &str = "SELECT handle, name, email, permission, created_at FROM users";

#[derive(sqlx::FromRow)]
struct UserRow {
    handle: String,
    name: String,
    email: String,
    permission: String,
    created_at: i64,
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
    let result =
        D::query("INSERT INTO users (handle, name, email, permission, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(u.handle.as_str())
            .bind(&u.name)
            .bind(&u.email)
            .bind(u.permission.as_str())
            .bind(micros(now))
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

/// Stores a token's hash for a user; the same hash again is a no-op.
pub(crate) async fn add_token<D: Dialect>(
    c: &mut D::Connection,
    handle: &Handle,
    token_hash: &str,
    now: Timestamp,
) -> Result<()> {
    D::query("INSERT INTO api_tokens (hash, handle, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING")
        .bind(token_hash)
        .bind(handle.as_str())
        .bind(micros(now))
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn user_for_token<D: Dialect>(c: &mut D::Connection, token_hash: &str) -> Result<Option<User>> {
    let found: Option<UserRow> = D::query(
        "SELECT u.handle, u.name, u.email, u.permission, u.created_at
         FROM api_tokens t JOIN users u ON u.handle = t.handle WHERE t.hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await?;
    found.map(User::try_from).transpose()
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
