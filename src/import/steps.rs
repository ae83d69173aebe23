//! The statements of a load, built once: `load` runs them and `script` prints them (for
//! `--dry-run` and `import_script_<ts>.sql`), so the two cannot drift apart.

use super::preflight::{LoadPlan, SeqFix, TableLoad};
use super::{Commit, CopyFormat, CopyFrom, Ctx, ImportPlan};
use crate::dump::manifest::{COPY_OPTIONS, FileEntry};
use crate::printable::escaped;
use crate::target::sql::{qualified, quote_ident, quote_literal, set_to_array};
use crate::timefmt;

pub(super) fn server_path(dir: &str, file: &str) -> String {
    format!("{}/{file}", dir.trim_end_matches('/'))
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

/// The staging table a table with SET-to-array columns, or with generated columns, is
/// loaded through: a temporary table shaped like the target, the SET columns as text,
/// the generated columns computed from the same expressions beside plain columns for
/// the dump's values. Each file is COPYed into it and moved on with one
/// `INSERT ... SELECT` that converts the SETs and leaves the generated columns to the
/// table, inside the same transaction, so the load still streams and is still all or
/// nothing; only these tables pay for the second write.
pub(super) const STAGE: &str = "pg_temp.\"waybill_stage\"";

/// Where a table's COPY goes: the table, or the staging table.
pub(super) fn copy_target(plan: &ImportPlan, l: &TableLoad) -> String {
    if l.staged() {
        STAGE.to_string()
    } else {
        qualified(&plan.schema, &l.target)
    }
}

pub(super) fn copy_sql(plan: &ImportPlan, l: &TableLoad, f: &FileEntry) -> String {
    let source = match &plan.copy_from {
        CopyFrom::Stdin => "STDIN".to_string(),
        CopyFrom::Server { dir } => quote_literal(&server_path(dir, &f.path)),
    };
    format!(
        "COPY {} ({}) FROM {source} ({})",
        copy_target(plan, l),
        column_list(&l.copy_columns()),
        copy_options(l.freeze)
    )
}

/// The COPY of one file in PostgreSQL's binary format, converted by this client
/// (`binary`).
pub(super) fn copy_sql_binary(plan: &ImportPlan, l: &TableLoad) -> String {
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary{})",
        copy_target(plan, l),
        column_list(&l.copy_columns()),
        if l.freeze { ", FREEZE true" } else { "" }
    )
}

/// The staging statements of a table with SET-to-array or generated columns: create,
/// move one file's rows into the table (converting the SETs, leaving the generated
/// columns out), drop.
fn stage_sql(plan: &ImportPlan, l: &TableLoad) -> (String, String, String) {
    let array_type = |c: &str| l.set_arrays.iter().find(|(n, _)| n == c).map(|(_, t)| t);
    let qt = qualified(&plan.schema, &l.target);
    let stage_name = STAGE.trim_start_matches("pg_temp.");
    let create = if l.generated.is_empty() {
        let shape: Vec<String> = l
            .columns
            .iter()
            .map(|c| match array_type(c) {
                Some(_) => format!("NULL::text AS {}", quote_ident(c)),
                None => quote_ident(c),
            })
            .collect();
        format!(
            "CREATE TEMP TABLE {stage_name} ON COMMIT DROP AS SELECT {} FROM {qt} WITH NO DATA",
            shape.join(", ")
        )
    } else {
        // Shaped like the table, generated columns included (computed by PostgreSQL
        // from the same expressions), plus a plain column for each one's dump values.
        let mut sql = format!(
            "CREATE TEMP TABLE {stage_name} (LIKE {qt} INCLUDING GENERATED) ON COMMIT DROP; \
             ALTER TABLE {STAGE} {}",
            l.generated
                .iter()
                .map(|g| format!("ADD COLUMN {} {}", quote_ident(&g.source), g.pg_type))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for c in &l.unfilled {
            sql.push_str(&format!(
                "; ALTER TABLE {STAGE} ALTER COLUMN {} DROP NOT NULL",
                quote_ident(c)
            ));
        }
        for (c, _) in &l.set_arrays {
            sql.push_str(&format!(
                "; ALTER TABLE {STAGE} ALTER COLUMN {} TYPE text USING NULL",
                quote_ident(c)
            ));
        }
        sql
    };
    let kept: Vec<&String> = l
        .columns
        .iter()
        .filter(|c| !l.generated.iter().any(|g| &g.column == *c))
        .collect();
    let kept_owned: Vec<String> = kept.iter().map(|c| (*c).clone()).collect();
    let convert: Vec<String> = kept
        .iter()
        .map(|c| match array_type(c) {
            Some(t) => format!("({})::{t}", set_to_array(&quote_ident(c))),
            None => quote_ident(c),
        })
        .collect();
    (
        create,
        format!(
            "INSERT INTO {qt} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {STAGE}; TRUNCATE {STAGE}",
            column_list(&kept_owned),
            convert.join(", ")
        ),
        format!("DROP TABLE {STAGE}"),
    )
}

/// The read-back of a file's generated columns, in the staging table before the rows
/// move on: the rows (up to 5) where PostgreSQL's value differs from the dump's, as the
/// key columns' text, then each generated column's computed and exported text.
pub(super) fn read_back_sql(l: &TableLoad) -> String {
    let mut select: Vec<String> = l
        .key_columns
        .iter()
        .map(|k| format!("({})::text", quote_ident(k)))
        .collect();
    let mut differ = Vec::new();
    for g in &l.generated {
        let (c, s) = (quote_ident(&g.column), quote_ident(&g.source));
        select.push(format!("({c})::text"));
        select.push(format!("({s})::text"));
        differ.push(format!("{c} IS DISTINCT FROM {s}"));
    }
    format!(
        "SELECT {} FROM {STAGE} WHERE {} LIMIT 5",
        select.join(", "),
        differ.join(" OR ")
    )
}

/// `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` of `tables`: every lock a load needs,
/// taken first, so a lock wait happens here, within `--lock-timeout`, and nowhere later.
pub(super) fn lock_sql(tables: &[(String, String)]) -> Option<String> {
    (!tables.is_empty()).then(|| {
        let names: Vec<String> = tables.iter().map(|(s, t)| qualified(s, t)).collect();
        format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", names.join(", "))
    })
}

/// `SET lock_timeout`, in milliseconds (0: no limit, as in PostgreSQL).
pub(super) fn lock_timeout_sql(plan: &ImportPlan) -> String {
    format!("SET lock_timeout = '{}ms'", plan.lock_timeout.as_millis())
}

pub(super) fn truncate_sql(plan: &ImportPlan, lp: &LoadPlan) -> String {
    truncate_of(plan, lp.loads.iter())
}

/// `TRUNCATE TABLE ... CASCADE` of `loads`' target tables.
pub(super) fn truncate_of<'a, 'm: 'a>(
    plan: &ImportPlan,
    loads: impl Iterator<Item = &'a TableLoad<'m>>,
) -> String {
    let names: Vec<String> = loads.map(|l| qualified(&plan.schema, &l.target)).collect();
    format!("TRUNCATE TABLE {} CASCADE", names.join(", "))
}

/// Sets a sequence so its next value is above the loaded data and at least the source's
/// AUTO_INCREMENT; an empty table goes back to the start. When that value is beyond
/// the sequence's maximum (an `int` column holding 2147483647), the sequence is
/// exhausted: it is left at its maximum, so `nextval` fails rather than wraps, and the
/// query says so (second column) for a warning. Returns the value `setval` set, that
/// flag, and the sequence's name.
fn sequence_sql(plan: &ImportPlan, l: &TableLoad, s: &SeqFix) -> String {
    let floor = s
        .auto_increment
        .map(|a| a.min(i64::MAX as u64) as i64)
        .unwrap_or(s.start)
        .max(s.start);
    format!(
        "SELECT CASE WHEN w.next > q.seqmax THEN setval(q.seqrelid, q.seqmax, true) \
         ELSE setval(q.seqrelid, w.next::bigint, false) END, w.next > q.seqmax, \
         q.seqrelid::regclass::text \
         FROM (SELECT GREATEST((SELECT max({})::numeric + 1 FROM {}), {floor}) AS next) w, \
         pg_sequence q WHERE q.seqrelid = ({})::regclass",
        quote_ident(&s.column),
        qualified(&plan.schema, &l.target),
        s.sequence,
    )
}

/// `load::restart_sequence` in psql: so that a rollback also undoes the `setval` that
/// follows (by the sequence's owner only). `seq` is SQL for the sequence.
pub(super) fn restart_sequence_psql(seq: &str) -> String {
    format!(
        "-- a rollback undoes setval only on a sequence ALTERed in the same transaction\n\
         SELECT format('ALTER SEQUENCE %s RESTART', c.oid::regclass) FROM pg_class c \
         WHERE c.oid = ({seq})::regclass AND pg_has_role(c.relowner, 'USAGE') \\gexec\n"
    )
}

pub(super) fn script(cx: &Ctx) -> String {
    let (plan, lp, dump) = (cx.plan, cx.lp, cx.dump);
    let mut s = String::new();
    s.push_str(&format!(
        "-- waybill-import {} at {}\n-- dump: {} (manifest sha256 {})\n-- target: {} schema {}\n",
        env!("CARGO_PKG_VERSION"),
        timefmt::now_rfc3339(),
        escaped(&dump.dir.display().to_string()),
        dump.manifest_sha256,
        escaped(&plan.target.to_string()),
        escaped(&plan.schema)
    ));
    if plan.copy_from == CopyFrom::Stdin {
        s.push_str("-- To run it by hand from the dump directory: psql -X -v ON_ERROR_STOP=1 -f <this file>\n");
        if plan.copy_format == CopyFormat::Binary {
            s.push_str(
                "-- waybill-import itself streams each file in PostgreSQL's binary COPY format, \
                 converted from the CSV\n-- by the client where the column types allow \
                 (the same values); psql loads the CSV as below.\n",
            );
        }
    }
    for c in &lp.comments {
        s.push_str(&format!("-- {}\n", escaped(c)));
    }
    s.push_str(&format!(
        "\\set ON_ERROR_STOP on\nSET TIME ZONE 'UTC';\n{};\n",
        lock_timeout_sql(plan)
    ));
    if lp.replica_role {
        s.push_str("SET session_replication_role = replica;\n");
    } else if lp.fk_order {
        s.push_str("-- session_replication_role not available: loading parents first\n");
    }
    let per_table = plan.commit == Commit::PerTable;
    if per_table {
        s.push_str(&format!(
            "-- --commit per-table (--jobs {}): the tables are emptied in one transaction, then \
             each table is loaded\n-- and committed on its own, several at once\n",
            plan.jobs
        ));
        if plan.resume {
            s.push_str(
                "-- --resume: the tables an earlier run committed and that are proven equal to \
                 the dump\n-- (row count and content digest) are kept: left out of the TRUNCATE \
                 and of the loads below;\n-- the import log names them\n",
            );
        }
        s.push_str("BEGIN;\n");
        for op in opening(plan, lp) {
            s.push_str(&format!("{};\n", op.sql()));
        }
        s.push_str("COMMIT;\n");
    } else {
        if plan.jobs > 1 && plan.create_schema.is_none() {
            s.push_str(&format!(
                "-- waybill-import loads the tables that no foreign key links on up to {} \
                 connections at once,\n-- committed together by two-phase commit, and the files \
                 of a large table at once into a shadow\n-- table swapped in at the commit (the \
                 import log says how); this script runs the\n-- same statements in one \
                 transaction\n",
                plan.jobs
            ));
        } else if plan.jobs > 1 {
            s.push_str(&format!(
                "-- into a schema that does not exist yet, waybill-import loads through a \
                 staging schema on up to {}\n-- connections, renamed at the commit (the import \
                 log says how); this script runs the\n-- same statements in one transaction\n",
                plan.jobs
            ));
        }
        s.push_str("BEGIN;\n");
        for op in opening(plan, lp) {
            s.push_str(&format!("{};\n", op.sql()));
        }
    }
    for l in &lp.loads {
        if per_table {
            s.push_str("BEGIN;\n");
        }
        for step in table_steps(plan, l) {
            match step {
                Step::Sql(stmt) | Step::Lock(stmt) | Step::Rebuild(stmt) => {
                    s.push_str(&format!("{stmt};\n"))
                }
                Step::Sequence(stmt, seq) => {
                    s.push_str(&restart_sequence_psql(seq));
                    s.push_str(&format!("{stmt};\n"))
                }
                Step::ReadBack(stmt) => s.push_str(&format!(
                    "-- the generated columns as PostgreSQL computed them must equal the dump's: no rows\n{stmt};\n"
                )),
                Step::Copy(f) => {
                    match plan.copy_from {
                        CopyFrom::Stdin => s.push_str(&format!(
                            "\\copy {} ({}) FROM {} WITH ({})\n",
                            copy_target(plan, l),
                            column_list(&l.copy_columns()),
                            match f.compression {
                                None => quote_literal(&f.path),
                                // psql runs the decompressor; the name is a safe file name.
                                Some(_) => format!(
                                    "PROGRAM {}",
                                    quote_literal(&format!("zstd -dcq -- '{}'", f.path))
                                ),
                            },
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
        for c in &lp.checks {
            s.push_str(&format!(
                "-- CHECK {} of `{}` ({}), validated against the loaded rows\n{};\n",
                escaped(&c.name),
                escaped(&c.table),
                escaped(&c.origin),
                c.sql
            ));
        }
        for r in cx.references {
            s.push_str(&format!(
                "-- --references {}: no orphans allowed{}\n{};\n",
                r.rule,
                if plan.create_schema.is_some() && r.parent_unique {
                    format!(", then: {}", r.fk_sql(&plan.schema))
                } else {
                    String::new()
                },
                r.count_sql(&plan.schema, false)
            ));
        }
        s.push_str(&format!(
            "-- what was loaded, for catch-up deltas (waybill-import skips this, with a warning, \
             when the role may not create it)\n{};\n{};\n{};\n",
            super::applied::CREATE,
            super::applied::UPGRADE,
            super::applied::insert_for(cx, true)
        ));
        s.push_str("COMMIT;\n");
    }
    if lp.replica_role {
        s.push_str("RESET session_replication_role;\n");
    }
    s
}

/// A statement that opens a load.
pub(super) enum Opening {
    /// Takes every table lock the load needs (within --lock-timeout).
    Lock(String),
    Sql(String),
    /// Empties the loaded tables (and, with --cascade, the tables that reference them).
    Truncate(String),
}

impl Opening {
    pub(super) fn sql(&self) -> &str {
        match self {
            Opening::Lock(s) | Opening::Sql(s) | Opening::Truncate(s) => s,
        }
    }
}

/// What a load runs before the tables: the locks, schema statements (with
/// --create-schema), then the TRUNCATE of existing tables. With --commit per-table this is its own
/// committed transaction, without the schema statements (--create-schema is one
/// transaction).
pub(super) fn opening(plan: &ImportPlan, lp: &LoadPlan) -> Vec<Opening> {
    let mut v: Vec<Opening> = lock_sql(&lp.locks).map(Opening::Lock).into_iter().collect();
    v.extend(lp.before.iter().cloned().map(Opening::Sql));
    if lp.truncate {
        v.push(Opening::Truncate(truncate_sql(plan, lp)));
    }
    v
}

/// One step of loading a table. `script` prints these and `load_table` runs them, so
/// the two cannot drift apart.
pub(super) enum Step<'a> {
    Sql(String),
    /// With --commit per-table: the table's own lock, first in its transaction.
    Lock(String),
    Copy(&'a FileEntry),
    /// Builds one of the indexes dropped before the COPY again (or comments on it).
    Rebuild(String),
    /// A `SELECT setval(...)` and the sequence it sets (for the log).
    Sequence(String, &'a str),
    /// The generated columns' read-back (`read_back_sql`): any row it returns fails
    /// the load.
    ReadBack(String),
}

/// A table's load, in order: (with --commit per-table, lock it), drop its indexes, COPY each file,
/// build the indexes again, set its sequences.
pub(super) fn table_steps<'a>(plan: &ImportPlan, l: &'a TableLoad) -> Vec<Step<'a>> {
    let mut steps: Vec<Step> = Vec::new();
    if plan.commit == Commit::PerTable {
        steps.extend(lock_sql(&[(plan.schema.clone(), l.target.clone())]).map(Step::Lock));
    }
    steps.extend(l.deferred.iter().map(|d| Step::Sql(d.drop.clone())));
    if !l.staged() {
        steps.extend(l.entry.files.iter().map(Step::Copy));
    } else {
        let (create, insert, drop) = stage_sql(plan, l);
        let read_back = (!l.generated.is_empty()).then(|| read_back_sql(l));
        steps.push(Step::Sql(create));
        for f in &l.entry.files {
            steps.push(Step::Copy(f));
            if let Some(r) = &read_back {
                steps.push(Step::ReadBack(r.clone()));
            }
            steps.push(Step::Sql(insert.clone()));
        }
        steps.push(Step::Sql(drop));
    }
    steps.extend(
        l.deferred
            .iter()
            .flat_map(|d| &d.create)
            .map(|stmt| Step::Rebuild(stmt.clone())),
    );
    steps.extend(
        l.sequences
            .iter()
            .map(|q| Step::Sequence(sequence_sql(plan, l, q), q.sequence.as_str())),
    );
    steps
}
