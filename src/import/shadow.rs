//! Shadow tables: the files of one large table of an existing schema loaded on several
//! connections at once, still all or nothing.
//!
//! A table loaded in place loads on one backend: its TRUNCATE takes a lock no other
//! transaction can share (`parallel`). So a table whose dump has several files, and
//! whose every property the swap below can be *proven* to carry over, loads instead into
//! a copy of itself in a staging schema (`waybill_stage_<anchor txid>`, the prefix of
//! `staging`, so `staging::recover` drops one a crash left):
//!
//! 1. a committed transaction creates `stage.T (LIKE S.T INCLUDING ...)`, without
//!    indexes; the anchor transaction then locks `S.T` (ACCESS EXCLUSIVE, within
//!    `--lock-timeout`) and keeps the lock: nobody writes to the old table meanwhile;
//! 2. `--jobs` connections COPY its files, each in a transaction of its own
//!    (`staging`'s piece loader); one transaction then adds its keys and indexes, from
//!    the old table's own definitions, and `--verify` reads it back;
//! 3. the other tables load as `parallel` loads them;
//! 4. at the decision, in the anchor: the old table is checked again (the same
//!    questions as at plan time, under the lock now), and a *fingerprint* of `S.T` and
//!    of `stage.T` that does not depend on names (columns, constraints, indexes, the
//!    table's own properties) must be equal, else the load fails and names what
//!    differs (say, a migration altered `S.T` between steps 1 and 2); then the swap:
//!    its serial sequences are detached, `S.T` dropped (RESTRICT: anything that still
//!    depends on it fails the load), `stage.T` moved into `S`, given `S.T`'s owner, its
//!    comment and privileges, the sequences attached to it and set past the data; the
//!    owner, privileges and sequences are compared with the old ones, and the staging
//!    schema dropped. The anchor's commit decides everything at once.
//!
//! Only a table bigger than an even share of the load (its bytes over the total divided
//! by `--jobs`) is worth it: a smaller one loads whole on one connection while the
//! others load the rest, and the shadow path's phases (files, then indexes, then the
//! other tables) would only add time.
//!
//! Why only *eligible* tables (`refusals`): whatever points at the old table (a view, a
//! foreign key, a trigger, a policy, a publication, column privileges, ...) would have
//! to be recreated by the swap, and what it missed would be lost silently. Rather than
//! recreate them, such a table loads in place, and the import log says why. What
//! `CREATE TABLE ... LIKE` and the index definitions carry over is proven by the
//! fingerprint at the decision, not assumed.

use postgres::{Client, GenericClient};

use super::load::{lock, set_sequence};
use super::parallel::REFERENCES_WHY;
use super::preflight::{LoadPlan, TableLoad};
use super::staging::{self, PREFIX};
use super::steps::{Step, lock_sql, table_steps};
use super::{Ctx, ImportPlan, TableReport};
use crate::error::{Error, Result, ResultExt};
use crate::target::sql::{qualified, quote_ident, quote_literal};
use crate::target::{self, is_lock_timeout};

/// Why a table of the dump loads in place, for the reasons that do not depend on the
/// table (`None`: it may go through a shadow table).
fn plan_refusal(cx: &Ctx) -> Option<&'static str> {
    let (plan, lp) = (cx.plan, cx.lp);
    if plan.jobs < 2 {
        Some("--jobs 1")
    } else if plan.resume {
        Some("--resume keeps or loads again the tables in place")
    } else if !cx.references.is_empty() {
        Some(REFERENCES_WHY)
    } else if plan.create_schema.is_some() || !lp.truncate {
        Some("--create-schema")
    } else {
        None
    }
}

/// The loads (indexes into `cx.lp.loads`) that go through a shadow table. The import
/// log gets one line per table: through a shadow table, or in place and why.
pub(super) fn choose(client: &mut Client, cx: &Ctx) -> Result<Vec<usize>> {
    let (plan, lp, log) = (cx.plan, cx.lp, cx.log);
    if plan.jobs < 2 {
        return Ok(Vec::new());
    }
    let general = plan_refusal(cx);
    // A table no bigger than an even share of the load loads whole on one connection
    // while the others load the rest: splitting it would only add a phase.
    let total: u64 = lp.loads.iter().map(|l| l.entry.bytes).sum();
    let share = total / plan.jobs as u64;
    let mut chosen = Vec::new();
    for (i, l) in lp.loads.iter().enumerate() {
        let name = qualified(&plan.schema, &l.target);
        let why = if let Some(why) = general {
            vec![why.to_string()]
        } else if l.staged() {
            vec!["it has SET or generated columns (it loads through a temporary table)".into()]
        } else if l.entry.files.len() < 2 {
            vec!["its dump has one file".into()]
        } else {
            let mut why = refusals(client, &plan.schema, &l.target)?;
            if why.is_empty() && l.entry.bytes <= share {
                why.push(format!(
                    "it is no bigger than an even share of the load ({} of {} bytes on {} \
                     connections), so it loads whole beside the other tables",
                    l.entry.bytes, total, plan.jobs
                ));
            }
            why
        };
        if why.is_empty() {
            log.line(&format!(
                "{name} loads through a shadow table: its {} files on up to {} connections at \
                 once, swapped in at the commit",
                l.entry.files.len(),
                plan.jobs.min(l.entry.files.len())
            ));
            chosen.push(i);
        } else {
            log.line(&format!(
                "{name} loads in place on one backend: {}",
                why.join("; ")
            ));
        }
    }
    Ok(chosen)
}

/// Why `schema.table` cannot be swapped for a shadow table, read-only from the catalog
/// (empty: it can). Anything this does not know makes it ineligible.
pub(super) fn refusals(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Vec<String>> {
    let rows = client
        .query(REFUSALS, &[&schema, &table])
        .ctx(|| format!("reading the catalog of {}", qualified(schema, table)))?;
    let mut why: Vec<String> = Vec::new();
    for r in rows {
        let w: String = r.get(0);
        if !why.contains(&w) {
            why.push(w);
        }
    }
    Ok(why)
}

/// The questions of `refusals`, one row per reason ($1 schema, $2 table).
const REFUSALS: &str = "
WITH t AS (
  SELECT c.oid AS rel, c.relkind, c.relpersistence, c.relispartition, c.reltablespace,
         c.reloftype, c.relam, c.relrowsecurity, c.relforcerowsecurity, c.relreplident,
         c.reloptions, c.reltype, c.relowner, c.relacl, c.relname, n.nspname, n.oid AS nsp
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2
), ix AS (
  SELECT i.indexrelid, i.indisvalid, i.indisready, i.indislive, i.indisclustered,
         ic.relname AS iname, ic.reltablespace AS its, con.conname,
         pg_get_indexdef(i.indexrelid) AS def,
         'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX '
           || quote_ident(ic.relname) || ' ON ' || quote_ident(t.nspname) || '.'
           || quote_ident(t.relname) || ' USING ' AS prefix
  FROM t JOIN pg_index i ON i.indrelid = t.rel
  JOIN pg_class ic ON ic.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.rel
                              AND con.contype IN ('p', 'u', 'x')
), idseq AS (
  SELECT s.oid FROM t
  JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = t.rel
                  AND d.classid = 'pg_class'::regclass AND d.deptype = 'i'
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
)
SELECT why FROM (
  SELECT 0 AS k, 'it was not found in the catalog' AS why WHERE NOT EXISTS (SELECT FROM t)
  UNION ALL SELECT 1, CASE WHEN relkind = 'p' THEN 'it is partitioned'
                      ELSE 'it is not a plain table' END FROM t WHERE relkind <> 'r'
  UNION ALL SELECT 2, 'it is unlogged' FROM t WHERE relpersistence <> 'p'
  UNION ALL SELECT 3, 'it is a partition' FROM t WHERE relispartition
  UNION ALL SELECT 4, 'it has inheritance parents or children' FROM t
    WHERE EXISTS (SELECT FROM pg_inherits WHERE inhrelid = t.rel OR inhparent = t.rel)
  UNION ALL SELECT 5, 'it is in a tablespace of its own' FROM t WHERE reltablespace <> 0
  UNION ALL SELECT 6, 'it is a typed table (OF a type)' FROM t WHERE reloftype <> 0
  UNION ALL SELECT 7, 'its access method is not heap' FROM t
    WHERE relam IS DISTINCT FROM (SELECT oid FROM pg_am WHERE amname = 'heap')
  UNION ALL SELECT 8, 'it has a foreign key' FROM t
    WHERE EXISTS (SELECT FROM pg_constraint WHERE contype = 'f' AND conrelid = t.rel)
  UNION ALL SELECT 9, 'a foreign key references it' FROM t
    WHERE EXISTS (SELECT FROM pg_constraint WHERE contype = 'f' AND confrelid = t.rel)
  UNION ALL SELECT 10, 'it has rule(s)' FROM t
    WHERE EXISTS (SELECT FROM pg_rewrite WHERE ev_class = t.rel)
  UNION ALL SELECT 11, 'a view or rule depends on it' FROM t
    WHERE EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_rewrite'::regclass
                  AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid = t.rel)
                    OR (d.refclassid = 'pg_type'::regclass AND d.refobjid = t.reltype)))
  UNION ALL SELECT 12, 'it has trigger(s)' FROM t
    WHERE EXISTS (SELECT FROM pg_trigger WHERE tgrelid = t.rel AND NOT tgisinternal)
  UNION ALL SELECT 13, 'it has row-level security' FROM t
    WHERE relrowsecurity OR relforcerowsecurity
       OR EXISTS (SELECT FROM pg_policy WHERE polrelid = t.rel)
  UNION ALL SELECT 14, 'it is in a publication' FROM t
    WHERE EXISTS (SELECT FROM pg_publication_rel WHERE prrelid = t.rel)
  UNION ALL SELECT 15, 'a subscription replicates into it' FROM t
    WHERE EXISTS (SELECT FROM pg_subscription_rel WHERE srrelid = t.rel)
  UNION ALL SELECT 16, 'its replica identity is not the default' FROM t
    WHERE relreplident <> 'd'
  UNION ALL SELECT 17, 'it has storage options (WITH ...)' FROM t WHERE reloptions IS NOT NULL
  UNION ALL SELECT 18, 'it has extended statistics' FROM t
    WHERE EXISTS (SELECT FROM pg_statistic_ext WHERE stxrelid = t.rel)
  UNION ALL SELECT 19, 'it has a security label' FROM t
    WHERE EXISTS (SELECT FROM pg_seclabel WHERE classoid = 'pg_class'::regclass
                  AND objoid = t.rel)
  UNION ALL SELECT 20, 'it belongs to an extension' FROM t
    WHERE EXISTS (SELECT FROM pg_depend WHERE classid = 'pg_class'::regclass
                  AND objid = t.rel AND deptype = 'e')
  UNION ALL SELECT 21, 'a column has privileges of its own' FROM t
    WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = t.rel AND attnum > 0
                  AND NOT attisdropped AND attacl IS NOT NULL)
  UNION ALL SELECT 22, 'a column has options or a statistics target of its own' FROM t
    WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = t.rel AND attnum > 0
                  AND NOT attisdropped
                  AND (attoptions IS NOT NULL OR coalesce(attstattarget, -1) <> -1))
  UNION ALL SELECT 23, 'it has a NOT VALID constraint' FROM t
    WHERE EXISTS (SELECT FROM pg_constraint WHERE conrelid = t.rel AND NOT convalidated)
  UNION ALL SELECT 24, 'an index of it is not valid' FROM ix
    WHERE NOT (indisvalid AND indisready AND indislive)
  UNION ALL SELECT 25, 'it is clustered on an index' FROM ix WHERE indisclustered
  UNION ALL SELECT 26, 'an index of it is in a tablespace of its own' FROM ix WHERE its <> 0
  UNION ALL SELECT 27, 'an index of it has a comment' FROM ix
    WHERE obj_description(indexrelid, 'pg_class') IS NOT NULL
  UNION ALL SELECT 28, format('index %s is not named as its constraint %s',
                              quote_ident(iname), quote_ident(conname)) FROM ix
    WHERE conname IS NOT NULL AND conname <> iname
  UNION ALL SELECT 29, format('index %s cannot be built again from its definition',
                              quote_ident(iname)) FROM ix
    WHERE conname IS NULL AND NOT starts_with(def, prefix)
  UNION ALL SELECT 30, 'an index column has a statistics target of its own' FROM ix
    WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = ix.indexrelid
                  AND coalesce(attstattarget, -1) <> -1)
  UNION ALL SELECT 31, 'its identity sequence has privileges, a comment or a user of its own'
    FROM idseq s
    WHERE EXISTS (SELECT FROM pg_class WHERE oid = s.oid AND relacl IS NOT NULL)
       OR obj_description(s.oid, 'pg_class') IS NOT NULL
       OR EXISTS (SELECT FROM pg_seclabel WHERE classoid = 'pg_class'::regclass
                  AND objoid = s.oid)
       OR EXISTS (SELECT FROM pg_depend WHERE refclassid = 'pg_class'::regclass
                  AND refobjid = s.oid AND deptype = 'n')
  UNION ALL SELECT 32, format('%s depends on it', pg_describe_object(d.classid, d.objid, d.objsubid))
    FROM t JOIN pg_depend d ON d.deptype = 'n'
      AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid = t.rel)
        OR (d.refclassid = 'pg_type'::regclass AND d.refobjid = t.reltype))
    WHERE d.classid NOT IN ('pg_rewrite'::regclass, 'pg_trigger'::regclass,
                            'pg_policy'::regclass, 'pg_statistic_ext'::regclass)
      AND NOT (d.classid = 'pg_constraint'::regclass AND d.objid IN
               (SELECT oid FROM pg_constraint WHERE conrelid = t.rel OR confrelid = t.rel))
      AND NOT (d.classid = 'pg_attrdef'::regclass AND d.objid IN
               (SELECT oid FROM pg_attrdef WHERE adrelid = t.rel))
      AND NOT (d.classid = 'pg_class'::regclass AND d.objid IN
               (SELECT indexrelid FROM pg_index WHERE indrelid = t.rel))
  UNION ALL SELECT 33, format('the importing role is not a member of its owner %s',
                              relowner::regrole) FROM t
    WHERE NOT pg_has_role(relowner, 'MEMBER')
  UNION ALL SELECT 34, 'a privilege on it was granted by a role other than its owner' FROM t
    WHERE EXISTS (SELECT FROM aclexplode(relacl) a WHERE a.grantor <> relowner)
  UNION ALL SELECT 35, format('the importing role may not create tables in schema %s',
                              quote_ident(nspname)) FROM t
    WHERE NOT has_schema_privilege(nsp, 'CREATE')
  UNION ALL SELECT 36, format('its owner %s may not create tables in schema %s',
                              relowner::regrole, quote_ident(nspname)) FROM t
    WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
      AND NOT has_schema_privilege(relowner, nsp, 'CREATE')
  UNION ALL SELECT 37, 'the importing role may not create a schema in this database' FROM t
    WHERE NOT has_database_privilege(current_database(), 'CREATE')
) r ORDER BY k, why";

/// A description of a table that does not depend on its name or schema: one line per
/// property of the table, each column (in order), constraint and index. Two tables with
/// equal fingerprints are interchangeable as far as the swap goes.
pub(super) fn fingerprint(client: &mut impl GenericClient, table: &str) -> Result<Vec<String>> {
    let rows = client
        .query(FINGERPRINT, &[&table])
        .ctx(|| format!("reading the definition of {table}"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The lines of `fingerprint` ($1: the table's qualified, quoted name). Columns newer
/// than PostgreSQL 13 are read through `to_jsonb`, so older servers answer too.
const FINGERPRINT: &str = "
WITH t AS (SELECT c.oid AS rel, c.* FROM pg_class c WHERE c.oid = $1::text::regclass)
SELECT line FROM (
  SELECT 1 AS part, 0::bigint AS pos, format(
    'table: kind %s, persistence %s, access method %s, tablespace %s, typed %s, replica '
    'identity %s, row-level security %s, forced %s, options %s, comment %s',
    relkind, relpersistence, (SELECT amname FROM pg_am WHERE oid = relam), reltablespace,
    reloftype <> 0, relreplident, relrowsecurity, relforcerowsecurity,
    coalesce(reloptions::text, 'none'),
    coalesce(quote_literal(obj_description(rel, 'pg_class')), 'none')) AS line FROM t
  UNION ALL
  SELECT 2, pos, format(
    'column %s %s: %s%s, default %s, identity %s, generated %s, collation %s, storage %s, '
    'compression %s, comment %s%s',
    pos, quote_ident(attname), format_type(atttypid, atttypmod),
    CASE WHEN attnotnull THEN ' not null' ELSE '' END, coalesce(def, 'none'),
    coalesce(nullif(attidentity, ''), 'none'), coalesce(nullif(attgenerated, ''), 'none'),
    coalesce(coll, 'none'),
    attstorage, coalesce(nullif(compression, ''), 'default'),
    coalesce(quote_literal(comment), 'none'), coalesce(idseq, ''))
  FROM (
    SELECT row_number() OVER (ORDER BY a.attnum) AS pos, a.attname, a.atttypid, a.atttypmod,
           a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS def, a.attidentity::text,
           a.attgenerated::text, co.collname::text AS coll, a.attstorage,
           to_jsonb(a) ->> 'attcompression' AS compression,
           col_description(a.attrelid, a.attnum) AS comment,
           (SELECT format(' (identity sequence %s as %s, start %s, increment %s, minimum %s, '
                          'maximum %s, cache %s, cycle %s)', quote_ident(sc.relname),
                          format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                          s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
            FROM pg_depend dp JOIN pg_class sc ON sc.oid = dp.objid AND sc.relkind = 'S'
            JOIN pg_sequence s ON s.seqrelid = sc.oid
            WHERE dp.classid = 'pg_class'::regclass AND dp.refclassid = 'pg_class'::regclass
              AND dp.refobjid = a.attrelid AND dp.refobjsubid = a.attnum
              AND dp.deptype = 'i') AS idseq
    FROM t JOIN pg_attribute a ON a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
  ) cols
  UNION ALL
  SELECT 3, 0, format('constraint %s: %s %s, comment %s', quote_ident(co.conname), co.contype,
                      pg_get_constraintdef(co.oid),
                      coalesce(quote_literal(obj_description(co.oid, 'pg_constraint')), 'none'))
  FROM t JOIN pg_constraint co ON co.conrelid = t.rel
  UNION ALL
  SELECT 4, 0, format(
    'index %s: unique %s, primary %s, exclusion %s, immediate %s, nulls not distinct %s, '
    '%s key column(s) of %s, operator classes %s, options %s, collations %s, expressions %s, '
    'predicate %s, method %s, storage options %s, tablespace %s, valid %s, clustered %s, '
    'replica identity %s, comment %s',
    quote_ident(ic.relname), i.indisunique, i.indisprimary, i.indisexclusion, i.indimmediate,
    coalesce(to_jsonb(i) ->> 'indnullsnotdistinct', 'false'), i.indnkeyatts,
    (SELECT string_agg(CASE WHEN k.n = 0 THEN '(expression)' ELSE
              (SELECT quote_ident(attname) FROM pg_attribute
               WHERE attrelid = i.indrelid AND attnum = k.n) END, ', ' ORDER BY k.o)
     FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)),
    (SELECT string_agg(oc.opcnamespace::regnamespace::text || '.' || quote_ident(oc.opcname),
                       ', ' ORDER BY k.o)
     FROM unnest(i.indclass::oid[]) WITH ORDINALITY k(c, o) JOIN pg_opclass oc ON oc.oid = k.c),
    i.indoption::text,
    (SELECT string_agg(coalesce(cl.collname::text, 'none'), ', ' ORDER BY k.o)
     FROM unnest(i.indcollation::oid[]) WITH ORDINALITY k(c, o)
     LEFT JOIN pg_collation cl ON cl.oid = k.c),
    coalesce(pg_get_expr(i.indexprs, i.indrelid), 'none'),
    coalesce(pg_get_expr(i.indpred, i.indrelid), 'none'), am.amname,
    coalesce(ic.reloptions::text, 'none'), ic.reltablespace, i.indisvalid, i.indisclustered,
    i.indisreplident, coalesce(quote_literal(obj_description(ic.oid, 'pg_class')), 'none'))
  FROM t JOIN pg_index i ON i.indrelid = t.rel
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
) f ORDER BY part, pos, line";

/// The owner, the privileges (sorted, the owner's default ones spelled out) and the
/// sequences owned by a column (`name.column`) of a table: compared before and after
/// the swap.
fn ownership(client: &mut impl GenericClient, table: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT 'owner ' || c.relowner::regrole::text FROM pg_class c
             WHERE c.oid = $1::text::regclass
             UNION ALL
             SELECT 'privileges ' || coalesce(string_agg(x::text, ', ' ORDER BY x::text), '')
             FROM pg_class c, unnest(coalesce(c.relacl, acldefault('r', c.relowner))) x
             WHERE c.oid = $1::text::regclass
             UNION ALL
             (SELECT 'sequence ' || quote_ident(s.relname) || ' of column '
                     || quote_ident(a.attname) || ' (' || d.deptype::text || ')'
              FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
              JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.refobjid = $1::text::regclass AND d.deptype IN ('a', 'i')
              ORDER BY 1)",
            &[&table],
        )
        .ctx(|| format!("reading the owner and privileges of {table}"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A table's privileges, sorted, the owner's default ones spelled out.
fn privileges(client: &mut impl GenericClient, table: &str) -> Result<String> {
    ownership(client, table)?
        .into_iter()
        .find(|l| l.starts_with("privileges "))
        .ok_or_else(|| Error::Load(format!("{table} is not in the catalog")))
}

/// What differs between two fingerprints, for a message.
fn differences(old: &[String], new: &[String]) -> String {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|l| !b.contains(l)).cloned().collect()
    };
    let mut parts = Vec::new();
    let gone = only(old, new);
    let added = only(new, old);
    if !gone.is_empty() {
        parts.push(format!("the table now has:\n    {}", gone.join("\n    ")));
    }
    if !added.is_empty() {
        parts.push(format!(
            "the shadow table has instead:\n    {}",
            added.join("\n    ")
        ));
    }
    if parts.is_empty() {
        // The same lines, in another order or number.
        parts.push(format!(
            "the table now has:\n    {}\nthe shadow table has instead:\n    {}",
            old.join("\n    "),
            new.join("\n    ")
        ));
    }
    parts.join("\n  ")
}

/// One load's shadow tables: the staging schema and the connection that made it.
pub(super) struct Shadows<'a> {
    loads: Vec<&'a TableLoad<'a>>,
    /// `waybill_stage_<anchor txid>`.
    pub(super) stage: String,
    setup: Option<Client>,
    /// Whether the staging schema may exist (so a failure drops it).
    created: bool,
}

impl<'a> Shadows<'a> {
    pub(super) fn new(cx: &Ctx<'a>, chosen: &[usize], xid: i64) -> Self {
        Shadows {
            loads: chosen.iter().map(|&i| &cx.lp.loads[i]).collect(),
            stage: format!("{PREFIX}{xid}"),
            setup: None,
            created: false,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }

    /// The tables, for the log.
    pub(super) fn names(&self, cx: &Ctx) -> String {
        self.loads
            .iter()
            .map(|l| qualified(&cx.plan.schema, &l.target))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The files of the shadow tables, the pieces of work that load at once.
    pub(super) fn files(&self) -> usize {
        self.loads.iter().map(|l| l.entry.files.len()).sum()
    }

    /// The tables locked by the anchor, for a lock-wait message.
    pub(super) fn locks(&self, cx: &Ctx) -> Vec<(String, String)> {
        self.loads
            .iter()
            .map(|l| (cx.plan.schema.clone(), l.target.clone()))
            .collect()
    }

    /// Steps 1 and 2: the staging schema and its tables (committed), the anchor's lock
    /// on the old tables, the files on `--jobs` connections, the keys and indexes, and
    /// `--verify`. Returns the tables' reports.
    pub(super) fn load(
        &mut self,
        anchor: &mut postgres::Transaction,
        cx: &Ctx,
    ) -> Result<Vec<TableReport>> {
        if self.loads.is_empty() {
            return Ok(Vec::new());
        }
        let (plan, log) = (cx.plan, cx.log);
        let setup = self
            .setup
            .insert(target::connect(&plan.target, plan.lock_timeout)?);
        let stage = quote_ident(&self.stage);
        let mut tx = setup
            .transaction()
            .ctx(|| "starting a transaction".into())?;
        self.created = true;
        let create = format!(
            "CREATE SCHEMA {stage}; COMMENT ON SCHEMA {stage} IS {}",
            quote_literal(&format!(
                "shadow tables of waybill-import into schema {}",
                plan.schema
            ))
        );
        tx.batch_execute(&create).ctx(|| create.clone())?;
        log.line(&create);
        for l in &self.loads {
            let old = qualified(&plan.schema, &l.target);
            let new = qualified(&self.stage, &l.target);
            let like = format!(
                "CREATE TABLE {new} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
                 INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE INCLUDING \
                 COMPRESSION INCLUDING COMMENTS)"
            );
            match tx.batch_execute(&like) {
                Ok(()) => log.line(&like),
                Err(e) if is_lock_timeout(&e) => return Err(Error::LockTimeout(like)),
                Err(e) => return Err(e).ctx(|| like.clone()),
            }
            // LIKE makes a new identity sequence with the options but not the type
            // (bigint) nor the name of the old one: both are set as they were; nor
            // does it copy the table's comment.
            for stmt in identity_fixes(&mut tx, &old, &new)? {
                tx.batch_execute(&stmt).ctx(|| stmt.clone())?;
                log.line(&stmt);
            }
        }
        tx.commit().ctx(|| "committing the staging schema".into())?;
        // Under the anchor's lock from here on: nobody writes to the old tables.
        if let Some(stmt) = lock_sql(&self.locks(cx)) {
            lock(anchor, &stmt, log)?;
        }
        // The keys and indexes, from the old tables' own definitions.
        let mut after = Vec::new();
        for l in &self.loads {
            after.extend(index_statements(
                anchor,
                &plan.schema,
                &self.stage,
                &l.target,
            )?);
        }
        let staged_plan = ImportPlan {
            schema: self.stage.clone(),
            ..plan.clone()
        };
        let lp = LoadPlan {
            loads: self.loads.iter().map(|l| stage_load(l)).collect(),
            skipped: Vec::new(),
            cascaded: Vec::new(),
            locks: Vec::new(),
            replica_role: cx.lp.replica_role,
            fk_order: false,
            truncate: false,
            before: Vec::new(),
            after_split: (0, after.len(), after.len()),
            after,
            checks: Vec::new(),
            comments: Vec::new(),
            rules: None,
            warnings: Vec::new(),
            mapping: Vec::new(),
        };
        let scx = Ctx {
            plan: &staged_plan,
            dump: cx.dump,
            lp: &lp,
            obs: cx.obs,
            log,
            references: &[],
            prior: None,
        };
        let setup = self
            .setup
            .as_mut()
            .ok_or_else(|| Error::config("the staging connection is gone"))?;
        let mut reports = staging::load_pieces(setup, &scx)?;
        staging::finish(setup, &scx, &mut reports)?;
        Ok(reports)
    }

    /// Step 4, in the anchor, before `waybill.applied` and the PREPAREs: each old table
    /// checked again and compared with its shadow table, then swapped for it.
    pub(super) fn swap(&self, anchor: &mut postgres::Transaction, cx: &Ctx) -> Result<()> {
        if self.loads.is_empty() {
            return Ok(());
        }
        let (plan, log) = (cx.plan, cx.log);
        let run = |tx: &mut postgres::Transaction, stmt: &str| -> Result<()> {
            tx.batch_execute(stmt).ctx(|| stmt.to_string())?;
            log.line(stmt);
            Ok(())
        };
        for l in &self.loads {
            let old = qualified(&plan.schema, &l.target);
            let new = qualified(&self.stage, &l.target);
            let changed = |what: String| {
                Error::Load(format!(
                    "{old} changed while its shadow table loaded (by another session, e.g. a \
                     migration), so it cannot be swapped for it; nothing was committed: \
                     {what}"
                ))
            };
            let why = refusals(anchor, &plan.schema, &l.target)?;
            if !why.is_empty() {
                return Err(changed(why.join("; ")));
            }
            let (before, shadow) = (fingerprint(anchor, &old)?, fingerprint(anchor, &new)?);
            if before != shadow {
                return Err(changed(differences(&before, &shadow)));
            }
            let owned = ownership(anchor, &old)?;
            let privileges_before = privileges(anchor, &old)?;
            let row = anchor
                .query_one(
                    "SELECT c.relowner::regrole::text,
                            c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                     FROM pg_class c WHERE c.oid = $1::text::regclass",
                    &[&old],
                )
                .ctx(|| format!("reading the owner of {old}"))?;
            let (owner, mine): (String, bool) = (row.get(0), row.get(1));
            let grants: Vec<String> = anchor
                .query(
                    "SELECT format('GRANT %s ON TABLE %s TO %s%s',
                                   string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type),
                                   $2::text,
                                   CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                        ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                                   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION'
                                        ELSE '' END)
                     FROM pg_class c,
                          aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                     WHERE c.oid = $1::text::regclass
                     GROUP BY a.grantee, a.is_grantable ORDER BY 1",
                    &[&old, &old],
                )
                .ctx(|| format!("reading the privileges of {old}"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let serials: Vec<(String, String)> = anchor
                .query(
                    "SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname), a.attname
                     FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                     JOIN pg_namespace n ON n.oid = s.relnamespace
                     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                     WHERE d.classid = 'pg_class'::regclass
                       AND d.refclassid = 'pg_class'::regclass
                       AND d.refobjid = $1::text::regclass AND d.deptype = 'a'
                     ORDER BY 1",
                    &[&old],
                )
                .ctx(|| format!("reading the sequences of {old}"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            // A sequence OWNED BY a column would go with the old table.
            for (seq, _) in &serials {
                run(anchor, &format!("ALTER SEQUENCE {seq} OWNED BY NONE"))?;
            }
            let drop = format!("DROP TABLE {old} RESTRICT");
            anchor.batch_execute(&drop).map_err(|e| {
                Error::Load(format!(
                    "{old} cannot be swapped for its shadow table: {drop} was refused: {}; \
                     nothing was committed",
                    target::describe(&e)
                ))
            })?;
            log.line(&drop);
            run(
                anchor,
                &format!("ALTER TABLE {new} SET SCHEMA {}", quote_ident(&plan.schema)),
            )?;
            if !mine {
                run(
                    anchor,
                    &format!("ALTER TABLE {old} OWNER TO {}", quote_ident(&owner)),
                )?;
            }
            // The privileges exactly as they were: every grantee's revoked, then the
            // old ones granted (as the owner, whom they were all granted by).
            if privileges(anchor, &old)? != privileges_before {
                let grantees: Vec<String> = anchor
                    .query(
                        "SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                ELSE quote_ident(pg_get_userbyid(a.grantee)) END
                         FROM pg_class c,
                              aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                         WHERE c.oid = $1::text::regclass ORDER BY 1",
                        &[&old],
                    )
                    .ctx(|| format!("reading the privileges of {old}"))?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                if !grantees.is_empty() {
                    run(
                        anchor,
                        &format!("REVOKE ALL ON TABLE {old} FROM {}", grantees.join(", ")),
                    )?;
                }
                for g in &grants {
                    run(anchor, g)?;
                }
            }
            for (seq, column) in &serials {
                run(
                    anchor,
                    &format!(
                        "ALTER SEQUENCE {seq} OWNED BY {old}.{}",
                        quote_ident(column)
                    ),
                )?;
            }
            for step in table_steps(plan, l) {
                if let Step::Sequence(sql, seq) = step {
                    set_sequence(anchor, cx, l, &sql, seq)?;
                }
            }
            let now = ownership(anchor, &old)?;
            if now != owned {
                return Err(Error::Load(format!(
                    "{old}: its shadow table did not get the old table's owner, privileges and \
                     sequences (they were: {}; they would be: {}); nothing was committed",
                    owned.join("; "),
                    now.join("; ")
                )));
            }
            log.line(&format!(
                "swapped {old} for its shadow table: its definition, owner, privileges and \
                 sequences as before"
            ));
        }
        run(
            anchor,
            &format!("DROP SCHEMA {} RESTRICT", quote_ident(&self.stage)),
        )
    }

    /// After a failure: drops the staging schema (if it may exist).
    pub(super) fn discard(&mut self, cx: &Ctx) {
        if !self.created {
            return;
        }
        match self.setup.as_mut() {
            Some(c) => staging::drop_stage(c, cx, &self.stage),
            None => {
                if let Ok(mut c) = target::connect(&cx.plan.target, cx.plan.lock_timeout) {
                    staging::drop_stage(&mut c, cx, &self.stage);
                }
            }
        }
        self.created = false;
    }
}

/// The statements that give the shadow table what `LIKE` does not copy: the table's
/// comment, and its identity sequences' type, options and names.
fn identity_fixes(client: &mut impl GenericClient, old: &str, new: &str) -> Result<Vec<String>> {
    let mut v = Vec::new();
    let comment: Option<String> = client
        .query_one(
            "SELECT obj_description($1::text::regclass, 'pg_class')",
            &[&old],
        )
        .ctx(|| format!("reading the comment of {old}"))?
        .get(0);
    if let Some(c) = comment {
        v.push(format!("COMMENT ON TABLE {new} IS {}", quote_literal(&c)));
    }
    let rows = client
        .query(
            "SELECT format('ALTER SEQUENCE %s AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s \
                            START WITH %s CACHE %s %s', ns, format_type(q.seqtypid, NULL),
                           q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache,
                           CASE WHEN q.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END),
                    CASE WHEN os.relname <> nsq.relname
                         THEN format('ALTER SEQUENCE %s RENAME TO %I', ns, os.relname) END
             FROM pg_attribute a
             CROSS JOIN LATERAL (SELECT pg_get_serial_sequence($1, a.attname)::regclass AS o,
                                        pg_get_serial_sequence($2, a.attname) AS ns) s
             JOIN pg_class os ON os.oid = s.o
             JOIN pg_sequence q ON q.seqrelid = s.o
             JOIN pg_class nsq ON nsq.oid = s.ns::regclass
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attidentity <> ''
             ORDER BY a.attnum",
            &[&old, &new],
        )
        .ctx(|| format!("reading the identity sequences of {old}"))?;
    for r in rows {
        v.push(r.get(0));
        if let Some(rename) = r.get::<_, Option<String>>(1) {
            v.push(rename);
        }
    }
    Ok(v)
}

/// The keys and indexes of `schema.table`, as statements on the shadow table: a PRIMARY
/// KEY, UNIQUE or EXCLUDE constraint added under its own name from its definition (and
/// its comment), a plain index from its definition with the shadow table's name in it.
fn index_statements(
    client: &mut impl GenericClient,
    schema: &str,
    stage: &str,
    table: &str,
) -> Result<Vec<String>> {
    let new = qualified(stage, table);
    let rows = client
        .query(
            "SELECT ic.relname, con.conname, pg_get_constraintdef(con.oid),
                    obj_description(con.oid, 'pg_constraint'), pg_get_indexdef(i.indexrelid),
                    'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX '
                      || quote_ident(ic.relname) || ' ON ' || quote_ident(n.nspname) || '.'
                      || quote_ident(t.relname) || ' USING ',
                    'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX '
                      || quote_ident(ic.relname) || ' ON ' || quote_ident($3) || '.'
                      || quote_ident(t.relname) || ' USING '
             FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
             JOIN pg_index i ON i.indrelid = t.oid
             JOIN pg_class ic ON ic.oid = i.indexrelid
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid
                                         AND con.contype IN ('p', 'u', 'x')
             WHERE n.nspname = $1 AND t.relname = $2
             ORDER BY con.contype NULLS LAST, ic.relname",
            &[&schema, &table, &stage],
        )
        .ctx(|| format!("reading the indexes of {}", qualified(schema, table)))?;
    let mut v = Vec::new();
    for r in rows {
        let index: String = r.get(0);
        let (constraint, def, comment): (Option<String>, Option<String>, Option<String>) =
            (r.get(1), r.get(2), r.get(3));
        let (indexdef, prefix, shadow_prefix): (String, String, String) =
            (r.get(4), r.get(5), r.get(6));
        match (constraint, def) {
            (Some(c), Some(def)) => {
                v.push(format!(
                    "ALTER TABLE {new} ADD CONSTRAINT {} {def}",
                    quote_ident(&c)
                ));
                if let Some(cm) = comment {
                    v.push(format!(
                        "COMMENT ON CONSTRAINT {} ON {new} IS {}",
                        quote_ident(&c),
                        quote_literal(&cm)
                    ));
                }
            }
            _ => match indexdef.strip_prefix(&prefix) {
                Some(rest) => v.push(format!("{shadow_prefix}{rest}")),
                None => {
                    return Err(Error::Load(format!(
                        "index {} of {} cannot be built again on its shadow table from its \
                         definition ({indexdef})",
                        quote_ident(&index),
                        qualified(schema, table)
                    )));
                }
            },
        }
    }
    Ok(v)
}

/// A shadow table's load: the same table, into the staging schema, without FREEZE (the
/// table was created by another transaction), indexes (built after the data) or
/// sequences (set at the swap).
fn stage_load<'m>(l: &TableLoad<'m>) -> TableLoad<'m> {
    TableLoad {
        entry: l.entry,
        target: l.target.clone(),
        columns: l.columns.clone(),
        types: l.types.clone(),
        freeze: false,
        sequences: Vec::new(),
        deferred: Vec::new(),
        set_arrays: Vec::new(),
        generated: Vec::new(),
        key_columns: l.key_columns.clone(),
        unfilled: l.unfilled.clone(),
    }
}
