//! The runtime's errors: each names the container, field or path involved.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.' (at most 1024 characters)")]
    InvalidId(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {id:?} is {state}; {action} needs it to be {wanted}")]
    WrongState {
        id: String,
        state: String,
        action: &'static str,
        wanted: &'static str,
    },
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: oci_spec::OciSpecError,
    },
    #[error("config.json: {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A bad option or argument of a call (not of config.json).
    #[error("{arg}: {reason}")]
    InvalidArg { arg: String, reason: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error("linux.seccomp: {0}")]
    Seccomp(#[from] berth_seccomp::Error),
    #[error("container init failed: {0}")]
    Init(String),
    #[error("{hook} hook {path}: {reason}")]
    Hook {
        hook: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("state of container {id:?} is unreadable: {reason}")]
    State { id: String, reason: String },
    #[error("{0}")]
    Teardown(TeardownErrors),
}

/// Every failure of a teardown that kept going past the first one.
#[derive(Debug, Default)]
pub struct TeardownErrors(pub Vec<Error>);

impl std::fmt::Display for TeardownErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl TeardownErrors {
    pub fn push(&mut self, r: Result<(), Error>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    pub fn into_result(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(self))
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn invalid_arg(arg: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidArg {
        arg: arg.into(),
        reason: reason.into(),
    }
}

pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

pub(crate) fn io_err(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { what, path, source }
}
