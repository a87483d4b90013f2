"""Specialist throughput: frames/s of depth (Depth-Anything-V2-Small shape, random init, 518 px) and of detection +
tracking (the real YOLOv8 person detector, 640 px), each path against a plain single-process loop over the same
frames measured in the same run, so batching and Ray-actor overhead show as a ratio.

Paths: `loop` = one frame per model call, in this process (the baseline); `batched` = the specialist's own batches
in this process; `actor` = a Ray actor (model loaded once, batches of spec.batch_size, bounded in flight), actor
start-up timed separately. Every path runs once untimed first (warm-up), then the paths take turns `--repeats` times
and the best round of each is reported. A Ray actor that reserves no CPU gets OMP_NUM_THREADS=1 from Ray (its torch
runs one thread); on CPU the actor rows therefore also show that policy, not only the transport.

    .venv/bin/python -m benchmarks.specialist_throughput [--depth-frames 8] [--detection-frames 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from flows.ray_runtime import ray_session
from schemas.specialists import DepthModelConfig, DetectorConfig, TierProfile
from specialists.depth import DepthSpecialist
from specialists.detection import DetectionSpecialist, link_tracks
from specialists.runner import actor_runners
from tests.tiny_models import build_depth_anything, fall_detector_weights


def clip(count: int, side: int) -> np.ndarray:
    """skimage's astronaut at side×side, panned a few pixels per frame."""
    image = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    return np.stack([np.roll(image, 5 * step, axis=1) for step in range(count)])


def best_of(paths: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest wall time per path; the paths take turns (after one untimed warm-up each), so a change in load on a
    shared machine hits them alike rather than whichever happened to run last."""
    for run in paths.values():
        run()
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(repeats):
        for path, run in paths.items():
            start = time.perf_counter()
            run()
            best[path] = min(best[path], time.perf_counter() - start)
    return best


def report(task: str, frames: int, seconds: dict[str, float]) -> None:
    base = frames / seconds["loop"]
    for path, wall in seconds.items():
        rate = frames / wall
        print(f"{task:10s} {path:8s} {frames:4d} frames {wall:8.2f} s {rate:8.2f} frames/s  "
              f"×{rate / base:5.2f} vs loop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth-frames", type=int, default=8)
    parser.add_argument("--detection-frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds; the best round per path is reported")
    parser.add_argument("--depth-batch", type=int, default=4)
    parser.add_argument("--detection-batch", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=2, help="max batches in flight per actor")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="spacevista-specialists-") as work:
        measure(args, build_depth_anything(Path(work) / "da-v2-small", shape="v2_small"))


def measure(args: argparse.Namespace, depth_weights: Path) -> None:
    gpus = 1.0 if args.device != "cpu" and _cuda() else 0.0
    depth_config = DepthModelConfig(weights=depth_weights, kind="relative", input_size=518,
                                    batch_size=args.depth_batch, num_gpus=gpus)
    detector_config = DetectorConfig(weights=fall_detector_weights(), image_size=640,
                                     batch_size=args.detection_batch, num_gpus=gpus)
    depth_frames, detection_frames = clip(args.depth_frames, 518), clip(args.detection_frames, 640)

    with ray_session(None, None):
        start = time.perf_counter()
        runners = actor_runners(TierProfile(depth=depth_config, detector=detector_config), args.in_flight)
        print(f"actor start-up (Ray already up, both models loaded): {time.perf_counter() - start:.1f} s")
        depth = DepthSpecialist(depth_config, device=args.device)
        detector = DetectionSpecialist(detector_config, device=args.device)
        depth.setup()
        detector.setup()
        params = sum(p.numel() for p in depth.model.model.parameters()) / 1e6
        print(f"device {depth.model.device}; depth model {params:.1f}M params; detector "
              f"{detector_config.weights.name}; in flight {args.in_flight}; best of {args.repeats}")
        report("depth", args.depth_frames, best_of({
            "loop": lambda: [depth.run(frame[None]) for frame in depth_frames],
            "batched": lambda: depth.run(depth_frames),
            "actor": lambda: runners["depth"].run(depth_frames),
        }, args.repeats))
        report("detection", args.detection_frames, best_of({
            "loop": lambda: link_tracks(detection_frames, [detector.process(frame[None])[1][0]
                                                           for frame in detection_frames],
                                        detector_config.tracker, detector.names),
            "batched": lambda: detector.run(detection_frames),
            "actor": lambda: runners["detection"].run(detection_frames),
        }, args.repeats))


def _cuda() -> bool:
    import torch  # noqa: PLC0415

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
