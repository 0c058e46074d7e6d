//! `login` / `logout`: credentials in `~/.docker/config.json`, as Docker
//! stores them, checked against the registry before they are saved.

use std::io::{BufRead, IsTerminal, Write};

use berth_registry::auth::{Credentials, DockerConfig};
use berth_registry::{Client, ClientOptions};

use super::{runtime, CliError, Global, Result};

#[derive(clap::Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    username: Option<String>,
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Registry (default: docker.io).
    server: Option<String>,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    server: Option<String>,
}

/// `https://index.docker.io/v1/` and friends → `docker.io`; a URL → its host.
fn registry_name(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn config() -> Result<DockerConfig> {
    DockerConfig::default_path()
        .map(DockerConfig::at)
        .ok_or_else(|| {
            CliError::Usage("cannot locate the docker config: set HOME or DOCKER_CONFIG".into())
        })
}

fn prompt(text: &str) -> Result<String> {
    print!("{text}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| CliError::Io {
            what: "reading stdin".into(),
            source,
        })?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn prompt_hidden(text: &str) -> Result<String> {
    let stdin = std::io::stdin();
    let old = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(old) = &old {
        let mut t = old.clone();
        t.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t);
    }
    let r = prompt(text);
    if let Some(old) = &old {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, old);
    }
    println!();
    r
}

pub fn login(g: &Global, a: LoginArgs) -> Result<()> {
    let registry = registry_name(a.server.as_deref());
    let interactive = std::io::stdin().is_terminal();
    let username = match a.username {
        Some(u) => u,
        None if interactive && !a.password_stdin => prompt("Username: ")?,
        None => {
            return Err(CliError::Usage(
                "--username is required with --password-stdin or a non-interactive stdin".into(),
            ))
        }
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => {
            return Err(CliError::Usage(
                "--password and --password-stdin are mutually exclusive".into(),
            ))
        }
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|source| CliError::Io {
                    what: "reading the password from stdin".into(),
                    source,
                })?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
        (None, false) if interactive => prompt_hidden("Password: ")?,
        (None, false) => return Err(CliError::Usage("no password: pass --password-stdin".into())),
    };
    if username.is_empty() || password.is_empty() {
        return Err(CliError::Usage(
            "username and password must not be empty".into(),
        ));
    }
    let creds = Credentials { username, password };
    let client = Client::new(ClientOptions {
        insecure_registries: g.insecure_registries.clone(),
        credentials: Some((registry.clone(), creds.clone())),
        ..Default::default()
    })?;
    runtime()?.block_on(client.check_login(&registry, api_host(&registry)))?;
    let cfg = config()?;
    cfg.set(&registry, Some(&creds))?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(_g: &Global, a: LogoutArgs) -> Result<()> {
    let registry = registry_name(a.server.as_deref());
    if config()?.set(&registry, None)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}
