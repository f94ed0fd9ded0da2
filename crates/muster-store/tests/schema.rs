//! Schema parity: `migrations/sqlite` and `migrations/postgres` are kept in
//! step by hand, so this migrates a fresh database on each backend, reads
//! back what the migrations built, and compares the two in a common
//! vocabulary: tables, columns (type, NOT NULL, primary key, whether there is
//! a default), indexes (columns, uniqueness, partial predicate), unique
//! constraints, and triggers by name and table.
//!
//! Where the backends legitimately differ, the difference is listed below
//! with its reason. An entry that no longer matches anything fails the test
//! too, so the lists cannot go stale.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use muster_store::testing::{Backend, TestDatabase};
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The common vocabulary for column types: each SQLite declared type (upper
/// case, any `(n)` dropped) and each PostgreSQL `information_schema.columns.
/// data_type` maps to one word.
///
/// | common    | SQLite             | PostgreSQL                       |
/// |-----------|--------------------|----------------------------------|
/// | `integer` | `INTEGER`, `BIGINT`| `bigint`, `integer`, `smallint`  |
/// | `text`    | `TEXT`, `VARCHAR`  | `text`, `character varying`      |
/// | `bytes`   | `BLOB`             | `bytea`                          |
/// | `real`    | `REAL`, `DOUBLE`   | `double precision`, `real`       |
/// | `boolean` | `BOOLEAN`          | `boolean`                        |
///
/// The migrations use `INTEGER` and `TEXT` on SQLite and `bigint`, `text`
/// and `boolean` on PostgreSQL; the other rows are there so that the obvious
/// next column maps without a change here. A type not in the table shows up
/// as `unmapped …` in the diff, and never matches.
const TYPES: &[(&str, &[&str], &[&str])] = &[
    ("integer", &["INTEGER", "BIGINT"], &["bigint", "integer", "smallint"]),
    ("text", &["TEXT", "VARCHAR"], &["text", "character varying"]),
    ("bytes", &["BLOB"], &["bytea"]),
    ("real", &["REAL", "DOUBLE"], &["double precision", "real"]),
    ("boolean", &["BOOLEAN"], &["boolean"]),
];

/// Columns whose types differ on purpose: (table, column, SQLite's common
/// type, PostgreSQL's common type, why). The column's other properties are
/// still compared.
const TYPE_DIFFERENCES: &[(&str, &str, &str, &str, &str)] = &[(
    "custom_roles",
    "many",
    "integer",
    "boolean",
    "SQLite has no boolean type: sqlx binds a bool as 0/1 in an INTEGER column, and PostgreSQL needs a real boolean",
)];

/// Triggers only one backend has: (backend, table, trigger, why).
const ONE_BACKEND_TRIGGERS: &[(Backend, &str, &str, &str)] = &[
    (
        Backend::Sqlite,
        "incident_events",
        "incident_events_no_update",
        "a SQLite trigger fires on one kind of statement, so append-only takes two; PostgreSQL's \
         incident_events_append_only is BEFORE UPDATE OR DELETE",
    ),
    (Backend::Sqlite, "incident_events", "incident_events_no_delete", "the other half of the above"),
    (
        Backend::Postgres,
        "incident_events",
        "incident_events_append_only",
        "SQLite's incident_events_no_update and incident_events_no_delete in one trigger",
    ),
    (
        Backend::Postgres,
        "jobs",
        "jobs_notify",
        "NOTIFY muster_jobs wakes other instances; SQLite has one instance and no NOTIFY",
    ),
    (
        Backend::Postgres,
        "incident_events",
        "incident_events_notify",
        "NOTIFY muster_incidents wakes live views on other instances; SQLite has one instance and no NOTIFY",
    ),
];

/// Functions in the PostgreSQL schema (SQLite has none): (name, why). A new
/// function must be added here.
const POSTGRES_FUNCTIONS: &[(&str, &str)] = &[
    ("muster_refuse_change", "the body of incident_events_append_only"),
    ("muster_notify_jobs", "the body of jobs_notify"),
    ("muster_notify_incidents", "the body of incident_events_notify"),
];

/// One backend's schema: what an object is (`column alerts.status`) to
/// what it is like (`text, NOT NULL`), in the common vocabulary.
type Schema = BTreeMap<String, String>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_define_the_same_schema() {
    let sqlite_db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    // Skips loudly outside CI when PostgreSQL is not configured; fails in CI.
    let Some(postgres_db) = TestDatabase::new(Backend::Postgres).await else { return };
    let mut sqlite = read_sqlite(&sqlite_db.url).await;
    let (mut postgres, functions) = read_postgres(&postgres_db.url).await;

    for (side, schema) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        for kind in ["table ", "column ", "index ", "unique constraint ", "trigger "] {
            assert!(
                schema.keys().any(|k| k.starts_with(kind)),
                "nothing of kind `{}` was read from {side}: the schema reader is broken",
                kind.trim()
            );
        }
    }

    let mut allow_list = Vec::new();
    for &(table, column, on_sqlite, on_postgres, _why) in TYPE_DIFFERENCES {
        let key = format!("column {table}.{column}");
        let (Some(s), Some(p)) = (sqlite.get_mut(&key), postgres.get(&key)) else {
            allow_list.push(format!("TYPE_DIFFERENCES: {key} is not on both backends"));
            continue;
        };
        let (s_ty, s_rest) = s.split_once(',').unwrap_or((s.as_str(), ""));
        let p_ty = p.split(',').next().unwrap_or_default();
        if s_ty != on_sqlite || p_ty != on_postgres {
            allow_list.push(format!(
                "TYPE_DIFFERENCES: {key} is {s_ty} on SQLite and {p_ty} on PostgreSQL, not {on_sqlite} and {on_postgres}"
            ));
            continue;
        }
        *s = format!("{on_postgres},{s_rest}");
    }
    for &(backend, table, trigger, _why) in ONE_BACKEND_TRIGGERS {
        let key = format!("trigger {table}.{trigger}");
        let (mine, theirs) = match backend {
            Backend::Sqlite => (&mut sqlite, &postgres),
            Backend::Postgres => (&mut postgres, &sqlite),
        };
        if mine.remove(&key).is_none() || theirs.contains_key(&key) {
            allow_list.push(format!("ONE_BACKEND_TRIGGERS: {key} is not on {backend:?} only"));
        }
    }
    let listed: BTreeSet<&str> = POSTGRES_FUNCTIONS.iter().map(|&(name, _)| name).collect();
    let found: BTreeSet<&str> = functions.iter().map(String::as_str).collect();
    for name in found.difference(&listed) {
        allow_list.push(format!("PostgreSQL has function {name}, which is not in POSTGRES_FUNCTIONS"));
    }
    for name in listed.difference(&found) {
        allow_list.push(format!("POSTGRES_FUNCTIONS lists {name}, which PostgreSQL does not have"));
    }

    let differences = diff(&sqlite, &postgres);
    assert!(
        differences.is_empty() && allow_list.is_empty(),
        "the SQLite and PostgreSQL migrations define different schemas:\n{differences}{}",
        allow_list.iter().map(|s| format!("  {s}\n")).collect::<String>()
    );
}

#[test]
fn partial_index_predicates_compare_equal_across_the_two_spellings() {
    // What PostgreSQL's pg_get_expr gives back for what SQLite keeps as written.
    let pairs = [
        ("status <> 'resolved'", "(status <> 'resolved'::text)"),
        ("done_at IS NULL", "(done_at IS NULL)"),
        ("page IS NOT NULL", "(page IS NOT NULL)"),
        ("state IN ('pending', 'notified')", "(state = ANY (ARRAY['pending'::text, 'notified'::text]))"),
        ("s <> 'x' AND (a IS NULL OR a > 3)", "((s <> 'x'::text) AND ((a IS NULL) OR (a > 3)))"),
        ("v = 'x'", "((v)::text = 'x'::character varying)"),
        ("status != 'resolved'", "(status <> 'resolved'::text)"),
        ("state IN ('pending')", "(state = 'pending'::text)"),
    ];
    for (sqlite, postgres) in pairs {
        assert_eq!(normalize_predicate(sqlite), normalize_predicate(postgres), "{sqlite} vs {postgres}");
    }
    assert_ne!(normalize_predicate("done_at IS NULL"), normalize_predicate("(done_at IS NOT NULL)"));
    assert_ne!(normalize_predicate("status <> 'resolved'"), normalize_predicate("(status = 'resolved'::text)"));
    assert_ne!(
        normalize_predicate("state IN ('pending', 'notified')"),
        normalize_predicate("(state = 'pending'::text)")
    );
}

/// Every difference, one object at a time, or "" when there is none.
fn diff(sqlite: &Schema, postgres: &Schema) -> String {
    let shown = |v: Option<&String>| v.map_or("(missing)", String::as_str).to_string();
    let keys: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    let mut out = String::new();
    for key in keys {
        let (s, p) = (sqlite.get(key), postgres.get(key));
        if s != p {
            let _ = writeln!(out, "  {key}\n      sqlite:     {}\n      postgres:   {}", shown(s), shown(p));
        }
    }
    out
}

async fn read_sqlite(url: &str) -> Schema {
    let mut c = SqliteConnection::connect(url).await.expect("the SQLite test database opens");
    let mut schema = Schema::new();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for (table, sql) in tables {
        schema.insert(format!("table {table}"), "present".into());

        let columns: Vec<(String, String, i64, Option<String>, i64)> =
            sqlx::query_as(r#"SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?1)"#)
                .bind(&table)
                .fetch_all(&mut c)
                .await
                .unwrap();
        // A lone INTEGER PRIMARY KEY is the rowid, which cannot be NULL even
        // though table_info says it may; in a WITHOUT ROWID table, no primary
        // key column can. Any other SQLite primary key column takes NULL
        // unless it says NOT NULL.
        let pk_columns = columns.iter().filter(|c| c.4 > 0).count();
        let without_rowid = sql.to_uppercase().contains("WITHOUT ROWID");
        for (name, ty, not_null, default, pk) in &columns {
            let is_rowid = *pk > 0 && pk_columns == 1 && ty.eq_ignore_ascii_case("INTEGER") && !without_rowid;
            let not_null = *not_null != 0 || is_rowid || (*pk > 0 && without_rowid);
            let pk = u32::try_from(*pk).ok().filter(|&pk| pk > 0);
            schema.insert(
                format!("column {table}.{name}"),
                describe_column(&sqlite_type(ty), not_null, pk, default.is_some()),
            );
        }

        let indexes: Vec<(String, i64, String, i64)> =
            sqlx::query_as(r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?1)"#)
                .bind(&table)
                .fetch_all(&mut c)
                .await
                .unwrap();
        for (index, unique, origin, partial) in indexes {
            let columns: Vec<(Option<String>,)> =
                sqlx::query_as("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut c)
                    .await
                    .unwrap();
            let columns: Vec<String> =
                columns.into_iter().map(|(c,)| c.unwrap_or_else(|| "(expression)".into())).collect();
            match origin.as_str() {
                // The primary key is compared column by column.
                "pk" => {}
                "u" => {
                    schema.insert(format!("unique constraint {table}({})", columns.join(", ")), "present".into());
                }
                _ => {
                    let predicate = if partial != 0 {
                        let (sql,): (String,) =
                            sqlx::query_as("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")
                                .bind(&index)
                                .fetch_one(&mut c)
                                .await
                                .unwrap();
                        Some(sqlite_index_predicate(&sql))
                    } else {
                        None
                    };
                    schema.insert(
                        format!("index {table}.{index}"),
                        describe_index(&columns, unique != 0, predicate.as_deref()),
                    );
                }
            }
        }
    }

    let triggers: Vec<(String, String)> =
        sqlx::query_as("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&mut c)
            .await
            .unwrap();
    for (table, trigger) in triggers {
        schema.insert(format!("trigger {table}.{trigger}"), "present".into());
    }
    schema
}

/// The schema, and the names of the functions in it.
async fn read_postgres(url: &str) -> (Schema, Vec<String>) {
    let mut c = PgConnection::connect(url).await.expect("the PostgreSQL test database opens");
    let (current,): (String,) = sqlx::query_as("SELECT current_schema()::text").fetch_one(&mut c).await.unwrap();
    assert!(current.starts_with("muster_t_"), "the test database's URL selects its own schema, not {current}");
    let mut schema = Schema::new();

    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let tables: BTreeSet<String> = tables.into_iter().map(|(t,)| t).collect();
    for table in &tables {
        schema.insert(format!("table {table}"), "present".into());
    }

    let primary_keys: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT t.relname::text, a.attname::text, k.ord \
         FROM pg_constraint con \
         JOIN pg_class t ON t.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE con.contype = 'p' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let primary_keys: BTreeMap<(String, String), u32> =
        primary_keys.into_iter().map(|(t, col, ord)| ((t, col), u32::try_from(ord).unwrap())).collect();

    let columns: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text = 'NO', \
                column_default IS NOT NULL \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for (table, column, ty, not_null, default) in columns {
        if tables.contains(&table) {
            let pk = primary_keys.get(&(table.clone(), column.clone())).copied();
            schema.insert(
                format!("column {table}.{column}"),
                describe_column(&postgres_type(&ty), not_null, pk, default),
            );
        }
    }

    #[derive(sqlx::FromRow)]
    struct Index {
        table: String,
        index: String,
        unique: bool,
        primary: bool,
        constraint: bool,
        columns: Vec<String>,
        predicate: Option<String>,
    }
    let indexes: Vec<Index> = sqlx::query_as(
        "SELECT t.relname::text AS table, ix.relname::text AS index, i.indisunique AS unique, \
                i.indisprimary AS primary, \
                EXISTS (SELECT 1 FROM pg_constraint con \
                        WHERE con.conindid = i.indexrelid AND con.contype = 'u') AS constraint, \
                ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) \
                      FROM generate_series(1, i.indnkeyatts::int) AS k ORDER BY k) AS columns, \
                pg_get_expr(i.indpred, i.indrelid) AS predicate \
         FROM pg_index i \
         JOIN pg_class ix ON ix.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for Index { table, index, unique, primary, constraint, columns, predicate } in indexes {
        // pg_get_indexdef quotes a column name that needs it; SQLite does not.
        let columns: Vec<String> = columns.into_iter().map(|c| c.trim_matches('"').to_string()).collect();
        if !tables.contains(&table) || primary {
            // The primary key is compared column by column.
        } else if constraint {
            schema.insert(format!("unique constraint {table}({})", columns.join(", ")), "present".into());
        } else {
            schema.insert(format!("index {table}.{index}"), describe_index(&columns, unique, predicate.as_deref()));
        }
    }

    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT t.relname::text, tg.tgname::text FROM pg_trigger tg \
         JOIN pg_class t ON t.oid = tg.tgrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE NOT tg.tgisinternal AND n.nspname = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    for (table, trigger) in triggers {
        schema.insert(format!("trigger {table}.{trigger}"), "present".into());
    }

    let functions: Vec<(String,)> = sqlx::query_as(
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    (schema, functions.into_iter().map(|(f,)| f).collect())
}

fn sqlite_type(declared: &str) -> String {
    let base = declared.split('(').next().unwrap_or_default().trim().to_uppercase();
    TYPES
        .iter()
        .find(|(_, sqlite, _)| sqlite.contains(&base.as_str()))
        .map_or_else(|| format!("unmapped SQLite type {declared:?}"), |(common, _, _)| common.to_string())
}

fn postgres_type(data_type: &str) -> String {
    TYPES
        .iter()
        .find(|(_, _, postgres)| postgres.contains(&data_type))
        .map_or_else(|| format!("unmapped PostgreSQL type {data_type:?}"), |(common, _, _)| common.to_string())
}

fn describe_column(ty: &str, not_null: bool, pk: Option<u32>, default: bool) -> String {
    let mut s = format!("{ty}, {}", if not_null { "NOT NULL" } else { "NULL" });
    if let Some(n) = pk {
        let _ = write!(s, ", primary key column {n}");
    }
    if default {
        s.push_str(", has a default");
    }
    s
}

fn describe_index(columns: &[String], unique: bool, predicate: Option<&str>) -> String {
    let mut s = format!("{}({})", if unique { "UNIQUE " } else { "" }, columns.join(", "));
    if let Some(p) = predicate {
        let _ = write!(s, " WHERE {}", normalize_predicate(p));
    }
    s
}

/// What follows `WHERE` in a SQLite `CREATE INDEX` statement.
fn sqlite_index_predicate(sql: &str) -> String {
    let lower = sql.to_lowercase();
    let at = lower
        .match_indices("where")
        .map(|(i, _)| i)
        .find(|&i| {
            let before = lower[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric() && c != '_');
            let after = lower[i + 5..].chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_');
            before && after
        })
        .expect("a partial index has a WHERE");
    sql[at + 5..].trim().trim_end_matches(';').to_string()
}

/// A partial index predicate in a form where SQLite's text as written and
/// PostgreSQL's `pg_get_expr` deparse compare equal: lower case, casts
/// (`::text`) dropped, `!=` spelled `<>`, `IN ('a')` spelled `= 'a'`,
/// `= ANY (ARRAY[…])` spelled `IN (…)`, and every parenthesis and space
/// removed.
///
/// This is a heuristic, not a parser. Dropping parentheses forgets grouping,
/// so two predicates that differ only in how `AND` and `OR` nest compare
/// equal; the common drift (a predicate changed or missing on one side)
/// does not.
fn normalize_predicate(predicate: &str) -> String {
    let mut s = predicate.to_lowercase().replace("!=", "<>");
    for multiword in ["character varying", "double precision", "timestamp with time zone"] {
        s = s.replace(&format!("::{multiword}"), "");
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("::") {
        out.push_str(&rest[..i]);
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_alphanumeric() || c == '_' || c == '[' || c == ']');
    }
    out.push_str(rest);
    // PostgreSQL keeps `x IN ('a')`, one value, as `x = 'a'`.
    let mut rest = out.as_str();
    let mut single = String::new();
    while let Some(i) = rest.find(" in (") {
        let list = &rest[i + " in (".len()..];
        match list.find(')') {
            Some(j) if !list[..j].contains(',') => {
                single.push_str(&rest[..i]);
                single.push_str(" = ");
                single.push_str(&list[..j]);
                rest = &list[j + 1..];
            }
            _ => {
                single.push_str(&rest[..i + " in (".len()]);
                rest = list;
            }
        }
    }
    single.push_str(rest);
    let compact: String = single.chars().filter(|c| !c.is_whitespace()).collect();
    // `x=any(array['a','b'])` is how PostgreSQL writes `x IN ('a', 'b')`.
    let mut s = String::new();
    let mut rest = compact.as_str();
    while let Some(i) = rest.find("=any(array[") {
        s.push_str(&rest[..i]);
        s.push_str("in(");
        rest = &rest[i + "=any(array[".len()..];
        match rest.find("])") {
            Some(j) => {
                s.push_str(&rest[..j]);
                s.push(')');
                rest = &rest[j + 2..];
            }
            None => break,
        }
    }
    s.push_str(rest);
    s.chars().filter(|&c| c != '(' && c != ')').collect()
}
