//! waybill-log: append to, review and check the audit trail that waybill-export and
//! waybill-import write. `waybill-log <status> [message]` keeps the contract of the old
//! `log_migration_run.sh`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use waybill::audit::{AuditLog, Entry, Event, Run, STATUSES};
use waybill::cli::report;
use waybill::cli::{self, AuditArgs};
use waybill::timefmt;

#[derive(Parser, Debug)]
#[command(
    name = "waybill-log",
    version,
    about = "Append to, show and verify the migration audit trail",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Status of the event: started, in_progress, completed, rolled_back or failed.
    #[arg(value_name = "STATUS", required = true, value_parser = clap::builder::PossibleValuesParser::new(STATUSES))]
    status: Option<String>,

    /// Free text (several words are joined with spaces; put `--` before a message that
    /// starts with a dash).
    #[arg(value_name = "MESSAGE")]
    message: Vec<String>,

    /// Attach the event to this run (default: a new run id). Also WAYBILL_RUN_ID.
    #[arg(long, value_name = "ID", env = "WAYBILL_RUN_ID")]
    run_id: Option<String>,

    /// The dump directory the event is about.
    #[arg(long, value_name = "DIR")]
    dump_dir: Option<String>,

    /// The table the event is about.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,

    #[command(flatten)]
    audit: AuditArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the trail as a table fitted to the terminal (or JSON lines with --json).
    /// Exits 1 when there is no log file yet.
    Show {
        /// Only this run (and the runs that name it as their parent run).
        #[arg(long, value_name = "ID")]
        run: Option<String>,
        /// Only this status.
        #[arg(long, value_name = "STATUS", value_parser = clap::builder::PossibleValuesParser::new(STATUSES))]
        status: Option<String>,
        /// Only events at or after this time (RFC 3339, or YYYY-MM-DD meaning midnight UTC).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Print the matching events as JSON lines, exactly as stored.
        #[arg(long)]
        json: bool,
    },
    /// Check every line's hash and the chain; exit 1 and name the first broken line
    /// (or say that there is no log file yet).
    Verify,
}

fn main() -> ExitCode {
    cli::run_main("waybill-log", cli::OnSignal::Exit, run)
}

/// Refuses to read a log that does not exist, saying so (not `BROKEN: ... No such
/// file`, and not an empty table that looks like a log with nothing in it).
fn existing(log: &AuditLog) -> anyhow::Result<()> {
    match std::fs::metadata(log.path()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let path = log.path();
            let place = if path.is_relative() {
                std::env::current_dir()
                    .map(|d| format!(" (relative to {})", d.display()))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            bail!(
                "there is no audit log at {}{place} yet: nothing has been logged there \
                 (waybill-export, waybill-import and `waybill-log <status>` create it; \
                 --audit-log or WAYBILL_AUDIT_LOG name another file)",
                path.display()
            )
        }
        _ => Ok(()),
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = AuditLog::new(&args.audit.audit_log);
    if args.command.is_some() {
        existing(&log)?;
    }
    match args.command {
        Some(Command::Verify) => match log.verify() {
            Ok(n) => {
                println!(
                    "ok: {n} events, every line intact and chained ({})",
                    log.path().display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("waybill-log: BROKEN: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Some(Command::Show {
            run,
            status,
            since,
            json,
        }) => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let entries: Vec<Entry> = log
                .read()?
                .into_iter()
                .filter(|e| {
                    run.as_ref().is_none_or(|r| {
                        &e.event.run_id == r || e.event.parent_run_id.as_ref() == Some(r)
                    })
                })
                .filter(|e| status.as_ref().is_none_or(|s| &e.event.status == s))
                .filter(|e| {
                    since.is_none_or(|t| {
                        timefmt::parse_rfc3339(&e.event.ts).is_some_and(|ts| ts >= t)
                    })
                })
                .collect();
            if json {
                for e in &entries {
                    println!("{}", serde_json::to_string(&e.event)?);
                }
            } else if entries.is_empty() {
                report::stderr_line(&format!("no events in {} match", log.path().display()));
            } else {
                print!("{}", show(&entries));
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let status = args.status.expect("clap requires a status");
            let run = Run::new(log, "log");
            let mut event = run.event(&status, args.message.join(" "));
            if let Some(id) = args.run_id.filter(|s| !s.is_empty()) {
                event.run_id = id;
            }
            event.dump_dir = args.dump_dir;
            event.table = args.table;
            let run_id = event.run_id.clone();
            run.write(event).context("appending to the audit log")?;
            println!("{run_id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_since(s: &str) -> anyhow::Result<time::OffsetDateTime> {
    if let Some(t) = timefmt::parse_rfc3339(s) {
        return Ok(t);
    }
    if let Some(t) = timefmt::parse_rfc3339(&format!("{s}T00:00:00Z")) {
        return Ok(t);
    }
    bail!("--since: expected RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23), got {s}")
}

fn show(entries: &[Entry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let ev: &Event = &e.event;
            let what = ev.table.clone().unwrap_or_default();
            vec![
                ev.ts.chars().take(19).collect::<String>().replace('T', " "),
                ev.run_id.clone(),
                ev.tool.clone(),
                ev.status.clone(),
                what,
                ev.rows.map(report::thousands).unwrap_or_default(),
                format!("{}@{}", ev.os_user, ev.hostname),
                ev.message.replace('\n', " / "),
            ]
        })
        .collect();
    report::render_table_for(
        report::Stream::Stdout,
        &[
            "time (UTC)",
            "run",
            "tool",
            "status",
            "table",
            "rows",
            "by",
            "message",
        ],
        &rows,
    )
}
