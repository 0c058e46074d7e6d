//! The runtime, for real: containers from a busybox rootfs, asserting what
//! the kernel reports from inside and what is left on the host afterwards.

mod support;

use serde_json::json;
use support::{cgroup_dirs, privileged, Bundle, Runtime};

#[test]
fn pid_one_own_hostname_and_only_loopback() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "echo pid=$$; hostname; ls /sys/class/net"]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "pid=1\nberth\nlo\n");
}

#[test]
fn exit_code_and_signal_are_reported() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let (code, _, err) = rt.run(&Bundle::new(&["sh", "-c", "exit 42"]));
    assert_eq!(code, 42, "{err}");
    // Pid 1 of a pid namespace cannot be killed from inside it: run this
    // one in the host's pid namespace (which also covers that path).
    let mut b = Bundle::new(&["sh", "-c", "kill -KILL $$"]);
    b.config["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]);
    b.config["mounts"] = json!([]);
    let (code, _, err) = rt.run(&b);
    assert_eq!(code, 128 + 9, "{err}");
}

#[test]
fn read_only_root_refuses_writes() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "touch /x; echo rc=$?; touch /tmp/y 2>&1; echo rc=$?",
    ]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!b.rootfs().join("x").exists());
}

#[test]
fn masked_paths_read_empty() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; echo x > /proc/timer_list; echo rc=$?",
    ]);
    b.config["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/sys/firmware"]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines, ["0", "0", "rc=0"], "stderr: {err}");
    // The host's file is untouched and still has content.
    let host = std::fs::read_to_string("/proc/timer_list").unwrap_or_default();
    assert!(!host.is_empty());
}

#[test]
fn readonly_paths_refuse_writes() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "echo x > /proc/sys/kernel/hostname; echo rc=$?"]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "rc=1", "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
}

#[test]
fn capability_sets_match_the_spec() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "grep ^Cap /proc/self/status"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"]
    });
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    // Bits: CHOWN 0, KILL 5, NET_RAW 13, SYS_ADMIN 21. The process is root
    // with no_new_privs: exec keeps permitted (it cannot grow to the
    // bounding set), makes effective equal to it, and keeps ambient.
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:\t")))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_eq!(
        field("CapBnd"),
        format!("{:016x}", (1u64 << 0) | (1 << 5) | (1 << 13) | (1 << 21))
    );
    assert_eq!(field("CapInh"), format!("{:016x}", 1u64 << 5));
    assert_eq!(field("CapAmb"), format!("{:016x}", 1u64 << 5));
    let perm = format!("{:016x}", (1u64 << 0) | (1 << 5) | (1 << 13));
    assert_eq!(field("CapPrm"), perm);
    assert_eq!(field("CapEff"), perm);
}

#[test]
fn capabilities_of_a_non_root_user() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "id -u; id -g; id -G; grep -E '^Cap(Eff|Prm)' /proc/self/status",
    ]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 7]});
    let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps
    });
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1001");
    assert_eq!(lines[2], "1001 5 7");
    // Only the ambient set carries capabilities of a non-root process
    // across exec of a file without file capabilities.
    let expect = format!("{:016x}", (1u64 << 5) | (1 << 10));
    assert!(
        lines[3].ends_with(&expect) && lines[4].ends_with(&expect),
        "{out}"
    );
}

#[test]
fn memory_limit_oom_kills() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    b.config["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
    let (code, out, err) = rt.run(&b);
    assert!(
        !out.contains("survived"),
        "the allocation survived the limit: {out}"
    );
    // The shell or its pipeline member is killed; the shell reports it, or
    // is itself the victim (SIGKILL: 137).
    assert!(code == 137 || code != 0, "exit {code}, stderr {err}");
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "n=0; for i in $(seq 1 40); do sleep 2 & n=$((n+1)); done; ls /proc | grep -c '^[0-9]'",
    ]);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 10});
    let (_, out, err) = rt.run(&b);
    // The shell gives up at the first failed fork (busybox sh exits 2);
    // if it got as far as counting, the count is within the limit.
    assert!(err.contains("can't fork"), "no fork failed: {err}");
    if let Ok(procs) = out.trim().parse::<u32>() {
        assert!(procs <= 10, "{procs} processes ran under a limit of 10");
    }
}

#[test]
fn seccomp_rule_fails_syscall_with_configured_errno() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "mkdir /tmp/d; echo rc=$?; touch /tmp/f && echo touched",
    ]);
    b.config["root"]["readonly"] = false.into();
    b.config["mounts"].as_array_mut().expect("mounts").push(json!(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
    ));
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]
    });
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rc=1") && out.contains("touched"), "{out}");
    assert!(
        err.contains("not supported"),
        "errno 95 (EOPNOTSUPP) expected: {err}"
    );
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let log = tempfile::tempdir().expect("log dir");
    let logp = log.path().display().to_string();
    let mut b = Bundle::new(&["sh", "-c", "echo process >> /hooklog/log"]);
    b.config["mounts"]
        .as_array_mut()
        .expect("mounts")
        .push(json!(
            {"destination": "/hooklog", "type": "bind", "source": logp, "options": ["rbind", "rw"]}
        ));
    // Each hook appends its name and the status it was given on stdin.
    let hook = |name: &str, dir: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("read s; st=$(echo \"$s\" | sed 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/'); echo {name}:$st >> {dir}/log")]})
    };
    b.config["hooks"] = json!({
        "prestart": [hook("prestart", &logp)],
        "createRuntime": [hook("createRuntime", &logp)],
        "createContainer": [hook("createContainer", &logp)],
        "startContainer": [hook("startContainer", "/hooklog")],
        "poststart": [hook("poststart", &logp)],
        "poststop": [hook("poststop", &logp)]
    });
    let (code, _, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(log.path().join("log")).expect("log");
    let order: Vec<&str> = text.lines().collect();
    // poststart runs once the process is started; it may finish before or
    // after the process itself writes.
    let without_process: Vec<&str> = order.iter().copied().filter(|l| *l != "process").collect();
    assert_eq!(
        without_process,
        [
            "prestart:creating",
            "createRuntime:creating",
            "createContainer:creating",
            "startContainer:running",
            "poststart:running",
            "poststop:stopped"
        ],
        "{text}"
    );
    assert!(order.contains(&"process"));
}

#[test]
fn failing_hook_aborts_create_and_leaves_nothing() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    let (id, out) = rt.create(&b);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("createRuntime hook /bin/false"), "{err}");
    assert!(!rt.root.path().join(&id).exists());
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&id)
    );
}

#[test]
fn create_start_state_kill_delete() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let id = rt.id();
    let pidfile = b.path().join("pid");
    let out = rt.exec(&[
        "create",
        "--bundle",
        &b.path().display().to_string(),
        "--pid-file",
        &pidfile.display().to_string(),
        &id,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().expect("pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pid file"),
        pid.to_string()
    );
    // Until start, the process is still the runtime, not `sleep`.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_ne!(comm.trim(), "sleep");
    assert!(!cgroup_dirs(&id).is_empty());

    let out = rt.exec(&["start", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rt.state(&id)["status"], "running");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "sleep");
    let out = rt.exec(&["start", &id]);
    assert!(!out.status.success(), "a second start must fail");

    let list = rt.exec(&["list", "--format", "json"]);
    // runc's fields in runc's order (its test "list" matches the text).
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.starts_with(&format!(
            r#"[{{"ociVersion":"1.2.0","id":"{id}","pid":{pid},"#
        )),
        "{text}"
    );
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list json");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["rootfs"], b.rootfs().display().to_string());
    assert_eq!(list[0]["owner"], "root");

    let out = rt.exec(&["delete", &id]);
    assert!(
        !out.status.success(),
        "delete of a running container needs --force"
    );
    let out = rt.exec(&["kill", &id, "KILL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..200 {
        if rt.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(rt.state(&id)["status"], "stopped");
    let out = rt.exec(&["delete", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!rt.root.path().join(&id).exists(), "state left behind");
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&id)
    );
    let out = rt.exec(&["state", &id]);
    assert!(!out.status.success());
}

/// `delete --force` of a container that is not there succeeds, as runc's
/// does (an engine's cleanup may run twice); without --force it is an
/// error that names the container.
#[test]
fn delete_force_of_a_missing_container_succeeds() {
    let rt = Runtime::new();
    let out = rt.exec(&["delete", "--force", "no-such-container"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rt.exec(&["delete", "no-such-container"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-container"));
}

#[test]
fn delete_force_of_a_running_container_leaves_nothing() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let id = rt.id();
    let out = rt.exec(&[
        "run",
        "--detach",
        "--bundle",
        &b.path().display().to_string(),
        &id,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let out = rt.exec(&["delete", "--force", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/comm")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
    );
    assert!(!rt.root.path().join(&id).exists());
    assert!(
        cgroup_dirs(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs(&id)
    );
}

#[test]
fn user_namespace_maps_root() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map",
    ]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // The rootfs must be readable by the mapped ids.
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .expect("chown");
    assert!(status.success());
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "0", "100000", "65536", "0", "100000", "65536"],
        "{out}"
    );
}

#[test]
fn uts_and_sysctl_and_rlimits() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn",
    ]);
    b.config["hostname"] = "box".into();
    b.config["domainname"] = "example.test".into();
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768}]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "box\nexample.test\n1\n512\n768\n");
}

#[test]
fn bad_config_names_the_field_and_leaves_nothing() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["process"]["args"] = json!([])),
            "process.args",
        ),
        (
            Box::new(|c| c["mounts"][0]["destination"] = "proc".into()),
            "mounts[0].destination",
        ),
        (
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"})),
            "linux.sysctl",
        ),
        (
            Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "pid"}])),
            "mounts",
        ),
        (Box::new(|c| c["hostname"] = "x".into()), ""),
        (
            Box::new(|c| c["linux"]["resources"]["memory"] = json!({"swappiness": 500})),
            "swappiness",
        ),
        (
            Box::new(|c| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
            }),
            "process.rlimits[0]",
        ),
        (
            Box::new(|c| c["root"]["path"] = "missing".into()),
            "root.path",
        ),
    ];
    for (i, (edit, field)) in cases.into_iter().enumerate() {
        let mut b = Bundle::new(&["true"]);
        edit(&mut b.config);
        let (id, out) = rt.create(&b);
        let err = String::from_utf8_lossy(&out.stderr);
        if i == 4 {
            // A hostname with the default uts namespace is fine.
            assert!(out.status.success(), "{err}");
            let _ = rt.exec(&["delete", "--force", &id]);
            continue;
        }
        assert!(!out.status.success(), "case {i} was accepted");
        assert!(
            err.contains(field),
            "case {i}: error does not name {field:?}: {err}"
        );
        assert!(!rt.root.path().join(&id).exists(), "case {i}: state left");
        assert!(cgroup_dirs(&id).is_empty(), "case {i}: cgroups left");
    }
    // Not JSON at all.
    let b = Bundle::new(&["true"]);
    std::fs::write(b.path().join("config.json"), "{ not json").expect("write");
    let id = rt.id();
    let out = rt.exec(&["create", "--bundle", &b.path().display().to_string(), &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json"));
    assert!(!rt.root.path().join(&id).exists());
}

#[test]
fn duplicate_and_invalid_ids_are_refused() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    b.write();
    let id = rt.id();
    let bundle = b.path().display().to_string();
    assert!(rt
        .exec(&["create", "--bundle", &bundle, &id])
        .status
        .success());
    let out = rt.exec(&["create", "--bundle", &bundle, &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = rt.exec(&["create", "--bundle", &bundle, "../escape"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid container id"));
    assert!(
        rt.exec(&["delete", &id]).status.success(),
        "a created container can be deleted"
    );
}

#[test]
fn joins_a_namespace_by_path() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    // A first container holds a uts namespace with its own hostname.
    let mut first = Bundle::new(&["sleep", "1000"]);
    first.config["hostname"] = "holder".into();
    first.write();
    let holder = rt.id();
    let out = rt.exec(&[
        "create",
        "--bundle",
        &first.path().display().to_string(),
        &holder,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = rt.state(&holder)["pid"].as_i64().expect("pid");
    // A second one joins it by path and sees that hostname.
    let mut b = Bundle::new(&["hostname"]);
    b.config["hostname"] = serde_json::Value::Null;
    let ns = b.config["linux"]["namespaces"].as_array_mut().expect("ns");
    ns.retain(|n| n["type"] != "uts");
    ns.push(json!({"type": "uts", "path": format!("/proc/{pid}/ns/uts")}));
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "holder\n");
    assert!(rt.exec(&["delete", "--force", &holder]).status.success());
}

#[test]
fn time_namespace_offsets_shift_boottime() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["cat", "/proc/uptime"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    let inside: f64 = out
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("uptime");
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .expect("host uptime");
    // Ten days ahead of the host, give or take the time the test took.
    assert!(
        (inside - host - 864000.0).abs() < 60.0,
        "inside {inside}, host {host}"
    );
}

#[test]
fn no_ignored_signal_reaches_the_container() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["grep", "SigIgn", "/proc/self/status"]);
    b.write();
    let id = rt.id();
    // The caller ignores SIGHUP and SIGINT, and Rust ignores SIGPIPE.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' HUP INT; exec {} --root {} run --bundle {} {id}",
            support::BIN,
            rt.root.path().display(),
            b.path().display()
        ))
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SigIgn:\t0000000000000000\n"
    );
}

#[test]
fn bind_mount_options_ro_and_recursive_ro() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let src = tempfile::tempdir().expect("src");
    std::fs::write(src.path().join("f"), "host data").expect("write");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /ro/f; echo; echo x > /ro/f; echo ro=$?; echo x > /rro/f; echo rro=$?; echo y > /rw/g; echo rw=$?",
    ]);
    let mounts = b.config["mounts"].as_array_mut().expect("mounts");
    mounts.push(json!({"destination": "/ro", "type": "bind", "source": src.path(), "options": ["bind", "ro"]}));
    mounts.push(json!({"destination": "/rro", "type": "bind", "source": src.path(), "options": ["rbind", "rro"]}));
    mounts.push(json!({"destination": "/rw", "type": "bind", "source": src.path(), "options": ["rbind", "rw"]}));
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "host data\nro=1\nrro=1\nrw=0\n", "{err}");
    assert_eq!(
        std::fs::read_to_string(src.path().join("f")).expect("f"),
        "host data"
    );
    assert_eq!(
        std::fs::read_to_string(src.path().join("g")).expect("g"),
        "y\n"
    );
}

#[test]
fn hook_timeout_kills_the_hook_and_fails_create() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.config["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    b.write();
    let id = rt.id();
    let started = std::time::Instant::now();
    let out = rt.exec(&["create", "--bundle", &b.path().display().to_string(), &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out after 1s"), "{err}");
    // Not the 30 s the hook asked for (a generous bound, not a benchmark).
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!rt.root.path().join(&id).exists());
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn no_pivot_moves_the_root_instead() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l"]);
    b.write();
    let id = rt.id();
    let bundle = b.path().display().to_string();
    let out = rt.exec(&["run", "--no-pivot", "--bundle", &bundle, &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The container's own root: busybox's tree, not the host's.
    assert!(
        text.lines().any(|l| l == "bin") && !text.lines().any(|l| l == "usr"),
        "{text}"
    );
}

#[test]
fn cgroup_mount_shows_the_containers_own_cgroup() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    // With a cgroup namespace (runc's default spec) and without one (binds
    // of the container's own directories), /sys/fs/cgroup shows its limits.
    for cgroupns in [true, false] {
        let mut b = Bundle::new(&["cat", "/sys/fs/cgroup/pids/pids.max"]);
        b.config["linux"]["resources"]["pids"] = json!({"limit": 77});
        if !cgroupns {
            b.config["linux"]["namespaces"]
                .as_array_mut()
                .expect("ns")
                .retain(|n| n["type"] != "cgroup");
        }
        let (code, out, err) = rt.run(&b);
        assert_eq!(code, 0, "cgroupns={cgroupns}: {err}");
        assert_eq!(out, "77\n", "cgroupns={cgroupns}");
    }
}

/// A read-only tmpfs on /dev (runc's test "ro /dev mount"): mounted
/// writable, filled with the devices, then made read-only.
#[test]
fn read_only_dev_gets_its_devices_first() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "grep '^tmpfs /dev ' /proc/mounts; echo x >/dev/null && echo null-ok; touch /dev/new || echo refused",
    ]);
    let mounts = b.config["mounts"].as_array_mut().expect("mounts");
    let dev = mounts
        .iter_mut()
        .find(|m| m["destination"] == "/dev")
        .expect("/dev mount");
    dev["options"]
        .as_array_mut()
        .expect("options")
        .push("ro".into());
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains(" ro,"), "{out}");
    assert_eq!(&lines[1..], ["null-ok", "refused"], "{out}");
}

/// The init's own error, not the parent's "Broken pipe", when it fails in
/// its first mounts (made while the parent sets up the cgroups): the
/// parent's next message finds it gone, and reads why.
#[test]
fn an_early_mount_failure_reports_the_inits_error() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.config["mounts"].as_array_mut().expect("mounts").insert(
        1,
        serde_json::json!({"destination": "/mnt", "type": "bind",
                "source": "/nonexistent-berth-source", "options": ["bind"]}),
    );
    // The race is timing-dependent: several tries.
    for _ in 0..20 {
        let (code, out, err) = rt.run(&b);
        assert_ne!(code, 0, "{out}");
        assert!(err.contains("/nonexistent-berth-source"), "{err}");
        assert!(!err.contains("Broken pipe"), "{err}");
    }
}

/// A device the spec lists gets only what the spec's device rules allow
/// (runc's test "device cgroup deny"): no blanket `rwm` of the runtime's
/// own, which would undo an engine's `--device /dev/x:/dev/x:r`.
#[test]
fn spec_devices_get_only_what_the_rules_allow() {
    if !privileged() {
        return;
    }
    if !std::path::Path::new("/dev/fuse").exists() {
        eprintln!("skipped: needs /dev/fuse (10:229) on the host");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "true </dev/fuse; echo r=$?; true >/dev/fuse; echo w=$?",
    ]);
    b.config["linux"]["devices"] = serde_json::json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}
    ]);
    b.config["linux"]["resources"]["devices"] = serde_json::json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"}
    ]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["r=0", "w=1"], "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

/// With --no-pivot the host's mounts stay under the moved root, and a full
/// procfs there would let the container mount a fresh, unmasked one (from
/// a new user namespace, with CAP_SETFCAP for its id map): the host's full
/// procfs and sysfs mounts are detached first, as runc does (its test
/// "--no-pivot must not expose bare /proc").
#[test]
fn no_pivot_does_not_expose_a_bare_proc() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "unshare",
        "-mrpf",
        "sh",
        "-euxc",
        "mount -t proc none /proc && echo h > /proc/sysrq-trigger",
    ]);
    for set in ["bounding", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set")
            .push("CAP_SETFCAP".into());
    }
    b.write();
    let id = rt.id();
    let bundle = b.path().display().to_string();
    let out = rt.exec(&["run", "--no-pivot", "--bundle", &bundle, &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("mount: permission denied"), "{err}");
}
