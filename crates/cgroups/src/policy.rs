//! Which file gets which value for a given `LinuxResources`: plain code, no I/O except through
//! [`Probe`], so every conversion is covered by table tests.
//!
//! The conversions follow runc (`libcontainer/cgroups/fs`, `fs2`) and crun
//! (`src/libcrun/cgroup-resources.c`).

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use crate::devices::{self, DeviceRule};
use crate::{Error, Layout};

/// Where a write goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The v1 hierarchy that carries this controller.
    V1(&'static str),
    /// The cgroup2 directory (pure v2, or the v2 side of a hybrid host).
    V2,
}

/// One write of one value into one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub target: Target,
    pub file: String,
    pub value: String,
    /// Skip silently when the file does not exist (e.g. swap accounting is off).
    pub if_exists: bool,
}

/// Everything `set` will do, computed before the first side effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// v2 only: rules for the eBPF device filter.
    pub device_filter: Option<Vec<DeviceRule>>,
    /// v2 controllers the writes need enabled in the parents' `cgroup.subtree_control`.
    pub v2_controllers: Vec<String>,
}

/// What the planner may ask about the host.
pub trait Probe {
    /// Is the target's hierarchy part of this cgroup?
    fn has(&self, t: Target) -> bool;
    /// Does this file exist in the cgroup's directory for `t`?
    fn exists(&self, t: Target, file: &str) -> bool;
    /// Current content of a file, if readable.
    fn read(&self, t: Target, file: &str) -> Option<String>;
}

/// Computes the plan for `r` on `layout`, or the first reason it cannot be applied.
pub fn plan(layout: Layout, r: &LinuxResources, p: &dyn Probe) -> Result<Plan, Error> {
    let mut b = Builder {
        layout,
        p,
        plan: Plan::default(),
    };
    if let Some(rdma) = r.rdma() {
        if !rdma.is_empty() {
            return Err(Error::unsupported(
                "rdma",
                layout,
                "berth does not manage the rdma controller; remove linux.resources.rdma",
            ));
        }
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(Error::unsupported(
                "network",
                layout,
                "net_cls/net_prio are not managed; use network namespaces and tc instead",
            ));
        }
    }
    let v2 = layout == Layout::Unified;
    if let Some(m) = r.memory() {
        if v2 {
            b.memory_v2(m)?
        } else {
            b.memory_v1(m)?
        }
    }
    if let Some(c) = r.cpu() {
        if v2 {
            b.cpu_v2(c)?
        } else {
            b.cpu_v1(c)?
        }
    }
    if let Some(pids) = r.pids() {
        let v = if pids.limit() > 0 {
            pids.limit().to_string()
        } else {
            "max".to_string()
        };
        let t = if v2 { Target::V2 } else { Target::V1("pids") };
        b.push("pids.limit", t, "pids.max", v)?;
    }
    if let Some(io) = r.block_io() {
        if v2 {
            b.io_v2(io)?
        } else {
            b.blkio_v1(io)?
        }
    }
    if let Some(h) = r.hugepage_limits() {
        b.hugetlb(h)?;
    }
    if let Some(d) = r.devices() {
        let rules = devices::rules(d)?;
        if v2 {
            b.plan.device_filter = Some(rules);
        } else {
            for rule in rules {
                let file = if rule.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                b.push("devices", Target::V1("devices"), file, rule.v1_line())?;
            }
        }
    }
    if let Some(u) = r.unified() {
        b.unified(u)?;
    }
    let mut ctls: Vec<String> = Vec::new();
    for w in &b.plan.writes {
        if w.target != Target::V2 {
            continue;
        }
        if let Some((c, _)) = w.file.split_once('.') {
            if c != "cgroup" && !ctls.iter().any(|x| x == c) {
                ctls.push(c.to_string());
            }
        }
    }
    b.plan.v2_controllers = ctls;
    Ok(b.plan)
}

struct Builder<'a> {
    layout: Layout,
    p: &'a dyn Probe,
    plan: Plan,
}

/// cgroup v1/v2 "number or unlimited" fields: 0 means unset, -1 unlimited.
fn limit_field(field: &str, v: Option<i64>) -> Result<Option<i64>, Error> {
    match v {
        None | Some(0) => Ok(None),
        Some(n) if n > 0 || n == -1 => Ok(Some(n)),
        Some(n) => Err(Error::invalid(
            field,
            n,
            "must be positive, or -1 for unlimited",
        )),
    }
}

fn v2_num(n: i64) -> String {
    if n < 0 {
        "max".to_string()
    } else {
        n.to_string()
    }
}

/// cpu.shares (2..=262144, default 1024) to cpu.weight (1..=10000, default 100).
///
/// The quadratic in log space used by runc >= 1.3.2 and crun >= 1.23: it maps the defaults onto
/// each other (1024 -> 100) and the ends of the ranges onto each other.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    // Exact for every u64 below 2^53, and shares is below 2^18 here.
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// blkio.weight (10..=1000) to io.weight (1..=10000), linearly, as runc does.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// memory.swap.max from the spec's swap (memory+swap) and limit, as runc's
/// `ConvertMemorySwapToCgroupV2Value`. `None` means leave the file alone.
pub fn swap_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>, Error> {
    let swap = swap.unwrap_or(0);
    let limit = limit.unwrap_or(0);
    if limit == -1 && swap == 0 {
        return Ok(Some("max".to_string()));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some("max".to_string())),
        s if s < -1 => return Err(Error::invalid("memory.swap", s, "must be positive or -1")),
        _ => {}
    }
    if limit == 0 || limit == -1 {
        return Err(Error::invalid(
            "memory.swap",
            swap,
            "a swap limit needs a memory limit (memory.limit) on cgroup v2",
        ));
    }
    if swap < limit {
        return Err(Error::invalid(
            "memory.swap",
            swap,
            format!("memory+swap must be >= memory.limit ({limit})"),
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

fn dev(d: &LinuxThrottleDevice, field: &str) -> Result<String, Error> {
    dev_num(d.major(), d.minor(), field)
}

fn dev_num(major: i64, minor: i64, field: &str) -> Result<String, Error> {
    if major < 0 || minor < 0 || major > i64::from(u32::MAX) || minor > i64::from(u32::MAX) {
        return Err(Error::invalid(
            field,
            format!("{major}:{minor}"),
            "device numbers must be non-negative",
        ));
    }
    Ok(format!("{major}:{minor}"))
}

/// The shares to write, if any. An idle group (cpu.idle = 1) has the minimum weight and the
/// kernel refuses weight/shares writes for it (EINVAL), so they are left out.
fn weighted_shares(c: &LinuxCpu) -> Option<u64> {
    let s = c.shares().filter(|s| *s != 0)?;
    if c.idle() == Some(1) {
        tracing::debug!(shares = s, "cpu.idle=1: not writing shares/weight");
        return None;
    }
    Some(s)
}

/// `2MB`, `64KB`, `1GB`: what the kernel uses in hugetlb file names.
fn check_page_size(s: &str) -> Result<(), Error> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB")
    {
        return Err(Error::invalid(
            "hugepageLimits.pageSize",
            s,
            "expected a size like 2MB, 64KB or 1GB",
        ));
    }
    Ok(())
}

impl Builder<'_> {
    fn push(&mut self, field: &str, t: Target, file: &str, value: String) -> Result<(), Error> {
        self.push_opt(field, t, file, value, false)
    }

    fn push_opt(
        &mut self,
        field: &str,
        t: Target,
        file: &str,
        value: String,
        if_exists: bool,
    ) -> Result<(), Error> {
        if !self.p.has(t) {
            let what = match t {
                Target::V1(c) => format!("the {c} controller is not mounted"),
                Target::V2 => "there is no cgroup2 hierarchy".to_string(),
            };
            return Err(Error::unsupported(field, self.layout, what));
        }
        self.plan.writes.push(Write {
            target: t,
            file: file.to_string(),
            value,
            if_exists,
        });
        Ok(())
    }

    /// Like push, but the file must exist (a kernel feature that may be compiled out).
    fn push_feature(&mut self, field: &str, t: Target, file: &str, v: String) -> Result<(), Error> {
        if self.p.has(t) && !self.p.exists(t, file) {
            return Err(Error::unsupported(
                field,
                self.layout,
                format!("this kernel has no {file}"),
            ));
        }
        self.push(field, t, file, v)
    }

    fn memory_v1(&mut self, m: &LinuxMemory) -> Result<(), Error> {
        let t = Target::V1("memory");
        let limit = limit_field("memory.limit", m.limit())?;
        let mut swap = limit_field("memory.swap", m.swap())?;
        if limit == Some(-1) && swap.is_none() {
            swap = Some(-1);
        }
        if let (Some(l), Some(s)) = (limit, swap) {
            if l > 0 && s > 0 && s < l {
                return Err(Error::invalid(
                    "memory.swap",
                    s,
                    format!("memory+swap must be >= memory.limit ({l})"),
                ));
            }
        }
        let memsw = "memory.memsw.limit_in_bytes";
        let swap_ok = self.p.exists(t, memsw);
        if let Some(s) = swap {
            if !swap_ok && s != -1 {
                return Err(Error::unsupported(
                    "memory.swap",
                    self.layout,
                    "the kernel has no swap accounting (boot with swapaccount=1)",
                ));
            }
        }
        let swap = swap.filter(|_| swap_ok);
        // The kernel demands limit <= memsw at every step, so the order depends on whether the
        // new memsw grows past the current limit (runc: setMemoryAndSwap).
        let swap_first = match (limit, swap) {
            (Some(_), Some(s)) => {
                let cur: u64 = self
                    .p
                    .read(t, "memory.limit_in_bytes")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(u64::MAX);
                s == -1 || cur < s as u64
            }
            _ => false,
        };
        if swap_first {
            if let Some(s) = swap {
                self.push("memory.swap", t, memsw, s.to_string())?;
            }
        }
        if let Some(l) = limit {
            self.push("memory.limit", t, "memory.limit_in_bytes", l.to_string())?;
        }
        if !swap_first {
            if let Some(s) = swap {
                self.push("memory.swap", t, memsw, s.to_string())?;
            }
        }
        if let Some(r) = limit_field("memory.reservation", m.reservation())? {
            self.push(
                "memory.reservation",
                t,
                "memory.soft_limit_in_bytes",
                r.to_string(),
            )?;
        }
        if m.kernel().is_some() {
            tracing::warn!(
                "linux.resources.memory.kernel is ignored: kernel memory limits are deprecated"
            );
        }
        if let Some(k) = limit_field("memory.kernelTCP", m.kernel_tcp())? {
            self.push_feature(
                "memory.kernelTCP",
                t,
                "memory.kmem.tcp.limit_in_bytes",
                k.to_string(),
            )?;
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(Error::invalid("memory.swappiness", s, "must be 0..=100"));
            }
            self.push("memory.swappiness", t, "memory.swappiness", s.to_string())?;
        }
        if m.disable_oom_killer() == Some(true) {
            self.push(
                "memory.disableOOMKiller",
                t,
                "memory.oom_control",
                "1".into(),
            )?;
        }
        Ok(())
    }

    fn memory_v2(&mut self, m: &LinuxMemory) -> Result<(), Error> {
        let t = Target::V2;
        let limit = limit_field("memory.limit", m.limit())?;
        if let Some(s) = m.swappiness() {
            return Err(Error::unsupported(
                "memory.swappiness",
                self.layout,
                format!("cgroup v2 has no per-cgroup swappiness (value {s}); remove it"),
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(Error::unsupported(
                "memory.disableOOMKiller",
                self.layout,
                "cgroup v2 cannot disable the OOM killer; use memory.oom.group or a higher limit",
            ));
        }
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            tracing::warn!("linux.resources.memory.kernel/kernelTCP are ignored on cgroup v2");
        }
        if let Some(sw) = swap_v2(m.swap(), m.limit())? {
            // Without swap accounting, "max" and "0" are what we have anyway (as runc).
            let lenient = sw == "max" || sw == "0";
            self.push_opt("memory.swap", t, "memory.swap.max", sw, lenient)?;
        }
        if let Some(l) = limit {
            self.push("memory.limit", t, "memory.max", v2_num(l))?;
        }
        if let Some(r) = limit_field("memory.reservation", m.reservation())? {
            self.push("memory.reservation", t, "memory.low", v2_num(r))?;
        }
        Ok(())
    }

    fn cpuset(&mut self, c: &LinuxCpu, t: Target) -> Result<(), Error> {
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            self.push("cpu.cpus", t, "cpuset.cpus", cpus.to_string())?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            self.push("cpu.mems", t, "cpuset.mems", mems.to_string())?;
        }
        Ok(())
    }

    fn cpu_v1(&mut self, c: &LinuxCpu) -> Result<(), Error> {
        let t = Target::V1("cpu");
        if let Some(s) = weighted_shares(c) {
            self.push("cpu.shares", t, "cpu.shares", s.to_string())?;
        }
        if let Some(p) = c.period().filter(|p| *p != 0) {
            self.push("cpu.period", t, "cpu.cfs_period_us", p.to_string())?;
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            let q = if q < 0 { -1 } else { q };
            self.push("cpu.quota", t, "cpu.cfs_quota_us", q.to_string())?;
        }
        if let Some(b) = c.burst() {
            self.push_feature("cpu.burst", t, "cpu.cfs_burst_us", b.to_string())?;
        }
        if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
            self.push_feature("cpu.realtimePeriod", t, "cpu.rt_period_us", p.to_string())?;
        }
        if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
            self.push_feature("cpu.realtimeRuntime", t, "cpu.rt_runtime_us", r.to_string())?;
        }
        if let Some(i) = c.idle() {
            self.push_feature("cpu.idle", t, "cpu.idle", i.to_string())?;
        }
        self.cpuset(c, Target::V1("cpuset"))
    }

    fn cpu_v2(&mut self, c: &LinuxCpu) -> Result<(), Error> {
        let t = Target::V2;
        if c.realtime_period().is_some_and(|p| p != 0) {
            return Err(Error::unsupported(
                "cpu.realtimePeriod",
                self.layout,
                "cgroup v2 has no real-time group scheduling",
            ));
        }
        if c.realtime_runtime().is_some_and(|r| r != 0) {
            return Err(Error::unsupported(
                "cpu.realtimeRuntime",
                self.layout,
                "cgroup v2 has no real-time group scheduling",
            ));
        }
        if let Some(i) = c.idle() {
            self.push("cpu.idle", t, "cpu.idle", i.to_string())?;
        }
        if let Some(s) = weighted_shares(c) {
            self.push(
                "cpu.shares",
                t,
                "cpu.weight",
                shares_to_weight(s).to_string(),
            )?;
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            let mut v = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_string()
            };
            if period != 0 {
                v.push(' ');
                v.push_str(&period.to_string());
            }
            self.push("cpu.quota", t, "cpu.max", v)?;
        }
        if let Some(b) = c.burst() {
            self.push("cpu.burst", t, "cpu.max.burst", b.to_string())?;
        }
        self.cpuset(c, t)
    }

    fn throttles(&mut self, io: &LinuxBlockIo, v1: bool) -> Result<(), Error> {
        let lists = [
            (
                "blockIO.throttleReadBpsDevice",
                io.throttle_read_bps_device(),
                "read_bps",
                "rbps",
            ),
            (
                "blockIO.throttleWriteBpsDevice",
                io.throttle_write_bps_device(),
                "write_bps",
                "wbps",
            ),
            (
                "blockIO.throttleReadIOPSDevice",
                io.throttle_read_iops_device(),
                "read_iops",
                "riops",
            ),
            (
                "blockIO.throttleWriteIOPSDevice",
                io.throttle_write_iops_device(),
                "write_iops",
                "wiops",
            ),
        ];
        for (field, list, v1_name, v2_key) in lists {
            for d in list.iter().flatten() {
                let num = dev(d, field)?;
                if v1 {
                    let file = format!("blkio.throttle.{v1_name}_device");
                    self.push(
                        field,
                        Target::V1("blkio"),
                        &file,
                        format!("{num} {}", d.rate()),
                    )?;
                } else {
                    // 0 means "no limit" in v1; the v2 spelling of that is "max".
                    let rate = if d.rate() == 0 {
                        "max".to_string()
                    } else {
                        d.rate().to_string()
                    };
                    self.push(
                        field,
                        Target::V2,
                        "io.max",
                        format!("{num} {v2_key}={rate}"),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn blkio_v1(&mut self, io: &LinuxBlockIo) -> Result<(), Error> {
        let t = Target::V1("blkio");
        // CFQ's files, or BFQ's on kernels without CFQ (runc picks the same way).
        let (weight, weight_dev) = if self.p.exists(t, "blkio.weight") {
            ("blkio.weight", "blkio.weight_device")
        } else {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        };
        if let Some(w) = io.weight().filter(|w| *w != 0) {
            self.push_feature("blockIO.weight", t, weight, w.to_string())?;
        }
        if let Some(w) = io.leaf_weight().filter(|w| *w != 0) {
            self.push_feature("blockIO.leafWeight", t, "blkio.leaf_weight", w.to_string())?;
        }
        for d in io.weight_device().iter().flatten() {
            let num = dev_num(d.major(), d.minor(), "blockIO.weightDevice")?;
            if let Some(w) = d.weight() {
                self.push_feature("blockIO.weightDevice", t, weight_dev, format!("{num} {w}"))?;
            }
            if let Some(w) = d.leaf_weight() {
                self.push_feature(
                    "blockIO.weightDevice.leafWeight",
                    t,
                    "blkio.leaf_weight_device",
                    format!("{num} {w}"),
                )?;
            }
        }
        self.throttles(io, true)
    }

    fn io_v2(&mut self, io: &LinuxBlockIo) -> Result<(), Error> {
        let t = Target::V2;
        if io.leaf_weight().is_some_and(|w| w != 0) {
            return Err(Error::unsupported(
                "blockIO.leafWeight",
                self.layout,
                "cgroup v2 has no leaf weights",
            ));
        }
        let bfq = self.p.exists(t, "io.bfq.weight");
        if let Some(w) = io.weight().filter(|w| *w != 0) {
            if bfq {
                self.push("blockIO.weight", t, "io.bfq.weight", w.to_string())?;
            } else {
                let v = blkio_weight_to_io_weight(w);
                self.push("blockIO.weight", t, "io.weight", v.to_string())?;
            }
        }
        for d in io.weight_device().iter().flatten() {
            let num = dev_num(d.major(), d.minor(), "blockIO.weightDevice")?;
            if d.leaf_weight().is_some() {
                return Err(Error::unsupported(
                    "blockIO.weightDevice.leafWeight",
                    self.layout,
                    "cgroup v2 has no leaf weights",
                ));
            }
            if let Some(w) = d.weight() {
                if bfq {
                    self.push(
                        "blockIO.weightDevice",
                        t,
                        "io.bfq.weight",
                        format!("{num} {w}"),
                    )?;
                } else {
                    let v = blkio_weight_to_io_weight(w);
                    self.push("blockIO.weightDevice", t, "io.weight", format!("{num} {v}"))?;
                }
            }
        }
        self.throttles(io, false)
    }

    fn hugetlb(&mut self, limits: &[LinuxHugepageLimit]) -> Result<(), Error> {
        let v1 = Target::V1("hugetlb");
        // On a hybrid host hugetlb may live on the v2 side (as on the dev machine).
        let use_v1 = self.layout != Layout::Unified && self.p.has(v1);
        for h in limits {
            let ps = h.page_size();
            check_page_size(ps)?;
            let field = "hugepageLimits";
            if use_v1 {
                let file = format!("hugetlb.{ps}.limit_in_bytes");
                if !self.p.exists(v1, &file) {
                    return Err(Error::invalid(
                        "hugepageLimits.pageSize",
                        ps,
                        format!("the kernel has no {file}: page size not supported"),
                    ));
                }
                let v = h.limit().to_string();
                self.push(field, v1, &file, v.clone())?;
                let rsvd = format!("hugetlb.{ps}.rsvd.limit_in_bytes");
                self.push_opt(field, v1, &rsvd, v, true)?;
            } else {
                let v = v2_num(h.limit());
                self.push(field, Target::V2, &format!("hugetlb.{ps}.max"), v.clone())?;
                self.push_opt(
                    field,
                    Target::V2,
                    &format!("hugetlb.{ps}.rsvd.max"),
                    v,
                    true,
                )?;
            }
        }
        Ok(())
    }

    fn unified(&mut self, u: &std::collections::HashMap<String, String>) -> Result<(), Error> {
        // Sorted so the plan (and its tests) do not depend on hash order.
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            let field = format!("unified.{k}");
            let ok = !k.is_empty()
                && !k.starts_with('.')
                && k.contains('.')
                && !k.contains('/')
                && !k.contains('\0');
            if !ok {
                return Err(Error::invalid(
                    &field,
                    k,
                    "keys must be cgroup file names like memory.high",
                ));
            }
            if self.layout == Layout::Legacy {
                return Err(Error::unsupported(
                    &field,
                    self.layout,
                    "unified keys need a cgroup2 hierarchy",
                ));
            }
            let v = u.get(k).cloned().unwrap_or_default();
            self.push(&field, Target::V2, k, v)?;
        }
        Ok(())
    }
}
