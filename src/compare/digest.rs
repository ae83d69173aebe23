//! Comparing two streams of rows with flat memory. Each row is canonicalized
//! (`canon`), hashed, and added to one of B buckets chosen by a hash of its primary key
//! (of the whole row, for a table without one): a bucket keeps a count and the wrapping
//! sum of its rows' 128-bit hashes, an order-independent digest of a multiset. Buckets
//! equal on both sides are done. For the differing ones both sides are streamed again,
//! keeping only those buckets' rows (bounded: beyond a cap only counts are given), and
//! the rows are matched by key to name the values that differ, and the rows missing or
//! extra.

use std::collections::{BTreeMap, HashMap};

use twox_hash::{XxHash3_64, XxHash3_128};

use super::canon::{Flavor, Kind, canon, show_raw};
use super::result::{Difference, LISTED, TableResult};
use crate::error::Result;
use crate::source::Row;

/// Rows (both sides together) itemized at most per table.
const ITEMIZE_CAP: u64 = 10_000;

/// One column compared: its names and how each side spells its values.
#[derive(Clone, Debug)]
pub(crate) struct ColumnRule {
    pub name: String,
    pub kind: Kind,
    pub left: Flavor,
    pub right: Flavor,
}

/// A table compared: the reference side's name and columns, and the key positions.
#[derive(Clone, Debug)]
pub(crate) struct TableRules {
    pub name: String,
    pub columns: Vec<ColumnRule>,
    /// Positions of the primary-key columns; empty: compared as a multiset of rows.
    pub key: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

/// A source of rows in the rules' column order.
pub(crate) trait RowStream: Send {
    fn stream(&mut self, on_row: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()>;
}

/// Canonicalizes rows of one side into a reused buffer.
struct Canonizer<'r> {
    rules: &'r TableRules,
    side: Side,
    buf: Vec<u8>,
    ends: Vec<usize>,
    key: Vec<u8>,
}

impl<'r> Canonizer<'r> {
    fn new(rules: &'r TableRules, side: Side) -> Self {
        Canonizer {
            rules,
            side,
            buf: Vec::with_capacity(1024),
            ends: Vec::with_capacity(rules.columns.len()),
            key: Vec::with_capacity(64),
        }
    }

    /// (bucket hash, row hash) of a row.
    fn row(&mut self, row: &dyn Row) -> (u64, u128) {
        self.buf.clear();
        self.ends.clear();
        for (i, c) in self.rules.columns.iter().enumerate() {
            let flavor = match self.side {
                Side::Left => &c.left,
                Side::Right => &c.right,
            };
            canon(c.kind, flavor, row.cell(i), &mut self.buf);
            self.ends.push(self.buf.len());
        }
        let row_hash = XxHash3_128::oneshot(&self.buf);
        if self.rules.key.is_empty() {
            return (row_hash as u64, row_hash);
        }
        self.key.clear();
        for &k in &self.rules.key {
            let (s, e) = self.span(k);
            self.key.extend_from_slice(&self.buf[s..e]);
        }
        (XxHash3_64::oneshot(&self.key), row_hash)
    }

    fn span(&self, i: usize) -> (usize, usize) {
        (if i == 0 { 0 } else { self.ends[i - 1] }, self.ends[i])
    }
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Bucket {
    count: u64,
    sum: [u64; 2],
}

/// The multiset digest of one side of a table.
#[derive(Clone, Debug)]
pub(crate) struct Digest {
    buckets: Vec<Bucket>,
    pub rows: u64,
}

impl Digest {
    pub(crate) fn new(buckets: usize) -> Self {
        Digest {
            buckets: vec![Bucket::default(); buckets.next_power_of_two()],
            rows: 0,
        }
    }

    fn bucket(&self, key_hash: u64) -> usize {
        (key_hash as usize) & (self.buckets.len() - 1)
    }

    fn add(&mut self, key_hash: u64, row_hash: u128) {
        let i = self.bucket(key_hash);
        let b = &mut self.buckets[i];
        let sum = ((u128::from(b.sum[1]) << 64) | u128::from(b.sum[0])).wrapping_add(row_hash);
        b.sum = [sum as u64, (sum >> 64) as u64];
        b.count += 1;
        self.rows += 1;
    }
}

/// How many buckets a table of about `rows` rows gets: about 8 rows a bucket, at most
/// 65,536 (1.5 MiB a side).
pub(crate) fn buckets_for(rows: u64) -> usize {
    ((rows / 8).max(1) as usize)
        .next_power_of_two()
        .min(1 << 16)
}

/// Streams one side into a digest. `progress` gets row counts now and then.
pub(crate) fn digest(
    rules: &TableRules,
    side: Side,
    buckets: usize,
    stream: &mut dyn RowStream,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Digest> {
    let mut d = Digest::new(buckets);
    let mut c = Canonizer::new(rules, side);
    let mut unreported = 0;
    stream.stream(&mut |row| {
        let (k, h) = c.row(row);
        d.add(k, h);
        unreported += 1;
        if unreported == 4096 {
            progress(unreported);
            unreported = 0;
            crate::interrupt::check()?;
        }
        Ok(())
    })?;
    progress(unreported);
    Ok(d)
}

/// A row kept for itemizing: its key, a hash per column, and each value as shown.
struct Kept {
    key: Vec<u8>,
    row: u128,
    cols: Vec<u64>,
    shown: Vec<String>,
}

fn collect(
    rules: &TableRules,
    side: Side,
    wanted: &[bool],
    stream: &mut dyn RowStream,
) -> Result<Vec<Kept>> {
    let mut c = Canonizer::new(rules, side);
    let mask = wanted.len() - 1;
    let mut kept = Vec::new();
    stream.stream(&mut |row| {
        let (k, h) = c.row(row);
        if !wanted[(k as usize) & mask] {
            return Ok(());
        }
        let cols = (0..rules.columns.len())
            .map(|i| {
                let (s, e) = c.span(i);
                XxHash3_64::oneshot(&c.buf[s..e])
            })
            .collect();
        let shown = (0..rules.columns.len())
            .map(|i| show_raw(row.cell(i)))
            .collect();
        let key = if rules.key.is_empty() {
            h.to_le_bytes().to_vec()
        } else {
            c.key.clone()
        };
        kept.push(Kept {
            key,
            row: h,
            cols,
            shown,
        });
        Ok(())
    })?;
    Ok(kept)
}

/// What the two digests leave to itemize: the differing buckets that fit under the cap,
/// and the rows in those that do not.
fn plan_itemize(left: &Digest, right: &Digest) -> (Vec<bool>, u64, bool) {
    let mut wanted = vec![false; left.buckets.len()];
    let mut taken = 0u64;
    let mut not_itemized = 0u64;
    let mut any = false;
    for (i, (l, r)) in left.buckets.iter().zip(&right.buckets).enumerate() {
        if l == r {
            continue;
        }
        any = true;
        let n = l.count + r.count;
        if taken + n <= ITEMIZE_CAP {
            wanted[i] = true;
            taken += n;
        } else {
            not_itemized += n;
        }
    }
    (wanted, not_itemized, any)
}

/// `id=5`, or `(a=1, b=x)`; for a table without a key, its first columns.
fn show_key(rules: &TableRules, shown: &[String]) -> String {
    let plain = |s: &str| -> String {
        let inner = s.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        match inner {
            Some(t)
                if !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_alphanumeric() || "_-.:+ ".contains(c)) =>
            {
                t.to_string()
            }
            _ => s.to_string(),
        }
    };
    let cols: Vec<usize> = if rules.key.is_empty() {
        (0..rules.columns.len().min(3)).collect()
    } else {
        rules.key.clone()
    };
    let parts: Vec<String> = cols
        .iter()
        .map(|&i| format!("{}={}", rules.columns[i].name, plain(&shown[i])))
        .collect();
    if rules.key.is_empty() {
        format!(
            "row ({}{})",
            parts.join(", "),
            if rules.columns.len() > 3 { ", ..." } else { "" }
        )
    } else if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Compares two sides of a table. `left_digest` is the reference side's digest when it
/// was computed earlier (while the import streamed the file); otherwise both sides are
/// read now, at the same time.
pub(crate) fn compare(
    rules: &TableRules,
    buckets: usize,
    left_digest: Option<Digest>,
    left: &mut dyn RowStream,
    right: &mut dyn RowStream,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<TableResult> {
    let clock = std::time::Instant::now();
    let (ld, rd) = match left_digest {
        Some(ld) => {
            let rd = digest(rules, Side::Right, ld.buckets.len(), right, &|_| {})?;
            (ld, rd)
        }
        None => both(
            || digest(rules, Side::Left, buckets, left, progress),
            || digest(rules, Side::Right, buckets, right, &|_| {}),
        )?,
    };
    let mut out = TableResult::new(&rules.name);
    out.rows = ld.rows;
    out.other_rows = rd.rows;
    let (wanted, not_itemized, differs) = plan_itemize(&ld, &rd);
    if differs && wanted.iter().any(|&w| w) {
        let (lk, rk) = both(
            || collect(rules, Side::Left, &wanted, left),
            || collect(rules, Side::Right, &wanted, right),
        )?;
        reconcile(rules, lk, rk, &mut out);
    }
    out.not_itemized = not_itemized;
    let left_out = out.different + out.missing;
    out.equal = ld.rows.saturating_sub(left_out + not_itemized.min(ld.rows));
    out.seconds = clock.elapsed().as_secs_f64();
    Ok(out)
}

/// Runs two closures at once, the second on its own thread.
fn both<A: Send, B: Send>(
    a: impl FnOnce() -> Result<A> + Send,
    b: impl FnOnce() -> Result<B> + Send,
) -> Result<(A, B)> {
    std::thread::scope(|s| {
        let hb = s.spawn(b);
        let ra = a();
        let rb = hb
            .join()
            .unwrap_or_else(|_| Err(crate::error::Error::config("a comparison thread panicked")));
        Ok((ra?, rb?))
    })
}

/// Matches the kept rows by key and records what differs.
fn reconcile(rules: &TableRules, left: Vec<Kept>, right: Vec<Kept>, out: &mut TableResult) {
    let mut by_key: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, k) in left.iter().enumerate() {
        by_key.entry(k.key.as_slice()).or_default().push(i);
    }
    let mut matched = vec![false; left.len()];
    let mut diffs: Vec<(Vec<u8>, usize, Difference)> = Vec::new();
    let mut per_column: BTreeMap<String, u64> = BTreeMap::new();
    let mut extra: Vec<(Vec<u8>, String)> = Vec::new();
    for r in &right {
        let candidates = by_key.get(r.key.as_slice());
        let pick = candidates.and_then(|c| {
            c.iter()
                .copied()
                .find(|&i| !matched[i] && left[i].row == r.row)
                .or_else(|| c.iter().copied().find(|&i| !matched[i]))
        });
        let Some(i) = pick else {
            extra.push((r.key.clone(), show_key(rules, &r.shown)));
            continue;
        };
        matched[i] = true;
        let l = &left[i];
        if l.row == r.row {
            continue;
        }
        let mut differed = false;
        for (c, rule) in rules.columns.iter().enumerate() {
            if l.cols[c] != r.cols[c] {
                differed = true;
                *per_column.entry(rule.name.clone()).or_default() += 1;
                diffs.push((
                    l.key.clone(),
                    c,
                    Difference {
                        key: show_key(rules, &l.shown),
                        column: rule.name.clone(),
                        expected: l.shown[c].clone(),
                        found: r.shown[c].clone(),
                    },
                ));
            }
        }
        if differed {
            out.different += 1;
        }
    }
    let mut missing: Vec<(Vec<u8>, String)> = left
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(l, _)| (l.key.clone(), show_key(rules, &l.shown)))
        .collect();
    diffs.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    missing.sort();
    extra.sort();
    out.missing = missing.len() as u64;
    out.extra = extra.len() as u64;
    out.differences = diffs.into_iter().take(LISTED).map(|d| d.2).collect();
    out.columns = per_column;
    out.missing_keys = missing.into_iter().take(LISTED).map(|m| m.1).collect();
    out.extra_keys = extra.into_iter().take(LISTED).map(|m| m.1).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::encoding::Encoding;
    use crate::target::pgtype::PgType;

    struct Rows(Vec<Vec<Option<String>>>);

    struct Cells<'a>(&'a [Option<String>]);
    impl Row for Cells<'_> {
        fn cell(&self, i: usize) -> Option<&[u8]> {
            self.0[i].as_deref().map(str::as_bytes)
        }
    }

    impl RowStream for Rows {
        fn stream(&mut self, on_row: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
            for r in &self.0 {
                on_row(&Cells(r))?;
            }
            Ok(())
        }
    }

    fn rows(v: &[&[Option<&str>]]) -> Rows {
        Rows(
            v.iter()
                .map(|r| r.iter().map(|c| c.map(String::from)).collect())
                .collect(),
        )
    }

    fn rules(key: bool) -> TableRules {
        let col = |name: &str, e: Encoding, t: &str| {
            let t = PgType::parse(t);
            ColumnRule {
                name: name.into(),
                kind: Kind::for_target(&t),
                left: Flavor::Dump(e),
                right: Flavor::Pg(t),
            }
        };
        TableRules {
            name: "t".into(),
            columns: vec![
                col("id", Encoding::UuidText, "uuid"),
                col("n", Encoding::Decimal, "numeric(10,2)"),
            ],
            key: if key { vec![0] } else { vec![] },
        }
    }

    const A: &str = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
    const A_LOWER: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    const B: &str = "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    const C: &str = "c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    #[test]
    fn equal_in_meaning_is_equal() {
        let mut l = rows(&[&[Some(A), Some("1.50")], &[Some(B), None]]);
        let mut r = rows(&[&[Some(B), None], &[Some(A_LOWER), Some("1.5")]]);
        let res = compare(&rules(true), 4, None, &mut l, &mut r, &|_| {}).unwrap();
        assert!(res.is_equal(), "{res:?}");
        assert_eq!((res.rows, res.equal), (2, 2));
    }

    #[test]
    fn changed_missing_and_extra_rows_are_named_by_key() {
        let mut l = rows(&[&[Some(A), Some("1.2345")], &[Some(B), Some("2")]]);
        let mut r = rows(&[&[Some(A_LOWER), Some("1.23")], &[Some(C), Some("2")]]);
        for buckets in [1, 4, 1024] {
            let res = compare(&rules(true), buckets, None, &mut l, &mut r, &|_| {}).unwrap();
            assert_eq!(
                (res.equal, res.different, res.missing, res.extra),
                (0, 1, 1, 1)
            );
            assert_eq!(
                res.differences,
                vec![Difference {
                    key: format!("id={A}"),
                    column: "n".into(),
                    expected: "\"1.2345\"".into(),
                    found: "\"1.23\"".into(),
                }]
            );
            assert_eq!(res.missing_keys, vec![format!("id={B}")]);
            assert_eq!(res.extra_keys, vec![format!("id={C}")]);
            assert_eq!(res.columns.get("n"), Some(&1));
        }
    }

    #[test]
    fn tables_without_a_key_compare_as_multisets() {
        let mut l = rows(&[
            &[Some(A), Some("1")],
            &[Some(A), Some("1")],
            &[Some(B), Some("2")],
        ]);
        let mut r = rows(&[&[Some(B), Some("2.0")], &[Some(A), Some("1")]]);
        let res = compare(&rules(false), 8, None, &mut l, &mut r, &|_| {}).unwrap();
        assert_eq!(
            (res.equal, res.different, res.missing, res.extra),
            (2, 0, 1, 0)
        );
        assert!(res.missing_keys[0].starts_with("row (id="), "{res:?}");
    }

    #[test]
    fn bucket_sizes() {
        assert_eq!(buckets_for(0), 1);
        assert_eq!(buckets_for(100), 16);
        assert_eq!(buckets_for(10_000_000), 65_536);
    }
}
