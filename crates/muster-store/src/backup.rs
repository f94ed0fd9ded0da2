//! `muster backup` and `muster restore`: a database to a file and back.
//!
//! - SQLite: the backup is `VACUUM INTO` a new file, a consistent copy
//!   taken online (a read transaction) while `muster serve` runs. A
//!   restore copies the file beside the database, checks it is a Muster
//!   database of a schema version this binary knows, and renames it over
//!   the database, then migrates. `muster serve` holds a shared lock
//!   ([`hold`]) on its SQLite file, and a restore takes the lock exclusively,
//!   so it refuses a database a server has open.
//! - PostgreSQL: the backup is `pg_dump` of the URL's schema (its
//!   `search_path`, else `public`) as plain SQL; a restore runs it with
//!   `psql` into that schema of the URL's database, which must be empty
//!   unless forced (then the schema is dropped first), then migrates.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Refused before anything changed: the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// A tool or the database failed on the way.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Store(e.into())
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

/// What a backup or restore did, for the command to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The schema version in the backup file.
    pub schema_version: i64,
    /// The schema version of the database afterwards (after a restore's
    /// migrations; the same as `schema_version` for a backup).
    pub now_version: i64,
}

/// The newest schema version this binary migrates to.
pub fn newest_version() -> i64 {
    sqlx::migrate!("./migrations/sqlite").migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A shared lock on a SQLite database file, held by `muster serve` for as
/// long as it runs, so that `muster restore` can tell the database is in
/// use. `None` for PostgreSQL and in-memory databases.
pub struct InUse(#[allow(dead_code)] File);

pub fn hold(url: &str) -> Result<Option<InUse>> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let Some(path) = sqlite_path(url)? else { return Ok(None) };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| BackupError::Failed(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(InUse(file))),
        Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Refused(format!(
            "{} is being restored (muster restore holds it); start again when it is done",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(BackupError::Failed(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

/// Writes a backup of the database at `url` to the new file `file`.
pub async fn backup(url: &str, file: &Path) -> Result<Done> {
    if file.exists() {
        return Err(BackupError::Refused(format!(
            "{} exists already: a backup never overwrites a file; name a new one",
            file.display()
        )));
    }
    match sqlite_path(url)? {
        Some(path) => backup_sqlite(&path, file).await,
        None => backup_postgres(url, file).await,
    }
}

/// Replaces the database at `url` with the backup `file`, then migrates it.
/// Refuses a database that holds data unless `force`, and (SQLite) one a
/// running server has open.
pub async fn restore(url: &str, file: &Path, force: bool) -> Result<Done> {
    if !file.is_file() {
        return Err(BackupError::Refused(format!("{} is not a file", file.display())));
    }
    let schema_version = match sqlite_path(url)? {
        Some(path) => restore_sqlite(&path, file, force).await?,
        None => restore_postgres(url, file, force).await?,
    };
    crate::open(url, true).await?;
    Ok(Done { schema_version, now_version: newest_version() })
}

/// The file a `sqlite:` URL names, `None` for a PostgreSQL URL.
fn sqlite_path(url: &str) -> Result<Option<PathBuf>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(None);
    }
    if !url.starts_with("sqlite:") {
        return Err(BackupError::Refused(format!("{url:?} is neither a sqlite:// nor a postgres:// URL")));
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename().to_path_buf();
    if url.contains(":memory:") || url.contains("mode=memory") || path.as_os_str().is_empty() {
        return Err(BackupError::Refused("an in-memory database has nothing to back up or restore".into()));
    }
    Ok(Some(path))
}

fn sqlite_options(path: &Path) -> sqlx::sqlite::SqliteConnectOptions {
    sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(10))
}

/// The schema version of an open Muster database, or why it is not one.
async fn sqlite_version(c: &mut sqlx::SqliteConnection, what: &Path) -> Result<i64> {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'incident_events')",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(|e| BackupError::Refused(format!("{} is not a SQLite database: {e}", what.display())))?;
    if tables.len() != 2 {
        return Err(BackupError::Refused(format!(
            "{} is not a Muster database (it has no migrations table or no timeline)",
            what.display()
        )));
    }
    let (version,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&mut *c).await?;
    version.ok_or_else(|| {
        BackupError::Refused(format!("{} is a Muster database with no migration applied", what.display()))
    })
}

async fn backup_sqlite(path: &Path, file: &Path) -> Result<Done> {
    if !path.is_file() {
        return Err(BackupError::Refused(format!("there is no database at {}", path.display())));
    }
    let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(path)).await?;
    sqlite_version(&mut c, path).await?;
    let target = file.to_str().ok_or_else(|| BackupError::Refused(format!("{} is not UTF-8", file.display())))?;
    if let Err(e) = sqlx::query("VACUUM INTO ?").bind(target).execute(&mut c).await {
        let _ = std::fs::remove_file(file);
        return Err(e.into());
    }
    c.close().await?;
    // Read the copy back: it opens, is whole, and is what was copied.
    let mut copy = sqlx::SqliteConnection::connect_with(&sqlite_options(file)).await?;
    check_integrity(&mut copy, file).await?;
    let copied = sqlite_version(&mut copy, file).await?;
    copy.close().await?;
    Ok(Done { schema_version: copied, now_version: copied })
}

async fn check_integrity(c: &mut sqlx::SqliteConnection, what: &Path) -> Result<()> {
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut *c)
        .await
        .map_err(|e| BackupError::Refused(format!("{} is not a SQLite database: {e}", what.display())))?;
    if check != "ok" {
        return Err(BackupError::Refused(format!("{} is damaged: {check}", what.display())));
    }
    Ok(())
}

fn too_new(version: i64, file: &Path) -> Result<()> {
    let newest = newest_version();
    if version > newest {
        return Err(BackupError::Refused(format!(
            "{} has schema version {version}, newer than this muster's {newest}: restore it with the muster that wrote it",
            file.display()
        )));
    }
    Ok(())
}

async fn restore_sqlite(path: &Path, file: &Path, force: bool) -> Result<i64> {
    let exists = path.is_file() && path.metadata().is_ok_and(|m| m.len() > 0);
    // Held until the new file is in place: a server starting meanwhile waits for nothing, it fails.
    let _lock = if path.is_file() {
        let f = File::open(path).map_err(|e| BackupError::Failed(format!("cannot open {}: {e}", path.display())))?;
        match f.try_lock() {
            Ok(()) => Some(f),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(BackupError::Refused(format!(
                    "a running muster serve has {} open: stop it, then restore",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(BackupError::Failed(format!("cannot lock {}: {e}", path.display())));
            }
        }
    } else {
        None
    };
    if exists && !force {
        return Err(BackupError::Refused(format!(
            "{} exists: restoring replaces it and all it holds; pass --force to do so (muster backup it first)",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let staged = PathBuf::from(format!("{}.restoring", path.display()));
    let remove_staged = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", staged.display()));
        }
    };
    remove_staged();
    std::fs::copy(file, &staged)
        .map_err(|e| BackupError::Failed(format!("cannot copy {} to {}: {e}", file.display(), staged.display())))?;
    let checked = async {
        let mut c = sqlx::SqliteConnection::connect_with(&sqlite_options(&staged))
            .await
            .map_err(|e| BackupError::Refused(format!("{} is not a SQLite database: {e}", file.display())))?;
        check_integrity(&mut c, file).await?;
        let version = sqlite_version(&mut c, file).await?;
        too_new(version, file)?;
        c.close().await?;
        Ok::<_, BackupError>(version)
    }
    .await;
    let version = match checked {
        Ok(v) => v,
        Err(e) => {
            remove_staged();
            return Err(e);
        }
    };
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::rename(&staged, path).map_err(|e| {
        remove_staged();
        BackupError::Failed(format!("cannot move {} to {}: {e}", staged.display(), path.display()))
    })?;
    Ok(version)
}

/// A PostgreSQL URL taken apart for libpq's tools: the URL without what
/// only sqlx understands (and without `options`), and the schema its
/// `search_path` names.
#[derive(Debug, PartialEq, Eq)]
struct PgTarget {
    url: String,
    schema: String,
}

/// Query parameters libpq's tools accept as they are.
const LIBPQ_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "connect_timeout",
    "host",
    "port",
    "user",
    "password",
    "dbname",
];

fn pg_target(url: &str) -> PgTarget {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut keep = Vec::new();
    let mut schema = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "options" {
            let options = percent_decode(value);
            if let Some(rest) = options.split("search_path=").nth(1) {
                let first = rest.split([' ', ',']).next().unwrap_or("");
                let name = first.trim_matches('"').trim_matches('\'');
                if !name.is_empty() {
                    schema = Some(name.to_owned());
                }
            }
        } else if LIBPQ_PARAMS.contains(&key) {
            keep.push(pair);
        }
    }
    let url = if keep.is_empty() { base.to_owned() } else { format!("{base}?{}", keep.join("&")) };
    PgTarget { url, schema: schema.unwrap_or_else(|| "public".into()) }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            (bytes[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(h, 16).ok());
        match (hex, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Hides a password in a URL, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Runs a PostgreSQL client tool; a missing tool is explained with the
/// command to run by hand.
async fn run_tool(tool: &'static str, args: Vec<String>, by_hand: String) -> Result<()> {
    let out = tokio::task::spawn_blocking(move || Command::new(tool).args(&args).output())
        .await
        .map_err(|e| BackupError::Failed(format!("{tool} did not run: {e}")))?;
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BackupError::Failed(format!(
            "{tool} is not installed: install PostgreSQL's client tools (Debian and Ubuntu: apt-get install \
             postgresql-client, of the server's major version or newer), or run it yourself: {by_hand}"
        ))),
        Err(e) => Err(BackupError::Failed(format!("{tool} did not run: {e}"))),
        Ok(out) if !out.status.success() => Err(BackupError::Failed(format!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Ok(_) => Ok(()),
    }
}

/// `"name"`, for a schema name in SQL and in `pg_dump --schema`.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn backup_postgres(url: &str, file: &Path) -> Result<Done> {
    let target = pg_target(url);
    // Check it is a Muster database first (and learn its version).
    let mut c = sqlx::PgConnection::connect(url).await?;
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success AND to_regclass('incident_events') IS NOT NULL",
    )
    .fetch_one(&mut c)
    .await
    .map_err(|_| {
        BackupError::Refused(format!("schema {} of {} is not a Muster database", target.schema, redact(&target.url)))
    })?;
    let version = version.ok_or_else(|| {
        BackupError::Refused(format!("schema {} of {} is not a Muster database", target.schema, redact(&target.url)))
    })?;
    c.close().await?;
    let file_arg = file.display().to_string();
    let args = vec![
        "--no-password".into(),
        "--no-owner".into(),
        "--no-privileges".into(),
        format!("--schema={}", quote_ident(&target.schema)),
        format!("--file={file_arg}"),
        format!("--dbname={}", target.url),
    ];
    let by_hand = format!(
        "pg_dump --no-owner --no-privileges --schema='{}' --file='{file_arg}' '{}'",
        quote_ident(&target.schema),
        redact(&target.url)
    );
    if let Err(e) = run_tool("pg_dump", args, by_hand).await {
        let _ = std::fs::remove_file(file);
        return Err(e);
    }
    Ok(Done { schema_version: version, now_version: version })
}

/// The schema a plain `pg_dump` file holds and its newest migration, read
/// from the `COPY … _sqlx_migrations` block.
fn dump_contents(text: &str, file: &Path) -> Result<(String, i64)> {
    let not_muster = || BackupError::Refused(format!("{} is not a backup of a Muster database", file.display()));
    if !text.starts_with("--\n-- PostgreSQL database dump") {
        return Err(BackupError::Refused(format!(
            "{} is not a PostgreSQL backup from muster backup (a plain pg_dump file)",
            file.display()
        )));
    }
    let mut lines = text.lines();
    let copy =
        lines.by_ref().find(|l| l.starts_with("COPY ") && l.contains("._sqlx_migrations ")).ok_or_else(not_muster)?;
    if !text.contains(".incident_events (") {
        return Err(not_muster());
    }
    let name = &copy["COPY ".len()..copy.find("._sqlx_migrations ").unwrap_or(5)];
    let schema =
        name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).map_or(name.to_owned(), |n| n.replace("\"\"", "\""));
    let version = lines
        .take_while(|l| *l != "\\.")
        .filter_map(|l| l.split('\t').next().and_then(|v| v.parse::<i64>().ok()))
        .max()
        .ok_or_else(not_muster)?;
    Ok((schema, version))
}

async fn restore_postgres(url: &str, file: &Path, force: bool) -> Result<i64> {
    let target = pg_target(url);
    let text = std::fs::read_to_string(file)
        .map_err(|e| BackupError::Refused(format!("cannot read {}: {e}", file.display())))?;
    let (schema, version) = dump_contents(&text, file)?;
    too_new(version, file)?;
    if schema != target.schema {
        return Err(BackupError::Refused(format!(
            "{} is a backup of schema {schema}; restore it into that schema (a database URL with \
             ?options=-c%20search_path%3D{schema}), not {}",
            file.display(),
            target.schema
        )));
    }
    let mut c = sqlx::PgConnection::connect(&target.url).await?;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1")
        .bind(&target.schema)
        .fetch_one(&mut c)
        .await?;
    if tables > 0 && !force {
        return Err(BackupError::Refused(format!(
            "schema {} of {} holds {tables} tables: restoring replaces them and all they hold; pass --force to do so \
             (muster backup it first)",
            target.schema,
            redact(&target.url)
        )));
    }
    c.close().await?;
    // The dump creates its schema, except `public`, which it expects to
    // exist. Dropping the old one is in the restore's transaction: a
    // restore that fails leaves the schema as it was.
    let mut replace = format!("DROP SCHEMA IF EXISTS {} CASCADE;", quote_ident(&target.schema));
    if target.schema == "public" {
        replace.push_str(" CREATE SCHEMA public;");
    }
    let file_arg = file.display().to_string();
    let args = vec![
        "--no-password".into(),
        "--no-psqlrc".into(),
        "--quiet".into(),
        "--single-transaction".into(),
        "--set=ON_ERROR_STOP=1".into(),
        format!("--command={replace}"),
        format!("--file={file_arg}"),
        format!("--dbname={}", target.url),
    ];
    let by_hand =
        format!("psql --single-transaction --set=ON_ERROR_STOP=1 --file='{file_arg}' '{}'", redact(&target.url));
    run_tool("psql", args, by_hand).await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_names_its_schema_for_pg_dump_and_loses_what_only_sqlx_reads() {
        assert_eq!(
            pg_target(
                "postgres://u:p@h:5432/db?options=-c%20search_path%3Dmuster_t_1&sslmode=disable&statement-cache-capacity=9"
            ),
            PgTarget { url: "postgres://u:p@h:5432/db?sslmode=disable".into(), schema: "muster_t_1".into() }
        );
        assert_eq!(pg_target("postgres://h/db"), PgTarget { url: "postgres://h/db".into(), schema: "public".into() });
    }

    #[test]
    fn an_in_memory_database_is_held_by_nobody_and_has_no_backup() {
        assert!(hold("sqlite::memory:").unwrap().is_none());
        assert!(matches!(sqlite_path("sqlite::memory:"), Err(BackupError::Refused(_))));
        assert!(hold("postgres://h/db").unwrap().is_none());
    }

    #[test]
    fn a_dump_says_its_schema_and_newest_migration() {
        let text = "--\n-- PostgreSQL database dump\n--\nCOPY s1._sqlx_migrations (version, description) FROM stdin;\n1\tcore\n13\tx\n\\.\nCREATE TABLE s1.incident_events (\n";
        assert_eq!(dump_contents(text, Path::new("f")).unwrap(), ("s1".to_owned(), 13));
        assert!(dump_contents("--\n-- PostgreSQL database dump\n", Path::new("f")).is_err());
        assert!(dump_contents("SELECT 1;", Path::new("f")).is_err());
    }
}
