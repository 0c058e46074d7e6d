//! `inspect` output in Docker's JSON shape, for the fields users script
//! against: State, Config, HostConfig, Mounts, NetworkSettings.

use serde_json::{json, Value};

use crate::lifecycle::Container;
use crate::options::{CgroupnsMode, MountKind, NetworkMode, DEFAULT_SHM_SIZE};
use crate::record::Status;
use crate::Engine;

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Engine {
    pub fn inspect_json(&self, c: &Container) -> Value {
        let r = &c.record;
        let s = &c.state;
        let o = &r.options;
        let paths = self.paths(&r.id);
        let args = crate::spec::args(&r.config, o).unwrap_or_default();
        let hostname = crate::spec::hostname(&r.id, o);
        let env = crate::spec::env(&r.config, o, &hostname, None);
        let mounts: Vec<Value> = o
            .mounts
            .iter()
            .map(|m| match &m.kind {
                MountKind::Bind { source } => json!({
                    "Type": "bind", "Source": source, "Destination": m.target,
                    "Mode": if m.read_only { "ro" } else { "" }, "RW": !m.read_only,
                    "Propagation": m.options.first().cloned().unwrap_or_else(|| "rprivate".into()),
                }),
                MountKind::Volume { name } => json!({
                    "Type": "volume", "Name": name, "Source": self.volumes().data(name),
                    "Destination": m.target, "Driver": "local",
                    "Mode": if m.read_only { "ro" } else { "z" }, "RW": !m.read_only, "Propagation": "",
                }),
                MountKind::Tmpfs => json!({
                    "Type": "tmpfs", "Source": "", "Destination": m.target,
                    "Mode": m.options.join(","), "RW": !m.read_only, "Propagation": "",
                }),
            })
            .collect();
        let binds: Vec<String> = o
            .mounts
            .iter()
            .filter_map(|m| match &m.kind {
                MountKind::Bind { source } => Some(format!(
                    "{}:{}{}",
                    source.display(),
                    m.target,
                    if m.read_only { ":ro" } else { "" }
                )),
                _ => None,
            })
            .collect();
        let running = matches!(s.status, Status::Running | Status::Paused);
        let mut security_opt = Vec::new();
        if o.security.no_new_privileges {
            security_opt.push("no-new-privileges".to_owned());
        }
        json!({
            "Id": r.id,
            "Created": r.created,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "Status": s.status.as_str(),
                "Running": running,
                "Paused": s.status == Status::Paused,
                "Restarting": s.status == Status::Restarting,
                "OOMKilled": s.oom_killed,
                "Dead": s.status == Status::Dead,
                "Pid": if running { s.pid } else { 0 },
                "ExitCode": s.exit_code,
                "Error": s.error,
                "StartedAt": s.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
                "FinishedAt": s.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            },
            "Image": r.image_id,
            "ResolvConfPath": paths.dir.join("resolv.conf"),
            "HostnamePath": paths.dir.join("hostname"),
            "HostsPath": paths.dir.join("hosts"),
            "LogPath": paths.log(),
            "Name": format!("/{}", r.name),
            "RestartCount": s.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "HostConfig": {
                "Binds": binds,
                "LogConfig": {"Type": "json-file", "Config": log_config(o)},
                "NetworkMode": o.network.name(),
                "CgroupnsMode": o.cgroupns.unwrap_or(CgroupnsMode::Private).name(),
                "PidMode": o.pid.name(),
                "VolumesFrom": o.volumes_from,
                "IpcMode": o.ipc.name(),
                "UTSMode": if o.uts_host { "host" } else { "" },
                "PortBindings": port_bindings(o),
                "PublishAllPorts": o.net.publish_all,
                "Dns": o.net.dns,
                "DnsSearch": o.net.dns_search,
                "DnsOptions": o.net.dns_options,
                "ExtraHosts": o.net.extra_hosts,
                "RestartPolicy": {"Name": o.restart.name(), "MaximumRetryCount": match o.restart {
                    crate::options::RestartPolicy::OnFailure(n) => n, _ => 0 }},
                "AutoRemove": o.auto_remove,
                "CapAdd": o.cap_add,
                "CapDrop": o.cap_drop,
                "Privileged": o.privileged,
                "ReadonlyRootfs": o.read_only,
                "SecurityOpt": security_opt,
                "Memory": o.resources.memory.unwrap_or(0),
                "MemorySwap": o.resources.memory_swap.unwrap_or(0),
                "NanoCpus": o.resources.nano_cpus.unwrap_or(0),
                "CpuShares": o.resources.cpu_shares.unwrap_or(0),
                "CpusetCpus": o.resources.cpuset_cpus.clone().unwrap_or_default(),
                "PidsLimit": o.resources.pids_limit,
                "Ulimits": o.ulimits.iter().map(|u| json!({
                    "Name": u.kind.trim_start_matches("RLIMIT_").to_ascii_lowercase(),
                    "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
                "Devices": o.devices.iter().map(|d| json!({
                    "PathOnHost": d.host, "PathInContainer": d.container,
                    "CgroupPermissions": d.permissions})).collect::<Vec<_>>(),
                "Init": o.init,
                "ShmSize": o.shm_size.unwrap_or(DEFAULT_SHM_SIZE),
                "Sysctls": o.sysctls,
                "GroupAdd": o.group_add,
                "OomScoreAdj": o.oom_score_adj.unwrap_or(0),
                "MemoryReservation": o.resources.memory_reservation.unwrap_or(0),
                "CpuPeriod": o.resources.cpu_period.unwrap_or(0),
                "CpuQuota": o.resources.cpu_quota.unwrap_or(0),
                "BlkioWeight": o.resources.blkio_weight.unwrap_or(0),
            },
            "GraphDriver": {"Name": "overlay", "Data": {
                "LowerDir": r.layers.iter().rev().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                "UpperDir": paths.upper(), "WorkDir": paths.work(), "MergedDir": paths.rootfs(),
            }},
            "Mounts": mounts,
            "Config": {
                "Hostname": hostname,
                "Domainname": o.domainname.clone().unwrap_or_default(),
                "User": o.user.clone().or_else(|| r.config.user.clone()).unwrap_or_default(),
                "Tty": o.tty,
                "OpenStdin": o.interactive,
                "Env": env,
                "Cmd": if o.cmd.is_empty() { r.config.cmd.clone().unwrap_or_default() } else { o.cmd.clone() },
                "Entrypoint": o.entrypoint.clone().or_else(|| r.config.entrypoint.clone()),
                "Image": r.image,
                "WorkingDir": o.workdir.clone().or_else(|| r.config.working_dir.clone()).unwrap_or_default(),
                "Labels": labels(c),
                "StopSignal": o.stop_signal.clone().or_else(|| r.config.stop_signal.clone()).unwrap_or_else(|| "SIGTERM".into()),
                "StopTimeout": o.stop_timeout,
                "ExposedPorts": crate::network::exposed_ports(r).iter()
                    .map(|p| (p.clone(), json!({}))).collect::<serde_json::Map<_, _>>(),
            },
            "NetworkSettings": self.network_settings(c),
        })
    }
}

/// The image's labels overlaid with the container's.
pub fn labels(c: &Container) -> std::collections::BTreeMap<String, String> {
    let mut l = c.record.config.labels.clone().unwrap_or_default();
    l.extend(c.record.options.labels.clone());
    l
}

fn log_config(o: &crate::options::ContainerOptions) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(s) = o.log.max_size {
        m.insert("max-size".into(), json!(s.to_string()));
        m.insert("max-file".into(), json!(o.log.max_file.to_string()));
    }
    Value::Object(m)
}

/// `HostConfig.PortBindings`: the `-p` flags, keyed by container port.
fn port_bindings(o: &crate::options::ContainerOptions) -> Value {
    let mut m = serde_json::Map::new();
    for p in &o.net.publish {
        let host_port = match p.host_port {
            berth_net::HostPort::Any => String::new(),
            berth_net::HostPort::Fixed(n) => n.to_string(),
            berth_net::HostPort::Range(a, b) => format!("{a}-{b}"),
        };
        let host_ip = if p.host_ip.is_unspecified() {
            String::new()
        } else {
            p.host_ip.to_string()
        };
        let entry = m
            .entry(format!("{}/{}", p.container_port, p.proto))
            .or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": host_ip, "HostPort": host_port}));
        }
    }
    Value::Object(m)
}

impl Engine {
    /// `NetworkSettings`: the networks the container is on (with their
    /// addresses while it runs) and its ports, as Docker shows them.
    fn network_settings(&self, c: &Container) -> Value {
        let r = &c.record;
        let live = self.attachments(&r.id);
        let mut networks = serde_json::Map::new();
        let mut names = r.options.net.networks.clone();
        if matches!(r.options.network, NetworkMode::None | NetworkMode::Host) {
            names.push(r.options.network.name());
        }
        for name in &names {
            let a = live.iter().find(|a| &a.network == name);
            let mut dns_names: Vec<String> = vec![r.name.clone(), r.id[..12].to_owned()];
            dns_names.extend(r.options.net.aliases.iter().cloned());
            networks.insert(
                name.clone(),
                json!({
                    "IPAMConfig": null,
                    "Links": null,
                    "Aliases": if r.options.net.aliases.is_empty() { Value::Null } else { json!(r.options.net.aliases) },
                    "MacAddress": a.map(|a| a.mac.clone()).unwrap_or_default(),
                    "NetworkID": a.map(|a| a.network_id.clone()).unwrap_or_default(),
                    "EndpointID": a.map(|a| a.endpoint_id.clone()).unwrap_or_default(),
                    "Gateway": a.map(|a| a.gateway.to_string()).unwrap_or_default(),
                    "IPAddress": a.map(|a| a.ip.to_string()).unwrap_or_default(),
                    "IPPrefixLen": a.map(|a| a.prefix).unwrap_or(0),
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": if name == crate::options::DEFAULT_NETWORK { Value::Null } else { json!(dns_names) },
                }),
            );
        }
        let mut ports = serde_json::Map::new();
        if !live.is_empty() {
            for key in crate::network::exposed_ports(r) {
                ports.insert(key, Value::Null);
            }
            for p in live.iter().flat_map(|a| &a.ports) {
                let entry = ports
                    .entry(format!("{}/{}", p.container_port, p.proto))
                    .or_insert(Value::Null);
                if entry.is_null() {
                    *entry = json!([]);
                }
                if let Some(v) = entry.as_array_mut() {
                    v.push(json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}));
                }
            }
        }
        let default = live
            .iter()
            .find(|a| a.network == crate::options::DEFAULT_NETWORK);
        json!({
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": if live.is_empty() { String::new() } else { self.netns_path(&r.id).display().to_string() },
            "Ports": ports,
            "Gateway": default.map(|a| a.gateway.to_string()).unwrap_or_default(),
            "IPAddress": default.map(|a| a.ip.to_string()).unwrap_or_default(),
            "IPPrefixLen": default.map(|a| a.prefix).unwrap_or(0),
            "MacAddress": default.map(|a| a.mac.clone()).unwrap_or_default(),
            "Networks": networks,
        })
    }
}
