//! Snapshots: the mount a container uses as its rootfs, described as data.
//! The image layer never mounts; the runtime/engine performs the mount.

use std::path::PathBuf;

/// A rootfs mount for a stack of unpacked layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshot {
    /// overlayfs: `lowerdir` topmost first, as the kernel wants it.
    Overlay {
        lowerdirs: Vec<PathBuf>,
        upperdir: Option<PathBuf>,
        workdir: Option<PathBuf>,
    },
    /// A single read-only layer needs no overlay: bind it read-only.
    BindReadOnly { source: PathBuf },
}

impl Snapshot {
    /// Builds the description for layers given bottom-most first, with an
    /// optional writable upper/work pair.
    pub fn new(layers_bottom_first: Vec<PathBuf>, upper: Option<(PathBuf, PathBuf)>) -> Snapshot {
        let mut lowerdirs = layers_bottom_first;
        lowerdirs.reverse();
        match upper {
            None if lowerdirs.len() == 1 => Snapshot::BindReadOnly {
                source: lowerdirs.remove(0),
            },
            None => Snapshot::Overlay {
                lowerdirs,
                upperdir: None,
                workdir: None,
            },
            Some((u, w)) => Snapshot::Overlay {
                lowerdirs,
                upperdir: Some(u),
                workdir: Some(w),
            },
        }
    }

    /// The `-o` data string for an overlay mount (`None` for a bind).
    pub fn overlay_options(&self) -> Option<String> {
        let Snapshot::Overlay {
            lowerdirs,
            upperdir,
            workdir,
        } = self
        else {
            return None;
        };
        let lower: Vec<String> = lowerdirs
            .iter()
            .map(|p| escape(&p.to_string_lossy()))
            .collect();
        let mut s = format!("lowerdir={}", lower.join(":"));
        if let (Some(u), Some(w)) = (upperdir, workdir) {
            s.push_str(&format!(
                ",upperdir={},workdir={}",
                escape(&u.to_string_lossy()),
                escape(&w.to_string_lossy())
            ));
        }
        s.push_str(",index=off");
        Some(s)
    }
}

/// overlayfs splits options on ',' and lowerdirs on ':'; escape both.
fn escape(p: &str) -> String {
    p.replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_overlay_topmost_first() {
        let s = Snapshot::new(
            vec!["/l/a".into(), "/l/b".into()],
            Some(("/c/up".into(), "/c/work".into())),
        );
        assert_eq!(
            s.overlay_options().as_deref(),
            Some("lowerdir=/l/b:/l/a,upperdir=/c/up,workdir=/c/work,index=off")
        );
        let one = Snapshot::new(vec!["/l/a".into()], None);
        assert_eq!(
            one,
            Snapshot::BindReadOnly {
                source: "/l/a".into()
            }
        );
        assert_eq!(one.overlay_options(), None);
    }
}
