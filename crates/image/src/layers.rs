//! Unpacked layers at `layers/<chain-id>/`, shared by every image using them.
//!
//! A layer is unpacked into `layers/.tmp-<pid>-<n>/` and renamed to its final
//! name only after its content checked out, so a partial layer never appears
//! under a chain id. Removal renames first, then deletes.

use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, Hasher};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {layer}: {op} {path}: {source}")]
    Io {
        layer: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The chain ids of a stack of layers (OCI image spec, "ChainID"):
/// `chain[0] = diff[0]`, `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                let mut h = Hasher::new();
                h.update(format!("{prev} {d}").as_bytes());
                h.finish()
            }
        };
        out.push(next);
    }
    out
}

#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl LayerStore {
    pub fn open(dir: PathBuf) -> Result<LayerStore, LayerError> {
        fs::create_dir_all(&dir).map_err(|source| LayerError::Io {
            layer: "-".into(),
            op: "create",
            path: dir.clone(),
            source,
        })?;
        Ok(LayerStore { dir })
    }

    pub fn path(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex())
    }

    pub fn contains(&self, chain: &Digest) -> bool {
        fs::symlink_metadata(self.path(chain)).is_ok_and(|m| m.is_dir())
    }

    /// A fresh private directory to unpack `chain` into.
    pub fn prepare(&self, chain: &Digest) -> Result<PendingLayer, LayerError> {
        let name = format!(
            ".tmp-{}-{}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = self.dir.join(name);
        let err = |op, source| LayerError::Io {
            layer: chain.to_string(),
            op,
            path: tmp.clone(),
            source,
        };
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(|e| err("create", e))?;
        let guard = PendingLayer {
            store: self.clone(),
            chain: chain.clone(),
            tmp: tmp.clone(),
            done: false,
        };
        Ok(guard)
    }

    /// Deletes a layer: renamed away first so no half-deleted tree keeps
    /// its name. A missing layer is not an error.
    pub fn remove(&self, chain: &Digest) -> Result<(), LayerError> {
        let from = self.path(chain);
        let to = self.dir.join(format!(
            ".tmp-{}-{}-rm",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let err = |op, path: &Path, source| LayerError::Io {
            layer: chain.to_string(),
            op,
            path: path.to_owned(),
            source,
        };
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(err("rename", &from, e)),
        }
        fs::remove_dir_all(&to).map_err(|e| err("remove", &to, e))
    }

    /// Chain ids of every unpacked layer (for garbage collection).
    pub fn list(&self) -> Result<Vec<Digest>, LayerError> {
        let err = |source| LayerError::Io {
            layer: "-".into(),
            op: "list",
            path: self.dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(err)? {
            let e = e.map_err(err)?;
            if let Some(Ok(d)) = e.file_name().to_str().map(Digest::from_hex) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes temp trees of processes that no longer run.
    pub fn clean_stale(&self) -> usize {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut n = 0;
        for e in rd.flatten() {
            let name = e.file_name();
            if name.to_str().is_some_and(|s| s.starts_with(".tmp-")) && crate::stale_owner(&name) {
                let _ = fs::remove_dir_all(e.path());
                n += 1;
            }
        }
        n
    }
}

/// A layer being unpacked. Dropped without [`PendingLayer::commit`], its
/// temp tree is removed.
#[derive(Debug)]
pub struct PendingLayer {
    store: LayerStore,
    chain: Digest,
    tmp: PathBuf,
    done: bool,
}

impl PendingLayer {
    /// The directory fd to unpack into.
    pub fn dir_fd(&self) -> Result<OwnedFd, LayerError> {
        File::open(&self.tmp)
            .map(OwnedFd::from)
            .map_err(|source| self.err("open", &self.tmp, source))
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Names the layer this tree will be committed as, for a tree whose
    /// chain id is known only once it is complete (a build step's upper
    /// directory, diffed after the step ran).
    pub fn set_chain(&mut self, chain: Digest) {
        self.chain = chain;
    }

    fn err(&self, op: &'static str, path: &Path, source: io::Error) -> LayerError {
        LayerError::Io {
            layer: self.chain.to_string(),
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// Flushes the tree to disk and gives it its final name. If another
    /// process committed the same layer meanwhile, this one is discarded.
    pub fn commit(mut self) -> Result<PathBuf, LayerError> {
        let fd = self.dir_fd()?;
        rustix::fs::syncfs(&fd).map_err(|e| self.err("syncfs", &self.tmp, e.into()))?;
        drop(fd);
        let target = self.store.path(&self.chain);
        match fs::rename(&self.tmp, &target) {
            Ok(()) => self.done = true,
            Err(e) if already_exists(&e) => {
                tracing::debug!(chain = %self.chain, "layer already present; discarding duplicate");
            }
            Err(e) => return Err(self.err("rename", &target, e)),
        }
        File::open(&self.store.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.err("fsync", &self.store.dir, e))?;
        Ok(target)
    }
}

fn already_exists(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    code == Some(Errno::NOTEMPTY.raw_os_error()) || code == Some(Errno::EXIST.raw_os_error())
}

impl Drop for PendingLayer {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn pending_layer_is_removed_unless_committed() {
        let t = tempfile::tempdir().expect("tmp");
        let s = LayerStore::open(t.path().join("layers")).expect("open");
        let chain = Digest::of(b"x");
        let p = s.prepare(&chain).expect("prep");
        fs::write(p.path().join("f"), b"1").expect("w");
        let tmp = p.path().to_owned();
        drop(p);
        assert!(!tmp.exists());
        assert!(!s.contains(&chain));
        let p = s.prepare(&chain).expect("prep");
        fs::write(p.path().join("f"), b"1").expect("w");
        p.commit().expect("commit");
        assert!(s.contains(&chain));
        // a second commit of the same chain is discarded, not an error
        let p = s.prepare(&chain).expect("prep");
        fs::write(p.path().join("g"), b"1").expect("w");
        p.commit().expect("dup");
        assert_eq!(s.list().expect("list"), vec![chain.clone()]);
        s.remove(&chain).expect("rm");
        assert!(!s.contains(&chain));
        assert_eq!(
            fs::read_dir(t.path().join("layers")).expect("ls").count(),
            0
        );
    }
}
