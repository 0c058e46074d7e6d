//! `berth`: the Docker-compatible CLI. Thin: parse, call a library, print.

#[path = "../build_cmd.rs"]
mod build_cmd;
#[path = "../container_cmds/mod.rs"]
mod container_cmds;
#[path = "../image_cmds/mod.rs"]
mod image_cmds;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth", version, about = "A daemonless container engine")]
struct Cli {
    /// Root of berth's persistent state.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    root: PathBuf,
    /// Root of state that does not outlive a reboot (runtime state, sockets).
    #[arg(
        long = "run-root",
        global = true,
        env = "BERTH_RUN_ROOT",
        default_value = "/run/berth"
    )]
    run_root: PathBuf,
    /// A registry that may be reached over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long = "log-level", global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create and run a new container from an image.
    Run(container_cmds::RunArgs),
    /// Create a new container.
    Create(container_cmds::CreateArgs),
    /// Start one or more stopped containers.
    Start(container_cmds::StartArgs),
    /// Stop one or more running containers.
    Stop(container_cmds::StopArgs),
    /// Restart one or more containers.
    Restart(container_cmds::RestartArgs),
    /// Kill one or more running containers.
    Kill(container_cmds::KillArgs),
    /// Remove one or more containers.
    Rm(container_cmds::RmArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(container_cmds::WaitArgs),
    /// List containers.
    #[command(alias = "list")]
    Ps(container_cmds::PsArgs),
    /// Fetch the logs of a container.
    Logs(container_cmds::LogsArgs),
    /// Pause all processes within one or more containers.
    Pause(container_cmds::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(container_cmds::PauseArgs),
    /// Rename a container.
    Rename(container_cmds::RenameArgs),
    /// Execute a command in a running container.
    Exec(container_cmds::ExecArgs),
    /// Display the running processes of a container.
    Top(container_cmds::TopArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(container_cmds::CpArgs),
    /// Show the berth version information.
    Version(container_cmds::VersionArgs),
    /// Display system-wide information.
    Info(container_cmds::InfoArgs),
    /// Manage berth (df, prune, info).
    System(container_cmds::SystemCmd),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(container_cmds::StatsArgs),
    /// Manage containers.
    Container(ContainerCmd),
    /// Manage volumes.
    Volume(container_cmds::VolumeCmd),
    /// Manage networks.
    Network(container_cmds::NetworkCmd),
    /// List port mappings or a specific mapping for the container.
    Port(container_cmds::PortArgs),
    /// Download an image from a registry.
    Pull(image_cmds::PullArgs),
    /// Upload an image to a registry.
    Push(image_cmds::PushArgs),
    /// List images.
    Images(image_cmds::ImagesArgs),
    /// Remove one or more images.
    Rmi(image_cmds::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(image_cmds::TagArgs),
    /// Display detailed information on one or more images.
    Inspect(image_cmds::InspectArgs),
    /// Log in to a registry.
    Login(image_cmds::LoginArgs),
    /// Log out from a registry.
    Logout(image_cmds::LogoutArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(image_cmds::SaveArgs),
    /// Load images from a tar archive or STDIN.
    Load(image_cmds::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(image_cmds::ImportArgs),
    /// Build an image from a Dockerfile.
    Build(build_cmd::BuildArgs),
    /// Manage images.
    Image(ImageCmd),
}

#[derive(Args)]
struct ContainerCmd {
    #[command(subcommand)]
    cmd: ContainerSub,
}

#[derive(Subcommand)]
enum ContainerSub {
    Run(container_cmds::RunArgs),
    Create(container_cmds::CreateArgs),
    Start(container_cmds::StartArgs),
    Stop(container_cmds::StopArgs),
    Restart(container_cmds::RestartArgs),
    Kill(container_cmds::KillArgs),
    #[command(alias = "remove")]
    Rm(container_cmds::RmArgs),
    Wait(container_cmds::WaitArgs),
    #[command(alias = "list", alias = "ps")]
    Ls(container_cmds::PsArgs),
    Logs(container_cmds::LogsArgs),
    Pause(container_cmds::PauseArgs),
    Unpause(container_cmds::PauseArgs),
    Rename(container_cmds::RenameArgs),
    Exec(container_cmds::ExecArgs),
    Top(container_cmds::TopArgs),
    Stats(container_cmds::StatsArgs),
    Cp(container_cmds::CpArgs),
    Inspect(container_cmds::ContainerInspectArgs),
    /// Remove all stopped containers.
    Prune(container_cmds::ContainerPruneArgs),
    /// List port mappings or a specific mapping for the container.
    Port(container_cmds::PortArgs),
}

#[derive(Args)]
struct ImageCmd {
    #[command(subcommand)]
    cmd: ImageSub,
}

#[derive(Subcommand)]
enum ImageSub {
    Pull(image_cmds::PullArgs),
    Push(image_cmds::PushArgs),
    #[command(alias = "list")]
    Ls(image_cmds::ImagesArgs),
    #[command(alias = "remove")]
    Rm(image_cmds::RmiArgs),
    Tag(image_cmds::TagArgs),
    Inspect(image_cmds::InspectArgs),
    /// Remove unused images.
    Prune(image_cmds::PruneArgs),
    Save(image_cmds::SaveArgs),
    Load(image_cmds::LoadArgs),
    Import(image_cmds::ImportArgs),
}

/// Dies quietly on a closed stdout (`berth images | head`), as Docker does,
/// instead of panicking in `println!`.
fn restore_sigpipe() {
    // SAFETY: runs first in main, before any other thread exists, and
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `berth --root R --run-root RR supervise ID --shim PATH [--attach]
/// [--exited CODE]`: the container supervisor, started by `run`/`start`
/// (and by berth-shim when the container exits) with exactly these
/// arguments. Kept out of clap so it builds as little as possible.
fn supervise_args() -> Option<(PathBuf, PathBuf, berth_engine::supervisor::SuperviseArgs)> {
    let a: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if a.len() < 7 || a[1] != "--root" || a[3] != "--run-root" || a[5] != "supervise" {
        return None;
    }
    let mut args = berth_engine::supervisor::SuperviseArgs {
        id: a[6].to_string_lossy().into_owned(),
        attached: false,
        shim: PathBuf::new(),
        exited: None,
    };
    let mut rest = a[7..].iter();
    while let Some(flag) = rest.next() {
        match flag.to_str() {
            Some("--attach") => args.attached = true,
            Some("--shim") => args.shim = PathBuf::from(rest.next()?),
            Some("--exited") => args.exited = Some(rest.next()?.to_str()?.parse().ok()?),
            _ => return None,
        }
    }
    Some((PathBuf::from(&a[2]), PathBuf::from(&a[4]), args))
}

/// `berth --root R --run-root RR dns NETWORK_ID`: a user network's DNS
/// server, started by the engine with exactly these arguments.
fn dns_args() -> Option<(PathBuf, PathBuf, String)> {
    let a: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if a.len() != 7 || a[1] != "--root" || a[3] != "--run-root" || a[5] != "dns" {
        return None;
    }
    Some((
        PathBuf::from(&a[2]),
        PathBuf::from(&a[4]),
        a[6].to_string_lossy().into_owned(),
    ))
}

/// Docker stops reading flags at the image of `run`/`create` and at the
/// container of `exec`: what follows is the command, even when it starts
/// with `-` (`berth run --entrypoint sh IMAGE -c 'echo hi'`). clap would go
/// on matching flags there, so a `--` is put after that positional.
fn separate_command(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let top = Cli::command();
    let mut i = skip_flags(&top, &args, 1);
    let mut cmd = &top;
    while let Some(sub) = args
        .get(i)
        .and_then(|a| a.to_str())
        .and_then(|name| cmd.find_subcommand(name))
    {
        cmd = sub;
        i = skip_flags(cmd, &args, i + 1);
        if !matches!(cmd.get_name(), "container") {
            break;
        }
    }
    if matches!(cmd.get_name(), "run" | "create" | "exec")
        && i < args.len()
        && args.get(i + 1).is_some_and(|a| a != "--")
    {
        args.insert(i + 1, "--".into());
    }
    args
}

/// The index of the first token at or after `i` that is not a flag of
/// `cmd` or a flag's value.
fn skip_flags(cmd: &clap::Command, args: &[std::ffi::OsString], mut i: usize) -> usize {
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    while let Some(tok) = args.get(i).and_then(|a| a.to_str()) {
        if tok == "--" || !tok.starts_with('-') || tok == "-" {
            return i;
        }
        if let Some(long) = tok.strip_prefix("--") {
            let needs_next = !long.contains('=')
                && cmd.get_arguments().any(|a| {
                    takes_value(a)
                        && (a.get_long() == Some(long)
                            || a.get_all_aliases().is_some_and(|al| al.contains(&long)))
                });
            i += if needs_next { 2 } else { 1 };
            continue;
        }
        // A cluster of short flags: the first that takes a value takes the
        // rest of the cluster, or the next token.
        let chars: Vec<char> = tok.chars().skip(1).collect();
        let mut step = 1;
        for (k, c) in chars.iter().enumerate() {
            if cmd
                .get_arguments()
                .any(|a| takes_value(a) && a.get_short() == Some(*c))
            {
                if k + 1 == chars.len() {
                    step = 2;
                }
                break;
            }
        }
        i += step;
    }
    i
}

fn main() -> ExitCode {
    if let Some((root, run_root, args)) = supervise_args() {
        let engine = berth_engine::Engine::new(&root, &run_root);
        let code = berth_engine::supervisor::main(&engine, &args);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if let Some((root, run_root, network)) = dns_args() {
        let engine = berth_engine::Engine::new(&root, &run_root);
        let code = engine.dns_main(&network);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    restore_sigpipe();
    // Docker's CLI exits 125 on a usage error.
    let args = separate_command(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let ctx = container_cmds::Ctx {
        image: image_cmds::Global {
            root: cli.root.clone(),
            run_root: cli.run_root.clone(),
            insecure_registries: cli.insecure_registries,
        },
        root: cli.root,
        run_root: cli.run_root,
    };
    match container_command(&ctx, cli.cmd) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Runs a container or volume command (or `inspect`, which looks for a
/// container before an image); `None` leaves `cmd` to the image commands.
fn container_command(ctx: &container_cmds::Ctx, cmd: Cmd) -> container_cmds::CmdResult {
    use container_cmds as c;
    match cmd {
        Cmd::Run(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Run(a),
        }) => c::run(ctx, a),
        Cmd::Create(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Create(a),
        }) => c::create(ctx, a),
        Cmd::Start(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Start(a),
        }) => c::start(ctx, a),
        Cmd::Stop(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Stop(a),
        }) => c::stop(ctx, a),
        Cmd::Restart(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Restart(a),
        }) => c::restart(ctx, a),
        Cmd::Kill(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Kill(a),
        }) => c::kill(ctx, a),
        Cmd::Rm(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Rm(a),
        }) => c::rm(ctx, a),
        Cmd::Wait(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Wait(a),
        }) => c::wait(ctx, a),
        Cmd::Ps(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Ls(a),
        }) => c::ps(ctx, a),
        Cmd::Logs(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Logs(a),
        }) => c::logs(ctx, a),
        Cmd::Pause(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Pause(a),
        }) => c::pause(ctx, a),
        Cmd::Unpause(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Unpause(a),
        }) => c::unpause(ctx, a),
        Cmd::Rename(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Rename(a),
        }) => c::rename(ctx, a),
        Cmd::Exec(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Exec(a),
        }) => c::exec(ctx, a),
        Cmd::Top(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Top(a),
        }) => c::top(ctx, a),
        Cmd::Stats(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Stats(a),
        }) => c::stats(ctx, a),
        Cmd::Cp(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Cp(a),
        }) => c::cp(ctx, a),
        Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Inspect(a),
        }) => c::container_inspect(ctx, a),
        Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Prune(a),
        }) => c::container_prune(ctx, a),
        Cmd::Volume(v) => c::volume(ctx, v),
        Cmd::Network(n) => c::network(ctx, n),
        Cmd::Port(a)
        | Cmd::Container(ContainerCmd {
            cmd: ContainerSub::Port(a),
        }) => c::port(ctx, a),
        Cmd::Version(a) => c::version(ctx, a),
        Cmd::Info(a) => c::info(ctx, a),
        Cmd::System(s) => c::system(ctx, s),
        Cmd::Build(a) => build_cmd::build(ctx, a),
        Cmd::Inspect(a) => inspect_any(ctx, a),
        other => image_command(&ctx.image, other),
    }
}

/// `inspect`: containers by name or id first, then images.
fn inspect_any(ctx: &container_cmds::Ctx, a: image_cmds::InspectArgs) -> container_cmds::CmdResult {
    let found = container_cmds::inspect_containers(ctx, a.names());
    if found.iter().all(Option::is_some) && !found.is_empty() {
        let docs: Vec<serde_json::Value> = found.into_iter().flatten().collect();
        return container_cmds::print_inspect(&docs, a.format()).map(|()| 0);
    }
    image_command(&ctx.image, Cmd::Inspect(a))
}

/// Runs an image command.
fn image_command(g: &image_cmds::Global, cmd: Cmd) -> container_cmds::CmdResult {
    let r = match cmd {
        Cmd::Pull(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Pull(a),
        }) => image_cmds::pull(g, a),
        Cmd::Push(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Push(a),
        }) => image_cmds::push(g, a),
        Cmd::Images(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Ls(a),
        }) => image_cmds::images(g, a),
        Cmd::Rmi(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Rm(a),
        }) => image_cmds::rmi(g, a),
        Cmd::Tag(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Tag(a),
        }) => image_cmds::tag(g, a),
        Cmd::Inspect(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Inspect(a),
        }) => image_cmds::inspect(g, a),
        Cmd::Image(ImageCmd {
            cmd: ImageSub::Prune(a),
        }) => image_cmds::prune(g, a),
        Cmd::Save(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Save(a),
        }) => image_cmds::save(g, a),
        Cmd::Load(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Load(a),
        }) => image_cmds::load(g, a),
        Cmd::Import(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Import(a),
        }) => image_cmds::import(g, a),
        Cmd::Login(a) => image_cmds::login(g, a),
        Cmd::Logout(a) => image_cmds::logout(g, a),
        _ => return Err(container_cmds::Failure::new("not an image command", 1)),
    };
    r.map(|()| 0).map_err(|e| {
        container_cmds::Failure::new(format!("Error: {}", container_cmds::error_chain(&e)), 1)
    })
}
