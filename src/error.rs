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

    /// MongoDB collections that cannot be exported as asked (a flattened field with an
    /// empty name, too many fields); found before any file is written.
    #[error(
        "{} collection(s) cannot be exported as asked; nothing was written:\n  {}",
        .0.len(),
        .0.join("\n  ")
    )]
    Unexportable(Vec<String>),

    /// The dump on disk does not match its manifest.
    #[error("dump verification failed, nothing was loaded:\n  {}", .0.join("\n  "))]
    Verification(Vec<String>),

    /// The dump directory has no manifest: the export never finished.
    #[error("{0}")]
    IncompleteDump(String),

    /// Catch-up (`waybill-export --since`) cannot go on: the binary log cannot be used, or
    /// its range holds a change a delta cannot carry (DDL, a change logged as a
    /// statement). Found before the delta was complete; nothing was kept.
    #[error("catch-up stopped, no delta was written:\n  {}", .0.join("\n  "))]
    CatchUp(Vec<String>),

    /// The target cannot take the dump as it is; found before any write.
    #[error("pre-flight check failed, nothing was loaded:\n  {}", .0.join("\n  "))]
    Preflight(Vec<String>),

    /// A load step failed; the transaction was rolled back.
    #[error("{0}")]
    Load(String),

    /// With per-table commits (`--jobs`), a table failed after others had committed.
    #[error("{0}")]
    PartialLoad(String),

    /// A stop signal (SIGINT, SIGTERM, SIGHUP) arrived; the run stopped cleanly.
    #[error("interrupted ({0})")]
    Interrupted(crate::interrupt::Signal),

    /// A table lock was not granted within `--lock-timeout`; the message names the
    /// sessions holding it.
    #[error("{0}")]
    LockTimeout(String),

    #[error("audit log {}: {message}", path.display())]
    Audit { path: PathBuf, message: String },

    /// A bug: a panic caught at the edge of an engine (never expected from any input).
    #[error("internal error, this is a bug in waybill (please report it): {0}")]
    Internal(String),
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

const TLS_HINT: &str = "; point ssl-ca (MySQL) or sslrootcert (PostgreSQL) at the CA that signed \
     it, or use ssl-mode=REQUIRED / sslmode=require to encrypt without verifying";

/// rustls names a certificate problem by its enum variant (`UnknownIssuer`); these are the
/// words for the ones people meet, longest names first so `NotValidForNameContext` is not
/// read as `NotValidForName`.
const CERTIFICATE_PROBLEMS: &[(&str, &str)] = &[
    (
        "UnhandledCriticalExtension",
        "it has a critical extension that is not supported",
    ),
    (
        "UnknownIssuer",
        "it is not signed by a trusted CA (unknown issuer)",
    ),
    ("NotValidForName", "it does not name this host"),
    ("BadSignature", "its signature does not verify"),
    ("BadEncoding", "it is not a well-formed certificate"),
    ("NotValidYet", "it is not valid yet"),
    ("Expired", "it has expired"),
    ("Revoked", "it was revoked"),
];

const PEER_CERTIFICATE: &str = "invalid peer certificate";

/// What rustls found wrong with a certificate, in words: `it has expired` for a message
/// ending `invalid peer certificate: Expired`.
pub(crate) fn certificate_problem(message: &str) -> String {
    let problem = match message.find(PEER_CERTIFICATE) {
        Some(at) => message[at + PEER_CERTIFICATE.len()..].trim_start_matches([':', ' ']),
        None => message,
    };
    let problem = problem.trim_end_matches(['\'', '`']);
    CERTIFICATE_PROBLEMS
        .iter()
        .find(|(name, _)| problem.starts_with(name))
        .map(|(_, words)| (*words).to_string())
        .unwrap_or_else(|| problem.to_string())
}

const LOST: &[&str] = &[
    "closed connection",
    "close_notify",
    "Broken pipe",
    "Connection reset",
    "unexpected eof",
    "UnexpectedEof",
    "connection closed",
    "server disconnected",
    "bytes remaining on stream",
    "early eof",
];

/// Whether a driver's message says the other end went away.
pub(crate) fn says_lost(message: &str) -> bool {
    LOST.iter().any(|m| message.contains(m))
}

/// Whether an I/O error means the other end went away.
pub(crate) fn is_lost(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    ) || says_lost(&e.to_string())
}

/// The sentence for a connection that went away, with the driver's words at the end for
/// whoever digs deeper.
pub(crate) fn lost_connection(detail: &str) -> String {
    let detail = detail.split(": https://").next().unwrap_or(detail);
    format!(
        "the connection to the server was lost (the session was killed, timed out, or the \
         network failed; the driver said: {detail})"
    )
}

/// A driver's connection-level message with a hint for the two failures people meet
/// most: an unverifiable certificate, and a lost connection.
pub(crate) fn connection_hint(message: String) -> String {
    if message.contains(PEER_CERTIFICATE) {
        format!(
            "the server's TLS certificate was not accepted: {}{TLS_HINT}",
            certificate_problem(&message)
        )
    } else if says_lost(&message) {
        lost_connection(&message)
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_in_words() {
        let m = connection_hint("IO error: `invalid peer certificate: UnknownIssuer'".into());
        assert!(
            m.starts_with(
                "the server's TLS certificate was not accepted: it is not signed by a trusted \
                 CA (unknown issuer); point ssl-ca"
            ),
            "{m}"
        );
        let m = connection_hint(
            "invalid peer certificate: certificate not valid for name \"x\"; certificate is \
             only valid for y"
                .into(),
        );
        assert!(
            m.contains("accepted: certificate not valid for name \"x\""),
            "{m}"
        );
        assert_eq!(
            connection_hint("bytes remaining on stream".into()),
            "the connection to the server was lost (the session was killed, timed out, or the \
             network failed; the driver said: bytes remaining on stream)"
        );
    }
}
