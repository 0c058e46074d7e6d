//! The data of the default profile: which syscalls a container may make.
//!
//! Behaviour follows Docker's default profile (moby's `profiles/seccomp`):
//! everything not listed fails with `EPERM`; the syscalls below are allowed,
//! some only for some architectures, kernels or capabilities. The names are
//! grouped by what they do so that a reader can judge a group at a glance; a
//! name libseccomp does not know (a newer kernel's syscall) is skipped when
//! the profile is compiled.
//!
//! Conventions: [`When`] says when a group applies; a group with arguments
//! matches when any one of its argument tests holds.

use oci_spec::runtime::Arch;
use oci_spec::runtime::LinuxSeccompOperator::{ScmpCmpGt, ScmpCmpLt, ScmpCmpMaskedEq};

use super::defaults::{Arg, Group, Verdict, When};

/// The error number of everything the profile does not allow.
pub(super) const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Host architecture → the architectures its filter also covers (the 32-bit
/// and alternative ABIs a container's binaries may use).
pub(super) const ARCH_FAMILIES: &[(Arch, &[Arch])] = &[
    (
        Arch::ScmpArchX86_64,
        &[Arch::ScmpArchX86, Arch::ScmpArchX32],
    ),
    (Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
    (
        Arch::ScmpArchMips64,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
    ),
    (
        Arch::ScmpArchMips64n32,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
    ),
    (
        Arch::ScmpArchMipsel64,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
    ),
    (
        Arch::ScmpArchMipsel64n32,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
    ),
    (Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
    (Arch::ScmpArchRiscv64, &[]),
    (Arch::ScmpArchLoongarch64, &[]),
];

/// Reading, writing and managing open file descriptors.
#[rustfmt::skip]
const DESCRIPTORS: &[&str] = &[
    "read", "readv", "pread64", "preadv", "preadv2",
    "write", "writev", "pwrite64", "pwritev", "pwritev2",
    "lseek", "_llseek", "close", "close_range", "dup", "dup2", "dup3",
    "fcntl", "fcntl64", "flock", "ioctl", "pipe", "pipe2",
    "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
    "fadvise64", "fadvise64_64", "fallocate", "readahead", "cachestat",
    "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range",
];

/// Paths, directories and file metadata.
#[rustfmt::skip]
const FILESYSTEM: &[&str] = &[
    "open", "openat", "openat2", "creat",
    "access", "faccessat", "faccessat2",
    "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx",
    "statfs", "statfs64", "fstatfs", "fstatfs64", "statmount", "listmount",
    "truncate", "truncate64", "ftruncate", "ftruncate64",
    "chdir", "fchdir", "getcwd", "getdents", "getdents64",
    "mkdir", "mkdirat", "mknod", "mknodat", "rmdir",
    "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
    "unlink", "unlinkat", "readlink", "readlinkat",
    "chmod", "fchmod", "fchmodat", "fchmodat2",
    "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "umask",
    "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
    "name_to_handle_at",
];

/// Extended attributes.
#[rustfmt::skip]
const XATTRS: &[&str] = &[
    "getxattr", "lgetxattr", "fgetxattr", "getxattrat",
    "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
    "listxattr", "llistxattr", "flistxattr", "listxattrat",
    "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
];

/// Waiting for events on descriptors, and descriptors that deliver events.
#[rustfmt::skip]
const EVENTS: &[&str] = &[
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2",
    "eventfd", "eventfd2", "signalfd", "signalfd4",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "fanotify_mark",
];

/// Linux native asynchronous I/O (not io_uring, which stays denied).
#[rustfmt::skip]
const ASYNC_IO: &[&str] = &[
    "io_setup", "io_destroy", "io_submit", "io_cancel",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64",
];

/// The process's own memory.
#[rustfmt::skip]
const MEMORY: &[&str] = &[
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages",
    "membarrier", "memfd_create", "memfd_secret",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack", "mseal",
];

/// Creating, running, ending and signalling processes and threads.
/// (`clone` and `clone3` are in the conditional groups below.)
#[rustfmt::skip]
const PROCESSES: &[&str] = &[
    "fork", "vfork", "execve", "execveat", "exit", "exit_group",
    "wait4", "waitid", "waitpid", "kill", "tkill", "tgkill",
    "pidfd_open", "pidfd_send_signal", "process_mrelease",
    "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "restart_syscall",
    "get_thread_area", "set_thread_area", "getcpu", "uretprobe",
    "prctl", "seccomp", "capget", "capset",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
];

/// User and group ids.
#[rustfmt::skip]
const CREDENTIALS: &[&str] = &[
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
    "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32",
    "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32",
    "setresuid", "setresuid32", "setresgid", "setresgid32",
    "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32",
];

/// Scheduling, priorities, resource limits and usage, system information.
#[rustfmt::skip]
const SCHEDULING: &[&str] = &[
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "getpriority", "setpriority", "ioprio_get", "ioprio_set",
    "getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getrusage", "times",
    "sysinfo", "uname", "getrandom", "riscv_hwprobe",
];

/// Signal handling.
#[rustfmt::skip]
const SIGNALS: &[&str] = &[
    "rt_sigaction", "rt_sigprocmask", "rt_sigpending", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "rt_sigreturn", "sigreturn", "sigaltstack", "sigprocmask", "pause",
];

/// Clocks, sleeping and timers (setting the clock is `CAP_SYS_TIME`'s group).
#[rustfmt::skip]
const TIME: &[&str] = &[
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
    "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
    "adjtimex", "clock_adjtime", "clock_adjtime64",
    "alarm", "getitimer", "setitimer",
    "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
];

/// Futexes.
#[rustfmt::skip]
const FUTEXES: &[&str] = &[
    "futex", "futex_time64", "futex_wait", "futex_wake", "futex_requeue", "futex_waitv",
];

/// System V and POSIX inter-process communication (in the container's IPC namespace).
#[rustfmt::skip]
const IPC: &[&str] = &[
    "ipc", "msgget", "msgctl", "msgsnd", "msgrcv",
    "semget", "semctl", "semop", "semtimedop", "semtimedop_time64",
    "shmget", "shmat", "shmdt", "shmctl",
    "mq_open", "mq_unlink", "mq_notify", "mq_getsetattr",
    "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64",
];

/// Sockets, once made (`socket` itself is filtered by address family below).
#[rustfmt::skip]
const SOCKETS: &[&str] = &[
    "socketcall", "socketpair", "bind", "connect", "listen", "accept", "accept4",
    "getsockname", "getpeername", "getsockopt", "setsockopt",
    "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
    "shutdown",
];

/// The namespace flags a `clone` without `CAP_SYS_ADMIN` must not set.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// `AF_ALG` (kernel crypto) and `AF_VSOCK` (host–guest sockets) stay closed;
/// they are 38 and 40, and the family between them (39, `AF_NFC`) is allowed.
const AF_ALG: u64 = libc::AF_ALG as u64;
const AF_VSOCK: u64 = libc::AF_VSOCK as u64;

/// The harmless personas: `PER_LINUX`, `PER_LINUX32`, `UNAME26`,
/// `UNAME26 | PER_LINUX32`, and the query `0xffffffff`.
const PERSONAS: &[Arg] = &[
    Arg::eq(0, 0x0),
    Arg::eq(0, 0x0008),
    Arg::eq(0, 0x20000),
    Arg::eq(0, 0x20008),
    Arg::eq(0, 0xffff_ffff),
];

/// The architectures where `clone`'s flags are its second argument.
const S390: &[&str] = &["s390", "s390x"];

const CAP_SYS_ADMIN: &str = "CAP_SYS_ADMIN";

const fn allow(names: &'static [&'static str], when: When) -> Group {
    Group {
        names,
        verdict: Verdict::Allow,
        any_of: &[],
        when,
    }
}

/// The whole profile, in order.
pub(super) const GROUPS: &[Group] = &[
    allow(DESCRIPTORS, When::Always),
    allow(FILESYSTEM, When::Always),
    allow(XATTRS, When::Always),
    allow(EVENTS, When::Always),
    allow(ASYNC_IO, When::Always),
    allow(MEMORY, When::Always),
    allow(PROCESSES, When::Always),
    allow(CREDENTIALS, When::Always),
    allow(SCHEDULING, When::Always),
    allow(SIGNALS, When::Always),
    allow(TIME, When::Always),
    allow(FUTEXES, When::Always),
    allow(IPC, When::Always),
    allow(SOCKETS, When::Always),
    // Before 4.8, ptrace could change a syscall after seccomp had checked it.
    allow(
        &["ptrace", "process_vm_readv", "process_vm_writev"],
        When::KernelAtLeast(4, 8),
    ),
    Group {
        names: &["socket"],
        verdict: Verdict::Allow,
        any_of: &[
            Arg::new(0, ScmpCmpLt, AF_ALG, 0),
            Arg::eq(0, AF_ALG + 1),
            Arg::new(0, ScmpCmpGt, AF_VSOCK, 0),
        ],
        when: When::Always,
    },
    Group {
        names: &["personality"],
        verdict: Verdict::Allow,
        any_of: PERSONAS,
        when: When::Always,
    },
    // Architecture-specific syscalls (Docker's architecture names).
    allow(
        &["sync_file_range2", "swapcontext"],
        When::Arch(&["ppc64le"]),
    ),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        When::Arch(&["arm", "arm64"]),
    ),
    allow(&["arch_prctl"], When::Arch(&["amd64", "x32"])),
    allow(&["modify_ldt"], When::Arch(&["amd64", "x32", "x86"])),
    allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        When::Arch(S390),
    ),
    allow(&["riscv_flush_icache"], When::Arch(&["riscv64"])),
    // What each capability makes possible.
    allow(&["open_by_handle_at"], When::Cap("CAP_DAC_READ_SEARCH")),
    allow(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        When::Cap(CAP_SYS_ADMIN),
    ),
    // Without CAP_SYS_ADMIN: clone, but no new namespaces...
    Group {
        names: &["clone"],
        verdict: Verdict::Allow,
        any_of: &[Arg::new(0, ScmpCmpMaskedEq, NAMESPACE_FLAGS, 0)],
        when: When::All(&[When::NoCap(CAP_SYS_ADMIN), When::NotArch(S390)]),
    },
    Group {
        names: &["clone"],
        verdict: Verdict::Allow,
        any_of: &[Arg::new(1, ScmpCmpMaskedEq, NAMESPACE_FLAGS, 0)],
        when: When::All(&[When::NoCap(CAP_SYS_ADMIN), When::Arch(S390)]),
    },
    // ...and no clone3, whose flags sit in memory a filter cannot read: ENOSYS
    // makes libc fall back to clone.
    Group {
        names: &["clone3"],
        verdict: Verdict::Errno(libc::ENOSYS as u32),
        any_of: &[],
        when: When::NoCap(CAP_SYS_ADMIN),
    },
    allow(&["reboot"], When::Cap("CAP_SYS_BOOT")),
    allow(&["chroot"], When::Cap("CAP_SYS_CHROOT")),
    allow(
        &["delete_module", "init_module", "finit_module"],
        When::Cap("CAP_SYS_MODULE"),
    ),
    allow(&["acct"], When::Cap("CAP_SYS_PACCT")),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        When::Cap("CAP_SYS_PTRACE"),
    ),
    allow(&["iopl", "ioperm"], When::Cap("CAP_SYS_RAWIO")),
    allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        When::Cap("CAP_SYS_TIME"),
    ),
    allow(&["vhangup"], When::Cap("CAP_SYS_TTY_CONFIG")),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        When::Cap("CAP_SYS_NICE"),
    ),
    allow(&["syslog"], When::Cap("CAP_SYSLOG")),
    allow(&["bpf"], When::Cap("CAP_BPF")),
    allow(&["perf_event_open"], When::Cap("CAP_PERFMON")),
];
