//! The image store: content, layers and metadata under one root, and the
//! operations that span them (ingesting a layer while it streams, storing
//! an image, removing one and freeing what it alone used).
//!
//! Locking: `<root>/lock` is taken shared by commands that add content and
//! exclusive by those that delete it, so a pull never references a layer a
//! concurrent `rmi` is deleting. Metadata changes are redb transactions.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use crate::content::{ContentError, ContentStore, Expected, Ingest};
use crate::digest::Digest;
use crate::layers::{LayerError, LayerStore, PendingLayer};
use crate::meta::{ImageRecord, Meta, MetaError};
use crate::snapshot::Snapshot;
use crate::spec::Descriptor;
use crate::unpack::{self, Limits, UnpackError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("layer {blob}: uncompressed content has digest {actual}, but the image config says {expected} (the image is corrupt)")]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {blob}: reading the stream: {source}")]
    Stream {
        blob: Digest,
        #[source]
        source: io::Error,
    },
    #[error(
        "store root {path}: {source} (hint: pass --root or set BERTH_ROOT to a writable directory)"
    )]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Content, layers and metadata under `<root>`.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    layers: LayerStore,
    meta: Meta,
    limits: Limits,
}

/// A held `<root>/lock`; released on drop.
#[derive(Debug)]
pub struct RootLock(#[allow(dead_code)] File);

impl ImageStore {
    /// Opens (creating) the store under `root` and removes leftovers of
    /// processes that died mid-write.
    pub fn open(root: &Path) -> Result<ImageStore, StoreError> {
        let root_err = |source| StoreError::Root {
            path: root.to_owned(),
            source,
        };
        fs::create_dir_all(root).map_err(root_err)?;
        let content = ContentStore::open(root.join("content"))?;
        let layers = LayerStore::open(root.join("layers"))?;
        let meta = Meta::open(&root.join("meta.redb"))?;
        let s = ImageStore {
            root: root.to_owned(),
            content,
            layers,
            meta,
            limits: Limits::default(),
        };
        s.content.clean_stale_ingests()?;
        s.layers.clean_stale();
        Ok(s)
    }

    /// Opens the store to look things up only (as `run` does for an image
    /// it has): the metadata without a write lock or fsyncs, and no clean-up
    /// of leftovers. Falls back to [`ImageStore::open`] when the metadata
    /// cannot be read that way.
    pub fn open_read_only(root: &Path) -> Result<ImageStore, StoreError> {
        let Some(meta) = Meta::open_read_only(&root.join("meta.redb")) else {
            return ImageStore::open(root);
        };
        Ok(ImageStore {
            root: root.to_owned(),
            content: ContentStore::open(root.join("content"))?,
            layers: LayerStore::open(root.join("layers"))?,
            meta,
            limits: Limits::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn content(&self) -> &ContentStore {
        &self.content
    }
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }
    pub fn meta(&self) -> &Meta {
        &self.meta
    }
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    fn lock(&self, op: FlockOperation) -> Result<RootLock, StoreError> {
        let p = self.root.join("lock");
        let err = |source| StoreError::Root {
            path: p.clone(),
            source,
        };
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(err)?;
        rustix::fs::flock(&f, op).map_err(|e| err(e.into()))?;
        Ok(RootLock(f))
    }

    /// Held while adding content (pull, load, import).
    pub fn lock_shared(&self) -> Result<RootLock, StoreError> {
        self.lock(FlockOperation::LockShared)
    }

    /// Held while deleting content (rmi, prune).
    pub fn lock_exclusive(&self) -> Result<RootLock, StoreError> {
        self.lock(FlockOperation::LockExclusive)
    }

    /// Whether a layer needs no work: blob stored and tree unpacked.
    pub fn has_layer(&self, blob: &Digest, chain: &Digest) -> bool {
        self.content.contains(blob) && self.layers.contains(chain)
    }

    /// Ingests one layer blob *while* unpacking it: the stream is hashed and
    /// written to the content store and, tee'd, decompressed and unpacked in
    /// the same pass. Both the blob digest and the diff id are verified
    /// before either gets its final name. Returns the content size.
    ///
    /// When the tree already exists only the blob is stored, and vice versa.
    pub fn ingest_layer(
        &self,
        reader: impl Read,
        blob: &Descriptor,
        diff_id: &Digest,
        chain: &Digest,
    ) -> Result<u64, StoreError> {
        let ingest = self.content.ingest(Expected {
            digest: Some(blob.digest.clone()),
            size: Some(blob.size),
        })?;
        let mut tee = Tee {
            inner: reader,
            ingest: Some(ingest),
        };
        if self.layers.contains(chain) {
            io::copy(&mut tee, &mut io::sink()).map_err(|source| StoreError::Stream {
                blob: blob.digest.clone(),
                source,
            })?;
            tee.commit()?;
            return Ok(0);
        }
        let pending = self.layers.prepare(chain)?;
        let stats = unpack::unpack(
            &mut tee,
            pending.dir_fd()?,
            &self.limits,
            &blob.digest.to_string(),
        )?;
        io::copy(&mut tee, &mut io::sink()).map_err(|source| StoreError::Stream {
            blob: blob.digest.clone(),
            source,
        })?;
        if stats.diff_id != *diff_id {
            return Err(StoreError::DiffIdMismatch {
                blob: blob.digest.clone(),
                expected: diff_id.clone(),
                actual: stats.diff_id,
            });
        }
        tee.commit()?;
        pending.commit()?;
        Ok(stats.content_bytes)
    }

    /// Unpacks a layer from a blob already in the content store.
    pub fn unpack_stored(
        &self,
        blob: &Descriptor,
        diff_id: &Digest,
        chain: &Digest,
    ) -> Result<u64, StoreError> {
        let f = self.content.open_blob(&blob.digest)?;
        let (pending, size) = self.unpack_pending(f, &blob.digest, diff_id, chain)?;
        pending.commit()?;
        Ok(size)
    }

    /// Unpacks a (possibly compressed) layer stream into a fresh temp tree
    /// and checks its diff id, but gives it no final name: the caller
    /// commits the returned layer once everything else checked out too.
    /// Returns the layer and its content size.
    pub fn unpack_pending(
        &self,
        reader: impl Read,
        blob: &Digest,
        diff_id: &Digest,
        chain: &Digest,
    ) -> Result<(PendingLayer, u64), StoreError> {
        let pending = self.layers.prepare(chain)?;
        let stats = unpack::unpack(
            io::BufReader::new(reader),
            pending.dir_fd()?,
            &self.limits,
            &blob.to_string(),
        )?;
        if stats.diff_id != *diff_id {
            return Err(StoreError::DiffIdMismatch {
                blob: blob.clone(),
                expected: diff_id.clone(),
                actual: stats.diff_id,
            });
        }
        Ok((pending, stats.content_bytes))
    }

    /// Records an image and points `names` at it.
    pub fn commit_image(
        &self,
        rec: &ImageRecord,
        names: &[String],
        layer_sizes: &[(Digest, u64)],
    ) -> Result<(), StoreError> {
        self.meta.put_image(rec, names, layer_sizes)?;
        Ok(())
    }

    /// Removes an image and deletes the layers and blobs no other image
    /// uses. Takes the exclusive root lock.
    pub fn remove_image(&self, manifest: &Digest) -> Result<crate::meta::Freed, StoreError> {
        let _lock = self.lock_exclusive()?;
        let freed = self.meta.remove_image(manifest)?;
        // Teardown keeps going and reports the first failure at the end.
        let mut first_err: Option<StoreError> = None;
        for l in &freed.layers {
            if let Err(e) = self.layers.remove(l) {
                first_err.get_or_insert(e.into());
            }
        }
        for b in &freed.blobs {
            if let Err(e) = self.content.delete(b) {
                first_err.get_or_insert(e.into());
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(freed),
        }
    }

    /// Deletes layers and blobs no image references (left by a crash
    /// between a metadata commit and the deletes, or by a failed pull).
    /// Caller holds the exclusive lock.
    pub fn remove_orphans(&self) -> Result<(usize, usize), StoreError> {
        let (chains, blobs) = self.meta.referenced()?;
        let mut nl = 0;
        for l in self.layers.list()? {
            if chains.binary_search(&l).is_err() {
                self.layers.remove(&l)?;
                nl += 1;
            }
        }
        let mut nb = 0;
        for b in self.content.list()? {
            if blobs.binary_search(&b).is_err() {
                self.content.delete(&b)?;
                nb += 1;
            }
        }
        Ok((nl, nb))
    }

    /// The rootfs mount for an image, with an optional writable upper/work
    /// pair (a container's).
    pub fn snapshot(&self, rec: &ImageRecord, upper: Option<(PathBuf, PathBuf)>) -> Snapshot {
        let dirs = rec
            .layers
            .iter()
            .map(|l| self.layers.path(&l.chain_id))
            .collect();
        Snapshot::new(dirs, upper)
    }

    /// Total content size of an image's layers (Docker's SIZE column).
    pub fn image_size(&self, rec: &ImageRecord) -> Result<u64, StoreError> {
        let mut total = 0;
        for l in &rec.layers {
            total += self.meta.layer(&l.chain_id)?.map_or(0, |i| i.size);
        }
        Ok(total)
    }
}

/// Everything read from `inner` is also written to the ingest.
struct Tee<R> {
    inner: R,
    ingest: Option<Ingest>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(ing) = self.ingest.as_mut() {
            ing.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

impl<R> Tee<R> {
    fn commit(&mut self) -> Result<Digest, StoreError> {
        match self.ingest.take() {
            Some(i) => Ok(i.commit()?),
            None => Err(StoreError::Stream {
                blob: Digest::of(b""),
                source: io::Error::other("ingest already committed"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests_support::{file, gzip, tar};

    fn desc(bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: crate::spec::OCI_LAYER_GZIP.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            platform: None,
            annotations: None,
            urls: None,
        }
    }

    #[test]
    fn ingest_layer_verifies_both_digests_before_naming() {
        let t = tempfile::tempdir().expect("tmp");
        let s = ImageStore::open(t.path()).expect("open");
        let raw = tar(&[file("a", b"hello")]);
        let gz = gzip(&raw);
        let d = desc(&gz);
        let diff = Digest::of(&raw);

        // wrong diff id: nothing stored
        let wrong = Digest::of(b"other");
        let e = s
            .ingest_layer(&gz[..], &d, &wrong, &wrong)
            .expect_err("diff id");
        assert!(matches!(e, StoreError::DiffIdMismatch { .. }), "{e}");
        assert!(!s.content().contains(&d.digest));
        assert!(s.layers().list().expect("ls").is_empty());

        // corrupt blob: nothing stored
        let mut bad = d.clone();
        bad.digest = Digest::of(b"not it");
        let e = s
            .ingest_layer(&gz[..], &bad, &diff, &diff)
            .expect_err("blob digest");
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        assert!(s.layers().list().expect("ls").is_empty());

        // truncated stream: nothing stored
        let e = s
            .ingest_layer(&gz[..gz.len() / 2], &d, &diff, &diff)
            .expect_err("cut");
        assert!(!s.content().contains(&d.digest), "{e}");
        assert!(s.layers().list().expect("ls").is_empty());

        let n = s.ingest_layer(&gz[..], &d, &diff, &diff).expect("good");
        assert_eq!(n, 5);
        assert!(s.has_layer(&d.digest, &diff));
        assert_eq!(
            fs::read(s.layers().path(&diff).join("a")).expect("r"),
            b"hello"
        );
        assert_eq!(
            fs::read_dir(t.path().join("content/ingest"))
                .expect("ls")
                .count(),
            0
        );
    }
}
