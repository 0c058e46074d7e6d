//! The container's init: the child of `clone3`, from namespace entry to
//! `execve`. See the protocol drawn in [`crate::channel`].

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_sys::procfs::ProcFs;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

use crate::channel::{Channel, ToChild, ToParent};
use crate::error::{sys, Error, Result};
use crate::plan::Plan;

/// How the init learns that it may exec.
pub enum StartGate {
    /// `run`: a `Start` message on the channel.
    Channel,
    /// `create`: a connection on the listening `start.sock`.
    Socket(OwnedFd),
}

/// Everything the init needs, prepared by the parent before the fork.
pub struct InitContext<'a> {
    pub id: &'a str,
    pub plan: &'a Plan,
    /// The container's cgroup; with `self_migrates`, the init moves itself
    /// into its v1 directories.
    pub cgroup: &'a berth_cgroups::Cgroup,
    pub self_migrates: bool,
    /// The early start: the init prepares its mounts while the parent still
    /// creates the cgroup, and waits for `Go` only before joining it.
    pub early: bool,
    pub channel: Channel,
    pub gate: StartGate,
    /// Namespaces to join, opened by the parent (user, ipc, uts, net,
    /// cgroup, mnt; pid and time are joined by the parent itself).
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub seccomp: Option<&'a berth_seccomp::Program>,
    pub no_pivot: bool,
    pub new_keyring: Option<CString>,
    pub preserve_fds: u32,
    pub last_cap: u32,
}

/// Runs the init; never returns. Errors go to the parent as `Failed`.
pub fn main(ctx: InitContext<'_>) -> ! {
    let err = match run(&ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let msg = err.to_string();
    match &ctx.gate {
        StartGate::Socket(_) if ACCEPTED.with(|a| a.get()) >= 0 => {
            let fd = ACCEPTED.with(|a| a.get());
            // SAFETY: `fd` is the accepted connection, open and owned by
            // this process until it exits just below.
            let conn = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = rustix::net::send(conn, msg.as_bytes(), rustix::net::SendFlags::NOSIGNAL);
        }
        _ => {
            let _ = ctx.channel.send(&ToParent::Failed(msg));
        }
    }
    // SAFETY: _exit ends the process without running the parent's atexit
    // handlers or flushing its duplicated stdio buffers.
    unsafe { libc::_exit(127) }
}

thread_local! {
    static ACCEPTED: std::cell::Cell<i32> = const { std::cell::Cell::new(-1) };
}

enum Never {}

/// Waits for `Go` and returns the init's pid as the host sees it.
fn recv_go(ch: &Channel) -> Result<i32> {
    match ch
        .recv::<ToChild>()
        .map_err(sys("reading from the runtime"))?
    {
        Some(ToChild::Go { pid }) => Ok(pid),
        Some(m) => Err(Error::Init(format!("unexpected message {m:?}"))),
        None => Err(Error::Init("the runtime went away".into())),
    }
}

fn recv_expect(ch: &Channel, want: ToChild) -> Result<()> {
    match ch
        .recv::<ToChild>()
        .map_err(sys("reading from the runtime"))?
    {
        Some(m) if m == want => Ok(()),
        Some(m) => Err(Error::Init(format!("unexpected message {m:?}"))),
        None => Err(Error::Init("the runtime went away".into())),
    }
}

fn run(ctx: &InitContext<'_>) -> Result<Never> {
    let plan = ctx.plan;
    let ns = &plan.namespaces;

    // Descriptors the caller leaked to the runtime (not close-on-exec,
    // above stdio and the preserved ones) are closed before anything else.
    close_inherited_fds(3 + ctx.preserve_fds);
    // Directories and device nodes get exactly the modes asked for; the
    // process's own umask is set just before exec.
    // SAFETY: umask only swaps the process's file mode mask.
    unsafe { libc::umask(0) };
    // A user namespace joined by path comes first: the others are joined
    // with the privileges it gives.
    for (t, fd) in &ctx.join {
        if *t == LinuxNamespaceType::User {
            setns(fd, *t)?;
        }
    }
    let mut host_pid = None;
    if !ctx.early {
        // Id maps written (and, for a new user namespace, the cgroup joined
        // by the parent) before anything else happens in here.
        host_pid = Some(recv_go(&ctx.channel)?);
    }
    // Not dumpable until exec: no process in the container may ptrace the
    // init or open its /proc files (exe, fd, mem) meanwhile.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| sys("prctl(PR_SET_DUMPABLE)")(e.into()))?;
    if ns.creates(LinuxNamespaceType::User) {
        // Become root of the new namespace, if it maps a root.
        // SAFETY: plain integer syscalls.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    for (t, fd) in &ctx.join {
        if *t != LinuxNamespaceType::User && *t != LinuxNamespaceType::Mount {
            setns(fd, *t)?;
        }
    }
    for (t, fd) in &ctx.join {
        if *t == LinuxNamespaceType::Mount {
            setns(fd, *t)?;
        }
    }
    // An own session keyring, so containers do not share the host's keys.
    if let Some(name) = &ctx.new_keyring {
        // SAFETY: KEYCTL_JOIN_SESSION_KEYRING takes a NUL-terminated name.
        unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                1, /* KEYCTL_JOIN_SESSION_KEYRING */
                name.as_ptr(),
            )
        };
    }

    // The mounts that do not depend on the cgroup: in the early start, the
    // parent creates the cgroup on the other CPU meanwhile.
    let prepared = if ns.has(LinuxNamespaceType::Mount) {
        Some(crate::rootfs::prepare(plan)?)
    } else {
        None
    };
    let host_pid = match host_pid {
        Some(pid) => pid,
        None => recv_go(&ctx.channel)?,
    };
    if ctx.self_migrates {
        ctx.cgroup.join_self_v1()?;
    }
    if ns.creates(LinuxNamespaceType::Cgroup) {
        // Now in its cgroup: that cgroup becomes the namespace's root.
        // SAFETY: CLONE_NEWCGROUP changes only the cgroup namespace of this
        // single-threaded process; no memory or fd table is unshared.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }
            .map_err(|e| sys("creating the cgroup namespace")(e.into()))?;
    }
    if let Some(p) = &prepared {
        crate::rootfs::prepare_rest(plan, p, ctx.cgroup)?;
    }
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes()).map_err(|e| sys("sethostname")(e.into()))?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes()).map_err(|e| sys("setdomainname")(e.into()))?;
    }
    // A private procfs instance costs a new superblock: only when there is
    // something to write through it.
    if !plan.sysctls.is_empty() || plan.process.oom_score_adj.is_some() {
        let procfs = ProcFs::open().map_err(sys("opening a private procfs"))?;
        for (key, value) in &plan.sysctls {
            procfs
                .write(key, value.as_bytes())
                .map_err(sys(format!("writing sysctl {}", key.display())))?;
        }
        if let Some(adj) = plan.process.oom_score_adj {
            procfs
                .write(Path::new("self/oom_score_adj"), adj.to_string().as_bytes())
                .map_err(sys("writing oom_score_adj"))?;
        }
    }

    let hooks = &plan.hooks;
    if hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
        || hooks
            .create_runtime()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
    {
        ctx.channel
            .send(&ToParent::Hooks)
            .map_err(sys("writing to the runtime"))?;
        recv_expect(&ctx.channel, ToChild::Continue)?;
    }
    if hooks
        .create_container()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        crate::hooks::run_all(
            "createContainer",
            hooks.create_container().as_ref(),
            &hook_state(ctx, host_pid, ContainerState::Creating),
        )?;
    }

    if let Some(p) = &prepared {
        crate::rootfs::finish(plan, p.root.as_fd(), p.devnull.as_fd())?;
        crate::rootfs::pivot(plan, p.root.as_fd(), ctx.no_pivot)?;
    }

    let p = &plan.process;
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

    if !p.no_new_privileges {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load
        // it while the process still has it.
        if let Some(prog) = ctx.seccomp {
            load_seccomp(ctx, prog, host_pid)?;
        }
    }
    set_identity(plan, ctx.last_cap)?;
    if p.no_new_privileges {
        rustix::thread::set_no_new_privs(true).map_err(|e| sys("prctl(NO_NEW_PRIVS)")(e.into()))?;
    }
    rustix::process::chdir(&p.cwd)
        .map_err(|e| sys(format!("chdir to {}", p.cwd.display()))(e.into()))?;
    // A cwd reached through a leaked fd (/proc/self/fd/N) lies outside the
    // root (CVE-2024-21626): walk up from it, and refuse unless the walk
    // ends at this process's root.
    if !cwd_inside_root().map_err(sys("checking process.cwd"))? {
        return Err(Error::Init(format!(
            "process.cwd {} is outside the container's root",
            p.cwd.display()
        )));
    }
    let program = find_program(plan)?;
    // SAFETY: umask only swaps the process's file mode mask.
    unsafe { libc::umask(p.umask.unwrap_or(0o022) as libc::mode_t) };

    // Nothing of the runtime's may reach the container's process: every fd
    // above stdio and the preserved ones closes on exec (CVE-2024-21626).
    close_on_exec_from(3 + ctx.preserve_fds)?;
    berth_sys::signal::reset_dispositions();
    unblock_all_signals();

    ctx.channel
        .send(&ToParent::Ready)
        .map_err(sys("writing to the runtime"))?;
    match &ctx.gate {
        StartGate::Channel => recv_expect(&ctx.channel, ToChild::Start)?,
        StartGate::Socket(listener) => {
            let conn = loop {
                match rustix::net::accept_with(listener, rustix::net::SocketFlags::CLOEXEC) {
                    Ok(c) => break c,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => return Err(sys("waiting for start")(e.into())),
                }
            };
            ACCEPTED.with(|a| a.set(conn.as_raw_fd()));
            std::mem::forget(conn);
        }
    }
    if hooks
        .start_container()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        let state = hook_state(ctx, host_pid, ContainerState::Running);
        crate::hooks::run_all("startContainer", hooks.start_container().as_ref(), &state)?;
    }
    if p.no_new_privileges {
        if let Some(prog) = ctx.seccomp {
            load_seccomp(ctx, prog, host_pid)?;
        }
    }
    exec(&program, &p.args, &p.env)
}

fn load_seccomp(ctx: &InitContext<'_>, prog: &berth_seccomp::Program, host_pid: i32) -> Result<()> {
    let notify = prog
        .load()
        .map_err(|e| Error::Init(format!("loading the seccomp filter: {e}")))?;
    if let (Some(fd), Some(path)) = (notify, prog.listener_path()) {
        // The runtime spec's container process state.
        let state = serde_json::json!({
            "ociVersion": ctx.plan.spec.version(),
            "fds": ["seccompFd"],
            "pid": host_pid,
            "metadata": prog.listener_metadata().unwrap_or_default(),
            "state": hook_state(ctx, host_pid, ContainerState::Creating),
        });
        let state = serde_json::to_vec(&state).unwrap_or_default();
        berth_seccomp::send_listener_fd(path, &state, fd.as_fd())
            .map_err(|e| Error::Init(format!("sending the seccomp notify fd: {e}")))?;
    }
    Ok(())
}

/// The state the hooks run from the init get on stdin.
fn hook_state(ctx: &InitContext<'_>, host_pid: i32, status: ContainerState) -> serde_json::Value {
    let plan = ctx.plan;
    crate::state::oci_state(
        plan.spec.version(),
        ctx.id,
        status,
        host_pid,
        &plan.bundle,
        &plan.spec.annotations().clone().unwrap_or_default(),
    )
}

fn setns(fd: &OwnedFd, t: LinuxNamespaceType) -> Result<()> {
    berth_sys::clone::setns(fd.as_fd(), crate::plan::ns_flag(t))
        .map_err(sys(format!("joining the {t} namespace")))
}

/// Groups, gid, uid and capabilities, in the only order that works: the
/// bounding set needs CAP_SETPCAP (before the uid changes), and the other
/// sets survive the uid change only through PR_SET_KEEPCAPS.
fn set_identity(plan: &Plan, last_cap: u32) -> Result<()> {
    let p = &plan.process;
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
fn find_program(plan: &Plan) -> Result<CString> {
    let arg0 = plan.process.args[0].to_bytes();
    if arg0.contains(&b'/') {
        return Ok(plan.process.args[0].clone());
    }
    let path = plan
        .process
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
fn close_inherited_fds(first: u32) {
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

fn close_on_exec_from(first: u32) -> Result<()> {
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

fn unblock_all_signals() {
    // SAFETY: an empty, initialised sigset; SIG_SETMASK with it cannot fail.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn exec(program: &CStr, args: &[CString], env: &[CString]) -> Result<Never> {
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
