//! Handing the notify fd to the seccomp agent.

use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::error::Error;

/// Send the notify `fd` to the agent listening on the unix socket `path`.
///
/// As runtime-spec's "seccomp notify" section and runc describe: one connection,
/// one message whose data is the container process state JSON
/// (`ContainerProcessState`: `ociVersion`, `fds: ["seccompFd"]`, `pid`,
/// `metadata` from `listenerMetadata`, `state`) and whose `SCM_RIGHTS` carries
/// the fd. The connection is closed afterwards.
pub fn send_listener_fd(path: &Path, state_json: &[u8], fd: BorrowedFd<'_>) -> Result<(), Error> {
    if state_json.is_empty() {
        return Err(Error::EmptyListenerState);
    }
    let send_err = |source| Error::ListenerSend {
        path: path.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| Error::ListenerConnect {
        path: path.to_owned(),
        source,
    })?;

    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        // The buffer is sized for exactly one fd by cmsg_space!, so this cannot happen.
        return Err(send_err(std::io::Error::from_raw_os_error(libc::ENOBUFS)));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            &stream,
            &[IoSlice::new(state_json)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(|e| send_err(e.into()))?,
        }
    };
    // The fd travelled with the first byte; a stream socket may take the rest later.
    if let Some(rest) = state_json.get(sent..) {
        stream.write_all(rest).map_err(send_err)?;
    }
    Ok(())
}
