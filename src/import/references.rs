//! `--references CHILD.COLUMN=PARENT.COLUMN`: references the source never declared
//! (MongoDB has no foreign keys; neither do many MySQL schemas), checked in the target
//! after the load and before COMMIT. Every non-NULL value of the child column must be
//! a value of the parent column. Orphans are reported with their count, the number of
//! distinct missing values and up to five of each, and the child rows' primary keys
//! (`_id` for a MongoDB collection); they fail the import (rolled back) unless
//! `--allow-orphans`. With `--create-schema` and no orphans, the foreign key is added,
//! in the same transaction.
//!
//! Table and column names are the dump's. A name may itself hold dots (a MongoDB
//! collection `fs.chunks`, a field `a.b`), so a rule is split at the dot that names a
//! table of this import and one of its columns; a rule that could be read two ways is
//! refused.

use postgres::Transaction;

use super::preflight::{LoadPlan, TableLoad};
use super::{Ctx, ImportPlan};
use crate::dump::manifest::Manifest;
use crate::error::{Error, Result, ResultExt};
use crate::target::ddl::fit_identifier;
use crate::target::sql::{qualified, quote_ident, quote_literal};

/// How many orphaned rows and missing values a report shows.
const SAMPLES: i64 = 5;

/// A rule as given: `orders.customer_id=customers._id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub child: String,
    pub parent: String,
}

impl Reference {
    pub fn parse(rule: &str) -> Result<Reference> {
        match rule.split_once('=') {
            Some((c, p)) if c.trim().contains('.') && p.trim().contains('.') => Ok(Reference {
                child: c.trim().to_string(),
                parent: p.trim().to_string(),
            }),
            _ => Err(Error::config(format!(
                "--references {rule:?}: expected CHILD_TABLE.COLUMN=PARENT_TABLE.COLUMN, e.g. \
                 orders.customer_id=customers._id"
            ))),
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.child, self.parent)
    }
}

/// One end of a reference, in the target's names.
pub(crate) struct End {
    /// The dump's names, for messages.
    pub table: String,
    pub column: String,
    pub target_table: String,
    pub target_column: String,
}

pub(crate) struct Resolved {
    pub rule: String,
    pub child: End,
    pub parent: End,
    /// The child table's primary key (target names), to name orphaned rows.
    pub child_key: Vec<String>,
    /// Whether the parent column is the parent's primary key or a unique key (a
    /// foreign key needs one).
    pub parent_unique: bool,
}

/// `table.column` split at the dot that names a loaded table and one of its columns.
fn end(side: &str, rule: &Reference, lp: &LoadPlan) -> std::result::Result<End, String> {
    let mut found: Vec<End> = Vec::new();
    for (i, _) in side.match_indices('.') {
        let (t, c) = (&side[..i], &side[i + 1..]);
        if let Some(l) = lp.loads.iter().find(|l| l.entry.name() == t)
            && let Some(pos) = l.entry.schema.columns.iter().position(|x| x.name == c)
        {
            found.push(End {
                table: t.to_string(),
                column: c.to_string(),
                target_table: l.target.clone(),
                target_column: l.columns[pos].clone(),
            });
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "--references {rule}: `{side}` names no column of a table this import loads \
             (TABLE.COLUMN, with the dump's names)"
        )),
        _ => Err(format!(
            "--references {rule}: `{side}` can be read as {}; rename one or leave one out",
            found
                .iter()
                .map(|e| format!("table `{}` column `{}`", e.table, e.column))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

fn load_of<'a, 'm>(lp: &'a LoadPlan<'m>, table: &str) -> &'a TableLoad<'m> {
    lp.loads
        .iter()
        .find(|l| l.entry.name() == table)
        .expect("resolved against the loads")
}

/// Resolves the rules against the tables this import loads; every problem at once.
pub(crate) fn resolve(
    plan: &ImportPlan,
    lp: &LoadPlan,
    manifest: &Manifest,
) -> Result<Vec<Resolved>> {
    if plan.references.is_empty() {
        return Ok(Vec::new());
    }
    let mut problems = Vec::new();
    if plan.commit == super::Commit::PerTable {
        problems.push(
            "--references is checked before the one COMMIT of the load; --commit per-table \
             commits each table on its own, so the two cannot be combined"
                .to_string(),
        );
    }
    let mut out = Vec::new();
    for rule in &plan.references {
        let (child, parent) = match (end(&rule.child, rule, lp), end(&rule.parent, rule, lp)) {
            (Ok(c), Ok(p)) => (c, p),
            (c, p) => {
                problems.extend(c.err());
                problems.extend(p.err());
                continue;
            }
        };
        let cl = load_of(lp, &child.table);
        let child_key = cl
            .entry
            .schema
            .primary_key
            .iter()
            .filter_map(|k| {
                cl.entry
                    .schema
                    .columns
                    .iter()
                    .position(|c| &c.name == k)
                    .map(|i| cl.columns[i].clone())
            })
            .collect();
        let parent_schema = &manifest
            .table(&parent.table)
            .expect("a loaded table is in the manifest")
            .schema;
        let parent_unique = parent_schema.primary_key == [parent.column.clone()]
            || parent_schema.indexes.iter().any(|i| {
                i.unique
                    && i.predicate.is_none()
                    && i.columns.len() == 1
                    && i.columns[0].prefix.is_none()
                    && i.columns[0].name.as_deref() == Some(parent.column.as_str())
            });
        out.push(Resolved {
            rule: rule.to_string(),
            child,
            parent,
            child_key,
            parent_unique,
        });
    }
    if !problems.is_empty() {
        return Err(Error::Preflight(problems));
    }
    Ok(out)
}

impl Resolved {
    fn tables(&self, schema: &str) -> (String, String, String, String) {
        (
            qualified(schema, &self.child.target_table),
            quote_ident(&self.child.target_column),
            qualified(schema, &self.parent.target_table),
            quote_ident(&self.parent.target_column),
        )
    }

    /// `FROM child c WHERE <orphan>`; `cast` compares the two columns as text (their
    /// types differ).
    fn orphans_sql(&self, schema: &str, cast: bool) -> String {
        let (ct, cc, pt, pc) = self.tables(schema);
        let t = if cast { "::text" } else { "" };
        format!(
            "FROM {ct} c WHERE c.{cc} IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM {pt} p WHERE p.{pc}{t} = c.{cc}{t})"
        )
    }

    /// The statement that counts the orphans, as the script prints it.
    pub(crate) fn count_sql(&self, schema: &str, cast: bool) -> String {
        let (_, cc, _, _) = self.tables(schema);
        format!(
            "SELECT count(*), count(DISTINCT c.{cc}) {}",
            self.orphans_sql(schema, cast)
        )
    }

    pub(crate) fn fk_sql(&self, schema: &str) -> String {
        let (ct, cc, pt, pc) = self.tables(schema);
        format!(
            "ALTER TABLE {ct} ADD CONSTRAINT {} FOREIGN KEY ({cc}) REFERENCES {pt} ({pc})",
            quote_ident(&self.fk_name())
        )
    }

    fn fk_name(&self) -> String {
        fit_identifier(&format!(
            "{}_{}_fkey",
            self.child.target_table, self.child.target_column
        ))
    }
}

fn column_type(tx: &mut Transaction, table: &str, column: &str) -> Result<Option<String>> {
    let row = tx
        .query_opt(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
            &[&table, &column],
        )
        .ctx(|| format!("looking up the type of {table}.{column}"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Checks every reference inside the load's transaction, after the data and the keys
/// are in. Orphans fail the import unless allowed; with `--create-schema` and no
/// orphans the foreign keys are added.
pub(crate) fn check(tx: &mut Transaction, cx: &Ctx) -> Result<()> {
    let (plan, log, obs) = (cx.plan, cx.log, cx.obs);
    let schema = &plan.schema;
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    let mut foreign_keys = Vec::new();
    for r in cx.references {
        crate::interrupt::check()?;
        let ct = column_type(
            tx,
            &qualified(schema, &r.child.target_table),
            &r.child.target_column,
        )?;
        let pt = column_type(
            tx,
            &qualified(schema, &r.parent.target_table),
            &r.parent.target_column,
        )?;
        let cast = ct != pt;
        if cast {
            obs.warn(&format!(
                "--references {}: `{}`.`{}` is {} and `{}`.`{}` is {}: compared as text",
                r.rule,
                r.child.table,
                r.child.column,
                ct.as_deref().unwrap_or("?"),
                r.parent.table,
                r.parent.column,
                pt.as_deref().unwrap_or("?")
            ));
        }
        let sql = r.count_sql(schema, cast);
        let row = tx
            .query_one(&sql, &[])
            .ctx(|| format!("--references {}: {sql}", r.rule))?;
        let (orphans, distinct): (i64, i64) = (row.get(0), row.get(1));
        if orphans == 0 {
            let mut done = format!("--references {}: every reference resolves", r.rule);
            if plan.create_schema.is_some() {
                if !r.parent_unique {
                    obs.warn(&format!(
                        "--references {}: `{}`.`{}` is not the primary key or a unique key of \
                         `{}`, so no foreign key was added",
                        r.rule, r.parent.table, r.parent.column, r.parent.table
                    ));
                } else if cast {
                    obs.warn(&format!(
                        "--references {}: the column types differ, so no foreign key was added",
                        r.rule
                    ));
                } else {
                    done.push_str(&format!("; foreign key {} added", r.fk_name()));
                    foreign_keys.push(r.fk_sql(schema));
                }
            }
            passed.push(done);
            continue;
        }
        let (_, cc, _, _) = r.tables(schema);
        let missing: Vec<String> = tx
            .query(
                &format!(
                    "SELECT DISTINCT c.{cc}::text {} ORDER BY 1 LIMIT {SAMPLES}",
                    r.orphans_sql(schema, cast)
                ),
                &[],
            )
            .ctx(|| format!("--references {}: listing the missing values", r.rule))?
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        let rows: Vec<String> = if r.child_key.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<String> = r
                .child_key
                .iter()
                .map(|k| format!("c.{}::text", quote_ident(k)))
                .collect();
            let order: Vec<String> = r
                .child_key
                .iter()
                .map(|k| format!("c.{}", quote_ident(k)))
                .collect();
            tx.query(
                &format!(
                    "SELECT {} {} ORDER BY {} LIMIT {SAMPLES}",
                    keys.join(", "),
                    r.orphans_sql(schema, cast),
                    order.join(", ")
                ),
                &[],
            )
            .ctx(|| format!("--references {}: listing the orphaned rows", r.rule))?
            .iter()
            .map(|row| {
                let parts: Vec<String> = (0..r.child_key.len())
                    .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
                    .collect();
                if parts.len() == 1 {
                    parts[0].clone()
                } else {
                    format!("({})", parts.join(", "))
                }
            })
            .collect()
        };
        let key_names: Vec<&str> = cx
            .lp
            .loads
            .iter()
            .find(|l| l.entry.name() == r.child.table)
            .map(|l| {
                l.entry
                    .schema
                    .primary_key
                    .iter()
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        let more = |shown: usize, total: i64| {
            if total > shown as i64 {
                format!(" and {} more", total - shown as i64)
            } else {
                String::new()
            }
        };
        let mut report = format!(
            "--references {}: {orphans} row(s) of `{}` have a `{}` that is not a `{}` of `{}` \
             ({distinct} distinct missing value(s): {}{})",
            r.rule,
            r.child.table,
            r.child.column,
            r.parent.column,
            r.parent.table,
            missing
                .iter()
                .map(|m| quote_literal(m))
                .collect::<Vec<_>>()
                .join(", "),
            more(missing.len(), distinct)
        );
        if !rows.is_empty() {
            report.push_str(&format!(
                "; the rows with {} {}{}",
                key_names.join(", "),
                rows.join(", "),
                more(rows.len(), orphans)
            ));
        }
        log.line(&report);
        if plan.allow_orphans {
            obs.warn(&format!(
                "{report} (loaded anyway: --allow-orphans; no foreign key added)"
            ));
        } else {
            failures.push(report);
        }
    }
    if failures.is_empty() {
        for fk in foreign_keys {
            tx.batch_execute(&fk).ctx(|| fk.clone())?;
            log.line(&fk);
        }
        for p in passed {
            log.line(&p);
            obs.note(&p);
        }
        Ok(())
    } else {
        Err(Error::Load(format!(
            "{}\nnothing was committed; fix the data, or rerun with --allow-orphans to load the \
             orphans anyway",
            failures.join("\n")
        )))
    }
}
