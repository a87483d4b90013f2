"""Planning a 38,000-video manifest (time and peak RSS) and the catalog's query latency at that scale.

Planning: a 38K-row manifest is written (JSONL, CSV and Parquet; the video files need not exist: planning resolves
and checks paths but opens no video, a missing file fails at its video's probe stage). Each measurement runs in a
fresh interpreter that imports the planning code, notes its RSS (the baseline), and plans while a thread samples
its RSS:
streamed (the flow's way: manifest rows → shards, one shard held at a time) against materialized (every item and
every shard in lists), and 3.8K rows against 38K to show that streamed planning memory does not grow with the
manifest.

Catalog: synthetic rows at 38K-video scale (38,000 videos, 608,000 frames, 2,698,000 QA rows; QA rows are copies
of real generated rows of the video's tier under new ids) are committed through storage.commits in shards of 200
videos, then typical DuckDB queries are timed on the catalog file, and through `storage.catalog.query` (what
`spacevista sql` runs: views built from the manifests on every call), before and after `storage.compaction`
merges the small files (the baseline: the same tables as committed, one file per shard and partition). For the
lookup of one video, DuckDB's EXPLAIN ANALYZE gives the files and row groups it read. The cost of re-committing one
shard (replacing its QA rows) is timed on both sides too: after compaction it rewrites the compacted files that
hold the shard's rows.

    .venv/bin/python -m benchmarks.plan_38k [--videos 38000] [--work DIR] [--catalog-only]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from schemas.tiers import ScaleTier

TIERS = list(ScaleTier)
FRAMES_PER_VIDEO = 16
QA_PER_VIDEO = 71
MIB = 1 << 20
SHARD_VIDEOS = 200
QUERIES = {
    "QA count per tier × task (group-by)": ("SELECT scale, task_type, count(*) FROM qa GROUP BY ALL", False),
    "QA of one video (filtered lookup)": ("SELECT qa_id, task_type, question FROM qa WHERE video_id = ?", True),
    "frames of one video (filtered lookup)": ("SELECT frame_index, path FROM frames WHERE video_id = ?", True),
    "QA × videos join, per source × tier": ("SELECT v.source, q.scale, count(*) FROM qa q JOIN videos v "
                                            "USING (video_id) GROUP BY ALL", False),
}


def write_manifests(root: Path, videos: int) -> dict[str, Path]:
    """A manifest of `videos` rows in each format: plain videos and annotated scenes, every tier, under root."""
    uris = [f"batch{n // 1000:03d}/clip{n:06d}.mp4" for n in range(videos)]
    annotated = [n % 4 == 0 for n in range(videos)]
    table = pa.table({
        "uri": [f"scenes/s{n:06d}/video.mp4" if a else u for n, (u, a) in enumerate(zip(uris, annotated))],
        "scene_id": [None if n % 3 else f"scene-{n:06d}" for n in range(videos)],
        "tier": [TIERS[n * len(TIERS) // videos].value for n in range(videos)],
        "annotations_dir": [f"scenes/s{n:06d}" if a else None for n, a in enumerate(annotated)]})
    paths = {fmt: root / f"videos-{videos}.{fmt}" for fmt in ("jsonl", "csv", "parquet")}
    paths["jsonl"].write_text("".join(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n"
                                      for row in table.to_pylist()))
    pacsv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"])
    return paths


class PeakRss:
    """This process's resident memory: the baseline when made (after a garbage collection) and the peak, sampled
    every 5 ms by a thread until `stop`."""

    def __init__(self):
        gc.collect()
        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self._peak, self._done = self.baseline, threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def stop(self) -> tuple[int, int]:
        """(baseline, peak) in bytes, the peak including the memory at this call."""
        self._done.set()
        self._sampler.join()
        return self.baseline, max(self._peak, self._process.memory_info().rss)


def plan_child(manifest: Path, root: Path, materialize: bool) -> None:
    """In a fresh interpreter: RSS after imports (the baseline), then plan while a thread samples RSS every 5 ms;
    the baseline, the peak while planning and the wall time are printed as JSON."""
    from pipeline.shard import plan_shards  # noqa: PLC0415
    from sources.manifest import VideoManifest  # noqa: PLC0415

    rss = PeakRss()
    start = time.perf_counter()
    videos = VideoManifest(manifest, root)
    items = list(videos) if materialize else videos
    shards = list(plan_shards(items, 2, root)) if materialize else plan_shards(items, 2, root)
    n_shards = n_items = 0
    ids = hashlib.sha256()
    for shard in shards:
        n_shards += 1
        n_items += len(shard.items)
        ids.update(shard.shard_id.encode())
    wall_s = time.perf_counter() - start
    baseline, peak = rss.stop()
    print(json.dumps({"baseline_mib": baseline / MIB, "peak_mib": peak / MIB, "wall_s": wall_s,
                      "shards": n_shards, "items": n_items, "rejected": len(videos.rejected),
                      "ids": ids.hexdigest()[:12]}))


def measure_planning(root: Path, videos: int) -> list[tuple[str, dict]]:
    small, full = write_manifests(root, videos // 10), write_manifests(root, videos)
    runs = [(f"JSONL {videos // 10:,} rows, streamed", small["jsonl"], False),
            (f"JSONL {videos:,} rows, streamed", full["jsonl"], False),
            (f"CSV {videos:,} rows, streamed", full["csv"], False),
            (f"Parquet {videos:,} rows, streamed", full["parquet"], False),
            (f"JSONL {videos:,} rows, materialized (all items and shards in lists)", full["jsonl"], True)]
    results = []
    for name, manifest, materialize in runs:
        out = subprocess.run([sys.executable, "-m", "benchmarks.plan_38k", "--plan-child", str(manifest),
                              "--root", str(root), *(["--materialize"] if materialize else [])],
                             capture_output=True, text=True, check=True)
        results.append((name, json.loads(out.stdout.strip().splitlines()[-1])))
    return results


def _tier_seed_rows() -> dict[str, pa.Table]:
    """Real generated QA rows, one scene per tier, as Arrow tables by tier."""
    from benchmarks.qa_throughput import SCENES_PER_TIER, scene_pool  # noqa: PLC0415
    from qa_templates.generate import generate_scene_qa  # noqa: PLC0415
    from schemas.arrow import to_arrow  # noqa: PLC0415
    from schemas.qa import QARow  # noqa: PLC0415

    rows = [r for facts in scene_pool()[::SCENES_PER_TIER] for r in generate_scene_qa(facts, "bench").rows]
    table = to_arrow(rows, QARow)
    return {tier.value: table.filter(pc.equal(table["scale"], tier.value)) for tier in TIERS}


def build_catalog(layout, videos: int) -> None:
    """Commit videos, frames and QA of `videos` synthetic videos, SHARD_VIDEOS per shard, tier by tier."""
    from storage.commits import commit_shard, stage_table  # noqa: PLC0415

    seeds = _tier_seed_rows()
    for start in range(0, videos, SHARD_VIDEOS):
        numbers = np.arange(start, min(start + SHARD_VIDEOS, videos))
        tier = TIERS[start * len(TIERS) // videos].value
        video_ids = [_video_id(n) for n in numbers]
        scene_ids = [f"scene-{n:06d}" for n in numbers]
        shard = f"bench{start // SHARD_VIDEOS:05d}"
        tables = {"videos": _videos(numbers, video_ids, scene_ids), "frames": _frames(video_ids, scene_ids),
                  "qa": _qa(seeds[tier], numbers, video_ids, scene_ids)}
        for name, data in tables.items():
            commit_shard(layout, name, shard, stage_table(layout, name, data, shard), "bench")


def _videos(numbers: np.ndarray, video_ids: list[str], scene_ids: list[str]) -> pa.Table:
    n = len(numbers)
    return pa.table({"video_id": video_ids, "source": ["annotated" if k % 4 == 0 else "video_folder" for k in numbers],
                     "uri": [f"batch{k // 1000:03d}/clip{k:06d}.mp4" for k in numbers], "scene_id": scene_ids,
                     "size_bytes": np.full(n, 4_000_000), "fps": np.full(n, 30.0), "n_frames": np.full(n, 300),
                     "width": np.full(n, 1280), "height": np.full(n, 720), "duration_s": np.full(n, 10.0),
                     "has_native_annotations": [k % 4 == 0 for k in numbers], "run_id": ["bench"] * n})


def _frames(video_ids: list[str], scene_ids: list[str]) -> pa.Table:
    n = len(video_ids) * FRAMES_PER_VIDEO
    index = np.tile(np.arange(FRAMES_PER_VIDEO) * 18, len(video_ids))
    digests = [hashlib.sha256(f"{v}-{i}".encode()).hexdigest() for v in video_ids for i in range(FRAMES_PER_VIDEO)]
    return pa.table({"video_id": np.repeat(video_ids, FRAMES_PER_VIDEO), "scene_id": np.repeat(scene_ids,
                                                                                                FRAMES_PER_VIDEO),
                     "frame_index": index, "timestamp_s": index / 30.0, "frame_sha256": digests,
                     "path": [f"artifacts/frames/{d[:2]}/{d}.png" for d in digests],
                     "width": np.full(n, 1280), "height": np.full(n, 720)})


def _qa(seed: pa.Table, numbers: np.ndarray, video_ids: list[str], scene_ids: list[str]) -> pa.Table:
    picks = ((numbers[:, None] * 7 + np.arange(QA_PER_VIDEO)[None, :]) % seed.num_rows).ravel()
    table = seed.take(pa.array(picks))
    owners = np.repeat(np.arange(len(numbers)), QA_PER_VIDEO)
    replaced = {"qa_id": [f"{video_ids[o][:24]}-{k % QA_PER_VIDEO}" for k, o in enumerate(owners)],
                "video_id": np.asarray(video_ids)[owners], "scene_id": np.asarray(scene_ids)[owners]}
    for column, values in replaced.items():
        index = table.schema.get_field_index(column)
        table = table.set_column(index, table.schema.field(index), pa.array(values, pa.string()))
    return table


def time_queries(layout, videos: int, repeats: int) -> list[tuple[str, float, float, int]]:
    """Median latency of each query on the catalog file and through storage.catalog.query; rows returned."""
    from storage.catalog import open_catalog, query  # noqa: PLC0415

    probe = [_video_id(videos // 2)]
    results = []
    with open_catalog(layout) as con:
        for name, (sql, bound) in QUERIES.items():
            params = probe if bound else None
            direct = _median(lambda: con.execute(sql, params).fetchall(), repeats)
            end_to_end = _median(lambda: query(layout, sql, params), repeats)
            results.append((name, direct, end_to_end, len(con.execute(sql, params).fetchall())))
    return results


def lookup_reads(layout, videos: int) -> tuple[int, int, int]:
    """Files, row groups scanned and row groups in those files for the lookup of one video's QA (EXPLAIN ANALYZE)."""
    from storage.catalog import open_catalog  # noqa: PLC0415

    sql = "EXPLAIN ANALYZE " + QUERIES["QA of one video (filtered lookup)"][0]
    with open_catalog(layout) as con:
        plan = "\n".join(row[1] for row in con.execute(sql, [_video_id(videos // 2)]).fetchall())
    files = sum(int(n) for n in re.findall(r"Total Files Read: (\d+)", plan))
    groups = [(int(a), int(b)) for a, b in re.findall(r"Row Groups Scanned: (\d+) / (\d+)", plan)]
    return files, sum(a for a, _ in groups), sum(b for _, b in groups)


def recommit_qa_shard(layout, shard_number: int) -> float:
    """Seconds to commit one shard's QA rows again (the same rows), replacing the committed ones."""
    from storage.commits import commit_shard, shard_rows, stage_table  # noqa: PLC0415

    shard = f"bench{shard_number:05d}"
    data = shard_rows(layout, "qa", shard)[shard]
    began = time.perf_counter()
    commit_shard(layout, "qa", shard, stage_table(layout, "qa", data, shard), "bench")
    return time.perf_counter() - began


def _video_id(number: int) -> str:
    return hashlib.sha256(f"video-{number}".encode()).hexdigest()


def _median(run, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=38_000)
    parser.add_argument("--work", type=Path, default=None,
                        help="where the manifests and tables go (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--catalog-only", action="store_true", help="skip the planning measurements")
    parser.add_argument("--plan-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--materialize", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.videos <= 2 * SHARD_VIDEOS:
        parser.error(f"--videos must be over {2 * SHARD_VIDEOS}: the QA rows of shards 1 and 2 are committed again")
    if args.plan_child:
        plan_child(args.plan_child, args.root, args.materialize)
        return
    from storage.catalog import refresh_catalog  # noqa: PLC0415
    from storage.compaction import compact  # noqa: PLC0415
    from storage.layout import OutputLayout  # noqa: PLC0415

    work = args.work or Path(tempfile.mkdtemp(prefix="spacevista-plan38k-"))
    root = work / "data"
    root.mkdir(parents=True, exist_ok=True)
    if not args.catalog_only:
        print("planning (shard size 2; baseline: the RSS of a fresh interpreter that imported the planning code)")
        for name, r in measure_planning(root, args.videos):
            print(f"  {name:64s} {r['wall_s']:6.2f} s  peak {r['peak_mib']:6.1f} MiB  baseline "
                  f"{r['baseline_mib']:6.1f} MiB  (+{r['peak_mib'] - r['baseline_mib']:5.1f} MiB, "
                  f"×{r['peak_mib'] / r['baseline_mib']:.2f})  {r['shards']:,} shards of {r['items']:,} videos, "
                  f"ids {r['ids']}")
    layout = OutputLayout(work / "output")
    start = time.perf_counter()
    build_catalog(layout, args.videos)
    start_refresh = time.perf_counter()
    refresh_catalog(layout)
    done = time.perf_counter()
    print(f"catalog: {_describe(layout)}; committed in {start_refresh - start:.1f} s, catalog refresh "
          f"{done - start_refresh:.2f} s")
    before = _measure(layout, args.videos, args.repeats, shard_number=1)
    began = time.perf_counter()
    reports = [compact(layout, table) for table in ("videos", "frames", "qa")]
    compacted = time.perf_counter() - began
    refresh_catalog(layout)
    print(f"compaction {compacted:.1f} s: " + ", ".join(f"{r.table} {r.files_merged:,} files → {r.files_written:,}"
                                                        for r in reports) + f"; now {_describe(layout)}")
    after = _measure(layout, args.videos, args.repeats, shard_number=2)
    print(f"{'':40s} {'before compaction':>36s}   {'after compaction':>36s}   ratio (before / after)")
    print(f"{'':40s} {'catalog file':>16s} {'catalog.query':>19s}   {'catalog file':>16s} {'catalog.query':>19s}")
    for (name, d0, q0, n0), (_, d1, q1, n1) in zip(before["queries"], after["queries"]):
        assert n0 == n1, (name, n0, n1)  # compaction keeps every row
        print(f"  {name:38s} {d0 * 1000:13.1f} ms {q0 * 1000:16.1f} ms   {d1 * 1000:13.1f} ms {q1 * 1000:16.1f} ms"
              f"   ×{d0 / d1:.1f} / ×{q0 / q1:.1f}   ({n1:,} rows, median of {args.repeats})")
    for side, m in (("before", before), ("after", after)):
        files, scanned, groups = m["reads"]
        print(f"  {side}: the lookup of one video read {files:,} files, {scanned:,} of their {groups:,} row groups; "
              f"re-committing one shard's QA rows took {m['recommit_s'] * 1000:.0f} ms")


def _measure(layout, videos: int, repeats: int, shard_number: int) -> dict:
    return {"queries": time_queries(layout, videos, repeats), "reads": lookup_reads(layout, videos),
            "recommit_s": recommit_qa_shard(layout, shard_number)}


def _describe(layout) -> str:
    from storage.commits import read_manifest  # noqa: PLC0415

    manifests = {t: read_manifest(layout, t)["files"] for t in ("videos", "frames", "qa")}
    return ", ".join(f"{t} {sum(e['rows'] for e in files.values()):,} rows in {len(files):,} files"
                     for t, files in manifests.items())


if __name__ == "__main__":
    main()
