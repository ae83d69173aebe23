//! The import engine. Order matters and is the point of the design:
//! 1. verify the dump against its manifest (no connection yet);
//! 2. pre-flight against the target, read-only: tables, column mapping, sequences,
//!    foreign keys, privileges, server-side files;
//! 3. load in one session and one transaction: replica role, TRUNCATE ... CASCADE, COPY
//!    per file (hashing the bytes again as they stream, in case a file changed after
//!    step 1), row counts, sequence fix-ups, commit. Any error rolls back: the target is
//!    unchanged.
//!
//! The SQL is built once, so what runs, what `--dry-run` prints and the
//! `import_script_<ts>.sql` written next to the dump are the same statements.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use postgres::Client;
use regex::Regex;

use crate::dburl::DbUrl;
use crate::ddl::{self, SchemaOptions};
use crate::error::{Error, Result, ResultExt, describe_pg};
use crate::hashing::HashingReader;
use crate::manifest::{COPY_OPTIONS, FileEntry, TableEntry};
use crate::pg_target::{self, TargetTable, find_name, qualified, quote_ident, quote_literal};
use crate::verify::{VerifiedDump, verify_dump};
use crate::{interrupt, timefmt};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFrom {
    /// The client streams each file (`COPY ... FROM STDIN`).
    Stdin,
    /// The server reads the files from this directory on its own host.
    Server { dir: String },
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
    /// 1: one transaction, all or nothing. More: tables are emptied first, then loaded
    /// by this many connections at once, each table committing on its own.
    pub jobs: usize,
    /// Create the tables from the manifest instead of loading into existing ones.
    pub create_schema: Option<SchemaOptions>,
    /// Leave the target's indexes in place during the load (default: drop them before
    /// the COPY and build them again after it, in the same transaction).
    pub keep_indexes: bool,
}

pub trait ImportObserver: Sync {
    fn verified(&self, _dump: &VerifiedDump) {}
    fn table_started(&self, _table: &str, _bytes: u64) {}
    fn bytes(&self, _table: &str, _n: u64) {}
    fn table_done(&self, _table: &str, _rows: u64, _secs: f64) {}
    fn warn(&self, _message: &str) {}
    /// A load transaction was rolled back (the whole load, or one table with --jobs).
    fn rolled_back(&self) {}
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableStatus {
    Loaded,
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
    pub secs: f64,
    pub status: TableStatus,
}

pub struct ImportOutcome {
    pub dump_dir: PathBuf,
    pub manifest_sha256: String,
    pub tables: Vec<TableReport>,
    /// The SQL that ran (or would run, in a dry run), psql-runnable from the dump dir.
    pub script: String,
    pub script_path: Option<PathBuf>,
    pub log_path: Option<PathBuf>,
    /// True when session_replication_role could not be set and tables were loaded in
    /// foreign-key order instead.
    pub fk_order: bool,
    /// Warnings about the created schema (type choices, dropped defaults, skipped keys).
    pub schema_warnings: Vec<String>,
    pub committed: bool,
}

/// Everything the pre-flight decided for one table.
struct TableLoad<'m> {
    entry: &'m TableEntry,
    target: String,
    /// Target column names, in CSV header order.
    columns: Vec<String>,
    freeze: bool,
    sequences: Vec<SeqFix>,
    /// Indexes dropped before this table's COPY and built again after it.
    deferred: Vec<pg_target::DeferredIndex>,
}

struct SeqFix {
    /// SQL naming the sequence (a literal, or a pg_get_serial_sequence call).
    sequence: String,
    column: String,
    start: i64,
    auto_increment: Option<u64>,
}

struct LoadPlan<'m> {
    loads: Vec<TableLoad<'m>>,
    skipped: Vec<(String, String)>,
    replica_role: bool,
    /// Foreign keys stay active: tables are loaded parents first.
    fk_order: bool,
    /// Existing tables are emptied first (not when they are created by the import).
    truncate: bool,
    /// Statements before the data (schema creation) and after it (keys, indexes).
    before: Vec<String>,
    after: Vec<String>,
    warnings: Vec<String>,
}

/// The import's own log next to the dump; best effort, never fatal.
struct SideLog {
    file: Mutex<Option<File>>,
}

impl SideLog {
    fn line(&self, msg: &str) {
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{} {msg}", timefmt::now_rfc3339());
        }
    }
}

pub fn run(plan: &ImportPlan, obs: &dyn ImportObserver) -> Result<ImportOutcome> {
    let started = timefmt::now();
    // A subset import hashes only the files it loads; the others are checked for size.
    let selected = |name: &str| table_selected(plan, name);
    let dump = verify_dump(&plan.dump_dir, selected)?;
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

    let stamp = timefmt::stamp(started);
    let (script_path, log_path) = if plan.side_files {
        (
            Some(side_file(&plan.dump_dir, "import_script", &stamp, "sql")),
            Some(side_file(&plan.dump_dir, "import_log", &stamp, "log")),
        )
    } else {
        (None, None)
    };
    let log = SideLog {
        file: Mutex::new(log_path.as_ref().and_then(|p| match File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                obs.warn(&format!("cannot write {}: {e}", p.display()));
                None
            }
        })),
    };
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

    let mut client = connect(&plan.target)?;
    log.line(&format!("connection: {}", connection_security(&mut client)));
    let result = (|| {
        let lp = match &plan.create_schema {
            Some(opts) => preflight_create(&mut client, plan, &dump, opts, obs)?,
            None => preflight(&mut client, plan, &dump, obs)?,
        };
        for (t, why) in &lp.skipped {
            log.line(&format!("skipped table `{t}`: {why}"));
        }
        let script = script(plan, &lp, &dump);
        if let Some(p) = &script_path
            && let Err(e) = fs::write(p, &script)
        {
            obs.warn(&format!("cannot write {}: {e}", p.display()));
        }
        let mut reports: Vec<TableReport> = lp
            .skipped
            .iter()
            .map(|(name, why)| TableReport {
                name: name.clone(),
                target: None,
                manifest_rows: dump.manifest.table(name).map(|t| t.rows).unwrap_or(0),
                loaded_rows: 0,
                secs: 0.0,
                status: TableStatus::Skipped(why.clone()),
            })
            .collect();
        if plan.dry_run {
            reports.extend(lp.loads.iter().map(|l| TableReport {
                name: l.entry.name().to_string(),
                target: Some(l.target.clone()),
                manifest_rows: l.entry.rows,
                loaded_rows: 0,
                secs: 0.0,
                status: TableStatus::Planned,
            }));
            log.line("dry run: nothing was written to the database");
            return Ok((reports, script, lp.fk_order, lp.warnings, false));
        }
        let loaded = load(&mut client, plan, &dump, &lp, obs, &log)?;
        reports.extend(loaded);
        Ok((reports, script, lp.fk_order, lp.warnings, true))
    })();
    let _ = client.batch_execute("RESET session_replication_role");
    match result {
        Ok((mut tables, script, fk_order, schema_warnings, committed)) => {
            let order: HashMap<&str, usize> = dump
                .manifest
                .tables
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name(), i))
                .collect();
            tables.sort_by_key(|t| order.get(t.name.as_str()).copied().unwrap_or(usize::MAX));
            if committed {
                log.line("committed");
            }
            Ok(ImportOutcome {
                dump_dir: plan.dump_dir.clone(),
                manifest_sha256: dump.manifest_sha256.clone(),
                tables,
                script,
                script_path,
                log_path,
                fk_order,
                schema_warnings,
                committed,
            })
        }
        Err(e) => {
            // A cancelled statement after Ctrl-C is the interrupt, not a load failure.
            let e = if interrupt::is_interrupted() {
                Error::Interrupted
            } else {
                e
            };
            log.line(&format!("failed: {e}"));
            Err(e)
        }
    }
}

/// `TLS (TLSv1.3, TLS_AES_256_GCM_SHA384)` or `not encrypted`, from the server's view.
fn connection_security(client: &mut Client) -> String {
    client
        .query_opt(
            "SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
            &[],
        )
        .ok()
        .flatten()
        .map(|r| format!("TLS ({}, {})", r.get::<_, String>(0), r.get::<_, String>(1)))
        .unwrap_or_else(|| "not encrypted".into())
}

fn table_selected(plan: &ImportPlan, name: &str) -> bool {
    plan.tables
        .as_ref()
        .is_none_or(|t| t.iter().any(|w| w == name))
        && plan.exclude.as_ref().is_none_or(|re| !re.is_match(name))
}

fn side_file(dir: &Path, prefix: &str, stamp: &str, ext: &str) -> PathBuf {
    let mut p = dir.join(format!("{prefix}_{stamp}.{ext}"));
    let mut n = 2;
    while p.exists() {
        p = dir.join(format!("{prefix}_{stamp}_{n}.{ext}"));
        n += 1;
    }
    p
}

pub fn connect(url: &DbUrl) -> Result<Client> {
    let tls = url.tls.pg_connector()?;
    let mut client = url
        .postgres_config("waybill-import")
        .connect(tls.clone())
        .ctx(|| format!("connecting to PostgreSQL {url}"))?;
    client
        .batch_execute(
            "SET TIME ZONE 'UTC'; SET standard_conforming_strings = on; \
             SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; \
             SELECT set_config('maintenance_work_mem', '256MB', false) \
             WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 256 * 1024 * 1024",
        )
        .ctx(|| "setting up the session".into())?;
    let token = client.cancel_token();
    interrupt::on_interrupt(move || {
        let _ = token.cancel_query(tls.clone());
    });
    Ok(client)
}

/// The CSV header of a file, as written (first record).
fn read_header(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(BufReader::new(file));
    match r.records().next() {
        Some(Ok(rec)) => Ok(rec.iter().map(str::to_string).collect()),
        Some(Err(e)) => Err(Error::Verification(vec![format!(
            "{}: unreadable header: {e}",
            path.display()
        )])),
        None => Err(Error::Verification(vec![format!(
            "{}: empty file, no header",
            path.display()
        )])),
    }
}

fn preflight<'m>(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &'m VerifiedDump,
    obs: &dyn ImportObserver,
) -> Result<LoadPlan<'m>> {
    let schema = &plan.schema;
    if !pg_target::schema_exists(client, schema)? {
        return Err(Error::Preflight(vec![format!(
            "schema {schema} does not exist in the target database {}",
            plan.target.database
        )]));
    }
    let targets = pg_target::tables(client, schema)?;
    let by_name: HashMap<&str, &TargetTable> =
        targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut problems = Vec::new();
    let mut loads = Vec::new();
    let mut skipped = Vec::new();
    let mut used_targets: HashMap<String, String> = HashMap::new();

    for entry in &dump.manifest.tables {
        if !table_selected(plan, entry.name()) {
            continue;
        }
        let target = match find_name(entry.name(), targets.iter().map(|t| t.name.as_str())) {
            Ok(Some(t)) => t,
            Ok(None) => {
                let why = format!("no table {} in the target", qualified(schema, entry.name()));
                if plan.strict {
                    problems.push(format!("table `{}`: {why} (--strict)", entry.name()));
                } else {
                    obs.warn(&format!("table `{}` skipped: {why}", entry.name()));
                    skipped.push((entry.name().to_string(), why));
                }
                continue;
            }
            Err(many) => {
                problems.push(format!(
                    "table `{}`: several target tables match ignoring case: {}",
                    entry.name(),
                    many.join(", ")
                ));
                continue;
            }
        };
        if let Some(other) = used_targets.insert(target.to_string(), entry.name().to_string()) {
            problems.push(format!(
                "tables `{other}` and `{}` both map to target table {target}",
                entry.name()
            ));
            continue;
        }
        let tt = by_name[target];
        let manifest_cols = entry.schema.column_names();
        for f in &entry.files {
            let header = read_header(&dump.dir.join(&f.path))?;
            if header != manifest_cols {
                return Err(Error::Verification(vec![format!(
                    "{}: header {:?} differs from the manifest's columns {:?}",
                    f.path, header, manifest_cols
                )]));
            }
        }
        let mut columns = Vec::new();
        let mut unmapped = Vec::new();
        for c in &manifest_cols {
            match find_name(c, tt.columns.iter().map(|c| c.name.as_str())) {
                Ok(Some(t)) => columns.push(t.to_string()),
                Ok(None) => unmapped.push(c.to_string()),
                Err(many) => problems.push(format!(
                    "table `{}`: column `{c}` matches several target columns ignoring case: {}",
                    entry.name(),
                    many.join(", ")
                )),
            }
        }
        if !unmapped.is_empty() {
            problems.push(format!(
                "table `{}`: no target column for {} in {} (target has: {})",
                entry.name(),
                unmapped
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                qualified(schema, target),
                tt.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mapped: BTreeSet<&str> = columns.iter().map(String::as_str).collect();
        if mapped.len() != columns.len() {
            problems.push(format!(
                "table `{}`: two CSV columns map to the same target column",
                entry.name()
            ));
        }
        for tc in &tt.columns {
            if tc.generated && mapped.contains(tc.name.as_str()) {
                problems.push(format!(
                    "table `{}`: target column {} is generated; COPY cannot load it",
                    entry.name(),
                    tc.name
                ));
            }
            if tc.not_null && !tc.has_default && !tc.generated && !mapped.contains(tc.name.as_str())
            {
                problems.push(format!(
                    "table `{}`: target column {} is NOT NULL without a default and the dump has no values for it",
                    entry.name(),
                    tc.name
                ));
            }
        }
        let ai_column = entry
            .schema
            .columns
            .iter()
            .position(|c| c.auto_increment)
            .and_then(|i| columns.get(i).cloned());
        let sequences = pg_target::owned_sequences(client, schema, target)?
            .into_iter()
            .filter(|s| {
                if s.increment < 0 {
                    obs.warn(&format!(
                        "sequence {} counts down; left as it is",
                        s.sequence
                    ));
                }
                s.increment > 0
            })
            .map(|s| SeqFix {
                auto_increment: entry
                    .schema
                    .auto_increment
                    .filter(|_| ai_column.as_deref() == Some(s.column.as_str())),
                sequence: quote_literal(&s.sequence),
                column: s.column,
                start: s.start,
            })
            .collect();
        let deferred = if plan.keep_indexes || tt.kind != 'r' {
            Vec::new()
        } else {
            pg_target::deferrable_indexes(client, schema, target)?
        };
        loads.push(TableLoad {
            entry,
            target: target.to_string(),
            deferred,
            columns,
            // FREEZE needs the TRUNCATE in the loading transaction: not so with --jobs.
            freeze: tt.kind == 'r' && plan.jobs <= 1,
            sequences,
        });
    }
    if !skipped.is_empty() {
        obs.warn(&format!(
            "{} table(s) of the dump have no target table and were skipped: {}",
            skipped.len(),
            skipped
                .iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    if let CopyFrom::Server { dir } = &plan.copy_from {
        check_server_files(client, dir, &loads, &mut problems);
    }

    let edges = pg_target::foreign_keys(client, schema)?;
    let loading: BTreeSet<String> = loads.iter().map(|l| l.target.clone()).collect();
    let extra = pg_target::cascade_reach(&edges, &loading);
    if !extra.is_empty() {
        obs.warn(&format!(
            "TRUNCATE ... CASCADE will also empty these tables, which reference loaded tables: {}",
            extra.join(", ")
        ));
    }
    let replica_role = client
        .batch_execute("SET session_replication_role = replica")
        .is_ok();
    if !replica_role && plan.jobs > 1 {
        problems.push(
            "--jobs needs SET session_replication_role = replica (superuser or the SET privilege \
             on it): tables committing separately would trip the foreign keys; use --jobs 1"
                .into(),
        );
    } else if !replica_role {
        let names: Vec<String> = loads.iter().map(|l| l.target.clone()).collect();
        match pg_target::dependency_order(&names, &edges) {
            Ok(order) => {
                obs.warn(
                    "cannot SET session_replication_role = replica (needs superuser or the SET \
                     privilege on it); foreign keys stay active, tables are loaded parents first",
                );
                let pos: HashMap<String, usize> =
                    order.into_iter().enumerate().map(|(i, t)| (t, i)).collect();
                loads.sort_by_key(|l| pos[&l.target]);
            }
            Err(cycle) => problems.push(format!(
                "cannot SET session_replication_role = replica (needs superuser or the SET \
                 privilege on it), and the foreign keys between {} form a cycle, so no load \
                 order satisfies them; make those keys DEFERRABLE or import as a role that may \
                 set session_replication_role",
                cycle.join(", ")
            )),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Preflight(problems));
    }
    if loads.is_empty() {
        return Err(Error::Preflight(vec![
            "no table of the dump has a matching table in the target; nothing to load".into(),
        ]));
    }
    Ok(LoadPlan {
        loads,
        skipped,
        fk_order: !replica_role,
        replica_role,
        truncate: true,
        before: Vec::new(),
        after: Vec::new(),
        warnings: Vec::new(),
    })
}

/// Pre-flight for `--create-schema`: the tables come from the manifest; the target
/// schema must not already hold tables of those names (unless asked to drop them).
fn preflight_create<'m>(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &'m VerifiedDump,
    opts: &SchemaOptions,
    obs: &dyn ImportObserver,
) -> Result<LoadPlan<'m>> {
    let schema = &plan.schema;
    if plan.jobs > 1 {
        return Err(Error::Preflight(vec![
            "--create-schema loads in one transaction; it cannot be combined with --jobs".into(),
        ]));
    }
    let entries: Vec<&TableEntry> = dump
        .manifest
        .tables
        .iter()
        .filter(|t| table_selected(plan, t.name()))
        .collect();
    let sp = ddl::plan(schema, &entries, opts)?;
    for w in &sp.warnings {
        obs.warn(w);
    }
    if !dump.manifest.views.is_empty() {
        obs.warn(&format!(
            "views are not created (their MySQL definitions are in the manifest): {}",
            dump.manifest
                .views
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let existing: BTreeSet<String> = if pg_target::schema_exists(client, schema)? {
        pg_target::tables(client, schema)?
            .into_iter()
            .map(|t| t.name)
            .collect()
    } else {
        BTreeSet::new()
    };
    let clash: Vec<String> = sp
        .tables
        .iter()
        .filter(|t| existing.contains(&t.name))
        .map(|t| qualified(schema, &t.name))
        .collect();
    let mut before = Vec::new();
    if !clash.is_empty() {
        if !opts.drop_existing {
            return Err(Error::Preflight(vec![format!(
                "--create-schema: these tables already exist: {} (add --drop-existing to replace \
                 them inside the import's transaction, or import into them without --create-schema)",
                clash.join(", ")
            )]));
        }
        obs.warn(&format!(
            "--drop-existing: dropping {} first",
            clash.join(", ")
        ));
        before.push(format!("DROP TABLE {} CASCADE", clash.join(", ")));
    }
    let replica_role = client
        .batch_execute("SET session_replication_role = replica")
        .is_ok();
    let loads = sp
        .tables
        .iter()
        .map(|t| TableLoad {
            entry: t.entry,
            target: t.name.clone(),
            columns: t.columns.clone(),
            deferred: Vec::new(),
            freeze: true,
            sequences: t
                .identity
                .iter()
                .map(|(col, auto_increment)| SeqFix {
                    sequence: format!(
                        "pg_get_serial_sequence({}, {})",
                        quote_literal(&qualified(schema, &t.name)),
                        quote_literal(col)
                    ),
                    column: col.clone(),
                    start: 1,
                    auto_increment: *auto_increment,
                })
                .collect(),
        })
        .collect();
    // The schema statement first, then any drops, then the tables.
    let mut sp_before = sp.before.into_iter();
    let mut all_before: Vec<String> = sp_before.next().into_iter().collect();
    all_before.extend(before);
    all_before.extend(sp_before);
    Ok(LoadPlan {
        loads,
        skipped: Vec::new(),
        replica_role,
        fk_order: false,
        truncate: false,
        before: all_before,
        after: sp.after,
        warnings: sp.warnings,
    })
}

fn server_path(dir: &str, file: &str) -> String {
    format!("{}/{file}", dir.trim_end_matches('/'))
}

/// The server's copies must be the dump's files: same size, and the same sha256 where
/// the server can compute it (files under 1 GiB, which `pg_read_binary_file` can return).
fn check_server_files(
    client: &mut Client,
    dir: &str,
    loads: &[TableLoad],
    problems: &mut Vec<String>,
) {
    for l in loads {
        for f in &l.entry.files {
            let path = server_path(dir, &f.path);
            match client.query_one("SELECT size FROM pg_stat_file($1)", &[&path]) {
                Ok(row) => {
                    let size: i64 = row.get(0);
                    if size as u64 != f.bytes {
                        problems.push(format!(
                            "server file {path}: {size} bytes, the manifest says {}",
                            f.bytes
                        ));
                        continue;
                    }
                }
                Err(e) => {
                    problems.push(format!(
                        "server file {path}: cannot stat it ({}); --copy-from server needs the files \
                         on the database host and a role with pg_read_server_files",
                        describe_pg(&e)
                    ));
                    continue;
                }
            }
            if f.bytes < (1 << 30) {
                match client.query_one(
                    "SELECT encode(sha256(pg_read_binary_file($1)), 'hex')",
                    &[&path],
                ) {
                    Ok(row) => {
                        let h: String = row.get(0);
                        if h != f.sha256 {
                            problems.push(format!(
                                "server file {path}: sha256 is {h}, the manifest says {}",
                                f.sha256
                            ));
                        }
                    }
                    Err(e) => problems.push(format!(
                        "server file {path}: cannot read it to check its sha256 ({})",
                        describe_pg(&e)
                    )),
                }
            }
        }
    }
}

fn column_list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn copy_options(freeze: bool) -> String {
    if freeze {
        format!("{COPY_OPTIONS}, FREEZE true")
    } else {
        COPY_OPTIONS.to_string()
    }
}

fn copy_sql(plan: &ImportPlan, l: &TableLoad, f: &FileEntry) -> String {
    let source = match &plan.copy_from {
        CopyFrom::Stdin => "STDIN".to_string(),
        CopyFrom::Server { dir } => quote_literal(&server_path(dir, &f.path)),
    };
    format!(
        "COPY {} ({}) FROM {source} ({})",
        qualified(&plan.schema, &l.target),
        column_list(&l.columns),
        copy_options(l.freeze)
    )
}

fn truncate_sql(plan: &ImportPlan, lp: &LoadPlan) -> String {
    let names: Vec<String> = lp
        .loads
        .iter()
        .map(|l| qualified(&plan.schema, &l.target))
        .collect();
    format!("TRUNCATE TABLE {} CASCADE", names.join(", "))
}

/// Sets a sequence so its next value is above the loaded data and at least the source's
/// AUTO_INCREMENT; an empty table goes back to the start.
fn sequence_sql(plan: &ImportPlan, l: &TableLoad, s: &SeqFix) -> String {
    let floor = s
        .auto_increment
        .map(|a| a.min(i64::MAX as u64) as i64)
        .unwrap_or(s.start)
        .max(s.start);
    format!(
        "SELECT setval({}, GREATEST((SELECT max({})::bigint + 1 FROM {}), {floor}), false)",
        s.sequence,
        quote_ident(&s.column),
        qualified(&plan.schema, &l.target)
    )
}

fn script(plan: &ImportPlan, lp: &LoadPlan, dump: &VerifiedDump) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "-- waybill-import {} at {}\n-- dump: {} (manifest sha256 {})\n-- target: {} schema {}\n",
        env!("CARGO_PKG_VERSION"),
        timefmt::now_rfc3339(),
        dump.dir.display(),
        dump.manifest_sha256,
        plan.target,
        plan.schema
    ));
    if plan.copy_from == CopyFrom::Stdin {
        s.push_str("-- To run it by hand from the dump directory: psql -X -v ON_ERROR_STOP=1 -f <this file>\n");
    }
    s.push_str("\\set ON_ERROR_STOP on\nSET TIME ZONE 'UTC';\n");
    if lp.replica_role {
        s.push_str("SET session_replication_role = replica;\n");
    } else if lp.fk_order {
        s.push_str("-- session_replication_role not available: loading parents first\n");
    }
    let per_table = plan.jobs > 1;
    if per_table {
        s.push_str(&format!(
            "-- --jobs {}: the tables are emptied in one transaction, then each table is loaded\n\
             -- and committed on its own, several at once\n",
            plan.jobs
        ));
        s.push_str(&format!("BEGIN;\n{};\nCOMMIT;\n", truncate_sql(plan, lp)));
    } else {
        s.push_str("BEGIN;\n");
        for stmt in opening(plan, lp) {
            s.push_str(&format!("{stmt};\n"));
        }
    }
    for l in &lp.loads {
        if per_table {
            s.push_str("BEGIN;\n");
        }
        for step in table_steps(plan, l) {
            match step {
                Step::Sql(stmt) | Step::Sequence(stmt, _) => s.push_str(&format!("{stmt};\n")),
                Step::Copy(f) => {
                    match plan.copy_from {
                        CopyFrom::Stdin => s.push_str(&format!(
                            "\\copy {} ({}) FROM {} WITH ({})\n",
                            qualified(&plan.schema, &l.target),
                            column_list(&l.columns),
                            quote_literal(&f.path),
                            copy_options(l.freeze)
                        )),
                        CopyFrom::Server { .. } => {
                            s.push_str(&format!("{};\n", copy_sql(plan, l, f)))
                        }
                    }
                    s.push_str(&format!("-- expect {} rows\n", f.rows));
                }
            }
        }
        if per_table {
            s.push_str("COMMIT;\n");
        }
    }
    if !per_table {
        for stmt in &lp.after {
            s.push_str(&format!("{stmt};\n"));
        }
        s.push_str("COMMIT;\n");
    }
    if lp.replica_role {
        s.push_str("RESET session_replication_role;\n");
    }
    s
}

/// What the all-or-nothing transaction runs before the tables: schema statements
/// (with --create-schema), then the TRUNCATE of existing tables.
fn opening(plan: &ImportPlan, lp: &LoadPlan) -> Vec<String> {
    let mut v = lp.before.clone();
    if lp.truncate {
        v.push(truncate_sql(plan, lp));
    }
    v
}

/// One step of loading a table. `script` prints these and `load_table` runs them, so
/// the two cannot drift apart.
enum Step<'a> {
    Sql(String),
    Copy(&'a FileEntry),
    /// A `SELECT setval(...)` and the sequence it sets (for the log).
    Sequence(String, &'a str),
}

/// A table's load, in order: drop its indexes, COPY each file, build the indexes
/// again, set its sequences.
fn table_steps<'a>(plan: &ImportPlan, l: &'a TableLoad) -> Vec<Step<'a>> {
    let mut steps: Vec<Step> = l
        .deferred
        .iter()
        .map(|d| Step::Sql(d.drop.clone()))
        .collect();
    steps.extend(l.entry.files.iter().map(Step::Copy));
    steps.extend(
        l.deferred
            .iter()
            .flat_map(|d| &d.create)
            .map(|stmt| Step::Sql(stmt.clone())),
    );
    steps.extend(
        l.sequences
            .iter()
            .map(|q| Step::Sequence(sequence_sql(plan, l, q), q.sequence.as_str())),
    );
    steps
}

/// Loads one table's files and fixes its sequences, inside `tx`.
fn load_table(
    tx: &mut postgres::Transaction,
    plan: &ImportPlan,
    dump: &VerifiedDump,
    l: &TableLoad,
    obs: &dyn ImportObserver,
    log: &SideLog,
) -> Result<TableReport> {
    interrupt::check()?;
    let clock = Instant::now();
    let bytes: u64 = l.entry.files.iter().map(|f| f.bytes).sum();
    obs.table_started(l.entry.name(), bytes);
    let mut rows = 0;
    for step in table_steps(plan, l) {
        interrupt::check()?;
        match step {
            Step::Sql(stmt) => execute_logged(tx, &stmt, log)?,
            Step::Copy(f) => {
                let n = copy_file(tx, plan, dump, l, f, obs)?;
                if n != f.rows {
                    return Err(Error::Load(format!(
                        "table `{}`: {} loaded {n} rows, the manifest says {}",
                        l.entry.name(),
                        f.path,
                        f.rows
                    )));
                }
                rows += n;
            }
            Step::Sequence(sql, seq) => {
                let row = tx
                    .query_one(&sql, &[])
                    .ctx(|| format!("setting sequence {} of table `{}`", seq, l.entry.name()))?;
                let next: i64 = row.get(0);
                log.line(&format!("sequence {seq} next value {next}"));
            }
        }
    }
    let secs = clock.elapsed().as_secs_f64();
    log.line(&format!(
        "loaded {} into {} ({rows} rows, {} file(s), {secs:.2}s)",
        l.entry.name(),
        qualified(&plan.schema, &l.target),
        l.entry.files.len()
    ));
    obs.table_done(l.entry.name(), rows, secs);
    Ok(TableReport {
        name: l.entry.name().to_string(),
        target: Some(l.target.clone()),
        manifest_rows: l.entry.rows,
        loaded_rows: rows,
        secs,
        status: TableStatus::Loaded,
    })
}

fn execute_logged(tx: &mut postgres::Transaction, stmt: &str, log: &SideLog) -> Result<()> {
    tx.batch_execute(stmt).ctx(|| stmt.to_string())?;
    log.line(stmt);
    Ok(())
}

/// All or nothing: one transaction for the TRUNCATE and every table.
fn load(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &VerifiedDump,
    lp: &LoadPlan,
    obs: &dyn ImportObserver,
    log: &SideLog,
) -> Result<Vec<TableReport>> {
    if plan.jobs > 1 {
        return load_per_table(client, plan, dump, lp, obs, log);
    }
    let mut tx = client
        .transaction()
        .ctx(|| "starting the transaction".into())?;
    let outcome = (|| {
        for stmt in opening(plan, lp) {
            execute_logged(&mut tx, &stmt, log)?;
        }
        let mut reports = Vec::new();
        for l in &lp.loads {
            reports.push(load_table(&mut tx, plan, dump, l, obs, log)?);
        }
        for stmt in &lp.after {
            interrupt::check()?;
            execute_logged(&mut tx, stmt, log)?;
        }
        interrupt::check()?;
        Ok(reports)
    })();
    match outcome {
        Ok(reports) => {
            tx.commit().ctx(|| "committing".into())?;
            Ok(reports)
        }
        Err(e) => {
            let rolled_back = tx.rollback().is_ok();
            log.line(if rolled_back {
                "rolled back"
            } else {
                "connection lost: the server rolls the transaction back"
            });
            obs.rolled_back();
            Err(e)
        }
    }
}

/// `--jobs N`: empty every table in one committed transaction, then load tables on N
/// connections, biggest first, each in its own transaction. After a failure no new
/// table starts; the error says which tables committed.
fn load_per_table(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &VerifiedDump,
    lp: &LoadPlan,
    obs: &dyn ImportObserver,
    log: &SideLog,
) -> Result<Vec<TableReport>> {
    let truncate = truncate_sql(plan, lp);
    client
        .batch_execute(&format!("BEGIN; {truncate}; COMMIT"))
        .ctx(|| truncate.clone())?;
    log.line(&format!("{truncate} (committed: --jobs {})", plan.jobs));
    let mut order: Vec<&TableLoad> = lp.loads.iter().collect();
    order.sort_by_key(|l| std::cmp::Reverse(l.entry.bytes));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs)
        .build()
        .map_err(|e| Error::config(format!("starting worker threads: {e}")))?;
    let results: Mutex<Vec<(String, Result<TableReport>)>> = Mutex::new(Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    pool.scope_fifo(|s| {
        for l in order {
            let (results, stop) = (&results, &stop);
            s.spawn_fifo(move |_| {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let r = (|| {
                    let mut c = connect(&plan.target)?;
                    if lp.replica_role {
                        c.batch_execute("SET session_replication_role = replica")
                            .ctx(|| "SET session_replication_role = replica".into())?;
                    }
                    let mut tx = c.transaction().ctx(|| "starting a transaction".into())?;
                    match load_table(&mut tx, plan, dump, l, obs, log) {
                        Ok(report) => {
                            tx.commit()
                                .ctx(|| format!("committing table `{}`", l.entry.name()))?;
                            log.line(&format!("committed {}", l.entry.name()));
                            Ok(report)
                        }
                        Err(e) => {
                            let _ = tx.rollback();
                            log.line(&format!("rolled back {}", l.entry.name()));
                            obs.rolled_back();
                            Err(e)
                        }
                    }
                })();
                if r.is_err() {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((l.entry.name().to_string(), r));
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (name, r) in results {
        match r {
            Ok(rep) => reports.push(rep),
            Err(e) => failures.push(format!("table `{name}` was rolled back: {e}")),
        }
    }
    if failures.is_empty() {
        return Ok(reports);
    }
    let done: BTreeSet<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    let never: Vec<&str> = lp
        .loads
        .iter()
        .map(|l| l.entry.name())
        .filter(|n| !done.contains(n) && !failures.iter().any(|f| f.contains(&format!("`{n}`"))))
        .collect();
    let mut msg = failures.join("\n");
    msg.push_str(&format!(
        "\ncommitted: {} (--jobs commits each table on its own)",
        if done.is_empty() {
            "none".to_string()
        } else {
            done.into_iter().collect::<Vec<_>>().join(", ")
        }
    ));
    if !never.is_empty() {
        msg.push_str(&format!("\nnot loaded (left empty): {}", never.join(", ")));
    }
    log.line(&msg);
    Err(Error::PartialLoad(msg))
}

fn copy_file(
    tx: &mut postgres::Transaction,
    plan: &ImportPlan,
    dump: &VerifiedDump,
    l: &TableLoad,
    f: &FileEntry,
    obs: &dyn ImportObserver,
) -> Result<u64> {
    let sql = copy_sql(plan, l, f);
    let path = dump.dir.join(&f.path);
    let fail = |e: &postgres::Error| copy_error(l, f, &path, e);
    if let CopyFrom::Server { .. } = plan.copy_from {
        let n = tx.execute(&sql, &[]).map_err(|e| fail(&e))?;
        obs.bytes(l.entry.name(), f.bytes);
        return Ok(n);
    }
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut reader = HashingReader::new(file);
    let mut writer = tx.copy_in(&sql).map_err(|e| fail(&e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if let Err(e) = writer.write_all(&buf[..n]) {
            return Err(match pg_error_in(&e) {
                Some(pg) => fail(pg),
                None => Error::Load(format!(
                    "table `{}`: sending {}: {e}",
                    l.entry.name(),
                    f.path
                )),
            });
        }
        obs.bytes(l.entry.name(), n as u64);
        interrupt::check()?;
    }
    let (sha, bytes) = reader.finish();
    if sha != f.sha256 || bytes != f.bytes {
        // Dropping the writer aborts the COPY.
        return Err(Error::Verification(vec![format!(
            "{}: changed while loading (sha256 now {sha}, the manifest says {})",
            f.path, f.sha256
        )]));
    }
    writer.finish().map_err(|e| fail(&e))
}

fn pg_error_in(e: &io::Error) -> Option<&postgres::Error> {
    e.get_ref()?.downcast_ref::<postgres::Error>()
}

/// Turns PostgreSQL's COPY error into one that names table, file, line, column and the
/// start of the offending value (read back from the file).
fn copy_error(l: &TableLoad, f: &FileEntry, path: &Path, e: &postgres::Error) -> Error {
    let mut msg = format!(
        "loading table `{}` from {} failed: {}",
        l.entry.name(),
        f.path,
        describe_pg(e)
    );
    let context = e.as_db_error().and_then(|db| db.where_()).unwrap_or("");
    let re = Regex::new(r"COPY [^,]*, line (\d+)(?:, column ([^:]+))?").expect("valid regex");
    if let Some(c) = re.captures(context) {
        let line: u64 = c[1].parse().unwrap_or(0);
        let column = c.get(2).map(|m| m.as_str().to_string());
        msg.push_str(&format!(
            "\n  at CSV record {line} of {} (the header is record 1)",
            f.path
        ));
        if let Some(col) = &column {
            msg.push_str(&format!(", column `{col}`"));
            if let Some(idx) = l.columns.iter().position(|c| c == col)
                && let Some(v) = value_at(path, line, idx)
            {
                msg.push_str(&format!(", value starts {v}"));
            }
        }
    }
    Error::Load(msg)
}

/// The first bytes of field `col` in record `record` (1-based, header = 1).
fn value_at(path: &Path, record: u64, col: usize) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(BufReader::new(file));
    let rec = r
        .byte_records()
        .nth(record.checked_sub(1)? as usize)?
        .ok()?;
    let v = rec.get(col)?;
    let shown = String::from_utf8_lossy(&v[..v.len().min(60)]).into_owned();
    Some(if v.len() > 60 {
        format!("{shown:?}... ({} bytes)", v.len())
    } else {
        format!("{shown:?}")
    })
}
