//! Operations on a running container through its cgroup, with runc's
//! semantics: `pause`/`resume` (the freezer), `ps` (its processes),
//! `events --stats` (cgroup statistics) and `update` (new resource limits).

use berth_cgroups::{Cgroup, Stats};
use oci_spec::runtime::{ContainerState, LinuxResources};

use crate::container::{wrong_state, Runtime};
use crate::error::Result;
use crate::state::Record;

/// A container's status as runc reports it: the runtime spec's states
/// (`creating` never outlives a `create` call) plus `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    /// Running, with its cgroup frozen by `pause`.
    Paused,
    Stopped,
}

impl Status {
    /// The runtime spec's state (a paused container is running to it).
    pub fn oci(self) -> ContainerState {
        match self {
            Status::Created => ContainerState::Created,
            Status::Running | Status::Paused => ContainerState::Running,
            Status::Stopped => ContainerState::Stopped,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

impl Runtime {
    /// The container's status: `paused` when its cgroup is frozen,
    /// otherwise what [`Record::status`] derives from the kernel.
    pub fn status(&self, record: &Record) -> Status {
        match record.status(&self.root) {
            ContainerState::Running => {}
            ContainerState::Created => return Status::Created,
            _ => return Status::Stopped,
        }
        match self.cgroup_of(record).and_then(|cg| Ok(cg.frozen()?)) {
            Ok(true) => Status::Paused,
            _ => Status::Running,
        }
    }

    /// `pause`: freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = self.status(&record);
        if status != Status::Running {
            return Err(wrong_state(id, status, "pause", "running"));
        }
        Ok(self.cgroup_of(&record)?.freeze()?)
    }

    /// `resume`: thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = self.status(&record);
        if status != Status::Paused {
            return Err(wrong_state(id, status, "resume", "paused"));
        }
        Ok(self.cgroup_of(&record)?.thaw()?)
    }

    /// `ps`: the host pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let record = Record::load(&self.root, id)?;
        if self.status(&record) == Status::Stopped {
            // As runc: what is left in the cgroup (often nothing, or
            // processes that outlived an init without a pid namespace).
            return Ok(self
                .cgroup_of(&record)
                .ok()
                .and_then(|c| c.pids().ok())
                .unwrap_or_default());
        }
        Ok(self.cgroup_of(&record)?.pids()?)
    }

    /// `events --stats`: CPU, memory, pids and block I/O usage and limits
    /// read from the container's cgroup.
    pub fn stats(&self, id: &str) -> Result<Stats> {
        let record = Record::load(&self.root, id)?;
        let status = self.status(&record);
        if status == Status::Stopped {
            return Err(wrong_state(
                id,
                status,
                "events",
                "created, running or paused",
            ));
        }
        Ok(self.cgroup_of(&record)?.stats()?)
    }

    /// `update`: applies new limits to a container that has not stopped.
    /// Only the values `resources` sets are written; they are validated as
    /// a whole first, so a refused update changes nothing.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = self.status(&record);
        if status == Status::Stopped {
            return Err(wrong_state(
                id,
                status,
                "update",
                "created, running or paused",
            ));
        }
        Ok(self.cgroup_of(&record)?.set(resources)?)
    }

    pub(crate) fn cgroup_of(&self, record: &Record) -> Result<Cgroup> {
        Ok(Cgroup::from_state(&self.cgroup_root, &record.cgroup)?)
    }
}
