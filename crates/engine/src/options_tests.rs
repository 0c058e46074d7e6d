use super::*;

#[test]
fn restart_policies() {
    assert_eq!("no".parse::<RestartPolicy>().unwrap(), RestartPolicy::No);
    assert_eq!(
        "always".parse::<RestartPolicy>().unwrap(),
        RestartPolicy::Always
    );
    assert_eq!(
        "on-failure:3".parse::<RestartPolicy>().unwrap(),
        RestartPolicy::OnFailure(3)
    );
    assert_eq!(
        "unless-stopped".parse::<RestartPolicy>().unwrap(),
        RestartPolicy::UnlessStopped
    );
    assert!("always:3".parse::<RestartPolicy>().is_err());
    assert!("sometimes".parse::<RestartPolicy>().is_err());
    assert!("on-failure:x".parse::<RestartPolicy>().is_err());
    let p = RestartPolicy::OnFailure(2);
    assert!(p.restarts(1, 0) && p.restarts(1, 1) && !p.restarts(1, 2) && !p.restarts(0, 0));
    assert!(RestartPolicy::Always.restarts(0, 100));
    assert!(!RestartPolicy::No.restarts(1, 0));
}

#[test]
fn sizes_and_cpus() {
    assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
    assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
    assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
    assert_eq!(parse_bytes("100").unwrap(), 100);
    assert_eq!(parse_bytes("64MB").unwrap(), 64 << 20);
    assert!(parse_bytes("lots").is_err());
    assert!(parse_bytes("-1m").is_err());
    assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
    assert!(parse_cpus("0").is_err());
}

#[test]
fn ulimits() {
    let u: Ulimit = "nofile=1024:2048".parse().unwrap();
    assert_eq!(
        (u.kind.as_str(), u.soft, u.hard),
        ("RLIMIT_NOFILE", 1024, 2048)
    );
    let u: Ulimit = "nproc=64".parse().unwrap();
    assert_eq!((u.soft, u.hard), (64, 64));
    assert!("nofile=10:5".parse::<Ulimit>().is_err());
    assert!("files=10".parse::<Ulimit>().is_err());
    assert!("nofile".parse::<Ulimit>().is_err());
}

#[test]
fn volumes() {
    let m = MountSpec::parse_volume("/srv/data:/data:ro").unwrap();
    assert_eq!(
        m.kind,
        MountKind::Bind {
            source: "/srv/data".into()
        }
    );
    assert!(m.read_only);
    let m = MountSpec::parse_volume("cache:/cache").unwrap();
    assert_eq!(
        m.kind,
        MountKind::Volume {
            name: "cache".into()
        }
    );
    let m = MountSpec::parse_volume("/anon").unwrap();
    assert_eq!(
        m.kind,
        MountKind::Volume {
            name: String::new()
        }
    );
    assert!(MountSpec::parse_volume("/a:relative").is_err());
    assert!(MountSpec::parse_volume("/a:/b:bogus").is_err());
    assert!(MountSpec::parse_volume("/a:/").is_err());
    assert!(MountSpec::parse_volume("../x:/b").is_err());
}

#[test]
fn mounts_and_tmpfs() {
    let m = MountSpec::parse_mount("type=bind,source=/etc,target=/host-etc,readonly").unwrap();
    assert!(m.read_only);
    assert_eq!(m.target, "/host-etc");
    let m = MountSpec::parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777").unwrap();
    assert_eq!(m.kind, MountKind::Tmpfs);
    assert_eq!(m.options, vec!["size=1048576", "mode=1777"]);
    assert!(MountSpec::parse_mount("type=bind,target=/x").is_err());
    assert!(MountSpec::parse_mount("type=nfs,target=/x").is_err());
    assert!(MountSpec::parse_mount("type=bind,source=rel,target=/x").is_err());
    let t = MountSpec::parse_tmpfs("/run:rw,size=64k").unwrap();
    assert_eq!(t.options, vec!["size=64k"]);
}

#[test]
fn devices_signals_caps() {
    let d: DeviceSpec = "/dev/null:/dev/mynull:rw".parse().unwrap();
    assert_eq!(d.container, "/dev/mynull");
    assert_eq!(d.permissions, "rw");
    let d: DeviceSpec = "/dev/zero:r".parse().unwrap();
    assert_eq!(
        (d.container.as_str(), d.permissions.as_str()),
        ("/dev/zero", "r")
    );
    assert!("/dev/zero:/z:x".parse::<DeviceSpec>().is_err());
    assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
    assert_eq!(parse_signal("kill").unwrap(), 9);
    assert_eq!(parse_signal("10").unwrap(), 10);
    assert_eq!(parse_signal("RTMIN+1").unwrap(), 35);
    assert!(parse_signal("SIGNOPE").is_err());
    assert!(parse_signal("99").is_err());
    assert_eq!(normalize_cap("net_admin").unwrap(), "CAP_NET_ADMIN");
    assert_eq!(normalize_cap("ALL").unwrap(), "ALL");
    assert!(normalize_cap("CAP_FLY").is_err());
}

#[test]
fn log_options() {
    let mut l = LogOptions::default();
    assert!(l.set("max-file=3").is_err());
    l.set("max-size=10k").unwrap();
    l.set("max-file=3").unwrap();
    assert_eq!((l.max_size, l.max_file), (Some(10240), 3));
    assert!(l.set("compress=true").is_err());
}

#[test]
fn network_modes_parse_as_docker_spells_them() {
    let bridge = NetworkMode::Bridge(DEFAULT_NETWORK.into());
    assert_eq!("bridge".parse::<NetworkMode>().unwrap(), bridge);
    assert_eq!("default".parse::<NetworkMode>().unwrap(), bridge);
    assert_eq!(NetworkMode::default(), bridge);
    assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
    assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
    assert_eq!(
        "container:web".parse::<NetworkMode>().unwrap(),
        NetworkMode::Container("web".into())
    );
    assert_eq!(
        "front-end".parse::<NetworkMode>().unwrap(),
        NetworkMode::Bridge("front-end".into())
    );
    assert!("container:".parse::<NetworkMode>().is_err());
    assert!("bad/name".parse::<NetworkMode>().is_err());
    assert_eq!(NetworkMode::Container("x".into()).name(), "container:x");
}

#[test]
fn network_flags_conflicting_with_the_mode_are_refused() {
    let published = NetOptions {
        publish: berth_net::parse_publish("8080:80").unwrap(),
        ..Default::default()
    };
    assert!(published.check(&NetworkMode::None, None).is_err());
    assert!(published
        .check(&NetworkMode::Container("x".into()), None)
        .is_err());
    assert!(published.check(&NetworkMode::default(), None).is_ok());
    let hostname = NetOptions::default();
    assert!(hostname
        .check(&NetworkMode::Container("x".into()), Some("h"))
        .is_err());
    let ip = NetOptions {
        ip: Some("10.214.0.9".parse().unwrap()),
        ..Default::default()
    };
    assert!(ip.check(&NetworkMode::default(), None).is_err());
    assert!(ip.check(&NetworkMode::Bridge("mine".into()), None).is_ok());
    let alias = NetOptions {
        aliases: vec!["db".into()],
        ..Default::default()
    };
    assert!(alias.check(&NetworkMode::default(), None).is_err());
    assert!(alias
        .check(&NetworkMode::Bridge("mine".into()), None)
        .is_ok());
    let bad_host = NetOptions {
        extra_hosts: vec!["nocolon".into()],
        ..Default::default()
    };
    assert!(bad_host.check(&NetworkMode::default(), None).is_err());
}

#[test]
fn cgroupns_modes_and_docker_defaults() {
    assert_eq!("host".parse::<CgroupnsMode>().unwrap(), CgroupnsMode::Host);
    assert_eq!(
        "private".parse::<CgroupnsMode>().unwrap(),
        CgroupnsMode::Private
    );
    let err = "shared".parse::<CgroupnsMode>().unwrap_err().to_string();
    assert!(
        err.contains("shared") && err.contains("host or private"),
        "{err}"
    );
    assert_eq!(CgroupnsMode::default_for(true), CgroupnsMode::Private);
    assert_eq!(CgroupnsMode::default_for(false), CgroupnsMode::Host);
}

#[test]
fn sysctls_are_limited_to_the_containers_namespaces() {
    let bridge = NetworkMode::Bridge(DEFAULT_NETWORK.into());
    assert_eq!(
        parse_sysctl("net.ipv4.ip_forward=1", &bridge, IpcMode::Private).unwrap(),
        ("net.ipv4.ip_forward".to_owned(), "1".to_owned())
    );
    assert_eq!(
        parse_sysctl("kernel.shmmax=4096", &NetworkMode::Host, IpcMode::Private)
            .unwrap()
            .1,
        "4096"
    );
    assert!(parse_sysctl("fs.mqueue.msg_max=20", &NetworkMode::None, IpcMode::None).is_ok());
    let e = parse_sysctl("kernel.shmmax=1", &bridge, IpcMode::Host)
        .unwrap_err()
        .to_string();
    assert!(e.contains("host's IPC"), "{e}");
    let refused = |s: &str, n: &NetworkMode, why: &str| {
        let e = parse_sysctl(s, n, IpcMode::Private)
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{s}: {e}");
    };
    refused(
        "net.ipv4.ip_forward=1",
        &NetworkMode::Host,
        "host's network",
    );
    refused(
        "net.core.somaxconn=1",
        &NetworkMode::Container("db".into()),
        "container db",
    );
    refused("vm.swappiness=1", &bridge, "not namespaced");
    refused("kernel.hostname=x", &bridge, "not namespaced");
    refused("net..x=1", &bridge, "not a sysctl name");
    refused("net/ipv4=1", &bridge, "not a sysctl name");
    refused("net.ipv4.ip_forward", &bridge, "KEY=VALUE");
}

#[test]
fn resource_values_are_checked_against_each_other() {
    let ok = Resources {
        memory: Some(64 << 20),
        memory_reservation: Some(32 << 20),
        cpu_period: Some(50_000),
        cpu_quota: Some(25_000),
        blkio_weight: Some(300),
        ..Default::default()
    };
    assert!(ok.check().is_ok());
    let refused = |r: Resources, why: &str| {
        let e = r.check().unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    };
    refused(
        Resources {
            nano_cpus: Some(1_000_000_000),
            cpu_quota: Some(5000),
            ..Default::default()
        },
        "cannot be combined",
    );
    refused(
        Resources {
            cpu_period: Some(999),
            ..Default::default()
        },
        "between 1000 and 1000000",
    );
    refused(
        Resources {
            cpu_quota: Some(10),
            ..Default::default()
        },
        "at least 1000",
    );
    refused(
        Resources {
            blkio_weight: Some(5),
            ..Default::default()
        },
        "between 10 and 1000",
    );
    refused(
        Resources {
            memory: Some(32 << 20),
            memory_reservation: Some(64 << 20),
            ..Default::default()
        },
        "must not exceed",
    );
}

#[test]
fn pid_modes() {
    assert_eq!("".parse::<PidMode>().unwrap(), PidMode::Private);
    assert_eq!("host".parse::<PidMode>().unwrap(), PidMode::Host);
    let c = "container:web".parse::<PidMode>().unwrap();
    assert_eq!(c, PidMode::Container("web".into()));
    assert_eq!(c.name(), "container:web");
    assert_eq!(PidMode::Private.name(), "");
    for bad in ["container:", "shared", "hosts"] {
        let e = bad.parse::<PidMode>().unwrap_err().to_string();
        assert!(e.contains("host or container:NAME"), "{bad}: {e}");
    }
}

#[test]
fn ipc_modes() {
    for (s, m) in [
        ("", IpcMode::Private),
        ("private", IpcMode::Private),
        ("shareable", IpcMode::Private),
        ("none", IpcMode::None),
        ("host", IpcMode::Host),
    ] {
        assert_eq!(s.parse::<IpcMode>().unwrap(), m, "{s}");
    }
    let e = "container:db".parse::<IpcMode>().unwrap_err().to_string();
    assert!(e.contains("not supported"), "{e}");
    let e = "shared".parse::<IpcMode>().unwrap_err().to_string();
    assert!(e.contains("expected private"), "{e}");
}
