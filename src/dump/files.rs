//! Opening a dump's files. A dump crosses hosts, so whoever could write to it may have
//! put a symbolic link (to `/dev/zero`, to another user's file), a FIFO or a device
//! where a CSV file should be: reading it would hang, never end, or read something that
//! is not part of the dump. Every file the tools read from a dump is opened here, and
//! only a regular file inside the dump directory is accepted: the name is checked
//! before opening (no symlink, FIFO or device is ever opened), the open refuses a link
//! (`O_NOFOLLOW`) and does not block on a FIFO (`O_NONBLOCK`), and the type is checked
//! again on the opened handle, so a file swapped in between cannot slip through.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a file is, in words, when it is not a regular file.
fn not_regular(m: &Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Why a dump file could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    Missing,
    /// A sentence naming the file and what it is.
    Refused(String),
}

impl OpenError {
    /// The message, with `missing` for a file that does not exist.
    pub(crate) fn message(self, path: &Path) -> String {
        match self {
            OpenError::Missing => format!("{}: file is missing", path.display()),
            OpenError::Refused(m) => m,
        }
    }
}

fn refused(path: &Path, what: &str) -> OpenError {
    OpenError::Refused(format!(
        "{}: is {what}; a dump holds only regular files, so it is not read",
        path.display()
    ))
}

/// Opens `path` for reading if it is a regular file (not a link, FIFO, device or
/// directory); returns the handle and its metadata, taken from the handle.
pub(crate) fn open_regular(path: &Path) -> Result<(File, Metadata), OpenError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OpenError::Missing),
        Err(e) => {
            return Err(OpenError::Refused(format!("{}: {e}", path.display())));
        }
        Ok(m) => {
            if let Some(what) = not_regular(&m) {
                return Err(refused(path, what));
            }
        }
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refused(path, "a symbolic link"),
            _ if e.kind() == io::ErrorKind::NotFound => OpenError::Missing,
            _ => OpenError::Refused(format!("{}: {e}", path.display())),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| OpenError::Refused(format!("{}: {e}", path.display())))?;
    if let Some(what) = not_regular(&meta) {
        return Err(refused(path, what));
    }
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.csv");
        fs::write(&file, b"id\n1\n").unwrap();
        let (_, m) = open_regular(&file).unwrap();
        assert_eq!(m.len(), 5);

        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = open_regular(&link).unwrap_err().message(&link);
        assert!(
            e.ends_with(
                "link.csv: is a symbolic link; a dump holds only regular files, so it is not read"
            ),
            "{e}"
        );

        let fifo = dir.path().join("fifo.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let e = open_regular(&fifo).unwrap_err().message(&fifo);
        assert!(e.contains("is a FIFO (named pipe)"), "{e}");

        assert!(open_regular(Path::new("/dev/null")).is_err());
        assert!(open_regular(dir.path()).is_err());
        assert!(matches!(
            open_regular(&dir.path().join("nope")),
            Err(OpenError::Missing)
        ));
    }
}
