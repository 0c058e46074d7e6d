//! The few IPv4 sysctls a bridge network needs, written only when they differ
//! (in the network namespace of the calling thread).

use std::io;
use std::path::PathBuf;

fn set(rel: &str, value: &str) -> io::Result<()> {
    let path = PathBuf::from("/proc/sys/net/ipv4").join(rel);
    let current = std::fs::read_to_string(&path)?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(&path, value)
}

/// Turns IPv4 forwarding on (containers reaching out, published ports).
pub(crate) fn enable_forwarding() -> io::Result<()> {
    set("ip_forward", "1")
}

/// Lets 127.0.0.0/8 traffic be routed through `bridge`, so that published
/// ports answer on 127.0.0.1 (the source is masqueraded on the way).
pub(crate) fn enable_route_localnet(bridge: &str) -> io::Result<()> {
    set(&format!("conf/{bridge}/route_localnet"), "1")
}
