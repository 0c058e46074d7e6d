//! Reading an archive's tar stream into staged blobs, one per regular file,
//! keyed by a normalized path. Nothing is created from an entry's name:
//! paths only key a map, and `..`, absolute paths and links that leave the
//! archive are refused.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};

use tar::EntryType;

use super::{ArchiveError, ArchiveLimits};
use crate::content::{ContentStore, Expected, Staged};
use crate::unpack::decompress;

/// The files of an archive, staged in the content store's filesystem.
#[derive(Debug, Default)]
pub(super) struct Entries {
    files: BTreeMap<String, Staged>,
    /// Link path → target path, both normalized (resolved on lookup).
    links: BTreeMap<String, String>,
}

fn hostile(path: &[u8], reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Hostile {
        path: String::from_utf8_lossy(path).chars().take(200).collect(),
        reason: reason.into(),
    }
}

fn read_err(source: io::Error) -> ArchiveError {
    ArchiveError::Read { source }
}

/// `a/./b//c` → `a/b/c`; refuses absolute paths, `..` and non-UTF-8.
pub(super) fn normalize(raw: &[u8]) -> Result<String, ArchiveError> {
    let s = std::str::from_utf8(raw).map_err(|_| hostile(raw, "is not UTF-8"))?;
    if s.starts_with('/') {
        return Err(hostile(raw, "is an absolute path"));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(hostile(raw, "contains \"..\"")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(hostile(raw, "has an empty name"));
    }
    Ok(parts.join("/"))
}

/// Resolves a link target lexically against `base` (the link's directory
/// for a symlink, the archive root for a hardlink), refusing to leave it.
fn resolve_link(link: &str, base: &[&str], target: &[u8]) -> Result<String, ArchiveError> {
    let t = std::str::from_utf8(target).map_err(|_| hostile(target, "is not UTF-8"))?;
    if t.starts_with('/') {
        return Err(hostile(link.as_bytes(), "links to an absolute path"));
    }
    let mut parts: Vec<&str> = base.to_vec();
    for c in t.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts
                    .pop()
                    .ok_or_else(|| hostile(link.as_bytes(), "links outside the archive"))?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(hostile(link.as_bytes(), "links to the archive root"));
    }
    Ok(parts.join("/"))
}

/// Names that PAX and GNU headers give the next entry.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
}

impl Entries {
    /// Reads a (plain, gzip or zstd) tar stream, staging each regular file.
    pub(super) fn read(
        content: &ContentStore,
        input: impl Read,
        limits: &ArchiveLimits,
    ) -> Result<Entries, ArchiveError> {
        let plain = decompress(BufReader::with_capacity(256 << 10, input)).map_err(read_err)?;
        let mut archive = tar::Archive::new(plain);
        let mut out = Entries::default();
        let mut pending = Pending::default();
        let mut count = 0u64;
        for entry in archive.entries().map_err(read_err)?.raw(true) {
            let mut entry = entry.map_err(read_err)?;
            count += 1;
            if count > limits.max_entries {
                return Err(ArchiveError::Limit {
                    what: "number of entries",
                    limit: limits.max_entries,
                });
            }
            let size = entry.header().entry_size().map_err(read_err)?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                EntryType::GNULongName
                    | EntryType::GNULongLink
                    | EntryType::XHeader
                    | EntryType::XGlobalHeader
            ) {
                read_extension(&mut entry, kind, size, limits, &mut pending)?;
                continue;
            }
            let raw_path = match pending.path.take() {
                Some(p) => p,
                None => entry.header().path_bytes().into_owned(),
            };
            let raw_link = pending.link.take();
            let path = normalize(&raw_path)?;
            match kind {
                EntryType::Directory => {}
                EntryType::Regular | EntryType::Continuous => {
                    if size > limits.max_entry_bytes {
                        return Err(ArchiveError::Limit {
                            what: "size of one entry",
                            limit: limits.max_entry_bytes,
                        });
                    }
                    let mut ing = content.ingest(Expected {
                        digest: None,
                        size: Some(size),
                    })?;
                    io::copy(&mut entry, &mut ing).map_err(read_err)?;
                    let staged = ing.finish()?;
                    if staged.size() != size {
                        return Err(read_err(io::ErrorKind::UnexpectedEof.into()));
                    }
                    out.insert_file(path, staged)?;
                }
                EntryType::Symlink | EntryType::Link => {
                    let target = match raw_link {
                        Some(t) => t,
                        None => entry
                            .header()
                            .link_name_bytes()
                            .map(|c| c.into_owned())
                            .ok_or_else(|| hostile(&raw_path, "is a link without a target"))?,
                    };
                    let parts: Vec<&str> = path.split('/').collect();
                    let base = if kind == EntryType::Symlink {
                        &parts[..parts.len() - 1]
                    } else {
                        &[][..]
                    };
                    let resolved = resolve_link(&path, base, &target)?;
                    if out.files.contains_key(&path) || out.links.contains_key(&path) {
                        return Err(hostile(&raw_path, "appears twice"));
                    }
                    out.links.insert(path, resolved);
                }
                other => {
                    return Err(hostile(
                        &raw_path,
                        format!("has type {other:?}, which image archives do not contain"),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn insert_file(&mut self, path: String, staged: Staged) -> Result<(), ArchiveError> {
        if self.files.contains_key(&path) || self.links.contains_key(&path) {
            return Err(hostile(path.as_bytes(), "appears twice"));
        }
        self.files.insert(path, staged);
        Ok(())
    }

    /// The regular file a path names, following in-archive links.
    fn canonical(&self, path: &str) -> Option<String> {
        let mut p = normalize(path.as_bytes()).ok()?;
        for _ in 0..16 {
            if self.files.contains_key(&p) {
                return Some(p);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    /// The staged file at `path` (following links), or a "missing" error
    /// naming `what` refers to it.
    pub(super) fn get(&self, path: &str, what: &str) -> Result<&Staged, ArchiveError> {
        self.canonical(path)
            .and_then(|p| self.files.get(&p))
            .ok_or_else(|| ArchiveError::Missing {
                what: what.to_owned(),
                path: path.to_owned(),
            })
    }

    /// Whether the archive has a file at `path`.
    pub(super) fn has(&self, path: &str) -> bool {
        self.canonical(path).is_some()
    }

    /// Removes the staged file at `path` to commit it; `None` when it was
    /// taken already (a blob shared by two images).
    pub(super) fn take(&mut self, path: &str) -> Option<Staged> {
        let p = self.canonical(path)?;
        self.files.remove(&p)
    }

    /// Reads a small document (manifest, index, config) whole.
    pub(super) fn read_doc(&self, path: &str, what: &str) -> Result<Vec<u8>, ArchiveError> {
        self.get(path, what)?
            .read(crate::spec::MAX_DOCUMENT)
            .map_err(|e| match e {
                crate::content::ContentError::TooLarge { limit, .. } => ArchiveError::Limit {
                    what: "size of a manifest, index or config",
                    limit,
                },
                e => e.into(),
            })
    }
}

fn read_extension<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    kind: EntryType,
    size: u64,
    limits: &ArchiveLimits,
    pending: &mut Pending,
) -> Result<(), ArchiveError> {
    if size > limits.max_header_bytes {
        return Err(ArchiveError::Limit {
            what: "size of an extended header",
            limit: limits.max_header_bytes,
        });
    }
    let mut buf = Vec::new();
    entry.read_to_end(&mut buf).map_err(read_err)?;
    let strip = |mut v: Vec<u8>| {
        while v.last() == Some(&0) {
            v.pop();
        }
        v
    };
    match kind {
        EntryType::GNULongName => pending.path = Some(strip(buf)),
        EntryType::GNULongLink => pending.link = Some(strip(buf)),
        EntryType::XHeader => {
            for ext in tar::PaxExtensions::new(&buf) {
                let ext = ext.map_err(read_err)?;
                match ext.key_bytes() {
                    b"path" => pending.path = Some(ext.value_bytes().to_vec()),
                    b"linkpath" => pending.link = Some(ext.value_bytes().to_vec()),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(normalize(b"./a//b/./c").expect("ok"), "a/b/c");
        for bad in [&b"/etc/passwd"[..], b"a/../../x", b"..", b".", b"\xff"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            resolve_link("x/l", &["x"], b"../y/layer.tar").expect("in"),
            "y/layer.tar"
        );
        assert!(resolve_link("x/l", &["x"], b"../../etc/passwd").is_err());
        assert!(resolve_link("l", &[], b"/etc/passwd").is_err());
    }
}
