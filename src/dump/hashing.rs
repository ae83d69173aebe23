//! SHA-256 computed on the bytes as they stream past, so writing a file and hashing it
//! (or reading and verifying it) is one pass over the data, not two.

use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::dump::files::open_regular;
use crate::error::{Error, Result};

pub(crate) fn to_hex(digest: impl AsRef<[u8]>) -> String {
    hex::encode(digest)
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    to_hex(Sha256::digest(data))
}

pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the hex digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, to_hex(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub fn finish(self) -> (String, u64) {
        (to_hex(self.hasher.finalize()), self.bytes)
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Hex sha256 and size of a dump file, read in 1 MiB blocks. Only a regular file is
/// read (`dump::files`): a link, FIFO or device is refused, never followed or waited on.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    hash_file_with(path, &|_| {})
}

/// `hash_file`, telling `read` how many bytes each block had (for a progress bar).
pub(crate) fn hash_file_with(path: &Path, read: &(dyn Fn(u64) + Sync)) -> Result<(String, u64)> {
    let (file, _) = open_regular(path).map_err(|e| Error::Verification(vec![e.message(path)]))?;
    let mut r = HashingReader::new(file);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                read(n as u64);
                crate::interrupt::check()?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(r.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_agree_with_one_shot() {
        let data = b"id,name\n1,abc\n";
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(data).unwrap();
        let (out, hex, n) = w.finish();
        assert_eq!(out, data);
        assert_eq!(n, data.len() as u64);
        assert_eq!(hex, sha256_hex(data));
        let mut r = HashingReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish(), (hex, n));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// Data over two 1 MiB blocks plus a tail: every block is hashed and counted, in
    /// order, however the reads and writes are cut.
    #[test]
    fn hashing_crosses_block_boundaries() {
        let data: Vec<u8> = (0..(2usize << 20) + 4099)
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        let expected = sha256_hex(&data);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            hash_file(&path).unwrap(),
            (expected.clone(), data.len() as u64)
        );

        let mut w = HashingWriter::new(Vec::new());
        for piece in data.chunks(1000) {
            w.write_all(piece).unwrap();
        }
        w.flush().unwrap();
        let (out, hex, n) = w.finish();
        assert_eq!((hex, n), (expected.clone(), data.len() as u64));
        assert_eq!(out, data);

        let mut r = HashingReader::new(&data[..]);
        let mut buf = [0u8; 3000];
        let mut seen = 0;
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen += n;
        }
        assert_eq!(seen, data.len());
        assert_eq!(r.finish(), (expected, data.len() as u64));

        // A short write is hashed for what was written, not for the whole buffer.
        let mut w = HashingWriter::new(&mut buf[..10]);
        assert_eq!(w.write(b"0123456789abcdef").unwrap(), 10);
        assert_eq!(w.finish().1, sha256_hex(b"0123456789"));
        assert!(hash_file(&dir.path().join("missing.csv")).is_err());
    }

    #[test]
    fn flush_reaches_the_inner_writer() {
        struct Flushed(bool);
        impl Write for Flushed {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.0 = true;
                Ok(())
            }
        }
        let mut w = HashingWriter::new(Flushed(false));
        w.write_all(b"x").unwrap();
        w.flush().unwrap();
        assert!(w.finish().0.0);
        // A read error is reported (a directory cannot be read as a file).
        let dir = tempfile::tempdir().unwrap();
        assert!(hash_file(dir.path()).is_err());
    }
}
