//! `berth build`, end to end: real Dockerfiles built on the busybox
//! fixture image, the results run with `berth run`, their config and
//! history read back, the cache hit and missed, a build reproduced bit for
//! bit, a failing RUN, hostile contexts and malformed Dockerfiles.

mod support;

use std::path::Path;
use std::process::Output;

use support::{privileged, Berth};

/// A build context in a temp dir.
struct Ctx {
    dir: tempfile::TempDir,
}

impl Ctx {
    fn new(dockerfile: &str) -> Ctx {
        let dir = tempfile::tempdir().expect("ctx");
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("Dockerfile");
        Ctx { dir }
    }
    fn file(&self, rel: &str, body: &str) -> &Ctx {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
        self
    }
    fn path(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 path")
    }
}

/// Images a test built; removed when it ends.
struct Images<'b> {
    b: &'b Berth,
    names: Vec<String>,
}

impl<'b> Images<'b> {
    fn new(b: &'b Berth) -> Images<'b> {
        Images {
            b,
            names: Vec::new(),
        }
    }
    fn name(&mut self, base: &str) -> String {
        let n = format!("{base}-{}:t{}", std::process::id(), self.names.len());
        self.names.push(n.clone());
        n
    }
}

impl Drop for Images<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.b.run(&["rmi", "-f", n]);
        }
    }
}

fn build(b: &Berth, args: &[&str]) -> Output {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    b.run(&a)
}

fn ok_build(b: &Berth, args: &[&str]) -> String {
    let o = build(b, args);
    assert!(
        o.status.success(),
        "berth build {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn inspect(b: &Berth, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", name])).expect("json");
    v[0].clone()
}

/// The image's config blob, as stored.
fn config_doc(b: &Berth, name: &str) -> serde_json::Value {
    let id = inspect(b, name)["Id"].as_str().expect("Id").to_owned();
    let hex = id.trim_start_matches("sha256:");
    let p = b.f.root.join("content/sha256").join(hex);
    serde_json::from_slice(&std::fs::read(p).expect("config blob")).expect("config json")
}

fn from(b: &Berth) -> String {
    format!("FROM {}\n", b.image())
}

#[test]
fn instructions_make_the_files_config_and_history_docker_writes() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("every");
    let df = format!(
        "# syntax=docker/dockerfile:1\n{}ARG WHO=world\nENV APP=/srv/app GREETING=\"hello ${{WHO}}\"\nWORKDIR $APP\n\
         COPY --chmod=0755 run.sh bin/\nCOPY --chown=www:staff data/ ./data/\n\
         RUN echo \"$GREETING\" > greeting && \\\n    rm /bin/yes\n\
         RUN <<EOF\necho heredoc > /srv/app/here\nEOF\n\
         COPY <<CFG /etc/app.conf\nname=${{WHO}}\nCFG\n\
         USER www\nEXPOSE 8080 53/udp\nVOLUME /srv/data\nLABEL org.test=\"a b\" two=2\n\
         STOPSIGNAL SIGINT\nHEALTHCHECK --interval=30s --retries=2 CMD true\nONBUILD RUN echo child\n\
         ENTRYPOINT [\"/srv/app/bin/run.sh\"]\nCMD [\"default\"]\n",
        from(&b)
    );
    let ctx = Ctx::new(&df);
    ctx.file("run.sh", "#!/bin/sh\necho \"run $1 as $(id -u)\"\ncat /srv/app/greeting /srv/app/here /etc/app.conf\n")
        .file("data/x.txt", "x\n");
    let out = ok_build(&b, &["-t", &tag, "--build-arg", "WHO=berth", ctx.path()]);
    assert!(out.contains("RUN /bin/sh -c echo"), "{out}");

    let run = b.ok(&["run", "--rm", &tag]);
    assert_eq!(run, "run default as 33\nhello berth\nheredoc\nname=berth\n");
    let run = b.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "",
        &tag,
        "sh",
        "-c",
        "stat -c '%u:%g %a %n' data data/x.txt bin/run.sh; test -e /bin/yes || echo yes-gone; pwd",
    ]);
    assert_eq!(
        run,
        "33:50 755 data\n33:50 644 data/x.txt\n0:0 755 bin/run.sh\nyes-gone\n/srv/app\n"
    );

    let doc = config_doc(&b, &tag);
    let c = &doc["config"];
    assert_eq!(c["Env"][1], "APP=/srv/app");
    assert_eq!(c["Env"][2], "GREETING=hello berth");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "www");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/srv/app/bin/run.sh"]));
    assert_eq!(c["Cmd"], serde_json::json!(["default"]));
    assert!(c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/srv/data"].is_object());
    assert_eq!(c["Labels"]["org.test"], "a b");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo child"]));
    let hist: Vec<String> = doc["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or_default().to_owned())
        .collect();
    let new: Vec<&str> = hist[hist.len() - 16..].iter().map(String::as_str).collect();
    assert_eq!(
        new,
        [
            "ARG WHO=berth",
            "ENV APP=/srv/app GREETING=hello berth",
            "WORKDIR /srv/app # buildkit",
            "COPY --chmod=0755 run.sh /srv/app/bin/ # buildkit",
            "COPY --chown=www:staff data/ /srv/app/data/ # buildkit",
            "RUN |1 WHO=berth /bin/sh -c echo \"$GREETING\" > greeting &&     rm /bin/yes # buildkit",
            "RUN |1 WHO=berth /bin/sh -c echo heredoc > /srv/app/here\n # buildkit",
            "COPY <<CFG /etc/app.conf # buildkit",
            "USER www",
            "EXPOSE [8080/tcp 53/udp]",
            "VOLUME [/srv/data]",
            "LABEL org.test=a b two=2",
            "STOPSIGNAL SIGINT",
            "HEALTHCHECK {Test:[CMD-SHELL true] Interval:30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:2}",
            "ENTRYPOINT [\"/srv/app/bin/run.sh\"]",
            "CMD [\"default\"]",
        ]
    );
    // One layer per filesystem step (the base has one, without history).
    let layers = doc["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .len();
    let with_layer = doc["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["empty_layer"] != true && h["comment"] == "buildkit.dockerfile.v0")
        .count();
    assert_eq!((layers, with_layer), (7, 6));

    // ONBUILD runs in a child image.
    let child = imgs.name("child");
    let cctx = Ctx::new(&format!("FROM {tag}\n"));
    let out = ok_build(&b, &["-t", &child, cctx.path()]);
    assert!(out.contains("echo child"), "{out}");
    assert!(config_doc(&b, &child)["config"]["OnBuild"].is_null());
}

#[test]
fn multi_stage_copies_from_earlier_stages_and_skips_unneeded_ones() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("multi");
    let df = format!(
        "{f}AS build\nRUN mkdir /out && echo built > /out/artifact\n\
         {f}AS broken\nRUN exit 7\n\
         FROM scratch AS final\nCOPY --from=build /out/artifact /artifact\nCOPY --from=0 /bin/busybox /bin/busybox\n\
         CMD [\"/bin/busybox\", \"sh\", \"-c\", \"echo from scratch; busybox cat /artifact\"]\n",
        f = from(&b).trim_end().to_owned() + " "
    );
    let ctx = Ctx::new(&df);
    let out = ok_build(&b, &["-t", &tag, ctx.path()]);
    assert!(
        !out.contains("exit 7"),
        "the broken stage is not needed: {out}"
    );
    assert_eq!(b.ok(&["run", "--rm", &tag]), "from scratch\nbuilt\n");
    // --target picks a stage; the broken one fails with its exit code.
    let t2 = imgs.name("target");
    ok_build(&b, &["-t", &t2, "--target", "build", ctx.path()]);
    assert_eq!(
        b.ok(&["run", "--rm", &t2, "cat", "/out/artifact"]),
        "built\n"
    );
    let o = build(&b, &["--target", "broken", ctx.path()]);
    assert_eq!(o.status.code(), Some(1));
    let o = build(&b, &["--target", "nope", ctx.path()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("target stage \"nope\" could not be found"));
}

#[test]
fn dockerignore_globs_escape_directive_and_add_of_a_tar() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("ctx");
    let df = format!(
        "# escape=`\n{}COPY *.txt /t/\nCOPY . /all/\nADD pack.tar.gz /unpacked/\nRUN ls /t /all | tr '\\n' ' ' > /listing && `\n    ls /unpacked >> /listing\n",
        from(&b)
    );
    let ctx = Ctx::new(&df);
    ctx.file("a.txt", "a")
        .file("b.txt", "b")
        .file("c.log", "c")
        .file("secret/key", "k")
        .file("secret/public", "p")
        .file("sub/d.txt", "d")
        .file(
            ".dockerignore",
            "*.log\nsecret\n!secret/public\nDockerfile\n",
        );
    let mut tb = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    tb.append_data(&mut h, "inside/f", &b"tar"[..])
        .expect("tar");
    let gz = tb.into_inner().expect("tar").finish().expect("gz");
    std::fs::write(ctx.dir.path().join("pack.tar.gz"), gz).expect("write");
    ok_build(&b, &["-t", &tag, ctx.path()]);
    let out = b.ok(&["run", "--rm", &tag, "cat", "/listing", "/unpacked/inside/f"]);
    // `ls` of two dirs prints headers; the ignored files are absent.
    assert!(out.contains("a.txt b.txt"), "{out}");
    assert!(
        !out.contains("c.log") && !out.contains("key") && !out.contains("Dockerfile"),
        "{out}"
    );
    assert!(
        out.contains("secret") && out.contains("inside") && out.ends_with("tar"),
        "{out}"
    );
    let files = b.ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /all/secret/public; ls /all/sub",
    ]);
    assert_eq!(files, "pd.txt\n");
}

#[test]
fn cache_hits_misses_and_no_cache() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("cache");
    let marker = format!("{}-{:?}", std::process::id(), std::time::SystemTime::now());
    let df = format!(
        "{}RUN echo {marker} > /m\nCOPY f /f\nRUN cat /f /m > /both\n",
        from(&b)
    );
    let ctx = Ctx::new(&df);
    ctx.file("f", "one\n");
    let first = ok_build(&b, &["-t", &tag, ctx.path()]);
    assert!(!first.contains("CACHED"), "{first}");
    let id1 = inspect(&b, &tag)["Id"].clone();
    let second = ok_build(&b, &["-t", &tag, ctx.path()]);
    assert_eq!(second.matches("CACHED").count(), 3, "{second}");
    assert_eq!(
        inspect(&b, &tag)["Id"],
        id1,
        "a fully cached rebuild is the same image"
    );
    // A changed file misses from its COPY on; the first RUN still hits.
    ctx.file("f", "two\n");
    let third = ok_build(&b, &["-t", &tag, ctx.path()]);
    assert_eq!(third.matches("CACHED").count(), 1, "{third}");
    assert!(b
        .ok(&["run", "--rm", &tag, "cat", "/both"])
        .starts_with("two\n"));
    // A changed build arg misses the RUN that sees it.
    let df2 = format!("{}ARG V\nRUN echo {marker} $V > /v\n", from(&b));
    let ctx2 = Ctx::new(&df2);
    ok_build(&b, &["--build-arg", "V=1", ctx2.path()]);
    let hit = ok_build(&b, &["--build-arg", "V=1", ctx2.path()]);
    assert!(hit.contains("CACHED"), "{hit}");
    let miss = ok_build(&b, &["--build-arg", "V=2", ctx2.path()]);
    assert!(!miss.contains("CACHED"), "{miss}");
    let none = ok_build(&b, &["--no-cache", "-t", &tag, ctx.path()]);
    assert!(!none.contains("CACHED"), "{none}");
}

#[test]
fn source_date_epoch_reproduces_the_image_bit_for_bit() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let df = format!(
        "{}COPY f /f\nRUN mkdir -p /d && echo x > /d/x && rm /bin/true\nENV A=1\n",
        from(&b)
    );
    let ctx = Ctx::new(&df);
    ctx.file("f", "same\n");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let t = imgs.name("repro");
        ok_build(
            &b,
            &[
                "--no-cache",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "-t",
                &t,
                ctx.path(),
            ],
        );
        let i = inspect(&b, &t);
        ids.push((i["Id"].clone(), i["Descriptor"]["digest"].clone()));
        assert_eq!(config_doc(&b, &t)["created"], "2023-11-14T22:13:20Z");
    }
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn a_failing_run_names_the_step_and_keeps_nothing() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("fail");
    let ctx = Ctx::new(&format!(
        "{}RUN echo partial > /p && echo oops >&2 && exit 3\n",
        from(&b)
    ));
    let before = tmp_entries(&b.f.root.join("layers"));
    let o = build(&b, &["-t", &tag, ctx.path()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("oops"), "the output is shown: {err}");
    assert!(
        err.contains("Dockerfile:2: RUN echo partial")
            && err.contains("did not complete successfully: exit code: 3"),
        "{err}"
    );
    assert!(
        !b.run(&["image", "inspect", &tag]).status.success(),
        "no image was tagged"
    );
    assert_eq!(
        tmp_entries(&b.f.root.join("layers")),
        before,
        "no step leftovers"
    );
}

/// Step directories left by berth processes that have exited (other
/// tests' builds may be running meanwhile on the shared root).
fn tmp_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(".tmp-")
                        .and_then(|r| r.split('-').next())
                        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_hostile_context_cannot_reach_host_files() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("hostile");
    let ctx = Ctx::new(&format!(
        "{}COPY link-dir/ /copied/\nCOPY ../../../etc/hostname /h\n",
        from(&b)
    ));
    std::os::unix::fs::symlink("/etc", ctx.dir.path().join("link-dir")).expect("symlink");
    std::fs::write(ctx.dir.path().join("etc-hostname-decoy"), "x").expect("w");
    // `link-dir` points at /etc: resolved inside the context, where no etc exists.
    let o = build(&b, &["-t", &tag, ctx.path()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not found in the build context"), "{err}");
    // `..` is clamped to the context root.
    let ctx2 = Ctx::new(&format!("{}COPY ../../../../etc/passwd /p\n", from(&b)));
    let o = build(&b, &[ctx2.path()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"../../../../etc/passwd\": not found"));
}

#[test]
fn malformed_dockerfiles_and_flags_get_clear_errors() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let ctx = Ctx::new(&format!("{}RUNN echo\n", from(&b)));
    let o = build(&b, &[ctx.path()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("Dockerfile:2:1: unknown instruction: RUNN (did you mean RUN?)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = build(&b, &["--platform", "linux/s390x", ctx.path()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("host platform only"));
    let o = build(&b, &["-t", "Bad Tag", ctx.path()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid tag"));
    let ok = Ctx::new(&format!("{}ADD https://example.com/x /x\n", from(&b)));
    let o = build(&b, &[ok.path()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("remote sources"));
}

#[test]
fn dockerfile_from_stdin_with_and_without_a_context() {
    if !privileged() {
        return;
    }
    use std::io::Write as _;
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("stdin");
    let ctx = Ctx::new("FROM scratch\n");
    ctx.file("f", "from context\n");
    let df = format!("{}COPY f /f\nCMD [\"cat\", \"/f\"]\n", from(&b));
    let run_with_stdin = |args: &[&str], input: &str| {
        let mut c = b.cmd();
        c.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn berth");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let o = run_with_stdin(&["build", "-q", "-t", &tag, "-f", "-", ctx.path()], &df);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("sha256:"));
    assert_eq!(b.ok(&["run", "--rm", &tag]), "from context\n");
    // `-` as the context: no files to copy.
    let o = run_with_stdin(&["build", "-"], &df);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"f\": not found in the build context"));
}

/// Interface names in `ip -o link` output (`2: eth0@if5: <...>`).
fn link_names(out: &str) -> Vec<String> {
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

/// Leases and namespaces of RUN steps whose build (`berth-build-PID-N`)
/// has ended: what a build left behind.
fn step_networks_left(b: &Berth) -> Vec<String> {
    let mut left = Vec::new();
    for dir in ["net-leases", "netns"] {
        for e in std::fs::read_dir(b.f.run_root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let n = e.file_name().to_string_lossy().into_owned();
            let pid = n
                .strip_prefix("berth-build-")
                .and_then(|r| r.split('-').next());
            if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                left.push(format!("{dir}/{n}"));
            }
        }
    }
    left
}

#[test]
fn run_steps_get_docker_networks_bridge_none_and_host() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("net");
    let ctx = Ctx::new(&format!(
        "{}RUN ip -o link > /links && ip -o -4 addr show dev eth0 > /addr\n\
         RUN --network=none ip -o link > /links-none\n\
         RUN --network=host ip -o link > /links-host\n",
        from(&b)
    ));
    ok_build(&b, &["-t", &tag, ctx.path()]);
    let cat = |img: &str, f: &str| b.ok(&["run", "--rm", "--network", "none", img, "cat", f]);
    assert_eq!(link_names(&cat(&tag, "/links")), ["eth0", "lo"]);
    let addr = cat(&tag, "/addr");
    assert!(
        addr.contains("inet 10.213."),
        "eth0 has an address on the default bridge (10.213.0.0/16): {addr}"
    );
    assert_eq!(link_names(&cat(&tag, "/links-none")), ["lo"]);
    let host = link_names(&cat(&tag, "/links-host"));
    let host_links = link_names(&b.host_cmd("ip", &["-o", "link"]));
    assert!(
        host.contains(&"berth0".to_owned()) && host_links.contains(&"berth0".to_owned()),
        "--network=host sees the tests' namespace (with the bridge): {host:?}"
    );
    // `berth build --network`: the default of every RUN step.
    for (flag, want) in [("none", vec!["lo"]), ("bridge", vec!["eth0", "lo"])] {
        let t = imgs.name("netflag");
        let c = Ctx::new(&format!("{}RUN ip -o link > /links\n", from(&b)));
        ok_build(&b, &["--network", flag, "-t", &t, c.path()]);
        assert_eq!(link_names(&cat(&t, "/links")), want, "--network {flag}");
    }
    let t = imgs.name("nethost");
    let c = Ctx::new(&format!("{}RUN ip -o link > /links\n", from(&b)));
    ok_build(&b, &["--network", "host", "-t", &t, c.path()]);
    assert!(link_names(&cat(&t, "/links")).contains(&"berth0".to_owned()));
    let o = build(&b, &["--network", "mynet", c.path()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--network mynet"));
    assert_eq!(step_networks_left(&b), Vec::<String>::new());
}

#[test]
fn network_gc_leaves_a_running_steps_attachment_alone() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("netgc");
    // The step waits (at most a minute) for the test to have run the
    // networks' gc, then looks at its interfaces again.
    let ctx = Ctx::new(&format!(
        "{}RUN --mount=type=bind,target=/ctx ip -o link > /before; \
         i=0; while [ ! -e /ctx/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
         ip -o link > /after\n",
        from(&b)
    ));
    let go = ctx.dir.path().join("go");
    let out = std::thread::scope(|s| {
        let build = s.spawn(|| build(&b, &["--no-cache", "-t", &tag, ctx.path()]));
        let leases = b.f.run_root.join("net-leases");
        for _ in 0..600 {
            let held = std::fs::read_dir(&leases)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("berth-build-"));
            if held || build.is_finished() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // `network ls` runs the gc of crashed containers' networks.
        let gc = b.run(&["network", "ls"]);
        std::fs::write(&go, "").expect("go");
        (gc, build.join().expect("build thread"))
    });
    let (gc, built) = out;
    assert!(gc.status.success());
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let cat = |f: &str| b.ok(&["run", "--rm", "--network", "none", &tag, "cat", f]);
    assert_eq!(link_names(&cat("/before")), ["eth0", "lo"]);
    assert_eq!(
        link_names(&cat("/after")),
        ["eth0", "lo"],
        "gc took the step's eth0"
    );
    assert_eq!(step_networks_left(&b), Vec::<String>::new());
}

#[test]
fn independent_stages_run_at_the_same_time() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("parallel");
    // Each stage announces itself in the (shared, writable) context and
    // waits up to 60 s for the other: run one after the other, the first
    // would give up and see only itself.
    let stage = |me: &str, other: &str| {
        format!(
            "{f} AS {me}\nRUN --mount=type=bind,target=/ctx,rw touch /ctx/{me}; \
             i=0; while [ ! -e /ctx/{other} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
             ls /ctx > /seen\n",
            f = from(&b).trim_end()
        )
    };
    let ctx = Ctx::new(&format!(
        "{}{}FROM {} AS final\nCOPY --from=one /seen /one-seen\nCOPY --from=two /seen /two-seen\n",
        stage("one", "two"),
        stage("two", "one"),
        b.image()
    ));
    let out = ok_build(&b, &["--no-cache", "-t", &tag, ctx.path()]);
    for f in ["/one-seen", "/two-seen"] {
        let seen = b.ok(&["run", "--rm", "--network", "none", &tag, "cat", f]);
        let names: Vec<&str> = seen.lines().collect();
        assert!(
            names.contains(&"one") && names.contains(&"two"),
            "{f}: {names:?}; the stages did not overlap:\n{out}"
        );
    }
    // Step numbers stay unique across the stages' processes.
    let mut headers: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" [") && l.starts_with('#'))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let n = headers.len();
    headers.sort_unstable();
    headers.dedup();
    assert_eq!(headers.len(), n, "{out}");
    assert!(
        out.contains("[one 2/2] RUN") && out.contains("[two 2/2] RUN"),
        "{out}"
    );
}

#[test]
fn a_failing_stage_in_parallel_fails_the_build() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let f = from(&b);
    let f = f.trim_end();
    let ctx = Ctx::new(&format!(
        "{f} AS good\nRUN echo fine > /x\n{f} AS bad\nRUN exit 9\n\
         {f}\nCOPY --from=good /x /x\nCOPY --from=bad /etc/passwd /p\n"
    ));
    let o = build(&b, &[ctx.path()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ERROR: Dockerfile:4: RUN exit 9") && err.contains("exit code: 9"),
        "{err}"
    );
}

#[test]
fn symbolic_chmod_and_workdir_owned_by_the_user() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let mut imgs = Images::new(&b);
    let tag = imgs.name("modes");
    let ctx = Ctx::new(&format!(
        "{}WORKDIR /made/by/root\nCOPY --chmod=u+x,go-w run.sh /run.sh\n\
         COPY --chmod=a=rX d /d\nUSER www\nWORKDIR /srv/app\nWORKDIR /tmp\n",
        from(&b)
    ));
    ctx.file("run.sh", "echo hi\n").file("d/f", "x\n");
    for p in ["run.sh", "d/f"] {
        let f = ctx.dir.path().join(p);
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .expect("chmod");
    }
    ok_build(&b, &["-t", &tag, ctx.path()]);
    let stat = |p: &str| {
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "0",
            &tag,
            "stat",
            "-c",
            "%a %u:%g",
            p,
        ])
        .trim()
        .to_owned()
    };
    assert_eq!(stat("/run.sh"), "744 0:0");
    assert_eq!(stat("/d/f"), "444 0:0");
    assert_eq!(stat("/made"), "755 0:0");
    assert_eq!(stat("/made/by/root"), "755 0:0");
    // BuildKit gives what WORKDIR creates to the USER; /tmp existed.
    assert_eq!(stat("/srv"), "755 33:33");
    assert_eq!(stat("/srv/app"), "755 33:33");
    assert_eq!(stat("/tmp"), "1777 0:0");
}
