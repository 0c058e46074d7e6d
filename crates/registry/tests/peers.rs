//! Pull from a real Debian `docker-registry` on 127.0.0.1, filled by
//! `skopeo copy` from an OCI layout: plain and with htpasswd basic auth.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::sync::Arc;

use berth_image::snapshot::Snapshot;
use berth_registry::auth::{Credentials, DockerConfig};
use berth_registry::pull::{pull, PullOptions};
use berth_registry::{Client, ClientOptions, Reference, RegistryError};
use common::*;

fn client(cfg_dir: &std::path::Path) -> Client {
    Client::new(ClientOptions {
        docker_config: Some(DockerConfig::at(cfg_dir.join("config.json"))),
        ..Default::default()
    })
    .expect("client")
}

fn quiet() -> berth_registry::pull::Observer {
    Arc::new(|_| {})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_multi_platform_image_pushed_by_skopeo() {
    let reg = Registry::start(None);
    let amd = busybox_image("amd64");
    let arm = busybox_image("arm64");
    let layout = tempfile::tempdir().expect("tmp");
    Image::write_layout(&[(&amd, "amd64"), (&arm, "arm64")], layout.path(), "v1");
    skopeo_push(
        layout.path(),
        "v1",
        &format!("{}/test/bb:v1", reg.addr),
        None,
    );

    let (_t, store) = store();
    let cfg = tempfile::tempdir().expect("cfg");
    let c = client(cfg.path());
    let r: Reference = format!("{}/test/bb:v1", reg.addr).parse().expect("ref");
    let opts = PullOptions {
        platform: berth_image::spec::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let pulled = pull(&c, store.clone(), &r, &opts, quiet())
        .await
        .expect("pull");

    // the digests are the registry's own, as skopeo reads them (skopeo
    // compresses the uncompressed layer on the way in, so not ours)
    let raw_index = skopeo_raw(&format!("{}/test/bb:v1", reg.addr), None);
    assert_eq!(pulled.digest, sha(&raw_index));
    let amd_digest = index_entry(&raw_index, "amd64");
    let arm_digest = index_entry(&raw_index, "arm64");
    assert_eq!(pulled.record.manifest, amd_digest);
    assert_eq!(pulled.record.index, Some(sha(&raw_index)));
    assert_eq!(pulled.fetched, 3);
    assert_eq!(
        store
            .meta()
            .resolve(&r.tagged_name().expect("tag"))
            .expect("meta"),
        Some(amd_digest.clone())
    );
    for l in &pulled.record.layers {
        assert!(store.content().contains(&l.blob.digest));
    }
    for (l, ours) in pulled.record.layers.iter().zip(&amd.layers) {
        assert_eq!(l.diff_id, ours.diff_id, "same uncompressed content");
    }

    // unpacked trees
    let dirs: Vec<_> = pulled
        .record
        .layers
        .iter()
        .map(|l| store.layers().path(&l.chain_id))
        .collect();
    assert_eq!(
        fs::read(dirs[0].join("bin/busybox")).expect("bb"),
        fs::read(BUSYBOX).expect("bb")
    );
    assert_eq!(
        fs::read_link(dirs[0].join("bin/sh")).expect("sh").to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::metadata(dirs[0].join("bin/ls")).expect("ls").ino(),
        fs::metadata(dirs[0].join("bin/busybox")).expect("bb").ino()
    );
    assert_eq!(
        fs::metadata(dirs[0].join("bin/busybox"))
            .expect("bb")
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(dirs[0].join("etc/motd"))
            .expect("motd")
            .mtime(),
        1_600_000_000
    );
    let wh = fs::symlink_metadata(dirs[1].join("etc/motd")).expect("whiteout");
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let mut buf = [0u8; 2];
    assert_eq!(
        rustix::fs::getxattr(dirs[1].join("data"), "trusted.overlay.opaque", &mut buf)
            .expect("opq"),
        1
    );
    let new = fs::metadata(dirs[1].join("data/new")).expect("new");
    assert_eq!((new.uid(), new.permissions().mode() & 0o777), (1000, 0o640));
    assert_eq!(
        fs::read(dirs[2].join("etc/hostname")).expect("h"),
        b"berth\n"
    );

    match store.snapshot(&pulled.record, None) {
        Snapshot::Overlay { lowerdirs, .. } => {
            assert_eq!(lowerdirs, dirs.iter().rev().cloned().collect::<Vec<_>>())
        }
        other => panic!("expected overlay, got {other:?}"),
    }

    // everything present: nothing fetched again; and by digest
    let again = pull(&c, store.clone(), &r, &opts, quiet())
        .await
        .expect("repull");
    assert_eq!(again.fetched, 0);
    let by_digest: Reference = format!("{}/test/bb@{}", reg.addr, amd_digest)
        .parse()
        .expect("ref");
    let d = pull(&c, store.clone(), &by_digest, &opts, quiet())
        .await
        .expect("by digest");
    assert_eq!(d.record.manifest, amd_digest);

    // arm64 shares nothing but layers: only its config is new
    let arm_opts = PullOptions {
        platform: berth_image::spec::Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let a = pull(&c, store.clone(), &r, &arm_opts, quiet())
        .await
        .expect("arm pull");
    assert_eq!(a.record.manifest, arm_digest);
    assert_eq!(arm.layers.len(), a.record.layers.len());
    assert_eq!(a.fetched, 0, "layers are shared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_docker_config() {
    let reg = Registry::start(Some(("berth", "s3cret")));
    let img = busybox_image("amd64");
    let layout = tempfile::tempdir().expect("tmp");
    Image::write_layout(&[(&img, "amd64")], layout.path(), "v1");
    skopeo_push(
        layout.path(),
        "v1",
        &format!("{}/priv/bb:v1", reg.addr),
        Some("berth:s3cret"),
    );
    let r: Reference = format!("{}/priv/bb:v1", reg.addr).parse().expect("ref");

    let (_t, store) = store();
    let cfg = tempfile::tempdir().expect("cfg");
    let e = pull(
        &client(cfg.path()),
        store.clone(),
        &r,
        &PullOptions::default(),
        quiet(),
    )
    .await
    .expect_err("no credentials");
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("berth login"), "{e}");

    let dc = DockerConfig::at(cfg.path().join("config.json"));
    dc.set(
        &reg.addr,
        Some(&Credentials {
            username: "berth".into(),
            password: "wrong".into(),
        }),
    )
    .expect("set");
    let e = pull(
        &client(cfg.path()),
        store.clone(),
        &r,
        &PullOptions::default(),
        quiet(),
    )
    .await
    .expect_err("bad credentials");
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");

    dc.set(
        &reg.addr,
        Some(&Credentials {
            username: "berth".into(),
            password: "s3cret".into(),
        }),
    )
    .expect("set");
    let c = client(cfg.path());
    c.check_login(&reg.addr, &reg.addr)
        .await
        .expect("login check");
    let p = pull(&c, store.clone(), &r, &PullOptions::default(), quiet())
        .await
        .expect("pull with auth");
    let raw = skopeo_raw(&format!("{}/priv/bb:v1", reg.addr), Some("berth:s3cret"));
    assert_eq!(p.record.manifest, sha(&raw));
    assert_eq!(p.record.layers.len(), img.layers.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mounts_uploads_and_skips() {
    use berth_registry::push::{push, BlobOutcome};
    let reg = Registry::start(None);
    let img = busybox_image("amd64");
    let layout = tempfile::tempdir().expect("tmp");
    Image::write_layout(&[(&img, "amd64")], layout.path(), "v1");
    skopeo_push(
        layout.path(),
        "v1",
        &format!("{}/src/bb:v1", reg.addr),
        None,
    );
    let (_t, store) = store();
    let cfg = tempfile::tempdir().expect("cfg");
    let c = client(cfg.path());
    let src: Reference = format!("{}/src/bb:v1", reg.addr).parse().expect("ref");
    let pulled = pull(&c, store.clone(), &src, &PullOptions::default(), quiet())
        .await
        .expect("pull");

    // same registry, other repository: every blob is mounted
    let dest: Reference = format!("{}/dst/bb:v2", reg.addr).parse().expect("ref");
    let p = push(&c, &store, &pulled.record, &dest, &|_| {})
        .await
        .expect("push");
    assert!(
        p.blobs
            .iter()
            .all(|(_, o)| matches!(o, BlobOutcome::Mounted { .. })),
        "{:?}",
        p.blobs
    );
    let raw = skopeo_raw(&format!("{}/dst/bb:v2", reg.addr), None);
    assert_eq!(
        sha(&raw),
        pulled.record.manifest,
        "skopeo reads back what berth pushed"
    );
    // again: nothing to upload
    let p = push(&c, &store, &pulled.record, &dest, &|_| {})
        .await
        .expect("push again");
    assert!(p.blobs.iter().all(|(_, o)| *o == BlobOutcome::Exists));

    // another registry: every blob uploaded, then readable by skopeo
    let reg2 = Registry::start(None);
    let dest2: Reference = format!("{}/up/bb:v3", reg2.addr).parse().expect("ref");
    let c2 = client(cfg.path());
    let p = push(&c2, &store, &pulled.record, &dest2, &|_| {})
        .await
        .expect("push 2");
    assert!(p.blobs.iter().all(|(_, o)| *o == BlobOutcome::Uploaded));
    let raw = skopeo_raw(&format!("{}/up/bb:v3", reg2.addr), None);
    assert_eq!(sha(&raw), pulled.record.manifest);
    let back = tempfile::tempdir().expect("t");
    let out = std::process::Command::new("/usr/bin/skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/up/bb:v3", reg2.addr))
        .arg(format!("oci:{}:x", back.path().join("o").display()))
        .output()
        .expect("skopeo copy");
    assert!(
        out.status.success(),
        "skopeo copy back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
