//! The statements of a load, built once: `load` runs them and `script` prints them (for
//! `--dry-run` and `import_script_<ts>.sql`), so the two cannot drift apart.

use super::preflight::{LoadPlan, SeqFix, TableLoad};
use super::{CopyFrom, Ctx, ImportPlan};
use crate::dump::manifest::{COPY_OPTIONS, FileEntry};
use crate::target::sql::{qualified, quote_ident, quote_literal};
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

pub(super) fn copy_sql(plan: &ImportPlan, l: &TableLoad, f: &FileEntry) -> String {
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

pub(super) fn truncate_sql(plan: &ImportPlan, lp: &LoadPlan) -> String {
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

pub(super) fn script(cx: &Ctx) -> String {
    let (plan, lp, dump) = (cx.plan, cx.lp, cx.dump);
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
        s.push_str("COMMIT;\n");
    }
    if lp.replica_role {
        s.push_str("RESET session_replication_role;\n");
    }
    s
}

/// What the all-or-nothing transaction runs before the tables: schema statements
/// (with --create-schema), then the TRUNCATE of existing tables.
pub(super) fn opening(plan: &ImportPlan, lp: &LoadPlan) -> Vec<String> {
    let mut v = lp.before.clone();
    if lp.truncate {
        v.push(truncate_sql(plan, lp));
    }
    v
}

/// One step of loading a table. `script` prints these and `load_table` runs them, so
/// the two cannot drift apart.
pub(super) enum Step<'a> {
    Sql(String),
    Copy(&'a FileEntry),
    /// A `SELECT setval(...)` and the sequence it sets (for the log).
    Sequence(String, &'a str),
}

/// A table's load, in order: drop its indexes, COPY each file, build the indexes
/// again, set its sequences.
pub(super) fn table_steps<'a>(plan: &ImportPlan, l: &'a TableLoad) -> Vec<Step<'a>> {
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
