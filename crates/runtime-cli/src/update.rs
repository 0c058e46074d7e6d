//! `berth-runtime update`: runc's flags (or `-r` JSON) turned into the
//! resources to change.

use std::path::PathBuf;

use berth_runtime::Error;
use clap::Args;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

#[derive(Args)]
pub struct UpdateArgs {
    /// JSON file of linux.resources to apply, or '-' for stdin (the flags are ignored then).
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// CPU CFS period (µs).
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPU CFS quota (µs per period); -1 for none.
    #[arg(long, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    cpu_share: Option<u64>,
    /// CPU realtime period (µs).
    #[arg(long)]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (µs per period).
    #[arg(long, allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs to use (e.g. 0-1,3).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g); -1 for none.
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit (bytes, or with k/m/g).
    #[arg(long, allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids (0 or less: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long)]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long)]
    mem_bw_schema: Option<String>,
    pub id: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArg {
        arg: field.into(),
        reason: reason.into(),
    }
}

impl UpdateArgs {
    /// The resources to apply: from `-r`, or from the flags given.
    pub fn resources(&self) -> Result<LinuxResources, Error> {
        if let Some(path) = &self.resources {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            }
            .map_err(|source| Error::Io {
                what: "reading",
                path: path.clone(),
                source,
            })?;
            return serde_json::from_str(&text)
                .map_err(|e| invalid("--resources", format!("{}: {e}", path.display())));
        }
        if self.l3_cache_schema.is_some() || self.mem_bw_schema.is_some() {
            return Err(invalid(
                "--l3-cache-schema",
                "Intel RDT is not supported by berth-runtime",
            ));
        }
        let mut r = LinuxResources::default();
        let bytes =
            |field, v: &Option<String>| v.as_deref().map(|s| parse_bytes(field, s)).transpose();
        let (limit, reservation, swap) = (
            bytes("--memory", &self.memory)?,
            bytes("--memory-reservation", &self.memory_reservation)?,
            bytes("--memory-swap", &self.memory_swap)?,
        );
        if limit.is_some() || reservation.is_some() || swap.is_some() {
            let mut m = LinuxMemory::default();
            m.set_limit(limit);
            m.set_reservation(reservation);
            m.set_swap(swap);
            r.set_memory(Some(m));
        }
        let cpu_given = self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_share.is_some()
            || self.cpu_rt_period.is_some()
            || self.cpu_rt_runtime.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some();
        if cpu_given {
            let mut c = LinuxCpu::default();
            c.set_period(self.cpu_period);
            c.set_quota(self.cpu_quota);
            c.set_shares(self.cpu_share);
            c.set_realtime_period(self.cpu_rt_period);
            c.set_realtime_runtime(self.cpu_rt_runtime);
            c.set_cpus(self.cpuset_cpus.clone());
            c.set_mems(self.cpuset_mems.clone());
            r.set_cpu(Some(c));
        }
        if let Some(n) = self.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(n);
            r.set_pids(Some(p));
        }
        if let Some(w) = self.blkio_weight {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            r.set_block_io(Some(b));
        }
        Ok(r)
    }
}

/// Bytes like runc's flags take them: a number, optionally with a binary
/// unit (`k`, `m`, `g`, `t`, with or without `b`/`ib`); `-1` is unlimited.
pub fn parse_bytes(field: &str, s: &str) -> Result<i64, Error> {
    let bad = || {
        invalid(
            field,
            format!("{s:?} is not a size (e.g. 536870912, 512m, 1g)"),
        )
    };
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let digits = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !(0.0..9.2e18).contains(&v) {
        return Err(bad());
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: UpdateArgs,
    }

    fn resources(v: &[&str]) -> Result<LinuxResources, Error> {
        T::try_parse_from(std::iter::once("update").chain(v.iter().copied()))
            .expect("parse")
            .a
            .resources()
    }

    #[test]
    fn sizes() {
        for (s, n) in [
            ("1024", 1024),
            ("512m", 512 << 20),
            ("1g", 1 << 30),
            ("2KiB", 2048),
            ("1.5k", 1536),
            ("-1", -1),
        ] {
            assert_eq!(parse_bytes("--memory", s).expect(s), n, "{s}");
        }
        for bad in ["", "m", "12x", "-5", "1e30"] {
            assert!(parse_bytes("--memory", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_the_flags_given_are_set() {
        let r = resources(&["--memory", "64m", "--pids-limit", "20", "c"]).expect("flags");
        let m = r.memory().as_ref().expect("memory");
        assert_eq!(
            (m.limit(), m.swap(), m.reservation()),
            (Some(64 << 20), None, None)
        );
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(20));
        assert!(r.cpu().is_none() && r.block_io().is_none());
        let r = resources(&["--cpu-share", "512", "--cpuset-cpus", "0", "c"]).expect("cpu");
        let c = r.cpu().as_ref().expect("cpu");
        assert_eq!((c.shares(), c.cpus().as_deref()), (Some(512), Some("0")));
        assert!(r.memory().is_none());
        let e = resources(&["--l3-cache-schema", "L3:0=f", "c"]).expect_err("rdt");
        assert!(e.to_string().contains("RDT"), "{e}");
    }

    /// runc takes -1 (no limit) for these (found by runc's update tests).
    #[test]
    fn minus_one_lifts_a_limit() {
        let r = resources(&[
            "--memory",
            "-1",
            "--memory-reservation",
            "-1",
            "--cpu-quota",
            "-1",
            "c",
        ])
        .expect("-1 values");
        let m = r.memory().as_ref().expect("memory");
        assert_eq!((m.limit(), m.reservation()), (Some(-1), Some(-1)));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(-1));
    }

    #[test]
    fn json_file_is_the_oci_resources() {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(
            f.path(),
            r#"{"memory": {"limit": 1048576}, "pids": {"limit": 7}}"#,
        )
        .expect("write");
        let p = f.path().to_str().expect("utf-8");
        let r = resources(&["-r", p, "--memory", "9g", "c"]).expect("json");
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1 << 20));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(7));
        std::fs::write(f.path(), "{\"memory\": 5}").expect("write");
        assert!(resources(&["-r", p, "c"]).is_err());
    }
}
