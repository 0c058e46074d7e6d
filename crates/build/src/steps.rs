//! The filesystem steps' machinery: the overlay a step works in, the
//! cache lookup, RUN and COPY/ADD bodies, committing a step's upper dir as
//! a layer and the finished image into the store.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_image::content::Expected;
use berth_image::digest::Digest;
use berth_image::layers::{chain_ids, PendingLayer};
use berth_image::meta::{ImageRecord, LayerRecord};
use berth_image::snapshot::Snapshot;
use berth_image::spec::{self, Manifest, Platform};
use rustix::fs::OFlags;
use sha2::{Digest as _, Sha256};

use crate::builder::{stage_ref, Builder, Cached, StageOut};
use crate::config::ImageState;
use crate::copy::{self, Attrs, Dest, SourceRoot};
use crate::instructions::{Command, CopyArgs, Stage};
use crate::parser::Heredoc;
use crate::{run, BuildError};

/// A stage while it is being built.
#[derive(Debug)]
pub(crate) struct StageRun {
    pub image: ImageState,
    pub key: String,
    /// ARGs declared in the stage, with their values.
    pub args: Vec<(String, Option<String>)>,
    /// The global (before FROM) args.
    pub meta: Vec<String>,
}

impl StageRun {
    /// What words are expanded against: ARGs, then ENV (ENV wins).
    pub fn vars(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        v.extend(self.image.env());
        v
    }

    /// Declared args with values, as RUN's history lists them (ENV
    /// values win over ARG ones).
    pub fn build_args_env(&self) -> Vec<(String, String)> {
        let env = self.image.env();
        self.args
            .iter()
            .filter_map(|(k, v)| {
                let from_env = env
                    .iter()
                    .find_map(|e| e.strip_prefix(&format!("{k}=")).map(str::to_owned));
                from_env.or_else(|| v.clone()).map(|v| (k.clone(), v))
            })
            .collect()
    }

    /// The args a RUN sees in its environment: declared ones and the
    /// predefined proxy args given with --build-arg.
    pub fn run_args_env(
        &self,
        given: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        for p in crate::builder::PROXY_ARGS {
            if let Some(v) = given.get(*p) {
                if !out.iter().any(|(k, _)| k == p) {
                    out.push((p.to_string(), v.clone()));
                }
            }
        }
        out
    }
}

/// The mounted rootfs of a running step.
pub(crate) struct StepCtx {
    pub rootfs: PathBuf,
    pub scratch: PathBuf,
    pub user: String,
    pub seq: u64,
    pub root: OwnedFd,
}

impl StepCtx {
    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// An overlay mount, detached when dropped.
pub(crate) struct Overlay {
    target: PathBuf,
}

impl Overlay {
    pub fn mount(
        lowers_bottom_first: &[PathBuf],
        upper: Option<(&Path, &Path)>,
        target: &Path,
    ) -> Result<Overlay, BuildError> {
        let snap = Snapshot::new(
            lowers_bottom_first.to_vec(),
            upper.map(|(u, w)| (u.to_owned(), w.to_owned())),
        );
        let data = match snap.overlay_options() {
            Some(d) => d,
            None => {
                return Err(BuildError::Step(
                    "internal: a read-only single layer needs no overlay".into(),
                ))
            }
        };
        if data.len() >= 4096 {
            return Err(BuildError::Step(
                "too many layers for one overlay mount (its options exceed a page); squash the base image".into(),
            ));
        }
        berth_sys::mount::mount(Some(b"overlay"), target, Some("overlay"), 0, Some(&data))
            .map_err(|e| BuildError::Step(format!("mounting the step's overlay: {e}")))?;
        Ok(Overlay {
            target: target.to_owned(),
        })
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = berth_sys::mount::unmount_detach(&self.target);
    }
}

/// A stage's tree to read COPY --from sources in.
pub(crate) struct View {
    _mount: Option<Overlay>,
    _scratch: Option<PendingLayer>,
    pub fd: OwnedFd,
}

/// RUN's argv: exec form as is, shell form through the stage's shell; a
/// lone heredoc (`RUN <<EOF`) is the script itself, other heredocs are
/// given to the shell with the command line.
pub(crate) fn run_args(
    image: &ImageState,
    command: &Command,
    heredocs: &[Heredoc],
) -> Result<Vec<String>, BuildError> {
    let Command::Shell(line) = command else {
        return Ok(image.command(command));
    };
    if heredocs.is_empty() {
        return Ok(image.command(command));
    }
    let first = &heredocs[0];
    let alone = heredocs.len() == 1
        && crate::parser::heredoc_of_word(line.trim()).is_some_and(|h| h.name == first.name);
    let body = |h: &Heredoc| {
        if h.chomp {
            h.content
                .lines()
                .map(|l| format!("{}\n", l.trim_start_matches('\t')))
                .collect()
        } else {
            h.content.clone()
        }
    };
    if alone {
        let script = body(first);
        if script.starts_with("#!") {
            return Err(BuildError::Step(
                "RUN <<EOF with a #! interpreter line is not supported yet; use RUN <interpreter> <<EOF".into(),
            ));
        }
        return Ok(image.command(&Command::Shell(script)));
    }
    let mut script = line.clone();
    script.push('\n');
    for h in heredocs {
        script.push_str(&body(h));
        script.push_str(&h.name);
        script.push('\n');
    }
    Ok(image.command(&Command::Shell(script)))
}

/// FROM --platform: only the host's.
pub(crate) fn check_platform(p: &str) -> Result<(), BuildError> {
    let host = Platform::host();
    let mut parts = p.split('/');
    let os = parts.next().unwrap_or_default();
    let arch = parts.next().unwrap_or_default();
    if os == host.os && arch == host.architecture {
        return Ok(());
    }
    Err(BuildError::Step(format!(
        "platform {p:?} is not supported: berth builds for the host platform only ({}/{})",
        host.os, host.architecture
    )))
}

impl Builder<'_> {
    /// A valid cache entry for `key`: `Some(layer or none)`; `None` when
    /// there is none or its layer is gone from the store.
    pub(crate) fn cache_hit(
        &self,
        st: &StageRun,
        key: &str,
    ) -> Option<(Option<LayerRecord>, Option<String>)> {
        let bytes = self.store.meta().cache_get(key).ok()??;
        let c: Cached = serde_json::from_slice(&bytes).ok()?;
        match c.layer {
            None => Some((None, c.created)),
            Some((blob, diff_id)) => {
                let mut ids = st.image.diff_ids();
                ids.push(diff_id.clone());
                let chain = chain_ids(&ids).pop()?;
                self.store.has_layer(&blob.digest, &chain).then_some((
                    Some(LayerRecord {
                        blob,
                        diff_id,
                        chain_id: chain,
                    }),
                    c.created,
                ))
            }
        }
    }

    /// Turns a step's upper dir into a committed layer (none if empty).
    pub(crate) fn commit_upper(
        &mut self,
        mut upper: PendingLayer,
        image: &ImageState,
    ) -> Result<Option<LayerRecord>, BuildError> {
        if crate::layer::is_empty(upper.path())? {
            return Ok(None);
        }
        let new = crate::layer::write(self.store, upper.path(), self.opts.epoch)?;
        let mut ids = image.diff_ids();
        ids.push(new.diff_id.clone());
        let chain = chain_ids(&ids)
            .pop()
            .ok_or_else(|| BuildError::Step("internal: no chain id".into()))?;
        new.staged.commit(&Expected::default())?;
        upper.set_chain(chain.clone());
        upper.commit()?;
        self.new_layer_sizes.push((chain.clone(), new.content_size));
        Ok(Some(LayerRecord {
            blob: new.descriptor,
            diff_id: new.diff_id,
            chain_id: chain,
        }))
    }

    /// Owner of what WORKDIR creates: the stage's USER (its primary
    /// group unless given), as BuildKit does; root without a USER.
    pub(crate) fn user_attrs(&self, rootfs: &Path, user: &str) -> Result<Attrs, BuildError> {
        if user.is_empty() {
            return Ok(Attrs::default());
        }
        let u = berth_engine::user::resolve_in(rootfs, user, &[])
            .map_err(|e| BuildError::Step(format!("USER {user}: {e}")))?;
        Ok(Attrs {
            uid: u.uid,
            gid: u.gid,
            chmod: None,
        })
    }

    pub(crate) fn chown_attrs(
        &self,
        rootfs: &Path,
        chown: Option<&str>,
        _user: &str,
    ) -> Result<Attrs, BuildError> {
        let Some(spec) = chown else {
            return Ok(Attrs::default());
        };
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let user = berth_engine::user::resolve_in(rootfs, u, &[])
            .map_err(|e| BuildError::Step(format!("--chown={spec}: {e}")))?;
        // Docker: a user without a group gets the same number as gid.
        let gid = match g {
            None => user.uid,
            Some(g) => {
                berth_engine::user::resolve_in(rootfs, &format!("{u}:{g}"), &[])
                    .map_err(|e| BuildError::Step(format!("--chown={spec}: {e}")))?
                    .gid
            }
        };
        Ok(Attrs {
            uid: user.uid,
            gid,
            chmod: None,
        })
    }

    pub(crate) fn run_step(
        &mut self,
        ctx: &StepCtx,
        mut spec: run::RunSpec,
        mounts: &[String],
        args: &[String],
    ) -> Result<(), BuildError> {
        for m in mounts {
            spec.mounts.push(self.run_mount(m)?);
        }
        let engine = self.engine();
        let place = run::RunPlace {
            rootfs: &ctx.rootfs,
            scratch: &ctx.scratch,
            engine: &engine,
            id: format!("berth-build-{}-{}", std::process::id(), ctx.seq),
        };
        let step = self.step;
        let started = std::time::Instant::now();
        let out = &mut *self.out;
        let code = run::run(&place, &spec, &mut |l| {
            let line = format!("#{step} {:.3} {l}\n", started.elapsed().as_secs_f64());
            let _g = run::stdio_lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        })?;
        if code != 0 {
            return Err(BuildError::Step(format!(
                "process \"{}\" did not complete successfully: exit code: {code}",
                args.join(" ")
            )));
        }
        Ok(())
    }

    fn engine(&self) -> berth_engine::Engine {
        self.opts.engine.clone().unwrap_or_else(|| {
            berth_engine::Engine::new(Path::new("/var/lib/berth"), Path::new("/run/berth"))
        })
    }

    /// `--mount=type=cache,target=X[,id=Y]` (a persistent dir under the
    /// store root) or `type=bind,target=X[,source=Y][,rw]` (from the
    /// context, read-only unless rw).
    fn run_mount(&self, m: &str) -> Result<berth_engine::spec::HostMount, BuildError> {
        let mut kv = std::collections::BTreeMap::new();
        for part in m.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            kv.insert(k.to_ascii_lowercase(), v.to_owned());
        }
        let target = kv
            .get("target")
            .or_else(|| kv.get("dst"))
            .or_else(|| kv.get("destination"))
            .ok_or_else(|| BuildError::Step(format!("--mount={m}: a target is required")))?;
        let target = crate::config::join_workdir("/", target);
        match kv.get("type").map(String::as_str).unwrap_or("bind") {
            "cache" => {
                let id = kv.get("id").cloned().unwrap_or_else(|| target.clone());
                let dir = self
                    .store
                    .root()
                    .join("build-cache")
                    .join(Digest::of(id.as_bytes()).hex());
                std::fs::create_dir_all(&dir)
                    .map_err(|e| BuildError::Step(format!("cache mount {id}: {e}")))?;
                Ok(run::bind(&target, dir, false))
            }
            "bind" => {
                if kv.contains_key("from") {
                    return Err(BuildError::Step(format!(
                        "--mount={m}: bind mounts from other stages are not supported yet"
                    )));
                }
                let src = kv
                    .get("source")
                    .or_else(|| kv.get("src"))
                    .map_or(".", String::as_str);
                let fd = berth_sys::path::open_in_root(
                    self.context.as_fd(),
                    Path::new(src),
                    OFlags::PATH,
                )
                .map_err(|e| BuildError::Step(format!("--mount={m}: {src}: {e}")))?;
                // The init cannot use our /proc/self/fd: the real path,
                // which openat2 found inside the context.
                let path = std::fs::read_link(berth_sys::path::fd_path(fd.as_fd()))
                    .map_err(|e| BuildError::Step(format!("--mount={m}: {src}: {e}")))?;
                let ctx = std::fs::canonicalize(&self.opts.context)
                    .map_err(|e| BuildError::Step(format!("the build context: {e}")))?;
                if !path.starts_with(&ctx) {
                    return Err(BuildError::Step(format!(
                        "--mount={m}: {src} is outside the build context"
                    )));
                }
                let rw = kv.get("rw").or_else(|| kv.get("readwrite")).is_some();
                Ok(run::bind(&target, path, !rw))
            }
            t => Err(BuildError::Step(format!(
                "--mount type={t} is not supported (cache or bind)"
            ))),
        }
    }

    /// A read-only view of a stage or image for COPY --from.
    fn view(&self, layers: &[PathBuf]) -> Result<View, BuildError> {
        let open = |p: &Path| {
            rustix::fs::open(
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                0.into(),
            )
            .map_err(|e| BuildError::Step(format!("opening {}: {e}", p.display())))
        };
        match layers {
            [] => {
                let s = self.store.layers().prepare(&Digest::of(b"empty view"))?;
                let fd = open(s.path())?;
                Ok(View {
                    _mount: None,
                    _scratch: Some(s),
                    fd,
                })
            }
            [one] => Ok(View {
                _mount: None,
                _scratch: None,
                fd: open(one)?,
            }),
            many => {
                let s = self.store.layers().prepare(&Digest::of(b"view"))?;
                let m = Overlay::mount(many, None, s.path())?;
                let fd = open(s.path())?;
                Ok(View {
                    _mount: Some(m),
                    _scratch: Some(s),
                    fd,
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy_step(
        &mut self,
        st: &mut StageRun,
        c: &CopyArgs,
        is_add: bool,
        label: &str,
        stages: &[Stage],
        idx: usize,
        done: &[Option<StageOut>],
        now: &str,
    ) -> Result<(), BuildError> {
        let vars = st.vars();
        let word = if is_add { "ADD" } else { "COPY" };
        if !c.exclude.is_empty() {
            return Err(BuildError::Step(format!(
                "{word} --exclude is not supported by berth build yet"
            )));
        }
        let from = c
            .from
            .as_deref()
            .map(|f| self.expand(f, &vars))
            .transpose()?;
        let chown = c
            .chown
            .as_deref()
            .map(|f| self.expand(f, &vars))
            .transpose()?;
        let chmod = c
            .chmod
            .as_deref()
            .map(|f| self.expand(f, &vars))
            .transpose()?
            .map(|m| copy::Chmod::parse(&m).map_err(BuildError::Step))
            .transpose()?;
        let mut sources = Vec::new();
        for s in &c.sources {
            sources.push(self.expand(s, &vars)?);
        }
        let dest_raw = self.expand(&c.dest, &vars)?;
        let mut dest = crate::config::join_workdir(&st.image.workdir(), &dest_raw);
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        if dest_is_dir && dest != "/" {
            dest.push('/');
        }
        for s in &sources {
            if s.contains("://") || s.starts_with("git@") {
                return Err(BuildError::Step(format!(
                    "{word} {s}: remote sources (URLs, git) are not supported by berth build yet; download the file into the build context and COPY it"
                )));
            }
        }
        // Where the sources are read from.
        let view_layers: Option<Vec<PathBuf>> = match &from {
            None => None,
            Some(f) => Some(match stage_ref(stages, idx, f) {
                Some(i) => done[i]
                    .as_ref()
                    .ok_or_else(|| BuildError::Step(format!("stage {f:?} was not built")))?
                    .image
                    .layer_paths(self.store),
                None => {
                    let rec = self
                        .images
                        .resolve(f, false)
                        .map_err(|e| BuildError::Step(format!("{word} --from={f}: {e}")))?;
                    rec.layers
                        .iter()
                        .map(|l| self.store.layers().path(&l.chain_id))
                        .collect()
                }
            }),
        };
        let view = view_layers.as_deref().map(|l| self.view(l)).transpose()?;
        let ignore = self.ignore.clone();
        let context = self
            .context
            .try_clone()
            .map_err(|e| BuildError::Step(format!("the build context: {e}")))?;
        let root = match &view {
            Some(v) => SourceRoot {
                fd: v.fd.as_fd(),
                ignore: None,
                name: "source stage",
            },
            None => SourceRoot {
                fd: context.as_fd(),
                ignore: Some(&ignore),
                name: "build context",
            },
        };
        // Expand globs and hash what will be read.
        let mut h = Sha256::new();
        let mut expanded: Vec<(String, String)> = Vec::new();
        let heredoc_src = |s: &str| {
            crate::parser::heredoc_of_word(s)
                .and_then(|hd| c.heredocs.iter().find(|x| x.name == hd.name).cloned())
        };
        for s in &sources {
            if let Some(hd) = heredoc_src(s) {
                h.update(format!("heredoc {} {}\0", hd.name, hd.content));
                expanded.push((s.clone(), String::new()));
                continue;
            }
            for p in root.expand(s)? {
                copy::hash_source(&root, &p, &mut h)?;
                expanded.push((s.clone(), p));
            }
        }
        if expanded.len() > 1 && !dest.ends_with('/') {
            return Err(BuildError::Step(format!(
                "When using {word} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let mut msg = String::from(word);
        if let Some(o) = &chown {
            msg.push_str(&format!(" --chown={o}"));
        }
        if let Some(m) = &c.chmod {
            msg.push_str(&format!(" --chmod={m}"));
        }
        for s in &sources {
            msg.push(' ');
            msg.push_str(s);
        }
        msg.push(' ');
        msg.push_str(&dest);
        self.next_step();
        let step = self.step;
        self.say(&format!("#{step} [{label}] {msg}"));
        let key = format!(
            "{msg}\nfrom {from:?}\ncontent {:x}\nlink {}\nepoch {:?}",
            h.finalize(),
            c.link,
            self.opts.epoch
        );
        let epoch = self.opts.epoch;
        let heredocs = c.heredocs.clone();
        self.fs_step(st, &key, &msg, now, |b, ctx| {
            let mut attrs = b.chown_attrs(&ctx.rootfs, chown.as_deref(), &ctx.user)?;
            attrs.chmod = chmod;
            for (written, p) in &expanded {
                if let Some(hd) = crate::parser::heredoc_of_word(written)
                    .and_then(|w| heredocs.iter().find(|x| x.name == w.name))
                {
                    let content = if hd.expand {
                        b.expand(&hd.content, &vars).unwrap_or_else(|_| hd.content.clone())
                    } else {
                        hd.content.clone()
                    };
                    let target = if dest.ends_with('/') {
                        format!("{dest}{}", hd.name)
                    } else {
                        dest.clone()
                    };
                    copy::write_file(ctx.root_fd(), &target, content.as_bytes(), &attrs, epoch)?;
                    continue;
                }
                let src_is_dir = copy::is_dir_in(root.fd, p);
                if is_add && !src_is_dir {
                    match copy::archive_kind(root.fd, p) {
                        Some(k @ ("bzip2" | "xz")) => {
                            return Err(BuildError::Step(format!(
                                "ADD {p}: {k} archives are not supported yet (gzip, zstd and plain tar are)"
                            )))
                        }
                        Some(_) => {
                            copy::extract(&root, p, ctx.root_fd(), &dest, &attrs)?;
                            continue;
                        }
                        None => {}
                    }
                }
                let target = if src_is_dir {
                    dest.clone()
                } else if dest.ends_with('/') || copy::is_dir_in(ctx.root_fd(), &dest) {
                    let base = Path::new(p)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{}/{base}", dest.trim_end_matches('/'))
                } else {
                    dest.clone()
                };
                copy::copy(
                    &root,
                    p,
                    &Dest {
                        root: ctx.root_fd(),
                        path: target,
                        attrs,
                    },
                )?;
            }
            Ok(())
        })
    }

    /// Stores the config and manifest and points the tags at the image.
    pub(crate) fn commit(
        &mut self,
        mut image: ImageState,
    ) -> Result<crate::builder::Built, BuildError> {
        let created = match self.opts.epoch {
            Some(_) => crate::builder::now_or(self.opts.epoch),
            None => self
                .fs_times
                .iter()
                .max()
                .cloned()
                .unwrap_or_else(|| crate::builder::now_or(None)),
        };
        image.fill_history_times(&created);
        image
            .doc
            .insert("created".into(), serde_json::json!(created));
        let ids: Vec<String> = image.diff_ids().iter().map(Digest::to_string).collect();
        image.doc.insert(
            "rootfs".into(),
            serde_json::json!({"type": "layers", "diff_ids": ids}),
        );
        let config = serde_json::to_vec(&image.doc)
            .map_err(|e| BuildError::Step(format!("encoding the image config: {e}")))?;
        let config_digest = Digest::of(&config);
        let layers = image.layers.iter().map(|l| l.blob.clone()).collect();
        let manifest = serde_json::to_vec(&Manifest::oci(&config, layers))
            .map_err(|e| BuildError::Step(format!("encoding the manifest: {e}")))?;
        self.store
            .content()
            .write_blob(&config, Expected::default())?;
        let manifest_digest = self
            .store
            .content()
            .write_blob(&manifest, Expected::default())?;
        let record = ImageRecord {
            manifest: manifest_digest,
            manifest_media_type: spec::OCI_MANIFEST.into(),
            index: None,
            config: config_digest.clone(),
            layers: image.layers.clone(),
            repo_digests: Vec::new(),
            created: Some(created),
            added: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        self.store
            .commit_image(&record, &self.opts.tags, &self.new_layer_sizes)?;
        self.next_step();
        let step = self.step;
        self.say(&format!("#{step} writing image {config_digest} done"));
        for t in &self.opts.tags {
            self.say(&format!("#{step} naming to {t} done"));
        }
        Ok(crate::builder::Built {
            record,
            id: config_digest,
            warnings: Vec::new(),
        })
    }
}
