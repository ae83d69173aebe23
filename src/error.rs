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
    // every way of printing the error shows it exactly once.
    #[error("{context}: {}", crate::error::describe_mysql(source))]
    MySql {
        context: String,
        source: mysql::Error,
    },

    #[error("{context}: {}", crate::error::describe_pg(source))]
    Postgres {
        context: String,
        source: postgres::Error,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
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
            source,
        }
    }
}

/// Context helpers so call sites read `conn.query(..).mysql("reading columns")?`.
pub trait ResultExt<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, mysql::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::MySql {
            context: context(),
            source,
        })
    }
}

impl<T> ResultExt<T> for std::result::Result<T, postgres::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Postgres {
            context: context(),
            source,
        })
    }
}

/// `ERROR 1045 (28000): Access denied ...` rather than the driver's debug wrapping.
pub fn describe_mysql(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => format!("ERROR {} ({}): {}", m.code, m.state, m.message),
        other => other.to_string(),
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
        None => e.to_string(),
    }
}
