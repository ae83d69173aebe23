//! `--verify`: every loaded table read back inside the load's own transaction and
//! compared, value by value, with the dump (`compare`). The dump's side is digested on
//! a second thread while its files stream into COPY (the client is mostly idle then),
//! so only the read-back of PostgreSQL is extra. Any difference fails the load, which
//! rolls it back.

use std::sync::atomic::{AtomicBool, Ordering};

use super::Ctx;
use super::preflight::TableLoad;
use crate::compare::digest::{self, Digest, RowStream, Side, buckets_for};
use crate::compare::result::TableResult;
use crate::compare::sides::{self, DumpStream, OUTPUT_SETTINGS};
use crate::compare::{digest::TableRules, dump_target_rules};
use crate::error::{Error, Result, ResultExt};
use crate::source::Row;
use crate::target::pgtype::PgType;
use crate::target::sql::qualified;

/// All digests of an all-or-nothing load are held until the end: at most this many
/// buckets in all (24 MiB).
const BUCKET_BUDGET: usize = 1 << 20;

fn target_columns(l: &TableLoad) -> Vec<(String, PgType)> {
    l.columns
        .iter()
        .zip(&l.types)
        .map(|(c, t)| (c.clone(), PgType::parse(t)))
        .collect()
}

fn rules(l: &TableLoad) -> TableRules {
    dump_target_rules(l.entry, &target_columns(l))
}

/// Buckets for one table, the largest tables shrinking until the whole load fits the
/// budget.
fn buckets(cx: &Ctx, l: &TableLoad) -> usize {
    let mut sizes: Vec<usize> = cx
        .lp
        .loads
        .iter()
        .map(|x| buckets_for(x.entry.rows))
        .collect();
    while sizes.iter().sum::<usize>() > BUCKET_BUDGET {
        let Some(max) = sizes.iter_mut().max() else {
            break;
        };
        *max /= 2;
    }
    let i = cx
        .lp
        .loads
        .iter()
        .position(|x| std::ptr::eq(x, l))
        .unwrap_or(0);
    sizes.get(i).copied().unwrap_or(1).max(1)
}

/// A dump stream that gives up when the load it accompanies has failed.
struct Stoppable<'a> {
    inner: DumpStream<'a>,
    stop: &'a AtomicBool,
}

impl RowStream for Stoppable<'_> {
    fn stream(&mut self, on_row: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
        let stop = self.stop;
        self.inner.stream(&mut |row| {
            if stop.load(Ordering::Relaxed) {
                return Err(Error::config("stopped: the load of this table failed"));
            }
            on_row(row)
        })
    }
}

/// The dump's digest of a table (run on its own thread during the COPY).
pub(super) fn dump_digest(cx: &Ctx, l: &TableLoad, stop: &AtomicBool) -> Result<Digest> {
    let rules = rules(l);
    let mut stream = Stoppable {
        inner: DumpStream {
            dir: &cx.dump.dir,
            entry: l.entry,
        },
        stop,
    };
    digest::digest(&rules, Side::Left, buckets(cx, l), &mut stream, &|_| {})
}

/// Reads a loaded table back inside `tx` and compares it with the dump (whose digest is
/// computed here when not given: `--resume` proving a committed table).
pub(super) fn verify_table(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    dump: Option<Digest>,
) -> Result<TableResult> {
    let cols = target_columns(l);
    let rules = dump_target_rules(l.entry, &cols);
    tx.batch_execute(&OUTPUT_SETTINGS.replace("SET ", "SET LOCAL "))
        .ctx(|| "setting the output format for the read-back".into())?;
    let target = qualified(&cx.plan.schema, &l.target);
    let mut left = DumpStream {
        dir: &cx.dump.dir,
        entry: l.entry,
    };
    let mut right = sides::PgStream {
        client: tx,
        sql: sides::select_sql(&cx.plan.schema, &l.target, &cols),
        what: format!("{target} back"),
    };
    let mut r = digest::compare(&rules, buckets(cx, l), dump, &mut left, &mut right, &|_| {})?;
    r.other = Some(l.target.clone());
    cx.log.line(&format!(
        "verified {} against {target}: {} rows read back in {:.2}s, {}",
        l.entry.name(),
        r.other_rows,
        r.seconds,
        if r.is_equal() {
            "every value equal".to_string()
        } else {
            format!(
                "{} different, {} missing, {} extra",
                r.different, r.missing, r.extra
            )
        }
    ));
    Ok(r)
}

/// The error for tables that did not read back equal.
pub(super) fn mismatch(results: &[TableResult]) -> Error {
    let bad: Vec<&TableResult> = results.iter().filter(|r| !r.is_equal()).collect();
    let mut msg = format!(
        "--verify: {} table(s) did not read back as the dump has them ({}); nothing was \
         committed:\n",
        bad.len(),
        bad.iter()
            .map(|r| r.table.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for r in bad {
        msg.push_str(&r.describe("the dump", "the target"));
    }
    Error::Load(msg.trim_end().to_string())
}
