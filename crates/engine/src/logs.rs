//! Docker's json-file log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, rotated by
//! size into `<file>.1`, `<file>.2`... The supervisor writes; `logs` reads.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{io_err, Result};
use crate::options::LogOptions;

/// Docker splits lines longer than this into several records.
const MAX_LINE: usize = 16 * 1024;

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

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends records, rotating by size.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    opts: LogOptions,
    file: File,
    size: u64,
    partial: [Vec<u8>; 2],
}

impl Writer {
    pub fn open(path: &Path, opts: LogOptions) -> Result<Writer> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err("opening log", path))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path: path.to_owned(),
            opts,
            file,
            size,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Takes output of one stream; complete lines become records, the rest
    /// waits for more (or for [`Writer::flush_partial`]).
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + nl + 1;
            self.record(stream, &buf[start..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.record(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
        Ok(())
    }

    /// Writes out unterminated output (at the end of a stream).
    pub fn flush_partial(&mut self) -> Result<()> {
        for (i, s) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let b = std::mem::take(&mut self.partial[i]);
            if !b.is_empty() {
                self.record(s, &b)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, stream: Stream, line: &[u8]) -> Result<()> {
        let e = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.name().to_owned(),
            time: crate::record::now(),
        };
        let mut s = serde_json::to_string(&e).unwrap_or_default();
        s.push('\n');
        if let Some(max) = self.opts.max_size {
            if self.size > 0 && self.size + s.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file
            .write_all(s.as_bytes())
            .map_err(io_err("writing log", &self.path))?;
        self.size += s.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        let keep = self.opts.max_file.max(1);
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if keep == 1 {
            self.file
                .set_len(0)
                .map_err(io_err("truncating log", &self.path))?;
            self.size = 0;
            return Ok(());
        }
        let _ = fs::remove_file(numbered(keep - 1));
        for n in (1..keep - 1).rev() {
            let _ = fs::rename(numbered(n), numbered(n + 1));
        }
        fs::rename(&self.path, numbered(1)).map_err(io_err("rotating log", &self.path))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io_err("opening log", &self.path))?;
        self.size = 0;
        Ok(())
    }
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

    #[test]
    fn lines_partials_and_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = Writer::open(&p, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err\n").unwrap();
        w.write(Stream::Stdout, b"o\nthree").unwrap();
        w.flush_partial().unwrap();
        assert_eq!(collect(&p, &ReadOptions::default()), "one\nerr\ntwo\nthree");
        let tail = ReadOptions {
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(collect(&p, &tail), "two\nthree");
        let text = fs::read_to_string(&p).unwrap();
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Entry>(l).is_ok()));
        assert!(text.contains("\"stream\":\"stderr\""));
    }

    #[test]
    fn rotation_keeps_max_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = Writer::open(
            &p,
            LogOptions {
                max_size: Some(300),
                max_file: 3,
            },
        )
        .unwrap();
        for i in 0..100 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(p.exists());
        assert!(d.path().join("c-json.log.1").exists());
        assert!(d.path().join("c-json.log.2").exists());
        assert!(!d.path().join("c-json.log.3").exists());
        for f in files(&p) {
            assert!(fs::metadata(&f).unwrap().len() <= 300);
        }
        let all = collect(&p, &ReadOptions::default());
        assert!(all.ends_with("line 99\n"));
        assert!(!all.contains("line 0\n"));
    }

    #[test]
    fn long_lines_split() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = Writer::open(&p, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, &vec![b'x'; MAX_LINE * 2 + 5])
            .unwrap();
        w.flush_partial().unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap().lines().count(), 3);
    }
}
