//! `GET /incidents/{ref}/events`: the incident's new timeline entries as
//! Server-Sent Events, each with the topic, status, priority, role board,
//! pages panel and customer reports panel after it, so every viewer's page follows without
//! reloading.
//!
//! Each event's id is the entry's `seq`; a browser that reconnects sends
//! `Last-Event-ID` and gets everything after it, so nothing is missed. The
//! page starts the stream at the version it was rendered from (`?after=`).
//! One person holds at most `limits::MAX_LIVE_STREAMS_PER_USER` streams;
//! the next gets 429.
//!
//! The work scales with incidents, not viewers. An incident watched by
//! anyone has one [`Room`] on this instance, with a task of its own that
//! wakes on `App::changes` (when this instance commits a change to the
//! incident, and on PostgreSQL when any instance commits timeline entries:
//! `LISTEN muster_incidents`), or every second in case a wake-up was missed.
//! It reads the new entries, the incident and its pages once, into a
//! [`Frame`], and broadcasts it to the incident's streams. A frame is
//! rendered once per kind of viewer ([`Variant`]): what differs between
//! viewers is only which relieve buttons the board shows and whose contact
//! addresses the pages panel shows whole, so nearly everyone shares one
//! rendering, byte for byte; the CSRF token is never in it (the page fills
//! it in). A stream that started further back, fell behind the broadcast
//! (lagged) or missed a frame reads from the store on its own until it is
//! level again, as every stream used to.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use askama::Template;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use muster_domain::limits::MAX_LIVE_STREAMS_PER_USER;
use muster_domain::{Event, IncidentRef};
use muster_store::User;
use tokio::sync::broadcast;

use super::incident::{BoardPart, EntryPart, EntryView, Slot, board};
use super::pages::{PagesSnapshot, sees_whole};
use super::{SESSION_COOKIE, cookie};
use crate::error::ApiError;
use muster_app::{App, IncidentView};
use muster_domain::token::TokenKind;

/// Entries read and sent at once.
const BATCH: u32 = 100;
/// How often a room checks its incident anyway, and a stream that could
/// not read tries again.
const RECHECK: Duration = Duration::from_secs(1);
/// Frames a room keeps for streams still sending the previous ones; a
/// stream further behind reads from the store.
const FRAMES: usize = 16;
/// How long a stream stays silent before a comment keeps proxies from
/// closing it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

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

/// Who is watching, and whether through a session (whose page has the
/// board's forms) or an API token.
async fn watcher(app: &App, headers: &HeaderMap) -> Result<(User, Credential), ApiError> {
    if let Some(id) = cookie(headers, SESSION_COOKIE)
        && let Some((_, user)) = app.session(&id).await?
    {
        return Ok((user, Credential::Session(id)));
    }
    if let Some(t) = crate::auth::bearer(headers) {
        let user =
            app.authenticate(t, TokenKind::Api).await.map_err(|e| crate::auth::token_problem(e, TokenKind::Api))?;
        return Ok((user, Credential::Token(t.to_owned())));
    }
    Err(ApiError::unauthorized("sign in, or send an API token as Authorization: Bearer <token>"))
}

/// The live views of this instance: a room per incident someone watches,
/// and how many renderings they made (`muster_live_renders_total`).
#[derive(Default)]
pub struct Hub {
    rooms: Mutex<HashMap<u64, Weak<Room>>>,
    renders: AtomicU64,
    frames: AtomicU64,
    behind: AtomicU64,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Frames rendered since the server started, for every kind of viewer
    /// of every incident: one per change and kind of viewer, however many
    /// watch, plus what streams that fell behind read on their own.
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// Frames the rooms broadcast: one per change (or batch of entries)
    /// per incident watched.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Times a stream fell so far behind the broadcast that it read the
    /// store on its own.
    pub fn fell_behind(&self) -> u64 {
        self.behind.load(Ordering::Relaxed)
    }

    /// Incidents with a room now.
    pub fn rooms(&self) -> usize {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|w| w.strong_count() > 0).count()
    }

    /// Incident `number`'s room, started if nobody watched it, and a
    /// subscription to its frames from now on.
    /// A new room starts at `version`, which the joining stream reads up to.
    fn join(
        self: &Arc<Self>,
        app: &Arc<App>,
        number: u64,
        version: u64,
    ) -> (Arc<Room>, broadcast::Receiver<Arc<Frame>>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(room) = rooms.get(&number).and_then(Weak::upgrade) {
            let frames = room.frames.subscribe();
            return (room, frames);
        }
        if rooms.len() >= 1024 {
            rooms.retain(|_, w| w.strong_count() > 0);
        }
        let (frames, subscribed) = broadcast::channel(FRAMES);
        let room = Arc::new(Room { frames });
        rooms.insert(number, Arc::downgrade(&room));
        tokio::spawn(run_room(app.clone(), self.clone(), Arc::downgrade(&room), number, version));
        (room, subscribed)
    }
}

/// One incident's live views on this instance: held by its streams, and
/// gone (its task ends within [`RECHECK`]) when the last one closes.
pub struct Room {
    frames: broadcast::Sender<Arc<Frame>>,
}

/// The room's task: reads what changed, once, and broadcasts it. It
/// starts at `last`, the version its first stream was opened at (that
/// stream reads what came before), so no entry falls between the two.
async fn run_room(app: Arc<App>, hub: Arc<Hub>, room: Weak<Room>, number: u64, mut last: u64) {
    let watch = app.changes.watch(number);
    let mut woken = false;
    // The pages panel as last broadcast, to broadcast it alone only when
    // it changed.
    let mut shown: Option<PagesSnapshot> = None;
    loop {
        // Listen before reading, so a change committed in between wakes us.
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        {
            let Some(room) = room.upgrade() else { return };
            match next_frame(&app, number, last, std::mem::take(&mut woken), &mut shown).await {
                Ok(Some(frame)) => {
                    let more = frame.events.len() == BATCH as usize;
                    last = frame.to;
                    hub.frames.fetch_add(1, Ordering::Relaxed);
                    // Nobody listening right now is fine: they read the store.
                    let _ = room.frames.send(Arc::new(frame));
                    if more {
                        continue;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e.detail, incident = number, "a live view could not read the timeline");
                }
            }
        }
        tokio::select! {
            () = &mut changed => woken = true,
            () = tokio::time::sleep(RECHECK) => {}
        }
    }
}

/// What the room broadcasts next: the entries after `last`, or — woken
/// without any — the pages panel if it changed (a notification arrived).
async fn next_frame(
    app: &App,
    number: u64,
    last: u64,
    woken: bool,
    shown: &mut Option<PagesSnapshot>,
) -> Result<Option<Frame>, ApiError> {
    if let Some(frame) = Frame::entries(app, number, last).await? {
        *shown = Some(frame.pages.clone());
        return Ok(Some(frame));
    }
    if !woken {
        return Ok(None);
    }
    let frame = Frame::pages(app, number, last).await?;
    if shown.as_ref() == Some(&frame.pages) {
        return Ok(None);
    }
    *shown = Some(frame.pages.clone());
    Ok(Some(frame))
}

/// What changed on an incident, read once for all its viewers.
pub struct Frame {
    /// The entries after `from` up to `to`; a frame of the pages panel
    /// alone has none and `from == to`, the version it was read at.
    from: u64,
    to: u64,
    events: Vec<Event>,
    /// Each entry's line, the same for everyone.
    lines: Vec<String>,
    /// The incident after the entries, and its board (entries only).
    incident: Option<(IncidentView, Vec<Slot>)>,
    pages: PagesSnapshot,
    /// The customer reports panel after the entries (entries only), the
    /// same for everyone.
    reports: String,
    /// The workstreams panel after the entries (entries only), the same
    /// for everyone.
    workstreams: String,
    /// Rendered so far, per kind of viewer.
    rendered: Mutex<HashMap<Variant, Arc<Rendering>>>,
}

/// One variant's rendering of a frame, made once by whoever asks first
/// (an error as its message, to log for every stream it fails).
type Rendering = OnceLock<Result<Arc<Rendered>, String>>;

/// What tells one viewer's rendering from another's; viewers with the
/// same variant get the same bytes. It holds exactly what today's forms
/// and masks depend on, decided by the access rules for the viewer.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Variant {
    /// Relieves anyone: in charge of the incident (`Incident::in_charge`),
    /// on a page with forms.
    manage: bool,
    /// Relieves their own roles only: the handle, if they hold one.
    own: Option<String>,
    /// The people whose deliveries they see whole (`None`: deliveries
    /// naming nobody), of those in the pages panel.
    whole: Vec<Option<String>>,
}

/// A frame as one variant's viewers get it.
struct Rendered {
    bytes: Bytes,
    /// Where each entry's event starts in `bytes`, by `seq`, so a stream
    /// that already sent the first ones sends the rest.
    starts: Vec<(u64, usize)>,
    /// The pages panel in it, to send a panel alone only when it changed.
    pages: String,
}

impl Frame {
    /// The entries after `after` (at most [`BATCH`]), with the incident and
    /// its pages after them; `None` when there are none.
    async fn entries(app: &App, number: u64, after: u64) -> Result<Option<Frame>, ApiError> {
        let events = app.store.events_since(number, after, BATCH).await?;
        let Some(to) = events.last().map(|e| e.seq) else { return Ok(None) };
        let view = app.incident(IncidentRef(number)).await?;
        let catalog = app.role_catalog().await?;
        let slots = board(&view.incident, &catalog, &view.missing_roles);
        let pages = PagesSnapshot::read(app, number).await?;
        let reports = super::support::panel_html(app, number).await?;
        // The panel changes only with these entries: others carry none, and
        // pages keep the one they have (reading every event each time is
        // the cost avoided).
        let touches = |e: &Event| {
            use muster_domain::Change;
            use muster_domain::timeline::EntryKind;
            matches!(
                &e.change,
                Change::Entry { kind: EntryKind::Theory | EntryKind::Action, .. }
                    | Change::Entry { corrects: Some(_), .. }
                    | Change::TheoryJudged { .. }
                    | Change::ActionTracked { .. }
                    | Change::TechLeadReported { .. }
                    | Change::RoleAssigned { .. }
                    | Change::RoleRelieved { .. }
            )
        };
        let workstreams =
            if events.iter().any(touches) { super::workstreams::panel_html(app, number).await? } else { String::new() };
        let lines = events
            .iter()
            .map(|e| EntryPart { e: &EntryView::from(e) }.render())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::internal("an entry failed to render", e))?;
        Ok(Some(Frame {
            from: after,
            to,
            events,
            lines,
            incident: Some((view, slots)),
            pages,
            reports,
            workstreams,
            rendered: Mutex::default(),
        }))
    }

    /// The pages panel alone, at version `at`.
    async fn pages(app: &App, number: u64, at: u64) -> Result<Frame, ApiError> {
        let pages = PagesSnapshot::read(app, number).await?;
        Ok(Frame {
            from: at,
            to: at,
            events: Vec::new(),
            lines: Vec::new(),
            incident: None,
            pages,
            reports: String::new(),
            workstreams: String::new(),
            rendered: Mutex::default(),
        })
    }

    /// Which rendering `user` gets; `forms` when their page has the board's
    /// forms (a session, not an API token).
    fn variant(&self, user: &User, forms: bool) -> Variant {
        let actor = user.actor();
        let (manage, own) = match &self.incident {
            Some((view, _)) => {
                let manage = forms && view.incident.in_charge(&actor);
                let holds = view.incident.roles.iter().any(|a| a.user == user.handle);
                (manage, (!manage && holds).then(|| user.handle.to_string()))
            }
            None => (false, None),
        };
        let mut whole: Vec<Option<String>> =
            self.pages.people().filter(|p| sees_whole(&actor, *p)).map(|p| p.map(str::to_owned)).collect();
        whole.sort_unstable();
        whole.dedup();
        Variant { manage, own, whole }
    }

    /// The frame's bytes for `variant`, rendered by the first of its viewers
    /// to ask; the others wait for that and share it.
    fn rendered(&self, variant: &Variant, hub: &Hub) -> Result<Arc<Rendered>, ApiError> {
        let cell = self.rendered.lock().unwrap_or_else(|p| p.into_inner()).entry(variant.clone()).or_default().clone();
        cell.get_or_init(|| {
            hub.renders.fetch_add(1, Ordering::Relaxed);
            self.render(variant).map(Arc::new).map_err(|e| e.detail)
        })
        .clone()
        .map_err(|e| ApiError::internal("a live view failed to render", e))
    }

    fn render(&self, variant: &Variant) -> Result<Rendered, ApiError> {
        let whole = |person: Option<&str>| variant.whole.iter().any(|w| w.as_deref() == person);
        let (pages, page_warnings) = self.pages.render(&whole)?;
        let mut out = Vec::new();
        let mut starts = Vec::with_capacity(self.events.len());
        let Some((view, slots)) = &self.incident else {
            let data = serde_json::json!({"pages": pages, "page_warnings": page_warnings});
            sse(&mut out, None, "pages", &data);
            return Ok(Rendered { bytes: Bytes::from(out), starts, pages });
        };
        let incident = &view.incident;
        let reference = incident.reference().to_string();
        let board_html = BoardPart {
            board: slots,
            can_manage: variant.manage,
            me: variant.own.as_deref().unwrap_or(""),
            reference: &reference,
            // The page puts its own token in (`data-csrf`): the same bytes
            // go to everyone.
            csrf: "",
        }
        .render()
        .map_err(|e| ApiError::internal("the board failed to render", e))?;
        // Each audience's next update due, for the communications panel.
        let due: serde_json::Map<String, serde_json::Value> = muster_domain::update::UpdateAudience::ALL
            .iter()
            .map(|a| {
                let d =
                    view.next_updates.iter().find(|(b, _)| b == a).map(
                        |(_, d)| serde_json::json!({"at": d.at.to_string(), "overdue_minutes": d.overdue_minutes}),
                    );
                (a.as_str().to_owned(), d.unwrap_or(serde_json::Value::Null))
            })
            .collect();
        for (e, html) in self.events.iter().zip(&self.lines) {
            let data = serde_json::json!({
                "due": due,
                "seq": e.seq,
                "kind": e.change.kind(),
                "html": html,
                "topic": incident.topic,
                "status": incident.status.as_str(),
                "priority": incident.priority.as_str(),
                "board": board_html,
                "pages": pages,
                "page_warnings": page_warnings,
                "reports": self.reports,
                "workstreams": self.workstreams,
            });
            starts.push((e.seq, out.len()));
            sse(&mut out, Some(e.seq), "entry", &data);
        }
        Ok(Rendered { bytes: Bytes::from(out), starts, pages })
    }
}

/// One Server-Sent Event. Compact JSON has no line breaks (they are
/// escaped inside strings), so the data is one `data:` line.
fn sse(out: &mut Vec<u8>, id: Option<u64>, event: &str, data: &serde_json::Value) {
    use std::io::Write as _;
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = write!(out, "event: {event}\ndata: {data}\n\n");
}

struct Stream {
    app: Arc<App>,
    hub: Arc<Hub>,
    number: u64,
    /// The last entry sent.
    after: u64,
    user: User,
    /// Whether the page has the board's forms (signed in with a session).
    forms: bool,
    pending: VecDeque<Bytes>,
    credential: Credential,
    checked: tokio::time::Instant,
    /// `Changes::credentials_version` when the credential was last checked.
    credentials: u64,
    /// Wakes when a token is revoked or a user disabled on this instance.
    credentials_changed: tokio::sync::watch::Receiver<u64>,
    /// The room's frames.
    frames: broadcast::Receiver<Arc<Frame>>,
    /// Keeps the room while the stream lives.
    _room: Arc<Room>,
    /// The broadcast may not have everything after `after`: read the store.
    behind: bool,
    /// The pages panel as last sent, to send it again only when it changed
    /// without a timeline entry (a notification arrived).
    pages_sent: String,
    /// When the stream last sent anything (for the keep-alive).
    sent: tokio::time::Instant,
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
    /// The next bytes to send, waiting for changes when there are none;
    /// `None` ends the stream (the credential no longer works).
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let credentials = self.app.changes.credentials_version();
            if self.checked.elapsed() >= REAUTHORIZE || credentials != self.credentials {
                self.credentials_changed.borrow_and_update();
                if !still_valid(&self.app, &self.credential).await {
                    return None;
                }
                self.checked = tokio::time::Instant::now();
                self.credentials = credentials;
            }
            if let Some(bytes) = self.pending.pop_front() {
                self.sent = tokio::time::Instant::now();
                return Some(bytes);
            }
            let mut retry = None;
            if self.behind {
                match self.catch_up().await {
                    Ok(()) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e.detail, incident = self.number, "a live view could not read the timeline");
                        retry = Some(tokio::time::Instant::now() + RECHECK);
                    }
                }
            }
            let keep_alive = self.sent + KEEP_ALIVE;
            let wake = (self.checked + REAUTHORIZE).min(keep_alive).min(retry.unwrap_or(keep_alive));
            tokio::select! {
                frame = self.frames.recv() => match frame {
                    Ok(frame) => self.take(&frame),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.hub.behind.fetch_add(1, Ordering::Relaxed);
                        self.behind = true;
                    }
                    // The room outlives its streams; this does not happen.
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.credentials_changed.changed() => {}
                () = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= keep_alive {
                        self.pending.push_back(Bytes::from_static(b":\n\n"));
                    }
                }
            }
        }
    }

    /// Sends what of a broadcast frame this stream has not sent yet.
    fn take(&mut self, frame: &Frame) {
        let entries = !frame.events.is_empty();
        if entries && frame.to <= self.after {
            return;
        }
        // Something between what was sent and this frame was missed (the
        // stream read the store, or started further back): the store has it.
        if (entries && frame.from > self.after) || (!entries && frame.to > self.after) {
            self.behind = true;
            return;
        }
        let variant = frame.variant(&self.user, self.forms);
        let Ok(rendered) = frame.rendered(&variant, &self.hub) else {
            // Logged; the store is read again for the entries.
            self.behind = entries;
            return;
        };
        if entries {
            let start = rendered.starts.iter().find(|(seq, _)| *seq > self.after).map_or(0, |(_, at)| *at);
            self.pending.push_back(rendered.bytes.slice(start..));
            self.after = frame.to;
        } else if rendered.pages == self.pages_sent {
            return;
        } else {
            self.pending.push_back(rendered.bytes.clone());
        }
        self.pages_sent.clone_from(&rendered.pages);
    }

    /// Reads the entries after `after` from the store, rendered for this
    /// stream alone; level again when there are none.
    async fn catch_up(&mut self) -> Result<(), ApiError> {
        let Some(frame) = Frame::entries(&self.app, self.number, self.after).await? else {
            self.behind = false;
            return Ok(());
        };
        let rendered = frame.rendered(&frame.variant(&self.user, self.forms), &self.hub)?;
        self.pending.push_back(rendered.bytes.clone());
        self.pages_sent.clone_from(&rendered.pages);
        self.after = frame.to;
        Ok(())
    }
}

pub async fn events(
    State(app): State<Arc<App>>,
    Extension(hub): Extension<Arc<Hub>>,
    Path(r): Path<String>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    // Read before the check, so a revocation during it is seen.
    let credentials = app.changes.credentials_version();
    let credentials_changed = app.changes.credentials_watch();
    let (user, credential) = match watcher(&app, &headers).await {
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
    // Subscribed before reading the store, so nothing falls between the two.
    let (room, frames) = hub.join(&app, r.0, version);
    let stream = Stream {
        app,
        hub,
        number: r.0,
        after,
        user,
        forms: matches!(credential, Credential::Session(_)),
        pending: VecDeque::new(),
        credential,
        checked,
        credentials,
        credentials_changed,
        frames,
        _room: room,
        behind: true,
        pages_sent: String::new(),
        sent: checked,
        _open: open,
        _slot: slot,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<_, Infallible>(bytes), s))
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies must not buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
