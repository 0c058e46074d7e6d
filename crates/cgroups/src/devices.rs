//! Device rules: validated once from the spec, then rendered as v1 `devices.allow`/`devices.deny`
//! lines or compiled to a v2 eBPF program (see `bpf.rs`).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::Error;

pub(crate) const ACC_MKNOD: u8 = 1;
pub(crate) const ACC_READ: u8 = 2;
pub(crate) const ACC_WRITE: u8 = 4;
pub(crate) const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Kind of device a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevKind {
    All,
    Block,
    Char,
}

/// One validated rule of `linux.resources.devices`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DevKind,
    /// `None` is the `*` wildcard.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bit set of `ACC_*`.
    pub access: u8,
}

impl DeviceRule {
    pub fn from_spec(i: usize, d: &LinuxDeviceCgroup) -> Result<Self, Error> {
        let field = format!("devices[{i}]");
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DevKind::All,
            LinuxDeviceType::B => DevKind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => DevKind::Char,
            LinuxDeviceType::P => {
                return Err(Error::invalid(
                    &format!("{field}.type"),
                    "p",
                    "FIFOs are not governed by the devices cgroup; use a, b or c",
                ))
            }
        };
        let num = |v: Option<i64>, name: &str| -> Result<Option<u32>, Error> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    Error::invalid(
                        &format!("{field}.{name}"),
                        n,
                        "must be -1 (any) or 0..=4294967295",
                    )
                }),
            }
        };
        let major = num(d.major(), "major")?;
        let minor = num(d.minor(), "minor")?;
        let access = match d.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(a) => {
                let mut bits = 0;
                for c in a.chars() {
                    bits |= match c {
                        'r' => ACC_READ,
                        'w' => ACC_WRITE,
                        'm' => ACC_MKNOD,
                        _ => {
                            return Err(Error::invalid(
                                &format!("{field}.access"),
                                a,
                                "only the letters r, w and m are allowed",
                            ))
                        }
                    };
                }
                bits
            }
        };
        Ok(DeviceRule {
            allow: d.allow(),
            kind,
            major,
            minor,
            access,
        })
    }

    /// The v1 line, e.g. `c 1:3 rwm` or `a *:* rwm`.
    pub fn v1_line(&self) -> String {
        let t = match self.kind {
            DevKind::All => 'a',
            DevKind::Block => 'b',
            DevKind::Char => 'c',
        };
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        let mut acc = String::new();
        if self.access & ACC_READ != 0 {
            acc.push('r');
        }
        if self.access & ACC_WRITE != 0 {
            acc.push('w');
        }
        if self.access & ACC_MKNOD != 0 {
            acc.push('m');
        }
        format!("{t} {}:{} {acc}", n(self.major), n(self.minor))
    }
}

/// Validates every rule.
pub fn rules(devs: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, Error> {
    devs.iter()
        .enumerate()
        .map(|(i, d)| DeviceRule::from_spec(i, d))
        .collect()
}
