//! Docker's seccomp profile files (`--security-opt seccomp=FILE`).
//!
//! The format is the OCI `LinuxSeccomp` object plus Docker's additions:
//! `archMap` (architectures chosen by the host's), and per syscall entry a
//! deprecated single `name`, a `comment`, and `includes` / `excludes`
//! conditions on the container's capabilities, the host's architecture and
//! its kernel version. A plain OCI profile is therefore a valid file too.
//!
//! The file is untrusted: it is read into types (unknown fields rejected, so a
//! misspelt key is an error rather than a silently missing rule), then every
//! field is checked, and only then are the conditions evaluated, so that a
//! mistake is reported whatever host the file is used on.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;

use super::defaults::{has_cap, oci_arg};
use super::error::ProfileError;
use super::host::{Host, KernelVersion};

/// Real profiles are tens of KiB (Docker's default is about 20).
pub(super) const MAX_PROFILE_BYTES: usize = 1 << 20;
/// A syscall has arguments 0..=5.
const MAX_ARG_INDEX: usize = 5;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Profile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<Arch>>,
    arch_map: Option<Vec<ArchMapEntry>>,
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArchMapEntry {
    architecture: Arch,
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Syscall {
    names: Option<Vec<String>>,
    /// Docker's deprecated form of a one-element `names`.
    name: Option<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Option<Vec<Arg>>,
    /// Accepted and ignored.
    #[serde(rename = "comment")]
    _comment: Option<String>,
    includes: Option<Filter>,
    excludes: Option<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Arg {
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filter {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    min_kernel: Option<String>,
}

/// A checked `includes` or `excludes`.
#[derive(Debug, Default)]
struct Condition {
    field: String,
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<KernelVersion>,
}

/// A checked syscall entry with its conditions.
#[derive(Debug)]
struct Entry {
    syscall: LinuxSyscall,
    includes: Condition,
    excludes: Condition,
}

/// Read a Docker or OCI profile and resolve it for a container with `caps` on `host`.
pub(super) fn parse(
    json: &[u8],
    host: &Host,
    caps: &[String],
) -> Result<LinuxSeccomp, ProfileError> {
    if json.len() > MAX_PROFILE_BYTES {
        return Err(ProfileError::TooLarge {
            len: json.len(),
            max: MAX_PROFILE_BYTES,
        });
    }
    let profile = deserialize(json)?;
    check_errno(profile.default_errno_ret, "defaultErrnoRet")?;
    let architectures = architectures(profile.architectures, profile.arch_map, host)?;
    let entries = profile
        .syscalls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, s)| entry(&format!("syscalls[{i}]"), s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut syscalls = Vec::with_capacity(entries.len());
    for entry in entries {
        if applies(&entry, host, caps)? {
            syscalls.push(entry.syscall);
        }
    }

    let mut spec = LinuxSeccomp::default();
    spec.set_default_action(profile.default_action)
        .set_default_errno_ret(profile.default_errno_ret)
        .set_architectures(architectures)
        .set_flags(profile.flags)
        .set_listener_path(profile.listener_path)
        .set_listener_metadata(profile.listener_metadata)
        .set_syscalls(Some(syscalls));
    Ok(spec)
}

fn deserialize(json: &[u8]) -> Result<Profile, ProfileError> {
    // serde would also read a struct from a JSON array; a profile is an object.
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => return Err(ProfileError::invalid(
            "the document",
            "a seccomp profile is a JSON object, like {\"defaultAction\": \"SCMP_ACT_ERRNO\", ...}",
        )),
        None => {
            return Err(ProfileError::invalid(
                "the document",
                "the profile is empty",
            ))
        }
    }
    let json_err = |path: String, err: serde_json::Error| ProfileError::Json {
        field: if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        },
        reason: err.to_string(),
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let profile = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        json_err(path, err.into_inner())
    })?;
    de.end().map_err(|err| json_err(".".to_owned(), err))?;
    Ok(profile)
}

/// `architectures` as given, or the host's line of `archMap`.
fn architectures(
    architectures: Option<Vec<Arch>>,
    arch_map: Option<Vec<ArchMapEntry>>,
    host: &Host,
) -> Result<Option<Vec<Arch>>, ProfileError> {
    let arch_map = arch_map.unwrap_or_default();
    if arch_map.is_empty() {
        return Ok(architectures);
    }
    if architectures.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ProfileError::invalid(
            "archMap",
            "both architectures and archMap are set; use one of them",
        ));
    }
    let Some(native) = host.seccomp_arch else {
        return Ok(None);
    };
    Ok(arch_map
        .into_iter()
        .find(|entry| entry.architecture == native)
        .map(|entry| {
            let mut arches = vec![entry.architecture];
            arches.extend(entry.sub_architectures.unwrap_or_default());
            arches
        }))
}

/// Check one `syscalls[i]` entry and turn it into its OCI form.
fn entry(field: &str, syscall: Syscall) -> Result<Entry, ProfileError> {
    let names = match (syscall.name, syscall.names) {
        (Some(_), Some(names)) if !names.is_empty() => {
            return Err(ProfileError::invalid(
                format!("{field}.name"),
                "both name and names are set; use names",
            ))
        }
        (Some(name), _) => vec![name],
        (None, names) => names.unwrap_or_default(),
    };
    if names.is_empty() {
        return Err(ProfileError::invalid(
            format!("{field}.names"),
            "no syscall names; list at least one",
        ));
    }
    for (j, name) in names.iter().enumerate() {
        check_name(&format!("{field}.names[{j}]"), name)?;
    }
    check_errno(syscall.errno_ret, &format!("{field}.errnoRet"))?;
    let args = syscall
        .args
        .map(|args| {
            args.into_iter()
                .enumerate()
                .map(|(k, arg)| check_arg(&format!("{field}.args[{k}]"), arg))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;

    let mut oci = LinuxSyscall::default();
    oci.set_names(names)
        .set_action(syscall.action)
        .set_errno_ret(syscall.errno_ret)
        .set_args(args);
    Ok(Entry {
        syscall: oci,
        includes: condition(format!("{field}.includes"), syscall.includes)?,
        excludes: condition(format!("{field}.excludes"), syscall.excludes)?,
    })
}

fn check_name(field: &str, name: &str) -> Result<(), ProfileError> {
    if name.is_empty() {
        return Err(ProfileError::invalid(field, "empty syscall name"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ProfileError::invalid(
            field,
            format!("invalid syscall name {name:?} (expected lowercase letters, digits and '_')"),
        ));
    }
    Ok(())
}

/// Seccomp return values carry 16 bits of data.
fn check_errno(value: Option<u32>, field: &str) -> Result<(), ProfileError> {
    match value {
        Some(v) if v > u32::from(u16::MAX) => Err(ProfileError::invalid(
            field,
            format!("{v} is out of range (0..=65535)"),
        )),
        _ => Ok(()),
    }
}

fn check_arg(field: &str, arg: Arg) -> Result<LinuxSeccompArg, ProfileError> {
    if arg.index > MAX_ARG_INDEX {
        return Err(ProfileError::invalid(
            format!("{field}.index"),
            format!(
                "argument index {} is out of range (syscalls have arguments 0..={MAX_ARG_INDEX})",
                arg.index
            ),
        ));
    }
    Ok(oci_arg(arg.index, arg.op, arg.value, arg.value_two))
}

fn condition(field: String, filter: Option<Filter>) -> Result<Condition, ProfileError> {
    let filter = filter.unwrap_or_default();
    let caps = filter.caps.unwrap_or_default();
    for (k, cap) in caps.iter().enumerate() {
        let well_formed = cap.strip_prefix("CAP_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        if !well_formed {
            return Err(ProfileError::invalid(
                format!("{field}.caps[{k}]"),
                format!("{cap:?} is not a capability name; write them like \"CAP_SYS_ADMIN\""),
            ));
        }
    }
    let min_kernel = match filter.min_kernel.as_deref() {
        None | Some("") => None,
        Some(text) => Some(KernelVersion::from_min_kernel(text).ok_or_else(|| {
            ProfileError::invalid(
                format!("{field}.minKernel"),
                format!(
                    "{text:?} is not a kernel version; expected \"<version>.<major>\" like \"4.8\""
                ),
            )
        })?),
    };
    Ok(Condition {
        field,
        caps,
        arches: filter.arches.unwrap_or_default(),
        min_kernel,
    })
}

/// Docker's rule: an entry is dropped if any exclusion holds, or if any
/// inclusion fails (all listed capabilities are needed).
fn applies(entry: &Entry, host: &Host, caps: &[String]) -> Result<bool, ProfileError> {
    let ex = &entry.excludes;
    if host.is_arch(&ex.arches)
        || ex.caps.iter().any(|c| has_cap(caps, c))
        || kernel_at_least(ex, host)? == Some(true)
    {
        return Ok(false);
    }
    let inc = &entry.includes;
    Ok((inc.arches.is_empty() || host.is_arch(&inc.arches))
        && inc.caps.iter().all(|c| has_cap(caps, c))
        && kernel_at_least(inc, host)? != Some(false))
}

/// Whether the host kernel is at least the condition's `minKernel`; `None` without one.
fn kernel_at_least(condition: &Condition, host: &Host) -> Result<Option<bool>, ProfileError> {
    let Some(min) = condition.min_kernel else {
        return Ok(None);
    };
    host.kernel_at_least(min)
        .map(Some)
        .ok_or_else(|| ProfileError::UnknownKernel {
            field: format!("{}.minKernel", condition.field),
            release: host.release.clone(),
        })
}
