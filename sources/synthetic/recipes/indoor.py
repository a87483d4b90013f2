"""Indoor (m): a furnished room, filmed from its centre while the camera turns a full circle."""

from __future__ import annotations

import numpy as np

from schemas.annotations import OrientedBox, RegionAnnotation
from sources.synthetic.camera_paths import RoomPanPath
from sources.synthetic.geometry import footprint_distance, footprint_within, make_box
from sources.synthetic.scene_builder import SceneBuilder, aligned_yaw, any_yaw, uniform_size, uniform_xy
from sources.synthetic.world import Material, RoomShell, SceneContent, World

TEXTURE_CELL_M = 0.025
WALL_GAP_M = 0.4
CAMERA_KEEP_OUT_RADIUS_M = 0.6  # the central 1.2 m disc where the camera moves
GAP_M = 0.15
CAMERA_CIRCLE_RADIUS_M = 0.5


FURNITURE = {
    "bed": uniform_size((1.9, 2.1), (1.5, 1.7), (0.45, 0.6)),
    "sofa": uniform_size((1.8, 2.2), (0.85, 0.95), (0.8, 0.9)),
    "table": uniform_size((1.1, 1.4), (0.7, 0.9), (0.72, 0.78)),
    "chair": uniform_size((0.45, 0.52), (0.45, 0.52), (0.85, 0.95)),
    "wardrobe": uniform_size((0.9, 1.2), (0.55, 0.65), (1.9, 2.1)),
    "tv_stand": uniform_size((1.4, 1.8), (0.4, 0.5), (0.45, 0.6)),
    "plant": uniform_size((0.35, 0.45), (0.35, 0.45), (1.0, 1.4)),
}
ON_TABLE = {
    "lamp": uniform_size((0.22, 0.30), (0.22, 0.30), (0.45, 0.60)),
    "box": uniform_size((0.25, 0.35), (0.20, 0.28), (0.15, 0.25)),
}
OPTIONAL_LARGEST_FIRST = ("bed", "sofa", "wardrobe", "tv_stand")
MIN_OBJECTS = 6


def _furnish(rng: np.random.Generator, room: OrientedBox) -> SceneBuilder:
    """Table with a lamp or box on it, then whatever of bed/sofa/wardrobe/TV stand fits, 2–4 chairs, a plant."""
    builder = SceneBuilder(rng, GAP_M)
    where = uniform_xy(room.size[0] / 2 - WALL_GAP_M, room.size[1] / 2 - WALL_GAP_M)

    def clear_of_walls_and_camera(box: OrientedBox) -> bool:
        return (footprint_within(box, room, WALL_GAP_M)
                and footprint_distance(box, room.center[:2]) > CAMERA_KEEP_OUT_RADIUS_M)

    table = builder.place("table", FURNITURE["table"], where, aligned_yaw(5.0), clear_of_walls_and_camera)
    if table is not None:
        on_table = str(rng.choice(tuple(ON_TABLE)))
        builder.place_on(on_table, ON_TABLE[on_table], table, margin_m=0.05)
    for category in OPTIONAL_LARGEST_FIRST:
        builder.place(category, FURNITURE[category], where, aligned_yaw(), clear_of_walls_and_camera)
    for _ in range(int(rng.integers(2, 5))):
        builder.place("chair", FURNITURE["chair"], where, any_yaw, clear_of_walls_and_camera)
    builder.place("plant", FURNITURE["plant"], where, aligned_yaw(), clear_of_walls_and_camera)
    return builder


def _is_furnished(builder: SceneBuilder) -> bool:
    on_table = builder.count("lamp") + builder.count("box")
    return (builder.count("table") == 1 and on_table == 1 and builder.count("chair") >= 2
            and len(builder.boxes) >= MIN_OBJECTS)


def build(rng: np.random.Generator) -> SceneContent:
    while True:
        sides = sorted(rng.uniform((4.0, 3.5), (7.0, 6.0)), reverse=True)
        room = make_box((0.0, 0.0), (sides[0], sides[1], rng.uniform(2.6, 3.0)))
        builder = _furnish(rng, room)
        if _is_furnished(builder):
            break
    world = World(
        texture_cell_m=TEXTURE_CELL_M, light_dir=(0.25, 0.35, 0.9),
        sky_zenith=(0.0, 0.0, 0.0), sky_horizon=(0.0, 0.0, 0.0),
        room=RoomShell(box=room, floor=Material((0.58, 0.42, 0.28), contrast=0.55),
                       walls=Material((0.86, 0.84, 0.78), contrast=0.45),
                       ceiling=Material((0.95, 0.95, 0.93), contrast=0.3)),
    )
    path = RoomPanPath(center_xy=(0.0, 0.0), radius_m=CAMERA_CIRCLE_RADIUS_M, height_m=rng.uniform(1.5, 1.7),
                       pitch_down_deg=rng.uniform(23, 27), start_yaw_deg=rng.uniform(0, 360))
    return builder.content(regions=[RegionAnnotation(kind="room", box=room)], world=world, camera_path=path)
