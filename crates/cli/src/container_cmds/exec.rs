//! `exec`: run a command in a running container.

use berth_engine::exec::{ExecOutcome, ExecRequest};
use berth_engine::Error;

use super::{CmdResult, Ctx, Failure};

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: ExecArgs) -> CmdResult {
    let engine = ctx.engine();
    if a.tty && a.interactive && !a.detach && !rustix::termios::isatty(std::io::stdin()) {
        return Err(Failure::new("the input device is not a TTY", 1));
    }
    let req = ExecRequest {
        cmd: a.command,
        env: super::args::env_list(&a.env_file, &a.env)?,
        workdir: a.workdir,
        user: a.user,
        privileged: a.privileged,
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
    };
    let outcome = engine
        .resolve(&a.container)
        .and_then(|id| engine.exec(&id, &req))
        .map_err(daemon_error)?;
    Ok(match outcome {
        ExecOutcome::Exited(code) => code.clamp(0, 255) as u8,
        ExecOutcome::Detached(_) => 0,
    })
}

/// Docker's CLI reports what its daemon refused with exit code 1, and a
/// process that could not start with 126 or 127.
fn daemon_error(e: Error) -> Failure {
    let msg = super::error_chain(&e);
    match e {
        Error::ExecStart { code, .. } => Failure::new(msg, code.clamp(0, 255) as u8),
        Error::NoSuchContainer(_) | Error::NotRunning(_) | Error::Paused(_) => {
            Failure::new(format!("Error response from daemon: {msg}"), 1)
        }
        _ => Failure::new(msg, 125),
    }
}
