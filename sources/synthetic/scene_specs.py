"""Scene specification from (tier, seed): exact annotation, render world and camera path."""

from __future__ import annotations

import numpy as np

from schemas.annotations import SceneAnnotation
from schemas.tiers import ScaleTier
from sources.synthetic.recipes import RECIPES
from sources.synthetic.recipes.wide import MOTIONS, WIDE_RECIPES
from sources.synthetic.world import SyntheticScene

SOURCE = "synthetic"
DEFAULT, WIDE = "default", "wide"
"""Scene variants: the default recipes, or the wide ones (harder motions and layouts, for the wider truth test)."""


def scene_id_for(tier: ScaleTier, seed: int) -> str:
    """Default scene id, e.g. `tabletop_000`."""
    return f"{tier.value}_{seed:03d}"


def scene_rng(tier: ScaleTier, seed: int, variant: str = DEFAULT) -> np.random.Generator:
    """Random stream of one scene: depends on the tier, the seed and (for the wide variant) the variant only."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if variant not in (DEFAULT, WIDE):
        raise ValueError(f"scene variant must be {DEFAULT!r} or {WIDE!r}, got {variant!r}")
    key = [seed, list(ScaleTier).index(tier)]
    return np.random.default_rng(key if variant == DEFAULT else [*key, 1])


def build_scene(tier: ScaleTier, seed: int, scene_id: str | None = None, variant: str = DEFAULT) -> SyntheticScene:
    """The scene of `tier` for `seed` (deterministic); the wide variant films it with motion `seed` mod MOTIONS."""
    rng = scene_rng(tier, seed, variant)
    content = RECIPES[tier](rng) if variant == DEFAULT else WIDE_RECIPES[tier](rng, seed % MOTIONS)
    annotation = SceneAnnotation(scene_id=scene_id or scene_id_for(tier, seed), tier=tier, source=SOURCE, seed=seed,
                                 up=(0.0, 0.0, 1.0), objects=content.objects, regions=content.regions)
    return SyntheticScene(annotation=annotation, object_materials=content.object_materials, world=content.world,
                          camera_path=content.camera_path)
