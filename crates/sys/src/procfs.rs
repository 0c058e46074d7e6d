//! A procfs handle that a container cannot tamper with.
//!
//! Writes to `/proc` (sysctls, `oom_score_adj`, ...) go through a private,
//! detached procfs instance made with `fsopen("proc")` + `fsmount`: nothing
//! in the container's mount table can be mounted over it, so a write always
//! lands in the intended file (CVE-2019-16884, CVE-2025-52881). Where the
//! kernel refuses a new instance (no pid namespace of our own in a user
//! namespace), the fallback is the existing `/proc`, checked to be procfs,
//! with every lookup refused from crossing into another mount.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// A procfs (or sysfs, cgroupfs) text file, read in as few reads as it
/// takes. These files report a size of 0, on which `fs::read_to_string`
/// starts with a 32-byte probe and doubles from there: eight reads for a
/// short `/proc/self/status`, each one making the kernel generate the text
/// again up to that point.
pub fn read_text(path: impl AsRef<Path>) -> io::Result<String> {
    let mut text = String::with_capacity(16 * 1024);
    std::fs::File::open(path).and_then(|mut f| io::Read::read_to_string(&mut f, &mut text))?;
    Ok(text)
}

/// An open procfs root.
pub struct ProcFs {
    root: OwnedFd,
}

impl ProcFs {
    /// A private procfs instance, or the checked fallback described above.
    pub fn open() -> io::Result<Self> {
        match Self::private() {
            Ok(p) => Ok(p),
            Err(_) => Self::existing(Path::new("/proc")),
        }
    }

    fn private() -> io::Result<Self> {
        let fs = rustix::mount::fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC)?;
        rustix::mount::fsconfig_create(&fs)?;
        let root = rustix::mount::fsmount(
            &fs,
            FsMountFlags::FSMOUNT_CLOEXEC,
            MountAttrFlags::MOUNT_ATTR_NOSUID
                | MountAttrFlags::MOUNT_ATTR_NODEV
                | MountAttrFlags::MOUNT_ATTR_NOEXEC,
        )?;
        Ok(Self { root })
    }

    fn existing(path: &Path) -> io::Result<Self> {
        let root = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        check_procfs(root.as_fd())?;
        Ok(Self { root })
    }

    /// Opens `rel` (e.g. `sys/net/ipv4/ip_forward`, `self/oom_score_adj`)
    /// below this procfs root, never leaving the procfs mount.
    pub fn open_file(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let fd = crate::path::openat2_retry(
            &self.root,
            rel,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
        )?;
        check_procfs(fd.as_fd())?;
        Ok(fd)
    }

    /// Writes `value` to the procfs file `rel` in one `write(2)`.
    pub fn write(&self, rel: &Path, value: &[u8]) -> io::Result<()> {
        let fd = self.open_file(rel, OFlags::WRONLY)?;
        let mut f = std::fs::File::from(fd);
        f.write_all(value)
    }

    /// The root of this procfs, e.g. for a bind mount source.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

fn check_procfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    let st = rustix::fs::fstatfs(fd)?;
    if st.f_type != PROC_SUPER_MAGIC {
        return Err(io::Error::other(
            "not a procfs file: refusing to write to it",
        ));
    }
    Ok(())
}
