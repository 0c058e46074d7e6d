//! `exec`, `top`, `stats`, `cp`, `version`, `info`, `system df/prune` and
//! `rmi` of an image in use, end to end with real containers.

mod support;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{privileged, Berth};

/// A detached `sleep` container; its id.
fn sleeper(b: &Berth, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[b.image(), "sleep", "1000"]);
    b.ok(&args).trim().to_owned()
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn exec_joins_the_container_with_its_env_user_and_workdir() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("exec");
    sleeper(&b, &name, &["-e", "FOO=bar", "-w", "/tmp"]);
    // The container's pid namespace: its init is pid 1.
    let ps = b.ok(&["exec", &name, "ps", "-o", "pid,args"]);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 1000")),
        "{ps}"
    );
    let out = b.ok(&[
        "exec",
        "-e",
        "BAR=baz",
        "-e",
        "FOO=over",
        &name,
        "sh",
        "-c",
        "echo $FOO $BAR; pwd; id -u; echo $HOME",
    ]);
    assert_eq!(out, "over baz\n/tmp\n0\n/root\n");
    let out = b.ok(&[
        "exec",
        "-u",
        "www",
        "-w",
        "/etc",
        &name,
        "sh",
        "-c",
        "id -u; id -g; pwd; echo $HOME",
    ]);
    assert_eq!(out, "33\n33\n/etc\n/var/www\n");
    let dir = tempfile::tempdir().expect("tmp");
    let envf = dir.path().join("env");
    std::fs::write(&envf, "# comment\nFROMFILE=yes\n").expect("env file");
    let out = b.ok(&[
        "exec",
        "--env-file",
        envf.to_str().expect("utf-8"),
        &name,
        "sh",
        "-c",
        "echo $FROMFILE",
    ]);
    assert_eq!(out, "yes\n");
    // Default capabilities, and every one with --privileged.
    let caps = |extra: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[&name, "grep", "CapEff", "/proc/self/status"]);
        b.ok(&a)
    };
    assert!(caps(&[]).contains("00000000a80425fb"), "{}", caps(&[]));
    assert!(!caps(&["--privileged"]).contains("a80425fb"));
    // A relative -w is refused.
    let o = b.run(&["exec", "-w", "tmp", &name, "pwd"]);
    assert_eq!(o.status.code(), Some(125), "{:?}", text(&o));
}

#[test]
fn exec_exit_codes_like_docker() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("exec-codes");
    sleeper(&b, &name, &[]);
    let o = b.run(&["exec", &name, "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(text(&o), ("out\n".into(), "err\n".into()));
    let o = b.run(&["exec", &name, "no-such-program"]);
    assert_eq!(o.status.code(), Some(127), "{:?}", text(&o));
    assert!(
        text(&o).1.contains("executable file not found"),
        "{:?}",
        text(&o)
    );
    let o = b.run(&["exec", &name, "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{:?}", text(&o));
    let o = b.run(&["exec", &name, "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(137));
    let o = b.run(&["exec", "no-such-container-here", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("No such container"), "{:?}", text(&o));
    b.ok(&["pause", &name]);
    let o = b.run(&["exec", &name, "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("is paused, unpause the container before exec"),
        "{:?}",
        text(&o)
    );
    b.ok(&["unpause", &name]);
    // -t without a terminal around: the output still comes through the pty.
    let o = b.run(&["exec", "-t", &name, "sh", "-c", "tty; exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    assert!(text(&o).0.starts_with("/dev/pts/"), "{:?}", text(&o));
    b.ok(&["stop", "-t", "0", &name]);
    let o = b.run(&["exec", &name, "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("is not running"), "{:?}", text(&o));
    let o = b.run(&["exec", &name]);
    assert_eq!(o.status.code(), Some(125), "no command: a usage error");
}

#[test]
fn exec_detached_and_interactive() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("exec-d");
    sleeper(&b, &name, &[]);
    let start = Instant::now();
    let out = b.ok(&[
        "exec",
        "-d",
        &name,
        "sh",
        "-c",
        "sleep 1; echo done > /tmp/marker",
    ]);
    assert_eq!(out, "");
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "-d returns at once"
    );
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let o = b.run(&["exec", &name, "cat", "/tmp/marker"]);
        if o.status.success() {
            assert_eq!(text(&o).0, "done\n");
            break;
        }
        assert!(Instant::now() < end, "the detached process never wrote");
        std::thread::sleep(Duration::from_millis(100));
    }
    // -i forwards stdin; without it the process reads nothing.
    let mut child = b
        .cmd()
        .args(["exec", "-i", &name, "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\nend\n");
    let o = b
        .cmd()
        .args(["exec", &name, "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .output()
        .expect("exec without -i");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "end\n");
}

#[test]
fn exec_with_a_terminal_relays_both_ways_and_resizes() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("exec-t");
    sleeper(&b, &name, &[]);
    let (mut child, mut master, reader) = on_a_terminal(&b, &["exec", "-it", &name, "sh"]);
    std::thread::sleep(Duration::from_millis(500));
    master
        .write_all(b"tty; busybox stty size; echo $TERM; echo $((6*7))\n")
        .expect("type");
    std::thread::sleep(Duration::from_millis(300));
    berth_sys::pty::set_size(&master, 40, 120).expect("resize");
    berth_sys::signal::kill(child.id() as i32, libc::SIGWINCH).expect("SIGWINCH");
    std::thread::sleep(Duration::from_millis(300));
    master
        .write_all(b"busybox stty size; exit 5\n")
        .expect("type");
    let status = child.wait().expect("wait");
    let out = reader.join().expect("reader");
    assert_eq!(status.code(), Some(5), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("30 100"), "initial size: {out}");
    assert!(out.contains("40 120"), "resized: {out}");
    assert!(out.contains("xterm"), "{out}");
    assert!(out.contains("42"), "{out}");
    // The caller's terminal is back in cooked mode (the master reads the
    // slave's settings).
    let attrs = rustix::termios::tcgetattr(&master).expect("attrs");
    assert!(attrs
        .local_modes
        .contains(rustix::termios::LocalModes::ECHO | rustix::termios::LocalModes::ICANON));
}

#[test]
fn top_lists_the_containers_processes_only() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("top");
    sleeper(&b, &name, &[]);
    let out = b.ok(&["top", &name]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].ends_with("sleep 1000"), "{out}");
    // With ps options: the host's ps, filtered to the container's pids.
    let out = b.ok(&["top", &name, "-o", "pid,comm"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out
        .lines()
        .nth(1)
        .expect("row")
        .trim_end()
        .ends_with("sleep"));
    let o = b.run(&["top", &name, "-o", "comm"]);
    assert_eq!(o.status.code(), Some(1), "no PID column: {:?}", text(&o));
    b.ok(&["stop", "-t", "0", &name]);
    let o = b.run(&["top", &name]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("is not running"), "{:?}", text(&o));
}

#[test]
fn stats_no_stream_format_and_live_blocks() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("stats");
    let id = b
        .ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "-m",
            "64m",
            b.image(),
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/shm/x bs=1M count=8; while :; do :; done",
        ])
        .trim()
        .to_owned();
    std::thread::sleep(Duration::from_millis(500));
    let out = b.ok(&["stats", "--no-stream", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(lines[0].contains(col), "{col}: {out}");
    }
    assert!(lines[1].starts_with(&id[..12]), "{out}");
    assert!(lines[1].contains(&name));
    assert!(lines[1].contains("/ 64MiB"), "the limit: {out}");
    let f = b.ok(&[
        "stats",
        "--no-stream",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
        &name,
    ]);
    let parts: Vec<&str> = f.split_whitespace().collect();
    assert_eq!(parts[0], id);
    let cpu: f64 = parts[1].trim_end_matches('%').parse().expect("cpu %");
    assert!(cpu > 30.0, "a busy loop uses most of a CPU: {f}");
    let mem = parts[2];
    assert!(mem.ends_with("MiB"), "8 MiB of shm is charged: {f}");
    assert_eq!(parts[5], "1", "one shell: {f}");
    let o = b.ok(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    assert!(o.lines().any(|l| l == name));
    let o = b.run(&["stats", "--no-stream", "--format", "{{.Nope}}"]);
    assert_eq!(o.status.code(), Some(125));
    // Live, not on a terminal: one block after another.
    let mut child = b
        .cmd()
        .args(["stats", "--format", "{{.Name}}", &name])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(2600));
    let _ = child.kill();
    let o = child.wait_with_output().expect("wait");
    let n = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| *l == name)
        .count();
    assert!(n >= 2, "{n} blocks");
    // Not running: listed with -a only, with zeros.
    b.ok(&["stop", "-t", "0", &name]);
    let o = b.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}"]);
    assert!(!o.lines().any(|l| l.starts_with(&name)), "{o}");
    let o = b.ok(&[
        "stats",
        "-a",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}}",
    ]);
    assert!(o.lines().any(|l| l == format!("{name} 0.00%")), "{o}");
}

/// A host directory with `f` ("hello"), `d/g` ("deep") and `d/h`.
fn host_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tmp");
    std::fs::write(t.path().join("f"), "hello").expect("f");
    std::fs::create_dir(t.path().join("d")).expect("d");
    std::fs::write(t.path().join("d/g"), "deep").expect("g");
    std::fs::write(t.path().join("d/h"), "other").expect("h");
    t
}

/// `cp` both ways with Docker's rules, on a running and a stopped container.
#[test]
fn cp_both_ways_with_dockers_path_rules() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("cp");
    sleeper(&b, &name, &[]);
    let t = host_tree();
    let h = |p: &str| t.path().join(p).to_string_lossy().into_owned();
    let c = |p: &str| format!("{name}:{p}");
    for stopped in [false, true] {
        if stopped {
            b.ok(&["stop", "-t", "0", &name]);
        }
        let dst = if stopped { "/srv/s" } else { "/srv/r" };
        // Host → container: a file into a directory, a file renamed, a
        // directory as a new one, a directory's contents with `/.`.
        if !stopped {
            b.ok(&["exec", &name, "mkdir", "-p", dst]);
        } else {
            b.ok(&["cp", &h("d/."), &c(dst)]);
            b.ok(&["cp", &h("f"), &c(&format!("{dst}/"))]);
        }
        b.ok(&["cp", &h("f"), &c(&format!("{dst}/"))]);
        b.ok(&["cp", &h("f"), &c(&format!("{dst}/renamed"))]);
        b.ok(&["cp", &h("d"), &c(&format!("{dst}/newdir"))]);
        b.ok(&["cp", &h("d"), &c(dst)]);
        b.ok(&["cp", &h("d/."), &c(&format!("{dst}/newdir"))]);
        // Container → host.
        let out = tempfile::tempdir().expect("out");
        let o = |p: &str| out.path().join(p);
        let os = |p: &str| o(p).to_string_lossy().into_owned();
        b.ok(&["cp", &c(dst), &os("")]);
        let base = o(dst.trim_start_matches("/srv/"));
        assert_eq!(std::fs::read_to_string(base.join("f")).expect("f"), "hello");
        assert_eq!(
            std::fs::read_to_string(base.join("renamed")).expect("r"),
            "hello"
        );
        assert_eq!(
            std::fs::read_to_string(base.join("newdir/g")).expect("g"),
            "deep"
        );
        assert_eq!(
            std::fs::read_to_string(base.join("d/h")).expect("h"),
            "other"
        );
        b.ok(&["cp", &c(&format!("{dst}/f")), &os("copied")]);
        assert_eq!(
            std::fs::read_to_string(o("copied")).expect("copied"),
            "hello"
        );
        b.ok(&["cp", &c(&format!("{dst}/d/.")), &os("contents")]);
        assert!(o("contents/g").is_file() && o("contents/h").is_file());
        // Docker's refusals.
        let e = b.run(&["cp", &h("d"), &c(&format!("{dst}/f"))]);
        assert_eq!(e.status.code(), Some(1));
        assert!(
            text(&e).1.contains("cannot copy directory"),
            "{:?}",
            text(&e)
        );
        let e = b.run(&["cp", &h("f"), &c("/no/such/dir/")]);
        assert_eq!(e.status.code(), Some(1), "{:?}", text(&e));
        let e = b.run(&["cp", &c("/nope"), &os("x")]);
        assert_eq!(e.status.code(), Some(1));
        assert!(
            text(&e).1.contains("Could not find the file /nope"),
            "{:?}",
            text(&e)
        );
        let e = b.run(&["cp", &c(&format!("{dst}/f/")), &os("x")]);
        assert!(text(&e).1.contains("not a directory"), "{:?}", text(&e));
    }
    // Still stopped: the copy mounted and unmounted its rootfs.
    let rootfs = b
        .container_dir(b.ok(&["inspect", "-f", "{{.Id}}", &name]).trim())
        .join("rootfs");
    assert_eq!(
        std::fs::read_dir(&rootfs).expect("rootfs").count(),
        0,
        "unmounted"
    );
    // And the running container sees what was copied while it was stopped.
    b.ok(&["start", &name]);
    assert_eq!(
        b.ok(&["exec", &name, "cat", "/srv/s/g", "/srv/s/renamed"]),
        "deephello"
    );
    let e = b.run(&["cp", &h("f"), &h("g")]);
    assert_eq!(e.status.code(), Some(1));
    assert!(text(&e)
        .1
        .contains("must specify at least one container source"));
}

#[test]
fn cp_tar_streams_owners_and_links() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("cp-tar");
    sleeper(&b, &name, &[]);
    b.ok(&[
        "exec", &name, "sh", "-c",
        "mkdir -p /data/sub && echo x > /data/sub/x && chown 33:33 /data/sub/x && ln -s sub/x /data/link",
    ]);
    // To stdout: a tar named after the source.
    let o = b
        .cmd()
        .args(["cp", &format!("{name}:/data"), "-"])
        .output()
        .expect("cp");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut a = tar::Archive::new(&o.stdout[..]);
    let mut names = Vec::new();
    for e in a.entries().expect("entries") {
        let e = e.expect("entry");
        let p = e.path().expect("path").to_string_lossy().into_owned();
        if p == "data/sub/x" {
            assert_eq!(e.header().uid().expect("uid"), 33);
        }
        if p == "data/link" {
            assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
        }
        names.push(p);
    }
    assert!(names.contains(&"data/sub/x".to_owned()), "{names:?}");
    // From stdin: extracted into a directory; root-owned unless -a.
    for (flag, uid) in [(None, "0"), (Some("-a"), "33")] {
        let mut args = vec!["cp"];
        args.extend(flag);
        let target = format!("/in{}", uid);
        b.ok(&["exec", &name, "mkdir", &target]);
        let dest = format!("{name}:{target}");
        args.extend(["-", dest.as_str()]);
        let mut child = b
            .cmd()
            .args(&args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("cp -");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&o.stdout)
            .expect("tar");
        assert!(child.wait().expect("wait").success());
        let got = b.ok(&[
            "exec",
            &name,
            "stat",
            "-c",
            "%u",
            &format!("{target}/data/sub/x"),
        ]);
        assert_eq!(got.trim(), uid);
    }
    let mut child = b
        .cmd()
        .args(["cp", "-", &format!("{name}:/data/sub/x")])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cp -");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&o.stdout)
        .expect("tar");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    // -L follows a source symlink; without it the link itself is copied.
    let t = tempfile::tempdir().expect("tmp");
    let link = t.path().join("link");
    b.ok(&["cp", &format!("{name}:/data/link"), &link.to_string_lossy()]);
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    let file = t.path().join("file");
    b.ok(&[
        "cp",
        "-L",
        &format!("{name}:/data/link"),
        &file.to_string_lossy(),
    ]);
    assert_eq!(std::fs::read_to_string(&file).expect("file"), "x\n");
}

/// Symlinks in the container pointing at `/` or `../../..` resolve inside
/// the container: cp neither reads nor writes the host's files through them.
#[test]
fn cp_never_follows_a_container_symlink_onto_the_host() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    let name = b.name("cp-escape");
    sleeper(&b, &name, &[]);
    b.ok(&[
        "exec", &name, "sh", "-c",
        "ln -s / /escape && ln -s ../../../../../.. /up && mkdir /box && ln -s /etc/../../.. /box/deep",
    ]);
    // A host file only the host has.
    let secret_dir = tempfile::tempdir().expect("tmp");
    let secret = secret_dir.path().join("secret");
    std::fs::write(&secret, "host only").expect("secret");
    let s = secret.to_string_lossy().into_owned();
    let t = tempfile::tempdir().expect("out");
    let out = t.path().join("got").to_string_lossy().into_owned();
    let unique = format!("berth-cp-escape-{}", std::process::id());
    let payload = t.path().join(&unique);
    std::fs::write(&payload, "payload").expect("payload");
    for stopped in [false, true] {
        if stopped {
            b.ok(&["stop", "-t", "0", &name]);
        }
        for via in ["/escape", "/up", "/box/deep"] {
            // Reading: the host's file is not found in the container.
            let o = b.run(&["cp", &format!("{name}:{via}{s}"), &out]);
            assert_eq!(o.status.code(), Some(1), "{via}: {:?}", text(&o));
            assert!(
                !std::path::Path::new(&out).exists(),
                "{via}: read the host's file"
            );
            // Writing: lands in the container's /tmp, not the host's.
            b.ok(&[
                "cp",
                &payload.to_string_lossy(),
                &format!("{name}:{via}/tmp/"),
            ]);
            assert!(
                !std::path::Path::new("/tmp").join(&unique).exists(),
                "{via}: wrote on the host"
            );
        }
        // A symlink as the destination's parent, and -L through `/`.
        let o = b.run(&["cp", "-L", &format!("{name}:/escape{s}"), &out]);
        assert_eq!(o.status.code(), Some(1));
    }
    b.ok(&["start", &name]);
    assert_eq!(
        b.ok(&["exec", &name, "cat", &format!("/tmp/{unique}")]),
        "payload"
    );
}

/// A berth root of its own (for counts and prunes that would disturb the
/// other tests' containers), with one imported busybox image `solo:v1`.
struct Isolated {
    dir: tempfile::TempDir,
    /// Its own network namespace (see `support::berth_command_in`).
    netns: std::fs::File,
}

impl Isolated {
    fn new() -> Isolated {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
        let ns = dir.path().join("netns");
        berth_net::create_netns(&ns).expect("a network namespace");
        let netns = std::fs::File::open(&ns).expect("open netns");
        let iso = Isolated { dir, netns };
        let tar = iso.dir.path().join("layer.tar");
        std::fs::write(&tar, support::busybox_layer()).expect("layer");
        iso.ok(&["import", &tar.to_string_lossy(), "solo:v1"]);
        iso
    }

    fn cmd(&self) -> std::process::Command {
        let mut c = support::berth_command_in(&self.netns);
        c.arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--run-root")
            .arg(self.dir.path().join("run"))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let out = self.dir.path().join("out");
        let err = self.dir.path().join("err");
        let status = self
            .cmd()
            .args(args)
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .status()
            .expect("berth");
        std::process::Output {
            status,
            stdout: std::fs::read(&out).expect("out"),
            stderr: std::fs::read(&err).expect("err"),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "berth {args:?}: {:?}", text(&o));
        text(&o).0
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in text(&ids).0.lines() {
            let _ = self.run(&["rm", "-f", "-v", id]);
        }
        // Its bridge and rules go with the namespace.
        let _ = berth_net::remove_netns(&self.dir.path().join("netns"));
    }
}

#[test]
fn version_and_info_report_the_engine() {
    if !privileged() {
        return;
    }
    let iso = Isolated::new();
    let v = iso.ok(&["version"]);
    assert!(v.starts_with("Client:\n Version:"), "{v}");
    assert!(v.contains("\nServer: ") && v.contains(" Engine:\n"), "{v}");
    let j: serde_json::Value =
        serde_json::from_str(&iso.ok(&["version", "--format", "json"])).expect("json");
    assert_eq!(j["Server"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        iso.ok(&["version", "--format", "{{.Client.Version}}"])
            .trim(),
        env!("CARGO_PKG_VERSION")
    );
    iso.ok(&["run", "-d", "--name", "up", "solo:v1", "sleep", "1000"]);
    iso.ok(&["run", "--name", "done", "solo:v1", "true"]);
    iso.ok(&["run", "-d", "--name", "frozen", "solo:v1", "sleep", "1000"]);
    iso.ok(&["pause", "frozen"]);
    let info = iso.ok(&["info"]);
    for line in [
        " Containers: 3\n  Running: 1\n  Paused: 1\n  Stopped: 1\n Images: 1\n",
        " Storage Driver: overlay2\n",
        " Cgroup Driver: cgroupfs\n",
        " Default Runtime: berth-runtime\n",
    ] {
        assert!(info.contains(line), "{line:?} in {info}");
    }
    assert!(info.contains(" Cgroup Version: 1\n") || info.contains(" Cgroup Version: 2\n"));
    assert!(!info.contains("Total Memory: 0B"), "{info}");
    let f = iso.ok(&[
        "info",
        "--format",
        "{{.ContainersRunning}}/{{.ContainersStopped}} {{.Driver}}",
    ]);
    assert_eq!(f.trim(), "1/1 overlay2");
    let j: serde_json::Value =
        serde_json::from_str(&iso.ok(&["system", "info", "--format", "json"])).expect("json");
    assert_eq!(j["Containers"], 3);
    assert!(j["NCPU"].as_u64().expect("ncpu") >= 1);
}

#[test]
fn system_df_and_prune() {
    if !privileged() {
        return;
    }
    let iso = Isolated::new();
    iso.ok(&[
        "run", "-d", "--name", "up", "-v", "/anon", "solo:v1", "sleep", "1000",
    ]);
    iso.ok(&[
        "run",
        "--name",
        "done",
        "-v",
        "/anon2",
        "solo:v1",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1k count=200 2>/dev/null",
    ]);
    let df = iso.ok(&["system", "df"]);
    let rows: Vec<Vec<&str>> = df.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows[0],
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{df}"
    );
    assert_eq!(&rows[1][..3], ["Images", "1", "1"], "{df}");
    assert_eq!(&rows[2][..3], ["Containers", "2", "1"], "{df}");
    assert!(rows[2][3].ends_with("kB"), "200k written: {df}");
    assert_eq!(&rows[3][..4], ["Local", "Volumes", "2", "2"], "{df}");
    assert_eq!(&rows[4][..4], ["Build", "Cache", "0", "0"], "{df}");
    let v = iso.ok(&["system", "df", "-v"]);
    assert!(
        v.contains("Images space usage:") && v.contains("solo"),
        "{v}"
    );
    assert!(
        v.contains("Containers space usage:") && v.contains("done"),
        "{v}"
    );
    // Without -f, on a stdin that says nothing: asks, does nothing.
    let mut child = iso
        .cmd()
        .args(["system", "prune"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("prune");
    drop(child.stdin.take());
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Are you sure you want to continue? [y/N]"));
    assert_eq!(iso.ok(&["ps", "-aq"]).lines().count(), 2);
    // "y" on stdin: the stopped container and, with --volumes, its
    // anonymous volume go; the image stays (a container uses it).
    let mut child = iso
        .cmd()
        .args(["system", "prune", "--volumes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("prune");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"y\n")
        .expect("y");
    let o = child.wait_with_output().expect("wait");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(iso.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "up");
    assert_eq!(iso.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    // -a -f: unused images go too, but not one a container uses.
    iso.ok(&["system", "prune", "-a", "-f"]);
    assert_eq!(iso.ok(&["images", "-q"]).lines().count(), 1);
    iso.ok(&["rm", "-f", "up"]);
    let out = iso.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted Images:"), "{out}");
    assert_eq!(iso.ok(&["images", "-q"]), "");
}

/// `rmi` refuses an image a container uses; `-f` takes its name but keeps
/// the layers the container's overlay is made of.
#[test]
fn rmi_refuses_an_image_in_use_and_force_keeps_its_layers() {
    if !privileged() {
        return;
    }
    let iso = Isolated::new();
    let id = iso.ok(&["run", "-d", "--name", "user", "solo:v1", "sleep", "1000"]);
    let short = &id.trim()[..12];
    iso.ok(&["stop", "-t", "0", "user"]);
    let o = iso.run(&["rmi", "solo:v1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o).1;
    assert!(
        err.contains(
            "conflict: unable to remove repository reference \"solo:v1\" (must force) - container"
        ) && err.contains(&format!("container {short} is using its referenced image")),
        "{err}"
    );
    let image_id = iso.ok(&["images", "-q"]).trim().to_owned();
    let o = iso.run(&["rmi", &image_id]);
    assert_eq!(o.status.code(), Some(1), "by id too: {:?}", text(&o));
    let layers = iso.dir.path().join("root/layers");
    let count = || std::fs::read_dir(&layers).map(|d| d.count()).unwrap_or(0);
    let before = count();
    assert!(before > 0);
    let out = iso.ok(&["rmi", "-f", "solo:v1"]);
    assert!(out.contains("Untagged: solo:v1"), "{out}");
    assert_eq!(count(), before, "the container's layers stay");
    assert_eq!(iso.ok(&["images", "-q"]).trim(), image_id, "kept, dangling");
    // The container still starts from those layers; a prune keeps them.
    iso.ok(&["image", "prune", "-a", "-f"]);
    iso.ok(&["start", "user"]);
    assert_eq!(iso.ok(&["exec", "user", "echo", "alive"]), "alive\n");
    // A running container's image cannot be forced out by id.
    let o = iso.run(&["rmi", "-f", &image_id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("(cannot be forced) - image is being used by running container"),
        "{:?}",
        text(&o)
    );
    // Once the container is gone the image can go.
    iso.ok(&["rm", "-f", "user"]);
    iso.ok(&["rmi", &image_id]);
    assert_eq!(count(), 0);
}

#[test]
fn run_with_a_terminal_relays_resizes_and_detaches() {
    if !privileged() {
        return;
    }
    let b = Berth::new();
    // -t alone: the output comes through the container's pty.
    let o = b.run(&["run", "--rm", "-t", b.image(), "sh", "-c", "tty; exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{:?}", text(&o));
    assert!(text(&o).0.starts_with("/dev/pts/"), "{:?}", text(&o));

    let name = b.name("run-it");
    let (mut child, mut master, reader) =
        on_a_terminal(&b, &["run", "-it", "--name", &name, b.image(), "sh"]);
    std::thread::sleep(Duration::from_millis(800));
    master
        .write_all(b"busybox stty size; echo $((6*7))\n")
        .expect("type");
    std::thread::sleep(Duration::from_millis(300));
    berth_sys::pty::set_size(&master, 40, 120).expect("resize");
    berth_sys::signal::kill(child.id() as i32, libc::SIGWINCH).expect("SIGWINCH");
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"busybox stty size\n").expect("type");
    std::thread::sleep(Duration::from_millis(300));
    // Ctrl-C reaches the container's foreground process, not berth.
    master.write_all(b"sleep 60\n").expect("type");
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(&[0x03]).expect("Ctrl-C");
    std::thread::sleep(Duration::from_millis(300));
    master
        .write_all(b"echo after-$((2*3))-int\n")
        .expect("type");
    std::thread::sleep(Duration::from_millis(300));
    // Ctrl-P Ctrl-Q: berth returns, the container runs on.
    master.write_all(&[0x10, 0x11]).expect("detach keys");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    drop(master);
    let out = reader.join().expect("reader");
    assert!(out.contains("30 100"), "initial size: {out}");
    assert!(out.contains("40 120"), "resized: {out}");
    assert!(out.contains("42"), "{out}");
    assert!(out.contains("after-6-int"), "Ctrl-C: {out}");
    let state = b.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(state.trim(), "running");
    // What the terminal showed is in the log too.
    assert!(b.ok(&["logs", &name]).contains("42"));
}

/// berth with a terminal of the test's own as its stdio (a pty of size
/// 30x100): the child, the master, and a thread collecting everything the
/// terminal shows until no one holds the slave any more.
fn on_a_terminal(
    b: &Berth,
    args: &[&str],
) -> (
    std::process::Child,
    std::fs::File,
    std::thread::JoinHandle<String>,
) {
    let root = rustix::fs::open(
        "/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open /");
    let pty = berth_sys::pty::open_in(root.as_fd()).expect("pty");
    // Cooked to begin with: berth's raw mode must be undone at the end.
    let cooked = rustix::termios::tcgetattr(&pty.slave).expect("attrs");
    assert!(cooked
        .local_modes
        .contains(rustix::termios::LocalModes::ECHO));
    berth_sys::pty::set_size(&pty.master, 30, 100).expect("size");
    let slave = std::fs::File::from(pty.slave);
    let child = b
        .cmd()
        .args(args)
        .stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave.try_clone().expect("dup"))
        .spawn()
        .expect("spawn");
    drop(slave);
    let master = std::fs::File::from(pty.master);
    let mut m = master.try_clone().expect("dup master");
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the last holder of the slave has exited.
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    (child, master, reader)
}
