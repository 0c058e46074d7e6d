//! `save`: stored images into a docker-archive or an OCI archive, streamed
//! to any writer.
//!
//! The docker-archive is what `docker save` writes (Docker 25's paths):
//! `blobs/sha256/<config>`, one uncompressed tar per layer at
//! `blobs/sha256/<diff id>`, then `manifest.json` and `repositories`.
//! The OCI archive keeps the stored blobs byte for byte (so the manifest
//! digest survives): `oci-layout`, `blobs/sha256/*`, `index.json`.
//!
//! Everything is planned (blobs found, uncompressed sizes measured and
//! diff ids checked) before the first byte is written; entries carry
//! fixed owners, modes and times, so saving twice gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read, Write};

use serde_json::json;

use super::ArchiveError;
use crate::digest::{Digest, Hasher};
use crate::meta::ImageRecord;
use crate::store::ImageStore;
use crate::unpack::decompress;

/// Which archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// `docker save`'s format: `docker load` and `skopeo docker-archive:`.
    Docker,
    /// An OCI image layout in a tar: `skopeo oci-archive:`.
    Oci,
}

/// A name to record in the archive, in both spellings.
#[derive(Debug, Clone)]
pub struct SaveName {
    /// `docker.io/library/busybox:latest`
    pub full: String,
    /// `busybox:latest`
    pub familiar: String,
}

/// One image to save and the names it goes by in the archive.
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub record: ImageRecord,
    pub names: Vec<SaveName>,
}

fn werr(source: io::Error) -> ArchiveError {
    ArchiveError::Write { source }
}

/// A layer as a docker-archive holds it: uncompressed.
struct PlainLayer {
    blob: Digest,
    diff_id: Digest,
    compressed: bool,
    tar_size: u64,
}

/// Writes `items` to `out` as one archive.
pub fn save(
    store: &ImageStore,
    items: &[SaveItem],
    format: SaveFormat,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let _lock = store.lock_shared()?;
    for it in items {
        for d in it.record.blobs() {
            if !store.content().contains(&d) {
                return Err(crate::content::ContentError::NotFound(d).into());
            }
        }
    }
    let mut tar = Tar::new(out);
    match format {
        SaveFormat::Docker => save_docker(store, items, &mut tar)?,
        SaveFormat::Oci => save_oci(store, items, &mut tar)?,
    }
    tar.finish()
}

fn plan_layers(store: &ImageStore, items: &[SaveItem]) -> Result<Vec<PlainLayer>, ArchiveError> {
    let mut out: Vec<PlainLayer> = Vec::new();
    for l in items.iter().flat_map(|i| &i.record.layers) {
        if out.iter().any(|p| p.diff_id == l.diff_id) {
            continue;
        }
        let f = store.content().open_blob(&l.blob.digest)?;
        let mut plain = decompress(BufReader::with_capacity(256 << 10, f)).map_err(werr)?;
        let mut h = Hasher::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match plain.read(&mut buf).map_err(werr)? {
                0 => break,
                k => {
                    h.update(&buf[..k]);
                    n += k as u64;
                }
            }
        }
        let got = h.finish();
        if got != l.diff_id {
            return Err(crate::store::StoreError::DiffIdMismatch {
                blob: l.blob.digest.clone(),
                expected: l.diff_id.clone(),
                actual: got,
            }
            .into());
        }
        out.push(PlainLayer {
            blob: l.blob.digest.clone(),
            diff_id: l.diff_id.clone(),
            compressed: l.blob.digest != l.diff_id,
            tar_size: n,
        });
    }
    Ok(out)
}

fn path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn save_docker<W: Write>(
    store: &ImageStore,
    items: &[SaveItem],
    tar: &mut Tar<W>,
) -> Result<(), ArchiveError> {
    let layers = plan_layers(store, items)?;
    tar.dirs()?;
    let mut written = BTreeSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for it in items {
        let rec = &it.record;
        if written.insert(rec.config.clone()) {
            tar.blob(store, &rec.config)?;
        }
        for l in &rec.layers {
            if !written.insert(l.diff_id.clone()) {
                continue;
            }
            let p = layers
                .iter()
                .find(|p| p.diff_id == l.diff_id)
                .ok_or_else(|| {
                    ArchiveError::Format(format!("layer {} was not planned", l.diff_id))
                })?;
            let f = store.content().open_blob(&p.blob)?;
            let reader: Box<dyn Read> = if p.compressed {
                decompress(BufReader::with_capacity(256 << 10, f)).map_err(werr)?
            } else {
                Box::new(f)
            };
            tar.file(&path(&p.diff_id), p.tar_size, reader)?;
        }
        let tags: Vec<&str> = it.names.iter().map(|n| n.familiar.as_str()).collect();
        for n in &tags {
            let (repo, tag) = split_tag(n);
            if let Some(top) = rec.layers.last() {
                repositories
                    .entry(repo.to_owned())
                    .or_default()
                    .insert(tag.to_owned(), top.diff_id.hex().to_owned());
            }
        }
        manifest.push(json!({
            "Config": path(&rec.config),
            "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { json!(tags) },
            "Layers": rec.layers.iter().map(|l| path(&l.diff_id)).collect::<Vec<_>>(),
        }));
    }
    tar.bytes("manifest.json", &to_json(&manifest)?)?;
    if !repositories.is_empty() {
        tar.bytes("repositories", &to_json(&repositories)?)?;
    }
    Ok(())
}

/// `host:5000/a/b:tag` → (`host:5000/a/b`, `tag`).
fn split_tag(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "latest"),
    }
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(v).map_err(|e| werr(io::Error::other(e)))
}

fn save_oci<W: Write>(
    store: &ImageStore,
    items: &[SaveItem],
    tar: &mut Tar<W>,
) -> Result<(), ArchiveError> {
    tar.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.dirs()?;
    let mut written = BTreeSet::new();
    let mut index = Vec::new();
    for it in items {
        let rec = &it.record;
        let blobs = std::iter::once(&rec.config)
            .chain(rec.layers.iter().map(|l| &l.blob.digest))
            .chain(std::iter::once(&rec.manifest));
        for d in blobs {
            if written.insert(d.clone()) {
                tar.blob(store, d)?;
            }
        }
        let desc =
            |annotations: Option<serde_json::Value>| -> Result<serde_json::Value, ArchiveError> {
                let mut d = json!({
                    "mediaType": rec.manifest_media_type,
                    "digest": rec.manifest.to_string(),
                    "size": store.content().size(&rec.manifest)?,
                });
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                Ok(d)
            };
        if it.names.is_empty() {
            index.push(desc(None)?);
        }
        for n in &it.names {
            index.push(desc(Some(json!({
                "io.containerd.image.name": n.full,
                "org.opencontainers.image.ref.name": split_tag(&n.full).1,
            })))?);
        }
    }
    let idx = json!({
        "schemaVersion": 2,
        "mediaType": crate::spec::OCI_INDEX,
        "manifests": index,
    });
    tar.bytes("index.json", &to_json(&idx)?)
}

/// A tar writer with fixed metadata.
struct Tar<W: Write> {
    inner: tar::Builder<W>,
}

impl<W: Write> Tar<W> {
    fn new(out: W) -> Tar<W> {
        let mut inner = tar::Builder::new(out);
        inner.mode(tar::HeaderMode::Deterministic);
        Tar { inner }
    }

    fn header(path: &str, size: u64, kind: tar::EntryType) -> Result<tar::Header, ArchiveError> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).map_err(werr)?;
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        Ok(h)
    }

    fn dirs(&mut self) -> Result<(), ArchiveError> {
        for d in ["blobs/", "blobs/sha256/"] {
            let h = Self::header(d, 0, tar::EntryType::Directory)?;
            self.inner.append(&h, io::empty()).map_err(werr)?;
        }
        Ok(())
    }

    /// An entry of exactly `size` bytes from `data` (an error if it has
    /// fewer, so a short read never yields a corrupt archive).
    fn file(&mut self, path: &str, size: u64, data: impl Read) -> Result<(), ArchiveError> {
        let h = Self::header(path, size, tar::EntryType::Regular)?;
        let exact = Exact {
            inner: data.take(size),
            left: size,
        };
        self.inner.append(&h, exact).map_err(werr)
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.file(path, data.len() as u64, data)
    }

    fn blob(&mut self, store: &ImageStore, d: &Digest) -> Result<(), ArchiveError> {
        let size = store.content().size(d)?;
        let f = store.content().open_blob(d)?;
        self.file(&path(d), size, f)
    }

    fn finish(mut self) -> Result<(), ArchiveError> {
        self.inner.finish().map_err(werr)?;
        self.inner.get_mut().flush().map_err(werr)
    }
}

struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} bytes missing from an archive entry", self.left),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
