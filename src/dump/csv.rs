//! The CSV dialect of a dump: RFC 4180 as PostgreSQL's `COPY ... (FORMAT csv, HEADER true,
//! NULL '\N')` reads it. The `csv` crate cannot express the one rule that matters here, the
//! difference between NULL (`\N`, unquoted) and the text `\N` (quoted), or an empty string
//! (`""`) and nothing, so cells are written by hand; the tests read the output back with
//! the `csv` crate and with PostgreSQL itself.
//!
//! A text cell is quoted when it is empty, contains `,` `"` CR or LF, or is exactly `\N`
//! or `\.` (PostgreSQL's end-of-data marker). Everything else is written as it is.
//!
//! Reading is for the import's checks and messages (the data itself goes to COPY
//! unparsed): the header of a file, and one field of one record to show in an error.
//! A file may have been crafted, so both read a bounded amount and never panic.

use std::io::{self, Read, Write};

use crate::printable::escaped;

pub(crate) const NULL: &[u8] = b"\\N";

/// Bytes that force quoting.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t
};

pub(crate) fn needs_quotes(v: &[u8]) -> bool {
    v.is_empty() || v == NULL || v == b"\\." || v.iter().any(|&b| SPECIAL[b as usize])
}

/// Writes records cell by cell. Rows end with `\n`.
pub(crate) struct CsvWriter<W: Write> {
    out: W,
    at_row_start: bool,
}

impl<W: Write> CsvWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        CsvWriter {
            out,
            at_row_start: true,
        }
    }

    fn sep(&mut self) -> io::Result<()> {
        if self.at_row_start {
            self.at_row_start = false;
            Ok(())
        } else {
            self.out.write_all(b",")
        }
    }

    pub(crate) fn null(&mut self) -> io::Result<()> {
        self.sep()?;
        self.out.write_all(NULL)
    }

    /// A text value, quoted only when it must be.
    pub(crate) fn text(&mut self, v: &[u8]) -> io::Result<()> {
        self.sep()?;
        if !needs_quotes(v) {
            return self.out.write_all(v);
        }
        self.out.write_all(b"\"")?;
        let mut rest = v;
        while let Some(i) = memchr::memchr(b'"', rest) {
            self.out.write_all(&rest[..=i])?;
            self.out.write_all(b"\"")?;
            rest = &rest[i + 1..];
        }
        self.out.write_all(rest)?;
        self.out.write_all(b"\"")
    }

    /// A value known to need no quoting (digits, hex, dates).
    pub(crate) fn plain(&mut self, v: &[u8]) -> io::Result<()> {
        debug_assert!(!needs_quotes(v));
        self.sep()?;
        self.out.write_all(v)
    }

    /// Like `plain`, for a value assembled from parts.
    pub(crate) fn plain_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        self.sep()?;
        for p in parts {
            self.out.write_all(p)?;
        }
        Ok(())
    }

    /// `\x` followed by lowercase hex, PostgreSQL's bytea input form.
    pub(crate) fn bytea_hex(&mut self, v: &[u8]) -> io::Result<()> {
        self.sep()?;
        self.out.write_all(b"\\x")?;
        let mut buf = [0u8; 8192];
        for chunk in v.chunks(buf.len() / 2) {
            let n = chunk.len() * 2;
            hex::encode_to_slice(chunk, &mut buf[..n]).expect("buffer sized for the chunk");
            self.out.write_all(&buf[..n])?;
        }
        Ok(())
    }

    pub(crate) fn end_row(&mut self) -> io::Result<()> {
        self.at_row_start = true;
        self.out.write_all(b"\n")
    }

    pub(crate) fn header<S: AsRef<str>>(&mut self, names: &[S]) -> io::Result<()> {
        for n in names {
            self.text(n.as_ref().as_bytes())?;
        }
        self.end_row()
    }

    pub(crate) fn get_ref(&self) -> &W {
        &self.out
    }

    pub(crate) fn into_inner(self) -> W {
        self.out
    }
}

/// The most a header is read for: 4096 columns (MySQL's limit) of 64 four-byte
/// characters, quoted, fit well within it.
const MAX_HEADER_BYTES: u64 = 4 << 20;

/// The header of a dump file (its first record), read from at most `MAX_HEADER_BYTES`.
pub(crate) fn read_header(r: impl Read) -> Result<Vec<String>, String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(r.take(MAX_HEADER_BYTES));
    match csv.records().next() {
        Some(Ok(rec)) => Ok(rec.iter().map(str::to_string).collect()),
        Some(Err(e)) => Err(format!("unreadable header: {e}")),
        None => Err("empty file, no header".into()),
    }
}

/// The start of field `col` (0-based) of record `record` (1-based, the header is 1), as
/// shown in an error message: at most 60 bytes, quoted, control characters escaped.
pub(crate) fn field_preview(r: impl Read, record: u64, col: usize) -> Option<String> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(r);
    let skip = usize::try_from(record.checked_sub(1)?).ok()?;
    let rec = csv.byte_records().nth(skip)?.ok()?;
    Some(value_preview(rec.get(col)?))
}

/// A value as an error message shows it: at most 60 bytes, quoted, control characters
/// escaped.
pub(crate) fn value_preview(v: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&v[..v.len().min(60)]).into_owned();
    let shown = escaped(&shown);
    if v.len() > 60 {
        format!("\"{shown}\"... ({} bytes)", v.len())
    } else {
        format!("\"{shown}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Option<&[u8]>]) -> String {
        let mut w = CsvWriter::new(Vec::new());
        for c in cells {
            match c {
                None => w.null().unwrap(),
                Some(v) => w.text(v).unwrap(),
            }
        }
        w.end_row().unwrap();
        String::from_utf8(w.into_inner()).unwrap()
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(row(&[None, Some(b"")]), "\\N,\"\"\n");
        assert_eq!(row(&[Some(b"\\N"), Some(b"\\.")]), "\"\\N\",\"\\.\"\n");
        assert_eq!(
            row(&[Some(b"a,b"), Some(b"say \"hi\"")]),
            "\"a,b\",\"say \"\"hi\"\"\"\n"
        );
        assert_eq!(
            row(&[Some(b"l1\nl2\r"), Some(b"NULL")]),
            "\"l1\nl2\r\",NULL\n"
        );
        assert_eq!(
            row(&[Some(b"back\\slash"), Some(b"tab\there")]),
            "back\\slash,tab\there\n"
        );
    }

    #[test]
    fn header_and_field_preview() {
        let data = b"id,\"na,me\"\n1,\"x\ny\"\n2,\"\x1b[2J\"\n";
        assert_eq!(read_header(&data[..]).unwrap(), ["id", "na,me"]);
        assert_eq!(read_header(&b""[..]).unwrap_err(), "empty file, no header");
        assert!(read_header(&b"\xff\xfe,a\n"[..]).is_err());
        assert_eq!(field_preview(&data[..], 2, 1).unwrap(), "\"x\\ny\"");
        assert_eq!(field_preview(&data[..], 3, 1).unwrap(), "\"\\u{1b}[2J\"");
        assert_eq!(field_preview(&data[..], 3, 2), None);
        assert_eq!(field_preview(&data[..], 0, 0), None);
        assert_eq!(field_preview(&data[..], 9, 0), None);
        let long = format!("h\n{}\n", "é".repeat(40));
        assert_eq!(
            field_preview(long.as_bytes(), 2, 0).unwrap(),
            format!("\"{}\"... (80 bytes)", "é".repeat(30))
        );
    }

    #[test]
    fn bytea_is_lowercase_hex() {
        let mut w = CsvWriter::new(Vec::new());
        w.bytea_hex(&[0x00, 0xAB, 0xff]).unwrap();
        w.bytea_hex(&[]).unwrap();
        assert_eq!(w.into_inner(), b"\\x00abff,\\x");
    }

    /// Values written in 4096-byte pieces: exactly one piece, one byte over, several
    /// pieces and a tail all come out as one unbroken hex string.
    #[test]
    fn bytea_crosses_chunk_boundaries() {
        for len in [4095, 4096, 4097, 3 * 4096 + 5] {
            let v: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4096) as u8).collect();
            let mut w = CsvWriter::new(Vec::new());
            w.text(b"k").unwrap();
            w.bytea_hex(&v).unwrap();
            w.end_row().unwrap();
            let expected = format!("k,\\x{}\n", hex::encode(&v));
            assert_eq!(
                String::from_utf8(w.into_inner()).unwrap(),
                expected,
                "{len}"
            );
        }
    }

    #[test]
    fn rows_headers_and_plain_cells() {
        let mut w = CsvWriter::new(Vec::new());
        w.header(&["id", "a,b", ""]).unwrap();
        w.plain(b"12").unwrap();
        w.plain_parts(&[b"2024-01-01 00:00:00", b"+00"]).unwrap();
        w.null().unwrap();
        w.end_row().unwrap();
        w.null().unwrap();
        w.end_row().unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner()).unwrap(),
            "id,\"a,b\",\"\"\n12,2024-01-01 00:00:00+00,\\N\n\\N\n"
        );
        for (v, quoted) in [
            (&b""[..], true),
            (b"\\N", true),
            (b"\\.", true),
            (b"a\rb", true),
            (b"a\nb", true),
            (b"a\"b", true),
            (b"a,b", true),
            (b"\\Nx", false),
            (b"x\\.", false),
            (b"NULL", false),
            (b" a ", false),
        ] {
            assert_eq!(needs_quotes(v), quoted, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn csv_crate_reads_back_the_same_text() {
        let values: [&[u8]; 6] = [
            b"x",
            b"a,\"b\"\n",
            b"",
            b"\\N",
            "emoji \u{1F600}".as_bytes(),
            b"NULL",
        ];
        let mut w = CsvWriter::new(Vec::new());
        for v in values {
            w.text(v).unwrap();
        }
        w.end_row().unwrap();
        let data = w.into_inner();
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&data[..]);
        let rec = r.byte_records().next().unwrap().unwrap();
        let got: Vec<&[u8]> = rec.iter().collect();
        assert_eq!(got, values);
    }
}
