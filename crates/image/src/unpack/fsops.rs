//! File-descriptor relative creation of layer entries.
//!
//! Every operation is relative to a directory fd obtained by resolving the
//! entry's parent *within* the layer root with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)`, so no `..`, absolute path,
//! symlink or hardlink planted by an earlier entry can lead outside it. On
//! kernels without openat2 the parent is walked one component at a time with
//! `O_NOFOLLOW`, which is equally strict because components are never `..`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{
    self as rfs, AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps,
    Uid, XattrFlags,
};
use rustix::io::Errno;

/// Why resolving a parent directory failed.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// A component is a symlink or not a directory: a traversal attempt.
    NotADirectory,
    Io(io::Error),
}

/// The layer directory being filled, with the resolution strategy.
pub(crate) struct Root {
    fd: OwnedFd,
    use_openat2: bool,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Root {
    pub(crate) fn new(fd: OwnedFd, use_openat2: bool) -> Root {
        Root { fd, use_openat2 }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory `comps` (relative to the root), creating missing
    /// components with mode 0755 when `create` is set.
    pub(crate) fn open_dir(
        &mut self,
        comps: &[OsString],
        create: bool,
    ) -> Result<OwnedFd, ResolveError> {
        if comps.is_empty() {
            return rfs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
                .map_err(|e| ResolveError::Io(e.into()));
        }
        if self.use_openat2 {
            let joined = join(comps);
            match berth_sys::path::openat2_retry(
                &self.fd,
                joined.as_os_str(),
                DIR_FLAGS,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS,
            ) {
                Ok(fd) => return Ok(fd),
                Err(Errno::NOSYS) => {
                    tracing::debug!("openat2 unavailable; walking paths component by component");
                    self.use_openat2 = false;
                }
                Err(Errno::NOENT) if create => {}
                Err(e) => return Err(classify(e)),
            }
        }
        self.walk(comps, create)
    }

    /// Component-wise walk: each step refuses symlinks (`O_NOFOLLOW`) and
    /// non-directories.
    fn walk(&self, comps: &[OsString], create: bool) -> Result<OwnedFd, ResolveError> {
        let mut cur = rfs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| ResolveError::Io(e.into()))?;
        for c in comps {
            let next = match rfs::openat(&cur, c.as_os_str(), DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(&cur, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ResolveError::Io(e.into())),
                    }
                    rfs::openat(&cur, c.as_os_str(), DIR_FLAGS, Mode::empty()).map_err(classify)?
                }
                Err(e) => return Err(classify(e)),
            };
            cur = next;
        }
        Ok(cur)
    }
}

fn classify(e: Errno) -> ResolveError {
    match e {
        Errno::LOOP | Errno::NOTDIR | Errno::XDEV => ResolveError::NotADirectory,
        e => ResolveError::Io(e.into()),
    }
}

fn join(comps: &[OsString]) -> OsString {
    let mut out = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push("/");
        }
        out.push(c);
    }
    out
}

/// What is at a name before an entry is created there.
pub(crate) enum Existing {
    Nothing,
    Dir,
    Other,
}

pub(crate) fn existing(dir: &OwnedFd, name: &OsStr) -> io::Result<Existing> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Ok(Existing::Dir),
        Ok(_) => Ok(Existing::Other),
        Err(Errno::NOENT) => Ok(Existing::Nothing),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` in `dir`, recursively for directories, never following
/// symlinks.
pub(crate) fn remove_all(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match existing(dir, name)? {
        Existing::Nothing => Ok(()),
        Existing::Other => Ok(rfs::unlinkat(dir, name, AtFlags::empty())?),
        Existing::Dir => {
            let sub = rfs::openat(dir, name, DIR_FLAGS, Mode::empty())?;
            let mut names = Vec::new();
            for ent in Dir::read_from(&sub)? {
                let ent = ent?;
                let n = OsStr::from_bytes(ent.file_name().to_bytes());
                if n != "." && n != ".." {
                    names.push(n.to_owned());
                }
            }
            for n in names {
                remove_all(&sub, &n)?;
            }
            Ok(rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
        }
    }
}

pub(crate) fn create_file(dir: &OwnedFd, name: &OsStr) -> io::Result<std::fs::File> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(std::fs::File::from(fd))
}

pub(crate) fn make_dir(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    match rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(rfs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

pub(crate) fn symlink(dir: &OwnedFd, name: &OsStr, target: &OsStr) -> io::Result<()> {
    Ok(rfs::symlinkat(target, dir, name)?)
}

pub(crate) fn hardlink(
    target_dir: &OwnedFd,
    target: &OsStr,
    dir: &OwnedFd,
    name: &OsStr,
) -> io::Result<()> {
    Ok(rfs::linkat(
        target_dir,
        target,
        dir,
        name,
        AtFlags::empty(),
    )?)
}

pub(crate) fn mknod(
    dir: &OwnedFd,
    name: &OsStr,
    kind: FileType,
    mode: u32,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    Ok(rfs::mknodat(
        dir,
        name,
        kind,
        Mode::from_raw_mode(mode),
        rfs::makedev(major, minor),
    )?)
}

/// Owner of `name` in `dir` (not following symlinks). Permission errors are
/// ignored when not running as root, so unprivileged unpacking still works.
pub(crate) fn chown(dir: &OwnedFd, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let r = rfs::chownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    );
    tolerate_unprivileged(r)
}

pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    tolerate_unprivileged(rfs::fchown(
        fd,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    ))
}

fn tolerate_unprivileged(r: rustix::io::Result<()>) -> io::Result<()> {
    match r {
        Err(Errno::PERM | Errno::INVAL) if !rustix::process::geteuid().is_root() => Ok(()),
        r => Ok(r?),
    }
}

pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    Ok(rfs::fchmod(fd, Mode::from_raw_mode(mode))?)
}

pub(crate) fn chmod(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(mode),
        AtFlags::empty(),
    )?)
}

pub(crate) fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    match rfs::fsetxattr(fd, name, value, XattrFlags::empty()) {
        Err(Errno::NOTSUP) => {
            tracing::warn!(
                xattr = name,
                "filesystem does not support this xattr; skipped"
            );
            Ok(())
        }
        r => Ok(r?),
    }
}

pub(crate) fn timestamps(secs: i64, nanos: u32) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: nanos.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

pub(crate) fn set_times(dir: &OwnedFd, name: &OsStr, ts: &Timestamps) -> io::Result<()> {
    Ok(rfs::utimensat(dir, name, ts, AtFlags::SYMLINK_NOFOLLOW)?)
}

pub(crate) fn fset_times(fd: BorrowedFd<'_>, ts: &Timestamps) -> io::Result<()> {
    Ok(rfs::futimens(fd, ts)?)
}
