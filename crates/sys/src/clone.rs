//! Process creation with `clone3`, placing the child in new namespaces and
//! (on cgroup v2) directly into its cgroup, with a clean fallback to
//! `clone(2)` on kernels without `clone3` or without `CLONE_INTO_CGROUP`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of linux/sched.h (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of the fork the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The parent, with the child's pid and whether the child was started
    /// inside the requested cgroup.
    Parent {
        pid: i32,
        in_cgroup: bool,
    },
    Child,
}

/// Forks a child into new namespaces (`flags` are `CLONE_NEW*` bits), with
/// `SIGCHLD` as its exit signal and, when `cgroup` is given and the kernel
/// supports it, inside that cgroup v2 directory.
///
/// # Safety
/// Like `fork(2)`: the calling process must be single-threaded, or the child
/// must restrict itself to async-signal-safe work until it execs.
pub unsafe fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    loop {
        // SAFETY: `args` is a valid, fully initialised clone_args that lives
        // for the call; without CLONE_VM the child gets a copy of the address
        // space, so both sides return normally (the caller upholds the fork
        // contract documented above).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        match rc {
            0 => return Ok(Forked::Child),
            pid if pid > 0 => {
                return Ok(Forked::Parent {
                    pid: pid as i32,
                    in_cgroup: args.flags & CLONE_INTO_CGROUP != 0,
                })
            }
            _ => {}
        }
        let err = Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::INVAL);
        match err {
            // An older kernel, or a cgroup it cannot clone into: retry plain.
            Errno::NOSYS | Errno::TOOBIG if args.flags & CLONE_INTO_CGROUP != 0 => {
                args.flags &= !CLONE_INTO_CGROUP;
                args.cgroup = 0;
            }
            Errno::NOSYS => {
                // SAFETY: as above; clone(2) without a new stack behaves like fork.
                return unsafe { legacy_clone(flags) };
            }
            e => return Err(e.into()),
        }
    }
}

/// Joins the namespace `fd` refers to; `nstype` is its `CLONE_NEW*` flag
/// (the kernel checks that the fd is of that type).
pub fn setns(fd: BorrowedFd<'_>, nstype: u64) -> io::Result<()> {
    // SAFETY: `fd` is an open descriptor for the call; setns takes integers.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype as libc::c_int) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `clone(2)` without a stack: fork semantics with namespace flags.
unsafe fn legacy_clone(flags: u64) -> io::Result<Forked> {
    // SAFETY: no new stack and no CLONE_VM, so the child runs on a copy of
    // the parent's stack exactly as after fork(2); the other pointer
    // arguments are null and unused for these flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match rc {
        0 => Ok(Forked::Child),
        pid if pid > 0 => Ok(Forked::Parent {
            pid: pid as i32,
            in_cgroup: false,
        }),
        _ => Err(io::Error::last_os_error()),
    }
}
