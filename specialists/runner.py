"""One generic runner for any specialist, in-process or as a Ray actor that loads its model once and takes batches.

`run(frames)` takes one video's keyframes. As an actor, the batches of `spec.batch_size` go out with at most
`max_batches_in_flight` outstanding, and the video is finished on the caller's side (temporal depth fusion, track
linking), so one actor serves many videos concurrently without mixing their state. A runner is plain data around an
actor handle and a specialist that loaded nothing: it can be passed into Ray tasks.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.specialists import TierProfile
from specialists.contract import (
    Specialist,
    SpecialistSpec,
    SpecialistUnavailable,
    batches,
    check_frames,
    specialist_class,
)

SPECIALIST_MODULES = ("specialists.depth", "specialists.detection")
"""Every module that registers specialists (importing one registers its classes)."""
ROLE_ENTRIES = {"depth": "depth", "detection": "detector"}
"""The specialist profile's entry (schemas/specialists.py TierProfile) that configures each role."""


@dataclass
class SpecialistRunner:
    """A specialist in-process (no actor: its model is loaded here) or behind a Ray actor."""

    specialist: Specialist
    actor: Any = None
    max_batches_in_flight: int = 1

    @property
    def spec(self) -> SpecialistSpec:
        return self.specialist.spec

    def run(self, frames: np.ndarray) -> Any:
        """One video's keyframes (uint8 RGB [N, H, W, 3], in order) → the specialist's result for the video."""
        if self.actor is None:
            return self.specialist.run(frames)
        frames = check_frames(frames, self.specialist.name)
        outputs = _bounded_map(self.actor.process, batches(frames, self.spec.batch_size), self.max_batches_in_flight)
        return self.specialist.finish(frames, outputs)


def configured(profile: TierProfile) -> tuple[dict[str, Specialist], dict[str, str]]:
    """The tier's specialists by role, models not loaded, and why each other role cannot run here."""
    for module in SPECIALIST_MODULES:
        importlib.import_module(module)
    specialists, reasons = {}, {}
    for role, entry in ROLE_ENTRIES.items():
        config = getattr(profile, entry)
        if config is None:
            reasons[role] = f"no {role} specialist is configured in the specialist profile for this tier"
            continue
        try:
            specialists[role] = specialist_class(role, config.model)(config)
        except SpecialistUnavailable as err:
            reasons[role] = str(err)
    return specialists, reasons


def unavailable(profile: TierProfile) -> dict[str, str]:
    """Why each role ("depth", "detection") of a tier profile cannot run here; absent keys can."""
    return configured(profile)[1]


def local_runners(profile: TierProfile) -> dict[str, SpecialistRunner]:
    """In-process runners for the tier's available specialists (models loaded here, now)."""
    runners = {}
    for role, specialist in configured(profile)[0].items():
        specialist.setup()
        runners[role] = SpecialistRunner(specialist)
    return runners


class _SpecialistActor:
    """A Ray actor holding one loaded specialist."""

    def __init__(self, specialist: Specialist):
        _use_all_cores_on_cpu(specialist.spec.num_gpus)
        specialist.setup()
        self.specialist = specialist

    def process(self, batch: np.ndarray) -> Any:
        return self.specialist.process(batch)


def actor_runners(profile: TierProfile, max_batches_in_flight: int) -> dict[str, SpecialistRunner]:
    """One Ray actor per available specialist (call inside `flows.ray_runtime.ray_session`), GPUs from its spec.

    Actors reserve no CPU (Ray 2.60 otherwise keeps one CPU per actor for its lifetime): on a small node the shard
    tasks that feed them must still be schedulable; on a CPU-only node they share its cores (all of them)."""
    import ray  # noqa: PLC0415

    if max_batches_in_flight < 1:
        raise ValueError(f"max_batches_in_flight must be ≥ 1, got {max_batches_in_flight}")
    runners = {}
    for role, specialist in configured(profile)[0].items():
        actor = ray.remote(_SpecialistActor).options(num_cpus=0, num_gpus=specialist.spec.num_gpus).remote(specialist)
        runners[role] = SpecialistRunner(specialist, actor, max_batches_in_flight)
    return runners


def _use_all_cores_on_cpu(num_gpus: float) -> None:
    """Ray gives an actor that reserves no CPU one OpenMP thread; a CPU-only specialist actor gets the node's cores
    back, since the shard tasks feeding it sit idle in ray.wait while it works."""
    if num_gpus == 0:
        import torch  # noqa: PLC0415

        torch.set_num_threads(len(os.sched_getaffinity(0)))


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
