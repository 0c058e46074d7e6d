//! The supervisor: what starts a container and records its end, with
//! berth-shim (crates/shim) as the process that parents it in between.
//!
//! ```text
//!  berth run/start (CLI)          berth supervise ID                      container
//!  ─────────────────────          ──────────────────                      ─────────
//!  spawn ─fork+exec (protected)─▶ setsid; mount rootfs; network; spec
//!                                 runtime.launch ──────clone3───────────▶ init → exec
//!  ◀── status pipe: Started{pid}  state.json: running
//!                                 exec berth-shim (same pid, a few pages):
//!  -d: print id, exit               stdout/stderr or pty → json log
//!  attached: output and terminal    (and to the caller), input, resize,
//!  relayed by the shim; signals     Ctrl-P Ctrl-Q → status: "detached"
//!  forwarded to the container       pidfd readable → reap → exit code
//!  ◀── Reaped{code}, if offered ──  (attached, no restart: --hand-to)
//!  answer → record, teardown ─────▶ exit (nothing else to do)
//!  no answer (caller gone): ──────▶ exec berth supervise ID --exited CODE
//!                                 record; restart policy? → launch again
//!                                 state.json: exited; teardown (--rm)
//!  ◀── status pipe: Exited{code}  exit
//! ```
//!
//! The status pipe is fd 3 of all three programs, JSON lines of [`Event`];
//! the answer to an offered exit comes back on a socket at fd 4. An
//! attached caller is running anyway: recording the exit there saves a
//! start of berth on every foreground `run`.
//! The supervisor runs from a read-only mount of the berth binary (as the
//! runtime does, CVE-2019-5736), in its own session, with stdin and the
//! CLI's stdout/stderr only when attached; the shim executes that same
//! protected binary at the end. While the container runs, only the shim is
//! resident: ~20 KiB of a static program instead of berth's megabytes.

use std::ffi::{CString, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_sys::signal;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};
use crate::options::RestartPolicy;
use crate::record::{self, read_json, Locked, Paths, Record, Status};
use crate::Engine;

/// The supervisor's end of the status pipe.
pub const STATUS_FD: RawFd = 3;
/// Where an attached caller answers the shim's offer of the exit
/// ([`Attach::output`]).
pub const HAND_TO_FD: RawFd = 4;

/// What the supervisor tells the command that started it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Started {
        pid: i32,
    },
    /// The container could not start; `code` is Docker's: 125 for the
    /// engine, 126 for a program that cannot run, 127 for one not found.
    Failed {
        message: String,
        code: i32,
    },
    Exited {
        code: i32,
    },
    /// The container exited with `code` and the shim offers the caller its
    /// exit ([`Attach::output`]): the caller answers with
    /// [`StatusPipe::take_exit`] and records it itself
    /// ([`finish_exited`]), or does not answer and gets `Exited` later.
    Reaped {
        code: i32,
    },
    /// The caller detached from a terminal (Ctrl-P Ctrl-Q); the container
    /// runs on.
    Detached,
}

/// How the starting command takes part.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// The container's output also goes to the caller's stdout/stderr. Such
    /// a caller stays until the end, so it is also offered the exit
    /// ([`Event::Reaped`]) to record and tear the container down itself:
    /// one start of berth fewer per run. A caller that is gone by then
    /// (killed, or detached) leaves it to the shim's hand-over.
    pub output: bool,
    /// The container reads the caller's stdin.
    pub stdin: bool,
}

/// The starting command's end of the status pipe.
#[derive(Debug)]
pub struct StatusPipe {
    reader: BufReader<fs::File>,
    child: std::process::Child,
    /// Our end of the socket at the supervisor's (then the shim's)
    /// `HAND_TO_FD`.
    hand_to: Option<OwnedFd>,
}

impl StatusPipe {
    /// The next event; `None` when the supervisor went away.
    pub fn next_event(&mut self) -> Option<Event> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => serde_json::from_str(&line).ok(),
        }
    }

    /// The supervisor's pid.
    pub fn supervisor_pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Reaps the supervisor once it has said its last word (attached runs).
    pub fn reap(mut self) {
        let _ = self.child.wait();
    }

    /// Accepts the shim's offer of the exit ([`Event::Reaped`]): once this
    /// returns true the shim ends without recording anything, and the
    /// caller must call [`finish_exited`]. False: nothing was offered, or
    /// the shim is gone; an `Exited` event follows from its hand-over.
    pub fn take_exit(&mut self) -> bool {
        let Some(fd) = self.hand_to.take() else {
            return false;
        };
        matches!(
            rustix::net::send(&fd, b"1", rustix::net::SendFlags::NOSIGNAL),
            Ok(1)
        )
    }
}

impl Engine {
    /// Starts the supervisor of container `id`; it launches the container
    /// and reports on the returned status pipe.
    pub fn spawn_supervisor(&self, id: &str, attach: Attach) -> Result<StatusPipe> {
        let shim = shim_path()?;
        let (r, w) = pipe("the status pipe")?;
        // A socket, not a pipe: the answer is sent with MSG_NOSIGNAL, so a
        // shim gone before reading it cannot kill the caller with SIGPIPE.
        let hand_to = attach
            .output
            .then(|| {
                rustix::net::socketpair(
                    rustix::net::AddressFamily::UNIX,
                    rustix::net::SocketType::STREAM,
                    rustix::net::SocketFlags::CLOEXEC,
                    None,
                )
                .map_err(|e| io_err("creating a socket pair", "hand-over")(e.into()))
            })
            .transpose()?;
        // Started from a read-only copy of the binary, so it need not
        // re-execute itself to be safe to parent containers (it still
        // does, if the copy cannot be made here).
        let tree = berth_sys::exe::protected_binary().ok();
        let exe = match &tree {
            Some(t) => std::path::PathBuf::from(format!("/proc/self/fd/{}", t.as_raw_fd())),
            None => std::path::PathBuf::from("/proc/self/exe"),
        };
        let argv = SuperviseArgs {
            id: id.to_owned(),
            attached: attach.output,
            shim,
            exited: None,
            hand_to: hand_to.is_some(),
        }
        .argv(self);
        let mut cmd = Command::new(&exe);
        cmd.arg0(&argv[0]).args(&argv[1..]);
        if !attach.output {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        if !attach.stdin {
            cmd.stdin(Stdio::null());
        }
        let w_raw = w.as_raw_fd();
        let hand_raw = hand_to.as_ref().map(|(r, _)| r.as_raw_fd());
        // SAFETY: the closure runs in the child between fork and exec and
        // only makes async-signal-safe system calls (setsid, dup2).
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                if libc::dup2(w_raw, STATUS_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(fd) = hand_raw {
                    if libc::dup2(fd, HAND_TO_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(io_err("starting the supervisor", &exe))?;
        drop((w, tree));
        Ok(StatusPipe {
            reader: BufReader::new(fs::File::from(r)),
            child,
            hand_to: hand_to.map(|(_, w)| w),
        })
    }
}

/// Where berth-shim is: `$BERTH_SHIM`, or next to the running berth.
pub fn shim_path() -> Result<PathBuf> {
    let path = match std::env::var_os("BERTH_SHIM") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(io_err("finding", "the berth binary"))?
            .with_file_name("berth-shim"),
    };
    if !path.is_file() {
        return Err(Error::Start(format!(
            "berth-shim not found at {}: it is built and installed with berth (or set BERTH_SHIM)",
            path.display()
        )));
    }
    Ok(path)
}

/// `berth --root R --run-root RR supervise ID --shim PATH [--attach]
/// [--hand-to] [--exited CODE]`: the supervisor's command line, written by
/// [`Engine::spawn_supervisor`] and by the shim's hand-over (which adds
/// `--exited`), read by [`SuperviseArgs::parse`]. Kept out of clap so that
/// the supervisor builds as little as possible.
#[derive(Debug, Clone)]
pub struct SuperviseArgs {
    pub id: String,
    /// The caller's stdio are fds 0-2.
    pub attached: bool,
    pub shim: PathBuf,
    /// The container exited with this code (the shim's hand-over).
    pub exited: Option<i32>,
    /// Fd 4 is the read end of the attached caller's answer to the shim's
    /// offer of the exit ([`Attach::output`]).
    pub hand_to: bool,
}

impl SuperviseArgs {
    /// The command line (argv\[0\] included) that [`SuperviseArgs::parse`]
    /// reads back, for `engine`'s roots.
    fn argv(&self, engine: &Engine) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![
            "berth".into(),
            "--root".into(),
            engine.root.clone().into_os_string(),
            "--run-root".into(),
            engine.run_root.clone().into_os_string(),
            "supervise".into(),
            self.id.clone().into(),
            "--shim".into(),
            self.shim.clone().into_os_string(),
        ];
        if self.attached {
            argv.push("--attach".into());
        }
        if self.hand_to {
            argv.push("--hand-to".into());
        }
        if let Some(code) = self.exited {
            argv.extend(["--exited".into(), code.to_string().into()]);
        }
        argv
    }

    /// (root, run root, arguments) of a supervisor's command line; `None`
    /// for any other command line.
    pub fn parse(a: &[OsString]) -> Option<(PathBuf, PathBuf, SuperviseArgs)> {
        if a.len() < 7 || a[1] != "--root" || a[3] != "--run-root" || a[5] != "supervise" {
            return None;
        }
        let mut args = SuperviseArgs {
            id: a[6].to_string_lossy().into_owned(),
            attached: false,
            shim: PathBuf::new(),
            exited: None,
            hand_to: false,
        };
        let mut rest = a[7..].iter();
        while let Some(flag) = rest.next() {
            match flag.to_str() {
                Some("--attach") => args.attached = true,
                Some("--hand-to") => args.hand_to = true,
                Some("--shim") => args.shim = PathBuf::from(rest.next()?),
                Some("--exited") => args.exited = Some(rest.next()?.to_str()?.parse().ok()?),
                _ => return None,
            }
        }
        Some((PathBuf::from(&a[2]), PathBuf::from(&a[4]), args))
    }
}

/// Entry point of `berth supervise ID`: runs before anything else in the
/// process. Re-executes from a protected copy of the binary first.
pub fn main(engine: &Engine, args: &SuperviseArgs) -> i32 {
    if !matches!(berth_sys::exe::is_protected(), Ok(true)) {
        let args: Vec<CString> = std::env::args_os()
            .filter_map(|a| {
                CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).ok()
            })
            .collect();
        let e = berth_sys::exe::exec_protected(&args);
        report(&Event::Failed {
            message: format!("re-executing the supervisor from a read-only copy: {e:?}"),
            code: 125,
        });
        return 125;
    }
    ignore_sigpipe();
    let mut sup = match Supervisor::new(engine, args) {
        Ok(s) => s,
        Err(e) => {
            if args.exited.is_none() {
                report(&Event::Failed {
                    message: e.to_string(),
                    code: 125,
                });
            }
            return 125;
        }
    };
    sup.run(args.exited)
}

/// Records the exit of container `id` (`code`) and tears it down, in the
/// attached caller that took it from the shim ([`StatusPipe::take_exit`]):
/// what `berth supervise ID --exited CODE` does, without its start.
pub fn finish_exited(engine: &Engine, id: &str, code: i32) -> Result<()> {
    let args = SuperviseArgs {
        id: id.to_owned(),
        attached: false,
        shim: PathBuf::new(),
        exited: Some(code),
        hand_to: false,
    };
    let mut sup = Supervisor::new(engine, &args)?;
    sup.reports = false;
    let (restart, _) = sup.record_exit(code);
    if restart {
        // Not offered for a container that restarts (Supervisor::new).
        tracing::warn!(
            id,
            "a restart policy applies to an exit taken by the caller"
        );
    }
    sup.finish(code);
    Ok(())
}

fn ignore_sigpipe() {
    // SAFETY: SIG_IGN is a valid disposition; no other thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Writes one event to the status pipe (if the starter still listens).
fn report(ev: &Event) {
    // SAFETY: fd 3 is the status pipe given by the starter (or closed, in
    // which case the write fails harmlessly); ManuallyDrop keeps it open.
    let f = unsafe { std::mem::ManuallyDrop::new(fs::File::from_raw_fd(STATUS_FD)) };
    let mut line = serde_json::to_string(ev).unwrap_or_default();
    line.push('\n');
    let _ = (&*f).write_all(line.as_bytes());
}

struct Supervisor<'a> {
    engine: &'a Engine,
    id: String,
    paths: Paths,
    record: Record,
    attached: bool,
    /// berth-shim's path; opened on a read-only mount before each launch.
    shim_path: PathBuf,
    /// The caller's stdout/stderr while attached.
    out: Option<(OwnedFd, OwnedFd)>,
    /// The caller's stdin, copied to the container's terminal (`-it`).
    input: Option<OwnedFd>,
    /// Passed to the shim as `--hand-to` when the exit can be the caller's.
    hand_to: Option<OwnedFd>,
    /// Events go to the status pipe at fd 3 (false in the caller that took
    /// the exit, where fd 3 is something else).
    reports: bool,
}

/// One launched container's plumbing.
struct Running {
    pid: i32,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// The pty master of a `-t` container: its output, and its input.
    tty: Option<OwnedFd>,
}

impl<'a> Supervisor<'a> {
    fn new(engine: &'a Engine, args: &SuperviseArgs) -> Result<Supervisor<'a>> {
        let paths = engine.paths(&args.id);
        let record: Record = read_json(&paths.record())?;
        let (out, input) = if args.attached {
            let interactive = record.options.interactive && record.options.tty;
            (
                Some((dup_cloexec(1)?, dup_cloexec(2)?)),
                interactive.then(|| dup_cloexec(0)).transpose()?,
            )
        } else {
            (None, None)
        };
        let hand_to = if args.hand_to {
            // SAFETY: with --hand-to the starter put the pipe's read end at
            // HAND_TO_FD (spawn_supervisor); nothing else owns it here.
            let fd = unsafe { OwnedFd::from_raw_fd(HAND_TO_FD) };
            // Not for the container, nor (unless passed on) for the shim.
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
                .map_err(|e| io_err("setting close-on-exec on", "the hand-over pipe")(e.into()))?;
            // The caller may take the exit only where nothing follows it:
            // a restart must come from here.
            let last = record.options.auto_remove || record.options.restart == RestartPolicy::No;
            (args.exited.is_none() && last).then_some(fd)
        } else {
            None
        };
        Ok(Supervisor {
            engine,
            id: args.id.clone(),
            paths,
            record,
            attached: args.attached,
            shim_path: args.shim.clone(),
            out,
            input,
            hand_to,
            reports: true,
        })
    }

    /// Launches the container and hands it to the shim, or (after the
    /// shim's hand-over) records its exit, restarting it if its policy
    /// says so. Returns only when the container is not running.
    fn run(&mut self, exited: Option<i32>) -> i32 {
        let first = exited.is_none();
        if let Some(code) = exited {
            let (restart, state) = self.record_exit(code);
            if !restart {
                return self.finish(code);
            }
            let backoff = Duration::from_millis(100u64 << state.restart_count.min(8));
            std::thread::sleep(backoff);
        }
        // The shim parents the container: it too runs from a read-only
        // mount (CVE-2019-5736), though the container cannot see it. Opened
        // first, so that a missing shim fails before anything starts.
        let launched = berth_sys::exe::protected_file(&self.shim_path)
            .map_err(|e| {
                (
                    io_err("opening a read-only copy of", &self.shim_path)(e),
                    125,
                )
            })
            .and_then(|shim| Ok((shim, self.launch()?)));
        let (shim, running) = match launched {
            Ok(r) => r,
            Err((e, code)) => {
                let msg = e.to_string();
                self.fail(&msg, code);
                if first {
                    report(&Event::Failed { message: msg, code });
                }
                return code;
            }
        };
        if first {
            report(&Event::Started { pid: running.pid });
        }
        let e = self.exec_shim(shim.as_fd(), &running);
        // The container runs and nothing would reap it: end it.
        if let Ok(fd) = signal::pidfd(running.pid) {
            let _ = signal::pidfd_kill(&fd, libc::SIGKILL);
        }
        let _ = signal::wait_child(running.pid);
        let msg = format!("executing {}: {e}", self.shim_path.display());
        self.fail(&msg, 125);
        report(&Event::Exited { code: 125 });
        125
    }

    /// The end: unmount (and with `--rm` remove), then tell the caller.
    fn finish(&mut self, code: i32) -> i32 {
        let trash = self.teardown();
        if self.reports {
            report(&Event::Exited { code });
        }
        // The caller has its answer, and its descriptors back (a shell
        // reading our copy of its stdout would wait for us otherwise);
        // the directory goes after that.
        self.out = None;
        self.input = None;
        if let Some(t) = trash {
            if self.reports {
                let _ = fs::remove_dir_all(t);
            } else {
                remove_in_background(&t);
            }
        }
        0
    }

    /// Becomes berth-shim, handing it the container and every descriptor
    /// it relays. Returns only on failure.
    fn exec_shim(&self, shim: BorrowedFd<'_>, r: &Running) -> std::io::Error {
        let exe = match rustix::fs::open(
            "/proc/self/exe",
            rustix::fs::OFlags::PATH,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => return e.into(),
        };
        let mut args: Vec<OsString> = vec![
            "berth-shim".into(),
            "--pid".into(),
            r.pid.to_string().into(),
            "--log".into(),
            self.paths.log().into(),
            "--log-max-file".into(),
            self.record.options.log.max_file.to_string().into(),
        ];
        if let Some(max) = self.record.options.log.max_size {
            args.extend(["--log-max-size".into(), max.to_string().into()]);
        }
        let fds = [
            ("--stdout", r.stdout.as_ref()),
            ("--stderr", r.stderr.as_ref()),
            ("--tty", r.tty.as_ref()),
            ("--input", self.input.as_ref()),
            ("--attach-out", self.out.as_ref().map(|o| &o.0)),
            ("--attach-err", self.out.as_ref().map(|o| &o.1)),
            ("--exe", Some(&exe)),
            ("--hand-to", self.hand_to.as_ref()),
        ];
        for (flag, fd) in fds {
            if let Some(fd) = fd {
                if let Err(e) = inheritable(fd.as_fd()) {
                    return e;
                }
                args.extend([flag.into(), fd.as_raw_fd().to_string().into()]);
            }
        }
        args.push("--".into());
        // What the shim runs when the container exits and nobody took the
        // exit; it adds `--exited CODE`.
        let handover = SuperviseArgs {
            id: self.id.clone(),
            attached: false,
            shim: self.shim_path.clone(),
            exited: None,
            hand_to: false,
        };
        args.extend(handover.argv(self.engine));
        let args: Vec<CString> = match args
            .into_iter()
            .map(|a| CString::new(std::os::unix::ffi::OsStringExt::into_vec(a)))
            .collect()
        {
            Ok(a) => a,
            Err(_) => return std::io::Error::from_raw_os_error(libc::EINVAL),
        };
        berth_sys::exe::exec_fd(shim, &args)
    }

    /// Mounts the rootfs, writes the spec, and has the runtime start the
    /// container with the supervisor's pipes as its stdio.
    fn launch(&mut self) -> std::result::Result<Running, (Error, i32)> {
        let e125 = |e: Error| (e, 125);
        let lock = Locked::acquire(self.paths.clone()).map_err(e125)?;
        crate::lifecycle::mount_rootfs(&self.paths, &self.record).map_err(e125)?;
        let net = self
            .engine
            .network_up(&self.paths, &self.record)
            .map_err(e125)?;
        let launched = self.launch_with(&lock, &net);
        if launched.is_err() {
            let _ = self.engine.network_down(&self.id);
        }
        launched
    }

    fn launch_with(
        &mut self,
        lock: &Locked,
        net: &crate::network::NetUp,
    ) -> std::result::Result<Running, (Error, i32)> {
        let e125 = |e: Error| (e, 125);
        let spec = crate::lifecycle::write_spec(self.engine, &self.paths, &self.record, net)
            .map_err(e125)?;
        // A leftover of an earlier run of this container.
        let rt = self.engine.runtime();
        if rt.state(&self.id).is_ok() {
            let _ = rt.delete(&self.id, true);
        }
        let tty = self.record.options.tty;
        let (out_r, out_w) = pipe("container stdio").map_err(e125)?;
        let (err_r, err_w) = pipe("container stdio").map_err(e125)?;
        let interactive = self.record.options.interactive && self.attached;
        let stdin = if interactive && !tty {
            None
        } else {
            Some(devnull().map_err(e125)?)
        };
        // With a terminal the runtime sends the pty master here.
        let console = if tty {
            Some(
                crate::terminal::ConsoleSocket::bind(&self.engine.run_root.join("consoles"))
                    .map_err(|e| e125(e.into()))?,
            )
        } else {
            None
        };
        // The runtime's init inherits fds 0-2.
        if let Some(i) = &stdin {
            dup2(i.as_fd(), 0).map_err(e125)?;
        }
        dup2(out_w.as_fd(), 1).map_err(e125)?;
        dup2(err_w.as_fd(), 2).map_err(e125)?;
        let launched = rt.launch_spec(
            &berth_runtime::CreateOptions {
                id: self.id.clone(),
                bundle: self.paths.dir.clone(),
                console_socket: console.as_ref().map(|c| c.path().to_owned()),
                ..Default::default()
            },
            spec,
        );
        // Back to our own: nothing of the container's stays at 0-2.
        let null = devnull().map_err(e125)?;
        let _ = dup2(null.as_fd(), 0);
        let _ = dup2(null.as_fd(), 1);
        let _ = dup2(null.as_fd(), 2);
        drop((out_w, err_w, stdin));
        let pid = launched.map_err(|e| {
            let code = crate::exec::program_failure_code(&e.to_string()).unwrap_or(125);
            (Error::from(e), code)
        })?;
        let master = console
            .as_ref()
            .map(|c| c.receive())
            .transpose()
            .map_err(|e| e125(e.into()))?;
        lock.update(|s| {
            s.status = Status::Running;
            s.pid = pid;
            s.pid_start = record::start_time(pid).unwrap_or(0);
            s.supervisor_pid = std::process::id() as i32;
            s.supervisor_start = record::start_time(s.supervisor_pid).unwrap_or(0);
            s.started_at = Some(record::now());
            s.finished_at = None;
            s.exit_code = 0;
            s.error.clear();
            s.oom_killed = false;
        })
        .map_err(e125)?;
        Ok(Running {
            pid,
            stdout: Some(out_r).filter(|_| !tty),
            stderr: Some(err_r).filter(|_| !tty),
            tty: master,
        })
    }

    /// Records the exit; says whether the restart policy brings it back.
    fn record_exit(&mut self, code: i32) -> (bool, record::State) {
        let policy = self.record.options.restart;
        let oom = crate::lifecycle::oom_killed(self.engine, &self.id);
        let _ = self.engine.runtime().delete(&self.id, true);
        if let Err(e) = self.engine.network_down(&self.id) {
            tracing::warn!(id = %self.id, error = %e, "taking the container off its networks");
        }
        let lock = match Locked::acquire(self.paths.clone()) {
            Ok(l) => l,
            Err(_) => return (false, record::State::default()),
        };
        let mut restart = false;
        let st = lock.update(|s| {
            s.pid = 0;
            s.pid_start = 0;
            s.exit_code = code;
            s.finished_at = Some(record::now());
            s.oom_killed = oom;
            restart = !s.stopped_by_user
                && !self.record.options.auto_remove
                && policy.restarts(code, s.restart_count);
            if restart {
                s.status = Status::Restarting;
                s.restart_count += 1;
            } else {
                s.status = Status::Exited;
            }
        });
        (restart, st.unwrap_or_default())
    }

    fn fail(&mut self, msg: &str, code: i32) {
        let _ = self.engine.runtime().delete(&self.id, true);
        let _ = self.engine.network_down(&self.id);
        if let Ok(lock) = Locked::acquire(self.paths.clone()) {
            let _ = lock.update(|s| {
                s.status = if s.started_at.is_some() {
                    Status::Exited
                } else {
                    Status::Created
                };
                s.pid = 0;
                s.exit_code = code;
                s.error = msg.to_owned();
            });
        }
        if let Some(t) = self.teardown() {
            let _ = fs::remove_dir_all(t);
        }
    }

    /// After the last exit: unmount, and with `--rm` remove everything
    /// but the directory's contents, which the caller deletes (renamed
    /// away, the container is gone already).
    fn teardown(&mut self) -> Option<std::path::PathBuf> {
        let _ = crate::lifecycle::unmount_rootfs(&self.paths);
        if !self.record.options.auto_remove {
            return None;
        }
        match self.engine.unlink_stopped(&self.id, true) {
            Ok(trash) => trash,
            Err(e) => {
                tracing::warn!(id = %self.id, error = %e, "removing the container (--rm)");
                None
            }
        }
    }
}

/// Deletes a removed container's files (renamed away: nothing refers to
/// them) in a child of its own, so that the caller that took the exit
/// returns as soon as the container is gone, as it does when the
/// supervisor deletes them after saying `Exited`.
fn remove_in_background(trash: &std::path::Path) {
    // SAFETY: the child only deletes a directory tree (glibc makes malloc
    // usable after fork) and leaves with _exit, running no atexit handler
    // or destructor of the parent's.
    match unsafe { libc::fork() } {
        0 => {
            let _ = fs::remove_dir_all(trash);
            // SAFETY: ends the child without unwinding into the parent's code.
            unsafe { libc::_exit(0) }
        }
        -1 => {
            let _ = fs::remove_dir_all(trash);
        }
        _ => {}
    }
}

fn pipe(what: &str) -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| io_err("creating a pipe", what)(e.into()))
}

fn devnull() -> Result<OwnedFd> {
    rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io_err("opening", "/dev/null")(e.into()))
}

fn dup_cloexec(fd: RawFd) -> Result<OwnedFd> {
    // SAFETY: fds 1 and 2 are open in the supervisor (inherited from the
    // caller); the borrow lasts only for the duplication.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_dupfd_cloexec(b, 10)
        .map_err(|e| io_err("duplicating", format!("fd {fd}"))(e.into()))
}

fn dup2(src: BorrowedFd<'_>, dst: RawFd) -> Result<()> {
    // SAFETY: dup2 onto a standard fd number; both are valid descriptors.
    let rc = unsafe { libc::dup2(src.as_raw_fd(), dst) };
    if rc < 0 {
        return Err(io_err("duplicating", format!("onto fd {dst}"))(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Clears close-on-exec, so `fd` reaches the shim.
fn inheritable(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supervisor_reads_back_the_command_line_it_is_given() {
        let engine = Engine::new(std::path::Path::new("/r"), std::path::Path::new("/rr"));
        let args = SuperviseArgs {
            id: "abc".into(),
            attached: true,
            shim: "/bin/berth-shim".into(),
            exited: Some(137),
            hand_to: true,
        };
        let argv = args.argv(&engine);
        assert_eq!(argv[0], "berth");
        let (root, run_root, back) = SuperviseArgs::parse(&argv).expect("parsed");
        assert_eq!(
            (root.as_path(), run_root.as_path()),
            (engine.root.as_path(), engine.run_root.as_path())
        );
        assert_eq!(
            (back.id, back.attached, back.shim, back.exited, back.hand_to),
            (args.id, args.attached, args.shim, args.exited, args.hand_to)
        );
        let other: Vec<OsString> = ["berth", "--root", "/r", "--run-root", "/rr", "ps"]
            .into_iter()
            .map(Into::into)
            .collect();
        assert!(SuperviseArgs::parse(&other).is_none());
    }
}
