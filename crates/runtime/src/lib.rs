//! The OCI runtime core: a bundle (`config.json` + root filesystem) in, an
//! isolated process out. It knows nothing of images, names or networks.
//!
//! The flow: [`plan`] validates the spec into a [`plan::Plan`] before any
//! side effect; [`container::Runtime`] creates the state directory and the
//! cgroup and forks the init with `clone3`; [`init`] sets the container up
//! from inside its namespaces ([`rootfs`], [`caps`]) and execs the process.

pub mod caps;
pub mod channel;
pub mod container;
pub mod error;
pub mod hooks;
pub mod init;
pub mod mountopts;
pub mod plan;
pub mod rootfs;
pub mod spec;
pub mod state;

pub use container::{CreateOptions, Runtime, Summary};
pub use error::{Error, Result};
