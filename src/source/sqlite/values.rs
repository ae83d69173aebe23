//! SQLite values in the dump's text forms. SQLite hands over five storage classes
//! (NULL, INTEGER, REAL, TEXT, BLOB) whatever a column declares, so each conversion
//! here takes the value as it is stored and writes the text the column's encoding
//! expects, or says it cannot:
//!
//! - numbers as exact digits, reals as the shortest text that reads back as the same
//!   double (`ryu`), infinities as PostgreSQL spells them;
//! - date/time text in the forms SQLite's own date functions read (`YYYY-MM-DD`,
//!   optionally ` HH:MM[:SS[.fff]]` with `T` or a space, optionally `Z` or `±HH:MM`),
//!   normalised to UTC `YYYY-MM-DD HH:MM:SS[.ffffff]`;
//! - Unix seconds or milliseconds (integer or real) as that same form.
//!
//! Years outside 0001-9999 and fractions finer than microseconds (which PostgreSQL
//! would round) are refused rather than changed.

use std::io::Write;

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// A date/time parsed from text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IsoValue<'a> {
    pub at: PrimitiveDateTime,
    /// The fraction digits as written (at most 6).
    pub fraction: &'a [u8],
    /// Whether a time of day was written (not a bare date).
    pub has_time: bool,
}

fn num(v: &[u8], at: usize, len: usize) -> Option<u32> {
    let part = v.get(at..at + len)?;
    part.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Parses the date/time text forms SQLite's date functions accept, converting a UTC
/// offset to UTC. `None` when the text is not one of them, names no real date or
/// time, has more than 6 fraction digits, or leaves years 0001-9999.
pub(super) fn parse_iso(v: &[u8]) -> Option<IsoValue<'_>> {
    let year = num(v, 0, 4)?;
    if v.get(4) != Some(&b'-') || v.get(7) != Some(&b'-') {
        return None;
    }
    let month = Month::try_from(u8::try_from(num(v, 5, 2)?).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, num(v, 8, 2)? as u8).ok()?;
    if year == 0 {
        return None;
    }
    let mut pos = 10;
    if pos == v.len() {
        return Some(IsoValue {
            at: PrimitiveDateTime::new(date, Time::MIDNIGHT),
            fraction: &[],
            has_time: false,
        });
    }
    if !matches!(v[pos], b' ' | b'T' | b't') || v.get(pos + 3) != Some(&b':') {
        return None;
    }
    let hour = num(v, pos + 1, 2)?;
    let minute = num(v, pos + 4, 2)?;
    pos += 6;
    let mut second = 0;
    let mut fraction: &[u8] = &[];
    if v.get(pos) == Some(&b':') {
        second = num(v, pos + 1, 2)?;
        pos += 3;
        if v.get(pos) == Some(&b'.') {
            let start = pos + 1;
            let end = start + v[start..].iter().take_while(|b| b.is_ascii_digit()).count();
            if end == start || end - start > 6 {
                return None;
            }
            fraction = &v[start..end];
            pos = end;
        }
    }
    let micros = fraction
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(6)
        .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    let time = Time::from_hms_micro(hour as u8, minute as u8, second as u8, micros).ok()?;
    let mut at = PrimitiveDateTime::new(date, time);
    while v.get(pos) == Some(&b' ') {
        pos += 1;
    }
    match v.get(pos) {
        None => {}
        Some(b'Z' | b'z') if pos + 1 == v.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(v, pos + 1, 2)?;
            let om = match v.len() - (pos + 3) {
                3 if v[pos + 3] == b':' => num(v, pos + 4, 2)?,
                2 => num(v, pos + 3, 2)?,
                0 => 0,
                _ => return None,
            };
            if oh > 14 || om > 59 {
                return None;
            }
            let offset = Duration::minutes(i64::from(oh * 60 + om));
            // The value minus its offset is UTC.
            at = if sign == b'+' {
                at.checked_sub(offset)?
            } else {
                at.checked_add(offset)?
            };
            if !(1..=9999).contains(&at.year()) {
                return None;
            }
        }
        Some(_) => return None,
    }
    Some(IsoValue {
        at,
        fraction,
        has_time: true,
    })
}

/// `HH:MM[:SS[.ffffff]]`, a time of day as SQLite's `time()` writes it.
pub(super) fn is_time_of_day(v: &[u8]) -> bool {
    let (Some(h), Some(m)) = (num(v, 0, 2), num(v, 3, 2)) else {
        return false;
    };
    if v.get(2) != Some(&b':') || h > 23 || m > 59 {
        return false;
    }
    match v.len() {
        5 => true,
        n if n >= 8 && v[5] == b':' => {
            num(v, 6, 2).is_some_and(|s| s <= 59)
                && (n == 8
                    || (v[8] == b'.'
                        && (10..=15).contains(&n)
                        && v[9..].iter().all(u8::is_ascii_digit)))
        }
        _ => false,
    }
}

/// Writes `YYYY-MM-DD HH:MM:SS`, then `.` and `fraction` when it is not empty.
fn write_datetime(at: PrimitiveDateTime, fraction: &[u8], out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    if !fraction.is_empty() {
        out.push(b'.');
        out.extend_from_slice(fraction);
    }
}

/// ISO text in the dump's form (UTC); `false` when it is not a date/time SQLite reads.
pub(super) fn write_iso(v: &[u8], out: &mut Vec<u8>) -> bool {
    match parse_iso(v) {
        Some(iso) => {
            write_datetime(iso.at, iso.fraction, out);
            true
        }
        None => false,
    }
}

/// The first and last instants the dump's timestamps can hold, as Unix microseconds:
/// 0001-01-01 00:00:00 and 9999-12-31 23:59:59.999999 UTC.
const MIN_MICROS: i128 = -62_135_596_800_000_000;
const MAX_MICROS: i128 = 253_402_300_799_999_999;

/// The Unix numbers of `unit_ms` milliseconds per unit the dump can hold, for the
/// analysis: from the first (inclusive) to the second (exclusive), exact in f64.
pub(super) fn unix_range(unit_ms: i64) -> (f64, f64) {
    let per_unit = i128::from(unit_ms) * 1000;
    (
        (MIN_MICROS / per_unit) as f64,
        ((MAX_MICROS + 1) / per_unit) as f64,
    )
}

fn write_micros(micros: i128, fraction_digits: usize, out: &mut Vec<u8>) -> bool {
    if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
        return false;
    }
    let secs = micros.div_euclid(1_000_000) as i64;
    let us = micros.rem_euclid(1_000_000) as u32;
    let Ok(t) = OffsetDateTime::from_unix_timestamp(secs) else {
        return false;
    };
    let mut frac = [0u8; 6];
    let mut n = us;
    for d in frac.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    write_datetime(
        PrimitiveDateTime::new(t.date(), t.time()),
        &frac[..fraction_digits],
        out,
    );
    true
}

/// An integer count of `unit_ms` milliseconds since 1970 (1: Unix ms, 1000: seconds)
/// in the dump's form: milliseconds keep 3 fraction digits, seconds none.
pub(super) fn write_unix_int(v: i64, unit_ms: i64, out: &mut Vec<u8>) -> bool {
    let micros = i128::from(v) * i128::from(unit_ms) * 1000;
    write_micros(micros, if unit_ms == 1 { 3 } else { 0 }, out)
}

/// A real count of `unit_ms` milliseconds since 1970, to the microsecond.
pub(super) fn write_unix_real(v: f64, unit_ms: i64, out: &mut Vec<u8>) -> bool {
    let micros = (v * (unit_ms * 1000) as f64).round();
    micros.is_finite() && write_micros(micros as i128, 6, out)
}

/// A double as the shortest text that reads back as the same value; infinities as
/// PostgreSQL spells them (SQLite stores no NaN: it becomes NULL).
pub(super) fn write_real(v: f64, out: &mut Vec<u8>) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v > 0.0 {
        out.extend_from_slice(b"Infinity");
    } else {
        out.extend_from_slice(b"-Infinity");
    }
}

pub(super) fn write_int(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A plain decimal literal: optional sign, digits with an optional point, optional
/// exponent (what PostgreSQL's numeric reads, without its spaces, NaN or Infinity).
pub(super) fn is_decimal(v: &[u8]) -> bool {
    decimal_shape(v).is_some()
}

/// (digits before the point, digits after it) once leading and trailing zeros are
/// gone and the exponent is applied; `None` when `v` is not a decimal literal.
fn decimal_shape(v: &[u8]) -> Option<(i64, i64)> {
    let v = v
        .strip_prefix(b"-")
        .or_else(|| v.strip_prefix(b"+"))
        .unwrap_or(v);
    let (mantissa, exp) = match v.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(i) => {
            let e = std::str::from_utf8(&v[i + 1..]).ok()?;
            if e.is_empty() || e.len() > 5 {
                return None;
            }
            (&v[..i], e.parse::<i64>().ok()?)
        }
        None => (v, 0),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &mantissa[..0]),
    };
    if int.len() + frac.len() == 0 || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let lead = digits.iter().take_while(|&&b| b == b'0').count();
    let trail = digits[lead..]
        .iter()
        .rev()
        .take_while(|&&b| b == b'0')
        .count();
    let significant = (digits.len() - lead - trail) as i64;
    if significant == 0 {
        return Some((0, 0));
    }
    // Position of the point counted from the first significant digit.
    let point = int.len() as i64 - lead as i64 + exp;
    Some((point.max(0), (significant - point).max(0)))
}

/// Whether a decimal literal fits numeric(precision, scale) without rounding.
pub(super) fn decimal_fits(v: &[u8], precision: u64, scale: u64) -> bool {
    match decimal_shape(v) {
        Some((int, frac)) => frac <= scale as i64 && int <= precision as i64 - scale as i64,
        None => false,
    }
}

/// JSON text PostgreSQL's jsonb accepts (it refuses the NUL character).
pub(super) fn is_json(v: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(v).is_ok()
        && memchr::memmem::find(v, b"\\u0000").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(v: &str) -> Option<String> {
        let mut out = Vec::new();
        write_iso(v.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn iso_text() {
        assert_eq!(iso("2024-03-10").as_deref(), Some("2024-03-10 00:00:00"));
        assert_eq!(
            iso("2024-03-10 07:05").as_deref(),
            Some("2024-03-10 07:05:00")
        );
        assert_eq!(
            iso("2024-03-10T07:05:09.25Z").as_deref(),
            Some("2024-03-10 07:05:09.25")
        );
        assert_eq!(
            iso("2024-03-10 01:30:00.123456+02:00").as_deref(),
            Some("2024-03-09 23:30:00.123456")
        );
        assert_eq!(
            iso("2024-03-10 23:30:00-0130").as_deref(),
            Some("2024-03-11 01:00:00")
        );
        for bad in [
            "2024-02-30",
            "2024-13-01",
            "0000-01-01",
            "2024-03-10 24:00:00",
            "2024-03-10 10:00:00.1234567",
            "2024-03-10x",
            "10:00",
            "",
            "2024-03-10 10:00:00 UTC",
            "9999-12-31 23:00:00-02:00",
        ] {
            assert_eq!(iso(bad), None, "{bad}");
        }
        assert!(!parse_iso(b"2024-03-10").unwrap().has_time);
    }

    #[test]
    fn unix_numbers() {
        let w = |f: &dyn Fn(&mut Vec<u8>) -> bool| {
            let mut out = Vec::new();
            f(&mut out).then(|| String::from_utf8(out).unwrap())
        };
        assert_eq!(
            w(&|o| write_unix_int(1_710_054_000_250, 1, o)).as_deref(),
            Some("2024-03-10 07:00:00.250")
        );
        assert_eq!(
            w(&|o| write_unix_int(-1, 1, o)).as_deref(),
            Some("1969-12-31 23:59:59.999")
        );
        assert_eq!(
            w(&|o| write_unix_int(1_710_054_000, 1000, o)).as_deref(),
            Some("2024-03-10 07:00:00")
        );
        assert_eq!(
            w(&|o| write_unix_real(1.5, 1000, o)).as_deref(),
            Some("1970-01-01 00:00:01.500000")
        );
        assert_eq!(w(&|o| write_unix_int(i64::MAX, 1000, o)), None);
        assert_eq!(w(&|o| write_unix_real(f64::INFINITY, 1, o)), None);
        assert_eq!(unix_range(1000), (-62_135_596_800.0, 253_402_300_800.0));
        assert_eq!(
            unix_range(1),
            (-62_135_596_800_000.0, 253_402_300_800_000.0)
        );
    }

    #[test]
    fn decimals() {
        assert!(is_decimal(b"-12.50") && is_decimal(b"1e-7") && is_decimal(b".5"));
        assert!(!is_decimal(b"abc") && !is_decimal(b"") && !is_decimal(b"1.2.3"));
        assert!(!is_decimal(b" 1") && !is_decimal(b"NaN") && !is_decimal(b"."));
        assert!(decimal_fits(b"0.99", 10, 2));
        assert!(decimal_fits(b"12345678.90", 10, 2));
        assert!(!decimal_fits(b"0.999", 10, 2));
        assert!(!decimal_fits(b"123456789.9", 10, 2));
        assert!(decimal_fits(b"1.5e2", 3, 0));
        assert!(!decimal_fits(b"1.5e-1", 3, 0));
        assert!(decimal_fits(b"0", 1, 0));
        assert!(decimal_fits(b"100.000", 3, 0));
    }

    #[test]
    fn times_and_json() {
        assert!(is_time_of_day(b"10:30") && is_time_of_day(b"23:59:59.123456"));
        assert!(
            !is_time_of_day(b"24:00") && !is_time_of_day(b"10:30:00.") && !is_time_of_day(b"1:30")
        );
        assert!(is_json(b"{\"a\": [1, 2.5, null]}") && is_json(b"42"));
        assert!(!is_json(b"{a:1}") && !is_json(b"\"\\u0000\""));
        let mut out = Vec::new();
        write_real(f64::NEG_INFINITY, &mut out);
        write_real(0.1 + 0.2, &mut out);
        assert_eq!(out, b"-Infinity0.30000000000000004");
    }
}
