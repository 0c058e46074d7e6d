//! `top`: the container's processes as the host's `ps` shows them, the
//! way Docker does it: run `ps` (default `-ef`) and keep the rows whose
//! PID column is one of the container's cgroup's pids.

use std::process::Command;

use crate::error::{io_err, Error, Result};
use crate::record::Status;
use crate::Engine;

/// `ps` output limited to one container: titles and rows of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// The container's processes through `ps ARGS` (`-ef` when empty).
    pub fn top(&self, id: &str, ps_args: &[String]) -> Result<Top> {
        let c = self.container(id)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(Error::NotRunning(id.to_owned()));
        }
        let pids = self.runtime().pids(id)?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = Command::new("ps")
            .args(&args)
            .output()
            .map_err(io_err("running", "ps"))?;
        if !out.status.success() {
            return Err(Error::Start(format!(
                "ps: {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Keeps the rows of `ps` output whose PID is in `pids`. The last column
/// takes the rest of the line (a command with spaces), as Docker splits it.
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        Error::Start("couldn't find PID field in ps output (give ps options that print it)".into())
    })?;
    let mut processes = Vec::new();
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let fields = split_n(l, titles.len());
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            return Err(Error::Start(format!("unexpected pid in ps output: {l:?}")));
        };
        if pids.contains(&pid) {
            processes.push(fields);
        }
    }
    Ok(Top { titles, processes })
}

/// Whitespace-separated fields, at most `n`: the last keeps its spaces.
fn split_n(line: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if out.len() + 1 == n {
            out.push(rest.trim_end().to_owned());
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(rest[..end].to_owned());
        rest = rest[end..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_containers_pids_with_commands_whole() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n\
                  root        4242    4240  0 10:01 ?        00:00:00 sleep 1000\n\
                  root        4250    4242  0 10:01 pts/0    00:00:00 sh -c echo a  b\n";
        let t = parse_ps(ps, &[4242, 4250]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 2);
        assert_eq!(t.processes[0][1], "4242");
        assert_eq!(t.processes[0][7], "sleep 1000");
        assert_eq!(t.processes[1][7], "sh -c echo a  b");
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
