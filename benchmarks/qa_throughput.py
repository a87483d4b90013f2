"""QA generation + Pydantic validation + Parquet write, on ≥ 1M rows from synthetic facts, against the same
generation written without validation (rows straight from dicts to Arrow); rows/s per task type.

Facts come from the synthetic generator's scene recipes (exact boxes and camera paths, no rendering), all five
tiers; each scene is asked again under new phrasing seeds until the row target is reached. Work is spread over
worker processes (one per CPU), each writing its own Parquet files, exactly as curate shards do.

Two lanes, measured one after the other: the planning tasks (`PLANNING_TASKS`: RRT-Connect plans and swept boxes,
10–100× slower per row) run in jobs of their own, so the rest goes at its own rate. The rest is measured on the
row target; the planning lane on `--planning-passes` passes over the scenes (each scene once per pass, under a new
seed), with the wall time its share of a full mix of the row target would take at that rate. Each task draws
from its own generator, so the lanes together yield exactly the rows of whole-scene generation. Worker CPU seconds
(steadier than wall time on a shared machine) are split into generation per task, validation, and Arrow + Parquet
+ commit.

    .venv/bin/python -m benchmarks.qa_throughput [--rows 1000000] [--workers N] [--planning-passes 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pyarrow as pa

from facts.exact import exact_scene_facts
from qa_templates.base import Drop, load_all_templates
from qa_templates.generate import PLANNING_TASKS, generate_scene_qa, scene_candidates, validate_rows
from schemas.arrow import arrow_schema, to_arrow
from schemas.facts import SceneFacts
from schemas.qa import QARow, TaskType
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


@dataclass
class Tally:
    """Rows and generation CPU seconds per task, and the CPU seconds of validation and of writing (Arrow, Parquet,
    commit), summed over workers."""

    rows: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    stages: Counter = field(default_factory=Counter)

    def add(self, other: Tally) -> Tally:
        self.rows.update(other.rows)
        self.seconds.update(other.seconds)
        self.stages.update(other.stages)
        return self


def run_chunk(args: tuple[str, str, tuple[TaskType, ...], int, int, bool]) -> Tally:
    """Generate the lane's QA for jobs [start, stop) of the (scene, seed) sequence task by task, validate each
    scene's rows (as `generate_scene_qa` does) or not, and commit them as one shard; every step timed."""
    output, lane, tasks, start, stop, validate = args
    pool, layout, tally = scene_pool(), OutputLayout(Path(output)), Tally()
    rows: list = []
    for job in range(start, stop):
        facts, seed = pool[job % len(pool)], job // len(pool)
        fields = []
        for task in tasks:
            began = time.process_time()
            made = [item for _, item in scene_candidates(facts, "bench", seed, tasks=(task,))
                    if not isinstance(item, Drop)]
            tally.seconds[task.value] += time.process_time() - began
            tally.rows[task.value] += len(made)
            fields += made
        began = time.process_time()
        rows += validate_rows(fields, "bench", facts.scene.scene_id)[0] if validate else fields
        tally.stages["validation"] += time.process_time() - began
    began = time.process_time()
    table = to_arrow(rows, QARow) if validate else pa.Table.from_pylist(rows, schema=arrow_schema(QARow))
    shard = f"{lane}-{'valid' if validate else 'raw'}-{start}"
    commit_shard(layout, "qa", shard, stage_table(layout, "qa", table, shard), "bench")
    tally.stages["arrow + parquet + commit"] += time.process_time() - began
    return tally


@dataclass
class Run:
    lane: str
    validate: bool
    tally: Tally
    wall_s: float

    @property
    def rows(self) -> int:
        return sum(self.tally.rows.values())

    @property
    def rate(self) -> float:
        return self.rows / self.wall_s


def measure(lane: str, tasks: tuple[TaskType, ...], jobs: int, workers: int, validate: bool, output: Path) -> Run:
    chunk = max(1, jobs // (workers * 8))
    chunks = [(str(output), lane, tasks, s, min(s + chunk, jobs), validate) for s in range(0, jobs, chunk)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=scene_pool) as executor:
        tally = Tally()
        for part in executor.map(run_chunk, chunks):
            tally.add(part)
    return Run(lane, validate, tally, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the non-planning lane")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--planning-passes", type=int, default=2, help="passes over the scenes of the planning lane")
    parser.add_argument("--output", type=Path, default=None, help="keep the written tables here (for duckdb_groupby)")
    args = parser.parse_args()
    pool = scene_pool()
    planning = tuple(sorted(PLANNING_TASKS, key=lambda t: t.value))
    rest = tuple(sorted((t for t in load_all_templates() if t not in PLANNING_TASKS), key=lambda t: t.value))
    rest_per_job = sum(len(generate_scene_qa(f, "probe", tasks=rest).rows) for f in pool) / len(pool)
    print(f"{len(pool)} synthetic scenes, {rest_per_job:.0f} non-planning QA rows per scene on average, "
          f"{args.workers} workers")
    root = args.output or Path(tempfile.mkdtemp(prefix="spacevista-qa-bench-"))
    runs = [measure(lane, tasks, jobs, args.workers, validate, root / ("validated" if validate else "raw"))
            for lane, tasks, jobs in (("rest", rest, int(args.rows / rest_per_job) + 1),
                                      ("planning", planning, args.planning_passes * len(pool)))
            for validate in (False, True)]
    print(f"{'lane':9} {'variant':12} {'rows':>10} {'wall s':>8} {'rows/s':>9}")
    for run in runs:
        print(f"{run.lane:9} {'validated' if run.validate else 'unvalidated':12} {run.rows:>10,} "
              f"{run.wall_s:8.1f} {run.rate:9,.0f}")
    for lane in ("rest", "planning"):
        raw, valid = (run for run in runs if run.lane == lane)
        print(f"{lane}: validated / unvalidated wall time per row: {raw.rate / valid.rate:.3f}")
    rest_run, planning_run = runs[1], runs[3]
    per_worker_s = [run.rows / max(run.tally.seconds.total(), 1e-9) for run in (planning_run, rest_run)]
    mix_planning = rest_run.rows * (planning_run.rows / (args.planning_passes * len(pool))) / rest_per_job
    print(f"full mix: {rest_run.rows:,} non-planning rows in {rest_run.wall_s:.1f} s; its "
          f"{mix_planning:,.0f} planning rows would take {mix_planning / planning_run.rate:.1f} s more "
          f"({per_worker_s[0]:,.1f} against {per_worker_s[1]:,.1f} rows per worker CPU second)")
    print("\nworker CPU seconds, validated runs: generation per task (rows per CPU second), then the other stages")
    merged = Tally().add(rest_run.tally).add(planning_run.tally)
    for task in sorted(merged.rows, key=lambda t: merged.rows[t] / max(merged.seconds[t], 1e-9)):
        print(f"  {task:24} {merged.rows[task]:>9,} rows {merged.seconds[task]:8.1f} s "
              f"{merged.rows[task] / max(merged.seconds[task], 1e-9):9,.0f} rows/s")
    total = merged.rows.total()
    for stage, seconds in merged.stages.items():
        print(f"  {stage:24} {total:>9,} rows {seconds:8.1f} s {total / max(seconds, 1e-9):9,.0f} rows/s")
    raw_stages = runs[0].tally.stages
    print(f"  (unvalidated rest lane: {raw_stages['arrow + parquet + commit']:.1f} s arrow + parquet + commit)")
    print(f"tables: {root / 'validated'}")


if __name__ == "__main__":
    main()
