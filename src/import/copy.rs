//! One data file into `COPY`: streamed from this client (decompressed when the file is
//! stored compressed, hashing the stored bytes again on the way, in case the file
//! changed after verification), or read by the server itself. From this client it goes
//! in PostgreSQL's binary format where `binary` can convert the table's columns (the
//! client parses the CSV on a second thread while the backend stores the rows), else
//! as the CSV itself. A rejected row is reported in the user's terms: table, file, CSV
//! record, column and the start of the value, read back from the file.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;

use regex::Regex;

use super::binary::{self, BinColumn, Format, Oracle, StreamError};
use super::preflight::TableLoad;
use super::steps::{copy_sql, copy_sql_binary};
use super::{CopyFrom, Ctx};
use crate::compare::csvread::CsvError;
use crate::dump::csv;
use crate::dump::files::DataReader;
use crate::dump::manifest::FileEntry;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::target::describe;

pub(super) fn copy_file(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    f: &FileEntry,
    format: &Format,
) -> Result<u64> {
    let (plan, dump, obs) = (cx.plan, cx.dump, cx.obs);
    let path = dump.dir.join(&f.path);
    if let CopyFrom::Server { .. } = plan.copy_from {
        let sql = copy_sql(plan, l, f);
        let n = tx
            .execute(&sql, &[])
            .map_err(|e| copy_error(l, f, &path, &e, false))?;
        obs.bytes(l.entry.name(), f.bytes);
        return Ok(n);
    }
    let reader = DataReader::open(&path, f.compression)
        .map_err(|e| Error::Verification(vec![e.message(&path)]))?;
    match format {
        Format::Binary(cols) => copy_binary(tx, cx, l, f, cols, reader),
        Format::Text(_) => copy_text(tx, cx, l, f, reader),
    }
}

/// The file's CSV as it is, into `COPY ... (FORMAT csv)`.
fn copy_text(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    f: &FileEntry,
    mut reader: DataReader,
) -> Result<u64> {
    let path = cx.dump.dir.join(&f.path);
    let fail = |e: &postgres::Error| copy_error(l, f, &path, e, false);
    let mut writer = tx.copy_in(&copy_sql(cx.plan, l, f)).map_err(|e| fail(&e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut reported = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if let Err(e) = writer.write_all(&buf[..n]) {
            return Err(send_error(l, f, &path, &e, false));
        }
        let stored = reader.stored_bytes();
        cx.obs.bytes(l.entry.name(), stored - reported);
        reported = stored;
        interrupt::check()?;
    }
    let (sha, bytes) = reader.finish().map_err(|e| Error::io(&path, e))?;
    cx.obs.bytes(l.entry.name(), bytes.saturating_sub(reported));
    // Dropping the writer aborts the COPY.
    changed(f, &sha, bytes)?;
    writer.finish().map_err(|e| fail(&e))
}

/// The file converted to binary COPY on a second thread (`binary::stream`) while this
/// one sends what it has converted.
fn copy_binary(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    f: &FileEntry,
    cols: &[BinColumn],
    reader: DataReader,
) -> Result<u64> {
    let (plan, obs) = (cx.plan, cx.obs);
    let path = cx.dump.dir.join(&f.path);
    let mut writer = tx
        .copy_in(&copy_sql_binary(plan, l))
        .map_err(|e| copy_error(l, f, &path, &e, true))?;
    // Converted blocks go one way, emptied buffers come back: at most four in flight.
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    let mut sent: std::result::Result<(), io::Error> = Ok(());
    let converted = std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut oracle = Oracle::new(&plan.target, plan.lock_timeout);
            let mut reported = 0;
            let mut send = |buf: &mut Vec<u8>, r: &DataReader| -> Result<()> {
                let mut empty = empty_rx.try_recv().unwrap_or_default();
                empty.clear();
                let full = std::mem::replace(buf, empty);
                full_tx
                    .send(full)
                    .map_err(|_| Error::config("the COPY stopped"))?;
                let stored = r.stored_bytes();
                obs.bytes(l.entry.name(), stored - reported);
                reported = stored;
                interrupt::check()
            };
            let outcome = binary::stream(reader, cols, &mut oracle, &mut send);
            (outcome, oracle.calls)
        });
        while let Ok(buf) = full_rx.recv() {
            if let Err(e) = writer.write_all(&buf) {
                sent = Err(e);
                break;
            }
            let _ = empty_tx.send(buf);
            if interrupt::is_interrupted() {
                break;
            }
        }
        // Unblocks the converter if it still waits to hand over a block.
        drop(full_rx);
        producer.join().unwrap_or_else(|_| {
            (
                Err(StreamError::Other(Error::config("the converter panicked"))),
                0,
            )
        })
    });
    if let Err(e) = sent {
        // PostgreSQL refused something: its error names the row.
        return Err(send_error(l, f, &path, &e, true));
    }
    interrupt::check()?;
    let (outcome, oracle_calls) = converted;
    let (rows, reader) = match outcome {
        Ok(done) => done,
        Err(StreamError::Rejected {
            record,
            column,
            value,
            message,
        }) => {
            // Text COPY reports the first bad value in row and column order: PostgreSQL
            // may refuse an earlier one (a typmod, a constraint) among what it was sent.
            let ours = StreamError::Rejected {
                record,
                column,
                value,
                message,
            };
            return Err(match writer.finish() {
                Err(e) if earlier(&e, l, record, column) => copy_error(l, f, &path, &e, true),
                _ => stream_error(l, f, cols, ours),
            });
        }
        Err(e) => return Err(stream_error(l, f, cols, e)),
    };
    let (sha, bytes) = reader.finish().map_err(|e| Error::io(&path, e))?;
    changed(f, &sha, bytes)?;
    let n = writer
        .finish()
        .map_err(|e| copy_error(l, f, &path, &e, true))?;
    if oracle_calls > 0 {
        cx.log.line(&format!(
            "{}: {oracle_calls} value(s) in spellings the client does not parse were converted \
             by PostgreSQL's input functions",
            f.path
        ));
    }
    if n != rows {
        return Err(Error::Load(format!(
            "table `{}`: {} sent {rows} rows, PostgreSQL stored {n}",
            l.entry.name(),
            f.path
        )));
    }
    Ok(n)
}

/// Whether PostgreSQL's COPY error `e` is about a value before column `column` of CSV
/// record `record`, or an earlier record (a unique key checked when rows are stored
/// comes later in text COPY, so it does not count).
fn earlier(e: &postgres::Error, l: &TableLoad, record: u64, column: usize) -> bool {
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
        return false;
    }
    match copy_context(e) {
        Some((line, col)) => {
            let at = line + 1;
            at < record
                || (at == record
                    && col
                        .and_then(|c| l.copy_columns().iter().position(|x| *x == c))
                        .is_some_and(|i| i < column))
        }
        None => false,
    }
}

/// The line and column of a COPY error's CONTEXT.
fn copy_context(e: &postgres::Error) -> Option<(u64, Option<String>)> {
    let context = e.as_db_error().and_then(|db| db.where_())?;
    let re = Regex::new(r"COPY [^,]*, line (\d+)(?:, column ([^:]+))?").expect("valid regex");
    let c = re.captures(context)?;
    Some((
        c[1].parse().unwrap_or(0),
        c.get(2).map(|m| m.as_str().to_string()),
    ))
}

/// A file whose stored bytes are not the manifest's changed after verification.
fn changed(f: &FileEntry, sha: &str, bytes: u64) -> Result<()> {
    if sha != f.sha256 || bytes != f.bytes {
        return Err(Error::Verification(vec![format!(
            "{}: changed while loading (sha256 now {sha}, the manifest says {})",
            f.path, f.sha256
        )]));
    }
    Ok(())
}

fn pg_error_in(e: &io::Error) -> Option<&postgres::Error> {
    e.get_ref()?.downcast_ref::<postgres::Error>()
}

/// A failed write into COPY: PostgreSQL's error when there is one.
fn send_error(l: &TableLoad, f: &FileEntry, path: &Path, e: &io::Error, binary: bool) -> Error {
    match pg_error_in(e) {
        Some(pg) => copy_error(l, f, path, pg, binary),
        None => Error::Load(format!(
            "table `{}`: sending {}: {e}",
            l.entry.name(),
            f.path
        )),
    }
}

/// Where a record was, in the user's terms.
fn at_record(f: &FileEntry, record: u64) -> String {
    format!(
        "\n  at CSV record {record} of {} (the header is record 1)",
        f.path
    )
}

/// The converter's failure in the user's terms.
fn stream_error(l: &TableLoad, f: &FileEntry, cols: &[BinColumn], e: StreamError) -> Error {
    let head = format!("loading table `{}` from {} failed", l.entry.name(), f.path);
    match e {
        StreamError::Csv(CsvError::Io(e)) => Error::Load(format!("{head}: reading it: {e}")),
        StreamError::Csv(e) => Error::Load(format!("{head}: the file is not valid CSV: {e}")),
        StreamError::Fields {
            record,
            found,
            expected,
        } => Error::Load(format!(
            "{head}: {found} field(s) where the table has {expected} column(s){}",
            at_record(f, record)
        )),
        StreamError::Rejected {
            record,
            column,
            value,
            message,
        } => Error::Load(format!(
            "{head}: {message}{}, column `{}`, value starts {}",
            at_record(f, record),
            cols.get(column).map(|c| c.name.as_str()).unwrap_or("?"),
            csv::value_preview(&value)
        )),
        StreamError::Other(e) => e,
    }
}

/// Turns PostgreSQL's COPY error into one that names table, file, record, column and
/// the start of the offending value (read back from the file). Text COPY counts CSV
/// records from the header (line 1); binary COPY counts data rows, so row n is record
/// n + 1.
fn copy_error(
    l: &TableLoad,
    f: &FileEntry,
    path: &Path,
    e: &postgres::Error,
    binary: bool,
) -> Error {
    let mut msg = format!(
        "loading table `{}` from {} failed: {}",
        l.entry.name(),
        f.path,
        describe(e)
    );
    if let Some((line, column)) = copy_context(e) {
        let record = if binary { line + 1 } else { line };
        msg.push_str(&at_record(f, record));
        if let Some(col) = &column {
            msg.push_str(&format!(", column `{col}`"));
            if let Some(idx) = l.copy_columns().iter().position(|c| c == col)
                && let Some(v) = value_at(path, f, record, idx)
            {
                msg.push_str(&format!(", value starts {v}"));
            }
        }
    }
    Error::Load(msg)
}

/// The first bytes of field `col` in record `record` (1-based, header = 1), read back
/// from the file (a regular file only, decompressed as needed).
fn value_at(path: &Path, f: &FileEntry, record: u64, col: usize) -> Option<String> {
    let r = DataReader::open(path, f.compression).ok()?;
    csv::field_preview(io::BufReader::new(r), record, col)
}
