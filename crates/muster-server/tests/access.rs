//! Who may do what, route by route: every route the server answers
//! (`muster_server::route_list`, the API's from its OpenAPI document, the
//! web's from its table) × every kind of caller, each cell an expected
//! allow or deny written once, in `rows()` below. A route without a row
//! fails the test, and so does a row for a route that is gone.
//!
//! Each row runs on a fresh server with the same cast: refusals first, then
//! the callers who may, so that a change one of them makes (closing an
//! incident) cannot hide a refusal. Refused means 401 for the anonymous API
//! caller, 403 with a problem naming who may for the others; on the web, a
//! redirect to sign in, a 403 page, or a form sent back with a refusal.
//! Allowed means the request got past authorization: no 401 or 403, and no
//! server error.

mod common;

use std::collections::BTreeSet;

use common::{ADMIN_TOKEN, TestServer};
use muster_store::Session;
use muster_store::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    Anonymous,
    Viewer,
    /// A responder with no role anywhere, owning nothing.
    Responder,
    /// The incident manager of INC-1, the incident the paths name.
    Im,
    /// The incident manager of INC-2.
    OtherIm,
    /// The owner of the service the paths name.
    Owner,
    /// In the rotation of the schedule the paths name.
    Member,
    /// The user the `{handle}` paths name.
    TheUser,
    Admin,
}

use P::*;

const CAST: [P; 9] = [Anonymous, Viewer, Responder, Im, OtherIm, Owner, Member, TheUser, Admin];
const EVERYONE: &[P] = &CAST;
const SIGNED_IN: &[P] = &[Viewer, Responder, Im, OtherIm, Owner, Member, TheUser, Admin];
const WRITERS: &[P] = &[Responder, Im, OtherIm, Owner, Member, TheUser, Admin];
const NOBODY: &[P] = &[];

impl P {
    /// The caller's handle stem; each row's world adds its number.
    fn stem(self) -> Option<&'static str> {
        Some(match self {
            Anonymous => return None,
            Viewer => "vic",
            Responder => "rita",
            Im => "ian",
            OtherIm => "olga",
            Owner => "owen",
            Member => "mia",
            TheUser => "sam",
            Admin => "admin",
        })
    }
}

/// What the cast's requests refer to, made fresh for each row: row `n`'s
/// cast is @vic{n}, @rita{n}, ... (the admin is the same for all).
struct World {
    n: usize,
    tokens: Vec<(P, String)>,
    incident: u64,
    service: u64,
    schedule: u64,
    policy: u64,
    service_key: String,
    alert: u64,
    page: u64,
    scribe_assignment: u64,
    contact_method: u64,
    /// A draft internal update on the incident, by @pat.
    update: u64,
    /// A stakeholder group.
    group: u64,
    /// A status page component.
    component: u64,
    /// A maintenance of `component`, scheduled.
    maintenance: u64,
    /// A customer report linked to the incident.
    report: u64,
    /// A notification rule of the user the paths name, on `contact_method`.
    notification_rule: u64,
    /// A token of the user the paths name, besides the one they call with.
    spare_token: u64,
    impact_matrix: Value,
    required_roles: Value,
}

impl World {
    fn handle(&self, p: P) -> Option<String> {
        match p {
            Admin => Some("admin".to_owned()),
            p => p.stem().map(|s| format!("{s}{}", self.n)),
        }
    }

    /// Someone paged and holding a role who is none of the cast.
    fn pat(&self) -> String {
        format!("pat{}", self.n)
    }

    fn token(&self, p: P) -> Option<&str> {
        self.tokens.iter().find(|(q, _)| *q == p).map(|(_, t)| t.as_str())
    }
}

enum Body {
    None,
    Json(fn(&World) -> Value),
    Form(fn(&World) -> Vec<(&'static str, String)>),
}

struct Row {
    method: Method,
    path: &'static str,
    allowed: &'static [P],
    body: Body,
}

fn row(method: &str, path: &'static str, allowed: &'static [P], body: Body) -> Row {
    Row { method: Method::from_bytes(method.as_bytes()).unwrap(), path, allowed, body }
}

fn rows() -> Vec<Row> {
    use Body::{Form, Json};
    let none = || Body::None;
    vec![
        // Users, tokens, contact methods: the user themself and admins.
        row("GET", "/api/v1/users", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/users",
            &[Admin],
            Json(|w| json!({"handle": format!("newbie{}", w.n), "name": "New", "email": "newbie@example.com"})),
        ),
        row("GET", "/api/v1/users/{handle}", SIGNED_IN, none()),
        row("PATCH", "/api/v1/users/{handle}", &[TheUser, Admin], Json(|_| json!({"time_zone": "Europe/Berlin"}))),
        row("GET", "/api/v1/me", SIGNED_IN, none()),
        row("POST", "/api/v1/users/{handle}/tokens", &[TheUser, Admin], Json(|_| json!({}))),
        row("GET", "/api/v1/users/{handle}/tokens", &[TheUser, Admin], none()),
        row("DELETE", "/api/v1/users/{handle}/tokens/{id}", &[TheUser, Admin], none()),
        row("POST", "/api/v1/users/{handle}/calendar-token", &[TheUser, Admin], Json(|_| json!({}))),
        row("POST", "/api/v1/users/{handle}/disable", &[Admin], Json(|_| json!({}))),
        row(
            "POST",
            "/api/v1/users/{handle}/password",
            &[TheUser, Admin],
            Json(|_| json!({"password": "correct horse battery"})),
        ),
        row("GET", "/api/v1/users/{handle}/contact-methods", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/users/{handle}/contact-methods",
            &[TheUser, Admin],
            Json(|_| json!({"kind": "email", "address": "sam.other@example.com"})),
        ),
        row("POST", "/api/v1/users/{handle}/contact-methods/{id}/test", &[TheUser, Admin], Json(|_| json!({}))),
        row("GET", "/api/v1/users/{handle}/notification-rules", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/users/{handle}/notification-rules",
            &[TheUser, Admin],
            Json(|w| json!({"contact_method": w.contact_method, "delay_seconds": 60})),
        ),
        row("GET", "/api/v1/users/{handle}/calendar.ics", SIGNED_IN, none()),
        row("DELETE", "/api/v1/users/{handle}/contact-methods/{id}", &[TheUser, Admin], none()),
        row("DELETE", "/api/v1/users/{handle}/notification-rules/{id}", &[TheUser, Admin], none()),
        // Settings and custom roles: admins.
        row("GET", "/api/v1/roles", SIGNED_IN, none()),
        row("POST", "/api/v1/roles", &[Admin], Json(|w| json!({"key": format!("liaison{}", w.n), "name": "Liaison"}))),
        row("GET", "/api/v1/settings/required-roles", SIGNED_IN, none()),
        row("PUT", "/api/v1/settings/required-roles", &[Admin], Json(|w| w.required_roles.clone())),
        row("GET", "/api/v1/settings/impact-matrix", SIGNED_IN, none()),
        row("PUT", "/api/v1/settings/impact-matrix", &[Admin], Json(|w| w.impact_matrix.clone())),
        row("GET", "/api/v1/jobs", &[Admin], none()),
        // Incidents: anyone declares and writes; the incident managers
        // (and admins) change it; a tech lead would move its status.
        row("GET", "/api/v1/incidents", SIGNED_IN, none()),
        row("POST", "/api/v1/incidents", WRITERS, Json(|_| json!({"title": "Checkout down", "priority": "P2"}))),
        row("GET", "/api/v1/incidents/{ref}", SIGNED_IN, none()),
        row("PATCH", "/api/v1/incidents/{ref}", &[Im, Admin], Json(|_| json!({"priority": "P4"}))),
        row("GET", "/api/v1/incidents/{ref}/roles", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/incidents/{ref}/roles",
            &[Im, Admin],
            Json(|w| json!({"role": "tech_lead", "user": w.pat()})),
        ),
        row("DELETE", "/api/v1/incidents/{ref}/roles/{id}", &[Im, Admin], none()),
        row("GET", "/api/v1/incidents/{ref}/timeline", SIGNED_IN, none()),
        row("POST", "/api/v1/incidents/{ref}/timeline", WRITERS, Json(|_| json!({"kind": "note", "text": "x"}))),
        row("GET", "/api/v1/incidents/{ref}/timeline/verify", SIGNED_IN, none()),
        row("GET", "/api/v1/incidents/{ref}/roster", SIGNED_IN, none()),
        row("GET", "/api/v1/incidents/{ref}/theories", SIGNED_IN, none()),
        row("GET", "/api/v1/incidents/{ref}/workstreams", SIGNED_IN, none()),
        // Only tech leads report to the incident manager; nobody in the cast leads.
        row("POST", "/api/v1/incidents/{ref}/tech-lead-reports", &[Admin], Json(|_| json!({"conditions": "x"}))),
        row("POST", "/api/v1/incidents/{ref}/decisions", WRITERS, Json(|_| json!({"text": "roll back"}))),
        row("GET", "/api/v1/incidents/{ref}/actions", SIGNED_IN, none()),
        row("POST", "/api/v1/incidents/{ref}/actions", WRITERS, Json(|_| json!({"text": "add an alert"}))),
        row("PATCH", "/api/v1/incidents/{ref}/actions/{id}", WRITERS, Json(|_| json!({"status": "done"}))),
        row("GET", "/api/v1/follow-ups", SIGNED_IN, none()),
        row("GET", "/api/v1/insights", SIGNED_IN, none()),
        row("GET", "/api/v1/insights.csv", SIGNED_IN, none()),
        row("GET", "/api/v1/settings/follow-up-webhook", SIGNED_IN, none()),
        row(
            "PUT",
            "/api/v1/settings/follow-up-webhook",
            &[Admin],
            Json(|_| json!({"url": "https://tracker.example/hook"})),
        ),
        row("DELETE", "/api/v1/settings/follow-up-webhook", &[Admin], none()),
        row("POST", "/api/v1/incidents/{ref}/timeline/{id}/highlight", &[Im, Admin], Json(|_| json!({}))),
        row("DELETE", "/api/v1/incidents/{ref}/timeline/{id}/highlight", &[Im, Admin], none()),
        row("POST", "/api/v1/incidents/{ref}/timeline/{id}/annotations", &[Im, Admin], Json(|_| json!({"text": "x"}))),
        row(
            "POST",
            "/api/v1/incidents/{ref}/theories/{id}/status",
            &[Im, Admin],
            Json(|_| json!({"status": "confirmed"})),
        ),
        // INC-1 is open: those who may are told a postmortem waits for the resolution.
        row("POST", "/api/v1/incidents/{ref}/postmortem", WRITERS, Json(|_| json!({}))),
        row("GET", "/api/v1/incidents/{ref}/postmortem", SIGNED_IN, none()),
        row("PATCH", "/api/v1/incidents/{ref}/postmortem", WRITERS, Json(|_| json!({"summary": "x"}))),
        row("GET", "/api/v1/incidents/{ref}/postmortem.md", SIGNED_IN, none()),
        row("GET", "/api/v1/incidents/{ref}/postmortem.html", SIGNED_IN, none()),
        row("GET", "/api/v1/settings/postmortem-templates", SIGNED_IN, none()),
        row("PUT", "/api/v1/settings/postmortem-templates", &[Admin], Json(|_| json!({"P3": "standard"}))),
        row("POST", "/api/v1/incidents/{ref}/alerts", WRITERS, Json(|w| json!({"alert_id": w.alert}))),
        // Updates: published by whoever handles that audience's
        // communications (here the incident manager); a draft is changed by
        // its author (@pat, none of the cast) or those who may publish it.
        row("GET", "/api/v1/incidents/{ref}/updates", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/incidents/{ref}/updates",
            &[Im, Admin],
            Json(|_| json!({"audience": "external", "body": "Some payments fail.", "status": "identified"})),
        ),
        row(
            "PATCH",
            "/api/v1/incidents/{ref}/updates/{id}",
            &[Im, Admin],
            Json(|_| json!({"body": "Most payments fail."})),
        ),
        row("POST", "/api/v1/incidents/{ref}/updates/{id}/publish", &[Im, Admin], Json(|_| json!({}))),
        row(
            "POST",
            "/api/v1/incidents/{ref}/updates/snooze",
            &[Im, Admin],
            Json(|_| json!({"audience": "internal", "minutes": 30})),
        ),
        row("GET", "/api/v1/settings/update-cadence", SIGNED_IN, none()),
        row("GET", "/api/v1/incidents/{ref}/updates/suggestion", SIGNED_IN, none()),
        row(
            "PUT",
            "/api/v1/settings/update-cadence",
            &[Admin],
            Json(|_| json!({"internal": {"P1": {"active": 15, "monitoring": 30}}})),
        ),
        // Customer replies: any responder records one (on the world's
        // draft, a conflict once past authorization).
        row(
            "POST",
            "/api/v1/incidents/{ref}/updates/{id}/responses",
            WRITERS,
            Json(|_| json!({"from": "Acme", "channel": "email", "body": "Still failing."})),
        ),
        // Followers: each follows for themself (viewers too), admins for anyone.
        row("GET", "/api/v1/incidents/{ref}/followers", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/incidents/{ref}/followers",
            &[TheUser, Admin],
            Json(|w| json!({"user": w.handle(TheUser)})),
        ),
        row("DELETE", "/api/v1/incidents/{ref}/followers/{handle}", &[TheUser, Admin], none()),
        // Customer reports: any responder logs one; the incident's support
        // lead, its incident managers and admins handle a linked one (the
        // world's is linked to INC-n, whose incident manager is @ian).
        row(
            "POST",
            "/api/v1/customer-reports",
            WRITERS,
            Json(|_| json!({"channel": "ticket", "customer": "Acme", "body": "Checkout fails"})),
        ),
        row("GET", "/api/v1/customer-reports", SIGNED_IN, none()),
        row("GET", "/api/v1/customer-reports/{id}", SIGNED_IN, none()),
        row("PATCH", "/api/v1/customer-reports/{id}", &[Im, Admin], Json(|_| json!({"state": "acknowledged"}))),
        row(
            "POST",
            "/api/v1/customer-reports/{id}/link",
            &[Im, Admin],
            Json(|w| json!({"incident": format!("INC-{}", w.incident)})),
        ),
        row(
            "POST",
            "/api/v1/customer-reports/link",
            &[Im, Admin],
            Json(|w| json!({"reports": [w.report], "incident": format!("INC-{}", w.incident)})),
        ),
        row("POST", "/api/v1/customer-reports/{id}/unlink", &[Im, Admin], Json(|_| json!({}))),
        row("POST", "/api/v1/customer-reports/{id}/respond", &[Im, Admin], Json(|_| json!({"body": "On it."}))),
        row("POST", "/api/v1/customer-reports/{id}/pass", &[Im, Admin], Json(|_| json!({}))),
        row("GET", "/api/v1/incidents/{ref}/customer-reports", SIGNED_IN, none()),
        row("GET", "/api/v1/support/queue", SIGNED_IN, none()),
        row("GET", "/api/v1/support/response-targets", SIGNED_IN, none()),
        row(
            "PUT",
            "/api/v1/support/response-targets",
            &[Admin],
            Json(
                |_| json!({"p1_minutes": 15, "p2_minutes": 30, "p3_minutes": 240, "p4_business_days": 1, "unlinked_minutes": 60}),
            ),
        ),
        row("GET", "/api/v1/support-integrations", &[Admin], none()),
        row(
            "POST",
            "/api/v1/support-integrations",
            &[Admin],
            Json(|w| json!({"kind": "zendesk", "name": format!("Zendesk {}", w.n)})),
        ),
        // A helpdesk's webhook: its key (here an alert service's, so unknown: 404) and signature.
        row("POST", "/api/v1/integrations/zendesk/{integration_key}", EVERYONE, Json(|_| json!({}))),
        row("POST", "/api/v1/integrations/freshdesk/{integration_key}", EVERYONE, Json(|_| json!({}))),
        row("POST", "/api/v1/integrations/intercom/{integration_key}", EVERYONE, Json(|_| json!({}))),
        row("POST", "/api/v1/integrations/support/{integration_key}", EVERYONE, Json(|_| json!({}))),
        // Stakeholder groups: admins.
        row("GET", "/api/v1/stakeholder-groups", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/stakeholder-groups",
            &[Admin],
            Json(|w| json!({"name": format!("Execs {}", w.n), "priorities": ["P1"], "audiences": ["executive"]})),
        ),
        row("GET", "/api/v1/stakeholder-groups/{id}", SIGNED_IN, none()),
        row("PATCH", "/api/v1/stakeholder-groups/{id}", &[Admin], Json(|_| json!({"priorities": ["P1", "P2"]}))),
        row("DELETE", "/api/v1/stakeholder-groups/{id}", &[Admin], none()),
        // The status page: admins keep its components; whoever publishes
        // the incident's external updates sets how it shows; anyone reads it.
        row("GET", "/api/v1/status/components", SIGNED_IN, none()),
        row("POST", "/api/v1/status/components", &[Admin], Json(|w| json!({"name": format!("API {}", w.n)}))),
        row("GET", "/api/v1/status/components/{id}", SIGNED_IN, none()),
        row("PATCH", "/api/v1/status/components/{id}", &[Admin], Json(|_| json!({"group": "Core"}))),
        row("DELETE", "/api/v1/status/components/{id}", &[Admin], none()),
        row(
            "PUT",
            "/api/v1/status/components/{id}/status",
            &[Im, Admin],
            Json(|w| {
                let status = if w.n % 2 == 0 { "major_outage" } else { "degraded_performance" };
                json!({"status": status, "incident": format!("INC-{}", w.incident)})
            }),
        ),
        row("GET", "/api/v1/settings/status-page", SIGNED_IN, none()),
        row("PUT", "/api/v1/settings/status-page", &[Admin], Json(|w| json!({"name": format!("Status {}", w.n)}))),
        row("GET", "/api/v1/status/maintenances", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/status/maintenances",
            &[Admin],
            Json(|w| {
                json!({"title": format!("Upgrade {}", w.n), "components": [w.component.to_string()],
                       "starts_at": "2027-06-01T10:00:00Z", "ends_at": "2027-06-01T11:00:00Z"})
            }),
        ),
        row("GET", "/api/v1/status/maintenances/{id}", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/status/maintenances/{id}/updates",
            &[Admin],
            Json(|w| json!({"body": format!("Note {}", w.n)})),
        ),
        row("GET", "/api/v2/scheduled-maintenances.json", EVERYONE, none()),
        row("GET", "/api/v2/scheduled-maintenances/upcoming.json", EVERYONE, none()),
        row("GET", "/api/v2/scheduled-maintenances/active.json", EVERYONE, none()),
        row("PATCH", "/api/v1/status/incidents/{ref}", &[Im, Admin], Json(|_| json!({"title": "Payments"}))),
        row("GET", "/status", EVERYONE, none()),
        row("GET", "/status/incidents/{ref}", EVERYONE, none()),
        row("GET", "/api/v2/summary.json", EVERYONE, none()),
        row("GET", "/api/v2/status.json", EVERYONE, none()),
        row("GET", "/api/v2/components.json", EVERYONE, none()),
        row("GET", "/api/v2/incidents.json", EVERYONE, none()),
        row("GET", "/api/v2/incidents/unresolved.json", EVERYONE, none()),
        row("GET", "/history.atom", EVERYONE, none()),
        row("GET", "/api/v1/status/subscribers", &[Admin], none()),
        row("DELETE", "/api/v1/status/subscribers/{id}", &[Admin], none()),
        row("POST", "/status/subscribe", EVERYONE, Json(|w| json!({"email": format!("customer{}@example.com", w.n)}))),
        row("GET", "/status/history", EVERYONE, none()),
        row("GET", "/status/subscriptions/{token}", EVERYONE, none()),
        row("POST", "/status/subscriptions/{token}", EVERYONE, Form(|_| vec![])),
        row("GET", "/status/subscriptions/{token}/confirm", EVERYONE, none()),
        row("POST", "/status/subscriptions/{token}/confirm", EVERYONE, Form(|_| vec![])),
        row("GET", "/status/subscriptions/{token}/unsubscribe", EVERYONE, none()),
        row("POST", "/status/subscriptions/{token}/unsubscribe", EVERYONE, Form(|_| vec![])),
        row("GET", "/history.rss", EVERYONE, none()),
        row("GET", "/api/v1/incidents/{ref}/pages", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/incidents/{ref}/pages",
            &[Im, Admin],
            Json(|w| json!({"target": {"user": w.pat()}, "message": "need a hand"})),
        ),
        // Pages: those it notified and whoever is in charge answer it.
        row("GET", "/api/v1/pages", SIGNED_IN, none()),
        row("GET", "/api/v1/pages/{id}", SIGNED_IN, none()),
        row("POST", "/api/v1/pages/{id}/acknowledge", &[Im, Admin], Json(|_| json!({}))),
        // Declining is for the people it notified only (here @pat, none of
        // the cast): nobody declines on someone else's behalf.
        row("POST", "/api/v1/pages/{id}/decline", NOBODY, Json(|_| json!({}))),
        // Services: anyone creates one; its owner and admins change it.
        row("GET", "/api/v1/services", SIGNED_IN, none()),
        row("POST", "/api/v1/services", WRITERS, Json(|w| json!({"name": format!("search-{}", w.n)}))),
        row("GET", "/api/v1/services/{id}", SIGNED_IN, none()),
        row("PATCH", "/api/v1/services/{id}", &[Owner, Admin], Json(|_| json!({"rotate_key": true}))),
        // Alerts: any responder triages.
        row("GET", "/api/v1/alerts", SIGNED_IN, none()),
        row("GET", "/api/v1/alerts/{id}", SIGNED_IN, none()),
        row("POST", "/api/v1/alerts/{id}/acknowledge", WRITERS, Json(|_| json!({}))),
        row("POST", "/api/v1/alerts/{id}/resolve", WRITERS, Json(|_| json!({}))),
        row("POST", "/api/v1/alerts/{id}/assess", WRITERS, Json(|_| json!({"customer_impact": "some"}))),
        row("POST", "/api/v1/alerts/{id}/declare", WRITERS, Json(|_| json!({}))),
        // Ingest: the integration key is the credential, whoever sends it.
        row(
            "POST",
            "/api/v1/integrations/alertmanager/{integration_key}",
            EVERYONE,
            Json(|_| {
                json!({"version": "4", "status": "firing", "receiver": "muster", "groupKey": "{}:{}",
                       "alerts": [{"status": "firing", "labels": {"alertname": "Down"}, "annotations": {},
                                   "startsAt": "2026-11-27T10:00:00Z", "fingerprint": "abc"}]})
            }),
        ),
        row(
            "POST",
            "/api/v1/integrations/generic/{integration_key}",
            EVERYONE,
            Json(|_| json!({"summary": "5xx", "severity": "error", "dedup_key": "g"})),
        ),
        row(
            "POST",
            "/v2/enqueue",
            EVERYONE,
            Json(|w| {
                json!({"routing_key": w.service_key, "event_action": "trigger", "dedup_key": "pd",
                       "payload": {"summary": "slow", "source": "lb", "severity": "warning"}})
            }),
        ),
        row(
            "POST",
            "/v2/change/enqueue",
            EVERYONE,
            Json(|w| json!({"routing_key": w.service_key, "payload": {"summary": "deploy v2", "source": "ci"}})),
        ),
        // Schedules and policies: admins; members add overrides.
        row("GET", "/api/v1/schedules", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/schedules",
            &[Admin],
            Json(|w| {
                json!({"name": format!("Secondary {}", w.n), "time_zone": "UTC", "layers": [
                    {"rotation": {"users": [w.handle(Member)], "shift": "1w", "handoff": "09:00", "start": "2026-11-23"}}]})
            }),
        ),
        row("GET", "/api/v1/schedules/{id}", SIGNED_IN, none()),
        row("GET", "/api/v1/schedules/{id}/on-call", SIGNED_IN, none()),
        row("GET", "/api/v1/schedules/{id}/shifts", SIGNED_IN, none()),
        row("GET", "/api/v1/schedules/{id}/calendar.ics", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/schedules/{id}/overrides",
            &[Member, Admin],
            Json(|w| json!({"user": w.pat(), "start": "2026-12-02T10:00:00Z", "end": "2026-12-02T12:00:00Z"})),
        ),
        row("GET", "/api/v1/escalation-policies", SIGNED_IN, none()),
        row(
            "POST",
            "/api/v1/escalation-policies",
            &[Admin],
            Json(
                |w| json!({"name": format!("Other {}", w.n), "steps": [{"delay_seconds": 0, "targets": [{"user": w.handle(Member)}]}]}),
            ),
        ),
        row("GET", "/api/v1/escalation-policies/{id}", SIGNED_IN, none()),
        // Outside the API's operations.
        row("GET", "/healthz", EVERYONE, none()),
        row("GET", "/metrics", EVERYONE, none()),
        row("GET", "/api/v1/openapi.json", EVERYONE, none()),
        // An answer link works by its signature alone: without one, nobody.
        row("GET", "/pages/{id}/{action}", NOBODY, none()),
        row("POST", "/pages/{id}/{action}", NOBODY, Form(|_| vec![])),
        row("GET", "/bundles/{id}/ack", NOBODY, none()),
        row("POST", "/bundles/{id}/ack", NOBODY, Form(|_| vec![])),
        // The web: pages for everyone signed in, forms by the same rules.
        row("GET", "/login", EVERYONE, none()),
        row("POST", "/login", EVERYONE, Form(|_| vec![("handle", "nobody".into()), ("password", "wrong".into())])),
        row("POST", "/logout", SIGNED_IN, Form(|_| vec![])),
        row("GET", "/static/app.css", EVERYONE, none()),
        row("GET", "/static/app.js", EVERYONE, none()),
        row("GET", "/", SIGNED_IN, none()),
        row("POST", "/incidents", WRITERS, Form(|_| vec![("title", "Search slow".into()), ("priority", "P3".into())])),
        row("GET", "/incidents/{ref}", SIGNED_IN, none()),
        row("GET", "/incidents/{ref}/events", SIGNED_IN, none()),
        row(
            "POST",
            "/incidents/{ref}/roles",
            &[Im, Admin],
            Form(|w| vec![("role", "tech_lead".into()), ("user", w.pat())]),
        ),
        row("POST", "/incidents/{ref}/roles/{id}/relieve", &[Im, Admin], Form(|_| vec![])),
        row(
            "POST",
            "/incidents/{ref}/update",
            &[Im, Admin],
            Form(|_| vec![("status", "resolved".into()), ("was_status", "investigating".into())]),
        ),
        row(
            "POST",
            "/incidents/{ref}/pages",
            &[Im, Admin],
            Form(|w| vec![("target", format!("user:{}", w.pat())), ("message", "need a hand".into())]),
        ),
        row("POST", "/incidents/{ref}/entries", WRITERS, Form(|_| vec![("kind", "note".into()), ("text", "x".into())])),
        row("POST", "/incidents/{ref}/tech-lead-reports", &[Admin], Form(|_| vec![("conditions", "x".into())])),
        row("GET", "/incidents/{ref}/postmortem", SIGNED_IN, none()),
        row("POST", "/incidents/{ref}/postmortem", WRITERS, Form(|_| vec![])),
        row("GET", "/insights", SIGNED_IN, none()),
        row("GET", "/support", SIGNED_IN, none()),
        row(
            "POST",
            "/support/reports",
            WRITERS,
            Form(|_| vec![("channel", "phone".into()), ("customer", "Ann".into()), ("body", "down".into())]),
        ),
        row(
            "POST",
            "/support/link",
            &[Im, Admin],
            Form(|w| vec![("reports", w.report.to_string()), ("bulk_incident", format!("INC-{}", w.incident))]),
        ),
        row("GET", "/support/reports/{id}", SIGNED_IN, none()),
        row(
            "POST",
            "/support/reports/{id}/link",
            &[Im, Admin],
            Form(|w| vec![("incident", format!("INC-{}", w.incident))]),
        ),
        row("POST", "/support/reports/{id}/unlink", &[Im, Admin], Form(|_| vec![])),
        row("POST", "/support/reports/{id}/respond", &[Im, Admin], Form(|_| vec![("body", "On it.".into())])),
        row("POST", "/support/reports/{id}/pass", &[Im, Admin], Form(|_| vec![])),
        row("POST", "/support/reports/{id}/state", &[Im, Admin], Form(|_| vec![("state", "acknowledged".into())])),
        row("POST", "/incidents/{ref}/room", &[Im, Admin], Form(|_| vec![("line", "/priority P4".into())])),
        row(
            "POST",
            "/incidents/{ref}/updates",
            &[Im, Admin],
            Form(|_| vec![("audience", "external".into()), ("body", "Some payments fail.".into())]),
        ),
        row("POST", "/incidents/{ref}/updates/{id}/publish", &[Im, Admin], Form(|_| vec![])),
        row(
            "POST",
            "/incidents/{ref}/updates/snooze",
            &[Im, Admin],
            Form(|_| vec![("audience", "internal".into()), ("minutes", "30".into())]),
        ),
        row("POST", "/incidents/{ref}/follow", SIGNED_IN, Form(|_| vec![])),
        row("GET", "/stakeholders", SIGNED_IN, none()),
        row(
            "POST",
            "/stakeholders",
            &[Admin],
            Form(|w| {
                vec![("name", format!("Web {}", w.n)), ("priorities", "P1".into()), ("audiences", "internal".into())]
            }),
        ),
        row("POST", "/stakeholders/{id}/remove", &[Admin], Form(|_| vec![])),
        row("GET", "/alerts", SIGNED_IN, none()),
        row("GET", "/alerts/{id}", SIGNED_IN, none()),
        row("POST", "/alerts/acknowledge", WRITERS, Form(|w| vec![("alert", w.alert.to_string())])),
        row("POST", "/alerts/{id}/acknowledge", WRITERS, Form(|_| vec![])),
        row("POST", "/alerts/{id}/assess", WRITERS, Form(|_| vec![("customer_impact", "some".into())])),
        row("POST", "/alerts/{id}/declare", WRITERS, Form(|_| vec![])),
        row("POST", "/alerts/{id}/link", WRITERS, Form(|w| vec![("incident", format!("INC-{}", w.incident))])),
        row("GET", "/services", SIGNED_IN, none()),
        row("GET", "/schedules", SIGNED_IN, none()),
        row("GET", "/schedules/{id}", SIGNED_IN, none()),
        row("GET", "/policies", SIGNED_IN, none()),
        row("GET", "/users", SIGNED_IN, none()),
        row("POST", "/users/{handle}/contact-methods/{id}/test", &[TheUser, Admin], Form(|_| vec![])),
        row("GET", "/me", SIGNED_IN, none()),
        // One's own time zone, viewers too.
        row("POST", "/me/time-zone", SIGNED_IN, Form(|_| vec![("time_zone", "Europe/Berlin".into())])),
        row("GET", "/users/{handle}", SIGNED_IN, none()),
        row(
            "POST",
            "/users/{handle}/contact-methods",
            &[TheUser, Admin],
            Form(|_| vec![("kind", "email".into()), ("address", "sam.web@example.com".into())]),
        ),
        row(
            "POST",
            "/users/{handle}/notification-rules",
            &[TheUser, Admin],
            Form(|w| vec![("contact_method", w.contact_method.to_string()), ("delay_minutes", "1".into())]),
        ),
        row("POST", "/users/{handle}/contact-methods/{id}/remove", &[TheUser, Admin], Form(|_| vec![])),
        row("POST", "/users/{handle}/notification-rules/{id}/remove", &[TheUser, Admin], Form(|_| vec![])),
    ]
}

/// The cast, the incidents, the service, its alert, the schedule, the
/// policy, a page and a contact method row `n`'s paths refer to.
async fn world(server: &TestServer, n: usize) -> World {
    let mut w = World {
        n,
        tokens: vec![(Admin, ADMIN_TOKEN.to_owned())],
        incident: 0,
        service: 0,
        schedule: 0,
        policy: 0,
        service_key: String::new(),
        alert: 0,
        page: 0,
        scribe_assignment: 0,
        contact_method: 0,
        notification_rule: 0,
        spare_token: 0,
        impact_matrix: Value::Null,
        update: 0,
        group: 0,
        component: 0,
        maintenance: 0,
        report: 0,
        required_roles: Value::Null,
    };
    for (p, permission) in [
        (Viewer, "viewer"),
        (Responder, "responder"),
        (Im, "responder"),
        (OtherIm, "responder"),
        (Owner, "responder"),
        (Member, "responder"),
        (TheUser, "responder"),
    ] {
        let token = server.user(&w.handle(p).unwrap(), permission).await;
        w.tokens.push((p, token));
    }
    let (pat, im, other_im, owner, member, the_user) = (
        w.pat(),
        w.handle(Im).unwrap(),
        w.handle(OtherIm).unwrap(),
        w.handle(Owner).unwrap(),
        w.handle(Member).unwrap(),
        w.handle(TheUser).unwrap(),
    );
    let pat_token = server.user(&pat, "responder").await;
    // Pat can be reached, so the page to them stays open (a page that reaches nobody ends at once).
    let reach = json!({"kind": "email", "address": format!("{pat}@example.com")});
    server.post(ADMIN_TOKEN, &format!("/api/v1/users/{pat}/contact-methods"), reach).await.ok(201);
    let declare = |im: &str| json!({"title": "Payments down", "priority": "P1", "incident_manager": im});
    let incident = server.post(ADMIN_TOKEN, "/api/v1/incidents", declare(&im)).await;
    w.incident = incident.ok(201)["number"].as_u64().unwrap();
    server.post(ADMIN_TOKEN, "/api/v1/incidents", declare(&other_im)).await.ok(201);
    let r = w.incident;
    let scribe =
        server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/roles"), json!({"role": "scribe", "user": pat})).await;
    w.scribe_assignment = scribe.ok(201)["id"].as_u64().unwrap();
    let draft = json!({"audience": "internal", "body": "Payments fail for some cards.", "draft": true});
    w.update =
        server.post(&pat_token, &format!("/api/v1/incidents/{r}/updates"), draft).await.ok(201)["id"].as_u64().unwrap();
    let group = json!({"name": format!("Support {n}"), "priorities": ["P1"], "audiences": ["internal"]});
    w.group = server.post(ADMIN_TOKEN, "/api/v1/stakeholder-groups", group).await.ok(201)["id"].as_u64().unwrap();
    let component = json!({"name": format!("Checkout {n}")});
    w.component =
        server.post(ADMIN_TOKEN, "/api/v1/status/components", component).await.ok(201)["id"].as_u64().unwrap();
    let window = json!({"title": format!("Upgrade {n}"), "components": [w.component.to_string()],
                        "starts_at": "2027-06-01T10:00:00Z", "ends_at": "2027-06-01T11:00:00Z"});
    w.maintenance =
        server.post(ADMIN_TOKEN, "/api/v1/status/maintenances", window).await.ok(201)["id"].as_u64().unwrap();
    let report = json!({"channel": "phone", "customer": format!("Caller {n}"), "body": "Payments fail"});
    w.report = server.post(ADMIN_TOKEN, "/api/v1/customer-reports", report).await.ok(201)["id"].as_u64().unwrap();
    let link = json!({"incident": format!("INC-{r}")});
    server.post(ADMIN_TOKEN, &format!("/api/v1/customer-reports/{}/link", w.report), link).await.ok(200);
    let service = server.service(&format!("payments-{n}"), json!({"owner": owner})).await;
    w.service = service["id"].as_u64().unwrap();
    w.service_key = service["integration_key"].as_str().unwrap().to_owned();
    let dedup = format!("first-{n}");
    let alert = json!({"summary": "5xx", "severity": "error", "dedup_key": dedup});
    server.ingest(&format!("/api/v1/integrations/generic/{}", w.service_key), &alert).await.ok(202);
    let alerts = server.get(ADMIN_TOKEN, &format!("/api/v1/alerts?service={}", w.service)).await;
    w.alert = alerts.ok(200)[0]["id"].as_u64().expect("the alert was stored");
    let schedule = json!({"name": format!("Primary {n}"), "time_zone": "UTC", "layers": [
        {"rotation": {"users": [member], "shift": "1w", "handoff": "09:00", "start": "2026-11-23"}}]});
    w.schedule = server.post(ADMIN_TOKEN, "/api/v1/schedules", schedule).await.ok(201)["id"].as_u64().unwrap();
    let policy = json!({"name": format!("Payments {n}"), "steps": [{"delay_seconds": 0, "targets": [{"schedule": w.schedule}]}]});
    w.policy = server.post(ADMIN_TOKEN, "/api/v1/escalation-policies", policy).await.ok(201)["id"].as_u64().unwrap();
    let page = json!({"target": {"user": pat}, "message": "need the payments expert"});
    let page = server.post(ADMIN_TOKEN, &format!("/api/v1/incidents/{r}/pages"), page).await;
    w.page = page.ok(201)["id"].as_u64().unwrap();
    let method = json!({"kind": "email", "address": format!("{the_user}@example.com")});
    let method = server.post(ADMIN_TOKEN, &format!("/api/v1/users/{the_user}/contact-methods"), method).await;
    w.contact_method = method.ok(201)["id"].as_u64().unwrap();
    let rule = json!({"contact_method": w.contact_method, "delay_seconds": 120});
    let rule = server.post(ADMIN_TOKEN, &format!("/api/v1/users/{the_user}/notification-rules"), rule).await;
    w.notification_rule = rule.ok(201)["id"].as_u64().unwrap();
    let spare = server.post(ADMIN_TOKEN, &format!("/api/v1/users/{the_user}/tokens"), json!({"name": "spare"})).await;
    w.spare_token = spare.ok(201)["id"].as_u64().unwrap();
    w.impact_matrix = server.get(ADMIN_TOKEN, "/api/v1/settings/impact-matrix").await.ok(200).clone();
    w.required_roles = server.get(ADMIN_TOKEN, "/api/v1/settings/required-roles").await.ok(200).clone();
    // A web session for each of the cast, as signing in would make it.
    for p in CAST {
        let Some(h) = w.handle(p) else { continue };
        let session = Session {
            id_hash: muster_app::tokens::hash_token(&format!("session-{h}")),
            user: h.parse().unwrap(),
            csrf: format!("csrf-{h}"),
            created_at: server.app.clock.now(),
            expires_at: server.app.clock.now().checked_add(jiff::SignedDuration::from_hours(1)).unwrap(),
        };
        if server.app.store.create_session(&session).await.is_err() {
            // The admin's session from an earlier row is still good.
            assert_eq!(p, Admin);
        }
    }
    w
}

/// The row's path with its parameters filled in from the world.
fn concrete(path: &str, w: &World) -> String {
    let id = if !path.contains("{id}") {
        String::new()
    } else if path.contains("/roles/{id}") {
        w.scribe_assignment.to_string()
    } else if path.contains("/timeline/{id}") || path.contains("/actions/{id}") {
        "1".to_owned()
    } else if path.contains("/theories/{id}") {
        // The declaration: not a theory, which those who may are told.
        "1".to_owned()
    } else if path.contains("/updates/{id}") {
        w.update.to_string()
    } else if path.contains("tokens/{id}") {
        w.spare_token.to_string()
    } else if path.contains("contact-methods/{id}") {
        w.contact_method.to_string()
    } else if path.contains("notification-rules/{id}") {
        w.notification_rule.to_string()
    } else if path.starts_with("/api/v1/alerts/") || path.starts_with("/alerts/") {
        w.alert.to_string()
    } else if path.contains("pages/{id}") {
        w.page.to_string()
    } else if path.starts_with("/bundles/") {
        // No bundle is needed: without a signature, nobody gets in.
        "1".to_owned()
    } else if path.contains("status/subscribers/{id}") {
        "1".to_owned()
    } else if path.contains("status/components/{id}") {
        w.component.to_string()
    } else if path.contains("status/maintenances/{id}") {
        w.maintenance.to_string()
    } else if path.contains("customer-reports/{id}") || path.contains("support/reports/{id}") {
        w.report.to_string()
    } else if path.contains("stakeholder-groups/{id}") || path.contains("stakeholders/{id}") {
        w.group.to_string()
    } else if path.contains("services/{id}") {
        w.service.to_string()
    } else if path.contains("schedules/{id}") {
        w.schedule.to_string()
    } else if path.contains("policies/{id}") {
        w.policy.to_string()
    } else {
        panic!("no id for {path}")
    };
    let mut out = path
        .replace("{ref}", &format!("INC-{}", w.incident))
        .replace("{handle}", &w.handle(TheUser).unwrap())
        .replace("{integration_key}", &w.service_key)
        .replace("{action}", "ack")
        .replace("{token}", "no-such-token")
        .replace("{id}", &id);
    if path.starts_with("/pages/") {
        out.push_str(&format!("?user={}&sig=forged", w.pat()));
    }
    if out.ends_with("/shifts") || out.ends_with(".ics") {
        out.push_str("?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z");
    }
    out
}

/// Whether a response says the caller was turned away, and why not if not.
#[derive(Debug, PartialEq)]
enum Outcome {
    Allowed(u16),
    Refused(u16),
}

async fn call(server: &TestServer, client: &reqwest::Client, w: &World, r: &Row, who: P) -> Outcome {
    let web = !r.path.starts_with("/api/") && !r.path.starts_with("/v2/") && !r.path.starts_with("/pages/");
    let url = format!("{}{}", server.url, concrete(r.path, w));
    let mut req = client.request(r.method.clone(), &url);
    if let Some(h) = w.handle(who) {
        if web {
            req = req.header("cookie", format!("muster_session=session-{h}"));
        } else if !r.path.contains("{integration_key}") && !r.path.starts_with("/v2/") {
            req = req.bearer_auth(w.token(who).unwrap());
        }
    }
    req = match &r.body {
        Body::None => req,
        Body::Json(f) => req.json(&f(w)),
        Body::Form(f) => {
            let mut fields = f(w);
            match (w.handle(who), r.path) {
                (_, "/login") => {
                    req = req.header("cookie", "muster_login=login-csrf");
                    fields.push(("csrf", "login-csrf".into()));
                }
                (Some(h), _) => fields.push(("csrf", format!("csrf-{h}"))),
                (None, _) => {}
            }
            req.form(&fields)
        }
    };
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let flash: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("muster_flash=forbidden"))
        .map(str::to_owned)
        .collect();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    // A live stream never ends: its headers are the answer.
    let body = if r.path.ends_with("/events") { String::new() } else { resp.text().await.unwrap_or_default() };
    assert!(status < 500, "{} {} as {who:?}: {status} {body}", r.method, r.path);
    if r.path == "/login" {
        // Signing in is for everyone: a wrong password is not a refusal.
        return if status == 403 { Outcome::Refused(status) } else { Outcome::Allowed(status) };
    }
    if web && status == 303 && location.starts_with("/login") && who == Anonymous {
        return Outcome::Refused(401);
    }
    if !flash.is_empty() {
        return Outcome::Refused(403);
    }
    if status == 401 || status == 403 {
        if !web && !r.path.starts_with("/pages/") {
            assert_eq!(content_type, "application/problem+json", "{} {}: {body}", r.method, r.path);
            if status == 403 {
                assert!(
                    body.contains(" may ") || body.contains("viewer"),
                    "{} {} as {who:?}: a refusal says who may: {body}",
                    r.method,
                    r.path
                );
            }
        }
        return Outcome::Refused(status);
    }
    Outcome::Allowed(status)
}

async fn every_route_lets_in_exactly_the_callers_its_row_names(backend: Backend) {
    let table = rows();
    let listed: BTreeSet<(String, String)> =
        muster_server::route_list().into_iter().map(|(m, p)| (m.to_string(), p)).collect();
    let written: BTreeSet<(String, String)> = table.iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect();
    let missing: Vec<_> = listed.difference(&written).collect();
    let gone: Vec<_> = written.difference(&listed).collect();
    assert!(missing.is_empty(), "routes without a row in the access table: {missing:?}");
    assert!(gone.is_empty(), "rows for routes that do not exist: {gone:?}");
    assert_eq!(written.len(), table.len(), "a route has two rows");

    let Some(server) = TestServer::start(backend).await else { return };
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut wrong = Vec::new();
    for (n, r) in table.iter().enumerate() {
        let w = world(&server, n).await;
        let (allowed, refused): (Vec<P>, Vec<P>) = CAST.iter().partition(|p| r.allowed.contains(p));
        for who in refused.into_iter().chain(allowed) {
            let outcome = call(&server, &client, &w, r, who).await;
            let expected_allowed = r.allowed.contains(&who);
            if matches!(outcome, Outcome::Allowed(_)) != expected_allowed {
                wrong.push(format!(
                    "{} {} as {who:?}: expected {}, got {outcome:?}",
                    r.method,
                    r.path,
                    if expected_allowed { "allowed" } else { "refused" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells differ from the table:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_lets_in_exactly_the_callers_its_row_names_on_sqlite() {
    every_route_lets_in_exactly_the_callers_its_row_names(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_lets_in_exactly_the_callers_its_row_names_on_postgres() {
    every_route_lets_in_exactly_the_callers_its_row_names(Backend::Postgres).await;
}
