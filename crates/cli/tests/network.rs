//! Container networking end to end: published ports reached from the host
//! and from other containers, user networks with names and isolation,
//! `--network none/host/container:`, and nothing left behind by killed or
//! removed containers. Every berth command runs in a network namespace of
//! the test binary's own (see `support`), which plays the host.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use support::{privileged, Berth};

/// A host port for this test process: tests of one binary run in parallel
/// in one namespace, so each takes its own.
fn host_port(n: u16) -> u16 {
    20000 + (std::process::id() % 2000) as u16 * 10 + n
}

/// `httpd` serving `body` at `/`.
fn web_cmd(body: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www"),
    ]
}

/// GET / from the "host", retried while the server starts.
fn http_get(b: &Berth, addr: Ipv4Addr, port: u16) -> String {
    b.on_host(|| {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let r = (|| -> std::io::Result<String> {
                let mut s = TcpStream::connect_timeout(
                    &SocketAddrV4::new(addr, port).into(),
                    Duration::from_secs(2),
                )?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            })();
            match r {
                Ok(body) if !body.is_empty() => return body,
                _ if Instant::now() > end => panic!("no answer on {addr}:{port}: {r:?}"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    })
}

/// `wget URL` in a container on `network`, bounded by timeout(1) (this
/// busybox's wget crashes on its own -T).
fn wget_from(b: &Berth, network: &str, url: &str, secs: u32) -> std::process::Output {
    b.run(&[
        "run",
        "--rm",
        "--network",
        network,
        b.image(),
        "timeout",
        &secs.to_string(),
        "wget",
        "-q",
        "-O",
        "-",
        url,
    ])
}

fn run_d(b: &Berth, name: &str, flags: &[&str], cmd: &[String]) -> String {
    let mut args: Vec<&str> = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.push(b.image());
    args.extend(cmd.iter().map(String::as_str));
    b.ok(&args).trim().to_owned()
}

fn inspect(b: &Berth, name: &str) -> serde_json::Value {
    let out = b.ok(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
    v[0].clone()
}

#[test]
fn published_ports_answer_from_host_and_other_containers() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let (one, two) = (b.name("web-one"), b.name("web-two"));
    let (p1, p2) = (host_port(1), host_port(2));
    run_d(&b, &one, &["-p", &format!("{p1}:80")], &web_cmd("first"));
    run_d(
        &b,
        &two,
        &["-p", &format!("127.0.0.1:{p2}:80/tcp")],
        &web_cmd("second"),
    );

    // Two servers on port 80, told apart by their host ports.
    assert!(http_get(&b, Ipv4Addr::LOCALHOST, p1).contains("first"));
    assert!(http_get(&b, Ipv4Addr::LOCALHOST, p2).contains("second"));
    // On every local address for the first (here: the bridge's).
    let gw: Ipv4Addr = inspect(&b, &one)["NetworkSettings"]["Gateway"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .expect("gateway");
    assert!(http_get(&b, gw, p1).contains("first"));

    // From another container, through the host's published port.
    let o = wget_from(&b, "bridge", &format!("http://{gw}:{p1}/"), 10);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("first"),
        "wget from a container: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // What ps, port and inspect show.
    let ps = b.ok(&[
        "ps",
        "--filter",
        &format!("name={one}"),
        "--format",
        "{{.Ports}}",
    ]);
    assert_eq!(ps.trim(), format!("0.0.0.0:{p1}->80/tcp"));
    assert_eq!(
        b.ok(&["port", &two]).trim(),
        format!("80/tcp -> 127.0.0.1:{p2}")
    );
    assert_eq!(b.ok(&["port", &one, "80"]).trim(), format!("0.0.0.0:{p1}"));
    let v = inspect(&b, &one);
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        p1.to_string()
    );
    assert_eq!(
        v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        p1.to_string()
    );
    assert!(v["NetworkSettings"]["IPAddress"]
        .as_str()
        .is_some_and(|a| a.starts_with("10.213.")));
}

#[test]
fn a_taken_host_port_is_refused_before_the_container_starts() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let (first, second) = (b.name("port-holder"), b.name("port-taker"));
    let p = host_port(3);
    run_d(&b, &first, &["-p", &format!("{p}:80")], &web_cmd("holder"));
    let o = b.run(&[
        "run",
        "-d",
        "--name",
        &second,
        "-p",
        &format!("{p}:80"),
        b.image(),
        "sleep",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{p}")) && err.contains("already in use"),
        "{err}"
    );
    let st = b.ok(&["inspect", "--format", "{{.State.Status}}", &second]);
    assert_eq!(st.trim(), "created");
    // The holder still serves.
    assert!(http_get(&b, Ipv4Addr::LOCALHOST, p).contains("holder"));
}

#[test]
fn network_modes_none_host_and_container() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let links = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        b.image(),
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");

    // host: the namespace the command runs in (the tests' "host").
    let host_ns = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(&b.f.netns).expect("stat the tests' netns"),
    );
    let inside = b.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        b.image(),
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(inside.trim(), format!("net:[{host_ns}]"));

    // container:NAME shares the other's interfaces and address.
    let peer = b.name("netpeer");
    run_d(&b, &peer, &[], &["sleep".into(), "60".into()]);
    let ip = inspect(&b, &peer)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!ip.is_empty());
    let seen = b.ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{peer}"),
        b.image(),
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(seen.contains(&format!("{ip}/")), "{seen}");

    // Flags that make no sense with a mode are refused, as Docker does.
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "80",
        b.image(),
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("conflicting options"));
    let o = b.run(&["run", "--rm", "--ip", "10.213.9.9", b.image(), "true"]);
    assert_eq!(o.status.code(), Some(125));
    let o = b.run(&["run", "--rm", "--network", "no-such-net", b.image(), "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-net"));
}

#[test]
fn dns_and_hosts_flags_reach_the_container_files() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "example.test",
        "--add-host",
        "db.internal:192.0.2.7",
        "--add-host",
        "gw:host-gateway",
        "-h",
        "named-host",
        b.image(),
        "sh",
        "-c",
        "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname",
    ]);
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert!(parts[0].contains("nameserver 192.0.2.53"), "{out}");
    assert!(parts[0].contains("search example.test"), "{out}");
    assert!(parts[1].contains("192.0.2.7\tdb.internal"), "{out}");
    assert!(parts[1].contains("10.213.0.1\tgw"), "{out}");
    assert!(parts[1].contains("\tnamed-host"), "{out}");
    assert_eq!(parts[2].trim(), "named-host");
}

/// berth's nftables table as `nft` prints it.
fn rules(b: &Berth) -> String {
    b.host_cmd("nft", &["list", "table", "ip", "berth"])
}

fn veths(b: &Berth) -> usize {
    b.host_cmd("ip", &["-o", "link", "show", "type", "veth"])
        .lines()
        .count()
}

#[test]
fn a_killed_container_gives_back_its_address_port_and_rules() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("killed-net");
    let p = host_port(4);
    let id = run_d(&b, &name, &["-p", &format!("{p}:80")], &web_cmd("x"));
    let st = b.state_json(&id);
    let sup = st["supervisor_pid"].as_i64().expect("supervisor pid") as i32;
    let pid = st["pid"].as_i64().expect("pid") as i32;
    // SAFETY: plain kill(2) of processes this test started.
    unsafe {
        libc::kill(sup, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    let end = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The next command that looks finds it dead and cleans up after it.
    let status = b.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(status.trim(), "exited");
    assert!(!b.f.run_root.join("netns").join(&id).exists());
    let net = b.ok(&["network", "inspect", "bridge"]);
    assert!(!net.contains(&id), "still attached: {net}");
    // Its port is free again.
    let again = b.name("port-reuse");
    run_d(&b, &again, &["-p", &format!("{p}:80")], &web_cmd("again"));
    assert!(http_get(&b, Ipv4Addr::LOCALHOST, p).contains("again"));
}

#[test]
fn a_hundred_containers_leave_no_veth_rule_or_address_behind() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    // Warm up: the default bridge and its base rules stay, as docker0 does.
    b.ok(&["run", "--rm", b.image(), "true"]);
    let base = host_port(5) + 1000;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let b = Berth::new();
                for i in 0..25 {
                    let p = base + t * 25 + i;
                    b.ok(&["run", "--rm", "-p", &format!("{p}:80"), b.image(), "true"]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("runner thread");
    }
    // No rule for any of their ports is left.
    let table = rules(&b);
    for p in base..base + 100 {
        assert!(
            !table.contains(&format!("dport {p} ")),
            "rule for {p} left:\n{table}"
        );
    }
    // Whatever is still attached belongs to containers that exist.
    let net = b.ok(&["network", "inspect", "bridge"]);
    let v: serde_json::Value = serde_json::from_str(&net).expect("json");
    let ids: Vec<String> = v[0]["Containers"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for id in &ids {
        assert!(b.container_dir(id).exists(), "{id} attached but gone");
    }
    // One veth per attached container (of the tests running alongside);
    // namespaces of exited containers are freed by the kernel a moment later.
    let attached = |b: &Berth| {
        let v: serde_json::Value =
            serde_json::from_str(&b.ok(&["network", "inspect", "bridge"])).expect("json");
        v[0]["Containers"].as_object().map_or(0, |m| m.len())
    };
    let end = Instant::now() + Duration::from_secs(10);
    let (mut v, mut a) = (veths(&b), attached(&b));
    while v > a && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        (v, a) = (veths(&b), attached(&b));
    }
    assert!(v <= a, "{v} veths, {a} attached");
    let leftovers: Vec<String> = std::fs::read_dir(b.f.run_root.join("netns"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|id| !b.container_dir(id).exists())
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "netns left: {leftovers:?}");
}

/// User networks made by a test, removed when it ends (after its
/// containers: declare it before the `Berth`).
struct Networks<'a>(&'a Berth, Vec<String>);

impl Drop for Networks<'_> {
    fn drop(&mut self) {
        for n in &self.1 {
            let _ = self.0.run(&["network", "rm", n]);
        }
    }
}

#[test]
fn user_networks_resolve_names_and_are_isolated_from_each_other() {
    if !privileged() {
        return;
    }
    let owner = Berth::new();
    let (n1, n2) = (owner.name("front"), owner.name("back"));
    let _nets = Networks(&owner, vec![n1.clone(), n2.clone()]);
    owner.ok(&["network", "create", &n1]);
    owner.ok(&["network", "create", "--internal", &n2]);
    let b = Berth::new();
    let web = b.name("named-web");
    run_d(
        &b,
        &web,
        &["--network", &n1, "--network-alias", "shop"],
        &web_cmd("by-name"),
    );
    let ip = inspect(&b, &web)["NetworkSettings"]["Networks"][&n1]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!ip.is_empty());

    // On the same network: by name and by alias, through the embedded DNS.
    for host in [web.as_str(), "shop"] {
        let o = wget_from(&b, &n1, &format!("http://{host}/"), 10);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("by-name"),
            "{host} on {n1}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // From another network: neither the name nor the address.
    let o = b.run(&["run", "--rm", "--network", &n2, b.image(), "nslookup", &web]);
    assert!(!o.status.success(), "{web} resolved from {n2}");
    let o = wget_from(&b, &n2, &format!("http://{ip}/"), 3);
    assert!(!o.status.success(), "{ip} reached from {n2}");

    // connect puts a running container on the network, names and all.
    let probe = b.name("probe");
    run_d(
        &b,
        &probe,
        &["--network", &n2],
        &["sleep".into(), "60".into()],
    );
    b.ok(&["network", "connect", &n1, &probe]);
    let v = inspect(&b, &probe);
    assert!(v["NetworkSettings"]["Networks"][&n1]["IPAddress"]
        .as_str()
        .is_some_and(|a| !a.is_empty()));
    // A network in use cannot be removed.
    let o = b.run(&["network", "rm", &n1]);
    assert!(!o.status.success());
    b.ok(&["network", "disconnect", &n1, &probe]);
    let v = inspect(&b, &probe);
    assert!(v["NetworkSettings"]["Networks"].get(&n1).is_none());
}

#[test]
fn a_start_after_a_crash_mid_start_reclaims_what_it_left() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("crash-mid-start");
    let p = host_port(6);
    let id = run_d(&b, &name, &["-p", &format!("{p}:80")], &web_cmd("first"));
    // A supervisor killed after it attached the container but before it
    // recorded the start (the state still says created), and the
    // container gone with it: the netns and the attachment stay behind.
    // The container's lock keeps the other tests' commands (whose `ps`
    // and `network` would clean up after it) out until the scene is set.
    let lock = std::fs::File::open(b.container_dir(&id).join("lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let mut st = b.state_json(&id);
    for key in ["supervisor_pid", "pid"] {
        let pid = st[key].as_i64().expect("pid") as i32;
        // SAFETY: kill(2) of processes this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    st["status"] = "created".into();
    let state = b.container_dir(&id).join("state.json");
    std::fs::write(&state, serde_json::to_vec(&st).expect("json")).expect("write state");
    assert!(b.f.run_root.join("netns").join(&id).exists());
    drop(lock);
    // start (not ps first) takes the old attachment and port back.
    b.ok(&["start", &name]);
    assert!(http_get(&b, Ipv4Addr::LOCALHOST, p).contains("first"));
    assert_eq!(
        b.ok(&["port", &name]).trim(),
        format!("80/tcp -> 0.0.0.0:{p}")
    );
}
