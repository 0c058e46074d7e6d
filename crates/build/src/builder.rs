//! The builder: runs the stages a target needs, step by step, and commits
//! the result into the image store.
//!
//! Each filesystem step (RUN, COPY, ADD, WORKDIR) mounts an overlay of
//! the stage's layers with a fresh upper dir, changes it, and turns the
//! upper dir into a layer ([`crate::layer`]); metadata steps only change
//! the image config. A step's result is cached under a key made of its
//! parent's key, the instruction after expansion, the environment it sees
//! and (COPY/ADD) a hash of the files it reads; a hit reuses the layer.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use berth_image::digest::Digest;
use berth_image::meta::ImageRecord;
use berth_image::spec::{Descriptor, Platform};
use berth_image::ImageStore;
use rustix::fs::OFlags;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::config::{self, ImageState};
use crate::copy;
use crate::ignore::Matcher;
use crate::instructions::{Instruction, Kind, Stage};
use crate::shell::Lex;
use crate::steps::{check_platform, run_args, Overlay, StageRun, StepCtx};
use crate::{run, BuildError};

/// The build args every build knows without an `ARG` (proxies): passed to
/// RUN when given, kept out of the history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Finds (and pulls, when asked or missing) a base image.
pub trait Images {
    fn resolve(&self, name: &str, pull: bool) -> Result<ImageRecord, String>;
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub dockerfile: String,
    pub context: PathBuf,
    /// Full names (`docker.io/library/x:latest`) to point at the image.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// `SOURCE_DATE_EPOCH`: timestamps in the image and its layers.
    pub epoch: Option<u64>,
    /// The engine (its run root, runtime and networks) for RUN steps;
    /// `None`: the default roots (`/var/lib/berth`, `/run/berth`).
    pub engine: Option<berth_engine::Engine>,
    /// RUN steps' network unless they say otherwise (`--network`).
    pub network: run::StepNetwork,
}

/// The built image.
#[derive(Debug, Clone)]
pub struct Built {
    pub record: ImageRecord,
    /// The image id (its config digest).
    pub id: Digest,
    pub warnings: Vec<String>,
}

/// A finished stage.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct StageOut {
    pub(crate) image: ImageState,
    pub(crate) key: String,
}

pub(crate) struct Builder<'a> {
    pub(crate) store: &'a ImageStore,
    pub(crate) opts: &'a BuildOptions,
    pub(crate) images: &'a dyn Images,
    pub(crate) out: &'a mut dyn Write,
    pub(crate) lex: Lex,
    pub(crate) ignore: Matcher,
    pub(crate) context: std::os::fd::OwnedFd,
    /// The step being run (its `#N`), from `steps`.
    pub(crate) step: usize,
    /// Hands out step numbers, also to stages running in other processes.
    pub(crate) steps: &'a crate::schedule::StepCounter,
    pub(crate) used_args: Vec<String>,
    pub(crate) new_layer_sizes: Vec<(Digest, u64)>,
    pub(crate) seq: u64,
    /// History times of this build's filesystem steps.
    pub(crate) fs_times: Vec<String>,
}

/// Builds the image the options describe; see the module docs.
pub fn build(
    store: &ImageStore,
    opts: &BuildOptions,
    images: &dyn Images,
    out: &mut dyn Write,
) -> Result<Built, BuildError> {
    let df = crate::parse(&opts.dockerfile)?;
    let _lock = store.lock_shared()?;
    private_mounts();
    let context = rustix::fs::open(
        &opts.context,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        0.into(),
    )
    .map_err(|e| {
        BuildError::Step(format!(
            "build context {}: {e} (it must be a directory)",
            opts.context.display()
        ))
    })?;
    let ignore = read_ignore(&context)?;
    let steps = crate::schedule::StepCounter::new()?;
    let mut b = Builder {
        store,
        opts,
        images,
        out,
        lex: Lex::new(df.escape),
        ignore,
        context,
        step: 0,
        steps: &steps,
        used_args: Vec::new(),
        new_layer_sizes: Vec::new(),
        seq: 0,
        fs_times: Vec::new(),
    };
    let meta = b.meta_args(&df.meta_args)?;
    let target = match &opts.target {
        None => df.stages.len() - 1,
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
            .ok_or_else(|| {
                BuildError::Step(format!(
                    "target stage {t:?} could not be found (stages: {})",
                    stage_names(&df.stages)
                ))
            })?,
    };
    let needed = needed_stages(&df.stages, target, &b.lex, &meta);
    let mut done = crate::schedule::run_stages(&mut b, &df.stages, &needed, &meta)?;
    let final_state = done[target]
        .take()
        .ok_or_else(|| BuildError::Step("internal: target stage not built".into()))?;
    let mut warnings = df.warnings.clone();
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !b.used_args.contains(k) && !PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "one or more build-args {unused:?} were not consumed"
        ));
    }
    let built = b.commit(final_state.image)?;
    Ok(Built { warnings, ..built })
}

/// Runs the build in a private mount namespace when the process is still
/// single-threaded, so no overlay outlives the builder whatever happens
/// to it; otherwise the mounts are undone by their guards.
fn private_mounts() {
    // SAFETY: unshare takes only flags; it fails (harmlessly) when other
    // threads share the filesystem information.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    if rc == 0 {
        let _ = berth_sys::mount::set_propagation(
            Path::new("/"),
            (libc::MS_REC | libc::MS_PRIVATE) as berth_sys::mount::MsFlags,
        );
    }
}

fn read_ignore(ctx: &std::os::fd::OwnedFd) -> Result<Matcher, BuildError> {
    match berth_sys::path::open_in_root(ctx.as_fd(), Path::new(".dockerignore"), OFlags::RDONLY) {
        Ok(fd) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s)
                .map_err(|e| BuildError::Step(format!(".dockerignore: {e}")))?;
            Matcher::parse(&s).map_err(|e| BuildError::Step(e.to_string()))
        }
        Err(_) => Ok(Matcher::default()),
    }
}

fn stage_names(stages: &[Stage]) -> String {
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| s.name.clone().unwrap_or_else(|| i.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which stage a `--from` or `FROM` names, if it names a stage.
pub(crate) fn stage_ref(stages: &[Stage], before: usize, name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(i) = stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(&lower))
    {
        return Some(i);
    }
    name.parse::<usize>().ok().filter(|i| *i < before)
}

/// The stages the target depends on (itself included).
fn needed_stages(stages: &[Stage], target: usize, lex: &Lex, meta: &[String]) -> Vec<usize> {
    let mut need = vec![target];
    let mut i = 0;
    while i < need.len() {
        for r in stage_deps(stages, need[i], lex, meta) {
            if !need.contains(&r) {
                need.push(r);
            }
        }
        i += 1;
    }
    need
}

/// The earlier stages stage `idx` reads: its `FROM`, `COPY --from`,
/// `RUN --mount from=`.
pub(crate) fn stage_deps(stages: &[Stage], idx: usize, lex: &Lex, meta: &[String]) -> Vec<usize> {
    {
        let s = &stages[idx];
        let mut refs = Vec::new();
        let base = lex
            .process_word(&s.base, &meta)
            .unwrap_or_else(|_| s.base.clone());
        refs.extend(stage_ref(stages, idx, &base));
        for ins in &s.instructions {
            if let Kind::Copy(c) = &ins.kind {
                if let Some(f) = &c.from {
                    refs.extend(stage_ref(stages, idx, f));
                }
            }
            if let Kind::Run { mounts, .. } = &ins.kind {
                for m in mounts {
                    for kv in m.split(',') {
                        if let Some(f) = kv.strip_prefix("from=") {
                            refs.extend(stage_ref(stages, idx, f));
                        }
                    }
                }
            }
        }
        refs.sort_unstable();
        refs.dedup();
        refs
    }
}

pub(crate) fn now_or(epoch: Option<u64>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    berth_image::import::rfc3339(epoch.unwrap_or(now))
}

/// A step's cached result.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Cached {
    pub(crate) layer: Option<(Descriptor, Digest)>,
    /// When the step first ran: a cached step keeps its history time, so
    /// a fully cached rebuild gives the same image.
    #[serde(default)]
    pub(crate) created: Option<String>,
}

impl Builder<'_> {
    /// One progress line, written at once (stages in other processes
    /// write theirs through [`crate::schedule`]) while no RUN launch has
    /// fds 0-2 swapped.
    pub(crate) fn say(&mut self, line: &str) {
        let _g = run::stdio_lock();
        let _ = self.out.write_all(format!("{line}\n").as_bytes());
        let _ = self.out.flush();
    }

    /// Takes the next step number.
    pub(crate) fn next_step(&mut self) -> usize {
        self.step = self.steps.next();
        self.step
    }

    fn meta_args(&mut self, args: &[(String, Option<String>)]) -> Result<Vec<String>, BuildError> {
        let host = Platform::host();
        let plat = format!("{}/{}", host.os, host.architecture);
        let mut vars: Vec<String> = vec![
            format!("TARGETPLATFORM={plat}"),
            format!("TARGETOS={}", host.os),
            format!("TARGETARCH={}", host.architecture),
            format!("TARGETVARIANT={}", host.variant.clone().unwrap_or_default()),
            format!("BUILDPLATFORM={plat}"),
            format!("BUILDOS={}", host.os),
            format!("BUILDARCH={}", host.architecture),
            format!("BUILDVARIANT={}", host.variant.unwrap_or_default()),
        ];
        for (k, default) in args {
            let v = match self.opts.build_args.get(k) {
                Some(v) => {
                    self.used_args.push(k.clone());
                    Some(v.clone())
                }
                None => match default {
                    Some(d) => Some(self.expand(d, &vars)?),
                    None => None,
                },
            };
            if let Some(v) = v {
                vars.push(format!("{k}={v}"));
            }
        }
        Ok(vars)
    }

    pub(crate) fn expand(&self, word: &str, vars: &[String]) -> Result<String, BuildError> {
        self.lex
            .process_word(word, &vars)
            .map_err(|e| BuildError::Step(e.to_string()))
    }

    pub(crate) fn stage(
        &mut self,
        stages: &[Stage],
        idx: usize,
        done: &[Option<StageOut>],
        meta: &[String],
    ) -> Result<StageOut, BuildError> {
        let s = &stages[idx];
        let at = |e: BuildError| e.at(s.line, &s.original);
        let base = self.expand(&s.base, meta).map_err(at)?;
        if let Some(p) = &s.platform {
            let p = self.expand(p, meta).map_err(at)?;
            check_platform(&p).map_err(at)?;
        }
        let total = s.instructions.len() + 1;
        let label = |n: usize| match &s.name {
            Some(name) => format!("{name} {n}/{total}"),
            None => format!("{n}/{total}"),
        };
        self.next_step();
        let started = Instant::now();
        self.say(&format!("#{} [{}] FROM {base}", self.step, label(1)));
        let (image, key) = if base.eq_ignore_ascii_case("scratch") {
            (ImageState::scratch(), "scratch".to_owned())
        } else if let Some(i) = stage_ref(stages, idx, &base) {
            let o = done[i]
                .as_ref()
                .ok_or_else(|| at(BuildError::Step(format!("stage {base:?} was not built"))))?;
            (o.image.clone(), o.key.clone())
        } else {
            let rec = self
                .images
                .resolve(&base, self.opts.pull)
                .map_err(|e| at(BuildError::Step(format!("FROM {base}: {e}"))))?;
            let st = ImageState::from_image(self.store, &rec).map_err(at)?;
            (st, format!("image {}", rec.config))
        };
        let step = self.step;
        self.say(&format!(
            "#{step} DONE {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        let mut st = StageRun {
            image,
            key,
            args: Vec::new(),
            meta: meta.to_vec(),
        };
        st.image.ensure_path();
        self.run_onbuild(&mut st, stages, idx, done)?;
        for (n, ins) in s.instructions.iter().enumerate() {
            let label = label(n + 2);
            self.instruction(&mut st, ins, &label, stages, idx, done)
                .map_err(|e| e.at(ins.line, &ins.original))?;
        }
        Ok(StageOut {
            image: st.image,
            key: st.key,
        })
    }

    /// The base image's ONBUILD triggers run first, then are cleared.
    fn run_onbuild(
        &mut self,
        st: &mut StageRun,
        stages: &[Stage],
        idx: usize,
        done: &[Option<StageOut>],
    ) -> Result<(), BuildError> {
        let triggers = st.image.take_onbuild();
        for t in triggers {
            let df = crate::parse(&format!("FROM scratch\n{t}\n"))
                .map_err(|e| BuildError::Step(format!("ONBUILD trigger {t:?}: {}", e.message)))?;
            for ins in &df.stages[0].instructions {
                self.instruction(st, ins, "onbuild", stages, idx, done)?;
            }
        }
        Ok(())
    }

    fn instruction(
        &mut self,
        st: &mut StageRun,
        ins: &Instruction,
        label: &str,
        stages: &[Stage],
        idx: usize,
        done: &[Option<StageOut>],
    ) -> Result<(), BuildError> {
        let vars = st.vars();
        let now = now_or(self.opts.epoch);
        // Metadata entries get the build's time when it is committed.
        let meta_now = match self.opts.epoch {
            Some(_) => now.clone(),
            None => String::new(),
        };
        match &ins.kind {
            Kind::From { .. } => Err(BuildError::Step("internal: FROM inside a stage".into())),
            Kind::Env(pairs) => {
                let mut msg = String::from("ENV");
                let mut vars = vars;
                for (k, v) in pairs {
                    let v = self.expand(v, &vars)?;
                    let k = self.expand(k, &vars)?;
                    st.image.set_env(&k, &v);
                    vars.push(format!("{k}={v}"));
                    msg.push_str(&format!(" {k}={v}"));
                }
                st.image.history(&msg, &meta_now, false);
                Ok(())
            }
            Kind::Label(pairs) => {
                let mut msg = String::from("LABEL");
                for (k, v) in pairs {
                    let k = self.expand(k, &vars)?;
                    let v = self.expand(v, &vars)?;
                    st.image.set_label(&k, &v);
                    msg.push_str(&format!(" {k}={v}"));
                }
                st.image.history(&msg, &meta_now, false);
                Ok(())
            }
            Kind::Arg(args) => {
                let mut parts = Vec::new();
                for (k, default) in args {
                    let value = if let Some(v) = self.opts.build_args.get(k) {
                        self.used_args.push(k.clone());
                        Some(v.clone())
                    } else if let Some(d) = default {
                        Some(self.expand(d, &st.vars())?)
                    } else {
                        st.meta.as_slice().iter().rev().find_map(|kv| {
                            kv.split_once('=')
                                .filter(|(mk, _)| mk == k)
                                .map(|(_, v)| v.to_owned())
                        })
                    };
                    parts.push(match &value {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    });
                    st.args.retain(|(n, _)| n != k);
                    st.args.push((k.clone(), value));
                }
                st.image
                    .history(&format!("ARG {}", parts.join(" ")), &meta_now, false);
                Ok(())
            }
            Kind::Workdir(w) => {
                let w = self.expand(w, &vars)?;
                let wd = config::join_workdir(&st.image.workdir(), &w);
                st.image.set("WorkingDir", json!(wd));
                self.next_step();
                let step = self.step;
                self.say(&format!("#{step} [{label}] WORKDIR {wd}"));
                if wd == "/" {
                    st.image.history(&format!("WORKDIR {wd}"), &meta_now, false);
                    return Ok(());
                }
                let key = format!("workdir {wd} user {}", st.image.user());
                self.fs_step(st, &key, &format!("WORKDIR {wd}"), &now, |b, ctx| {
                    let attrs = b.user_attrs(&ctx.rootfs, &ctx.user)?;
                    copy::make_dir(ctx.root_fd(), &wd, &attrs).map_err(BuildError::from)?;
                    Ok(())
                })
            }
            Kind::User(u) => {
                let u = self.expand(u, &vars)?;
                st.image.set("User", json!(u));
                st.image.history(&format!("USER {u}"), &meta_now, false);
                Ok(())
            }
            Kind::Cmd(c) => {
                let args = st.image.command(c);
                st.image.set("Cmd", json!(args));
                st.image.set("ArgsEscaped", json!(true));
                st.image.history(
                    &format!("CMD {}", config::go_quoted(&args)),
                    &meta_now,
                    false,
                );
                Ok(())
            }
            Kind::Entrypoint(c) => {
                let args = st.image.command(c);
                st.image.set("Entrypoint", json!(args));
                if !st.image.cmd_set_here {
                    st.image.remove("Cmd");
                }
                st.image.history(
                    &format!("ENTRYPOINT {}", config::go_quoted(&args)),
                    &meta_now,
                    false,
                );
                Ok(())
            }
            Kind::Shell(s) => {
                st.image.set("Shell", json!(s));
                st.image
                    .history(&format!("SHELL [{}]", s.join(" ")), &meta_now, false);
                Ok(())
            }
            Kind::Expose(ports) => {
                let mut list = Vec::new();
                for p in ports {
                    for w in self
                        .lex
                        .process_words(p, &vars)
                        .map_err(|e| BuildError::Step(e.to_string()))?
                    {
                        list.extend(config::expose_port(&w)?);
                    }
                }
                for p in &list {
                    st.image.add_to_map("ExposedPorts", p);
                }
                st.image
                    .history(&format!("EXPOSE [{}]", list.join(" ")), &meta_now, false);
                Ok(())
            }
            Kind::Volume(v) => {
                let mut list = Vec::new();
                for p in v {
                    let p = self.expand(p, &vars)?;
                    if p.trim().is_empty() {
                        return Err(BuildError::Step(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    st.image.add_to_map("Volumes", &p);
                    list.push(p);
                }
                st.image
                    .history(&format!("VOLUME [{}]", list.join(" ")), &meta_now, false);
                Ok(())
            }
            Kind::StopSignal(s) => {
                let s = self.expand(s, &vars)?;
                config::check_signal(&s)?;
                st.image.set("StopSignal", json!(s));
                st.image
                    .history(&format!("STOPSIGNAL {s}"), &meta_now, false);
                Ok(())
            }
            Kind::Maintainer(m) => {
                st.image.set_author(m);
                st.image
                    .history(&format!("MAINTAINER {m}"), &meta_now, false);
                Ok(())
            }
            Kind::Healthcheck(h) => {
                let (v, text) = config::healthcheck(h);
                st.image.set("Healthcheck", v);
                st.image
                    .history(&format!("HEALTHCHECK {text}"), &meta_now, false);
                Ok(())
            }
            Kind::Onbuild(expr, _) => {
                st.image.push_onbuild(expr);
                Ok(())
            }
            Kind::Run {
                command,
                mounts,
                network,
                heredocs,
            } => {
                let args = run_args(&st.image, command, heredocs)?;
                let build_args = st.build_args_env();
                let history = config::run_history(&args, &build_args);
                self.next_step();
                let step = self.step;
                self.say(&format!("#{step} [{label}] RUN {}", args.join(" ")));
                let network = match network.as_deref() {
                    None => self.opts.network,
                    Some(n) => run::StepNetwork::parse(n).ok_or_else(|| {
                        BuildError::Step(format!(
                            "RUN --network={n} is not supported (default, host or none)"
                        ))
                    })?,
                };
                let mut env = st.image.env();
                for (k, v) in st.run_args_env(&self.opts.build_args) {
                    if !env.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                        env.push(format!("{k}={v}"));
                    }
                }
                let mounts: Vec<String> = mounts
                    .iter()
                    .map(|m| self.expand(m, &vars))
                    .collect::<Result<_, _>>()?;
                let key = format!(
                    "run {history}\nenv {env:?}\nuser {}\nwd {}\nnet {network:?}\nmounts {mounts:?}",
                    st.image.user(),
                    st.image.workdir()
                );
                let spec = run::RunSpec {
                    args: args.clone(),
                    env,
                    user: st.image.user(),
                    workdir: st.image.workdir(),
                    network,
                    mounts: Vec::new(),
                };
                self.fs_step(st, &key, &history, &now, move |b, ctx| {
                    b.run_step(ctx, spec, &mounts, &args)
                })
            }
            Kind::Copy(c) | Kind::Add(c) => {
                let is_add = matches!(ins.kind, Kind::Add(_));
                self.copy_step(st, c, is_add, label, stages, idx, done, &now)
            }
        }
    }

    /// Runs a filesystem step with caching: `work` changes the mounted
    /// rootfs; the upper dir becomes the step's layer.
    pub(crate) fn fs_step(
        &mut self,
        st: &mut StageRun,
        key: &str,
        history: &str,
        now: &str,
        work: impl FnOnce(&mut Self, &StepCtx) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let started = Instant::now();
        let step = self.step;
        let mut h = Sha256::new();
        h.update(st.key.as_bytes());
        h.update(b"\n");
        h.update(key.as_bytes());
        let new_key = format!("sha256:{:x}", h.finalize());
        let created_by = format!("{history} # buildkit");
        if !self.opts.no_cache {
            if let Some((hit, created)) = self.cache_hit(st, &new_key) {
                let has_layer = hit.is_some();
                if let Some(l) = hit {
                    st.image.push_layer(l);
                }
                let created = match self.opts.epoch {
                    Some(_) => now.to_owned(),
                    None => created.unwrap_or_else(|| now.to_owned()),
                };
                st.image.history_layer(&created_by, &created, has_layer);
                self.fs_times.push(created);
                st.key = new_key;
                self.say(&format!("#{step} CACHED"));
                return Ok(());
            }
        }
        self.seq += 1;
        let upper = self
            .store
            .layers()
            .prepare(&Digest::of(new_key.as_bytes()))?;
        let scratch = self.store.layers().prepare(&Digest::of(b"scratch"))?;
        let work_dir = scratch.path().join("work");
        let merged = scratch.path().join("merged");
        let empty = scratch.path().join("empty");
        for d in [&work_dir, &merged, &empty] {
            std::fs::create_dir(d)
                .map_err(|e| BuildError::Step(format!("creating {}: {e}", d.display())))?;
        }
        let mut lowers = st.image.layer_paths(self.store);
        if lowers.is_empty() {
            lowers.push(empty.clone());
        }
        let guard = Overlay::mount(&lowers, Some((upper.path(), &work_dir)), &merged)?;
        let ctx = StepCtx {
            rootfs: merged.clone(),
            scratch: scratch.path().to_owned(),
            user: st.image.user(),
            seq: self.seq,
            root: rustix::fs::open(&merged, OFlags::PATH | OFlags::DIRECTORY, 0.into())
                .map_err(|e| BuildError::Step(format!("opening the rootfs: {e}")))?,
        };
        let result = work(self, &ctx);
        drop(ctx);
        drop(guard);
        result?;
        let layer = self.commit_upper(upper, &st.image)?;
        if let Some(l) = &layer {
            st.image.push_layer(l.clone());
        }
        st.image.history_layer(&created_by, now, layer.is_some());
        self.fs_times.push(now.to_owned());
        let cached = Cached {
            layer: layer.map(|l| (l.blob, l.diff_id)),
            created: Some(now.to_owned()),
        };
        if let Ok(v) = serde_json::to_vec(&cached) {
            let _ = self.store.meta().cache_put(&new_key, &v);
        }
        st.key = new_key;
        self.say(&format!(
            "#{step} DONE {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        drop(scratch);
        Ok(())
    }
}
