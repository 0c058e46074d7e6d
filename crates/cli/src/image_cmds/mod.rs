//! The image commands of `berth`: argument types and the glue from them to
//! the image and registry libraries.

mod archive;
pub(crate) mod format;
mod inspect;
mod login;
mod manage;
mod pull;
mod push;

use std::path::PathBuf;
use std::sync::Arc;

use berth_image::meta::ImageRecord;
use berth_image::{Digest, ImageStore, StoreError};
use berth_registry::{Reference, RegistryError};

pub use archive::{import, load, save, ImportArgs, LoadArgs, SaveArgs};
pub use inspect::{inspect, InspectArgs};
pub use login::{login, logout, LoginArgs, LogoutArgs};
pub use manage::{
    image_usage, images, prune, prune_images, rmi, tag, ImageUsage, ImagesArgs, PruneArgs, RmiArgs,
    TagArgs,
};
pub use pull::{parse_platform, pull, PullArgs};
pub use push::{push, PushArgs};

/// Options every command shares.
pub struct Global {
    pub root: PathBuf,
    /// The containers' run root: `rmi` and `prune` ask the engine which
    /// containers use an image.
    pub run_root: PathBuf,
    pub insecure_registries: Vec<String>,
}

impl Global {
    /// Containers by the manifest digest of the image they use.
    pub fn image_users(&self) -> Result<Vec<berth_engine::images::ImageUser>> {
        berth_engine::Engine::new(&self.root, &self.run_root)
            .image_users()
            .map_err(|e| CliError::Usage(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Meta(#[from] berth_image::meta::MetaError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Reference(#[from] berth_registry::reference::ReferenceError),
    #[error(transparent)]
    Auth(#[from] berth_registry::auth::AuthError),
    #[error(transparent)]
    Archive(#[from] archive::ArchiveCmdError),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, CliError>;

pub(crate) fn open_store(g: &Global) -> Result<Arc<ImageStore>> {
    Ok(Arc::new(ImageStore::open(&g.root)?))
}

/// The store for looking images up only (no writes, no fsyncs).
pub(crate) fn open_store_read_only(g: &Global) -> Result<ImageStore> {
    Ok(ImageStore::open_read_only(&g.root)?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|source| CliError::Io {
            what: "starting the async runtime".into(),
            source,
        })
}

/// An image found from what the user typed, with the name it matched.
pub(crate) struct Found {
    pub record: ImageRecord,
    names: Vec<String>,
    by_name: Option<String>,
}

/// Resolves a user's image argument the way Docker does: a name first,
/// then a (prefix of an) image id or a manifest digest.
pub(crate) fn find_image(store: &ImageStore, arg: &str) -> Result<Found> {
    let all = store.meta().list()?;
    if let Ok(r) = arg.parse::<Reference>() {
        if let Some(n) = r.tagged_name() {
            if let Some((rec, names)) = all.iter().find(|(_, ns)| ns.contains(&n)) {
                return Ok(Found {
                    record: rec.clone(),
                    names: names.clone(),
                    by_name: Some(n),
                });
            }
        }
        if let Some(d) = r.digest() {
            let rd = format!("{}@{d}", r.name());
            if let Some((rec, names)) = all
                .iter()
                .find(|(rec, _)| rec.repo_digests.contains(&rd) || rec.manifest == *d)
            {
                return Ok(Found {
                    record: rec.clone(),
                    names: names.clone(),
                    by_name: None,
                });
            }
        }
    }
    let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
    if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<_> = all
            .iter()
            .filter(|(rec, _)| {
                rec.config.hex().starts_with(hex) || rec.manifest.hex().starts_with(hex)
            })
            .collect();
        match hits.as_slice() {
            [(rec, names)] => {
                return Ok(Found {
                    record: rec.clone(),
                    names: names.clone(),
                    by_name: None,
                })
            }
            [] => {}
            _ => {
                return Err(CliError::Usage(format!(
                    "image id prefix {arg} is ambiguous; give more characters"
                )))
            }
        }
    }
    Err(CliError::NoSuchImage(arg.to_owned()))
}

/// `docker.io/library/busybox:latest` → (`busybox`, `latest`).
fn split_name(full: &str) -> (String, String) {
    let fam = berth_registry::reference::familiar(full);
    let slash = fam.rfind('/').map_or(0, |i| i + 1);
    match fam[slash..].rfind(':') {
        Some(i) => (fam[..slash + i].to_owned(), fam[slash + i + 1..].to_owned()),
        None => (fam, "<none>".to_owned()),
    }
}

fn image_id(rec: &ImageRecord) -> &Digest {
    &rec.config
}
