//! Terminals (`process.terminal: true`), the way runc, containerd and Podman
//! agree on: the caller listens on a unix socket (`--console-socket`), the
//! runtime connects to it before the fork, and the container's side
//! allocates a pty from the container's own devpts, sends the master there
//! with `SCM_RIGHTS` and makes the slave its controlling terminal and stdio.
//! For the container's init the slave is also bound onto `/dev/console`.
//!
//! `run` and `exec` in the foreground with a terminal and no
//! `--console-socket` are their own console socket's listener
//! ([`OwnConsole`]) and relay the pty to their own stdio, as runc does:
//!
//! ```text
//!   runtime's stdin  ──▶ relay ──▶ pty master ──▶ (slave: the process's stdio)
//!   runtime's stdout ◀── relay ◀── pty master ◀──
//!   SIGWINCH: the size of the runtime's terminal copied onto the master
//!   SIGCHLD: the process is reaped, its last output drained, the relay ends
//!   any other forwarded signal: sent on to the process
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_sys::path::{ensure_in_root, fd_path, Kind};
use berth_sys::signal::{Exit, SignalFd};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::error::{invalid_arg, io_err, sys, Result};

/// What runc sends as the message data with the master.
const MASTER_NAME: &str = "/dev/ptmx";

/// Checks that a terminal and a console socket come together, as runc
/// does: a pty nobody receives, or a socket nobody writes to, is a mistake.
/// `what` names the terminal setting (`process.terminal`, `--tty`).
pub fn check(what: &str, terminal: bool, console_socket: Option<&Path>) -> Result<()> {
    match (terminal, console_socket) {
        (true, None) => Err(invalid_arg(
            what,
            "a terminal needs --console-socket to hand its master to (only `run` and `exec` in the foreground relay one themselves); set it to false for plain stdio",
        )),
        (false, Some(p)) => Err(invalid_arg(
            "--console-socket",
            format!(
                "{} is given but {what} is false: nothing would be sent; drop one or the other",
                p.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Connects to the console socket at `path` (before the fork: the path is
/// the caller's, which the container cannot reach).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    berth_sys::fdpass::connect_stream(path).map_err(io_err("connecting to console socket", path))
}

/// In the container's process: a pty from `dev/ptmx` under `root`, its
/// master sent over `socket`, the slave bound on `/dev/console` when
/// `bind_console`, then made the controlling terminal and fds 0-2. `size`
/// is `process.consoleSize` (rows, columns).
pub fn setup(
    root: BorrowedFd<'_>,
    socket: BorrowedFd<'_>,
    bind_console: bool,
    size: Option<(u16, u16)>,
) -> Result<()> {
    let pty = berth_sys::pty::open_in(root)
        .map_err(sys("allocating a pty from the container's /dev/ptmx"))?;
    if let Some((rows, cols)) = size {
        berth_sys::pty::set_size(&pty.slave, rows, cols)
            .map_err(sys("setting the terminal size (process.consoleSize)"))?;
    }
    if bind_console {
        let console = Path::new("/dev/console");
        let target =
            ensure_in_root(root, console, Kind::File).map_err(sys("creating /dev/console"))?;
        // The slave through this process's fd link (the host's procfs, not
        // yet replaced by the pivot): no path in the container is resolved.
        berth_sys::mount::bind_at(&fd_path(pty.slave.as_fd()), target.as_fd(), false)
            .map_err(sys("binding the pty onto /dev/console"))?;
    }
    berth_sys::fdpass::send_fd(socket, MASTER_NAME, pty.master.as_fd())
        .map_err(sys("sending the pty master over the console socket"))?;
    drop(pty.master);
    berth_sys::pty::make_controlling(pty.slave.as_fd())
        .map_err(sys("making the pty the controlling terminal"))?;
    Ok(())
}

/// A console socket of the caller's own (the runtime's, when it relays a
/// terminal itself; berth's supervisor and `exec -t`): a listening unix
/// socket in a private directory (mode 0700) under `root`, removed on drop.
#[derive(Debug)]
pub struct OwnConsole {
    dir: PathBuf,
    path: PathBuf,
    listener: OwnedFd,
}

impl OwnConsole {
    /// Makes `<root>/#console-<pid>-<n>/console.sock` and listens on it.
    pub fn bind(root: &Path) -> Result<OwnConsole> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::create_dir_all(root).map_err(io_err("creating state root", root))?;
        let mut n = 0u32;
        let dir = loop {
            let dir = root.join(format!("#console-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(io_err("creating", &dir)(e)),
            }
        };
        let path = dir.join("console.sock");
        match berth_sys::fdpass::listen_stream(&path) {
            Ok(listener) => Ok(OwnConsole {
                dir,
                path,
                listener,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(io_err("listening on console socket", &path)(e))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the process's connection and receives the pty master. Called
    /// once the process has started: it sent the master before its execve,
    /// so this does not block.
    pub fn receive(&self) -> Result<OwnedFd> {
        let conn = rustix::net::accept_with(&self.listener, rustix::net::SocketFlags::CLOEXEC)
            .map_err(|e| io_err("accepting on console socket", &self.path)(e.into()))?;
        let (_, master) = berth_sys::fdpass::recv_fd(conn.as_fd())
            .map_err(io_err("receiving the pty master on", &self.path))?;
        Ok(master)
    }
}

impl Drop for OwnConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Relays between the caller's stdin/stdout and the pty `master` of the
/// child `pid` until the child exits, then returns its exit status.
/// `signals` must hold SIGCHLD and SIGWINCH; every other signal it
/// delivers is forwarded to `pid`. The caller's terminal, if stdin is one,
/// is raw meanwhile, so keys reach the process as typed.
pub(crate) fn relay(master: OwnedFd, pid: i32, signals: &SignalFd) -> io::Result<Exit> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let tty = rustix::termios::isatty(stdin.as_fd());
    let _raw = if tty {
        berth_sys::pty::RawMode::enter(stdin.as_fd()).ok()
    } else {
        None
    };
    let copy_size = || {
        if let Ok((rows, cols)) = berth_sys::pty::size(stdin.as_fd()) {
            let _ = berth_sys::pty::set_size(&master, rows, cols);
        }
    };
    if tty {
        copy_size();
    }
    let mut input_open = true;
    let mut output_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![PollFd::new(signals, PollFlags::IN)];
        if output_open {
            fds.push(PollFd::new(&master, PollFlags::IN));
        }
        if input_open {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| {
                f.revents()
                    .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
            })
            .collect();
        drop(fds);
        let mut at = 1;
        if output_open {
            if ready[at] && !pump(master.as_fd(), stdout.as_fd(), &mut buf)? {
                output_open = false;
            }
            at += 1;
        }
        if input_open && ready[at] && !pump(stdin.as_fd(), master.as_fd(), &mut buf)? {
            // End of input: nothing more to type; the process goes on.
            input_open = false;
        }
        if ready[0] {
            while let Some(sig) = signals.next()? {
                match sig {
                    libc::SIGCHLD => {
                        if let Some(exit) = berth_sys::signal::try_wait_child(pid)? {
                            if output_open {
                                drain(master.as_fd(), stdout.as_fd(), &mut buf)?;
                            }
                            return Ok(exit);
                        }
                    }
                    libc::SIGWINCH if tty => copy_size(),
                    sig => {
                        let _ = berth_sys::signal::kill(pid, sig);
                    }
                }
            }
        }
    }
}

/// One read from `from` written whole to `to`; false at end of file (or
/// EIO: a master whose slave is closed everywhere).
fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<bool> {
    let n = loop {
        match rustix::io::read(from, &mut *buf) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::IO) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    };
    if n == 0 {
        return Ok(false);
    }
    let mut rest = &buf[..n];
    while !rest.is_empty() {
        match rustix::io::write(to, rest) {
            Ok(w) => rest = &rest[w..],
            Err(rustix::io::Errno::INTR) => {}
            // The reader went away: keep relaying the other direction.
            Err(rustix::io::Errno::PIPE) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// What the master still holds once the process is gone: read while it is
/// readable at once (a background process may keep the slave open, so this
/// does not wait for end of file).
fn drain(master: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<()> {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        match poll(&mut fds, Some(&now)) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if !fds[0].revents().contains(PollFlags::IN) || !pump(master, to, buf)? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_and_console_socket_come_together() {
        let sock = Path::new("/run/x.sock");
        assert!(check("process.terminal", false, None).is_ok());
        assert!(check("process.terminal", true, Some(sock)).is_ok());
        let e = check("--tty", true, None).expect_err("tty without socket");
        assert!(e.to_string().contains("--console-socket"), "{e}");
        let e = check("process.terminal", false, Some(sock)).expect_err("socket without tty");
        assert!(e.to_string().contains("/run/x.sock"), "{e}");
    }

    #[test]
    fn own_console_is_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let console = OwnConsole::bind(root.path()).expect("bind");
        let dir = console.path().parent().expect("dir").to_path_buf();
        let mode = std::fs::metadata(&dir).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(console.path().exists());
        drop(console);
        assert!(!dir.exists());
    }
}
