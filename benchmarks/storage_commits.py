"""Commit, query and vacuum costs of versioned manifests, on a local directory and on fsspec's memory:// filesystem.

Commits S shards of real generated QA rows (hive-partitioned like curate writes them) into one table, measures the
manifest versions left stored and their bytes, then times a catalog query before and after a vacuum that removes
the superseded data files; the first and last commits show how a commit grows with the manifest.

    .venv/bin/python -m benchmarks.storage_commits [--shards 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

import fsspec
import pyarrow as pa

from qa_templates.generate import generate_scene_qa
from schemas.arrow import to_arrow
from schemas.qa import QARow
from storage.catalog import query
from storage.commits import commit_shard, stage_table, vacuum
from storage.filesystem import list_files
from storage.layout import OutputLayout
from storage.manifests import manifest_versions

QUERY = "SELECT scale, task_type, count(*) FROM qa GROUP BY ALL"


def seed_batch() -> pa.Table:
    from benchmarks.qa_throughput import scene_pool  # noqa: PLC0415

    return to_arrow([r for facts in scene_pool()[:2] for r in generate_scene_qa(facts, "bench").rows], QARow)


def run(layout: OutputLayout, batch: pa.Table, shards: int, repeats: int) -> dict[str, float]:
    commits = []
    for i in range(shards):
        shard = f"s{i % (shards // 2)}"
        start = time.perf_counter()
        commit_shard(layout, "qa", shard, stage_table(layout, "qa", batch, shard), "bench")
        commits.append(time.perf_counter() - start)
    versions = manifest_versions(layout, "qa")
    stored = sum(info.size for info in list_files(layout.fs, layout.manifests("qa")))
    before = _median_query(layout, repeats)
    start = time.perf_counter()
    report = vacuum(layout, older_than=timedelta(0))
    vacuum_s = time.perf_counter() - start
    return {"first commits ms": statistics.median(commits[:10]) * 1000,
            "last commits ms": statistics.median(commits[-10:]) * 1000,
            "manifest versions stored": len(versions), "manifest KB stored": stored / 1024,
            "query ms, before vacuum": before * 1000, "query ms, after vacuum": _median_query(layout, repeats) * 1000,
            "vacuum s": vacuum_s, "files removed": report.files_removed, "manifests removed": report.manifests_removed}


def _median_query(layout: OutputLayout, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        query(layout, QUERY)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=int, default=100, help="commits (half of them re-commit an earlier shard)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    batch = seed_batch()
    print(f"{args.shards} commits of {batch.num_rows} QA rows each into one table")
    bucket = f"spacevista-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="spacevista-storage-bench-") as scratch:
        results = {"local": run(OutputLayout(scratch), batch, args.shards, args.repeats),
                   "memory://": run(OutputLayout(f"memory://{bucket}/out"), batch, args.shards, args.repeats)}
    fsspec.filesystem("memory").rm(f"/{bucket}", recursive=True)
    print(f"{'':30s}" + "".join(f"{name:>14s}" for name in results))
    for metric in results["local"]:
        print(f"{metric:30s}" + "".join(f"{r[metric]:14.1f}" for r in results.values()))
    for name, r in results.items():
        print(f"{name}: last/first commit {r['last commits ms'] / r['first commits ms']:.2f}×, query before / "
              f"after vacuum {r['query ms, before vacuum'] / r['query ms, after vacuum']:.2f}×")


if __name__ == "__main__":
    main()
