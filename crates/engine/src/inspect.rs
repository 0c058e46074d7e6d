//! `inspect` output in Docker's JSON shape, for the fields users script
//! against: State, Config, HostConfig, Mounts, NetworkSettings.

use serde_json::{json, Value};

use crate::lifecycle::Container;
use crate::options::MountKind;
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
            },
            "GraphDriver": {"Name": "overlay", "Data": {
                "LowerDir": r.layers.iter().rev().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                "UpperDir": paths.upper(), "WorkDir": paths.work(), "MergedDir": paths.rootfs(),
            }},
            "Mounts": mounts,
            "Config": {
                "Hostname": hostname,
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
            },
            "NetworkSettings": {
                "Networks": {},
                "Ports": {},
                "IPAddress": "",
                "Gateway": "",
                "MacAddress": "",
            },
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
