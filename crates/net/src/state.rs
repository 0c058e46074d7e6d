//! Where the net layer keeps what it knows.
//!
//! - `<state>/networks/<name>.json`: network definitions; they survive
//!   reboots, so they are written durably (temp file, fsync, rename, fsync
//!   of the directory).
//! - `<run>/net/state.json`: what is set up in the kernel now (active
//!   bridges, every attachment and its address and ports). It lives on the
//!   run root (tmpfs), since the kernel objects it describes vanish with a
//!   reboot too; it is replaced atomically (temp file and rename), so a
//!   `kill -9` leaves the old or the new version, never a torn one.
//! - `<run>/net/lock`: an exclusive `flock` held by every change, so that
//!   two `berth` processes never allocate the same address or port.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::types::{Attachment, Network};

/// A kernel bridge that is set up for a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Active {
    pub bridge: String,
    pub index: u32,
    pub mtu: u32,
}

/// The run-time state: active networks by id, attachments by container,
/// and per network the last address handed out (allocation goes round
/// robin from there, also across the bridge going down and up again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub active: BTreeMap<String, Active>,
    pub endpoints: BTreeMap<String, Vec<Attachment>>,
    #[serde(default)]
    pub last_ip: BTreeMap<String, Ipv4Addr>,
}

impl RunState {
    /// Every attachment to network `id`.
    pub(crate) fn on_network<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Iterator<Item = &'a Attachment> + 'a {
        self.endpoints
            .values()
            .flatten()
            .filter(move |a| a.network_id == id)
    }
}

/// The exclusive lock over all changes; released on drop.
pub(crate) struct Lock {
    _file: File,
}

/// Paths of the two state directories.
#[derive(Debug, Clone)]
pub(crate) struct Dirs {
    pub networks: PathBuf,
    pub run: PathBuf,
}

impl Dirs {
    pub(crate) fn new(state_dir: &Path, run_dir: &Path) -> Result<Dirs, Error> {
        let d = Dirs {
            networks: state_dir.join("networks"),
            run: run_dir.join("net"),
        };
        for dir in [&d.networks, &d.run] {
            std::fs::create_dir_all(dir).map_err(Error::state(dir))?;
        }
        Ok(d)
    }

    fn run_state(&self) -> PathBuf {
        self.run.join("state.json")
    }

    fn network_file(&self, name: &str) -> PathBuf {
        self.networks.join(format!("{name}.json"))
    }

    /// Takes the change lock (blocking until other changes are done).
    pub(crate) fn lock(&self) -> Result<Lock, Error> {
        let path = self.run.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::state(&path))?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::state(&path)(e.into()))?;
        Ok(Lock { _file: file })
    }

    /// The run-time state (empty when there is none yet).
    pub(crate) fn load_run(&self) -> Result<RunState, Error> {
        let path = self.run_state();
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::Corrupt { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RunState::default()),
            Err(e) => Err(Error::state(path)(e)),
        }
    }

    /// Replaces the run-time state atomically (the lock must be held).
    pub(crate) fn save_run(&self, _lock: &Lock, state: &RunState) -> Result<(), Error> {
        let bytes =
            serde_json::to_vec(state).map_err(|e| Error::state(self.run_state())(e.into()))?;
        write_atomic(&self.run_state(), &bytes, false)
    }

    /// The network called `name`, if defined.
    pub(crate) fn load_network(&self, name: &str) -> Result<Option<Network>, Error> {
        let path = self.network_file(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::state(path)(e)),
        }
    }

    /// Every defined network, by name.
    pub(crate) fn networks(&self) -> Result<Vec<Network>, Error> {
        let entries = std::fs::read_dir(&self.networks).map_err(Error::state(&self.networks))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::state(&self.networks))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json").filter(|s| !s.starts_with('.')) {
                if let Some(n) = self.load_network(stem)? {
                    out.push(n);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Stores a network definition durably.
    pub(crate) fn save_network(&self, _lock: &Lock, n: &Network) -> Result<(), Error> {
        let path = self.network_file(&n.name);
        let bytes = serde_json::to_vec_pretty(n).map_err(|e| Error::state(&path)(e.into()))?;
        write_atomic(&path, &bytes, true)
    }

    /// Deletes a network definition durably.
    pub(crate) fn delete_network(&self, _lock: &Lock, name: &str) -> Result<(), Error> {
        let path = self.network_file(name);
        std::fs::remove_file(&path).map_err(Error::state(&path))?;
        sync_dir(&self.networks)
    }
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::state(dir))
}

/// Temp file in the same directory, optionally fsynced, renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::state(path)(e));
    }
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// 64 random hex digits (network and endpoint ids).
pub(crate) fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::state("getrandom")(e.into())),
        }
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Now as RFC 3339 UTC with nanoseconds, as Docker prints `Created`.
pub(crate) fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    berth_time::rfc3339(now.as_secs() as i64, Some(now.subsec_nanos())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_state_round_trips_and_tolerates_absence() {
        let t = tempfile::tempdir().expect("must succeed");
        let d = Dirs::new(&t.path().join("s"), &t.path().join("r")).expect("must succeed");
        assert_eq!(d.load_run().expect("must succeed"), RunState::default());
        let lock = d.lock().expect("must succeed");
        let mut s = RunState::default();
        s.active.insert(
            "id".into(),
            Active {
                bridge: "berth0".into(),
                index: 7,
                mtu: 1500,
            },
        );
        s.last_ip.insert("id".into(), Ipv4Addr::new(10, 0, 0, 2));
        d.save_run(&lock, &s).expect("must succeed");
        assert_eq!(d.load_run().expect("must succeed"), s);
        // No temp file is left behind.
        let names: Vec<_> = std::fs::read_dir(&d.run)
            .expect("must succeed")
            .map(|e| e.expect("must succeed").file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn corrupt_state_is_reported_with_its_path() {
        let t = tempfile::tempdir().expect("must succeed");
        let d = Dirs::new(&t.path().join("s"), &t.path().join("r")).expect("must succeed");
        std::fs::write(d.run.join("state.json"), b"{not json").expect("must succeed");
        let e = d.load_run().expect_err("must fail").to_string();
        assert!(e.contains("state.json") && e.contains("corrupt"), "{e}");
    }

    #[test]
    fn ids_and_times_look_like_dockers() {
        let id = random_id().expect("must succeed");
        assert_eq!(id.len(), 64);
        assert_ne!(id, random_id().expect("must succeed"));
        let t = now_rfc3339();
        assert_eq!(t.len(), "2024-01-01T00:00:00.000000000Z".len(), "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
