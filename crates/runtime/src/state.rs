//! On-disk state of each container under the runtime root
//! (`/run/berth-runtime/<id>/`): `state.json`, written atomically, and
//! `start.sock`, which exists while the container is `created`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{ContainerState, Hooks, LinuxSeccomp};
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const START_SOCKET: &str = "start.sock";

/// What the runtime remembers of a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot, /proc/PID/stat field
    /// 22): tells the container's init from a later process with its pid.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub annotations: std::collections::HashMap<String, String>,
    pub cgroup: String,
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// The container's seccomp profile, which `exec`'d processes get too.
    #[serde(default)]
    pub seccomp: Option<LinuxSeccomp>,
}

/// Validates a container id like runc (`^[\w+-.]+$`) so it is a safe
/// single path component.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// A record written but not yet in place (see [`Record::stage`]).
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
}

impl Staged {
    /// Puts the staged record in place of `state.json`.
    pub fn commit(self) -> Result<()> {
        fs::rename(&self.tmp, &self.path).map_err(io_err("renaming", &self.tmp))
    }
}

impl Record {
    pub fn load(root: &Path, id: &str) -> Result<Self> {
        check_id(id)?;
        let path = dir(root, id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(io_err("reading", path)(e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::State {
            id: id.to_string(),
            reason: e.to_string(),
        })
    }

    /// Writes the record with temp file + rename: a reader sees the old or
    /// the new record, never a torn one, even if this process is killed.
    /// No fsync: the runtime root lives on tmpfs (/run), which a power loss
    /// empties anyway, and containers do not outlive a reboot.
    pub fn save(&self, root: &Path) -> Result<()> {
        self.stage(root)?.commit()
    }

    /// Writes the record beside `state.json` without replacing it yet:
    /// [`Staged::commit`] does, atomically. `create` stages while the init
    /// still sets up, so only the rename is left once it is ready.
    pub fn stage(&self, root: &Path) -> Result<Staged> {
        let d = dir(root, &self.id);
        let tmp = d.join(".state.json.tmp");
        let data = serde_json::to_vec(self).map_err(|e| Error::State {
            id: self.id.clone(),
            reason: e.to_string(),
        })?;
        let mut f = fs::File::create(&tmp).map_err(io_err("creating", &tmp))?;
        f.write_all(&data).map_err(io_err("writing", &tmp))?;
        Ok(Staged {
            tmp,
            path: d.join(STATE_FILE),
        })
    }

    /// The container's status now, derived from the kernel, not stored.
    pub fn status(&self, root: &Path) -> ContainerState {
        if !self.init_alive() {
            return ContainerState::Stopped;
        }
        // start.sock exists from `create` until `start` connects to it.
        if dir(root, &self.id).join(START_SOCKET).exists() {
            ContainerState::Created
        } else {
            ContainerState::Running
        }
    }

    /// The init process still exists (a zombie counts as gone) and is ours.
    pub fn init_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some((state, start)) => start == self.pid_start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    /// The state JSON of the runtime spec, as hooks and `state` print it.
    pub fn oci_state(&self, status: ContainerState) -> serde_json::Value {
        oci_state(
            &self.oci_version,
            &self.id,
            status,
            self.pid,
            &self.bundle,
            &self.annotations,
        )
    }
}

/// The runtime spec's state JSON (the pid is left out once stopped).
pub fn oci_state(
    oci_version: &str,
    id: &str,
    status: ContainerState,
    pid: i32,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": oci_version,
        "id": id,
        "status": status.to_string(),
        "bundle": bundle,
    });
    if status != ContainerState::Stopped {
        v["pid"] = pid.into();
    }
    if !annotations.is_empty() {
        v["annotations"] = serde_json::to_value(annotations).unwrap_or_default();
    }
    v
}

/// (state letter, start time) of a process from `/proc/PID/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = berth_sys::procfs::read_text(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: parse after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // Field 22 overall is the 20th after "pid (comm)".
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Ids of every container under `root`.
pub fn list(root: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_err("listing", root)(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// RFC 3339 UTC time with nanoseconds, as runc prints `created`.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    berth_time::rfc3339(now.as_secs() as i64, Some(now.subsec_nanos())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3+x", "0123456789abcdef"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_stat_parses() {
        let (state, start) = proc_stat(std::process::id() as i32).expect("stat");
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
