//! Applying a catch-up delta on top of its base, in one transaction:
//! 1. the delta was verified like any dump (`verify`);
//! 2. pre-flight, read-only: every table with changes maps onto a target table whose
//!    primary key (or a unique key on the same columns) lets `ON CONFLICT` find rows;
//! 3. the transaction: lock `waybill.applied` and check that the target's latest load is
//!    the delta's base (so a delta applied twice, out of order, or onto the wrong base is
//!    refused); then per table the deletes (COPY of the keys into a temporary table,
//!    `DELETE ... USING`), children before parents, and the upserts (COPY into a
//!    temporary table, `INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`), parents
//!    before children; sequences moved past the new rows; the delta recorded; commit.
//!
//! Foreign keys stay active, so the target's own ON DELETE actions do what InnoDB did
//! for the source: InnoDB does not write its cascaded changes to the binary log. Only
//! when the changed tables' foreign keys form a cycle does the delta run with
//! `session_replication_role = replica` (with a warning: cascades then do not fire).

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use postgres::{Client, Transaction};

use super::applied;
use super::load::restart_sequence;
use super::sidelog::{SideFiles, SideLog};
use super::steps::restart_sequence_psql;
use super::{
    CopyFrom, DeltaReport, DeltaTableReport, ImportObserver, ImportOutcome, ImportPlan,
    TableReport, TableStatus, table_selected,
};
use crate::dump::encoding::Encoding;
use crate::dump::files::DataReader;
use crate::dump::manifest::{COPY_OPTIONS, DeltaInfo, FileEntry, FileRole, TableEntry};
use crate::dump::verify::VerifiedDump;
use crate::error::{Error, Result, ResultExt};
use crate::printable::escaped;
use crate::target::catalog;
use crate::target::names::{self, MappedName};
use crate::target::sql::{qualified, quote_ident, quote_literal};
use crate::target::{self, connection_security, describe};
use crate::{interrupt, timefmt};

/// A target column as the delta needs it.
struct TargetColumn {
    name: String,
    /// `format_type` of the column.
    ty: String,
    is_array: bool,
    not_null: bool,
    has_default: bool,
    generated: bool,
}

/// Everything the pre-flight decided for one table with changes.
struct TableApply<'m> {
    entry: &'m TableEntry,
    target: String,
    /// Target column names, in the upserts file's header order.
    columns: Vec<String>,
    /// The temporary table's column types, in the same order.
    temp_types: Vec<String>,
    /// Generated target columns among `columns`: PostgreSQL computes them, and the
    /// read-back checks its values against the delta's.
    generated: Vec<String>,
    /// The SELECT expression per column (a SET becomes text[] here when the target
    /// column is an array, as `--create-schema` loads it).
    select: Vec<String>,
    /// Target names of the key columns, in the deletes file's header order.
    key: Vec<String>,
    key_types: Vec<String>,
    upserts: Option<&'m FileEntry>,
    deletes: Option<&'m FileEntry>,
    sequences: Vec<catalog::OwnedSequence>,
}

fn target_columns(client: &mut Client, schema: &str, table: &str) -> Result<Vec<TargetColumn>> {
    let rows = client
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory = 'A',
                    a.attnotnull, a.atthasdef, a.attgenerated <> ''
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&schema, &table],
        )
        .ctx(|| format!("reading the columns of {}", qualified(schema, table)))?;
    Ok(rows
        .into_iter()
        .map(|r| TargetColumn {
            name: r.get(0),
            ty: r.get(1),
            is_array: r.get(2),
            not_null: r.get(3),
            has_default: r.get(4),
            generated: r.get(5),
        })
        .collect())
}

/// The column sets of the table's unique keys (no partial or expression indexes), the
/// primary key first.
fn unique_keys(client: &mut Client, schema: &str, table: &str) -> Result<Vec<Vec<String>>> {
    let rows = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY k.ord)
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indisvalid
               AND i.indpred IS NULL AND i.indexprs IS NULL
             GROUP BY i.indexrelid, i.indisprimary
             ORDER BY i.indisprimary DESC",
            &[&schema, &table],
        )
        .ctx(|| format!("reading the keys of {}", qualified(schema, table)))?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// A file's CSV header must name the columns the delta says it holds.
fn check_header(dump: &VerifiedDump, f: &FileEntry, want: &[&str]) -> Result<()> {
    let path = dump.dir.join(&f.path);
    let file = DataReader::open(&path, f.compression)
        .map_err(|e| Error::Verification(vec![e.message(&path)]))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(std::io::BufReader::new(file.take(1 << 20)));
    let header: Vec<String> = match r.records().next() {
        Some(Ok(rec)) => rec.iter().map(str::to_string).collect(),
        _ => {
            return Err(Error::Verification(vec![format!(
                "{}: no readable CSV header",
                f.path
            )]));
        }
    };
    if header != want {
        return Err(Error::Verification(vec![format!(
            "{}: header {:?} differs from the manifest's columns {:?}",
            f.path, header, want
        )]));
    }
    Ok(())
}

fn file_with(entry: &TableEntry, role: FileRole) -> Option<&FileEntry> {
    entry.files.iter().find(|f| f.role == Some(role))
}

struct Plan<'m> {
    tables: Vec<TableApply<'m>>,
    /// Every applied table's and column's name, dump to target (as the base's import
    /// mapped them: the same `--identifiers` and `--rename-file` rules).
    mapping: Vec<MappedName>,
    /// Tables in delete order (children first) and upsert order (parents first).
    delete_order: Vec<usize>,
    upsert_order: Vec<usize>,
    replica_role: bool,
    skipped: Vec<(String, String)>,
}

fn preflight<'m>(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &'m VerifiedDump,
    delta: &DeltaInfo,
    obs: &dyn ImportObserver,
) -> Result<Plan<'m>> {
    let schema = &plan.schema;
    if !catalog::schema_exists(client, schema)? {
        return Err(Error::Preflight(vec![format!(
            "schema {schema} does not exist in the target database {}: a delta goes on top of \
             its base, import that first",
            plan.target.database
        )]));
    }
    if !applied::exists(client)? {
        return Err(Error::Preflight(vec![format!(
            "the target has no {}: it was not loaded by a waybill-import that records its \
             loads, so nothing says it holds this delta's base (manifest sha256 {}); import the \
             base dump again, then the deltas",
            applied::TABLE,
            delta.base_manifest_sha256
        )]));
    }
    for x in delta.excluded_tables.iter().filter(|x| x.changes > 0) {
        obs.warn(&format!(
            "table `{}` is not carried by catch-up ({}) and changed {} time(s) in this delta's \
             range: reload it with a full export and import",
            x.name, x.reason, x.changes
        ));
    }
    let targets = catalog::tables(client, schema)?;
    let all: Vec<&TableEntry> = dump.manifest.tables.iter().collect();
    let changed: Vec<&TableEntry> = all
        .iter()
        .copied()
        .filter(|e| {
            file_with(e, FileRole::Upserts).is_some() || file_with(e, FileRole::Deletes).is_some()
        })
        .filter(|e| table_selected(plan, e.name()))
        .collect();
    let matched = names::match_existing(&all, &changed, &targets, schema, &plan.names)?;
    let mut problems = matched.problems;
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    let mut mapping = Vec::new();
    for entry in matched.missing {
        let name = entry.name();
        let why = format!("no table {} in the target", qualified(schema, name));
        if plan.strict {
            problems.push(format!("table `{name}`: {why} (--strict)"));
        } else {
            obs.warn(&format!("table `{name}` skipped: {why}"));
            skipped.push((name.to_string(), why));
        }
    }
    for tn in &matched.tables {
        let entry = tn.entry;
        mapping.extend(tn.mapped());
        let upserts = file_with(entry, FileRole::Upserts);
        let deletes = file_with(entry, FileRole::Deletes);
        if let Some(f) = upserts {
            check_header(dump, f, &entry.schema.column_names())?;
        }
        if let Some(f) = deletes {
            let key: Vec<&str> = entry
                .schema
                .primary_key
                .iter()
                .map(String::as_str)
                .collect();
            check_header(dump, f, &key)?;
        }
        let name = entry.name();
        let target = tn.target.clone();
        let tcols = target_columns(client, schema, &target)?;
        let mut columns = Vec::new();
        let mut temp_types = Vec::new();
        let mut select = Vec::new();
        let mut generated = Vec::new();
        for (c, (t, _)) in entry.schema.columns.iter().zip(&tn.columns) {
            let t = t.as_str();
            let Some(tc) = tcols.iter().find(|x| x.name == t) else {
                problems.push(format!(
                    "table `{name}`: no target column {t} in {}",
                    qualified(schema, &target)
                ));
                continue;
            };
            if tc.generated {
                generated.push(t.to_string());
            }
            let q = quote_ident(t);
            if tc.is_array && c.encoding == Encoding::SetText {
                temp_types.push("text".to_string());
                select.push(format!(
                    "CASE WHEN {q} = '' THEN '{{}}'::text[] ELSE string_to_array({q}, ',') END"
                ));
            } else {
                temp_types.push(tc.ty.clone());
                select.push(q);
            }
            columns.push(t.to_string());
        }
        for tc in &tcols {
            if tc.not_null && !tc.has_default && !tc.generated && !columns.contains(&tc.name) {
                problems.push(format!(
                    "table `{name}`: target column {} is NOT NULL without a default and the \
                     delta has no values for it",
                    tc.name
                ));
            }
        }
        let key: Vec<String> = entry
            .schema
            .primary_key
            .iter()
            .filter_map(|k| {
                let i = entry.schema.columns.iter().position(|c| &c.name == k)?;
                columns.get(i).cloned()
            })
            .collect();
        if key.len() != entry.schema.primary_key.len() || key.is_empty() {
            problems.push(format!(
                "table `{name}`: its primary key ({}) does not map onto the target",
                entry.schema.primary_key.join(", ")
            ));
            continue;
        }
        let wanted: BTreeSet<&str> = key.iter().map(String::as_str).collect();
        let has_key = unique_keys(client, schema, &target)?
            .iter()
            .any(|k| k.iter().map(String::as_str).collect::<BTreeSet<_>>() == wanted);
        if !has_key {
            problems.push(format!(
                "table `{name}`: {} has no primary key or unique index on ({}), which the \
                 upserts need (INSERT ... ON CONFLICT)",
                qualified(schema, &target),
                key.join(", ")
            ));
        }
        let key_types = key
            .iter()
            .map(|k| {
                tcols
                    .iter()
                    .find(|c| c.name == *k)
                    .map(|c| c.ty.clone())
                    .unwrap_or_else(|| "text".into())
            })
            .collect();
        let sequences = if upserts.is_some() {
            catalog::owned_sequences(client, schema, &target)?
                .into_iter()
                .filter(|s| s.increment > 0)
                .collect()
        } else {
            Vec::new()
        };
        tables.push(TableApply {
            entry,
            target,
            columns,
            temp_types,
            generated,
            select,
            key,
            key_types,
            upserts,
            deletes,
            sequences,
        });
    }
    let names: Vec<String> = tables.iter().map(|t| t.target.clone()).collect();
    let edges = catalog::foreign_keys(client, schema)?;
    let (order, replica_role) = match catalog::dependency_order(&names, &edges) {
        Ok(order) => (order, false),
        Err(cycle) => {
            if client
                .batch_execute(
                    "SET session_replication_role = replica; RESET session_replication_role",
                )
                .is_ok()
            {
                obs.warn(&format!(
                    "the foreign keys between {} form a cycle: the delta is applied with \
                     session_replication_role = replica, so the target's ON DELETE/ON UPDATE \
                     actions do not fire for it",
                    cycle.join(", ")
                ));
                (names.clone(), true)
            } else {
                problems.push(format!(
                    "the foreign keys between {} form a cycle, and the role may not SET \
                     session_replication_role = replica: no order of deletes and upserts \
                     satisfies them; make those keys DEFERRABLE or apply as a role that may",
                    cycle.join(", ")
                ));
                (names.clone(), false)
            }
        }
    };
    if !problems.is_empty() {
        return Err(Error::Preflight(problems));
    }
    let pos: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut upsert_order: Vec<usize> = (0..tables.len()).collect();
    upsert_order.sort_by_key(|&i| pos.get(tables[i].target.as_str()).copied());
    let delete_order = upsert_order.iter().rev().copied().collect();
    Ok(Plan {
        tables,
        mapping,
        delete_order,
        upsert_order,
        replica_role,
        skipped,
    })
}

fn list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn temp_sql(name: &str, cols: &[String], types: &[String]) -> String {
    let defs: Vec<String> = cols
        .iter()
        .zip(types)
        .map(|(c, t)| format!("{} {t}", quote_ident(c)))
        .collect();
    format!(
        "CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP",
        quote_ident(name),
        defs.join(", ")
    )
}

fn delete_name(i: usize) -> String {
    format!("waybill_delete_{i}")
}

fn upsert_name(i: usize) -> String {
    format!("waybill_upsert_{i}")
}

fn copy_sql(temp: &str, cols: &[String]) -> String {
    format!(
        "COPY {} ({}) FROM STDIN ({COPY_OPTIONS})",
        quote_ident(temp),
        list(cols)
    )
}

fn delete_sql(schema: &str, t: &TableApply, temp: &str) -> String {
    let on: Vec<String> = t
        .key
        .iter()
        .map(|k| format!("t.{0} = d.{0}", quote_ident(k)))
        .collect();
    format!(
        "DELETE FROM {} AS t USING {} AS d WHERE {}",
        qualified(schema, &t.target),
        quote_ident(temp),
        on.join(" AND ")
    )
}

fn upsert_sql(schema: &str, t: &TableApply, temp: &str) -> String {
    // Generated columns are PostgreSQL's to compute.
    let written: Vec<(&String, &String)> = t
        .columns
        .iter()
        .zip(&t.select)
        .filter(|(c, _)| !t.generated.contains(c))
        .collect();
    let set: Vec<String> = written
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !t.key.contains(c))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
        .collect();
    let action = if set.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", set.join(", "))
    };
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO {action}",
        qualified(schema, &t.target),
        written
            .iter()
            .map(|(c, _)| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        written
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        quote_ident(temp),
        list(&t.key)
    )
}

/// The upserted rows (up to 5) whose generated columns PostgreSQL computed differently
/// from the delta's values: the key as text, then each generated column's pair.
fn read_back_sql(schema: &str, t: &TableApply, temp: &str) -> String {
    let mut select: Vec<String> = t
        .key
        .iter()
        .map(|k| format!("(t.{})::text", quote_ident(k)))
        .collect();
    let mut differ = Vec::new();
    for g in &t.generated {
        let q = quote_ident(g);
        select.push(format!("(t.{q})::text, (u.{q})::text"));
        differ.push(format!("t.{q} IS DISTINCT FROM u.{q}"));
    }
    let on: Vec<String> = t
        .key
        .iter()
        .map(|k| format!("t.{0} = u.{0}", quote_ident(k)))
        .collect();
    format!(
        "SELECT {} FROM {} AS t JOIN {} AS u ON {} WHERE {} LIMIT 5",
        select.join(", "),
        qualified(schema, &t.target),
        quote_ident(temp),
        on.join(" AND "),
        differ.join(" OR ")
    )
}

/// Moves a sequence past the rows now in the table, never backwards: `next` is SQL for
/// its next value before the apply (`next_value_sql`, or that value read before the
/// sequence was restarted: `load::restart_sequence`).
fn sequence_sql(schema: &str, t: &TableApply, s: &catalog::OwnedSequence, next: &str) -> String {
    format!(
        "SELECT setval({0}, GREATEST((SELECT max({1})::bigint + 1 FROM {2}), {next}, {3}), false)",
        quote_literal(&s.sequence),
        quote_ident(&s.column),
        qualified(schema, &t.target),
        s.start
    )
}

/// The sequence's next value.
fn next_value_sql(s: &catalog::OwnedSequence) -> String {
    format!(
        "(SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {})",
        s.sequence
    )
}

/// One step of the transaction, for running and for printing.
enum Step<'a> {
    Sql(String),
    Copy {
        sql: String,
        file: &'a FileEntry,
    },
    /// A statement whose row count is checked or reported.
    Delete {
        sql: String,
        table: usize,
    },
    Upsert {
        sql: String,
        table: usize,
    },
    /// Rows whose generated columns differ from the delta's (`read_back_sql`): any
    /// fails the apply.
    ReadBack {
        sql: String,
        table: usize,
    },
    Sequence {
        table: &'a TableApply<'a>,
        seq: &'a catalog::OwnedSequence,
    },
}

fn steps<'a>(plan: &ImportPlan, p: &'a Plan) -> Vec<Step<'a>> {
    let schema = &plan.schema;
    let mut v = Vec::new();
    if p.replica_role {
        v.push(Step::Sql(
            "SET LOCAL session_replication_role = replica".into(),
        ));
    }
    v.push(Step::Sql("SET CONSTRAINTS ALL DEFERRED".into()));
    // The rows carry the source's ON UPDATE timestamps: --create-schema's triggers
    // leave them as they are (see target::rules).
    v.push(Step::Sql("SET LOCAL waybill.loading = 'on'".into()));
    for &i in &p.delete_order {
        let t = &p.tables[i];
        if let Some(f) = t.deletes {
            let temp = delete_name(i);
            v.push(Step::Sql(temp_sql(&temp, &t.key, &t.key_types)));
            v.push(Step::Copy {
                sql: copy_sql(&temp, &t.key),
                file: f,
            });
            v.push(Step::Delete {
                sql: delete_sql(schema, t, &temp),
                table: i,
            });
        }
    }
    for &i in &p.upsert_order {
        let t = &p.tables[i];
        if let Some(f) = t.upserts {
            let temp = upsert_name(i);
            v.push(Step::Sql(temp_sql(&temp, &t.columns, &t.temp_types)));
            v.push(Step::Copy {
                sql: copy_sql(&temp, &t.columns),
                file: f,
            });
            v.push(Step::Upsert {
                sql: upsert_sql(schema, t, &temp),
                table: i,
            });
            if !t.generated.is_empty() {
                v.push(Step::ReadBack {
                    sql: read_back_sql(schema, t, &temp),
                    table: i,
                });
            }
            for s in &t.sequences {
                v.push(Step::Sequence { table: t, seq: s });
            }
        }
    }
    v
}

fn script(plan: &ImportPlan, dump: &VerifiedDump, p: &Plan, record: &str) -> String {
    let mut s = format!(
        "-- waybill-import {} at {}\n-- delta: {} (manifest sha256 {})\n-- target: {} schema {}\n\
         -- To run it by hand from the delta directory: psql -X -v ON_ERROR_STOP=1 -f <this file>\n\
         \\set ON_ERROR_STOP on\nSET TIME ZONE 'UTC';\nBEGIN;\nLOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE;\n\
         -- waybill-import checks here that the target's latest load is this delta's base\n{};\n",
        env!("CARGO_PKG_VERSION"),
        timefmt::now_rfc3339(),
        dump.dir.display(),
        dump.manifest_sha256,
        plan.target,
        plan.schema,
        applied::TABLE,
        applied::UPGRADE
    );
    for step in steps(plan, p) {
        match step {
            Step::Sql(sql)
            | Step::Delete { sql, .. }
            | Step::Upsert { sql, .. } => s.push_str(&format!("{sql};\n")),
            Step::Sequence { table, seq } => {
                // The value before the restart, kept in a setting of this transaction.
                s.push_str(&format!(
                    "SELECT set_config('waybill.next', {}::text, true);\n",
                    next_value_sql(seq)
                ));
                s.push_str(&restart_sequence_psql(&quote_literal(&seq.sequence)));
                s.push_str(&format!(
                    "{};\n",
                    sequence_sql(
                        &plan.schema,
                        table,
                        seq,
                        "current_setting('waybill.next')::bigint"
                    )
                ));
            }
            Step::ReadBack { sql, .. } => s.push_str(&format!(
                "-- the generated columns as PostgreSQL computed them must equal the delta's: no rows\n{sql};\n"
            )),
            Step::Copy { sql, file } => {
                let table = sql
                    .trim_start_matches("COPY ")
                    .split(" FROM STDIN")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                s.push_str(&format!(
                    "\\copy {table} FROM {} WITH ({COPY_OPTIONS})\n-- expect {} rows\n",
                    quote_literal(&file.path),
                    file.rows
                ));
            }
        }
    }
    s.push_str(&format!("{record};\nCOMMIT;\n"));
    s
}

/// Streams one file into a COPY, hashing it again on the way.
fn copy(
    tx: &mut Transaction,
    dump: &VerifiedDump,
    name: &str,
    sql: &str,
    f: &FileEntry,
) -> Result<u64> {
    let path = dump.dir.join(&f.path);
    let fail = |e: &postgres::Error| {
        Error::Load(format!(
            "applying table `{name}`: loading {} failed: {}",
            f.path,
            describe(e)
        ))
    };
    let mut reader = DataReader::open(&path, f.compression)
        .map_err(|e| Error::Verification(vec![e.message(&path)]))?;
    let mut writer = tx.copy_in(sql).map_err(|e| fail(&e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if let Err(e) = writer.write_all(&buf[..n]) {
            return Err(
                match e
                    .get_ref()
                    .and_then(|x| x.downcast_ref::<postgres::Error>())
                {
                    Some(pg) => fail(pg),
                    None => {
                        Error::Load(format!("applying table `{name}`: sending {}: {e}", f.path))
                    }
                },
            );
        }
        interrupt::check()?;
    }
    let (sha, bytes) = reader.finish().map_err(|e| Error::io(&path, e))?;
    if sha != f.sha256 || bytes != f.bytes {
        return Err(Error::Verification(vec![format!(
            "{}: changed while loading (sha256 now {sha}, the manifest says {})",
            f.path, f.sha256
        )]));
    }
    let n = writer.finish().map_err(|e| fail(&e))?;
    if n != f.rows {
        return Err(Error::Load(format!(
            "applying table `{name}`: {} loaded {n} rows, the manifest says {}",
            f.path, f.rows
        )));
    }
    Ok(n)
}

pub(super) fn apply(
    plan: &ImportPlan,
    dump: &VerifiedDump,
    obs: &dyn ImportObserver,
    started: time::OffsetDateTime,
) -> Result<ImportOutcome> {
    let delta = dump.manifest.delta.as_ref().ok_or_else(|| {
        Error::Verification(vec![format!(
            "{}: the manifest says kind delta but has no `delta` section",
            dump.dir.display()
        )])
    })?;
    let mut refused = Vec::new();
    if plan.create_schema.is_some() {
        refused.push(
            "--create-schema: a delta goes on top of its base's tables; create them when \
             importing the base"
                .to_string(),
        );
    }
    if plan.commit == super::Commit::PerTable {
        refused.push("--commit per-table: a delta is applied in one transaction".to_string());
    }
    if plan.copy_from != CopyFrom::Stdin {
        refused.push("--copy-from server: a delta is streamed by this client".to_string());
    }
    if !refused.is_empty() {
        return Err(Error::config(format!(
            "{} is a delta (catch-up); these options do not apply to it:\n  {}",
            dump.dir.display(),
            refused.join("\n  ")
        )));
    }
    let stamp = timefmt::stamp(started);
    let side = SideFiles::new(plan.side_files.then_some(&*plan.dump_dir), &stamp, obs);
    let log = SideLog::new(side.create("import_log", "log"));
    log.line(&format!(
        "waybill-import {} applying delta {} into {} schema {}{}",
        env!("CARGO_PKG_VERSION"),
        delta.sequence,
        plan.target,
        plan.schema,
        if plan.dry_run { " (dry run)" } else { "" }
    ));
    log.line(&format!(
        "verified {}: manifest sha256 {}, base manifest sha256 {}, binlog {}:{} to {}:{}",
        plan.dump_dir.display(),
        dump.manifest_sha256,
        delta.base_manifest_sha256,
        delta.start.binlog_file,
        delta.start.binlog_position,
        delta.end.binlog_file,
        delta.end.binlog_position
    ));
    let mut client = target::connect(&plan.target, plan.lock_timeout)?;
    log.line(&format!("connection: {}", connection_security(&mut client)));
    let result = run(&mut client, plan, dump, delta, obs, &log, &side);
    match result {
        Ok((tables, report, script, script_path, mapping, committed)) => {
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
                fk_order: false,
                schema_warnings: Vec::new(),
                rules: None,
                mapping,
                committed,
                delta: Some(report),
            })
        }
        Err(e) => {
            let e = interrupt::or_signal(e);
            log.line(&format!("failed: {e}"));
            Err(e)
        }
    }
}

type Applied = (
    Vec<TableReport>,
    DeltaReport,
    String,
    Option<PathBuf>,
    Vec<MappedName>,
    bool,
);

fn run(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &VerifiedDump,
    delta: &DeltaInfo,
    obs: &dyn ImportObserver,
    log: &SideLog,
    side: &SideFiles,
) -> Result<Applied> {
    // One import at a time into a schema, deltas included.
    if !plan.dry_run
        && let Some(holder) = catalog::take_import_lock(client, &plan.schema)?
    {
        return Err(Error::Preflight(vec![format!(
            "another waybill-import is loading into schema {} of database {}: {holder}; wait \
             for it to finish, then apply this delta",
            escaped(&plan.schema),
            escaped(&plan.target.database)
        )]));
    }
    let p = preflight(client, plan, dump, delta, obs)?;
    for (t, why) in &p.skipped {
        log.line(&format!("skipped table `{t}`: {why}"));
    }
    super::log_mapping(log, &plan.schema, &p.mapping);
    obs.mapping(&p.mapping);
    // What the target holds current (waybill.applied's `tables`) decides which changes
    // may be applied, and what it holds current afterwards.
    let all: Vec<&str> = dump.manifest.tables.iter().map(|t| t.name()).collect();
    let changed: Vec<&str> = dump
        .manifest
        .tables
        .iter()
        .filter(|e| {
            file_with(e, FileRole::Upserts).is_some() || file_with(e, FileRole::Deletes).is_some()
        })
        .map(|e| e.name())
        .collect();
    let applying: Vec<&str> = p.tables.iter().map(|t| t.entry.name()).collect();
    // The INSERT that records the delta, once the chain and coverage allow it.
    let check_chain = |c: &mut dyn FnMut() -> Result<Vec<applied::Applied>>| -> Result<String> {
        let history = c()?;
        let refused = |problems: Vec<String>| {
            Error::Preflight(
                problems
                    .into_iter()
                    .map(|problem| {
                        format!(
                            "delta {} cannot be applied to schema {}: {problem}",
                            dump.dir.display(),
                            plan.schema
                        )
                    })
                    .collect(),
            )
        };
        if let Some(problem) = applied::chain_problem(
            &history,
            &dump.manifest_sha256,
            &delta.base_manifest_sha256,
            delta.base_kind,
        ) {
            return Err(refused(vec![problem]));
        }
        let latest = history.first().and_then(|a| a.tables.as_deref());
        let after = applied::delta_coverage(latest, &all, &changed, &applying).map_err(refused)?;
        Ok(applied::insert_sql(
            &plan.schema,
            &dump.manifest,
            &dump.manifest_sha256,
            &dump.dir,
            true,
            after.as_deref(),
        ))
    };
    // Read-only first, so the usual refusals never open a transaction; again under the
    // lock below, in case another import got there in between.
    let record = check_chain(&mut || applied::history(client, &plan.schema))?;
    let text = script(plan, dump, &p, &record);
    let script_path = side.write("import_script", "sql", text.as_bytes());
    let mut reports: Vec<DeltaTableReport> = p
        .tables
        .iter()
        .map(|t| DeltaTableReport {
            name: t.entry.name().to_string(),
            target: t.target.clone(),
            upserts: t.entry.upserts.unwrap_or(0),
            deletes: t.entry.deletes.unwrap_or(0),
            deleted: 0,
            secs: 0.0,
        })
        .collect();
    let mut report = DeltaReport {
        sequence: delta.sequence,
        base_manifest_sha256: delta.base_manifest_sha256.clone(),
        tables: Vec::new(),
        skipped: p.skipped.iter().map(|s| s.0.clone()).collect(),
    };
    let table_reports = |reports: &[DeltaTableReport], status: TableStatus| -> Vec<TableReport> {
        reports
            .iter()
            .map(|r| TableReport {
                name: r.name.clone(),
                target: Some(r.target.clone()),
                manifest_rows: r.upserts + r.deletes,
                bytes: 0,
                loaded_rows: if status == TableStatus::Loaded {
                    r.upserts + r.deleted
                } else {
                    0
                },
                secs: r.secs,
                status: status.clone(),
                verified_rows: None,
            })
            .chain(p.skipped.iter().map(|(name, why)| TableReport {
                name: name.clone(),
                target: None,
                manifest_rows: 0,
                loaded_rows: 0,
                bytes: 0,
                secs: 0.0,
                status: TableStatus::Skipped(why.clone()),
                verified_rows: None,
            }))
            .collect()
    };
    if plan.dry_run {
        log.line("dry run: nothing was written to the database");
        report.tables = reports.clone();
        return Ok((
            table_reports(&reports, TableStatus::Planned),
            report,
            text,
            script_path,
            p.mapping.clone(),
            false,
        ));
    }

    let mut tx = client
        .transaction()
        .ctx(|| "starting the transaction".into())?;
    let outcome = (|| -> Result<()> {
        let lock = format!("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", applied::TABLE);
        tx.batch_execute(&lock).ctx(|| lock.clone())?;
        applied::ensure(&mut tx)?;
        let record = check_chain(&mut || applied::history(&mut tx, &plan.schema))?;
        log.line(&format!(
            "{lock}: the target's latest load is this delta's base ({})",
            delta.base_manifest_sha256
        ));
        let mut clocks: HashMap<usize, Instant> = HashMap::new();
        for step in steps(plan, &p) {
            interrupt::check()?;
            match step {
                Step::Sql(sql) => {
                    tx.batch_execute(&sql).ctx(|| sql.clone())?;
                    log.line(&sql);
                }
                Step::Sequence { table, seq } => {
                    let next = next_value_sql(seq);
                    let next: i64 = tx
                        .query_one(&format!("SELECT {next}"), &[])
                        .ctx(|| format!("reading sequence {}", seq.sequence))?
                        .get(0);
                    restart_sequence(
                        &mut tx,
                        log,
                        plan.lock_timeout,
                        &quote_literal(&seq.sequence),
                    )?;
                    let sql = sequence_sql(&plan.schema, table, seq, &next.to_string());
                    tx.batch_execute(&sql).ctx(|| sql.clone())?;
                    log.line(&sql);
                }
                Step::Copy { sql, file } => {
                    let name = file.path.clone();
                    let n = copy(&mut tx, dump, &name, &sql, file)?;
                    log.line(&format!("{sql}: {n} rows from {}", file.path));
                }
                Step::Delete { sql, table } => {
                    let t = &p.tables[table];
                    let clock = *clocks.entry(table).or_insert_with(|| {
                        obs.table_started(t.entry.name(), 0);
                        Instant::now()
                    });
                    let n = tx.execute(&sql, &[]).map_err(|e| {
                        Error::Load(format!(
                            "applying the deletes of table `{}`: {}",
                            t.entry.name(),
                            describe(&e)
                        ))
                    })?;
                    reports[table].deleted = n;
                    reports[table].secs = clock.elapsed().as_secs_f64();
                    log.line(&format!(
                        "{sql}: {n} of {} key(s) found (a key not found was inserted and deleted \
                         within the delta's range)",
                        reports[table].deletes
                    ));
                }
                Step::Upsert { sql, table } => {
                    let t = &p.tables[table];
                    let clock = *clocks.entry(table).or_insert_with(|| {
                        obs.table_started(t.entry.name(), 0);
                        Instant::now()
                    });
                    let n = tx.execute(&sql, &[]).map_err(|e| {
                        Error::Load(format!(
                            "applying the upserts of table `{}`: {}",
                            t.entry.name(),
                            describe(&e)
                        ))
                    })?;
                    let want = reports[table].upserts;
                    if n != want {
                        return Err(Error::Load(format!(
                            "table `{}`: the upserts wrote {n} rows, the delta has {want}",
                            t.entry.name()
                        )));
                    }
                    reports[table].secs = clock.elapsed().as_secs_f64();
                    log.line(&format!("{sql}: {n} row(s)"));
                }
                Step::ReadBack { sql, table } => {
                    let t = &p.tables[table];
                    let rows = tx.query(&sql, &[]).ctx(|| sql.clone())?;
                    log.line(&sql);
                    if let Some(row) = rows.first() {
                        let k = t.key.len();
                        let key: Vec<String> = (0..k)
                            .map(|i| {
                                format!(
                                    "{}={}",
                                    t.key[i],
                                    escaped(&row.get::<_, Option<String>>(i).unwrap_or_default())
                                )
                            })
                            .collect();
                        let pairs: Vec<String> = t
                            .generated
                            .iter()
                            .enumerate()
                            .filter_map(|(j, g)| {
                                let ours: Option<String> = row.get(k + 2 * j);
                                let theirs: Option<String> = row.get(k + 2 * j + 1);
                                (ours != theirs).then(|| {
                                    format!(
                                        "column `{}` is {} in PostgreSQL, {} in the delta",
                                        escaped(g),
                                        escaped(ours.as_deref().unwrap_or("NULL")),
                                        escaped(theirs.as_deref().unwrap_or("NULL"))
                                    )
                                })
                            })
                            .collect();
                        return Err(Error::Load(format!(
                            "table `{}`: PostgreSQL computes generated columns differently from \
                             the values in the delta, e.g. in the row with {}: {}; the target's \
                             generation expression does not match the source's",
                            escaped(t.entry.name()),
                            key.join(", "),
                            pairs.join("; ")
                        )));
                    }
                }
            }
        }
        tx.batch_execute(&record).ctx(|| record.clone())?;
        log.line(&record);
        for r in &reports {
            obs.table_done(&r.name, r.upserts + r.deleted, r.secs);
        }
        interrupt::check()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            tx.commit().ctx(|| "committing".into())?;
            report.tables = reports.clone();
            Ok((
                table_reports(&reports, TableStatus::Loaded),
                report,
                text,
                script_path,
                p.mapping.clone(),
                true,
            ))
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
