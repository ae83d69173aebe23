//! Running a load. All or nothing by default: one transaction for the TRUNCATE and every
//! table, rolled back on any error. With `--commit per-table`, each table commits on its
//! own, `--jobs` of them at once.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use postgres::Client;

use super::applied;
use super::binary::{self, Format};
use super::copy::copy_file;
use super::preflight::TableLoad;
use super::readback;
use super::resume::{self, State};
use super::sidelog::SideLog;
use super::steps::{Opening, Step, copy_target, lock_sql, opening, table_steps};
use super::{Commit, CopyFormat, CopyFrom, Ctx, ImportObserver, Phase, TableReport, TableStatus};
use crate::compare::digest::Digest;
use crate::error::{Error, Result, ResultExt};
use crate::printable::escaped;
use crate::target::rules::CheckStep;
use crate::target::{self, catalog, is_lock_timeout, sql::qualified};
use crate::{interrupt, timefmt};

/// The step without rows that runs now, for the observer's spinners: a new one ends
/// the one before, and the last one ends when this is dropped (on failure too).
pub(super) struct Phases<'a> {
    obs: &'a dyn ImportObserver,
    current: Option<Phase>,
}

impl<'a> Phases<'a> {
    fn new(obs: &'a dyn ImportObserver) -> Self {
        Phases { obs, current: None }
    }

    fn enter(&mut self, phase: Phase) {
        if self.current.as_ref() != Some(&phase) {
            self.leave();
            self.obs.phase_started(&phase);
            self.current = Some(phase);
        }
    }

    fn leave(&mut self) {
        if let Some(p) = self.current.take() {
            self.obs.phase_done(&p);
        }
    }
}

impl Drop for Phases<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Loads one table's files and fixes its sequences, inside `tx`. With --verify the
/// dump's digest of the table is computed on a second thread meanwhile, and returned.
pub(super) fn load_table(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
) -> Result<(TableReport, Option<Digest>)> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let digest = cx
            .plan
            .verify
            .then(|| s.spawn(|| readback::dump_digest(cx, l, &stop)));
        let loaded = run_table(tx, cx, l);
        if loaded.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let digest = digest.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::config("the --verify thread panicked")))
        });
        let report = loaded?;
        Ok((report, digest.transpose()?))
    })
}

/// Reads a loaded table back (inside its transaction) when there is a digest to compare.
pub(super) fn verify_loaded(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    report: &mut TableReport,
    digest: Option<Digest>,
) -> Result<Option<crate::compare::TableResult>> {
    let Some(d) = digest else {
        return Ok(None);
    };
    interrupt::check()?;
    let mut phases = Phases::new(cx.obs);
    phases.enter(Phase::ReadBack {
        table: l.entry.name().to_string(),
    });
    let r = readback::verify_table(tx, cx, l, Some(d))?;
    phases.leave();
    if r.is_equal() {
        report.verified_rows = Some(r.equal);
    }
    Ok(Some(r))
}

pub(super) fn run_table(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
) -> Result<TableReport> {
    let (plan, obs, log) = (cx.plan, cx.obs, cx.log);
    interrupt::check()?;
    let clock = Instant::now();
    let bytes: u64 = l.entry.files.iter().map(|f| f.bytes).sum();
    obs.table_started(l.entry.name(), bytes);
    let mut rows = 0;
    let mut format = None;
    let mut phases = Phases::new(obs);
    let table = || l.entry.name().to_string();
    for step in table_steps(plan, l) {
        interrupt::check()?;
        match &step {
            Step::Rebuild(_) => phases.enter(Phase::Indexes { table: table() }),
            Step::Sequence(..) => phases.enter(Phase::Sequences { table: table() }),
            _ => phases.leave(),
        }
        match step {
            Step::Sql(stmt) | Step::Rebuild(stmt) => execute_logged(tx, &stmt, log)?,
            Step::ReadBack(sql) => read_back(tx, cx, l, &sql)?,
            Step::Lock(stmt) => lock(tx, &stmt, log)?,
            Step::Copy(f) => {
                // Decided at the first file, once a staging table exists.
                if format.is_none() {
                    format = Some(copy_format(tx, cx, l)?);
                }
                let n = copy_file(tx, cx, l, f, format.as_ref().unwrap_or(&TEXT))?;
                if n != f.rows {
                    return Err(Error::Load(format!(
                        "table `{}`: {} loaded {n} rows, the manifest says {}",
                        l.entry.name(),
                        f.path,
                        f.rows
                    )));
                }
                rows += n;
            }
            Step::Sequence(sql, seq) => set_sequence(tx, cx, l, &sql, seq)?,
        }
    }
    phases.leave();
    let secs = clock.elapsed().as_secs_f64();
    log.line(&format!(
        "loaded {} into {} ({rows} rows, {} file(s), {secs:.2}s)",
        l.entry.name(),
        qualified(&plan.schema, &l.target),
        l.entry.files.len()
    ));
    obs.table_done(l.entry.name(), rows, secs);
    Ok(TableReport::of(l, rows, secs, TableStatus::Loaded))
}

/// Runs a sequence fix-up (`steps::sequence_sql`); an exhausted sequence is a warning.
pub(super) fn set_sequence(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    sql: &str,
    seq: &str,
) -> Result<()> {
    restart_sequence(tx, cx.log, cx.plan.lock_timeout, seq)?;
    let row = tx
        .query_one(sql, &[])
        .ctx(|| format!("setting sequence {} of table `{}`", seq, l.entry.name()))?;
    let next: i64 = row.get(0);
    let seq: String = row.get(2);
    // Set in a staging schema (`staging`, `shadow`), it is named as it will be: the
    // staging schema's name is internal.
    let seq = match seq.strip_prefix(super::staging::PREFIX) {
        Some(rest) if rest.contains('.') => rest.split_once('.').map_or(rest, |(_, n)| n),
        _ => &seq,
    };
    if row.get::<_, bool>(1) {
        let msg = format!(
            "table `{}`: sequence {seq} is exhausted: the loaded data (or the source's \
             AUTO_INCREMENT) reaches its maximum {next}, so it is left there and \
             nextval will fail; widen the column and the sequence (e.g. to bigint) \
             before inserting rows that rely on it",
            l.entry.name()
        );
        cx.log.line(&msg);
        cx.obs.warn(&msg);
    } else {
        cx.log.line(&format!("sequence {seq} next value {next}"));
    }
    Ok(())
}

/// Makes what this transaction does to a sequence roll back with it. `setval` is not
/// transactional: a load that failed after it would leave the sequence moved (below the
/// rows still in the table, if the dump is older than the target's data, so the
/// application's next insert collides). A sequence ALTERed in a transaction gets new
/// storage that a rollback discards, with whatever `setval` wrote to it since: so
/// `ALTER SEQUENCE ... RESTART` first (it starts over; read its value before if it
/// matters). Only the sequence's owner may ALTER it: for another role the log says so and
/// `setval` alone follows. `seq` is SQL for the sequence (a literal or a
/// `pg_get_serial_sequence` call).
pub(super) fn restart_sequence(
    tx: &mut postgres::Transaction,
    log: &SideLog,
    lock_timeout: std::time::Duration,
    seq: &str,
) -> Result<()> {
    let row = tx
        .query_one(
            &format!(
                "SELECT c.oid::regclass::text, pg_has_role(c.relowner, 'USAGE') \
                 FROM pg_class c WHERE c.oid = ({seq})::regclass"
            ),
            &[],
        )
        .ctx(|| format!("looking up the owner of sequence {seq}"))?;
    let (name, owned): (String, bool) = (row.get(0), row.get(1));
    if !owned {
        log.line(&format!(
            "sequence {name} belongs to another role, which alone may ALTER it: it is set by \
             setval only, which a rollback of this load does not undo"
        ));
        return Ok(());
    }
    let stmt = format!("ALTER SEQUENCE {name} RESTART");
    match tx.batch_execute(&stmt) {
        Ok(()) => {
            log.line(&format!(
                "{stmt} (so that a rollback of this load also undoes the sequence's new value)"
            ));
            Ok(())
        }
        Err(e) if is_lock_timeout(&e) => Err(Error::Load(format!(
            "gave up waiting for a lock on sequence {name} after {} (--lock-timeout): a \
             transaction still open used it (nextval), e.g. an insert into another table that \
             shares it; let it finish or raise --lock-timeout",
            timefmt::duration_text(lock_timeout)
        ))),
        Err(e) => Err(e).ctx(|| stmt.clone()),
    }
}

pub(super) const TEXT: Format = Format::Text(String::new());

/// Binary or text COPY for a table's files (`binary::plan`), logged.
pub(super) fn copy_format(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
) -> Result<Format> {
    let (plan, log) = (cx.plan, cx.log);
    let format = match (&plan.copy_from, plan.copy_format) {
        (CopyFrom::Server { .. }, _) => Format::Text("--copy-from server".into()),
        (_, CopyFormat::Text) => Format::Text("--copy-format text".into()),
        (CopyFrom::Stdin, CopyFormat::Binary) => {
            let encodings: Vec<_> = l.entry.schema.columns.iter().map(|c| c.encoding).collect();
            binary::plan(tx, &copy_target(plan, l), &l.copy_columns(), &encodings)?
        }
    };
    match &format {
        Format::Binary(_) => log.line(&format!(
            "{}: binary COPY, converted from the CSV by this client",
            l.entry.name()
        )),
        Format::Text(why) => log.line(&format!("{}: text COPY ({why})", l.entry.name())),
    }
    Ok(format)
}

/// `key=value, ...` for a row in a message, from the key columns' text.
fn row_key(columns: &[String], values: &[Option<String>]) -> String {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| {
            format!(
                "{c}={}",
                v.as_deref()
                    .map(|v| escaped(&preview(v)).into_owned())
                    .unwrap_or_else(|| "NULL".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The start of a value, for a message.
fn preview(v: &str) -> String {
    match v.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &v[..i]),
        None => v.to_string(),
    }
}

/// The generated columns' read-back for one file (`steps::read_back_sql`): PostgreSQL
/// computed them in the staging table; any row where that differs from the dump's value
/// fails the load.
fn read_back(tx: &mut postgres::Transaction, cx: &Ctx, l: &TableLoad, sql: &str) -> Result<()> {
    let rows = tx.query(sql, &[]).ctx(|| sql.to_string())?;
    cx.log.line(sql);
    if rows.is_empty() {
        return Ok(());
    }
    let keys = l.key_columns.len();
    let mut lines = Vec::new();
    let mut differing = vec![false; l.generated.len()];
    for row in &rows {
        let key: Vec<Option<String>> = (0..keys).map(|i| row.get(i)).collect();
        for (j, g) in l.generated.iter().enumerate() {
            let computed: Option<String> = row.get(keys + 2 * j);
            let exported: Option<String> = row.get(keys + 2 * j + 1);
            if computed != exported {
                differing[j] = true;
                let show = |v: &Option<String>| {
                    v.as_deref()
                        .map(|v| format!("'{}'", escaped(&preview(v))))
                        .unwrap_or_else(|| "NULL".into())
                };
                lines.push(format!(
                    "row with {}: column `{}` is {} in PostgreSQL, {} in the dump",
                    row_key(&l.key_columns, &key),
                    escaped(&g.column),
                    show(&computed),
                    show(&exported)
                ));
            }
        }
    }
    let columns: Vec<String> = l
        .generated
        .iter()
        .zip(&differing)
        .filter(|(_, d)| **d)
        .map(|(g, _)| format!("`{}` ({})", escaped(&g.column), escaped(&g.expression)))
        .collect();
    let remedy = if cx.plan.create_schema.is_some() {
        format!(
            "the translated expression does not match the source's; pass --cast {}.COLUMN=TYPE \
             to keep such a column a plain one holding the dump's values",
            escaped(l.entry.name())
        )
    } else {
        "the target's generation expression does not match the source's".to_string()
    };
    Err(Error::Load(format!(
        "table `{}`: PostgreSQL computes the generated column(s) {} differently from the values \
         in the dump:\n  {}\n{remedy}",
        escaped(l.entry.name()),
        columns.join(", "),
        lines.join("\n  "),
    )))
}

/// Adds a CHECK constraint, which validates every loaded row. A violation fails the
/// load with the number of rows and the first keys; so does a condition PostgreSQL
/// refuses. Run in a savepoint so the offending rows can be looked up.
pub(super) fn add_check(
    tx: &mut postgres::Transaction,
    c: &CheckStep,
    log: &SideLog,
) -> Result<()> {
    let mut sp = tx.transaction().ctx(|| "starting a savepoint".into())?;
    let outcome = sp.batch_execute(&c.sql);
    let e = match outcome {
        Ok(()) => {
            sp.commit().ctx(|| "releasing a savepoint".into())?;
            log.line(&c.sql);
            return Ok(());
        }
        Err(e) => e,
    };
    sp.rollback().ctx(|| "rolling back to a savepoint".into())?;
    let override_hint = format!(
        "--check-file can give its PostgreSQL text ({}.{} = CONDITION) or skip it ({}.{} =)",
        escaped(&c.table),
        escaped(&c.name),
        escaped(&c.table),
        escaped(&c.name)
    );
    if e.code() != Some(&postgres::error::SqlState::CHECK_VIOLATION) {
        return Err(Error::Load(format!(
            "table `{}`: CHECK {} ({}) could not be added: {}\n  {}\n{override_hint}",
            escaped(&c.table),
            escaped(&c.name),
            escaped(&c.origin),
            crate::target::describe(&e),
            c.sql
        )));
    }
    let rows = tx.query(&c.offenders, &[]).ctx(|| c.offenders.clone())?;
    let count: i64 = rows.first().map(|r| r.get(0)).unwrap_or(0);
    let keys: Vec<String> = rows
        .iter()
        .map(|r| {
            let values: Vec<Option<String>> =
                (0..c.key_columns.len()).map(|i| r.get(i + 1)).collect();
            row_key(&c.key_columns, &values)
        })
        .collect();
    Err(Error::Load(format!(
        "table `{}`: {count} loaded row(s) violate CHECK {} ({}), e.g. the row(s) with {}; either \
         the source did not enforce it (MySQL before 8.0.16 ignored CHECK) or it means \
         something else in PostgreSQL; {override_hint}",
        escaped(&c.table),
        escaped(&c.name),
        escaped(&c.origin),
        keys.join("; ")
    )))
}

pub(super) fn execute_logged(
    tx: &mut postgres::Transaction,
    stmt: &str,
    log: &SideLog,
) -> Result<()> {
    tx.batch_execute(stmt).ctx(|| stmt.to_string())?;
    log.line(stmt);
    Ok(())
}

/// A `LOCK TABLE`; running out of `--lock-timeout` is `Error::LockTimeout`, which the
/// caller explains once the transaction is rolled back (`lock_wait_error`).
pub(super) fn lock(tx: &mut postgres::Transaction, stmt: &str, log: &SideLog) -> Result<()> {
    match tx.batch_execute(stmt) {
        Ok(()) => {
            log.line(stmt);
            Ok(())
        }
        Err(e) if is_lock_timeout(&e) => Err(Error::LockTimeout(stmt.to_string())),
        Err(e) => Err(e).ctx(|| stmt.to_string()),
    }
}

/// Runs what opens a load: the locks, the schema statements and the TRUNCATE. The
/// tables outside the load that the TRUNCATE reaches are counted first, under the lock:
/// for the audit trail with `--cascade`, and, without it, to refuse one that gained
/// rows since the pre-flight.
fn open_load(tx: &mut postgres::Transaction, cx: &Ctx) -> Result<()> {
    let (plan, lp, log) = (cx.plan, cx.lp, cx.log);
    for op in opening(plan, lp) {
        interrupt::check()?;
        match op {
            Opening::Lock(stmt) => lock(tx, &stmt, log)?,
            Opening::Sql(stmt) => execute_logged(tx, &stmt, log).map_err(|e| {
                // A generated column whose translated expression PostgreSQL refuses
                // (not IMMUTABLE, a type it will not convert) has a way out.
                if stmt.starts_with("CREATE TABLE") && stmt.contains(" GENERATED ALWAYS AS (") {
                    Error::Load(format!(
                        "{e}\nif PostgreSQL refuses a generated column's translated expression, \
                         --cast TABLE.COLUMN=TYPE keeps that column a plain one holding the \
                         dump's values"
                    ))
                } else {
                    e
                }
            })?,
            Opening::Truncate(stmt) => truncate(tx, cx, &stmt, &lp.cascaded, Reached::AtPreflight)?,
        }
    }
    Ok(())
}

/// When the tables a TRUNCATE reaches outside the load were found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Reached {
    /// By the pre-flight, which refused any that held rows then.
    AtPreflight,
    /// Just now, under the lock (`--resume`: from the tables loaded again).
    Now,
}

/// Runs the TRUNCATE `stmt`. `cascaded`, the tables outside the load it reaches, are
/// counted first, under the lock: for the audit trail with `--cascade`, and, without it,
/// to refuse one that holds rows (gained since the pre-flight, or found just now).
pub(super) fn truncate(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    stmt: &str,
    cascaded: &[(String, String)],
    found: Reached,
) -> Result<()> {
    let (plan, obs, log) = (cx.plan, cx.obs, cx.log);
    let mut emptied = Vec::new();
    for (schema, table) in cascaded {
        let rows = catalog::row_count(tx, schema, table)?;
        if rows > 0 && !plan.cascade {
            let holds = match found {
                Reached::AtPreflight => {
                    format!("now holds {rows} rows (it was empty at the pre-flight)")
                }
                Reached::Now => format!("holds {rows} rows"),
            };
            return Err(Error::Load(format!(
                "{} {holds}, and TRUNCATE ... CASCADE would empty it; nothing was loaded: load \
                 it too, or pass --cascade to empty it",
                qualified(schema, table)
            )));
        }
        emptied.push((schema, table, rows));
    }
    execute_logged(tx, stmt, log)?;
    for (schema, table, rows) in emptied.into_iter().filter(|_| plan.cascade) {
        log.line(&format!(
            "--cascade: emptied {} ({rows} rows before), which is not loaded",
            qualified(schema, table)
        ));
        let name = if *schema == plan.schema {
            table.clone()
        } else {
            format!("{schema}.{table}")
        };
        obs.cascaded(&name, rows.max(0) as u64);
    }
    Ok(())
}

/// `--resume` (with `--commit per-table`): what opens the load instead of `open_load`.
/// Under every table lock, each table the earlier run committed (`cx.prior`) is kept
/// when its row count and content digest equal the dump's; a kept table that
/// `TRUNCATE ... CASCADE` of a reloaded one would reach is reloaded too. Only the
/// reloaded tables are emptied. Returns the kept tables' reports.
fn open_resume(tx: &mut postgres::Transaction, cx: &Ctx) -> Result<Vec<TableReport>> {
    let (plan, lp, obs, log) = (cx.plan, cx.lp, cx.obs, cx.log);
    if let Some(stmt) = lock_sql(&lp.locks) {
        lock(tx, &stmt, log)?;
    }
    for stmt in &lp.before {
        execute_logged(tx, stmt, log)?;
    }
    let mut kept: Vec<&TableLoad> = Vec::new();
    let mut why: Vec<(&str, String)> = Vec::new();
    let mut phases = Phases::new(obs);
    for l in &lp.loads {
        interrupt::check()?;
        let name = l.entry.name();
        let Some(&committed) = cx.prior.and_then(|s| s.committed.get(name)) else {
            why.push((name, "the earlier run did not commit it".into()));
            continue;
        };
        if committed != l.entry.rows {
            why.push((
                name,
                format!(
                    "the earlier run recorded {committed} rows, the manifest {}",
                    l.entry.rows
                ),
            ));
            continue;
        }
        let rows = catalog::row_count(tx, &plan.schema, &l.target)?;
        if u64::try_from(rows).ok() != Some(l.entry.rows) {
            why.push((
                name,
                format!("it holds {rows} rows, the dump {}", l.entry.rows),
            ));
            continue;
        }
        phases.enter(Phase::Proving {
            table: name.to_string(),
        });
        let r = readback::verify_table(tx, cx, l, None)?;
        phases.leave();
        if r.is_equal() {
            kept.push(l);
        } else {
            why.push((
                name,
                format!(
                    "its contents differ from the dump ({} row(s) different, {} missing, {} \
                     extra)",
                    r.different, r.missing, r.extra
                ),
            ));
        }
    }
    // A reloaded table's TRUNCATE ... CASCADE must not empty a kept one: such a table
    // is reloaded too, until nothing kept is reached.
    let reached = loop {
        let reload: Vec<String> = lp
            .loads
            .iter()
            .filter(|l| !kept.iter().any(|k| std::ptr::eq(*k, *l)))
            .map(|l| l.target.clone())
            .collect();
        if reload.is_empty() {
            break Vec::new();
        }
        let reached = catalog::cascade_reach(tx, &plan.schema, &reload)?;
        let before = kept.len();
        kept.retain(|k| {
            let hit = reached
                .iter()
                .any(|(s, t)| *s == plan.schema && *t == k.target);
            if hit {
                why.push((
                    k.entry.name(),
                    "its foreign keys lead to a table that is loaded again, whose TRUNCATE \
                     ... CASCADE empties it"
                        .into(),
                ));
            }
            !hit
        });
        if kept.len() == before {
            break reached;
        }
    };
    let reload: Vec<&TableLoad> = lp
        .loads
        .iter()
        .filter(|l| !kept.iter().any(|k| std::ptr::eq(*k, *l)))
        .collect();
    // The tables outside the load that the TRUNCATE reaches: the same rule as open_load.
    if !reload.is_empty() {
        let stmt = super::steps::truncate_of(plan, reload.iter().copied());
        truncate(tx, cx, &stmt, &reached, Reached::Now)?;
    }
    for l in &reload {
        let name = l.entry.name();
        let reason = why
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, w)| w.clone())
            .unwrap_or_default();
        log.line(&format!("--resume: loading {name} again: {reason}"));
        obs.reloading(name, &reason);
    }
    Ok(kept
        .into_iter()
        .map(|l| {
            log.line(&format!(
                "--resume: kept {} (proven equal: {} rows, content digest equal to the dump's)",
                l.entry.name(),
                l.entry.rows
            ));
            obs.kept(l.entry.name(), l.entry.rows);
            TableReport::of(l, l.entry.rows, 0.0, TableStatus::Kept)
        })
        .collect())
}

/// The error for a lock that `--lock-timeout` ran out on: which tables, and the
/// sessions that hold locks on them (looked up after the rollback, on `client`).
pub(super) fn lock_wait_error(client: &mut Client, cx: &Ctx, tables: &[(String, String)]) -> Error {
    let names: Vec<String> = tables.iter().map(|(s, t)| qualified(s, t)).collect();
    let mut msg = format!(
        "gave up waiting for a lock on {} after {} (--lock-timeout)",
        names.join(", "),
        timefmt::duration_text(cx.plan.lock_timeout)
    );
    match catalog::lock_holders(client, tables) {
        Ok(holders) if !holders.is_empty() => {
            msg.push_str(", held by:");
            for h in &holders {
                msg.push_str(&format!("\n  {h}"));
            }
            msg.push_str(
                "\nlet them finish, end them (SELECT pg_terminate_backend(<pid>)), or raise \
                 --lock-timeout",
            );
        }
        Ok(_) => msg.push_str(
            "; the sessions that held it have ended since, so the import may succeed if run again",
        ),
        Err(e) => msg.push_str(&format!("; who holds it could not be looked up: {e}")),
    }
    cx.log.line(&msg);
    Error::LockTimeout(msg)
}

/// `SET LOCAL max_parallel_maintenance_workers`: index builds may use this connection's
/// share of `--jobs` (of `connections` loading at once), less itself, as parallel
/// workers (maintenance_work_mem is at least 256 MB, see `target::connect`).
pub(super) fn parallel_index_builds(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    connections: usize,
) -> Result<()> {
    let stmt = format!(
        "SET LOCAL max_parallel_maintenance_workers = {}",
        (cx.plan.jobs / connections.max(1)).clamp(1, 64) - 1
    );
    execute_logged(tx, &stmt, cx.log)
}

/// What `--create-schema` runs after the data: SET conversions, keys and indexes,
/// foreign keys, then the CHECK constraints (each validating the loaded rows).
pub(super) fn after_load(tx: &mut postgres::Transaction, cx: &Ctx) -> Result<()> {
    let (lp, log) = (cx.lp, cx.log);
    let mut phases = Phases::new(cx.obs);
    let (keys_from, fks_from, _) = lp.after_split;
    for (i, stmt) in lp.after.iter().enumerate() {
        interrupt::check()?;
        phases.enter(if i >= fks_from {
            Phase::ForeignKeys
        } else if i >= keys_from {
            Phase::Keys
        } else {
            Phase::Conversions
        });
        execute_logged(tx, stmt, log)?;
    }
    phases.leave();
    for c in &lp.checks {
        interrupt::check()?;
        add_check(tx, c, log)?;
    }
    Ok(())
}

/// All or nothing: one transaction for the TRUNCATE and every table.
pub(super) fn load(client: &mut Client, cx: &Ctx) -> Result<Vec<TableReport>> {
    let (plan, lp, obs, log) = (cx.plan, cx.lp, cx.obs, cx.log);
    if plan.commit == Commit::PerTable {
        return load_per_table(client, cx);
    }
    if let Some(opts) = &plan.create_schema {
        match super::staging::applies(client, cx)? {
            Ok(into) => return super::staging::load(client, cx, opts, into),
            Err(why) => log.line(&format!("all or nothing in one transaction: {why}")),
        }
    } else {
        let shadow = super::shadow::choose(client, cx)?;
        match super::parallel::split(client, cx, &shadow)? {
            Ok(split) => return super::parallel::load(client, cx, split, &shadow),
            Err(why) => log.line(&format!("all or nothing in one transaction: {why}")),
        }
    }
    let mut tx = client
        .transaction()
        .ctx(|| "starting the transaction".into())?;
    let outcome = (|| {
        parallel_index_builds(&mut tx, cx, 1)?;
        open_load(&mut tx, cx)?;
        let mut loaded = Vec::new();
        for l in &lp.loads {
            loaded.push(load_table(&mut tx, cx, l)?);
        }
        after_load(&mut tx, cx)?;
        super::references::check(&mut tx, cx)?;
        // --verify: the tables as they will be committed, read back and compared.
        let mut results = Vec::new();
        for (l, (report, digest)) in lp.loads.iter().zip(loaded.iter_mut()) {
            results.extend(verify_loaded(&mut tx, cx, l, report, digest.take())?);
        }
        if results.iter().any(|r| !r.is_equal()) {
            return Err(readback::mismatch(&results));
        }
        applied::record(&mut tx, cx)?;
        interrupt::check()?;
        Ok(loaded.into_iter().map(|(r, _)| r).collect())
    })();
    match outcome {
        Ok(reports) => {
            tx.commit().ctx(|| "committing".into())?;
            Ok(reports)
        }
        Err(e) => {
            let rolled_back = tx.rollback().is_ok();
            log.line(if rolled_back {
                "rolled back"
            } else {
                "connection lost: the server rolls the transaction back"
            });
            obs.rolled_back();
            match e {
                Error::LockTimeout(_) => Err(lock_wait_error(client, cx, &lp.locks)),
                e => Err(e),
            }
        }
    }
}

/// `--commit per-table`: empty every table in one committed transaction, then load tables on N
/// connections, biggest first, each in its own transaction. After a failure no new
/// table starts; the error says which tables committed.
fn load_per_table(client: &mut Client, cx: &Ctx) -> Result<Vec<TableReport>> {
    let (plan, lp, obs, log) = (cx.plan, cx.lp, cx.obs, cx.log);
    // Recorded as incomplete with the TRUNCATE: a failed parallel load is never a base.
    let marker = applied::incomplete_marker(client, cx);
    let mut tx = client
        .transaction()
        .ctx(|| "starting the transaction".into())?;
    let opened = if plan.resume {
        open_resume(&mut tx, cx)
    } else {
        open_load(&mut tx, cx).map(|()| Vec::new())
    };
    let opened = opened.and_then(|kept| match &marker {
        Some(sql) => execute_logged(&mut tx, sql, log).map(|()| kept),
        None => Ok(kept),
    });
    let kept = match opened {
        Ok(kept) => {
            tx.commit().ctx(|| "committing the TRUNCATE".into())?;
            log.line(&format!(
                "committed the TRUNCATE (--commit per-table, --jobs {})",
                plan.jobs
            ));
            kept
        }
        Err(e) => {
            let _ = tx.rollback();
            log.line("rolled back");
            obs.rolled_back();
            return Err(match e {
                Error::LockTimeout(_) => lock_wait_error(client, cx, &lp.locks),
                e => e,
            });
        }
    };
    // The progress state in the dump directory: the tables committed so far (here the
    // kept ones), rewritten after each commit, for a later --resume.
    let state = Mutex::new(State::new(plan, cx.dump));
    let warned = AtomicBool::new(false);
    let save = |update: &dyn Fn(&mut State)| {
        if !plan.side_files {
            return;
        }
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        update(&mut s);
        if let Err(e) = resume::write(&cx.dump.dir, &s) {
            let msg = format!(
                "cannot write the progress state for --resume ({e}); a later --resume loads \
                 every table again"
            );
            log.line(&msg);
            if !warned.swap(true, Ordering::SeqCst) {
                obs.warn(&msg);
            }
        }
    };
    save(&|s| {
        s.committed
            .extend(kept.iter().map(|k| (k.name.clone(), k.loaded_rows)))
    });
    let mut order: Vec<&TableLoad> = lp
        .loads
        .iter()
        .filter(|l| !kept.iter().any(|k| k.name == l.entry.name()))
        .collect();
    order.sort_by_key(|l| std::cmp::Reverse(l.entry.bytes));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs)
        .build()
        .map_err(|e| Error::config(format!("starting worker threads: {e}")))?;
    let results: Mutex<Vec<(String, Result<TableReport>)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    pool.scope_fifo(|s| {
        for l in order {
            let (results, stop) = (&results, &stop);
            s.spawn_fifo(move |_| {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let r = (|| {
                    let mut c = target::connect(&plan.target, plan.lock_timeout)?;
                    if lp.replica_role {
                        c.batch_execute("SET session_replication_role = replica")
                            .ctx(|| "SET session_replication_role = replica".into())?;
                    }
                    let mut tx = c.transaction().ctx(|| "starting a transaction".into())?;
                    let loaded = load_table(&mut tx, cx, l).and_then(|(mut report, digest)| {
                        match verify_loaded(&mut tx, cx, l, &mut report, digest)? {
                            Some(r) if !r.is_equal() => Err(readback::mismatch(&[r])),
                            _ => Ok(report),
                        }
                    });
                    match loaded {
                        Ok(report) => {
                            tx.commit()
                                .ctx(|| format!("committing table `{}`", l.entry.name()))?;
                            log.line(&format!("committed {}", l.entry.name()));
                            save(&|s| {
                                s.committed
                                    .insert(l.entry.name().to_string(), report.loaded_rows);
                            });
                            Ok(report)
                        }
                        Err(e) => {
                            let _ = tx.rollback();
                            log.line(&format!("rolled back {}", l.entry.name()));
                            obs.rolled_back();
                            Err(match e {
                                Error::LockTimeout(_) => lock_wait_error(
                                    &mut c,
                                    cx,
                                    &[(plan.schema.clone(), l.target.clone())],
                                ),
                                e => e,
                            })
                        }
                    }
                })();
                if r.is_err() {
                    stop.store(true, Ordering::SeqCst);
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((l.entry.name().to_string(), r));
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut reports = kept;
    let mut failures = Vec::new();
    for (name, r) in results {
        match r {
            Ok(rep) => reports.push(rep),
            Err(e) => failures.push(format!("table `{name}` was rolled back: {e}")),
        }
    }
    if failures.is_empty() {
        if marker.is_some() {
            applied::mark_complete(client, cx)?;
        }
        save(&|s| s.complete = true);
        return Ok(reports);
    }
    let done: BTreeSet<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    let never: Vec<&str> = lp
        .loads
        .iter()
        .map(|l| l.entry.name())
        .filter(|n| !done.contains(n) && !failures.iter().any(|f| f.contains(&format!("`{n}`"))))
        .collect();
    let mut msg = failures.join("\n");
    msg.push_str(&format!(
        "\ncommitted: {} (--commit per-table commits each table on its own)",
        if done.is_empty() {
            "none".to_string()
        } else {
            done.into_iter().collect::<Vec<_>>().join(", ")
        }
    ));
    if !never.is_empty() {
        msg.push_str(&format!("\nnot loaded (left empty): {}", never.join(", ")));
    }
    if plan.side_files {
        msg.push_str(
            "\nonce the cause is fixed, the same import with --resume keeps the committed \
             tables (where their rows and content prove them equal to the dump) and loads the \
             rest",
        );
    }
    log.line(&msg);
    Err(Error::PartialLoad(msg))
}
