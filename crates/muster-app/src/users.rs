//! People, their tokens, roles and required roles.

use muster_domain::access::{self, Action, Standing};
use muster_domain::{Actor, DomainError, Handle, Permission, RequiredRoles, RoleCatalog, RoleDef};
use muster_store::{NewUser, User};

use crate::{App, Result};

impl App {
    /// Makes sure an admin can sign in. With `token` (from
    /// `MUSTER_ADMIN_TOKEN`), user `admin` exists and that token works, on
    /// every start. Without it, a first start on an empty database creates
    /// `admin` with a fresh token and returns it, to be shown once.
    pub async fn bootstrap_admin(&self, token: Option<&str>) -> Result<Option<String>> {
        let admin = NewUser {
            handle: Handle::parse("admin")?,
            name: "Administrator".into(),
            email: "admin@localhost".into(),
            permission: Permission::Admin,
        };
        let now = self.clock.now();
        match token {
            Some(token) => {
                let user = self.store.ensure_user(&admin, now).await?;
                self.store.add_token(&user.handle, &crate::tokens::hash_token(token), now).await?;
                Ok(None)
            }
            None if self.store.user_count().await? == 0 => {
                let user = self.store.ensure_user(&admin, now).await?;
                let token = crate::tokens::new_token();
                self.store.add_token(&user.handle, &crate::tokens::hash_token(&token), now).await?;
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    // Users.

    pub async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User> {
        access::check(actor, Action::ManageUsers, &Standing::none())?;
        if user.handle.as_str() == muster_domain::intake::SYSTEM {
            return Err(DomainError::invalid("handle", "@muster is reserved for Muster itself").into());
        }
        Ok(self.store.create_user(&user, self.clock.now()).await?)
    }

    pub async fn user(&self, handle: &Handle) -> Result<User> {
        self.store
            .user(handle)
            .await?
            .ok_or_else(|| DomainError::not_found("handle", format!("there is no user @{handle}")).into())
    }

    /// A new API token for `handle`: admins for anyone, users for themselves.
    pub async fn issue_token(&self, actor: &Actor, handle: &Handle) -> Result<String> {
        access::check(actor, Action::ManageTokens, &Standing::user(handle, actor))?;
        self.user(handle).await?;
        let token = crate::tokens::new_token();
        self.store.add_token(handle, &crate::tokens::hash_token(&token), self.clock.now()).await?;
        Ok(token)
    }

    /// The user named in `field` as someone to hold a role.
    pub(crate) async fn member(&self, handle: &Handle, field: &str) -> Result<Actor> {
        match self.store.user(handle).await? {
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
