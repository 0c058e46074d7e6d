//! The embedded DNS server of user networks: containers on one network
//! find each other by name, alias, host name or short id, and everything
//! else is forwarded to the host's resolvers.
//!
//! One server per active user network, a process of its own listening on
//! the network's gateway address, port 53 (UDP), in the host's network
//! namespace — so a host resolver on loopback (systemd-resolved) serves
//! as upstream too. Names come from the attachments in the run state, read
//! on each query: a container is resolvable the moment `attach` returns
//! and not after `detach`. Only queries from the network's own subnet are
//! answered, so networks stay isolated in name as in traffic. The server
//! exits once its network has had no container for a few seconds.
//!
//! The wire format (RFC 1035) is small enough to handle here: a query is
//! parsed only as far as its question, and answers are A records; every
//! other question is relayed to an upstream server byte for byte.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::network::Networks;

const TYPE_A: u16 = 1;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
/// Seconds an answer about a container may be cached: containers come and go.
const TTL: u32 = 600;

/// The question of a query, as far as the server needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Transaction id.
    pub id: u16,
    /// Recursion desired (copied into the answer).
    pub rd: bool,
    /// The name asked for, lower case, without the final dot.
    pub name: String,
    /// Record type.
    pub qtype: u16,
    /// Class.
    pub qclass: u16,
    /// The question section's bytes (name, type, class), echoed in answers.
    section: Vec<u8>,
}

/// Parses a query: a standard query (opcode 0) with exactly one question.
/// Anything else is `None` (and relayed or dropped by the caller).
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if is_response || opcode != 0 || qdcount != 1 {
        return None;
    }
    let mut pos = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        // Compression pointers (0xc0) have no place in a question here.
        if len > 63 {
            return None;
        }
        let label = msg.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
        if pos - 12 > 255 {
            return None;
        }
    }
    let tail = msg.get(pos..pos + 4)?;
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let qclass = u16::from_be_bytes([tail[2], tail[3]]);
    Some(Question {
        id,
        rd: flags & 0x0100 != 0,
        name: labels.join("."),
        qtype,
        qclass,
        section: msg[12..pos + 4].to_vec(),
    })
}

/// The answer to `q`: A records for `addrs` (an empty NOERROR answer for
/// other types of a known name), or NXDOMAIN when `addrs` is `None`.
pub fn answer(q: &Question, addrs: Option<&[Ipv4Addr]>) -> Vec<u8> {
    let records: Vec<Ipv4Addr> = match (addrs, q.qtype) {
        (Some(a), TYPE_A | TYPE_ANY) if q.qclass == CLASS_IN => a.to_vec(),
        _ => Vec::new(),
    };
    let rcode = if addrs.is_some() { 0 } else { RCODE_NXDOMAIN };
    let mut out = header(q, rcode, records.len() as u16);
    out.extend_from_slice(&q.section);
    for ip in records {
        // The name: a pointer to the question's, at offset 12.
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// SERVFAIL for `q` (no upstream answered).
pub fn servfail(q: &Question) -> Vec<u8> {
    let mut out = header(q, RCODE_SERVFAIL, 0);
    out.extend_from_slice(&q.section);
    out
}

fn header(q: &Question, rcode: u8, answers: u16) -> Vec<u8> {
    // QR, authoritative for the names it knows, RD as asked, RA.
    let mut flags: u16 = 0x8000 | 0x0400 | 0x0080 | rcode as u16;
    if q.rd {
        flags |= 0x0100;
    }
    let mut h = Vec::with_capacity(512);
    h.extend_from_slice(&q.id.to_be_bytes());
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&1u16.to_be_bytes());
    h.extend_from_slice(&answers.to_be_bytes());
    h.extend_from_slice(&0u16.to_be_bytes());
    h.extend_from_slice(&0u16.to_be_bytes());
    h
}

/// Upstream name servers from a resolv.conf text (IPv4, port 53).
pub fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

impl Networks {
    /// Serves DNS for user network `network` on its gateway until it has
    /// been without containers for `idle`. Returns `Ok` at once if another
    /// server holds the address already.
    pub fn serve_dns(&self, network: &str, idle: Duration) -> Result<(), Error> {
        let info = self.inspect(network)?;
        let net = info.network;
        let addr = SocketAddrV4::new(net.gateway, 53);
        let sock = match bind_retrying(addr) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(()),
            Err(e) => return Err(Error::kernel("binding the DNS server", &net.bridge)(e)),
        };
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(Error::kernel("configuring the DNS socket", &net.bridge))?;
        let mut empty_since: Option<Instant> = None;
        let mut last_check = Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            if last_check.elapsed() >= Duration::from_millis(500) {
                last_check = Instant::now();
                let attached = self
                    .inspect(&net.id)
                    .map(|i| i.attachments.len())
                    .unwrap_or(0);
                if attached == 0 {
                    let since = *empty_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= idle {
                        return Ok(());
                    }
                } else {
                    empty_since = None;
                }
            }
            let (n, from) = match sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(Error::kernel("receiving DNS queries", &net.bridge)(e)),
            };
            let SocketAddr::V4(from4) = from else {
                continue;
            };
            if !net.subnet.contains(*from4.ip()) {
                continue;
            }
            let query = &buf[..n];
            let Some(q) = parse_query(query) else {
                continue;
            };
            let names = self
                .inspect(&net.id)
                .map(|i| i.attachments)
                .unwrap_or_default();
            let hits: Vec<Ipv4Addr> = names
                .iter()
                .filter(|a| {
                    a.aliases
                        .iter()
                        .chain(a.hostname.iter())
                        .any(|n| n.eq_ignore_ascii_case(&q.name))
                        || a.container_id.get(..12) == Some(q.name.as_str())
                })
                .map(|a| a.ip)
                .collect();
            if !hits.is_empty() {
                let _ = sock.send_to(&answer(&q, Some(&hits)), from);
                continue;
            }
            // Not a container: ask the host's resolvers, off this thread.
            let reply_sock = match sock.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            };
            let query = query.to_vec();
            std::thread::spawn(move || {
                let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                let reply = forward(&query, &upstreams(&resolv)).unwrap_or_else(|| servfail(&q));
                let _ = reply_sock.send_to(&reply, from);
            });
        }
    }
}

/// Binds `addr`, waiting a moment for a server that is exiting to let go.
fn bind_retrying(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        match UdpSocket::bind(addr) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Relays `query` to each upstream in turn; the first reply.
fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(local) else {
            continue;
        };
        if s.set_read_timeout(Some(Duration::from_secs(2))).is_err() || s.connect(up).is_err() {
            continue;
        }
        if s.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(n) = s.recv(&mut buf) {
            if n >= 2 && buf[..2] == query[..2] {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE_AAAA: u16 = 28;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m
    }

    #[test]
    fn parses_a_standard_query() {
        let q = parse_query(&query("Web.Example", TYPE_A)).expect("query");
        assert_eq!(q.id, 0x1234);
        assert!(q.rd);
        assert_eq!(q.name, "web.example");
        assert_eq!((q.qtype, q.qclass), (TYPE_A, CLASS_IN));
    }

    #[test]
    fn refuses_what_is_not_a_plain_query() {
        assert!(parse_query(&[0; 5]).is_none());
        let mut resp = query("a", TYPE_A);
        resp[2] |= 0x80;
        assert!(parse_query(&resp).is_none());
        let mut two = query("a", TYPE_A);
        two[5] = 2;
        assert!(parse_query(&two).is_none());
        let mut truncated = query("abc", TYPE_A);
        truncated.truncate(15);
        assert!(parse_query(&truncated).is_none());
        let mut pointer = query("abc", TYPE_A);
        pointer[12] = 0xc0;
        assert!(parse_query(&pointer).is_none());
    }

    #[test]
    fn answers_a_records_and_nxdomain() {
        let q = parse_query(&query("db", TYPE_A)).expect("query");
        let ips = [Ipv4Addr::new(10, 214, 0, 2), Ipv4Addr::new(10, 214, 0, 3)];
        let a = answer(&q, Some(&ips));
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 2, "two answers");
        assert_eq!(&a[a.len() - 4..], &[10, 214, 0, 3]);
        let aaaa = parse_query(&query("db", TYPE_AAAA)).expect("query");
        let empty = answer(&aaaa, Some(&ips));
        assert_eq!(u16::from_be_bytes([empty[6], empty[7]]), 0);
        assert_eq!(empty[3] & 0x0f, 0);
        let nx = answer(&q, None);
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        assert_eq!(servfail(&q)[3] & 0x0f, RCODE_SERVFAIL);
    }

    #[test]
    fn upstreams_from_resolv_conf() {
        let u = upstreams("# x\nnameserver 127.0.0.53\nsearch lan\nnameserver 10.0.0.1\n");
        assert_eq!(
            u,
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().expect("addr"),
                "10.0.0.1:53".parse().expect("addr")
            ]
        );
    }
}
