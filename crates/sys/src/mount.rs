//! Mount syscalls. Targets are always file descriptors resolved inside the
//! container root (see [`crate::path`]); the kernel is handed their
//! `/proc/self/fd/N` magic link, so no path string is resolved twice.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::path::fd_path;

/// Raw `MS_*` flags, as the spec's mount options translate to them.
pub type MsFlags = libc::c_ulong;

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in mount argument"))
}

/// `mount(2)` with optional source, type and data.
pub fn mount(
    source: Option<&[u8]>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstring).transpose()?;
    let target = cstring(target.as_os_str().as_bytes())?;
    let fstype = fstype.map(|s| cstring(s.as_bytes())).transpose()?;
    let data = data.map(|s| cstring(s.as_bytes())).transpose()?;
    let p = |c: &Option<CString>| c.as_deref().map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either null or a NUL-terminated string owned by
    // this frame and alive for the call; mount(2) does not retain them.
    let rc = unsafe {
        libc::mount(
            p(&source),
            target.as_ptr(),
            p(&fstype),
            flags,
            p(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Mounts a filesystem of `fstype` onto the object `target` refers to.
pub fn mount_fs_at(
    source: &str,
    target: BorrowedFd<'_>,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> io::Result<()> {
    mount(
        Some(source.as_bytes()),
        &fd_path(target),
        Some(fstype),
        flags,
        data,
    )
}

/// Bind-mounts `source` (a host path, or a `/proc/self/fd/N` of a verified fd)
/// onto `target`.
pub fn bind_at(source: &Path, target: BorrowedFd<'_>, recursive: bool) -> io::Result<()> {
    let mut flags = libc::MS_BIND;
    if recursive {
        flags |= libc::MS_REC;
    }
    mount(
        Some(source.as_os_str().as_bytes()),
        &fd_path(target),
        None,
        flags,
        None,
    )
}

/// Changes the flags of the bind mount at `target` (read-only, nosuid, ...),
/// keeping the flags the kernel locks on mounts that came from a more
/// privileged namespace (a remount that drops them fails with EPERM).
pub fn remount_bind_at(target: BorrowedFd<'_>, flags: MsFlags) -> io::Result<()> {
    let locked = locked_flags(target)?;
    mount(
        None,
        &fd_path(target),
        None,
        libc::MS_BIND | libc::MS_REMOUNT | flags | locked,
        None,
    )
}

/// Sets mount propagation (`MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE`,
/// `MS_UNBINDABLE`, optionally `| MS_REC`) on `target`.
pub fn set_propagation(target: &Path, flags: MsFlags) -> io::Result<()> {
    mount(None, target, None, flags, None)
}

/// Sets mount propagation on the mount `target` refers to.
pub fn set_propagation_at(target: BorrowedFd<'_>, flags: MsFlags) -> io::Result<()> {
    mount(None, &fd_path(target), None, flags, None)
}

/// The `MS_*` flags of the mount that holds `fd` that an unprivileged
/// remount must preserve.
fn locked_flags(fd: BorrowedFd<'_>) -> io::Result<MsFlags> {
    let st = rustix::fs::fstatvfs(fd)?;
    let f = st.f_flag;
    use rustix::fs::StatVfsMountFlags as V;
    let mut out: MsFlags = 0;
    for (v, ms) in [
        (V::NODEV, libc::MS_NODEV),
        (V::NOEXEC, libc::MS_NOEXEC),
        (V::NOSUID, libc::MS_NOSUID),
        (V::NOATIME, libc::MS_NOATIME),
        (V::NODIRATIME, libc::MS_NODIRATIME),
        (V::RELATIME, libc::MS_RELATIME),
    ] {
        if f.contains(v) {
            out |= ms;
        }
    }
    Ok(out)
}

/// Makes `new_root` the root of the calling process's mount namespace and
/// detaches the old root, with the `pivot_root(".", ".")` idiom: no directory
/// for the old root is needed inside the container.
pub fn pivot_root(new_root: BorrowedFd<'_>) -> io::Result<()> {
    rustix::process::fchdir(new_root)?;
    rustix::process::pivot_root(".", ".")?;
    // The old root is now stacked on top of the new one at ".". Make it a
    // slave so the unmount does not propagate to the host, then detach it.
    set_propagation(Path::new("."), libc::MS_SLAVE | libc::MS_REC)?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)?;
    rustix::process::chdir("/")?;
    Ok(())
}

/// The fallback for a root on ramfs/rootfs, where `pivot_root` is refused:
/// move the root mount onto `/` and chroot into it.
pub fn move_root(new_root: BorrowedFd<'_>) -> io::Result<()> {
    rustix::process::fchdir(new_root)?;
    mount(Some(b"."), Path::new("/"), None, libc::MS_MOVE, None)?;
    rustix::process::chroot(".")?;
    rustix::process::chdir("/")?;
    Ok(())
}

/// `mount_setattr(2)` on the mount `fd` refers to and every mount below it:
/// sets the `MOUNT_ATTR_*` bits in `set`, clears those in `clr`.
pub fn setattr_recursive(fd: BorrowedFd<'_>, set: u64, clr: u64) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    // SAFETY: `attr` is a valid mount_attr of the size passed, the empty
    // path is a NUL-terminated literal, and `fd` is an open descriptor.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Lazily unmounts `path`.
pub fn unmount_detach(path: &Path) -> io::Result<()> {
    Ok(rustix::mount::unmount(
        path,
        rustix::mount::UnmountFlags::DETACH,
    )?)
}
