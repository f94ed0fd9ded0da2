//! Customer reports on both backends: a helpdesk's event counted once, a
//! ticket's later events merged into its report, and moves written with the
//! incident's events under its lock.

use muster_domain::incident::{Context, Declaration};
use muster_domain::outbox::Job;
use muster_domain::support::{ReportChannel, ReportSpec, ReportState};
use muster_domain::{Actor, Command, Handle, Incident, Permission, Priority, RoleCatalog, Timestamp};
use muster_store::testing::TestDatabase;
use muster_store::{
    NewJob, NewReport, NewSupportIntegration, Received, ReportFilter, ReportMove, ReportRecord, Store, StoreError,
};

use muster_store::on_both_backends;

on_both_backends!(
    a_helpdesk_event_is_counted_once_and_a_later_one_updates_its_ticket,
    linking_writes_the_reports_and_the_incidents_entries_together,
    a_refused_move_writes_nothing,
);

fn now() -> Timestamp {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

fn alice() -> Actor {
    Actor { handle: Handle::parse("alice").unwrap(), permission: Permission::Responder }
}

fn spec(ticket: &str, body: &str) -> ReportSpec {
    ReportSpec::new(ReportChannel::Ticket, "Ann Lee", None, Some("Acme"), body, Some(ticket), None, None, now())
        .unwrap()
}

async fn zendesk(store: &dyn Store) -> u64 {
    let new = NewSupportIntegration {
        kind: "zendesk".into(),
        name: "Zendesk".into(),
        key: "sup_key".into(),
        secret: "s3cret".into(),
        reply_url: None,
        service: None,
    };
    let made = store.create_support_integration(&new, now()).await.unwrap();
    let again = store.create_support_integration(&new, now()).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    made.id
}

fn due_job(r: &ReportRecord) -> Vec<NewJob> {
    vec![NewJob {
        job: Job::ReportDue { report: r.id, due_at: r.response_due_at },
        idempotency_key: format!("customer_report.due:{}:{}", r.id, r.response_due_at.as_microsecond()),
        due_at: r.response_due_at,
    }]
}

fn new_report(integration: Option<u64>, s: ReportSpec) -> NewReport {
    NewReport { spec: s, service: None, integration, logged_by: None, response_due_at: now() }
}

async fn a_helpdesk_event_is_counted_once_and_a_later_one_updates_its_ticket(db: TestDatabase) {
    let store = db.open().await;
    let id = zendesk(store.as_ref()).await;
    let merge = |old: &ReportRecord| {
        let mut r = old.clone();
        r.spec.body = format!("{}\n\nlater", old.spec.body);
        r
    };
    let first = new_report(Some(id), spec("35436", "Checkout fails"));
    let made = store.receive_report(&first, "evt-1", &merge, &due_job, now()).await.unwrap();
    let Received::Created(report) = made else { panic!("a new ticket makes a report: {made:?}") };
    assert_eq!(
        store.receive_report(&first, "evt-1", &merge, &due_job, now()).await.unwrap(),
        Received::Repeated(report.id)
    );
    let later = new_report(Some(id), spec("35436", "ignored"));
    let Received::Updated(updated) = store.receive_report(&later, "evt-2", &merge, &due_job, now()).await.unwrap()
    else {
        panic!("a later event updates the ticket's report")
    };
    assert_eq!((updated.id, updated.spec.body.as_str()), (report.id, "Checkout fails\n\nlater"));
    let all = store.reports(&ReportFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1, "one report per ticket");
    assert_eq!(all[0].spec.body, "Checkout fails\n\nlater");
    let jobs = store.jobs(&muster_store::JobFilter::default()).await.unwrap();
    assert_eq!(jobs.iter().filter(|j| j.kind == "customer_report.due").count(), 1, "one reminder, for the new report");
    // Another ticket of the same integration is another report.
    let other = new_report(Some(id), spec("35437", "Search is slow"));
    assert!(matches!(
        store.receive_report(&other, "evt-3", &merge, &due_job, now()).await.unwrap(),
        Received::Created(_)
    ));
    assert_eq!(store.reports(&ReportFilter::default()).await.unwrap().len(), 2);
}

async fn declare(store: &dyn Store) -> Incident {
    let catalog = RoleCatalog::default();
    let decide = |number: u64| {
        let d = Declaration {
            title: "Checkout fails".into(),
            summary: String::new(),
            priority: Priority::P1,
            incident_manager: alice(),
        };
        Incident::declare(number, d, Context { actor: &alice(), now: now(), catalog: &catalog })
    };
    store.declare_incident(&decide).await.unwrap().0
}

fn link(by: Actor) -> impl Fn(Option<&Incident>, &[ReportRecord]) -> Result<ReportMove, muster_domain::DomainError> {
    move |incident, reports| {
        let incident = incident.expect("locked");
        let catalog = RoleCatalog::default();
        let command = Command::LinkCustomerReports { reports: reports.iter().map(ReportRecord::reference).collect() };
        let (next, events) = incident.execute(command, Context { actor: &by, now: now(), catalog: &catalog })?;
        let moved = reports
            .iter()
            .map(|r| ReportRecord { incident: Some(incident.number), state: ReportState::Acknowledged, ..r.clone() })
            .collect();
        Ok(ReportMove { reports: moved, incident: Some((next, events)), ..ReportMove::default() })
    }
}

async fn linking_writes_the_reports_and_the_incidents_entries_together(db: TestDatabase) {
    let store = db.open().await;
    let incident = declare(store.as_ref()).await;
    let none = |_: &ReportRecord| Vec::new();
    let a = store.create_report(&new_report(None, spec("1", "one")), &none, now()).await.unwrap();
    let b = store.create_report(&new_report(None, spec("2", "two")), &none, now()).await.unwrap();
    let (moved, events) =
        store.change_reports(&[b.id, a.id], Some(incident.number), &link(alice()), now()).await.unwrap();
    assert_eq!(moved.iter().map(|r| r.id).collect::<Vec<_>>(), [b.id, a.id], "in the order asked");
    assert_eq!(events.iter().filter(|e| e.change.kind() == "customer_report_linked").count(), 2);
    let linked = ReportFilter { incident: Some(incident.number), ..ReportFilter::default() };
    assert_eq!(store.reports(&linked).await.unwrap().len(), 2);
    let unlinked = ReportFilter { unlinked: true, ..ReportFilter::default() };
    assert!(store.reports(&unlinked).await.unwrap().is_empty());
    let state = store.incident(incident.number).await.unwrap().unwrap();
    assert_eq!(state.customer_reports, 2);
    let acknowledged = ReportFilter { states: vec![ReportState::Acknowledged], ..ReportFilter::default() };
    assert_eq!(store.reports(&acknowledged).await.unwrap().len(), 2);
}

async fn a_refused_move_writes_nothing(db: TestDatabase) {
    let store = db.open().await;
    let incident = declare(store.as_ref()).await;
    let none = |_: &ReportRecord| Vec::new();
    let a = store.create_report(&new_report(None, spec("1", "one")), &none, now()).await.unwrap();
    let mallory = Actor { handle: Handle::parse("mallory").unwrap(), permission: Permission::Responder };
    let err = store.change_reports(&[a.id], Some(incident.number), &link(mallory), now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err}");
    assert_eq!(store.report(a.id).await.unwrap().unwrap().incident, None);
    let missing = store.change_reports(&[a.id + 100], Some(incident.number), &link(alice()), now()).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
}
