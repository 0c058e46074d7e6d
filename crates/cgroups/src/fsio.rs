//! Reading and writing cgroupfs files with errors that name the path and the value.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

use crate::Error;

/// Writes `value` with one write(2), as cgroupfs expects.
pub fn write(path: &Path, value: &str) -> Result<(), Error> {
    let err = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

pub fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Like [`read`], but a missing file is `None`.
pub fn read_opt(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub fn parse_u64(path: &Path, s: &str) -> Result<u64, Error> {
    s.trim().parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        reason: format!("expected a number, found {:?}", s.trim()),
    })
}

/// A number, or `None` for `max`.
pub fn parse_max(path: &Path, s: &str) -> Result<Option<u64>, Error> {
    if s.trim() == "max" {
        Ok(None)
    } else {
        parse_u64(path, s).map(Some)
    }
}

/// The value of `key` in a flat-keyed file such as `cpu.stat` or `memory.events`.
pub fn keyed(s: &str, key: &str) -> Option<u64> {
    s.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}
