//! `waybill.applied`: which dumps a target schema was loaded from, one row per import,
//! written inside the import's own transaction. A delta checks here that the target
//! holds exactly its base (the last complete row for the schema names the base's
//! manifest sha256), so a delta applied twice, out of order, or onto the wrong base is
//! refused, and records itself when it commits.
//!
//! A load that covers only some of the dump's tables (`--tables`, `--exclude`, or tables
//! missing in the target) records which, in `tables` (NULL: every table). A delta with
//! changes to a table its target does not hold current is refused (its rows would be
//! patched onto data that never came from the base), and a delta applied without some of
//! its changed tables leaves them out of what the target holds current.
//!
//! A full import that cannot create the table (a role without CREATE on the database)
//! still loads, with a warning: the target then cannot take deltas. With `--commit
//! per-table`, the row is written as incomplete in the transaction that empties the
//! tables and marked complete once every table committed, so a failed parallel import
//! never looks like a loaded base.

use postgres::GenericClient;

use super::Ctx;
use crate::dump::manifest::{DumpKind, Manifest};
use crate::error::{Result, ResultExt};
use crate::target::sql::quote_literal;

/// `waybill.applied`, as SQL.
pub(crate) const TABLE: &str = "waybill.applied";

pub(crate) const CREATE: &str = "CREATE SCHEMA IF NOT EXISTS waybill;
CREATE TABLE IF NOT EXISTS waybill.applied (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_schema text NOT NULL,
    manifest_sha256 text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('full', 'delta')),
    base_manifest_sha256 text,
    complete boolean NOT NULL,
    binlog_file text,
    binlog_position bigint,
    gtid text,
    dump_dir text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    tool_version text NOT NULL,
    tables text[]
);
COMMENT ON TABLE waybill.applied IS 'Dumps waybill-import loaded, one row per import; catch-up deltas check their base here';
COMMENT ON COLUMN waybill.applied.tables IS 'The dump tables this target holds current after the load (dump names); NULL: all of them'";

/// Adds `tables` to a `waybill.applied` made by an older waybill-import.
pub(crate) const UPGRADE: &str =
    "ALTER TABLE waybill.applied ADD COLUMN IF NOT EXISTS tables text[]";

/// Whether the table exists.
pub(crate) fn exists(client: &mut impl GenericClient) -> Result<bool> {
    Ok(client
        .query_one("SELECT to_regclass('waybill.applied') IS NOT NULL", &[])
        .ctx(|| "looking for waybill.applied".into())?
        .get(0))
}

/// Creates the table unless it exists (creating the schema needs CREATE on the
/// database, even with IF NOT EXISTS, so existence is asked first), and gives an older
/// one its `tables` column.
pub(crate) fn ensure(client: &mut impl GenericClient) -> Result<()> {
    if !exists(client)? {
        return client
            .batch_execute(CREATE)
            .ctx(|| format!("creating {TABLE}"));
    }
    let has_tables: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'waybill.applied'::regclass \
             AND attname = 'tables' AND NOT attisdropped)",
            &[],
        )
        .ctx(|| format!("reading the columns of {TABLE}"))?
        .get(0);
    if !has_tables {
        client.batch_execute(UPGRADE).ctx(|| UPGRADE.into())?;
    }
    Ok(())
}

/// The tables a load leaves current, as recorded: `None` when that is every table of
/// the dump (`all`), otherwise the names, sorted.
pub(crate) fn covered(all: &[&str], current: &[&str]) -> Option<Vec<String>> {
    if all.iter().all(|t| current.contains(t)) {
        return None;
    }
    let mut v: Vec<String> = current.iter().map(|t| t.to_string()).collect();
    v.sort();
    v.dedup();
    Some(v)
}

/// A delta on top of `latest`: the changed tables it applies must be ones the target
/// holds current, and the changed ones it does not apply are current no more. Returns
/// the refusals, or what the target holds current after the delta (`covered`).
pub(crate) fn delta_coverage(
    latest: Option<&[String]>,
    all: &[&str],
    changed: &[&str],
    applying: &[&str],
) -> std::result::Result<Option<Vec<String>>, Vec<String>> {
    let current = |t: &str| latest.is_none_or(|l| l.iter().any(|x| x == t));
    let stale: Vec<String> = applying
        .iter()
        .filter(|t| !current(t))
        .map(|t| format!("`{t}`"))
        .collect();
    if !stale.is_empty() {
        return Err(vec![format!(
            "this delta changes {} which the target's latest load did not load (it holds \
             current only: {}): applying the changes would patch rows that never came from \
             the base; load the base again with those tables, or leave them out (--exclude)",
            stale.join(", "),
            latest.unwrap_or_default().join(", ")
        )]);
    }
    let after: Vec<&str> = all
        .iter()
        .copied()
        .filter(|t| current(t) && (!changed.contains(t) || applying.contains(t)))
        .collect();
    Ok(covered(all, &after))
}

/// The INSERT that records `m` as loaded into `schema`.
pub(crate) fn insert_sql(
    schema: &str,
    m: &Manifest,
    manifest_sha256: &str,
    dump_dir: &std::path::Path,
    complete: bool,
    tables: Option<&[String]>,
) -> String {
    let opt = |v: Option<&str>| v.map(quote_literal).unwrap_or_else(|| "NULL".into());
    let tables = match tables {
        None => "NULL".to_string(),
        Some(t) => format!(
            "ARRAY[{}]::text[]",
            t.iter()
                .map(|n| quote_literal(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "INSERT INTO {TABLE} (target_schema, manifest_sha256, kind, base_manifest_sha256, complete, \
         binlog_file, binlog_position, gtid, dump_dir, tool_version, tables) VALUES ({}, {}, {}, {}, \
         {complete}, {}, {}, {}, {}, {}, {tables})",
        quote_literal(schema),
        quote_literal(manifest_sha256),
        quote_literal(m.kind.as_str()),
        opt(m.delta.as_ref().map(|d| d.base_manifest_sha256.as_str())),
        opt(m.snapshot.binlog_file.as_deref()),
        m.snapshot
            .binlog_position
            .map(|p| p.to_string())
            .unwrap_or_else(|| "NULL".into()),
        opt(m.snapshot.gtid.as_deref()),
        quote_literal(&dump_dir.display().to_string()),
        quote_literal(env!("CARGO_PKG_VERSION")),
    )
}

/// The INSERT that records this import's dump as loaded (with the tables it loaded,
/// when that is not all of them).
pub(super) fn insert_for(cx: &Ctx, complete: bool) -> String {
    let all: Vec<&str> = cx.dump.manifest.tables.iter().map(|t| t.name()).collect();
    let loaded: Vec<&str> = cx.lp.loads.iter().map(|l| l.entry.name()).collect();
    insert_sql(
        &cx.plan.schema,
        &cx.dump.manifest,
        &cx.dump.manifest_sha256,
        &cx.dump.dir,
        complete,
        covered(&all, &loaded).as_deref(),
    )
}

fn cannot_record(cx: &Ctx, e: &crate::Error) {
    cx.obs.warn(&format!(
        "cannot record this load in {TABLE} ({e}): the data is loaded, but catch-up deltas \
         cannot be applied to this target"
    ));
}

/// Records a full load inside its transaction (all or nothing). A failure (no privilege
/// to create the table) is rolled back to a savepoint and reported, not fatal.
pub(super) fn record(tx: &mut postgres::Transaction, cx: &Ctx) -> Result<()> {
    let sql = insert_for(cx, true);
    let mut sp = tx
        .savepoint("waybill_applied")
        .ctx(|| "SAVEPOINT waybill_applied".into())?;
    let outcome = ensure(&mut sp).and_then(|_| sp.batch_execute(&sql).ctx(|| sql.clone()));
    match outcome {
        Ok(()) => {
            sp.commit()
                .ctx(|| "RELEASE SAVEPOINT waybill_applied".into())?;
            cx.log.line(&sql);
        }
        Err(e) => {
            drop(sp);
            cannot_record(cx, &e);
        }
    }
    Ok(())
}

/// `--commit per-table`: the INSERT (as incomplete) to run in the transaction that empties the
/// tables, or `None` when the table cannot be created.
pub(super) fn incomplete_marker(client: &mut postgres::Client, cx: &Ctx) -> Option<String> {
    match ensure(client) {
        Ok(()) => Some(insert_for(cx, false)),
        Err(e) => {
            cannot_record(cx, &e);
            None
        }
    }
}

/// `--commit per-table`: every table committed; the load is complete.
pub(super) fn mark_complete(client: &mut postgres::Client, cx: &Ctx) -> Result<()> {
    let sql = format!(
        "UPDATE {TABLE} SET complete = true, applied_at = now() WHERE id = (SELECT max(id) FROM \
         {TABLE} WHERE target_schema = {} AND manifest_sha256 = {} AND NOT complete)",
        quote_literal(&cx.plan.schema),
        quote_literal(&cx.dump.manifest_sha256)
    );
    client.batch_execute(&sql).ctx(|| sql.clone())?;
    cx.log.line(&sql);
    Ok(())
}

/// One row of the table.
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    pub manifest_sha256: String,
    pub kind: String,
    pub complete: bool,
    pub applied_at: String,
    pub dump_dir: String,
    /// The dump tables the load left current; `None`: all of them.
    pub tables: Option<Vec<String>>,
}

/// The rows for `schema`, newest first.
pub(crate) fn history(client: &mut impl GenericClient, schema: &str) -> Result<Vec<Applied>> {
    let rows = client
        .query(
            // `tables` through to_jsonb: NULL also in a table an older version made.
            "SELECT manifest_sha256, kind, complete, \
                    to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), dump_dir, \
                    to_jsonb(a) ->> 'tables' \
             FROM waybill.applied a WHERE target_schema = $1 ORDER BY id DESC",
            &[&schema],
        )
        .ctx(|| format!("reading {TABLE}"))?;
    Ok(rows
        .into_iter()
        .map(|r| Applied {
            manifest_sha256: r.get(0),
            kind: r.get(1),
            complete: r.get(2),
            applied_at: r.get(3),
            dump_dir: r.get(4),
            tables: r
                .get::<_, Option<String>>(5)
                .and_then(|j| serde_json::from_str(&j).ok()),
        })
        .collect())
}

/// Why a delta cannot go on top of what `history` says the target holds; `None` when
/// the latest complete load is its base.
pub(crate) fn chain_problem(
    history: &[Applied],
    delta_sha256: &str,
    base_sha256: &str,
    base_kind: DumpKind,
) -> Option<String> {
    let describe = |a: &Applied| {
        format!(
            "the {} dump {} (manifest sha256 {}, applied {})",
            a.kind, a.dump_dir, a.manifest_sha256, a.applied_at
        )
    };
    let Some(latest) = history.first() else {
        return Some(
            "the target schema was never loaded by waybill-import (waybill.applied has no row \
             for it): import the base dump first"
                .into(),
        );
    };
    if let Some(done) = history.iter().find(|a| a.manifest_sha256 == delta_sha256) {
        return Some(format!(
            "this delta was already applied (at {}); applying it twice would repeat its changes",
            done.applied_at
        ));
    }
    if !latest.complete {
        return Some(format!(
            "the last load of the target did not complete ({}): import the full dump again",
            describe(latest)
        ));
    }
    if latest.manifest_sha256 == base_sha256 {
        return None;
    }
    let base = format!(
        "the {} dump with manifest sha256 {base_sha256}",
        base_kind.as_str()
    );
    if history.iter().any(|a| a.manifest_sha256 == base_sha256) {
        return Some(format!(
            "out of order: this delta follows {base}, but the target has moved on since; its \
             latest load is {}",
            describe(latest)
        ));
    }
    Some(format!(
        "wrong base: this delta follows {base}, which was never loaded into the target; its \
         latest load is {}",
        describe(latest)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sha: &str, complete: bool) -> Applied {
        Applied {
            manifest_sha256: sha.into(),
            kind: "full".into(),
            complete,
            applied_at: "2024-01-01T00:00:00Z".into(),
            dump_dir: "/d".into(),
            tables: None,
        }
    }

    #[test]
    fn coverage() {
        let all = ["a", "b", "c"];
        assert_eq!(covered(&all, &["c", "a", "b"]), None);
        assert_eq!(
            covered(&all, &["b", "a"]),
            Some(vec!["a".into(), "b".into()])
        );
        // Everything current, every change applied: still everything.
        assert_eq!(
            delta_coverage(None, &all, &["a", "b"], &["a", "b"]),
            Ok(None)
        );
        // A changed table left out is current no more; an unchanged one stays.
        assert_eq!(
            delta_coverage(None, &all, &["a", "b"], &["a"]),
            Ok(Some(vec!["a".into(), "c".into()]))
        );
        let some = vec!["a".to_string(), "c".to_string()];
        assert_eq!(
            delta_coverage(Some(&some), &all, &["a"], &["a"]),
            Ok(Some(some.clone()))
        );
        let refused = delta_coverage(Some(&some), &all, &["a", "b"], &["a", "b"]).unwrap_err();
        assert!(refused[0].contains("changes `b` which"), "{refused:?}");
        assert!(refused[0].contains("current only: a, c"), "{refused:?}");
        // A changed table that was never current and is not applied stays out.
        assert_eq!(
            delta_coverage(Some(&some), &all, &["b"], &[]),
            Ok(Some(some))
        );
    }

    #[test]
    fn chains() {
        let h = vec![row("b", true), row("a", true)];
        assert_eq!(chain_problem(&h, "c", "b", DumpKind::Delta), None);
        assert!(
            chain_problem(&h, "b", "a", DumpKind::Full)
                .unwrap()
                .contains("already applied")
        );
        assert!(
            chain_problem(&h, "c", "a", DumpKind::Full)
                .unwrap()
                .starts_with("out of order")
        );
        assert!(
            chain_problem(&h, "c", "x", DumpKind::Full)
                .unwrap()
                .starts_with("wrong base")
        );
        assert!(
            chain_problem(&[], "c", "x", DumpKind::Full)
                .unwrap()
                .contains("never loaded")
        );
        let partial = vec![row("b", false)];
        assert!(
            chain_problem(&partial, "c", "b", DumpKind::Full)
                .unwrap()
                .contains("did not complete")
        );
    }
}
