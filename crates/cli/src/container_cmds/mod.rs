//! The container commands of `berth`: flags in, one engine call, Docker's
//! output and exit codes out.

mod args;
mod copy;
mod exec;
mod manage;
mod network;
mod observe;
mod run;
mod system;
mod volume;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use args::CreateArgs;
pub use copy::{cp, CpArgs};
pub use exec::{exec, ExecArgs};
pub use manage::*;
pub use network::{network, port, NetworkCmd, PortArgs};
pub use observe::{stats, top, StatsArgs, TopArgs};
pub use run::{create, run, start, RunArgs, StartArgs};
pub use system::{info, system, version, InfoArgs, SystemCmd, VersionArgs};
pub use volume::{volume, VolumeCmd};

use berth_engine::Engine;

/// What every container command needs.
pub struct Ctx {
    pub root: PathBuf,
    pub run_root: PathBuf,
    pub image: crate::image_cmds::Global,
}

impl Ctx {
    pub fn engine(&self) -> Engine {
        Engine::new(&self.root, &self.run_root)
    }
}

/// A command's failure, with the exit code Docker would give.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>, code: u8) -> Failure {
        Failure {
            message: message.into(),
            code,
        }
    }
}

impl From<berth_engine::Error> for Failure {
    fn from(e: berth_engine::Error) -> Failure {
        Failure::new(error_chain(&e), 125)
    }
}

impl From<crate::image_cmds::CliError> for Failure {
    fn from(e: crate::image_cmds::CliError) -> Failure {
        Failure::new(error_chain(&e), 125)
    }
}

/// The error and its sources, without repeating what a message already says.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(&format!(": {t}"));
        }
        src = s.source();
    }
    msg
}

pub type CmdResult = std::result::Result<u8, Failure>;

/// A `--filter` value: `key=value`.
fn split_filter(filter: &str) -> Result<(&str, &str), Failure> {
    filter.split_once('=').ok_or_else(|| {
        Failure::new(
            format!("invalid filter {filter:?}: expected key=value"),
            125,
        )
    })
}

/// The `label=` filter's value against some labels: `KEY` is there, or
/// `KEY=VALUE` is.
fn label_matches(labels: &BTreeMap<String, String>, value: &str) -> bool {
    match value.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(value),
    }
}

/// `--label KEY=VALUE` flags as a map (a bare `KEY` has an empty value).
fn parse_labels(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}
