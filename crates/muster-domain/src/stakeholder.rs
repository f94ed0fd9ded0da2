//! Who hears about an incident besides its responders: stakeholder groups
//! and an incident's followers, and whom a published update reaches.
//!
//! A group is a standing list of people (by handle, reached through their
//! contact methods), email addresses and signed webhooks, with filters: the
//! priorities and services it cares about and the audiences it reads
//! (executives want executive updates of P1s; a support team wants the
//! internal ones of its services). Followers are people who asked to hear
//! one incident's internal updates. [`recipients`] decides, from the groups
//! and followers, who receives one published update: each address once,
//! however many groups name it.

use std::collections::BTreeSet;

use crate::update::UpdateAudience;
use crate::{DomainError, Handle, Incident, Priority};

/// Members, emails and webhooks in one group, each.
pub const MAX_GROUP_ENTRIES: usize = 200;

/// Characters in a group's name, and in each service name it lists.
pub const MAX_GROUP_NAME_CHARS: usize = 100;

/// What a stakeholder group is, as its admins write it (webhooks by URL;
/// their secrets are the store's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    pub members: Vec<Handle>,
    pub emails: Vec<String>,
    /// The incident priorities it hears about; at least one.
    pub priorities: Vec<Priority>,
    /// The services it hears about (an incident's alerts name them); none:
    /// every service, and incidents without alerts.
    pub services: Vec<String>,
    /// The update audiences it receives; at least one.
    pub audiences: Vec<UpdateAudience>,
}

impl GroupSpec {
    /// Checks and tidies a group (trimmed, duplicates dropped), naming the
    /// field of each refusal.
    pub fn new(
        name: &str,
        members: Vec<Handle>,
        emails: Vec<String>,
        priorities: Vec<Priority>,
        services: Vec<String>,
        audiences: Vec<UpdateAudience>,
    ) -> Result<GroupSpec, DomainError> {
        // Limits count what was sent (before trimming and dropping
        // duplicates), as the API says.
        for (field, n) in [
            ("members", members.len()),
            ("emails", emails.len()),
            ("priorities", priorities.len()),
            ("services", services.len()),
            ("audiences", audiences.len()),
        ] {
            if n > MAX_GROUP_ENTRIES {
                return Err(DomainError::invalid(field, format!("at most {MAX_GROUP_ENTRIES} in one group")));
            }
        }
        if name.chars().count() > MAX_GROUP_NAME_CHARS {
            return Err(DomainError::invalid("name", format!("at most {MAX_GROUP_NAME_CHARS} characters")));
        }
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(DomainError::invalid("name", "a group needs a name"));
        }
        let mut clean_emails = Vec::new();
        for (i, e) in emails.iter().enumerate() {
            let e = crate::paging::contact_address(crate::paging::ContactKind::Email, e).map_err(|err| match err {
                DomainError::Invalid { message, .. } => DomainError::invalid(format!("emails[{i}]"), message),
                other => other,
            })?;
            if !clean_emails.iter().any(|c: &String| c.eq_ignore_ascii_case(&e)) {
                clean_emails.push(e);
            }
        }
        let mut clean_services = Vec::new();
        for (i, s) in services.iter().enumerate() {
            if s.chars().count() > MAX_GROUP_NAME_CHARS {
                let message = format!("a service's name has at most {MAX_GROUP_NAME_CHARS} characters");
                return Err(DomainError::invalid(format!("services[{i}]"), message));
            }
            let s = s.trim();
            if s.is_empty() {
                return Err(DomainError::invalid(format!("services[{i}]"), "an empty service name"));
            }
            if !clean_services.iter().any(|c: &String| c == s) {
                clean_services.push(s.to_owned());
            }
        }
        if priorities.is_empty() {
            return Err(DomainError::invalid("priorities", "a group hears about at least one priority (P1 … P4)"));
        }
        if audiences.is_empty() {
            return Err(DomainError::invalid(
                "audiences",
                "a group receives at least one audience's updates (internal, external, executive)",
            ));
        }
        Ok(GroupSpec {
            name,
            members: dedup(members),
            emails: clean_emails,
            priorities: dedup(priorities),
            services: clean_services,
            audiences: dedup(audiences),
        })
    }

    /// Whether the group receives `audience`'s updates of `incident`.
    pub fn matches(&self, incident: &Incident, audience: UpdateAudience) -> bool {
        self.audiences.contains(&audience)
            && self.priorities.contains(&incident.priority)
            && (self.services.is_empty() || incident.alerts.iter().any(|a| self.services.contains(&a.service)))
    }
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// A group as the store keeps it: its spec, and its webhooks by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: u64,
    pub spec: GroupSpec,
    /// (webhook id, URL).
    pub webhooks: Vec<(u64, String)>,
}

/// One receiver of a published update.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Recipient {
    /// A person, through each of their contact methods.
    Person { handle: Handle, why: String },
    /// An address named by a group.
    Email { address: String, why: String },
    /// A group's webhook, signed with its own secret.
    Webhook { id: u64, why: String },
}

impl Recipient {
    /// Why they receive it: "group Executives", "follower".
    pub fn why(&self) -> &str {
        match self {
            Recipient::Person { why, .. } | Recipient::Email { why, .. } | Recipient::Webhook { why, .. } => why,
        }
    }
}

/// Who receives `audience`'s update of `incident`: the members, emails and
/// webhooks of every matching group, and for internal updates the
/// incident's followers, each once (the first reason kept).
pub fn recipients(
    incident: &Incident,
    audience: UpdateAudience,
    groups: &[Group],
    followers: &[Handle],
) -> Vec<Recipient> {
    let mut out = Vec::new();
    let mut people = BTreeSet::new();
    let mut emails = BTreeSet::new();
    let mut hooks = BTreeSet::new();
    for g in groups.iter().filter(|g| g.spec.matches(incident, audience)) {
        let why = format!("group {}", g.spec.name);
        for m in &g.spec.members {
            if people.insert(m.clone()) {
                out.push(Recipient::Person { handle: m.clone(), why: why.clone() });
            }
        }
        for e in &g.spec.emails {
            if emails.insert(e.to_ascii_lowercase()) {
                out.push(Recipient::Email { address: e.clone(), why: why.clone() });
            }
        }
        for (id, _) in &g.webhooks {
            if hooks.insert(*id) {
                out.push(Recipient::Webhook { id: *id, why: why.clone() });
            }
        }
    }
    if audience == UpdateAudience::Internal {
        for f in followers {
            if people.insert(f.clone()) {
                out.push(Recipient::Person { handle: f.clone(), why: "follower".to_owned() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertRef, AlertStatus, Severity};
    use proptest::prelude::*;

    fn incident(priority: Priority, services: &[&str]) -> Incident {
        let admin = crate::Actor { handle: h("ada"), permission: crate::Permission::Admin };
        let catalog = crate::RoleCatalog::default();
        let d = crate::incident::Declaration {
            title: "Checkout fails".into(),
            summary: String::new(),
            priority,
            incident_manager: admin.clone(),
        };
        let now = "2026-12-01T10:00:00Z".parse().unwrap();
        let ctx = crate::incident::Context { actor: &admin, now, catalog: &catalog };
        let mut i = Incident::declare(1, d, ctx).unwrap().0;
        i.alerts = services
            .iter()
            .enumerate()
            .map(|(n, s)| AlertRef {
                id: n as u64 + 1,
                service: (*s).to_owned(),
                summary: "s".into(),
                severity: Severity::Critical,
                status: AlertStatus::Triggered,
            })
            .collect();
        i
    }

    fn h(s: &str) -> Handle {
        Handle::parse(s).unwrap()
    }

    fn group(
        id: u64,
        name: &str,
        priorities: Vec<Priority>,
        services: &[&str],
        audiences: Vec<UpdateAudience>,
    ) -> Group {
        let spec = GroupSpec::new(
            name,
            vec![h("ann"), h("bob")],
            vec![format!("{name}@example.org")],
            priorities,
            services.iter().map(|s| (*s).to_owned()).collect(),
            audiences,
        )
        .unwrap();
        Group { id, spec, webhooks: vec![(id * 10, format!("https://hooks.example.org/{id}"))] }
    }

    #[test]
    fn a_group_hears_only_its_priorities_audiences_and_services() {
        let g = group(1, "execs", vec![Priority::P1, Priority::P2], &[], vec![UpdateAudience::Internal]);
        assert!(g.spec.matches(&incident(Priority::P1, &[]), UpdateAudience::Internal));
        assert!(!g.spec.matches(&incident(Priority::P3, &[]), UpdateAudience::Internal), "a P3 is not theirs");
        assert!(!g.spec.matches(&incident(Priority::P1, &[]), UpdateAudience::External), "nor external updates");
        let shop = group(2, "shop", vec![Priority::P1], &["checkout"], vec![UpdateAudience::Internal]);
        assert!(shop.spec.matches(&incident(Priority::P1, &["search", "checkout"]), UpdateAudience::Internal));
        assert!(!shop.spec.matches(&incident(Priority::P1, &["search"]), UpdateAudience::Internal));
        assert!(!shop.spec.matches(&incident(Priority::P1, &[]), UpdateAudience::Internal));
    }

    #[test]
    fn a_group_is_refused_naming_the_field_that_is_wrong() {
        let ok = |emails: Vec<&str>, priorities: Vec<Priority>, audiences: Vec<UpdateAudience>| {
            GroupSpec::new("g", vec![], emails.into_iter().map(str::to_owned).collect(), priorities, vec![], audiences)
        };
        let field = |r: Result<GroupSpec, DomainError>| match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(ok(vec!["a@b.org", "nope"], vec![Priority::P1], vec![UpdateAudience::Internal])), "emails[1]");
        assert_eq!(field(ok(vec![], vec![], vec![UpdateAudience::Internal])), "priorities");
        assert_eq!(field(ok(vec![], vec![Priority::P1], vec![])), "audiences");
        let empty = GroupSpec::new(" ", vec![], vec![], vec![Priority::P1], vec![], vec![UpdateAudience::Internal]);
        assert_eq!(field(empty), "name");
        let tidy = ok(vec!["A@b.org", "a@B.org"], vec![Priority::P1, Priority::P1], vec![UpdateAudience::Internal]);
        let tidy = tidy.unwrap();
        assert_eq!((tidy.emails.len(), tidy.priorities.len()), (1, 1), "duplicates dropped");
    }

    #[test]
    fn followers_hear_internal_updates_only() {
        let followers = [h("cat")];
        let i = incident(Priority::P3, &[]);
        let internal = recipients(&i, UpdateAudience::Internal, &[], &followers);
        assert_eq!(internal, vec![Recipient::Person { handle: h("cat"), why: "follower".into() }]);
        assert!(recipients(&i, UpdateAudience::External, &[], &followers).is_empty());
        assert!(recipients(&i, UpdateAudience::Executive, &[], &followers).is_empty());
    }

    fn arb_group() -> impl Strategy<Value = Group> {
        let priorities = proptest::sample::subsequence(Priority::ALL.to_vec(), 1..=4);
        let audiences = proptest::sample::subsequence(UpdateAudience::ALL.to_vec(), 1..=3);
        let services = proptest::sample::subsequence(vec!["checkout", "search", "auth"], 0..=2);
        let people = proptest::sample::subsequence(vec!["ann", "bob", "cat", "dan"], 0..=4);
        let emails = proptest::sample::subsequence(vec!["x@a.org", "X@A.org", "y@a.org"], 0..=3);
        (1u64..4, priorities, audiences, services, people, emails).prop_map(|(id, p, a, s, people, emails)| Group {
            id,
            spec: GroupSpec {
                name: format!("g{id}"),
                members: people.into_iter().map(h).collect(),
                emails: emails.into_iter().map(str::to_owned).collect(),
                priorities: p,
                services: s.into_iter().map(str::to_owned).collect(),
                audiences: a,
            },
            webhooks: vec![(id, format!("https://h/{id}"))],
        })
    }

    proptest! {
        #[test]
        fn every_recipient_is_reached_once_and_only_through_a_matching_group_or_as_a_follower(
            groups in proptest::collection::vec(arb_group(), 0..4),
            followers in proptest::sample::subsequence(vec!["bob", "eve"], 0..=2),
            priority in proptest::sample::select(Priority::ALL.to_vec()),
            audience in proptest::sample::select(UpdateAudience::ALL.to_vec()),
            services in proptest::sample::subsequence(vec!["checkout", "search"], 0..=2),
        ) {
            let followers: Vec<Handle> = followers.into_iter().map(h).collect();
            let i = incident(priority, &services);
            let got = recipients(&i, audience, &groups, &followers);
            let mut keys = BTreeSet::new();
            for r in &got {
                let key = match r {
                    Recipient::Person { handle, .. } => format!("p:{handle}"),
                    Recipient::Email { address, .. } => format!("e:{}", address.to_ascii_lowercase()),
                    Recipient::Webhook { id, .. } => format!("w:{id}"),
                };
                prop_assert!(keys.insert(key), "reached twice: {r:?}");
                if r.why() == "follower" {
                    prop_assert_eq!(audience, UpdateAudience::Internal);
                } else {
                    let name = r.why().strip_prefix("group ").unwrap();
                    let matching = groups.iter().any(|g| g.spec.name == name && g.spec.matches(&i, audience));
                    prop_assert!(matching, "{:?} reached through a group that does not match", r);
                }
            }
            for g in groups.iter().filter(|g| g.spec.matches(&i, audience)) {
                for m in &g.spec.members {
                    let reached = got.iter().any(|r| matches!(r, Recipient::Person { handle, .. } if handle == m));
                    prop_assert!(reached, "member {} of a matching group is not reached", m);
                }
            }
        }
    }
}
