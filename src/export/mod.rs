//! The export engine: one consistent snapshot, tables (and chunks of large tables) streamed
//! in parallel into CSV files, then the manifest. Rows are never collected: each file is
//! written row by row through a buffer that hashes as it goes, lands as `*.partial`, is
//! fsynced and renamed when complete. The manifest (and SHA256SUMS) are written only after
//! every file is in place, so a dump directory without a manifest is known to be
//! incomplete, whatever killed the export.
//!
//! `preview` (`--dry-run`) stops after the snapshot: the source's catalog and, for
//! sources whose columns follow the data (SQLite, MongoDB), its pass over the data,
//! with nothing written. `delta`: catch-up (`--since`), the changes after a base dump as
//! a delta dump.

mod delta;
mod preview;

pub use preview::{Preview, PreviewColumn, PreviewTable, preview};

use std::collections::HashSet;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use regex::Regex;

use crate::dump::csv::CsvWriter;
use crate::dump::encoding::{CellEncoder, CellError, ColumnStats, NulPolicy};
use crate::dump::files::DataWriter;
use crate::dump::hashing::sha256_hex;
use crate::dump::manifest::{
    self, Compress, CsvDialect, DumpKind, ExportOptions, FileEntry, LogPosition, MANIFEST_FILE,
    Manifest, SUMS_FILE, TableEntry, Tool, Totals,
};
use crate::dump::names::{self, FileNamer};
use crate::dump::schema::Table;
use crate::error::{Error, Result};
use crate::interrupt::{self, Signal};
use crate::source::{self, ColumnCast, Flatten, KeyRange, Reader, Row, SourceSpec, SourceTable};
use crate::timefmt;

/// What to export; built by the CLI from flags and env, or by a test.
#[derive(Clone, Debug)]
pub struct ExportPlan {
    pub source: SourceSpec,
    /// The dump goes to `<out_dir>/<database>/<YYYYMMDD_HHMMSS>/`.
    pub out_dir: PathBuf,
    pub tables: Option<Vec<String>>,
    pub exclude: Option<Regex>,
    pub jobs: usize,
    pub nul: NulPolicy,
    /// Split tables whose estimated size exceeds this into chunks (0: never split).
    pub chunk_bytes: u64,
    /// Rows per chunk; overrides `chunk_bytes` when set.
    pub chunk_rows: Option<u64>,
    /// `--cast TABLE.COLUMN=KIND` (SQLite): columns exported in a chosen form.
    pub casts: Vec<ColumnCast>,
    /// Export application-internal tables (Prisma's `_prisma_migrations`) too.
    pub include_internal: bool,
    /// Catch-up: write a delta of the changes since this dump (a full dump or a delta)
    /// instead of a full dump. The tables and options are the base's.
    pub since: Option<PathBuf>,
    /// Fail on the first value holding bytes that are invalid in its column's charset,
    /// instead of exporting it with `?` in their place and counting it.
    pub strict_charset: bool,
    /// MongoDB: the collections that get one column per top-level field.
    pub flatten: Flatten,
    /// `--compress`: data files are written compressed (`<name>.csv.zst`).
    pub compress: Option<Compress>,
}

/// Hooks for progress display and the audit trail. All methods may be called from
/// several threads at once.
pub trait ExportObserver: Sync {
    fn started(&self, _dump_dir: &Path, _tables: &[(String, u64)]) {}
    fn table_started(&self, _table: &str) {}
    fn rows(&self, _table: &str, _added: u64) {}
    /// Bytes written to a table's files since the last call (reported with `rows`).
    fn bytes(&self, _table: &str, _added: u64) {}
    fn table_done(&self, _table: &str, _rows: u64, _bytes: u64, _secs: f64) {}
    fn warn(&self, _message: &str) {}
    /// Catch-up: the delta goes to `dump_dir` and covers the changes from `start` to `end`.
    fn catching_up(&self, _dump_dir: &Path, _start: &LogPosition, _end: &LogPosition) {}
}

pub struct ExportOutcome {
    pub dump_dir: PathBuf,
    pub manifest: Manifest,
    pub manifest_sha256: String,
}

struct TableJob {
    src: SourceTable,
    base: String,
    /// Split into chunk files by primary-key range when large.
    splittable: bool,
    encoders: Vec<CellEncoder>,
    key_positions: Vec<usize>,
    state: Mutex<TableState>,
}

#[derive(Default)]
struct TableState {
    files: Vec<(usize, FileEntry)>,
    stats: Vec<ColumnStats>,
    rows: u64,
    bytes: u64,
    started: Option<Instant>,
    secs: f64,
    open: usize,
    planning: bool,
}

struct Engine<'a> {
    plan: &'a ExportPlan,
    obs: &'a dyn ExportObserver,
    dir: PathBuf,
    readers: Mutex<Vec<Box<dyn Reader>>>,
    failure: Mutex<Option<Error>>,
    abort: AtomicBool,
}

pub fn run(plan: &ExportPlan, obs: &dyn ExportObserver) -> Result<ExportOutcome> {
    if let Some(base) = &plan.since {
        return delta::run(plan, base, obs);
    }
    let started_at = timefmt::now();
    let clock = Instant::now();
    let mut src = source::open(&plan.source, &plan.casts, &plan.flatten)?;
    let described = src.describe();
    let db = described.database.clone();
    let splits = src.splits_tables();
    let catalog = src.catalog()?;
    for s in &catalog.skipped {
        obs.warn(&format!("`{}` {}: skipped", s.name, s.why));
    }
    let mut selected = select_tables(catalog.tables, plan, &db, obs)?;
    // The snapshot comes before the dump directory: a source may still refuse the
    // tables here (SQLite columns whose values cannot all be converted), and then
    // nothing has been written.
    let (readers, snapshot) = src.snapshot(plan.jobs.max(1), &mut selected)?;
    let dir = create_dump_dir(&plan.out_dir, &db, started_at)?;
    obs.started(
        &dir,
        &selected
            .iter()
            .map(|t| (t.schema.name.clone(), t.estimated_rows))
            .collect::<Vec<_>>(),
    );
    for n in &snapshot.notes {
        obs.warn(n);
    }
    let mut namer = FileNamer::new();
    let jobs: Vec<TableJob> = selected
        .into_iter()
        .map(|src| table_job(src, plan, splits, &mut namer))
        .collect();

    let workers = readers.len();
    let engine = Engine {
        plan,
        obs,
        dir: dir.clone(),
        readers: Mutex::new(readers),
        failure: Mutex::new(None),
        abort: AtomicBool::new(false),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("waybill-export-{i}"))
        .build()
        .map_err(|e| Error::config(format!("starting worker threads: {e}")))?;
    let mut order: Vec<&TableJob> = jobs.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse(t.src.data_length));
    pool.scope_fifo(|s| {
        for t in order {
            let engine = &engine;
            s.spawn_fifo(move |s| engine.table(s, t));
        }
    });
    // A signal that came before a job started stopped it without a failure of its own.
    let failure = engine
        .failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .or_else(|| interrupt::check().err());
    if let Some(e) = failure {
        remove_partials(&dir);
        return Err(e);
    }

    let tables: Vec<TableEntry> = jobs.into_iter().map(finish_table).collect();
    for w in charset_warnings(&tables) {
        obs.warn(&w);
    }
    let mut totals = Totals {
        tables: tables.len(),
        views: catalog.views.len(),
        duration_secs: clock.elapsed().as_secs_f64(),
        ..Totals::default()
    };
    for t in &tables {
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
    let m = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        kind: DumpKind::Full,
        tool: Tool::current("waybill-export"),
        created_at: timefmt::rfc3339(started_at),
        completed_at: timefmt::now_rfc3339(),
        source: described,
        snapshot,
        csv: CsvDialect::default(),
        options: ExportOptions {
            nul: plan.nul,
            chunk_bytes: plan.chunk_bytes,
            jobs: workers,
            tables: plan.tables.clone(),
            exclude: plan.exclude.as_ref().map(|r| r.as_str().to_string()),
            casts: plan.casts.iter().map(ToString::to_string).collect(),
            include_internal: plan.include_internal,
            strict_charset: plan.strict_charset,
            flatten: match &plan.flatten {
                Flatten::Off => None,
                Flatten::All => Some(vec!["*".into()]),
                Flatten::Collections(c) => Some(c.clone()),
            },
            compress: plan.compress.map(|c| c.to_string()),
        },
        tables,
        views: catalog.views,
        totals,
        delta: None,
    };
    let json = m.to_json();
    let manifest_sha256 = sha256_hex(&json);
    let mut sums: Vec<(String, String)> = m
        .files()
        .map(|(_, f)| (f.sha256.clone(), f.path.clone()))
        .collect();
    sums.push((manifest_sha256.clone(), MANIFEST_FILE.into()));
    manifest::write_atomically(&dir.join(SUMS_FILE), manifest::sums_text(&sums).as_bytes())?;
    // Last: its presence marks the dump complete.
    manifest::write_atomically(&dir.join(MANIFEST_FILE), &json)?;
    manifest::sync_dir(&dir)?;
    Ok(ExportOutcome {
        dump_dir: dir,
        manifest: m,
        manifest_sha256,
    })
}

fn select_tables(
    all: Vec<SourceTable>,
    plan: &ExportPlan,
    db: &str,
    obs: &dyn ExportObserver,
) -> Result<Vec<SourceTable>> {
    let mut tables = all;
    if let Some(wanted) = &plan.tables {
        let have: HashSet<&str> = tables.iter().map(|t| t.schema.name.as_str()).collect();
        let missing: Vec<&str> = wanted
            .iter()
            .map(String::as_str)
            .filter(|w| !have.contains(w))
            .collect();
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "--tables: no base table named {} in database `{db}`",
                missing.join(", "),
            )));
        }
        tables.retain(|t| wanted.contains(&t.schema.name));
    }
    if let Some(re) = &plan.exclude {
        tables.retain(|t| !re.is_match(&t.schema.name));
    }
    // An application's internal table is skipped unless asked for, by
    // --include-internal or by naming it in --tables.
    if !plan.include_internal && plan.tables.is_none() {
        tables.retain(|t| match &t.internal {
            Some(why) => {
                obs.warn(&format!(
                    "`{}` {why}: skipped (--include-internal exports it)",
                    t.schema.name
                ));
                false
            }
            None => true,
        });
    }
    if tables.is_empty() {
        return Err(Error::config(format!(
            "nothing to export: database `{db}` has no base tables left after --tables/--exclude"
        )));
    }
    Ok(tables)
}

fn create_dump_dir(out: &Path, db: &str, started: time::OffsetDateTime) -> Result<PathBuf> {
    // Absolute, so the path printed, logged and audited means the same thing anywhere.
    let out = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
    let parent = out.join(names::component(db));
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let mut t = started;
    for _ in 0..5 {
        let dir = parent.join(timefmt::stamp(t));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // Another export in the same second: take the next second.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(std::time::Duration::from_millis(1000));
                t = timefmt::now();
            }
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::config(format!(
        "could not create a fresh dump directory under {}",
        parent.display()
    )))
}

fn table_job(src: SourceTable, plan: &ExportPlan, splits: bool, namer: &mut FileNamer) -> TableJob {
    let t = &src.schema;
    let encoders = t
        .columns
        .iter()
        .map(|c| CellEncoder::new(c.encoding, c.precision, plan.nul))
        .collect();
    let key_positions = t
        .primary_key
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect();
    TableJob {
        base: namer.base_for(&t.name),
        splittable: splits && source::splittable(t),
        state: Mutex::new(TableState {
            stats: t
                .columns
                .iter()
                .map(|c| ColumnStats::for_encoding(c.encoding))
                .collect(),
            ..TableState::default()
        }),
        encoders,
        key_positions,
        src,
    }
}

fn finish_table(job: TableJob) -> TableEntry {
    let mut state = job.state.into_inner().unwrap_or_else(|p| p.into_inner());
    state.files.sort_by_key(|(i, _)| *i);
    let files: Vec<FileEntry> = state.files.into_iter().map(|(_, f)| f).collect();
    let mut schema = job.src.schema;
    for (c, s) in schema.columns.iter_mut().zip(state.stats) {
        c.stats = s;
    }
    TableEntry {
        sha256: (files.len() == 1).then(|| files[0].sha256.clone()),
        rows: state.rows,
        bytes: state.bytes,
        duration_secs: state.secs,
        files,
        schema,
        upserts: None,
        deletes: None,
    }
}

fn remove_partials(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().ends_with(".partial") {
            let _ = fs::remove_file(e.path());
        }
    }
}

impl Engine<'_> {
    fn stopped(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || interrupt::is_interrupted()
    }

    /// Why a job stops early: the signal, or (after another job failed) a stand-in that
    /// `fail` replaces with that job's error.
    fn stop_error(&self) -> Error {
        Error::Interrupted(interrupt::signal().unwrap_or(Signal::Int))
    }

    fn fail(&self, e: Error) {
        self.abort.store(true, Ordering::SeqCst);
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() || matches!(*f, Some(Error::Interrupted(_))) {
            *f = Some(e);
        }
    }

    /// Runs `f` on a free reader. A reader that saw an error is dropped, not reused:
    /// its state is unknown.
    fn with_reader<T>(&self, f: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        let mut reader = self
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .ok_or_else(|| Error::config("every source connection was lost"))?;
        let r = f(reader.as_mut());
        if r.is_ok() {
            self.readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(reader);
        }
        r
    }

    fn begin_work(&self, t: &TableJob) {
        let mut st = t.state.lock().unwrap_or_else(|p| p.into_inner());
        st.open += 1;
        if st.started.is_none() {
            st.started = Some(Instant::now());
            drop(st);
            self.obs.table_started(&t.src.schema.name);
        }
    }

    fn end_work(&self, t: &TableJob) {
        let mut st = t.state.lock().unwrap_or_else(|p| p.into_inner());
        st.open -= 1;
        if st.open == 0 && !st.planning {
            st.secs = st.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
            let (rows, bytes, secs) = (st.rows, st.bytes, st.secs);
            drop(st);
            if !self.stopped() {
                self.obs.table_done(&t.src.schema.name, rows, bytes, secs);
            }
        }
    }

    fn chunks_for(&self, t: &TableJob) -> u64 {
        if !t.splittable {
            return 1;
        }
        let est_rows = t.src.estimated_rows.max(1);
        let rows_per_chunk = match self.plan.chunk_rows {
            Some(r) => r.max(1),
            None if self.plan.chunk_bytes == 0 => return 1,
            None => {
                let avg = (t.src.data_length / est_rows).max(1);
                (self.plan.chunk_bytes / avg).max(1)
            }
        };
        est_rows.div_ceil(rows_per_chunk)
    }

    /// Exports one table: directly, or by planning chunks and spawning a job for each.
    fn table<'s>(&'s self, scope: &rayon::ScopeFifo<'s>, t: &'s TableJob) {
        if self.stopped() {
            return;
        }
        self.begin_work(t);
        let chunks = self.chunks_for(t);
        let result = if chunks > 1 {
            {
                t.state.lock().unwrap_or_else(|p| p.into_inner()).planning = true;
                let mut index = 0;
                let est = t.src.estimated_rows;
                let r = self.with_reader(|reader| {
                    reader.split(&t.src.schema, est, chunks, &mut |range| {
                        if self.stopped() {
                            return Err(self.stop_error());
                        }
                        index += 1;
                        let i = index;
                        self.begin_work(t);
                        scope.spawn_fifo(move |_| {
                            if !self.stopped() {
                                let r = self
                                    .with_reader(|r| self.export_file(r, t, Some(&range), Some(i)));
                                if let Err(e) = r {
                                    self.fail(e);
                                }
                            }
                            self.end_work(t);
                        });
                        Ok(())
                    })
                });
                t.state.lock().unwrap_or_else(|p| p.into_inner()).planning = false;
                r
            }
        } else {
            self.with_reader(|reader| self.export_file(reader, t, None, None))
        };
        if let Err(e) = result {
            self.fail(e);
        }
        self.end_work(t);
    }

    fn export_file(
        &self,
        reader: &mut dyn Reader,
        t: &TableJob,
        range: Option<&KeyRange>,
        chunk_index: Option<usize>,
    ) -> Result<()> {
        let table = &t.src.schema;
        let compress = self.plan.compress;
        let name = names::data_file(&t.base, chunk_index, compress.map(|c| c.algorithm));
        let out = DataWriter::create(self.dir.join(&name), compress)
            .map_err(|e| Error::io(self.dir.join(&name), e))?;
        let partial = out.partial().to_path_buf();
        let io_err = |e: std::io::Error| Error::io(&partial, e);
        let mut csv = CsvWriter::new(BufWriter::with_capacity(1 << 20, out));
        csv.header(&table.column_names()).map_err(io_err)?;

        let place = match chunk_index {
            Some(i) => format!("table `{}` (chunk {i})", table.name),
            None => format!("table `{}`", table.name),
        };
        let mut stats: Vec<ColumnStats> = table
            .columns
            .iter()
            .map(|c| ColumnStats::for_encoding(c.encoding))
            .collect();
        let mut scratch = Vec::new();
        let mut rows: u64 = 0;
        let mut unreported: u64 = 0;
        let mut reported_bytes: u64 = 0;
        let outcome = reader.read(table, range, &place, &mut |row: &dyn Row| {
            for (i, enc) in t.encoders.iter().enumerate() {
                if let Err(e) = enc.write(row.cell(i), &mut csv, &mut stats[i], &mut scratch) {
                    return Err(match e {
                        CellError::Io(e) => io_err(e),
                        CellError::Value(problem) => Error::Data {
                            table: table.name.clone(),
                            column: table.columns[i].name.clone(),
                            key: describe_key(table, &t.key_positions, row),
                            problem,
                        },
                    });
                }
            }
            for &i in &t.src.charset_checked {
                if row.replaced(i) {
                    if self.plan.strict_charset {
                        return Err(invalid_charset(table, i, &t.key_positions, row));
                    }
                    stats[i].invalid_charset += 1;
                }
            }
            csv.end_row().map_err(io_err)?;
            rows += 1;
            unreported += 1;
            if unreported == 4096 {
                self.obs.rows(&table.name, unreported);
                let buffered = csv.get_ref();
                let written = buffered.get_ref().bytes() + buffered.buffer().len() as u64;
                self.obs.bytes(&table.name, written - reported_bytes);
                reported_bytes = written;
                unreported = 0;
                if self.stopped() {
                    return Err(self.stop_error());
                }
            }
            Ok(())
        });
        if let Err(e) = outcome {
            drop(csv);
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
        self.obs.rows(&table.name, unreported);

        let buffered = csv.into_inner();
        let out = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
        self.obs.bytes(&table.name, out.bytes() - reported_bytes);
        let (sha256, bytes) = out.finish().map_err(io_err)?;

        let entry = FileEntry {
            path: name,
            rows,
            bytes,
            sha256,
            key_range: range.map(|r| r.describe(table)),
            role: None,
            compression: compress.map(|c| c.algorithm),
        };
        let mut st = t.state.lock().unwrap_or_else(|p| p.into_inner());
        st.rows += rows;
        st.bytes += bytes;
        for (total, s) in st.stats.iter_mut().zip(&stats) {
            total.merge(s);
        }
        st.files.push((chunk_index.unwrap_or(0), entry));
        Ok(())
    }
}

/// The `--strict-charset` error for column `i` of `row`.
fn invalid_charset(table: &Table, i: usize, key: &[usize], row: &dyn Row) -> Error {
    let c = &table.columns[i];
    let shown = String::from_utf8_lossy(row.cell(i).unwrap_or_default());
    let shown: String = shown.chars().take(40).collect();
    Error::Data {
        table: table.name.clone(),
        column: c.name.clone(),
        key: describe_key(table, key, row),
        problem: format!(
            "the value holds bytes that are not valid {charset}, which the server turned \
             into `?` (it arrives as {shown:?}); fix the value in the source, or export \
             without --strict-charset to keep the `?` and count such values in the manifest",
            charset = c.charset.as_deref().unwrap_or("in its charset"),
        ),
    }
}

/// One warning per column whose values had characters replaced.
fn charset_warnings(tables: &[TableEntry]) -> Vec<String> {
    let mut warnings = Vec::new();
    for t in tables {
        for c in &t.schema.columns {
            let n = c.stats.invalid_charset;
            if n > 0 {
                warnings.push(format!(
                    "table `{}`, column `{}`: {n} value(s) held bytes that are not valid {}; \
                     the server exported them with `?` in their place (counted in the \
                     manifest as invalid_charset; --strict-charset makes this an error)",
                    t.name(),
                    c.name,
                    c.charset.as_deref().unwrap_or("in the column's charset"),
                ));
            }
        }
    }
    warnings
}

/// `primary key (id=5)` for error messages, or the row's first columns without a key.
fn describe_key(table: &Table, key: &[usize], row: &dyn Row) -> String {
    let show = |i: usize| -> String {
        let v = match row.cell(i) {
            Some(b) => {
                let s = String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned();
                s.replace('\0', "\\0")
            }
            None => "NULL".into(),
        };
        format!("{}={v}", table.columns[i].name)
    };
    if key.is_empty() {
        let first: Vec<String> = (0..table.columns.len().min(3)).map(show).collect();
        format!("no primary key ({})", first.join(", "))
    } else {
        let parts: Vec<String> = key.iter().map(|&i| show(i)).collect();
        format!("primary key ({})", parts.join(", "))
    }
}
