//! `berth save`, `load` and `import` end to end with skopeo as the peer:
//! archives skopeo writes load into berth, archives berth writes are read
//! by `skopeo inspect`, and a hostile archive stores nothing.

#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

struct Berth {
    root: tempfile::TempDir,
}

impl Berth {
    fn new() -> Berth {
        Berth {
            root: tempfile::tempdir().expect("root"),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_ROOT", self.root.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let si = child.stdin.take();
        let data = stdin.map(<[u8]>::to_vec);
        let writer = std::thread::spawn(move || {
            if let (Some(mut si), Some(d)) = (si, data) {
                let _ = si.write_all(&d);
            }
        });
        let out = child.wait_with_output().expect("wait");
        writer.join().expect("stdin writer");
        out
    }

    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let o = self.run(args, stdin);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn inspect(&self, image: &str) -> serde_json::Value {
        let js: serde_json::Value =
            serde_json::from_str(&self.ok(&["inspect", image], None)).expect("inspect json");
        js[0].clone()
    }

    fn layer_file(&self, image: &str, rel: &str) -> Vec<u8> {
        // the image's top layer holds every file of these fixtures' last layer
        let js = self.inspect(image);
        let layers = js["RootFS"]["Layers"].as_array().expect("layers").clone();
        let diffs: Vec<berth_image::Digest> = layers
            .iter()
            .map(|l| l.as_str().expect("str").parse().expect("digest"))
            .collect();
        let chains = berth_image::layers::chain_ids(&diffs);
        for c in chains.iter().rev() {
            let p = self.root.path().join("layers").join(c.hex()).join(rel);
            if let Ok(b) = fs::read(&p) {
                return b;
            }
        }
        panic!("{rel} not in any layer of {image}");
    }
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    need("/usr/bin/skopeo");
    let out = Command::new("/usr/bin/skopeo")
        .args(args)
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).expect("json")
}

fn rootfs_tar() -> Vec<u8> {
    let bb = fs::read(BUSYBOX).expect("busybox");
    tar_of(&[
        Ent::Dir("./bin", 0o755),
        Ent::File("./bin/busybox", &bb, 0o755, 0),
        Ent::Symlink("./bin/sh", "busybox"),
        Ent::Dir("./etc", 0o755),
        Ent::File("./etc/motd", b"imported\n", 0o644, 0),
    ])
}

#[test]
fn import_then_save_is_read_by_skopeo_and_loads_back() {
    let b = Berth::new();
    let dir = tempfile::tempdir().expect("tmp");
    let tgz = dir.path().join("rootfs.tgz");
    fs::write(&tgz, gzip(&rootfs_tar())).expect("w");
    let id = b.ok(
        &[
            "import",
            "-c",
            r#"CMD ["/bin/sh","-c","cat /etc/motd"]"#,
            "-c",
            "ENV A=1 B=\"two words\"",
            "-c",
            "EXPOSE 8080/tcp",
            "-c",
            "LABEL org.example=yes",
            "-c",
            "WORKDIR /srv",
            "-c",
            "USER 1000",
            "-m",
            "from a tarball",
            tgz.to_str().expect("utf8"),
            "imported:v1",
        ],
        None,
    );
    let id = id.trim().to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let js = b.inspect("imported:v1");
    assert_eq!(js["Id"], id.as_str());
    assert_eq!(js["Comment"], "from a tarball");
    let c = &js["Config"];
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "cat /etc/motd"])
    );
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two words"]));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["Labels"]["org.example"], "yes");
    assert_eq!(
        (&c["WorkingDir"], &c["User"]),
        (&"/srv".into(), &"1000".into())
    );
    assert_eq!(b.layer_file("imported:v1", "etc/motd"), b"imported\n");
    // a bad --change is refused before anything is stored
    let o = b.run(
        &["import", "-c", "RUN rm -rf /", "-", "x:y"],
        Some(&rootfs_tar()),
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not supported"),
        "{o:?}"
    );
    assert_eq!(b.ok(&["images", "-q"], None).lines().count(), 1);

    // docker-archive to a file: skopeo sees the config and the diff ids
    let d = dir.path().join("d.tar");
    b.ok(
        &["save", "-o", d.to_str().expect("utf8"), "imported:v1"],
        None,
    );
    let raw = json(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{}", d.display()),
    ]));
    assert_eq!(raw["rootfs"]["diff_ids"], js["RootFS"]["Layers"]);
    let cfg = skopeo(&[
        "inspect",
        "--raw",
        "--config",
        &format!("docker-archive:{}", d.display()),
    ]);
    assert_eq!(sha(&cfg).to_string(), id, "config kept byte for byte");

    // OCI archive streamed to a pipe: skopeo sees berth's manifest digest
    let oci = b.ok_bytes(&["save", "--format", "oci", "imported:v1"]);
    let o = dir.path().join("o.tar");
    fs::write(&o, &oci).expect("w");
    let manifest = skopeo(&["inspect", "--raw", &format!("oci-archive:{}", o.display())]);
    assert!(
        b.root
            .path()
            .join("content/sha256")
            .join(sha(&manifest).hex())
            .exists(),
        "the archive carries the stored manifest"
    );
    assert_eq!(
        json(&skopeo(&[
            "inspect",
            &format!("oci-archive:{}", o.display())
        ]))["Digest"],
        sha(&manifest).to_string()
    );

    // both load into a fresh root, named as saved
    for archive in [&d, &o] {
        let c = Berth::new();
        let out = c.ok(&["load", "-i", archive.to_str().expect("utf8")], None);
        assert_eq!(
            out.trim(),
            "Loaded image: imported:v1",
            "{}",
            archive.display()
        );
        assert_eq!(c.inspect("imported:v1")["Id"], id.as_str());
        assert_eq!(c.layer_file("imported:v1", "etc/motd"), b"imported\n");
    }
    // stdin, gzip-compressed
    let c = Berth::new();
    let out = c.ok(&["load", "-q"], Some(&gzip(&fs::read(&d).expect("r"))));
    assert!(out.contains("Loaded image: imported:v1"), "{out}");
}

impl Berth {
    fn ok_bytes(&self, args: &[&str]) -> Vec<u8> {
        let o = self.run(args, None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    }
}

/// An OCI layout and the archives skopeo makes of it.
fn skopeo_archives(dir: &Path) -> (Image, std::path::PathBuf, std::path::PathBuf) {
    // gzip and plain layers: skopeo writes no zstd into a docker-archive
    let bb = fs::read(BUSYBOX).expect("busybox");
    let l1 = tar_of(&[
        Ent::Dir("bin", 0o755),
        Ent::File("bin/busybox", &bb, 0o755, 0),
        Ent::Symlink("bin/sh", "busybox"),
        Ent::Dir("etc", 0o755),
        Ent::File("etc/motd", b"old\n", 0o644, 0),
    ]);
    let l2 = tar_of(&[
        Ent::Dir("etc", 0o755),
        Ent::File("etc/.wh.motd", b"", 0o644, 0),
        Ent::File("etc/hostname", b"berth\n", 0o644, 0),
    ]);
    let img = Image::new(vec![Layer::gzip(l1), Layer::plain(l2)], "amd64");
    let layout = dir.join("layout");
    Image::write_layout(&[(&img, "amd64")], &layout, "v1");
    let src = format!("oci:{}:v1", layout.display());
    let da = dir.join("skopeo-docker.tar");
    let oa = dir.join("skopeo-oci.tar");
    skopeo(&[
        "copy",
        &src,
        &format!("docker-archive:{}:sk/bb:v1", da.display()),
    ]);
    skopeo(&[
        "copy",
        &src,
        &format!("oci-archive:{}:example.com/sk/bb:v2", oa.display()),
    ]);
    (img, da, oa)
}

#[test]
fn loads_archives_skopeo_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let (img, da, oa) = skopeo_archives(dir.path());
    let b = Berth::new();
    let out = b.ok(&["load", "-i", da.to_str().expect("utf8")], None);
    assert_eq!(out.trim(), "Loaded image: sk/bb:v1");
    let out = b.ok(&["load", "-i", oa.to_str().expect("utf8")], None);
    assert_eq!(out.trim(), "Loaded image: example.com/sk/bb:v2");
    for name in ["sk/bb:v1", "example.com/sk/bb:v2"] {
        let js = b.inspect(name);
        assert_eq!(js["Id"], sha(&img.config).to_string(), "{name}");
        assert_eq!(b.layer_file(name, "etc/hostname"), b"berth\n");
        assert_eq!(
            b.layer_file(name, "bin/busybox"),
            fs::read(BUSYBOX).expect("bb")
        );
    }
    // the OCI archive keeps skopeo's manifest
    let raw = skopeo(&["inspect", "--raw", &format!("oci-archive:{}", oa.display())]);
    let listed = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"], None);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        b.root
            .path()
            .join("content/sha256")
            .join(sha(&raw).hex())
            .exists(),
        "skopeo's manifest stored as is"
    );
    let js = b.inspect("example.com/sk/bb:v2");
    assert_eq!(js["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
}

#[test]
fn hostile_archive_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_img, da, _oa) = skopeo_archives(dir.path());
    let b = Berth::new();
    // skopeo's archive with one more entry: a path that climbs out
    let mut bytes = fs::read(&da).expect("r");
    let evil = raw_tar("../../escape", b"x");
    let end = bytes.len() - 1024; // drop the end-of-archive blocks
    bytes.truncate(end);
    bytes.extend_from_slice(&evil);
    let o = b.run(&["load"], Some(&bytes));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("../../escape") && err.contains("hostile"),
        "{err}"
    );
    // a truncated archive
    let good = fs::read(&da).expect("r");
    let o = b.run(&["load"], Some(&good[..good.len() / 2]));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("truncated"),
        "{o:?}"
    );
    assert_eq!(b.ok(&["images", "-q"], None), "");
    assert!(files_under(&b.root.path().join("content/sha256")).is_empty());
    assert!(files_under(&b.root.path().join("content/ingest")).is_empty());
    assert!(files_under(&b.root.path().join("layers")).is_empty());
    // and the good archive loads afterwards
    b.ok(&["load"], Some(&good));
}
