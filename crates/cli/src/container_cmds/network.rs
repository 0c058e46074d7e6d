//! `network create/ls/inspect/rm/prune/connect/disconnect` and `port`.

use std::collections::BTreeMap;

use berth_net::{CreateOptions, Network, Subnet};
use serde_json::{json, Value};

use super::{CmdResult, Ctx, Failure};
use crate::image_cmds::format::{columns, Template};

#[derive(clap::Args, Debug)]
pub struct NetworkCmd {
    #[command(subcommand)]
    pub cmd: NetworkSub,
}

#[derive(clap::Subcommand, Debug)]
pub enum NetworkSub {
    /// Create a network.
    Create {
        /// Driver to manage the network (bridge only).
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format.
        #[arg(long)]
        subnet: Option<String>,
        /// IPv4 gateway for the subnet.
        #[arg(long)]
        gateway: Option<std::net::Ipv4Addr>,
        /// Restrict external access to the network.
        #[arg(long)]
        internal: bool,
        /// Set metadata on a network (KEY=VALUE).
        #[arg(long = "label")]
        label: Vec<String>,
        /// Driver options (com.docker.network.driver.mtu=N).
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Do not truncate the output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Filter output (name=, id=, driver=, label=).
        #[arg(short = 'f', long = "filter")]
        filter: Vec<String>,
        /// Format output using a Go-like template.
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more networks.
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all unused user networks.
    Prune {
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Connect a container to a network.
    Connect {
        /// IPv4 address on the network.
        #[arg(long)]
        ip: Option<std::net::Ipv4Addr>,
        /// Add network-scoped alias for the container.
        #[arg(long)]
        alias: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        #[arg(short = 'f', long)]
        force: bool,
        network: String,
        container: String,
    },
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
#[derive(clap::Args, Debug)]
pub struct PortArgs {
    pub container: String,
    pub port: Option<String>,
}

const LS_FIELDS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// What `network ls` shows: the bridge networks, plus Docker's `host` and
/// `none` pseudo-networks.
struct Row {
    id: String,
    name: String,
    driver: &'static str,
    internal: bool,
    labels: BTreeMap<String, String>,
    created: String,
}

fn pseudo_id(name: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(format!(
        "berth pseudo-network {name}"
    )))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn rows(ctx: &Ctx) -> Result<Vec<Row>, Failure> {
    let nets = ctx.engine().networks()?;
    // The default network exists once it is looked at.
    let _ = nets.inspect(berth_engine::options::DEFAULT_NETWORK);
    let mut out: Vec<Row> = nets
        .list()
        .map_err(berth_engine::Error::from)?
        .into_iter()
        .map(|n: Network| Row {
            id: n.id,
            name: n.name,
            driver: "bridge",
            internal: n.internal,
            labels: n.labels,
            created: n.created,
        })
        .collect();
    for (name, driver) in [("host", "host"), ("none", "null")] {
        out.push(Row {
            id: pseudo_id(name),
            name: name.into(),
            driver,
            internal: false,
            labels: BTreeMap::new(),
            created: String::new(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn row_matches(r: &Row, filter: &str) -> Result<bool, Failure> {
    let (k, v) = super::split_filter(filter)?;
    Ok(match k {
        "name" => r.name.contains(v),
        "id" => r.id.starts_with(v),
        "driver" => r.driver == v,
        "label" => super::label_matches(&r.labels, v),
        "type" => match v {
            "custom" => r.driver == "bridge" && r.name != "bridge",
            "builtin" => !(r.driver == "bridge" && r.name != "bridge"),
            _ => return Err(Failure::new(format!("invalid filter 'type={v}'"), 125)),
        },
        _ => {
            return Err(Failure::new(
                format!("invalid filter '{k}': known filters are name, id, driver, label, type"),
                125,
            ))
        }
    })
}

pub fn network(ctx: &Ctx, n: NetworkCmd) -> CmdResult {
    let engine = ctx.engine();
    match n.cmd {
        NetworkSub::Create {
            driver,
            subnet,
            gateway,
            internal,
            label,
            opt,
            name,
        } => {
            if driver != "bridge" {
                return Err(Failure::new(
                    format!("network driver {driver:?} is not available; berth has \"bridge\""),
                    125,
                ));
            }
            let mut opts = CreateOptions {
                subnet: subnet
                    .as_deref()
                    .map(|s| {
                        s.parse::<Subnet>()
                            .map_err(|e| Failure::new(format!("invalid subnet {s:?}: {e}"), 125))
                    })
                    .transpose()?,
                gateway,
                internal,
                ..Default::default()
            };
            opts.labels.extend(super::parse_labels(&label));
            for o in &opt {
                match o.split_once('=') {
                    Some(("com.docker.network.driver.mtu" | "mtu", v)) => {
                        opts.mtu = Some(v.parse().map_err(|_| {
                            Failure::new(format!("invalid MTU {v:?}: expected a number"), 125)
                        })?)
                    }
                    _ => {
                        return Err(Failure::new(
                            format!("unknown network option {o:?}: berth knows com.docker.network.driver.mtu"),
                            125,
                        ))
                    }
                }
            }
            let net = engine
                .networks()?
                .create(&name, opts)
                .map_err(berth_engine::Error::from)?;
            println!("{}", net.id);
        }
        NetworkSub::Ls {
            quiet,
            no_trunc,
            filter,
            format,
        } => {
            let _ = engine.gc_networks();
            let mut list = Vec::new();
            for r in rows(ctx)? {
                let mut keep = true;
                for f in &filter {
                    keep &= row_matches(&r, f)?;
                }
                if keep {
                    list.push(r);
                }
            }
            let id = |r: &Row| {
                if no_trunc {
                    r.id.clone()
                } else {
                    r.id[..12].to_owned()
                }
            };
            if quiet {
                for r in &list {
                    println!("{}", id(r));
                }
                return Ok(0);
            }
            let fmt = format
                .as_deref()
                .unwrap_or("table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}");
            let known: Vec<&str> = LS_FIELDS.iter().map(|(k, _)| *k).collect();
            let t = Template::parse(fmt, &known).map_err(|e| Failure::new(e, 125))?;
            let titles: BTreeMap<&str, &str> = LS_FIELDS.iter().copied().collect();
            let mut out = Vec::new();
            if t.table {
                out.push(t.header(&titles));
            }
            for r in &list {
                let mut f = BTreeMap::new();
                f.insert("ID", id(r));
                f.insert("Name", r.name.clone());
                f.insert("Driver", r.driver.to_owned());
                f.insert("Scope", "local".to_owned());
                f.insert("IPv6", "false".to_owned());
                f.insert("Internal", r.internal.to_string());
                f.insert(
                    "Labels",
                    r.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                f.insert("CreatedAt", r.created.clone());
                out.push(t.render(&f));
            }
            if t.table {
                print!("{}", columns(&out));
            } else {
                for l in out {
                    println!("{l}");
                }
            }
        }
        NetworkSub::Inspect { networks } => {
            let _ = engine.gc_networks();
            let nets = engine.networks()?;
            let names = container_names(ctx);
            let mut docs = Vec::new();
            let mut code = 0;
            for n in networks {
                match nets.inspect(&n) {
                    Ok(info) => docs.push(inspect_doc(&info, &names)),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&docs).unwrap_or_default()
            );
            return Ok(code);
        }
        NetworkSub::Rm { networks } => {
            let _ = engine.gc_networks();
            let nets = engine.networks()?;
            let mut code = 0;
            for n in networks {
                let r = match used_by_containers(ctx, &n) {
                    Some(c) => Err(format!(
                        "error while removing network: network {n} has containers attached ({c}); remove them or `berth network disconnect` them first"
                    )),
                    None => nets.remove(&n).map_err(|e| e.to_string()),
                };
                match r {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        NetworkSub::Prune { force: _ } => {
            let _ = engine.gc_networks();
            let nets = engine.networks()?;
            let mut removed = Vec::new();
            for net in nets.list().map_err(berth_engine::Error::from)? {
                if net.name == berth_engine::options::DEFAULT_NETWORK
                    || used_by_containers(ctx, &net.name).is_some()
                {
                    continue;
                }
                if nets.remove(&net.name).is_ok() {
                    removed.push(net.name);
                }
            }
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for r in removed {
                    println!("{r}");
                }
            }
        }
        NetworkSub::Connect {
            ip,
            alias,
            network,
            container,
        } => {
            let id = engine.resolve(&container)?;
            engine.connect(&network, &id, ip, &alias)?;
        }
        NetworkSub::Disconnect {
            force: _,
            network,
            container,
        } => {
            let id = engine.resolve(&container)?;
            engine.disconnect(&network, &id)?;
        }
    }
    Ok(0)
}

/// Container ids by name, for `network inspect`.
fn container_names(ctx: &Ctx) -> BTreeMap<String, String> {
    ctx.engine()
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.record.id, c.record.name))
        .collect()
}

/// The containers (names) configured on a network, running or not.
fn used_by_containers(ctx: &Ctx, network: &str) -> Option<String> {
    let users = ctx.engine().network_users(network).unwrap_or_default();
    (!users.is_empty()).then(|| users.join(", "))
}

fn inspect_doc(info: &berth_net::NetworkInfo, names: &BTreeMap<String, String>) -> Value {
    let n = &info.network;
    let containers: serde_json::Map<String, Value> = info
        .attachments
        .iter()
        .map(|a| {
            (
                a.container_id.clone(),
                json!({
                    "Name": names.get(&a.container_id).cloned().unwrap_or_default(),
                    "EndpointID": a.endpoint_id,
                    "MacAddress": a.mac,
                    "IPv4Address": format!("{}/{}", a.ip, a.prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    let mut options = serde_json::Map::new();
    options.insert(
        "com.docker.network.bridge.name".into(),
        json!(n.bridge.clone()),
    );
    if let Some(m) = n.mtu {
        options.insert("com.docker.network.driver.mtu".into(), json!(m.to_string()));
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null,
                 "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    })
}

/// `port`: `80/tcp -> 0.0.0.0:8080` lines, or the host addresses of one
/// private port.
pub fn port(ctx: &Ctx, a: PortArgs) -> CmdResult {
    let engine = ctx.engine();
    let id = engine.resolve(&a.container)?;
    let mut published: Vec<berth_net::PublishedPort> = engine
        .attachments(&id)
        .into_iter()
        .flat_map(|at| at.ports)
        .collect();
    published.sort_by_key(|p| (p.container_port, p.proto, p.host_port));
    if let Some(want) = &a.port {
        let (num, proto) = want.split_once('/').unwrap_or((want, "tcp"));
        let num: u16 = num.parse().map_err(|_| {
            Failure::new(
                format!("Error: invalid port {want:?}: expected PORT[/PROTO]"),
                1,
            )
        })?;
        let hits: Vec<_> = published
            .iter()
            .filter(|p| p.container_port == num && p.proto.to_string() == proto)
            .collect();
        if hits.is_empty() {
            return Err(Failure::new(
                format!(
                    "Error: No public port '{num}/{proto}' published for {}",
                    a.container
                ),
                1,
            ));
        }
        for p in hits {
            println!("{}:{}", p.host_ip, p.host_port);
        }
    } else {
        for p in published {
            println!(
                "{}/{} -> {}:{}",
                p.container_port, p.proto, p.host_ip, p.host_port
            );
        }
    }
    Ok(0)
}
