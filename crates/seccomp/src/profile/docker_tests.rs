//! Docker profile files: conditions, architectures and every malformed field.

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

use super::docker::{parse, MAX_PROFILE_BYTES};
use super::host::Host;

fn host(arch: &'static str, seccomp_arch: Arch, release: &str) -> Host {
    Host::new(arch, Some(seccomp_arch), release.to_owned())
}

fn amd64() -> Host {
    host("amd64", Arch::ScmpArchX86_64, "6.18.0-1-amd64")
}

fn parsed(json: &str, host: &Host, caps: &[&str]) -> LinuxSeccomp {
    let caps: Vec<String> = caps.iter().map(|c| (*c).to_owned()).collect();
    match parse(json.as_bytes(), host, &caps) {
        Ok(profile) => profile,
        Err(err) => panic!("{err}\n{json}"),
    }
}

/// The names of the entries kept, in order.
fn kept(profile: &LinuxSeccomp) -> Vec<String> {
    profile
        .syscalls()
        .iter()
        .flatten()
        .map(|s| s.names().join(","))
        .collect()
}

#[test]
fn a_plain_oci_profile_is_taken_as_it_is() {
    let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
        "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
        "flags":["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath":"/run/agent.sock","listenerMetadata":"m",
        "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                    {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                    {"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#;
    let ours = parsed(json, &amd64(), &[]);
    let oci: LinuxSeccomp = serde_json::from_str(json).expect("valid OCI JSON");
    assert_eq!(ours, oci);
}

const CONDITIONAL: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
    {"names":["always"],"action":"SCMP_ACT_ALLOW","includes":{},"excludes":{}},
    {"names":["with_admin"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
    {"names":["with_admin_and_bpf"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN","CAP_BPF"]}},
    {"names":["without_admin"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN"]}},
    {"names":["without_admin_or_bpf"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN","CAP_BPF"]}},
    {"names":["on_amd64"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
    {"names":["not_on_arm64"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["arm64"]}},
    {"names":["from_5_10"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"5.10"}},
    {"names":["before_5_10"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"5.10"}},
    {"names":["amd64_without_admin"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]},"excludes":{"caps":["CAP_SYS_ADMIN"]}}
]}"#;

#[test]
fn includes_need_every_condition_and_excludes_any() {
    let cases: &[(Host, &[&str], &[&str])] = &[
        (
            amd64(),
            &[],
            &[
                "always",
                "without_admin",
                "without_admin_or_bpf",
                "on_amd64",
                "not_on_arm64",
                "from_5_10",
                "amd64_without_admin",
            ],
        ),
        (
            amd64(),
            &["CAP_SYS_ADMIN"],
            &[
                "always",
                "with_admin",
                "on_amd64",
                "not_on_arm64",
                "from_5_10",
            ],
        ),
        (
            amd64(),
            &["CAP_BPF"],
            &[
                "always",
                "without_admin",
                "on_amd64",
                "not_on_arm64",
                "from_5_10",
                "amd64_without_admin",
            ],
        ),
        (
            amd64(),
            &["CAP_BPF", "CAP_SYS_ADMIN"],
            &[
                "always",
                "with_admin",
                "with_admin_and_bpf",
                "on_amd64",
                "not_on_arm64",
                "from_5_10",
            ],
        ),
        (
            host("arm64", Arch::ScmpArchAarch64, "5.4.0"),
            &[],
            &[
                "always",
                "without_admin",
                "without_admin_or_bpf",
                "before_5_10",
            ],
        ),
        (
            host("amd64", Arch::ScmpArchX86_64, "5.10.1"),
            &[],
            &[
                "always",
                "without_admin",
                "without_admin_or_bpf",
                "on_amd64",
                "not_on_arm64",
                "from_5_10",
                "amd64_without_admin",
            ],
        ),
    ];
    for (host, caps, want) in cases {
        assert_eq!(
            kept(&parsed(CONDITIONAL, host, caps)),
            *want,
            "{} {caps:?}",
            host.arch
        );
    }
}

#[test]
fn min_kernel_on_a_host_of_unknown_version_is_an_error() {
    let odd = host("amd64", Arch::ScmpArchX86_64, "weird");
    let err = parse(CONDITIONAL.as_bytes(), &odd, &[]).expect_err("minKernel cannot be decided");
    assert_eq!(
        err.to_string(),
        "seccomp profile: syscalls[7].includes.minKernel: the host's kernel version is needed \
         but its release \"weird\" does not start with <version>.<major>"
    );
}

const ARCH_MAP: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[
    {"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]},
    {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]},
    {"architecture":"SCMP_ARCH_RISCV64","subArchitectures":null}],
    "syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW","args":null,"comment":"",
                 "includes":{},"excludes":{}}]}"#;

#[test]
fn arch_map_picks_the_host_line() {
    let arches = |host: &Host| parsed(ARCH_MAP, host, &[]).architectures().clone();
    assert_eq!(
        arches(&amd64()),
        Some(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32
        ])
    );
    assert_eq!(
        arches(&host("arm64", Arch::ScmpArchAarch64, "6.1")),
        Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm])
    );
    assert_eq!(
        arches(&host("riscv64", Arch::ScmpArchRiscv64, "6.1")),
        Some(vec![Arch::ScmpArchRiscv64])
    );
    assert_eq!(arches(&host("s390x", Arch::ScmpArchS390x, "6.1")), None);
    let profile = parsed(ARCH_MAP, &amd64(), &[]);
    assert_eq!(kept(&profile), ["read"]);
    assert_eq!(
        profile
            .syscalls()
            .iter()
            .flatten()
            .next()
            .map(|s| s.action()),
        Some(LinuxSeccompAction::ScmpActAllow)
    );
}

#[test]
fn malformed_profiles_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (" \n", "seccomp profile: the document: the profile is empty"),
        ("[]", "seccomp profile: the document: a seccomp profile is a JSON object, like {\"defaultAction\""),
        ("{\"defaultAction\":", "seccomp profile: defaultAction: EOF while parsing a value at line 1 column 17"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW"} {}"#, "seccomp profile: trailing characters at line 1 column 36"),
        ("{}", "seccomp profile: missing field `defaultAction` at line 1 column 2"),
        (r#"{"defaultaction":"SCMP_ACT_ALLOW"}"#,
         "seccomp profile: defaultaction: unknown field `defaultaction`, expected one of `defaultAction`, \
          `defaultErrnoRet`, `architectures`, `archMap`, `flags`, `listenerPath`, `listenerMetadata`, `syscalls` \
          at line 1 column 16"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_PERMIT"}]}"#,
         "seccomp profile: syscalls[1].action: unknown variant `SCMP_ACT_PERMIT`, expected one of"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":"read","action":"SCMP_ACT_ALLOW"}]}"#,
         "seccomp profile: syscalls[0].names: invalid type: string \"read\", expected a sequence"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",
            "includes":{"caps":["CAP_SYS_ADMIN"],"kernel":"5.1"}}]}"#,
         "seccomp profile: syscalls[0].includes.kernel: unknown field `kernel`, expected one of `caps`, `arches`, `minKernel`"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",
            "args":[{"index":-1,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
         "seccomp profile: syscalls[0].args[0].index: invalid value: integer `-1`, expected usize"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}]}"#,
         "seccomp profile: archMap: both architectures and archMap are set; use one of them"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#,
         "seccomp profile: syscalls[0].name: both name and names are set; use names"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ALLOW"}]}"#,
         "seccomp profile: syscalls[0].names: no syscall names; list at least one"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}"#,
         "seccomp profile: syscalls[0].names: no syscall names; list at least one"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read","Write"],"action":"SCMP_ACT_ALLOW"}]}"#,
         "seccomp profile: syscalls[0].names[1]: invalid syscall name \"Write\" (expected lowercase letters, digits and '_')"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[""],"action":"SCMP_ACT_ALLOW"}]}"#,
         "seccomp profile: syscalls[0].names[0]: empty syscall name"),
        (r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65536}"#,
         "seccomp profile: defaultErrnoRet: 65536 is out of range (0..=65535)"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
         "seccomp profile: syscalls[0].errnoRet: 70000 is out of range (0..=65535)"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
         "seccomp profile: syscalls[0].args[1].index: argument index 6 is out of range (syscalls have arguments 0..=5)"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "excludes":{"caps":["SYS_ADMIN"]}}]}"#,
         "seccomp profile: syscalls[0].excludes.caps[0]: \"SYS_ADMIN\" is not a capability name; write them like \"CAP_SYS_ADMIN\""),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "includes":{"minKernel":"4"}}]}"#,
         "seccomp profile: syscalls[0].includes.minKernel: \"4\" is not a kernel version; expected \"<version>.<major>\" like \"4.8\""),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "includes":{"minKernel":"0.0"}}]}"#,
         "seccomp profile: syscalls[0].includes.minKernel: \"0.0\" is not a kernel version"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "includes":{"minKernel":"4.8.1"}}]}"#,
         "seccomp profile: syscalls[0].includes.minKernel: \"4.8.1\" is not a kernel version"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "includes":{"minKernel":"+4.8"}}]}"#,
         "seccomp profile: syscalls[0].includes.minKernel: \"+4.8\" is not a kernel version"),
    ];
    for (json, want) in cases {
        match parse(json.as_bytes(), &amd64(), &[]) {
            Ok(profile) => panic!("expected {want:?}, parsed {profile:?}"),
            Err(err) => {
                let msg = err.to_string();
                assert!(msg.starts_with(want), "got {msg:?}\nwant {want:?}");
            }
        }
    }
}

#[test]
fn oversized_profiles_are_refused_before_parsing() {
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerMetadata":"{}"}}"#,
        "x".repeat(MAX_PROFILE_BYTES)
    );
    let err = parse(json.as_bytes(), &amd64(), &[]).expect_err("too large");
    assert_eq!(
        err.to_string(),
        format!(
            "seccomp profile: {} bytes is too large (at most 1048576 bytes are read)",
            json.len()
        )
    );
}

#[test]
fn errors_are_checked_on_entries_whatever_their_conditions() {
    // The entry would be dropped on this host, but its mistake is still reported.
    let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["Read"],"action":"SCMP_ACT_ERRNO",
        "includes":{"arches":["s390x"]}}]}"#;
    let err = parse(json.as_bytes(), &amd64(), &[]).expect_err("bad name");
    assert!(
        err.to_string()
            .starts_with("seccomp profile: syscalls[0].names[0]: invalid syscall name"),
        "{err}"
    );
}

#[test]
fn the_parsed_profile_compiles() {
    let profile = parsed(ARCH_MAP, &amd64(), &[]);
    if let Err(err) = crate::compile(&profile) {
        panic!("{err}");
    }
}
