"""Drone (km): farmland with fields, buildings, a pond and trees, filmed from a straight high flight."""

from __future__ import annotations

import math

import numpy as np

from schemas.annotations import OrientedBox, RegionAnnotation
from sources.synthetic.camera_paths import LinearPath, frames_seeing
from sources.synthetic.geometry import make_box
from sources.synthetic.scene_builder import SceneBuilder, any_yaw, uniform_size, uniform_xy
from sources.synthetic.settings import view_half_tangents
from sources.synthetic.world import GroundPatch, Material, SceneContent, World

TEXTURE_CELL_M = 2.0
GROUND_HALF_SIZE_M = 2000.0
PLACEMENT_HALF_M = 350.0
GAP_M = 6.0
VISIBILITY_CHECK_FRAMES = 24
MIN_FRAMES_IN_VIEW = 6

BUILDING = uniform_size((20, 40), (15, 30), (10, 30))
WAREHOUSE = uniform_size((40, 60), (25, 40), (8, 14))
POND = uniform_size((30, 80), (20, 50), (0.2, 0.2))
TREE = uniform_size((8, 12), (8, 12), (10, 16))
FIELD = uniform_size((40, 200), (30, 150), (0.3, 0.3))


def _flight(rng: np.random.Generator) -> LinearPath:
    """Straight flight, heading slowly turning, whose view centre passes over the origin at mid-flight."""
    heading, altitude, pitch = rng.uniform(0, 360), rng.uniform(150, 250), rng.uniform(55, 75)
    length = rng.uniform(140, 160)
    direction = np.array([math.cos(math.radians(heading)), math.sin(math.radians(heading)), 0.0])
    middle = -altitude / math.tan(math.radians(pitch)) * direction + [0.0, 0.0, altitude]
    start, end = middle - length / 2 * direction, middle + length / 2 * direction
    turn = rng.choice((-1.0, 1.0)) * rng.uniform(12, 20)  # a slow 17–28° turn: enough for rotation questions
    return LinearPath(start=tuple(start), end=tuple(end), heading_deg=heading, pitch_down_deg=pitch,
                      yaw_swing_deg=turn, yaw_cycles=0.25, yaw_phase_deg=-45.0)


def _populate(rng: np.random.Generator, path: LinearPath) -> SceneBuilder:
    """Buildings/warehouses, a pond, trees and fields, each placed where the flight sees it in ≥ 6 of 24 frames."""
    poses = path.poses(VISIBILITY_CHECK_FRAMES)
    half_tangents = view_half_tangents()

    def in_view(box: OrientedBox) -> bool:
        top = np.array([box.center[0], box.center[1], box.center[2] + box.size[2] / 2])
        return frames_seeing(top, poses, half_tangents) >= MIN_FRAMES_IN_VIEW

    builder = SceneBuilder(rng, GAP_M)
    where = uniform_xy(PLACEMENT_HALF_M, PLACEMENT_HALF_M)
    for _ in range(int(rng.integers(3, 7))):
        category = str(rng.choice(("building", "warehouse")))
        builder.place(category, BUILDING if category == "building" else WAREHOUSE, where, any_yaw, in_view)
    builder.place("pond", POND, where, any_yaw, in_view)
    for _ in range(int(rng.integers(3, 6))):
        builder.place("tree", TREE, where, any_yaw, in_view)
    for _ in range(int(rng.integers(4, 8))):
        builder.place("field", FIELD, where, any_yaw, in_view)
    return builder


def build(rng: np.random.Generator) -> SceneContent:
    path = _flight(rng)
    while True:
        builder = _populate(rng, path)
        if builder.count("building") + builder.count("warehouse") >= 3 and builder.count("field") >= 2:
            break
    survey_sides = sorted(rng.uniform(600, 900, 2), reverse=True)
    survey = make_box((0.0, 0.0), (survey_sides[0], survey_sides[1], 0.0), path.heading_deg)
    world = World(
        texture_cell_m=TEXTURE_CELL_M, light_dir=(0.4, 0.25, 0.88),
        sky_zenith=(0.32, 0.52, 0.85), sky_horizon=(0.78, 0.86, 0.95), ground_half_size_m=GROUND_HALF_SIZE_M,
        ground=(GroundPatch(make_box((0, 0), (2 * GROUND_HALF_SIZE_M,) * 2 + (0,)), Material((0.44, 0.50, 0.30))),
                GroundPatch(survey, Material((0.52, 0.50, 0.36)))),
    )
    return builder.content(regions=[RegionAnnotation(kind="survey_area", box=survey)], world=world, camera_path=path)
