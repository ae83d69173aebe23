//! The pre-flight for loading into existing tables: read-only questions to the target,
//! answered before any write. Which target table and columns each dump table maps to,
//! which sequences to fix, which indexes to rebuild, whether foreign keys can be
//! suspended, whether server-side files match. Every problem found is collected, so one
//! run names them all.

use std::collections::{BTreeSet, HashMap};
use std::io::BufReader;
use std::path::Path;

use postgres::Client;

use super::{Commit, CopyFrom, ImportObserver, ImportPlan, compat, table_selected};
use crate::dump::csv;
use crate::dump::encoding::Encoding;
use crate::dump::files::DataReader;
use crate::dump::manifest::{FileEntry, TableEntry};
use crate::dump::verify::VerifiedDump;
use crate::error::{Error, Result};
use crate::printable::escaped;
use crate::target::catalog::{self, TargetTable};
use crate::target::describe;
use crate::target::names::{self, MappedName};
use crate::target::rules::{CheckStep, GeneratedLoad, RulesReport};
use crate::target::sql::{qualified, quote_literal};

/// Everything the pre-flight decided for one table.
pub(crate) struct TableLoad<'m> {
    pub entry: &'m TableEntry,
    pub target: String,
    /// Target column names, in CSV header order.
    pub columns: Vec<String>,
    /// Their types as the target spells them (`format_type`), once the load is done.
    pub types: Vec<String>,
    pub freeze: bool,
    pub sequences: Vec<SeqFix>,
    /// Indexes dropped before this table's COPY and built again after it.
    pub deferred: Vec<catalog::DeferredIndex>,
    /// MySQL SET columns whose target column is an array, with that array type: the
    /// files go through a staging table (`steps::STAGE`) and are converted on insert.
    pub set_arrays: Vec<(String, String)>,
    /// Generated columns (`--create-schema`): the files go through a staging table that
    /// computes them too, their values are checked against the dump's, and the insert
    /// into the table leaves them to PostgreSQL.
    pub generated: Vec<GeneratedLoad>,
    /// The columns that identify a row in messages.
    pub key_columns: Vec<String>,
    /// Target columns the dump has no values for (the staging table lets them be NULL;
    /// the table gives them their defaults).
    pub unfilled: Vec<String>,
}

impl TableLoad<'_> {
    /// Whether the files go through the staging table.
    pub(crate) fn staged(&self) -> bool {
        !self.set_arrays.is_empty() || !self.generated.is_empty()
    }

    /// The COPY column list: the CSV's columns, a generated column under the staging
    /// table's name for its exported values.
    pub(crate) fn copy_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| {
                self.generated
                    .iter()
                    .find(|g| &g.column == c)
                    .map(|g| g.source.clone())
                    .unwrap_or_else(|| c.clone())
            })
            .collect()
    }
}

pub(crate) struct SeqFix {
    /// SQL naming the sequence (a literal, or a pg_get_serial_sequence call).
    pub sequence: String,
    pub column: String,
    pub start: i64,
    pub auto_increment: Option<u64>,
}

pub(crate) struct LoadPlan<'m> {
    pub loads: Vec<TableLoad<'m>>,
    pub skipped: Vec<(String, String)>,
    /// Tables outside the dump that `TRUNCATE ... CASCADE` reaches, as (schema, table):
    /// with `--cascade` it may empty them, without it they must be empty.
    pub cascaded: Vec<(String, String)>,
    /// Existing tables the load locks first (ACCESS EXCLUSIVE, within --lock-timeout),
    /// as (schema, table): loaded, cascaded and dropped ones.
    pub locks: Vec<(String, String)>,
    pub replica_role: bool,
    /// Foreign keys stay active: tables are loaded parents first.
    pub fk_order: bool,
    /// Existing tables are emptied first (not when they are created by the import).
    pub truncate: bool,
    /// Statements before the data (schema creation) and after it (keys, indexes).
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// CHECK constraints added after `after`, validated against the loaded rows.
    pub checks: Vec<CheckStep>,
    /// Comments for the script (rules that were not carried over).
    pub comments: Vec<String>,
    /// With --create-schema: what became of CHECKs, ON UPDATE and generated columns.
    pub rules: Option<RulesReport>,
    /// Where in `after` the keys start, the foreign keys, and the ON UPDATE triggers
    /// (`SchemaPlan::after_split`).
    pub after_split: (usize, usize, usize),
    pub warnings: Vec<String>,
    /// Every loaded table's name and its columns' names, dump to target.
    pub mapping: Vec<MappedName>,
}

/// The CSV header of a dump file (a regular file only), as written (first record).
fn read_header(dir: &Path, f: &FileEntry) -> Result<Vec<String>> {
    let path = dir.join(&f.path);
    let problem = |m: String| Error::Verification(vec![m]);
    let file = DataReader::open(&path, f.compression).map_err(|e| problem(e.message(&path)))?;
    csv::read_header(BufReader::new(file)).map_err(|m| problem(format!("{}: {m}", path.display())))
}

/// `"a", "b"` for a message.
fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("\"{}\"", escaped(n.as_ref())))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn preflight<'m>(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &'m VerifiedDump,
    obs: &dyn ImportObserver,
) -> Result<LoadPlan<'m>> {
    let schema = &plan.schema;
    if !catalog::schema_exists(client, schema)? {
        return Err(Error::Preflight(vec![format!(
            "schema {} does not exist in the target database {}; to create it and the \
             dump's tables from the manifest, add --create-schema (or run your \
             application's migrations first)",
            escaped(schema),
            escaped(&plan.target.database)
        )]));
    }
    let targets = catalog::tables(client, schema)?;
    let by_name: HashMap<&str, &TargetTable> =
        targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let all: Vec<&TableEntry> = dump.manifest.tables.iter().collect();
    let selected: Vec<&TableEntry> = all
        .iter()
        .copied()
        .filter(|e| table_selected(plan, e.name()))
        .collect();
    let matched = names::match_existing(&all, &selected, &targets, schema, &plan.names)?;
    let mut problems = matched.problems;
    let mut loads = Vec::new();
    let mut skipped = Vec::new();
    let mut mapping = Vec::new();

    for entry in matched.missing {
        let why = format!("no table {} in the target", qualified(schema, entry.name()));
        if plan.strict {
            problems.push(format!("table `{}`: {why} (--strict)", entry.name()));
        } else {
            obs.warn(&format!("table `{}` skipped: {why}", entry.name()));
            skipped.push((entry.name().to_string(), why));
        }
    }
    for tn in &matched.tables {
        let entry = tn.entry;
        let target = tn.target.as_str();
        mapping.push(tn.mapped());
        let tt = by_name[target];
        let manifest_cols = entry.schema.column_names();
        for f in &entry.files {
            let header = read_header(&dump.dir, f)?;
            if header != manifest_cols {
                return Err(Error::Verification(vec![format!(
                    "{}: the header ({}) differs from the manifest's columns ({})",
                    f.path,
                    name_list(&header),
                    name_list(&manifest_cols)
                )]));
            }
        }
        let columns: Vec<String> = tn.columns.iter().map(|(c, _)| c.clone()).collect();
        let types: Vec<String> = columns
            .iter()
            .filter_map(|c| tt.columns.iter().find(|x| x.name == *c))
            .map(|x| x.type_name.clone())
            .collect();
        let mapped: BTreeSet<&str> = columns.iter().map(String::as_str).collect();
        let readable = compat::check(entry, &columns, tt, schema);
        problems.extend(readable.refused);
        for w in &readable.warnings {
            obs.warn(w);
        }
        // A generated target column cannot be written: the files go through the staging
        // table, which checks PostgreSQL's values against the dump's.
        let mut generated: Vec<GeneratedLoad> = Vec::new();
        for (c, t) in entry.schema.columns.iter().zip(&columns) {
            let Some(tc) = tt.columns.iter().find(|tc| tc.name == *t && tc.generated) else {
                continue;
            };
            let mut n = generated.len() + 1;
            let source = loop {
                let candidate = format!("waybill_source_{n}");
                n += 1;
                if !tt.columns.iter().any(|x| x.name == candidate) {
                    break candidate;
                }
            };
            generated.push(GeneratedLoad {
                column: tc.name.clone(),
                source,
                pg_type: tc.type_name.clone(),
                expression: c
                    .generated
                    .as_ref()
                    .map(|g| g.expression.clone())
                    .unwrap_or_else(|| "the target's generation expression".into()),
            });
        }
        let key_columns: Vec<String> = entry
            .schema
            .primary_key
            .iter()
            .filter_map(|k| {
                let i = manifest_cols.iter().position(|c| c == k)?;
                columns.get(i).cloned()
            })
            .collect();
        let unfilled: Vec<String> = tt
            .columns
            .iter()
            .filter(|tc| !tc.generated && !mapped.contains(tc.name.as_str()))
            .map(|tc| tc.name.clone())
            .collect();
        let key_columns = if key_columns.is_empty() {
            columns
                .iter()
                .filter(|c| !generated.iter().any(|g| &g.column == *c))
                .take(3)
                .cloned()
                .collect()
        } else {
            key_columns
        };
        for tc in &tt.columns {
            if tc.not_null && !tc.has_default && !tc.generated && !mapped.contains(tc.name.as_str())
            {
                problems.push(format!(
                    "table `{}`: target column {} is NOT NULL without a default and the dump has no values for it",
                    entry.name(),
                    tc.name
                ));
            }
        }
        // A SET (`x,y`) cannot be COPYed into an array column (`{x,y}`), e.g. a schema
        // that --create-schema made, loaded again without it.
        let set_arrays: Vec<(String, String)> = entry
            .schema
            .columns
            .iter()
            .zip(&columns)
            .filter(|(c, _)| c.encoding == Encoding::SetText)
            .filter_map(|(_, t)| {
                let tc = tt.columns.iter().find(|tc| tc.name == *t)?;
                Some((t.clone(), tc.array_type.clone()?))
            })
            .collect();
        let ai_column = entry
            .schema
            .columns
            .iter()
            .position(|c| c.auto_increment)
            .and_then(|i| columns.get(i).cloned());
        let sequences = catalog::owned_sequences(client, schema, target)?
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
            catalog::deferrable_indexes(client, schema, target)?
        };
        loads.push(TableLoad {
            entry,
            target: target.to_string(),
            deferred,
            columns,
            types,
            // FREEZE needs the TRUNCATE in the loading transaction: not so with
            // --commit per-table.
            freeze: tt.kind == 'r'
                && plan.commit == Commit::All
                && set_arrays.is_empty()
                && generated.is_empty(),
            sequences,
            set_arrays,
            key_columns,
            unfilled,
            generated,
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
        let compressed: Vec<&str> = loads
            .iter()
            .flat_map(|l| &l.entry.files)
            .filter(|f| f.compression.is_some())
            .map(|f| f.path.as_str())
            .collect();
        if compressed.is_empty() {
            check_server_files(client, dir, &loads, &mut problems);
        } else {
            problems.push(format!(
                "--copy-from server: the dump's files are compressed ({}{}), and the server \
                 reads files as plain CSV; import without --copy-from server: this client \
                 decompresses them as it streams them",
                compressed[..compressed.len().min(3)].join(", "),
                if compressed.len() > 3 { ", ..." } else { "" }
            ));
        }
    }

    let edges = catalog::foreign_keys(client, schema)?;
    let loading: Vec<String> = loads.iter().map(|l| l.target.clone()).collect();
    let cascaded = cascade(client, plan, &loading, obs, &mut problems)?;
    let replica_role = client
        .batch_execute("SET session_replication_role = replica")
        .is_ok();
    if !replica_role && plan.commit == Commit::PerTable {
        problems.push(
            "--commit per-table needs SET session_replication_role = replica (superuser or the \
             SET privilege on it): tables committing separately would trip the foreign keys; \
             load all or nothing (without --commit per-table)"
                .into(),
        );
    } else if !replica_role {
        let names: Vec<String> = loads.iter().map(|l| l.target.clone()).collect();
        match catalog::dependency_order(&names, &edges) {
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
        return Err(Error::Preflight(vec![nothing_to_load(plan, &targets)]));
    }
    let mut locks: Vec<(String, String)> = loading
        .iter()
        .map(|t| (schema.clone(), t.clone()))
        .collect();
    locks.extend(cascaded.iter().cloned());
    Ok(LoadPlan {
        loads,
        skipped,
        cascaded,
        locks,
        fk_order: !replica_role,
        replica_role,
        truncate: true,
        before: Vec::new(),
        checks: Vec::new(),
        comments: Vec::new(),
        rules: None,
        after: Vec::new(),
        after_split: (0, 0, 0),
        warnings: Vec::new(),
        mapping: mapping.into_iter().flatten().collect(),
    })
}

/// Why nothing matched, with what the target holds and what to do about it.
fn nothing_to_load(plan: &ImportPlan, targets: &[TargetTable]) -> String {
    const SHOWN: usize = 20;
    let place = format!(
        "schema {} of the target database {}",
        escaped(&plan.schema),
        escaped(&plan.target.database)
    );
    if targets.is_empty() {
        return format!(
            "{place} has no tables, so no table of the dump has one to load into; to create \
             them from the dump, add --create-schema (or run your application's migrations \
             first)"
        );
    }
    let names: Vec<String> = targets
        .iter()
        .take(SHOWN)
        .map(|t| escaped(&t.name).into_owned())
        .collect();
    format!(
        "no table of the dump has a matching table in the target; nothing to load. {place} \
         has {} table(s): {}{}; to create the dump's tables instead, add --create-schema; \
         to load into these, name them with --rename-file (or choose another --schema)",
        targets.len(),
        names.join(", "),
        if targets.len() > SHOWN {
            format!(", ... ({} more)", targets.len() - SHOWN)
        } else {
            String::new()
        }
    )
}

/// The tables outside the load that `TRUNCATE ... CASCADE` also reaches. One that holds
/// rows is a problem without `--cascade` (named with its row count: nothing is emptied
/// that the user did not ask for); empty ones are only mentioned. All are returned:
/// the load counts them again under its lock (`load::open_load`).
fn cascade(
    client: &mut Client,
    plan: &ImportPlan,
    loading: &[String],
    obs: &dyn ImportObserver,
    problems: &mut Vec<String>,
) -> Result<Vec<(String, String)>> {
    let reached = catalog::cascade_reach(client, &plan.schema, loading)?;
    if reached.is_empty() {
        return Ok(reached);
    }
    let (mut listed, mut holding) = (Vec::new(), Vec::new());
    for (s, t) in &reached {
        let (rows, empty) = match catalog::row_count(client, s, t) {
            Ok(n) => (format!("{n} rows"), n == 0),
            Err(e) => (format!("rows unknown: {e}"), false),
        };
        let shown = format!("{} ({rows})", qualified(s, t));
        if !empty {
            holding.push(shown.clone());
        }
        listed.push(shown);
    }
    if plan.cascade {
        obs.warn(&format!(
            "--cascade: TRUNCATE ... CASCADE also empties these tables, which are not loaded \
             from the dump but reference loaded tables: {}",
            listed.join(", ")
        ));
    } else if holding.is_empty() {
        obs.warn(&format!(
            "TRUNCATE ... CASCADE also reaches these tables, which are not loaded and are empty: {}",
            listed.join(", ")
        ));
    } else {
        problems.push(format!(
            "TRUNCATE ... CASCADE would also empty {} table(s) that are not being loaded, \
             because their foreign keys reference loaded tables: {}; load them too, or pass \
             --cascade to empty them",
            holding.len(),
            holding.join(", ")
        ));
    }
    Ok(reached)
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
            let path = super::steps::server_path(dir, &f.path);
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
                        describe(&e)
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
                        describe(&e)
                    )),
                }
            }
        }
    }
}
