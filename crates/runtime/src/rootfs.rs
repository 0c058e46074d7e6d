//! The container's root filesystem, set up by its init inside the new mount
//! namespace. Every destination is resolved inside the root by file
//! descriptor ([`berth_sys::path`]), and mounts are made onto those fds, so
//! no symlink in the image can move a mount onto a host path
//! (CVE-2021-30465, CVE-2025-31133, CVE-2025-52565).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_cgroups::{Cgroup, HierarchyDir, Layout};
use berth_sys::mount::{self, MsFlags};
use berth_sys::path::{ensure_in_root, fd_path, open_in_root, Kind};
use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{FileType, Mode, OFlags};

use crate::error::{sys, Error, Result};
use crate::plan::{DevicePlan, MountKind, MountPlan, Plan};

const RAMFS_MAGIC: i64 = 0x8584_58f6;
const TMPFS_MAGIC: i64 = 0x0102_1994;

fn what(action: &str, dest: &Path) -> String {
    format!("{action} {}", dest.display())
}

/// The prepared root: its fd, the host's `/dev/null` (opened in this mount
/// namespace, so it can be a bind source for masking), the spec's mounts
/// left for [`prepare_rest`] (indices, in order), and which later steps
/// [`ahead`] took already.
pub struct Prepared {
    pub root: OwnedFd,
    pub devnull: OwnedFd,
    left: Vec<usize>,
    devices_done: bool,
    paths_done: bool,
}

/// Binds the rootfs onto itself (so it is a mount point `pivot_root` can
/// use), applies the root propagation, and performs the spec's mounts but
/// those [`deferred`]: the `cgroup` mounts need the process to be in its
/// cgroup already, so [`prepare_rest`] does them, with what depends on
/// them, once it is.
pub fn prepare(plan: &Plan) -> Result<Prepared> {
    let devnull = open_devnull()?;
    mount::set_propagation(
        Path::new("/"),
        plan.root_propagation & !libc::MS_SHARED | shared_fix(plan),
    )
    .map_err(sys("setting root propagation"))?;
    mount::mount(
        Some(plan.rootfs.as_os_str().as_encoded_bytes()),
        &plan.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(sys(what("bind-mounting rootfs", &plan.rootfs)))?;
    let root = rustix::fs::open(
        &plan.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys(what("opening rootfs", &plan.rootfs))(e.into()))?;

    let userns = plan.namespaces.has(LinuxNamespaceType::User);
    let cgroupns = plan.namespaces.has(LinuxNamespaceType::Cgroup);
    let left = deferred(plan);
    for (i, m) in plan.mounts.iter().enumerate() {
        if !left.contains(&i) {
            mount_one(root.as_fd(), m, userns, cgroupns, None)?;
        }
    }
    Ok(Prepared {
        root,
        devnull,
        left,
        devices_done: false,
        paths_done: false,
    })
}

/// The mounts that wait until the process is in its cgroup (indices, in
/// the spec's order): each `cgroup` mount, and each later mount on, under
/// or above one that waits. The others do not depend on those, so they go
/// first, in their order: Docker's spec puts `/dev/mqueue`, `/dev/shm` and
/// the `/etc` files after `/sys/fs/cgroup`. Where a bind's source lies
/// inside the rootfs, a mount moved ahead could change what it binds, so
/// then everything from the first `cgroup` mount on waits (in order).
fn deferred(plan: &Plan) -> Vec<usize> {
    let Some(first) = plan.mounts.iter().position(|m| m.kind == MountKind::Cgroup) else {
        return Vec::new();
    };
    let sources_inside = plan
        .mounts
        .iter()
        .any(|m| matches!(&m.kind, MountKind::Bind { source } if nested(source, &plan.rootfs)));
    if sources_inside {
        return (first..plan.mounts.len()).collect();
    }
    let mut left: Vec<usize> = Vec::new();
    for (i, m) in plan.mounts.iter().enumerate().skip(first) {
        let waits = m.kind == MountKind::Cgroup
            || left
                .iter()
                .any(|&j| nested(&plan.mounts[j].destination, &m.destination));
        if waits {
            left.push(i);
        }
    }
    left
}

/// Whether `a` and `b` are the same path or one holds the other.
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Takes the steps that would follow the mounts [`prepare`] left, ahead of
/// them, where none of those mounts can change their outcome (see
/// [`steps_ahead`]): the init does them while the parent still creates the
/// cgroup, instead of after.
pub fn ahead(plan: &Plan, p: &mut Prepared, paths: bool, console: bool) -> Result<()> {
    let go = steps_ahead(plan, &p.left, paths, console);
    if go.devices {
        if !dev_is_bind(plan) {
            make_devices(plan, p.root.as_fd())?;
        }
        p.devices_done = true;
    }
    if go.paths {
        protect_paths(plan, p.root.as_fd(), p.devnull.as_fd())?;
        p.paths_done = true;
    }
    Ok(())
}

/// The steps [`ahead`] may take.
#[derive(Debug, PartialEq)]
struct Ahead {
    devices: bool,
    paths: bool,
}

/// Which later steps can go before the mounts `left` (indices). The
/// devices and `/dev` symlinks, when none of those mounts is on, under or
/// above `/dev` or a device. The masked and read-only paths after them,
/// when `paths` allows it (the caller: no hook sees the root in between)
/// and none of them touches a mount left, a read-only tmpfs (made
/// read-only in [`finish`], after them) or, with a `console`,
/// `/dev/console` (bound to the terminal after this).
fn steps_ahead(plan: &Plan, left: &[usize], paths: bool, console: bool) -> Ahead {
    let touches_left = |path: &Path| {
        left.iter()
            .any(|&i| nested(&plan.mounts[i].destination, path))
    };
    let devices = dev_is_bind(plan)
        || (!touches_left(Path::new("/dev"))
            && !plan.devices.iter().any(|d| touches_left(&d.path)));
    let blocked = |path: &PathBuf| {
        touches_left(path)
            || (console && nested(path, Path::new("/dev/console")))
            || plan
                .mounts
                .iter()
                .any(|m| read_only_later(m) && nested(&m.destination, path))
    };
    let paths = paths
        && devices
        && plan
            .masked_paths
            .iter()
            .chain(&plan.readonly_paths)
            .all(|p| !blocked(p));
    Ahead { devices, paths }
}

/// The mounts [`prepare`] left, then the devices and `/dev` symlinks unless
/// [`ahead`] made them. The process is in `cgroup` by now.
pub fn prepare_rest(plan: &Plan, p: &Prepared, cgroup: &Cgroup) -> Result<()> {
    let root = &p.root;
    let userns = plan.namespaces.has(LinuxNamespaceType::User);
    let cgroupns = plan.namespaces.has(LinuxNamespaceType::Cgroup);
    for &i in &p.left {
        mount_one(
            root.as_fd(),
            &plan.mounts[i],
            userns,
            cgroupns,
            Some(cgroup),
        )?;
    }
    if !p.devices_done && !dev_is_bind(plan) {
        make_devices(plan, root.as_fd())?;
    }
    Ok(())
}

/// A `/dev` bound from elsewhere brings its own devices.
fn dev_is_bind(plan: &Plan) -> bool {
    plan.mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && matches!(m.kind, MountKind::Bind { .. }))
}

/// The spec's devices and the `/dev` symlinks.
fn make_devices(plan: &Plan, root: BorrowedFd<'_>) -> Result<()> {
    let userns = plan.namespaces.has(LinuxNamespaceType::User);
    let mut dirs = DirCache::new();
    for d in &plan.devices {
        create_device(root, d, userns, &mut dirs)?;
    }
    dev_symlinks(root, plan)
}

/// The host's /dev/null, checked to be the real character device 1:3 so a
/// planted file cannot stand in for it when paths are masked.
fn open_devnull() -> Result<OwnedFd> {
    let fd = rustix::fs::open("/dev/null", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| sys("opening /dev/null")(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| sys("stat /dev/null")(e.into()))?;
    let is_chr =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice;
    if !is_chr || rustix::fs::major(st.st_rdev) != 1 || rustix::fs::minor(st.st_rdev) != 3 {
        return Err(Error::Init("/dev/null is not the null device".into()));
    }
    Ok(fd)
}

/// A shared root propagation would make pivot_root fail; it is applied to
/// the rootfs mount only, after the pivot (see [`pivot`]).
fn shared_fix(plan: &Plan) -> MsFlags {
    if plan.root_propagation & libc::MS_SHARED != 0 {
        libc::MS_PRIVATE | (plan.root_propagation & libc::MS_REC)
    } else {
        0
    }
}

/// One spec mount. `cgroup` is `None` before the process joined its cgroup,
/// when [`prepare`] stops short of the first `cgroup` mount.
fn mount_one(
    root: BorrowedFd<'_>,
    m: &MountPlan,
    userns: bool,
    cgroupns: bool,
    cgroup: Option<&Cgroup>,
) -> Result<()> {
    let dest = &m.destination;
    match &m.kind {
        MountKind::Bind { source } => {
            let meta = std::fs::metadata(source).map_err(|e| Error::Io {
                what: "bind mount source",
                path: source.clone(),
                source: e,
            })?;
            let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
            let target = ensure_in_root(root, dest, kind)
                .map_err(sys(what("creating mount point", dest)))?;
            mount::bind_at(source, target.as_fd(), m.options.recursive).map_err(sys(format!(
                "bind-mounting {} on {}",
                source.display(),
                dest.display()
            )))?;
        }
        MountKind::Fs { fstype, source } => {
            let target = ensure_in_root(root, dest, Kind::Dir)
                .map_err(sys(what("creating mount point", dest)))?;
            let data = (!m.options.data.is_empty()).then_some(m.options.data.as_str());
            let mut flags = m.options.flags & !libc::MS_REMOUNT;
            if read_only_later(m) {
                // Devices, mount points and files go in first; `finish`
                // makes it read-only (as runc: a `ro` /dev is usual).
                flags &= !libc::MS_RDONLY;
            }
            match mount::mount_fs_at(source, target.as_fd(), fstype, flags, data) {
                Ok(()) => {}
                // sysfs (and mqueue) cannot be mounted in a user namespace
                // that does not own the network namespace: bind the host's.
                Err(e) if userns && e.raw_os_error() == Some(libc::EPERM) && fstype == "sysfs" => {
                    mount::bind_at(Path::new("/sys"), target.as_fd(), true)
                        .map_err(sys(what("bind-mounting /sys on", dest)))?;
                }
                Err(e) => return Err(sys(format!("mounting {fstype} on {}", dest.display()))(e)),
            }
            if fstype == "proc" {
                check_fs_type(root, dest, 0x9fa0)?;
            }
        }
        MountKind::Cgroup => {
            let cg = cgroup.ok_or_else(|| {
                Error::Init("a cgroup mount came before the cgroup was joined".into())
            })?;
            return mount_cgroup(root, m, cgroupns, cg);
        }
    }
    finish_mount(root, m)
}

/// Flags a bind mount could not take at mount time, propagation, and
/// recursive attributes: all applied to the new mount, re-resolved.
fn finish_mount(root: BorrowedFd<'_>, m: &MountPlan) -> Result<()> {
    let dest = &m.destination;
    let is_bind = matches!(m.kind, MountKind::Bind { .. });
    let remount = m.options.flags & !(libc::MS_REC | libc::MS_REMOUNT | libc::MS_BIND);
    if (is_bind && remount != 0)
        || m.options.propagation != 0
        || m.options.attr_set | m.options.attr_clr != 0
    {
        let target =
            open_in_root(root, dest, OFlags::PATH).map_err(sys(what("reopening", dest)))?;
        if is_bind && remount != 0 {
            mount::remount_bind_at(target.as_fd(), remount)
                .map_err(sys(what("remounting", dest)))?;
        }
        if m.options.propagation != 0 {
            mount::set_propagation_at(target.as_fd(), m.options.propagation)
                .map_err(sys(what("setting propagation of", dest)))?;
        }
        if m.options.attr_set | m.options.attr_clr != 0 {
            mount::setattr_recursive(target.as_fd(), m.options.attr_set, m.options.attr_clr)
                .map_err(sys(what("setting recursive attributes of", dest)))?;
        }
    }
    Ok(())
}

fn check_fs_type(root: BorrowedFd<'_>, dest: &Path, magic: i64) -> Result<()> {
    let fd = open_in_root(root, dest, OFlags::PATH).map_err(sys(what("reopening", dest)))?;
    let st = rustix::fs::fstatfs(&fd).map_err(|e| sys(what("statfs", dest))(e.into()))?;
    if st.f_type != magic {
        return Err(Error::Init(format!(
            "{} is not the filesystem just mounted there",
            dest.display()
        )));
    }
    Ok(())
}

/// A `cgroup` mount: with a cgroup namespace, a fresh mount of each
/// hierarchy (rooted at the container's cgroup by the namespace); without
/// one, binds of the container's own cgroup directories. On v1 and hybrid
/// hosts the hierarchies sit in a tmpfs, one directory each, named as on
/// the host.
fn mount_cgroup(root: BorrowedFd<'_>, m: &MountPlan, cgroupns: bool, cg: &Cgroup) -> Result<()> {
    let dest = &m.destination;
    let flags =
        m.options.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME);
    let ro = m.options.flags & libc::MS_RDONLY;
    let target =
        ensure_in_root(root, dest, Kind::Dir).map_err(sys(what("creating mount point", dest)))?;
    let one = |target: BorrowedFd<'_>, h: &HierarchyDir| -> Result<()> {
        if cgroupns {
            let (fstype, data) = if h.v2 {
                ("cgroup2", None)
            } else {
                ("cgroup", Some(h.controllers.join(",")))
            };
            mount::mount_fs_at(fstype, target, fstype, flags | ro, data.as_deref())
                .map_err(sys(format!("mounting {fstype} on {}", dest.display())))
        } else {
            mount::bind_at(&h.dir, target, false)
                .map_err(sys(format!("bind-mounting {}", h.dir.display())))
        }
    };
    let hierarchies = cg.hierarchies();
    if cg.layout() == Layout::Unified {
        if let Some(h) = hierarchies.iter().find(|h| h.v2) {
            one(target.as_fd(), h)?;
        }
        if !cgroupns && ro != 0 {
            let t = open_in_root(root, dest, OFlags::PATH).map_err(sys(what("reopening", dest)))?;
            mount::remount_bind_at(t.as_fd(), ro | flags).map_err(sys(what("remounting", dest)))?;
        }
        return Ok(());
    }
    mount::mount_fs_at("tmpfs", target.as_fd(), "tmpfs", flags, Some("mode=755"))
        .map_err(sys(what("mounting tmpfs for cgroups on", dest)))?;
    for h in &hierarchies {
        let Ok(name) = h.mount_point.strip_prefix(cg.root()) else {
            continue;
        };
        if name.as_os_str().is_empty() {
            continue;
        }
        let sub = dest.join(name);
        let t = ensure_in_root(root, &sub, Kind::Dir).map_err(sys(what("creating", &sub)))?;
        one(t.as_fd(), h)?;
        if !cgroupns {
            let t = open_in_root(root, &sub, OFlags::PATH).map_err(sys(what("reopening", &sub)))?;
            mount::remount_bind_at(t.as_fd(), ro | flags).map_err(sys(what("remounting", &sub)))?;
        }
    }
    if ro != 0 {
        let t = open_in_root(root, dest, OFlags::PATH).map_err(sys(what("reopening", dest)))?;
        mount::mount(
            None,
            &fd_path(t.as_fd()),
            None,
            libc::MS_REMOUNT | ro | flags,
            Some("mode=755"),
        )
        .map_err(sys(what("remounting", dest)))?;
    }
    Ok(())
}

/// Directories holding device nodes, resolved once each.
type DirCache = Vec<(PathBuf, OwnedFd)>;

fn create_device(
    root: BorrowedFd<'_>,
    d: &DevicePlan,
    userns: bool,
    dirs: &mut DirCache,
) -> Result<()> {
    let parent = d.path.parent().unwrap_or(Path::new("/dev"));
    let name = d
        .path
        .file_name()
        .ok_or_else(|| Error::Init(format!("bad device path {}", d.path.display())))?;
    let idx = match dirs.iter().position(|(p, _)| p == parent) {
        Some(i) => i,
        None => {
            let fd =
                ensure_in_root(root, parent, Kind::Dir).map_err(sys(what("creating", parent)))?;
            dirs.push((parent.to_path_buf(), fd));
            dirs.len() - 1
        }
    };
    let dir = &dirs[idx].1;
    let dev = rustix::fs::makedev(d.major as u32, d.minor as u32);
    if !userns {
        let ftype = FileType::from_raw_mode(d.mode);
        let mode = Mode::from_raw_mode(d.mode & 0o7777);
        // Usually a fresh /dev: whatever the rootfs has there is replaced
        // only when it is found.
        let made = match rustix::fs::mknodat(dir, name, ftype, mode, dev) {
            Err(rustix::io::Errno::EXIST) => {
                let _ = rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty());
                rustix::fs::mknodat(dir, name, ftype, mode, dev)
            }
            r => r,
        };
        if let Err(e) = made {
            return Err(sys(what("creating device", &d.path))(e.into()));
        }
        rustix::fs::chownat(
            dir,
            name,
            Some(rustix::fs::Uid::from_raw(d.uid)),
            Some(rustix::fs::Gid::from_raw(d.gid)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| sys(what("chown of device", &d.path))(e.into()))?;
        // The init runs with umask 0, so the node has exactly `mode`.
        return Ok(());
    }
    // In a user namespace mknod is refused: bind the host's device node.
    let target =
        ensure_in_root(root, &d.path, Kind::File).map_err(sys(what("creating", &d.path)))?;
    mount::bind_at(&d.path, target.as_fd(), false)
        .map_err(sys(what("bind-mounting device", &d.path)))
}

fn dev_symlinks(root: BorrowedFd<'_>, plan: &Plan) -> Result<()> {
    let dev = ensure_in_root(root, Path::new("/dev"), Kind::Dir).map_err(sys("creating /dev"))?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    if plan
        .mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev/pts"))
    {
        let _ = rustix::fs::unlinkat(&dev, "ptmx", rustix::fs::AtFlags::empty());
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(sys(format!("creating /dev/{name}"))(e.into())),
        }
    }
    Ok(())
}

/// A read-only tmpfs is mounted writable and made read-only in [`finish`]:
/// what goes into it (the devices of a `/dev`, the mount points of later
/// mounts) is created in between.
fn read_only_later(m: &MountPlan) -> bool {
    matches!(&m.kind, MountKind::Fs { fstype, .. } if fstype == "tmpfs")
        && m.options.flags & libc::MS_RDONLY != 0
}

/// Read-only tmpfs mounts, masked and read-only paths (unless [`ahead`]
/// took them), then the read-only root: the last changes before
/// `pivot_root`, after the createContainer hooks.
pub fn finish(plan: &Plan, p: &Prepared) -> Result<()> {
    let root = p.root.as_fd();
    for m in plan.mounts.iter().filter(|m| read_only_later(m)) {
        let target = open_in_root(root, &m.destination, OFlags::PATH)
            .map_err(sys(what("reopening", &m.destination)))?;
        let flags = m.options.flags & !(libc::MS_REC | libc::MS_REMOUNT | libc::MS_BIND);
        mount::remount_bind_at(target.as_fd(), flags)
            .map_err(sys(what("making read-only", &m.destination)))?;
    }
    if !p.paths_done {
        protect_paths(plan, root, p.devnull.as_fd())?;
    }
    if plan.readonly_root {
        mount::remount_bind_at(root, libc::MS_RDONLY).map_err(sys("making the root read-only"))?;
    }
    Ok(())
}

/// The masked paths (a read-only tmpfs on a directory, `/dev/null` on
/// anything else) and the read-only paths (bound onto themselves,
/// read-only); a path the root lacks is skipped.
fn protect_paths(plan: &Plan, root: BorrowedFd<'_>, devnull: BorrowedFd<'_>) -> Result<()> {
    for p in &plan.masked_paths {
        let target = match open_in_root(root, p, OFlags::PATH) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(sys(what("opening masked path", p))(e)),
        };
        let st = rustix::fs::fstat(&target).map_err(|e| sys(what("stat", p))(e.into()))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            mount::mount_fs_at("tmpfs", target.as_fd(), "tmpfs", libc::MS_RDONLY, None)
                .map_err(sys(what("masking", p)))?;
        } else {
            mount::bind_at(&fd_path(devnull), target.as_fd(), false)
                .map_err(sys(what("masking", p)))?;
        }
    }
    for p in &plan.readonly_paths {
        let target = match open_in_root(root, p, OFlags::PATH) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(sys(what("opening read-only path", p))(e)),
        };
        mount::bind_at(&fd_path(target.as_fd()), target.as_fd(), true)
            .map_err(sys(what("binding", p)))?;
        let again = open_in_root(root, p, OFlags::PATH).map_err(sys(what("reopening", p)))?;
        mount::remount_bind_at(again.as_fd(), libc::MS_RDONLY | libc::MS_REC)
            .map_err(sys(what("making read-only", p)))?;
    }
    Ok(())
}

/// Makes the prepared root the process's root.
pub fn pivot(plan: &Plan, root: BorrowedFd<'_>, no_pivot: bool) -> Result<()> {
    let fs = rustix::fs::fstatfs(root).map_err(|e| sys("statfs of rootfs")(e.into()))?;
    let on_ramfs = matches!(fs.f_type as i64, RAMFS_MAGIC)
        || (fs.f_type as i64 == TMPFS_MAGIC && is_initramfs());
    if no_pivot || on_ramfs {
        hide_host_proc_and_sys(&plan.rootfs)?;
        mount::move_root(root).map_err(sys("moving the root (no pivot_root)"))?;
    } else {
        mount::pivot_root(root).map_err(sys("pivot_root"))?;
    }
    if plan.root_propagation & libc::MS_SHARED != 0 {
        mount::set_propagation(Path::new("/"), plan.root_propagation)
            .map_err(sys("sharing the root"))?;
    }
    Ok(())
}

/// Without pivot_root the host's mounts stay reachable under the moved
/// root, and the kernel lets a process of the container mount a fresh,
/// unmasked procfs (or sysfs) as long as a full one exists in the mount
/// namespace: so every full procfs and sysfs mount outside the rootfs is
/// detached from this (private) namespace first, or covered by a tmpfs where
/// that is refused, as runc does (its test "--no-pivot must not expose bare
/// /proc").
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let info = berth_sys::procfs::read_text("/proc/self/mountinfo")
        .map_err(|e| Error::Init(format!("reading /proc/self/mountinfo: {e}")))?;
    for p in full_proc_and_sys_outside(&info, rootfs) {
        // Never propagate the unmount back to where it came from.
        match mount::set_propagation(&p, libc::MS_SLAVE | libc::MS_REC) {
            Ok(()) => {}
            // A parent already went.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(sys(what("making a slave of", &p))(e)),
        }
        if let Err(e) = mount::unmount_detach(&p) {
            if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) {
                return Err(sys(what("unmounting", &p))(e));
            }
            mount::mount(Some(b"tmpfs"), &p, Some("tmpfs"), 0, None)
                .map_err(sys(what("covering", &p)))?;
        }
    }
    Ok(())
}

/// Mount points of `mountinfo` that are whole (root `/`) procfs or sysfs
/// mounts outside `rootfs`, deepest first.
fn full_proc_and_sys_outside(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next()?;
            let (root, point) = (*f.get(3)?, PathBuf::from(unescape(f.get(4)?)));
            (root == "/" && (fstype == "proc" || fstype == "sysfs") && !point.starts_with(rootfs))
                .then_some(point)
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                u8::try_from(v).ok()
            });
        if let Some(c) = octal {
            out.push(c);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's root is the initial rootfs (ramfs/tmpfs), where pivot_root
/// is refused: detected by `/` being mount id 1's filesystem type rootfs.
fn is_initramfs() -> bool {
    berth_sys::procfs::read_text("/proc/self/mountinfo")
        .map(|s| s.lines().next().is_some_and(|l| l.contains(" - rootfs ")))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that exists wherever the tests run, as the rootfs.
    const ROOTFS: &str = env!("CARGO_MANIFEST_DIR");

    /// runc's default spec (root [`ROOTFS`]), changed by `edit`.
    fn plan_with(edit: impl FnOnce(&mut serde_json::Value)) -> Plan {
        let mut v = crate::spec::default_spec(false);
        v["root"]["path"] = ROOTFS.into();
        edit(&mut v);
        let spec = serde_json::from_value(v).expect("spec");
        crate::plan::plan(spec, PathBuf::from("/")).expect("plan")
    }

    #[test]
    fn runc_defaults_go_ahead_of_the_cgroup_mount() {
        let plan = plan_with(|_| {});
        let done = deferred(&plan);
        assert_eq!(
            done,
            [plan.mounts.len() - 1],
            "runc's cgroup mount is its last"
        );
        let done = &done[..];
        let all = Ahead {
            devices: true,
            paths: true,
        };
        assert_eq!(steps_ahead(&plan, done, true, false), all);
        assert_eq!(steps_ahead(&plan, done, true, true), all);
        // A hook may add to the root before the paths are masked.
        let hooked = steps_ahead(&plan, done, false, false);
        assert_eq!(
            hooked,
            Ahead {
                devices: true,
                paths: false
            }
        );
    }

    #[test]
    fn a_mount_left_on_dev_or_a_masked_path_keeps_them_in_order() {
        let plan = plan_with(|v| {
            v["mounts"]
                .as_array_mut()
                .expect("mounts")
                .push(serde_json::json!({
                    "destination": "/proc/sys", "type": "bind", "source": "/proc/sys",
                    "options": ["rbind"]
                }));
        });
        let at = |dest: &str| {
            plan.mounts
                .iter()
                .position(|m| m.destination == Path::new(dest))
                .expect(dest)
        };
        // /dev left: devices and paths wait.
        let none = Ahead {
            devices: false,
            paths: false,
        };
        assert_eq!(steps_ahead(&plan, &[at("/dev")], true, false), none);
        // A bind over /proc/sys left: /proc/sys is read-only only once that
        // bind is there.
        let devices_only = Ahead {
            devices: true,
            paths: false,
        };
        assert_eq!(
            steps_ahead(&plan, &[at("/proc/sys")], true, false),
            devices_only
        );
        // Masking /dev/console would come before the terminal's bind.
        let plan = plan_with(|v| {
            v["linux"]["maskedPaths"]
                .as_array_mut()
                .expect("maskedPaths")
                .push("/dev/console".into());
        });
        let done = &deferred(&plan)[..];
        assert_eq!(steps_ahead(&plan, done, true, true), devices_only);
        assert!(steps_ahead(&plan, done, true, false).paths);
        // Nothing left to mount: everything may go.
        assert!(steps_ahead(&plan, &[], true, false).paths);
    }

    /// runc's default mounts in the order of Docker's spec.
    fn docker_order(v: &mut serde_json::Value) {
        let order = [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm",
        ];
        let mounts = v["mounts"].as_array_mut().expect("mounts");
        mounts.sort_by_key(|m| order.iter().position(|d| m["destination"] == *d));
        assert_eq!(mounts.len(), order.len());
    }

    #[test]
    fn only_the_cgroup_mount_and_what_nests_with_it_wait() {
        let bind = |dest: &str, source: &str| {
            serde_json::json!({"destination": dest, "type": "bind", "source": source,
                "options": ["rbind"]})
        };
        // Docker's order: /dev/mqueue, /dev/shm and the /etc files after
        // /sys/fs/cgroup go first; a bind under /sys/fs/cgroup waits.
        let plan = plan_with(|v| {
            docker_order(v);
            let mounts = v["mounts"].as_array_mut().expect("mounts");
            mounts.push(bind("/etc/hosts", "/etc/hosts"));
            mounts.push(bind("/sys/fs/cgroup/x", "/tmp"));
            mounts.push(bind("/sys/fs/cgroup/x/y", "/tmp"));
        });
        let dests = |left: &[usize]| -> Vec<PathBuf> {
            left.iter()
                .map(|&i| plan.mounts[i].destination.clone())
                .collect()
        };
        assert_eq!(
            dests(&deferred(&plan)),
            ["/sys/fs/cgroup", "/sys/fs/cgroup/x", "/sys/fs/cgroup/x/y"].map(PathBuf::from)
        );
        // A bind from inside the rootfs could see a mount moved ahead:
        // everything from the cgroup mount on waits.
        let plan = plan_with(|v| {
            docker_order(v);
            let mounts = v["mounts"].as_array_mut().expect("mounts");
            mounts.push(bind("/mnt", &format!("{ROOTFS}/src")));
        });
        let n = plan.mounts.len();
        assert_eq!(deferred(&plan), (4..n).collect::<Vec<_>>());
        // No cgroup mount: nothing waits.
        let plan = plan_with(|v| {
            v["mounts"].as_array_mut().expect("mounts").pop();
        });
        assert!(deferred(&plan).is_empty());
    }

    #[test]
    fn host_proc_and_sys_outside_the_rootfs_are_found_deepest_first() {
        let info = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
23 22 0:22 / /proc rw,nosuid - proc proc rw
24 22 0:23 / /sys rw,nosuid - sysfs sysfs rw
25 23 0:24 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
26 22 0:22 /sys /mnt/proc\\040sys rw - proc proc rw
27 22 0:25 / /my\\040dir/proc rw - proc proc rw
28 22 0:26 / /b/rootfs/proc rw - proc proc rw
29 24 0:27 / /sys/kernel/security rw - securityfs securityfs rw
";
        let got = full_proc_and_sys_outside(info, Path::new("/b/rootfs"));
        assert_eq!(
            got,
            [
                PathBuf::from("/my dir/proc"),
                PathBuf::from("/proc"),
                PathBuf::from("/sys"),
            ]
        );
        assert_eq!(unescape("a\\134b\\777c\\04"), "a\\b\\777c\\04");
    }
}
