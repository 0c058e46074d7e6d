//! What a profile's conditions are evaluated against: the host's architecture
//! and kernel version.

use oci_spec::runtime::Arch;

/// A kernel's `<version>.<major revision>`, the precision of Docker's `minKernel`
/// (`6.18.3-amd64` is 6.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KernelVersion {
    version: u32,
    major: u32,
}

impl KernelVersion {
    pub(crate) const fn new(version: u32, major: u32) -> Self {
        Self { version, major }
    }

    /// The version at the start of a `uname -r` release (`6.18.0-1-amd64`, `3.12-rc5`).
    pub(crate) fn from_release(release: &str) -> Option<Self> {
        let (version, rest) = release.split_once('.')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major = rest.get(..digits)?;
        Some(Self::new(version.parse().ok()?, major.parse().ok()?))
    }

    /// A profile's `minKernel`: exactly `<version>.<major>`, not `0.0`.
    pub(crate) fn from_min_kernel(text: &str) -> Option<Self> {
        let (version, major) = text.split_once('.')?;
        let number = |s: &str| -> Option<u32> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let parsed = Self::new(number(version)?, number(major)?);
        (parsed != Self::new(0, 0)).then_some(parsed)
    }
}

/// The host a profile is made for.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Docker's name of the architecture (`amd64`, `arm64`, ...), which the
    /// `arches` of profile conditions use.
    pub(crate) arch: &'static str,
    /// The same architecture as a seccomp architecture, when it is one.
    pub(crate) seccomp_arch: Option<Arch>,
    /// `uname -r`.
    pub(crate) release: String,
    pub(crate) kernel: Option<KernelVersion>,
}

impl Host {
    /// The machine this process runs on.
    pub(crate) fn current() -> Self {
        let (arch, seccomp_arch) = native_arch();
        let release = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        Self::new(arch, seccomp_arch, release)
    }

    pub(crate) fn new(arch: &'static str, seccomp_arch: Option<Arch>, release: String) -> Self {
        let kernel = KernelVersion::from_release(&release);
        Self {
            arch,
            seccomp_arch,
            release,
            kernel,
        }
    }

    /// Whether the host is one of `arches` (Docker's names).
    pub(crate) fn is_arch<S: AsRef<str>>(&self, arches: &[S]) -> bool {
        arches.iter().any(|a| a.as_ref() == self.arch)
    }

    /// Whether the host kernel is at least `min`; `None` when its version is unknown.
    pub(crate) fn kernel_at_least(&self, min: KernelVersion) -> Option<bool> {
        self.kernel.map(|k| k >= min)
    }
}

/// The build target's architecture, in Docker's and in seccomp's terms.
fn native_arch() -> (&'static str, Option<Arch>) {
    if cfg!(target_arch = "x86_64") {
        ("amd64", Some(Arch::ScmpArchX86_64))
    } else if cfg!(target_arch = "aarch64") {
        ("arm64", Some(Arch::ScmpArchAarch64))
    } else if cfg!(target_arch = "x86") {
        ("x86", Some(Arch::ScmpArchX86))
    } else if cfg!(target_arch = "arm") {
        ("arm", Some(Arch::ScmpArchArm))
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        ("ppc64le", Some(Arch::ScmpArchPpc64le))
    } else if cfg!(target_arch = "powerpc64") {
        ("ppc64", Some(Arch::ScmpArchPpc64))
    } else if cfg!(target_arch = "s390x") {
        ("s390x", Some(Arch::ScmpArchS390x))
    } else if cfg!(target_arch = "riscv64") {
        ("riscv64", Some(Arch::ScmpArchRiscv64))
    } else if cfg!(target_arch = "loongarch64") {
        ("loongarch64", Some(Arch::ScmpArchLoongarch64))
    } else {
        (std::env::consts::ARCH, None)
    }
}
