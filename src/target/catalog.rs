//! What the PostgreSQL target looks like, read from its catalog before any write: which
//! tables and columns exist, which sequences belong to which columns, which foreign keys
//! tie tables together, which tables a `TRUNCATE ... CASCADE` would reach, and which
//! other sessions hold the locks or the import lock an import needs. The import's
//! pre-flight is built on these answers.

use std::collections::{BTreeSet, HashMap};

use postgres::{Client, GenericClient};
use sha2::{Digest, Sha256};

use super::sql::{qualified, quote_ident, quote_literal};
use crate::error::{Result, ResultExt};
use crate::printable::escaped;

#[derive(Clone, Debug)]
pub(crate) struct TargetColumn {
    pub name: String,
    pub not_null: bool,
    pub has_default: bool,
    /// Generated columns cannot be loaded by COPY.
    pub generated: bool,
    /// The type as `format_type()` spells it (`character varying(36)`).
    pub type_name: String,
    /// The column's type when it is an array (`text[]`), as `format_type` spells it.
    pub array_type: Option<String>,
    /// What COPY will parse the column's text as (beyond `type_name`).
    pub ty: TargetType,
}

/// A column's type as far as COPY's input parsing goes (a domain is its base type).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TargetType {
    /// The base type's `typname`: `varchar`, `bool`, `int4`, `jsonb`, `mood`, `_text`.
    pub base: String,
    /// The base type's `typcategory`: `S` string, `N` numeric, `B` boolean, `D`
    /// date/time, `T` interval, `U` user-defined (uuid, json), `E` enum, `A` array, ...
    pub category: char,
    /// An enum's labels, in order.
    pub labels: Vec<String>,
    /// An array's element: its category and, for an enum, its labels.
    pub element: Option<(char, Vec<String>)>,
}

#[derive(Clone, Debug)]
pub(crate) struct TargetTable {
    pub name: String,
    /// `r` plain, `p` partitioned.
    pub kind: char,
    pub columns: Vec<TargetColumn>,
}

pub(crate) fn schema_exists(client: &mut impl GenericClient, schema: &str) -> Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .ctx(|| format!("looking up schema {schema}"))?
        .is_some())
}

pub(crate) fn tables(client: &mut impl GenericClient, schema: &str) -> Result<Vec<TargetTable>> {
    let rows = client
        .query(
            "SELECT c.relname, c.relkind::text, a.attname,
                    a.attnotnull, a.atthasdef, a.attgenerated <> '',
                    CASE WHEN ty.typcategory = 'A' THEN format_type(a.atttypid, a.atttypmod) END,
                    format_type(a.atttypid, a.atttypmod), bt.typname::text, bt.typcategory::text,
                    (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                     FROM pg_enum e WHERE e.enumtypid = bt.oid),
                    et.typcategory::text,
                    (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                     FROM pg_enum e WHERE e.enumtypid = et.oid)
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             JOIN pg_type ty ON ty.oid = a.atttypid
             JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
             LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .ctx(|| format!("reading the tables of schema {schema}"))?;
    let mut out: Vec<TargetTable> = Vec::new();
    for r in rows {
        let name: String = r.get(0);
        if out.last().map(|t| t.name != name).unwrap_or(true) {
            let kind: String = r.get(1);
            out.push(TargetTable {
                name: name.clone(),
                kind: kind.chars().next().unwrap_or('r'),
                columns: Vec::new(),
            });
        }
        let t = out.last_mut().expect("pushed above");
        t.columns.push(TargetColumn {
            name: r.get(2),
            not_null: r.get(3),
            has_default: r.get(4),
            generated: r.get(5),
            array_type: r.get(6),
            type_name: r.get(7),
            ty: {
                let category =
                    |i: usize| r.get::<_, Option<String>>(i).and_then(|c| c.chars().next());
                TargetType {
                    base: r.get(8),
                    category: category(9).unwrap_or('X'),
                    labels: r.get::<_, Option<Vec<String>>>(10).unwrap_or_default(),
                    element: category(11)
                        .map(|c| (c, r.get::<_, Option<Vec<String>>>(12).unwrap_or_default())),
                }
            },
        });
    }
    Ok(out)
}

/// A sequence that feeds a column (serial or identity).
#[derive(Clone, Debug)]
pub(crate) struct OwnedSequence {
    pub column: String,
    /// Schema-qualified, quoted, ready for `setval`.
    pub sequence: String,
    pub start: i64,
    pub increment: i64,
}

pub(crate) fn owned_sequences(
    client: &mut Client,
    schema: &str,
    table: &str,
) -> Result<Vec<OwnedSequence>> {
    let rows = client
        .query(
            "SELECT a.attname, quote_ident(sn.nspname) || '.' || quote_ident(sc.relname),
                    s.seqstart, s.seqincrement
             FROM pg_class t
             JOIN pg_namespace tn ON tn.oid = t.relnamespace
             JOIN pg_depend d ON d.refobjid = t.oid AND d.refclassid = 'pg_class'::regclass
                             AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
             JOIN pg_namespace sn ON sn.oid = sc.relnamespace
             JOIN pg_sequence s ON s.seqrelid = sc.oid
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
             WHERE tn.nspname = $1 AND t.relname = $2
             ORDER BY a.attnum",
            &[&schema, &table],
        )
        .ctx(|| format!("reading the sequences of {}", qualified(schema, table)))?;
    Ok(rows
        .into_iter()
        .map(|r| OwnedSequence {
            column: r.get(0),
            sequence: r.get(1),
            start: r.get(2),
            increment: r.get(3),
        })
        .collect())
}

/// An index the import can drop before loading and build again after it, from its own
/// definition, in the same transaction (what pg_restore does: one sort instead of a
/// btree insert per row).
#[derive(Clone, Debug)]
pub(crate) struct DeferredIndex {
    pub drop: String,
    /// The CREATE INDEX / ADD CONSTRAINT statement, then any COMMENT statements.
    pub create: Vec<String>,
}

/// Indexes of a table that can be rebuilt exactly: plain indexes and PRIMARY KEY /
/// UNIQUE constraints, valid, in the default tablespace, not used by a foreign key,
/// not the replica identity or the CLUSTER index, on a plain (not partitioned) table
/// that the importing role owns (only the owner may drop an index; a role that may only
/// TRUNCATE and INSERT loads with the indexes in place).
pub(crate) fn deferrable_indexes(
    client: &mut Client,
    schema: &str,
    table: &str,
) -> Result<Vec<DeferredIndex>> {
    let rows = client
        .query(
            "SELECT ic.relname, pg_get_indexdef(i.indexrelid), con.conname,
                    pg_get_constraintdef(con.oid), obj_description(i.indexrelid, 'pg_class'),
                    obj_description(con.oid, 'pg_constraint')
             FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid
                                         AND con.contype IN ('p', 'u')
             WHERE n.nspname = $1 AND t.relname = $2 AND t.relkind = 'r'
               AND i.indisvalid AND NOT i.indisreplident AND NOT i.indisclustered
               AND ic.reltablespace = 0 AND pg_has_role(t.relowner, 'USAGE')
               AND NOT EXISTS (SELECT 1 FROM pg_constraint x
                               WHERE x.conindid = i.indexrelid AND x.contype NOT IN ('p', 'u'))
             ORDER BY con.contype NULLS LAST, ic.relname",
            &[&schema, &table],
        )
        .ctx(|| format!("reading the indexes of {}", qualified(schema, table)))?;
    let qt = qualified(schema, table);
    Ok(rows
        .into_iter()
        .map(|r| {
            let index: String = r.get(0);
            let index_def: String = r.get(1);
            let constraint: Option<String> = r.get(2);
            let constraint_def: Option<String> = r.get(3);
            let index_comment: Option<String> = r.get(4);
            let constraint_comment: Option<String> = r.get(5);
            let (drop, mut create) = match (constraint, constraint_def) {
                (Some(c), Some(def)) => (
                    format!("ALTER TABLE {qt} DROP CONSTRAINT {}", quote_ident(&c)),
                    {
                        let mut v = vec![format!(
                            "ALTER TABLE {qt} ADD CONSTRAINT {} {def}",
                            quote_ident(&c)
                        )];
                        if let Some(cm) = constraint_comment {
                            v.push(format!(
                                "COMMENT ON CONSTRAINT {} ON {qt} IS {}",
                                quote_ident(&c),
                                quote_literal(&cm)
                            ));
                        }
                        v
                    },
                ),
                _ => (
                    format!("DROP INDEX {}", qualified(schema, &index)),
                    vec![index_def],
                ),
            };
            if let Some(cm) = index_comment {
                create.push(format!(
                    "COMMENT ON INDEX {} IS {}",
                    qualified(schema, &index),
                    quote_literal(&cm)
                ));
            }
            DeferredIndex { drop, create }
        })
        .collect())
}

/// A foreign key between two tables of the schema: (child, parent, deferrable).
#[derive(Clone, Debug)]
pub(crate) struct FkEdge {
    pub child: String,
    pub parent: String,
    pub deferrable: bool,
}

pub(crate) fn foreign_keys(client: &mut Client, schema: &str) -> Result<Vec<FkEdge>> {
    let rows = client
        .query(
            "SELECT ch.relname, pa.relname, con.condeferrable
             FROM pg_constraint con
             JOIN pg_class ch ON ch.oid = con.conrelid
             JOIN pg_namespace chn ON chn.oid = ch.relnamespace
             JOIN pg_class pa ON pa.oid = con.confrelid
             JOIN pg_namespace pan ON pan.oid = pa.relnamespace
             WHERE con.contype = 'f' AND chn.nspname = $1 AND pan.nspname = $1",
            &[&schema],
        )
        .ctx(|| format!("reading the foreign keys of schema {schema}"))?;
    Ok(rows
        .into_iter()
        .map(|r| FkEdge {
            child: r.get(0),
            parent: r.get(1),
            deferrable: r.get(2),
        })
        .collect())
}

/// Tables outside `loading` (tables of `schema`) that `TRUNCATE ... CASCADE` of
/// `loading` would also empty: every table whose foreign keys lead to a loaded table,
/// in any schema, as (schema, table). Partitions are covered by their parent.
pub(crate) fn cascade_reach(
    client: &mut impl GenericClient,
    schema: &str,
    loading: &[String],
) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "WITH RECURSIVE reach(oid) AS (
                 SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = ANY($2)
                 UNION
                 SELECT con.conrelid FROM pg_constraint con JOIN reach r ON con.confrelid = r.oid
                 WHERE con.contype = 'f'
             )
             SELECT n.nspname, c.relname
             FROM reach r JOIN pg_class c ON c.oid = r.oid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE NOT c.relispartition AND NOT (n.nspname = $1 AND c.relname = ANY($2))
             ORDER BY 1, 2",
            &[&schema, &loading],
        )
        .ctx(|| "reading which tables TRUNCATE ... CASCADE would reach".into())?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The exact number of rows in a table.
pub(crate) fn row_count(client: &mut impl GenericClient, schema: &str, table: &str) -> Result<i64> {
    let qt = qualified(schema, table);
    Ok(client
        .query_one(&format!("SELECT count(*) FROM {qt}"), &[])
        .ctx(|| format!("counting the rows of {qt}"))?
        .get(0))
}

/// Another session, as a message shows it.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub pid: i32,
    pub user: String,
    pub application: String,
    /// When the session connected and when its current or last query started (UTC).
    pub backend_start: String,
    pub query_start: String,
    pub state: String,
    /// The start of its current or last query, on one line.
    pub query: String,
    /// What it holds, e.g. `AccessShareLock on "public"."parent"`.
    pub holds: String,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session pid {} (user {}, application \"{}\", connected {}, query started {}, \
             state {}{}, query \"{}\")",
            self.pid,
            escaped(&self.user),
            escaped(&self.application),
            self.backend_start,
            self.query_start,
            escaped(&self.state),
            if self.holds.is_empty() {
                String::new()
            } else {
                format!(", holds {}", self.holds)
            },
            escaped(&self.query)
        )
    }
}

const SESSION_COLUMNS: &str = "a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''),
     coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', '-'),
     coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', '-'),
     coalesce(a.state, 'unknown'),
     left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80)";

fn session(r: &postgres::Row, holds: String) -> Session {
    Session {
        pid: r.get(0),
        user: r.get(1),
        application: r.get(2),
        backend_start: r.get(3),
        query_start: r.get(4),
        state: r.get(5),
        query: r.get(6),
        holds,
    }
}

/// Sessions other than this one holding a lock on any of `tables` (schema, table).
pub(crate) fn lock_holders(
    client: &mut Client,
    tables: &[(String, String)],
) -> Result<Vec<Session>> {
    let (schemas, names): (Vec<&str>, Vec<&str>) =
        tables.iter().map(|(s, t)| (s.as_str(), t.as_str())).unzip();
    let rows = client
        .query(
            &format!(
                "SELECT {SESSION_COLUMNS}, string_agg(DISTINCT l.mode || ' on ' ||
                        quote_ident(n.nspname) || '.' || quote_ident(c.relname), ', ')
                 FROM pg_locks l
                 JOIN pg_stat_activity a ON a.pid = l.pid
                 JOIN pg_class c ON c.oid = l.relation
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
                   AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
                 GROUP BY 1, 2, 3, 4, 5, 6, 7
                 ORDER BY 1"
            ),
            &[&schemas, &names],
        )
        .ctx(|| "looking up the sessions that hold the locks".into())?;
    Ok(rows
        .iter()
        .map(|r| session(r, r.get::<_, Option<String>>(7).unwrap_or_default()))
        .collect())
}

/// The advisory lock key that serialises imports into one schema (advisory locks
/// belong to one database, so the database is part of the key already).
fn import_lock_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("waybill-import\0{schema}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(b)
}

/// Takes the import lock of `schema` for this session, or names who holds it.
/// `Ok(None)`: taken (held until the session ends).
pub(crate) fn take_import_lock(client: &mut Client, schema: &str) -> Result<Option<Session>> {
    let key = import_lock_key(schema);
    let got: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .ctx(|| "taking the import lock (pg_try_advisory_lock)".into())?
        .get(0);
    if got {
        return Ok(None);
    }
    let holder = client
        .query_opt(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid = (($1::bigint >> 32) & 4294967295)::oid
                   AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1
                 LIMIT 1"
            ),
            &[&key],
        )
        .ctx(|| "looking up the session that holds the import lock".into())?;
    Ok(Some(holder.map(|r| session(&r, String::new())).unwrap_or(
        Session {
            pid: 0,
            user: "?".into(),
            application: "?".into(),
            backend_start: "-".into(),
            query_start: "-".into(),
            state: "it has just ended".into(),
            query: String::new(),
            holds: String::new(),
        },
    )))
}

/// Orders `tables` so parents come before children, ignoring self-references and
/// deferrable keys. `Err` names the tables caught in a cycle.
pub(crate) fn dependency_order(
    tables: &[String],
    edges: &[FkEdge],
) -> std::result::Result<Vec<String>, Vec<String>> {
    let set: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let mut parents: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for e in edges {
        if !e.deferrable
            && e.child != e.parent
            && set.contains(e.child.as_str())
            && set.contains(e.parent.as_str())
        {
            parents
                .entry(e.child.as_str())
                .or_default()
                .insert(e.parent.as_str());
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < tables.len() {
        let ready: Vec<&String> = tables
            .iter()
            .filter(|t| !done.contains(t.as_str()))
            .filter(|t| {
                parents
                    .get(t.as_str())
                    .is_none_or(|ps| ps.iter().all(|p| done.contains(p)))
            })
            .collect();
        if ready.is_empty() {
            return Err(tables
                .iter()
                .filter(|t| !done.contains(t.as_str()))
                .cloned()
                .collect());
        }
        for t in ready {
            done.insert(t.as_str());
            order.push(t.clone());
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(c: &str, p: &str) -> FkEdge {
        FkEdge {
            child: c.into(),
            parent: p.into(),
            deferrable: false,
        }
    }

    #[test]
    fn ordering() {
        let edges = vec![
            edge("city", "country"),
            edge("address", "city"),
            edge("x", "x"),
        ];
        let t: Vec<String> = ["address", "city", "country", "x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            dependency_order(&t, &edges).unwrap(),
            ["country", "x", "city", "address"]
        );
        let cyc = vec![edge("a", "b"), edge("b", "a")];
        assert!(dependency_order(&["a".into(), "b".into()], &cyc).is_err());
    }

    #[test]
    fn a_cycle_names_only_the_tables_caught_in_it() {
        let t: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let edges = vec![edge("a", "b"), edge("b", "a"), edge("d", "c")];
        assert_eq!(dependency_order(&t, &edges).unwrap_err(), ["a", "b"]);
        // A deferrable key does not constrain the order.
        let mut deferrable = edge("b", "a");
        deferrable.deferrable = true;
        assert_eq!(
            dependency_order(&t, &[edge("a", "b"), deferrable, edge("d", "c")]).unwrap(),
            ["b", "c", "a", "d"]
        );
        // Keys to tables outside the load are ignored.
        assert_eq!(
            dependency_order(&["a".into()], &[edge("a", "zz")]).unwrap(),
            ["a"]
        );
    }
}
