//! IPv4 subnets and address allocation: pure functions over the set of
//! addresses in use, so that the persistent state decides and tests check.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors of subnet parsing and address allocation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    /// The text is not `A.B.C.D/N` with a usable prefix and no host bits.
    #[error("invalid subnet {input:?}: {reason}")]
    InvalidSubnet {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// Every address of the subnet is taken.
    #[error("no free address left in {subnet} (network {network}); remove containers from it or use a larger subnet")]
    Exhausted {
        /// The network's name.
        network: String,
        /// Its subnet.
        subnet: Subnet,
    },
    /// A requested address lies outside the network's subnet.
    #[error("address {ip} is not in subnet {subnet} of network {network}")]
    OutOfSubnet {
        /// The requested address.
        ip: Ipv4Addr,
        /// The network's subnet.
        subnet: Subnet,
        /// The network's name.
        network: String,
    },
    /// A requested address is the network, broadcast or gateway address.
    #[error(
        "address {ip} is reserved in network {network} (network, broadcast or gateway address)"
    )]
    Reserved {
        /// The requested address.
        ip: Ipv4Addr,
        /// The network's name.
        network: String,
    },
    /// A requested address is already in use.
    #[error("address {ip} is already in use in network {network}")]
    InUse {
        /// The requested address.
        ip: Ipv4Addr,
        /// The network's name.
        network: String,
    },
}

/// An IPv4 subnet, `A.B.C.D/N` with no host bits set and `N` in 8..=30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// `addr/prefix`, refusing host bits and prefixes outside 8..=30.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet, IpamError> {
        let input = format!("{addr}/{prefix}");
        let invalid = |reason: String| IpamError::InvalidSubnet {
            input: input.clone(),
            reason,
        };
        if !(8..=30).contains(&prefix) {
            return Err(invalid("the prefix length must be between 8 and 30".into()));
        }
        let s = Subnet { addr, prefix };
        if u32::from(addr) & !s.mask() != 0 {
            let net = Ipv4Addr::from(u32::from(addr) & s.mask());
            return Err(invalid(format!(
                "it has host bits set; did you mean {net}/{prefix}?"
            )));
        }
        Ok(s)
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }

    /// Whether `ip` lies in the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }

    /// Whether `addr/prefix` (e.g. a route) shares any address with the subnet.
    pub fn overlaps_route(&self, addr: Ipv4Addr, prefix: u8) -> bool {
        if prefix == 0 {
            return true;
        }
        let mask = self.mask() & (u32::MAX << (32 - prefix.min(32)));
        u32::from(self.addr) & mask == u32::from(addr) & mask
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// The default gateway: the first host address.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The `n`-th subnet of prefix `prefix` inside this one, if it exists.
    pub fn nth_child(&self, prefix: u8, n: u32) -> Option<Subnet> {
        if prefix < self.prefix || prefix > 30 || u64::from(n) >= 1u64 << (prefix - self.prefix) {
            return None;
        }
        let step = 1u32 << (32 - prefix);
        Subnet::new(Ipv4Addr::from(u32::from(self.addr) + n * step), prefix).ok()
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;
    fn from_str(s: &str) -> Result<Subnet, IpamError> {
        let invalid = |reason: &str| IpamError::InvalidSubnet {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| invalid("expected A.B.C.D/N"))?;
        let addr = a.parse().map_err(|_| invalid("not an IPv4 address"))?;
        let prefix = p
            .parse()
            .map_err(|_| invalid("the prefix length is not a number"))?;
        Subnet::new(addr, prefix).map_err(|e| match e {
            IpamError::InvalidSubnet { reason, .. } => invalid(&reason),
            other => other,
        })
    }
}

impl TryFrom<String> for Subnet {
    type Error = IpamError;
    fn try_from(s: String) -> Result<Subnet, IpamError> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// Whether `ip` may be handed to a container: in the subnet and not its
/// network, broadcast or gateway address.
fn assignable(subnet: &Subnet, gateway: Ipv4Addr, ip: Ipv4Addr) -> bool {
    subnet.contains(ip) && ip != subnet.addr() && ip != subnet.broadcast() && ip != gateway
}

/// The next free address after `last` (round robin, so that a just-freed
/// address is not handed out again at once), or the first free one.
pub(crate) fn allocate(
    network: &str,
    subnet: &Subnet,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let base = u32::from(subnet.addr());
    let size = 1u32 << (32 - subnet.prefix());
    let start = last
        .filter(|ip| subnet.contains(*ip))
        .map_or(0, |ip| u32::from(ip) - base + 1);
    (0..size)
        .map(|i| Ipv4Addr::from(base + (start + i) % size))
        .find(|ip| assignable(subnet, gateway, *ip) && !used.contains(ip))
        .ok_or_else(|| IpamError::Exhausted {
            network: network.to_string(),
            subnet: *subnet,
        })
}

/// Checks an address the user asked for (`--ip`).
pub(crate) fn check_requested(
    network: &str,
    subnet: &Subnet,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
    ip: Ipv4Addr,
) -> Result<Ipv4Addr, IpamError> {
    if !subnet.contains(ip) {
        return Err(IpamError::OutOfSubnet {
            ip,
            subnet: *subnet,
            network: network.to_string(),
        });
    }
    if !assignable(subnet, gateway, ip) {
        return Err(IpamError::Reserved {
            ip,
            network: network.to_string(),
        });
    }
    if used.contains(&ip) {
        return Err(IpamError::InUse {
            ip,
            network: network.to_string(),
        });
    }
    Ok(ip)
}

/// The MAC address of a container interface, derived from its address as
/// Docker does (`02:42` and the four octets): unique wherever the IP is.
pub(crate) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(s: &str) -> Subnet {
        s.parse().expect("must succeed")
    }

    #[test]
    fn subnets_parse_and_refuse_host_bits() {
        assert_eq!(sn("10.213.0.0/16").to_string(), "10.213.0.0/16");
        let e = "10.213.0.1/16"
            .parse::<Subnet>()
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("did you mean 10.213.0.0/16"), "{e}");
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        assert!("::1/64".parse::<Subnet>().is_err());
    }

    #[test]
    fn overlap_and_children() {
        assert!(sn("10.0.0.0/8").overlaps(&sn("10.5.0.0/16")));
        assert!(!sn("10.1.0.0/16").overlaps(&sn("10.2.0.0/16")));
        assert_eq!(
            sn("10.214.0.0/15").nth_child(24, 257),
            Some(sn("10.215.1.0/24"))
        );
        assert_eq!(sn("10.214.0.0/15").nth_child(24, 512), None);
        assert!(sn("10.1.0.0/16").overlaps_route(Ipv4Addr::new(10, 1, 2, 0), 24));
        assert!(!sn("10.1.0.0/16").overlaps_route(Ipv4Addr::new(192, 0, 2, 0), 24));
    }

    #[test]
    fn allocation_skips_reserved_and_used_and_goes_round_robin() {
        let s = sn("10.9.0.0/29"); // .1 gateway, .2-.6 hosts, .7 broadcast
        let gw = s.first_host();
        let mut used = HashSet::new();
        let a = allocate("n", &s, gw, &used, None).expect("must succeed");
        assert_eq!(a, Ipv4Addr::new(10, 9, 0, 2));
        used.insert(a);
        let b = allocate("n", &s, gw, &used, Some(a)).expect("must succeed");
        assert_eq!(b, Ipv4Addr::new(10, 9, 0, 3));
        // a freed: the next one still moves forward, not back to a.
        used.remove(&a);
        used.insert(b);
        assert_eq!(
            allocate("n", &s, gw, &used, Some(b)).expect("must succeed"),
            Ipv4Addr::new(10, 9, 0, 4)
        );
        for i in 2..=6 {
            used.insert(Ipv4Addr::new(10, 9, 0, i));
        }
        assert!(matches!(
            allocate("n", &s, gw, &used, Some(b)),
            Err(IpamError::Exhausted { .. })
        ));
    }

    #[test]
    fn allocation_never_repeats_until_exhausted() {
        let s = sn("10.9.0.0/24");
        let gw = s.first_host();
        let mut used = HashSet::new();
        let mut last = None;
        for _ in 0..253 {
            let ip = allocate("n", &s, gw, &used, last).expect("must succeed");
            assert!(used.insert(ip), "{ip} handed out twice");
            last = Some(ip);
        }
        assert!(allocate("n", &s, gw, &used, last).is_err());
    }

    #[test]
    fn requested_addresses_are_checked() {
        let s = sn("10.9.0.0/24");
        let gw = s.first_host();
        let used: HashSet<_> = [Ipv4Addr::new(10, 9, 0, 5)].into_iter().collect();
        let ok = check_requested("n", &s, gw, &used, Ipv4Addr::new(10, 9, 0, 6));
        assert_eq!(ok, Ok(Ipv4Addr::new(10, 9, 0, 6)));
        for (ip, want) in [
            ([10, 9, 1, 6], "not in subnet"),
            ([10, 9, 0, 1], "reserved"),
            ([10, 9, 0, 255], "reserved"),
            ([10, 9, 0, 5], "already in use"),
        ] {
            let e = check_requested("n", &s, gw, &used, Ipv4Addr::from(ip)).expect_err("must fail");
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn macs_follow_addresses() {
        let mac = mac_for(Ipv4Addr::new(10, 213, 0, 2));
        assert_eq!(mac_string(&mac), "02:42:0a:d5:00:02");
    }
}
