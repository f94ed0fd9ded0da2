//! Notifications of pages (webhooks and mail that carry a `ForPage`): when
//! every notification of a page's step was given up for good, the step
//! reached nobody, and the page escalates at once instead of waiting on
//! people who never heard of it.

use std::sync::Arc;

use muster_domain::outbox::Job;

use super::{Attempt, Channel, Failure};
use crate::pager::Pager;

/// A channel whose page notifications report their burial to the pager.
pub struct PageNotices {
    inner: Arc<dyn Channel>,
    pager: Arc<Pager>,
}

impl PageNotices {
    pub fn new(inner: Arc<dyn Channel>, pager: Arc<Pager>) -> PageNotices {
        PageNotices { inner, pager }
    }
}

#[async_trait::async_trait]
impl Channel for PageNotices {
    fn kinds(&self) -> &'static [&'static str] {
        self.inner.kinds()
    }

    async fn deliver(&self, job: &Job, attempt: &Attempt<'_>) -> Result<(), Failure> {
        self.inner.deliver(job, attempt).await
    }

    async fn gave_up(&self, job: &Job, why: &str) -> Result<(), Failure> {
        self.inner.gave_up(job, why).await
    }

    async fn buried(&self, job: &Job) -> Result<(), Failure> {
        self.inner.buried(job).await?;
        let Some(f) = for_page(job) else { return Ok(()) };
        self.pager
            .notification_gave_up(f.page, f.step)
            .await
            .map_err(|e| Failure::new(format!("page {} step {}: {e}", f.page, f.step)))
    }

    /// A page's notification arrived: its incident's live views show it.
    async fn delivered(&self, job: &Job) -> Result<(), Failure> {
        self.inner.delivered(job).await?;
        let Some(f) = for_page(job) else { return Ok(()) };
        self.pager.page_seen_moving(f.page).await.map_err(|e| Failure::new(format!("page {}: {e}", f.page)))
    }
}

fn for_page(job: &Job) -> Option<&muster_domain::outbox::ForPage> {
    match job {
        Job::Webhook(w) => w.for_page.as_ref(),
        Job::Email(e) => e.for_page.as_ref(),
        Job::PageStep { .. }
        | Job::PageBundle { .. }
        | Job::UpdateReminder { .. }
        | Job::Maintenance { .. }
        | Job::ReportDue { .. }
        | Job::FollowUpDue { .. } => None,
    }
}
