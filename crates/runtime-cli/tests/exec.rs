//! `exec` and terminals, for real: processes joined to running busybox
//! containers, checked from inside and against what the host's /proc says.

mod support;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Child, Stdio};

use serde_json::json;
use support::{privileged, Bundle, Runtime};

fn text(out: &std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ns_link(pid: i32, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .expect("ns link")
        .display()
        .to_string()
}

#[test]
fn exec_joins_the_containers_namespaces_and_cgroup() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let init = rt.pid(&id);

    // From inside: a new pid in the container's pid namespace (its init is
    // pid 1) and the container's hostname.
    let out = rt.exec(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $$; hostname; cat /proc/1/cmdline",
    ]);
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let inner: i32 = lines[0].parse().expect("pid");
    assert!(inner > 1, "exec'd process is not the init: {inner}");
    assert_eq!(lines[1], "berth");
    assert!(lines[2].starts_with("sleep"), "{stdout}");

    // From the host: the same namespaces and cgroups as the init.
    let pid_file = rt.root.path().join("exec.pid");
    let pf = pid_file.display().to_string();
    let out = rt.exec(&["exec", "--detach", "--pid-file", &pf, &id, "sleep", "1000"]);
    assert!(out.status.success(), "{}", text(&out).2);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_ne!(pid, init);
    for ns in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        assert_eq!(ns_link(pid, ns), ns_link(init, ns), "{ns} namespace");
    }
    let cgroups = |p: i32| std::fs::read_to_string(format!("/proc/{p}/cgroup")).expect("cgroup");
    assert_eq!(cgroups(pid), cgroups(init));
    // And it is one of the container's processes.
    let ps = rt.exec(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&ps.stdout).expect("ps json");
    assert!(pids.contains(&pid) && pids.contains(&init), "{pids:?}");
}

#[test]
fn exec_joins_a_user_namespace_and_shares_the_hosts_pid_namespace() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    // A user namespace (its id maps, seen from the exec'd process) ...
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .expect("chown");
    assert!(status.success());
    let id = rt.run_detached(&b);
    let (code, out, err) =
        text(&rt.exec(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "100000", "65536"]
    );
    let init = rt.pid(&id);
    // ... and a container in the host's pid namespace: not joined, the
    // exec'd process sees host pids (the init's among them).
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .retain(|n| n["type"] != "pid");
    let id = rt.run_detached(&b);
    let (code, out, err) = text(&rt.exec(&["exec", &id, "cat", &format!("/proc/{init}/uid_map")]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
}

#[test]
fn exec_returns_the_exit_status() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let (code, _, err) = text(&rt.exec(&["exec", &id, "sh", "-c", "exit 42"]));
    assert_eq!(code, 42, "{err}");
    // Not pid 1 of its namespace: it can be killed from inside.
    let (code, _, err) = text(&rt.exec(&["exec", &id, "sh", "-c", "kill -KILL $$"]));
    assert_eq!(code, 128 + 9, "{err}");
    // The runtime's own failures: 255, as runc (its test "exec [exit codes]").
    let (code, _, err) = text(&rt.exec(&["exec", &id, "no-such-program"]));
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("no-such-program"), "{err}");
    let (code, _, err) = text(&rt.exec(&["exec", "--pid-file", "/non-existent/dir", &id, "true"]));
    assert_eq!(code, 255, "{err}");
    let (code, _, err) = text(&rt.exec(&["exec", "no-such-container", "true"]));
    assert_eq!(code, 255, "{err}");
    let (code, _, _) = text(&rt.exec(&["exec", &id, "false"]));
    assert_eq!(code, 1);
}

#[test]
fn exec_applies_the_process_json() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let process = json!({
        "args": ["sh", "-c", "id; echo $FOO; pwd; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ulimit -n"],
        "env": ["PATH=/bin", "FOO=bar"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [5]},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                         "ambient": ["CAP_KILL"]},
        "noNewPrivileges": true,
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 123, "soft": 123}]
    });
    let path = rt.root.path().join("process.json");
    std::fs::write(&path, process.to_string()).expect("process.json");
    let p = path.display().to_string();
    let (code, out, err) = text(&rt.exec(&["exec", "--process", &p, &id]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "uid=1000 gid=1001 groups=5",
            "bar",
            "/tmp",
            &format!("CapEff:\t{:016x}", 1u64 << 5),
            "NoNewPrivs:\t1",
            "123"
        ],
        "{out}"
    );
}

#[test]
fn exec_flags_change_the_containers_process() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let out = rt.exec(&[
        "exec",
        "--env",
        "A=1",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        &id,
        "sh",
        "-c",
        "echo $A; pwd; id -u",
    ]);
    let (code, out, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1\n/tmp\n1000\n");
}

#[test]
fn exec_is_refused_into_a_stopped_or_paused_container() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    assert!(rt.exec(&["pause", &id]).status.success());
    let (code, _, err) = text(&rt.exec(&["exec", &id, "true"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("paused") && err.contains("--ignore-paused"),
        "{err}"
    );
    assert!(rt.exec(&["resume", &id]).status.success());
    assert!(rt.exec(&["exec", &id, "true"]).status.success());
    let init = rt.pid(&id);
    assert!(rt.exec(&["kill", &id, "KILL"]).status.success());
    // Wait for the kill to land (the state is derived from the kernel).
    let fd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(init).expect("pid"),
        rustix::process::PidfdFlags::empty(),
    );
    if let Ok(fd) = fd {
        let mut pfd = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let _ = rustix::event::poll(&mut pfd, None);
    }
    let (code, _, err) = text(&rt.exec(&["exec", &id, "true"]));
    assert_ne!(code, 0);
    assert!(err.contains("stopped"), "{err}");
}

/// Kills and reaps a spawned `berth-runtime` if the test fails early.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn wait(mut self) -> i32 {
        let mut c = self.0.take().expect("child");
        c.wait().expect("wait").code().unwrap_or(-1)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Accepts the runtime's connection on `listener` and receives the master.
/// The poll timeout only keeps a runtime that never connects from hanging
/// the test.
fn receive_master(listener: &UnixListener) -> OwnedFd {
    let mut pfd = [rustix::event::PollFd::new(
        listener,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec {
        tv_sec: 60,
        tv_nsec: 0,
    };
    let n = rustix::event::poll(&mut pfd, Some(&ts)).expect("poll");
    assert!(n > 0, "the runtime never connected to the console socket");
    let (conn, _) = listener.accept().expect("accept console connection");
    let (name, fd) = berth_sys::fdpass::recv_fd(conn.as_fd()).expect("receive pty master");
    assert_eq!(name, "/dev/ptmx");
    fd
}

/// Everything the terminal prints until its last slave closes (EIO).
/// The poll timeout only keeps a broken runtime from hanging the test.
fn read_until_hangup(master: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut pfd = [rustix::event::PollFd::new(
            master,
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 60,
            tv_nsec: 0,
        };
        let n = rustix::event::poll(&mut pfd, Some(&ts)).expect("poll");
        assert!(
            n > 0,
            "terminal silent; got so far: {:?}",
            String::from_utf8_lossy(&out)
        );
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(rustix::io::Errno::IO) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("reading the pty master: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn exec_tty_hands_the_master_to_the_console_socket() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let sock = rt.root.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("listen");
    let child = rt
        .cmd()
        .args(["exec", "--tty", "--console-socket"])
        .arg(&sock)
        .args([&id, "sh"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn exec");
    let child = ChildGuard(Some(child));
    let master = receive_master(&listener);
    // Type into the interactive shell through the master.
    std::fs::File::from(master.try_clone().expect("dup"))
        .write_all(b"tty; echo $((6 * 7)); exit 3\n")
        .expect("type");
    let out = read_until_hangup(&master);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("42"), "{out}");
    assert_eq!(child.wait(), 3, "{out}");
}

#[test]
fn run_with_a_terminal_binds_dev_console_to_the_pty() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "tty; stat -c %t:%T /dev/console; stat -c %t:%T $(tty)",
    ]);
    b.config["process"]["terminal"] = true.into();
    b.write();
    let id = rt.id();
    let sock = rt.root.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("listen");
    let child = rt
        .cmd()
        .args(["run", "--console-socket"])
        .arg(&sock)
        .arg("--bundle")
        .arg(b.path())
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn run");
    let child = ChildGuard(Some(child));
    let master = receive_master(&listener);
    let out = read_until_hangup(&master);
    assert_eq!(child.wait(), 0, "{out}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("/dev/pts/"), "{out}");
    // /dev/console is the same character device as the process's tty.
    assert_eq!(lines[1], lines[2], "{out}");
}

#[test]
fn terminal_and_console_socket_must_come_together() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    // Detached, nobody could relay the terminal.
    let mut b = Bundle::new(&["true"]);
    b.config["process"]["terminal"] = true.into();
    b.write();
    let id = rt.id();
    let path = b.path().display().to_string();
    let (code, _, err) = text(&rt.exec(&["run", "-d", "--bundle", &path, &id]));
    assert_ne!(code, 0);
    assert!(err.contains("--console-socket"), "{err}");
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let (code, _, err) = text(&rt.exec(&["exec", "--tty", "--detach", &id, "sh"]));
    assert_ne!(code, 0);
    assert!(err.contains("--console-socket"), "{err}");
    // A socket without a terminal: nothing would be sent.
    let sock = rt.root.path().join("unused.sock");
    let sock = sock.display().to_string();
    let (code, _, err) = text(&rt.exec(&["exec", "--console-socket", &sock, &id, "true"]));
    assert_ne!(code, 0);
    assert!(err.contains("--console-socket"), "{err}");
}

/// No `#console-*` directory (the runtime's own console socket) is left
/// in the state root.
fn no_console_dirs_left(rt: &Runtime) {
    let left: Vec<_> = std::fs::read_dir(rt.root.path())
        .expect("root")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("#console-"))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Runs `cmd` under a pty (util-linux `script`), `input` typed into it
/// (stdin kept open until the command exits); (exit code, output).
fn in_pty(cmd: &str, input: &str) -> (i32, String) {
    let out = tempfile::tempfile().expect("out");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(out.try_clone().expect("dup"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn script");
    let stdin = child.stdin.take();
    if let Some(mut s) = stdin.as_ref() {
        s.write_all(input.as_bytes()).expect("type");
    }
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let code = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd}: still running after 60 s under a pty, killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(stdin);
    let mut out = out;
    let mut text = String::new();
    use std::io::{Read, Seek};
    out.seek(std::io::SeekFrom::Start(0)).expect("seek");
    out.read_to_string(&mut text).expect("read");
    (code, text)
}

#[test]
fn run_in_the_foreground_relays_its_own_terminal() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    // Without a terminal of the caller's: the pty's output comes back on
    // stdout (CRLF line ends), and the exit status too.
    let mut b = Bundle::new(&["sh", "-c", "tty; stat -c %t:%T /dev/console; exit 2"]);
    b.config["process"]["terminal"] = true.into();
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(lines[1], "88:0", "/dev/console is a pty slave: {out:?}");
    no_console_dirs_left(&rt);

    // Under a terminal, as a user types: input reaches the shell.
    let mut b = Bundle::new(&["sh"]);
    b.config["process"]["terminal"] = true.into();
    b.write();
    let id = rt.id();
    let cmd = format!(
        "{} --root {} run --bundle {} {id}",
        support::BIN,
        rt.root.path().display(),
        b.path().display()
    );
    let (code, out) = in_pty(&cmd, "tty; echo in-$((6*7)); exit 3\n");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("in-42"), "{out}");
    no_console_dirs_left(&rt);
    // `run` deleted the container after it exited.
    let (code, _, _) = text(&rt.exec(&["state", &id]));
    assert_ne!(code, 0);
}

#[test]
fn exec_tty_in_the_foreground_relays_its_own_terminal() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let (code, out, err) = text(&rt.exec(&["exec", "-t", &id, "sh", "-c", "tty; exit 4"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.starts_with("/dev/pts/") && out.ends_with("\r\n"),
        "{out:?}"
    );
    let cmd = format!(
        "{} --root {} exec -t {id} sh",
        support::BIN,
        rt.root.path().display()
    );
    let (code, out) = in_pty(&cmd, "echo in-$((6*7)); exit 5\n");
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("in-42"), "{out}");
    no_console_dirs_left(&rt);
}

#[test]
fn preserved_and_socket_activation_fds_reach_the_process() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo $LISTEN_FDS $LISTEN_PID; cat <&3; cat <&4; cat <&5 2>/dev/null || echo closed",
    ]);
    b.write();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("a", "listen"), ("b", "preserved"), ("c", "leaked")] {
        std::fs::write(dir.path().join(name), format!("{text}\n")).expect("write");
    }
    let id = rt.id();
    // The shell opens 3 (the activation socket stand-in), 4 (preserved)
    // and 5 (neither), and becomes berth-runtime with its own pid as
    // LISTEN_PID, as a service manager would start it.
    let script = format!(
        "cd {dir} && exec 3<a 4<b 5<c && LISTEN_PID=$$ LISTEN_FDS=1 exec {bin} --root {root} run --preserve-fds 1 --bundle {bundle} {id}",
        dir = dir.path().display(),
        bin = support::BIN,
        root = rt.root.path().display(),
        bundle = b.path().display(),
    );
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    let (code, out, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    // 3 and 4 are kept; 5, neither activated nor preserved, is not.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["1 1", "listen", "preserved", "closed"], "{out}");
}

/// The working directory is entered with the runtime's privileges first,
/// then (if refused) as the process's user, as runc does: uid 0 without
/// CAP_DAC_OVERRIDE (runc's default capabilities) can exec into a container
/// whose cwd only its owner may enter, and so can that owner (found by
/// runc's test "runc exec --user with no access to cwd").
#[test]
fn cwd_is_entered_before_and_after_taking_the_user() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let home = b.rootfs().join("home42");
    std::fs::create_dir(&home).expect("mkdir");
    std::os::unix::fs::chown(&home, Some(42), Some(42)).expect("chown");
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    b.config["process"]["cwd"] = "/home42".into();
    b.config["process"]["user"] = json!({"uid": 42, "gid": 42});
    let id = rt.run_detached(&b);
    let (code, out, err) = text(&rt.exec(&["exec", "--user", "0", &id, "pwd"]));
    assert_eq!((code, out.trim()), (0, "/home42"), "{err}");
    let (code, out, err) = text(&rt.exec(&["exec", "--user", "42", &id, "pwd"]));
    assert_eq!((code, out.trim()), (0, "/home42"), "{err}");
}

/// A non-root process owns the terminal (and the stdio) it is given, as
/// with runc (its tests "run/exec [tty owner]"): a pty slave is otherwise
/// root's, and `/dev/stdout` cannot be reopened by the process.
#[test]
fn a_non_root_process_owns_its_terminal_and_stdio() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "stat -c %u $(tty)"]);
    b.config["process"]["terminal"] = true.into();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let (code, out, err) = rt.run(&b);
    assert_eq!((code, out.trim()), (0, "1000"), "{err}");

    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let (code, out, err) = text(&rt.exec(&[
        "exec",
        "-t",
        "-u",
        "1000",
        &id,
        "sh",
        "-c",
        "stat -c %u $(tty)",
    ]));
    assert_eq!((code, out.trim()), (0, "1000"), "{err}");
    // Plain stdio (files here, pipes under an engine): reopened by path.
    let (code, out, err) = text(&rt.exec(&[
        "exec",
        "-u",
        "1000",
        &id,
        "sh",
        "-c",
        "echo via-path >/dev/stdout",
    ]));
    assert_eq!((code, out.trim()), (0, "via-path"), "{err}");
}
