//! pause/resume, update, events and ps on running busybox containers,
//! checked against the cgroup files and /proc on the host.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use support::{cgroup_dirs, privileged, Bundle, Runtime};

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The container's directory (named by its id) that holds `file`.
fn cgroup_file(id: &str, file: &str) -> PathBuf {
    cgroup_dirs(id)
        .into_iter()
        .map(|d| d.join(file))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no cgroup of {id} has {file}"))
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The state letter of /proc/PID/stat (a frozen task reports `D`).
fn proc_state(pid: i32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    s[s.rfind(')').expect("comm") + 2..]
        .chars()
        .next()
        .expect("state")
}

#[test]
fn pause_freezes_and_resume_thaws() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let pid = rt.pid(&id);
    ok(rt.exec(&["pause", &id]));
    assert_eq!(rt.state(&id)["status"], "paused");
    let freezer = cgroup_dirs(&id)
        .into_iter()
        .map(|d| d.join("freezer.state"))
        .find(|p| p.exists());
    match freezer {
        Some(f) => assert_eq!(read(&f), "FROZEN"),
        None => assert_eq!(read(&cgroup_file(&id, "cgroup.freeze")), "1"),
    }
    assert_eq!(
        proc_state(pid),
        'D',
        "a frozen task sleeps in the refrigerator"
    );
    let list = ok(rt.exec(&["list", "--format", "json"]));
    assert!(list.contains("\"paused\""), "{list}");
    // Pausing twice, or resuming a running container, is refused.
    assert!(!rt.exec(&["pause", &id]).status.success());
    ok(rt.exec(&["resume", &id]));
    assert_eq!(rt.state(&id)["status"], "running");
    assert_ne!(proc_state(pid), 'D');
    let out = rt.exec(&["resume", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("paused"));
}

#[test]
fn delete_force_of_a_paused_container_leaves_nothing() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let pid = rt.pid(&id);
    ok(rt.exec(&["pause", &id]));
    ok(rt.exec(&["delete", "--force", &id]));
    // Gone, or a zombie its reaper has not collected yet.
    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert_eq!(proc_state(pid), 'Z', "init survived");
    }
    assert!(cgroup_dirs(&id).is_empty(), "{:?}", cgroup_dirs(&id));
}

#[test]
fn update_writes_the_new_limits() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    ok(rt.exec(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "33",
        "--cpu-share",
        "512",
        &id,
    ]));
    assert_eq!(read(&cgroup_file(&id, "pids.max")), "33");
    assert_eq!(
        read(&cgroup_file(&id, "memory.limit_in_bytes")),
        (64u64 << 20).to_string()
    );
    assert_eq!(read(&cgroup_file(&id, "cpu.shares")), "512");
    // -r: the runtime spec's resources JSON.
    let r = rt.root.path().join("resources.json");
    std::fs::write(&r, r#"{"pids": {"limit": 44}}"#).expect("write");
    ok(rt.exec(&["update", "-r", &r.display().to_string(), &id]));
    assert_eq!(read(&cgroup_file(&id, "pids.max")), "44");
    assert_eq!(read(&cgroup_file(&id, "cpu.shares")), "512", "untouched");
    // A bad value changes nothing.
    let out = rt.exec(&["update", "--memory", "lots", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--memory"));
    assert_eq!(read(&cgroup_file(&id, "pids.max")), "44");
}

#[test]
fn events_stats_reports_memory_and_pids() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.config["linux"]["resources"]["pids"] = serde_json::json!({"limit": 50});
    let id = rt.run_detached(&b);
    ok(rt.exec(&["exec", "--detach", &id, "sleep", "1001"]));
    let out = ok(rt.exec(&["events", "--stats", &id]));
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let d = &v["data"];
    assert_eq!(d["pids"]["current"], 2, "{v}");
    assert_eq!(d["pids"]["limit"], 50, "{v}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().expect("usage") > 0,
        "{v}"
    );
    assert!(d["cpu"]["usage"]["total"].as_u64().expect("cpu") > 0, "{v}");
}

#[test]
fn events_streams_until_the_container_is_gone() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    let mut child = rt
        .cmd()
        .args(["events", "--interval", "50ms", &id])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn events");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for _ in 0..2 {
        let line = lines.next().expect("a stats line").expect("read");
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["type"], "stats");
    }
    ok(rt.exec(&["delete", "--force", &id]));
    for line in lines {
        line.expect("read");
    }
    let status = child.wait().expect("wait events");
    assert!(status.success(), "{status}");
}

#[test]
fn ps_lists_the_containers_processes() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    ok(rt.exec(&["exec", "--detach", &id, "sleep", "1001"]));
    let pids: Vec<i32> =
        serde_json::from_str(&ok(rt.exec(&["ps", "--format", "json", &id]))).expect("json");
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.contains(&rt.pid(&id)));
    let table = ok(rt.exec(&["ps", &id]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("PID"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    assert!(table.contains("sleep 1001"), "{table}");
    let table = ok(rt.exec(&["ps", &id, "-o", "pid,args"]));
    assert_eq!(table.lines().count(), 3, "{table}");
}

/// Once the container has stopped (before `delete`), `ps` lists what is
/// left in its cgroup (nothing here) and `kill --all ID 0` succeeds, as
/// runc's do (found by runc's tests "ps after the container stopped" and
/// "kill detached busybox"); signal 0 reaches a running container too.
#[test]
fn ps_and_kill_all_after_the_container_stopped() {
    if !privileged() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = rt.run_detached(&b);
    ok(rt.exec(&["kill", &id, "0"]));
    assert_eq!(rt.state(&id)["status"], "running");
    ok(rt.exec(&["kill", &id, "KILL"]));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rt.state(&id)["status"] != "stopped" {
        assert!(std::time::Instant::now() < end, "still {}", rt.state(&id));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(ok(rt.exec(&["ps", "--format", "json", &id])).trim(), "[]");
    ok(rt.exec(&["kill", "--all", &id, "0"]));
    // Without --all there is no init left to signal.
    assert!(!rt.exec(&["kill", &id, "0"]).status.success());
    ok(rt.exec(&["delete", &id]));
}

/// A cgroup someone froze before `create`: the init would freeze as it
/// joins and `run` would hang; it is refused instead, and left as it was
/// (found by runc's own test "run/create should refuse pre-existing frozen
/// cgroup").
#[test]
fn a_pre_frozen_cgroup_is_refused_not_waited_for() {
    if !privileged() {
        return;
    }
    let name = format!("berth-test-frozen-{}", std::process::id());
    let (dir, file, frozen, thawed) = if std::path::Path::new("/sys/fs/cgroup/freezer").is_dir() {
        (
            PathBuf::from("/sys/fs/cgroup/freezer").join(&name),
            "freezer.state",
            "FROZEN",
            "THAWED",
        )
    } else {
        (
            PathBuf::from("/sys/fs/cgroup").join(&name),
            "cgroup.freeze",
            "1",
            "0",
        )
    };
    std::fs::create_dir(&dir).expect("mkdir cgroup");
    // Thawed and removed whatever happens below.
    struct Cleanup(PathBuf, &'static str, &'static str);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::write(self.0.join(self.1), self.2);
            std::thread::sleep(std::time::Duration::from_millis(100));
            let _ = std::fs::remove_dir(&self.0);
            // A runtime that went ahead made the same name elsewhere.
            if let Some(name) = self.0.file_name() {
                for h in std::fs::read_dir("/sys/fs/cgroup")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let _ = std::fs::remove_dir(h.path().join(name));
                }
            }
        }
    }
    let _cleanup = Cleanup(dir.clone(), file, thawed);
    std::fs::write(dir.join(file), frozen).expect("freeze");

    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.config["linux"]["cgroupsPath"] = format!("/{name}").into();
    b.write();
    let id = rt.id();
    let out = tempfile::tempfile().expect("out");
    let mut child = rt
        .cmd()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(out.try_clone().expect("dup"))
        .spawn()
        .expect("spawn run");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > end {
            // Thawing lets the stuck init go on, and the run finish.
            let _ = std::fs::write(dir.join(file), thawed);
            let _ = child.kill();
            let _ = child.wait();
            panic!("run into a frozen cgroup hung for 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let err = {
        use std::io::{Read, Seek};
        let mut out = out;
        let mut s = String::new();
        out.seek(std::io::SeekFrom::Start(0)).expect("seek");
        out.read_to_string(&mut s).expect("read");
        s
    };
    assert!(!status.success());
    assert!(err.contains("cgroup unexpectedly frozen"), "{err}");
    // Not ours: still there, still frozen.
    assert_eq!(read(&dir.join(file)), frozen);
}

/// Under a parent with a CPU limit (a pod's), a shorter period with a
/// smaller quota: the kernel refuses the period first (old quota / new
/// period would exceed the parent), so it is written again after the quota,
/// as runc does (its test "update cpu period in a pod cgroup with pod limit
/// set"). v1 only.
#[test]
fn update_shorter_period_under_a_limited_parent() {
    if !privileged() {
        return;
    }
    let cpu = PathBuf::from("/sys/fs/cgroup/cpu");
    if !cpu.join("cpu.cfs_quota_us").exists() {
        eprintln!("skipped: needs the v1 cpu controller at /sys/fs/cgroup/cpu");
        return;
    }
    let pod = format!("berth-test-pod-{}", std::process::id());
    // Removed (with whatever the runtime left in it) whatever happens below.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for h in std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
            {
                let dir = h.path().join(&self.0);
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for e in entries.flatten().filter(|e| e.path().is_dir()) {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
    let _cleanup = Cleanup(pod.clone());
    std::fs::create_dir(cpu.join(&pod)).expect("mkdir pod");
    std::fs::write(cpu.join(&pod).join("cpu.cfs_quota_us"), "50000").expect("pod limit");

    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.config["linux"]["cgroupsPath"] = format!("/{pod}/ctr").into();
    let id = rt.run_detached(&b);
    let dir = cpu.join(&pod).join("ctr");
    // Above the pod's 50%: refused; 40% is fine.
    assert!(!rt
        .exec(&["update", "--cpu-quota", "60000", &id])
        .status
        .success());
    ok(rt.exec(&["update", "--cpu-quota", "40000", &id]));
    // 30% with a tenth of the period: the new period under the old quota
    // alone (40000 / 10000) would be 400%.
    ok(rt.exec(&[
        "update",
        "--cpu-period",
        "10000",
        "--cpu-quota",
        "3000",
        &id,
    ]));
    assert_eq!(read(&dir.join("cpu.cfs_period_us")), "10000");
    assert_eq!(read(&dir.join("cpu.cfs_quota_us")), "3000");
    ok(rt.exec(&["delete", "--force", &id]));
}
