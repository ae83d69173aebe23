//! MySQL and MariaDB as a source. Every session reads in utf8mb4 (so latin1 and other
//! charsets arrive as UTF-8; a byte that is invalid in its column's charset arrives as
//! `?`, which the reader detects for the columns where it can happen, see
//! `types::charset_may_replace`), with the time zone at UTC (so TIMESTAMP values are the right
//! instants), an empty sql_mode (so PAD_CHAR_TO_FULL_LENGTH and friends cannot change
//! values) and long network timeouts (so a slow disk on our side does not make the server
//! hang up). Rows are read through the text protocol, as the server prints them.
//!
//! - `catalog`: information_schema into the dump's schema;
//! - `types`: MySQL types into encodings and SELECT expressions;
//! - `snapshot`: one snapshot across parallel connections;
//! - `chunk`: primary-key ranges as SQL;
//! - `binlog`: catch-up, the row changes after a snapshot read from the binary log;
//!   `rowimage` prints their values in the snapshot's text forms, `jsonb` MySQL's
//!   binary JSON.

pub(crate) mod binlog;
mod catalog;
mod chunk;
mod jsonb;
mod rowimage;
mod snapshot;
mod types;

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use crate::dburl::DbUrl;
use crate::dump::manifest::{self, Snapshot};
use crate::dump::schema::Table;
use crate::error::{self, Error, Result, ResultExt, connection_hint};
use crate::source::{Catalog, KeyRange, Reader, Row, Source, SourceTable};
use crate::tls::TlsMode;

const SESSION_SETUP: &[&str] = &[
    "SET NAMES utf8mb4",
    "SET time_zone = '+00:00'",
    "SET SESSION sql_mode = ''",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "SET SESSION net_write_timeout = 86400",
    "SET SESSION net_read_timeout = 86400",
    "SET SESSION wait_timeout = 86400",
];

/// Settings that exist on one server flavour only; failures are ignored.
const SESSION_OPTIONAL: &[&str] = &[
    "SET SESSION max_statement_time = 0",
    "SET SESSION max_execution_time = 0",
    "SET SESSION information_schema_stats_expiry = 0",
];

/// Opens a connection; in "prefer" mode a server without TLS gets a plain connection.
pub fn open(url: &DbUrl, opts: mysql::OptsBuilder) -> std::result::Result<Conn, mysql::Error> {
    match Conn::new(opts.clone()) {
        Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported))
            if url.tls.mode == TlsMode::Prefer =>
        {
            Conn::new(opts.ssl_opts(None))
        }
        other => other,
    }
}

pub(crate) fn connect(url: &DbUrl) -> Result<Conn> {
    if let Some(ca) = url
        .tls
        .ca
        .as_deref()
        .filter(|_| url.tls.mode != TlsMode::Disable)
    {
        crate::tls::check_ca_file(ca)?;
    }
    let opts = url.mysql_opts().init(SESSION_SETUP.to_vec());
    let mut conn = open(url, opts).map_err(|e| Error::Database {
        context: format!("connecting to MySQL/MariaDB {url}"),
        message: match io_cause(&e) {
            // Before the session exists, a closed connection is a refusal, not a loss.
            Some(io) if error::is_lost(io) => format!(
                "the server closed the connection during the handshake (is it a MySQL or \
                 MariaDB server, and does it accept connections from this host? the driver \
                 said: {io})"
            ),
            // Access denied for the user, to the database, or by the auth plugin.
            _ if matches!(&e, mysql::Error::MySqlError(m) if matches!(m.code, 1044 | 1045 | 1698)) => {
                format!("{}{}", describe(&e), url.origin_hint())
            }
            _ => describe(&e),
        },
    })?;
    for stmt in SESSION_OPTIONAL {
        let _ = conn.query_drop(stmt);
    }
    Ok(conn)
}

#[derive(Clone, Debug)]
pub(crate) struct ServerInfo {
    pub engine: String,
    pub version: String,
    /// MySQL 8 or later (not MariaDB).
    pub mysql8: bool,
    /// `@@server_id`, and MySQL's `@@server_uuid`: which server's binary log this is.
    pub server_id: Option<u64>,
    pub server_uuid: Option<String>,
}

impl ServerInfo {
    pub fn is_mariadb(&self) -> bool {
        self.engine == "mariadb"
    }
}

/// The TLS cipher of the session, when it is encrypted.
fn tls_cipher(conn: &mut Conn) -> Option<String> {
    let row: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .ok()?;
    row.map(|(_, v)| v).filter(|v| !v.is_empty())
}

pub(crate) fn server_info(conn: &mut Conn) -> Result<ServerInfo> {
    let version: String = conn
        .query_first("SELECT VERSION()")
        .ctx(|| "reading the server version".into())?
        .unwrap_or_default();
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let server_id: Option<u64> = conn.query_first("SELECT @@server_id").ok().flatten();
    let server_uuid: Option<String> = if mariadb {
        None
    } else {
        conn.query_first::<Option<String>, _>("SELECT @@server_uuid")
            .ok()
            .flatten()
            .flatten()
    };
    Ok(ServerInfo {
        engine: if mariadb { "mariadb" } else { "mysql" }.into(),
        mysql8: !mariadb && major >= 8,
        version,
        server_id,
        server_uuid,
    })
}

/// `db`.`table`, quoted for MySQL.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl<T> ResultExt<T> for std::result::Result<T, mysql::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| Error::Database {
            context: context(),
            message: describe(&error),
        })
    }
}

/// The driver's error as a sentence: `ERROR 1045 (28000): Access denied ...` for the
/// server's own errors, plain words (with the driver's detail kept) for the rest. The
/// driver's own Display wraps everything in Debug-like text (`DriverError { ... }`).
pub(crate) fn describe(e: &mysql::Error) -> String {
    use mysql::{DriverError as D, Error as E};
    match e {
        E::MySqlError(m) => format!("ERROR {} ({}): {}", m.code, m.state, m.message),
        E::DriverError(D::TlsNotSupported) => {
            "the server does not offer TLS (ssl-mode asks for it)".into()
        }
        E::DriverError(D::CouldNotConnect(Some((address, why, kind)))) => {
            let hint = match kind {
                std::io::ErrorKind::ConnectionRefused => {
                    " (is the server running, and is the port right?)"
                }
                _ => "",
            };
            format!("cannot connect to {address}: {why}{hint}")
        }
        E::DriverError(D::CouldNotConnect(None)) => "cannot connect: no address given".into(),
        E::DriverError(D::ConnectTimeout) => {
            "cannot connect: the server did not answer in time".into()
        }
        E::DriverError(other) => format!("the MySQL client failed: {other}"),
        E::IoError(io) => describe_io(io),
        E::CodecError(codec) => match io_cause(e) {
            Some(io) => describe_io(io),
            None => format!("the server's reply could not be read: {codec}"),
        },
        E::TlsError(tls) => connection_hint(format!("TLS failed: {tls}")),
        E::UrlError(url) => format!("invalid connection settings: {url}"),
        E::FromValueError(_) | E::FromRowError(_) => {
            "the server returned a value of an unexpected type".into()
        }
    }
}

fn describe_io(io: &std::io::Error) -> String {
    if error::is_lost(io) {
        error::lost_connection(&io.to_string())
    } else {
        connection_hint(format!("network error: {io}"))
    }
}

/// The I/O error under a driver error. The codec's error type is not exported; its I/O
/// cause is reachable as its source.
fn io_cause(e: &mysql::Error) -> Option<&std::io::Error> {
    match e {
        mysql::Error::IoError(io) => Some(io),
        mysql::Error::CodecError(codec) => {
            std::error::Error::source(codec).and_then(|s| s.downcast_ref())
        }
        _ => None,
    }
}

/// A MySQL or MariaDB database, connected, before its snapshot is taken.
pub(crate) struct MySqlSource {
    url: DbUrl,
    conn: Conn,
    server: ServerInfo,
    tls_cipher: Option<String>,
}

impl MySqlSource {
    pub fn open(url: &DbUrl) -> Result<Self> {
        let mut conn = connect(url)?;
        let server = server_info(&mut conn)?;
        let tls_cipher = tls_cipher(&mut conn);
        Ok(MySqlSource {
            url: url.clone(),
            conn,
            server,
            tls_cipher,
        })
    }
}

impl Source for MySqlSource {
    fn describe(&self) -> manifest::Source {
        manifest::Source {
            engine: self.server.engine.clone(),
            server_version: self.server.version.clone(),
            host: self.url.host.clone(),
            port: self.url.port,
            database: self.url.database.clone(),
            user: self.url.user.clone(),
            charset: "utf8mb4".into(),
            time_zone: "+00:00".into(),
            tls_cipher: self.tls_cipher.clone(),
            path: None,
            journal_mode: None,
            server_id: self.server.server_id,
            server_uuid: self.server.server_uuid.clone(),
            input_format: None,
        }
    }

    fn catalog(&mut self) -> Result<Catalog> {
        catalog::read_catalog(&mut self.conn, &self.url.database, &self.server)
    }

    fn snapshot(
        self: Box<Self>,
        jobs: usize,
        tables: &mut [SourceTable],
    ) -> Result<(Vec<Box<dyn Reader>>, Snapshot)> {
        let MySqlSource {
            url, conn, server, ..
        } = *self;
        let (conns, info) = snapshot::open(&url, conn, &server, jobs, tables)?;
        let readers = conns
            .into_iter()
            .map(|conn| {
                Box::new(MySqlReader {
                    conn,
                    database: url.database.clone(),
                    mysql8: server.mysql8,
                }) as Box<dyn Reader>
            })
            .collect();
        Ok((readers, info))
    }
}

/// One connection inside the snapshot.
struct MySqlReader {
    conn: Conn,
    database: String,
    mysql8: bool,
}

impl MySqlReader {
    fn table_ref(&self, t: &Table) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(&t.name))
    }
}

struct TextRow<'a> {
    row: mysql::Row,
    /// For each column, where its `?` count (`types::question_marks_expr`) is in the row.
    checks: &'a [Option<usize>],
}

impl Row for TextRow<'_> {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        match self.row.as_ref(i) {
            Some(Value::Bytes(b)) => Some(b.as_slice()),
            _ => None,
        }
    }

    fn replaced(&self, i: usize) -> bool {
        let Some(value) = self.cell(i) else {
            return false;
        };
        if memchr::memchr(b'?', value).is_none() {
            return false;
        }
        let stored: u64 = self
            .checks
            .get(i)
            .copied()
            .flatten()
            .and_then(|at| self.cell(at))
            .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
            .unwrap_or(u64::MAX);
        memchr::memchr_iter(b'?', value).count() as u64 > stored
    }
}

impl Reader for MySqlReader {
    fn split(
        &mut self,
        table: &Table,
        rows: u64,
        chunks: u64,
        emit: &mut dyn FnMut(KeyRange) -> Result<()>,
    ) -> Result<()> {
        let key = chunk::KeySpec::for_table(table).ok_or_else(|| {
            Error::config(format!("table `{}` has no splittable key", table.name))
        })?;
        let table_ref = self.table_ref(table);
        chunk::plan(&mut self.conn, &table_ref, &key, rows, chunks, emit)
    }

    fn read(
        &mut self,
        table: &Table,
        range: Option<&KeyRange>,
        what: &str,
        on_row: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        let mut select: Vec<String> = table
            .columns
            .iter()
            .map(|c| types::select_expr(c.encoding, &quote_ident(&c.name), self.mysql8))
            .collect();
        let mut checks = vec![None; table.columns.len()];
        for (i, c) in table.columns.iter().enumerate() {
            if types::charset_may_replace(c) {
                checks[i] = Some(select.len());
                select.push(types::question_marks_expr(&quote_ident(&c.name)));
            }
        }
        let select_list = select.join(", ");
        let (filter, order) = match chunk::KeySpec::for_table(table) {
            Some(k) => (
                range
                    .map(|r| k.where_clause(r))
                    .transpose()?
                    .unwrap_or_default(),
                k.order_by(),
            ),
            None => (String::new(), String::new()),
        };
        let sql = format!(
            "SELECT {select_list} FROM {} {filter} {order}",
            self.table_ref(table)
        );
        let mut rows: u64 = 0;
        let mut result = self
            .conn
            .query_iter(sql)
            .ctx(|| format!("reading {what}"))?;
        let outcome: Result<()> = (|| {
            for row in result.by_ref() {
                let row = row.ctx(|| format!("reading {what} after {rows} rows"))?;
                on_row(&TextRow {
                    row,
                    checks: &checks,
                })?;
                rows += 1;
            }
            Ok(())
        })();
        if outcome.is_err() {
            // Dropping the result would read the rest of the table first; abandon it.
            // The caller drops this reader, which closes the connection.
            std::mem::forget(result);
        }
        outcome
    }
}
