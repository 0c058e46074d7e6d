//! `top` and `stats`: what a running container is doing.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use berth_engine::stats::{cpu_percent, mem_percent, Sample};
use berth_engine::Status;

use super::{CmdResult, Ctx, Failure};
use crate::image_cmds::format::{binary_size, columns, human_size, Template};

#[derive(clap::Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// Options for the host's ps (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

pub fn top(ctx: &Ctx, a: TopArgs) -> CmdResult {
    let engine = ctx.engine();
    let t = engine
        .resolve(&a.container)
        .and_then(|id| engine.top(&id, &a.ps_options))
        .map_err(|e| {
            Failure::new(
                format!("Error response from daemon: {}", super::error_chain(&e)),
                1,
            )
        })?;
    let mut rows = vec![t.titles.join("\t")];
    rows.extend(t.processes.iter().map(|p| p.join("\t")));
    print!("{}", columns(&rows));
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a Go-like template.
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

const STATS_FIELDS: &[&str] = &[
    "Container",
    "ID",
    "Name",
    "CPUPerc",
    "MemUsage",
    "MemPerc",
    "NetIO",
    "BlockIO",
    "PIDs",
];

const DEFAULT_STATS: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// How often the live view refreshes, and the gap between the two
/// samples of `--no-stream`.
const INTERVAL: Duration = Duration::from_secs(1);
const ONE_SHOT_GAP: Duration = Duration::from_millis(500);

/// One row's fields from two samples.
pub fn stats_fields(
    id: &str,
    name: &str,
    given: &str,
    prev: &Sample,
    cur: &Sample,
    trunc: bool,
) -> BTreeMap<&'static str, String> {
    let mut f = BTreeMap::new();
    let short = if trunc { &id[..id.len().min(12)] } else { id };
    f.insert("Container", given.to_owned());
    f.insert("ID", short.to_owned());
    f.insert("Name", name.to_owned());
    f.insert("CPUPerc", format!("{:.2}%", cpu_percent(prev, cur)));
    f.insert(
        "MemUsage",
        format!(
            "{} / {}",
            binary_size(cur.mem_usage),
            binary_size(cur.mem_limit)
        ),
    );
    f.insert("MemPerc", format!("{:.2}%", mem_percent(cur)));
    f.insert(
        "NetIO",
        format!("{} / {}", human_size(cur.net_rx), human_size(cur.net_tx)),
    );
    f.insert(
        "BlockIO",
        format!(
            "{} / {}",
            human_size(cur.blk_read),
            human_size(cur.blk_write)
        ),
    );
    f.insert("PIDs", cur.pids.to_string());
    f
}

/// (id, name, as given) of the containers to show.
fn targets(ctx: &Ctx, a: &StatsArgs) -> Result<Vec<(String, String, String)>, Failure> {
    let engine = ctx.engine();
    if a.containers.is_empty() {
        return Ok(engine
            .list()?
            .into_iter()
            .filter(|c| a.all || matches!(c.state.status, Status::Running | Status::Paused))
            .map(|c| {
                let id = c.record.id.clone();
                (id.clone(), c.record.name, id)
            })
            .collect());
    }
    let mut out = Vec::new();
    for n in &a.containers {
        let c = engine
            .resolve(n)
            .and_then(|id| engine.container(&id))
            .map_err(|e| {
                Failure::new(
                    format!("Error response from daemon: {}", super::error_chain(&e)),
                    1,
                )
            })?;
        out.push((c.record.id, c.record.name, n.clone()));
    }
    Ok(out)
}

pub fn stats(ctx: &Ctx, a: StatsArgs) -> CmdResult {
    let engine = ctx.engine();
    let t = Template::parse(a.format.as_deref().unwrap_or(DEFAULT_STATS), STATS_FIELDS)
        .map_err(|e| Failure::new(e, 125))?;
    let titles: BTreeMap<&str, &str> = [
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ]
    .into_iter()
    .collect();
    let terminal = rustix::termios::isatty(std::io::stdout());
    let sample = |id: &str| engine.stats_sample(id).unwrap_or_default();
    let mut prev: BTreeMap<String, Sample> = BTreeMap::new();
    let mut list = targets(ctx, &a)?;
    for (id, _, _) in &list {
        prev.insert(id.clone(), sample(id));
    }
    std::thread::sleep(if a.no_stream { ONE_SHOT_GAP } else { INTERVAL });
    loop {
        let mut rows = Vec::new();
        if t.table {
            rows.push(t.header(&titles));
        }
        let mut next = BTreeMap::new();
        for (id, name, given) in &list {
            let cur = sample(id);
            let before = prev.get(id).copied().unwrap_or(cur);
            rows.push(t.render(&stats_fields(id, name, given, &before, &cur, !a.no_trunc)));
            next.insert(id.clone(), cur);
        }
        let body = if t.table {
            columns(&rows)
        } else {
            rows.iter().map(|r| format!("{r}\n")).collect()
        };
        let mut out = std::io::stdout().lock();
        let shown = if terminal && !a.no_stream {
            // Clear the screen and go home, as Docker's live view does.
            write!(out, "\x1b[2J\x1b[H{body}")
        } else {
            write!(out, "{body}")
        };
        if shown.and_then(|()| out.flush()).is_err() || a.no_stream {
            return Ok(0);
        }
        drop(out);
        prev = next;
        std::thread::sleep(INTERVAL);
        if a.containers.is_empty() {
            list = targets(ctx, &a)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_in_dockers_units() {
        let prev = Sample {
            cpu_ns: 0,
            system_ns: 1_000_000_000,
            online_cpus: 2,
            ..Default::default()
        };
        let cur = Sample {
            cpu_ns: 250_000_000,
            system_ns: 3_000_000_000,
            online_cpus: 2,
            mem_usage: 1_269_760,
            mem_limit: 64 * 1024 * 1024,
            net_rx: 1_050,
            net_tx: 0,
            blk_read: 4_261_000,
            blk_write: 12_340,
            pids: 3,
        };
        let id = "0123456789abcdef0123";
        let f = stats_fields(id, "web", "web", &prev, &cur, true);
        assert_eq!(f["ID"], "0123456789ab");
        assert_eq!(f["CPUPerc"], "25.00%");
        assert_eq!(f["MemUsage"], "1.211MiB / 64MiB");
        assert_eq!(f["MemPerc"], "1.89%");
        assert_eq!(f["NetIO"], "1.05kB / 0B");
        assert_eq!(f["BlockIO"], "4.26MB / 12.3kB");
        assert_eq!(f["PIDs"], "3");
        let t = Template::parse(DEFAULT_STATS, STATS_FIELDS).expect("default format");
        assert!(t.table);
    }
}
