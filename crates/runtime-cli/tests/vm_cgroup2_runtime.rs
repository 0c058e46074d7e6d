//! `berth-runtime run` on a pure cgroup v2 host, for real, in a VM (`scripts/vm-cgroup2.sh`).
//!
//! The host builds the static runtime (`scripts/build-static.sh`, or takes `BERTH_STATIC_RUNTIME`),
//! prepares a busybox rootfs and two bundles, and boots the VM with a busybox `sh` script that
//! runs two containers with `run --keep`, so that their cgroups can be read before `delete`:
//! - `oom`: memory.max = swap = 32 MiB, a shell that grows a 100 MB string → exit 137 and
//!   `oom_kill` ≥ 1 in the container cgroup's memory.events;
//! - `pids`: pids.max = 8, a loop starting 30 background sleeps → forks fail ("can't fork",
//!   at most 8 started) and `max` ≥ 1 in pids.events.
//!
//! The guest prints `@@NAME value@@` markers; the host asserts them. When the VM cannot run
//! (exit 77: no qemu, no kernel, offline) the test prints "skipped: ..." and passes, unless
//! `BERTH_REQUIRE_VM=1`. `BERTH_SKIP_VM=1` skips on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

type R<T> = Result<T, String>;

/// Where the guest finds what the host prepared (`--add <tmp>:/berth`).
const GUEST_DIR: &str = "/berth";

/// Grows a shell variable to 100 MB; must die by the OOM killer at 32 MiB.
const OOM_CMD: &str = r#"x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived ${#x}"#;
/// Starts 30 background sleeps, each announcing itself; pids.max = 8 must stop most.
const PIDS_CMD: &str =
    r#"for i in $(seq 1 30); do (echo started; exec sleep 3) & done; wait; echo finished"#;

const GUEST_SCRIPT: &str = r#"
R=/berth/berth-runtime
ROOT=/tmp/rt
CG=/sys/fs/cgroup/berth-vm
echo "@@CONTROLLERS $(cat /sys/fs/cgroup/cgroup.controllers)@@"

# (a) memory: 32 MiB, no swap; the container's shell grows a 100 MB string.
$R --root $ROOT run --keep -b /berth/oom oom >/tmp/oom.out 2>&1
rc=$?
sed 's/^/oom| /' /tmp/oom.out
echo "@@OOM-RC $rc@@"
echo "@@OOM-MAX $(cat $CG/oom/memory.max)@@"
echo "@@OOM-SWAP-MAX $(cat $CG/oom/memory.swap.max 2>/dev/null || echo none)@@"
while read -r k v; do echo "@@OOM-EVENT-$k $v@@"; done <$CG/oom/memory.events
$R --root $ROOT delete oom
echo "@@OOM-DELETE $?@@"
[ -e $CG/oom ] && echo "@@OOM-CGROUP-LEFT@@"

# (b) pids: at most 8 tasks; the container's shell tries to start 30 sleeps.
$R --root $ROOT run --keep -b /berth/pids pids >/tmp/pids.out 2>&1
rc=$?
sed 's/^/pids| /' /tmp/pids.out
echo "@@PIDS-RC $rc@@"
echo "@@PIDS-MAX $(cat $CG/pids/pids.max)@@"
echo "@@PIDS-STARTED $(grep -c '^started$' /tmp/pids.out)@@"
if grep -q "can't fork" /tmp/pids.out; then echo "@@PIDS-CANT-FORK yes@@"; fi
while read -r k v; do echo "@@PIDS-EVENT-$k $v@@"; done <$CG/pids/pids.events
$R --root $ROOT delete pids
echo "@@PIDS-DELETE $?@@"
[ -e $CG/pids ] && echo "@@PIDS-CGROUP-LEFT@@"
exit 0
"#;

fn main() -> ExitCode {
    if std::env::var_os("BERTH_SKIP_VM").is_some() && !require_vm() {
        println!("vm_cgroup2_runtime: skipped: BERTH_SKIP_VM is set");
        return ExitCode::SUCCESS;
    }
    match host() {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Skipped(why)) => {
            println!("vm_cgroup2_runtime: skipped: {why}");
            if require_vm() {
                println!(
                    "vm_cgroup2_runtime: FAILED: BERTH_REQUIRE_VM is set, so skipping is an error"
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("vm_cgroup2_runtime: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn require_vm() -> bool {
    std::env::var("BERTH_REQUIRE_VM").is_ok_and(|v| v == "1")
}

enum Outcome {
    Passed,
    Skipped(String),
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn host() -> R<Outcome> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        return Ok(Outcome::Skipped(
            "/bin/busybox not found (apt-get install busybox-static)".into(),
        ));
    }
    let start = Instant::now();
    let runtime = static_runtime()?;
    let built = start.elapsed();

    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let dir = tmp.path().join("berth");
    prepare(&dir, &runtime, busybox)?;

    let vm_start = Instant::now();
    let out = Command::new("bash")
        .arg(repo().join("scripts/vm-cgroup2.sh"))
        .args(["--timeout", "300", "--add"])
        .arg(format!("{}:{GUEST_DIR}", dir.display()))
        .args(["--", "/bin/sh", "/berth/guest.sh"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running scripts/vm-cgroup2.sh: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        return Ok(Outcome::Skipped(stderr.trim().to_string()));
    }
    println!("{stdout}");
    eprintln!("{stderr}");
    println!(
        "vm_cgroup2_runtime: build {:.1}s, VM {:.1}s",
        built.as_secs_f64(),
        vm_start.elapsed().as_secs_f64()
    );
    if !out.status.success() {
        return Err(format!(
            "the VM harness exited with {:?} (124 = timeout, 125 = no report)",
            out.status.code()
        ));
    }
    check(&stdout)?;
    println!("vm_cgroup2_runtime: memory OOM and pids limit enforced on cgroup v2");
    Ok(Outcome::Passed)
}

/// `BERTH_STATIC_RUNTIME`, or the last line `scripts/build-static.sh` prints.
fn static_runtime() -> R<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_STATIC_RUNTIME") {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new("bash")
        .arg(repo().join("scripts/build-static.sh"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running scripts/build-static.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/build-static.sh failed ({:?})",
            out.status.code()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| "scripts/build-static.sh printed no path".to_string())
}

/// `dir` becomes the guest's /berth: the runtime, a busybox rootfs, two bundles, guest.sh.
fn prepare(dir: &Path, runtime: &Path, busybox: &Path) -> R<()> {
    let io = |what: &str, p: &Path| {
        let p = p.display().to_string();
        let what = what.to_string();
        move |e: std::io::Error| format!("{what} {p}: {e}")
    };
    let bin = dir.join("rootfs/bin");
    fs::create_dir_all(&bin).map_err(io("creating", &bin))?;
    fs::copy(busybox, bin.join("busybox")).map_err(io("copying", busybox))?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(io("running", busybox))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        // `--list` names busybox itself; a link there would replace the binary.
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", bin.join(applet))
            .map_err(io("linking", &bin.join(applet)))?;
    }
    let guest_rt = dir.join("berth-runtime");
    fs::copy(runtime, &guest_rt).map_err(io("copying", runtime))?;
    fs::write(dir.join("guest.sh"), GUEST_SCRIPT).map_err(io("writing", dir))?;

    // The default config, as `berth-runtime spec` writes it.
    let spec_dir = dir.join("spec");
    fs::create_dir_all(&spec_dir).map_err(io("creating", &spec_dir))?;
    let st = Command::new(runtime)
        .arg("spec")
        .current_dir(&spec_dir)
        .status()
        .map_err(io("running", runtime))?;
    if !st.success() {
        return Err(format!("{} spec failed: {st}", runtime.display()));
    }
    let text = fs::read_to_string(spec_dir.join("config.json"))
        .map_err(io("reading", &spec_dir.join("config.json")))?;
    let base: Value = serde_json::from_str(&text).map_err(|e| format!("spec output: {e}"))?;
    fs::remove_dir_all(&spec_dir).map_err(io("removing", &spec_dir))?;

    let bundles = [
        (
            "oom",
            OOM_CMD,
            json!({ "memory": { "limit": 33554432, "swap": 33554432 } }),
        ),
        ("pids", PIDS_CMD, json!({ "pids": { "limit": 8 } })),
    ];
    for (name, cmd, resources) in bundles {
        let mut c = base.clone();
        c["process"]["terminal"] = json!(false);
        c["process"]["args"] = json!(["sh", "-c", cmd]);
        c["root"]["path"] = json!(format!("{GUEST_DIR}/rootfs"));
        c["linux"]["resources"] = resources;
        c["linux"]["cgroupsPath"] = json!(format!("/berth-vm/{name}"));
        let b = dir.join(name);
        fs::create_dir_all(&b).map_err(io("creating", &b))?;
        let text = serde_json::to_string_pretty(&c).map_err(|e| format!("config: {e}"))?;
        fs::write(b.join("config.json"), text).map_err(io("writing", &b))?;
    }
    Ok(())
}

/// The value of `@@NAME value@@`, if the guest printed it.
fn marker<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("@@{name}");
    out.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(&prefix)?.strip_suffix("@@")?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix(' ')
        }
    })
}

fn number(out: &str, name: &str) -> R<i64> {
    let v = marker(out, name).ok_or_else(|| format!("the guest printed no @@{name}@@ marker"))?;
    v.trim()
        .parse()
        .map_err(|e| format!("@@{name} {v}@@: not a number: {e}"))
}

fn check(out: &str) -> R<()> {
    let mut failures = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    // (a) memory
    let rc = number(out, "OOM-RC")?;
    expect(
        rc == 137,
        format!("oom: `run` exited {rc}, want 137 (SIGKILL)"),
    );
    let max = marker(out, "OOM-MAX").unwrap_or("?");
    expect(
        max == "33554432",
        format!("oom: memory.max is {max}, want 33554432"),
    );
    let swap = marker(out, "OOM-SWAP-MAX").unwrap_or("?");
    expect(
        swap == "0" || swap == "none",
        format!("oom: memory.swap.max is {swap}, want 0 (swap == limit)"),
    );
    let kills = number(out, "OOM-EVENT-oom_kill")?;
    expect(
        kills >= 1,
        format!("oom: memory.events oom_kill {kills}, want >= 1"),
    );
    expect(
        !out.contains("survived"),
        "oom: the allocating shell survived".into(),
    );
    let del = number(out, "OOM-DELETE")?;
    expect(del == 0, format!("oom: `delete` exited {del}"));
    expect(
        marker(out, "OOM-CGROUP-LEFT").is_none(),
        "oom: the cgroup is still there after delete".into(),
    );

    // (b) pids
    let max = marker(out, "PIDS-MAX").unwrap_or("?");
    expect(max == "8", format!("pids: pids.max is {max}, want 8"));
    let started = number(out, "PIDS-STARTED")?;
    expect(
        (1..=8).contains(&started),
        format!("pids: {started} sleeps started, want 1..=8"),
    );
    expect(
        marker(out, "PIDS-CANT-FORK").is_some(),
        "pids: the shell never reported \"can't fork\"".into(),
    );
    let refused = number(out, "PIDS-EVENT-max")?;
    expect(
        refused >= 1,
        format!("pids: pids.events max {refused}, want >= 1"),
    );
    let del = number(out, "PIDS-DELETE")?;
    expect(del == 0, format!("pids: `delete` exited {del}"));
    expect(
        marker(out, "PIDS-CGROUP-LEFT").is_none(),
        "pids: the cgroup is still there after delete".into(),
    );

    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
