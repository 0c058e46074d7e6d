//! `exec`: one more process in a running container, as `docker exec` runs
//! it. The process starts from the container's own (its `config.json`:
//! capabilities, rlimits, no_new_privileges, apparmor profile), with the
//! container's environment plus `-e`, the user resolved against the
//! container's `/etc/passwd` by file descriptor, and the container's
//! working directory unless `-w`; the runtime adds the namespaces, cgroup
//! and seccomp filter of the container's init.
//!
//! The process is a child of the calling `berth`, which waits for it and
//! exits with its status (or returns at once with `-d`). With `-t` its
//! stdio is a pty from the container's devpts whose master reaches us
//! through a console socket; [`crate::terminal`] relays it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxCapabilities, Process};
use rustix::fs::{Mode, OFlags};

use crate::error::{invalid, io_err, Error, Result};
use crate::lifecycle::Container;
use crate::record::Status;
use crate::user::ResolvedUser;
use crate::Engine;

/// What `berth exec` asks for.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    /// `KEY=VALUE`s added to the container's environment (last wins).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `user[:group]`; the container's user when `None`.
    pub user: Option<String>,
    pub privileged: bool,
    pub tty: bool,
    /// Give the process the caller's stdin (otherwise /dev/null).
    pub interactive: bool,
    /// Start it and return (its stdio is /dev/null).
    pub detach: bool,
}

/// How an exec ended, as the CLI reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The process's exit status (128 + N when killed by signal N).
    Exited(i32),
    /// `-d`: started, with this host pid.
    Detached(i32),
}

/// Docker's exit code for a process that could not be started: 127 when
/// the program is not there, 126 when it cannot be run.
pub fn start_failure_code(msg: &str) -> i32 {
    program_failure_code(msg).unwrap_or(126)
}

/// 127 or 126 when a runtime's error says the program itself is missing
/// or cannot be run; `None` for any other failure (Docker's 125).
pub(crate) fn program_failure_code(msg: &str) -> Option<i32> {
    let m = msg.to_ascii_lowercase();
    if m.contains("not found in $path") || m.contains("no such file or directory") {
        Some(127)
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("exec format")
    {
        Some(126)
    } else {
        None
    }
}

/// Signals an attached `berth run` or `berth exec` passes on to the
/// container's process, as Docker's CLI does.
pub const FORWARDED_SIGNALS: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

impl Engine {
    /// Runs `req` in container `id` (a resolved id). Call it from a
    /// single-threaded process: the runtime forks and runs Rust code in
    /// the child. Re-executes the binary from a read-only copy first when
    /// it is not one (the exec'd process runs it until its `execve`).
    pub fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecOutcome> {
        if req.cmd.is_empty() {
            return Err(invalid(
                "command",
                "",
                "name the command to run after the container",
            ));
        }
        let c = self.container(id)?;
        match c.state.status {
            Status::Running => {}
            Status::Paused => return Err(Error::Paused(id.to_owned())),
            _ => return Err(Error::NotRunning(id.to_owned())),
        }
        let mut process = self.exec_process(&c, req)?;
        berth_runtime::protect_runtime_binary()?;
        let rt = self.runtime();
        // `-d` with `-t`: no one would hold the pty's master once we
        // return, so the process gets plain /dev/null stdio instead.
        if req.tty && !req.detach {
            return self.exec_terminal(id, &mut process, req);
        }
        process.set_terminal(Some(false));
        if !req.interactive || req.detach {
            redirect_to_null(&[0])?;
        }
        if req.detach {
            // The process's stdout and stderr are /dev/null; ours come back
            // afterwards for any error message.
            let saved = SavedStdio::save()?;
            redirect_to_null(&[1, 2])?;
            let r = rt.exec(id, &process, &Default::default());
            saved.restore()?;
            return Ok(ExecOutcome::Detached(r.map_err(start_failure)?));
        }
        rt.exec_wait(id, &process, &Default::default())
            .map(ExecOutcome::Exited)
            .map_err(start_failure)
    }

    /// The process `req` describes, from the container's own.
    pub fn exec_process(&self, c: &Container, req: &ExecRequest) -> Result<Process> {
        let paths = self.paths(&c.record.id);
        let config = paths.dir.join("config.json");
        let spec = berth_runtime::read_spec(&config)
            .map_err(|e| Error::Start(format!("{}: {e}", config.display())))?;
        let base = spec.process().clone().unwrap_or_default();
        let r = &c.record;
        let user_spec = req
            .user
            .clone()
            .or_else(|| r.options.user.clone())
            .or_else(|| r.config.user.clone())
            .unwrap_or_default();
        let user = crate::user::resolve_in(&paths.rootfs(), &user_spec, &r.options.group_add)?;
        let mut opts = r.options.clone();
        opts.env.extend(req.env.iter().cloned());
        opts.tty = req.tty;
        let hostname = spec
            .hostname()
            .clone()
            .unwrap_or_else(|| crate::spec::hostname(&r.id, &r.options));
        let env = crate::spec::env(&r.config, &opts, &hostname, Some(&user.home));
        let all = req.privileged.then(crate::spec::host_bounding);
        apply(base, req, &user, env, all.as_deref())
    }

    fn exec_terminal(
        &self,
        id: &str,
        process: &mut Process,
        req: &ExecRequest,
    ) -> Result<ExecOutcome> {
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        let caller_tty = [stdin.as_fd(), stdout.as_fd()]
            .into_iter()
            .find(|fd| rustix::termios::isatty(fd));
        if let Some(t) = caller_tty {
            if let Ok((rows, cols)) = berth_sys::pty::size(t) {
                process.set_console_size(Some(
                    oci_spec::runtime::BoxBuilder::default()
                        .height(u64::from(rows))
                        .width(u64::from(cols))
                        .build()
                        .map_err(|e| invalid("terminal size", "", e.to_string()))?,
                ));
            }
        }
        let console = crate::terminal::ConsoleSocket::bind(&self.run_root.join("consoles"))?;
        let opts = berth_runtime::ExecOptions {
            console_socket: Some(console.path().to_owned()),
            ..Default::default()
        };
        // Blocked before the fork: a SIGCHLD or SIGWINCH cannot slip by.
        let sigs: Vec<i32> = FORWARDED_SIGNALS
            .iter()
            .copied()
            .chain([libc::SIGCHLD, libc::SIGWINCH])
            .collect();
        let signals = berth_sys::signal::SignalFd::new(&sigs)
            .map_err(io_err("blocking signals", "signalfd"))?;
        let rt = self.runtime();
        let pid = rt.exec(id, process, &opts).map_err(start_failure)?;
        let master = match console.receive() {
            Ok(m) => m,
            Err(e) => {
                let _ = berth_sys::signal::kill(pid, libc::SIGKILL);
                let _ = berth_sys::signal::wait_child(pid);
                return Err(e.into());
            }
        };
        // Raw only while relaying: restored on every way out of here.
        let raw = match (req.interactive, caller_tty) {
            (true, Some(t)) => Some(
                berth_sys::pty::RawMode::enter(t)
                    .map_err(io_err("setting raw mode on", "the terminal"))?,
            ),
            _ => None,
        };
        let caller = crate::terminal::Caller {
            input: req.interactive.then(|| stdin.as_fd()),
            output: stdout.as_fd(),
            terminal: caller_tty,
        };
        let mut exit = None;
        let mut sink = |sig: i32| {
            if sig != libc::SIGCHLD {
                let _ = berth_sys::signal::kill(pid, sig);
                return false;
            }
            match berth_sys::signal::try_wait_child(pid) {
                Ok(Some(e)) => {
                    exit = Some(e.shell_code());
                    true
                }
                Ok(None) => false,
                Err(_) => true,
            }
        };
        let relayed = crate::terminal::relay(master.as_fd(), &caller, &signals, &mut sink);
        drop(raw);
        drop(master);
        let code = match exit {
            Some(c) => c,
            None => berth_sys::signal::wait_child(pid)
                .map(|e| e.shell_code())
                .map_err(io_err("waiting for", format!("pid {pid}")))?,
        };
        relayed.map_err(io_err("relaying the terminal of", format!("pid {pid}")))?;
        Ok(ExecOutcome::Exited(code))
    }
}

/// The runtime's refusal to start the process, with Docker's code.
fn start_failure(e: berth_runtime::Error) -> Error {
    match e {
        berth_runtime::Error::Init(message) => Error::ExecStart {
            code: start_failure_code(&message),
            message,
        },
        e => Error::Runtime(e),
    }
}

/// `base` (the container's process) changed as `req` says. Pure.
pub fn apply(
    mut p: Process,
    req: &ExecRequest,
    user: &ResolvedUser,
    env: Vec<String>,
    privileged_caps: Option<&[String]>,
) -> Result<Process> {
    p.set_args(Some(req.cmd.clone()));
    p.set_terminal(Some(req.tty));
    p.set_console_size(None);
    p.set_env(Some(env));
    if let Some(w) = &req.workdir {
        if !w.starts_with('/') {
            return Err(invalid(
                "working directory",
                w,
                "the working directory is invalid, it needs to be an absolute path",
            ));
        }
        p.set_cwd(PathBuf::from(w));
    }
    let mut u = p.user().clone();
    u.set_uid(user.uid);
    u.set_gid(user.gid);
    u.set_additional_gids(Some(user.additional_gids.clone()));
    p.set_user(u);
    if let Some(all) = privileged_caps {
        let set: std::collections::HashSet<oci_spec::runtime::Capability> = all
            .iter()
            .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.clone())).ok())
            .collect();
        let mut caps = LinuxCapabilities::default();
        caps.set_bounding(Some(set.clone()));
        caps.set_effective(Some(set.clone()));
        caps.set_permitted(Some(set));
        caps.set_inheritable(None);
        caps.set_ambient(None);
        p.set_capabilities(Some(caps));
        // Docker: a privileged exec is not confined by AppArmor.
        p.set_apparmor_profile(None);
    }
    Ok(p)
}

/// Points the given standard descriptors at /dev/null.
fn redirect_to_null(targets: &[i32]) -> Result<()> {
    let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io_err("opening", "/dev/null")(e.into()))?;
    for &t in targets {
        dup_onto(&null, t)?;
    }
    Ok(())
}

fn dup_onto(fd: &OwnedFd, target: i32) -> Result<()> {
    // SAFETY: dup2 onto a standard descriptor (0-2) replaces it in place;
    // no Rust object owns those numbers, and `fd` stays open.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(io_err("redirecting", format!("fd {target}"))(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Copies of stdout and stderr, put back by [`SavedStdio::restore`].
struct SavedStdio([OwnedFd; 2]);

impl SavedStdio {
    fn save() -> Result<SavedStdio> {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| io_err("saving", "stdio")(e.into()))
        };
        Ok(SavedStdio([
            dup(std::io::stdout().as_fd())?,
            dup(std::io::stderr().as_fd())?,
        ]))
    }

    fn restore(self) -> Result<()> {
        dup_onto(&self.0[0], 1)?;
        dup_onto(&self.0[1], 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["sleep", "100"], "cwd": "/srv", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]
        }))
        .unwrap()
    }

    fn user() -> ResolvedUser {
        ResolvedUser {
            uid: 33,
            gid: 50,
            additional_gids: vec![7],
            home: "/var/www".into(),
        }
    }

    #[test]
    fn the_containers_process_changed_by_the_request() {
        let req = ExecRequest {
            cmd: vec!["ps".into(), "-o".into(), "pid".into()],
            tty: true,
            ..Default::default()
        };
        let p = apply(base(), &req, &user(), vec!["A=1".into()], None).unwrap();
        assert_eq!(p.args().as_deref().unwrap(), &["ps", "-o", "pid"]);
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.cwd(), &PathBuf::from("/srv"), "the container's workdir");
        assert_eq!(p.env().as_deref().unwrap(), &["A=1"]);
        assert_eq!((p.user().uid(), p.user().gid()), (33, 50));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[7][..]));
        assert_eq!(p.no_new_privileges(), Some(true), "kept from the container");
        assert_eq!(p.rlimits().as_ref().map(Vec::len), Some(1));
        let caps = p.capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }

    #[test]
    fn workdir_and_privileged() {
        let req = ExecRequest {
            cmd: vec!["id".into()],
            workdir: Some("/tmp".into()),
            privileged: true,
            ..Default::default()
        };
        let all: Vec<String> = vec!["CAP_KILL".into(), "CAP_SYS_ADMIN".into()];
        let p = apply(base(), &req, &user(), vec![], Some(&all)).unwrap();
        assert_eq!(p.cwd(), &PathBuf::from("/tmp"));
        let caps = p.capabilities().clone().unwrap();
        assert!(caps
            .effective()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::SysAdmin));
        let req = ExecRequest {
            cmd: vec!["id".into()],
            workdir: Some("tmp".into()),
            ..Default::default()
        };
        let e = apply(base(), &req, &user(), vec![], None).unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
    }

    #[test]
    fn start_failures_get_dockers_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_failure_code("exec /etc: permission denied"), 126);
    }
}
