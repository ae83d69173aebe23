//! What a SQLite column really holds. SQLite stores any value in any column (a declared
//! type is only an affinity), so before anything is written every selected table is
//! read once, inside the export's read transaction, and each column's values are
//! counted by storage class and checked against the kind the declared type (or a
//! `--cast`) asks for:
//!
//! - the encoding follows from that kind and the data: DATETIME/TIMESTAMP/DATE columns
//!   may hold ISO text, Unix seconds or Unix milliseconds (told apart by magnitude: a
//!   number of 10^11 or more is milliseconds, since as seconds it would be past the
//!   year 5000), and the detected representation is recorded;
//! - values that cannot be converted are counted per storage class with up to five
//!   sample rowids (or primary keys), and such a column stops the export, with every
//!   such column listed at once, unless a `--cast` says what to do;
//! - what the declared type cannot hold in PostgreSQL (a text longer than VARCHAR(n),
//!   a number beyond NUMERIC(p,s)) is counted, so the type map can choose a wider type.
//!
//! Because the same transaction reads the data afterwards, these findings hold for
//! every row the dump gets.

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::catalog::TableMeta;
use super::values::{decimal_fits, is_decimal, is_json, is_time_of_day, parse_iso, unix_range};
use super::{ResultExt, quote_ident};
use crate::dump::encoding::Encoding;
use crate::dump::schema::{Column, Representation, StorageClasses};
use crate::error::Result;
use crate::source::SourceTable;

/// The kind of value a column is exported as, before the data refines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Integer,
    Real,
    Decimal,
    Boolean,
    Datetime,
    Date,
    Time,
    Json,
    Text,
    Blob,
    /// No declared type (or one SQLite gives NUMERIC affinity without saying more,
    /// like `STRING`): the values decide, and they must be of one kind.
    Untyped,
}

impl Kind {
    /// The kinds `--cast TABLE.COLUMN=KIND` accepts.
    pub const CAST_NAMES: &[&str] = &[
        "text",
        "blob",
        "integer",
        "real",
        "decimal",
        "boolean",
        "datetime",
        "unix_seconds",
        "unix_ms",
        "date",
        "time",
        "json",
    ];

    /// The kind a declared type asks for. The names ORMs write come first (BOOLEAN,
    /// DATETIME, DATE, TIME, JSON/JSONB, DECIMAL), then SQLite's own affinity rules.
    pub fn from_declared(declared: &str) -> Kind {
        let t = declared.to_ascii_uppercase();
        let has = |s: &str| t.contains(s);
        if has("BOOL") {
            Kind::Boolean
        } else if has("DATETIME") || has("TIMESTAMP") {
            Kind::Datetime
        } else if has("DATE") {
            Kind::Date
        } else if has("TIME") {
            Kind::Time
        } else if has("JSON") {
            Kind::Json
        } else if has("INT") {
            Kind::Integer
        } else if has("CHAR") || has("CLOB") || has("TEXT") {
            Kind::Text
        } else if has("BLOB") {
            Kind::Blob
        } else if has("REAL") || has("FLOA") || has("DOUB") {
            Kind::Real
        } else if has("DEC") || has("NUMERIC") || has("MONEY") {
            Kind::Decimal
        } else {
            Kind::Untyped
        }
    }

    /// A `--cast` kind, with the unit it forces on date/time numbers (ms per unit).
    pub fn from_cast(name: &str) -> Option<(Kind, Option<i64>)> {
        Some(match name {
            "text" => (Kind::Text, None),
            "blob" => (Kind::Blob, None),
            "integer" => (Kind::Integer, None),
            "real" => (Kind::Real, None),
            "decimal" => (Kind::Decimal, None),
            "boolean" => (Kind::Boolean, None),
            "datetime" => (Kind::Datetime, None),
            "unix_seconds" => (Kind::Datetime, Some(1000)),
            "unix_ms" => (Kind::Datetime, Some(1)),
            "date" => (Kind::Date, None),
            "time" => (Kind::Time, None),
            "json" => (Kind::Json, None),
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Real => "real",
            Kind::Decimal => "decimal",
            Kind::Boolean => "boolean",
            Kind::Datetime => "datetime",
            Kind::Date => "date",
            Kind::Time => "time",
            Kind::Json => "json",
            Kind::Text => "text",
            Kind::Blob => "blob",
            Kind::Untyped => "one kind of value",
        }
    }
}

/// How one column is to be read, from its declared type and any `--cast`.
#[derive(Clone, Debug)]
pub(super) struct ColumnPlan {
    pub kind: Kind,
    /// The kind came from `--cast`: text takes blobs (when UTF-8), blob takes anything.
    pub cast: bool,
    /// Milliseconds per unit of a date/time number, when `--cast` fixed it.
    pub unit_ms: Option<i64>,
    /// VARCHAR(n) and NUMERIC(p,s) as declared.
    pub max_length: Option<u64>,
    pub precision_scale: Option<(u64, u64)>,
}

const CLASSES: [&str; 5] = ["null", "integer", "real", "text", "blob"];
const SAMPLES: usize = 5;

fn class(v: &ValueRef) -> usize {
    match v {
        ValueRef::Null => 0,
        ValueRef::Integer(_) => 1,
        ValueRef::Real(_) => 2,
        ValueRef::Text(_) => 3,
        ValueRef::Blob(_) => 4,
    }
}

/// Characters in UTF-8 text (bytes that do not continue a character).
fn chars(t: &[u8]) -> u64 {
    t.iter().filter(|&&b| (b as i8) >= -0x40).count() as u64
}

#[derive(Default)]
struct Scan {
    classes: [u64; 5],
    bad: [u64; 5],
    samples: [Vec<String>; 5],
    /// Smallest and largest number in a date/time column.
    numbers: Option<(f64, f64)>,
    /// A date column holds times of day (or numbers): it is exported as datetime.
    needs_time: bool,
    not_json: u64,
    beyond: u64,
}

impl Scan {
    fn number(&mut self, n: f64) {
        let (lo, hi) = self.numbers.unwrap_or((n, n));
        self.numbers = Some((lo.min(n), hi.max(n)));
        self.needs_time = true;
    }

    fn decimal(&mut self, plan: &ColumnPlan, text: &[u8]) {
        if let Some((p, s)) = plan.precision_scale
            && !decimal_fits(text, p, s)
        {
            self.beyond += 1;
        }
    }

    /// Counts the value and says whether it converts to the plan's kind.
    fn check(&mut self, plan: &ColumnPlan, v: ValueRef) -> bool {
        use ValueRef as V;
        self.classes[class(&v)] += 1;
        match (plan.kind, v) {
            (_, V::Null) | (Kind::Untyped, _) => true,
            (Kind::Blob, V::Blob(_)) => true,
            (Kind::Blob, _) => plan.cast,
            (Kind::Text, V::Blob(b)) => plan.cast && std::str::from_utf8(b).is_ok(),
            (Kind::Text, V::Text(t)) => {
                if plan
                    .max_length
                    .is_some_and(|n| t.len() as u64 > n && chars(t) > n)
                {
                    self.beyond += 1;
                }
                true
            }
            (Kind::Text, _) => true,
            (Kind::Integer | Kind::Boolean, V::Integer(_)) => true,
            (Kind::Real, V::Integer(_) | V::Real(_)) => true,
            (Kind::Decimal, V::Integer(i)) => {
                self.decimal(plan, itoa::Buffer::new().format(i).as_bytes());
                true
            }
            (Kind::Decimal, V::Real(f)) if f.is_finite() => {
                self.decimal(plan, ryu::Buffer::new().format_finite(f).as_bytes());
                true
            }
            (Kind::Decimal, V::Text(t)) if is_decimal(t) => {
                self.decimal(plan, t);
                true
            }
            (Kind::Json, V::Integer(_)) => true,
            (Kind::Json, V::Real(f)) => f.is_finite(),
            (Kind::Json, V::Text(t)) => {
                if !is_json(t) {
                    self.not_json += 1;
                }
                true
            }
            (Kind::Datetime | Kind::Date, V::Integer(i)) => {
                self.number(i as f64);
                true
            }
            (Kind::Datetime | Kind::Date, V::Real(f)) if f.is_finite() => {
                self.number(f);
                true
            }
            (Kind::Datetime | Kind::Date, V::Text(t)) => match parse_iso(t) {
                Some(iso) => {
                    self.needs_time |= iso.has_time;
                    true
                }
                None => false,
            },
            (Kind::Time, V::Text(t)) => is_time_of_day(t),
            _ => false,
        }
    }

    fn reject(&mut self, class: usize, key: impl FnOnce() -> String) {
        self.bad[class] += 1;
        if self.samples[class].len() < SAMPLES {
            self.samples[class].push(key());
        }
    }

    fn counts(&self) -> String {
        let parts: Vec<String> = CLASSES
            .iter()
            .zip(self.classes)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        if parts.is_empty() {
            "no rows".into()
        } else {
            parts.join(", ")
        }
    }

    fn storage(&self) -> StorageClasses {
        let [null, integer, real, text, blob] = self.classes;
        StorageClasses {
            null,
            integer,
            real,
            text,
            blob,
        }
    }
}

/// How a sample row is named: by rowid, by primary key, or by its place.
enum KeyBy {
    Rowid,
    PrimaryKey(Vec<(String, usize)>),
    Place,
}

impl KeyBy {
    fn label(&self) -> &'static str {
        match self {
            KeyBy::Rowid => "rowid",
            KeyBy::PrimaryKey(_) => "primary key",
            KeyBy::Place => "row",
        }
    }

    fn describe(&self, row: &rusqlite::Row, place: u64) -> String {
        match self {
            KeyBy::Rowid => match row.get_ref(0) {
                Ok(v) => show(v),
                Err(_) => place.to_string(),
            },
            KeyBy::PrimaryKey(cols) => {
                let parts: Vec<String> = cols
                    .iter()
                    .map(|(name, i)| {
                        let v = row.get_ref(*i).map(show).unwrap_or_default();
                        format!("{name}={v}")
                    })
                    .collect();
                format!("({})", parts.join(", "))
            }
            KeyBy::Place => place.to_string(),
        }
    }
}

fn show(v: ValueRef) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => ryu::Buffer::new().format(f).to_string(),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(&t[..t.len().min(40)]).into_owned();
            format!("{s:?}")
        }
        ValueRef::Blob(b) => format!("x'{}'", hex::encode(&b[..b.len().min(20)])),
    }
}

/// Reads `table` once and completes its columns' encodings. Columns whose values cannot
/// all be exported are added to `problems`, notes for the user to `notes`.
pub(super) fn analyze(
    conn: &Connection,
    table: &mut SourceTable,
    meta: &TableMeta,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let t = &mut table.schema;
    let quoted: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let (key_sql, offset, key_by) = match &meta.rowid {
        Some(r) => (format!("{r}, "), 1, KeyBy::Rowid),
        None if !t.primary_key.is_empty() => (
            String::new(),
            0,
            KeyBy::PrimaryKey(
                t.primary_key
                    .iter()
                    .filter_map(|k| {
                        t.columns
                            .iter()
                            .position(|c| &c.name == k)
                            .map(|i| (k.clone(), i))
                    })
                    .collect(),
            ),
        ),
        None => (String::new(), 0, KeyBy::Place),
    };
    let sql = format!(
        "SELECT {key_sql}{} FROM main.{}",
        quoted.join(", "),
        quote_ident(&t.name)
    );
    let what = || format!("reading table `{}` to see what its columns hold", t.name);
    let mut scans: Vec<Scan> = t.columns.iter().map(|_| Scan::default()).collect();
    let mut rows: u64 = 0;
    let mut bytes: u64 = 0;
    {
        let mut stmt = conn.prepare(&sql).ctx(what)?;
        let mut result = stmt.query([]).ctx(what)?;
        while let Some(row) = result.next().ctx(what)? {
            rows += 1;
            for (i, (scan, plan)) in scans.iter_mut().zip(&meta.plans).enumerate() {
                let v = row.get_ref(offset + i).ctx(what)?;
                bytes += match v {
                    ValueRef::Text(b) | ValueRef::Blob(b) => b.len() as u64,
                    _ => 8,
                };
                if !scan.check(plan, v) {
                    scan.reject(class(&v), || key_by.describe(row, rows));
                }
            }
            if rows.is_multiple_of(4096) {
                crate::interrupt::check()?;
            }
        }
    }
    table.estimated_rows = rows;
    table.data_length = bytes;

    for ((c, plan), mut scan) in t.columns.iter_mut().zip(&meta.plans).zip(scans) {
        let at = format!("{}.{}", t.name, c.name);
        let declared = if c.column_type.is_empty() {
            "no declared type".to_string()
        } else {
            c.column_type.clone()
        };
        let mut kind = plan.kind;
        if kind == Kind::Untyped {
            let [_, int, real, text, blob] = scan.classes.map(|n| n > 0);
            kind = match (int, real, text, blob) {
                (false, false, false, false) | (false, false, true, false) => Kind::Text,
                (true, false, false, false) => Kind::Integer,
                (false, true, false, false) => Kind::Real,
                (_, _, false, false) => Kind::Decimal,
                (false, false, false, true) => Kind::Blob,
                _ => {
                    let without = if c.column_type.is_empty() {
                        "a column without a declared type"
                    } else {
                        "a column whose declared type names no kind of value"
                    };
                    problems.push(format!(
                        "table `{}`, column `{}` ({declared}): {}; {without} must hold one \
                         kind of value; --cast {at}=text exports the column as text",
                        t.name,
                        c.name,
                        scan.counts()
                    ));
                    continue;
                }
            };
        }
        let mut unit_ms = None;
        if matches!(kind, Kind::Datetime | Kind::Date)
            && let Some((lo, hi)) = scan.numbers
        {
            let unit = plan.unit_ms.unwrap_or(if lo.abs().max(hi.abs()) >= 1e11 {
                1
            } else {
                1000
            });
            unit_ms = Some(unit);
            let (min, max) = unix_range(unit);
            if lo < min || hi >= max {
                out_of_range(
                    conn,
                    t.name.as_str(),
                    &c.name,
                    &meta.rowid,
                    (min, max),
                    &key_by,
                    &mut scan,
                )?;
            }
        }
        if scan.bad.iter().any(|&n| n > 0) {
            let bad: Vec<String> = (0..5)
                .filter(|&k| scan.bad[k] > 0)
                .map(|k| {
                    format!(
                        "{} {} ({} {})",
                        scan.bad[k],
                        CLASSES[k],
                        key_by.label(),
                        scan.samples[k].join(", ")
                    )
                })
                .collect();
            let hint = if plan.cast && kind == Kind::Text {
                format!("--cast {at}=blob exports the column's bytes")
            } else {
                format!("--cast {at}=text exports the column as text")
            };
            problems.push(format!(
                "table `{}`, column `{}` ({declared}): {}; {} cannot be exported as {}; {hint}",
                t.name,
                c.name,
                scan.counts(),
                bad.join(" and "),
                kind.name()
            ));
            continue;
        }
        finish_column(c, kind, unit_ms, &scan, notes, &at, &declared);
    }
    Ok(())
}

/// Numbers in a date/time column beyond the years 0001-9999 (`min <= n < max`), found
/// with SQL once the unit is known.
fn out_of_range(
    conn: &Connection,
    table: &str,
    column: &str,
    rowid: &Option<String>,
    (min, max): (f64, f64),
    key_by: &KeyBy,
    scan: &mut Scan,
) -> Result<()> {
    let c = quote_ident(column);
    let key = match (rowid, key_by) {
        (Some(r), _) => r.clone(),
        (None, KeyBy::PrimaryKey(cols)) => {
            let parts: Vec<String> = cols
                .iter()
                .map(|(n, _)| format!("'{}=' || quote({})", n.replace('\'', "''"), quote_ident(n)))
                .collect();
            format!("'(' || {} || ')'", parts.join(" || ', ' || "))
        }
        (None, _) => "NULL".into(),
    };
    let sql = format!(
        "SELECT {key}, typeof({c}) FROM main.{} WHERE typeof({c}) IN ('integer', 'real') \
         AND ({c} < ?1 OR {c} >= ?2)",
        quote_ident(table)
    );
    let what = || format!("reading table `{table}`, column `{column}`");
    let mut stmt = conn.prepare(&sql).ctx(what)?;
    let mut rows = stmt.query((min, max)).ctx(what)?;
    while let Some(row) = rows.next().ctx(what)? {
        let k = row.get_ref(0).map(show).unwrap_or_default();
        let class = if row.get_ref(1).ok().and_then(|v| v.as_str().ok()) == Some("real") {
            2
        } else {
            1
        };
        scan.reject(class, || k.trim_matches('"').to_string());
    }
    Ok(())
}

fn finish_column(
    c: &mut Column,
    kind: Kind,
    unit_ms: Option<i64>,
    scan: &Scan,
    notes: &mut Vec<String>,
    at: &str,
    declared: &str,
) {
    let [_, _, reals, texts, _] = scan.classes;
    c.storage_classes = Some(scan.storage());
    c.encoding = match kind {
        Kind::Integer => Encoding::Integer,
        Kind::Real => Encoding::Double,
        Kind::Decimal => Encoding::Decimal,
        Kind::Boolean => Encoding::BooleanInt,
        Kind::Date if !scan.needs_time => {
            c.representation = (texts > 0).then_some(Representation::IsoText);
            Encoding::Date
        }
        Kind::Datetime | Kind::Date => {
            c.representation = match (texts > 0, unit_ms) {
                (true, None) => Some(Representation::IsoText),
                (false, Some(1)) => Some(Representation::UnixMs),
                (false, Some(_)) => Some(Representation::UnixSeconds),
                (true, Some(1)) => Some(Representation::IsoTextAndUnixMs),
                (true, Some(_)) => Some(Representation::IsoTextAndUnixSeconds),
                (false, None) => None,
            };
            // Text and reals may carry microseconds; whole numbers carry their unit.
            c.datetime_precision = match unit_ms {
                _ if texts > 0 || reals > 0 => Some(6),
                Some(1) => Some(3),
                Some(_) => Some(0),
                None => None,
            };
            Encoding::Datetime
        }
        Kind::Time => Encoding::TimeText,
        Kind::Json if scan.not_json > 0 => {
            notes.push(format!(
                "`{at}` is declared {declared} but {} value(s) are not valid JSON: exported as text",
                scan.not_json
            ));
            Encoding::Text
        }
        Kind::Json => Encoding::JsonText,
        Kind::Text | Kind::Untyped => Encoding::Text,
        Kind::Blob => Encoding::ByteaHex,
    };
    // Declared lengths and precisions only mean something for the encodings that use them.
    if matches!(c.encoding, Encoding::Text | Encoding::Decimal) {
        c.values_beyond_declared = scan.beyond;
    }
    if c.encoding != Encoding::Text {
        c.max_length = None;
    }
    if c.encoding != Encoding::Decimal {
        c.precision = None;
        c.scale = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_kinds() {
        use Kind::*;
        for (decl, kind) in [
            ("INTEGER", Integer),
            ("BIGINT", Integer),
            ("INTEGER UNSIGNED", Integer),
            ("NVARCHAR(160)", Text),
            ("TEXT", Text),
            ("BLOB", Blob),
            ("", Untyped),
            ("STRING", Untyped),
            ("REAL", Real),
            ("DOUBLE PRECISION", Real),
            ("DECIMAL", Decimal),
            ("NUMERIC(10,2)", Decimal),
            ("BOOLEAN", Boolean),
            ("bool", Boolean),
            ("DATETIME", Datetime),
            ("timestamp", Datetime),
            ("date", Date),
            ("time", Time),
            ("JSONB", Json),
        ] {
            assert_eq!(Kind::from_declared(decl), kind, "{decl}");
        }
        assert_eq!(Kind::from_cast("unix_ms"), Some((Datetime, Some(1))));
        assert_eq!(Kind::from_cast("nope"), None);
        assert!(
            Kind::CAST_NAMES
                .iter()
                .all(|k| Kind::from_cast(k).is_some())
        );
    }

    #[test]
    fn checks() {
        let plan = |kind| ColumnPlan {
            kind,
            cast: false,
            unit_ms: None,
            max_length: Some(3),
            precision_scale: Some((4, 2)),
        };
        let mut s = Scan::default();
        assert!(s.check(&plan(Kind::Integer), ValueRef::Integer(1)));
        assert!(!s.check(&plan(Kind::Integer), ValueRef::Text(b"abc")));
        assert!(!s.check(&plan(Kind::Integer), ValueRef::Real(1.5)));
        assert!(s.check(&plan(Kind::Integer), ValueRef::Null));
        assert_eq!(s.counts(), "1 null, 1 integer, 1 real, 1 text");
        let mut s = Scan::default();
        assert!(s.check(&plan(Kind::Decimal), ValueRef::Real(0.99)));
        assert!(s.check(&plan(Kind::Decimal), ValueRef::Real(0.999)));
        assert!(s.check(&plan(Kind::Decimal), ValueRef::Text(b"123.4")));
        assert!(!s.check(&plan(Kind::Decimal), ValueRef::Text(b"12,3")));
        assert_eq!(s.beyond, 2);
        let mut s = Scan::default();
        assert!(s.check(&plan(Kind::Text), ValueRef::Text("äöü".as_bytes())));
        assert!(s.check(&plan(Kind::Text), ValueRef::Text(b"abcd")));
        assert!(!s.check(&plan(Kind::Text), ValueRef::Blob(b"x")));
        assert_eq!(s.beyond, 1);
        let mut s = Scan::default();
        assert!(s.check(&plan(Kind::Date), ValueRef::Text(b"2024-01-02")));
        assert!(!s.needs_time);
        assert!(s.check(&plan(Kind::Date), ValueRef::Integer(1_700_000_000_000)));
        assert!(s.needs_time && s.numbers == Some((1.7e12, 1.7e12)));
        assert!(!s.check(&plan(Kind::Datetime), ValueRef::Text(b"yesterday")));
    }
}
