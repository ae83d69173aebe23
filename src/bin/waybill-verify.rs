//! waybill-verify: prove that two of {the dump, the live source, the target} hold the
//! same values, read-only. Exit 0 only when everything is equal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::Parser;
use regex::Regex;
use waybill::audit::{AuditLog, Event, Run};
use waybill::cli::report::{self, Progress, Unit};
use waybill::cli::{self, AuditArgs, NameArgs, ParentRunArgs, SourceArgs, TargetArgs};
use waybill::compare::{self, Mode, TableResult, VerifyObserver, VerifyOutcome, VerifyPlan};
use waybill::dburl::DbUrl;
use waybill::source::SourceSpec;

#[derive(Parser, Debug)]
#[command(
    name = "waybill-verify",
    version,
    about = "Prove, value by value, that a dump, the live source and the target agree (read-only)",
    long_about = "Prove, value by value, that a dump, the live source and the target agree. \
Read-only everywhere. Modes:\n\
  waybill-verify DUMP_DIR                  the dump against its manifest (no database)\n\
  waybill-verify DUMP_DIR --target [URL]   the dump against the PostgreSQL it was loaded into\n\
  waybill-verify DUMP_DIR --source [URL]   the dump against the live source (nothing written since?)\n\
  waybill-verify --source [URL] --target [URL]   the live source against the live target\n\
--source and --target without a URL take it from the environment or .env, as \
waybill-export and waybill-import do. Exit code 0 only when everything is equal."
)]
struct Args {
    /// The dump directory (the one holding migration_manifest.json).
    #[arg(value_name = "DUMP_DIR")]
    dump_dir: Option<PathBuf>,

    /// Compare with the live source: mysql://USER:PASS@HOST:PORT/DB or a SQLite file
    /// (sqlite:///path/app.db), or without a value WAYBILL_SOURCE / the MYSQL_* settings.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "", value_parser = url_value)]
    source: Option<String>,

    /// Compare with the PostgreSQL target: postgresql://USER:PASS@HOST:PORT/DB, or
    /// without a value WAYBILL_TARGET / the POSTGRES_* settings.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "", value_parser = url_value)]
    target: Option<String>,

    /// Target schema.
    #[arg(long, value_name = "NAME", default_value = "public")]
    schema: String,

    /// Only these tables (comma-separated; names as in the dump, or in the source).
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    tables: Option<Vec<String>>,

    /// Skip tables whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    exclude: Option<String>,

    #[command(flatten)]
    names: NameArgs,

    /// Tables compared at once (each reads its two sides on two threads).
    #[arg(long, value_name = "N", default_value_t = 2)]
    jobs: usize,

    /// Print one JSON document with the outcome on stdout (the human summary still goes
    /// to stderr unless --quiet).
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    audit: AuditArgs,

    #[command(flatten)]
    parent: ParentRunArgs,

    /// No progress bars and no summary; differences and errors are still printed.
    #[arg(long, short)]
    quiet: bool,
}

/// A URL, or nothing (take it from the environment); a dump directory given by mistake
/// after the flag is caught here.
fn url_value(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.contains("://")
        || s.contains(':')
        || s.ends_with(".db")
        || s.ends_with(".sqlite")
        || s.ends_with(".sqlite3")
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a connection URL (postgresql://..., mysql://... or sqlite:...); to \
             take the URL from the environment, put DUMP_DIR before the flag"
        ))
    }
}

fn main() -> ExitCode {
    cli::run_main("waybill-verify", cli::OnSignal::Stop, run)
}

fn resolve_source(flag: &str) -> anyhow::Result<SourceSpec> {
    let given = (!flag.is_empty()).then(|| flag.to_string());
    Ok(SourceArgs {
        source: given.or_else(|| {
            std::env::var("WAYBILL_SOURCE")
                .ok()
                .filter(|v| !v.is_empty())
        }),
    }
    .resolve()?)
}

fn resolve_target(flag: &str) -> anyhow::Result<DbUrl> {
    let given = (!flag.is_empty()).then(|| flag.to_string());
    Ok(TargetArgs {
        target: given.or_else(|| {
            std::env::var("WAYBILL_TARGET")
                .ok()
                .filter(|v| !v.is_empty())
        }),
    }
    .resolve()?)
}

fn plan(args: &Args) -> anyhow::Result<VerifyPlan> {
    Ok(VerifyPlan {
        dump_dir: args
            .dump_dir
            .as_ref()
            .map(|d| {
                std::path::absolute(d).with_context(|| format!("dump directory {}", d.display()))
            })
            .transpose()?,
        source: args.source.as_deref().map(resolve_source).transpose()?,
        target: args.target.as_deref().map(resolve_target).transpose()?,
        schema: args.schema.clone(),
        tables: args.tables.clone(),
        exclude: args
            .exclude
            .as_deref()
            .map(Regex::new)
            .transpose()
            .context("--exclude is not a valid regular expression")?,
        jobs: args.jobs.max(1),
        names: args.names.resolve()?,
    })
}

fn describe_plan(plan: &VerifyPlan, mode: Mode) -> String {
    let dump = || {
        plan.dump_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    };
    let src = || {
        plan.source
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default()
    };
    let tgt = || {
        plan.target
            .as_ref()
            .map(|u| format!("{u} schema {}", plan.schema))
            .unwrap_or_default()
    };
    match mode {
        Mode::Offline => format!("dump {} against its manifest", dump()),
        Mode::DumpTarget => format!("dump {} against the target {}", dump(), tgt()),
        Mode::DumpSource => format!("dump {} against the source {}", dump(), src()),
        Mode::SourceTarget => format!("the source {} against the target {}", src(), tgt()),
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    let mode = plan.mode()?;
    let what = describe_plan(&plan, mode);
    let audit = Run::new(AuditLog::new(&args.audit.audit_log), "verify");
    audit.set_parent_run_id(args.parent.parent_run.clone());
    if let Some(d) = &plan.dump_dir {
        audit.set_dump_dir(d);
    }
    if let Some(u) = &plan.source {
        audit.set_source(u.redacted());
    }
    if let Some(u) = &plan.target {
        audit.set_target(u.redacted());
    }
    audit
        .write(audit.event("started", format!("verification of {what} started")))
        .context(
            "cannot write the audit log (use --audit-log or WAYBILL_AUDIT_LOG to put it elsewhere)",
        )?;
    let progress = Progress::new(args.quiet);
    let observer = Observer {
        progress: &progress,
        audit: &audit,
        tables: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
    };
    let outcome = compare::run(&plan, &observer);
    progress.clear();
    let out = match outcome {
        Ok(out) => out,
        Err(e) => {
            audit.write_or_warn(audit.event("failed", format!("verification failed: {e}")));
            return Err(e.into());
        }
    };
    if let Some(h) = &out.manifest_sha256 {
        audit.set_manifest_sha256(h.clone());
    }
    let (expected, found) = mode.sides();
    let text = report(&out, expected, found);
    if !args.quiet {
        report::stderr_line(compare::summary_table(&out.tables).trim_end());
        for n in &out.notes {
            report::stderr_line(n);
        }
    }
    if !out.equal {
        report::stderr_line(text.trim_end());
    }
    let rows = out.rows();
    let differing: Vec<&str> = out
        .tables
        .iter()
        .filter(|t| !t.is_equal())
        .map(|t| t.table.as_str())
        .collect();
    let message = if out.equal {
        format!(
            "verification passed: {what}: {} table(s), {rows} rows, every value equal",
            out.tables.len()
        )
    } else if differing.is_empty() {
        format!("verification failed: {what}: {}", out.problems.join("; "))
    } else {
        format!(
            "verification found differences: {what}: {} of {} table(s) differ ({})",
            differing.len(),
            out.tables.len(),
            differing.join(", ")
        )
    };
    audit.write_or_warn(Event {
        rows: Some(rows),
        ..audit.event(
            if out.equal { "completed" } else { "failed" },
            message.clone(),
        )
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("writing the JSON outcome")?
        );
    }
    if !args.quiet || !out.equal {
        report::stderr_line(&message);
    }
    Ok(if out.equal {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Everything that is not equal, in words.
fn report(out: &VerifyOutcome, expected: &str, found: &str) -> String {
    let mut s = String::new();
    for p in &out.problems {
        s.push_str(&format!("{p}\n"));
    }
    for t in &out.tables {
        s.push_str(&t.describe(expected, found));
    }
    s
}

struct Observer<'a> {
    progress: &'a Progress,
    audit: &'a Run,
    tables: AtomicUsize,
    done: AtomicUsize,
}

impl VerifyObserver for Observer<'_> {
    fn started(&self, tables: &[(String, u64)]) {
        self.tables.store(tables.len(), Ordering::SeqCst);
        self.progress.overall(
            "verify",
            tables.iter().map(|(_, n)| n).sum(),
            Unit::Rows,
            0,
            tables.len(),
        );
        for (t, rows) in tables {
            self.progress.start(t, *rows, Unit::Rows, 0);
        }
    }

    fn rows(&self, table: &str, n: u64) {
        self.progress.inc(table, n);
    }

    fn table_done(&self, r: &TableResult) {
        self.progress.finish(&r.table);
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.progress
            .table_finished(done, self.tables.load(Ordering::SeqCst));
        let status = if r.is_equal() {
            "equal".to_string()
        } else {
            format!(
                "{} different, {} missing, {} extra{}",
                r.different,
                r.missing,
                r.extra,
                if r.problems.is_empty() {
                    String::new()
                } else {
                    format!(", {}", r.problems.join("; "))
                }
            )
        };
        self.audit.write_or_warn(Event {
            table: Some(r.table.clone()),
            rows: Some(r.rows),
            ..self.audit.event(
                "in_progress",
                format!("table verified in {:.1}s: {status}", r.seconds),
            )
        });
    }

    fn warn(&self, message: &str) {
        self.progress.warn(message);
    }
}
