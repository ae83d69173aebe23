//! Proving a dump intact before anything touches the target. A dump may have been copied
//! between hosts, so the manifest is checked against `SHA256SUMS`, and every data file
//! against both: present, the recorded size (a cheap check that catches truncation
//! before hashing), the recorded sha256. Hashing runs in parallel. All problems are
//! collected, so one run names every damaged file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dump::hashing::{hash_file, sha256_hex};
use crate::dump::manifest::{MANIFEST_FILE, Manifest, SUMS_FILE, parse_sums};
use crate::error::{Error, Result};

pub struct VerifiedDump {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub manifest_sha256: String,
    /// Files whose content was hashed (the rest were checked for presence and size).
    pub hashed_files: usize,
    pub hashed_bytes: u64,
}

/// A manifest path must name a file inside the dump directory.
fn is_plain_file_name(p: &str) -> bool {
    !p.is_empty() && p != "." && p != ".." && !p.contains(['/', '\\', '\0']) && !p.starts_with('.')
}

/// Verifies the dump in `dir`. Files of tables for which `hash` returns false are only
/// checked for presence and size (used when importing a subset of tables).
pub(crate) fn verify_dump(dir: &Path, hash: impl Fn(&str) -> bool + Sync) -> Result<VerifiedDump> {
    let (manifest, bytes) = Manifest::load(dir)?;
    let manifest_sha256 = sha256_hex(&bytes);
    let mut problems = Vec::new();

    let sums_path = dir.join(SUMS_FILE);
    let sums: BTreeMap<String, String> = match fs::read_to_string(&sums_path) {
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
            problems.push(format!("{SUMS_FILE}: cannot read it ({e})"));
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

    let mut listed = BTreeSet::new();
    let mut to_hash = Vec::new();
    for (table, f) in manifest.files() {
        if !is_plain_file_name(&f.path) {
            problems.push(format!(
                "table `{}`: manifest file name {:?} is not a plain file name in the dump directory",
                table.name(),
                f.path
            ));
            continue;
        }
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
        match fs::metadata(&path) {
            Err(_) => problems.push(format!(
                "{}: file is missing (table `{}`)",
                f.path,
                table.name()
            )),
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
                "{SUMS_FILE} lists {name}, which the manifest does not"
            ));
        }
    }

    let results: Vec<_> = to_hash
        .par_iter()
        .map(|(path, f)| (hash_file(path), *f))
        .collect();
    let mut hashed_bytes = 0;
    for (r, f) in &results {
        let name = &f.path;
        match r {
            Ok((h, n)) if *h == f.sha256 && *n == f.bytes => hashed_bytes += n,
            Ok((h, _)) => problems.push(format!(
                "{name}: sha256 is {h}, the manifest says {} (the file is corrupted or was changed)",
                f.sha256
            )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(is_plain_file_name("actor.csv"));
        assert!(is_plain_file_name("t%2Fx.0001.csv"));
        for bad in ["", "..", "../etc/passwd", "/etc/passwd", "a\\b", ".hidden"] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
