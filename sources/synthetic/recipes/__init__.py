"""One scene recipe per scale tier: `build(rng) -> SceneContent`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from schemas.tiers import ScaleTier
from sources.synthetic.recipes import drone, indoor, outdoor, tabletop, tiny_tabletop
from sources.synthetic.world import SceneContent

Recipe = Callable[[np.random.Generator], SceneContent]

RECIPES: dict[ScaleTier, Recipe] = {
    ScaleTier.TINY_TABLETOP: tiny_tabletop.build,
    ScaleTier.TABLETOP: tabletop.build,
    ScaleTier.INDOOR: indoor.build,
    ScaleTier.OUTDOOR: outdoor.build,
    ScaleTier.DRONE: drone.build,
}
