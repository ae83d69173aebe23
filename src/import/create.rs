//! The pre-flight for `--create-schema`: the tables come from the manifest (through
//! `target::ddl`), so the only questions for the target are whether those names are
//! free and whether foreign keys can be suspended during the load.

use std::collections::BTreeSet;

use postgres::Client;

use super::preflight::{LoadPlan, SeqFix, TableLoad};
use super::{ImportObserver, ImportPlan, table_selected};
use crate::dump::manifest::TableEntry;
use crate::dump::verify::VerifiedDump;
use crate::error::{Error, Result};
use crate::printable::escaped;
use crate::target::catalog;
use crate::target::ddl::{self, SchemaOptions, SchemaPlan};
use crate::target::names;
use crate::target::sql::{qualified, quote_literal};
use crate::target::typemap::Dialect;
use crate::target::{describe, rules};

/// Has PostgreSQL parse and type-check every CHECK condition against its table's
/// columns, before anything is written (`rules::check_probe_sql`). A --check-file
/// condition it refuses stops the import here, not after the load; a translated one it
/// refuses (the translator was wrong) is reported and left out.
fn check_conditions(
    client: &mut Client,
    sp: &mut SchemaPlan,
    obs: &dyn ImportObserver,
) -> Result<()> {
    let mut problems = Vec::new();
    let mut kept = Vec::new();
    for c in std::mem::take(&mut sp.checks) {
        let Some(t) = sp.tables.iter().find(|t| t.name == c.target) else {
            kept.push(c);
            continue;
        };
        let columns: Vec<(String, String)> = t
            .columns
            .iter()
            .cloned()
            .zip(t.types.iter().cloned())
            .collect();
        let probe = rules::check_probe_sql(&columns, &c.condition);
        let Err(e) = client.query(&probe, &[]) else {
            kept.push(c);
            continue;
        };
        let refused = format!(
            "table `{}`: PostgreSQL refuses the condition of CHECK {} ({}): {}",
            escaped(&c.table),
            escaped(&c.name),
            escaped(&c.origin),
            describe(&e)
        );
        match c.file_line {
            Some(_) => problems.push(format!("--check-file: {refused}")),
            None => {
                let msg = format!(
                    "{refused}; it is not added (give its PostgreSQL text with --check-file: {}.{} = CONDITION)",
                    escaped(&c.table),
                    escaped(&c.name)
                );
                obs.warn(&msg);
                sp.warnings.push(msg.clone());
                sp.comments.push(msg);
                sp.rules.checks_added -= 1;
                sp.rules.checks_reported += 1;
            }
        }
    }
    sp.checks = kept;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Preflight(problems))
    }
}

/// Pre-flight for `--create-schema`: the tables come from the manifest; the target
/// schema must not already hold tables of those names (unless asked to drop them).
/// `--drop-existing`: the tables of the dump's names that the schema already has.
pub(super) fn drop_existing_sql(tables: &[(String, String)]) -> String {
    let names: Vec<String> = tables.iter().map(|(s, t)| qualified(s, t)).collect();
    format!("DROP TABLE {} CASCADE", names.join(", "))
}

pub(super) fn preflight<'m>(
    client: &mut Client,
    plan: &ImportPlan,
    dump: &'m VerifiedDump,
    opts: &SchemaOptions,
    obs: &dyn ImportObserver,
) -> Result<LoadPlan<'m>> {
    let schema = &plan.schema;
    if plan.commit == super::Commit::PerTable {
        return Err(Error::Preflight(vec![
            "--create-schema loads in one transaction; it cannot be combined with --commit \
             per-table"
                .into(),
        ]));
    }
    let all: Vec<&TableEntry> = dump.manifest.tables.iter().collect();
    let entries: Vec<&TableEntry> = all
        .iter()
        .copied()
        .filter(|t| table_selected(plan, t.name()))
        .collect();
    let dialect = Dialect::of_engine(&dump.manifest.source.engine)?;
    let named = names::new_names(&all, &entries, &plan.names)?;
    let mapping: Vec<_> = named.iter().flat_map(|t| t.mapped()).collect();
    let mut sp = ddl::plan(schema, dialect, &named, opts, plan.names.style)?;
    for w in &sp.warnings {
        obs.warn(w);
    }
    check_conditions(client, &mut sp, obs)?;
    if !dump.manifest.views.is_empty() {
        obs.warn(&format!(
            "views are not created (their {} definitions are in the manifest): {}",
            dialect.sql_name(),
            dump.manifest
                .views
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let schema_exists = catalog::schema_exists(client, schema)?;
    let existing: BTreeSet<String> = if schema_exists {
        catalog::tables(client, schema)?
            .into_iter()
            .map(|t| t.name)
            .collect()
    } else {
        BTreeSet::new()
    };
    let clashing: Vec<(String, String)> = sp
        .tables
        .iter()
        .filter(|t| existing.contains(&t.name))
        .map(|t| (schema.clone(), t.name.clone()))
        .collect();
    let clash: Vec<String> = clashing.iter().map(|(s, t)| qualified(s, t)).collect();
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
        before.push(drop_existing_sql(&clashing));
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
            types: t.types.clone(),
            deferred: Vec::new(),
            set_arrays: Vec::new(),
            generated: t.generated.clone(),
            key_columns: t.key_columns.clone(),
            unfilled: Vec::new(),
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
    // The schema statement first (unless the schema exists: CREATE SCHEMA IF NOT EXISTS
    // needs CREATE on the database even then), then any drops, then the tables.
    let mut sp_before = sp.before.into_iter();
    let schema_stmt = sp_before.next().filter(|_| !schema_exists);
    let mut all_before: Vec<String> = schema_stmt.into_iter().collect();
    all_before.extend(before);
    all_before.extend(sp_before);
    Ok(LoadPlan {
        loads,
        skipped: Vec::new(),
        cascaded: Vec::new(),
        // The tables --drop-existing drops.
        locks: clashing,
        replica_role,
        fk_order: false,
        truncate: false,
        before: all_before,
        after: sp.after,
        checks: sp.checks,
        comments: sp.comments,
        rules: Some(sp.rules),
        after_split: sp.after_split,
        warnings: sp.warnings,
        mapping,
    })
}
