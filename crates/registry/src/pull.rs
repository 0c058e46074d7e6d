//! Pull: resolve a reference to a manifest (through an index to the host
//! platform), fetch the config, then every missing layer in parallel, each
//! hashed, stored and unpacked in one pass as it streams in. A cut
//! download resumes with a `Range` request where it stopped.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_image::layers::chain_ids;
use berth_image::meta::{ImageRecord, LayerRecord};
use berth_image::spec::{self, Descriptor, Document, Manifest, Platform};
use berth_image::{Digest, ImageStore};
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RANGE};
use reqwest::StatusCode;
use tokio::sync::{mpsc, Semaphore};

use crate::client::{backoff, read_limited, status_error, Client, Session, ATTEMPTS};
use crate::error::RegistryError;
use crate::reference::Reference;

/// What a pull reports as it goes; the CLI renders it.
#[derive(Debug, Clone)]
pub enum Event {
    Resolved {
        reference: String,
        digest: Digest,
    },
    LayerSkipped {
        digest: Digest,
    },
    LayerStarted {
        digest: Digest,
        size: u64,
    },
    LayerProgress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    LayerRetry {
        digest: Digest,
        attempt: u32,
        error: String,
    },
    LayerUnpacking {
        digest: Digest,
    },
    LayerDone {
        digest: Digest,
    },
}

pub type Observer = Arc<dyn Fn(Event) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub platform: Platform,
    /// Layers downloaded at once.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> PullOptions {
        PullOptions {
            platform: Platform::host(),
            concurrency: 6,
        }
    }
}

#[derive(Debug)]
pub struct Pulled {
    pub record: ImageRecord,
    /// The digest the reference resolved to (index or manifest).
    pub digest: Digest,
    /// Layers fetched or unpacked by this pull (0: everything was present).
    pub fetched: usize,
}

pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Pulls `reference` into `store`.
pub async fn pull(
    client: &Client,
    store: Arc<ImageStore>,
    reference: &Reference,
    opts: &PullOptions,
    observe: Observer,
) -> Result<Pulled, RegistryError> {
    let _lock = store.lock_shared()?;
    let s = client
        .session(reference.registry(), reference.api_host())
        .await?;
    let repo = reference.repository();
    let scopes = vec![format!("repository:{repo}:pull")];

    let what = reference.to_string();
    let (bytes, ctype) =
        fetch_manifest(client, &s, &scopes, repo, &reference.manifest_ref(), &what).await?;
    let top = Digest::of(&bytes);
    if let Some(want) = reference.digest() {
        if *want != top {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: want.clone(),
                actual: top,
            });
        }
    }
    observe(Event::Resolved {
        reference: what.clone(),
        digest: top.clone(),
    });

    let (manifest_bytes, manifest_desc_type, index) =
        match spec::parse_document(&bytes, ctype.as_deref(), &what)? {
            Document::Manifest(_) => (
                bytes,
                ctype.unwrap_or_else(|| spec::OCI_MANIFEST.into()),
                None,
            ),
            Document::Index(idx) => {
                let d = spec::select_platform(&idx, &opts.platform).ok_or_else(|| {
                    RegistryError::NoPlatform {
                        reference: what.clone(),
                        platform: format!("{}/{}", opts.platform.os, opts.platform.architecture),
                        available: idx
                            .manifests
                            .iter()
                            .filter_map(|m| {
                                m.platform
                                    .as_ref()
                                    .map(|p| format!("{}/{}", p.os, p.architecture))
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })?;
                let mwhat = format!("{}@{}", reference.name(), d.digest);
                let (mb, _) =
                    fetch_manifest(client, &s, &scopes, repo, &d.digest.to_string(), &mwhat)
                        .await?;
                let got = Digest::of(&mb);
                if got != d.digest {
                    return Err(RegistryError::DigestMismatch {
                        what: mwhat,
                        expected: d.digest.clone(),
                        actual: got,
                    });
                }
                (mb, d.media_type.clone(), Some((top.clone(), bytes)))
            }
        };
    let manifest_digest = Digest::of(&manifest_bytes);
    let manifest: Manifest =
        match spec::parse_document(&manifest_bytes, Some(&manifest_desc_type), &what)? {
            Document::Manifest(m) => *m,
            Document::Index(_) => {
                return Err(spec::SpecError::Invalid {
                    what,
                    problem: "index points at another index".into(),
                }
                .into())
            }
        };

    // Config: small, fetched whole and verified.
    if !store.content().contains(&manifest.config.digest) {
        let cfg = fetch_small_blob(client, &s, &scopes, repo, &manifest.config).await?;
        store
            .content()
            .write_blob(
                &cfg,
                berth_image::content::Expected {
                    digest: Some(manifest.config.digest.clone()),
                    size: Some(manifest.config.size),
                },
            )
            .map_err(berth_image::StoreError::from)?;
    }
    let cfg_bytes = store
        .content()
        .read(&manifest.config.digest, spec::MAX_DOCUMENT)
        .map_err(berth_image::StoreError::from)?;
    let config = spec::parse_config(&cfg_bytes, &manifest, &what)?;
    let chains = chain_ids(&config.rootfs.diff_ids);

    let layers: Vec<LayerRecord> = manifest
        .layers
        .iter()
        .zip(config.rootfs.diff_ids.iter().zip(chains.iter()))
        .map(|(blob, (diff, chain))| LayerRecord {
            blob: blob.clone(),
            diff_id: diff.clone(),
            chain_id: chain.clone(),
        })
        .collect();

    let sizes = fetch_layers(
        client,
        &s,
        &scopes,
        repo,
        &store,
        &layers,
        opts.concurrency.max(1),
        &observe,
    )
    .await?;
    let fetched = sizes.len();

    // Manifest (and index) last: their presence means the image is complete.
    let expect = |d: &Digest| berth_image::content::Expected {
        digest: Some(d.clone()),
        size: None,
    };
    store
        .content()
        .write_blob(&manifest_bytes, expect(&manifest_digest))
        .map_err(berth_image::StoreError::from)?;
    if let Some((d, b)) = &index {
        store
            .content()
            .write_blob(b, expect(d))
            .map_err(berth_image::StoreError::from)?;
    }
    let record = ImageRecord {
        manifest: manifest_digest,
        manifest_media_type: manifest_desc_type,
        index: index.map(|(d, _)| d),
        config: manifest.config.digest.clone(),
        layers,
        repo_digests: vec![format!("{}@{}", reference.name(), top)],
        created: config.created.clone(),
        added: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let names: Vec<String> = reference.tagged_name().into_iter().collect();
    store.commit_image(&record, &names, &sizes)?;
    tracing::info!(reference = %reference, digest = %top, fetched, "pulled");
    Ok(Pulled {
        record,
        digest: top,
        fetched,
    })
}

async fn fetch_manifest(
    client: &Client,
    s: &Session,
    scopes: &[String],
    repo: &str,
    reference: &str,
    what: &str,
) -> Result<(Vec<u8>, Option<String>), RegistryError> {
    let resp = client
        .send(s, scopes, |http, base| {
            http.get(format!("{base}/v2/{repo}/manifests/{reference}"))
                .header(ACCEPT, MANIFEST_ACCEPT)
        })
        .await?;
    if !resp.status().is_success() {
        return Err(status_error(resp, &format!("manifest {what}")).await);
    }
    let ctype = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    let body = read_limited(resp, spec::MAX_DOCUMENT, &format!("manifest {what}")).await?;
    Ok((body, ctype))
}

async fn fetch_small_blob(
    client: &Client,
    s: &Session,
    scopes: &[String],
    repo: &str,
    d: &Descriptor,
) -> Result<Vec<u8>, RegistryError> {
    let what = format!("blob {}", d.digest);
    if d.size > spec::MAX_DOCUMENT {
        return Err(RegistryError::TooLarge {
            what,
            limit: spec::MAX_DOCUMENT,
        });
    }
    let digest = &d.digest;
    let resp = client
        .send(s, scopes, |http, base| {
            http.get(format!("{base}/v2/{repo}/blobs/{digest}"))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(status_error(resp, &what).await);
    }
    let body = read_limited(resp, spec::MAX_DOCUMENT, &what).await?;
    let got = Digest::of(&body);
    if got != *digest {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: digest.clone(),
            actual: got,
        });
    }
    Ok(body)
}

/// Fetches and unpacks every layer not yet present. Returns the content
/// size of each layer it unpacked, by chain id.
#[allow(clippy::too_many_arguments)]
async fn fetch_layers(
    client: &Client,
    s: &Arc<Session>,
    scopes: &[String],
    repo: &str,
    store: &Arc<ImageStore>,
    layers: &[LayerRecord],
    concurrency: usize,
    observe: &Observer,
) -> Result<Vec<(Digest, u64)>, RegistryError> {
    let sem = Arc::new(Semaphore::new(concurrency));
    // Set on the first failure: the other layers stop at their next chunk
    // and clean up, and are awaited, so nothing keeps writing after return.
    let cancel = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    let mut seen = std::collections::HashSet::new();
    for l in layers {
        if !seen.insert(l.chain_id.clone()) {
            continue;
        }
        if store.has_layer(&l.blob.digest, &l.chain_id) {
            observe(Event::LayerSkipped {
                digest: l.blob.digest.clone(),
            });
            continue;
        }
        let (client, s, scopes, repo) =
            (client.clone(), s.clone(), scopes.to_vec(), repo.to_owned());
        let (store, observe, l, sem) = (store.clone(), observe.clone(), l.clone(), sem.clone());
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .map_err(|e| RegistryError::Task(e.to_string()))?;
            if cancel.load(Ordering::Relaxed) {
                return Err(RegistryError::Task("cancelled".into()));
            }
            observe(Event::LayerStarted {
                digest: l.blob.digest.clone(),
                size: l.blob.size,
            });
            let size = if store.content().contains(&l.blob.digest) {
                observe(Event::LayerUnpacking {
                    digest: l.blob.digest.clone(),
                });
                let st = store.clone();
                let lc = l.clone();
                tokio::task::spawn_blocking(move || {
                    st.unpack_stored(&lc.blob, &lc.diff_id, &lc.chain_id)
                })
                .await
                .map_err(|e| RegistryError::Task(e.to_string()))??
            } else {
                stream_layer(&client, &s, &scopes, &repo, &store, &l, &observe, &cancel).await?
            };
            observe(Event::LayerDone {
                digest: l.blob.digest.clone(),
            });
            Ok::<_, RegistryError>((l.chain_id.clone(), size))
        });
    }
    let mut sizes = Vec::new();
    let mut first_err = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(v)) => sizes.push(v),
            Ok(Err(e)) => {
                if first_err.is_none() {
                    first_err = Some(e);
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => {
                first_err.get_or_insert(RegistryError::Task(e.to_string()));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(sizes),
    }
}

/// Downloads one layer into a channel that a blocking task reads as the
/// input of [`ImageStore::ingest_layer`]: hash, store and unpack in one pass.
#[allow(clippy::too_many_arguments)]
async fn stream_layer(
    client: &Client,
    s: &Session,
    scopes: &[String],
    repo: &str,
    store: &Arc<ImageStore>,
    l: &LayerRecord,
    observe: &Observer,
    cancel: &AtomicBool,
) -> Result<u64, RegistryError> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(64);
    let st = store.clone();
    let lc = l.clone();
    let sink = tokio::task::spawn_blocking(move || {
        st.ingest_layer(
            ChannelReader {
                rx,
                cur: Bytes::new(),
            },
            &lc.blob,
            &lc.diff_id,
            &lc.chain_id,
        )
    });
    let downloaded = download(client, s, scopes, repo, &l.blob, tx, observe, cancel).await;
    let stored = sink.await.map_err(|e| RegistryError::Task(e.to_string()))?;
    match (downloaded, stored) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e.into()),
        (Ok(()), Ok(n)) => Ok(n),
    }
}

#[allow(clippy::too_many_arguments)]
async fn download(
    client: &Client,
    s: &Session,
    scopes: &[String],
    repo: &str,
    blob: &Descriptor,
    tx: mpsc::Sender<Result<Bytes, String>>,
    observe: &Observer,
    cancel: &AtomicBool,
) -> Result<(), RegistryError> {
    let digest = &blob.digest;
    let what = format!("blob {digest}");
    let mut offset: u64 = 0;
    let mut failures = 0;
    loop {
        let resp = client
            .send(s, scopes, |http, base| {
                let r = http.get(format!("{base}/v2/{repo}/blobs/{digest}"));
                if offset > 0 {
                    r.header(RANGE, format!("bytes={offset}-"))
                } else {
                    r
                }
            })
            .await;
        let failure = match resp {
            Err(e) => e.to_string(),
            Ok(resp) => {
                let mut skip = match resp.status() {
                    StatusCode::PARTIAL_CONTENT if offset > 0 => 0,
                    StatusCode::OK => offset, // range ignored: drop what we have
                    _ => {
                        let e = status_error(resp, &what).await;
                        let _ = tx.send(Err(e.to_string())).await;
                        return Err(e);
                    }
                };
                let mut resp = resp;
                loop {
                    match resp.chunk().await {
                        Ok(Some(_)) if cancel.load(Ordering::Relaxed) => {
                            let _ = tx.send(Err("cancelled: another layer failed".into())).await;
                            return Err(RegistryError::Task("cancelled".into()));
                        }
                        Ok(Some(mut c)) => {
                            if skip > 0 {
                                let n = skip.min(c.len() as u64);
                                skip -= n;
                                c = c.slice(n as usize..);
                                if c.is_empty() {
                                    continue;
                                }
                            }
                            offset += c.len() as u64;
                            if offset > blob.size {
                                let e = RegistryError::TooLarge {
                                    what: what.clone(),
                                    limit: blob.size,
                                };
                                let _ = tx.send(Err(e.to_string())).await;
                                return Err(e);
                            }
                            if tx.send(Ok(c)).await.is_err() {
                                return Ok(()); // the unpacker stopped; it reports why
                            }
                            observe(Event::LayerProgress {
                                digest: digest.clone(),
                                done: offset,
                                total: blob.size,
                            });
                        }
                        Ok(None) if offset == blob.size => return Ok(()),
                        Ok(None) => {
                            break format!("connection closed at byte {offset} of {}", blob.size)
                        }
                        Err(e) => break e.to_string(),
                    }
                }
            }
        };
        failures += 1;
        if failures >= ATTEMPTS || cancel.load(Ordering::Relaxed) {
            let e = RegistryError::Interrupted {
                digest: digest.clone(),
                attempts: failures,
                last: failure,
            };
            let _ = tx.send(Err(e.to_string())).await;
            return Err(e);
        }
        tracing::debug!(%digest, offset, failures, error = %failure, "layer download cut; resuming");
        observe(Event::LayerRetry {
            digest: digest.clone(),
            attempt: failures,
            error: failure,
        });
        backoff(failures).await;
    }
}

/// Blocking reader over the chunks a download task sends.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(m)) => return Err(io::Error::other(m)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}
