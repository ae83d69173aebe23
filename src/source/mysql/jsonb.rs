//! MySQL 8's binary JSON, as logged for a JSON column, printed the way MySQL prints a
//! JSON value through the text protocol (what a full export reads): members in stored
//! order, `", "` and `": "` between them, strings escaped as MySQL escapes them, a double
//! that looks like an integer gets `.0`. MariaDB stores JSON as text and never comes
//! here. Not tested against a MySQL server (the test servers are MariaDB); PostgreSQL
//! reads the result as jsonb either way.

use mysql_common::binlog::jsonb::{ComplexValue, Value};
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

use super::rowimage::{decimal_size, push_decimal, push_double};

pub(super) fn push_json(out: &mut Vec<u8>, binary: &[u8]) -> Result<(), String> {
    let value: Value = ParseBuf(binary)
        .parse(())
        .map_err(|e| format!("unreadable binary JSON: {e}"))?;
    push_value(out, &value)
}

fn io(e: std::io::Error) -> String {
    format!("unreadable binary JSON: {e}")
}

fn push_value(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    let mut b = itoa::Buffer::new();
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::I16(x) => out.extend_from_slice(b.format(*x).as_bytes()),
        Value::U16(x) => out.extend_from_slice(b.format(*x).as_bytes()),
        Value::I32(x) => out.extend_from_slice(b.format(*x).as_bytes()),
        Value::U32(x) => out.extend_from_slice(b.format(*x).as_bytes()),
        Value::I64(x) => out.extend_from_slice(b.format(*x).as_bytes()),
        Value::U64(x) => out.extend_from_slice(b.format(*x).as_bytes()),
        Value::F64(x) => {
            let start = out.len();
            push_double(out, *x);
            if out[start..]
                .iter()
                .all(|c| *c == b'-' || c.is_ascii_digit())
            {
                out.extend_from_slice(b".0");
            }
        }
        Value::String(s) => push_string(out, s.str_raw()),
        Value::SmallArray(a) => push_array(out, a)?,
        Value::LargeArray(a) => push_array(out, a)?,
        Value::SmallObject(o) => push_object(out, o)?,
        Value::LargeObject(o) => push_object(out, o)?,
        Value::Opaque(o) => push_opaque(out, o.value_type(), o.data_raw())?,
    }
    Ok(())
}

fn push_array<T: mysql_common::binlog::jsonb::StorageFormat>(
    out: &mut Vec<u8>,
    a: &ComplexValue<'_, T, mysql_common::binlog::jsonb::Array>,
) -> Result<(), String> {
    out.push(b'[');
    for (i, item) in a.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        push_value(out, &item.map_err(io)?)?;
    }
    out.push(b']');
    Ok(())
}

fn push_object<T: mysql_common::binlog::jsonb::StorageFormat>(
    out: &mut Vec<u8>,
    o: &ComplexValue<'_, T, mysql_common::binlog::jsonb::Object>,
) -> Result<(), String> {
    out.push(b'{');
    for (i, item) in o.iter().enumerate() {
        let (key, value) = item.map_err(io)?;
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        push_string(out, key.value_raw());
        out.extend_from_slice(b": ");
        push_value(out, &value)?;
    }
    out.push(b'}');
    Ok(())
}

fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// Dates, times and decimals inside JSON: an 8-byte packed value (MySQL's
/// `TIME_to_longlong_*_packed`) or a packed decimal after its precision and scale.
fn push_opaque(out: &mut Vec<u8>, ty: ColumnType, data: &[u8]) -> Result<(), String> {
    match ty {
        ColumnType::MYSQL_TYPE_NEWDECIMAL => {
            let (&p, rest) = data.split_first().ok_or("empty JSON decimal")?;
            let (&s, packed) = rest.split_first().ok_or("short JSON decimal")?;
            let (p, s) = (usize::from(p), usize::from(s));
            if p == 0 || s > p || packed.len() < decimal_size(p, s) {
                return Err("malformed JSON decimal".into());
            }
            push_decimal(out, &packed[..decimal_size(p, s)], p, s)
        }
        ColumnType::MYSQL_TYPE_DATE
        | ColumnType::MYSQL_TYPE_DATETIME
        | ColumnType::MYSQL_TYPE_TIMESTAMP
        | ColumnType::MYSQL_TYPE_TIME => {
            let raw: [u8; 8] = data
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or("short JSON date/time")?;
            let packed = i64::from_le_bytes(raw);
            let neg = packed < 0;
            let v = packed.unsigned_abs();
            let int = v >> 24;
            let usec = v % (1 << 24);
            let mut text = String::new();
            if ty == ColumnType::MYSQL_TYPE_TIME {
                let (h, m, s) = ((int >> 12) % (1 << 10), (int >> 6) % 64, int % 64);
                text.push_str(&format!(
                    "{}{h:02}:{m:02}:{s:02}.{usec:06}",
                    if neg { "-" } else { "" }
                ));
            } else {
                let ymd = int >> 17;
                let hms = int % (1 << 17);
                let ym = ymd >> 5;
                text.push_str(&format!("{:04}-{:02}-{:02}", ym / 13, ym % 13, ymd % 32));
                if ty != ColumnType::MYSQL_TYPE_DATE {
                    text.push_str(&format!(
                        " {:02}:{:02}:{:02}.{usec:06}",
                        hms >> 12,
                        (hms >> 6) % 64,
                        hms % 64
                    ));
                }
            }
            push_string(out, text.as_bytes());
            Ok(())
        }
        other => Err(format!(
            "a JSON value of MySQL type {other:?}, which catch-up does not print"
        )),
    }
}
