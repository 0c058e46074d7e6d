//! What any `berth` command does to an existing container: find it, read
//! its true state, stop, kill, wait for, rename and remove it. The rootfs
//! mount and the spec are made here too, for the supervisor.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_sys::signal;

use crate::error::{invalid, io_err, Error, Result, TeardownErrors};
use crate::options::{MountKind, PidMode, SeccompChoice};
use crate::record::{self, read_json, write_json, Locked, Paths, Record, State, Status};
use crate::spec::{self, HostDevice, HostMount};
use crate::Engine;

/// A container as `ps` and `inspect` see it.
#[derive(Debug, Clone)]
pub struct Container {
    pub record: Record,
    pub state: State,
}

impl Engine {
    /// Every container id under the root.
    pub fn ids(&self) -> Result<Vec<String>> {
        let dir = self.containers_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &dir)(e)),
        };
        let mut ids: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Finds a container by name, full id or unique id prefix.
    pub fn resolve(&self, arg: &str) -> Result<String> {
        let name = arg.strip_prefix('/').unwrap_or(arg);
        if crate::ids::check_name(name).is_ok() {
            if let Ok(id) = fs::read_to_string(self.names_dir().join(name)) {
                if self.paths(&id).record().exists() {
                    return Ok(id);
                }
            }
        }
        if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|i| i.starts_with(arg))
                .collect();
            match hits.len() {
                1 => return Ok(hits.into_iter().next().unwrap_or_default()),
                0 => {}
                _ => return Err(Error::Ambiguous(arg.to_owned())),
            }
        }
        Err(Error::NoSuchContainer(arg.to_owned()))
    }

    /// The container's record and its true state: a state that says
    /// running while neither the container nor its supervisor lives is
    /// corrected (and saved) as exited.
    pub fn container(&self, id: &str) -> Result<Container> {
        let paths = self.paths(id);
        let record: Record = read_json(&paths.record()).map_err(|e| match e {
            Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::NoSuchContainer(id.to_owned())
            }
            e => e,
        })?;
        let mut state: State = record::read_state(&paths.state())?;
        if state.is_abandoned() {
            let lock = Locked::acquire(paths.clone())?;
            state = lock.state()?;
            if state.is_abandoned() {
                state.status = Status::Exited;
                state.exit_code = if state.exit_code == 0 {
                    255
                } else {
                    state.exit_code
                };
                state.finished_at.get_or_insert_with(record::now);
                state.error = "the supervisor died; the exit status is unknown".into();
                state.pid = 0;
                lock.save(&state)?;
                drop(lock);
                let _ = self.runtime().delete(id, true);
                let _ = unmount_rootfs(&paths);
                let _ = self.network_down(id);
            }
        }
        Ok(Container { record, state })
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        self.sweep_trash();
        let mut v: Vec<Container> = self
            .ids()?
            .iter()
            .filter_map(|id| self.container(id).ok())
            .collect();
        v.sort_by(|a, b| b.record.created.cmp(&a.record.created));
        Ok(v)
    }

    /// The containers that mount each named volume: volume name → ids.
    pub fn volume_users(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in self.list()? {
            for m in &c.record.options.mounts {
                if let MountKind::Volume { name } = &m.kind {
                    users
                        .entry(name.clone())
                        .or_default()
                        .push(c.record.id.clone());
                }
            }
        }
        Ok(users)
    }

    /// Sends `sig` to the container's init.
    pub fn kill(&self, id: &str, sig: i32) -> Result<()> {
        let c = self.container(id)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(Error::WrongState {
                id: id.to_owned(),
                state: c.state.status.as_str().into(),
                action: "kill",
                hint: "",
            });
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM {
            self.mark_stopped_by_user(id)?;
        }
        let fd = signal::pidfd(c.state.pid).map_err(io_err(
            "opening a pidfd for",
            format!("pid {}", c.state.pid),
        ))?;
        if !record::alive(c.state.pid, c.state.pid_start) {
            return Ok(());
        }
        signal::pidfd_kill(&fd, sig).map_err(io_err("signalling", format!("container {id}")))
    }

    /// Clears the "stopped by user" mark before a user's start.
    pub fn reset_stop_flag(&self, id: &str) -> Result<()> {
        Locked::acquire(self.paths(id))?.update(|s| s.stopped_by_user = false)?;
        Ok(())
    }

    fn mark_stopped_by_user(&self, id: &str) -> Result<()> {
        Locked::acquire(self.paths(id))?.update(|s| s.stopped_by_user = true)?;
        Ok(())
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout`; returns when
    /// the supervisor has recorded the exit.
    pub fn stop(&self, id: &str, timeout: Option<u32>) -> Result<()> {
        self.stop_with(id, timeout, None)
    }

    /// `stop` with an explicit signal (`stop -s`).
    pub fn stop_with(&self, id: &str, timeout: Option<u32>, signal: Option<&str>) -> Result<()> {
        let c = self.container(id)?;
        self.mark_stopped_by_user(id)?;
        if !matches!(
            c.state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) {
            return Ok(());
        }
        let sig = match signal.or(c.record.options.stop_signal.as_deref()).or(c
            .record
            .config
            .stop_signal
            .as_deref())
        {
            Some(s) => crate::options::parse_signal(s)?,
            None => libc::SIGTERM,
        };
        let timeout = timeout.or(c.record.options.stop_timeout).unwrap_or(10);
        if c.state.status == Status::Paused {
            let _ = self.unpause(id);
        }
        if record::alive(c.state.pid, c.state.pid_start) {
            if let Ok(fd) = signal::pidfd(c.state.pid) {
                let _ = signal::pidfd_kill(&fd, sig);
                let gone = signal::pidfd_wait_exit(&fd, Some(Duration::from_secs(timeout.into())))
                    .unwrap_or(false);
                if !gone {
                    let _ = signal::pidfd_kill(&fd, libc::SIGKILL);
                    let _ = signal::pidfd_wait_exit(&fd, Some(Duration::from_secs(10)));
                }
            }
        }
        self.wait_recorded(id, Duration::from_secs(10))
    }

    /// Waits until the supervisor of a container whose init is gone has
    /// written the exit (or is gone too).
    fn wait_recorded(&self, id: &str, limit: Duration) -> Result<()> {
        let end = Instant::now() + limit;
        loop {
            let c = self.container(id)?;
            let sup_alive = record::alive(c.state.supervisor_pid, c.state.supervisor_start);
            if !matches!(
                c.state.status,
                Status::Running | Status::Paused | Status::Restarting
            ) || !sup_alive
            {
                // Wait for the supervisor's teardown too.
                if sup_alive {
                    if let Ok(fd) = signal::pidfd(c.state.supervisor_pid) {
                        let left = end.saturating_duration_since(Instant::now());
                        let _ = signal::pidfd_wait_exit(&fd, Some(left));
                    }
                }
                return Ok(());
            }
            if Instant::now() > end {
                return Err(Error::Start(format!(
                    "container {id} did not stop in time; its supervisor (pid {}) is still running",
                    c.state.supervisor_pid
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `wait`: blocks until the container is not running; its exit code.
    pub fn wait(&self, id: &str) -> Result<i32> {
        loop {
            let c = self.container(id)?;
            match c.state.status {
                Status::Exited | Status::Dead => return Ok(c.state.exit_code),
                Status::Running | Status::Paused
                    if record::alive(c.state.pid, c.state.pid_start) =>
                {
                    if let Ok(fd) = signal::pidfd(c.state.pid) {
                        let _ = signal::pidfd_wait_exit(&fd, Some(Duration::from_millis(500)));
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        if c.state.status != Status::Running {
            return Err(Error::WrongState {
                id: id.to_owned(),
                state: c.state.status.as_str().into(),
                action: "pause",
                hint: "",
            });
        }
        self.cgroup(id)?.freeze()?;
        Locked::acquire(self.paths(id))?.update(|s| s.status = Status::Paused)?;
        Ok(())
    }

    pub fn unpause(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        if c.state.status != Status::Paused {
            return Err(Error::WrongState {
                id: id.to_owned(),
                state: c.state.status.as_str().into(),
                action: "unpause",
                hint: "",
            });
        }
        self.cgroup(id)?.thaw()?;
        Locked::acquire(self.paths(id))?.update(|s| s.status = Status::Running)?;
        Ok(())
    }

    /// The cgroup of a running container, from the runtime's state.
    pub fn cgroup(&self, id: &str) -> Result<berth_cgroups::Cgroup> {
        let rt = self.runtime();
        let r = berth_runtime::state::Record::load(&rt.root, id)?;
        Ok(berth_cgroups::Cgroup::from_state(
            &rt.cgroup_root,
            &r.cgroup,
        )?)
    }

    /// `rm`: a stopped container's files, name and (with `volumes`) its
    /// anonymous volumes; `force` kills a running one first.
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let c = match self.container(id) {
            Ok(c) => c,
            // A record that cannot be read (a disk that lost it, a hand
            // that edited it) is what `rm -f` is for.
            Err(Error::Corrupt { .. }) if force => return self.remove_unreadable(id),
            Err(e) => return Err(e),
        };
        if matches!(
            c.state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) {
            if !force {
                return Err(Error::WrongState {
                    id: id.to_owned(),
                    state: c.state.status.as_str().into(),
                    action: "remove",
                    hint: ": stop it first or use --force",
                });
            }
            self.mark_stopped_by_user(id)?;
            if c.state.status == Status::Paused {
                let _ = self.cgroup(id).and_then(|cg| Ok(cg.thaw()?));
            }
            if let Ok(fd) = signal::pidfd(c.state.pid) {
                if record::alive(c.state.pid, c.state.pid_start) {
                    let _ = signal::pidfd_kill(&fd, libc::SIGKILL);
                    let _ = signal::pidfd_wait_exit(&fd, Some(Duration::from_secs(10)));
                }
            }
            self.wait_recorded(id, Duration::from_secs(10))?;
        }
        self.remove_stopped(id, volumes)
    }

    /// `rm -f` of a container whose record is unreadable: its init, if
    /// the run state names a live one, is killed; then the rest goes.
    fn remove_unreadable(&self, id: &str) -> Result<()> {
        let st = record::read_state(&self.paths(id).state()).unwrap_or_default();
        if st.pid > 0 && record::alive(st.pid, st.pid_start) {
            if let Ok(fd) = signal::pidfd(st.pid) {
                let _ = signal::pidfd_kill(&fd, libc::SIGKILL);
                let _ = signal::pidfd_wait_exit(&fd, Some(Duration::from_secs(10)));
            }
        }
        self.remove_stopped(id, false)
    }

    /// Removes a container that is not running.
    pub fn remove_stopped(&self, id: &str, volumes: bool) -> Result<()> {
        let trash = self.unlink_stopped(id, volumes);
        if let Ok(Some(t)) = &trash {
            fs::remove_dir_all(t).map_err(io_err("removing", t))?;
        }
        trash.map(|_| ())
    }

    /// Removes a stopped container from every view (name, records,
    /// runtime state, networks, mounts) and renames its directory away;
    /// returns that directory for the caller to delete when it suits it
    /// (`--rm` reports the exit first: a container's upper dir can be big).
    pub(crate) fn unlink_stopped(&self, id: &str, volumes: bool) -> Result<Option<PathBuf>> {
        let paths = self.paths(id);
        let record: Option<Record> = read_json(&paths.record()).ok();
        let mut errs = TeardownErrors::default();
        if self.runtime().state(id).is_ok() {
            errs.push(self.runtime().delete(id, true).map_err(Error::from));
        }
        errs.push(unmount_rootfs(&paths));
        errs.push(self.network_down(id));
        // Without a readable record, the name is found by what it holds.
        let names: Vec<PathBuf> = match &record {
            Some(r) => vec![self.names_dir().join(&r.name)],
            None => fs::read_dir(self.names_dir())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect(),
        };
        for name_file in names {
            if fs::read_to_string(&name_file).ok().as_deref() == Some(id) {
                errs.push(fs::remove_file(&name_file).map_err(io_err("removing", &name_file)));
            }
        }
        if let Some(r) = &record {
            if volumes {
                let anonymous: Vec<&String> = r
                    .options
                    .mounts
                    .iter()
                    .filter_map(|m| match &m.kind {
                        MountKind::Volume { name } => Some(name),
                        _ => None,
                    })
                    .filter(|name| self.volumes().inspect(name).is_ok_and(|v| v.anonymous))
                    .collect();
                // One another container mounts too (`--volumes-from`)
                // stays, as under Docker. Looked up only when there is one.
                if !anonymous.is_empty() {
                    let users = self.volume_users().unwrap_or_default();
                    for name in anonymous {
                        let shared = users
                            .get(name)
                            .is_some_and(|ids| ids.iter().any(|u| u != id));
                        if !shared {
                            errs.push(self.volumes().remove(name));
                        }
                    }
                }
            }
        }
        // Renamed away first: a half-removed directory is never taken for
        // a container.
        let gone = self.containers_dir().join(format!(".rm-{id}"));
        let trash = match fs::rename(&paths.dir, &gone) {
            Ok(()) => Some(gone),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                errs.push(Err(io_err("removing", &paths.dir)(e)));
                None
            }
        };
        errs.into_result().map(|()| trash)
    }

    /// Deletes what removals left renamed away: interrupted by a crash,
    /// or being deleted right now by a `--rm` supervisor (two deletions of
    /// one tree end the same way).
    fn sweep_trash(&self) {
        for e in fs::read_dir(self.containers_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(".rm-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// `rename`.
    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let new_name = crate::ids::check_name(new_name)?.to_owned();
        let paths = self.paths(id);
        let lock = Locked::acquire(paths.clone())?;
        let mut record: Record = read_json(&paths.record())?;
        if record.name == new_name {
            return Err(invalid(
                "name",
                &new_name,
                "the container already has this name",
            ));
        }
        self.reserve_name(&new_name, id)?;
        let old = self.names_dir().join(&record.name);
        record.name = new_name.clone();
        record.options.name = Some(new_name);
        write_json(&paths.record(), &record)?;
        let _ = fs::remove_file(old);
        drop(lock);
        Ok(())
    }
}

/// Mounts the container's overlay (image layers + its own upper dir) on
/// `rootfs/`, unless it already is.
pub fn mount_rootfs(paths: &Paths, record: &Record) -> Result<()> {
    let target = paths.rootfs();
    if is_mountpoint(&target) {
        return Ok(());
    }
    let mut layers = record.layers.clone();
    if layers.is_empty() {
        // An image without layers: an empty lower dir.
        let empty = paths.dir.join("empty");
        fs::create_dir_all(&empty).map_err(io_err("creating", &empty))?;
        layers.push(empty);
    }
    let snap = berth_image::snapshot::Snapshot::new(layers, Some((paths.upper(), paths.work())));
    let mut data = snap.overlay_options().unwrap_or_default();
    if record.options.auto_remove {
        // The upper dir of a `--rm` container dies with it: nothing in it
        // needs a sync, and the one an overlay's unmount makes is of the
        // whole filesystem under it (whatever else is dirty there).
        data.push_str(",volatile");
    }
    if data.len() >= 4096 {
        return Err(invalid(
            "image",
            &record.image,
            "too many layers for one overlay mount (its options exceed a page)",
        ));
    }
    let mount = |data: &str| {
        berth_sys::mount::mount(Some(b"overlay"), &target, Some("overlay"), 0, Some(data))
    };
    match mount(&data) {
        // `volatile` is Linux 5.10's: without it, the sync is only slower.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && data.ends_with(",volatile") => {
            mount(data.trim_end_matches(",volatile"))
        }
        r => r,
    }
    .map_err(io_err("mounting the overlay rootfs on", &target))
}

pub fn unmount_rootfs(paths: &Paths) -> Result<()> {
    let t = paths.rootfs();
    while is_mountpoint(&t) {
        berth_sys::mount::unmount_detach(&t).map_err(io_err("unmounting", &t))?;
    }
    Ok(())
}

pub(crate) fn is_mountpoint(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(p), p.parent().map(fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Settles mounts, devices, user and seccomp, and writes the bundle's
/// `config.json`.
pub fn write_spec(
    engine: &Engine,
    paths: &Paths,
    record: &Record,
    net: &crate::network::NetUp,
) -> Result<oci_spec::runtime::Spec> {
    let opts = &record.options;
    let rootfs = paths.rootfs();
    let user_spec = opts
        .user
        .clone()
        .or_else(|| record.config.user.clone())
        .unwrap_or_default();
    let user = crate::user::resolve_in(&rootfs, &user_spec, &opts.group_add)?;
    let mounts = host_mounts(engine, record)?;
    let devices = host_devices(record)?;
    let bounding = spec::host_bounding();
    let caps = spec::capabilities(opts, &bounding);
    if let Some(c) = opts
        .cap_add
        .iter()
        .find(|c| *c != "ALL" && !bounding.contains(c))
    {
        return Err(invalid(
            "capability",
            c,
            "berth does not hold it (it is not in berth's own bounding set), so it cannot give it",
        ));
    }
    // Docker: --privileged and seccomp=unconfined run without a filter.
    let profile = match (&opts.security.seccomp, opts.privileged) {
        (_, true) | (SeccompChoice::Unconfined, _) => None,
        (SeccompChoice::Default, _) => Some(berth_seccomp::default_profile(&caps)),
        (SeccompChoice::Profile(text), _) => Some(
            berth_seccomp::parse_docker_profile(text.as_bytes(), &caps).map_err(|e| {
                invalid(
                    "seccomp profile",
                    "--security-opt seccomp=...",
                    e.to_string(),
                )
            })?,
        ),
    };
    let seccomp = profile
        .map(|p| serde_json::to_value(p).map_err(|e| invalid("seccomp profile", "", e.to_string())))
        .transpose()?;
    let etc = crate::etc::files(paths);
    let init = if opts.init {
        Some(init_binary()?)
    } else {
        None
    };
    let pidns = match &opts.pid {
        PidMode::Private => spec::PidNs::New,
        PidMode::Host => spec::PidNs::Host,
        PidMode::Container(other) => {
            let (pid, _, _) = engine.live_peer(other, "the pid namespace")?;
            spec::PidNs::Path(PathBuf::from(format!("/proc/{pid}/ns/pid")))
        }
    };
    let v = spec::build(&spec::Inputs {
        id: &record.id,
        image: &record.config,
        opts,
        rootfs: &rootfs,
        user: &user,
        etc: &etc,
        mounts: &mounts,
        devices: &devices,
        caps: &caps,
        seccomp,
        // One flat directory per container: no shared parent to race on
        // or leave behind.
        cgroups_path: format!("/berth-{}", record.id),
        netns: &net.netns,
        pidns: &pidns,
        hostname: &net.hostname,
        init: init.as_deref(),
    })?;
    let p = paths.dir.join("config.json");
    record::write_json_volatile(&p, &v)?;
    // The runtime's own type for it, without a round trip through the file.
    serde_json::from_value(v).map_err(|source| Error::Corrupt { path: p, source })
}

/// The init `--init` runs: `BERTH_INIT_PATH`, else a static tini (what
/// Docker ships as docker-init). It must not need the image's libraries.
pub fn init_binary() -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("BERTH_INIT_PATH") {
        Some(p) => vec![PathBuf::from(p)],
        None => [
            "/usr/bin/tini-static",
            "/usr/sbin/docker-init",
            "/usr/libexec/docker/docker-init",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    };
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            invalid(
                "flag",
                "--init",
                "no init binary found: install a static tini (apt-get install tini) or set BERTH_INIT_PATH",
            )
        })
}

fn host_mounts(engine: &Engine, record: &Record) -> Result<Vec<HostMount>> {
    let mut out = Vec::new();
    for m in &record.options.mounts {
        let source = match &m.kind {
            MountKind::Bind { source } => {
                if !source.exists() {
                    // `-v` makes a missing host directory, as Docker does.
                    fs::create_dir_all(source).map_err(io_err("creating bind source", source))?;
                }
                source.clone()
            }
            MountKind::Volume { name } => {
                let d = engine.volumes().data(name);
                if !d.exists() {
                    engine.volumes().create(name, Default::default(), false)?;
                }
                d
            }
            MountKind::Tmpfs => PathBuf::from("tmpfs"),
        };
        out.push(HostMount {
            target: m.target.clone(),
            source,
            kind: m.kind.clone(),
            read_only: m.read_only,
            options: m.options.clone(),
        });
    }
    Ok(out)
}

fn host_devices(record: &Record) -> Result<Vec<HostDevice>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for d in &record.options.devices {
        let md = fs::metadata(&d.host).map_err(io_err("reading device", &d.host))?;
        let ft = md.file_type();
        let kind = if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else {
            return Err(invalid(
                "device",
                &d.host.to_string_lossy(),
                "not a device node",
            ));
        };
        let rdev = md.rdev();
        out.push(HostDevice {
            path: d.container.clone(),
            kind,
            major: libc::major(rdev) as i64,
            minor: libc::minor(rdev) as i64,
            mode: md.mode(),
            permissions: d.permissions.clone(),
        });
    }
    Ok(out)
}

/// Whether the kernel OOM-killed a process of the container's cgroup.
pub fn oom_killed(engine: &Engine, id: &str) -> bool {
    let Ok(cg) = engine.cgroup(id) else {
        return false;
    };
    for h in cg.hierarchies() {
        let file = if h.v2 {
            h.dir.join("memory.events")
        } else if h.controllers.iter().any(|c| c == "memory") {
            h.dir.join("memory.oom_control")
        } else {
            continue;
        };
        if let Ok(t) = fs::read_to_string(file) {
            let kills = t
                .lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if kills > 0 {
                return true;
            }
        }
    }
    false
}
