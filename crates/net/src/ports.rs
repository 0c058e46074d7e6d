//! Published ports: Docker's `-p [ip:][hostPort:]containerPort[/proto]` and
//! `-P` (the image's exposed ports) parsed into typed mappings.
//!
//! Ranges expand into one mapping per port, as Docker does:
//! `8000-8001:80-81` is two mappings; a host range with a single container
//! port (`8000-8010:80`) is one mapping whose host port is any free one of
//! the range.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Errors of `-p` / `EXPOSE` parsing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid published port {spec:?}: {reason}")]
pub struct PortError {
    /// The text as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// Which host port to publish on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostPort {
    /// Exactly this one.
    Fixed(u16),
    /// Any free port (chosen when attaching).
    Any,
    /// Any free port of `lo..=hi`.
    Range(u16, u16),
}

/// One requested publication, before host ports are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Host address to publish on; `0.0.0.0` means every local address.
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: HostPort,
    /// The port inside the container.
    pub container_port: u16,
    /// The protocol.
    pub proto: Proto,
}

fn err(spec: &str, reason: impl Into<String>) -> PortError {
    PortError {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

fn parse_proto(spec: &str, p: &str) -> Result<Proto, PortError> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "sctp" => Err(err(spec, "sctp is not supported; use tcp or udp")),
        other => Err(err(
            spec,
            format!("unknown protocol {other:?}; use tcp or udp"),
        )),
    }
}

/// `N` or `N-M` → (N, M), ports 1..=65535, N <= M.
fn parse_range(spec: &str, what: &str, s: &str) -> Result<(u16, u16), PortError> {
    let port = |p: &str| -> Result<u16, PortError> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(err(
                spec,
                format!("{what} {p:?} is not a port number (1-65535)"),
            )),
        }
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(err(
            spec,
            format!("{what} range {s:?} ends before it starts"),
        ));
    }
    Ok((lo, hi))
}

/// Parses one `-p` value into its mappings.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PortError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, parse_proto(spec, p)?),
        None => (spec, Proto::Tcp),
    };
    if rest.starts_with('[') {
        return Err(err(spec, "IPv6 host addresses are not supported yet"));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(err(spec, "expected [ip:][hostPort:]containerPort[/proto]")),
    };
    if container.is_empty() {
        return Err(err(spec, "no container port given"));
    }
    let host_ip = if ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        ip.parse()
            .map_err(|_| err(spec, format!("{ip:?} is not an IPv4 address")))?
    };
    let (clo, chi) = parse_range(spec, "container port", container)?;
    let n = u32::from(chi - clo) + 1;
    let host_ports: Vec<HostPort> = if host.is_empty() {
        vec![HostPort::Any; n as usize]
    } else {
        let (hlo, hhi) = parse_range(spec, "host port", host)?;
        let hn = u32::from(hhi - hlo) + 1;
        if n == 1 && hn > 1 {
            vec![HostPort::Range(hlo, hhi)]
        } else if hn != n {
            return Err(err(
                spec,
                "the host and container port ranges have different lengths",
            ));
        } else {
            (hlo..=hhi).map(HostPort::Fixed).collect()
        }
    };
    Ok((clo..=chi)
        .zip(host_ports)
        .map(|(container_port, host_port)| PortMapping {
            host_ip,
            host_port,
            container_port,
            proto,
        })
        .collect())
}

/// `-P`: every exposed port (`"80/tcp"`, `"53/udp"`, `"8080"`, ranges) on
/// any free host port of every address.
pub fn parse_exposed<'a>(
    exposed: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<PortMapping>, PortError> {
    let mut out = Vec::new();
    for spec in exposed {
        let (port, proto) = match spec.rsplit_once('/') {
            Some((p, pr)) => (p, parse_proto(spec, pr)?),
            None => (spec, Proto::Tcp),
        };
        let (lo, hi) = parse_range(spec, "exposed port", port)?;
        out.extend((lo..=hi).map(|container_port| PortMapping {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: HostPort::Any,
            container_port,
            proto,
        }));
    }
    Ok(out)
}

/// A publication as set up: the host port is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// Host address (`0.0.0.0`: every local address).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
    /// Protocol.
    pub proto: Proto,
}

impl fmt::Display for PublishedPort {
    /// Docker's `ps` form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.proto
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ip: [u8; 4], host: HostPort, c: u16, proto: Proto) -> PortMapping {
        PortMapping {
            host_ip: Ipv4Addr::from(ip),
            host_port: host,
            container_port: c,
            proto,
        }
    }

    #[test]
    fn docker_forms() {
        use HostPort::*;
        use Proto::*;
        let table: &[(&str, Vec<PortMapping>)] = &[
            ("80", vec![m([0; 4], Any, 80, Tcp)]),
            ("8080:80", vec![m([0; 4], Fixed(8080), 80, Tcp)]),
            ("8080:80/udp", vec![m([0; 4], Fixed(8080), 80, Udp)]),
            ("53/UDP", vec![m([0; 4], Any, 53, Udp)]),
            (
                "127.0.0.1:8080:80",
                vec![m([127, 0, 0, 1], Fixed(8080), 80, Tcp)],
            ),
            ("127.0.0.1::80", vec![m([127, 0, 0, 1], Any, 80, Tcp)]),
            (
                "8000-8001:80-81/tcp",
                vec![
                    m([0; 4], Fixed(8000), 80, Tcp),
                    m([0; 4], Fixed(8001), 81, Tcp),
                ],
            ),
            ("8000-8010:80", vec![m([0; 4], Range(8000, 8010), 80, Tcp)]),
            (
                "80-81",
                vec![m([0; 4], Any, 80, Tcp), m([0; 4], Any, 81, Tcp)],
            ),
        ];
        for (spec, want) in table {
            assert_eq!(&parse_publish(spec).expect("must succeed"), want, "{spec}");
        }
    }

    #[test]
    fn refusals_name_the_problem() {
        let table = [
            ("", "no container port"),
            ("8080:", "no container port"),
            ("0", "not a port number"),
            ("65536", "not a port number"),
            ("x:80", "not a port number"),
            ("80/sctp", "sctp is not supported"),
            ("80/icmp", "unknown protocol"),
            ("81-80", "ends before it starts"),
            ("8000-8002:80-81", "different lengths"),
            ("999.0.0.1:80:80", "not an IPv4 address"),
            ("[::1]:80:80", "IPv6"),
            ("1:2:3:4", "expected"),
        ];
        for (spec, want) in table {
            let e = parse_publish(spec).expect_err("must fail");
            assert!(e.to_string().contains(want), "{spec}: {e}");
            assert_eq!(e.spec, spec);
        }
    }

    #[test]
    fn exposed_ports() {
        let got = parse_exposed(["80/tcp", "53/udp", "9000-9001"]).expect("must succeed");
        assert_eq!(got.len(), 4);
        assert_eq!(got[1], m([0; 4], HostPort::Any, 53, Proto::Udp));
        assert!(parse_exposed(["http"]).is_err());
    }

    #[test]
    fn ps_form() {
        let p = PublishedPort {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        };
        assert_eq!(p.to_string(), "0.0.0.0:8080->80/tcp");
    }
}
