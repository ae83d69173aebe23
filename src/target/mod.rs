//! The PostgreSQL target: the session every import uses, what its catalog holds, and,
//! for `--create-schema`, how dump columns become PostgreSQL types and DDL.
//!
//! - `catalog`: tables, columns, sequences, indexes and foreign keys, read before any write;
//! - `sql`: quoting;
//! - `names`: how dump names become target names (`--identifiers`, `--rename-file`);
//! - `pgtype`: column types as the type pre-flight and the read-back comparison read them;
//! - `typemap` and `ddl`: `--create-schema`;
//! - `rules` (with `expr`, the expression translator): what `--create-schema` makes of
//!   CHECK constraints, ON UPDATE CURRENT_TIMESTAMP and generated columns.

pub(crate) mod catalog;
pub mod ddl;
pub(crate) mod expr;
pub mod names;
pub(crate) mod pgtype;
pub mod rules;
pub(crate) mod sql;
pub mod typemap;

use std::time::Duration;

use postgres::Client;

use crate::dburl::DbUrl;
use crate::error::{Error, Result, ResultExt, connection_hint};
use crate::interrupt;

impl<T> ResultExt<T> for std::result::Result<T, postgres::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| Error::Database {
            context: context(),
            message: describe(&error),
        })
    }
}

/// Connects and sets the session up the way every load needs it: UTC, standard strings,
/// no statement or idle timeouts (a load may take hours), `lock_timeout` (zero: none),
/// enough maintenance memory for index builds. Ctrl-C cancels whatever the session is
/// running.
pub(crate) fn connect(url: &DbUrl, lock_timeout: Duration) -> Result<Client> {
    let tls = url.tls.pg_connector()?;
    let mut client = url
        .postgres_config("waybill-import")
        .connect(tls.clone())
        .map_err(|e| Error::Database {
            context: format!("connecting to PostgreSQL {url}"),
            message: format!(
                "{}{}",
                describe_connect(&e),
                if access_denied(&e) {
                    url.origin_hint()
                } else {
                    String::new()
                }
            ),
        })?;
    client
        .batch_execute(&format!(
            "SET TIME ZONE 'UTC'; SET standard_conforming_strings = on; \
             SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; \
             SET lock_timeout = '{}ms'; \
             SELECT set_config('maintenance_work_mem', '256MB', false) \
             WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 256 * 1024 * 1024",
            lock_timeout.as_millis()
        ))
        .ctx(|| "setting up the session".into())?;
    let token = client.cancel_token();
    interrupt::on_interrupt(move || {
        let _ = token.cancel_query(tls.clone());
    });
    Ok(client)
}

/// The server refused the user, the password, or this client (28P01, 28000).
fn access_denied(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::INVALID_PASSWORD
            || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    )
}

/// The server gave up waiting for a lock (`lock_timeout`).
pub(crate) fn is_lock_timeout(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
}

/// `TLS (TLSv1.3, TLS_AES_256_GCM_SHA384)` or `not encrypted`, from the server's view.
pub(crate) fn connection_security(client: &mut Client) -> String {
    client
        .query_opt(
            "SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
            &[],
        )
        .ok()
        .flatten()
        .map(|r| format!("TLS ({}, {})", r.get::<_, String>(0), r.get::<_, String>(1)))
        .unwrap_or_else(|| "not encrypted".into())
}

/// PostgreSQL's own words: message, then detail, hint and the CONTEXT line, which for a
/// COPY names the table, the input line and the column.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; hint: {h}"));
            }
            if let Some(w) = db.where_() {
                s.push_str(&format!("; context: {w}"));
            }
            s
        }
        None => connection_hint(chain(e)),
    }
}

/// A connection-level error with its reason, which sits in the source chain.
fn chain(e: &postgres::Error) -> String {
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(": {text}"));
        }
        cause = c.source();
    }
    message
}

/// Like `describe`, for a connection attempt: before the session exists, a closed
/// connection is a refusal (often the wrong port), not a loss.
fn describe_connect(e: &postgres::Error) -> String {
    if e.as_db_error().is_some() {
        return describe(e);
    }
    let message = chain(e);
    if message.contains("Connection refused") {
        format!("{message} (is the server running, and is the port right?)")
    } else if crate::error::says_lost(&message) && !message.contains("certificate") {
        format!(
            "the server closed the connection during the handshake (is it a PostgreSQL \
             server, and does it accept connections from this host? the driver said: \
             {message})"
        )
    } else {
        describe(e)
    }
}
