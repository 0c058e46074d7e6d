//! A container's records on disk, each written atomically (temp file,
//! fsync, rename): `container.json` (what it is: image, options; changes
//! only on rename) and `state.json` (what it is doing; written under the
//! container's lock by whichever process changes it).
//!
//! ```text
//! <root>/containers/<id>/container.json   Record
//!                        state.json       State
//!                        lock             flock for read-modify-write
//!                        config.json      the OCI bundle's spec
//!                        rootfs/ diff/ work/   overlay mount point, upper, work
//!                        hosts hostname resolv.conf
//!                        <id>-json.log    json-file logs
//! <root>/names/<name>                     the id owning a name (made with link(2))
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};
use crate::options::ContainerOptions;

/// What a container is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id (config digest), as Docker reports it.
    pub image_id: String,
    /// The manifest digest the image store knows it by.
    pub manifest: String,
    /// RFC 3339.
    pub created: String,
    pub options: ContainerOptions,
    /// The image's unpacked layers, bottom first: the overlay's lowers.
    pub layers: Vec<PathBuf>,
    /// The image's run config (Cmd, Env, User...), as it was at create.
    pub config: crate::imageconfig::RunConfig,
}

/// Docker's container states.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

/// What a container is doing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's init on the host (0 when not running).
    pub pid: i32,
    /// Its start time in clock ticks (from /proc/PID/stat), to tell it
    /// from a later process with a recycled pid.
    pub pid_start: u64,
    pub supervisor_pid: i32,
    pub supervisor_start: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: i32,
    pub restart_count: u32,
    /// Set by `stop`/`kill`/`rm`: the restart policy does not apply.
    pub stopped_by_user: bool,
    pub oom_killed: bool,
    pub error: String,
}

impl State {
    /// The record says the container runs (or is being restarted) and its
    /// process or its supervisor is still alive: nothing of it may be
    /// cleaned up.
    pub fn is_live(&self) -> bool {
        self.says_running()
            && (alive(self.pid, self.pid_start)
                || alive(self.supervisor_pid, self.supervisor_start))
    }

    /// The record says the container runs but neither its process nor its
    /// supervisor is alive: they died without recording the exit.
    pub fn is_abandoned(&self) -> bool {
        self.says_running() && !self.is_live()
    }

    fn says_running(&self) -> bool {
        matches!(
            self.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }
}

/// Paths of one container's directory.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(root: &Path, id: &str) -> Paths {
        Paths {
            dir: root.join("containers").join(id),
        }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("diff")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn log(&self) -> PathBuf {
        let id = self.dir.file_name().unwrap_or_default().to_string_lossy();
        self.dir.join(format!("{id}-json.log"))
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory,
/// fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing(path, bytes, true)
}

/// Temp file, (fsync,) rename: readers see the old or the new content.
fn write_replacing(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    f.write_all(bytes).map_err(io_err("writing", &tmp))?;
    if durable {
        f.sync_all().map_err(io_err("syncing", &tmp))?;
        return fs::rename(&tmp, path).map_err(io_err("renaming into place", path));
    }
    replace_volatile(&tmp, path)
}

/// Puts `tmp` in the place of `path` without the flush that ext4 (and
/// btrfs, xfs) start when a rename replaces a file: that heuristic protects
/// writers that skip the fsync from a file found empty after a crash, which
/// is what a volatile write accepts (a torn state reads as lost, see
/// [`read_state`]), and its writeback costs ~0.4 ms per state change on
/// ext4 here. The two names are exchanged atomically (readers see the old
/// or the new content, as with rename), then the old content is unlinked.
/// Where nothing is to be replaced yet, or the filesystem cannot exchange,
/// a plain rename.
fn replace_volatile(tmp: &Path, path: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => fs::remove_file(tmp).map_err(io_err("removing the replaced", tmp)),
        Err(_) => fs::rename(tmp, path).map_err(io_err("renaming into place", path)),
    }
}

/// Like [`write_json`], compact and without the fsync, for what is rebuilt from the
/// truth when lost: the run state (a state left behind by a crash is
/// corrected from the processes themselves, see `Engine::container`) and
/// the spec (written again at every start). An fsync per state change
/// costs milliseconds on each `run`.
pub fn write_json_volatile<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec(v).map_err(|source| Error::Corrupt {
        path: path.to_owned(),
        source,
    })?;
    write_replacing(path, &bytes, false)
}

/// The run state; one a crash left empty or torn (possible without the
/// fsync) reads as a stopped container whose end is unknown.
pub fn read_state(path: &Path) -> Result<State> {
    match read_json(path) {
        Err(Error::Corrupt { .. }) => Ok(State {
            status: Status::Exited,
            exit_code: 255,
            error: "the container's state was lost in a crash".into(),
            ..Default::default()
        }),
        other => other,
    }
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(io_err("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Corrupt {
        path: path.to_owned(),
        source,
    })
}

pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|source| Error::Corrupt {
        path: path.to_owned(),
        source,
    })?;
    write_atomic(path, &bytes)
}

/// An exclusive hold on one container's records; released on drop.
#[derive(Debug)]
pub struct Locked {
    _file: File,
    pub paths: Paths,
}

impl Locked {
    pub fn acquire(paths: Paths) -> Result<Locked> {
        Ok(Self::take(paths, true)?.unwrap_or_else(|| unreachable!("a blocking lock is taken")))
    }

    /// The lock if nobody else holds it; `None` if somebody does.
    pub fn try_acquire(paths: Paths) -> Result<Option<Locked>> {
        Self::take(paths, false)
    }

    fn take(paths: Paths, block: bool) -> Result<Option<Locked>> {
        let p = paths.dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::NoSuchContainer(
                        paths
                            .dir
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned(),
                    )
                } else {
                    io_err("opening", &p)(e)
                }
            })?;
        let op = if block {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&f, op) {
            Ok(()) => Ok(Some(Locked { _file: f, paths })),
            Err(rustix::io::Errno::WOULDBLOCK) if !block => Ok(None),
            Err(e) => Err(io_err("locking", &p)(e.into())),
        }
    }

    pub fn state(&self) -> Result<State> {
        read_state(&self.paths.state())
    }

    pub fn save(&self, s: &State) -> Result<()> {
        write_json_volatile(&self.paths.state(), s)
    }

    /// Read-modify-write of the state.
    pub fn update(&self, f: impl FnOnce(&mut State)) -> Result<State> {
        let mut s = self.state()?;
        f(&mut s);
        self.save(&s)?;
        Ok(s)
    }
}

/// `/proc/PID/stat`'s start time, if the process exists and is not a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    match berth_runtime::state::proc_stat(pid) {
        Some(('Z', _)) | None => None,
        Some((_, t)) => Some(t),
    }
}

/// Whether `pid` is still the process that started at `start`.
pub fn alive(pid: i32, start: u64) -> bool {
    start != 0 && start_time(pid) == Some(start)
}

/// Current time as RFC 3339 with nanoseconds, UTC.
pub fn now() -> String {
    berth_runtime::state::now_rfc3339()
}

#[cfg(test)]
mod state_tests {
    use super::*;

    #[test]
    fn a_torn_state_reads_as_exited_and_a_missing_one_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, b"").unwrap();
        let s = read_state(&p).unwrap();
        assert_eq!(s.status, Status::Exited);
        assert!(s.error.contains("lost"));
        write_json_volatile(&p, &State::default()).unwrap();
        assert_eq!(read_state(&p).unwrap().status, State::default().status);
        assert!(read_state(&dir.path().join("none.json")).is_err());
    }

    #[test]
    fn a_volatile_write_replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let mut s = State::default();
        // Created, then replaced (by exchange where the filesystem can).
        for code in [1, 2, 3] {
            s.exit_code = code;
            write_json_volatile(&p, &s).unwrap();
            assert_eq!(read_state(&p).unwrap().exit_code, code);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }
}
