//! `inspect` / `image inspect`: JSON shaped like `docker image inspect`.

use berth_image::spec::MAX_DOCUMENT;
use serde_json::{json, Value};

use super::{find_image, image_id, open_store, CliError, Global, Result};

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format output using a Go-template subset ({{json .}} or {{.Field}} of the top level).
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

impl InspectArgs {
    /// What the user asked to inspect.
    pub fn names(&self) -> &[String] {
        &self.images
    }
    pub fn format(&self) -> Option<&str> {
        self.format.as_deref()
    }
}

pub fn inspect(g: &Global, a: InspectArgs) -> Result<()> {
    let store = open_store(g)?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for arg in &a.images {
        let f = match find_image(&store, arg) {
            Ok(f) => f,
            Err(CliError::NoSuchImage(n)) => {
                missing.push(n);
                continue;
            }
            Err(e) => return Err(e),
        };
        let rec = &f.record;
        let cfg_bytes = store
            .content()
            .read(&rec.config, MAX_DOCUMENT)
            .map_err(berth_image::StoreError::from)?;
        let cfg: Value = serde_json::from_slice(&cfg_bytes).unwrap_or(Value::Null);
        let size = store.image_size(rec)?;
        let snapshot = store.snapshot(rec, None);
        let lower: Vec<String> = rec
            .layers
            .iter()
            .rev()
            .map(|l| store.layers().path(&l.chain_id).display().to_string())
            .collect();
        out.push(json!({
            "Id": image_id(rec).to_string(),
            "RepoTags": f.names.iter().map(|n| berth_registry::reference::familiar(n)).collect::<Vec<_>>(),
            "RepoDigests": rec.repo_digests.iter().map(|n| berth_registry::reference::familiar(n)).collect::<Vec<_>>(),
            "Parent": "",
            "Comment": cfg.get("comment").cloned().unwrap_or(json!("")),
            "Created": cfg.get("created").cloned().unwrap_or(json!("")),
            "DockerVersion": cfg.get("docker_version").cloned().unwrap_or(json!("")),
            "Author": cfg.get("author").cloned().unwrap_or(json!("")),
            "Config": cfg.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": cfg.get("architecture").cloned().unwrap_or(json!("")),
            "Variant": cfg.get("variant").cloned(),
            "Os": cfg.get("os").cloned().unwrap_or(json!("")),
            "Size": size,
            "GraphDriver": {
                "Name": "overlay",
                "Data": { "LowerDir": lower.join(":"), "Mount": format!("{snapshot:?}") },
            },
            "RootFS": {
                "Type": "layers",
                "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
            "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
            "Descriptor": {
                "mediaType": rec.manifest_media_type,
                "digest": rec.manifest.to_string(),
            },
        }));
    }
    match a.format.as_deref() {
        None => {
            let text = serde_json::to_string_pretty(&Value::Array(out)).unwrap_or_default();
            println!("{text}");
        }
        Some(f) => {
            let keys: Vec<String> = out
                .first()
                .and_then(|v| v.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let known: Vec<&str> = keys.iter().map(String::as_str).collect();
            let t = super::format::Template::parse(f, &known).map_err(CliError::Usage)?;
            for v in &out {
                let fields = v
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                let s = match v {
                                    Value::String(s) => s.clone(),
                                    v => v.to_string(),
                                };
                                (k.as_str(), s)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                println!("{}", t.render(&fields));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::NoSuchImage(missing.join(", ")))
    }
}
