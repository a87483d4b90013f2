"""One pass of discovery at the start of a curate run: the shard planner (`pipeline.planning.ShardPlanner`) against
the two passes it replaced (a counting pass for the progress total, then planning), on a manifest of N rows.

Each side runs in a fresh interpreter (RSS after imports is its baseline, a thread samples RSS every 5 ms) and
reports: when the run has its first shard to curate, when it knows its progress total, when planning ends, and the
peak RSS. The planner is run twice: taken at once (curation keeps up) and stalled (curation takes nothing until
planning ends, the worst case for the planned shards waiting in memory).

    .venv/bin/python -m benchmarks.discovery_once [--videos 38000] [--repeats 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from benchmarks.plan_38k import MIB, PeakRss, write_manifests

SHARD_SIZE = 2
MODES = ("twice", "once", "once-stalled")


def child(manifest: Path, root: Path, mode: str) -> None:
    """In a fresh interpreter: plan the manifest `mode`'s way and print its timings and peak RSS as JSON."""
    from pipeline.planning import ShardPlanner  # noqa: PLC0415
    from pipeline.shard import plan_shards  # noqa: PLC0415
    from sources.manifest import VideoManifest  # noqa: PLC0415

    rss = PeakRss()
    start = time.perf_counter()
    first_s = total_s = None
    if mode == "twice":
        total = sum(1 for _ in VideoManifest(manifest, root))
        total_s = time.perf_counter() - start
        shards = plan_shards(VideoManifest(manifest, root), SHARD_SIZE, root)
    else:
        planner = ShardPlanner(VideoManifest(manifest, root), SHARD_SIZE, root)
        if mode == "once-stalled":
            while not planner.finished:
                time.sleep(0.001)
        shards = iter(planner)
    n_items = 0
    for shard in shards:
        if first_s is None:
            first_s = time.perf_counter() - start
        n_items += len(shard.items)
        if mode != "twice" and total_s is None and planner.finished:
            total_s, total = time.perf_counter() - start, planner.videos
    wall_s = time.perf_counter() - start
    if total_s is None:
        total_s, total = wall_s, planner.videos
    baseline, peak = rss.stop()
    print(json.dumps({"first_shard_s": first_s, "total_known_s": total_s, "wall_s": wall_s, "total": total,
                      "items": n_items, "baseline_mib": baseline / MIB, "peak_mib": peak / MIB}))


def measure(root: Path, videos: int, repeats: int) -> dict[str, dict]:
    """Each mode `repeats` times, the modes interleaved; per mode, the run of median planning time."""
    manifest = write_manifests(root, videos)["jsonl"]
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(repeats):
        for mode in MODES:
            out = subprocess.run([sys.executable, "-m", "benchmarks.discovery_once", "--child", str(manifest),
                                  "--root", str(root), "--mode", mode], capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {mode: sorted(r, key=lambda x: x["wall_s"])[len(r) // 2] for mode, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=38_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("twice", "once", "once-stalled"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root, args.mode)
        return
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        results = measure(Path(work), args.videos, args.repeats)
    base = results["twice"]
    print(f"JSONL manifest, {args.videos:,} rows, shards of {SHARD_SIZE}; median of {args.repeats} runs per row")
    print(f"{'':44} {'first shard':>12} {'total known':>12} {'planned':>9} {'RSS above baseline':>20}")
    names = {"twice": "count pass, then planning (before; baseline)", "once": "one pass, shards taken at once",
             "once-stalled": "one pass, nothing taken until planned"}
    for mode, r in results.items():
        assert r["total"] == r["items"] == base["total"], (mode, r)
        print(f"{names[mode]:44} {r['first_shard_s']:>10.2f} s {r['total_known_s']:>10.2f} s {r['wall_s']:>7.2f} s "
              f"{r['peak_mib'] - r['baseline_mib']:>+10.1f} MiB (baseline {r['baseline_mib']:.0f} MiB)")
    once = results["once"]
    print(f"one pass / two passes: planning time ×{once['wall_s'] / base['wall_s']:.2f}, "
          f"time to the progress total ×{once['total_known_s'] / base['total_known_s']:.2f}, "
          f"time to the first shard ×{once['first_shard_s'] / base['first_shard_s']:.3f}")


if __name__ == "__main__":
    main()
