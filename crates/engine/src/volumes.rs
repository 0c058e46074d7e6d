//! Named volumes: `<root>/volumes/<name>/_data`, with a `meta.json` beside
//! it (created time, labels, whether berth made it for one container).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{invalid, io_err, Error, Result};
use crate::record::{read_json, write_json};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Made for `-v /path` (no name): removed with `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
}

/// Docker's rule for volume names.
pub fn check_name(name: &str) -> Result<()> {
    let mut b = name.bytes();
    let ok = matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && name.len() <= 255
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "volume name",
            name,
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters",
        ))
    }
}

#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(root: &Path) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
        }
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("meta.json")
    }

    /// Creates a volume, or returns the existing one of that name (as
    /// `docker volume create` does).
    pub fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<VolumeMeta> {
        check_name(name)?;
        if let Ok(m) = self.inspect(name) {
            return Ok(m);
        }
        let vdir = self.dir.join(name);
        fs::create_dir_all(&self.dir).map_err(io_err("creating", &self.dir))?;
        // Built under a temporary name and renamed: a crash leaves no
        // half-made volume under the real name.
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(tmp.join("_data")).map_err(io_err("creating", &tmp))?;
        let meta = VolumeMeta {
            name: name.to_owned(),
            created: crate::record::now(),
            labels,
            anonymous,
        };
        write_json(&tmp.join("meta.json"), &meta)?;
        match fs::rename(&tmp, &vdir) {
            Ok(()) => Ok(meta),
            Err(_) if vdir.exists() => {
                let _ = fs::remove_dir_all(&tmp);
                self.inspect(name)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(io_err("creating", &vdir)(e))
            }
        }
    }

    pub fn inspect(&self, name: &str) -> Result<VolumeMeta> {
        check_name(name).map_err(|_| Error::NoSuchVolume(name.to_owned()))?;
        let p = self.meta_path(name);
        if !p.exists() {
            return Err(Error::NoSuchVolume(name.to_owned()));
        }
        read_json(&p)
    }

    pub fn list(&self) -> Result<Vec<VolumeMeta>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(m) = self.inspect(&name) {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume; the caller checks that no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.inspect(name)?;
        let vdir = self.dir.join(name);
        // Renamed away first so a half-removed volume is never seen.
        let gone = self.dir.join(format!(".rm-{name}-{}", std::process::id()));
        fs::rename(&vdir, &gone).map_err(io_err("removing", &vdir))?;
        fs::remove_dir_all(&gone).map_err(io_err("removing", &gone))
    }

    /// Disk usage of a volume's data, in bytes.
    pub fn size(&self, name: &str) -> u64 {
        du(&self.data(name))
    }
}

/// Bytes used by the files under `p` (not following symlinks).
pub fn du(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            total += du(&e.path());
        }
    }
    total
}
