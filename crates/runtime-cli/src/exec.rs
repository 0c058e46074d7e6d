//! `berth-runtime exec`: runc's flags turned into the process to run.

use std::path::{Path, PathBuf};

use berth_runtime::{Error, ExecOptions};
use clap::Args;
use oci_spec::runtime::{Capability, Process};

#[derive(Args)]
pub struct ExecArgs {
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Set an environment variable (NAME=value); repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// Allocate a pseudo-terminal: its master goes to --console-socket, or
    /// (in the foreground) is relayed to this command's own stdio.
    #[arg(short, long)]
    tty: bool,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional gid; repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// process.json holding the whole process (the flags above are ignored then).
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility; SELinux labels are not applied.
    #[arg(long)]
    process_label: Option<String>,
    /// Accepted for runc compatibility; AppArmor profiles are not applied.
    #[arg(long)]
    apparmor: Option<String>,
    /// Set no_new_privileges for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Add a capability to the process's sets; repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Pass this many extra fds (3, 4, ...) to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Run in a sub-cgroup (not supported).
    #[arg(long)]
    cgroup: Vec<String>,
    /// Allow exec into a paused container.
    #[arg(long)]
    ignore_paused: bool,
    pub id: String,
    /// The command and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArg {
        arg: field.into(),
        reason: reason.into(),
    }
}

impl ExecArgs {
    pub fn detach(&self) -> bool {
        self.detach
    }

    pub fn options(&self) -> Result<ExecOptions, Error> {
        if !self.cgroup.is_empty() {
            return Err(invalid(
                "--cgroup",
                "exec into a sub-cgroup is not supported; the process joins the container's cgroup",
            ));
        }
        Ok(ExecOptions {
            console_socket: self.console_socket.as_ref().map(|p| crate::absolute(p)),
            preserve_fds: self.preserve_fds,
            pid_file: self.pid_file.as_ref().map(|p| crate::absolute(p)),
            ignore_paused: self.ignore_paused,
        })
    }

    /// The process: `--process` as given, or the container's own process
    /// from `bundle`'s config.json changed by the flags (as runc does).
    pub fn process(&self, bundle: &Path) -> Result<Process, Error> {
        if let Some(path) = &self.process {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                what: "reading",
                path: path.clone(),
                source,
            })?;
            return parse_process(&text)
                .map_err(|e| invalid("--process", format!("{}: {e}", path.display())));
        }
        let config = bundle.join("config.json");
        let spec = berth_runtime::read_spec(&config).map_err(|source| match source {
            oci_spec::OciSpecError::Io(source) => Error::Io {
                what: "reading the container's config (the flag form of exec needs its bundle)",
                path: config.clone(),
                source,
            },
            source => Error::Config {
                path: config.clone(),
                source,
            },
        })?;
        self.apply(spec.process().clone().unwrap_or_default())
    }

    /// The flags applied to the container's process.
    fn apply(&self, mut p: Process) -> Result<Process, Error> {
        if self.command.is_empty() {
            return Err(invalid(
                "exec",
                "name the command to run after the container id, or pass --process",
            ));
        }
        p.set_args(Some(self.command.clone()));
        p.set_terminal(Some(self.tty));
        p.set_console_size(None);
        if let Some(cwd) = &self.cwd {
            p.set_cwd(cwd.clone());
        }
        if !self.env.is_empty() {
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(self.env.iter().cloned());
            p.set_env(Some(env));
        }
        let mut user = p.user().clone();
        if let Some(u) = &self.user {
            let (uid, gid) = parse_user(u)?;
            user.set_uid(uid);
            user.set_gid(gid.unwrap_or(user.gid()));
        }
        if !self.additional_gids.is_empty() {
            user.set_additional_gids(Some(self.additional_gids.clone()));
        }
        p.set_user(user);
        if self.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if !self.cap.is_empty() {
            p.set_capabilities(Some(add_caps(p.capabilities().clone(), &self.cap)?));
        }
        Ok(p)
    }
}

/// `UID[:GID]`, numeric as runc takes them.
fn parse_user(s: &str) -> Result<(u32, Option<u32>), Error> {
    let bad = || {
        invalid(
            "--user",
            format!("{s:?} is not UID[:GID] (numbers; names are not looked up)"),
        )
    };
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

/// `--cap` adds to the bounding, effective and permitted sets, and to the
/// inheritable and ambient ones when the process already has inheritable
/// capabilities (ambient ones need them), as runc does.
fn add_caps(
    caps: Option<oci_spec::runtime::LinuxCapabilities>,
    names: &[String],
) -> Result<oci_spec::runtime::LinuxCapabilities, Error> {
    let mut caps = caps.unwrap_or_default();
    let mut add = Vec::new();
    for n in names {
        let up = n.to_ascii_uppercase();
        let full = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        let c: Capability = serde_json::from_value(full.clone().into())
            .map_err(|_| invalid("--cap", format!("unknown capability {n:?}")))?;
        add.push(c);
    }
    let extend = |set: &Option<std::collections::HashSet<Capability>>| {
        let mut s = set.clone().unwrap_or_default();
        s.extend(add.iter().copied());
        Some(s)
    };
    caps.set_bounding(extend(caps.bounding()));
    caps.set_effective(extend(caps.effective()));
    caps.set_permitted(extend(caps.permitted()));
    if caps.inheritable().as_ref().is_some_and(|s| !s.is_empty()) {
        caps.set_inheritable(extend(caps.inheritable()));
        caps.set_ambient(extend(caps.ambient()));
    }
    Ok(caps)
}

/// A process.json as runc reads it: `user` may be left out (uid and gid 0),
/// which the spec's type would refuse.
fn parse_process(text: &str) -> Result<Process, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    if let Some(o) = v.as_object_mut() {
        o.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_json::from_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ExecArgs,
    }

    fn args(v: &[&str]) -> ExecArgs {
        T::try_parse_from(std::iter::once("exec").chain(v.iter().copied()))
            .expect("parse")
            .a
    }

    #[test]
    fn flags_change_the_containers_process() {
        let base: Process = serde_json::from_value(serde_json::json!({
            "args": ["sh"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]}
        }))
        .expect("process");
        let a = args(&[
            "-e",
            "A=1",
            "--cwd",
            "/tmp",
            "-u",
            "1000:1001",
            "-g",
            "5",
            "--cap",
            "net_raw",
            "--no-new-privs",
            "ctr",
            "ls",
            "-l",
            "/",
        ]);
        assert_eq!(a.id, "ctr");
        let p = a.apply(base).expect("apply");
        assert_eq!(
            p.args().as_deref(),
            Some(&["ls".into(), "-l".into(), "/".into()][..])
        );
        assert_eq!(
            p.env().as_deref(),
            Some(&["PATH=/bin".into(), "A=1".into()][..])
        );
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5][..]));
        assert_eq!(p.no_new_privileges(), Some(true));
        let caps = p.capabilities().clone().expect("caps");
        assert!(caps
            .bounding()
            .as_ref()
            .expect("b")
            .contains(&Capability::NetRaw));
        assert!(caps
            .permitted()
            .as_ref()
            .expect("p")
            .contains(&Capability::NetRaw));
        assert!(
            caps.ambient().is_none(),
            "no inheritable set: ambient untouched"
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let base = Process::default();
        for (v, field) in [
            (&["ctr"][..], "exec"),
            (&["-u", "root", "ctr", "id"][..], "--user"),
            (&["--cap", "CAP_NOPE", "ctr", "id"][..], "--cap"),
        ] {
            let e = args(v).apply(base.clone()).expect_err("refused");
            assert!(e.to_string().contains(field), "{e}");
        }
        assert!(args(&["--cgroup", "x", "ctr", "id"]).options().is_err());
    }

    /// runc's test "exec [tty consolesize]" passes a process.json without
    /// `user`: root, as runc reads it.
    #[test]
    fn process_json_without_user_is_root() {
        let p = parse_process(r#"{"args": ["true"], "cwd": "/"}"#).expect("no user");
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        let p = parse_process(r#"{"args": ["true"], "cwd": "/", "user": {"uid": 5, "gid": 6}}"#)
            .expect("user");
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        assert!(parse_process("[1]").is_err());
    }
}
