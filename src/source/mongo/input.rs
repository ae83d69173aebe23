//! The files MongoDB's tools write, found and streamed one document at a time.
//!
//! - `mongodump` writes a directory per database: `<collection>.bson`, a concatenation
//!   of BSON documents each starting with its int32 length, and
//!   `<collection>.metadata.json` (indexes, options, UUID); with `--gzip` both end in
//!   `.gz`. A view has only its metadata file.
//! - `mongoexport` writes one `<collection>.json`: Extended JSON v2, canonical or
//!   relaxed, one document per line, or one JSON array with `--jsonArray`.
//!
//! Every document is handed over as raw BSON in one reused buffer, so the rest of the
//! source works on one form. The files are untrusted: a length prefix beyond MongoDB's
//! own limit, a truncated document, bad JSON or bad Extended JSON is an error that names
//! the file, the document's number and its byte offset. Every byte of every input file
//! is hashed as it is read, so the manifest records each file's sha256.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::dump::hashing::to_hex;
use crate::error::{Error, Result};
use crate::source::MongoFormat;

/// MongoDB refuses documents over 16 MiB; its tools allow 16 KiB more for the command
/// envelope. A longer length prefix means a damaged file, not a bigger document.
pub(super) const MAX_DOCUMENT: usize = 16 * 1024 * 1024 + 16 * 1024;

/// One collection's files.
#[derive(Clone, Debug)]
pub(super) struct CollectionFiles {
    pub name: String,
    /// `<collection>.bson[.gz]` or `<collection>.json`; `None` for a collection that has
    /// only its metadata (an empty one).
    pub data: Option<PathBuf>,
    pub metadata: Option<PathBuf>,
}

impl CollectionFiles {
    pub fn data_bytes(&self) -> u64 {
        self.data
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

/// What the directory holds: collections, and the names of views (metadata only).
pub(super) struct Listing {
    pub collections: Vec<CollectionFiles>,
    /// (name, its metadata file) for views and other things that are not exported.
    pub views: Vec<(String, PathBuf)>,
}

/// Lists the collections in `dir`, sorted by name.
pub(super) fn list(format: MongoFormat, dir: &Path) -> Result<Listing> {
    let meta = fs::metadata(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::config(format!(
            "{} does not exist (expected the directory {} wrote)",
            dir.display(),
            format.tool()
        )),
        _ => Error::io(dir, e),
    })?;
    if !meta.is_dir() {
        return Err(Error::config(format!(
            "{} is not a directory (expected the directory {} wrote{})",
            dir.display(),
            format.tool(),
            match format {
                MongoFormat::Mongodump => " for one database: <dump>/<database>",
                MongoFormat::Mongoexport => ", holding one <collection>.json per collection",
            }
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut subdirs: Vec<String> = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let ft = e.file_type().map_err(|err| Error::io(e.path(), err))?;
        if ft.is_dir() {
            subdirs.push(name);
        } else if ft.is_file() {
            names.push(name);
        }
    }
    names.sort();
    subdirs.sort();
    let mut collections: Vec<CollectionFiles> = Vec::new();
    let mut views = Vec::new();
    match format {
        MongoFormat::Mongoexport => {
            for n in &names {
                if let Some(stem) = n.strip_suffix(".json") {
                    collections.push(CollectionFiles {
                        name: stem.to_string(),
                        data: Some(dir.join(n)),
                        metadata: None,
                    });
                }
            }
        }
        MongoFormat::Mongodump => {
            let mut stems: Vec<&str> = names
                .iter()
                .filter_map(|n| {
                    n.strip_suffix(".bson")
                        .or_else(|| n.strip_suffix(".bson.gz"))
                        .or_else(|| n.strip_suffix(".metadata.json"))
                        .or_else(|| n.strip_suffix(".metadata.json.gz"))
                })
                .collect();
            stems.sort_unstable();
            stems.dedup();
            for stem in stems {
                let find = |exts: &[&str]| {
                    exts.iter()
                        .map(|x| format!("{stem}{x}"))
                        .find(|n| names.contains(n))
                        .map(|n| dir.join(n))
                };
                let data = find(&[".bson", ".bson.gz"]);
                let metadata = find(&[".metadata.json", ".metadata.json.gz"]);
                if data.is_none()
                    && let Some(m) = &metadata
                {
                    // A view, or a collection mongodump wrote no documents for.
                    let kind = read_metadata(m)
                        .ok()
                        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from));
                    if kind.as_deref() == Some("view") {
                        views.push((stem.to_string(), m.clone()));
                        continue;
                    }
                }
                // mongodump escapes some characters of a collection's name in its
                // file names; the metadata has the name itself.
                let name = metadata
                    .as_ref()
                    .and_then(|m| read_metadata(m).ok())
                    .and_then(|v| {
                        v.get("collectionName")
                            .and_then(|n| n.as_str())
                            .filter(|n| !n.is_empty())
                            .map(String::from)
                    })
                    .unwrap_or_else(|| stem.to_string());
                collections.push(CollectionFiles {
                    name,
                    data,
                    metadata,
                });
            }
        }
    }
    if collections.is_empty() && views.is_empty() {
        let hint = if !subdirs.is_empty() && format == MongoFormat::Mongodump {
            format!(
                "; it looks like a mongodump of several databases ({}): name one, e.g. \
                 mongodump://{}",
                subdirs.join(", "),
                dir.join(&subdirs[0]).display()
            )
        } else {
            String::new()
        };
        return Err(Error::config(format!(
            "{} holds no {} files{hint}",
            dir.display(),
            match format {
                MongoFormat::Mongodump => "<collection>.bson or .metadata.json",
                MongoFormat::Mongoexport => "<collection>.json",
            }
        )));
    }
    Ok(Listing { collections, views })
}

/// A `.metadata.json[.gz]` file: small, read whole (at most 16 MiB).
pub(super) fn read_metadata(path: &Path) -> Result<serde_json::Value> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut text = Vec::new();
    let limited = |r: Box<dyn Read>| r.take(16 << 20);
    let mut r = if is_gz(path) {
        limited(Box::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        limited(Box::new(file))
    };
    r.read_to_end(&mut text).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::config(format!(
            "{}: not a mongodump metadata file ({e})",
            path.display()
        ))
    })
}

fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "gz")
}

/// Bytes read from a file and their running sha256.
#[derive(Default)]
pub(super) struct Tally {
    hasher: Sha256,
    pub bytes: u64,
}

impl Tally {
    pub fn finish(&mut self) -> String {
        to_hex(std::mem::take(&mut self.hasher).finalize())
    }
}

/// Hashes every byte read from the file beneath the decompressor and the buffer.
struct Tap {
    file: File,
    tally: Rc<RefCell<Tally>>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        let mut t = self.tally.borrow_mut();
        t.hasher.update(&buf[..n]);
        t.bytes += n as u64;
        Ok(n)
    }
}

/// A byte stream that counts what it has handed out (for offsets in messages).
struct Counted {
    inner: Box<dyn BufRead>,
    offset: u64,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl BufRead for Counted {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.offset += amt as u64;
        self.inner.consume(amt)
    }
}

enum Mode {
    Bson,
    /// Extended JSON documents one after the other (one per line).
    JsonLines,
    /// One JSON array of documents (`--jsonArray`); `true` once its `]` was read.
    JsonArray(bool),
}

/// The documents of one data file, in file order.
pub(super) struct Documents {
    path: PathBuf,
    /// How messages name the file (relative to the source directory).
    shown: String,
    input: Counted,
    tap: Rc<RefCell<Tally>>,
    mode: Option<Mode>,
    /// Documents handed out so far.
    pub count: u64,
}

impl Documents {
    pub fn open(format: MongoFormat, path: &Path, shown: &str) -> Result<Documents> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let tally = Rc::new(RefCell::new(Tally::default()));
        let tap = Tap {
            file,
            tally: tally.clone(),
        };
        let inner: Box<dyn BufRead> = if is_gz(path) {
            Box::new(BufReader::with_capacity(
                1 << 16,
                flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, tap)),
            ))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, tap))
        };
        Ok(Documents {
            path: path.to_path_buf(),
            shown: shown.to_string(),
            input: Counted { inner, offset: 0 },
            tap: tally,
            mode: match format {
                MongoFormat::Mongodump => Some(Mode::Bson),
                MongoFormat::Mongoexport => None,
            },
            count: 0,
        })
    }

    fn bad(&self, offset: u64, what: String) -> Error {
        Error::config(format!(
            "{}: document {} (at byte {offset}{}): {what}",
            self.shown,
            self.count + 1,
            if is_gz(&self.path) {
                " of the uncompressed data"
            } else {
                ""
            }
        ))
    }

    fn io(&self, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData {
            // flate2 reports a damaged gzip stream this way.
            Error::config(format!(
                "{}: cannot be decompressed ({e}): the file is damaged or not gzip",
                self.shown
            ))
        } else {
            Error::io(&self.path, e)
        }
    }

    /// Skips whitespace; the next byte, not consumed (`None` at the end).
    fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = buf[i];
                    self.input.consume(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.input.consume(n);
                }
            }
        }
    }

    /// Reads the next document into `buf` as raw BSON; `false` at the end of the file.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let more = match self.mode {
            Some(Mode::Bson) => self.next_bson(buf)?,
            Some(Mode::JsonArray(true)) => false,
            _ => self.next_json(buf)?,
        };
        if more {
            self.count += 1;
        }
        Ok(more)
    }

    fn next_bson(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let start = self.input.offset;
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.input.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => {
                    return Err(self.bad(
                        start,
                        format!(
                            "the file ends {got} byte(s) into a document's length: it is truncated"
                        ),
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        let n = i32::from_le_bytes(len);
        if n < 5 || n as usize > MAX_DOCUMENT {
            return Err(self.bad(
                start,
                format!(
                    "length {n} is not a BSON document's (5 to {MAX_DOCUMENT} bytes): the file \
                     is damaged or not a mongodump .bson file"
                ),
            ));
        }
        let n = n as usize;
        buf.clear();
        buf.extend_from_slice(&len);
        buf.resize(n, 0);
        if let Err(e) = self.input.read_exact(&mut buf[4..]) {
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                self.bad(
                    start,
                    format!("the file ends inside this {n}-byte document: it is truncated"),
                )
            } else {
                self.io(e)
            });
        }
        if let Err(e) = bson::RawDocument::from_bytes(&buf[..]) {
            return Err(self.bad(start, format!("not a BSON document ({e})")));
        }
        Ok(true)
    }

    fn next_json(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let first = self.peek()?;
        if self.mode.is_none() {
            // The first byte tells a --jsonArray file from one document per line.
            if first == Some(b'[') {
                self.input.consume(1);
                self.mode = Some(Mode::JsonArray(false));
            } else {
                self.mode = Some(Mode::JsonLines);
            }
            return self.next_json(buf);
        }
        let in_array = matches!(self.mode, Some(Mode::JsonArray(_)));
        let mut next = first;
        if in_array {
            if next.is_none() {
                let at = self.input.offset;
                return Err(self.bad(
                    at,
                    "the file ends inside the JSON array (no closing `]`): it is truncated".into(),
                ));
            }
            if next == Some(b']') {
                self.input.consume(1);
                self.mode = Some(Mode::JsonArray(true));
                return self.rest_is_blank();
            }
            if self.count > 0 {
                if next != Some(b',') {
                    let at = self.input.offset;
                    return Err(self.bad(
                        at,
                        "expected `,` or `]` between the documents of the JSON array".into(),
                    ));
                }
                self.input.consume(1);
                next = self.peek()?;
            }
        }
        let at = self.input.offset;
        match next {
            None if in_array => {
                return Err(self.bad(
                    at,
                    "the file ends inside the JSON array (no closing `]`): it is truncated".into(),
                ));
            }
            None => return Ok(false),
            Some(b'{') => {}
            Some(_) => {
                return Err(self.bad(
                    at,
                    "expected a JSON object (`{`): mongoexport writes one document per line, \
                     or one array of documents with --jsonArray"
                        .into(),
                ));
            }
        }
        let value = {
            let mut de = serde_json::Deserializer::from_reader(&mut self.input);
            serde::Deserialize::deserialize(&mut de)
        };
        let value: serde_json::Map<String, serde_json::Value> =
            value.map_err(|e| self.bad(at, format!("not valid JSON ({e})")))?;
        let doc = bson::Document::try_from(value)
            .map_err(|e| self.bad(at, format!("not valid Extended JSON ({e})")))?;
        buf.clear();
        doc.to_writer(&mut *buf)
            .map_err(|e| self.bad(at, format!("cannot be stored as BSON ({e})")))?;
        if buf.len() > MAX_DOCUMENT {
            return Err(self.bad(
                at,
                format!(
                    "{} bytes as BSON, more than MongoDB allows ({MAX_DOCUMENT})",
                    buf.len()
                ),
            ));
        }
        Ok(true)
    }

    fn rest_is_blank(&mut self) -> Result<bool> {
        match self.peek()? {
            None => Ok(false),
            Some(_) => {
                let at = self.input.offset;
                Err(self.bad(at, "unexpected data after the closing `]`".into()))
            }
        }
    }

    /// Reads whatever is left of the file (so every byte is hashed) and returns its
    /// size and sha256.
    pub fn finish(mut self) -> Result<(u64, String)> {
        let mut sink = [0u8; 1 << 14];
        // The decompressor may stop at the end of the data with trailing bytes unread.
        loop {
            match self.input.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        drop(self.input);
        let mut t = self.tap.borrow_mut();
        let hash = t.finish();
        Ok((t.bytes, hash))
    }
}

/// Size and sha256 of a whole file (metadata files).
pub(super) fn hash_file(path: &Path) -> Result<(u64, String)> {
    let (hash, bytes) = crate::dump::hashing::hash_file(path)?;
    Ok((bytes, hash))
}
