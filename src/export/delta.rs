//! Catch-up (`waybill-export --since DUMP_DIR`): the changes made after a base dump,
//! written as a delta dump that `waybill-import` applies on top of the base.
//!
//! The source's change log hands over every committed row change to the base's tables,
//! in commit order (`source::ChangeLog`). They are folded so each primary key appears
//! once, with its final state: an insert or update becomes an upsert of the last row
//! image, a delete a delete, an update that changes the key a delete of the old key and
//! an upsert of the new one, an insert then a delete a delete (harmless when the key was
//! never in the base). A rolled-back transaction is forgotten.
//!
//! Memory stays bounded by the number of distinct changed keys, not by the rows: each
//! change is appended to a spill file in the delta directory as soon as it is read, and
//! only a map from each changed key (its cells as text) to the position of its last
//! change stays in memory, about 80 bytes plus the key's length per key. At the end each
//! table's final changes are read back in commit order and written through the same cell
//! writers as a full export, so a delta's cells are exactly what a full export writes
//! for the same rows. Tables without a primary key cannot be folded: their changes are
//! counted and the table is reported, to be reloaded in full.
//!
//! The delta's manifest is a dump manifest of kind `delta`: the base's schema for every
//! table, per table the counts of upserts and deletes and their files, the base's
//! manifest sha256 and the start and end positions; its `snapshot` is the end position,
//! so the next `--since` can follow it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{ExportObserver, ExportOutcome, ExportPlan, create_dump_dir, remove_partials};
use crate::dump::csv::CsvWriter;
use crate::dump::encoding::{CellEncoder, CellError, ColumnStats};
use crate::dump::files::DataWriter;
use crate::dump::hashing::sha256_hex;
use crate::dump::manifest::{
    self, Compress, CsvDialect, DeltaInfo, DumpKind, ExcludedTable, ExportOptions, FileEntry,
    FileRole, MANIFEST_FILE, Manifest, SUMS_FILE, Snapshot, TableEntry, Tool, Totals,
};
use crate::dump::names::FileNamer;
use crate::dump::schema::Table;
use crate::dump::verify::read_sums;
use crate::error::{Error, Result};
use crate::source::{self, ChangeSink, ChangeTable, Row};
use crate::{interrupt, timefmt};

/// The spill file, inside the delta directory until the delta is complete.
const SPILL: &str = "changes.partial";

const NULL_LEN: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Upsert = 1,
    Delete = 2,
}

/// Reads the base dump's manifest and checks it against its `SHA256SUMS`; the data files
/// are not needed (and may be gone).
fn load_base(dir: &Path) -> Result<(Manifest, String)> {
    let (m, bytes) = Manifest::load(dir)?;
    let sha = sha256_hex(&bytes);
    let bad = |e: String| Error::Verification(vec![format!("--since {}: {e}", dir.display())]);
    let text = read_sums(&dir.join(SUMS_FILE)).map_err(bad)?;
    let sums = manifest::parse_sums(&text).map_err(|e| bad(format!("{SUMS_FILE}: {e}")))?;
    match sums.iter().find(|(n, _)| n == MANIFEST_FILE) {
        Some((_, h)) if *h == sha => Ok((m, sha)),
        Some((_, h)) => Err(bad(format!(
            "{MANIFEST_FILE} has sha256 {sha}, {SUMS_FILE} says {h} (the manifest was changed)"
        ))),
        None => Err(bad(format!("{SUMS_FILE} has no line for {MANIFEST_FILE}"))),
    }
}

/// Appends length-prefixed cells: `u32` length (`u32::MAX` for NULL) and the bytes.
fn push_cell(out: &mut Vec<u8>, cell: Option<&[u8]>) {
    match cell {
        None => out.extend_from_slice(&NULL_LEN.to_le_bytes()),
        Some(v) => {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
}

/// Splits a record's cells (`n` of them) from what follows them.
fn split_cells(bytes: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    let mut at = 0;
    for _ in 0..n {
        let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if len != NULL_LEN {
            at += len as usize;
        }
    }
    (at <= bytes.len()).then(|| bytes.split_at(at))
}

/// Cells written by `push_cell`, read back.
struct Cells<'a>(&'a [u8]);

impl<'a> Iterator for Cells<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len);
        if len == NULL_LEN {
            self.0 = rest;
            return Some(None);
        }
        let (v, rest) = rest.split_at_checked(len as usize)?;
        self.0 = rest;
        Some(Some(v))
    }
}

#[derive(Clone, Copy)]
struct Last {
    offset: u64,
    op: Op,
}

struct Pending {
    table: usize,
    key: (usize, usize),
    last: Last,
}

/// Folds the changes as they are read: each change goes to the spill file, the position
/// of each key's last change stays in `last`.
struct Folder<'a> {
    tables: &'a [ChangeTable<'a>],
    keys: Vec<Vec<usize>>,
    spill: BufWriter<File>,
    spill_path: PathBuf,
    written: u64,
    pending: Vec<Pending>,
    pending_keys: Vec<u8>,
    last: Vec<HashMap<Box<[u8]>, Last>>,
    uncarried: Vec<u64>,
    row_changes: u64,
    transactions: u64,
    notes: Vec<String>,
    key_buf: Vec<u8>,
    record: Vec<u8>,
}

impl Folder<'_> {
    fn key_of(&mut self, table: usize, row: &dyn Row) {
        self.key_buf.clear();
        for &i in &self.keys[table] {
            push_cell(&mut self.key_buf, row.cell(i));
        }
    }

    /// Appends one change (the key in `key_buf`) to the spill and the transaction.
    fn add(&mut self, table: usize, op: Op, after: Option<&dyn Row>) -> Result<()> {
        self.record.clear();
        self.record.push(op as u8);
        self.record.extend_from_slice(&(table as u32).to_le_bytes());
        self.record
            .extend_from_slice(&(self.key_buf.len() as u32).to_le_bytes());
        self.record.extend_from_slice(&self.key_buf);
        if let Some(row) = after {
            let n = self.tables[table].schema.columns.len();
            for i in 0..n {
                push_cell(&mut self.record, row.cell(i));
            }
            // Then the columns whose characters the source replaced by `?`.
            for i in (0..n).filter(|&i| row.replaced(i)) {
                self.record.extend_from_slice(&(i as u32).to_le_bytes());
            }
        }
        let len = self.record.len() as u32;
        let offset = self.written;
        self.spill
            .write_all(&len.to_le_bytes())
            .and_then(|_| self.spill.write_all(&self.record))
            .map_err(|e| Error::io(&self.spill_path, e))?;
        self.written += 4 + u64::from(len);
        let start = self.pending_keys.len();
        self.pending_keys.extend_from_slice(&self.key_buf);
        self.pending.push(Pending {
            table,
            key: (start, self.pending_keys.len()),
            last: Last { offset, op },
        });
        Ok(())
    }
}

impl ChangeSink for Folder<'_> {
    fn change(
        &mut self,
        table: usize,
        before: Option<&dyn Row>,
        after: Option<&dyn Row>,
    ) -> Result<()> {
        self.row_changes += 1;
        match (before, after) {
            (_, Some(a)) => {
                if let Some(b) = before {
                    self.key_of(table, b);
                    let old = std::mem::take(&mut self.key_buf);
                    self.key_of(table, a);
                    if old != self.key_buf {
                        let new = std::mem::replace(&mut self.key_buf, old);
                        self.add(table, Op::Delete, None)?;
                        self.key_buf = new;
                    }
                } else {
                    self.key_of(table, a);
                }
                self.add(table, Op::Upsert, Some(a))
            }
            (Some(b), None) => {
                self.key_of(table, b);
                self.add(table, Op::Delete, None)
            }
            (None, None) => Ok(()),
        }
    }

    fn uncarried(&mut self, table: usize) {
        self.uncarried[table] += 1;
    }

    fn commit(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.transactions += 1;
        }
        for p in self.pending.drain(..) {
            let key = &self.pending_keys[p.key.0..p.key.1];
            match self.last[p.table].get_mut(key) {
                Some(l) => *l = p.last,
                None => {
                    self.last[p.table].insert(key.into(), p.last);
                }
            }
        }
        self.pending_keys.clear();
        Ok(())
    }

    fn rollback(&mut self) {
        // Its records stay in the spill, but nothing refers to them: they are never read.
        self.pending.clear();
        self.pending_keys.clear();
    }

    fn note(&mut self, message: String) {
        self.notes.push(message);
    }
}

/// One output file of the delta, written like a full export's files.
struct Out {
    name: String,
    partial: PathBuf,
    csv: CsvWriter<BufWriter<DataWriter>>,
    rows: u64,
    compress: Option<Compress>,
}

impl Out {
    fn create(
        dir: &Path,
        name: String,
        header: &[&str],
        compress: Option<Compress>,
    ) -> Result<Out> {
        let name = match compress {
            Some(c) => format!("{name}{}", c.algorithm.extension()),
            None => name,
        };
        let out = DataWriter::create(dir.join(&name), compress)
            .map_err(|e| Error::io(dir.join(&name), e))?;
        let partial = out.partial().to_path_buf();
        let mut csv = CsvWriter::new(BufWriter::with_capacity(1 << 20, out));
        csv.header(header).map_err(|e| Error::io(&partial, e))?;
        Ok(Out {
            name,
            partial,
            csv,
            rows: 0,
            compress,
        })
    }

    fn finish(self, role: FileRole) -> Result<FileEntry> {
        let io_err = |e: std::io::Error| Error::io(&self.partial, e);
        let buffered = self.csv.into_inner();
        let out = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
        let (sha256, bytes) = out.finish().map_err(io_err)?;
        Ok(FileEntry {
            path: self.name,
            rows: self.rows,
            bytes,
            sha256,
            key_range: None,
            role: Some(role),
            compression: self.compress.map(|c| c.algorithm),
        })
    }
}

/// `primary key (id=5)` for error messages.
fn describe_key(table: &Table, keys: &[usize], key: &[u8]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .zip(Cells(key))
        .map(|(&i, v)| {
            let v = match v {
                Some(b) => String::from_utf8_lossy(&b[..b.len().min(64)]).replace('\0', "\\0"),
                None => "NULL".into(),
            };
            format!("{}={v}", table.columns[i].name)
        })
        .collect();
    format!("primary key ({})", parts.join(", "))
}

/// Writes one row through the column encoders `cols` (indexes into the table).
#[allow(clippy::too_many_arguments)]
fn write_row(
    out: &mut Out,
    table: &Table,
    encoders: &[CellEncoder],
    cols: &[usize],
    cells: Cells,
    key_text: impl Fn() -> String,
    stats: &mut [ColumnStats],
    scratch: &mut Vec<u8>,
) -> Result<()> {
    for (&i, cell) in cols.iter().zip(cells) {
        if let Err(e) = encoders[i].write(cell, &mut out.csv, &mut stats[i], scratch) {
            return Err(match e {
                CellError::Io(e) => Error::io(&out.partial, e),
                CellError::Value(problem) => Error::Data {
                    table: table.name.clone(),
                    column: table.columns[i].name.clone(),
                    key: key_text(),
                    problem,
                },
            });
        }
    }
    out.csv.end_row().map_err(|e| Error::io(&out.partial, e))?;
    out.rows += 1;
    Ok(())
}

/// A table's final changes, read back from the spill in commit order.
struct TableResult {
    files: Vec<FileEntry>,
    stats: Vec<ColumnStats>,
    upserts: u64,
    deletes: u64,
    secs: f64,
}

/// The spill file, read back.
struct Spill<'a> {
    reader: BufReader<File>,
    path: &'a Path,
}

fn write_table(
    dir: &Path,
    base: &str,
    table: &Table,
    keys: &[usize],
    last: &HashMap<Box<[u8]>, Last>,
    spill: &mut Spill,
    options: &ExportOptions,
) -> Result<TableResult> {
    // Checked when the delta started (`run`).
    let compress = options
        .compress
        .as_deref()
        .and_then(|c| Compress::parse(c).ok());
    let spill_path = spill.path;
    let spill = &mut spill.reader;
    let clock = Instant::now();
    let encoders: Vec<CellEncoder> = table
        .columns
        .iter()
        .map(|c| CellEncoder::new(c.encoding, c.precision, options.nul))
        .collect();
    let mut order: Vec<Last> = last.values().copied().collect();
    order.sort_by_key(|l| l.offset);
    let all: Vec<usize> = (0..table.columns.len()).collect();
    let mut stats = vec![ColumnStats::default(); table.columns.len()];
    let mut scratch = Vec::new();
    let mut upserts: Option<Out> = None;
    let mut deletes: Option<Out> = None;
    let mut record = Vec::new();
    let mut at: u64 = 0;
    spill
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(spill_path, e))?;
    let read_err = |e: std::io::Error| Error::io(spill_path, e);
    for l in order {
        interrupt::check()?;
        spill
            .seek_relative((l.offset - at) as i64)
            .map_err(read_err)?;
        let mut len = [0u8; 4];
        spill.read_exact(&mut len).map_err(read_err)?;
        record.resize(u32::from_le_bytes(len) as usize, 0);
        spill.read_exact(&mut record).map_err(read_err)?;
        at = l.offset + 4 + record.len() as u64;
        let corrupt = || Error::io(spill_path, std::io::ErrorKind::InvalidData.into());
        let (head, rest) = record.split_at_checked(9).ok_or_else(corrupt)?;
        let key_len = u32::from_le_bytes(head[5..9].try_into().expect("4 bytes")) as usize;
        let (key, row) = rest.split_at_checked(key_len).ok_or_else(corrupt)?;
        let key_text = || describe_key(table, keys, key);
        if l.op == Op::Upsert {
            let out = match &mut upserts {
                Some(o) => o,
                None => upserts.insert(Out::create(
                    dir,
                    format!("{base}.upserts.csv"),
                    &table.column_names(),
                    compress,
                )?),
            };
            let (cells, replaced) = split_cells(row, all.len()).ok_or_else(corrupt)?;
            for i in replaced
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                .filter(|&i| i < all.len())
            {
                if options.strict_charset {
                    let c = &table.columns[i];
                    return Err(Error::Data {
                        table: table.name.clone(),
                        column: c.name.clone(),
                        key: key_text(),
                        problem: format!(
                            "the value holds bytes that are not valid {}, which became `?`; fix \
                             the value in the source, or export the base without \
                             --strict-charset to keep the `?` and count such values",
                            c.charset.as_deref().unwrap_or("in its charset")
                        ),
                    });
                }
                stats[i].invalid_charset += 1;
            }
            write_row(
                out,
                table,
                &encoders,
                &all,
                Cells(cells),
                key_text,
                &mut stats,
                &mut scratch,
            )?;
        } else {
            let out = match &mut deletes {
                Some(o) => o,
                None => {
                    let header: Vec<&str> = keys
                        .iter()
                        .map(|&i| table.columns[i].name.as_str())
                        .collect();
                    deletes.insert(Out::create(
                        dir,
                        format!("{base}.deletes.csv"),
                        &header,
                        compress,
                    )?)
                }
            };
            write_row(
                out,
                table,
                &encoders,
                keys,
                Cells(key),
                key_text,
                &mut stats,
                &mut scratch,
            )?;
        }
    }
    let mut files = Vec::new();
    let mut counts = (0, 0);
    if let Some(o) = upserts {
        counts.0 = o.rows;
        files.push(o.finish(FileRole::Upserts)?);
    }
    if let Some(o) = deletes {
        counts.1 = o.rows;
        files.push(o.finish(FileRole::Deletes)?);
    }
    Ok(TableResult {
        files,
        stats,
        upserts: counts.0,
        deletes: counts.1,
        secs: clock.elapsed().as_secs_f64(),
    })
}

pub(super) fn run(
    plan: &ExportPlan,
    since: &Path,
    obs: &dyn ExportObserver,
) -> Result<ExportOutcome> {
    let started_at = timefmt::now();
    let clock = Instant::now();
    let since = std::path::absolute(since).map_err(|e| Error::io(since, e))?;
    let (base, base_sha) = load_base(&since)?;
    if !matches!(base.source.engine.as_str(), "mysql" | "mariadb") {
        return Err(Error::config(format!(
            "--since {}: that dump was read from {}, which has no binary log to catch up from",
            since.display(),
            base.source.engine
        )));
    }
    let mut changes = source::open_changes(&plan.source, &base)?;
    let (start, end) = (changes.start().clone(), changes.end().clone());

    let tables: Vec<ChangeTable> = base
        .tables
        .iter()
        .map(|t| ChangeTable {
            schema: &t.schema,
            carry: !t.schema.primary_key.is_empty(),
        })
        .collect();
    let keys: Vec<Vec<usize>> = base
        .tables
        .iter()
        .map(|t| {
            t.schema
                .primary_key
                .iter()
                .filter_map(|k| t.schema.columns.iter().position(|c| &c.name == k))
                .collect()
        })
        .collect();
    for t in tables.iter().filter(|t| !t.carry) {
        obs.warn(&format!(
            "table `{}` has no primary key: catch-up cannot carry its changes (it needs a full \
             reload if it changes)",
            t.schema.name
        ));
    }

    // Compressed as asked, or as the base was.
    let compress = match plan.compress {
        Some(c) => Some(c),
        None => base
            .options
            .compress
            .as_deref()
            .map(Compress::parse)
            .transpose()
            .map_err(|e| {
                Error::config(format!(
                    "--since {}: options.compress: {e}",
                    since.display()
                ))
            })?,
    };
    let options = ExportOptions {
        compress: compress.map(|c| c.to_string()),
        ..base.options.clone()
    };
    let dir = create_dump_dir(&plan.out_dir, &base.source.database, started_at)?;
    obs.catching_up(&dir, &start, &end);
    let spill_path = dir.join(SPILL);
    let result = (|| {
        let spill_file = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&spill_path)
            .map_err(|e| Error::io(&spill_path, e))?;
        let mut folder = Folder {
            tables: &tables,
            keys: keys.clone(),
            spill: BufWriter::with_capacity(1 << 20, spill_file),
            spill_path: spill_path.clone(),
            written: 0,
            pending: Vec::new(),
            pending_keys: Vec::new(),
            last: vec![HashMap::new(); tables.len()],
            uncarried: vec![0; tables.len()],
            row_changes: 0,
            transactions: 0,
            notes: Vec::new(),
            key_buf: Vec::new(),
            record: Vec::new(),
        };
        changes.read(&tables, &mut folder)?;
        drop(changes);
        let spill_file = folder
            .spill
            .into_inner()
            .map_err(|e| Error::io(&spill_path, e.into_error()))?;
        let mut spill = Spill {
            reader: BufReader::with_capacity(1 << 16, spill_file),
            path: &spill_path,
        };

        let mut namer = FileNamer::new();
        let mut entries = Vec::with_capacity(base.tables.len());
        let mut excluded = Vec::new();
        for (i, t) in base.tables.iter().enumerate() {
            let file_base = namer.base_for(t.name());
            let mut schema = t.schema.clone();
            for c in &mut schema.columns {
                c.stats = ColumnStats::default();
            }
            if !tables[i].carry {
                excluded.push(ExcludedTable {
                    name: t.name().to_string(),
                    reason: "no primary key: changes cannot be matched to rows".into(),
                    changes: folder.uncarried[i],
                });
                entries.push(TableEntry::empty(schema));
                continue;
            }
            let r = if folder.last[i].is_empty() {
                TableResult {
                    files: Vec::new(),
                    stats: vec![ColumnStats::default(); schema.columns.len()],
                    upserts: 0,
                    deletes: 0,
                    secs: 0.0,
                }
            } else {
                obs.table_started(t.name());
                let r = write_table(
                    &dir,
                    &file_base,
                    &t.schema,
                    &keys[i],
                    &folder.last[i],
                    &mut spill,
                    &options,
                )?;
                obs.table_done(
                    t.name(),
                    r.upserts + r.deletes,
                    r.files.iter().map(|f| f.bytes).sum(),
                    r.secs,
                );
                r
            };
            for (c, s) in schema.columns.iter_mut().zip(r.stats) {
                c.stats = s;
            }
            entries.push(TableEntry {
                schema,
                rows: r.upserts + r.deletes,
                bytes: r.files.iter().map(|f| f.bytes).sum(),
                sha256: None,
                duration_secs: r.secs,
                files: r.files,
                upserts: Some(r.upserts),
                deletes: Some(r.deletes),
            });
        }
        drop(spill);
        let _ = fs::remove_file(&spill_path);
        Ok((
            entries,
            excluded,
            folder.notes,
            folder.transactions,
            folder.row_changes,
        ))
    })();
    let (entries, excluded, mut notes, transactions, row_changes) = match result {
        Ok(r) => r,
        Err(e) => {
            remove_partials(&dir);
            let _ = fs::remove_dir(&dir);
            return Err(e);
        }
    };
    for x in excluded.iter().filter(|x| x.changes > 0) {
        notes.push(format!(
            "table `{}` has no primary key and {} row change(s) in this range that catch-up does \
             not carry: reload it with a full export and import",
            x.name, x.changes
        ));
    }
    for n in &notes {
        obs.warn(n);
    }

    let totals = Totals::of(&entries, base.views.len(), clock.elapsed().as_secs_f64());
    let m = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        kind: DumpKind::Delta,
        tool: Tool::current("waybill-export"),
        created_at: timefmt::rfc3339(started_at),
        completed_at: timefmt::now_rfc3339(),
        source: base.source.clone(),
        snapshot: Snapshot {
            consistent: true,
            method: "binlog".into(),
            binlog_file: Some(end.binlog_file.clone()),
            binlog_position: Some(end.binlog_position),
            gtid: end.gtid.clone(),
            non_transactional_tables: Vec::new(),
            notes,
        },
        csv: CsvDialect::default(),
        options,
        tables: entries,
        views: base.views.clone(),
        totals,
        delta: Some(DeltaInfo {
            base_manifest_sha256: base_sha,
            base_kind: base.kind,
            base_dir: since.display().to_string(),
            sequence: base.delta.as_ref().map(|d| d.sequence + 1).unwrap_or(1),
            start,
            end,
            transactions,
            row_changes,
            excluded_tables: excluded,
        }),
    };
    let json = m.to_json();
    let manifest_sha256 = sha256_hex(&json);
    let mut sums: Vec<(String, String)> = m
        .files()
        .map(|(_, f)| (f.sha256.clone(), f.path.clone()))
        .collect();
    sums.push((manifest_sha256.clone(), MANIFEST_FILE.into()));
    manifest::write_atomically(&dir.join(SUMS_FILE), manifest::sums_text(&sums).as_bytes())?;
    manifest::write_atomically(&dir.join(MANIFEST_FILE), &json)?;
    manifest::sync_dir(&dir)?;
    Ok(ExportOutcome {
        dump_dir: dir,
        manifest: m,
        manifest_sha256,
        resumed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip() {
        let mut v = Vec::new();
        push_cell(&mut v, Some(b"a,b"));
        push_cell(&mut v, None);
        push_cell(&mut v, Some(b""));
        let got: Vec<Option<&[u8]>> = Cells(&v).collect();
        assert_eq!(got, [Some(&b"a,b"[..]), None, Some(&b""[..])]);
    }
}
