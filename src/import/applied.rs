//! `waybill.applied`: which dumps a target schema was loaded from, one row per import,
//! written inside the import's own transaction. A delta checks here that the target
//! holds exactly its base (the last complete row for the schema names the base's
//! manifest sha256), so a delta applied twice, out of order, or onto the wrong base is
//! refused, and records itself when it commits.
//!
//! A full import that cannot create the table (a role without CREATE on the database)
//! still loads, with a warning: the target then cannot take deltas. With `--jobs`, the
//! row is written as incomplete in the transaction that empties the tables and marked
//! complete once every table committed, so a failed parallel import never looks like a
//! loaded base.

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
    tool_version text NOT NULL
);
COMMENT ON TABLE waybill.applied IS 'Dumps waybill-import loaded, one row per import; catch-up deltas check their base here'";

/// Whether the table exists.
pub(crate) fn exists(client: &mut impl GenericClient) -> Result<bool> {
    Ok(client
        .query_one("SELECT to_regclass('waybill.applied') IS NOT NULL", &[])
        .ctx(|| "looking for waybill.applied".into())?
        .get(0))
}

/// Creates the table unless it exists (creating the schema needs CREATE on the
/// database, even with IF NOT EXISTS, so existence is asked first).
pub(crate) fn ensure(client: &mut impl GenericClient) -> Result<()> {
    if !exists(client)? {
        client
            .batch_execute(CREATE)
            .ctx(|| format!("creating {TABLE}"))?;
    }
    Ok(())
}

/// The INSERT that records `m` as loaded into `schema`.
pub(crate) fn insert_sql(
    schema: &str,
    m: &Manifest,
    manifest_sha256: &str,
    dump_dir: &std::path::Path,
    complete: bool,
) -> String {
    let opt = |v: Option<&str>| v.map(quote_literal).unwrap_or_else(|| "NULL".into());
    format!(
        "INSERT INTO {TABLE} (target_schema, manifest_sha256, kind, base_manifest_sha256, complete, \
         binlog_file, binlog_position, gtid, dump_dir, tool_version) VALUES ({}, {}, {}, {}, {complete}, \
         {}, {}, {}, {}, {})",
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

/// The INSERT that records this import's dump as loaded.
pub(super) fn insert_for(cx: &Ctx, complete: bool) -> String {
    insert_sql(
        &cx.plan.schema,
        &cx.dump.manifest,
        &cx.dump.manifest_sha256,
        &cx.dump.dir,
        complete,
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

/// `--jobs`: the INSERT (as incomplete) to run in the transaction that empties the
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

/// `--jobs`: every table committed; the load is complete.
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
}

/// The rows for `schema`, newest first.
pub(crate) fn history(client: &mut impl GenericClient, schema: &str) -> Result<Vec<Applied>> {
    let rows = client
        .query(
            "SELECT manifest_sha256, kind, complete, \
                    to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), dump_dir \
             FROM waybill.applied WHERE target_schema = $1 ORDER BY id DESC",
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
        }
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
