//! Fake hosts for unit tests: a temp directory laid out like cgroupfs, plus the mountinfo and
//! /proc/self/cgroup texts that describe it.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::{Cgroup, Layout, System};

pub struct FakeHost {
    pub dir: tempfile::TempDir,
    pub sys: System,
}

const V1: &[&str] = &[
    "cpu,cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "name=systemd",
];

impl FakeHost {
    pub fn new(layout: Layout) -> Self {
        let dir = tempfile::tempdir().expect("tempdir for a fake cgroupfs");
        let root = dir.path().to_path_buf();
        let r = root.display();
        let mut mi = format!("30 23 0:28 / {r} rw,relatime - tmpfs tmpfs rw,mode=755\n");
        let mut pc = String::new();
        let mut v1: Vec<&str> = V1.to_vec();
        if layout == Layout::Legacy {
            v1.push("hugetlb");
        }
        if layout != Layout::Unified {
            for (i, h) in v1.iter().enumerate() {
                let mp = h.trim_start_matches("name=");
                fs::create_dir_all(root.join(mp)).expect("mkdir fake hierarchy");
                mi.push_str(&format!(
                    "{} 30 0:{} / {r}/{mp} rw,relatime - cgroup cgroup rw,{h}\n",
                    40 + i,
                    40 + i
                ));
                let own = if *h == "memory" {
                    "/process_api/abc"
                } else {
                    "/"
                };
                pc.push_str(&format!("{}:{h}:{own}\n", i + 1));
            }
        }
        match layout {
            Layout::Hybrid => {
                let u = root.join("unified");
                fs::create_dir_all(&u).expect("mkdir fake unified");
                fs::write(u.join("cgroup.controllers"), "hugetlb\n").expect("write");
                fs::write(u.join("cgroup.subtree_control"), "").expect("write");
                mi.push_str(&format!(
                    "60 30 0:60 / {r}/unified rw - cgroup2 cgroup2 rw\n"
                ));
                pc.push_str("0::/\n");
            }
            Layout::Unified => {
                mi = format!("60 23 0:60 / {r} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
                fs::write(
                    root.join("cgroup.controllers"),
                    "cpuset cpu io memory hugetlb pids rdma misc\n",
                )
                .expect("write");
                fs::write(root.join("cgroup.subtree_control"), "").expect("write");
                pc.push_str("0::/user.slice/me\n");
            }
            Layout::Legacy => {}
        }
        let sys = System::from_text(&root, &mi, &pc).expect("fake host parses");
        assert_eq!(sys.layout, layout);
        FakeHost { dir, sys }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Creates the cgroup `/<path>` and touches `files` (`"memory/memory.max"` style, relative
    /// to the hierarchy mount; for unified, relative to the cgroup dir with `"."` as hierarchy).
    pub fn cgroup(&self, path: &str, files: &[(&str, &str)]) -> Cgroup {
        let cg = Cgroup::with_system(&self.sys, Some(Path::new(path)), "ctr").expect("resolve");
        cg.create().expect("create in fake tree");
        for (h, f) in files {
            let p = self.file(&cg, h, f);
            fs::write(p, "").expect("touch");
        }
        cg
    }

    pub fn file(&self, cg: &Cgroup, hierarchy: &str, f: &str) -> PathBuf {
        let dir = cg
            .paths()
            .into_iter()
            .find(|(n, _)| n == hierarchy)
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("no hierarchy {hierarchy}"));
        dir.join(f)
    }

    pub fn read(&self, cg: &Cgroup, hierarchy: &str, f: &str) -> String {
        fs::read_to_string(self.file(cg, hierarchy, f)).expect("read back")
    }
}

pub fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("test resources parse")
}
