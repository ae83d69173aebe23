//! What a value means, independent of how a side spells it. Each side's text is parsed
//! into a canonical form, and two values are equal when their canonical forms are equal
//! byte for byte. The sides are parsed independently: the dump's CSV text by the
//! column's `Encoding`, PostgreSQL's output by the target column's type, MySQL's text
//! output by its column's encoding. Nothing here re-encodes one side with the code that
//! wrote the dump.
//!
//! The canonical forms (a tag byte, then the payload):
//! - NULL;
//! - text: the bytes; for `character(n)` the stored value's blank padding is dropped;
//! - number: an exact decimal `[-]DIGITSeEXP` with no leading or trailing zeros, so
//!   `1.50` and `1.5` are equal and `1.2345679e+08` is exactly 123456790. A float
//!   column's value is its shortest round-trip decimal at its own width; booleans are 0/1;
//! - instant: nanoseconds since 1970 UTC; a date is its midnight, a naive datetime is UTC,
//!   an offset is applied, ` BC` years count backwards;
//! - interval: total microseconds (a month is 30 days, a day 24 hours: PostgreSQL's own
//!   interval equality);
//! - uuid: its 16 bytes, whatever the case or hyphenation;
//! - JSON: structure with objects as key-sorted lists of (key, value), duplicates kept,
//!   numbers by value, so whitespace and key order do not count but a dropped duplicate
//!   key does;
//! - bytes (bytea), bit strings (`0`/`1` digits), lists (a SET or a `text[]`).
//!
//! A value a side cannot parse keeps its raw bytes under its own tag, so it never equals
//! a parsed one.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::dump::encoding::Encoding;
use crate::dump::encoding::HEX_VALUE;
use crate::target::pgtype::PgType;

/// How a column's values are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    /// character(n): the stored value's trailing blanks are padding.
    PaddedText,
    Number,
    Instant,
    Interval,
    Uuid,
    Json,
    Bytes,
    Bits,
    List,
}

const NULL: u8 = 0;
const TEXT: u8 = 1;
const NUMBER: u8 = 2;
const INSTANT: u8 = 3;
const INTERVAL: u8 = 4;
const UUID: u8 = 5;
const JSON: u8 = 6;
const BYTES: u8 = 7;
const BITS: u8 = 8;
const LIST: u8 = 9;
const RAW: u8 = 10;

/// Which side's spelling a parser reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// A dump's CSV text, written with this encoding.
    Dump(Encoding),
    /// PostgreSQL's text output for a column of this type.
    Pg(PgType),
    /// A live source's value as its reader hands it over (the text form the column's
    /// encoding expects: MySQL's text protocol, or what the SQLite source converted to).
    Source {
        encoding: Encoding,
        /// bit(n) width.
        bits: u64,
        /// The dump was written with `--nul strip`: NUL bytes in text do not count.
        strip_nul: bool,
    },
}

impl Kind {
    /// The comparison a target column type calls for.
    pub(crate) fn for_target(t: &PgType) -> Kind {
        match t {
            PgType::Text | PgType::Varchar(_) | PgType::TimeTz | PgType::Geometry => Kind::Text,
            PgType::Char(_) => Kind::PaddedText,
            PgType::SmallInt
            | PgType::Integer
            | PgType::BigInt
            | PgType::Numeric(_)
            | PgType::Real
            | PgType::Double
            | PgType::Boolean => Kind::Number,
            PgType::Date | PgType::Timestamp(_) | PgType::Timestamptz(_) => Kind::Instant,
            PgType::Time(_) | PgType::Interval => Kind::Interval,
            PgType::Uuid => Kind::Uuid,
            PgType::Json | PgType::Jsonb => Kind::Json,
            PgType::Bytea => Kind::Bytes,
            PgType::Bit(_) | PgType::VarBit(_) => Kind::Bits,
            PgType::TextArray => Kind::List,
            PgType::Other(_) => Kind::Text,
        }
    }

    /// The comparison between a dump and its live source (no target type).
    pub(crate) fn for_encoding(e: Encoding) -> Kind {
        match e {
            Encoding::Integer
            | Encoding::BooleanInt
            | Encoding::Decimal
            | Encoding::Float
            | Encoding::Double
            | Encoding::Year => Kind::Number,
            Encoding::BitString => Kind::Bits,
            Encoding::Date | Encoding::Datetime | Encoding::TimestampUtc => Kind::Instant,
            Encoding::TimeText => Kind::Interval,
            Encoding::ByteaHex => Kind::Bytes,
            Encoding::Text
            | Encoding::UuidText
            | Encoding::EnumText
            | Encoding::SetText
            | Encoding::JsonText
            | Encoding::GeometryEwkt => Kind::Text,
        }
    }
}

/// Appends the canonical form of one cell to `out`.
pub(crate) fn canon(kind: Kind, flavor: &Flavor, raw: Option<&[u8]>, out: &mut Vec<u8>) {
    let Some(v) = raw else {
        out.push(NULL);
        return;
    };
    if let Flavor::Source {
        encoding,
        bits,
        strip_nul,
    } = flavor
    {
        return canon_source(kind, *encoding, *bits, *strip_nul, v, out);
    }
    let ok = match kind {
        Kind::Text => {
            put(out, TEXT, v);
            true
        }
        Kind::PaddedText => {
            let v = match flavor {
                Flavor::Pg(_) => trim_blanks(v),
                _ => v,
            };
            put(out, TEXT, v);
            true
        }
        Kind::Number => number(flavor, v, out),
        Kind::Instant => instant(v)
            .map(|n| put(out, INSTANT, &n.to_le_bytes()))
            .is_some(),
        Kind::Interval => interval(v)
            .map(|n| put(out, INTERVAL, &n.to_le_bytes()))
            .is_some(),
        Kind::Uuid => uuid(v).map(|u| put(out, UUID, &u)).is_some(),
        Kind::Json => json(v, out),
        Kind::Bytes => match flavor {
            Flavor::Dump(e) if *e != Encoding::ByteaHex => bytea_input(v, out),
            _ => hex_bytes(v, out),
        },
        Kind::Bits => {
            if v.iter().all(|b| matches!(b, b'0' | b'1')) {
                put(out, BITS, v);
                true
            } else {
                false
            }
        }
        Kind::List => match flavor {
            Flavor::Dump(Encoding::SetText) => {
                set_list(v, out);
                true
            }
            _ => pg_array(v, out),
        },
    };
    if !ok {
        put(out, RAW, v);
    }
}

fn trim_blanks(v: &[u8]) -> &[u8] {
    let n = v.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &v[..n]
}

/// Tag, u32 length, payload.
fn put(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Starts a length-prefixed payload; `finish` fills in its length.
fn open(out: &mut Vec<u8>, tag: u8) -> usize {
    out.push(tag);
    out.extend_from_slice(&[0; 4]);
    out.len()
}

fn finish(out: &mut [u8], start: usize) {
    let n = (out.len() - start) as u32;
    out[start - 4..start].copy_from_slice(&n.to_le_bytes());
}

// ---------------------------------------------------------------- numbers

/// Writes the exact decimal `s` in canonical form (no tag); false if `s` is not a number.
pub(crate) fn decimal_into(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mark = out.len();
    let special: Option<&[u8]> = match s {
        b"NaN" | b"nan" => Some(b"NaN"),
        b"Infinity" | b"+Infinity" | b"inf" | b"+inf" => Some(b"Infinity"),
        b"-Infinity" | b"-inf" => Some(b"-Infinity"),
        _ => None,
    };
    if let Some(sp) = special {
        out.extend_from_slice(sp);
        return true;
    }
    let mut i = 0;
    let neg = s.first() == Some(&b'-');
    if matches!(s.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    out.push(b'-');
    let digits_at = out.len();
    let mut exp: i64 = 0;
    let mut seen = false;
    while i < s.len() && s[i].is_ascii_digit() {
        seen = true;
        if s[i] != b'0' || out.len() > digits_at {
            out.push(s[i]);
        }
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            seen = true;
            if s[i] != b'0' || out.len() > digits_at {
                out.push(s[i]);
            }
            exp -= 1;
            i += 1;
        }
    }
    if seen && i < s.len() && matches!(s[i], b'e' | b'E') {
        i += 1;
        let eneg = s.get(i) == Some(&b'-');
        if matches!(s.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let start = i;
        let mut e: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = (e * 10 + i64::from(s[i] - b'0')).min(1 << 40);
            i += 1;
        }
        if i == start {
            out.truncate(mark);
            return false;
        }
        exp += if eneg { -e } else { e };
    }
    if !seen || i != s.len() {
        out.truncate(mark);
        return false;
    }
    while out.len() > digits_at && out.last() == Some(&b'0') {
        out.pop();
        exp += 1;
    }
    if out.len() == digits_at {
        // Zero, whatever its sign or scale.
        out.truncate(mark);
        out.push(b'0');
        return true;
    }
    if !neg {
        out.remove(mark);
    }
    out.push(b'e');
    write_int(out, exp);
    true
}

/// The decimal text of `-m` (when `neg`) or `m`, in `buf`, without allocating.
fn int_text(neg: bool, mut m: u64, buf: &mut [u8; 21]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 21];
    out.extend_from_slice(int_text(n < 0, n.unsigned_abs(), &mut buf));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Width {
    F32,
    F64,
}

/// A float's value: the shortest decimal that reads back as the same float of its width.
fn float_into(s: &[u8], width: Width, out: &mut Vec<u8>) -> bool {
    let Ok(text) = std::str::from_utf8(s) else {
        return false;
    };
    let mut buf = ryu::Buffer::new();
    let shortest = match width {
        Width::F32 => match text.parse::<f32>() {
            Ok(f) if f.is_finite() => buf.format_finite(f),
            _ => return decimal_into(s, out),
        },
        Width::F64 => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => buf.format_finite(f),
            _ => return decimal_into(s, out),
        },
    };
    decimal_into(shortest.as_bytes(), out)
}

fn boolean_word(v: &[u8]) -> Option<bool> {
    let t = std::str::from_utf8(v).ok()?.trim().to_ascii_lowercase();
    match t.as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn number(flavor: &Flavor, v: &[u8], out: &mut Vec<u8>) -> bool {
    let start = open(out, NUMBER);
    let ok = match flavor {
        Flavor::Pg(PgType::Boolean) => match v {
            b"t" => decimal_into(b"1", out),
            b"f" => decimal_into(b"0", out),
            _ => false,
        },
        Flavor::Pg(PgType::Real) => float_into(v, Width::F32, out),
        Flavor::Pg(PgType::Double) => float_into(v, Width::F64, out),
        Flavor::Dump(Encoding::Float) => float_into(v, Width::F32, out),
        Flavor::Dump(Encoding::Double) => float_into(v, Width::F64, out),
        _ => {
            decimal_into(v, out)
                || boolean_word(v).is_some_and(|b| decimal_into(if b { b"1" } else { b"0" }, out))
        }
    };
    if ok {
        finish(out, start);
    } else {
        out.truncate(start - 5);
    }
    ok
}

// ---------------------------------------------------------------- instants

/// Days from 1970-01-01 to the proleptic Gregorian date (astronomical year numbering).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn digits(s: &[u8], i: &mut usize, min: usize, max: usize) -> Option<i64> {
    let start = *i;
    let mut n: i64 = 0;
    while *i < s.len() && *i - start < max && s[*i].is_ascii_digit() {
        n = n * 10 + i64::from(s[*i] - b'0');
        *i += 1;
    }
    (*i - start >= min).then_some(n)
}

/// `.ffff` as nanoseconds (up to 9 digits; more is not a value we can hold exactly).
fn fraction(s: &[u8], i: &mut usize) -> Option<i64> {
    if s.get(*i) != Some(&b'.') {
        return Some(0);
    }
    *i += 1;
    let start = *i;
    let mut n: i64 = 0;
    while *i < s.len() && s[*i].is_ascii_digit() {
        if *i - start >= 9 {
            if s[*i] != b'0' {
                return None;
            }
        } else {
            n = n * 10 + i64::from(s[*i] - b'0');
        }
        *i += 1;
    }
    let used = (*i - start).min(9);
    if used == 0 {
        return None;
    }
    Some(n * 10i64.pow(9 - used as u32))
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][offset][ BC]`, `infinity`, `-infinity`: nanoseconds
/// since 1970-01-01 00:00 UTC.
pub(crate) fn instant(v: &[u8]) -> Option<i128> {
    match v {
        b"infinity" => return Some(i128::MAX),
        b"-infinity" => return Some(i128::MIN),
        _ => {}
    }
    let (s, bc) = match v.strip_suffix(b" BC") {
        Some(s) => (s, true),
        None => (v, false),
    };
    let mut i = 0;
    let year = digits(s, &mut i, 4, 9)?;
    if s.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let month = digits(s, &mut i, 2, 2)?;
    if s.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = digits(s, &mut i, 2, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if bc { 1 - year } else { year };
    let mut nanos: i128 = i128::from(days_from_civil(year, month, day)) * 86_400_000_000_000;
    if matches!(s.get(i), Some(b' ' | b'T')) {
        i += 1;
        let h = digits(s, &mut i, 2, 2)?;
        if s.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        let m = digits(s, &mut i, 2, 2)?;
        let mut sec = 0;
        if s.get(i) == Some(&b':') {
            i += 1;
            sec = digits(s, &mut i, 2, 2)?;
        }
        let frac = fraction(s, &mut i)?;
        nanos += i128::from((h * 3600 + m * 60 + sec) * 1_000_000_000 + frac);
    }
    match s.get(i) {
        None => {}
        Some(b'Z') if i + 1 == s.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            i += 1;
            let oh = digits(s, &mut i, 2, 2)?;
            let mut om = 0;
            let mut os = 0;
            if s.get(i) == Some(&b':') {
                i += 1;
                om = digits(s, &mut i, 2, 2)?;
                if s.get(i) == Some(&b':') {
                    i += 1;
                    os = digits(s, &mut i, 2, 2)?;
                }
            }
            if i != s.len() {
                return None;
            }
            let offset = i128::from((oh * 3600 + om * 60 + os) * 1_000_000_000);
            // Local time = UTC + offset.
            nanos -= if sign == b'+' { offset } else { -offset };
        }
        Some(_) => return None,
    }
    Some(nanos)
}

// ---------------------------------------------------------------- intervals

/// `[-]H+:MM[:SS[.f]]` as microseconds.
fn clock(t: &[u8]) -> Option<i128> {
    let (neg, t) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut i = 0;
    let h = digits(t, &mut i, 1, 12)?;
    if t.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let m = digits(t, &mut i, 2, 2)?;
    let mut s = 0;
    if t.get(i) == Some(&b':') {
        i += 1;
        s = digits(t, &mut i, 2, 2)?;
    }
    let frac = fraction(t, &mut i)?;
    if i != t.len() {
        return None;
    }
    if frac % 1000 != 0 {
        return None;
    }
    let micros = i128::from((h * 3600 + m * 60 + s) * 1_000_000 + frac / 1000);
    Some(if neg { -micros } else { micros })
}

/// PostgreSQL interval output (`1 year 2 mons -3 days +04:05:06.5`), a `time` value, or
/// a MySQL TIME (`-838:59:59`): total microseconds, a month being 30 days.
pub(crate) fn interval(v: &[u8]) -> Option<i128> {
    const DAY: i128 = 86_400_000_000;
    let text = std::str::from_utf8(v).ok()?;
    let mut total: i128 = 0;
    let mut words = text.split_ascii_whitespace().peekable();
    let mut any = false;
    while let Some(w) = words.next() {
        any = true;
        if w.contains(':') {
            total += clock(w.as_bytes())?;
            continue;
        }
        let n: i128 = w.parse().ok()?;
        let unit = words.next()?;
        total += n * match unit.trim_end_matches('s') {
            "year" => 360 * DAY,
            "mon" => 30 * DAY,
            "day" => DAY,
            _ => return None,
        };
    }
    any.then_some(total)
}

// ---------------------------------------------------------------- uuids, bytes, lists

pub(crate) fn uuid(v: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut n = 0;
    let body = v
        .strip_prefix(b"{")
        .and_then(|b| b.strip_suffix(b"}"))
        .unwrap_or(v);
    for &b in body {
        if b == b'-' {
            continue;
        }
        let d = (b as char).to_digit(16)? as u8;
        if n >= 32 {
            return None;
        }
        out[n / 2] |= if n % 2 == 0 { d << 4 } else { d };
        n += 1;
    }
    (n == 32).then_some(out)
}

fn hex_bytes(v: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(hex) = v.strip_prefix(b"\\x") else {
        return false;
    };
    if hex.len() % 2 != 0 {
        return false;
    }
    let start = open(out, BYTES);
    let at = out.len();
    out.resize(at + hex.len() / 2, 0);
    let mut bad = 0u8;
    for (o, pair) in out[at..].iter_mut().zip(hex.chunks_exact(2)) {
        let (h, l) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        bad |= h | l;
        *o = (h << 4) | (l & 0x0f);
    }
    if bad == 0xff || bad & 0xf0 != 0 {
        out.truncate(start - 5);
        return false;
    }
    finish(out, start);
    true
}

/// Text read as bytea input: `\x` hex, or the escape format (`\\`, `\ooo`).
fn bytea_input(v: &[u8], out: &mut Vec<u8>) -> bool {
    if v.starts_with(b"\\x") {
        return hex_bytes(v, out);
    }
    let start = open(out, BYTES);
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'\\' {
            out.push(v[i]);
            i += 1;
        } else if v.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if i + 3 < v.len() && v[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let n = u32::from(v[i + 1] - b'0') * 64
                + u32::from(v[i + 2] - b'0') * 8
                + u32::from(v[i + 3] - b'0');
            if n > 255 {
                out.truncate(start - 5);
                return false;
            }
            out.push(n as u8);
            i += 4;
        } else {
            out.truncate(start - 5);
            return false;
        }
    }
    finish(out, start);
    true
}

/// A MySQL SET as text: members joined by commas; the empty string is the empty set.
fn set_list(v: &[u8], out: &mut Vec<u8>) {
    let start = open(out, LIST);
    if !v.is_empty() {
        for m in v.split(|&b| b == b',') {
            put(out, TEXT, m);
        }
    }
    finish(out, start);
}

/// A one-dimensional PostgreSQL array literal: `{a,"b c",NULL,"x\"y"}`.
fn pg_array(v: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(body) = v.strip_prefix(b"{").and_then(|b| b.strip_suffix(b"}")) else {
        return false;
    };
    let start = open(out, LIST);
    let mut i = 0;
    let mut elem = Vec::new();
    let fail = |out: &mut Vec<u8>| {
        out.truncate(start - 5);
        false
    };
    if body.is_empty() {
        finish(out, start);
        return true;
    }
    loop {
        elem.clear();
        if body.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match body.get(i) {
                    None => return fail(out),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&c) = body.get(i + 1) else {
                            return fail(out);
                        };
                        elem.push(c);
                        i += 2;
                    }
                    Some(&c) => {
                        elem.push(c);
                        i += 1;
                    }
                }
            }
            put(out, TEXT, &elem);
        } else {
            let end = body[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(body.len(), |p| i + p);
            let raw = &body[i..end];
            if raw.contains(&b'{') {
                return fail(out);
            }
            if raw.eq_ignore_ascii_case(b"NULL") {
                out.push(NULL);
            } else {
                put(out, TEXT, raw);
            }
            i = end;
        }
        match body.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return fail(out),
        }
    }
    finish(out, start);
    true
}

// ---------------------------------------------------------------- JSON

/// JSON text in canonical form: objects as key-sorted (key, value) lists with duplicate
/// keys kept, numbers as canonical decimals, strings unescaped.
fn json(v: &[u8], out: &mut Vec<u8>) -> bool {
    let start = open(out, JSON);
    let mut de = serde_json::Deserializer::from_slice(v);
    let ok = JsonCanon(out).deserialize(&mut de).is_ok() && de.end().is_ok();
    if ok {
        finish(out, start);
    } else {
        out.truncate(start - 5);
    }
    ok
}

struct JsonCanon<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for JsonCanon<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonCanon<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push(b'n');
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.0.push(if b { b't' } else { b'f' });
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        json_number(self.0, int_text(false, n, &mut buf));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        let mut buf = [0u8; 21];
        json_number(self.0, int_text(n < 0, n.unsigned_abs(), &mut buf));
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        let mut buf = ryu::Buffer::new();
        json_number(self.0, buf.format(n).as_bytes());
        Ok(())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        put(self.0, b's', s.as_bytes());
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'[');
        while seq.next_element_seed(JsonCanon(&mut *self.0))?.is_some() {}
        self.0.push(b']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Entries are written in place as (key, value), then put in key order (stable:
        // duplicate keys keep their order). The order is that of the canonical key
        // bytes (length first), which is also jsonb's: its output needs no reordering.
        let out = self.0;
        out.push(b'{');
        let start = out.len();
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        loop {
            let k = out.len();
            if map.next_key_seed(JsonKey(&mut *out))?.is_none() {
                break;
            }
            let v = out.len();
            map.next_value_seed(JsonCanon(&mut *out))?;
            spans.push((k, v, out.len()));
        }
        if spans
            .windows(2)
            .any(|w| out[w[0].0..w[0].1] > out[w[1].0..w[1].1])
        {
            let region = out[start..].to_vec();
            let key = |i: usize| &region[spans[i].0 - start..spans[i].1 - start];
            let mut order: Vec<usize> = (0..spans.len()).collect();
            order.sort_by(|&a, &b| key(a).cmp(key(b)));
            out.truncate(start);
            for i in order {
                let (k, _, e) = spans[i];
                out.extend_from_slice(&region[k - start..e - start]);
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// An object key, written in canonical form.
struct JsonKey<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for JsonKey<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for JsonKey<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        put(self.0, b's', s.as_bytes());
        Ok(())
    }
}

fn json_number(out: &mut Vec<u8>, text: &[u8]) {
    let start = open(out, b'd');
    if !decimal_into(text, out) {
        out.extend_from_slice(text);
    }
    finish(out, start);
}

// ---------------------------------------------------------------- MySQL's text output

fn is_zero_date(v: &[u8]) -> bool {
    v.len() >= 10 && (&v[0..4] == b"0000" || &v[5..7] == b"00" || &v[8..10] == b"00")
}

/// MySQL's text-protocol value. The dump's documented conversions apply (zero dates and
/// empty char(36) values are NULL); values are then read for their meaning. For a text
/// comparison (a non-text value into a text column) the value is spelled the way the dump
/// documents it, since that is the text the target received.
fn canon_source(kind: Kind, e: Encoding, bits: u64, strip_nul: bool, v: &[u8], out: &mut Vec<u8>) {
    if (matches!(
        e,
        Encoding::Date | Encoding::Datetime | Encoding::TimestampUtc
    ) && is_zero_date(v))
        || (e == Encoding::UuidText && v.is_empty())
    {
        out.push(NULL);
        return;
    }
    let stripped: Vec<u8>;
    let v = if strip_nul && memchr::memchr(0, v).is_some() && kind == Kind::Text {
        stripped = v.iter().copied().filter(|&b| b != 0).collect();
        &stripped[..]
    } else {
        v
    };
    let ok = match (kind, e) {
        (Kind::Bytes, Encoding::ByteaHex) => {
            put(out, BYTES, v);
            true
        }
        (Kind::Bits, Encoding::BitString) => {
            let digits = bit_digits(v, bits);
            put(out, BITS, digits.as_bytes());
            true
        }
        (Kind::Number, Encoding::BitString) => {
            let n = v.iter().fold(0u128, |n, &b| (n << 8) | u128::from(b));
            let start = open(out, NUMBER);
            decimal_into(n.to_string().as_bytes(), out); // bit(n) into boolean: rare
            finish(out, start);
            true
        }
        (Kind::Number, Encoding::Float) => {
            // Read as a double (the exact float widened): its value is that float's.
            let f = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<f64>().ok());
            match f {
                Some(f) => {
                    let mut buf = ryu::Buffer::new();
                    let start = open(out, NUMBER);
                    decimal_into(buf.format(f as f32).as_bytes(), out);
                    finish(out, start);
                    true
                }
                None => false,
            }
        }
        (Kind::Number, Encoding::Double) => {
            let start = open(out, NUMBER);
            let ok = float_into(v, Width::F64, out);
            if ok {
                finish(out, start);
            } else {
                out.truncate(start - 5);
            }
            ok
        }
        (Kind::Text | Kind::PaddedText, _) => {
            source_dump_text(e, bits, v, out);
            true
        }
        _ => {
            canon(kind, &Flavor::Dump(e), Some(v), out);
            true
        }
    };
    if !ok {
        put(out, RAW, v);
    }
}

fn bit_digits(v: &[u8], width: u64) -> String {
    let n = v.iter().fold(0u128, |n, &b| (n << 8) | u128::from(b));
    format!("{n:0width$b}", width = width.max(1) as usize)
}

/// The text the dump documents for a MySQL value (see the README's value table).
fn source_dump_text(e: Encoding, bits: u64, v: &[u8], out: &mut Vec<u8>) {
    match e {
        Encoding::ByteaHex => {
            let start = open(out, TEXT);
            out.extend_from_slice(b"\\x");
            out.extend_from_slice(hex::encode(v).as_bytes());
            finish(out, start);
        }
        Encoding::BitString => put(out, TEXT, bit_digits(v, bits).as_bytes()),
        Encoding::TimestampUtc => {
            let start = open(out, TEXT);
            out.extend_from_slice(v);
            out.extend_from_slice(b"+00");
            finish(out, start);
        }
        Encoding::Year => {
            let trimmed = match v.iter().position(|&b| b != b'0') {
                Some(i) => &v[i..],
                None => b"0",
            };
            put(out, TEXT, trimmed);
        }
        Encoding::Float => {
            let f = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<f64>().ok());
            match f {
                Some(f) => {
                    let mut buf = ryu::Buffer::new();
                    put(out, TEXT, buf.format(f as f32).as_bytes());
                }
                None => put(out, TEXT, v),
            }
        }
        _ => put(out, TEXT, v),
    }
}

/// A canonical cell for people: the value as a short quoted string, or NULL.
pub(crate) fn show_raw(raw: Option<&[u8]>) -> String {
    match raw {
        None => "NULL".into(),
        Some(v) => {
            let s = String::from_utf8_lossy(&v[..v.len().min(60)]).into_owned();
            if v.len() > 60 {
                format!("{s:?}... ({} bytes)", v.len())
            } else {
                format!("{s:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Option<String> {
        let mut out = Vec::new();
        decimal_into(s.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    fn c(kind: Kind, flavor: Flavor, raw: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        canon(kind, &flavor, raw.map(str::as_bytes), &mut out);
        out
    }

    fn pg(t: &str) -> Flavor {
        Flavor::Pg(PgType::parse(t))
    }

    fn my(e: Encoding) -> Flavor {
        Flavor::Source {
            encoding: e,
            bits: 5,
            strip_nul: false,
        }
    }

    fn same(kind: Kind, a: (Flavor, Option<&str>), b: (Flavor, Option<&str>)) -> bool {
        c(kind, a.0, a.1) == c(kind, b.0, b.1)
    }

    #[test]
    fn decimals() {
        assert_eq!(dec("1.50").as_deref(), Some("15e-1"));
        assert_eq!(dec("1.5"), dec("1.50"));
        assert_eq!(dec("+001.500"), dec("1.5"));
        assert_eq!(dec("-0").as_deref(), Some("0"));
        assert_eq!(dec("-0.000"), dec("0"));
        assert_eq!(dec("0e10"), dec("0"));
        assert_eq!(dec("1e-5"), dec("0.00001"));
        assert_eq!(dec("1.2345679e+08"), dec("123456790"));
        assert_ne!(dec("1.2345679e+08"), dec("123456789.12345679"));
        assert_eq!(dec("4.2949673e+09"), dec("4294967300"));
        assert_ne!(dec("4.2949673e+09"), dec("4294967295"));
        assert_eq!(dec("-12.30").as_deref(), Some("-123e-1"));
        assert_eq!(dec("100").as_deref(), Some("1e2"));
        assert_eq!(dec(".5"), dec("0.5"));
        assert_eq!(dec("5."), dec("5"));
        assert_eq!(dec("NaN").as_deref(), Some("NaN"));
        assert_eq!(dec("-Infinity").as_deref(), Some("-Infinity"));
        for bad in ["", "-", "1e", "1.2.3", "abc", "1 ", "e5", "."] {
            assert_eq!(dec(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn floats_at_their_width() {
        use Encoding::*;
        // A double stored in real is reported; a float read back from real is not.
        assert!(!same(
            Kind::Number,
            (Flavor::Dump(Double), Some("123456789.12345679")),
            (pg("real"), Some("1.2345679e+08"))
        ));
        assert!(same(
            Kind::Number,
            (Flavor::Dump(Float), Some("3.1415927")),
            (pg("real"), Some("3.1415927"))
        ));
        assert!(same(
            Kind::Number,
            (Flavor::Dump(Float), Some("3.1415927")),
            (pg("double precision"), Some("3.1415927"))
        ));
        assert!(!same(
            Kind::Number,
            (Flavor::Dump(Integer), Some("4294967295")),
            (pg("real"), Some("4.2949673e+09"))
        ));
        assert!(same(
            Kind::Number,
            (Flavor::Dump(Double), Some("-0")),
            (pg("double precision"), Some("0"))
        ));
        // MySQL reads a FLOAT as the exact double; its value is the float's.
        assert!(same(
            Kind::Number,
            (my(Float), Some("3.1415927410125732")),
            (Flavor::Dump(Float), Some("3.1415927"))
        ));
        assert!(same(
            Kind::Number,
            (Flavor::Dump(Decimal), Some("1.50")),
            (pg("numeric(10,2)"), Some("1.5"))
        ));
        assert!(!same(
            Kind::Number,
            (Flavor::Dump(Decimal), Some("1.2345")),
            (pg("numeric(10,2)"), Some("1.23"))
        ));
    }

    #[test]
    fn booleans_are_numbers() {
        use Encoding::*;
        assert!(same(
            Kind::Number,
            (Flavor::Dump(BooleanInt), Some("1")),
            (pg("boolean"), Some("t"))
        ));
        assert!(same(
            Kind::Number,
            (Flavor::Dump(BooleanInt), Some("0")),
            (pg("boolean"), Some("f"))
        ));
        assert!(!same(
            Kind::Number,
            (Flavor::Dump(BooleanInt), Some("0")),
            (pg("boolean"), Some("t"))
        ));
        assert!(same(
            Kind::Number,
            (Flavor::Dump(Text), Some("yes")),
            (pg("boolean"), Some("t"))
        ));
        assert!(same(
            Kind::Number,
            (my(BitString), Some("\x01")),
            (pg("boolean"), Some("t"))
        ));
    }

    #[test]
    fn instants() {
        let i = |s: &str| instant(s.as_bytes());
        assert_eq!(i("1970-01-01"), Some(0));
        assert_eq!(i("1970-01-01 00:00:01"), Some(1_000_000_000));
        assert_eq!(i("2024-01-01 10:00:00+00"), i("2024-01-01 15:30:00+05:30"));
        assert_eq!(i("2024-01-01 10:00:00"), i("2024-01-01 10:00:00+00"));
        assert_eq!(
            i("1799-12-31 19:03:58-04:56:02"),
            i("1800-01-01 00:00:00+00")
        );
        assert_eq!(
            i("2024-03-10 07:00:00.250000+00"),
            i("2024-03-10 07:00:00.25")
        );
        assert_eq!(i("2024-01-02"), i("2024-01-01 24:00:00"));
        assert_ne!(i("2024-01-01 13:14:15"), i("2024-01-01"));
        assert_ne!(i("2024-01-01 23:59:59.999999"), i("2024-01-02 00:00:00"));
        // 1 BC is year 0, a leap year.
        assert_eq!(
            i("0001-12-31 BC").unwrap() + 86_400_000_000_000,
            i("0001-01-01").unwrap()
        );
        assert_eq!(
            i("0044-03-15 12:00:00+05:53:28 BC"),
            i("0044-03-15 06:06:32+00 BC")
        );
        assert!(i("0044-03-15 BC").unwrap() < i("0044-03-15").unwrap());
        assert_eq!(i("infinity"), Some(i128::MAX));
        assert!(i("10000-01-01").is_some());
        for bad in [
            "",
            "2024-13-01",
            "2024-01-01 1:00",
            "yesterday",
            "2024-01-01x",
        ] {
            assert_eq!(i(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn intervals() {
        let i = |s: &str| interval(s.as_bytes());
        assert_eq!(
            i("838:59:59"),
            Some(((838 * 60 + 59) * 60 + 59) * 1_000_000)
        );
        assert_eq!(i("-12:30:00"), Some(-(12 * 3600 + 1800) * 1_000_000));
        assert_eq!(i("-838:59:59.000000"), i("-838:59:59"));
        assert_eq!(i("1 day"), i("24:00:00"));
        assert_eq!(i("1 day 25:00:00"), i("49:00:00"));
        assert_eq!(i("1 mon"), i("30 days"));
        assert_eq!(i("1 year 2 mons 3 days -04:05:06.5"), {
            let d = 86_400_000_000i128;
            Some(360 * d + 60 * d + 3 * d - (4 * 3600 + 5 * 60 + 6) * 1_000_000 - 500_000)
        });
        assert_eq!(i("24:00:00"), Some(86_400_000_000));
        assert_eq!(i("00:00:00.5"), Some(500_000));
        for bad in ["", "1 fortnight", "12", "1:2:3x"] {
            assert_eq!(i(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uuids_ignore_case() {
        assert_eq!(
            uuid(b"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
            uuid(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        );
        assert_eq!(
            uuid(b"{a0eebc999c0b4ef8bb6d6bb9bd380a11}"),
            uuid(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        );
        assert_eq!(uuid(b"not-a-uuid"), None);
        assert_eq!(uuid(b""), None);
    }

    #[test]
    fn json_structure() {
        let j = |s: &str| c(Kind::Json, Flavor::Dump(Encoding::JsonText), Some(s));
        assert_eq!(
            j(r#"{"b": 1, "a": [1, 2.50]}"#),
            j(r#"{"a":[1,2.5],"b":1}"#)
        );
        assert_eq!(j(r#"{"a": 1.0}"#), j(r#"{"a": 1}"#));
        assert_eq!(j(r#"{"s": "\u00e9"}"#), j("{\"s\": \"\u{e9}\"}"));
        assert_ne!(j(r#"{"a":1,"a":2}"#), j(r#"{"a": 2}"#));
        assert_ne!(j(r#"[1,2]"#), j(r#"[2,1]"#));
        assert_ne!(j(r#"{"a":"1"}"#), j(r#"{"a":1}"#));
        assert_eq!(j("null"), j(" null "));
        // Not JSON: kept raw, equal to nothing parsed.
        assert_ne!(j("{"), j("{}"));
    }

    #[test]
    fn text_bytes_bits_lists() {
        use Encoding::*;
        let padded = |d: &str, p: &str| {
            same(
                Kind::PaddedText,
                (Flavor::Dump(Text), Some(d)),
                (pg("character(5)"), Some(p)),
            )
        };
        assert!(padded("abc", "abc  "));
        assert!(!padded("abc       ", "abc  "));
        assert!(!padded("abc ", "abc  "));
        assert!(!same(
            Kind::Text,
            (Flavor::Dump(Text), Some("abc       ")),
            (pg("character varying(5)"), Some("abc  "))
        ));
        // NULL, the text \N and the empty string are three different things.
        assert!(!same(
            Kind::Text,
            (Flavor::Dump(Text), None),
            (pg("text"), Some("\\N"))
        ));
        assert!(!same(
            Kind::Text,
            (Flavor::Dump(Text), None),
            (pg("text"), Some(""))
        ));
        assert!(same(
            Kind::Bytes,
            (Flavor::Dump(ByteaHex), Some("\\x00ff")),
            (pg("bytea"), Some("\\x00FF"))
        ));
        assert!(same(
            Kind::Bytes,
            (my(ByteaHex), Some("\u{0}a")),
            (pg("bytea"), Some("\\x0061"))
        ));
        assert!(same(
            Kind::Bytes,
            (Flavor::Dump(Text), Some("a\\\\b\\001")),
            (pg("bytea"), Some("\\x615c6201"))
        ));
        assert!(same(
            Kind::Bits,
            (my(BitString), Some("\x05")),
            (pg("bit(5)"), Some("00101"))
        ));
        assert!(same(
            Kind::List,
            (Flavor::Dump(SetText), Some("a,b c")),
            (pg("text[]"), Some("{a,\"b c\"}"))
        ));
        assert!(same(
            Kind::List,
            (Flavor::Dump(SetText), Some("")),
            (pg("text[]"), Some("{}"))
        ));
        assert!(!same(
            Kind::List,
            (Flavor::Dump(SetText), Some("a,b")),
            (pg("text[]"), Some("{b,a}"))
        ));
        assert!(!same(
            Kind::List,
            (Flavor::Dump(Text), Some("{NULL}")),
            (pg("text[]"), Some("{\"NULL\"}"))
        ));
        assert!(same(
            Kind::Text,
            (my(TimestampUtc), Some("2024-03-10 07:00:00.250000")),
            (
                Flavor::Dump(TimestampUtc),
                Some("2024-03-10 07:00:00.250000+00")
            )
        ));
        assert!(same(
            Kind::Instant,
            (my(Date), Some("0000-00-00")),
            (Flavor::Dump(Date), None)
        ));
        assert!(same(
            Kind::Text,
            (my(UuidText), Some("")),
            (Flavor::Dump(UuidText), None)
        ));
        assert!(same(
            Kind::Text,
            (my(Year), Some("0000")),
            (Flavor::Dump(Year), Some("0"))
        ));
    }
}
