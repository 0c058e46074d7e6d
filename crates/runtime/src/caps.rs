//! The five capability sets of a process: parsed from the spec into bit
//! masks in the parent, applied in the container's init.

use std::collections::HashSet;
use std::io;
use std::str::FromStr;

use oci_spec::runtime::{Capability, LinuxCapabilities};

/// Capability bit masks (bit N = capability number N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn mask(set: Option<&HashSet<Capability>>) -> Result<u64, String> {
    let mut m = 0u64;
    for cap in set.into_iter().flatten() {
        let name = serde_json::to_value(cap)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let c = caps::Capability::from_str(&name)
            .map_err(|_| format!("unknown capability {name:?}"))?;
        m |= 1u64 << c.index();
    }
    Ok(m)
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<Self, String> {
        Ok(Self {
            bounding: mask(c.bounding().as_ref())?,
            effective: mask(c.effective().as_ref())?,
            permitted: mask(c.permitted().as_ref())?,
            inheritable: mask(c.inheritable().as_ref())?,
            ambient: mask(c.ambient().as_ref())?,
        })
    }
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the capability prctls used here take integer arguments only.
    let rc = unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Drops every capability outside `bounding` from the bounding set. Needs
/// CAP_SETPCAP, so it runs before the uid changes.
pub fn drop_bounding(bounding: u64, last: u32) -> io::Result<()> {
    for cap in 0..=last.min(63) {
        if bounding & (1 << cap) == 0 {
            match prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
                Ok(()) => {}
                // A capability the kernel does not know: nothing to drop.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the effective, permitted and inheritable sets, then the ambient set.
pub fn apply(sets: &CapSets) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: sets.effective as u32,
            permitted: sets.permitted as u32,
            inheritable: sets.inheritable as u32,
        },
        CapData {
            effective: (sets.effective >> 32) as u32,
            permitted: (sets.permitted >> 32) as u32,
            inheritable: (sets.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: `hdr` and `data` are valid, correctly sized v3 capability
    // structures (two data words) that live for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )?;
    for cap in 0..64u64 {
        if sets.ambient & (1 << cap) != 0 {
            match prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap,
            ) {
                Ok(()) => {}
                // runc ignores ambient capabilities the process may not raise
                // (not in permitted and inheritable): do the same.
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_capability_numbers() {
        let json = r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_NET_BIND_SERVICE"],
            "permitted":["CAP_SYS_ADMIN"],"ambient":[],"inheritable":["CAP_AUDIT_WRITE"]}"#;
        let c: LinuxCapabilities = serde_json::from_str(json).expect("json");
        let s = CapSets::from_spec(&c).expect("sets");
        assert_eq!(s.bounding, (1 << 0) | (1 << 5));
        assert_eq!(s.effective, 1 << 10);
        assert_eq!(s.permitted, 1 << 21);
        assert_eq!(s.inheritable, 1 << 29);
        assert_eq!(s.ambient, 0);
    }
}
