//! runc's advisories as tests: each plays the attack and then inspects the
//! host.

mod support;

use std::os::unix::fs::symlink;

use serde_json::json;
use support::{privileged, Bundle, Runtime, BIN};

/// CVE-2019-5736: the binary a container can reach through its init's
/// /proc/PID/exe must be on a read-only mount, so it cannot be rewritten.
#[test]
fn runtime_binary_cannot_be_rewritten_from_the_container() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let (id, out) = rt.create(&b);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let before = std::fs::read(BIN).expect("read binary");
    // O_TRUNC asks for write access to the mount before the file: a
    // read-only mount answers EROFS (an unprotected binary: ETXTBSY).
    let err = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(format!("/proc/{pid}/exe"))
        .expect_err("the runtime binary was opened for writing");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    assert_eq!(std::fs::read(BIN).expect("read binary"), before);
    assert!(rt.exec(&["delete", &id]).status.success());
}

/// Runs `berth-runtime run` from a shell that first opens a host directory
/// on fd 7 without close-on-exec, as a careless caller might.
fn run_with_leaked_fd(rt: &Runtime, b: &Bundle) -> (i32, String, String) {
    b.write();
    let id = rt.id();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 7</etc; exec {BIN} --root {} run --bundle {} {id}",
            rt.root.path().display(),
            b.path().display()
        ))
        .output()
        .expect("sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// CVE-2024-21626: no host fd reaches the container's process.
#[test]
fn no_host_file_descriptor_leaks_into_the_container() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "ls /proc/self/fd; readlink /proc/1/cwd"]);
    let (code, out, err) = run_with_leaked_fd(&rt, &b);
    assert_eq!(code, 0, "{err}");
    // 0-2 and the fd `ls` opens to read the directory.
    assert_eq!(out, "0\n1\n2\n3\n/\n");
}

/// CVE-2024-21626: a cwd that resolves through a leaked fd to the host is
/// refused, and nothing is left behind.
#[test]
fn cwd_through_a_leaked_fd_is_refused() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "ls ../../..; cat passwd"]);
    b.config["process"]["cwd"] = "/proc/self/fd/7".into();
    let (code, out, err) = run_with_leaked_fd(&rt, &b);
    assert_ne!(code, 0, "the process ran in a host directory: {out}");
    assert!(!out.contains("root:"), "host /etc/passwd was read: {out}");
    assert!(
        err.contains("process.cwd") || err.contains("chdir"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(rt.root.path())
            .expect("root")
            .next()
            .is_none(),
        "state left"
    );
}

/// `berth-runtime exec <id> <args>` from a shell that leaks a host
/// directory on fd 7, as [`run_with_leaked_fd`] does for `run`.
fn exec_with_leaked_fd(rt: &Runtime, flags: &str, id: &str, args: &str) -> (i32, String, String) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 7</etc; exec {BIN} --root {} exec {flags} {id} {args}",
            rt.root.path().display(),
        ))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// CVE-2024-21626 for exec: no host fd reaches the exec'd process, and a
/// cwd through a leaked fd is refused.
#[test]
fn exec_gets_no_host_fd_and_no_host_cwd() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let id = rt.id();
    let out = rt.exec(&[
        "run",
        "-d",
        "--bundle",
        &b.path().display().to_string(),
        &id,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out, err) = exec_with_leaked_fd(&rt, "", &id, "ls /proc/self/fd");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0\n1\n2\n3\n");
    let (code, out, err) = exec_with_leaked_fd(
        &rt,
        "--cwd /proc/self/fd/7",
        &id,
        "sh -c 'ls ../../..; cat passwd'",
    );
    assert_ne!(code, 0, "the process ran in a host directory: {out}");
    assert!(!out.contains("root:"), "host /etc/passwd was read: {out}");
    assert!(
        err.contains("process.cwd") || err.contains("chdir"),
        "{err}"
    );
}

/// CVE-2021-30465 and friends: a mount destination that is a symlink to a
/// host path is resolved inside the root; the mount lands there.
#[test]
fn mount_through_a_symlink_stays_inside_the_root() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let host = tempfile::tempdir().expect("host dir");
    let src = tempfile::tempdir().expect("mount source");
    std::fs::write(src.path().join("marker"), "from the bind source").expect("marker");
    let mut b = Bundle::new(&["sh", "-c", "cat /mnt/marker"]);
    symlink(host.path(), b.rootfs().join("mnt")).expect("plant symlink");
    b.config["mounts"].as_array_mut().expect("mounts").push(json!(
        {"destination": "/mnt", "type": "bind", "source": src.path(), "options": ["rbind", "ro"]}
    ));
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "from the bind source");
    // The symlink's target was re-rooted: created inside the rootfs...
    let rerooted = b
        .rootfs()
        .join(host.path().strip_prefix("/").expect("absolute"));
    assert!(
        rerooted.is_dir(),
        "mount point was not created inside the root"
    );
    // ...and the host directory it named got nothing.
    assert_eq!(std::fs::read_dir(host.path()).expect("host dir").count(), 0);
}

/// CVE-2025-31133: a masked path planted as a symlink to a host file masks
/// the file of that name inside the root, never the host's.
#[test]
fn masked_path_symlink_stays_inside_the_root() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let host = tempfile::tempdir().expect("host dir");
    let secret = host.path().join("secret");
    std::fs::write(&secret, "host secret").expect("secret");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        &format!("cat /evil; echo; cat {}", secret.display()),
    ]);
    let inner = b.rootfs().join(secret.strip_prefix("/").expect("absolute"));
    std::fs::create_dir_all(inner.parent().expect("parent")).expect("mkdir");
    std::fs::write(&inner, "inner file").expect("inner");
    symlink(&secret, b.rootfs().join("evil")).expect("plant symlink");
    b.config["linux"]["maskedPaths"] = json!(["/evil"]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    // Both names reach the re-rooted file, which is masked (empty).
    assert_eq!(out, "\n");
    assert_eq!(
        std::fs::read_to_string(&secret).expect("secret"),
        "host secret"
    );
    assert_eq!(
        std::fs::read_to_string(&inner).expect("inner"),
        "inner file"
    );
}

/// CVE-2019-16884 / CVE-2025-52881: procfs writes (sysctls) land in the
/// container's namespaces, not the host's.
#[test]
fn sysctl_writes_land_in_the_container() {
    if !privileged() {
        return;
    }
    let host_value = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .expect("host sysctl");
    let rt = Runtime::new();
    let mut b = Bundle::new(&["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "123"});
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "123\n");
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .expect("host sysctl");
    assert_eq!(after, host_value, "the host's sysctl changed");
}

/// A rootfs whose /proc is a symlink out of the root still gets procfs
/// inside the root, and the container starts.
#[test]
fn proc_symlink_in_rootfs_is_contained() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let host = tempfile::tempdir().expect("host dir");
    let b = Bundle::new(&["sh", "-c", "cat /proc/self/comm"]);
    std::fs::remove_dir(b.rootfs().join("proc")).expect("rm proc");
    symlink(host.path(), b.rootfs().join("proc")).expect("plant symlink");
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "cat\n");
    assert_eq!(std::fs::read_dir(host.path()).expect("host dir").count(), 0);
}
