//! `images`, `rmi`, `tag`, `image prune`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_engine::images::ImageUser;
use berth_image::meta::ImageRecord;
use berth_registry::Reference;

use super::format::{columns, human_size, parse_rfc3339, since, Template};
use super::{find_image, image_id, open_store, split_name, CliError, Global, Result};

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only show image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Show all images (accepted for compatibility; berth has no intermediate images).
    #[arg(short, long)]
    all: bool,
    /// Format output using a Go-template subset: {{.Repository}}, {{.Tag}},
    /// {{.ID}}, {{.Digest}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.Size}};
    /// `table` prefix, `json`.
    #[arg(long)]
    format: Option<String>,
    /// Only images of this repository (and tag).
    reference: Option<String>,
}

const FIELDS: &[&str] = &[
    "Repository",
    "Tag",
    "ID",
    "Digest",
    "CreatedSince",
    "CreatedAt",
    "Size",
    "Containers",
];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn images(g: &Global, a: ImagesArgs) -> Result<()> {
    let store = open_store(g)?;
    let mut all = store.meta().list()?;
    all.sort_by_key(|(r, _)| {
        std::cmp::Reverse(
            r.created
                .as_deref()
                .and_then(parse_rfc3339)
                .unwrap_or(r.added as i64),
        )
    });
    let filter = match &a.reference {
        Some(r) => Some(r.parse::<Reference>()?),
        None => None,
    };
    let fmt = match a.format.as_deref() {
        None | Some("table") => None,
        Some("json") => Some(Template::parse("{{json .}}", FIELDS).map_err(CliError::Usage)?),
        Some(f) => Some(Template::parse(f, FIELDS).map_err(CliError::Usage)?),
    };
    let mut rows: Vec<BTreeMap<&str, String>> = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    for (rec, names) in &all {
        let size = store.image_size(rec)?;
        let names: Vec<Option<&String>> = if names.is_empty() {
            vec![None]
        } else {
            names.iter().map(Some).collect()
        };
        for n in names {
            if let Some(f) = &filter {
                let Some(n) = n else { continue };
                let want_tag = a.reference.as_deref().is_some_and(|r| r.contains(':'));
                let matches = match f.tagged_name() {
                    Some(t) if want_tag => *n == t,
                    _ => n.starts_with(&format!("{}:", f.name())),
                };
                if !matches {
                    continue;
                }
            }
            if a.quiet && !seen_ids.insert(rec.config.clone()) {
                continue;
            }
            rows.push(row(rec, n.map(String::as_str), size, a.no_trunc));
        }
    }
    let mut out = String::new();
    if a.quiet {
        for r in &rows {
            out.push_str(&r["ID"]);
            out.push('\n');
        }
    } else if let Some(t) = fmt {
        let mut lines = Vec::new();
        if t.table {
            let titles: BTreeMap<&str, &str> = [
                ("Repository", "REPOSITORY"),
                ("Tag", "TAG"),
                ("ID", "IMAGE ID"),
                ("Digest", "DIGEST"),
                ("CreatedSince", "CREATED"),
                ("CreatedAt", "CREATED AT"),
                ("Size", "SIZE"),
                ("Containers", "CONTAINERS"),
            ]
            .into_iter()
            .collect();
            lines.push(t.header(&titles));
        }
        lines.extend(rows.iter().map(|r| t.render(r)));
        if t.table {
            out = columns(&lines);
        } else {
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        }
    } else {
        let digest_col = if a.digests { "\tDIGEST" } else { "" };
        let mut lines = vec![format!(
            "REPOSITORY\tTAG{digest_col}\tIMAGE ID\tCREATED\tSIZE"
        )];
        for r in &rows {
            let d = if a.digests {
                format!("\t{}", r["Digest"])
            } else {
                String::new()
            };
            lines.push(format!(
                "{}\t{}{d}\t{}\t{}\t{}",
                r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], r["Size"]
            ));
        }
        out = columns(&lines);
    }
    print!("{out}");
    Ok(())
}

fn row(
    rec: &ImageRecord,
    name: Option<&str>,
    size: u64,
    no_trunc: bool,
) -> BTreeMap<&'static str, String> {
    let (repo, tag) = match name {
        Some(n) => split_name(n),
        None => match rec.repo_digests.first() {
            Some(rd) => (
                berth_registry::reference::familiar(rd.split('@').next().unwrap_or(rd)),
                "<none>".to_owned(),
            ),
            None => ("<none>".to_owned(), "<none>".to_owned()),
        },
    };
    let created = rec.created.as_deref().and_then(parse_rfc3339);
    let id = if no_trunc {
        image_id(rec).to_string()
    } else {
        image_id(rec).short().to_owned()
    };
    let digest = rec
        .repo_digests
        .first()
        .and_then(|rd| rd.split_once('@').map(|(_, d)| d.to_owned()))
        .unwrap_or_else(|| "<none>".to_owned());
    let mut m = BTreeMap::new();
    m.insert("Repository", repo);
    m.insert("Tag", tag);
    m.insert("ID", id);
    m.insert("Digest", digest);
    m.insert(
        "CreatedSince",
        created.map_or_else(|| "N/A".to_owned(), |c| since(now() - c)),
    );
    m.insert("CreatedAt", rec.created.clone().unwrap_or_default());
    m.insert("Size", human_size(size));
    m.insert("Containers", "N/A".to_owned());
    m
}

#[derive(clap::Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    force: bool,
    /// Images to remove.
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn rmi(g: &Global, a: RmiArgs) -> Result<()> {
    let store = open_store(g)?;
    let users = g.image_users()?;
    let mut failed = Vec::new();
    for arg in &a.images {
        if let Err(e) = rmi_one(&store, arg, a.force, &users) {
            eprintln!("Error: {e}");
            failed.push(arg.clone());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "failed to remove: {}",
            failed.join(", ")
        )))
    }
}

fn rmi_one(
    store: &berth_image::ImageStore,
    arg: &str,
    force: bool,
    users: &[ImageUser],
) -> Result<()> {
    let f = find_image(store, arg)?;
    if let Some(name) = &f.by_name {
        if f.names.len() > 1 {
            store.meta().untag(name)?;
            println!("Untagged: {}", berth_registry::reference::familiar(name));
            return Ok(());
        }
    } else if f.names.len() > 1 && !force {
        return Err(CliError::Usage(format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            image_id(&f.record).short()
        )));
    }
    let manifest = f.record.manifest.to_string();
    let using: Vec<&ImageUser> = users.iter().filter(|u| u.manifest == manifest).collect();
    if let Some(u) = using.first() {
        let short = |s: &str| {
            s.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        let img = image_id(&f.record).short();
        if !force {
            let what = if f.by_name.is_some() {
                format!("remove repository reference \"{arg}\"")
            } else {
                format!("delete {img}")
            };
            return Err(CliError::Usage(format!(
                "conflict: unable to {what} (must force) - container {} is using its referenced image {img}",
                short(&u.container)
            )));
        }
        if let Some(r) = using
            .iter()
            .find(|u| u.running)
            .filter(|_| f.by_name.is_none())
        {
            return Err(CliError::Usage(format!(
                "conflict: unable to delete {img} (cannot be forced) - image is being used by running container {}",
                short(&r.container)
            )));
        }
        // Forced: the names go, the image (and the layers the
        // containers' overlays are made of) stays until they are gone.
        for n in &f.names {
            store.meta().untag(n)?;
            println!("Untagged: {}", berth_registry::reference::familiar(n));
        }
        return Ok(());
    }
    for n in &f.names {
        println!("Untagged: {}", berth_registry::reference::familiar(n));
    }
    for rd in &f.record.repo_digests {
        println!("Untagged: {}", berth_registry::reference::familiar(rd));
    }
    let freed = store.remove_image(&f.record.manifest)?;
    println!("Deleted: {}", image_id(&f.record));
    for l in freed.layers {
        println!("Deleted: {l}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub fn tag(g: &Global, a: TagArgs) -> Result<()> {
    let store = open_store(g)?;
    let f = find_image(&store, &a.source)?;
    let target: Reference = a.target.parse()?;
    let name = target.tagged_name().ok_or_else(|| {
        CliError::Usage(format!(
            "refusing to create a tag with a digest reference: {}",
            a.target
        ))
    })?;
    store.meta().tag(&name, &f.record.manifest)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> Result<()> {
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let (deleted, reclaimed) = prune_images(g, a.all)?;
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}

/// Removes dangling images (every image with `all`) that no container
/// uses: what was deleted and the bytes freed.
pub fn prune_images(g: &Global, all: bool) -> Result<(Vec<String>, u64)> {
    let store = open_store(g)?;
    let in_use: Vec<String> = g.image_users()?.into_iter().map(|u| u.manifest).collect();
    let mut reclaimed = 0u64;
    let mut deleted = Vec::new();
    for (rec, names) in store.meta().list()? {
        if (!names.is_empty() && !all) || in_use.contains(&rec.manifest.to_string()) {
            continue;
        }
        for l in &rec.layers {
            if let Some(info) = store.meta().layer(&l.chain_id)? {
                if info.refs <= 1 {
                    reclaimed += info.size;
                }
            }
        }
        let freed = store.remove_image(&rec.manifest)?;
        deleted.push(image_id(&rec).to_string());
        deleted.extend(freed.layers.iter().map(|l| l.to_string()));
    }
    {
        let _lock = store.lock_exclusive()?;
        store.remove_orphans()?;
    }
    Ok((deleted, reclaimed))
}

/// One image as `system df` sees it.
pub struct ImageUsage {
    pub id: String,
    pub names: Vec<String>,
    /// Its layers: (chain id, bytes).
    pub layers: Vec<(String, u64)>,
    /// How many containers use it.
    pub containers: usize,
}

pub fn image_usage(g: &Global) -> Result<Vec<ImageUsage>> {
    let store = open_store(g)?;
    let users = g.image_users()?;
    let mut out = Vec::new();
    for (rec, names) in store.meta().list()? {
        let mut layers = Vec::new();
        for l in &rec.layers {
            let size = store.meta().layer(&l.chain_id)?.map_or(0, |i| i.size);
            layers.push((l.chain_id.to_string(), size));
        }
        let manifest = rec.manifest.to_string();
        out.push(ImageUsage {
            id: image_id(&rec).to_string(),
            names: names
                .iter()
                .map(|n| berth_registry::reference::familiar(n))
                .collect(),
            layers,
            containers: users.iter().filter(|u| u.manifest == manifest).count(),
        });
    }
    Ok(out)
}
