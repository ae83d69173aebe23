//! MySQL/MariaDB types in the dump's vocabulary: which encoding a column's values get,
//! the SELECT expression that reads them in that encoding's text form, and the members
//! of an ENUM or SET. Adding a MySQL type starts here (and in `target::typemap`).
//!
//! Values arrive through the text protocol, as the server formats them, which keeps
//! decimals, unsigned bigints and fractional seconds exact. The two exceptions are
//! FLOAT, which MariaDB prints with 6 digits and is therefore read as a double, and
//! geometry, which is selected as (E)WKT text.

use crate::dump::encoding::Encoding;

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
