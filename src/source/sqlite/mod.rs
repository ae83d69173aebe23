//! SQLite as a source: the development database of a Prisma or Django application on
//! its way to PostgreSQL. The file is opened read-only (never created, never written)
//! with the bundled SQLite library, and one read transaction is the snapshot: `BEGIN`,
//! then a first read, after which a WAL-mode database keeps showing this connection the
//! same state while the application goes on writing. The catalog, the pass that looks
//! at what each column really holds, and every data read happen inside it, through
//! this one connection; tables are read whole, in rowid (or primary-key) order.
//!
//! - `catalog`: `sqlite_schema` and the pragmas into the dump's schema;
//! - `analyze`: the storage classes each column holds, and the encodings they allow;
//! - `values`: SQLite values in the dump's text forms.

mod analyze;
mod catalog;
mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::dump::encoding::Encoding;
use crate::dump::manifest::{self, Snapshot};
use crate::dump::schema::{Column, Table};
use crate::error::{Error, Result, ResultExt};
use crate::source::{Catalog, ColumnCast, KeyRange, Reader, Row, Source, SourceTable, whole_only};
use catalog::TableMeta;

/// `"name"`, quoted for SQLite.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl<T> ResultExt<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| Error::Database {
            context: context(),
            message: describe(&error),
        })
    }
}

/// SQLite's own message (`file is not a database`), not the driver's wrapping.
fn describe(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(m)) => {
            format!("{m} (SQLite error {})", f.extended_code)
        }
        rusqlite::Error::SqliteFailure(f, None) => {
            format!("{f} (SQLite error {})", f.extended_code)
        }
        other => other.to_string(),
    }
}

/// A SQLite database file inside its read transaction, before the export reads it.
pub(crate) struct SqliteSource {
    path: PathBuf,
    conn: Connection,
    journal_mode: String,
    casts: Vec<ColumnCast>,
    meta: HashMap<String, TableMeta>,
    notes: Vec<String>,
}

impl SqliteSource {
    pub fn open(path: &Path, casts: &[ColumnCast]) -> Result<Self> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::config(format!(
                    "SQLite database {} does not exist",
                    path.display()
                )));
            }
            Err(e) => return Err(Error::io(path, e)),
            Ok(m) if !m.is_file() => {
                return Err(Error::config(format!(
                    "{} is not a file (expected a SQLite database file)",
                    path.display()
                )));
            }
            Ok(_) => {}
        }
        let what = || format!("opening SQLite database {}", path.display());
        // Read-only: the export never creates or changes the file.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(what)?;
        // Wait for a writer's lock rather than fail (rollback-journal databases).
        conn.busy_timeout(Duration::from_secs(60)).ctx(what)?;
        // The file is not ours: its views and generated columns may only call
        // functions that have no side effects.
        conn.execute_batch("PRAGMA trusted_schema = OFF")
            .ctx(what)?;
        conn.execute_batch("BEGIN").ctx(what)?;
        // The first read starts the snapshot every later read sees.
        let _: i64 = conn
            .query_row("SELECT count(*) FROM main.sqlite_schema", [], |r| r.get(0))
            .ctx(what)?;
        let journal_mode: String = conn
            .query_row("PRAGMA main.journal_mode", [], |r| r.get(0))
            .ctx(what)?;
        Ok(SqliteSource {
            path: path.to_path_buf(),
            conn,
            journal_mode,
            casts: casts.to_vec(),
            meta: HashMap::new(),
            notes: Vec::new(),
        })
    }
}

impl Source for SqliteSource {
    fn describe(&self) -> manifest::Source {
        manifest::Source {
            engine: "sqlite".into(),
            server_version: rusqlite::version().to_string(),
            host: String::new(),
            port: 0,
            database: self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sqlite".into()),
            user: String::new(),
            // SQLite hands every text over as UTF-8, whatever the file's encoding.
            charset: "UTF-8".into(),
            // Dates are written as UTC: SQLite's own clock and Unix times are UTC.
            time_zone: "+00:00".into(),
            tls_cipher: None,
            path: Some(self.path.display().to_string()),
            journal_mode: Some(self.journal_mode.clone()),
            server_id: None,
            server_uuid: None,
            input_format: None,
        }
    }

    fn catalog(&mut self) -> Result<Catalog> {
        let read = catalog::read(&self.conn, &self.casts)?;
        self.meta = read.meta;
        self.notes.extend(read.notes);
        Ok(read.catalog)
    }

    fn splits_tables(&self) -> bool {
        false
    }

    fn snapshot(
        mut self: Box<Self>,
        _jobs: usize,
        tables: &mut [SourceTable],
    ) -> Result<(Vec<Box<dyn Reader>>, Snapshot)> {
        let mut problems = Vec::new();
        for t in tables.iter_mut() {
            let meta = self.meta.get(&t.schema.name).ok_or_else(|| {
                Error::config(format!("table `{}` is not in the catalog", t.schema.name))
            })?;
            analyze::analyze(&self.conn, t, meta, &mut problems, &mut self.notes)?;
        }
        if !problems.is_empty() {
            return Err(Error::MixedColumns(problems));
        }
        let SqliteSource {
            conn, meta, notes, ..
        } = *self;
        let reader = SqliteReader {
            conn,
            rowids: meta.into_iter().map(|(t, m)| (t, m.rowid)).collect(),
        };
        Ok((
            vec![Box::new(reader)],
            Snapshot {
                consistent: true,
                method: "sqlite_read_transaction".into(),
                notes,
                ..Snapshot::default()
            },
        ))
    }
}

/// The connection, still inside the read transaction.
struct SqliteReader {
    conn: Connection,
    rowids: HashMap<String, Option<String>>,
}

/// How a column's stored values become its encoding's text.
#[derive(Clone, Copy)]
enum Conv {
    /// Text as is; numbers as text; a blob's bytes (UTF-8, checked by the encoder).
    Text,
    /// Raw bytes for the `\x` encoder; numbers and text as their text's bytes.
    Bytes,
    Integer,
    /// Numbers only (reals, integers, decimals of JSON).
    Number,
    /// Numbers, or text holding a decimal literal.
    Decimal,
    /// ISO text, or numbers counting `ms` milliseconds since 1970.
    Datetime(Option<i64>),
    /// Text as it is stored (checked by the analysis).
    Verbatim,
}

fn conv_for(c: &Column) -> Conv {
    match c.encoding {
        Encoding::ByteaHex => Conv::Bytes,
        Encoding::Integer | Encoding::BooleanInt => Conv::Integer,
        Encoding::Double => Conv::Number,
        Encoding::Decimal | Encoding::JsonText => Conv::Decimal,
        Encoding::Datetime => Conv::Datetime(c.representation.and_then(|r| r.number_unit_ms())),
        Encoding::Date | Encoding::TimeText => Conv::Verbatim,
        _ => Conv::Text,
    }
}

/// Writes `v` as `conv` asks; `false` when it cannot.
fn convert(conv: Conv, v: ValueRef, out: &mut Vec<u8>) -> bool {
    use ValueRef as V;
    match (conv, v) {
        (
            Conv::Integer | Conv::Number | Conv::Decimal | Conv::Text | Conv::Bytes,
            V::Integer(i),
        ) => values::write_int(i, out),
        (Conv::Number | Conv::Decimal | Conv::Text | Conv::Bytes, V::Real(f)) => {
            values::write_real(f, out)
        }
        (Conv::Text | Conv::Bytes | Conv::Verbatim | Conv::Decimal, V::Text(t))
        | (Conv::Text | Conv::Bytes, V::Blob(t)) => out.extend_from_slice(t),
        (Conv::Datetime(_), V::Text(t)) => return values::write_iso(t, out),
        (Conv::Datetime(Some(ms)), V::Integer(i)) => return values::write_unix_int(i, ms, out),
        (Conv::Datetime(Some(ms)), V::Real(f)) => return values::write_unix_real(f, ms, out),
        _ => return false,
    }
    true
}

/// A row's cells, converted into one reused buffer.
struct ArenaRow {
    buf: Vec<u8>,
    cells: Vec<Option<(usize, usize)>>,
}

impl Row for ArenaRow {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        self.cells[i].map(|(a, b)| &self.buf[a..b])
    }
}

impl Reader for SqliteReader {
    fn read(
        &mut self,
        table: &Table,
        range: Option<&KeyRange>,
        what: &str,
        on_row: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        whole_only(range, what, "SQLite tables")?;
        let convs: Vec<Conv> = table.columns.iter().map(conv_for).collect();
        let order = match self.rowids.get(&table.name).cloned().flatten() {
            Some(r) => format!(" ORDER BY {r}"),
            None if !table.primary_key.is_empty() => {
                let k: Vec<String> = table.primary_key.iter().map(|c| quote_ident(c)).collect();
                format!(" ORDER BY {}", k.join(", "))
            }
            None => String::new(),
        };
        let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let sql = format!(
            "SELECT {} FROM main.{}{order}",
            cols.join(", "),
            quote_ident(&table.name)
        );
        let mut stmt = self.conn.prepare(&sql).ctx(|| format!("reading {what}"))?;
        let mut rows = stmt.query([]).ctx(|| format!("reading {what}"))?;
        let mut arena = ArenaRow {
            buf: Vec::with_capacity(1 << 16),
            cells: Vec::with_capacity(convs.len()),
        };
        let mut n: u64 = 0;
        while let Some(row) = rows
            .next()
            .ctx(|| format!("reading {what} after {n} rows"))?
        {
            arena.buf.clear();
            arena.cells.clear();
            for (i, conv) in convs.iter().enumerate() {
                let v = row
                    .get_ref(i)
                    .ctx(|| format!("reading {what} after {n} rows"))?;
                if matches!(v, ValueRef::Null) {
                    arena.cells.push(None);
                    continue;
                }
                let start = arena.buf.len();
                if !convert(*conv, v, &mut arena.buf) {
                    return Err(Error::Data {
                        table: table.name.clone(),
                        column: table.columns[i].name.clone(),
                        key: format!("row number {}", n + 1),
                        problem: format!(
                            "a {} value cannot be written as {}",
                            v.data_type(),
                            serde_json::to_string(&table.columns[i].encoding)
                                .unwrap_or_default()
                                .trim_matches('"')
                        ),
                    });
                }
                arena.cells.push(Some((start, arena.buf.len())));
            }
            on_row(&arena)?;
            n += 1;
        }
        Ok(())
    }
}
