//! SQLite's part of the type map. SQLite integers are 64-bit, so every integer column
//! becomes bigint (and an INTEGER PRIMARY KEY a bigint identity). SQLite enforces no
//! declared length or precision, so VARCHAR(n) and NUMERIC(p,s) are kept only when the
//! export found every value within them (`values_beyond_declared`); otherwise the column
//! becomes text or numeric, with a warning. Defaults and partial-index conditions are
//! SQLite SQL and are translated where the meaning is certain, else dropped (defaults)
//! or the index skipped, with a warning.

use super::{Mapped, is_numeric_type, shown};
use crate::dump::encoding::Encoding;
use crate::dump::schema::{Column, ColumnDefault};
use crate::dump::validate::is_number;
use crate::printable::escaped;
use crate::target::sql::quote_literal;

/// The longest varchar PostgreSQL allows.
const MAX_VARCHAR: u64 = 10_485_760;

/// The PostgreSQL type where SQLite's rules decide it (`None`: the encoding decides, in
/// `typemap`).
pub(super) fn column_type(c: &Column, at: &str, warnings: &mut Vec<String>) -> Option<String> {
    let beyond = c.values_beyond_declared;
    let mut widened = |to: &str| {
        warnings.push(format!(
            "{at}: {beyond} value(s) do not fit the declared {} (SQLite does not enforce it); created as {to}",
            c.column_type
        ));
        to.to_string()
    };
    Some(match c.encoding {
        Encoding::Integer => "bigint".into(),
        Encoding::Decimal => match (c.precision, c.scale) {
            (Some(p), Some(s)) if beyond > 0 && p > 0 && s <= p => widened("numeric"),
            (Some(p), Some(s)) if p > 0 && p <= 1000 && s <= p => format!("numeric({p},{s})"),
            _ => "numeric".into(),
        },
        Encoding::Text => match c.max_length {
            Some(n) if beyond > 0 && n > 0 => widened("text"),
            Some(n) if n > 0 && n <= MAX_VARCHAR => format!("varchar({n})"),
            _ => "text".into(),
        },
        _ => return None,
    })
}

fn is_text_type(t: &str) -> bool {
    t == "text" || t.starts_with("varchar")
}

/// `YYYY-MM-DD...` or `HH:MM...`: a literal a date/time column can default to.
fn looks_temporal(v: &str) -> bool {
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    (digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7) && b.get(7) == Some(&b'-'))
        || (digits(0..2) && b.get(2) == Some(&b':') && digits(3..5))
}

/// SQLite's clock is UTC; so are the dump's timestamps.
const UTC_NOW: &str = "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')";

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
    let temporal = ty.starts_with("timestamp") || ty == "date" || ty.starts_with("time");
    match c.default.as_ref()? {
        ColumnDefault::Null => None,
        ColumnDefault::Literal(v) => {
            if ty == "boolean" {
                match v.as_str() {
                    "0" => Some("false".into()),
                    "1" => Some("true".into()),
                    _ => drop(shown(v)),
                }
            } else if is_numeric_type(&ty) {
                // Digits only: `inf` or `NaN` would parse as floats but are not SQL.
                let plain = v
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
                if plain && is_number(v) {
                    Some(v.clone())
                } else {
                    drop(shown(v))
                }
            } else if temporal {
                // A number here would be a Unix time; PostgreSQL reads only text.
                if looks_temporal(v) {
                    Some(quote_literal(v))
                } else {
                    drop(shown(v))
                }
            } else if ty == "bytea" {
                Some(format!("'\\x{}'::bytea", hex::encode(v.as_bytes())))
            } else if ty == "jsonb" {
                if serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok() {
                    Some(quote_literal(v))
                } else {
                    drop(shown(v))
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
            let now = |pg_type: &str, text_format: &str| {
                if is_text_type(&ty) {
                    Some(format!("to_char({UTC_NOW}, '{text_format}')"))
                } else if pg_type == "timestamp" && ty.starts_with("timestamptz") {
                    Some("CURRENT_TIMESTAMP".to_string())
                } else if ty.starts_with(pg_type)
                    && (pg_type != "time" || !ty.starts_with("timestamp"))
                {
                    Some(match pg_type {
                        "timestamp" => UTC_NOW.to_string(),
                        other => format!("{UTC_NOW}::{other}"),
                    })
                } else {
                    None
                }
            };
            let translated = match norm.as_str() {
                "current_timestamp" | "datetime('now')" => {
                    now("timestamp", "YYYY-MM-DD HH24:MI:SS")
                }
                "current_date" | "date('now')" => now("date", "YYYY-MM-DD"),
                "current_time" | "time('now')" => now("time", "HH24:MI:SS"),
                _ if ty == "bytea"
                    && norm.len() >= 3
                    && norm.starts_with("x'")
                    && norm.ends_with('\'')
                    && hex::decode(&norm[2..norm.len() - 1]).is_ok() =>
                {
                    Some(format!("'\\x{}'::bytea", &norm[2..norm.len() - 1]))
                }
                _ => None,
            };
            translated.or_else(|| drop(format!("expression {}", escaped(e))))
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(String),
    Op(String),
    Word(String),
}

fn tokenize(s: &str) -> Option<Vec<Token>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if matches!(c, b'"' | b'`' | b'[' | b'\'') {
            let close = if c == b'[' { b']' } else { c };
            let mut text = Vec::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return None,
                    Some(&x) if x == close && close != b']' && b.get(i + 1) == Some(&close) => {
                        text.push(x);
                        i += 2;
                    }
                    Some(&x) if x == close => {
                        i += 1;
                        break;
                    }
                    Some(&x) => {
                        text.push(x);
                        i += 1;
                    }
                }
            }
            let text = String::from_utf8(text).ok()?;
            out.push(if c == b'\'' {
                Token::Str(text)
            } else {
                Token::Ident(text)
            });
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while b.get(i).is_some_and(|x| x.is_ascii_digit() || *x == b'.') {
                i += 1;
            }
            out.push(Token::Num(s[start..i].to_string()));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while b
                .get(i)
                .is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'_')
            {
                i += 1;
            }
            out.push(Token::Word(s[start..i].to_string()));
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let op = match two {
                "==" | "<>" | "!=" | "<=" | ">=" => two,
                _ => match c {
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    _ => return None,
                },
            };
            i += op.len();
            out.push(Token::Op(op.to_string()));
        }
    }
    Some(out)
}

fn word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// A partial index's condition, translated when it is a conjunction (AND) of simple
/// tests on columns: `col IS [NOT] NULL`, `col <op> literal`, `col`, `NOT col`.
/// Anything else (functions, OR, subqueries) is not translated.
pub(super) fn index_predicate(
    predicate: &str,
    column: &dyn Fn(&str) -> Option<(String, String)>,
) -> Option<String> {
    let tokens = tokenize(predicate)?;
    let mut terms = Vec::new();
    for term in tokens.split(|t| word(Some(t), "and")) {
        let (negated, rest) = match term {
            [first, rest @ ..] if word(Some(first), "not") => (true, rest),
            _ => (false, term),
        };
        let (name, rest) = match rest {
            [Token::Ident(n) | Token::Word(n), rest @ ..] => (n, rest),
            _ => return None,
        };
        let (col, ty) = column(name)?;
        let ty = ty.to_ascii_lowercase();
        let literal = |t: &Token| -> Option<String> {
            match t {
                Token::Num(n) if ty == "boolean" => match n.as_str() {
                    "0" => Some("false".into()),
                    "1" => Some("true".into()),
                    _ => None,
                },
                Token::Word(w) if ty == "boolean" => match w.to_ascii_lowercase().as_str() {
                    "true" => Some("true".into()),
                    "false" => Some("false".into()),
                    _ => None,
                },
                Token::Num(n) if is_numeric_type(&ty) && n.parse::<f64>().is_ok() => {
                    Some(n.clone())
                }
                Token::Str(s) if is_text_type(&ty) => Some(quote_literal(s)),
                _ => None,
            }
        };
        let sql = match rest {
            [] if ty == "boolean" => col,
            [is, null] if word(Some(is), "is") && word(Some(null), "null") => {
                format!("{col} IS NULL")
            }
            [is, not, null]
                if word(Some(is), "is") && word(Some(not), "not") && word(Some(null), "null") =>
            {
                format!("{col} IS NOT NULL")
            }
            [Token::Op(op), lit] => {
                let op = match op.as_str() {
                    "==" => "=",
                    "!=" => "<>",
                    o => o,
                };
                format!("{col} {op} {}", literal(lit)?)
            }
            _ => return None,
        };
        terms.push(if negated { format!("NOT ({sql})") } else { sql });
    }
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(c: &str) -> Option<(String, String)> {
        let ty = match c {
            "deletedAt" => "timestamp(3)",
            "active" => "boolean",
            "qty" => "bigint",
            "email" => "text",
            _ => return None,
        };
        Some((format!("\"{c}\""), ty.to_string()))
    }

    #[test]
    fn partial_index_conditions() {
        let p = |s: &str| index_predicate(s, &col);
        assert_eq!(
            p("\"deletedAt\" IS NULL").as_deref(),
            Some("\"deletedAt\" IS NULL")
        );
        assert_eq!(
            p("active = 1 AND qty > -5 and [email] IS NOT NULL").as_deref(),
            Some("\"active\" = true AND \"qty\" > -5 AND \"email\" IS NOT NULL")
        );
        assert_eq!(p("NOT active").as_deref(), Some("NOT (\"active\")"));
        assert_eq!(
            p("email != 'it''s'").as_deref(),
            Some("\"email\" <> 'it''s'")
        );
        assert_eq!(p("qty > 5 OR qty < 1"), None);
        assert_eq!(p("lower(email) = 'x'"), None);
        assert_eq!(p("missing IS NULL"), None);
        assert_eq!(p("qty = 'x'"), None);
        assert_eq!(p("active = 2"), None);
        // A condition from an untrusted manifest cannot smuggle SQL through.
        assert_eq!(p("qty = 1); DROP TABLE x; --"), None);
        assert_eq!(p("email = 'x' || current_user"), None);
    }

    #[test]
    fn defaults() {
        let mapped = |ty: &str| Mapped {
            load_type: ty.into(),
            set_to_array: false,
            identity: false,
            overridden: false,
            warnings: Vec::new(),
        };
        let column = |d: ColumnDefault| -> Column {
            let mut c: Column = serde_json::from_value(serde_json::json!({
                "name": "c", "column_type": "X", "data_type": "x", "nullable": true,
                "encoding": "text",
            }))
            .unwrap();
            c.default = Some(d);
            c
        };
        let d = |ty: &str, def: ColumnDefault| {
            let mut w = Vec::new();
            let out = default_sql(&column(def), &mapped(ty), "t.c", &mut w);
            (out, w)
        };
        use ColumnDefault::*;
        let e = |s: &str| Expression(s.into());
        let l = |s: &str| Literal(s.into());
        assert_eq!(
            d("timestamp(3)", e("CURRENT_TIMESTAMP")).0.as_deref(),
            Some(UTC_NOW)
        );
        assert_eq!(
            d("timestamptz", e("CURRENT_TIMESTAMP")).0.as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(
            d("date", e("date('now')")).0.as_deref(),
            Some("(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')::date")
        );
        assert_eq!(
            d("text", e("datetime('now')")).0.as_deref(),
            Some("to_char((CURRENT_TIMESTAMP AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')")
        );
        assert_eq!(
            d("time", e("CURRENT_TIME")).0.as_deref(),
            Some("(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')::time")
        );
        assert_eq!(d("boolean", l("0")).0.as_deref(), Some("false"));
        assert_eq!(d("bigint", l("-1")).0.as_deref(), Some("-1"));
        assert_eq!(d("double precision", l("inf")).0, None);
        assert_eq!(d("text", l("it's")).0.as_deref(), Some("'it''s'"));
        assert_eq!(d("jsonb", l("{}")).0.as_deref(), Some("'{}'"));
        assert_eq!(
            d("bytea", e("X'00FF'")).0.as_deref(),
            Some("'\\x00ff'::bytea")
        );
        let (none, w) = d("timestamp(3)", l("0"));
        assert_eq!(none, None);
        assert_eq!(
            w,
            ["t.c: default \"0\" not translated; the column has no default"]
        );
        let (none, w) = d("text", e("lower(hex(randomblob(16)))"));
        assert_eq!(none, None);
        assert!(
            w[0].contains("expression lower(hex(randomblob(16)))"),
            "{w:?}"
        );
    }
}
