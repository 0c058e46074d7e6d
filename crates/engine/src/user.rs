//! `-u user[:group]` resolved against the container's own /etc/passwd and
//! /etc/group, as Docker does. The parsers are pure; reading the files goes
//! through the rootfs by file descriptor so a symlink in the image cannot
//! point the engine at the host's files.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::OFlags;

use crate::error::{invalid, io_err, Result};

/// The identity a container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// From the passwd entry; "/" when there is none.
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`; empty means
/// root) against the passwd and group texts; `extra_groups` (`--group-add`:
/// group names or gids) join the user's supplementary groups.
pub fn resolve(
    spec: &str,
    extra_groups: &[String],
    passwd: &str,
    group: &str,
) -> Result<ResolvedUser> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let u = if u.is_empty() { "0" } else { u };
    let entry = users.iter().find(|e| e.name == u).or_else(|| {
        u.parse::<u32>()
            .ok()
            .and_then(|n| users.iter().find(|e| e.uid == n))
    });
    let (uid, mut gid, home, name) = match (entry, u.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        (None, Ok(n)) => (n, 0, "/".to_owned(), None),
        (None, Err(_)) => {
            return Err(invalid(
                "user",
                spec,
                format!("unable to find user {u}: no matching entries in passwd file"),
            ))
        }
    };
    if let Some(g) = g {
        gid = match groups.iter().find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g.parse().map_err(|_| {
                invalid(
                    "user",
                    spec,
                    format!("unable to find group {g}: no matching entries in group file"),
                )
            })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = &name {
        for e in &groups {
            if e.members.contains(name) && e.gid != gid && !additional_gids.contains(&e.gid) {
                additional_gids.push(e.gid);
            }
        }
    }
    for g in extra_groups {
        let extra = match groups.iter().find(|e| e.name == *g) {
            Some(e) => e.gid,
            None => g.parse().map_err(|_| {
                invalid(
                    "group",
                    g,
                    "unable to find group: no matching entries in group file",
                )
            })?,
        };
        if !additional_gids.contains(&extra) {
            additional_gids.push(extra);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Reads `etc/passwd` and `etc/group` of the rootfs (missing files read as
/// empty) and resolves `spec`.
pub fn resolve_in(rootfs: &Path, spec: &str, extra_groups: &[String]) -> Result<ResolvedUser> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io_err("opening rootfs", rootfs)(e.into()))?;
    let read = |name: &str| -> Result<String> {
        match berth_sys::path::open_in_root(root.as_fd(), Path::new(name), OFlags::RDONLY) {
            Ok(fd) => {
                let mut s = String::new();
                std::fs::File::from(fd)
                    .take(4 << 20)
                    .read_to_string(&mut s)
                    .map_err(io_err("reading", rootfs.join(name)))?;
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io_err("opening", rootfs.join(name))(e)),
        }
    };
    resolve(
        spec,
        extra_groups,
        &read("etc/passwd")?,
        &read("etc/group")?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbad line\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\naudio:x:29:www\n";

    #[test]
    fn names_numbers_and_groups() {
        let r = resolve("", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = resolve("www", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (33, 33));
        assert_eq!(r.additional_gids, vec![50, 29]);
        let r = resolve("33:staff", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (33, 50));
        let r = resolve("1234", &[], PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (1234, 0, "/"));
        let r = resolve("1234:77", &[], PASSWD, GROUP).unwrap();
        assert_eq!(r.gid, 77);
        assert!(resolve("nobody", &[], PASSWD, GROUP).is_err());
        assert!(resolve("www:nogroup", &[], PASSWD, GROUP).is_err());
    }

    #[test]
    fn group_add_takes_names_and_gids_once() {
        let extra = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = resolve("", &extra(&["audio", "1000", "29"]), PASSWD, GROUP).unwrap();
        assert_eq!(r.additional_gids, vec![29, 1000]);
        let r = resolve("www", &extra(&["staff", "root"]), PASSWD, GROUP).unwrap();
        assert_eq!(r.additional_gids, vec![50, 29, 0]);
        let e = resolve("", &extra(&["wheel"]), PASSWD, GROUP)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wheel") && e.contains("unable to find group"),
            "{e}"
        );
    }
}
