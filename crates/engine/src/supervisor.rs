//! The supervisor: one small process per running container, its parent.
//!
//! ```text
//!  berth run/start (CLI)                supervisor (berth supervise ID)        container
//!  ─────────────────────                ───────────────────────────────        ─────────
//!  spawn ──fork+exec (protected)──────▶ setsid; mount rootfs; write spec
//!                                       runtime.launch ─────clone3───────────▶ init → exec
//!  ◀── status pipe: Started{pid} ────── state.json: running
//!  -d: print id, exit                   loop: stdout/stderr pipes → json log
//!  attached: output arrives on the      (and to the CLI's inherited fds)
//!  fds the supervisor inherited;        pidfd readable → reap → exit code
//!  signals forwarded to pid             restart policy? → launch again
//!                                       state.json: exited; teardown (--rm)
//!  ◀── status pipe: Exited{code} ────── exit
//! ```
//!
//! The status pipe is the supervisor's fd 3, JSON lines of [`Event`]. The
//! supervisor runs from a read-only mount of the berth binary (as the
//! runtime does, CVE-2019-5736), in its own session, with stdin and the
//! CLI's stdout/stderr only when attached.

use std::ffi::CString;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_sys::signal;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};
use crate::logs::{Stream, Writer};
use crate::record::{self, read_json, Locked, Paths, Record, Status};
use crate::Engine;

/// The supervisor's end of the status pipe.
pub const STATUS_FD: RawFd = 3;

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
    /// The caller detached from a terminal (Ctrl-P Ctrl-Q); the container
    /// runs on.
    Detached,
}

/// How the starting command takes part.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// The container's output also goes to the caller's stdout/stderr.
    pub output: bool,
    /// The container reads the caller's stdin.
    pub stdin: bool,
}

/// The starting command's end of the status pipe.
#[derive(Debug)]
pub struct StatusPipe {
    reader: BufReader<fs::File>,
    child: std::process::Child,
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
}

impl Engine {
    /// Starts the supervisor of container `id`; it launches the container
    /// and reports on the returned status pipe.
    pub fn spawn_supervisor(&self, id: &str, attach: Attach) -> Result<StatusPipe> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| io_err("creating a pipe", "status")(e.into()))?;
        // Started from a read-only copy of the binary, so it need not
        // re-execute itself to be safe to parent containers (it still
        // does, if the copy cannot be made here).
        let tree = berth_sys::exe::protected_binary().ok();
        let exe = match &tree {
            Some(t) => std::path::PathBuf::from(format!("/proc/self/fd/{}", t.as_raw_fd())),
            None => std::path::PathBuf::from("/proc/self/exe"),
        };
        let mut cmd = Command::new(&exe);
        cmd.arg0("berth")
            .arg("--root")
            .arg(&self.root)
            .arg("--run-root")
            .arg(&self.run_root)
            .arg("supervise")
            .arg(id);
        if attach.output {
            cmd.arg("--attach");
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        if !attach.stdin {
            cmd.stdin(Stdio::null());
        }
        let w_raw = w.as_raw_fd();
        // SAFETY: the closure runs in the child between fork and exec and
        // only makes async-signal-safe system calls (setsid, dup2).
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                if libc::dup2(w_raw, STATUS_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
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
        })
    }
}

/// Entry point of `berth supervise ID`: runs before anything else in the
/// process. Re-executes from a protected copy of the binary first.
pub fn main(engine: &Engine, id: &str, attached: bool) -> i32 {
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
    let mut sup = match Supervisor::new(engine, id, attached) {
        Ok(s) => s,
        Err(e) => {
            report(&Event::Failed {
                message: e.to_string(),
                code: 125,
            });
            return 125;
        }
    };
    sup.run()
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
    /// The caller's stdout/stderr while attached.
    out: Option<(OwnedFd, OwnedFd)>,
    /// The caller's stdin, copied to the container's terminal (`-it`).
    input: Option<OwnedFd>,
}

/// One launched container's plumbing.
struct Running {
    pid: i32,
    pidfd: OwnedFd,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// The pty master of a `-t` container: its output, and its input.
    tty: Option<OwnedFd>,
}

impl<'a> Supervisor<'a> {
    fn new(engine: &'a Engine, id: &str, attached: bool) -> Result<Supervisor<'a>> {
        let paths = engine.paths(id);
        let record: Record = read_json(&paths.record())?;
        Ok(Supervisor {
            engine,
            id: id.to_owned(),
            paths,
            record,
            attached,
            out: None,
            input: None,
        })
    }

    fn run(&mut self) -> i32 {
        let mut first = true;
        loop {
            let running = match self.launch() {
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
                first = false;
                release_memory();
            }
            let code = self.watch(running);
            let (restart, state) = self.record_exit(code);
            if restart {
                let backoff = Duration::from_millis(100u64 << state.restart_count.min(8));
                std::thread::sleep(backoff);
                continue;
            }
            let trash = self.teardown();
            report(&Event::Exited { code });
            // The caller has its answer, and its descriptors back (a shell
            // reading our copy of its stdout would wait for us otherwise);
            // the directory goes after that.
            self.out = None;
            self.input = None;
            if let Some(t) = trash {
                let _ = fs::remove_dir_all(t);
            }
            return 0;
        }
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
        crate::lifecycle::write_spec(self.engine, &self.paths, &self.record, net).map_err(e125)?;
        // A leftover of an earlier run of this container.
        let rt = self.engine.runtime();
        if rt.state(&self.id).is_ok() {
            let _ = rt.delete(&self.id, true);
        }
        let tty = self.record.options.tty;
        let (out_r, out_w) = pipe().map_err(e125)?;
        let (err_r, err_w) = pipe().map_err(e125)?;
        let interactive = self.record.options.interactive && self.attached;
        let stdin = if interactive && !tty {
            None
        } else {
            Some(devnull().map_err(e125)?)
        };
        if self.attached && self.out.is_none() {
            self.out = Some((dup_cloexec(1).map_err(e125)?, dup_cloexec(2).map_err(e125)?));
        }
        if interactive && tty && self.input.is_none() {
            self.input = Some(dup_cloexec(0).map_err(e125)?);
        }
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
        let launched = rt.launch(&berth_runtime::CreateOptions {
            id: self.id.clone(),
            bundle: self.paths.dir.clone(),
            console_socket: console.as_ref().map(|c| c.path().to_owned()),
            ..Default::default()
        });
        // Back to our own: nothing of the container's stays at 0-2.
        let null = devnull().map_err(e125)?;
        let _ = dup2(null.as_fd(), 0);
        let _ = dup2(null.as_fd(), 1);
        let _ = dup2(null.as_fd(), 2);
        drop((out_w, err_w, stdin));
        let pid = launched.map_err(|e| {
            let code = exec_failure_code(&e.to_string());
            (Error::from(e), code)
        })?;
        let pidfd =
            signal::pidfd(pid).map_err(|e| e125(io_err("opening a pidfd", "container init")(e)))?;
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
            pidfd,
            stdout: Some(out_r).filter(|_| !tty),
            stderr: Some(err_r).filter(|_| !tty),
            tty: master,
        })
    }

    /// Copies output to the log (and the attached caller) until the
    /// container exits and its output is drained; with a terminal, also
    /// the caller's input to it, its window size (SIGWINCH, sent by the
    /// caller) and Ctrl-P Ctrl-Q to detach. Returns the exit code.
    fn watch(&mut self, mut r: Running) -> i32 {
        #[derive(Clone, Copy)]
        enum Src {
            Out(Stream),
            Tty,
            Exit,
            Input,
            Winch,
        }
        let mut log = Writer::open(&self.paths.log(), self.record.options.log.clone()).ok();
        let winch = match (&r.tty, &self.input) {
            (Some(m), Some(_)) => {
                self.copy_size(m.as_fd());
                signal::SignalFd::new(&[libc::SIGWINCH]).ok()
            }
            _ => None,
        };
        let mut detach = DetachKeys::default();
        let mut exited = false;
        let mut exited_at: Option<std::time::Instant> = None;
        let mut buf = vec![0u8; 64 * 1024];
        while !exited || r.stdout.is_some() || r.stderr.is_some() || r.tty.is_some() {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(6);
            let mut which = Vec::with_capacity(6);
            if let Some(f) = &r.stdout {
                fds.push(PollFd::new(f, PollFlags::IN));
                which.push(Src::Out(Stream::Stdout));
            }
            if let Some(f) = &r.stderr {
                fds.push(PollFd::new(f, PollFlags::IN));
                which.push(Src::Out(Stream::Stderr));
            }
            if let Some(f) = &r.tty {
                fds.push(PollFd::new(f, PollFlags::IN));
                which.push(Src::Tty);
            }
            if !exited {
                fds.push(PollFd::new(&r.pidfd, PollFlags::IN));
                which.push(Src::Exit);
                if let (Some(i), Some(_)) = (&self.input, &r.tty) {
                    fds.push(PollFd::new(i, PollFlags::IN));
                    which.push(Src::Input);
                }
                if let Some(w) = &winch {
                    fds.push(PollFd::new(w, PollFlags::IN));
                    which.push(Src::Winch);
                }
            }
            // Once the container is gone, a terminal may hold its last
            // bytes a moment longer (and never reports end of file if a
            // process outside kept the slave): wait for them briefly.
            let limit = exited.then_some(rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            });
            match poll(&mut fds, limit.as_ref()) {
                Ok(0) if exited_at.is_some() => {
                    r.tty = None;
                    continue;
                }
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(_) => break,
            }
            let ready: Vec<(Src, bool)> = fds
                .iter()
                .zip(&which)
                .map(|(f, w)| (*w, !f.revents().is_empty()))
                .collect();
            drop(fds);
            for (w, is_ready) in ready {
                if !is_ready {
                    continue;
                }
                match w {
                    Src::Exit => {
                        exited = true;
                        exited_at = Some(std::time::Instant::now());
                    }
                    Src::Winch => {
                        if let Some(w) = &winch {
                            while let Ok(Some(_)) = w.next() {}
                        }
                        if let Some(m) = &r.tty {
                            self.copy_size(m.as_fd());
                        }
                    }
                    Src::Input => {
                        let n = match self.input.as_ref().map(|f| rustix::io::read(f, &mut buf)) {
                            Some(Ok(n)) => n,
                            Some(Err(Errno::INTR | Errno::AGAIN)) => continue,
                            _ => 0,
                        };
                        if n == 0 {
                            self.input = None;
                            continue;
                        }
                        let (bytes, detached) = detach.filter(&buf[..n]);
                        if let Some(m) = &r.tty {
                            let _ = write_all(m.as_fd(), &bytes);
                        }
                        if detached {
                            self.detach_caller();
                        }
                    }
                    Src::Out(_) | Src::Tty => {
                        let slot = match w {
                            Src::Out(Stream::Stdout) => &mut r.stdout,
                            Src::Out(Stream::Stderr) => &mut r.stderr,
                            _ => &mut r.tty,
                        };
                        let n = match slot.as_ref().map(|f| rustix::io::read(f, &mut buf)) {
                            Some(Ok(n)) => n,
                            Some(Err(Errno::INTR | Errno::AGAIN)) => continue,
                            // A pty master reads EIO once no slave is open.
                            _ => 0,
                        };
                        if n == 0 {
                            *slot = None;
                            continue;
                        }
                        let s = match w {
                            Src::Out(s) => s,
                            _ => Stream::Stdout,
                        };
                        if let Some(l) = log.as_mut() {
                            let _ = l.write(s, &buf[..n]);
                        }
                        self.forward(s, &buf[..n]);
                    }
                }
            }
        }
        if let Some(l) = log.as_mut() {
            let _ = l.flush_partial();
        }
        match signal::wait_child(r.pid) {
            Ok(e) => e.shell_code(),
            Err(_) => 255,
        }
    }

    /// The caller's terminal size onto the container's.
    fn copy_size(&self, master: BorrowedFd<'_>) {
        if let Some((o, _)) = &self.out {
            if let Ok((rows, cols)) = berth_sys::pty::size(o.as_fd()) {
                if rows > 0 && cols > 0 {
                    let _ = berth_sys::pty::set_size(master, rows, cols);
                }
            }
        }
    }

    /// Ctrl-P Ctrl-Q: let go of the caller's terminal and tell it so; the
    /// container runs on, its output still logged.
    fn detach_caller(&mut self) {
        self.input = None;
        self.out = None;
        report(&Event::Detached);
    }

    fn forward(&mut self, s: Stream, bytes: &[u8]) {
        let Some((o, e)) = &self.out else { return };
        let fd = match s {
            Stream::Stdout => o,
            Stream::Stderr => e,
        };
        if write_all(fd.as_fd(), bytes).is_err() {
            // The caller went away: keep logging, stop forwarding.
            self.out = None;
        }
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

/// Docker's codes for a process that could not be started.
fn exec_failure_code(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("not found in $path") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("exec format")
    {
        126
    } else {
        125
    }
}

/// Gives freed heap back to the kernel: a supervisor idles for the life
/// of its container and should hold only what it uses.
fn release_memory() {
    // SAFETY: malloc_trim only walks glibc's own heap structures.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| io_err("creating a pipe", "container stdio")(e.into()))
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

fn write_all(fd: BorrowedFd<'_>, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        match rustix::io::write(fd, b) {
            Ok(n) => b = &b[n..],
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Docker's default detach keys, Ctrl-P Ctrl-Q, picked out of the input.
#[derive(Debug, Default)]
struct DetachKeys {
    /// A Ctrl-P was the last byte and is held back.
    pending: bool,
}

impl DetachKeys {
    const CTRL_P: u8 = 0x10;
    const CTRL_Q: u8 = 0x11;

    /// The bytes to pass on, and whether the sequence was typed.
    fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len() + 1);
        for &b in input {
            if self.pending {
                self.pending = false;
                if b == Self::CTRL_Q {
                    return (out, true);
                }
                out.push(Self::CTRL_P);
            }
            if b == Self::CTRL_P {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_ctrl_p_ctrl_q_and_nothing_else() {
        let mut d = DetachKeys::default();
        assert_eq!(d.filter(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(
            d.filter(&[b'a', 0x10, b'b']),
            (vec![b'a', 0x10, b'b'], false)
        );
        assert_eq!(d.filter(&[b'x', 0x10]), (vec![b'x'], false));
        assert_eq!(d.filter(&[0x11, b'y']), (vec![], true));
        let mut d = DetachKeys::default();
        assert_eq!(d.filter(&[0x10, 0x10, 0x11]), (vec![0x10], true));
    }
}
