//! Docker's json-file log, written without allocating: one JSON object per
//! line, `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, in the
//! field order and escaping serde_json gives (berth's `logs` reads it with
//! serde_json), rotated by size into `<file>.1`, `<file>.2`...

use core::ffi::CStr;

use crate::sys::{self, Fd};

/// Docker splits lines longer than this into several records.
pub const MAX_LINE: usize = 16 * 1024;
/// A record: the worst case escapes every byte as `\u00XX`.
const RECORD: usize = MAX_LINE * 6 + 128;
/// Longest log path, with room for a rotation suffix.
const PATH: usize = 4096 + 16;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static [u8] {
        match self {
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

/// The log's memory: unterminated lines of each stream, and one record.
pub struct LogBuffers {
    partial: [[u8; MAX_LINE]; 2],
    record: [u8; RECORD],
}

impl LogBuffers {
    pub const ZERO: LogBuffers = LogBuffers {
        partial: [[0; MAX_LINE]; 2],
        record: [0; RECORD],
    };
}

pub struct Log<'a> {
    path: &'a CStr,
    fd: Fd,
    size: u64,
    /// Rotate when the file would grow past this (0: never).
    max_size: u64,
    /// Files kept, the live one included.
    max_file: u32,
    partial_len: [usize; 2],
    bufs: &'a mut LogBuffers,
}

impl<'a> Log<'a> {
    pub fn open(
        path: &'a CStr,
        max_size: u64,
        max_file: u32,
        bufs: &'a mut LogBuffers,
    ) -> Result<Log<'a>, sys::Errno> {
        let fd = open_append(path)?;
        let size = sys::size(fd).unwrap_or(0);
        Ok(Log {
            path,
            fd,
            size,
            max_size,
            max_file,
            partial_len: [0; 2],
            bufs,
        })
    }

    /// Takes output of one stream: complete lines become records, and so
    /// does every MAX_LINE bytes of a longer one; the rest waits.
    pub fn write(&mut self, stream: Stream, mut bytes: &[u8]) {
        let s = stream as usize;
        while !bytes.is_empty() {
            let held = self.partial_len[s];
            let room = MAX_LINE - held;
            let take = match bytes.iter().position(|b| *b == b'\n') {
                Some(nl) if nl < room => nl + 1,
                _ => room.min(bytes.len()),
            };
            let (now, rest) = bytes.split_at(take);
            bytes = rest;
            let ends_line = now.last() == Some(&b'\n');
            if held == 0 && (ends_line || take == MAX_LINE) {
                self.record(stream, now);
                continue;
            }
            self.bufs.partial[s][held..held + take].copy_from_slice(now);
            self.partial_len[s] = held + take;
            if ends_line || held + take == MAX_LINE {
                self.flush_stream(stream);
            }
        }
    }

    /// Writes out unterminated output (at the end of the streams).
    pub fn flush(&mut self) {
        self.flush_stream(Stream::Stdout);
        self.flush_stream(Stream::Stderr);
    }

    fn flush_stream(&mut self, stream: Stream) {
        let s = stream as usize;
        let n = self.partial_len[s];
        if n == 0 {
            return;
        }
        self.partial_len[s] = 0;
        let b = &mut *self.bufs;
        let len = encode(&mut b.record, stream, &b.partial[s][..n], sys::now());
        self.append(len);
    }

    fn record(&mut self, stream: Stream, line: &[u8]) {
        let len = encode(&mut self.bufs.record, stream, line, sys::now());
        self.append(len);
    }

    /// Appends the first `len` bytes of the record buffer, rotating first
    /// when they would not fit.
    fn append(&mut self, len: usize) {
        if self.max_size > 0 && self.size > 0 && self.size + len as u64 > self.max_size {
            self.rotate();
        }
        if sys::write_all(self.fd, &self.bufs.record[..len]).is_ok() {
            self.size += len as u64;
        }
    }

    fn rotate(&mut self) {
        let keep = self.max_file.max(1);
        if keep == 1 {
            if sys::truncate(self.fd).is_ok() {
                self.size = 0;
            }
            return;
        }
        let (mut from, mut to) = ([0u8; PATH], [0u8; PATH]);
        if let Some(p) = numbered(&mut to, self.path, keep - 1) {
            let _ = sys::unlink(p);
        }
        for n in (1..keep - 1).rev() {
            if let (Some(a), Some(b)) = (
                numbered(&mut from, self.path, n),
                numbered(&mut to, self.path, n + 1),
            ) {
                let _ = sys::rename(a, b);
            }
        }
        let Some(first) = numbered(&mut to, self.path, 1) else {
            return;
        };
        if sys::rename(self.path, first).is_err() {
            return;
        }
        if let Ok(fd) = open_append(self.path) {
            sys::close(self.fd);
            self.fd = fd;
            self.size = 0;
        }
    }
}

fn open_append(path: &CStr) -> Result<Fd, sys::Errno> {
    sys::open(
        path,
        sys::O_WRONLY | sys::O_CREAT | sys::O_APPEND | sys::O_CLOEXEC,
        0o640,
    )
}

/// `<path>.<n>` as a C string in `buf`.
fn numbered<'b>(buf: &'b mut [u8; PATH], path: &CStr, n: u32) -> Option<&'b CStr> {
    let p = path.to_bytes();
    let mut digits = [0u8; 10];
    let d = decimal(&mut digits, u64::from(n));
    let len = p.len() + 1 + d.len();
    if len + 1 > buf.len() {
        return None;
    }
    buf[..p.len()].copy_from_slice(p);
    buf[p.len()] = b'.';
    buf[p.len() + 1..len].copy_from_slice(d);
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).ok()
}

/// One record, newline included, into `out`; returns its length. Invalid
/// UTF-8 becomes U+FFFD, as `String::from_utf8_lossy` makes it.
pub fn encode(out: &mut [u8; RECORD], stream: Stream, line: &[u8], time: (i64, u32)) -> usize {
    let mut w = Cursor { buf: out, len: 0 };
    w.put(b"{\"log\":\"");
    for chunk in line.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'"' => w.put(b"\\\""),
                b'\\' => w.put(b"\\\\"),
                b'\n' => w.put(b"\\n"),
                b'\r' => w.put(b"\\r"),
                b'\t' => w.put(b"\\t"),
                0x08 => w.put(b"\\b"),
                0x0c => w.put(b"\\f"),
                0..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    w.put(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                }
                _ => w.put(&[b]),
            }
        }
        if !chunk.invalid().is_empty() {
            w.put("\u{FFFD}".as_bytes());
        }
    }
    w.put(b"\",\"stream\":\"");
    w.put(stream.name());
    w.put(b"\",\"time\":\"");
    w.put(berth_time::rfc3339(time.0, Some(time.1)).as_bytes());
    w.put(b"\"}\n");
    w.len
}

struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Cursor<'_> {
    /// Appends what fits (a record is sized for the worst case).
    fn put(&mut self, b: &[u8]) {
        let end = (self.len + b.len()).min(self.buf.len());
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&b[..n]);
        self.len = end;
    }
}

/// `n` in decimal, into the end of `buf`.
fn decimal(buf: &mut [u8], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &[u8]) -> String {
        let mut out = [0u8; RECORD];
        let n = encode(&mut out, Stream::Stderr, line, (1_795_484_569, 1_500));
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn records_are_what_serde_json_writes() {
        for line in [
            &b"hello\n"[..],
            b"tab\there \"quoted\" back\\slash\r\n",
            b"\x00\x01\x1b[31mred\x7f \x08\x0c",
            "unicode \u{e9}\u{4e16} ok".as_bytes(),
            b"bad \xff\xfe utf8 \xe4\xb8",
        ] {
            #[derive(serde::Serialize)]
            struct Entry<'a> {
                log: &'a str,
                stream: &'a str,
                time: &'a str,
            }
            let e = Entry {
                log: &String::from_utf8_lossy(line),
                stream: "stderr",
                time: "2026-11-24T01:42:49.000001500Z",
            };
            let want = serde_json::to_string(&e).unwrap() + "\n";
            assert_eq!(record(line), want);
        }
    }

    #[test]
    fn rotation_names() {
        let mut b = [0u8; PATH];
        assert_eq!(
            numbered(&mut b, c"/x/log.json", 12).unwrap(),
            c"/x/log.json.12"
        );
    }
}
