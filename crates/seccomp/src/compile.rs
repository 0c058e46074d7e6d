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
mod tests {
    use super::*;

    fn spec(json: &str) -> LinuxSeccomp {
        match serde_json::from_str(json) {
            Ok(spec) => spec,
            Err(err) => panic!("test spec does not parse: {err}\n{json}"),
        }
    }

    fn plan_of(json: &str) -> Plan {
        match plan(&spec(json)) {
            Ok(plan) => plan,
            Err(err) => panic!("plan failed: {err}"),
        }
    }

    #[test]
    fn invalid_profiles_name_field_and_value() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid",""],"action":"SCMP_ACT_ERRNO"}]}"#,
                "linux.seccomp.syscalls[0].names[1]: empty syscall name",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_LOG"},
                   {"names":["Mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
                r#"linux.seccomp.syscalls[1].names[0]: invalid syscall name "Mkdir" (expected lowercase letters, digits and '_')"#,
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_LOG"},
                   {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},
                   {"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "linux.seccomp.syscalls[1].args[1].index: argument index 6 is out of range (syscalls have arguments 0..=5)",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
                "linux.seccomp.syscalls[0].errnoRet: 70000 is out of range (0..=65535)",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_TRACE","errnoRet":65536}]}"#,
                "linux.seccomp.syscalls[0].errnoRet: 65536 is out of range (0..=65535)",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":4294967295}"#,
                "linux.seccomp.defaultErrnoRet: 4294967295 is out of range (0..=65535)",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/run/agent.sock"}"#,
                "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action \
                 (the runtime's own syscalls after loading would wait for an agent that has no fd yet)",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_LOG"},
                   {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath to be set",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
                   "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
                r#"linux.seccomp.listenerPath: "/run/agent.sock" is set but no syscall rule uses SCMP_ACT_NOTIFY"#,
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                   "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
                "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV requires a syscall rule with SCMP_ACT_NOTIFY",
            ),
        ];
        for (json, want) in cases {
            match compile(&spec(json)) {
                Ok(program) => panic!("expected error {want:?}, compiled {program:?}"),
                Err(err) => assert_eq!(err.to_string(), *want, "for {json}"),
            }
        }
    }

    #[test]
    fn unknown_names_are_rejected_when_the_spec_is_parsed() {
        // Actions, operators, architectures and flags are enums in oci-spec:
        // a typo never reaches `compile`.
        for json in [
            r#"{"defaultAction":"SCMP_ACT_DENY"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_EPERM"}]}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO",
                "args":[{"index":0,"value":1,"op":"SCMP_CMP_APPROX"}]}]}"#,
        ] {
            assert!(
                serde_json::from_str::<LinuxSeccomp>(json).is_err(),
                "{json} parsed"
            );
        }
    }

    #[test]
    fn valid_profiles_compile() {
        let cases = [
            r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#,
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["read","write","exit_group","socketcall"],"action":"SCMP_ACT_ALLOW"}]}"#,
            r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},
                {"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},{"names":["clone"],"action":"SCMP_ACT_ALLOW",
                "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","listenerMetadata":"m",
                "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"},{"names":["getppid"],"action":"SCMP_ACT_TRAP"},
                {"names":["ptrace"],"action":"SCMP_ACT_TRACE","errnoRet":7},{"names":["chroot"],"action":"SCMP_ACT_KILL_THREAD"},
                {"names":["uname"],"action":"SCMP_ACT_LOG"},{"names":["acct"],"action":"SCMP_ACT_KILL"}]}"#,
        ];
        for json in cases {
            let program = match compile(&spec(json)) {
                Ok(program) => program,
                Err(err) => panic!("{json}: {err}"),
            };
            let len = program.instructions().len();
            assert!((1..=MAX_INSTRUCTIONS).contains(&len), "{len} instructions");
        }
    }

    #[test]
    fn long_profiles_use_the_optimized_layout_and_compile() {
        let names: Vec<String> = [
            "read", "write", "openat", "close", "fstat", "mmap", "munmap", "brk",
        ]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
        .map(|(i, n)| format!(r#"{{"names":["{n}"],"action":"SCMP_ACT_ERRNO","errnoRet":{i}}}"#))
        .collect();
        let json = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#,
            names.join(",")
        );
        assert!(compile(&spec(&json)).is_ok());
    }

    #[test]
    fn architectures_unknown_to_libseccomp_name_the_field() {
        // Loongarch64 needs libseccomp >= 2.6; either it works or the error says where.
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_LOONGARCH64"]}"#;
        if let Err(err) = compile(&spec(json)) {
            let msg = err.to_string();
            assert!(
                msg.starts_with("linux.seccomp.architectures[1]: libseccomp rejected architecture Loongarch64: "),
                "{msg}"
            );
        }
    }

    #[test]
    fn rules_equal_to_the_default_are_skipped() {
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
                {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                {"names":["chdir"],"action":"SCMP_ACT_ERRNO","errnoRet":2},
                {"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let names: Vec<_> = plan.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["chdir", "getpid"]);
        assert_eq!(plan.default_action, ScmpAction::Errno(libc::EPERM));
        // KILL is KILL_THREAD, so they are equal too.
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_KILL_THREAD"}]}"#,
        );
        assert!(plan.rules.is_empty());
        assert!(compile(&spec(r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_KILL_THREAD"}]}"#)).is_ok());
    }

    #[test]
    fn unknown_syscalls_are_skipped_and_recorded() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["no_such_syscall_xyz","mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let plan = plan_of(json);
        assert_eq!(plan.skipped_syscalls, ["no_such_syscall_xyz"]);
        assert_eq!(plan.rules.len(), 1);
        assert_eq!(
            plan.rules.first().map(|r| r.field.as_str()),
            Some("linux.seccomp.syscalls[0].names[1]")
        );
        match compile(&spec(json)) {
            Ok(program) => assert_eq!(program.skipped_syscalls(), ["no_such_syscall_xyz"]),
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn conditions_on_distinct_arguments_are_anded_in_one_rule() {
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ERRNO",
               "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_NE"}]}]}"#,
        );
        let conditions: Vec<_> = plan.rules.iter().map(|r| r.conditions.clone()).collect();
        assert_eq!(
            conditions,
            [vec![
                ScmpArgCompare::new(0, ScmpCompareOp::Equal, 16),
                ScmpArgCompare::new(2, ScmpCompareOp::NotEqual, 9)
            ]]
        );
    }

    #[test]
    fn conditions_sharing_an_argument_are_split_into_ored_rules() {
        // runc's quirk: once any index repeats, *every* condition becomes its own rule.
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality","getpgid"],"action":"SCMP_ACT_ERRNO",
               "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":9,"op":"SCMP_CMP_EQ"},
                       {"index":1,"value":3,"op":"SCMP_CMP_GT"}]}]}"#,
        );
        let rules: Vec<_> = plan
            .rules
            .iter()
            .map(|r| (r.name.as_str(), r.conditions.clone()))
            .collect();
        let each = |name| {
            [
                (name, vec![ScmpArgCompare::new(0, ScmpCompareOp::Equal, 8)]),
                (name, vec![ScmpArgCompare::new(0, ScmpCompareOp::Equal, 9)]),
                (
                    name,
                    vec![ScmpArgCompare::new(1, ScmpCompareOp::Greater, 3)],
                ),
            ]
        };
        let want: Vec<_> = each("personality")
            .into_iter()
            .chain(each("getpgid"))
            .collect();
        assert_eq!(rules, want);
    }

    #[test]
    fn operators_map_like_runc() {
        let ops = [
            ("SCMP_CMP_NE", ScmpCompareOp::NotEqual),
            ("SCMP_CMP_LT", ScmpCompareOp::Less),
            ("SCMP_CMP_LE", ScmpCompareOp::LessOrEqual),
            ("SCMP_CMP_EQ", ScmpCompareOp::Equal),
            ("SCMP_CMP_GE", ScmpCompareOp::GreaterEqual),
            ("SCMP_CMP_GT", ScmpCompareOp::Greater),
        ];
        for (name, op) in ops {
            let plan = plan_of(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["kill"],"action":"SCMP_ACT_ERRNO",
                   "args":[{{"index":1,"value":5,"valueTwo":99,"op":"{name}"}}]}}]}}"#
            ));
            let got: Vec<_> = plan.rules.iter().map(|r| r.conditions.clone()).collect();
            assert_eq!(got, [vec![ScmpArgCompare::new(1, op, 5)]], "{name}");
        }
        // MASKED_EQ: (arg & value) == valueTwo.
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO",
               "args":[{"index":0,"value":268435456,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        let got: Vec<_> = plan.rules.iter().map(|r| r.conditions.clone()).collect();
        assert_eq!(
            got,
            [vec![ScmpArgCompare::new(
                0,
                ScmpCompareOp::MaskedEqual(0x1000_0000),
                0x1000_0000
            )]]
        );
    }

    #[test]
    fn actions_and_return_values() {
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
                {"names":["a1"],"action":"SCMP_ACT_ERRNO"},
                {"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":5},
                {"names":["write"],"action":"SCMP_ACT_TRACE"},
                {"names":["open"],"action":"SCMP_ACT_TRACE","errnoRet":65535},
                {"names":["close"],"action":"SCMP_ACT_KILL"},
                {"names":["stat"],"action":"SCMP_ACT_KILL_PROCESS"},
                {"names":["fstat"],"action":"SCMP_ACT_TRAP"},
                {"names":["lstat"],"action":"SCMP_ACT_LOG"},
                {"names":["poll"],"action":"SCMP_ACT_ALLOW","errnoRet":3}]}"#,
        );
        assert_eq!(plan.default_action, ScmpAction::Errno(38));
        let got: Vec<_> = plan
            .rules
            .iter()
            .map(|r| (r.name.as_str(), r.action))
            .collect();
        assert_eq!(
            got,
            [
                ("read", ScmpAction::Errno(5)),
                ("write", ScmpAction::Trace(1)),
                ("open", ScmpAction::Trace(65535)),
                ("close", ScmpAction::KillThread),
                ("stat", ScmpAction::KillProcess),
                ("fstat", ScmpAction::Trap),
                ("lstat", ScmpAction::Log),
                ("poll", ScmpAction::Allow),
            ]
        );
        // "a1" is well-formed but unknown.
        assert_eq!(plan.skipped_syscalls, ["a1"]);
    }

    #[test]
    fn flags_and_listener() {
        let plan = plan_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG",
               "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#,
        );
        assert_eq!(
            plan.flags,
            libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
        assert!(!plan.notify);

        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","listenerMetadata":"meta",
            "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#;
        let program = match compile(&spec(json)) {
            Ok(program) => program,
            Err(err) => panic!("{err}"),
        };
        assert!(program.needs_listener());
        assert_eq!(
            program.listener_path(),
            Some(std::path::Path::new("/run/agent.sock"))
        );
        assert_eq!(program.listener_metadata(), Some("meta"));
        assert_eq!(
            program.load_flags(),
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        );
    }

    #[test]
    fn decode_rejects_partial_instructions() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[0; 12]).is_none());
        let one = decode(&[6, 0, 1, 2, 0, 0, 0xff, 0x7f]).unwrap_or_default();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one.first().map(|i| (i.code, i.jt, i.jf)),
            Some((u16::from_ne_bytes([6, 0]), 1, 2))
        );
        assert_eq!(
            one.first().map(|i| i.k),
            Some(u32::from_ne_bytes([0, 0, 0xff, 0x7f]))
        );
    }
}
