//! The room topic: one line that says who holds which role, in the spirit of
//! `INC-7 P1 investigating — Checkout fails | IM @alice | Backup IM @bob |
//! TL @carol (database), @dan (network) | Comms @erin (internal), @frank
//! (external) | CSL @gina (14 reports) | Scribe @hank | FR @ivan`.
//!
//! It is rendered from state only, so it can never show a relieved holder.

use crate::{Incident, RoleCatalog, RoleKind};

const MAX_TITLE: usize = 80;

pub fn render(incident: &Incident, catalog: &RoleCatalog) -> String {
    let title: String = if incident.title.chars().count() > MAX_TITLE {
        let mut t: String = incident.title.chars().take(MAX_TITLE - 1).collect();
        t.push('…');
        t
    } else {
        incident.title.clone()
    };
    let mut out = format!("INC-{} {} {} — {}", incident.number, incident.priority, incident.status, title);

    // Fixed order for the built-in roles, then custom roles by key.
    let mut order: Vec<RoleKind> = vec![
        RoleKind::IncidentManager,
        RoleKind::BackupIncidentManager,
        RoleKind::TechLead,
        RoleKind::CommunicationsManager,
        RoleKind::CustomerSupportLead,
        RoleKind::Scribe,
        RoleKind::FirstResponder,
    ];
    let mut custom: Vec<RoleKind> =
        incident.roles.iter().filter(|a| matches!(a.role, RoleKind::Custom(_))).map(|a| a.role.clone()).collect();
    custom.sort();
    custom.dedup();
    order.extend(custom);

    for role in &order {
        let mut holders: Vec<_> = incident.holders(role).collect();
        if holders.is_empty() {
            continue;
        }
        if *role == RoleKind::CommunicationsManager {
            // Both audiences first, then internal, then external.
            holders.sort_by_key(|a| match a.scope.as_ref().map(|s| s.as_str()) {
                None => 0,
                Some("internal") => 1,
                _ => 2,
            });
        }
        let people: Vec<String> = holders
            .iter()
            .map(|a| match &a.scope {
                Some(s) => format!("@{} ({s})", a.user),
                None => format!("@{}", a.user),
            })
            .collect();
        let reports = match (role, incident.customer_reports) {
            (RoleKind::CustomerSupportLead, 1) => " (1 report)".to_owned(),
            (RoleKind::CustomerSupportLead, n) if n > 1 => format!(" ({n} reports)"),
            _ => String::new(),
        };
        out.push_str(&format!(" | {} {}{reports}", catalog.label(role), people.join(", ")));
    }
    out
}
