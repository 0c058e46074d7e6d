//! COPY and ADD on file descriptors.
//!
//! Sources are read under a root (the build context, or another stage's
//! mounted tree) with every path resolved by `openat2(RESOLVE_IN_ROOT)`:
//! a named source that is a symlink is followed, but only inside that
//! root; entries found while walking a directory are never followed
//! (symlinks are copied as symlinks). Destinations are resolved the same
//! way inside the stage's rootfs, so neither a hostile context nor a
//! hostile base image can make the builder read or write a host path.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_sys::path::{ensure_in_root, open_in_root, Kind};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::ignore::{self, Matcher};

/// Errors of COPY and ADD.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{what} {path:?}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn ioe<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CopyError + 'a {
    move |source| CopyError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

fn errno<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> CopyError + 'a {
    move |e| ioe(what, path)(e.into())
}

/// A tree files are read from.
pub struct SourceRoot<'a> {
    pub fd: BorrowedFd<'a>,
    /// `.dockerignore` of the build context; `None` for other stages.
    pub ignore: Option<&'a Matcher>,
    /// What to call the root in messages ("build context", "stage x").
    pub name: &'a str,
}

impl SourceRoot<'_> {
    fn ignored(&self, rel: &str) -> bool {
        self.ignore.is_some_and(|m| m.ignored(rel))
    }

    /// The paths a COPY source names: itself, or what its glob matches
    /// (components resolved in the root, ignored paths left out).
    pub fn expand(&self, src: &str) -> Result<Vec<String>, CopyError> {
        let clean = ignore::clean(&format!("/{src}"));
        let rel = clean.trim_start_matches('/').to_owned();
        if !ignore::has_glob(&rel) {
            let p = if rel.is_empty() { ".".to_owned() } else { rel };
            if p != "." && self.ignored(&p) {
                return Err(CopyError::Invalid(format!(
                    "{src:?}: not found in the {} (it is excluded by .dockerignore)",
                    self.name
                )));
            }
            return match open_in_root(self.fd, Path::new(&p), OFlags::PATH) {
                Ok(_) => Ok(vec![p]),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CopyError::Invalid(format!(
                    "{src:?}: not found in the {}",
                    self.name
                ))),
                Err(e) => Err(ioe("resolving", Path::new(src))(e)),
            };
        }
        let mut found = vec![String::new()];
        for comp in rel.split('/') {
            let mut next = Vec::new();
            for base in &found {
                let joined = |n: &str| {
                    if base.is_empty() {
                        n.to_owned()
                    } else {
                        format!("{base}/{n}")
                    }
                };
                if !ignore::has_glob(comp) {
                    next.push(joined(comp));
                    continue;
                }
                let dir = if base.is_empty() { "." } else { base.as_str() };
                let Ok(fd) =
                    open_in_root(self.fd, Path::new(dir), OFlags::RDONLY | OFlags::DIRECTORY)
                else {
                    continue;
                };
                for name in list(&fd, Path::new(dir))? {
                    let n = name.to_string_lossy();
                    if ignore::glob_match(comp, &n) {
                        next.push(joined(&n));
                    }
                }
            }
            found = next;
        }
        found.retain(|p| {
            !self.ignored(p) && open_in_root(self.fd, Path::new(p), OFlags::PATH).is_ok()
        });
        found.sort();
        if found.is_empty() {
            return Err(CopyError::Invalid(format!(
                "{src:?}: no source files were specified (nothing in the {} matches)",
                self.name
            )));
        }
        Ok(found)
    }
}

/// Names in a directory (without `.` and `..`), sorted.
fn list(dir: &OwnedFd, path: &Path) -> Result<Vec<OsString>, CopyError> {
    let mut out = Vec::new();
    let d = rustix::fs::Dir::read_from(dir).map_err(errno("reading", path))?;
    for e in d {
        let e = e.map_err(errno("reading", path))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Ownership and mode to give copied files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<Chmod>,
}

/// `--chmod`: an octal mode, or a symbolic one (`u+x`, `go-w`, `a=rX`,
/// clauses joined by `,`) applied to each file's own mode. A clause
/// without `ugo`/`a` means `a` (no umask, as in a build). `X` adds execute
/// to directories and to files with an execute bit in their source mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chmod {
    /// `(keep mask, set bits)` for directories and executables...
    x: (u32, u32),
    /// ...and for other files.
    plain: (u32, u32),
}

impl Chmod {
    pub fn parse(s: &str) -> Result<Chmod, String> {
        let bad = || {
            format!(
                "invalid chmod parameter: '{s}'. it should be octal string and between 0 and 07777, or symbolic (such as u+x or go-w)"
            )
        };
        if s.bytes().all(|b| b.is_ascii_digit()) {
            let m = u32::from_str_radix(s, 8)
                .ok()
                .filter(|v| *v <= 0o7777)
                .ok_or_else(bad)?;
            return Ok(Chmod {
                x: (0, m),
                plain: (0, m),
            });
        }
        let mut c = Chmod {
            x: (0o7777, 0),
            plain: (0o7777, 0),
        };
        for clause in s.split(',') {
            let op_at = clause.find(['+', '-', '=']).ok_or_else(bad)?;
            let (who, rest) = clause.split_at(op_at);
            let mut who_mask = 0u32;
            for w in who.chars() {
                who_mask |= match w {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => return Err(bad()),
                };
            }
            if who.is_empty() {
                who_mask = 0o7777;
            }
            let mut chars = rest.chars();
            let op = chars.next().ok_or_else(bad)?;
            let (mut bits, mut xbits) = (0u32, 0u32);
            for p in chars {
                let b = match p {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' => {
                        xbits |= 0o111;
                        continue;
                    }
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return Err(bad()),
                };
                bits |= b;
            }
            let apply = |(keep, set): (u32, u32), bits: u32| {
                let bits = bits & who_mask;
                match op {
                    '+' => (keep, set | bits),
                    '-' => (keep & !bits, set & !bits),
                    _ => (keep & !who_mask, (set & !who_mask) | bits),
                }
            };
            c.x = apply(c.x, bits | xbits);
            c.plain = apply(c.plain, bits);
        }
        Ok(c)
    }

    /// The mode a file of source mode `mode` gets.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let (keep, set) = if is_dir || mode & 0o111 != 0 {
            self.x
        } else {
            self.plain
        };
        (mode & keep) | set
    }
}

/// What the walk meets, for copying or hashing.
trait Visitor {
    fn dir(&mut self, rel: &Path, st: &rustix::fs::Stat) -> Result<(), CopyError>;
    fn file(&mut self, rel: &Path, st: &rustix::fs::Stat, f: OwnedFd) -> Result<(), CopyError>;
    fn symlink(
        &mut self,
        rel: &Path,
        st: &rustix::fs::Stat,
        target: &OsStr,
    ) -> Result<(), CopyError>;
}

/// Walks the source `src` (followed in-root if a symlink itself) and its
/// contents (never followed), calling `v` with paths relative to `src`.
fn walk(root: &SourceRoot<'_>, src: &str, v: &mut dyn Visitor) -> Result<(), CopyError> {
    let p = Path::new(src);
    let fd = open_in_root(root.fd, p, OFlags::PATH).map_err(ioe("opening", p))?;
    let st = rustix::fs::fstat(&fd).map_err(errno("reading", p))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            let dir = open_in_root(root.fd, p, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(ioe("opening", p))?;
            v.dir(Path::new(""), &st)?;
            walk_dir(root, &dir, src, Path::new(""), v, &mut Vec::new())
        }
        FileType::RegularFile => {
            let f = open_in_root(root.fd, p, OFlags::RDONLY).map_err(ioe("opening", p))?;
            v.file(Path::new(""), &st, f)
        }
        _ => Err(CopyError::Invalid(format!(
            "{src:?}: not a file or directory; COPY takes regular files, directories and symlinks"
        ))),
    }
}

/// `pending`: excluded directories walked for exceptions, created only
/// once something below them is copied.
fn walk_dir(
    root: &SourceRoot<'_>,
    dir: &OwnedFd,
    src: &str,
    rel: &Path,
    v: &mut dyn Visitor,
    pending: &mut Vec<(PathBuf, rustix::fs::Stat)>,
) -> Result<(), CopyError> {
    let here = Path::new(src).join(rel);
    let flush = |v: &mut dyn Visitor, pending: &mut Vec<(PathBuf, rustix::fs::Stat)>| {
        for (p, st) in pending.drain(..) {
            v.dir(&p, &st)?;
        }
        Ok::<(), CopyError>(())
    };
    for name in list(dir, &here)? {
        let child_rel = rel.join(&name);
        let ctx_rel = ignore::clean(&format!("{src}/{}", child_rel.display()));
        let st = rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(errno("reading", &here.join(&name)))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let ignored = root.ignored(&ctx_rel);
        if ignored {
            // An excluded directory is still walked when an exception
            // (`!pattern`) may let something below it in.
            let descend =
                ft == FileType::Directory && root.ignore.is_some_and(Matcher::has_exclusions);
            if !descend {
                continue;
            }
        }
        match ft {
            FileType::Directory => {
                let sub = rustix::fs::openat(
                    dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno("opening", &here.join(&name)))?;
                if ignored {
                    pending.push((child_rel.clone(), st));
                } else {
                    flush(v, pending)?;
                    v.dir(&child_rel, &st)?;
                }
                walk_dir(root, &sub, src, &child_rel, v, pending)?;
                if pending.last().is_some_and(|(p, _)| *p == child_rel) {
                    pending.pop();
                }
            }
            FileType::RegularFile => {
                let f = rustix::fs::openat(
                    dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno("opening", &here.join(&name)))?;
                flush(v, pending)?;
                v.file(&child_rel, &st, f)?;
            }
            FileType::Symlink => {
                let t = rustix::fs::readlinkat(dir, name.as_os_str(), Vec::new())
                    .map_err(errno("reading link", &here.join(&name)))?;
                flush(v, pending)?;
                v.symlink(&child_rel, &st, OsStr::from_bytes(t.as_bytes()))?;
            }
            // Devices, fifos and sockets of a context are not copied.
            _ => {}
        }
    }
    Ok(())
}

/// A content hash of what `src` names (paths, types, modes, contents,
/// link targets): the cache key part of COPY and ADD.
pub fn hash_source(root: &SourceRoot<'_>, src: &str, h: &mut Sha256) -> Result<(), CopyError> {
    struct Hashing<'h>(&'h mut Sha256);
    impl Visitor for Hashing<'_> {
        fn dir(&mut self, rel: &Path, st: &rustix::fs::Stat) -> Result<(), CopyError> {
            self.0
                .update(format!("d {} {:o}\0", rel.display(), st.st_mode & 0o7777));
            Ok(())
        }
        fn file(&mut self, rel: &Path, st: &rustix::fs::Stat, f: OwnedFd) -> Result<(), CopyError> {
            self.0.update(format!(
                "f {} {:o} {}\0",
                rel.display(),
                st.st_mode & 0o7777,
                st.st_size
            ));
            let mut file = std::fs::File::from(f);
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = file.read(&mut buf).map_err(ioe("reading", rel))?;
                if n == 0 {
                    break;
                }
                self.0.update(&buf[..n]);
            }
            Ok(())
        }
        fn symlink(
            &mut self,
            rel: &Path,
            _: &rustix::fs::Stat,
            t: &OsStr,
        ) -> Result<(), CopyError> {
            self.0.update(format!("l {} ", rel.display()));
            self.0.update(t.as_bytes());
            self.0.update(b"\0");
            Ok(())
        }
    }
    h.update(format!("src {src}\0"));
    walk(root, src, &mut Hashing(h))
}

/// Where copied content goes: a path in the stage's rootfs.
pub struct Dest<'a> {
    pub root: BorrowedFd<'a>,
    /// Absolute path in the rootfs.
    pub path: String,
    pub attrs: Attrs,
}

/// Whether `path` in the rootfs is a directory (symlinks followed in-root).
pub fn is_dir_in(root: BorrowedFd<'_>, path: &str) -> bool {
    open_in_root(root, Path::new(path), OFlags::RDONLY | OFlags::DIRECTORY).is_ok()
}

/// Makes the directory `path` (and missing parents) in the rootfs, owned
/// as `attrs` says; returns a directory fd.
pub fn make_dir(root: BorrowedFd<'_>, path: &str, attrs: &Attrs) -> Result<OwnedFd, CopyError> {
    let p = Path::new(path);
    let rel = berth_sys::path::relative(p);
    // Create component by component so new parents get the owner.
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        if open_in_root(root, &cur, OFlags::PATH).is_err() {
            ensure_in_root(root, &cur, Kind::Dir).map_err(ioe("creating", &cur))?;
            let fd = open_in_root(root, &cur, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(ioe("opening", &cur))?;
            chown_fd(&fd, attrs, &cur)?;
        }
    }
    open_in_root(root, p, OFlags::RDONLY | OFlags::DIRECTORY).map_err(ioe("opening", p))
}

fn chown_fd(fd: &OwnedFd, a: &Attrs, p: &Path) -> Result<(), CopyError> {
    rustix::fs::fchown(
        fd,
        Some(rustix::fs::Uid::from_raw(a.uid)),
        Some(rustix::fs::Gid::from_raw(a.gid)),
    )
    .map_err(errno("changing the owner of", p))
}

fn split(path: &str) -> (String, OsString) {
    let p = Path::new(path);
    let parent = p.parent().map_or("/".into(), |x| x.display().to_string());
    let name = p
        .file_name()
        .map_or_else(|| OsString::from("."), OsStr::to_owned);
    (parent, name)
}

/// Copies `src` of `root` to `dest`: a directory's contents into the
/// directory `dest.path`, a file to `dest.path` (a file path).
pub fn copy(root: &SourceRoot<'_>, src: &str, dest: &Dest<'_>) -> Result<(), CopyError> {
    struct Copying<'d, 'r> {
        dest: &'d Dest<'r>,
        /// Directory fds by relative path (the walk is depth-first).
        dirs: Vec<(PathBuf, OwnedFd)>,
        file_target: Option<(OwnedFd, OsString)>,
    }
    impl Copying<'_, '_> {
        fn parent(&self, rel: &Path) -> Result<(BorrowedFd<'_>, OsString), CopyError> {
            if rel.as_os_str().is_empty() {
                if let Some((fd, name)) = &self.file_target {
                    return Ok((fd.as_fd(), name.clone()));
                }
            }
            let parent = rel.parent().unwrap_or(Path::new(""));
            let name = rel.file_name().map(OsStr::to_owned).unwrap_or_default();
            let fd = self
                .dirs
                .iter()
                .rev()
                .find(|(p, _)| p == parent)
                .map(|(_, fd)| fd.as_fd())
                .ok_or_else(|| CopyError::Invalid(format!("internal: no parent for {rel:?}")))?;
            Ok((fd, name))
        }
        fn mode(&self, st: &rustix::fs::Stat) -> u32 {
            let mode = st.st_mode & 0o7777;
            let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
            self.dest
                .attrs
                .chmod
                .map_or(mode, |c| c.apply(mode, is_dir))
        }
    }
    impl Visitor for Copying<'_, '_> {
        fn dir(&mut self, rel: &Path, st: &rustix::fs::Stat) -> Result<(), CopyError> {
            if rel.as_os_str().is_empty() {
                let fd = make_dir(self.dest.root, &self.dest.path, &self.dest.attrs)?;
                self.dirs.push((PathBuf::new(), fd));
                return Ok(());
            }
            let mode = self.mode(st);
            let (pfd, name) = self.parent(rel)?;
            match rustix::fs::mkdirat(pfd, name.as_os_str(), Mode::from_raw_mode(mode)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(errno("creating", rel)(e)),
            }
            let fd = match rustix::fs::openat(
                pfd,
                name.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    // A symlink or file is in the way: replace it.
                    rustix::fs::unlinkat(pfd, name.as_os_str(), AtFlags::empty())
                        .map_err(errno("replacing", rel))?;
                    rustix::fs::mkdirat(pfd, name.as_os_str(), Mode::from_raw_mode(mode))
                        .map_err(errno("creating", rel))?;
                    rustix::fs::openat(
                        pfd,
                        name.as_os_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(errno("opening", rel))?
                }
                Err(e) => return Err(errno("opening", rel)(e)),
            };
            chown_fd(&fd, &self.dest.attrs, rel)?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno("chmod", rel))?;
            set_times(&fd, st, rel)?;
            let rel = rel.to_owned();
            self.dirs.retain(|(p, _)| rel.starts_with(p));
            self.dirs.push((rel, fd));
            Ok(())
        }
        fn file(&mut self, rel: &Path, st: &rustix::fs::Stat, f: OwnedFd) -> Result<(), CopyError> {
            let mode = self.mode(st);
            let (pfd, name) = self.parent(rel)?;
            let open = |pfd| {
                rustix::fs::openat(
                    pfd,
                    name.as_os_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::TRUNC
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
            };
            let out = match open(pfd) {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::ISDIR) => {
                    remove_any(pfd, &name, rel)?;
                    open(pfd).map_err(errno("creating", rel))?
                }
                Err(e) => return Err(errno("creating", rel)(e)),
            };
            let mut w = std::fs::File::from(out);
            let mut r = std::fs::File::from(f);
            io::copy(&mut r, &mut w).map_err(ioe("copying", rel))?;
            w.flush().map_err(ioe("copying", rel))?;
            let out = OwnedFd::from(w);
            chown_fd(&out, &self.dest.attrs, rel)?;
            rustix::fs::fchmod(&out, Mode::from_raw_mode(mode)).map_err(errno("chmod", rel))?;
            set_times(&out, st, rel)
        }
        fn symlink(
            &mut self,
            rel: &Path,
            st: &rustix::fs::Stat,
            t: &OsStr,
        ) -> Result<(), CopyError> {
            let (pfd, name) = self.parent(rel)?;
            match rustix::fs::symlinkat(t, pfd, name.as_os_str()) {
                Ok(()) => {}
                Err(Errno::EXIST) => {
                    remove_any(pfd, &name, rel)?;
                    rustix::fs::symlinkat(t, pfd, name.as_os_str())
                        .map_err(errno("creating link", rel))?;
                }
                Err(e) => return Err(errno("creating link", rel)(e)),
            }
            rustix::fs::chownat(
                pfd,
                name.as_os_str(),
                Some(rustix::fs::Uid::from_raw(self.dest.attrs.uid)),
                Some(rustix::fs::Gid::from_raw(self.dest.attrs.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno("changing the owner of", rel))?;
            let ts = times(st);
            rustix::fs::utimensat(pfd, name.as_os_str(), &ts, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(errno("setting times of", rel))
        }
    }
    let mut c = Copying {
        dest,
        dirs: Vec::new(),
        file_target: None,
    };
    let p = Path::new(src);
    let fd = open_in_root(root.fd, p, OFlags::PATH).map_err(ioe("opening", p))?;
    let st = rustix::fs::fstat(&fd).map_err(errno("reading", p))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        let (parent, name) = split(&dest.path);
        let pfd = make_dir(dest.root, &parent, &dest.attrs)?;
        c.file_target = Some((pfd, name));
    }
    walk(root, src, &mut c)
}

fn remove_any(pfd: BorrowedFd<'_>, name: &OsStr, rel: &Path) -> Result<(), CopyError> {
    match rustix::fs::unlinkat(pfd, name, AtFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::ISDIR) => {
            rustix::fs::unlinkat(pfd, name, AtFlags::REMOVEDIR).map_err(errno("replacing", rel))
        }
        Err(e) => Err(errno("replacing", rel)(e)),
    }
}

fn times(st: &rustix::fs::Stat) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn set_times(fd: &OwnedFd, st: &rustix::fs::Stat, rel: &Path) -> Result<(), CopyError> {
    rustix::fs::futimens(fd, &times(st)).map_err(errno("setting times of", rel))
}

/// Writes `content` as the file `path` of the rootfs (a heredoc source).
pub fn write_file(
    root: BorrowedFd<'_>,
    path: &str,
    content: &[u8],
    attrs: &Attrs,
    mtime: Option<u64>,
) -> Result<(), CopyError> {
    let (parent, name) = split(path);
    let pfd = make_dir(root, &parent, attrs)?;
    let p = Path::new(path);
    let fd = rustix::fs::openat(
        &pfd,
        name.as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(errno("creating", p))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(content).map_err(ioe("writing", p))?;
    let fd = OwnedFd::from(f);
    chown_fd(&fd, attrs, p)?;
    rustix::fs::fchmod(
        &fd,
        Mode::from_raw_mode(attrs.chmod.map_or(0o644, |c| c.apply(0o644, false))),
    )
    .map_err(errno("chmod", p))?;
    if let Some(m) = mtime {
        let t = rustix::fs::Timespec {
            tv_sec: m as i64,
            tv_nsec: 0,
        };
        rustix::fs::futimens(
            &fd,
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
        )
        .map_err(errno("setting times of", p))?;
    }
    Ok(())
}

/// Whether a file starts like an archive ADD extracts (tar, gzip, zstd);
/// bzip2 and xz are recognised to refuse them clearly.
pub fn archive_kind(root: BorrowedFd<'_>, src: &str) -> Option<&'static str> {
    let f = open_in_root(root, Path::new(src), OFlags::RDONLY).ok()?;
    let mut head = [0u8; 512];
    let mut file = std::fs::File::from(f);
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let h = &head[..n];
    if h.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if h.starts_with(b"BZh") {
        Some("bzip2")
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if n >= 262 && &h[257..262] == b"ustar" {
        Some("tar")
    } else {
        None
    }
}

/// Extracts a local archive into the directory `dest` of the rootfs with
/// the secure layer unpacker (paths stay inside the rootfs).
pub fn extract(
    root: &SourceRoot<'_>,
    src: &str,
    rootfs: BorrowedFd<'_>,
    dest: &str,
    attrs: &Attrs,
) -> Result<(), CopyError> {
    let p = Path::new(src);
    let f = open_in_root(root.fd, p, OFlags::RDONLY).map_err(ioe("opening", p))?;
    let dir = make_dir(rootfs, dest, attrs)?;
    berth_image::unpack::unpack(
        std::fs::File::from(f),
        dir,
        &berth_image::unpack::Limits::default(),
        src,
    )
    .map(|_| ())
    .map_err(|e| CopyError::Invalid(format!("ADD {src:?}: extracting: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn dirfd(p: &Path) -> OwnedFd {
        rustix::fs::open(p, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn copies_without_leaving_either_root() {
        let ctx = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), b"host").unwrap();
        std::fs::create_dir_all(ctx.path().join("d/sub")).unwrap();
        std::fs::write(ctx.path().join("d/a.txt"), b"a").unwrap();
        std::fs::write(ctx.path().join("d/sub/b.txt"), b"b").unwrap();
        std::fs::write(ctx.path().join("d/skip.log"), b"x").unwrap();
        // Hostile: links pointing out of the context.
        symlink(host.path().join("secret"), ctx.path().join("d/abs")).unwrap();
        symlink("../../../../../../etc/passwd", ctx.path().join("up")).unwrap();
        // Hostile rootfs: a symlink where a directory is expected.
        symlink(host.path(), out.path().join("target")).unwrap();

        let ign = Matcher::parse("*.log\nd/*.log\n").unwrap();
        let cfd = dirfd(ctx.path());
        let ofd = dirfd(out.path());
        let root = SourceRoot {
            fd: cfd.as_fd(),
            ignore: Some(&ign),
            name: "build context",
        };
        let attrs = Attrs {
            uid: 0,
            gid: 0,
            chmod: None,
        };
        copy(
            &root,
            "d",
            &Dest {
                root: ofd.as_fd(),
                path: "/target/x".into(),
                attrs,
            },
        )
        .unwrap();
        // Written inside the rootfs (the link resolved in-root), not on the host.
        assert!(!host.path().join("x").exists());
        assert_eq!(
            std::fs::read(
                out.path()
                    .join(host.path().strip_prefix("/").unwrap())
                    .join("x/a.txt")
            )
            .unwrap(),
            b"a"
        );
        let base = out
            .path()
            .join(host.path().strip_prefix("/").unwrap())
            .join("x");
        assert_eq!(std::fs::read(base.join("sub/b.txt")).unwrap(), b"b");
        assert!(!base.join("skip.log").exists(), "ignored file copied");
        // Symlinks are copied as symlinks, never followed.
        assert_eq!(
            std::fs::read_link(base.join("abs")).unwrap(),
            host.path().join("secret")
        );
        // A named source that is a link out of the context resolves inside it.
        let e = root.expand("up").unwrap_err();
        assert!(e.to_string().contains("not found"), "{e}");
        assert!(root.expand("d/skip.log").is_err());
        assert_eq!(root.expand("d/*.txt").unwrap(), ["d/a.txt"]);
        let mut h1 = Sha256::new();
        hash_source(&root, "d", &mut h1).unwrap();
        std::fs::write(ctx.path().join("d/skip.log"), b"changed").unwrap();
        let mut h2 = Sha256::new();
        hash_source(&root, "d", &mut h2).unwrap();
        assert_eq!(h1.finalize(), h2.finalize(), "ignored files change no hash");
        let _ = std::fs::metadata(out.path()).unwrap().uid();
    }
}

#[cfg(test)]
mod chmod_tests {
    use super::Chmod;

    #[test]
    fn octal_and_symbolic_modes() {
        let m = |s: &str, mode: u32, dir: bool| Chmod::parse(s).unwrap().apply(mode, dir);
        assert_eq!(m("755", 0o600, false), 0o755);
        assert_eq!(m("0640", 0o777, true), 0o640);
        assert_eq!(m("u+x", 0o644, false), 0o744);
        assert_eq!(m("+x", 0o644, false), 0o755);
        assert_eq!(m("go-w", 0o666, false), 0o644);
        assert_eq!(m("a=r,u+w", 0o777, false), 0o644);
        assert_eq!(m("u=rwx,g=rx,o=", 0o000, false), 0o750);
        assert_eq!(m("a+X", 0o644, false), 0o644);
        assert_eq!(m("a+X", 0o744, false), 0o755);
        assert_eq!(m("a+X", 0o700, true), 0o711);
        assert_eq!(m("u+s,o+t", 0o755, false), 0o5755);
        for bad in ["u+y", "q+x", "ux", "", "8", "17777", "u+x,"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
