//! Mount options of the runtime spec, turned into `mount(2)` flags and data.
//! Pure policy: no syscalls, covered by unit tests.

use berth_sys::mount::MsFlags;

/// A spec mount's options, sorted into what each syscall needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount itself (`MS_RDONLY`, `MS_NOSUID`, ...).
    pub flags: MsFlags,
    /// Propagation flags, applied by a separate call after mounting.
    pub propagation: MsFlags,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    pub recursive: bool,
    /// Filesystem-specific options, comma-joined (`mode=755,size=65536k`).
    pub data: String,
    /// Recursive attributes (`rro`, `rnosuid`, ...) for `mount_setattr`:
    /// (set, clear) masks of `MOUNT_ATTR_*`.
    pub attr_set: u64,
    pub attr_clr: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// Parses a spec mount's `options`. Unknown words are filesystem data, as
/// runc and crun treat them.
pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut o = MountOptions::default();
    for opt in options {
        let opt = opt.as_str();
        if let Some((set, clear)) = flag(opt) {
            o.flags = (o.flags | set) & !clear;
            continue;
        }
        if let Some(p) = propagation(opt) {
            o.propagation |= p;
            continue;
        }
        if let Some((set, clr)) = recursive_attr(opt) {
            o.attr_set = (o.attr_set | set) & !clr;
            o.attr_clr = (o.attr_clr | clr) & !set;
            continue;
        }
        match opt {
            "bind" => o.bind = true,
            "rbind" => {
                o.bind = true;
                o.recursive = true;
            }
            "idmap" | "ridmap" => {
                return Err(format!("option {opt:?} (idmapped mounts) is not supported"))
            }
            "" => return Err("empty mount option".into()),
            data => {
                if !o.data.is_empty() {
                    o.data.push(',');
                }
                o.data.push_str(data);
            }
        }
    }
    Ok(o)
}

/// (flags to set, flags to clear) for a flag word.
fn flag(opt: &str) -> Option<(MsFlags, MsFlags)> {
    use libc::*;
    Some(match opt {
        "defaults" => (0, 0),
        "acl" => (MS_POSIXACL, 0),
        "noacl" => (0, MS_POSIXACL),
        "ro" => (MS_RDONLY, 0),
        "rw" => (0, MS_RDONLY),
        "suid" => (0, MS_NOSUID),
        "nosuid" => (MS_NOSUID, 0),
        "dev" => (0, MS_NODEV),
        "nodev" => (MS_NODEV, 0),
        "exec" => (0, MS_NOEXEC),
        "noexec" => (MS_NOEXEC, 0),
        "sync" => (MS_SYNCHRONOUS, 0),
        "async" => (0, MS_SYNCHRONOUS),
        "dirsync" => (MS_DIRSYNC, 0),
        "remount" => (MS_REMOUNT, 0),
        "mand" => (MS_MANDLOCK, 0),
        "nomand" => (0, MS_MANDLOCK),
        "atime" => (0, MS_NOATIME),
        "noatime" => (MS_NOATIME, 0),
        "diratime" => (0, MS_NODIRATIME),
        "nodiratime" => (MS_NODIRATIME, 0),
        "relatime" => (MS_RELATIME, 0),
        "norelatime" => (0, MS_RELATIME),
        "strictatime" => (MS_STRICTATIME, 0),
        "nostrictatime" => (0, MS_STRICTATIME),
        "iversion" => (MS_I_VERSION, 0),
        "noiversion" => (0, MS_I_VERSION),
        "lazytime" => (MS_LAZYTIME, 0),
        "nolazytime" => (0, MS_LAZYTIME),
        "silent" => (MS_SILENT, 0),
        "loud" => (0, MS_SILENT),
        "symfollow" => (0, MS_NOSYMFOLLOW),
        "nosymfollow" => (MS_NOSYMFOLLOW, 0),
        _ => return None,
    })
}

fn propagation(opt: &str) -> Option<MsFlags> {
    use libc::*;
    Some(match opt {
        "private" => MS_PRIVATE,
        "rprivate" => MS_PRIVATE | MS_REC,
        "shared" => MS_SHARED,
        "rshared" => MS_SHARED | MS_REC,
        "slave" => MS_SLAVE,
        "rslave" => MS_SLAVE | MS_REC,
        "unbindable" => MS_UNBINDABLE,
        "runbindable" => MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

fn recursive_attr(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME),
        "rnorelatime" => (0, 0),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
        "ratime" => (0, MOUNT_ATTR_NOATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        "rnostrictatime" => (0, 0),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The root propagation of `linux.rootfsPropagation` (runc's default: rslave).
pub fn root_propagation(value: Option<&str>) -> Result<MsFlags, String> {
    match value {
        None | Some("") => Ok(libc::MS_SLAVE | libc::MS_REC),
        Some(v) => propagation(v).ok_or_else(|| format!("unknown propagation {v:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn runc_default_dev_mount() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn devpts_data() {
        let o = p(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_options_override_earlier() {
        assert_eq!(p(&["ro", "rw"]).flags, 0);
        assert_eq!(p(&["rw", "ro"]).flags, libc::MS_RDONLY);
        assert_eq!(p(&["nosuid", "suid"]).flags, 0);
    }

    #[test]
    fn bind_rbind_and_propagation() {
        let o = p(&["rbind", "rprivate", "ro"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, libc::MS_PRIVATE | libc::MS_REC);
        assert_eq!(o.flags, libc::MS_RDONLY);
        let o = p(&["bind"]);
        assert!(o.bind && !o.recursive);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rbind", "rro", "rnosuid"]);
        assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        let o = p(&["rro", "rrw"]);
        assert_eq!(o.attr_set, 0);
        assert_eq!(o.attr_clr, MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn refuses_idmap_and_empty() {
        assert!(parse(&["idmap".to_string()]).is_err());
        assert!(parse(&[String::new()]).is_err());
    }

    #[test]
    fn root_propagation_default_and_values() {
        assert_eq!(root_propagation(None), Ok(libc::MS_SLAVE | libc::MS_REC));
        assert_eq!(root_propagation(Some("private")), Ok(libc::MS_PRIVATE));
        assert!(root_propagation(Some("sideways")).is_err());
    }
}
