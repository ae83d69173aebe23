//! `--resume`: an interrupted `--commit per-table` import picks up where it stopped.
//!
//! Each run of `--commit per-table` keeps `import_state.json` in the dump directory:
//! which manifest it loads into which target and schema, and the tables committed so
//! far with their row counts. It is rewritten atomically after the TRUNCATE and after
//! every table's commit (a new file written with `create_new`, fsynced, renamed over
//! the old one), so a crash leaves the previous state or the new one, never half.
//!
//! The state only names candidates; the proof is the data. Under the load's table
//! locks, each candidate is kept only when its row count equals the manifest's and its
//! content digest (the comparison `waybill-verify DUMP --target` makes) equals the
//! dump's; every other table is emptied alone and loaded again. A kept table that a
//! reloaded one would empty through `TRUNCATE ... CASCADE` (its foreign keys lead
//! there) is loaded again too, so the end is the same as one uninterrupted run.
//!
//! A dump is untrusted input, and so is this file: it is read only as a regular file of
//! bounded size, validated field by field, and its table names are only ever matched
//! against the manifest's (never used as paths).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Commit, ImportPlan};
use crate::dump::files::{OpenError, open_regular};
use crate::dump::verify::VerifiedDump;
use crate::error::{Error, Result};
use crate::printable::escaped;

/// The state file's name, in the dump directory.
pub(crate) const STATE_FILE: &str = "import_state.json";

/// The largest state file read (a table name and a count per table).
const MAX_BYTES: u64 = 16 << 20;

const FORMAT: u32 = 1;

/// What a `--commit per-table` import has committed so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    pub format: u32,
    pub manifest_sha256: String,
    /// `user@host:port/database`, never a password.
    pub target: String,
    pub schema: String,
    /// Dump table name -> rows, for each table committed.
    pub committed: BTreeMap<String, u64>,
    /// Every table of the load committed.
    pub complete: bool,
}

impl State {
    pub(crate) fn new(plan: &ImportPlan, dump: &VerifiedDump) -> Self {
        State {
            format: FORMAT,
            manifest_sha256: dump.manifest_sha256.clone(),
            target: plan.target.redacted(),
            schema: plan.schema.clone(),
            committed: BTreeMap::new(),
            complete: false,
        }
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Reads and validates the state for `--resume`: `None` when there is none. A state of
/// another manifest, target or schema is refused, as is one that is not a valid state.
pub(crate) fn read(plan: &ImportPlan, dump: &VerifiedDump) -> Result<Option<State>> {
    let p = path(&dump.dir);
    let shown = p.display().to_string();
    let (file, meta) = match open_regular(&p) {
        Ok(f) => f,
        Err(OpenError::Missing) => return Ok(None),
        Err(e) => {
            return Err(Error::config(format!(
                "--resume: {}; remove it to load every table again",
                e.message(&p)
            )));
        }
    };
    let bad = |why: String| {
        Error::config(format!(
            "--resume: {} is not a valid import state ({why}); remove it to load every table \
             again",
            escaped(&shown)
        ))
    };
    if meta.len() > MAX_BYTES {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_BYTES} a state can hold",
            meta.len()
        )));
    }
    let mut text = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| Error::io(&p, e))?;
    let state: State = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if state.format != FORMAT {
        return Err(bad(format!(
            "format {}, this waybill-import reads format {FORMAT}",
            state.format
        )));
    }
    if let Some(t) = state
        .committed
        .keys()
        .find(|t| dump.manifest.table(t).is_none())
    {
        return Err(bad(format!(
            "it names a table `{}` that the dump does not have",
            escaped(t)
        )));
    }
    let mut differ = Vec::new();
    if state.manifest_sha256 != dump.manifest_sha256 {
        differ.push(format!(
            "manifest sha256 {} (this dump's is {})",
            escaped(&state.manifest_sha256),
            dump.manifest_sha256
        ));
    }
    if state.target != plan.target.redacted() {
        differ.push(format!(
            "target {} (this import's is {})",
            escaped(&state.target),
            plan.target.redacted()
        ));
    }
    if state.schema != plan.schema {
        differ.push(format!(
            "schema {} (this import's is {})",
            escaped(&state.schema),
            escaped(&plan.schema)
        ));
    }
    if !differ.is_empty() {
        return Err(Error::config(format!(
            "--resume: {} belongs to another import: {}; resume only the import that wrote it, \
             or run without --resume to load every table",
            escaped(&shown),
            differ.join(", ")
        )));
    }
    Ok(Some(state))
}

/// Writes `state` atomically: a new file (never an existing one or a link), fsynced,
/// renamed over `import_state.json`, then the directory fsynced.
pub(crate) fn write(dir: &Path, state: &State) -> Result<()> {
    let target = path(dir);
    let tmp = dir.join(format!(".{STATE_FILE}.{}.tmp", std::process::id()));
    let mut text = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::Internal(format!("serializing the import state: {e}")))?;
    text.push(b'\n');
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&tmp)
    };
    let mut f = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by a crashed run of the same pid: removing a name never follows it.
            fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
            create()
        }
        other => other,
    }
    .map_err(|e| Error::io(&tmp, e))?;
    let written = f.write_all(&text).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &target)) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&target, e));
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// What `--resume` is told to do before the load, in words, for the user and the log.
pub(crate) fn opening_note(plan: &ImportPlan, state: Option<&State>) -> String {
    match (plan.commit, state) {
        (Commit::All, _) => "--resume with --commit all: an interrupted run of it committed \
                             nothing (one transaction), so every table is loaded"
            .into(),
        (Commit::PerTable, None) => format!(
            "--resume: no {STATE_FILE} in the dump directory (no earlier --commit per-table run \
             of this dump recorded progress), so every table is loaded"
        ),
        (Commit::PerTable, Some(s)) => format!(
            "--resume: an earlier run committed {} table(s); each is kept only if its row \
             count and content digest equal the dump's, the others are loaded again",
            s.committed.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            format: FORMAT,
            manifest_sha256: "ab".repeat(32),
            target: "u@h:5432/d".into(),
            schema: "public".into(),
            committed: BTreeMap::from([("a".to_string(), 3)]),
            complete: false,
        }
    }

    #[test]
    fn write_replaces_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state();
        write(dir.path(), &s).unwrap();
        s.committed.insert("b".into(), 7);
        write(dir.path(), &s).unwrap();
        let text = fs::read(dir.path().join(STATE_FILE)).unwrap();
        let back: State = serde_json::from_slice(&text).unwrap();
        assert_eq!(back, s);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![STATE_FILE.to_string()], "no temp file left");
    }

    #[test]
    fn write_replaces_a_link_without_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(STATE_FILE)).unwrap();
        write(dir.path(), &state()).unwrap();
        assert_eq!(fs::read(outside.path()).unwrap(), b"");
        assert!(
            fs::symlink_metadata(dir.path().join(STATE_FILE))
                .unwrap()
                .is_file()
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = serde_json::to_value(state()).unwrap();
        v["path"] = "/etc/passwd".into();
        assert!(serde_json::from_value::<State>(v).is_err());
    }
}
