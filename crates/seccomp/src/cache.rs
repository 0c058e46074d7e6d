//! A cache of compiled filters. libseccomp takes 25-50 ms to compile
//! Docker's default profile for the host's three x86 ABIs; a container
//! start should not pay that each time. The cache is keyed by the SHA-256 of
//! the profile's JSON, the libseccomp version and the machine, and lives in
//! a directory only the runtime writes (its state root).
//!
//! File format: `BSC1`, flags (u64 LE), instruction count (u32 LE), then
//! the `sock_filter` instructions (code u16, jt u8, jf u8, k u32; LE),
//! then the skipped syscall names, newline-separated. Profiles with a
//! notify listener are not cached.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::program::Program;

const MAGIC: &[u8; 4] = b"BSC1";

/// [`crate::compile`], through a cache in `dir` (created if missing).
/// A cache that cannot be read or written only costs the compile.
pub fn compile_cached(spec: &LinuxSeccomp, dir: &Path) -> Result<Program, Error> {
    let Some(path) = key(spec).map(|k| dir.join(k)) else {
        return crate::compile(spec);
    };
    if let Some(p) = read(&path) {
        return Ok(p);
    }
    let p = crate::compile(spec)?;
    if !p.needs_listener() && p.listener_path().is_none() {
        if let Err(e) = write(&path, &p) {
            tracing::debug!(path = %path.display(), error = %e, "seccomp cache not written");
        }
    }
    Ok(p)
}

fn key(spec: &LinuxSeccomp) -> Option<String> {
    let json = serde_json::to_vec(spec).ok()?;
    let v = libseccomp::ScmpVersion::current().ok()?;
    let mut h = Sha256::new();
    h.update(&json);
    h.update(format!("{}.{}.{}", v.major, v.minor, v.micro));
    h.update(std::env::consts::ARCH);
    Some(format!("{:x}", h.finalize()))
}

fn read(path: &Path) -> Option<Program> {
    let b = fs::read(path).ok()?;
    if b.len() < 16 || &b[..4] != MAGIC {
        return None;
    }
    let flags = u64::from_le_bytes(b[4..12].try_into().ok()?);
    let n = u32::from_le_bytes(b[12..16].try_into().ok()?) as usize;
    let end = 16usize.checked_add(n.checked_mul(8)?)?;
    if n == 0 || b.len() < end {
        return None;
    }
    let instructions = b[16..end]
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let skipped = String::from_utf8(b[end..].to_vec())
        .ok()?
        .lines()
        .map(str::to_owned)
        .collect();
    Some(Program::new(
        instructions,
        flags as libc::c_ulong,
        false,
        None,
        None,
        skipped,
    ))
}

fn write(path: &Path, p: &Program) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut b = Vec::with_capacity(16 + p.instructions().len() * 8);
    b.extend_from_slice(MAGIC);
    // c_ulong is u64 here but u32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let flags = u64::from(p.load_flags());
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(&(p.instructions().len() as u32).to_le_bytes());
    for i in p.instructions() {
        b.extend_from_slice(&i.code.to_le_bytes());
        b.push(i.jt);
        b.push(i.jf);
        b.extend_from_slice(&i.k.to_le_bytes());
    }
    b.extend_from_slice(p.skipped_syscalls().join("\n").as_bytes());
    let tmp = PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&b)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_program_is_the_compiled_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let spec = crate::default_profile(&["CAP_CHOWN".to_owned()]);
        let first = compile_cached(&spec, dir.path()).expect("compile");
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 1);
        let again = compile_cached(&spec, dir.path()).expect("cached");
        assert_eq!(first.instructions().len(), again.instructions().len());
        for (a, b) in first.instructions().iter().zip(again.instructions()) {
            assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
        }
        assert_eq!(first.load_flags(), again.load_flags());
        // A damaged entry is recompiled, not trusted.
        let entry = fs::read_dir(dir.path())
            .expect("dir")
            .next()
            .expect("e")
            .expect("e")
            .path();
        fs::write(&entry, b"BSC1garbage").expect("w");
        let fixed = compile_cached(&spec, dir.path()).expect("recompiled");
        assert_eq!(fixed.instructions().len(), first.instructions().len());
        // Another profile gets another entry.
        let other = crate::default_profile(&["CAP_SYS_ADMIN".to_owned()]);
        compile_cached(&other, dir.path()).expect("other");
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 2);
    }
}
