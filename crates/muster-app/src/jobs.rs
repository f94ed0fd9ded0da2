//! The outbox, as admins look at it: what is pending, what was given up on.

use muster_domain::Actor;
use muster_store::{JobFilter, JobRecord};

use crate::{App, Result};

impl App {
    /// Jobs newest first (admins only: they say who is reached where).
    pub async fn jobs(&self, actor: &Actor, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        muster_domain::access::check(
            actor,
            muster_domain::access::Action::SeeDeliveries,
            &muster_domain::access::Standing::none(),
        )?;
        Ok(self.store.jobs(filter).await?)
    }
}
