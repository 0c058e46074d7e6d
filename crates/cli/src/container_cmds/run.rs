//! `create`, `run` and `start`.

use std::io::IsTerminal;

use berth_engine::create::ImageRef;
use berth_engine::imageconfig::RunConfig;
use berth_engine::supervisor::{Attach, Event};
use berth_engine::Engine;
use berth_sys::signal::{self, SignalSet};

use super::{CmdResult, CreateArgs, Ctx, Failure};
use crate::image_cmds::{self, CliError, PullArgs};

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run the container in the background and print its id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Start every stopped container (that the filters select).
    #[arg(long)]
    pub all: bool,
    /// With --all: restart-policy=always|unless-stopped|on-failure|no,
    /// name=, label=K[=V]. The same key given twice matches either value.
    #[arg(short = 'f', long = "filter", requires = "all")]
    pub filter: Vec<String>,
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

/// `start --all`: the stopped containers the filters select, oldest
/// first. `restart-policy=unless-stopped` leaves out those a user stopped
/// (what a boot-time `start --all` must not bring back).
fn select_stopped(engine: &Engine, filters: &[String]) -> Result<Vec<String>, Failure> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for f in filters {
        let (k, v) = super::split_filter(f)?;
        if !matches!(k, "restart-policy" | "name" | "label") {
            return Err(Failure::new(
                format!("invalid filter '{k}': start --all knows restart-policy, name, label"),
                125,
            ));
        }
        by_key.entry(k).or_default().push(v);
    }
    let mut out = Vec::new();
    let mut all = engine.list()?;
    all.reverse();
    for c in all {
        if matches!(
            c.state.status,
            berth_engine::Status::Running | berth_engine::Status::Paused
        ) {
            continue;
        }
        let policy = c.record.options.restart;
        let labels = berth_engine::inspect::labels(&c);
        let keep = by_key.iter().all(|(k, values)| {
            values.iter().any(|v| match *k {
                "restart-policy" => {
                    policy.name() == *v && !(*v == "unless-stopped" && c.state.stopped_by_user)
                }
                "name" => c.record.name.contains(v),
                _ => super::label_matches(&labels, v),
            })
        });
        if keep {
            out.push(c.record.id);
        }
    }
    Ok(out)
}

/// Finds the image (pulling it as `--pull` says) and reads what a
/// container needs of it.
fn image_ref(
    ctx: &Ctx,
    name: &str,
    pull: &str,
    platform: Option<&str>,
) -> Result<ImageRef, Failure> {
    let want = platform
        .map(image_cmds::parse_platform)
        .transpose()
        .map_err(Failure::from)?;
    let pull_now = |ctx: &Ctx| -> Result<(), Failure> {
        image_cmds::pull(&ctx.image, PullArgs::quiet(name, platform)).map_err(Failure::from)
    };
    match pull {
        "always" => pull_now(ctx)?,
        "missing" | "never" => {}
        _ => {
            return Err(Failure::new(
                format!("invalid --pull {pull:?}: expected always, missing or never"),
                125,
            ))
        }
    }
    let store = image_cmds::open_store_read_only(&ctx.image)?;
    let found = match image_cmds::find_image(&store, name) {
        Ok(f) => f,
        Err(CliError::NoSuchImage(_)) if pull == "missing" => {
            eprintln!("Unable to find image '{name}' locally");
            drop(store);
            pull_now(ctx)?;
            let store = image_cmds::open_store(&ctx.image)?;
            let rec = image_cmds::find_image(&store, name)?.record;
            return image_ref_of(&store, name, rec, want.as_ref());
        }
        Err(e) => return Err(e.into()),
    };
    image_ref_of(&store, name, found.record, want.as_ref())
}

/// The image `name` resolved to, checked against `--platform` (`want`):
/// as Docker, an image here of another platform is refused rather than run.
fn image_ref_of(
    store: &berth_image::ImageStore,
    name: &str,
    rec: berth_image::meta::ImageRecord,
    want: Option<&berth_image::spec::Platform>,
) -> Result<ImageRef, Failure> {
    let mut layers = Vec::new();
    for l in &rec.layers {
        if !store.layers().contains(&l.chain_id) {
            return Err(Failure::new(
                format!(
                    "image {name}: layer {} is missing from the store; pull the image again",
                    l.chain_id
                ),
                125,
            ));
        }
        layers.push(store.layers().path(&l.chain_id));
    }
    let bytes = store
        .content()
        .read(&rec.config, 8 << 20)
        .map_err(|e| Failure::new(format!("image {name}: reading its config: {e}"), 125))?;
    let cfg: berth_image::spec::ImageConfig = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(
            format!("image {name}: its config is not valid JSON: {e}"),
            125,
        )
    })?;
    if let Some(want) = want {
        let have = berth_image::spec::Platform {
            os: cfg.os.clone(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
            os_version: None,
        };
        if !want.matches(&have) {
            return Err(Failure::new(
                format!(
                    "image {name} is {}/{}, not the requested {}/{}: pull it with --pull always --platform",
                    have.os, have.architecture, want.os, want.architecture
                ),
                125,
            ));
        }
    }
    let config = RunConfig::from_value(cfg.config.as_ref())
        .map_err(|e| Failure::new(format!("image {name}: its run config is invalid: {e}"), 125))?;
    Ok(ImageRef {
        name: name.to_owned(),
        id: rec.config.to_string(),
        manifest: rec.manifest.to_string(),
        layers,
        config,
    })
}

fn create_container(ctx: &Ctx, a: &CreateArgs) -> Result<(Engine, String), Failure> {
    let opts = a.options()?;
    let image = image_ref(ctx, &a.image, &a.pull, a.platform.as_deref())?;
    let engine = ctx.engine();
    // Claimed before the container exists, as Docker does: a file left by
    // another container is an error, not overwritten.
    let mut cidfile = match &a.cidfile {
        Some(p) => Some((
            p,
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| {
                    let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                        "make sure the other container isn't running or delete it".to_owned()
                    } else {
                        e.to_string()
                    };
                    Failure::new(
                        format!("Container ID file found at {}: {why}", p.display()),
                        125,
                    )
                })?,
        )),
        None => None,
    };
    let id = match engine.create(&image, opts) {
        Ok(id) => id,
        Err(e) => {
            if let Some((p, _)) = cidfile {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.into());
        }
    };
    if let Some((p, f)) = cidfile.as_mut() {
        use std::io::Write;
        f.write_all(id.as_bytes())
            .map_err(|e| Failure::new(format!("writing {}: {e}", p.display()), 125))?;
    }
    Ok((engine, id))
}

pub fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    let (_, id) = create_container(ctx, &a)?;
    println!("{id}");
    Ok(0)
}

pub fn run(ctx: &Ctx, a: RunArgs) -> CmdResult {
    if a.create.tty && a.create.interactive && !a.detach && !std::io::stdin().is_terminal() {
        return Err(Failure::new("the input device is not a TTY", 1));
    }
    let (engine, id) = create_container(ctx, &a.create)?;
    let attach = Attach {
        output: !a.detach,
        stdin: a.create.interactive && !a.detach,
    };
    let r = start_one(&engine, &id, attach, a.create.tty);
    if r.is_err() && a.create.rm {
        let _ = engine.remove(&id, true, true);
    }
    let code = r?;
    if a.detach {
        println!("{id}");
    }
    Ok(code)
}

pub fn start(ctx: &Ctx, a: StartArgs) -> CmdResult {
    let engine = ctx.engine();
    if a.attach && a.containers.len() > 1 {
        return Err(Failure::new(
            "you cannot start and attach multiple containers at once",
            1,
        ));
    }
    let targets = if a.all {
        select_stopped(&engine, &a.filter)?
    } else {
        a.containers.clone()
    };
    let mut failed = None;
    for c in &targets {
        let r = engine.resolve(c).map_err(Failure::from).and_then(|id| {
            let st = engine.container(&id)?;
            if matches!(
                st.state.status,
                berth_engine::Status::Running | berth_engine::Status::Paused
            ) {
                return Ok(0);
            }
            // Started by the user: the restart policy applies again.
            engine.reset_stop_flag(&id)?;
            start_one(
                &engine,
                &id,
                Attach {
                    output: a.attach,
                    stdin: a.interactive,
                },
                st.record.options.tty,
            )
        });
        match r {
            Ok(code) if a.attach => return Ok(code),
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(_) => Err(Failure::new("failed to start containers", 1)),
        None => Ok(0),
    }
}

/// Starts the supervisor; attached, forwards signals and returns the
/// container's exit code. `tty`: the container has a terminal (`-t`),
/// which an attached caller puts in raw mode.
fn start_one(engine: &Engine, id: &str, attach: Attach, tty: bool) -> CmdResult {
    let tty = attach.output && tty;
    let mut forwarded = berth_engine::exec::FORWARDED_SIGNALS.to_vec();
    if tty {
        // The supervisor copies the new size onto the container's terminal.
        forwarded.push(libc::SIGWINCH);
    }
    // Blocked before the supervisor exists, so a Ctrl-C is never lost
    // and never kills the CLI instead of reaching the container.
    let blocked = if attach.output {
        Some(
            SignalSet::block(&forwarded)
                .map_err(|e| Failure::new(format!("blocking signals: {e}"), 125))?,
        )
    } else {
        None
    };
    // Keys go to the container as typed (Ctrl-C included) while attached
    // to its terminal; restored on every way out of here.
    let _raw = if tty && attach.stdin && std::io::stdin().is_terminal() {
        Some(
            berth_sys::pty::RawMode::enter(std::io::stdin())
                .map_err(|e| Failure::new(format!("setting the terminal to raw mode: {e}"), 125))?,
        )
    } else {
        None
    };
    let mut status = engine.spawn_supervisor(id, attach)?;
    let supervisor = status.supervisor_pid();
    let pid = match status.next_event() {
        Some(Event::Started { pid }) => pid,
        Some(Event::Failed { message, code }) => {
            status.reap();
            return Err(Failure::new(message, code.clamp(1, 255) as u8));
        }
        _ => {
            status.reap();
            return Err(Failure::new(
                "the supervisor exited before the container started",
                125,
            ));
        }
    };
    let Some(blocked) = blocked else {
        return Ok(0);
    };
    if let (Ok(fd), Ok(sup)) = (signal::pidfd(pid), signal::pidfd(supervisor)) {
        std::thread::spawn(move || loop {
            match blocked.wait() {
                Ok(libc::SIGWINCH) => {
                    let _ = signal::pidfd_kill(&sup, libc::SIGWINCH);
                }
                Ok(sig) => {
                    let _ = signal::pidfd_kill(&fd, sig);
                }
                Err(_) => return,
            }
        });
    }
    loop {
        match status.next_event() {
            // Not reaped: the supervisor may still be deleting a `--rm`
            // container's files, and need not be waited for (it is
            // re-parented when berth exits).
            Some(Event::Exited { code }) => return Ok(code.clamp(0, 255) as u8),
            // The container exited and the shim offers its end to us:
            // recorded and torn down here, one start of berth fewer.
            Some(Event::Reaped { code }) => {
                if status.take_exit() {
                    berth_engine::supervisor::finish_exited(engine, id, code)
                        .map_err(Failure::from)?;
                    status.reap();
                    return Ok(code.clamp(0, 255) as u8);
                }
            }
            // Ctrl-P Ctrl-Q: the container runs on under its supervisor.
            Some(Event::Detached) => return Ok(0),
            Some(_) => continue,
            None => {
                status.reap();
                let c = engine.container(id).map_err(Failure::from)?;
                return Ok(c.state.exit_code.clamp(0, 255) as u8);
            }
        }
    }
}
