//! One error type for the library. Every variant carries enough context (table, column,
//! file, row) for the message alone to tell the user what failed and where; no variant
//! ever holds a password, because connection settings are only ever shown redacted.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad settings or arguments.
    #[error("{0}")]
    Config(String),

    // The underlying errors are part of the message rather than a `source` chain, so
    // every way of printing the error shows it exactly once. (The fields are not named
    // `source`: thiserror would make that a chained source.)
    #[error("{context}: {}", crate::error::describe_mysql(error))]
    MySql {
        context: String,
        error: mysql::Error,
    },

    #[error("{context}: {}", crate::error::describe_pg(error))]
    Postgres {
        context: String,
        error: postgres::Error,
    },

    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A value the export cannot write faithfully.
    #[error("table `{table}`, column `{column}`, row with {key}: {problem}")]
    Data {
        table: String,
        column: String,
        key: String,
        problem: String,
    },

    /// The dump on disk does not match its manifest.
    #[error("dump verification failed, nothing was loaded:\n  {}", .0.join("\n  "))]
    Verification(Vec<String>),

    /// The dump directory has no manifest: the export never finished.
    #[error("{0}")]
    IncompleteDump(String),

    /// The target cannot take the dump as it is; found before any write.
    #[error("pre-flight check failed, nothing was loaded:\n  {}", .0.join("\n  "))]
    Preflight(Vec<String>),

    /// A load step failed; the transaction was rolled back.
    #[error("{0}")]
    Load(String),

    /// With per-table commits (`--jobs`), a table failed after others had committed.
    #[error("{0}")]
    PartialLoad(String),

    #[error("interrupted")]
    Interrupted,

    #[error("audit log {}: {message}", path.display())]
    Audit { path: PathBuf, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// Context helpers so call sites read `conn.query(..).mysql("reading columns")?`.
pub trait ResultExt<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, mysql::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| Error::MySql {
            context: context(),
            error,
        })
    }
}

impl<T> ResultExt<T> for std::result::Result<T, postgres::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| Error::Postgres {
            context: context(),
            error,
        })
    }
}

/// `ERROR 1045 (28000): Access denied ...` rather than the driver's debug wrapping.
pub fn describe_mysql(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => format!("ERROR {} ({}): {}", m.code, m.state, m.message),
        mysql::Error::DriverError(mysql::DriverError::TlsNotSupported) => {
            "the server does not offer TLS (ssl-mode asks for it)".into()
        }
        other => with_tls_hint(other.to_string()),
    }
}

const TLS_HINT: &str = "; the server's TLS certificate could not be verified: point ssl-ca (MySQL) \
     or sslrootcert (PostgreSQL) at the CA that signed it, or use ssl-mode=REQUIRED / \
     sslmode=require to encrypt without verifying";

const LOST: &[&str] = &[
    "closed connection",
    "close_notify",
    "Broken pipe",
    "Connection reset",
    "unexpected eof",
    "UnexpectedEof",
    "connection closed",
];

fn with_tls_hint(message: String) -> String {
    if message.contains("invalid peer certificate") {
        format!("{message}{TLS_HINT}")
    } else if LOST.iter().any(|m| message.contains(m)) {
        // Say what happened first; keep the driver's words for whoever digs deeper.
        let detail = message.split(": https://").next().unwrap_or(&message);
        format!(
            "the connection to the server was lost (the session was killed, timed out, or the \
             network failed) [{detail}]"
        )
    } else {
        message
    }
}

/// PostgreSQL's own words: message, then detail, hint and the CONTEXT line, which for a
/// COPY names the table, the input line and the column.
pub fn describe_pg(e: &postgres::Error) -> String {
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
        None => {
            // Connection-level errors keep their reason in the source chain.
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !message.contains(&text) {
                    message.push_str(&format!(": {text}"));
                }
                cause = c.source();
            }
            with_tls_hint(message)
        }
    }
}
