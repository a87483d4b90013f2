"""Tabletop (cm): household objects on a table, one stacked on another, filmed on an orbit."""

from __future__ import annotations

import numpy as np

from sources.synthetic.camera_paths import OrbitPath
from sources.synthetic.geometry import boxes_extent_m, make_box
from sources.synthetic.scene_builder import SceneBuilder, uniform_size, uniform_xy
from sources.synthetic.world import GroundPatch, Material, SceneContent, World

TEXTURE_CELL_M = 0.005
SPREAD_HALF_M = 0.42
GAP_M = 0.02
MIN_EXTENT_M = 0.6

OBJECTS = {
    "cup": uniform_size((0.075, 0.09), (0.075, 0.09), (0.09, 0.11)),
    "book": uniform_size((0.21, 0.25), (0.14, 0.17), (0.02, 0.045)),
    "box": uniform_size((0.12, 0.30), (0.10, 0.22), (0.06, 0.20)),
    "bowl": uniform_size((0.14, 0.17), (0.14, 0.17), (0.06, 0.08)),
    "bottle": uniform_size((0.065, 0.08), (0.065, 0.08), (0.20, 0.30)),
    "laptop": uniform_size((0.31, 0.36), (0.21, 0.25), (0.015, 0.025)),
    "phone": uniform_size((0.14, 0.16), (0.068, 0.078), (0.007, 0.009)),
}
STACK_BASE = uniform_size((0.26, 0.32), (0.19, 0.24), (0.08, 0.15))  # a box big enough to carry a book
SINGLES_LARGEST_FIRST = ("laptop", "box", "book", "bowl", "bottle", "phone")


def _layout(rng: np.random.Generator) -> SceneBuilder:
    """Stack (book on box), 2–3 cups, then other singles up to 6–9 objects, larger ones placed first."""
    builder = SceneBuilder(rng, GAP_M)
    spread = uniform_xy(SPREAD_HALF_M, SPREAD_HALF_M)
    total = int(rng.integers(6, 10))
    num_cups = int(rng.integers(2, 4))
    base = builder.place("box", STACK_BASE, spread)
    builder.place_on("book", OBJECTS["book"], base, margin_m=0.01)
    for _ in range(num_cups):
        builder.place("cup", OBJECTS["cup"], spread)
    chosen = set(rng.choice(SINGLES_LARGEST_FIRST, size=total - 2 - num_cups, replace=False).tolist())
    for category in (c for c in SINGLES_LARGEST_FIRST if c in chosen):
        builder.place(category, OBJECTS[category], spread)
    return builder


def build(rng: np.random.Generator) -> SceneContent:
    builder = _layout(rng)
    while boxes_extent_m(builder.boxes) < MIN_EXTENT_M:
        builder = _layout(rng)
    table_half = rng.uniform(0.75, 0.9)
    world = World(
        texture_cell_m=TEXTURE_CELL_M, light_dir=(-0.35, 0.3, 0.88),
        sky_zenith=(0.58, 0.57, 0.55), sky_horizon=(0.58, 0.57, 0.55), ground_half_size_m=table_half,
        ground=(GroundPatch(make_box((0, 0), (2 * table_half, 2 * table_half, 0)), Material((0.66, 0.50, 0.34))),),
    )
    path = OrbitPath(target=(0.0, 0.0, 0.05), radius_m=rng.uniform(0.7, 1.1), elevation_deg=rng.uniform(40, 55),
                     start_azimuth_deg=rng.uniform(0, 360), arc_deg=rng.uniform(90, 120))
    return builder.content(regions=[], world=world, camera_path=path)
