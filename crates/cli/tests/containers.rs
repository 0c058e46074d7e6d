//! `berth run` and the container life cycle, end to end with real
//! containers: exit codes, logs, stop, limits, mounts, volumes, restart
//! policies, concurrency and a supervisor killed with SIGKILL.

mod support;

use std::time::{Duration, Instant};

use support::{assert_stderr_mentions, eventually, privileged, Berth};

#[test]
fn attached_run_gives_output_and_exit_code_and_rm_leaves_nothing() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("attached");
    let o = b.run(&[
        "run",
        "--rm",
        "--name",
        &name,
        b.image(),
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    assert!(!b
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains(&name));
    assert!(!b.f.root.join("names").join(&name).exists());

    // The upper dir of a `--rm` container is thrown away: its overlay is
    // volatile (no sync at unmount); a kept container's is not.
    let kept_name = b.name("kept");
    let root_opts = |rm: bool| {
        let mut args = vec!["run"];
        if rm {
            args.push("--rm");
        } else {
            // Named, so that the fixture removes it.
            args.extend(["--name", kept_name.as_str()]);
        }
        args.extend([b.image(), "sh", "-c", "grep ' / / ' /proc/self/mountinfo"]);
        b.ok(&args)
    };
    let kept = root_opts(false);
    assert!(
        kept.contains("overlay") && !kept.contains("volatile"),
        "{kept}"
    );
    let removed = root_opts(true);
    assert!(removed.contains("volatile"), "{removed}");
}

#[test]
fn docker_exit_codes_for_engine_and_exec_failures() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let o = b.run(&["run", "--rm", b.image(), "/no/such/program"]);
    assert_eq!(
        o.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = b.run(&["run", "--rm", b.image(), "/etc"]);
    assert_eq!(
        o.status.code(),
        Some(126),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = b.run(&["run", "--rm", "--restart", "sometimes", b.image(), "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_stderr_mentions(&o, "restart policy");
    let o = b.run(&["run", "--rm", "no-such-image-here:v9", "true"]);
    assert_eq!(o.status.code(), Some(125));
    let o = b.run(&["run", "--bogus-flag", b.image()]);
    assert_eq!(o.status.code(), Some(125));
}

#[test]
fn process_settings_reach_the_container() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let out = b.ok(&[
        "run", "--rm", "-u", "www", "-w", "/tmp", "-e", "GREETING=hi there", "-h", "myhost",
        "--read-only", b.image(), "sh", "-c",
        "id -u; id -G; pwd; echo $GREETING; hostname; cat /etc/hostname; touch /x 2>/dev/null || echo ro; echo $HOME",
    ]);
    assert_eq!(
        out,
        "33\n33 50\n/tmp\nhi there\nmyhost\nmyhost\nro\n/var/www\n"
    );
}

#[test]
fn soft_limits_cfs_blkio_oom_score_and_domainname() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--oom-score-adj",
        "500",
        "--domainname",
        "example.org",
        b.image(),
        "sh",
        "-c",
        "cd /sys/fs/cgroup; cat memory/memory.soft_limit_in_bytes cpu/cpu.cfs_period_us \
         cpu/cpu.cfs_quota_us /proc/self/oom_score_adj /proc/sys/kernel/domainname",
    ]);
    assert_eq!(out, "33554432\n50000\n25000\n500\nexample.org\n");
    // Without the flag the container gets 0, as under Docker.
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        b.image(),
        "cat",
        "/proc/self/oom_score_adj",
    ]);
    assert_eq!(out, "0\n");
    assert_eq!(
        inspect_created(
            &b,
            &[
                "--cpu-quota",
                "30000",
                "--blkio-weight",
                "300",
                "--oom-score-adj",
                "-5"
            ],
            "{{.HostConfig.CpuQuota}} {{.HostConfig.BlkioWeight}} {{.HostConfig.OomScoreAdj}}"
        ),
        "30000 300 -5"
    );
    for (flags, why) in [
        (
            &["--cpus", "1", "--cpu-quota", "5000"][..],
            "cannot be combined",
        ),
        (
            &["-m", "32m", "--memory-reservation", "64m"][..],
            "must not exceed",
        ),
        (&["--oom-score-adj", "2000"][..], "between -1000 and 1000"),
    ] {
        assert_refused(&b, flags, why);
    }
}

#[test]
fn pid_host_and_another_containers_pid_namespace() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    // The host's: not pid 1, and this test's own process is in view.
    let me = std::process::id().to_string();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pid",
        "host",
        b.image(),
        "sh",
        "-c",
        &format!("echo $$; test -d /proc/{me} && echo sees-host"),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines.first(), Some(&"1"), "{out}");
    assert_eq!(lines.get(1), Some(&"sees-host"), "{out}");
    // Another container's: its init is pid 1 here.
    let peer = b.name("pidpeer");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &peer,
        "--network",
        "none",
        b.image(),
        "sleep",
        "60",
    ]);
    let joined = format!("container:{peer}");
    let out = b.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pid",
        &joined,
        b.image(),
        "cat",
        "/proc/1/cmdline",
    ]);
    let mode = inspect_created(&b, &["--pid", &joined], "{{.HostConfig.PidMode}}");
    b.ok(&["rm", "-f", &peer]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        ["sleep", "60", ""].join("\0")
    );
    assert_eq!(mode, joined);
    assert_refused(
        &b,
        &["--pid", "container:no-such-container"],
        "no-such-container",
    );
    assert_refused(&b, &["--pid", "shared"], "pid mode");
}

#[test]
fn ipc_host_and_none() {
    if !privileged() {
        return;
    }
    /// A file in the host's /dev/shm, removed however the test ends.
    struct Probe(std::path::PathBuf);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let b = Berth::new();
    let probe = Probe(format!("/dev/shm/berth-ipc-test-{}", std::process::id()).into());
    std::fs::write(&probe.0, "from the host\n").expect("write probe");
    let host_ns = std::fs::read_link("/proc/self/ns/ipc").expect("ipc ns");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ipc",
        "host",
        b.image(),
        "sh",
        "-c",
        &format!("readlink /proc/self/ns/ipc; cat {}", probe.0.display()),
    ]);
    assert_eq!(out, format!("{}\nfrom the host\n", host_ns.display()));
    // Its own namespace and /dev/shm by default; no /dev/shm with none.
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        b.image(),
        "sh",
        "-c",
        &format!(
            "readlink /proc/self/ns/ipc; test -e {} || echo not-shared",
            probe.0.display()
        ),
    ]);
    assert!(
        !out.starts_with(&format!("{}\n", host_ns.display())),
        "{out}"
    );
    assert!(out.ends_with("not-shared\n"), "{out}");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ipc",
        "none",
        b.image(),
        "sh",
        "-c",
        "test -e /dev/shm || echo no-shm",
    ]);
    assert_eq!(out, "no-shm\n");
    assert_eq!(
        inspect_created(&b, &["--ipc", "host"], "{{.HostConfig.IpcMode}}"),
        "host"
    );
    assert_refused(&b, &["--ipc", "container:db"], "not supported");
}

#[test]
fn uts_host_shares_the_hosts_names() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--uts",
        "host",
        b.image(),
        "sh",
        "-c",
        "hostname; cat /etc/hostname",
    ]);
    assert_eq!(out, format!("{host}\n{host}\n"));
    assert_eq!(
        inspect_created(&b, &["--uts", "host"], "{{.HostConfig.UTSMode}}"),
        "host"
    );
    assert_refused(&b, &["--uts", "host", "-h", "web"], "UTS namespace");
    assert_refused(&b, &["--uts", "private"], "uts mode");
}

#[test]
fn platform_is_checked_against_the_image() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let host = format!("linux/{arch}");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        &host,
        b.image(),
        "echo",
        "ok",
    ]);
    assert_eq!(out, "ok\n");
    let other = if arch == "s390x" {
        "linux/riscv64"
    } else {
        "linux/s390x"
    };
    assert_refused(&b, &["--platform", other], "not the requested");
    assert_refused(&b, &["--platform", "bogus"], "--platform");
}

#[test]
fn label_files_then_label_flags() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("labels");
    std::fs::write(&file, "# team labels\n\n  tier=web\nowner=ops\n").expect("write");
    let file = file.to_str().expect("utf-8 path");
    assert_eq!(
        inspect_created(
            &b,
            &["--label-file", file, "--label", "owner=dev"],
            "{{json .Config.Labels}}"
        ),
        r#"{"owner":"dev","tier":"web"}"#
    );
    let missing = dir.path().join("none");
    assert_refused(
        &b,
        &["--label-file", missing.to_str().expect("utf-8 path")],
        "label file",
    );
}

#[test]
fn group_add_names_and_gids() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "www",
        "--group-add",
        "4242",
        "--group-add",
        "root",
        b.image(),
        "id",
        "-G",
    ]);
    // The kernel keeps supplementary groups sorted.
    assert_eq!(out, "33 0 50 4242\n");
    assert_eq!(
        inspect_created(
            &b,
            &["--group-add", "4242"],
            "{{json .HostConfig.GroupAdd}}"
        ),
        r#"["4242"]"#
    );
    let o = b.run(&[
        "run",
        "--rm",
        "--group-add",
        "no-such-group",
        b.image(),
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert_stderr_mentions(&o, "no-such-group");
}

#[test]
fn shm_size_and_sysctls_reach_the_container_and_not_the_host() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let host_shmmax = std::fs::read_to_string("/proc/sys/kernel/shmmax").expect("shmmax");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--shm-size",
        "96m",
        "--sysctl",
        "kernel.shmmax=12345678",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        b.image(),
        "sh",
        "-c",
        "df -k /dev/shm | tail -n 1; cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0].split_whitespace().nth(1), Some("98304"), "{out}");
    assert_eq!(&lines[1..], ["12345678", "1"]);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmax").expect("shmmax"),
        host_shmmax
    );
    assert_eq!(
        inspect_created(
            &b,
            &["--sysctl", "kernel.sem=250 32000 32 128"],
            "{{.HostConfig.ShmSize}} {{json .HostConfig.Sysctls}}"
        ),
        r#"67108864 {"kernel.sem":"250 32000 32 128"}"#
    );
    for (flags, why) in [
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..],
            "host's network",
        ),
        (&["--sysctl", "vm.swappiness=1"][..], "not namespaced"),
        (&["--shm-size", "0"][..], "shm size"),
    ] {
        assert_refused(&b, flags, why);
    }
}

#[test]
fn cgroupns_host_and_private_as_docker() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let cgroups = |mode: &str| {
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroupns",
            mode,
            b.image(),
            "cat",
            "/proc/self/cgroup",
        ])
    };
    // Its own namespace: every hierarchy's root is the container's cgroup.
    let out = cgroups("private");
    assert!(
        !out.is_empty() && out.lines().all(|l| l.ends_with(":/")),
        "{out}"
    );
    // The host's: the host's paths, which name the container's cgroup.
    let out = cgroups("host");
    assert!(
        !out.is_empty() && out.lines().all(|l| l.contains("/berth-")),
        "{out}"
    );
    let mode_of = |flags: &[&str]| inspect_created(&b, flags, "{{.HostConfig.CgroupnsMode}}");
    assert_eq!(mode_of(&["--cgroupns", "host"]), "host");
    assert_eq!(mode_of(&["--cgroupns", "private"]), "private");
    // Docker's default: private on a cgroup v2 host, the host's on v1.
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(mode_of(&[]), if v2 { "private" } else { "host" });
    let o = b.run(&["run", "--rm", "--cgroupns", "shared", b.image(), "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_stderr_mentions(&o, "cgroup namespace mode");
}

#[test]
fn detached_run_then_logs_follow_wait_and_ps() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("logs");
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        b.image(),
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo bye >&2",
    ]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64);
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert!(ps.contains(&format!("{name} running")), "ps: {ps}");
    let logs = b.run(&["logs", "-f", &name]);
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        "line1\nline2\nline3\n"
    );
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "bye\n");
    assert_eq!(b.ok(&["wait", &name]), "0\n");
    let ps = b.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Exited (0)"), "ps: {ps}");
    let tail = b.run(&["logs", "--tail", "2", &name]);
    assert_eq!(String::from_utf8_lossy(&tail.stdout), "line3\n");
    assert_eq!(String::from_utf8_lossy(&tail.stderr), "bye\n");
    let state = b.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}} {{.Name}}",
        &name,
    ]);
    assert_eq!(state, format!("exited 0 /{name}\n"));
    b.ok(&["rm", &name]);
    assert!(!b.container_dir(&id).exists());
}

#[test]
fn stop_kills_a_container_that_ignores_sigterm_after_the_timeout() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("stop");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        b.image(),
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    b.ok(&["stop", "-t", "1", &name]);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "stop returned before its timeout"
    );
    let st = b.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &name,
    ]);
    assert_eq!(st, "exited 137\n");
}

#[test]
fn memory_limit_is_enforced() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("oom");
    let o = b.run(&[
        "run",
        "--name",
        &name,
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        b.image(),
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st = b.ok(&["inspect", "--format", "{{.State.OOMKilled}}", &name]);
    assert_eq!(st, "true\n");
    // The same allocation fits without the limit.
    b.ok(&[
        "run",
        "--rm",
        b.image(),
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
}

#[test]
fn bind_mounts_and_named_volumes() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let host = tempfile::tempdir().expect("tmp");
    let v = format!("{}:/data", host.path().display());
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        b.image(),
        "sh",
        "-c",
        "echo from-container > /data/f",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).expect("f"),
        "from-container\n"
    );
    let ro = format!("{}:/data:ro", host.path().display());
    let o = b.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        b.image(),
        "sh",
        "-c",
        "echo x > /data/g",
    ]);
    assert!(!o.status.success());
    assert!(!host.path().join("g").exists());

    let vol = format!("vol-{}", std::process::id());
    let name = b.name("vol");
    b.ok(&[
        "run",
        "--name",
        &name,
        "-v",
        &format!("{vol}:/data"),
        b.image(),
        "sh",
        "-c",
        "echo kept > /data/k",
    ]);
    b.ok(&["rm", "-v", &name]);
    let out = b.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        b.image(),
        "cat",
        "/data/k",
    ]);
    assert_eq!(out, "kept\n");
    assert!(b.ok(&["volume", "ls", "-q"]).lines().any(|l| l == vol));
    b.ok(&["volume", "rm", &vol]);
    assert!(!b.ok(&["volume", "ls", "-q"]).lines().any(|l| l == vol));
}

#[test]
fn volumes_from_shares_volumes_and_rm_v_keeps_shared_ones() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let src = b.name("vfrom");
    // An anonymous volume at /anon, written by the source container.
    b.ok(&[
        "run",
        "--name",
        &src,
        "--network",
        "none",
        "-v",
        "/anon",
        b.image(),
        "sh",
        "-c",
        "echo shared > /anon/f",
    ]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volumes-from",
        &src,
        b.image(),
        "sh",
        "-c",
        "cat /anon/f; echo more >> /anon/f && echo wrote",
    ]);
    assert_eq!(out, "shared\nwrote\n");
    let ro = format!("{src}:ro");
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volumes-from",
        &ro,
        b.image(),
        "sh",
        "-c",
        "cat /anon/f; echo x >> /anon/f",
    ]);
    assert!(!o.status.success(), "a :ro volumes-from must refuse writes");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "shared\nmore\n");
    // A second user, removed with -v: the shared anonymous volume stays.
    let user = b.name("vuser");
    b.ok(&[
        "create",
        "--name",
        &user,
        "--network",
        "none",
        "--volumes-from",
        &src,
        b.image(),
        "true",
    ]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{json .HostConfig.VolumesFrom}}", &user])
            .trim(),
        format!("[{src:?}]")
    );
    let mounts: serde_json::Value =
        serde_json::from_str(&b.ok(&["inspect", "-f", "{{json .Mounts}}", &src])).expect("json");
    let anon = mounts[0]["Name"]
        .as_str()
        .expect("the anonymous volume")
        .to_owned();
    let listed = |b: &Berth| b.ok(&["volume", "ls", "-q"]).lines().any(|l| l == anon);
    b.ok(&["rm", "-v", &user]);
    assert!(
        listed(&b),
        "rm -v of a second user removed the shared volume"
    );
    b.ok(&["rm", "-v", &src]);
    assert!(
        !listed(&b),
        "rm -v of its last user kept the anonymous volume"
    );
    assert_refused(
        &b,
        &["--volumes-from", "no-such-container"],
        "no-such-container",
    );
}

#[test]
fn restart_on_failure_counts_and_gives_up() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("restart");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--restart",
        "on-failure:2",
        b.image(),
        "sh",
        "-c",
        "echo run; exit 4",
    ]);
    assert_eq!(b.ok(&["wait", &name]).trim(), "4");
    eventually(20, || {
        let st = b.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            &name,
        ]);
        (st == "exited 2\n")
            .then_some(())
            .ok_or(format!("still {st}"))
    });
    assert_eq!(b.ok(&["logs", &name]), "run\nrun\nrun\n");
}

#[test]
fn a_killed_supervisor_leaves_a_container_ps_reports_truthfully() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("orphan");
    let id = b.ok(&["run", "-d", "--name", &name, b.image(), "sleep", "1000"]);
    let id = id.trim();
    let sup = b.state_json(id)["supervisor_pid"].as_i64().expect("pid") as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(sup).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill supervisor");
    std::thread::sleep(Duration::from_millis(100));
    let st = b.ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.State}}",
    ]);
    assert_eq!(st, "running\n", "the container outlives its supervisor");
    b.ok(&["kill", &name]);
    eventually(10, || {
        let st = b.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.State}}",
        ]);
        (st == "exited\n")
            .then_some(())
            .ok_or(format!("still {st}"))
    });
    b.ok(&["rm", &name]);
}

#[test]
fn fifty_parallel_runs_all_succeed_and_leave_no_trace() {
    if !privileged() {
        return;
    }
    let b = std::sync::Arc::new(Berth::new());
    let label = format!("par-{}", std::process::id());
    let cids = tempfile::tempdir().expect("tmp");
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let b = b.clone();
            let label = label.clone();
            let cid = cids.path().join(i.to_string());
            std::thread::spawn(move || {
                b.run(&[
                    "run",
                    "--rm",
                    "--cidfile",
                    &cid.to_string_lossy(),
                    "--label",
                    &format!("t={label}"),
                    b.image(),
                    "sh",
                    "-c",
                    &format!("echo {i}"),
                ])
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let o = t.join().expect("thread");
        assert!(
            o.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{i}\n"));
    }
    let left = b.ok(&["ps", "-a", "-q", "--filter", &format!("label=t={label}")]);
    assert_eq!(left, "");
    let rt = b.f.run_root.join("runtime");
    let leftover: Vec<_> = std::fs::read_dir(&rt)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    // Runtime state is made after a container's directory and removed
    // before it: state without a directory is a leak.
    let orphans: Vec<_> = leftover
        .iter()
        .filter(|n| !n.to_string_lossy().starts_with('#'))
        .filter(|n| !b.f.root.join("containers").join(n).exists())
        .collect();
    assert!(orphans.is_empty(), "runtime state left: {orphans:?}");
    // Their cgroups (other berth users on the machine have their own).
    let ids: Vec<String> = (0..50)
        .map(|i| std::fs::read_to_string(cids.path().join(i.to_string())).expect("cidfile"))
        .collect();
    assert!(ids.iter().all(|id| id.len() == 64));
    let leaked: Vec<_> = ids
        .iter()
        .filter(|id| std::path::Path::new(&format!("/sys/fs/cgroup/pids/berth-{id}")).exists())
        .collect();
    assert!(leaked.is_empty(), "cgroups left: {leaked:?}");
}

#[test]
fn seccomp_default_unconfined_and_a_profile_file() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let status = "grep Seccomp: /proc/self/status";
    let out = b.ok(&["run", "--rm", b.image(), "sh", "-c", status]);
    assert_eq!(out, "Seccomp:\t2\n", "Docker's default profile is on");
    let out = b.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        b.image(),
        "sh",
        "-c",
        status,
    ]);
    assert_eq!(out, "Seccomp:\t0\n");
    let out = b.ok(&["run", "--rm", "--privileged", b.image(), "sh", "-c", status]);
    assert_eq!(out, "Seccomp:\t0\n");
    // A Docker-format profile that refuses mkdir.
    let dir = tempfile::tempdir().expect("tmp");
    let profile = dir.path().join("p.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .expect("profile");
    let opt = format!("seccomp={}", profile.display());
    let out = b.ok(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        b.image(),
        "sh",
        "-c",
        "mkdir /tmp/d 2>&1 || echo refused; echo ok > /tmp/f && cat /tmp/f",
    ]);
    assert!(
        out.contains("Permission denied") && out.contains("refused") && out.ends_with("ok\n"),
        "{out}"
    );
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOPE"}]}"#)
        .expect("profile");
    let o = b.run(&["run", "--rm", "--security-opt", &opt, b.image(), "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_stderr_mentions(&o, "seccomp");
}

#[test]
fn flags_after_the_image_belong_to_the_command() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    // `-c` is also --cpu-shares: after the image it is the command's.
    let o = b.run(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        b.image(),
        "-c",
        "echo from-sh; exit 3",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-sh\n");
    let out = b.ok(&[
        "run",
        "--rm",
        "-e",
        "X=1",
        b.image(),
        "sh",
        "-c",
        "echo $X",
        "-m",
        "x",
    ]);
    assert_eq!(out, "1\n");
}

#[test]
fn init_runs_as_pid_one_and_passes_signals_on() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let out = b.ok(&["run", "--rm", "--init", b.image(), "ps"]);
    let pid1 = out.lines().nth(1).unwrap_or_default();
    assert!(pid1.contains("/sbin/docker-init -- ps"), "{out}");
    // sleep as pid 1 ignores SIGTERM and dies by SIGKILL (137); behind
    // the init it gets SIGTERM and ends with it (143).
    let name = b.name("with-init");
    b.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        b.image(),
        "sleep",
        "1000",
    ]);
    b.ok(&["stop", "-t", "20", &name]);
    let code = b.ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(code.trim(), "143");
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["inspect", &name])).expect("inspect json");
    assert_eq!(v[0]["HostConfig"]["Init"], true);
}

/// What a reboot does to a running container: its supervisor and its
/// processes are gone at once, nobody records an exit.
fn crash(b: &Berth, id: &str) {
    let st = b.state_json(id);
    for key in ["supervisor_pid", "pid"] {
        let pid = st[key].as_i64().expect("pid") as i32;
        // SAFETY: kill(2) of a process this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let end = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.contains(") Z "))
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn start_all_brings_back_what_the_restart_policy_says_after_a_reboot() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let label = format!("boot={}", std::process::id());
    let names: Vec<String> = ["always", "unless-stopped", "stopped-by-user", "no"]
        .iter()
        .map(|n| b.name(&format!("boot-{n}")))
        .collect();
    let policies = ["always", "unless-stopped", "unless-stopped", "no"];
    let mut ids = Vec::new();
    for (n, p) in names.iter().zip(policies) {
        let id = b.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--restart",
            p,
            "-l",
            &label,
            b.image(),
            "sleep",
            "1000",
        ]);
        ids.push(id.trim().to_owned());
    }
    b.ok(&["stop", "-t", "1", &names[2]]);
    for (i, id) in ids.iter().enumerate() {
        if i != 2 {
            crash(&b, id);
        }
    }
    let status = |n: &str| {
        b.ok(&["inspect", "--format", "{{.State.Status}}", n])
            .trim()
            .to_owned()
    };
    for n in &names {
        assert_eq!(status(n), "exited", "{n} after the crash");
    }
    // What contrib/systemd/berth-restart.service runs at boot.
    b.ok(&[
        "start",
        "--all",
        "--filter",
        "restart-policy=always",
        "--filter",
        "restart-policy=unless-stopped",
        "--filter",
        &format!("label={label}"),
    ]);
    assert_eq!(status(&names[0]), "running");
    assert_eq!(status(&names[1]), "running");
    assert_eq!(status(&names[2]), "exited", "a user stopped it");
    assert_eq!(status(&names[3]), "exited", "restart policy no");
}

#[test]
fn the_supervisor_runs_from_a_read_only_copy_of_berth() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("ro-exe");
    let id = b.ok(&["run", "-d", "--name", &name, b.image(), "sleep", "1000"]);
    let sup = b.state_json(id.trim())["supervisor_pid"]
        .as_i64()
        .expect("supervisor pid");
    // CVE-2019-5736: nothing that reaches the binary a container's parent
    // runs from may write to it.
    let exe = format!("/proc/{sup}/exe");
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&exe)
        .expect_err("the supervisor's binary opened for writing");
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)),
        "{err}"
    );
    let fd = rustix::fs::open(
        exe.as_str(),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open exe");
    let st = rustix::fs::fstatvfs(&fd).expect("statvfs");
    assert!(st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
}

#[test]
fn rm_force_removes_a_container_whose_record_is_unreadable_and_frees_its_name() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("torn");
    let id = b.ok(&["create", "--name", &name, b.image(), "true"]);
    let id = id.trim();
    let record = b.f.root.join("containers").join(id).join("container.json");
    std::fs::write(&record, b"").expect("truncating the record");
    // The name stays taken, and a plain `rm` says why and what to do.
    let o = b.run(&["run", "--name", &name, b.image(), "true"]);
    assert_eq!(o.status.code(), Some(125));
    let o = b.run(&["rm", id]);
    assert!(!o.status.success());
    assert_stderr_mentions(&o, "rm -f");
    b.ok(&["rm", "-f", id]);
    assert!(!b.f.root.join("containers").join(id).exists());
    b.ok(&["run", "--rm", "--name", &name, b.image(), "true"]);
}

/// A pseudo-terminal for the CLI: (master, slave).
fn open_pty(rows: u16, cols: u16) -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on a descriptor this function owns; the
    // name buffer is large enough for ptsname_r and NUL-terminated by it.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(s >= 0, "opening the pty slave");
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(libc::ioctl(s, libc::TIOCSWINSZ, &ws), 0);
        (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s))
    }
}

/// Reads the terminal until `want` shows up (or the time is up).
fn read_until(master: &std::fs::File, seen: &mut String, want: &str) -> bool {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains(want) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        let mut fds = [libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(master),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd, for 100 ms.
        if unsafe { libc::poll(fds.as_mut_ptr(), 1, 100) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        match (&*master).read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    true
}

#[test]
fn run_it_gives_a_terminal_of_the_callers_size_and_ctrl_p_ctrl_q_detaches() {
    if !privileged() {
        return;
    }
    use std::io::Write;
    let b = Berth::new();
    let name = b.name("tty");
    let (master, slave) = open_pty(33, 101);
    let mut cmd = b.cmd();
    cmd.args(["run", "-it", "--name", &name, b.image(), "sh"])
        .stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave.try_clone().expect("dup"));
    // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe; fd 0 is
    // the pty slave by then.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("berth run -it");
    drop(slave);
    let mut seen = String::new();
    (&master)
        .write_all(b"stty size; echo mark-$((6*7))\r")
        .expect("typing");
    assert!(
        read_until(&master, &mut seen, "mark-42"),
        "no answer from the container's shell: {seen:?}"
    );
    assert!(seen.contains("33 101"), "window size: {seen:?}");
    // Ctrl-P Ctrl-Q: the CLI returns 0, the container runs on.
    (&master).write_all(&[0x10, 0x11]).expect("detach keys");
    let st = child.wait().expect("wait");
    assert_eq!(st.code(), Some(0));
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains(&format!("{name} Up")), "{ps}");
    let logs = b.ok(&["logs", &name]);
    assert!(logs.contains("mark-42"), "{logs}");
    b.ok(&["rm", "-f", &name]);
}

#[test]
fn an_exit_is_recorded_even_when_the_shim_is_gone_by_then() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("shimless");
    // A copy of the shim that is removed while the container runs (an
    // upgrade, say): the running shim is unaffected, and the exit is
    // recorded without it.
    let dir = tempfile::tempdir().expect("tmp");
    let shim = dir.path().join("berth-shim");
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_berth")).with_file_name("berth-shim");
    std::fs::copy(&built, &shim).expect("copying the shim");
    let o = b
        .cmd()
        .env("BERTH_SHIM", &shim)
        .args([
            "run",
            "-d",
            "--name",
            &name,
            b.image(),
            "sh",
            "-c",
            "sleep 1; exit 3",
        ])
        .output()
        .expect("run -d");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(&shim).expect("removing the shim");
    assert_eq!(b.ok(&["wait", &name]).trim(), "3");
    let st = b.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &name,
    ]);
    assert_eq!(st.trim(), "exited 3");
    // Starting it again needs the shim, and says so.
    let o = b
        .cmd()
        .env("BERTH_SHIM", &shim)
        .args(["start", &name])
        .output()
        .expect("start");
    assert!(!o.status.success());
    assert_stderr_mentions(&o, "berth-shim");
}

#[test]
fn an_attached_caller_killed_before_the_exit_leaves_it_to_the_shim() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    // The attached caller takes the exit when it is there (the first
    // test); killed first, the shim's offer goes unanswered and the exit
    // is recorded by its hand-over: the code, and --rm's removal.
    let kept = b.name("orphan-kept");
    let removed = b.name("orphan-rm");
    let mut callers = Vec::new();
    for (name, rm) in [(&kept, false), (&removed, true)] {
        let mut args = vec!["run", "--name", name.as_str()];
        if rm {
            args.push("--rm");
        }
        args.extend([b.image(), "sh", "-c", "sleep 1; exit 4"]);
        let child = b
            .cmd()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("berth run");
        callers.push((name.clone(), child));
    }
    let listed = |all: bool, name: &str| {
        let args: &[&str] = if all {
            &["ps", "-a", "--format", "{{.Names}}"]
        } else {
            &["ps", "--format", "{{.Names}}"]
        };
        b.ok(args).lines().any(|l| l == name)
    };
    for (name, child) in &mut callers {
        eventually(20, || {
            listed(false, name)
                .then_some(())
                .ok_or(format!("{name} never ran"))
        });
        child.kill().expect("killing the attached berth");
        child.wait().expect("reaping it");
    }
    assert_eq!(b.ok(&["wait", &kept]).trim(), "4");
    let st = b.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &kept,
    ]);
    assert_eq!(st.trim(), "exited 4");
    eventually(20, || {
        (!listed(true, &removed))
            .then_some(())
            .ok_or("--rm container never removed".to_owned())
    });
    assert!(!b.f.root.join("names").join(&removed).exists());
}

/// Creates a container (no network) with `flags`, prints `format` of its
/// `inspect` (trimmed) and removes it.
fn inspect_created(b: &Berth, flags: &[&str], format: &str) -> String {
    let mut create = vec!["create", "--network", "none"];
    create.extend_from_slice(flags);
    create.extend_from_slice(&[b.image(), "true"]);
    let id = b.ok(&create).trim().to_owned();
    let shown = b.ok(&["inspect", "-f", format, &id]);
    b.ok(&["rm", &id]);
    shown.trim().to_owned()
}

/// `run --rm FLAGS IMAGE true` is refused with 125, naming `why`.
fn assert_refused(b: &Berth, flags: &[&str], why: &str) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[b.image(), "true"]);
    let o = b.run(&args);
    assert_eq!(o.status.code(), Some(125), "{flags:?}");
    assert_stderr_mentions(&o, why);
}
