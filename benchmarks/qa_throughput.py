"""QA generation + Pydantic validation + Parquet write, on ≥ 1M rows from synthetic facts, against the same
generation written without validation (rows straight from dicts to Arrow).

Facts come from the synthetic generator's scene recipes (exact boxes and camera paths, no rendering), all five
tiers; each scene is asked again under new phrasing seeds until the row target is reached. Work is spread over
worker processes (one per CPU), each writing its own Parquet files, exactly as curate shards do.

    .venv/bin/python -m benchmarks.qa_throughput [--rows 1000000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import pyarrow as pa

from facts.exact import exact_scene_facts
from qa_templates.base import Drop
from qa_templates.generate import generate_scene_qa, scene_candidates
from schemas.arrow import arrow_schema, to_arrow
from schemas.facts import SceneFacts
from schemas.qa import QARow
from schemas.tiers import ScaleTier
from sources.synthetic.generate import camera_track
from sources.synthetic.scene_specs import build_scene
from sources.synthetic.settings import RenderSettings
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout

SCENES_PER_TIER = 8
KEYFRAME_STRIDE = 3


@cache
def scene_pool() -> tuple[SceneFacts, ...]:
    settings = RenderSettings()
    pool = []
    for tier in ScaleTier:
        for seed in range(SCENES_PER_TIER):
            scene = build_scene(tier, seed)
            track = camera_track(scene.camera_path.poses(settings.num_frames), settings)
            keyframes = list(range(0, settings.num_frames, KEYFRAME_STRIDE))
            pool.append(exact_scene_facts(scene.annotation, track, keyframes, video_id=f"bench-{tier.value}-{seed}"))
    return tuple(pool)


def run_chunk(args: tuple[str, int, int, bool]) -> int:
    """Generate QA for jobs [start, stop) of the (scene, seed) sequence and commit them as one shard."""
    output, start, stop, validate = args
    pool, layout, rows = scene_pool(), OutputLayout(Path(output)), 0
    tables = []
    for job in range(start, stop):
        facts, seed = pool[job % len(pool)], job // len(pool)
        if validate:
            table = to_arrow(generate_scene_qa(facts, "bench", seed).rows, QARow)
        else:
            fields = [item for _, item in scene_candidates(facts, "bench", seed) if not isinstance(item, Drop)]
            table = pa.Table.from_pylist(fields, schema=arrow_schema(QARow))
        tables.append(table)
        rows += table.num_rows
    shard = f"{'valid' if validate else 'raw'}-{start}"
    commit_shard(layout, "qa", shard, stage_table(layout, "qa", pa.concat_tables(tables), shard), "bench")
    return rows


def measure(rows_target: int, rows_per_job: float, workers: int, validate: bool, output: Path) -> tuple[int, float]:
    jobs = int(rows_target / rows_per_job) + 1
    chunk = max(1, jobs // (workers * 8))
    chunks = [(str(output), s, min(s + chunk, jobs), validate) for s in range(0, jobs, chunk)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=scene_pool) as executor:
        rows = sum(executor.map(run_chunk, chunks))
    return rows, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--output", type=Path, default=None, help="keep the written tables here (for duckdb_groupby)")
    args = parser.parse_args()
    pool = scene_pool()
    rows_per_job = sum(len(generate_scene_qa(f, "probe").rows) for f in pool) / len(pool)
    print(f"{len(pool)} synthetic scenes, {rows_per_job:.0f} QA rows per scene on average, {args.workers} workers")
    root = args.output or Path(tempfile.mkdtemp(prefix="spacevista-qa-bench-"))
    raw_rows, raw_s = measure(args.rows, rows_per_job, args.workers, False, root / "raw")
    valid_rows, valid_s = measure(args.rows, rows_per_job, args.workers, True, root / "validated")
    print(f"without validation: {raw_rows:>9,} rows in {raw_s:7.1f} s = {raw_rows / raw_s:8,.0f} rows/s")
    print(f"with validation:    {valid_rows:>9,} rows in {valid_s:7.1f} s = {valid_rows / valid_s:8,.0f} rows/s")
    print(f"validated / unvalidated throughput: {(valid_rows / valid_s) / (raw_rows / raw_s):.3f}")
    print(f"tables: {root / 'validated'}")


if __name__ == "__main__":
    main()
