#![recursion_limit = "256"]
//! The engine: containers as users see them. A container is created from
//! an image and options ([`create`]), started under a small supervisor
//! process that is its parent ([`supervisor`]), and stopped, waited for,
//! listed and removed by any later `berth` command ([`lifecycle`]). Its
//! records live under `<root>/containers/<id>` ([`record`]); the runtime
//! turns the spec made by [`spec`] into the isolated process.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod copy;
pub mod create;
pub mod error;
pub mod etc;
pub mod exec;
pub mod ids;
pub mod imageconfig;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod network;
pub mod options;
pub mod record;
pub mod spec;
pub mod stats;
pub mod supervisor;
pub mod system;
pub mod terminal;
pub mod time;
pub mod top;
pub mod user;
pub mod volumes;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use options::ContainerOptions;
pub use record::{Record, State, Status};

/// Where an engine keeps its state.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Persistent state (`--root`): containers, volumes, images.
    pub root: PathBuf,
    /// State gone after a reboot (`--run-root`): the runtime's.
    pub run_root: PathBuf,
    pub cgroup_root: PathBuf,
}

impl Engine {
    pub fn new(root: &Path, run_root: &Path) -> Engine {
        Engine {
            root: root.to_owned(),
            run_root: run_root.to_owned(),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
        }
    }

    /// The OCI runtime, with its state under the run root.
    pub fn runtime(&self) -> berth_runtime::Runtime {
        berth_runtime::Runtime {
            root: self.run_root.join("runtime"),
            cgroup_root: self.cgroup_root.clone(),
        }
    }

    pub fn paths(&self, id: &str) -> record::Paths {
        record::Paths::new(&self.root, id)
    }

    pub fn volumes(&self) -> volumes::Volumes {
        volumes::Volumes::new(&self.root)
    }

    fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }
}
