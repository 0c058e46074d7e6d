//! The /etc files a container gets from the engine, as Docker writes them:
//! `hostname`, `hosts` and `resolv.conf`, bind-mounted over the image's.

use std::fs;

use crate::error::{io_err, Result};
use crate::options::NetworkMode;
use crate::record::{Paths, Record};
use crate::spec::EtcFiles;

pub fn files(paths: &Paths) -> EtcFiles {
    EtcFiles {
        hosts: paths.dir.join("hosts"),
        hostname: paths.dir.join("hostname"),
        resolv_conf: paths.dir.join("resolv.conf"),
    }
}

/// `/etc/hosts` for a container with `hostname` (and an address, once it
/// has one on a network).
pub fn hosts(hostname: &str, addr: Option<&str>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    if let Some(a) = addr {
        s.push_str(&format!("{a}\t{hostname}\n"));
    }
    s
}

/// The host's resolv.conf, minus loopback nameservers a container cannot
/// reach through its own network namespace; Google's public resolvers when
/// none is left, as Docker does.
pub fn resolv_conf(host: &str, network: &NetworkMode) -> String {
    if *network == NetworkMode::Host {
        return host.to_owned();
    }
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

pub fn write_files(paths: &Paths, rec: &Record) -> Result<()> {
    let f = files(paths);
    let hostname = crate::spec::hostname(&rec.id, &rec.options);
    fs::write(&f.hostname, format!("{hostname}\n")).map_err(io_err("writing", &f.hostname))?;
    let hosts_text = if rec.options.network == NetworkMode::Host {
        fs::read_to_string("/etc/hosts").unwrap_or_else(|_| hosts(&hostname, None))
    } else {
        hosts(&hostname, None)
    };
    fs::write(&f.hosts, hosts_text).map_err(io_err("writing", &f.hosts))?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let r = resolv_conf(&host_resolv, &rec.options.network);
    fs::write(&f.resolv_conf, r).map_err(io_err("writing", &f.resolv_conf))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_drops_loopback() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions ndots:1\n";
        let r = resolv_conf(host, &NetworkMode::None);
        assert_eq!(r, "search lan\nnameserver 10.0.0.1\noptions ndots:1\n");
        let r = resolv_conf("nameserver 127.0.0.1\n", &NetworkMode::None);
        assert!(r.contains("8.8.8.8"));
        assert_eq!(resolv_conf(host, &NetworkMode::Host), host);
    }

    #[test]
    fn hosts_has_localhost_and_self() {
        let h = hosts("web", Some("10.1.0.2"));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.2\tweb\n"));
    }
}
