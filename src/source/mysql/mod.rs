//! MySQL and MariaDB as a source. Every session reads in utf8mb4 (so latin1 and other
//! charsets arrive as UTF-8), with the time zone at UTC (so TIMESTAMP values are the right
//! instants), an empty sql_mode (so PAD_CHAR_TO_FULL_LENGTH and friends cannot change
//! values) and long network timeouts (so a slow disk on our side does not make the server
//! hang up). Rows are read through the text protocol, as the server prints them.
//!
//! - `catalog`: information_schema into the dump's schema;
//! - `types`: MySQL types into encodings and SELECT expressions;
//! - `snapshot`: one snapshot across parallel connections;
//! - `chunk`: primary-key ranges as SQL.

mod catalog;
mod chunk;
mod snapshot;
mod types;

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use crate::dburl::DbUrl;
use crate::dump::manifest::{self, Snapshot};
use crate::dump::schema::Table;
use crate::error::{Error, Result, ResultExt, connection_hint};
use crate::source::{Catalog, KeyRange, Reader, Row, Source, SourceTable};

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
            if url.tls.mode == crate::tls::TlsMode::Prefer =>
        {
            Conn::new(opts.ssl_opts(None))
        }
        other => other,
    }
}

pub(crate) fn connect(url: &DbUrl) -> Result<Conn> {
    let opts = url.mysql_opts().init(SESSION_SETUP.to_vec());
    let mut conn = open(url, opts).ctx(|| format!("connecting to MySQL/MariaDB {url}"))?;
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

fn server_info(conn: &mut Conn) -> Result<ServerInfo> {
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
    Ok(ServerInfo {
        engine: if mariadb { "mariadb" } else { "mysql" }.into(),
        mysql8: !mariadb && major >= 8,
        version,
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

/// `ERROR 1045 (28000): Access denied ...` rather than the driver's debug wrapping.
pub(crate) fn describe(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => format!("ERROR {} ({}): {}", m.code, m.state, m.message),
        mysql::Error::DriverError(mysql::DriverError::TlsNotSupported) => {
            "the server does not offer TLS (ssl-mode asks for it)".into()
        }
        other => connection_hint(other.to_string()),
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

struct TextRow(mysql::Row);

impl Row for TextRow {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        match self.0.as_ref(i) {
            Some(Value::Bytes(b)) => Some(b.as_slice()),
            _ => None,
        }
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
        let select_list = table
            .columns
            .iter()
            .map(|c| types::select_expr(c.encoding, &quote_ident(&c.name), self.mysql8))
            .collect::<Vec<_>>()
            .join(", ");
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
                on_row(&TextRow(row))?;
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
