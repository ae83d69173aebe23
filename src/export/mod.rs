//! The export engine: one consistent snapshot, tables (and chunks of large tables) streamed
//! in parallel into CSV files, then the manifest. Rows are never collected: each file is
//! written row by row through a buffer that hashes as it goes, lands as `*.partial`, is
//! fsynced and renamed when complete. The manifest (and SHA256SUMS) are written only after
//! every file is in place, so a dump directory without a manifest is known to be
//! incomplete, whatever killed the export. Until then `export_state.json` records the
//! snapshot, the options, the chunk plan and every finished file, so that `resume`
//! (`--resume`) can finish an interrupted export when the source has not changed.
//!
//! `preview` (`--dry-run`) stops after the snapshot: the source's catalog and, for
//! sources whose columns follow the data (SQLite, MongoDB), its pass over the data,
//! with nothing written. `delta`: catch-up (`--since`), the changes after a base dump as
//! a delta dump.

mod delta;
mod preview;
mod resume;

pub use preview::{Preview, PreviewColumn, PreviewTable, preview};

use std::collections::{HashMap, HashSet};
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
use crate::dump::schema::{Table, View};
use crate::error::{Error, Result};
use crate::interrupt::{self, Signal};
use crate::source::{
    self, ChangeSink, ChangeTable, ColumnCast, Flatten, KeyRange, Reader, Row, SourceSpec,
    SourceTable,
};
use crate::timefmt;
use resume::{ExportState, StateFile, StateTable};

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
    /// `--resume DUMP_DIR`: finish the interrupted export in this directory (the other
    /// options must be the ones it ran with) instead of starting a new one.
    pub resume: Option<PathBuf>,
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
    /// For `--resume`: what was kept and redone.
    pub resumed: Option<Resumed>,
}

/// What a resumed export found and did.
#[derive(Clone, Debug, Default)]
pub struct Resumed {
    /// Why the source is known to be unchanged since the snapshot.
    pub proof: String,
    /// Files of the interrupted export kept (their size and sha256 checked out).
    pub kept: Vec<String>,
    /// Files it had finished that are exported again, each with the reason.
    pub redone: Vec<(String, String)>,
    /// Files exported by this run (the redone ones and those never finished).
    pub exported: usize,
}

struct TableJob {
    src: SourceTable,
    base: String,
    /// Split into chunk files by primary-key range when large.
    splittable: bool,
    encoders: Vec<CellEncoder>,
    key_positions: Vec<usize>,
    /// 1: one file; more: split into about this many key ranges, planned with
    /// `est_rows` (both recorded in the export state, so a resumed run plans the same).
    chunks: u64,
    est_rows: u64,
    /// Resumed: finished files of the interrupted export that are kept, by chunk index
    /// (0 for a table in one file).
    kept: HashMap<usize, StateFile>,
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

/// The export state and when it may next be written. Each write rewrites the whole
/// file (with fsyncs), so writes are spaced to take at most about 5% of the time: a
/// file finished since the last write is recorded by the next one, or by the final
/// write when the export stops; only a SIGKILL can lose it (it is then exported again).
struct Progress {
    state: ExportState,
    unwritten: bool,
    next_write: Instant,
}

struct Engine<'a> {
    plan: &'a ExportPlan,
    obs: &'a dyn ExportObserver,
    dir: PathBuf,
    readers: Mutex<Vec<Box<dyn Reader>>>,
    failure: Mutex<Option<Error>>,
    abort: AtomicBool,
    /// The export state, rewritten after finished files.
    progress: Mutex<Progress>,
    /// Files written by this run.
    exported: std::sync::atomic::AtomicUsize,
}

pub fn run(plan: &ExportPlan, obs: &dyn ExportObserver) -> Result<ExportOutcome> {
    if let Some(base) = &plan.since {
        return delta::run(plan, base, obs);
    }
    let started_at = timefmt::now();
    let clock = Instant::now();
    // Resuming: everything that needs no source is checked first.
    let recorded = match &plan.resume {
        Some(given) => {
            refuse_unprovable(&plan.source)?;
            let dir = resume::dump_dir(given)?;
            let state = resume::load(&dir)?;
            let differences =
                resume::option_differences(&state, &options(plan, plan.jobs), plan.chunk_rows);
            if !differences.is_empty() {
                return Err(Error::config(format!(
                    "cannot resume the export in {}: it must run with the options the \
                     interrupted export ran with, and these differ: {}",
                    dir.display(),
                    differences.join("; ")
                )));
            }
            if state.snapshot.binlog_file.is_none() || state.snapshot.binlog_position.is_none() {
                return Err(Error::config(format!(
                    "cannot resume the export in {}: its snapshot recorded no binlog position \
                     (binary logging off, or not readable by the account), so nothing can show \
                     that the source has not changed since; start a fresh export",
                    dir.display()
                )));
            }
            Some((dir, state))
        }
        None => None,
    };
    let mut src = source::open(&plan.source, &plan.casts, &plan.flatten)?;
    let described = src.describe();
    if let Some((dir, state)) = &recorded {
        same_server(dir, &state.source, &described)?;
    }
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
    let catalog_sha256 = resume::catalog_sha256(
        &selected.iter().map(|t| &t.schema).collect::<Vec<_>>(),
        &catalog.views,
    );
    let mut resumed = None;
    if let Some((dir, state)) = &recorded {
        if state.catalog_sha256 != catalog_sha256 {
            return Err(Error::config(format!(
                "cannot resume the export in {}: the exported tables' definitions are not \
                 the ones the interrupted export read; start a fresh export",
                dir.display()
            )));
        }
        let proof = prove_unchanged(plan, dir, state, &snapshot, &selected, &catalog.views)?;
        resumed = Some(Resumed {
            proof,
            ..Resumed::default()
        });
    }
    let dir = match &recorded {
        Some((dir, _)) => dir.clone(),
        None => create_dump_dir(&plan.out_dir, &db, started_at)?,
    };
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
    let mut jobs: Vec<TableJob> = selected
        .into_iter()
        .map(|src| table_job(src, plan, splits, &mut namer))
        .collect();
    let workers = readers.len();
    let state = match recorded {
        None => {
            let state = ExportState {
                format: resume::STATE_FORMAT.into(),
                format_version: resume::STATE_VERSION,
                created_at: timefmt::rfc3339(started_at),
                source: described.clone(),
                snapshot: snapshot.clone(),
                options: options(plan, workers),
                chunk_rows: plan.chunk_rows,
                catalog_sha256,
                tables: jobs
                    .iter()
                    .map(|t| StateTable {
                        name: t.src.schema.name.clone(),
                        base: t.base.clone(),
                        estimated_rows: t.est_rows,
                        chunks: t.chunks,
                    })
                    .collect(),
                files: Vec::new(),
            };
            resume::write(&dir, &state)?;
            state
        }
        Some((_, state)) => {
            let r = resumed.get_or_insert_with(Resumed::default);
            let state = keep_finished(&dir, state, &mut jobs, plan, r, obs)?;
            remove_partials(&dir);
            resume::write(&dir, &state)?;
            state
        }
    };

    let engine = Engine {
        plan,
        obs,
        dir: dir.clone(),
        readers: Mutex::new(readers),
        failure: Mutex::new(None),
        abort: AtomicBool::new(false),
        progress: Mutex::new(Progress {
            state,
            unwritten: false,
            next_write: Instant::now(),
        }),
        exported: std::sync::atomic::AtomicUsize::new(0),
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
    let progress = engine
        .progress
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(e) = failure {
        remove_partials(&dir);
        // What finished is kept for --resume (nothing finished: nothing to resume, the
        // directory is left empty); the export's own error comes first.
        let saved = if progress.state.files.is_empty() && resumed.is_none() {
            resume::remove(&dir)
        } else if progress.unwritten {
            resume::write(&dir, &progress.state)
        } else {
            Ok(())
        };
        if let Err(w) = saved {
            obs.warn(&format!("the export state could not be saved: {w}"));
        }
        return Err(e);
    }
    let state = progress.state;
    if let Some(r) = resumed.as_mut() {
        r.exported = engine.exported.into_inner();
    }

    let tables: Vec<TableEntry> = jobs.into_iter().map(finish_table).collect();
    for w in charset_warnings(&tables) {
        obs.warn(&w);
    }
    let totals = Totals::of(&tables, catalog.views.len(), clock.elapsed().as_secs_f64());
    // A resumed export describes the snapshot, the options and the start of the
    // interrupted one: its data is that snapshot's.
    let m = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        kind: DumpKind::Full,
        tool: Tool::current("waybill-export"),
        created_at: state.created_at,
        completed_at: timefmt::now_rfc3339(),
        source: described,
        snapshot: if resumed.is_some() {
            state.snapshot
        } else {
            snapshot
        },
        csv: CsvDialect::default(),
        options: state.options,
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
    resume::remove(&dir)?;
    Ok(ExportOutcome {
        dump_dir: dir,
        manifest: m,
        manifest_sha256,
        resumed,
    })
}

/// The options the manifest and the export state record.
fn options(plan: &ExportPlan, workers: usize) -> ExportOptions {
    ExportOptions {
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
    }
}

/// `--resume` needs a position that proves the source unchanged: SQLite and MongoDB
/// files have none.
fn refuse_unprovable(spec: &SourceSpec) -> Result<()> {
    let why = match spec {
        SourceSpec::MySql(_) => return Ok(()),
        SourceSpec::Sqlite(path) => format!(
            "the SQLite file {} has no binlog position or GTID set that could show it has \
             not changed since the interrupted export's snapshot",
            path.display()
        ),
        SourceSpec::Mongo(format, path) => format!(
            "the {} files in {} have no binlog position or GTID set that could show they \
             have not changed since the interrupted export's snapshot",
            format.tool(),
            path.display()
        ),
    };
    Err(Error::config(format!(
        "--resume: {why}; start a fresh export"
    )))
}

/// The source is the server and database the interrupted export read.
fn same_server(dir: &Path, was: &manifest::Source, now: &manifest::Source) -> Result<()> {
    let mut differ = Vec::new();
    if was.engine != now.engine {
        differ.push(format!("engine {} against {}", was.engine, now.engine));
    }
    if was.database != now.database {
        differ.push(format!(
            "database `{}` against `{}`",
            was.database, now.database
        ));
    }
    if was.server_id != now.server_id || was.server_uuid != now.server_uuid {
        differ.push("another server (server_id/server_uuid)".into());
    }
    if was.charset != now.charset || was.time_zone != now.time_zone {
        differ.push("another session charset or time zone".into());
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::config(format!(
        "cannot resume the export in {}: --source is not the source it read ({}); start a \
         fresh export",
        dir.display(),
        differ.join(", ")
    )))
}

fn show_position(s: &manifest::Snapshot) -> String {
    match (&s.binlog_file, s.binlog_position) {
        (Some(f), Some(p)) => format!("{f}:{p}"),
        _ => "unknown".into(),
    }
}

/// Shows that the source holds what the interrupted export's snapshot held: its binlog
/// position and GTID set are the recorded ones, or else the binary log from the
/// recorded position to now (read after this run's snapshot began) holds no change to
/// an exported table. Returns how it was shown.
fn prove_unchanged(
    plan: &ExportPlan,
    dir: &Path,
    state: &ExportState,
    now: &manifest::Snapshot,
    tables: &[SourceTable],
    views: &[View],
) -> Result<String> {
    let was = &state.snapshot;
    let refuse = |why: String| {
        Error::config(format!(
            "cannot resume the export in {}: {why}; start a fresh export",
            dir.display()
        ))
    };
    if now.binlog_file.is_some()
        && now.binlog_file == was.binlog_file
        && now.binlog_position == was.binlog_position
    {
        if let (Some(a), Some(b)) = (&was.gtid, &now.gtid)
            && a != b
        {
            return Err(refuse(format!(
                "the source changed since the snapshot: its GTID set was {a} and is now {b}"
            )));
        }
        return Ok(format!("binlog position {} unchanged", show_position(was)));
    }
    // The position moved (other databases on the server are written too): read what
    // was logged since, counting the changes to the exported tables.
    let base = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        kind: DumpKind::Full,
        tool: Tool::current("waybill-export"),
        created_at: state.created_at.clone(),
        completed_at: state.created_at.clone(),
        source: state.source.clone(),
        snapshot: was.clone(),
        csv: CsvDialect::default(),
        options: state.options.clone(),
        tables: tables
            .iter()
            .map(|t| TableEntry::empty(t.schema.clone()))
            .collect(),
        views: views.to_vec(),
        totals: Totals::default(),
        delta: None,
    };
    let mut changes = source::open_changes(&plan.source, &base).map_err(|e| {
        refuse(format!(
            "the binlog position moved from {} to {}, and the binary log could not be read \
             to show that no exported table changed: {e}",
            show_position(was),
            show_position(now)
        ))
    })?;
    let (start, end) = (changes.start().clone(), changes.end().clone());
    let watched: Vec<ChangeTable> = tables
        .iter()
        .map(|t| ChangeTable {
            schema: &t.schema,
            carry: false,
        })
        .collect();
    let mut counter = ChangeCounter(vec![0; tables.len()]);
    changes.read(&watched, &mut counter).map_err(|e| {
        refuse(format!(
            "the source changed since the snapshot (binlog {}:{} to {}:{}): {e}",
            start.binlog_file, start.binlog_position, end.binlog_file, end.binlog_position
        ))
    })?;
    let changed: Vec<String> = tables
        .iter()
        .zip(&counter.0)
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("table `{}`: {n} row change(s)", t.schema.name))
        .collect();
    if !changed.is_empty() {
        return Err(refuse(format!(
            "the source changed since the snapshot: the binary log from {}:{} to {}:{} holds \
             {}",
            start.binlog_file,
            start.binlog_position,
            end.binlog_file,
            end.binlog_position,
            changed.join(", ")
        )));
    }
    Ok(format!(
        "binary log from {}:{} to {}:{} holds no change to an exported table",
        start.binlog_file, start.binlog_position, end.binlog_file, end.binlog_position
    ))
}

/// Counts the row changes per table (none are carried).
struct ChangeCounter(Vec<u64>);

impl ChangeSink for ChangeCounter {
    fn change(&mut self, table: usize, _: Option<&dyn Row>, _: Option<&dyn Row>) -> Result<()> {
        self.0[table] += 1;
        Ok(())
    }
    fn uncarried(&mut self, table: usize) {
        self.0[table] += 1;
    }
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
    fn rollback(&mut self) {}
    fn note(&mut self, _: String) {}
}

/// Resumed: takes the recorded tables' chunk plans and the finished files that check
/// out; returns the state to go on with (the kept files only).
fn keep_finished(
    dir: &Path,
    mut state: ExportState,
    jobs: &mut [TableJob],
    plan: &ExportPlan,
    report: &mut Resumed,
    obs: &dyn ExportObserver,
) -> Result<ExportState> {
    let corrupt = |why: String| {
        Error::config(format!(
            "cannot resume the export in {}: {}: {why}; start a fresh export",
            dir.display(),
            resume::STATE_FILE
        ))
    };
    let same = state.tables.len() == jobs.len()
        && state
            .tables
            .iter()
            .zip(jobs.iter())
            .all(|(s, j)| s.name == j.src.schema.name && s.base == j.base);
    if !same {
        return Err(corrupt(
            "its tables and file names are not the ones this export selects".into(),
        ));
    }
    let by_name: HashMap<String, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.src.schema.name.clone(), i))
        .collect();
    for (s, j) in state.tables.iter().zip(jobs.iter_mut()) {
        if s.chunks > 1 && !j.splittable {
            return Err(corrupt(format!(
                "table `{}` is recorded in {} chunks but cannot be split",
                s.name, s.chunks
            )));
        }
        j.chunks = s.chunks;
        j.est_rows = s.estimated_rows;
    }
    let compression = plan.compress.map(|c| c.algorithm);
    let mut kept = Vec::new();
    for f in std::mem::take(&mut state.files) {
        let Some(j) = by_name.get(&f.table).and_then(|&i| jobs.get_mut(i)) else {
            continue;
        };
        let expected = names::data_file(&j.base, (f.index > 0).then_some(f.index), compression);
        let problem = if f.file.path != expected {
            Some(format!("it is not the file expected for it ({expected})"))
        } else if f.file.compression != compression {
            Some("its compression is not this export's".into())
        } else if f.stats.len() != j.src.schema.columns.len() {
            Some("its column facts do not match the table's columns".into())
        } else {
            resume::check_file(dir, &f.file).err()
        };
        match problem {
            None => {
                report.kept.push(f.file.path.clone());
                j.kept.insert(f.index, f.clone());
                kept.push(f);
            }
            Some(why) => {
                obs.warn(&format!(
                    "{}: {why}; exporting it again",
                    printable_name(&f.file.path)
                ));
                report.redone.push((f.file.path.clone(), why));
            }
        }
    }
    state.files = kept;
    Ok(state)
}

fn printable_name(name: &str) -> String {
    crate::printable::escaped(name).to_string()
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
    let splittable = splits && source::splittable(t);
    TableJob {
        base: namer.base_for(&t.name),
        splittable,
        chunks: chunks_for(&src, splittable, plan),
        est_rows: src.estimated_rows,
        kept: HashMap::new(),
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

/// How many chunks a table is split into (1: one file), from the source's estimates.
fn chunks_for(t: &SourceTable, splittable: bool, plan: &ExportPlan) -> u64 {
    if !splittable {
        return 1;
    }
    let est_rows = t.estimated_rows.max(1);
    let rows_per_chunk = match plan.chunk_rows {
        Some(r) => r.max(1),
        None if plan.chunk_bytes == 0 => return 1,
        None => {
            let avg = (t.data_length / est_rows).max(1);
            (plan.chunk_bytes / avg).max(1)
        }
    };
    est_rows.div_ceil(rows_per_chunk)
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

    /// Exports one table: directly, or by planning chunks and spawning a job for each.
    fn table<'s>(&'s self, scope: &rayon::ScopeFifo<'s>, t: &'s TableJob) {
        if self.stopped() {
            return;
        }
        self.begin_work(t);
        let chunks = t.chunks;
        let result = if chunks > 1 {
            {
                t.state.lock().unwrap_or_else(|p| p.into_inner()).planning = true;
                let mut index = 0;
                let est = t.est_rows;
                let r = self.with_reader(|reader| {
                    reader.split(&t.src.schema, est, chunks, &mut |range| {
                        if self.stopped() {
                            return Err(self.stop_error());
                        }
                        index += 1;
                        let i = index;
                        if let Some(k) = t.kept.get(&i) {
                            // Planned again on the same data: the same boundaries.
                            if k.file.key_range.as_ref() != Some(&range.describe(&t.src.schema)) {
                                return Err(replanned_differently(&t.src.schema.name, i));
                            }
                            self.keep(t, i, k);
                            return Ok(());
                        }
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
                match r {
                    Ok(()) if t.kept.keys().any(|&k| k > index) => {
                        Err(replanned_differently(&t.src.schema.name, index + 1))
                    }
                    r => r,
                }
            }
        } else if let Some(k) = t.kept.get(&0) {
            self.keep(t, 0, k);
            Ok(())
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
        self.record(StateFile {
            table: table.name.clone(),
            index: chunk_index.unwrap_or(0),
            file: entry.clone(),
            stats: stats.clone(),
        })?;
        self.exported.fetch_add(1, Ordering::Relaxed);
        let mut st = t.state.lock().unwrap_or_else(|p| p.into_inner());
        st.rows += rows;
        st.bytes += bytes;
        for (total, s) in st.stats.iter_mut().zip(&stats) {
            total.merge(s);
        }
        st.files.push((chunk_index.unwrap_or(0), entry));
        Ok(())
    }

    /// Adds a finished file to the export state (written now, or later: `Progress`).
    fn record(&self, file: StateFile) -> Result<()> {
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        p.state.files.push(file);
        p.unwritten = true;
        let start = Instant::now();
        if start < p.next_write {
            return Ok(());
        }
        resume::write(&self.dir, &p.state)?;
        p.unwritten = false;
        p.next_write = Instant::now() + start.elapsed() * 20;
        Ok(())
    }

    /// Resumed: counts a kept file of the interrupted export as this table's.
    fn keep(&self, t: &TableJob, index: usize, k: &StateFile) {
        self.obs.rows(&t.src.schema.name, k.file.rows);
        let mut st = t.state.lock().unwrap_or_else(|p| p.into_inner());
        st.rows += k.file.rows;
        st.bytes += k.file.bytes;
        for (total, s) in st.stats.iter_mut().zip(&k.stats) {
            total.merge(s);
        }
        st.files.push((index, k.file.clone()));
    }
}

/// A resumed chunk plan that does not match the recorded one: the data is not the same.
fn replanned_differently(table: &str, chunk: usize) -> Error {
    Error::config(format!(
        "cannot resume: table `{table}`, chunk {chunk}: planned again on the source, its key \
         range is not the one the interrupted export recorded, so the source changed; start \
         a fresh export"
    ))
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
