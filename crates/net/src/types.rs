//! The public data of the net layer: configuration, network definitions,
//! attach options and attachments.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ipam::Subnet;
use crate::ports::{PortMapping, PublishedPort};

/// Name of the default network.
pub const DEFAULT_NETWORK: &str = "bridge";

/// Host-wide settings of the net layer.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Subnet of the default `bridge` network (used when it is first created).
    pub default_subnet: Subnet,
    /// Bridge device of the default network.
    pub default_bridge: String,
    /// Pool user networks get a subnet from when none is given.
    pub pool: Subnet,
    /// Prefix length of the subnets taken from the pool.
    pub pool_prefix: u8,
    /// Keep the default network's bridge (and its rules) up when its last
    /// container leaves, as Docker keeps `docker0`: deleting a bridge costs
    /// tens of ms of kernel RCU waits, on every `run --rm` otherwise. User
    /// networks' bridges always go with their last container.
    pub keep_default_bridge: bool,
}

impl Default for NetConfig {
    /// 10.213.0.0/16 on `berth0`, user networks from 10.214.0.0/15 in /24s:
    /// away from Docker's 172.17-31 and 192.168, Podman's 10.88 and the usual
    /// Kubernetes ranges.
    fn default() -> NetConfig {
        NetConfig {
            default_subnet: Subnet::new(Ipv4Addr::new(10, 213, 0, 0), 16)
                .unwrap_or_else(|_| unreachable!("a valid constant subnet")),
            default_bridge: "berth0".into(),
            pool: Subnet::new(Ipv4Addr::new(10, 214, 0, 0), 15)
                .unwrap_or_else(|_| unreachable!("a valid constant subnet")),
            pool_prefix: 24,
            keep_default_bridge: true,
        }
    }
}

/// Options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The subnet; picked from the pool when absent.
    pub subnet: Option<Subnet>,
    /// The gateway (the bridge's address); the first host when absent.
    pub gateway: Option<Ipv4Addr>,
    /// No route out of the network and no NAT.
    pub internal: bool,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// MTU; the host's default-route interface's when absent.
    pub mtu: Option<u32>,
}

/// A network as stored (and shown by `network inspect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Always `bridge` for now.
    pub driver: String,
    /// Its subnet.
    pub subnet: Subnet,
    /// The bridge's address, the containers' default gateway.
    pub gateway: Ipv4Addr,
    /// The bridge device.
    pub bridge: String,
    /// No route out, no NAT.
    pub internal: bool,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Configured MTU (else the host's).
    pub mtu: Option<u32>,
}

/// Options of one attachment (`run --network/--ip/-p`, `network connect`).
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// A fixed address (`--ip`; user networks only, as in Docker).
    pub ip: Option<Ipv4Addr>,
    /// Ports to publish.
    pub ports: Vec<PortMapping>,
    /// Extra names on the network (`--network-alias`), kept for DNS.
    pub aliases: Vec<String>,
    /// The container's host name, kept for DNS.
    pub hostname: Option<String>,
    /// Interface name inside the container; `eth0`, `eth1`, … by default.
    pub ifname: Option<String>,
}

/// One container's presence on one network, as set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// The network's id.
    pub network_id: String,
    /// The container.
    pub container_id: String,
    /// Endpoint id (64 hex digits, Docker's `EndpointID`).
    pub endpoint_id: String,
    /// Interface inside the container.
    pub ifname: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default gateway.
    pub gateway: Ipv4Addr,
    /// Whether this attachment set the container's default route.
    pub default_route: bool,
    /// MAC address, `02:42:…`.
    pub mac: String,
    /// The veth end on the host.
    pub host_veth: String,
    /// The MTU of the link.
    pub mtu: u32,
    /// Published ports, host ports chosen.
    pub ports: Vec<PublishedPort>,
    /// Aliases (DNS).
    pub aliases: Vec<String>,
    /// Host name (DNS).
    pub hostname: Option<String>,
}
