//! Real filters, installed for real.
//!
//! A filter cannot be removed once loaded, so every test re-executes this test
//! binary as a child (`child_entry`, selected by `BERTH_SECCOMP_TEST_CHILD`).
//! The child compiles a profile, sets `no_new_privs` (so no privilege is
//! needed), loads the program with [`Program::load`], makes the syscalls under
//! test and reports with its exit code (or dies by the signal under test).
//! The parent only looks at how the child ended. Nothing here depends on timing.

use std::ffi::CString;
use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use berth_seccomp::{compile, send_listener_fd, Program};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use oci_spec::runtime::{ContainerProcessState, LinuxSeccomp};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

const MODE_ENV: &str = "BERTH_SECCOMP_TEST_CHILD";
const ARG_ENV: &str = "BERTH_SECCOMP_TEST_ARG";
/// The value the test agent makes the notified `getppid` return.
const AGENT_ANSWER: i64 = 4242;

// ---------------------------------------------------------------- child side

/// Not a test of its own: the entry point of the re-executed child.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(MODE_ENV) else {
        return;
    };
    let arg = std::env::var(ARG_ENV).unwrap_or_default();
    let code = child(&mode, &arg);
    // SAFETY: _exit ends the process at once; nothing needs to run after it
    // (and with a filter loaded, atexit work may not be allowed to).
    unsafe { libc::_exit(code) }
}

fn child(mode: &str, arg: &str) -> i32 {
    let program = compile(&child_profile(mode, arg)).expect("child profile compiles");
    if mode == "no-nnp" {
        return load_without_privilege(&program);
    }
    prepare_child();
    let notify_fd = program.load().expect("loading the filter");
    match mode {
        "errno" | "errno-custom" | "default-errno" | "errno-multiarch" => mkdir_errno(arg),
        "args" => args_checks(),
        "kill-process" | "trap" => {
            // SAFETY: getppid has no preconditions; the filter kills us here.
            unsafe { libc::getppid() };
            90
        }
        "log" => log_checks(),
        "trace" => {
            // With no tracer attached, SECCOMP_RET_TRACE fails the syscall with ENOSYS.
            // SAFETY: getppid has no preconditions.
            let rc = unsafe { libc::syscall(libc::SYS_getppid) };
            if rc == -1 && errno() == libc::ENOSYS {
                0
            } else {
                130
            }
        }
        "notify" => notify_child(&program, arg, notify_fd),
        _ => 99,
    }
}

fn child_profile(mode: &str, arg: &str) -> LinuxSeccomp {
    let json = match mode {
        "errno" => r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#
            .to_owned(),
        // Foreign architectures, a syscall only some of them have and one nobody has.
        "errno-multiarch" => r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64"],
            "syscalls":[{"names":["socketcall","no_such_syscall_xyz","mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#
            .to_owned(),
        "errno-custom" => format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":{}}}]}}"#,
            libc::EXDEV
        ),
        "default-errno" => format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":{},
            "syscalls":[{{"names":["exit_group","exit","rt_sigreturn"],"action":"SCMP_ACT_ALLOW"}}]}}"#,
            libc::EXDEV
        ),
        // personality: 8 OR 9 denied (same argument index -> separate rules).
        // getpriority: which == PRIO_PROCESS AND who == 4242 denied.
        // umask: (mask & 0o700) == 0o700 denied.
        "args" => format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {{"names":["personality"],"action":"SCMP_ACT_ERRNO",
              "args":[{{"index":0,"value":8,"op":"SCMP_CMP_EQ"}},{{"index":0,"value":9,"op":"SCMP_CMP_EQ"}}]}},
            {{"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":{exdev},
              "args":[{{"index":0,"value":0,"op":"SCMP_CMP_EQ"}},{{"index":1,"value":4242,"op":"SCMP_CMP_EQ"}}]}},
            {{"names":["umask"],"action":"SCMP_ACT_ERRNO","errnoRet":{exdev},
              "args":[{{"index":0,"value":448,"valueTwo":448,"op":"SCMP_CMP_MASKED_EQ"}}]}}]}}"#,
            exdev = libc::EXDEV
        ),
        "kill-process" => r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#
            .to_owned(),
        "trap" => r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_TRAP"}]}"#
            .to_owned(),
        "trace" => r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_TRACE","errnoRet":7}]}"#
            .to_owned(),
        "log" => r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_LOG"},
                        {"names":["mkdir"],"action":"SCMP_ACT_ALLOW"}]}"#
            .to_owned(),
        "notify" => format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":{arg:?},"listenerMetadata":"test-metadata",
            "syscalls":[{{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}}]}}"#
        ),
        _ => r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.to_owned(),
    };
    serde_json::from_str(&json).expect("child profile parses")
}

/// What a container's init does before loading: no_new_privs, and no core
/// files from the SIGSYS tests.
fn prepare_child() {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `no_core` is a valid rlimit that outlives the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    assert_eq!(rc, 0, "setrlimit(RLIMIT_CORE)");
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_NO_NEW_PRIVS)");
}

/// Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the
/// filter. Exit code: 0 if `load` failed with EACCES and said what to do.
fn load_without_privilege(program: &Program) -> i32 {
    // SAFETY: geteuid and setuid take integers only; as root, become nobody
    // (which drops CAP_SYS_ADMIN); otherwise we lack it already.
    if unsafe { libc::geteuid() } == 0 && unsafe { libc::setuid(65534) } != 0 {
        return 120;
    }
    match program.load() {
        Ok(_) => 121,
        Err(err) => {
            let msg = err.to_string();
            let want = "loading the seccomp filter (flags 0x0) failed: Permission denied (os error 13); \
                        Hint: set process.noNewPrivileges, or load the filter while the process still has CAP_SYS_ADMIN";
            if msg == want {
                0
            } else {
                eprintln!("unexpected error: {msg}");
                122
            }
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Exit code: the errno `mkdir` failed with, 0 if it succeeded.
fn mkdir_errno(path: &str) -> i32 {
    let Ok(path) = CString::new(path) else {
        return 98;
    };
    // SAFETY: `path` is a NUL-terminated string alive for the call.
    if unsafe { libc::mkdir(path.as_ptr(), 0o700) } == 0 {
        0
    } else {
        errno()
    }
}

/// Exit code: 0, or 100 + the number of the first check that failed.
fn args_checks() -> i32 {
    let personality = |p: libc::c_ulong| {
        // SAFETY: personality takes an integer; 0xffffffff only queries.
        let rc = unsafe { libc::syscall(libc::SYS_personality, p) };
        (rc, errno())
    };
    let getpriority = |which: libc::c_long, who: libc::c_long| {
        // SAFETY: getpriority takes integers only.
        let rc = unsafe { libc::syscall(libc::SYS_getpriority, which, who) };
        (rc, errno())
    };
    let umask = |mask: libc::c_ulong| {
        // SAFETY: umask takes an integer only.
        let rc = unsafe { libc::syscall(libc::SYS_umask, mask) };
        (rc, errno())
    };
    let checks = [
        personality(0xffff_ffff).0 >= 0,
        personality(8) == (-1, libc::EPERM),
        personality(9) == (-1, libc::EPERM),
        personality(0xffff_ffff).0 >= 0,
        getpriority(0, 4242) == (-1, libc::EXDEV),
        getpriority(0, 0).0 >= 0,
        getpriority(1, 4242) != (-1, libc::EXDEV),
        umask(0o777) == (-1, libc::EXDEV),
        umask(0o022).0 >= 0,
        umask(0o077).0 >= 0,
    ];
    checks
        .iter()
        .position(|ok| !ok)
        .map_or(0, |i| 100 + i as i32)
}

fn log_checks() -> i32 {
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } <= 0 {
        return 101;
    }
    // The filter is on this thread (libtest runs tests on threads of their own).
    match std::fs::read_to_string("/proc/thread-self/status") {
        Ok(status) if status.lines().any(|l| l == "Seccomp:\t2") => 0,
        _ => 102,
    }
}

fn notify_child(program: &Program, socket: &str, fd: Option<OwnedFd>) -> i32 {
    let Some(fd) = fd else { return 110 };
    if program.listener_path() != Some(Path::new(socket)) {
        return 111;
    }
    let state = serde_json::json!({
        "ociVersion": "1.2.0",
        "fds": ["seccompFd"],
        "pid": std::process::id(),
        "metadata": program.listener_metadata(),
        "state": {"ociVersion": "1.2.0", "id": "seccomp-test", "status": "creating", "bundle": "/"},
    });
    let Ok(state) = serde_json::to_vec(&state) else {
        return 112;
    };
    if let Err(err) = send_listener_fd(Path::new(socket), &state, fd.as_fd()) {
        eprintln!("{err}");
        return 113;
    }
    drop(fd);
    // SAFETY: getppid has no preconditions; the agent answers for the kernel.
    let answer = unsafe { libc::getppid() };
    if i64::from(answer) == AGENT_ANSWER {
        0
    } else {
        eprintln!("getppid returned {answer}");
        114
    }
}

// --------------------------------------------------------------- parent side

fn seccomp_available() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no further arguments.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if mode < 0 {
        eprintln!("SKIPPED: this kernel has no seccomp support");
        return false;
    }
    true
}

fn child_command(mode: &str, arg: &str) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(MODE_ENV, mode)
        .env(ARG_ENV, arg)
        .stdin(Stdio::null());
    cmd
}

fn run_child(mode: &str, arg: &str) -> Output {
    child_command(mode, arg)
        .output()
        .expect("spawn the test child")
}

fn describe(output: &Output) -> String {
    format!(
        "child ended with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_exit_code(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

fn mkdir_test(mode: &str, want_errno: i32) {
    if !seccomp_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("denied");
    let output = run_child(mode, target.to_str().expect("utf-8 temp path"));
    assert_exit_code(&output, want_errno);
    assert!(!target.exists(), "mkdir went through");
}

#[test]
fn errno_action_defaults_to_eperm() {
    mkdir_test("errno", libc::EPERM);
}

#[test]
fn errno_action_returns_errno_ret() {
    mkdir_test("errno-custom", libc::EXDEV);
}

#[test]
fn several_architectures_and_unknown_syscalls_still_filter() {
    mkdir_test("errno-multiarch", libc::EPERM);
}

#[test]
fn default_action_returns_default_errno_ret() {
    mkdir_test("default-errno", libc::EXDEV);
}

#[test]
fn argument_filters_and_or_and_mask() {
    if !seccomp_available() {
        return;
    }
    assert_exit_code(&run_child("args", ""), 0);
}

fn assert_killed_by_sigsys(status: ExitStatus, output: &Output) {
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{}", describe(output));
}

#[test]
fn load_without_no_new_privs_or_cap_sys_admin_fails_with_a_hint() {
    if !seccomp_available() {
        return;
    }
    assert_exit_code(&run_child("no-nnp", ""), 0);
}

#[test]
fn kill_process_action_kills_with_sigsys() {
    if !seccomp_available() {
        return;
    }
    let output = run_child("kill-process", "");
    assert_killed_by_sigsys(output.status, &output);
}

#[test]
fn trap_action_raises_sigsys() {
    if !seccomp_available() {
        return;
    }
    let output = run_child("trap", "");
    assert_killed_by_sigsys(output.status, &output);
}

#[test]
fn trace_action_without_a_tracer_fails_with_enosys() {
    if !seccomp_available() {
        return;
    }
    assert_exit_code(&run_child("trace", ""), 0);
}

#[test]
fn log_and_allow_let_the_syscall_through_with_flags() {
    if !seccomp_available() {
        return;
    }
    assert_exit_code(&run_child("log", ""), 0);
}

/// Accept the child's connection, giving up if the child ends first.
fn accept_from(listener: &UnixListener, child: &mut Child) -> UnixStream {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking stream");
                return stream;
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("child ended with {status:?} before connecting to the agent");
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(err) => panic!("accept: {err}"),
        }
    }
}

/// Receive the state JSON and the notify fd, the way a seccomp agent does.
fn receive_listener(mut stream: UnixStream) -> (ContainerProcessState, OwnedFd) {
    let mut buf = vec![0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let fd = control
        .drain()
        .find_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .expect("an fd in SCM_RIGHTS");
    buf.truncate(msg.bytes);
    stream.read_to_end(&mut buf).expect("rest of the state");
    let state = serde_json::from_slice(&buf).expect("container process state JSON");
    (state, fd)
}

#[test]
fn notify_action_hands_the_fd_to_the_agent_which_answers() {
    if !seccomp_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).expect("bind agent socket");
    let mut child = child_command("notify", socket.to_str().expect("utf-8 temp path"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the test child");

    let (state, fd) = receive_listener(accept_from(&listener, &mut child));
    assert_eq!(state.fds(), &["seccompFd".to_owned()]);
    assert_eq!(state.metadata().as_deref(), Some("test-metadata"));
    assert_eq!(u32::try_from(*state.pid()).ok(), Some(child.id()));

    let req = ScmpNotifReq::receive(fd.as_raw_fd()).expect("receive notification");
    // `pid` is the notifying thread's id: the child's test thread.
    let task = format!("/proc/{}/task/{}", child.id(), req.pid);
    assert!(
        Path::new(&task).exists(),
        "{task} is not a thread of the child"
    );
    assert_eq!(
        Some(req.data.syscall),
        ScmpSyscall::from_name("getppid").ok()
    );
    ScmpNotifResp::new_val(req.id, AGENT_ANSWER, ScmpNotifRespFlags::empty())
        .respond(fd.as_raw_fd())
        .expect("respond to notification");
    drop(fd);

    let status = child.wait().expect("wait for the child");
    assert_eq!(status.code(), Some(0), "child ended with {status:?}");
}

#[test]
fn send_listener_fd_reports_the_socket_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nobody-listens.sock");
    let fd = std::fs::File::open("/dev/null").expect("open /dev/null");
    let err = send_listener_fd(&missing, b"{}", fd.as_fd()).expect_err("no agent listens");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "linux.seccomp.listenerPath: connecting to {missing:?} failed: "
        )),
        "{msg}"
    );
    let err = send_listener_fd(&missing, b"", fd.as_fd()).expect_err("empty state");
    assert_eq!(
        err.to_string(),
        "linux.seccomp.listenerPath: the container process state sent with the fd must not be empty"
    );
}
