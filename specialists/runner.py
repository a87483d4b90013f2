"""The same specialists in-process or as Ray actors that load their model once and take batches.

A runner's `depth(frames)` / `track(frames)` takes one video's keyframes. The actor runners send them in batches of
`spec.batch_size` with at most `max_batches_in_flight` outstanding, and finish the clip on the caller's side
(temporal depth fusion, track linking), so one actor serves many videos concurrently without mixing their state.
Runner objects are plain data around actor handles: they can be passed into Ray tasks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from schemas.specialists import DepthModelConfig, DetectorConfig, TierProfile
from specialists.contract import SpecialistSpec, SpecialistUnavailable, batches, check_frames, require_weights
from specialists.depth import NAME as DEPTH_NAME, DepthSpecialist, clip_depth
from specialists.detection import NAME as DETECTION_NAME, DetectionSpecialist, FrameDetections, Tracks, link_tracks

_HOW_DEPTH = "put a local Depth Anything directory there or change `depth` in the specialist profile"
_HOW_DETECTOR = "put a local ultralytics .pt file there or change `detector` in the specialist profile"


class SpecialistRunner(Protocol):
    spec: SpecialistSpec


def unavailable(profile: TierProfile) -> dict[str, str]:
    """Why each specialist ("depth", "detection") of a tier profile cannot run here; absent keys can."""
    reasons = {}
    if profile.depth is None:
        reasons["depth"] = "no depth model is configured in the specialist profile for this tier"
    else:
        for path in (profile.depth.weights, profile.depth.temporal_reference):
            try:
                if path is not None:
                    require_weights(DEPTH_NAME, path, _HOW_DEPTH)
            except SpecialistUnavailable as err:
                reasons["depth"] = str(err)
    if profile.detector is None:
        reasons["detection"] = "no detector is configured in the specialist profile for this tier"
    else:
        try:
            require_weights(DETECTION_NAME, profile.detector.weights, _HOW_DETECTOR)
        except SpecialistUnavailable as err:
            reasons["detection"] = str(err)
    return reasons


@dataclass
class LocalDepthRunner:
    specialist: DepthSpecialist

    @property
    def spec(self) -> SpecialistSpec:
        return self.specialist.spec

    def depth(self, frames: np.ndarray) -> np.ndarray:
        return self.specialist.predict(frames)


@dataclass
class LocalDetectionRunner:
    specialist: DetectionSpecialist

    @property
    def spec(self) -> SpecialistSpec:
        return self.specialist.spec

    def track(self, frames: np.ndarray) -> Tracks:
        return self.specialist.track(frames)


def local_runners(profile: TierProfile) -> dict[str, SpecialistRunner]:
    """In-process runners for the tier's available specialists (models loaded here, now)."""
    missing = unavailable(profile)
    runners: dict[str, SpecialistRunner] = {}
    if "depth" not in missing:
        runners["depth"] = LocalDepthRunner(DepthSpecialist(profile.depth))
    if "detection" not in missing:
        runners["detection"] = LocalDetectionRunner(DetectionSpecialist(profile.detector))
    return runners


def _use_all_cores_on_cpu(num_gpus: float) -> None:
    """Ray gives an actor that reserves no CPU one OpenMP thread; a CPU-only specialist actor gets the node's cores
    back, since the shard tasks feeding it sit idle in ray.wait while it works."""
    if num_gpus == 0:
        import torch  # noqa: PLC0415

        torch.set_num_threads(len(os.sched_getaffinity(0)))


class _DepthActor:
    def __init__(self, config: DepthModelConfig):
        _use_all_cores_on_cpu(config.num_gpus)
        self.specialist = DepthSpecialist(config)

    def spec(self) -> SpecialistSpec:
        return self.specialist.spec

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        return self.specialist.infer(frames)


class _DetectionActor:
    def __init__(self, config: DetectorConfig):
        _use_all_cores_on_cpu(config.num_gpus)
        self.specialist = DetectionSpecialist(config)

    def spec(self) -> SpecialistSpec:
        return self.specialist.spec

    def names(self) -> dict[int, str]:
        return self.specialist.names

    def detect(self, frames: np.ndarray) -> list[FrameDetections]:
        return self.specialist.detect(frames)


@dataclass
class ActorDepthRunner:
    actor: Any
    spec: SpecialistSpec
    temporal_lambda: float
    max_batches_in_flight: int

    def depth(self, frames: np.ndarray) -> np.ndarray:
        frames = check_frames(frames, DEPTH_NAME)
        outputs = _bounded_map(self.actor.infer, batches(frames, self.spec.batch_size), self.max_batches_in_flight)
        return clip_depth(outputs, self.temporal_lambda)


@dataclass
class ActorDetectionRunner:
    actor: Any
    spec: SpecialistSpec
    tracker: str
    names: dict[int, str]
    max_batches_in_flight: int

    def track(self, frames: np.ndarray) -> Tracks:
        frames = check_frames(frames, DETECTION_NAME)
        per_batch = _bounded_map(self.actor.detect, batches(frames, self.spec.batch_size),
                                 self.max_batches_in_flight)
        return link_tracks(frames, [found for batch in per_batch for found in batch], self.tracker, self.names)


def actor_runners(profile: TierProfile, max_batches_in_flight: int) -> dict[str, SpecialistRunner]:
    """One Ray actor per available specialist (call inside `flows.ray_runtime.ray_session`), GPUs from the profile.

    Actors reserve no CPU (Ray 2.60 otherwise keeps one CPU per actor for its lifetime): on a small node the shard
    tasks that feed them must still be schedulable; on a CPU-only node they share its cores (all of them)."""
    import ray  # noqa: PLC0415

    if max_batches_in_flight < 1:
        raise ValueError(f"max_batches_in_flight must be ≥ 1, got {max_batches_in_flight}")
    missing = unavailable(profile)
    runners: dict[str, SpecialistRunner] = {}
    if "depth" not in missing:
        actor = ray.remote(_DepthActor).options(**_resources(profile.depth.num_gpus)).remote(profile.depth)
        runners["depth"] = ActorDepthRunner(actor, ray.get(actor.spec.remote()), profile.depth.temporal_lambda,
                                            max_batches_in_flight)
    if "detection" not in missing:
        actor = ray.remote(_DetectionActor).options(**_resources(profile.detector.num_gpus)).remote(profile.detector)
        runners["detection"] = ActorDetectionRunner(actor, ray.get(actor.spec.remote()), profile.detector.tracker,
                                                    ray.get(actor.names.remote()), max_batches_in_flight)
    return runners


def _resources(num_gpus: float) -> dict[str, float]:
    return {"num_cpus": 0, "num_gpus": num_gpus}


def _bounded_map(method, inputs: list[np.ndarray], limit: int) -> list:
    """`method.remote(x)` for every input, at most `limit` outstanding; results in input order."""
    import ray  # noqa: PLC0415

    results: list = [None] * len(inputs)
    pending: dict = {}
    for index, batch in enumerate(inputs):
        if len(pending) >= limit:
            done, _ = ray.wait(list(pending), num_returns=1)
            results[pending.pop(done[0])] = ray.get(done[0])
        pending[method.remote(batch)] = index
    for ref, index in pending.items():
        results[index] = ray.get(ref)
    return results
