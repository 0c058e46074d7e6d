//! berth's net layer: bridge networks for containers.
//!
//! A container gets a network namespace ([`create_netns`]) before it starts;
//! [`Networks::attach`] puts a veth pair between it and the network's bridge,
//! gives it an address from a persistent allocator, a default route and its
//! published ports (DNAT rules in berth's own nftables table), and
//! [`Networks::detach`] takes all of it away again. Everything is done over
//! netlink and nfnetlink directly, with no helper programs. See
//! `docs/net.md` for the design.
//!
//! ```no_run
//! use berth_net::{create_netns, parse_publish, AttachOptions, NetConfig, Networks};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nets = Networks::open("/var/lib/berth".as_ref(), "/run/berth".as_ref(), NetConfig::default())?;
//! let ns = std::path::Path::new("/run/berth/netns/c1");
//! create_netns(ns)?;
//! let opts = AttachOptions { ports: parse_publish("8080:80")?, ..Default::default() };
//! let a = nets.attach("bridge", "c1", ns, opts)?;
//! println!("{} {}", a.ip, a.ports[0]);
//! nets.detach("c1")?;
//! # Ok(()) }
//! ```

mod attach;
mod dns;
mod dnsconf;
mod error;
mod gc;
mod hostports;
mod ipam;
mod link;
mod netns;
mod network;
mod nft;
mod nl;
mod ports;
#[cfg(test)]
mod privileged_tests;
mod rules;
mod state;
mod sysctl;
mod types;

pub use dns::{answer, parse_query, servfail, upstreams, Question};
pub use dnsconf::{
    extra_hosts_lines, hosts_file, parse_add_host, resolv_conf, AddHostError, DnsOptions,
    ExtraHost, HostAddr,
};
pub use error::Error;
pub use gc::GcReport;
pub use ipam::{IpamError, Subnet};
pub use netns::{create_netns, in_netns, remove_netns, NetnsError};
pub use network::{NetworkInfo, Networks};
pub use ports::{
    parse_exposed, parse_publish, HostPort, PortError, PortMapping, Proto, PublishedPort,
};
pub use types::{AttachOptions, Attachment, CreateOptions, NetConfig, Network, DEFAULT_NETWORK};
