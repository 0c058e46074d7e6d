//! berth-runtime started by a user other than root (here `nobody`, through
//! setpriv): a user namespace that maps the caller to root inside, no
//! cgroup, state under $XDG_RUNTIME_DIR, the binary protected by a sealed
//! copy instead of a mount; more than one id through newuidmap/newgidmap
//! and the subordinate id files.

mod support;

use std::os::unix::fs::{chown, MetadataExt};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::{cgroup_dirs, privileged, Bundle, BIN};

const NOBODY: u32 = 65534;

/// A bundle with `berth-runtime spec --rootless`'s config as nobody writes
/// it, and a state directory of nobody's.
struct Rootless {
    bundle: Bundle,
    state: tempfile::TempDir,
}

impl Rootless {
    fn new(args: &[&str]) -> Self {
        let mut bundle = Bundle::new(args);
        let state = tempfile::tempdir().expect("state dir");
        for d in [bundle.path(), state.path()] {
            chown(d, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
        }
        std::fs::remove_file(bundle.path().join("config.json")).expect("rm config");
        let out = as_nobody(
            &state,
            &["spec", "--rootless", "--bundle"],
            &[bundle.path()],
        );
        assert!(
            out.status.success(),
            "spec --rootless as nobody: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(bundle.path().join("config.json")).expect("config");
        bundle.config = serde_json::from_str(&text).expect("json");
        bundle.config["process"]["terminal"] = false.into();
        bundle.config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        Rootless { bundle, state }
    }

    fn run(&self, id: &str) -> Output {
        self.bundle.write();
        as_nobody(
            &self.state,
            &["run", "--bundle"],
            &[self.bundle.path(), Path::new(id)],
        )
    }
}

/// `berth-runtime ARGS PATHS...` as nobody, with nobody's runtime dir.
fn as_nobody(state: &tempfile::TempDir, args: &[&str], paths: &[&Path]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", state.path().display()))
        .arg(BIN)
        .args(args)
        .args(paths)
        .output()
        .expect("setpriv")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_rootless_container_maps_its_caller_to_root_without_a_cgroup() {
    if !privileged() {
        return;
    }
    let r = Rootless::new(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups",
    ]);
    let id = format!("rootless-{}", std::process::id());
    let out = r.run(&id);
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0", "0 65534 1", "0 65534 1", "deny"]);
    assert!(cgroup_dirs(&id).is_empty(), "a cgroup was made");
    // The state went to nobody's runtime directory.
    assert!(r.state.path().join("berth-runtime").is_dir());
}

#[test]
fn limits_without_a_delegated_cgroup_are_refused_by_name() {
    if !privileged() {
        return;
    }
    let mut r = Rootless::new(&["true"]);
    r.bundle.config["linux"]["resources"] = json!({"memory": {"limit": 67_108_864}});
    let id = format!("rootless-lim-{}", std::process::id());
    let out = r.run(&id);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("linux.resources") && err.contains("delegated"),
        "{err}"
    );
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn subordinate_ids_are_mapped_through_newuidmap() {
    if !privileged() {
        return;
    }
    for helper in ["newuidmap", "newgidmap", "unshare", "setpriv"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {helper}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{helper} is missing (scripts/install-deps.sh installs it)"
        );
    }
    let mut r = Rootless::new(&[
        "sh",
        "-c",
        "touch /tmp/f && chown 1000:2000 /tmp/f && cat /proc/self/uid_map",
    ]);
    let maps = json!([
        {"containerID": 0, "hostID": NOBODY, "size": 1},
        {"containerID": 1, "hostID": 300_000, "size": 65536}
    ]);
    r.bundle.config["linux"]["uidMappings"] = maps.clone();
    r.bundle.config["linux"]["gidMappings"] = maps;
    r.bundle.config["root"]["readonly"] = false.into();
    // runc's default spec keeps only three capabilities; chown needs its own.
    for set in ["bounding", "effective", "permitted"] {
        r.bundle.config["process"]["capabilities"][set] = json!(["CAP_CHOWN"]);
    }
    chown(r.bundle.rootfs().join("tmp"), Some(NOBODY), Some(NOBODY)).expect("chown tmp");
    r.bundle.write();
    // nobody's subordinate ids, seen only in a mount namespace of this
    // test's (the host's files stay as they are).
    let ids = r.state.path().join("subids");
    std::fs::write(&ids, "65534:300000:65536\n").expect("subids");
    let id = format!("rootless-sub-{}", std::process::id());
    let script = format!(
        "mount --bind {ids} /etc/subuid && mount --bind {ids} /etc/subgid && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \
         env XDG_RUNTIME_DIR={state} {BIN} run --bundle {bundle} {id}",
        ids = ids.display(),
        state = r.state.path().display(),
        bundle = r.bundle.path().display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    let maps: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(maps, ["0 65534 1", "1 300000 65536"]);
    // Container ids 1000:2000 are host ids 300999:301999.
    let f = std::fs::metadata(r.bundle.rootfs().join("tmp/f")).expect("the file made inside");
    assert_eq!((f.uid(), f.gid()), (300_999, 301_999));
}
