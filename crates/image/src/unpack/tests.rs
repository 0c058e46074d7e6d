use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

/// One tar entry written by hand, so hostile names the `tar` builder would
/// refuse can be produced.
pub(crate) struct E<'a> {
    pub path: &'a [u8],
    pub kind: u8,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub mode: u32,
    pub uid: u64,
}

pub(crate) fn file<'a>(path: &'a str, data: &'a [u8]) -> E<'a> {
    E {
        path: path.as_bytes(),
        kind: b'0',
        link: b"",
        data,
        mode: 0o644,
        uid: 0,
    }
}
pub(crate) fn dir(path: &str) -> E<'_> {
    E {
        path: path.as_bytes(),
        kind: b'5',
        link: b"",
        data: b"",
        mode: 0o755,
        uid: 0,
    }
}
pub(crate) fn symlink<'a>(path: &'a str, target: &'a str) -> E<'a> {
    E {
        path: path.as_bytes(),
        kind: b'2',
        link: target.as_bytes(),
        data: b"",
        mode: 0o777,
        uid: 0,
    }
}
pub(crate) fn hardlink<'a>(path: &'a str, target: &'a str) -> E<'a> {
    E {
        path: path.as_bytes(),
        kind: b'1',
        link: target.as_bytes(),
        data: b"",
        mode: 0o644,
        uid: 0,
    }
}

pub(crate) fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        {
            let raw = h.as_old_mut();
            raw.name = [0; 100];
            raw.name[..e.path.len()].copy_from_slice(e.path);
            raw.linkname = [0; 100];
            raw.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        h.set_entry_type(tar::EntryType::new(e.kind));
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.uid);
        h.set_mtime(1_000_000_000);
        if e.kind == b'3' || e.kind == b'4' {
            h.set_device_major(1).expect("major");
            h.set_device_minor(3).expect("minor");
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = 1 + k.len() + 1 + v.len() + 1;
        let mut len = body + 1;
        while format!("{len}").len() + body != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn open_dir(p: &Path) -> OwnedFd {
    OwnedFd::from(fs::File::open(p).expect("open dir"))
}

fn run(bytes: &[u8], root: &Path, openat2: bool) -> Result<UnpackStats, UnpackError> {
    unpack_with(
        bytes,
        open_dir(root),
        &Limits::default(),
        "test-layer",
        openat2,
    )
}

fn both(f: impl Fn(bool)) {
    f(true);
    f(false);
}

#[test]
fn unpacks_files_dirs_links_devices_and_metadata() {
    both(|openat2| {
        let t = tempfile::tempdir().expect("tmp");
        let px = pax(&[("SCHILY.xattr.user.berth", b"yes"), ("mtime", b"1234.5")]);
        let mut owned = file("etc/owned", b"x");
        owned.uid = 1000;
        let bytes = tar(&[
            dir("./"),
            dir("etc/"),
            file("etc/hosts", b"127.0.0.1 localhost\n"),
            E {
                path: b"././@PaxHeader",
                kind: b'x',
                link: b"",
                data: &px,
                mode: 0o644,
                uid: 0,
            },
            E {
                path: b"etc/suid",
                kind: b'0',
                link: b"",
                data: b"s",
                mode: 0o4755,
                uid: 0,
            },
            owned,
            symlink("etc/link", "/etc/hosts"),
            hardlink("etc/hard", "etc/hosts"),
            E {
                path: b"dev/null",
                kind: b'3',
                link: b"",
                data: b"",
                mode: 0o666,
                uid: 0,
            },
            E {
                path: b"run/fifo",
                kind: b'6',
                link: b"",
                data: b"",
                mode: 0o600,
                uid: 0,
            },
            file("deep/er/file", b"implicit parents"),
        ]);
        let stats = run(&bytes, t.path(), openat2).expect("unpack");
        assert_eq!(stats.diff_id, Digest::of(&bytes));
        let r = t.path();
        assert_eq!(
            fs::read(r.join("etc/hosts")).expect("read"),
            b"127.0.0.1 localhost\n"
        );
        let suid = fs::metadata(r.join("etc/suid")).expect("suid");
        assert_eq!(suid.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(suid.mtime(), 1234);
        assert_eq!(fs::metadata(r.join("etc/owned")).expect("o").uid(), 1000);
        assert_eq!(
            fs::read_link(r.join("etc/link")).expect("link"),
            Path::new("/etc/hosts")
        );
        assert_eq!(
            fs::metadata(r.join("etc/hard")).expect("h").ino(),
            fs::metadata(r.join("etc/hosts")).expect("h").ino()
        );
        let null = fs::metadata(r.join("dev/null")).expect("null");
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
        assert!(fs::metadata(r.join("run/fifo"))
            .expect("fifo")
            .file_type()
            .is_fifo());
        assert_eq!(
            fs::read(r.join("deep/er/file")).expect("deep"),
            b"implicit parents"
        );
        assert_eq!(
            fs::metadata(r.join("etc")).expect("etc").mtime(),
            1_000_000_000
        );
        let x =
            rustix::fs::getxattr(r.join("etc/suid"), "user.berth", &mut [0u8; 16]).expect("xattr");
        assert_eq!(x, 3);
    });
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    both(|openat2| {
        let t = tempfile::tempdir().expect("tmp");
        let bytes = tar(&[
            file("a/.wh.gone", b""),
            file("b/.wh..wh..opq", b""),
            file("b/kept", b"k"),
            file(".wh..wh.plnk", b""),
        ]);
        run(&bytes, t.path(), openat2).expect("unpack");
        let w = fs::symlink_metadata(t.path().join("a/gone")).expect("whiteout");
        assert!(w.file_type().is_char_device());
        assert_eq!(w.rdev(), 0);
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(t.path().join("b"), "trusted.overlay.opaque", &mut buf)
            .expect("opaque xattr");
        assert_eq!(&buf[..n], b"y");
        assert!(!t.path().join(".wh..wh.plnk").exists());
    });
}

/// Layout: `<tmp>/outside/` must stay empty; `<tmp>/layer/` is the root.
fn hostile(entries: &[E<'_>], openat2: bool) -> UnpackError {
    let t = tempfile::tempdir().expect("tmp");
    let layer = t.path().join("layer");
    let outside = t.path().join("outside");
    fs::create_dir_all(&layer).expect("mk");
    fs::create_dir_all(&outside).expect("mk");
    fs::write(outside.join("victim"), b"original").expect("victim");
    let err = run(&tar(entries), &layer, openat2).expect_err("hostile layer must fail");
    assert_eq!(
        fs::read(outside.join("victim")).expect("victim"),
        b"original"
    );
    let names: Vec<_> = fs::read_dir(&outside)
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(names.len(), 1, "something escaped: {names:?}");
    err
}

#[test]
fn refuses_escapes() {
    both(|o| {
        let outside_abs = "/nonexistent-berth-test/victim";
        let cases: Vec<Vec<E<'_>>> = vec![
            vec![file("../outside/pwned", b"x")],
            vec![file("a/../../outside/pwned", b"x")],
            vec![file(outside_abs, b"x")],
            vec![symlink("a", "../outside"), file("a/pwned", b"x")],
            vec![symlink("a", "/"), file("a/pwned", b"x")],
            vec![symlink("a", "."), file("a/a/a/pwned", b"x")],
            vec![hardlink("h", "../outside/victim")],
            vec![hardlink("h", "/etc/passwd")],
            vec![symlink("d", "../outside"), hardlink("h", "d/victim")],
            vec![file(".wh..", b"")],
        ];
        for (i, c) in cases.iter().enumerate() {
            let e = hostile(c, o);
            let msg = e.to_string();
            assert!(matches!(e, UnpackError::Unsafe { .. }), "case {i}: {msg}");
            assert!(msg.contains("test-layer"), "{msg}");
        }
    });
}

#[test]
fn symlink_replaced_by_file_does_not_write_through() {
    let t = tempfile::tempdir().expect("tmp");
    let layer = t.path().join("layer");
    fs::create_dir_all(&layer).expect("mk");
    fs::write(t.path().join("victim"), b"original").expect("victim");
    run(
        &tar(&[symlink("v", "../victim"), file("v", b"new")]),
        &layer,
        true,
    )
    .expect("ok");
    assert_eq!(fs::read(t.path().join("victim")).expect("v"), b"original");
    assert_eq!(fs::read(layer.join("v")).expect("v"), b"new");
}

#[test]
fn limits_stop_bombs() {
    let t = tempfile::tempdir().expect("tmp");
    let big = vec![0u8; 1 << 20];
    let bytes = tar(&[file("big", &big)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).expect("gz");
    let gz = gz.finish().expect("gz");
    let limits = Limits {
        max_bytes: 100_000,
        ..Limits::default()
    };
    let e = unpack(&gz[..], open_dir(t.path()), &limits, "bomb").expect_err("limit");
    assert!(
        matches!(
            e,
            UnpackError::Limit {
                what: "uncompressed size",
                ..
            }
        ),
        "{e}"
    );

    let many: Vec<E<'_>> = (0..20).map(|_| dir("d/")).collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let e = unpack(&tar(&many)[..], open_dir(t.path()), &limits, "many").expect_err("entries");
    assert!(
        matches!(
            e,
            UnpackError::Limit {
                what: "entry count",
                ..
            }
        ),
        "{e}"
    );

    let long = pax(&[("path", &vec![b'a'; 4096])]);
    let limits = Limits {
        max_header_bytes: 1024,
        ..Limits::default()
    };
    let bytes = tar(&[
        E {
            path: b"p",
            kind: b'x',
            link: b"",
            data: &long,
            mode: 0,
            uid: 0,
        },
        file("x", b""),
    ]);
    let e = unpack(&bytes[..], open_dir(t.path()), &limits, "hdr").expect_err("header");
    assert!(
        matches!(
            e,
            UnpackError::Limit {
                what: "extended header size",
                ..
            }
        ),
        "{e}"
    );

    let deep = "a/".repeat(40) + "f";
    let limits = Limits {
        max_depth: 16,
        ..Limits::default()
    };
    let e = unpack(
        &tar(&[file(&deep, b"")])[..],
        open_dir(t.path()),
        &limits,
        "deep",
    )
    .expect_err("depth");
    assert!(
        matches!(
            e,
            UnpackError::Limit {
                what: "path depth",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn gzip_zstd_and_truncation() {
    let bytes = tar(&[file("hello", b"world")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).expect("gz");
    let gz = gz.finish().expect("gz");
    let zst = zstd::stream::encode_all(&bytes[..], 3).expect("zstd");
    for input in [&bytes[..], &gz[..], &zst[..]] {
        let t = tempfile::tempdir().expect("tmp");
        let s = unpack(input, open_dir(t.path()), &Limits::default(), "l").expect("unpack");
        assert_eq!(s.diff_id, Digest::of(&bytes));
        assert_eq!(fs::read(t.path().join("hello")).expect("r"), b"world");
    }
    let t = tempfile::tempdir().expect("tmp");
    let cut = &gz[..gz.len() - 12];
    let e = unpack(cut, open_dir(t.path()), &Limits::default(), "cut").expect_err("truncated");
    assert!(matches!(e, UnpackError::Tar { .. }), "{e}");
    assert!(e.to_string().contains("cut"), "{e}");
}
