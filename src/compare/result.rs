//! What a comparison found, per table, and how it reads: a summary table for people, a
//! JSON document for machines, and the differences by primary key.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::report::{Stream, render_table_for};

/// Differences listed per table before only counts are given.
pub const LISTED: usize = 20;

/// One value that differs.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// `id=5`, `(a=1, b=x)`, or the first columns of a row of a table without a key.
    pub key: String,
    pub column: String,
    /// The reference side's value (the dump's, or the source's), quoted, or NULL.
    pub expected: String,
    /// The value found on the other side.
    pub found: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TableResult {
    /// The table's name on the reference side (the dump or the source).
    pub table: String,
    /// Its name on the other side, when one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    /// Rows read on the reference side.
    pub rows: u64,
    /// Rows read on the other side.
    pub other_rows: u64,
    pub equal: u64,
    pub different: u64,
    pub missing: u64,
    pub extra: u64,
    /// Rows of the reference side in differing parts that were too many to itemize.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_itemized: u64,
    pub seconds: f64,
    /// The first differences, ordered by key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// Differing values per column.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, u64>,
    /// Keys of the first rows missing on the other side, and of the first extra ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_keys: Vec<String>,
    /// Anything else wrong with the table (files, schema, names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TableResult {
    pub fn new(table: &str) -> Self {
        TableResult {
            table: table.to_string(),
            ..TableResult::default()
        }
    }

    pub fn is_equal(&self) -> bool {
        self.different == 0
            && self.missing == 0
            && self.extra == 0
            && self.not_itemized == 0
            && self.problems.is_empty()
    }

    /// The differences in words, `expected` and `found` naming the two sides (e.g. "dump"
    /// and "target").
    pub fn describe(&self, expected: &str, found: &str) -> String {
        let mut s = String::new();
        for p in &self.problems {
            s.push_str(&format!("table `{}`: {p}\n", self.table));
        }
        for d in &self.differences {
            s.push_str(&format!(
                "table `{}`, {}, column `{}`: {expected} has {}, {found} has {}\n",
                self.table, d.key, d.column, d.expected, d.found
            ));
        }
        if self.different as usize > self.differences.len() || self.columns.len() > 1 {
            let per: Vec<String> = self
                .columns
                .iter()
                .map(|(c, n)| format!("`{c}` {n}"))
                .collect();
            if !per.is_empty() {
                s.push_str(&format!(
                    "table `{}`: {} row(s) differ; differing values per column: {}\n",
                    self.table,
                    self.different,
                    per.join(", ")
                ));
            }
        }
        let keys = |keys: &[String], n: u64| {
            let more = n.saturating_sub(keys.len() as u64);
            let mut t = keys.join("; ");
            if more > 0 {
                t.push_str(&format!(" and {more} more"));
            }
            t
        };
        if self.missing > 0 {
            s.push_str(&format!(
                "table `{}`: {} row(s) missing in {found}: {}\n",
                self.table,
                self.missing,
                keys(&self.missing_keys, self.missing)
            ));
        }
        if self.extra > 0 {
            s.push_str(&format!(
                "table `{}`: {} row(s) in {found} that {expected} does not have: {}\n",
                self.table,
                self.extra,
                keys(&self.extra_keys, self.extra)
            ));
        }
        if self.not_itemized > 0 {
            s.push_str(&format!(
                "table `{}`: {} more row(s) of {expected} fall in differing parts of the table and were not itemized\n",
                self.table, self.not_itemized
            ));
        }
        s
    }
}

/// The per-table summary: rows compared, equal, different, missing, extra, seconds.
pub fn summary_table(results: &[TableResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                r.table.clone(),
                r.rows.to_string(),
                r.equal.to_string(),
                r.different.to_string(),
                r.missing.to_string(),
                r.extra.to_string(),
                format!("{:.2}", r.seconds),
                if r.is_equal() {
                    "equal".into()
                } else if r.problems.is_empty() {
                    "DIFFERENT".into()
                } else {
                    "PROBLEM".into()
                },
            ]
        })
        .collect();
    render_table_for(
        Stream::Stderr,
        &[
            "table",
            "rows compared",
            "equal",
            "different",
            "missing",
            "extra",
            "seconds",
            "status",
        ],
        &rows,
    )
}
