//! The source seam: what the export engine needs from a database it reads, and nothing
//! more. A source
//! - describes itself for the manifest (engine, version, where it is, never a password);
//! - reads its catalog into the dump's schema vocabulary (`dump::schema`), choosing each
//!   column's `Encoding`;
//! - opens a snapshot: one or more readers that all see the same point in time;
//! - and, through each reader, splits a table into primary-key ranges and streams a
//!   range's rows in key order, each cell as bytes in the text form its column's
//!   encoding expects (see `dump::encoding::Encoding`), or `None` for NULL.
//!
//! For catch-up (`waybill-export --since`) a source may also open its change log
//! (`ChangeLog`): the committed row changes after a base dump's snapshot, in commit
//! order, each row image in the same text forms a snapshot read gives, so the dump's
//! cell writers apply to them unchanged. Only MySQL/MariaDB (the binary log) has one.
//!
//! Everything driver-specific (SQL dialect, session set-up, type names) stays in the
//! source's own folder; the engine in `export` never names a driver. Adding a source
//! means a folder here, a `SourceSpec` variant, and its type rules in `target::typemap`.

mod mongo;
pub mod mysql;
mod sqlite;

use std::fmt;
use std::path::PathBuf;

use crate::dburl::DbUrl;
use crate::dump::encoding::Encoding;
use crate::dump::manifest::{self, KeyRangeInfo, LogPosition, Manifest, Snapshot};
use crate::dump::schema::{Table, View};
use crate::error::{Error, Result};

/// Which database an export reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    MySql(DbUrl),
    /// A SQLite database file (an absolute path).
    Sqlite(PathBuf),
    /// A directory of MongoDB tool output (an absolute path): one database's mongodump
    /// directory, or a directory of mongoexport files.
    Mongo(MongoFormat, PathBuf),
}

/// Which MongoDB tool wrote the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MongoFormat {
    /// `<collection>.bson[.gz]` and `<collection>.metadata.json[.gz]`.
    Mongodump,
    /// `<collection>.json`: Extended JSON v2, one document per line or `--jsonArray`.
    Mongoexport,
}

impl MongoFormat {
    /// The tool's name, which is also the URL scheme.
    pub fn tool(self) -> &'static str {
        match self {
            MongoFormat::Mongodump => "mongodump",
            MongoFormat::Mongoexport => "mongoexport",
        }
    }
}

/// `--flatten`: which MongoDB collections get one column per top-level field instead
/// of `_id` + `doc`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Flatten {
    #[default]
    Off,
    All,
    Collections(Vec<String>),
}

impl Flatten {
    pub fn applies(&self, collection: &str) -> bool {
        match self {
            Flatten::Off => false,
            Flatten::All => true,
            Flatten::Collections(names) => names.iter().any(|n| n == collection),
        }
    }
}

impl SourceSpec {
    /// Recognises a SQLite source: `sqlite://PATH` (`sqlite:///abs/app.db`), `sqlite:PATH`,
    /// or a bare path ending in `.db`, `.sqlite` or `.sqlite3`. `None` for anything else
    /// (a MySQL URL). Relative paths are made absolute here, against the working directory.
    pub fn sqlite(text: &str, what: &str) -> Result<Option<SourceSpec>> {
        let t = text.trim();
        let path = match t.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("sqlite:") => {
                let rest = &t[7..];
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                if rest.is_empty() {
                    return Err(Error::config(format!(
                        "{what}: the sqlite: URL names no file (expected sqlite:///path/to/app.db)"
                    )));
                }
                rest
            }
            _ => {
                let lower = t.to_ascii_lowercase();
                let is_file = !t.contains("://")
                    && [".db", ".sqlite", ".sqlite3"]
                        .iter()
                        .any(|ext| lower.ends_with(ext));
                if !is_file {
                    return Ok(None);
                }
                t
            }
        };
        let path = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
        Ok(Some(SourceSpec::Sqlite(path)))
    }

    /// Recognises a MongoDB source: `mongodump://PATH` (`mongodump:///abs/dump/shop`),
    /// `mongodump:PATH`, and the same with `mongoexport`. `None` for anything else.
    /// Relative paths are made absolute here, against the working directory.
    pub fn mongo(text: &str, what: &str) -> Result<Option<SourceSpec>> {
        let t = text.trim();
        for format in [MongoFormat::Mongodump, MongoFormat::Mongoexport] {
            let scheme = format.tool();
            let Some(head) = t.get(..scheme.len() + 1) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(&format!("{scheme}:")) {
                continue;
            }
            let rest = &t[scheme.len() + 1..];
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            if rest.is_empty() {
                return Err(Error::config(format!(
                    "{what}: the {scheme}: URL names no directory (expected {scheme}:///path/to/{})",
                    match format {
                        MongoFormat::Mongodump => "dump/<database>",
                        MongoFormat::Mongoexport => "dir",
                    }
                )));
            }
            let path = std::path::absolute(rest).map_err(|e| Error::io(rest, e))?;
            return Ok(Some(SourceSpec::Mongo(format, path)));
        }
        Ok(None)
    }

    /// How messages and the audit trail name the source, never with a password:
    /// `user@host:port/db`, `sqlite:/abs/path/app.db`, or `mongodump:/abs/dump/shop`.
    pub fn redacted(&self) -> String {
        match self {
            SourceSpec::MySql(url) => url.redacted(),
            SourceSpec::Sqlite(path) => format!("sqlite:{}", path.display()),
            SourceSpec::Mongo(format, path) => format!("{}:{}", format.tool(), path.display()),
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `--cast TABLE.COLUMN=KIND`: export one column in a chosen form, whatever its declared
/// type says (SQLite, where a column may hold values of any kind). The source checks
/// the kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnCast {
    pub table: String,
    pub column: String,
    pub kind: String,
}

impl ColumnCast {
    pub fn parse(rule: &str) -> Result<ColumnCast> {
        let bad = || {
            Error::config(format!(
                "--cast {rule:?}: expected TABLE.COLUMN=KIND, e.g. orders.amount=text"
            ))
        };
        let (target, kind) = rule.split_once('=').ok_or_else(bad)?;
        let (table, column) = target.trim().rsplit_once('.').ok_or_else(bad)?;
        let kind = kind.trim().to_ascii_lowercase();
        if table.is_empty() || column.is_empty() || kind.is_empty() {
            return Err(bad());
        }
        Ok(ColumnCast {
            table: table.to_string(),
            column: column.to_string(),
            kind,
        })
    }
}

impl fmt::Display for ColumnCast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}={}", self.table, self.column, self.kind)
    }
}

/// A base table with the planning figures the source gives for it.
#[derive(Clone, Debug)]
pub(crate) struct SourceTable {
    pub schema: Table,
    /// Estimated rows and bytes, for chunk planning and progress only.
    pub estimated_rows: u64,
    pub data_length: u64,
    /// Set for an application's own bookkeeping table (Prisma's `_prisma_migrations`):
    /// why it is skipped unless asked for.
    pub internal: Option<String>,
    /// Positions of the columns whose text the source converts to UTF-8 from a charset
    /// that has invalid byte sequences (`ascii`, `cp1250`, ...). Readers report, for these
    /// columns only, the values whose conversion had to replace characters
    /// (`Row::replaced`); for every other column (utf8mb4, latin1, numbers) nothing extra
    /// is done.
    pub charset_checked: Vec<usize>,
}

pub(crate) struct Catalog {
    pub tables: Vec<SourceTable>,
    pub views: Vec<View>,
    /// Objects that are not exported (MariaDB sequences, SQLite's own tables, virtual
    /// tables), reported.
    pub skipped: Vec<Skipped>,
}

/// An object the export leaves out, and why (`is a virtual table`).
pub(crate) struct Skipped {
    pub name: String,
    pub why: String,
}

/// Raw key values as the source printed them, one per key column.
pub(crate) type Key = Vec<Vec<u8>>;

/// `lower <= key < upper`; a missing bound is open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyRange {
    pub lower: Option<Key>,
    pub upper: Option<Key>,
}

impl KeyRange {
    /// The range as the manifest records it (binary key parts as `\x` hex).
    pub(crate) fn describe(&self, table: &Table) -> KeyRangeInfo {
        let binary: Vec<bool> = table
            .primary_key
            .iter()
            .map(|k| table.column(k).map(|c| c.encoding) == Some(Encoding::ByteaHex))
            .collect();
        let show = |k: &Key| -> Vec<String> {
            k.iter()
                .zip(&binary)
                .map(|(v, bin)| {
                    if *bin {
                        format!("\\x{}", hex::encode(v))
                    } else {
                        String::from_utf8_lossy(v).into_owned()
                    }
                })
                .collect()
        };
        KeyRangeInfo {
            columns: table.primary_key.clone(),
            lower: self.lower.as_ref().map(show),
            upper: self.upper.as_ref().map(show),
        }
    }
}

/// One row as a reader hands it over.
pub(crate) trait Row {
    /// Cell `i` in its encoding's text form; `None` is NULL.
    fn cell(&self, i: usize) -> Option<&[u8]>;

    /// Whether the source had to replace characters of cell `i` that are invalid in
    /// its column's charset (the cell then holds `?` in their place). Asked only for the
    /// columns in `SourceTable::charset_checked`.
    fn replaced(&self, _i: usize) -> bool {
        false
    }
}

/// A database the export reads.
pub(crate) trait Source: Send {
    /// What the manifest records about the source.
    fn describe(&self) -> manifest::Source;

    /// Base tables (with their schema and encodings), views, and skipped objects.
    fn catalog(&mut self) -> Result<Catalog>;

    /// Whether large tables may be split into key ranges read by several readers.
    fn splits_tables(&self) -> bool {
        true
    }

    /// Opens up to `jobs` readers that all see one snapshot of `tables`. A source may
    /// hand out fewer (one, when it cannot synchronise several); the snapshot record
    /// says how consistency was reached and notes anything the user should know.
    /// A source whose encodings depend on the data (SQLite) completes the tables'
    /// schemas here, from that same snapshot.
    fn snapshot(
        self: Box<Self>,
        jobs: usize,
        tables: &mut [SourceTable],
    ) -> Result<(Vec<Box<dyn Reader>>, Snapshot)>;
}

/// A connection inside the snapshot. A reader that returned an error is dropped, not
/// reused: its state is unknown.
pub(crate) trait Reader: Send {
    /// Splits `table` (which has a primary key) into about `chunks` ranges, calling
    /// `emit` with each range in key order as soon as it is known. `rows` is the
    /// estimate. Only asked when the source `splits_tables`; by default the whole table
    /// is one range.
    fn split(
        &mut self,
        table: &Table,
        rows: u64,
        chunks: u64,
        emit: &mut dyn FnMut(KeyRange) -> Result<()>,
    ) -> Result<()> {
        let _ = (table, rows, chunks);
        emit(KeyRange::default())
    }

    /// Streams the rows of `table` (within `range`, when given) in primary-key order.
    /// `what` names the table or chunk for error messages.
    fn read(
        &mut self,
        table: &Table,
        range: Option<&KeyRange>,
        what: &str,
        row: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()>;
}

/// For a reader that reads tables whole (`splits_tables` is false): refuses a bounded
/// range, which only a crafted call could ask for. `unit` names what is read whole.
pub(crate) fn whole_only(range: Option<&KeyRange>, what: &str, unit: &str) -> Result<()> {
    if range.is_some_and(|r| r.lower.is_some() || r.upper.is_some()) {
        return Err(Error::config(format!(
            "{what}: {unit} are read whole, not in key ranges"
        )));
    }
    Ok(())
}

/// Whether a table can be split into key ranges: it has a primary key whose columns
/// compare the same way in the source and as text (no floats or bit strings).
pub(crate) fn splittable(table: &Table) -> bool {
    !table.primary_key.is_empty()
        && table.primary_key.iter().all(|k| {
            table.column(k).is_some_and(|c| {
                !matches!(
                    c.encoding,
                    Encoding::Float | Encoding::Double | Encoding::BitString
                )
            })
        })
}

/// Opens the source a spec names; `casts` are `--cast` rules for its columns, `flatten`
/// the MongoDB collections to flatten.
pub(crate) fn open(
    spec: &SourceSpec,
    casts: &[ColumnCast],
    flatten: &Flatten,
) -> Result<Box<dyn Source>> {
    if *flatten != Flatten::Off && !matches!(spec, SourceSpec::Mongo(..)) {
        return Err(Error::config(
            "--flatten is for MongoDB sources (mongodump:// or mongoexport://), whose \
             collections have no columns of their own",
        ));
    }
    match spec {
        SourceSpec::MySql(url) => {
            if let Some(c) = casts.first() {
                return Err(Error::config(format!(
                    "--cast {c}: casts are for SQLite sources, whose columns may hold values \
                     of any kind; a MySQL column's type already decides its values"
                )));
            }
            Ok(Box::new(mysql::MySqlSource::open(url)?))
        }
        SourceSpec::Sqlite(path) => Ok(Box::new(sqlite::SqliteSource::open(path, casts)?)),
        SourceSpec::Mongo(format, dir) => {
            if let Some(c) = casts.first() {
                return Err(Error::config(format!(
                    "--cast {c}: casts are for SQLite sources; a MongoDB field's column type \
                     follows the BSON types it holds (a mix becomes jsonb)"
                )));
            }
            Ok(Box::new(mongo::MongoSource::open(*format, dir, flatten)?))
        }
    }
}

/// A table catch-up reads changes for.
pub(crate) struct ChangeTable<'a> {
    pub schema: &'a Table,
    /// Decode its row images (false: only count its changes; a table without a primary
    /// key cannot be carried).
    pub carry: bool,
}

/// Where catch-up hands the changes it reads, in commit order.
pub(crate) trait ChangeSink {
    /// One row change of `tables[table]` in the open transaction: an insert (`after`
    /// only), an update (both) or a delete (`before` only). `after` holds every cell;
    /// `before` holds the primary-key cells (the others read as NULL).
    fn change(
        &mut self,
        table: usize,
        before: Option<&dyn Row>,
        after: Option<&dyn Row>,
    ) -> Result<()>;
    /// A row change of a table read with `carry: false`.
    fn uncarried(&mut self, table: usize);
    /// The open transaction committed: its changes are final.
    fn commit(&mut self) -> Result<()>;
    /// The open transaction was rolled back: forget its changes.
    fn rollback(&mut self);
    /// Something the user should know that did not stop the read.
    fn note(&mut self, message: String);
}

/// A source's log of changes, opened after its pre-flight passed.
pub(crate) trait ChangeLog {
    /// Where the changes start: the base dump's position.
    fn start(&self) -> &LogPosition;
    /// Where they end: the log's position when it was opened. Later changes belong to
    /// the next round.
    fn end(&self) -> &LogPosition;
    /// Reads every committed change to `tables` between start and end.
    fn read(&mut self, tables: &[ChangeTable], sink: &mut dyn ChangeSink) -> Result<()>;
}

/// Opens the change log of the source `spec` names, after the snapshot (or the end) of
/// `base`. Its pre-flight collects everything that keeps the log from being used.
pub(crate) fn open_changes(spec: &SourceSpec, base: &Manifest) -> Result<Box<dyn ChangeLog>> {
    match spec {
        SourceSpec::MySql(url) => Ok(Box::new(mysql::binlog::BinlogChanges::open(url, base)?)),
        SourceSpec::Sqlite(path) => Err(Error::config(format!(
            "--since: catch-up reads a MySQL/MariaDB binary log; the SQLite file {} has no \
             change log (export it again instead)",
            path.display()
        ))),
        SourceSpec::Mongo(_, path) => Err(Error::config(format!(
            "--since: catch-up reads a MySQL/MariaDB binary log; the MongoDB files in {} \
             have no change log (export them again instead)",
            path.display()
        ))),
    }
}
