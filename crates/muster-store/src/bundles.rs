//! Notifications bundled per person, as stored (see
//! [`muster_domain::bundle`] for the rules): a person's window on a service
//! (`notification_windows`, one row each, locked while a page step decides),
//! the bundles (`notification_bundles`) and the pages folded into them
//! (`bundled_pages`).

use muster_domain::bundle::{self, Fold, Window};
use muster_domain::outbox::Job;
use muster_domain::{Handle, Timestamp};

use crate::dialect::Dialect;
use crate::rows::{micros, timestamp};
use crate::{NewJob, Result};

/// How a page step asks for its notifications to be bundled: those of each
/// person go out unless the person's window on `service` folds them.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundling {
    pub service: u64,
    /// The service's window (0: never bundle).
    pub window_seconds: u32,
    /// 1-based, as people count steps.
    pub step: u32,
    /// Each person's notifications of this step.
    pub people: Vec<(Handle, Vec<NewJob>)>,
}

/// A bundle, as its follow-up reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleRecord {
    pub id: u64,
    pub person: Handle,
    pub service: u64,
    pub service_name: String,
    pub lead_page: Option<u64>,
    pub opened_at: Timestamp,
    pub closes_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub count: u64,
}

/// A page of a bundle, with what its follow-up says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundledPage {
    pub page: u64,
    pub step: u32,
    pub state: muster_domain::page::PageState,
    pub message: String,
    pub incident: Option<u64>,
    pub alert: Option<u64>,
    pub dedup_key: Option<String>,
    pub summary: Option<String>,
}

/// The key of a bundle's follow-up job: one per bundle, however many pages
/// fold into it.
pub fn follow_up_key(bundle: u64) -> String {
    format!("page.bundle:{bundle}")
}

/// Applies a page step's notifications in its transaction (after the page
/// moved): each person's jobs are enqueued, or the page is folded into
/// their bundle. Returns the people whose notifications were folded.
pub(crate) async fn apply<D: Dialect>(
    c: &mut D::Connection,
    page: u64,
    b: &Bundling,
    now: Timestamp,
) -> Result<Vec<Handle>> {
    let mut folded = Vec::new();
    // Windows are locked in one order (by person), so two steps for the
    // same people never wait on each other.
    let mut people: Vec<&(Handle, Vec<NewJob>)> = b.people.iter().collect();
    people.sort_by(|x, y| x.0.cmp(&y.0));
    for (person, jobs) in people {
        if jobs.is_empty() {
            continue;
        }
        if fold::<D>(c, person, page, b, now).await? {
            folded.push(person.clone());
        } else {
            crate::jobs::insert::<D>(c, jobs, now).await?;
        }
    }
    Ok(folded)
}

/// The windows `b`'s notifications may fold into: (person, service), for
/// a transaction to lock in order before it applies several moves.
pub(crate) fn windows(b: &Bundling) -> impl Iterator<Item = (Handle, u64)> + '_ {
    b.people
        .iter()
        .filter(move |(_, jobs)| b.window_seconds > 0 && !jobs.is_empty())
        .map(move |(person, _)| (person.clone(), b.service))
}

/// Locks `person`'s window on `service` (made first if there is none: on
/// PostgreSQL a second transaction inserting the same row waits for the
/// first), and reads it.
pub(crate) async fn lock_window<D: Dialect>(c: &mut D::Connection, person: &Handle, service: u64) -> Result<WindowRow> {
    D::query(
        "INSERT INTO notification_windows (person, service, lead_page, bundle, closes_at) VALUES ($1, $2, NULL, NULL, 0)
         ON CONFLICT (person, service) DO NOTHING",
    )
    .bind(person.as_str())
    .bind(service as i64)
    .execute(&mut *c)
    .await?;
    Ok(D::query(D::locking(
        "SELECT lead_page, bundle, closes_at FROM notification_windows WHERE person = $1 AND service = $2 FOR UPDATE",
    ))
    .bind(person.as_str())
    .bind(service as i64)
    .fetch_one(c)
    .await?)
}

#[derive(sqlx::FromRow)]
pub(crate) struct WindowRow {
    lead_page: Option<i64>,
    bundle: Option<i64>,
    closes_at: i64,
}

/// Whether page `page`'s notifications for `person` fold into a bundle
/// (recorded so) rather than going out on their own (the window is then
/// opened with this page as its lead).
async fn fold<D: Dialect>(
    c: &mut D::Connection,
    person: &Handle,
    page: u64,
    b: &Bundling,
    now: Timestamp,
) -> Result<bool> {
    if b.window_seconds == 0 {
        return Ok(false);
    }
    let row = lock_window::<D>(c, person, b.service).await?;
    // Unanswered: another page of the window (its lead or one folded) is
    // still open. This page itself does not count: its next step or repeat
    // notifies the person on its own. Whether there is one, not how many:
    // in a storm the bundle holds thousands of pages, and counting them for
    // every page folded made each fold slower than the last.
    let open: i64 = D::query(
        "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM pages WHERE id = $2 AND id <> $1 AND state IN ('pending', 'notified'))
              OR EXISTS (SELECT 1 FROM bundled_pages b JOIN pages p ON p.id = b.page
                         WHERE b.bundle = $3 AND b.page <> $1 AND p.state IN ('pending', 'notified'))
         THEN 1 ELSE 0 END AS BIGINT)",
    )
    .bind(page as i64)
    .bind(row.lead_page.unwrap_or(-1))
    .bind(row.bundle.unwrap_or(-1))
    .scalar(c)
    .await?;
    let window = (row.closes_at > 0).then(|| -> Result<Window> {
        Ok(Window { closes_at: timestamp(row.closes_at)?, bundle: row.bundle.map(|b| b as u64), unanswered: open > 0 })
    });
    let window = window.transpose()?;
    let mut decision = bundle::decide(window.as_ref(), now, b.window_seconds);
    if let Fold::Fold { bundle: Some(id), .. } = decision {
        // Its follow-up may have gone out a moment ago (its job runs when
        // the window closes, on any instance): then a new bundle it is.
        // Locked, as sending locks it, so the two never cross.
        let sent: Option<i64> =
            D::query(D::locking("SELECT sent_at FROM notification_bundles WHERE id = $1 FOR UPDATE"))
                .bind(id as i64)
                .scalar(c)
                .await?;
        if sent.is_some() {
            let later = bundle::decide(None, now, b.window_seconds);
            if let Fold::Notify { closes_at } = later {
                decision = Fold::Fold { bundle: None, closes_at };
            }
        }
    }
    match decision {
        Fold::Alone => Ok(false),
        Fold::Notify { closes_at } => {
            D::query(
                "UPDATE notification_windows SET lead_page = $1, bundle = NULL, closes_at = $2
                 WHERE person = $3 AND service = $4",
            )
            .bind(page as i64)
            .bind(micros(closes_at))
            .bind(person.as_str())
            .bind(b.service as i64)
            .execute(c)
            .await?;
            Ok(false)
        }
        Fold::Fold { bundle: Some(id), .. } => {
            add_page::<D>(c, id, page, b.step).await?;
            Ok(true)
        }
        Fold::Fold { bundle: None, closes_at } => {
            // A window still open keeps its lead; one that ran out is
            // followed by a window of its own.
            let lead = window.filter(|w| now < w.closes_at).and(row.lead_page);
            let id: i64 = D::query(
                "INSERT INTO notification_bundles (person, service, lead_page, opened_at, closes_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(person.as_str())
            .bind(b.service as i64)
            .bind(lead)
            .bind(micros(now))
            .bind(micros(closes_at))
            .scalar(c)
            .await?;
            D::query(
                "UPDATE notification_windows SET lead_page = $1, bundle = $2, closes_at = $3
                 WHERE person = $4 AND service = $5",
            )
            .bind(lead)
            .bind(id)
            .bind(micros(closes_at))
            .bind(person.as_str())
            .bind(b.service as i64)
            .execute(c)
            .await?;
            add_page::<D>(c, id as u64, page, b.step).await?;
            let job = NewJob {
                job: Job::PageBundle { bundle: id as u64 },
                idempotency_key: follow_up_key(id as u64),
                due_at: closes_at,
            };
            crate::jobs::insert::<D>(c, std::slice::from_ref(&job), now).await?;
            Ok(true)
        }
    }
}

async fn add_page<D: Dialect>(c: &mut D::Connection, bundle: u64, page: u64, step: u32) -> Result<()> {
    D::query("INSERT INTO bundled_pages (bundle, page, step) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(bundle as i64)
        .bind(page as i64)
        .bind(i64::from(step))
        .execute(c)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct BundleRow {
    id: i64,
    person: String,
    service: i64,
    service_name: String,
    lead_page: Option<i64>,
    opened_at: i64,
    closes_at: i64,
    sent_at: Option<i64>,
    count: i64,
}

pub(crate) async fn bundle<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Option<BundleRecord>> {
    let row: Option<BundleRow> = D::query(
        "SELECT b.id, b.person, b.service, s.name AS service_name, b.lead_page, b.opened_at, b.closes_at, b.sent_at,
                b.count
         FROM notification_bundles b JOIN services s ON s.id = b.service WHERE b.id = $1",
    )
    .bind(id as i64)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(BundleRecord {
            id: r.id as u64,
            person: Handle::parse(&r.person)
                .map_err(|e| crate::StoreError::Corrupt(format!("bundle {}: {e}", r.id)))?,
            service: r.service as u64,
            service_name: r.service_name,
            lead_page: r.lead_page.map(|p| p as u64),
            opened_at: timestamp(r.opened_at)?,
            closes_at: timestamp(r.closes_at)?,
            sent_at: r.sent_at.map(timestamp).transpose()?,
            count: r.count as u64,
        })
    })
    .transpose()
}

#[derive(sqlx::FromRow)]
struct BundledRow {
    page: i64,
    step: i64,
    state: String,
    message: String,
    incident: Option<i64>,
    alert: Option<i64>,
    dedup_key: Option<String>,
    summary: Option<String>,
}

/// The pages of bundle `id`, oldest first, with their alerts.
pub(crate) async fn bundled_pages<D: Dialect>(c: &mut D::Connection, id: u64) -> Result<Vec<BundledPage>> {
    let rows: Vec<BundledRow> = D::query(
        "SELECT p.id AS page, bp.step, p.state, p.message, p.incident, p.alert, a.dedup_key, a.summary
         FROM bundled_pages bp JOIN pages p ON p.id = bp.page LEFT JOIN alerts a ON a.id = p.alert
         WHERE bp.bundle = $1 ORDER BY p.id, bp.step",
    )
    .bind(id as i64)
    .fetch_all(c)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(BundledPage {
                page: r.page as u64,
                step: r.step as u32,
                state: r.state.parse().map_err(|_| crate::StoreError::Corrupt(format!("page {}: state", r.page)))?,
                message: r.message,
                incident: r.incident.map(|n| n as u64),
                alert: r.alert.map(|a| a as u64),
                dedup_key: r.dedup_key,
                summary: r.summary,
            })
        })
        .collect()
}

/// What a bundle's follow-up sends, given the bundle and its pages: the
/// notifications, and how many pages they tell of.
pub type ComposeFollowUp<'a> = dyn Fn(&BundleRecord, &[BundledPage]) -> (Vec<NewJob>, u64) + Send + Sync + 'a;

/// Sends bundle `id`'s follow-up once: in one transaction, the bundle is
/// locked and marked sent (no page folds into it after), its pages read,
/// and the notifications `compose` makes of them enqueued. A second call
/// writes nothing and returns `None`.
pub(crate) async fn send<D: Dialect>(
    c: &mut D::Connection,
    id: u64,
    compose: &ComposeFollowUp<'_>,
    now: Timestamp,
) -> Result<Option<u64>> {
    let done = D::query("UPDATE notification_bundles SET sent_at = $1 WHERE id = $2 AND sent_at IS NULL")
        .bind(micros(now))
        .bind(id as i64)
        .execute(c)
        .await?;
    if done == 0 {
        return Ok(None);
    }
    let Some(found) = bundle::<D>(c, id).await? else { return Ok(None) };
    let pages = bundled_pages::<D>(c, id).await?;
    let (jobs, count) = compose(&found, &pages);
    D::query("UPDATE notification_bundles SET count = $1 WHERE id = $2")
        .bind(count as i64)
        .bind(id as i64)
        .execute(c)
        .await?;
    crate::jobs::insert::<D>(c, &jobs, now).await?;
    Ok(Some(count))
}
