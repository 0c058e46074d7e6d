use super::*;
use crate::options::{ContainerOptions, MountSpec, Resources, Ulimit};

fn inputs_for<'a>(
    opts: &'a ContainerOptions,
    image: &'a RunConfig,
    user: &'a ResolvedUser,
    etc: &'a EtcFiles,
    caps: &'a [String],
    mounts: &'a [HostMount],
) -> Inputs<'a> {
    Inputs {
        id: "0123456789abcdef0123",
        image,
        opts,
        rootfs: Path::new("/r"),
        user,
        etc,
        mounts,
        devices: &[],
        caps,
        seccomp: None,
        cgroups_path: "/berth/x".into(),
        netns: &NetNs::New,
        pidns: &PidNs::New,
        hostname: "0123456789ab",
        init: None,
    }
}

fn etc() -> EtcFiles {
    EtcFiles {
        hosts: "/c/hosts".into(),
        hostname: "/c/hostname".into(),
        resolv_conf: "/c/resolv.conf".into(),
    }
}

#[test]
fn command_line_rules() {
    let image = RunConfig {
        entrypoint: Some(vec!["/entry".into()]),
        cmd: Some(vec!["default".into()]),
        ..Default::default()
    };
    let mut o = ContainerOptions::default();
    assert_eq!(args(&image, &o).unwrap(), vec!["/entry", "default"]);
    o.cmd = vec!["x".into()];
    assert_eq!(args(&image, &o).unwrap(), vec!["/entry", "x"]);
    o.cmd.clear();
    o.entrypoint = Some(vec!["/other".into()]);
    assert_eq!(args(&image, &o).unwrap(), vec!["/other"]);
    o.entrypoint = Some(vec![]);
    assert!(args(&image, &o).is_err());
    o.cmd = vec!["sh".into()];
    assert_eq!(args(&image, &o).unwrap(), vec!["sh"]);
}

#[test]
fn environment_layers() {
    let image = RunConfig {
        env: Some(vec!["PATH=/bin".into(), "A=image".into()]),
        ..Default::default()
    };
    let o = ContainerOptions {
        env: vec!["A=flag".into(), "B=2".into()],
        tty: true,
        ..Default::default()
    };
    let e = env(&image, &o, "host1", Some("/root"));
    assert_eq!(
        e,
        vec![
            "HOSTNAME=host1",
            "PATH=/bin",
            "A=flag",
            "B=2",
            "TERM=xterm",
            "HOME=/root"
        ]
    );
}

#[test]
fn caps_add_drop_all() {
    let everything: Vec<String> = ALL_CAPS.iter().map(|c| c.to_string()).collect();
    let mut o = ContainerOptions::default();
    assert_eq!(capabilities(&o, &everything).len(), DEFAULT_CAPS.len());
    o.cap_add = vec!["CAP_NET_ADMIN".into()];
    o.cap_drop = vec!["CAP_CHOWN".into()];
    let c = capabilities(&o, &everything);
    assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()));
    o.cap_drop = vec!["ALL".into()];
    o.cap_add = vec!["CAP_KILL".into()];
    assert_eq!(capabilities(&o, &everything), vec!["CAP_KILL"]);
    o = ContainerOptions {
        privileged: true,
        ..Default::default()
    };
    assert_eq!(capabilities(&o, &everything).len(), ALL_CAPS.len());
    // Privileged gets what berth has, not what it lacks.
    let some = vec!["CAP_CHOWN".to_string(), "CAP_SYS_ADMIN".to_string()];
    assert_eq!(capabilities(&o, &some), some);
}

#[test]
fn docker_defaults_in_the_spec() {
    let o = ContainerOptions {
        cmd: vec!["sh".into()],
        read_only: true,
        resources: Resources {
            memory: Some(64 << 20),
            nano_cpus: Some(1_500_000_000),
            pids_limit: Some(20),
            ..Default::default()
        },
        ulimits: vec![Ulimit {
            kind: "RLIMIT_NOFILE".into(),
            soft: 100,
            hard: 200,
        }],
        mounts: vec![MountSpec::parse_volume("/h:/etc/hosts:ro").unwrap()],
        ..Default::default()
    };
    let image = RunConfig::default();
    let user = ResolvedUser {
        uid: 5,
        gid: 6,
        additional_gids: vec![7],
        home: "/home/u".into(),
    };
    let e = etc();
    let caps = capabilities(&o, &[]);
    let hm = vec![HostMount {
        target: "/etc/hosts".into(),
        source: "/h".into(),
        kind: o.mounts[0].kind.clone(),
        read_only: true,
        options: vec![],
    }];
    let s = build(&inputs_for(&o, &image, &user, &e, &caps, &hm)).unwrap();
    let spec: oci_spec::runtime::Spec =
        serde_json::from_value(s.clone()).expect("a valid OCI spec");
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    assert_eq!(s["root"]["readonly"], true);
    assert_eq!(s["process"]["user"]["uid"], 5);
    assert_eq!(s["process"]["user"]["additionalGids"][0], 7);
    assert_eq!(s["process"]["cwd"], "/");
    assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(s["linux"]["resources"]["memory"]["swap"], 128 << 20);
    assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 150_000);
    assert_eq!(s["linux"]["resources"]["pids"]["limit"], 20);
    assert_eq!(s["process"]["rlimits"][0]["soft"], 100);
    assert!(s["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "/proc/kcore"));
    let ns: Vec<&str> = s["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"network") && ns.contains(&"pid"));
    // The user's /etc/hosts replaces the engine's, once.
    let hosts: Vec<&Value> = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/etc/hosts")
        .collect();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["source"], "/h");
    assert!(hosts[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "ro"));
}

#[test]
fn relative_workdir_is_refused() {
    let o = ContainerOptions {
        cmd: vec!["sh".into()],
        workdir: Some("rel".into()),
        ..Default::default()
    };
    let (image, user, e) = (RunConfig::default(), ResolvedUser::default(), etc());
    let caps = capabilities(&o, &[]);
    assert!(build(&inputs_for(&o, &image, &user, &e, &caps, &[])).is_err());
}

#[test]
fn cgroup_namespace_follows_cgroupns() {
    let image = RunConfig::default();
    let user = root();
    let e = etc();
    let has_cgroupns = |mode: Option<CgroupnsMode>| {
        let o = ContainerOptions {
            cmd: vec!["true".into()],
            cgroupns: mode,
            ..Default::default()
        };
        let caps = capabilities(&o, &[]);
        let s = build(&inputs_for(&o, &image, &user, &e, &caps, &[])).unwrap();
        s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "cgroup")
    };
    assert!(has_cgroupns(Some(CgroupnsMode::Private)));
    assert!(!has_cgroupns(Some(CgroupnsMode::Host)));
    // A record from before the flag: its container had its own.
    assert!(has_cgroupns(None));
}

#[test]
fn pid_namespace_follows_pid_mode() {
    let image = RunConfig::default();
    let user = root();
    let e = etc();
    let o = ContainerOptions {
        cmd: vec!["true".into()],
        ..Default::default()
    };
    let caps = capabilities(&o, &[]);
    let pid_ns = |ns: &PidNs| {
        let mut i = inputs_for(&o, &image, &user, &e, &caps, &[]);
        i.pidns = ns;
        let s = build(&i).unwrap();
        s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "pid")
            .cloned()
    };
    assert_eq!(
        pid_ns(&PidNs::New),
        Some(serde_json::json!({"type": "pid"}))
    );
    assert_eq!(pid_ns(&PidNs::Host), None);
    assert_eq!(
        pid_ns(&PidNs::Path("/proc/7/ns/pid".into())),
        Some(serde_json::json!({"type": "pid", "path": "/proc/7/ns/pid"}))
    );
}

#[test]
fn uts_host_sets_no_names_and_no_namespace() {
    let image = RunConfig::default();
    let user = root();
    let e = etc();
    let o = ContainerOptions {
        cmd: vec!["true".into()],
        uts_host: true,
        ..Default::default()
    };
    let caps = capabilities(&o, &[]);
    let s = build(&inputs_for(&o, &image, &user, &e, &caps, &[])).unwrap();
    assert!(s.get("hostname").is_none() && s.get("domainname").is_none());
    assert!(!s["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "uts"));
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    assert_eq!(hostname("0123456789abcdef", &o), host);
}

#[test]
fn ipc_mode_sets_namespace_and_dev_shm() {
    let image = RunConfig::default();
    let user = root();
    let e = etc();
    let view = |ipc: IpcMode| {
        let o = ContainerOptions {
            cmd: vec!["true".into()],
            ipc,
            shm_size: Some(1 << 20),
            ..Default::default()
        };
        let caps = capabilities(&o, &[]);
        let s = build(&inputs_for(&o, &image, &user, &e, &caps, &[])).unwrap();
        let own_ns = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "ipc");
        let shm = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .map(|m| (m["type"].clone(), m["source"].clone()));
        (own_ns, shm)
    };
    use serde_json::json;
    assert_eq!(
        view(IpcMode::Private),
        (true, Some((json!("tmpfs"), json!("shm"))))
    );
    assert_eq!(view(IpcMode::None), (true, None));
    assert_eq!(
        view(IpcMode::Host),
        (false, Some((json!("bind"), json!("/dev/shm"))))
    );
}

/// Root, as an image without /etc/passwd resolves it.
fn root() -> ResolvedUser {
    ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: vec![],
        home: "/root".into(),
    }
}
