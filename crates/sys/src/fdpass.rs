//! Passing file descriptors over unix sockets (`SCM_RIGHTS`), as the console
//! socket protocol of runc, containerd and Podman does: one message whose
//! data is a name and whose ancillary data is the descriptor.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

/// Connects a close-on-exec `SOCK_STREAM` socket to the unix socket at
/// `path`, through its directory's fd when the path is longer than
/// `sun_path` allows.
pub fn connect_stream(path: &Path) -> io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    match SocketAddrUnix::new(path) {
        Ok(addr) => rustix::net::connect(&fd, &addr)?,
        Err(_) => {
            let parent = path.parent().unwrap_or(Path::new("/"));
            let name = path
                .file_name()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            let dir = rustix::fs::open(
                parent,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let short = crate::path::fd_path(dir.as_fd()).join(name);
            rustix::net::connect(&fd, &SocketAddrUnix::new(&short)?)?;
        }
    }
    Ok(fd)
}

/// A close-on-exec `SOCK_STREAM` socket bound to `path` and listening
/// (backlog 1: one peer, as a console socket has).
pub fn listen_stream(path: &Path) -> io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&fd, 1)?;
    Ok(fd)
}

/// Sends `fd` with `name` as the message's data.
pub fn send_fd(socket: BorrowedFd<'_>, name: &str, fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
    }
    let iov = [IoSlice::new(name.as_bytes())];
    loop {
        match rustix::net::sendmsg(socket, &iov, &mut control, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one descriptor sent by [`send_fd`], with its name.
pub fn recv_fd(socket: BorrowedFd<'_>) -> io::Result<(String, OwnedFd)> {
    let mut name = vec![0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        let mut iov = [IoSliceMut::new(&mut name)];
        match rustix::net::recvmsg(socket, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(m) => break m,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut received = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for fd in fds {
                received.get_or_insert(fd);
            }
        }
    }
    let fd = received.ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "message carried no descriptor")
    })?;
    name.truncate(msg.bytes.min(name.len()));
    Ok((String::from_utf8_lossy(&name).into_owned(), fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_descriptor_crosses_a_socket_pair() {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socketpair");
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        send_fd(a.as_fd(), "/dev/ptmx", w.as_fd()).expect("send");
        drop(w);
        let (name, got) = recv_fd(b.as_fd()).expect("recv");
        assert_eq!(name, "/dev/ptmx");
        std::fs::File::from(got).write_all(b"hi").expect("write");
        let mut s = String::new();
        std::fs::File::from(r).read_to_string(&mut s).expect("read");
        assert_eq!(s, "hi");
    }
}
