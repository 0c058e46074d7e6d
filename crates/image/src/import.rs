//! `import`: a rootfs tarball into a single-layer image, as `docker import`.
//!
//! The (plain, gzip or zstd) tarball is decompressed once into an unnamed
//! blob (the layer is stored uncompressed: its digest is its diff id), then
//! unpacked by the secure unpacker into a temp tree. Config, layer,
//! manifest and names are committed only when that succeeded.

use std::io::{self, BufReader, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::changes::{self, Change};
use crate::content::Expected;
use crate::digest::Digest;
use crate::meta::{ImageRecord, LayerRecord};
use crate::spec::{self, Descriptor, Manifest, Platform};
use crate::store::{ImageStore, StoreError};
use crate::unpack::decompress;

/// Errors of importing a tarball.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("import: reading the tarball: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("import: encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::content::ContentError> for ImportError {
    fn from(e: crate::content::ContentError) -> ImportError {
        ImportError::Store(e.into())
    }
}

/// What to make of the tarball.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `--change` instructions, applied in order.
    pub changes: Vec<Change>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    pub platform: Platform,
    /// Full names to point at the image.
    pub names: Vec<String>,
}

/// Imports the tarball read from `input`; returns the stored image.
pub fn import(
    store: &ImageStore,
    input: impl Read,
    opts: &ImportOptions,
) -> Result<ImageRecord, ImportError> {
    let _lock = store.lock_shared()?;
    let mut plain = decompress(BufReader::with_capacity(256 << 10, input))
        .map_err(|source| ImportError::Read { source })?;
    let mut ing = store.content().ingest(Expected::default())?;
    io::copy(&mut plain, &mut ing).map_err(|source| ImportError::Read { source })?;
    let staged = ing.finish()?;
    let diff_id = staged.digest().clone();
    let size = staged.size();
    let pending = if store.layers().contains(&diff_id) {
        None
    } else {
        Some(store.unpack_pending(staged.open()?, &diff_id, &diff_id, &diff_id)?)
    };

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let created = rfc3339(now);
    let config = config_json(opts, &created, &diff_id)?;
    let config_digest = Digest::of(&config);
    let blob = Descriptor {
        media_type: spec::OCI_LAYER.into(),
        digest: diff_id.clone(),
        size,
        platform: None,
        annotations: None,
        urls: None,
    };
    let manifest =
        serde_json::to_vec(&Manifest::oci(&config, vec![blob.clone()])).map_err(|source| {
            ImportError::Encode {
                what: "the manifest",
                source,
            }
        })?;

    staged.commit(&Expected::default())?;
    store.content().write_blob(&config, Expected::default())?;
    let manifest_digest = store.content().write_blob(&manifest, Expected::default())?;
    let mut sizes = Vec::new();
    if let Some((p, n)) = pending {
        p.commit().map_err(StoreError::from)?;
        sizes.push((diff_id.clone(), n));
    }
    let record = ImageRecord {
        manifest: manifest_digest,
        manifest_media_type: spec::OCI_MANIFEST.into(),
        index: None,
        config: config_digest,
        layers: vec![LayerRecord {
            blob,
            diff_id: diff_id.clone(),
            chain_id: diff_id,
        }],
        repo_digests: Vec::new(),
        created: Some(created),
        added: now,
    };
    store.commit_image(&record, &opts.names, &sizes)?;
    tracing::info!(image = %record.config, names = ?opts.names, "imported");
    Ok(record)
}

fn config_json(
    opts: &ImportOptions,
    created: &str,
    diff_id: &Digest,
) -> Result<Vec<u8>, ImportError> {
    let mut cfg = Map::new();
    changes::apply(&opts.changes, &mut cfg);
    let mut history = json!({"created": created, "created_by": "berth import"});
    if let Some(m) = &opts.message {
        history["comment"] = Value::from(m.clone());
    }
    let mut doc = json!({
        "created": created,
        "architecture": opts.platform.architecture,
        "os": opts.platform.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [history],
    });
    if let Some(m) = &opts.message {
        doc["comment"] = Value::from(m.clone());
    }
    if let Some(v) = &opts.platform.variant {
        doc["variant"] = Value::from(v.clone());
    }
    serde_json::to_vec(&doc).map_err(|source| ImportError::Encode {
        what: "the image config",
        source,
    })
}

/// Unix seconds as RFC 3339 UTC (`2024-01-01T00:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    berth_time::rfc3339(secs as i64, None).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
    }
}
