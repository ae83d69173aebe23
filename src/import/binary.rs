//! Binary COPY: this client parses the dump's CSV and hands PostgreSQL every value in
//! its binary form (`COPY ... FROM STDIN (FORMAT binary)`). An all-or-nothing load has
//! one backend, and text COPY spends most of its time parsing: splitting CSV lines and
//! running each column's input function. Here the parsing runs on the client's own
//! thread, overlapped with the backend, which only receives, stores and indexes rows
//! (README, Performance, has the measurements behind this choice).
//!
//! Exactness is the rule: each value must become exactly what PostgreSQL's text input
//! (`COPY ... (FORMAT csv)`) makes of it, typmods and errors included.
//! - The client converts only plain spellings it parses with certainty, each the way
//!   PostgreSQL's input function does: integers, floats (correctly rounded, as strtod
//!   and strtof are), numerics digit for digit with their display scale, ISO dates,
//!   times and timestamps with up to 6 fractional digits and an optional `+HH[:MM]`
//!   offset, MySQL-style intervals (`838:59:59`), `\x` hex bytea, canonical UUIDs, 0/1
//!   and t/f booleans, 0/1 bit strings.
//! - It never applies a typmod: the receive functions apply the column's typmod as the
//!   input functions do (numeric rounds to its scale and checks its precision,
//!   varchar and char check or pad their length, timestamps, times and intervals round
//!   their fractional seconds, bit checks its length), so PostgreSQL still does that
//!   and raises the same errors.
//! - Any other spelling (an invalid UUID, `+5`, ` 1.5`, `24:00:00`, a leap second, an
//!   out-of-range number, `infinity`) goes to PostgreSQL itself: a second, read-only
//!   session runs the column type's input function on the text and returns the binary
//!   value, or the error text COPY would have raised. A rejected row is still rejected
//!   in PostgreSQL's own words.
//! - Text types (text, varchar, char, json, jsonb, enums) go as their bytes: the receive
//!   functions check the encoding and parse JSON as the input functions do.
//! - A table with a column of any other type (or a domain), or whose dump encoding does
//!   not produce these spellings (text values in an integer column, say, which would
//!   all go to the second session), is loaded with text COPY as before.
//!
//! The CSV is read by the same reader that `--verify` and `waybill-verify` use to read
//! a dump (`compare::csvread`), so the values loaded are the values compared.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use postgres::types::{FromSql, Type};
use postgres::{Client, Statement};

use crate::compare::csvread::{CsvError, CsvReader};
use crate::dburl::DbUrl;
use crate::dump::encoding::{Encoding, HEX_VALUE};
use crate::error::{Error, Result, ResultExt};
use crate::source::Row;
use crate::target::describe;

/// Buffers of about this size go to the backend.
const BLOCK: usize = 256 * 1024;

/// The binary COPY header: signature, flags, no header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// How one column's text becomes its binary value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conv {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, char, json, enums: the bytes themselves.
    Text,
    /// jsonb: version 1, then the text.
    Jsonb,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Uuid,
    /// bit and bit varying.
    Bit,
}

impl Conv {
    fn for_type(oid: u32, typtype: &str) -> Option<Conv> {
        Some(match oid {
            16 => Conv::Bool,
            17 => Conv::Bytea,
            20 => Conv::Int8,
            21 => Conv::Int2,
            23 => Conv::Int4,
            25 | 114 | 1042 | 1043 => Conv::Text,
            700 => Conv::Float4,
            701 => Conv::Float8,
            1082 => Conv::Date,
            1083 => Conv::Time,
            1114 => Conv::Timestamp,
            1184 => Conv::Timestamptz,
            1186 => Conv::Interval,
            1560 | 1562 => Conv::Bit,
            1700 => Conv::Numeric,
            2950 => Conv::Uuid,
            3802 => Conv::Jsonb,
            _ if typtype == "e" => Conv::Text,
            _ => return None,
        })
    }

    /// Whether the dump writes this encoding in spellings the client converts itself.
    fn takes(self, e: Encoding) -> bool {
        use Encoding as E;
        match self {
            Conv::Text | Conv::Jsonb => true,
            Conv::Bool => e == E::BooleanInt,
            Conv::Int2 | Conv::Int4 | Conv::Int8 => {
                matches!(e, E::Integer | E::Year | E::BooleanInt)
            }
            Conv::Float4 | Conv::Float8 | Conv::Numeric => {
                matches!(e, E::Float | E::Double | E::Integer | E::Decimal | E::Year)
            }
            Conv::Bytea => e == E::ByteaHex,
            Conv::Date => e == E::Date,
            Conv::Time | Conv::Interval => e == E::TimeText,
            Conv::Timestamp | Conv::Timestamptz => {
                matches!(e, E::Datetime | E::TimestampUtc | E::Date)
            }
            Conv::Uuid => e == E::UuidText,
            Conv::Bit => e == E::BitString,
        }
    }
}

/// One column of a binary COPY, as the target has it.
pub(super) struct BinColumn {
    pub name: String,
    conv: Conv,
    /// The type's OID, and its input function with its number of arguments, for the
    /// values the client leaves to PostgreSQL.
    oid: u32,
    input: String,
    nargs: i16,
}

/// How a table's files are loaded.
pub(super) enum Format {
    Binary(Vec<BinColumn>),
    /// Text COPY, and why.
    Text(String),
}

/// Decides the format for COPY into `relation` (qualified) with `columns` (in CSV
/// order, each holding the dump encoding beside it), from the relation's column types
/// as the loading transaction sees them.
pub(super) fn plan(
    tx: &mut postgres::Transaction,
    relation: &str,
    columns: &[String],
    encodings: &[Encoding],
) -> Result<Format> {
    let rows = tx
        .query(
            "SELECT a.attname::text, a.atttypid, t.typtype::text, t.typinput::regproc::text, \
             p.pronargs, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             JOIN pg_proc p ON p.oid = t.typinput \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            &[&relation],
        )
        .ctx(|| format!("reading the column types of {relation}"))?;
    let by_name: HashMap<String, &postgres::Row> =
        rows.iter().map(|r| (r.get::<_, String>(0), r)).collect();
    let mut out = Vec::with_capacity(columns.len());
    for (name, enc) in columns.iter().zip(encodings) {
        let Some(r) = by_name.get(name) else {
            return Ok(Format::Text(format!("column `{name}` was not found")));
        };
        let (oid, typtype, input, nargs, shown): (u32, String, String, i16, String) =
            (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        let Some(conv) = Conv::for_type(oid, &typtype) else {
            return Ok(Format::Text(format!(
                "column `{name}` is {shown}, which the client does not convert"
            )));
        };
        if !conv.takes(*enc) {
            return Ok(Format::Text(format!(
                "column `{name}` ({shown}) holds {} values",
                crate::dump::validate::encoding_name(*enc)
            )));
        }
        out.push(BinColumn {
            name: name.clone(),
            conv,
            oid,
            input,
            nargs,
        });
    }
    Ok(Format::Binary(out))
}

/// Why streaming a file stopped.
pub(super) enum StreamError {
    /// The file is not well-formed CSV.
    Csv(CsvError),
    /// A record with the wrong number of fields (1-based record, header = 1).
    Fields {
        record: u64,
        found: usize,
        expected: usize,
    },
    /// PostgreSQL's input function refused a value (1-based record, column index). The
    /// rows before it were sent, then this row with that column and the ones after it
    /// NULL, and the end of the data: whether PostgreSQL refuses something earlier
    /// (which text COPY would have reported first) shows when the COPY is finished.
    Rejected {
        record: u64,
        column: usize,
        value: Vec<u8>,
        message: String,
    },
    /// Anything else (the second session failed, the load stopped).
    Other(Error),
}

impl From<Error> for StreamError {
    fn from(e: Error) -> Self {
        StreamError::Other(e)
    }
}

/// Streams one CSV file (header first, skipped) as binary COPY data: `send` gets a
/// buffer of about `BLOCK` bytes at a time, with the reader for progress, and leaves an
/// empty buffer in its place. Returns the data rows and the reader.
pub(super) fn stream<R: Read>(
    input: R,
    cols: &[BinColumn],
    oracle: &mut Oracle,
    send: &mut dyn FnMut(&mut Vec<u8>, &R) -> Result<()>,
) -> std::result::Result<(u64, R), StreamError> {
    let mut csv = CsvReader::new(input);
    let mut out: Vec<u8> = Vec::with_capacity(BLOCK + (64 << 10));
    let mut scratch = Scratch::default();
    out.extend_from_slice(HEADER);
    let mut rows = 0u64;
    // The header record.
    csv.next_record().map_err(StreamError::Csv)?;
    let fields = i16::try_from(cols.len())
        .map_err(|_| StreamError::Other(Error::config("more than 32767 columns")))?;
    while csv.next_record().map_err(StreamError::Csv)? {
        if csv.len() != cols.len() {
            return Err(StreamError::Fields {
                record: csv.records,
                found: csv.len(),
                expected: cols.len(),
            });
        }
        out.extend_from_slice(&fields.to_be_bytes());
        let rec = csv.record();
        for (i, col) in cols.iter().enumerate() {
            let Some(v) = rec.cell(i) else {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                continue;
            };
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            if !convert(col.conv, v, &mut out, &mut scratch) {
                out.truncate(at + 4);
                match oracle.convert(col, v, &mut out) {
                    Ok(()) => {}
                    Err(OracleError::Rejected(message)) => {
                        out.truncate(at);
                        for _ in i..cols.len() {
                            out.extend_from_slice(&(-1i32).to_be_bytes());
                        }
                        out.extend_from_slice(&(-1i16).to_be_bytes());
                        send(&mut out, csv.get_ref())?;
                        return Err(StreamError::Rejected {
                            record: csv.records,
                            column: i,
                            value: v[..v.len().min(64)].to_vec(),
                            message,
                        });
                    }
                    Err(OracleError::Failed(e)) => return Err(StreamError::Other(e)),
                }
            }
            let len = i32::try_from(out.len() - at - 4).map_err(|_| {
                StreamError::Other(Error::config("a value of more than 2 GiB cannot be loaded"))
            })?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        rows += 1;
        if out.len() >= BLOCK {
            send(&mut out, csv.get_ref())?;
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    send(&mut out, csv.get_ref())?;
    Ok((rows, csv.into_inner()))
}

#[derive(Default)]
struct Scratch {
    groups: Vec<u16>,
}

/// Writes the binary form of `v` (a plain spelling) to `out`; false when `v` is not one
/// (`out` then holds a partial value the caller discards).
fn convert(conv: Conv, v: &[u8], out: &mut Vec<u8>, s: &mut Scratch) -> bool {
    match conv {
        Conv::Text => {
            out.extend_from_slice(v);
            true
        }
        Conv::Jsonb => {
            out.push(1);
            out.extend_from_slice(v);
            true
        }
        Conv::Bool => {
            let b = match v {
                b"1" | b"t" | b"true" => 1,
                b"0" | b"f" | b"false" => 0,
                _ => return false,
            };
            out.push(b);
            true
        }
        Conv::Int2 => put(out, integer(v, i16::MIN.into(), i16::MAX.into()), |n| {
            (n as i16).to_be_bytes()
        }),
        Conv::Int4 => put(out, integer(v, i32::MIN.into(), i32::MAX.into()), |n| {
            (n as i32).to_be_bytes()
        }),
        Conv::Int8 => put(out, integer(v, i64::MIN, i64::MAX), i64::to_be_bytes),
        Conv::Float8 => put(out, float8(v), |x| x.to_bits().to_be_bytes()),
        Conv::Float4 => put(out, float4(v), |x| x.to_bits().to_be_bytes()),
        Conv::Numeric => numeric(v, out, &mut s.groups),
        Conv::Bytea => bytea(v, out),
        Conv::Date => put(out, date_only(v), i32::to_be_bytes),
        Conv::Time => put(out, time_of_day(v), i64::to_be_bytes),
        Conv::Timestamp => put(out, timestamp(v, false), i64::to_be_bytes),
        Conv::Timestamptz => put(out, timestamp(v, true), i64::to_be_bytes),
        Conv::Interval => match interval(v) {
            Some(us) => {
                out.extend_from_slice(&us.to_be_bytes());
                out.extend_from_slice(&[0; 8]);
                true
            }
            None => false,
        },
        Conv::Uuid => uuid(v, out),
        Conv::Bit => bits(v, out),
    }
}

fn put<T, const N: usize>(out: &mut Vec<u8>, v: Option<T>, bytes: impl Fn(T) -> [u8; N]) -> bool {
    match v {
        Some(v) => {
            out.extend_from_slice(&bytes(v));
            true
        }
        None => false,
    }
}

/// `-?[0-9]{1,19}` within `min..=max` (PostgreSQL also takes blanks around it and a
/// `+`: those go to the server).
fn integer(v: &[u8], min: i64, max: i64) -> Option<i64> {
    let (neg, d) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    if d.is_empty() || d.len() > 19 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = d.iter().fold(0i128, |n, &b| n * 10 + i128::from(b - b'0'));
    let n = if neg { -n } else { n };
    (n >= i128::from(min) && n <= i128::from(max)).then_some(n as i64)
}

/// The decimal spelling `-?(d+(.d*)?|.d+)([eE][+-]?d+)?` (at most 400 bytes); returns
/// whether a digit of the mantissa is not zero.
fn plain_float(v: &[u8]) -> Option<bool> {
    if v.len() > 400 {
        return None;
    }
    let mut i = usize::from(v.first() == Some(&b'-'));
    let (mut digits, mut nonzero) = (0, false);
    let mut run = |i: &mut usize| {
        while *i < v.len() && v[*i].is_ascii_digit() {
            nonzero |= v[*i] != b'0';
            digits += 1;
            *i += 1;
        }
    };
    run(&mut i);
    if v.get(i) == Some(&b'.') {
        i += 1;
        run(&mut i);
    }
    if digits == 0 {
        return None;
    }
    if matches!(v.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while i < v.len() && v[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    (i == v.len()).then_some(nonzero)
}

/// float8in's result for a plain spelling: strtod and Rust's parser both round
/// correctly. Overflow, and underflow to zero, are errors in PostgreSQL: the server
/// says so.
fn float8(v: &[u8]) -> Option<f64> {
    match v {
        b"NaN" => return Some(f64::from_bits(0x7ff8_0000_0000_0000)),
        b"Infinity" => return Some(f64::INFINITY),
        b"-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let nonzero = plain_float(v)?;
    let x: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    (x.is_finite() && (x != 0.0 || !nonzero)).then_some(x)
}

/// float4in's result: strtof, rounded once from the decimal (not through a double).
fn float4(v: &[u8]) -> Option<f32> {
    match v {
        b"NaN" => return Some(f32::from_bits(0x7fc0_0000)),
        b"Infinity" => return Some(f32::INFINITY),
        b"-Infinity" => return Some(f32::NEG_INFINITY),
        _ => {}
    }
    let nonzero = plain_float(v)?;
    let x: f32 = std::str::from_utf8(v).ok()?.parse().ok()?;
    (x.is_finite() && (x != 0.0 || !nonzero)).then_some(x)
}

/// numeric_in's value before its typmod, in numeric_send's format: base-10000 digits
/// aligned at the decimal point, the weight of the first, the sign, and the display
/// scale (the digits written after the point, less the exponent, at least 0). Plain
/// spellings `-?(d+(.d*)?|.d+)([eE][+-]?d+)?` of up to 1000 digits and exponents up to
/// 1000 in size.
fn numeric(v: &[u8], out: &mut Vec<u8>, groups: &mut Vec<u16>) -> bool {
    let (neg, body) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    let mut i = 0;
    while i < body.len() && body[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i;
    let mut frac_start = i;
    if body.get(i) == Some(&b'.') {
        i += 1;
        frac_start = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
    }
    let frac_len = i - frac_start;
    let n = int_len + frac_len;
    if n == 0 || n > 1000 {
        return false;
    }
    let mut exp: i32 = 0;
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < body.len() && body[i].is_ascii_digit() && i - start < 5 {
            exp = exp * 10 + i32::from(body[i] - b'0');
            i += 1;
        }
        if i == start || exp > 1000 {
            return false;
        }
        if negative {
            exp = -exp;
        }
    }
    if i != body.len() {
        return false;
    }
    let digit = |k: usize| -> u16 {
        let b = if k < int_len {
            body[k]
        } else {
            body[frac_start + k - int_len]
        };
        u16::from(b - b'0')
    };
    let dscale = (frac_len as i32 - exp).max(0);
    if dscale > 1000 {
        return false;
    }
    // Digit k stands for 10^(point - 1 - k).
    let point = int_len as i32 + exp;
    let Some(first) = (0..n).find(|&k| digit(k) != 0) else {
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(dscale as u16).to_be_bytes());
        return true;
    };
    let last = (0..n).rev().find(|&k| digit(k) != 0).unwrap_or(first);
    let w_hi = (point - 1 - first as i32).div_euclid(4);
    let w_lo = (point - 1 - last as i32).div_euclid(4);
    groups.clear();
    groups.resize((w_hi - w_lo + 1) as usize, 0);
    for k in first..=last {
        let d = digit(k);
        if d != 0 {
            let p = point - 1 - k as i32;
            let w = p.div_euclid(4);
            groups[(w_hi - w) as usize] += d * 10u16.pow((p - 4 * w) as u32);
        }
    }
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&(w_hi as i16).to_be_bytes());
    out.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&(dscale as u16).to_be_bytes());
    for g in groups.iter() {
        out.extend_from_slice(&g.to_be_bytes());
    }
    true
}

/// `\x` and pairs of hex digits (byteain also skips blanks between pairs, and reads
/// the escape format: the server does those).
fn bytea(v: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(hex) = v.strip_prefix(b"\\x") else {
        return false;
    };
    if hex.len() % 2 != 0 {
        return false;
    }
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        if hi == 0xff || lo == 0xff {
            return false;
        }
        out.push(hi << 4 | lo);
    }
    true
}

fn digits(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0')))
}

/// PostgreSQL's date2j: the Julian day of a (proleptic Gregorian) date.
fn date2j(year: i32, month: i32, day: i32) -> i32 {
    let (y, m) = if month > 2 {
        (year + 4800, month + 1)
    } else {
        (year + 4799, month + 13)
    };
    let century = y / 100;
    let mut julian = y * 365 - 32167;
    julian += y / 4 - century + century / 4;
    julian + 7834 * m / 256 + day
}

/// date2j(2000, 1, 1): the epoch of PostgreSQL's dates and timestamps.
const POSTGRES_EPOCH_JDATE: i32 = 2451545;

/// `YYYY-MM-DD` (years 0001 to 9999, a real day of that month): days since 2000-01-01.
fn date_only(v: &[u8]) -> Option<i32> {
    if v.len() != 10 {
        return None;
    }
    date_prefix(v)
}

fn date_prefix(v: &[u8]) -> Option<i32> {
    if v.len() < 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&v[0..4])?, digits(&v[5..7])?, digits(&v[8..10])?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if y == 0 || d == 0 || d > days {
        return None;
    }
    Some(date2j(y as i32, m as i32, d as i32) - POSTGRES_EPOCH_JDATE)
}

const USECS_PER_SEC: i64 = 1_000_000;

/// `HH:MM:SS` (hours up to `max_hour` digits wide, minutes and seconds 00-59) and an
/// optional `.` with 1 to 6 digits: microseconds, and the rest of `v`.
fn clock(v: &[u8], hour_digits: std::ops::RangeInclusive<usize>) -> Option<(i64, &[u8])> {
    let colon = v.iter().position(|&b| b == b':')?;
    if !hour_digits.contains(&colon) || v.len() < colon + 6 || v[colon + 3] != b':' {
        return None;
    }
    let h = i64::from(digits(&v[..colon])?);
    let m = i64::from(digits(&v[colon + 1..colon + 3])?);
    let s = i64::from(digits(&v[colon + 4..colon + 6])?);
    if m > 59 || s > 59 {
        return None;
    }
    let mut us = ((h * 60 + m) * 60 + s) * USECS_PER_SEC;
    let mut rest = &v[colon + 6..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 6 {
            return None;
        }
        let f = i64::from(digits(&frac[..n])?);
        us += f * 10i64.pow(6 - n as u32);
        rest = &frac[n..];
    }
    Some((us, rest))
}

/// time_in: `HH:MM:SS[.ffffff]`, hours 00-23.
fn time_of_day(v: &[u8]) -> Option<i64> {
    let (us, rest) = clock(v, 2..=2)?;
    (rest.is_empty() && us < 24 * 3600 * USECS_PER_SEC).then_some(us)
}

/// A MySQL TIME as interval_in reads it: `[-]H:MM:SS[.ffffff]` with 1 to 6 hour digits,
/// the sign applying to the whole time. Days and months stay 0.
fn interval(v: &[u8]) -> Option<i64> {
    let (neg, body) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    let (us, rest) = clock(body, 1..=6)?;
    rest.is_empty().then_some(if neg { -us } else { us })
}

/// timestamp_in / timestamptz_in: `YYYY-MM-DD`, optionally followed by ` HH:MM:SS`
/// (hours 00-23) with up to 6 fractional digits, then optionally an offset `+HH`,
/// `+HH:MM` (or `-`; hours up to 15). timestamp ignores the offset, as PostgreSQL
/// does; timestamptz subtracts it, and reads a time without one in the session's time
/// zone, which the import sets to UTC. Microseconds since 2000-01-01 00:00.
fn timestamp(v: &[u8], with_zone: bool) -> Option<i64> {
    let days = i64::from(date_prefix(v)?);
    let mut us = days * 86_400 * USECS_PER_SEC;
    if v.len() == 10 {
        return Some(us);
    }
    if v[10] != b' ' {
        return None;
    }
    let (time, rest) = clock(&v[11..], 2..=2)?;
    if time >= 24 * 3600 * USECS_PER_SEC {
        return None;
    }
    us += time;
    if rest.is_empty() {
        return Some(us);
    }
    let sign = match rest[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zone = &rest[1..];
    let (h, m) = match zone.len() {
        2 => (digits(zone)?, 0),
        5 if zone[2] == b':' => (digits(&zone[..2])?, digits(&zone[3..])?),
        _ => return None,
    };
    if h > 15 || m > 59 {
        return None;
    }
    if with_zone {
        us -= sign * i64::from(h * 3600 + m * 60) * USECS_PER_SEC;
    }
    Some(us)
}

/// A canonical UUID: 36 characters, hex digits (either case) with `-` after the 8th,
/// 12th, 16th and 20th (uuid_in also takes braces and other dash placements).
fn uuid(v: &[u8], out: &mut Vec<u8>) -> bool {
    if v.len() != 36 || v[8] != b'-' || v[13] != b'-' || v[18] != b'-' || v[23] != b'-' {
        return false;
    }
    let mut hex = v
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 8 | 13 | 18 | 23))
        .map(|(_, &b)| HEX_VALUE[b as usize]);
    for _ in 0..16 {
        match (hex.next(), hex.next()) {
            (Some(hi), Some(lo)) if hi != 0xff && lo != 0xff => out.push(hi << 4 | lo),
            _ => return false,
        }
    }
    true
}

/// A string of `0` and `1` (bit_in also reads `B...` and `X...`): its length in bits,
/// then the bits, most significant first, zero-padded to a byte.
fn bits(v: &[u8], out: &mut Vec<u8>) -> bool {
    if !v.iter().all(|&b| b == b'0' || b == b'1') {
        return false;
    }
    let Ok(len) = i32::try_from(v.len()) else {
        return false;
    };
    out.extend_from_slice(&len.to_be_bytes());
    for chunk in v.chunks(8) {
        let mut byte = 0u8;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'1' {
                byte |= 0x80 >> i;
            }
        }
        out.push(byte);
    }
    true
}

/// Any value, as PostgreSQL's binary output sends it.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

pub(super) enum OracleError {
    /// The input function refused the value: PostgreSQL's message.
    Rejected(String),
    Failed(Error),
}

/// The values the client does not convert itself, converted by PostgreSQL: a second,
/// read-only session (opened when first needed) runs the column type's input function
/// on the text (without a typmod, which COPY's receive function applies) and returns
/// the value in binary, which is what binary COPY takes.
pub(super) struct Oracle<'a> {
    url: &'a DbUrl,
    lock_timeout: Duration,
    client: Option<Client>,
    statements: HashMap<u32, Statement>,
    /// Values converted this way.
    pub calls: u64,
}

impl<'a> Oracle<'a> {
    pub(super) fn new(url: &'a DbUrl, lock_timeout: Duration) -> Self {
        Oracle {
            url,
            lock_timeout,
            client: None,
            statements: HashMap::new(),
            calls: 0,
        }
    }

    fn convert(
        &mut self,
        col: &BinColumn,
        v: &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), OracleError> {
        if self.client.is_none() {
            let mut c =
                crate::target::connect(self.url, self.lock_timeout).map_err(OracleError::Failed)?;
            c.batch_execute("SET default_transaction_read_only = on")
                .ctx(|| "setting up the session that reads unusual values".into())
                .map_err(OracleError::Failed)?;
            self.client = Some(c);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(OracleError::Failed(Error::config("no session")));
        };
        let st = match self.statements.entry(col.oid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                // The text arrives as bytes: convert_from checks its encoding as COPY does.
                let args = match col.nargs {
                    1 => "",
                    2 => ", $2::oid",
                    _ => ", $2::oid, -1",
                };
                let sql = format!(
                    "SELECT {}(convert_from($1::bytea, 'UTF8')::cstring{args})",
                    col.input
                );
                let st = client
                    .prepare(&sql)
                    .ctx(|| sql.clone())
                    .map_err(OracleError::Failed)?;
                e.insert(st)
            }
        };
        self.calls += 1;
        let row = if col.nargs == 1 {
            client.query_one(st, &[&v])
        } else {
            client.query_one(st, &[&v, &col.oid])
        };
        match row {
            Ok(row) => match row.try_get::<_, Raw>(0) {
                Ok(raw) => {
                    out.extend_from_slice(raw.0);
                    Ok(())
                }
                Err(e) => Err(OracleError::Failed(Error::config(format!(
                    "reading the value PostgreSQL converted: {e}"
                )))),
            },
            Err(e) if e.as_db_error().is_some() => Err(OracleError::Rejected(describe(&e))),
            Err(e) => Err(OracleError::Failed(Error::Database {
                context: "converting a value with PostgreSQL's input function".into(),
                message: describe(&e),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(c: Conv, v: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        convert(c, v.as_bytes(), &mut out, &mut Scratch::default()).then_some(out)
    }

    fn num(v: &str) -> Option<(i16, i16, u16, u16, Vec<u16>)> {
        let b = conv(Conv::Numeric, v)?;
        let w = |i: usize| u16::from_be_bytes([b[2 * i], b[2 * i + 1]]);
        let n = w(0) as usize;
        Some((
            w(0) as i16,
            w(1) as i16,
            w(2),
            w(3),
            (0..n).map(|i| w(4 + i)).collect(),
        ))
    }

    #[test]
    fn numerics_as_numeric_send_writes_them() {
        assert_eq!(num("123.45"), Some((2, 0, 0, 2, vec![123, 4500])));
        assert_eq!(num("-0.0001"), Some((1, -1, 0x4000, 4, vec![1])));
        assert_eq!(num("10000"), Some((1, 1, 0, 0, vec![1])));
        assert_eq!(num("1.50"), Some((2, 0, 0, 2, vec![1, 5000])));
        assert_eq!(num("0.00"), Some((0, 0, 0, 2, vec![])));
        assert_eq!(num("-0"), Some((0, 0, 0, 0, vec![])));
        assert_eq!(num("1.23e-5"), Some((1, -2, 0, 7, vec![1230])));
        assert_eq!(num("12e3"), Some((2, 1, 0, 0, vec![1, 2000])));
        assert_eq!(num(".5"), Some((1, -1, 0, 1, vec![5000])));
        assert_eq!(num("5."), Some((1, 0, 0, 0, vec![5])));
        assert_eq!(
            num("18446744073709551615"),
            Some((5, 4, 0, 0, vec![1844, 6744, 737, 955, 1615]))
        );
        for odd in [
            "", "-", ".", "+1", " 1", "1 ", "1e", "1e1001", "NaN", "1,5", "0x10",
        ] {
            assert_eq!(num(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn plain_spellings_only() {
        assert_eq!(
            conv(Conv::Int4, "-2147483648"),
            Some(i32::MIN.to_be_bytes().to_vec())
        );
        assert_eq!(conv(Conv::Int4, "2147483648"), None);
        assert_eq!(conv(Conv::Int2, "007"), Some(7i16.to_be_bytes().to_vec()));
        for odd in ["+1", " 1", "1.0", "", "-"] {
            assert_eq!(conv(Conv::Int8, odd), None, "{odd:?}");
        }
        assert_eq!(
            conv(Conv::Float8, "0.1"),
            Some(0.1f64.to_bits().to_be_bytes().to_vec())
        );
        assert_eq!(
            conv(Conv::Float4, "0.1"),
            Some(0.1f32.to_bits().to_be_bytes().to_vec())
        );
        assert_eq!(
            conv(Conv::Float8, "1e400"),
            None,
            "overflow: the server says so"
        );
        assert_eq!(
            conv(Conv::Float8, "1e-400"),
            None,
            "underflow: the server says so"
        );
        assert_eq!(
            conv(Conv::Float8, "0e-400"),
            Some(0f64.to_bits().to_be_bytes().to_vec())
        );
        assert_eq!(conv(Conv::Float4, "1e39"), None);
        assert_eq!(conv(Conv::Float8, "inf"), None);
        assert_eq!(conv(Conv::Bool, "1"), Some(vec![1]));
        assert_eq!(conv(Conv::Bool, "2"), None);
        assert_eq!(conv(Conv::Bytea, "\\x00ffAb"), Some(vec![0x00, 0xff, 0xab]));
        assert_eq!(conv(Conv::Bytea, "\\x0"), None);
        assert_eq!(conv(Conv::Bytea, "abc"), None);
        assert_eq!(
            conv(Conv::Uuid, "A0EEBC99-9c0b-4ef8-bb6d-6bb9bd380a11").map(|b| b.len()),
            Some(16)
        );
        assert_eq!(
            conv(Conv::Uuid, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
            None
        );
        assert_eq!(conv(Conv::Bit, "101"), Some(vec![0, 0, 0, 3, 0b1010_0000]));
        assert_eq!(conv(Conv::Bit, "x1"), None);
    }

    #[test]
    fn dates_and_times_from_the_postgres_epoch() {
        let day = 86_400 * USECS_PER_SEC;
        assert_eq!(date_only(b"2000-01-01"), Some(0));
        assert_eq!(date_only(b"1999-12-31"), Some(-1));
        assert_eq!(date_only(b"2024-02-29"), Some(8825));
        assert_eq!(date_only(b"2023-02-29"), None);
        assert_eq!(date_only(b"0000-01-01"), None);
        assert_eq!(
            date_only(b"0001-01-01"),
            Some(date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE)
        );
        assert_eq!(
            timestamp(b"2000-01-02 00:00:01.5", false),
            Some(day + 1_500_000)
        );
        assert_eq!(
            timestamp(b"2000-01-01 10:00:00+05:30", true),
            Some(10 * 3600 * USECS_PER_SEC - 5 * 3600 * USECS_PER_SEC - 30 * 60 * USECS_PER_SEC)
        );
        assert_eq!(
            timestamp(b"2000-01-01 10:00:00+05", false),
            Some(10 * 3600 * USECS_PER_SEC),
            "timestamp ignores the offset"
        );
        assert_eq!(timestamp(b"2000-01-01 10:00:00.1234567", false), None);
        assert_eq!(timestamp(b"2000-01-01 24:00:00", false), None);
        assert_eq!(timestamp(b"2000-01-01 23:59:60", false), None);
        assert_eq!(timestamp(b"2000-01-01T10:00:00", false), None);
        assert_eq!(
            interval(b"838:59:59"),
            Some((838 * 3600 + 59 * 60 + 59) * USECS_PER_SEC)
        );
        assert_eq!(interval(b"-00:00:01.5"), Some(-1_500_000));
        assert_eq!(time_of_day(b"23:59:59.999999"), Some(day - 1));
        assert_eq!(time_of_day(b"24:00:00"), None);
    }
}
