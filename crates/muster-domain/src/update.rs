//! Updates about an incident: what its communications managers write for
//! the responders (internal), for executives, and for customers (external).
//!
//! An update is written as a draft or published at once. Publishing is a
//! command on the incident ([`crate::Command::PublishUpdate`]), so who may
//! publish is the access table's ([`UpdateAudience::publish_action`]) and
//! the published text is a timeline entry; a draft is not. Anyone who may
//! write drafts one for those who may publish it.
//!
//! Internal updates follow Netflix Dispatch's tactical report (conditions,
//! actions, needs), executive ones its executive report (current status,
//! overview, next steps); `body` is free Markdown for any audience, and an
//! external update carries the status customers see (Statuspage's
//! investigating, identified, monitoring, resolved).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::access::{self, Action, Standing};
use crate::role::Audience;
use crate::{Actor, DomainError, Handle, Incident, Status};

/// Characters in an update's body, and in each field of its form.
pub const MAX_UPDATE_CHARS: usize = 10_000;

/// The longest `next_update_in_minutes`: a day.
pub const MAX_NEXT_UPDATE_MINUTES: u32 = 24 * 60;

/// Whom an update is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateAudience {
    /// The responders and the rest of the company.
    Internal,
    /// Customers (the public status page).
    External,
    /// Executives and other high-level stakeholders.
    Executive,
}

impl UpdateAudience {
    pub const ALL: [UpdateAudience; 3] =
        [UpdateAudience::Internal, UpdateAudience::External, UpdateAudience::Executive];

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateAudience::Internal => "internal",
            UpdateAudience::External => "external",
            UpdateAudience::Executive => "executive",
        }
    }

    /// The communications manager's audience that covers it: executives
    /// are told by whoever handles internal communications.
    pub fn communications(self) -> Audience {
        match self {
            UpdateAudience::Internal | UpdateAudience::Executive => Audience::Internal,
            UpdateAudience::External => Audience::External,
        }
    }

    /// The action publishing an update for this audience is.
    pub fn publish_action(self) -> Action {
        match self.communications() {
            Audience::Internal => Action::PublishInternalUpdate,
            Audience::External => Action::PublishExternalUpdate,
        }
    }

    /// The fields of its structured form, in the order they are shown.
    pub fn form_fields(self) -> &'static [&'static str] {
        match self {
            UpdateAudience::Internal => &["conditions", "actions", "needs"],
            UpdateAudience::Executive => &["current_status", "overview", "next_steps"],
            UpdateAudience::External => &[],
        }
    }
}

impl fmt::Display for UpdateAudience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UpdateAudience {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UpdateAudience::ALL.into_iter().find(|a| a.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid("audience", format!("{s:?} is not an audience: one of internal, external, executive"))
        })
    }
}

/// Whether an update is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Draft,
    Published,
}

impl UpdateState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Draft => "draft",
            UpdateState::Published => "published",
        }
    }
}

impl FromStr for UpdateState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "draft" => Ok(UpdateState::Draft),
            "published" => Ok(UpdateState::Published),
            _ => Err(DomainError::invalid("state", format!("{s:?} is not an update state: draft or published"))),
        }
    }
}

/// The status an external update tells customers (Statuspage's incident
/// statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl PublicStatus {
    pub const ALL: [PublicStatus; 4] =
        [PublicStatus::Investigating, PublicStatus::Identified, PublicStatus::Monitoring, PublicStatus::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            PublicStatus::Investigating => "investigating",
            PublicStatus::Identified => "identified",
            PublicStatus::Monitoring => "monitoring",
            PublicStatus::Resolved => "resolved",
        }
    }

    /// How customers read it.
    pub fn label(self) -> &'static str {
        match self {
            PublicStatus::Investigating => "Investigating",
            PublicStatus::Identified => "Identified",
            PublicStatus::Monitoring => "Monitoring",
            PublicStatus::Resolved => "Resolved",
        }
    }

    /// What customers are told by default while the incident is in `status`.
    pub fn of(status: Status) -> PublicStatus {
        match status {
            Status::Investigating => PublicStatus::Investigating,
            Status::Identified => PublicStatus::Identified,
            Status::Monitoring => PublicStatus::Monitoring,
            Status::Resolved | Status::Closed => PublicStatus::Resolved,
        }
    }
}

impl FromStr for PublicStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicStatus::ALL.into_iter().find(|p| p.as_str() == s.trim()).ok_or_else(|| {
            DomainError::invalid(
                "status",
                format!("{s:?} is not a public status: one of investigating, identified, monitoring, resolved"),
            )
        })
    }
}

/// What was asked for, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateInput {
    pub body: String,
    /// The structured form's fields, by name.
    pub form: Vec<(String, String)>,
    pub status: Option<PublicStatus>,
    /// Affected components (by id or name) and the status each is in now.
    pub components: Vec<(String, String)>,
    pub next_update_in_minutes: Option<u32>,
}

/// An update's checked content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateContent {
    pub audience: UpdateAudience,
    /// Free Markdown; may be empty when the form says it all.
    pub body: String,
    /// The form's non-empty fields, in the audience's order.
    pub form: Vec<(String, String)>,
    /// External updates only.
    pub status: Option<PublicStatus>,
    pub next_update_in_minutes: Option<u32>,
    /// External updates only: the components it puts in a state, when it
    /// is published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Affected>,
}

/// A status page component an external update names, and its new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    pub component: u64,
    pub status: crate::statuspage::ComponentStatus,
}

/// The status page's components an update may name: (id, name).
pub type ComponentCatalog = [(u64, String)];

impl UpdateContent {
    /// Checks `input` for `audience`: a body or a form field, fields the
    /// audience's form has, a status only on external updates, within the
    /// limits. Each refusal names its field.
    pub fn new(audience: UpdateAudience, input: UpdateInput) -> Result<UpdateContent, DomainError> {
        UpdateContent::with_components(audience, input, &[])
    }

    /// [`UpdateContent::new`], with the components the page has: an
    /// external update may name them (by id or name, each once) with a
    /// component status.
    pub fn with_components(
        audience: UpdateAudience,
        input: UpdateInput,
        catalog: &ComponentCatalog,
    ) -> Result<UpdateContent, DomainError> {
        let too_long = |text: &str| text.chars().count() > MAX_UPDATE_CHARS;
        if too_long(&input.body) {
            return Err(DomainError::invalid(
                "body",
                format!("an update's body has at most {MAX_UPDATE_CHARS} characters"),
            ));
        }
        let allowed = audience.form_fields();
        let mut form: Vec<(String, String)> = Vec::new();
        for (name, value) in input.form {
            let field = format!("form.{name}");
            if !allowed.contains(&name.as_str()) {
                let message = if allowed.is_empty() {
                    format!("{audience} updates have no form: write the body")
                } else {
                    format!("{audience} updates have no field {name:?}; their form has {}", allowed.join(", "))
                };
                return Err(DomainError::invalid(field, message));
            }
            if too_long(&value) {
                return Err(DomainError::invalid(field, format!("a field has at most {MAX_UPDATE_CHARS} characters")));
            }
            if form.iter().any(|(n, _)| *n == name) {
                return Err(DomainError::invalid(field, "given twice"));
            }
            let value = value.trim().to_owned();
            if !value.is_empty() {
                form.push((name, value));
            }
        }
        form.sort_by_key(|(n, _)| allowed.iter().position(|a| a == n));
        let body = input.body.trim().to_owned();
        if body.is_empty() && form.is_empty() {
            let message = if allowed.is_empty() {
                "an update needs a body".to_owned()
            } else {
                format!("an update needs a body or one of its form's fields ({})", allowed.join(", "))
            };
            return Err(DomainError::invalid("body", message));
        }
        if input.status.is_some() && audience != UpdateAudience::External {
            return Err(DomainError::invalid("status", "only external updates tell a public status"));
        }
        if !input.components.is_empty() && audience != UpdateAudience::External {
            return Err(DomainError::invalid("components", "only external updates set components' states"));
        }
        if input.components.len() > crate::statuspage::MAX_COMPONENTS {
            let max = crate::statuspage::MAX_COMPONENTS;
            return Err(DomainError::invalid("components", format!("at most {max}")));
        }
        let mut components: Vec<Affected> = Vec::new();
        for (i, (named, status)) in input.components.iter().enumerate() {
            let named = named.trim();
            let found = catalog
                .iter()
                .find(|(id, name)| name.as_str() == named || named.parse::<u64>().is_ok_and(|n| n == *id));
            let Some((id, _)) = found else {
                return Err(DomainError::invalid(
                    format!("components[{i}].component"),
                    format!("there is no component {named:?} on the status page"),
                ));
            };
            let status = status.parse::<crate::statuspage::ComponentStatus>().map_err(|e| match e {
                DomainError::Invalid { message, .. } => {
                    DomainError::invalid(format!("components[{i}].status"), message)
                }
                other => other,
            })?;
            // Named twice: the last state given wins.
            components.retain(|a| a.component != *id);
            components.push(Affected { component: *id, status });
        }
        if let Some(m) = input.next_update_in_minutes
            && !(1..=MAX_NEXT_UPDATE_MINUTES).contains(&m)
        {
            return Err(DomainError::invalid(
                "next_update_in_minutes",
                format!("between 1 and {MAX_NEXT_UPDATE_MINUTES} minutes"),
            ));
        }
        Ok(UpdateContent {
            audience,
            body,
            form,
            status: input.status,
            next_update_in_minutes: input.next_update_in_minutes,
            components,
        })
    }

    /// The text as published (and on the timeline): the form's fields, one
    /// per line, then the body.
    pub fn text(&self) -> String {
        let mut lines: Vec<String> =
            self.form.iter().map(|(name, value)| format!("{}: {value}", label(name))).collect();
        if !self.body.is_empty() {
            lines.push(self.body.clone());
        }
        lines.join("\n")
    }
}

/// Where a new update for `audience` starts: the latest update for the
/// same audience (`latest`), with what the incident says now. Internal:
/// the room topic (status and who holds which role) and the open
/// `theories`; executive: the status and priority; external: the latest
/// external text, or a neutral sentence, and the public status the
/// incident's status suggests. An external suggestion takes nothing from
/// the incident's own words (title, summary, topic, theories, internal
/// updates): only an external update says what customers read.
pub fn suggest(
    audience: UpdateAudience,
    incident: &Incident,
    latest: Option<&UpdateContent>,
    theories: &[String],
) -> UpdateInput {
    let latest = latest.filter(|l| l.audience == audience);
    let field = |name: &str| latest.and_then(|l| l.form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()));
    let mut form: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            form.push((name.to_owned(), v));
        }
    };
    let body = match audience {
        UpdateAudience::Internal => {
            put("conditions", field("conditions"));
            put("actions", field("actions"));
            put("needs", field("needs"));
            let mut lines = vec![incident.topic.clone()];
            if !theories.is_empty() {
                lines.push("Open theories:".to_owned());
                lines.extend(theories.iter().map(|t| format!("- {t}")));
            }
            lines.join("\n")
        }
        UpdateAudience::Executive => {
            let status = format!("{} is {} ({})", incident.reference(), incident.status, incident.priority);
            put("current_status", Some(status));
            put("overview", field("overview").or_else(|| Some(incident.title.clone())));
            put("next_steps", field("next_steps"));
            String::new()
        }
        UpdateAudience::External => latest.map(|l| l.body.clone()).unwrap_or_else(|| {
            "We are investigating a problem affecting some of our customers. We will post an update as soon as we know more."
                .to_owned()
        }),
    };
    let status = (audience == UpdateAudience::External).then(|| PublicStatus::of(incident.status));
    UpdateInput { body, form, status, components: Vec::new(), next_update_in_minutes: None }
}

/// A form field's name as people read it: `next_steps` is "Next steps".
fn label(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The actor's standing towards updates of `incident`.
fn standing(incident: &Incident, actor: &Actor) -> Standing {
    Standing::incident(incident, actor)
}

/// Whether `actor` may publish an update for `audience` in `incident`.
pub fn may_publish(actor: &Actor, incident: &Incident, audience: UpdateAudience) -> bool {
    access::may(actor, audience.publish_action(), &standing(incident, actor))
}

/// Refuses unless `actor` may change the draft `author` wrote for
/// `audience`: its author, or someone who may publish it.
pub fn check_edit(
    actor: &Actor,
    incident: &Incident,
    audience: UpdateAudience,
    author: &Handle,
) -> Result<(), DomainError> {
    actor.require_write()?;
    if *author == actor.handle || may_publish(actor, incident, audience) {
        return Ok(());
    }
    Err(DomainError::Forbidden(format!(
        "only its author (@{author}) or those who may publish it ({}) may change this draft; @{} is neither",
        access::who_may(audience.publish_action(), &|_| Vec::new()),
        actor.handle
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: &str) -> UpdateInput {
        UpdateInput { body: body.into(), ..UpdateInput::default() }
    }

    #[test]
    fn an_internal_update_may_be_its_form_alone_and_reads_in_the_forms_order() {
        let form = vec![("needs".into(), "a DBA".into()), ("conditions".into(), " checkout fails for 5 % ".into())];
        let c = UpdateContent::new(UpdateAudience::Internal, UpdateInput { form, ..input("") }).unwrap();
        assert_eq!(c.text(), "Conditions: checkout fails for 5 %\nNeeds: a DBA");
        let c = UpdateContent::new(
            UpdateAudience::Executive,
            UpdateInput { form: vec![("next_steps".into(), "fail over".into())], ..input("More at 14:00.") },
        )
        .unwrap();
        assert_eq!(c.text(), "Next steps: fail over\nMore at 14:00.");
    }

    #[test]
    fn each_refusal_names_its_field() {
        let field = |audience, i: UpdateInput| match UpdateContent::new(audience, i).unwrap_err() {
            DomainError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(UpdateAudience::Internal, input("  ")), "body");
        assert_eq!(field(UpdateAudience::External, input(&"x".repeat(MAX_UPDATE_CHARS + 1))), "body");
        let form = vec![("overview".into(), "x".into())];
        assert_eq!(field(UpdateAudience::Internal, UpdateInput { form: form.clone(), ..input("") }), "form.overview");
        assert_eq!(field(UpdateAudience::External, UpdateInput { form, ..input("x") }), "form.overview");
        let status = Some(PublicStatus::Identified);
        assert_eq!(field(UpdateAudience::Internal, UpdateInput { status, ..input("x") }), "status");
        let components = vec![("api".into(), "degraded_performance".into())];
        let unknown = UpdateInput { components: components.clone(), ..input("x") };
        assert_eq!(field(UpdateAudience::External, unknown), "components[0].component");
        assert_eq!(field(UpdateAudience::Internal, UpdateInput { components, ..input("x") }), "components");
        let catalog = [(4, "api".to_owned())];
        let bad = UpdateInput { components: vec![("api".into(), "on_fire".into())], ..input("x") };
        match UpdateContent::with_components(UpdateAudience::External, bad, &catalog).unwrap_err() {
            DomainError::Invalid { field, .. } => assert_eq!(field, "components[0].status"),
            other => panic!("{other:?}"),
        }
        let twice = UpdateInput {
            components: vec![("4".into(), "major_outage".into()), ("api".into(), "partial_outage".into())],
            ..input("x")
        };
        let c = UpdateContent::with_components(UpdateAudience::External, twice, &catalog).unwrap();
        assert_eq!(
            c.components,
            [Affected { component: 4, status: crate::statuspage::ComponentStatus::PartialOutage }],
            "the last wins"
        );
        for minutes in [0, MAX_NEXT_UPDATE_MINUTES + 1] {
            let i = UpdateInput { next_update_in_minutes: Some(minutes), ..input("x") };
            assert_eq!(field(UpdateAudience::External, i), "next_update_in_minutes");
        }
        assert_eq!("everyone".parse::<UpdateAudience>().unwrap_err().to_string().split(':').next(), Some("audience"));
    }

    fn incident() -> Incident {
        let admin = Actor { handle: Handle::parse("ada").unwrap(), permission: crate::Permission::Admin };
        let catalog = crate::RoleCatalog::default();
        let d = crate::incident::Declaration {
            title: "Checkout returns 500 after the pool change".into(),
            summary: "db-7 pool exhausted".into(),
            priority: crate::Priority::P1,
            incident_manager: admin.clone(),
        };
        let ctx =
            crate::incident::Context { actor: &admin, now: "2026-12-01T10:00:00Z".parse().unwrap(), catalog: &catalog };
        Incident::declare(7, d, ctx).unwrap().0
    }

    #[test]
    fn an_internal_suggestion_carries_the_topic_the_theories_and_the_last_form() {
        let last = UpdateContent::new(
            UpdateAudience::Internal,
            UpdateInput { form: vec![("needs".into(), "a DBA".into())], ..input("") },
        )
        .unwrap();
        let i = incident();
        let s = suggest(UpdateAudience::Internal, &i, Some(&last), &["the pool is too small".into()]);
        assert_eq!(s.form, [("needs".to_owned(), "a DBA".to_owned())]);
        assert!(
            s.body.starts_with(&i.topic) && s.body.ends_with("Open theories:\n- the pool is too small"),
            "{}",
            s.body
        );
        assert!(UpdateContent::new(UpdateAudience::Internal, s).is_ok(), "a suggestion is a valid update");
        let e = suggest(UpdateAudience::Executive, &i, None, &[]);
        assert_eq!(e.form[0], ("current_status".to_owned(), "INC-7 is investigating (P1)".to_owned()));
    }

    proptest::proptest! {
        /// Nothing internal finds its way into an external suggestion: not
        /// the title, the summary, the topic, a theory or an internal update.
        #[test]
        fn an_external_suggestion_holds_no_internal_text(
            secret in "[a-z]{12}", external in proptest::option::of("[A-Z][a-z ]{4,40}")
        ) {
            let mut i = incident();
            i.title = format!("title {secret}");
            i.summary = format!("summary {secret}");
            i.topic = format!("topic {secret}");
            let internal = UpdateContent::new(UpdateAudience::Internal, input(&format!("internal {secret}"))).unwrap();
            let last_external = external.map(|b| UpdateContent::new(UpdateAudience::External, input(&b)).unwrap());
            for latest in [Some(&internal), last_external.as_ref(), None] {
                let s = suggest(UpdateAudience::External, &i, latest, &[format!("theory {secret}")]);
                proptest::prop_assert!(!s.body.contains(&secret), "{}", s.body);
                proptest::prop_assert!(s.form.is_empty());
                proptest::prop_assert_eq!(s.status, Some(PublicStatus::Investigating));
                proptest::prop_assert!(UpdateContent::new(UpdateAudience::External, s).is_ok());
            }
        }
    }

    #[test]
    fn only_external_updates_tell_a_public_status() {
        let status = Some(PublicStatus::Monitoring);
        let c = UpdateContent::new(UpdateAudience::External, UpdateInput { status, ..input("Fixed, watching.") });
        assert_eq!(c.unwrap().status, status);
        assert_eq!(PublicStatus::of(Status::Closed), PublicStatus::Resolved);
    }
}
