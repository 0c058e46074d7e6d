//! Attaching containers to networks and taking them off again.
//!
//! Attach: plan everything (address, host ports, names) under the lock,
//! record the attachment, then create the kernel objects (veth pair straight
//! into the container's namespace, address and default route inside it,
//! DNAT rules). A failure undoes what was made. Because the record comes
//! first, a crash at any point leaves something [`Networks::gc`] can find.
//!
//! Detach: remove the kernel objects, then the record; a network whose last
//! container left has its bridge and rules removed. Teardown goes on past
//! failures and reports them together.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use crate::error::Error;
use crate::ipam::{self, mac_for, mac_string};
use crate::link::{self, Veth};
use crate::network::{activate, deactivate, Networks};
use crate::nft;
use crate::nl::Socket;
use crate::rules;
use crate::state::{self, RunState};
use crate::types::{AttachOptions, Attachment, DEFAULT_NETWORK};
use crate::{hostports, netns};

fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// `veth` and 11 hex digits of a hash of container and network.
fn veth_name(container_id: &str, network_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in container_id.bytes().chain([b'/']).chain(network_id.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("veth{:011x}", h & 0xfff_ffff_ffff)
}

impl Networks {
    /// The bridge kept up while idle, if any.
    pub(crate) fn kept_bridge(&self) -> Option<&str> {
        self.config
            .keep_default_bridge
            .then_some(self.config.default_bridge.as_str())
    }
}

fn kernel_err<'a>(
    op: &'static str,
    object: &'a str,
) -> impl FnOnce((usize, std::io::Error)) -> Error + 'a {
    move |(_, e)| Error::kernel(op, object)(e)
}

impl Networks {
    /// Attaches `container_id` to `network` inside the network namespace at
    /// `netns` (made by [`crate::create_netns`]), publishing `opts.ports`.
    pub fn attach(
        &self,
        network: &str,
        container_id: &str,
        netns: &Path,
        opts: AttachOptions,
    ) -> Result<Attachment, Error> {
        if let Some(n) = opts.ifname.as_deref().filter(|n| !valid_ifname(n)) {
            return Err(Error::InvalidIfname(n.to_string()));
        }
        let ns = File::open(netns).map_err(|e| netns::NetnsError::Step {
            path: netns.display().to_string(),
            step: "opening",
            source: e,
        })?;
        let lock = self.dirs.lock()?;
        let net = self.resolve(&lock, network)?;
        if opts.ip.is_some() && net.name == DEFAULT_NETWORK {
            return Err(Error::Refused {
                name: net.name,
                reason: "a fixed address (--ip) is only supported on user-defined networks".into(),
            });
        }
        let mut rs = self.dirs.load_run()?;
        let mine = rs.endpoints.get(container_id).cloned().unwrap_or_default();
        if mine.iter().any(|a| a.network_id == net.id) {
            return Err(Error::AlreadyAttached {
                container: container_id.to_string(),
                network: net.name,
            });
        }
        let ports = hostports::resolve(&rs, &opts.ports)?;
        let mut route = Socket::route().map_err(Error::kernel("opening rtnetlink", &net.bridge))?;
        let mut nft_sock =
            Socket::netfilter().map_err(Error::kernel("opening nfnetlink", &net.bridge))?;
        // A bridge deleted behind berth's back (or a run root that outlived
        // its network namespace) is set up again rather than used blindly.
        let gone = rs.active.get(&net.id).is_some_and(|a| {
            !matches!(link::link_by_name(&mut route, &a.bridge), Ok(Some(l)) if l.index == a.index)
        });
        if gone {
            rs.active.remove(&net.id);
        }
        if !rs.active.contains_key(&net.id) {
            let active = activate(&mut route, &mut nft_sock, &net)?;
            rs.active.insert(net.id.clone(), active);
            // Recorded at once, so that a failure below leaves a bridge gc knows.
            self.dirs.save_run(&lock, &rs)?;
        }
        let used: HashSet<_> = rs.on_network(&net.id).map(|a| a.ip).collect();
        let Some((master, mtu)) = rs.active.get(&net.id).map(|a| (a.index, a.mtu)) else {
            return Err(Error::NotFound(net.name));
        };
        let last = rs.last_ip.get(&net.id).copied();
        let ip = match opts.ip {
            Some(ip) => ipam::check_requested(&net.name, &net.subnet, net.gateway, &used, ip)?,
            None => ipam::allocate(&net.name, &net.subnet, net.gateway, &used, last)?,
        };
        rs.last_ip.insert(net.id.clone(), ip);
        let ifname = opts.ifname.unwrap_or_else(|| {
            (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !mine.iter().any(|a| &a.ifname == n))
                .unwrap_or_default()
        });
        let attachment = Attachment {
            network: net.name.clone(),
            network_id: net.id.clone(),
            container_id: container_id.to_string(),
            endpoint_id: state::random_id()?,
            ifname,
            ip,
            prefix: net.subnet.prefix(),
            gateway: net.gateway,
            default_route: !net.internal && !mine.iter().any(|a| a.default_route),
            mac: mac_string(&mac_for(ip)),
            host_veth: veth_name(container_id, &net.id),
            mtu,
            ports,
            aliases: opts.aliases,
            hostname: opts.hostname,
        };
        rs.endpoints
            .entry(container_id.to_string())
            .or_default()
            .push(attachment.clone());
        self.dirs.save_run(&lock, &rs)?;
        if let Err(e) = setup(&mut route, &mut nft_sock, &ns, master, &attachment) {
            let mut cleanup = teardown(&attachment, Veths::Delete);
            forget(&mut rs, &attachment);
            if rs.on_network(&net.id).next().is_none() {
                cleanup.extend(deactivate(&mut rs, &net.id));
            }
            if let Err(s) = self.dirs.save_run(&lock, &rs) {
                cleanup.push(s);
            }
            return Err(e.with_cleanup(cleanup));
        }
        tracing::debug!(container = container_id, network = %net.name, %ip, "attached");
        Ok(attachment)
    }

    /// Takes a container that is going away off every network: frees its
    /// addresses and host ports and removes its rules. Its veth pairs are
    /// left to vanish with its network namespace, which the caller removes
    /// next ([`crate::remove_netns`]); that keeps link deletion (tens of ms
    /// of RCU waits) off the caller's path, and [`Networks::gc`] deletes any
    /// left behind. Detaching a container that is not attached does nothing.
    pub fn detach(&self, container_id: &str) -> Result<(), Error> {
        self.detach_where(container_id, |_| true, Veths::LeaveToNetns)
    }

    /// Takes `container_id` off one network (`network disconnect`).
    pub fn disconnect(&self, network: &str, container_id: &str) -> Result<(), Error> {
        let net = {
            let lock = self.dirs.lock()?;
            self.resolve(&lock, network)?
        };
        let attached = self
            .attachments(container_id)?
            .iter()
            .any(|a| a.network_id == net.id);
        if !attached {
            return Err(Error::NotAttached {
                container: container_id.to_string(),
                network: net.name,
            });
        }
        self.detach_where(container_id, |a| a.network_id == net.id, Veths::Delete)
    }

    fn detach_where(
        &self,
        container_id: &str,
        pick: impl Fn(&Attachment) -> bool,
        veths: Veths,
    ) -> Result<(), Error> {
        let lock = self.dirs.lock()?;
        let mut rs = self.dirs.load_run()?;
        let gone: Vec<Attachment> = rs
            .endpoints
            .get(container_id)
            .map(|v| v.iter().filter(|a| pick(a)).cloned().collect())
            .unwrap_or_default();
        let mut errors = Vec::new();
        for a in &gone {
            errors.extend(teardown(a, veths));
            forget(&mut rs, a);
        }
        errors.extend(deactivate_idle(&mut rs, self.kept_bridge()));
        self.dirs.save_run(&lock, &rs)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errors))
        }
    }
}

/// Creates the kernel side of `a`.
fn setup(
    route: &mut Socket,
    nft_sock: &mut Socket,
    ns: &File,
    master: u32,
    a: &Attachment,
) -> Result<(), Error> {
    let veth = Veth {
        host: &a.host_veth,
        master: Some(master),
        mtu: a.mtu,
        peer: &a.ifname,
        peer_mac: mac_for(a.ip),
        peer_netns: std::os::fd::AsFd::as_fd(ns),
    };
    let create = [link::new_veth(&veth), link::set_hairpin(&a.host_veth)];
    match route.exec_all(&create) {
        // A pair of the same name still dying with an old namespace.
        Err((_, e)) if e.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => {
            delete_link(Some(route), &a.host_veth)?;
            route
                .exec_all(&create)
                .map_err(kernel_err("creating veth pair", &a.host_veth))?;
        }
        other => other.map_err(kernel_err("creating veth pair", &a.host_veth))?,
    }
    let mut inner = netns::in_netns_fd(ns, Socket::route)
        .and_then(|s| s)
        .map_err(Error::kernel(
            "opening rtnetlink in the container",
            &a.container_id,
        ))?;
    let index = link::link_by_name(&mut inner, &a.ifname)
        .map_err(Error::kernel(
            "looking up the container interface",
            &a.ifname,
        ))?
        .map(|l| l.index)
        .ok_or_else(|| {
            Error::kernel("looking up the container interface", &a.ifname)(
                std::io::ErrorKind::NotFound.into(),
            )
        })?;
    let mut msgs = vec![
        link::set_up(link::LOOPBACK_INDEX),
        link::set_up(index),
        link::new_addr(index, a.ip, a.prefix),
    ];
    if a.default_route {
        msgs.push(link::new_default_route(a.gateway));
    }
    inner
        .exec_all(&msgs)
        .map_err(kernel_err("configuring the container interface", &a.ifname))?;
    if !a.ports.is_empty() {
        let tag = rules::container_tag(&a.container_id, &a.network_id);
        let msgs = rules::port_rules(&tag, a.ip, &a.ports)
            .iter()
            .map(nft::new_rule)
            .collect();
        nft::apply(nft_sock, msgs)
            .map_err(Error::kernel("installing the port rules", &a.container_id))?;
    }
    Ok(())
}

/// Whether teardown deletes the veth pair or leaves it to the kernel, which
/// removes it with the container's network namespace. Deleting a link waits
/// for RCU grace periods (tens of ms); a dying namespace does that off the
/// caller's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Veths {
    Delete,
    LeaveToNetns,
}

/// Deletes link `name`; one that is already gone is no error.
pub(crate) fn delete_link(route: Option<&mut Socket>, name: &str) -> Result<(), Error> {
    let mut own;
    let sock = match route {
        Some(s) => s,
        None => {
            own = Socket::route().map_err(Error::kernel("opening rtnetlink", name))?;
            &mut own
        }
    };
    match sock.exec(&[link::del_link(name)]) {
        Ok(r) => match r.into_iter().find_map(Result::err) {
            Some(e) if e != rustix::io::Errno::NODEV => {
                Err(Error::kernel("deleting veth", name)(e.into()))
            }
            _ => Ok(()),
        },
        Err(e) => Err(Error::kernel("deleting veth", name)(e)),
    }
}

/// Removes the kernel side of `a`; what is already gone is no error.
pub(crate) fn teardown(a: &Attachment, veths: Veths) -> Vec<Error> {
    let mut errors = Vec::new();
    if veths == Veths::Delete {
        if let Err(e) = delete_link(None, &a.host_veth) {
            errors.push(e);
        }
    }
    if !a.ports.is_empty() {
        let tag = rules::container_tag(&a.container_id, &a.network_id);
        let removed = Socket::netfilter().and_then(|mut s| {
            let dels = nft::list_rules(&mut s)?
                .iter()
                .filter(|r| r.tag == tag)
                .map(|r| nft::del_rule(&r.chain, r.handle))
                .collect();
            nft::apply(&mut s, dels)
        });
        if let Err(e) = removed {
            errors.push(Error::kernel("removing the port rules", &a.container_id)(e));
        }
    }
    errors
}

pub(crate) fn forget(rs: &mut RunState, a: &Attachment) {
    if let Some(v) = rs.endpoints.get_mut(&a.container_id) {
        v.retain(|x| x.network_id != a.network_id);
        if v.is_empty() {
            rs.endpoints.remove(&a.container_id);
        }
    }
}

/// Deactivates every active network without attachments, except the one
/// whose bridge is `keep`.
pub(crate) fn deactivate_idle(rs: &mut RunState, keep: Option<&str>) -> Vec<Error> {
    let idle: Vec<String> = rs
        .active
        .iter()
        .filter(|(id, a)| rs.on_network(id).next().is_none() && Some(a.bridge.as_str()) != keep)
        .map(|(id, _)| id.clone())
        .collect();
    idle.iter().flat_map(|id| deactivate(rs, id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_and_differ() {
        let a = veth_name("c1", "n1");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("veth"));
        assert_eq!(a, veth_name("c1", "n1"));
        assert_ne!(a, veth_name("c1", "n2"));
        assert_ne!(a, veth_name("c2", "n1"));
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(valid_ifname("eth0"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname("sixteen-chars-xx"));
    }
}
