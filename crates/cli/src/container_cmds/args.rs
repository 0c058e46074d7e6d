//! `berth create`/`run` flags, spelled as Docker spells them, and their
//! translation into the engine's typed options.

use berth_engine::options::{
    normalize_cap, parse_bytes, parse_cpus, parse_signal, ContainerOptions, DeviceSpec, IpcMode,
    LogOptions, MountSpec, NetOptions, NetworkMode, Resources, RestartPolicy, SeccompChoice,
    SecurityOptions, Ulimit,
};
use berth_engine::Result;

#[derive(clap::Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help (`-h` is --hostname, as in Docker).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to take the host's).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Keep STDIN open.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Bind mount a volume (SRC:DST[:ro]).
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,...).
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (DST[:OPTIONS]).
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Memory limit.
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Limit CPU CFS period (microseconds).
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Limit CPU CFS quota (microseconds, -1 for none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Block IO weight (relative, 10 to 1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Container NIS domain name.
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (name=soft[:hard]).
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Security options (seccomp=PROFILE|unconfined, no-new-privileges).
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Add a host device to the container.
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Restart policy (no, on-failure[:max-retries], always, unless-stopped).
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    /// Set metadata on a container (KEY=VALUE).
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels.
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Add supplementary groups (names or gids).
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Size of /dev/shm (default 64m).
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Namespaced kernel parameters (KEY=VALUE).
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|:rw]).
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// IPC mode to use (private, shareable, none, host).
    #[arg(long = "ipc")]
    pub ipc: Option<String>,
    /// UTS namespace to use (host).
    #[arg(long = "uts")]
    pub uts: Option<String>,
    /// PID namespace to use (host, or container:NAME).
    #[arg(long = "pid")]
    pub pid: Option<String>,
    /// Cgroup namespace: host or private (default: private on cgroup v2
    /// hosts, host on v1, as Docker).
    #[arg(long = "cgroupns")]
    pub cgroupns: Option<String>,
    /// Connect a container to a network (bridge, none, host, container:NAME, or a network's name).
    #[arg(long = "network", alias = "net", default_value = "bridge")]
    pub network: String,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto]).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to free host ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// IPv4 address on the (user-defined) network.
    #[arg(long = "ip")]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long = "dns")]
    pub dns: Vec<std::net::IpAddr>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Log driver options (max-size, max-file).
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Log driver (json-file only).
    #[arg(long = "log-driver", default_value = "json-file")]
    pub log_driver: String,
    /// Platform of the image (os/arch[/variant]): pulled for it, and an
    /// image here of another platform is refused.
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running (always, missing, never).
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Write the container ID to the file.
    #[arg(long)]
    pub cidfile: Option<std::path::PathBuf>,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// The image to run.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl CreateArgs {
    /// The engine's options; every flag's text is checked here.
    pub fn options(&self) -> Result<ContainerOptions> {
        let env = env_list(&self.env_file, &self.env)?;
        let mut mounts = Vec::new();
        for v in &self.volume {
            mounts.push(MountSpec::parse_volume(v)?);
        }
        for m in &self.mount {
            mounts.push(MountSpec::parse_mount(m)?);
        }
        for t in &self.tmpfs {
            mounts.push(MountSpec::parse_tmpfs(t)?);
        }
        let mut security = SecurityOptions::default();
        for s in &self.security_opt {
            match s.split_once(['=', ':']) {
                Some(("seccomp", "unconfined")) => security.seccomp = SeccompChoice::Unconfined,
                Some(("seccomp", path)) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(berth_engine::error::io_err("reading seccomp profile", path))?;
                    security.seccomp = SeccompChoice::Profile(text);
                }
                Some(("no-new-privileges", v)) => security.no_new_privileges = v != "false",
                None if s == "no-new-privileges" => security.no_new_privileges = true,
                Some(("apparmor" | "label", _)) => {}
                _ => {
                    return Err(berth_engine::error::invalid(
                        "security option",
                        s,
                        "expected seccomp=PROFILE|unconfined or no-new-privileges",
                    ))
                }
            }
        }
        if self.log_driver != "json-file" {
            return Err(berth_engine::error::invalid(
                "log driver",
                &self.log_driver,
                "berth writes json-file logs",
            ));
        }
        let mut log = LogOptions::default();
        for o in &self.log_opt {
            log.set(o)?;
        }
        let restart: RestartPolicy = self.restart.parse()?;
        if self.rm && restart != RestartPolicy::No {
            return Err(berth_engine::error::invalid(
                "restart policy",
                &self.restart,
                "--restart and --rm cannot be used together",
            ));
        }
        if let Some(s) = &self.stop_signal {
            parse_signal(s)?;
        }
        let network: NetworkMode = self.network.parse()?;
        let ipc: IpcMode = self.ipc.as_deref().unwrap_or("").parse()?;
        let sysctls = self
            .sysctl
            .iter()
            .map(|s| berth_engine::options::parse_sysctl(s, &network, ipc))
            .collect::<Result<_>>()?;
        // As Docker: the files' labels first, then --label over them.
        let mut label_flags = file_lines(&self.label_file, "reading label file")?;
        label_flags.extend(self.label.iter().cloned());
        let labels = super::parse_labels(&label_flags);
        Ok(ContainerOptions {
            name: self.name.clone(),
            cmd: self.command.clone(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    vec![]
                } else {
                    vec![e.clone()]
                }
            }),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            tty: self.tty,
            interactive: self.interactive,
            mounts,
            read_only: self.read_only,
            resources: Resources {
                memory: self.memory.as_deref().map(parse_bytes).transpose()?,
                memory_swap: match self.memory_swap.as_deref() {
                    Some("-1") => Some(-1),
                    Some(s) => Some(parse_bytes(s)?),
                    None => None,
                },
                nano_cpus: self.cpus.as_deref().map(parse_cpus).transpose()?,
                cpu_shares: self.cpu_shares,
                cpuset_cpus: self.cpuset_cpus.clone(),
                pids_limit: self.pids_limit.filter(|p| *p > 0),
                memory_reservation: self
                    .memory_reservation
                    .as_deref()
                    .map(parse_bytes)
                    .transpose()?,
                cpu_period: self.cpu_period.filter(|p| *p > 0),
                cpu_quota: self.cpu_quota.filter(|q| *q != 0),
                blkio_weight: self.blkio_weight.filter(|w| *w > 0),
            },
            ulimits: self
                .ulimit
                .iter()
                .map(|u| u.parse::<Ulimit>())
                .collect::<Result<_>>()?,
            cap_add: self
                .cap_add
                .iter()
                .map(|c| normalize_cap(c))
                .collect::<Result<_>>()?,
            cap_drop: self
                .cap_drop
                .iter()
                .map(|c| normalize_cap(c))
                .collect::<Result<_>>()?,
            privileged: self.privileged,
            security,
            devices: self
                .device
                .iter()
                .map(|d| d.parse::<DeviceSpec>())
                .collect::<Result<_>>()?,
            init: self.init,
            restart,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            labels,
            net: self.net_options(&network)?,
            network,
            pid: self.pid.as_deref().unwrap_or("").parse()?,
            ipc,
            volumes_from: self.volumes_from.clone(),
            uts_host: match self.uts.as_deref() {
                None | Some("") => false,
                Some("host") => true,
                Some(u) => {
                    return Err(berth_engine::error::invalid("uts mode", u, "expected host"))
                }
            },
            cgroupns: match self.cgroupns.as_deref() {
                None | Some("") => None,
                Some(m) => Some(m.parse()?),
            },
            shm_size: self.shm_size.as_deref().map(parse_bytes).transpose()?,
            sysctls,
            group_add: self.group_add.clone(),
            oom_score_adj: self.oom_score_adj,
            domainname: self.domainname.clone().filter(|d| !d.is_empty()),
            auto_remove: self.rm,
            log,
        })
    }
}

impl CreateArgs {
    fn net_options(&self, network: &NetworkMode) -> Result<NetOptions> {
        let mut publish = Vec::new();
        for p in &self.publish {
            publish
                .extend(berth_net::parse_publish(p).map_err(|e| {
                    berth_engine::error::invalid("port specification", p, e.reason)
                })?);
        }
        for e in &self.expose {
            berth_net::parse_exposed([e.as_str()])
                .map_err(|err| berth_engine::error::invalid("port to expose", e, err.reason))?;
        }
        let net = NetOptions {
            networks: match network {
                NetworkMode::Bridge(n) => vec![n.clone()],
                _ => Vec::new(),
            },
            publish: if *network == NetworkMode::Host {
                if !self.publish.is_empty() {
                    eprintln!(
                        "WARNING: Published ports are discarded when using host network mode"
                    );
                }
                Vec::new()
            } else {
                publish
            },
            publish_all: self.publish_all && *network != NetworkMode::Host,
            expose: self.expose.clone(),
            ip: self.ip,
            aliases: self.network_alias.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            extra_hosts: self.add_host.clone(),
        };
        net.check(network, self.hostname.as_deref())?;
        Ok(net)
    }
}

/// The environment of `--env-file`s then `-e`s, in order.
pub fn env_list(files: &[String], vars: &[String]) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for l in file_lines(files, "reading env file")? {
        push_env(&mut env, &l);
    }
    for e in vars {
        push_env(&mut env, e);
    }
    Ok(env)
}

/// The lines of `files` (`--env-file`, `--label-file`), in order, without
/// blank lines and `#` comments, leading blanks trimmed.
fn file_lines(files: &[String], what: &'static str) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(berth_engine::error::io_err(what, f))?;
        lines.extend(
            text.lines()
                .map(str::trim_start)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    Ok(lines)
}

/// `KEY=VALUE` as given; a bare `KEY` takes the host's value, or is
/// dropped when the host has none (as Docker does).
fn push_env(env: &mut Vec<String>, e: &str) {
    if e.contains('=') {
        env.push(e.to_owned());
    } else if let Ok(v) = std::env::var(e) {
        env.push(format!("{e}={v}"));
    }
}
