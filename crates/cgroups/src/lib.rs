//! cgroup v1, v2 and hybrid management for berth.
//!
//! Every path is relative to an injectable root (normally `/sys/fs/cgroup`), so the policy and
//! file layout are unit-tested against temporary trees. The split:
//! - `mounts`: where the hierarchies are (mountinfo, /proc/self/cgroup) and the [`Layout`];
//! - `policy`: which file gets which value for a `LinuxResources` (pure, table-tested);
//! - `devices` + `bpf`: device rules for v1 files or a v2 eBPF filter;
//! - `cgroup`: [`Cgroup`], which carries a plan out on the real (or fake) filesystem.

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
pub use cgroup::{Cgroup, Stats};
pub use devices::{DevKind, DeviceRule};
pub use error::Error;
pub use mounts::{detect, detect_from_mountinfo, parse_mountinfo, Hierarchy, Layout, System};

/// The usual root of the cgroup hierarchies.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
