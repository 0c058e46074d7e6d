//! Seccomp for berth: OCI `linux.seccomp` profiles compiled to BPF.
//!
//! # Design
//!
//! The work is split across the runtime's two processes:
//!
//! 1. [`compile`] runs in the runtime's parent, before any fork. It validates the
//!    profile, translates it with libseccomp (default action, architectures,
//!    rules with argument filters, runc's rule-splitting quirk), exports the BPF
//!    program and returns it as a [`Program`]. Every mistake in the profile is an
//!    [`Error`] naming the spec field, reported before anything was created.
//! 2. [`Program::load`] runs in the container's init, right before `execve`. It
//!    installs the raw BPF with a single `seccomp(SECCOMP_SET_MODE_FILTER, flags)`
//!    syscall instead of `seccomp_load`: the child, possibly a fork of a
//!    multi-threaded process, does no allocation-heavy library work (libseccomp
//!    would rebuild the whole program there), and the filter flags (`LOG`,
//!    `SPEC_ALLOW`, `WAIT_KILLABLE_RECV`, `NEW_LISTENER`) are ours to pass,
//!    whatever the installed libseccomp version knows about.
//! 3. With `SCMP_ACT_NOTIFY`, `load` returns the listener fd and
//!    [`send_listener_fd`] passes it with `SCM_RIGHTS`, together with the
//!    container process state, to the agent at `listenerPath`.
//!
//! Unknown action, operator, architecture and flag names never reach this
//! crate: `oci-spec` rejects them when the spec is parsed.
//!
//! Where the OCI profile comes from is the caller's choice; for Docker's
//! behaviour, [`default_profile`] builds Docker's default profile for a
//! container's capabilities, and [`parse_docker_profile`] reads the profile
//! files of `--security-opt seccomp=FILE`. Compiling the default profile is
//! on `berth run`'s fast path: see `tests/default_profile.rs`
//! (`measure_default_profile_compile_time`) for what it costs.

mod cache;
mod compile;
mod error;
mod listener;
mod profile;
mod program;

pub use cache::compile_cached;
pub use compile::compile;
pub use error::Error;
pub use listener::send_listener_fd;
pub use profile::{default_profile, parse_docker_profile, ProfileError};
pub use program::Program;
