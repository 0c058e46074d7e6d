//! Pull and push against a real `docker-registry` behind token auth
//! (`auth: token:`), with a token server written here: it checks Basic
//! credentials and issues RS256 JWTs signed (by `openssl`) with a key and
//! self-signed certificate made for the test, which the registry trusts.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use berth_registry::auth::{Credentials, DockerConfig};
use berth_registry::pull::{pull, PullOptions};
use berth_registry::push::{push, BlobOutcome};
use berth_registry::{Client, ClientOptions, Reference, RegistryError};
use common::*;

const SERVICE: &str = "berth-registry";
const ISSUER: &str = "berth-test-issuer";

/// The token server: one thread, stopped on drop.
struct TokenServer {
    addr: String,
    /// Scopes asked for, per request, in order.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    need("/usr/bin/openssl");
    let out = Command::new("/usr/bin/openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl TokenServer {
    /// Makes the key and certificate in `dir` and starts serving `user:pw`.
    fn start(dir: &Path, user: &'static str, pw: &'static str) -> TokenServer {
        let key = dir.join("key.pem");
        let cert = dir.join("cert.pem");
        let (k, c) = (key.to_str().expect("utf8"), cert.to_str().expect("utf8"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            k,
            "-out",
            c,
            "-days",
            "1",
            "-subj",
            "/CN=berth-token-test",
        ]);
        let der = openssl(&["x509", "-in", c, "-outform", "DER"]);
        let x5c = STANDARD.encode(der);
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        l.set_nonblocking(true).expect("nb");
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, st, keyp) = (requests.clone(), stop.clone(), key.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((conn, _)) => serve(conn, &keyp, &x5c, user, pw, &reqs),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TokenServer {
            addr,
            requests,
            stop,
        }
    }

    /// The registry's `auth:` section trusting this server.
    fn registry_auth(&self, dir: &Path) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.addr,
            dir.join("cert.pem").display()
        )
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(mut conn: TcpStream, status: &str, body: &str) {
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve(
    conn: TcpStream,
    key: &Path,
    x5c: &str,
    user: &str,
    pw: &str,
    requests: &Mutex<Vec<String>>,
) {
    let _ = conn.set_nonblocking(false);
    let Ok(clone) = conn.try_clone() else { return };
    let mut rd = BufReader::new(clone);
    let mut line = String::new();
    if rd.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_owned());
            }
        }
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut params: HashMap<String, Vec<String>> = HashMap::new();
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        params
            .entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    let scopes = params.get("scope").cloned().unwrap_or_default();
    if let Ok(mut r) = requests.lock() {
        r.push(scopes.join(" "));
    }
    let want = format!("Basic {}", STANDARD.encode(format!("{user}:{pw}")));
    let subject = match auth {
        Some(a) if a == want => user,
        Some(_) => return respond(conn, "401 Unauthorized", r#"{"details":"bad credentials"}"#),
        None => "",
    };
    let service_ok = params.get("service").is_some_and(|s| s == &[SERVICE]);
    if !service_ok {
        return respond(conn, "400 Bad Request", r#"{"details":"unknown service"}"#);
    }
    // anonymous callers get a valid token granting nothing
    let access: Vec<serde_json::Value> = if subject.is_empty() {
        Vec::new()
    } else {
        scopes
            .iter()
            .filter_map(|s| {
                let mut it = s.splitn(3, ':');
                let (kind, name, actions) = (it.next()?, it.next()?, it.next()?);
                Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect()
    };
    let token = jwt(key, x5c, subject, &access);
    let body =
        serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
    respond(conn, "200 OK", &body);
}

/// An RS256 JWT with the certificate in `x5c`, signed by `openssl dgst`.
fn jwt(key: &Path, x5c: &str, subject: &str, access: &[serde_json::Value]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let tmp = tempfile::NamedTempFile::new().expect("tmp");
    fs::write(tmp.path(), &input).expect("w");
    let sig = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        key.to_str().expect("utf8"),
        tmp.path().to_str().expect("utf8"),
    ]);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn client(cfg: &Path) -> Client {
    Client::new(ClientOptions {
        docker_config: Some(DockerConfig::at(cfg.join("config.json"))),
        ..Default::default()
    })
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_and_push_with_bearer_tokens() {
    let dir = tempfile::tempdir().expect("tmp");
    let tokens = TokenServer::start(dir.path(), "tok", "en");
    let reg_dir = tempfile::tempdir().expect("reg");
    let reg = Registry::start_with(reg_dir, &tokens.registry_auth(dir.path()));
    let img = busybox_image("amd64");
    let layout = tempfile::tempdir().expect("layout");
    Image::write_layout(&[(&img, "amd64")], layout.path(), "v1");
    let name = format!("{}/tok/bb:v1", reg.addr);
    skopeo_push(layout.path(), "v1", &name, Some("tok:en"));
    let r: Reference = name.parse().expect("ref");
    let (_t, store) = store();
    let cfg = tempfile::tempdir().expect("cfg");

    // anonymous: the token grants nothing, the registry refuses
    let e = pull(
        &client(cfg.path()),
        store.clone(),
        &r,
        &PullOptions::default(),
        Arc::new(|_| {}),
    )
    .await
    .expect_err("anonymous pull");
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");
    assert!(
        tokens
            .requests
            .lock()
            .expect("lock")
            .contains(&"repository:tok/bb:pull".to_owned()),
        "asked for the pull scope"
    );

    // wrong password: the token server refuses
    let dc = DockerConfig::at(cfg.path().join("config.json"));
    let set = |pw: &str| {
        dc.set(
            &reg.addr,
            Some(&Credentials {
                username: "tok".into(),
                password: pw.into(),
            }),
        )
        .expect("set")
    };
    set("wrong");
    let e = pull(
        &client(cfg.path()),
        store.clone(),
        &r,
        &PullOptions::default(),
        Arc::new(|_| {}),
    )
    .await
    .expect_err("bad password");
    assert!(
        matches!(e, RegistryError::Unauthorized { .. }) && e.to_string().contains("berth login"),
        "{e}"
    );
    assert!(store.meta().list().expect("list").is_empty());

    set("en");
    let c = client(cfg.path());
    let p = pull(
        &c,
        store.clone(),
        &r,
        &PullOptions::default(),
        Arc::new(|_| {}),
    )
    .await
    .expect("pull with a token");
    assert_eq!(p.record.manifest, sha(&skopeo_raw(&name, Some("tok:en"))));
    assert_eq!(p.fetched, 3);
    for (l, ours) in p.record.layers.iter().zip(&img.layers) {
        assert_eq!(l.diff_id, ours.diff_id);
    }

    // push to another repository: both scopes asked, blobs mounted
    let dest: Reference = format!("{}/tok/copy:v2", reg.addr).parse().expect("ref");
    let pushed = push(&c, &store, &p.record, &dest, &|_| {})
        .await
        .expect("push with a token");
    assert!(
        pushed
            .blobs
            .iter()
            .all(|(_, o)| matches!(o, BlobOutcome::Mounted { .. })),
        "{:?}",
        pushed.blobs
    );
    assert!(tokens
        .requests
        .lock()
        .expect("lock")
        .iter()
        .any(|s| s == "repository:tok/copy:pull,push repository:tok/bb:pull"));
    let raw = skopeo_raw(&format!("{}/tok/copy:v2", reg.addr), Some("tok:en"));
    assert_eq!(sha(&raw), p.record.manifest, "skopeo reads back the push");
}
