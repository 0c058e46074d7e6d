//! `berth pull`, with per-layer progress bars on a terminal, plain lines
//! otherwise, nothing with `-q`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use berth_image::spec::Platform;
use berth_registry::pull::{self, Event, PullOptions};
use berth_registry::{Client, ClientOptions, Reference};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{open_store, runtime, CliError, Global, Result};

#[derive(clap::Args)]
pub struct PullArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    quiet: bool,
    /// Platform to pull (os/arch[/variant]) from a multi-platform image.
    #[arg(long)]
    platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

impl PullArgs {
    /// A quiet pull of `name` (for `run`/`create` of a missing image).
    pub fn quiet(name: &str, platform: Option<&str>) -> PullArgs {
        PullArgs {
            quiet: true,
            platform: platform.map(str::to_owned),
            name: name.to_owned(),
        }
    }
}

pub fn parse_platform(s: &str) -> Result<Platform> {
    let mut it = s.split('/');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => {
            Ok(Platform {
                os: os.to_owned(),
                architecture: arch.to_owned(),
                variant: variant.map(str::to_owned),
                os_version: None,
            })
        }
        _ => Err(CliError::Usage(format!(
            "invalid --platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
        ))),
    }
}

pub fn pull(g: &Global, a: PullArgs) -> Result<()> {
    let reference: Reference = a.name.parse()?;
    let mut opts = PullOptions::default();
    if let Some(p) = &a.platform {
        opts.platform = parse_platform(p)?;
    }
    let store = open_store(g)?;
    let client = Client::new(ClientOptions {
        insecure_registries: g.insecure_registries.clone(),
        ..Default::default()
    })?;
    let observer: pull::Observer = if a.quiet {
        Arc::new(|_| {})
    } else if std::io::stdout().is_terminal() {
        bars()
    } else {
        Arc::new(plain_line)
    };
    if !a.quiet {
        let tag = reference.tag().map_or_else(
            || {
                reference
                    .digest()
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            },
            str::to_owned,
        );
        println!("{}: Pulling from {}", tag, reference.repository());
    }
    let rt = runtime()?;
    let pulled = rt.block_on(pull::pull(&client, store, &reference, &opts, observer))?;
    if a.quiet {
        println!("{reference}");
    } else {
        println!("Digest: {}", pulled.digest);
        let status = if pulled.fetched == 0 {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        let shown = match (reference.tag(), reference.digest()) {
            (Some(t), _) => format!("{}:{t}", reference.familiar_name()),
            (None, Some(d)) => format!("{}@{d}", reference.familiar_name()),
            (None, None) => reference.familiar_name(),
        };
        println!("Status: {status} {shown}");
        println!("{reference}");
    }
    Ok(())
}

fn short(d: &berth_image::Digest) -> &str {
    d.short()
}

fn plain_line(e: Event) {
    match e {
        Event::LayerSkipped { digest } => println!("{}: Already exists", short(&digest)),
        Event::LayerStarted { digest, .. } => println!("{}: Pulling fs layer", short(&digest)),
        Event::LayerRetry {
            digest,
            attempt,
            error,
        } => {
            println!("{}: Retrying ({attempt}): {error}", short(&digest))
        }
        Event::LayerDone { digest } => println!("{}: Pull complete", short(&digest)),
        _ => {}
    }
}

fn bars() -> pull::Observer {
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix}: {msg:<12} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let state: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    Arc::new(move |e| {
        let Ok(mut bars) = state.lock() else { return };
        match e {
            Event::LayerSkipped { digest } => {
                let _ = multi.println(format!("{}: Already exists", short(&digest)));
            }
            Event::LayerStarted { digest, size } => {
                let b = multi.add(ProgressBar::new(size));
                b.set_style(style.clone());
                b.set_prefix(short(&digest).to_owned());
                b.set_message("Downloading");
                bars.insert(digest.to_string(), b);
            }
            Event::LayerProgress { digest, done, .. } => {
                if let Some(b) = bars.get(&digest.to_string()) {
                    b.set_position(done);
                }
            }
            Event::LayerRetry {
                digest, attempt, ..
            } => {
                if let Some(b) = bars.get(&digest.to_string()) {
                    b.set_message(format!("Retrying {attempt}"));
                }
            }
            Event::LayerUnpacking { digest } => {
                if let Some(b) = bars.get(&digest.to_string()) {
                    b.set_message("Extracting");
                }
            }
            Event::LayerDone { digest } => {
                if let Some(b) = bars.get(&digest.to_string()) {
                    b.set_message("Pull complete");
                    b.finish();
                }
            }
            Event::Resolved { .. } => {}
        }
    })
}
