//! The container's init: the child of `clone3`, from namespace entry to
//! `execve`. See the protocol drawn in [`crate::channel`].

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use berth_sys::procfs::ProcFs;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

use crate::channel::{Channel, ToChild, ToParent};
use crate::error::{sys, Error, Result};
use crate::plan::Plan;
use crate::process;

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
    /// Descriptors above stdio kept open (`--preserve-fds` plus LISTEN_FDS).
    pub preserve_fds: u32,
    pub last_cap: u32,
    /// A connection to the console socket: the init allocates a pty and
    /// sends its master there (`process.terminal`).
    pub console: Option<OwnedFd>,
}

/// Runs the init; never returns. Errors go to the parent as `Failed`.
pub fn main(ctx: InitContext<'_>) -> ! {
    let err = match run(&ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // The parent wraps the message in Error::Init again.
    let msg = match &err {
        Error::Init(m) => m.clone(),
        e => e.to_string(),
    };
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

fn run(ctx: &InitContext<'_>) -> Result<Infallible> {
    let plan = ctx.plan;
    let ns = &plan.namespaces;

    // Descriptors the caller leaked to the runtime (not close-on-exec,
    // above stdio and the preserved ones) are closed before anything else.
    process::close_inherited_fds(3 + ctx.preserve_fds);
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

    // The mounts that do not depend on the cgroup, and in the early start
    // what else can go before them: the parent creates the cgroup on the
    // other CPU meanwhile.
    let mut prepared = if ns.has(LinuxNamespaceType::Mount) {
        Some(crate::rootfs::prepare(plan)?)
    } else {
        None
    };
    if let Some(p) = prepared.as_mut().filter(|_| ctx.early) {
        crate::rootfs::ahead(plan, p, !hooks_see_root(plan), ctx.console.is_some())?;
    }
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes()).map_err(|e| sys("sethostname")(e.into()))?;
    }
    if ns.creates(LinuxNamespaceType::Network) {
        // A new network namespace's loopback starts down; runc sets it up.
        berth_sys::netif::loopback_up().map_err(sys("setting lo up"))?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes()).map_err(|e| sys("setdomainname")(e.into()))?;
    }
    // A private procfs instance costs a new superblock: only when there is
    // something to write through it. An oom_score_adj the init already has
    // (Docker's spec always says 0) is left alone: it is read from the
    // host's /proc, still this process's until pivot_root.
    let oom_score_adj = plan
        .process
        .oom_score_adj
        .filter(|adj| current_oom_score_adj() != Some(*adj));
    if !plan.sysctls.is_empty() || oom_score_adj.is_some() {
        let procfs = ProcFs::open().map_err(sys("opening a private procfs"))?;
        for (key, value) in &plan.sysctls {
            procfs
                .write(key, value.as_bytes())
                .map_err(sys(format!("writing sysctl {}", key.display())))?;
        }
        if let Some(adj) = oom_score_adj {
            procfs
                .write(Path::new("self/oom_score_adj"), adj.to_string().as_bytes())
                .map_err(sys("writing oom_score_adj"))?;
        }
    }

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
    let hooks = &plan.hooks;
    if crate::hooks::any(hooks.prestart()) || crate::hooks::any(hooks.create_runtime()) {
        ctx.channel
            .send(&ToParent::Hooks)
            .map_err(sys("writing to the runtime"))?;
        recv_expect(&ctx.channel, ToChild::Continue)?;
    }
    if crate::hooks::any(hooks.create_container()) {
        crate::hooks::run_all(
            "createContainer",
            hooks.create_container().as_ref(),
            &hook_state(ctx, host_pid, ContainerState::Creating),
        )?;
    }

    if let Some(console) = &ctx.console {
        // The pty comes from the container's devpts, once it is mounted;
        // /dev/console is bound to it before the root turns read-only.
        let root = match &prepared {
            Some(p) => p.root.try_clone(),
            None => std::fs::File::open("/").map(OwnedFd::from),
        }
        .map_err(sys("opening the root for the terminal"))?;
        crate::terminal::setup(
            root.as_fd(),
            console.as_fd(),
            prepared.is_some(),
            plan.process.console_size,
        )?;
    }
    if let Some(p) = &prepared {
        crate::rootfs::finish(plan, p)?;
        crate::rootfs::pivot(plan, p.root.as_fd(), ctx.no_pivot)?;
    }

    let p = &plan.process;
    process::apply_rlimits(p)?;
    if !p.no_new_privileges {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load
        // it while the process still has it.
        if let Some(prog) = ctx.seccomp {
            load_seccomp(ctx, prog, host_pid)?;
        }
    }
    let in_cwd = process::enter_cwd_early(p)?;
    process::set_identity(p, ctx.last_cap)?;
    if p.no_new_privileges {
        rustix::thread::set_no_new_privs(true).map_err(|e| sys("prctl(NO_NEW_PRIVS)")(e.into()))?;
    }
    if !in_cwd {
        process::enter_cwd(p)?;
    }
    let program = process::find_program(p)?;
    // SAFETY: umask only swaps the process's file mode mask.
    unsafe { libc::umask(p.umask.unwrap_or(0o022) as libc::mode_t) };

    // Nothing of the runtime's may reach the container's process: every fd
    // above stdio and the preserved ones closes on exec (CVE-2024-21626).
    process::close_on_exec_from(3 + ctx.preserve_fds)?;
    berth_sys::signal::reset_dispositions();
    process::unblock_all_signals();

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
    if crate::hooks::any(hooks.start_container()) {
        let state = hook_state(ctx, host_pid, ContainerState::Running);
        crate::hooks::run_all("startContainer", hooks.start_container().as_ref(), &state)?;
    }
    if p.no_new_privileges {
        if let Some(prog) = ctx.seccomp {
            load_seccomp(ctx, prog, host_pid)?;
        }
    }
    process::exec(&program, &p.args, &p.env)
}

/// Whether a hook runs between the mounts and `pivot_root` (prestart,
/// createRuntime, createContainer): one may add to the root, so the masked
/// and read-only paths must come after it.
fn hooks_see_root(plan: &Plan) -> bool {
    let h = &plan.hooks;
    [h.prestart(), h.create_runtime(), h.create_container()]
        .into_iter()
        .any(crate::hooks::any)
}

fn load_seccomp(ctx: &InitContext<'_>, prog: &berth_seccomp::Program, host_pid: i32) -> Result<()> {
    process::load_seccomp(prog, ctx.plan.spec.version(), host_pid, || {
        hook_state(ctx, host_pid, ContainerState::Creating)
    })
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

/// This process's oom_score_adj, `None` if it cannot be read.
fn current_oom_score_adj() -> Option<i32> {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn setns(fd: &OwnedFd, t: LinuxNamespaceType) -> Result<()> {
    berth_sys::clone::setns(fd.as_fd(), crate::plan::ns_flag(t))
        .map_err(sys(format!("joining the {t} namespace")))
}
