use berth_image::spec::SpecError;
use berth_image::{Digest, StoreError};

use crate::auth::AuthError;
use crate::reference::ReferenceError;

/// Errors of talking to a registry and of pulling and pushing.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{url}: {source} (hint: check the registry address and that it is reachable{insecure_hint})")]
    Http {
        url: String,
        insecure_hint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: registry answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{registry}: authentication required or denied (hint: run `berth login {registry}`, or check the repository name and your access to it)")]
    Unauthorized { registry: String },
    #[error("{registry}: token service {realm}: {message}")]
    Token {
        registry: String,
        realm: String,
        message: String,
    },
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("{what}: content digest is {actual}, expected {expected} (the registry sent corrupt or different content)")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference}: no image for platform {platform} (available: {available})")]
    NoPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    #[error("{what}: larger than the {limit} byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("blob {digest}: download failed after {attempts} attempts: {last}")]
    Interrupted {
        digest: Digest,
        attempts: u32,
        last: String,
    },
    #[error("{0}")]
    Task(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}
