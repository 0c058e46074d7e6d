//! OCI hooks: each runs with the container's state JSON on its stdin and,
//! when the spec gives one, a timeout after which it is killed.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Whether a spec's list of hooks of one kind has any.
pub fn any(hooks: &Option<Vec<Hook>>) -> bool {
    hooks.as_ref().is_some_and(|h| !h.is_empty())
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run_all(
    kind: &'static str,
    hooks: Option<&Vec<Hook>>,
    state: &serde_json::Value,
) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    let state = serde_json::to_vec(state).map_err(|e| Error::Init(e.to_string()))?;
    for h in hooks {
        run(kind, h, &state)?;
    }
    Ok(())
}

fn run(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        hook: kind,
        path: hook.path().clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that exits without reading its input is not an error.
        let _ = stdin.write_all(state);
    }
    if let Some(secs) = hook.timeout() {
        let pidfd = berth_sys::signal::pidfd(child.id() as i32).map_err(|e| fail(e.to_string()))?;
        let exited =
            berth_sys::signal::pidfd_wait_exit(&pidfd, Some(Duration::from_secs(secs as u64)))
                .map_err(|e| fail(e.to_string()))?;
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {secs}s")));
        }
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail(format!("failed with {status}")))
    }
}
