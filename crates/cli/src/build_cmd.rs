//! `berth build`: parse the flags, read the Dockerfile, call the build
//! layer, print. Base images come from the store, pulled when missing
//! (or always with `--pull`), as `run` does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use berth_build::{BuildOptions, Images};
use berth_image::meta::ImageRecord;
use berth_registry::Reference;

use crate::container_cmds::{CmdResult, Ctx, Failure};
use crate::image_cmds::{self, CliError, PullArgs};

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); repeatable.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; `-` reads STDIN).
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set a build-time variable (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache.
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always pull the base images.
    #[arg(long)]
    pull: bool,
    /// The platform to build for (only the host's is supported).
    #[arg(long)]
    platform: Option<String>,
    /// The network of RUN steps: default (the default bridge network), host or none.
    #[arg(long, default_value = "default")]
    network: String,
    /// Print only the image ID.
    #[arg(short, long)]
    quiet: bool,
    /// The build context: a directory, or `-` for a Dockerfile on STDIN and no context.
    context: String,
}

struct StoreImages<'a> {
    ctx: &'a Ctx,
}

impl Images for StoreImages<'_> {
    fn resolve(&self, name: &str, pull: bool) -> Result<ImageRecord, String> {
        let pull_now = || {
            image_cmds::pull(&self.ctx.image, PullArgs::quiet(name, None))
                .map_err(|e| crate::container_cmds::error_chain(&e))
        };
        if pull {
            pull_now()?;
        }
        let find = || -> Result<ImageRecord, CliError> {
            let store = image_cmds::open_store(&self.ctx.image)?;
            image_cmds::find_image(&store, name).map(|f| f.record)
        };
        match find() {
            Ok(r) => Ok(r),
            Err(CliError::NoSuchImage(_)) if !pull => {
                pull_now()?;
                find().map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn usage(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

pub fn build(ctx: &Ctx, a: BuildArgs) -> CmdResult {
    if let Some(p) = &a.platform {
        let host = berth_image::spec::Platform::host();
        let want = format!("{}/{}", host.os, host.architecture);
        if !p
            .split(',')
            .all(|x| x == want || x.strip_suffix("/v8") == Some(&want))
        {
            return Err(usage(format!(
                "--platform {p}: berth builds for the host platform only ({want})"
            )));
        }
    }
    let network = berth_build::run::StepNetwork::parse(&a.network).ok_or_else(|| {
        usage(format!(
            "--network {}: berth build supports default (or bridge), host and none",
            a.network
        ))
    })?;
    let mut tags = Vec::new();
    for t in &a.tags {
        let r: Reference = t
            .parse()
            .map_err(|e| usage(format!("invalid tag {t:?}: {e}")))?;
        tags.push(
            r.tagged_name()
                .ok_or_else(|| usage(format!("invalid tag {t:?}: a tag cannot have a digest")))?,
        );
    }
    let mut build_args = BTreeMap::new();
    for kv in &a.build_args {
        match kv.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_owned(), v.to_owned());
            }
            None => {
                if let Ok(v) = std::env::var(kv) {
                    build_args.insert(kv.clone(), v);
                }
            }
        }
    }
    let read_stdin = || {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map(|_| s)
            .map_err(|e| usage(format!("reading the Dockerfile from STDIN: {e}")))
    };
    let empty_context;
    let (context, dockerfile) = if a.context == "-" {
        empty_context = tempfile_dir()?;
        (empty_context.clone(), read_stdin()?)
    } else {
        empty_context = PathBuf::new();
        let c = PathBuf::from(&a.context);
        let text = match a.file.as_deref() {
            Some("-") => read_stdin()?,
            Some(f) => std::fs::read_to_string(f)
                .map_err(|e| usage(format!("reading the Dockerfile {f}: {e}")))?,
            None => {
                let f = c.join("Dockerfile");
                std::fs::read_to_string(&f)
                    .map_err(|e| usage(format!("reading the Dockerfile {}: {e}", f.display())))?
            }
        };
        (c, text)
    };
    let epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| usage(format!("SOURCE_DATE_EPOCH={s}: not a number of seconds")))
        })
        .transpose()?;
    let opts = BuildOptions {
        dockerfile,
        context,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        epoch,
        engine: Some(ctx.engine()),
        network,
    };
    let store = image_cmds::open_store(&ctx.image)?;
    let images = StoreImages { ctx };
    let mut sink = std::io::sink();
    let mut err = std::io::stderr();
    let out: &mut dyn std::io::Write = if a.quiet { &mut sink } else { &mut err };
    let result = berth_build::build(&store, &opts, &images, out);
    if a.context == "-" {
        let _ = std::fs::remove_dir(&empty_context);
    }
    match result {
        Ok(built) => {
            for w in &built.warnings {
                eprintln!("WARNING: {w}");
            }
            if a.quiet {
                println!("{}", built.id);
            }
            Ok(0)
        }
        Err(e) => Err(Failure::new(format!("ERROR: {e}"), 1)),
    }
}

fn tempfile_dir() -> Result<PathBuf, Failure> {
    let p = std::env::temp_dir().join(format!("berth-build-empty-{}", std::process::id()));
    std::fs::create_dir_all(&p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
    Ok(p)
}
