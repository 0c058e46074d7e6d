//! The image config a build writes, as BuildKit writes it: the base
//! image's config and history carried over, one history entry per
//! instruction (`created_by` in BuildKit's words, `# buildkit` after the
//! steps that make a layer, comment `buildkit.dockerfile.v0`), and the
//! Docker-specific fields (Healthcheck, OnBuild, Shell, ArgsEscaped).

use std::path::PathBuf;
use std::time::Duration;

use berth_image::digest::Digest;
use berth_image::meta::{ImageRecord, LayerRecord};
use berth_image::spec::{Platform, MAX_DOCUMENT};
use berth_image::ImageStore;
use serde_json::{json, Map, Value};

use crate::ignore::clean;
use crate::instructions::{Command, Health};
use crate::BuildError;

pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A stage's image as the build goes: the config document and layers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageState {
    pub doc: Map<String, Value>,
    pub layers: Vec<LayerRecord>,
    /// Whether CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set_here: bool,
}

impl ImageState {
    /// `FROM scratch`.
    pub fn scratch() -> ImageState {
        let p = Platform::host();
        let mut doc = Map::new();
        doc.insert("architecture".into(), json!(p.architecture));
        doc.insert("os".into(), json!(p.os));
        if let Some(v) = p.variant {
            doc.insert("variant".into(), json!(v));
        }
        doc.insert("config".into(), json!({}));
        doc.insert("rootfs".into(), json!({"type": "layers", "diff_ids": []}));
        ImageState {
            doc,
            layers: Vec::new(),
            cmd_set_here: false,
        }
    }

    /// A stored image as a base.
    pub fn from_image(store: &ImageStore, rec: &ImageRecord) -> Result<ImageState, BuildError> {
        let bytes = store.content().read(&rec.config, MAX_DOCUMENT)?;
        let mut doc: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|e| {
            BuildError::Step(format!(
                "base image config {}: not valid JSON: {e}",
                rec.config
            ))
        })?;
        for k in [
            "container",
            "container_config",
            "docker_version",
            "created",
            "comment",
        ] {
            doc.remove(k);
        }
        if !doc.get("config").is_some_and(Value::is_object) {
            doc.insert("config".into(), json!({}));
        }
        Ok(ImageState {
            doc,
            layers: rec.layers.clone(),
            cmd_set_here: false,
        })
    }

    fn cfg(&mut self) -> &mut Map<String, Value> {
        let v = self.doc.entry("config").or_insert_with(|| json!({}));
        if !v.is_object() {
            *v = json!({});
        }
        // Invariant: `v` was made an object on the line above.
        v.as_object_mut().expect("config is an object")
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.doc.get("config").and_then(|c| c.get(key))
    }

    pub fn set(&mut self, key: &str, v: Value) {
        if key == "Cmd" {
            self.cmd_set_here = true;
        }
        self.cfg().insert(key.into(), v);
    }

    pub fn remove(&mut self, key: &str) {
        self.cfg().remove(key);
    }

    pub fn env(&self) -> Vec<String> {
        self.get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// BuildKit gives every stage a PATH when its base has none.
    pub fn ensure_path(&mut self) {
        if !self.env().iter().any(|e| e.starts_with("PATH=")) {
            self.set_env("PATH", DEFAULT_PATH);
        }
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        let mut env = self.env();
        let kv = format!("{k}={v}");
        match env.iter_mut().find(|e| e.split('=').next() == Some(k)) {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
        self.set("Env", json!(env));
    }

    pub fn set_label(&mut self, k: &str, v: &str) {
        let cfg = self.cfg();
        let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        if let Some(m) = labels.as_object_mut() {
            m.insert(k.into(), json!(v));
        }
    }

    pub fn add_to_map(&mut self, key: &str, name: &str) {
        let cfg = self.cfg();
        let m = cfg.entry(key).or_insert_with(|| json!({}));
        if !m.is_object() {
            *m = json!({});
        }
        if let Some(m) = m.as_object_mut() {
            m.insert(name.into(), json!({}));
        }
    }

    pub fn workdir(&self) -> String {
        match self.get("WorkingDir").and_then(Value::as_str) {
            Some(w) if !w.is_empty() => w.to_owned(),
            _ => "/".into(),
        }
    }

    pub fn user(&self) -> String {
        self.get("User")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    pub fn shell(&self) -> Vec<String> {
        match self.get("Shell").and_then(Value::as_array) {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => vec!["/bin/sh".into(), "-c".into()],
        }
    }

    /// Exec form as is; shell form run by the stage's shell.
    pub fn command(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    pub fn set_author(&mut self, a: &str) {
        self.doc.insert("author".into(), json!(a));
    }

    pub fn push_onbuild(&mut self, expr: &str) {
        let cfg = self.cfg();
        let list = cfg.entry("OnBuild").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(json!(expr));
        } else {
            *list = json!([expr]);
        }
    }

    /// The base's ONBUILD triggers (cleared: they run once).
    pub fn take_onbuild(&mut self) -> Vec<String> {
        let v = self.cfg().remove("OnBuild");
        v.and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    }

    fn push_history(&mut self, entry: Value) {
        let h = self.doc.entry("history").or_insert_with(|| json!([]));
        if let Some(a) = h.as_array_mut() {
            a.push(entry);
        } else {
            *h = json!([entry]);
        }
    }

    /// A history entry of a metadata instruction (no layer).
    pub fn history(&mut self, created_by: &str, created: &str, _layer: bool) {
        self.history_layer(created_by, created, false);
    }

    /// A history entry; `empty_layer` when the step made no layer.
    pub fn history_layer(&mut self, created_by: &str, created: &str, layer: bool) {
        let mut e = json!({
            "created": created,
            "created_by": created_by,
            "comment": HISTORY_COMMENT,
        });
        if !layer {
            e["empty_layer"] = json!(true);
        }
        self.push_history(e);
    }

    /// Gives the entries written without a time (metadata steps) the
    /// build's time.
    pub fn fill_history_times(&mut self, created: &str) {
        if let Some(Value::Array(h)) = self.doc.get_mut("history") {
            for e in h {
                if e.get("created").and_then(Value::as_str) == Some("") {
                    e["created"] = json!(created);
                }
            }
        }
    }

    pub fn push_layer(&mut self, l: LayerRecord) {
        self.layers.push(l);
        let ids: Vec<String> = self.diff_ids().iter().map(Digest::to_string).collect();
        self.doc
            .insert("rootfs".into(), json!({"type": "layers", "diff_ids": ids}));
    }

    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// Unpacked layer directories, bottom first.
    pub fn layer_paths(&self, store: &ImageStore) -> Vec<PathBuf> {
        self.layers
            .iter()
            .map(|l| store.layers().path(&l.chain_id))
            .collect()
    }
}

/// WORKDIR relative to the current one, cleaned.
pub fn join_workdir(cur: &str, w: &str) -> String {
    if w.starts_with('/') {
        clean(w)
    } else {
        clean(&format!("{cur}/{w}"))
    }
}

/// Go's `%q` of a `[]string`: `["a" "b c"]`.
pub fn go_quoted(args: &[String]) -> String {
    let q: Vec<String> = args
        .iter()
        .map(|a| serde_json::to_string(a).unwrap_or_default())
        .collect();
    format!("[{}]", q.join(" "))
}

/// `RUN` history as BuildKit writes it: declared build args first
/// (`|2 A=1 B=2`), then the command.
pub fn run_history(args: &[String], build_args: &[(String, String)]) -> String {
    let mut parts = Vec::new();
    if !build_args.is_empty() {
        parts.push(format!("|{}", build_args.len()));
        parts.extend(build_args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    format!("RUN {}", parts.join(" "))
}

/// An EXPOSE word: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`...
pub fn expose_port(w: &str) -> Result<Vec<String>, BuildError> {
    let (ports, proto) = w.split_once('/').unwrap_or((w, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(BuildError::Step(format!(
            "EXPOSE {w}: invalid protocol {proto:?} (tcp, udp or sctp)"
        )));
    }
    let bad = || {
        BuildError::Step(format!(
            "EXPOSE {w}: invalid port (expected 1-65535 or a range)"
        ))
    };
    let num = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// STOPSIGNAL takes a number or a signal name (with or without SIG).
pub fn check_signal(s: &str) -> Result<(), BuildError> {
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let ok = s.parse::<u8>().is_ok_and(|n| n > 0)
        || SIGNALS.contains(&name)
        || name.starts_with("RTMIN")
        || name.starts_with("RTMAX");
    if ok {
        Ok(())
    } else {
        Err(BuildError::Step(format!("STOPSIGNAL: invalid signal: {s}")))
    }
}

/// Go's `time.Duration.String()`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns as f64 / 1e6));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    let s = trim_frac((secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

fn trim_frac(x: f64) -> String {
    let s = format!("{x:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The config's Healthcheck and the history's `%+v` text of it.
pub fn healthcheck(h: &Health) -> (Value, String) {
    match h {
        Health::None => (
            json!({"Test": ["NONE"]}),
            "{Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}".into(),
        ),
        Health::Cmd {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let mut v = json!({"Test": test});
            let d = |x: &Option<Duration>| x.unwrap_or_default();
            for (k, x) in [
                ("Interval", interval),
                ("Timeout", timeout),
                ("StartPeriod", start_period),
                ("StartInterval", start_interval),
            ] {
                if let Some(x) = x {
                    v[k] = json!(x.as_nanos() as u64);
                }
            }
            if let Some(r) = retries {
                v["Retries"] = json!(r);
            }
            let text = format!(
                "{{Test:[{}] Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
                test.join(" "),
                go_duration(d(interval)),
                go_duration(d(timeout)),
                go_duration(d(start_period)),
                go_duration(d(start_interval)),
                retries.unwrap_or(0)
            );
            (v, text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_quoted(&["a".into(), "b c".into()]), "[\"a\" \"b c\"]");
        assert_eq!(
            run_history(
                &["/bin/sh".into(), "-c".into(), "x".into()],
                &[("A".into(), "1".into())]
            ),
            "RUN |1 A=1 /bin/sh -c x"
        );
    }

    #[test]
    fn ports_signals_workdirs() {
        assert_eq!(expose_port("80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_port("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(expose_port("8000-8002").unwrap().len(), 3);
        assert!(expose_port("http").is_err());
        assert!(check_signal("SIGTERM").is_ok() && check_signal("9").is_ok());
        assert!(check_signal("SIGNOPE").is_err());
        assert_eq!(join_workdir("/a", "b/../c"), "/a/c");
        assert_eq!(join_workdir("/a", "/x/"), "/x");
    }

    #[test]
    fn env_and_commands() {
        let mut s = ImageState::scratch();
        s.ensure_path();
        s.set_env("A", "1");
        s.set_env("A", "2");
        assert_eq!(s.env()[1], "A=2");
        assert_eq!(
            s.command(&Command::Shell("echo hi".into())),
            ["/bin/sh", "-c", "echo hi"]
        );
        s.set("Shell", json!(["/bin/bash", "-eo"]));
        assert_eq!(s.command(&Command::Shell("x".into()))[0], "/bin/bash");
    }
}
