//! `ps`, `stop`, `kill`, `rm`, `wait`, `restart`, `rename`, `pause`,
//! `unpause`, `logs`, `inspect`, `container prune`.

use std::collections::BTreeMap;
use std::io::Write;

use berth_engine::lifecycle::Container;
use berth_engine::logs::{ReadOptions, Stream};
use berth_engine::{Engine, Status};

use super::{CmdResult, Ctx, Failure};
use crate::image_cmds::format::{columns, Template};

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output (id=, name=, status=, label=, exited=, ancestor=).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go-like template.
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show the latest created container.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show n last created containers.
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
}

const PS_FIELDS: &[&str] = &[
    "ID",
    "Image",
    "Command",
    "CreatedAt",
    "RunningFor",
    "Status",
    "State",
    "Ports",
    "Names",
    "Labels",
    "Mounts",
    "Networks",
];

fn ps_fields(ctx: &Ctx, c: &Container, trunc: bool) -> BTreeMap<&'static str, String> {
    let r = &c.record;
    let s = &c.state;
    let now = berth_engine::time::now_nanos();
    let ago = |t: &str| {
        berth_engine::time::parse(t)
            .map(|t| berth_engine::time::human(now - t))
            .unwrap_or_default()
    };
    let status = match s.status {
        Status::Created => "Created".to_owned(),
        Status::Running => format!("Up {}", ago(s.started_at.as_deref().unwrap_or(""))),
        Status::Paused => format!("Up {} (Paused)", ago(s.started_at.as_deref().unwrap_or(""))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            ago(s.finished_at.as_deref().unwrap_or(""))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            ago(s.finished_at.as_deref().unwrap_or(""))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    };
    let args = berth_engine::spec::args(&r.config, &r.options).unwrap_or_default();
    let mut command = args.join(" ");
    if trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    let labels = berth_engine::inspect::labels(c)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut f = BTreeMap::new();
    f.insert(
        "ID",
        if trunc {
            r.id[..12].to_owned()
        } else {
            r.id.clone()
        },
    );
    f.insert("Image", r.image.clone());
    f.insert("Command", format!("\"{command}\""));
    f.insert("CreatedAt", r.created.clone());
    f.insert("RunningFor", format!("{} ago", ago(&r.created)));
    f.insert("Status", status);
    f.insert("State", s.status.as_str().to_owned());
    f.insert("Ports", ctx.engine().ports_column(c));
    f.insert("Names", r.name.clone());
    f.insert("Labels", labels);
    f.insert("Mounts", String::new());
    f.insert("Networks", r.options.network.name().to_owned());
    f
}

fn matches_filter(c: &Container, filter: &str) -> Result<bool, Failure> {
    let (k, v) = super::split_filter(filter)?;
    Ok(match k {
        "id" => c.record.id.starts_with(v),
        "name" => c.record.name.contains(v),
        "status" => c.state.status.as_str() == v,
        "exited" => c.state.status == Status::Exited && v.parse() == Ok(c.state.exit_code),
        "ancestor" => c.record.image == v || c.record.image_id.contains(v),
        "label" => super::label_matches(&berth_engine::inspect::labels(c), v),
        "network" => c.record.options.network.name() == v,
        _ => {
            return Err(Failure::new(
                format!("invalid filter '{k}': known filters are id, name, status, exited, ancestor, label, network"),
                125,
            ))
        }
    })
}

pub fn ps(ctx: &Ctx, a: PsArgs) -> CmdResult {
    let engine = ctx.engine();
    let mut list = engine.list()?;
    let all = a.all
        || a.latest
        || a.last.is_some()
        || a.filter
            .iter()
            .any(|f| f.starts_with("status=") || f.starts_with("exited="));
    if !all {
        list.retain(|c| {
            matches!(
                c.state.status,
                Status::Running | Status::Paused | Status::Restarting
            )
        });
    }
    for f in &a.filter {
        let mut keep = Vec::new();
        for c in list {
            if matches_filter(&c, f)? {
                keep.push(c);
            }
        }
        list = keep;
    }
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        list.truncate(n);
    }
    let trunc = !a.no_trunc;
    if a.quiet {
        for c in &list {
            println!("{}", ps_fields(ctx, c, trunc)["ID"]);
        }
        return Ok(0);
    }
    let fmt = a.format.unwrap_or_else(|| {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".into()
    });
    let t = Template::parse(&fmt, PS_FIELDS).map_err(|e| Failure::new(e, 125))?;
    let titles: BTreeMap<&str, &str> = [
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("State", "STATE"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
    ]
    .into_iter()
    .collect();
    let mut rows = Vec::new();
    if t.table {
        rows.push(t.header(&titles));
    }
    for c in &list {
        rows.push(t.render(&ps_fields(ctx, c, trunc)));
    }
    let out = if t.table {
        columns(&rows)
    } else {
        rows.iter().map(|r| format!("{r}\n")).collect()
    };
    print!("{out}");
    Ok(0)
}

/// Runs `f` on each named container, printing the name on success and
/// Docker's error line on failure; 1 if any failed.
fn each(
    engine: &Engine,
    names: &[String],
    mut f: impl FnMut(&str) -> Result<(), Failure>,
) -> CmdResult {
    let mut code = 0;
    for n in names {
        match engine
            .resolve(n)
            .map_err(Failure::from)
            .and_then(|id| f(&id))
        {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    /// Signal to send to the container.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> CmdResult {
    let engine = ctx.engine();
    if let Some(s) = &a.signal {
        berth_engine::options::parse_signal(s)?;
    }
    each(&engine, &a.containers, |id| {
        engine
            .stop_with(id, a.time, a.signal.as_deref())
            .map_err(Failure::from)
    })
}

#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn restart(ctx: &Ctx, a: RestartArgs) -> CmdResult {
    let engine = ctx.engine();
    each(&engine, &a.containers, |id| {
        engine.stop(id, a.time)?;
        engine.reset_stop_flag(id)?;
        let mut status = engine.spawn_supervisor(id, Default::default())?;
        match status.next_event() {
            Some(berth_engine::supervisor::Event::Started { .. }) => Ok(()),
            Some(berth_engine::supervisor::Event::Failed { message, code }) => {
                Err(Failure::new(message, code as u8))
            }
            _ => Err(Failure::new(
                "the supervisor exited before the container started",
                125,
            )),
        }
    })
}

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> CmdResult {
    let engine = ctx.engine();
    let sig = berth_engine::options::parse_signal(&a.signal)?;
    each(&engine, &a.containers, |id| {
        engine.kill(id, sig).map_err(Failure::from)
    })
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> CmdResult {
    let engine = ctx.engine();
    each(&engine, &a.containers, |id| {
        engine.remove(id, a.force, a.volumes).map_err(Failure::from)
    })
}

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn wait(ctx: &Ctx, a: WaitArgs) -> CmdResult {
    let engine = ctx.engine();
    let mut code = 0;
    for n in &a.containers {
        match engine.resolve(n).and_then(|id| engine.wait(&id)) {
            Ok(c) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", super::error_chain(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn pause(ctx: &Ctx, a: PauseArgs) -> CmdResult {
    let engine = ctx.engine();
    each(&engine, &a.containers, |id| {
        engine.pause(id).map_err(Failure::from)
    })
}

pub fn unpause(ctx: &Ctx, a: PauseArgs) -> CmdResult {
    let engine = ctx.engine();
    each(&engine, &a.containers, |id| {
        engine.unpause(id).map_err(Failure::from)
    })
}

#[derive(clap::Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(ctx: &Ctx, a: RenameArgs) -> CmdResult {
    let engine = ctx.engine();
    let id = engine.resolve(&a.container)?;
    engine.rename(&id, &a.new_name)?;
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since a timestamp or relative time (e.g. 42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time.
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    pub container: String,
}

pub fn logs(ctx: &Ctx, a: LogsArgs) -> CmdResult {
    let engine = ctx.engine();
    let id = engine.resolve(&a.container)?;
    let tail = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().map_err(|_| {
            Failure::new(
                format!("invalid --tail {n:?}: expected a number or \"all\""),
                125,
            )
        })?),
    };
    let o = ReadOptions {
        tail,
        since: a.since,
        until: a.until,
        timestamps: a.timestamps,
        follow: a.follow,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = |s: Stream, b: &[u8]| -> std::io::Result<()> {
        match s {
            Stream::Stdout => {
                let mut o = stdout.lock();
                o.write_all(b)?;
                o.flush()
            }
            Stream::Stderr => stderr.lock().write_all(b),
        }
    };
    let running = || {
        engine.container(&id).is_ok_and(|c| {
            matches!(
                c.state.status,
                Status::Running | Status::Paused | Status::Restarting
            )
        })
    };
    berth_engine::logs::read(&engine.paths(&id).log(), &o, &mut out, &running)?;
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct ContainerInspectArgs {
    /// Format output using a Go-like template (only {{json .}} and fields).
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// The Docker JSON of each container; `None` for a name that is not one.
pub fn inspect_containers(ctx: &Ctx, names: &[String]) -> Vec<Option<serde_json::Value>> {
    let engine = ctx.engine();
    names
        .iter()
        .map(|n| {
            engine
                .resolve(n)
                .and_then(|id| engine.container(&id))
                .ok()
                .map(|c| engine.inspect_json(&c))
        })
        .collect()
}

pub fn container_inspect(ctx: &Ctx, a: ContainerInspectArgs) -> CmdResult {
    let found = inspect_containers(ctx, &a.containers);
    let mut out = Vec::new();
    let mut code = 0;
    for (n, v) in a.containers.iter().zip(found) {
        match v {
            Some(v) => out.push(v),
            None => {
                eprintln!("Error: No such container: {n}");
                code = 1;
            }
        }
    }
    print_inspect(&out, a.format.as_deref())?;
    Ok(code)
}

/// Prints inspect documents as a JSON array, or each through a
/// `--format` of `{{json .X.Y}}` / `{{.X.Y}}` paths.
pub fn print_inspect(docs: &[serde_json::Value], format: Option<&str>) -> Result<(), Failure> {
    match format {
        None => {
            println!(
                "{}",
                serde_json::to_string_pretty(docs).unwrap_or_else(|_| "[]".into())
            );
        }
        Some(f) => {
            for d in docs {
                println!("{}", render_path_template(f, d)?);
            }
        }
    }
    Ok(())
}

/// A small subset of Go templates over JSON: text with `{{.A.B}}` and
/// `{{json .A.B}}` actions.
pub fn render_path_template(t: &str, doc: &serde_json::Value) -> Result<String, Failure> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| Failure::new(format!("template: unclosed action in {t:?}"), 125))?;
        let action = after[..end].trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let path = path.strip_prefix('.').ok_or_else(|| {
            Failure::new(
                format!("template: unsupported action {{{{{action}}}}}"),
                125,
            )
        })?;
        let mut v = doc;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            v = v.get(key).ok_or_else(|| {
                Failure::new(format!("template: can't evaluate field {key}"), 125)
            })?;
        }
        let text = match (json, v) {
            (true, v) => serde_json::to_string(v).unwrap_or_default(),
            (false, serde_json::Value::String(s)) => s.clone(),
            (false, serde_json::Value::Null) => "<no value>".into(),
            (false, v) => v.to_string(),
        };
        out.push_str(&text);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(clap::Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn container_prune(ctx: &Ctx, _a: ContainerPruneArgs) -> CmdResult {
    let (ids, freed) = prune_containers(&ctx.engine())?;
    println!("Deleted Containers:");
    for id in ids {
        println!("{id}");
    }
    println!();
    println!(
        "Total reclaimed space: {}",
        crate::image_cmds::format::human_size(freed)
    );
    Ok(0)
}

/// Removes every container that is not running: their ids and the bytes
/// their writable layers held.
pub fn prune_containers(engine: &Engine) -> Result<(Vec<String>, u64), Failure> {
    let mut ids = Vec::new();
    let mut freed = 0u64;
    for c in engine.list()? {
        if matches!(
            c.state.status,
            Status::Exited | Status::Created | Status::Dead
        ) {
            let size = berth_engine::volumes::du(&engine.paths(&c.record.id).upper());
            if engine.remove_stopped(&c.record.id, false).is_ok() {
                freed += size;
                ids.push(c.record.id);
            }
        }
    }
    Ok((ids, freed))
}
