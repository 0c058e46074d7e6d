//! rtnetlink requests: links (bridge, veth), addresses and routes.
//!
//! Builders return [`Msg`]s so that callers can pipeline several in one
//! round trip; the few queries (`link_index`, `links`, `routes`) dump.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::nl::{self, attrs, Msg, Socket, F_ACK, F_CREATE, F_DUMP, F_EXCL};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_INFO_SLAVE_KIND: u16 = 4;
const IFLA_INFO_SLAVE_DATA: u16 = 5;
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BR_FORWARD_DELAY: u16 = 1;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;

const AF_INET: u8 = 2;
const IFF_UP: u32 = 1;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// The index of the loopback device in every network namespace.
pub(crate) const LOOPBACK_INDEX: u32 = 1;

fn ifinfo(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// Creates bridge `name` with `mtu`, up, forwarding from the first packet.
pub(crate) fn new_bridge(name: &str, mtu: u32) -> Msg {
    let mut m = Msg::new(
        RTM_NEWLINK,
        F_ACK | F_CREATE | F_EXCL,
        &ifinfo(0, IFF_UP, IFF_UP),
        false,
    );
    m.str(IFLA_IFNAME, name).u32(IFLA_MTU, mtu);
    m.nest(IFLA_LINKINFO).str(IFLA_INFO_KIND, "bridge");
    m.nest(IFLA_INFO_DATA).u32(IFLA_BR_FORWARD_DELAY, 0).end();
    m.end();
    m
}

/// What one veth pair looks like: the host end is enslaved to a bridge, the
/// peer is created directly inside the container's network namespace.
#[derive(Debug, Clone)]
pub(crate) struct Veth<'a> {
    pub host: &'a str,
    pub master: Option<u32>,
    pub mtu: u32,
    pub peer: &'a str,
    pub peer_mac: [u8; 6],
    pub peer_netns: BorrowedFd<'a>,
}

/// Creates the pair in one request: host end up and in the bridge, peer
/// (still down) in the container's namespace.
pub(crate) fn new_veth(v: &Veth<'_>) -> Msg {
    let mut m = Msg::new(
        RTM_NEWLINK,
        F_ACK | F_CREATE | F_EXCL,
        &ifinfo(0, IFF_UP, IFF_UP),
        false,
    );
    m.str(IFLA_IFNAME, v.host).u32(IFLA_MTU, v.mtu);
    if let Some(master) = v.master {
        m.u32(IFLA_MASTER, master);
    }
    m.nest(IFLA_LINKINFO).str(IFLA_INFO_KIND, "veth");
    m.nest(IFLA_INFO_DATA).nest(VETH_INFO_PEER);
    // The peer's attributes follow its own ifinfomsg inside the nest. Its
    // flags stay 0: IFF_UP there fails with ENOTCONN when the peer goes to
    // another namespace, so the caller sets it up from inside.
    m.attr_raw(&ifinfo(0, 0, 0));
    m.str(IFLA_IFNAME, v.peer)
        .u32(IFLA_MTU, v.mtu)
        .attr(IFLA_ADDRESS, &v.peer_mac)
        .u32(IFLA_NET_NS_FD, v.peer_netns.as_raw_fd() as u32);
    m.end().end().end();
    m
}

/// Turns hairpin mode on for bridge port `name`: with bridge netfilter, a
/// container reaching its own published port through the host is DNATed
/// while bridged and must leave through the port it came in on.
pub(crate) fn set_hairpin(name: &str) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, F_ACK, &ifinfo(0, 0, 0), false);
    m.str(IFLA_IFNAME, name);
    m.nest(IFLA_LINKINFO).str(IFLA_INFO_SLAVE_KIND, "bridge");
    m.nest(IFLA_INFO_SLAVE_DATA)
        .attr(IFLA_BRPORT_MODE, &[1])
        .end();
    m.end();
    m
}

/// Sets link `index` up.
pub(crate) fn set_up(index: u32) -> Msg {
    Msg::new(RTM_NEWLINK, F_ACK, &ifinfo(index, IFF_UP, IFF_UP), false)
}

/// Deletes link `name` (deleting either end of a veth removes both).
pub(crate) fn del_link(name: &str) -> Msg {
    let mut m = Msg::new(RTM_DELLINK, F_ACK, &ifinfo(0, 0, 0), false);
    m.str(IFLA_IFNAME, name);
    m
}

/// Adds `addr/prefix` (with its broadcast address) to link `index`.
pub(crate) fn new_addr(index: u32, addr: Ipv4Addr, prefix: u8) -> Msg {
    let mut h = [0u8; 8];
    h[0] = AF_INET;
    h[1] = prefix;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut m = Msg::new(RTM_NEWADDR, F_ACK | F_CREATE | F_EXCL, &h, false);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    let brd = Ipv4Addr::from(u32::from(addr) | !mask);
    m.attr(IFA_LOCAL, &addr.octets())
        .attr(IFA_ADDRESS, &addr.octets());
    if prefix < 31 {
        m.attr(IFA_BROADCAST, &brd.octets());
    }
    m
}

/// Adds the default route via `gateway` in the main table.
pub(crate) fn new_default_route(gateway: Ipv4Addr) -> Msg {
    let h = [
        AF_INET,
        0,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ];
    let mut m = Msg::new(RTM_NEWROUTE, F_ACK | F_CREATE | F_EXCL, &h, false);
    m.attr(RTA_GATEWAY, &gateway.octets());
    m
}

/// One link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub master: Option<u32>,
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = u32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let mut link = Link {
        index,
        name: String::new(),
        mtu: 0,
        master: None,
    };
    for (ty, data) in attrs(payload.get(16..)?) {
        match ty {
            IFLA_IFNAME => link.name = nl::attr_str(data),
            IFLA_MTU => link.mtu = nl::attr_u32(data),
            IFLA_MASTER => link.master = Some(nl::attr_u32(data)),
            _ => {}
        }
    }
    Some(link)
}

/// The link called `name`, or `None` when there is none.
pub(crate) fn link_by_name(sock: &mut Socket, name: &str) -> io::Result<Option<Link>> {
    // Not a dump: the reply is one message, then the ack ends the exchange.
    let mut m = Msg::new(RTM_GETLINK, F_ACK, &ifinfo(0, 0, 0), false);
    m.str(IFLA_IFNAME, name);
    match sock.dump(&m) {
        Ok(replies) => Ok(replies.iter().find_map(|p| parse_link(p))),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every link of the namespace.
pub(crate) fn links(sock: &mut Socket) -> io::Result<Vec<Link>> {
    let m = Msg::new(RTM_GETLINK, F_DUMP, &ifinfo(0, 0, 0), false);
    Ok(sock
        .dump(&m)?
        .iter()
        .filter_map(|p| parse_link(p))
        .collect())
}

/// One IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub oif: Option<u32>,
}

/// The IPv4 routes of the main table.
pub(crate) fn routes(sock: &mut Socket) -> io::Result<Vec<Route>> {
    let mut h = [0u8; 12];
    h[0] = AF_INET;
    let m = Msg::new(RTM_GETROUTE, F_DUMP, &h, false);
    let mut out = Vec::new();
    for p in sock.dump(&m)? {
        let (Some(&prefix), Some(&table)) = (p.get(1), p.get(4)) else {
            continue;
        };
        let mut route = Route {
            dst: Ipv4Addr::UNSPECIFIED,
            prefix,
            oif: None,
        };
        let mut table = u32::from(table);
        for (ty, data) in attrs(p.get(12..).unwrap_or_default()) {
            match ty {
                RTA_DST if data.len() == 4 => {
                    route.dst = Ipv4Addr::new(data[0], data[1], data[2], data[3])
                }
                RTA_OIF => route.oif = Some(nl::attr_u32(data)),
                RTA_TABLE => table = nl::attr_u32(data),
                _ => {}
            }
        }
        if table == u32::from(RT_TABLE_MAIN) {
            out.push(route);
        }
    }
    Ok(out)
}

/// The MTU of the interface the default route leaves through, if any.
pub(crate) fn default_route_mtu(sock: &mut Socket) -> io::Result<Option<u32>> {
    let Some(oif) = routes(sock)?
        .into_iter()
        .find(|r| r.prefix == 0)
        .and_then(|r| r.oif)
    else {
        return Ok(None);
    };
    Ok(links(sock)?
        .into_iter()
        .find(|l| l.index == oif)
        .map(|l| l.mtu)
        .filter(|&m| m >= 576))
}
