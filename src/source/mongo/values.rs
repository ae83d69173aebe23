//! BSON values in the dump's text forms, written straight into a row's buffer from the
//! raw document (no intermediate tree, no allocation per value).
//!
//! Documents become relaxed Extended JSON v2, with three choices made so that
//! PostgreSQL's jsonb keeps every value exactly:
//! - a double that jsonb could not tell from an integer or would change keeps its
//!   canonical form: `NaN`, `Infinity`, `-Infinity` (jsonb numbers cannot be
//!   non-finite), `-0.0` (jsonb has no negative zero) and integral values written with
//!   an exponent (`1e+20`, which jsonb would print as a 21-digit integer) become
//!   `{"$numberDouble": "..."}`, as relaxed Extended JSON already does for non-finite
//!   values; every other double is a JSON number with a `.` or an exponent, written
//!   as the shortest decimal that reads back as the same double;
//! - a string holding U+0000, which neither jsonb nor text can store, is written with
//!   the raw NUL byte, so the column's encoder applies `--nul`: by default the export
//!   stops naming the collection, column and `_id`; `--nul strip` removes the NULs and
//!   counts the values changed;
//! - dates are `{"$date": "1969-07-20T20:17:40.000Z"}` (always milliseconds) for the
//!   years 1970 to 9999, and `{"$date": {"$numberLong": "..."}}` outside them, as the
//!   specification says.

use base64::Engine as _;
use bson::RawBsonRef;
use bson::spec::BinarySubtype;

/// MongoDB nests documents at most 100 levels deep (180 for BSON it reads); deeper
/// nesting in a file is refused rather than followed until the stack runs out.
pub(super) const MAX_DEPTH: usize = 200;

/// Why a value cannot be written.
#[derive(Debug)]
pub(super) enum ValueError {
    /// The raw document is malformed at this point.
    Bson(String),
    TooDeep,
}

impl ValueError {
    pub fn describe(&self) -> String {
        match self {
            ValueError::Bson(e) => format!("not valid BSON ({e})"),
            ValueError::TooDeep => {
                format!("documents nested more than {MAX_DEPTH} levels deep are not exported")
            }
        }
    }
}

type Res = Result<(), ValueError>;

fn bson_err(e: impl std::fmt::Display) -> ValueError {
    ValueError::Bson(e.to_string())
}

/// Writes `s` as a JSON string. A NUL stays a raw byte (see the module doc).
pub(super) fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            1..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// The shortest decimal that reads back as `v` (finite), as ryu writes it.
pub(super) fn write_double_text(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

fn write_double(v: f64, out: &mut Vec<u8>) {
    let mut b = ryu::Buffer::new();
    let text = if v.is_finite() {
        b.format_finite(v)
    } else {
        ""
    };
    let plain = v.is_finite()
        && !(v == 0.0 && v.is_sign_negative())
        && !(text.contains('e') && v.fract() == 0.0);
    if plain {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.extend_from_slice(b"{\"$numberDouble\":\"");
        if v == 0.0 {
            out.extend_from_slice(b"-0.0");
        } else {
            write_double_text(v, out);
        }
        out.extend_from_slice(b"\"}");
    }
}

fn write_int(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `1969-07-20 20:17:40.000` (UTC) for a BSON date within the years 0001-9999;
/// `None` outside them. `sep` is `T` for Extended JSON, a space for timestamptz text.
pub(super) fn write_date(ms: i64, sep: u8, out: &mut Vec<u8>) -> bool {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000) as u32;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return false;
    };
    let year = t.year();
    if !(1..=9999).contains(&year) {
        return false;
    }
    let d = |n: u32, width: usize, out: &mut Vec<u8>| {
        let s = itoa::Buffer::new().format(n).len();
        for _ in s..width {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    };
    d(year as u32, 4, out);
    out.push(b'-');
    d(u8::from(t.month()) as u32, 2, out);
    out.push(b'-');
    d(t.day() as u32, 2, out);
    out.push(sep);
    d(t.hour() as u32, 2, out);
    out.push(b':');
    d(t.minute() as u32, 2, out);
    out.push(b':');
    d(t.second() as u32, 2, out);
    out.push(b'.');
    d(millis, 3, out);
    true
}

fn write_binary(subtype: BinarySubtype, bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"$binary\":{\"base64\":\"");
    let start = out.len();
    out.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + n);
    out.extend_from_slice(b"\",\"subType\":\"");
    out.extend_from_slice(format!("{:02x}", u8::from(subtype)).as_bytes());
    out.extend_from_slice(b"\"}}");
}

/// An ObjectId's 24 lowercase hex digits, without an intermediate string.
pub(super) fn write_object_id(o: &bson::oid::ObjectId, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 24, 0);
    let _ = hex::encode_to_slice(o.bytes(), &mut out[start..]);
}

/// Whether a binary is a UUID (subtype 4, 16 bytes).
pub(super) fn is_uuid(subtype: BinarySubtype, bytes: &[u8]) -> bool {
    subtype == BinarySubtype::Uuid && bytes.len() == 16
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub(super) fn write_uuid(bytes: &[u8], out: &mut Vec<u8>) {
    let h = hex::encode(bytes);
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

/// A document's elements as a JSON object.
pub(super) fn write_document(doc: &bson::RawDocument, depth: usize, out: &mut Vec<u8>) -> Res {
    if depth > MAX_DEPTH {
        return Err(ValueError::TooDeep);
    }
    out.push(b'{');
    for (i, el) in doc.iter_elements().enumerate() {
        let el = el.map_err(bson_err)?;
        if i > 0 {
            out.push(b',');
        }
        json_string(el.key().as_str().as_bytes(), out);
        out.push(b':');
        write_value(el.value().map_err(bson_err)?, depth + 1, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// Any BSON value in relaxed Extended JSON (with the choices in the module doc).
pub(super) fn write_value(v: RawBsonRef, depth: usize, out: &mut Vec<u8>) -> Res {
    if depth > MAX_DEPTH {
        return Err(ValueError::TooDeep);
    }
    match v {
        RawBsonRef::Double(d) => write_double(d, out),
        RawBsonRef::String(s) => json_string(s.as_bytes(), out),
        RawBsonRef::Document(d) => write_document(d, depth, out)?,
        RawBsonRef::Array(a) => {
            out.push(b'[');
            for (i, item) in a.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item.map_err(bson_err)?, depth + 1, out)?;
            }
            out.push(b']');
        }
        RawBsonRef::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        RawBsonRef::Null => out.extend_from_slice(b"null"),
        RawBsonRef::RegularExpression(r) => {
            out.extend_from_slice(b"{\"$regularExpression\":{\"pattern\":");
            json_string(r.pattern.as_str().as_bytes(), out);
            out.extend_from_slice(b",\"options\":");
            json_string(r.options.as_str().as_bytes(), out);
            out.extend_from_slice(b"}}");
        }
        RawBsonRef::JavaScriptCode(c) => {
            out.extend_from_slice(b"{\"$code\":");
            json_string(c.as_bytes(), out);
            out.push(b'}');
        }
        RawBsonRef::JavaScriptCodeWithScope(c) => {
            out.extend_from_slice(b"{\"$code\":");
            json_string(c.code.as_bytes(), out);
            out.extend_from_slice(b",\"$scope\":");
            write_document(c.scope, depth + 1, out)?;
            out.push(b'}');
        }
        RawBsonRef::Int32(i) => write_int(i64::from(i), out),
        RawBsonRef::Int64(i) => write_int(i, out),
        RawBsonRef::Timestamp(t) => {
            out.extend_from_slice(b"{\"$timestamp\":{\"t\":");
            write_int(i64::from(t.time), out);
            out.extend_from_slice(b",\"i\":");
            write_int(i64::from(t.increment), out);
            out.extend_from_slice(b"}}");
        }
        RawBsonRef::Binary(b) => write_binary(b.subtype, b.bytes, out),
        RawBsonRef::ObjectId(o) => {
            out.extend_from_slice(b"{\"$oid\":\"");
            write_object_id(&o, out);
            out.extend_from_slice(b"\"}");
        }
        RawBsonRef::DateTime(d) => {
            let ms = d.timestamp_millis();
            out.extend_from_slice(b"{\"$date\":");
            let start = out.len();
            out.push(b'"');
            if ms >= 0 && write_date(ms, b'T', out) {
                out.extend_from_slice(b"Z\"");
            } else {
                out.truncate(start);
                out.extend_from_slice(b"{\"$numberLong\":\"");
                write_int(ms, out);
                out.extend_from_slice(b"\"}");
            }
            out.push(b'}');
        }
        RawBsonRef::Symbol(s) => {
            out.extend_from_slice(b"{\"$symbol\":");
            json_string(s.as_bytes(), out);
            out.push(b'}');
        }
        RawBsonRef::Decimal128(d) => {
            out.extend_from_slice(b"{\"$numberDecimal\":\"");
            out.extend_from_slice(d.to_string().as_bytes());
            out.extend_from_slice(b"\"}");
        }
        RawBsonRef::Undefined => out.extend_from_slice(b"{\"$undefined\":true}"),
        RawBsonRef::MaxKey => out.extend_from_slice(b"{\"$maxKey\":1}"),
        RawBsonRef::MinKey => out.extend_from_slice(b"{\"$minKey\":1}"),
        RawBsonRef::DbPointer(_) => {
            // Deprecated and rare; its parts are private to the bson crate, whose own
            // conversion writes it.
            let b = bson::Bson::try_from(v).map_err(bson_err)?;
            serde_json::to_writer(&mut *out, &b.into_relaxed_extjson()).map_err(bson_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ejson(v: bson::Bson) -> String {
        let doc = bson::doc! { "v": v };
        let raw = bson::RawDocumentBuf::try_from(&doc).unwrap();
        let mut out = Vec::new();
        write_value(raw.get("v").unwrap().unwrap(), 0, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_keep_what_jsonb_would_lose() {
        assert_eq!(ejson(1.0.into()), "1.0");
        assert_eq!(ejson(0.1.into()), "0.1");
        assert_eq!(ejson((-0.0).into()), r#"{"$numberDouble":"-0.0"}"#);
        assert_eq!(ejson(f64::NAN.into()), r#"{"$numberDouble":"NaN"}"#);
        assert_eq!(
            ejson(f64::NEG_INFINITY.into()),
            r#"{"$numberDouble":"-Infinity"}"#
        );
        assert_eq!(ejson(1e20.into()), r#"{"$numberDouble":"1e20"}"#);
        assert_eq!(ejson(1.5e-7.into()), "1.5e-7");
    }

    #[test]
    fn dates_and_strings() {
        let d = |ms| ejson(bson::Bson::DateTime(bson::DateTime::from_millis(ms)));
        assert_eq!(d(0), r#"{"$date":"1970-01-01T00:00:00.000Z"}"#);
        assert_eq!(d(-1), r#"{"$date":{"$numberLong":"-1"}}"#);
        assert_eq!(
            d(253402300799999),
            r#"{"$date":"9999-12-31T23:59:59.999Z"}"#
        );
        assert_eq!(
            d(253402300800000),
            r#"{"$date":{"$numberLong":"253402300800000"}}"#
        );
        assert_eq!(
            ejson("a\"\\\n\u{1}\0é".into()),
            "\"a\\\"\\\\\\n\\u0001\0é\""
        );
        let mut out = Vec::new();
        assert!(!write_date(i64::MIN, b' ', &mut out));
        assert!(write_date(-62135596800000, b' ', &mut out));
        assert_eq!(out, b"0001-01-01 00:00:00.000");
    }
}
