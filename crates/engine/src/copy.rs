//! `cp`: files between a container and the host, or a tar stream, with
//! Docker's semantics (see [`plan`]).
//!
//! Every path inside the container is resolved by file descriptor from
//! the container's root with `openat2(RESOLVE_IN_ROOT)`; the source tree is
//! walked with `O_NOFOLLOW` relative to directory fds, and the destination
//! is written by the image crate's hardened extractor rooted at the
//! destination directory's fd. A symlink in the container (`/x -> /`,
//! `../../..`) therefore resolves inside the container, never on the host.
//!
//! The container's root: a running container's is `/proc/PID/root`, its
//! own view (volumes and bind mounts included). A stopped one's overlay is
//! mounted on its `rootfs/` for the copy, under the container's lock (the
//! supervisor takes it to start the container, so a start waits for the
//! copy), and unmounted after. Its volumes are not visible then.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use crate::error::{io_err, Error, Result};
use crate::record::{self, Locked, Status};
use crate::Engine;

/// What the user asked to copy from or to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Host(String),
    Container {
        name: String,
        path: String,
    },
    /// `-`: a tar stream on stdin or stdout.
    Stream,
}

/// Docker's split of a `cp` argument: `CONTAINER:PATH`, unless the text
/// is an absolute path or starts with `.` before its first colon.
pub fn parse_location(arg: &str) -> Location {
    if arg == "-" {
        return Location::Stream;
    }
    if arg.starts_with('/') {
        return Location::Host(arg.to_owned());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') && !c.is_empty() => Location::Container {
            name: c.to_owned(),
            path: p.to_owned(),
        },
        _ => Location::Host(arg.to_owned()),
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-a`: keep the archive's owners when writing into the container
    /// (otherwise the container's root owns what is copied in).
    pub archive: bool,
    /// `-L`: follow a symlink that is the source.
    pub follow: bool,
}

/// What is at the destination path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestKind {
    Dir,
    File,
    /// Nothing, in an existing directory.
    Missing,
}

/// Where the copy lands: the directory to extract into and the name the
/// source's top entry gets there (`None`: the source directory's
/// contents go straight in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub dir: PathBuf,
    pub top: Option<OsString>,
}

/// Docker's rules. `src_is_dir`; `src` as given (a trailing `/.` copies a
/// directory's contents); `dest` as given and what is there.
pub fn plan(src: &str, src_is_dir: bool, dest: &str, kind: DestKind) -> Result<Plan> {
    let contents = src_is_dir && (src.ends_with("/.") || src == ".");
    let src_base = base(src);
    let dest_path = PathBuf::from(if dest.is_empty() { "." } else { dest });
    match kind {
        DestKind::Dir => Ok(Plan {
            dir: dest_path,
            top: if contents || src_base.is_none() {
                None
            } else {
                src_base
            },
        }),
        DestKind::File if src_is_dir => Err(copy_err(format!(
            "cannot copy directory: {dest} exists and is not a directory"
        ))),
        DestKind::Missing if !src_is_dir && (dest.ends_with('/') || dest.ends_with("/.")) => {
            Err(copy_err(format!(
                "no such directory: {dest} (the destination directory must exist to copy a file into it)"
            )))
        }
        DestKind::File | DestKind::Missing => Ok(Plan {
            dir: dest_path
                .parent()
                .map(Path::to_owned)
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from(".")),
            top: base(dest),
        }),
    }
}

/// The last normal component of `p` (`None` for `/`, `.`).
fn base(p: &str) -> Option<OsString> {
    Path::new(p).components().rev().find_map(|c| match c {
        Component::Normal(n) => Some(n.to_owned()),
        _ => None,
    })
}

fn copy_err(msg: impl Into<String>) -> Error {
    Error::Copy(msg.into())
}

/// A root to resolve paths in: the container's, or the host's `/`.
struct Root {
    fd: OwnedFd,
    /// A stopped container's overlay, mounted for the copy.
    mounted: Option<crate::record::Paths>,
    _lock: Option<Locked>,
    /// Shown in errors: "container NAME" or "the host".
    what: String,
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Some(p) = &self.mounted {
            if let Err(e) = crate::lifecycle::unmount_rootfs(p) {
                tracing::warn!(error = %e, "unmounting the rootfs after cp");
            }
        }
    }
}

fn open_dir_path(p: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("opening", p)(e.into()))
}

fn host_root() -> Result<Root> {
    Ok(Root {
        fd: open_dir_path(Path::new("/"))?,
        mounted: None,
        _lock: None,
        what: "the host".into(),
    })
}

/// A host path made absolute against the working directory.
fn host_path(p: &str) -> Result<String> {
    if p.starts_with('/') {
        return Ok(p.to_owned());
    }
    let cwd = std::env::current_dir().map_err(io_err("reading", "the working directory"))?;
    let mut s = cwd.to_string_lossy().into_owned();
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str(p);
    Ok(s)
}

impl Engine {
    fn container_root(&self, name: &str) -> Result<Root> {
        let id = self.resolve(name)?;
        let c = self.container(&id)?;
        let what = format!("container {name}");
        if let Some(root) = running_root(&c, &what)? {
            return Ok(root);
        }
        let paths = self.paths(&id);
        let lock = Locked::acquire(paths.clone())?;
        let state = lock.state()?;
        if matches!(
            state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) && record::alive(state.pid, state.pid_start)
        {
            // Started meanwhile.
            drop(lock);
            return running_root(&self.container(&id)?, &what)?
                .ok_or_else(|| Error::NotRunning(id.clone()));
        }
        let was_mounted = crate::lifecycle::is_mountpoint(&paths.rootfs());
        crate::lifecycle::mount_rootfs(&paths, &c.record)?;
        let mounted = (!was_mounted).then(|| paths.clone());
        let fd = match open_dir_path(&paths.rootfs()) {
            Ok(fd) => fd,
            Err(e) => {
                if mounted.is_some() {
                    let _ = crate::lifecycle::unmount_rootfs(&paths);
                }
                return Err(e);
            }
        };
        Ok(Root {
            fd,
            mounted,
            _lock: Some(lock),
            what,
        })
    }

    /// `cp SRC DEST` where at least one side is a container.
    pub fn copy(&self, src: &Location, dest: &Location, opts: CopyOptions) -> Result<()> {
        let (src_root, src_path) = match src {
            Location::Container { name, path } => (self.container_root(name)?, path.clone()),
            Location::Host(p) => (host_root()?, host_path(p)?),
            Location::Stream => {
                let (root, path) = match dest {
                    Location::Container { name, path } => (self.container_root(name)?, path),
                    _ => return Err(copy_err("must specify at least one container source")),
                };
                return extract_stream(io::stdin().lock(), &root, path, opts);
            }
        };
        let (dest_root, dest_path, owner) = match dest {
            Location::Container { name, path } => {
                if matches!(src, Location::Container { .. }) {
                    return Err(copy_err("copying between containers is not supported"));
                }
                let owner = if opts.archive { None } else { Some((0, 0)) };
                (self.container_root(name)?, path.clone(), owner)
            }
            Location::Host(p) => {
                if !matches!(src, Location::Container { .. }) {
                    return Err(copy_err("must specify at least one container source"));
                }
                let me = (
                    rustix::process::geteuid().as_raw(),
                    rustix::process::getegid().as_raw(),
                );
                (host_root()?, host_path(p)?, Some(me))
            }
            Location::Stream => {
                let (fd, is_dir) = open_source(&src_root, &src_path, opts.follow)?;
                let top = if is_dir && (src_path.ends_with("/.") || base(&src_path).is_none()) {
                    None
                } else {
                    Some(base(&src_path).unwrap_or_else(|| OsString::from("rootfs")))
                };
                let mut out = io::stdout().lock();
                write_tar(&mut out, fd.as_fd(), top.as_deref())?;
                return out.flush().map_err(io_err("writing", "stdout"));
            }
        };
        let (src_fd, src_is_dir) = open_source(&src_root, &src_path, opts.follow)?;
        let kind = dest_kind(&dest_root, &dest_path)?;
        let plan = plan(&src_path, src_is_dir, &dest_path, kind)?;
        let dir = berth_sys::path::open_in_root(
            dest_root.fd.as_fd(),
            &plan.dir,
            OFlags::RDONLY | OFlags::DIRECTORY,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => copy_err(format!(
                "no such directory: {} in {}",
                plan.dir.display(),
                dest_root.what
            )),
            _ => io_err("opening", &plan.dir)(e),
        })?;
        let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| io_err("creating a pipe", "cp")(e.into()))?;
        let (reader, mut writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let r = write_tar(&mut writer, src_fd.as_fd(), plan.top.as_deref());
                drop(writer);
                r
            });
            let extracted = berth_image::unpack::extract(
                reader,
                dir,
                &Default::default(),
                "copy",
                berth_image::unpack::ExtractOptions { owner },
            );
            let produced = producer
                .join()
                .unwrap_or_else(|_| Err(copy_err("the archive writer panicked")));
            produced?;
            extracted.map(drop).map_err(|e| copy_err(e.to_string()))
        })
    }
}

/// The root of a running container, `None` when it is not running.
fn running_root(c: &crate::lifecycle::Container, what: &str) -> Result<Option<Root>> {
    let s = &c.state;
    if !matches!(
        s.status,
        Status::Running | Status::Paused | Status::Restarting
    ) || !record::alive(s.pid, s.pid_start)
    {
        return Ok(None);
    }
    let fd = open_dir_path(Path::new(&format!("/proc/{}/root", s.pid)))?;
    // Checked after opening: a recycled pid would have given another root.
    if !record::alive(s.pid, s.pid_start) {
        return Ok(None);
    }
    Ok(Some(Root {
        fd,
        mounted: None,
        _lock: None,
        what: what.to_owned(),
    }))
}

/// `cp - CONTAINER:DIR`: a tar stream extracted into an existing directory.
fn extract_stream(input: impl Read, root: &Root, path: &str, opts: CopyOptions) -> Result<()> {
    let dir = berth_sys::path::open_in_root(
        root.fd.as_fd(),
        Path::new(path),
        OFlags::RDONLY | OFlags::DIRECTORY,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTDIR) | Some(libc::ENOENT) => copy_err(format!(
            "extraction point is not a directory: {path} in {}",
            root.what
        )),
        _ => io_err("opening", path)(e),
    })?;
    let owner = if opts.archive { None } else { Some((0, 0)) };
    berth_image::unpack::extract(
        input,
        dir,
        &Default::default(),
        "the archive on stdin",
        berth_image::unpack::ExtractOptions { owner },
    )
    .map(drop)
    .map_err(|e| copy_err(e.to_string()))
}

/// The source object (an `O_PATH` fd; a final symlink followed only with
/// `follow`) and whether it is a directory.
fn open_source(root: &Root, path: &str, follow: bool) -> Result<(OwnedFd, bool)> {
    let mut flags = OFlags::PATH;
    if !follow && !path.ends_with('/') && !path.ends_with("/.") {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = berth_sys::path::open_in_root(root.fd.as_fd(), Path::new(path), flags).map_err(
        |e| match e.raw_os_error() {
            Some(libc::ENOENT) => {
                copy_err(format!("Could not find the file {path} in {}", root.what))
            }
            Some(libc::ENOTDIR) => copy_err(format!("not a directory: {path}")),
            _ => io_err("opening", path)(e),
        },
    )?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err("reading", path)(e.into()))?;
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if !is_dir && (path.ends_with('/') || path.ends_with("/.")) {
        return Err(copy_err(format!("not a directory: {path}")));
    }
    Ok((fd, is_dir))
}

fn dest_kind(root: &Root, path: &str) -> Result<DestKind> {
    // Following a final symlink (within the root), as Docker does.
    match berth_sys::path::open_in_root(root.fd.as_fd(), Path::new(path), OFlags::PATH) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).map_err(|e| io_err("reading", path)(e.into()))?;
            Ok(
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    DestKind::Dir
                } else {
                    DestKind::File
                },
            )
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(DestKind::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            Err(copy_err(format!("not a directory: {path}")))
        }
        Err(e) => Err(io_err("opening", path)(e)),
    }
}

/// Writes the tree at `fd` as a tar stream: named `top` (its children
/// `top/...`), or, with `None`, just the children of the directory.
pub fn write_tar(out: &mut dyn Write, fd: BorrowedFd<'_>, top: Option<&OsStr>) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    match top {
        Some(name) => emit(&mut b, fd, Path::new(name))?,
        None => emit_children(&mut b, fd, Path::new(""))?,
    }
    b.finish().map_err(io_err("writing", "the archive"))
}

fn emit(b: &mut tar::Builder<&mut dyn Write>, fd: BorrowedFd<'_>, name: &Path) -> Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| io_err("reading", name)(e.into()))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    let w = |e: io::Error| io_err("writing the archive entry", name)(e);
    match kind {
        FileType::Directory => {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, name, io::empty()).map_err(w)?;
            emit_children(b, fd, name)
        }
        FileType::RegularFile => {
            let f = std::fs::File::open(berth_sys::path::fd_path(fd))
                .map_err(io_err("opening", name))?;
            let size = st.st_size as u64;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            // Exactly `size` bytes, even if the file changes meanwhile.
            let data = f.take(size).chain(io::repeat(0)).take(size);
            b.append_data(&mut h, name, data).map_err(w)
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(fd, "", Vec::new())
                .map_err(|e| io_err("reading link", name)(e.into()))?;
            h.set_entry_type(tar::EntryType::Symlink);
            let target = Path::new(OsStr::from_bytes(target.as_bytes()));
            b.append_link(&mut h, name, target).map_err(w)
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            h.set_entry_type(match kind {
                FileType::CharacterDevice => tar::EntryType::Char,
                FileType::BlockDevice => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            let dev = st.st_rdev;
            h.set_device_major(rustix::fs::major(dev)).map_err(w)?;
            h.set_device_minor(rustix::fs::minor(dev)).map_err(w)?;
            b.append_data(&mut h, name, io::empty()).map_err(w)
        }
        // Sockets do not travel in archives.
        _ => Ok(()),
    }
}

fn emit_children(
    b: &mut tar::Builder<&mut dyn Write>,
    fd: BorrowedFd<'_>,
    name: &Path,
) -> Result<()> {
    let dir = rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("opening", name)(e.into()))?;
    let mut names: Vec<OsString> = Vec::new();
    let entries =
        rustix::fs::Dir::read_from(&dir).map_err(|e| io_err("reading", name)(e.into()))?;
    for e in entries {
        let e = e.map_err(|e| io_err("reading", name)(e.into()))?;
        let n = OsStr::from_bytes(e.file_name().to_bytes());
        if n != "." && n != ".." {
            names.push(n.to_owned());
        }
    }
    names.sort();
    for n in names {
        let child = match rustix::fs::openat(
            &dir,
            n.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(c) => c,
            // Gone meanwhile.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_err("opening", name.join(&n))(e.into())),
        };
        emit(b, child.as_fd(), &name.join(&n))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(
            parse_location("web:/etc/hosts"),
            Location::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(parse_location("/abs:x"), Location::Host("/abs:x".into()));
        assert_eq!(parse_location("./a:b"), Location::Host("./a:b".into()));
        assert_eq!(parse_location("plain"), Location::Host("plain".into()));
        assert_eq!(parse_location("-"), Location::Stream);
    }

    fn p(dir: &str, top: Option<&str>) -> Plan {
        Plan {
            dir: PathBuf::from(dir),
            top: top.map(OsString::from),
        }
    }

    #[test]
    fn dockers_destination_rules() {
        use DestKind::*;
        // A file: into an existing directory, onto a file, or as a new name.
        assert_eq!(plan("/a/f", false, "/d", Dir).unwrap(), p("/d", Some("f")));
        assert_eq!(
            plan("/a/f", false, "/d/g", File).unwrap(),
            p("/d", Some("g"))
        );
        assert_eq!(
            plan("/a/f", false, "/d/new", Missing).unwrap(),
            p("/d", Some("new"))
        );
        assert_eq!(
            plan("f", false, "new", Missing).unwrap(),
            p(".", Some("new"))
        );
        let e = plan("/a/f", false, "/d/new/", Missing).unwrap_err();
        assert!(e.to_string().contains("no such directory"), "{e}");
        // A directory: into an existing one, its contents with `/.`, or
        // as a new directory; never onto a file.
        assert_eq!(
            plan("/a/dir", true, "/d", Dir).unwrap(),
            p("/d", Some("dir"))
        );
        assert_eq!(
            plan("/a/dir/", true, "/d", Dir).unwrap(),
            p("/d", Some("dir"))
        );
        assert_eq!(plan("/a/dir/.", true, "/d", Dir).unwrap(), p("/d", None));
        assert_eq!(
            plan("/a/dir", true, "/d/n", Missing).unwrap(),
            p("/d", Some("n"))
        );
        assert_eq!(
            plan("/a/dir/.", true, "/d/n", Missing).unwrap(),
            p("/d", Some("n"))
        );
        let e = plan("/a/dir", true, "/d/file", File).unwrap_err();
        assert!(e.to_string().contains("cannot copy directory"), "{e}");
        // The root of a container: its contents.
        assert_eq!(plan("/", true, "/d", Dir).unwrap(), p("/d", None));
    }

    #[test]
    fn a_tree_is_archived_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("dir");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), b"data").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap();
        let fd = open_dir_path(&d).unwrap();
        let mut out = Vec::new();
        write_tar(&mut out, fd.as_fd(), Some(OsStr::new("top"))).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            let mut body = String::new();
            e.read_to_string(&mut body).unwrap();
            seen.push((path, kind, body));
        }
        assert_eq!(
            (seen[0].0.as_str(), seen[0].1),
            ("top", tar::EntryType::Directory)
        );
        assert!(seen
            .iter()
            .any(|(p, k, _)| p == "top/link" && *k == tar::EntryType::Symlink));
        assert!(seen.iter().any(|(p, _, b)| p == "top/sub/f" && b == "data"));
        assert!(!seen.iter().any(|(_, _, b)| b.contains("root:")));
    }
}
