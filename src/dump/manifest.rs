//! `migration_manifest.json`: the waybill that travels with the CSV files. It is written
//! last, so its presence means the export finished; it describes every file (rows, bytes,
//! sha256) and the full source schema, so the dump can be verified and loaded on a host
//! that cannot reach the source. `SHA256SUMS` repeats the hashes in the format
//! `sha256sum -c` reads, for people who verify with standard tools.
//!
//! A dump is `full` (one snapshot of every table) or a `delta` (catch-up: the changes
//! made after its base dump, read from the source's binary log). A delta names its base
//! by the sha256 of the base's manifest, and its `snapshot` is where its changes end, so
//! the next delta can follow it. Manifests written before deltas existed have no `kind`
//! and read as `full`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dump::files::{OpenError, open_regular};
use crate::dump::schema::{Table, View};
use crate::dump::validate::validate;
use crate::error::{Error, Result};
use crate::printable::escaped;

pub const MANIFEST_FILE: &str = "migration_manifest.json";
pub const SUMS_FILE: &str = "SHA256SUMS";
pub const FORMAT: &str = "waybill-dump";
pub const FORMAT_VERSION: u32 = 1;
/// The largest manifest read: one for thousands of tables is a few megabytes.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// The largest `SHA256SUMS` read.
pub(crate) const MAX_SUMS_BYTES: u64 = 64 << 20;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// `full` (absent in older manifests) or `delta`.
    #[serde(default)]
    pub kind: DumpKind,
    pub tool: Tool,
    /// RFC 3339 UTC: when the export started.
    pub created_at: String,
    /// RFC 3339 UTC: when the last file was complete.
    pub completed_at: String,
    pub source: Source,
    pub snapshot: Snapshot,
    pub csv: CsvDialect,
    pub options: ExportOptions,
    pub tables: Vec<TableEntry>,
    #[serde(default)]
    pub views: Vec<View>,
    pub totals: Totals,
    /// For a delta: its base, where its changes start and end, and what it left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaInfo>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DumpKind {
    /// Every table as of one snapshot.
    #[default]
    Full,
    /// The changes made after a base dump: rows to upsert and keys to delete.
    Delta,
}

impl DumpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpKind::Full => "full",
            DumpKind::Delta => "delta",
        }
    }
}

/// A position in the source's change log: a binlog file and the offset after the last
/// event included, and the GTID set at that point when the server reports one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct LogPosition {
    pub binlog_file: String,
    pub binlog_position: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
}

/// What makes a dump a delta.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct DeltaInfo {
    /// sha256 of the base dump's manifest: the full dump, or the delta this one follows.
    pub base_manifest_sha256: String,
    pub base_kind: DumpKind,
    /// Where the base dump was when this delta was written (for people; not checked).
    pub base_dir: String,
    /// 1 for the first delta after a full dump, then 2, 3, ...
    pub sequence: u64,
    /// The base's position: the changes start right after it.
    pub start: LogPosition,
    /// The server's position when this delta began: the changes end there.
    pub end: LogPosition,
    /// Transactions read in the range that changed a table of the delta.
    pub transactions: u64,
    /// Row changes read in the range for the tables of the delta, before folding.
    pub row_changes: u64,
    /// Tables of the base that catch-up cannot carry (no primary key): they need a full
    /// reload when `changes` is not 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_tables: Vec<ExcludedTable>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExcludedTable {
    pub name: String,
    pub reason: String,
    /// Row changes seen in this delta's range (not carried).
    pub changes: u64,
}

/// What a file of a delta holds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    /// Full rows, each key once with its final state: insert or update.
    Upserts,
    /// Primary keys (the key columns only) of rows to delete.
    Deletes,
}
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn current(name: &str) -> Self {
        Tool {
            name: name.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Where the data came from. Never holds a password.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Source {
    /// `mariadb`, `mysql`, `sqlite` or `mongodb`.
    pub engine: String,
    /// The server's version; for SQLite, the version of the SQLite library that read it.
    pub server_version: String,
    /// Host, port and user of a server (absent for SQLite).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(default, skip_serializing_if = "is_zero_port")]
    pub port: u16,
    /// The database name; for SQLite, the file name without its extension.
    pub database: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Connection character set: every text value was converted to it by the server.
    pub charset: String,
    /// Session time zone the values were read in.
    pub time_zone: String,
    /// The TLS cipher of the session that read the catalog (absent: not encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cipher: Option<String>,
    /// SQLite: the absolute path of the database file; MongoDB: of the directory read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// MongoDB: which tool wrote the files read (`mongodump` or `mongoexport`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_format: Option<String>,
    /// SQLite: the file's journal mode when it was read (`wal`, `delete`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_mode: Option<String>,
    /// MySQL/MariaDB: `@@server_id` (and MySQL's `@@server_uuid`), so a delta can check
    /// that it reads the binary log of the server its base came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
}

fn is_zero_port(p: &u16) -> bool {
    *p == 0
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Snapshot {
    /// True when every table was read from one point in time.
    pub consistent: bool,
    /// `global_read_lock` (parallel connections synchronised under FLUSH TABLES WITH
    /// READ LOCK), `single_transaction` (one connection, one transaction) or
    /// `sqlite_read_transaction` (one SQLite read transaction).
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_position: Option<u64>,
    /// GTID set/position at the snapshot (MySQL `gtid_executed`, MariaDB `gtid_binlog_pos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// Tables whose engine does not take part in transactions (MyISAM, Aria, ...): they
    /// were read outside the snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_transactional_tables: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CsvDialect {
    pub delimiter: String,
    pub quote: String,
    pub escape: String,
    pub null: String,
    pub header: bool,
    pub encoding: String,
    pub line_terminator: String,
    /// The options that load a file unchanged with PostgreSQL COPY.
    pub postgres_copy_options: String,
}

impl Default for CsvDialect {
    fn default() -> Self {
        CsvDialect {
            delimiter: ",".into(),
            quote: "\"".into(),
            escape: "\"".into(),
            null: "\\N".into(),
            header: true,
            encoding: "UTF-8".into(),
            line_terminator: "\n".into(),
            postgres_copy_options: COPY_OPTIONS.into(),
        }
    }
}

pub const COPY_OPTIONS: &str = "FORMAT csv, HEADER true, NULL '\\N'";

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ExportOptions {
    pub nul: crate::dump::encoding::NulPolicy,
    /// Tables above this estimated size were split into chunks by primary key (0: never).
    pub chunk_bytes: u64,
    pub jobs: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    /// `--cast TABLE.COLUMN=KIND` rules (SQLite): columns exported in a chosen form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub casts: Vec<String>,
    /// `--include-internal`: application-internal tables were exported too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_internal: bool,
    /// `--strict-charset`: a value with bytes invalid in its charset failed the export.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_charset: bool,
    /// `--flatten` (MongoDB): the collections flattened, `["*"]` for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flatten: Option<Vec<String>>,
    /// `--compress`: how the data files were compressed, e.g. `zstd:1` (absent: plain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<String>,
}

/// One table: its source schema (flattened in) and its data files.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TableEntry {
    #[serde(flatten)]
    pub schema: Table,
    /// The data, in order: one file, or chunk files by primary key range.
    pub files: Vec<FileEntry>,
    pub rows: u64,
    pub bytes: u64,
    /// The file's sha256 when the table is in one file (chunks carry their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub duration_secs: f64,
    /// Delta: rows to upsert and keys to delete (`rows` is their sum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upserts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<u64>,
}

impl TableEntry {
    /// A table with no data yet: no files, no rows (a delta's table without changes, an
    /// interrupted export's plan, a test's fixture).
    pub fn empty(schema: Table) -> Self {
        TableEntry {
            schema,
            files: Vec::new(),
            rows: 0,
            bytes: 0,
            sha256: None,
            duration_secs: 0.0,
            upserts: None,
            deletes: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.schema.name
    }

    pub fn nulled_values(&self) -> u64 {
        self.schema
            .columns
            .iter()
            .fold(0u64, |n, c| n.saturating_add(c.stats.converted_to_null()))
    }
}

/// How a data file is stored. Absent in the manifest: plain CSV.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Zstandard (`<name>.csv.zst`): one or more frames; `bytes` and `sha256` are the
    /// compressed file's, so `sha256sum -c` checks what is on disk.
    Zstd,
}

impl Compression {
    /// The file name extension after `.csv`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => ".zst",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
        }
    }
}

/// `--compress`: an algorithm and its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compress {
    pub algorithm: Compression,
    pub level: i32,
}

impl Compress {
    /// Level 1: on the benchmark's CSV it compresses at 2.2 times the speed of zstd's
    /// own default (3) and as well (0.31 of the size against 0.32; README, Performance).
    pub const ZSTD_DEFAULT_LEVEL: i32 = 1;

    /// `zstd` or `zstd:LEVEL` (1 to 19: higher levels need windows too large for the
    /// flat memory the readers keep to).
    pub fn parse(s: &str) -> std::result::Result<Compress, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        if name != "zstd" {
            return Err(format!(
                "unknown compression {}: the one supported is zstd (zstd or zstd:LEVEL)",
                escaped(name)
            ));
        }
        let level = match level {
            None => Compress::ZSTD_DEFAULT_LEVEL,
            Some(l) => match l.parse::<i32>() {
                Ok(n) if (1..=19).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "zstd level {} is not a number from 1 to 19",
                        escaped(l)
                    ));
                }
            },
        };
        Ok(Compress {
            algorithm: Compression::Zstd,
            level,
        })
    }
}

impl std::fmt::Display for Compress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.level)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the dump directory.
    pub path: String,
    /// Data rows, header not counted.
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// Primary-key range of a chunk: `lower <= key < upper` (absent bound: unbounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_range: Option<KeyRangeInfo>,
    /// Delta: what the file holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<FileRole>,
    /// How the file is stored (absent: plain CSV). `bytes` and `sha256` are the stored
    /// file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyRangeInfo {
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Totals {
    pub tables: usize,
    pub views: usize,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Values written as NULL that were not NULL in the source, per `table.column`.
    pub converted_to_null: BTreeMap<String, u64>,
    pub duration_secs: f64,
}

impl Totals {
    /// The totals of `tables` (and `views` views), and the NULLs each column's
    /// conversions wrote, as the manifest's `totals` records them.
    pub(crate) fn of(tables: &[TableEntry], views: usize, duration_secs: f64) -> Totals {
        let mut totals = Totals {
            tables: tables.len(),
            views,
            duration_secs,
            ..Totals::default()
        };
        for t in tables {
            totals.files += t.files.len();
            totals.rows += t.rows;
            totals.bytes += t.bytes;
            for c in &t.schema.columns {
                let n = c.stats.converted_to_null();
                if n > 0 {
                    totals
                        .converted_to_null
                        .insert(format!("{}.{}", t.name(), c.name), n);
                }
            }
        }
        totals
    }
}

impl Manifest {
    pub fn files(&self) -> impl Iterator<Item = (&TableEntry, &FileEntry)> {
        self.tables
            .iter()
            .flat_map(|t| t.files.iter().map(move |f| (t, f)))
    }

    pub fn table(&self, name: &str) -> Option<&TableEntry> {
        self.tables.iter().find(|t| t.name() == name)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serializes");
        v.push(b'\n');
        v
    }

    /// Reads a dump's manifest, parsed and validated (`parse`).
    pub fn load(dump_dir: &Path) -> Result<(Manifest, Vec<u8>)> {
        let bytes = Manifest::read(dump_dir)?;
        let m = Manifest::parse(&bytes)
            .map_err(|problems| Error::Verification(Manifest::at(dump_dir, problems)))?;
        Ok((m, bytes))
    }

    /// `problems` (from `parse`), each prefixed with the manifest's path.
    pub(crate) fn at(dump_dir: &Path, problems: Vec<String>) -> Vec<String> {
        let path = dump_dir.join(MANIFEST_FILE);
        problems
            .into_iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect()
    }

    /// The bytes of a dump's manifest; a missing one means the export never finished.
    /// Only a regular file of a sensible size is read.
    pub fn read(dump_dir: &Path) -> Result<Vec<u8>> {
        let path = dump_dir.join(MANIFEST_FILE);
        if !dump_dir.is_dir() {
            return Err(Error::config(format!(
                "dump directory {} does not exist",
                dump_dir.display()
            )));
        }
        let (file, meta) = match open_regular(&path) {
            Ok(f) => f,
            Err(OpenError::Missing) => {
                if let Some(msg) = holds_dumps(dump_dir) {
                    return Err(Error::config(msg));
                }
                let partial = partial_files(dump_dir);
                let mut msg = format!(
                    "{} has no {MANIFEST_FILE}: this is an incomplete dump (an export that \
                     did not finish) or not a waybill dump; refusing to load it",
                    dump_dir.display()
                );
                if !partial.is_empty() {
                    msg.push_str(&format!(
                        " ({} unfinished *.partial file(s), e.g. {})",
                        partial.len(),
                        partial[0]
                    ));
                }
                return Err(Error::IncompleteDump(msg));
            }
            Err(e) => return Err(Error::Verification(vec![e.message(&path)])),
        };
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(Error::Verification(vec![format!(
                "{}: {} bytes; a manifest is at most {MAX_MANIFEST_BYTES} bytes",
                path.display(),
                meta.len()
            )]));
        }
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&path, e))?;
        Ok(bytes)
    }

    /// Parses manifest bytes and validates them (`dump::validate`): the one place where
    /// a manifest becomes trusted. Every problem found is returned, each naming the
    /// manifest field.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Manifest, Vec<String>> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| vec![format!("not a valid manifest: {e}")])?;
        if m.format != FORMAT || m.format_version > FORMAT_VERSION {
            return Err(vec![format!(
                "format {} version {} is not supported by this waybill (reads {FORMAT} \
                 up to version {FORMAT_VERSION})",
                escaped(&m.format),
                m.format_version
            )]);
        }
        validate(&m)?;
        Ok(m)
    }
}

/// The directory of the dump whose manifest `path` is, when `path` is a manifest file
/// (given instead of its directory).
pub fn dir_of_manifest(path: &Path) -> Option<PathBuf> {
    let is_manifest = path.file_name().is_some_and(|n| n == MANIFEST_FILE)
        && fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    is_manifest.then(|| {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    })
}

/// `20240310_070000` (and `_2`-style suffixes): the name an export gives a dump.
fn is_stamp(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 15
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'_'
        && b[9..15].iter().all(u8::is_ascii_digit)
}

/// When `dir` is a database directory (`csv_exports/<db>/`) or the export directory
/// itself (`csv_exports/`), the sentence that says so and names its newest dumps.
fn holds_dumps(dir: &Path) -> Option<String> {
    let subdirs = |d: &Path| -> Vec<PathBuf> {
        fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    };
    let stamped = |d: &Path| -> Vec<PathBuf> {
        subdirs(d)
            .into_iter()
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_stamp))
            .collect()
    };
    let mut dumps = stamped(dir);
    let what = if dumps.is_empty() {
        dumps = subdirs(dir).iter().flat_map(|d| stamped(d)).collect();
        "the export directory: its dumps are in <database>/<YYYYMMDD_HHMMSS>/ below it"
    } else {
        "a database directory: its dumps are in its timestamped subdirectories"
    };
    if dumps.is_empty() {
        return None;
    }
    // Newest first: the stamp is the dump's start time (UTC).
    dumps.sort_by(|a, b| b.file_name().cmp(&a.file_name()).then(b.cmp(a)));
    let newest: Vec<String> = dumps
        .iter()
        .take(3)
        .map(|d| {
            let state = if d.join(MANIFEST_FILE).is_file() {
                ""
            } else {
                " (incomplete: no manifest)"
            };
            format!("{}{state}", d.display())
        })
        .collect();
    Some(format!(
        "{} is not a dump but {what}; pass one of them, e.g. the newest: {}{}",
        dir.display(),
        newest.join(", "),
        if dumps.len() > 3 {
            format!(" ({} dumps in all)", dumps.len())
        } else {
            String::new()
        }
    ))
}

fn partial_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    v.sort();
    v
}

/// `SHA256SUMS` lines, `<hex>  <name>`, as `sha256sum` writes them.
pub(crate) fn sums_text(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|(hash, name)| format!("{hash}  {name}\n"))
        .collect()
}

/// Parses `SHA256SUMS` into (name, hex) pairs; text or binary mode markers accepted.
pub(crate) fn parse_sums(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let (hash, rest) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {}: not `<sha256>  <file>`", i + 1))?;
            let name = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'));
            match name {
                Some(n) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Ok((n.to_string(), hash.to_ascii_lowercase()))
                }
                _ => Err(format!("line {}: not `<sha256>  <file>`", i + 1)),
            }
        })
        .collect()
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename, so a reader sees the
/// old content or the new, never a torn file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// fsync a directory so the renames in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_round_trip() {
        let h = "a".repeat(64);
        let text = sums_text(&[(h.clone(), "t.csv".into())]);
        assert_eq!(text, format!("{h}  t.csv\n"));
        assert_eq!(
            parse_sums(&text).unwrap(),
            vec![("t.csv".to_string(), h.clone())]
        );
        assert_eq!(parse_sums(&format!("{h} *t.csv")).unwrap()[0].0, "t.csv");
        assert!(parse_sums("zz  t.csv").is_err());
        // 64 characters that are not all hex, and hex that is too short.
        assert!(parse_sums(&format!("{}  t.csv", "g".repeat(64))).is_err());
        assert!(parse_sums("abc  t.csv").is_err());
        assert_eq!(
            parse_sums(&format!("\n{h}  a.csv\n\n{}  b.csv\n", h.to_uppercase())).unwrap(),
            vec![
                ("a.csv".to_string(), h.clone()),
                ("b.csv".to_string(), h.clone())
            ]
        );
        assert_eq!(
            parse_sums(&format!("{h}  a.csv\n{h}t.csv")).unwrap_err(),
            "line 2: not `<sha256>  <file>`"
        );
    }

    fn minimal(version: u32, format: &str) -> String {
        let sha = "0".repeat(64);
        format!(
            r#"{{"format": "{format}", "format_version": {version},
            "tool": {{"name": "waybill-export", "version": "0"}},
            "created_at": "x", "completed_at": "y",
            "source": {{"engine": "mariadb", "server_version": "10", "host": "h", "port": 1,
                       "database": "d", "user": "u", "charset": "utf8mb4", "time_zone": "+00:00"}},
            "snapshot": {{"consistent": true, "method": "single_transaction"}},
            "csv": {{"delimiter": ",", "quote": "\"", "escape": "\"", "null": "\\N",
                    "header": true, "encoding": "UTF-8", "line_terminator": "\n",
                    "postgres_copy_options": ""}},
            "options": {{"nul": "error", "chunk_bytes": 0, "jobs": 1}},
            "tables": [{{"name": "t", "columns": [
                {{"name": "d", "column_type": "date", "data_type": "date", "nullable": true,
                  "encoding": "date", "stats": {{"nulls": 3, "zero_dates_to_null": 2}}}},
                {{"name": "u", "column_type": "char(36)", "data_type": "char", "nullable": true,
                  "encoding": "uuid_text", "stats": {{"nulls": 1, "empty_uuids_to_null": 1}}}}],
                "primary_key": [], "rows": 3, "bytes": 10, "duration_secs": 0,
                "files": [{{"path": "t.csv", "rows": 3, "bytes": 10, "sha256": "{sha}"}}]}},
              {{"name": "T2", "columns": [{{"name": "i", "column_type": "int(11)",
                  "data_type": "int", "nullable": true, "encoding": "integer"}}],
                "primary_key": [], "files": [], "rows": 0, "bytes": 0, "duration_secs": 0}}],
            "totals": {{"tables": 2, "views": 0, "files": 1, "rows": 3, "bytes": 10,
                       "converted_to_null": {{}}, "duration_secs": 0}}}}"#
        )
    }

    #[test]
    fn load_checks_the_directory_the_file_and_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = |p: &Path| Manifest::load(p).unwrap_err();

        let missing = d.join("nope");
        assert_eq!(
            err(&missing).to_string(),
            format!("dump directory {} does not exist", missing.display())
        );
        let e = err(d);
        assert!(matches!(e, Error::IncompleteDump(_)), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{} has no migration_manifest.json: this is an incomplete dump (an export that \
                 did not finish) or not a waybill dump; refusing to load it",
                d.display()
            )
        );
        fs::write(d.join("b.csv.partial"), "").unwrap();
        fs::write(d.join("a.csv.partial"), "").unwrap();
        assert!(
            err(d).to_string().ends_with(
                "refusing to load it (2 unfinished *.partial file(s), e.g. a.csv.partial)"
            )
        );
        // A manifest that cannot be read is not mistaken for a missing one.
        fs::create_dir(d.join(MANIFEST_FILE)).unwrap();
        let Error::Verification(p) = err(d) else {
            panic!("a directory in place of the manifest")
        };
        assert_eq!(
            p,
            [format!(
                "{}: is a directory; a dump holds only regular files, so it is not read",
                d.join(MANIFEST_FILE).display()
            )]
        );
        fs::remove_dir(d.join(MANIFEST_FILE)).unwrap();

        fs::write(d.join(MANIFEST_FILE), "{").unwrap();
        assert!(err(d).to_string().contains("not a valid manifest"));
        for (version, format) in [(2, FORMAT), (1, "other-dump")] {
            fs::write(d.join(MANIFEST_FILE), minimal(version, format)).unwrap();
            assert!(
                err(d).to_string().contains(&format!(
                    "format {format} version {version} is not supported by this waybill"
                )),
                "{version} {format}"
            );
        }
        for version in [0, 1] {
            fs::write(d.join(MANIFEST_FILE), minimal(version, FORMAT)).unwrap();
            let (m, bytes) = Manifest::load(d).unwrap();
            assert_eq!(bytes, minimal(version, FORMAT).into_bytes());
            assert_eq!(m.format_version, version);
        }
        let (m, _) = Manifest::load(d).unwrap();
        assert_eq!(m.table("T2").map(|t| t.name()), Some("T2"));
        assert_eq!(m.table("t").map(|t| t.name()), Some("t"));
        assert!(m.table("t2").is_none());
        assert_eq!(m.table("t").unwrap().nulled_values(), 3);
        let json = m.to_json();
        assert_eq!(json.last(), Some(&b'\n'));
        let back: Manifest = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.tables.len(), 2);
    }

    #[test]
    fn atomic_writes_leave_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("SHA256SUMS");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("SHA256SUMS.partial").exists());
        sync_dir(dir.path()).unwrap();
        assert!(sync_dir(&dir.path().join("gone")).is_err());
        assert!(write_atomically(&dir.path().join("gone/x"), b"x").is_err());
    }
}
