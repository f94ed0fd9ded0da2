//! People (and disabling them), their API tokens, roles and required roles.

use muster_domain::access::{self, Action, Standing};
use muster_domain::token::{ADMIN_TOKEN_NAME, TokenKind, TokenName};
use muster_domain::{Actor, DomainError, Handle, Permission, RequiredRoles, RoleCatalog, RoleDef, Timestamp};
use muster_store::{NewToken, NewUser, TokenRecord, User};

use crate::{App, Result};

impl App {
    /// Makes sure an admin can sign in. With `token` (from
    /// `MUSTER_ADMIN_TOKEN`, at least 32 characters), user `admin` exists
    /// and that token works, on every start; the token an earlier setting
    /// made (named `MUSTER_ADMIN_TOKEN`) is revoked. Without it, a first
    /// start on an empty database creates `admin` with a fresh token and
    /// returns it, to be shown once.
    pub async fn bootstrap_admin(&self, token: Option<&str>) -> Result<Option<String>> {
        if let Some(t) = token {
            muster_domain::token::check_admin_token(t)?;
        }
        let admin = NewUser {
            handle: Handle::parse("admin")?,
            name: "Administrator".into(),
            email: "admin@localhost".into(),
            permission: Permission::Admin,
            time_zone: None,
        };
        let now = self.clock.now();
        let new_token = |hash: String, name: &str| NewToken {
            hash,
            user: admin.handle.clone(),
            kind: TokenKind::Api,
            name: name.to_owned(),
            expires_at: None,
        };
        match token {
            Some(token) => {
                let user = self.store.ensure_user(&admin, now).await?;
                if user.disabled_at.is_some() {
                    tracing::warn!("user admin is disabled: MUSTER_ADMIN_TOKEN does not let anyone in");
                }
                let set = new_token(crate::tokens::hash_token(token), ADMIN_TOKEN_NAME);
                self.store.replace_token(&set, now).await?;
                self.changes.credentials_changed();
                Ok(None)
            }
            None if self.store.user_count().await? == 0 => {
                self.store.ensure_user(&admin, now).await?;
                let token = crate::tokens::new_token();
                self.store.add_token(&new_token(crate::tokens::hash_token(&token), "first start"), now).await?;
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    // Users.

    pub async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User> {
        self.create_user_reached(actor, user, false).await
    }

    /// Creates a user; with `email_method`, also an email contact method
    /// to their address and the rule "notify at once" on it, in the same
    /// transaction, so that a page reaches them from the start.
    pub async fn create_user_reached(&self, actor: &Actor, user: NewUser, email_method: bool) -> Result<User> {
        access::check(actor, Action::ManageUsers, &Standing::none())?;
        if user.handle.as_str() == muster_domain::intake::SYSTEM {
            return Err(DomainError::invalid("handle", "@muster is reserved for Muster itself").into());
        }
        let now = self.clock.now();
        if email_method {
            let mut user = user;
            user.email = muster_domain::paging::contact_address(muster_domain::paging::ContactKind::Email, &user.email)
                .map_err(|e| DomainError::invalid("email", e.to_string()))?;
            Ok(self.store.create_user_with_email_method(&user, now).await?)
        } else {
            Ok(self.store.create_user(&user, now).await?)
        }
    }

    pub async fn user(&self, handle: &Handle) -> Result<User> {
        self.store
            .user(handle)
            .await?
            .ok_or_else(|| DomainError::not_found("handle", format!("there is no user @{handle}")).into())
    }

    /// A new API token for `handle`: admins for anyone, users for
    /// themselves. It works until it is revoked or `expires_at` (which must
    /// be in the future).
    pub async fn issue_token(
        &self,
        actor: &Actor,
        handle: &Handle,
        name: TokenName,
        expires_at: Option<Timestamp>,
    ) -> Result<(String, TokenRecord)> {
        access::check(actor, Action::ManageTokens, &Standing::user(handle, actor))?;
        let now = self.clock.now();
        muster_domain::token::check_expiry(expires_at, now)?;
        let owner = self.user(handle).await?;
        crate::tokens::refuse_disabled(&owner)?;
        if self.store.tokens(handle).await?.len() >= crate::tokens::MAX_TOKENS_PER_USER {
            return Err(DomainError::Conflict(format!(
                "@{handle} has {} tokens already; revoke some first",
                crate::tokens::MAX_TOKENS_PER_USER
            ))
            .into());
        }
        let token = crate::tokens::new_token();
        let new = NewToken {
            hash: crate::tokens::hash_token(&token),
            user: handle.clone(),
            kind: TokenKind::Api,
            name: name.as_str().to_owned(),
            expires_at,
        };
        let record = self.store.add_token(&new, now).await?;
        Ok((token, record))
    }

    /// Disables a user (admins only, and not themselves): they can no
    /// longer sign in or use a token, their sessions end and their tokens
    /// are revoked at once (open live streams too), nobody can give them a
    /// role, and paging skips them. They stay on past timelines, and keep
    /// the roles they hold until someone relieves them.
    pub async fn disable_user(&self, actor: &Actor, handle: &Handle) -> Result<User> {
        access::check(actor, Action::ManageUsers, &Standing::none())?;
        if &actor.handle == handle {
            return Err(DomainError::invalid(
                "handle",
                "admins cannot disable themselves: ask another admin, so that someone can still get in",
            )
            .into());
        }
        self.user(handle).await?;
        self.store.disable_user(handle, self.clock.now()).await?;
        self.changes.credentials_changed();
        self.user(handle).await
    }

    /// Sets a person's time zone (an IANA name, kept as the database names
    /// it), or clears it (UTC): the person themself or an admin.
    pub async fn set_time_zone(&self, actor: &Actor, handle: &Handle, zone: Option<&str>) -> Result<User> {
        access::check(actor, Action::EditProfile, &Standing::user(handle, actor))?;
        let zone = match zone {
            Some(name) => {
                let tz = muster_domain::schedule::time_zone(name)?;
                Some(tz.iana_name().map_or_else(|| name.trim().to_owned(), str::to_owned))
            }
            None => None,
        };
        self.user(handle).await?;
        self.store.set_time_zone(handle, zone.as_deref()).await?;
        self.user(handle).await
    }

    /// The user named in `field` as someone to hold a role.
    pub(crate) async fn member(&self, handle: &Handle, field: &str) -> Result<Actor> {
        match self.store.user(handle).await? {
            Some(u) if u.disabled_at.is_some() => {
                Err(DomainError::invalid(field, format!("@{handle} is disabled and cannot take part")).into())
            }
            Some(u) => Ok(u.actor()),
            None => Err(DomainError::invalid(field, format!("there is no user @{handle}")).into()),
        }
    }

    // Roles and required roles.

    pub async fn create_role(&self, actor: &Actor, role: RoleDef) -> Result<RoleDef> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        self.store.create_role(&role, self.clock.now()).await?;
        Ok(role)
    }

    pub async fn role_catalog(&self) -> Result<RoleCatalog> {
        Ok(self.store.role_catalog().await?)
    }

    pub async fn required_roles(&self) -> Result<RequiredRoles> {
        Ok(self.store.required_roles().await?)
    }

    pub async fn set_required_roles(&self, actor: &Actor, required: RequiredRoles) -> Result<RequiredRoles> {
        access::check(actor, Action::ChangeSettings, &Standing::none())?;
        self.store.set_required_roles(&required).await?;
        Ok(required)
    }
}
