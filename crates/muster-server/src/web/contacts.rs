//! How Muster reaches a person, in the web UI: their contact methods and
//! notification rules, on "my page" for oneself and on a user's page for
//! admins (and everyone to look at, with others' addresses shortened). The
//! forms call the same `App` use cases as the API, so the rules are the same.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::access::{self, Action, Standing};
use muster_domain::page::NotificationRule;
use muster_domain::paging::{ContactKind, MAX_DELAY_SECONDS};
use muster_domain::{Actor, Handle};

use super::{Nav, Posted, Viewer, back, page_error, render};
use crate::error::ApiError;
use muster_app::{App, parse_handle};

pub struct MethodRow {
    pub id: u64,
    pub kind: String,
    pub address: String,
    /// There are rules and none uses it: a page does not reach it.
    pub unused: bool,
}

impl MethodRow {
    /// How a rule or a form names the method.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.address)
    }

    /// The label cut to fit a form's list of choices.
    pub fn short_label(&self) -> String {
        let label = self.label();
        match label.char_indices().nth(60) {
            Some((i, _)) => format!("{}…", &label[..i]),
            None => label,
        }
    }
}

pub struct RuleRow {
    pub id: u64,
    pub method: String,
    pub when: String,
}

/// A person's contact methods and rules as the viewer may see them, and
/// whether the viewer may change them (the user themself and admins).
pub struct ContactPanel {
    pub handle: String,
    /// Where the panel's forms come back to.
    pub back: String,
    pub may_manage: bool,
    pub methods: Vec<MethodRow>,
    pub rules: Vec<RuleRow>,
}

/// "at once", "after 5 min", "after 90 s".
pub fn delay_text(seconds: u32) -> String {
    match seconds {
        0 => "at once".to_owned(),
        s if s % 60 == 0 => format!("after {} min", s / 60),
        s => format!("after {s} s"),
    }
}

impl ContactPanel {
    pub async fn load(app: &App, viewer: &Viewer, user: &Handle, back: String) -> Result<ContactPanel, ApiError> {
        let actor = viewer.user.actor();
        let may_manage = viewer.user.permission != muster_domain::Permission::Viewer
            && access::may(&actor, Action::ManageContacts, &Standing::user(user, &actor));
        let methods: Vec<MethodRow> = app
            .contact_methods(&actor, user)
            .await?
            .into_iter()
            .map(|m| MethodRow { id: m.id, kind: m.kind.as_str().to_owned(), address: m.address, unused: false })
            .collect();
        let labels: HashMap<u64, String> = methods.iter().map(|m| (m.id, m.label())).collect();
        let stored = app.notification_rules(user).await?;
        let mut methods = methods;
        for m in &mut methods {
            m.unused = !stored.is_empty() && stored.iter().all(|r| r.rule.contact_method != m.id);
        }
        let rules = stored
            .into_iter()
            .map(|r| RuleRow {
                id: r.id,
                method: labels
                    .get(&r.rule.contact_method)
                    .cloned()
                    .unwrap_or_else(|| format!("contact method {} (gone)", r.rule.contact_method)),
                when: delay_text(r.rule.delay_seconds),
            })
            .collect();
        Ok(ContactPanel { handle: user.to_string(), back, may_manage, methods, rules })
    }
}

/// Where a contact form comes back to: "my page" when posted from there,
/// otherwise the user's page.
fn from(form: &Posted, user: &str) -> String {
    match form.get("back") {
        Some("/me") if form.viewer.user.handle.as_str() == user => "/me".to_owned(),
        Some("/users") => "/users".to_owned(),
        _ => format!("/users/{user}"),
    }
}

/// An id from the path: one that is not a number names nothing there is.
fn id_in_path(id: &str, what: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("id", format!("there is no {what} {id:?}")))
}

fn user_in_path(handle: &str) -> Result<Handle, ApiError> {
    parse_handle(handle, "handle").map_err(|e| ApiError::not_found("handle", e.to_string()))
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    nav: Nav,
    name: String,
    permission: String,
    contacts: ContactPanel,
}

/// A person's page: who they are and how Muster reaches them.
pub async fn user_page(State(app): State<Arc<App>>, viewer: Viewer, Path(handle): Path<String>) -> Response {
    let page = async {
        let handle = user_in_path(&handle)?;
        let user = app.user(&handle).await?;
        let back = format!("/users/{handle}");
        let contacts = ContactPanel::load(&app, &viewer, &handle, back).await?;
        let permission = match user.disabled_at {
            Some(_) => format!("{} (disabled)", user.permission.as_str()),
            None => user.permission.as_str().to_owned(),
        };
        Ok::<_, ApiError>(UserPage { nav: viewer.nav("users"), name: user.name, permission, contacts })
    }
    .await;
    match page {
        Ok(p) => render(&p),
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage {
    nav: Nav,
    handle: String,
    address: String,
    secret: String,
    back: String,
}

pub async fn add_contact_method(State(app): State<Arc<App>>, Path(handle): Path<String>, form: Posted) -> Response {
    let to = from(&form, &handle);
    let added = async {
        let handle = user_in_path(&handle)?;
        let kind: ContactKind = form.get("kind").unwrap_or("").parse()?;
        let address = form.get("address").unwrap_or("");
        Ok::<_, ApiError>(app.add_contact_method(&form.viewer.user.actor(), &handle, kind, address).await?)
    }
    .await;
    match added {
        // The signing secret is shown once, on the answer itself: never in a
        // cookie or a URL, and never again.
        Ok(m) if m.secret.is_some() => {
            let page = SecretPage {
                nav: form.viewer.nav("users"),
                handle: m.user.to_string(),
                address: m.address,
                secret: m.secret.unwrap_or_default(),
                back: to,
            };
            let mut r = render(&page);
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Ok(m) => back(&to, Ok(format!("Added {} {} for @{}.", m.kind.as_str(), m.address, m.user))),
        Err(e) => back(&to, Err(e)),
    }
}

pub async fn test_contact_method(
    State(app): State<Arc<App>>,
    Path((handle, id)): Path<(String, String)>,
    form: Posted,
) -> Response {
    let to = from(&form, &handle);
    let result = async {
        let handle = parse_handle(&handle, "handle")?;
        app.test_notification(&form.viewer.user.actor(), &handle, id_in_path(&id, "contact method")?).await?;
        Ok::<_, ApiError>(format!("A test notification to @{handle} is on its way."))
    }
    .await;
    back(&to, result)
}

/// A delay typed in whole minutes.
fn delay_seconds(form: &Posted) -> Result<u32, ApiError> {
    let bad = || {
        ApiError::invalid(
            "delay_minutes",
            format!("give a whole number of minutes from 0 to {}", MAX_DELAY_SECONDS / 60),
        )
    };
    let minutes: u32 = form.optional("delay_minutes").unwrap_or("0").parse().map_err(|_| bad())?;
    minutes.checked_mul(60).filter(|s| *s <= MAX_DELAY_SECONDS).ok_or_else(bad)
}

pub async fn add_notification_rule(State(app): State<Arc<App>>, Path(handle): Path<String>, form: Posted) -> Response {
    let to = from(&form, &handle);
    let result = async {
        let handle = user_in_path(&handle)?;
        let contact_method: u64 = form
            .get("contact_method")
            .unwrap_or("")
            .parse()
            .map_err(|_| ApiError::invalid("contact_method", "choose one of the contact methods"))?;
        let rule = NotificationRule { contact_method, delay_seconds: delay_seconds(&form)? };
        let r = app.add_notification_rule(&form.viewer.user.actor(), &handle, rule).await?;
        Ok::<_, ApiError>(format!(
            "@{handle} is notified through contact method {} {}.",
            r.rule.contact_method,
            delay_text(r.rule.delay_seconds)
        ))
    }
    .await;
    back(&to, result)
}
/// The actor, for the forms below.
fn actor(form: &Posted) -> Actor {
    form.viewer.user.actor()
}

pub async fn remove_contact_method(
    State(app): State<Arc<App>>,
    Path((handle, id)): Path<(String, String)>,
    form: Posted,
) -> Response {
    let to = from(&form, &handle);
    let result = async {
        let handle = user_in_path(&handle)?;
        app.remove_contact_method(&actor(&form), &handle, id_in_path(&id, "contact method")?).await?;
        Ok::<_, ApiError>(format!("Removed contact method {id} of @{handle}."))
    }
    .await;
    back(&to, result)
}

pub async fn remove_notification_rule(
    State(app): State<Arc<App>>,
    Path((handle, id)): Path<(String, String)>,
    form: Posted,
) -> Response {
    let to = from(&form, &handle);
    let result = async {
        let handle = user_in_path(&handle)?;
        app.remove_notification_rule(&actor(&form), &handle, id_in_path(&id, "notification rule")?).await?;
        Ok::<_, ApiError>(format!("Removed notification rule {id} of @{handle}."))
    }
    .await;
    back(&to, result)
}
