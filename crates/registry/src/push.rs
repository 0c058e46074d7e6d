//! Push: upload the blobs a registry lacks (mounting them from another
//! repository of the same registry when the image came from there), then
//! the manifest.

use berth_image::meta::ImageRecord;
use berth_image::spec::{self, Descriptor};
use berth_image::{Digest, ImageStore};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

use crate::client::{status_error, Client, Session};
use crate::error::RegistryError;
use crate::reference::Reference;

/// What happened to each blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    Exists,
    Mounted { from: String },
    Uploaded,
}

#[derive(Debug, Clone)]
pub enum PushEvent {
    Blob {
        digest: Digest,
        outcome: BlobOutcome,
    },
}

#[derive(Debug)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
    pub blobs: Vec<(Digest, BlobOutcome)>,
}

/// Pushes the stored image `rec` as `dest`.
pub async fn push(
    client: &Client,
    store: &ImageStore,
    rec: &ImageRecord,
    dest: &Reference,
    observe: &(dyn Fn(PushEvent) + Send + Sync),
) -> Result<Pushed, RegistryError> {
    let _lock = store.lock_shared()?;
    let s = client.session(dest.registry(), dest.api_host()).await?;
    let repo = dest.repository();
    // a repository of the same registry the image came from: mount source
    let from: Option<String> = rec.repo_digests.iter().find_map(|rd| {
        let name = rd.split('@').next()?;
        let r: Reference = name.parse().ok()?;
        (r.registry() == dest.registry() && r.repository() != repo)
            .then(|| r.repository().to_owned())
    });
    let mut scopes = vec![format!("repository:{repo}:pull,push")];
    if let Some(f) = &from {
        scopes.push(format!("repository:{f}:pull"));
    }

    let manifest = store
        .content()
        .read(&rec.manifest, spec::MAX_DOCUMENT)
        .map_err(berth_image::StoreError::from)?;
    let mut blobs: Vec<Descriptor> = rec.layers.iter().map(|l| l.blob.clone()).collect();
    blobs.push(Descriptor {
        media_type: spec::OCI_CONFIG.into(),
        digest: rec.config.clone(),
        size: store
            .content()
            .size(&rec.config)
            .map_err(berth_image::StoreError::from)?,
        platform: None,
        annotations: None,
        urls: None,
    });
    let mut outcomes = Vec::new();
    for b in &blobs {
        let outcome = push_blob(client, &s, &scopes, repo, store, b, from.as_deref()).await?;
        observe(PushEvent::Blob {
            digest: b.digest.clone(),
            outcome: outcome.clone(),
        });
        outcomes.push((b.digest.clone(), outcome));
    }

    let reference = dest.manifest_ref();
    let mt = rec.manifest_media_type.clone();
    let body = manifest.clone();
    let resp = client
        .send(&s, &scopes, |http, base| {
            http.put(format!("{base}/v2/{repo}/manifests/{reference}"))
                .header(CONTENT_TYPE, mt.clone())
                .body(body.clone())
        })
        .await?;
    if !resp.status().is_success() {
        return Err(status_error(resp, &format!("manifest {dest}")).await);
    }
    tracing::info!(reference = %dest, digest = %rec.manifest, "pushed");
    Ok(Pushed {
        digest: rec.manifest.clone(),
        size: manifest.len() as u64,
        blobs: outcomes,
    })
}

async fn push_blob(
    client: &Client,
    s: &Session,
    scopes: &[String],
    repo: &str,
    store: &ImageStore,
    b: &Descriptor,
    from: Option<&str>,
) -> Result<BlobOutcome, RegistryError> {
    let d = &b.digest;
    let what = format!("blob {d}");
    let head = client
        .send(s, scopes, |http, base| {
            http.head(format!("{base}/v2/{repo}/blobs/{d}"))
        })
        .await?;
    if head.status().is_success() {
        return Ok(BlobOutcome::Exists);
    }
    let start = client
        .send(s, scopes, |http, base| {
            let url = match from {
                Some(f) => format!("{base}/v2/{repo}/blobs/uploads/?mount={d}&from={f}"),
                None => format!("{base}/v2/{repo}/blobs/uploads/"),
            };
            http.post(url).header(CONTENT_LENGTH, "0")
        })
        .await?;
    match start.status() {
        StatusCode::CREATED if from.is_some() => {
            return Ok(BlobOutcome::Mounted {
                from: from.unwrap_or_default().to_owned(),
            })
        }
        StatusCode::ACCEPTED => {}
        _ => return Err(status_error(start, &what).await),
    }
    let location = start
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Status {
            url: what.clone(),
            status: start.status().as_u16(),
            message: "upload started without a Location".into(),
        })?;
    let upload = start
        .url()
        .join(location)
        .map_err(|e| RegistryError::Status {
            url: what.clone(),
            status: 202,
            message: format!("invalid upload Location {location:?}: {e}"),
        })?;
    let mut put_url = upload;
    put_url
        .query_pairs_mut()
        .append_pair("digest", &d.to_string());
    // Monolithic upload streamed from the content store: each attempt
    // (a retry, or the answer to an auth challenge) reads the file afresh.
    let path = store.content().path(d);
    let size = store
        .content()
        .size(d)
        .map_err(berth_image::StoreError::from)?;
    let resp = client
        .send(s, scopes, |http, _| {
            http.put(put_url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap(FileBody::open(path.clone(), size)))
        })
        .await?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(status_error(resp, &what).await);
    }
    Ok(BlobOutcome::Uploaded)
}

/// A blob read from disk in 1 MiB chunks by a blocking task, so an upload
/// never holds more than a few chunks in memory.
struct FileBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    size: u64,
}

impl FileBody {
    /// Starts reading `path`; must be called inside the tokio runtime.
    fn open(path: std::path::PathBuf, size: u64) -> FileBody {
        use std::io::Read;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = vec![0u8; 1 << 20];
                let item = match f.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(bytes::Bytes::from(buf))
                    }
                    Err(e) => Err(e),
                };
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    return; // the request was dropped, or the error is sent
                }
            }
        });
        FileBody { rx, size }
    }
}

impl http_body::Body for FileBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.size)
    }
}
