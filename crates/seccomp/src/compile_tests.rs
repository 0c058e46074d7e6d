//! Unit tests of `compile`: no privileges, nothing is loaded.

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
            msg.starts_with(
                "linux.seccomp.architectures[1]: libseccomp rejected architecture Loongarch64: "
            ),
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
