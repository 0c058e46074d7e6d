//! Garbage collection: what crashed or vanished containers left behind.

use std::collections::HashSet;

use crate::attach::{deactivate_idle, delete_link, forget, teardown, Veths};
use crate::error::Error;
use crate::link;
use crate::network::Networks;
use crate::nft;
use crate::nl::Socket;
use crate::rules;
use crate::state::RunState;

/// What [`Networks::gc`] reclaimed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Containers whose attachments were removed.
    pub containers: Vec<String>,
    /// Kernel links deleted that no record explained.
    pub links: Vec<String>,
    /// nftables rules deleted that no record explained.
    pub rules: usize,
}

impl Networks {
    /// Reclaims everything of containers that no longer exist
    /// (`is_alive(id)` false) and kernel objects no record explains, e.g.
    /// after a crash. Safe to run at any time.
    pub fn gc(&self, is_alive: impl Fn(&str) -> bool) -> Result<GcReport, Error> {
        let lock = self.dirs.lock()?;
        let mut rs = self.dirs.load_run()?;
        let mut report = GcReport::default();
        let mut errors = Vec::new();
        let dead: Vec<String> = rs
            .endpoints
            .keys()
            .filter(|c| !is_alive(c))
            .cloned()
            .collect();
        for cid in dead {
            for a in rs.endpoints.get(&cid).cloned().unwrap_or_default() {
                errors.extend(teardown(&a, Veths::Delete));
                forget(&mut rs, &a);
            }
            report.containers.push(cid);
        }
        errors.extend(deactivate_idle(&mut rs, self.kept_bridge()));
        if let Err(e) = sweep(&rs, &mut report) {
            errors.push(e);
        }
        self.dirs.save_run(&lock, &rs)?;
        if errors.is_empty() {
            Ok(report)
        } else {
            Err(Error::Teardown(errors))
        }
    }
}

/// Deletes veths on berth's bridges and tagged rules that no record explains.
fn sweep(rs: &RunState, report: &mut GcReport) -> Result<(), Error> {
    let mut route = Socket::route().map_err(Error::kernel("opening rtnetlink", "gc"))?;
    let masters: HashSet<u32> = rs.active.values().map(|a| a.index).collect();
    let known: HashSet<&str> = rs
        .endpoints
        .values()
        .flatten()
        .map(|a| a.host_veth.as_str())
        .collect();
    let links = link::links(&mut route).map_err(Error::kernel("listing links", "gc"))?;
    for l in links {
        let ours = l.master.is_some_and(|m| masters.contains(&m)) && l.name.starts_with("veth");
        if ours && !known.contains(l.name.as_str()) {
            delete_link(Some(&mut route), &l.name)?;
            report.links.push(l.name);
        }
    }
    let mut nft_sock = Socket::netfilter().map_err(Error::kernel("opening nfnetlink", "gc"))?;
    let tags: HashSet<String> = rs
        .endpoints
        .values()
        .flatten()
        .map(|a| rules::container_tag(&a.container_id, &a.network_id))
        .chain(rs.active.keys().map(|id| rules::network_tag(id)))
        .collect();
    let stray: Vec<_> = nft::list_rules(&mut nft_sock)
        .map_err(Error::kernel("listing nftables rules", "gc"))?
        .into_iter()
        .filter(|r| r.tag.starts_with("berth/") && !tags.contains(&r.tag))
        .collect();
    report.rules = stray.len();
    let dels = stray
        .iter()
        .map(|r| nft::del_rule(&r.chain, r.handle))
        .collect();
    nft::apply(&mut nft_sock, dels).map_err(Error::kernel("deleting stray nftables rules", "gc"))
}
