//! berth-shim as berth's supervisor uses it: a process that has a child
//! executes the shim, which logs the child's output, reaps it and executes
//! the hand-over command with the exit code.
//!
//! Here the "supervisor" is a shell: it starts the child in the background
//! with its output on two pipes, then `exec`s the shim (which keeps the
//! child), and the hand-over command is a shell that records its
//! arguments. The child waits until its parent is the shim: a child that
//! ended before could be reaped by the shell, as berth's supervisor never
//! does.

#![allow(clippy::unwrap_used)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

/// Close-on-exec, so that tests running side by side never inherit each
/// other's pipe ends; the child moves them to fixed numbers.
fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

struct Run {
    code: Option<i32>,
    handed_over: String,
    records: Vec<serde_json::Value>,
    /// What the shim wrote on the status pipe.
    status: String,
}

/// Runs `script` as the container, under the shim, with `flags`.
fn run(dir: &Path, script: &str, flags: &str) -> Run {
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let exe = rustix::fs::open(
        "/bin/sh",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let log = dir.join("c-json.log");
    let result = dir.join("handed-over");
    let status = dir.join("status");
    // In the child: stdout pipe 10 (read) and 12 (write), stderr 11 and
    // 13, the hand-over program 14, the status pipe 3.
    let fds = [
        out_r.as_raw_fd(),
        err_r.as_raw_fd(),
        out_w.as_raw_fd(),
        err_w.as_raw_fd(),
        exe.as_raw_fd(),
    ];
    let outer = format!(
        "exec 3>{status}; \
         sh -c 'until [ \"$(cat /proc/$PPID/comm)\" = berth-shim ]; do sleep 0.01; done; {script}' \
           >&12 2>&13 10<&- 11<&- & \
         exec 12>&- 13>&-; \
         exec {SHIM} --pid $! --log {log} {flags} --stdout 10 --stderr 11 \
           --exe 14 -- /bin/sh -c 'echo \"$*\" >{result}' handover",
        status = status.display(),
        log = log.display(),
        result = result.display(),
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&outer);
    // SAFETY: between fork and exec only fcntl, dup2 and close, which are
    // async-signal-safe;
    // the source descriptors are open in the parent (and so in the child).
    unsafe {
        cmd.pre_exec(move || {
            // Sources first moved above the targets, so no dup2 clobbers
            // a source that happens to be numbered 10-14.
            let mut high = [0; 5];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(*fd, libc::F_DUPFD, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 10 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(*fd);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // Only the container may hold the write ends, or the shim never sees
    // the end of its output.
    drop((out_r, out_w, err_r, err_w, exe));
    let st = child.wait().unwrap();
    let records = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Run {
        code: st.code(),
        handed_over: std::fs::read_to_string(&result)
            .unwrap_or_default()
            .trim()
            .to_owned(),
        records,
        status: std::fs::read_to_string(&status).unwrap_or_default(),
    }
}

fn texts(r: &Run, stream: &str) -> Vec<String> {
    r.records
        .iter()
        .filter(|e| e["stream"] == stream)
        .map(|e| e["log"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn output_is_logged_and_the_exit_code_handed_over() {
    let d = tempfile::tempdir().unwrap();
    let r = run(
        d.path(),
        "echo one; echo oops >&2; sleep 0.1; printf \"two\\nthr\"; printf ee; exit 7",
        "",
    );
    assert_eq!(r.code, Some(0), "the hand-over command's status");
    assert_eq!(r.handed_over, "--exited 7");
    assert_eq!(texts(&r, "stdout"), ["one\n", "two\n", "three"]);
    assert_eq!(texts(&r, "stderr"), ["oops\n"]);
    for e in &r.records {
        let t = e["time"].as_str().unwrap();
        assert_eq!(t.len(), 30, "RFC 3339 with nanoseconds: {t}");
        assert!(t.ends_with('Z'));
    }
}

#[test]
fn a_killed_container_reports_128_plus_the_signal() {
    let d = tempfile::tempdir().unwrap();
    let r = run(d.path(), "kill -9 $$", "");
    assert_eq!(r.handed_over, "--exited 137");
}

#[test]
fn long_lines_are_split_as_docker_splits_them() {
    let d = tempfile::tempdir().unwrap();
    let r = run(
        d.path(),
        "head -c 40000 /dev/zero | tr \"\\\\0\" x; echo",
        "",
    );
    let lens: Vec<usize> = texts(&r, "stdout").iter().map(String::len).collect();
    assert_eq!(lens, [16384, 16384, 7233]);
}

#[test]
fn logs_rotate_by_size_keeping_max_file() {
    let d = tempfile::tempdir().unwrap();
    let r = run(
        d.path(),
        "i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done",
        "--log-max-size 300 --log-max-file 3",
    );
    assert_eq!(r.handed_over, "--exited 0");
    let log = d.path().join("c-json.log");
    for f in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
        let len = std::fs::metadata(d.path().join(f)).unwrap().len();
        assert!(len > 0 && len <= 300, "{f}: {len} bytes");
    }
    assert!(!d.path().join("c-json.log.3").exists());
    let last = std::fs::read_to_string(&log).unwrap();
    assert!(last.contains("line 99\\n"), "{last}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let out = Command::new(SHIM).args(["--pid"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("berth-shim: "));
    let out = Command::new(SHIM)
        .args(["--pid", "1", "--log", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn an_offered_exit_is_taken_by_an_answer_and_handed_over_without_one() {
    let dir = tempfile::tempdir().unwrap();
    // The caller answers: the shim says the code and ends, handing over
    // nothing (the caller records the exit).
    let yes = dir.path().join("yes");
    std::fs::write(&yes, b"1").unwrap();
    let r = run(
        dir.path(),
        "exit 3",
        &format!("--hand-to 15 15<{}", yes.display()),
    );
    assert_eq!(r.code, Some(0));
    assert_eq!(r.status, "{\"reaped\":{\"code\":3}}\n");
    assert_eq!(r.handed_over, "");
    // The caller is gone (end of file): the exit is handed over as always.
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), "exit 3", "--hand-to 15 15</dev/null");
    assert_eq!(r.status, "{\"reaped\":{\"code\":3}}\n");
    assert_eq!(r.handed_over, "--exited 3");
}
