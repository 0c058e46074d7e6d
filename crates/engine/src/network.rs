//! A container's network: set up before each start of its process and taken
//! down after each exit. Its network namespace, its attachments to bridge
//! networks (through `berth-net`: veth, address, published ports) and the
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` that name it.
//!
//! | `--network`     | namespace                          | /etc files              |
//! |-----------------|------------------------------------|-------------------------|
//! | `bridge`, NAME  | `<run-root>/netns/<id>`, attached  | its address, host's DNS |
//! | `none`          | a new one from the runtime (lo up) | no address              |
//! | `host`          | the host's                         | the host's              |
//! | `container:X`   | X's init's                         | X's                     |

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use berth_net::{
    create_netns, extra_hosts_lines, hosts_file, parse_add_host, parse_exposed, remove_netns,
    resolv_conf, AttachOptions, Attachment, DnsOptions, ExtraHost, GcReport, NetConfig, Networks,
    PortMapping,
};

use crate::error::{invalid, io_err, Error, Result, TeardownErrors};
use crate::options::{NetworkMode, DEFAULT_NETWORK};
use crate::record::{self, read_json, Locked, Paths, Record, State, Status};
use crate::Engine;

/// Which network namespace the container's spec names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetNs {
    /// The host's: no network namespace in the spec.
    Host,
    /// A new, empty one made by the runtime.
    New,
    /// An existing one, joined by path.
    Path(PathBuf),
}

/// What [`Engine::network_up`] set up for one start.
#[derive(Debug, Clone)]
pub struct NetUp {
    pub netns: NetNs,
    /// The container's host name (another container's with `container:X`).
    pub hostname: String,
}

impl Engine {
    /// The bridge networks, with their state beside the engine's.
    pub fn networks(&self) -> Result<Networks> {
        Ok(Networks::open(
            &self.root,
            &self.run_root,
            NetConfig::default(),
        )?)
    }

    /// Where a container's own network namespace is kept while it runs.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.run_root.join("netns").join(id)
    }

    /// Gives the container its network for one start and writes its /etc
    /// files; on failure nothing of it is left.
    pub fn network_up(&self, paths: &Paths, record: &Record) -> Result<NetUp> {
        let o = &record.options;
        let extra = extra_hosts(&o.net.extra_hosts)?;
        let dns = DnsOptions {
            servers: o.net.dns.clone(),
            search: o.net.dns_search.clone(),
            options: o.net.dns_options.clone(),
        };
        let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut hostname = crate::spec::hostname(&record.id, o);
        let (netns, hosts, resolv) = match &o.network {
            // The runtime makes the namespace with the container and sets
            // its lo up: nothing to keep or take down here.
            NetworkMode::None => (
                NetNs::New,
                hosts_file(&hostname, None, None, &extra),
                resolv_conf(&host_resolv, &dns),
            ),
            NetworkMode::Host => {
                let mut hosts = fs::read_to_string("/etc/hosts")
                    .unwrap_or_else(|_| hosts_file(&hostname, None, None, &[]));
                if !hosts.is_empty() && !hosts.ends_with('\n') {
                    hosts.push('\n');
                }
                hosts.push_str(&extra_hosts_lines(None, &extra));
                let no_dns_flags =
                    dns.servers.is_empty() && dns.search.is_empty() && dns.options.is_empty();
                let resolv = if no_dns_flags {
                    host_resolv
                } else {
                    resolv_conf(&host_resolv, &dns)
                };
                (NetNs::Host, hosts, resolv)
            }
            NetworkMode::Container(other) => {
                let (pid, other_paths) = self.running_peer(other)?;
                let read = |f: &str| {
                    let p = other_paths.dir.join(f);
                    fs::read_to_string(&p).map_err(io_err("reading", p))
                };
                hostname = read("hostname")?.trim().to_owned();
                let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
                (NetNs::Path(ns), read("hosts")?, read("resolv.conf")?)
            }
            NetworkMode::Bridge(_) => {
                let ns = self.own_netns(&record.id)?;
                let primary = match self.attach_all(record, &ns, &hostname) {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = self.network_down(&record.id);
                        return Err(e);
                    }
                };
                let mut resolv = resolv_conf(&host_resolv, &dns);
                if let Some(a) = primary.as_ref() {
                    if a.network != DEFAULT_NETWORK && dns.servers.is_empty() {
                        // The network's embedded DNS server, which forwards
                        // what it does not know to the host's resolvers.
                        resolv = embedded_dns_resolv(&resolv, a.gateway);
                    }
                }
                (
                    NetNs::Path(ns),
                    hosts_file(
                        &hostname,
                        primary.as_ref().map(|a| a.ip),
                        primary.as_ref().map(|a| a.gateway),
                        &extra,
                    ),
                    resolv,
                )
            }
        };
        let etc = crate::etc::files(paths);
        let written = fs::write(&etc.hostname, format!("{hostname}\n"))
            .map_err(io_err("writing", &etc.hostname))
            .and_then(|()| fs::write(&etc.hosts, hosts).map_err(io_err("writing", &etc.hosts)))
            .and_then(|()| {
                fs::write(&etc.resolv_conf, resolv).map_err(io_err("writing", &etc.resolv_conf))
            });
        if let Err(e) = written {
            let _ = self.network_down(&record.id);
            return Err(e);
        }
        Ok(NetUp { netns, hostname })
    }

    /// A new network namespace for the container, with `lo` up (Docker's
    /// `none` has it up too), kept at [`Engine::netns_path`].
    fn own_netns(&self, id: &str) -> Result<PathBuf> {
        let ns = self.netns_path(id);
        if let Some(dir) = ns.parent() {
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        // A crash between this container's last start and its exit left
        // the namespace and maybe attachments: the caller holds the
        // container's lock, so they are nobody's.
        if fs::symlink_metadata(&ns).is_ok() {
            self.network_down(id)?;
        }
        create_netns(&ns).map_err(|e| Error::Net(e.into()))?;
        Ok(ns)
    }

    /// Attaches the container to each of its networks, the primary one
    /// (which gets the published ports and `--ip`) first; none when it was
    /// disconnected from all.
    fn attach_all(
        &self,
        record: &Record,
        ns: &std::path::Path,
        hostname: &str,
    ) -> Result<Option<Attachment>> {
        let o = &record.options;
        if o.net.networks.is_empty() {
            return Ok(None);
        }
        let nets = self.networks()?;
        let mut primary = None;
        for (i, name) in o.net.networks.iter().enumerate() {
            let first = i == 0;
            let a = nets.attach(
                name,
                &record.id,
                ns,
                AttachOptions {
                    ip: o.net.ip.filter(|_| first),
                    ports: if first {
                        self.ports(record)?
                    } else {
                        Vec::new()
                    },
                    aliases: std::iter::once(record.name.clone())
                        .chain(o.net.aliases.iter().cloned())
                        .collect(),
                    hostname: Some(hostname.to_owned()),
                    ifname: None,
                },
            )?;
            if a.network != DEFAULT_NETWORK {
                self.ensure_dns(&a.network_id);
            }
            primary.get_or_insert(a);
        }
        Ok(primary)
    }

    /// `-p` mappings, plus with `-P` every exposed port (the image's and
    /// `--expose`) that `-p` does not map already, on a free host port.
    fn ports(&self, record: &Record) -> Result<Vec<PortMapping>> {
        let o = &record.options.net;
        let mut ports = o.publish.clone();
        if o.publish_all {
            let exposed = exposed_ports(record);
            let all = parse_exposed(exposed.iter().map(String::as_str))
                .map_err(|e| invalid("exposed port", &e.spec, e.reason))?;
            ports.extend(all.into_iter().filter(|m| {
                !o.publish
                    .iter()
                    .any(|p| p.container_port == m.container_port && p.proto == m.proto)
            }));
        }
        Ok(ports)
    }

    /// A running container whose network namespace another one joins.
    fn running_peer(&self, name: &str) -> Result<(i32, Paths)> {
        let (pid, paths, network) = self.live_peer(name, "network")?;
        if let NetworkMode::Container(_) = network {
            // Docker resolves chains too; one level is what it documents.
            return Err(invalid(
                "network",
                name,
                "that container shares another container's network itself; join that one",
            ));
        }
        Ok((pid, paths))
    }

    /// The init's pid of a running (or paused) container another one
    /// joins a namespace of (`what`, for the error), its paths, and its
    /// network mode.
    pub(crate) fn live_peer(&self, name: &str, what: &str) -> Result<(i32, Paths, NetworkMode)> {
        let id = self.resolve(name)?;
        let c = self.container(&id)?;
        if !matches!(c.state.status, Status::Running | Status::Paused)
            || !record::alive(c.state.pid, c.state.pid_start)
        {
            return Err(Error::Start(format!(
                "cannot join {what} of a non running container: {id}"
            )));
        }
        Ok((c.state.pid, self.paths(&id), c.record.options.network))
    }

    /// Takes the container off its networks and removes its namespace;
    /// doing it twice, or for a container without a network, is harmless.
    pub fn network_down(&self, id: &str) -> Result<()> {
        let ns = self.netns_path(id);
        if fs::symlink_metadata(&ns).is_err() {
            return Ok(());
        }
        let mut errs = TeardownErrors::default();
        errs.push(self.networks().and_then(|n| Ok(n.detach(id)?)));
        errs.push(remove_netns(&ns).map_err(|e| Error::Net(e.into())));
        errs.into_result()
    }

    /// The container's attachments, as set up now (empty when stopped).
    pub fn attachments(&self, id: &str) -> Vec<Attachment> {
        if fs::symlink_metadata(self.netns_path(id)).is_err() {
            return Vec::new();
        }
        self.networks()
            .and_then(|n| Ok(n.attachments(id)?))
            .unwrap_or_default()
    }

    /// `network connect`: puts the container on one more network, now if it
    /// runs, and at every later start.
    pub fn connect(
        &self,
        network: &str,
        id: &str,
        ip: Option<std::net::Ipv4Addr>,
        aliases: &[String],
    ) -> Result<()> {
        let paths = self.paths(id);
        let lock = Locked::acquire(paths.clone())?;
        let mut record: Record = read_json(&paths.record())?;
        if !record.options.network.is_bridge() {
            return Err(invalid(
                "network",
                network,
                format!(
                    "container {} uses network mode {}; only containers on bridge networks can be connected to more",
                    record.name,
                    record.options.network.name()
                ),
            ));
        }
        let net = self.networks()?.inspect(network)?.network;
        if record.options.net.networks.contains(&net.name) {
            return Err(Error::Net(berth_net::Error::AlreadyAttached {
                container: record.name,
                network: net.name,
            }));
        }
        let state: State = lock.state()?;
        let ns = self.netns_path(id);
        if matches!(state.status, Status::Running | Status::Paused) && ns.exists() {
            let mut all_aliases = record.options.net.aliases.clone();
            all_aliases.extend(aliases.iter().cloned());
            self.networks()?.attach(
                &net.name,
                id,
                &ns,
                AttachOptions {
                    ip,
                    ports: Vec::new(),
                    aliases: all_aliases,
                    hostname: Some(crate::spec::hostname(id, &record.options)),
                    ifname: None,
                },
            )?;
        }
        record.options.net.networks.push(net.name);
        record::write_json(&paths.record(), &record)
    }

    /// `network disconnect`: takes the container off a network, now and
    /// for later starts.
    pub fn disconnect(&self, network: &str, id: &str) -> Result<()> {
        let paths = self.paths(id);
        let lock = Locked::acquire(paths.clone())?;
        let mut record: Record = read_json(&paths.record())?;
        let name = self
            .networks()
            .and_then(|n| Ok(n.inspect(network)?.network.name))
            .unwrap_or_else(|_| network.to_owned());
        let Some(pos) = record.options.net.networks.iter().position(|n| *n == name) else {
            return Err(Error::Net(berth_net::Error::NotAttached {
                container: record.name,
                network: name,
            }));
        };
        let state: State = lock.state()?;
        if matches!(state.status, Status::Running | Status::Paused) {
            match self.networks()?.disconnect(&name, id) {
                Ok(()) | Err(berth_net::Error::NotAttached { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        record.options.net.networks.remove(pos);
        record::write_json(&paths.record(), &record)
    }

    /// The names of the containers configured on `network` (running or
    /// not): what keeps it from being removed.
    pub fn network_users(&self, network: &str) -> Result<Vec<String>> {
        let name = self.networks()?.inspect(network)?.network.name;
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| {
                c.record.options.net.networks.contains(&name)
                    || c.record.options.network == NetworkMode::Bridge(name.clone())
            })
            .map(|c| c.record.name)
            .collect())
    }

    /// Where the DNS server of network `id` keeps its pid.
    fn dns_pidfile(&self, network_id: &str) -> PathBuf {
        self.run_root
            .join("net")
            .join(format!("dns-{network_id}.pid"))
    }

    /// Starts the DNS server of user network `network_id` unless it runs.
    fn ensure_dns(&self, network_id: &str) {
        let running = fs::read_to_string(self.dns_pidfile(network_id))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .and_then(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok())
            .is_some_and(|cmd| {
                let cmd = String::from_utf8_lossy(&cmd);
                cmd.contains("\0dns\0") && cmd.contains(network_id)
            });
        if running {
            return;
        }
        let spawned = std::process::Command::new("/proc/self/exe")
            .arg("--root")
            .arg(&self.root)
            .arg("--run-root")
            .arg(&self.run_root)
            .arg("dns")
            .arg(network_id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Err(e) = spawned {
            tracing::warn!(network = network_id, error = %e, "starting the network's DNS server");
        }
    }

    /// Entry point of `berth dns NETWORK`: detaches (the starter waits only
    /// for that) and serves the network's names until it is idle.
    pub fn dns_main(&self, network_id: &str) -> i32 {
        // SAFETY: called first thing in a freshly executed, single-threaded
        // process; the child only continues the program.
        match unsafe { libc::fork() } {
            -1 => return 1,
            0 => {}
            _ => return 0,
        }
        // SAFETY: setsid has no memory-safety preconditions; closing every
        // fd from 3 up drops what the starter (a supervisor) let us inherit,
        // such as its status pipe, and nothing of ours is open yet.
        unsafe {
            libc::setsid();
            libc::close_range(3, u32::MAX, 0);
        }
        let pidfile = self.dns_pidfile(network_id);
        let _ = fs::write(&pidfile, std::process::id().to_string());
        let served = self
            .networks()
            .and_then(|n| Ok(n.serve_dns(network_id, std::time::Duration::from_secs(3))?));
        if fs::read_to_string(&pidfile).ok().as_deref() == Some(&std::process::id().to_string()) {
            let _ = fs::remove_file(&pidfile);
        }
        i32::from(served.is_err())
    }

    /// Docker's `ps` PORTS column: the published ports
    /// (`0.0.0.0:8080->80/tcp`), then exposed ones not published (`443/tcp`);
    /// empty unless the container runs.
    pub fn ports_column(&self, c: &crate::lifecycle::Container) -> String {
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return String::new();
        }
        let live = self.attachments(&c.record.id);
        let published: Vec<_> = live.iter().flat_map(|a| &a.ports).collect();
        let mut out: Vec<String> = published.iter().map(|p| p.to_string()).collect();
        if c.record.options.network.is_bridge() {
            for key in exposed_ports(&c.record) {
                let taken = published
                    .iter()
                    .any(|p| format!("{}/{}", p.container_port, p.proto) == key);
                if !taken {
                    out.push(key);
                }
            }
        }
        out.join(", ")
    }

    /// Reclaims what crashed containers left on the networks (addresses,
    /// ports, rules, links) and their namespaces.
    pub fn gc_networks(&self) -> Result<GcReport> {
        let networks = self.networks()?;
        let report = networks.gc(|id| self.holds_network(id))?;
        let dir = self.run_root.join("netns");
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            // A container that ended after the gc above looked at it still
            // has its endpoints on record, and its own network_down takes
            // them down only if it finds this file: removed here, its port
            // rules and addresses would stay behind. The next gc reclaims
            // them if nobody does.
            // (A state that cannot be read counts as attached: the file stays.)
            let attached = !networks.attachments(&id).is_ok_and(|a| a.is_empty());
            if !attached && !self.holds_network(&id) {
                let _ = remove_netns(&e.path());
            }
        }
        Ok(report)
    }

    /// Whether the container may still use what it has on the networks:
    /// it runs, or another command holds its records (starting it), or a
    /// live process holds a [`NetLease`] on the id (a build step).
    fn holds_network(&self, id: &str) -> bool {
        if self.lease_held(id) {
            return true;
        }
        let paths = self.paths(id);
        if !paths.record().exists() {
            return false;
        }
        match Locked::try_acquire(paths.clone()) {
            Ok(None) => return true,
            Ok(Some(_)) => {}
            Err(_) => return false,
        }
        record::read_state(&paths.state()).map_or(true, |s| s.is_live())
    }
}

/// The network of a process that has no container record, such as a
/// `berth build` RUN step: its own namespace at [`Engine::netns_path`],
/// attached to one network (or none: `lo` only), and a lease that keeps
/// [`Engine::gc_networks`] off it while it lives.
///
/// The lease is an exclusive `flock` on `<run-root>/net-leases/<id>`, taken
/// before the namespace exists and released (the file removed) after it is
/// gone; `gc` treats an id whose lease file is locked as alive, and one whose
/// file is not locked (its holder died) as dead, like a crashed container.
/// The kernel drops the lock with the holder, so a `kill -9` never leaves
/// a lease that protects anything. [`TransientNet::down`] (or dropping it)
/// detaches and removes the namespace.
#[derive(Debug)]
pub struct TransientNet {
    engine: Engine,
    id: String,
    /// The namespace to name in the OCI spec.
    pub netns: PathBuf,
    /// The attachment, when on a network.
    pub attachment: Option<Attachment>,
    lease: Option<fs::File>,
}

impl Engine {
    fn lease_path(&self, id: &str) -> PathBuf {
        self.run_root.join("net-leases").join(id)
    }

    /// Whether a live process holds the lease on `id`; a stale lease
    /// file (its holder died) is removed.
    fn lease_held(&self, id: &str) -> bool {
        let p = self.lease_path(id);
        let Ok(f) = fs::OpenOptions::new().write(true).open(&p) else {
            return false;
        };
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let _ = fs::remove_file(&p);
                false
            }
            Err(_) => true,
        }
    }

    /// A network namespace for `id` (a process the engine keeps no record
    /// of), attached to `network` (`None`: only `lo`), held by a lease
    /// until [`TransientNet::down`]. On failure nothing of it is left.
    pub fn transient_network(
        &self,
        id: &str,
        network: Option<&str>,
        hostname: &str,
    ) -> Result<TransientNet> {
        let p = self.lease_path(id);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        let f = take_lease(&p)?;
        let mut net = TransientNet {
            engine: self.clone(),
            id: id.to_owned(),
            netns: self.netns_path(id),
            attachment: None,
            lease: Some(f),
        };
        net.netns = self.own_netns(id)?;
        if let Some(name) = network {
            net.attachment = Some(self.networks()?.attach(
                name,
                id,
                &net.netns,
                AttachOptions {
                    hostname: Some(hostname.to_owned()),
                    ..Default::default()
                },
            )?);
        }
        Ok(net)
    }
}

impl TransientNet {
    /// Detaches, removes the namespace, then releases the lease; keeps
    /// going on errors and reports them all.
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        let Some(lease) = self.lease.take() else {
            return Ok(());
        };
        let result = self.engine.network_down(&self.id);
        let _ = fs::remove_file(self.engine.lease_path(&self.id));
        drop(lease);
        result
    }
}

impl Drop for TransientNet {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// Opens and locks the lease file at `p`. A `gc` that found it unlocked
/// in between may have removed it: then the lock is on a file nobody
/// sees, and the lease is taken again on a new one.
fn take_lease(p: &std::path::Path) -> Result<fs::File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p)
            .map_err(io_err("opening", p))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err("locking", p)(e.into()))?;
        let held = f.metadata().map_err(io_err("reading", p))?;
        match fs::metadata(p) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(f),
            _ => continue,
        }
    }
}

/// A resolv.conf naming only `server`, with the search domains and
/// options of `resolv`.
fn embedded_dns_resolv(resolv: &str, server: std::net::Ipv4Addr) -> String {
    let mut out = format!("nameserver {server}\n");
    for l in resolv.lines() {
        if !l.trim_start().starts_with("nameserver") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The image's exposed ports and `--expose`, as `port/proto` keys.
pub fn exposed_ports(record: &Record) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = record
        .config
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.extend(record.options.net.expose.iter().map(|e| {
        if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        }
    }));
    keys
}

fn extra_hosts(specs: &[String]) -> Result<Vec<ExtraHost>> {
    specs
        .iter()
        .map(|h| parse_add_host(h).map_err(|e| invalid("add-host", h, e.reason)))
        .collect()
}
