//! A customer report's first response is due (`customer_report.due` jobs,
//! written when a report arrives and whenever its due time moves): tell
//! the incident's customer support lead — the incident manager when there
//! is none — or whoever logged a report linked to no incident, through
//! their contact methods. A job whose due time is no longer the report's
//! (it was answered, or linked to an incident of another priority) does
//! nothing.

use std::sync::Arc;

use muster_domain::Timestamp;
use muster_domain::outbox::Job;
use muster_store::{NewJob, ReportMove, ReportRecord, Store, StoreError};
use serde_json::json;

use super::{Attempt, Channel, Failure};
use crate::clock::Clock;

pub struct ReportDueChannel {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    public_url: String,
}

impl ReportDueChannel {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        ReportDueChannel { store, clock, public_url: public_url.trim_end_matches('/').to_owned() }
    }

    async fn remind(&self, id: u64, due_at: Timestamp) -> Result<(), StoreError> {
        let due = |r: &ReportRecord| r.state.awaits_response() && r.response_due_at == due_at;
        let Some(report) = self.store.report(id).await? else { return Ok(()) };
        if !due(&report) {
            tracing::info!(report = id, "answered, or due at another time: no reminder");
            return Ok(());
        }
        let people = match report.incident {
            Some(n) => match self.store.incident(n).await? {
                Some(i) => muster_domain::support::reminded(&i),
                None => Vec::new(),
            },
            None => report.logged_by.iter().cloned().collect(),
        };
        let mut methods = Vec::new();
        for p in &people {
            methods.push((p.clone(), self.store.contact_methods(p).await?));
        }
        let url = format!("{}/support/reports/{id}", self.public_url);
        let now = self.clock.now();
        let decide = |_: Option<&muster_domain::Incident>, reports: &[ReportRecord]| {
            let r = &reports[0];
            if !due(r) {
                return Ok(ReportMove::default());
            }
            let headline = format!("the first answer to {} is due", r.reference().describe());
            let body = json!({"type": "customer_report.due", "report": r.id,
                              "incident": r.incident.map(|n| format!("INC-{n}")), "customer": r.spec.customer,
                              "due_at": due_at.to_string(), "summary": headline, "url": url});
            let text = format!("{headline} (at {due_at}).\n\n{}\n\nAnswer it: {url}\n", r.spec.body);
            let mut jobs = Vec::new();
            for (person, found) in &methods {
                for m in found {
                    let job = super::notification(m, body.clone(), &format!("[Muster] {headline}"), text.clone());
                    let key =
                        format!("customer_report.reminded:{id}:{}:{person}:method:{}", due_at.as_microsecond(), m.id);
                    jobs.push(NewJob { job, idempotency_key: key, due_at: now });
                }
            }
            Ok(ReportMove { jobs, ..ReportMove::default() })
        };
        self.store.change_reports(&[id], None, &decide, now).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Channel for ReportDueChannel {
    fn kinds(&self) -> &'static [&'static str] {
        &["customer_report.due"]
    }

    async fn deliver(&self, job: &Job, _: &Attempt<'_>) -> Result<(), Failure> {
        let Job::ReportDue { report, due_at } = job else {
            return Err(Failure::permanent("not a customer report reminder"));
        };
        self.remind(*report, *due_at)
            .await
            .map_err(|e| Failure::new(format!("customer report {report}'s reminder: {e}")))
    }
}
