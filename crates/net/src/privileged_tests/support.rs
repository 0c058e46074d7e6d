//! Helpers of the privileged tests: a fresh host namespace, containers, an
//! outside machine, a tiny TCP server and the kernel's view of links and rules.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rustix::thread::UnshareFlags;

use crate::link::{self, Veth};
use crate::nft;
use crate::nl::Socket;
use crate::{
    create_netns, in_netns, parse_publish, remove_netns, AttachOptions, Attachment, NetConfig,
    Networks,
};

pub(super) const HOST_OUT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub(super) const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// Runs `body` on a thread in a fresh network namespace with `lo` up, or
/// reports the test as skipped (failed with `BERTH_REQUIRE_PRIVILEGED=1`).
pub(super) fn in_fresh_host(body: impl FnOnce(&mut Host) + Send) {
    if !rustix::process::geteuid().is_root() {
        if std::env::var_os("BERTH_REQUIRE_PRIVILEGED").is_some() {
            panic!("BERTH_REQUIRE_PRIVILEGED is set but the test cannot run: not root");
        }
        eprintln!("SKIPPED: needs root (network namespaces, netlink, nftables)");
        return;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: only CLONE_NEWNET, on this test's own thread; the file
            // descriptor table stays shared.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
                .expect("unshare(CLONE_NEWNET)");
            Socket::route()
                .expect("rtnetlink")
                .exec_all(&[link::set_up(link::LOOPBACK_INDEX)])
                .expect("lo up");
            let mut host = Host::new();
            body(&mut host);
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    });
}

/// A host: state directories, the net layer, and namespaces to remove.
pub(super) struct Host {
    pub tmp: tempfile::TempDir,
    pub nets: Networks,
    namespaces: Vec<PathBuf>,
}

impl Drop for Host {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = remove_netns(ns);
        }
    }
}

impl Host {
    pub(super) fn new() -> Host {
        let tmp = tempfile::tempdir().expect("tempdir");
        let nets = Networks::open(
            &tmp.path().join("state"),
            &tmp.path().join("run"),
            NetConfig::default(),
        )
        .expect("open");
        Host {
            tmp,
            nets,
            namespaces: Vec::new(),
        }
    }

    /// Another handle on the same state, as a second `berth` process would have.
    pub(super) fn second_process(&self) -> Networks {
        Networks::open(
            &self.tmp.path().join("state"),
            &self.tmp.path().join("run"),
            NetConfig::default(),
        )
        .expect("open")
    }

    /// Removes bridges when idle (instead of keeping the default one up).
    pub(super) fn remove_idle_bridges(&mut self) {
        let config = NetConfig {
            keep_default_bridge: false,
            ..NetConfig::default()
        };
        self.nets = Networks::open(
            &self.tmp.path().join("state"),
            &self.tmp.path().join("run"),
            config,
        )
        .expect("open");
    }

    /// What the engine does when a container is removed: detach, then
    /// remove its namespace (which takes its veth pairs with it).
    pub(super) fn remove(&mut self, id: &str) {
        self.nets.detach(id).expect("detach");
        let ns = self.tmp.path().join(format!("ns-{id}"));
        remove_netns(&ns).expect("remove netns");
        self.namespaces.retain(|n| n != &ns);
    }

    pub(super) fn netns(&mut self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(format!("ns-{name}"));
        create_netns(&p).expect("create_netns");
        self.namespaces.push(p.clone());
        p
    }

    /// `container` in its own namespace on `network`, publishing `publish`.
    pub(super) fn container(
        &mut self,
        id: &str,
        network: &str,
        publish: &[&str],
    ) -> (PathBuf, Attachment) {
        let ns = self.netns(id);
        let ports = publish
            .iter()
            .flat_map(|p| parse_publish(p).expect("-p"))
            .collect();
        let a = self
            .nets
            .attach(
                network,
                id,
                &ns,
                AttachOptions {
                    ports,
                    ..Default::default()
                },
            )
            .expect("attach");
        (ns, a)
    }

    /// An "outside" machine: a namespace joined to the host by a veth, the
    /// host's default route pointing at it with a 1400-byte MTU.
    pub(super) fn outside(&mut self) -> PathBuf {
        let ns = self.netns("outside");
        let nsf = std::fs::File::open(&ns).expect("open ns");
        let mut route = Socket::route().expect("rtnetlink");
        route
            .exec_all(&[link::new_veth(&Veth {
                host: "up0",
                master: None,
                mtu: 1400,
                peer: "eth0",
                peer_mac: [0x02, 0, 0, 0, 0, 2],
                peer_netns: std::os::fd::AsFd::as_fd(&nsf),
            })])
            .expect("veth to outside");
        let up0 = link::link_by_name(&mut route, "up0")
            .expect("lookup")
            .expect("up0")
            .index;
        route
            .exec_all(&[link::new_addr(up0, HOST_OUT, 24)])
            .expect("host address");
        route
            .exec_all(&[link::new_default_route(OUTSIDE)])
            .expect("default route");
        in_netns(&ns, || {
            let mut s = Socket::route().expect("rtnetlink");
            let eth0 = link::link_by_name(&mut s, "eth0")
                .expect("lookup")
                .expect("eth0")
                .index;
            s.exec_all(&[link::set_up(eth0), link::new_addr(eth0, OUTSIDE, 24)])
                .expect("outside address");
        })
        .expect("in outside");
        ns
    }
}

/// Serves `n` connections on `addr` inside `ns`, answering `reply` and
/// reporting each peer's address.
pub(super) fn serve(
    ns: &Path,
    addr: SocketAddr,
    reply: &'static str,
    n: usize,
) -> mpsc::Receiver<SocketAddr> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (peer_tx, peer_rx) = mpsc::channel();
    let ns = std::fs::File::open(ns).expect("open ns");
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        let l = TcpListener::bind(addr).expect("bind in container");
        ready_tx.send(()).expect("ready");
        for _ in 0..n {
            let Ok((mut c, peer)) = l.accept() else {
                return;
            };
            let _ = c.write_all(reply.as_bytes());
            let _ = peer_tx.send(peer);
        }
    });
    ready_rx.recv().expect("server ready");
    peer_rx
}

pub(super) fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

pub(super) fn fetch_from(ns: &Path, addr: SocketAddr) -> std::io::Result<String> {
    in_netns(ns, || fetch(addr)).expect("in netns")
}

pub(super) fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// Waits (up to 10 s) for the kernel's asynchronous namespace cleanup.
pub(super) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("still not the case after 10 s: {what}");
}

pub(super) fn veths() -> usize {
    host_links()
        .iter()
        .filter(|l| l.starts_with("veth"))
        .count()
}

pub(super) fn host_links() -> Vec<String> {
    link::links(&mut Socket::route().expect("rtnetlink"))
        .expect("links")
        .into_iter()
        .map(|l| l.name)
        .collect()
}

pub(super) fn host_rules() -> Vec<nft::Listed> {
    nft::list_rules(&mut Socket::netfilter().expect("nfnetlink")).expect("rules")
}
