//! The `berth` binary end to end against a real `docker-registry` with
//! htpasswd auth: login, pull, images, tag, inspect, rmi, logout.

#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::*;

struct Berth {
    root: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Berth {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .env("BERTH_ROOT", self.root.path())
            .env("DOCKER_CONFIG", self.home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn berth");
        if let Some(mut si) = child.stdin.take() {
            if let Some(s) = stdin {
                si.write_all(s.as_bytes()).expect("stdin");
            }
        }
        child.wait_with_output().expect("wait")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args, None);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

#[test]
fn login_pull_images_tag_inspect_rmi() {
    let reg = Registry::start(Some(("cli", "pw")));
    let img = busybox_image("amd64");
    let layout = tempfile::tempdir().expect("tmp");
    Image::write_layout(&[(&img, "amd64")], layout.path(), "v1");
    let name = format!("{}/cli/bb:v1", reg.addr);
    skopeo_push(layout.path(), "v1", &name, Some("cli:pw"));
    let b = Berth {
        root: tempfile::tempdir().expect("root"),
        home: tempfile::tempdir().expect("home"),
    };

    let o = b.run(&["pull", &name], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("berth login"),
        "{o:?}"
    );

    let o = b.run(
        &["login", "-u", "cli", "--password-stdin", &reg.addr],
        Some("wrong\n"),
    );
    assert!(!o.status.success(), "wrong password accepted");
    let o = b.run(
        &["login", "-u", "cli", "--password-stdin", &reg.addr],
        Some("pw\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"));

    let out = b.ok(&["pull", &name]);
    assert!(
        out.contains("Pull complete") && out.contains("Digest: sha256:"),
        "{out}"
    );
    let out = b.ok(&["pull", "-q", &name]);
    assert_eq!(out.trim(), name);

    let out = b.ok(&["images"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert!(lines
        .next()
        .expect("row")
        .starts_with(&format!("{}/cli/bb", reg.addr)));

    b.ok(&["tag", &name, "mine:latest"]);
    let out = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    assert_eq!(names, [name.as_str(), "mine:latest"]);
    let ids = b.ok(&["images", "-q"]);
    assert_eq!(ids.lines().count(), 1);
    let id = ids.trim().to_owned();
    assert_eq!(id.len(), 12);

    let js: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "mine"])).expect("json");
    assert_eq!(
        js[0]["Id"]
            .as_str()
            .map(|s| s.starts_with(&format!("sha256:{id}"))),
        Some(true)
    );
    assert_eq!(js[0]["RootFS"]["Layers"].as_array().map(Vec::len), Some(3));
    assert_eq!(js[0]["Config"]["Cmd"][0], "/bin/sh");

    // push the local tag back to the registry under another repository
    let pushed = format!("{}/cli/mine:v9", reg.addr);
    let o = b.run(&["push", &pushed], None);
    assert!(!o.status.success(), "push of an unknown local name");
    b.ok(&["tag", "mine", &pushed]);
    let out = b.ok(&["push", &pushed]);
    assert!(
        out.contains("Mounted from cli/bb") && out.contains("v9: digest: sha256:"),
        "{out}"
    );
    let raw = skopeo_raw(&pushed, Some("cli:pw"));
    assert!(out.contains(&sha(&raw).to_string()), "{out}");
    b.ok(&["rmi", &pushed]);

    let o = b.run(&["rmi", &id], None);
    assert!(!o.status.success(), "two names: needs -f");
    b.ok(&["rmi", "mine"]);
    let layers = b.root.path().join("layers");
    assert_eq!(files_under(&layers).len(), 3);
    let out = b.ok(&["rmi", &name]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert!(files_under(&layers).is_empty(), "layers freed");
    assert!(
        files_under(&b.root.path().join("content/sha256")).is_empty(),
        "blobs freed"
    );
    assert_eq!(b.ok(&["images", "-q"]), "");

    let out = b.ok(&["logout", &reg.addr]);
    assert!(out.contains("Removing login credentials"), "{out}");
}
