//! The all-or-nothing load on several connections: two-phase commit.
//!
//! One PostgreSQL backend uses one core, so a load in one transaction leaves the other
//! cores idle. Independent tables (no foreign key leads from one to the other, so
//! `TRUNCATE ... CASCADE` of one never reaches the other) are loaded on `--jobs`
//! connections at once, each connection in one transaction on its own backend:
//!
//! 1. this process's first connection opens the *anchor* transaction; the others open
//!    theirs. Each takes the next group of tables from a queue (biggest first) whenever
//!    it is free, and loads it: lock, TRUNCATE, COPY, indexes, sequences, `--verify`.
//!    Tables that need a temporary staging table (SET or generated columns) are the
//!    anchor's: PostgreSQL cannot prepare a transaction that used one;
//! 2. once the queue is empty and every connection has finished, the anchor records
//!    the load (`waybill.applied`);
//! 3. each other connection runs `PREPARE TRANSACTION 'waybill/<anchor txid>/<k>/<n>'`:
//!    its work is on disk, still invisible, its locks still held;
//! 4. the anchor COMMITs: that commit is the decision. Then each prepared transaction
//!    is committed (`COMMIT PREPARED`).
//!
//! Any failure before step 4 rolls every transaction back (the prepared ones with
//! `ROLLBACK PREPARED`): the target is unchanged. Readers never see a mix: every loaded
//! table stays locked (ACCESS EXCLUSIVE) until its own transaction commits, and the
//! commits follow the decision at once.
//!
//! A prepared transaction outlives its session, with its locks. If this process dies
//! between step 3 and the end of step 4, `recover` (run by every import after its import lock)
//! finishes them by the anchor's fate, `txid_status(anchor)`: committed, so commit them;
//! aborted, so roll them back; still in progress, so another import is deciding: leave
//! them.
//!
//! Why not several connections for one table in place: PostgreSQL's TRUNCATE takes a
//! lock no other transaction can share, and without it the load loses COPY FREEZE and
//! the index rebuild. Such a table (its dump in several files) goes through a *shadow
//! table* instead (`shadow`): a copy in a staging schema, loaded file by file on every
//! connection before the groups, swapped for the old table in the anchor at the
//! decision. Why not every table: into the application's own schema the swap would
//! have to recreate everything that points at the old table (foreign keys, views,
//! triggers, policies, publications, column privileges), and whatever it missed would
//! be lost. So only a table that nothing points at, and whose own properties the swap
//! is proven to carry over (compared by a fingerprint at the decision), is swapped; the
//! others load here, in place, on one backend each, relieved of parsing by binary COPY.
//! The shadow tables are in no group; with any, the load takes this path even for one
//! table, the anchor alone loading the other tables when two-phase commit is off.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{CancelToken, Client};

use super::load::{
    Reached, load_table, lock, lock_wait_error, parallel_index_builds, truncate, verify_loaded,
};
use super::preflight::TableLoad;
use super::shadow::Shadows;
use super::sidelog::SideLog;
use super::steps::{lock_sql, truncate_of};
use super::{Ctx, ImportObserver, TableReport, applied, readback};
use crate::error::{Error, Result, ResultExt};
use crate::target::sql::{quote_ident, quote_literal};
use crate::{interrupt, target};

/// Why `--references` keeps a load on one transaction: its checks read several tables.
pub(super) const REFERENCES_WHY: &str =
    "--references compares tables with each other before the commit";

/// Tables that load in one transaction, because TRUNCATE ... CASCADE of one reaches
/// another: in the load plan's order (parents first when foreign keys stay active), with
/// the tables outside the load their TRUNCATE reaches.
pub(super) struct Group<'c> {
    loads: Vec<&'c TableLoad<'c>>,
    cascaded: Vec<(String, String)>,
    locks: Vec<(String, String)>,
    bytes: u64,
}

impl Group<'_> {
    fn names(&self) -> String {
        self.loads
            .iter()
            .map(|l| l.entry.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The groups of a load and the connections that take them, biggest first, each as it
/// becomes free. Groups with a staging table are the anchor's alone.
pub(super) struct Split<'c> {
    connections: usize,
    anchor_only: Vec<Group<'c>>,
    shared: Vec<Group<'c>>,
    /// Why the anchor loads every group alone (with shadow tables only).
    alone: Option<String>,
}

/// The groups not taken yet.
struct Queue<'s, 'c> {
    anchor_only: Mutex<Vec<&'s Group<'c>>>,
    shared: Mutex<Vec<&'s Group<'c>>>,
    /// Set at the first failure: no group starts after it.
    closed: AtomicBool,
}

impl<'s, 'c> Queue<'s, 'c> {
    fn new(split: &'s Split<'c>) -> Self {
        // Popped from the end: biggest last.
        let rev = |v: &'s [Group<'c>]| v.iter().rev().collect::<Vec<_>>();
        Queue {
            anchor_only: Mutex::new(rev(&split.anchor_only)),
            shared: Mutex::new(rev(&split.shared)),
            closed: AtomicBool::new(false),
        }
    }

    fn next(&self, anchor: bool) -> Option<&'s Group<'c>> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let pop = |m: &Mutex<Vec<&'s Group<'c>>>| m.lock().unwrap_or_else(|p| p.into_inner()).pop();
        anchor
            .then(|| pop(&self.anchor_only))
            .flatten()
            .or_else(|| pop(&self.shared))
    }
}

/// How the load will be committed: on several connections (`Ok`), or in one
/// transaction, and why (`Err`). The loads in `shadow` (indexes into the load plan) go
/// through shadow tables and are in no group; with any, the load is always `Ok`, on one
/// connection (the anchor alone) when the other tables cannot use two-phase commit.
pub(super) fn split<'c>(
    client: &mut Client,
    cx: &Ctx<'c>,
    shadow: &[usize],
) -> Result<std::result::Result<Split<'c>, String>> {
    let (plan, lp) = (cx.plan, cx.lp);
    if plan.jobs < 2 {
        return Ok(Err("--jobs 1".into()));
    }
    if !lp.truncate || !lp.before.is_empty() || !lp.after.is_empty() || !lp.checks.is_empty() {
        return Ok(Err(
            "--create-schema creates the tables and loads them in one transaction".into(),
        ));
    }
    if !cx.references.is_empty() {
        return Ok(Err(REFERENCES_WHY.into()));
    }
    let rest: Vec<usize> = (0..lp.loads.len())
        .filter(|i| !shadow.contains(i))
        .collect();
    if rest.len() < 2 && shadow.is_empty() {
        return Ok(Err("one table".into()));
    }
    // Union-find over the loaded tables: two are in one group when TRUNCATE ... CASCADE
    // of either reaches a table the other does (or the other itself).
    let n = lp.loads.len();
    let mut group: Vec<usize> = (0..n).collect();
    fn root(g: &mut [usize], mut i: usize) -> usize {
        while g[i] != i {
            g[i] = g[g[i]];
            i = g[i];
        }
        i
    }
    let loaded: Vec<(String, String)> = lp
        .loads
        .iter()
        .map(|l| (plan.schema.clone(), l.target.clone()))
        .collect();
    let mut reach: Vec<Vec<(String, String)>> = vec![Vec::new(); n];
    let mut owner: HashMap<(String, String), usize> = HashMap::new();
    for &i in &rest {
        let r = crate::target::catalog::cascade_reach(
            client,
            &plan.schema,
            std::slice::from_ref(&lp.loads[i].target),
        )?;
        for t in std::iter::once(&loaded[i]).chain(&r) {
            match owner.get(t) {
                Some(&j) => {
                    let (a, b) = (root(&mut group, i), root(&mut group, j));
                    group[a] = b;
                }
                None => {
                    owner.insert(t.clone(), i);
                }
            }
        }
        reach[i] = r;
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    for &i in &rest {
        let r = root(&mut group, i);
        let g = *index.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let make = |mut members: Vec<usize>| {
        members.sort_unstable();
        let mut cascaded: Vec<(String, String)> = members
            .iter()
            .flat_map(|&i| reach[i].iter())
            .filter(|t| !loaded.contains(t))
            .cloned()
            .collect();
        cascaded.sort();
        cascaded.dedup();
        let mut locks: Vec<(String, String)> = members.iter().map(|&i| loaded[i].clone()).collect();
        locks.extend(cascaded.iter().cloned());
        Group {
            bytes: members.iter().map(|&i| lp.loads[i].entry.bytes).sum(),
            loads: members.iter().map(|&i| &lp.loads[i]).collect(),
            cascaded,
            locks,
        }
    };
    // With shadow tables, the other tables load in the anchor when two-phase commit
    // cannot be used for them.
    let staged = |g: &[usize]| g.iter().any(|&i| lp.loads[i].staged());
    let alone = |groups: Vec<Vec<usize>>, why: String| {
        let mut anchor_only: Vec<Group> = groups.into_iter().map(&make).collect();
        anchor_only.sort_by_key(|g| std::cmp::Reverse(g.bytes));
        Ok(Ok(Split {
            connections: 1,
            anchor_only,
            shared: Vec::new(),
            alone: Some(why),
        }))
    };
    if groups.len() < 2 {
        let why = match groups.len() {
            0 => "no other table".to_string(),
            _ if rest.len() == 1 => "one other table".to_string(),
            _ => "the other tables are linked by foreign keys (TRUNCATE ... CASCADE of one \
                  reaches the others)"
                .to_string(),
        };
        if !shadow.is_empty() {
            return alone(groups, why);
        }
        return Ok(Err(
            "its tables are linked by foreign keys (TRUNCATE ... CASCADE of one reaches the \
             others)"
                .into(),
        ));
    }
    let prepared: i64 = client
        .query_one(
            "SELECT current_setting('max_prepared_transactions')::bigint",
            &[],
        )
        .ctx(|| "reading max_prepared_transactions".into())?
        .get(0);
    let connections = plan
        .jobs
        .min(groups.len())
        .min(usize::try_from(prepared).unwrap_or(0).saturating_add(1));
    if connections < 2 {
        cx.obs.note(&format!(
            "note: the load runs on one connection: max_prepared_transactions is 0 on the \
             target; with it at {} or more (postgresql.conf, then a restart) {} tables load at \
             once, still all or nothing",
            plan.jobs.min(groups.len()) - 1,
            plan.jobs.min(groups.len())
        ));
        let why = "max_prepared_transactions is 0 on the target (two-phase commit is off)";
        if !shadow.is_empty() {
            return alone(groups, why.into());
        }
        return Ok(Err(why.into()));
    }
    let shared = groups.iter().filter(|g| !staged(g)).count();
    let connections = connections.min(shared + usize::from(shared < groups.len()));
    if connections < 2 {
        let why = "the tables that need a temporary staging table (SET or generated columns) \
                   load in the committing transaction, as PostgreSQL cannot prepare one that \
                   used it, and no other table is left";
        if !shadow.is_empty() {
            return alone(groups, why.into());
        }
        return Ok(Err(why.into()));
    }
    let (mut anchor_only, mut rest) = (Vec::new(), Vec::new());
    for g in groups {
        if staged(&g) {
            anchor_only.push(make(g));
        } else {
            rest.push(make(g));
        }
    }
    anchor_only.sort_by_key(|g| std::cmp::Reverse(g.bytes));
    rest.sort_by_key(|g| std::cmp::Reverse(g.bytes));
    Ok(Ok(Split {
        connections,
        anchor_only,
        shared: rest,
        alone: None,
    }))
}

/// What a connection reports to the coordinating thread.
enum Event {
    /// Its share is loaded (and waits for `Decision::Prepare`), or failed (and is rolled
    /// back).
    Ready(Result<Vec<TableReport>>),
    Prepared(Result<()>),
    /// `COMMIT PREPARED` or `ROLLBACK PREPARED` ran.
    Finished(Result<()>),
    /// The connection's thread panicked (in whichever step it was waited for).
    Panicked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Prepare,
    Commit,
    Rollback,
    /// Neither: the anchor's fate is unknown (its COMMIT lost its connection); `recover`
    /// settles it.
    Leave,
}

/// Why a connection stopped, and the tables it was waiting to lock if that was why.
type Failed = (Error, Vec<(String, String)>);

/// One connection's work inside its transaction: group after group from the queue as
/// long as there is one (lock, TRUNCATE, load every table, `--verify`). On a lock that
/// `--lock-timeout` ran out on, also the tables it was waiting for.
fn load_groups(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    queue: &Queue,
    connections: usize,
    anchor: bool,
) -> std::result::Result<Vec<TableReport>, Failed> {
    let plain = |e: Error| (e, Vec::new());
    parallel_index_builds(tx, cx, connections).map_err(plain)?;
    let mut reports = Vec::new();
    while let Some(group) = queue.next(anchor) {
        interrupt::check().map_err(plain)?;
        cx.log.line(&format!(
            "{}: {}",
            if anchor {
                "the anchor transaction takes"
            } else {
                "a prepared transaction takes"
            },
            group.names()
        ));
        if let Some(stmt) = lock_sql(&group.locks) {
            lock(tx, &stmt, cx.log).map_err(|e| (e, group.locks.clone()))?;
        }
        truncate(
            tx,
            cx,
            &truncate_of(cx.plan, group.loads.iter().copied()),
            &group.cascaded,
            Reached::AtPreflight,
        )
        .map_err(plain)?;
        let mut results = Vec::new();
        for l in &group.loads {
            let (mut report, digest) = load_table(tx, cx, l).map_err(plain)?;
            results.extend(verify_loaded(tx, cx, l, &mut report, digest).map_err(plain)?);
            reports.push(report);
        }
        if results.iter().any(|r| !r.is_equal()) {
            return Err(plain(readback::mismatch(&results)));
        }
    }
    Ok(reports)
}

/// The `k`th connection (k >= 1): load groups from the queue, then follow the decisions.
#[allow(clippy::too_many_arguments)]
fn worker(
    cx: &Ctx,
    queue: &Queue,
    connections: usize,
    gid: &str,
    tokens: &Mutex<Vec<CancelToken>>,
    k: usize,
    events: Sender<(usize, Event)>,
    decisions: mpsc::Receiver<Decision>,
) {
    let (plan, log) = (cx.plan, cx.log);
    let send = |e: Event| {
        let _ = events.send((k, e));
    };
    let mut c = match target::connect(&plan.target, plan.lock_timeout) {
        Ok(c) => c,
        Err(e) => return send(Event::Ready(Err(e))),
    };
    tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(c.cancel_token());
    if cx.lp.replica_role
        && let Err(e) = c
            .batch_execute("SET session_replication_role = replica")
            .ctx(|| "SET session_replication_role = replica".into())
    {
        return send(Event::Ready(Err(e)));
    }
    let mut tx = match c.transaction().ctx(|| "starting a transaction".into()) {
        Ok(tx) => tx,
        Err(e) => return send(Event::Ready(Err(e))),
    };
    match load_groups(&mut tx, cx, queue, connections, false) {
        Ok(reports) => send(Event::Ready(Ok(reports))),
        Err((e, locks)) => {
            let _ = tx.rollback();
            let e = match e {
                Error::LockTimeout(_) => lock_wait_error(&mut c, cx, &locks),
                e => e,
            };
            return send(Event::Ready(Err(e)));
        }
    }
    if decisions.recv() != Ok(Decision::Prepare) {
        let _ = tx.rollback();
        return;
    }
    let stmt = format!("PREPARE TRANSACTION {}", quote_literal(gid));
    match tx.batch_execute(&stmt).ctx(|| stmt.clone()) {
        Ok(()) => {
            log.line(&stmt);
            // The server has ended the transaction block; this only ends the client's
            // (PostgreSQL answers the COMMIT with a warning and nothing else).
            let _ = tx.commit();
            send(Event::Prepared(Ok(())));
        }
        Err(e) => {
            let _ = tx.rollback();
            return send(Event::Prepared(Err(e)));
        }
    }
    let stmt = match decisions.recv() {
        Ok(Decision::Commit) => format!("COMMIT PREPARED {}", quote_literal(gid)),
        Ok(Decision::Rollback) => format!("ROLLBACK PREPARED {}", quote_literal(gid)),
        _ => return,
    };
    let done = c.batch_execute(&stmt).ctx(|| stmt.clone());
    if done.is_ok() {
        log.line(&stmt);
    }
    send(Event::Finished(done));
}

/// Opens the anchor transaction, whose commit decides a load made on several
/// connections; its txid names what belongs to that load (prepared transactions, a
/// staging schema), so `txid_status` tells later what became of it.
pub(super) fn open_anchor(client: &mut Client) -> Result<(postgres::Transaction<'_>, i64)> {
    let mut anchor = client
        .transaction()
        .ctx(|| "starting the transaction".into())?;
    let xid: i64 = anchor
        .query_one("SELECT txid_current()", &[])
        .ctx(|| "SELECT txid_current()".into())?
        .get(0);
    Ok((anchor, xid))
}

/// Cancels whatever each connection runs now (a no-op for an idle one).
pub(super) fn cancel_all(tokens: &Mutex<Vec<CancelToken>>, cx: &Ctx) {
    let Ok(tls) = cx.plan.target.tls.pg_connector() else {
        return;
    };
    for t in tokens.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = t.cancel_query(tls.clone());
    }
}

/// The load on `split`'s connections, all or nothing (see the module doc), with the
/// loads in `shadow` through shadow tables (`shadow`).
pub(super) fn load(
    client: &mut Client,
    cx: &Ctx,
    split: Split,
    shadow: &[usize],
) -> Result<Vec<TableReport>> {
    let (obs, log) = (cx.obs, cx.log);
    let n = split.connections;
    let tokens = Mutex::new(vec![client.cancel_token()]);
    let (mut anchor, xid) = open_anchor(client)?;
    let mut shadows = Shadows::new(cx, shadow, xid);
    let gid = |k: usize| format!("waybill/{xid}/{k}/{n}");
    let groups: Vec<String> = split
        .anchor_only
        .iter()
        .map(|g| format!("{} (anchor only)", g.names()))
        .chain(split.shared.iter().map(|g| g.names()))
        .collect();
    let prepared = format!(
        "the anchor transaction {xid} and {} prepared one(s) ({}), each taking the next group \
         of tables as it becomes free, biggest first: {}",
        n - 1,
        (1..n).map(gid).collect::<Vec<_>>().join(", "),
        groups.join("; ")
    );
    if shadows.is_empty() {
        log.line(&format!("all or nothing on {n} connections: {prepared}"));
    } else {
        let files = cx.plan.jobs.min(shadows.files());
        let others = match (&split.alone, groups.is_empty()) {
            (Some(_), true) => "no other table".to_string(),
            (Some(why), false) => format!(
                "the anchor transaction {xid} alone loads the other tables ({why}): {}",
                groups.join("; ")
            ),
            (None, _) => prepared,
        };
        log.line(&format!(
            "all or nothing on {} connections: {} through shadow table(s) in the staging \
             schema {} (their files on up to {files} connections at once), swapped in at the \
             commit of the anchor transaction {xid}; then {others}",
            files.max(n),
            shadows.names(cx),
            quote_ident(&shadows.stage),
        ));
    }
    let mut outcome: Result<Vec<TableReport>> = match shadows.load(&mut anchor, cx) {
        Ok(reports) => Ok(reports),
        Err(e) => {
            let _ = anchor.rollback();
            shadows.discard(cx);
            log.line("rolled back");
            obs.rolled_back();
            return Err(match e {
                Error::LockTimeout(_) => lock_wait_error(client, cx, &shadows.locks(cx)),
                e => e,
            });
        }
    };
    let queue = Queue::new(&split);
    let (events_tx, events) = mpsc::channel::<(usize, Event)>();
    let mut anchor_failed = false;
    let mut anchor_locks: Vec<(String, String)> = Vec::new();
    let mut unsettled: Vec<String> = Vec::new();
    std::thread::scope(|s| {
        let mut decide: Vec<Sender<Decision>> = Vec::new();
        let queue = &queue;
        for k in 1..n {
            let (dtx, drx) = mpsc::channel();
            decide.push(dtx);
            let (ev, tokens, gid) = (events_tx.clone(), &tokens, gid(k));
            s.spawn(move || {
                let report = ev.clone();
                let run = || worker(cx, queue, n, &gid, tokens, k, ev, drx);
                if catch_unwind(AssertUnwindSafe(run)).is_err() {
                    let _ = report.send((k, Event::Panicked));
                }
            });
        }
        let ev = events_tx.clone();
        let anchor_loads = s.spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| {
                load_groups(&mut anchor, cx, queue, n, true)
            }));
            let (r, locks) = match r {
                Ok(Ok(reports)) => (Ok(reports), Vec::new()),
                Ok(Err((e, locks))) => (Err(e), locks),
                Err(_) => (Err(Error::config("a loading thread panicked")), Vec::new()),
            };
            let _ = ev.send((0, Event::Ready(r)));
            (anchor, locks)
        });
        drop(events_tx);
        let broadcast = |d: Decision| {
            for tx in &decide {
                let _ = tx.send(d);
            }
        };
        // 1. Every group loaded, or the first failure (the others are cancelled, again
        //    and again until they stop: a cancel between two statements is lost).
        let mut ready = 0;
        let mut first_error: Option<Error> = None;
        while ready < n {
            match events.recv_timeout(Duration::from_millis(100)) {
                Ok((k, Event::Ready(r))) => {
                    ready += 1;
                    match r {
                        Ok(reports) => {
                            if let Ok(all) = &mut outcome {
                                all.extend(reports);
                            }
                        }
                        Err(e) => {
                            anchor_failed |= k == 0;
                            if first_error.is_none() {
                                first_error = Some(e);
                                queue.closed.store(true, Ordering::SeqCst);
                                cancel_all(&tokens, cx);
                            }
                        }
                    }
                }
                Ok((_, Event::Panicked)) => {
                    ready += 1;
                    if first_error.is_none() {
                        first_error = Some(Error::config("a loading thread panicked"));
                        queue.closed.store(true, Ordering::SeqCst);
                        cancel_all(&tokens, cx);
                    }
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if first_error.is_some() {
                        cancel_all(&tokens, cx);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let mut anchor = match anchor_loads.join() {
            Ok((a, locks)) => {
                anchor_locks = locks;
                a
            }
            Err(_) => {
                broadcast(Decision::Rollback);
                outcome = Err(Error::config("a loading thread panicked"));
                return;
            }
        };
        if ready < n && first_error.is_none() {
            first_error = Some(Error::config("a loading thread stopped without a result"));
        }
        // 2. The anchor records the load; a stop signal now still rolls back.
        let recorded = match first_error.take() {
            Some(e) => Err(e),
            None => shadows
                .swap(&mut anchor, cx)
                .and_then(|()| applied::record(&mut anchor, cx))
                .and_then(|()| interrupt::check()),
        };
        if let Err(e) = recorded {
            broadcast(Decision::Rollback);
            let _ = anchor.rollback();
            outcome = Err(e);
            return;
        }
        // 3. Prepare every other transaction.
        broadcast(Decision::Prepare);
        let mut prepared = 0;
        let mut failed: Option<Error> = None;
        for _ in 1..n {
            match events.recv() {
                Ok((_, Event::Prepared(Ok(())))) => prepared += 1,
                Ok((_, Event::Prepared(Err(e)))) => {
                    failed.get_or_insert(e);
                }
                Ok((_, Event::Panicked)) => {
                    failed.get_or_insert(Error::config("a loading thread panicked"));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if prepared < n - 1 {
            // Those that prepared roll back; those that failed already did.
            broadcast(Decision::Rollback);
            let _ = anchor.rollback();
            for _ in 0..prepared {
                let _ = events.recv_timeout(Duration::from_secs(30));
            }
            outcome = Err(failed.unwrap_or_else(|| {
                Error::config("a connection stopped before preparing its transaction")
            }));
            return;
        }
        // 4. The decision.
        if let Err(e) = anchor.commit() {
            let refused = e.code().is_some();
            outcome = Err::<Vec<TableReport>, _>(e).ctx(|| "committing".into());
            if refused {
                // The server refused the COMMIT (a deferred constraint): the anchor is
                // rolled back, so are the others.
                broadcast(Decision::Rollback);
                for _ in 1..n {
                    let _ = events.recv_timeout(Duration::from_secs(30));
                }
            } else {
                // The connection broke: whether the COMMIT happened is for `settle`.
                broadcast(Decision::Leave);
                unsettled = (1..n).map(gid).collect();
            }
            return;
        }
        log.line(&format!(
            "committed the anchor transaction {xid}: the load is decided"
        ));
        broadcast(Decision::Commit);
        let mut finished = 0;
        while finished < n - 1 {
            match events.recv() {
                Ok((k, Event::Finished(r))) => {
                    finished += 1;
                    if r.is_err() {
                        unsettled.push(gid(k));
                    }
                }
                Ok((k, Event::Panicked)) => {
                    finished += 1;
                    unsettled.push(gid(k));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if finished < n - 1 && unsettled.is_empty() {
            unsettled.push("(unknown)".into());
        }
    });
    if !unsettled.is_empty() {
        outcome = match settle(cx, xid, &unsettled, outcome) {
            Settled::Committed(reports) => Ok(reports),
            Settled::RolledBack(e) => Err(e),
            Settled::Unknown(e) => return Err(e),
        };
    }
    match outcome {
        Ok(reports) => Ok(reports),
        Err(e) => {
            log.line("rolled back");
            obs.rolled_back();
            shadows.discard(cx);
            match e {
                Error::LockTimeout(_) if anchor_failed => {
                    Err(lock_wait_error(client, cx, &anchor_locks))
                }
                e => Err(e),
            }
        }
    }
}

/// What became of a load whose two-phase commit was interrupted.
enum Settled {
    Committed(Vec<TableReport>),
    RolledBack(Error),
    /// Prepared transactions are left; the error says how to finish them.
    Unknown(Error),
}

/// After the decision, or while its fate is unknown (the anchor's COMMIT lost its
/// connection): prepared transactions that could not be finished are settled on a
/// fresh connection by the anchor's fate. A committed anchor means the load is
/// committed (`outcome`'s reports stand); an aborted one, that it is rolled back
/// (`outcome`'s error, or one saying so). When neither can be done, the error says how
/// to finish them.
fn settle(cx: &Ctx, xid: i64, gids: &[String], outcome: Result<Vec<TableReport>>) -> Settled {
    let settled = target::connect(&cx.plan.target, cx.plan.lock_timeout).and_then(|mut c| {
        recover(&mut c, cx.log, cx.obs, Some(xid), true)?;
        let left: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE $1",
                &[&format!("waybill/{xid}/%")],
            )
            .ctx(|| "reading pg_prepared_xacts".into())?
            .get(0);
        Ok((left, anchor_status(&mut c, xid)))
    });
    let (reports, cause) = match outcome {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    match settled {
        Ok((0, Some(status))) if status == "committed" => {
            cx.log.line(&format!(
                "the anchor transaction {xid} committed: the load is committed"
            ));
            if cause.is_none() {
                Settled::Committed(reports)
            } else {
                // The reports were lost with the error; the tables are what the dump
                // says, as every connection loaded its tables before the decision.
                Settled::Committed(
                    cx.lp
                        .loads
                        .iter()
                        .map(|l| TableReport::of(l, l.entry.rows, 0.0, super::TableStatus::Loaded))
                        .collect(),
                )
            }
        }
        Ok((0, Some(status))) if status == "aborted" => {
            Settled::RolledBack(cause.unwrap_or_else(|| {
                Error::Load("the anchor transaction did not commit: the load is rolled back".into())
            }))
        }
        _ => {
            let cause = cause.map(|e| format!("{e}; ")).unwrap_or_default();
            Settled::Unknown(Error::Load(format!(
                "{cause}the two-phase commit of this load was interrupted: the prepared \
                 transaction(s) {} still hold their tables' locks; the next waybill-import into \
                 this database finishes them (committed if the anchor transaction {xid} \
                 committed, else rolled back), or by hand: SELECT txid_status({xid}); then \
                 COMMIT PREPARED or ROLLBACK PREPARED each",
                gids.join(", ")
            )))
        }
    }
}

/// `txid_status(xid)`: committed, aborted, in progress, or None when PostgreSQL no
/// longer knows.
pub(super) fn anchor_status(client: &mut Client, xid: i64) -> Option<String> {
    client
        .query_one("SELECT txid_status($1)", &[&xid])
        .map(|r| r.get(0))
        .unwrap_or(None)
}

/// Finishes the prepared transactions an interrupted import left in this database
/// (`waybill/<anchor>/<k>/<n>`), each by its anchor's fate; with `only`, those of one
/// anchor; without `act` (a dry run), only says what a real run would do. Returns what
/// was done to the last group ("committed" / "rolled back").
pub(super) fn recover(
    client: &mut Client,
    log: &SideLog,
    obs: &dyn ImportObserver,
    only: Option<i64>,
    act: bool,
) -> Result<Option<&'static str>> {
    let rows = client
        .query(
            "SELECT gid, owner::text FROM pg_prepared_xacts \
             WHERE database = current_database() AND gid LIKE 'waybill/%' ORDER BY gid",
            &[],
        )
        .ctx(|| "reading pg_prepared_xacts".into())?;
    let mut anchors: Vec<(i64, Vec<(String, String)>)> = Vec::new();
    for r in rows {
        let (gid, owner): (String, String) = (r.get(0), r.get(1));
        let Some(xid) = gid.split('/').nth(1).and_then(|x| x.parse::<i64>().ok()) else {
            continue;
        };
        if only.is_some_and(|o| o != xid) {
            continue;
        }
        match anchors.iter_mut().find(|(a, _)| *a == xid) {
            Some((_, g)) => g.push((gid, owner)),
            None => anchors.push((xid, vec![(gid, owner)])),
        }
    }
    let mut last = None;
    for (xid, gids) in anchors {
        let status = anchor_status(client, xid);
        let names: Vec<&str> = gids.iter().map(|(g, _)| g.as_str()).collect();
        let (verb, done) = match status.as_deref() {
            Some("committed") => ("COMMIT PREPARED", "committed"),
            Some("aborted") => ("ROLLBACK PREPARED", "rolled back"),
            Some(_) => {
                log.line(&format!(
                    "prepared transaction(s) {} belong to a waybill-import still deciding \
                     (anchor transaction {xid} in progress): left alone",
                    names.join(", ")
                ));
                continue;
            }
            None => {
                let msg = format!(
                    "prepared transaction(s) {} were left by an interrupted waybill-import, but \
                     the fate of its anchor transaction {xid} is no longer known to \
                     PostgreSQL; they hold locks until finished by hand: COMMIT PREPARED or \
                     ROLLBACK PREPARED each (see the import log of that run)",
                    names.join(", ")
                );
                log.line(&msg);
                obs.warn(&msg);
                continue;
            }
        };
        if !act {
            let msg = format!(
                "prepared transaction(s) {} left by an interrupted waybill-import hold locks on \
                 the tables they loaded; the import without --dry-run first {} (its anchor \
                 transaction {xid} {})",
                names.join(", "),
                if done == "committed" {
                    "commits them"
                } else {
                    "rolls them back"
                },
                if done == "committed" {
                    "committed"
                } else {
                    "did not commit"
                }
            );
            log.line(&msg);
            obs.warn(&msg);
            continue;
        }
        for (gid, owner) in &gids {
            let stmt = format!("{verb} {}", quote_literal(gid));
            match client.batch_execute(&stmt) {
                Ok(()) => log.line(&stmt),
                // Finished meanwhile by the import that made it.
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_OBJECT) => {}
                Err(e) => {
                    return Err(Error::Preflight(vec![format!(
                        "prepared transaction {gid} (role {owner}), left by an interrupted \
                         waybill-import, holds locks on the tables it loaded and could not be \
                         finished: {}; as role {owner} or a superuser run: {stmt}",
                        target::describe(&e)
                    )]));
                }
            }
        }
        let msg = format!(
            "prepared transaction(s) {} left by an interrupted waybill-import were {done} \
             (its anchor transaction {xid} {})",
            names.join(", "),
            if done == "committed" {
                "had committed: the load it belonged to was decided"
            } else {
                "had not committed: that load had not been decided"
            }
        );
        log.line(&msg);
        obs.warn(&msg);
        last = Some(done);
    }
    Ok(last)
}
