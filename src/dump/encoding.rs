//! How each source type becomes a CSV cell that PostgreSQL loads unchanged. The choice
//! is made once per column (from information_schema for MySQL, from the declared type
//! and the values themselves for SQLite, from the BSON types a field held for MongoDB) and recorded in the manifest (the `encoding` of
//! each column), so the import and any reader of the dump know exactly what was done
//! to the values. A source hands each cell over in its encoding's text form. Values arrive through the text protocol, as the server
//! formats them, which keeps decimals, unsigned bigints and fractional seconds exact;
//! the two exceptions are FLOAT, which MariaDB prints with 6 digits and is therefore read
//! as a double and printed as the shortest f32 that round-trips, and geometry, which is
//! selected as (E)WKT text.

use serde::{Deserialize, Serialize};

use crate::dump::csv::CsvWriter;
use crate::dump::facts;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8 text as stored.
    Text,
    /// char(36) or a native uuid: an empty string becomes NULL.
    UuidText,
    Integer,
    /// tinyint(1): the number as stored (normally 0 or 1).
    BooleanInt,
    /// Exact decimal text.
    Decimal,
    /// FLOAT: shortest decimal that reads back as the same 32-bit float.
    Float,
    /// DOUBLE: shortest decimal that reads back as the same 64-bit float.
    Double,
    /// bit(n): n digits `0`/`1`, most significant first.
    BitString,
    /// YEAR as a plain number.
    Year,
    /// YYYY-MM-DD; a zero year, month or day becomes NULL.
    Date,
    /// YYYY-MM-DD HH:MM:SS[.ffffff]; zero parts become NULL.
    Datetime,
    /// TIMESTAMP read in UTC and written with `+00`; zero becomes NULL.
    TimestampUtc,
    /// TIME as text, including values beyond 24h and negative ones.
    TimeText,
    EnumText,
    /// SET as MySQL writes it: members joined by commas.
    SetText,
    JsonText,
    /// `\x` + lowercase hex, PostgreSQL's bytea input.
    ByteaHex,
    /// WKT, prefixed `SRID=n;` (EWKT) when the SRID is not 0: loadable into a PostGIS
    /// geometry column or kept as text.
    GeometryEwkt,
}

impl Encoding {
    fn is_text(self) -> bool {
        matches!(
            self,
            Encoding::Text
                | Encoding::UuidText
                | Encoding::EnumText
                | Encoding::SetText
                | Encoding::JsonText
                | Encoding::GeometryEwkt
                | Encoding::TimeText
        )
    }
}

/// What the data showed, per column; merged over chunks.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// NULL cells written, conversions included.
    pub nulls: u64,
    /// Zero or partly-zero dates written as NULL.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero_dates_to_null: u64,
    /// Empty char(36) values written as NULL.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_uuids_to_null: u64,
    /// Values that had NUL bytes removed (`--nul strip`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nul_bytes_stripped: u64,
    /// Non-empty char(36) values that are not UUIDs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invalid_uuids: u64,
    /// tinyint(1) values other than 0 and 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub non_boolean: u64,
    /// Values holding bytes that are invalid in the column's charset (an `ascii` column
    /// with byte 0xE9, say). The source server replaced each such character with `?`
    /// when it converted the value to UTF-8, so these values are not exactly the
    /// source's; `--strict-charset` makes the first one an error instead.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invalid_charset: u64,
    // What the values need, for the import's type pre-flight. Each is set only for the
    // encodings it applies to (absent in dumps written before these facts existed).
    /// decimal and double: most significant digits after the point (trailing zeros not
    /// counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scale: Option<u32>,
    /// decimal, double and integer: most digits before the point (leading zeros not
    /// counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_integer_digits: Option<u32>,
    /// datetime, timestamp, time: most fractional-second digits used (trailing zeros not
    /// counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fraction_digits: Option<u32>,
    /// text, enum, set: the longest value, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<u64>,
    /// text, enum, set: values ending in a space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_spaces: Option<u64>,
    /// double: values a `real` would change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inexact_in_real: Option<u64>,
    /// json (and text holding JSON): values with a duplicate object key at any depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_duplicate_keys: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn max_fact<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn sum_fact(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn raise<T: Ord + Copy>(fact: &mut Option<T>, v: T) {
    if fact.is_none_or(|m| v > m) {
        *fact = Some(v);
    }
}

impl ColumnStats {
    pub fn merge(&mut self, o: &ColumnStats) {
        self.nulls += o.nulls;
        self.zero_dates_to_null += o.zero_dates_to_null;
        self.empty_uuids_to_null += o.empty_uuids_to_null;
        self.nul_bytes_stripped += o.nul_bytes_stripped;
        self.invalid_uuids += o.invalid_uuids;
        self.non_boolean += o.non_boolean;
        self.max_scale = max_fact(self.max_scale, o.max_scale);
        self.max_integer_digits = max_fact(self.max_integer_digits, o.max_integer_digits);
        self.max_fraction_digits = max_fact(self.max_fraction_digits, o.max_fraction_digits);
        self.max_chars = max_fact(self.max_chars, o.max_chars);
        self.trailing_spaces = sum_fact(self.trailing_spaces, o.trailing_spaces);
        self.inexact_in_real = sum_fact(self.inexact_in_real, o.inexact_in_real);
        self.invalid_charset += o.invalid_charset;
        self.json_duplicate_keys = sum_fact(self.json_duplicate_keys, o.json_duplicate_keys);
    }

    /// Empty stats with the facts this encoding records set to zero, so a column without
    /// values still proves that nothing needs more.
    pub fn for_encoding(e: Encoding) -> Self {
        let mut s = ColumnStats::default();
        match e {
            Encoding::Decimal => {
                s.max_scale = Some(0);
                s.max_integer_digits = Some(0);
            }
            Encoding::Integer => s.max_integer_digits = Some(0),
            Encoding::Datetime | Encoding::TimestampUtc | Encoding::TimeText => {
                s.max_fraction_digits = Some(0)
            }
            Encoding::Text | Encoding::EnumText | Encoding::SetText => {
                s.max_chars = Some(0);
                s.trailing_spaces = Some(0);
                if e == Encoding::Text {
                    s.json_duplicate_keys = Some(0);
                }
            }
            Encoding::JsonText => s.json_duplicate_keys = Some(0),
            Encoding::Double => {
                s.inexact_in_real = Some(0);
                s.max_scale = Some(0);
                s.max_integer_digits = Some(0);
            }
            _ => {}
        }
        s
    }

    /// Records the facts of one written value (`v` as the source printed it).
    fn observe(&mut self, e: Encoding, v: &[u8]) {
        match e {
            Encoding::Integer => {
                let n = v.len() - usize::from(v.first() == Some(&b'-'));
                raise(&mut self.max_integer_digits, n as u32);
            }
            Encoding::Decimal => {
                let (int, scale) = facts::decimal_digits(v);
                raise(&mut self.max_integer_digits, int);
                raise(&mut self.max_scale, scale);
            }
            Encoding::Datetime | Encoding::TimestampUtc | Encoding::TimeText => {
                raise(&mut self.max_fraction_digits, facts::fraction_digits(v));
            }
            Encoding::Text | Encoding::EnumText | Encoding::SetText => {
                // Characters never outnumber bytes: count only when the bytes could win.
                if v.len() as u64 > self.max_chars.unwrap_or(0) {
                    raise(&mut self.max_chars, facts::chars(v));
                }
                if v.last() == Some(&b' ') {
                    *self.trailing_spaces.get_or_insert(0) += 1;
                }
                if e == Encoding::Text
                    && matches!(v.first(), Some(b'{' | b'['))
                    && facts::json_has_duplicate_keys(v)
                {
                    *self.json_duplicate_keys.get_or_insert(0) += 1;
                }
            }
            Encoding::JsonText if facts::json_has_duplicate_keys(v) => {
                *self.json_duplicate_keys.get_or_insert(0) += 1;
            }
            Encoding::Double => {
                if !facts::exact_in_real(v) {
                    *self.inexact_in_real.get_or_insert(0) += 1;
                }
                let (int, scale) = facts::decimal_digits(v);
                raise(&mut self.max_integer_digits, int);
                raise(&mut self.max_scale, scale);
            }
            _ => {}
        }
    }

    /// Values that were not NULL in the source but are NULL in the dump.
    pub fn converted_to_null(&self) -> u64 {
        self.zero_dates_to_null
            .saturating_add(self.empty_uuids_to_null)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum NulPolicy {
    /// Stop the export with an error naming table, column and key.
    #[default]
    Error,
    /// Remove NUL bytes and count the values changed.
    Strip,
}

/// Why a value could not be written.
#[derive(Debug)]
pub(crate) enum CellError {
    Io(std::io::Error),
    Value(String),
}

impl From<std::io::Error> for CellError {
    fn from(e: std::io::Error) -> Self {
        CellError::Io(e)
    }
}

pub(crate) fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `YYYY-MM-DD...` with a zero year, month or day.
fn is_zero_date(v: &[u8]) -> bool {
    v.len() >= 10 && (&v[0..4] == b"0000" || &v[5..7] == b"00" || &v[8..10] == b"00")
}

fn preview(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(&v[..v.len().min(40)]).into_owned();
    if v.len() > 40 {
        format!("{s:?}...")
    } else {
        format!("{s:?}")
    }
}

/// Writes one column's cells.
pub(crate) struct CellEncoder {
    pub encoding: Encoding,
    bit_width: usize,
    nul: NulPolicy,
}

impl CellEncoder {
    pub fn new(encoding: Encoding, bit_width: Option<u64>, nul: NulPolicy) -> Self {
        CellEncoder {
            encoding,
            // bit(n) has at most 64 bits; the value is read into a u128.
            bit_width: bit_width.unwrap_or(1).min(128) as usize,
            nul,
        }
    }

    pub fn write<W: std::io::Write>(
        &self,
        value: Option<&[u8]>,
        out: &mut CsvWriter<W>,
        stats: &mut ColumnStats,
        scratch: &mut Vec<u8>,
    ) -> Result<(), CellError> {
        let Some(mut v) = value else {
            stats.nulls += 1;
            out.null()?;
            return Ok(());
        };
        if self.encoding.is_text() {
            if memchr::memchr(0, v).is_some() {
                match self.nul {
                    NulPolicy::Error => {
                        return Err(CellError::Value(format!(
                            "value {} contains a NUL byte, which PostgreSQL text cannot store \
                             (rerun with --nul strip to remove NUL bytes)",
                            preview(v)
                        )));
                    }
                    NulPolicy::Strip => {
                        scratch.clear();
                        scratch.extend(v.iter().copied().filter(|&b| b != 0));
                        stats.nul_bytes_stripped += 1;
                        v = scratch.as_slice();
                    }
                }
            }
            if std::str::from_utf8(v).is_err() {
                return Err(CellError::Value(format!(
                    "value {} is not valid UTF-8",
                    preview(v)
                )));
            }
        }
        stats.observe(self.encoding, v);
        match self.encoding {
            Encoding::UuidText => {
                if v.is_empty() {
                    stats.empty_uuids_to_null += 1;
                    stats.nulls += 1;
                    out.null()?;
                    return Ok(());
                }
                if !is_uuid(v) {
                    stats.invalid_uuids += 1;
                }
                out.text(v)?;
            }
            Encoding::BooleanInt => {
                if v != b"0" && v != b"1" {
                    stats.non_boolean += 1;
                }
                out.text(v)?;
            }
            Encoding::Float => {
                let d: f64 = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| CellError::Value(format!("float {} unreadable", preview(v))))?;
                let mut buf = ryu::Buffer::new();
                out.plain(buf.format_finite(d as f32).as_bytes())?;
            }
            Encoding::BitString => {
                let mut n: u128 = 0;
                for &b in v {
                    n = (n << 8) | u128::from(b);
                }
                let digits = format!("{n:0width$b}", width = self.bit_width);
                out.plain(digits.as_bytes())?;
            }
            Encoding::Year => {
                let trimmed = match v.iter().position(|&b| b != b'0') {
                    Some(i) => &v[i..],
                    None => b"0",
                };
                out.text(trimmed)?;
            }
            Encoding::Date | Encoding::Datetime => {
                if is_zero_date(v) {
                    stats.zero_dates_to_null += 1;
                    stats.nulls += 1;
                    out.null()?;
                } else {
                    out.text(v)?;
                }
            }
            Encoding::TimestampUtc => {
                if is_zero_date(v) {
                    stats.zero_dates_to_null += 1;
                    stats.nulls += 1;
                    out.null()?;
                } else {
                    out.plain_parts(&[v, b"+00"])?;
                }
            }
            Encoding::ByteaHex => out.bytea_hex(v)?,
            Encoding::Text
            | Encoding::Integer
            | Encoding::Decimal
            | Encoding::Double
            | Encoding::TimeText
            | Encoding::EnumText
            | Encoding::SetText
            | Encoding::JsonText
            | Encoding::GeometryEwkt => out.text(v)?,
        }
        Ok(())
    }
}

/// Hex digit values (either case) for decoding `\x...` bytea text; 0xff marks a byte
/// that is not one.
pub(crate) const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(enc: Encoding, width: Option<u64>, v: Option<&[u8]>) -> (String, ColumnStats) {
        let mut out = CsvWriter::new(Vec::new());
        let mut stats = ColumnStats::default();
        CellEncoder::new(enc, width, NulPolicy::Error)
            .write(v, &mut out, &mut stats, &mut Vec::new())
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        (String::from_utf8(out.into_inner()).unwrap(), stats)
    }

    #[test]
    fn conversions() {
        use Encoding::*;
        assert_eq!(cell(UuidText, None, Some(b"")).0, "\\N");
        assert_eq!(cell(UuidText, None, Some(b"")).1.empty_uuids_to_null, 1);
        assert_eq!(cell(UuidText, None, Some(b"nope")).1.invalid_uuids, 1);
        assert_eq!(cell(Date, None, Some(b"0000-00-00")).0, "\\N");
        assert_eq!(
            cell(Date, None, Some(b"2024-00-10")).1.zero_dates_to_null,
            1
        );
        assert_eq!(cell(Date, None, Some(b"0009-05-01")).0, "0009-05-01");
        assert_eq!(cell(Datetime, None, Some(b"2024-01-00 10:00:00")).0, "\\N");
        assert_eq!(
            cell(TimestampUtc, None, Some(b"2024-03-10 07:00:00.250000")).0,
            "2024-03-10 07:00:00.250000+00"
        );
        assert_eq!(cell(BitString, Some(5), Some(&[0b00101])).0, "00101");
        assert_eq!(
            cell(BitString, Some(12), Some(&[0x0f, 0xff])).0,
            "111111111111"
        );
        assert_eq!(
            cell(Float, None, Some(b"3.1415927410125732")).0,
            "3.1415927"
        );
        assert_eq!(cell(Float, None, Some(b"123456792")).0, "123456790.0");
        assert_eq!(cell(Year, None, Some(b"0000")).0, "0");
        assert_eq!(cell(Year, None, Some(b"2006")).0, "2006");
        assert_eq!(cell(ByteaHex, None, Some(&[0, 255])).0, "\\x00ff");
        assert_eq!(cell(SetText, None, Some(b"x,y")).0, "\"x,y\"");
        assert_eq!(cell(BooleanInt, None, Some(b"2")).1.non_boolean, 1);
        assert_eq!(cell(Text, None, None).1.nulls, 1);
    }

    fn facts(enc: Encoding, values: &[&str]) -> ColumnStats {
        let mut out = CsvWriter::new(Vec::new());
        let mut stats = ColumnStats::for_encoding(enc);
        for v in values {
            CellEncoder::new(enc, None, NulPolicy::Error)
                .write(Some(v.as_bytes()), &mut out, &mut stats, &mut Vec::new())
                .map_err(|e| format!("{e:?}"))
                .unwrap();
        }
        stats
    }

    #[test]
    fn facts_for_the_type_preflight() {
        use Encoding::*;
        let d = facts(Decimal, &["1.2345", "-99.10", "0.00"]);
        assert_eq!((d.max_scale, d.max_integer_digits), (Some(4), Some(2)));
        let d = facts(Decimal, &["1.50", "2.00"]);
        assert_eq!(d.max_scale, Some(1));
        assert_eq!(
            facts(Integer, &["-4294967295", "7"]).max_integer_digits,
            Some(10)
        );
        let t = facts(
            Datetime,
            &["2024-01-01 23:59:59.250000", "2024-01-01 10:00:00"],
        );
        assert_eq!(t.max_fraction_digits, Some(2));
        let t = facts(Text, &["abc       ", "ünïcødé", "x"]);
        assert_eq!((t.max_chars, t.trailing_spaces), (Some(10), Some(1)));
        assert_eq!(t.json_duplicate_keys, Some(0));
        assert_eq!(
            facts(Text, &["{\"a\":1,\"a\":2}"]).json_duplicate_keys,
            Some(1)
        );
        assert_eq!(
            facts(JsonText, &["{\"a\":1,\"a\":2}", "{}"]).json_duplicate_keys,
            Some(1)
        );
        assert_eq!(
            facts(Double, &["0.5", "123456789.12345679"]).inexact_in_real,
            Some(1)
        );
        // No value: the facts still say nothing needs more; other encodings get none.
        assert_eq!(facts(Decimal, &[]).max_scale, Some(0));
        assert_eq!(facts(Date, &["2024-01-01"]), ColumnStats::default());
        let mut merged = facts(Decimal, &["1.5"]);
        merged.merge(&facts(Decimal, &["100.25"]));
        assert_eq!(
            (merged.max_scale, merged.max_integer_digits),
            (Some(2), Some(3))
        );
        let mut old = ColumnStats::default();
        old.merge(&ColumnStats::default());
        assert_eq!(old.max_scale, None, "old dumps have no facts");
    }

    #[test]
    fn nul_bytes() {
        let mut out = CsvWriter::new(Vec::new());
        let mut stats = ColumnStats::default();
        let err = CellEncoder::new(Encoding::Text, None, NulPolicy::Error)
            .write(Some(b"a\0b"), &mut out, &mut stats, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CellError::Value(m) if m.contains("NUL")));
        CellEncoder::new(Encoding::Text, None, NulPolicy::Strip)
            .write(Some(b"a\0b"), &mut out, &mut stats, &mut Vec::new())
            .unwrap();
        assert_eq!(out.into_inner(), b"ab");
        assert_eq!(stats.nul_bytes_stripped, 1);
    }

    #[test]
    fn stats_count_merge_and_serialize() {
        use Encoding::*;
        let (_, s) = cell(UuidText, None, Some(b""));
        assert_eq!(
            s,
            ColumnStats {
                nulls: 1,
                empty_uuids_to_null: 1,
                ..Default::default()
            }
        );
        assert_eq!(s.converted_to_null(), 1);
        for ok in [&b"0"[..], b"1"] {
            assert_eq!(cell(BooleanInt, None, Some(ok)).1, ColumnStats::default());
        }
        let mut m = ColumnStats {
            nulls: 5,
            zero_dates_to_null: 2,
            empty_uuids_to_null: 3,
            nul_bytes_stripped: 1,
            invalid_uuids: 4,
            non_boolean: 6,
            ..Default::default()
        };
        m.merge(&ColumnStats {
            nulls: 10,
            zero_dates_to_null: 20,
            empty_uuids_to_null: 30,
            nul_bytes_stripped: 40,
            invalid_uuids: 50,
            non_boolean: 60,
            ..Default::default()
        });
        assert_eq!(
            m,
            ColumnStats {
                nulls: 15,
                zero_dates_to_null: 22,
                empty_uuids_to_null: 33,
                nul_bytes_stripped: 41,
                invalid_uuids: 54,
                non_boolean: 66,
                ..Default::default()
            }
        );
        assert_eq!(m.converted_to_null(), 55);
        // Counters that stayed zero are left out of the manifest; `nulls` is always there.
        let some = ColumnStats {
            invalid_uuids: 2,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&some).unwrap(),
            serde_json::json!({"nulls": 0, "invalid_uuids": 2})
        );
        assert_eq!(
            serde_json::to_value(&m).unwrap().as_object().unwrap().len(),
            6
        );
    }

    #[test]
    fn zero_dates_count_as_nulls() {
        use Encoding::*;
        let zero = ColumnStats {
            nulls: 1,
            zero_dates_to_null: 1,
            ..Default::default()
        };
        for (enc, v) in [
            (Date, &b"2024-00-10"[..]),
            (Datetime, b"0000-00-00 00:00:00"),
            (TimestampUtc, b"0000-00-00 00:00:00"),
            (TimestampUtc, b"2024-01-00 10:00:00.5"),
        ] {
            // The digits facts are the type pre-flight's business, not this test's.
            let (text, mut got) = cell(enc, None, Some(v));
            got.max_fraction_digits = None;
            assert_eq!((text, got), ("\\N".to_string(), zero.clone()), "{enc:?}");
        }
        let (text, mut got) = cell(Datetime, None, Some(b"2024-01-01 10:00:00"));
        got.max_fraction_digits = None;
        assert_eq!(
            (text, got),
            ("2024-01-01 10:00:00".to_string(), ColumnStats::default())
        );
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid(b"6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5b"));
        assert!(is_uuid(b"6A1F0C2E-0B7B-4D3E-9A55-0C1D2E3F4A5B"));
        for bad in [
            &b"6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5"[..],
            b"6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5bb",
            b"6a1f0c2e00b7b-4d3e-9a55-0c1d2e3f4a5b",
            b"6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5g",
            b"6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f-a5b",
            b"",
        ] {
            assert!(!is_uuid(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn errors_show_the_start_of_the_value() {
        assert_eq!(preview(b"abc"), "\"abc\"");
        let forty = "x".repeat(40);
        assert_eq!(preview(forty.as_bytes()), format!("\"{forty}\""));
        assert_eq!(
            preview(format!("{forty}yz").as_bytes()),
            format!("\"{forty}\"...")
        );
        let err = |enc, v: &[u8]| match CellEncoder::new(enc, None, NulPolicy::Error).write(
            Some(v),
            &mut CsvWriter::new(Vec::new()),
            &mut ColumnStats::default(),
            &mut Vec::new(),
        ) {
            Err(CellError::Value(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(Encoding::Text, b"a\0b"),
            "value \"a\\0b\" contains a NUL byte, which PostgreSQL text cannot store \
             (rerun with --nul strip to remove NUL bytes)"
        );
        assert_eq!(
            err(Encoding::Text, b"\xff\xfe"),
            "value \"\u{FFFD}\u{FFFD}\" is not valid UTF-8"
        );
        assert_eq!(err(Encoding::Float, b"1.2.3"), "float \"1.2.3\" unreadable");
    }
}
