//! Networks: definitions (create, remove, list, inspect) and bringing a
//! network's bridge and rules up and down in the kernel.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::Error;
use crate::ipam::Subnet;
use crate::link;
use crate::nft;
use crate::nl::Socket;
use crate::rules::{self, NetworkRules};
use crate::state::{self, Active, Dirs, Lock, RunState};
use crate::sysctl;
use crate::types::{Attachment, CreateOptions, NetConfig, Network, DEFAULT_NETWORK};

/// The net layer's entry point: networks and the containers attached to them.
#[derive(Debug)]
pub struct Networks {
    pub(crate) dirs: Dirs,
    pub(crate) config: NetConfig,
}

/// A network and the containers attached to it (`network inspect`).
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    /// The definition.
    pub network: Network,
    /// Whether its bridge is set up now.
    pub active: bool,
    /// The attachments.
    pub attachments: Vec<Attachment>,
}

const DEFAULT_MTU: u32 = 1500;

fn validate_name(name: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidName {
        name: name.to_string(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(invalid("it must start with a letter or digit"))
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(invalid(
            "only letters, digits, '_', '.' and '-' are allowed",
        ));
    }
    if name.len() > 128 {
        return Err(invalid("it is longer than 128 characters"));
    }
    if name == "host" || name == "none" {
        return Err(invalid("it is reserved for the network mode of that name"));
    }
    Ok(())
}

impl Networks {
    /// Opens the net layer's state: definitions under `state_dir` (kept
    /// across reboots), run-time state under `run_dir` (a tmpfs).
    pub fn open(state_dir: &Path, run_dir: &Path, config: NetConfig) -> Result<Networks, Error> {
        Ok(Networks {
            dirs: Dirs::new(state_dir, run_dir)?,
            config,
        })
    }

    /// Creates user network `name`.
    pub fn create(&self, name: &str, opts: CreateOptions) -> Result<Network, Error> {
        validate_name(name)?;
        let lock = self.dirs.lock()?;
        self.ensure_default(&lock)?;
        if self.dirs.load_network(name)?.is_some() {
            return Err(Error::Exists(name.to_string()));
        }
        let others = self.dirs.networks()?;
        let routes = host_routes()?;
        let subnet = match opts.subnet {
            Some(s) => {
                check_overlap(&s, &others, &routes)?;
                s
            }
            None => self.pick_subnet(&others, &routes)?,
        };
        let gateway = match opts.gateway {
            Some(g) if !subnet.contains(g) || g == subnet.addr() || g == subnet.broadcast() => {
                return Err(Error::Refused {
                    name: name.to_string(),
                    reason: format!("gateway {g} is not a host address of {subnet}"),
                })
            }
            Some(g) => g,
            None => subnet.first_host(),
        };
        let id = state::random_id()?;
        let network = Network {
            name: name.to_string(),
            bridge: format!("{}-{}", rules::BRIDGE_PREFIX, &id[..9]),
            id,
            created: state::now_rfc3339(),
            driver: "bridge".into(),
            subnet,
            gateway,
            internal: opts.internal,
            labels: opts.labels,
            mtu: opts.mtu,
        };
        self.dirs.save_network(&lock, &network)?;
        tracing::info!(network = %network.name, subnet = %subnet, "network created");
        Ok(network)
    }

    fn pick_subnet(&self, others: &[Network], routes: &[(Ipv4Addr, u8)]) -> Result<Subnet, Error> {
        let pool = self.config.pool;
        (0u32..)
            .map_while(|n| pool.nth_child(self.config.pool_prefix, n))
            .find(|s| check_overlap(s, others, routes).is_ok())
            .ok_or(Error::PoolExhausted { pool })
    }

    /// Removes a network; it must have no containers attached.
    pub fn remove(&self, name_or_id: &str) -> Result<(), Error> {
        let lock = self.dirs.lock()?;
        let net = self.resolve(&lock, name_or_id)?;
        if net.name == DEFAULT_NETWORK {
            return Err(Error::Refused {
                name: net.name,
                reason: "the default network cannot be removed".into(),
            });
        }
        let mut rs = self.dirs.load_run()?;
        let attached: Vec<_> = rs
            .on_network(&net.id)
            .map(|a| a.container_id.clone())
            .collect();
        if !attached.is_empty() {
            return Err(Error::InUse {
                name: net.name,
                containers: attached.join(", "),
            });
        }
        let errors = deactivate(&mut rs, &net.id);
        rs.last_ip.remove(&net.id);
        self.dirs.save_run(&lock, &rs)?;
        if !errors.is_empty() {
            return Err(Error::Teardown(errors));
        }
        self.dirs.delete_network(&lock, &net.name)
    }

    /// Every network, the default one included.
    pub fn list(&self) -> Result<Vec<Network>, Error> {
        let lock = self.dirs.lock()?;
        self.ensure_default(&lock)?;
        self.dirs.networks()
    }

    /// A network and what is attached to it.
    pub fn inspect(&self, name_or_id: &str) -> Result<NetworkInfo, Error> {
        let lock = self.dirs.lock()?;
        let network = self.resolve(&lock, name_or_id)?;
        let rs = self.dirs.load_run()?;
        Ok(NetworkInfo {
            active: rs.active.contains_key(&network.id),
            attachments: rs.on_network(&network.id).cloned().collect(),
            network,
        })
    }

    /// The attachments of one container (for `port`, `ps`, `inspect`).
    pub fn attachments(&self, container_id: &str) -> Result<Vec<Attachment>, Error> {
        Ok(self
            .dirs
            .load_run()?
            .endpoints
            .remove(container_id)
            .unwrap_or_default())
    }

    /// The default network's definition, created on first use.
    fn ensure_default(&self, lock: &Lock) -> Result<Network, Error> {
        if let Some(n) = self.dirs.load_network(DEFAULT_NETWORK)? {
            return Ok(n);
        }
        let subnet = self.config.default_subnet;
        let n = Network {
            name: DEFAULT_NETWORK.into(),
            id: state::random_id()?,
            created: state::now_rfc3339(),
            driver: "bridge".into(),
            subnet,
            gateway: subnet.first_host(),
            bridge: self.config.default_bridge.clone(),
            internal: false,
            labels: Default::default(),
            mtu: None,
        };
        self.dirs.save_network(lock, &n)?;
        Ok(n)
    }

    /// The network called `name_or_id`, or whose id starts with it.
    pub(crate) fn resolve(&self, lock: &Lock, name_or_id: &str) -> Result<Network, Error> {
        if name_or_id == DEFAULT_NETWORK {
            return self.ensure_default(lock);
        }
        if validate_name(name_or_id).is_ok() {
            if let Some(n) = self.dirs.load_network(name_or_id)? {
                return Ok(n);
            }
        }
        let mut by_id: Vec<Network> = self
            .dirs
            .networks()?
            .into_iter()
            .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
            .collect();
        match by_id.len() {
            1 => Ok(by_id.remove(0)),
            _ => Err(Error::NotFound(name_or_id.to_string())),
        }
    }
}

fn host_routes() -> Result<Vec<(Ipv4Addr, u8)>, Error> {
    let mut sock = Socket::route().map_err(Error::kernel("opening rtnetlink", "host"))?;
    Ok(link::routes(&mut sock)
        .map_err(Error::kernel("listing routes", "host"))?
        .into_iter()
        .filter(|r| r.prefix > 0)
        .map(|r| (r.dst, r.prefix))
        .collect())
}

fn check_overlap(s: &Subnet, others: &[Network], routes: &[(Ipv4Addr, u8)]) -> Result<(), Error> {
    if let Some(o) = others.iter().find(|o| o.subnet.overlaps(s)) {
        return Err(Error::SubnetOverlap {
            subnet: *s,
            other: format!("network {} ({})", o.name, o.subnet),
        });
    }
    if let Some((a, p)) = routes.iter().find(|(a, p)| s.overlaps_route(*a, *p)) {
        return Err(Error::SubnetOverlap {
            subnet: *s,
            other: format!("the host route {a}/{p}"),
        });
    }
    Ok(())
}

/// Sets up `net`'s bridge (with its address, sysctls and rules) and records
/// it as active. A leftover bridge of the same name is replaced.
pub(crate) fn activate(
    route: &mut Socket,
    nft_sock: &mut Socket,
    net: &Network,
) -> Result<Active, Error> {
    let br = net.bridge.as_str();
    let mtu = match net.mtu {
        Some(m) => m,
        None => link::default_route_mtu(route)
            .map_err(Error::kernel("finding the default route's MTU", br))?
            .unwrap_or(DEFAULT_MTU),
    };
    if link::link_by_name(route, br)
        .map_err(Error::kernel("looking up bridge", br))?
        .is_some()
    {
        route
            .exec_all(&[link::del_link(br)])
            .map_err(|(_, e)| Error::kernel("deleting leftover bridge", br)(e))?;
    }
    // Another interface already routing (part of) the subnet would make the
    // containers unreachable; say so instead of shadowing it.
    let routes: Vec<_> = link::routes(route)
        .map_err(Error::kernel("listing routes", br))?
        .into_iter()
        .filter(|r| r.prefix > 0)
        .map(|r| (r.dst, r.prefix))
        .collect();
    check_overlap(&net.subnet, &[], &routes)?;
    route
        .exec_all(&[link::new_bridge(br, mtu)])
        .map_err(|(_, e)| Error::kernel("creating bridge", br)(e))?;
    let index = link::link_by_name(route, br)
        .map_err(Error::kernel("looking up bridge", br))?
        .map(|l| l.index)
        .ok_or_else(|| {
            Error::kernel("looking up bridge", br)(std::io::ErrorKind::NotFound.into())
        })?;
    route
        .exec_all(&[link::new_addr(index, net.gateway, net.subnet.prefix())])
        .map_err(|(_, e)| Error::kernel("adding the gateway address", br)(e))?;
    if !net.internal {
        sysctl::enable_route_localnet(br).map_err(Error::kernel("enabling route_localnet", br))?;
        sysctl::enable_forwarding().map_err(Error::kernel("enabling IPv4 forwarding", br))?;
    }
    let tag = rules::network_tag(&net.id);
    let mut msgs = nft::base();
    for old in nft::list_rules(nft_sock)
        .map_err(Error::kernel("listing nftables rules", br))?
        .iter()
        .filter(|r| r.tag == tag)
    {
        msgs.push(nft::del_rule(&old.chain, old.handle));
    }
    let plan = NetworkRules {
        id: &net.id,
        bridge: br,
        subnet: net.subnet,
        internal: net.internal,
    };
    msgs.extend(rules::network_rules(&plan).iter().map(nft::new_rule));
    nft::apply(nft_sock, msgs)
        .map_err(Error::kernel("installing the network's nftables rules", br))?;
    tracing::debug!(network = %net.name, bridge = br, index, mtu, "bridge up");
    Ok(Active {
        bridge: br.to_string(),
        index,
        mtu,
    })
}

/// Removes network `id`'s bridge and rules, and berth's table when no
/// network is left active. Goes on past failures and returns them all.
pub(crate) fn deactivate(rs: &mut RunState, id: &str) -> Vec<Error> {
    let mut errors = Vec::new();
    let Some(active) = rs.active.remove(id) else {
        return errors;
    };
    let br = active.bridge.as_str();
    match Socket::route() {
        Ok(mut route) => match route.exec(&[link::del_link(br)]) {
            Ok(r) => match r.into_iter().next() {
                Some(Err(e)) if e != rustix::io::Errno::NODEV => {
                    errors.push(Error::kernel("deleting bridge", br)(e.into()))
                }
                _ => {}
            },
            Err(e) => errors.push(Error::kernel("deleting bridge", br)(e)),
        },
        Err(e) => errors.push(Error::kernel("opening rtnetlink", br)(e)),
    }
    let tag = rules::network_tag(id);
    let removed = Socket::netfilter().and_then(|mut s| {
        if rs.active.is_empty() {
            // Nothing of berth's is left: drop the whole table.
            match s
                .exec(&nft::batch(vec![nft::del_table()]))?
                .into_iter()
                .find_map(Result::err)
            {
                Some(e) if e != rustix::io::Errno::NOENT => Err(e.into()),
                _ => Ok(()),
            }
        } else {
            let dels = nft::list_rules(&mut s)?
                .iter()
                .filter(|r| r.tag == tag)
                .map(|r| nft::del_rule(&r.chain, r.handle))
                .collect();
            nft::apply(&mut s, dels)
        }
    });
    if let Err(e) = removed {
        errors.push(Error::kernel("removing the network's nftables rules", br)(
            e,
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rules() {
        for ok in ["web", "my_net.1", "A-b"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b", "host", "none", "../x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overlaps_are_named() {
        let s: Subnet = "10.1.0.0/16".parse().expect("must succeed");
        let e = check_overlap(&s, &[], &[(Ipv4Addr::new(10, 1, 5, 0), 24)]).expect_err("must fail");
        assert!(e.to_string().contains("host route 10.1.5.0/24"), "{e}");
        assert!(check_overlap(&s, &[], &[(Ipv4Addr::new(10, 2, 0, 0), 16)]).is_ok());
    }
}
