//! `cp`: copy files between a container and the host.

use berth_engine::copy::{parse_location, CopyOptions, Location};
use berth_engine::Error;

use super::{CmdResult, Ctx, Failure};

#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin).
    pub src: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout).
    pub dest: String,
}

pub fn cp(ctx: &Ctx, a: CpArgs) -> CmdResult {
    let (src, dest) = (parse_location(&a.src), parse_location(&a.dest));
    let container = |l: &Location| matches!(l, Location::Container { .. });
    if !container(&src) && !container(&dest) {
        return Err(Failure::new(
            "must specify at least one container source",
            1,
        ));
    }
    let opts = CopyOptions {
        archive: a.archive,
        follow: a.follow_link,
    };
    ctx.engine().copy(&src, &dest, opts).map_err(|e| {
        let msg = super::error_chain(&e);
        match e {
            Error::NoSuchContainer(_) | Error::Copy(_) | Error::NotRunning(_) => {
                Failure::new(format!("Error response from daemon: {msg}"), 1)
            }
            _ => Failure::new(format!("Error: {msg}"), 1),
        }
    })?;
    Ok(0)
}
