//! A bundle's follow-up (`page.bundle` jobs, due when a person's window on
//! a service closes): the pager sends it.

use std::sync::Arc;

use muster_domain::outbox::Job;

use super::{Attempt, Channel, Failure};
use crate::pager::Pager;

pub struct PageBundleChannel {
    pager: Arc<Pager>,
}

impl PageBundleChannel {
    pub fn new(pager: Arc<Pager>) -> PageBundleChannel {
        PageBundleChannel { pager }
    }
}

#[async_trait::async_trait]
impl Channel for PageBundleChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["page.bundle"]
    }

    async fn deliver(&self, job: &Job, _: &Attempt<'_>) -> Result<(), Failure> {
        let Job::PageBundle { bundle } = job else { return Err(Failure::permanent("not a page bundle")) };
        self.pager.send_bundle(*bundle).await.map_err(|e| Failure::new(format!("bundle {bundle}: {e}")))
    }
}
