//! The OCI runtime core: a bundle (`config.json` + root filesystem) in, an
//! isolated process out. It knows nothing of images, names or networks.
//!
//! The flow: [`plan`] validates the spec into a [`plan::Plan`] before any
//! side effect; [`container::Runtime`] creates the state directory and the
//! cgroup and forks the init with `clone3`; [`init`] sets the container up
//! from inside its namespaces ([`rootfs`], [`caps`]) and execs the process.
//! [`exec`] adds a process to a running container; `ops` pauses, resumes,
//! lists, measures and updates one through its cgroup; [`terminal`] hands a
//! pty master to a console socket.

pub mod caps;
pub mod channel;
pub mod container;
pub mod error;
pub mod exec;
pub mod hooks;
pub mod init;
pub mod mountopts;
mod ops;
pub mod plan;
pub mod process;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod terminal;

pub use berth_cgroups::Stats;
pub use container::{CreateOptions, Runtime, Summary};
pub use error::{Error, Result};
pub use exec::ExecOptions;
pub use ops::Status;
pub use plan::read_spec;

/// Re-executes the runtime from a read-only mount of its own binary unless
/// it already runs from one (CVE-2019-5736); see [`berth_sys::exe`].
pub fn protect_runtime_binary() -> Result<()> {
    berth_sys::exe::reexec_protected().map_err(error::sys(
        "re-executing from a read-only copy of the runtime binary",
    ))
}

/// runc's default state directory: `/run/berth-runtime` for root,
/// `$XDG_RUNTIME_DIR/berth-runtime` for anyone else (rootless).
pub fn default_state_root() -> std::path::PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !rustix::process::geteuid().is_root() && !dir.is_empty() => {
            std::path::PathBuf::from(dir).join("berth-runtime")
        }
        _ => std::path::PathBuf::from("/run/berth-runtime"),
    }
}
