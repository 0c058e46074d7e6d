//! Persistent network namespaces: a namespace kept alive by a bind mount of
//! its nsfs file at a path, the way `ip netns add` does it, so that the
//! network can be set up before the container's process exists and the
//! runtime joins it through the OCI spec's namespace `path`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::mount::{mount_bind, unmount, UnmountFlags};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType, UnshareFlags};

use crate::link;
use crate::nl::Socket;

/// Errors of namespace creation and removal.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// Something failed at a step on the path.
    #[error("network namespace {path}: {step} failed: {source}")]
    Step {
        /// The namespace's path.
        path: String,
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn step<'a>(path: &'a Path, step: &'static str) -> impl FnOnce(io::Error) -> NetnsError + 'a {
    move |source| NetnsError::Step {
        path: path.display().to_string(),
        step,
        source,
    }
}

/// Creates a new network namespace kept at `path` (a file that must not
/// exist; its directory must), with its loopback interface up.
pub fn create_netns(path: &Path) -> Result<(), NetnsError> {
    File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(step(path, "creating the mount point file"))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), NetnsError> {
            // SAFETY: only CLONE_NEWNET is unshared, and only on this
            // short-lived thread: the file descriptor table stays shared.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
                .map_err(|e| step(path, "unshare(CLONE_NEWNET)")(e.into()))?;
            let mut sock = Socket::route().map_err(step(path, "opening rtnetlink"))?;
            sock.exec_all(&[link::set_up(link::LOOPBACK_INDEX)])
                .map_err(|(_, e)| step(path, "setting lo up")(e))?;
            mount_bind("/proc/thread-self/ns/net", path)
                .map_err(|e| step(path, "bind-mounting the namespace")(e.into()))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(step(path, "the namespace thread")(io::Error::other(
                "panicked",
            )))
        })
    });
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Removes a namespace made by [`create_netns`]: unmounts it (the kernel
/// frees it once no process is left in it) and deletes the file. Removing
/// one that is already gone is not an error.
pub fn remove_netns(path: &Path) -> Result<(), NetnsError> {
    match unmount(path, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(step(path, "unmounting")(e.into())),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(step(path, "removing the file")(e)),
        _ => Ok(()),
    }
}

/// Runs `f` on a thread that has joined the network namespace at `path`;
/// sockets `f` opens belong to that namespace and can be used from any
/// thread afterwards.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let ns = File::open(path).map_err(step(path, "opening"))?;
    in_netns_fd(&ns, f).map_err(step(path, "joining"))
}

pub(crate) fn in_netns_fd<T: Send>(ns: &File, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    })
}
