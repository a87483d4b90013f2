"""Fixture writers: the synthetic generator's scenes rendered into each public dataset's exact on-disk layout.

Each writer follows shared/FORMATS.md's conventions on its own (never through the adapter it tests) and returns a
`FixtureScene`: where it wrote, and the generator's exact truth in the generator's own (metric, z-up) world.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from schemas.annotations import Intrinsics, SceneAnnotation
from schemas.tiers import ScaleTier


@dataclass(frozen=True)
class FixtureScene:
    root: Path  # the data root to curate
    scene_id: str  # the scene id the adapter is expected to give the item
    tier: ScaleTier
    annotation: SceneAnnotation  # exact boxes, synthetic world (metres, z up)
    camera_to_world: np.ndarray  # [N, 4, 4] OpenCV camera-to-world of every written frame, synthetic world
    intrinsics: Intrinsics  # the render's K at the written resolution (pixel centres at u + 0.5, v + 0.5)
    masks: np.ndarray  # uint16 [N, H, W] the render's instance ids of every written frame (0 = none)
    dataset_from_synthetic: np.ndarray  # 4×4 similarity: synthetic world → the dataset's world (scale × R | t)
