//! The crate's one error type.
//!
//! Every variant produced while compiling names the spec field it is about
//! (`linux.seccomp.syscalls[3].args[0].index`) and the offending value, so the
//! user can find the line of `config.json` to fix.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while compiling, loading or handing over a filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A syscall name is the empty string.
    #[error("{field}: empty syscall name")]
    EmptySyscallName { field: String },

    /// A syscall name contains characters no syscall name has.
    #[error("{field}: invalid syscall name {name:?} (expected lowercase letters, digits and '_')")]
    InvalidSyscallName { field: String, name: String },

    /// An argument filter refers to an argument a syscall cannot have.
    #[error("{field}: argument index {index} is out of range (syscalls have arguments 0..=5)")]
    ArgIndexOutOfRange { field: String, index: usize },

    /// An errno or trace value does not fit in the 16 data bits of a seccomp return value.
    #[error("{field}: {value} is out of range (0..=65535)")]
    ReturnValueOutOfRange { field: String, value: u32 },

    /// `SCMP_ACT_NOTIFY` as the default action would stop the runtime's own
    /// syscalls before it could hand the listener over.
    #[error(
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action \
         (the runtime's own syscalls after loading would wait for an agent that has no fd yet)"
    )]
    NotifyDefaultAction,

    /// A rule uses `SCMP_ACT_NOTIFY` but there is nobody to send the listener fd to.
    #[error("{field}: SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath to be set")]
    NotifyWithoutListenerPath { field: String },

    /// `listenerPath` is set but no rule would ever notify it.
    #[error(
        "linux.seccomp.listenerPath: {path:?} is set but no syscall rule uses SCMP_ACT_NOTIFY"
    )]
    ListenerPathWithoutNotify { path: PathBuf },

    /// A filter flag that only makes sense with a notify listener.
    #[error("{field}: {flag} requires a syscall rule with SCMP_ACT_NOTIFY")]
    FlagRequiresNotify { field: String, flag: &'static str },

    /// libseccomp refused part of the translated profile.
    #[error("{field}: libseccomp rejected {what}: {source}")]
    Libseccomp {
        field: String,
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },

    /// Exporting the compiled program from libseccomp failed.
    #[error("linux.seccomp: exporting the compiled BPF program failed: {reason}")]
    Export { reason: String },

    /// The kernel refuses filters longer than `BPF_MAXINSNS` instructions.
    #[error(
        "linux.seccomp: the compiled filter has {len} BPF instructions, the kernel accepts at most {max}; \
         Hint: merge rules that share an action or drop unneeded ones"
    )]
    ProgramTooLong { len: usize, max: usize },

    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed in the container's init.
    #[error("loading the seccomp filter (flags {flags:#x}) failed: {source}{}", load_hint(.source))]
    Load {
        flags: libc::c_ulong,
        #[source]
        source: io::Error,
    },

    /// The container process state to send to the agent is empty; a unix
    /// stream socket cannot carry an fd without at least one data byte.
    #[error("linux.seccomp.listenerPath: the container process state sent with the fd must not be empty")]
    EmptyListenerState,

    /// Connecting to the seccomp agent's socket failed.
    #[error("linux.seccomp.listenerPath: connecting to {path:?} failed: {source}")]
    ListenerConnect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Sending the notify fd and state to the agent failed.
    #[error("linux.seccomp.listenerPath: sending the seccomp fd to {path:?} failed: {source}")]
    ListenerSend {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A hint for the load errors a user can do something about.
fn load_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EACCES) => {
            "; Hint: set process.noNewPrivileges, or load the filter while the process still has CAP_SYS_ADMIN"
        }
        Some(libc::EINVAL) => "; Hint: this kernel may not support one of the requested seccomp filter flags",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_and_program_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<super::Error>();
        assert_send_sync::<crate::Program>();
    }
}
