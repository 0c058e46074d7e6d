//! Image archives: `docker save` tarballs (manifest.json, repositories,
//! configs and layer tars) and OCI image layouts in a tar (oci-layout,
//! index.json, blobs/sha256), written by [`save`] and read by [`load`].
//!
//! Loading treats an archive as hostile: every entry is staged as an
//! unnamed blob in the content store's filesystem, hashed as it streams;
//! only once the manifests are parsed and every digest, size and diff id
//! checked (layers unpacked into temp trees) does anything get a final name.

mod entries;
mod load;
mod save;

use std::io;

pub use load::{load, LoadOptions, Loaded};
pub use save::{save, SaveFormat, SaveItem, SaveName};

use crate::content::ContentError;
use crate::digest::Digest;
use crate::meta::MetaError;
use crate::spec::SpecError;
use crate::store::StoreError;

/// Errors of saving and loading archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "archive: reading the tar stream: {source} (the archive is truncated or not a tar file)"
    )]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("archive: writing: {source}")]
    Write {
        #[source]
        source: io::Error,
    },
    #[error(
        "archive entry {path:?}: {reason}; refusing to load (the archive is malformed or hostile)"
    )]
    Hostile { path: String, reason: String },
    #[error("archive: {what} exceeds the limit of {limit}")]
    Limit { what: &'static str, limit: u64 },
    #[error("archive: {0} (berth loads `docker save` archives with a manifest.json and OCI layouts with index.json and oci-layout)")]
    Format(String),
    #[error("archive: {what} refers to {path:?}, which the archive does not contain")]
    Missing { what: String, path: String },
    #[error("archive: {what}: {path:?} has digest {actual}, expected {expected} (the archive is corrupt or was tampered with)")]
    Digest {
        what: String,
        path: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("archive: {what}: {path:?} is {actual} bytes, expected {expected}")]
    Size {
        what: String,
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("archive: image name {name:?}: {problem}")]
    Name { name: String, problem: String },
    #[error("archive: layer {diff_id} of image {image}: {problem}")]
    Layer {
        image: Digest,
        diff_id: Digest,
        problem: String,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ContentError> for ArchiveError {
    fn from(e: ContentError) -> ArchiveError {
        ArchiveError::Store(e.into())
    }
}

impl From<MetaError> for ArchiveError {
    fn from(e: MetaError) -> ArchiveError {
        ArchiveError::Store(e.into())
    }
}

/// Bounds on what an archive may contain.
#[derive(Debug, Clone)]
pub struct ArchiveLimits {
    /// Tar entries in the archive.
    pub max_entries: u64,
    /// Bytes of one PAX or GNU long-name header.
    pub max_header_bytes: u64,
    /// Bytes of one entry.
    pub max_entry_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> ArchiveLimits {
        ArchiveLimits {
            max_entries: 100_000,
            max_header_bytes: 64 << 10,
            max_entry_bytes: 64 << 30,
        }
    }
}

#[cfg(test)]
mod tests;
