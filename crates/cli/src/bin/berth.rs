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
    Run(Lazy<container_cmds::RunArgs>),
    /// Create a new container.
    Create(Lazy<container_cmds::CreateArgs>),
    /// Start one or more stopped containers.
    Start(Lazy<container_cmds::StartArgs>),
    /// Stop one or more running containers.
    Stop(Lazy<container_cmds::StopArgs>),
    /// Restart one or more containers.
    Restart(Lazy<container_cmds::RestartArgs>),
    /// Kill one or more running containers.
    Kill(Lazy<container_cmds::KillArgs>),
    /// Remove one or more containers.
    Rm(Lazy<container_cmds::RmArgs>),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(Lazy<container_cmds::WaitArgs>),
    /// List containers.
    #[command(alias = "list")]
    Ps(Lazy<container_cmds::PsArgs>),
    /// Fetch the logs of a container.
    Logs(Lazy<container_cmds::LogsArgs>),
    /// Pause all processes within one or more containers.
    Pause(Lazy<container_cmds::PauseArgs>),
    /// Unpause all processes within one or more containers.
    Unpause(Lazy<container_cmds::PauseArgs>),
    /// Rename a container.
    Rename(Lazy<container_cmds::RenameArgs>),
    /// Execute a command in a running container.
    Exec(Lazy<container_cmds::ExecArgs>),
    /// Display the running processes of a container.
    Top(Lazy<container_cmds::TopArgs>),
    /// Copy files/folders between a container and the local filesystem.
    Cp(Lazy<container_cmds::CpArgs>),
    /// Show the berth version information.
    Version(Lazy<container_cmds::VersionArgs>),
    /// Display system-wide information.
    Info(Lazy<container_cmds::InfoArgs>),
    /// Manage berth (df, prune, info).
    System(Lazy<container_cmds::SystemCmd>),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(Lazy<container_cmds::StatsArgs>),
    /// Manage containers.
    Container(Lazy<ContainerCmd>),
    /// Manage volumes.
    Volume(Lazy<container_cmds::VolumeCmd>),
    /// Manage networks.
    Network(Lazy<container_cmds::NetworkCmd>),
    /// List port mappings or a specific mapping for the container.
    Port(Lazy<container_cmds::PortArgs>),
    /// Download an image from a registry.
    Pull(Lazy<image_cmds::PullArgs>),
    /// Upload an image to a registry.
    Push(Lazy<image_cmds::PushArgs>),
    /// List images.
    Images(Lazy<image_cmds::ImagesArgs>),
    /// Remove one or more images.
    Rmi(Lazy<image_cmds::RmiArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(Lazy<image_cmds::TagArgs>),
    /// Display detailed information on one or more images.
    Inspect(Lazy<image_cmds::InspectArgs>),
    /// Log in to a registry.
    Login(Lazy<image_cmds::LoginArgs>),
    /// Log out from a registry.
    Logout(Lazy<image_cmds::LogoutArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(Lazy<image_cmds::SaveArgs>),
    /// Load images from a tar archive or STDIN.
    Load(Lazy<image_cmds::LoadArgs>),
    /// Import the contents from a tarball to create a filesystem image.
    Import(Lazy<image_cmds::ImportArgs>),
    /// Build an image from a Dockerfile.
    Build(Lazy<build_cmd::BuildArgs>),
    /// Manage images.
    Image(Lazy<ImageCmd>),
}

#[derive(Args)]
struct ContainerCmd {
    #[command(subcommand)]
    cmd: ContainerSub,
}

#[derive(Subcommand)]
enum ContainerSub {
    Run(Lazy<container_cmds::RunArgs>),
    Create(Lazy<container_cmds::CreateArgs>),
    Start(Lazy<container_cmds::StartArgs>),
    Stop(Lazy<container_cmds::StopArgs>),
    Restart(Lazy<container_cmds::RestartArgs>),
    Kill(Lazy<container_cmds::KillArgs>),
    #[command(alias = "remove")]
    Rm(Lazy<container_cmds::RmArgs>),
    Wait(Lazy<container_cmds::WaitArgs>),
    #[command(alias = "list", alias = "ps")]
    Ls(Lazy<container_cmds::PsArgs>),
    Logs(Lazy<container_cmds::LogsArgs>),
    Pause(Lazy<container_cmds::PauseArgs>),
    Unpause(Lazy<container_cmds::PauseArgs>),
    Rename(Lazy<container_cmds::RenameArgs>),
    Exec(Lazy<container_cmds::ExecArgs>),
    Top(Lazy<container_cmds::TopArgs>),
    Stats(Lazy<container_cmds::StatsArgs>),
    Cp(Lazy<container_cmds::CpArgs>),
    Inspect(Lazy<container_cmds::ContainerInspectArgs>),
    /// Remove all stopped containers.
    Prune(Lazy<container_cmds::ContainerPruneArgs>),
    /// List port mappings or a specific mapping for the container.
    Port(Lazy<container_cmds::PortArgs>),
}

#[derive(Args)]
struct ImageCmd {
    #[command(subcommand)]
    cmd: ImageSub,
}

#[derive(Subcommand)]
enum ImageSub {
    Pull(Lazy<image_cmds::PullArgs>),
    Push(Lazy<image_cmds::PushArgs>),
    #[command(alias = "list")]
    Ls(Lazy<image_cmds::ImagesArgs>),
    #[command(alias = "remove")]
    Rm(Lazy<image_cmds::RmiArgs>),
    Tag(Lazy<image_cmds::TagArgs>),
    Inspect(Lazy<image_cmds::InspectArgs>),
    /// Remove unused images.
    Prune(Lazy<image_cmds::PruneArgs>),
    Save(Lazy<image_cmds::SaveArgs>),
    Load(Lazy<image_cmds::LoadArgs>),
    Import(Lazy<image_cmds::ImportArgs>),
}

/// A subcommand's arguments, defined to clap only when that subcommand is
/// the one invoked. Building every subcommand's arguments up front (what the
/// derive does) allocates and copies a few hundred KiB on each start, about
/// a millisecond of the ~1.7 ms that `berth --version` took; `run` pays it
/// on every container start. `--help` still lists every subcommand: their
/// names and summaries are not deferred.
struct Lazy<T>(T);

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }
    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

impl<T: Args> Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }
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
    // `--root` and the other global flags may follow the subcommand too.
    let globals: Vec<clap::Arg> = top
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let mut i = skip_flags(&top, &[], &args, 1);
    let mut cmd = top;
    while let Some(mut sub) = args
        .get(i)
        .and_then(|a| a.to_str())
        .and_then(|name| cmd.find_subcommand(name))
        .cloned()
    {
        // Its arguments are deferred (`Lazy`): define them to look at them.
        sub.build();
        cmd = sub;
        i = skip_flags(&cmd, &globals, &args, i + 1);
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
/// `cmd` (or one of `globals`) or a flag's value.
fn skip_flags(
    cmd: &clap::Command,
    globals: &[clap::Arg],
    args: &[std::ffi::OsString],
    mut i: usize,
) -> usize {
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let valued = || {
        cmd.get_arguments()
            .chain(globals)
            .filter(|a| takes_value(a))
    };
    while let Some(tok) = args.get(i).and_then(|a| a.to_str()) {
        if tok == "--" || !tok.starts_with('-') || tok == "-" {
            return i;
        }
        if let Some(long) = tok.strip_prefix("--") {
            let needs_next = !long.contains('=')
                && valued().any(|a| {
                    a.get_long() == Some(long)
                        || a.get_all_aliases().is_some_and(|al| al.contains(&long))
                });
            i += if needs_next { 2 } else { 1 };
            continue;
        }
        // A cluster of short flags: the first that takes a value takes the
        // rest of the cluster, or the next token.
        let chars: Vec<char> = tok.chars().skip(1).collect();
        let mut step = 1;
        for (k, c) in chars.iter().enumerate() {
            if valued().any(|a| a.get_short() == Some(*c)) {
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
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some((root, run_root, args)) = berth_engine::supervisor::SuperviseArgs::parse(&argv) {
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
        Cmd::Run(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Run(Lazy(a)),
        })) => c::run(ctx, a),
        Cmd::Create(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Create(Lazy(a)),
        })) => c::create(ctx, a),
        Cmd::Start(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Start(Lazy(a)),
        })) => c::start(ctx, a),
        Cmd::Stop(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Stop(Lazy(a)),
        })) => c::stop(ctx, a),
        Cmd::Restart(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Restart(Lazy(a)),
        })) => c::restart(ctx, a),
        Cmd::Kill(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Kill(Lazy(a)),
        })) => c::kill(ctx, a),
        Cmd::Rm(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Rm(Lazy(a)),
        })) => c::rm(ctx, a),
        Cmd::Wait(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Wait(Lazy(a)),
        })) => c::wait(ctx, a),
        Cmd::Ps(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Ls(Lazy(a)),
        })) => c::ps(ctx, a),
        Cmd::Logs(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Logs(Lazy(a)),
        })) => c::logs(ctx, a),
        Cmd::Pause(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Pause(Lazy(a)),
        })) => c::pause(ctx, a),
        Cmd::Unpause(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Unpause(Lazy(a)),
        })) => c::unpause(ctx, a),
        Cmd::Rename(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Rename(Lazy(a)),
        })) => c::rename(ctx, a),
        Cmd::Exec(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Exec(Lazy(a)),
        })) => c::exec(ctx, a),
        Cmd::Top(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Top(Lazy(a)),
        })) => c::top(ctx, a),
        Cmd::Stats(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Stats(Lazy(a)),
        })) => c::stats(ctx, a),
        Cmd::Cp(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Cp(Lazy(a)),
        })) => c::cp(ctx, a),
        Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Inspect(Lazy(a)),
        })) => c::container_inspect(ctx, a),
        Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Prune(Lazy(a)),
        })) => c::container_prune(ctx, a),
        Cmd::Volume(Lazy(v)) => c::volume(ctx, v),
        Cmd::Network(Lazy(n)) => c::network(ctx, n),
        Cmd::Port(Lazy(a))
        | Cmd::Container(Lazy(ContainerCmd {
            cmd: ContainerSub::Port(Lazy(a)),
        })) => c::port(ctx, a),
        Cmd::Version(Lazy(a)) => c::version(ctx, a),
        Cmd::Info(Lazy(a)) => c::info(ctx, a),
        Cmd::System(Lazy(s)) => c::system(ctx, s),
        Cmd::Build(Lazy(a)) => build_cmd::build(ctx, a),
        Cmd::Inspect(Lazy(a)) => inspect_any(ctx, a),
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
    image_command(&ctx.image, Cmd::Inspect(Lazy(a)))
}

/// Runs an image command.
fn image_command(g: &image_cmds::Global, cmd: Cmd) -> container_cmds::CmdResult {
    let r = match cmd {
        Cmd::Pull(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Pull(Lazy(a)),
        })) => image_cmds::pull(g, a),
        Cmd::Push(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Push(Lazy(a)),
        })) => image_cmds::push(g, a),
        Cmd::Images(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Ls(Lazy(a)),
        })) => image_cmds::images(g, a),
        Cmd::Rmi(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Rm(Lazy(a)),
        })) => image_cmds::rmi(g, a),
        Cmd::Tag(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Tag(Lazy(a)),
        })) => image_cmds::tag(g, a),
        Cmd::Inspect(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Inspect(Lazy(a)),
        })) => image_cmds::inspect(g, a),
        Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Prune(Lazy(a)),
        })) => image_cmds::prune(g, a),
        Cmd::Save(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Save(Lazy(a)),
        })) => image_cmds::save(g, a),
        Cmd::Load(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Load(Lazy(a)),
        })) => image_cmds::load(g, a),
        Cmd::Import(Lazy(a))
        | Cmd::Image(Lazy(ImageCmd {
            cmd: ImageSub::Import(Lazy(a)),
        })) => image_cmds::import(g, a),
        Cmd::Login(Lazy(a)) => image_cmds::login(g, a),
        Cmd::Logout(Lazy(a)) => image_cmds::logout(g, a),
        _ => return Err(container_cmds::Failure::new("not an image command", 1)),
    };
    r.map(|()| 0).map_err(|e| {
        container_cmds::Failure::new(format!("Error: {}", container_cmds::error_chain(&e)), 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn separated(line: &str) -> String {
        let args = line.split(' ').map(std::ffi::OsString::from).collect();
        let out: Vec<String> = separate_command(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        out.join(" ")
    }

    #[test]
    fn the_command_after_the_image_is_not_parsed_for_flags() {
        assert_eq!(
            separated("berth run --rm -u 0 -e A=1 img sh -c x"),
            "berth run --rm -u 0 -e A=1 img -- sh -c x"
        );
        // Flags of the deferred subcommand and global flags after it.
        assert_eq!(
            separated("berth --root /r container run --root /s --name n img -x"),
            "berth --root /r container run --root /s --name n img -- -x"
        );
        assert_eq!(
            separated("berth exec -it -w /tmp ctr ls -l"),
            "berth exec -it -w /tmp ctr -- ls -l"
        );
        assert_eq!(separated("berth run img"), "berth run img");
        assert_eq!(separated("berth ps -a"), "berth ps -a");
    }

    #[test]
    fn every_subcommand_parses_once_defined() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["berth", "container", "run", "-d", "img", "true"]);
        assert!(matches!(
            cli.map(|c| c.cmd),
            Ok(Cmd::Container(Lazy(ContainerCmd {
                cmd: ContainerSub::Run(_)
            })))
        ));
    }
}
