//! The import engine. Order matters and is the point of the design:
//! 1. verify the dump against its manifest (no connection yet);
//! 2. pre-flight against the target, read-only: tables, column mapping, sequences,
//!    foreign keys, privileges, server-side files;
//! 3. load, all or nothing (one transaction, or see `parallel` and `staging`): replica
//!    role, TRUNCATE ... CASCADE, COPY per file (hashing the bytes again as they stream,
//!    in case a file changed after step 1), row counts, sequence fix-ups, commit. Any error rolls back: the target is
//!    unchanged.
//!
//! The SQL is built once, so what runs, what `--dry-run` prints and the
//! `import_script_<ts>.sql` written next to the dump are the same statements.
//!
//! - `preflight`: what the target holds and how the dump maps onto it (read-only);
//! - `create`: the same decisions for `--create-schema`, from the manifest alone;
//! - `steps`: the statements of a load, for running and for printing;
//! - `load`: the transaction(s) that run them;
//! - `parallel`: all or nothing on several connections (two-phase commit), and what a
//!   crash left behind;
//! - `staging`: `--create-schema` into a new schema through a staging schema renamed at
//!   the commit, the files of one table on several connections;
//! - `shadow`: into an existing schema, a large table the swap can carry over loaded
//!   the same way into a shadow table, swapped for the old one at the commit;
//! - `copy`: one file streamed into `COPY`, and its errors in the user's terms;
//! - `binary`: the CSV converted to PostgreSQL's binary COPY format on a client thread,
//!   value for value what text COPY would store (the default where the types allow);
//! - `compat`: whether COPY can read each dump column into its target column's type;
//! - `references`: `--references` checked after the load, before COMMIT;
//! - `types`: the type-level pre-flight (can a target column change a dump value?);
//! - `readback`: `--verify`, every loaded table read back and compared before COMMIT;
//! - `sidelog`: the import's own log next to the dump;
//! - `applied`: `waybill.applied`, the dumps a target was loaded from;
//! - `resume`: `--resume`, the progress state in the dump and what it lets a run keep;
//! - `delta`: applying a catch-up delta (deletes, then upserts) on top of its base.

mod applied;
mod binary;
mod compat;
mod copy;
mod create;
mod delta;
mod load;
mod parallel;
mod preflight;
mod readback;
mod references;
mod resume;
mod shadow;
mod sidelog;
mod staging;
mod steps;
mod types;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::dburl::DbUrl;
use crate::dump::manifest::DumpKind;
use crate::dump::verify::{HashProgress, VerifiedDump, verify_dump};
use crate::error::{Error, Result};
use crate::printable::escaped;
use crate::target::ddl::SchemaOptions;
use crate::target::names::{MappedName, NameOptions};
use crate::target::sql::{qualified, quote_ident};
use crate::target::{self, catalog, connection_security};
use crate::{interrupt, timefmt};
use preflight::{LoadPlan, TableLoad};
pub use references::Reference;
use sidelog::{SideFiles, SideLog};
pub use types::AllowLossy;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFrom {
    /// The client streams each file (`COPY ... FROM STDIN`).
    Stdin,
    /// The server reads the files from this directory on its own host.
    Server { dir: String },
}

/// When a load commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// One transaction: the target shows the old data or all the new data.
    All,
    /// The tables are emptied in one committed transaction, then each table commits on
    /// its own (`--jobs` of them at once).
    PerTable,
}

/// How this client streams the files into COPY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's binary format, converted from the CSV by this client, where every
    /// column's type allows (`binary`); text COPY for the other tables.
    Binary,
    /// The CSV as it is (`COPY ... (FORMAT csv)`): PostgreSQL parses every value.
    Text,
}

#[derive(Clone, Debug)]
pub struct ImportPlan {
    pub target: DbUrl,
    pub dump_dir: PathBuf,
    pub schema: String,
    pub tables: Option<Vec<String>>,
    pub exclude: Option<Regex>,
    pub copy_from: CopyFrom,
    /// A table missing in the target is an error instead of a warning.
    pub strict: bool,
    pub dry_run: bool,
    /// Write `import_script_<ts>.sql` and `import_log_<ts>.log` into the dump directory.
    pub side_files: bool,
    /// When the load commits: all at once (default) or table by table.
    pub commit: Commit,
    /// With `Commit::PerTable`: tables loaded at once, each on its own connection. With
    /// `Commit::All`: the parallel workers PostgreSQL may use to build each index
    /// (`jobs - 1`); the one loading session converts on a thread of its own.
    pub jobs: usize,
    /// Binary COPY (default) or the CSV as it is.
    pub copy_format: CopyFormat,
    /// Create the tables from the manifest instead of loading into existing ones.
    pub create_schema: Option<SchemaOptions>,
    /// Leave the target's indexes in place during the load (default: drop them before
    /// the COPY and build them again after it, in the same transaction).
    pub keep_indexes: bool,
    /// Read every loaded table back before COMMIT and compare it with the dump.
    pub verify: bool,
    /// Lossy column pairs (a target type that can change values) the user accepts.
    pub allow_lossy: AllowLossy,
    /// `--references`: checked after the load, before COMMIT.
    pub references: Vec<Reference>,
    /// `--allow-orphans`: orphaned references are reported, not fatal.
    pub allow_orphans: bool,
    /// Consent to `TRUNCATE ... CASCADE` emptying tables that are not loaded (without
    /// it, the pre-flight refuses and names them).
    pub cascade: bool,
    /// How long to wait for each table lock (zero: no limit).
    pub lock_timeout: Duration,
    /// How dump names become target names (`--identifiers`, `--rename-file`), for both
    /// existing tables and `--create-schema`.
    pub names: NameOptions,
    /// `--resume`: keep the tables an interrupted `--commit per-table` run committed,
    /// where they are proven equal to the dump, and load the others again.
    pub resume: bool,
}

/// A step of an import that has no rows to count, for a spinner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Hashing the dump's files before anything else (`hashed` reports the bytes).
    Hashing { files: usize, bytes: u64 },
    /// Building a loaded table's indexes and keys again after its COPY.
    Indexes { table: String },
    /// Setting a loaded table's sequences past its data.
    Sequences { table: String },
    /// `--verify`: reading a loaded table back and comparing it with the dump.
    ReadBack { table: String },
    /// `--resume`: comparing a table an earlier run committed with the dump.
    Proving { table: String },
    /// `--create-schema`, after the data: SET columns to arrays, CHECK constraints.
    Conversions,
    /// `--create-schema`, after the data: primary keys, unique and other indexes.
    Keys,
    /// `--create-schema`, after the data: foreign keys.
    ForeignKeys,
}

impl Phase {
    /// What the step does, in words (`building the indexes of film`).
    pub fn label(&self) -> String {
        match self {
            Phase::Hashing { files, .. } => {
                format!("verifying the dump: hashing {files} file(s)")
            }
            Phase::Indexes { table } => format!("building the indexes of {table}"),
            Phase::Sequences { table } => format!("setting the sequences of {table}"),
            Phase::ReadBack { table } => format!("reading {table} back to compare it (--verify)"),
            Phase::Proving { table } => {
                format!("comparing {table}, committed by an earlier run, with the dump (--resume)")
            }
            Phase::Conversions => "converting SET columns, adding CHECK constraints".into(),
            Phase::Keys => "adding primary keys and indexes".into(),
            Phase::ForeignKeys => "adding foreign keys".into(),
        }
    }
}

pub trait ImportObserver: Sync {
    /// A step without rows to count began (`phase_done` follows it, also on failure).
    fn phase_started(&self, _phase: &Phase) {}
    fn phase_done(&self, _phase: &Phase) {}
    /// Bytes of the dump hashed since the last call, during `Phase::Hashing`.
    fn hashed(&self, _bytes: u64) {}
    fn verified(&self, _dump: &VerifiedDump) {}
    /// The names the load uses, dump to target: every loaded table, then its columns
    /// (after the pre-flight, before any write).
    fn mapping(&self, _names: &[MappedName]) {}
    /// The load begins: `tables` tables, `rows` rows and `bytes` bytes of CSV in all.
    fn loading(&self, _tables: usize, _rows: u64, _bytes: u64) {}
    fn table_started(&self, _table: &str, _bytes: u64) {}
    fn bytes(&self, _table: &str, _n: u64) {}
    fn table_done(&self, _table: &str, _rows: u64, _secs: f64) {}
    fn warn(&self, _message: &str) {}
    /// Something the user should see that is not a problem (a reference check passed,
    /// a column pair that keeps meaning but not spelling, a narrower type proven
    /// sufficient by the data).
    fn note(&self, _message: &str) {}
    /// A load transaction was rolled back (the whole load, or one table with --commit per-table).
    fn rolled_back(&self) {}
    /// `--cascade`: `TRUNCATE ... CASCADE` emptied `table`, which held `rows` rows
    /// (not committed yet).
    fn cascaded(&self, _table: &str, _rows: u64) {}
    /// `--resume`: `table`, committed by an earlier run, holds the dump's `rows` rows and
    /// its content digest equals the dump's: it is kept, not loaded again.
    fn kept(&self, _table: &str, _rows: u64) {}
    /// `--resume`: `table` is emptied and loaded again, for the reason `why`.
    fn reloading(&self, _table: &str, _why: &str) {}
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableStatus {
    Loaded,
    /// `--resume`: committed by an earlier run and proven equal to the dump (row count
    /// and content digest), so not loaded again.
    Kept,
    /// Would be loaded (dry run).
    Planned,
    Skipped(String),
}

#[derive(Clone, Debug)]
pub struct TableReport {
    pub name: String,
    pub target: Option<String>,
    pub manifest_rows: u64,
    pub loaded_rows: u64,
    /// The table's CSV bytes, as the manifest records them.
    pub bytes: u64,
    pub secs: f64,
    pub status: TableStatus,
    /// With --verify: the rows read back and found equal to the dump.
    pub verified_rows: Option<u64>,
}

impl TableReport {
    /// A table of the load: `loaded_rows` rows in `secs` seconds, with `status`.
    pub(crate) fn of(l: &TableLoad, loaded_rows: u64, secs: f64, status: TableStatus) -> Self {
        TableReport {
            name: l.entry.name().to_string(),
            target: Some(l.target.clone()),
            manifest_rows: l.entry.rows,
            loaded_rows,
            bytes: l.entry.bytes,
            secs,
            status,
            verified_rows: None,
        }
    }
}

/// What applying a delta did, per table.
#[derive(Clone, Debug)]
pub struct DeltaTableReport {
    pub name: String,
    pub target: String,
    /// Rows in the delta's upserts file (each inserted or updated).
    pub upserts: u64,
    /// Keys in the delta's deletes file.
    pub deletes: u64,
    /// Rows the deletes found (a key inserted and deleted within the range is not in the
    /// target).
    pub deleted: u64,
    pub secs: f64,
}

#[derive(Clone, Debug)]
pub struct DeltaReport {
    pub sequence: u64,
    pub base_manifest_sha256: String,
    pub tables: Vec<DeltaTableReport>,
    /// Tables with changes that have no table in the target.
    pub skipped: Vec<String>,
}

pub struct ImportOutcome {
    pub dump_dir: PathBuf,
    pub manifest_sha256: String,
    pub tables: Vec<TableReport>,
    /// The SQL that ran (or would run, in a dry run), psql-runnable from the dump dir.
    pub script: String,
    /// The side files, when they were written in full.
    pub script_path: Option<PathBuf>,
    pub log_path: Option<PathBuf>,
    /// True when session_replication_role could not be set and tables were loaded in
    /// foreign-key order instead.
    pub fk_order: bool,
    /// Warnings about the created schema (type choices, dropped defaults, skipped keys).
    pub schema_warnings: Vec<String>,
    /// With --create-schema: what became of CHECK constraints, ON UPDATE
    /// CURRENT_TIMESTAMP and generated columns.
    pub rules: Option<target::rules::RulesReport>,
    /// Every loaded table's and column's name, dump to target.
    pub mapping: Vec<MappedName>,
    pub committed: bool,
    /// Set when the dump was a delta (catch-up).
    pub delta: Option<DeltaReport>,
}

/// What every step of a load needs: the plan, the verified dump, the pre-flight's
/// decisions, and where to report.
pub(crate) struct Ctx<'a> {
    pub plan: &'a ImportPlan,
    pub dump: &'a VerifiedDump,
    pub lp: &'a LoadPlan<'a>,
    pub obs: &'a dyn ImportObserver,
    pub log: &'a SideLog,
    /// `--references`, resolved against the loaded tables.
    pub references: &'a [references::Resolved],
    /// `--resume`: what an earlier run recorded as committed (candidates, not proof).
    pub prior: Option<&'a resume::State>,
}

pub fn run(plan: &ImportPlan, obs: &dyn ImportObserver) -> Result<ImportOutcome> {
    let started = timefmt::now();
    // A subset import hashes only the files it loads; the others are checked for size.
    let selected = |name: &str| table_selected(plan, name);
    let dump =
        verify_dump(&plan.dump_dir, selected, &Hashing::new(obs)).map_err(interrupt::or_signal)?;
    interrupt::check()?;
    obs.verified(&dump);
    if let Some(wanted) = &plan.tables {
        let unknown: Vec<&str> = wanted
            .iter()
            .filter(|w| dump.manifest.table(w).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::config(format!(
                "--tables: the dump has no table named {}",
                unknown.join(", ")
            )));
        }
    }
    if let AllowLossy::Columns(cols) = &plan.allow_lossy {
        let unknown: Vec<&str> = cols
            .iter()
            .filter(|tc| {
                !tc.rsplit_once('.').is_some_and(|(t, c)| {
                    dump.manifest.tables.iter().any(|e| {
                        e.name().eq_ignore_ascii_case(t)
                            && e.schema
                                .columns
                                .iter()
                                .any(|x| x.name.eq_ignore_ascii_case(c))
                    })
                })
            })
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::config(format!(
                "--allow-lossy: the dump has no column {} (expected TABLE.COLUMN, names as in \
                 the dump)",
                unknown.join(", ")
            )));
        }
    }

    if dump.manifest.kind == DumpKind::Delta {
        if plan.verify {
            return Err(Error::config(
                "--verify reads back the tables of a full dump; a delta changes only some of \
                 their rows, so after applying it compare the live databases instead: \
                 waybill-verify --source URL --target URL",
            ));
        }
        if plan.resume {
            return Err(Error::config(
                "--resume applies to a full dump; a delta is applied in one transaction, so an \
                 interrupted one changed nothing: apply it again without --resume",
            ));
        }
        return delta::apply(plan, &dump, obs, started);
    }
    // Read before connecting: a state of another import is refused before any work.
    let prior = if plan.resume {
        resume::read(plan, &dump)?
    } else {
        None
    };

    let stamp = timefmt::stamp(started);
    let side = SideFiles::new(plan.side_files.then_some(&*plan.dump_dir), &stamp, obs);
    let log = SideLog::new(side.create("import_log", "log"));
    log.line(&format!(
        "waybill-import {} into {} schema {}{}",
        env!("CARGO_PKG_VERSION"),
        plan.target,
        plan.schema,
        if plan.dry_run { " (dry run)" } else { "" }
    ));
    log.line(&format!(
        "verified {}: manifest sha256 {}, {} file(s) hashed ({} bytes)",
        plan.dump_dir.display(),
        dump.manifest_sha256,
        dump.hashed_files,
        dump.hashed_bytes
    ));

    if plan.resume {
        let note = resume::opening_note(plan, prior.as_ref());
        obs.note(&note);
        log.line(&note);
    }
    let mut client = target::connect(&plan.target, plan.lock_timeout)?;
    log.line(&format!("connection: {}", connection_security(&mut client)));
    let result = (|| {
        // One import at a time into a schema: a second one would trip over the first's
        // dropped indexes and truncated tables. A dry run writes nothing and needs none.
        if !plan.dry_run
            && let Some(holder) = catalog::take_import_lock(&mut client, &plan.schema)?
        {
            return Err(Error::Preflight(vec![format!(
                "another waybill-import is loading into schema {} of database {}: {holder}; \
                 imports into one schema run one at a time: wait for it to finish, then run \
                 this one again",
                escaped(&plan.schema),
                escaped(&plan.target.database)
            )]));
        }
        // Prepared transactions an interrupted parallel load left: they hold its tables'
        // locks, so they are finished (by their anchor's fate) before anything reads.
        parallel::recover(&mut client, &log, obs, None, !plan.dry_run)?;
        staging::recover(&mut client, &log, obs, !plan.dry_run)?;
        let lp = match &plan.create_schema {
            Some(opts) => create::preflight(&mut client, plan, &dump, opts, obs)?,
            None => preflight::preflight(&mut client, plan, &dump, obs)?,
        };
        for (t, why) in &lp.skipped {
            log.line(&format!("skipped table `{t}`: {why}"));
        }
        log_mapping(&log, &plan.schema, &lp.mapping);
        obs.mapping(&lp.mapping);
        check_types(plan, &dump, &lp, obs, &log)?;
        let refs = references::resolve(plan, &lp, &dump.manifest)?;
        let cx = Ctx {
            plan,
            dump: &dump,
            lp: &lp,
            obs,
            log: &log,
            references: &refs,
            prior: prior.as_ref(),
        };
        let script = steps::script(&cx);
        let script_path = side.write("import_script", "sql", script.as_bytes());
        let mut reports: Vec<TableReport> = lp
            .skipped
            .iter()
            .map(|(name, why)| TableReport {
                name: name.clone(),
                target: None,
                manifest_rows: dump.manifest.table(name).map(|t| t.rows).unwrap_or(0),
                loaded_rows: 0,
                bytes: dump.manifest.table(name).map(|t| t.bytes).unwrap_or(0),
                secs: 0.0,
                status: TableStatus::Skipped(why.clone()),
                verified_rows: None,
            })
            .collect();
        if plan.dry_run {
            reports.extend(
                lp.loads
                    .iter()
                    .map(|l| TableReport::of(l, 0, 0.0, TableStatus::Planned)),
            );
            log.line("dry run: nothing was written to the database");
            return Ok((
                reports,
                script,
                script_path,
                lp.fk_order,
                (lp.warnings, lp.rules),
                lp.mapping,
                false,
            ));
        }
        obs.loading(
            lp.loads.len(),
            lp.loads.iter().map(|l| l.entry.rows).sum(),
            lp.loads.iter().map(|l| l.entry.bytes).sum(),
        );
        let loaded = load::load(&mut client, &cx)?;
        reports.extend(loaded);
        Ok((
            reports,
            script,
            script_path,
            lp.fk_order,
            (lp.warnings, lp.rules),
            lp.mapping,
            true,
        ))
    })();
    let _ = client.batch_execute("RESET session_replication_role");
    match result {
        Ok((
            mut tables,
            script,
            script_path,
            fk_order,
            (schema_warnings, rules),
            mapping,
            committed,
        )) => {
            let order: HashMap<&str, usize> = dump
                .manifest
                .tables
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name(), i))
                .collect();
            tables.sort_by_key(|t| order.get(t.name.as_str()).copied().unwrap_or(usize::MAX));
            for line in rules.iter().flat_map(|r| r.lines(committed)) {
                log.line(&line);
            }
            if committed {
                log.line("committed");
            }
            Ok(ImportOutcome {
                dump_dir: plan.dump_dir.clone(),
                manifest_sha256: dump.manifest_sha256.clone(),
                tables,
                script,
                script_path,
                log_path: log.written(),
                fk_order,
                schema_warnings,
                rules,
                mapping,
                committed,
                delta: None,
            })
        }
        Err(e) => {
            let e = interrupt::or_signal(e);
            log.line(&format!("failed: {e}"));
            Err(e)
        }
    }
}

/// Reports the hashing of the dump to the observer as a phase.
struct Hashing<'a> {
    obs: &'a dyn ImportObserver,
    phase: std::sync::Mutex<Option<Phase>>,
}

impl<'a> Hashing<'a> {
    fn new(obs: &'a dyn ImportObserver) -> Self {
        Hashing {
            obs,
            phase: std::sync::Mutex::new(None),
        }
    }
}

impl HashProgress for Hashing<'_> {
    fn start(&self, files: usize, bytes: u64) {
        let phase = Phase::Hashing { files, bytes };
        self.obs.phase_started(&phase);
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = Some(phase);
    }

    fn hashed(&self, bytes: u64) {
        self.obs.hashed(bytes);
    }

    fn done(&self) {
        if let Some(p) = self.phase.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.obs.phase_done(&p);
        }
    }
}

/// The import log records every name the load uses: one line per table, with the
/// columns whose name changed (the others keep the dump's name).
pub(super) fn log_mapping(log: &SideLog, schema: &str, mapping: &[MappedName]) {
    for t in mapping.iter().filter(|m| m.column.is_none()) {
        let columns: Vec<String> = mapping
            .iter()
            .filter(|m| m.table == t.table && m.column.is_some())
            .map(|m| {
                let c = m.column.as_deref().unwrap_or_default();
                if m.changed() {
                    format!("`{c}` -> {} ({})", quote_ident(&m.target), m.how)
                } else {
                    format!("`{c}`")
                }
            })
            .collect();
        log.line(&format!(
            "names: table `{}` -> {} ({}); columns: {}",
            t.table,
            qualified(schema, &t.target),
            t.how,
            columns.join(", ")
        ));
    }
}

/// The type-level pre-flight: refuses lossy column pairs the user has not accepted,
/// before anything is written; notes the rest.
fn check_types(
    plan: &ImportPlan,
    dump: &VerifiedDump,
    lp: &LoadPlan,
    obs: &dyn ImportObserver,
    log: &SideLog,
) -> Result<()> {
    let mysql = matches!(dump.manifest.source.engine.as_str(), "mysql" | "mariadb");
    let findings: Vec<types::Finding> = lp
        .loads
        .iter()
        .flat_map(|l| types::check_table(l.entry, &l.types, mysql))
        .collect();
    let verdict = types::judge(&findings, &plan.allow_lossy);
    for n in &verdict.notes {
        obs.note(&format!("note: {n}"));
        log.line(&format!("note: {n}"));
    }
    if !verdict.refused.is_empty() {
        return Err(Error::Preflight(verdict.refused));
    }
    if let Some(t) = &verdict.lossy_table {
        let msg = format!(
            "lossy column types accepted with --allow-lossy; these values may change{}:\n{}",
            if plan.verify {
                " (--verify will refuse any that do)"
            } else {
                ""
            },
            t.trim_end()
        );
        obs.warn(&msg);
        log.line(&msg);
    }
    Ok(())
}

pub(crate) fn table_selected(plan: &ImportPlan, name: &str) -> bool {
    plan.tables
        .as_ref()
        .is_none_or(|t| t.iter().any(|w| w == name))
        && plan.exclude.as_ref().is_none_or(|re| !re.is_match(name))
}
