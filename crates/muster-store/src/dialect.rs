//! What the two backends do differently, and the one way the store's
//! functions talk to either.
//!
//! The SQL is written once, with `$N` placeholders, which SQLite (through
//! sqlx) and PostgreSQL both accept. What differs per backend is two
//! strings, the row lock ([`Dialect::LOCK`]) and the job claim's
//! [`Dialect::SKIP_LOCKED`], and which sqlx types carry a statement.
//!
//! # Why a trait with a few methods, and not sqlx's bounds
//!
//! A function generic over `DB: sqlx::Database` needs a long where-clause to
//! run anything (`for<'c> &'c mut DB::Connection: Executor<'c>`, `i64:
//! Encode<'q, DB> + Type<DB>` for every bound type, `Row: FromRow<'r,
//! DB::Row>` for every row), and Rust does not imply such clauses from a
//! trait bound: every function would repeat them. Instead the bounds are
//! stated where they are concrete, once:
//!
//! - [`Value`]: a type both backends can bind (`i64`, `&str`, `String`,
//!   `bool`, their `Option`s), blanket-implemented;
//! - [`Record`]: a row both backends can decode (a `#[derive(sqlx::FromRow)]`
//!   struct, or a one-column tuple for a scalar), blanket-implemented;
//! - [`Dialect`], implemented for `sqlx::Sqlite` (in `sqlite.rs`) and
//!   `sqlx::Postgres` (in `postgres.rs`): the two strings, four one-line
//!   methods that hand a statement to sqlx, where the backend's types are
//!   concrete, and `LISTEN`.
//!
//! The store's functions are then plain `async fn f<D: Dialect>(c: &mut
//! D::Connection, …)` that build a [`Query`] with `D::query("…")` and
//! `.bind(…)`, or `push`/`push_bind` for dynamic SQL, and decode into
//! `#[derive(sqlx::FromRow)]` structs. They run the same statements sqlx's
//! `query_as` would (prepared and cached, the same arguments), with no
//! boxing. A locking statement is written once, ending in ` FOR UPDATE`,
//! and [`Dialect::locking`] hands SQLite the text without it, as a slice,
//! so taking a lock allocates nothing; only the job claim, whose
//! `SKIP LOCKED` sits inside a subquery, formats its text per claim.
//!
//! Rejected: one implementation per backend (the same SQL twice), macros
//! that instantiate the SQL per backend (what this replaced: neither
//! rustfmt nor rust-analyzer sees their bodies), and `sqlx::Any` (a
//! runtime dispatch on every value, and fewer types). The cost of this
//! design is the turbofish: `D` cannot be inferred from `D::Connection`,
//! so calls read `lock_incident::<D>(c, n)`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments as _, Encode, FromRow, Postgres, Sqlite, Type};

/// A future of the backend's `LISTEN` (once per process, so boxed).
pub(crate) type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A value both backends bind.
pub(crate) trait Value<'q>:
    'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

impl<'q, T> Value<'q> for T where
    T: 'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// A row both backends decode.
pub(crate) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

impl<T> Record for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static {}

/// A backend: `sqlx::Sqlite` or `sqlx::Postgres`.
pub(crate) trait Dialect: sqlx::Database {
    /// For logs and benchmarks.
    const BACKEND: &'static str;
    /// Appended where a row is read to be changed: `" FOR UPDATE"` on
    /// PostgreSQL; SQLite serializes writers anyway.
    const LOCK: &'static str;
    /// Appended to the job claim's inner `SELECT`: `" FOR UPDATE SKIP
    /// LOCKED"` on PostgreSQL, so instances never claim the same job.
    const SKIP_LOCKED: &'static str;

    /// `args`, for a statement that lives shorter than the values they
    /// borrow (the arguments are covariant; rustc does not know that of
    /// `Self::Arguments<'q>` here).
    fn shorten<'a, 'b: 'a>(args: Self::Arguments<'b>) -> Self::Arguments<'a>;

    /// Adds `value` to `args`.
    fn add<'q>(args: &mut Self::Arguments<'q>, value: impl Value<'q>) -> Result<(), BoxDynError>;

    // The statements below take one lifetime for the connection, the SQL
    // and the arguments: a future that also captured an outlives bound
    // (`'q: 'c`) would not be `Send` "generally enough" for rustc once it
    // sits inside the store's own futures (rust-lang/rust#100013), so the
    // arguments are shortened first (`shorten`) rather than the future
    // boxed.

    /// Runs a statement; the number of rows it changed.
    fn execute<'c>(
        c: &'c mut Self::Connection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    fn fetch_all<'c, R: Record>(
        c: &'c mut Self::Connection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> impl Future<Output = Result<Vec<R>, sqlx::Error>> + Send;

    fn fetch_optional<'c, R: Record>(
        c: &'c mut Self::Connection,
        sql: &'c str,
        args: Self::Arguments<'c>,
    ) -> impl Future<Output = Result<Option<R>, sqlx::Error>> + Send;

    /// Calls `wake` whenever another instance commits to `channel`
    /// (`muster_jobs`, `muster_incidents`), from a task of its own; whether
    /// the backend can (SQLite has one instance).
    fn listen<'a>(
        pool: &'a sqlx::Pool<Self>,
        channel: &'a str,
        wake: Arc<dyn Fn(Option<u64>) + Send + Sync>,
    ) -> BoxFuture<'a, crate::Result<bool>>;

    /// `sql`, a statement written with PostgreSQL's row lock at its end
    /// (`… FOR UPDATE`), as this backend runs it: as it is, or without
    /// the lock. A slice of the one text, so nothing is allocated.
    fn locking(sql: &'static str) -> &'static str {
        let unlocked = sql.strip_suffix(" FOR UPDATE").expect("a locking statement ends in FOR UPDATE");
        if Self::LOCK.is_empty() { unlocked } else { sql }
    }

    /// A statement to bind and run on this backend.
    fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q, Self> {
        Query { sql: sql.into(), args: Ok(Default::default()), binds: 0 }
    }
}

/// A statement and its arguments. Static SQL numbers its placeholders
/// (`$1`, `$2`, …) and is bound in order with [`Query::bind`]; dynamic SQL
/// is written with [`Query::push`] and [`Query::push_bind`], which writes
/// each placeholder (the two are not mixed in one statement).
#[must_use]
pub(crate) struct Query<'q, D: Dialect> {
    sql: Cow<'q, str>,
    /// The arguments, or the first value that failed to encode (reported
    /// when the statement runs, as sqlx's own `bind` does).
    args: Result<D::Arguments<'q>, BoxDynError>,
    binds: usize,
}

impl<'q, D: Dialect> Query<'q, D> {
    pub(crate) fn bind(mut self, value: impl Value<'q>) -> Self {
        self.add(value);
        self
    }

    fn add(&mut self, value: impl Value<'q>) {
        self.binds += 1;
        if let Ok(args) = &mut self.args
            && let Err(e) = D::add(args, value)
        {
            self.args = Err(e);
        }
    }

    /// Appends SQL.
    pub(crate) fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        write!(self.sql.to_mut(), "{sql}").expect("writing to a String succeeds");
        self
    }

    /// Binds `value` and appends its placeholder, in the backend's own
    /// style as sqlx's `QueryBuilder` writes it (`?` on SQLite, where
    /// numbered ones cost SQLite a search per parameter when it prepares a
    /// statement; `$N` on PostgreSQL). So a statement that uses `push_bind`
    /// does not number placeholders itself.
    pub(crate) fn push_bind(&mut self, value: impl Value<'q>) -> &mut Self {
        self.add(value);
        let sql = self.sql.to_mut();
        match &self.args {
            Ok(args) => args.format_placeholder(sql),
            // The statement fails with the encoding error; any text does.
            Err(_) => write!(sql, "${}", self.binds),
        }
        .expect("writing to a String succeeds");
        self
    }

    /// Appends ` AND <column> IN (…)` with one placeholder per value; nothing
    /// when there are none (no filter).
    pub(crate) fn push_in(&mut self, column: &str, values: impl IntoIterator<Item = &'static str>) -> &mut Self {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return self;
        }
        self.push(format_args!(" AND {column} IN ("));
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(v);
        }
        self.push(")")
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) async fn execute(self, c: &mut D::Connection) -> Result<u64, sqlx::Error> {
        let args = D::shorten(self.args.map_err(sqlx::Error::Encode)?);
        D::execute(c, &self.sql, args).await
    }

    pub(crate) async fn fetch_all<R: Record>(self, c: &mut D::Connection) -> Result<Vec<R>, sqlx::Error> {
        let args = D::shorten(self.args.map_err(sqlx::Error::Encode)?);
        D::fetch_all(c, &self.sql, args).await
    }

    pub(crate) async fn fetch_optional<R: Record>(self, c: &mut D::Connection) -> Result<Option<R>, sqlx::Error> {
        let args = D::shorten(self.args.map_err(sqlx::Error::Encode)?);
        D::fetch_optional(c, &self.sql, args).await
    }

    /// The one row (`RowNotFound` without one, as in sqlx).
    pub(crate) async fn fetch_one<R: Record>(self, c: &mut D::Connection) -> Result<R, sqlx::Error> {
        self.fetch_optional(c).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of the one row.
    pub(crate) async fn scalar<T>(self, c: &mut D::Connection) -> Result<T, sqlx::Error>
    where
        (T,): Record,
    {
        self.fetch_one(c).await.map(|(v,)| v)
    }

    /// The first column of the row, if there is one.
    pub(crate) async fn scalar_optional<T>(self, c: &mut D::Connection) -> Result<Option<T>, sqlx::Error>
    where
        (T,): Record,
    {
        Ok(self.fetch_optional(c).await?.map(|(v,)| v))
    }

    /// The first column of every row.
    pub(crate) async fn scalars<T>(self, c: &mut D::Connection) -> Result<Vec<T>, sqlx::Error>
    where
        (T,): Record,
    {
        Ok(self.fetch_all(c).await?.into_iter().map(|(v,)| v).collect())
    }
}
