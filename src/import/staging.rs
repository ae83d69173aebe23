//! `--create-schema` on several connections: the tables are created and loaded in a
//! staging schema, then renamed (or moved into the existing target schema) in one
//! short transaction.
//!
//! Here waybill creates every object itself, so the swap that is dangerous in an
//! application's schema (recreating what points at the old tables) is trivial: nothing
//! else points at the staging schema, and `ALTER SCHEMA ... RENAME` moves its tables,
//! sequences, functions and triggers at once. So the files of one large table load on
//! several connections at once, each file committing on its own into the staging
//! schema, which nobody else uses:
//!
//! 1. the *anchor* transaction opens first; its txid names the staging schema
//!    (`waybill_stage_<txid>`);
//! 2. one committed transaction creates the staging schema and its tables;
//! 3. `--jobs` connections take the next file (biggest first) whenever they are free
//!    and COPY it in a transaction of its own; a table loaded through a temporary
//!    table (SET or generated columns) is one piece of work;
//! 4. one transaction adds keys, indexes (with parallel workers), foreign keys and CHECK
//!    constraints, sets the sequences and, with `--verify`, reads every table back;
//! 5. the anchor renames the staging schema to the target's name, records the load in
//!    `waybill.applied`, and commits: the schema appears whole, or not at all.
//!
//! Into a schema that exists (`public`), step 5 moves the tables instead: the anchor
//! drops the tables `--drop-existing` replaces (it locked them at its start), moves
//! each staged table in (`ALTER TABLE ... SET SCHEMA` takes its indexes, constraints
//! and identity sequences along), creates the ON UPDATE trigger function and triggers
//! there (a function does not move with a table, and an earlier import may have made
//! it already: so the staging schema never gets them), and drops the staging schema,
//! RESTRICT: anything left in it fails the load. The schema's other tables are not
//! touched.
//!
//! Any failure drops the staging schema. One left by a crash is dropped by the next
//! import (`recover`), once its anchor is no longer running. A load into an existing
//! schema uses the same staging schema and piece loader for its shadow tables
//! (`shadow`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use postgres::{CancelToken, Client};

use super::load::{
    after_load, copy_format, execute_logged, lock, lock_wait_error, parallel_index_builds,
    run_table, set_sequence,
};
use super::parallel::{REFERENCES_WHY, anchor_status, cancel_all, open_anchor};
use super::preflight::LoadPlan;
use super::steps::{Step, lock_sql, table_steps};
use super::{
    Ctx, ImportObserver, ImportPlan, Phase, TableReport, TableStatus, applied, copy::copy_file,
    create, readback,
};
use crate::error::{Error, Result, ResultExt};
use crate::target::ddl::SchemaOptions;
use crate::target::sql::{qualified, quote_ident};
use crate::target::{self, catalog};
use crate::{interrupt, printable::escaped};

/// The prefix of a staging schema's name; the anchor's txid follows.
pub(super) const PREFIX: &str = "waybill_stage_";

/// Where the staged tables go at the commit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Destination {
    /// The staging schema is renamed to the target schema.
    NewSchema,
    /// The target schema exists (`public`): each table is moved into it.
    ExistingSchema,
}

/// Whether a `--create-schema` load goes through a staging schema (`Ok`), or runs in
/// one transaction, and why (`Err`).
pub(super) fn applies(
    client: &mut Client,
    cx: &Ctx,
) -> Result<std::result::Result<Destination, String>> {
    let plan = cx.plan;
    if plan.jobs < 2 {
        return Ok(Err("--jobs 1".into()));
    }
    if !cx.references.is_empty() {
        return Ok(Err(REFERENCES_WHY.into()));
    }
    let may_create: bool = client
        .query_one(
            "SELECT has_database_privilege(current_database(), 'CREATE')",
            &[],
        )
        .ctx(|| "reading the role's privileges on the database".into())?
        .get(0);
    if !may_create {
        return Ok(Err(
            "the role may not create schemas in this database (CREATE on the database), and \
             the staging schema is one"
                .into(),
        ));
    }
    Ok(Ok(if catalog::schema_exists(client, &plan.schema)? {
        Destination::ExistingSchema
    } else {
        Destination::NewSchema
    }))
}

/// An observer that says nothing: the staging plan repeats the real one's warnings.
struct Quiet;
impl ImportObserver for Quiet {}

/// A piece of the load: one file of a table, or a whole table that loads through a
/// temporary table.
#[derive(Clone, Copy)]
enum Piece {
    File(usize, usize),
    Table(usize),
}

/// Per table: pieces not done yet, rows loaded, when its first piece started.
struct Progress {
    left: AtomicUsize,
    rows: AtomicU64,
    since: Mutex<Option<Instant>>,
    secs: Mutex<f64>,
}

pub(super) fn load(
    client: &mut Client,
    cx: &Ctx,
    opts: &SchemaOptions,
    into: Destination,
) -> Result<Vec<TableReport>> {
    let (plan, obs, log) = (cx.plan, cx.obs, cx.log);
    let (mut anchor, xid) = open_anchor(client)?;
    let stage = format!("{PREFIX}{xid}");
    let staged_plan = ImportPlan {
        schema: stage.clone(),
        ..plan.clone()
    };
    let mut setup = target::connect(&plan.target, plan.lock_timeout)?;
    let mut lp = create::preflight(&mut setup, &staged_plan, cx.dump, opts, &Quiet)?;
    // Created by an earlier transaction: COPY cannot FREEZE.
    for l in &mut lp.loads {
        l.freeze = false;
    }
    // Into an existing schema, the ON UPDATE trigger function is created there at the
    // commit (where an earlier import may have made it), and its triggers with it: the
    // tables move, a function would not.
    if into == Destination::ExistingSchema {
        lp.after.truncate(lp.after_split.2);
    }
    let scx = Ctx {
        plan: &staged_plan,
        dump: cx.dump,
        lp: &lp,
        obs,
        log,
        references: &[],
        prior: None,
    };
    log.line(&format!(
        "all or nothing through the staging schema {} on up to {} connections (the files of \
         one table load at once), {} at the commit of the anchor transaction {xid}",
        quote_ident(&stage),
        plan.jobs,
        match into {
            Destination::NewSchema => format!("renamed to {}", quote_ident(&plan.schema)),
            Destination::ExistingSchema => format!(
                "its tables moved into the existing schema {}",
                quote_ident(&plan.schema)
            ),
        }
    ));
    let outcome = (|| {
        // The tables --drop-existing replaces: locked now, so nobody writes to them
        // while their replacements load, dropped at the commit.
        if let Some(stmt) = lock_sql(&cx.lp.locks) {
            lock(&mut anchor, &stmt, log)?;
        }
        let mut tx = setup
            .transaction()
            .ctx(|| "starting a transaction".into())?;
        for stmt in &lp.before {
            interrupt::check()?;
            execute_logged(&mut tx, stmt, log)?;
        }
        tx.commit().ctx(|| "committing the staging schema".into())?;
        let mut reports = load_pieces(&mut setup, &scx)?;
        finish(&mut setup, &scx, &mut reports)?;
        interrupt::check()?;
        match into {
            Destination::NewSchema => {
                let rename = format!(
                    "ALTER SCHEMA {} RENAME TO {}",
                    quote_ident(&stage),
                    quote_ident(&plan.schema)
                );
                execute_logged(&mut anchor, &rename, log)?;
            }
            Destination::ExistingSchema => move_tables(&mut anchor, cx, &lp, &stage)?,
        }
        applied::record(&mut anchor, cx)?;
        interrupt::check()?;
        Ok(reports)
    })();
    match outcome {
        Ok(reports) => {
            anchor.commit().ctx(|| "committing".into())?;
            Ok(reports)
        }
        Err(e) => {
            let _ = anchor.rollback();
            drop_stage(&mut setup, cx, &stage);
            log.line("rolled back");
            obs.rolled_back();
            Err(match e {
                Error::LockTimeout(_) => lock_wait_error(&mut setup, cx, &cx.lp.locks),
                e => e,
            })
        }
    }
}

/// Step 5 into an existing schema, in the anchor: the tables `--drop-existing` replaces
/// are dropped, each staged table moves in with its indexes, constraints and identity
/// sequences (`ALTER TABLE ... SET SCHEMA`), the ON UPDATE trigger function and its
/// triggers are created there (the target plan's own statements), and the staging
/// schema, empty by then, is dropped: RESTRICT, so anything left behind fails the load.
fn move_tables(
    anchor: &mut postgres::Transaction,
    cx: &Ctx,
    staged: &LoadPlan,
    stage: &str,
) -> Result<()> {
    let log = cx.log;
    if !cx.lp.locks.is_empty() {
        execute_logged(anchor, &create::drop_existing_sql(&cx.lp.locks), log)?;
    }
    for l in &staged.loads {
        interrupt::check()?;
        let stmt = format!(
            "ALTER TABLE {} SET SCHEMA {}",
            qualified(stage, &l.target),
            quote_ident(&cx.plan.schema)
        );
        execute_logged(anchor, &stmt, log)?;
    }
    for stmt in &cx.lp.after[cx.lp.after_split.2..] {
        interrupt::check()?;
        execute_logged(anchor, stmt, log)?;
    }
    execute_logged(anchor, &format!("DROP SCHEMA {}", quote_ident(stage)), log)
}

/// Drops a staging schema after a failure (on a fresh connection if `client`'s broke).
pub(super) fn drop_stage(client: &mut Client, cx: &Ctx, stage: &str) {
    let stmt = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(stage));
    let dropped = client.batch_execute(&stmt).is_ok()
        || target::connect(&cx.plan.target, cx.plan.lock_timeout)
            .and_then(|mut c| c.batch_execute(&stmt).ctx(|| stmt.clone()))
            .is_ok();
    cx.log.line(&if dropped {
        stmt
    } else {
        format!(
            "could not drop the staging schema {stage}: the next waybill-import into this \
             database drops it, or by hand: {stmt}"
        )
    });
}

/// Step 3: every file (or staged table) on `--jobs` connections, biggest first, each in
/// a transaction of its own. Returns the tables' reports.
pub(super) fn load_pieces(first: &mut Client, cx: &Ctx) -> Result<Vec<TableReport>> {
    let (plan, lp) = (cx.plan, cx.lp);
    let mut pieces: Vec<(u64, Piece)> = Vec::new();
    for (i, l) in lp.loads.iter().enumerate() {
        if l.staged() {
            pieces.push((l.entry.bytes, Piece::Table(i)));
        } else {
            for (j, f) in l.entry.files.iter().enumerate() {
                pieces.push((f.bytes, Piece::File(i, j)));
            }
        }
    }
    // Popped from the end: the biggest last.
    pieces.sort_by_key(|(bytes, _)| *bytes);
    let progress: Vec<Progress> = lp
        .loads
        .iter()
        .map(|l| Progress {
            left: AtomicUsize::new(if l.staged() { 1 } else { l.entry.files.len() }),
            rows: AtomicU64::new(0),
            since: Mutex::new(None),
            secs: Mutex::new(0.0),
        })
        .collect();
    let connections = plan.jobs.min(pieces.len()).max(1);
    let queue = Mutex::new(pieces.into_iter().map(|(_, p)| p).collect::<Vec<_>>());
    let closed = AtomicBool::new(false);
    let tokens: Mutex<Vec<CancelToken>> = Mutex::new(vec![first.cancel_token()]);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let staged_reports: Mutex<Vec<(usize, TableReport)>> = Mutex::new(Vec::new());
    let fail = |e: Error| {
        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
            closed.store(true, Ordering::SeqCst);
            cancel_all(&tokens, cx);
        }
    };
    let work = |c: &mut Client| {
        while !closed.load(Ordering::SeqCst) {
            let Some(piece) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else {
                break;
            };
            if let Err(e) = load_piece(c, cx, piece, &progress, &staged_reports) {
                fail(e);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..connections {
            s.spawn(|| {
                let run = || -> Result<()> {
                    let mut c = target::connect(&plan.target, plan.lock_timeout)?;
                    tokens
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(c.cancel_token());
                    if lp.replica_role {
                        c.batch_execute("SET session_replication_role = replica")
                            .ctx(|| "SET session_replication_role = replica".into())?;
                    }
                    work(&mut c);
                    Ok(())
                };
                if let Err(e) = run() {
                    fail(e);
                }
            });
        }
        work(first);
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut staged = staged_reports
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let reports = lp
        .loads
        .iter()
        .enumerate()
        .map(|(i, l)| match staged.iter().position(|(k, _)| *k == i) {
            Some(at) => staged.swap_remove(at).1,
            None => TableReport::of(
                l,
                progress[i].rows.load(Ordering::SeqCst),
                *progress[i].secs.lock().unwrap_or_else(|p| p.into_inner()),
                TableStatus::Loaded,
            ),
        })
        .collect();
    Ok(reports)
}

/// One piece, in its own transaction on `c`.
fn load_piece(
    c: &mut Client,
    cx: &Ctx,
    piece: Piece,
    progress: &[Progress],
    staged_reports: &Mutex<Vec<(usize, TableReport)>>,
) -> Result<()> {
    interrupt::check()?;
    let lp = cx.lp;
    let mut tx = c.transaction().ctx(|| "starting a transaction".into())?;
    match piece {
        Piece::Table(i) => {
            let report = run_table(&mut tx, cx, &lp.loads[i])?;
            tx.commit()
                .ctx(|| format!("committing table `{}`", lp.loads[i].entry.name()))?;
            staged_reports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((i, report));
        }
        Piece::File(i, j) => {
            let (l, p) = (&lp.loads[i], &progress[i]);
            let f = &l.entry.files[j];
            let first = {
                let mut since = p.since.lock().unwrap_or_else(|p| p.into_inner());
                let first = since.is_none();
                if first {
                    *since = Some(Instant::now());
                }
                first
            };
            if first {
                cx.obs.table_started(l.entry.name(), l.entry.bytes);
            }
            let format = copy_format(&mut tx, cx, l)?;
            let n = copy_file(&mut tx, cx, l, f, &format)?;
            if n != f.rows {
                return Err(Error::Load(format!(
                    "table `{}`: {} loaded {n} rows, the manifest says {}",
                    escaped(l.entry.name()),
                    f.path,
                    f.rows
                )));
            }
            tx.commit().ctx(|| format!("committing {}", f.path))?;
            let rows = p.rows.fetch_add(n, Ordering::SeqCst) + n;
            if p.left.fetch_sub(1, Ordering::SeqCst) == 1 {
                let secs = p
                    .since
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .map(|t| t.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                *p.secs.lock().unwrap_or_else(|p| p.into_inner()) = secs;
                cx.log.line(&format!(
                    "loaded {} into {} ({rows} rows, {} file(s), {secs:.2}s)",
                    l.entry.name(),
                    crate::target::sql::qualified(&cx.plan.schema, &l.target),
                    l.entry.files.len()
                ));
                cx.obs.table_done(l.entry.name(), rows, secs);
            }
        }
    }
    Ok(())
}

/// Step 4, in one transaction: keys, indexes, foreign keys, CHECK constraints, the
/// sequences of the tables loaded file by file, and `--verify`.
pub(super) fn finish(c: &mut Client, cx: &Ctx, reports: &mut [TableReport]) -> Result<()> {
    let mut tx = c.transaction().ctx(|| "starting a transaction".into())?;
    parallel_index_builds(&mut tx, cx, 1)?;
    after_load(&mut tx, cx)?;
    for l in cx.lp.loads.iter().filter(|l| !l.staged()) {
        for step in table_steps(cx.plan, l) {
            if let Step::Sequence(sql, seq) = step {
                interrupt::check()?;
                set_sequence(&mut tx, cx, l, &sql, seq)?;
            }
        }
    }
    if cx.plan.verify {
        let mut results = Vec::new();
        for (l, report) in cx.lp.loads.iter().zip(reports.iter_mut()) {
            interrupt::check()?;
            let phase = Phase::ReadBack {
                table: l.entry.name().to_string(),
            };
            cx.obs.phase_started(&phase);
            let r = readback::verify_table(&mut tx, cx, l, None);
            cx.obs.phase_done(&phase);
            let r = r?;
            if r.is_equal() {
                report.verified_rows = Some(r.equal);
            }
            results.push(r);
        }
        if results.iter().any(|r| !r.is_equal()) {
            return Err(readback::mismatch(&results));
        }
    }
    tx.commit()
        .ctx(|| "committing the keys and indexes of the staging schema".into())
}

/// Staging schemas a crashed import left (`waybill_stage_<anchor>` with the anchor no
/// longer running): dropped (or, without `act`, reported).
pub(super) fn recover(
    client: &mut Client,
    cx_log: &super::sidelog::SideLog,
    obs: &dyn ImportObserver,
    act: bool,
) -> Result<()> {
    let rows = client
        .query(
            "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace \
             WHERE starts_with(nspname, $1) ORDER BY 1",
            &[&PREFIX],
        )
        .ctx(|| "looking for staging schemas".into())?;
    for r in rows {
        let name: String = r.get(0);
        let Ok(xid) = name[PREFIX.len()..].parse::<i64>() else {
            continue;
        };
        if anchor_status(client, xid).as_deref() == Some("in progress") {
            continue;
        }
        // A load into an existing schema marks its staging schema (`shadow`).
        let shadow = r
            .get::<_, Option<String>>(1)
            .is_some_and(|c| c.starts_with("shadow tables of waybill-import"));
        let (of, never) = if shadow {
            ("", "its shadow tables were never swapped in")
        } else {
            (
                " --create-schema",
                "its tables were never renamed into place",
            )
        };
        let stmt = format!("DROP SCHEMA {} CASCADE", quote_ident(&name));
        let msg = if act {
            client.batch_execute(&stmt).ctx(|| stmt.clone())?;
            format!(
                "dropped the staging schema {name}, left by an interrupted \
                 waybill-import{of} ({never})"
            )
        } else {
            format!(
                "the staging schema {name} was left by an interrupted waybill-import{of}; \
                 the import without --dry-run drops it"
            )
        };
        cx_log.line(&msg);
        obs.warn(&msg);
    }
    Ok(())
}
