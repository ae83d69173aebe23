//! PostgreSQL SQL text: identifiers and literals quoted for a session with
//! `standard_conforming_strings = on` (which every waybill session sets).

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` for standard_conforming_strings = on.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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
    }
}
