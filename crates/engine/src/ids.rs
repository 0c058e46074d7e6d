//! Container ids (64 hex digits, random) and names (user-given or made
//! up, Docker style: `adjective_noun`), and resolving what a user types.

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::error::{io_err, Error, Result};

/// A fresh random id.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    let p = Path::new("/dev/urandom");
    fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io_err("reading", p))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/`
/// is accepted and dropped).
pub fn check_name(name: &str) -> Result<&str> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = n.bytes();
    let ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && n.len() >= 2
        && n.len() <= 255
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(n)
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "fond", "gentle", "happy", "jolly", "keen", "kind",
    "lucid", "merry", "nimble", "proud", "quick", "quiet", "sharp", "steady", "swift", "witty",
    "bold", "bright", "cosmic", "daring", "elated", "festive", "grand", "hopeful", "lively",
    "mellow", "noble", "patient", "serene", "sunny", "tender", "vibrant", "wise", "zealous",
];

const NOUNS: &[&str] = &[
    "anchor", "bay", "beacon", "buoy", "cove", "current", "delta", "dock", "ferry", "fjord",
    "galley", "harbor", "hull", "inlet", "jetty", "keel", "lagoon", "mast", "marina", "pier",
    "quay", "reef", "rudder", "sail", "schooner", "shoal", "skiff", "sound", "spar", "strait",
    "tide", "wake", "wharf", "yacht", "compass", "lantern", "mooring", "tugboat",
];

/// A generated name; `salt` picks among the combinations.
pub fn generated_name(salt: &str) -> String {
    let n: u64 = salt
        .bytes()
        .take(16)
        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let b = NOUNS[((n / 64) % NOUNS.len() as u64) as usize];
    format!("{a}_{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name("/web-1").unwrap(), "web-1");
        assert!(check_name("a").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("ok_name.2").is_ok());
        let g = generated_name("0123456789abcdef");
        assert!(check_name(&g).is_ok() && g.contains('_'));
    }

    #[test]
    fn ids_are_hex_and_distinct() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
