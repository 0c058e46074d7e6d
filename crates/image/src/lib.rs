//! berth's image layer: the content store, the image index, layer unpacking
//! and snapshots. See shared/DESIGN.md ("image").

pub mod archive;
pub mod changes;
pub mod content;
pub mod digest;
pub mod import;
pub mod layers;
pub mod meta;
pub mod snapshot;
pub mod spec;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use store::{ImageStore, StoreError};

/// Whether a temp name `<pid>-<n>` (or `.tmp-<pid>-<n>`) belongs to a process
/// that no longer runs, so its leftovers can be removed.
pub(crate) fn stale_owner(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let name = name.strip_prefix(".tmp-").unwrap_or(name);
    match name.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) => {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        None => false,
    }
}
