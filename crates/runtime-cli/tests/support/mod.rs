//! Shared helpers for the privileged integration tests: a busybox rootfs
//! built at test time, bundles with a config derived from `berth-runtime
//! spec`, and a runtime root that deletes every container it made, even when
//! the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// True when the test can run (root, busybox present); otherwise prints why
/// and the caller returns. `BERTH_REQUIRE_PRIVILEGED=1` turns a skip into a
/// failure, as CI sets it.
pub fn privileged() -> bool {
    let why = if !rustix::process::geteuid().is_root() {
        Some("needs root")
    } else if !Path::new("/bin/busybox").exists() {
        Some("needs /bin/busybox (Debian's busybox-static)")
    } else {
        None
    };
    match why {
        None => true,
        Some(w) if std::env::var_os("BERTH_REQUIRE_PRIVILEGED").is_some() => {
            panic!("privileged test cannot run: {w}")
        }
        Some(w) => {
            eprintln!("skipped: {w}");
            false
        }
    }
}

/// A bundle directory with a busybox rootfs and a config.json.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// runc's default spec with `terminal: false` and `args`.
    pub fn new(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-bundle-")
            .tempdir()
            .expect("tempdir");
        busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new(BIN)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .expect("berth-runtime spec");
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("config");
        let mut config: Value = serde_json::from_str(&text).expect("json");
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        Self { dir, config }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes the (possibly edited) config.json.
    pub fn write(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("json"),
        )
        .expect("write config");
    }
}

/// A minimal rootfs: static busybox and its applet links.
pub fn busybox_rootfs(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy busybox");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    )
    .expect("passwd");
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A private runtime root; every container id it hands out is force-deleted
/// when it drops.
pub struct Runtime {
    pub root: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Runtime {
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("berth-test-root-")
            .tempdir_in("/run")
            .or_else(|_| {
                tempfile::Builder::new()
                    .prefix("berth-test-root-")
                    .tempdir()
            })
            .expect("root");
        Self {
            root,
            ids: Default::default(),
        }
    }

    /// A fresh container id, unique across tests running in parallel.
    pub fn id(&self) -> String {
        let id = format!(
            "bt-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }

    /// `berth-runtime <args>`, captured. Output goes through files, not
    /// pipes: a created container inherits the runtime's stdio and holds it
    /// open, so a pipe would never reach end-of-file.
    pub fn exec(&self, args: &[&str]) -> Output {
        let out = tempfile::tempfile().expect("stdout file");
        let err = tempfile::tempfile().expect("stderr file");
        let status = self
            .cmd()
            .args(args)
            .stdout(out.try_clone().expect("dup"))
            .stderr(err.try_clone().expect("dup"))
            .status()
            .expect("spawn berth-runtime");
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.seek(std::io::SeekFrom::Start(0)).expect("seek");
            f.read_to_end(&mut v).expect("read");
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    /// `create` of `bundle` (its config written first) under a new id.
    pub fn create(&self, bundle: &Bundle) -> (String, Output) {
        bundle.write();
        let id = self.id();
        let path = bundle.path().display().to_string();
        let out = self.exec(&["create", "--bundle", &path, &id]);
        (id, out)
    }

    /// `run` of `bundle` under a new id: (exit code, stdout, stderr).
    pub fn run(&self, bundle: &Bundle) -> (i32, String, String) {
        bundle.write();
        let id = self.id();
        let bundle_path = bundle.path().display().to_string();
        let out = self.exec(&["run", "--bundle", &bundle_path, &id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `run --detach` of `bundle` under a new id; panics unless it runs.
    pub fn run_detached(&self, bundle: &Bundle) -> String {
        bundle.write();
        let id = self.id();
        let path = bundle.path().display().to_string();
        let out = self.exec(&["run", "--detach", "--bundle", &path, &id]);
        assert!(
            out.status.success(),
            "run -d: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        id
    }

    /// The host pid of the container's init.
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().expect("pid in state") as i32
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.exec(&["state", id]);
        assert!(
            out.status.success(),
            "state: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("state json")
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.exec(&["delete", "--force", id]);
        }
    }
}

/// Every cgroup directory named `id` under the host's cgroup hierarchies
/// (two levels deep, where relative cgroupsPaths land).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(hier) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for h in hier.flatten() {
        let mut stack = vec![(h.path(), 0)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    if e.file_name() == id {
                        found.push(e.path());
                    } else if depth < 3 {
                        stack.push((e.path(), depth + 1));
                    }
                }
            }
        }
    }
    found
}
