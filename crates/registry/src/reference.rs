//! Image references with Docker's normalisation: `busybox` is
//! `docker.io/library/busybox:latest`; `localhost:5000/x@sha256:…` names a
//! registry with a port and pins a digest.

use std::fmt;
use std::str::FromStr;

use berth_image::Digest;

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference {input:?}: {reason} (expected [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST], lowercase)")]
    Invalid { input: String, reason: String },
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Registry host as written (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, the key names are stored under.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name Docker prints (`busybox`, `localhost:5000/x`).
    pub fn familiar_name(&self) -> String {
        familiar(&self.name())
    }

    /// What the manifest is fetched by: the digest if pinned, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// `registry/repository:tag` when a tag is set: the name an image is
    /// stored under after a pull.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned at a digest.
    pub fn with_digest(&self, d: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(d),
            ..self.clone()
        }
    }

    /// The host to talk to: Docker Hub's API lives elsewhere than its name.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }
}

/// Strips Docker Hub's defaults from a stored name for display.
pub fn familiar(name: &str) -> String {
    match name.strip_prefix("docker.io/") {
        Some(rest) => rest.strip_prefix("library/").unwrap_or(rest).to_owned(),
        None => name.to_owned(),
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Reference, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::Invalid {
            input: input.chars().take(256).collect(),
            reason: reason.to_owned(),
        };
        if input.is_empty() || input.len() > 4096 {
            return Err(invalid("empty or too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| invalid(&e.to_string()))?),
            ),
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(invalid)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                check_host(first).map_err(invalid)?;
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        check_repository(&repository).map_err(invalid)?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

fn check_tag(t: &str) -> Result<(), &'static str> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("invalid tag")
    }
}

fn check_host(h: &str) -> Result<(), &'static str> {
    let ok = h
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(())
    } else {
        Err("invalid registry host")
    }
}

/// Path components: lowercase alphanumerics separated by `.`, `_`, `__` or
/// `-`s, as the distribution spec's grammar has it.
fn check_repository(r: &str) -> Result<(), &'static str> {
    if r.len() > 255 {
        return Err("repository name too long");
    }
    for comp in r.split('/') {
        let b = comp.as_bytes();
        let edge_ok =
            |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !edge_ok(b.first()) || !edge_ok(b.last()) {
            return Err(
                "repository components must start and end with a lowercase letter or digit",
            );
        }
        if !b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        }) {
            return Err("repository names are lowercase letters, digits and . _ -");
        }
        if comp.contains("..") || comp.contains("___") {
            return Err("invalid separator in repository name");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_normalisation() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("user/app", "docker.io/user/app:latest"),
            ("index.docker.io/library/x:1", "docker.io/library/x:1"),
            ("localhost:5000/a/b:v", "localhost:5000/a/b:v"),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
            ("localhost/x", "localhost/x:latest"),
            ("quay.io/org/img:tag", "quay.io/org/img:tag"),
        ];
        for (input, want) in cases {
            let r: Reference = input.parse().expect(input);
            assert_eq!(r.to_string(), want, "{input}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let r: Reference = format!("busybox@{d}").parse().expect("digest");
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_ref(), d);
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r: Reference = "localhost:5000/x".parse().expect("port");
        assert_eq!(r.familiar_name(), "localhost:5000/x");
        assert_eq!(r.api_host(), "localhost:5000");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox@sha256:abc",
            "busybox@sha256:../../x",
            "a//b",
            "x/-y",
            "busybox:-x",
            "evil.io/../x",
            "a b",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad:?} accepted");
        }
    }
}
