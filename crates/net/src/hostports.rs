//! Choosing and checking host ports before anything is set up: a port held
//! by another container (from the state) or by a program (a test `bind` on
//! the host) is a clear error, and `Any`/`Range` ports get a free one.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use crate::error::Error;
use crate::ports::{HostPort, PortMapping, Proto, PublishedPort};
use crate::state::RunState;

fn overlaps(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.is_unspecified() || b.is_unspecified() || a == b
}

/// The container holding `ip:port/proto` according to the state.
fn held_by<'a>(
    rs: &'a RunState,
    chosen: &[PublishedPort],
    ip: Ipv4Addr,
    port: u16,
    proto: Proto,
) -> Option<&'a str> {
    let hit =
        |p: &PublishedPort| p.proto == proto && p.host_port == port && overlaps(p.host_ip, ip);
    if chosen.iter().any(hit) {
        return Some("this container");
    }
    rs.endpoints
        .values()
        .flatten()
        .find(|a| a.ports.iter().any(hit))
        .map(|a| a.container_id.as_str())
}

/// Tries to bind `ip:port` (port 0: any); returns the bound port.
fn probe(ip: Ipv4Addr, port: u16, proto: Proto) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(ip, port);
    match proto {
        // std sets SO_REUSEADDR: a TIME_WAIT leftover is no conflict, a listener is.
        Proto::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Proto::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

fn probe_fixed(ip: Ipv4Addr, port: u16, proto: Proto) -> Result<(), Error> {
    match probe(ip, port, proto) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::PortTaken {
            ip,
            port,
            proto,
            by: " by another program".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err(Error::NotLocal { ip }),
        Err(e) => Err(Error::kernel(
            "checking the host port",
            format!("{ip}:{port}/{proto}"),
        )(e)),
    }
}

/// Chooses the host port of every mapping, refusing taken ones.
pub(crate) fn resolve(
    rs: &RunState,
    mappings: &[PortMapping],
) -> Result<Vec<PublishedPort>, Error> {
    let mut chosen: Vec<PublishedPort> = Vec::with_capacity(mappings.len());
    for m in mappings {
        let (ip, proto) = (m.host_ip, m.proto);
        let port = match m.host_port {
            HostPort::Fixed(port) => {
                if let Some(by) = held_by(rs, &chosen, ip, port, proto) {
                    return Err(Error::PortTaken {
                        ip,
                        port,
                        proto,
                        by: format!(" by {by}"),
                    });
                }
                probe_fixed(ip, port, proto)?;
                port
            }
            HostPort::Any => {
                let mut found = None;
                for _ in 0..32 {
                    let port = probe(ip, 0, proto).map_err(|e| match e.kind() {
                        std::io::ErrorKind::AddrNotAvailable => Error::NotLocal { ip },
                        _ => Error::kernel("finding a free host port", format!("{ip}/{proto}"))(e),
                    })?;
                    if held_by(rs, &chosen, ip, port, proto).is_none() {
                        found = Some(port);
                        break;
                    }
                }
                found.ok_or(Error::NoFreePort {
                    ip,
                    lo: 1,
                    hi: u16::MAX,
                    proto,
                })?
            }
            HostPort::Range(lo, hi) => (lo..=hi)
                .find(|&p| {
                    held_by(rs, &chosen, ip, p, proto).is_none()
                        && probe_fixed(ip, p, proto).is_ok()
                })
                .ok_or(Error::NoFreePort { ip, lo, hi, proto })?,
        };
        chosen.push(PublishedPort {
            host_ip: ip,
            host_port: port,
            container_port: m.container_port,
            proto,
        });
    }
    Ok(chosen)
}
