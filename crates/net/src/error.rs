//! The errors of the network operations ([`crate::Networks`]).

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::ipam::{IpamError, Subnet};
use crate::netns::NetnsError;
use crate::ports::{PortError, Proto};

/// What can go wrong managing networks and attachments.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No network has this name or id.
    #[error("network {0:?} not found; list networks with `berth network ls`")]
    NotFound(String),
    /// A network of this name exists already.
    #[error("network {0:?} already exists")]
    Exists(String),
    /// The name is not usable.
    #[error("invalid network name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The operation is refused for this network.
    #[error("network {name}: {reason}")]
    Refused {
        /// The network.
        name: String,
        /// Why.
        reason: String,
    },
    /// Containers are still attached.
    #[error("network {name} still has containers attached ({containers}); disconnect or remove them first")]
    InUse {
        /// The network.
        name: String,
        /// Their ids.
        containers: String,
    },
    /// The container is attached to this network already.
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached {
        /// The container.
        container: String,
        /// The network.
        network: String,
    },
    /// The container is not attached to this network.
    #[error("container {container} is not attached to network {network}")]
    NotAttached {
        /// The container.
        container: String,
        /// The network.
        network: String,
    },
    /// A requested interface name is not usable.
    #[error("invalid interface name {0:?}: 1-15 characters, no '/', ':' or whitespace")]
    InvalidIfname(String),
    /// The host port is taken, by a container or another program.
    #[error("host port {ip}:{port}/{proto} is already in use{by}; publish on another host port")]
    PortTaken {
        /// Host address.
        ip: Ipv4Addr,
        /// Host port.
        port: u16,
        /// Protocol.
        proto: Proto,
        /// Who holds it, when known (" by container …").
        by: String,
    },
    /// The host address to publish on is not an address of this host.
    #[error("cannot publish on {ip}: it is not an address of this host")]
    NotLocal {
        /// The address.
        ip: Ipv4Addr,
    },
    /// No port of the range is free.
    #[error("no free host port for {proto} in {lo}-{hi} on {ip}")]
    NoFreePort {
        /// Host address.
        ip: Ipv4Addr,
        /// Range start.
        lo: u16,
        /// Range end.
        hi: u16,
        /// Protocol.
        proto: Proto,
    },
    /// The subnet overlaps another network or a route of the host.
    #[error("subnet {subnet} overlaps {other}; choose another with --subnet")]
    SubnetOverlap {
        /// The requested subnet.
        subnet: Subnet,
        /// What it overlaps.
        other: String,
    },
    /// The automatic subnet pool is used up.
    #[error("no free subnet left in the pool {pool}; give one explicitly with --subnet")]
    PoolExhausted {
        /// The pool.
        pool: Subnet,
    },
    /// Address allocation.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// Port parsing.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Network namespace handling.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A kernel request (netlink, nftables, sysctl) failed.
    #[error("{op} ({object}) failed: {source}")]
    Kernel {
        /// What was being done.
        op: &'static str,
        /// On what: interface, network, container.
        object: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading or writing berth's network state failed.
    #[error("network state {}: {source}", path.display())]
    State {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A state file does not parse.
    #[error("network state {} is corrupt ({source}); remove it to start over", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A failure, and the failures of the cleanup it triggered.
    #[error("{first}; cleaning up also failed: {}", join(cleanup))]
    Cleanup {
        /// What failed first.
        first: Box<Error>,
        /// What failed while undoing.
        cleanup: Vec<Error>,
    },
    /// Teardown went on past failures; here are all of them.
    #[error("teardown incomplete: {}", join(.0))]
    Teardown(Vec<Error>),
}

fn join(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub(crate) fn kernel(
        op: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(io::Error) -> Error {
        let object = object.into();
        move |source| Error::Kernel { op, object, source }
    }

    pub(crate) fn state(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::State { path, source }
    }

    /// Attaches cleanup failures to `self` (nothing when there are none).
    pub(crate) fn with_cleanup(self, cleanup: Vec<Error>) -> Error {
        if cleanup.is_empty() {
            self
        } else {
            Error::Cleanup {
                first: Box::new(self),
                cleanup,
            }
        }
    }
}
