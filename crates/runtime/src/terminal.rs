//! Terminals (`process.terminal: true`), the way runc, containerd and Podman
//! agree on: the caller listens on a unix socket (`--console-socket`), the
//! runtime connects to it before the fork, and the container's side
//! allocates a pty from the container's own devpts, sends the master there
//! with `SCM_RIGHTS` and makes the slave its controlling terminal and stdio.
//! For the container's init the slave is also bound onto `/dev/console`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_sys::path::{ensure_in_root, fd_path, Kind};

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
            "a terminal needs --console-socket to hand its master to (berth-runtime does not relay a terminal itself); set it to false for plain stdio",
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
}
