//! The system calls the shim makes, by number. The release build links no
//! C library, so these are the whole of its interface to the kernel; each
//! wrapper is safe to call and returns the kernel's errno on failure.

use core::arch::asm;
use core::ffi::CStr;

/// A file descriptor number. The shim owns few and closes them by hand.
pub type Fd = i32;

/// An errno value.
pub type Errno = i32;

pub const EINTR: Errno = 4;
pub const EAGAIN: Errno = 11;

pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_APPEND: u32 = 0o2000;
pub const O_CLOEXEC: u32 = 0o2000000;

const AT_FDCWD: isize = -100;
const AT_EMPTY_PATH: usize = 0x1000;
const SEEK_END: usize = 2;
const F_SETFD: usize = 2;
const TIOCGWINSZ: usize = 0x5413;
const TIOCSWINSZ: usize = 0x5414;
const SIG_IGN: usize = 1;
const SIG_BLOCK: usize = 0;
const SIG_SETMASK: usize = 2;
const SFD_CLOEXEC: usize = O_CLOEXEC as usize;
const P_PID: usize = 1;
const WEXITED: usize = 4;
const CLD_EXITED: i32 = 1;
const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;
pub const SIGPIPE: u32 = 13;
pub const SIGWINCH: u32 = 28;

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const LSEEK: usize = 8;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const IOCTL: usize = 16;
    pub const FCNTL: usize = 72;
    pub const FTRUNCATE: usize = 77;
    pub const CLOCK_GETTIME: usize = 228;
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    pub const EXIT_GROUP: usize = 231;
    pub const WAITID: usize = 247;
    pub const OPENAT: usize = 257;
    pub const UNLINKAT: usize = 263;
    pub const PPOLL: usize = 271;
    pub const SIGNALFD4: usize = 289;
    pub const DUP3: usize = 292;
    pub const RENAMEAT2: usize = 316;
    pub const EXECVEAT: usize = 322;
    pub const PIDFD_OPEN: usize = 434;
    pub const CLOSE_RANGE: usize = 436;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const DUP3: usize = 24;
    pub const FCNTL: usize = 25;
    pub const IOCTL: usize = 29;
    pub const UNLINKAT: usize = 35;
    pub const FTRUNCATE: usize = 46;
    pub const OPENAT: usize = 56;
    pub const CLOSE: usize = 57;
    pub const LSEEK: usize = 62;
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const PPOLL: usize = 73;
    pub const SIGNALFD4: usize = 74;
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    pub const EXIT_GROUP: usize = 94;
    pub const WAITID: usize = 95;
    pub const CLOCK_GETTIME: usize = 113;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RENAMEAT2: usize = 276;
    pub const EXECVEAT: usize = 281;
    pub const PIDFD_OPEN: usize = 434;
    pub const CLOSE_RANGE: usize = 436;
}

/// The raw system call.
///
/// # Safety
/// The arguments must be what system call `n` expects: in particular every
/// pointer must be valid for what the kernel reads or writes through it.
#[cfg(target_arch = "x86_64")]
unsafe fn syscall(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers only
    // rcx and r11 besides the return register.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// The raw system call.
///
/// # Safety
/// As for the x86_64 version.
#[cfg(target_arch = "aarch64")]
unsafe fn syscall(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `svc 0` returns in x0
    // and clobbers nothing else.
    unsafe {
        asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

fn check(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(-ret as Errno)
    } else {
        Ok(ret as usize)
    }
}

/// A system call whose arguments are plain numbers (no memory is passed).
fn call(n: usize, a: [usize; 6]) -> Result<usize, Errno> {
    // SAFETY: used only for calls that take numbers or no pointers the
    // kernel dereferences (close, lseek, fcntl F_SETFD, ftruncate, dup3,
    // pidfd_open, close_range, exit_group).
    check(unsafe { syscall(n, a) })
}

pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    let a = [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0];
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    check(unsafe { syscall(nr::READ, a) })
}

pub fn write(fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
    let a = [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0];
    // SAFETY: the kernel reads buf.len() bytes from buf.
    check(unsafe { syscall(nr::WRITE, a) })
}

/// Writes all of `buf`, retrying short writes and interruptions.
pub fn write_all(fd: Fd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(EAGAIN),
            Ok(n) => buf = &buf[n..],
            Err(EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn close(fd: Fd) {
    let _ = call(nr::CLOSE, [fd as usize, 0, 0, 0, 0, 0]);
}

pub fn open(path: &CStr, flags: u32, mode: u32) -> Result<Fd, Errno> {
    let a = [
        AT_FDCWD as usize,
        path.as_ptr() as usize,
        flags as usize,
        mode as usize,
        0,
        0,
    ];
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { syscall(nr::OPENAT, a) }).map(|fd| fd as Fd)
}

/// The size of an open file (its end offset).
pub fn size(fd: Fd) -> Result<u64, Errno> {
    call(nr::LSEEK, [fd as usize, 0, SEEK_END, 0, 0, 0]).map(|n| n as u64)
}

pub fn truncate(fd: Fd) -> Result<(), Errno> {
    call(nr::FTRUNCATE, [fd as usize, 0, 0, 0, 0, 0]).map(drop)
}

pub fn unlink(path: &CStr) -> Result<(), Errno> {
    let a = [AT_FDCWD as usize, path.as_ptr() as usize, 0, 0, 0, 0];
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { syscall(nr::UNLINKAT, a) }).map(drop)
}

pub fn rename(from: &CStr, to: &CStr) -> Result<(), Errno> {
    let a = [
        AT_FDCWD as usize,
        from.as_ptr() as usize,
        AT_FDCWD as usize,
        to.as_ptr() as usize,
        0,
        0,
    ];
    // SAFETY: both paths are NUL-terminated and outlive the call.
    check(unsafe { syscall(nr::RENAMEAT2, a) }).map(drop)
}

/// Moves `fd` onto `to` (which must differ), keeping it open across exec.
pub fn dup_onto(fd: Fd, to: Fd) -> Result<(), Errno> {
    call(nr::DUP3, [fd as usize, to as usize, 0, 0, 0, 0]).map(drop)
}

/// Keeps `fd` open across exec.
pub fn inherit(fd: Fd) -> Result<(), Errno> {
    call(nr::FCNTL, [fd as usize, F_SETFD, 0, 0, 0, 0]).map(drop)
}

/// Marks every descriptor from `first` up close-on-exec.
pub fn cloexec_from(first: Fd) -> Result<(), Errno> {
    let a = [
        first as usize,
        u32::MAX as usize,
        CLOSE_RANGE_CLOEXEC,
        0,
        0,
        0,
    ];
    call(nr::CLOSE_RANGE, a).map(drop)
}

pub fn pidfd_open(pid: i32) -> Result<Fd, Errno> {
    call(nr::PIDFD_OPEN, [pid as usize, 0, 0, 0, 0, 0]).map(|fd| fd as Fd)
}

/// Seconds and nanoseconds since the epoch.
pub fn now() -> (i64, u32) {
    let mut ts = [0i64; 2];
    let a = [0, ts.as_mut_ptr() as usize, 0, 0, 0, 0];
    // SAFETY: CLOCK_REALTIME (0) into a struct timespec (two 64-bit words).
    match check(unsafe { syscall(nr::CLOCK_GETTIME, a) }) {
        Ok(_) => (ts[0], ts[1] as u32),
        Err(_) => (0, 0),
    }
}

pub const POLLIN: i16 = 0x1;

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PollFd {
    pub fd: Fd,
    pub events: i16,
    pub revents: i16,
}

/// Waits for any of `fds`; `timeout_ms` None waits for ever.
pub fn poll(fds: &mut [PollFd], timeout_ms: Option<u32>) -> Result<usize, Errno> {
    let ts = timeout_ms.map(|ms| [i64::from(ms / 1000), i64::from(ms % 1000) * 1_000_000]);
    let tsp = ts.as_ref().map_or(0, |t| t.as_ptr() as usize);
    let a = [fds.as_mut_ptr() as usize, fds.len(), tsp, 0, 8, 0];
    // SAFETY: the kernel reads and updates fds.len() pollfd structs; the
    // timespec, when given, outlives the call; no signal mask is passed.
    check(unsafe { syscall(nr::PPOLL, a) })
}

/// The rows and columns of a terminal.
pub fn winsize(fd: Fd) -> Result<[u16; 4], Errno> {
    let mut ws = [0u16; 4];
    let a = [fd as usize, TIOCGWINSZ, ws.as_mut_ptr() as usize, 0, 0, 0];
    // SAFETY: TIOCGWINSZ writes a struct winsize (four u16) into ws.
    check(unsafe { syscall(nr::IOCTL, a) }).map(|_| ws)
}

pub fn set_winsize(fd: Fd, ws: &[u16; 4]) -> Result<(), Errno> {
    let a = [fd as usize, TIOCSWINSZ, ws.as_ptr() as usize, 0, 0, 0];
    // SAFETY: TIOCSWINSZ reads a struct winsize (four u16) from ws.
    check(unsafe { syscall(nr::IOCTL, a) }).map(drop)
}

/// The kernel's struct sigaction, as rt_sigaction takes it.
#[repr(C)]
struct SigAction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Writes to a reader that went away fail with EPIPE instead of killing
/// the shim.
pub fn ignore(sig: u32) {
    let act = SigAction {
        handler: SIG_IGN,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let a = [sig as usize, &act as *const SigAction as usize, 0, 8, 0, 0];
    // SAFETY: a valid struct sigaction for SIG_IGN (no handler runs, so no
    // restorer is needed); the old action is not asked for.
    let _ = check(unsafe { syscall(nr::RT_SIGACTION, a) });
}

/// Blocks `sig` and returns a signalfd that reads it.
pub fn signalfd(sig: u32) -> Result<Fd, Errno> {
    let set: u64 = 1 << (sig - 1);
    let a = [SIG_BLOCK, &set as *const u64 as usize, 0, 8, 0, 0];
    // SAFETY: a one-word signal set, read by the kernel; no old set asked.
    check(unsafe { syscall(nr::RT_SIGPROCMASK, a) })?;
    let a = [
        usize::MAX,
        &set as *const u64 as usize,
        8,
        SFD_CLOEXEC,
        0,
        0,
    ];
    // SAFETY: -1 asks for a new signalfd; the set is read by the kernel.
    check(unsafe { syscall(nr::SIGNALFD4, a) }).map(|fd| fd as Fd)
}

/// Unblocks every signal (before handing the process to another program).
pub fn unblock_all() {
    let set: u64 = 0;
    let a = [SIG_SETMASK, &set as *const u64 as usize, 0, 8, 0, 0];
    // SAFETY: an empty one-word signal set, read by the kernel.
    let _ = check(unsafe { syscall(nr::RT_SIGPROCMASK, a) });
}

/// Waits for child `pid` to exit; returns its status as a shell reports
/// it (the exit code, or 128 + the signal that killed it).
pub fn wait_exit(pid: i32) -> Result<i32, Errno> {
    // siginfo_t is 128 bytes; si_code is at offset 8, si_status at 24.
    let mut info = [0i32; 32];
    loop {
        let a = [
            P_PID,
            pid as usize,
            info.as_mut_ptr() as usize,
            WEXITED,
            0,
            0,
        ];
        // SAFETY: the kernel fills a 128-byte siginfo_t in `info`; no
        // rusage is asked for.
        match check(unsafe { syscall(nr::WAITID, a) }) {
            Ok(_) => break,
            Err(EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    let (code, status) = (info[2], info[6]);
    Ok(if code == CLD_EXITED {
        status
    } else {
        128 + status
    })
}

/// Executes the program open at `fd` with `argv` and `envp` (both
/// null-terminated arrays of NUL-terminated strings). Returns only on
/// failure.
///
/// # Safety
/// `argv` must end with a null pointer and every other entry point to a
/// NUL-terminated string; `envp` must be a null-terminated array of them.
pub unsafe fn exec_fd(fd: Fd, argv: &[*const u8], envp: *const *const u8) -> Errno {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    let a = [
        fd as usize,
        c"".as_ptr() as usize,
        argv.as_ptr() as usize,
        envp as usize,
        AT_EMPTY_PATH,
        0,
    ];
    // SAFETY: the caller vouches for argv and envp; the path is empty and
    // AT_EMPTY_PATH executes fd itself.
    match check(unsafe { syscall(nr::EXECVEAT, a) }) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

/// Ends the process (the release build's only way out; std does it otherwise).
#[cfg(panic = "abort")]
pub fn exit(code: i32) -> ! {
    loop {
        let _ = call(nr::EXIT_GROUP, [code as usize, 0, 0, 0, 0, 0]);
    }
}
