//! Where the cgroup hierarchies are: `/proc/self/mountinfo` and `/proc/self/cgroup`,
//! parsed as plain text so tests can feed fake ones.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Error;

/// How cgroup hierarchies are mounted under the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Pure cgroup v1: one hierarchy per controller (or co-mounted group).
    Legacy,
    /// v1 controllers plus a cgroup2 mount at `<root>/unified`.
    Hybrid,
    /// Pure cgroup v2 mounted at the root.
    Unified,
}

impl Layout {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Layout::Legacy => "legacy",
            Layout::Hybrid => "hybrid",
            Layout::Unified => "unified",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "legacy" => Some(Layout::Legacy),
            "hybrid" => Some(Layout::Hybrid),
            "unified" => Some(Layout::Unified),
            _ => None,
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Layout::Legacy => "cgroup v1",
            Layout::Hybrid => "hybrid cgroup v1/v2 (v2 side has only the controllers it lists)",
            Layout::Unified => "cgroup v2",
        };
        f.write_str(s)
    }
}

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// `true` for cgroup2.
    pub v2: bool,
    /// v1 controllers (and `name=...`), as in the mount options; empty for v2.
    pub controllers: Vec<String>,
    /// Absolute host path of the mount point.
    pub mount_point: PathBuf,
    /// The cgroup path that is the root of this mount (field 4 of mountinfo).
    pub mount_root: PathBuf,
}

impl Hierarchy {
    /// The name used in messages and in the state file: `cpu,cpuacct`, `name=systemd`, `unified`.
    pub fn name(&self) -> String {
        if self.v2 {
            "unified".to_string()
        } else {
            self.controllers.join(",")
        }
    }
}

/// What the host looks like: the root, its layout, the hierarchies and our own cgroups.
#[derive(Clone, Debug)]
pub struct System {
    pub root: PathBuf,
    pub layout: Layout,
    pub hierarchies: Vec<Hierarchy>,
    /// `/proc/self/cgroup` as text.
    pub self_cgroup: String,
}

impl System {
    /// Reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn probe(root: &Path) -> Result<Self, Error> {
        let mountinfo = read_proc("/proc/self/mountinfo")?;
        let self_cgroup = read_proc("/proc/self/cgroup")?;
        Self::from_text(root, &mountinfo, &self_cgroup)
    }

    /// Builds the view from given texts (tests pass fakes).
    pub fn from_text(root: &Path, mountinfo: &str, self_cgroup: &str) -> Result<Self, Error> {
        let hierarchies = parse_mountinfo(root, mountinfo);
        let layout = layout_of(root, &hierarchies)?;
        Ok(System {
            root: root.to_path_buf(),
            layout,
            hierarchies,
            self_cgroup: self_cgroup.to_string(),
        })
    }

    /// This process's cgroup path in `h`, relative to the mount's root (always starts with `/`).
    pub fn own_path(&self, h: &Hierarchy) -> Result<PathBuf, Error> {
        let raw = own_cgroup(&self.self_cgroup, h).ok_or_else(|| Error::NotInHierarchy {
            hierarchy: h.name(),
        })?;
        let raw = PathBuf::from(raw);
        // A mount of a sub-tree (inside a cgroup namespace or a bind mount) shows only
        // what is below its root.
        let rel = match raw.strip_prefix(&h.mount_root) {
            Ok(rest) => Path::new("/").join(rest),
            Err(_) => raw,
        };
        Ok(rel)
    }
}

fn read_proc(path: &str) -> Result<String, Error> {
    berth_sys::procfs::read_text(path).map_err(|source| Error::Read {
        path: PathBuf::from(path),
        source,
    })
}

/// Whether `root` is a cgroup v2 mount ([`Layout::Unified`]): one `statfs`,
/// for a caller that needs only that and not the hierarchies ([`detect`]
/// reads and parses mountinfo).
pub fn is_unified(root: &Path) -> Result<bool, Error> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let st = rustix::fs::statfs(root).map_err(|e| Error::Read {
        path: root.to_path_buf(),
        source: e.into(),
    })?;
    Ok(st.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// Detects the layout at `root` from `/proc/self/mountinfo`.
pub fn detect(root: &Path) -> Result<Layout, Error> {
    let mountinfo = read_proc("/proc/self/mountinfo")?;
    detect_from_mountinfo(root, &mountinfo)
}

/// [`detect`] on a given mountinfo text.
pub fn detect_from_mountinfo(root: &Path, mountinfo: &str) -> Result<Layout, Error> {
    layout_of(root, &parse_mountinfo(root, mountinfo))
}

fn layout_of(root: &Path, hs: &[Hierarchy]) -> Result<Layout, Error> {
    if hs.iter().any(|h| h.v2 && h.mount_point == root) {
        return Ok(Layout::Unified);
    }
    let v1 = hs.iter().any(|h| !h.v2);
    let v2 = hs.iter().any(|h| h.v2);
    match (v1, v2) {
        (true, true) => Ok(Layout::Hybrid),
        (true, false) => Ok(Layout::Legacy),
        _ => Err(Error::NoCgroupfs {
            root: root.to_path_buf(),
        }),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(v) = b
                .get(i + 1..i + 4)
                .and_then(|o| std::str::from_utf8(o).ok())
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every cgroup/cgroup2 mount at or below `root`. Later mounts on the same point win.
pub fn parse_mountinfo(root: &Path, text: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let fstype = post[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mount_point = PathBuf::from(unescape(pre[4]));
        if !mount_point.starts_with(root) {
            continue;
        }
        let v2 = fstype == "cgroup2";
        let controllers = if v2 {
            Vec::new()
        } else {
            post[2]
                .split(',')
                .filter(|o| is_v1_controller(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        };
        if !v2 && controllers.is_empty() {
            continue;
        }
        out.retain(|h| h.mount_point != mount_point);
        out.push(Hierarchy {
            v2,
            controllers,
            mount_point,
            mount_root: PathBuf::from(unescape(pre[3])),
        });
    }
    out
}

fn is_v1_controller(o: &str) -> bool {
    matches!(
        o,
        "cpu"
            | "cpuacct"
            | "cpuset"
            | "memory"
            | "devices"
            | "freezer"
            | "blkio"
            | "pids"
            | "hugetlb"
            | "net_cls"
            | "net_prio"
            | "perf_event"
            | "rdma"
            | "misc"
    )
}

/// The path of `h` in a `/proc/<pid>/cgroup` text.
pub fn own_cgroup(text: &str, h: &Hierarchy) -> Option<String> {
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if h.v2 {
            if id == "0" && ctls.is_empty() {
                return Some(path.to_string());
            }
            continue;
        }
        let mut listed: Vec<&str> = ctls.split(',').filter(|c| !c.is_empty()).collect();
        let mut want: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
        listed.sort_unstable();
        want.sort_unstable();
        if !listed.is_empty() && listed == want {
            return Some(path.to_string());
        }
    }
    None
}

#[cfg(test)]
mod unified_tests {
    use super::*;

    #[test]
    fn is_unified_agrees_with_the_layout() {
        assert!(!is_unified(Path::new("/proc")).expect("statfs /proc"));
        let root = Path::new("/sys/fs/cgroup");
        if let Ok(layout) = detect(root) {
            assert_eq!(is_unified(root).expect("statfs"), layout == Layout::Unified);
        }
    }
}
