//! Direct kernel calls for berth, each behind a small safe function.
//!
//! Policy lives elsewhere (the runtime decides *what* to mount, which
//! namespaces to create); this crate only carries the decisions out. Every
//! path inside a container's root is resolved by file descriptor with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink planted in an image can never lead
//! a mount or a write out of the root.

pub mod clone;
pub mod exe;
pub mod fdpass;
pub mod mount;
pub mod netif;
pub mod path;
pub mod procfs;
pub mod pty;
pub mod signal;
pub mod writeback;

pub use rustix::io::Errno;
