//! RUN: one command in a container of the stage's rootfs.
//!
//! The rootfs is an overlay of the stage's layers with a fresh upper dir
//! (mounted by the builder); the spec is the engine's, with Docker's
//! defaults (capabilities, seccomp profile, masked paths) and the build's
//! environment. The network is Docker's: by default a namespace of the
//! step's own on the default bridge network (NAT out), held through the
//! engine's [`berth_engine::network::TransientNet`] for the step's life;
//! `none` a new namespace with only `lo`; `host` the builder's. The
//! container is launched in process by the runtime and stays our child;
//! its output is streamed line by line to the progress writer. Mount
//! points the runtime had to create in the rootfs (`/proc`,
//! `/etc/hosts`...) are removed again so they do not end up in the layer.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_engine::imageconfig::RunConfig;
use berth_engine::network::NetNs;
use berth_engine::options::{ContainerOptions, MountKind, NetworkMode, DEFAULT_NETWORK};
use berth_engine::spec::{self, EtcFiles, HostMount};
use berth_sys::path::open_in_root;
use rustix::fs::{AtFlags, OFlags};

use crate::BuildError;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub network: StepNetwork,
    pub mounts: Vec<HostMount>,
}

/// A RUN step's network (`berth build --network`, `RUN --network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepNetwork {
    /// Docker's default: the default bridge network, in a namespace of
    /// the step's own.
    #[default]
    Bridge,
    /// The builder's own network namespace.
    Host,
    /// A new namespace with only `lo`.
    None,
}

impl StepNetwork {
    /// Docker's names: `default` (or `bridge`), `host`, `none`.
    pub fn parse(s: &str) -> Option<StepNetwork> {
        match s {
            "default" | "bridge" => Some(StepNetwork::Bridge),
            "host" => Some(StepNetwork::Host),
            "none" => Some(StepNetwork::None),
            _ => None,
        }
    }
}

/// Where the step's container lives.
#[derive(Debug)]
pub struct RunPlace<'a> {
    pub rootfs: &'a Path,
    /// A private scratch dir for the bundle and /etc files.
    pub scratch: &'a Path,
    pub engine: &'a berth_engine::Engine,
    pub id: String,
}

/// fds 0-2 are process-wide: one launch at a time swaps them. Whoever
/// writes to the process's stdout or stderr while other threads may
/// launch takes it too ([`stdio_lock`]), so no line lands in a step's pipe.
static LAUNCH: Mutex<()> = Mutex::new(());

/// Holds fds 0-2 steady (no launch swaps them) while the guard lives.
pub fn stdio_lock() -> std::sync::MutexGuard<'static, ()> {
    LAUNCH.lock().unwrap_or_else(|p| p.into_inner())
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |e| BuildError::Step(format!("{what}: {e}"))
}

/// Runs the command; calls `line` for each line of its output and
/// returns its exit status in the shell's convention.
pub fn run(
    place: &RunPlace<'_>,
    spec_in: &RunSpec,
    line: &mut dyn FnMut(&str),
) -> Result<i32, BuildError> {
    let etc = write_etc(place.scratch, spec_in.network)?;
    // Held until the step's container is gone; dropping it detaches.
    let net = match spec_in.network {
        StepNetwork::Bridge => Some(
            place
                .engine
                .transient_network(&place.id, Some(DEFAULT_NETWORK), "buildkitsandbox")
                .map_err(|e| BuildError::Step(format!("the step's network: {e}")))?,
        ),
        StepNetwork::Host | StepNetwork::None => None,
    };
    let netns = match (&net, spec_in.network) {
        (Some(n), _) => NetNs::Path(n.netns.clone()),
        (None, StepNetwork::Host) => NetNs::Host,
        (None, _) => NetNs::New,
    };
    let image = RunConfig {
        env: Some(spec_in.env.clone()),
        working_dir: Some(spec_in.workdir.clone()),
        ..Default::default()
    };
    let opts = ContainerOptions {
        cmd: spec_in.args.clone(),
        entrypoint: Some(Vec::new()),
        hostname: Some("buildkitsandbox".into()),
        network: match spec_in.network {
            StepNetwork::Host => NetworkMode::Host,
            StepNetwork::None => NetworkMode::None,
            StepNetwork::Bridge => NetworkMode::Bridge(DEFAULT_NETWORK.into()),
        },
        ..Default::default()
    };
    let user = berth_engine::user::resolve_in(place.rootfs, &spec_in.user, &[])
        .map_err(|e| BuildError::Step(format!("USER {}: {e}", spec_in.user)))?;
    let caps: Vec<String> = spec::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let seccomp = serde_json::to_value(berth_seccomp::default_profile(&caps))
        .map_err(|e| BuildError::Step(format!("seccomp profile: {e}")))?;
    let v = spec::build(&spec::Inputs {
        id: &place.id,
        image: &image,
        opts: &opts,
        rootfs: place.rootfs,
        user: &user,
        etc: &etc,
        mounts: &spec_in.mounts,
        devices: &[],
        caps: &caps,
        seccomp: Some(seccomp),
        cgroups_path: format!("/{}", place.id),
        netns: &netns,
        pidns: &spec::PidNs::New,
        hostname: "buildkitsandbox",
        init: None,
    })
    .map_err(|e| BuildError::Step(e.to_string()))?;
    let targets: Vec<String> = v["mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["destination"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let stubs = Stubs::before(place.rootfs, &targets, &spec_in.workdir)?;
    let bytes = serde_json::to_vec(&v).map_err(|e| BuildError::Step(e.to_string()))?;
    std::fs::write(place.scratch.join("config.json"), bytes).map_err(io("writing the spec"))?;

    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| io("creating a pipe")(e.into()))?;
    let runtime = place.engine.runtime();
    let pid = launch(&runtime, place, &w)?;
    drop(w);
    let mut reader = BufReader::new(std::fs::File::from(r));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => line(String::from_utf8_lossy(&buf).trim_end_matches('\n')),
        }
    }
    let exit = berth_sys::signal::wait_child(pid).map_err(io("waiting for the step"));
    let _ = runtime.delete(&place.id, true);
    stubs.remove(place.rootfs);
    let down = net.map_or(Ok(()), |n| n.down());
    let code = exit?.shell_code();
    down.map_err(|e| BuildError::Step(format!("taking down the step's network: {e}")))?;
    Ok(code)
}

/// `dup2(from, to)`.
fn dup2(from: i32, to: i32) -> std::io::Result<()> {
    // SAFETY: dup2 only takes descriptor numbers and touches no memory;
    // an invalid `from` is reported as an error.
    let rc = unsafe { libc::dup2(from, to) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Launches with stdin from /dev/null and stdout/stderr into `out`; the
/// runtime's init inherits fds 0-2, so they are swapped around the
/// launch and restored after it.
fn launch(
    runtime: &berth_runtime::Runtime,
    place: &RunPlace<'_>,
    out: &OwnedFd,
) -> Result<i32, BuildError> {
    let _g = stdio_lock();
    let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, 0.into())
        .map_err(|e| io("opening /dev/null")(e.into()))?;
    let mut saved = Vec::new();
    for fd in 0..3 {
        // SAFETY: F_DUPFD_CLOEXEC only takes descriptor numbers; a closed
        // fd is reported as an error.
        let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if d < 0 {
            return Err(io("saving stdio")(std::io::Error::last_os_error()));
        }
        // SAFETY: `d` was just returned by fcntl and is owned by no one else.
        saved.push(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(d) });
    }
    let swapped = dup2(null.as_raw_fd(), 0)
        .and_then(|()| dup2(out.as_raw_fd(), 1))
        .and_then(|()| dup2(out.as_raw_fd(), 2));
    let launched = swapped.map_err(io("redirecting stdio")).and_then(|()| {
        runtime
            .launch(&berth_runtime::CreateOptions {
                id: place.id.clone(),
                bundle: place.scratch.to_owned(),
                ..Default::default()
            })
            .map_err(|e| BuildError::Step(format!("starting the step's container: {e}")))
    });
    for (n, s) in saved.iter().enumerate() {
        let _ = dup2(s.as_raw_fd(), n as i32);
    }
    launched
}

fn write_etc(scratch: &Path, network: StepNetwork) -> Result<EtcFiles, BuildError> {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let files = EtcFiles {
        hosts: scratch.join("hosts"),
        hostname: scratch.join("hostname"),
        resolv_conf: scratch.join("resolv.conf"),
    };
    let w = |p: &PathBuf, s: String| std::fs::write(p, s).map_err(io("writing /etc files"));
    let (hosts, resolv) = if network == StepNetwork::Host {
        let hosts = std::fs::read_to_string("/etc/hosts")
            .unwrap_or_else(|_| berth_net::hosts_file("buildkitsandbox", None, None, &[]));
        (hosts, host_resolv)
    } else {
        (
            berth_net::hosts_file("buildkitsandbox", None, None, &[]),
            berth_net::resolv_conf(&host_resolv, &Default::default()),
        )
    };
    w(&files.hosts, hosts)?;
    w(&files.hostname, "buildkitsandbox\n".into())?;
    w(&files.resolv_conf, resolv)?;
    Ok(files)
}

/// Mount points missing from the rootfs before the run.
struct Stubs(Vec<String>);

impl Stubs {
    fn before(rootfs: &Path, targets: &[String], workdir: &str) -> Result<Stubs, BuildError> {
        let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY, 0.into())
            .map_err(|e| io("opening the rootfs")(e.into()))?;
        let mut missing = Vec::new();
        for t in targets.iter().map(String::as_str).chain([workdir]) {
            let mut p = PathBuf::from("/");
            for c in Path::new(t).components().skip(1) {
                p.push(c);
                let s = p.display().to_string();
                if !missing.contains(&s) && open_in_root(root.as_fd(), &p, OFlags::PATH).is_err() {
                    missing.push(s);
                }
            }
        }
        // Deepest first.
        missing.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Stubs(missing))
    }

    /// Removes what the run left of the stubs: empty files and dirs only.
    fn remove(&self, rootfs: &Path) {
        let Ok(root) = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY, 0.into()) else {
            return;
        };
        for s in &self.0 {
            let p = Path::new(s);
            let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
                continue;
            };
            let Ok(dir) = open_in_root(root.as_fd(), parent, OFlags::PATH | OFlags::DIRECTORY)
            else {
                continue;
            };
            match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => {
                    let _ = rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR);
                }
                Ok(st) if st.st_size == 0 => {
                    let _ = rustix::fs::unlinkat(&dir, name, AtFlags::empty());
                }
                _ => {}
            }
        }
    }
}

/// A `--mount=type=cache` or `type=bind` (from the context) as a host
/// mount; the source directory is made by the caller.
pub fn bind(target: &str, source: PathBuf, read_only: bool) -> HostMount {
    HostMount {
        target: target.to_owned(),
        source: source.clone(),
        kind: MountKind::Bind { source },
        read_only,
        options: Vec::new(),
    }
}
