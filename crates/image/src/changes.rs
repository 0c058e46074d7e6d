//! Dockerfile instructions applied to an image config, as `docker import
//! --change` takes them: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE and
//! LABEL. A pure module: text in, typed [`Change`] out, then applied to the
//! config's JSON.

use std::str::FromStr;

use serde_json::{Map, Value};

/// One `--change` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    Workdir(String),
    User(String),
    /// Ports as `80/tcp`.
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
}

/// A `--change` that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("--change {input:?}: {problem}")]
pub struct ChangeError {
    input: String,
    problem: String,
}

const SUPPORTED: &str = "CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL";

impl FromStr for Change {
    type Err = ChangeError;

    fn from_str(input: &str) -> Result<Change, ChangeError> {
        let err = |problem: String| ChangeError {
            input: input.chars().take(200).collect(),
            problem,
        };
        let s = input.trim();
        let (word, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let rest = rest.trim();
        let need = |what: &str| {
            if rest.is_empty() {
                Err(err(format!("{} needs {what}", word.to_uppercase())))
            } else {
                Ok(())
            }
        };
        match word.to_ascii_uppercase().as_str() {
            "CMD" => need("a command").map(|()| Change::Cmd(command(rest))),
            "ENTRYPOINT" => need("a command").map(|()| Change::Entrypoint(command(rest))),
            "ENV" => need("KEY=VALUE").and_then(|()| pairs(rest).map(Change::Env).map_err(err)),
            "LABEL" => need("KEY=VALUE").and_then(|()| pairs(rest).map(Change::Label).map_err(err)),
            "WORKDIR" => need("a directory").map(|()| {
                Change::Workdir(if rest.starts_with('/') {
                    rest.to_owned()
                } else {
                    format!("/{rest}")
                })
            }),
            "USER" => need("a user").map(|()| Change::User(rest.to_owned())),
            "EXPOSE" => need("a port").and_then(|()| {
                rest.split_whitespace()
                    .map(port)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Change::Expose)
                    .map_err(err)
            }),
            "" => Err(err("is empty".into())),
            other => Err(err(format!(
                "{other} is not supported here (supported: {SUPPORTED})"
            ))),
        }
    }
}

/// Exec form (`["a","b"]`) or shell form (`a b` → `/bin/sh -c "a b"`).
fn command(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

fn port(p: &str) -> Result<String, String> {
    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?} in port {p:?}"));
    }
    match num.parse::<u16>() {
        Ok(n) if n > 0 => Ok(format!("{n}/{proto}")),
        _ => Err(format!(
            "invalid port {p:?} (expected 1-65535[/tcp|udp|sctp])"
        )),
    }
}

/// Splits on unquoted whitespace, removing quotes and backslash escapes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                let next = chars.next().ok_or("ends with a lone backslash")?;
                cur.push(next);
                in_word = true;
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("has an unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `K=V K2="a b"`, or the legacy `K value with spaces`.
fn pairs(rest: &str) -> Result<Vec<(String, String)>, String> {
    let ws = words(rest)?;
    let first_has_eq = ws.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(k.to_owned(), words(v.trim())?.join(" "))]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Applies `changes` in order to an image config's `config` object.
pub fn apply(changes: &[Change], cfg: &mut Map<String, Value>) {
    let strings = |v: &[String]| Value::from(v.to_vec());
    for c in changes {
        match c {
            Change::Cmd(v) => {
                cfg.insert("Cmd".into(), strings(v));
            }
            Change::Entrypoint(v) => {
                cfg.insert("Entrypoint".into(), strings(v));
            }
            Change::Env(kv) => {
                let mut env: Vec<String> = cfg
                    .get("Env")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for (k, v) in kv {
                    env.retain(|e| e.split('=').next() != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                }
                cfg.insert("Env".into(), Value::from(env));
            }
            Change::Workdir(d) => {
                cfg.insert("WorkingDir".into(), Value::from(d.clone()));
            }
            Change::User(u) => {
                cfg.insert("User".into(), Value::from(u.clone()));
            }
            Change::Expose(ports) => {
                let e = object(cfg, "ExposedPorts");
                for p in ports {
                    e.insert(p.clone(), Value::Object(Map::new()));
                }
            }
            Change::Label(kv) => {
                let l = object(cfg, "Labels");
                for (k, v) in kv {
                    l.insert(k.clone(), Value::from(v.clone()));
                }
            }
        }
    }
}

fn object<'a>(cfg: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = cfg
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object just above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Change {
        s.parse().expect(s)
    }

    #[test]
    fn parses_each_instruction() {
        assert_eq!(
            p(r#"CMD ["sh","-c","x"]"#),
            Change::Cmd(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(
            p("cmd echo hi"),
            Change::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(
            p(r#"ENV A=1 B="two words" C=a\ b"#),
            Change::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "a b".into())
            ])
        );
        assert_eq!(
            p("ENV K legacy value"),
            Change::Env(vec![("K".into(), "legacy value".into())])
        );
        assert_eq!(p("WORKDIR app"), Change::Workdir("/app".into()));
        assert_eq!(p("USER 1000:1000"), Change::User("1000:1000".into()));
        assert_eq!(
            p("EXPOSE 80 53/UDP"),
            Change::Expose(vec!["80/tcp".into(), "53/udp".into()])
        );
        assert_eq!(
            p(r#"LABEL a=b "c d"=e"#),
            Change::Label(vec![("a".into(), "b".into()), ("c d".into(), "e".into())])
        );
        for bad in [
            "RUN x",
            "EXPOSE 0",
            "EXPOSE 80/icmp",
            "ENV A=\"x",
            "CMD",
            "",
            "LABEL =x",
        ] {
            assert!(bad.parse::<Change>().is_err(), "{bad}");
        }
    }

    #[test]
    fn applies_in_order() {
        let mut cfg = Map::new();
        apply(
            &[
                p("ENV A=1 B=2"),
                p("ENV A=3"),
                p("EXPOSE 80"),
                p("LABEL x=y"),
                p("WORKDIR /w"),
            ],
            &mut cfg,
        );
        assert_eq!(cfg["Env"], serde_json::json!(["B=2", "A=3"]));
        assert_eq!(cfg["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(cfg["Labels"], serde_json::json!({"x": "y"}));
        assert_eq!(cfg["WorkingDir"], "/w");
    }
}
