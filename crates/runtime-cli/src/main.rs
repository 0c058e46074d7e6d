//! `berth-runtime`: an OCI runtime with runc's command line.
//! Thin: parse arguments, call `berth_runtime`, print.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_runtime::{CreateOptions, Runtime};
use clap::{Args, Parser, Subcommand};

mod exec;
mod observe;
mod update;

/// `-v`/`--version` in runc's shape (`NAME version X`, then `spec: Y`),
/// which Docker's `info` parses for its default runtime.
const VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version = VERSION,
    disable_version_flag = true,
    about = "An OCI container runtime (runc-compatible command line)"
)]
struct Cli {
    /// Print the version (runc's -v).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: (),
    /// Directory for container state [default: /run/berth-runtime, or
    /// $XDG_RUNTIME_DIR/berth-runtime for a rootless caller, as runc]
    #[arg(long, global = true, env = "BERTH_RUNTIME_ROOT")]
    root: Option<PathBuf>,
    /// Append errors to this file (as containerd and Docker pass it).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Verbose logging to stderr.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; cgroups are managed through cgroupfs.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (auto, true, false).
    #[arg(long)]
    rootless: Option<String>,
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, global = true)]
    criu: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
struct CreateArgs {
    /// Path to the bundle (the directory holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master (terminal containers).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the container's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Do not create a session keyring for the container.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many extra fds (3, 4, ...) to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

/// Each command's arguments are built only when it runs (or for help):
/// building all of them cost a fifth of a start's page faults.
#[derive(Subcommand)]
#[command(defer = true)]
enum Cmd {
    /// Create a container; its process waits until `start`.
    Create(CreateArgs),
    /// Start the process of a created container.
    Start { id: String },
    /// Create and start a container.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container runs.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Print the state of a container as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// Kill the container first if it is running.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only print ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for a non-root caller (user namespace, no cgroups).
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
    },
    /// Print the features this runtime supports, as JSON.
    Features,
    /// Run a new process in a running container.
    Exec(exec::ExecArgs),
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List the processes of a container.
    Ps {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print a container's cgroup statistics as JSON, every --interval.
    Events {
        /// How often to print statistics.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Print the statistics once and exit.
        #[arg(long)]
        stats: bool,
        id: String,
    },
    /// Change the resource limits of a container.
    Update(update::UpdateArgs),
}

fn main() -> ExitCode {
    // The container's init runs this binary until it execs: make every path
    // to it that the container can reach read-only first. Before clap, which
    // would otherwise build and parse everything twice (once on each side
    // of the re-exec): a third of what this first start of the binary costs.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let protected = parents_containers(&args).then(berth_runtime::protect_runtime_binary);
    let cli = Cli::parse_from(args);
    if let Some(Err(e)) = protected {
        report(&cli, &e.to_string());
        return ExitCode::from(1);
    }
    if cli.debug {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("debug")
            .init();
    }
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&cli, &e.to_string());
            // As runc: `exec` fails with 255, which no process's own exit
            // status (0-255 from the process, 128+N for a signal) is taken
            // to mean by convention; every other command with 1.
            ExitCode::from(if matches!(cli.cmd, Cmd::Exec(_)) {
                255
            } else {
                1
            })
        }
    }
}

/// The global flags that take a value (a unit test checks the list against clap's).
const TAKES_VALUE: [&str; 5] = ["--root", "--log", "--log-format", "--criu", "--rootless"];

/// Whether the command line asks for a command whose process becomes a
/// container's init (`create`, `run`, `exec`). Found by skipping the global
/// flags, the way clap reads them: those that take a value take the next
/// argument unless written `--flag=value`.
fn parents_containers(args: &[std::ffi::OsString]) -> bool {
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        // Not UTF-8: not a command's name (clap would refuse it there), so
        // a flag's value written `--flag=value`; the command comes later.
        let Some(a) = a.to_str() else { continue };
        if TAKES_VALUE.contains(&a) {
            rest.next();
        } else if !a.starts_with('-') {
            return matches!(a, "create" | "run" | "exec");
        }
    }
    false
}

/// Errors go to stderr and, when given, to --log in the requested format
/// (containerd reads the last json line of it when a runtime call fails).
fn report(cli: &Cli, msg: &str) {
    eprintln!("berth-runtime: {msg}");
    let Some(path) = &cli.log else { return };
    let line = if cli.log_format == "json" {
        serde_json::json!({ "level": "error", "msg": msg, "time": berth_runtime::state::now_rfc3339() })
            .to_string()
    } else {
        format!(
            "time=\"{}\" level=error msg={msg:?}",
            berth_runtime::state::now_rfc3339()
        )
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

fn options(a: &CreateArgs) -> Result<CreateOptions, berth_runtime::Error> {
    Ok(CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.as_ref().map(|p| absolute(p)),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        listen_fds: listen_fds(),
        console_socket: a.console_socket.as_ref().map(|p| absolute(p)),
    })
}

/// Socket activation: LISTEN_FDS counts the descriptors from 3 on that a
/// service manager passed, when LISTEN_PID names this process (as
/// systemd's sd_listen_fds checks).
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn run(cli: &Cli) -> Result<u8, berth_runtime::Error> {
    let rt = Runtime {
        root: cli
            .root
            .clone()
            .unwrap_or_else(berth_runtime::default_state_root),
        ..Runtime::default()
    };
    match &cli.cmd {
        Cmd::Create(a) => rt.create(&options(a)?).map(|_| 0),
        Cmd::Start { id } => rt.start(id).map(|_| 0),
        Cmd::Run {
            create,
            detach,
            keep,
        } => rt
            .run(&options(create)?, *detach, *keep)
            .map(|c| c.clamp(0, 255) as u8),
        Cmd::State { id } => {
            let s = rt.state(id)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            rt.kill(id, sig, *all).map(|_| 0)
        }
        Cmd::Delete { force, id } => rt.delete(id, *force).map(|_| 0),
        Cmd::List { format, quiet } => {
            let list = rt.list()?;
            if *quiet {
                for c in &list {
                    println!("{}", c.id);
                }
            } else if format == "json" {
                println!("{}", serde_json::to_string(&list).unwrap_or_default());
            } else {
                println!(
                    "{:<12} {:<8} {:<10} {:<40} {:<32} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for c in &list {
                    println!(
                        "{:<12} {:<8} {:<10} {:<40} {:<32} {}",
                        c.id,
                        c.pid,
                        c.status,
                        c.bundle.display(),
                        c.created,
                        if c.owner.is_empty() { "root" } else { &c.owner }
                    );
                }
            }
            Ok(0)
        }
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(berth_runtime::Error::InvalidArg {
                    arg: "spec".into(),
                    reason: format!("{} already exists", path.display()),
                });
            }
            let spec = berth_runtime::spec::default_spec(*rootless);
            let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
            std::fs::write(&path, text + "\n").map_err(|source| berth_runtime::Error::Io {
                what: "writing",
                path,
                source,
            })?;
            Ok(0)
        }
        Cmd::Exec(a) => {
            let bundle = rt.bundle(&a.id)?;
            let process = a.process(&bundle)?;
            let opts = a.options()?;
            if a.detach() {
                rt.exec(&a.id, &process, &opts).map(|_| 0)
            } else {
                rt.exec_wait(&a.id, &process, &opts)
                    .map(|c| c.clamp(0, 255) as u8)
            }
        }
        Cmd::Pause { id } => rt.pause(id).map(|_| 0),
        Cmd::Resume { id } => rt.resume(id).map(|_| 0),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => ps(&rt, format, id, ps_args),
        Cmd::Events {
            interval,
            stats,
            id,
        } => events(&rt, id, *stats, interval),
        Cmd::Update(a) => rt.update(&a.id, &a.resources()?).map(|_| 0),
        Cmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&berth_runtime::spec::features()).unwrap_or_default()
            );
            Ok(0)
        }
    }
}

fn ps(rt: &Runtime, format: &str, id: &str, args: &[String]) -> Result<u8, berth_runtime::Error> {
    let pids = rt.pids(id)?;
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids).unwrap_or_default());
            return Ok(0);
        }
        "table" => {}
        other => {
            return Err(berth_runtime::Error::InvalidArg {
                arg: "--format".into(),
                reason: format!("{other:?}: use table or json"),
            })
        }
    }
    let args: Vec<&str> = if args.is_empty() {
        vec!["-ef"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|source| berth_runtime::Error::Io {
            what: "running",
            path: "ps".into(),
            source,
        })?;
    for line in observe::filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)? {
        println!("{line}");
    }
    Ok(0)
}

/// `events`: statistics once (`--stats`) or every `interval` until the
/// container stops.
fn events(rt: &Runtime, id: &str, once: bool, interval: &str) -> Result<u8, berth_runtime::Error> {
    let every = observe::parse_interval(interval)?;
    loop {
        let stats =
            match rt.stats(id) {
                Ok(s) => s,
                // The container went away while we watched: the stream ends.
                Err(
                    berth_runtime::Error::WrongState { .. } | berth_runtime::Error::NotFound(_),
                ) if !once => return Ok(0),
                Err(e) => return Err(e),
            };
        let line = observe::stats_event(id, &stats);
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(0);
        }
        if once {
            return Ok(0);
        }
        std::thread::sleep(every);
    }
}

/// `9`, `KILL`, `SIGKILL`, `sigkill`, `RTMIN+1`, `0`.
fn parse_signal(s: &str) -> Result<i32, berth_runtime::Error> {
    let bad = || berth_runtime::Error::InvalidArg {
        arg: "signal".into(),
        reason: format!("unknown signal {s:?}"),
    };
    if let Ok(n) = s.parse::<i32>() {
        // 0 sends nothing and only checks that the processes exist, as
        // kill(2) (runc takes it too: `kill -a ID 0`).
        return if (0..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => {
            if let Some(off) = name.strip_prefix("RTMIN+") {
                SIGRTMIN + off.parse::<i32>().map_err(|_| bad())?
            } else if let Some(off) = name.strip_prefix("RTMAX-") {
                SIGRTMAX - off.parse::<i32>().map_err(|_| bad())?
            } else {
                return Err(bad());
            }
        }
    };
    if n > SIGRTMAX {
        return Err(bad());
    }
    Ok(n)
}

/// Linux's real-time signal range as user space sees it (glibc keeps 32
/// and 33 for itself).
const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn version_has_runcs_shape() {
        for flag in ["-v", "--version"] {
            let e = Cli::try_parse_from(["berth-runtime", flag])
                .err()
                .expect("version exits early");
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
        }
        let text = Cli::command().render_version();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                concat!("berth-runtime version ", env!("CARGO_PKG_VERSION")),
                "spec: 1.2.0"
            ]
        );
    }

    #[test]
    fn the_commands_that_start_an_init_are_found_before_clap() {
        let yes = [
            "run x",
            "--root /r create -b b x",
            "--root=/r --debug exec -t x sh",
            "--log run --log-format json run x",
            "--systemd-cgroup --rootless false create x",
        ];
        let no = [
            "",
            "-v",
            "--root run state x",
            "--log create delete -f x",
            "list",
            "kill x run",
        ];
        let parse = |line: &str| -> Vec<std::ffi::OsString> {
            std::iter::once("berth-runtime")
                .chain(line.split_whitespace())
                .map(Into::into)
                .collect()
        };
        for line in yes {
            assert!(parents_containers(&parse(line)), "{line}");
            // And clap agrees on the command.
            let cli = Cli::try_parse_from(parse(line)).expect(line);
            assert!(
                matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec(_)),
                "{line}"
            );
        }
        for line in no {
            assert!(!parents_containers(&parse(line)), "{line}");
        }
        // A value that is not UTF-8 does not hide the command after it.
        use std::os::unix::ffi::OsStringExt;
        let odd = std::ffi::OsString::from_vec(b"--root=/r\xff".to_vec());
        let args = vec!["berth-runtime".into(), odd, "run".into(), "x".into()];
        assert!(parents_containers(&args));
        // Every top-level flag that takes a value is known to the scan.
        for a in Cli::command().get_arguments() {
            if let Some(long) = a.get_long().filter(|_| a.get_action().takes_values()) {
                assert!(
                    TAKES_VALUE.contains(&format!("--{long}").as_str()),
                    "--{long}"
                );
            }
        }
    }
}
