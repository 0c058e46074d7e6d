//! Protection of the runtime binary from the containers it starts
//! (CVE-2019-5736).
//!
//! Until it execs the container's program, a container's init runs the
//! runtime binary, and `/proc/<init>/exe` is reachable from inside the
//! container (for example through a `#!/proc/self/exe` entrypoint). A process
//! that opens it could write through it once the runtime exits. So the
//! runtime re-executes itself, before doing anything else, from a private,
//! read-only, detached bind mount of its own binary: every path to the
//! binary the container can reach then ends on a read-only mount. A caller
//! that may not mount (rootless) gets a sealed copy in memory instead,
//! which nothing can write to either (runc's other answer).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags, SealFlags};

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// True when `/proc/self/exe` already lives on a read-only mount (after the
/// re-exec, or because the binary is installed on a read-only filesystem).
pub fn is_protected() -> io::Result<bool> {
    let fd = rustix::fs::open(
        "/proc/self/exe",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstatvfs(&fd)?;
    if st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
        return Ok(true);
    }
    // A sealed copy in memory (see `sealed_copy`).
    let Ok(file) = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return Ok(false);
    };
    Ok(rustix::fs::fcntl_get_seals(&file).is_ok_and(|s| s.contains(SealFlags::WRITE)))
}

/// Re-executes the running binary from a read-only detached mount, with the
/// same arguments and environment. Returns only if it is already protected.
pub fn reexec_protected() -> io::Result<()> {
    if is_protected()? {
        return Ok(());
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)))
        .collect::<io::Result<_>>()?;
    exec_protected(&args)
}

/// Executes the running binary from a read-only detached mount with
/// `args` (argv\[0\] included) and the current environment: how a process
/// that will parent containers (the runtime, berth's supervisor) starts.
/// Returns only on failure.
pub fn exec_protected(args: &[CString]) -> io::Result<()> {
    let tree = open_tree_ro()?;
    Err(exec_fd(tree.as_fd(), args))
}

/// Executes the program open at `fd` (an `O_PATH` descriptor will do) with
/// `args` (argv\[0\] included) and the current environment. Returns only
/// on failure, with the reason.
pub fn exec_fd(fd: BorrowedFd<'_>, args: &[CString]) -> io::Error {
    let env: Vec<CString> = match std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
        })
        .collect::<io::Result<_>>()
    {
        Ok(env) => env,
        Err(e) => return e,
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: `fd` is an open descriptor; the empty path, argv and envp are
    // NUL-terminated strings in null-terminated arrays that outlive the
    // call; execveat returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// The running binary on a private, read-only, detached mount (an
/// `O_PATH`-like descriptor, close-on-exec): spawning a child through
/// `/proc/self/fd/N` starts it protected, without the child re-executing
/// itself.
pub fn protected_binary() -> io::Result<OwnedFd> {
    open_tree_ro()
}

/// Another program on a private, read-only, detached mount, as
/// [`protected_binary`] gives the running one: for a program that will be
/// the parent of containers (berth-shim).
pub fn protected_file(path: &std::path::Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    open_file_tree_ro(&path)
}

/// A detached bind mount of `/proc/self/exe`, made read-only.
fn open_tree_ro() -> io::Result<OwnedFd> {
    open_file_tree_ro(c"/proc/self/exe")
}

fn open_file_tree_ro(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    match open_file_tree_ro_mount(path) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::ENOSYS)) => {
            sealed_copy(path)
        }
        r => r,
    }
}

/// The file copied into a memfd sealed against every change: for a caller
/// without the right to mount (a rootless runtime). Costs a copy of the
/// binary per start, which the mount avoids.
fn sealed_copy(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let mut src = std::fs::File::open(std::ffi::OsStr::from_bytes(path.to_bytes()))?;
    let memfd = rustix::fs::memfd_create(
        "berth-protected",
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )?;
    let mut dst = std::fs::File::from(memfd);
    io::copy(&mut src, &mut dst)?;
    rustix::fs::fcntl_add_seals(
        &dst,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(OwnedFd::from(dst))
}

fn open_file_tree_ro_mount(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: the path is NUL-terminated and outlives the call; open_tree
    // returns a new fd.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree just returned this fd and nothing else owns it.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    crate::mount::setattr_recursive(
        std::os::fd::AsFd::as_fd(&fd),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0,
    )?;
    Ok(fd)
}
