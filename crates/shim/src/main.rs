//! berth-shim: what stays of a container's supervisor while the container
//! runs.
//!
//! berth's supervisor (`berth supervise`) starts the container as its
//! child, then executes this program in its place, handing over the
//! container's pid and output, the caller's terminal, the status pipe and
//! the berth binary. The shim copies output into the json-file log (and to
//! an attached caller), relays a terminal (input, window size, Ctrl-P
//! Ctrl-Q), waits for the container to exit, and then executes the berth
//! binary again, `… supervise ID [--attach] --exited CODE`, which records the
//! exit, tears down or restarts. An idle container costs one process of a
//! few pages: the release build links neither std nor a C library.
//!
//! ```text
//! berth-shim --pid PID --log PATH [--log-max-size BYTES] [--log-max-file N]
//!            [--stdout FD --stderr FD | --tty FD] [--input FD]
//!            [--attach-out FD --attach-err FD] --exe FD -- COMMAND...
//! ```
//! The status pipe is fd 3, as for the supervisor.

#![cfg_attr(panic = "abort", no_std, no_main, no_builtins)]
#![cfg_attr(not(panic = "abort"), no_main)]

#[cfg(panic = "abort")]
mod rt;

/// Unwinding builds (debug) link std and its C library, which calls this
/// `main`.
#[cfg(not(panic = "abort"))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
    // SAFETY: the C library passes the process's arguments and environment.
    unsafe { berth_shim::shim_main(argc as usize, argv, envp) }
}
