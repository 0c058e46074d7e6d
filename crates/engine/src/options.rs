//! What a user asks for with `berth create`/`run` flags, as typed data.
//! Each flag's text is parsed here (pure, unit-tested), before anything is
//! created; the record of a container keeps these options as they were.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};

/// Everything `create` needs besides the image.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerOptions {
    pub name: Option<String>,
    /// The command after the image name (replaces the image's Cmd).
    pub cmd: Vec<String>,
    /// `--entrypoint`: `Some(vec![])` for `--entrypoint ""`.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` pairs, already resolved by the caller.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub mounts: Vec<MountSpec>,
    pub read_only: bool,
    pub resources: Resources,
    pub ulimits: Vec<Ulimit>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security: SecurityOptions,
    pub devices: Vec<DeviceSpec>,
    pub init: bool,
    pub restart: RestartPolicy,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub labels: BTreeMap<String, String>,
    pub network: NetworkMode,
    #[serde(default)]
    pub net: NetOptions,
    /// `--cgroupns`; `None` until `create` settles Docker's default (and in
    /// records older than the flag, whose containers got their own).
    #[serde(default)]
    pub cgroupns: Option<CgroupnsMode>,
    /// `--pid`: the container's pid namespace.
    #[serde(default)]
    pub pid: PidMode,
    /// `--volumes-from CONTAINER[:ro|:rw]`, as given (the mounts are
    /// copied into `mounts` at create).
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `--ipc`: the container's IPC namespace and /dev/shm.
    #[serde(default)]
    pub ipc: IpcMode,
    /// `--uts host`: the host's hostname and domain name, not its own.
    #[serde(default)]
    pub uts_host: bool,
    /// `--shm-size` in bytes; Docker's 64 MiB when `None`.
    #[serde(default)]
    pub shm_size: Option<i64>,
    /// `--sysctl`: namespaced kernel parameters (see [`check_sysctl`]).
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// `--group-add`: supplementary groups (names in the image's
    /// /etc/group, or gids).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--oom-score-adj`, -1000..1000.
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    /// `--domainname`: the NIS domain name in the container's UTS namespace.
    #[serde(default)]
    pub domainname: Option<String>,
    pub auto_remove: bool,
    pub log: LogOptions,
}

/// Resource limits (`-m`, `--cpus`, ...). Bytes, shares and counts as
/// the kernel takes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub memory: Option<i64>,
    /// Memory plus swap; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    /// `--memory-reservation`: the soft limit, bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpu-period` / `--cpu-quota`, microseconds (CFS).
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    /// `--blkio-weight`, 10-1000.
    pub blkio_weight: Option<u16>,
}

impl ContainerOptions {
    /// Docker's checks of the options against each other and their
    /// ranges, done by `create` before anything exists.
    pub fn check(&self) -> Result<()> {
        self.resources.check()?;
        if let Some(n) = self.shm_size.filter(|n| *n <= 0) {
            return Err(invalid(
                "shm size",
                &n.to_string(),
                "must be greater than 0",
            ));
        }
        if let Some(a) = self.oom_score_adj.filter(|a| !(-1000..=1000).contains(a)) {
            return Err(invalid(
                "oom score adj",
                &a.to_string(),
                "must be between -1000 and 1000",
            ));
        }
        if self.uts_host && (self.hostname.is_some() || self.domainname.is_some()) {
            return Err(invalid(
                "uts mode",
                "host",
                "--hostname and --domainname cannot be set in the host's UTS namespace",
            ));
        }
        Ok(())
    }
}

impl Resources {
    /// Docker's checks of the values against each other and their ranges.
    pub fn check(&self) -> Result<()> {
        if self.nano_cpus.is_some() && (self.cpu_period.is_some() || self.cpu_quota.is_some()) {
            return Err(invalid(
                "cpus",
                &self.nano_cpus.unwrap_or(0).to_string(),
                "--cpus cannot be combined with --cpu-period or --cpu-quota",
            ));
        }
        if let Some(p) = self.cpu_period {
            if !(1000..=1_000_000).contains(&p) {
                return Err(invalid(
                    "cpu period",
                    &p.to_string(),
                    "must be between 1000 and 1000000 microseconds",
                ));
            }
        }
        if let Some(q) = self.cpu_quota {
            if q != -1 && q < 1000 {
                return Err(invalid(
                    "cpu quota",
                    &q.to_string(),
                    "must be at least 1000 microseconds (or -1 for none)",
                ));
            }
        }
        if let Some(w) = self.blkio_weight {
            if !(10..=1000).contains(&w) {
                return Err(invalid(
                    "blkio weight",
                    &w.to_string(),
                    "must be between 10 and 1000",
                ));
            }
        }
        if let (Some(m), Some(r)) = (self.memory, self.memory_reservation) {
            if r > m {
                return Err(invalid(
                    "memory reservation",
                    &r.to_string(),
                    format!("must not exceed the memory limit ({m})"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    pub seccomp: SeccompChoice,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub enum SeccompChoice {
    #[default]
    Default,
    Unconfined,
    /// A profile file's contents (Docker's format or OCI's), kept in the
    /// record so the container does not depend on the file later.
    Profile(String),
}

/// `--network`: which network namespace the container gets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum NetworkMode {
    /// A namespace of its own with only a loopback device.
    None,
    /// The host's network namespace.
    Host,
    /// A namespace of its own on a bridge network (`bridge`, Docker's
    /// default, or a user network by name).
    Bridge(String),
    /// The network namespace of another, running container (its name or id).
    Container(String),
}

impl Default for NetworkMode {
    /// Docker's default: the default bridge network.
    fn default() -> Self {
        NetworkMode::Bridge(DEFAULT_NETWORK.to_owned())
    }
}

/// `--ipc`: which IPC namespace (System V IPC, POSIX message queues) the
/// container gets, and what its /dev/shm is.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum IpcMode {
    /// Its own, with a tmpfs /dev/shm (`private`, `shareable`: Docker's
    /// default).
    #[default]
    Private,
    /// Its own, and no /dev/shm (`none`).
    None,
    /// The host's, with the host's /dev/shm bound in.
    Host,
}

impl IpcMode {
    /// As `docker inspect` shows it (`HostConfig.IpcMode`).
    pub fn name(self) -> &'static str {
        match self {
            IpcMode::Private => "private",
            IpcMode::None => "none",
            IpcMode::Host => "host",
        }
    }
}

impl FromStr for IpcMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "private" | "shareable" => Ok(IpcMode::Private),
            "none" => Ok(IpcMode::None),
            "host" => Ok(IpcMode::Host),
            _ if s.starts_with("container:") => Err(invalid(
                "ipc mode",
                s,
                "joining another container's IPC namespace is not supported yet",
            )),
            _ => Err(invalid(
                "ipc mode",
                s,
                "expected private, shareable, none or host",
            )),
        }
    }
}

/// `--pid`: which pid namespace the container's processes live in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum PidMode {
    /// One of its own (Docker's default).
    #[default]
    Private,
    /// The host's: it sees, and may signal, every process.
    Host,
    /// Another running container's (its name or id).
    Container(String),
}

impl PidMode {
    /// As `docker inspect` shows it (`HostConfig.PidMode`).
    pub fn name(&self) -> String {
        match self {
            PidMode::Private => String::new(),
            PidMode::Host => "host".into(),
            PidMode::Container(c) => format!("container:{c}"),
        }
    }
}

impl FromStr for PidMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "private" => Ok(PidMode::Private),
            "host" => Ok(PidMode::Host),
            _ => match s.strip_prefix("container:") {
                Some(c) if !c.is_empty() => Ok(PidMode::Container(c.to_owned())),
                _ => Err(invalid("pid mode", s, "expected host or container:NAME")),
            },
        }
    }
}

/// `--cgroupns`: whether the container gets a cgroup namespace of its own.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CgroupnsMode {
    /// Its own: its cgroup is the root it sees.
    Private,
    /// The host's: it sees the host's cgroup paths.
    Host,
}

impl CgroupnsMode {
    /// Docker's default (`default-cgroupns-mode`): private on a cgroup v2
    /// host (`unified`), the host's on v1 and hybrid hosts.
    pub fn default_for(unified: bool) -> CgroupnsMode {
        if unified {
            CgroupnsMode::Private
        } else {
            CgroupnsMode::Host
        }
    }

    /// As `docker inspect` shows it (`HostConfig.CgroupnsMode`).
    pub fn name(self) -> &'static str {
        match self {
            CgroupnsMode::Private => "private",
            CgroupnsMode::Host => "host",
        }
    }
}

impl FromStr for CgroupnsMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "private" => Ok(CgroupnsMode::Private),
            "host" => Ok(CgroupnsMode::Host),
            _ => Err(invalid(
                "cgroup namespace mode",
                s,
                "expected host or private",
            )),
        }
    }
}

/// Name of the default bridge network.
pub const DEFAULT_NETWORK: &str = "bridge";

impl FromStr for NetworkMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "" | "default" | "bridge" => Ok(NetworkMode::Bridge(DEFAULT_NETWORK.to_owned())),
            _ => {
                if let Some(c) = s.strip_prefix("container:") {
                    if c.is_empty() {
                        return Err(invalid(
                            "network",
                            s,
                            "expected container:NAME or container:ID",
                        ));
                    }
                    return Ok(NetworkMode::Container(c.to_owned()));
                }
                if s.starts_with(['-', '.'])
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                {
                    return Err(invalid(
                        "network",
                        s,
                        "expected none, host, bridge, container:NAME or a network's name",
                    ));
                }
                Ok(NetworkMode::Bridge(s.to_owned()))
            }
        }
    }
}

impl NetworkMode {
    /// As Docker shows it in `HostConfig.NetworkMode`.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge(n) => n.clone(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }

    /// Whether the container gets an interface on a bridge.
    pub fn is_bridge(&self) -> bool {
        matches!(self, NetworkMode::Bridge(_))
    }
}

/// The network flags besides `--network`: published ports, addresses, DNS.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetOptions {
    /// The bridge networks the container is on, its primary one first
    /// (`--network`, then `network connect`).
    pub networks: Vec<String>,
    /// `-p`: ports to publish.
    pub publish: Vec<berth_net::PortMapping>,
    /// `-P`: publish every exposed port on a free host port.
    pub publish_all: bool,
    /// `--expose`: ports exposed besides the image's (`80/tcp`).
    pub expose: Vec<String>,
    /// `--ip` on the primary network.
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--dns`, `--dns-search`, `--dns-option`.
    pub dns: Vec<std::net::IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host` entries as given (`name:ip`, `name:host-gateway`).
    pub extra_hosts: Vec<String>,
}

impl NetOptions {
    /// Checks the flags against the network mode, as Docker does.
    pub fn check(&self, mode: &NetworkMode, hostname: Option<&str>) -> Result<()> {
        let conflict = |what: &str| {
            invalid(
                "network options",
                &mode.name(),
                format!("conflicting options: {what} and the network mode"),
            )
        };
        match mode {
            NetworkMode::Bridge(_) => {}
            NetworkMode::Container(_) => {
                if !self.publish.is_empty() || self.publish_all {
                    return Err(conflict("port publishing"));
                }
                if hostname.is_some() {
                    return Err(conflict("hostname"));
                }
                if !self.dns.is_empty() || !self.extra_hosts.is_empty() {
                    return Err(conflict("dns and the hosts file"));
                }
            }
            NetworkMode::None | NetworkMode::Host => {
                if !self.publish.is_empty() && *mode == NetworkMode::None {
                    return Err(conflict("port publishing"));
                }
            }
        }
        if self.ip.is_some() && !matches!(mode, NetworkMode::Bridge(n) if n != DEFAULT_NETWORK) {
            return Err(invalid(
                "ip",
                &self.ip.map(|i| i.to_string()).unwrap_or_default(),
                "a user specified IP address is supported on user defined networks only",
            ));
        }
        if !self.aliases.is_empty()
            && !matches!(mode, NetworkMode::Bridge(n) if n != DEFAULT_NETWORK)
        {
            return Err(invalid(
                "network-alias",
                &self.aliases.join(","),
                "network-scoped aliases are supported only for containers on user-defined networks",
            ));
        }
        for h in &self.extra_hosts {
            berth_net::parse_add_host(h).map_err(|e| invalid("add-host", h, e.reason))?;
        }
        Ok(())
    }
}

/// `--log-opt max-size=.. max-file=..` of the json-file driver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogOptions {
    /// Rotate when the file reaches this many bytes (None: never).
    pub max_size: Option<u64>,
    /// Files kept, the live one included.
    pub max_file: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogOptions {
    /// Applies one `--log-opt key=value`.
    pub fn set(&mut self, opt: &str) -> Result<()> {
        let (k, v) = opt
            .split_once('=')
            .ok_or_else(|| invalid("log option", opt, "expected key=value"))?;
        match k {
            "max-size" => self.max_size = Some(parse_bytes(v)? as u64),
            "max-file" => {
                self.max_file = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    invalid("log option", opt, "max-file must be a positive integer")
                })?
            }
            _ => {
                return Err(invalid(
                    "log option",
                    opt,
                    "the json-file driver knows max-size and max-file",
                ))
            }
        }
        if self.max_file > 1 && self.max_size.is_none() {
            return Err(invalid(
                "log option",
                opt,
                "max-file needs max-size to be set",
            ));
        }
        Ok(())
    }
}

/// `--restart`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart on a non-zero exit, at most this many times (0: unlimited).
    OnFailure(u32),
    Always,
    UnlessStopped,
}

impl FromStr for RestartPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let p = match (name, count) {
            ("no" | "", None) => RestartPolicy::No,
            ("always", None) => RestartPolicy::Always,
            ("unless-stopped", None) => RestartPolicy::UnlessStopped,
            ("on-failure", None) => RestartPolicy::OnFailure(0),
            ("on-failure", Some(c)) => RestartPolicy::OnFailure(c.parse().map_err(|_| {
                invalid(
                    "restart policy",
                    s,
                    "the retry count must be a non-negative integer",
                )
            })?),
            (_, Some(_)) => {
                return Err(invalid(
                    "restart policy",
                    s,
                    "a maximum retry count is only valid with on-failure",
                ))
            }
            _ => {
                return Err(invalid(
                    "restart policy",
                    s,
                    "expected no, always, unless-stopped or on-failure[:max-retries]",
                ))
            }
        };
        Ok(p)
    }
}

impl RestartPolicy {
    /// Docker's name, as `inspect` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure(_) => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Whether a container that exited with `code` after `restarts`
    /// restarts, unless a user stopped it.
    pub fn restarts(&self, code: i32, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => code != 0 && (*max == 0 || restarts < *max),
        }
    }
}

/// `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ulimit {
    /// `RLIMIT_NOFILE` etc.
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

impl FromStr for Ulimit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| invalid("ulimit", s, why);
        let (name, vals) = s
            .split_once('=')
            .ok_or_else(|| bad("expected name=soft[:hard]"))?;
        if !ULIMITS.contains(&name) {
            return Err(bad("unknown limit name"));
        }
        let num = |v: &str| -> Result<u64> {
            if v == "-1" || v == "unlimited" {
                return Ok(u64::MAX);
            }
            v.parse()
                .map_err(|_| bad("limits are integers (or -1 for unlimited)"))
        };
        let (soft, hard) = match vals.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(vals)?, num(vals)?),
        };
        if soft > hard {
            return Err(bad("the soft limit is above the hard limit"));
        }
        Ok(Ulimit {
            kind: format!("RLIMIT_{}", name.to_ascii_uppercase()),
            soft,
            hard,
        })
    }
}

/// A mount from `-v`, `--mount` or `--tmpfs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountSpec {
    pub kind: MountKind,
    pub target: String,
    pub read_only: bool,
    /// Extra mount options (bind propagation, tmpfs size/mode...).
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum MountKind {
    Bind {
        source: PathBuf,
    },
    /// A named volume (`name` empty for an anonymous one until created).
    Volume {
        name: String,
    },
    Tmpfs,
}

impl MountSpec {
    /// `-v [SRC:]DST[:OPTS]`: a host path (absolute) binds, a name is a
    /// volume, a lone target is an anonymous volume.
    pub fn parse_volume(s: &str) -> Result<MountSpec> {
        let bad = |why: &str| invalid("volume", s, why);
        let parts: Vec<&str> = s.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [d] => (None, *d, ""),
            [a, b] if b.starts_with('/') => (Some(*a), *b, ""),
            [a, b] => (None, *a, *b),
            [a, b, c] => (Some(*a), *b, *c),
            _ => return Err(bad("expected [SOURCE:]TARGET[:OPTIONS]")),
        };
        check_target(dst).map_err(|w| bad(&w))?;
        let mut read_only = false;
        let mut options = Vec::new();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => read_only = true,
                "rw" => read_only = false,
                "z" | "Z" | "nocopy" | "copy" | "consistent" | "cached" | "delegated" => {}
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                    options.push(o.to_owned())
                }
                _ => return Err(bad(&format!("unknown option {o:?}"))),
            }
        }
        let kind = match src {
            None => MountKind::Volume {
                name: String::new(),
            },
            Some(p) if p.starts_with('/') => MountKind::Bind {
                source: PathBuf::from(p),
            },
            Some(n) => {
                crate::volumes::check_name(n)?;
                MountKind::Volume { name: n.to_owned() }
            }
        };
        Ok(MountSpec {
            kind,
            target: dst.to_owned(),
            read_only,
            options,
        })
    }

    /// `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...`.
    pub fn parse_mount(s: &str) -> Result<MountSpec> {
        let bad = |why: String| invalid("mount", s, why);
        let mut kind = "volume".to_owned();
        let (mut source, mut target) = (None, None);
        let mut read_only = false;
        let mut options = Vec::new();
        for field in s.split(',') {
            let (k, v) = match field.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (field, None),
            };
            match (k, v) {
                ("type", Some(v)) => kind = v.to_owned(),
                ("source" | "src", Some(v)) => source = Some(v.to_owned()),
                ("target" | "destination" | "dst", Some(v)) => target = Some(v.to_owned()),
                ("readonly" | "ro", None) => read_only = true,
                ("readonly" | "ro", Some(v)) => {
                    read_only =
                        parse_bool(v).ok_or_else(|| bad(format!("{k}={v} is not a boolean")))?
                }
                ("bind-propagation", Some(v)) => options.push(v.to_owned()),
                ("tmpfs-size", Some(v)) => options.push(format!("size={}", parse_bytes(v)?)),
                ("tmpfs-mode", Some(v)) => {
                    u32::from_str_radix(v, 8)
                        .map_err(|_| bad(format!("tmpfs-mode {v} is not octal")))?;
                    options.push(format!("mode={v}"))
                }
                ("consistency" | "volume-nocopy", _) => {}
                _ => return Err(bad(format!("unknown field {field:?}"))),
            }
        }
        let target = target.ok_or_else(|| bad("target is required".into()))?;
        check_target(&target).map_err(bad)?;
        let kind = match kind.as_str() {
            "bind" => {
                let src = source.ok_or_else(|| bad("a bind mount needs a source".into()))?;
                if !src.starts_with('/') {
                    return Err(bad(format!("bind source {src} must be an absolute path")));
                }
                MountKind::Bind {
                    source: PathBuf::from(src),
                }
            }
            "volume" => {
                let name = source.unwrap_or_default();
                if !name.is_empty() {
                    crate::volumes::check_name(&name)?;
                }
                MountKind::Volume { name }
            }
            "tmpfs" => {
                if source.is_some() {
                    return Err(bad("a tmpfs mount takes no source".into()));
                }
                MountKind::Tmpfs
            }
            other => {
                return Err(bad(format!(
                    "unknown type {other}; expected bind, volume or tmpfs"
                )))
            }
        };
        Ok(MountSpec {
            kind,
            target,
            read_only,
            options,
        })
    }

    /// `--tmpfs DST[:OPTS]`.
    pub fn parse_tmpfs(s: &str) -> Result<MountSpec> {
        let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
        check_target(dst).map_err(|w| invalid("tmpfs", s, w))?;
        let mut read_only = false;
        let mut options = Vec::new();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => read_only = true,
                "rw" => read_only = false,
                _ => options.push(o.to_owned()),
            }
        }
        Ok(MountSpec {
            kind: MountKind::Tmpfs,
            target: dst.to_owned(),
            read_only,
            options,
        })
    }
}

fn check_target(t: &str) -> std::result::Result<(), String> {
    if !t.starts_with('/') {
        return Err(format!("the container path {t} must be absolute"));
    }
    if t == "/" {
        return Err("the container path cannot be /".into());
    }
    Ok(())
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// `--device HOST[:CONTAINER[:PERMS]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceSpec {
    pub host: PathBuf,
    pub container: String,
    pub permissions: String,
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| invalid("device", s, why);
        let parts: Vec<&str> = s.split(':').collect();
        let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
        let (host, container, perms) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, p] if is_perms(p) => (*h, *h, *p),
            [h, c] => (*h, *c, "rwm"),
            [h, c, p] => (*h, *c, *p),
            _ => return Err(bad("expected HOST[:CONTAINER[:PERMISSIONS]]")),
        };
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(bad("device paths must be absolute"));
        }
        if !is_perms(perms) {
            return Err(bad("permissions are a combination of r, w and m"));
        }
        Ok(DeviceSpec {
            host: PathBuf::from(host),
            container: container.to_owned(),
            permissions: perms.to_owned(),
        })
    }
}

/// `512m`, `1g`, `1024` (bytes), as Docker's `-m` takes them.
/// Docker's default size of `/dev/shm`.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// `--sysctl KEY=VALUE`, checked as Docker checks it: only the parameters
/// a container's own namespaces hold (IPC's `kernel.msg*`, `kernel.sem`,
/// `kernel.shm*`, `fs.mqueue.*` unless the IPC namespace is the host's, and
/// `net.*` unless the network is), as anything else would change the host.
pub fn parse_sysctl(s: &str, network: &NetworkMode, ipc: IpcMode) -> Result<(String, String)> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(invalid("sysctl", s, "expected KEY=VALUE"));
    };
    let key = key.trim();
    check_sysctl(key, network, ipc).map_err(|why| invalid("sysctl", s, why))?;
    Ok((key.to_owned(), value.to_owned()))
}

fn check_sysctl(key: &str, network: &NetworkMode, ipc: IpcMode) -> std::result::Result<(), String> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.is_empty() || key.contains(['/', ' ']) || key.split('.').any(str::is_empty) {
        return Err(format!("{key:?} is not a sysctl name"));
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        if ipc == IpcMode::Host {
            return Err(format!(
                "{key} would change the host's IPC namespace (--ipc host)"
            ));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        return match network {
            NetworkMode::Host => Err(format!(
                "{key} would change the host's network namespace (--network host)"
            )),
            NetworkMode::Container(c) => Err(format!(
                "{key} would change the network namespace of container {c}"
            )),
            _ => Ok(()),
        };
    }
    Err(format!(
        "{key} is not namespaced: only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* may be set"
    ))
}

pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| {
        invalid(
            "size",
            s,
            "expected a number with an optional unit (b, k, m, g, t)",
        )
    })?;
    if n.is_nan() || n < 0.0 || n * mult as f64 > i64::MAX as f64 {
        return Err(invalid("size", s, "out of range"));
    }
    Ok((n * mult as f64) as i64)
}

/// `--cpus 1.5` → nano-CPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let n: f64 = s
        .parse()
        .map_err(|_| invalid("cpus", s, "expected a decimal number of CPUs"))?;
    if n.is_nan() || n <= 0.0 || n > 1e6 {
        return Err(invalid("cpus", s, "must be a positive number"));
    }
    Ok((n * 1e9) as i64)
}

/// A signal by name (`SIGTERM`, `TERM`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(invalid("signal", s, "signal numbers are 1 to 64"));
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            if let Some(rest) = name.strip_prefix("RTMIN+") {
                if let Ok(k) = rest.parse::<i32>() {
                    if (0..=30).contains(&k) {
                        return Ok(34 + k);
                    }
                }
            }
            return Err(invalid("signal", s, "unknown signal name"));
        }
    };
    Ok(n)
}

/// `NET_ADMIN`, `cap_net_admin` → `CAP_NET_ADMIN`; `ALL` stays.
pub fn normalize_cap(s: &str) -> Result<String> {
    let up = s.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if crate::spec::ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(invalid("capability", s, "unknown capability"))
    }
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
