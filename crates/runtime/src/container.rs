//! The container life cycle with runc's semantics: create, start, state,
//! kill, delete, run, list.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_cgroups::Cgroup;
use berth_sys::clone::Forked;
use berth_sys::signal::{self, Exit, SignalSet};
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};
use rustix::fs::{Mode, OFlags};

use crate::channel::{self, Channel, ToChild, ToParent};
use crate::error::{io_err, sys, Error, Result, TeardownErrors};
use crate::init::{InitContext, StartGate};
use crate::ops::Status;
use crate::plan::{self, Plan};
use crate::state::{self, Record, START_SOCKET};

/// The runtime, configured by its global flags.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Where container state lives (`--root`, default /run/berth-runtime).
    pub root: PathBuf,
    /// Where cgroupfs is mounted.
    pub cgroup_root: PathBuf,
}

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Extra descriptors (3, 4, ... after the LISTEN_FDS ones) the process
    /// keeps, as `--preserve-fds` asks.
    pub preserve_fds: u32,
    /// Socket-activation descriptors (3 .. 3+n) the caller got from its
    /// own activator: kept open, and announced to the process with
    /// `LISTEN_FDS=n` and `LISTEN_PID=1`, as runc does.
    pub listen_fds: u32,
    /// Unix socket that receives the pty master when `process.terminal`
    /// is true (required then, refused otherwise).
    pub console_socket: Option<PathBuf>,
}

/// One row of `list`; its JSON has runc's fields in runc's order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
}

/// Signals `run` forwards to the container.
const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// How the init learns it may exec: `run` tells it over the channel,
/// `create` leaves it waiting on start.sock.
enum SpawnMode {
    Create,
    Run,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/run/berth-runtime"),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
        }
    }
}

/// Removes what a failed create made, in reverse order.
struct CreateGuard<'a> {
    dir: &'a Path,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
    armed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = signal::kill(pid, libc::SIGKILL);
            let _ = signal::wait_child(pid);
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.destroy() {
                tracing::warn!(error = %e, "removing the cgroup of a failed create");
            }
        }
        let _ = fs::remove_dir_all(self.dir);
    }
}

impl Runtime {
    /// `create`: the container's process waits in its namespaces until `start`.
    pub fn create(&self, opts: &CreateOptions) -> Result<()> {
        self.spawn(opts, SpawnMode::Create, None).map(|_| ())
    }

    /// `run`: create and start in one step. Attached, waits for the
    /// container and returns its exit status (128 + signal when killed),
    /// forwarding signals to it; `detach` returns as soon as it runs.
    pub fn run(&self, opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
        // Read once: whether the process wants a terminal decides how it runs.
        let plan = plan::load(&opts.bundle)?;
        if !detach && opts.console_socket.is_none() && plan.process.terminal {
            return self.run_relayed(opts, keep, plan);
        }
        let blocked = block_forwarded()?;
        let pid = match self.launch_planned(opts, Some(plan)) {
            Ok(pid) => pid,
            Err(e) => {
                let _ = blocked.restore();
                return Err(e);
            }
        };
        if detach {
            let _ = blocked.restore();
            return Ok(0);
        }
        let exit = wait_forwarding(&blocked, pid);
        let _ = blocked.restore();
        let exit = exit?;
        if !keep {
            self.cleanup(&Record::load(&self.root, &opts.id)?)?;
        }
        Ok(exit.shell_code())
    }

    /// `run` in the foreground of a container with a terminal and no
    /// console socket: the runtime receives the pty master itself and
    /// relays it to its own stdio until the container exits (as runc does).
    fn run_relayed(&self, opts: &CreateOptions, keep: bool, plan: Plan) -> Result<i32> {
        let console = crate::terminal::OwnConsole::bind(&self.root)?;
        let signals = forwarded_signalfd()?;
        let opts = CreateOptions {
            console_socket: Some(console.path().to_path_buf()),
            ..opts.clone()
        };
        let pid = self.launch_planned(&opts, Some(plan))?;
        let exit = match console.receive() {
            Ok(master) => crate::terminal::relay(master, pid, &signals)
                .map_err(sys("relaying the container's terminal")),
            Err(e) => {
                let _ = signal::kill(pid, libc::SIGKILL);
                let _ = signal::wait_child(pid);
                Err(e)
            }
        };
        drop(signals);
        drop(console);
        let exit = match exit {
            Ok(exit) => exit,
            Err(e) => {
                if !keep {
                    if let Ok(record) = Record::load(&self.root, &opts.id) {
                        let _ = signal::kill(record.pid, libc::SIGKILL);
                        let _ = self.cleanup(&record);
                    }
                }
                return Err(e);
            }
        };
        if !keep {
            self.cleanup(&Record::load(&self.root, &opts.id)?)?;
        }
        Ok(exit.shell_code())
    }

    /// Creates and starts a container in one step and returns the pid of
    /// its init, which stays a child of the caller: what a supervisor that
    /// reaps its container wants. On failure nothing is left behind.
    pub fn launch(&self, opts: &CreateOptions) -> Result<i32> {
        self.launch_planned(opts, None)
    }

    /// [`Runtime::launch`] of the spec the caller holds, which it has
    /// written to the bundle's `config.json`: an engine in the same process
    /// saves reading it back and parsing it again.
    pub fn launch_spec(&self, opts: &CreateOptions, spec: oci_spec::runtime::Spec) -> Result<i32> {
        let plan = plan::from_spec(&opts.bundle, spec)?;
        self.launch_planned(opts, Some(plan))
    }

    /// [`Runtime::launch`] with the bundle's plan already read (`None`: read it).
    fn launch_planned(&self, opts: &CreateOptions, plan: Option<Plan>) -> Result<i32> {
        let (record, chan) = self.spawn(opts, SpawnMode::Run, plan)?;
        if let Err(e) = self.finish_start(&record, &chan) {
            let _ = signal::kill(record.pid, libc::SIGKILL);
            let _ = signal::wait_child(record.pid);
            let _ = self.cleanup(&record);
            return Err(e);
        }
        Ok(record.pid)
    }

    fn finish_start(&self, record: &Record, chan: &Channel) -> Result<()> {
        chan.send(&ToChild::Start)
            .map_err(sys("starting the container"))?;
        match chan
            .recv::<ToParent>()
            .map_err(sys("starting the container"))?
        {
            None => {}
            Some(ToParent::Failed(m)) => return Err(Error::Init(m)),
            Some(m) => return Err(Error::Init(format!("unexpected message {m:?}"))),
        }
        let running = record.oci_state(ContainerState::Running);
        crate::hooks::run_all(
            "poststart",
            record.hooks.as_ref().and_then(|h| h.poststart().as_ref()),
            &running,
        )
    }

    fn spawn(
        &self,
        opts: &CreateOptions,
        mode: SpawnMode,
        plan: Option<Plan>,
    ) -> Result<(Record, Channel)> {
        state::check_id(&opts.id)?;
        fs::create_dir_all(&self.root).map_err(io_err("creating state root", &self.root))?;
        let dir = state::dir(&self.root, &opts.id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(opts.id.clone()))
            }
            Err(e) => return Err(io_err("creating", &dir)(e)),
        }
        let mut guard = CreateGuard {
            dir: &dir,
            cgroup: None,
            pid: None,
            armed: true,
        };

        let mut plan = match plan {
            Some(p) => p,
            None => plan::load(&opts.bundle)?,
        };
        crate::terminal::check(
            "process.terminal",
            plan.process.terminal,
            opts.console_socket.as_deref(),
        )?;
        if opts.listen_fds > 0 {
            plan.process.env.extend(listen_env(opts.listen_fds));
        }
        let console = opts
            .console_socket
            .as_deref()
            .map(crate::terminal::connect)
            .transpose()?;
        let linux = plan.spec.linux().clone().unwrap_or_default();
        let seccomp = linux
            .seccomp()
            .as_ref()
            .map(|s| berth_seccomp::compile_cached(s, &self.root.join("#seccomp-cache")))
            .transpose()?;
        let mut cgroup = Cgroup::new(&self.cgroup_root, linux.cgroups_path().as_deref(), &opts.id)?;
        // A rootless caller without a delegated cgroup: the container runs
        // in none, as under runc, as long as the spec asks for no limits.
        if !rustix::process::geteuid().is_root() {
            if let Err(e) = cgroup.create() {
                if !e.is_denied() {
                    return Err(e.into());
                }
                if linux.resources().as_ref().is_some_and(asks_for_limits) {
                    return Err(Error::InvalidArg {
                        arg: "linux.resources".into(),
                        reason: format!(
                            "a rootless container gets limits only in a cgroup delegated to its user ({e})"
                        ),
                    });
                }
                cgroup = Cgroup::none(&self.cgroup_root, cgroup.layout());
            }
        }
        // A cgroup frozen beforehand would freeze the init as it joins, and
        // create would wait for it for ever: refuse it, as runc does (and
        // leave it, which is not ours, in place).
        if cgroup.frozen().unwrap_or(false) {
            return Err(Error::InvalidArg {
                arg: "linux.cgroupsPath".into(),
                reason:
                    "container's cgroup unexpectedly frozen; thaw it or choose another cgroupsPath"
                        .into(),
            });
        }
        guard.cgroup = Some(cgroup.clone());
        // A process in a new user namespace has no rights on the host's
        // cgroupfs: the parent moves it. Otherwise it moves itself, which on
        // v1 avoids the kernel's global threadgroup lock.
        let self_migrates = !plan.namespaces.has(LinuxNamespaceType::User);
        // Early start (v1 and hybrid hosts): fork first, and create the v1
        // cgroups while the init prepares its mounts on the other CPU. The
        // v2 directory (pure v2, or the unified side of a hybrid host) is
        // made before the fork so clone3 can start the child inside it.
        let early = self_migrates && cgroup.layout() != berth_cgroups::Layout::Unified;
        cgroup.create_v2()?;
        if !early {
            self.finish_cgroup(&cgroup, &plan)?;
        }

        let mut join = Vec::new();
        for (t, path) in &plan.namespaces.join {
            let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err("opening namespace", path)(e.into()))?;
            join.push((*t, fd));
        }
        let gate = match mode {
            SpawnMode::Run => StartGate::Channel,
            SpawnMode::Create => StartGate::Socket(listen(&dir.join(START_SOCKET))?),
        };
        let (parent_chan, child_chan) =
            channel::pair().map_err(sys("creating the init channel"))?;

        // Namespaces that only affect children are entered here, before the fork.
        // The cgroup namespace is unshared by the init once it is in its
        // cgroup, so that the cgroup becomes the namespace's root.
        let mut flags = plan.namespaces.clone_flags & !(libc::CLONE_NEWCGROUP as u64);
        for (t, fd) in &join {
            if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                berth_sys::clone::setns(fd.as_fd(), plan::ns_flag(*t))
                    .map_err(sys(format!("joining the {t} namespace")))?;
            }
        }
        join.retain(|(t, _)| !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
        if plan.namespaces.creates(LinuxNamespaceType::Time) {
            // SAFETY: CLONE_NEWTIME only changes the time namespace of
            // future children; it shares no memory or file table state.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWTIME) }
                .map_err(|e| sys("creating the time namespace")(e.into()))?;
            if let Some(offsets) = &plan.time_offsets {
                fs::write("/proc/self/timens_offsets", offsets)
                    .map_err(io_err("writing", "/proc/self/timens_offsets"))?;
            }
            flags &= !(libc::CLONE_NEWTIME as u64);
        }

        let into = cgroup.clone_into_fd();
        // SAFETY: berth-runtime is single-threaded (no thread is ever
        // spawned before this point), so the child may run arbitrary code.
        let forked = unsafe { berth_sys::clone::clone3(flags, into.as_ref().map(|f| f.as_fd())) }
            .map_err(sys("creating the container process (clone3)"))?;
        let (pid, in_cgroup) = match forked {
            Forked::Child => {
                drop(parent_chan);
                std::mem::forget(guard);
                crate::init::main(InitContext {
                    id: &opts.id,
                    plan: &plan,
                    cgroup: &cgroup,
                    self_migrates,
                    early,
                    channel: child_chan,
                    gate,
                    join,
                    seccomp: seccomp.as_ref(),
                    no_pivot: opts.no_pivot,
                    new_keyring: (!opts.no_new_keyring)
                        .then(|| CString::new(opts.id.as_bytes()).ok())
                        .flatten(),
                    preserve_fds: opts.listen_fds + opts.preserve_fds,
                    last_cap: crate::caps::last_cap(),
                    console,
                })
            }
            Forked::Parent { pid, in_cgroup } => (pid, in_cgroup),
        };
        guard.pid = Some(pid);
        drop(child_chan);
        drop(gate);
        drop(console);
        if early {
            self.finish_cgroup(&cgroup, &plan)?;
        }
        if !self_migrates {
            cgroup.add_task(pid)?;
        } else if !in_cgroup {
            cgroup.add_task_v2(pid)?;
        }
        if let (Some(u), Some(g)) = (&plan.uid_map, &plan.gid_map) {
            if plan.namespaces.creates(LinuxNamespaceType::User) {
                write_id_maps(pid, u, g)?;
            }
        }
        send_or_why(&parent_chan, &ToChild::Go { pid }, pid)?;

        let record = Record {
            oci_version: plan.spec.version().clone(),
            id: opts.id.clone(),
            pid,
            pid_start_time: state::proc_stat(pid).map(|(_, t)| t).unwrap_or(0),
            bundle: plan.bundle.clone(),
            rootfs: plan.rootfs.clone(),
            created: state::now_rfc3339(),
            owner: String::new(),
            annotations: plan.spec.annotations().clone().unwrap_or_default(),
            cgroup: cgroup.to_state(),
            hooks: plan.spec.hooks().clone(),
            seccomp: linux.seccomp().clone(),
        };
        // Written while the init sets up; put in place once it is ready.
        let staged = record.stage(&self.root)?;
        loop {
            match parent_chan
                .recv::<ToParent>()
                .map_err(sys("talking to the container's init"))?
            {
                Some(ToParent::Hooks) => {
                    let st = record.oci_state(ContainerState::Creating);
                    crate::hooks::run_all("prestart", plan.hooks.prestart().as_ref(), &st)?;
                    crate::hooks::run_all(
                        "createRuntime",
                        plan.hooks.create_runtime().as_ref(),
                        &st,
                    )?;
                    send_or_why(&parent_chan, &ToChild::Continue, pid)?;
                }
                Some(ToParent::Ready) => break,
                Some(ToParent::Failed(m)) => return Err(Error::Init(m)),
                None => return Err(Error::Init(init_death(pid))),
            }
        }
        staged.commit()?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        guard.armed = false;
        Ok((record, parent_chan))
    }

    /// Creates the v1 directories and writes the resource limits.
    fn finish_cgroup(&self, cgroup: &Cgroup, plan: &Plan) -> Result<()> {
        cgroup.create_v1()?;
        if let Some(r) = &plan.resources {
            cgroup.set(r)?;
        }
        Ok(())
    }

    /// `start`: lets a created container exec its process.
    pub fn start(&self, id: &str) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = record.status(&self.root);
        if status != ContainerState::Created {
            return Err(wrong_state(id, status, "start", "created"));
        }
        let sock = state::dir(&self.root, id).join(START_SOCKET);
        let conn = connect(&sock)?;
        let _ = fs::remove_file(&sock);
        // The init closes the connection by exec'ing (CLOEXEC), or sends
        // the reason it could not.
        let mut buf = vec![0u8; 4096];
        let n = loop {
            match rustix::net::recv(&conn, &mut buf, rustix::net::RecvFlags::empty()) {
                Ok((n, _)) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(sys("starting the container")(e.into())),
            }
        };
        if n > 0 {
            return Err(Error::Init(String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
        let running = record.oci_state(ContainerState::Running);
        crate::hooks::run_all(
            "poststart",
            record.hooks.as_ref().and_then(|h| h.poststart().as_ref()),
            &running,
        )
    }

    /// `state`: the runtime-spec state JSON, with runc's extra fields.
    pub fn state(&self, id: &str) -> Result<serde_json::Value> {
        let record = Record::load(&self.root, id)?;
        let status = self.status(&record);
        let mut v = record.oci_state(status.oci());
        v["status"] = status.to_string().into();
        v["pid"] = if status == Status::Stopped {
            0.into()
        } else {
            record.pid.into()
        };
        v["rootfs"] = record.rootfs.to_string_lossy().into_owned().into();
        v["created"] = record.created.clone().into();
        v["owner"] = record.owner.clone().into();
        Ok(v)
    }

    /// The bundle directory container `id` was created from.
    pub fn bundle(&self, id: &str) -> Result<PathBuf> {
        Ok(Record::load(&self.root, id)?.bundle)
    }

    /// `kill`: sends `sig` to the init, or with `all` to every process of
    /// the container's cgroup.
    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = record.status(&self.root);
        if all {
            let cg = Cgroup::from_state(&self.cgroup_root, &record.cgroup)?;
            for pid in cg.pids()? {
                let _ = signal::kill(pid, sig);
            }
            return Ok(());
        }
        if status == ContainerState::Stopped {
            return Err(wrong_state(id, status, "kill", "created or running"));
        }
        let fd = own_pidfd(&record)?;
        signal::pidfd_kill(&fd, sig).map_err(sys(format!("signalling container {id}")))
    }

    /// `delete`: removes a stopped (or created) container; `force` kills a
    /// running one first.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let record = match Record::load(&self.root, id) {
            Ok(r) => r,
            // As runc: forcing the removal of what is not there succeeds,
            // so an engine's cleanup may repeat itself. (A directory
            // without a state file may be a create under way: left alone.)
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let status = record.status(&self.root);
        match status {
            ContainerState::Stopped => {}
            ContainerState::Created => self.kill_and_wait(&record)?,
            _ if force => self.kill_and_wait(&record)?,
            _ => {
                return Err(wrong_state(
                    id,
                    status,
                    "delete",
                    "stopped (or use --force)",
                ))
            }
        }
        self.cleanup(&record)
    }

    fn kill_and_wait(&self, record: &Record) -> Result<()> {
        let init = own_pidfd(record).ok();
        if let Some(fd) = &init {
            let _ = signal::pidfd_kill(fd, libc::SIGKILL);
        }
        // Without a pid namespace, other processes outlive the init.
        if let Ok(cg) = Cgroup::from_state(&self.cgroup_root, &record.cgroup) {
            for pid in cg.pids().unwrap_or_default() {
                let _ = signal::kill(pid, libc::SIGKILL);
            }
            // A paused container's processes die only once thawed.
            if cg.frozen().unwrap_or(false) {
                if let Err(e) = cg.thaw() {
                    tracing::warn!(error = %e, id = %record.id, "thawing a killed container");
                }
            }
        }
        if let Some(fd) = &init {
            let _ = signal::pidfd_wait_exit(fd, Some(Duration::from_secs(10)));
        }
        Ok(())
    }

    /// Tears a stopped container down: cgroup, poststop hooks, state. Keeps
    /// going past failures and reports them together.
    fn cleanup(&self, record: &Record) -> Result<()> {
        let mut errs = TeardownErrors::default();
        errs.push(
            Cgroup::from_state(&self.cgroup_root, &record.cgroup)
                .and_then(|cg| cg.destroy())
                .map_err(Error::from),
        );
        let stopped = record.oci_state(ContainerState::Stopped);
        if let Err(e) = crate::hooks::run_all(
            "poststop",
            record.hooks.as_ref().and_then(|h| h.poststop().as_ref()),
            &stopped,
        ) {
            // Like runc: a failing poststop hook is reported, not fatal.
            tracing::warn!(error = %e, id = %record.id, "poststop hook failed");
        }
        let dir = state::dir(&self.root, &record.id);
        errs.push(fs::remove_dir_all(&dir).map_err(io_err("removing", &dir)));
        errs.into_result()
    }

    /// `list`: every container under the root.
    pub fn list(&self) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for id in state::list(&self.root)? {
            let Ok(r) = Record::load(&self.root, &id) else {
                continue;
            };
            let status = self.status(&r);
            out.push(Summary {
                oci_version: r.oci_version,
                pid: if status == Status::Stopped { 0 } else { r.pid },
                status: status.to_string(),
                id,
                bundle: r.bundle,
                rootfs: r.rootfs,
                created: r.created,
                owner: if r.owner.is_empty() {
                    "root".into()
                } else {
                    r.owner
                },
            });
        }
        Ok(out)
    }
}

/// Blocks the signals `run` and `exec` forward, and `SIGCHLD`, before the
/// fork: none is lost between the fork and the wait.
pub(crate) fn block_forwarded() -> Result<SignalSet> {
    let sigs: Vec<i32> = FORWARDED.iter().copied().chain([libc::SIGCHLD]).collect();
    SignalSet::block(&sigs).map_err(sys("blocking signals"))
}

/// Sends `msg` to the init `pid`. When that fails, the init has usually
/// failed first (the early start lets it mount while the parent sets up the
/// cgroups): its `Failed` message, queued before it exited, says why, which
/// a bare EPIPE would not.
fn send_or_why(chan: &Channel, msg: &ToChild, pid: i32) -> Result<()> {
    let Err(e) = chan.send(msg) else {
        return Ok(());
    };
    Err(match chan.recv::<ToParent>() {
        Ok(Some(ToParent::Failed(m))) => Error::Init(m),
        Ok(None) => Error::Init(init_death(pid)),
        _ => sys("talking to the container's init")(e),
    })
}

/// The signals `run` and `exec` forward, and `SIGCHLD`, as a signalfd for
/// a relay's poll loop; blocked before the fork, like [`block_forwarded`].
pub(crate) fn forwarded_signalfd() -> Result<signal::SignalFd> {
    let sigs: Vec<i32> = FORWARDED.iter().copied().chain([libc::SIGCHLD]).collect();
    signal::SignalFd::new(&sigs).map_err(sys("blocking signals"))
}

/// Waits for the child `pid`, forwarding every other blocked signal to it.
pub(crate) fn wait_forwarding(blocked: &SignalSet, pid: i32) -> Result<Exit> {
    loop {
        let sig = blocked.wait().map_err(sys("waiting for signals"))?;
        if sig == libc::SIGCHLD {
            if let Some(exit) =
                signal::try_wait_child(pid).map_err(sys("waiting for the container"))?
            {
                return Ok(exit);
            }
        } else {
            let _ = signal::kill(pid, sig);
        }
    }
}

pub(crate) fn wrong_state(
    id: &str,
    status: impl std::fmt::Display,
    action: &'static str,
    wanted: &'static str,
) -> Error {
    Error::WrongState {
        id: id.to_string(),
        state: status.to_string(),
        action,
        wanted,
    }
}

/// A pidfd of the container's init, checked to still be that process.
pub(crate) fn own_pidfd(record: &Record) -> Result<OwnedFd> {
    let fd = signal::pidfd(record.pid).map_err(sys(format!("opening pid {}", record.pid)))?;
    // Checked after opening: from here on the fd pins the process.
    if !record.init_alive() {
        return Err(wrong_state(
            &record.id,
            ContainerState::Stopped,
            "kill",
            "created or running",
        ));
    }
    Ok(fd)
}

fn init_death(pid: i32) -> String {
    match signal::wait_child(pid) {
        Ok(Exit::Code(c)) => {
            format!("the container's init exited with status {c} before it was ready")
        }
        Ok(Exit::Signal(s)) => {
            format!("the container's init was killed by signal {s} before it was ready")
        }
        Err(e) => format!("the container's init went away before it was ready: {e}"),
    }
}

/// The environment runc gives a socket-activated process.
fn listen_env(n: u32) -> [CString; 2] {
    [
        CString::new(format!("LISTEN_FDS={n}")).unwrap_or_default(),
        CString::new("LISTEN_PID=1").unwrap_or_default(),
    ]
}

fn write_id_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<()> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let p = base.join(file);
            fs::write(&p, map).map_err(io_err("writing", &p))?;
        }
        return Ok(());
    }
    // Rootless. The kernel lets a user map its own ids, once each and
    // (for groups) after giving up setgroups; anything more takes the
    // setuid helpers, which check /etc/subuid and /etc/subgid.
    if uid_map.trim().lines().count() == 1 && single_own(uid_map, euid.as_raw()) {
        let p = base.join("uid_map");
        fs::write(&p, uid_map).map_err(io_err("writing", &p))?;
    } else {
        run_id_helper("newuidmap", pid, uid_map)?;
    }
    let egid = rustix::process::getegid().as_raw();
    if gid_map.trim().lines().count() == 1 && single_own(gid_map, egid) {
        let p = base.join("setgroups");
        fs::write(&p, "deny").map_err(io_err("writing", &p))?;
        let p = base.join("gid_map");
        fs::write(&p, gid_map).map_err(io_err("writing", &p))?;
    } else {
        run_id_helper("newgidmap", pid, gid_map)?;
    }
    Ok(())
}

/// A one-line map of one id onto the caller's own.
fn single_own(map: &str, own: u32) -> bool {
    let f: Vec<&str> = map.split_whitespace().collect();
    matches!(f.as_slice(), [_, host, "1"] if host.parse::<u32>() == Ok(own))
}

/// newuidmap/newgidmap PID (CONTAINER-ID HOST-ID SIZE)...: shadow's setuid
/// helpers write the map for a user the subordinate id files allow.
fn run_id_helper(helper: &str, pid: i32, map: &str) -> Result<()> {
    let field = if helper == "newuidmap" {
        "linux.uidMappings"
    } else {
        "linux.gidMappings"
    };
    let out = std::process::Command::new(helper)
        .arg(pid.to_string())
        .args(map.split_whitespace())
        .output()
        .map_err(|e| Error::InvalidArg {
            arg: field.into(),
            reason: format!(
                "a rootless container with more than the caller's own id needs {helper} (Debian's uidmap package): {e}"
            ),
        })?;
    if !out.status.success() {
        return Err(Error::InvalidArg {
            arg: field.into(),
            reason: format!(
                "{helper} refused the mapping (see /etc/subuid and /etc/subgid): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    fs::write(&tmp, pid.to_string()).map_err(io_err("writing", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("renaming", &tmp))
}

/// A unix socket address for `path`, through the parent directory's fd when
/// the path is longer than `sun_path` allows. Returns the fd to keep open.
fn sock_addr(path: &Path) -> Result<(rustix::net::SocketAddrUnix, Option<OwnedFd>)> {
    let direct = rustix::net::SocketAddrUnix::new(path);
    if let Ok(a) = direct {
        return Ok((a, None));
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dirfd = rustix::fs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("opening", parent)(e.into()))?;
    let short = berth_sys::path::fd_path(dirfd.as_fd()).join(path.file_name().unwrap_or_default());
    let a = rustix::net::SocketAddrUnix::new(&short)
        .map_err(|e| io_err("socket path", path)(e.into()))?;
    Ok((a, Some(dirfd)))
}

/// The listening end of the start socket at `path`.
fn listen(path: &Path) -> Result<OwnedFd> {
    start_socket(path, |fd, addr| {
        rustix::net::bind(fd, addr).map_err(|e| io_err("binding", path)(e.into()))?;
        rustix::net::listen(fd, 1).map_err(|e| io_err("listening on", path)(e.into()))
    })
}

/// A connection to the start socket at `path`.
fn connect(path: &Path) -> Result<OwnedFd> {
    start_socket(path, |fd, addr| {
        rustix::net::connect(fd, addr).map_err(|e| io_err("connecting to", path)(e.into()))
    })
}

/// A close-on-exec `SOCK_SEQPACKET` socket, set up by `then` with the
/// address of `path` (which stays valid for the call).
fn start_socket(
    path: &Path,
    then: impl FnOnce(&OwnedFd, &rustix::net::SocketAddrUnix) -> Result<()>,
) -> Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| io_err("socket", path)(e.into()))?;
    let (addr, _keep) = sock_addr(path)?;
    then(&fd, &addr)?;
    Ok(fd)
}

/// Whether `linux.resources` sets anything a cgroup enforces (the device
/// rules alone are the defaults every spec carries).
fn asks_for_limits(r: &oci_spec::runtime::LinuxResources) -> bool {
    r.memory().is_some()
        || r.cpu().is_some()
        || r.pids().is_some()
        || r.block_io().is_some()
        || r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())
        || r.network().is_some()
        || r.rdma().as_ref().is_some_and(|h| !h.is_empty())
        || r.unified().as_ref().is_some_and(|h| !h.is_empty())
}
