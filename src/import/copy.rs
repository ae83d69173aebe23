//! One data file into `COPY`: streamed from this client (hashing the bytes again on the
//! way, in case the file changed after verification) or read by the server itself. A
//! rejected row is reported in the user's terms: table, file, CSV record, column and the
//! start of the value, read back from the file.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use regex::Regex;

use super::preflight::TableLoad;
use super::steps::copy_sql;
use super::{CopyFrom, Ctx};
use crate::dump::csv;
use crate::dump::files::open_regular;
use crate::dump::hashing::HashingReader;
use crate::dump::manifest::FileEntry;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::target::describe;

pub(super) fn copy_file(
    tx: &mut postgres::Transaction,
    cx: &Ctx,
    l: &TableLoad,
    f: &FileEntry,
) -> Result<u64> {
    let (plan, dump, obs) = (cx.plan, cx.dump, cx.obs);
    let sql = copy_sql(plan, l, f);
    let path = dump.dir.join(&f.path);
    let fail = |e: &postgres::Error| copy_error(l, f, &path, e);
    if let CopyFrom::Server { .. } = plan.copy_from {
        let n = tx.execute(&sql, &[]).map_err(|e| fail(&e))?;
        obs.bytes(l.entry.name(), f.bytes);
        return Ok(n);
    }
    let (file, _) = open_regular(&path).map_err(|e| Error::Verification(vec![e.message(&path)]))?;
    let mut reader = HashingReader::new(file);
    let mut writer = tx.copy_in(&sql).map_err(|e| fail(&e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if let Err(e) = writer.write_all(&buf[..n]) {
            return Err(match pg_error_in(&e) {
                Some(pg) => fail(pg),
                None => Error::Load(format!(
                    "table `{}`: sending {}: {e}",
                    l.entry.name(),
                    f.path
                )),
            });
        }
        obs.bytes(l.entry.name(), n as u64);
        interrupt::check()?;
    }
    let (sha, bytes) = reader.finish();
    if sha != f.sha256 || bytes != f.bytes {
        // Dropping the writer aborts the COPY.
        return Err(Error::Verification(vec![format!(
            "{}: changed while loading (sha256 now {sha}, the manifest says {})",
            f.path, f.sha256
        )]));
    }
    writer.finish().map_err(|e| fail(&e))
}

fn pg_error_in(e: &io::Error) -> Option<&postgres::Error> {
    e.get_ref()?.downcast_ref::<postgres::Error>()
}

/// Turns PostgreSQL's COPY error into one that names table, file, line, column and the
/// start of the offending value (read back from the file).
fn copy_error(l: &TableLoad, f: &FileEntry, path: &Path, e: &postgres::Error) -> Error {
    let mut msg = format!(
        "loading table `{}` from {} failed: {}",
        l.entry.name(),
        f.path,
        describe(e)
    );
    let context = e.as_db_error().and_then(|db| db.where_()).unwrap_or("");
    let re = Regex::new(r"COPY [^,]*, line (\d+)(?:, column ([^:]+))?").expect("valid regex");
    if let Some(c) = re.captures(context) {
        let line: u64 = c[1].parse().unwrap_or(0);
        let column = c.get(2).map(|m| m.as_str().to_string());
        msg.push_str(&format!(
            "\n  at CSV record {line} of {} (the header is record 1)",
            f.path
        ));
        if let Some(col) = &column {
            msg.push_str(&format!(", column `{col}`"));
            if let Some(idx) = l.copy_columns().iter().position(|c| c == col)
                && let Some(v) = value_at(path, line, idx)
            {
                msg.push_str(&format!(", value starts {v}"));
            }
        }
    }
    Error::Load(msg)
}

/// The first bytes of field `col` in record `record` (1-based, header = 1), read back
/// from the file (a regular file only).
fn value_at(path: &Path, record: u64, col: usize) -> Option<String> {
    let (file, _) = open_regular(path).ok()?;
    csv::field_preview(BufReader::new(file), record, col)
}
