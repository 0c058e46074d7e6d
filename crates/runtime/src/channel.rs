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
    ///
    /// A peer that exits with a message of ours unread makes the kernel
    /// report ECONNRESET once, before the messages it sent first (its
    /// `Failed` reason): the read is tried again after that error.
    pub fn recv<T: for<'de> Deserialize<'de>>(&self) -> io::Result<Option<T>> {
        // Not zeroed: the kernel writes what it received and only that is
        // read (zeroing 64 KiB costs 16 fresh pages per message).
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut reset_seen = false;
        let n = loop {
            let spare = rustix::buffer::spare_capacity(&mut buf);
            match rustix::net::recv(&self.fd, spare, RecvFlags::empty()) {
                Ok((n, _)) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::CONNRESET) if !reset_seen => reset_seen = true,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The init failed and exited with our `Go` unread: the reason it sent
    /// first still comes through, after the kernel's one ECONNRESET.
    #[test]
    fn a_peer_gone_with_our_message_unread_still_says_why() {
        let (parent, child) = pair().expect("pair");
        child
            .send(&ToParent::Failed("mounting /x: no such file".into()))
            .expect("child sends");
        parent.send(&ToChild::Go { pid: 1 }).expect("parent sends");
        drop(child);
        let got: Option<ToParent> = parent.recv().expect("recv after reset");
        assert_eq!(
            got,
            Some(ToParent::Failed("mounting /x: no such file".into()))
        );
        assert_eq!(parent.recv::<ToParent>().expect("eof"), None);
    }
}
