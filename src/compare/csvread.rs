//! Reading the CSV of a dump file, or of PostgreSQL's `COPY ... TO STDOUT (FORMAT csv,
//! NULL '\N')`, keeping the one distinction the `csv` crate drops: whether a field was
//! quoted. An unquoted `\N` is NULL; a quoted `"\N"` is the two-character text `\N`; an
//! unquoted empty field and `""` are both the empty string. Records stream through one
//! reused buffer, so reading a file allocates nothing per row.

use std::io::{self, Read};

use crate::source::Row;

const NULL: &[u8] = b"\\N";

/// Why a file is not the CSV it should be.
#[derive(Debug)]
pub(crate) enum CsvError {
    Io(io::Error),
    /// Malformed CSV, with the 1-based record number where it was found.
    Syntax {
        record: u64,
        problem: &'static str,
    },
}

impl From<io::Error> for CsvError {
    fn from(e: io::Error) -> Self {
        CsvError::Io(e)
    }
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsvError::Io(e) => write!(f, "{e}"),
            CsvError::Syntax { record, problem } => {
                write!(f, "CSV record {record}: {problem}")
            }
        }
    }
}

pub(crate) struct CsvReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    rec: Vec<u8>,
    /// (start, end, quoted) of each field in `rec`.
    fields: Vec<(usize, usize, bool)>,
    /// Records read so far (the header included).
    pub records: u64,
}

impl<R: Read> CsvReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::with_capacity(inner, 256 * 1024)
    }

    pub(crate) fn with_capacity(inner: R, capacity: usize) -> Self {
        CsvReader {
            inner,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            rec: Vec::with_capacity(4096),
            fields: Vec::with_capacity(64),
            records: 0,
        }
    }

    /// At least one byte buffered; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn syntax(&self, problem: &'static str) -> CsvError {
        CsvError::Syntax {
            record: self.records + 1,
            problem,
        }
    }

    /// Reads the next record; false at the end of the input.
    pub(crate) fn next_record(&mut self) -> Result<bool, CsvError> {
        self.rec.clear();
        self.fields.clear();
        if !self.fill()? {
            return Ok(false);
        }
        'fields: loop {
            let start = self.rec.len();
            if !self.fill()? {
                // End of input right after a comma: an empty last field.
                self.fields.push((start, start, false));
                break 'fields;
            }
            if self.buf[self.pos] == b'"' {
                self.pos += 1;
                loop {
                    if !self.fill()? {
                        return Err(self.syntax("a quoted field is not closed"));
                    }
                    let avail = &self.buf[self.pos..self.len];
                    match memchr::memchr(b'"', avail) {
                        None => {
                            self.rec.extend_from_slice(avail);
                            self.pos = self.len;
                        }
                        Some(q) => {
                            self.rec.extend_from_slice(&avail[..q]);
                            self.pos += q + 1;
                            if self.fill()? && self.buf[self.pos] == b'"' {
                                self.rec.push(b'"');
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                self.fields.push((start, self.rec.len(), true));
                if !self.fill()? {
                    break 'fields;
                }
                match self.buf[self.pos] {
                    b',' => self.pos += 1,
                    b'\n' => {
                        self.pos += 1;
                        break 'fields;
                    }
                    b'\r' => {
                        self.pos += 1;
                        if self.fill()? && self.buf[self.pos] == b'\n' {
                            self.pos += 1;
                        }
                        break 'fields;
                    }
                    _ => return Err(self.syntax("text after the closing quote of a field")),
                }
            } else {
                loop {
                    let avail = &self.buf[self.pos..self.len];
                    match memchr::memchr2(b',', b'\n', avail) {
                        None => {
                            self.rec.extend_from_slice(avail);
                            self.pos = self.len;
                            if !self.fill()? {
                                self.fields.push((start, self.rec.len(), false));
                                break 'fields;
                            }
                        }
                        Some(k) => {
                            let sep = avail[k];
                            self.rec.extend_from_slice(&avail[..k]);
                            self.pos += k + 1;
                            if sep == b',' {
                                self.fields.push((start, self.rec.len(), false));
                                continue 'fields;
                            }
                            if self.rec.len() > start && self.rec.last() == Some(&b'\r') {
                                self.rec.pop();
                            }
                            self.fields.push((start, self.rec.len(), false));
                            break 'fields;
                        }
                    }
                }
            }
        }
        self.records += 1;
        Ok(true)
    }

    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// The input being read.
    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// The current record as cells (`\N` unquoted is NULL).
    pub(crate) fn record(&self) -> Record<'_> {
        Record {
            data: &self.rec,
            fields: &self.fields,
        }
    }

    /// Field `i` of the current record as text (for the header).
    pub(crate) fn text(&self, i: usize) -> String {
        let (s, e, _) = self.fields[i];
        String::from_utf8_lossy(&self.rec[s..e]).into_owned()
    }
}

pub(crate) struct Record<'a> {
    data: &'a [u8],
    fields: &'a [(usize, usize, bool)],
}

impl Row for Record<'_> {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        let (s, e, quoted) = *self.fields.get(i)?;
        let v = &self.data[s..e];
        if !quoted && v == NULL { None } else { Some(v) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8], cap: usize) -> Result<Vec<Vec<Option<Vec<u8>>>>, String> {
        let mut r = CsvReader::with_capacity(data, cap);
        let mut out = Vec::new();
        while r.next_record().map_err(|e| e.to_string())? {
            let rec = r.record();
            out.push(
                (0..r.len())
                    .map(|i| rec.cell(i).map(<[u8]>::to_vec))
                    .collect(),
            );
        }
        Ok(out)
    }

    fn cells(v: &[Option<&str>]) -> Vec<Option<Vec<u8>>> {
        v.iter().map(|c| c.map(|s| s.as_bytes().to_vec())).collect()
    }

    #[test]
    fn null_versus_quoted_null_versus_empty() {
        for cap in [1, 2, 3, 7, 4096] {
            let got = read(b"id,v\n1,\\N\n2,\"\\N\"\n3,\"\"\n4,\n", cap).unwrap();
            assert_eq!(
                got,
                vec![
                    cells(&[Some("id"), Some("v")]),
                    cells(&[Some("1"), None]),
                    cells(&[Some("2"), Some("\\N")]),
                    cells(&[Some("3"), Some("")]),
                    cells(&[Some("4"), Some("")]),
                ],
                "buffer {cap}"
            );
        }
    }

    #[test]
    fn quotes_newlines_and_line_ends() {
        for cap in [1, 5, 4096] {
            let got = read(
                b"\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\r\"\r\nx,\\.,\"\\.\"\nlast,\"q\"",
                cap,
            )
            .unwrap();
            assert_eq!(
                got,
                vec![
                    cells(&[Some("a,b"), Some("say \"hi\""), Some("l1\nl2\r")]),
                    cells(&[Some("x"), Some("\\."), Some("\\.")]),
                    cells(&[Some("last"), Some("q")]),
                ],
                "buffer {cap}"
            );
        }
        assert_eq!(
            read(b"a,b,\n", 3).unwrap(),
            vec![cells(&[Some("a"), Some("b"), Some("")])]
        );
        assert_eq!(read(b"", 3).unwrap(), Vec::<Vec<Option<Vec<u8>>>>::new());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(
            read(b"a\n\"open", 4).unwrap_err(),
            "CSV record 2: a quoted field is not closed"
        );
        assert_eq!(
            read(b"\"a\"b\n", 4).unwrap_err(),
            "CSV record 1: text after the closing quote of a field"
        );
    }

    #[test]
    fn agrees_with_the_dump_writer() {
        use crate::dump::csv::CsvWriter;
        let values: [Option<&[u8]>; 7] = [
            Some(b"x"),
            None,
            Some(b"\\N"),
            Some(b""),
            Some(b"a,\"b\"\n"),
            Some("emoji \u{1F600}".as_bytes()),
            Some(b"NULL"),
        ];
        let mut w = CsvWriter::new(Vec::new());
        for v in values {
            match v {
                Some(v) => w.text(v).unwrap(),
                None => w.null().unwrap(),
            }
        }
        w.end_row().unwrap();
        let data = w.into_inner();
        let got = read(&data, 3).unwrap();
        let want: Vec<Option<Vec<u8>>> = values.iter().map(|v| v.map(<[u8]>::to_vec)).collect();
        assert_eq!(got, vec![want]);
    }
}
