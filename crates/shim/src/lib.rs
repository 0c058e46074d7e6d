//! berth-shim's code (see the binary's documentation in src/main.rs): a
//! `no_std` library, so the same code is the release build's whole
//! program and is unit-tested with std.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod log;
pub mod sys;

use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

use log::{Log, LogBuffers, Stream};
use sys::{Fd, PollFd, POLLIN};

/// The status pipe, shared with the supervisor.
const STATUS_FD: Fd = 3;
/// Arguments kept for the command executed at the end.
const MAX_ARGS: usize = 64;

/// # Safety
/// `argv` holds `argc` NUL-terminated strings and a null; `envp` is a
/// null-terminated array of them.
pub unsafe fn shim_main(argc: usize, argv: *const *const u8, envp: *const *const u8) -> i32 {
    let mut args: [&CStr; MAX_ARGS] = [c""; MAX_ARGS];
    let n = argc.min(MAX_ARGS);
    for (i, slot) in args.iter_mut().enumerate().take(n) {
        // SAFETY: the caller's contract: argc valid string pointers.
        *slot = unsafe { CStr::from_ptr(*argv.add(i) as *const core::ffi::c_char) };
    }
    if argc > MAX_ARGS {
        return fail(b"too many arguments");
    }
    let opts = match Options::parse(&args[1..n]) {
        Ok(o) => o,
        Err(msg) => return fail(msg),
    };
    sys::ignore(sys::SIGPIPE);
    let Some(Buffers {
        read,
        filtered,
        log,
    }) = buffers()
    else {
        return fail(b"started twice");
    };
    let mut shim = Shim::new(&opts, log);
    let code = shim.run(&opts, read, filtered);
    if let Some(fd) = opts.hand_to {
        if offer_exit(fd, code) {
            return 0;
        }
    }
    // SAFETY: envp is the process's own environment (the caller's contract).
    unsafe { hand_over(&opts, &shim, code, envp) }
}

/// Offers the exit to the attached caller (`--hand-to`): tells it the
/// code on the status pipe, then waits for its one-byte answer on `fd`.
/// A byte means the caller records the exit and tears the container down
/// itself (it is running anyway; executing berth again would only add a
/// start). End of file means it went away before answering (killed, or
/// detached): the exit is handed over as without the flag.
fn offer_exit(fd: Fd, code: i32) -> bool {
    let mut digits = [0u8; 24];
    let mut line = [0u8; 64];
    let text = c_decimal(&mut digits, code).to_bytes();
    let head = b"{\"reaped\":{\"code\":";
    let tail = b"}}\n";
    let n = head.len() + text.len() + tail.len();
    line[..head.len()].copy_from_slice(head);
    line[head.len()..head.len() + text.len()].copy_from_slice(text);
    line[head.len() + text.len()..n].copy_from_slice(tail);
    if sys::write_all(STATUS_FD, &line[..n]).is_err() {
        return false;
    }
    let mut answer = [0u8; 1];
    loop {
        match sys::read(fd, &mut answer) {
            Ok(got) => return got == 1,
            Err(e) if e == sys::EINTR => continue,
            Err(_) => return false,
        }
    }
}

fn fail(msg: &[u8]) -> i32 {
    let _ = sys::write_all(2, b"berth-shim: ");
    let _ = sys::write_all(2, msg);
    let _ = sys::write_all(2, b"\n");
    125
}

struct Options<'a> {
    pid: i32,
    log: &'a CStr,
    max_size: u64,
    max_file: u32,
    stdout: Option<Fd>,
    stderr: Option<Fd>,
    tty: Option<Fd>,
    input: Option<Fd>,
    attach: Option<(Fd, Fd)>,
    exe: Fd,
    /// Where the attached caller answers an offer of the exit.
    hand_to: Option<Fd>,
    command: &'a [&'a CStr],
}

impl<'a> Options<'a> {
    fn parse(args: &'a [&'a CStr]) -> Result<Options<'a>, &'static [u8]> {
        let mut o = Options {
            pid: 0,
            log: c"",
            max_size: 0,
            max_file: 1,
            stdout: None,
            stderr: None,
            tty: None,
            input: None,
            attach: None,
            exe: -1,
            hand_to: None,
            command: &[],
        };
        let (mut out, mut err) = (None, None);
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].to_bytes();
            if flag == b"--" {
                o.command = &args[i + 1..];
                break;
            }
            let value = args.get(i + 1).ok_or(&b"a flag lacks its value"[..])?;
            let num = || number(value.to_bytes()).ok_or(&b"a flag's value is not a number"[..]);
            match flag {
                b"--pid" => o.pid = num()? as i32,
                b"--log" => o.log = value,
                b"--log-max-size" => o.max_size = num()?,
                b"--log-max-file" => o.max_file = num()? as u32,
                b"--stdout" => o.stdout = Some(num()? as Fd),
                b"--stderr" => o.stderr = Some(num()? as Fd),
                b"--tty" => o.tty = Some(num()? as Fd),
                b"--input" => o.input = Some(num()? as Fd),
                b"--attach-out" => out = Some(num()? as Fd),
                b"--attach-err" => err = Some(num()? as Fd),
                b"--exe" => o.exe = num()? as Fd,
                b"--hand-to" => o.hand_to = Some(num()? as Fd),
                _ => return Err(b"unknown flag"),
            }
            i += 2;
        }
        o.attach = out.zip(err);
        if o.pid <= 0 || o.log.is_empty() || o.exe < 0 || o.command.is_empty() {
            return Err(b"--pid, --log, --exe and a command are required");
        }
        if o.command.len() + 4 > MAX_ARGS {
            return Err(b"the command is too long");
        }
        Ok(o)
    }
}

fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

/// Docker's default detach keys, Ctrl-P Ctrl-Q, picked out of the input.
#[derive(Default)]
struct DetachKeys {
    /// A Ctrl-P was the last byte and is held back.
    pending: bool,
}

impl DetachKeys {
    const CTRL_P: u8 = 0x10;
    const CTRL_Q: u8 = 0x11;

    /// Copies the bytes to pass on into `out` (one longer than `input`);
    /// returns how many, and whether the sequence was typed.
    fn filter(&mut self, input: &[u8], out: &mut [u8]) -> (usize, bool) {
        let mut n = 0;
        for &b in input {
            if self.pending {
                self.pending = false;
                if b == Self::CTRL_Q {
                    return (n, true);
                }
                out[n] = Self::CTRL_P;
                n += 1;
            }
            if b == Self::CTRL_P {
                self.pending = true;
            } else {
                out[n] = b;
                n += 1;
            }
        }
        (n, false)
    }
}

struct Shim<'a> {
    log: Option<Log<'a>>,
    attach: Option<(Fd, Fd)>,
    input: Option<Fd>,
}

#[derive(Clone, Copy)]
enum Src {
    Out(Stream),
    Tty,
    Exit,
    Input,
    Winch,
}

const BUF: usize = 64 * 1024;

/// The shim's memory, zero-initialised and so in .bss: a page costs
/// nothing until output first reaches it, and an idle container's shim
/// keeps only what its output has touched.
struct Buffers {
    read: [u8; BUF],
    /// Input after the detach keys are taken out (one byte more).
    filtered: [u8; BUF + 1],
    log: LogBuffers,
}

struct StaticBuffers(UnsafeCell<Buffers>);

// SAFETY: the buffers are handed out once (`buffers`), to the shim's only
// thread; nothing else touches them.
unsafe impl Sync for StaticBuffers {}

static BUFFERS: StaticBuffers = StaticBuffers(UnsafeCell::new(Buffers {
    read: [0; BUF],
    filtered: [0; BUF + 1],
    log: LogBuffers::ZERO,
}));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The buffers, to their one user; `None` after the first call.
fn buffers() -> Option<&'static mut Buffers> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: the first and only caller gets the one reference.
    Some(unsafe { &mut *BUFFERS.0.get() })
}

impl<'a> Shim<'a> {
    fn new(o: &Options<'a>, bufs: &'a mut LogBuffers) -> Shim<'a> {
        Shim {
            log: Log::open(o.log, o.max_size, o.max_file, bufs).ok(),
            attach: o.attach,
            input: o.input,
        }
    }

    /// Copies output until the container has exited and its output is
    /// drained; with a terminal, also the caller's input, its window size
    /// (SIGWINCH, sent by the caller) and Ctrl-P Ctrl-Q. Returns the exit
    /// code.
    fn run(&mut self, o: &Options<'a>, buf: &mut [u8; BUF], filtered: &mut [u8; BUF + 1]) -> i32 {
        let (mut stdout, mut stderr, mut tty) = (o.stdout, o.stderr, o.tty);
        let pidfd = sys::pidfd_open(o.pid).ok();
        let winch = match (tty, self.input) {
            (Some(m), Some(_)) => {
                self.copy_size(m);
                sys::signalfd(sys::SIGWINCH).ok()
            }
            _ => None,
        };
        let mut detach = DetachKeys::default();
        // Without a pidfd the exit is seen as the end of the output.
        let mut exited = pidfd.is_none();
        while !exited || stdout.is_some() || stderr.is_some() || tty.is_some() {
            let mut fds = [PollFd::default(); 6];
            let mut which = [Src::Exit; 6];
            let mut n = 0;
            let mut add = |fd: Option<Fd>, src: Src| {
                if let Some(fd) = fd {
                    fds[n] = PollFd {
                        fd,
                        events: POLLIN,
                        revents: 0,
                    };
                    which[n] = src;
                    n += 1;
                }
            };
            add(stdout, Src::Out(Stream::Stdout));
            add(stderr, Src::Out(Stream::Stderr));
            add(tty, Src::Tty);
            if !exited {
                add(pidfd, Src::Exit);
                add(self.input.filter(|_| tty.is_some()), Src::Input);
                add(winch, Src::Winch);
            }
            // Once the container is gone, a terminal may hold its last
            // bytes a moment longer (and never reports end of file if a
            // process outside kept the slave): wait for them briefly.
            match sys::poll(&mut fds[..n], exited.then_some(200)) {
                Ok(0) if exited => {
                    close(&mut tty);
                    continue;
                }
                Ok(_) => {}
                Err(sys::EINTR) => continue,
                Err(_) => break,
            }
            for (f, w) in fds[..n].iter().zip(which) {
                if f.revents == 0 {
                    continue;
                }
                match w {
                    Src::Exit => exited = true,
                    Src::Winch => {
                        if let Some(w) = winch {
                            let mut info = [0u8; 128];
                            let _ = sys::read(w, &mut info);
                        }
                        if let Some(m) = tty {
                            self.copy_size(m);
                        }
                    }
                    Src::Input => {
                        let Some(input) = self.input else { continue };
                        let n = match sys::read(input, buf) {
                            Ok(n) => n,
                            Err(sys::EINTR | sys::EAGAIN) => continue,
                            Err(_) => 0,
                        };
                        if n == 0 {
                            close(&mut self.input);
                            continue;
                        }
                        let (k, detached) = detach.filter(&buf[..n], filtered);
                        if let Some(m) = tty {
                            let _ = sys::write_all(m, &filtered[..k]);
                        }
                        if detached {
                            self.detach_caller();
                        }
                    }
                    Src::Out(_) | Src::Tty => {
                        let (slot, stream) = match w {
                            Src::Out(Stream::Stdout) => (&mut stdout, Stream::Stdout),
                            Src::Out(Stream::Stderr) => (&mut stderr, Stream::Stderr),
                            _ => (&mut tty, Stream::Stdout),
                        };
                        let Some(fd) = *slot else { continue };
                        let n = match sys::read(fd, buf) {
                            Ok(n) => n,
                            Err(sys::EINTR | sys::EAGAIN) => continue,
                            // A pty master reads EIO once no slave is open.
                            Err(_) => 0,
                        };
                        if n == 0 {
                            close(slot);
                            continue;
                        }
                        if let Some(l) = self.log.as_mut() {
                            l.write(stream, &buf[..n]);
                        }
                        self.forward(stream, &buf[..n]);
                    }
                }
            }
        }
        if let Some(l) = self.log.as_mut() {
            l.flush();
        }
        sys::wait_exit(o.pid).unwrap_or(255)
    }

    /// The caller's terminal size onto the container's.
    fn copy_size(&self, master: Fd) {
        if let Some((out, _)) = self.attach {
            if let Ok(ws) = sys::winsize(out) {
                if ws[0] > 0 && ws[1] > 0 {
                    let _ = sys::set_winsize(master, &ws);
                }
            }
        }
    }

    /// Ctrl-P Ctrl-Q: let go of the caller's terminal and tell it so
    /// (serde's form of the supervisor's `Event::Detached`); the container
    /// runs on, its output still logged.
    fn detach_caller(&mut self) {
        close(&mut self.input);
        self.drop_attach();
        let _ = sys::write_all(STATUS_FD, b"\"detached\"\n");
    }

    fn drop_attach(&mut self) {
        if let Some((o, e)) = self.attach.take() {
            sys::close(o);
            sys::close(e);
        }
    }

    fn forward(&mut self, s: Stream, bytes: &[u8]) {
        let Some((o, e)) = self.attach else { return };
        let fd = if s == Stream::Stdout { o } else { e };
        if sys::write_all(fd, bytes).is_err() {
            // The caller went away: keep logging, stop forwarding.
            self.drop_attach();
        }
    }
}

fn close(fd: &mut Option<Fd>) {
    if let Some(f) = fd.take() {
        sys::close(f);
    }
}

/// Executes `COMMAND [--attach] --exited CODE` from the berth binary at
/// `--exe`, with the caller's stdio (still attached) or /dev/null at 0-2
/// and the status pipe at 3.
///
/// # Safety
/// `envp` is the process's environment as the kernel or C library gave it.
unsafe fn hand_over(o: &Options<'_>, shim: &Shim<'_>, code: i32, envp: *const *const u8) -> i32 {
    let null = sys::open(c"/dev/null", sys::O_RDWR, 0).ok();
    let (out, err) = shim
        .attach
        .map_or((null, null), |(o, e)| (Some(o), Some(e)));
    let input = shim.input.or(null);
    for (fd, to) in [(input, 0), (out, 1), (err, 2)] {
        if let Some(fd) = fd.filter(|f| *f != to) {
            let _ = sys::dup_onto(fd, to);
        }
    }
    let _ = sys::inherit(STATUS_FD);
    let _ = sys::cloexec_from(STATUS_FD + 1);
    sys::unblock_all();

    let mut digits = [0u8; 24];
    let code_arg = c_decimal(&mut digits, code);
    let mut argv: [*const u8; MAX_ARGS + 1] = [core::ptr::null(); MAX_ARGS + 1];
    let mut n = 0;
    for a in o.command {
        argv[n] = a.as_ptr() as *const u8;
        n += 1;
    }
    if shim.attach.is_some() {
        argv[n] = c"--attach".as_ptr() as *const u8;
        n += 1;
    }
    argv[n] = c"--exited".as_ptr() as *const u8;
    argv[n + 1] = code_arg.as_ptr() as *const u8;
    // SAFETY: argv holds NUL-terminated strings that outlive the call and
    // ends with a null (Options::parse left room); envp is the caller's.
    unsafe { sys::exec_fd(o.exe, &argv[..n + 3], envp) };
    fail(b"executing berth to record the container's exit failed")
}

/// `n` (non-negative) in decimal as a C string in `buf`.
fn c_decimal(buf: &mut [u8; 24], n: i32) -> &CStr {
    let mut i = buf.len() - 1;
    buf[i] = 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    CStr::from_bytes_with_nul(&buf[i..]).unwrap_or(c"255")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(d: &mut DetachKeys, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = vec![0u8; input.len() + 1];
        let (n, detached) = d.filter(input, &mut out);
        (out[..n].to_vec(), detached)
    }

    #[test]
    fn detach_keys_are_ctrl_p_ctrl_q_and_nothing_else() {
        let mut d = DetachKeys::default();
        assert_eq!(filter(&mut d, b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(
            filter(&mut d, &[b'a', 0x10, b'b']),
            (vec![b'a', 0x10, b'b'], false)
        );
        assert_eq!(filter(&mut d, &[b'x', 0x10]), (vec![b'x'], false));
        assert_eq!(filter(&mut d, &[0x11, b'y']), (vec![], true));
        let mut d = DetachKeys::default();
        assert_eq!(filter(&mut d, &[0x10, 0x10, 0x11]), (vec![0x10], true));
    }

    #[test]
    fn options_need_pid_log_exe_and_command() {
        let args = [
            c"--pid", c"42", c"--log", c"/l", c"--tty", c"5", c"--exe", c"7", c"--", c"berth",
        ];
        let o = Options::parse(&args).unwrap();
        assert_eq!((o.pid, o.tty, o.exe, o.command.len()), (42, Some(5), 7, 1));
        assert!(Options::parse(&args[2..]).is_err());
        assert!(Options::parse(&[c"--pid", c"x1"]).is_err());
        assert!(Options::parse(&[c"--bogus", c"1"]).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(number(b"0"), Some(0));
        assert_eq!(number(b"1048576"), Some(1_048_576));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"-1"), None);
        let mut b = [0u8; 24];
        assert_eq!(c_decimal(&mut b, 137), c"137");
        assert_eq!(c_decimal(&mut b, 0), c"0");
    }
}
