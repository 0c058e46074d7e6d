//! `stats`: one sample of a container's resource use, read from its cgroup
//! (v1 or v2, through `berth_cgroups`) and its network namespace, and the
//! percentages Docker computes from two samples. The arithmetic is pure.

use std::path::Path;

use crate::error::Result;
use crate::options::NetworkMode;
use crate::record::Status;
use crate::Engine;

/// What one look at a container gives.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// The container's CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// The whole machine's CPU time (/proc/stat), nanoseconds.
    pub system_ns: u64,
    pub online_cpus: u32,
    /// Memory in use less the inactive file cache, as Docker shows it.
    pub mem_usage: u64,
    /// The container's limit, or the host's memory when it has none.
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

impl Engine {
    /// A sample of a running container; zeros for one that is not.
    pub fn stats_sample(&self, id: &str) -> Result<Sample> {
        let c = self.container(id)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Ok(Sample::default());
        }
        let cg = self.cgroup(id)?;
        let st = cg.stats()?;
        let mut inactive = 0;
        for h in cg.hierarchies() {
            let key = if h.v2 {
                "inactive_file "
            } else if h.controllers.iter().any(|c| c == "memory") {
                "total_inactive_file "
            } else {
                continue;
            };
            if let Ok(t) = std::fs::read_to_string(h.dir.join("memory.stat")) {
                inactive = keyed(&t, key).unwrap_or(0);
            }
        }
        let (net_rx, net_tx) = if c.record.options.network == NetworkMode::Host {
            (0, 0)
        } else {
            let p = format!("/proc/{}/net/dev", c.state.pid);
            std::fs::read_to_string(p)
                .map(|t| net_dev(&t))
                .unwrap_or((0, 0))
        };
        let proc_stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        Ok(Sample {
            cpu_ns: st.cpu_usage_ns,
            system_ns: system_cpu_ns(&proc_stat, clock_ticks()),
            online_cpus: online_cpus(),
            mem_usage: st.memory_usage.saturating_sub(inactive),
            mem_limit: st
                .memory_limit
                .unwrap_or_else(|| host_memory(Path::new("/proc/meminfo"))),
            net_rx,
            net_tx,
            blk_read: st.io_read_bytes,
            blk_write: st.io_write_bytes,
            pids: st.pids_current,
        })
    }
}

/// Docker's CPU %: the container's share of the machine's CPU time between
/// two samples, times the number of CPUs (100% is one CPU busy).
pub fn cpu_percent(prev: &Sample, cur: &Sample) -> f64 {
    let cpu = cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
    let system = cur.system_ns.saturating_sub(prev.system_ns) as f64;
    if cpu > 0.0 && system > 0.0 {
        cpu / system * f64::from(cur.online_cpus.max(1)) * 100.0
    } else {
        0.0
    }
}

pub fn mem_percent(s: &Sample) -> f64 {
    if s.mem_limit == 0 {
        0.0
    } else {
        s.mem_usage as f64 / s.mem_limit as f64 * 100.0
    }
}

/// The machine's CPU time from `/proc/stat`'s `cpu` line (user through
/// softirq, the seven fields Docker adds), in nanoseconds.
pub fn system_cpu_ns(proc_stat: &str, ticks_per_sec: u64) -> u64 {
    let Some(line) = proc_stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks.saturating_mul(1_000_000_000) / ticks_per_sec.max(1)
}

/// Received and sent bytes of every interface but `lo` in `/proc/net/dev`.
pub fn net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second()
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn host_memory(meminfo: &Path) -> u64 {
    std::fs::read_to_string(meminfo)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_like_docker() {
        let prev = Sample {
            cpu_ns: 1_000_000_000,
            system_ns: 100_000_000_000,
            online_cpus: 4,
            ..Default::default()
        };
        // Half a CPU-second used while the machine spent 4 CPU-seconds
        // (one second on 4 CPUs): 50% of one CPU.
        let cur = Sample {
            cpu_ns: 1_500_000_000,
            system_ns: 104_000_000_000,
            ..prev
        };
        assert!((cpu_percent(&prev, &cur) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&cur, &cur), 0.0);
        assert_eq!(
            cpu_percent(&cur, &prev),
            0.0,
            "a counter going back is no use"
        );
        let m = Sample {
            mem_usage: 25,
            mem_limit: 100,
            ..Default::default()
        };
        assert_eq!(mem_percent(&m), 25.0);
        assert_eq!(mem_percent(&Sample::default()), 0.0);
    }

    #[test]
    fn proc_files() {
        let stat = "cpu  100 0 50 800 25 5 20 7 0 0\ncpu0 1 2 3\n";
        assert_eq!(system_cpu_ns(stat, 100), 1000 * 10_000_000);
        let dev = "Inter-|   Receive\n face |bytes packets\n    lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n  eth0: 1200 3 0 0 0 0 0 0 3400 4 0 0 0 0 0 0\n";
        assert_eq!(net_dev(dev), (1200, 3400));
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("meminfo");
        std::fs::write(&m, "MemTotal:        8039892 kB\nMemFree: 1 kB\n").unwrap();
        assert_eq!(host_memory(&m), 8_039_892 * 1024);
    }
}
