//! `exec`: one more process in a running container, a child of the caller.
//!
//! One fork: the caller points its own `pid_for_children` at the
//! container's pid namespace (through the init's pidfd), clones straight
//! into the container's v2 cgroup, and switches back; the child joins the
//! v1 cgroups itself (the fast way, see docs/runtime.md) and then every
//! other namespace of the init in one `setns(pidfd, ...)`.
//!
//! ```text
//!   caller                                   exec'd process (child)
//!   ------                                   ----------------------
//!   pidfd of the init, v2 cgroup fd,
//!   console socket connected
//!   setns(pidfd, NEWPID)  (pid_for_children)
//!   clone3(CLONE_INTO_CGROUP) ------------>  closes inherited fds, non-dumpable
//!   setns back to its own pid namespace
//!   cgroup.procs <- pid (v2, when clone3
//!                        could not place it)
//!   Go { pid } --------------------------->  tasks <- 0 (v1), oom_score_adj
//!                                            setns(pidfd, the other namespaces)
//!                                            pty master -> console socket
//!                                            rlimits, seccomp, identity, cwd
//!                                            check, execve
//!                   <----------------------- Failed(message), or the channel
//!                                            closes on execve (close-on-exec)
//! ```

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use berth_cgroups::Cgroup;
use berth_sys::clone::Forked;
use berth_sys::signal;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType, Process};
use rustix::fs::{Mode, OFlags};

use crate::channel::{self, Channel, ToChild, ToParent};
use crate::container::{own_pidfd, wrong_state, Runtime};
use crate::error::{sys, Error, Result};
use crate::ops::Status;
use crate::plan::{self, ProcessPlan};
use crate::process;
use crate::state::Record;

/// Options of `exec` besides the process itself.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Unix socket that receives the pty master when `process.terminal` is
    /// true (required then, refused otherwise).
    pub console_socket: Option<PathBuf>,
    /// Extra descriptors (3, 4, ...) of the caller the process keeps.
    pub preserve_fds: u32,
    /// File to write the process's host pid to.
    pub pid_file: Option<PathBuf>,
    /// Allow exec into a paused container (the process starts frozen).
    pub ignore_paused: bool,
}

/// What the child needs, prepared before the fork.
struct ExecContext<'a> {
    process: &'a ProcessPlan,
    record: &'a Record,
    init: &'a OwnedFd,
    /// `CLONE_NEW*` flags of the namespaces to join through `init`.
    ns_flags: u64,
    cgroup: &'a Cgroup,
    seccomp: Option<&'a berth_seccomp::Program>,
    channel: Channel,
    console: Option<OwnedFd>,
    preserve_fds: u32,
    last_cap: u32,
}

impl Runtime {
    /// Runs `process` in the running (or created) container `id` and
    /// returns its host pid. The process is a child of the caller, which
    /// reaps it; it has the caller's fds 0-2 unless a console socket is
    /// given, and the container's namespaces, cgroup and seccomp profile.
    ///
    /// Like [`Runtime::launch`], call it from a single-threaded process
    /// (the child runs Rust code between the fork and `execve`), after
    /// [`crate::protect_runtime_binary`].
    pub fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        let record = Record::load(&self.root, id)?;
        let status = self.status(&record);
        match status {
            Status::Created | Status::Running => {}
            Status::Paused if opts.ignore_paused => {}
            Status::Paused => {
                return Err(wrong_state(
                    id,
                    status,
                    "exec",
                    "running (or pass --ignore-paused)",
                ))
            }
            _ => return Err(wrong_state(id, status, "exec", "running")),
        }
        let plan = plan::process(process)?;
        crate::terminal::check(
            "process.terminal",
            plan.terminal,
            opts.console_socket.as_deref(),
        )?;
        let seccomp = record
            .seccomp
            .as_ref()
            .map(berth_seccomp::compile)
            .transpose()?;
        let cgroup = self.cgroup_of(&record)?;
        let init = own_pidfd(&record)?;
        let console = opts
            .console_socket
            .as_deref()
            .map(crate::terminal::connect)
            .transpose()?;
        let (parent_chan, child_chan) =
            channel::pair().map_err(sys("creating the exec channel"))?;
        let ctx = ExecContext {
            process: &plan,
            record: &record,
            init: &init,
            ns_flags: namespaces_to_join(&record)?,
            cgroup: &cgroup,
            seccomp: seccomp.as_ref(),
            channel: child_chan,
            console,
            preserve_fds: opts.preserve_fds,
            last_cap: crate::caps::last_cap(),
        };
        let pid = fork(ctx, parent_chan)?;
        if let Some(p) = &opts.pid_file {
            if let Err(e) = crate::container::write_pid_file(p, pid) {
                let _ = signal::kill(pid, libc::SIGKILL);
                let _ = signal::wait_child(pid);
                return Err(e);
            }
        }
        Ok(pid)
    }

    /// [`Runtime::exec`] attached: forwards the caller's signals to the
    /// process, reaps it and returns its exit status (128 + signal when
    /// killed), as `berth-runtime exec` without `--detach` does.
    pub fn exec_wait(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        if process.terminal() == Some(true) && opts.console_socket.is_none() {
            return self.exec_relayed(id, process, opts);
        }
        let blocked = crate::container::block_forwarded()?;
        let pid = match self.exec(id, process, opts) {
            Ok(pid) => pid,
            Err(e) => {
                let _ = blocked.restore();
                return Err(e);
            }
        };
        let exit = crate::container::wait_forwarding(&blocked, pid);
        let _ = blocked.restore();
        Ok(exit?.shell_code())
    }

    /// `exec_wait` of a process with a terminal and no console socket: the
    /// runtime receives the pty master and relays it to its own stdio.
    fn exec_relayed(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        let console = crate::terminal::OwnConsole::bind(&self.root)?;
        let signals = crate::container::forwarded_signalfd()?;
        let opts = ExecOptions {
            console_socket: Some(console.path().to_path_buf()),
            ..opts.clone()
        };
        let pid = self.exec(id, process, &opts)?;
        let exit = match console.receive() {
            Ok(master) => crate::terminal::relay(master, pid, &signals)
                .map_err(sys("relaying the process's terminal")),
            Err(e) => {
                let _ = signal::kill(pid, libc::SIGKILL);
                let _ = signal::wait_child(pid);
                Err(e)
            }
        };
        Ok(exit?.shell_code())
    }
}

/// Forks the child into the container and waits until it has exec'd (or
/// failed to). Returns its pid.
fn fork(ctx: ExecContext<'_>, chan: Channel) -> Result<i32> {
    let into = ctx.cgroup.clone_into_fd();
    let pidns = ctx.ns_flags & libc::CLONE_NEWPID as u64 != 0;
    let own_pidns = if pidns {
        let own = rustix::fs::open(
            "/proc/thread-self/ns/pid_for_children",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys("opening this thread's pid namespace")(e.into()))?;
        berth_sys::clone::setns(ctx.init.as_fd(), libc::CLONE_NEWPID as u64)
            .map_err(sys("entering the container's pid namespace"))?;
        Some(own)
    } else {
        None
    };
    // SAFETY: the caller is single-threaded (documented on
    // `Runtime::exec`), so the child may run arbitrary code until execve.
    let forked = unsafe { berth_sys::clone::clone3(0, into.as_ref().map(|f| f.as_fd())) };
    if let Ok(Forked::Child) = forked {
        drop(chan);
        child_main(ctx)
    }
    // Back to the caller's own pid namespace for its later children,
    // whether the fork worked or not.
    let restored = match &own_pidns {
        Some(fd) => berth_sys::clone::setns(fd.as_fd(), libc::CLONE_NEWPID as u64)
            .map_err(sys("returning to the caller's pid namespace")),
        None => Ok(()),
    };
    let Forked::Parent { pid, in_cgroup } =
        forked.map_err(sys("creating the exec'd process (clone3)"))?
    else {
        // The child ran `child_main` above, which never returns.
        return Err(Error::Init("clone3 returned twice".into()));
    };
    let cgroup = ctx.cgroup;
    drop(ctx);
    let result = restored
        .and_then(|()| {
            if in_cgroup {
                Ok(())
            } else {
                cgroup.add_task_v2(pid).map_err(Error::from)
            }
        })
        .and_then(|()| {
            chan.send(&ToChild::Go { pid })
                .map_err(sys("talking to the exec'd process"))
        })
        .and_then(|()| {
            match chan
                .recv::<ToParent>()
                .map_err(sys("talking to the exec'd process"))?
            {
                None => Ok(()),
                Some(ToParent::Failed(m)) => Err(Error::Init(m)),
                Some(m) => Err(Error::Init(format!("unexpected message {m:?}"))),
            }
        });
    match result {
        Ok(()) => Ok(pid),
        Err(e) => {
            let _ = signal::kill(pid, libc::SIGKILL);
            let _ = signal::wait_child(pid);
            Err(e)
        }
    }
}

/// The `CLONE_NEW*` flags of every namespace in which the container's init
/// differs from the caller: exactly what the process must join, whether
/// the container made the namespace, joined one by path, or shares the
/// caller's (joining one's own user namespace would even fail).
fn namespaces_to_join(record: &Record) -> Result<u64> {
    let id = |p: &str| -> Result<Option<(u64, u64)>> {
        match rustix::fs::stat(p) {
            Ok(st) => Ok(Some((st.st_dev, st.st_ino))),
            // A namespace type this kernel does not have.
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(crate::error::io_err("reading namespace", p)(e.into())),
        }
    };
    let mut flags = 0;
    for t in plan::NS_TYPES {
        let name = ns_file(t);
        let theirs = id(&format!("/proc/{}/ns/{name}", record.pid))?;
        if theirs.is_some() && theirs != id(&format!("/proc/self/ns/{name}"))? {
            flags |= plan::ns_flag(t);
        }
    }
    // An init that died meanwhile has no namespace links left: that must
    // not read as "nothing to join".
    if !record.init_alive() {
        return Err(wrong_state(&record.id, Status::Stopped, "exec", "running"));
    }
    Ok(flags)
}

/// The name of a namespace type under /proc/PID/ns.
fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The child: reports a failure to the caller and exits, or execs.
fn child_main(ctx: ExecContext<'_>) -> ! {
    let err = match child(&ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ctx.channel.send(&ToParent::Failed(err.to_string()));
    // SAFETY: _exit ends the process without running the caller's atexit
    // handlers or flushing its duplicated stdio buffers.
    unsafe { libc::_exit(127) }
}

fn child(ctx: &ExecContext<'_>) -> Result<Infallible> {
    let p = ctx.process;
    // Descriptors the caller leaked (not close-on-exec, above stdio and the
    // preserved ones) never reach the container (CVE-2024-21626).
    process::close_inherited_fds(3 + ctx.preserve_fds);
    // Not dumpable until exec: nothing in the container may ptrace this
    // process or open its /proc files while it runs the runtime's code.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| sys("prctl(PR_SET_DUMPABLE)")(e.into()))?;
    let host_pid = match ctx
        .channel
        .recv::<ToChild>()
        .map_err(sys("reading from the runtime"))?
    {
        Some(ToChild::Go { pid }) => pid,
        Some(m) => return Err(Error::Init(format!("unexpected message {m:?}"))),
        None => return Err(Error::Init("the runtime went away".into())),
    };
    // Host-side steps first, while the host's cgroupfs and procfs are in
    // reach and this process still has the host's privileges.
    ctx.cgroup.join_self_v1()?;
    if let Some(adj) = p.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(sys("writing oom_score_adj"))?;
    }
    if ctx.ns_flags != 0 {
        berth_sys::clone::setns(ctx.init.as_fd(), ctx.ns_flags)
            .map_err(sys("joining the container's namespaces"))?;
    }
    if let Some(console) = &ctx.console {
        let root = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| sys("opening the container's root")(e.into()))?;
        crate::terminal::setup(root.as_fd(), console.as_fd(), false, p.console_size)?;
    }
    process::apply_rlimits(p)?;
    let seccomp = |ctx: &ExecContext<'_>| match ctx.seccomp {
        Some(prog) => process::load_seccomp(prog, &ctx.record.oci_version, host_pid, || {
            ctx.record.oci_state(ContainerState::Running)
        }),
        None => Ok(()),
    };
    if !p.no_new_privileges {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN.
        seccomp(ctx)?;
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
    process::close_on_exec_from(3 + ctx.preserve_fds)?;
    berth_sys::signal::reset_dispositions();
    process::unblock_all_signals();
    if p.no_new_privileges {
        seccomp(ctx)?;
    }
    process::exec(&program, &p.args, &p.env)
}
