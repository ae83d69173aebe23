//! waybill-import: verify a waybill dump against its manifest, then load it into
//! PostgreSQL in one transaction.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use regex::Regex;
use waybill::Error;
use waybill::audit::{AuditLog, Event, Run};
use waybill::cli::report::{self, Progress, Unit};
use waybill::cli::{self, AuditArgs, ParentRunArgs, TargetArgs};
use waybill::dump::verify::VerifiedDump;
use waybill::import::{
    self, AllowLossy, CopyFrom, ImportObserver, ImportOutcome, ImportPlan, TableStatus,
};
use waybill::target::ddl::SchemaOptions;
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

    /// The dump directory (the one holding migration_manifest.json): a full dump, or a
    /// delta from `waybill-export --since`, applied on top of its base.
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

    /// Load this many tables at once on separate connections. Each table then commits
    /// on its own: if one fails, the tables already loaded stay loaded and the failed
    /// one is left empty. The default (1) is one transaction, all or nothing.
    #[arg(long, value_name = "N", default_value_t = 1)]
    jobs: usize,

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

    /// With --create-schema: fold table, column and index names to lower case (default:
    /// exact case, quoted).
    #[arg(long, requires = "create_schema")]
    lowercase_identifiers: bool,

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
    /// table, primary key and column. With --jobs, each table before its own commit.
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CopyFromArg {
    Stdin,
    Server,
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
    Ok(ImportPlan {
        target: args.target.resolve()?,
        dump_dir: std::path::absolute(&args.dump_dir)
            .with_context(|| format!("dump directory {}", args.dump_dir.display()))?,
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
        jobs: args.jobs.max(1),
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
        create_schema: if args.create_schema {
            let mut rules = args.cast.clone();
            if let Some(f) = &args.cast_file {
                rules.extend(CastRules::read_file(f)?);
            }
            Some(SchemaOptions {
                lowercase: args.lowercase_identifiers,
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

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    let audit = Run::new(AuditLog::new(&args.audit.audit_log), "import");
    audit.set_parent_run_id(args.parent.parent_run.clone());
    audit.set_target(plan.target.redacted());
    audit.set_dump_dir(&plan.dump_dir);
    audit
        .write(audit.event(
            "started",
            format!(
                "import of {} into {}{} started",
                plan.dump_dir.display(),
                plan.target,
                if plan.dry_run { " (dry run)" } else { "" }
            ),
        ))
        .context(
            "cannot write the audit log (use --audit-log or WAYBILL_AUDIT_LOG to put it elsewhere)",
        )?;
    let progress = Progress::new(args.quiet);
    if plan.jobs > 1 {
        progress.warn(&format!(
            "--jobs {}: each table commits on its own; a failure leaves the tables loaded so far \
             in place (the default, --jobs 1, is all or nothing)",
            plan.jobs
        ));
    }
    let observer = Observer {
        progress: &progress,
        audit: &audit,
        rolled_back: AtomicBool::new(false),
    };
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
                    "import committed: {} tables, {rows} rows{}{}",
                    loaded.len(),
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
            if plan.dry_run {
                print!("{}", out.script);
            }
            if !args.quiet {
                eprint!("{}", summary(&out));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            progress.clear();
            let rolled_back = observer.rolled_back.load(Ordering::SeqCst);
            if let Error::PartialLoad(m) = &e {
                audit.write_or_warn(audit.event(
                    "rolled_back",
                    format!("the failed table was rolled back; other tables stay committed (--jobs): {m}"),
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
}

impl ImportObserver for Observer<'_> {
    fn verified(&self, dump: &VerifiedDump) {
        self.audit.set_manifest_sha256(dump.manifest_sha256.clone());
        self.progress.info(&format!(
            "verified {}: {} tables, {} files hashed ({}), manifest sha256 {}",
            dump.dir.display(),
            dump.manifest.tables.len(),
            dump.hashed_files,
            report::human_bytes(dump.hashed_bytes),
            dump.manifest_sha256
        ));
    }

    fn table_started(&self, table: &str, bytes: u64) {
        self.progress.start(table, bytes, Unit::Bytes);
    }

    fn bytes(&self, table: &str, n: u64) {
        self.progress.inc(table, n);
    }

    fn table_done(&self, table: &str, rows: u64, secs: f64) {
        self.progress.finish(table);
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
        self.progress.warn(message);
    }

    fn note(&self, message: &str) {
        self.progress.info(message);
    }

    fn rolled_back(&self) {
        self.rolled_back.store(true, Ordering::SeqCst);
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

fn delta_summary(out: &ImportOutcome, d: &waybill::import::DeltaReport) -> String {
    let rows: Vec<Vec<String>> = d
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.upserts.to_string(),
                t.deletes.to_string(),
                if out.committed {
                    t.deleted.to_string()
                } else {
                    "-".into()
                },
                format!("{:.2}", t.secs),
            ]
        })
        .collect();
    let mut s = report::render_table(
        &["table", "upserts", "deletes", "rows deleted", "seconds"],
        &rows,
    );
    for t in &d.skipped {
        s.push_str(&format!("skipped `{t}`: not in target\n"));
    }
    for p in [&out.script_path, &out.log_path].into_iter().flatten() {
        s.push_str(&format!("wrote {}\n", p.display()));
    }
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

fn summary(out: &ImportOutcome) -> String {
    if let Some(d) = &out.delta {
        return delta_summary(out, d);
    }
    let verified = out.tables.iter().any(|t| t.verified_rows.is_some());
    let rows: Vec<Vec<String>> = out
        .tables
        .iter()
        .map(|t| {
            let mut row = vec![
                t.name.clone(),
                t.manifest_rows.to_string(),
                match t.status {
                    TableStatus::Loaded => t.loaded_rows.to_string(),
                    _ => "-".into(),
                },
                format!("{:.2}", t.secs),
                match &t.status {
                    TableStatus::Loaded => "loaded".into(),
                    TableStatus::Planned => "would load".into(),
                    TableStatus::Skipped(_) => "skipped: not in target".into(),
                },
            ];
            if verified {
                row.insert(
                    3,
                    t.verified_rows
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                );
            }
            row
        })
        .collect();
    let mut headers = vec!["table", "manifest rows", "loaded rows", "seconds", "status"];
    if verified {
        headers.insert(3, "verified rows");
    }
    let mut s = report::render_table(&headers, &rows);
    for line in out.rules.iter().flat_map(|r| r.lines(out.committed)) {
        s.push_str(&line);
        s.push('\n');
    }
    if verified {
        let n: u64 = out.tables.iter().filter_map(|t| t.verified_rows).sum();
        s.push_str(&format!(
            "verified: {n} rows read back before COMMIT, every value equal to the dump\n"
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
    s.push_str(if out.committed {
        "committed\n"
    } else {
        "dry run: nothing was written to the database\n"
    });
    s
}
