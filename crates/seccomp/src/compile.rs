//! Spec → plan → BPF.
//!
//! [`plan`] is pure translation and validation of the OCI profile (it only asks
//! libseccomp to resolve syscall names); [`build`] feeds the plan to libseccomp
//! and exports the resulting BPF. Both run in the runtime's parent process.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::Error;
use crate::program::Program;

/// A syscall has at most six arguments.
const MAX_ARGS: usize = 6;
/// The kernel's limit on the length of one filter (`BPF_MAXINSNS`).
pub(crate) const MAX_INSTRUCTIONS: usize = 4096;
/// Above this many syscall rules, ask libseccomp for a binary-tree layout (as runc does;
/// libseccomp <= 2.5.4 misbehaves with the tree and zero rules).
const OPTIMIZE_ABOVE_RULES: usize = 32;

/// Translate and compile a seccomp profile into a loadable [`Program`].
///
/// Call this in the runtime's parent process, before any fork: every error in
/// the profile surfaces before anything is created.
pub fn compile(spec: &LinuxSeccomp) -> Result<Program, Error> {
    let plan = plan(spec)?;
    let instructions = build(&plan)?;
    Ok(Program::new(
        instructions,
        plan.flags,
        plan.notify,
        plan.listener_path,
        plan.listener_metadata,
        plan.skipped_syscalls,
    ))
}

/// The validated, libseccomp-typed form of a profile.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) default_action: ScmpAction,
    pub(crate) architectures: Vec<(String, ScmpArch)>,
    pub(crate) rules: Vec<Rule>,
    /// `SECCOMP_FILTER_FLAG_*` bits, without `NEW_LISTENER` (added at load time when `notify`).
    pub(crate) flags: libc::c_ulong,
    pub(crate) notify: bool,
    pub(crate) listener_path: Option<PathBuf>,
    pub(crate) listener_metadata: Option<String>,
    pub(crate) skipped_syscalls: Vec<String>,
}

/// One `seccomp_rule_add` call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    /// The spec field this rule came from, for error messages.
    pub(crate) field: String,
    pub(crate) name: String,
    pub(crate) syscall: ScmpSyscall,
    pub(crate) action: ScmpAction,
    /// ANDed together.
    pub(crate) conditions: Vec<ScmpArgCompare>,
}

/// Validate the profile and translate it into libseccomp terms.
pub(crate) fn plan(spec: &LinuxSeccomp) -> Result<Plan, Error> {
    if spec.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::NotifyDefaultAction);
    }
    let default_action = action(
        spec.default_action(),
        spec.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;

    let architectures = spec
        .architectures()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, arch)| {
            (
                format!("linux.seccomp.architectures[{i}]"),
                scmp_arch(*arch),
            )
        })
        .collect();

    let mut rules = Vec::new();
    let mut skipped_syscalls = Vec::new();
    let mut first_notify: Option<String> = None;
    for (i, syscall) in spec.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if syscall.action() == LinuxSeccompAction::ScmpActNotify && first_notify.is_none() {
            first_notify = Some(format!("{field}.action"));
        }
        plan_syscall(
            &field,
            syscall,
            default_action,
            &mut rules,
            &mut skipped_syscalls,
        )?;
    }

    let notify = first_notify.is_some();
    let listener_path = spec.listener_path().clone();
    match (&first_notify, &listener_path) {
        (Some(field), None) => {
            return Err(Error::NotifyWithoutListenerPath {
                field: field.clone(),
            })
        }
        (None, Some(path)) => return Err(Error::ListenerPathWithoutNotify { path: path.clone() }),
        _ => {}
    }

    Ok(Plan {
        default_action,
        architectures,
        rules,
        flags: filter_flags(spec, notify)?,
        notify,
        listener_path,
        listener_metadata: spec.listener_metadata().clone(),
        skipped_syscalls,
    })
}

/// Translate one `linux.seccomp.syscalls[i]` entry into zero or more rules.
fn plan_syscall(
    field: &str,
    syscall: &LinuxSyscall,
    default_action: ScmpAction,
    rules: &mut Vec<Rule>,
    skipped: &mut Vec<String>,
) -> Result<(), Error> {
    let rule_action = action(
        syscall.action(),
        syscall.errno_ret(),
        &format!("{field}.errnoRet"),
    )?;
    let condition_sets = condition_sets(field, syscall.args().as_deref().unwrap_or_default())?;

    for (j, name) in syscall.names().iter().enumerate() {
        let name_field = format!("{field}.names[{j}]");
        check_syscall_name(&name_field, name)?;
        if rule_action == default_action {
            // libseccomp refuses rules whose action is the default; they change nothing.
            tracing::debug!(field = %name_field, syscall = %name, "seccomp rule equals the default action, skipped");
            continue;
        }
        let Ok(number) = ScmpSyscall::from_name(name) else {
            // Like runc: a syscall libseccomp does not know cannot be called on this
            // system either, and profiles list syscalls of newer kernels.
            tracing::debug!(field = %name_field, syscall = %name, "unknown seccomp syscall skipped");
            skipped.push(name.clone());
            continue;
        };
        for conditions in &condition_sets {
            rules.push(Rule {
                field: name_field.clone(),
                name: name.clone(),
                syscall: number,
                action: rule_action,
                conditions: conditions.clone(),
            });
        }
    }
    Ok(())
}

/// The condition sets of one syscall entry; each set becomes one rule.
///
/// Several conditions are ANDed in one rule, except (runc's and crun's
/// behaviour) when two of them test the same argument index: then every
/// condition becomes a rule of its own, so they are ORed.
fn condition_sets(
    field: &str,
    args: &[LinuxSeccompArg],
) -> Result<Vec<Vec<ScmpArgCompare>>, Error> {
    let mut per_index = [0usize; MAX_ARGS];
    let mut conditions = Vec::with_capacity(args.len());
    for (k, arg) in args.iter().enumerate() {
        let index = arg.index();
        let Some(count) = per_index.get_mut(index) else {
            return Err(Error::ArgIndexOutOfRange {
                field: format!("{field}.args[{k}].index"),
                index,
            });
        };
        *count += 1;
        conditions.push(condition(index, arg));
    }
    if conditions.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    if per_index.iter().any(|&n| n > 1) {
        Ok(conditions.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conditions])
    }
}

fn condition(index: usize, arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // (arg & value) == valueTwo, as in runc and crun.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let index = index as u32; // < MAX_ARGS, checked by the caller
            return ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            );
        }
    };
    ScmpArgCompare::new(index as u32, op, arg.value())
}

/// Map an OCI action to libseccomp's, with the errno/trace data
/// (`errnoRet`, EPERM when absent, as in runc).
fn action(
    action: LinuxSeccompAction,
    ret: Option<u32>,
    ret_field: &str,
) -> Result<ScmpAction, Error> {
    let data = || -> Result<u16, Error> {
        match ret {
            None => Ok(libc::EPERM as u16),
            Some(value) => u16::try_from(value).map_err(|_| Error::ReturnValueOutOfRange {
                field: ret_field.to_owned(),
                value,
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(data()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn check_syscall_name(field: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::EmptySyscallName {
            field: field.to_owned(),
        });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::InvalidSyscallName {
            field: field.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The `SECCOMP_FILTER_FLAG_*` bits for `seccomp(2)`.
fn filter_flags(spec: &LinuxSeccomp, notify: bool) -> Result<libc::c_ulong, Error> {
    let mut bits: libc::c_ulong = 0;
    for (i, flag) in spec.flags().iter().flatten().enumerate() {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if !notify => {
                return Err(Error::FlagRequiresNotify {
                    field: format!("linux.seccomp.flags[{i}]"),
                    flag: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
                })
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                // The filter is installed by the container's single-threaded init
                // right before execve, which ends every other thread anyway; and the
                // kernel refuses TSYNC together with NEW_LISTENER. Same as runc.
                tracing::debug!(
                    field = %format!("linux.seccomp.flags[{i}]"),
                    "SECCOMP_FILTER_FLAG_TSYNC ignored: the filter is loaded by a single-threaded init before execve"
                );
                0
            }
        };
    }
    Ok(bits)
}

/// Feed the plan to libseccomp and export the BPF program it generates.
pub(crate) fn build(plan: &Plan) -> Result<Vec<libc::sock_filter>, Error> {
    let lib_err = |field: &str, what: String| {
        let field = field.to_owned();
        move |source| Error::Libseccomp {
            field,
            what,
            source,
        }
    };
    let mut ctx = ScmpFilterContext::new(plan.default_action).map_err(lib_err(
        "linux.seccomp.defaultAction",
        format!("default action {:?}", plan.default_action),
    ))?;
    for (field, arch) in &plan.architectures {
        ctx.add_arch(*arch)
            .map_err(lib_err(field, format!("architecture {arch:?}")))?;
    }
    if plan.rules.len() > OPTIMIZE_ABOVE_RULES {
        if let Err(err) = ctx.set_ctl_optimize(2) {
            tracing::debug!(error = %err, "seccomp binary tree optimization not available");
        }
    }
    for rule in &plan.rules {
        let what = || format!("the {:?} rule for syscall {:?}", rule.action, rule.name);
        if rule.conditions.is_empty() {
            ctx.add_rule(rule.action, rule.syscall)
                .map_err(lib_err(&rule.field, what()))?;
        } else {
            ctx.add_rule_conditional(rule.action, rule.syscall, &rule.conditions)
                .map_err(lib_err(&rule.field, what()))?;
        }
    }
    let instructions = export(&ctx)?;
    if instructions.len() > MAX_INSTRUCTIONS {
        return Err(Error::ProgramTooLong {
            len: instructions.len(),
            max: MAX_INSTRUCTIONS,
        });
    }
    Ok(instructions)
}

/// `seccomp_export_bpf` into a memfd, read back and decoded.
///
/// (`seccomp_export_bpf_mem` would save the memfd but needs libseccomp 2.6.)
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, Error> {
    let export_err = |reason: String| Error::Export { reason };
    let memfd = rustix::fs::memfd_create("berth-seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| export_err(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&memfd)
        .map_err(|e| export_err(format!("seccomp_export_bpf: {e}")))?;
    let mut file = File::from(memfd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| export_err(format!("reading the memfd back: {e}")))?;
    decode(&bytes).ok_or_else(|| {
        export_err(format!(
            "{} bytes is not a whole number of BPF instructions",
            bytes.len()
        ))
    })
}

/// Decode native-endian `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }` records.
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % SIZE != 0 {
        return None;
    }
    bytes
        .chunks_exact(SIZE)
        .map(|c| {
            Some(libc::sock_filter {
                code: u16::from_ne_bytes(c.get(0..2)?.try_into().ok()?),
                jt: *c.get(2)?,
                jf: *c.get(3)?,
                k: u32::from_ne_bytes(c.get(4..8)?.try_into().ok()?),
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
