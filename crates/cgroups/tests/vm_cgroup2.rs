//! cgroup v2 for real, in a VM. One binary, several roles:
//! - on the host (default): boots `scripts/vm-cgroup2.sh` with this binary inside and checks the
//!   markers the guest prints; prints "skipped: ..." if qemu or the kernel is unavailable;
//! - in the guest (`BERTH_VM_GUEST=1`): exercises [`Cgroup`] on pure v2 and prints one
//!   `@@CHECK <name> ok|FAIL ...@@` line per check;
//!   (`BERTH_SKIP_VM=1` skips on purpose; `BERTH_REQUIRE_VM=1` turns any skip into a failure);
//! - helpers the guest starts inside a cgroup (`BERTH_VM_ROLE=alloc|forker`).

use std::fs;
use std::io::{BufRead, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Instant;

use berth_cgroups::{detect, Cgroup, Layout};

const CHECKS: &[&str] = &[
    "layout",
    "memory-oom",
    "pids-eagain",
    "freeze",
    "devices-ebpf",
    "clone-into-fd",
    "destroy",
];

fn main() -> ExitCode {
    match std::env::var("BERTH_VM_ROLE").as_deref() {
        Ok("alloc") => return role_alloc(),
        Ok("forker") => return role_forker(),
        _ => {}
    }
    if std::env::var_os("BERTH_VM_GUEST").is_some() {
        return guest();
    }
    host()
}

// ---- host side -----------------------------------------------------------------------------

fn host() -> ExitCode {
    if std::env::var_os("BERTH_SKIP_VM").is_some() && std::env::var_os("BERTH_REQUIRE_VM").is_none()
    {
        println!("vm_cgroup2: skipped: BERTH_SKIP_VM is set");
        return ExitCode::SUCCESS;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vm-cgroup2.sh");
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("vm_cgroup2: cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .arg("--add")
        .arg(format!("{}:/berth/vm_cgroup2", exe.display()))
        .args(["--env", "BERTH_VM_GUEST=1", "--", "/berth/vm_cgroup2"])
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vm_cgroup2: cannot run {}: {e}", script.display());
            return ExitCode::FAILURE;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        println!("vm_cgroup2: skipped: {}", stderr.trim());
        if std::env::var_os("BERTH_REQUIRE_VM").is_some() {
            println!("vm_cgroup2: FAILED: BERTH_REQUIRE_VM is set, so skipping is an error");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    println!("{stdout}");
    eprintln!("{stderr}");
    println!(
        "vm_cgroup2: script + VM took {:.1}s",
        start.elapsed().as_secs_f64()
    );
    let mut ok = out.status.success();
    if !ok {
        println!(
            "vm_cgroup2: FAILED: the guest exited with {:?}",
            out.status.code()
        );
    }
    for c in CHECKS {
        let want = format!("@@CHECK {c} ok");
        if !stdout.lines().any(|l| l.starts_with(&want)) {
            println!("vm_cgroup2: FAILED: no {want:?} line from the guest");
            ok = false;
        }
    }
    if ok {
        println!("vm_cgroup2: all {} guest checks passed", CHECKS.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---- guest helpers ------------------------------------------------------------------------

fn wait_for_go() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

/// Allocates and touches 128 MiB, far beyond the 32 MiB limit the guest sets.
fn role_alloc() -> ExitCode {
    wait_for_go();
    let mut keep: Vec<Vec<u8>> = Vec::new();
    for _ in 0..128 {
        keep.push(vec![1u8; 1 << 20]);
    }
    println!("allocated {} MiB", keep.len());
    ExitCode::SUCCESS
}

/// Starts `sleep` children until the kernel refuses; reports how many and the errno.
fn role_forker() -> ExitCode {
    wait_for_go();
    let mut kids: Vec<Child> = Vec::new();
    let mut errno = 0;
    for _ in 0..64 {
        match Command::new("sleep").arg("30").spawn() {
            Ok(c) => kids.push(c),
            Err(e) => {
                errno = e.raw_os_error().unwrap_or(-1);
                break;
            }
        }
    }
    println!("forked {} then errno {errno}", kids.len());
    for mut k in kids {
        let _ = k.kill();
        let _ = k.wait();
    }
    ExitCode::SUCCESS
}

// ---- guest checks -------------------------------------------------------------------------

const ROOT: &str = "/sys/fs/cgroup";

type R = Result<String, String>;
type Check = (&'static str, fn() -> R);

fn e(s: impl std::fmt::Display) -> String {
    s.to_string()
}

fn res(json: &str) -> Result<oci_spec::runtime::LinuxResources, String> {
    serde_json::from_str(json).map_err(e)
}

fn read(p: impl AsRef<Path>) -> Result<String, String> {
    fs::read_to_string(p.as_ref())
        .map(|s| s.trim().to_string())
        .map_err(|err| format!("read {}: {err}", p.as_ref().display()))
}

fn cgroup(name: &str) -> Result<(Cgroup, PathBuf), String> {
    let cg = Cgroup::new(
        Path::new(ROOT),
        Some(Path::new(&format!("/berth-vm/{name}"))),
        "x",
    )
    .map_err(e)?;
    cg.create().map_err(e)?;
    let dir = Path::new(ROOT).join("berth-vm").join(name);
    Ok((cg, dir))
}

/// Starts this binary in `role`, moves it into `cg`, and lets it go.
fn run_role(cg: &Cgroup, role: &str) -> Result<(std::process::ExitStatus, String), String> {
    let exe = std::env::current_exe().map_err(e)?;
    run_in(
        cg,
        Command::new(exe)
            .env("BERTH_VM_ROLE", role)
            .env_remove("BERTH_VM_GUEST"),
    )
}

fn run_in(cg: &Cgroup, cmd: &mut Command) -> Result<(std::process::ExitStatus, String), String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(e)?;
    let pid = i32::try_from(child.id()).map_err(e)?;
    let moved = cg.add_task(pid);
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    if let Err(err) = moved {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e(err));
    }
    stdin.write_all(b"go\n").map_err(e)?;
    drop(stdin);
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        so.read_to_string(&mut out).map_err(e)?;
    }
    let st = child.wait().map_err(e)?;
    Ok((st, out))
}

fn check_layout() -> R {
    match detect(Path::new(ROOT)).map_err(e)? {
        Layout::Unified => Ok("unified".into()),
        other => Err(format!("detected {other:?}")),
    }
}

fn check_memory() -> R {
    let (cg, dir) = cgroup("mem")?;
    cg.set(&res(r#"{"memory":{"limit":33554432,"swap":33554432}}"#)?)
        .map_err(e)?;
    let max = read(dir.join("memory.max"))?;
    if max != "33554432" {
        return Err(format!("memory.max = {max}"));
    }
    let (st, out) = run_role(&cg, "alloc")?;
    let events = read(dir.join("memory.events"))?;
    let stats = cg.stats().map_err(e)?;
    cg.destroy().map_err(e)?;
    if st.signal() != Some(libc::SIGKILL) {
        return Err(format!(
            "allocator was not OOM-killed: {st:?}, said {out:?}"
        ));
    }
    let kills = events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if kills < 1 {
        return Err(format!("memory.events has no oom_kill: {events:?}"));
    }
    if stats.memory_limit != Some(33_554_432) {
        return Err(format!("stats: {stats:?}"));
    }
    Ok(format!(
        "oom_kill={kills} peak={:?}",
        stats.memory_max_usage
    ))
}

fn check_pids() -> R {
    let (cg, dir) = cgroup("pids")?;
    cg.set(&res(r#"{"pids":{"limit":4}}"#)?).map_err(e)?;
    let max = read(dir.join("pids.max"))?;
    let (st, out) = run_role(&cg, "forker")?;
    let stats = cg.stats().map_err(e)?;
    cg.destroy().map_err(e)?;
    let out = out.trim().to_string();
    // The forker itself is one of the 4 tasks.
    if max != "4" || !st.success() || out != format!("forked 3 then errno {}", libc::EAGAIN) {
        return Err(format!("pids.max={max} status={st:?} output={out:?}"));
    }
    if stats.pids_limit != Some(4) {
        return Err(format!("stats: {stats:?}"));
    }
    Ok(out)
}

fn check_freeze() -> R {
    let (cg, dir) = cgroup("frz")?;
    let mut child = Command::new("sleep").arg("30").spawn().map_err(e)?;
    let pid = i32::try_from(child.id()).map_err(e)?;
    let result = (|| -> R {
        cg.add_task(pid).map_err(e)?;
        if cg.pids().map_err(e)? != vec![pid] {
            return Err("pids() does not list the child".into());
        }
        cg.freeze().map_err(e)?;
        let frozen = read(dir.join("cgroup.events"))?;
        cg.thaw().map_err(e)?;
        let thawed = read(dir.join("cgroup.events"))?;
        if !frozen.contains("frozen 1") || !thawed.contains("frozen 0") {
            return Err(format!("events frozen={frozen:?} thawed={thawed:?}"));
        }
        Ok("frozen 1 then frozen 0".into())
    })();
    let _ = child.kill();
    let _ = child.wait();
    cg.destroy().map_err(e)?;
    result
}

const PROBE: &str = "read x; (echo > /dev/null) 2>/dev/null && echo null-ok || echo null-denied; \
                     (head -c1 /dev/zero > /dev/null) 2>/dev/null && echo zero-ok || echo zero-denied";

fn check_devices() -> R {
    let (cg, _dir) = cgroup("dev")?;
    let result = (|| -> R {
        cg.set(&res(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
        )?)
        .map_err(e)?;
        let (_, first) = run_in(&cg, Command::new("sh").args(["-c", PROBE]))?;
        // A second set replaces the filter (with BPF_F_ALLOW_MULTI every program must allow,
        // so zero-ok proves the old one was detached).
        cg.set(&res(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]}"#,
        )?)
        .map_err(e)?;
        let (_, second) = run_in(&cg, Command::new("sh").args(["-c", PROBE]))?;
        let (first, second) = (
            first.split_whitespace().collect::<Vec<_>>(),
            second.split_whitespace().collect::<Vec<_>>(),
        );
        if first != ["null-ok", "zero-denied"] || second != ["null-ok", "zero-ok"] {
            return Err(format!("first {first:?}, after update {second:?}"));
        }
        Ok("null allowed, zero denied, then allowed after update".into())
    })();
    cg.destroy().map_err(e)?;
    result
}

/// clone3 with CLONE_INTO_CGROUP: the child starts life inside the cgroup.
fn check_clone_fd() -> R {
    use std::os::fd::AsFd;
    let (cg, dir) = cgroup("fd")?;
    let Some(fd) = cg.clone_into_fd() else {
        cg.destroy().map_err(e)?;
        return Err("None on pure v2".into());
    };
    // SAFETY: this test process is single-threaded here, and the child only
    // calls pause(2) until the parent kills it.
    let forked = unsafe { berth_sys::clone::clone3(0, Some(fd.as_fd())) };
    let pid = match forked {
        Ok(berth_sys::clone::Forked::Child) => loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        },
        Ok(berth_sys::clone::Forked::Parent {
            pid,
            in_cgroup: true,
        }) => pid,
        Ok(berth_sys::clone::Forked::Parent {
            pid,
            in_cgroup: false,
        }) => {
            // SAFETY: our own unreaped child; the pid cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = berth_sys::signal::wait_child(pid);
            cg.destroy().map_err(e)?;
            return Err("clone3 fell back to a plain fork, not into the cgroup".into());
        }
        Err(err) => {
            cg.destroy().map_err(e)?;
            return Err(format!("clone3: {err}"));
        }
    };
    let own = read(format!("/proc/{pid}/cgroup"));
    // SAFETY: `pid` is our own child, not yet reaped, so the pid cannot have been reused.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = berth_sys::signal::wait_child(pid);
    let own = own?;
    let result = if own == "0::/berth-vm/fd" {
        Ok(format!("child born in {own:?} ({})", dir.display()))
    } else {
        Err(format!("child is in {own:?}"))
    };
    drop(fd);
    cg.destroy().map_err(e)?;
    result
}

fn check_destroy() -> R {
    let (cg, dir) = cgroup("gone")?;
    cg.set(&res(r#"{"memory":{"limit":10000000},"pids":{"limit":10},"cpu":{"shares":2048,"quota":10000,"period":100000},"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#)?)
        .map_err(e)?;
    let weight = read(dir.join("cpu.weight"))?;
    let cpumax = read(dir.join("cpu.max"))?;
    let huge = read(dir.join("hugetlb.2MB.max"))?;
    if huge != "4194304" {
        return Err(format!("hugetlb.2MB.max = {huge}"));
    }
    cg.destroy().map_err(e)?;
    cg.destroy().map_err(e)?;
    if dir.exists() {
        return Err(format!("{} still exists", dir.display()));
    }
    fs::remove_dir(Path::new(ROOT).join("berth-vm")).map_err(e)?;
    Ok(format!(
        "cpu.weight={weight} cpu.max={cpumax:?} hugetlb.2MB.max={huge}"
    ))
}

fn guest() -> ExitCode {
    let checks: [Check; 7] = [
        ("layout", check_layout),
        ("memory-oom", check_memory),
        ("pids-eagain", check_pids),
        ("freeze", check_freeze),
        ("devices-ebpf", check_devices),
        ("clone-into-fd", check_clone_fd),
        ("destroy", check_destroy),
    ];
    let mut failed = 0;
    for (name, f) in checks {
        match f() {
            Ok(detail) => println!("@@CHECK {name} ok {detail}@@"),
            Err(why) => {
                failed += 1;
                println!("@@CHECK {name} FAIL {why}@@");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
