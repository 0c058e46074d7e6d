//! Image metadata in one embedded, crash-safe store (redb): names → manifest
//! digests, image records, and reference counts of layers and blobs.
//!
//! Every change is one redb write transaction, so a `kill -9` leaves either
//! the old or the new state. The database is opened in redb's multi-writer
//! mode so several `berth` processes can use one root at once.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::spec::Descriptor;

const NAMES: TableDefinition<&str, &str> = TableDefinition::new("names");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers");
const BLOBS: TableDefinition<&str, u64> = TableDefinition::new("blobs");
/// The builder's step cache: cache key → the step's result (JSON).
const BUILD_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("build_cache");

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("metadata store {path}: record {key} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no such image: {0}")]
    NoSuchImage(String),
}

/// One layer of an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// The (usually compressed) blob as the manifest lists it.
    pub blob: Descriptor,
    pub diff_id: Digest,
    pub chain_id: Digest,
}

/// An image as stored: the manifest it was pulled by and what it needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    pub manifest: Digest,
    pub manifest_media_type: String,
    /// The index (manifest list) the image was selected from, if any.
    #[serde(default)]
    pub index: Option<Digest>,
    pub config: Digest,
    pub layers: Vec<LayerRecord>,
    /// `repo@digest` names, as `docker image inspect` shows RepoDigests.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub created: Option<String>,
    /// Unix seconds when berth stored it.
    pub added: u64,
}

impl ImageRecord {
    /// Every blob the image keeps alive.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut v = vec![self.manifest.clone(), self.config.clone()];
        v.extend(self.index.iter().cloned());
        v.extend(self.layers.iter().map(|l| l.blob.digest.clone()));
        v.sort();
        v.dedup();
        v
    }

    fn chains(&self) -> Vec<Digest> {
        let mut v: Vec<Digest> = self.layers.iter().map(|l| l.chain_id.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// What the store knows of an unpacked layer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerInfo {
    pub refs: u64,
    /// Bytes of file content (what `docker images` sums as SIZE).
    pub size: u64,
}

/// What removing an image freed: delete these from disk.
#[derive(Debug, Default)]
pub struct Freed {
    pub layers: Vec<Digest>,
    pub blobs: Vec<Digest>,
}

pub struct Meta {
    db: Db,
    path: PathBuf,
}

/// The database, opened for writing or (commands that only look) not.
enum Db {
    Rw(Database),
    Ro(redb::ReadOnlyDatabase),
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta").field("path", &self.path).finish()
    }
}

impl Meta {
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        let db = Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(path)
            .map_err(|e| db_err(path, e))?;
        let m = Meta {
            db: Db::Rw(db),
            path: path.to_owned(),
        };
        // Made once: a write transaction costs fsyncs, and most commands
        // only read.
        if m.has_all_tables()? {
            return Ok(m);
        }
        m.write(|txn| {
            txn.open_table(NAMES)?;
            txn.open_table(IMAGES)?;
            txn.open_table(LAYERS)?;
            txn.open_table(BLOBS)?;
            txn.open_table(BUILD_CACHE)?;
            Ok(())
        })?;
        Ok(m)
    }

    /// Opens for reading only: no header writes and no fsyncs (what a
    /// read-write open costs). `None` when that is not possible: no
    /// database yet, tables missing, or one that needs the recovery only a
    /// writer does; the caller opens it for writing then.
    pub fn open_read_only(path: &Path) -> Option<Meta> {
        let db = Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .open_read_only(path)
            .ok()?;
        let m = Meta {
            db: Db::Ro(db),
            path: path.to_owned(),
        };
        m.has_all_tables().ok()?.then_some(m)
    }

    fn has_all_tables(&self) -> Result<bool, MetaError> {
        self.read(|txn| {
            Ok(txn.open_table(NAMES).is_ok()
                && txn.open_table(IMAGES).is_ok()
                && txn.open_table(LAYERS).is_ok()
                && txn.open_table(BLOBS).is_ok()
                && txn.open_table(BUILD_CACHE).is_ok())
        })
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, TxError>,
    ) -> Result<T, MetaError> {
        let Db::Rw(db) = &self.db else {
            return Err(MetaError::Db {
                path: self.path.clone(),
                message: "opened read-only; this is a bug of the caller".into(),
            });
        };
        let txn = db.begin_write().map_err(|e| db_err(&self.path, e))?;
        let out = f(&txn).map_err(|e| self.tx(e))?;
        txn.commit().map_err(|e| db_err(&self.path, e))?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, TxError>,
    ) -> Result<T, MetaError> {
        let txn = match &self.db {
            Db::Rw(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
        .map_err(|e| db_err(&self.path, e))?;
        f(&txn).map_err(|e| self.tx(e))
    }

    fn tx(&self, e: TxError) -> MetaError {
        match e {
            TxError::Db(message) => MetaError::Db {
                path: self.path.clone(),
                message,
            },
            TxError::Corrupt(key, source) => MetaError::Corrupt {
                path: self.path.clone(),
                key,
                source,
            },
            TxError::NoSuchImage(s) => MetaError::NoSuchImage(s),
        }
    }

    /// Stores an image (if new, taking references on its layers and blobs)
    /// and points `names` at it, all in one transaction. Layer sizes are
    /// recorded for layers seen for the first time.
    pub fn put_image(
        &self,
        rec: &ImageRecord,
        names: &[String],
        layer_sizes: &[(Digest, u64)],
    ) -> Result<(), MetaError> {
        // A pull of an image that is already here, under the same names,
        // changes nothing: no write transaction (and none of its fsyncs).
        let key = rec.manifest.to_string();
        let unchanged = self.read(|txn| {
            if txn.open_table(IMAGES)?.get(key.as_str())?.is_none() {
                return Ok(false);
            }
            let t = txn.open_table(NAMES)?;
            for n in names {
                if t.get(n.as_str())?.is_none_or(|v| v.value() != key) {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if unchanged {
            return Ok(());
        }
        self.write(|txn| {
            let mut images = txn.open_table(IMAGES)?;
            let is_new = images.get(key.as_str())?.is_none();
            if is_new {
                let json = serde_json::to_vec(rec).map_err(|e| TxError::Corrupt(key.clone(), e))?;
                images.insert(key.as_str(), json.as_slice())?;
                let mut layers = txn.open_table(LAYERS)?;
                for chain in rec.chains() {
                    let ck = chain.to_string();
                    let mut info = match layers.get(ck.as_str())? {
                        Some(v) => decode::<LayerInfo>(&ck, v.value())?,
                        None => LayerInfo { refs: 0, size: 0 },
                    };
                    info.refs += 1;
                    if let Some((_, s)) = layer_sizes.iter().find(|(c, _)| *c == chain) {
                        info.size = *s;
                    }
                    let json =
                        serde_json::to_vec(&info).map_err(|e| TxError::Corrupt(ck.clone(), e))?;
                    layers.insert(ck.as_str(), json.as_slice())?;
                }
                let mut blobs = txn.open_table(BLOBS)?;
                for b in rec.blobs() {
                    let bk = b.to_string();
                    let n = blobs.get(bk.as_str())?.map_or(0, |v| v.value());
                    blobs.insert(bk.as_str(), n + 1)?;
                }
            }
            let mut table = txn.open_table(NAMES)?;
            for n in names {
                table.insert(n.as_str(), key.as_str())?;
            }
            Ok(())
        })
    }

    /// The manifest digest a full name (`docker.io/library/busybox:latest`)
    /// points at.
    pub fn resolve(&self, name: &str) -> Result<Option<Digest>, MetaError> {
        self.read(|txn| {
            let t = txn.open_table(NAMES)?;
            let v = t.get(name)?;
            match v {
                Some(v) => Ok(Some(parse_digest(name, v.value())?)),
                None => Ok(None),
            }
        })
    }

    pub fn image(&self, manifest: &Digest) -> Result<Option<ImageRecord>, MetaError> {
        self.read(|txn| {
            let t = txn.open_table(IMAGES)?;
            let key = manifest.to_string();
            let v = t.get(key.as_str())?;
            match v {
                Some(v) => Ok(Some(decode(&key, v.value())?)),
                None => Ok(None),
            }
        })
    }

    /// Every image with the names pointing at it (sorted by name).
    pub fn list(&self) -> Result<Vec<(ImageRecord, Vec<String>)>, MetaError> {
        self.read(|txn| {
            let images = txn.open_table(IMAGES)?;
            let names = txn.open_table(NAMES)?;
            let mut all: Vec<(ImageRecord, Vec<String>)> = Vec::new();
            for item in images.iter()? {
                let (k, v) = item?;
                all.push((decode(k.value(), v.value())?, Vec::new()));
            }
            for item in names.iter()? {
                let (n, d) = item?;
                let d = parse_digest(n.value(), d.value())?;
                if let Some(e) = all.iter_mut().find(|(r, _)| r.manifest == d) {
                    e.1.push(n.value().to_owned());
                }
            }
            Ok(all)
        })
    }

    pub fn layer(&self, chain: &Digest) -> Result<Option<LayerInfo>, MetaError> {
        self.read(|txn| {
            let t = txn.open_table(LAYERS)?;
            let key = chain.to_string();
            let v = t.get(key.as_str())?;
            match v {
                Some(v) => Ok(Some(decode(&key, v.value())?)),
                None => Ok(None),
            }
        })
    }

    /// Points `name` at an existing image.
    pub fn tag(&self, name: &str, manifest: &Digest) -> Result<(), MetaError> {
        self.write(|txn| {
            let key = manifest.to_string();
            if txn.open_table(IMAGES)?.get(key.as_str())?.is_none() {
                return Err(TxError::NoSuchImage(key));
            }
            txn.open_table(NAMES)?.insert(name, key.as_str())?;
            Ok(())
        })
    }

    /// Removes a name. Returns the manifest it pointed at and whether other
    /// names still point there.
    pub fn untag(&self, name: &str) -> Result<Option<(Digest, bool)>, MetaError> {
        self.write(|txn| {
            let mut names = txn.open_table(NAMES)?;
            let Some(d) = names.remove(name)?.map(|v| v.value().to_owned()) else {
                return Ok(None);
            };
            let mut others = false;
            for item in names.iter()? {
                let (_, v) = item?;
                if v.value() == d {
                    others = true;
                    break;
                }
            }
            Ok(Some((parse_digest(name, &d)?, others)))
        })
    }

    /// Deletes an image and every name pointing at it, dropping its
    /// references. Returns the layers and blobs nobody references any more.
    pub fn remove_image(&self, manifest: &Digest) -> Result<Freed, MetaError> {
        self.write(|txn| {
            let key = manifest.to_string();
            let mut images = txn.open_table(IMAGES)?;
            let rec: ImageRecord = match images.remove(key.as_str())? {
                Some(v) => decode(&key, v.value())?,
                None => return Err(TxError::NoSuchImage(key)),
            };
            let mut names = txn.open_table(NAMES)?;
            let mut drop_names = Vec::new();
            for item in names.iter()? {
                let (n, v) = item?;
                if v.value() == key {
                    drop_names.push(n.value().to_owned());
                }
            }
            for n in drop_names {
                names.remove(n.as_str())?;
            }
            let mut freed = Freed::default();
            let mut layers = txn.open_table(LAYERS)?;
            for chain in rec.chains() {
                let ck = chain.to_string();
                let info = match layers.get(ck.as_str())? {
                    Some(v) => Some(decode::<LayerInfo>(&ck, v.value())?),
                    None => None,
                };
                match info {
                    Some(mut info) if info.refs > 1 => {
                        info.refs -= 1;
                        let json = serde_json::to_vec(&info)
                            .map_err(|e| TxError::Corrupt(ck.clone(), e))?;
                        layers.insert(ck.as_str(), json.as_slice())?;
                    }
                    _ => {
                        layers.remove(ck.as_str())?;
                        freed.layers.push(chain);
                    }
                }
            }
            let mut blobs = txn.open_table(BLOBS)?;
            for b in rec.blobs() {
                let bk = b.to_string();
                let n = blobs.get(bk.as_str())?.map_or(0, |v| v.value());
                if n > 1 {
                    blobs.insert(bk.as_str(), n - 1)?;
                } else {
                    blobs.remove(bk.as_str())?;
                    freed.blobs.push(b);
                }
            }
            Ok(freed)
        })
    }

    /// A build step's cached result, by its cache key.
    pub fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, MetaError> {
        self.read(|txn| {
            let t = txn.open_table(BUILD_CACHE)?;
            let v = t.get(key)?;
            Ok(v.map(|v| v.value().to_vec()))
        })
    }

    /// Records a build step's result under its cache key.
    pub fn cache_put(&self, key: &str, value: &[u8]) -> Result<(), MetaError> {
        self.write(|txn| {
            txn.open_table(BUILD_CACHE)?.insert(key, value)?;
            Ok(())
        })
    }

    /// Whether any image references a blob or layer (for orphan cleanup).
    pub fn referenced(&self) -> Result<(Vec<Digest>, Vec<Digest>), MetaError> {
        self.read(|txn| {
            let mut chains = Vec::new();
            for item in txn.open_table(LAYERS)?.iter()? {
                let (k, _) = item?;
                chains.push(parse_digest("layers", k.value())?);
            }
            let mut blobs = Vec::new();
            for item in txn.open_table(BLOBS)?.iter()? {
                let (k, _) = item?;
                blobs.push(parse_digest("blobs", k.value())?);
            }
            Ok((chains, blobs))
        })
    }
}

enum TxError {
    Db(String),
    Corrupt(String, serde_json::Error),
    NoSuchImage(String),
}

impl<E: Into<redb::Error>> From<E> for TxError {
    fn from(e: E) -> TxError {
        TxError::Db(e.into().to_string())
    }
}

fn db_err(path: &Path, e: impl Into<redb::Error>) -> MetaError {
    MetaError::Db {
        path: path.to_owned(),
        message: e.into().to_string(),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, TxError> {
    serde_json::from_slice(bytes).map_err(|e| TxError::Corrupt(key.to_owned(), e))
}

fn parse_digest(key: &str, s: &str) -> Result<Digest, TxError> {
    s.parse().map_err(|e: crate::digest::DigestError| {
        TxError::Corrupt(key.to_owned(), serde::de::Error::custom(e.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seed: &[u8], layers: &[&[u8]]) -> ImageRecord {
        ImageRecord {
            manifest: Digest::of(seed),
            manifest_media_type: crate::spec::OCI_MANIFEST.into(),
            index: None,
            config: Digest::of(&[seed, b"c"].concat()),
            layers: layers
                .iter()
                .map(|l| LayerRecord {
                    blob: Descriptor {
                        media_type: crate::spec::OCI_LAYER_GZIP.into(),
                        digest: Digest::of(&[l, &b"gz"[..]].concat()),
                        size: 1,
                        platform: None,
                        annotations: None,
                        urls: None,
                    },
                    diff_id: Digest::of(l),
                    chain_id: Digest::of(l),
                })
                .collect(),
            repo_digests: vec![],
            created: None,
            added: 0,
        }
    }

    #[test]
    fn refcounts_free_only_unshared() {
        let t = tempfile::tempdir().expect("tmp");
        let m = Meta::open(&t.path().join("meta.redb")).expect("open");
        let a = rec(b"a", &[b"base", b"a1"]);
        let b = rec(b"b", &[b"base", b"b1"]);
        m.put_image(&a, &["x/a:latest".into()], &[(Digest::of(b"base"), 10)])
            .expect("a");
        m.put_image(&b, &["x/b:latest".into()], &[]).expect("b");
        m.put_image(&b, &["x/b:v2".into()], &[])
            .expect("b again: no double count");
        assert_eq!(m.resolve("x/b:v2").expect("r"), Some(b.manifest.clone()));
        assert_eq!(
            m.layer(&Digest::of(b"base"))
                .expect("l")
                .map(|i| (i.refs, i.size)),
            Some((2, 10))
        );
        let freed = m.remove_image(&b.manifest).expect("rm");
        assert_eq!(freed.layers, vec![Digest::of(b"b1")]);
        assert_eq!(freed.blobs.len(), 3);
        assert_eq!(m.resolve("x/b:v2").expect("r"), None);
        assert_eq!(
            m.layer(&Digest::of(b"base")).expect("l").map(|i| i.refs),
            Some(1)
        );
        assert_eq!(m.list().expect("list").len(), 1);
        assert_eq!(
            m.untag("x/a:latest").expect("untag"),
            Some((a.manifest.clone(), false))
        );
        assert!(matches!(
            m.remove_image(&b.manifest),
            Err(MetaError::NoSuchImage(_))
        ));
    }

    #[test]
    fn putting_an_unchanged_image_writes_nothing() {
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path().join("meta.redb");
        let m = Meta::open(&p).expect("open");
        let a = rec(b"a", &[b"l"]);
        m.put_image(&a, &["n:1".into()], &[]).expect("put");
        let written = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .expect("mtime")
        };
        let before = written(&p);
        m.put_image(&a, &["n:1".into()], &[]).expect("again");
        assert_eq!(written(&p), before, "an unchanged pull wrote the database");
        m.put_image(&a, &["n:2".into()], &[]).expect("a new name");
        assert_ne!(written(&p), before);
        assert_eq!(m.resolve("n:2").expect("r"), Some(a.manifest.clone()));
        assert_eq!(
            m.layer(&Digest::of(b"l")).expect("l").map(|i| i.refs),
            Some(1)
        );
    }

    #[test]
    fn two_handles_on_one_file() {
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path().join("meta.redb");
        let m1 = Meta::open(&p).expect("open 1");
        let m2 = Meta::open(&p).expect("open 2 (multi-writer)");
        let a = rec(b"a", &[b"l"]);
        m1.put_image(&a, &["n:1".into()], &[]).expect("put");
        assert_eq!(m2.resolve("n:1").expect("r"), Some(a.manifest));
    }
}

#[cfg(test)]
mod read_only_tests {
    use super::*;

    #[test]
    fn read_only_opens_only_a_complete_store_and_never_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("meta.redb");
        assert!(Meta::open_read_only(&p).is_none(), "no database yet");
        drop(Meta::open(&p).expect("create"));
        let ro = Meta::open_read_only(&p).expect("read-only open");
        assert!(ro.list().expect("list").is_empty());
        assert!(ro.write(|_| Ok(())).is_err());
        // A writer alongside a read-only reader.
        let rw = Meta::open(&p).expect("writer while a reader is open");
        assert!(rw.list().expect("list").is_empty());
    }
}
