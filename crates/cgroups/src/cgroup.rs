//! [`Cgroup`]: one container's cgroup across every hierarchy it lives in.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::fsio;
use crate::mounts::System;
use crate::policy::{self, Probe, Target};
use crate::{Error, Layout};

/// One hierarchy of a [`Cgroup`], as [`Cgroup::hierarchies`] lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HierarchyDir {
    /// `true` for cgroup2.
    pub v2: bool,
    /// v1 controllers (with `name=...`), the options to mount the hierarchy with; empty for v2.
    pub controllers: Vec<String>,
    /// Absolute mount point of the hierarchy on the host.
    pub mount_point: PathBuf,
    /// The cgroup's directory in it.
    pub dir: PathBuf,
}

/// The directory of the cgroup in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dir {
    v2: bool,
    /// v1 controllers (with `name=...`); empty for v2.
    controllers: Vec<String>,
    /// Absolute mount point of the hierarchy.
    mount: PathBuf,
    /// Cgroup path inside the hierarchy, starting with `/`.
    path: PathBuf,
}

impl Dir {
    fn name(&self) -> String {
        if self.v2 {
            "unified".into()
        } else {
            self.controllers.join(",")
        }
    }

    fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }

    fn full(&self) -> PathBuf {
        self.mount.join(rel(&self.path))
    }

    fn file(&self, f: &str) -> PathBuf {
        self.full().join(f)
    }
}

fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// Controllers a pure-v2 `create` enables for its children, when the parent offers them.
const V2_DEFAULT_CONTROLLERS: &[&str] = &["cpuset", "cpu", "io", "memory", "hugetlb", "pids"];

/// How long `freeze`/`thaw` wait for the kernel to report the new state.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Stats read back from the cgroup. Limits are `None` when unlimited; usages are 0 when the
/// controller is not present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub cpu_usage_ns: u64,
    pub memory_usage: u64,
    pub memory_max_usage: Option<u64>,
    pub memory_limit: Option<u64>,
    pub pids_current: u64,
    pub pids_limit: Option<u64>,
    pub io_read_bytes: u64,
    pub io_write_bytes: u64,
}

/// One container's cgroup across every hierarchy it lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    root: PathBuf,
    layout: Layout,
    dirs: Vec<Dir>,
}

fn bad_path(p: &str, reason: &str) -> Error {
    Error::BadPath {
        path: p.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks a cgroups path (or container id) and returns it normalised.
fn check_path(p: &str) -> Result<PathBuf, Error> {
    if p.chars().any(char::is_control) {
        return Err(bad_path(p, "control characters are not allowed"));
    }
    if p.contains(':') && !p.starts_with('/') {
        return Err(bad_path(
            p,
            "looks like a systemd slice:prefix:name path; berth uses the cgroupfs driver, give a plain path",
        ));
    }
    let mut out = PathBuf::from(if p.starts_with('/') { "/" } else { "" });
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(bad_path(p, "\"..\" is not allowed"))
            }
        }
    }
    if out.as_os_str().is_empty() || out == Path::new("/") {
        return Err(bad_path(p, "resolves to a hierarchy's root cgroup"));
    }
    Ok(out)
}

impl Cgroup {
    /// Resolves the spec's cgroupsPath like runc's fs driver: absolute paths start at each
    /// hierarchy's root; relative ones (an empty or missing path means the container id) go
    /// under the calling process's own cgroup of that hierarchy (`/proc/self/cgroup`).
    pub fn new(
        root: &Path,
        cgroups_path: Option<&Path>,
        container_id: &str,
    ) -> Result<Self, Error> {
        let sys = System::probe(root)?;
        Self::with_system(&sys, cgroups_path, container_id)
    }

    /// [`Cgroup::new`] on a given view of the host (tests build one from fake text).
    pub fn with_system(
        sys: &System,
        cgroups_path: Option<&Path>,
        container_id: &str,
    ) -> Result<Self, Error> {
        let raw = match cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => p
                .to_str()
                .ok_or_else(|| bad_path(&p.to_string_lossy(), "not valid UTF-8"))?
                .to_string(),
            None => container_id.to_string(),
        };
        let wanted = check_path(&raw)?;
        let mut dirs = Vec::new();
        for h in &sys.hierarchies {
            if h.v2 && sys.layout == Layout::Legacy {
                continue;
            }
            let path = if wanted.is_absolute() {
                wanted.clone()
            } else {
                sys.own_path(h)?.join(&wanted)
            };
            dirs.push(Dir {
                v2: h.v2,
                controllers: h.controllers.clone(),
                mount: h.mount_point.clone(),
                path,
            });
        }
        Ok(Cgroup {
            root: sys.root.clone(),
            layout: sys.layout,
            dirs,
        })
    }

    /// No cgroup at all: what a rootless container without a delegated
    /// cgroup runs in (as runc does when no limits are asked for). Every
    /// operation on it is a no-op; the freezer is missing.
    pub fn none(root: &Path, layout: Layout) -> Self {
        Cgroup {
            root: root.to_path_buf(),
            layout,
            dirs: Vec::new(),
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The cgroupfs root this cgroup was resolved under (e.g. `/sys/fs/cgroup`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every hierarchy this cgroup lives in, with what a container's own
    /// `/sys/fs/cgroup` mount needs: the mount to make and the directory to bind.
    pub fn hierarchies(&self) -> Vec<HierarchyDir> {
        self.dirs
            .iter()
            .map(|d| HierarchyDir {
                v2: d.v2,
                controllers: d.controllers.clone(),
                mount_point: d.mount.clone(),
                dir: d.full(),
            })
            .collect()
    }

    /// `(hierarchy name, absolute directory)` for each hierarchy, e.g. `("memory", ...)`.
    pub fn paths(&self) -> Vec<(String, PathBuf)> {
        self.dirs.iter().map(|d| (d.name(), d.full())).collect()
    }

    fn v2_dir(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.v2)
    }

    fn v1_dir(&self, c: &str) -> Option<&Dir> {
        self.dirs.iter().find(|d| !d.v2 && d.has(c))
    }

    fn dir_for(&self, t: Target) -> Option<&Dir> {
        match t {
            Target::V1(c) => self.v1_dir(c),
            Target::V2 => self.v2_dir(),
        }
    }

    /// Makes the directory in every hierarchy. On pure v2, enables the usual controllers in the
    /// parents' `cgroup.subtree_control` first; on hybrid hosts the v2 side is only joined.
    pub fn create(&self) -> Result<(), Error> {
        self.create_side(true)?;
        self.create_side(false)
    }

    /// Makes only the v2 directory (pure v2, or the unified side of a hybrid host): enough for
    /// clone3's `CLONE_INTO_CGROUP`. [`Cgroup::create_v1`] makes the rest later; `create` both.
    pub fn create_v2(&self) -> Result<(), Error> {
        self.create_side(true)
    }

    /// Makes the v1 directories only.
    pub fn create_v1(&self) -> Result<(), Error> {
        self.create_side(false)
    }

    fn create_side(&self, v2: bool) -> Result<(), Error> {
        for d in self.dirs.iter().filter(|d| d.v2 == v2) {
            if d.v2 {
                let want: Vec<String> = if self.layout == Layout::Unified {
                    V2_DEFAULT_CONTROLLERS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    Vec::new()
                };
                walk_v2(d, &want, true)?;
            } else if d.has("cpuset") {
                create_cpuset(d)?;
            } else {
                let p = d.full();
                fs::create_dir_all(&p).map_err(|source| Error::Mkdir { path: p, source })?;
            }
            tracing::debug!(path = %d.full().display(), "cgroup created");
        }
        Ok(())
    }

    /// Validates `r` into a plan, then applies it. Nothing is written if validation fails.
    pub fn set(&self, r: &LinuxResources) -> Result<(), Error> {
        let plan = policy::plan(self.layout, r, self)?;
        if !plan.v2_controllers.is_empty() {
            if let Some(d) = self.v2_dir() {
                walk_v2(d, &plan.v2_controllers, false)?;
            }
        }
        let quota_follows = plan.writes.iter().any(|w| w.file == "cpu.cfs_quota_us");
        // v1: a shorter period is refused (EINVAL) while the old quota over it would exceed the
        // parent's limit; as runc, it is written again once the new quota is in.
        let mut period_again: Option<(PathBuf, &str)> = None;
        for w in &plan.writes {
            let Some(d) = self.dir_for(w.target) else {
                continue; // planning checked `has`; unreachable in practice
            };
            let path = d.file(&w.file);
            if w.if_exists && !path.exists() {
                tracing::debug!(path = %path.display(), "skipping absent optional file");
                continue;
            }
            match fsio::write(&path, &w.value) {
                Ok(()) => {}
                Err(Error::Write { source, .. })
                    if w.file == "cpu.cfs_period_us"
                        && quota_follows
                        && source.raw_os_error() == Some(libc::EINVAL) =>
                {
                    period_again = Some((path, &w.value));
                }
                Err(e) => return Err(e),
            }
            if w.file == "cpu.cfs_quota_us" {
                if let Some((p, v)) = period_again.take() {
                    fsio::write(&p, v)?;
                }
            }
        }
        if let (Some(rules), Some(d)) = (&plan.device_filter, self.v2_dir()) {
            let p = d.full();
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&p)
                .map_err(|source| Error::Open {
                    path: p.clone(),
                    source,
                })?;
            crate::bpf::install(dir.as_fd(), &p, rules)?;
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_task(&self, pid: i32) -> Result<(), Error> {
        for d in &self.dirs {
            fsio::write(&d.file("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Moves the calling process into every v1 hierarchy by writing "0" (itself) to `tasks`.
    /// The process must be single-threaded. This is the fast way in: for a thread moving
    /// itself the kernel skips the global threadgroup lock that a write of another pid to
    /// `cgroup.procs` takes (an RCU grace period, tens of milliseconds on a v1 host).
    pub fn join_self_v1(&self) -> Result<(), Error> {
        for d in self.dirs.iter().filter(|d| !d.v2) {
            fsio::write(&d.file("tasks"), "0")?;
        }
        Ok(())
    }

    /// Adds `pid` to the v2 side only (pure v2 or the unified part of a hybrid host), for when
    /// clone3 could not start it there.
    pub fn add_task_v2(&self, pid: i32) -> Result<(), Error> {
        if let Some(d) = self.v2_dir() {
            fsio::write(&d.file("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// An `O_PATH` fd of the v2 directory (pure v2, or the unified side of a hybrid host) for
    /// clone3's `CLONE_INTO_CGROUP`; `None` on pure v1 or if it cannot be opened.
    pub fn clone_into_fd(&self) -> Option<OwnedFd> {
        let d = self.v2_dir()?;
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(d.full())
            .ok()
            .map(OwnedFd::from)
    }

    /// The hierarchy used for process lists and freezing.
    fn primary(&self) -> Option<&Dir> {
        if self.layout == Layout::Unified {
            return self.v2_dir();
        }
        ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|c| self.v1_dir(c))
            .or_else(|| self.dirs.first())
    }

    /// Processes in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let Some(d) = self.primary() else {
            return Ok(Vec::new());
        };
        let p = d.file("cgroup.procs");
        let text = fsio::read(&p)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.trim().parse().map_err(|_| Error::Parse {
                    path: p.clone(),
                    reason: format!("not a pid: {l:?}"),
                })
            })
            .collect()
    }

    /// Freezes every process; returns once the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<(), Error> {
        self.set_frozen(true)
    }

    /// Thaws the cgroup; returns once the kernel reports it thawed.
    pub fn thaw(&self) -> Result<(), Error> {
        self.set_frozen(false)
    }

    /// Whether the cgroup is frozen (or being frozen): what `pause` asked for, as the kernel
    /// keeps it (`freezer.state` on v1, `cgroup.freeze` on v2).
    pub fn frozen(&self) -> Result<bool, Error> {
        let (d, v2) = self.freezer()?;
        if v2 {
            Ok(fsio::read_opt(&d.file("cgroup.freeze"))?.is_some_and(|s| s.trim() == "1"))
        } else {
            let s = fsio::read(&d.file("freezer.state"))?;
            Ok(matches!(s.trim(), "FROZEN" | "FREEZING"))
        }
    }

    /// The directory whose freezer pauses the cgroup, and whether it is the v2 one: the v1
    /// freezer if mounted; otherwise the v2 core freezer (pure v2, or the v2 side of a hybrid
    /// host without a v1 freezer: cgroup.freeze needs no controller).
    fn freezer(&self) -> Result<(&Dir, bool), Error> {
        match (self.layout, self.v1_dir("freezer"), self.v2_dir()) {
            (Layout::Unified, _, Some(d)) => Ok((d, true)),
            (_, Some(d), _) => Ok((d, false)),
            (_, None, Some(d)) => Ok((d, true)),
            _ => Err(Error::unsupported(
                "freezer",
                self.layout,
                "the freezer controller is not mounted; pause is not possible",
            )),
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), Error> {
        let (d, v2) = self.freezer()?;
        let (file, value, state_file, want) = if v2 {
            let v = if frozen { "1" } else { "0" };
            ("cgroup.freeze", v, "cgroup.events", format!("frozen {v}"))
        } else {
            let v = if frozen { "FROZEN" } else { "THAWED" };
            ("freezer.state", v, "freezer.state", v.to_string())
        };
        let path = d.file(file);
        let state = d.file(state_file);
        let start = Instant::now();
        fsio::write(&path, value)?;
        loop {
            let s = fsio::read(&state)?;
            if s.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                if frozen {
                    // Do not leave a half-frozen container behind (as runc).
                    let _ = self.set_frozen(false);
                }
                return Err(Error::Timeout { path: state, want });
            }
            sleep(Duration::from_millis(5));
            if !frozen || v2 {
                continue;
            }
            // v1 can sit in FREEZING while tasks race; writing again retries (as runc).
            fsio::write(&path, value)?;
        }
    }

    /// Reads usage and limits back.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut s = Stats::default();
        if self.layout == Layout::Unified {
            let Some(d) = self.v2_dir() else {
                return Ok(s);
            };
            if let Some(t) = fsio::read_opt(&d.file("cpu.stat"))? {
                s.cpu_usage_ns = fsio::keyed(&t, "usage_usec").unwrap_or(0) * 1000;
            }
            s.memory_usage = num_opt(&d.file("memory.current"))?.unwrap_or(0);
            s.memory_max_usage = num_opt(&d.file("memory.peak"))?;
            s.memory_limit = max_opt(&d.file("memory.max"))?;
            s.pids_current = num_opt(&d.file("pids.current"))?.unwrap_or(0);
            s.pids_limit = max_opt(&d.file("pids.max"))?;
            if let Some(t) = fsio::read_opt(&d.file("io.stat"))? {
                for l in t.lines() {
                    for kv in l.split_whitespace().skip(1) {
                        match kv.split_once('=') {
                            Some(("rbytes", v)) => s.io_read_bytes += v.parse().unwrap_or(0),
                            Some(("wbytes", v)) => s.io_write_bytes += v.parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
            return Ok(s);
        }
        if let Some(d) = self.v1_dir("cpuacct") {
            s.cpu_usage_ns = num_opt(&d.file("cpuacct.usage"))?.unwrap_or(0);
        }
        if let Some(d) = self.v1_dir("memory") {
            s.memory_usage = num_opt(&d.file("memory.usage_in_bytes"))?.unwrap_or(0);
            s.memory_max_usage = num_opt(&d.file("memory.max_usage_in_bytes"))?;
            // v1 reports "unlimited" as PAGE_COUNTER_MAX pages, just below i64::MAX.
            s.memory_limit = num_opt(&d.file("memory.limit_in_bytes"))?
                .filter(|v| *v < (i64::MAX as u64) & !0xfff_u64);
        }
        if let Some(d) = self.v1_dir("pids") {
            s.pids_current = num_opt(&d.file("pids.current"))?.unwrap_or(0);
            s.pids_limit = max_opt(&d.file("pids.max"))?;
        }
        if let Some(d) = self.v1_dir("blkio") {
            let t = match fsio::read_opt(&d.file("blkio.throttle.io_service_bytes_recursive"))? {
                Some(t) => Some(t),
                None => fsio::read_opt(&d.file("blkio.throttle.io_service_bytes"))?,
            };
            for l in t.iter().flat_map(|t| t.lines()) {
                let f: Vec<&str> = l.split_whitespace().collect();
                if let [_, op, v] = f.as_slice() {
                    match *op {
                        "Read" => s.io_read_bytes += v.parse().unwrap_or(0),
                        "Write" => s.io_write_bytes += v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
        }
        Ok(s)
    }

    /// Removes the directory in every hierarchy. Already-gone directories are fine; EBUSY is
    /// retried for about half a second; every failure is reported together.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut errs = Vec::new();
        for d in self.dirs.iter().rev() {
            if let Err(e) = rmdir_retry(&d.full()) {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errs))
        }
    }

    /// A text form of the resolved directories for the runtime's state file.
    pub fn to_state(&self) -> String {
        let mut s = format!("berth-cgroups 1\nlayout {}\n", self.layout.as_str());
        for d in &self.dirs {
            let m = d.mount.strip_prefix(&self.root).unwrap_or(&d.mount);
            let m = if m.as_os_str().is_empty() {
                ".".to_string()
            } else {
                m.display().to_string()
            };
            let kind = if d.v2 { "v2" } else { "v1" };
            s.push_str(&format!(
                "{kind}\t{}\t{m}\t{}\n",
                d.name(),
                d.path.display()
            ));
        }
        s
    }

    /// Reopens a cgroup from [`Cgroup::to_state`] output, with hierarchies under `root`.
    pub fn from_state(root: &Path, s: &str) -> Result<Self, Error> {
        let bad = |line: usize, reason: &str| Error::State {
            line,
            reason: reason.to_string(),
        };
        let mut lines = s.lines().enumerate();
        match lines.next() {
            Some((_, "berth-cgroups 1")) => {}
            _ => return Err(bad(1, "expected header \"berth-cgroups 1\"")),
        }
        let layout = lines
            .next()
            .and_then(|(_, l)| l.strip_prefix("layout "))
            .and_then(Layout::parse)
            .ok_or_else(|| bad(2, "expected \"layout legacy|hybrid|unified\""))?;
        let mut dirs = Vec::new();
        for (i, l) in lines {
            let f: Vec<&str> = l.split('\t').collect();
            let [kind, name, mount, path] = f.as_slice() else {
                return Err(bad(i + 1, "expected 4 tab-separated fields"));
            };
            let v2 = match *kind {
                "v1" => false,
                "v2" => true,
                _ => return Err(bad(i + 1, "kind must be v1 or v2")),
            };
            let path = check_path(path).map_err(|e| bad(i + 1, &e.to_string()))?;
            if !path.is_absolute() {
                return Err(bad(i + 1, "cgroup path must be absolute"));
            }
            let mount = if *mount == "." {
                root.to_path_buf()
            } else {
                root.join(check_path(mount).map_err(|e| bad(i + 1, &e.to_string()))?)
            };
            let controllers = if v2 {
                Vec::new()
            } else {
                name.split(',').map(str::to_string).collect()
            };
            dirs.push(Dir {
                v2,
                controllers,
                mount,
                path,
            });
        }
        Ok(Cgroup {
            root: root.to_path_buf(),
            layout,
            dirs,
        })
    }
}

impl Probe for Cgroup {
    fn has(&self, t: Target) -> bool {
        self.dir_for(t).is_some()
    }

    fn exists(&self, t: Target, file: &str) -> bool {
        self.dir_for(t).is_some_and(|d| d.file(file).exists())
    }

    fn read(&self, t: Target, file: &str) -> Option<String> {
        self.dir_for(t)
            .and_then(|d| fs::read_to_string(d.file(file)).ok())
    }
}

fn num_opt(p: &Path) -> Result<Option<u64>, Error> {
    fsio::read_opt(p)?
        .map(|s| fsio::parse_u64(p, &s))
        .transpose()
}

fn max_opt(p: &Path) -> Result<Option<u64>, Error> {
    Ok(fsio::read_opt(p)?
        .map(|s| fsio::parse_max(p, &s))
        .transpose()?
        .flatten())
}

fn mkdir(p: &Path) -> Result<(), Error> {
    match fs::create_dir(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::Mkdir {
            path: p.to_path_buf(),
            source,
        }),
    }
}

/// v1 cpuset: a new cgroup starts with empty cpus/mems and refuses tasks, so copy the parent's
/// at every level on the way, also at a level that exists but was left empty by whoever made
/// it (a pod's cgroup made with a bare mkdir): runc does the same.
fn create_cpuset(d: &Dir) -> Result<(), Error> {
    let mut cur = d.mount.clone();
    for c in rel(&d.path).components() {
        let parent = cur.clone();
        cur.push(c);
        if !cur.exists() {
            mkdir(&cur)?;
        }
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = cur.join(f);
            let Some(v) = fsio::read_opt(&mine)? else {
                continue;
            };
            if v.trim().is_empty() {
                if let Some(pv) = fsio::read_opt(&parent.join(f))? {
                    fsio::write(&mine, pv.trim())?;
                }
            }
        }
    }
    Ok(())
}

/// Walks from the v2 mount down to `d`: at each ancestor, enables the wanted controllers it
/// offers but has not enabled yet; with `make`, creates the missing directories.
fn walk_v2(d: &Dir, want: &[String], make: bool) -> Result<(), Error> {
    let mut cur = d.mount.clone();
    for c in rel(&d.path).components() {
        enable(&cur, want)?;
        cur.push(c);
        if make {
            mkdir(&cur)?;
        }
    }
    Ok(())
}

fn enable(dir: &Path, want: &[String]) -> Result<(), Error> {
    if want.is_empty() {
        return Ok(());
    }
    let offered = fsio::read_opt(&dir.join("cgroup.controllers"))?.unwrap_or_default();
    let enabled = fsio::read_opt(&dir.join("cgroup.subtree_control"))?.unwrap_or_default();
    let missing: Vec<String> = want
        .iter()
        .filter(|c| offered.split_whitespace().any(|o| o == c.as_str()))
        .filter(|c| !enabled.split_whitespace().any(|o| o == c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fsio::write(&dir.join("cgroup.subtree_control"), &missing.join(" "))
}

fn rmdir_retry(p: &Path) -> Result<(), Error> {
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match fs::remove_dir(p) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 6 => {
                sleep(delay);
                delay *= 2;
            }
            Err(source) => {
                return Err(Error::Rmdir {
                    path: p.to_path_buf(),
                    source,
                })
            }
        }
    }
    Ok(())
}
