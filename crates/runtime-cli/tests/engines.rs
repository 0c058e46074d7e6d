//! berth-runtime under the real engines, from Debian's packages: containerd
//! (`ctr run --runc-binary`), dockerd (`--add-runtime berth=...`) and podman
//! (`--runtime ...`), each driving the runtime the way it drives runc.
//!
//! Every engine runs in a sandbox of its own: one process holding a new mount,
//! network and pid namespace, with fresh tmpfs on `/run` and `/dev/shm`
//! (where the engines keep sockets, shim state, locks and the runtime's
//! `--root`) and on `/var/lib` and `/var/tmp` (podman's blob cache and
//! temporary files ignore `--root`), and every daemon and client is started inside it with
//! `nsenter`. Sockets, state and data directories live in a temp dir. The
//! sandbox's holder is pid 1 of its pid namespace and dies with the test's
//! `unshare` (`--kill-child`), so dropping the guard kills every daemon, shim,
//! monitor and container at once, even when an assertion failed; the
//! cgroup parent (unique per test) is then removed from every hierarchy.
//!
//! The image is a busybox rootfs written by the test as one archive that is
//! both an OCI image layout and a docker-archive (`manifest.json`), so
//! `ctr image import`, `docker load` and `podman load` all read it.

mod support;

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{busybox_rootfs, privileged, BIN};

const IMAGE: &str = "localhost/berth-test/busybox:latest";
/// How long any one engine command may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// True when `tools` are installed; otherwise skips (or fails under
/// `BERTH_REQUIRE_PRIVILEGED=1`, as CI sets it) with the package to install.
fn engine_available(tools: &[(&str, &str)]) -> bool {
    if !privileged() {
        return false;
    }
    for (tool, package) in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            let why = format!("needs {tool} (Debian package {package}; scripts/install-deps.sh)");
            if std::env::var_os("BERTH_REQUIRE_PRIVILEGED").is_some() {
                panic!("engine test cannot run: {why}");
            }
            eprintln!("skipped: {why}");
            return false;
        }
    }
    true
}

/// A finished command: exit code and both streams, for assertions.
struct Done {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Done {
    fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// stdout, after asserting the command succeeded.
    fn ok(self, what: &str) -> String {
        assert!(
            self.status.success(),
            "{what}: {}\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self.stdout
    }
}

/// Runs `cmd` to completion with `input` on its stdin (kept open until the
/// command exits, so a terminal client is not cut off by an early EOF), its
/// output captured through files (a detached container may inherit them), and
/// a deadline: a command that hangs is killed and fails the test.
fn run(mut cmd: Command, input: Option<&[u8]>) -> Done {
    let out = tempfile::tempfile().expect("stdout file");
    let err = tempfile::tempfile().expect("stderr file");
    cmd.stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let stdin = child.stdin.take();
    if let (Some(mut s), Some(data)) = (stdin.as_ref(), input) {
        s.write_all(data).expect("write stdin");
    }
    let status = wait_deadline(&mut child, TIMEOUT)
        .unwrap_or_else(|| panic!("{shown}: still running after {TIMEOUT:?}, killed"));
    drop(stdin);
    let read = |mut f: std::fs::File| {
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).expect("seek");
        f.read_to_end(&mut v).expect("read");
        String::from_utf8_lossy(&v).into_owned()
    };
    Done {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// Waits for `child` up to `limit`; kills it (and returns None) after that.
fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` every 50 ms until it returns true or `limit` passes.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// `argv` run under a pseudo-terminal (util-linux `script`), `input` typed
/// into it: how a user's `-it` session reaches the engine, without a real
/// terminal. The arguments must not need shell quoting.
fn in_pty(argv: &[String], input: &str) -> Done {
    for a in argv {
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.=:,@".contains(c)),
            "argument {a:?} would need quoting for script -c"
        );
    }
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &argv.join(" "), "/dev/null"])
        .env("SHELL", "/bin/sh");
    run(cmd, Some(input.as_bytes()))
}

/// One sandbox: the holder of a new mount, network and pid namespace, its
/// work directory and the cgroup parent its engine is told to use.
struct Sandbox {
    unshare: Child,
    /// The `nsenter` processes that started the daemons, reaped on drop.
    daemons: std::cell::RefCell<Vec<Child>>,
    /// Host pid of the namespace's pid 1 (the `nsenter` target).
    init: i32,
    dir: tempfile::TempDir,
    /// A cgroup directory name, unique to this test, under which the engine
    /// puts its containers; removed from every hierarchy on drop.
    cgroup: String,
}

impl Sandbox {
    fn new(engine: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-engine-{engine}-"))
            .tempdir()
            .expect("tempdir");
        let ready = dir.path().join("ready");
        let script = format!(
            "mount -t tmpfs -o mode=755 tmpfs /run && mount -t tmpfs tmpfs /dev/shm \
             && mount -t tmpfs -o mode=755 tmpfs /var/lib && mount -t tmpfs tmpfs /var/tmp \
             && ip link set lo up && touch {ready} \
             && while :; do sleep 3600 & wait $!; done",
            ready = ready.display()
        );
        let unshare = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--net",
                "--pid",
                "--fork",
                "--kill-child=SIGKILL",
                "--mount-proc",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let mut sandbox = Self {
            init: 0,
            daemons: Default::default(),
            cgroup: format!("berth-engines-{}-{engine}", std::process::id()),
            unshare,
            dir,
        };
        let children = format!("/proc/{0}/task/{0}/children", sandbox.unshare.id());
        assert!(
            eventually(Duration::from_secs(10), || {
                sandbox.init = std::fs::read_to_string(&children)
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                sandbox.init != 0 && ready.exists()
            }),
            "the sandbox for {engine} did not come up"
        );
        sandbox
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `program` inside the sandbox's namespaces.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.init.to_string())
            .args(["--mount", "--net", "--pid", "--", program]);
        c
    }

    /// Starts a daemon in the sandbox, its output in `<dir>/<name>.log`; it
    /// dies with the sandbox.
    fn daemon(&self, name: &str, mut cmd: Command) {
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).expect("log");
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        let child = cmd.spawn().expect("spawn daemon");
        self.daemons.borrow_mut().push(child);
    }

    /// `argv` run inside the sandbox under a pty (see [`in_pty`]).
    fn in_pty(&self, argv: &[String], input: &str) -> Done {
        let mut full: Vec<String> = vec!["nsenter".into(), "-t".into(), self.init.to_string()];
        full.extend(["--mount", "--net", "--pid", "--"].map(String::from));
        full.extend(argv.iter().cloned());
        in_pty(&full, input)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    /// `berth-runtime --root ROOT state ID` inside the sandbox: proof that
    /// berth-runtime, not runc, made the container (runc's state does not
    /// parse as berth's).
    fn berth_state(&self, root: &str, id: &str) -> Value {
        let mut c = self.cmd(BIN);
        c.args(["--root", root, "state", id]);
        let out = run(c, None).ok("berth-runtime state");
        serde_json::from_str(&out).expect("state json")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Killing `unshare` kills the namespace's pid 1 (--kill-child), which
        // takes every process of the namespace with it.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        // Each `nsenter` exits once the daemon it waits for is gone.
        for mut d in self.daemons.borrow_mut().drain(..) {
            if wait_deadline(&mut d, Duration::from_secs(20)).is_none() {
                eprintln!("nsenter {} did not exit; killed", d.id());
            }
        }
        let init = PathBuf::from(format!("/proc/{}", self.init));
        if self.init != 0 && !eventually(Duration::from_secs(20), || !init.exists()) {
            eprintln!("sandbox pid 1 ({}) still alive after 20 s", self.init);
        }
        // Container processes are gone; their cgroup directories may not be.
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let top = h.path().join(&self.cgroup);
            if top.is_dir() {
                remove_cgroup_tree(&top);
            }
        }
    }
}

/// rmdir of a cgroup directory and everything under it, deepest first. A
/// controller this host does not mount (hugetlb, net_cls... here: v1 names
/// on the /sys/fs/cgroup tmpfs) is a plain directory in which podman still
/// writes its `tasks` files: removed as ordinary files. A cgroup whose last
/// process is still exiting is tried again for a while.
fn remove_cgroup_tree(dir: &Path) {
    let on_tmpfs = rustix::fs::statfs(dir).is_ok_and(|s| s.f_type == libc::TMPFS_MAGIC);
    if on_tmpfs {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            eprintln!("cannot remove {}: {e}", dir.display());
        }
        return;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_tree(&e.path());
        }
    }
    let mut last = None;
    let gone = eventually(Duration::from_secs(5), || match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            last = Some(e);
            false
        }
    });
    if !gone {
        eprintln!("cannot remove cgroup {}: {last:?}", dir.display());
    }
}

/// Tears the sandbox down and checks that nothing of the engine's cgroup
/// parent is left in any hierarchy.
fn tear_down(sb: Sandbox) {
    let name = sb.cgroup.clone();
    drop(sb);
    let left: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(&name))
        .filter(|p| p.exists())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Directories named `cgroup/...` (the engine's parent) in any hierarchy.
fn cgroup_children(parent: &str, name: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(parent).join(name))
        .filter(|p| p.is_dir())
        .collect()
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `<dir>/image.tar`: the busybox rootfs as one uncompressed layer,
/// laid out both as an OCI image layout (`oci-layout`, `index.json`) and as a
/// docker-archive (`manifest.json`), the blobs shared.
fn image_archive(dir: &Path) -> PathBuf {
    let work = dir.join("image");
    let rootfs = work.join("rootfs");
    busybox_rootfs(&rootfs);
    let layer_tar = work.join("layer.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "--owner=0", "--group=0", "-cf"])
        .arg(&layer_tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the rootfs failed");
    let layer = std::fs::read(&layer_tar).expect("layer");
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    let blob = |data: &[u8]| {
        let hex = sha256(data);
        std::fs::write(blobs.join(&hex), data).expect("blob");
        hex
    };
    let layer_hex = blob(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]}
    }))
    .expect("config json");
    let config_hex = blob(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_hex}"),
            "size": config.len()
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_hex}"),
            "size": layer.len()
        }]
    }))
    .expect("manifest json");
    let manifest_hex = blob(&manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest.len(),
            "annotations": {
                "io.containerd.image.name": IMAGE,
                "org.opencontainers.image.ref.name": "latest"
            }
        }]
    });
    let docker = json!([{
        "Config": format!("blobs/sha256/{config_hex}"),
        "RepoTags": [IMAGE],
        "Layers": [format!("blobs/sha256/{layer_hex}")]
    }]);
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index");
    std::fs::write(layout.join("manifest.json"), docker.to_string()).expect("manifest.json");
    let archive = dir.join("image.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .args(["--numeric-owner", "-cf"])
        .arg(&archive)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the image layout failed");
    archive
}

/// A detached container's command: exits 7 on SIGTERM (a shell as pid 1
/// ignores signals it has no trap for), so a stop is told from a kill.
const TRAPPED: &str = "trap 'exit 7' TERM; while :; do sleep 0.1; done";

// ---------------------------------------------------------------- containerd

struct Ctr<'a> {
    sb: &'a Sandbox,
    socket: PathBuf,
    fifo: PathBuf,
    /// containerd namespace; also the cgroup parent of its containers.
    ns: String,
}

impl Ctr<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sb.cmd("ctr");
        c.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", &self.ns])
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Done {
        run(self.cmd(args), None)
    }

    /// The STATUS column of `ctr task ls` for `id`.
    fn task_status(&self, id: &str) -> String {
        let out = self.run(&["task", "ls"]).ok("ctr task ls");
        out.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&id))
            .and_then(|w| w.get(2).map(|s| s.to_string()))
            .unwrap_or_default()
    }
}

#[test]
fn containerd_runs_execs_pauses_and_kills_through_berth_runtime() {
    if !engine_available(&[("containerd", "containerd"), ("ctr", "containerd")]) {
        return;
    }
    let sb = Sandbox::new("containerd");
    let d = sb.dir.path();
    let config = format!(
        "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
         [grpc]\n  address = \"{0}/containerd.sock\"\n",
        d.display()
    );
    std::fs::write(sb.path("containerd.toml"), config).expect("config");
    let mut daemon = sb.cmd("containerd");
    daemon.arg("--config").arg(sb.path("containerd.toml"));
    sb.daemon("containerd", daemon);
    let ctr = Ctr {
        sb: &sb,
        socket: sb.path("containerd.sock"),
        fifo: sb.path("fifo"),
        ns: sb.cgroup.clone(),
    };
    assert!(
        eventually(TIMEOUT, || ctr.run(&["version"]).status.success()),
        "containerd did not answer: {}",
        sb.log("containerd")
    );
    let archive = image_archive(d);
    ctr.run(&["image", "import", &archive.display().to_string()])
        .ok("ctr image import");

    let fifo = ctr.fifo.display().to_string();
    let with_berth = ["--runc-binary", BIN, "--fifo-dir", &fifo];

    // Foreground run: output and exit status come back through the shim.
    let mut args = vec!["run", "--rm"];
    args.extend(with_berth);
    args.extend([IMAGE, "c1", "sh", "-c", "echo hello-$((6*7)); exit 3"]);
    let out = ctr.run(&args);
    assert_eq!(out.code(), 3, "ctr run: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "hello-42");

    // A detached container that berth-runtime really made.
    let mut args = vec!["run", "-d"];
    args.extend(with_berth);
    args.extend([IMAGE, "c2", "sh", "-c", TRAPPED]);
    ctr.run(&args).ok("ctr run -d");
    assert_eq!(ctr.task_status("c2"), "RUNNING");
    let root = format!("/run/containerd/runc/{}", ctr.ns);
    assert_eq!(sb.berth_state(&root, "c2")["status"], "running");

    // exec: output and exit status; then with a terminal (console socket).
    let out = ctr.run(&[
        "task",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "e1",
        "c2",
        "sh",
        "-c",
        "echo in-exec $(cat /proc/1/comm); exit 5",
    ]);
    assert_eq!(out.code(), 5, "ctr task exec: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "in-exec sh");
    let argv: Vec<String> = [
        "ctr",
        "--address",
        &ctr.socket.display().to_string(),
        "--namespace",
        &ctr.ns,
        "task",
        "exec",
        "-t",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "e2",
        "c2",
        "sh",
    ]
    .map(String::from)
    .to_vec();
    let out = sb.in_pty(&argv, "tty; echo tty-$((6*7)); exit 4\n");
    assert_eq!(
        out.code(),
        4,
        "ctr task exec -t: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("/dev/pts/"), "{}", out.stdout);
    assert!(out.stdout.contains("tty-42"), "{}", out.stdout);

    // pause / resume through the freezer.
    ctr.run(&["task", "pause", "c2"]).ok("ctr task pause");
    assert_eq!(ctr.task_status("c2"), "PAUSED");
    assert_eq!(sb.berth_state(&root, "c2")["status"], "paused");
    ctr.run(&["task", "resume", "c2"]).ok("ctr task resume");
    assert_eq!(ctr.task_status("c2"), "RUNNING");

    // kill (SIGTERM by default): the trap's exit status reaches containerd.
    ctr.run(&["task", "kill", "c2"]).ok("ctr task kill");
    assert!(
        eventually(Duration::from_secs(10), || ctr.task_status("c2")
            == "STOPPED"),
        "c2 still {} after SIGTERM",
        ctr.task_status("c2")
    );
    let out = ctr.run(&["task", "delete", "c2"]);
    assert!(out.status.success(), "ctr task delete: {}", out.stderr);
    assert!(out.stderr.contains("exit code 7"), "{}", out.stderr);
    ctr.run(&["container", "rm", "c2"]).ok("ctr container rm");
    assert!(
        cgroup_children(&ctr.ns, "c2").is_empty(),
        "cgroups left after delete: {:?}",
        cgroup_children(&ctr.ns, "c2")
    );
    tear_down(sb);
}

// ---------------------------------------------------------------- dockerd

struct Docker<'a> {
    sb: &'a Sandbox,
    host: String,
}

impl Docker<'_> {
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["docker".into(), "-H".into(), self.host.clone()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn run(&self, args: &[&str]) -> Done {
        let mut c = self.sb.cmd("docker");
        c.args(&self.argv(args)[1..]);
        run(c, None)
    }

    fn inspect(&self, id: &str, format: &str) -> String {
        self.run(&["inspect", "-f", format, id])
            .ok("docker inspect")
            .trim()
            .to_string()
    }
}

#[test]
fn dockerd_runs_execs_pauses_stats_and_stops_through_berth_runtime() {
    if !engine_available(&[("dockerd", "docker.io"), ("docker", "docker.io")]) {
        return;
    }
    let sb = Sandbox::new("dockerd");
    let d = sb.dir.path();
    // The trust key would otherwise go to /etc/docker/key.json.
    let config = json!({"deprecated-key-path": sb.path("key.json")});
    std::fs::write(sb.path("daemon.json"), config.to_string()).expect("daemon.json");
    let host = format!("unix://{}/docker.sock", d.display());
    let mut daemon = sb.cmd("dockerd");
    daemon
        .arg("--config-file")
        .arg(sb.path("daemon.json"))
        .arg("--data-root")
        .arg(sb.path("data"))
        .arg("--exec-root")
        .arg(sb.path("exec"))
        .arg("--pidfile")
        .arg(sb.path("dockerd.pid"))
        .args(["-H", &host])
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
        .args(["--storage-driver", "overlay2"])
        .arg(format!("--cgroup-parent=/{}", sb.cgroup))
        .arg(format!("--add-runtime=berth={BIN}"));
    sb.daemon("dockerd", daemon);
    let docker = Docker { sb: &sb, host };
    assert!(
        eventually(TIMEOUT, || docker.run(&["version"]).status.success()),
        "dockerd did not answer: {}",
        sb.log("dockerd")
    );
    let archive = image_archive(d);
    let out = docker
        .run(&["load", "-i", &archive.display().to_string()])
        .ok("docker load");
    assert!(out.contains(IMAGE), "{out}");

    // Foreground run: output and exit status.
    let out = docker.run(&[
        "run",
        "--runtime",
        "berth",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo hello-$((6*7)); exit 3",
    ]);
    assert_eq!(out.code(), 3, "docker run: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "hello-42");

    // -t without a terminal on the client: the console socket still gives
    // the container a pty, whose output (CRLF) comes back captured.
    let out = docker
        .run(&["run", "--runtime", "berth", "--rm", "-t", IMAGE, "tty"])
        .ok("docker run -t");
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(
        out.ends_with("\r\n"),
        "a pty turns \\n into \\r\\n: {out:?}"
    );

    // -it under a pty, as a user types it.
    let argv = docker.argv(&["run", "--runtime", "berth", "--rm", "-it", IMAGE, "sh"]);
    let out = sb.in_pty(&argv, "tty; echo tty-$((6*7)); exit 3\n");
    assert_eq!(
        out.code(),
        3,
        "docker run -it: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("/dev/pts/0"), "{}", out.stdout);
    assert!(out.stdout.contains("tty-42"), "{}", out.stdout);

    // A detached container.
    let id = docker
        .run(&[
            "run",
            "--runtime",
            "berth",
            "-d",
            "--name",
            "d1",
            IMAGE,
            "sh",
            "-c",
            TRAPPED,
        ])
        .ok("docker run -d")
        .trim()
        .to_string();
    assert_eq!(docker.inspect("d1", "{{.HostConfig.Runtime}}"), "berth");
    // Docker 20.10 gives every runtime the same `--root`, named after runc.
    let root = format!("{}/runtime-runc/moby", sb.path("exec").display());
    assert_eq!(sb.berth_state(&root, &id)["status"], "running");

    // exec: output and exit status, then -it under a pty.
    let out = docker.run(&[
        "exec",
        "d1",
        "sh",
        "-c",
        "echo in-exec $(cat /proc/1/comm); exit 5",
    ]);
    assert_eq!(out.code(), 5, "docker exec: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "in-exec sh");
    let argv = docker.argv(&["exec", "-it", "d1", "sh"]);
    let out = sb.in_pty(&argv, "tty; echo tty-$((6*7)); exit 6\n");
    assert_eq!(
        out.code(),
        6,
        "docker exec -it: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("/dev/pts/"), "{}", out.stdout);
    assert!(out.stdout.contains("tty-42"), "{}", out.stdout);

    // pause / unpause.
    docker.run(&["pause", "d1"]).ok("docker pause");
    assert_eq!(
        docker.inspect("d1", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert_eq!(sb.berth_state(&root, &id)["status"], "paused");
    docker.run(&["unpause", "d1"]).ok("docker unpause");
    assert_eq!(
        docker.inspect("d1", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );

    // stats: the container's own cgroup numbers (a shell and its sleep).
    let out = docker
        .run(&["stats", "--no-stream", "--format", "{{json .}}", "d1"])
        .ok("docker stats");
    let stats: Value = serde_json::from_str(out.trim()).expect("stats json");
    let pids: u32 = stats["PIDs"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((1..=3).contains(&pids), "PIDs: {stats}");
    let mem = stats["MemUsage"].as_str().unwrap_or_default();
    assert!(
        !mem.starts_with("0B") && mem.contains(" / "),
        "memory usage: {stats}"
    );

    // stop: SIGTERM reaches the trap well before docker's 10 s SIGKILL.
    let t = Instant::now();
    docker.run(&["stop", "d1"]).ok("docker stop");
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        t.elapsed()
    );
    assert_eq!(docker.inspect("d1", "{{.State.ExitCode}}"), "7");
    docker.run(&["rm", "d1"]).ok("docker rm");
    assert!(
        cgroup_children(&sb.cgroup, &id).is_empty(),
        "cgroups left after rm: {:?}",
        cgroup_children(&sb.cgroup, &id)
    );
    tear_down(sb);
}

// ---------------------------------------------------------------- podman

#[test]
fn podman_runs_and_execs_through_berth_runtime() {
    if !engine_available(&[("podman", "podman"), ("conmon", "conmon")]) {
        return;
    }
    let sb = Sandbox::new("podman");
    let d = sb.dir.path().display().to_string();
    let global: Vec<String> = vec![
        "podman".into(),
        "--root".into(),
        format!("{d}/storage"),
        "--runroot".into(),
        format!("{d}/runroot"),
        "--tmpdir".into(),
        format!("{d}/libpod"),
        "--runtime".into(),
        BIN.into(),
        "--cgroup-manager".into(),
        "cgroupfs".into(),
        "--events-backend".into(),
        "file".into(),
        "--storage-driver".into(),
        "overlay".into(),
    ];
    let podman = |args: &[&str]| {
        let mut c = sb.cmd("podman");
        c.args(&global[1..]).args(args);
        run(c, None)
    };
    let archive = image_archive(sb.dir.path());
    podman(&["load", "-i", &archive.display().to_string()]).ok("podman load");

    // Podman's default ulimits exceed this host's hard limits; the network is
    // not under test.
    let parent = format!("/{}", sb.cgroup);
    let run_opts = [
        "--pull",
        "never",
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut args = vec!["run", "--rm"];
    args.extend(run_opts);
    args.extend([IMAGE, "sh", "-c", "echo hello-$((6*7)); exit 3"]);
    let out = podman(&args);
    assert_eq!(out.code(), 3, "podman run: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "hello-42");

    let mut args = vec!["run", "-d", "--name", "p1"];
    args.extend(run_opts);
    args.extend([IMAGE, "sh", "-c", TRAPPED]);
    let id = podman(&args).ok("podman run -d").trim().to_string();
    assert_eq!(
        podman(&["inspect", "-f", "{{.OCIRuntime}}", "p1"])
            .ok("inspect")
            .trim(),
        BIN
    );

    let out = podman(&[
        "exec",
        "p1",
        "sh",
        "-c",
        "echo in-exec $(cat /proc/1/comm); exit 5",
    ]);
    assert_eq!(out.code(), 5, "podman exec: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "in-exec sh");
    let mut argv = global.clone();
    argv.extend(["exec", "-it", "p1", "sh"].iter().map(|s| s.to_string()));
    let out = sb.in_pty(&argv, "tty; echo tty-$((6*7)); exit 6\n");
    assert_eq!(
        out.code(),
        6,
        "podman exec -it: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("/dev/pts/"), "{}", out.stdout);
    assert!(out.stdout.contains("tty-42"), "{}", out.stdout);

    podman(&["pause", "p1"]).ok("podman pause");
    assert_eq!(
        podman(&["inspect", "-f", "{{.State.Status}}", "p1"])
            .ok("inspect")
            .trim(),
        "paused"
    );
    podman(&["unpause", "p1"]).ok("podman unpause");

    podman(&["stop", "-t", "8", "p1"]).ok("podman stop");
    assert_eq!(
        podman(&["inspect", "-f", "{{.State.ExitCode}}", "p1"])
            .ok("inspect")
            .trim(),
        "7"
    );
    podman(&["rm", "p1"]).ok("podman rm");
    assert!(
        cgroup_children(&sb.cgroup, &format!("libpod-{id}")).is_empty()
            && cgroup_children(&sb.cgroup, &id).is_empty(),
        "cgroups left after rm"
    );
    tear_down(sb);
}
