//! waybill-export: dump a MySQL/MariaDB or SQLite database, or MongoDB's mongodump or
//! mongoexport files, to typed CSV files and a checksummed manifest. Prints the dump
//! directory as the last line of stdout (`--dry-run`: what would be written; `--json`:
//! a JSON document instead).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use regex::Regex;
use serde_json::{Map, Value, json};
use waybill::Error;
use waybill::audit::{AuditLog, Run};
use waybill::cli::json::{self, Clock, Warnings, round3};
use waybill::cli::report::{self, Progress, Stream, Unit, thousands};
use waybill::cli::{self, AuditArgs, ParentRunArgs, SourceArgs};
use waybill::dump::collection::Shape;
use waybill::dump::encoding::NulPolicy;
use waybill::dump::manifest::{Compress, LogPosition, Manifest};
use waybill::export::{self, ExportObserver, ExportPlan, Preview};
use waybill::source::{ColumnCast, Flatten};

#[derive(Parser, Debug)]
#[command(
    name = "waybill-export",
    version,
    about = "Dump a MySQL/MariaDB or SQLite database, or MongoDB's mongodump/mongoexport files, to typed CSV files with a checksummed manifest"
)]
struct Args {
    #[command(flatten)]
    source: SourceArgs,

    /// Directory that receives <database>/<YYYYMMDD_HHMMSS>/ (UTC).
    #[arg(
        long,
        value_name = "DIR",
        env = "WAYBILL_OUT_DIR",
        default_value = "csv_exports"
    )]
    out: PathBuf,

    /// Export only these base tables (comma-separated, exact names).
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    tables: Option<Vec<String>>,

    /// Skip tables whose name matches this regular expression (unanchored; use ^...$).
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,

    /// Parallel connections (tables and chunks exported at once).
    #[arg(long, value_name = "N", env = "WAYBILL_JOBS", default_value_t = 4)]
    jobs: usize,

    /// What to do with NUL bytes in text values, which PostgreSQL cannot store.
    #[arg(long, value_enum, default_value_t = NulArg::Error)]
    nul: NulArg,

    /// Split tables larger than this (estimated from the source) into chunk files by
    /// primary key range; 0 never splits.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = cli::parse_size)]
    chunk_size: u64,

    /// Rows per chunk file; overrides --chunk-size.
    #[arg(long, value_name = "ROWS")]
    chunk_rows: Option<u64>,

    /// SQLite: export a column in this form whatever its declared type says, e.g.
    /// orders.qty=text for a column holding numbers and text. KIND: text, blob,
    /// integer, real, decimal, boolean, datetime, unix_seconds, unix_ms, date, time,
    /// json. Repeat for more columns.
    #[arg(long = "cast", value_name = "TABLE.COLUMN=KIND")]
    casts: Vec<String>,

    /// SQLite: also export application-internal tables (Prisma's _prisma_migrations),
    /// which are skipped by default.
    #[arg(long)]
    include_internal: bool,
    /// Fail, naming table, column and primary key, on the first value holding bytes that
    /// are invalid in its column's charset (an `ascii` column with byte 0xE9, say). By
    /// default the server's `?` replacement is exported, warned about and counted per
    /// column in the manifest (`invalid_charset`).
    #[arg(long)]
    strict_charset: bool,

    /// Write the data files compressed: `zstd` or `zstd:LEVEL` (1 to 19, default 1), as
    /// `<name>.csv.zst`. The manifest's sizes and sha256 are the compressed files', so
    /// `sha256sum -c SHA256SUMS` still checks them; waybill-import and waybill-verify
    /// read them as they are. Default: plain CSV.
    #[arg(long, value_name = "zstd[:LEVEL]", env = "WAYBILL_COMPRESS", value_parser = Compress::parse)]
    compress: Option<Compress>,

    /// Catch-up: instead of a full dump, write a delta of the changes made since the dump
    /// in DUMP_DIR (a full dump, or the previous delta), read from the source's binary
    /// log (ROW format). The delta covers the same tables, with the same options, as
    /// its base; `waybill-import DELTA_DIR` applies it.
    #[arg(
        long,
        value_name = "DUMP_DIR",
        conflicts_with_all = ["tables", "exclude", "chunk_size", "chunk_rows", "casts", "include_internal", "nul", "flatten", "dry_run"]
    )]
    since: Option<PathBuf>,

    /// Finish the interrupted export in DUMP_DIR (killed, stopped by Ctrl-C or SIGTERM,
    /// or failed): its finished files whose size and sha256 check out are kept, the rest
    /// is exported, then the manifest is written. Only when the source provably has not
    /// changed since the interrupted export's snapshot (same binlog position and GTID
    /// set, or no change to an exported table in the binary log since); give the same
    /// --source and options it ran with (--jobs may differ). MySQL/MariaDB only.
    #[arg(long, value_name = "DUMP_DIR", conflicts_with_all = ["since", "dry_run"])]
    resume: Option<PathBuf>,

    /// MongoDB: give these collections (comma-separated; all without a value) one typed
    /// column per top-level field, inferred from every document, instead of `_id` plus
    /// the whole document in `doc jsonb`.
    #[arg(
        long,
        value_name = "a,b",
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = "",
        value_delimiter = ','
    )]
    flatten: Option<Vec<String>>,

    /// Read the source and print, per table or collection, its rows, the columns it
    /// would get (with their PostgreSQL types) and any problems; write nothing.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    audit: AuditArgs,

    #[command(flatten)]
    parent: ParentRunArgs,

    /// No progress bars and no summary; errors are still printed.
    #[arg(long, short)]
    quiet: bool,

    /// Print one JSON document on stdout at the end (per table and totals, status, dump
    /// directory, run id, timings, warnings), also when the export fails; everything
    /// else goes to stderr. Not with --dry-run (its preview is the output).
    #[arg(long, conflicts_with = "dry_run")]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum NulArg {
    /// Fail, naming table, column and primary key.
    Error,
    /// Remove NUL bytes; the manifest counts the values changed.
    Strip,
}

fn main() -> ExitCode {
    cli::run_main("waybill-export", cli::OnSignal::Stop, run)
}

fn plan(args: &Args) -> anyhow::Result<ExportPlan> {
    Ok(ExportPlan {
        source: args.source.resolve()?,
        out_dir: args.out.clone(),
        tables: args.tables.clone(),
        exclude: args
            .exclude
            .as_deref()
            .map(Regex::new)
            .transpose()
            .context("--exclude is not a valid regular expression")?,
        jobs: args.jobs.max(1),
        nul: match args.nul {
            NulArg::Error => NulPolicy::Error,
            NulArg::Strip => NulPolicy::Strip,
        },
        chunk_bytes: args.chunk_size,
        chunk_rows: args.chunk_rows,
        casts: args
            .casts
            .iter()
            .map(|c| ColumnCast::parse(c))
            .collect::<Result<_, _>>()?,
        include_internal: args.include_internal,
        since: args.since.clone(),
        resume: args.resume.clone(),
        strict_charset: args.strict_charset,
        compress: args.compress,
        flatten: match &args.flatten {
            None => Flatten::Off,
            Some(names) if names.iter().all(|n| n.trim().is_empty()) => Flatten::All,
            Some(names) => Flatten::Collections(
                names
                    .iter()
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect(),
            ),
        },
    })
}

/// `--dry-run`: the preview on stdout; problems that would stop the export make it fail.
fn dry_run(plan: &ExportPlan, quiet: bool) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(quiet);
    let observer = DryRunObserver {
        progress: &progress,
    };
    let p = export::preview(plan, &observer)?;
    progress.clear();
    print!("{}", render_preview(&p));
    if p.problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow::anyhow!(
            "dry run: {} problem(s) would stop the export (listed above)",
            p.problems.len()
        ))
    }
}

struct DryRunObserver<'a> {
    progress: &'a Progress,
}

impl ExportObserver for DryRunObserver<'_> {
    fn warn(&self, message: &str) {
        self.progress.warn(message);
    }
}

fn render_preview(p: &Preview) -> String {
    let mut out = format!(
        "dry run: {} ({} table(s)); nothing was written\n",
        p.source
            .path
            .clone()
            .unwrap_or_else(|| p.source.database.clone()),
        p.tables.len()
    );
    for t in &p.tables {
        let (what, unit) = match &t.collection {
            Some(c) => (
                format!(
                    "collection `{}`: {} document(s), {}",
                    t.name,
                    t.rows,
                    match c.shape {
                        Shape::Doc => "_id + doc jsonb",
                        Shape::Flatten => "flattened",
                    }
                ),
                "BSON types",
            ),
            None => (
                format!("table `{}`: {} row(s)", t.name, t.rows),
                "source type",
            ),
        };
        out.push_str(&format!("\n{what}\n"));
        let rows: Vec<Vec<String>> = t
            .columns
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.pg_type.clone(),
                    if c.nullable { "yes" } else { "no" }.into(),
                    c.source.clone(),
                ]
            })
            .collect();
        out.push_str(&report::render_table(
            &["column", "PostgreSQL type", "nullable", unit],
            &rows,
        ));
        if let Some(c) = &t.collection
            && c.shape == Shape::Doc
            && !c.fields.is_empty()
        {
            out.push_str("fields (--flatten makes them columns):\n");
            for f in &c.fields {
                out.push_str(&format!("  {}: {}\n", f.name, f.describe()));
            }
        }
    }
    if !p.views.is_empty() {
        out.push_str(&format!(
            "\nviews (not exported, definitions kept in the manifest): {}\n",
            p.views.join(", ")
        ));
    }
    if !p.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in &p.notes {
            out.push_str(&format!("  {n}\n"));
        }
    }
    if !p.problems.is_empty() {
        out.push_str("\nproblems (the export would stop):\n");
        for n in &p.problems {
            out.push_str(&format!("  {n}\n"));
        }
    }
    out
}

/// What a run knows for its `--json` document, also when it fails.
#[derive(Default)]
struct Known {
    run_id: Option<String>,
    parent_run_id: Option<String>,
    source: Option<String>,
    dump_dir: Mutex<Option<PathBuf>>,
}

impl Known {
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("run_id".into(), json!(self.run_id));
        m.insert("parent_run_id".into(), json!(self.parent_run_id));
        m.insert("source".into(), json!(self.source));
        let dir = self.dump_dir.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(
            "dump_dir".into(),
            json!(dir.as_ref().map(|d| d.display().to_string())),
        );
        m
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let clock = Clock::default();
    let warnings = Warnings::default();
    let mut known = Known::default();
    let result = export(&args, &clock, &warnings, &mut known);
    if args.json
        && let Err(e) = &result
    {
        let mut fields = known.fields();
        fields.extend(clock.fields());
        fields.insert("warnings".into(), json!(warnings.all()));
        json::emit(&json::failed("waybill-export", e, fields));
    }
    result
}

fn export(
    args: &Args,
    clock: &Clock,
    warnings: &Warnings,
    known: &mut Known,
) -> anyhow::Result<ExitCode> {
    let plan = plan(args)?;
    if args.dry_run {
        return dry_run(&plan, args.quiet);
    }
    let audit = Run::new(AuditLog::new(&args.audit.audit_log), "export");
    audit.set_parent_run_id(args.parent.parent_run.clone());
    audit.set_source(plan.source.redacted());
    known.run_id = Some(audit.run_id());
    known.parent_run_id = args.parent.parent_run.clone().filter(|s| !s.is_empty());
    known.source = Some(plan.source.redacted());
    let known = &*known;
    let what = match (&plan.since, &plan.resume) {
        (Some(base), _) => format!(
            "catch-up export of {} since {}",
            plan.source,
            base.display()
        ),
        (None, Some(dir)) => format!("resumed export of {} into {}", plan.source, dir.display()),
        (None, None) => format!("export of {}", plan.source),
    };
    audit
        .write(audit.event("started", format!("{what} started")))
        .context(
            "cannot write the audit log (use --audit-log or WAYBILL_AUDIT_LOG to put it elsewhere)",
        )?;
    let progress = Progress::new(args.quiet);
    let observer = Observer {
        progress: &progress,
        audit: &audit,
        estimates: Mutex::new(HashMap::new()),
        tables: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        warnings,
        known,
    };
    match cli::catch_panic(|| export::run(&plan, &observer)) {
        Ok(out) => {
            progress.clear();
            audit.set_manifest_sha256(out.manifest_sha256.clone());
            let t = &out.manifest.totals;
            let message = match &out.manifest.delta {
                Some(d) => format!(
                    "delta export completed: {} upserts, {} deletes in {} files, binlog {}:{} to {}:{}",
                    count(&out.manifest, |t| t.upserts),
                    count(&out.manifest, |t| t.deletes),
                    t.files,
                    d.start.binlog_file,
                    d.start.binlog_position,
                    d.end.binlog_file,
                    d.end.binlog_position
                ),
                None => format!(
                    "export completed: {} tables, {} rows, {} files{}",
                    t.tables,
                    t.rows,
                    t.files,
                    out.resumed.as_ref().map(resumed_text).unwrap_or_default()
                ),
            };
            audit.write_or_warn(waybill::audit::Event {
                rows: Some(t.rows),
                bytes: Some(t.bytes),
                ..audit.event("completed", message)
            });
            // The dump directory once: on stdout when someone sees it there, else in the
            // summary.
            let path_on_stdout = !args.json && std::io::stdout().is_terminal();
            if !args.quiet {
                let dir = (!path_on_stdout).then_some(&*out.dump_dir);
                report::stderr_text(&if out.manifest.delta.is_some() {
                    delta_summary(&out.manifest, dir, clock.secs())
                } else {
                    summary(&out.manifest, dir, clock.secs())
                });
            }
            if args.json {
                json::emit(&document(&out, known, clock, warnings));
            } else {
                println!("{}", out.dump_dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            progress.clear();
            let message = match &e {
                Error::Interrupted(signal) => {
                    format!(
                        "export interrupted ({signal}); unfinished files removed, no manifest \
                         written{}",
                        resume_hint(known)
                            .map(|h| format!("; {h}"))
                            .unwrap_or_default()
                    )
                }
                e => format!("export failed: {e}"),
            };
            audit.write_or_warn(audit.event("failed", message));
            if let (Error::Interrupted(_), Some(hint), false) = (&e, resume_hint(known), args.quiet)
            {
                eprintln!("waybill-export: the files finished so far are kept; {hint}");
            }
            Err(e.into())
        }
    }
}

/// What a resumed export kept and redid, for the `completed` event.
fn resumed_text(r: &export::Resumed) -> String {
    let mut text = format!(
        "; resumed ({}): kept {} file(s) of the interrupted export, exported {}",
        r.proof,
        r.kept.len(),
        r.exported
    );
    if !r.redone.is_empty() {
        let redone: Vec<String> = r
            .redone
            .iter()
            .map(|(f, why)| format!("{f} ({why})"))
            .collect();
        text.push_str(&format!(", redid {}", redone.join(", ")));
    }
    text
}

/// How to finish an interrupted export, when it left files to keep (and its state).
fn resume_hint(known: &Known) -> Option<String> {
    let dir = known.dump_dir.lock().unwrap_or_else(|p| p.into_inner());
    dir.as_ref()
        .filter(|dir| dir.join("export_state.json").is_file())
        .map(|dir| {
            format!(
                "`waybill-export --resume {}` with the same options finishes it",
                dir.display()
            )
        })
}

/// The `--json` document of a completed export.
fn document(
    out: &export::ExportOutcome,
    known: &Known,
    clock: &Clock,
    warnings: &Warnings,
) -> Value {
    let m = &out.manifest;
    let tables: Vec<Value> = m
        .tables
        .iter()
        .map(|t| {
            json!({
                "name": t.name(),
                "rows": t.rows,
                "bytes": t.bytes,
                "files": t.files.len(),
                "seconds": round3(t.duration_secs),
                "rows_per_sec": rate(t.rows, t.duration_secs),
                "converted_to_null": t.nulled_values(),
                "upserts": t.upserts,
                "deletes": t.deletes,
            })
        })
        .collect();
    let tot = &m.totals;
    let mut doc = json::head("waybill-export", "completed");
    doc.extend(known.fields());
    doc.insert("dump_dir".into(), json!(out.dump_dir.display().to_string()));
    doc.insert("manifest_sha256".into(), json!(out.manifest_sha256));
    doc.extend(clock.fields());
    doc.insert("snapshot".into(), json!(m.snapshot));
    doc.insert("delta".into(), json!(m.delta));
    doc.insert(
        "resumed".into(),
        json!(out.resumed.as_ref().map(|r| json!({
            "proof": r.proof,
            "kept": r.kept,
            "redone": r
                .redone
                .iter()
                .map(|(file, why)| json!({"file": file, "why": why}))
                .collect::<Vec<_>>(),
            "exported": r.exported,
        }))),
    );
    doc.insert("tables".into(), json!(tables));
    doc.insert(
        "totals".into(),
        json!({
            "tables": tot.tables,
            "rows": tot.rows,
            "bytes": tot.bytes,
            "files": tot.files,
            "seconds": round3(tot.duration_secs),
            "rows_per_sec": rate(tot.rows, tot.duration_secs),
            "converted_to_null": tot.converted_to_null.values().sum::<u64>(),
        }),
    );
    doc.insert(
        "views_not_exported".into(),
        json!(m.views.iter().map(|v| v.name.as_str()).collect::<Vec<_>>()),
    );
    doc.insert("warnings".into(), json!(warnings.all()));
    Value::Object(doc)
}

fn rate(rows: u64, secs: f64) -> u64 {
    if secs > 0.0 {
        (rows as f64 / secs).round() as u64
    } else {
        0
    }
}

struct Observer<'a> {
    progress: &'a Progress,
    audit: &'a Run,
    /// Row estimates from information_schema, for the progress bars.
    estimates: Mutex<HashMap<String, u64>>,
    tables: AtomicUsize,
    done: AtomicUsize,
    warnings: &'a Warnings,
    known: &'a Known,
}

impl ExportObserver for Observer<'_> {
    fn started(&self, dump_dir: &Path, tables: &[(String, u64)]) {
        self.audit.set_dump_dir(dump_dir);
        *self
            .known
            .dump_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(dump_dir.to_path_buf());
        let estimate: u64 = tables.iter().map(|(_, n)| n).sum();
        self.progress.info(&format!(
            "exporting {} tables (about {} rows)",
            tables.len(),
            thousands(estimate)
        ));
        self.tables.store(tables.len(), Ordering::SeqCst);
        self.progress
            .overall("export", estimate, Unit::Rows, 0, tables.len());
        self.estimates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tables.iter().cloned());
    }

    fn table_started(&self, table: &str) {
        let total = self
            .estimates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .copied()
            .unwrap_or(0);
        self.progress.start(table, total, Unit::Rows, 0);
    }

    fn rows(&self, table: &str, added: u64) {
        self.progress.inc(table, added);
    }

    fn bytes(&self, table: &str, added: u64) {
        self.progress.bytes(table, added);
    }

    fn table_done(&self, table: &str, rows: u64, bytes: u64, secs: f64) {
        self.progress.finish(table);
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.progress
            .table_finished(done, self.tables.load(Ordering::SeqCst));
        self.audit.write_or_warn(waybill::audit::Event {
            table: Some(table.to_string()),
            rows: Some(rows),
            bytes: Some(bytes),
            ..self
                .audit
                .event("in_progress", format!("table exported in {secs:.1}s"))
        });
    }

    fn warn(&self, message: &str) {
        self.warnings.push(message);
        self.progress.warn(message);
    }

    fn catching_up(&self, dump_dir: &Path, start: &LogPosition, end: &LogPosition) {
        self.audit.set_dump_dir(dump_dir);
        self.progress.info(&format!(
            "catching up from binlog {}:{} to {}:{} into {}",
            start.binlog_file,
            start.binlog_position,
            end.binlog_file,
            end.binlog_position,
            dump_dir.display()
        ));
    }
}

fn count(m: &Manifest, f: impl Fn(&waybill::dump::manifest::TableEntry) -> Option<u64>) -> u64 {
    m.tables.iter().filter_map(f).sum()
}

fn delta_summary(m: &Manifest, dir: Option<&Path>, elapsed: f64) -> String {
    let mut rows: Vec<Vec<String>> = m
        .tables
        .iter()
        .filter(|t| t.upserts.is_some_and(|n| n > 0) || t.deletes.is_some_and(|n| n > 0))
        .map(|t| {
            vec![
                t.name().to_string(),
                thousands(t.upserts.unwrap_or(0)),
                thousands(t.deletes.unwrap_or(0)),
                report::human_bytes(t.bytes),
                t.files.len().to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "TOTAL".into(),
        thousands(count(m, |t| t.upserts)),
        thousands(count(m, |t| t.deletes)),
        report::human_bytes(m.totals.bytes),
        m.totals.files.to_string(),
    ]);
    let mut out = report::render_table_for(
        Stream::Stderr,
        &["table", "upserts", "deletes", "size", "files"],
        &rows,
    );
    if let Some(d) = &m.delta {
        out.push_str(&format!(
            "delta {} after {} {}: binlog {}:{} to {}:{}, {} transaction(s), {} row change(s) folded\n",
            d.sequence,
            d.base_kind.as_str(),
            d.base_dir,
            d.start.binlog_file,
            d.start.binlog_position,
            d.end.binlog_file,
            d.end.binlog_position,
            d.transactions,
            d.row_changes
        ));
        for x in &d.excluded_tables {
            out.push_str(&format!(
                "not carried: `{}` ({}; {} change(s) in this range)\n",
                x.name, x.reason, x.changes
            ));
        }
    }
    out.push_str(&format!("elapsed: {}\n", report::elapsed(elapsed)));
    if let Some(dir) = dir {
        out.push_str(&format!("delta: {}\n", dir.display()));
    }
    out
}

/// The summary table (to the terminal's width), the snapshot, and the dump directory
/// when `dir` is given.
fn summary(m: &Manifest, dir: Option<&Path>, elapsed: f64) -> String {
    let mut rows: Vec<Vec<String>> = m
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name().to_string(),
                thousands(t.rows),
                report::human_bytes(t.bytes),
                t.files.len().to_string(),
                format!("{:.2}", t.duration_secs),
                report::per_second(t.rows, t.duration_secs),
                thousands(t.nulled_values()),
            ]
        })
        .collect();
    let tot = &m.totals;
    rows.push(vec![
        "TOTAL".into(),
        thousands(tot.rows),
        report::human_bytes(tot.bytes),
        tot.files.to_string(),
        format!("{:.2}", tot.duration_secs),
        report::per_second(tot.rows, tot.duration_secs),
        thousands(tot.converted_to_null.values().sum::<u64>()),
    ]);
    let mut out = report::render_table_for(
        Stream::Stderr,
        &[
            "table", "rows", "size", "files", "seconds", "rows/s", "to NULL",
        ],
        &rows,
    );
    out.push_str(&format!(
        "snapshot: {} ({}){}\n",
        if m.snapshot.consistent {
            "consistent"
        } else {
            "NOT consistent"
        },
        m.snapshot.method,
        match (&m.snapshot.binlog_file, m.snapshot.binlog_position) {
            (Some(f), Some(p)) => format!(", binlog {f}:{p}"),
            _ => String::new(),
        }
    ));
    if !m.views.is_empty() {
        out.push_str(&format!(
            "views not exported (listed in the manifest): {}\n",
            m.views
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&format!("elapsed: {}\n", report::elapsed(elapsed)));
    if let Some(dir) = dir {
        out.push_str(&format!("dump: {}\n", dir.display()));
    }
    out
}
