//! `waybill-export --resume DUMP_DIR`: finishing an interrupted export.
//!
//! A full export keeps its progress in `export_state.json` in the dump directory,
//! rewritten atomically (a fresh temp file, fsync, rename, fsync of the directory) when
//! the export starts, after finished files (spaced so that writing it takes at most
//! about 5% of the time) and once more when the export stops on an error or a signal:
//! the snapshot it read (binlog file, position, GTID set), the source, the options, a
//! hash of the tables' definitions, the chunk plan of every table (the estimate and the
//! chunk count it split with), and per finished file its name, rows, bytes, sha256, key
//! range and column facts. The file is removed once the manifest is written.
//!
//! Resuming is allowed only when the source provably still holds what the snapshot
//! held: its binlog position (and GTID set) is the recorded one, or the binary log
//! between the recorded position and now holds no change to an exported table. The
//! chunk boundaries are then planned again with the recorded inputs, which gives the
//! same boundaries on the same data; each one is checked against the kept file's
//! recorded range. SQLite and MongoDB sources have no such position: they are refused.
//!
//! The state is untrusted input: it is size-limited, parsed without panics, and every
//! file it names must be the expected name of its table and chunk (so nothing outside
//! the dump is read or written) and a regular file whose size and sha256 are the
//! recorded ones, re-hashed; anything else is exported again.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dump::encoding::ColumnStats;
use crate::dump::files::{OpenError, open_regular};
use crate::dump::hashing::{hash_file, sha256_hex};
use crate::dump::manifest::{self, ExportOptions, FileEntry, Snapshot};
use crate::dump::schema::{Table, View};
use crate::error::{Error, Result};

pub(crate) const STATE_FILE: &str = "export_state.json";
pub(crate) const STATE_FORMAT: &str = "waybill-export-state";
pub(crate) const STATE_VERSION: u32 = 1;
/// The largest state file read.
const MAX_STATE_BYTES: u64 = 256 << 20;

/// What an export records so that it can be resumed.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct ExportState {
    pub format: String,
    pub format_version: u32,
    /// RFC 3339 UTC: when the interrupted export started.
    pub created_at: String,
    pub source: manifest::Source,
    pub snapshot: Snapshot,
    pub options: ExportOptions,
    /// `--chunk-rows` (not in the manifest's options).
    #[serde(default)]
    pub chunk_rows: Option<u64>,
    /// sha256 of the exported tables' definitions and the views, as read.
    pub catalog_sha256: String,
    pub tables: Vec<StateTable>,
    pub files: Vec<StateFile>,
}

/// A table's file base name and chunk plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct StateTable {
    pub name: String,
    pub base: String,
    /// The row estimate the chunks were planned with.
    pub estimated_rows: u64,
    /// 1: one file; more: split into about this many key ranges.
    pub chunks: u64,
}

/// A finished file: its manifest entry and its column facts.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct StateFile {
    pub table: String,
    /// 0 for a table in one file, else the chunk number (from 1).
    pub index: usize,
    pub file: FileEntry,
    pub stats: Vec<ColumnStats>,
}

/// sha256 of the tables' definitions (facts empty, as read from the catalog) and views.
pub(crate) fn catalog_sha256(tables: &[&Table], views: &[View]) -> String {
    let json = serde_json::to_vec(&(tables, views)).unwrap_or_default();
    sha256_hex(&json)
}

/// Writes the state atomically: a new temp file (never an existing one), fsync, rename
/// over the state, fsync of the directory.
pub(crate) fn write(dir: &Path, state: &ExportState) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.partial"));
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::config(format!("cannot write the export state: {e}")))?;
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&tmp, e)),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    manifest::sync_dir(dir)
}

/// Removes the state of a completed export.
pub(crate) fn remove(dir: &Path) -> Result<()> {
    let path = dir.join(STATE_FILE);
    match fs::remove_file(&path) {
        Ok(()) => manifest::sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

fn cannot(dir: &Path, why: impl std::fmt::Display) -> Error {
    Error::config(format!(
        "cannot resume the export in {}: {why}; start a fresh export",
        dir.display()
    ))
}

/// The dump directory given to `--resume`, absolute, after the checks that need no
/// source: it is a directory, and it holds no manifest.
pub(crate) fn dump_dir(given: &Path) -> Result<PathBuf> {
    let dir = std::path::absolute(given).map_err(|e| Error::io(given, e))?;
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::config(format!(
                "--resume {}: is not a directory",
                dir.display()
            )));
        }
        Err(e) => return Err(Error::io(&dir, e)),
    }
    if fs::symlink_metadata(dir.join(manifest::MANIFEST_FILE)).is_ok() {
        return Err(Error::config(format!(
            "--resume {}: the dump is already complete (it has its {}); there is nothing \
             to resume",
            dir.display(),
            manifest::MANIFEST_FILE
        )));
    }
    Ok(dir)
}

/// Reads and checks the state of the interrupted export in `dir`.
pub(crate) fn load(dir: &Path) -> Result<ExportState> {
    let path = dir.join(STATE_FILE);
    let (file, meta) = match open_regular(&path) {
        Ok(f) => f,
        Err(OpenError::Missing) => {
            return Err(cannot(
                dir,
                format!(
                    "it holds no {STATE_FILE} (the export did not get as far as its \
                     snapshot, or was written by a version without resume)"
                ),
            ));
        }
        Err(e) => return Err(cannot(dir, e.message(&path))),
    };
    if meta.len() > MAX_STATE_BYTES {
        return Err(cannot(
            dir,
            format!(
                "{STATE_FILE} is {} bytes, more than any export writes",
                meta.len()
            ),
        ));
    }
    let mut text = Vec::new();
    file.take(MAX_STATE_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| Error::io(&path, e))?;
    let state: ExportState = serde_json::from_slice(&text).map_err(|e| {
        cannot(
            dir,
            format!("{STATE_FILE} is not a valid export state ({e})"),
        )
    })?;
    check(&state).map_err(|why| cannot(dir, format!("{STATE_FILE}: {why}")))?;
    Ok(state)
}

/// The consistency checks that need nothing but the state.
fn check(s: &ExportState) -> std::result::Result<(), String> {
    if s.format != STATE_FORMAT || s.format_version != STATE_VERSION {
        return Err(format!(
            "format {:?} version {} is not {STATE_FORMAT} version {STATE_VERSION}",
            s.format, s.format_version
        ));
    }
    let mut tables = HashMap::new();
    for t in &s.tables {
        if t.chunks == 0 || t.chunks > t.estimated_rows.max(1) {
            return Err(format!(
                "table `{}`: {} chunks for an estimate of {} rows",
                t.name, t.chunks, t.estimated_rows
            ));
        }
        if tables.insert(t.name.as_str(), t).is_some() {
            return Err(format!("table `{}` is listed twice", t.name));
        }
    }
    let mut seen = HashSet::new();
    for f in &s.files {
        let Some(t) = tables.get(f.table.as_str()) else {
            return Err(format!(
                "file {:?} belongs to table `{}`, which is not in the export",
                f.file.path, f.table
            ));
        };
        if (t.chunks == 1) != (f.index == 0) {
            return Err(format!(
                "file {:?}: chunk {} of table `{}`, planned in {} chunk(s)",
                f.file.path, f.index, f.table, t.chunks
            ));
        }
        if !seen.insert((f.table.as_str(), f.index)) {
            return Err(format!("file {:?} is listed twice", f.file.path));
        }
    }
    Ok(())
}

/// Whether a recorded file may be kept: it is a regular file in `dir` with the recorded
/// size and sha256. `Err` says why not.
pub(crate) fn check_file(dir: &Path, f: &FileEntry) -> std::result::Result<(), String> {
    let path = dir.join(&f.path);
    match hash_file(&path) {
        Ok((_, bytes)) if bytes != f.bytes => Err(format!(
            "it has {bytes} bytes, the interrupted export wrote {}",
            f.bytes
        )),
        Ok((sha, _)) if sha != f.sha256 => {
            Err("its sha256 is not the one the interrupted export recorded".into())
        }
        Ok(_) => Ok(()),
        Err(Error::Verification(m)) => Err(m.join("; ")),
        Err(e) => Err(e.to_string()),
    }
}

/// The options that differ between the interrupted export and this run, one per flag.
/// `--jobs` may differ: it does not change what is written.
pub(crate) fn option_differences(
    recorded: &ExportState,
    now: &ExportOptions,
    chunk_rows: Option<u64>,
) -> Vec<String> {
    let flag = |key: &str| match key {
        "chunk_bytes" => "--chunk-size".to_string(),
        "casts" => "--cast".to_string(),
        k => format!("--{}", k.replace('_', "-")),
    };
    let as_map = |o: &ExportOptions| match serde_json::to_value(o) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(&recorded.options), as_map(now));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "not given".to_string(),
        Some(v) => v.to_string(),
    };
    let mut out: Vec<String> = keys
        .into_iter()
        .filter(|k| k.as_str() != "jobs" && a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{} (the interrupted export: {}, this run: {})",
                flag(k),
                show(a.get(k)),
                show(b.get(k))
            )
        })
        .collect();
    if recorded.chunk_rows != chunk_rows {
        let show = |v: Option<u64>| v.map_or("not given".to_string(), |n| n.to_string());
        out.push(format!(
            "--chunk-rows (the interrupted export: {}, this run: {})",
            show(recorded.chunk_rows),
            show(chunk_rows)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ExportState {
        ExportState {
            format: STATE_FORMAT.into(),
            format_version: STATE_VERSION,
            created_at: "2026-01-01T00:00:00Z".into(),
            source: serde_json::from_value(serde_json::json!({
                "engine": "mariadb", "server_version": "11", "database": "d",
                "charset": "utf8mb4", "time_zone": "+00:00"
            }))
            .unwrap(),
            snapshot: Snapshot::default(),
            options: ExportOptions::default(),
            chunk_rows: Some(10),
            catalog_sha256: String::new(),
            tables: vec![StateTable {
                name: "t".into(),
                base: "t".into(),
                estimated_rows: 100,
                chunks: 4,
            }],
            files: vec![],
        }
    }

    fn file(index: usize, path: &str) -> StateFile {
        StateFile {
            table: "t".into(),
            index,
            file: FileEntry {
                path: path.into(),
                rows: 1,
                bytes: 5,
                sha256: sha256_hex(b"id\n1\n"),
                key_range: None,
                role: None,
                compression: None,
            },
            stats: vec![],
        }
    }

    #[test]
    fn state_round_trips_and_bad_states_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("it holds no export_state.json"), "{e}");
        assert!(e.ends_with("start a fresh export"), "{e}");

        let mut s = state();
        s.files.push(file(1, "t.0001.csv"));
        write(dir.path(), &s).unwrap();
        assert!(!dir.path().join("export_state.json.partial").exists());
        let back = load(dir.path()).unwrap();
        assert_eq!(back.tables, s.tables);
        assert_eq!(back.files[0].file, s.files[0].file);

        // A stale temp file from a killed write does not stop the next write.
        fs::write(dir.path().join("export_state.json.partial"), b"junk").unwrap();
        write(dir.path(), &s).unwrap();

        let bad = |edit: &dyn Fn(&mut ExportState), want: &str| {
            let mut s = state();
            edit(&mut s);
            write(dir.path(), &s).unwrap();
            let e = load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        bad(&|s| s.format_version = 9, "version 9");
        bad(&|s| s.tables[0].chunks = 0, "0 chunks");
        bad(&|s| s.files.push(file(0, "t.csv")), "chunk 0 of table `t`");
        bad(
            &|s| {
                s.files.push(file(2, "t.0002.csv"));
                s.files.push(file(2, "t.0002.csv"));
            },
            "listed twice",
        );
        bad(
            &|s| {
                let mut f = file(1, "x.csv");
                f.table = "x".into();
                s.files.push(f);
            },
            "not in the export",
        );
        fs::write(dir.path().join(STATE_FILE), b"{\"format\": 1").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is not a valid export state"), "{e}");
        fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join(STATE_FILE)).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
    }

    #[test]
    fn files_are_kept_only_when_they_hash_as_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let f = file(1, "t.0001.csv").file;
        assert!(check_file(dir.path(), &f).unwrap_err().contains("missing"));
        fs::write(dir.path().join("t.0001.csv"), b"id\n1\n").unwrap();
        assert_eq!(check_file(dir.path(), &f), Ok(()));
        fs::write(dir.path().join("t.0001.csv"), b"id\n2\n").unwrap();
        assert!(check_file(dir.path(), &f).unwrap_err().contains("sha256"));
        fs::write(dir.path().join("t.0001.csv"), b"id\n").unwrap();
        assert!(check_file(dir.path(), &f).unwrap_err().contains("3 bytes"));
    }

    #[test]
    fn differing_options_are_named_by_flag() {
        let s = state();
        let now = ExportOptions {
            chunk_bytes: 5,
            jobs: 7,
            ..ExportOptions::default()
        };
        assert_eq!(
            option_differences(&s, &now, None),
            vec![
                "--chunk-size (the interrupted export: 0, this run: 5)".to_string(),
                "--chunk-rows (the interrupted export: 10, this run: not given)".to_string(),
            ]
        );
        let same = ExportOptions {
            jobs: 3,
            ..ExportOptions::default()
        };
        assert!(option_differences(&s, &same, Some(10)).is_empty());
    }
}
