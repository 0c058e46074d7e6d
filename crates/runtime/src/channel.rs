//! The one message channel between the runtime (parent) and the container's
//! init (child): a `SOCK_SEQPACKET` socket pair, one JSON message a packet.
//!
//! ```text
//!   runtime (parent)                         init (child, in new namespaces)
//!   ----------------                         -------------------------------
//!   clone3(CLONE_NEW*) ------------------->  waits
//!   cgroup.procs <- pid (v1), uid/gid maps
//!   Go ----------------------------------->  setuid(0) in userns, setns(joined),
//!                                            hostname, mounts, devices, sysctls
//!                   <----------------------- Hooks      (only if prestart/createRuntime exist)
//!   prestart + createRuntime hooks
//!   Continue ----------------------------->  createContainer hooks, masks, pivot_root,
//!                                            rlimits, identity, caps, exec lookup
//!                   <----------------------- Ready      (or Failed(message) at any point)
//!   state.json (created); `create` exits
//!   `run`: Start ------------------------->  (`create`: blocks in accept() on start.sock
//!                                             until `berth-runtime start` connects)
//!                                            startContainer hooks, seccomp, execve
//! ```

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToChild {
    /// Carries the init's pid as the host sees it, for hook state.
    Go {
        pid: i32,
    },
    Continue,
    Start,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToParent {
    Hooks,
    Ready,
    Failed(String),
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send<T: Serialize>(&self, msg: &T) -> io::Result<()> {
        let buf = serde_json::to_vec(msg).map_err(io::Error::other)?;
        rustix::net::send(&self.fd, &buf, SendFlags::NOSIGNAL)?;
        Ok(())
    }

    /// Receives one message; `Ok(None)` when the other side closed.
    pub fn recv<T: for<'de> Deserialize<'de>>(&self) -> io::Result<Option<T>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match rustix::net::recv(&self.fd, &mut buf, RecvFlags::empty()) {
                Ok((n, _)) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(io::Error::other)
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
