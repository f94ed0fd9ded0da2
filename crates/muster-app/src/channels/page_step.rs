//! An escalation step's timer (`page.step` jobs): the pager runs the step.

use std::sync::Arc;

use muster_domain::outbox::Job;

use super::{Attempt, Channel, Failure};
use crate::pager::Pager;

pub struct PageStepChannel {
    pager: Arc<Pager>,
}

impl PageStepChannel {
    pub fn new(pager: Arc<Pager>) -> PageStepChannel {
        PageStepChannel { pager }
    }
}

#[async_trait::async_trait]
impl Channel for PageStepChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["page.step"]
    }

    async fn deliver(&self, job: &Job, _: &Attempt<'_>) -> Result<(), Failure> {
        let Job::PageStep { page, step } = job else { return Err(Failure::permanent("not a page step")) };
        self.pager.run_step(*page, *step).await.map_err(|e| Failure::new(format!("page {page} step {step}: {e}")))
    }

    /// A step that can never run would leave its page waiting forever: it
    /// expires instead, with why on the incident's timeline.
    async fn gave_up(&self, job: &Job, why: &str) -> Result<(), Failure> {
        let Job::PageStep { page, step } = job else { return Ok(()) };
        let reason = format!("Muster could not run step {}: {why}", step + 1);
        self.pager.give_up(*page, &reason).await.map_err(|e| Failure::new(format!("expiring page {page}: {e}")))
    }
}
