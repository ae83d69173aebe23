//! Catch-up from the binary log: the committed row changes after a base dump, read the
//! way a replica reads them (`COM_BINLOG_DUMP` from the base's file and position), up to
//! the server's position when the read began.
//!
//! Pre-flight first, and every problem at once: binary logging on, `binlog_format` ROW,
//! `binlog_row_image` FULL, no compressed events, the account may list and read the
//! logs (REPLICATION CLIENT / BINLOG MONITOR, REPLICATION SLAVE), the base's position is
//! still on the server (not purged), this is the server and database the base came from.
//!
//! Then the events, in commit order. Row events of the base's tables are decoded
//! (`rowimage`) and handed over in their transaction; XID or COMMIT ends it. Rows of other
//! tables and databases are skipped undecoded. A statement that names one of the tables
//! (DDL, or a change logged as a statement by a session not in row format) stops the
//! delta: it cannot be carried as rows. MariaDB (GTID events, `V1` row events) and MySQL
//! 8 (GTID events, `V2` row events, binary JSON) are both read; only MariaDB is tested
//! here. MySQL's compressed transactions and partial JSON updates, and MariaDB's
//! compressed events, are refused in pre-flight.
//!
//! The stream asks for `BINLOG_DUMP_NON_BLOCK`, so the server ends it at the end of its
//! log instead of waiting: a read can never hang on an idle server.

use std::collections::HashMap;
use std::rc::Rc;

use mysql::prelude::Queryable;
use mysql::{BinlogDumpFlags, BinlogRequest, BinlogStream, Conn};
use mysql_common::binlog::consts::EventType;
use mysql_common::binlog::events::{
    Event, EventData, ExecuteLoadQueryEvent, QueryEvent, RotateEvent, TableMapEvent,
};

use super::rowimage::{Convert, Image, LoggedColumn, TablePlan};
use super::{ServerInfo, describe};
use crate::dburl::DbUrl;
use crate::dump::manifest::{LogPosition, Manifest};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::source::{ChangeLog, ChangeSink, ChangeTable};

/// MariaDB's own event types.
const MARIA_ANNOTATE_ROWS: u8 = 160;
const MARIA_BINLOG_CHECKPOINT: u8 = 161;
const MARIA_GTID: u8 = 162;
const MARIA_GTID_LIST: u8 = 163;
const MARIA_START_ENCRYPTION: u8 = 164;
/// 165 compressed query, 166-171 compressed row events (`log_bin_compress`).
const MARIA_COMPRESSED: std::ops::RangeInclusive<u8> = 165..=171;

/// The server settings catch-up depends on, as read in pre-flight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub log_bin: Option<String>,
    pub binlog_format: Option<String>,
    pub binlog_row_image: Option<String>,
    /// MariaDB `log_bin_compress`.
    pub log_bin_compress: Option<String>,
    /// MySQL 8.0.20+ `binlog_transaction_compression`.
    pub transaction_compression: Option<String>,
    /// MySQL 8 `binlog_row_value_options`.
    pub row_value_options: Option<String>,
}

fn is_on(v: &Option<String>) -> bool {
    matches!(
        v.as_deref().map(str::to_ascii_uppercase).as_deref(),
        Some("1" | "ON")
    )
}

impl Settings {
    fn read(conn: &mut Conn, server: &ServerInfo) -> Settings {
        let mut var = |name: &str| -> Option<String> {
            conn.query_first::<Option<String>, _>(format!("SELECT @@GLOBAL.{name}"))
                .ok()
                .flatten()
                .flatten()
        };
        Settings {
            log_bin: var("log_bin"),
            binlog_format: var("binlog_format"),
            binlog_row_image: var("binlog_row_image"),
            log_bin_compress: if server.is_mariadb() {
                var("log_bin_compress")
            } else {
                None
            },
            transaction_compression: if server.is_mariadb() {
                None
            } else {
                var("binlog_transaction_compression")
            },
            row_value_options: if server.is_mariadb() {
                None
            } else {
                var("binlog_row_value_options")
            },
        }
    }

    /// What keeps catch-up from reading this server's log, one sentence each.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !is_on(&self.log_bin) {
            p.push(
                "binary logging is off (log_bin = OFF): catch-up reads the changes from the \
                 binary log; start the server with --log-bin and a --server-id, then take a \
                 new full export (changes made while it was off are not in any log)"
                    .to_string(),
            );
            return p;
        }
        let format = self.binlog_format.as_deref().unwrap_or("unknown");
        if !format.eq_ignore_ascii_case("ROW") {
            p.push(format!(
                "binlog_format is {format}: catch-up needs ROW (SET GLOBAL binlog_format = 'ROW', \
                 and binlog_format = ROW in the server's configuration; sessions already \
                 connected keep their format until they reconnect)"
            ));
        }
        let image = self.binlog_row_image.as_deref().unwrap_or("unknown");
        if !image.eq_ignore_ascii_case("FULL") {
            p.push(format!(
                "binlog_row_image is {image}: catch-up needs FULL row images (SET GLOBAL \
                 binlog_row_image = 'FULL', and in the server's configuration)"
            ));
        }
        if is_on(&self.log_bin_compress) {
            p.push(
                "log_bin_compress is ON: catch-up cannot read MariaDB's compressed binlog events \
                 (SET GLOBAL log_bin_compress = OFF)"
                    .into(),
            );
        }
        if is_on(&self.transaction_compression) {
            p.push(
                "binlog_transaction_compression is ON: catch-up cannot read compressed \
                 transactions (SET GLOBAL binlog_transaction_compression = OFF)"
                    .into(),
            );
        }
        if let Some(v) = &self.row_value_options
            && !v.trim().is_empty()
        {
            p.push(format!(
                "binlog_row_value_options is {v}: catch-up needs full JSON values, not partial \
                 updates (SET GLOBAL binlog_row_value_options = '')"
            ));
        }
        p
    }
}

/// The numeric suffix of a binlog file name (`binlog.000042` is 42), for ordering.
fn file_index(name: &str) -> Option<u64> {
    name.rsplit('.').next()?.parse().ok()
}

/// `a` is before `b` in the log.
fn before(a: &LogPosition, b: &LogPosition) -> bool {
    match (file_index(&a.binlog_file), file_index(&b.binlog_file)) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a.binlog_file == b.binlog_file && a.binlog_position < b.binlog_position,
    }
}

fn show(p: &LogPosition) -> String {
    format!("{}:{}", p.binlog_file, p.binlog_position)
}

/// The server's current position: `SHOW MASTER STATUS` (`SHOW BINARY LOG STATUS` from
/// MySQL 8.4), with the GTID set at that very position.
fn current_position(
    conn: &mut Conn,
    server: &ServerInfo,
) -> std::result::Result<LogPosition, String> {
    let mut refused = String::new();
    for stmt in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
        match conn.query_first::<mysql::Row, _>(stmt) {
            Ok(Some(row)) => {
                let file: Option<String> = row.get_opt(0).and_then(|r| r.ok());
                let pos: Option<u64> = row.get_opt(1).and_then(|r| r.ok());
                let (Some(file), Some(pos)) = (file, pos) else {
                    return Err(format!("{stmt} gave no file and position"));
                };
                let gtid = if server.is_mariadb() {
                    conn.exec_first::<Option<String>, _, _>(
                        "SELECT BINLOG_GTID_POS(?, ?)",
                        (&file, pos),
                    )
                    .ok()
                    .flatten()
                    .flatten()
                } else {
                    row.get_opt::<String, _>(4).and_then(|r| r.ok())
                }
                .map(|g| g.replace('\n', ""))
                .filter(|g| !g.trim().is_empty());
                return Ok(LogPosition {
                    binlog_file: file,
                    binlog_position: pos,
                    gtid,
                });
            }
            Ok(None) => return Err(format!("{stmt} returned nothing (binary logging is off)")),
            Err(e) => refused = describe(&e),
        }
    }
    Err(refused)
}

fn privilege_hint(server: &ServerInfo) -> &'static str {
    if server.is_mariadb() {
        "BINLOG MONITOR (REPLICATION CLIENT)"
    } else {
        "REPLICATION CLIENT"
    }
}

/// A replica id for this read, unlikely to match a real replica's (the server would
/// disconnect a replica registered under the same id).
fn replica_id() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    0x8000_0000 | ((std::process::id() << 12) ^ nanos) & 0x7FFF_FFFF
}

/// The binary log of a MySQL/MariaDB server, opened after its pre-flight passed.
pub(crate) struct BinlogChanges {
    /// For the few values only the server can print (geometry, charsets, INET6).
    conn: Conn,
    stream: BinlogStream,
    /// The first event, read in pre-flight to prove the server sends the log.
    first: Option<Event>,
    database: String,
    mysql8: bool,
    start: LogPosition,
    end: LogPosition,
}

impl BinlogChanges {
    pub(crate) fn open(url: &DbUrl, base: &Manifest) -> Result<BinlogChanges> {
        let mut conn = super::connect(url)?;
        let server = super::server_info(&mut conn)?;
        let mut problems = Vec::new();
        let src = &base.source;
        if src.engine != server.engine {
            problems.push(format!(
                "the base dump was read from {} and this server is {}: catch-up must read the \
                 binary log of the server the base came from",
                src.engine, server.engine
            ));
        }
        if src.database != url.database {
            problems.push(format!(
                "the base dump holds database `{}`, --source names `{}`",
                src.database, url.database
            ));
        }
        if let (Some(a), Some(b)) = (src.server_id, server.server_id)
            && a != b
        {
            problems.push(format!(
                "the base dump was read from the server with server_id {a}, this one has {b}: \
                 binlog positions belong to one server"
            ));
        }
        if let (Some(a), Some(b)) = (&src.server_uuid, &server.server_uuid)
            && a != b
        {
            problems.push(format!(
                "the base dump was read from the server with server_uuid {a}, this one is {b}: \
                 binlog positions belong to one server"
            ));
        }
        for t in base
            .tables
            .iter()
            .filter(|t| !t.schema.primary_key.is_empty())
        {
            for c in t
                .schema
                .columns
                .iter()
                .filter(|c| !super::rowimage::supported(c))
            {
                problems.push(format!(
                    "table `{}`, column `{}`: catch-up cannot read {} values from the binary \
                     log; export without this table (--exclude) and reload it in full",
                    t.schema.name, c.name, c.column_type
                ));
            }
        }
        let settings = Settings::read(&mut conn, &server);
        let settings_problems = settings.problems();
        let logging_off = !is_on(&settings.log_bin);
        problems.extend(settings_problems);

        let start = match (&base.snapshot.binlog_file, base.snapshot.binlog_position) {
            (Some(f), Some(p)) => Some(LogPosition {
                binlog_file: f.clone(),
                binlog_position: p,
                gtid: base.snapshot.gtid.clone(),
            }),
            _ => {
                problems.push(format!(
                    "the base dump records no binlog position (snapshot method `{}`): catch-up \
                     starts where the base ends; {}",
                    base.snapshot.method,
                    if base.snapshot.method == "single_transaction" && server.mysql8 {
                        "on MySQL the position is only read under FLUSH TABLES WITH READ LOCK, so \
                         take a new full export with the RELOAD privilege"
                    } else {
                        "binary logging was off or the account could not read the position; \
                         take a new full export"
                    }
                ));
                None
            }
        };

        // Whether the base's file is still listed (None: the listing was refused).
        let mut start_on_server = None;
        if !logging_off {
            match conn.query::<mysql::Row, _>("SHOW BINARY LOGS") {
                Ok(rows) => {
                    let logs: Vec<(String, u64)> = rows
                        .into_iter()
                        .filter_map(|r| {
                            Some((
                                r.get_opt::<String, _>(0)?.ok()?,
                                r.get_opt::<u64, _>(1)?.ok()?,
                            ))
                        })
                        .collect();
                    if let Some(start) = &start {
                        match logs.iter().find(|(n, _)| *n == start.binlog_file) {
                            Some((_, size)) if start.binlog_position > *size => problems.push(format!(
                                "the base's position {} is beyond the end of {} ({size} bytes): \
                                 this is not the log the base was read from",
                                show(start),
                                start.binlog_file
                            )),
                            Some(_) => start_on_server = Some(true),
                            None => {
                                start_on_server = Some(false);
                                problems.push(format!(
                                "the base's position {} is no longer on the server: its binary logs \
                                 now {} (purged by binlog_expire_logs_seconds / expire_logs_days or \
                                 PURGE BINARY LOGS); the changes since the base are lost to \
                                 catch-up: take a new full export",
                                show(start),
                                match (logs.first(), logs.last()) {
                                    (Some(a), Some(b)) => format!("run from {} to {}", a.0, b.0),
                                    _ => "are empty".into(),
                                }
                            ))
                            }
                        }
                    }
                }
                Err(e) => problems.push(format!(
                    "the account may not list the binary logs (SHOW BINARY LOGS: {}): grant it {}",
                    describe(&e),
                    privilege_hint(&server)
                )),
            }
        }

        let end = if logging_off {
            None
        } else {
            match current_position(&mut conn, &server) {
                Ok(end) => Some(end),
                Err(why) => {
                    problems.push(format!(
                        "cannot read the server's current binlog position ({why}): grant the \
                         account {}",
                        privilege_hint(&server)
                    ));
                    None
                }
            }
        };
        if let (Some(s), Some(e)) = (&start, &end)
            && before(e, s)
        {
            problems.push(format!(
                "the server's current position {} is before the base's {}: the log was reset \
                 (RESET MASTER) or this is another server; take a new full export",
                show(e),
                show(s)
            ));
        }

        // The dump itself proves REPLICATION SLAVE: the server checks it before anything
        // else, and sends a first (rotate) event when it agrees.
        let mut opened = None;
        if let Some(start) = start.as_ref().filter(|_| start_on_server != Some(false)) {
            match open_stream(url, &server, start) {
                Ok(s) => opened = Some(s),
                Err(e) => problems.push(e),
            }
        }
        if !problems.is_empty() {
            return Err(Error::CatchUp(problems));
        }
        let (Some(start), Some(end), Some((stream, first))) = (start, end, opened) else {
            return Err(Error::CatchUp(vec![
                "the binary log could not be opened".into(),
            ]));
        };
        Ok(BinlogChanges {
            conn,
            stream,
            first,
            database: url.database.clone(),
            mysql8: server.mysql8,
            start,
            end,
        })
    }
}

fn open_stream(
    url: &DbUrl,
    server: &ServerInfo,
    start: &LogPosition,
) -> std::result::Result<(BinlogStream, Option<Event>), String> {
    let mut conn = super::connect(url).map_err(|e| e.to_string())?;
    if server.is_mariadb() {
        // Real GTID events instead of BEGIN stand-ins.
        let _ = conn.query_drop("SET @mariadb_slave_capability = 4");
    }
    let request = BinlogRequest::new(replica_id())
        .with_filename(start.binlog_file.as_bytes().to_vec())
        .with_pos(start.binlog_position)
        .with_flags(BinlogDumpFlags::BINLOG_DUMP_NON_BLOCK);
    let refused = |e: &mysql::Error| -> String {
        match e {
            mysql::Error::MySqlError(m) if m.code == 1227 || m.code == 1045 => format!(
                "the account may not read the binary log ({}): grant it REPLICATION SLAVE",
                describe(e)
            ),
            _ => format!(
                "the server refused to send its binary log from {} ({})",
                show(start),
                describe(e)
            ),
        }
    };
    let mut stream = conn.get_binlog_stream(request).map_err(|e| refused(&e))?;
    match stream.next() {
        Some(Ok(ev)) => Ok((stream, Some(ev))),
        Some(Err(e)) => Err(refused(&e)),
        None => Ok((stream, None)),
    }
}

/// What a statement in the log means for catch-up.
#[derive(Debug, PartialEq, Eq)]
enum Statement {
    Begin,
    Commit,
    Rollback,
    /// Savepoints, and statements that never change rows (ANALYZE, GRANT, ...).
    Harmless,
    /// Anything else: DDL, or a change logged as a statement.
    Other,
}

fn first_words(sql: &str, n: usize) -> Vec<String> {
    sql.split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

fn classify(sql: &str) -> Statement {
    let w = first_words(sql.trim_start(), 3);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["BEGIN", ..] | ["START", "TRANSACTION", ..] => Statement::Begin,
        ["COMMIT", ..] => Statement::Commit,
        ["ROLLBACK", "TO", ..] | ["ROLLBACK", "WORK", "TO", ..] => Statement::Other,
        ["ROLLBACK", ..] => Statement::Rollback,
        ["SAVEPOINT", ..] | ["RELEASE", "SAVEPOINT", ..] => Statement::Harmless,
        [first, ..]
            if [
                "ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "CHECKSUM", "FLUSH", "GRANT", "REVOKE",
                "#",
            ]
            .contains(first) =>
        {
            Statement::Harmless
        }
        [first, ..] if first.starts_with('#') => Statement::Harmless,
        _ => Statement::Other,
    }
}

fn is_row_change(sql: &str) -> bool {
    matches!(
        first_words(sql.trim_start(), 1).first().map(String::as_str),
        Some("INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD")
    )
}

/// The identifiers of a statement, lower-cased: bare words, and `quoted` or "quoted"
/// names; '...' literals are skipped. Rough on purpose: it only has to find the names
/// of tables, and finding one too many only stops a delta that might have been fine.
fn identifiers(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                while let Some(x) = chars.next() {
                    if x == '\\' {
                        chars.next();
                    } else if x == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '`' | '"' => {
                let mut name = String::new();
                while let Some(x) = chars.next() {
                    if x == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            name.push(c);
                        } else {
                            break;
                        }
                    } else {
                        name.push(x);
                    }
                }
                out.push(name.to_lowercase());
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut name = String::from(c);
                while let Some(&x) = chars.peek() {
                    if x.is_alphanumeric() || x == '_' || x == '$' {
                        name.push(x);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(name.to_lowercase());
            }
            _ => {}
        }
    }
    out
}

/// Which of the delta's tables (or the database itself) a logged statement may touch.
fn touched(
    sql: &str,
    schema: &str,
    database: &str,
    tables: &HashMap<String, usize>,
) -> Option<String> {
    let ids = identifiers(sql);
    let db = database.to_lowercase();
    if schema != database && !ids.contains(&db) {
        return None;
    }
    let words = first_words(sql.trim_start(), 2);
    if matches!(words.first().map(String::as_str), Some("DROP" | "ALTER"))
        && matches!(
            words.get(1).map(String::as_str),
            Some("DATABASE" | "SCHEMA")
        )
        && ids.contains(&db)
    {
        return Some(format!("database `{database}`"));
    }
    ids.iter()
        .find(|id| tables.contains_key(*id))
        .map(|id| format!("table `{id}`"))
}

fn preview(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 160 {
        format!("{}...", one_line.chars().take(160).collect::<String>())
    } else {
        one_line
    }
}

/// The server's text form of values the log stores in a form only it can print.
struct ServerConvert<'a> {
    conn: &'a mut Conn,
    mysql8: bool,
}

impl ServerConvert<'_> {
    fn scalar(&mut self, sql: &str, out: &mut Vec<u8>) -> std::result::Result<(), String> {
        match self.conn.query_first::<Option<Vec<u8>>, _>(sql) {
            Ok(Some(Some(v))) => {
                out.extend_from_slice(&v);
                Ok(())
            }
            Ok(_) => Err("the server could not convert the value".into()),
            Err(e) => Err(format!(
                "the server could not convert the value: {}",
                describe(&e)
            )),
        }
    }
}

impl Convert for ServerConvert<'_> {
    fn geometry(&mut self, value: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
        if value.len() < 5 {
            return Err("a geometry shorter than its SRID".into());
        }
        let srid = u32::from_le_bytes(value[..4].try_into().expect("4 bytes"));
        let wkb = hex::encode(&value[4..]);
        let (from, text) = if self.mysql8 {
            (
                format!("ST_GeomFromWKB(X'{wkb}', {srid}, 'axis-order=long-lat')"),
                "ST_AsText(g, 'axis-order=long-lat')",
            )
        } else {
            (format!("ST_GeomFromWKB(X'{wkb}', {srid})"), "ST_AsText(g)")
        };
        self.scalar(
            &format!(
                "SELECT IF({srid} = 0, {text}, CONCAT('SRID=', {srid}, ';', {text})) FROM (SELECT {from} AS g) AS v"
            ),
            out,
        )
    }

    fn charset(
        &mut self,
        charset: &str,
        value: &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<bool, String> {
        if !charset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!("unknown character set {charset:?}"));
        }
        // The value as the server prints it, and how many `?` it holds in its own
        // charset: more `?` in the result means characters were replaced.
        let v = format!("CONVERT(X'{}' USING {charset})", hex::encode(value));
        let sql = format!("SELECT {v}, CHAR_LENGTH({v}) - CHAR_LENGTH(REPLACE({v}, '?', ''))");
        match self
            .conn
            .query_first::<(Option<Vec<u8>>, Option<u64>), _>(sql)
        {
            Ok(Some((Some(text), stored))) => {
                let replaced =
                    memchr::memchr_iter(b'?', &text).count() as u64 > stored.unwrap_or(u64::MAX);
                out.extend_from_slice(&text);
                Ok(replaced)
            }
            Ok(_) => Err("the server could not convert the value".into()),
            Err(e) => Err(format!(
                "the server could not convert the value: {}",
                describe(&e)
            )),
        }
    }

    fn inet(
        &mut self,
        data_type: &str,
        value: &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        let ty = if data_type == "inet4" {
            "INET4"
        } else {
            "INET6"
        };
        self.scalar(
            &format!(
                "SELECT CAST(CAST(X'{}' AS {ty}) AS CHAR)",
                hex::encode(value)
            ),
            out,
        )
    }
}

/// A table map for one of the delta's tables: which table, and how to read its rows.
type Mapped = Option<(usize, Rc<TablePlan>)>;

impl ChangeLog for BinlogChanges {
    fn start(&self) -> &LogPosition {
        &self.start
    }

    fn end(&self) -> &LogPosition {
        &self.end
    }

    fn read(&mut self, tables: &[ChangeTable], sink: &mut dyn ChangeSink) -> Result<()> {
        if !before(&self.start, &self.end) {
            return Ok(());
        }
        let by_name: HashMap<String, usize> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.schema.name.to_lowercase(), i))
            .collect();
        let exact: HashMap<&[u8], usize> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.schema.name.as_bytes(), i))
            .collect();
        let database = self.database.clone();
        let end = self.end.clone();
        let mut conv = ServerConvert {
            conn: &mut self.conn,
            mysql8: self.mysql8,
        };
        let mut maps: HashMap<u64, Mapped> = HashMap::new();
        let mut file = self.start.binlog_file.clone();
        let mut pos = self.start.binlog_position;
        // An event group (a transaction, or a single statement such as DDL) has begun and
        // not ended; `explicit`: it is a transaction, ended by XID, COMMIT or ROLLBACK.
        let mut in_txn = false;
        let mut explicit = false;
        let mut before_img = Image::default();
        let mut after_img = Image::default();
        let mut seen: u64 = 0;
        let mut noted = 0;
        let mut first = self.first.take();
        loop {
            let ev = match first.take() {
                Some(ev) => ev,
                None => match self.stream.next() {
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => {
                        return Err(Error::Database {
                            context: format!("reading the binary log after {file}:{pos}"),
                            message: describe(&e),
                        });
                    }
                    None => break,
                },
            };
            seen += 1;
            if seen.is_multiple_of(1024) {
                interrupt::check()?;
            }
            let h = ev.header();
            let ty = h.event_type_raw();
            // An event that starts at or after the end was written after the end was
            // read: the range is complete. (After a rotation the end may be the end of
            // the new file's header events, which are not all sent to a reader.)
            if h.log_pos() != 0 && ty != EventType::ROTATE_EVENT as u8 {
                let starts = LogPosition {
                    binlog_file: file.clone(),
                    binlog_position: u64::from(h.log_pos())
                        .saturating_sub(u64::from(h.event_size())),
                    gtid: None,
                };
                if !before(&starts, &end) && before(&self.start, &starts) {
                    if in_txn {
                        return Err(Error::CatchUp(vec![format!(
                            "the end position {} falls inside a transaction; run catch-up again",
                            show(&end)
                        )]));
                    }
                    return Ok(());
                }
            }
            let at = || format!("{file}:{}", h.log_pos());
            let corrupt = |e: std::io::Error| {
                Error::CatchUp(vec![format!(
                    "an event of the binary log at {} cannot be read: {e}",
                    at()
                )])
            };
            let stop = |why: String| Error::CatchUp(vec![why]);
            match ty {
                t if t == EventType::ROTATE_EVENT as u8 => {
                    let r: RotateEvent = ev.read_event().map_err(corrupt)?;
                    let mut raw = r.name_raw();
                    // The server's first (artificial) rotate comes before the format
                    // description that says events carry a checksum, so its 4 checksum
                    // bytes read as part of the name.
                    if h.log_pos() == 0
                        && raw.len() == file.len() + 4
                        && raw.starts_with(file.as_bytes())
                    {
                        raw = &raw[..file.len()];
                    }
                    let name = String::from_utf8_lossy(raw).into_owned();
                    if name != file {
                        maps.clear();
                    }
                    file = name;
                    pos = r.position();
                }
                t if t == EventType::QUERY_EVENT as u8 => {
                    let q: QueryEvent = ev.read_event().map_err(corrupt)?;
                    let sql = q.query();
                    let statement = classify(&sql);
                    match statement {
                        Statement::Begin => {
                            in_txn = true;
                            explicit = true;
                        }
                        Statement::Commit => {
                            sink.commit()?;
                            (in_txn, explicit) = (false, false);
                        }
                        Statement::Rollback => {
                            sink.rollback();
                            (in_txn, explicit) = (false, false);
                        }
                        Statement::Harmless => {}
                        Statement::Other => {
                            if let Some(what) = touched(&sql, &q.schema(), &database, &by_name) {
                                return Err(stop(statement_stop(&what, &sql, &at())));
                            }
                            if q.schema() == database && noted < 20 {
                                noted += 1;
                                sink.note(format!(
                                    "a statement that names none of the delta's tables was logged \
                                     at {} and left alone: {}",
                                    at(),
                                    preview(&sql)
                                ));
                            }
                        }
                    }
                    // A statement outside a transaction (DDL) is a group of its own.
                    if matches!(statement, Statement::Harmless | Statement::Other) && !explicit {
                        sink.commit()?;
                        in_txn = false;
                    }
                }
                t if t == EventType::EXECUTE_LOAD_QUERY_EVENT as u8 => {
                    let q: ExecuteLoadQueryEvent = ev.read_event().map_err(corrupt)?;
                    let sql = q.query();
                    if let Some(what) = touched(&sql, &q.schema(), &database, &by_name) {
                        return Err(stop(statement_stop(&what, &sql, &at())));
                    }
                }
                t if t == EventType::XID_EVENT as u8 => {
                    sink.commit()?;
                    (in_txn, explicit) = (false, false);
                }
                t if t == EventType::TABLE_MAP_EVENT as u8 => {
                    let tme: TableMapEvent = ev.read_event().map_err(corrupt)?;
                    let mapped = if tme.database_name_raw() == database.as_bytes() {
                        match exact.get(tme.table_name_raw()) {
                            Some(&i) => Some((i, plan_for(&tme, tables[i].schema, &at())?)),
                            None => None,
                        }
                    } else {
                        None
                    };
                    maps.insert(tme.table_id(), mapped);
                }
                t if is_rows_event(t) => {
                    let Some(EventData::RowsEvent(rows)) = ev.read_data().map_err(corrupt)? else {
                        continue;
                    };
                    let Some(Some((i, plan))) = maps.get(&rows.table_id()) else {
                        continue;
                    };
                    if t == EventType::PARTIAL_UPDATE_ROWS_EVENT as u8 {
                        return Err(stop(format!(
                            "table `{}`: a partial JSON update was logged at {} \
                             (binlog_row_value_options = PARTIAL_JSON): catch-up needs full row \
                             images; take a new full export",
                            tables[*i].schema.name,
                            at()
                        )));
                    }
                    in_txn = true;
                    let table = &tables[*i];
                    let before_bits = rows.columns_before_image();
                    let after_bits = rows.columns_after_image();
                    let mut data = rows.rows_data();
                    let fail = |why: String| {
                        stop(format!(
                            "table `{}`: a row change at {} cannot be read: {why}",
                            table.schema.name,
                            at()
                        ))
                    };
                    while !data.is_empty() {
                        if let Some(b) = before_bits {
                            let present = |c: usize| b.get(c).is_some_and(|x| *x);
                            plan.decode(&mut data, &present, false, &mut before_img, &mut conv)
                                .map_err(fail)?;
                        }
                        if let Some(a) = after_bits {
                            let present = |c: usize| a.get(c).is_some_and(|x| *x);
                            plan.decode(
                                &mut data,
                                &present,
                                table.carry,
                                &mut after_img,
                                &mut conv,
                            )
                            .map_err(fail)?;
                        }
                        if !table.carry {
                            sink.uncarried(*i);
                            continue;
                        }
                        sink.change(
                            *i,
                            before_bits
                                .is_some()
                                .then_some(&before_img as &dyn crate::source::Row),
                            after_bits
                                .is_some()
                                .then_some(&after_img as &dyn crate::source::Row),
                        )?;
                    }
                }
                t if t == EventType::GTID_EVENT as u8
                    || t == EventType::ANONYMOUS_GTID_EVENT as u8
                    || t == EventType::GTID_TAGGED_LOG_EVENT as u8 =>
                {
                    // MySQL follows with BEGIN for a transaction, or with the statement.
                    in_txn = true;
                    explicit = false;
                }
                MARIA_GTID => {
                    // MariaDB's GTID stands in for BEGIN (flags bit 0: a standalone
                    // statement, no transaction): sequence number 8 bytes, domain 4, flags 1.
                    in_txn = true;
                    explicit = ev.data().get(12).is_some_and(|f| f & 1 == 0);
                }
                t if t == EventType::TRANSACTION_PAYLOAD_EVENT as u8 => {
                    return Err(stop(format!(
                        "a compressed transaction was logged at {} (binlog_transaction_compression \
                         = ON): catch-up cannot read it; turn compression off and take a new full \
                         export",
                        at()
                    )));
                }
                t if MARIA_COMPRESSED.contains(&t) => {
                    return Err(stop(format!(
                        "a compressed event was logged at {} (log_bin_compress = ON): catch-up \
                         cannot read it; turn compression off and take a new full export",
                        at()
                    )));
                }
                t if t == EventType::INCIDENT_EVENT as u8 => {
                    return Err(stop(format!(
                        "the server logged an incident at {}: changes may be missing from the \
                         binary log after it; take a new full export",
                        at()
                    )));
                }
                t if t == EventType::XA_PREPARE_LOG_EVENT as u8 => {
                    return Err(stop(format!(
                        "an XA transaction was logged at {}: catch-up does not carry XA \
                         transactions; take a new full export after it completed",
                        at()
                    )));
                }
                t if t == EventType::FORMAT_DESCRIPTION_EVENT as u8
                    || t == EventType::STOP_EVENT as u8
                    || t == EventType::INTVAR_EVENT as u8
                    || t == EventType::RAND_EVENT as u8
                    || t == EventType::USER_VAR_EVENT as u8
                    || t == EventType::BEGIN_LOAD_QUERY_EVENT as u8
                    || t == EventType::APPEND_BLOCK_EVENT as u8
                    || t == EventType::HEARTBEAT_EVENT as u8
                    || t == EventType::IGNORABLE_EVENT as u8
                    || t == EventType::ROWS_QUERY_EVENT as u8
                    || t == EventType::PREVIOUS_GTIDS_EVENT as u8
                    || t == EventType::TRANSACTION_CONTEXT_EVENT as u8
                    || t == EventType::VIEW_CHANGE_EVENT as u8
                    || t == MARIA_ANNOTATE_ROWS
                    || t == MARIA_BINLOG_CHECKPOINT
                    || t == MARIA_GTID_LIST
                    || t == MARIA_START_ENCRYPTION => {}
                other => {
                    return Err(stop(format!(
                        "the binary log holds an event of type {other} at {}, which catch-up does \
                         not know",
                        at()
                    )));
                }
            }
            // A rotate's log_pos is where it ends in the old file; the rotate arm above
            // has already moved `file` and `pos` to the new one.
            let rotate = ty == EventType::ROTATE_EVENT as u8;
            if h.log_pos() != 0 && !rotate {
                pos = u64::from(h.log_pos());
            }
            let here = LogPosition {
                binlog_file: file.clone(),
                binlog_position: pos,
                gtid: None,
            };
            if !before(&here, &end) && h.log_pos() != 0 && !rotate {
                if in_txn {
                    return Err(Error::CatchUp(vec![format!(
                        "the end position {} falls inside a transaction; run catch-up again",
                        show(&end)
                    )]));
                }
                if here.binlog_file != end.binlog_file || pos != end.binlog_position {
                    return Err(Error::CatchUp(vec![format!(
                        "the binary log went from before {} to {} without an event ending there",
                        show(&end),
                        show(&here)
                    )]));
                }
                return Ok(());
            }
        }
        Err(Error::CatchUp(vec![format!(
            "the binary log ended at {file}:{pos}, before the end position {}",
            show(&end)
        )]))
    }
}

fn is_rows_event(t: u8) -> bool {
    [
        EventType::WRITE_ROWS_EVENT_V1,
        EventType::UPDATE_ROWS_EVENT_V1,
        EventType::DELETE_ROWS_EVENT_V1,
        EventType::WRITE_ROWS_EVENT,
        EventType::UPDATE_ROWS_EVENT,
        EventType::DELETE_ROWS_EVENT,
        EventType::PARTIAL_UPDATE_ROWS_EVENT,
    ]
    .iter()
    .any(|e| *e as u8 == t)
}

fn statement_stop(what: &str, sql: &str, at: &str) -> String {
    if is_row_change(sql) {
        format!(
            "{what}: a change was logged as a statement at {at}, not as rows ({}): the session \
             that made it did not use binlog_format = ROW, so catch-up cannot tell which rows \
             changed; take a new full export",
            preview(sql)
        )
    } else {
        format!(
            "{what}: a schema change (DDL) was logged at {at} ({}): a delta cannot carry schema \
             changes; take a new full export and import",
            preview(sql)
        )
    }
}

/// Reads a table-map event for one of the delta's tables into a plan, checked against the
/// base dump's columns.
fn plan_for(
    tme: &TableMapEvent,
    table: &crate::dump::schema::Table,
    at: &str,
) -> Result<Rc<TablePlan>> {
    let n = tme.columns_count() as usize;
    let mut logged = Vec::with_capacity(n);
    for i in 0..n {
        let ty = match tme.get_column_type(i) {
            Ok(Some(t)) => t,
            _ => {
                return Err(Error::CatchUp(vec![format!(
                    "table `{}`: column {} has a type the binary log reader does not know (at {at})",
                    table.name,
                    i + 1
                )]));
            }
        };
        logged.push(LoggedColumn {
            ty,
            meta: tme.get_column_metadata(i).unwrap_or(&[]),
        });
    }
    TablePlan::new(table, &logged).map(Rc::new).map_err(|why| {
        Error::CatchUp(vec![format!(
            "table `{}` changed since the base dump ({why}, at {at}): its definition was altered \
             (DDL); take a new full export",
            table.name
        )])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_problems_name_what_is_missing() {
        let good = Settings {
            log_bin: Some("1".into()),
            binlog_format: Some("ROW".into()),
            binlog_row_image: Some("FULL".into()),
            log_bin_compress: Some("0".into()),
            ..Settings::default()
        };
        assert!(good.problems().is_empty());
        let off = Settings {
            log_bin: Some("0".into()),
            ..good.clone()
        };
        let p = off.problems();
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("binary logging is off (log_bin = OFF)"),
            "{p:?}"
        );
        let mixed = Settings {
            binlog_format: Some("MIXED".into()),
            binlog_row_image: Some("MINIMAL".into()),
            ..good.clone()
        };
        let p = mixed.problems();
        assert!(
            p[0].starts_with("binlog_format is MIXED: catch-up needs ROW"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("binlog_row_image is MINIMAL: catch-up needs FULL"),
            "{p:?}"
        );
        let compressed = Settings {
            log_bin_compress: Some("ON".into()),
            transaction_compression: Some("1".into()),
            row_value_options: Some("PARTIAL_JSON".into()),
            ..good
        };
        assert_eq!(compressed.problems().len(), 3);
    }

    #[test]
    fn statements_are_classified() {
        assert_eq!(classify("BEGIN"), Statement::Begin);
        assert_eq!(classify("COMMIT"), Statement::Commit);
        assert_eq!(classify("ROLLBACK"), Statement::Rollback);
        assert_eq!(classify("ROLLBACK TO `sp`"), Statement::Other);
        assert_eq!(classify("SAVEPOINT `sp`"), Statement::Harmless);
        assert_eq!(classify("ANALYZE TABLE t"), Statement::Harmless);
        assert_eq!(
            classify("# Dummy event replacing event type 160"),
            Statement::Harmless
        );
        assert_eq!(classify("ALTER TABLE t ADD c INT"), Statement::Other);
        assert!(is_row_change("  insert into t values (1)"));
        assert!(!is_row_change("CREATE TABLE t (id int)"));
    }

    #[test]
    fn statements_touching_the_tables() {
        let tables: HashMap<String, usize> =
            [("orders".to_string(), 0), ("Items".to_lowercase(), 1)].into();
        let t = |sql: &str, schema: &str| touched(sql, schema, "shop", &tables);
        assert_eq!(
            t("ALTER TABLE `orders` ADD x INT", "shop"),
            Some("table `orders`".into())
        );
        assert_eq!(
            t("ALTER TABLE shop.ITEMS ADD x INT", "other"),
            Some("table `items`".into())
        );
        assert_eq!(t("ALTER TABLE orders ADD x INT", "other"), None);
        assert_eq!(t("CREATE TABLE audit (id INT)", "shop"), None);
        assert_eq!(t("INSERT INTO audit VALUES ('orders')", "shop"), None);
        assert_eq!(
            t("DROP DATABASE `shop`", ""),
            Some("database `shop`".into())
        );
        assert_eq!(
            identifiers("ALTER TABLE `a``b` RENAME TO \"c\" -- x"),
            ["alter", "table", "a`b", "rename", "to", "c", "x"]
        );
    }

    #[test]
    fn positions_order_by_file_then_offset() {
        let p = |f: &str, n: u64| LogPosition {
            binlog_file: f.into(),
            binlog_position: n,
            gtid: None,
        };
        assert!(before(&p("binlog.000009", 900), &p("binlog.000010", 4)));
        assert!(before(&p("binlog.000010", 4), &p("binlog.000010", 5)));
        assert!(!before(&p("binlog.000010", 5), &p("binlog.000010", 5)));
        assert!(!before(&p("binlog.000011", 4), &p("binlog.000010", 500)));
    }
}
