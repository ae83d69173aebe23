//! MySQL's part of the type map: integer widths (signed and unsigned), char/varchar
//! lengths, TIME (which goes beyond 24 hours, so it becomes an interval), and column
//! defaults in MySQL syntax. Adding a MySQL type means a rule in
//! `source::mysql::types` (its encoding) and, when the encoding alone does not decide
//! the PostgreSQL type, one here.

use super::{Mapped, is_numeric_type, shown};
use crate::dump::encoding::Encoding;
use crate::dump::schema::{Column, ColumnDefault};
use crate::dump::validate::is_number;
use crate::printable::escaped;
use crate::target::sql::quote_literal;

fn int_type(data_type: &str, unsigned: bool) -> &'static str {
    match (data_type, unsigned) {
        ("tinyint", _) | ("smallint", false) => "smallint",
        ("smallint", true) | ("mediumint", _) | ("int" | "integer", false) => "integer",
        ("int" | "integer", true) | ("bigint", false) => "bigint",
        _ => "numeric(20)",
    }
}

/// The PostgreSQL type where MySQL's own type names decide it (`None`: the encoding
/// decides, in `typemap`).
pub(super) fn column_type(c: &Column) -> Option<String> {
    Some(match c.encoding {
        Encoding::Integer => int_type(&c.data_type, c.unsigned).into(),
        Encoding::Decimal => match (c.precision, c.scale) {
            (Some(p), Some(s)) => format!("numeric({p},{s})"),
            _ => "numeric".into(),
        },
        Encoding::TimeText => "interval".into(),
        Encoding::Text => match (c.data_type.as_str(), c.max_length) {
            ("char" | "varchar", Some(n)) if n <= 10_485_760 => format!("varchar({n})"),
            _ => "text".into(),
        },
        _ => return None,
    })
}

/// `YYYY-MM-DD...` with a zero year, month or day (compared as bytes: the text may
/// hold anything).
fn is_zero_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10 && (&b[0..4] == b"0000" || &b[5..7] == b"00" || &b[8..10] == b"00")
}

/// bit(n) has at most 64 bits (the manifest is validated; this keeps a width sane anyway).
fn bit_width(c: &Column) -> usize {
    c.precision.unwrap_or(1).clamp(1, 64) as usize
}

/// The DEFAULT clause for a column, or a warning when it cannot be translated.
pub(super) fn default_sql(
    c: &Column,
    m: &Mapped,
    at: &str,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let ty = m.final_type().to_ascii_lowercase();
    let mut drop = |why: String| {
        warnings.push(format!(
            "{at}: default {why} not translated; the column has no default"
        ));
        None
    };
    match c.default.as_ref()? {
        ColumnDefault::Null => None,
        // A SET's default is set after the column becomes text[].
        ColumnDefault::Literal(_) if m.set_to_array => None,
        ColumnDefault::Literal(v) => {
            if ty == "boolean" {
                match v.as_str() {
                    "0" | "b'0'" => Some("false".into()),
                    "1" | "b'1'" => Some("true".into()),
                    _ => drop(shown(v)),
                }
            } else if is_numeric_type(&ty) {
                if is_number(v) {
                    Some(v.clone())
                } else {
                    drop(shown(v))
                }
            } else if matches!(
                c.encoding,
                Encoding::Date | Encoding::Datetime | Encoding::TimestampUtc
            ) && is_zero_date(v)
            {
                warnings.push(format!(
                    "{at}: zero-date default {} dropped (zero dates become NULL)",
                    shown(v)
                ));
                None
            } else if ty == "uuid" && v.is_empty() {
                None
            } else if ty == "bytea" {
                Some(format!("'\\x{}'::bytea", hex::encode(v.as_bytes())))
            } else if ty.starts_with("bit(") {
                match v.parse::<u64>() {
                    Ok(n) => Some(format!("B'{:0w$b}'", n, w = bit_width(c))),
                    Err(_) => drop(shown(v)),
                }
            } else {
                Some(quote_literal(v))
            }
        }
        ColumnDefault::Expression(e) => {
            let norm: String = e
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let base = norm.split('(').next().unwrap_or("");
            match base {
                "current_timestamp" | "now" | "localtimestamp" | "localtime" | "sysdate" => {
                    Some("CURRENT_TIMESTAMP".into())
                }
                "curdate" | "current_date" => Some("CURRENT_DATE".into()),
                "uuid" if ty == "uuid" => Some("gen_random_uuid()".into()),
                "uuid" => Some("gen_random_uuid()::text".into()),
                "null" => None,
                _ if norm.len() >= 3
                    && norm.starts_with("b'")
                    && norm.ends_with('\'')
                    && norm[2..norm.len() - 1]
                        .bytes()
                        .all(|b| b == b'0' || b == b'1') =>
                {
                    let bits = &norm[2..norm.len() - 1];
                    if ty == "boolean" {
                        Some(
                            if bits.trim_start_matches('0').is_empty() {
                                "false"
                            } else {
                                "true"
                            }
                            .into(),
                        )
                    } else if ty.starts_with("bit(") {
                        Some(format!("B'{:0>w$}'", bits, w = bit_width(c)))
                    } else {
                        drop(shown(e))
                    }
                }
                _ => drop(format!("expression {}", escaped(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_dates() {
        for zero in [
            "0000-00-00",
            "2024-00-10",
            "2024-01-00 10:00:00",
            "0000-01-01",
        ] {
            assert!(is_zero_date(zero), "{zero}");
        }
        for other in ["2024-01-01", "2024-10-10 00:00:00", "0000", "00-00", ""] {
            assert!(!is_zero_date(other), "{other}");
        }
    }
}
