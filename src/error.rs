//! One error type for the library. Every variant carries enough context (table, column,
//! file, row) for the message alone to tell the user what failed and where; no variant
//! ever holds a password, because connection settings are only ever shown redacted.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad settings or arguments.
    #[error("{0}")]
    Config(String),

    /// A database call failed. The driver's error is described once, in plain words
    /// (never Debug text), by the module that owns the driver.
    #[error("{context}: {message}")]
    Database { context: String, message: String },

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

    /// SQLite columns whose values cannot all be written in one form, one line per
    /// column (counts per storage class and sample rows); found before any file is
    /// written.
    #[error(
        "SQLite stores any value in any column, and {} column(s) hold values that cannot all be \
         exported as the column's type; nothing was written:\n  {}",
        .0.len(),
        .0.join("\n  ")
    )]
    MixedColumns(Vec<String>),

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

/// Context for database errors, so call sites read `conn.query(..).ctx(|| "reading columns".into())?`.
/// Each driver's module implements it for its error type.
pub(crate) trait ResultExt<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
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

/// A driver's connection-level message with a hint for the two failures people meet
/// most: an unverifiable certificate, and a lost connection.
pub(crate) fn connection_hint(message: String) -> String {
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
