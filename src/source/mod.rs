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
//! Everything driver-specific (SQL dialect, session set-up, type names) stays in the
//! source's own folder; the engine in `export` never names a driver.

pub mod mysql;

use crate::dburl::DbUrl;
use crate::dump::encoding::Encoding;
use crate::dump::manifest::{self, KeyRangeInfo, Snapshot};
use crate::dump::schema::{Table, View};
use crate::error::Result;

/// A base table with the planning figures the source gives for it.
#[derive(Clone, Debug)]
pub(crate) struct SourceTable {
    pub schema: Table,
    /// Estimated rows and bytes, for chunk planning and progress only.
    pub estimated_rows: u64,
    pub data_length: u64,
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
    /// Objects that are neither base tables nor views (MariaDB sequences), reported.
    pub skipped: Vec<String>,
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

    /// Opens up to `jobs` readers that all see one snapshot of `tables`. A source may
    /// hand out fewer (one, when it cannot synchronise several); the snapshot record
    /// says how consistency was reached and notes anything the user should know.
    fn snapshot(
        self: Box<Self>,
        jobs: usize,
        tables: &[SourceTable],
    ) -> Result<(Vec<Box<dyn Reader>>, Snapshot)>;
}

/// A connection inside the snapshot. A reader that returned an error is dropped, not
/// reused: its state is unknown.
pub(crate) trait Reader: Send {
    /// Splits `table` (which has a primary key) into about `chunks` ranges, calling
    /// `emit` with each range in key order as soon as it is known. `rows` is the
    /// estimate.
    fn split(
        &mut self,
        table: &Table,
        rows: u64,
        chunks: u64,
        emit: &mut dyn FnMut(KeyRange) -> Result<()>,
    ) -> Result<()>;

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

/// Opens the source a URL names.
pub(crate) fn open(url: &DbUrl) -> Result<Box<dyn Source>> {
    Ok(Box::new(mysql::MySqlSource::open(url)?))
}
