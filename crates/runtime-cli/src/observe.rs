//! `ps` and `events`: what runc prints about a container's processes and
//! cgroup statistics.

use std::time::Duration;

use berth_runtime::{Error, Stats};
use serde_json::{json, Value};

/// The lines of `ps` output (header first) whose PID column is one of
/// `pids`, as `runc ps` filters the host's `ps -ef`.
pub fn filter_ps(output: &str, pids: &[i32]) -> Result<Vec<String>, Error> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| Error::InvalidArg {
            arg: "ps".into(),
            reason: "ps printed no PID column; keep a PID field in the ps options".into(),
        })?;
    let mut out = vec![header.to_string()];
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|f| f.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

/// One `events` line of type `stats`, shaped like runc's, keys in runc's
/// order (`type`, `id`, `data`: scripts match the line's start); the fields
/// are what berth reads from the cgroup, and a limit of `None` is
/// unlimited, which runc prints as the kernel's maximum.
pub fn stats_event(id: &str, s: &Stats) -> String {
    format!(
        "{{\"type\":\"stats\",\"id\":{},\"data\":{}}}",
        Value::from(id),
        stats_data(s)
    )
}

fn stats_data(s: &Stats) -> Value {
    const UNLIMITED: u64 = i64::MAX as u64 & !0xfff;
    json!({
        "cpu": { "usage": { "total": s.cpu_usage_ns } },
        "memory": {
            "usage": {
                "usage": s.memory_usage,
                "max": s.memory_max_usage.unwrap_or(0),
                "limit": s.memory_limit.unwrap_or(UNLIMITED),
            }
        },
        "pids": { "current": s.pids_current, "limit": s.pids_limit.unwrap_or(0) },
        "blkio": {
            "ioServiceBytesRecursive": [
                { "major": 0, "minor": 0, "op": "Read", "value": s.io_read_bytes },
                { "major": 0, "minor": 0, "op": "Write", "value": s.io_write_bytes },
            ]
        },
    })
}

/// A Go duration as runc's `--interval` takes it: `5s`, `250ms`, `1m30s`.
pub fn parse_interval(s: &str) -> Result<Duration, Error> {
    let bad = || Error::InvalidArg {
        arg: "--interval".into(),
        reason: format!("{s:?} is not a duration (e.g. 5s, 500ms, 1m)"),
    };
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(n * secs).map_err(|_| bad())?;
    }
    if total.is_zero() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_keeps_the_header_and_the_containers_lines() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 4242 1 0 10:01 ? 00:00:00 sleep 100\n\
                   root 42 1 0 10:01 ? 00:00:00 other\n";
        let lines = filter_ps(out, &[4242]).expect("filter");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("UID PID"));
        assert!(lines[1].contains("sleep 100"));
        assert!(filter_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }

    #[test]
    fn stats_event_has_runcs_shape() {
        let s = Stats {
            cpu_usage_ns: 5,
            memory_usage: 4096,
            memory_limit: Some(1 << 20),
            pids_current: 2,
            pids_limit: None,
            ..Default::default()
        };
        let line = stats_event("c1", &s);
        assert!(
            line.starts_with(r#"{"type":"stats","id":"c1","data":{"#),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        assert_eq!(v["data"]["memory"]["usage"]["usage"], 4096);
        assert_eq!(v["data"]["memory"]["usage"]["limit"], 1 << 20);
        assert_eq!(v["data"]["pids"]["current"], 2);
        assert_eq!(v["data"]["cpu"]["usage"]["total"], 5);
    }

    #[test]
    fn intervals() {
        for (s, ms) in [
            ("5s", 5000),
            ("250ms", 250),
            ("1m30s", 90_000),
            ("1.5s", 1500),
        ] {
            assert_eq!(
                parse_interval(s).expect(s),
                Duration::from_millis(ms),
                "{s}"
            );
        }
        for bad in ["", "5", "s", "0s", "5x", "-1s"] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }
}
