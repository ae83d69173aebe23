//! The files an import writes next to the dump: its own log, `import_log_<ts>.log` (what
//! happened, step by step, with the SQL that ran), and `import_script_<ts>.sql`. Best
//! effort: a dump directory that cannot be written to costs these files (with one
//! warning), never the import.
//!
//! Whoever could write to the dump directory may have planted a link where one of these
//! files will go, so each is created with `create_new` (`O_CREAT|O_EXCL`, which also
//! refuses a dangling link) and never opened through an existing path: a taken name
//! moves on to `_2`, `_3`, ... Their mode is 0640.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ImportObserver;
use crate::printable::escaped;
use crate::timefmt;

/// Creates the import's side files in the dump directory. After the first failure it
/// warns once and creates nothing more.
pub(crate) struct SideFiles<'a> {
    dir: Option<&'a Path>,
    stamp: String,
    obs: &'a dyn ImportObserver,
    failed: AtomicBool,
}

impl<'a> SideFiles<'a> {
    /// `dir` none: no side files (`--no-side-files`).
    pub(crate) fn new(dir: Option<&'a Path>, stamp: &str, obs: &'a dyn ImportObserver) -> Self {
        SideFiles {
            dir,
            stamp: stamp.to_string(),
            obs,
            failed: AtomicBool::new(false),
        }
    }

    fn fail(&self, dir: &Path, e: &io::Error) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            self.obs.warn(&format!(
                "cannot write into the dump directory {} ({e}); continuing without \
                 import_log_{}.log and import_script_{}.sql",
                dir.display(),
                self.stamp,
                self.stamp
            ));
        }
    }

    /// A new `<prefix>_<stamp>.<ext>` (or `_2`, ...), created exclusively.
    pub(crate) fn create(&self, prefix: &str, ext: &str) -> Option<(PathBuf, File)> {
        let dir = self.dir?;
        if self.failed.load(Ordering::SeqCst) {
            return None;
        }
        match create_new(dir, prefix, &self.stamp, ext) {
            Ok(created) => Some(created),
            Err(e) => {
                self.fail(dir, &e);
                None
            }
        }
    }

    /// Writes a whole file; returns its path if every byte was written.
    pub(crate) fn write(&self, prefix: &str, ext: &str, content: &[u8]) -> Option<PathBuf> {
        let (path, mut f) = self.create(prefix, ext)?;
        match f.write_all(content).and_then(|_| f.sync_all()) {
            Ok(()) => Some(path),
            Err(e) => {
                drop(f);
                let _ = std::fs::remove_file(&path);
                self.fail(self.dir?, &e);
                None
            }
        }
    }
}

fn create_new(dir: &Path, prefix: &str, stamp: &str, ext: &str) -> io::Result<(PathBuf, File)> {
    let mut n = 1;
    loop {
        let name = match n {
            1 => format!("{prefix}_{stamp}.{ext}"),
            n => format!("{prefix}_{stamp}_{n}.{ext}"),
        };
        let path = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// The import's own log next to the dump; best effort, never fatal.
pub(crate) struct SideLog {
    file: Mutex<Option<File>>,
    path: Option<PathBuf>,
    /// A write failed: the log is incomplete and is not reported as written.
    broken: AtomicBool,
}

impl SideLog {
    pub(crate) fn new(created: Option<(PathBuf, File)>) -> SideLog {
        let (path, file) = created.unzip();
        SideLog {
            file: Mutex::new(file),
            path,
            broken: AtomicBool::new(false),
        }
    }

    /// One line per call: line breaks and control characters in `msg` are escaped, so
    /// text quoted from a dump or a server cannot forge a line of the log.
    pub(crate) fn line(&self, msg: &str) {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_mut()
            && writeln!(f, "{} {}", timefmt::now_rfc3339(), escaped(msg)).is_err()
        {
            self.broken.store(true, Ordering::SeqCst);
            *guard = None;
        }
    }

    /// The log's path, if it exists and every line reached it.
    pub(crate) fn written(&self) -> Option<PathBuf> {
        self.path
            .clone()
            .filter(|_| !self.broken.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;
    impl ImportObserver for Quiet {}

    #[test]
    fn never_through_an_existing_path_or_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        let first = dir.path().join("import_log_T.log");
        std::os::unix::fs::symlink(&target, &first).unwrap();
        std::fs::write(dir.path().join("import_log_T_2.log"), "kept").unwrap();
        let side = SideFiles::new(Some(dir.path()), "T", &Quiet);
        let (path, _) = side.create("import_log", "log").unwrap();
        assert_eq!(path, dir.path().join("import_log_T_3.log"));
        assert!(!target.exists(), "the link was not followed");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("import_log_T_2.log")).unwrap(),
            "kept"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "not readable by others");
    }
}
