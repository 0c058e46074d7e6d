#!/usr/bin/env python3
"""Prints the pull benchmark's table from hyperfine's JSON (bench/pull.sh sets
the environment) and, with write_docs=1, replaces the pull section of
docs/benchmarks.md (between its markers, or appended)."""
import datetime
import json
import os
import platform
import statistics

env = os.environ
work = env["work"]
cold = {r["command"]: r for r in json.load(open(f"{work}/cold.json"))["results"]}
warm = json.load(open(f"{work}/warm.json"))["results"][0]


def med(r):
    return statistics.median(r["times"])


b, s, d = med(cold["berth"]), med(cold["skopeo"]), med(cold["docker"])
c = med(cold["skopeo-cs"])
w = med(warm)
rows = [
    ("cold pull: berth", b, ""),
    ("cold pull: skopeo copy to an OCI dir (blobs only, no unpacking)", s, f"{s / b:.2f}x berth's time"),
    ("cold pull: skopeo copy to containers-storage (unpacks, as podman pull)", c, f"{c / b:.2f}x berth's time"),
    ("cold pull: docker pull", d, f"{d / b:.2f}x berth's time"),
    ("warm pull: berth (all layers present)", w, ""),
]
met = lambda ok: "met" if ok else "NOT met"
targets = (
    f"Targets: >= 1.5x faster than docker ({d / b:.2f}x, {met(d / b >= 1.5)}) and skopeo: "
    f"into containers-storage {c / b:.2f}x ({met(c / b >= 1.5)}), to an OCI dir {s / b:.2f}x "
    f"({met(s / b >= 1.5)}); warm pull < 50 ms ({w * 1000:.1f} ms, {met(w < 0.05)})."
)
table = ["| measurement | median | ratio |", "|---|---:|---|"]
table += [f"| {n} | {t * 1000:.0f} ms | {r} |" if t >= 0.1 else f"| {n} | {t * 1000:.1f} ms | {r} |" for n, t, r in rows]
print("\n".join(table))
print(targets)
print(f"berth save | docker load: {env['load_ok']}")

if env.get("write_docs") == "1":
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join([
        "<!-- pull-bench:start -->",
        "# Pull benchmarks",
        "",
        "Cold pull of one ~100 MB, 4-layer image (gzip layers of generated files, half random,",
        "half text; 250 files of 192 KiB per layer) from a `docker-registry` on 127.0.0.1, by",
        "berth, `skopeo copy` (twice: to an OCI directory, and to containers-storage) and",
        "`docker pull`, paired in one hyperfine run; then berth's warm pull (every layer",
        "present). Measured by `bench/pull.sh` in one invocation.",
        "",
        f"- date: {now}",
        f"- kernel: {platform.release()}; machine: {os.cpu_count()} CPUs (shared with other builds while measuring)",
        f"- image: {env['size_mb']} MB of blobs, 4 layers",
        f"- berth: {env['berth_version']}, release build",
        f"- skopeo: {env['skopeo_version']}; docker: {env['docker_version']} (its own dockerd, overlay2)",
        f"- runs: {env['runs']} cold per tool (each after emptying that tool's store), {env['warm_runs']} warm",
        "",
        *table,
        "",
        targets,
        "",
        f"`berth save IMAGE | docker load`: {env['load_ok']}.",
        "",
        "What each tool does: berth downloads the layers in parallel and hashes, stores and",
        "unpacks each while it streams (writeback of each file started as it is written,",
        "then fsync of every blob and syncfs of every layer tree before it is named);",
        "docker pulls through its own dockerd/containerd and unpacks too; skopeo into",
        "containers-storage (overlay driver) does what `podman pull` does, unpacking every",
        "layer; skopeo to an OCI directory only writes and fsyncs the compressed blobs.",
        "",
        "Reproduce:",
        "",
        "```",
        "bench/pull.sh                # prints the table",
        "bench/pull.sh --write-docs   # and rewrites this section",
        "```",
        "",
        "Knobs: `BERTH` (a berth binary; skips the build), `RUNS`, `WARM_RUNS`.",
        "<!-- pull-bench:end -->",
    ])
    path = os.path.join(env["repo"], "docs", "benchmarks.md")
    text = open(path).read() if os.path.exists(path) else ""
    start, end = "<!-- pull-bench:start -->", "<!-- pull-bench:end -->"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(path, "w").write(text)
    print(f"wrote {path}")
