//! A container process's terminal on the caller's: the console socket that
//! receives the pty master from the runtime (`SCM_RIGHTS`; the runtime's
//! own type), and the relay that copies bytes both ways, keeps the window
//! size in step (SIGWINCH) and hands other signals to the caller. Used by
//! `exec -t`; `run -t`'s supervisor uses the console socket.
//!
//! ```text
//!   caller's stdin  ──▶ relay ──▶ pty master ──▶ (slave: the process's stdio)
//!   caller's stdout ◀── relay ◀── pty master ◀──
//!   SIGWINCH ──▶ size of the caller's terminal copied onto the master
//! ```

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use berth_sys::signal::SignalFd;
use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// The console socket that receives a pty master: the runtime's.
pub use berth_runtime::terminal::OwnConsole as ConsoleSocket;

/// What the relay does with a signal that is not SIGWINCH: returns true
/// when the process is gone and the relay should finish.
pub trait SignalSink {
    fn signal(&mut self, sig: i32) -> bool;
}

impl<F: FnMut(i32) -> bool> SignalSink for F {
    fn signal(&mut self, sig: i32) -> bool {
        self(sig)
    }
}

/// The caller's side of a relay.
pub struct Caller<'a> {
    /// Read and sent to the process (`-i`); `None` sends nothing.
    pub input: Option<BorrowedFd<'a>>,
    pub output: BorrowedFd<'a>,
    /// The terminal whose size the process's follows, if there is one.
    pub terminal: Option<BorrowedFd<'a>>,
}

/// How long output may still trickle in after the process is gone (the
/// pty layer hands the master the last bytes asynchronously).
const DRAIN: Duration = Duration::from_millis(200);

/// Copies bytes between the caller and the pty `master` until `sink` says
/// the process is gone (and its last output is written), resizing the pty
/// on SIGWINCH. `signals` must include SIGWINCH and whatever `sink` wants.
pub fn relay(
    master: BorrowedFd<'_>,
    caller: &Caller<'_>,
    signals: &SignalFd,
    sink: &mut dyn SignalSink,
) -> io::Result<()> {
    copy_size(caller, master);
    let mut input = caller.input;
    let mut output_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![
            PollFd::new(&signals, PollFlags::IN),
            PollFd::new(&master, PollFlags::IN),
        ];
        if let Some(i) = &input {
            fds.push(PollFd::new(i, PollFlags::IN));
        }
        if !output_open {
            // Nothing more to read from the master: poll the signals twice
            // rather than a master that reads EIO for ever.
            fds[1] = PollFd::new(&signals, PollFlags::IN);
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready = |i: usize, fds: &[PollFd<'_>]| {
            fds.get(i).is_some_and(|f| {
                f.revents()
                    .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
            })
        };
        let (sig_ready, master_ready, input_ready) = (
            ready(0, &fds),
            output_open && ready(1, &fds),
            ready(2, &fds),
        );
        drop(fds);
        if master_ready && !pump(master, caller.output, &mut buf)? {
            output_open = false;
        }
        if input_ready {
            if let Some(i) = input {
                if !pump(i, master, &mut buf)? {
                    input = None;
                }
            }
        }
        if sig_ready {
            while let Some(sig) = signals.next()? {
                if sig == libc::SIGWINCH {
                    copy_size(caller, master);
                } else if sink.signal(sig) {
                    if output_open {
                        drain(master, caller.output, &mut buf)?;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// Copies one read's worth from `from` to `to`; false at end of input (a
/// pty master reads EIO once no slave is open).
fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<bool> {
    let n = match rustix::io::read(from, &mut *buf) {
        Ok(0) | Err(rustix::io::Errno::IO) => return Ok(false),
        Ok(n) => n,
        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    write_all(to, &buf[..n])?;
    Ok(true)
}

fn write_all(to: BorrowedFd<'_>, mut b: &[u8]) -> io::Result<()> {
    while !b.is_empty() {
        match rustix::io::write(to, b) {
            Ok(n) => b = &b[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// After the process exited: what is left in the pty, until it reads EOF
/// or nothing more comes for [`DRAIN`].
fn drain(master: BorrowedFd<'_>, out: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<()> {
    let limit = Timespec {
        tv_sec: 0,
        tv_nsec: DRAIN.as_nanos() as i64,
    };
    loop {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        match poll(&mut fds, Some(&limit)) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if !pump(master, out, buf)? {
            return Ok(());
        }
    }
}

fn copy_size(caller: &Caller<'_>, master: BorrowedFd<'_>) {
    if let Some(t) = caller.terminal {
        if let Ok((rows, cols)) = berth_sys::pty::size(t) {
            if rows > 0 && cols > 0 {
                let _ = berth_sys::pty::set_size(master, rows, cols);
            }
        }
    }
}
