//! Running the needed stages, independent ones in parallel.
//!
//! A stage starts when the stages it reads (`FROM`, `COPY --from`,
//! `RUN --mount from=`) are done. When it is the only one that can run and
//! no other is running, it runs in this process, as a one-stage build
//! always does. Otherwise each stage that can run gets a worker process:
//!
//! ```text
//!   builder (single-threaded)                 worker (fork)
//!   fork ------------------------------------> opens its own image store
//!   poll(pipes) <-- "#7 [a 2/3] RUN ..." ----- progress lines
//!   poll(pipes) <-- "\0{result json}" -------- StageOut, args used,
//!   waitpid                                     new layers, step times; _exit
//! ```
//!
//! Processes rather than threads: a RUN step launches its container with
//! the runtime's `clone3`, whose child runs arbitrary code and so needs a
//! single-threaded parent; each worker is one. Step numbers come from a
//! counter in shared memory, so `#N` stays unique across workers. A worker
//! opens the store afresh: its metadata database is a multi-process redb
//! whose locks are per process. The builder forwards each worker's lines
//! whole, so lines of parallel stages interleave but never mix, as
//! BuildKit's plain output does.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_image::digest::Digest;
use serde::{Deserialize, Serialize};

use crate::builder::{stage_deps, Builder, StageOut};
use crate::instructions::Stage;
use crate::BuildError;

/// Step numbers shared with worker processes: an atomic in an anonymous
/// shared mapping, which `fork` keeps shared.
pub(crate) struct StepCounter {
    ptr: std::ptr::NonNull<AtomicUsize>,
}

impl StepCounter {
    pub(crate) fn new() -> Result<StepCounter, BuildError> {
        // SAFETY: an anonymous mapping of a fresh page; no existing memory
        // is touched, and failure is reported as MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<AtomicUsize>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(BuildError::Step(format!(
                "mapping the step counter: {}",
                std::io::Error::last_os_error()
            )));
        }
        // The page is zeroed, page-aligned and as large as an AtomicUsize
        // at least: a valid AtomicUsize holding 0.
        let ptr = std::ptr::NonNull::new(p.cast::<AtomicUsize>())
            .ok_or_else(|| BuildError::Step("mapping the step counter: null".into()))?;
        Ok(StepCounter { ptr })
    }

    /// The next step number (from 1).
    pub(crate) fn next(&self) -> usize {
        // SAFETY: the mapping lives as long as self (unmapped in Drop) and
        // holds an AtomicUsize; only atomic operations touch it.
        unsafe { self.ptr.as_ref() }.fetch_add(1, Ordering::SeqCst) + 1
    }
}

impl Drop for StepCounter {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in new() with this size and is not
        // used after this.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), std::mem::size_of::<AtomicUsize>());
        }
    }
}

/// What a worker hands back.
#[derive(Serialize, Deserialize)]
struct WorkerResult {
    stage: Result<StageOut, String>,
    used_args: Vec<String>,
    new_layer_sizes: Vec<(Digest, u64)>,
    fs_times: Vec<String>,
}

impl WorkerResult {
    fn failed(message: String) -> WorkerResult {
        WorkerResult {
            stage: Err(message),
            used_args: Vec::new(),
            new_layer_sizes: Vec::new(),
            fs_times: Vec::new(),
        }
    }
}

struct Worker {
    idx: usize,
    pid: i32,
    pipe: std::fs::File,
    buf: Vec<u8>,
    result: Option<WorkerResult>,
    eof: bool,
}

/// Runs the `needed` stages; the finished ones by index.
pub(crate) fn run_stages(
    b: &mut Builder<'_>,
    stages: &[Stage],
    needed: &[usize],
    meta: &[String],
) -> Result<Vec<Option<StageOut>>, BuildError> {
    let deps: Vec<Vec<usize>> = (0..stages.len())
        .map(|i| {
            if needed.contains(&i) {
                stage_deps(stages, i, &b.lex, meta)
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut done: Vec<Option<StageOut>> = vec![None; stages.len()];
    let mut started = vec![false; stages.len()];
    let mut running: Vec<Worker> = Vec::new();
    let mut failure: Option<BuildError> = None;
    loop {
        let ready: Vec<usize> = if failure.is_some() {
            Vec::new()
        } else {
            let mut r: Vec<usize> = needed
                .iter()
                .copied()
                .filter(|&i| !started[i] && deps[i].iter().all(|d| done[*d].is_some()))
                .collect();
            r.sort_unstable();
            r
        };
        if ready.is_empty() && running.is_empty() {
            break;
        }
        if ready.len() == 1 && running.is_empty() {
            let i = ready[0];
            started[i] = true;
            done[i] = Some(b.stage(stages, i, &done, meta)?);
            continue;
        }
        for i in ready {
            started[i] = true;
            match fork_stage(b, stages, i, &done, meta) {
                Ok(w) => running.push(w),
                Err(e) => {
                    failure.get_or_insert(e);
                    break;
                }
            }
        }
        if running.is_empty() {
            continue;
        }
        // Forward output until a worker ends.
        let ended = pump(b, &mut running)?;
        let w = running.remove(ended);
        let status = berth_sys::signal::wait_child(w.pid)
            .map_err(|e| BuildError::Step(format!("waiting for a stage's worker: {e}")))?;
        match w.result {
            Some(r) => {
                b.used_args.extend(r.used_args);
                b.new_layer_sizes.extend(r.new_layer_sizes);
                b.fs_times.extend(r.fs_times);
                match r.stage {
                    Ok(out) => done[w.idx] = Some(out),
                    Err(e) => {
                        failure.get_or_insert(BuildError::Step(e));
                    }
                }
            }
            None => {
                failure.get_or_insert(BuildError::Step(format!(
                    "the worker of stage {} ended without a result (exit status {})",
                    w.idx,
                    status.shell_code()
                )));
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// Reads the workers' pipes, forwarding whole lines, until one of them is
/// at its end; that one's position.
fn pump(b: &mut Builder<'_>, running: &mut [Worker]) -> Result<usize, BuildError> {
    loop {
        if let Some(i) = running.iter().position(|w| w.eof) {
            return Ok(i);
        }
        let mut fds: Vec<rustix::event::PollFd<'_>> = running
            .iter()
            .map(|w| rustix::event::PollFd::new(&w.pipe, rustix::event::PollFlags::IN))
            .collect();
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(BuildError::Step(format!("waiting for stages: {e}"))),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        for (w, r) in running.iter_mut().zip(ready) {
            if r {
                read_some(b, w);
            }
        }
    }
}

fn read_some(b: &mut Builder<'_>, w: &mut Worker) {
    let mut chunk = [0u8; 16384];
    let n = match w.pipe.read(&mut chunk) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
        Err(_) => 0,
    };
    if n == 0 {
        w.eof = true;
    }
    w.buf.extend_from_slice(&chunk[..n]);
    while let Some(nl) = w.buf.iter().position(|c| *c == b'\n') {
        let line: Vec<u8> = w.buf.drain(..=nl).collect();
        let line = &line[..line.len() - 1];
        if let Some(json) = line.strip_prefix(b"\0") {
            w.result = serde_json::from_slice(json).ok();
        } else {
            b.say(&String::from_utf8_lossy(line));
        }
    }
}

/// Forks a worker that runs stage `idx` and reports on a pipe.
fn fork_stage(
    b: &Builder<'_>,
    stages: &[Stage],
    idx: usize,
    done: &[Option<StageOut>],
    meta: &[String],
) -> Result<Worker, BuildError> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| BuildError::Step(format!("creating a pipe: {e}")))?;
    // SAFETY: the builder is single-threaded (it forks only from here and
    // never spawns threads; `berth build` starts none before it), so the
    // child may run arbitrary code; it leaves with _exit, never returning
    // into the caller's stack or running the parent's destructors.
    match unsafe { libc::fork() } {
        -1 => Err(BuildError::Step(format!(
            "starting a stage's worker: {}",
            std::io::Error::last_os_error()
        ))),
        0 => {
            drop(r);
            let code = worker_main(b, stages, idx, done, meta, w);
            // SAFETY: ends the worker without unwinding into the parent's
            // frames or dropping what it shares with the parent (locks).
            unsafe { libc::_exit(code) }
        }
        pid => Ok(Worker {
            idx,
            pid,
            pipe: std::fs::File::from(r),
            buf: Vec::new(),
            result: None,
            eof: false,
        }),
    }
}

/// A worker's progress output: whole lines into the pipe, NULs (the
/// result marker) removed.
struct LineOut(std::fs::File);

impl Write for LineOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let clean: Vec<u8> = buf.iter().copied().filter(|c| *c != 0).collect();
        self.0.write_all(&clean)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn worker_main(
    b: &Builder<'_>,
    stages: &[Stage],
    idx: usize,
    done: &[Option<StageOut>],
    meta: &[String],
    pipe: OwnedFd,
) -> i32 {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_in_worker(b, stages, idx, done, meta, &pipe)
    }))
    .unwrap_or_else(|_| WorkerResult::failed(format!("stage {idx}: the builder panicked")));
    let Ok(mut msg) = serde_json::to_vec(&result) else {
        return 1;
    };
    msg.insert(0, 0);
    msg.push(b'\n');
    let mut f = std::fs::File::from(pipe);
    let ok = f.write_all(&msg).is_ok();
    i32::from(!ok || result.stage.is_err())
}

fn run_in_worker(
    b: &Builder<'_>,
    stages: &[Stage],
    idx: usize,
    done: &[Option<StageOut>],
    meta: &[String],
    pipe: &OwnedFd,
) -> WorkerResult {
    let fail = WorkerResult::failed;
    let store = match berth_image::ImageStore::open(b.store.root()) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let (out, context) = match (pipe.try_clone(), b.context.try_clone()) {
        (Ok(p), Ok(c)) => (p, c),
        (Err(e), _) | (_, Err(e)) => return fail(e.to_string()),
    };
    let mut out = LineOut(std::fs::File::from(out));
    let mut w = Builder {
        store: &store,
        opts: b.opts,
        images: b.images,
        out: &mut out,
        lex: b.lex,
        ignore: b.ignore.clone(),
        context,
        step: 0,
        steps: b.steps,
        used_args: Vec::new(),
        new_layer_sizes: Vec::new(),
        seq: b.seq,
        fs_times: Vec::new(),
    };
    let stage = w.stage(stages, idx, done, meta).map_err(|e| e.to_string());
    WorkerResult {
        stage,
        used_args: std::mem::take(&mut w.used_args),
        new_layer_sizes: std::mem::take(&mut w.new_layer_sizes),
        fs_times: std::mem::take(&mut w.fs_times),
    }
}
