//! Privileged tests on this host's real cgroupfs (v1 or hybrid). Each creates its own
//! `berth-test-<random>` cgroup, removes it even when failing (a Drop guard), and prints
//! "skipped: ..." and returns when it cannot run (not root, no writable cgroupfs, pure v2).
//! With `BERTH_REQUIRE_PRIVILEGED=1` (CI as root) a skip is a failure instead.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_cgroups::{detect, Cgroup, Layout};
use oci_spec::runtime::LinuxResources;

const ROOT: &str = "/sys/fs/cgroup";

fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth-test-{tag}-{}-{nanos:x}", std::process::id())
}

/// The cgroup and the processes we started; both cleaned up on drop.
struct Guard {
    cg: Cgroup,
    children: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill(); // our own child, by pid
            let _ = c.wait();
        }
        if let Err(e) = self.cg.destroy() {
            eprintln!("cleanup of {:?} failed: {e}", self.cg.paths());
        }
    }
}

fn skip(why: &str) -> Option<Guard> {
    if std::env::var_os("BERTH_REQUIRE_PRIVILEGED").is_some() {
        panic!("BERTH_REQUIRE_PRIVILEGED is set but the test cannot run: {why}");
    }
    println!("skipped: {why}");
    None
}

/// A fresh cgroup under a relative `berth-test-*` name, or `None` (with a printed reason).
fn setup(tag: &str) -> Option<Guard> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return skip("needs root");
    }
    match detect(Path::new(ROOT)) {
        Ok(Layout::Legacy | Layout::Hybrid) => {}
        Ok(Layout::Unified) => {
            return skip("host is pure cgroup v2 (covered by the VM test)");
        }
        Err(e) => {
            return skip(&format!("no cgroupfs: {e}"));
        }
    }
    let name = unique(tag);
    let cg = Cgroup::new(Path::new(ROOT), Some(Path::new(&name)), "unused").expect("resolve");
    let guard = Guard {
        cg,
        children: Vec::new(),
    };
    if let Err(e) = guard.cg.create() {
        return skip(&format!("cgroupfs not writable: {e}"));
    }
    Some(guard)
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources")
}

fn dir(g: &Guard, h: &str) -> std::path::PathBuf {
    g.cg.paths()
        .into_iter()
        .find(|(n, _)| n == h)
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no {h} hierarchy"))
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep")
}

#[test]
fn limits_membership_stats_and_destroy() {
    let Some(mut g) = setup("limits") else { return };
    g.cg.set(&res(
        r#"{"memory":{"limit":67108864,"swap":67108864,"reservation":33554432},
            "pids":{"limit":16},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
    ))
    .expect("set");
    let mem = dir(&g, "memory");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "67108864");
    assert_eq!(read(dir(&g, "pids").join("pids.max")), "16");
    assert_eq!(read(dir(&g, "cpu").join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(dir(&g, "cpuset").join("cpuset.cpus")), "0");
    assert_eq!(read(dir(&g, "devices").join("devices.list")), "c 1:3 rwm");

    let child = sleeper();
    let pid = i32::try_from(child.id()).expect("pid");
    g.children.push(child);
    g.cg.add_task(pid).expect("add_task");

    let own = read(format!("/proc/{pid}/cgroup"));
    for line in own.lines() {
        assert!(
            line.contains("berth-test-limits"),
            "pid {pid} not moved: {line}"
        );
    }
    // Relative path: under our own memory cgroup, whatever it is.
    let self_mem = read("/proc/self/cgroup")
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .expect("own memory cgroup");
    let child_mem = own
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .expect("child memory cgroup");
    assert!(
        child_mem.starts_with(self_mem.trim_end_matches('/')),
        "{child_mem} under {self_mem}"
    );

    assert!(g.cg.pids().expect("pids").contains(&pid));
    let st = g.cg.stats().expect("stats");
    println!("stats: {st:?}");
    assert_eq!(st.memory_limit, Some(67_108_864));
    assert_eq!(st.pids_limit, Some(16));
    assert!(st.pids_current >= 1);
    // Pages the child touched before the move stay charged to its old cgroup (v1 does not
    // move charges), so usage may legitimately be 0 here; the counter must still be readable.
    assert!(st.memory_max_usage.is_some());

    // Reopen from state, as `berth-runtime kill/delete` would.
    let again = Cgroup::from_state(Path::new(ROOT), &g.cg.to_state()).expect("from_state");
    assert_eq!(again, g.cg);

    for mut c in g.children.drain(..) {
        c.kill().expect("kill our child");
        c.wait().expect("reap");
    }
    let paths = g.cg.paths();
    g.cg.destroy().expect("destroy");
    for (h, p) in paths {
        assert!(!p.exists(), "{h}: {} still exists", p.display());
    }
}

#[test]
fn freeze_and_thaw_a_sleeping_child() {
    let Some(mut g) = setup("freeze") else { return };
    let child = sleeper();
    let pid = i32::try_from(child.id()).expect("pid");
    g.children.push(child);
    g.cg.add_task(pid).expect("add_task");
    let state = dir(&g, "freezer").join("freezer.state");

    g.cg.freeze().expect("freeze");
    assert_eq!(read(&state), "FROZEN");
    let status = read(format!("/proc/{pid}/status"));
    let st = status
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap_or("");
    println!("frozen child {st}");
    assert!(!st.contains("R (running)"), "{st}");

    g.cg.thaw().expect("thaw");
    assert_eq!(read(&state), "THAWED");
    // Right after thawing the task may be briefly runnable before it sleeps again.
    let mut st = String::new();
    for _ in 0..200 {
        st = read(format!("/proc/{pid}/status"));
        if st.lines().any(|l| l.starts_with("State:\tS")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("child did not go back to sleep after thaw: {st}");
}

#[test]
fn destroy_is_idempotent_and_validation_names_fields() {
    let Some(g) = setup("idem") else { return };
    let e =
        g.cg.set(&res(r#"{"memory":{"swappiness":500}}"#))
            .expect_err("invalid swappiness");
    assert!(e.to_string().contains("memory.swappiness"), "{e}");
    g.cg.destroy().expect("destroy");
    g.cg.destroy().expect("destroy twice");
}
