//! File names for tables. A dump is copied between hosts, so a name must be valid on
//! every filesystem and map back to exactly one table: anything outside
//! `[A-Za-z0-9_.-]` is percent-encoded, and on top of that
//! - Windows device names (`con`, `nul`, `com1`, ...) and a leading `.` get their first
//!   character encoded;
//! - a name ending in `.<digits>` gets that dot encoded, so chunk files
//!   (`<base>.<NNNN>.csv`) never look like another table's single file;
//! - a name equal to an earlier one ignoring case (`Foo` and `foo`, distinct tables in
//!   MySQL on Linux, one file on macOS and Windows) gets every letter encoded, and the
//!   two rules above again;
//! - an encoded name over 200 bytes is cut and given a hash suffix.
//!
//! The manifest records the name of every file, so nothing ever has to decode these.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

const MAX_BASE: usize = 200;

fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn push_escaped(out: &mut String, b: u8) {
    out.push_str(&format!("%{b:02X}"));
}

/// Percent-encodes every byte outside `[A-Za-z0-9_.-]`.
pub(crate) fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if is_safe(b) {
            out.push(b as char);
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

fn is_windows_device(stem: &str) -> bool {
    let s = stem.to_ascii_lowercase();
    matches!(s.as_str(), "con" | "prn" | "aux" | "nul")
        || ((s.starts_with("com") || s.starts_with("lpt"))
            && s.len() == 4
            && s.as_bytes()[3].is_ascii_digit())
}

/// The encoded form of one path component (a table or database name).
pub(crate) fn component(name: &str) -> String {
    let mut out = percent_encode(name);
    let stem = out.split('.').next().unwrap_or("").to_string();
    if out.starts_with('.') || is_windows_device(&stem) {
        let first = out.as_bytes()[0];
        let mut fixed = String::new();
        push_escaped(&mut fixed, first);
        fixed.push_str(&out[1..]);
        out = fixed;
    }
    out
}

fn encode_letters(name: &str) -> String {
    let mut out = String::new();
    for &b in name.as_bytes() {
        if is_safe(b) && !b.is_ascii_alphabetic() {
            out.push(b as char);
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

fn ends_with_dot_digits(s: &str) -> Option<usize> {
    let dot = s.rfind('.')?;
    let tail = &s[dot + 1..];
    (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then_some(dot)
}

/// The rules every base name gets last, whichever way it was encoded: a leading `.` and
/// a `.<digits>` ending are escaped (a hidden file; a name a chunk file of another
/// table could have), then an overlong name is shortened.
fn finish(mut base: String, name: &str) -> String {
    if base.starts_with('.') {
        base = format!("%2E{}", &base[1..]);
    }
    if let Some(dot) = ends_with_dot_digits(&base) {
        base = format!("{}%2E{}", &base[..dot], &base[dot + 1..]);
    }
    shorten(base, name)
}

fn shorten(base: String, name: &str) -> String {
    if base.len() <= MAX_BASE {
        return base;
    }
    let mut cut = MAX_BASE - 17;
    // never cut inside a %XX escape
    while cut > 0 && base[..cut].rfind('%').is_some_and(|p| p + 3 > cut) {
        cut -= 1;
    }
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{}_{}", &base[..cut], &digest[..16])
}

/// Hands out unique base names for the tables of one dump.
#[derive(Default)]
pub(crate) struct FileNamer {
    used: HashSet<String>,
}

impl FileNamer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A base name unique within this dump, compared without case.
    pub(crate) fn base_for(&mut self, table: &str) -> String {
        let mut base = finish(component(table), table);
        if self.used.contains(&base.to_ascii_lowercase()) {
            base = finish(encode_letters(table), table);
        }
        let mut n = 2;
        let original = base.clone();
        while self.used.contains(&base.to_ascii_lowercase()) {
            // Only reachable through a hash collision of shortened names.
            base = format!("{original}_{n}");
            n += 1;
        }
        self.used.insert(base.to_ascii_lowercase());
        base
    }
}

/// `<base>.csv` for a table in one file, `<base>.<NNNN>.csv` for chunk `index` (from 1).
pub(crate) fn csv_file(base: &str, chunk: Option<usize>) -> String {
    match chunk {
        None => format!("{base}.csv"),
        Some(i) => format!("{base}.{i:04}.csv"),
    }
}

/// A data file's name: `csv_file`, with the compression's extension (`.csv.zst`).
pub(crate) fn data_file(
    base: &str,
    chunk: Option<usize>,
    compression: Option<crate::dump::manifest::Compression>,
) -> String {
    let mut name = csv_file(base, chunk);
    if let Some(c) = compression {
        name.push_str(c.extension());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_unsafe_bytes() {
        assert_eq!(component("order items"), "order%20items");
        assert_eq!(component("a/b\\c:d"), "a%2Fb%5Cc%3Ad");
        assert_eq!(component("café"), "caf%C3%A9");
        assert_eq!(component("plain_Name-1.x"), "plain_Name-1.x");
    }

    #[test]
    fn windows_devices_and_dots() {
        assert_eq!(component("con"), "%63on");
        assert_eq!(component("NUL.x"), "%4EUL.x");
        assert_eq!(component("com1"), "%63om1");
        assert_eq!(component("console"), "console");
        assert_eq!(component(".hidden"), "%2Ehidden");
    }

    #[test]
    fn unique_ignoring_case_and_chunk_suffixes() {
        let mut n = FileNamer::new();
        let a = n.base_for("Foo");
        let b = n.base_for("foo");
        let c = n.base_for("FOO");
        let d = n.base_for("t.0001");
        let e = n.base_for("t");
        let all = [&a, &b, &c, &d, &e];
        let lower: HashSet<String> = all.iter().map(|s| s.to_ascii_lowercase()).collect();
        assert_eq!(lower.len(), 5, "{all:?}");
        assert_eq!(d, "t%2E0001");
        assert_ne!(csv_file(&d, None), csv_file(&e, Some(1)));
    }

    #[test]
    fn long_names_are_shortened() {
        let name = "é".repeat(64);
        let mut n = FileNamer::new();
        let b = n.base_for(&name);
        assert!(b.len() <= MAX_BASE, "{}", b.len());
        let bytes = b.as_bytes();
        for (i, _) in b.match_indices('%') {
            assert!(
                i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit(),
                "cut escape in {b}"
            );
        }
        let other = n.base_for(&format!("{}x", "é".repeat(63)));
        assert_ne!(b, other);
    }

    #[test]
    fn device_names_letters_and_dot_digits() {
        for (name, encoded) in [
            ("lpt9", "%6Cpt9"),
            ("COM1.x", "%43OM1.x"),
            ("aux", "%61ux"),
            ("prn", "%70rn"),
            ("com10", "com10"),
            ("coma", "coma"),
            ("abc1", "abc1"),
            ("cons", "cons"),
        ] {
            assert_eq!(component(name), encoded, "{name}");
        }
        assert_eq!(encode_letters("Ab_1.-%"), "%41%62_1.-%25");
        let mut n = FileNamer::new();
        assert_eq!(n.base_for("t."), "t.");
        assert_eq!(n.base_for("v1.2a"), "v1.2a");
        assert_eq!(n.base_for("v.12"), "v%2E12");
    }

    /// The names given when a name is taken ignoring case follow the same rules: no
    /// leading dot, no `.<digits>` ending that a chunk file of another table could have.
    #[test]
    fn case_collisions_keep_the_chunk_and_dot_rules() {
        let mut n = FileNamer::new();
        let bases: Vec<String> = ["v", "V", "v.0001", "V.0001", ".x", ".X"]
            .iter()
            .map(|t| n.base_for(t))
            .collect();
        let mut files = HashSet::new();
        for b in &bases {
            assert!(!b.starts_with('.'), "{b}");
            for f in [
                csv_file(b, None),
                csv_file(b, Some(1)),
                csv_file(b, Some(12)),
            ] {
                assert!(files.insert(f.to_ascii_lowercase()), "{f} twice: {bases:?}");
            }
        }
    }

    /// Names over 200 bytes are cut at 183 bytes, or just before an escape that would
    /// straddle the cut, and end in `_` and 16 hex digits of the full name's sha256.
    #[test]
    fn shortening_never_cuts_an_escape() {
        let hash = |name: &str| hex::encode(Sha256::digest(name.as_bytes()))[..16].to_string();
        for (prefix, cut) in [("", 183), ("a", 181), ("ab", 182)] {
            let name = format!("{prefix}{}", "é".repeat(40));
            let base = component(&name);
            assert!(base.len() > MAX_BASE);
            let short = FileNamer::new().base_for(&name);
            assert_eq!(
                short,
                format!("{}_{}", &base[..cut], hash(&name)),
                "{prefix:?}"
            );
        }
        let exact = "x".repeat(MAX_BASE);
        assert_eq!(FileNamer::new().base_for(&exact), exact);
        let over = "x".repeat(MAX_BASE + 1);
        assert_eq!(
            FileNamer::new().base_for(&over),
            format!("{}_{}", &over[..183], hash(&over))
        );
    }

    /// The numbered fallback, otherwise reachable only through a collision of shortened
    /// names: each further request for a taken name gets the next number.
    #[test]
    fn a_taken_name_gets_the_next_number() {
        let mut namer = FileNamer::new();
        let got: Vec<String> = (0..5).map(|_| namer.base_for("t")).collect();
        assert_eq!(got, ["t", "%74", "%74_2", "%74_3", "%74_4"]);
    }
}
