//! The three places rows come from, each as a `RowStream` in the rules' column order:
//! a dump table's CSV files (hashed again as they are read, so the rows compared are the
//! manifest's), a PostgreSQL table read with `COPY (SELECT ...) TO STDOUT`, and a MySQL
//! table read through a source reader inside its snapshot.

use std::path::Path;

use postgres::{Client, GenericClient};

use super::csvread::{CsvError, CsvReader};
use super::digest::RowStream;
use crate::dburl::DbUrl;
use crate::dump::files::DataReader;
use crate::dump::manifest::{FileEntry, TableEntry};
use crate::dump::schema::Table;
use crate::error::{Error, Result, ResultExt};
use crate::interrupt;
use crate::source::{Reader, Row};
use crate::target::describe;
use crate::target::pgtype::PgType;
use crate::target::sql::{qualified, quote_ident};

/// What reading one dump file found, besides its rows.
pub(crate) struct FileCheck {
    pub records: u64,
    pub sha256: String,
    pub bytes: u64,
}

/// Streams one dump file: header checked against the manifest's columns, every record's
/// field count checked, rows handed to `on_row`; returns the record count and the
/// file's hash. A malformed file is an error naming the file and record.
pub(crate) fn read_dump_file(
    dir: &Path,
    entry: &TableEntry,
    f: &FileEntry,
    on_row: &mut dyn FnMut(&dyn Row) -> Result<()>,
) -> Result<FileCheck> {
    let path = dir.join(&f.path);
    // Only a regular file inside the dump is read (no link, FIFO or device);
    // decompressed as it streams when stored compressed.
    let mut hashing = DataReader::open(&path, f.compression)
        .map_err(|e| Error::Verification(vec![e.message(&path)]))?;
    let columns = entry.schema.column_names();
    let records = {
        let mut r = CsvReader::new(&mut hashing);
        let bad = |e: CsvError| match e {
            CsvError::Io(e) => Error::io(&path, e),
            e => Error::Verification(vec![format!("{}: {e}", f.path)]),
        };
        if !r.next_record().map_err(bad)? {
            return Err(Error::Verification(vec![format!(
                "{}: empty file, no header",
                f.path
            )]));
        }
        let header: Vec<String> = (0..r.len()).map(|i| r.text(i)).collect();
        if header != columns {
            return Err(Error::Verification(vec![format!(
                "{}: header {:?} differs from the manifest's columns {:?}",
                f.path, header, columns
            )]));
        }
        let mut records = 0u64;
        while r.next_record().map_err(bad)? {
            if r.len() != columns.len() {
                return Err(Error::Verification(vec![format!(
                    "{}: CSV record {} has {} fields, the table has {} columns",
                    f.path,
                    r.records,
                    r.len(),
                    columns.len()
                )]));
            }
            on_row(&r.record())?;
            records += 1;
        }
        records
    };
    let (sha256, bytes) = hashing.finish().map_err(|e| Error::io(&path, e))?;
    Ok(FileCheck {
        records,
        sha256,
        bytes,
    })
}

/// A dump table: its files in order, each proven to be the manifest's (sha256, size and
/// record count) as it is read.
pub(crate) struct DumpStream<'a> {
    pub dir: &'a Path,
    pub entry: &'a TableEntry,
}

impl RowStream for DumpStream<'_> {
    fn stream(&mut self, on_row: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
        for f in &self.entry.files {
            let check = read_dump_file(self.dir, self.entry, f, on_row)?;
            let mut problems = Vec::new();
            if check.sha256 != f.sha256 || check.bytes != f.bytes {
                problems.push(format!(
                    "{}: sha256 is {} ({} bytes), the manifest says {} ({} bytes): the file changed",
                    f.path, check.sha256, check.bytes, f.sha256, f.bytes
                ));
            }
            if check.records != f.rows {
                problems.push(format!(
                    "{}: {} CSV records, the manifest says {} rows",
                    f.path, check.records, f.rows
                ));
            }
            if !problems.is_empty() {
                return Err(Error::Verification(problems));
            }
        }
        Ok(())
    }
}

/// The SELECT list that reads target columns as text the comparison understands.
pub(crate) fn select_sql(schema: &str, table: &str, columns: &[(String, PgType)]) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(|(name, t)| match t {
            // PostGIS prints hex EWKB; the dump holds EWKT.
            PgType::Geometry => format!("ST_AsEWKT({})", quote_ident(name)),
            _ => quote_ident(name),
        })
        .collect();
    format!(
        "COPY (SELECT {} FROM {}) TO STDOUT (FORMAT csv, NULL '\\N')",
        list.join(", "),
        qualified(schema, table)
    )
}

/// A PostgreSQL table read with `COPY (SELECT ...) TO STDOUT`.
pub(crate) struct PgStream<'c, C: GenericClient + Send> {
    pub client: &'c mut C,
    pub sql: String,
    pub what: String,
}

impl<C: GenericClient + Send> RowStream for PgStream<'_, C> {
    fn stream(&mut self, on_row: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
        let what = &self.what;
        let reader = self
            .client
            .copy_out(self.sql.as_str())
            .ctx(|| format!("reading {what}"))?;
        let mut r = CsvReader::new(reader);
        loop {
            match r.next_record() {
                Ok(true) => on_row(&r.record())?,
                Ok(false) => return Ok(()),
                Err(CsvError::Io(e)) => {
                    let message = match e
                        .get_ref()
                        .and_then(|x| x.downcast_ref::<postgres::Error>())
                    {
                        Some(pg) => describe(pg),
                        None => e.to_string(),
                    };
                    return Err(Error::Database {
                        context: format!("reading {what}"),
                        message,
                    });
                }
                Err(e) => {
                    return Err(Error::Database {
                        context: format!("reading {what}"),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Session settings that fix how values are printed (not what they mean): ISO dates,
/// PostgreSQL-style intervals, shortest exact floats, hex bytea. The time zone is left
/// as the database sets it: instants are compared with their offsets.
pub(crate) const OUTPUT_SETTINGS: &str = "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 1; SET bytea_output = 'hex'";

/// A read-only session for `waybill-verify`.
pub(crate) fn connect(url: &DbUrl) -> Result<Client> {
    let tls = url.tls.pg_connector()?;
    let mut client = url
        .postgres_config("waybill-verify")
        .connect(tls.clone())
        .ctx(|| format!("connecting to PostgreSQL {url}"))?;
    client
        .batch_execute(&format!(
            "{OUTPUT_SETTINGS}; SET statement_timeout = 0; \
             SET idle_in_transaction_session_timeout = 0; SET default_transaction_read_only = on"
        ))
        .ctx(|| "setting up the session".into())?;
    let token = client.cancel_token();
    interrupt::on_interrupt(move || {
        let _ = token.cancel_query(tls.clone());
    });
    Ok(client)
}

/// `n` sessions that all see one snapshot of the target (an exported snapshot).
pub(crate) fn snapshot_clients(url: &DbUrl, n: usize) -> Result<Vec<Client>> {
    let mut first = connect(url)?;
    first
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .ctx(|| "starting the snapshot".into())?;
    let id: String = first
        .query_one("SELECT pg_export_snapshot()", &[])
        .ctx(|| "exporting the snapshot".into())?
        .get(0);
    let mut clients = vec![first];
    for _ in 1..n.max(1) {
        let mut c = connect(url)?;
        c.batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{id}'"
        ))
        .ctx(|| "joining the snapshot".into())?;
        clients.push(c);
    }
    Ok(clients)
}

/// A source table read in key order through a reader inside the source's snapshot;
/// `map[i]` is the source column of rule column `i`.
pub(crate) struct MySqlStream<'a> {
    pub reader: &'a mut dyn Reader,
    pub table: &'a Table,
    pub map: Vec<usize>,
}

struct Remap<'a> {
    row: &'a dyn Row,
    map: &'a [usize],
}

impl Row for Remap<'_> {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        self.row.cell(self.map[i])
    }
}

impl RowStream for MySqlStream<'_> {
    fn stream(&mut self, on_row: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
        let what = format!("source table `{}`", self.table.name);
        let map = &self.map;
        self.reader.read(self.table, None, &what, &mut |row| {
            on_row(&Remap { row, map })
        })
    }
}
