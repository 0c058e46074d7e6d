//! Image config + options → the OCI runtime spec, with Docker's defaults:
//! its capability set, masked and read-only paths, mounts, /etc files.
//! Pure: every input is given, nothing is read or written here.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{invalid, Result};
use crate::imageconfig::RunConfig;
use crate::network::NetNs;
use crate::options::{
    CgroupnsMode, ContainerOptions, IpcMode, MountKind, NetworkMode, DEFAULT_SHM_SIZE,
};
use crate::user::ResolvedUser;

/// The capabilities Docker grants by default.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows, in number order.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A mount whose host side the engine has settled (volume directories
/// made, bind sources checked).
#[derive(Debug, Clone)]
pub struct HostMount {
    pub target: String,
    pub source: PathBuf,
    pub kind: MountKind,
    pub read_only: bool,
    pub options: Vec<String>,
}

/// A `--device`, with the node's facts read from the host.
#[derive(Debug, Clone)]
pub struct HostDevice {
    pub path: String,
    /// 'c' or 'b'.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub permissions: String,
}

/// Everything the spec is made of.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub id: &'a str,
    pub image: &'a RunConfig,
    pub opts: &'a ContainerOptions,
    pub rootfs: &'a Path,
    pub user: &'a ResolvedUser,
    /// Files bind-mounted over /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub etc: &'a EtcFiles,
    pub mounts: &'a [HostMount],
    pub devices: &'a [HostDevice],
    /// `CAP_*` names the process gets (see [`capabilities`]).
    pub caps: &'a [String],
    pub seccomp: Option<Value>,
    pub cgroups_path: String,
    /// The network namespace (see [`crate::network`]).
    pub netns: &'a NetNs,
    /// The pid namespace (`--pid`).
    pub pidns: &'a PidNs,
    /// `--init`: the host's init binary, mounted at [`INIT_PATH`] and run
    /// as the container's pid 1 in front of the command.
    pub init: Option<&'a Path>,
    pub hostname: &'a str,
}

/// The pid namespace a container gets: a new one, the host's, or one
/// joined by path (`/proc/PID/ns/pid` of another container's init).
#[derive(Debug, Clone, PartialEq)]
pub enum PidNs {
    New,
    Host,
    Path(PathBuf),
}

#[derive(Debug, Clone)]
pub struct EtcFiles {
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
}

/// Where `--init` puts the init binary in the container, as Docker does.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// The hostname a container gets: `--hostname` or the short id.
pub fn hostname(id: &str, opts: &ContainerOptions) -> String {
    match &opts.hostname {
        Some(h) => h.clone(),
        None if opts.uts_host || opts.network == NetworkMode::Host => rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        None => id.chars().take(12).collect(),
    }
}

/// The process's capabilities: Docker's set, or every capability berth
/// itself holds (`bounding`) with `--privileged`, then `--cap-add`, then
/// `--cap-drop` (each may say `ALL`).
pub fn capabilities(opts: &ContainerOptions, bounding: &[String]) -> Vec<String> {
    let all = || -> Vec<String> {
        ALL_CAPS
            .iter()
            .filter(|c| bounding.iter().any(|b| b == *c))
            .map(|s| s.to_string())
            .collect()
    };
    let mut caps: Vec<String> = if opts.privileged {
        all()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    let adds_all = opts.cap_add.iter().any(|c| c == "ALL");
    let drops_all = opts.cap_drop.iter().any(|c| c == "ALL");
    if drops_all {
        caps.clear();
    }
    if adds_all {
        caps = all();
    }
    for c in &opts.cap_add {
        if c != "ALL" && !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    if !drops_all {
        caps.retain(|c| !opts.cap_drop.contains(c));
    }
    caps
}

/// The capabilities in this process's bounding set (what berth can give).
pub fn host_bounding() -> Vec<String> {
    let status = berth_sys::procfs::read_text("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The process's arguments: `--entrypoint` or the image's Entrypoint,
/// followed by the command line or the image's Cmd (dropped when the
/// entrypoint is overridden, as Docker does).
pub fn args(image: &RunConfig, opts: &ContainerOptions) -> Result<Vec<String>> {
    let entry = match &opts.entrypoint {
        Some(e) => e.clone(),
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = if !opts.cmd.is_empty() {
        opts.cmd.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        image.cmd.clone().unwrap_or_default()
    };
    let args: Vec<String> = entry.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(invalid(
            "command",
            "",
            "no command specified: the image has no Cmd or Entrypoint; give one after the image name",
        ));
    }
    Ok(args)
}

/// The environment: PATH, HOSTNAME, the image's Env, then `-e`, then
/// TERM for a terminal and, given the user's `home`, HOME when unset.
pub fn env(
    image: &RunConfig,
    opts: &ContainerOptions,
    hostname: &str,
    home: Option<&str>,
) -> Vec<String> {
    let mut env: Vec<String> = vec![DEFAULT_PATH.to_owned(), format!("HOSTNAME={hostname}")];
    let set = |env: &mut Vec<String>, kv: &str| {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.to_owned());
    };
    for kv in image.env.iter().flatten().chain(&opts.env) {
        set(&mut env, kv);
    }
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if let Some(home) = home {
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={home}"));
        }
    }
    env
}

/// Builds the spec.
pub fn build(i: &Inputs<'_>) -> Result<Value> {
    let hostname = i.hostname;
    let mut args = args(i.image, i.opts)?;
    if i.init.is_some() {
        args.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
    }
    let cwd = i
        .opts
        .workdir
        .clone()
        .or_else(|| i.image.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(invalid(
            "working directory",
            &cwd,
            "must be an absolute path",
        ));
    }
    let privileged = i.opts.privileged;
    let caps = i.caps;
    let mut rlimits: Vec<Value> = i
        .opts
        .ulimits
        .iter()
        .map(|u| json!({"type": u.kind, "soft": u.soft, "hard": u.hard}))
        .collect();
    rlimits.dedup();
    let process = json!({
        "terminal": i.opts.tty,
        "user": {"uid": i.user.uid, "gid": i.user.gid, "additionalGids": i.user.additional_gids},
        "args": args,
        "env": env(i.image, i.opts, hostname, Some(&i.user.home)),
        "cwd": cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "rlimits": rlimits,
        "noNewPrivileges": i.opts.security.no_new_privileges,
        "oomScoreAdj": i.opts.oom_score_adj.unwrap_or(0),
    });
    let mut namespaces = Vec::new();
    if i.opts.ipc != IpcMode::Host {
        namespaces.push(json!({"type": "ipc"}));
    }
    match i.pidns {
        PidNs::New => namespaces.push(json!({"type": "pid"})),
        PidNs::Host => {}
        PidNs::Path(p) => namespaces.push(json!({"type": "pid", "path": p})),
    }
    namespaces.push(json!({"type": "mount"}));
    if !i.opts.uts_host {
        namespaces.push(json!({"type": "uts"}));
    }
    if i.opts.cgroupns != Some(CgroupnsMode::Host) {
        namespaces.push(json!({"type": "cgroup"}));
    }
    match i.netns {
        NetNs::Host => {}
        NetNs::New => namespaces.push(json!({"type": "network"})),
        NetNs::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": i.cgroups_path,
        "resources": resources(i),
        "devices": i.devices.iter().map(|d| json!({
            "path": d.path, "type": d.kind.to_string(), "major": d.major, "minor": d.minor,
            "fileMode": d.mode & 0o7777,
        })).collect::<Vec<_>>(),
    });
    if !privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    if !i.opts.sysctls.is_empty() {
        linux["sysctl"] = json!(i.opts.sysctls);
    }
    if let Some(s) = &i.seccomp {
        linux["seccomp"] = s.clone();
    }
    let mut spec = json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": i.rootfs, "readonly": i.opts.read_only},
        "mounts": mounts(i),
        "linux": linux,
        "annotations": {"berth.container.id": i.id},
    });
    // With the host's UTS namespace its names are the container's: none set.
    if !i.opts.uts_host {
        spec["hostname"] = json!(hostname);
        if let Some(d) = &i.opts.domainname {
            spec["domainname"] = json!(d);
        }
    }
    Ok(spec)
}

fn resources(i: &Inputs<'_>) -> Value {
    let r = &i.opts.resources;
    let mut devices = Vec::new();
    if i.opts.privileged {
        devices.push(json!({"allow": true, "access": "rwm"}));
    }
    for d in i.devices {
        devices.push(json!({
            "allow": true, "type": d.kind.to_string(), "major": d.major, "minor": d.minor,
            "access": d.permissions,
        }));
    }
    let mut v = json!({"devices": devices});
    if r.memory.is_some() || r.memory_swap.is_some() {
        let swap = match (r.memory, r.memory_swap) {
            (_, Some(s)) => Some(s),
            // Docker: with -m alone, swap is as much again.
            (Some(m), None) => Some(m * 2),
            (None, None) => None,
        };
        v["memory"] = json!({"limit": r.memory, "swap": swap});
    }
    let mut cpu = serde_json::Map::new();
    if let Some(n) = r.nano_cpus {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert(
            "quota".into(),
            json!((n * period / 1_000_000_000).max(1000)),
        );
    }
    if let Some(p) = r.cpu_period {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(q) = r.cpu_quota {
        cpu.insert("quota".into(), json!(q));
    }
    if let Some(s) = r.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(c) = &r.cpuset_cpus {
        cpu.insert("cpus".into(), json!(c));
    }
    if !cpu.is_empty() {
        v["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit {
        v["pids"] = json!({"limit": p});
    }
    if let Some(res) = r.memory_reservation {
        if v["memory"].is_null() {
            v["memory"] = json!({});
        }
        v["memory"]["reservation"] = json!(res);
    }
    if let Some(w) = r.blkio_weight {
        v["blockIO"] = json!({"weight": w});
    }
    v
}

fn mounts(i: &Inputs<'_>) -> Vec<Value> {
    let sys_ro = if i.opts.privileged { "rw" } else { "ro" };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", sys_ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
    ];
    match i.opts.ipc {
        IpcMode::Private => m.push(
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777",
                           format!("size={}", i.opts.shm_size.unwrap_or(DEFAULT_SHM_SIZE))]}),
        ),
        IpcMode::Host => m.push(
            json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
               "options": ["rbind", "rprivate"]}),
        ),
        IpcMode::None => {}
    }
    let user_targets: Vec<&str> = i.mounts.iter().map(|m| m.target.as_str()).collect();
    for (dst, src) in [
        ("/etc/resolv.conf", &i.etc.resolv_conf),
        ("/etc/hostname", &i.etc.hostname),
        ("/etc/hosts", &i.etc.hosts),
    ] {
        if !user_targets.contains(&dst) {
            m.push(json!({"destination": dst, "type": "bind", "source": src,
                          "options": ["rbind", "rprivate"]}));
        }
    }
    if let Some(init) = i.init {
        m.push(
            json!({"destination": INIT_PATH, "type": "bind", "source": init,
                      "options": ["rbind", "ro", "rprivate"]}),
        );
    }
    for hm in i.mounts {
        let ro = if hm.read_only { "ro" } else { "rw" };
        let v = match hm.kind {
            MountKind::Tmpfs => {
                let mut o = vec![
                    "nosuid".to_owned(),
                    "nodev".to_owned(),
                    "noexec".to_owned(),
                    ro.to_owned(),
                ];
                o.extend(hm.options.iter().cloned());
                json!({"destination": hm.target, "type": "tmpfs", "source": "tmpfs", "options": o})
            }
            MountKind::Bind { .. } | MountKind::Volume { .. } => {
                let mut o = vec!["rbind".to_owned(), ro.to_owned()];
                if !hm
                    .options
                    .iter()
                    .any(|p| p.contains("private") || p.contains("shared") || p.contains("slave"))
                {
                    o.push("rprivate".into());
                }
                o.extend(hm.options.iter().cloned());
                json!({"destination": hm.target, "type": "bind", "source": hm.source, "options": o})
            }
        };
        m.push(v);
    }
    m
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
