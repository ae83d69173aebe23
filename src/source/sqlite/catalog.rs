//! The SQLite catalog, read from `sqlite_schema` and the pragmas (`table_list`,
//! `table_xinfo`, `index_list`, `index_xinfo`, `foreign_key_list`) into the dump's schema
//! vocabulary. SQLite keeps less than MySQL's information_schema, so some facts come
//! from the CREATE statements themselves: AUTOINCREMENT, and the WHERE of a partial
//! index. Foreign keys and UNIQUE constraints have no names in SQLite; they get the
//! names PostgreSQL (and Prisma) would give them (`<table>_<columns>_fkey` / `_key`).
//!
//! The encodings chosen here are provisional: SQLite stores any value in any column, so
//! `analyze` decides them from the data, inside the same read transaction.

use std::collections::HashMap;

use rusqlite::Connection;

use super::analyze::{ColumnPlan, Kind};
use super::{ResultExt, quote_ident};
use crate::dump::encoding::Encoding;
use crate::dump::schema::{
    Column, ColumnDefault, ForeignKey, Generated, Index, IndexColumn, Table, View,
};
use crate::error::{Error, Result};
use crate::source::{Catalog, ColumnCast, Skipped, SourceTable};

/// What the reader needs to know about a table beyond its schema.
#[derive(Clone, Debug)]
pub(super) struct TableMeta {
    /// The SQL that selects the rowid (the INTEGER PRIMARY KEY column, or `rowid`, or
    /// `_rowid_`/`oid` when a column is called `rowid`); `None` for a WITHOUT ROWID
    /// table (or one whose columns shadow every rowid name).
    pub rowid: Option<String>,
    /// How each column's values are to be read, in column order.
    pub plans: Vec<ColumnPlan>,
}

/// Table names SQLite reserves for its own schema; never reported.
const SCHEMA_TABLES: &[&str] = &[
    "sqlite_schema",
    "sqlite_master",
    "sqlite_temp_schema",
    "sqlite_temp_master",
];

/// Application tables skipped unless asked for, and why.
fn internal(name: &str) -> Option<&'static str> {
    match name {
        "_prisma_migrations" => Some("is Prisma's migration history"),
        _ => None,
    }
}

/// Blanks out quoted text ('...', "...", `...`, [...]) byte for byte, so keywords can be
/// searched for in a CREATE statement without matching names or strings.
fn blank_quoted(sql: &str) -> Vec<u8> {
    let mut out = sql.as_bytes().to_vec();
    let mut close: Option<u8> = None;
    let mut i = 0;
    while i < out.len() {
        let b = out[i];
        match close {
            Some(c) if b == c => {
                // A doubled quote is an escaped one, still inside.
                if c != b']' && out.get(i + 1) == Some(&c) {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    i += 1;
                } else {
                    close = None;
                }
            }
            Some(_) => out[i] = b' ',
            None => match b {
                b'\'' | b'"' | b'`' => close = Some(b),
                b'[' => close = Some(b']'),
                _ => {}
            },
        }
        i += 1;
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Byte offsets of `word` (upper case) in `blanked` at parenthesis depth `depth`.
fn find_word(blanked: &[u8], word: &str, depth: Option<usize>) -> Vec<usize> {
    let w = word.as_bytes();
    let mut level = 0usize;
    let mut found = Vec::new();
    for i in 0..blanked.len() {
        match blanked[i] {
            b'(' => level += 1,
            b')' => level = level.saturating_sub(1),
            _ => {}
        }
        if depth.is_some_and(|d| d != level) {
            continue;
        }
        if blanked.len() - i >= w.len()
            && blanked[i..i + w.len()].eq_ignore_ascii_case(w)
            && (i == 0 || !is_word_byte(blanked[i - 1]))
            && blanked.get(i + w.len()).is_none_or(|&b| !is_word_byte(b))
        {
            found.push(i);
        }
    }
    found
}

/// Whether a CREATE TABLE statement uses AUTOINCREMENT.
fn has_autoincrement(sql: &str) -> bool {
    !find_word(&blank_quoted(sql), "AUTOINCREMENT", None).is_empty()
}

/// The condition of a partial index: what follows WHERE in its CREATE INDEX.
pub(super) fn index_predicate(sql: &str) -> Option<String> {
    let at = *find_word(&blank_quoted(sql), "WHERE", Some(0)).last()?;
    let p = sql[at + 5..].trim().trim_end_matches(';').trim();
    (!p.is_empty()).then(|| p.to_string())
}

/// A declared type split into its base name (lower case) and its numeric arguments:
/// `NVARCHAR(160)` is ("nvarchar", [160]), `NUMERIC(10,2)` ("numeric", [10, 2]).
fn split_type(declared: &str) -> (String, Vec<u64>) {
    let (base, args) = match declared.find('(') {
        Some(i) => (&declared[..i], &declared[i + 1..]),
        None => (declared, ""),
    };
    let args = args
        .trim_end()
        .trim_end_matches(')')
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    (
        base.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase(),
        args,
    )
}

/// A column default as `table_xinfo` reports it (the SQL text of the DEFAULT clause).
pub(super) fn parse_default(raw: &str) -> ColumnDefault {
    let t = raw.trim();
    let quoted = |q: char| t.len() >= 2 && t.starts_with(q) && t.ends_with(q);
    if t.eq_ignore_ascii_case("null") {
        ColumnDefault::Null
    } else if quoted('\'') || quoted('"') {
        let q = &t[..1];
        ColumnDefault::Literal(t[1..t.len() - 1].replace(&format!("{q}{q}"), q))
    } else if t.eq_ignore_ascii_case("true") {
        ColumnDefault::Literal("1".into())
    } else if t.eq_ignore_ascii_case("false") {
        ColumnDefault::Literal("0".into())
    } else if super::values::is_decimal(t.as_bytes()) {
        ColumnDefault::Literal(t.trim_start_matches('+').to_string())
    } else {
        let mut e = t;
        // `DEFAULT (expr)`: the parentheses are SQLite syntax, not the expression.
        while e.starts_with('(') && e.ends_with(')') && balanced(&e[1..e.len() - 1]) {
            e = e[1..e.len() - 1].trim();
        }
        ColumnDefault::Expression(e.to_string())
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for b in blank_quoted(s) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

struct RawColumn {
    name: String,
    declared: String,
    notnull: bool,
    default: Option<String>,
    pk: i64,
    hidden: i64,
}

pub(super) struct Read {
    pub catalog: Catalog,
    pub meta: HashMap<String, TableMeta>,
    pub notes: Vec<String>,
}

/// Runs a catalog query and collects its rows; `what` names it in errors.
fn query<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: &dyn Fn() -> String,
    row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(sql).ctx(what)?;
    let rows = stmt.query_map(params, row).ctx(what)?;
    rows.map(|r| r.ctx(what)).collect()
}

/// Reads the catalog of the `main` database.
pub(super) fn read(conn: &Connection, casts: &[ColumnCast]) -> Result<Read> {
    let objects: Vec<(String, String)> = query(
        conn,
        "SELECT name, type FROM pragma_table_list WHERE schema = 'main' ORDER BY name",
        [],
        &|| "reading the table list".into(),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut sql_of: HashMap<(String, String), String> = HashMap::new();
    let mut triggers = Vec::new();
    for (kind, name, sql) in query::<(String, String, String)>(
        conn,
        "SELECT type, name, sql FROM main.sqlite_schema WHERE sql IS NOT NULL",
        [],
        &|| "reading sqlite_schema".into(),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )? {
        if kind == "trigger" {
            triggers.push(name.clone());
        }
        sql_of.insert((kind, name), sql);
    }
    let sequences = read_sequences(conn)?;

    let mut tables: Vec<SourceTable> = Vec::new();
    let mut meta = HashMap::new();
    let mut views = Vec::new();
    let mut skipped = Vec::new();
    for (name, kind) in objects {
        let lower = name.to_ascii_lowercase();
        if SCHEMA_TABLES.contains(&lower.as_str()) {
            continue;
        }
        let why = match kind.as_str() {
            "view" => {
                let definition = sql_of
                    .get(&("view".into(), name.clone()))
                    .cloned()
                    .unwrap_or_default();
                views.push(View { name, definition });
                continue;
            }
            "virtual" => Some("is a virtual table"),
            "shadow" => Some("is the shadow table of a virtual table"),
            _ if lower == "sqlite_sequence" => {
                Some("is SQLite's AUTOINCREMENT counter (kept as each table's auto_increment)")
            }
            _ if lower.starts_with("sqlite_") => Some("is SQLite's own bookkeeping"),
            _ => None,
        };
        if let Some(why) = why {
            skipped.push(Skipped {
                name,
                why: why.into(),
            });
            continue;
        }
        let create = sql_of
            .get(&("table".into(), name.clone()))
            .cloned()
            .unwrap_or_default();
        let (table, m) = read_table(conn, &name, &create, &sequences, casts)?;
        meta.insert(name.clone(), m);
        tables.push(SourceTable {
            internal: internal(&name).map(str::to_string),
            schema: table,
            estimated_rows: 0,
            data_length: 0,
            // SQLite hands text over as UTF-8 whatever the column says.
            charset_checked: Vec::new(),
        });
    }
    resolve_foreign_keys(&mut tables);
    read_indexes(conn, &mut tables, &sql_of)?;
    for c in casts {
        let found = tables
            .iter()
            .find(|t| t.schema.name == c.table)
            .map(|t| t.schema.column(&c.column).is_some());
        match found {
            Some(true) => {}
            Some(false) => {
                return Err(Error::config(format!(
                    "--cast {c}: table `{}` has no column `{}`",
                    c.table, c.column
                )));
            }
            None => {
                return Err(Error::config(format!(
                    "--cast {c}: there is no table `{}` in the database",
                    c.table
                )));
            }
        }
    }
    let mut notes = Vec::new();
    if !triggers.is_empty() {
        notes.push(format!(
            "triggers are not exported (their SQLite SQL is not translated): {}",
            triggers.join(", ")
        ));
    }
    Ok(Read {
        catalog: Catalog {
            tables,
            views,
            skipped,
        },
        meta,
        notes,
    })
}

/// `sqlite_sequence`: the last value AUTOINCREMENT handed out, per table.
fn read_sequences(conn: &Connection) -> Result<HashMap<String, i64>> {
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM main.sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'",
            [],
            |r| r.get(0),
        )
        .ctx(|| "reading sqlite_schema".into())?;
    if !exists {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, Option<i64>)> = query(
        conn,
        "SELECT name, seq FROM main.sqlite_sequence",
        [],
        &|| "reading sqlite_sequence".into(),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, seq)| Some((name?, seq?)))
        .collect())
}

fn read_table(
    conn: &Connection,
    name: &str,
    create: &str,
    sequences: &HashMap<String, i64>,
    casts: &[ColumnCast],
) -> Result<(Table, TableMeta)> {
    let ctx = || format!("reading the columns of table `{name}`");
    let without_rowid: bool = conn
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .ctx(ctx)?;
    let mut raw = query(
        conn,
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
         FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
        [name],
        &ctx,
        |r| {
            Ok(RawColumn {
                name: r.get(0)?,
                declared: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                notnull: r.get(2)?,
                default: r.get(3)?,
                pk: r.get(4)?,
                hidden: r.get(5)?,
            })
        },
    )?;
    // 1: a virtual table's hidden column (virtual tables are skipped anyway).
    raw.retain(|c| c.hidden != 1);
    if raw.is_empty() {
        return Err(Error::config(format!(
            "table `{name}`: SQLite lists no columns"
        )));
    }
    let mut pk: Vec<&RawColumn> = raw.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    let has_pk_index: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM pragma_index_list(?1, 'main') WHERE origin = 'pk'",
            [name],
            |r| r.get(0),
        )
        .ctx(ctx)?;
    // INTEGER PRIMARY KEY makes the column the rowid itself (no index of its own).
    let rowid_alias = (!without_rowid
        && pk.len() == 1
        && pk[0].declared.eq_ignore_ascii_case("integer")
        && !has_pk_index)
        .then(|| pk[0].name.clone());
    let rowid = match &rowid_alias {
        _ if without_rowid => None,
        Some(alias) => Some(quote_ident(alias)),
        None => ["rowid", "_rowid_", "oid"]
            .into_iter()
            .find(|r| !raw.iter().any(|c| c.name.eq_ignore_ascii_case(r)))
            .map(str::to_string),
    };
    let autoincrement = rowid_alias.is_some() && has_autoincrement(create);

    let mut columns = Vec::new();
    let mut plans = Vec::new();
    for c in &raw {
        let (data_type, args) = split_type(&c.declared);
        let declared_kind = Kind::from_declared(&c.declared);
        let cast = casts
            .iter()
            .find(|k| k.table == name && k.column == c.name)
            .map(|k| {
                Kind::from_cast(&k.kind).ok_or_else(|| {
                    Error::config(format!(
                        "--cast {k}: unknown kind `{}` (expected one of {})",
                        k.kind,
                        Kind::CAST_NAMES.join(", ")
                    ))
                })
            })
            .transpose()?;
        let is_alias = rowid_alias.as_deref() == Some(c.name.as_str());
        let (max_length, precision, scale) = match declared_kind {
            Kind::Decimal => (
                None,
                args.first().copied(),
                args.get(1).copied().or(args.first().map(|_| 0)),
            ),
            Kind::Text => (args.first().copied(), None, None),
            _ => (None, None, None),
        };
        plans.push(ColumnPlan {
            kind: cast.map(|(k, _)| k).unwrap_or(declared_kind),
            cast: cast.is_some(),
            unit_ms: cast.and_then(|(_, u)| u),
            max_length,
            precision_scale: precision.zip(scale),
        });
        columns.push(Column {
            name: c.name.clone(),
            column_type: c.declared.clone(),
            data_type,
            nullable: !c.notnull && !is_alias,
            encoding: Encoding::Text,
            default: c.default.as_deref().map(parse_default),
            auto_increment: is_alias,
            unsigned: false,
            on_update: None,
            generated: matches!(c.hidden, 2 | 3).then(|| Generated {
                expression: String::new(),
                stored: c.hidden == 3,
            }),
            max_length,
            precision,
            scale,
            datetime_precision: None,
            charset: None,
            collation: None,
            values: Vec::new(),
            comment: String::new(),
            stats: Default::default(),
            representation: None,
            storage_classes: None,
            values_beyond_declared: 0,
        });
    }
    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    let mut last_id = None;
    let fk_rows: Vec<(i64, String, String, Option<String>, String, String)> = query(
        conn,
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
         FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq",
        [name],
        &|| format!("reading the foreign keys of table `{name}`"),
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    for (id, parent, from, to, on_update, on_delete) in fk_rows {
        // One row per column; a key's rows share its id.
        if last_id == Some(id)
            && let Some(fk) = foreign_keys.last_mut()
        {
            fk.columns.push(from);
            fk.referenced_columns.extend(to);
            continue;
        }
        last_id = Some(id);
        foreign_keys.push(ForeignKey {
            name: String::new(),
            columns: vec![from],
            referenced_schema: None,
            referenced_table: parent,
            referenced_columns: to.into_iter().collect(),
            on_update,
            on_delete,
        });
    }
    for fk in &mut foreign_keys {
        fk.name = format!("{name}_{}_fkey", fk.columns.join("_"));
    }
    let table = Table {
        name: name.to_string(),
        engine: Some(
            if without_rowid {
                "without_rowid"
            } else {
                "rowid"
            }
            .into(),
        ),
        comment: String::new(),
        primary_key: pk.iter().map(|c| c.name.clone()).collect(),
        auto_increment: sequences
            .get(name)
            .filter(|_| autoincrement)
            .map(|&s| u64::try_from(s).unwrap_or(0).saturating_add(1)),
        indexes: Vec::new(),
        foreign_keys,
        checks: Vec::new(),
        columns,
        collection: None,
    };
    Ok((table, TableMeta { rowid, plans }))
}

/// SQLite resolves names without regard to case and lets `REFERENCES parent` name no
/// columns (the parent's primary key). The dump spells every reference exactly.
fn resolve_foreign_keys(tables: &mut [SourceTable]) {
    let keys: Vec<(String, Vec<String>, Vec<String>)> = tables
        .iter()
        .map(|t| {
            (
                t.schema.name.clone(),
                t.schema.primary_key.clone(),
                t.schema.columns.iter().map(|c| c.name.clone()).collect(),
            )
        })
        .collect();
    for t in tables.iter_mut() {
        for fk in &mut t.schema.foreign_keys {
            let Some((parent, pk, cols)) = keys
                .iter()
                .find(|(n, _, _)| *n == fk.referenced_table)
                .or_else(|| {
                    keys.iter()
                        .find(|(n, _, _)| n.eq_ignore_ascii_case(&fk.referenced_table))
                })
            else {
                continue;
            };
            fk.referenced_table = parent.clone();
            if fk.referenced_columns.is_empty() {
                fk.referenced_columns = pk.clone();
            }
            for rc in &mut fk.referenced_columns {
                if let Some(exact) = cols.iter().find(|c| c.eq_ignore_ascii_case(rc)) {
                    *rc = exact.clone();
                }
            }
        }
        let own: Vec<String> = t.schema.columns.iter().map(|c| c.name.clone()).collect();
        for fk in &mut t.schema.foreign_keys {
            for c in &mut fk.columns {
                if let Some(exact) = own.iter().find(|o| o.eq_ignore_ascii_case(c)) {
                    *c = exact.clone();
                }
            }
        }
    }
}

fn read_indexes(
    conn: &Connection,
    tables: &mut [SourceTable],
    sql_of: &HashMap<(String, String), String>,
) -> Result<()> {
    for t in tables.iter_mut() {
        let name = t.schema.name.clone();
        let ctx = || format!("reading the indexes of table `{name}`");
        let list: Vec<(String, bool, String, bool)> = query(
            conn,
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main') \
             ORDER BY name",
            [&name],
            &ctx,
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        for (index, unique, origin, partial) in list {
            if origin == "pk" {
                continue;
            }
            let columns = query(
                conn,
                "SELECT cid, name, \"desc\" FROM pragma_index_xinfo(?1, 'main') \
                 WHERE key ORDER BY seqno",
                [&index],
                &ctx,
                |r| {
                    let cid: i64 = r.get(0)?;
                    Ok(IndexColumn {
                        // -2: an expression, -1: the rowid; neither is a column.
                        name: r.get::<_, Option<String>>(1)?.filter(|_| cid >= 0),
                        prefix: None,
                        descending: r.get(2)?,
                        expression: None,
                    })
                },
            )?;
            let index_name = if origin == "u" {
                // `UNIQUE (...)` in CREATE TABLE: SQLite names it sqlite_autoindex_*.
                let cols: Vec<&str> = columns
                    .iter()
                    .map(|c| c.name.as_deref().unwrap_or("expr"))
                    .collect();
                format!("{name}_{}_key", cols.join("_"))
            } else {
                index.clone()
            };
            let predicate = if partial {
                sql_of
                    .get(&("index".into(), index.clone()))
                    .and_then(|sql| index_predicate(sql))
            } else {
                None
            };
            t.schema.indexes.push(Index {
                name: index_name,
                unique,
                kind: "BTREE".into(),
                columns,
                comment: String::new(),
                predicate,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        use ColumnDefault::*;
        assert_eq!(parse_default("NULL"), Null);
        assert_eq!(parse_default("'it''s'"), Literal("it's".into()));
        assert_eq!(parse_default("0"), Literal("0".into()));
        assert_eq!(parse_default("-1.5"), Literal("-1.5".into()));
        assert_eq!(parse_default("false"), Literal("0".into()));
        assert_eq!(parse_default("TRUE"), Literal("1".into()));
        assert_eq!(
            parse_default("CURRENT_TIMESTAMP"),
            Expression("CURRENT_TIMESTAMP".into())
        );
        assert_eq!(
            parse_default("(datetime('now'))"),
            Expression("datetime('now')".into())
        );
        assert_eq!(parse_default("(1) + (2)"), Expression("(1) + (2)".into()));
    }

    #[test]
    fn statements() {
        assert!(has_autoincrement(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, x)"
        ));
        assert!(!has_autoincrement(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, \"AUTOINCREMENT\" text DEFAULT 'autoincrement')"
        ));
        assert_eq!(
            index_predicate(
                "CREATE UNIQUE INDEX \"u\" ON \"t\" (\"email\") WHERE \"deletedAt\" IS NULL"
            )
            .as_deref(),
            Some("\"deletedAt\" IS NULL")
        );
        assert_eq!(
            index_predicate("CREATE INDEX [where] ON t ((a WHERE)) where b = 'x where y';")
                .as_deref(),
            Some("b = 'x where y'")
        );
        assert_eq!(index_predicate("CREATE INDEX i ON t (a)"), None);
        assert_eq!(
            split_type("NUMERIC(10, 2)"),
            ("numeric".into(), vec![10, 2])
        );
        assert_eq!(
            split_type("integer  unsigned"),
            ("integer unsigned".into(), vec![])
        );
    }
}
