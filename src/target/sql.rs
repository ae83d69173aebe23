//! PostgreSQL SQL text: identifiers and literals quoted for a session with
//! `standard_conforming_strings = on` (which every waybill session sets).
//!
//! A literal holding a control character (a manifest comment with a line break or an
//! escape sequence) is written as an escape string, `E'a\nb'`: the value is the same,
//! and the SQL text, which goes into `import_script_<ts>.sql`, the import log and the
//! terminal, holds no raw control characters and no line an attacker chose.

use crate::printable::is_unsafe;

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` for standard_conforming_strings = on; `E'...'` with escapes when the text
/// holds control or format characters.
pub(crate) fn quote_literal(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A MySQL SET value (`a,b`, or `''` for none) as a `text[]`: the one conversion both
/// `--create-schema` and a load into an existing array column use.
pub(crate) fn set_to_array(expr: &str) -> String {
    format!("CASE WHEN {expr} = '' THEN '{{}}'::text[] ELSE string_to_array({expr}, ',') END")
}

pub(crate) fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(qualified("public", "we\"ird"), "\"public\".\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "'a\\b'");
        assert_eq!(
            quote_literal("it's\n* * * * * root x\\y\u{1b}[2J"),
            "E'it''s\\n* * * * * root x\\\\y\\u001b[2J'"
        );
    }
}
