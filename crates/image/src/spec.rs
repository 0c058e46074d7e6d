//! The OCI image-spec and Docker schema 2 documents berth reads and writes.
//!
//! Only the fields berth needs are typed; unknown fields are ignored when
//! reading (registries add their own) and the original bytes are what gets
//! stored and hashed, so nothing is lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Largest manifest, index or config berth will read (Docker uses 4 MiB).
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Whether a media type names an image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether a media type names a manifest list / image index.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Whether a media type names a layer berth can unpack.
pub fn is_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_LAYER
            | OCI_LAYER_GZIP
            | OCI_LAYER_ZSTD
            | DOCKER_LAYER_GZIP
            | DOCKER_FOREIGN_LAYER
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, in OCI's spelling.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_owned(),
            os: "linux".to_owned(),
            variant: (architecture == "arm64").then(|| "v8".to_owned()),
            os_version: None,
        }
    }

    /// Whether an index entry's platform can run here.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Manifest {
    /// An OCI image manifest for a config blob and its layers.
    pub fn oci(config: &[u8], layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: OCI_CONFIG.into(),
                digest: Digest::of(config),
                size: config.len() as u64,
                platform: None,
                annotations: None,
                urls: None,
            },
            layers,
            annotations: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The parts of an image config berth reads. The stored blob keeps the rest.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

/// Which document a manifest-ish blob is, judged by its own `mediaType`
/// (or the transport's when the document has none).
#[derive(Debug)]
pub enum Document {
    Manifest(Box<Manifest>),
    Index(Index),
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{what} is not valid JSON for its type: {source} (the registry or archive sent something that is not an image manifest)")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: unsupported media type {media_type:?} (berth reads OCI and Docker schema 2 images)")]
    MediaType { what: String, media_type: String },
    #[error("{what}: {problem}")]
    Invalid { what: String, problem: String },
}

/// Parses a manifest or index. `transport_type` is the Content-Type the
/// registry sent, used when the document does not name its own.
pub fn parse_document(
    bytes: &[u8],
    transport_type: Option<&str>,
    what: &str,
) -> Result<Document, SpecError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        schema_version: Option<u32>,
        manifests: Option<serde_json::Value>,
    }
    let json_err = |source| SpecError::Json {
        what: what.to_owned(),
        source,
    };
    let probe: Probe = serde_json::from_slice(bytes).map_err(json_err)?;
    if probe.schema_version != Some(2) {
        return Err(SpecError::Invalid {
            what: what.to_owned(),
            problem: format!(
                "schemaVersion {:?} is not supported (only schema 2)",
                probe.schema_version
            ),
        });
    }
    let media_type = probe
        .media_type
        .or_else(|| transport_type.map(str::to_owned))
        .unwrap_or_else(|| {
            if probe.manifests.is_some() {
                OCI_INDEX.to_owned()
            } else {
                OCI_MANIFEST.to_owned()
            }
        });
    if is_index(&media_type) {
        let idx: Index = serde_json::from_slice(bytes).map_err(json_err)?;
        Ok(Document::Index(idx))
    } else if is_manifest(&media_type) {
        let m: Manifest = serde_json::from_slice(bytes).map_err(json_err)?;
        for l in &m.layers {
            if !is_layer(&l.media_type) {
                return Err(SpecError::MediaType {
                    what: format!("{what} layer {}", l.digest),
                    media_type: l.media_type.clone(),
                });
            }
        }
        Ok(Document::Manifest(Box::new(m)))
    } else {
        Err(SpecError::MediaType {
            what: what.to_owned(),
            media_type,
        })
    }
}

/// Parses an image config and checks it against the manifest.
pub fn parse_config(
    bytes: &[u8],
    manifest: &Manifest,
    what: &str,
) -> Result<ImageConfig, SpecError> {
    let cfg: ImageConfig = serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
        what: format!("{what} config"),
        source,
    })?;
    if cfg.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(SpecError::Invalid {
            what: what.to_owned(),
            problem: format!(
                "config lists {} diff_ids but the manifest has {} layers",
                cfg.rootfs.diff_ids.len(),
                manifest.layers.len()
            ),
        });
    }
    Ok(cfg)
}

/// Picks the index entry for `platform`.
pub fn select_platform<'a>(index: &'a Index, platform: &Platform) -> Option<&'a Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| is_manifest(&d.media_type))
        .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_json_and_wrong_types() {
        assert!(matches!(
            parse_document(b"<html>", None, "m"),
            Err(SpecError::Json { .. })
        ));
        let e = parse_document(
            br#"{"schemaVersion":2,"mediaType":"text/plain"}"#,
            None,
            "m",
        )
        .expect_err("media type");
        assert!(e.to_string().contains("text/plain"));
        assert!(parse_document(br#"{"schemaVersion":1}"#, None, "m").is_err());
    }

    #[test]
    fn selects_host_platform() {
        let d = |arch: &str, c: char| {
            format!(
                r#"{{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"sha256:{}","platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
                c.to_string().repeat(64)
            )
        };
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{},{}]}}"#,
            d("arm", 'a'),
            d("amd64", 'b')
        );
        let Document::Index(idx) = parse_document(json.as_bytes(), None, "i").expect("parse")
        else {
            panic!("not an index")
        };
        let amd = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        let got = select_platform(&idx, &amd).expect("found");
        assert!(got.digest.hex().starts_with('b'));
    }
}
