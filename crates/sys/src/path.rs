//! Resolution of paths inside a root directory, by file descriptor.
//!
//! Each lookup uses `openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`:
//! `..`, absolute symlinks and relative symlinks all stay inside the root, and
//! `/proc/self/fd`-style magic links are refused. Missing directories are
//! created one component at a time relative to the fd of their (already
//! resolved) parent, so a concurrent symlink swap cannot redirect them.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// What to create at the end of a path that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// `openat2(2)`, tried again while the kernel answers EAGAIN: a scoped
/// lookup (`RESOLVE_IN_ROOT`, `RESOLVE_BENEATH`) that crosses `..` fails so
/// when any rename or mount happened on the machine meanwhile, and asks
/// the caller to retry. Bounded, so that a machine renaming without pause
/// gets an error, not a hang.
pub fn openat2_retry<P: rustix::path::Arg + Copy>(
    dir: impl AsFd,
    path: P,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let dir = dir.as_fd();
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, path, flags, mode, resolve) {
            Err(Errno::AGAIN) if tries < 128 => tries += 1,
            r => return r,
        }
    }
}

/// Opens `path` (taken as relative to `root`, whatever its leading `/`) inside
/// `root` with `flags`. Symlinks are followed, but only within the root.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = relative(path);
    let rel: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    Ok(openat2_retry(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )?)
}

/// Opens `path` inside `root` as an `O_PATH` fd, creating every missing
/// component as a directory (mode 0755) and the last one as `kind`.
/// Returns an `O_PATH` fd of the final object, suitable as a mount target.
/// A dangling symlink on the way is followed within the root, as the
/// kernel would, and its target created there.
pub fn ensure_in_root(root: BorrowedFd<'_>, path: &Path, kind: Kind) -> io::Result<OwnedFd> {
    ensure_hops(root, &relative(path), kind, 40)
}

fn ensure_hops(root: BorrowedFd<'_>, rel: &Path, kind: Kind, hops: u32) -> io::Result<OwnedFd> {
    match open_in_root(root, rel, OFlags::PATH) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
        Err(e) => return Err(e),
    }
    let (parent_rel, name) = match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => (p, n),
        // `..` at the end (clamped to the root) or an empty path: exists.
        _ => return open_in_root(root, rel, OFlags::PATH),
    };
    // The parent, resolved (and made) inside the root; usually it exists
    // and this is one lookup.
    let parent = if parent_rel.as_os_str().is_empty() {
        open_in_root(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)?
    } else {
        ensure_hops(root, parent_rel, Kind::Dir, hops)?
    };
    // `parent` is an O_PATH fd, usable as a dirfd: create the entry there.
    let created = match kind {
        Kind::Dir => rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)),
        Kind::File => rustix::fs::openat(
            &parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    match created {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            // Something is there that did not resolve: a dangling symlink.
            // Continue at its target, inside the root.
            if hops == 0 {
                return Err(Errno::LOOP.into());
            }
            let target = rustix::fs::readlinkat(&parent, name, Vec::new())?;
            let target = Path::new(OsStr::from_bytes(target.as_bytes()));
            let next = if target.is_absolute() {
                relative(target)
            } else {
                parent_rel.join(relative(target))
            };
            return ensure_hops(root, &next, kind, hops - 1);
        }
        Err(e) => return Err(e.into()),
    }
    // What was just made, opened beneath its parent without following any
    // symlink: a swap between the two calls fails instead of escaping.
    Ok(openat2_retry(
        &parent,
        name,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// `path` with its root and `.` components removed; `..` is kept (openat2
/// clamps it to the root).
pub fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

/// The `/proc/self/fd/N` path of `fd`, for syscalls that only take paths.
/// The caller must keep `fd` open while the path is in use.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// True when `name` is a single, normal path component.
pub fn is_plain_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = rustix::fs::open(dir.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .expect("open root");
        (dir, fd)
    }

    #[test]
    fn creates_nested_dirs_inside_root() {
        let (dir, fd) = root();
        ensure_in_root(fd.as_fd(), Path::new("/a/b/c"), Kind::Dir).expect("ensure");
        assert!(dir.path().join("a/b/c").is_dir());
    }

    #[test]
    fn creates_file_at_end() {
        let (dir, fd) = root();
        ensure_in_root(fd.as_fd(), Path::new("etc/hosts"), Kind::File).expect("ensure");
        assert!(dir.path().join("etc/hosts").is_file());
    }

    #[test]
    fn absolute_symlink_stays_in_root() {
        let (dir, fd) = root();
        let outside = tempfile::tempdir().expect("outside");
        symlink(outside.path(), dir.path().join("evil")).expect("symlink");
        ensure_in_root(fd.as_fd(), Path::new("/evil/x"), Kind::Dir).expect("ensure");
        assert!(
            !outside.path().join("x").exists(),
            "escaped through absolute symlink"
        );
        // The symlink target, re-rooted, was created inside the root.
        let rerooted = dir
            .path()
            .join(outside.path().strip_prefix("/").expect("abs"))
            .join("x");
        assert!(rerooted.is_dir());
    }

    #[test]
    fn dotdot_symlink_stays_in_root() {
        let (dir, fd) = root();
        symlink("../../../../..", dir.path().join("up")).expect("symlink");
        ensure_in_root(fd.as_fd(), Path::new("up/tmp/berth-escape-test"), Kind::Dir)
            .expect("ensure");
        assert!(dir.path().join("tmp/berth-escape-test").is_dir());
    }

    #[test]
    fn dangling_symlink_as_last_component_is_not_followed_out() {
        let (dir, fd) = root();
        let outside = tempfile::tempdir().expect("outside");
        let target = outside.path().join("planted");
        symlink(&target, dir.path().join("link")).expect("symlink");
        ensure_in_root(fd.as_fd(), Path::new("link"), Kind::File).expect("ensure");
        assert!(!target.exists(), "created a file outside the root");
        let rerooted = dir.path().join(target.strip_prefix("/").expect("abs"));
        assert!(rerooted.is_file());
    }

    #[test]
    fn relative_strips_root_and_dots() {
        assert_eq!(
            relative(Path::new("/a/./b/../c")),
            PathBuf::from("a/b/../c")
        );
        assert_eq!(relative(Path::new("/")), PathBuf::new());
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    /// Renames elsewhere on the machine make a scoped lookup through `..`
    /// answer EAGAIN now and then; `open_in_root` tries again instead of
    /// failing.
    #[test]
    fn scoped_lookups_survive_concurrent_renames() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(t.path().join("a/b")).expect("mkdir");
        std::fs::write(t.path().join("a/f"), b"x").expect("write");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renamer = {
            let stop = stop.clone();
            let dir = t.path().join("r");
            std::fs::create_dir(&dir).expect("mkdir");
            std::thread::spawn(move || {
                let (x, y) = (dir.join("x"), dir.join("y"));
                std::fs::write(&x, b"").expect("write");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::rename(&x, &y).expect("rename");
                    std::fs::rename(&y, &x).expect("rename");
                }
            })
        };
        let root = rustix::fs::open(t.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .expect("root");
        let mut failures = 0;
        for _ in 0..20_000 {
            if open_in_root(root.as_fd(), Path::new("a/b/../b/../f"), OFlags::RDONLY).is_err() {
                failures += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        renamer.join().expect("renamer");
        assert_eq!(failures, 0);
    }
}
