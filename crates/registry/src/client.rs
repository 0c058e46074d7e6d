//! The HTTP side of the distribution API: scheme choice, `/v2/` ping,
//! Basic and Bearer token auth, retries of transient failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::auth::{parse_challenge, Challenge, Credentials, DockerConfig};
use crate::error::RegistryError;

/// How many times a transient failure is retried.
pub const ATTEMPTS: u32 = 4;

/// Client settings.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Registries that may be reached over plain HTTP (besides loopback ones).
    pub insecure_registries: Vec<String>,
    /// Where credentials are read from; `None` for the default location.
    pub docker_config: Option<DockerConfig>,
    /// Credentials to use instead of the config file's (for `login`).
    pub credentials: Option<(String, Credentials)>,
}

/// A registry client. Cheap to clone; connections are pooled.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    opts: Arc<ClientOptions>,
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

/// What is known about one registry host.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) host: String,
    base: String,
    insecure: bool,
    creds: Option<Credentials>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
}

/// Whether `host[:port]` is a loopback address (plain HTTP allowed).
pub fn is_loopback(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, RegistryError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(|source| RegistryError::Http {
                url: "(client setup)".into(),
                insecure_hint: "",
                source,
            })?;
        Ok(Client {
            http,
            opts: Arc::new(opts),
            sessions: Arc::default(),
        })
    }

    fn insecure(&self, host: &str) -> bool {
        is_loopback(host) || self.opts.insecure_registries.iter().any(|r| r == host)
    }

    /// The session for `host` (`api_host` of a reference); `registry` is the
    /// name credentials are stored under. Pings `/v2/` once to choose the
    /// scheme and learn the auth challenge.
    pub(crate) async fn session(
        &self,
        registry: &str,
        host: &str,
    ) -> Result<Arc<Session>, RegistryError> {
        if let Some(s) = self.sessions.lock().ok().and_then(|m| m.get(host).cloned()) {
            return Ok(s);
        }
        let creds = match &self.opts.credentials {
            Some((r, c)) if r == registry => Some(c.clone()),
            _ => {
                let cfg = match &self.opts.docker_config {
                    Some(c) => Some(c.clone()),
                    None => DockerConfig::default_path().map(DockerConfig::at),
                };
                match cfg {
                    Some(c) => c.get(registry)?,
                    None => None,
                }
            }
        };
        let insecure = self.insecure(host);
        let (base, resp) = self.choose_scheme(host, insecure).await?;
        let challenge = challenge_of(&resp);
        let s = Arc::new(Session {
            host: host.to_owned(),
            base,
            insecure,
            creds,
            challenge: Mutex::new(challenge),
            tokens: Mutex::default(),
        });
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(host.to_owned(), s.clone());
        }
        Ok(s)
    }

    async fn ping(&self, base: &str) -> Result<Response, reqwest::Error> {
        self.http
            .get(format!("{base}/v2/"))
            .timeout(Duration::from_secs(15))
            .send()
            .await
    }

    /// HTTPS for every registry; for loopback and `--insecure-registry`
    /// ones plain HTTP is tried first and kept if it answers like a
    /// registry (200 or 401 on `/v2/`), else HTTPS is used.
    async fn choose_scheme(
        &self,
        host: &str,
        insecure: bool,
    ) -> Result<(String, Response), RegistryError> {
        let https = format!("https://{host}");
        if insecure {
            let http = format!("http://{host}");
            match self.ping(&http).await {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => {
                    return Ok((http, r))
                }
                Ok(r) => {
                    tracing::debug!(host, status = %r.status(), "plain http ping refused; trying https")
                }
                Err(e) => tracing::debug!(host, error = %e, "plain http ping failed; trying https"),
            }
        }
        match self.ping(&https).await {
            Ok(r) => Ok((https, r)),
            Err(source) => Err(RegistryError::Http {
                url: format!("{https}/v2/"),
                insecure_hint: if insecure {
                    ""
                } else {
                    "; for a plain-HTTP registry pass --insecure-registry"
                },
                source,
            }),
        }
    }

    /// Checks that credentials are accepted by `registry` (for `login`).
    pub async fn check_login(&self, registry: &str, host: &str) -> Result<(), RegistryError> {
        let s = self.session(registry, host).await?;
        let resp = self
            .send(&s, &[], |http, base| http.get(format!("{base}/v2/")))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(resp, &format!("{}/v2/", s.base)).await)
        }
    }

    /// Sends a request built by `build` (called again for each attempt),
    /// adding auth for `scopes` and answering one 401 challenge. Retries
    /// connection failures, 429 and 5xx with backoff.
    pub(crate) async fn send(
        &self,
        s: &Session,
        scopes: &[String],
        build: impl Fn(&reqwest::Client, &str) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut answered_challenge = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = build(&self.http, &s.base);
            if let Some(h) = self.auth_header(s, scopes).await? {
                req = req.header(AUTHORIZATION, h);
            }
            let url_hint =
                |e: &reqwest::Error| e.url().map_or_else(|| s.base.clone(), |u| u.to_string());
            match req.send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !answered_challenge => {
                    answered_challenge = true;
                    let fresh = challenge_of(&resp);
                    if fresh.is_none() {
                        return Err(RegistryError::Unauthorized {
                            registry: s.host.clone(),
                        });
                    }
                    if let Ok(mut c) = s.challenge.lock() {
                        *c = fresh;
                    }
                    if let Ok(mut t) = s.tokens.lock() {
                        t.clear();
                    }
                }
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    return Err(RegistryError::Unauthorized {
                        registry: s.host.clone(),
                    })
                }
                Ok(resp) if transient_status(resp.status()) && attempt < ATTEMPTS => {
                    tracing::debug!(status = %resp.status(), url = %resp.url(), attempt, "transient status; retrying");
                    backoff(attempt).await;
                }
                Ok(resp) => return Ok(resp),
                Err(e)
                    if (e.is_connect() || e.is_timeout() || e.is_request())
                        && attempt < ATTEMPTS =>
                {
                    tracing::debug!(error = %e, attempt, "request failed; retrying");
                    backoff(attempt).await;
                }
                Err(source) => {
                    return Err(RegistryError::Http {
                        url: url_hint(&source),
                        insecure_hint: if s.insecure {
                            ""
                        } else {
                            "; for a plain-HTTP registry pass --insecure-registry"
                        },
                        source,
                    })
                }
            }
        }
    }

    async fn auth_header(
        &self,
        s: &Session,
        scopes: &[String],
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let challenge = s.challenge.lock().ok().and_then(|c| c.clone());
        let value = match challenge {
            None => return Ok(None),
            Some(Challenge::Basic) => match &s.creds {
                Some(c) => c.basic_header(),
                None => return Ok(None),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope: _,
            }) => {
                let key = scopes.join(" ");
                let cached = s.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
                let t = match cached {
                    Some(t) => t,
                    None => {
                        let t = self
                            .fetch_token(s, &realm, service.as_deref(), scopes)
                            .await?;
                        if let Ok(mut m) = s.tokens.lock() {
                            m.insert(key, t.clone());
                        }
                        t
                    }
                };
                format!("Bearer {t}")
            }
        };
        HeaderValue::from_str(&value)
            .map(Some)
            .map_err(|_| RegistryError::Token {
                registry: s.host.clone(),
                realm: String::new(),
                message: "token is not a valid header value".into(),
            })
    }

    async fn fetch_token(
        &self,
        s: &Session,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let terr = |message: String| RegistryError::Token {
            registry: s.host.clone(),
            realm: realm.to_owned(),
            message,
        };
        let url = reqwest::Url::parse(realm).map_err(|e| terr(format!("invalid realm: {e}")))?;
        if url.scheme() != "https"
            && !(url.scheme() == "http" && (s.insecure || url.host_str().is_some_and(is_loopback)))
        {
            return Err(terr("refusing a token realm over plain http".into()));
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(sv) = service {
            query.push(("service", sv));
        }
        for sc in scopes {
            query.push(("scope", sc));
        }
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut req = self.http.request(Method::GET, url.clone()).query(&query);
            if let Some(c) = &s.creds {
                req = req.header(AUTHORIZATION, c.basic_header());
            }
            match req.send().await {
                Ok(r) if transient_status(r.status()) && attempt < ATTEMPTS => {
                    backoff(attempt).await
                }
                Ok(r) => break r,
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    backoff(attempt).await
                }
                Err(e) => return Err(terr(e.to_string())),
            }
        };
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                registry: s.host.clone(),
            });
        }
        if !resp.status().is_success() {
            return Err(terr(format!("answered {}", resp.status())));
        }
        let body = read_limited(resp, 1 << 20, realm).await?;
        #[derive(serde::Deserialize)]
        struct Tok {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Tok = serde_json::from_slice(&body)
            .map_err(|e| terr(format!("invalid token response: {e}")))?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| terr("token response has no token".into()))
    }
}

fn challenge_of(resp: &Response) -> Option<Challenge> {
    if resp.status() != StatusCode::UNAUTHORIZED {
        return None;
    }
    resp.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .next()
}

pub(crate) fn transient_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
}

pub(crate) async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
}

/// Reads a response body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(RegistryError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| RegistryError::Http {
        url: what.to_owned(),
        insecure_hint: "",
        source,
    })? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: what.to_owned(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Turns an unexpected response into an error carrying the registry's own
/// message (distribution-spec `errors[].message`) when it sent one.
pub(crate) async fn status_error(resp: Response, what: &str) -> RegistryError {
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return RegistryError::NotFound {
            what: what.to_owned(),
        };
    }
    let body = read_limited(resp, 64 << 10, what).await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errs {
        errors: Vec<E>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    let message = match serde_json::from_slice::<Errs>(&body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.code.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or("")
                )
                .trim()
                .to_owned()
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body).chars().take(200).collect(),
    };
    RegistryError::Status {
        url: what.to_owned(),
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.4.5",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "example.com:443",
            "[::2]:5000",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
