//! Where a container's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`
//! live: files in its directory, bind-mounted over the image's, written by
//! [`crate::network`] at each start (the address can change).

use crate::record::Paths;
use crate::spec::EtcFiles;

pub fn files(paths: &Paths) -> EtcFiles {
    EtcFiles {
        hosts: paths.dir.join("hosts"),
        hostname: paths.dir.join("hostname"),
        resolv_conf: paths.dir.join("resolv.conf"),
    }
}
