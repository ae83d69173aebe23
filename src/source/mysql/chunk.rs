//! Splitting a large table into primary-key ranges that can be exported in parallel
//! inside the same snapshot. mydumper splits only integer keys; here any orderable key
//! works. A single integer key is split arithmetically between MIN and MAX (no scan). Any
//! other key (char(36) UUIDs, strings, dates, composite keys) is walked in key order with
//! `ORDER BY key LIMIT 1 OFFSET step`, which returns exact boundaries; each boundary is
//! handed over as soon as it is known, so exporting the first chunks overlaps with
//! finding the next ones. Boundary values are compared in the column's own collation (the
//! literal is a coercible utf8mb4 string, or the stored bytes with the column's charset
//! for a charset whose values may not survive the conversion to utf8mb4), the same order
//! ORDER BY used.

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::{quote_ident, types};
use crate::dump::encoding::Encoding;
use crate::dump::schema::Table;
use crate::error::{Error, Result, ResultExt};
use crate::source::{Key, KeyRange};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Literal {
    Number,
    Binary,
    Text,
    /// Text in a charset whose values may not survive the conversion to utf8mb4 (see
    /// `types::charset_may_replace`): its boundaries are read as the stored bytes and
    /// written back with the charset's introducer, since a `?` in place of an invalid
    /// byte would sort elsewhere and the walk would never end.
    Stored(String),
}

/// The primary key of a table, ready to be compared against literals.
#[derive(Clone, Debug)]
pub(super) struct KeySpec {
    columns: Vec<(String, String, Literal)>,
    integer: bool,
}

impl KeySpec {
    /// `None` when the table has no primary key (it is then exported in one file).
    pub(crate) fn for_table(t: &Table) -> Option<KeySpec> {
        if t.primary_key.is_empty() {
            return None;
        }
        let mut columns = Vec::new();
        for name in &t.primary_key {
            let c = t.column(name)?;
            let lit = match c.encoding {
                Encoding::Integer | Encoding::BooleanInt | Encoding::Decimal | Encoding::Year => {
                    Literal::Number
                }
                Encoding::Float | Encoding::Double | Encoding::BitString => return None,
                Encoding::ByteaHex => Literal::Binary,
                _ => match c.charset.as_deref() {
                    Some(cs)
                        if types::charset_may_replace(c)
                            && cs.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                    {
                        Literal::Stored(cs.to_string())
                    }
                    _ => Literal::Text,
                },
            };
            columns.push((name.clone(), quote_ident(name), lit));
        }
        let integer = columns.len() == 1
            && matches!(
                t.column(&t.primary_key[0]).map(|c| c.encoding),
                Some(Encoding::Integer)
            );
        Some(KeySpec { columns, integer })
    }

    pub(crate) fn order_by(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.1.as_str()).collect();
        format!("ORDER BY {}", cols.join(", "))
    }

    /// What the walk selects for key column `i`.
    fn select_expr(&self, i: usize) -> String {
        match &self.columns[i].2 {
            Literal::Stored(_) => format!("CAST({} AS BINARY)", self.columns[i].1),
            _ => self.columns[i].1.clone(),
        }
    }

    fn literal(&self, i: usize, raw: &[u8]) -> Result<String> {
        match &self.columns[i].2 {
            Literal::Number => {
                if raw.is_empty()
                    || !raw.iter().all(|b| {
                        b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'+' | b'e' | b'E')
                    })
                {
                    return Err(Error::config(format!(
                        "key column `{}`: unexpected value {:?}",
                        self.columns[i].0,
                        String::from_utf8_lossy(raw)
                    )));
                }
                Ok(String::from_utf8_lossy(raw).into_owned())
            }
            Literal::Binary => Ok(format!("X'{}'", hex::encode(raw))),
            Literal::Text => Ok(format!("_utf8mb4 X'{}'", hex::encode(raw))),
            Literal::Stored(charset) => Ok(format!("_{charset} X'{}'", hex::encode(raw))),
        }
    }

    /// `key >= bound` or `key < bound`, lexicographic over the key columns.
    fn compare(&self, bound: &Key, lower: bool) -> Result<String> {
        let n = self.columns.len();
        let lits: Vec<String> = (0..n)
            .map(|i| self.literal(i, &bound[i]))
            .collect::<Result<_>>()?;
        let last_op = if lower { ">=" } else { "<" };
        let strict = if lower { ">" } else { "<" };
        // Built from the last column outwards: c1 > v1 OR (c1 = v1 AND (c2 ... ))
        let mut expr = format!("{} {last_op} {}", self.columns[n - 1].1, lits[n - 1]);
        for i in (0..n - 1).rev() {
            let c = &self.columns[i].1;
            expr = format!("{c} {strict} {l} OR ({c} = {l} AND ({expr}))", l = lits[i]);
        }
        if n > 1 {
            // A plain range on the first column lets the optimizer use the index.
            let weak = if lower { ">=" } else { "<=" };
            expr = format!("{} {weak} {} AND ({expr})", self.columns[0].1, lits[0]);
        }
        Ok(format!("({expr})"))
    }

    /// The WHERE clause selecting a range (empty for the whole table).
    pub(crate) fn where_clause(&self, range: &KeyRange) -> Result<String> {
        let mut parts = Vec::new();
        if let Some(l) = &range.lower {
            parts.push(self.compare(l, true)?);
        }
        if let Some(u) = &range.upper {
            parts.push(self.compare(u, false)?);
        }
        Ok(if parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", parts.join(" AND "))
        })
    }
}

fn raw_values(row: mysql::Row) -> Option<Key> {
    row.unwrap()
        .into_iter()
        .map(|v| match v {
            Value::Bytes(b) => Some(b),
            _ => None,
        })
        .collect()
}

/// Splits a table into about `chunks` ranges, calling `emit` with each range in key order
/// as soon as it is known. `table_ref` is the quoted `db`.`table`; `rows` the estimate.
pub(super) fn plan(
    conn: &mut Conn,
    table_ref: &str,
    key: &KeySpec,
    rows: u64,
    chunks: u64,
    emit: &mut dyn FnMut(KeyRange) -> Result<()>,
) -> Result<()> {
    let ctx = || format!("planning chunks of {table_ref}");
    if key.integer {
        let (lo, hi): (Option<String>, Option<String>) = conn
            .query_first(format!(
                "SELECT MIN({c}), MAX({c}) FROM {table_ref}",
                c = key.columns[0].1
            ))
            .ctx(ctx)?
            .unwrap_or((None, None));
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return emit(KeyRange::default());
        };
        let (lo, hi): (i128, i128) = (
            lo.parse().map_err(|_| Error::config(ctx()))?,
            hi.parse().map_err(|_| Error::config(ctx()))?,
        );
        let span = hi - lo + 1;
        let n = (chunks as i128).clamp(1, span.max(1));
        let mut prev: Option<Key> = None;
        for i in 1..n {
            let b = lo + span * i / n;
            let bound = vec![b.to_string().into_bytes()];
            emit(KeyRange {
                lower: prev.take(),
                upper: Some(bound.clone()),
            })?;
            prev = Some(bound);
        }
        return emit(KeyRange {
            lower: prev,
            upper: None,
        });
    }
    let step = (rows / chunks.max(1)).max(1);
    let cols: Vec<String> = (0..key.columns.len()).map(|i| key.select_expr(i)).collect();
    let mut prev: Option<Key> = None;
    loop {
        let filter = match &prev {
            Some(p) => key.where_clause(&KeyRange {
                lower: Some(p.clone()),
                upper: None,
            })?,
            None => String::new(),
        };
        let sql = format!(
            "SELECT {} FROM {table_ref} {filter} {} LIMIT 1 OFFSET {step}",
            cols.join(", "),
            key.order_by()
        );
        let next: Option<mysql::Row> = conn.query_first(sql).ctx(ctx)?;
        match next.and_then(raw_values) {
            Some(bound) => {
                emit(KeyRange {
                    lower: prev.take(),
                    upper: Some(bound.clone()),
                })?;
                prev = Some(bound);
            }
            None => {
                return emit(KeyRange {
                    lower: prev,
                    upper: None,
                });
            }
        }
        crate::interrupt::check()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::schema::Column;

    fn col(name: &str, enc: Encoding) -> Column {
        serde_json::from_value(serde_json::json!({
            "name": name, "column_type": "x", "data_type": "x", "nullable": false,
            "encoding": enc,
        }))
        .unwrap()
    }

    #[test]
    fn composite_range_predicate() {
        let t = Table {
            name: "t".into(),
            columns: vec![col("a", Encoding::Integer), col("b", Encoding::UuidText)],
            primary_key: vec!["a".into(), "b".into()],
            ..Table::default()
        };
        let k = KeySpec::for_table(&t).unwrap();
        let w = k
            .where_clause(&KeyRange {
                lower: Some(vec![b"1".to_vec(), b"x".to_vec()]),
                upper: Some(vec![b"2".to_vec(), b"y".to_vec()]),
            })
            .unwrap();
        assert_eq!(
            w,
            "WHERE (`a` >= 1 AND (`a` > 1 OR (`a` = 1 AND (`b` >= _utf8mb4 X'78')))) \
             AND (`a` <= 2 AND (`a` < 2 OR (`a` = 2 AND (`b` < _utf8mb4 X'79'))))"
        );
        let bad = k.where_clause(&KeyRange {
            lower: Some(vec![b"1; DROP".to_vec(), b"x".to_vec()]),
            upper: None,
        });
        assert!(bad.is_err());
        assert_eq!(k.order_by(), "ORDER BY `a`, `b`");
        assert!(!k.integer, "a composite key is walked, not split");
    }

    fn keyed(cols: &[(&str, Encoding)]) -> Option<KeySpec> {
        KeySpec::for_table(&Table {
            name: "t".into(),
            columns: cols.iter().map(|(n, e)| col(n, *e)).collect(),
            primary_key: cols.iter().map(|(n, _)| n.to_string()).collect(),
            ..Table::default()
        })
    }

    #[test]
    fn single_column_ranges_and_literals() {
        let k = keyed(&[("id", Encoding::Integer)]).unwrap();
        assert!(k.integer);
        assert_eq!(k.order_by(), "ORDER BY `id`");
        assert_eq!(
            k.where_clause(&KeyRange {
                lower: Some(vec![b"10".to_vec()]),
                upper: Some(vec![b"-2e3".to_vec()]),
            })
            .unwrap(),
            "WHERE (`id` >= 10) AND (`id` < -2e3)"
        );
        assert_eq!(k.where_clause(&KeyRange::default()).unwrap(), "");
        assert!(
            k.where_clause(&KeyRange {
                lower: Some(vec![b"".to_vec()]),
                upper: None
            })
            .is_err()
        );
        let b = keyed(&[("h", Encoding::ByteaHex)]).unwrap();
        assert!(!b.integer);
        assert_eq!(
            b.where_clause(&KeyRange {
                lower: None,
                upper: Some(vec![vec![0x00, 0xab]]),
            })
            .unwrap(),
            "WHERE (`h` < X'00ab')"
        );
        assert!(!keyed(&[("u", Encoding::UuidText)]).unwrap().integer);
        assert!(!keyed(&[("y", Encoding::Decimal)]).unwrap().integer);
        for unorderable in [Encoding::Float, Encoding::Double, Encoding::BitString] {
            assert!(keyed(&[("id", Encoding::Integer), ("f", unorderable)]).is_none());
        }
        assert!(keyed(&[]).is_none(), "no primary key: one file");
    }
}
