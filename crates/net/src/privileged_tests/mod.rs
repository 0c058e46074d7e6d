//! Privileged tests: real namespaces, bridges, veths and nftables rules.
//!
//! Each test runs on its own thread inside a fresh network namespace (the
//! "host"), so nothing touches the machine's interfaces or rules; containers
//! are further namespaces made with `create_netns`, and an "outside" namespace
//! joined to the host by a veth plays another machine (TEST-NET-2,
//! 198.51.100.0/24). Checks are TCP exchanges with std sockets and the
//! kernel's own view (links, routes, rules). Run as root inside a private
//! mount namespace: `unshare --mount --propagation private cargo test -p berth-net`.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use crate::link::{self, Veth};
use crate::nl::Socket;
use crate::{
    in_netns, parse_publish, remove_netns, AttachOptions, CreateOptions, Error, NetConfig, Networks,
};

mod support;
use support::*;

#[test]
fn netns_has_only_loopback_up() {
    in_fresh_host(|h| {
        let ns = h.netns("none");
        let links = in_netns(&ns, || {
            link::links(&mut Socket::route().expect("rtnetlink")).expect("links")
        })
        .expect("in netns");
        assert_eq!(
            links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["lo"]
        );
        // lo is up: a listener on 127.0.0.1 answers.
        let peers = serve(&ns, sa(Ipv4Addr::LOCALHOST, 80), "lo", 1);
        assert_eq!(
            fetch_from(&ns, sa(Ipv4Addr::LOCALHOST, 80)).expect("fetch"),
            "lo"
        );
        drop(peers);
        remove_netns(&ns).expect("remove");
        assert!(!ns.exists());
        remove_netns(&ns).expect("removing again is fine");
    });
}

#[test]
fn containers_talk_over_the_bridge_and_reach_out_masqueraded() {
    in_fresh_host(|h| {
        let outside = h.outside();
        let (ns1, a1) = h.container("c1", "bridge", &[]);
        let (ns2, a2) = h.container("c2", "bridge", &[]);
        assert_ne!(a1.ip, a2.ip);
        assert_eq!(a1.gateway, Ipv4Addr::new(10, 213, 0, 1));
        assert_eq!(a1.mtu, 1400, "the MTU follows the host's default route");
        assert!(host_links().contains(&"berth0".to_string()));
        // Inside: address on eth0, default route via the gateway.
        let routes = in_netns(&ns1, || {
            link::routes(&mut Socket::route().expect("rtnetlink")).expect("routes")
        })
        .expect("in netns");
        assert!(routes.iter().any(|r| r.prefix == 0), "{routes:?}");
        // Container to container through the bridge.
        let peers = serve(&ns2, sa(a2.ip, 80), "c2", 1);
        assert_eq!(fetch_from(&ns1, sa(a2.ip, 80)).expect("c1 -> c2"), "c2");
        assert_eq!(
            peers.recv().expect("peer").ip(),
            std::net::IpAddr::V4(a1.ip)
        );
        // Out of the host: the outside sees the host's address, not the container's.
        let peers = serve(&outside, sa(OUTSIDE, 9000), "out", 1);
        assert_eq!(
            fetch_from(&ns1, sa(OUTSIDE, 9000)).expect("c1 -> outside"),
            "out"
        );
        assert_eq!(
            peers.recv().expect("peer").ip(),
            std::net::IpAddr::V4(HOST_OUT)
        );
    });
}

#[test]
fn published_ports_answer_from_host_localhost_outside_and_containers() {
    in_fresh_host(|h| {
        let outside = h.outside();
        let (ns1, a1) = h.container("web1", "bridge", &["8080:80"]);
        let (ns2, _a2) = h.container("web2", "bridge", &["127.0.0.1:8081:80"]);
        let (client, _) = h.container("client", "bridge", &[]);
        assert_eq!(a1.ports[0].host_port, 8080);
        let _s1 = serve(&ns1, sa(Ipv4Addr::UNSPECIFIED, 80), "web1", 5);
        let _s2 = serve(&ns2, sa(Ipv4Addr::UNSPECIFIED, 80), "web2", 1);
        // Two containers on port 80, two host ports, two answers.
        assert_eq!(
            fetch(sa(Ipv4Addr::LOCALHOST, 8080)).expect("127.0.0.1:8080"),
            "web1"
        );
        assert_eq!(
            fetch(sa(Ipv4Addr::LOCALHOST, 8081)).expect("127.0.0.1:8081"),
            "web2"
        );
        // On the host's other address, from the host and from another machine.
        assert_eq!(fetch(sa(HOST_OUT, 8080)).expect("host address"), "web1");
        assert_eq!(
            fetch_from(&outside, sa(HOST_OUT, 8080)).expect("from outside"),
            "web1"
        );
        // From another container through the host (hairpin).
        assert_eq!(
            fetch_from(&client, sa(a1.gateway, 8080)).expect("from a container"),
            "web1"
        );
        // From the publishing container itself, through the host.
        assert_eq!(
            fetch_from(&ns1, sa(a1.gateway, 8080)).expect("hairpin to itself"),
            "web1"
        );
        // UDP too.
        let (ns3, _) = h.container("dns", "bridge", &["5353:53/udp"]);
        let sock = in_netns(&ns3, || {
            std::net::UdpSocket::bind(sa(Ipv4Addr::UNSPECIFIED, 53))
        })
        .expect("in netns")
        .expect("bind udp");
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, peer) = sock.recv_from(&mut buf).expect("recv");
            sock.send_to(&buf[..n], peer).expect("send");
        });
        let client = std::net::UdpSocket::bind(sa(Ipv4Addr::LOCALHOST, 0)).expect("bind");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        client
            .send_to(b"ping", sa(Ipv4Addr::LOCALHOST, 5353))
            .expect("send");
        let mut buf = [0u8; 64];
        let (n, _) = client.recv_from(&mut buf).expect("udp answer");
        assert_eq!(&buf[..n], b"ping");
        echo.join().expect("echo");
        // 8081 is published on 127.0.0.1 only.
        assert!(fetch_from(&outside, sa(HOST_OUT, 8081)).is_err());
    });
}

#[test]
fn taken_host_ports_are_refused_before_anything_is_set_up() {
    in_fresh_host(|h| {
        let _held = TcpListener::bind(sa(Ipv4Addr::LOCALHOST, 7070)).expect("bind");
        let ns = h.netns("c");
        let ports = parse_publish("127.0.0.1:7070:80").expect("-p");
        let e = h
            .nets
            .attach(
                "bridge",
                "c",
                &ns,
                AttachOptions {
                    ports,
                    ..Default::default()
                },
            )
            .expect_err("port is held");
        assert!(matches!(e, Error::PortTaken { port: 7070, .. }), "{e}");
        assert!(e.to_string().contains("another program"), "{e}");
        h.container("a", "bridge", &["9090:80"]);
        let ports = parse_publish("9090:80").expect("-p");
        let e = h
            .nets
            .attach(
                "bridge",
                "c",
                &ns,
                AttachOptions {
                    ports,
                    ..Default::default()
                },
            )
            .expect_err("port is published");
        assert!(e.to_string().contains("by a"), "{e}");
        assert!(h.nets.attachments("c").expect("state").is_empty());
        let e = h
            .nets
            .attach(
                "bridge",
                "c",
                &ns,
                AttachOptions {
                    ports: parse_publish("203.0.113.9:80:80").expect("-p"),
                    ..Default::default()
                },
            )
            .expect_err("not a local address");
        assert!(matches!(e, Error::NotLocal { .. }), "{e}");
    });
}

#[test]
fn removal_leaves_no_veth_rule_or_bridge() {
    in_fresh_host(|h| {
        h.remove_idle_bridges();
        for i in 0..3 {
            h.container(&format!("c{i}"), "bridge", &[&format!("{}:80", 8000 + i)]);
        }
        assert_eq!(veths(), 3);
        assert_eq!(
            host_rules()
                .iter()
                .filter(|r| r.tag.starts_with("berth/ctr/"))
                .count(),
            6
        );
        h.remove("c0");
        h.nets.detach("c0").expect("detach is idempotent");
        assert!(!host_rules().iter().any(|r| r.tag.contains("/c0/")));
        wait_until("c0's veth is gone", || veths() == 2);
        h.remove("c1");
        h.remove("c2");
        assert!(host_rules().is_empty(), "berth's table is gone");
        wait_until("no veth or bridge is left", || {
            !host_links()
                .iter()
                .any(|l| l.starts_with("veth") || l.starts_with("berth"))
        });
        // The next container brings it all back.
        let (ns, a) = h.container("again", "bridge", &["8000:80"]);
        let _s = serve(&ns, sa(Ipv4Addr::UNSPECIFIED, 80), "again", 1);
        assert_eq!(
            fetch(sa(Ipv4Addr::LOCALHOST, 8000)).expect("fetch"),
            "again"
        );
        assert_eq!(a.ip, Ipv4Addr::new(10, 213, 0, 5), "round robin moves on");
    });
}

#[test]
fn the_default_bridge_stays_up_when_kept() {
    in_fresh_host(|h| {
        h.container("c0", "bridge", &["8000:80"]);
        h.remove("c0");
        assert!(host_links().contains(&"berth0".to_string()));
        let rules = host_rules();
        assert!(
            !rules.is_empty() && rules.iter().all(|r| r.tag.starts_with("berth/net/")),
            "{rules:?}"
        );
        // A container of the same id comes back at once (its old veth may
        // still be dying with the old namespace).
        let (ns, _) = h.container("c0", "bridge", &["8000:80"]);
        let _s = serve(&ns, sa(Ipv4Addr::UNSPECIFIED, 80), "c0", 1);
        assert_eq!(fetch(sa(Ipv4Addr::LOCALHOST, 8000)).expect("fetch"), "c0");
    });
}

#[test]
fn gc_reclaims_dead_containers_and_strays() {
    in_fresh_host(|h| {
        let (_, a1) = h.container("dead", "bridge", &["8080:80"]);
        let (ns2, _a2) = h.container("alive", "bridge", &["8081:80"]);
        // A veth on berth's bridge that no record knows (a crash mid-attach).
        let bridge = link::link_by_name(&mut Socket::route().expect("rt"), "berth0")
            .expect("lookup")
            .expect("bridge");
        let stray_ns = h.netns("stray");
        let f = std::fs::File::open(&stray_ns).expect("open");
        Socket::route()
            .expect("rt")
            .exec_all(&[link::new_veth(&Veth {
                host: "vethstray",
                master: Some(bridge.index),
                mtu: 1500,
                peer: "eth0",
                peer_mac: [2, 0, 0, 0, 0, 9],
                peer_netns: std::os::fd::AsFd::as_fd(&f),
            })])
            .expect("stray veth");
        let report = h.nets.gc(|id| id == "alive").expect("gc");
        assert_eq!(report.containers, ["dead"]);
        assert_eq!(report.links, ["vethstray"]);
        let links = host_links();
        assert!(
            !links.contains(&a1.host_veth) && !links.contains(&"vethstray".to_string()),
            "{links:?}"
        );
        assert!(!host_rules().iter().any(|r| r.tag.contains("/dead/")));
        // The survivor still works, and its port is still its own.
        let _s = serve(&ns2, sa(Ipv4Addr::UNSPECIFIED, 80), "alive", 1);
        assert_eq!(
            fetch(sa(Ipv4Addr::LOCALHOST, 8081)).expect("fetch"),
            "alive"
        );
        // The dead one's port is free again.
        h.container("next", "bridge", &["8080:80"]);
    });
}

#[test]
fn user_networks_resolve_addresses_and_are_isolated() {
    in_fresh_host(|h| {
        let na = h
            .nets
            .create("a", CreateOptions::default())
            .expect("create a");
        let nb = h
            .nets
            .create("b", CreateOptions::default())
            .expect("create b");
        assert!(!na.subnet.overlaps(&nb.subnet));
        assert!(matches!(
            h.nets.create("a", CreateOptions::default()),
            Err(Error::Exists(_))
        ));
        let ns3 = h.netns("a2");
        let fixed = Ipv4Addr::from(u32::from(na.subnet.addr()) + 50);
        let a3 = h
            .nets
            .attach(
                "a",
                "a2",
                &ns3,
                AttachOptions {
                    ip: Some(fixed),
                    ..Default::default()
                },
            )
            .expect("attach --ip");
        assert_eq!(a3.ip, fixed);
        let (ns1, _) = h.container("a1", "a", &[]);
        let (ns2, b1) = h.container("b1", "b", &[]);
        let _s = serve(&ns3, sa(fixed, 80), "a2", 1);
        assert_eq!(fetch_from(&ns1, sa(fixed, 80)).expect("same network"), "a2");
        let _t = serve(&ns2, sa(b1.ip, 80), "b1", 1);
        assert!(
            fetch_from(&ns1, sa(b1.ip, 80)).is_err(),
            "networks are isolated"
        );
        let info = h.nets.inspect("a").expect("inspect");
        assert_eq!(info.attachments.len(), 2);
        assert!(matches!(h.nets.remove("a"), Err(Error::InUse { .. })));
        let a1_veth = h.nets.attachments("a1").expect("state")[0]
            .host_veth
            .clone();
        h.nets.disconnect("a", "a1").expect("disconnect");
        assert!(
            !host_links().contains(&a1_veth),
            "disconnect deletes the veth at once"
        );
        h.nets.disconnect("a", "a2").expect("disconnect");
        assert!(matches!(
            h.nets.disconnect("a", "a2"),
            Err(Error::NotAttached { .. })
        ));
        h.nets.remove("a").expect("remove");
        assert!(!host_links().contains(&na.bridge));
        let names: Vec<_> = h
            .nets
            .list()
            .expect("list")
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["b", "bridge"]);
    });
}

#[test]
fn a_subnet_taken_by_a_host_route_is_refused() {
    in_fresh_host(|h| {
        h.outside();
        let config = NetConfig {
            default_subnet: "198.51.100.0/24".parse().expect("subnet"),
            ..NetConfig::default()
        };
        let nets = Networks::open(&h.tmp.path().join("s2"), &h.tmp.path().join("r2"), config)
            .expect("open");
        let ns = h.netns("c");
        let e = nets
            .attach("bridge", "c", &ns, AttachOptions::default())
            .expect_err("overlap");
        assert!(e.to_string().contains("host route 198.51.100.0/24"), "{e}");
        assert!(!host_links().contains(&"berth0".to_string()));
        let e = h
            .nets
            .create(
                "clash",
                CreateOptions {
                    subnet: Some("198.51.100.0/25".parse().expect("subnet")),
                    ..Default::default()
                },
            )
            .expect_err("overlap");
        assert!(matches!(e, Error::SubnetOverlap { .. }), "{e}");
    });
}

#[test]
fn internal_network_has_no_way_out() {
    in_fresh_host(|h| {
        let outside = h.outside();
        h.nets
            .create(
                "sealed",
                CreateOptions {
                    internal: true,
                    ..Default::default()
                },
            )
            .expect("create");
        let (ns1, a1) = h.container("s1", "sealed", &[]);
        assert!(!a1.default_route);
        let _s = serve(&outside, sa(OUTSIDE, 9000), "out", 1);
        assert!(fetch_from(&ns1, sa(OUTSIDE, 9000)).is_err());
    });
}

#[test]
fn concurrent_attaches_never_share_an_address() {
    in_fresh_host(|h| {
        let namespaces: Vec<PathBuf> = (0..16).map(|i| h.netns(&format!("p{i}"))).collect();
        let ips: Vec<Ipv4Addr> = std::thread::scope(|s| {
            let handles: Vec<_> = namespaces
                .chunks(4)
                .enumerate()
                .map(|(w, chunk)| {
                    let nets = h.second_process();
                    s.spawn(move || {
                        chunk
                            .iter()
                            .enumerate()
                            .map(|(i, ns)| {
                                nets.attach(
                                    "bridge",
                                    &format!("w{w}-{i}"),
                                    ns,
                                    AttachOptions::default(),
                                )
                                .expect("attach")
                                .ip
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|t| t.join().expect("worker"))
                .collect()
        });
        let unique: std::collections::HashSet<_> = ips.iter().collect();
        assert_eq!(unique.len(), ips.len(), "{ips:?}");
    });
}

#[test]
fn a_hundred_containers_leave_nothing_behind() {
    in_fresh_host(|h| {
        h.remove_idle_bridges();
        for i in 0..100 {
            let id = format!("c{i}");
            h.container(&id, "bridge", &[&format!("{}:80", 10000 + i)]);
            h.remove(&id);
        }
        assert!(host_rules().is_empty());
        wait_until("only lo is left", || host_links() == ["lo"]);
        assert!(h.nets.attachments("c99").expect("state").is_empty());
    });
}
