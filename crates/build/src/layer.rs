//! A build step's overlay upper directory → an OCI layer blob.
//!
//! The upper dir holds exactly what the step changed, in overlayfs'
//! format: a deleted file is a 0:0 character device, a directory that
//! replaced a lower one carries `trusted.overlay.opaque=y`. The walk turns
//! those into OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`), visits names in
//! byte order (parents first) so the same tree always gives the same tar,
//! clamps mtimes to `SOURCE_DATE_EPOCH` when given, and writes the tar
//! through gzip straight into a content-store ingest: the diff id
//! (uncompressed) and the blob digest (compressed) are both computed in
//! that one pass. The tree itself then becomes the unpacked layer: it is
//! already in the format the unpacker produces.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::content::{Expected, Staged};
use berth_image::digest::{Digest, Hasher};
use berth_image::spec::{Descriptor, OCI_LAYER_GZIP};
use berth_image::ImageStore;

/// Errors of writing a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("writing the layer: {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the layer: {0}")]
    Store(#[from] berth_image::content::ContentError),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayerError + 'a {
    move |source| LayerError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// A layer blob written but not yet named in the store.
#[derive(Debug)]
pub struct NewLayer {
    pub staged: Staged,
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// Bytes of regular-file content (what `docker images` counts).
    pub content_size: u64,
}

/// Hashes (and counts) what passes through to `inner`.
struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether the upper dir holds any change at all.
pub fn is_empty(upper: &Path) -> Result<bool, LayerError> {
    Ok(fs::read_dir(upper)
        .map_err(io_err("reading", upper))?
        .next()
        .is_none())
}

/// Writes the diff in `upper` as a gzip layer into the store's ingest.
pub fn write(store: &ImageStore, upper: &Path, epoch: Option<u64>) -> Result<NewLayer, LayerError> {
    let ingest = store.content().ingest(Expected::default())?;
    let gz = flate2::GzBuilder::new().write(ingest, flate2::Compression::fast());
    let hw = HashWriter {
        inner: gz,
        hasher: Hasher::new(),
    };
    let mut tar = tar::Builder::new(hw);
    tar.mode(tar::HeaderMode::Complete);
    tar.follow_symlinks(false);
    let mut w = Walk {
        tar: &mut tar,
        epoch,
        links: HashMap::new(),
        content: 0,
    };
    w.dir(upper, Path::new(""))?;
    let content = w.content;
    let hw = tar.into_inner().map_err(io_err("finishing", upper))?;
    let diff_id = hw.hasher.finish();
    let ingest = hw.inner.finish().map_err(io_err("compressing", upper))?;
    let staged = ingest.finish()?;
    let descriptor = Descriptor {
        media_type: OCI_LAYER_GZIP.into(),
        digest: staged.digest().clone(),
        size: staged.size(),
        platform: None,
        annotations: None,
        urls: None,
    };
    Ok(NewLayer {
        staged,
        descriptor,
        diff_id,
        content_size: content,
    })
}

struct Walk<'a, W: Write> {
    tar: &'a mut tar::Builder<W>,
    epoch: Option<u64>,
    /// (dev, inode) → first path, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    content: u64,
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn opaque(path: &Path) -> bool {
    let mut b = [0u8; 2];
    matches!(
        rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut b),
        Ok(1)
    ) && b[0] == b'y'
}

/// Overlay's bookkeeping xattrs on copied-up files are not layer content.
fn strip_overlay_xattrs(path: &Path) {
    let mut buf = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(path, &mut buf) else {
        return;
    };
    for name in buf[..n].split(|b| *b == 0) {
        if name.starts_with(b"trusted.overlay.") && name != b"trusted.overlay.opaque" {
            if let Ok(s) = std::str::from_utf8(name) {
                let _ = rustix::fs::lremovexattr(path, s);
            }
        }
    }
}

impl<W: Write> Walk<'_, W> {
    fn header(&self, md: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(u64::from(md.uid()));
        h.set_gid(u64::from(md.gid()));
        let mtime = md.mtime().max(0) as u64;
        h.set_mtime(self.epoch.map_or(mtime, |e| mtime.min(e)));
        h.set_size(0);
        h
    }

    fn dir(&mut self, dir: &Path, rel: &Path) -> Result<(), LayerError> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(io_err("reading", dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("reading", dir))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let rel = rel.join(&name);
            self.entry(&path, &rel)?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &Path) -> Result<(), LayerError> {
        let md = fs::symlink_metadata(path).map_err(io_err("reading", path))?;
        let ft = md.file_type();
        let append_err = io_err("adding", path);
        if is_whiteout(&md) {
            let name = rel
                .file_name()
                .map(|n| format!(".wh.{}", n.to_string_lossy()))
                .unwrap_or_default();
            let wh = rel.with_file_name(name);
            let mut h = self.header(&md, tar::EntryType::Regular);
            h.set_mode(0o600);
            h.set_uid(0);
            h.set_gid(0);
            return self
                .tar
                .append_data(&mut h, wh, io::empty())
                .map_err(append_err);
        }
        strip_overlay_xattrs(path);
        if ft.is_dir() {
            let mut h = self.header(&md, tar::EntryType::Directory);
            self.tar
                .append_data(&mut h, rel, io::empty())
                .map_err(io_err("adding", path))?;
            if opaque(path) {
                let mut h = self.header(&md, tar::EntryType::Regular);
                h.set_mode(0o600);
                self.tar
                    .append_data(&mut h, rel.join(".wh..wh..opq"), io::empty())
                    .map_err(io_err("adding", path))?;
            }
            return self.dir(path, rel);
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err("reading link", path))?;
            let mut h = self.header(&md, tar::EntryType::Symlink);
            return self
                .tar
                .append_link(&mut h, rel, target)
                .map_err(append_err);
        }
        if md.nlink() > 1 && !ft.is_dir() {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key) {
                let mut h = self.header(&md, tar::EntryType::Link);
                let first = first.clone();
                return self.tar.append_link(&mut h, rel, first).map_err(append_err);
            }
            self.links.insert(key, rel.to_owned());
        }
        if ft.is_file() {
            let mut h = self.header(&md, tar::EntryType::Regular);
            h.set_size(md.len());
            self.content += md.len();
            let f = fs::File::open(path).map_err(io_err("opening", path))?;
            return self.tar.append_data(&mut h, rel, f).map_err(append_err);
        }
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            // Sockets are not layer content (Docker skips them too).
            return Ok(());
        };
        let mut h = self.header(&md, kind);
        let rdev = md.rdev();
        h.set_device_major(libc::major(rdev))
            .map_err(io_err("adding", path))?;
        h.set_device_minor(libc::minor(rdev))
            .map_err(io_err("adding", path))?;
        self.tar
            .append_data(&mut h, rel, io::empty())
            .map_err(append_err)
    }
}
