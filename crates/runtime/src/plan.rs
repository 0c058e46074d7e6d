//! Validation: a spec becomes a [`Plan`] before the first side effect.
//!
//! Everything that can be checked without touching the kernel is checked
//! here, so that a bad `config.json` fails with a message naming the field
//! and leaves nothing behind. The plan holds the values the container's init
//! needs in ready-to-use form (C strings, raw flags), so the forked child does
//! no parsing.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use berth_sys::mount::MsFlags;
use oci_spec::runtime::{
    Hooks, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType,
    LinuxResources, Mount, PosixRlimitType, Process, Spec,
};

use crate::error::{invalid, Error, Result};
use crate::mountopts::{self, MountOptions};

/// What the container will be, fully checked.
#[derive(Debug)]
pub struct Plan {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    pub namespaces: Namespaces,
    pub root_propagation: MsFlags,
    pub mounts: Vec<MountPlan>,
    pub devices: Vec<DevicePlan>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctls: Vec<(PathBuf, String)>,
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub time_offsets: Option<String>,
    pub process: ProcessPlan,
    pub hooks: Hooks,
    /// `linux.resources` with the device rules every container needs
    /// appended (as runc does), or `None` when the spec sets no resources.
    pub resources: Option<LinuxResources>,
}

/// Namespaces to create (`clone` flags) and to join (by path).
#[derive(Debug, Default, Clone)]
pub struct Namespaces {
    pub clone_flags: u64,
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl Namespaces {
    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.clone_flags & ns_flag(t) != 0
    }
    pub fn joins(&self, t: LinuxNamespaceType) -> Option<&Path> {
        self.join
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, p)| p.as_path())
    }
    /// The container gets its own namespace of this type (new or joined).
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.joins(t).is_some()
    }
}

/// Every namespace type.
pub const NS_TYPES: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
];

pub fn ns_flag(t: LinuxNamespaceType) -> u64 {
    (match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }) as u64
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind {
        source: PathBuf,
    },
    Fs {
        fstype: String,
        source: String,
    },
    /// A `cgroup` mount: cgroup2 or one v1 hierarchy per controller,
    /// decided in the container once it is in its cgroup.
    Cgroup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    pub destination: PathBuf,
    pub kind: MountKind,
    pub options: MountOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO` with the permission bits.
    pub mode: u32,
    pub major: u64,
    pub minor: u64,
    pub uid: u32,
    pub gid: u32,
}

/// One process, validated: what the init (or an exec) applies before `execve`.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// `PATH` from `env`, for finding `args[0]`.
    pub path_var: Option<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub caps: Option<crate::caps::CapSets>,
    pub no_new_privileges: bool,
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    /// `process.consoleSize` (rows, columns), for the terminal.
    pub console_size: Option<(u16, u16)>,
}

/// Reads a `config.json`. Whole, then parsed from memory: `Spec::load`
/// parses from a reader, a byte at a time through `Read`, which takes
/// twice as long on a spec that carries Docker's seccomp profile.
pub fn read_spec(path: &Path) -> std::result::Result<Spec, oci_spec::OciSpecError> {
    let bytes = std::fs::read(path)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Validates `spec`, the `config.json` of `bundle` as the caller already
/// holds it (and has written: `exec`, `state` and the hooks read it there).
pub fn from_spec(bundle: &Path, spec: Spec) -> Result<Plan> {
    let bundle = std::fs::canonicalize(bundle).map_err(crate::error::io_err("bundle", bundle))?;
    plan(spec, bundle)
}

/// Reads `<bundle>/config.json` and validates it.
pub fn load(bundle: &Path) -> Result<Plan> {
    let bundle = std::fs::canonicalize(bundle).map_err(crate::error::io_err("bundle", bundle))?;
    let path = bundle.join("config.json");
    let spec = read_spec(&path).map_err(|source| match source {
        oci_spec::OciSpecError::Io(e) => Error::Io {
            what: "reading",
            path: path.clone(),
            source: e,
        },
        source => Error::Config {
            path: path.clone(),
            source,
        },
    })?;
    plan(spec, bundle)
}

/// Validates `spec` for a container whose bundle is `bundle`.
pub fn plan(spec: Spec, bundle: PathBuf) -> Result<Plan> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    let readonly_root = root.readonly().unwrap_or(false);
    let linux = spec.linux().clone().unwrap_or_default();

    let namespaces = namespaces(&linux)?;
    let root_propagation = mountopts::root_propagation(linux.rootfs_propagation().as_deref())
        .map_err(|r| invalid("linux.rootfsPropagation", r))?;

    let mounts = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, m)| mount_plan(i, m, &bundle))
        .collect::<Result<Vec<_>>>()?;
    if !namespaces.has(LinuxNamespaceType::Mount) && !mounts.is_empty() {
        return Err(invalid(
            "mounts",
            "mounts need a mount namespace: add {\"type\": \"mount\"} to linux.namespaces",
        ));
    }

    let devices = devices(linux.devices().as_deref().unwrap_or_default())?;

    let user = namespaces.has(LinuxNamespaceType::User);
    let uid_map = id_map("linux.uidMappings", linux.uid_mappings().as_deref())?;
    let gid_map = id_map("linux.gidMappings", linux.gid_mappings().as_deref())?;
    if namespaces.creates(LinuxNamespaceType::User) && (uid_map.is_none() || gid_map.is_none()) {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs both uidMappings and gidMappings",
        ));
    }
    if !user && (uid_map.is_some() || gid_map.is_some()) {
        return Err(invalid(
            "linux.uidMappings",
            "mappings given without a user namespace in linux.namespaces",
        ));
    }

    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !namespaces.has(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "hostname",
            "setting a hostname needs a uts namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !namespaces.has(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "domainname",
            "setting a domainname needs a uts namespace",
        ));
    }

    let sysctls = sysctls(linux.sysctl().as_ref(), &namespaces)?;
    let time_offsets = time_offsets(&linux, &namespaces)?;

    let process = process_plan(&spec)?;
    let hooks = spec.hooks().clone().unwrap_or_default();
    for (name, list) in [
        ("hooks.prestart", hooks.prestart()),
        ("hooks.createRuntime", hooks.create_runtime()),
        ("hooks.createContainer", hooks.create_container()),
        ("hooks.startContainer", hooks.start_container()),
        ("hooks.poststart", hooks.poststart()),
        ("hooks.poststop", hooks.poststop()),
    ] {
        for (i, h) in list.as_deref().unwrap_or_default().iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(invalid(
                    format!("{name}[{i}].path"),
                    "must be an absolute path",
                ));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(
                    format!("{name}[{i}].timeout"),
                    "must be greater than zero",
                ));
            }
        }
    }

    let resources = linux.resources().clone().map(with_default_device_rules);
    Ok(Plan {
        resources,
        readonly_root,
        masked_paths: abs_paths("linux.maskedPaths", linux.masked_paths().as_deref())?,
        readonly_paths: abs_paths("linux.readonlyPaths", linux.readonly_paths().as_deref())?,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        namespaces,
        root_propagation,
        mounts,
        devices,
        sysctls,
        uid_map,
        gid_map,
        time_offsets,
        process,
        hooks,
        rootfs,
        bundle,
        spec,
    })
}

fn namespaces(linux: &oci_spec::runtime::Linux) -> Result<Namespaces> {
    let mut ns = Namespaces::default();
    let mut seen = Vec::new();
    for (i, n) in linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if seen.contains(&n.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}]"),
                format!("namespace type {} given twice", n.typ()),
            ));
        }
        seen.push(n.typ());
        match n.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                if !p.is_absolute() {
                    return Err(invalid(
                        format!("linux.namespaces[{i}].path"),
                        "must be absolute",
                    ));
                }
                ns.join.push((n.typ(), p.clone()));
            }
            _ => ns.clone_flags |= ns_flag(n.typ()),
        }
    }
    Ok(ns)
}

fn mount_plan(i: usize, m: &Mount, bundle: &Path) -> Result<MountPlan> {
    let field = |f: &str| format!("mounts[{i}].{f}");
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(invalid(
            field("destination"),
            format!("{} is not absolute", dest.display()),
        ));
    }
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err(invalid(
            field("uidMappings"),
            "idmapped mounts are not supported",
        ));
    }
    let options = mountopts::parse(m.options().as_deref().unwrap_or_default())
        .map_err(|r| invalid(field("options"), r))?;
    let typ = m.typ().as_deref().unwrap_or("");
    let source = m.source().clone().unwrap_or_default();
    let kind = if options.bind || typ == "bind" {
        if source.as_os_str().is_empty() {
            return Err(invalid(field("source"), "a bind mount needs a source"));
        }
        let source = if source.is_absolute() {
            source
        } else {
            bundle.join(source)
        };
        MountKind::Bind { source }
    } else if typ == "cgroup" || typ == "cgroup2" {
        MountKind::Cgroup
    } else if typ.is_empty() || typ == "none" {
        return Err(invalid(
            field("type"),
            "missing (and the options name no bind)",
        ));
    } else {
        MountKind::Fs {
            fstype: typ.to_string(),
            source: source.to_string_lossy().into_owned(),
        }
    };
    Ok(MountPlan {
        destination: dest.clone(),
        kind,
        options,
    })
}

/// The devices every container gets, as runc and Docker create them.
pub fn default_devices() -> Vec<DevicePlan> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DevicePlan {
        path: PathBuf::from("/dev").join(name),
        mode: libc::S_IFCHR | 0o666,
        major,
        minor,
        uid: 0,
        gid: 0,
    })
    .collect()
}

fn devices(list: &[LinuxDevice]) -> Result<Vec<DevicePlan>> {
    let mut out = default_devices();
    for (i, d) in list.iter().enumerate() {
        let field = |f: &str| format!("linux.devices[{i}].{f}");
        let path = d.path();
        if !path.starts_with("/dev/")
            || path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(invalid(
                field("path"),
                format!("{} is not below /dev", path.display()),
            ));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => return Err(invalid(field("type"), "\"a\" is not a device type")),
        };
        if d.major() < 0 || d.minor() < 0 {
            return Err(invalid(field("major"), "must not be negative"));
        }
        let plan = DevicePlan {
            path: path.clone(),
            mode: kind | (d.file_mode().unwrap_or(0o666) & 0o7777),
            major: d.major() as u64,
            minor: d.minor() as u64,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|o| o.path != plan.path);
        out.push(plan);
    }
    Ok(out)
}

/// Appends runc's always-allowed devices (and `mknod` of any) to the
/// device cgroup rules. The spec's own `linux.devices` get no rule here:
/// as with runc, the spec's rules decide what the container may do with
/// them (an engine's `--device X:r` is an allow rule for `r` only, which a
/// blanket `rwm` would undo).
fn with_default_device_rules(mut r: LinuxResources) -> LinuxResources {
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    let mut rules = r.devices().clone().unwrap_or_default();
    rules.push(rule(LinuxDeviceType::C, None, None, "m"));
    rules.push(rule(LinuxDeviceType::B, None, None, "m"));
    for (major, minor) in [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
        (10, Some(200)),
    ] {
        rules.push(rule(LinuxDeviceType::C, Some(major), minor, "rwm"));
    }
    r.set_devices(Some(rules));
    r
}

fn id_map(field: &str, maps: Option<&[LinuxIdMapping]>) -> Result<Option<String>> {
    let Some(maps) = maps.filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let mut s = String::new();
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(invalid(
                format!("{field}[{i}].size"),
                "must be greater than zero",
            ));
        }
        s.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    Ok(Some(s))
}

fn abs_paths(field: &str, paths: Option<&[String]>) -> Result<Vec<PathBuf>> {
    paths
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                Ok(p)
            } else {
                Err(invalid(
                    format!("{field}[{i}]"),
                    format!("{} is not absolute", p.display()),
                ))
            }
        })
        .collect()
}

/// Checks each sysctl against the namespace that isolates it (as runc does):
/// setting a host-wide value from a container is refused.
fn sysctls(
    sysctls: Option<&std::collections::HashMap<String, String>>,
    ns: &Namespaces,
) -> Result<Vec<(PathBuf, String)>> {
    let sorted: BTreeMap<_, _> = sysctls.into_iter().flatten().collect();
    let mut out = Vec::new();
    for (key, value) in sorted {
        let field = format!("linux.sysctl[{key:?}]");
        let isolated_by = if key.starts_with("net.") {
            Some(LinuxNamespaceType::Network)
        } else if key.starts_with("fs.mqueue.")
            || matches!(
                key.as_str(),
                "kernel.msgmax"
                    | "kernel.msgmnb"
                    | "kernel.msgmni"
                    | "kernel.sem"
                    | "kernel.shmall"
                    | "kernel.shmmax"
                    | "kernel.shmmni"
                    | "kernel.shm_rmid_forced"
            )
        {
            Some(LinuxNamespaceType::Ipc)
        } else if matches!(key.as_str(), "kernel.hostname" | "kernel.domainname") {
            return Err(invalid(
                field,
                "set it with the hostname/domainname fields instead",
            ));
        } else {
            None
        };
        match isolated_by {
            Some(t) if ns.has(t) => {}
            Some(t) => {
                return Err(invalid(field, format!("needs a {t} namespace")));
            }
            None => {
                return Err(invalid(
                    field,
                    "not a namespaced sysctl: it would change the host",
                ))
            }
        }
        if key.contains('/') || key.split('.').any(|c| c.is_empty() || c == "..") {
            return Err(invalid(field, "malformed key"));
        }
        let path = PathBuf::from("sys").join(key.replace('.', "/"));
        out.push((path, value.clone()));
    }
    Ok(out)
}

fn time_offsets(linux: &oci_spec::runtime::Linux, ns: &Namespaces) -> Result<Option<String>> {
    let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) else {
        return Ok(None);
    };
    if !ns.creates(LinuxNamespaceType::Time) {
        return Err(invalid(
            "linux.timeOffsets",
            "offsets need a new time namespace",
        ));
    }
    let mut s = String::new();
    for (clock, off) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(invalid(
                format!("linux.timeOffsets.{clock}"),
                "clock must be monotonic or boottime",
            ));
        }
        s.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    Ok(Some(s))
}

fn cstrings(field: &str, v: &[String]) -> Result<Vec<CString>> {
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            CString::new(s.as_bytes())
                .map_err(|_| invalid(format!("{field}[{i}]"), "contains a NUL byte"))
        })
        .collect()
}

fn process_plan(spec: &Spec) -> Result<ProcessPlan> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing"))?;
    process(p)
}

/// Validates one process (of the spec, or one to exec into a container)
/// into the ready-to-use form its setup needs. Errors name `process.*` fields.
pub fn process(p: &Process) -> Result<ProcessPlan> {
    let args = p.args().as_deref().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(invalid("process.args", "must name the program to run"));
    }
    if !p.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{} is not absolute", p.cwd().display()),
        ));
    }
    let env = p.env().as_deref().unwrap_or_default();
    for (i, e) in env.iter().enumerate() {
        if !e.contains('=') || e.starts_with('=') {
            return Err(invalid(
                format!("process.env[{i}]"),
                format!("{e:?} is not NAME=value"),
            ));
        }
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .map(str::to_string);
    let mut rlimits = Vec::new();
    for (i, r) in p
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if r.soft() > r.hard() {
            return Err(invalid(
                format!("process.rlimits[{i}]"),
                "soft limit is above the hard limit",
            ));
        }
        let res = rlimit_resource(r.typ());
        if rlimits.iter().any(|(k, _, _)| *k == res) {
            return Err(invalid(format!("process.rlimits[{i}].type"), "given twice"));
        }
        rlimits.push((res, r.soft(), r.hard()));
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(
                "process.oomScoreAdj",
                format!("{adj} is outside -1000..1000"),
            ));
        }
    }
    let caps = p
        .capabilities()
        .as_ref()
        .map(crate::caps::CapSets::from_spec)
        .transpose()
        .map_err(|r| invalid("process.capabilities", r))?;
    Ok(ProcessPlan {
        args: cstrings("process.args", args)?,
        env: cstrings("process.env", env)?,
        path_var,
        cwd: p.cwd().clone(),
        uid: p.user().uid(),
        gid: p.user().gid(),
        additional_gids: p.user().additional_gids().clone().unwrap_or_default(),
        umask: p.user().umask(),
        caps,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        rlimits,
        oom_score_adj: p.oom_score_adj(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p
            .console_size()
            .map(|b| (clamp_u16(b.height()), clamp_u16(b.width()))),
    })
}

fn clamp_u16(v: u64) -> u16 {
    v.min(u16::MAX as u64) as u16
}

fn rlimit_resource(t: PosixRlimitType) -> libc::c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}
