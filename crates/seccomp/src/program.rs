//! The compiled filter and its installation with `seccomp(2)`.

use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A compiled seccomp filter, ready to be installed.
///
/// Built by [`compile`](crate::compile) in the runtime's parent; it is plain
/// memory, so it survives `fork` and [`Program::load`] needs no allocation.
#[derive(Clone)]
pub struct Program {
    instructions: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    skipped_syscalls: Vec<String>,
}

impl Program {
    pub(crate) fn new(
        instructions: Vec<libc::sock_filter>,
        flags: libc::c_ulong,
        notify: bool,
        listener_path: Option<PathBuf>,
        listener_metadata: Option<String>,
        skipped_syscalls: Vec<String>,
    ) -> Self {
        Self {
            instructions,
            flags,
            notify,
            listener_path,
            listener_metadata,
            skipped_syscalls,
        }
    }

    /// Install the filter on the calling thread.
    ///
    /// Call it in the container's init right before `execve`, or earlier when
    /// the process will lack `no_new_privs` (then it must still hold
    /// `CAP_SYS_ADMIN`). It is one `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`
    /// call on the precompiled BPF: no libseccomp, no allocation.
    ///
    /// Returns the notify listener fd when the profile uses `SCMP_ACT_NOTIFY`
    /// (`SECCOMP_FILTER_FLAG_NEW_LISTENER` is added to the flags). From this
    /// point on the caller's own syscalls go through the filter: hand the fd to
    /// the agent (see [`send_listener_fd`](crate::send_listener_fd)) with
    /// syscalls that the profile does not notify on.
    pub fn load(&self) -> Result<Option<OwnedFd>, Error> {
        let flags = self.load_flags();
        let load_err = |source| Error::Load { flags, source };
        let len = u16::try_from(self.instructions.len())
            .map_err(|_| load_err(io::Error::from_raw_os_error(libc::EINVAL)))?;
        let prog = libc::sock_fprog {
            len,
            // The kernel only reads through this pointer (it copies the program).
            filter: self.instructions.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` describes `self.instructions`, which is borrowed and alive
        // for the whole call, with `len` equal to its length; the kernel copies the
        // program and writes to neither `prog` nor the instructions.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            return Err(load_err(io::Error::last_os_error()));
        }
        if !self.notify {
            return Ok(None);
        }
        let fd =
            RawFd::try_from(rc).map_err(|_| load_err(io::Error::from_raw_os_error(libc::EBADF)))?;
        // SAFETY: with NEW_LISTENER the kernel returned a freshly opened listener
        // fd, owned by nobody else in this process.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The unix socket of the seccomp agent (`linux.seccomp.listenerPath`).
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// Opaque data for the agent (`linux.seccomp.listenerMetadata`), to put in
    /// the container process state's `metadata`.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// Whether [`load`](Self::load) returns a notify fd that must reach the agent.
    pub fn needs_listener(&self) -> bool {
        self.notify
    }

    /// The `flags` argument [`load`](Self::load) passes to `seccomp(2)`.
    pub fn load_flags(&self) -> libc::c_ulong {
        if self.notify {
            self.flags | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            self.flags
        }
    }

    /// The BPF program.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.instructions
    }

    /// Syscall names of the profile that libseccomp does not know and that were
    /// left out of the filter (as runc does), for the caller to report.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped_syscalls
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.instructions.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("notify", &self.notify)
            .field("listener_path", &self.listener_path)
            .field("listener_metadata", &self.listener_metadata)
            .field("skipped_syscalls", &self.skipped_syscalls)
            .finish()
    }
}
