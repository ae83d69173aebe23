//! Proving a dump intact before anything touches the target. A dump may have been copied
//! between hosts, so the manifest is checked against `SHA256SUMS`, and every data file
//! against both: present, the recorded size (a cheap check that catches truncation
//! before hashing), the recorded sha256. Hashing runs in parallel. All problems are
//! collected, so one run names every damaged file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dump::files::{OpenError, open_regular};
use crate::dump::hashing::{hash_file_with, sha256_hex};
use crate::dump::manifest::{MANIFEST_FILE, MAX_SUMS_BYTES, Manifest, SUMS_FILE, parse_sums};
use crate::error::{Error, Result};
use crate::printable::escaped;

pub struct VerifiedDump {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub manifest_sha256: String,
    /// Files whose content was hashed (the rest were checked for presence and size).
    pub hashed_files: usize,
    pub hashed_bytes: u64,
}

/// `SHA256SUMS`, read only if it is a regular file of a sensible size.
pub(crate) fn read_sums(path: &Path) -> std::result::Result<String, String> {
    let (file, meta) = open_regular(path).map_err(|e| match e {
        OpenError::Missing => format!("{SUMS_FILE}: cannot read it (the file is missing)"),
        e => e.message(path),
    })?;
    if meta.len() > MAX_SUMS_BYTES {
        return Err(format!(
            "{SUMS_FILE}: {} bytes; it is at most {MAX_SUMS_BYTES} bytes",
            meta.len()
        ));
    }
    let mut text = String::new();
    file.take(MAX_SUMS_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("{SUMS_FILE}: cannot read it ({e})"))?;
    Ok(text)
}

/// Told how hashing the dump's files goes, for a progress bar: `start` once with the
/// number of files and bytes to hash, then `hashed` for every block read (from several
/// threads at once), then `done`.
pub trait HashProgress: Sync {
    fn start(&self, _files: usize, _bytes: u64) {}
    fn hashed(&self, _bytes: u64) {}
    fn done(&self) {}
}

impl HashProgress for () {}

/// Verifies the dump in `dir`. Files of tables for which `hash` returns false are only
/// checked for presence and size (used when importing a subset of tables). The hashing
/// is reported to `progress` (`&()` for nothing).
pub(crate) fn verify_dump(
    dir: &Path,
    hash: impl Fn(&str) -> bool + Sync,
    progress: &dyn HashProgress,
) -> Result<VerifiedDump> {
    let bytes = Manifest::read(dir)?;
    let manifest_sha256 = sha256_hex(&bytes);
    let mut problems = Vec::new();

    let sums: BTreeMap<String, String> = match read_sums(&dir.join(SUMS_FILE)) {
        Ok(text) => match parse_sums(&text) {
            // An empty list would vouch for nothing: the manifest check must not be skipped.
            Ok(v) if v.is_empty() => {
                problems.push(format!(
                    "{SUMS_FILE} is empty: it must list {MANIFEST_FILE} and every data file"
                ));
                BTreeMap::new()
            }
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                problems.push(format!("{SUMS_FILE}: {e}"));
                BTreeMap::new()
            }
        },
        Err(e) => {
            problems.push(e);
            BTreeMap::new()
        }
    };
    if !sums.is_empty() {
        match sums.get(MANIFEST_FILE) {
            Some(h) if *h == manifest_sha256 => {}
            Some(h) => problems.push(format!(
                "{MANIFEST_FILE}: sha256 is {manifest_sha256}, {SUMS_FILE} says {h} (the manifest was changed)"
            )),
            None => problems.push(format!("{SUMS_FILE} has no line for {MANIFEST_FILE}")),
        }
    }

    // A changed manifest is named as such first; then what is wrong inside it.
    let manifest = match Manifest::parse(&bytes) {
        Ok(m) => m,
        Err(invalid) => {
            problems.extend(Manifest::at(dir, invalid));
            return Err(Error::Verification(problems));
        }
    };

    let mut listed = BTreeSet::new();
    let mut to_hash = Vec::new();
    // File names are plain names in the dump directory: `Manifest::load` validated them.
    for (table, f) in manifest.files() {
        listed.insert(f.path.clone());
        if !sums.is_empty() {
            match sums.get(&f.path) {
                Some(h) if *h == f.sha256 => {}
                Some(h) => problems.push(format!(
                    "{}: the manifest says sha256 {}, {SUMS_FILE} says {h}",
                    f.path, f.sha256
                )),
                None => problems.push(format!("{}: missing from {SUMS_FILE}", f.path)),
            }
        }
        let path = dir.join(&f.path);
        match open_regular(&path).map(|(_, m)| m) {
            Err(OpenError::Missing) => problems.push(format!(
                "{}: file is missing (table `{}`)",
                f.path,
                table.name()
            )),
            Err(e) => problems.push(e.message(Path::new(&f.path))),
            Ok(m) if m.len() != f.bytes => problems.push(format!(
                "{}: {} bytes, the manifest says {} (truncated or changed)",
                f.path,
                m.len(),
                f.bytes
            )),
            Ok(_) if hash(table.name()) => to_hash.push((path, f)),
            Ok(_) => {}
        }
    }
    for name in sums.keys() {
        if name != MANIFEST_FILE && !listed.contains(name) {
            problems.push(format!(
                "{SUMS_FILE} lists {}, which the manifest does not",
                escaped(name)
            ));
        }
    }

    progress.start(to_hash.len(), to_hash.iter().map(|(_, f)| f.bytes).sum());
    let read = |n: u64| progress.hashed(n);
    let results: Vec<_> = to_hash
        .par_iter()
        .map(|(path, f)| (hash_file_with(path, &read), *f))
        .collect();
    progress.done();
    let mut hashed_bytes = 0;
    for (r, f) in &results {
        let name = &f.path;
        match r {
            Ok((h, n)) if *h == f.sha256 && *n == f.bytes => hashed_bytes += n,
            Ok((h, _)) => problems.push(format!(
                "{name}: sha256 is {h}, the manifest says {} (the file is corrupted or was changed)",
                f.sha256
            )),
            Err(Error::Verification(v)) => problems.extend(v.iter().cloned()),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Verification(problems));
    }
    Ok(VerifiedDump {
        dir: dir.to_path_buf(),
        hashed_files: results.len(),
        hashed_bytes,
        manifest,
        manifest_sha256,
    })
}
