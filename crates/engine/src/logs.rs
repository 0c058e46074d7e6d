//! Docker's json-file log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, rotated by
//! size into `<file>.1`, `<file>.2`... berth-shim writes (crates/shim,
//! without std: its encoder is tested against serde_json's); `logs` reads.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;

#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<String>,
    pub until: Option<String>,
    pub timestamps: bool,
    pub follow: bool,
}

/// Where `logs` writes: a stream and its text.
pub type Sink<'a> = dyn FnMut(Stream, &[u8]) -> std::io::Result<()> + 'a;

/// Every log file of a container, oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..100)
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .take_while(|p| p.exists())
        .collect();
    v.reverse();
    v.push(path.to_owned());
    v
}

/// The time window and format of what is shown.
struct Filter {
    since: Option<crate::time::Nanos>,
    until: Option<crate::time::Nanos>,
    timestamps: bool,
}

impl Filter {
    /// Shows one record; false once the reader has gone away.
    fn emit(&self, line: &str, out: &mut Sink<'_>) -> bool {
        let Ok(e) = serde_json::from_str::<Entry>(line) else {
            return true;
        };
        if let Ok(t) = crate::time::parse(&e.time) {
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
                return true;
            }
        }
        let stream = if e.stream == "stderr" {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        let text = if self.timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log
        };
        out(stream, text.as_bytes()).is_ok()
    }
}

/// Prints records through `out(stream, text)`. With `follow`, keeps
/// reading new records until `running()` turns false.
pub fn read(
    path: &Path,
    o: &ReadOptions,
    out: &mut Sink<'_>,
    running: &dyn Fn() -> bool,
) -> Result<()> {
    let filter = Filter {
        since: o.since.as_deref().map(crate::time::parse).transpose()?,
        until: o.until.as_deref().map(crate::time::parse).transpose()?,
        timestamps: o.timestamps,
    };
    let mut lines: Vec<String> = Vec::new();
    for f in files(path) {
        if let Ok(file) = File::open(&f) {
            lines.extend(BufReader::new(file).lines().map_while(|l| l.ok()));
        }
    }
    let skip = o.tail.map_or(0, |t| lines.len().saturating_sub(t));
    for l in &lines[skip..] {
        if !filter.emit(l, out) {
            return Ok(());
        }
    }
    if !o.follow {
        return Ok(());
    }
    follow(path, out, running, &filter)
}

fn follow(
    path: &Path,
    out: &mut Sink<'_>,
    running: &dyn Fn() -> bool,
    filter: &Filter,
) -> Result<()> {
    let open = || File::open(path).ok().map(BufReader::new);
    let mut reader = open();
    if let Some(r) = reader.as_mut() {
        let _ = r.seek(SeekFrom::End(0));
    }
    let inode = || {
        fs::metadata(path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .ok()
    };
    let mut ino = inode();
    let mut pending = String::new();
    loop {
        let alive = running();
        let mut progressed = false;
        if let Some(r) = reader.as_mut() {
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        progressed = true;
                        pending.push_str(&line);
                        if pending.ends_with('\n') {
                            if !filter.emit(pending.trim_end_matches('\n'), out) {
                                return Ok(());
                            }
                            pending.clear();
                        }
                    }
                }
            }
        }
        // Rotated: the name now points at a new file.
        let now_ino = inode();
        if now_ino != ino {
            ino = now_ino;
            reader = open();
            continue;
        }
        if !alive && !progressed {
            return Ok(());
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    fn collect(path: &Path, o: &ReadOptions) -> String {
        let mut s = String::new();
        read(
            path,
            o,
            &mut |_, b| {
                s.push_str(&String::from_utf8_lossy(b));
                Ok(())
            },
            &|| false,
        )
        .unwrap();
        s
    }

    /// Appends records as berth-shim writes them.
    fn put(path: &Path, records: &[(&str, &str)]) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for (stream, log) in records {
            let e = Entry {
                log: (*log).to_owned(),
                stream: (*stream).to_owned(),
                time: crate::record::now(),
            };
            writeln!(f, "{}", serde_json::to_string(&e).unwrap()).unwrap();
        }
    }

    #[test]
    fn records_in_order_and_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        put(
            &p,
            &[
                ("stdout", "one\n"),
                ("stderr", "err\n"),
                ("stdout", "two\n"),
                ("stdout", "three"),
            ],
        );
        assert_eq!(collect(&p, &ReadOptions::default()), "one\nerr\ntwo\nthree");
        let tail = ReadOptions {
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(collect(&p, &tail), "two\nthree");
    }

    #[test]
    fn rotated_files_are_read_oldest_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        put(&d.path().join("c-json.log.2"), &[("stdout", "a\n")]);
        put(&d.path().join("c-json.log.1"), &[("stdout", "b\n")]);
        put(&p, &[("stdout", "c\n")]);
        // Beyond a gap in the numbering nothing counts.
        put(&d.path().join("c-json.log.4"), &[("stdout", "lost\n")]);
        assert_eq!(collect(&p, &ReadOptions::default()), "a\nb\nc\n");
    }
}
