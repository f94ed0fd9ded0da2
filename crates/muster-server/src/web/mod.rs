//! The web UI: server-rendered pages (askama templates in `templates/`,
//! compiled into the binary, like `static/app.css` and `static/app.js`)
//! with a little JavaScript for live updates and local times.
//!
//! Every page needs a session (`/login` sets the cookie); a signed-out GET
//! is redirected to `/login`. Every POST carries the session's CSRF token
//! (checked by [`Posted`]); viewers may look but not post. Forms call the
//! same `App` use cases as the API, so the rules are the same.

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::Method;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use muster_domain::Permission;
use muster_store::{Session, User};

use crate::error::ApiError;
use muster_app::App;

mod auth;
mod comms;
mod contacts;
mod incident;
mod insights;
mod lists;
pub mod live;
mod pages;
pub mod postmortem;
mod support;
pub mod workstreams;

pub const SESSION_COOKIE: &str = "muster_session";
/// The outcome of the last form, shown once on the page it leads back to
/// (a cookie, not the URL: a link cannot put words in Muster's mouth).
pub const FLASH_COOKIE: &str = "muster_flash";

/// A web route: its path, method and handler.
type Route = (&'static str, Method, MethodRouter<Arc<App>>);

/// Every page and form, one row per method: [`routes`] is built from it and
/// [`listed`] lists it, so the route-by-principal test sees every row.
fn table() -> Vec<Route> {
    vec![
        ("/login", Method::GET, get(auth::login_form)),
        ("/login", Method::POST, post(auth::login)),
        ("/logout", Method::POST, post(auth::logout)),
        ("/static/app.css", Method::GET, get(|| async { asset("text/css", include_str!("../../static/app.css")) })),
        (
            "/static/app.js",
            Method::GET,
            get(|| async { asset("text/javascript", include_str!("../../static/app.js")) }),
        ),
        ("/", Method::GET, get(lists::dashboard)),
        ("/incidents", Method::POST, post(incident::declare)),
        ("/incidents/{ref}", Method::GET, get(incident::page)),
        ("/incidents/{ref}/events", Method::GET, get(live::events)),
        ("/incidents/{ref}/roles", Method::POST, post(incident::assign)),
        ("/incidents/{ref}/roles/{id}/relieve", Method::POST, post(incident::relieve)),
        ("/incidents/{ref}/update", Method::POST, post(incident::update)),
        ("/incidents/{ref}/pages", Method::POST, post(incident::page_someone)),
        ("/incidents/{ref}/entries", Method::POST, post(incident::add_entry)),
        ("/incidents/{ref}/tech-lead-reports", Method::POST, post(workstreams::report)),
        ("/incidents/{ref}/room", Method::POST, post(incident::room)),
        ("/incidents/{ref}/updates", Method::POST, post(comms::write_update)),
        ("/incidents/{ref}/updates/{id}/publish", Method::POST, post(comms::publish_update)),
        ("/incidents/{ref}/updates/snooze", Method::POST, post(comms::snooze)),
        ("/incidents/{ref}/follow", Method::POST, post(comms::follow)),
        ("/incidents/{ref}/postmortem", Method::GET, get(postmortem::show)),
        ("/incidents/{ref}/postmortem", Method::POST, post(postmortem::draft)),
        ("/insights", Method::GET, get(insights::page)),
        ("/stakeholders", Method::GET, get(comms::page)),
        ("/stakeholders", Method::POST, post(comms::create)),
        ("/stakeholders/{id}/remove", Method::POST, post(comms::remove)),
        ("/support", Method::GET, get(support::queue)),
        ("/support/reports", Method::POST, post(support::log)),
        ("/support/link", Method::POST, post(support::link_many)),
        ("/support/reports/{id}", Method::GET, get(support::report)),
        ("/support/reports/{id}/link", Method::POST, post(support::link)),
        ("/support/reports/{id}/unlink", Method::POST, post(support::unlink)),
        ("/support/reports/{id}/respond", Method::POST, post(support::respond)),
        ("/support/reports/{id}/pass", Method::POST, post(support::pass)),
        ("/support/reports/{id}/state", Method::POST, post(support::state)),
        ("/alerts", Method::GET, get(lists::alerts)),
        ("/alerts/acknowledge", Method::POST, post(lists::acknowledge_alerts)),
        ("/alerts/{id}/acknowledge", Method::POST, post(lists::acknowledge_alert)),
        ("/alerts/{id}/assess", Method::POST, post(lists::assess_alert)),
        ("/alerts/{id}/declare", Method::POST, post(lists::declare_alert)),
        ("/alerts/{id}/link", Method::POST, post(lists::link_alert)),
        ("/alerts/{id}", Method::GET, get(pages::alert)),
        ("/services", Method::GET, get(lists::services)),
        ("/schedules", Method::GET, get(lists::schedules)),
        ("/schedules/{id}", Method::GET, get(lists::schedule)),
        ("/policies", Method::GET, get(lists::policies)),
        ("/users", Method::GET, get(lists::users)),
        ("/users/{handle}/contact-methods/{id}/test", Method::POST, post(contacts::test_contact_method)),
        ("/me", Method::GET, get(lists::me)),
        ("/me/time-zone", Method::POST, post(lists::set_my_time_zone)),
        ("/users/{handle}", Method::GET, get(contacts::user_page)),
        ("/users/{handle}/contact-methods", Method::POST, post(contacts::add_contact_method)),
        ("/users/{handle}/notification-rules", Method::POST, post(contacts::add_notification_rule)),
        ("/users/{handle}/contact-methods/{id}/remove", Method::POST, post(contacts::remove_contact_method)),
        ("/users/{handle}/notification-rules/{id}/remove", Method::POST, post(contacts::remove_notification_rule)),
    ]
}

pub fn routes() -> axum::Router<Arc<App>> {
    table().into_iter().fold(axum::Router::new(), |router, (path, _, handler)| router.route(path, handler))
}

/// The web's routes as (method, path).
pub fn listed() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|(path, method, _)| (method, path)).collect()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// What every page's frame shows: who is signed in, the CSRF token for its
/// forms, which section is current, and a message from the last action.
pub struct Nav {
    pub handle: String,
    pub csrf: String,
    pub can_write: bool,
    pub is_admin: bool,
    pub current: &'static str,
    pub error: Option<String>,
    pub notice: Option<String>,
}

/// The signed-in person looking at a page.
pub struct Viewer {
    pub user: User,
    pub session: Session,
    /// The last form's outcome: `(is_error, text)`.
    pub flash: Option<(bool, String)>,
}

impl Viewer {
    pub fn nav(&self, current: &'static str) -> Nav {
        Nav {
            handle: self.user.handle.as_str().to_owned(),
            csrf: self.session.csrf.clone(),
            can_write: self.user.permission != Permission::Viewer,
            is_admin: self.user.permission == Permission::Admin,
            current,
            error: self.flash.as_ref().filter(|(e, _)| *e).map(|(_, t)| t.clone()),
            notice: self.flash.as_ref().filter(|(e, _)| !*e).map(|(_, t)| t.clone()),
        }
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let to_login = || {
            // A form posted after the session ended cannot be replayed: come
            // back to the page it was on (same site only), not to its action.
            let referer = parts
                .headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
                .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
                .filter(|_| parts.method != axum::http::Method::GET);
            let next = if parts.method == axum::http::Method::GET {
                parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
            } else {
                referer.unwrap_or("/")
            };
            let next = auth::safe_next(Some(next));
            let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        match app.session(&id).await {
            Ok(Some((session, user))) => {
                let flash = cookie(&parts.headers, FLASH_COOKIE).and_then(|v| {
                    let text: String = form_urlencoded::parse(format!("f={v}").as_bytes()).next()?.1.into_owned();
                    let (kind, text) = text.split_once(':')?;
                    let text: String = text.chars().take(500).collect();
                    (!text.is_empty()).then(|| (kind != "notice", text))
                });
                Ok(Viewer { user, session, flash })
            }
            Ok(None) => Err(to_login()),
            Err(e) => Err(page_error(e.into())),
        }
    }
}

/// A form posted by a signed-in person who may write, with its CSRF token
/// checked: the fields, by name (the last of repeated names wins, except
/// through [`Posted::all`]).
pub struct Posted {
    pub viewer: Viewer,
    pairs: Vec<(String, String)>,
}

impl Posted {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A field that may be left empty: `None` when missing or blank.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The fields named `prefix` + something, not blank: (something, value).
    pub fn prefixed(&self, prefix: &str) -> Vec<(&str, &str)> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?, v.trim())))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

/// A form posted from a session, with its CSRF token checked, by anyone
/// signed in (viewers too: signing out is for everyone).
pub struct SessionForm {
    pub viewer: Viewer,
    pub(super) pairs: Vec<(String, String)>,
}

impl FromRequest<Arc<App>> for SessionForm {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, app).await?;
        let bytes = axum::body::to_bytes(body, crate::extract::BODY_LIMIT)
            .await
            .map_err(|_| message(&viewer, StatusCode::PAYLOAD_TOO_LARGE, "Too large", "That form was too large."))?;
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let csrf = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
        if csrf != Some(viewer.session.csrf.as_str()) {
            return Err(message(
                &viewer,
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form did not come from your session (CSRF check). Reload the page and try again.",
            ));
        }
        Ok(SessionForm { viewer, pairs })
    }
}

impl FromRequest<Arc<App>> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let SessionForm { viewer, pairs } = SessionForm::from_request(req, app).await?;
        if viewer.user.permission == Permission::Viewer {
            return Err(message(
                &viewer,
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Viewers may look, but not change anything.",
            ));
        }
        Ok(Posted { viewer, pairs })
    }
}

pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = Html(html).into_response();
            let h = r.headers_mut();
            // Pages carry CSRF tokens and incident details: not for caches or frames.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
            // A page shows the last outcome once: then it is gone.
            h.append(
                header::SET_COOKIE,
                HeaderValue::from_static("muster_flash=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
            );
            r
        }
        Err(e) => ApiError::internal("a template failed to render", e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    nav: Nav,
    title: &'a str,
    text: &'a str,
    back: &'a str,
}

/// A page with one message, e.g. why a form was refused.
pub fn message(viewer: &Viewer, status: StatusCode, title: &str, text: &str) -> Response {
    let mut r = render(&MessagePage { nav: viewer.nav(""), title, text, back: "/" });
    *r.status_mut() = status;
    r
}

#[derive(Template)]
#[template(path = "outage.html")]
struct OutagePage<'a> {
    title: &'a str,
    text: &'a str,
    retry: u64,
}

/// The page every web request gets while the database cannot be used: what
/// is wrong, in plain words, and that the page tries again by itself. No
/// navigation: every other page needs the database too.
fn outage_page(e: &ApiError) -> Response {
    let (title, text) = if e.slug == "database-disk-full" {
        (
            "The database's disk is full",
            "Muster is running, but the disk holding its database is full, so nothing can be saved. \
             Alerts sent meanwhile are refused (503) and monitoring sends them again. Once space is freed, \
             Muster carries on by itself.",
        )
    } else {
        (
            "The database cannot be reached",
            "Muster is running, but cannot reach its database, so there is nothing current to show. \
             Alerts sent meanwhile are refused (503) and monitoring sends them again. Once the database \
             answers, Muster carries on by itself.",
        )
    };
    let retry = e.retry_after.unwrap_or(crate::error::RETRY_AFTER_OUTAGE).max(5);
    let mut r = render(&OutagePage { title, text, retry });
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry));
    r
}

/// An error from a use case, as a plain HTML page (for failures outside a
/// form, where there is no page to show the message on).
pub fn page_error(e: ApiError) -> Response {
    if e.status == StatusCode::SERVICE_UNAVAILABLE && e.slug.starts_with("database-") {
        return outage_page(&e);
    }
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · Muster</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><h1>{}</h1><p>{}</p>\
         <p><a href=\"/\">Dashboard</a></p></main></body></html>",
        e.status.canonical_reason().unwrap_or("Error"),
        escape(&e.detail)
    );
    (e.status, Html(body)).into_response()
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// After a form: back to `to`, with the outcome in a cookie the next page
/// shows once.
pub fn back(to: &str, outcome: Result<String, ApiError>) -> Response {
    // A refusal is an error with its own kind, so that what the page shows
    // and what a test reads agree on why.
    let (kind, text) = match outcome {
        Ok(notice) => ("notice", notice),
        Err(e) if e.status == StatusCode::FORBIDDEN => ("forbidden", e.detail),
        Err(e) => ("error", e.detail),
    };
    let mut r = Redirect::to(to).into_response();
    if !text.is_empty() {
        let value: String = form_urlencoded::byte_serialize(format!("{kind}:{text}").as_bytes()).collect();
        let set = format!("{FLASH_COOKIE}={value}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&set) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}
