//! `save`, `load` and `import`: images to and from tarballs.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use berth_image::archive::{self, ArchiveLimits, LoadOptions, SaveFormat, SaveItem, SaveName};
use berth_image::changes::Change;
use berth_image::import::{self, ImportOptions};
use berth_image::spec::Platform;
use berth_registry::reference::familiar;
use berth_registry::Reference;

use super::pull::parse_platform;
use super::{find_image, open_store, CliError, Global, Result};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveCmdError {
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error(transparent)]
    Import(#[from] import::ImportError),
    #[error(transparent)]
    Change(#[from] berth_image::changes::ChangeError),
}

impl From<archive::ArchiveError> for CliError {
    fn from(e: archive::ArchiveError) -> CliError {
        CliError::Archive(e.into())
    }
}

impl From<import::ImportError> for CliError {
    fn from(e: import::ImportError) -> CliError {
        CliError::Archive(e.into())
    }
}

#[derive(clap::Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format: `docker` (what `docker save` writes) or `oci` (an
    /// OCI image layout, for `skopeo oci-archive:`).
    #[arg(long, default_value = "docker", value_parser = ["docker", "oci"])]
    format: String,
    /// Images to save (names or IDs).
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(g: &Global, a: SaveArgs) -> Result<()> {
    let format = match a.format.as_str() {
        "oci" => SaveFormat::Oci,
        _ => SaveFormat::Docker,
    };
    if a.output.is_none() && io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let store = open_store(g)?;
    let mut items: Vec<SaveItem> = Vec::new();
    for arg in &a.images {
        let f = find_image(&store, arg)?;
        let names: Vec<SaveName> = f
            .by_name
            .iter()
            .map(|n| SaveName {
                full: n.clone(),
                familiar: familiar(n),
            })
            .collect();
        match items
            .iter_mut()
            .find(|i| i.record.manifest == f.record.manifest)
        {
            Some(i) => i.names.extend(names),
            None => items.push(SaveItem {
                record: f.record,
                names,
            }),
        }
    }
    match &a.output {
        Some(path) => save_to_file(&store, &items, format, path),
        None => {
            let out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
            Ok(archive::save(&store, &items, format, out)?)
        }
    }
}

/// Writes a temp file beside `path` and renames it over `path` only when
/// the archive is complete.
fn save_to_file(
    store: &berth_image::ImageStore,
    items: &[SaveItem],
    format: SaveFormat,
    path: &Path,
) -> Result<()> {
    let io_err = |source| CliError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("-o {}: not a file name", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.berth-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let guard = TempFile(tmp.clone());
    let f = File::create(&tmp).map_err(io_err)?;
    let mut out = BufWriter::with_capacity(1 << 20, f);
    archive::save(store, items, format, &mut out)?;
    let f = out.into_inner().map_err(|e| io_err(e.into_error()))?;
    f.sync_all().map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)?;
    std::mem::forget(guard);
    Ok(())
}

/// Removed on drop unless forgotten.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Read from a tar archive file (plain, gzip or zstd), instead of STDIN.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    quiet: bool,
}

/// `busybox:latest` → `docker.io/library/busybox:latest`.
fn full_name(n: &str) -> std::result::Result<String, String> {
    let r: Reference = n
        .parse()
        .map_err(|e: berth_registry::reference::ReferenceError| e.to_string())?;
    r.tagged_name()
        .ok_or_else(|| "is a digest reference, not a name with a tag".to_owned())
}

pub fn load(g: &Global, a: LoadArgs) -> Result<()> {
    let input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(File::open(p).map_err(|source| CliError::Io {
            what: format!("opening {}", p.display()),
            source,
        })?),
        None if io::stdin().is_terminal() => {
            return Err(CliError::Usage(
                "requested load from stdin, but stdin is a terminal (hint: berth load -i FILE, or redirect)".into(),
            ))
        }
        None => Box::new(io::stdin().lock()),
    };
    let store = open_store(g)?;
    let opts = LoadOptions {
        limits: ArchiveLimits::default(),
        platform: Platform::host(),
        normalize_name: &full_name,
    };
    let loaded = archive::load(&store, input, &opts)?;
    for l in loaded {
        if l.names.is_empty() {
            println!("Loaded image ID: {}", l.record.config);
        }
        for n in &l.names {
            println!("Loaded image: {}", familiar(n));
        }
    }
    let _ = a.quiet; // berth shows no progress while loading; -q is for compatibility
    Ok(())
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV,
    /// WORKDIR, USER, EXPOSE, LABEL); repeatable.
    #[arg(short = 'c', long = "change")]
    changes: Vec<String>,
    /// Set the commit message (the history comment) of the image.
    #[arg(short, long)]
    message: Option<String>,
    /// Platform to record (os/arch[/variant]); the host's by default.
    #[arg(long)]
    platform: Option<String>,
    /// A rootfs tarball (plain, gzip or zstd), or `-` for STDIN.
    file: String,
    /// REPOSITORY[:TAG] to name the image.
    reference: Option<String>,
}

pub fn import(g: &Global, a: ImportArgs) -> Result<()> {
    let changes = a
        .changes
        .iter()
        .map(|c| c.parse::<Change>().map_err(|e| CliError::Archive(e.into())))
        .collect::<Result<Vec<_>>>()?;
    let names =
        match &a.reference {
            Some(r) => vec![full_name(r)
                .map_err(|p| CliError::Usage(format!("invalid reference {r:?}: {p}")))?],
            None => Vec::new(),
        };
    let platform = match &a.platform {
        Some(p) => parse_platform(p)?,
        None => Platform::host(),
    };
    if a.file.contains("://") {
        return Err(CliError::Usage(format!(
            "{}: importing from a URL is not supported; download the file and import it",
            a.file
        )));
    }
    let input: Box<dyn Read> = if a.file == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&a.file).map_err(|source| CliError::Io {
            what: format!("opening {}", a.file),
            source,
        })?)
    };
    let store = open_store(g)?;
    let opts = ImportOptions {
        changes,
        message: a.message,
        platform,
        names,
    };
    let rec = import::import(&store, input, &opts)?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", rec.config).map_err(|source| CliError::Io {
        what: "writing to stdout".into(),
        source,
    })
}
