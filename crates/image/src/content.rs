//! The content store: immutable blobs at `content/sha256/<hex>`.
//!
//! A blob is written under an ingest file (`content/ingest/<pid>-<n>`) on the
//! same filesystem, hashed as it is written, then checked against the expected
//! size and digest, fsynced, made read-only, renamed to its digest path, and
//! the directory fsynced. A partial or unverified blob never has a final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, Hasher};

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {digest}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob digest mismatch: expected {expected}, got {actual} (the source sent corrupt or different content)")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest}: larger than the limit of {limit} bytes")]
    TooLarge { digest: String, limit: u64 },
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
    #[error("content store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What an ingest must turn out to be.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub digest: Option<Digest>,
    pub size: Option<u64>,
}

/// Blobs addressed by digest under `<root>/content`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

static INGEST_SEQ: AtomicU64 = AtomicU64::new(0);

impl ContentStore {
    /// Opens (creating if needed) the store under `dir` (`<root>/content`).
    pub fn open(dir: PathBuf) -> Result<ContentStore, ContentError> {
        for sub in ["sha256", "ingest"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        Ok(ContentStore { dir })
    }

    /// Path of a committed blob.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("sha256").join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        fs::symlink_metadata(self.path(digest)).is_ok_and(|m| m.is_file())
    }

    /// Size of a committed blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.path(digest);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => io_err(&p)(e),
        })
    }

    /// Reads a whole (small) blob such as a manifest or config, refusing
    /// anything over `limit` bytes.
    pub fn read(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ContentError> {
        let f = self.open_blob(digest)?;
        let mut buf = Vec::new();
        f.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(io_err(&self.path(digest)))?;
        if buf.len() as u64 > limit {
            return Err(ContentError::TooLarge {
                digest: digest.to_string(),
                limit,
            });
        }
        Ok(buf)
    }

    /// Starts writing a blob. Nothing is visible under a final name until
    /// [`Ingest::commit`] has verified it.
    pub fn ingest(&self, expected: Expected) -> Result<Ingest, ContentError> {
        let name = format!(
            "{}-{}",
            std::process::id(),
            INGEST_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join("ingest").join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(Ingest {
            store: self.clone(),
            path,
            file: Some(file),
            hasher: Hasher::new(),
            written: 0,
            writeback_from: 0,
            expected,
        })
    }

    /// Writes a whole blob from memory.
    pub fn write_blob(&self, bytes: &[u8], expected: Expected) -> Result<Digest, ContentError> {
        // Present already: nothing to write (or fsync) once `bytes` are
        // shown to be that blob; if they are not, the ingest below says so.
        if let Some(d) = expected.digest.as_ref().filter(|d| self.contains(d)) {
            let size_ok = expected.size.is_none_or(|s| s == bytes.len() as u64);
            if size_ok && Digest::of(bytes) == *d {
                return Ok(d.clone());
            }
        }
        let mut ing = self.ingest(expected)?;
        ing.write_all(bytes).map_err(io_err(&ing.path.clone()))?;
        ing.commit()
    }

    /// Removes a blob; a missing blob is not an error.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Every committed blob (for garbage collection).
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let d = self.dir.join("sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&d).map_err(io_err(&d))? {
            let e = e.map_err(io_err(&d))?;
            if let Some(Ok(dg)) = e.file_name().to_str().map(Digest::from_hex) {
                out.push(dg);
            }
        }
        Ok(out)
    }

    /// Removes ingest files left by processes that no longer exist
    /// (a `kill -9` in the middle of a pull).
    pub fn clean_stale_ingests(&self) -> Result<usize, ContentError> {
        let d = self.dir.join("ingest");
        let mut removed = 0;
        for e in fs::read_dir(&d).map_err(io_err(&d))? {
            let e = e.map_err(io_err(&d))?;
            let name = e.file_name();
            if crate::stale_owner(&name) {
                let _ = fs::remove_file(e.path());
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A blob being written. Dropped without commit, its file is removed.
#[derive(Debug)]
pub struct Ingest {
    store: ContentStore,
    path: PathBuf,
    file: Option<File>,
    hasher: Hasher,
    written: u64,
    /// Where the stretch not yet handed to writeback starts.
    writeback_from: u64,
    expected: Expected,
}

/// A blob's writeback is started every this many bytes, so that the fsync
/// of its commit finds little left to write.
const WRITEBACK_STRETCH: u64 = 8 << 20;

impl Ingest {
    /// Bytes written so far (where a cut download resumes).
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// Verifies size and digest, fsyncs, renames to the digest path and
    /// fsyncs the directory. Committing content that is already present is
    /// not an error.
    pub fn commit(self) -> Result<Digest, ContentError> {
        let expected = self.expected.clone();
        self.finish()?.commit(&expected)
    }

    /// Closes the file and returns the staged blob: hashed and on disk in
    /// the store's filesystem, but without a final name until
    /// [`Staged::commit`]. For content whose expected digest is only known
    /// later (archive entries before their manifest is read).
    pub fn finish(mut self) -> Result<Staged, ContentError> {
        let file = self.file.take().ok_or_else(|| ContentError::Io {
            path: self.path.clone(),
            source: io::Error::other("ingest already closed"),
        })?;
        drop(file);
        let staged = Staged {
            store: self.store.clone(),
            path: std::mem::take(&mut self.path),
            digest: std::mem::take(&mut self.hasher).finish(),
            size: self.written,
        };
        Ok(staged)
    }
}

/// A fully written blob that has no final name yet. Dropped without
/// [`Staged::commit`], its file is removed.
#[derive(Debug)]
pub struct Staged {
    store: ContentStore,
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl Staged {
    /// The sha256 of what was written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Bytes written.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Opens the staged content for reading.
    pub fn open(&self) -> Result<File, ContentError> {
        File::open(&self.path).map_err(io_err(&self.path))
    }

    /// Reads a whole (small) staged blob, refusing anything over `limit`.
    pub fn read(&self, limit: u64) -> Result<Vec<u8>, ContentError> {
        if self.size > limit {
            return Err(ContentError::TooLarge {
                digest: self.digest.to_string(),
                limit,
            });
        }
        let mut buf = Vec::new();
        self.open()?
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(io_err(&self.path))?;
        Ok(buf)
    }

    /// Checks the blob against `expected`, then fsyncs, makes it
    /// read-only, renames it to its digest path and fsyncs the directory.
    pub fn commit(mut self, expected: &Expected) -> Result<Digest, ContentError> {
        if let Some(size) = expected.size {
            if size != self.size {
                return Err(ContentError::SizeMismatch {
                    digest: expected
                        .digest
                        .as_ref()
                        .map_or_else(|| self.digest.to_string(), Digest::to_string),
                    expected: size,
                    actual: self.size,
                });
            }
        }
        if let Some(exp) = &expected.digest {
            if *exp != self.digest {
                return Err(ContentError::DigestMismatch {
                    expected: exp.clone(),
                    actual: self.digest.clone(),
                });
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        file.sync_all().map_err(io_err(&self.path))?;
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(io_err(&self.path))?;
        drop(file);
        let target = self.store.path(&self.digest);
        fs::rename(&self.path, &target).map_err(io_err(&target))?;
        self.path = PathBuf::new();
        let dir = self.store.dir.join("sha256");
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))?;
        tracing::debug!(digest = %self.digest, size = self.size, "blob committed");
        Ok(self.digest.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest closed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        if self.written - self.writeback_from >= WRITEBACK_STRETCH {
            // A hint only; the commit's fsync is what makes the blob durable.
            let len = self.written - self.writeback_from;
            let _ = berth_sys::writeback::start(file.as_fd(), self.writeback_from, len);
            self.writeback_from = self.written;
        }
        if let Some(size) = self.expected.size {
            if self.written > size {
                return Err(io::Error::other(format!(
                    "blob {} is larger than the {size} bytes its descriptor declares",
                    self.expected
                        .digest
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), Digest::to_string)
                )));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let t = tempfile::tempdir().expect("tempdir");
        let s = ContentStore::open(t.path().join("content")).expect("open");
        (t, s)
    }

    fn ingest_files(s: &ContentStore) -> usize {
        fs::read_dir(s.dir.join("ingest")).expect("dir").count()
    }

    #[test]
    fn commit_verifies_and_names_by_digest() {
        let (_t, s) = store();
        let d = Digest::of(b"hello");
        let got = s
            .write_blob(
                b"hello",
                Expected {
                    digest: Some(d.clone()),
                    size: Some(5),
                },
            )
            .expect("commit");
        assert_eq!(got, d);
        assert!(s.contains(&d));
        assert_eq!(s.read(&d, 100).expect("read"), b"hello");
        // idempotent
        s.write_blob(b"hello", Expected::default()).expect("again");
        assert_eq!(ingest_files(&s), 0);
        // present: not rewritten, but bytes that are not the blob still fail
        let mtime = |s: &ContentStore| fs::metadata(s.path(&d)).and_then(|m| m.modified());
        let before = mtime(&s).expect("mtime");
        let exp = Expected {
            digest: Some(d.clone()),
            size: Some(5),
        };
        s.write_blob(b"hello", exp.clone()).expect("present");
        assert_eq!(mtime(&s).expect("mtime"), before);
        let err = s.write_blob(b"jello", exp).expect_err("lying bytes");
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert_eq!(s.read(&d, 100).expect("read"), b"hello");
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn mismatch_leaves_nothing() {
        let (_t, s) = store();
        let want = Digest::of(b"good");
        let err = s
            .write_blob(
                b"evil",
                Expected {
                    digest: Some(want.clone()),
                    size: None,
                },
            )
            .expect_err("must fail");
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert!(!s.contains(&want));
        assert!(!s.contains(&Digest::of(b"evil")));
        assert_eq!(ingest_files(&s), 0);
        let err = s
            .write_blob(
                b"good",
                Expected {
                    digest: None,
                    size: Some(3),
                },
            )
            .expect_err("too big");
        assert!(err.to_string().contains("larger"), "{err}");
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn read_limit() {
        let (_t, s) = store();
        let d = s.write_blob(&[0u8; 100], Expected::default()).expect("w");
        assert!(matches!(s.read(&d, 10), Err(ContentError::TooLarge { .. })));
    }
}
