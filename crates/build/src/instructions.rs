//! The second layer of the parser: logical lines → typed instructions,
//! grouped into build stages, as BuildKit's `instructions/parse.go` does.
//! Words stay unexpanded here: variables are substituted by the builder,
//! which knows the ARG and ENV values of each step.

use std::time::Duration;

pub use crate::parser::ParseError;
use crate::parser::{self, looks_json, Heredoc, Node};

/// A command in exec form (`["a","b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// The flags and sources of COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// Sources as written (unexpanded); `<<EOF` names a heredoc.
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    None,
    Cmd {
        test: Vec<String>,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// One instruction, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        /// `--mount` values as written.
        mounts: Vec<String>,
        network: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Copy(CopyArgs),
    Add(CopyArgs),
    /// `KEY=VALUE` pairs (values unexpanded, quotes kept).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Health),
    /// The trigger's text as written, and the trigger itself.
    Onbuild(String, Box<Instruction>),
    Maintainer(String),
}

/// An instruction with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub kind: Kind,
    /// The logical line, continuations joined.
    pub original: String,
    pub line: usize,
    pub end_line: usize,
}

/// A build stage: `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Image reference, `scratch` or an earlier stage's name (unexpanded).
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    pub platform: Option<String>,
    pub line: usize,
    pub original: String,
    pub instructions: Vec<Instruction>,
}

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    /// `ARG`s before the first `FROM`: usable in `FROM` lines only.
    pub meta_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses a Dockerfile. Pure: text in, stages of typed instructions out;
/// every error names the line, the column and what was expected.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let raw = parser::parse_raw(text)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &raw.nodes {
        let ins = instruction(node, raw.escape)?;
        match ins.kind {
            Kind::From {
                image,
                name,
                platform,
            } => stages.push(Stage {
                base: image,
                name,
                platform,
                line: ins.line,
                original: ins.original,
                instructions: Vec::new(),
            }),
            Kind::Arg(args) if stages.is_empty() => meta_args.extend(args),
            kind => match stages.last_mut() {
                Some(s) => s.instructions.push(Instruction { kind, ..ins }),
                None => {
                    return Err(node.error(format!(
                        "{} before the first FROM: only ARG may come before FROM",
                        node.keyword.to_uppercase()
                    )))
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(ParseError {
            line: raw.nodes.last().map_or(1, |n| n.end_line),
            column: 1,
            message: "no FROM instruction: a Dockerfile must start a stage with FROM".into(),
        });
    }
    for (i, s) in stages.iter().enumerate() {
        if let Some(n) = &s.name {
            if stages[..i].iter().any(|p| p.name.as_ref() == Some(n)) {
                return Err(ParseError {
                    line: s.line,
                    column: 1,
                    message: format!("duplicate stage name {n:?}"),
                });
            }
        }
    }
    Ok(Dockerfile {
        escape: raw.escape,
        syntax: raw
            .directives
            .iter()
            .find(|(k, _)| k == "syntax")
            .map(|(_, v)| v.clone()),
        meta_args,
        stages,
        warnings: raw.warnings,
    })
}

/// The flags an instruction accepts, and whether each is a boolean.
fn allowed_flags(kw: &str) -> &'static [(&'static str, bool)] {
    match kw {
        "from" => &[("platform", false)],
        "run" => &[("mount", false), ("network", false), ("security", false)],
        "copy" => &[
            ("from", false),
            ("chown", false),
            ("chmod", false),
            ("link", true),
            ("parents", true),
            ("exclude", false),
        ],
        "add" => &[
            ("chown", false),
            ("chmod", false),
            ("link", true),
            ("checksum", false),
            ("keep-git-dir", true),
            ("exclude", false),
            ("unpack", true),
        ],
        "healthcheck" => &[
            ("interval", false),
            ("timeout", false),
            ("start-period", false),
            ("start-interval", false),
            ("retries", false),
        ],
        _ => &[],
    }
}

/// Flags by name, each value with the offset it was written at.
struct Flags<'a> {
    node: &'a Node,
    values: Vec<(String, String, usize)>,
}

impl<'a> Flags<'a> {
    fn parse(node: &'a Node, kw: &str) -> Result<Flags<'a>, ParseError> {
        let allowed = allowed_flags(kw);
        let mut values = Vec::new();
        for f in &node.flags {
            let body = f.text.trim_start_matches('-');
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some((_, is_bool)) = allowed.iter().find(|(n, _)| *n == name) else {
                let expected = if allowed.is_empty() {
                    format!("{} takes no flags", kw.to_uppercase())
                } else {
                    format!(
                        "expected one of {}",
                        allowed
                            .iter()
                            .map(|(n, _)| format!("--{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(node.error_at(f.offset, format!("unknown flag: --{name} ({expected})")));
            };
            let value = match (value, is_bool) {
                (Some(v), true) => match v {
                    "true" | "" => "true".to_owned(),
                    "false" => "false".to_owned(),
                    _ => {
                        return Err(node.error_at(
                            f.offset,
                            format!("expecting boolean value for flag --{name}, not: {v}"),
                        ))
                    }
                },
                (Some(v), false) => v.to_owned(),
                (None, true) => "true".to_owned(),
                (None, false) => {
                    return Err(node.error_at(
                        f.offset,
                        format!("missing a value on flag: --{name} (expected --{name}=VALUE)"),
                    ))
                }
            };
            values.push((name.to_owned(), value, f.offset));
        }
        Ok(Flags { node, values })
    }

    fn one(&self, name: &str) -> Result<Option<String>, ParseError> {
        let mut it = self.values.iter().filter(|(n, _, _)| n == name);
        let first = it.next().map(|(_, v, _)| v.clone());
        if let Some((_, _, off)) = it.next() {
            return Err(self
                .node
                .error_at(*off, format!("duplicate flag specified: --{name}")));
        }
        Ok(first)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.clone())
            .collect()
    }

    fn bool(&self, name: &str) -> Result<bool, ParseError> {
        Ok(self.one(name)?.is_some_and(|v| v == "true"))
    }

    fn duration(&self, name: &str) -> Result<Option<Duration>, ParseError> {
        let Some(v) = self.one(name)? else {
            return Ok(None);
        };
        let off = self.offset(name);
        match parse_duration(&v) {
            Some(d) => Ok(Some(d)),
            None => Err(self.node.error_at(
                off,
                format!("invalid duration {v:?} for --{name} (expected e.g. 30s, 1m30s, 500ms)"),
            )),
        }
    }

    fn offset(&self, name: &str) -> usize {
        self.values
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(0, |(_, _, o)| *o)
    }
}

/// Go's `time.ParseDuration` for the units Docker takes (ns to h).
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let n = berth_engine::time::parse_duration(s)?;
    u64::try_from(n).ok().map(Duration::from_nanos)
}

fn need(node: &Node, kw: &str, what: &str) -> Result<(), ParseError> {
    if node.args.is_empty() {
        return Err(node.error_args(format!("{} requires {what}", kw.to_uppercase())));
    }
    Ok(())
}

/// JSON (exec) form when the arguments are a JSON array of strings;
/// an array holding anything else is an error; otherwise shell form.
fn command(node: &Node) -> Result<Command, ParseError> {
    command_of(node, &node.args)
}

fn command_of(node: &Node, args: &str) -> Result<Command, ParseError> {
    let t = args.trim_start();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<serde_json::Value>>(t) {
            return v
                .into_iter()
                .map(|x| match x {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(node.error_args(
                        "when using JSON array syntax, arrays must be comprised of strings only",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Command::Exec);
        }
    }
    Ok(Command::Shell(args.to_owned()))
}

/// A JSON list, or whitespace-separated words.
fn list(node: &Node) -> Result<Vec<String>, ParseError> {
    match command(node)? {
        Command::Exec(v) => Ok(v),
        Command::Shell(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
    }
}

/// Splits words as BuildKit's parseWords: on white space outside quotes,
/// with quotes and escapes kept for the later expansion.
fn words(rest: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut blank_ok = false;
    let mut it = rest.chars().peekable();
    while let Some(c) = it.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word && (blank_ok || !cur.is_empty()) {
                    out.push(std::mem::take(&mut cur));
                }
                in_word = false;
                blank_ok = false;
                continue;
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if let Some(n) = it.next() {
                        cur.push(c);
                        cur.push(n);
                    }
                    continue;
                }
                cur.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    match it.next() {
                        Some(n) => {
                            cur.push(c);
                            cur.push(n);
                        }
                        None => quote = None,
                    }
                    continue;
                }
                cur.push(c);
            }
        }
    }
    if in_word && (blank_ok || !cur.is_empty()) {
        out.push(cur);
    }
    out
}

/// ENV and LABEL: `k=v k2=v2`, or the legacy `k v` (one pair).
fn name_vals(node: &Node, kw: &str, escape: char) -> Result<Vec<(String, String)>, ParseError> {
    let ws = words(&node.args, escape);
    if ws.is_empty() {
        return Err(node.error_args(format!(
            "{} requires at least one argument",
            kw.to_uppercase()
        )));
    }
    if !ws[0].contains('=') {
        let mut parts = node.args.splitn(2, |c: char| c.is_whitespace());
        let k = parts.next().unwrap_or_default();
        let v = parts.next().map(str::trim_start).unwrap_or_default();
        if v.is_empty() {
            return Err(node.error_args(format!(
                "{} must have two arguments (expected {} KEY=VALUE)",
                kw.to_uppercase(),
                kw.to_uppercase()
            )));
        }
        return Ok(vec![(k.to_owned(), v.to_owned())]);
    }
    let mut out = Vec::new();
    for w in ws {
        let Some((k, v)) = w.split_once('=') else {
            let off = node.args_offset + node.args.find(w.as_str()).unwrap_or(0);
            return Err(node.error_at(
                off,
                format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"),
            ));
        };
        if k.is_empty() {
            return Err(node.error_args(format!("{} names must not be empty", kw.to_uppercase())));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

fn valid_stage_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '-' | '_' | '.'))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn instruction(node: &Node, escape: char) -> Result<Instruction, ParseError> {
    let kw = node.keyword.to_ascii_lowercase();
    let flags = Flags::parse(node, &kw)?;
    let kind = match kw.as_str() {
        "from" => {
            need(node, &kw, "at least one argument (an image, or scratch)")?;
            let parts: Vec<&str> = node.args.split_whitespace().collect();
            let name = match parts.as_slice() {
                [_] => None,
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => {
                    let n = n.to_ascii_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(node.error_at(
                            node.args_offset + node.args.rfind(parts[2]).unwrap_or(0),
                            format!("invalid name for build stage: {:?}, name can't start with a number or contain symbols", parts[2]),
                        ));
                    }
                    Some(n)
                }
                _ => {
                    return Err(node.error_args(
                        "FROM requires either one or three arguments (FROM IMAGE [AS NAME])",
                    ))
                }
            };
            Kind::From {
                image: parts[0].to_owned(),
                name,
                platform: flags.one("platform")?,
            }
        }
        "run" => {
            if node.args.is_empty() {
                return Err(node.error_args("RUN requires at least one argument (a command)"));
            }
            if let Some(s) = flags.one("security")? {
                if s != "sandbox" {
                    return Err(node.error_at(
                        flags.offset("security"),
                        format!("--security={s} is not supported (only sandbox)"),
                    ));
                }
            }
            Kind::Run {
                command: command(node)?,
                mounts: flags.all("mount"),
                network: flags.one("network")?,
                heredocs: node.heredocs.clone(),
            }
        }
        "cmd" => Kind::Cmd(command(node)?),
        "entrypoint" => Kind::Entrypoint(command(node)?),
        "shell" => {
            need(node, &kw, "at least one argument")?;
            match command(node)? {
                Command::Exec(v) if !v.is_empty() => Kind::Shell(v),
                _ => {
                    return Err(node.error_args(
                        "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]",
                    ))
                }
            }
        }
        "copy" | "add" => {
            let mut srcs = list(node)?;
            let exec_form = looks_json(&node.args);
            if srcs.len() < 2 {
                return Err(node.error_args(format!(
                    "{} requires at least two arguments, but only {} provided. Destination could not be determined.",
                    kw.to_uppercase(),
                    if srcs.is_empty() { "none was".to_owned() } else { "one was".to_owned() }
                )));
            }
            let dest = srcs.pop().unwrap_or_default();
            let args = CopyArgs {
                sources: srcs,
                dest,
                from: if kw == "copy" {
                    flags.one("from")?
                } else {
                    None
                },
                chown: flags.one("chown")?,
                chmod: flags.one("chmod")?,
                link: flags.bool("link")?,
                exclude: flags.all("exclude"),
                heredocs: if exec_form {
                    Vec::new()
                } else {
                    node.heredocs.clone()
                },
            };
            if flags.bool("parents")? {
                return Err(node.error_at(
                    flags.offset("parents"),
                    "--parents is not supported by berth yet",
                ));
            }
            if flags.one("checksum")?.is_some() || flags.bool("keep-git-dir")? {
                return Err(node.error_at(
                    node.flags.first().map_or(0, |f| f.offset),
                    "ADD --checksum and --keep-git-dir apply to remote sources, which berth does not fetch",
                ));
            }
            if kw == "copy" {
                Kind::Copy(args)
            } else {
                Kind::Add(args)
            }
        }
        "env" => Kind::Env(name_vals(node, &kw, escape)?),
        "label" => Kind::Label(name_vals(node, &kw, escape)?),
        "arg" => {
            let ws = words(&node.args, escape);
            if ws.is_empty() {
                return Err(
                    node.error_args("ARG requires at least one argument (ARG NAME[=DEFAULT])")
                );
            }
            Kind::Arg(
                ws.into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                        None => (w, None),
                    })
                    .collect(),
            )
        }
        "workdir" => {
            need(node, &kw, "exactly one argument (a directory)")?;
            Kind::Workdir(node.args.clone())
        }
        "user" => {
            need(node, &kw, "exactly one argument (USER NAME[:GROUP])")?;
            Kind::User(node.args.clone())
        }
        "expose" => {
            need(node, &kw, "at least one argument (a port)")?;
            Kind::Expose(node.args.split_whitespace().map(str::to_owned).collect())
        }
        "volume" => {
            need(node, &kw, "at least one argument (a path)")?;
            let v = list(node)?;
            if v.iter().any(|p| p.trim().is_empty()) {
                return Err(node.error_args("VOLUME specified can not be an empty string"));
            }
            Kind::Volume(v)
        }
        "stopsignal" => {
            need(node, &kw, "exactly one argument (a signal)")?;
            Kind::StopSignal(node.args.clone())
        }
        "maintainer" => {
            need(node, &kw, "exactly one argument")?;
            Kind::Maintainer(node.args.clone())
        }
        "healthcheck" => Kind::Healthcheck(healthcheck(node, &flags)?),
        "onbuild" => {
            need(node, &kw, "a trigger instruction (ONBUILD RUN ...)")?;
            let sub = node.sub(node.args_offset, escape)?;
            let sk = sub.keyword.to_ascii_lowercase();
            if matches!(sk.as_str(), "onbuild" | "from" | "maintainer") {
                return Err(node.error_args(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    sk.to_uppercase()
                )));
            }
            let inner = instruction(&sub, escape)?;
            Kind::Onbuild(node.args.clone(), Box::new(inner))
        }
        _ => {
            let guess = KEYWORDS
                .iter()
                .filter(|k| edit_distance(k, &kw) <= 2)
                .min_by_key(|k| edit_distance(k, &kw));
            let hint = guess.map_or_else(String::new, |g| {
                format!(" (did you mean {}?)", g.to_uppercase())
            });
            return Err(node.error(format!("unknown instruction: {}{hint}", node.keyword)));
        }
    };
    Ok(Instruction {
        kind,
        original: node.original.clone(),
        line: node.start_line,
        end_line: node.end_line,
    })
}

fn healthcheck(node: &Node, flags: &Flags<'_>) -> Result<Health, ParseError> {
    need(node, "healthcheck", "an argument: NONE or CMD ...")?;
    let (typ, rest) = node
        .args
        .split_once(char::is_whitespace)
        .unwrap_or((node.args.as_str(), ""));
    match typ.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.trim().is_empty() || !node.flags.is_empty() {
                return Err(node.error_args("HEALTHCHECK NONE takes no other arguments"));
            }
            Ok(Health::None)
        }
        "CMD" => {
            let test = match command_of(node, rest.trim())? {
                Command::Exec(v) => {
                    let mut t = vec!["CMD".to_owned()];
                    t.extend(v);
                    t
                }
                Command::Shell(s) if s.is_empty() => {
                    return Err(node.error_args("HEALTHCHECK CMD requires a command"))
                }
                Command::Shell(s) => vec!["CMD-SHELL".to_owned(), s],
            };
            let retries = match flags.one("retries")? {
                None => None,
                Some(r) => match r.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(node.error_at(
                            flags.offset("retries"),
                            format!("--retries must be a positive integer, not {r:?}"),
                        ))
                    }
                },
            };
            Ok(Health::Cmd {
                test,
                interval: flags.duration("interval")?,
                timeout: flags.duration("timeout")?,
                start_period: flags.duration("start-period")?,
                start_interval: flags.duration("start-interval")?,
                retries,
            })
        }
        other => Err(node.error_args(format!(
            "Unknown type {other:?} in HEALTHCHECK (try CMD or NONE)"
        ))),
    }
}

#[cfg(test)]
mod tests;
