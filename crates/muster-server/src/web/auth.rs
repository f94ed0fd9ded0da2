//! `/login` and `/logout`.
//!
//! The sign-in form is protected against login CSRF by a double-submit
//! token: a random value in a short-lived cookie that the form must repeat.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;

use super::{SESSION_COOKIE, SessionForm, cookie, render};
use muster_app::App;
use muster_app::signin::SignInError;

const LOGIN_CSRF_COOKIE: &str = "muster_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    handle: String,
    error: Option<String>,
}

/// Only local paths: `next` must not send people to another site. Visible
/// ASCII only (browsers drop tabs and newlines, so `/\t/evil` would become
/// `//evil`), no backslash, and no second slash right after the first.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n[1..].starts_with('/')
                && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn secure(app: &App) -> &'static str {
    if app.config.public_url.starts_with("https://") { "; Secure" } else { "" }
}

fn form(app: &App, status: StatusCode, next: String, handle: String, error: Option<String>) -> Response {
    let mut token = [0u8; 16];
    rand::rng().fill_bytes(&mut token);
    let csrf = hex::encode(token);
    let mut r = render(&LoginPage { csrf: csrf.clone(), next, handle, error });
    *r.status_mut() = status;
    let set =
        format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; Max-Age=3600; HttpOnly; SameSite=Strict{}", secure(app));
    if let Ok(v) = set.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

pub async fn login_form(State(app): State<Arc<App>>, Query(q): Query<HashMap<String, String>>) -> Response {
    form(&app, StatusCode::OK, safe_next(q.get("next").map(String::as_str)), String::new(), None)
}

pub async fn login(State(app): State<Arc<App>>, req: axum::extract::Request) -> Response {
    // The address slows down guessing from one place; without one (in
    // tests that call the router directly) everyone shares a bucket.
    let headers = req.headers().clone();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| crate::forwarded::client_address(c.0.ip(), &headers, &app.config.trusted_proxies).to_string())
        .unwrap_or_default();
    let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
        return form(
            &app,
            StatusCode::PAYLOAD_TOO_LARGE,
            "/".into(),
            String::new(),
            Some("That form was too large.".into()),
        );
    };
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let next = safe_next(fields.get("next").map(String::as_str));
    let handle = field("handle");
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE);
    if expected.is_none() || expected.as_deref() != fields.get("csrf").map(String::as_str) {
        let why = "The sign-in form expired (CSRF check). Please try again.".to_owned();
        return form(&app, StatusCode::FORBIDDEN, next, handle, Some(why));
    }
    match app.sign_in(&handle, &field("password"), &peer).await {
        Ok((id, _, _)) => {
            let mut r = Redirect::to(&next).into_response();
            let set = format!(
                "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
                muster_app::signin::SESSION_HOURS * 3600,
                secure(&app)
            );
            if let Ok(v) = set.parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(SignInError::Invalid) => {
            let why = "That handle and password do not match.".to_owned();
            form(&app, StatusCode::UNAUTHORIZED, next, handle, Some(why))
        }
        Err(SignInError::TooSoon(wait)) => {
            let n = wait.as_secs().max(1);
            let why = format!("Too many failed attempts. Try again in {n} second{}.", if n == 1 { "" } else { "s" });
            let mut r = form(&app, StatusCode::TOO_MANY_REQUESTS, next, handle, Some(why));
            if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(SignInError::Disabled(who)) => {
            let why = format!("@{who} is disabled: an admin turned this account off.");
            form(&app, StatusCode::FORBIDDEN, next, handle, Some(why))
        }
        Err(SignInError::Busy(wait)) => {
            let why = "Too many sign-ins at once. Try again in a moment.".to_owned();
            let mut r = form(&app, StatusCode::SERVICE_UNAVAILABLE, next, handle, Some(why));
            if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(SignInError::Failed(e)) => super::page_error(e.into()),
    }
}

pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, form: SessionForm) -> Response {
    let _ = form.viewer;
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = app.sign_out(&id).await
    {
        return super::page_error(e.into());
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax").parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/incidents/INC-1?filter=roles")), "/incidents/INC-1?filter=roles");
        for bad in ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example", "", "/\n"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
