//! The last steps before `execve` that the container's init and a process
//! exec'd into a running container share: rlimits, identity and
//! capabilities, the working directory (checked to be inside the root,
//! CVE-2024-21626), descriptors, signals and the program lookup.

use std::convert::Infallible;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{sys, Error, Result};
use crate::plan::ProcessPlan;

/// Sets the process's resource limits.
pub fn apply_rlimits(p: &ProcessPlan) -> Result<()> {
    for &(res, soft, hard) in &p.rlimits {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `lim` is a valid rlimit for the call.
        if unsafe { libc::setrlimit(res as _, &lim) } != 0 {
            return Err(sys(format!("setrlimit({res}, {soft}, {hard})"))(
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// Loads the seccomp filter; when it has a notify listener, sends the
/// listener fd with the runtime spec's container process state (`state`
/// is built only then).
pub fn load_seccomp(
    prog: &berth_seccomp::Program,
    oci_version: &str,
    host_pid: i32,
    state: impl FnOnce() -> serde_json::Value,
) -> Result<()> {
    let notify = prog
        .load()
        .map_err(|e| Error::Init(format!("loading the seccomp filter: {e}")))?;
    if let (Some(fd), Some(path)) = (notify, prog.listener_path()) {
        let state = serde_json::json!({
            "ociVersion": oci_version,
            "fds": ["seccompFd"],
            "pid": host_pid,
            "metadata": prog.listener_metadata().unwrap_or_default(),
            "state": state(),
        });
        let state = serde_json::to_vec(&state).unwrap_or_default();
        berth_seccomp::send_listener_fd(path, &state, std::os::fd::AsFd::as_fd(&fd))
            .map_err(|e| Error::Init(format!("sending the seccomp notify fd: {e}")))?;
    }
    Ok(())
}

/// The first try at `process.cwd`, before the process takes its user and
/// capabilities: the runtime's privileges reach a directory that the user
/// without CAP_DAC_OVERRIDE may not (uid 0 with runc's default
/// capabilities and a `/root` owned by someone else), as runc does.
/// Returns false when that was refused (EACCES, EPERM), so [`enter_cwd`]
/// tries again as the user: a directory only its owner may enter (mode
/// 0700, or a rootless runtime) is the other way round.
pub fn enter_cwd_early(p: &ProcessPlan) -> Result<bool> {
    match rustix::process::chdir(&p.cwd) {
        Ok(()) => {
            check_cwd_inside_root(p)?;
            Ok(true)
        }
        Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => Ok(false),
        Err(e) => Err(sys(format!("chdir to {}", p.cwd.display()))(e.into())),
    }
}

/// Changes to `process.cwd`, and refuses a working directory outside the
/// root: one reached through a leaked fd (/proc/self/fd/N) lies outside it
/// (CVE-2024-21626), which the `..` walk detects.
pub fn enter_cwd(p: &ProcessPlan) -> Result<()> {
    rustix::process::chdir(&p.cwd)
        .map_err(|e| sys(format!("chdir to {}", p.cwd.display()))(e.into()))?;
    check_cwd_inside_root(p)
}

fn check_cwd_inside_root(p: &ProcessPlan) -> Result<()> {
    if !cwd_inside_root().map_err(sys("checking process.cwd"))? {
        return Err(Error::Init(format!(
            "process.cwd {} is outside the container's root",
            p.cwd.display()
        )));
    }
    Ok(())
}

/// Hands the process's stdio (its pty slave, or the pipes an engine gave
/// it) to its user, while this process may still chown, as runc does:
/// otherwise a non-root user cannot use the terminal it was given (a pty
/// slave is its opener's, root's). Left alone: what the user already owns,
/// `/dev/null`, everything for a root process (root needs nothing), and
/// what cannot change owner here (an id outside a user namespace's map,
/// a read-only /dev).
fn chown_stdio(uid: u32) -> Result<()> {
    if uid == 0 {
        return Ok(());
    }
    for fd in 0..=2 {
        // SAFETY: stat is plain data, valid when zeroed; fstat fills it and
        // takes a raw descriptor number (a closed one fails with EBADF).
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `st` is a writable stat owned by this frame.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue;
        }
        let is_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && libc::major(st.st_rdev) == 1
            && libc::minor(st.st_rdev) == 3;
        if st.st_uid == uid || is_null {
            continue;
        }
        // SAFETY: a plain syscall on a descriptor number; -1 keeps the gid.
        if unsafe { libc::fchown(fd, uid, u32::MAX) } != 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINVAL | libc::EPERM | libc::EROFS) => continue,
                _ => return Err(sys(format!("giving stdio fd {fd} to uid {uid}"))(e)),
            }
        }
    }
    Ok(())
}

/// Groups, gid, uid and capabilities, in the only order that works: the
/// bounding set needs CAP_SETPCAP (before the uid changes), and the other
/// sets survive the uid change only through PR_SET_KEEPCAPS.
pub fn set_identity(p: &ProcessPlan, last_cap: u32) -> Result<()> {
    chown_stdio(p.uid)?;
    if let Some(c) = &p.caps {
        crate::caps::drop_bounding(c.bounding, last_cap)
            .map_err(sys("dropping bounding capabilities"))?;
    }
    rustix::thread::set_keep_capabilities(true).map_err(|e| sys("prctl(KEEPCAPS)")(e.into()))?;
    let groups: Vec<libc::gid_t> = p.additional_gids.clone();
    // setgroups is refused in a user namespace with setgroups=deny: only an
    // error when groups were asked for.
    // SAFETY: `groups` is a valid array of `groups.len()` gids.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 && !groups.is_empty() {
        return Err(sys("setgroups")(std::io::Error::last_os_error()));
    }
    // SAFETY: plain integer syscalls.
    if unsafe { libc::setresgid(p.gid, p.gid, p.gid) } != 0 {
        return Err(sys(format!("setresgid({})", p.gid))(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: plain integer syscall.
    if unsafe { libc::setresuid(p.uid, p.uid, p.uid) } != 0 {
        return Err(sys(format!("setresuid({})", p.uid))(
            std::io::Error::last_os_error(),
        ));
    }
    rustix::thread::set_keep_capabilities(false).map_err(|e| sys("prctl(KEEPCAPS)")(e.into()))?;
    if let Some(c) = &p.caps {
        crate::caps::apply(c).map_err(sys("setting capabilities"))?;
    }
    Ok(())
}

/// Finds `args[0]` like execvp, in the container's `PATH`.
pub fn find_program(p: &ProcessPlan) -> Result<CString> {
    let arg0 = p.args[0].to_bytes();
    if arg0.contains(&b'/') {
        return Ok(p.args[0].clone());
    }
    let path = p
        .path_var
        .as_deref()
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = PathBuf::from(dir).join(std::ffi::OsStr::from_bytes(arg0));
        if rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK).is_ok()
            && std::fs::metadata(&candidate).is_ok_and(|m| m.is_file())
        {
            return CString::new(candidate.as_os_str().as_bytes())
                .map_err(|_| Error::Init("NUL in program path".into()));
        }
    }
    Err(Error::Init(format!(
        "exec: {:?}: executable file not found in $PATH",
        String::from_utf8_lossy(arg0)
    )))
}

/// Closes every fd from `first` up that is not close-on-exec: the runtime's
/// own descriptors all are, so what remains was inherited from the caller.
pub fn close_inherited_fds(first: u32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first as i32)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: no Rust object in this process owns this descriptor
            // (all of those are close-on-exec).
            unsafe { libc::close(fd) };
        }
    }
}

/// Walks `..` from the working directory: inside the root the walk ends at
/// the root itself (where `..` is `.`); from a directory outside it, it ends
/// at a different top.
fn cwd_inside_root() -> std::io::Result<bool> {
    use rustix::fs::{Mode, OFlags};
    let root = rustix::fs::stat("/")?;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(".", flags, Mode::empty())?;
    for _ in 0..4096 {
        let st = rustix::fs::fstat(&dir)?;
        if st.st_dev == root.st_dev && st.st_ino == root.st_ino {
            return Ok(true);
        }
        let up = rustix::fs::openat(&dir, "..", flags, Mode::empty())?;
        let ust = rustix::fs::fstat(&up)?;
        if ust.st_dev == st.st_dev && ust.st_ino == st.st_ino {
            return Ok(false);
        }
        dir = up;
    }
    Ok(false)
}

/// Marks every fd from `first` up close-on-exec.
pub fn close_on_exec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        return Err(sys("close_range")(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Unblocks every signal (the runtime blocks some while it waits).
pub fn unblock_all_signals() {
    // SAFETY: an empty, initialised sigset; SIG_SETMASK with it cannot fail.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// `execve`: returns only the error.
pub fn exec(program: &CStr, args: &[CString], env: &[CString]) -> Result<Infallible> {
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: `program`, `argv` and `envp` are NUL-terminated strings and
    // null-terminated arrays that outlive the call; execve only returns on
    // failure.
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Err(Error::Init(format!(
        "exec {:?}: {}",
        program.to_string_lossy(),
        std::io::Error::last_os_error()
    )))
}
