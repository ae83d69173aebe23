//! Proving values, not just files: the comparison behind `waybill-verify` and
//! `waybill-import --verify`. Two sides of a table (the dump, the live source, the
//! target) are read as streams, every value is parsed into what it means (`canon`), and
//! the rows are compared by primary key with flat memory (`digest`).
//!
//! - `canon`: each side's text into a canonical meaning;
//! - `csvread`: CSV that keeps NULL (`\N`) apart from the text `"\N"`;
//! - `digest`: bucketed multiset digests, then the differing rows by key;
//! - `sides`: the dump's files, PostgreSQL and MySQL as row streams;
//! - `offline`: a dump against its manifest, without a database;
//! - `result`: what was found, for people and machines.
//!
//! The modes of `waybill-verify` are here (`run`); the import uses the same pieces inside
//! its load transaction.

pub(crate) mod canon;
pub(crate) mod csvread;
pub(crate) mod digest;
mod offline;
pub mod result;
pub(crate) mod sides;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use regex::Regex;
use serde::Serialize;

use crate::dburl::DbUrl;
use crate::dump::manifest::{Manifest, TableEntry};
use crate::dump::schema::Table;
use crate::dump::verify::verify_dump;
use crate::error::{Error, Result};
use crate::source::{self, ColumnCast, Reader, SourceSpec};
use crate::target::catalog::{self, TargetTable};
use crate::target::names::{self, NameOptions, NamedTable, RenameIndex, find_name};
use crate::target::pgtype::PgType;
use canon::{Flavor, Kind};
use digest::{ColumnRule, RowStream, TableRules, buckets_for};
pub use result::{Difference, TableResult, summary_table};
use sides::{DumpStream, MySqlStream, PgStream};

/// Which two things are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A dump against its manifest (no database).
    Offline,
    /// A dump against the PostgreSQL target it was loaded into.
    DumpTarget,
    /// A dump against the live source it was exported from.
    DumpSource,
    /// The live source against the live target.
    SourceTarget,
}

impl Mode {
    /// How the two sides are named in messages: (reference, other).
    pub fn sides(self) -> (&'static str, &'static str) {
        match self {
            Mode::Offline => ("the manifest", "the files"),
            Mode::DumpTarget => ("the dump", "the target"),
            Mode::DumpSource => ("the dump", "the source"),
            Mode::SourceTarget => ("the source", "the target"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyPlan {
    pub dump_dir: Option<PathBuf>,
    pub source: Option<SourceSpec>,
    pub target: Option<DbUrl>,
    /// Target schema.
    pub schema: String,
    /// Only these tables (names as on the reference side: the dump, or the source).
    pub tables: Option<Vec<String>>,
    pub exclude: Option<Regex>,
    /// Tables compared at once.
    pub jobs: usize,
    /// How the reference side's names become the target's (`--identifiers`,
    /// `--rename-file`), as the import mapped them.
    pub names: NameOptions,
}

impl VerifyPlan {
    pub fn mode(&self) -> Result<Mode> {
        match (&self.dump_dir, &self.source, &self.target) {
            (Some(_), None, None) => Ok(Mode::Offline),
            (Some(_), None, Some(_)) => Ok(Mode::DumpTarget),
            (Some(_), Some(_), None) => Ok(Mode::DumpSource),
            (None, Some(_), Some(_)) => Ok(Mode::SourceTarget),
            (Some(_), Some(_), Some(_)) => Err(Error::config(
                "give two of DUMP_DIR, --source and --target, not all three (run waybill-verify once \
                 per pair)",
            )),
            _ => Err(Error::config(
                "nothing to compare: give DUMP_DIR (offline), DUMP_DIR with --target or --source, \
                 or --source with --target",
            )),
        }
    }

    fn selected(&self, name: &str) -> bool {
        self.tables
            .as_ref()
            .is_none_or(|t| t.iter().any(|w| w == name))
            && self.exclude.as_ref().is_none_or(|re| !re.is_match(name))
    }
}

/// Progress and results as they come; called from several threads.
pub trait VerifyObserver: Sync {
    fn started(&self, _tables: &[(String, u64)]) {}
    fn rows(&self, _table: &str, _n: u64) {}
    fn table_done(&self, _result: &TableResult) {}
    fn warn(&self, _message: &str) {}
}

#[derive(Clone, Debug, Serialize)]
pub struct VerifyOutcome {
    pub mode: Mode,
    /// True when every table is equal and nothing else was wrong.
    pub equal: bool,
    pub tables: Vec<TableResult>,
    /// Problems outside any one table (the manifest, SHA256SUMS, missing files).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dump_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl VerifyOutcome {
    fn new(mode: Mode) -> Self {
        VerifyOutcome {
            mode,
            equal: false,
            tables: Vec::new(),
            problems: Vec::new(),
            dump_dir: None,
            manifest_sha256: None,
            notes: Vec::new(),
        }
    }

    fn finish(mut self) -> Self {
        self.equal = self.problems.is_empty() && self.tables.iter().all(TableResult::is_equal);
        self
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

pub fn run(plan: &VerifyPlan, obs: &dyn VerifyObserver) -> Result<VerifyOutcome> {
    let mode = plan.mode()?;
    let mut out = VerifyOutcome::new(mode);
    let dump = match &plan.dump_dir {
        Some(dir) => {
            let (manifest, bytes) = match Manifest::load(dir) {
                Ok(x) => x,
                // A manifest that is not valid: the outcome, not an error of the run.
                Err(Error::Verification(p)) => {
                    out.dump_dir = Some(dir.clone());
                    out.problems = p;
                    return Ok(out.finish());
                }
                Err(e) => return Err(e),
            };
            out.dump_dir = Some(dir.clone());
            out.manifest_sha256 = Some(crate::dump::hashing::sha256_hex(&bytes));
            // Manifest, SHA256SUMS, presence and sizes; contents are hashed as they are read.
            match verify_dump(dir, |_| false, &()) {
                Ok(_) => {}
                Err(Error::Verification(p)) => out.problems.extend(p),
                Err(e) => return Err(e),
            }
            if let Some(wanted) = &plan.tables {
                let unknown: Vec<&str> = wanted
                    .iter()
                    .filter(|w| manifest.table(w).is_none())
                    .map(String::as_str)
                    .collect();
                if !unknown.is_empty() {
                    return Err(Error::config(format!(
                        "--tables: the dump has no table named {}",
                        unknown.join(", ")
                    )));
                }
            }
            Some((dir.clone(), manifest))
        }
        None => None,
    };
    if mode != Mode::Offline && !out.problems.is_empty() {
        // Values are compared only against a dump proven intact.
        return Ok(out.finish());
    }
    out.tables = match (&dump, mode) {
        (Some((dir, m)), Mode::Offline) => offline::check(plan, dir, m, obs),
        (Some((dir, m)), Mode::DumpTarget) => dump_target(plan, dir, m, obs)?,
        (Some((dir, m)), Mode::DumpSource) => dump_source(plan, dir, m, obs, &mut out.notes)?,
        (None, Mode::SourceTarget) => source_target(plan, obs, &mut out.notes)?,
        _ => unreachable!("mode follows from the plan"),
    };
    crate::interrupt::check()?;
    Ok(out.finish())
}

/// The target's table for a reference table, and the target column (name, type) of each
/// reference column, in order, found as the import finds them (`target::names`).
fn map_target(
    plan: &VerifyPlan,
    index: &RenameIndex,
    name: &str,
    columns: &[&str],
    targets: &[TargetTable],
) -> std::result::Result<(String, Vec<(String, PgType)>), String> {
    let t = NamedTable {
        name,
        columns: columns.to_vec(),
    };
    let found = match names::match_table(&t, targets, &plan.schema, plan.names.style, index) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(format!(
                "no table {} in the target",
                crate::target::sql::qualified(&plan.schema, name)
            ));
        }
        Err(problems) => return Err(problems.join("; ")),
    };
    let tt = targets
        .iter()
        .find(|x| x.name == found.table)
        .expect("found among them");
    let cols = found
        .columns
        .into_iter()
        .map(|(c, _)| {
            let ty = tt
                .columns
                .iter()
                .find(|x| x.name == c)
                .map(|x| PgType::parse(&x.type_name))
                .unwrap_or_else(|| PgType::Other(String::new()));
            (c, ty)
        })
        .collect();
    Ok((found.table, cols))
}

fn key_positions(t: &Table) -> Vec<usize> {
    t.primary_key
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect()
}

/// Rules for a dump table against target columns (in the dump's column order).
pub(crate) fn dump_target_rules(entry: &TableEntry, target: &[(String, PgType)]) -> TableRules {
    TableRules {
        name: entry.name().to_string(),
        columns: entry
            .schema
            .columns
            .iter()
            .zip(target)
            .map(|(c, (_, t))| ColumnRule {
                name: c.name.clone(),
                kind: Kind::for_target(t),
                left: Flavor::Dump(c.encoding),
                right: Flavor::Pg(t.clone()),
            })
            .collect(),
        key: key_positions(&entry.schema),
    }
}

/// Runs `work` for each table on `jobs` threads, largest first; results in input order.
fn run_tables<T: Send>(
    jobs: usize,
    items: Vec<(u64, T)>,
    work: impl Fn(T) -> TableResult + Sync,
) -> Vec<TableResult> {
    let n = items.len();
    let mut queue: Vec<(usize, u64, T)> = items
        .into_iter()
        .enumerate()
        .map(|(i, (size, t))| (i, size, t))
        .collect();
    queue.sort_by_key(|(_, size, _)| std::cmp::Reverse(*size));
    let queue = Mutex::new(
        queue
            .into_iter()
            .map(|(i, _, t)| (i, t))
            .collect::<VecDeque<_>>(),
    );
    let results: Mutex<Vec<Option<TableResult>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    if crate::interrupt::is_interrupted() {
                        break;
                    }
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some((i, t)) = next else { break };
                    let r = work(t);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// A pool of connections handed to one table at a time; one that failed is dropped.
struct Pool<C>(Mutex<Vec<C>>);

impl<C> Pool<C> {
    fn take(&self, what: &str) -> Result<C> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .ok_or_else(|| Error::config(format!("every {what} connection was lost")))
    }

    fn give(&self, c: C) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }
}

/// Reads a target table inside a savepoint, so a failed read leaves the session usable.
fn with_savepoint<T>(
    client: &mut postgres::Client,
    f: impl FnOnce(&mut postgres::Client) -> Result<T>,
) -> (Result<T>, bool) {
    if client.batch_execute("SAVEPOINT waybill_verify").is_err() {
        return (Err(Error::config("the target session failed")), false);
    }
    let r = f(client);
    let reusable = match &r {
        Ok(_) => client
            .batch_execute("RELEASE SAVEPOINT waybill_verify")
            .is_ok(),
        Err(_) => client
            .batch_execute("ROLLBACK TO SAVEPOINT waybill_verify")
            .is_ok(),
    };
    (r, reusable)
}

/// An error as a table's problems; a damaged dump file in its own words, without the
/// import's framing.
fn problems_of(e: Error) -> Vec<String> {
    match e {
        Error::Verification(problems) => problems,
        e => vec![e.to_string()],
    }
}

fn failed(name: &str, e: Error) -> TableResult {
    let mut r = TableResult::new(name);
    r.problems = problems_of(e);
    r
}

fn dump_target(
    plan: &VerifyPlan,
    dir: &Path,
    m: &Manifest,
    obs: &dyn VerifyObserver,
) -> Result<Vec<TableResult>> {
    let url = plan.target.as_ref().expect("target mode");
    let entries: Vec<&TableEntry> = m
        .tables
        .iter()
        .filter(|t| plan.selected(t.name()))
        .collect();
    let clients = sides::snapshot_clients(url, plan.jobs.min(entries.len()).max(1))?;
    let mut first = clients;
    let targets = {
        let c = &mut first[0];
        if !catalog::schema_exists(c, &plan.schema)? {
            return Err(Error::config(format!(
                "schema {} does not exist in the target database {}",
                plan.schema, url.database
            )));
        }
        catalog::tables(c, &plan.schema)?
    };
    obs.started(
        &entries
            .iter()
            .map(|e| (e.name().to_string(), e.rows))
            .collect::<Vec<_>>(),
    );
    let named: Vec<NamedTable> = m.tables.iter().map(NamedTable::of).collect();
    let index = plan.names.renames.index(&named)?;
    let pool = Pool(Mutex::new(first));
    let items = entries.iter().map(|e| (e.rows, *e)).collect();
    Ok(run_tables(plan.jobs, items, |entry| {
        let name = entry.name();
        let (target, cols) =
            match map_target(plan, &index, name, &entry.schema.column_names(), &targets) {
                Ok(x) => x,
                Err(p) => {
                    let mut r = TableResult::new(name);
                    r.problems.push(p);
                    obs.table_done(&r);
                    return r;
                }
            };
        let rules = dump_target_rules(entry, &cols);
        let sql = sides::select_sql(&plan.schema, &target, &cols);
        let r = (|| {
            let mut client = pool.take("target")?;
            let (r, reusable) = with_savepoint(&mut client, |c| {
                let mut left = DumpStream { dir, entry };
                let mut right = PgStream {
                    client: c,
                    sql,
                    what: format!("target table {target}"),
                };
                digest::compare(
                    &rules,
                    buckets_for(entry.rows),
                    None,
                    &mut left,
                    &mut right,
                    &|n| obs.rows(name, n),
                )
            });
            if reusable {
                pool.give(client);
            }
            r
        })();
        let mut r = r.unwrap_or_else(|e| failed(name, e));
        r.other = Some(target);
        obs.table_done(&r);
        r
    }))
}

/// The source's tables and readers inside one snapshot.
type SourceSnapshot = (Vec<source::SourceTable>, Vec<Box<dyn Reader>>);

/// The source's catalog and readers inside one snapshot; notes say how consistent it is.
fn open_source(
    spec: &SourceSpec,
    casts: &[ColumnCast],
    flatten: &source::Flatten,
    jobs: usize,
    wanted: impl Fn(&source::SourceTable) -> bool,
    notes: &mut Vec<String>,
) -> Result<SourceSnapshot> {
    let mut src = source::open(spec, casts, flatten)?;
    let catalog = src.catalog()?;
    let mut tables: Vec<source::SourceTable> =
        catalog.tables.into_iter().filter(|t| wanted(t)).collect();
    let (readers, snapshot) = src.snapshot(jobs, &mut tables)?;
    notes.push(format!(
        "source read in one snapshot: {} ({}){}",
        if snapshot.consistent {
            "consistent"
        } else {
            "NOT consistent"
        },
        snapshot.method,
        match (&snapshot.binlog_file, snapshot.binlog_position) {
            (Some(f), Some(p)) => format!(", binlog {f}:{p}"),
            _ => String::new(),
        }
    ));
    notes.extend(snapshot.notes);
    Ok((tables, readers))
}

fn dump_source(
    plan: &VerifyPlan,
    dir: &Path,
    m: &Manifest,
    obs: &dyn VerifyObserver,
    notes: &mut Vec<String>,
) -> Result<Vec<TableResult>> {
    let url = plan.source.as_ref().expect("source mode");
    let entries: Vec<&TableEntry> = m
        .tables
        .iter()
        .filter(|t| plan.selected(t.name()))
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.name()).collect();
    let casts = m
        .options
        .casts
        .iter()
        .map(|c| ColumnCast::parse(c))
        .collect::<Result<Vec<_>>>()?;
    // The same reading of the source as the export's (its casts and flattening).
    let flatten = match &m.options.flatten {
        None => source::Flatten::Off,
        Some(c) if c.iter().any(|x| x == "*") => source::Flatten::All,
        Some(c) => source::Flatten::Collections(c.clone()),
    };
    let (tables, readers) = open_source(
        url,
        &casts,
        &flatten,
        plan.jobs.min(entries.len()).max(1),
        |t| {
            find_name(&t.schema.name, names.iter().copied())
                .ok()
                .flatten()
                .is_some()
        },
        notes,
    )?;
    if let (Some(b), Some(f)) = (&m.snapshot.binlog_file, m.snapshot.binlog_position) {
        notes.push(format!("the dump's snapshot was at binlog {b}:{f}"));
    }
    let strip_nul = m.options.nul == crate::dump::encoding::NulPolicy::Strip;
    obs.started(
        &entries
            .iter()
            .map(|e| (e.name().to_string(), e.rows))
            .collect::<Vec<_>>(),
    );
    // A source may hand out fewer readers than asked (one, without a shared snapshot).
    let workers = readers.len().max(1);
    let pool = Pool(Mutex::new(readers));
    let items = entries.iter().map(|e| (e.rows, *e)).collect();
    Ok(run_tables(workers, items, |entry| {
        let name = entry.name();
        let found = find_name(name, tables.iter().map(|t| t.schema.name.as_str()));
        let Some(st) = found
            .ok()
            .flatten()
            .and_then(|n| tables.iter().find(|t| t.schema.name == n))
        else {
            let mut r = TableResult::new(name);
            r.problems
                .push(format!("no base table `{name}` in the source database"));
            obs.table_done(&r);
            return r;
        };
        let source = &st.schema;
        let mut problems = Vec::new();
        let mut map = Vec::new();
        let mut columns = Vec::new();
        for c in &entry.schema.columns {
            match find_name(&c.name, source.columns.iter().map(|s| s.name.as_str())) {
                Ok(Some(sc)) => {
                    let i = source
                        .columns
                        .iter()
                        .position(|x| x.name == sc)
                        .expect("found above");
                    let s = &source.columns[i];
                    map.push(i);
                    columns.push(ColumnRule {
                        name: c.name.clone(),
                        kind: Kind::for_encoding(c.encoding),
                        left: Flavor::Dump(c.encoding),
                        right: Flavor::Source {
                            encoding: s.encoding,
                            bits: s.precision.unwrap_or(1),
                            strip_nul,
                        },
                    });
                }
                _ => problems.push(format!("column `{}` is no longer in the source", c.name)),
            }
        }
        for s in &source.columns {
            if entry.schema.column(&s.name).is_none() {
                problems.push(format!(
                    "the source has a column `{}` the dump does not",
                    s.name
                ));
            }
        }
        if !problems.is_empty() {
            let mut r = TableResult::new(name);
            r.problems = problems;
            obs.table_done(&r);
            return r;
        }
        let rules = TableRules {
            name: name.to_string(),
            columns,
            key: key_positions(&entry.schema),
        };
        let r = (|| {
            let mut reader = pool.take("source")?;
            let mut left = DumpStream { dir, entry };
            let mut right = MySqlStream {
                reader: reader.as_mut(),
                table: source,
                map,
            };
            let r = digest::compare(
                &rules,
                buckets_for(entry.rows),
                None,
                &mut left,
                &mut right,
                &|n| obs.rows(name, n),
            );
            if r.is_ok() {
                pool.give(reader);
            }
            r
        })();
        let mut r = r.unwrap_or_else(|e| failed(name, e));
        r.other = Some(source.name.clone());
        obs.table_done(&r);
        r
    }))
}

fn source_target(
    plan: &VerifyPlan,
    obs: &dyn VerifyObserver,
    notes: &mut Vec<String>,
) -> Result<Vec<TableResult>> {
    let (src_url, pg_url) = (
        plan.source.as_ref().expect("source"),
        plan.target.as_ref().expect("target"),
    );
    // As the export does: an application's internal table only when named.
    let (tables, readers) = open_source(
        src_url,
        &[],
        &source::Flatten::Off,
        plan.jobs.max(1),
        |t| plan.selected(&t.schema.name) && (t.internal.is_none() || plan.tables.is_some()),
        notes,
    )?;
    if let Some(wanted) = &plan.tables {
        let unknown: Vec<&str> = wanted
            .iter()
            .filter(|w| !tables.iter().any(|t| &t.schema.name == *w))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::config(format!(
                "--tables: no base table named {} in the source database",
                unknown.join(", ")
            )));
        }
    }
    let workers = readers.len().min(tables.len()).max(1);
    let mut clients = sides::snapshot_clients(pg_url, workers)?;
    if !catalog::schema_exists(&mut clients[0], &plan.schema)? {
        return Err(Error::config(format!(
            "schema {} does not exist in the target database {}",
            plan.schema, pg_url.database
        )));
    }
    let targets = catalog::tables(&mut clients[0], &plan.schema)?;
    obs.started(
        &tables
            .iter()
            .map(|t| (t.schema.name.clone(), t.estimated_rows))
            .collect::<Vec<_>>(),
    );
    let named: Vec<NamedTable> = tables
        .iter()
        .map(|t| NamedTable {
            name: &t.schema.name,
            columns: t.schema.column_names(),
        })
        .collect();
    let index = plan.names.renames.index(&named)?;
    let readers = Pool(Mutex::new(readers));
    let clients = Pool(Mutex::new(clients));
    let items = tables.iter().map(|t| (t.data_length, t)).collect();
    Ok(run_tables(workers, items, |st| {
        let source = &st.schema;
        let name = source.name.as_str();
        let (target, cols) = match map_target(plan, &index, name, &source.column_names(), &targets)
        {
            Ok(x) => x,
            Err(p) => {
                let mut r = TableResult::new(name);
                r.problems.push(p);
                obs.table_done(&r);
                return r;
            }
        };
        let rules = TableRules {
            name: name.to_string(),
            columns: source
                .columns
                .iter()
                .zip(&cols)
                .map(|(c, (_, t))| ColumnRule {
                    name: c.name.clone(),
                    kind: Kind::for_target(t),
                    left: Flavor::Source {
                        encoding: c.encoding,
                        bits: c.precision.unwrap_or(1),
                        strip_nul: false,
                    },
                    right: Flavor::Pg(t.clone()),
                })
                .collect(),
            key: key_positions(source),
        };
        let sql = sides::select_sql(&plan.schema, &target, &cols);
        let r = (|| {
            let mut reader = readers.take("source")?;
            let mut client = clients.take("target")?;
            let mut reader_ok = false;
            let (r, reusable) = with_savepoint(&mut client, |c| {
                let mut left = MySqlStream {
                    reader: reader.as_mut(),
                    table: source,
                    map: (0..source.columns.len()).collect(),
                };
                let mut right = PgStream {
                    client: c,
                    sql,
                    what: format!("target table {target}"),
                };
                let r = digest::compare(
                    &rules,
                    buckets_for(st.estimated_rows),
                    None,
                    &mut left as &mut dyn RowStream,
                    &mut right,
                    &|n| obs.rows(name, n),
                );
                reader_ok = r.is_ok();
                r
            });
            if reusable {
                clients.give(client);
            }
            if reader_ok {
                readers.give(reader);
            }
            r
        })();
        let mut r = r.unwrap_or_else(|e| failed(name, e));
        r.other = Some(target);
        obs.table_done(&r);
        r
    }))
}
