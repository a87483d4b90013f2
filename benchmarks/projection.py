"""Cost model: per-stage seconds measured in this run → projected wall time for N videos on G GPUs and C cores.

Every per-video figure is measured here, in this run, on scenes of the default set's shape (36 frames of 512×384,
keyframe stride 3, one scene per tier):

    decode   the source's read of the item + storing its keyframes         (CPU)
    sfm      pycolmap incremental SfM of the keyframes (plain videos only)  (CPU)
    depth    Depth-Anything-V2-Small architecture at 518 px, batch 4        (GPU stage, measured on this CPU)
    detect   YOLOv8 at 640 px with tracking, batch 8                        (GPU stage, measured on this CPU)
    facts    lifting the filled scene to metric facts                       (CPU)
    qa       generating, validating and converting the scene's QA to Arrow  (CPU)
    commit   staging a shard's QA and committing it; serial (one host lock per table), fitted against the number
             of shards already committed (flat since the manifest log: a delta per commit, a checkpoint every
             100; benchmarks.manifest_growth measures it alone)

The projection puts each resource's total work over its units: CPU stages over C cores, GPU stages over G GPUs at a
given per-GPU rate (no GPU was measured here unless --device cuda: the rate is an input, printed as a grid), commits
one after another. The wall time is the largest of the three, and the stage that dominates that resource bounds it.
Orchestration overhead and start-up are left out (benchmarks.orchestration_overhead measures them).

    .venv/bin/python -m benchmarks.projection [--videos 38000] [--gpus 8] [--cores 64] [--shard-size 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from pipeline.fill import fill_missing
from pipeline.scene_facts import build_scene_facts
from pipeline.video import store_keyframes
from qa_templates.generate import generate_scene_qa
from schemas.arrow import to_arrow
from schemas.qa import QARow
from schemas.specialists import DepthModelConfig, DetectorConfig, SfMConfig
from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy
from sources.registry import get_source
from sources.synthetic import generate_scene
from sources.synthetic.scene_specs import scene_id_for
from specialists.cache import SpecialistCache
from specialists.depth import DepthSpecialist
from specialists.detection import DetectionSpecialist
from specialists.sfm import SfMError, reconstruct
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout
from tests.tiny_models import build_depth_anything, fall_detector_weights

CPU_STAGES = ("decode", "sfm", "facts", "qa")
GPU_STAGES = ("depth", "detect")
GPU_RATES = (25.0, 100.0, 400.0)
"""Per-GPU keyframes/s assumed for each GPU stage in the grid when no GPU is measured."""


def timed(seconds: dict[str, float], stage: str, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    seconds[stage] += time.perf_counter() - start
    return result


def measure_videos(root: Path, work: Path, depth: DepthSpecialist, detector: DetectionSpecialist
                   ) -> tuple[list[dict[str, float]], int, list[QARow]]:
    """Seconds per stage for each item under `root`, the keyframes per video and the largest scene's QA rows."""
    layout = OutputLayout(work / "out")
    source = get_source("annotated")
    measured, keyframes, largest = [], 0, []
    for item in source.discover(root):
        seconds: dict[str, float] = defaultdict(float)
        inputs = timed(seconds, "decode", source.read, root, item, KeyframePolicy(3, 16))
        frames = timed(seconds, "decode", store_keyframes, inputs, layout, "bench")
        keyframes = len(frames)
        try:
            timed(seconds, "sfm", reconstruct, inputs.rgb, Path(tempfile.mkdtemp(dir=work)), SfMConfig())
        except SfMError:
            pass  # a failed reconstruction costs its time all the same
        timed(seconds, "depth", depth.run, inputs.rgb)
        timed(seconds, "detect", detector.run, inputs.rgb)
        filled = timed(seconds, "facts", fill_missing, inputs, None, SpecialistCache(layout), "bench")
        facts = timed(seconds, "facts", build_scene_facts, filled, "bench", frames, layout)
        qa = timed(seconds, "qa", generate_scene_qa, facts, "bench")
        timed(seconds, "qa", to_arrow, qa.rows, QARow)
        seconds["qa_rows"] = len(qa.rows)
        largest = max(largest, qa.rows, key=len)
        measured.append(seconds)
        print(f"  {item.scene_id:18s} " + "  ".join(f"{stage} {seconds[stage]:6.2f} s"
                                                    for stage in (*CPU_STAGES, *GPU_STAGES)), flush=True)
    return measured, keyframes, largest


def measure_commits(work: Path, rows: list[QARow], shards: int) -> tuple[float, float]:
    """(intercept s, slope s per committed shard) of one shard's QA commit against the shards already in the table."""
    layout = OutputLayout(work / "commits")
    data = to_arrow(rows, QARow)
    costs = []
    for index in range(shards):
        start = time.perf_counter()
        shard = f"s{index:06d}"
        commit_shard(layout, "qa", shard, stage_table(layout, "qa", data, shard), "bench")
        costs.append(time.perf_counter() - start)
    slope, intercept = np.polyfit(np.arange(shards), costs, 1)
    return float(intercept), float(max(slope, 0.0))


def project(per_video: dict[str, float], keyframes: int, commit: tuple[float, float], videos: int, gpus: int,
            cores: int, shard_size: int, gpu_rate: float) -> dict[str, dict[str, float]]:
    """Projected seconds per resource (CPU, GPU, commit), split by stage."""
    shards = -(-videos // shard_size)
    intercept, slope = commit
    return {"CPU": {stage: per_video[stage] * videos / cores for stage in CPU_STAGES},
            "GPU": {stage: keyframes / gpu_rate * videos / gpus for stage in GPU_STAGES},
            "commit": {"manifest commits": intercept * shards + slope * shards * (shards - 1) / 2}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=38_000)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--cores", type=int, default=64, help="CPU cores of the cluster")
    parser.add_argument("--shard-size", type=int, default=2, help="videos per shard (curate's default: 2)")
    parser.add_argument("--commit-shards", type=int, default=200, help="commits timed to fit their growth")
    parser.add_argument("--device", default="cpu", help="device of the GPU-stage models (cuda measures the GPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spacevista-projection-") as scratch:
        work = Path(scratch)
        for tier in ScaleTier:
            generate_scene(tier, 0, work / "data" / scene_id_for(tier, 0))
        depth = DepthSpecialist(DepthModelConfig(weights=build_depth_anything(work / "da", shape="v2_small"),
                                                 kind="relative", input_size=518, batch_size=4),
                                device=args.device)
        detector = DetectionSpecialist(DetectorConfig(weights=fall_detector_weights(), image_size=640, batch_size=8),
                                       device=args.device)
        depth.setup()
        detector.setup()
        print(f"per video, measured here ({args.device}):")
        measured, keyframes, qa_rows = measure_videos(work / "data", work, depth, detector)
        per_video = {stage: float(np.mean([m[stage] for m in measured]))
                     for stage in (*CPU_STAGES, *GPU_STAGES, "qa_rows")}
        commit = measure_commits(work, qa_rows, args.commit_shards)
    print(f"\nmean per video ({keyframes} keyframes, {per_video['qa_rows']:.0f} QA): " + ", ".join(
        f"{stage} {per_video[stage]:.2f} s" for stage in (*CPU_STAGES, *GPU_STAGES)))
    measured_rate = {stage: keyframes / per_video[stage] for stage in GPU_STAGES}
    print(f"GPU stages on {args.device}: " + ", ".join(f"{stage} {rate:.1f} keyframes/s"
                                                      for stage, rate in measured_rate.items()))
    print(f"commit of one shard's QA: {commit[0] * 1e3:.1f} ms + {commit[1] * 1e6:.1f} µs per shard already "
          f"committed (fitted over {args.commit_shards} commits)")
    rates = (min(measured_rate.values()),) if args.device != "cpu" else GPU_RATES
    print(f"\nprojection: {args.videos:,} videos, {args.gpus} GPUs, {args.cores} cores, shards of {args.shard_size}")
    print(f"{'GPU keyframes/s per GPU':>24s} {'CPU':>8s} {'GPU':>8s} {'commit':>8s} {'wall':>8s}  bound by")
    for rate in rates:
        seconds = project(per_video, keyframes, commit, args.videos, args.gpus, args.cores, args.shard_size, rate)
        totals = {resource: sum(stages.values()) / 3600 for resource, stages in seconds.items()}
        resource = max(totals, key=totals.get)
        stage = max(seconds[resource], key=seconds[resource].get)
        print(f"{rate:24.0f} " + " ".join(f"{total:7.2f}h" for total in totals.values())
              + f" {totals[resource]:7.2f}h  {resource}: {stage}")
    cpu_s = sum(per_video[stage] for stage in CPU_STAGES)
    break_even = keyframes * len(GPU_STAGES) * args.cores / args.gpus / cpu_s
    print(f"(above {break_even:.0f} keyframes/s per GPU and stage, the CPU stages bound the run, not the GPUs)")


if __name__ == "__main__":
    main()
