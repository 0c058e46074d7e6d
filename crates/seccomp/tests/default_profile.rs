//! The default profile, compiled and loaded for real.
//!
//! As in `load.rs`, every test re-executes this binary as a child
//! (`child_entry`, selected by `BERTH_SECCOMP_TEST_CHILD`) which compiles
//! `default_profile(caps)`, sets `no_new_privs`, loads the filter and makes the
//! syscalls under test. It prints what failed and exits 1, or exits 0. The
//! parent only looks at how the child ended.
//!
//! The tests that expect EPERM need root with `CAP_SYS_ADMIN`: without it the
//! kernel itself refuses `unshare` or `mount` and the test would prove
//! nothing. They print "skipped" without it, and fail when
//! `BERTH_REQUIRE_PRIVILEGED=1` is set. The child makes the mount attempt in a
//! private mount namespace, so a filter that let it through leaks nothing.

use std::ffi::CString;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use berth_seccomp::{compile, default_profile};

const MODE_ENV: &str = "BERTH_SECCOMP_TEST_CHILD";
const ARG_ENV: &str = "BERTH_SECCOMP_TEST_ARG";
const BUSYBOX: &str = "/bin/busybox";
/// `CAP_SYS_ADMIN` in capability bit masks (linux/capability.h).
const CAP_SYS_ADMIN_BIT: u32 = 21;

// ---------------------------------------------------------------- child side

/// Not a test of its own: the entry point of the re-executed child.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(MODE_ENV) else {
        return;
    };
    let arg = std::env::var(ARG_ENV).unwrap_or_default();
    let code = match child(&mode, &arg) {
        Ok(()) => 0,
        Err(failure) => {
            eprintln!("FAIL: {failure}");
            1
        }
    };
    // SAFETY: _exit ends the process at once; nothing needs to run after it.
    unsafe { libc::_exit(code) }
}

fn child(mode: &str, arg: &str) -> Result<(), String> {
    let caps: Vec<String> = match mode {
        "admin" => vec!["CAP_SYS_ADMIN".to_owned()],
        _ => Vec::new(),
    };
    let program = compile(&default_profile(&caps)).map_err(|e| e.to_string())?;
    if mode == "denied" {
        private_mount_namespace()?;
    }
    prepare_child()?;
    program.load().map_err(|e| e.to_string())?;
    match mode {
        "ordinary" => ordinary_work(Path::new(arg)),
        "denied" => denied_work(Path::new(arg)),
        "admin" => admin_work(),
        _ => Err(format!("unknown mode {mode}")),
    }
}

/// The outcome of a raw syscall: its return value, or -errno.
fn outcome(rc: libc::c_long) -> libc::c_long {
    if rc == -1 {
        -libc::c_long::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        rc
    }
}

fn expect_errno(what: &str, rc: libc::c_long, errno: i32) -> Result<(), String> {
    let got = outcome(rc);
    if got == -libc::c_long::from(errno) {
        Ok(())
    } else {
        Err(format!("{what}: expected errno {errno}, got {got}"))
    }
}

fn expect_ok(what: &str, rc: libc::c_long) -> Result<(), String> {
    let got = outcome(rc);
    if got >= 0 {
        Ok(())
    } else {
        Err(format!("{what}: expected success, got errno {}", -got))
    }
}

fn private_mount_namespace() -> Result<(), String> {
    // SAFETY: unshare takes flags only.
    expect_ok("unshare(CLONE_NEWNS) before the filter", unsafe {
        libc::unshare(libc::CLONE_NEWNS).into()
    })?;
    let root = c"/";
    // SAFETY: `root` is NUL-terminated; the other pointers may be null for a propagation change.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    expect_ok("making / private before the filter", rc.into())
}

fn prepare_child() -> Result<(), String> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    expect_ok("prctl(PR_SET_NO_NEW_PRIVS)", rc.into())
}

/// Wait for our own child `pid` and return its exit code.
fn wait_exit_code(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    // SAFETY: `pid` is a child of this process; `status` is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    if rc != pid || !libc::WIFEXITED(status) {
        return Err(format!("waitpid({pid}) = {rc}, status {status:#x}"));
    }
    Ok(libc::WEXITSTATUS(status))
}

fn ordinary_work(dir: &Path) -> Result<(), String> {
    let file = dir.join("data");
    std::fs::write(&file, b"hello").map_err(|e| format!("write {file:?}: {e}"))?;
    let back = std::fs::read(&file).map_err(|e| format!("read {file:?}: {e}"))?;
    if back != b"hello" {
        return Err(format!("read back {back:?}"));
    }
    mmap_work()?;
    fork_work()?;
    exec_work()?;
    // Threads and Command go through glibc's clone3, which gets ENOSYS and falls back to clone.
    let answer = std::thread::spawn(|| 42)
        .join()
        .map_err(|_| "thread panicked")?;
    if answer != 42 {
        return Err("thread result".to_owned());
    }
    let status = Command::new(BUSYBOX)
        .arg("true")
        .status()
        .map_err(|e| format!("spawning {BUSYBOX} true: {e}"))?;
    if !status.success() {
        return Err(format!("{BUSYBOX} true: {status}"));
    }
    // SAFETY: socket takes integers only; the fd is closed right after.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    expect_ok("socket(AF_UNIX)", fd.into())?;
    // SAFETY: `fd` is ours and open.
    unsafe { libc::close(fd) };
    // SAFETY: personality takes an integer; 0xffffffff only queries.
    expect_ok("personality(query)", unsafe {
        libc::syscall(libc::SYS_personality, 0xffff_ffff_u64)
    })
}

fn mmap_work() -> Result<(), String> {
    const LEN: usize = 1 << 16;
    // SAFETY: a fresh anonymous private mapping, no address hint.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `ptr` maps LEN writable bytes that nothing else uses; unmapped once.
    unsafe {
        ptr.cast::<u8>().add(LEN - 1).write(7);
        libc::munmap(ptr, LEN);
    }
    Ok(())
}

fn fork_work() -> Result<(), String> {
    // SAFETY: the child only calls _exit.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        // SAFETY: _exit is async-signal-safe.
        0 => unsafe { libc::_exit(7) },
        pid => match wait_exit_code(pid)? {
            7 => Ok(()),
            code => Err(format!("forked child exited {code}")),
        },
    }
}

fn exec_work() -> Result<(), String> {
    let path = CString::new(BUSYBOX).map_err(|e| e.to_string())?;
    let argv = [path.as_ptr(), c"true".as_ptr(), std::ptr::null()];
    // SAFETY: the child only calls execv (with NUL-terminated strings and a
    // null-terminated argv built before the fork) and _exit.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        // SAFETY: in the forked child: `path` and `argv` are valid, NUL- and
        // null-terminated, built before the fork; _exit if execv returns.
        0 => unsafe {
            libc::execv(path.as_ptr(), argv.as_ptr());
            libc::_exit(127)
        },
        pid => match wait_exit_code(pid)? {
            0 => Ok(()),
            code => Err(format!("execve {BUSYBOX} true exited {code}")),
        },
    }
}

/// `clone(flags)` the fork way; a child that should never exist exits at once.
fn raw_clone(flags: libc::c_ulong) -> libc::c_long {
    // SAFETY: with a null stack clone behaves like fork; the child only calls _exit.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if rc == 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) };
    }
    if rc > 0 {
        let _ = wait_exit_code(rc as libc::pid_t);
    }
    rc
}

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// A fork through clone3; a child exits at once.
fn raw_clone3() -> libc::c_long {
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; without a stack
    // clone3 behaves like fork and the child only calls _exit.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc == 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) };
    }
    if rc > 0 {
        let _ = wait_exit_code(rc as libc::pid_t);
    }
    rc
}

fn denied_work(dir: &Path) -> Result<(), String> {
    let eperm = libc::EPERM;
    // SAFETY: unshare takes flags only; it changes only this thread if it passes.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    expect_errno("unshare(CLONE_NEWNS)", rc.into(), eperm)?;
    let target = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: all strings are NUL-terminated; a mount that got through would
    // land in this child's private mount namespace.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    expect_errno("mount(tmpfs)", rc.into(), eperm)?;
    // SAFETY: KEYCTL_GET_KEYRING_ID of the thread keyring, without creating it.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, 0, -1i64, 0) };
    expect_errno("keyctl(KEYCTL_GET_KEYRING_ID)", rc, eperm)?;
    // SAFETY: too many segments and unknown flags: a kernel that saw this call
    // would refuse it (EINVAL) without touching any loaded image.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0usize,
            17usize,
            0usize,
            0xdead_0000usize,
        )
    };
    expect_errno("kexec_load", rc, eperm)?;
    for persona in [
        0x0040000u64, /* ADDR_NO_RANDOMIZE */
        0x0006,       /* PER_BSD */
    ] {
        // SAFETY: personality takes an integer; it affects only this child.
        let rc = unsafe { libc::syscall(libc::SYS_personality, persona) };
        expect_errno(&format!("personality({persona:#x})"), rc, eperm)?;
    }
    let sigchld = libc::SIGCHLD as libc::c_ulong;
    let newuser = libc::CLONE_NEWUSER as libc::c_ulong;
    expect_errno("clone(CLONE_NEWUSER)", raw_clone(newuser | sigchld), eperm)?;
    expect_ok("clone without namespace flags", raw_clone(sigchld))?;
    expect_errno("clone3", raw_clone3(), libc::ENOSYS)?;
    // SAFETY: socket takes integers only; nothing is created when refused.
    let rc = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
    expect_errno("socket(AF_VSOCK)", rc.into(), eperm)
}

fn admin_work() -> Result<(), String> {
    // SAFETY: unshare takes flags only; the new mount namespace is this thread's alone.
    expect_ok("unshare(CLONE_NEWNS) with CAP_SYS_ADMIN", unsafe {
        libc::unshare(libc::CLONE_NEWNS).into()
    })?;
    expect_ok("clone3 with CAP_SYS_ADMIN", raw_clone3())?;
    let newuser = libc::CLONE_NEWUSER as libc::c_ulong;
    expect_ok(
        "clone(CLONE_NEWUSER) with CAP_SYS_ADMIN",
        raw_clone(newuser | libc::SIGCHLD as libc::c_ulong),
    )
}

// --------------------------------------------------------------- parent side

fn skip(why: &str) -> bool {
    if std::env::var_os("BERTH_REQUIRE_PRIVILEGED").is_some() {
        panic!("BERTH_REQUIRE_PRIVILEGED is set but the test cannot run: {why}");
    }
    println!("skipped: {why}");
    false
}

/// Whether this process holds CAP_SYS_ADMIN in its effective set.
fn has_cap_sys_admin() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << CAP_SYS_ADMIN_BIT) != 0)
}

fn can_run(needs_admin: bool) -> bool {
    // SAFETY: PR_GET_SECCOMP takes no further arguments.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } < 0 {
        return skip("this kernel has no seccomp support");
    }
    if !Path::new(BUSYBOX).exists() {
        return skip("needs /bin/busybox (busybox-static)");
    }
    if needs_admin && !has_cap_sys_admin() {
        return skip(
            "needs root with CAP_SYS_ADMIN, or the kernel's own EPERM would hide the filter's",
        );
    }
    true
}

fn run_child(mode: &str, arg: &str) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(MODE_ENV, mode)
        .env(ARG_ENV, arg)
        .stdin(Stdio::null())
        .output()
        .expect("spawn the test child")
}

fn assert_child_passed(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "child ended with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn ordinary_work_runs_under_the_default_profile() {
    if !can_run(false) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    assert_child_passed(&run_child(
        "ordinary",
        dir.path().to_str().expect("utf-8 temp path"),
    ));
}

#[test]
fn the_default_profile_refuses_what_containers_must_not_do() {
    if !can_run(true) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    assert_child_passed(&run_child(
        "denied",
        dir.path().to_str().expect("utf-8 temp path"),
    ));
}

#[test]
fn cap_sys_admin_in_the_caps_allows_namespaces() {
    if !can_run(true) {
        return;
    }
    assert_child_passed(&run_child("admin", ""));
}

/// What compiling the default profile costs on `berth run`'s fast path.
/// Run: `cargo test -p berth-seccomp --test default_profile -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn measure_default_profile_compile_time() {
    const RUNS: u32 = 20;
    let caps: Vec<String> = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
    .iter()
    .map(|c| (*c).to_owned())
    .collect();
    let mut build = Vec::new();
    let mut compiled = Vec::new();
    let mut len = 0;
    for _ in 0..RUNS {
        let start = std::time::Instant::now();
        let profile = default_profile(&caps);
        let built = start.elapsed();
        let program = compile(&profile).expect("the default profile compiles");
        compiled.push(start.elapsed() - built);
        build.push(built);
        len = program.instructions().len();
    }
    build.sort();
    compiled.sort();
    let median = |v: &[std::time::Duration]| v[v.len() / 2];
    println!(
        "default profile ({} caps, {len} BPF instructions), median of {RUNS}: \
         default_profile {:?}, compile {:?} (min {:?}, max {:?})",
        caps.len(),
        median(&build),
        median(&compiled),
        compiled[0],
        compiled[compiled.len() - 1],
    );
}
