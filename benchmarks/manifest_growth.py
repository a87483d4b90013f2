"""Commit time against the number of shards already committed: the manifest log (deltas + checkpoints) against the
previous design (every version the whole file list), measured in one run on the same tables.

For each table size N, a table of N committed shards (`--files-per-shard` partition files each, like a QA shard) is
set up as one checkpoint, then `--commits` new shards are committed through `storage.commits.commit_shard` (the
first from a cold process state: it reads the checkpoint), enough to cross the next checkpoint. The baseline
commits the same shards the previous way: read the latest whole manifest, write the next one whole, delete the one
before. Staging the data files is the same for both and is not timed.

    .venv/bin/python -m benchmarks.manifest_growth [--sizes 100,1000,10000] [--files-per-shard 15] [--commits 120]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from schemas.arrow import to_arrow
from schemas.runs import FailureRow
from storage import manifests
from storage.commits import StagedFile, commit_shard, read_manifest, stage_table
from storage.layout import FORMAT_VERSION, OutputLayout
from storage.locks import host_lock

TABLE = "failures"


def seeded_table(root: Path, shards: int, files_per_shard: int) -> OutputLayout:
    """An output root whose table lists `shards` committed shards, as one checkpoint (the first after version 1)."""
    layout = OutputLayout(root)
    now = datetime.now(UTC).isoformat()
    files = {f"stage=probe/part-old{shard:06d}-{part:02d}.parquet": {
        "rows": 10, "sha256": "0" * 64, "shard": f"old{shard:06d}", "run_id": "seed", "committed_at": now}
        for shard in range(shards) for part in range(files_per_shard)}
    Path(layout.manifests(TABLE)).mkdir(parents=True)
    version = manifests.CHECKPOINT_INTERVAL
    Path(layout.manifest(TABLE, version)).write_text(json.dumps(
        {"table": TABLE, "format_version": FORMAT_VERSION, "version": version, "committed_at": now, "files": files,
         "superseded": {}}, separators=(",", ":")))
    return layout


def whole_list_commit(layout: OutputLayout, shard: str, staged: list[StagedFile]) -> None:
    """The previous design: every version is the whole file list (the baseline)."""
    with host_lock(layout.lock(TABLE)):
        directory = Path(layout.manifests(TABLE))
        latest = max(directory.glob("*.json"))
        manifest = json.loads(latest.read_text())
        files = {rel: entry for rel, entry in manifest["files"].items() if entry["shard"] != shard}
        now = datetime.now(UTC).isoformat()
        files.update({item.target: {"rows": item.rows, "sha256": item.sha256, "shard": shard, "run_id": "bench",
                                    "committed_at": now} for item in staged})
        version = manifest["version"] + 1
        Path(layout.manifest(TABLE, version)).write_text(json.dumps(
            {**manifest, "version": version, "committed_at": now, "files": files}, indent=1, sort_keys=True))
        for old in directory.glob("*.json"):
            if int(old.name[:8]) < version - 1:
                old.unlink()


def timed_commits(layout: OutputLayout, commits: int, commit) -> list[float]:
    row = to_arrow([FailureRow(run_id="bench", uri="v.mp4", scene_id=None, video_id=None, stage="probe",
                               error_type="VideoDecodeError", message="bad")], FailureRow)
    manifests._LAST_READ.clear()  # a cold process: the first commit reads the checkpoint
    seconds = []
    for index in range(commits):
        shard = f"new{index:06d}"
        staged = stage_table(layout, TABLE, row, shard)
        start = time.perf_counter()
        commit(layout, shard, staged)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="shards already committed, comma-separated")
    parser.add_argument("--files-per-shard", type=int, default=15)
    parser.add_argument("--commits", type=int, default=120, help="commits timed per size (crosses a checkpoint)")
    parser.add_argument("--baseline-commits", type=int, default=10)
    args = parser.parse_args()
    if args.commits < manifests.CHECKPOINT_INTERVAL:
        parser.error(f"--commits must reach the next checkpoint ({manifests.CHECKPOINT_INTERVAL} commits)")
    print(f"{'shards':>7s} {'files':>8s} | {'log: median':>11s} {'cold first':>10s} {'checkpoint':>10s} "
          f"{'mean':>7s} | {'whole list: median':>18s} | {'baseline / log':>14s}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="spacevista-manifest-growth-") as scratch:
            layout = seeded_table(Path(scratch) / "log", size, args.files_per_shard)
            log = timed_commits(layout, args.commits, lambda lay, shard, staged: commit_shard(
                lay, TABLE, shard, staged, "bench"))
            assert len(read_manifest(layout, TABLE)["files"]) == size * args.files_per_shard + args.commits
            checkpoint = log[manifests.CHECKPOINT_INTERVAL - 1]  # the commit that wrote the next checkpoint
            baseline = timed_commits(seeded_table(Path(scratch) / "whole", size, args.files_per_shard),
                                     args.baseline_commits, whole_list_commit)
        median, base = statistics.median(log[1:]), statistics.median(baseline[1:])
        print(f"{size:7,d} {size * args.files_per_shard:8,d} | {median * 1e3:9.1f}ms {log[0] * 1e3:8.1f}ms "
              f"{checkpoint * 1e3:8.1f}ms {statistics.mean(log) * 1e3:5.1f}ms | {base * 1e3:16.1f}ms | "
              f"{base / median:13.1f}×", flush=True)


if __name__ == "__main__":
    main()
