//! `volume create/ls/inspect/rm/prune`.

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::image_cmds::format::columns;

#[derive(clap::Args, Debug)]
pub struct VolumeCmd {
    #[command(subcommand)]
    pub cmd: VolumeSub,
}

#[derive(clap::Subcommand, Debug)]
pub enum VolumeSub {
    /// Create a volume.
    Create {
        /// Set metadata for a volume (KEY=VALUE).
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
        /// Volume driver (local only).
        #[arg(short = 'd', long, default_value = "local")]
        driver: String,
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Display detailed information on one or more volumes.
    Inspect {
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove one or more volumes.
    #[command(alias = "remove")]
    Rm {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove unused anonymous volumes (all unused with -a).
    Prune {
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(short = 'f', long)]
        force: bool,
    },
}

/// Which containers (ids) use each volume.
pub fn volume(ctx: &Ctx, v: VolumeCmd) -> CmdResult {
    let engine = ctx.engine();
    let vols = engine.volumes();
    match v.cmd {
        VolumeSub::Create {
            label,
            driver,
            name,
        } => {
            if driver != "local" {
                return Err(Failure::new(
                    format!("volume driver {driver} is not available; berth has \"local\""),
                    125,
                ));
            }
            let labels = super::parse_labels(&label);
            let name = match name {
                Some(n) => n,
                None => berth_engine::ids::new_id()?,
            };
            let m = vols.create(&name, labels, false)?;
            println!("{}", m.name);
        }
        VolumeSub::Ls { quiet } => {
            let list = vols.list()?;
            if quiet {
                for m in list {
                    println!("{}", m.name);
                }
            } else {
                let mut rows = vec!["DRIVER\tVOLUME NAME".to_owned()];
                rows.extend(list.iter().map(|m| format!("local\t{}", m.name)));
                print!("{}", columns(&rows));
            }
        }
        VolumeSub::Inspect { volumes } => {
            let mut docs = Vec::new();
            let mut code = 0;
            for n in volumes {
                match vols.inspect(&n) {
                    Ok(m) => docs.push(json!({
                        "CreatedAt": m.created, "Driver": "local", "Labels": m.labels,
                        "Mountpoint": vols.data(&m.name), "Name": m.name, "Options": {}, "Scope": "local",
                    })),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&docs).unwrap_or_default()
            );
            return Ok(code);
        }
        VolumeSub::Rm { force, volumes } => {
            let used = ctx.engine().volume_users()?;
            let mut code = 0;
            for n in volumes {
                let r = match used.get(&n) {
                    Some(ids) if !force => Err(berth_engine::Error::VolumeInUse {
                        name: n.clone(),
                        id: ids[0].clone(),
                    }),
                    _ => vols.remove(&n),
                };
                match r {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        VolumeSub::Prune { all, force: _ } => {
            let (names, freed) = prune_volumes(ctx, all)?;
            println!("Deleted Volumes:");
            for n in names {
                println!("{n}");
            }
            println!();
            println!(
                "Total reclaimed space: {}",
                crate::image_cmds::format::human_size(freed)
            );
        }
    }
    Ok(0)
}

/// Removes the volumes no container uses (only anonymous ones unless
/// `all`): their names and the bytes they held.
pub fn prune_volumes(ctx: &Ctx, all: bool) -> Result<(Vec<String>, u64), Failure> {
    let vols = ctx.engine().volumes();
    let used = ctx.engine().volume_users()?;
    let mut names = Vec::new();
    let mut freed = 0;
    for m in vols.list()? {
        if used.contains_key(&m.name) || (!all && !m.anonymous) {
            continue;
        }
        let size = vols.size(&m.name);
        if vols.remove(&m.name).is_ok() {
            freed += size;
            names.push(m.name);
        }
    }
    Ok((names, freed))
}

/// Volumes: (name, size, number of containers using it).
pub fn volume_usage(ctx: &Ctx) -> Result<Vec<(String, u64, usize)>, Failure> {
    let vols = ctx.engine().volumes();
    let used = ctx.engine().volume_users()?;
    Ok(vols
        .list()?
        .into_iter()
        .map(|m| {
            let n = used.get(&m.name).map_or(0, Vec::len);
            let size = vols.size(&m.name);
            (m.name, size, n)
        })
        .collect())
}
