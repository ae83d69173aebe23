//! Command-line pieces shared by the binaries: the connection arguments with their env
//! fallbacks, the audit-log argument, `.env` loading. These are the only clap types; the
//! binaries turn them into plain plans before calling an engine.
//!
//! Precedence is flag, then environment, then `.env` in the working directory: `.env` is
//! loaded without overriding variables that are already set, and clap reads flags before
//! the environment. Where each connection setting came from is remembered, so a server
//! that refuses the user or password can be answered with "from WAYBILL_TARGET in
//! /srv/.env"; and a variable that the shell sets and `.env` sets differently is warned
//! about (the shell's wins, which is easy to miss when an old value lingers).

pub mod json;
pub mod report;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Args, Parser};

use crate::dburl::{DbUrl, Engine};
use crate::error::{Error, Result};
use crate::source::SourceSpec;
use crate::target::names::{IdentifierStyle, NameOptions, Renames};
use crate::tls::TlsMode;

/// The `.env` file that was loaded and the variables it set (those the environment did
/// not already set).
static DOTENV: Mutex<Option<(PathBuf, BTreeSet<String>)>> = Mutex::new(None);

/// Loads `.env` from the working directory (not from parent directories). A parse error
/// names the line but never shows it: it may hold a password. Returns a warning for
/// each variable the environment already sets to another value than `.env` does (the
/// environment's wins); it names the variable, never a value.
pub fn load_dotenv() -> Result<Vec<String>> {
    load_dotenv_from(Path::new(".env"))
}

fn load_dotenv_from(path: &Path) -> Result<Vec<String>> {
    let entries = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter
            .collect::<std::result::Result<Vec<(String, String)>, _>>()
            .map_err(|e| dotenv_error(path, e))?,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(dotenv_error(path, e)),
    };
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut warnings = Vec::new();
    let mut from_file = BTreeSet::new();
    for (key, value) in &entries {
        match std::env::var_os(key) {
            Some(current) => {
                if current != std::ffi::OsStr::new(value) && !from_file.contains(key) {
                    warnings.push(format!(
                        "{key} is set in the environment and, to another value, in {}; the \
                         environment's value is used (unset {key} in the shell to use the \
                         file's)",
                        shown.display()
                    ));
                }
            }
            None => {
                from_file.insert(key.clone());
            }
        }
    }
    // Sets what the environment does not have (never overrides).
    dotenvy::from_path(path).map_err(|e| dotenv_error(path, e))?;
    *DOTENV.lock().unwrap_or_else(|p| p.into_inner()) = Some((shown, from_file));
    Ok(warnings)
}

/// Where env var `name` got its value: `.env` (named with its path) or the environment.
fn env_origin(name: &str) -> String {
    let dotenv = DOTENV.lock().unwrap_or_else(|p| p.into_inner());
    match &*dotenv {
        Some((path, keys)) if keys.contains(name) => format!("{name} in {}", path.display()),
        _ => format!("{name} in the environment"),
    }
}

/// The last panic's message and place, kept by the hook for `catch_panic`.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// A panic prints no backtrace: its message is kept, and the engine's caller turns it
/// into an error (`catch_panic`) that closes the audit run like any other failure.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{msg}{at}"));
    }));
}

/// Runs an engine; a panic in it (a bug: no input should cause one) becomes
/// `Error::Internal`, so the caller reports it and closes its audit run as `failed`.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(panic_error()))
}

fn panic_error() -> Error {
    let msg = PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
    Error::Internal(msg.unwrap_or_else(|| "panic".into()))
}

fn dotenv_error(path: &std::path::Path, e: dotenvy::Error) -> Error {
    let name = path.display();
    let unreadable = |number: Option<usize>, what: &str| {
        let at = number.map(|n| format!(" line {n}")).unwrap_or_default();
        Error::config(format!(
            "{name}{at}: {what} (its content is not shown, it may hold a secret)"
        ))
    };
    match e {
        dotenvy::Error::LineParse(entry, index) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            unreadable(failing_line(&text, &entry, index), "cannot parse this line")
        }
        dotenvy::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            let bytes = std::fs::read(path).unwrap_or_default();
            let line = bytes
                .split(|&b| b == b'\n')
                .position(|l| std::str::from_utf8(l).is_err())
                .map(|i| i + 1);
            unreadable(line, "this line is not valid UTF-8")
        }
        e => Error::config(format!("{name}: cannot read it: {e}")),
    }
}

/// The line (1-based) where the entry dotenvy could not parse starts. dotenvy reports
/// the entry's text and an offset in it, not where it is in the file (and for a bad
/// value only the value's text), so the entry is found again by parsing ever longer
/// prefixes of the file until one fails the same way; a `.env` is small.
fn failing_line(text: &str, entry: &str, index: usize) -> Option<usize> {
    let ends = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(text.len()));
    for end in ends {
        let prefix = &text[..end];
        let first = dotenvy::from_read_iter(prefix.as_bytes()).find_map(|r| r.err());
        if let Some(dotenvy::Error::LineParse(e, i)) = first
            && e == entry
            && i == index
        {
            // The prefix ends with the entry; it starts as many lines earlier as it has
            // line breaks inside.
            let last = prefix.trim_end_matches(['\n', '\r']).matches('\n').count() + 1;
            let inside = e.trim_end_matches(['\n', '\r']).matches('\n').count();
            return Some(last - inside);
        }
    }
    None
}

/// How a binary answers SIGINT, SIGTERM and SIGHUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnSignal {
    /// Stop at the next row or buffer: remove unfinished files, roll back, log `failed`,
    /// and exit with 128 + the signal number (export, import).
    Stop,
    /// Keep the default action, which ends the process at once: right for a tool with
    /// nothing to clean up (waybill-log writes each audit line with one write call, so a
    /// signal never leaves half a line).
    Exit,
}

/// The shape every binary's `main` shares: signal handling, `.env`, flags, then `run`.
/// Errors are printed once, prefixed with the tool name; a panic never prints a Rust
/// backtrace. Exit codes: 0 ok, 1 failed (a panic included), 2 bad usage or `.env`,
/// 128 + the signal number when a signal stopped the run (130 SIGINT, 143 SIGTERM,
/// 129 SIGHUP).
pub fn run_main<A: Parser>(
    tool: &str,
    on_signal: OnSignal,
    run: impl FnOnce(A) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    install_panic_hook();
    if on_signal == OnSignal::Stop {
        crate::interrupt::install();
    }
    match load_dotenv() {
        Ok(warnings) => {
            for w in warnings {
                report::stderr_line(&format!("{tool}: warning: {w}"));
            }
        }
        Err(e) => {
            report::stderr_line(&format!("{tool}: {e}"));
            return ExitCode::from(2);
        }
    }
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(A::parse())))
        .unwrap_or_else(|_| Err(panic_error().into()));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            report::stderr_line(&format!(
                "{tool}: error: {}",
                crate::printable::escaped_lines(&format!("{e:#}"))
            ));
            match e.downcast_ref::<Error>() {
                Some(Error::Interrupted(signal)) => ExitCode::from(signal.exit_code()),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Builds a URL from `<PREFIX>_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_DATABASE`.
fn from_discrete(engine: Engine, prefix: &str) -> Result<Option<DbUrl>> {
    let var = |k: &str| env(&format!("{prefix}_{k}"));
    let (host, port, user, database) = (var("HOST"), var("PORT"), var("USER"), var("DATABASE"));
    if host.is_none() && user.is_none() && database.is_none() {
        return Ok(None);
    }
    let database = database.ok_or_else(|| {
        Error::config(format!(
            "{prefix}_DATABASE is not set (needed with {prefix}_HOST/{prefix}_USER)"
        ))
    })?;
    let user = user.ok_or_else(|| Error::config(format!("{prefix}_USER is not set")))?;
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| Error::config(format!("{prefix}_PORT is not a port number: {p}")))?,
        None => match engine {
            Engine::MySql => 3306,
            Engine::Postgres => 5432,
        },
    };
    Ok(Some(DbUrl::new(
        engine,
        host.unwrap_or_else(|| "127.0.0.1".into()),
        port,
        user,
        var("PASSWORD"),
        database,
    )))
}

fn resolve(
    engine: Engine,
    url: Option<&str>,
    flag: &str,
    url_env: &str,
    prefix: &str,
) -> Result<DbUrl> {
    let password = env(&format!("{prefix}_PASSWORD"));
    let (mode_var, ca_var) = match engine {
        Engine::MySql => (format!("{prefix}_SSL_MODE"), format!("{prefix}_SSL_CA")),
        Engine::Postgres => (format!("{prefix}_SSLMODE"), format!("{prefix}_SSLROOTCERT")),
    };
    let mode = env(&mode_var)
        .map(|m| {
            TlsMode::parse(&m)
                .ok_or_else(|| Error::config(format!("{mode_var}: unknown value {m:?}")))
        })
        .transpose()?;
    let ca = env(&ca_var);
    let password_var = format!("{prefix}_PASSWORD");
    if let Some(u) = url {
        let parsed = DbUrl::parse(engine, u, &format!("{flag} (or {url_env})"))?;
        // The environment's value when it is this one (also what waybill-verify's
        // `--target` without a URL passes on), else the flag's.
        let url_origin = if env(url_env).as_deref() == Some(u) {
            format!("the URL came from {}", env_origin(url_env))
        } else {
            format!("the URL came from {flag}")
        };
        let origin = if parsed.password().is_none() && password.is_some() {
            format!(
                "{url_origin}, the password from {}",
                env_origin(&password_var)
            )
        } else {
            url_origin
        };
        return Ok(parsed
            .with_default_password(password)
            .with_default_tls(mode, ca)
            .with_origin(origin));
    }
    let discrete = from_discrete(engine, prefix)?.map(|u| {
        let used: Vec<String> = ["HOST", "PORT", "USER", "PASSWORD", "DATABASE"]
            .iter()
            .map(|k| format!("{prefix}_{k}"))
            .filter(|k| env(k).is_some())
            .map(|k| env_origin(&k))
            .collect();
        u.with_default_tls(mode, ca)
            .with_origin(format!("the settings came from {}", used.join(", ")))
    });
    discrete.ok_or_else(|| {
        Error::config(format!(
            "no connection given: pass {flag} URL, or set {url_env}, or {prefix}_HOST, \
             {prefix}_PORT, {prefix}_USER, {prefix}_PASSWORD and {prefix}_DATABASE \
             (in the environment or in .env)"
        ))
    })
}

#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// The database to export: mysql://USER:PASS@HOST:PORT/DB, a SQLite file as
    /// sqlite:///path/to/app.db or a path ending in .db, .sqlite or .sqlite3, or MongoDB
    /// tool output as mongodump:///path/to/dump/<db> or mongoexport:///path/to/dir.
    /// Without it: WAYBILL_SOURCE, then MYSQL_HOST, MYSQL_PORT, MYSQL_USER,
    /// MYSQL_PASSWORD, MYSQL_DATABASE. A MySQL URL without a password takes
    /// MYSQL_PASSWORD.
    #[arg(
        long,
        value_name = "URL",
        env = "WAYBILL_SOURCE",
        hide_env_values = true
    )]
    pub source: Option<String>,
}

impl SourceArgs {
    /// A SQLite file or MongoDB tool output when the URL or path names one; otherwise
    /// MySQL, with the MYSQL_* settings filling in what the URL leaves out.
    pub fn resolve(&self) -> Result<SourceSpec> {
        const WHAT: &str = "--source (or WAYBILL_SOURCE)";
        if let Some(text) = self.source.as_deref() {
            if let Some(spec) = SourceSpec::sqlite(text, WHAT)? {
                return Ok(spec);
            }
            if let Some(spec) = SourceSpec::mongo(text, WHAT)? {
                return Ok(spec);
            }
        }
        resolve(
            Engine::MySql,
            self.source.as_deref(),
            "--source",
            "WAYBILL_SOURCE",
            "MYSQL",
        )
        .map(SourceSpec::MySql)
    }
}

#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// PostgreSQL to load into: postgresql://USER:PASS@HOST:PORT/DB. Without it:
    /// WAYBILL_TARGET, then POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER,
    /// POSTGRES_PASSWORD, POSTGRES_DATABASE. A URL without a password takes
    /// POSTGRES_PASSWORD.
    #[arg(
        long,
        value_name = "URL",
        env = "WAYBILL_TARGET",
        hide_env_values = true
    )]
    pub target: Option<String>,
}

impl TargetArgs {
    pub fn resolve(&self) -> Result<DbUrl> {
        resolve(
            Engine::Postgres,
            self.target.as_deref(),
            "--target",
            "WAYBILL_TARGET",
            "POSTGRES",
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IdentifiersArg {
    Exact,
    Lower,
    #[value(name = "snake_case")]
    SnakeCase,
}

/// How the dump's names become the target's: the same flags for the import (which
/// maps them) and the verification (which must find the same tables again).
#[derive(Args, Debug, Clone)]
pub struct NameArgs {
    /// The target's naming convention, for existing tables and --create-schema alike:
    /// exact (the dump's names; existing tables and columns are then also found ignoring
    /// case, and by their snake_case form), lower (folded to lower case), or snake_case
    /// (InvoiceLineId becomes invoice_line_id).
    #[arg(long, value_enum, value_name = "STYLE", default_value_t = IdentifiersArg::Exact)]
    pub identifiers: IdentifiersArg,

    /// The same as --identifiers lower.
    #[arg(long, conflicts_with = "identifiers")]
    pub lowercase_identifiers: bool,

    /// Target names for dump tables and columns, one per line: `OldTable=new_table` or
    /// `OldTable.OldColumn=new_column` (# comments). They win over --identifiers.
    #[arg(long, value_name = "FILE")]
    pub rename_file: Option<PathBuf>,
}

impl NameArgs {
    pub fn resolve(&self) -> Result<NameOptions> {
        Ok(NameOptions {
            style: match (self.identifiers, self.lowercase_identifiers) {
                (_, true) | (IdentifiersArg::Lower, _) => IdentifierStyle::Lower,
                (IdentifiersArg::Exact, false) => IdentifierStyle::Exact,
                (IdentifiersArg::SnakeCase, false) => IdentifierStyle::SnakeCase,
            },
            renames: match &self.rename_file {
                Some(f) => Renames::read_file(f)?,
                None => Renames::default(),
            },
        })
    }
}

pub const DEFAULT_AUDIT_LOG: &str = "csv_exports/migration_log.jsonl";

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// The audit trail (JSON Lines) this run appends to.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "WAYBILL_AUDIT_LOG",
        default_value = DEFAULT_AUDIT_LOG
    )]
    pub audit_log: PathBuf,
}

/// Ties an export or import to a larger run: its events carry `parent_run_id`.
#[derive(Args, Debug, Clone)]
pub struct ParentRunArgs {
    /// The run this one is part of, e.g. the id `waybill-log started` printed.
    #[arg(long, value_name = "ID", env = "WAYBILL_RUN_ID")]
    pub parent_run: Option<String>,
}

/// Parses `64M`, `1G`, `512k`, `1048576` (binary units).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, ""));
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s}"))?;
    let mult: u64 = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("unknown unit in {s} (use K, M, G or T)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What loading `path` would report, without setting any variable.
    fn first_error(path: &std::path::Path) -> String {
        let e = dotenvy::from_path_iter(path)
            .unwrap()
            .find_map(|r| r.err())
            .expect("the file has an error");
        dotenv_error(path, e).to_string()
    }

    #[test]
    fn dotenv_errors_name_the_line_not_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str)] = &[
            (
                "A=1\n# note\nB=secret value\nC=3\n",
                " line 3: cannot parse this line",
            ),
            (
                "A=1\r\n\r\nB=secret value\r\n",
                " line 3: cannot parse this line",
            ),
            (
                "A=\"multi\nline\"\nB=ok\nC='secret\nD=4\n",
                " line 4: cannot parse this line",
            ),
            (
                "A=1\nsecret-without-equals\n",
                " line 2: cannot parse this line",
            ),
            (
                "A=1\nB=ok\nC=\"secret\"x y",
                " line 3: cannot parse this line",
            ),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("case{i}.env"));
            std::fs::write(&path, text).unwrap();
            let message = first_error(&path);
            assert_eq!(
                message,
                format!(
                    "{}{expected} (its content is not shown, it may hold a secret)",
                    path.display()
                ),
                "{text:?}"
            );
            assert!(!message.contains("secret value") && !message.contains("secret-"));
        }
        let path = dir.path().join("latin1.env");
        std::fs::write(&path, b"A=1\nB=caf\xe9\n").unwrap();
        let message = first_error(&path);
        assert!(message.ends_with(" line 2: this line is not valid UTF-8 (its content is not shown, it may hold a secret)"), "{message}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12Q").is_err());
    }
}
