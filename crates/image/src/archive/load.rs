//! `load`: a docker-archive or OCI archive into the store.
//!
//! Three steps, so nothing gets a final name until everything checked out:
//! 1. stage every file of the archive ([`Entries`]), hashed as it streams;
//! 2. plan: parse manifest.json or index.json, and check every document's
//!    and blob's digest and size against what refers to it;
//! 3. unpack each missing layer into a temp tree and check its diff id;
//!    only then commit blobs, layers and, last, the names.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::entries::Entries;
use super::{ArchiveError, ArchiveLimits};
use crate::content::Expected;
use crate::digest::{Digest, Hasher};
use crate::layers::{chain_ids, PendingLayer};
use crate::meta::{ImageRecord, LayerRecord};
use crate::spec::{self, Descriptor, Document, ImageConfig, Manifest, Platform};
use crate::store::ImageStore;
use crate::unpack::decompress;

/// How to load.
pub struct LoadOptions<'a> {
    pub limits: ArchiveLimits,
    /// The platform picked from a multi-platform index.
    pub platform: Platform,
    /// Turns a name as an archive writes it (`busybox:latest`) into the
    /// full name berth stores (`docker.io/library/busybox:latest`), or
    /// says what is wrong with it.
    pub normalize_name: &'a dyn Fn(&str) -> Result<String, String>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("limits", &self.limits)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// One image a load stored, with the full names now pointing at it.
#[derive(Debug)]
pub struct Loaded {
    pub record: ImageRecord,
    pub names: Vec<String>,
}

/// A checked image, ready to commit.
struct Plan {
    manifest: Vec<u8>,
    manifest_media_type: String,
    /// Where the manifest is staged (`None`: made from manifest.json).
    manifest_path: Option<String>,
    index: Option<(Digest, String)>,
    config: Digest,
    config_path: String,
    created: Option<String>,
    layers: Vec<(LayerRecord, String)>,
    names: Vec<String>,
}

/// Loads every image of the archive read from `input` (plain, gzip or
/// zstd) and points the names it carries at them.
pub fn load(
    store: &ImageStore,
    input: impl Read,
    opts: &LoadOptions<'_>,
) -> Result<Vec<Loaded>, ArchiveError> {
    let _lock = store.lock_shared()?;
    let mut entries = Entries::read(store.content(), input, &opts.limits)?;
    let plans = if entries.has("manifest.json") {
        docker_plans(&entries, opts)?
    } else if entries.has("index.json") {
        oci_plans(&entries, opts)?
    } else {
        return Err(ArchiveError::Format(
            "neither manifest.json nor index.json found".into(),
        ));
    };
    if plans.is_empty() {
        return Err(ArchiveError::Format("the archive holds no image".into()));
    }
    commit(store, &mut entries, plans)
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// The digest a path names (`blobs/sha256/<hex>` or `<hex>.json`), if any.
fn digest_in_path(path: &str) -> Option<Digest> {
    let name = path.rsplit('/').next()?;
    let hex = name.strip_suffix(".json").unwrap_or(name);
    (hex.len() == 64).then(|| Digest::from_hex(hex).ok())?
}

/// Checks a staged file against the digest its path or referrer names.
fn check(
    entries: &Entries,
    path: &str,
    want: Option<&Digest>,
    size: Option<u64>,
    what: &str,
) -> Result<Digest, ArchiveError> {
    let st = entries.get(path, what)?;
    for expected in want.into_iter().chain(digest_in_path(path).as_ref()) {
        if expected != st.digest() {
            return Err(ArchiveError::Digest {
                what: what.to_owned(),
                path: path.to_owned(),
                expected: expected.clone(),
                actual: st.digest().clone(),
            });
        }
    }
    if let Some(expected) = size.filter(|s| *s != st.size()) {
        return Err(ArchiveError::Size {
            what: what.to_owned(),
            path: path.to_owned(),
            expected,
            actual: st.size(),
        });
    }
    Ok(st.digest().clone())
}

fn names(raw: &[String], opts: &LoadOptions<'_>) -> Result<Vec<String>, ArchiveError> {
    raw.iter()
        .map(|n| {
            (opts.normalize_name)(n).map_err(|problem| ArchiveError::Name {
                name: n.clone(),
                problem,
            })
        })
        .collect()
}

fn docker_plans(entries: &Entries, opts: &LoadOptions<'_>) -> Result<Vec<Plan>, ArchiveError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Item {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let raw = entries.read_doc("manifest.json", "manifest.json")?;
    let items: Vec<Item> =
        serde_json::from_slice(&raw).map_err(|source| spec::SpecError::Json {
            what: "archive manifest.json".into(),
            source,
        })?;
    let mut plans = Vec::new();
    for item in items {
        let what = format!("config {}", item.config);
        let config = check(entries, &item.config, None, None, &what)?;
        let cfg: ImageConfig = parse_json(&entries.read_doc(&item.config, &what)?, &what)?;
        if cfg.rootfs.diff_ids.len() != item.layers.len() {
            return Err(ArchiveError::Format(format!(
                "{what} lists {} diff_ids but manifest.json {} layers",
                cfg.rootfs.diff_ids.len(),
                item.layers.len()
            )));
        }
        let chains = chain_ids(&cfg.rootfs.diff_ids);
        let mut layers = Vec::new();
        for ((path, diff_id), chain) in item.layers.iter().zip(&cfg.rootfs.diff_ids).zip(chains) {
            let what = format!("layer {path}");
            let digest = check(entries, path, None, None, &what)?;
            let st = entries.get(path, &what)?;
            let blob = Descriptor {
                media_type: sniff_layer(st.open()?)
                    .map_err(|source| ArchiveError::Read { source })?,
                digest,
                size: st.size(),
                platform: None,
                annotations: None,
                urls: None,
            };
            let record = LayerRecord {
                blob,
                diff_id: diff_id.clone(),
                chain_id: chain,
            };
            layers.push((record, path.clone()));
        }
        let manifest = serde_json::to_vec(&Manifest {
            schema_version: 2,
            media_type: Some(spec::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: spec::OCI_CONFIG.into(),
                digest: config.clone(),
                size: entries.get(&item.config, &what)?.size(),
                platform: None,
                annotations: None,
                urls: None,
            },
            layers: layers.iter().map(|(l, _)| l.blob.clone()).collect(),
            annotations: None,
        })
        .map_err(|source| spec::SpecError::Json {
            what: "generated manifest".into(),
            source,
        })?;
        plans.push(Plan {
            manifest,
            manifest_media_type: spec::OCI_MANIFEST.into(),
            manifest_path: None,
            index: None,
            config,
            config_path: item.config.clone(),
            created: cfg.created,
            layers,
            names: names(&item.repo_tags.unwrap_or_default(), opts)?,
        });
    }
    Ok(plans)
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|source| {
        spec::SpecError::Json {
            what: what.to_owned(),
            source,
        }
        .into()
    })
}

/// The media type of a layer blob, judged by its first bytes.
fn sniff_layer(mut f: impl Read) -> io::Result<String> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(if head[..n].starts_with(&[0x1f, 0x8b]) {
        spec::OCI_LAYER_GZIP
    } else if head[..n] == [0x28, 0xb5, 0x2f, 0xfd] {
        spec::OCI_LAYER_ZSTD
    } else {
        spec::OCI_LAYER
    }
    .to_owned())
}

/// A document blob of an OCI layout, checked against its descriptor.
fn oci_doc(entries: &Entries, d: &Descriptor, what: &str) -> Result<Vec<u8>, ArchiveError> {
    let path = blob_path(&d.digest);
    check(entries, &path, Some(&d.digest), Some(d.size), what)?;
    entries.read_doc(&path, what)
}

fn oci_plans(entries: &Entries, opts: &LoadOptions<'_>) -> Result<Vec<Plan>, ArchiveError> {
    let layout: serde_json::Value =
        parse_json(&entries.read_doc("oci-layout", "oci-layout")?, "oci-layout")?;
    if !layout["imageLayoutVersion"].is_string() {
        return Err(ArchiveError::Format(
            "oci-layout has no imageLayoutVersion".into(),
        ));
    }
    let raw = entries.read_doc("index.json", "index.json")?;
    let top = match spec::parse_document(&raw, Some(spec::OCI_INDEX), "archive index.json")? {
        Document::Index(i) => i,
        Document::Manifest(_) => {
            return Err(ArchiveError::Format(
                "index.json is not an image index".into(),
            ))
        }
    };
    let mut plans: Vec<Plan> = Vec::new();
    for d in &top.manifests {
        let what = format!("manifest {}", d.digest);
        let bytes = oci_doc(entries, d, &what)?;
        let (mdesc, mbytes, index) = match spec::parse_document(&bytes, Some(&d.media_type), &what)?
        {
            Document::Manifest(_) => (d.clone(), bytes, None),
            Document::Index(idx) => {
                let m = spec::select_platform(&idx, &opts.platform).ok_or_else(|| {
                    ArchiveError::Format(format!(
                        "index {} has no image for {}/{}",
                        d.digest, opts.platform.os, opts.platform.architecture
                    ))
                })?;
                let mb = oci_doc(entries, m, &format!("manifest {}", m.digest))?;
                (
                    m.clone(),
                    mb,
                    Some((d.digest.clone(), blob_path(&d.digest))),
                )
            }
        };
        let raw_names = oci_names(d);
        if let Some(p) = plans
            .iter_mut()
            .find(|p| Digest::of(&p.manifest) == mdesc.digest)
        {
            p.names.extend(names(&raw_names, opts)?);
            continue;
        }
        let mut plan = oci_plan(entries, &mdesc, mbytes, index)?;
        plan.names = names(&raw_names, opts)?;
        plans.push(plan);
    }
    Ok(plans)
}

/// The name an index entry carries: containerd's full name, or an OCI
/// ref.name that is a reference (a bare tag such as skopeo writes names
/// nothing).
fn oci_names(d: &Descriptor) -> Vec<String> {
    let Some(a) = &d.annotations else {
        return Vec::new();
    };
    if let Some(n) = a.get("io.containerd.image.name") {
        return vec![n.clone()];
    }
    match a.get("org.opencontainers.image.ref.name") {
        Some(n) if n.contains(':') || n.contains('/') => vec![n.clone()],
        _ => Vec::new(),
    }
}

fn oci_plan(
    entries: &Entries,
    mdesc: &Descriptor,
    mbytes: Vec<u8>,
    index: Option<(Digest, String)>,
) -> Result<Plan, ArchiveError> {
    let what = format!("manifest {}", mdesc.digest);
    let manifest = match spec::parse_document(&mbytes, Some(&mdesc.media_type), &what)? {
        Document::Manifest(m) => *m,
        Document::Index(_) => {
            return Err(ArchiveError::Format(format!(
                "{what}: an index inside an index"
            )))
        }
    };
    let cfg_bytes = oci_doc(
        entries,
        &manifest.config,
        &format!("config {}", manifest.config.digest),
    )?;
    let cfg = spec::parse_config(&cfg_bytes, &manifest, &what)?;
    let chains = chain_ids(&cfg.rootfs.diff_ids);
    let mut layers = Vec::new();
    for ((blob, diff_id), chain) in manifest.layers.iter().zip(&cfg.rootfs.diff_ids).zip(chains) {
        let path = blob_path(&blob.digest);
        check(
            entries,
            &path,
            Some(&blob.digest),
            Some(blob.size),
            &format!("layer {}", blob.digest),
        )?;
        let record = LayerRecord {
            blob: blob.clone(),
            diff_id: diff_id.clone(),
            chain_id: chain,
        };
        layers.push((record, path));
    }
    Ok(Plan {
        manifest_media_type: manifest
            .media_type
            .clone()
            .unwrap_or_else(|| mdesc.media_type.clone()),
        manifest: mbytes,
        manifest_path: Some(blob_path(&mdesc.digest)),
        index,
        config: manifest.config.digest.clone(),
        config_path: blob_path(&manifest.config.digest),
        created: cfg.created,
        layers,
        names: Vec::new(),
    })
}

/// sha256 of a layer's uncompressed stream.
fn diff_id_of(r: impl Read) -> io::Result<Digest> {
    let mut plain = decompress(BufReader::with_capacity(256 << 10, r))?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match plain.read(&mut buf)? {
            0 => return Ok(h.finish()),
            n => h.update(&buf[..n]),
        }
    }
}

/// Unpacks and checks every layer, then names blobs, layers and images.
fn commit(
    store: &ImageStore,
    entries: &mut Entries,
    plans: Vec<Plan>,
) -> Result<Vec<Loaded>, ArchiveError> {
    let mut pending: Vec<PendingLayer> = Vec::new();
    let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
    for plan in &plans {
        let image = Digest::of(&plan.manifest);
        for (l, path) in &plan.layers {
            if sizes.contains_key(&l.chain_id) {
                continue;
            }
            let f = entries.get(path, "layer")?.open()?;
            if store.layers().contains(&l.chain_id) {
                // The tree exists; the blob must still be what it claims.
                let got = diff_id_of(f).map_err(|e| layer_err(&image, l, e.to_string()))?;
                if got != l.diff_id {
                    return Err(layer_err(&image, l, format!("content has digest {got}")));
                }
                sizes.insert(l.chain_id.clone(), 0);
                continue;
            }
            let (p, n) = store.unpack_pending(f, &l.blob.digest, &l.diff_id, &l.chain_id)?;
            pending.push(p);
            sizes.insert(l.chain_id.clone(), n);
        }
    }
    for plan in &plans {
        commit_blob(store, entries, &plan.config_path, &plan.config)?;
        for (l, path) in &plan.layers {
            commit_blob(store, entries, path, &l.blob.digest)?;
        }
        if let Some((d, path)) = &plan.index {
            commit_blob(store, entries, path, d)?;
        }
        let md = Digest::of(&plan.manifest);
        match &plan.manifest_path {
            Some(path) => commit_blob(store, entries, path, &md)?,
            None => {
                let exp = Expected {
                    digest: Some(md),
                    size: None,
                };
                store.content().write_blob(&plan.manifest, exp)?;
            }
        }
    }
    for p in pending {
        p.commit().map_err(crate::store::StoreError::from)?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sizes: Vec<(Digest, u64)> = sizes.into_iter().filter(|(_, n)| *n > 0).collect();
    let mut out = Vec::new();
    for plan in plans {
        let record = ImageRecord {
            manifest: Digest::of(&plan.manifest),
            manifest_media_type: plan.manifest_media_type,
            index: plan.index.map(|(d, _)| d),
            config: plan.config,
            layers: plan.layers.into_iter().map(|(l, _)| l).collect(),
            repo_digests: Vec::new(),
            created: plan.created,
            added: now,
        };
        store.commit_image(&record, &plan.names, &sizes)?;
        tracing::info!(manifest = %record.manifest, names = ?plan.names, "loaded");
        out.push(Loaded {
            record,
            names: plan.names,
        });
    }
    Ok(out)
}

fn layer_err(image: &Digest, l: &LayerRecord, problem: String) -> ArchiveError {
    ArchiveError::Layer {
        image: image.clone(),
        diff_id: l.diff_id.clone(),
        problem,
    }
}

fn commit_blob(
    store: &ImageStore,
    entries: &mut Entries,
    path: &str,
    digest: &Digest,
) -> Result<(), ArchiveError> {
    match entries.take(path) {
        Some(st) => {
            st.commit(&Expected {
                digest: Some(digest.clone()),
                size: None,
            })?;
        }
        None if store.content().contains(digest) => {}
        None => {
            return Err(ArchiveError::Missing {
                what: format!("blob {digest}"),
                path: path.to_owned(),
            })
        }
    }
    Ok(())
}
