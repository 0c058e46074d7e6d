//! The parser's table: Dockerfiles and what they parse to, and malformed
//! ones with the line, column and message of their error.

use super::*;

fn one(text: &str) -> Kind {
    let df = parse(&format!("FROM base\n{text}\n")).unwrap_or_else(|e| panic!("{text}: {e}"));
    df.stages[0].instructions[0].kind.clone()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn each_instruction_and_form() {
    let table: Vec<(&str, Kind)> = vec![
        (
            "RUN echo hi",
            Kind::Run {
                command: Command::Shell("echo hi".into()),
                mounts: vec![],
                network: None,
                heredocs: vec![],
            },
        ),
        (
            "run [\"echo\", \"hi\"]",
            Kind::Run {
                command: Command::Exec(s(&["echo", "hi"])),
                mounts: vec![],
                network: None,
                heredocs: vec![],
            },
        ),
        (
            "RUN --mount=type=cache,target=/c --network=none make",
            Kind::Run {
                command: Command::Shell("make".into()),
                mounts: s(&["type=cache,target=/c"]),
                network: Some("none".into()),
                heredocs: vec![],
            },
        ),
        (
            "RUN [not json",
            Kind::Run {
                command: Command::Shell("[not json".into()),
                mounts: vec![],
                network: None,
                heredocs: vec![],
            },
        ),
        ("CMD [\"a\"]", Kind::Cmd(Command::Exec(s(&["a"])))),
        ("CMD a b", Kind::Cmd(Command::Shell("a b".into()))),
        (
            "ENTRYPOINT [\"/bin/x\", \"-y\"]",
            Kind::Entrypoint(Command::Exec(s(&["/bin/x", "-y"]))),
        ),
        (
            "SHELL [\"/bin/bash\", \"-c\"]",
            Kind::Shell(s(&["/bin/bash", "-c"])),
        ),
        (
            "ENV A=1 B=\"two words\" C=$A",
            Kind::Env(pairs(&[("A", "1"), ("B", "\"two words\""), ("C", "$A")])),
        ),
        (
            "ENV LEGACY value with spaces",
            Kind::Env(pairs(&[("LEGACY", "value with spaces")])),
        ),
        (
            "LABEL a=b \"c d\"=e",
            Kind::Label(pairs(&[("a", "b"), ("\"c d\"", "e")])),
        ),
        (
            "ARG A B=2",
            Kind::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))]),
        ),
        ("WORKDIR /app", Kind::Workdir("/app".into())),
        ("USER www:staff", Kind::User("www:staff".into())),
        ("EXPOSE 80 443/tcp", Kind::Expose(s(&["80", "443/tcp"]))),
        ("VOLUME [\"/a\", \"/b\"]", Kind::Volume(s(&["/a", "/b"]))),
        ("VOLUME /a /b", Kind::Volume(s(&["/a", "/b"]))),
        ("STOPSIGNAL SIGINT", Kind::StopSignal("SIGINT".into())),
        ("MAINTAINER me", Kind::Maintainer("me".into())),
        ("HEALTHCHECK NONE", Kind::Healthcheck(Health::None)),
        (
            "HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f x",
            Kind::Healthcheck(Health::Cmd {
                test: s(&["CMD-SHELL", "curl -f x"]),
                interval: Some(Duration::from_secs(90)),
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: Some(3),
            }),
        ),
        (
            "HEALTHCHECK CMD [\"true\"]",
            Kind::Healthcheck(Health::Cmd {
                test: s(&["CMD", "true"]),
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: None,
            }),
        ),
        (
            "COPY --from=build --chown=1:2 --chmod=755 --link a b /dst/",
            Kind::Copy(CopyArgs {
                sources: s(&["a", "b"]),
                dest: "/dst/".into(),
                from: Some("build".into()),
                chown: Some("1:2".into()),
                chmod: Some("755".into()),
                link: true,
                exclude: vec![],
                heredocs: vec![],
            }),
        ),
        (
            "COPY [\"a b\", \"/c\"]",
            Kind::Copy(CopyArgs {
                sources: s(&["a b"]),
                dest: "/c".into(),
                ..Default::default()
            }),
        ),
        (
            "ADD x.tar /",
            Kind::Add(CopyArgs {
                sources: s(&["x.tar"]),
                dest: "/".into(),
                ..Default::default()
            }),
        ),
    ];
    for (text, want) in table {
        assert_eq!(one(text), want, "{text}");
    }
}

#[test]
fn onbuild_keeps_its_trigger() {
    match one("ONBUILD RUN echo x") {
        Kind::Onbuild(expr, inner) => {
            assert_eq!(expr, "RUN echo x");
            assert!(matches!(inner.kind, Kind::Run { .. }));
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn stages_and_meta_args() {
    let df = parse(
        "ARG V=1\nARG BASE\nFROM ${BASE:-busybox}:$V AS Build\nRUN x\nfrom build as final\nCOPY --from=build /a /b\n",
    )
    .unwrap();
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stages[0].base, "${BASE:-busybox}:$V");
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stages[1].base, "build");
    assert_eq!(df.stages[1].instructions.len(), 1);
}

#[test]
fn escape_directive_changes_continuations_and_words() {
    let df =
        parse("# escape=`\nFROM base\nRUN dir c:\\ `\n  && echo ok\nENV P=c:\\path\n").unwrap();
    let ins = &df.stages[0].instructions;
    assert_eq!(
        ins[0].kind,
        Kind::Run {
            command: Command::Shell("dir c:\\   && echo ok".into()),
            mounts: vec![],
            network: None,
            heredocs: vec![]
        }
    );
    assert_eq!(ins[1].kind, Kind::Env(pairs(&[("P", "c:\\path")])));
}

#[test]
fn heredoc_instructions() {
    let df = parse("FROM base\nRUN <<EOF\necho a\nEOF\nCOPY <<X /f\nbody\nX\n").unwrap();
    match &df.stages[0].instructions[0].kind {
        Kind::Run { heredocs, .. } => assert_eq!(heredocs[0].content, "echo a\n"),
        k => panic!("{k:?}"),
    }
    match &df.stages[0].instructions[1].kind {
        Kind::Copy(c) => {
            assert_eq!(c.sources, s(&["<<X"]));
            assert_eq!(c.heredocs[0].content, "body\n");
        }
        k => panic!("{k:?}"),
    }
}

/// Malformed input → (line, column, part of the message).
#[test]
fn errors_name_line_column_and_expectation() {
    let table: &[(&str, usize, usize, &str)] = &[
        (
            "FROM a\nRUNN x\n",
            2,
            1,
            "unknown instruction: RUNN (did you mean RUN?)",
        ),
        (
            "FROM a\nFOOBARBAZ x\n",
            2,
            1,
            "unknown instruction: FOOBARBAZ",
        ),
        ("RUN x\n", 1, 1, "only ARG may come before FROM"),
        ("# c\n", 1, 1, "file with no instructions"),
        ("ARG x\n", 1, 1, "no FROM instruction"),
        (
            "FROM a b\n",
            1,
            6,
            "FROM requires either one or three arguments",
        ),
        ("FROM a AS 1x\n", 1, 11, "invalid name for build stage"),
        ("FROM a\nCOPY --frm=x a b\n", 2, 6, "unknown flag: --frm"),
        (
            "FROM a\n  COPY --from=a --from=b a b\n",
            2,
            17,
            "duplicate flag specified: --from",
        ),
        (
            "FROM a\nCOPY onlyone\n",
            2,
            6,
            "COPY requires at least two arguments",
        ),
        ("FROM a\nRUN\n", 2, 4, "RUN requires at least one argument"),
        ("FROM a\nENV\n", 2, 4, "ENV requires at least one argument"),
        ("FROM a\nENV A=1 B\n", 2, 9, "can't find = in \"B\""),
        ("FROM a\nENV ONLYKEY\n", 2, 5, "ENV must have two arguments"),
        (
            "FROM a\nSHELL sh -c\n",
            2,
            7,
            "SHELL requires the arguments to be in JSON form",
        ),
        (
            "FROM a\nCMD [\"a\", 1]\n",
            2,
            5,
            "arrays must be comprised of strings only",
        ),
        (
            "FROM a\nHEALTHCHECK WHAT x\n",
            2,
            13,
            "Unknown type \"WHAT\" in HEALTHCHECK",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=soon CMD x\n",
            2,
            13,
            "invalid duration \"soon\"",
        ),
        (
            "FROM a\nONBUILD FROM x\n",
            2,
            9,
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nWORKDIR\n",
            2,
            8,
            "WORKDIR requires exactly one argument",
        ),
        (
            "FROM a\nRUN <<EOF\nnever ends\n",
            2,
            1,
            "unterminated heredoc",
        ),
        ("FROM a AS x\nFROM b AS x\n", 2, 1, "duplicate stage name"),
        (
            "FROM a\nRUN a \\\n  b \\\n  --x\nCOPY --bad a b\n",
            5,
            6,
            "unknown flag: --bad",
        ),
        ("FROM a\nUSER --x=1 me\n", 2, 6, "USER takes no flags"),
        ("FROM a\nRUN --link x\n", 2, 5, "unknown flag: --link"),
        (
            "FROM a\nCOPY --link=maybe a b\n",
            2,
            6,
            "expecting boolean value",
        ),
    ];
    for (text, line, col, msg) in table {
        let e = parse(text).expect_err(text);
        assert!(e.message.contains(msg), "{text:?}: got {e}");
        assert_eq!((e.line, e.column), (*line, *col), "{text:?}: {e}");
    }
}

#[test]
fn durations_as_go_writes_them() {
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration(""), None);
}
