//! The import's own log, `import_log_<ts>.log`, written next to the dump: what happened,
//! step by step, with the SQL that ran. Best effort: a dump directory that cannot be
//! written to costs the log, never the import.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::ImportObserver;
use crate::timefmt;

/// The import's own log next to the dump; best effort, never fatal.
pub(crate) struct SideLog {
    file: Mutex<Option<File>>,
}

impl SideLog {
    /// Opens the log at `path` (none: no log); a failure is warned about, not fatal.
    pub(crate) fn create(path: Option<&Path>, obs: &dyn ImportObserver) -> SideLog {
        SideLog {
            file: Mutex::new(path.and_then(|p| match File::create(p) {
                Ok(f) => Some(f),
                Err(e) => {
                    obs.warn(&format!("cannot write {}: {e}", p.display()));
                    None
                }
            })),
        }
    }

    pub(crate) fn line(&self, msg: &str) {
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{} {msg}", timefmt::now_rfc3339());
        }
    }
}

pub(crate) fn side_file(dir: &Path, prefix: &str, stamp: &str, ext: &str) -> PathBuf {
    let mut p = dir.join(format!("{prefix}_{stamp}.{ext}"));
    let mut n = 2;
    while p.exists() {
        p = dir.join(format!("{prefix}_{stamp}_{n}.{ext}"));
        n += 1;
    }
    p
}
