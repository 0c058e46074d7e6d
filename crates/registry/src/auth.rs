//! Credentials (`~/.docker/config.json` `auths`, as `docker login` writes
//! them) and `WWW-Authenticate` challenges.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("docker config {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("docker config {path} is not valid JSON: {source} (fix or remove the file)")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "docker config {path}: the \"auth\" entry for {registry} is not base64 of user:password"
    )]
    BadAuth { path: PathBuf, registry: String },
}

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The key Docker stores a registry's credentials under.
pub fn config_key(registry: &str) -> String {
    if registry == crate::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}

/// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`).
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
}

impl DockerConfig {
    pub fn default_path() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(d).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
    }

    pub fn at(path: PathBuf) -> DockerConfig {
        DockerConfig { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
        match fs::read(&self.path) {
            Ok(b) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&b).map_err(|source| AuthError::Json {
                        path: self.path.clone(),
                        source,
                    })?;
                Ok(v.as_object().cloned().unwrap_or_default())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Default::default()),
            Err(source) => Err(AuthError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Credentials for `registry`, if stored. Keys are matched as Docker
    /// does: exactly, or with a scheme and path around the host.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, AuthError> {
        let cfg = self.load()?;
        let Some(auths) = cfg.get("auths").and_then(|a| a.as_object()) else {
            return Ok(None);
        };
        let want = config_key(registry);
        let entry = auths.get(&want).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| host_of(k) == registry)
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else {
            return Ok(None);
        };
        let bad = || AuthError::BadAuth {
            path: self.path.clone(),
            registry: registry.to_owned(),
        };
        if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
            if auth.is_empty() {
                return Ok(None);
            }
            let raw = B64.decode(auth.trim()).map_err(|_| bad())?;
            let s = String::from_utf8(raw).map_err(|_| bad())?;
            let (u, p) = s.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credentials {
                username: u.to_owned(),
                password: p.to_owned(),
            }));
        }
        match (
            entry.get("username").and_then(|v| v.as_str()),
            entry.get("password").and_then(|v| v.as_str()),
        ) {
            (Some(u), Some(p)) => Ok(Some(Credentials {
                username: u.to_owned(),
                password: p.to_owned(),
            })),
            _ => Ok(None),
        }
    }

    /// Stores (or with `None` removes) credentials, keeping every other key
    /// of the file. Written to a temp file, fsynced, renamed; mode 0600.
    pub fn set(&self, registry: &str, creds: Option<&Credentials>) -> Result<bool, AuthError> {
        let mut cfg = self.load()?;
        let auths = cfg
            .entry("auths")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !auths.is_object() {
            *auths = serde_json::Value::Object(Default::default());
        }
        let mut changed = false;
        if let Some(map) = auths.as_object_mut() {
            let key = config_key(registry);
            match creds {
                Some(c) => {
                    let mut e = BTreeMap::new();
                    e.insert("auth", B64.encode(format!("{}:{}", c.username, c.password)));
                    map.insert(key, serde_json::to_value(e).unwrap_or_default());
                    changed = true;
                }
                None => {
                    changed = map.remove(&key).is_some();
                    let others: Vec<String> = map
                        .keys()
                        .filter(|k| host_of(k) == registry)
                        .cloned()
                        .collect();
                    for k in others {
                        map.remove(&k);
                        changed = true;
                    }
                }
            }
        }
        let io_err = |source| AuthError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io_err)?;
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let body = serde_json::to_vec_pretty(&cfg).map_err(|source| AuthError::Json {
            path: self.path.clone(),
            source,
        })?;
        let write = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err(e)
        })?;
        Ok(changed)
    }
}

fn host_of(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `k="v", k2=v2` with quoted values that may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next() != Some('=') {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n)
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            val = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.push((key.trim().to_owned(), val.trim().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn config_round_trip_keeps_other_keys() {
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path().join("d/config.json");
        fs::create_dir_all(p.parent().expect("parent")).expect("mk");
        fs::write(
            &p,
            r#"{"credsStore":"x","auths":{"https://other.io/v1/":{"auth":"dTpw"}}}"#,
        )
        .expect("w");
        let c = DockerConfig::at(p.clone());
        assert_eq!(
            c.get("other.io").expect("get"),
            Some(Credentials {
                username: "u".into(),
                password: "p".into()
            })
        );
        let me = Credentials {
            username: "me".into(),
            password: "s3:cret".into(),
        };
        c.set("localhost:5000", Some(&me)).expect("set");
        assert_eq!(c.get("localhost:5000").expect("get"), Some(me));
        let raw: serde_json::Value =
            serde_json::from_slice(&fs::read(&p).expect("r")).expect("json");
        assert_eq!(raw["credsStore"], "x");
        assert!(c.set("localhost:5000", None).expect("rm"));
        assert_eq!(c.get("localhost:5000").expect("get"), None);
        assert!(!c.set("localhost:5000", None).expect("rm again"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).expect("m").permissions().mode() & 0o777,
            0o600
        );
    }
}
