//! `version`, `info`, `system df`, `system prune`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use serde_json::{json, Value};

use super::{CmdResult, Ctx, Failure};
use crate::image_cmds::format::{binary_size, columns, human_size};
use crate::image_cmds::ImageUsage;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Docker Engine API version whose behaviour the CLI follows.
const API_VERSION: &str = "1.43";

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format output using a Go-like template, or "json".
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Format output using a Go-like template, or "json".
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct SystemCmd {
    #[command(subcommand)]
    pub cmd: SystemSub,
}

#[derive(clap::Subcommand, Debug)]
pub enum SystemSub {
    /// Show docker disk usage.
    Df {
        /// Show detailed information on space usage.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// Remove unused data.
    Prune {
        /// Remove all unused images not just dangling ones.
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
        /// Prune anonymous volumes.
        #[arg(long)]
        volumes: bool,
    },
    /// Display system-wide information.
    Info(InfoArgs),
}

fn platform() -> (String, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    (std::env::consts::OS.to_owned(), arch)
}

/// `version`'s document, in Docker's shape.
pub fn version_doc(ctx: &Ctx) -> Value {
    let (os, arch) = platform();
    let host = ctx.engine().host_info();
    json!({
        "Client": {
            "Platform": {"Name": "berth"},
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "Os": os, "Arch": arch,
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "berth (daemonless)"},
            "Components": [
                {"Name": "Engine", "Version": VERSION,
                 "Details": {"ApiVersion": API_VERSION, "Os": os, "Arch": arch,
                             "KernelVersion": host.kernel, "Experimental": "false"}},
                {"Name": "berth-runtime", "Version": VERSION,
                 "Details": {"GitCommit": ""}},
            ],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "Os": os, "Arch": arch,
            "KernelVersion": host.kernel,
        },
    })
}

/// Prints `doc` as JSON (`json`), through a template, or with `text`.
fn print_doc(doc: &Value, format: Option<&str>, text: impl FnOnce(&Value) -> String) -> CmdResult {
    match format {
        None => print!("{}", text(doc)),
        Some("json") => println!("{}", serde_json::to_string(doc).unwrap_or_default()),
        Some(f) => println!("{}", super::render_path_template(f, doc)?),
    }
    Ok(0)
}

pub fn version(ctx: &Ctx, a: VersionArgs) -> CmdResult {
    print_doc(&version_doc(ctx), a.format.as_deref(), |d| {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let c = &d["Client"];
        let e = &d["Server"];
        format!(
            "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}/{}\n Context:           default\n\n\
             Server: {}\n Engine:\n  Version:          {}\n  API version:      {}\n  OS/Arch:          {}/{}\n  Kernel:           {}\n  Experimental:     false\n berth-runtime:\n  Version:          {}\n",
            s(&c["Version"]), s(&c["ApiVersion"]), s(&c["Os"]), s(&c["Arch"]),
            s(&e["Platform"]["Name"]), s(&e["Version"]), s(&e["ApiVersion"]),
            s(&e["Os"]), s(&e["Arch"]), s(&e["KernelVersion"]), s(&e["Version"]),
        )
    })
}

pub fn info_doc(ctx: &Ctx) -> Result<Value, Failure> {
    let engine = ctx.engine();
    let counts = engine.container_counts()?;
    let host = engine.host_info();
    let images = crate::image_cmds::image_usage(&ctx.image)?.len();
    let (os, _) = platform();
    Ok(json!({
        "Containers": counts.total,
        "ContainersRunning": counts.running,
        "ContainersPaused": counts.paused,
        "ContainersStopped": counts.stopped,
        "Images": images,
        "Driver": "overlay2",
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": host.cgroup_version,
        "KernelVersion": host.kernel,
        "OperatingSystem": host.os,
        "OSType": os,
        "Architecture": host.arch,
        "NCPU": host.ncpu,
        "MemTotal": host.mem_total,
        "Name": host.hostname,
        "ServerVersion": VERSION,
        "DockerRootDir": ctx.root,
        "RunRoot": ctx.run_root,
        "Runtimes": {"berth-runtime": {"path": "in process"}},
        "DefaultRuntime": "berth-runtime",
    }))
}

pub fn info(ctx: &Ctx, a: InfoArgs) -> CmdResult {
    let doc = info_doc(ctx)?;
    print_doc(&doc, a.format.as_deref(), |d| {
        let v = |k: &str| match &d[k] {
            Value::String(s) => s.clone(),
            other => other.to_string().trim_matches('"').to_owned(),
        };
        let mem = binary_size(d["MemTotal"].as_u64().unwrap_or(0));
        format!(
            "Client:\n Version:    {VERSION}\n Context:    default\n\n\
             Server:\n Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n \
             Server Version: {}\n Storage Driver: {}\n Logging Driver: {}\n Cgroup Driver: {}\n \
             Cgroup Version: {}\n Runtimes: berth-runtime\n Default Runtime: {}\n \
             Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}\n \
             CPUs: {}\n Total Memory: {mem}\n Name: {}\n Berth Root Dir: {}\n Berth Run Root: {}\n",
            v("Containers"),
            v("ContainersRunning"),
            v("ContainersPaused"),
            v("ContainersStopped"),
            v("Images"),
            v("ServerVersion"),
            v("Driver"),
            v("LoggingDriver"),
            v("CgroupDriver"),
            v("CgroupVersion"),
            v("DefaultRuntime"),
            v("KernelVersion"),
            v("OperatingSystem"),
            v("OSType"),
            v("Architecture"),
            v("NCPU"),
            v("Name"),
            v("DockerRootDir"),
            v("RunRoot"),
        )
    })
}

pub fn system(ctx: &Ctx, s: SystemCmd) -> CmdResult {
    match s.cmd {
        SystemSub::Df { verbose } => df(ctx, verbose),
        SystemSub::Prune {
            all,
            force,
            volumes,
        } => prune(ctx, all, force, volumes),
        SystemSub::Info(a) => info(ctx, a),
    }
}

/// One row of `system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfRow {
    pub kind: &'static str,
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// Images' sizes count each shared layer once; what is reclaimable is
/// what no image in use needs.
pub fn images_row(images: &[ImageUsage]) -> DfRow {
    let mut all: BTreeMap<&str, u64> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for i in images {
        for (chain, size) in &i.layers {
            all.insert(chain, *size);
            if i.containers > 0 {
                used.insert(chain);
            }
        }
    }
    let size: u64 = all.values().sum();
    let in_use: u64 = all
        .iter()
        .filter(|(c, _)| used.contains(*c))
        .map(|(_, s)| s)
        .sum();
    DfRow {
        kind: "Images",
        total: images.len(),
        active: images.iter().filter(|i| i.containers > 0).count(),
        size,
        reclaimable: size - in_use,
    }
}

fn reclaimable(r: &DfRow) -> String {
    if r.size == 0 {
        return human_size(r.reclaimable);
    }
    let pct = r.reclaimable as f64 * 100.0 / r.size as f64;
    format!("{} ({pct:.0}%)", human_size(r.reclaimable))
}

fn df(ctx: &Ctx, verbose: bool) -> CmdResult {
    let engine = ctx.engine();
    let images = crate::image_cmds::image_usage(&ctx.image)?;
    let containers = engine.list()?;
    let cont_sizes: Vec<(u64, bool)> = containers
        .iter()
        .map(|c| {
            let running = matches!(
                c.state.status,
                berth_engine::Status::Running
                    | berth_engine::Status::Paused
                    | berth_engine::Status::Restarting
            );
            (
                berth_engine::volumes::du(&engine.paths(&c.record.id).upper()),
                running,
            )
        })
        .collect();
    let volumes = super::volume::volume_usage(ctx)?;
    let rows = [
        images_row(&images),
        DfRow {
            kind: "Containers",
            total: containers.len(),
            active: cont_sizes.iter().filter(|(_, r)| *r).count(),
            size: cont_sizes.iter().map(|(s, _)| s).sum(),
            reclaimable: cont_sizes.iter().filter(|(_, r)| !r).map(|(s, _)| s).sum(),
        },
        DfRow {
            kind: "Local Volumes",
            total: volumes.len(),
            active: volumes.iter().filter(|v| v.2 > 0).count(),
            size: volumes.iter().map(|v| v.1).sum(),
            reclaimable: volumes.iter().filter(|v| v.2 == 0).map(|v| v.1).sum(),
        },
        DfRow {
            kind: "Build Cache",
            total: 0,
            active: 0,
            size: 0,
            reclaimable: 0,
        },
    ];
    if !verbose {
        let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_owned()];
        for r in &rows {
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                r.kind,
                r.total,
                r.active,
                human_size(r.size),
                reclaimable(r)
            ));
        }
        print!("{}", columns(&lines));
        return Ok(0);
    }
    let mut lines = vec!["REPOSITORY\tTAG\tIMAGE ID\tSIZE\tCONTAINERS".to_owned()];
    for i in &images {
        let short: String =
            i.id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect();
        let size = human_size(i.layers.iter().map(|l| l.1).sum());
        let names = if i.names.is_empty() {
            vec!["<none>:<none>".to_owned()]
        } else {
            i.names.clone()
        };
        for n in names {
            let (repo, tag) = n.rsplit_once(':').unwrap_or((n.as_str(), "<none>"));
            lines.push(format!("{repo}\t{tag}\t{short}\t{size}\t{}", i.containers));
        }
    }
    println!("Images space usage:\n");
    print!("{}", columns(&lines));
    let mut lines = vec!["CONTAINER ID\tIMAGE\tSIZE\tSTATUS\tNAMES".to_owned()];
    for (c, (size, _)) in containers.iter().zip(&cont_sizes) {
        lines.push(format!(
            "{}\t{}\t{}\t{}\t{}",
            &c.record.id[..12],
            c.record.image,
            human_size(*size),
            c.state.status.as_str(),
            c.record.name
        ));
    }
    println!("\nContainers space usage:\n");
    print!("{}", columns(&lines));
    let mut lines = vec!["VOLUME NAME\tLINKS\tSIZE".to_owned()];
    for (name, size, links) in &volumes {
        lines.push(format!("{name}\t{links}\t{}", human_size(*size)));
    }
    println!("\nLocal Volumes space usage:\n");
    print!("{}", columns(&lines));
    println!("\nBuild cache usage: 0B");
    Ok(0)
}

/// Docker's warning for `system prune`.
pub fn prune_warning(all: bool, volumes: bool) -> String {
    let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n");
    if volumes {
        w.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    if all {
        w.push_str("  - all images without at least one container associated to them\n");
    } else {
        w.push_str("  - all dangling images\n");
    }
    w.push_str("  - unused build cache\n\nAre you sure you want to continue? [y/N] ");
    w
}

fn prune(ctx: &Ctx, all: bool, force: bool, volumes: bool) -> CmdResult {
    if !force {
        // As Docker: the answer is read from stdin whatever it is; no
        // answer (end of input) is a no.
        print!("{}", prune_warning(all, volumes));
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let mut freed = 0u64;
    let (ids, n) = super::prune_containers(&ctx.engine())?;
    freed += n;
    if !ids.is_empty() {
        println!("Deleted Containers:\n{}\n", ids.join("\n"));
    }
    if volumes {
        let (names, n) = super::volume::prune_volumes(ctx, false)?;
        freed += n;
        if !names.is_empty() {
            println!("Deleted Volumes:\n{}\n", names.join("\n"));
        }
    }
    let (deleted, n) = crate::image_cmds::prune_images(&ctx.image, all)?;
    freed += n;
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(layers: &[(&str, u64)], containers: usize) -> ImageUsage {
        ImageUsage {
            id: "sha256:x".into(),
            names: vec![],
            layers: layers.iter().map(|(c, s)| (c.to_string(), *s)).collect(),
            containers,
        }
    }

    #[test]
    fn shared_layers_count_once_and_used_ones_are_not_reclaimable() {
        let r = images_row(&[
            img(&[("base", 100), ("app", 10)], 1),
            img(&[("base", 100), ("old", 50)], 0),
        ]);
        assert_eq!((r.total, r.active, r.size, r.reclaimable), (2, 1, 160, 50));
        assert_eq!(reclaimable(&r), "50B (31%)");
    }

    #[test]
    fn the_warning_names_what_goes() {
        let w = prune_warning(true, true);
        assert!(w.contains("all anonymous volumes"));
        assert!(w.contains("all images without at least one container"));
        assert!(prune_warning(false, false).contains("all dangling images"));
    }
}
