//! The container's `/etc/resolv.conf` and `/etc/hosts`, as Docker writes
//! them, from the host's resolv.conf and the `--dns*` and `--add-host`
//! flags. Pure functions: the engine writes the files and bind-mounts them.

use std::net::{IpAddr, Ipv4Addr};

/// Errors of `--add-host` parsing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid --add-host {spec:?}: {reason}")]
pub struct AddHostError {
    /// The text as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Where an `--add-host` name points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAddr {
    /// A literal address.
    Ip(IpAddr),
    /// `host-gateway`: the host as the container reaches it (its gateway).
    HostGateway,
}

/// One `--add-host NAME:ADDR` (or `NAME=ADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    /// The name.
    pub name: String,
    /// The address.
    pub addr: HostAddr,
}

/// Parses `--add-host`: `name:ip`, `name=ip`, `name:host-gateway`; IPv6
/// addresses may be bracketed (`name:[::1]`).
pub fn parse_add_host(spec: &str) -> Result<ExtraHost, AddHostError> {
    let err = |reason| AddHostError {
        spec: spec.to_string(),
        reason,
    };
    let (name, addr) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(|| err("expected NAME:ADDRESS"))?;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
        return Err(err("the name is empty or has spaces"));
    }
    let addr = match addr.trim_start_matches('[').trim_end_matches(']') {
        "host-gateway" => HostAddr::HostGateway,
        a => HostAddr::Ip(
            a.parse()
                .map_err(|_| err("not an IP address or host-gateway"))?,
        ),
    };
    Ok(ExtraHost {
        name: name.to_string(),
        addr,
    })
}

/// The `--dns`, `--dns-search` and `--dns-option` flags; empty ones keep
/// what the host has.
#[derive(Debug, Clone, Default)]
pub struct DnsOptions {
    /// Name servers.
    pub servers: Vec<IpAddr>,
    /// Search domains.
    pub search: Vec<String>,
    /// resolv.conf options (`ndots:2`, …).
    pub options: Vec<String>,
}

/// The container's resolv.conf. Host name servers on loopback (a local
/// stub resolver such as systemd-resolved) are unreachable from the
/// container and dropped; if none is left, Google's public servers are
/// used, as Docker does.
pub fn resolv_conf(host: &str, opts: &DnsOptions) -> String {
    let (mut servers, mut search, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in host.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    if !ip.is_loopback() {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => search = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if !opts.servers.is_empty() {
        servers = opts.servers.iter().map(ToString::to_string).collect();
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if !opts.search.is_empty() {
        search = opts.search.clone();
    }
    if !opts.options.is_empty() {
        options = opts.options.clone();
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The `--add-host` lines of a hosts file (`host-gateway` resolved to
/// `gateway`, left out without one): what `--network host` appends to the
/// host's own file.
pub fn extra_hosts_lines(gateway: Option<Ipv4Addr>, extra: &[ExtraHost]) -> String {
    let mut out = String::new();
    for h in extra {
        let addr = match h.addr {
            HostAddr::Ip(ip) => Some(ip),
            HostAddr::HostGateway => gateway.map(IpAddr::V4),
        };
        if let Some(addr) = addr {
            out.push_str(&format!("{addr}\t{}\n", h.name));
        }
    }
    out
}

/// The container's hosts file: Docker's fixed entries, the `--add-host`
/// entries (`host-gateway` resolved to `gateway`), then the container's own
/// name on its address.
pub fn hosts_file(
    hostname: &str,
    ip: Option<Ipv4Addr>,
    gateway: Option<Ipv4Addr>,
    extra: &[ExtraHost],
) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    out.push_str(&extra_hosts_lines(gateway, extra));
    if let Some(ip) = ip {
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_host_forms() {
        let h = parse_add_host("db:10.0.0.5").expect("ok");
        assert_eq!(h.addr, HostAddr::Ip("10.0.0.5".parse().expect("ip")));
        assert_eq!(parse_add_host("db=10.0.0.5").expect("ok").name, "db");
        assert_eq!(
            parse_add_host("gw:host-gateway").expect("ok").addr,
            HostAddr::HostGateway
        );
        assert_eq!(
            parse_add_host("v6:[::1]").expect("ok").addr,
            HostAddr::Ip("::1".parse().expect("ip"))
        );
        for bad in ["db", ":1.2.3.4", "db:nope", "a b:1.2.3.4"] {
            assert!(parse_add_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolv_conf_drops_loopback_servers_and_applies_flags() {
        let host = "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &DnsOptions::default()),
            "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", &DnsOptions::default()),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let opts = DnsOptions {
            servers: vec!["1.1.1.1".parse().expect("ip")],
            search: vec!["a.test".into()],
            options: vec!["ndots:2".into()],
        };
        assert_eq!(
            resolv_conf(host, &opts),
            "nameserver 1.1.1.1\nsearch a.test\noptions ndots:2\n"
        );
    }

    #[test]
    fn hosts_file_lists_extras_then_self() {
        let extra = [
            parse_add_host("db:10.0.0.5").expect("ok"),
            parse_add_host("host.docker.internal:host-gateway").expect("ok"),
        ];
        let h = hosts_file(
            "abc123",
            Some(Ipv4Addr::new(10, 213, 0, 2)),
            Some(Ipv4Addr::new(10, 213, 0, 1)),
            &extra,
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            h.ends_with("10.0.0.5\tdb\n10.213.0.1\thost.docker.internal\n10.213.0.2\tabc123\n"),
            "{h}"
        );
        assert!(!hosts_file("x", None, None, &extra[1..]).contains("host.docker"));
    }
}
