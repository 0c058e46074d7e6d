//! The default profile's conditions, on made-up hosts: no privileges, nothing loaded.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall,
};

use super::default_table::GROUPS;
use super::defaults::{build, When};
use super::host::{Host, KernelVersion};

fn amd64() -> Host {
    Host::new(
        "amd64",
        Some(Arch::ScmpArchX86_64),
        "6.18.0-1-amd64".to_owned(),
    )
}

fn caps(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn entries<'a>(profile: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
    profile
        .syscalls()
        .iter()
        .flatten()
        .filter(|s| s.names().iter().any(|n| n == name))
        .collect()
}

/// Allowed whatever its arguments.
fn allowed(profile: &LinuxSeccomp, name: &str) -> bool {
    entries(profile, name)
        .iter()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
}

/// Not mentioned at all: the default action (EPERM) applies.
fn denied(profile: &LinuxSeccomp, name: &str) -> bool {
    entries(profile, name).is_empty()
}

#[test]
fn everything_unlisted_fails_with_eperm_and_everyday_syscalls_are_allowed() {
    let profile = build(&amd64(), &[]);
    assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(profile.default_errno_ret(), Some(libc::EPERM as u32));
    for name in [
        "read",
        "write",
        "openat",
        "close",
        "mmap",
        "brk",
        "execve",
        "fork",
        "vfork",
        "wait4",
        "futex",
        "rt_sigaction",
        "exit_group",
        "socketpair",
        "connect",
        "prctl",
        "arch_prctl",
        "modify_ldt",
        "ptrace",
        "process_vm_readv",
    ] {
        assert!(allowed(&profile, name), "{name} should be allowed");
    }
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "keyctl",
        "add_key",
        "request_key",
        "kexec_load",
        "kexec_file_load",
        "bpf",
        "userfaultfd",
        "io_uring_setup",
        "swapon",
        "init_module",
        "reboot",
        "acct",
        "clock_settime",
        "iopl",
        "vhangup",
        "syslog",
        "perf_event_open",
        "open_by_handle_at",
        "kcmp",
        "pidfd_getfd",
        "mbind",
        "chroot",
        "set_tls",
        "s390_runtime_instr",
    ] {
        assert!(denied(&profile, name), "{name} should be denied");
    }
}

#[test]
fn each_capability_allows_its_syscalls_and_only_it() {
    let cases: &[(&str, &[&str])] = &[
        (
            "CAP_SYS_ADMIN",
            &[
                "mount",
                "umount2",
                "unshare",
                "setns",
                "bpf",
                "fsopen",
                "open_tree",
                "sethostname",
                "quotactl",
                "perf_event_open",
                "syslog",
                "clone",
                "clone3",
            ],
        ),
        (
            "CAP_SYS_PTRACE",
            &[
                "kcmp",
                "pidfd_getfd",
                "process_madvise",
                "ptrace",
                "process_vm_writev",
            ],
        ),
        ("CAP_SYS_BOOT", &["reboot"]),
        ("CAP_SYS_CHROOT", &["chroot"]),
        (
            "CAP_SYS_MODULE",
            &["init_module", "finit_module", "delete_module"],
        ),
        ("CAP_SYS_PACCT", &["acct"]),
        ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
        ("CAP_SYS_TIME", &["settimeofday", "clock_settime", "stime"]),
        ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
        ("CAP_SYS_NICE", &["mbind", "set_mempolicy", "get_mempolicy"]),
        ("CAP_SYSLOG", &["syslog"]),
        ("CAP_BPF", &["bpf"]),
        ("CAP_PERFMON", &["perf_event_open"]),
        ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ];
    let without = build(&amd64(), &caps(&["CAP_CHOWN", "CAP_KILL"]));
    for (cap, names) in cases {
        let with = build(&amd64(), &caps(&[cap]));
        for name in *names {
            assert!(allowed(&with, name), "{name} should be allowed with {cap}");
            if !matches!(*name, "ptrace" | "process_vm_writev" | "clone" | "clone3") {
                assert!(
                    denied(&without, name),
                    "{name} should be denied without {cap}"
                );
            }
        }
    }
    // The keys no capability unlocks.
    let all = build(
        &amd64(),
        &caps(&cases.iter().map(|(c, _)| *c).collect::<Vec<_>>()),
    );
    for name in [
        "keyctl",
        "add_key",
        "kexec_load",
        "userfaultfd",
        "pivot_root",
        "swapon",
    ] {
        assert!(
            denied(&all, name),
            "{name} should be denied even with every capability"
        );
    }
}

const NAMESPACE_FLAGS: u64 = 0x7e02_0000;

#[test]
fn clone_without_cap_sys_admin_may_not_make_namespaces_and_clone3_gets_enosys() {
    assert_eq!(
        NAMESPACE_FLAGS,
        (libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWCGROUP) as u64
    );
    let profile = build(&amd64(), &caps(&["CAP_SETUID"]));
    let clone = entries(&profile, "clone");
    assert_eq!(clone.len(), 1);
    let args = clone[0].args().clone().expect("clone has an argument test");
    assert_eq!(args.len(), 1);
    assert_eq!(args[0].index(), 0);
    assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
    assert_eq!(
        (args[0].value(), args[0].value_two()),
        (NAMESPACE_FLAGS, Some(0))
    );
    assert_eq!(clone[0].action(), LinuxSeccompAction::ScmpActAllow);

    let clone3 = entries(&profile, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(libc::ENOSYS as u32));

    let admin = build(&amd64(), &caps(&["CAP_SYS_ADMIN"]));
    for name in ["clone", "clone3"] {
        let found = entries(&admin, name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert!(allowed(&admin, name), "{name} should be unrestricted");
    }
}

#[test]
fn on_s390x_clone_flags_are_the_second_argument() {
    let host = Host::new("s390x", Some(Arch::ScmpArchS390x), "6.1.0".to_owned());
    let profile = build(&host, &[]);
    let clone = entries(&profile, "clone");
    let args = clone
        .first()
        .and_then(|s| s.args().clone())
        .expect("clone test");
    assert_eq!(args.first().map(|a| a.index()), Some(1));
    assert!(allowed(&profile, "s390_runtime_instr"));
    assert!(denied(&profile, "arch_prctl"));
    assert_eq!(
        profile.architectures().as_deref(),
        Some(&[Arch::ScmpArchS390x, Arch::ScmpArchS390][..])
    );
}

#[test]
fn architectures_follow_the_host() {
    assert_eq!(
        build(&amd64(), &[]).architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
    );
    let arm64 = Host::new("arm64", Some(Arch::ScmpArchAarch64), "6.1.0".to_owned());
    let profile = build(&arm64, &[]);
    assert_eq!(
        profile.architectures().as_deref(),
        Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
    );
    assert!(allowed(&profile, "set_tls"));
    assert!(denied(&profile, "arch_prctl"));
    assert!(denied(&profile, "modify_ldt"));
    // No family for ppc64le, as in Docker: the filter covers the native architecture.
    let ppc = Host::new("ppc64le", Some(Arch::ScmpArchPpc64le), "6.1.0".to_owned());
    let profile = build(&ppc, &[]);
    assert_eq!(profile.architectures(), &None);
    assert!(allowed(&profile, "sync_file_range2"));
    let unknown = Host::new("vax", None, "6.1.0".to_owned());
    assert_eq!(build(&unknown, &[]).architectures(), &None);
}

#[test]
fn ptrace_needs_kernel_4_8_or_cap_sys_ptrace() {
    for release in ["4.4.0-210-generic", "not-a-version"] {
        let old = Host::new("amd64", Some(Arch::ScmpArchX86_64), release.to_owned());
        let profile = build(&old, &[]);
        for name in ["ptrace", "process_vm_readv", "process_vm_writev"] {
            assert!(denied(&profile, name), "{name} on {release}");
        }
        assert!(allowed(&build(&old, &caps(&["CAP_SYS_PTRACE"])), "ptrace"));
    }
    let new = Host::new("amd64", Some(Arch::ScmpArchX86_64), "4.8.0".to_owned());
    assert!(allowed(&build(&new, &[]), "ptrace"));
}

#[test]
fn personality_and_socket_are_allowed_by_argument_one_test_per_entry() {
    let profile = build(&amd64(), &[]);
    let values = |name: &str| -> Vec<(usize, LinuxSeccompOperator, u64)> {
        entries(&profile, name)
            .iter()
            .map(|s| {
                let args = s.args().clone().unwrap_or_default();
                assert_eq!(args.len(), 1, "{name}: one test per entry");
                (args[0].index(), args[0].op(), args[0].value())
            })
            .collect()
    };
    use LinuxSeccompOperator::{ScmpCmpEq as Eq, ScmpCmpGt as Gt, ScmpCmpLt as Lt};
    assert_eq!(
        values("personality"),
        [
            (0, Eq, 0),
            (0, Eq, 8),
            (0, Eq, 0x20000),
            (0, Eq, 0x20008),
            (0, Eq, 0xffff_ffff)
        ]
    );
    assert_eq!(values("socket"), [(0, Lt, 38), (0, Eq, 39), (0, Gt, 40)]);
}

#[test]
fn the_table_is_well_formed() {
    let mut always = std::collections::HashSet::new();
    for group in GROUPS {
        assert!(!group.names.is_empty());
        for name in group.names {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name:?}"
            );
            if matches!(group.when, When::Always) && group.any_of.is_empty() {
                assert!(always.insert(*name), "{name} is listed twice");
            }
        }
    }
    assert_eq!(always.len(), 361);
}

#[test]
fn kernel_release_parsing() {
    let v = KernelVersion::from_release;
    assert_eq!(v("6.18.0-1-amd64"), Some(KernelVersion::new(6, 18)));
    assert_eq!(v("3.12-rc5"), Some(KernelVersion::new(3, 12)));
    assert_eq!(v("5.10"), Some(KernelVersion::new(5, 10)));
    assert_eq!(v("6"), None);
    assert_eq!(v("x.1"), None);
    assert!(KernelVersion::new(4, 10) > KernelVersion::new(4, 8));
    assert!(KernelVersion::new(5, 0) > KernelVersion::new(4, 19));
}

#[test]
fn the_default_profile_compiles_for_every_capability_set() {
    let sets: &[&[&str]] = &[
        &[],
        &[
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE",
        ],
        &[
            "CAP_SYS_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_BPF",
            "CAP_PERFMON",
            "CAP_SYSLOG",
            "CAP_SYS_NICE",
            "CAP_SYS_TIME",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYS_BOOT",
        ],
    ];
    for set in sets {
        let program = match crate::compile(&super::default_profile(&caps(set))) {
            Ok(program) => program,
            Err(err) => panic!("{set:?}: {err}"),
        };
        assert!(program.instructions().len() <= crate::compile::MAX_INSTRUCTIONS);
        assert!(!program.needs_listener());
    }
}
