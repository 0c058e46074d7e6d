//! Content digests: strictly parsed before they touch a path or a URL.
//!
//! Only `sha256:` followed by exactly 64 lowercase hex characters is accepted,
//! so a digest's hex part is always safe to use as a file name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Errors from parsing a digest.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(
        "invalid digest {input:?}: {reason} (expected \"sha256:\" and 64 lowercase hex characters)"
    )]
    Invalid { input: String, reason: &'static str },
}

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_raw(Sha256::digest(bytes).into())
    }

    pub(crate) fn from_raw(raw: [u8; 32]) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for b in raw {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest { hex }
    }

    /// Parses the 64 hex characters alone (as found in file names).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        check_hex(hex).map_err(|reason| DigestError::Invalid {
            input: truncate(hex),
            reason,
        })?;
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }

    /// The 64 lowercase hex characters: safe as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as Docker shows image ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

fn check_hex(hex: &str) -> Result<(), &'static str> {
    if hex.len() != 64 {
        return Err("wrong length");
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("not lowercase hex");
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        let invalid = |reason| DigestError::Invalid {
            input: truncate(s),
            reason,
        };
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| invalid("unsupported algorithm"))?;
        check_hex(hex).map_err(invalid)?;
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256.
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> Digest {
        Digest::from_raw(self.0.finalize().into())
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_strictly() {
        let d: Digest = format!("sha256:{EMPTY}").parse().expect("valid");
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.short(), "e3b0c44298fc");
        for bad in [
            EMPTY.to_owned(),
            format!("sha256:{}", EMPTY.to_uppercase()),
            format!("sha512:{EMPTY}"),
            format!("sha256:{}", &EMPTY[1..]),
            format!("sha256:{EMPTY}0"),
            "sha256:../../../../etc/passwd".to_owned(),
            format!("sha256:{}/", &EMPTY[..63]),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_round_trip_and_rejects_bad() {
        let d = Digest::of(b"x");
        let j = serde_json::to_string(&d).expect("ser");
        let back: Digest = serde_json::from_str(&j).expect("de");
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
