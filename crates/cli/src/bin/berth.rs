//! `berth`: the Docker-compatible CLI. Thin: parse, call a library, print.

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
    /// Manage images.
    Image(ImageCmd),
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

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let g = image_cmds::Global {
        root: cli.root,
        insecure_registries: cli.insecure_registries,
    };
    let r = match cli.cmd {
        Cmd::Pull(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Pull(a),
        }) => image_cmds::pull(&g, a),
        Cmd::Push(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Push(a),
        }) => image_cmds::push(&g, a),
        Cmd::Images(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Ls(a),
        }) => image_cmds::images(&g, a),
        Cmd::Rmi(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Rm(a),
        }) => image_cmds::rmi(&g, a),
        Cmd::Tag(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Tag(a),
        }) => image_cmds::tag(&g, a),
        Cmd::Inspect(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Inspect(a),
        }) => image_cmds::inspect(&g, a),
        Cmd::Image(ImageCmd {
            cmd: ImageSub::Prune(a),
        }) => image_cmds::prune(&g, a),
        Cmd::Save(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Save(a),
        }) => image_cmds::save(&g, a),
        Cmd::Load(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Load(a),
        }) => image_cmds::load(&g, a),
        Cmd::Import(a)
        | Cmd::Image(ImageCmd {
            cmd: ImageSub::Import(a),
        }) => image_cmds::import(&g, a),
        Cmd::Login(a) => image_cmds::login(&g, a),
        Cmd::Logout(a) => image_cmds::logout(&g, a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("Error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let s_txt = s.to_string();
                if !msg.contains(&s_txt) {
                    msg.push_str(&format!(": {s_txt}"));
                }
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
