//! `GET /incidents/{ref}/events`: the incident's new timeline entries as
//! Server-Sent Events, each with the topic, status, priority and role
//! board after it, so every viewer's page follows without reloading.
//!
//! Each event's id is the entry's `seq`; a browser that reconnects sends
//! `Last-Event-ID` and gets everything after it, so nothing is missed. The
//! page starts the stream at the version it was rendered from (`?after=`).
//! A stream wakes on `App::changed`: when this instance commits a change to
//! an incident, and on PostgreSQL when any instance commits timeline
//! entries (`LISTEN muster_incidents`). It also re-checks every second, in
//! case a wake-up was missed. One person holds at most
//! `limits::MAX_LIVE_STREAMS_PER_USER` streams; the next gets 429.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use muster_domain::IncidentRef;
use muster_domain::limits::MAX_LIVE_STREAMS_PER_USER;
use muster_store::User;

use super::incident::{BoardPart, EntryPart, EntryView, board};
use super::{SESSION_COOKIE, cookie};
use crate::error::ApiError;
use muster_app::App;
use muster_domain::token::TokenKind;

/// Entries sent per read.
const BATCH: u32 = 100;
/// How often a quiet stream checks the incident anyway.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(serde::Deserialize)]
pub struct LiveQuery {
    after: Option<u64>,
}

/// How a watcher signed in, to check again while the stream lasts.
#[derive(Clone)]
enum Credential {
    Session(String),
    Token(String),
}

/// How often an open stream checks that its session or token still works
/// (signed out, expired, password changed). A token revoked or a user
/// disabled on this instance makes every stream check at once
/// (`Changes::credentials_changed`); on another instance, within this.
const REAUTHORIZE: Duration = Duration::from_secs(30);

async fn still_valid(app: &App, credential: &Credential) -> bool {
    match credential {
        Credential::Session(id) => app.session(id).await.is_ok_and(|s| s.is_some()),
        Credential::Token(t) => app.authenticate(t, TokenKind::Api).await.is_ok(),
    }
}

/// Who is watching: a session (with its CSRF token, for the board's forms)
/// or an API token.
async fn watcher(app: &App, headers: &HeaderMap) -> Result<(User, String, Credential), ApiError> {
    if let Some(id) = cookie(headers, SESSION_COOKIE)
        && let Some((session, user)) = app.session(&id).await?
    {
        return Ok((user, session.csrf, Credential::Session(id)));
    }
    if let Some(t) = crate::auth::bearer(headers) {
        let user =
            app.authenticate(t, TokenKind::Api).await.map_err(|e| crate::auth::token_problem(e, TokenKind::Api))?;
        return Ok((user, String::new(), Credential::Token(t.to_owned())));
    }
    Err(ApiError::unauthorized("sign in, or send an API token as Authorization: Bearer <token>"))
}

struct Stream {
    app: Arc<App>,
    number: u64,
    after: u64,
    user: User,
    csrf: String,
    pending: VecDeque<SseEvent>,
    credential: Credential,
    checked: tokio::time::Instant,
    /// `Changes::credentials_version` when the credential was last checked.
    credentials: u64,
    /// Woken when this incident changes (`App::changes`).
    watch: Arc<tokio::sync::Notify>,
    /// Woken, and not yet looked at the pages panel since.
    woken: bool,
    /// The pages panel as last sent, to send it again only when it changed
    /// without a timeline entry (a notification arrived).
    pages_sent: String,
    /// Counts this stream among the open ones while it lives.
    _open: OpenStream,
    /// One of its user's live views while it lives.
    _slot: muster_app::throttle::Slot,
}

struct OpenStream(Arc<std::sync::atomic::AtomicI64>);

impl OpenStream {
    fn new(counter: Arc<std::sync::atomic::AtomicI64>) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenStream(counter)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Stream {
    /// The next events, waiting for changes when there are none.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let credentials = self.app.changes.credentials_version();
            if self.checked.elapsed() >= REAUTHORIZE || credentials != self.credentials {
                if !still_valid(&self.app, &self.credential).await {
                    return None;
                }
                self.checked = tokio::time::Instant::now();
                self.credentials = credentials;
            }
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            // Listen before reading, so a change committed in between wakes us.
            let watch = self.watch.clone();
            let changed = watch.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.read().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e.detail, incident = self.number, "a live view could not read the timeline");
                }
            }
            tokio::select! {
                () = &mut changed => self.woken = true,
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    }

    /// Reads entries after `after` into `pending`; whether there were any.
    async fn read(&mut self) -> Result<bool, ApiError> {
        let events = self.app.store.events_since(self.number, self.after, BATCH).await?;
        let woken = std::mem::take(&mut self.woken);
        if events.is_empty() {
            if !woken {
                return Ok(false);
            }
            let (pages, warnings) =
                super::pages::incident_pages_html(&self.app, &self.user.actor(), self.number).await?;
            if pages == self.pages_sent {
                return Ok(false);
            }
            let data = serde_json::json!({"pages": pages, "page_warnings": warnings});
            self.pages_sent = pages;
            self.pending.push_back(SseEvent::default().event("pages").data(data.to_string()));
            return Ok(true);
        }
        let view = self.app.incident(IncidentRef(self.number)).await?;
        let catalog = self.app.role_catalog().await?;
        let slots = board(&view.incident, &catalog, &view.missing_roles);
        let manage = self.user.permission == muster_domain::Permission::Admin
            || view.incident.roles_of(&self.user.handle).iter().any(|r| {
                matches!(r, muster_domain::RoleKind::IncidentManager | muster_domain::RoleKind::BackupIncidentManager)
            });
        let reference = view.incident.reference().to_string();
        let board_html = BoardPart {
            board: &slots,
            can_manage: manage && !self.csrf.is_empty(),
            me: self.user.handle.as_str(),
            reference: &reference,
            csrf: &self.csrf,
        }
        .render()
        .map_err(|e| ApiError::internal("the board failed to render", e))?;
        let (pages_html, page_warnings_html) =
            super::pages::incident_pages_html(&self.app, &self.user.actor(), self.number).await?;
        self.pages_sent.clone_from(&pages_html);
        for e in &events {
            let entry = EntryView::from(e);
            let html =
                EntryPart { e: &entry }.render().map_err(|e| ApiError::internal("an entry failed to render", e))?;
            let data = serde_json::json!({
                "seq": e.seq,
                "kind": entry.kind,
                "html": html,
                "topic": view.incident.topic,
                "status": view.incident.status.as_str(),
                "priority": view.incident.priority.as_str(),
                "board": board_html,
                "pages": pages_html,
                "page_warnings": page_warnings_html,
            });
            self.pending.push_back(SseEvent::default().id(e.seq.to_string()).event("entry").data(data.to_string()));
            self.after = e.seq;
        }
        Ok(true)
    }
}

pub async fn events(
    State(app): State<Arc<App>>,
    Path(r): Path<String>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    // Read before the check, so a revocation during it is seen.
    let credentials = app.changes.credentials_version();
    let (user, csrf, credential) = match watcher(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let Ok(r) = r.parse::<IncidentRef>() else {
        return ApiError::not_found("ref", format!("there is no incident {r:?}")).into_response();
    };
    let version = match app.store.incident_version(r.0).await {
        Ok(Some(v)) => v,
        Ok(None) => return ApiError::not_found("ref", format!("there is no incident {r}")).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let after = last_event_id.or(q.after).unwrap_or(version).min(version);
    let Some(slot) = app.live_slots.take(user.handle.as_str(), MAX_LIVE_STREAMS_PER_USER) else {
        let detail = format!(
            "@{} has {MAX_LIVE_STREAMS_PER_USER} live views open, the most one person may; close one",
            user.handle
        );
        return ApiError::too_many(detail, Duration::from_secs(5)).into_response();
    };
    let checked = tokio::time::Instant::now();
    let open = OpenStream::new(app.live_streams.clone());
    let watch = app.changes.watch(r.0);
    let stream = Stream {
        app,
        number: r.0,
        after,
        user,
        csrf,
        pending: VecDeque::new(),
        credential,
        checked,
        credentials,
        watch,
        woken: false,
        pages_sent: String::new(),
        _open: open,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(stream, |mut s| async move {
        let e = s.next().await?;
        Some((Ok::<_, Infallible>(e), s))
    });
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    // Proxies must not buffer the stream.
    response.headers_mut().insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    response
}
