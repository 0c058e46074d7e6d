//! Starting the kernel's writeback of a file early.
//!
//! A store that must flush what it wrote before naming it (a pulled layer's
//! files, a blob) otherwise leaves all of it dirty in the page cache until
//! the final `fsync`/`syncfs`, which then waits for the whole lot while the
//! CPUs idle. Starting writeback as each file (or each stretch of a large
//! file) is done overlaps the disk with the rest of the work, so the final
//! flush finds little left to wait for.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Starts writeback of the dirty pages in `offset..offset+len` of `fd`
/// (`len == 0`: to the end of the file) without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). This is a hint: it makes
/// nothing durable by itself, and callers still flush before they rely on
/// the data.
pub fn start(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let len = i64::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: sync_file_range takes a descriptor that `fd` keeps open for
    // the call and plain integers; it touches no memory of ours.
    let r = unsafe { libc::sync_file_range(fd.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn starts_writeback_of_a_written_file() {
        let mut f = tempfile::tempfile().expect("tmp");
        f.write_all(&[7u8; 64 * 1024]).expect("write");
        start(f.as_fd(), 0, 0).expect("whole file");
        start(f.as_fd(), 4096, 8192).expect("a range");
        let e = start(f.as_fd(), u64::MAX, 0).expect_err("offset out of range");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
