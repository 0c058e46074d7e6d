//! Shared fixtures of the container tests: one berth root per test binary
//! holding a busybox image (built from busybox-static, pushed with skopeo
//! to a real docker-registry, pulled by berth), and a `Berth` handle whose
//! containers are removed when the test ends, passed or failed.

#![allow(dead_code)]

#[path = "../../../registry/tests/common/mod.rs"]
pub mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::*;

pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "id", "hostname", "ls", "mkdir", "wc", "grep",
    "head", "touch", "ps", "kill", "dd", "env", "pwd", "test", "stat", "yes", "seq", "rm", "tail",
    "ip", "wget", "httpd", "nslookup", "nc", "timeout", "readlink",
];

pub struct Fixture {
    pub root: PathBuf,
    pub run_root: PathBuf,
    pub image: String,
    /// The network namespace every berth command of the tests runs in,
    /// playing the host: bridges, addresses and nftables rules made by the
    /// tests never touch the real host's network.
    pub netns: PathBuf,
    netns_file: std::fs::File,
}

/// Skips (or fails, under BERTH_REQUIRE_PRIVILEGED=1) without root.
pub fn privileged() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("BERTH_REQUIRE_PRIVILEGED").is_err(),
        "this test needs root and BERTH_REQUIRE_PRIVILEGED is set"
    );
    eprintln!("skipped: needs root");
    false
}

pub fn busybox_layer() -> Vec<u8> {
    let bb = std::fs::read(BUSYBOX).expect("read /bin/busybox (install busybox-static)");
    let mut ents = vec![
        Ent::Dir("bin", 0o755),
        Ent::File("bin/busybox", &bb, 0o755, 0),
        Ent::Dir("etc", 0o755),
        Ent::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
            0,
        ),
        Ent::File("etc/group", b"root:x:0:\nwww:x:33:\nstaff:x:50:www\nnogroup:x:65534:\n", 0o644, 0),
        Ent::Dir("tmp", 0o1777),
        Ent::Dir("root", 0o700),
    ];
    let links: Vec<String> = APPLETS.iter().map(|a| format!("bin/{a}")).collect();
    for l in &links {
        ents.push(Ent::Symlink(l, "busybox"));
    }
    tar_of(&ents)
}

/// The shared root with the image, made once per test binary.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_roots(&tmp);
        let base = tmp.join(format!("containers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let run_root = base.join("run");
        std::fs::create_dir_all(&root).expect("root");
        let reg = Registry::start(None);
        let img = Image::new(vec![Layer::gzip(busybox_layer())], "amd64");
        let layout = tempfile::tempdir().expect("tmp");
        Image::write_layout(&[(&img, "amd64")], layout.path(), "v1");
        let name = format!("{}/test/bb:v1", reg.addr);
        skopeo_push(layout.path(), "v1", &name, None);
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["--root"])
            .arg(&root)
            .args(["pull", "-q", &name])
            .output()
            .expect("berth pull");
        assert!(
            out.status.success(),
            "pull: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Tagged locally under a registry-independent name.
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("--root")
            .arg(&root)
            .args(["tag", &name, "bb:latest"])
            .output()
            .expect("berth tag");
        assert!(
            out.status.success(),
            "tag: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let netns = base.join("netns");
        berth_net::create_netns(&netns).expect("the tests' network namespace");
        let netns_file = std::fs::File::open(&netns).expect("open the tests' netns");
        Fixture {
            root,
            run_root,
            image: "bb:latest".into(),
            netns,
            netns_file,
        }
    })
}

/// Roots of earlier test processes that are gone (a static fixture is
/// never dropped, so each run removes its predecessors').
fn remove_stale_roots(tmp: &Path) {
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("containers-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The berth binary, to run in the tests' network namespace (which plays
/// the host: bridges and rules made by tests never reach the real one).
/// Every berth command of a test that may start a container comes from here.
pub fn berth_command() -> Command {
    berth_command_in(&fixture().netns_file)
}

/// The berth binary, to run in the network namespace `netns` (a root of
/// its own needs a namespace of its own: two roots in one namespace would
/// both claim the default bridge `berth0`, as two berth installations on
/// one host would).
pub fn berth_command_in(netns: &std::fs::File) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    let ns = std::os::fd::AsRawFd::as_raw_fd(netns);
    // SAFETY: between fork and exec the child only calls setns(2), which
    // is async-signal-safe; the fd stays open for the process's life.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, move || {
            if libc::setns(ns, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

/// A test's view of berth on the shared root; removes the containers it
/// named when dropped.
pub struct Berth {
    pub f: &'static Fixture,
    names: std::sync::Mutex<Vec<String>>,
}

impl Berth {
    pub fn new() -> Berth {
        Berth {
            f: fixture(),
            names: Default::default(),
        }
    }

    /// A container name unique to this test; removed at the end.
    pub fn name(&self, base: &str) -> String {
        let n = format!("{base}-{}-{}", std::process::id(), rand_suffix());
        self.names.lock().expect("names").push(n.clone());
        n
    }

    pub fn cmd(&self) -> Command {
        let mut c = berth_command();
        c.arg("--root")
            .arg(&self.f.root)
            .arg("--run-root")
            .arg(&self.f.run_root);
        c
    }

    /// Runs `f` on a thread inside the tests' network namespace (a client
    /// on the "host" the containers' ports are published on).
    pub fn on_host<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        berth_net::in_netns(&self.f.netns, f).expect("enter the tests' netns")
    }

    /// A command run in the tests' network namespace (`ip`, `nft`).
    pub fn host_cmd(&self, prog: &str, args: &[&str]) -> String {
        let o = Command::new("nsenter")
            .arg(format!("--net={}", self.f.netns.display()))
            .arg(prog)
            .args(args)
            .output()
            .expect("nsenter");
        assert!(
            o.status.success(),
            "{prog} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs berth with output captured through files (a detached
    /// container's supervisor would otherwise hold pipes open).
    pub fn run(&self, args: &[&str]) -> Output {
        let dir = tempfile::tempdir().expect("tmp");
        let (o, e) = (dir.path().join("out"), dir.path().join("err"));
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).expect("out"))
            .stderr(std::fs::File::create(&e).expect("err"))
            .status()
            .expect("spawn berth");
        Output {
            status,
            stdout: std::fs::read(&o).expect("read out"),
            stderr: std::fs::read(&e).expect("read err"),
        }
    }

    /// Runs berth, asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}): {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn image(&self) -> &str {
        &self.f.image
    }

    pub fn state_json(&self, id: &str) -> serde_json::Value {
        let p = self.f.root.join("containers").join(id).join("state.json");
        serde_json::from_slice(&std::fs::read(p).expect("state.json")).expect("json")
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.f.root.join("containers").join(id)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        for n in names {
            let _ = self.run(&["rm", "-f", "-v", &n]);
        }
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{}", N.fetch_add(1, Ordering::SeqCst))
}

/// Polls `check` every 50 ms until it says done (`Ok`) or `secs` pass;
/// then fails with its last word on what it still sees.
pub fn eventually(secs: u64, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match check() {
            Ok(()) => return,
            Err(still) if std::time::Instant::now() >= deadline => panic!("{still}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Asserts that a command's stderr mentions `text` (and shows it if not).
pub fn assert_stderr_mentions(o: &Output, text: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(text), "stderr lacks {text:?}: {err}");
}
