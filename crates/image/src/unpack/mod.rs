//! Secure layer unpacking.
//!
//! Entries are read with the `tar` crate in raw mode (so GNU long names and
//! PAX headers are parsed here, under the header-size limit) and each one is
//! created by this module relative to directory fds resolved within the layer
//! root (see [`fsops`]). OCI whiteouts become overlayfs whiteouts: `.wh.NAME`
//! a 0:0 character device, `.wh..wh..opq` the `trusted.overlay.opaque=y`
//! xattr on its directory.

mod fsops;

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{FileType, Timestamps};
use tar::{EntryType, PaxExtensions};

use crate::digest::{Digest, Hasher};
use fsops::{Existing, ResolveError, Root};

/// Bounds that stop decompression bombs and pathological archives.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total bytes of the uncompressed tar stream.
    pub max_bytes: u64,
    /// Number of tar entries (headers) in the layer.
    pub max_entries: u64,
    /// Size of one PAX or GNU long-name header.
    pub max_header_bytes: u64,
    /// Number of path components of one entry.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 4_000_000,
            max_header_bytes: 1 << 20,
            max_depth: 256,
        }
    }
}

/// Errors of unpacking one layer. `layer` names the layer (its digest).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer {layer}: unreadable tar stream: {source} (the layer is truncated or corrupt; pull it again)")]
    Tar {
        layer: String,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer}: entry {path:?} {reason}; refusing to unpack (the image is malformed or hostile)")]
    Unsafe {
        layer: String,
        path: String,
        reason: &'static str,
    },
    #[error("layer {layer}: {what} exceeds the limit of {limit} (possible decompression bomb)")]
    Limit {
        layer: String,
        what: &'static str,
        limit: u64,
    },
    #[error("layer {layer}: entry {path:?} has unsupported type {kind}")]
    Unsupported {
        layer: String,
        path: String,
        kind: String,
    },
    #[error("layer {layer}: {op} {path:?}: {source}")]
    Io {
        layer: String,
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// What unpacking found.
#[derive(Debug, Clone)]
pub struct UnpackStats {
    /// sha256 of the uncompressed tar stream (the layer's diff id).
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub tar_bytes: u64,
    /// Bytes of regular-file content written.
    pub content_bytes: u64,
    pub entries: u64,
}

/// Wraps `reader` in the decompressor its first bytes call for: gzip, zstd
/// or none.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(reader)?))
    } else {
        Ok(Box::new(reader))
    }
}

/// Counts and hashes what passes through; fails past `limit` bytes.
struct Measured<R> {
    inner: R,
    hasher: Hasher,
    bytes: u64,
    limit: u64,
}

impl<R: Read> Read for Measured<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if self.bytes > self.limit {
            return Err(io::Error::other(LimitHit));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct LimitHit;
impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("uncompressed size limit")
    }
}
impl std::error::Error for LimitHit {}

/// Unpacks a (possibly compressed) layer stream into the directory `root`.
/// The caller makes `root` a fresh, private directory and renames it into
/// place only when this returns `Ok` and the digests check out.
pub fn unpack(
    reader: impl Read,
    root: OwnedFd,
    limits: &Limits,
    layer: &str,
) -> Result<UnpackStats, UnpackError> {
    unpack_with(reader, root, limits, layer, true)
}

/// How an archive that is not a layer is extracted (`berth cp`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Every entry gets this owner instead of the archive's.
    pub owner: Option<(u32, u32)>,
}

/// Extracts a (possibly compressed) tar stream into the directory `root`
/// with the same defences as [`unpack`], but as a plain archive: `.wh.`
/// names are ordinary files, not whiteouts.
pub fn extract(
    reader: impl Read,
    root: OwnedFd,
    limits: &Limits,
    what: &str,
    opts: ExtractOptions,
) -> Result<UnpackStats, UnpackError> {
    unpack_as(reader, root, limits, what, true, Some(opts))
}

pub(crate) fn unpack_with(
    reader: impl Read,
    root: OwnedFd,
    limits: &Limits,
    layer: &str,
    use_openat2: bool,
) -> Result<UnpackStats, UnpackError> {
    unpack_as(reader, root, limits, layer, use_openat2, None)
}

/// `archive`: extract as an ordinary archive (see [`extract`]) rather than
/// a layer.
fn unpack_as(
    reader: impl Read,
    root: OwnedFd,
    limits: &Limits,
    layer: &str,
    use_openat2: bool,
    archive: Option<ExtractOptions>,
) -> Result<UnpackStats, UnpackError> {
    let tar_err = |source| UnpackError::Tar {
        layer: layer.to_owned(),
        source,
    };
    let plain = decompress(BufReader::with_capacity(256 << 10, reader)).map_err(tar_err)?;
    let mut measured = Measured {
        inner: plain,
        hasher: Hasher::new(),
        bytes: 0,
        limit: limits.max_bytes,
    };
    let mut u = Unpacker {
        root: Root::new(root, use_openat2),
        limits,
        layer,
        dir_times: Vec::new(),
        entries: 0,
        content_bytes: 0,
        plain: archive,
        buf: Vec::new(),
    };
    let limit_err = |e: io::Error, layer: &str| {
        if e.get_ref().is_some_and(|i| i.is::<LimitHit>()) {
            UnpackError::Limit {
                layer: layer.to_owned(),
                what: "uncompressed size",
                limit: limits.max_bytes,
            }
        } else {
            UnpackError::Tar {
                layer: layer.to_owned(),
                source: e,
            }
        }
    };
    {
        let mut archive = tar::Archive::new(&mut measured);
        let entries = archive
            .entries()
            .map_err(|e| limit_err(e, layer))?
            .raw(true);
        u.run(entries).map_err(|e| match e {
            UnpackError::Tar { source, .. } => limit_err(source, layer),
            e => e,
        })?;
    }
    // Read the rest (end-of-archive blocks, padding, compression trailer) so
    // the diff id covers the whole stream and a truncated one is caught.
    io::copy(&mut measured, &mut io::sink()).map_err(|e| limit_err(e, layer))?;
    u.finish()?;
    Ok(UnpackStats {
        diff_id: measured.hasher.finish(),
        tar_bytes: measured.bytes,
        content_bytes: u.content_bytes,
        entries: u.entries,
    })
}

/// Metadata that PAX and GNU headers add to the next entry.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<(i64, u32)>,
    size: Option<u64>,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Timestamps,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Unpacker<'l> {
    root: Root,
    limits: &'l Limits,
    layer: &'l str,
    dir_times: Vec<(Vec<OsString>, Timestamps)>,
    entries: u64,
    content_bytes: u64,
    /// Not a layer: no whiteouts, maybe one owner for all.
    plain: Option<ExtractOptions>,
    /// File content passes through here: read until full, written in one
    /// call (`io::copy`'s 8 KiB made 24 writes of a 192 KiB file).
    buf: Vec<u8>,
}

/// Size of [`Unpacker::buf`].
const COPY_BUF: usize = 256 << 10;

impl Unpacker<'_> {
    fn run<R: Read>(&mut self, entries: tar::Entries<'_, R>) -> Result<(), UnpackError> {
        let mut pending = Pending::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| self.tar(e))?;
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(self.limit("entry count", self.limits.max_entries));
            }
            let size = entry.header().entry_size().map_err(|e| self.tar(e))?;
            let kind = entry.header().entry_type();
            match kind {
                EntryType::XHeader
                | EntryType::XGlobalHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink => {
                    if size > self.limits.max_header_bytes {
                        return Err(
                            self.limit("extended header size", self.limits.max_header_bytes)
                        );
                    }
                    let mut data = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut data).map_err(|e| self.tar(e))?;
                    match kind {
                        EntryType::XHeader => self.parse_pax(&data, &mut pending)?,
                        EntryType::GNULongName => pending.path = Some(trim_nul(data)),
                        EntryType::GNULongLink => pending.link = Some(trim_nul(data)),
                        _ => {} // global headers carry nothing berth uses
                    }
                    continue;
                }
                _ => {}
            }
            let p = std::mem::take(&mut pending);
            self.entry(&mut entry, kind, size, p)?;
        }
        Ok(())
    }

    fn parse_pax(&self, data: &[u8], p: &mut Pending) -> Result<(), UnpackError> {
        for ext in PaxExtensions::new(data) {
            let ext = ext.map_err(|e| self.tar(e))?;
            let key = ext
                .key()
                .map_err(|_| self.tar(io::Error::other("PAX key is not UTF-8")))?;
            let value = ext.value_bytes();
            let num = || -> Result<u64, UnpackError> {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| self.tar(io::Error::other(format!("bad PAX {key} value"))))
            };
            match key {
                "path" => p.path = Some(value.to_vec()),
                "linkpath" => p.link = Some(value.to_vec()),
                "uid" => p.uid = Some(num()?),
                "gid" => p.gid = Some(num()?),
                "size" => p.size = Some(num()?),
                "mtime" => p.mtime = parse_pax_time(value),
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        p.xattrs.push((name.to_owned(), value.to_vec()));
                    }
                }
            }
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: EntryType,
        size: u64,
        p: Pending,
    ) -> Result<(), UnpackError> {
        let header = entry.header();
        let raw_path = match p.path {
            Some(path) => path,
            None => entry.path_bytes().into_owned(),
        };
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        if p.size.is_some_and(|s| s != size) {
            return Err(self.unsupported(&shown, "PAX size override"));
        }
        let comps = self.components(&raw_path, &shown)?;
        let old = header.as_old();
        let uid = match p.uid {
            Some(u) => u,
            None => numeric(&old.uid, header.uid()).map_err(|e| self.tar(e))?,
        };
        let gid = match p.gid {
            Some(g) => g,
            None => numeric(&old.gid, header.gid()).map_err(|e| self.tar(e))?,
        };
        let (secs, nanos) = match p.mtime {
            Some(t) => t,
            None => {
                let m = numeric(&old.mtime, header.mtime()).map_err(|e| self.tar(e))?;
                (i64::try_from(m).unwrap_or(0), 0)
            }
        };
        let mut meta = Meta {
            mode: header.mode().map_err(|e| self.tar(e))? & 0o7777,
            uid: id32(uid).ok_or_else(|| self.unsafe_(&shown, "has an out-of-range uid"))?,
            gid: id32(gid).ok_or_else(|| self.unsafe_(&shown, "has an out-of-range gid"))?,
            times: fsops::timestamps(secs, nanos),
            xattrs: p.xattrs,
        };
        if let Some((uid, gid)) = self.plain.and_then(|o| o.owner) {
            (meta.uid, meta.gid) = (uid, gid);
        }
        let link = match p.link {
            Some(l) => Some(l),
            None => entry.link_name_bytes().map(|l| l.into_owned()),
        };

        let Some((name, parent)) = comps.split_last() else {
            // "./": the layer root itself
            if kind == EntryType::Directory {
                let fd = self
                    .root
                    .open_dir(&[], false)
                    .map_err(|e| self.resolve(e, &shown))?;
                self.apply_fd(&fd, &meta, &shown)?;
                self.dir_times.push((Vec::new(), meta.times));
            }
            return Ok(());
        };
        let name_b = name.as_bytes();
        let layer = self.plain.is_none();
        if layer && name_b == b".wh..wh..opq" {
            let dir = self
                .root
                .open_dir(parent, true)
                .map_err(|e| self.resolve(e, &shown))?;
            return fsops::set_xattr(dir.as_fd(), "trusted.overlay.opaque", b"y")
                .map_err(|e| self.io("mark opaque", &shown, e));
        }
        if layer && name_b.starts_with(b".wh..wh.") {
            return Ok(()); // aufs metadata (e.g. .wh..wh.plnk): nothing for overlayfs
        }
        let dir = self
            .root
            .open_dir(parent, true)
            .map_err(|e| self.resolve(e, &shown))?;
        if let Some(hidden) = name_b.strip_prefix(b".wh.").filter(|_| layer) {
            let hidden = OsStr::from_bytes(hidden);
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(self.unsafe_(&shown, "is an invalid whiteout"));
            }
            fsops::remove_all(&dir, hidden).map_err(|e| self.io("replace", &shown, e))?;
            return fsops::mknod(&dir, hidden, FileType::CharacterDevice, 0, 0, 0)
                .map_err(|e| self.io("create whiteout", &shown, e));
        }

        let is_dir = kind == EntryType::Directory;
        match fsops::existing(&dir, name).map_err(|e| self.io("stat", &shown, e))? {
            Existing::Dir if is_dir => {}
            Existing::Nothing => {}
            _ => fsops::remove_all(&dir, name).map_err(|e| self.io("replace", &shown, e))?,
        }

        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let mut f =
                    fsops::create_file(&dir, name).map_err(|e| self.io("create", &shown, e))?;
                let n = self.copy_content(entry, &mut f, &shown)?;
                self.content_bytes += n;
                if layer {
                    // The layer is flushed before it is named; start that
                    // now, while the next entries are read. Only a hint, so
                    // a refusal changes nothing.
                    let _ = berth_sys::writeback::start(f.as_fd(), 0, 0);
                }
                self.apply_fd(&f, &meta, &shown)?;
                fsops::fset_times(f.as_fd(), &meta.times)
                    .map_err(|e| self.io("set times", &shown, e))
            }
            EntryType::Directory => {
                let fd = fsops::make_dir(&dir, name).map_err(|e| self.io("mkdir", &shown, e))?;
                self.apply_fd(&fd, &meta, &shown)?;
                self.dir_times.push((comps.clone(), meta.times));
                Ok(())
            }
            EntryType::Symlink => {
                let target =
                    link.ok_or_else(|| self.unsafe_(&shown, "is a symlink without a target"))?;
                if target.is_empty() || target.contains(&0) {
                    return Err(self.unsafe_(&shown, "has an invalid symlink target"));
                }
                fsops::symlink(&dir, name, OsStr::from_bytes(&target))
                    .map_err(|e| self.io("symlink", &shown, e))?;
                fsops::chown(&dir, name, meta.uid, meta.gid)
                    .map_err(|e| self.io("chown", &shown, e))?;
                fsops::set_times(&dir, name, &meta.times)
                    .map_err(|e| self.io("set times", &shown, e))
            }
            EntryType::Link => {
                let target =
                    link.ok_or_else(|| self.unsafe_(&shown, "is a hardlink without a target"))?;
                let tshown = String::from_utf8_lossy(&target).into_owned();
                let tcomps = self.components(&target, &tshown)?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(self.unsafe_(&shown, "is a hardlink to the layer root"));
                };
                let tdir = self
                    .root
                    .open_dir(tparent, false)
                    .map_err(|e| self.resolve(e, &tshown))?;
                fsops::hardlink(&tdir, tname, &dir, name).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        self.unsafe_(&shown, "is a hardlink to an entry not in this layer")
                    } else {
                        self.io("hardlink", &shown, e)
                    }
                })
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (ft, major, minor) = match kind {
                    EntryType::Fifo => (FileType::Fifo, 0, 0),
                    k => (
                        if k == EntryType::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        },
                        header.device_major().map_err(|e| self.tar(e))?.unwrap_or(0),
                        header.device_minor().map_err(|e| self.tar(e))?.unwrap_or(0),
                    ),
                };
                fsops::mknod(&dir, name, ft, meta.mode, major, minor)
                    .map_err(|e| self.io("mknod", &shown, e))?;
                fsops::chown(&dir, name, meta.uid, meta.gid)
                    .map_err(|e| self.io("chown", &shown, e))?;
                fsops::chmod(&dir, name, meta.mode).map_err(|e| self.io("chmod", &shown, e))?;
                fsops::set_times(&dir, name, &meta.times)
                    .map_err(|e| self.io("set times", &shown, e))
            }
            EntryType::GNUSparse => Err(self.unsupported(&shown, "GNU sparse file")),
            other => {
                tracing::debug!(layer = self.layer, path = %shown, kind = ?other, "tar entry type ignored");
                Ok(())
            }
        }
    }

    /// Copies one entry's content into `f`; a failed read is the stream's
    /// fault, a failed write the disk's, and the errors say which.
    fn copy_content(
        &mut self,
        entry: &mut impl Read,
        f: &mut std::fs::File,
        shown: &str,
    ) -> Result<u64, UnpackError> {
        if self.buf.is_empty() {
            self.buf = vec![0; COPY_BUF];
        }
        let mut total = 0u64;
        loop {
            let mut filled = 0;
            while filled < self.buf.len() {
                match entry.read(&mut self.buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.tar(e)),
                }
            }
            if filled == 0 {
                return Ok(total);
            }
            io::Write::write_all(f, &self.buf[..filled]).map_err(|e| self.io("write", shown, e))?;
            total += filled as u64;
            if filled < self.buf.len() {
                return Ok(total);
            }
        }
    }

    /// Owner, then mode (chown clears set-id bits), then xattrs.
    fn apply_fd(&self, fd: &impl AsFd, meta: &Meta, shown: &str) -> Result<(), UnpackError> {
        fsops::fchown(fd.as_fd(), meta.uid, meta.gid).map_err(|e| self.io("chown", shown, e))?;
        fsops::fchmod(fd.as_fd(), meta.mode).map_err(|e| self.io("chmod", shown, e))?;
        for (k, v) in &meta.xattrs {
            fsops::set_xattr(fd.as_fd(), k, v).map_err(|e| self.io("set xattr", shown, e))?;
        }
        Ok(())
    }

    /// Directory times last, deepest first, after their contents are written.
    fn finish(&mut self) -> Result<(), UnpackError> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        for (comps, ts) in times {
            let shown = comps
                .iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            match comps.split_last() {
                Some((name, parent)) => {
                    let dir = self
                        .root
                        .open_dir(parent, false)
                        .map_err(|e| self.resolve(e, &shown))?;
                    fsops::set_times(&dir, name, &ts)
                        .map_err(|e| self.io("set times", &shown, e))?;
                }
                None => fsops::fset_times(self.root.fd(), &ts)
                    .map_err(|e| self.io("set times", "/", e))?,
            }
        }
        Ok(())
    }

    /// Splits an entry path into components, refusing absolute paths, `..`,
    /// NUL bytes and excessive depth. `.` components and a leading `./` are
    /// dropped.
    fn components(&self, raw: &[u8], shown: &str) -> Result<Vec<OsString>, UnpackError> {
        if raw.first() == Some(&b'/') {
            return Err(self.unsafe_(shown, "is an absolute path"));
        }
        if raw.contains(&0) {
            return Err(self.unsafe_(shown, "contains a NUL byte"));
        }
        let mut out = Vec::new();
        for c in raw.split(|b| *b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(self.unsafe_(shown, "contains a '..' component")),
                c => out.push(OsStr::from_bytes(c).to_owned()),
            }
        }
        if out.len() > self.limits.max_depth {
            return Err(self.limit("path depth", self.limits.max_depth as u64));
        }
        Ok(out)
    }

    fn tar(&self, source: io::Error) -> UnpackError {
        UnpackError::Tar {
            layer: self.layer.to_owned(),
            source,
        }
    }

    fn limit(&self, what: &'static str, limit: u64) -> UnpackError {
        UnpackError::Limit {
            layer: self.layer.to_owned(),
            what,
            limit,
        }
    }

    fn unsafe_(&self, path: &str, reason: &'static str) -> UnpackError {
        UnpackError::Unsafe {
            layer: self.layer.to_owned(),
            path: path.to_owned(),
            reason,
        }
    }

    fn unsupported(&self, path: &str, kind: &str) -> UnpackError {
        UnpackError::Unsupported {
            layer: self.layer.to_owned(),
            path: path.to_owned(),
            kind: kind.to_owned(),
        }
    }

    fn io(&self, op: &'static str, path: &str, source: io::Error) -> UnpackError {
        UnpackError::Io {
            layer: self.layer.to_owned(),
            op,
            path: path.to_owned(),
            source,
        }
    }

    fn resolve(&self, e: ResolveError, path: &str) -> UnpackError {
        match e {
            ResolveError::NotADirectory => {
                self.unsafe_(path, "has a parent that is a symlink or not a directory")
            }
            ResolveError::Io(e) => self.io("resolve parent of", path, e),
        }
    }
}

/// A numeric header field; empty (all NUL or space) reads as 0, as Go's
/// archive/tar (which wrote most layers in the wild) does.
fn numeric(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|b| *b == 0 || *b == b' ') {
        Ok(0)
    } else {
        parsed
    }
}

fn id32(v: u64) -> Option<u32> {
    u32::try_from(v).ok().filter(|v| *v != u32::MAX)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// PAX times are decimal seconds with an optional fraction.
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10)?;
        nanos += d * 10u32.pow(8 - i as u32);
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests;

/// Tar builders shared by the crate's tests.
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::tests::{file, symlink, tar, E};

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(bytes);
        gz.finish().unwrap_or_default()
    }
}
