//! waybill-import: verify a waybill dump against its manifest, then load it into
//! PostgreSQL in one transaction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use regex::Regex;
use serde_json::{Map, Value, json};
use waybill::Error;
use waybill::audit::{AuditLog, Event, Run};
use waybill::cli::json::{self, Clock, Warnings, round3};
use waybill::cli::report::{self, Progress, Stream, Unit, thousands};
use waybill::cli::{self, AuditArgs, NameArgs, ParentRunArgs, TargetArgs};
use waybill::dump::manifest::dir_of_manifest;
use waybill::dump::verify::VerifiedDump;
use waybill::import::{
    self, AllowLossy, Commit, CopyFormat, CopyFrom, ImportObserver, ImportOutcome, ImportPlan,
    Phase, TableStatus,
};
use waybill::target::ddl::SchemaOptions;
use waybill::target::names::MappedName;
use waybill::target::rules::CheckFile;
use waybill::target::typemap::CastRules;
use waybill::timefmt;

#[derive(Parser, Debug)]
#[command(
    name = "waybill-import",
    version,
    about = "Verify a waybill dump and load it into PostgreSQL, all or nothing; a delta dump (waybill-export --since) is applied on top of its base"
)]
struct Args {
    #[command(flatten)]
    target: TargetArgs,

    /// The dump directory (the one holding migration_manifest.json; the manifest file
    /// itself is taken to mean its directory): a full dump, or a delta from
    /// `waybill-export --since`, applied on top of its base.
    #[arg(value_name = "DUMP_DIR")]
    dump_dir: PathBuf,

    /// Target schema.
    #[arg(long, value_name = "NAME", default_value = "public")]
    schema: String,

    /// Load only these tables of the dump (comma-separated, names as in the dump).
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    tables: Option<Vec<String>>,

    /// Skip dump tables whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,

    /// Who reads the CSV files: this client (streams them), or the server from
    /// --server-dir on its own host.
    #[arg(long, value_enum, default_value_t = CopyFromArg::Stdin)]
    copy_from: CopyFromArg,

    /// Where the files are on the database server (with --copy-from server).
    #[arg(long, value_name = "PATH")]
    server_dir: Option<String>,

    /// Fail when a table of the dump has no table in the target (default: skip it).
    #[arg(long)]
    strict: bool,

    /// Verify and check everything, print the SQL, write nothing to the database.
    #[arg(long)]
    dry_run: bool,

    /// When the load commits: `all` (all or nothing: one transaction, or one per
    /// connection committed together by two-phase commit) or `per-table`
    /// (the tables are emptied first, then each table commits on its own, --jobs of
    /// them at once on separate connections: if one fails, the tables already loaded
    /// stay loaded and the failed one is left empty).
    #[arg(long, value_enum, default_value_t = CommitArg::All)]
    commit: CommitArg,

    /// Resume an interrupted import of this dump. With --commit per-table, each table an
    /// earlier run committed (import_state.json in the dump directory) is kept only if
    /// its row count and content digest equal the dump's; the others are emptied alone
    /// and loaded again. With --commit all an interrupted run committed nothing, so
    /// every table is loaded.
    #[arg(long, conflicts_with_all = ["dry_run", "create_schema"])]
    resume: bool,

    /// Connections loading at once (default: the number of CPUs). With --commit all:
    /// tables that no foreign key links load on up to N connections, committed together
    /// by two-phase commit (needs max_prepared_transactions >= N - 1 on the target, else
    /// one connection); index rebuilds may use the rest as parallel workers; the files of
    /// a large table load at once into a shadow table swapped in at the commit, when
    /// nothing points at it that the swap cannot carry over (the import log says which
    /// tables and why not). With --create-schema: files loaded at once, through a staging
    /// schema renamed (into an existing schema: whose tables are moved) at the commit.
    /// With --commit per-table: tables loaded at once, each committing on its own.
    #[arg(long, value_name = "N", default_value_t = default_jobs())]
    jobs: usize,

    /// How this client streams the files into COPY: `binary` (PostgreSQL's binary format,
    /// converted from the CSV by the client, for tables whose column types allow it;
    /// the others as text) or `text` (the CSV as it is, parsed by PostgreSQL).
    #[arg(long, value_enum, default_value_t = CopyFormatArg::Binary)]
    copy_format: CopyFormatArg,

    /// Create the tables from the dump's manifest (types, keys, indexes, foreign keys)
    /// instead of loading into existing ones; with --dry-run, print the DDL.
    #[arg(long)]
    create_schema: bool,

    /// With --create-schema: type overrides, `MYSQLTYPE=PGTYPE` (e.g. `datetime=timestamptz`,
    /// `tinyint(1)=smallint`) or `TABLE.COLUMN=PGTYPE`. Repeatable.
    #[arg(long, value_name = "RULE", requires = "create_schema")]
    cast: Vec<String>,

    /// With --create-schema: a file of --cast rules, one per line (# comments).
    #[arg(long, value_name = "FILE", requires = "create_schema")]
    cast_file: Option<PathBuf>,

    #[command(flatten)]
    names: NameArgs,

    /// With --create-schema: drop existing tables of the same names first (inside the
    /// transaction, so a failed import leaves them as they were).
    #[arg(long, requires = "create_schema")]
    drop_existing: bool,

    /// With --create-schema: the PostgreSQL text of CHECK constraints, one per line as
    /// `TABLE.CONSTRAINT = CONDITION` (the dump's names; nothing after `=` skips the
    /// constraint; lines starting with # are comments). It replaces the translation.
    #[arg(long, value_name = "FILE", requires = "create_schema")]
    check_file: Option<PathBuf>,

    /// Keep the target's indexes in place while loading. By default the indexes of each
    /// loaded table (plain ones, and PRIMARY KEY/UNIQUE constraints no foreign key uses)
    /// are dropped before its COPY and built again right after it from their own
    /// definitions, in the same transaction, which is faster.
    #[arg(long)]
    keep_indexes: bool,

    /// Check, after the load and before COMMIT, that every non-NULL CHILD.COLUMN value is
    /// a PARENT.COLUMN value, e.g. orders.customer_id=customers._id (names as in the
    /// dump). Orphans are reported by primary key with counts and fail the import
    /// unless --allow-orphans; with --create-schema and no orphans, the foreign key is
    /// added. Repeatable.
    #[arg(long = "references", value_name = "CHILD.COLUMN=PARENT.COLUMN")]
    references: Vec<String>,

    /// With --references: report orphaned references but load them anyway (no foreign
    /// key is added for them).
    #[arg(long, requires = "references")]
    allow_orphans: bool,

    /// Do not write import_script_<ts>.sql and import_log_<ts>.log into the dump directory.
    #[arg(long)]
    no_side_files: bool,

    /// Before COMMIT, read every loaded table back from PostgreSQL and compare each value
    /// with the dump (numbers by value, timestamps as instants, JSON structurally, text
    /// and bytes exactly); any difference rolls the whole load back and is reported by
    /// table, primary key and column. With --commit per-table, each table before its own
    /// commit.
    #[arg(long)]
    verify: bool,

    /// Accept target columns the type pre-flight found lossy (a target type that can
    /// change some values, e.g. numeric(10,2) for decimal(10,4)): all of them, or one
    /// TABLE.COLUMN (names as in the dump). Repeatable.
    #[arg(
        long,
        value_name = "TABLE.COLUMN",
        num_args = 0..=1,
        default_missing_value = "",
        action = clap::ArgAction::Append,
        value_parser = lossy_column
    )]
    allow_lossy: Vec<String>,
    /// Allow TRUNCATE ... CASCADE to empty tables that are not loaded but have foreign
    /// keys to loaded tables. Without it the pre-flight refuses and names them with
    /// their row counts; with it the audit log records each one and its rows before.
    #[arg(long)]
    cascade: bool,

    /// How long to wait for each lock on the target's tables (e.g. 5s, 2m; 0 waits
    /// forever). On timeout the import fails and names the sessions holding the locks.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = timefmt::parse_duration)]
    lock_timeout: Duration,

    #[command(flatten)]
    audit: AuditArgs,

    #[command(flatten)]
    parent: ParentRunArgs,

    /// No progress bars and no summary; errors are still printed.
    #[arg(long, short)]
    quiet: bool,

    /// Print one JSON document on stdout at the end (per table and totals, status, dump
    /// directory, run id, timings, names mapped, warnings; with --dry-run the SQL too),
    /// also when the import fails; everything else goes to stderr.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CopyFromArg {
    Stdin,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CommitArg {
    All,
    PerTable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CopyFormatArg {
    Binary,
    Text,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> ExitCode {
    cli::run_main("waybill-import", cli::OnSignal::Stop, run)
}

/// `TABLE.COLUMN`, or nothing (all); a dump directory given right after the flag by
/// mistake is caught here.
fn lossy_column(s: &str) -> Result<String, String> {
    if s.is_empty() || (s.contains('.') && !s.contains('/')) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected TABLE.COLUMN, got {s:?} (to accept every lossy column, give --allow-lossy \
             alone, after DUMP_DIR or before another flag)"
        ))
    }
}

fn plan(args: &Args) -> anyhow::Result<ImportPlan> {
    let copy_from = match (args.copy_from, &args.server_dir) {
        (CopyFromArg::Stdin, None) => CopyFrom::Stdin,
        (CopyFromArg::Stdin, Some(_)) => {
            anyhow::bail!("--server-dir only applies with --copy-from server")
        }
        (CopyFromArg::Server, Some(dir)) => CopyFrom::Server { dir: dir.clone() },
        (CopyFromArg::Server, None) => anyhow::bail!(
            "--copy-from server needs --server-dir: where the CSV files are on the database host"
        ),
    };
    let dump_dir = dir_of_manifest(&args.dump_dir).unwrap_or_else(|| args.dump_dir.clone());
    Ok(ImportPlan {
        target: args.target.resolve()?,
        dump_dir: std::path::absolute(&dump_dir)
            .with_context(|| format!("dump directory {}", dump_dir.display()))?,
        schema: args.schema.clone(),
        tables: args.tables.clone(),
        exclude: args
            .exclude
            .as_deref()
            .map(Regex::new)
            .transpose()
            .context("--exclude is not a valid regular expression")?,
        copy_from,
        strict: args.strict,
        dry_run: args.dry_run,
        side_files: !args.no_side_files,
        commit: match args.commit {
            CommitArg::All => Commit::All,
            CommitArg::PerTable => Commit::PerTable,
        },
        jobs: args.jobs.max(1),
        copy_format: match args.copy_format {
            CopyFormatArg::Binary => CopyFormat::Binary,
            CopyFormatArg::Text => CopyFormat::Text,
        },
        keep_indexes: args.keep_indexes,
        verify: args.verify,
        allow_lossy: if args.allow_lossy.is_empty() {
            AllowLossy::None
        } else if args.allow_lossy.iter().any(String::is_empty) {
            AllowLossy::All
        } else {
            AllowLossy::Columns(args.allow_lossy.clone())
        },
        references: args
            .references
            .iter()
            .map(|r| import::Reference::parse(r))
            .collect::<Result<_, _>>()?,
        allow_orphans: args.allow_orphans,
        cascade: args.cascade,
        lock_timeout: args.lock_timeout,
        names: args.names.resolve()?,
        resume: args.resume,
        create_schema: if args.create_schema {
            let mut rules = args.cast.clone();
            if let Some(f) = &args.cast_file {
                rules.extend(CastRules::read_file(f)?);
            }
            Some(SchemaOptions {
                casts: CastRules::parse(&rules)?,
                drop_existing: args.drop_existing,
                checks: match &args.check_file {
                    Some(f) => CheckFile::read(f)?,
                    None => CheckFile::default(),
                },
            })
        } else {
            None
        },
    })
}

/// What a run knows for its `--json` document, also when it fails.
#[derive(Default)]
struct Known {
    run_id: Option<String>,
    parent_run_id: Option<String>,
    target: Option<String>,
    schema: String,
    dump_dir: Option<String>,
    dry_run: bool,
    rolled_back: bool,
}

impl Known {
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("run_id".into(), json!(self.run_id));
        m.insert("parent_run_id".into(), json!(self.parent_run_id));
        m.insert("target".into(), json!(self.target));
        m.insert("schema".into(), json!(self.schema));
        m.insert("dump_dir".into(), json!(self.dump_dir));
        m.insert("dry_run".into(), json!(self.dry_run));
        m
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let clock = Clock::default();
    let warnings = Warnings::default();
    let mut known = Known {
        schema: args.schema.clone(),
        dry_run: args.dry_run,
        ..Known::default()
    };
    let result = import(&args, &clock, &warnings, &mut known);
    if args.json
        && let Err(e) = &result
    {
        let mut fields = known.fields();
        fields.insert("rolled_back".into(), json!(known.rolled_back));
        fields.extend(clock.fields());
        fields.insert("warnings".into(), json!(warnings.all()));
        json::emit(&json::failed("waybill-import", e, fields));
    }
    result
}

fn import(
    args: &Args,
    clock: &Clock,
    warnings: &Warnings,
    known: &mut Known,
) -> anyhow::Result<ExitCode> {
    let plan = plan(args)?;
    let audit = Run::new(AuditLog::new(&args.audit.audit_log), "import");
    audit.set_parent_run_id(args.parent.parent_run.clone());
    audit.set_target(plan.target.redacted());
    audit.set_dump_dir(&plan.dump_dir);
    known.run_id = Some(audit.run_id());
    known.parent_run_id = args.parent.parent_run.clone().filter(|s| !s.is_empty());
    known.target = Some(plan.target.redacted());
    known.dump_dir = Some(plan.dump_dir.display().to_string());
    audit
        .write(audit.event(
            "started",
            format!(
                "import of {} into {}{} started",
                plan.dump_dir.display(),
                plan.target,
                if plan.dry_run {
                    " (dry run)"
                } else if plan.resume {
                    " (--resume)"
                } else {
                    ""
                }
            ),
        ))
        .context(
            "cannot write the audit log (use --audit-log or WAYBILL_AUDIT_LOG to put it elsewhere)",
        )?;
    let progress = Progress::new(args.quiet);
    if dir_of_manifest(&args.dump_dir).is_some() {
        progress.info(&format!(
            "{} is the dump's manifest: importing its directory",
            args.dump_dir.display()
        ));
    }
    let observer = Observer {
        progress: &progress,
        audit: &audit,
        rolled_back: AtomicBool::new(false),
        rows: Mutex::new(HashMap::new()),
        tables: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        warnings,
        dry_run: plan.dry_run,
        mapping: Mutex::new(Vec::new()),
    };
    if plan.commit == Commit::PerTable {
        observer.warn(&format!(
            "--commit per-table (--jobs {}): each table commits on its own; a failure leaves the \
             tables loaded so far in place (the default, --commit all, is all or nothing)",
            plan.jobs
        ));
    }
    match cli::catch_panic(|| import::run(&plan, &observer)) {
        Ok(out) => {
            progress.clear();
            let loaded: Vec<_> = out
                .tables
                .iter()
                .filter(|t| t.status == TableStatus::Loaded)
                .collect();
            let rows: u64 = loaded.iter().map(|t| t.loaded_rows).sum();
            let skipped = out
                .tables
                .iter()
                .filter(|t| matches!(t.status, TableStatus::Skipped(_)))
                .count();
            let kept = out
                .tables
                .iter()
                .filter(|t| t.status == TableStatus::Kept)
                .count();
            let message = if let (Some(d), true) = (&out.delta, out.committed) {
                format!(
                    "delta {} applied: {} upserts, {} deletes ({} rows found) in {} tables",
                    d.sequence,
                    d.tables.iter().map(|t| t.upserts).sum::<u64>(),
                    d.tables.iter().map(|t| t.deletes).sum::<u64>(),
                    d.tables.iter().map(|t| t.deleted).sum::<u64>(),
                    d.tables.len()
                )
            } else if out.committed {
                format!(
                    "import committed: {} tables, {rows} rows{}{}{}",
                    loaded.len(),
                    if kept > 0 {
                        format!(
                            ", {kept} table(s) kept from an earlier run (proven equal to the \
                             dump)"
                        )
                    } else {
                        String::new()
                    },
                    if plan.verify {
                        ", every value verified against the dump"
                    } else {
                        ""
                    },
                    if skipped > 0 {
                        format!(", {skipped} table(s) skipped")
                    } else {
                        String::new()
                    }
                )
            } else {
                "dry run completed: dump verified, pre-flight passed, nothing written".to_string()
            };
            audit.write_or_warn(Event {
                rows: Some(rows),
                ..audit.event("completed", message)
            });
            if plan.dry_run && !args.json {
                print!("{}", out.script);
            }
            if !args.quiet {
                report::stderr_text(&summary(&out, clock.secs()));
            }
            if args.json {
                json::emit(&document(&out, known, clock, warnings));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            progress.clear();
            let rolled_back = observer.rolled_back.load(Ordering::SeqCst);
            known.rolled_back = rolled_back;
            if let Error::PartialLoad(m) = &e {
                audit.write_or_warn(audit.event(
                    "rolled_back",
                    format!(
                        "the failed table was rolled back; other tables stay committed \
                         (--commit per-table): {m}"
                    ),
                ));
            } else if rolled_back {
                progress.warn("the transaction was rolled back: nothing was committed, the target is unchanged");
                audit.write_or_warn(audit.event(
                    "rolled_back",
                    "transaction rolled back; the target is unchanged",
                ));
            }
            let message = match &e {
                Error::Interrupted(signal) => format!("import interrupted ({signal})"),
                e => format!("import failed: {e}"),
            };
            audit.write_or_warn(audit.event("failed", message));
            Err(e.into())
        }
    }
}

struct Observer<'a> {
    progress: &'a Progress,
    audit: &'a Run,
    /// Set by the engine when it rolls a load transaction back.
    rolled_back: AtomicBool,
    /// The manifest's rows and bytes per table, for the bars.
    rows: Mutex<HashMap<String, (u64, u64)>>,
    tables: AtomicUsize,
    done: AtomicUsize,
    warnings: &'a Warnings,
    dry_run: bool,
    /// The names that differ between the dump and the target.
    mapping: Mutex<Vec<MappedName>>,
}

impl ImportObserver for Observer<'_> {
    fn phase_started(&self, phase: &Phase) {
        let bytes = match phase {
            Phase::Hashing { bytes, .. } => Some(*bytes),
            _ => None,
        };
        self.progress
            .phase(&phase_key(phase), &phase.label(), bytes);
    }

    fn phase_done(&self, phase: &Phase) {
        self.progress.phase_done(&phase_key(phase));
    }

    fn hashed(&self, bytes: u64) {
        self.progress.phase_inc(HASHING, bytes);
    }

    fn verified(&self, dump: &VerifiedDump) {
        self.audit.set_manifest_sha256(dump.manifest_sha256.clone());
        self.rows.lock().unwrap_or_else(|p| p.into_inner()).extend(
            dump.manifest
                .tables
                .iter()
                .map(|t| (t.name().to_string(), (t.rows, t.bytes))),
        );
        self.progress.info(&format!(
            "verified {}: {} tables, {} files hashed ({}), manifest sha256 {}",
            dump.dir.display(),
            dump.manifest.tables.len(),
            dump.hashed_files,
            report::human_bytes(dump.hashed_bytes),
            dump.manifest_sha256
        ));
    }

    fn mapping(&self, names: &[MappedName]) {
        let changed: Vec<MappedName> = names.iter().filter(|m| m.changed()).cloned().collect();
        if !self.dry_run {
            for line in mapping_lines(&changed) {
                self.progress.info(&line);
            }
        }
        *self.mapping.lock().unwrap_or_else(|p| p.into_inner()) = changed;
    }

    fn loading(&self, tables: usize, rows: u64, bytes: u64) {
        self.tables.store(tables, Ordering::SeqCst);
        self.progress
            .overall("import", bytes, Unit::Bytes, rows, tables);
    }

    fn table_started(&self, table: &str, bytes: u64) {
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .map(|&(rows, _)| rows)
            .unwrap_or(0);
        self.progress.start(table, bytes, Unit::Bytes, rows);
    }

    fn bytes(&self, table: &str, n: u64) {
        self.progress.inc(table, n);
    }

    fn table_done(&self, table: &str, rows: u64, secs: f64) {
        self.progress.finish(table);
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.progress
            .table_finished(done, self.tables.load(Ordering::SeqCst));
        self.audit.write_or_warn(Event {
            table: Some(table.to_string()),
            rows: Some(rows),
            ..self.audit.event(
                "in_progress",
                format!("table loaded in {secs:.1}s (not committed yet)"),
            )
        });
    }

    fn warn(&self, message: &str) {
        self.warnings.push(message);
        self.progress.warn(message);
    }

    fn note(&self, message: &str) {
        self.progress.info(message);
    }

    fn rolled_back(&self) {
        self.rolled_back.store(true, Ordering::SeqCst);
    }

    fn kept(&self, table: &str, rows: u64) {
        // Done without loading: the overall bar counts its bytes and the table.
        let bytes = self
            .rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .map(|&(_, bytes)| bytes)
            .unwrap_or(0);
        self.progress.inc(table, bytes);
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.progress
            .table_finished(done, self.tables.load(Ordering::SeqCst));
        self.progress.info(&format!(
            "{table}: kept (proven equal): {rows} row(s) and the content digest equal the \
             dump's, not loaded again (--resume)"
        ));
        self.audit.write_or_warn(Event {
            table: Some(table.to_string()),
            rows: Some(rows),
            ..self.audit.event(
                "in_progress",
                "kept (proven equal): committed by an earlier run, row count and content digest \
                 equal to the dump's; not loaded again (--resume)",
            )
        });
    }

    fn reloading(&self, table: &str, why: &str) {
        self.audit.write_or_warn(Event {
            table: Some(table.to_string()),
            ..self
                .audit
                .event("in_progress", format!("loaded again (--resume): {why}"))
        });
    }

    fn cascaded(&self, table: &str, rows: u64) {
        self.audit.write_or_warn(Event {
            table: Some(table.to_string()),
            rows: Some(rows),
            ..self.audit.event(
                "in_progress",
                format!(
                    "emptied by TRUNCATE ... CASCADE (--cascade): {rows} row(s) before; not loaded \
                     from the dump (not committed yet)"
                ),
            )
        });
    }
}

const HASHING: &str = "hashing";

/// Tells concurrent phases apart (several connections build indexes at once).
fn phase_key(phase: &Phase) -> String {
    match phase {
        Phase::Hashing { .. } => HASHING.into(),
        other => other.label(),
    }
}

/// The names that differ, one line per table, grouped by how they were found:
/// `names of InvoiceLine: table -> invoice_line, InvoiceLineId -> invoice_line_id
/// (snake_case, automatic)`.
fn mapping_lines(changed: &[MappedName]) -> Vec<String> {
    let mut tables: Vec<&str> = Vec::new();
    for m in changed {
        if !tables.contains(&m.table.as_str()) {
            tables.push(&m.table);
        }
    }
    tables
        .into_iter()
        .map(|t| {
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for m in changed.iter().filter(|m| m.table == t) {
                let pair = match &m.column {
                    Some(c) => format!("{c} -> {}", m.target),
                    None => format!("table -> {}", m.target),
                };
                let how = m.how.to_string();
                match groups.iter_mut().find(|(h, _)| *h == how) {
                    Some((_, pairs)) => pairs.push(pair),
                    None => groups.push((how, vec![pair])),
                }
            }
            let text: Vec<String> = groups
                .iter()
                .map(|(how, pairs)| format!("{} ({how})", pairs.join(", ")))
                .collect();
            format!("names of `{t}`: {}", text.join("; "))
        })
        .collect()
}

/// The `--json` document of a completed import (or dry run).
fn document(out: &ImportOutcome, known: &Known, clock: &Clock, warnings: &Warnings) -> Value {
    let tables: Vec<Value> = out
        .tables
        .iter()
        .map(|t| {
            let (status, reason) = match &t.status {
                TableStatus::Loaded => ("loaded", None),
                TableStatus::Kept => ("kept", None),
                TableStatus::Planned => ("would_load", None),
                TableStatus::Skipped(why) => ("skipped", Some(why.as_str())),
            };
            json!({
                "name": t.name,
                "target": t.target,
                "status": status,
                "reason": reason,
                "manifest_rows": t.manifest_rows,
                "loaded_rows": (t.status == TableStatus::Loaded).then_some(t.loaded_rows),
                "verified_rows": t.verified_rows,
                "bytes": t.bytes,
                "seconds": round3(t.secs),
                "rows_per_sec": rate(t.loaded_rows, t.secs),
            })
        })
        .collect();
    let loaded: Vec<_> = out
        .tables
        .iter()
        .filter(|t| t.status == TableStatus::Loaded)
        .collect();
    let loaded_rows: u64 = loaded.iter().map(|t| t.loaded_rows).sum();
    let mut doc = json::head(
        "waybill-import",
        if out.committed {
            "committed"
        } else {
            "dry_run"
        },
    );
    doc.extend(known.fields());
    doc.insert("manifest_sha256".into(), json!(out.manifest_sha256));
    doc.extend(clock.fields());
    doc.insert("tables".into(), json!(tables));
    doc.insert(
        "totals".into(),
        json!({
            "tables": out.tables.len(),
            "loaded": loaded.len(),
            "kept": out.tables.iter().filter(|t| t.status == TableStatus::Kept).count(),
            "skipped": out.tables.iter().filter(|t| matches!(t.status, TableStatus::Skipped(_))).count(),
            "manifest_rows": out.tables.iter().map(|t| t.manifest_rows).sum::<u64>(),
            "loaded_rows": loaded_rows,
            "bytes": out.tables.iter().map(|t| t.bytes).sum::<u64>(),
            "seconds": round3(clock.secs()),
            "rows_per_sec": rate(loaded_rows, clock.secs()),
        }),
    );
    let names: Vec<Value> = out
        .mapping
        .iter()
        .filter(|m| m.changed())
        .map(|m| json!({"dump": m.dump_name(), "target": m.target, "how": m.how.to_string()}))
        .collect();
    doc.insert("names".into(), json!(names));
    doc.insert("foreign_keys_active".into(), json!(out.fk_order));
    doc.insert(
        "script_path".into(),
        json!(out.script_path.as_ref().map(|p| p.display().to_string())),
    );
    doc.insert(
        "log_path".into(),
        json!(out.log_path.as_ref().map(|p| p.display().to_string())),
    );
    if !out.committed {
        doc.insert("sql".into(), json!(out.script));
    }
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

fn delta_summary(out: &ImportOutcome, d: &waybill::import::DeltaReport, elapsed: f64) -> String {
    let rows: Vec<Vec<String>> = d
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                thousands(t.upserts),
                thousands(t.deletes),
                if out.committed {
                    thousands(t.deleted)
                } else {
                    "-".into()
                },
                format!("{:.2}", t.secs),
            ]
        })
        .collect();
    let mut s = report::render_table_for(
        Stream::Stderr,
        &["table", "upserts", "deletes", "rows deleted", "seconds"],
        &rows,
    );
    for t in &d.skipped {
        s.push_str(&format!("skipped `{t}`: not in target\n"));
    }
    for p in [&out.script_path, &out.log_path].into_iter().flatten() {
        s.push_str(&format!("wrote {}\n", p.display()));
    }
    s.push_str(&format!("elapsed: {}\n", report::elapsed(elapsed)));
    s.push_str(&if out.committed {
        format!(
            "committed: delta {} applied on top of its base (manifest sha256 {})\n",
            d.sequence, d.base_manifest_sha256
        )
    } else {
        "dry run: nothing was written to the database\n".to_string()
    });
    s
}

fn summary(out: &ImportOutcome, elapsed: f64) -> String {
    if let Some(d) = &out.delta {
        return delta_summary(out, d, elapsed);
    }
    let mut s = String::new();
    let changed: Vec<&MappedName> = out.mapping.iter().filter(|m| m.changed()).collect();
    if !out.committed && !changed.is_empty() {
        let rows: Vec<Vec<String>> = changed
            .iter()
            .map(|m| vec![m.dump_name(), m.target.clone(), m.how.to_string()])
            .collect();
        s.push_str("names that differ between the dump and the target:\n");
        s.push_str(&report::render_table_for(
            Stream::Stderr,
            &["dump name", "target name", "how"],
            &rows,
        ));
        s.push_str(&format!(
            "({} other name(s) are the same in the target)\n\n",
            out.mapping.len() - changed.len()
        ));
    }
    let renamed = out
        .tables
        .iter()
        .any(|t| t.target.as_deref().is_some_and(|n| n != t.name));
    let verified = out.tables.iter().any(|t| t.verified_rows.is_some());
    let mut rows: Vec<Vec<String>> = out
        .tables
        .iter()
        .map(|t| {
            let mut row = vec![t.name.clone()];
            if renamed {
                row.push(t.target.clone().unwrap_or_else(|| "-".into()));
            }
            row.extend([
                thousands(t.manifest_rows),
                match t.status {
                    TableStatus::Loaded => thousands(t.loaded_rows),
                    _ => "-".into(),
                },
            ]);
            if verified {
                row.push(t.verified_rows.map(thousands).unwrap_or_else(|| "-".into()));
            }
            row.extend([
                report::human_bytes(t.bytes),
                format!("{:.2}", t.secs),
                match t.status {
                    TableStatus::Loaded => report::per_second(t.loaded_rows, t.secs),
                    _ => "-".into(),
                },
                match &t.status {
                    TableStatus::Loaded => "loaded".into(),
                    TableStatus::Kept => "kept (proven equal)".into(),
                    TableStatus::Planned => "would load".into(),
                    TableStatus::Skipped(_) => "skipped: not in target".into(),
                },
            ]);
            row
        })
        .collect();
    let loaded_rows: u64 = out
        .tables
        .iter()
        .filter(|t| t.status == TableStatus::Loaded)
        .map(|t| t.loaded_rows)
        .sum();
    let mut total = vec!["TOTAL".to_string()];
    if renamed {
        total.push(String::new());
    }
    total.extend([
        thousands(out.tables.iter().map(|t| t.manifest_rows).sum()),
        if out.committed {
            thousands(loaded_rows)
        } else {
            "-".into()
        },
    ]);
    if verified {
        total.push(thousands(
            out.tables.iter().filter_map(|t| t.verified_rows).sum(),
        ));
    }
    total.extend([
        report::human_bytes(out.tables.iter().map(|t| t.bytes).sum()),
        format!("{elapsed:.2}"),
        if out.committed {
            report::per_second(loaded_rows, elapsed)
        } else {
            "-".into()
        },
        format!("{} table(s)", out.tables.len()),
    ]);
    rows.push(total);
    let mut headers = vec!["table"];
    if renamed {
        headers.push("target");
    }
    headers.extend(["manifest rows", "loaded rows"]);
    if verified {
        headers.push("verified rows");
    }
    headers.extend(["size", "seconds", "rows/s", "status"]);
    s.push_str(&report::render_table_for(Stream::Stderr, &headers, &rows));
    for line in out.rules.iter().flat_map(|r| r.lines(out.committed)) {
        s.push_str(&line);
        s.push('\n');
    }
    if verified {
        let n: u64 = out.tables.iter().filter_map(|t| t.verified_rows).sum();
        s.push_str(&format!(
            "verified: {} rows read back before COMMIT, every value equal to the dump\n",
            thousands(n)
        ));
    }
    if out.fk_order {
        s.push_str(
            "foreign keys stayed active (no session_replication_role); loaded parents first\n",
        );
    }
    for p in [&out.script_path, &out.log_path].into_iter().flatten() {
        s.push_str(&format!("wrote {}\n", p.display()));
    }
    s.push_str(&format!("elapsed: {}\n", report::elapsed(elapsed)));
    s.push_str(if out.committed {
        "committed\n"
    } else {
        "dry run: nothing was written to the database\n"
    });
    s
}
