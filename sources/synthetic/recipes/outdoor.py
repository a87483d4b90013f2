"""Outdoor (10–100 m): a street lined with buildings and trees, vehicles on the road, filmed driving along it
(looking down the street, or sweeping from one side of it to the other as the drive goes on)."""

from __future__ import annotations

import numpy as np

from schemas.annotations import RegionAnnotation
from sources.synthetic.camera_paths import LinearPath
from sources.synthetic.geometry import make_box
from sources.synthetic.scene_builder import SceneBuilder, jittered_yaw, uniform_size, uniform_xy
from sources.synthetic.world import GroundPatch, Material, SceneContent, World

TEXTURE_CELL_M = 0.25
GROUND_HALF_SIZE_M = 300.0
STREET_LENGTH_M = 120.0
SIDEWALK_WIDTH_M = 4.5
FIRST_BUILDING_X_M = -36.0  # buildings start ahead of the camera, which starts at the street's beginning
VEHICLE_X_RANGE_M = (-40.0, 32.0)  # within ~35 m of the camera's way: a car stays ≥ 20 px tall
TREE_X_RANGE_M = (-45.0, 55.0)
CAMERA_HEIGHT_M = 4.0
CAMERA_TRAVEL_M = 60.0
STRAIGHT_SHARE = 0.3
"""Share of the drives filmed looking down the street; the others sweep across it (the default set has both)."""
GAP_M = 1.5

CAR = uniform_size((4.3, 4.8), (1.75, 1.9), (1.4, 1.6))
LARGE_VEHICLE = uniform_size((8.0, 12.0), (2.4, 2.6), (2.9, 3.3))
TREE = uniform_size((3.6, 4.4), (3.6, 4.4), (6.0, 8.0))


def _line_street_side(builder: SceneBuilder, rng: np.random.Generator, side: float, road_half: float) -> None:
    """Buildings along one side: 10–30 m along the street, gaps ≥ 6 m, front ≥ 5.5 m behind the kerb."""
    x = FIRST_BUILDING_X_M + rng.uniform(0.0, 6.0)
    while x < STREET_LENGTH_M / 2 - 4.0:
        length, depth, height = rng.uniform(10, 30), rng.uniform(10, 20), rng.uniform(8, 25)
        front = road_half + rng.uniform(5.5, 8.0)
        builder.add("building", make_box((x + length / 2, side * (front + depth / 2)), (length, depth, height)))
        x += length + rng.uniform(6.0, 14.0)


def _along_street(x_range: tuple[float, float], offset_y: float, spread_y: float):
    """Uniform position along the street at lateral offset `offset_y` (± spread_y)."""
    return uniform_xy((x_range[1] - x_range[0]) / 2, spread_y, (sum(x_range) / 2, offset_y))


def build(rng: np.random.Generator) -> SceneContent:
    builder = SceneBuilder(rng, GAP_M)
    road_half = rng.uniform(4.5, 6.0)
    for side in (-1.0, 1.0):
        _line_street_side(builder, rng, side, road_half)

    def lane():
        return _along_street(VEHICLE_X_RANGE_M, rng.choice((-1, 1)) * road_half / 2, 0.3)

    builder.place(str(rng.choice(("truck", "bus"))), LARGE_VEHICLE, lane(), jittered_yaw(0.0, 2.0))
    for _ in range(int(rng.integers(4, 9))):
        builder.place("car", CAR, lane(), jittered_yaw(0.0, 3.0))
    for _ in range(int(rng.integers(3, 7))):
        sidewalk = _along_street(TREE_X_RANGE_M, rng.choice((-1, 1)) * (road_half + 2.3), 0.2)
        builder.place("tree", TREE, sidewalk, jittered_yaw(0.0, 0.0), gap_m=0.5)
    street = make_box((0.0, 0.0), (STREET_LENGTH_M, 2 * road_half, 0.0))
    world = World(
        texture_cell_m=TEXTURE_CELL_M, light_dir=(0.45, -0.35, 0.82),
        sky_zenith=(0.32, 0.52, 0.85), sky_horizon=(0.78, 0.86, 0.95), ground_half_size_m=GROUND_HALF_SIZE_M,
        ground=(GroundPatch(make_box((0, 0), (2 * GROUND_HALF_SIZE_M,) * 2 + (0,)), Material((0.36, 0.48, 0.24))),
                GroundPatch(make_box((0, 0), (2 * GROUND_HALF_SIZE_M, 2 * (road_half + SIDEWALK_WIDTH_M), 0)),
                            Material((0.66, 0.64, 0.60))),
                GroundPatch(make_box((0, 0), (2 * GROUND_HALF_SIZE_M, 2 * road_half, 0)),
                            Material((0.30, 0.30, 0.32), contrast=0.5))),
    )
    start_x = -STREET_LENGTH_M / 2 + rng.uniform(1.0, 4.0)
    lateral = rng.uniform(-0.8, 0.8)
    pitch_down = rng.uniform(8, 12)
    if rng.random() < STRAIGHT_SHARE:  # looking down the street, the heading swinging a little: all show at once
        swing, cycles, phase = rng.uniform(10, 15), rng.uniform(0.5, 1.0), float(rng.choice((0.0, 180.0)))
    else:  # sweeping from one side of the street to the other while driving: objects come into view
        swing, cycles, phase = rng.uniform(38, 44), rng.uniform(0.45, 0.55), float(rng.choice((90.0, -90.0)))
    path = LinearPath(start=(start_x, lateral, CAMERA_HEIGHT_M),
                      end=(start_x + CAMERA_TRAVEL_M, lateral, CAMERA_HEIGHT_M), heading_deg=0.0,
                      pitch_down_deg=pitch_down, yaw_swing_deg=swing, yaw_cycles=cycles, yaw_phase_deg=phase)
    return builder.content(regions=[RegionAnnotation(kind="street", box=street)], world=world, camera_path=path)
