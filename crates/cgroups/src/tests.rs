//! Unit tests against fake cgroupfs trees: no privileges needed.

use std::path::{Path, PathBuf};

use crate::policy::{self, Probe, Target, Write};
use crate::testing::{res, FakeHost};
use crate::{Cgroup, Error, Layout};

/// (resources JSON, extra files to touch, expected (hierarchy, file, value)).
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, &'a str, &'a str)],
);

/// Applies `json` on a fresh cgroup of `layout` after touching the expected files and
/// `extra` ones, then checks every expected file's final content.
fn check(layout: Layout, json: &str, extra: &[(&str, &str)], want: &[(&str, &str, &str)]) {
    let host = FakeHost::new(layout);
    let mut files: Vec<(&str, &str)> = want.iter().map(|(h, f, _)| (*h, *f)).collect();
    files.extend_from_slice(extra);
    let cg = host.cgroup("/berth/c1", &files);
    cg.set(&res(json))
        .unwrap_or_else(|e| panic!("set {json} on {layout:?}: {e}"));
    for (h, f, v) in want {
        assert_eq!(host.read(&cg, h, f), *v, "{layout:?} {json}: {h}/{f}");
    }
}

#[test]
fn v1_resources_table() {
    let hy = Layout::Hybrid;
    let cases: &[Case] = &[
        (
            r#"{"memory":{"limit":104857600,"swap":209715200,"reservation":52428800,"swappiness":10,"disableOOMKiller":true,"kernel":1}}"#,
            &[],
            &[
                ("memory", "memory.limit_in_bytes", "104857600"),
                ("memory", "memory.memsw.limit_in_bytes", "209715200"),
                ("memory", "memory.soft_limit_in_bytes", "52428800"),
                ("memory", "memory.swappiness", "10"),
                ("memory", "memory.oom_control", "1"),
            ],
        ),
        (
            r#"{"memory":{"limit":-1}}"#,
            &[],
            &[
                ("memory", "memory.limit_in_bytes", "-1"),
                ("memory", "memory.memsw.limit_in_bytes", "-1"),
            ],
        ),
        (
            r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"realtimeRuntime":950,"realtimePeriod":1000,"idle":0,"cpus":"0-1","mems":"0"}}"#,
            &[],
            &[
                ("cpu,cpuacct", "cpu.shares", "512"),
                ("cpu,cpuacct", "cpu.cfs_period_us", "100000"),
                ("cpu,cpuacct", "cpu.cfs_quota_us", "50000"),
                ("cpu,cpuacct", "cpu.rt_period_us", "1000"),
                ("cpu,cpuacct", "cpu.rt_runtime_us", "950"),
                ("cpu,cpuacct", "cpu.idle", "0"),
                ("cpuset", "cpuset.cpus", "0-1"),
                ("cpuset", "cpuset.mems", "0"),
            ],
        ),
        (
            r#"{"cpu":{"quota":-1}}"#,
            &[],
            &[("cpu,cpuacct", "cpu.cfs_quota_us", "-1")],
        ),
        (
            r#"{"pids":{"limit":10}}"#,
            &[],
            &[("pids", "pids.max", "10")],
        ),
        (
            r#"{"pids":{"limit":-1}}"#,
            &[],
            &[("pids", "pids.max", "max")],
        ),
        (
            r#"{"pids":{"limit":0}}"#,
            &[],
            &[("pids", "pids.max", "max")],
        ),
        (
            // BFQ-only kernel (like the dev host): weights go to blkio.bfq.*.
            r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":300}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
                "throttleWriteBpsDevice":[{"major":8,"minor":16,"rate":2097152}],
                "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":200}]}}"#,
            &[],
            &[
                ("blkio", "blkio.bfq.weight", "500"),
                ("blkio", "blkio.bfq.weight_device", "8:0 300"),
                ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
                ("blkio", "blkio.throttle.write_bps_device", "8:16 2097152"),
                ("blkio", "blkio.throttle.read_iops_device", "8:0 100"),
                ("blkio", "blkio.throttle.write_iops_device", "8:0 200"),
            ],
        ),
        (
            // CFQ kernel: blkio.weight exists, and leaf weights with it.
            r#"{"blockIO":{"weight":500,"leafWeight":400,"weightDevice":[{"major":8,"minor":0,"weight":300,"leafWeight":200}]}}"#,
            &[],
            &[
                ("blkio", "blkio.weight", "500"),
                ("blkio", "blkio.leaf_weight", "400"),
                ("blkio", "blkio.weight_device", "8:0 300"),
                ("blkio", "blkio.leaf_weight_device", "8:0 200"),
            ],
        ),
        (
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
            &[],
            &[
                ("devices", "devices.deny", "a *:* rwm"),
                ("devices", "devices.allow", "c 1:3 rw"),
            ],
        ),
        (
            // Hybrid host with hugetlb only on the v2 side (like the dev host).
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1073741824}]}"#,
            &[],
            &[("unified", "hugetlb.2MB.max", "1073741824")],
        ),
        (
            r#"{"unified":{"hugetlb.1GB.max":"0"}}"#,
            &[],
            &[("unified", "hugetlb.1GB.max", "0")],
        ),
    ];
    for (json, extra, want) in cases {
        check(hy, json, extra, want);
    }
    check(
        Layout::Legacy,
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1073741824}]}"#,
        &[("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes")],
        &[
            ("hugetlb", "hugetlb.2MB.limit_in_bytes", "1073741824"),
            ("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "1073741824"),
        ],
    );
}

#[test]
fn v2_resources_table() {
    let u = Layout::Unified;
    let cases: &[Case] = &[
        (
            r#"{"memory":{"limit":104857600,"swap":209715200,"reservation":52428800,"kernel":5,"kernelTCP":5}}"#,
            &[],
            &[
                ("unified", "memory.max", "104857600"),
                ("unified", "memory.swap.max", "104857600"),
                ("unified", "memory.low", "52428800"),
            ],
        ),
        (
            r#"{"memory":{"limit":-1}}"#,
            &[],
            &[
                ("unified", "memory.max", "max"),
                ("unified", "memory.swap.max", "max"),
            ],
        ),
        (
            r#"{"memory":{"limit":1000000,"swap":1000000}}"#,
            &[],
            &[
                ("unified", "memory.max", "1000000"),
                ("unified", "memory.swap.max", "0"),
            ],
        ),
        (
            r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"idle":0,"burst":1000,"cpus":"1","mems":"0"}}"#,
            &[],
            &[
                ("unified", "cpu.weight", "100"),
                ("unified", "cpu.max", "50000 100000"),
                ("unified", "cpu.idle", "0"),
                ("unified", "cpu.max.burst", "1000"),
                ("unified", "cpuset.cpus", "1"),
                ("unified", "cpuset.mems", "0"),
            ],
        ),
        (
            r#"{"cpu":{"quota":-1,"period":100000}}"#,
            &[],
            &[("unified", "cpu.max", "max 100000")],
        ),
        (
            r#"{"cpu":{"quota":20000}}"#,
            &[],
            &[("unified", "cpu.max", "20000")],
        ),
        (
            r#"{"pids":{"limit":32}}"#,
            &[],
            &[("unified", "pids.max", "32")],
        ),
        (
            r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":10}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":0}]}}"#,
            &[],
            &[
                ("unified", "io.weight", "8:0 1"),
                ("unified", "io.max", "8:0 wiops=max"),
            ],
        ),
        (
            r#"{"blockIO":{"weight":500}}"#,
            &[],
            &[("unified", "io.weight", "4950")],
        ),
        (
            r#"{"blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]}}"#,
            &[],
            &[
                ("unified", "io.bfq.weight", "500"),
                ("unified", "io.max", "8:0 rbps=1048576"),
            ],
        ),
        (
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
            &[],
            &[("unified", "hugetlb.2MB.max", "4194304")],
        ),
        (
            r#"{"unified":{"memory.high":"50000000","pids.max":"7"}}"#,
            &[],
            &[
                ("unified", "memory.high", "50000000"),
                ("unified", "pids.max", "7"),
            ],
        ),
    ];
    for (json, extra, want) in cases {
        check(u, json, extra, want);
    }
}

/// A parent cgroup someone made with a bare mkdir has empty cpuset.cpus/mems, and no task
/// could join below it: its values come from its own parent, as with runc (found by runc's
/// test "update cpu period in a pod cgroup with pod limit set").
#[test]
fn v1_cpuset_fills_an_existing_empty_parent() {
    let host = FakeHost::new(Layout::Hybrid);
    let cpuset = host.root().join("cpuset");
    std::fs::write(cpuset.join("cpuset.cpus"), "0-1\n").expect("write");
    std::fs::write(cpuset.join("cpuset.mems"), "0\n").expect("write");
    let pod = cpuset.join("pod");
    std::fs::create_dir(&pod).expect("mkdir pod");
    std::fs::write(pod.join("cpuset.cpus"), "\n").expect("write");
    std::fs::write(pod.join("cpuset.mems"), "").expect("write");
    let _cg = host.cgroup("/pod/c1", &[]);
    assert_eq!(
        std::fs::read_to_string(pod.join("cpuset.cpus")).expect("read"),
        "0-1"
    );
    assert_eq!(
        std::fs::read_to_string(pod.join("cpuset.mems")).expect("read"),
        "0"
    );
    // A parent that has its own values keeps them.
    std::fs::write(pod.join("cpuset.cpus"), "1").expect("write");
    let _cg = host.cgroup("/pod/c2", &[]);
    assert_eq!(
        std::fs::read_to_string(pod.join("cpuset.cpus")).expect("read"),
        "1"
    );
}

#[test]
fn v2_create_enables_controllers_in_parents() {
    let host = FakeHost::new(Layout::Unified);
    let _cg = host.cgroup("/berth/c1", &[]);
    let sc = std::fs::read_to_string(host.root().join("cgroup.subtree_control")).expect("read");
    assert_eq!(sc, "+cpuset +cpu +io +memory +hugetlb +pids");
    assert!(host.root().join("berth/c1").is_dir());
}

#[test]
fn hybrid_hugetlb_enables_v2_controller_lazily() {
    let host = FakeHost::new(Layout::Hybrid);
    let cg = host.cgroup("/berth/c1", &[("unified", "hugetlb.2MB.max")]);
    let sc = host.root().join("unified/cgroup.subtree_control");
    assert_eq!(std::fs::read_to_string(&sc).expect("read"), "");
    cg.set(&res(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#))
        .expect("set");
    assert_eq!(std::fs::read_to_string(&sc).expect("read"), "+hugetlb");
}

fn err_of(layout: Layout, json: &str) -> Error {
    let host = FakeHost::new(layout);
    let cg = host.cgroup("/berth/c1", &[]);
    match cg.set(&res(json)) {
        Ok(()) => panic!("{layout:?} {json}: expected an error"),
        Err(e) => e,
    }
}

#[test]
fn unsupported_and_invalid_fields_are_named() {
    let cases: &[(Layout, &str, &str)] = &[
        (
            Layout::Unified,
            r#"{"memory":{"swappiness":10}}"#,
            "memory.swappiness",
        ),
        (
            Layout::Unified,
            r#"{"memory":{"disableOOMKiller":true}}"#,
            "memory.disableOOMKiller",
        ),
        (
            Layout::Unified,
            r#"{"cpu":{"realtimeRuntime":10}}"#,
            "cpu.realtimeRuntime",
        ),
        (
            Layout::Unified,
            r#"{"blockIO":{"leafWeight":10}}"#,
            "blockIO.leafWeight",
        ),
        (
            Layout::Unified,
            r#"{"rdma":{"mlx5_1":{"hcaHandles":3}}}"#,
            "rdma",
        ),
        (Layout::Hybrid, r#"{"network":{"classID":1}}"#, "network"),
        (
            Layout::Legacy,
            r#"{"unified":{"memory.high":"1"}}"#,
            "unified.memory.high",
        ),
        (
            Layout::Unified,
            r#"{"unified":{"../x.y":"1"}}"#,
            "unified.../x.y",
        ),
        (
            Layout::Hybrid,
            r#"{"memory":{"limit":100,"swap":50}}"#,
            "memory.swap",
        ),
        (
            Layout::Unified,
            r#"{"memory":{"limit":100,"swap":50}}"#,
            "memory.swap",
        ),
        (Layout::Unified, r#"{"memory":{"swap":50}}"#, "memory.swap"),
        (Layout::Hybrid, r#"{"memory":{"limit":-5}}"#, "memory.limit"),
        (
            Layout::Hybrid,
            r#"{"memory":{"swappiness":101}}"#,
            "memory.swappiness",
        ),
        (
            Layout::Hybrid,
            r#"{"hugepageLimits":[{"pageSize":"2M","limit":1}]}"#,
            "hugepageLimits.pageSize",
        ),
        (
            Layout::Legacy,
            r#"{"hugepageLimits":[{"pageSize":"4MB","limit":1}]}"#,
            "hugepageLimits.pageSize",
        ),
        (
            Layout::Hybrid,
            r#"{"devices":[{"allow":true,"access":"rwx"}]}"#,
            "devices[0].access",
        ),
        (
            Layout::Hybrid,
            r#"{"devices":[{"allow":true,"type":"p"}]}"#,
            "devices[0].type",
        ),
        (
            Layout::Hybrid,
            r#"{"devices":[{"allow":true,"major":-7}]}"#,
            "devices[0].major",
        ),
        (
            Layout::Hybrid,
            r#"{"blockIO":{"throttleReadBpsDevice":[{"major":-1,"minor":0,"rate":1}]}}"#,
            "blockIO.throttleReadBpsDevice",
        ),
        // Features this fake kernel lacks (no file in the tree).
        (
            Layout::Hybrid,
            r#"{"cpu":{"realtimePeriod":1000}}"#,
            "cpu.realtimePeriod",
        ),
        (
            Layout::Hybrid,
            r#"{"blockIO":{"leafWeight":10}}"#,
            "blockIO.leafWeight",
        ),
    ];
    for (layout, json, field) in cases {
        let e = err_of(*layout, json);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("linux.resources.{field} "))
                || msg.starts_with(&format!("linux.resources.{field}: ")),
            "{layout:?} {json}: {msg}"
        );
    }
}

#[test]
fn validation_happens_before_any_write() {
    let host = FakeHost::new(Layout::Unified);
    let cg = host.cgroup("/berth/c1", &[("unified", "memory.max")]);
    let r = res(r#"{"memory":{"limit":1000},"cpu":{"realtimeRuntime":10}}"#);
    assert!(cg.set(&r).is_err());
    assert_eq!(host.read(&cg, "unified", "memory.max"), "");
}

#[test]
fn write_errors_name_path_and_value() {
    let host = FakeHost::new(Layout::Hybrid);
    let cg = host.cgroup("/berth/c1", &[]); // memory.limit_in_bytes does not exist
    let e = cg
        .set(&res(r#"{"memory":{"limit":4096}}"#))
        .expect_err("missing file");
    let msg = e.to_string();
    assert!(msg.contains("write \"4096\" to "), "{msg}");
    assert!(
        msg.contains("memory/berth/c1/memory.limit_in_bytes"),
        "{msg}"
    );
}

struct FakeProbe {
    files: Vec<(Target, &'static str, &'static str)>,
}

impl Probe for FakeProbe {
    fn has(&self, _t: Target) -> bool {
        true
    }
    fn exists(&self, t: Target, file: &str) -> bool {
        self.files.iter().any(|(ft, f, _)| *ft == t && *f == file)
    }
    fn read(&self, t: Target, file: &str) -> Option<String> {
        self.files
            .iter()
            .find(|(ft, f, _)| *ft == t && *f == file)
            .map(|(_, _, v)| v.to_string())
    }
}

fn files(plan: &[Write]) -> Vec<(String, String)> {
    plan.iter()
        .map(|w| (w.file.clone(), w.value.clone()))
        .collect()
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn v1_memory_write_order_follows_current_limit() {
    let mem = Target::V1("memory");
    let memsw = "memory.memsw.limit_in_bytes";
    let r = res(r#"{"memory":{"limit":200,"swap":400}}"#);
    // Growing past the current limit: memsw first.
    let grow = FakeProbe {
        files: vec![(mem, memsw, "150"), (mem, "memory.limit_in_bytes", "100")],
    };
    let p = policy::plan(Layout::Legacy, &r, &grow).expect("plan");
    assert_eq!(
        files(&p.writes),
        vec![s(memsw, "400"), s("memory.limit_in_bytes", "200")]
    );
    // Shrinking: the limit first.
    let shrink = FakeProbe {
        files: vec![(mem, memsw, "9000"), (mem, "memory.limit_in_bytes", "8000")],
    };
    let p = policy::plan(Layout::Legacy, &r, &shrink).expect("plan");
    assert_eq!(
        files(&p.writes),
        vec![s("memory.limit_in_bytes", "200"), s(memsw, "400")]
    );
}

#[test]
fn v1_swap_without_accounting() {
    let none = FakeProbe { files: vec![] };
    let r = res(r#"{"memory":{"limit":200,"swap":400}}"#);
    let e = policy::plan(Layout::Legacy, &r, &none).expect_err("no memsw");
    assert!(e.to_string().contains("swapaccount=1"), "{e}");
    // -1 (unlimited) is what we have anyway: only the limit is written.
    let r = res(r#"{"memory":{"limit":-1}}"#);
    let p = policy::plan(Layout::Legacy, &r, &none).expect("plan");
    assert_eq!(files(&p.writes), vec![s("memory.limit_in_bytes", "-1")]);
}

#[test]
fn v1_devices_and_v2_io_max_keep_every_line_in_order() {
    let none = FakeProbe { files: vec![] };
    let r = res(
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"b","major":8,"access":"r"},{"allow":false,"type":"c","major":5,"minor":1,"access":"w"}]}"#,
    );
    let p = policy::plan(Layout::Legacy, &r, &none).expect("plan");
    assert_eq!(
        files(&p.writes),
        vec![
            s("devices.deny", "a *:* rwm"),
            s("devices.allow", "c 1:3 rwm"),
            s("devices.allow", "b 8:* r"),
            s("devices.deny", "c 5:1 w"),
        ]
    );
    let r = res(
        r#"{"blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":10}],"throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":20}],"throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":30}],"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":40}]}}"#,
    );
    let p = policy::plan(Layout::Unified, &r, &none).expect("plan");
    assert_eq!(
        files(&p.writes),
        vec![
            s("io.max", "8:0 rbps=10"),
            s("io.max", "8:0 wbps=20"),
            s("io.max", "8:0 riops=30"),
            s("io.max", "8:0 wiops=40"),
        ]
    );
    assert_eq!(p.v2_controllers, vec!["io".to_string()]);
    let p = policy::plan(Layout::Unified, &res(r#"{"devices":[]}"#), &none).expect("plan");
    assert_eq!(p.device_filter, Some(vec![]));
    assert!(p.writes.is_empty());
}

#[test]
fn idle_groups_get_no_weight() {
    let none = FakeProbe {
        files: vec![(Target::V1("cpu"), "cpu.idle", "0")],
    };
    let r = res(r#"{"cpu":{"shares":2048,"idle":1}}"#);
    for layout in [Layout::Legacy, Layout::Unified] {
        let p = policy::plan(layout, &r, &none).expect("plan");
        assert_eq!(files(&p.writes), vec![s("cpu.idle", "1")], "{layout:?}");
    }
}

#[test]
fn v2_swap_leniency_when_file_missing() {
    // swap == limit => "0": allowed to be skipped when swap accounting is off.
    let none = FakeProbe { files: vec![] };
    let p = policy::plan(
        Layout::Unified,
        &res(r#"{"memory":{"limit":100,"swap":100}}"#),
        &none,
    )
    .expect("plan");
    assert!(p.writes[0].if_exists && p.writes[0].file == "memory.swap.max");
    let p = policy::plan(
        Layout::Unified,
        &res(r#"{"memory":{"limit":100,"swap":300}}"#),
        &none,
    )
    .expect("plan");
    assert!(!p.writes[0].if_exists);
}

#[test]
fn conversions() {
    use crate::policy::{blkio_weight_to_io_weight, shares_to_weight, swap_v2};
    for (shares, weight) in [
        (0, 0),
        (1, 1),
        (2, 1),
        (1024, 100),
        (262_143, 10_000),
        (262_144, 10_000),
        (1_000_000, 10_000),
    ] {
        assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
    }
    // Monotonic over the whole range, and within bounds.
    let mut last = 0;
    for shares in 2..=262_144 {
        let w = shares_to_weight(shares);
        assert!(
            w >= last && (1..=10_000).contains(&w),
            "shares {shares} -> {w}"
        );
        last = w;
    }
    for (w, iow) in [(0, 0), (10, 1), (100, 910), (500, 4950), (1000, 10_000)] {
        assert_eq!(blkio_weight_to_io_weight(w), iow, "blkio weight {w}");
    }
    let ok = |sw, l| swap_v2(sw, l).expect("valid");
    assert_eq!(ok(None, None), None);
    assert_eq!(ok(None, Some(-1)), Some("max".into()));
    assert_eq!(ok(Some(-1), Some(100)), Some("max".into()));
    assert_eq!(ok(Some(300), Some(100)), Some("200".into()));
    assert_eq!(ok(Some(100), Some(100)), Some("0".into()));
    assert!(swap_v2(Some(100), None).is_err());
    assert!(swap_v2(Some(100), Some(-1)).is_err());
    assert!(swap_v2(Some(50), Some(100)).is_err());
}

const HOST_MOUNTINFO: &str = "\
24 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn detect_layouts_from_mountinfo() {
    use crate::detect_from_mountinfo as d;
    let root = Path::new("/sys/fs/cgroup");
    assert_eq!(d(root, HOST_MOUNTINFO).expect("hybrid"), Layout::Hybrid);
    let legacy: String = HOST_MOUNTINFO
        .lines()
        .filter(|l| !l.contains("cgroup2"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(d(root, &legacy).expect("legacy"), Layout::Legacy);
    let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    assert_eq!(d(root, unified).expect("unified"), Layout::Unified);
    // Mounts outside the root do not count.
    assert!(matches!(
        d(Path::new("/elsewhere"), HOST_MOUNTINFO),
        Err(Error::NoCgroupfs { .. })
    ));
    // Escaped mount points.
    let esc = "29 23 0:26 / /tmp/my\\040cg rw - cgroup2 cgroup2 rw\n";
    assert_eq!(
        d(Path::new("/tmp/my cg"), esc).expect("escaped"),
        Layout::Unified
    );
    let hs = crate::parse_mountinfo(root, HOST_MOUNTINFO);
    assert_eq!(hs.len(), 6);
    assert_eq!(hs[4].controllers, vec!["name=systemd".to_string()]);
}

fn paths(cg: &Cgroup) -> Vec<(String, PathBuf)> {
    cg.paths()
}

fn dir_of(cg: &Cgroup, h: &str) -> PathBuf {
    paths(cg)
        .into_iter()
        .find(|(n, _)| n == h)
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no {h}"))
}

#[test]
fn path_resolution_like_runc_fs_driver() {
    let host = FakeHost::new(Layout::Hybrid);
    let r = host.root();
    let new = |p: Option<&str>| {
        Cgroup::with_system(&host.sys, p.map(Path::new), "ctr-1").expect("resolve")
    };
    // Relative: under our own cgroup in each hierarchy.
    let cg = new(Some("berth/x"));
    assert_eq!(
        dir_of(&cg, "memory"),
        r.join("memory/process_api/abc/berth/x")
    );
    assert_eq!(dir_of(&cg, "cpu,cpuacct"), r.join("cpu,cpuacct/berth/x"));
    assert_eq!(dir_of(&cg, "unified"), r.join("unified/berth/x"));
    assert_eq!(paths(&cg).len(), 9);
    // Absolute: from each hierarchy's root.
    let cg = new(Some("/berth/x"));
    assert_eq!(dir_of(&cg, "memory"), r.join("memory/berth/x"));
    assert_eq!(dir_of(&cg, "name=systemd"), r.join("systemd/berth/x"));
    // Empty or missing: the container id, relative.
    for p in [None, Some("")] {
        let cg = new(p);
        assert_eq!(
            dir_of(&cg, "memory"),
            r.join("memory/process_api/abc/ctr-1")
        );
        assert_eq!(dir_of(&cg, "pids"), r.join("pids/ctr-1"));
    }
    // Pure v2.
    let v2 = FakeHost::new(Layout::Unified);
    let cg = Cgroup::with_system(&v2.sys, None, "c2").expect("resolve");
    assert_eq!(
        paths(&cg),
        vec![("unified".to_string(), v2.root().join("user.slice/me/c2"))]
    );
    let cg = Cgroup::with_system(&v2.sys, Some(Path::new("/a/./b/")), "c2").expect("resolve");
    assert_eq!(dir_of(&cg, "unified"), v2.root().join("a/b"));
    // Legacy hosts do not include a v2 dir.
    let l = FakeHost::new(Layout::Legacy);
    let cg = Cgroup::with_system(&l.sys, None, "c3").expect("resolve");
    assert!(paths(&cg).iter().all(|(n, _)| n != "unified"));
}

#[test]
fn bad_paths_are_rejected() {
    let host = FakeHost::new(Layout::Hybrid);
    for p in [
        "../x",
        "/a/../../b",
        "/",
        "system.slice:berth:abc",
        "a\nb",
        ".",
    ] {
        let e = Cgroup::with_system(&host.sys, Some(Path::new(&p)), "id").expect_err(p);
        assert!(matches!(e, Error::BadPath { .. }), "{p}: {e}");
    }
    assert!(Cgroup::with_system(&host.sys, None, "../evil").is_err());
}

#[test]
fn mount_root_is_stripped_from_own_cgroup() {
    // A hierarchy mounted from a sub-tree (e.g. inside a cgroup namespace bind mount).
    let dir = tempfile::tempdir().expect("tempdir");
    let r = dir.path().display().to_string();
    let mi = format!("41 31 0:38 /process_api/abc {r}/memory rw - cgroup cgroup rw,memory\n");
    let sys = crate::System::from_text(dir.path(), &mi, "4:memory:/process_api/abc/inner\n")
        .expect("parse");
    let cg = Cgroup::with_system(&sys, Some(Path::new("c")), "id").expect("resolve");
    assert_eq!(dir_of(&cg, "memory"), dir.path().join("memory/inner/c"));
    // A hierarchy we are not listed in is an error for relative paths.
    let sys = crate::System::from_text(dir.path(), &mi, "0::/\n").expect("parse");
    let e = Cgroup::with_system(&sys, Some(Path::new("c")), "id").expect_err("not listed");
    assert!(matches!(e, Error::NotInHierarchy { .. }), "{e}");
}

#[test]
fn state_round_trip() {
    for layout in [Layout::Legacy, Layout::Hybrid, Layout::Unified] {
        let host = FakeHost::new(layout);
        let cg = Cgroup::with_system(&host.sys, Some(Path::new("berth/with space")), "x")
            .expect("resolve");
        let st = cg.to_state();
        let back = Cgroup::from_state(host.root(), &st).expect("from_state");
        assert_eq!(back, cg, "{st}");
    }
    let root = Path::new("/sys/fs/cgroup");
    for bad in [
        "",
        "berth-cgroups 2\nlayout unified\n",
        "berth-cgroups 1\nlayout weird\n",
        "berth-cgroups 1\nlayout unified\nv3\tunified\t.\t/x\n",
        "berth-cgroups 1\nlayout unified\nv2\tunified\t.\t/../x\n",
        "berth-cgroups 1\nlayout unified\nv2\tunified\t.\trel\n",
        "berth-cgroups 1\nlayout unified\nv2\tunified\t.\n",
    ] {
        assert!(
            matches!(Cgroup::from_state(root, bad), Err(Error::State { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn add_task_pids_freeze_stats_destroy_on_fake_tree() {
    let host = FakeHost::new(Layout::Hybrid);
    let names: Vec<String> = {
        let cg = Cgroup::with_system(&host.sys, Some(Path::new("/b/c")), "x").expect("resolve");
        cg.paths().into_iter().map(|(n, _)| n).collect()
    };
    let touch: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "cgroup.procs")).collect();
    let cg = host.cgroup("/b/c", &touch);
    cg.add_task(4242).expect("add_task");
    for n in &names {
        assert_eq!(host.read(&cg, n, "cgroup.procs"), "4242", "{n}");
    }
    std::fs::write(host.file(&cg, "pids", "cgroup.procs"), "12\n34\n").expect("write");
    assert_eq!(cg.pids().expect("pids"), vec![12, 34]);
    // The unified side of a hybrid host is cgroup2: clone3 can start a
    // child there directly.
    assert!(
        cg.clone_into_fd().is_some(),
        "CLONE_INTO_CGROUP into the v2 side of a hybrid host"
    );

    std::fs::write(host.file(&cg, "freezer", "freezer.state"), "THAWED").expect("write");
    assert!(!cg.frozen().expect("frozen"));
    cg.freeze().expect("freeze");
    assert_eq!(host.read(&cg, "freezer", "freezer.state"), "FROZEN");
    assert!(cg.frozen().expect("frozen"));
    cg.thaw().expect("thaw");
    assert_eq!(host.read(&cg, "freezer", "freezer.state"), "THAWED");
    assert!(!cg.frozen().expect("frozen"));

    for (h, f, v) in [
        ("cpu,cpuacct", "cpuacct.usage", "123456"),
        ("memory", "memory.usage_in_bytes", "4096"),
        ("memory", "memory.max_usage_in_bytes", "8192"),
        ("memory", "memory.limit_in_bytes", "9223372036854771712"),
        ("pids", "pids.current", "2"),
        ("pids", "pids.max", "max"),
        (
            "blkio",
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 50\n8:0 Total 150\nTotal 150\n",
        ),
    ] {
        std::fs::write(host.file(&cg, h, f), v).expect("write");
    }
    let st = cg.stats().expect("stats");
    assert_eq!(
        st,
        crate::Stats {
            cpu_usage_ns: 123456,
            memory_usage: 4096,
            memory_max_usage: Some(8192),
            memory_limit: None,
            pids_current: 2,
            pids_limit: None,
            io_read_bytes: 100,
            io_write_bytes: 50,
        }
    );
    // Destroy: an empty tree goes away; twice is fine.
    let empty = Cgroup::with_system(&host.sys, Some(Path::new("/b/empty")), "x").expect("resolve");
    empty.create().expect("create");
    empty.destroy().expect("destroy");
    empty.destroy().expect("destroy again");
    assert!(empty.paths().iter().all(|(_, p)| !p.exists()));
    // Failures are collected from every hierarchy (files make rmdir fail on a plain fs).
    match cg.destroy() {
        Err(Error::Teardown(errs)) => assert_eq!(errs.len(), names.len()),
        other => panic!("expected teardown errors, got {other:?}"),
    }
}

#[test]
fn v2_stats_and_clone_fd_on_fake_tree() {
    let host = FakeHost::new(Layout::Unified);
    let cg = host.cgroup("/b/c", &[]);
    for (f, v) in [
        ("cpu.stat", "usage_usec 5\nuser_usec 3\n"),
        ("memory.current", "100\n"),
        ("memory.peak", "200\n"),
        ("memory.max", "max\n"),
        ("pids.current", "1\n"),
        ("pids.max", "10\n"),
        (
            "io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
        ),
    ] {
        std::fs::write(host.file(&cg, "unified", f), v).expect("write");
    }
    let st = cg.stats().expect("stats");
    assert_eq!(st.cpu_usage_ns, 5000);
    assert_eq!(
        (st.memory_usage, st.memory_max_usage, st.memory_limit),
        (100, Some(200), None)
    );
    assert_eq!((st.pids_current, st.pids_limit), (1, Some(10)));
    assert_eq!((st.io_read_bytes, st.io_write_bytes), (11, 22));
    assert!(cg.clone_into_fd().is_some());

    // v2 freezer: cgroup.freeze is written, cgroup.events is what the wait looks at.
    let freeze = host.file(&cg, "unified", "cgroup.freeze");
    let events = host.file(&cg, "unified", "cgroup.events");
    std::fs::write(&freeze, "").expect("touch");
    std::fs::write(&events, "populated 1\nfrozen 1\n").expect("write");
    cg.freeze().expect("freeze");
    assert_eq!(std::fs::read_to_string(&freeze).expect("read"), "1");
    assert!(cg.frozen().expect("frozen"));
    std::fs::write(&events, "populated 1\nfrozen 0\n").expect("write");
    cg.thaw().expect("thaw");
    assert_eq!(std::fs::read_to_string(&freeze).expect("read"), "0");
    assert!(!cg.frozen().expect("frozen"));
}

#[test]
fn join_self_v1_and_add_task_v2_touch_only_their_side() {
    let host = FakeHost::new(Layout::Hybrid);
    let names: Vec<(String, bool)> = {
        let cg = Cgroup::with_system(&host.sys, Some(Path::new("/j")), "x").expect("resolve");
        cg.paths()
            .into_iter()
            .map(|(n, p)| (n, p.to_string_lossy().contains("/unified")))
            .collect()
    };
    assert!(names.iter().any(|(_, v2)| *v2), "hybrid fake has a v2 side");
    let touch: Vec<(&str, &str)> = names
        .iter()
        .flat_map(|(n, _)| [(n.as_str(), "tasks"), (n.as_str(), "cgroup.procs")])
        .collect();
    let cg = host.cgroup("/j", &touch);
    cg.join_self_v1().expect("join_self_v1");
    cg.add_task_v2(77).expect("add_task_v2");
    for (n, v2) in &names {
        let (tasks, procs) = (
            host.read(&cg, n, "tasks"),
            host.read(&cg, n, "cgroup.procs"),
        );
        if *v2 {
            assert_eq!((tasks.as_str(), procs.as_str()), ("", "77"), "{n}");
        } else {
            assert_eq!((tasks.as_str(), procs.as_str()), ("0", ""), "{n}");
        }
    }
}
