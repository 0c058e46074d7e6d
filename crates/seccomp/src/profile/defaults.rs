//! The default profile's table types, and the table turned into an OCI profile
//! for one container on one host.

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::default_table::{ARCH_FAMILIES, DEFAULT_ERRNO, GROUPS};
use super::host::{Host, KernelVersion};

/// What happens when a group's syscall is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Allow,
    /// Fail with this error number.
    Errno(u32),
}

/// When a group is part of a container's profile.
#[derive(Debug)]
pub(super) enum When {
    Always,
    /// The container has this capability.
    Cap(&'static str),
    /// The container lacks this capability.
    NoCap(&'static str),
    /// The host is one of these architectures (Docker's names: `amd64`, `arm64`, `s390x`...).
    Arch(&'static [&'static str]),
    /// The host is none of these architectures.
    NotArch(&'static [&'static str]),
    /// The host kernel is at least `<version>.<major>` (an unknown kernel is not).
    KernelAtLeast(u32, u32),
    /// Every one of these holds.
    All(&'static [When]),
}

impl When {
    fn holds(&self, host: &Host, caps: &[String]) -> bool {
        match self {
            When::Always => true,
            When::Cap(cap) => has_cap(caps, cap),
            When::NoCap(cap) => !has_cap(caps, cap),
            When::Arch(arches) => host.is_arch(arches),
            When::NotArch(arches) => !host.is_arch(arches),
            When::KernelAtLeast(version, major) => host
                .kernel_at_least(KernelVersion::new(*version, *major))
                .unwrap_or(false),
            When::All(all) => all.iter().all(|w| w.holds(host, caps)),
        }
    }
}

/// Whether `caps` holds the capability `cap` (exact names, like Docker).
pub(super) fn has_cap(caps: &[String], cap: &str) -> bool {
    caps.iter().any(|c| c == cap)
}

/// One argument test, `args[index] op value` (`(args[index] & value) == value_two`
/// for `SCMP_CMP_MASKED_EQ`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Arg {
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

impl Arg {
    pub(super) const fn new(
        index: usize,
        op: LinuxSeccompOperator,
        value: u64,
        value_two: u64,
    ) -> Self {
        Self {
            index,
            op,
            value,
            value_two,
        }
    }

    pub(super) const fn eq(index: usize, value: u64) -> Self {
        Self::new(index, LinuxSeccompOperator::ScmpCmpEq, value, 0)
    }

    fn to_oci(self) -> LinuxSeccompArg {
        oci_arg(self.index, self.op, self.value, Some(self.value_two))
    }
}

/// An OCI argument test (`LinuxSeccompArg` has a builder but no setters).
pub(super) fn oci_arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    let builder = match value_two {
        Some(v) => builder.value_two(v),
        None => builder,
    };
    builder
        .build()
        // Every field of the builder has a default (`#[builder(default)]` on the
        // struct) and there is no validation: `build` cannot fail.
        .expect("LinuxSeccompArgBuilder::build has no failure case")
}

/// Syscalls that share a verdict and a condition.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) names: &'static [&'static str],
    pub(super) verdict: Verdict,
    /// The syscall matches when any one of these tests holds; empty: always.
    pub(super) any_of: &'static [Arg],
    pub(super) when: When,
}

/// The default profile for a container with `caps` on `host`.
pub(super) fn build(host: &Host, caps: &[String]) -> LinuxSeccomp {
    let mut syscalls = Vec::with_capacity(GROUPS.len() + 8);
    for group in GROUPS.iter().filter(|g| g.when.holds(host, caps)) {
        let names: Vec<String> = group.names.iter().map(|n| (*n).to_owned()).collect();
        if group.any_of.is_empty() {
            syscalls.push(syscall(names, group.verdict, None));
        } else {
            // One entry per alternative: ORed for every runtime, whatever its
            // reading of several tests on one argument.
            for arg in group.any_of {
                syscalls.push(syscall(names.clone(), group.verdict, Some(arg.to_oci())));
            }
        }
    }
    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(DEFAULT_ERRNO))
        .set_architectures(host.seccomp_arch.and_then(|arch| {
            ARCH_FAMILIES
                .iter()
                .find(|(main, _)| *main == arch)
                .map(|(main, subs)| std::iter::once(*main).chain(subs.iter().copied()).collect())
        }))
        .set_syscalls(Some(syscalls));
    profile
}

fn syscall(names: Vec<String>, verdict: Verdict, arg: Option<LinuxSeccompArg>) -> LinuxSyscall {
    let mut syscall = LinuxSyscall::default();
    syscall.set_names(names).set_args(arg.map(|a| vec![a]));
    match verdict {
        Verdict::Allow => syscall.set_action(LinuxSeccompAction::ScmpActAllow),
        Verdict::Errno(errno) => syscall
            .set_action(LinuxSeccompAction::ScmpActErrno)
            .set_errno_ret(Some(errno)),
    };
    syscall
}
