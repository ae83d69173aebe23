//! Opening a dump's files. A dump crosses hosts, so whoever could write to it may have
//! put a symbolic link (to `/dev/zero`, to another user's file), a FIFO or a device
//! where a CSV file should be: reading it would hang, never end, or read something that
//! is not part of the dump. Every file the tools read from a dump is opened here, and
//! only a regular file inside the dump directory is accepted: the name is checked
//! before opening (no symlink, FIFO or device is ever opened), the open refuses a link
//! (`O_NOFOLLOW`) and does not block on a FIFO (`O_NONBLOCK`), and the type is checked
//! again on the opened handle, so a file swapped in between cannot slip through.
//!
//! A data file may be stored compressed (`--compress zstd`: `<name>.csv.zst`).
//! `DataReader` gives its CSV bytes, decompressed as they stream, while hashing the
//! stored bytes (what the manifest's `bytes` and `sha256` describe); `DataWriter` is its
//! counterpart for the export. Memory stays flat: the decoder refuses frames whose
//! window would need more than `MAX_WINDOW_LOG` (a dump may be hostile).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::dump::hashing::{HashingReader, HashingWriter};
use crate::dump::manifest::{Compress, Compression};

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

/// The largest zstd window a reader accepts: 2^24 bytes (16 MiB). `--compress` levels
/// 1 to 19 use at most 2^23.
pub(crate) const MAX_WINDOW_LOG: u32 = 24;

enum Source {
    Plain(HashingReader<File>),
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<HashingReader<File>>>>),
}

/// A dump data file's CSV bytes, decompressed when the file is stored compressed; the
/// stored bytes are hashed as they pass (`finish`).
pub(crate) struct DataReader {
    source: Source,
}

impl DataReader {
    /// Opens `path` (a regular file only) stored as `compression` says.
    pub(crate) fn open(
        path: &Path,
        compression: Option<Compression>,
    ) -> Result<DataReader, OpenError> {
        let (file, _) = open_regular(path)?;
        let hashing = HashingReader::new(file);
        let source = match compression {
            None => Source::Plain(hashing),
            Some(Compression::Zstd) => {
                // Several frames may follow each other; each is read in turn.
                let d = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
                    1 << 17,
                    hashing,
                ))
                .and_then(|mut d| d.window_log_max(MAX_WINDOW_LOG).map(|()| d))
                .map_err(|e| OpenError::Refused(format!("{}: {e}", path.display())))?;
                Source::Zstd(Box::new(d))
            }
        };
        Ok(DataReader { source })
    }

    /// Stored bytes read from the file so far (for progress).
    pub(crate) fn stored_bytes(&self) -> u64 {
        match &self.source {
            Source::Plain(h) => h.bytes(),
            Source::Zstd(d) => d.get_ref().get_ref().bytes(),
        }
    }

    /// Reads what is left of the stored file (nothing, after the end of the data), and
    /// returns the stored file's hex sha256 and size.
    pub(crate) fn finish(self) -> io::Result<(String, u64)> {
        let mut hashing = match self.source {
            Source::Plain(h) => h,
            Source::Zstd(d) => {
                let mut buffered = d.finish();
                io::copy(&mut buffered, &mut io::sink())?;
                buffered.into_inner()
            }
        };
        io::copy(&mut hashing, &mut io::sink())?;
        Ok(hashing.finish())
    }
}

impl Read for DataReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Plain(h) => h.read(buf),
            Source::Zstd(d) => d.read(buf).map_err(|e| {
                if e.kind() == io::ErrorKind::Interrupted {
                    e
                } else {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not a valid zstd stream ({e})"),
                    )
                }
            }),
        }
    }
}

enum Sink {
    Plain(HashingWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, HashingWriter<File>>),
}

/// A data file being written: `<path>.partial` until `finish` fsyncs it and renames it
/// into place. Compressed when asked; the stored bytes are hashed as they are written.
pub(crate) struct DataWriter {
    sink: Sink,
    /// CSV bytes written so far (before compression).
    written: u64,
    partial: PathBuf,
    path: PathBuf,
}

impl DataWriter {
    /// Creates `<path>.partial`, compressed as `compress` says.
    pub(crate) fn create(path: PathBuf, compress: Option<Compress>) -> io::Result<Self> {
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)?;
        let hashing = HashingWriter::new(file);
        let sink = match compress {
            None => Sink::Plain(hashing),
            Some(Compress {
                algorithm: Compression::Zstd,
                level,
            }) => {
                let mut e = zstd::stream::write::Encoder::new(hashing, level)?;
                e.include_checksum(true)?;
                Sink::Zstd(e)
            }
        };
        Ok(DataWriter {
            sink,
            written: 0,
            partial,
            path,
        })
    }

    /// The CSV bytes written so far, before compression (for progress).
    pub(crate) fn bytes(&self) -> u64 {
        self.written
    }

    /// Where the file is written until it is complete.
    pub(crate) fn partial(&self) -> &Path {
        &self.partial
    }

    /// Ends the stream, fsyncs the file and renames it into place; returns the stored
    /// file's hex sha256 and size.
    pub(crate) fn finish(self) -> io::Result<(String, u64)> {
        let hashing = match self.sink {
            Sink::Plain(h) => h,
            Sink::Zstd(e) => e.finish()?,
        };
        let (file, sha256, bytes) = hashing.finish();
        file.sync_all()?;
        drop(file);
        fs::rename(&self.partial, &self.path)?;
        Ok((sha256, bytes))
    }
}

impl Write for DataWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.sink {
            Sink::Plain(h) => h.write(buf),
            Sink::Zstd(e) => e.write(buf),
        }?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Plain(h) => h.flush(),
            Sink::Zstd(e) => e.flush(),
        }
    }
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
