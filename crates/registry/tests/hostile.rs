//! Hostile registries: cut connections, corrupt blobs, bad manifests and
//! escaping layers. Each fails with a clear error, leaves nothing under a
//! final name, and the next pull succeeds.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use berth_registry::auth::DockerConfig;
use berth_registry::pull::{pull, PullOptions, Pulled};
use berth_registry::{Client, ClientOptions, Reference, RegistryError};
use common::*;

struct Env {
    fake: FakeRegistry,
    _cfg: tempfile::TempDir,
    client: Client,
    _t: tempfile::TempDir,
    store: Arc<berth_image::ImageStore>,
}

fn env() -> Env {
    let fake = FakeRegistry::start();
    let cfg = tempfile::tempdir().expect("cfg");
    let client = Client::new(ClientOptions {
        docker_config: Some(DockerConfig::at(cfg.path().join("config.json"))),
        ..Default::default()
    })
    .expect("client");
    let (t, store) = store();
    Env {
        fake,
        _cfg: cfg,
        client,
        _t: t,
        store,
    }
}

impl Env {
    async fn pull(&self, name: &str) -> Result<Pulled, RegistryError> {
        let r: Reference = format!("{}/{name}", self.fake.addr).parse().expect("ref");
        pull(
            &self.client,
            self.store.clone(),
            &r,
            &PullOptions::default(),
            Arc::new(|_| {}),
        )
        .await
    }

    /// The bad layer has neither tree nor blob, the image is not recorded,
    /// no temp file is left behind. (Good layers of the same image may be
    /// kept: they are verified content the next pull reuses.)
    fn assert_nothing_stored(&self, img: &Image, bad: usize) {
        let l = &img.layers[bad];
        assert!(
            !self.store.content().contains(&sha(&l.blob)),
            "the bad blob got a final name"
        );
        let chains = berth_image::layers::chain_ids(
            &img.layers
                .iter()
                .map(|l| l.diff_id.clone())
                .collect::<Vec<_>>(),
        );
        assert!(
            !self.store.layers().contains(&chains[bad]),
            "the bad layer got a final name"
        );
        assert!(!self.store.content().contains(&img.digest()));
        assert!(
            self.store.meta().list().expect("list").is_empty(),
            "image recorded"
        );
        let root = self.store.root();
        assert!(
            files_under(&root.join("content/ingest")).is_empty(),
            "ingest leftovers"
        );
        let temps: Vec<_> = files_under(&root.join("layers"))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        assert!(temps.is_empty(), "layer temp leftovers: {temps:?}");
    }
}

fn small_image() -> Image {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    Image::new(
        vec![
            Layer::gzip(tar_of(&[Ent::File("a/big", &big, 0o644, 0)])),
            Layer::plain(tar_of(&[Ent::File("b", b"b", 0o644, 0)])),
        ],
        "amd64",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_a_cut_layer_with_range() {
    let e = env();
    let img = small_image();
    e.fake.put_image("x/img", "v1", &img);
    e.fake.cut_next.store(1, Ordering::SeqCst);
    let p = e.pull("x/img:v1").await.expect("pull survives one cut");
    assert!(
        e.fake.range_requests.load(Ordering::SeqCst) >= 1,
        "resumed with Range"
    );
    assert_eq!(p.record.manifest, img.digest());
    let dir = e.store.layers().path(&p.record.layers[0].chain_id);
    assert_eq!(
        std::fs::read(dir.join("a/big")).expect("big").len(),
        800_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_every_time_then_recovers() {
    let e = env();
    let img = small_image();
    e.fake.put_image("x/img", "v1", &img);
    e.fake.cut_next.store(1000, Ordering::SeqCst);
    let err = e.pull("x/img:v1").await.expect_err("always cut");
    assert!(matches!(err, RegistryError::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("download failed after"), "{err}");
    e.assert_nothing_stored(&img, 0);
    e.fake.cut_next.store(0, Ordering::SeqCst);
    e.pull("x/img:v1").await.expect("next pull succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_digest_mismatch() {
    let e = env();
    let img = small_image();
    e.fake.put_image("x/img", "v1", &img);
    let d = sha(&img.layers[1].blob);
    let mut evil = img.layers[1].blob.clone();
    evil[600] ^= 0xff;
    e.fake.put(
        &format!("/v2/x/img/blobs/{d}"),
        "application/octet-stream",
        evil,
    );
    let err = e.pull("x/img:v1").await.expect_err("mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("digest mismatch") || msg.contains(&d.to_string()),
        "{msg}"
    );
    e.assert_nothing_stored(&img, 1);
    e.fake.put_image("x/img", "v1", &img);
    e.pull("x/img:v1").await.expect("next pull succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_that_is_not_json() {
    let e = env();
    e.fake.put(
        "/v2/x/img/manifests/v1",
        "application/vnd.oci.image.manifest.v1+json",
        b"<html>oops</html>".to_vec(),
    );
    let err = e.pull("x/img:v1").await.expect_err("not json");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert!(e.store.meta().list().expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_layers_are_refused() {
    for (i, path) in [
        "../../../../tmp/berth-pwned",
        "/tmp/berth-pwned",
        "a/../../berth-pwned",
    ]
    .iter()
    .enumerate()
    {
        let e = env();
        let img = Image::new(vec![Layer::gzip(raw_tar(path, b"pwned"))], "amd64");
        e.fake.put_image("x/evil", "v1", &img);
        let err = e.pull("x/evil:v1").await.expect_err("escape");
        let msg = err.to_string();
        assert!(msg.contains("refusing to unpack"), "case {i}: {msg}");
        e.assert_nothing_stored(&img, 0);
        assert!(!std::path::Path::new("/tmp/berth-pwned").exists());
        let good = small_image();
        e.fake.put_image("x/good", "v1", &good);
        e.pull("x/good:v1").await.expect("next pull succeeds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_gzip_layer() {
    let e = env();
    let tar = tar_of(&[Ent::File("f", &[7u8; 100_000], 0o644, 0)]);
    let gz = gzip(&tar);
    let cut = gz[..gz.len() / 2].to_vec();
    // descriptor matches the truncated bytes: only the decompressor can tell
    let img = Image::new(
        vec![Layer {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
            blob: cut,
            diff_id: sha(&tar),
        }],
        "amd64",
    );
    e.fake.put_image("x/cut", "v1", &img);
    let err = e.pull("x/cut:v1").await.expect_err("truncated");
    assert!(err.to_string().contains("truncated or corrupt"), "{err}");
    e.assert_nothing_stored(&img, 0);
}
