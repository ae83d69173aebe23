//! Row images of the binary log, turned into the text forms a snapshot read gives.
//!
//! The binary log stores each value in its storage format (packed decimals, packed
//! dates, TIMESTAMP as seconds since the epoch, ENUM and SET as numbers, strings in the
//! column's character set). A delta must hold exactly the cells a full export writes for
//! the same row, so every value is printed here the way the server's text protocol
//! prints it in the export's session (utf8mb4, time zone UTC), and then goes through the
//! same cell writers (`dump::encoding`). The few values only the server can print
//! exactly (geometry as WKT, character sets other than UTF-8 and latin1, INET6) are
//! handed to it (`Convert`).
//!
//! A table's plan is built from its table-map event and checked against the base
//! manifest's columns: a different column count or type means the table's definition
//! changed since the base dump.

use mysql_common::constants::ColumnType;

use crate::dump::encoding::Encoding;
use crate::dump::schema::{Column, Table};
use crate::source::Row;

/// Values only the server can put in text form exactly.
pub(super) trait Convert {
    /// A geometry's storage form (SRID, then WKB) as the export selects it: WKT, or
    /// `SRID=n;` + WKT when the SRID is not 0.
    fn geometry(&mut self, value: &[u8], out: &mut Vec<u8>) -> Result<(), String>;
    /// Text in `charset` as UTF-8; `true` when characters invalid in the charset were
    /// replaced by `?`, as the server does for a full export.
    fn charset(&mut self, charset: &str, value: &[u8], out: &mut Vec<u8>) -> Result<bool, String>;
    /// A MariaDB INET4/INET6 value in its text form.
    fn inet(&mut self, data_type: &str, value: &[u8], out: &mut Vec<u8>) -> Result<(), String>;
}

/// One decoded row image: the cells of the columns asked for, as text.
#[derive(Default)]
pub(super) struct Image {
    buf: Vec<u8>,
    cells: Vec<Option<(usize, usize)>>,
    /// Cells whose characters invalid in their charset became `?`.
    replaced: Vec<usize>,
}

impl Row for Image {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        let (a, b) = self.cells.get(i).copied().flatten()?;
        Some(&self.buf[a..b])
    }

    fn replaced(&self, i: usize) -> bool {
        self.replaced.contains(&i)
    }
}

#[derive(Clone, Debug)]
enum Text {
    /// UTF-8 (utf8mb4, utf8mb3): as stored.
    Utf8,
    /// ascii: a byte above 0x7F is not a character and becomes `?`, as the server
    /// converts it for a full export.
    Ascii,
    /// MySQL's latin1 (Windows-1252, the five unassigned bytes kept as C1 controls).
    Latin1,
    /// Any other character set: converted by the server.
    Other(String),
    /// Bytes; BINARY(n) values lose their trailing zero bytes in the log, `pad` puts them back.
    Binary {
        pad: Option<usize>,
    },
    /// MariaDB's UUID type: 16 bytes.
    Uuid,
    /// MariaDB's INET4/INET6: converted by the server.
    Inet(String),
    Geometry,
    /// MySQL's binary JSON.
    JsonBinary,
}

#[derive(Clone, Debug)]
enum Kind {
    Int {
        bytes: usize,
        unsigned: bool,
    },
    Float,
    Double,
    Decimal {
        precision: usize,
        scale: usize,
    },
    Bit {
        bytes: usize,
    },
    Year,
    Date,
    Datetime {
        dec: usize,
    },
    DatetimeOld,
    Timestamp {
        dec: usize,
    },
    TimestampOld,
    Time {
        dec: usize,
    },
    TimeOld,
    Enum {
        pack: usize,
        values: Vec<String>,
    },
    Set {
        bytes: usize,
        values: Vec<String>,
    },
    /// CHAR/VARCHAR/BINARY/VARBINARY: a 1- or 2-byte length, then the bytes.
    Str {
        len_bytes: usize,
        text: Text,
    },
    /// BLOB/TEXT/JSON/GEOMETRY: a 1- to 4-byte length, then the bytes.
    Blob {
        len_bytes: usize,
        text: Text,
    },
}

#[derive(Clone, Debug)]
struct Col {
    name: String,
    kind: Kind,
}

/// How to read one table's row images.
#[derive(Clone, Debug)]
pub(super) struct TablePlan {
    columns: Vec<Col>,
    key: Vec<bool>,
}

/// The binary log's column type and metadata, as a table-map event gives them.
pub(super) struct LoggedColumn<'a> {
    pub ty: ColumnType,
    pub meta: &'a [u8],
}

fn meta_byte(meta: &[u8], i: usize) -> usize {
    meta.get(i).copied().unwrap_or(0) as usize
}

fn text_for(c: &Column) -> Text {
    match c.charset.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf8mb4") | Some("utf8mb3") | Some("utf8") => Text::Utf8,
        Some("ascii") => Text::Ascii,
        Some("latin1") => Text::Latin1,
        Some("binary") => Text::Binary { pad: None },
        Some(other) => Text::Other(other.to_string()),
    }
}

impl TablePlan {
    /// Checks the logged columns against the base dump's and plans how to read them.
    /// `Err` says what differs: the table's definition changed (DDL).
    pub(super) fn new(table: &Table, logged: &[LoggedColumn]) -> Result<TablePlan, String> {
        if logged.len() != table.columns.len() {
            return Err(format!(
                "the binary log has {} columns for it, the base dump {}",
                logged.len(),
                table.columns.len()
            ));
        }
        let mut columns = Vec::with_capacity(logged.len());
        for (c, l) in table.columns.iter().zip(logged) {
            let kind = kind_for(c, l).map_err(|why| format!("column `{}`: {why}", c.name))?;
            columns.push(Col {
                name: c.name.clone(),
                kind,
            });
        }
        let key = table
            .columns
            .iter()
            .map(|c| table.primary_key.contains(&c.name))
            .collect();
        Ok(TablePlan { columns, key })
    }

    /// Decodes the next row image from `data`: every cell when `all`, else the
    /// primary-key cells only (the rest read as NULL). `present` marks the columns the
    /// image holds.
    pub(super) fn decode(
        &self,
        data: &mut &[u8],
        present: &dyn Fn(usize) -> bool,
        all: bool,
        out: &mut Image,
        conv: &mut dyn Convert,
    ) -> Result<(), String> {
        out.buf.clear();
        out.cells.clear();
        out.replaced.clear();
        let n_present = (0..self.columns.len()).filter(|&i| present(i)).count();
        let nulls = take(data, n_present.div_ceil(8))?;
        let mut j = 0;
        for (i, col) in self.columns.iter().enumerate() {
            let wanted = all || self.key[i];
            if !present(i) {
                if wanted {
                    return Err(format!(
                        "column `{}` is missing from the row image (binlog_row_image is not FULL)",
                        col.name
                    ));
                }
                out.cells.push(None);
                continue;
            }
            let is_null = nulls[j / 8] & (1 << (j % 8)) != 0;
            j += 1;
            if is_null {
                out.cells.push(None);
                continue;
            }
            let start = out.buf.len();
            let sink = if wanted { Some(&mut out.buf) } else { None };
            let replaced = decode_value(&col.kind, data, sink, conv)
                .map_err(|why| format!("column `{}`: {why}", col.name))?;
            if replaced {
                out.replaced.push(i);
            }
            out.cells.push(wanted.then_some((start, out.buf.len())));
        }
        Ok(())
    }
}

/// Whether catch-up can read values of this column from the binary log at all.
pub(super) fn supported(c: &Column) -> bool {
    c.encoding == Encoding::GeometryEwkt
        || matches!(
            c.data_type.as_str(),
            "tinyint"
                | "smallint"
                | "mediumint"
                | "int"
                | "integer"
                | "bigint"
                | "decimal"
                | "numeric"
                | "fixed"
                | "float"
                | "double"
                | "real"
                | "double precision"
                | "bit"
                | "year"
                | "date"
                | "datetime"
                | "timestamp"
                | "time"
                | "enum"
                | "set"
                | "json"
                | "char"
                | "binary"
                | "uuid"
                | "inet6"
                | "inet4"
                | "varchar"
                | "varbinary"
                | "tinytext"
                | "text"
                | "mediumtext"
                | "longtext"
                | "tinyblob"
                | "blob"
                | "mediumblob"
                | "longblob"
        )
}

fn kind_for(c: &Column, l: &LoggedColumn) -> Result<Kind, String> {
    use ColumnType::*;
    let dt = c.data_type.as_str();
    let meta = l.meta;
    let mismatch = || {
        Err(format!(
            "logged as {:?}, the base dump says {} ({})",
            l.ty, c.column_type, c.data_type
        ))
    };
    let check_dec = |dec: usize| -> Result<usize, String> {
        let want = c.datetime_precision.unwrap_or(0) as usize;
        if dec == want {
            Ok(dec)
        } else {
            Err(format!(
                "logged with {dec} fractional digits, the base dump says {want}"
            ))
        }
    };
    let old_temporal = || -> Result<(), String> {
        if c.datetime_precision.unwrap_or(0) > 0 {
            Err(
                "fractional seconds in MariaDB's pre-10.1 temporal format, which catch-up \
                 does not decode (ALTER TABLE ... FORCE rewrites the column in the current format)"
                    .into(),
            )
        } else {
            Ok(())
        }
    };
    let int = |bytes| Kind::Int {
        bytes,
        unsigned: c.unsigned,
    };
    let kind = match (dt, l.ty) {
        ("tinyint", MYSQL_TYPE_TINY) => int(1),
        ("smallint", MYSQL_TYPE_SHORT) => int(2),
        ("mediumint", MYSQL_TYPE_INT24) => int(3),
        ("int" | "integer", MYSQL_TYPE_LONG) => int(4),
        ("bigint", MYSQL_TYPE_LONGLONG) => int(8),
        ("decimal" | "numeric" | "fixed", MYSQL_TYPE_NEWDECIMAL) => {
            let (precision, scale) = (meta_byte(meta, 0), meta_byte(meta, 1));
            if precision == 0 || scale > precision || precision > 65 {
                return Err(format!("decimal({precision},{scale}) cannot be decoded"));
            }
            if c.precision.is_some_and(|p| p as usize != precision)
                || c.scale.is_some_and(|s| s as usize != scale)
            {
                return Err(format!(
                    "logged as decimal({precision},{scale}), the base dump says {}",
                    c.column_type
                ));
            }
            Kind::Decimal { precision, scale }
        }
        ("float", MYSQL_TYPE_FLOAT) => Kind::Float,
        ("double" | "real" | "double precision", MYSQL_TYPE_DOUBLE) => Kind::Double,
        ("bit", MYSQL_TYPE_BIT) => Kind::Bit {
            bytes: meta_byte(meta, 1) + usize::from(meta_byte(meta, 0) > 0),
        },
        ("year", MYSQL_TYPE_YEAR) => Kind::Year,
        ("date", MYSQL_TYPE_NEWDATE | MYSQL_TYPE_DATE) => Kind::Date,
        ("datetime", MYSQL_TYPE_DATETIME2) => Kind::Datetime {
            dec: check_dec(meta_byte(meta, 0))?,
        },
        ("datetime", MYSQL_TYPE_DATETIME) => {
            old_temporal()?;
            Kind::DatetimeOld
        }
        ("timestamp", MYSQL_TYPE_TIMESTAMP2) => Kind::Timestamp {
            dec: check_dec(meta_byte(meta, 0))?,
        },
        ("timestamp", MYSQL_TYPE_TIMESTAMP) => {
            old_temporal()?;
            Kind::TimestampOld
        }
        ("time", MYSQL_TYPE_TIME2) => Kind::Time {
            dec: check_dec(meta_byte(meta, 0))?,
        },
        ("time", MYSQL_TYPE_TIME) => {
            old_temporal()?;
            Kind::TimeOld
        }
        ("enum", MYSQL_TYPE_ENUM) => Kind::Enum {
            pack: meta_byte(meta, 1),
            values: c.values.clone(),
        },
        ("set", MYSQL_TYPE_SET) => Kind::Set {
            bytes: meta_byte(meta, 1),
            values: c.values.clone(),
        },
        ("json", MYSQL_TYPE_JSON) => Kind::Blob {
            len_bytes: meta_byte(meta, 0),
            text: Text::JsonBinary,
        },
        (_, MYSQL_TYPE_GEOMETRY) if c.encoding == Encoding::GeometryEwkt => Kind::Blob {
            len_bytes: meta_byte(meta, 0),
            text: Text::Geometry,
        },
        (
            "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob"
            | "longblob",
            MYSQL_TYPE_BLOB,
        ) => Kind::Blob {
            len_bytes: meta_byte(meta, 0),
            text: if c.encoding == Encoding::ByteaHex {
                Text::Binary { pad: None }
            } else {
                text_for(c)
            },
        },
        ("char" | "binary" | "uuid" | "inet6" | "inet4", MYSQL_TYPE_STRING) => {
            let (b0, b1) = (meta_byte(meta, 0), meta_byte(meta, 1));
            let max_len = if b0 & 0x30 != 0x30 {
                b1 | (((b0 & 0x30) ^ 0x30) << 4)
            } else {
                b1
            };
            Kind::Str {
                len_bytes: if max_len > 255 { 2 } else { 1 },
                text: match dt {
                    "binary" => Text::Binary {
                        pad: c.max_length.map(|n| n as usize),
                    },
                    "uuid" => Text::Uuid,
                    "inet6" | "inet4" => Text::Inet(dt.to_string()),
                    _ => text_for(c),
                },
            }
        }
        ("varchar" | "varbinary", MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING) => {
            let max_len = meta_byte(meta, 0) | (meta_byte(meta, 1) << 8);
            Kind::Str {
                len_bytes: if max_len > 255 { 2 } else { 1 },
                text: if c.encoding == Encoding::ByteaHex {
                    Text::Binary { pad: None }
                } else {
                    text_for(c)
                },
            }
        }
        _ => return mismatch(),
    };
    if let Kind::Blob { len_bytes, .. } = &kind
        && !(1..=4).contains(len_bytes)
    {
        return Err(format!("blob length size {len_bytes} cannot be decoded"));
    }
    if let Kind::Enum { pack, .. } = &kind
        && !(1..=2).contains(pack)
    {
        return Err(format!("enum storage size {pack} cannot be decoded"));
    }
    if let Kind::Set { bytes, .. } = &kind
        && !(1..=8).contains(bytes)
    {
        return Err(format!("set storage size {bytes} cannot be decoded"));
    }
    Ok(kind)
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if data.len() < n {
        return Err("the row image ends early".into());
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn push_num(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `n` as at least `width` digits.
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n);
    for _ in s.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(s.as_bytes());
}

/// `.` and the first `dec` digits of the microseconds, as the server prints a column
/// with `dec` fractional digits.
fn push_fraction(out: &mut Vec<u8>, usec: u64, dec: usize) {
    if dec == 0 {
        return;
    }
    let mut digits = Vec::with_capacity(6);
    push_padded(&mut digits, usec % 1_000_000, 6);
    out.push(b'.');
    out.extend_from_slice(&digits[..dec.min(6)]);
}

fn push_date(out: &mut Vec<u8>, y: u64, m: u64, d: u64) {
    push_padded(out, y, 4);
    out.push(b'-');
    push_padded(out, m, 2);
    out.push(b'-');
    push_padded(out, d, 2);
}

fn push_hms(out: &mut Vec<u8>, h: u64, mi: u64, s: u64) {
    push_padded(out, h, 2);
    out.push(b':');
    push_padded(out, mi, 2);
    out.push(b':');
    push_padded(out, s, 2);
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A TIMESTAMP as the export's session (time zone UTC) prints it; 0 is the zero date.
fn push_timestamp(out: &mut Vec<u8>, secs: u64, usec: u64, dec: usize) {
    if secs == 0 && usec == 0 {
        out.extend_from_slice(b"0000-00-00 00:00:00");
        push_fraction(out, 0, dec);
        return;
    }
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    push_date(out, y.max(0) as u64, m, d);
    out.push(b' ');
    push_hms(out, t / 3600, (t / 60) % 60, t % 60);
    push_fraction(out, usec, dec);
}

/// Fractional seconds of TIMESTAMP2/DATETIME2/TIME2: 0 to 3 bytes, big-endian.
fn frac_bytes(dec: usize) -> usize {
    dec.div_ceil(2)
}

/// Steps over a value that is not wanted.
fn skip_value(kind: &Kind, data: &mut &[u8]) -> Result<bool, String> {
    let n = match kind {
        Kind::Int { bytes, .. } | Kind::Bit { bytes } | Kind::Set { bytes, .. } => *bytes,
        Kind::Float | Kind::TimestampOld => 4,
        Kind::Double | Kind::DatetimeOld => 8,
        Kind::Decimal { precision, scale } => decimal_size(*precision, *scale),
        Kind::Year => 1,
        Kind::Date | Kind::TimeOld => 3,
        Kind::Datetime { dec } => 5 + frac_bytes(*dec),
        Kind::Timestamp { dec } => 4 + frac_bytes(*dec),
        Kind::Time { dec } => 3 + frac_bytes(*dec),
        Kind::Enum { pack, .. } => *pack,
        Kind::Str { len_bytes, .. } | Kind::Blob { len_bytes, .. } => {
            le(take(data, *len_bytes)?) as usize
        }
    };
    take(data, n).map(|_| false)
}

/// Prints one value into `out` (or steps over it when `out` is none); `true` when
/// characters invalid in the column's charset were replaced.
fn decode_value(
    kind: &Kind,
    data: &mut &[u8],
    out: Option<&mut Vec<u8>>,
    conv: &mut dyn Convert,
) -> Result<bool, String> {
    let Some(out) = out else {
        return skip_value(kind, data);
    };
    match kind {
        Kind::Int { bytes, unsigned } => {
            let raw = le(take(data, *bytes)?);
            if *unsigned {
                push_num(out, raw);
            } else {
                let shift = 64 - 8 * *bytes as u32;
                push_num(out, ((raw << shift) as i64) >> shift);
            }
        }
        Kind::Float => {
            let v = f32::from_le_bytes(take(data, 4)?.try_into().expect("4 bytes"));
            // The export reads FLOAT as a double and prints the shortest f32; any text
            // that reads back as this exact value does the same.
            out.extend_from_slice(ryu::Buffer::new().format(f64::from(v)).as_bytes());
        }
        Kind::Double => {
            let v = f64::from_le_bytes(take(data, 8)?.try_into().expect("8 bytes"));
            push_double(out, v);
        }
        Kind::Decimal { precision, scale } => {
            let size = decimal_size(*precision, *scale);
            push_decimal(out, take(data, size)?, *precision, *scale)?;
        }
        Kind::Bit { bytes } => out.extend_from_slice(take(data, *bytes)?),
        Kind::Year => {
            let y = take(data, 1)?[0];
            if y == 0 {
                out.extend_from_slice(b"0000");
            } else {
                push_num(out, 1900 + u32::from(y));
            }
        }
        Kind::Date => {
            let v = le(take(data, 3)?);
            push_date(out, v >> 9, (v >> 5) & 15, v & 31);
        }
        Kind::Datetime { dec } => {
            let int = be(take(data, 5)?) as i64 - 0x80_0000_0000;
            let frac = be(take(data, frac_bytes(*dec))?);
            let usec = match *dec {
                0 => 0,
                1 | 2 => frac * 10_000,
                3 | 4 => frac * 100,
                _ => frac,
            };
            let int = int.max(0) as u64;
            let ymd = int >> 17;
            let hms = int % (1 << 17);
            let ym = ymd >> 5;
            push_date(out, ym / 13, ym % 13, ymd % 32);
            out.push(b' ');
            push_hms(out, hms >> 12, (hms >> 6) % 64, hms % 64);
            push_fraction(out, usec, *dec);
        }
        Kind::DatetimeOld => {
            let v = le(take(data, 8)?);
            let (d, t) = (v / 1_000_000, v % 1_000_000);
            push_date(out, d / 10_000, (d / 100) % 100, d % 100);
            out.push(b' ');
            push_hms(out, t / 10_000, (t / 100) % 100, t % 100);
        }
        Kind::Timestamp { dec } => {
            let secs = be(take(data, 4)?);
            let frac = be(take(data, frac_bytes(*dec))?);
            let usec = match *dec {
                0 => 0,
                1 | 2 => frac * 10_000,
                3 | 4 => frac * 100,
                _ => frac,
            };
            push_timestamp(out, secs, usec, *dec);
        }
        Kind::TimestampOld => push_timestamp(out, le(take(data, 4)?), 0, 0),
        Kind::Time { dec } => {
            let packed = time2_packed(take(data, 3 + frac_bytes(*dec))?, *dec);
            let neg = packed < 0;
            let v = packed.unsigned_abs();
            let hms = v >> 24;
            let usec = v % (1 << 24);
            if neg {
                out.push(b'-');
            }
            push_hms(out, (hms >> 12) % (1 << 10), (hms >> 6) % 64, hms % 64);
            push_fraction(out, usec, *dec);
        }
        Kind::TimeOld => {
            let raw = le(take(data, 3)?);
            let v = ((raw << 40) as i64) >> 40;
            if v < 0 {
                out.push(b'-');
            }
            let v = v.unsigned_abs();
            push_hms(out, v / 10_000, (v / 100) % 100, v % 100);
        }
        Kind::Enum { pack, values } => {
            let i = le(take(data, *pack)?) as usize;
            if i > 0 {
                let v = values.get(i - 1).ok_or_else(|| {
                    format!("enum index {i} is beyond its {} members", values.len())
                })?;
                out.extend_from_slice(v.as_bytes());
            }
        }
        Kind::Set { bytes, values } => {
            let bits = le(take(data, *bytes)?);
            let mut first = true;
            for b in 0..64usize {
                if bits & (1 << b) == 0 {
                    continue;
                }
                let v = values
                    .get(b)
                    .ok_or_else(|| format!("set bit {b} is beyond its {} members", values.len()))?;
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(v.as_bytes());
            }
        }
        Kind::Str { len_bytes, text } | Kind::Blob { len_bytes, text } => {
            let len = le(take(data, *len_bytes)?) as usize;
            return push_text(out, text, take(data, len)?, conv);
        }
    }
    Ok(false)
}

/// TIME2's packed value (MySQL `my_time_packed_from_binary`): hours, minutes and
/// seconds above 24 bits of microseconds, negative for negative times.
fn time2_packed(b: &[u8], dec: usize) -> i64 {
    const INT_OFS: i64 = 0x80_0000;
    let mut int = be(&b[..3]) as i64 - INT_OFS;
    match dec {
        0 => int << 24,
        1 | 2 => {
            let mut frac = i64::from(b[3]);
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 0x100;
            }
            (int << 24) + frac * 10_000
        }
        3 | 4 => {
            let mut frac = be(&b[3..5]) as i64;
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 0x10000;
            }
            (int << 24) + frac * 100
        }
        _ => be(&b[..6]) as i64 - 0x8000_0000_0000,
    }
}

fn push_text(
    out: &mut Vec<u8>,
    text: &Text,
    v: &[u8],
    conv: &mut dyn Convert,
) -> Result<bool, String> {
    match text {
        Text::Utf8 => out.extend_from_slice(v),
        Text::Ascii => {
            out.extend(v.iter().map(|&b| if b < 0x80 { b } else { b'?' }));
            return Ok(v.iter().any(|&b| b >= 0x80));
        }
        Text::Latin1 => push_latin1(out, v),
        Text::Other(cs) => return conv.charset(cs, v, out),
        Text::Binary { pad } => {
            out.extend_from_slice(v);
            if let Some(n) = pad {
                out.resize(out.len() + n.saturating_sub(v.len()), 0);
            }
        }
        Text::Uuid => {
            // Fixed-size binary values lose their trailing zero bytes in the log.
            if v.len() > 16 {
                return Err(format!("a UUID of {} bytes", v.len()));
            }
            let mut b = [0u8; 16];
            b[..v.len()].copy_from_slice(v);
            let h = hex::encode(b);
            for (i, part) in [&h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]]
                .iter()
                .enumerate()
            {
                if i > 0 {
                    out.push(b'-');
                }
                out.extend_from_slice(part.as_bytes());
            }
        }
        Text::Inet(dt) => {
            let size = if dt == "inet4" { 4 } else { 16 };
            let mut b = [0u8; 16];
            let n = v.len().min(size);
            b[..n].copy_from_slice(&v[..n]);
            conv.inet(dt, &b[..size], out)?
        }
        Text::Geometry => conv.geometry(v, out)?,
        Text::JsonBinary => super::jsonb::push_json(out, v)?,
    }
    Ok(false)
}

/// MySQL's latin1 is Windows-1252; its five unassigned bytes map to the C1 controls.
const LATIN1_80_9F: [u16; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

fn push_latin1(out: &mut Vec<u8>, v: &[u8]) {
    let mut buf = [0u8; 4];
    for &b in v {
        if b < 0x80 {
            out.push(b);
            continue;
        }
        let cp = if (0x80..0xA0).contains(&b) {
            u32::from(LATIN1_80_9F[usize::from(b - 0x80)])
        } else {
            u32::from(b)
        };
        let c = char::from_u32(cp).expect("the table holds valid code points");
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/// Bytes of a packed DECIMAL(precision, scale).
pub(super) fn decimal_size(precision: usize, scale: usize) -> usize {
    let intg = precision - scale;
    (intg / 9) * 4 + DIG2BYTES[intg % 9] + (scale / 9) * 4 + DIG2BYTES[scale % 9]
}

/// A packed DECIMAL (MySQL `bin2decimal`) as the server prints it: an optional `-`, the
/// integer part without leading zeros (`0` when it has none), and exactly `scale`
/// fractional digits.
pub(super) fn push_decimal(
    out: &mut Vec<u8>,
    packed: &[u8],
    precision: usize,
    scale: usize,
) -> Result<(), String> {
    let intg = precision - scale;
    let (intg0, intg0x) = (intg / 9, intg % 9);
    let (frac0, frac0x) = (scale / 9, scale % 9);
    if packed.len() != decimal_size(precision, scale) || packed.len() > 40 {
        return Err("malformed packed decimal".into());
    }
    let mut b = [0u8; 40];
    b[..packed.len()].copy_from_slice(packed);
    let negative = b[0] & 0x80 == 0;
    b[0] ^= 0x80;
    let mask: u8 = if negative { 0xFF } else { 0 };
    let mut pos = 0;
    let mut group = |n: usize, digits: usize| -> Result<u64, String> {
        let v = b[pos..pos + n]
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x ^ mask));
        pos += n;
        if v >= 10u64.pow(digits as u32) {
            return Err("malformed packed decimal".into());
        }
        Ok(v)
    };
    let mut int_digits: Vec<u8> = Vec::with_capacity(intg + 1);
    if intg0x > 0 {
        let v = group(DIG2BYTES[intg0x], intg0x)?;
        push_padded(&mut int_digits, v, intg0x);
    }
    for _ in 0..intg0 {
        let v = group(4, 9)?;
        push_padded(&mut int_digits, v, 9);
    }
    let mut frac_digits: Vec<u8> = Vec::with_capacity(scale);
    for _ in 0..frac0 {
        let v = group(4, 9)?;
        push_padded(&mut frac_digits, v, 9);
    }
    if frac0x > 0 {
        let v = group(DIG2BYTES[frac0x], frac0x)?;
        push_padded(&mut frac_digits, v, frac0x);
    }
    let first = int_digits.iter().position(|&d| d != b'0');
    let nonzero = first.is_some() || frac_digits.iter().any(|&d| d != b'0');
    if negative && nonzero {
        out.push(b'-');
    }
    match first {
        Some(i) => out.extend_from_slice(&int_digits[i..]),
        None => out.push(b'0'),
    }
    if scale > 0 {
        out.push(b'.');
        out.extend_from_slice(&frac_digits);
    }
    Ok(())
}

/// A double as the server's text protocol prints it (MySQL/MariaDB `my_gcvt`): the
/// shortest digits that read back as the same double, in plain notation when the
/// decimal point falls within 15 digits of them (`100`, `0.000000000000001`,
/// `1234567890123456.8`), else with an exponent (`1e20`, `5e-324`, `1.5e-16`).
pub(crate) fn push_double(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let mut ryu_buf = ryu::Buffer::new();
    let text = ryu_buf.format_finite(x.abs()).as_bytes();
    // ryu writes `ddd.ddd` or `d.ddde[-]x`: collect the digits and where the point goes.
    let (mantissa, exp) = match text.iter().position(|&c| c == b'e') {
        Some(e) => (
            &text[..e],
            std::str::from_utf8(&text[e + 1..])
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut len = 0usize;
    let mut decpt: i32 = exp;
    let mut seen_point = false;
    for &c in mantissa {
        if c == b'.' {
            seen_point = true;
            continue;
        }
        if !seen_point {
            decpt += 1;
        }
        if len == 0 && c == b'0' {
            decpt -= 1;
            continue;
        }
        if len < digits.len() {
            digits[len] = c;
            len += 1;
        }
    }
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    let digits = &digits[..len];
    let n = len as i32;
    if x < 0.0 {
        out.push(b'-');
    }
    if decpt >= -14 && (decpt <= 15 || n > decpt) {
        if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-decpt) as usize, b'0');
            out.extend_from_slice(digits);
        } else if decpt < n {
            out.extend_from_slice(&digits[..decpt as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[decpt as usize..]);
        } else {
            out.extend_from_slice(digits);
            out.resize(out.len() + (decpt - n) as usize, b'0');
        }
    } else {
        out.push(digits[0]);
        if len > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        push_num(out, decpt - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: f64) -> String {
        let mut v = Vec::new();
        push_double(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn doubles_print_like_the_server() {
        for (x, want) in [
            (0.30000000000000004, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (100.0, "100"),
            (1e15, "1e15"),
            (123456789012345.0, "123456789012345"),
            (1e20, "1e20"),
            (1.2345678901234568e20, "1.2345678901234568e20"),
            (1234567890123456.8, "1234567890123456.8"),
            (0.0001, "0.0001"),
            (1e-15, "0.000000000000001"),
            (1e-16, "1e-16"),
            (-1.5e-7, "-0.00000015"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::MAX, "1.7976931348623157e308"),
            (0.0, "0"),
        ] {
            assert_eq!(double(x), want, "{x:e}");
        }
    }

    fn decimal(hex_bytes: &str, p: usize, s: usize) -> String {
        let mut v = Vec::new();
        push_decimal(&mut v, &hex::decode(hex_bytes).unwrap(), p, s).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn decimals_unpack() {
        // MySQL's documentation example: 1234567890.1234 as DECIMAL(14,4).
        assert_eq!(decimal("810DFB38D204D2", 14, 4), "1234567890.1234");
        // -1234567890.1234: every byte inverted.
        assert_eq!(decimal("7EF204C72DFB2D", 14, 4), "-1234567890.1234");
        assert_eq!(decimal("800000", 5, 2), "0.00");
        assert_eq!(decimal("8001", 4, 0), "1");
        assert_eq!(decimal("81", 2, 0), "1");
        assert_eq!(decimal_size(30, 10), 14);
        let mut v = Vec::new();
        assert!(push_decimal(&mut v, &[0x80], 14, 4).is_err());
    }

    #[test]
    fn timestamps_in_utc() {
        let mut out = Vec::new();
        push_timestamp(&mut out, 1_710_054_000, 250_000, 3);
        assert_eq!(out, b"2024-03-10 07:00:00.250");
        out.clear();
        push_timestamp(&mut out, 0, 0, 0);
        assert_eq!(out, b"0000-00-00 00:00:00");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn time2_packing() {
        // 838:59:59 and -12:30:00.50 as MySQL writes them (TIMEF_INT_OFS 0x800000).
        let pos: i64 = (838 << 12) | (59 << 6) | 59;
        let b = ((pos + 0x80_0000) as u32).to_be_bytes();
        assert_eq!(time2_packed(&b[1..4], 0), pos << 24);
        // -12:30:00.50, dec 2: intpart -(12:30:01) + 1 adjustment, frac 0x100 - 50.
        let neg: i64 = (12 << 12) | (30 << 6);
        let stored_int = -(neg) - 1 + 0x80_0000;
        let b = (stored_int as u32).to_be_bytes();
        let bytes = [b[1], b[2], b[3], (0x100 - 50) as u8];
        let p = time2_packed(&bytes, 2);
        assert!(p < 0);
        let v = p.unsigned_abs();
        assert_eq!(v >> 24, neg as u64);
        assert_eq!(v % (1 << 24), 500_000);
    }

    #[test]
    fn latin1_is_windows_1252() {
        let mut out = Vec::new();
        push_latin1(&mut out, b"caf\xe9 \x80\x81\x9f");
        assert_eq!(String::from_utf8(out).unwrap(), "café €\u{81}Ÿ");
    }
}
