//! Shared fixtures of the registry tests: an OCI image built from
//! busybox-static files, an OCI layout for skopeo, a real `docker-registry`
//! on 127.0.0.1 and a scripted fake registry. Every process a test starts
//! is killed by its pid in a Drop guard; temp dirs are TempDirs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_image::Digest;

pub const BUSYBOX: &str = "/bin/busybox";

pub fn need(bin: &str) {
    assert!(
        Path::new(bin).exists(),
        "{bin} is missing: run scripts/install-deps.sh (docker-registry, skopeo, apache2-utils, busybox-static)"
    );
}

pub fn sha(b: &[u8]) -> Digest {
    Digest::of(b)
}

/// A tar entry for the fixture layers.
pub enum Ent<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32, u64),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

pub fn tar_of(entries: &[Ent<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Ent::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).expect("dir");
            }
            Ent::File(p, data, mode, uid) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(*uid);
                h.set_gid(*uid);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).expect("file");
            }
            Ent::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("symlink");
            }
            Ent::Hardlink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("hardlink");
            }
        }
    }
    b.into_inner().expect("tar")
}

/// A tar with one raw (unchecked) path, for hostile layers.
pub fn raw_tar(path: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    let raw = h.as_old_mut();
    raw.name = [0; 100];
    raw.name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len() + (512 - data.len() % 512) % 512 + 1024, 0);
    out
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b).expect("gz");
    gz.finish().expect("gz")
}

pub struct Layer {
    pub media_type: &'static str,
    pub blob: Vec<u8>,
    pub diff_id: Digest,
}

impl Layer {
    pub fn gzip(tar: Vec<u8>) -> Layer {
        Layer {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
            blob: gzip(&tar),
            diff_id: sha(&tar),
        }
    }
    pub fn zstd(tar: Vec<u8>) -> Layer {
        Layer {
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
            blob: zstd::stream::encode_all(&tar[..], 3).expect("zstd"),
            diff_id: sha(&tar),
        }
    }
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            media_type: "application/vnd.oci.image.layer.v1.tar",
            diff_id: sha(&tar),
            blob: tar,
        }
    }
}

/// An image: config + manifest over some layers.
pub struct Image {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Image {
    pub fn new(layers: Vec<Layer>, arch: &str) -> Image {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("config");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config).to_string(), "size": config.len()},
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type, "digest": sha(&l.blob).to_string(), "size": l.blob.len()
            })).collect::<Vec<_>>(),
        }))
        .expect("manifest");
        Image {
            layers,
            config,
            manifest,
        }
    }

    pub fn digest(&self) -> Digest {
        sha(&self.manifest)
    }

    /// Writes an OCI layout holding this image under `tag` (and, with
    /// `others`, an index over several platforms under `tag`).
    pub fn write_layout(images: &[(&Image, &str)], dir: &Path, tag: &str) {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).expect("mk");
        let put = |b: &[u8]| fs::write(blobs.join(sha(b).hex()), b).expect("blob");
        let mut descs = Vec::new();
        for (img, arch) in images {
            for l in &img.layers {
                put(&l.blob);
            }
            put(&img.config);
            put(&img.manifest);
            descs.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": img.digest().to_string(), "size": img.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            }));
        }
        let top = if descs.len() == 1 {
            let mut d = descs.remove(0);
            d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
            d
        } else {
            let idx = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs,
            }))
            .expect("idx");
            put(&idx);
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": sha(&idx).to_string(), "size": idx.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            })
        };
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
        fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]}))
                .expect("j"),
        )
        .expect("index");
    }
}

/// The busybox fixture: three layers (gzip, zstd, uncompressed) with a
/// symlink, a hardlink, an owned file, a whiteout and an opaque dir.
pub fn busybox_image(arch: &str) -> Image {
    let bb = fs::read(BUSYBOX).expect("read /bin/busybox (install busybox-static)");
    let l1 = tar_of(&[
        Ent::Dir("bin", 0o755),
        Ent::File("bin/busybox", &bb, 0o755, 0),
        Ent::Symlink("bin/sh", "busybox"),
        Ent::Hardlink("bin/ls", "bin/busybox"),
        Ent::Dir("etc", 0o755),
        Ent::File("etc/motd", b"hello from layer 1\n", 0o644, 0),
        Ent::Dir("data", 0o755),
        Ent::File("data/old", b"old", 0o600, 0),
    ]);
    let l2 = tar_of(&[
        Ent::Dir("etc", 0o755),
        Ent::File("etc/.wh.motd", b"", 0o644, 0),
        Ent::Dir("data", 0o750),
        Ent::File("data/.wh..wh..opq", b"", 0o644, 0),
        Ent::File("data/new", b"new", 0o640, 1000),
    ]);
    let l3 = tar_of(&[
        Ent::Dir("etc", 0o755),
        Ent::File("etc/hostname", b"berth\n", 0o644, 0),
    ]);
    Image::new(
        vec![Layer::gzip(l1), Layer::zstd(l2), Layer::plain(l3)],
        arch,
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `docker-registry` process on 127.0.0.1, killed by pid on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tmp");
        let auth = match htpasswd {
            None => String::new(),
            Some((u, p)) => {
                need("/usr/bin/htpasswd");
                let out = Command::new("/usr/bin/htpasswd")
                    .args(["-Bbn", u, p])
                    .output()
                    .expect("htpasswd");
                assert!(out.status.success());
                let f = dir.path().join("htpasswd");
                fs::write(&f, out.stdout).expect("w");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    f.display()
                )
            }
        };
        Registry::start_with(dir, &auth)
    }

    /// A registry with the given `auth:` section of its config (YAML);
    /// `dir` is kept alive with it.
    pub fn start_with(dir: tempfile::TempDir, auth: &str) -> Registry {
        need("/usr/bin/docker-registry");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        fs::write(&cfg_path, cfg).expect("cfg");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&r.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not come up on {}",
                r.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo copy --all oci:LAYOUT:tag docker://addr/repo:tag`.
pub fn skopeo_push(layout: &Path, tag: &str, dest: &str, creds: Option<&str>) {
    need("/usr/bin/skopeo");
    let mut cmd = Command::new("/usr/bin/skopeo");
    cmd.args(["copy", "--all", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    let out = cmd
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Path → (content type, body).
pub type Routes = Mutex<HashMap<String, (String, Vec<u8>)>>;

/// A scripted registry: serves fixed paths, can cut blob bodies short.
pub struct FakeRegistry {
    pub addr: String,
    pub routes: Arc<Routes>,
    /// Cut this many next blob responses after half their body.
    pub cut_next: Arc<AtomicUsize>,
    pub range_requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeRegistry {
    pub fn start() -> FakeRegistry {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        l.set_nonblocking(true).expect("nb");
        let routes: Arc<Routes> = Arc::default();
        let cut_next = Arc::new(AtomicUsize::new(0));
        let range_requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, rr, s) = (
            routes.clone(),
            cut_next.clone(),
            range_requests.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match l.accept() {
                    Ok((conn, _)) => {
                        let (r, c, rr) = (r.clone(), c.clone(), rr.clone());
                        std::thread::spawn(move || serve(conn, &r, &c, &rr));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeRegistry {
            addr,
            routes,
            cut_next,
            range_requests,
            stop,
        }
    }

    pub fn put(&self, path: &str, ctype: &str, body: Vec<u8>) {
        self.routes
            .lock()
            .expect("lock")
            .insert(path.to_owned(), (ctype.to_owned(), body));
    }

    /// Serves `img` as `repo:tag` (blob bodies overridable afterwards).
    pub fn put_image(&self, repo: &str, tag: &str, img: &Image) {
        let mt = "application/vnd.oci.image.manifest.v1+json";
        self.put(
            &format!("/v2/{repo}/manifests/{tag}"),
            mt,
            img.manifest.clone(),
        );
        self.put(
            &format!("/v2/{repo}/manifests/{}", img.digest()),
            mt,
            img.manifest.clone(),
        );
        self.put(
            &format!("/v2/{repo}/blobs/{}", sha(&img.config)),
            "application/octet-stream",
            img.config.clone(),
        );
        for l in &img.layers {
            self.put(
                &format!("/v2/{repo}/blobs/{}", sha(&l.blob)),
                "application/octet-stream",
                l.blob.clone(),
            );
        }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut conn: TcpStream, routes: &Routes, cut: &AtomicUsize, ranges: &AtomicUsize) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(clone) = conn.try_clone() else { return };
    let mut rd = BufReader::new(clone);
    let mut line = String::new();
    if rd.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range_from: Option<usize> = None;
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range_from = v.trim().trim_end_matches('-').parse().ok();
        }
    }
    if path == "/v2/" {
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        return;
    }
    let found = routes.lock().ok().and_then(|r| r.get(&path).cloned());
    let Some((ctype, body)) = found else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let is_blob = path.contains("/blobs/");
    let (status, start) = match range_from {
        Some(from) if is_blob && from < body.len() => {
            ranges.fetch_add(1, Ordering::Relaxed);
            ("206 Partial Content", from)
        }
        _ => ("200 OK", 0),
    };
    let part = &body[start..];
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        part.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let cut_this = is_blob
        && body.len() > 1024
        && cut
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if cut_this {
        let _ = conn.write_all(&part[..part.len() / 2]);
        let _ = conn.flush();
        let _ = conn.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = conn.write_all(part);
}

/// A fresh store root.
pub fn store() -> (tempfile::TempDir, Arc<berth_image::ImageStore>) {
    let t = tempfile::tempdir().expect("tmp");
    let s = berth_image::ImageStore::open(&t.path().join("root")).expect("store");
    (t, Arc::new(s))
}

pub fn files_under(p: &Path) -> Vec<PathBuf> {
    match fs::read_dir(p) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// `skopeo inspect --raw` of a reference: the bytes the registry serves.
pub fn skopeo_raw(reference: &str, creds: Option<&str>) -> Vec<u8> {
    need("/usr/bin/skopeo");
    let mut cmd = Command::new("/usr/bin/skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = cmd
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The manifest digest an index lists for `arch`.
pub fn index_entry(index: &[u8], arch: &str) -> Digest {
    let v: serde_json::Value = serde_json::from_slice(index).expect("index json");
    let m = v["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .expect("arch entry");
    m["digest"]
        .as_str()
        .expect("digest")
        .parse()
        .expect("digest")
}
