//! Save → load round trips in both formats, and hostile archives: each a
//! clear error, with nothing left in the store.

use std::fs;

use super::*;
use crate::import::{import, ImportOptions};
use crate::spec::Platform;
use crate::unpack::tests_support::{file, gzip, symlink, tar, E};
use crate::ImageStore;

fn store() -> (tempfile::TempDir, ImageStore) {
    let t = tempfile::tempdir().expect("tmp");
    let s = ImageStore::open(&t.path().join("root")).expect("store");
    (t, s)
}

fn full(n: &str) -> Result<String, String> {
    if n.contains(' ') {
        return Err("has a space".into());
    }
    Ok(format!("example.com/{n}"))
}

fn opts() -> LoadOptions<'static> {
    LoadOptions {
        limits: ArchiveLimits::default(),
        platform: Platform::host(),
        normalize_name: &full,
    }
}

/// An image made by `import` from a gzip tarball.
fn sample(s: &ImageStore) -> crate::meta::ImageRecord {
    let layer = tar(&[file("etc/hello", b"hi\n"), symlink("bin/sh", "busybox")]);
    import(
        s,
        &gzip(&layer)[..],
        &ImportOptions {
            changes: vec!["CMD [\"/bin/sh\"]".parse().expect("change")],
            message: None,
            platform: Platform::host(),
            names: vec!["example.com/a:1".into()],
        },
    )
    .expect("import")
}

/// No image, blob, layer or ingest left.
fn assert_empty(s: &ImageStore) {
    assert!(s.meta().list().expect("list").is_empty());
    let count = |p: &str| fs::read_dir(s.root().join(p)).expect("ls").count();
    assert_eq!(count("content/sha256"), 0, "no blob under a final name");
    assert_eq!(count("content/ingest"), 0, "staging cleaned up");
    assert_eq!(count("layers"), 0, "no layer");
}

#[test]
fn docker_and_oci_round_trip() {
    let (_t, src) = store();
    let rec = sample(&src);
    let items = [SaveItem {
        record: rec.clone(),
        names: vec![SaveName {
            full: "example.com/a:1".into(),
            familiar: "a:1".into(),
        }],
    }];
    for format in [SaveFormat::Docker, SaveFormat::Oci] {
        let mut out = Vec::new();
        save(&src, &items, format, &mut out).expect("save");
        let mut again = Vec::new();
        save(&src, &items, format, &mut again).expect("save");
        assert_eq!(out, again, "deterministic");

        let (_t2, dst) = store();
        let loaded = load(&dst, &gzip(&out)[..], &opts()).expect("load");
        assert_eq!(loaded.len(), 1);
        let l = &loaded[0];
        assert_eq!(l.record.config, rec.config, "same image id");
        assert_eq!(l.record.layers[0].diff_id, rec.layers[0].diff_id);
        let want_name = match format {
            SaveFormat::Docker => "example.com/a:1",
            SaveFormat::Oci => "example.com/example.com/a:1",
        };
        assert_eq!(l.names, [want_name]);
        if format == SaveFormat::Oci {
            assert_eq!(l.record.manifest, rec.manifest, "blobs kept byte for byte");
        }
        assert_eq!(
            dst.meta().resolve(want_name).expect("r"),
            Some(l.record.manifest.clone())
        );
        let tree = dst.layers().path(&l.record.layers[0].chain_id);
        assert_eq!(fs::read(tree.join("etc/hello")).expect("r"), b"hi\n");
        // loading again is idempotent
        load(&dst, &out[..], &opts()).expect("reload");
        assert_eq!(dst.meta().list().expect("l").len(), 1);
    }
}

/// A hand-made OCI archive: one layer, with the blob table overridable.
fn oci_archive(layer: &[u8], tamper: impl Fn(&mut Vec<(String, Vec<u8>)>)) -> Vec<u8> {
    let diff = crate::Digest::of(layer);
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
    }))
    .expect("cfg");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": crate::spec::OCI_MANIFEST,
        "config": {"mediaType": crate::spec::OCI_CONFIG, "digest": crate::Digest::of(&cfg).to_string(), "size": cfg.len()},
        "layers": [{"mediaType": crate::spec::OCI_LAYER, "digest": diff.to_string(), "size": layer.len()}],
    }))
    .expect("m");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": crate::spec::OCI_MANIFEST, "digest": crate::Digest::of(&manifest).to_string(), "size": manifest.len()}],
    }))
    .expect("i");
    let p = |b: &[u8]| format!("blobs/sha256/{}", crate::Digest::of(b).hex());
    let mut files = vec![
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (p(layer), layer.to_vec()),
        (p(&cfg), cfg.clone()),
        (p(&manifest), manifest.clone()),
        ("index.json".to_owned(), index),
    ];
    tamper(&mut files);
    let entries: Vec<E<'_>> = files.iter().map(|(n, d)| file(n, d)).collect();
    tar(&entries)
}

fn load_err(archive: &[u8]) -> (ArchiveError, tempfile::TempDir) {
    let (t, s) = store();
    let e = load(&s, archive, &opts()).expect_err("must fail");
    assert_empty(&s);
    (e, t)
}

#[test]
fn hostile_archives_store_nothing() {
    let layer = tar(&[file("x", b"x")]);
    let good = oci_archive(&layer, |_| {});
    let (_t, s) = store();
    load(&s, &good[..], &opts()).expect("the untampered archive loads");

    // a path with `..`
    let (e, _t) = load_err(&oci_archive(&layer, |f| {
        f.push(("../evil".into(), b"x".to_vec()))
    }));
    assert!(
        matches!(e, ArchiveError::Hostile { .. }) && e.to_string().contains(".."),
        "{e}"
    );
    // an absolute path
    let (e, _t) = load_err(&oci_archive(&layer, |f| {
        f.push(("/etc/evil".into(), b"x".to_vec()))
    }));
    assert!(e.to_string().contains("absolute"), "{e}");
    // a symlink out of the archive, standing in for index.json
    let mut entries = vec![symlink("index.json", "../../etc/passwd")];
    entries.push(file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#));
    let (e, _t) = load_err(&tar(&entries));
    assert!(e.to_string().contains("outside the archive"), "{e}");
    // a manifest pointing at a missing blob
    let lp = format!("blobs/sha256/{}", crate::Digest::of(&layer).hex());
    let (e, _t) = load_err(&oci_archive(&layer, |f| f.retain(|(n, _)| *n != lp)));
    assert!(matches!(e, ArchiveError::Missing { .. }), "{e}");
    // a blob whose content does not match its digest
    let (e, _t) = load_err(&oci_archive(&layer, |f| {
        if let Some(b) = f.iter_mut().find(|(n, _)| *n == lp) {
            b.1[0] ^= 1;
        }
    }));
    assert!(matches!(e, ArchiveError::Digest { .. }), "{e}");
    // an oversized blob (more bytes than the descriptor says)
    let (e, _t) = load_err(&oci_archive(&layer, |f| {
        for (n, d) in f.iter_mut() {
            if n == "index.json" {
                let s = String::from_utf8(d.clone()).expect("utf8");
                *d = s.replacen("\"size\":", "\"size\":1", 1).into_bytes();
            }
        }
    }));
    assert!(matches!(e, ArchiveError::Size { .. }), "{e}");
    // an index that is not JSON
    let (e, _t) = load_err(&oci_archive(&layer, |f| {
        if let Some(i) = f.iter_mut().find(|(n, _)| n == "index.json") {
            i.1 = b"<html>".to_vec();
        }
    }));
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    // not an archive at all, and a truncated one
    let (e, _t) = load_err(b"hello, this is not a tar file at all but it is long enough to be read as a header.. no wait");
    assert!(
        matches!(e, ArchiveError::Read { .. } | ArchiveError::Format(_)),
        "{e}"
    );
    let (e, _t) = load_err(&gzip(&good)[..200]);
    assert!(matches!(e, ArchiveError::Read { .. }), "{e}");
}

#[test]
fn docker_archive_with_wrong_diff_id_stores_nothing() {
    let layer = tar(&[file("a", b"1")]);
    let other = tar(&[file("a", b"2")]);
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [crate::Digest::of(&other).to_string()]},
    }))
    .expect("cfg");
    let cfg_name = format!("{}.json", crate::Digest::of(&cfg).hex());
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": ["a:1"], "Layers": ["l1/layer.tar"]}
    ]))
    .expect("m");
    let archive = tar(&[
        file(&cfg_name, &cfg),
        file("l1/layer.tar", &layer),
        file("manifest.json", &manifest),
    ]);
    let (e, _t) = load_err(&archive);
    assert!(e.to_string().contains("the image config says"), "{e}");

    // a config whose name is not its digest
    let archive = tar(&[
        file(&format!("{}.json", "0".repeat(64)), &cfg),
        file("l1/layer.tar", &layer),
        file(
            "manifest.json",
            &serde_json::to_vec(&serde_json::json!([
                {"Config": format!("{}.json", "0".repeat(64)), "Layers": ["l1/layer.tar"]}
            ]))
            .expect("m"),
        ),
    ]);
    let (e, _t) = load_err(&archive);
    assert!(matches!(e, ArchiveError::Digest { .. }), "{e}");

    // a bad name in RepoTags is refused before anything is stored
    let cfg_ok = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [crate::Digest::of(&layer).to_string()]},
    }))
    .expect("cfg");
    let name = format!("{}.json", crate::Digest::of(&cfg_ok).hex());
    let archive = tar(&[
        file(&name, &cfg_ok),
        file("l1/layer.tar", &layer),
        symlink("l2/layer.tar", "../l1/layer.tar"),
        file(
            "manifest.json",
            &serde_json::to_vec(&serde_json::json!([
                {"Config": name, "RepoTags": ["bad name"], "Layers": ["l2/layer.tar"]}
            ]))
            .expect("m"),
        ),
    ]);
    let (e, _t) = load_err(&archive);
    assert!(matches!(e, ArchiveError::Name { .. }), "{e}");
    // the same archive with a good name loads, through the in-archive symlink
    let (_t, s) = store();
    let archive = tar(&[
        file(&name, &cfg_ok),
        file("l1/layer.tar", &layer),
        symlink("l2/layer.tar", "../l1/layer.tar"),
        file(
            "manifest.json",
            &serde_json::to_vec(&serde_json::json!([
                {"Config": name, "RepoTags": ["good:1"], "Layers": ["l2/layer.tar"]}
            ]))
            .expect("m"),
        ),
    ]);
    let loaded = load(&s, &archive[..], &opts()).expect("load");
    assert_eq!(loaded[0].names, ["example.com/good:1"]);
}
