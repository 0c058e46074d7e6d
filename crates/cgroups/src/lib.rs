//! cgroup v1, v2 and hybrid management (interim: v1 memory and pids only;
//! the full crate replaces this).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
}

const CONTROLLERS: &[&str] = &[
    "memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio",
];

impl Cgroup {
    pub fn new(
        root: &Path,
        cgroups_path: Option<&Path>,
        container_id: &str,
    ) -> Result<Self, Error> {
        let rel = cgroups_path
            .map(|p| p.to_string_lossy().trim_start_matches('/').to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!("berth/{container_id}"));
        Ok(Self {
            dirs: CONTROLLERS
                .iter()
                .map(|c| root.join(c))
                .filter(|d| d.is_dir())
                .map(|d| d.join(&rel))
                .collect(),
        })
    }
    pub fn create(&self) -> Result<(), Error> {
        for d in &self.dirs {
            std::fs::create_dir_all(d).map_err(|source| Error::Io {
                path: d.clone(),
                source,
            })?;
            if d.to_string_lossy().contains("/cpuset/") {
                for dir in [d.parent().unwrap_or(d), d.as_path()] {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let cur = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                        if cur.trim().is_empty() {
                            let v = std::fs::read_to_string(
                                dir.parent().map(|p| p.join(f)).unwrap_or_default(),
                            )
                            .unwrap_or_default();
                            let _ = std::fs::write(dir.join(f), v.trim());
                        }
                    }
                }
            }
        }
        Ok(())
    }
    fn write(&self, controller: &str, file: &str, v: &str) -> Result<(), Error> {
        for d in &self.dirs {
            if d.components().any(|c| c.as_os_str() == controller) {
                let p = d.join(file);
                std::fs::write(&p, v).map_err(|source| Error::Io { path: p, source })?;
            }
        }
        Ok(())
    }
    pub fn set(&self, r: &LinuxResources) -> Result<(), Error> {
        if let Some(m) = r.memory() {
            if let Some(l) = m.limit() {
                self.write("memory", "memory.limit_in_bytes", &l.to_string())?;
            }
        }
        if let Some(p) = r.pids() {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            self.write("pids", "pids.max", &v)?;
        }
        Ok(())
    }
    pub fn add_task(&self, pid: i32) -> Result<(), Error> {
        for d in &self.dirs {
            let p = d.join("cgroup.procs");
            std::fs::write(&p, pid.to_string()).map_err(|source| Error::Io { path: p, source })?;
        }
        Ok(())
    }
    /// Moves the calling (single-threaded) process into every v1 hierarchy
    /// by writing "0" to `tasks`: the kernel skips its global threadgroup
    /// lock for a thread moving itself, which a write of another pid to
    /// `cgroup.procs` takes (an RCU grace period, ~20 ms).
    pub fn join_self(&self) -> Result<(), Error> {
        for d in &self.dirs {
            let p = d.join("tasks");
            std::fs::write(&p, "0").map_err(|source| Error::Io { path: p, source })?;
        }
        Ok(())
    }
    pub fn clone_into_fd(&self) -> Option<OwnedFd> {
        None
    }
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let Some(d) = self.dirs.first() else {
            return Ok(vec![]);
        };
        let p = d.join("cgroup.procs");
        let s = std::fs::read_to_string(&p).map_err(|source| Error::Io { path: p, source })?;
        Ok(s.lines().filter_map(|l| l.parse().ok()).collect())
    }
    pub fn destroy(&self) -> Result<(), Error> {
        for d in &self.dirs {
            for _ in 0..100 {
                match std::fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
                }
            }
        }
        Ok(())
    }
    pub fn to_state(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn from_state(_root: &Path, s: &str) -> Result<Self, Error> {
        Ok(Self {
            dirs: s.lines().map(PathBuf::from).collect(),
        })
    }
}
