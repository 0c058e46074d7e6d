//! cgroup v1, v2 and hybrid management for berth.
//!
//! Every path is relative to an injectable root (normally `/sys/fs/cgroup`), so the policy and
//! file layout are unit-tested against temporary trees. The split:
//! - `mounts`: where the hierarchies are (mountinfo, /proc/self/cgroup) and the [`Layout`];
//! - `policy`: which file gets which value for a `LinuxResources` (pure, table-tested);
//! - `devices` + `bpf`: device rules for v1 files or a v2 eBPF filter;
//! - `cgroup`: [`Cgroup`], which carries a plan out on the real (or fake) filesystem.
//!
//! Typical use by the runtime:
//! ```no_run
//! # fn f(spec: &oci_spec::runtime::Linux, pid: i32) -> Result<(), berth_cgroups::Error> {
//! use std::path::Path;
//! let root = Path::new(berth_cgroups::DEFAULT_ROOT);
//! let cg = berth_cgroups::Cgroup::new(root, spec.cgroups_path().as_deref(), "ctr-id")?;
//! cg.create()?;
//! if let Some(r) = spec.resources() {
//!     cg.set(r)?; // validated as a whole before the first write
//! }
//! cg.add_task(pid)?; // or clone3(CLONE_INTO_CGROUP) with cg.clone_into_fd() on pure v2
//! let state = cg.to_state(); // keep in the container's state file ...
//! let again = berth_cgroups::Cgroup::from_state(root, &state)?; // ... for kill/pause/delete
//! again.destroy()?;
//! # Ok(()) }
//! ```
//!
//! Tests: `cargo test -p berth-cgroups --lib` (fake trees, no privileges);
//! `--test privileged` (root, this host's v1/hybrid cgroupfs, `berth-test-*` cgroups);
//! `--test vm_cgroup2` (boots `scripts/vm-cgroup2.sh` and checks pure v2 inside the VM).

mod bpf;
mod cgroup;
mod devices;
mod error;
mod fsio;
mod mounts;
pub mod policy;

#[cfg(test)]
mod bpf_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use bpf::{compile as compile_device_filter, Insn};
pub use cgroup::{Cgroup, HierarchyDir, Stats};
pub use devices::{DevKind, DeviceRule};
pub use error::Error;
pub use mounts::{
    detect, detect_from_mountinfo, is_unified, parse_mountinfo, Hierarchy, Layout, System,
};

/// The usual root of the cgroup hierarchies.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
