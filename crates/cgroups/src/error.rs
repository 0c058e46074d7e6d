//! The crate's one error type. Every variant names the object it failed on.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a cgroupfs file failed.
    #[error("write {value:?} to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// Reading a cgroupfs or procfs file failed.
    #[error("read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file was read but its content is not what the kernel documents.
    #[error("parse {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    /// Creating a cgroup directory failed.
    #[error("create cgroup directory {}: {source}", path.display())]
    Mkdir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Removing a cgroup directory failed (after retries for EBUSY).
    #[error("remove cgroup directory {}: {source}", path.display())]
    Rmdir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Opening a cgroup directory failed.
    #[error("open cgroup directory {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A value in `linux.resources` is out of range or malformed.
    #[error("linux.resources.{field}: invalid value {value}: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: String,
    },
    /// A field in `linux.resources` cannot be honoured on this host.
    #[error("linux.resources.{field} is not supported on {layout}: {hint}")]
    Unsupported {
        field: String,
        layout: String,
        hint: String,
    },
    /// The cgroupsPath (or container id) cannot be used as a cgroup path.
    #[error("cgroups path {path:?}: {reason}")]
    BadPath { path: String, reason: String },
    /// No cgroup filesystem is mounted at or under the root.
    #[error("no cgroup filesystem mounted at or under {}; hint: mount cgroup2 there or pass the right root", root.display())]
    NoCgroupfs { root: PathBuf },
    /// The process's own cgroup for a hierarchy could not be found in /proc/self/cgroup.
    #[error("{hierarchy}: not listed in /proc/self/cgroup")]
    NotInHierarchy { hierarchy: String },
    /// Waiting for a freezer state change timed out.
    #[error("timed out waiting for {} to report {want}", path.display())]
    Timeout { path: PathBuf, want: String },
    /// A bpf(2) call failed while installing the v2 device filter.
    #[error("bpf {op} for {}: {source}{}", path.display(), if log.is_empty() { String::new() } else { format!("; verifier log: {log}") })]
    Bpf {
        op: &'static str,
        path: PathBuf,
        log: String,
        #[source]
        source: io::Error,
    },
    /// A persisted state string could not be parsed.
    #[error("cgroup state line {line}: {reason}")]
    State { line: usize, reason: String },
    /// Teardown failed; every failure is listed.
    #[error("cgroup teardown failed: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Teardown(Vec<Error>),
}

impl Error {
    /// The caller may not make or write the cgroup (a rootless caller
    /// without a delegated subtree, a read-only cgroupfs).
    pub fn is_denied(&self) -> bool {
        let source = match self {
            Error::Write { source, .. }
            | Error::Mkdir { source, .. }
            | Error::Open { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
        )
    }

    pub(crate) fn invalid(field: &str, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(field: &str, layout: impl ToString, hint: impl Into<String>) -> Self {
        Error::Unsupported {
            field: field.to_string(),
            layout: layout.to_string(),
            hint: hint.into(),
        }
    }
}
