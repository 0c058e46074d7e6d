//! `create`: a container's name, directory and records, from an image and
//! options. Nothing runs yet; [`crate::supervisor`] does that at start.

use std::fs;
use std::path::PathBuf;

use crate::error::{io_err, Error, Result};
use crate::imageconfig::RunConfig;
use crate::options::{CgroupnsMode, ContainerOptions, MountKind, MountSpec, NetworkMode};
use crate::record::{write_json, Record, State};
use crate::{ids, Engine};

/// The image side of a create, resolved by the caller from the store.
#[derive(Debug, Clone)]
pub struct ImageRef {
    /// As the user typed it.
    pub name: String,
    /// `sha256:...` of the config (the image id).
    pub id: String,
    /// `sha256:...` of the manifest.
    pub manifest: String,
    pub layers: Vec<PathBuf>,
    pub config: RunConfig,
}

/// Removes a half-made container if create fails.
struct Undo<'a> {
    engine: &'a Engine,
    name: Option<String>,
    dir: Option<PathBuf>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = fs::remove_dir_all(d);
        }
        if let Some(n) = &self.name {
            let _ = fs::remove_file(self.engine.names_dir().join(n));
        }
    }
}

impl Engine {
    /// Creates a container; returns its id.
    pub fn create(&self, image: &ImageRef, mut opts: ContainerOptions) -> Result<String> {
        opts.check()?;
        let id = ids::new_id()?;
        let mut undo = Undo {
            engine: self,
            name: None,
            dir: None,
        };
        let name = match &opts.name {
            Some(n) => {
                let n = ids::check_name(n)?.to_owned();
                self.reserve_name(&n, &id)?;
                n
            }
            None => self.reserve_generated_name(&id)?,
        };
        opts.name = Some(name.clone());
        undo.name = Some(name.clone());
        if opts.cgroupns.is_none() {
            let unified = berth_cgroups::is_unified(&self.cgroup_root)?;
            opts.cgroupns = Some(CgroupnsMode::default_for(unified));
        }

        let paths = self.paths(&id);
        fs::create_dir_all(self.containers_dir())
            .map_err(io_err("creating", self.containers_dir()))?;
        fs::create_dir(&paths.dir).map_err(io_err("creating", &paths.dir))?;
        undo.dir = Some(paths.dir.clone());
        for d in [paths.rootfs(), paths.upper(), paths.work()] {
            fs::create_dir(&d).map_err(io_err("creating", &d))?;
        }
        if let NetworkMode::Bridge(n) = &opts.network {
            if opts.net.networks.is_empty() {
                opts.net.networks.push(n.clone());
            }
            // The network must exist now, as Docker checks at create.
            self.networks()?.inspect(n)?;
        }
        self.add_volumes_from(&mut opts)?;
        self.add_image_volumes(&image.config, &mut opts);
        for m in &mut opts.mounts {
            self.settle_volume(m)?;
        }
        let record = Record {
            id: id.clone(),
            name,
            image: image.name.clone(),
            image_id: image.id.clone(),
            manifest: image.manifest.clone(),
            created: crate::record::now(),
            options: opts,
            layers: image.layers.clone(),
            config: image.config.clone(),
        };
        crate::record::write_json_volatile(&paths.state(), &State::default())?;
        // Written last: a directory without container.json is a create
        // that did not finish, and the next `ps` or `prune` removes it.
        // A `--rm` container does not outlive its run, so its record needs
        // no fsync (after a crash it is an exited container `rm` removes).
        if record.options.auto_remove {
            crate::record::write_json_volatile(&paths.record(), &record)?;
        } else {
            write_json(&paths.record(), &record)?;
        }
        undo.name = None;
        undo.dir = None;
        Ok(id)
    }

    /// A generated name for `id`; taken ones get a number, as Docker's do.
    fn reserve_generated_name(&self, id: &str) -> Result<String> {
        let base = ids::generated_name(id);
        let mut last = None;
        for attempt in 0..100u32 {
            let name = if attempt == 0 {
                base.clone()
            } else {
                format!("{base}{attempt}")
            };
            match self.reserve_name(&name, id) {
                Ok(()) => return Ok(name),
                Err(e @ Error::NameInUse { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidName(base)))
    }

    /// Claims `name` for `id` atomically: the name file is made under a
    /// temporary name and hard-linked into place, which fails if taken.
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let dir = self.names_dir();
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let tmp = dir.join(format!(".{id}"));
        fs::write(&tmp, id).map_err(io_err("writing", &tmp))?;
        let target = dir.join(name);
        let r = fs::hard_link(&tmp, &target);
        let _ = fs::remove_file(&tmp);
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(&target).unwrap_or_default();
                if !owner.is_empty()
                    && !self.paths(&owner).record().exists()
                    && !self.paths(&owner).dir.exists()
                {
                    // Left by a container whose create or remove died
                    // half-way: take it over.
                    fs::write(&target, id).map_err(io_err("writing", &target))?;
                    return Ok(());
                }
                Err(Error::NameInUse {
                    name: name.to_owned(),
                    id: owner,
                })
            }
            Err(e) => Err(io_err("creating", &target)(e)),
        }
    }

    /// `--volumes-from`: the volumes and binds of each container named
    /// (read-only with `:ro`, read-write with `:rw`, else as they are
    /// there), where no mount of the user's covers the path; the same
    /// volumes, not copies, as Docker.
    fn add_volumes_from(&self, opts: &mut ContainerOptions) -> Result<()> {
        for spec in opts.volumes_from.clone() {
            let (name, mode) = match spec.rsplit_once(':') {
                Some((n, "ro")) => (n, Some(true)),
                Some((n, "rw")) => (n, Some(false)),
                Some((_, m)) => {
                    return Err(crate::error::invalid(
                        "volumes-from",
                        &spec,
                        format!("unknown mode {m:?}: expected ro or rw"),
                    ))
                }
                None => (spec.as_str(), None),
            };
            let from = self.container(&self.resolve(name)?)?;
            for m in &from.record.options.mounts {
                if matches!(m.kind, MountKind::Tmpfs)
                    || opts.mounts.iter().any(|o| o.target == m.target)
                {
                    continue;
                }
                let mut m = m.clone();
                if let Some(ro) = mode {
                    m.read_only = ro;
                }
                opts.mounts.push(m);
            }
        }
        Ok(())
    }

    /// The image's declared VOLUMEs become anonymous volumes, unless a
    /// mount of the user's covers the path.
    fn add_image_volumes(&self, config: &RunConfig, opts: &mut ContainerOptions) {
        for target in config.volumes.iter().flat_map(|v| v.keys()) {
            if !opts.mounts.iter().any(|m| &m.target == target) && target.starts_with('/') {
                opts.mounts.push(MountSpec {
                    kind: MountKind::Volume {
                        name: String::new(),
                    },
                    target: target.clone(),
                    read_only: false,
                    options: Vec::new(),
                });
            }
        }
    }

    /// Makes named and anonymous volumes exist; anonymous ones get a name.
    fn settle_volume(&self, m: &mut MountSpec) -> Result<()> {
        if let MountKind::Volume { name } = &mut m.kind {
            let anonymous = name.is_empty();
            if anonymous {
                *name = ids::new_id()?;
            }
            self.volumes().create(name, Default::default(), anonymous)?;
        }
        Ok(())
    }
}
