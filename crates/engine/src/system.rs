//! Facts about the machine and the engine for `version` and `info`: the
//! kernel, the OS, the cgroup version and driver, CPUs and memory, and how
//! many containers are in each state.

use std::path::Path;

use crate::record::Status;
use crate::{Engine, Result};

/// The host as `info` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub kernel: String,
    pub os: String,
    pub arch: String,
    pub ncpu: usize,
    pub mem_total: u64,
    pub hostname: String,
    /// "1" or "2" (a hybrid host is "1": its controllers are v1).
    pub cgroup_version: &'static str,
}

/// Containers by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
}

impl Engine {
    pub fn container_counts(&self) -> Result<Counts> {
        let mut c = Counts::default();
        for ct in self.list()? {
            c.total += 1;
            match ct.state.status {
                Status::Running | Status::Restarting => c.running += 1,
                Status::Paused => c.paused += 1,
                _ => c.stopped += 1,
            }
        }
        Ok(c)
    }

    pub fn host_info(&self) -> HostInfo {
        let uts = rustix::system::uname();
        let os_release = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let cgroup_version = match berth_cgroups::is_unified(&self.cgroup_root) {
            Ok(true) => "2",
            _ => "1",
        };
        HostInfo {
            kernel: uts.release().to_string_lossy().into_owned(),
            os: os_name(&os_release),
            arch: uts.machine().to_string_lossy().into_owned(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: crate::stats::host_memory(Path::new("/proc/meminfo")),
            hostname: uts.nodename().to_string_lossy().into_owned(),
            cgroup_version,
        }
    }
}

/// `PRETTY_NAME` of an os-release file (`NAME` without it, "Linux" without
/// either).
pub fn os_name(os_release: &str) -> String {
    let get = |key: &str| {
        os_release.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
    };
    get("PRETTY_NAME")
        .or_else(|| get("NAME"))
        .unwrap_or_else(|| "Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_names() {
        let t = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(os_name(t), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os_name("NAME=Alpine\n"), "Alpine");
        assert_eq!(os_name(""), "Linux");
    }
}
