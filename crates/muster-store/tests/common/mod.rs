//! What the store's alert tests share: the services' owner, a service, and
//! a monitoring event.

#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;

use muster_domain::alert::{AlertAction, AutoDeclare, DedupKey, IntegrationKey, Severity};
use muster_domain::{Handle, Permission, Priority, Timestamp};
use muster_store::{IngestEvent, NewService, NewUser, Store};
use serde_json::json;

/// `@owner`, a responder, made once.
pub async fn owner(store: &dyn Store, now: Timestamp) -> Handle {
    let owner = NewUser {
        handle: Handle::parse("owner").unwrap(),
        name: "Owner".into(),
        email: "o@example.com".into(),
        permission: Permission::Responder,
        time_zone: None,
    };
    store.ensure_user(&owner, now).await.unwrap();
    owner.handle
}

/// A service owned by `@owner`, its integration key `key` sixteen times,
/// declaring by itself at `auto`, paging through `policy`.
pub async fn service(
    store: &dyn Store,
    name: &str,
    key: u8,
    auto: &[(Severity, Priority)],
    policy: Option<u64>,
    now: Timestamp,
) -> u64 {
    let s = NewService {
        name: name.into(),
        description: String::new(),
        owner: Some(owner(store, now).await),
        integration_key: IntegrationKey::from_bytes([key; 16]),
        auto_declare: AutoDeclare(auto.iter().copied().collect::<BTreeMap<_, _>>()),
        escalation_policy: policy,
    };
    store.create_service(&s, now).await.unwrap().id
}

/// An event of `action` for key `dedup` on `service`.
pub fn event(service: u64, action: AlertAction, dedup: &str, severity: Severity) -> IngestEvent {
    IngestEvent {
        service,
        action,
        dedup_key: DedupKey::parse(dedup).unwrap(),
        summary: format!("{dedup} is failing"),
        severity,
        source: "test".into(),
        details: json!({"dedup": dedup}),
        links: json!([]),
    }
}
