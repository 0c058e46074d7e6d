#!/usr/bin/env python3
"""Writes the pull benchmark's image as an OCI layout: 4 gzip layers of
generated files (half random bytes, half text), ~100 MB of blobs in all.
Seeded, so every run writes the same bytes.

    pull_image.py LAYOUT_DIR
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

FILES_PER_LAYER = 250
FILE_SIZE = 192 * 1024
WORDS = [b"berth", b"layer", b"image", b"registry", b"container", b"overlay", b"digest", b"manifest"]


def layer(seed):
    rnd = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        d = tarfile.TarInfo(f"data{seed}")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1_600_000_000
        t.addfile(d)
        for i in range(FILES_PER_LAYER):
            half = FILE_SIZE // 2
            text = b" ".join(rnd.choice(WORDS) for _ in range(half // 6))[:half]
            data = rnd.randbytes(FILE_SIZE - len(text)) + text
            info = tarfile.TarInfo(f"data{seed}/f{i:04}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_600_000_000
            t.addfile(info, io.BytesIO(data))
    plain = buf.getvalue()
    gz = gzip.compress(plain, compresslevel=6, mtime=0)
    return plain, gz


def main():
    out = sys.argv[1]
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(b):
        h = hashlib.sha256(b).hexdigest()
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(b)
        return {"digest": "sha256:" + h, "size": len(b)}

    layers, diffs = [], []
    for seed in range(4):
        plain, gz = layer(seed)
        diffs.append("sha256:" + hashlib.sha256(plain).hexdigest())
        layers.append(dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **put(gz)))
    config = json.dumps({
        "created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diffs},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **put(config)),
        "layers": layers,
    }).encode()
    m = put(manifest)
    index = {"schemaVersion": 2, "manifests": [dict(
        mediaType="application/vnd.oci.image.manifest.v1+json", **m,
        annotations={"org.opencontainers.image.ref.name": "v1"})]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    total = sum(l["size"] for l in layers)
    print(f"   4 layers, {total / 1e6:.1f} MB compressed, {m['digest']}")


if __name__ == "__main__":
    main()
