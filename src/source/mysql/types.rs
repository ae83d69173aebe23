//! MySQL/MariaDB types in the dump's vocabulary: which encoding a column's values get,
//! the SELECT expression that reads them in that encoding's text form, and the members
//! of an ENUM or SET. Adding a MySQL type starts here (and in `target::typemap`).
//!
//! Values arrive through the text protocol, as the server formats them, which keeps
//! decimals, unsigned bigints and fractional seconds exact. The two exceptions are
//! FLOAT, which MariaDB prints with 6 digits and is therefore read as a double, and
//! geometry, which is selected as (E)WKT text.

use crate::dump::encoding::Encoding;
use crate::dump::schema::Column;

const GEOMETRY_TYPES: &[&str] = &[
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
];

/// Picks the encoding for a column. `is_json` marks MariaDB's JSON alias (a longtext
/// with a `json_valid` check).
pub(crate) fn encoding_for(
    data_type: &str,
    column_type: &str,
    max_length: Option<u64>,
    is_json: bool,
) -> Encoding {
    let dt = data_type.to_ascii_lowercase();
    let ct = column_type.to_ascii_lowercase();
    match dt.as_str() {
        "tinyint" if ct.starts_with("tinyint(1)") => Encoding::BooleanInt,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => Encoding::Integer,
        "decimal" | "numeric" | "fixed" => Encoding::Decimal,
        "float" => Encoding::Float,
        "double" | "real" | "double precision" => Encoding::Double,
        "bit" => Encoding::BitString,
        "year" => Encoding::Year,
        "date" => Encoding::Date,
        "datetime" => Encoding::Datetime,
        "timestamp" => Encoding::TimestampUtc,
        "time" => Encoding::TimeText,
        "enum" => Encoding::EnumText,
        "set" => Encoding::SetText,
        "json" => Encoding::JsonText,
        "uuid" => Encoding::UuidText,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            Encoding::ByteaHex
        }
        t if GEOMETRY_TYPES.contains(&t) => Encoding::GeometryEwkt,
        _ if is_json => Encoding::JsonText,
        "char" if max_length == Some(36) => Encoding::UuidText,
        _ => Encoding::Text,
    }
}

/// The SELECT expression that reads the column (`col` is already quoted).
pub(crate) fn select_expr(encoding: Encoding, col: &str, mysql8: bool) -> String {
    match encoding {
        Encoding::Float => format!("({col} + 0e0)"),
        Encoding::GeometryEwkt => {
            let wkt = if mysql8 {
                format!("ST_AsText({col}, 'axis-order=long-lat')")
            } else {
                format!("ST_AsText({col})")
            };
            format!("IF(ST_SRID({col}) = 0, {wkt}, CONCAT('SRID=', ST_SRID({col}), ';', {wkt}))")
        }
        _ => col.to_string(),
    }
}

/// Charsets in which every value a column can hold converts to utf8mb4 unchanged:
/// utf8mb4 itself; utf8mb3 (`utf8`), a subset the server validates on every write; and
/// latin1, which in MySQL and MariaDB is cp1252 with its five undefined bytes mapped to
/// the C1 controls, so all 256 bytes are characters. `binary` is exported as bytes.
const LOSSLESS_CHARSETS: &[&str] = &["utf8mb4", "utf8mb3", "utf8", "latin1", "binary"];

/// Whether the server may have to replace characters of this column's values when it
/// converts them to the session's utf8mb4: text in any other charset (`ascii` holding a
/// byte above 0x7F, an undefined byte of `cp1250`, an unmapped `sjis` code) comes out as
/// `?`, silently. ENUM and SET values come from the column definition, which is valid.
pub(crate) fn charset_may_replace(c: &Column) -> bool {
    matches!(
        c.encoding,
        Encoding::Text | Encoding::UuidText | Encoding::JsonText
    ) && c
        .charset
        .as_deref()
        .is_some_and(|cs| !LOSSLESS_CHARSETS.contains(&cs.to_ascii_lowercase().as_str()))
}

/// The extra SELECT expression that lets the reader see a replacement: the number of
/// `?` characters in the stored value. A value that arrives with more `?` than it holds
/// had characters replaced; that is exact for every charset (no valid character turns
/// into `?`), and cheap: one scan on the server, and on our side a count only when the
/// value that arrived holds a `?` at all. (Comparing a round trip instead would flag
/// valid values of the charsets whose mapping is not one-to-one, such as cp932.)
pub(crate) fn question_marks_expr(col: &str) -> String {
    format!("CHAR_LENGTH({col}) - CHAR_LENGTH(REPLACE({col}, '?', ''))")
}

/// Splits `enum('a','b''c')` / `set(...)` into its members.
pub(crate) fn parse_enum_values(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else {
        return Vec::new();
    };
    let body = column_type[open + 1..].trim_end_matches(')');
    let mut values = Vec::new();
    let mut cur = String::new();
    let mut chars = body.chars().peekable();
    let mut in_quote = false;
    while let Some(c) = chars.next() {
        match (in_quote, c) {
            (false, '\'') => in_quote = true,
            (false, ',') => values.push(std::mem::take(&mut cur)),
            (false, _) => {}
            (true, '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                cur.push('\'');
            }
            (true, '\'') => in_quote = false,
            (true, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (true, c) => cur.push(c),
        }
    }
    values.push(cur);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_encodings() {
        use Encoding::*;
        let e = |dt, ct, len| encoding_for(dt, ct, len, false);
        assert_eq!(e("char", "char(36)", Some(36)), UuidText);
        assert_eq!(e("char", "char(35)", Some(35)), Text);
        assert_eq!(e("tinyint", "tinyint(1)", None), BooleanInt);
        assert_eq!(e("tinyint", "tinyint(4)", None), Integer);
        assert_eq!(e("longblob", "longblob", None), ByteaHex);
        assert_eq!(e("point", "point", None), GeometryEwkt);
        assert_eq!(encoding_for("longtext", "longtext", None, true), JsonText);
    }

    #[test]
    fn charsets_that_may_replace() {
        let col = |encoding: Encoding, charset: Option<&str>| Column {
            encoding,
            charset: charset.map(str::to_string),
            ..serde_json::from_value(serde_json::json!({
                "name": "c", "column_type": "x", "data_type": "x", "nullable": true,
                "encoding": encoding,
            }))
            .unwrap()
        };
        assert!(charset_may_replace(&col(Encoding::Text, Some("ascii"))));
        assert!(charset_may_replace(&col(Encoding::UuidText, Some("ascii"))));
        assert!(charset_may_replace(&col(Encoding::Text, Some("cp1250"))));
        assert!(!charset_may_replace(&col(Encoding::Text, Some("utf8mb4"))));
        assert!(!charset_may_replace(&col(Encoding::Text, Some("utf8mb3"))));
        assert!(!charset_may_replace(&col(Encoding::Text, Some("latin1"))));
        assert!(!charset_may_replace(&col(
            Encoding::EnumText,
            Some("ascii")
        )));
        assert!(!charset_may_replace(&col(Encoding::Integer, None)));
    }

    #[test]
    fn enum_values() {
        assert_eq!(
            parse_enum_values("enum('G','PG','NC-17')"),
            ["G", "PG", "NC-17"]
        );
        assert_eq!(
            parse_enum_values("set('a,b','it''s','')"),
            ["a,b", "it's", ""]
        );
    }
}
