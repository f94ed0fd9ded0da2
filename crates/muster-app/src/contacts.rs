//! Contact methods and test notifications.

use muster_domain::access::{self, Action, Standing};
use muster_domain::limits::{MAX_CONTACT_METHODS, MAX_TEST_NOTIFICATIONS, TEST_NOTIFICATION_WINDOW};
use muster_domain::paging::{ContactKind, shown_address};
use muster_domain::{Actor, DomainError, Handle};

use crate::{App, Result};

impl App {
    // Contact methods.

    /// A user's contact methods as `actor` may see them: whole for the user
    /// and admins, others see each address only as [`shown_address`].
    /// Secrets are never shown again.
    pub async fn contact_methods(&self, actor: &Actor, user: &Handle) -> Result<Vec<muster_store::ContactMethod>> {
        self.user(user).await?;
        let whole = access::may(actor, Action::SeeContactAddresses, &Standing::user(user, actor));
        let mut methods = self.store.contact_methods(user).await?;
        for m in &mut methods {
            m.secret = None;
            if !whole {
                m.address = shown_address(m.kind, &m.address);
            }
        }
        Ok(methods)
    }

    /// Adds a way to reach `user` (the user themself or an admin). A
    /// webhook gets a signing secret, returned here only.
    pub async fn add_contact_method(
        &self,
        actor: &Actor,
        user: &Handle,
        kind: muster_domain::paging::ContactKind,
        address: &str,
    ) -> Result<muster_store::ContactMethod> {
        access::check(actor, Action::ManageContacts, &Standing::user(user, actor))?;
        self.user(user).await?;
        let address = muster_domain::paging::contact_address(kind, address)?;
        // Counted, then added: two adds racing may pass one over; the
        // limit bounds what a user builds up, not a single request.
        if self.store.contact_methods(user).await?.len() >= MAX_CONTACT_METHODS {
            return Err(DomainError::invalid(
                "contact_methods",
                format!("@{user} has {MAX_CONTACT_METHODS} contact methods, the most a user may have"),
            )
            .into());
        }
        if kind == ContactKind::Webhook {
            crate::channels::webhook::check_target(&self.config.webhook_allow, &address)
                .await
                .map_err(|e| DomainError::invalid("address", e.to_string()))?;
        }
        let secret = (kind == muster_domain::paging::ContactKind::Webhook).then(|| {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            format!("whsec_{}", hex::encode(bytes))
        });
        Ok(self.store.add_contact_method(user, kind, &address, secret.as_deref(), self.clock.now()).await?)
    }

    /// Removes one of `user`'s contact methods (the user themself or an
    /// admin) and the notification rules that use it. Notifications already
    /// on their way through it are given up at delivery.
    pub async fn remove_contact_method(&self, actor: &Actor, user: &Handle, id: u64) -> Result<()> {
        access::check(actor, Action::ManageContacts, &Standing::user(user, actor))?;
        self.user(user).await?;
        if !self.store.remove_contact_method(user, id).await? {
            return Err(DomainError::not_found("id", format!("@{user} has no contact method {id}")).into());
        }
        Ok(())
    }
}

impl App {
    /// Sends a test notification through a contact method: a job in the
    /// outbox, delivered by the engine. Returns the job's id.
    pub async fn test_notification(&self, actor: &Actor, user: &Handle, method: u64) -> Result<u64> {
        access::check(actor, Action::ManageContacts, &Standing::user(user, actor))?;
        let methods = self.store.contact_methods(user).await?;
        let Some(m) = methods.into_iter().find(|m| m.id == method) else {
            return Err(DomainError::not_found("id", format!("@{user} has no contact method {method}")).into());
        };
        let now = self.clock.now();
        if let Err(wait) =
            self.test_notifications.admit(user.as_str(), now, MAX_TEST_NOTIFICATIONS, TEST_NOTIFICATION_WINDOW)
        {
            return Err(crate::Error::TooMany {
                message: format!(
                    "@{user} was sent {MAX_TEST_NOTIFICATIONS} test notifications in the last {} s; try again in {} s",
                    TEST_NOTIFICATION_WINDOW.as_secs(),
                    wait.as_secs()
                ),
                retry_after: wait,
            });
        }
        let mut key = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        let summary = format!("Test notification for @{user} from Muster");
        let body = serde_json::json!({"type": "test", "user": user.as_str(), "contact_method": m.id,
                                      "summary": summary, "sent_at": now.to_string()});
        let text = format!("{summary}: this contact method works.\n");
        let job = crate::channels::notification(&m, body, &format!("[Muster] {summary}"), text);
        let job = muster_store::NewJob {
            job,
            idempotency_key: format!("test-{}", hex::encode(key)),
            due_at: crate::engine::immediately(now),
        };
        let id = self.store.enqueue_job(&job, now).await?;
        self.engine.wake();
        Ok(id)
    }
}
