//! What the PostgreSQL target looks like, read from its catalog before any write: which
//! tables and columns exist, which sequences belong to which columns, which foreign keys
//! tie tables together. The import's pre-flight is built on these answers.

use std::collections::{BTreeSet, HashMap};

use postgres::Client;

use super::sql::{qualified, quote_ident, quote_literal};
use crate::error::{Result, ResultExt};

#[derive(Clone, Debug)]
pub(crate) struct TargetColumn {
    pub name: String,
    pub not_null: bool,
    pub has_default: bool,
    /// Generated columns cannot be loaded by COPY.
    pub generated: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct TargetTable {
    pub name: String,
    /// `r` plain, `p` partitioned.
    pub kind: char,
    pub columns: Vec<TargetColumn>,
}

pub(crate) fn schema_exists(client: &mut Client, schema: &str) -> Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .ctx(|| format!("looking up schema {schema}"))?
        .is_some())
}

pub(crate) fn tables(client: &mut Client, schema: &str) -> Result<Vec<TargetTable>> {
    let rows = client
        .query(
            "SELECT c.relname, c.relkind::text, a.attname,
                    a.attnotnull, a.atthasdef, a.attgenerated <> ''
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
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
        });
    }
    Ok(out)
}

/// Finds `name` among `candidates`: the exact name first, then a match ignoring case
/// (MySQL `Customer` to PostgreSQL `customer`). `Err` lists several case-insensitive
/// matches.
pub(crate) fn find_name<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> std::result::Result<Option<&'a str>, Vec<&'a str>> {
    if let Some(exact) = candidates.clone().find(|c| *c == name) {
        return Ok(Some(exact));
    }
    let folded: Vec<&str> = candidates
        .filter(|c| c.to_lowercase() == name.to_lowercase())
        .collect();
    match folded.len() {
        0 => Ok(None),
        1 => Ok(Some(folded[0])),
        _ => Err(folded),
    }
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
/// not the replica identity or the CLUSTER index, on a plain (not partitioned) table.
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
               AND ic.reltablespace = 0
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

/// Tables outside `loading` that `TRUNCATE ... CASCADE` of `loading` would also empty.
pub(crate) fn cascade_reach(edges: &[FkEdge], loading: &BTreeSet<String>) -> Vec<String> {
    let mut reached: BTreeSet<String> = loading.clone();
    loop {
        let before = reached.len();
        for e in edges {
            if reached.contains(&e.parent) {
                reached.insert(e.child.clone());
            }
        }
        if reached.len() == before {
            break;
        }
    }
    reached.difference(loading).cloned().collect()
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
    fn names_match_exactly_then_ignoring_case() {
        let cands = ["createdDate", "createddate", "Other"];
        assert_eq!(
            find_name("createdDate", cands.iter().copied()),
            Ok(Some("createdDate"))
        );
        assert_eq!(find_name("other", cands.iter().copied()), Ok(Some("Other")));
        assert!(find_name("CREATEDDATE", cands.iter().copied()).is_err());
        assert_eq!(find_name("nope", cands.iter().copied()), Ok(None));
    }

    #[test]
    fn ordering_and_cascade() {
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
        let loading: BTreeSet<String> = ["country".to_string()].into();
        assert_eq!(cascade_reach(&edges, &loading), ["address", "city"]);
        // Reached over several rounds when the edges come children first.
        let reversed: Vec<FkEdge> = edges.iter().rev().cloned().collect();
        assert_eq!(cascade_reach(&reversed, &loading), ["address", "city"]);
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
