"""Scene specification from (tier, seed): exact annotation, render world and camera path."""

from __future__ import annotations

import numpy as np

from schemas.annotations import SceneAnnotation
from schemas.tiers import ScaleTier
from sources.synthetic.recipes import RECIPES
from sources.synthetic.world import SyntheticScene

SOURCE = "synthetic"


def scene_id_for(tier: ScaleTier, seed: int) -> str:
    """Default scene id, e.g. `tabletop_000`."""
    return f"{tier.value}_{seed:03d}"


def scene_rng(tier: ScaleTier, seed: int) -> np.random.Generator:
    """Random stream of one scene: depends on the tier and the seed only."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng([seed, list(ScaleTier).index(tier)])


def build_scene(tier: ScaleTier, seed: int, scene_id: str | None = None) -> SyntheticScene:
    """The scene of `tier` for `seed` (deterministic)."""
    content = RECIPES[tier](scene_rng(tier, seed))
    annotation = SceneAnnotation(scene_id=scene_id or scene_id_for(tier, seed), tier=tier, source=SOURCE, seed=seed,
                                 up=(0.0, 0.0, 1.0), objects=content.objects, regions=content.regions)
    return SyntheticScene(annotation=annotation, object_materials=content.object_materials, world=content.world,
                          camera_path=content.camera_path)
