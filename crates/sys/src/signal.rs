//! Signals, exit statuses and pidfds.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell convention: the code, or 128 + the signal number.
    pub fn shell_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// Opens a pidfd for `pid`: signals sent through it can never reach a
/// process that later reused the pid.
pub fn pidfd(pid: i32) -> io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// Sends signal number `sig` through a pidfd.
pub fn pidfd_kill(fd: impl AsFd, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal only reads its integer arguments; a null
    // siginfo asks the kernel to fill in the same info as kill(2).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_fd().as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits until the process behind `fd` exits, for at most `timeout`
/// (forever when `None`). Returns true if it exited.
pub fn pidfd_wait_exit(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<bool> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let ts = timeout.map(|t| Timespec {
        tv_sec: t.as_secs() as i64,
        tv_nsec: t.subsec_nanos() as i64,
    });
    loop {
        match poll(&mut fds, ts.as_ref()) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reaps the child `pid`, blocking until it exits.
pub fn wait_child(pid: i32) -> io::Result<Exit> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(decode(status));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Reaps the child `pid` if it has exited.
pub fn try_wait_child(pid: i32) -> io::Result<Option<Exit>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer for the call.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match rc {
        0 => Ok(None),
        r if r == pid => Ok(Some(decode(status))),
        _ => Err(io::Error::last_os_error()),
    }
}

fn decode(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// A set of signals blocked for the calling thread, to be received
/// synchronously with [`SignalSet::wait`]. Used by `run` to forward signals
/// to the container and to notice the container's exit (`SIGCHLD`).
pub struct SignalSet {
    set: libc::sigset_t,
    old: libc::sigset_t,
}

impl SignalSet {
    /// Blocks `signals` and remembers the previous mask.
    pub fn block(signals: &[i32]) -> io::Result<Self> {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t owned by this frame.
        unsafe { libc::sigemptyset(&mut set) };
        for &s in signals {
            // SAFETY: `set` is initialised; an invalid number only fails.
            unsafe { libc::sigaddset(&mut set, s) };
        }
        // SAFETY: both pointers are valid sigset_t values.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Self { set, old })
    }

    /// Waits for one of the blocked signals and returns its number.
    pub fn wait(&self) -> io::Result<i32> {
        loop {
            // SAFETY: `self.set` is an initialised sigset_t; a null siginfo is allowed.
            let rc = unsafe { libc::sigwaitinfo(&self.set, std::ptr::null_mut()) };
            if rc > 0 {
                return Ok(rc);
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }

    /// Restores the signal mask the process had before [`SignalSet::block`];
    /// the child of a fork calls this before it execs.
    pub fn restore(&self) -> io::Result<()> {
        // SAFETY: `self.old` holds the mask saved by pthread_sigmask.
        let rc =
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }
}

/// Blocked signals received through a descriptor (signalfd), so a poll
/// loop can wait on them together with its other descriptors. The
/// previous signal mask comes back on drop.
pub struct SignalFd {
    fd: OwnedFd,
    blocked: SignalSet,
}

impl SignalFd {
    /// Blocks `signals` and opens a non-blocking signalfd for them.
    pub fn new(signals: &[i32]) -> io::Result<SignalFd> {
        let blocked = SignalSet::block(signals)?;
        // SAFETY: `blocked.set` is an initialised sigset_t; -1 asks for a
        // new descriptor, which the kernel returns or fails.
        let fd =
            unsafe { libc::signalfd(-1, &blocked.set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            let _ = blocked.restore();
            return Err(e);
        }
        // SAFETY: signalfd just returned this descriptor; nothing else owns it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(SignalFd { fd, blocked })
    }

    /// The next pending signal, or `None` when none is pending.
    pub fn next(&self) -> io::Result<Option<i32>> {
        // SAFETY: signalfd_siginfo is plain data; all zeroes is valid.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: `info` is a writable buffer of exactly `size` bytes.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n == size as isize {
                return Ok(Some(info.ssi_signo as i32));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                _ => return Err(e),
            }
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SignalFd {
    fn drop(&mut self) {
        let _ = self.blocked.restore();
    }
}

/// Sends signal number `sig` to `pid` with kill(2).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Resets every ignored signal to its default disposition, so the
/// container's process inherits no ignored signal from the runtime (Rust
/// ignores SIGPIPE) or its caller. Handled signals need nothing: exec resets
/// them. The ignored set comes from one read of `/proc/self/status`.
pub fn reset_dispositions() {
    let ignored = crate::procfs::read_text("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        // Unknown: reset them all.
        .unwrap_or(u64::MAX);
    for sig in 1..=64 {
        if ignored & (1u64 << (sig - 1)) == 0 || sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        set_default(sig);
    }
}

/// `rt_sigaction(sig, SIG_DFL)` through the raw syscall: the C library
/// refuses the real-time signals it reserves for itself (32, 33), which a
/// caller may still have ignored.
fn set_default(sig: i32) {
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `act` is a valid kernel sigaction (8-byte mask, as passed)
    // that lives for the call; the old action is not requested.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_signal_is_read_from_the_signalfd() {
        let sfd = SignalFd::new(&[libc::SIGUSR2]).expect("signalfd");
        assert_eq!(sfd.next().expect("read"), None);
        // SAFETY: raise sends SIGUSR2 to this thread, where it is blocked.
        unsafe { libc::raise(libc::SIGUSR2) };
        assert_eq!(sfd.next().expect("read"), Some(libc::SIGUSR2));
        assert_eq!(sfd.next().expect("read"), None);
    }
}
