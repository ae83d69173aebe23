//! Text that did not come from waybill itself (a manifest's comments, CHECK clauses,
//! defaults and names; a value a server quotes back in an error) is shown to people and
//! written to side files. A dump may have been crafted, so that text must not be able
//! to drive the terminal (escape sequences), forge lines in a log, or reorder what is
//! shown (bidirectional overrides). Every place that prints or logs such text goes
//! through `escaped` (one line) or `escaped_lines` (keeps line breaks that waybill's own
//! messages use).

use std::borrow::Cow;

/// Control characters, and the format characters that can make text read differently
/// from what it is: bidirectional overrides and isolates, line and paragraph separators.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let keep = |c: char| !is_unsafe(c) || (keep_newlines && c == '\n');
    if s.chars().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if keep(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// `s` on one line, every control or format character written as an escape
/// (`\n`, `\t`, `\u{1b}`).
pub(crate) fn escaped(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like `escaped`, but line breaks stay (for multi-line messages).
pub(crate) fn escaped_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_overrides() {
        assert_eq!(escaped("plain ünïcødé 😀"), "plain ünïcødé 😀");
        assert!(matches!(escaped("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escaped("a\nb\r\tc\u{1b}[2J\u{7f}\u{9b}"),
            "a\\nb\\r\\tc\\u{1b}[2J\\u{7f}\\u{9b}"
        );
        assert_eq!(escaped("x\u{202e}y\u{2028}"), "x\\u{202e}y\\u{2028}");
        assert_eq!(escaped_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
    }
}
