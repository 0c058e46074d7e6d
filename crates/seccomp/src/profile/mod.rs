//! Seccomp profiles as Docker users know them: the default profile, and
//! profile files in Docker's format.
//!
//! Both produce an OCI [`LinuxSeccomp`] for one container on this host, to put
//! in its spec and hand to [`compile`](crate::compile). Docker makes its
//! profiles conditional on the container's capabilities, the host's
//! architecture and its kernel version; those conditions are resolved here, so
//! the OCI profile holds exactly the rules that apply.
//!
//! Capabilities are matched by exact name (`"CAP_SYS_ADMIN"`). Docker tests
//! the container's bounding set; `berth run` gives a container the same
//! bounding and effective sets, so either may be passed.

mod default_table;
mod defaults;
mod docker;
mod error;
mod host;

use oci_spec::runtime::LinuxSeccomp;

pub use error::ProfileError;

use host::Host;

/// The default seccomp profile for a container with the capabilities `caps`.
///
/// Behaves like Docker's default profile: every syscall fails with `EPERM`
/// unless allowed; about 360 everyday syscalls are allowed; `socket` for every
/// address family but `AF_ALG` and `AF_VSOCK`; `personality` only for the
/// harmless personas; `clone` without namespace flags and `clone3` answering
/// `ENOSYS` (so that libc falls back to `clone`), both unrestricted with
/// `CAP_SYS_ADMIN`; and the syscalls each capability is about (`mount`,
/// `unshare`, `setns` with `CAP_SYS_ADMIN`, `ptrace`'s relatives with
/// `CAP_SYS_PTRACE`, `reboot` with `CAP_SYS_BOOT`, ...) only with it.
/// The filter covers the host's architecture and its 32-bit companions
/// (x86 and x32 on x86_64, arm on aarch64).
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    defaults::build(&Host::current(), caps)
}

/// Read a seccomp profile file (`--security-opt seccomp=FILE`) for a
/// container with the capabilities `caps`.
///
/// Accepts Docker's format (`archMap`, `includes` / `excludes` with `caps`,
/// `arches` and `minKernel`, the old single `name`) and plain OCI
/// `LinuxSeccomp` JSON. Unlike Docker, a profile without `defaultAction` is an
/// error, not a silent "unconfined", and unknown fields are rejected; both
/// errors name the field.
pub fn parse_docker_profile(json: &[u8], caps: &[String]) -> Result<LinuxSeccomp, ProfileError> {
    docker::parse(json, &Host::current(), caps)
}

#[cfg(test)]
mod default_tests;
#[cfg(test)]
mod docker_tests;
