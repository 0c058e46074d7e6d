//! Pseudoterminals for container processes: the pair is allocated from the
//! container's own devpts (through `/dev/ptmx` resolved inside its root), the
//! slave is reached from the master with `TIOCGPTPEER` (no path lookup that
//! a hostile `/dev/pts` could redirect), and the slave becomes the process's
//! controlling terminal and stdio.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::OFlags;

/// A master and its slave.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// The slave's number: it is `/dev/pts/<number>` in that devpts.
    pub number: u32,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Opens a new pty from `dev/ptmx` inside `root` (symlinks followed within
/// the root only). Fails unless what was opened really is a pty master.
pub fn open_in(root: BorrowedFd<'_>) -> io::Result<Pty> {
    let master = crate::path::open_in_root(
        root,
        Path::new("dev/ptmx"),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
    )?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the valid pointer; on a
    // file that is not a pty master it fails with ENOTTY and writes nothing.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the valid pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let slave = check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) })?;
    // SAFETY: the ioctl just returned this fd; nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok(Pty {
        master,
        slave,
        number,
    })
}

/// Makes `slave` the controlling terminal of a new session led by the
/// calling process, and its stdin, stdout and stderr.
pub fn make_controlling(slave: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setsid takes no arguments; it fails only if the caller
    // already leads a process group.
    check(unsafe { libc::setsid() })?;
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    check(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })?;
    for target in 0..3 {
        // SAFETY: dup2 onto 0-2 replaces the process's stdio; no Rust object
        // owns those descriptors.
        check(unsafe { libc::dup2(slave.as_raw_fd(), target) })?;
    }
    Ok(())
}

/// Sets the window size of the terminal behind `fd`.
pub fn set_size(fd: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
    check(unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &ws) })?;
    Ok(())
}

/// The window size (rows, columns) of the terminal behind `fd`.
pub fn size(fd: impl AsFd) -> io::Result<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(fd)?;
    Ok((ws.ws_row, ws.ws_col))
}

/// A terminal put in raw mode; its previous settings come back on drop,
/// whichever way the holder returns (an error, a panic's unwinding).
#[derive(Debug)]
pub struct RawMode {
    fd: OwnedFd,
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Puts the terminal behind `fd` in raw mode (no echo, no line
    /// editing, no signals from keys: every byte goes through as typed).
    pub fn enter(fd: impl AsFd) -> io::Result<RawMode> {
        let fd = fd.as_fd().try_clone_to_owned()?;
        let saved = rustix::termios::tcgetattr(&fd)?;
        let mut raw = saved.clone();
        // Output processing goes too, as Docker's CLI clears OPOST: the
        // container's own terminal already turned its "\n" into "\r\n".
        raw.make_raw();
        rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &raw)?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.fd,
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn slave_output_reaches_the_master() {
        let root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open /");
        let pty = open_in(root.as_fd()).expect("pty from /dev/ptmx");
        set_size(&pty.slave, 24, 80).expect("winsize");
        // The slave is a terminal, and the master names it by number.
        assert!(rustix::termios::isatty(&pty.slave));
        let name = std::fs::read_link(crate::path::fd_path(pty.slave.as_fd())).expect("readlink");
        assert!(name.ends_with(pty.number.to_string()), "{}", name.display());
        std::fs::File::from(pty.slave)
            .write_all(b"ok\n")
            .expect("write slave");
        let mut buf = [0u8; 16];
        let n = std::fs::File::from(pty.master)
            .read(&mut buf)
            .expect("read master");
        assert!(buf[..n].starts_with(b"ok"), "{:?}", &buf[..n]);
    }

    #[test]
    fn raw_mode_is_undone_on_drop() {
        let root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open /");
        let pty = open_in(root.as_fd()).expect("pty");
        set_size(&pty.master, 33, 101).expect("winsize");
        assert_eq!(size(&pty.slave).expect("size"), (33, 101));
        let before = rustix::termios::tcgetattr(&pty.slave).expect("attr");
        assert!(before
            .local_modes
            .contains(rustix::termios::LocalModes::ECHO));
        {
            let _raw = RawMode::enter(&pty.slave).expect("raw");
            let now = rustix::termios::tcgetattr(&pty.slave).expect("attr");
            assert!(!now.local_modes.contains(rustix::termios::LocalModes::ECHO));
            assert!(!now
                .local_modes
                .contains(rustix::termios::LocalModes::ICANON));
        }
        let after = rustix::termios::tcgetattr(&pty.slave).expect("attr");
        assert_eq!(after.local_modes, before.local_modes);
        assert_eq!(after.input_modes, before.input_modes);
    }

    #[test]
    fn a_plain_file_is_not_taken_for_ptmx() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("dev")).expect("mkdir");
        std::fs::write(dir.path().join("dev/ptmx"), b"").expect("file");
        let root = rustix::fs::open(
            dir.path(),
            OFlags::PATH | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open root");
        let err = open_in(root.as_fd()).expect_err("a regular file is no pty");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
    }
}
