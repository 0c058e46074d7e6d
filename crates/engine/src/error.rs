//! The engine's errors. Kinds the CLI maps to exit codes once, at the edge.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such volume: {0}")]
    NoSuchVolume(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("invalid container name \"{0}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("container id prefix {0} is ambiguous; give more characters")]
    Ambiguous(String),
    #[error("cannot {action} container {id}: it is {state}{hint}")]
    WrongState {
        id: String,
        state: String,
        action: &'static str,
        hint: &'static str,
    },
    #[error("invalid {what} \"{value}\": {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: String,
    },
    #[error("volume {name} is in use by container {id}")]
    VolumeInUse { name: String, id: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt record {path}: {source} (remove the container with `berth rm -f`)")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Start(String),
    /// `cp` refused or failed, in Docker's words.
    #[error("{0}")]
    Copy(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is paused, unpause the container before exec")]
    Paused(String),
    /// The runtime could not start an exec'd process; `code` is Docker's
    /// (126 cannot run, 127 not found).
    #[error("OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown")]
    ExecStart { message: String, code: i32 },
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Image(#[from] berth_image::StoreError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    #[error(transparent)]
    Net(#[from] berth_net::Error),
    #[error("{0}")]
    Teardown(TeardownErrors),
}

/// Failures collected while tearing down: teardown keeps going.
#[derive(Debug, Default)]
pub struct TeardownErrors(pub Vec<Error>);

impl std::fmt::Display for TeardownErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl TeardownErrors {
    pub fn push(&mut self, r: Result<()>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(self))
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `map_err` helper naming the operation and the path.
pub fn io_err(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { what, path, source }
}

pub fn invalid(what: &'static str, value: &str, why: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        value: value.to_owned(),
        why: why.into(),
    }
}
