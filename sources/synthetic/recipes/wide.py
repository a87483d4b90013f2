"""Wide recipes: harder scenes of every tier for the wider ground-truth test (never part of the default set).

Each tier's scene is filmed with one of five camera motions, picked by the seed (seed mod 5): short pans, turns of
about 350°, forward motion, orbits (low, high or full) and, for drones, nadir flights. Objects stand at any yaw, so
pans and forward motion see many of them from two faces only; a category repeats several times; small objects lie
far from the camera's way; objects crowd together so that they hide one another. Object catalogues are the default
recipes' own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from schemas.annotations import OrientedBox, RegionAnnotation
from schemas.tiers import ScaleTier
from sources.synthetic.camera_paths import CameraPath, LinearPath, OrbitPath, RoomPanPath, TurnPath, frames_seeing
from sources.synthetic.geometry import footprint_distance, footprint_within, make_box, z_range
from sources.synthetic.recipes import drone, indoor, outdoor, tabletop, tiny_tabletop
from sources.synthetic.scene_builder import Acceptance, SceneBuilder, any_yaw, jittered_yaw, uniform_xy
from sources.synthetic.settings import view_half_tangents
from sources.synthetic.world import GroundPatch, Material, RoomShell, SceneContent, World

MOTIONS = 5
"""Camera motions per tier; the seed picks one (seed mod MOTIONS), so five consecutive seeds show all five."""
CHECK_FRAMES = 24
MIN_FRAMES_SEEN = 2
"""An object is placed only where the camera's view (sampled at CHECK_FRAMES poses) holds its centre this often."""

WideRecipe = Callable[[np.random.Generator, int], SceneContent]


def _seen_and_clear(poses: np.ndarray, keep_out_m: float) -> Acceptance:
    """Boxes the camera sees at least MIN_FRAMES_SEEN times and that keep `keep_out_m` from every camera position
    below their top (the camera never stands inside or against an object)."""
    half_tangents = view_half_tangents()

    def accept(box: OrientedBox) -> bool:
        if frames_seeing(np.asarray(box.center), poses, half_tangents, margin=1.0) < MIN_FRAMES_SEEN:
            return False
        return all(footprint_distance(box, eye[:2]) >= keep_out_m for eye in poses[:, :3, 3]
                   if eye[2] < z_range(box)[1] + keep_out_m)
    return accept


def _ring(inner: float, outer: float) -> Callable[[np.random.Generator], tuple[float, float]]:
    """Uniform angle, radius in [inner, outer): where small objects lie far out."""
    def where(rng: np.random.Generator) -> tuple[float, float]:
        angle, radius = rng.uniform(0, 2 * math.pi), rng.uniform(inner, outer)
        return radius * math.cos(angle), radius * math.sin(angle)
    return where


def _table_path(rng: np.random.Generator, motion: int, radius: float, height: float) -> CameraPath:
    """Tabletop-like motions at scale `radius` (the orbit radius) around the origin: low orbit, full orbit, short
    pan, push-in, high orbit."""
    heading = rng.uniform(0, 360)
    back = np.array([-math.cos(math.radians(heading)), -math.sin(math.radians(heading))])
    if motion == 0:
        return OrbitPath((0, 0, height), radius * rng.uniform(0.9, 1.1), rng.uniform(22, 32), heading,
                         rng.uniform(60, 100))
    if motion == 1:
        return OrbitPath((0, 0, height), radius * rng.uniform(0.95, 1.1), rng.uniform(38, 48), heading, 350.0)
    if motion == 2:
        eye = (*(1.2 * radius * back), 0.45 * radius)
        return TurnPath(eye, heading - rng.uniform(18, 24), rng.uniform(36, 48), rng.uniform(18, 26))
    if motion == 3:
        start, end = 1.6 * radius * back, 0.75 * radius * back
        return LinearPath((*start, 0.5 * radius), (*end, 0.38 * radius), heading, rng.uniform(22, 30))
    return OrbitPath((0, 0, height), radius * rng.uniform(0.8, 0.95), rng.uniform(68, 78), heading,
                     rng.uniform(80, 120))


def build_tiny_tabletop(rng: np.random.Generator, motion: int) -> SceneContent:
    path = _table_path(rng, motion, 0.20, 0.003)
    accept = _seen_and_clear(path.poses(CHECK_FRAMES), 0.02)
    builder = SceneBuilder(rng, tiny_tabletop.GAP_M)
    repeated = str(rng.choice(tiny_tabletop.REPEATED))
    crowd = uniform_xy(0.05, 0.05)
    for _ in range(int(rng.integers(3, 6))):
        builder.place(repeated, tiny_tabletop.PARTS[repeated], crowd, any_yaw, accept)
    for category in ("eraser", "usb_stick", "sd_card", "chip"):
        builder.place(category, tiny_tabletop.PARTS[category], crowd, any_yaw, accept)
    for category in ("resistor", "washer"):
        builder.place(category, tiny_tabletop.PARTS[category], _ring(0.09, 0.13), any_yaw, accept)
    world = World(
        texture_cell_m=tiny_tabletop.TEXTURE_CELL_M, light_dir=(0.3, -0.4, 0.87),
        sky_zenith=(0.55, 0.55, 0.58), sky_horizon=(0.55, 0.55, 0.58), ground_half_size_m=0.6,
        ground=(GroundPatch(make_box((0, 0), (1.2, 1.2, 0)), Material((0.62, 0.45, 0.30))),
                GroundPatch(make_box((0, 0), (0.32, 0.3, 0), rng.uniform(-10, 10)),
                            Material((0.16, 0.42, 0.30), contrast=0.6))))
    return builder.content(regions=[], world=world, camera_path=path)


def build_tabletop(rng: np.random.Generator, motion: int) -> SceneContent:
    path = _table_path(rng, motion, 1.0, 0.05)
    accept = _seen_and_clear(path.poses(CHECK_FRAMES), 0.1)
    builder = SceneBuilder(rng, tabletop.GAP_M)
    crowd = uniform_xy(0.3, 0.3)
    base = builder.place("box", tabletop.STACK_BASE, crowd, any_yaw, accept)
    if base is not None:
        builder.place_on("book", tabletop.OBJECTS["book"], base, margin_m=0.01)
    for _ in range(int(rng.integers(3, 5))):
        builder.place("cup", tabletop.OBJECTS["cup"], crowd, any_yaw, accept)
    for category in ("bottle", "box", "bowl", "laptop"):
        builder.place(category, tabletop.OBJECTS[category], crowd, any_yaw, accept)
    for category in ("phone", "cup"):
        builder.place(category, tabletop.OBJECTS[category], _ring(0.5, 0.65), any_yaw, accept)
    world = World(
        texture_cell_m=tabletop.TEXTURE_CELL_M, light_dir=(-0.35, 0.3, 0.88),
        sky_zenith=(0.58, 0.57, 0.55), sky_horizon=(0.58, 0.57, 0.55), ground_half_size_m=2.5,
        ground=(GroundPatch(make_box((0, 0), (5.0, 5.0, 0)), Material((0.66, 0.50, 0.34))),))
    return builder.content(regions=[], world=world, camera_path=path)


def _room_path(rng: np.random.Generator, motion: int, room: OrientedBox) -> CameraPath:
    """A turn of about 350° (24 frames of a full circle), a short pan from a wall, a walk across the room, a pan
    from a corner, or an orbit around the room's centre."""
    half_l, half_w = room.size[0] / 2, room.size[1] / 2
    height = rng.uniform(1.4, 1.7)
    if motion == 0:
        return RoomPanPath((0.0, 0.0), indoor.CAMERA_CIRCLE_RADIUS_M, height, rng.uniform(18, 26), rng.uniform(0, 360))
    if motion == 4:
        return OrbitPath((0.0, 0.0, 0.5), rng.uniform(1.5, 1.7), rng.uniform(28, 34), rng.uniform(0, 360),
                         rng.uniform(70, 100))
    if motion == 1:
        return TurnPath((-half_l + 0.6, rng.uniform(-0.5, 0.5), height), -rng.uniform(15, 25),
                        rng.uniform(35, 50), rng.uniform(18, 25))
    if motion == 2:
        y = rng.uniform(-0.4, 0.4)
        return LinearPath((-half_l + 0.5, y, height), (0.3, y, height), 0.0, rng.uniform(18, 25))
    return TurnPath((-half_l + 0.6, -half_w + 0.6, height), 45.0 - rng.uniform(25, 35), rng.uniform(50, 70),
                    rng.uniform(18, 25))


def build_indoor(rng: np.random.Generator, motion: int) -> SceneContent:
    while True:
        sides = sorted(rng.uniform((4.5, 4.0), (7.0, 6.0)), reverse=True)
        room = make_box((0.0, 0.0), (sides[0], sides[1], rng.uniform(2.6, 3.0)))
        path = _room_path(rng, motion, room)
        seen_and_clear = _seen_and_clear(path.poses(CHECK_FRAMES), 0.6)

        def accept(box: OrientedBox, seen_and_clear=seen_and_clear, room=room) -> bool:
            return footprint_within(box, room, indoor.WALL_GAP_M / 2) and seen_and_clear(box)

        builder = SceneBuilder(rng, indoor.GAP_M)
        where = uniform_xy(room.size[0] / 2, room.size[1] / 2)
        table = builder.place("table", indoor.FURNITURE["table"], where, any_yaw, accept)
        if table is not None:
            on_table = str(rng.choice(tuple(indoor.ON_TABLE)))
            builder.place_on(on_table, indoor.ON_TABLE[on_table], table, margin_m=0.05)
        for category in ("wardrobe", "wardrobe", "sofa", "bed", "tv_stand"):
            builder.place(category, indoor.FURNITURE[category], where, any_yaw, accept)
        for category in ["chair"] * int(rng.integers(3, 6)) + ["plant", "plant"]:
            builder.place(category, indoor.FURNITURE[category], where, any_yaw, accept)
        if builder.count("chair") >= 2 and len(builder.boxes) >= indoor.MIN_OBJECTS:
            break
    world = World(
        texture_cell_m=indoor.TEXTURE_CELL_M, light_dir=(0.25, 0.35, 0.9),
        sky_zenith=(0.0, 0.0, 0.0), sky_horizon=(0.0, 0.0, 0.0),
        room=RoomShell(box=room, floor=Material((0.58, 0.42, 0.28), contrast=0.55),
                       walls=Material((0.86, 0.84, 0.78), contrast=0.45),
                       ceiling=Material((0.95, 0.95, 0.93), contrast=0.3)))
    return builder.content(regions=[RegionAnnotation(kind="room", box=room)], world=world, camera_path=path)


def _street_path(rng: np.random.Generator, motion: int) -> CameraPath:
    """A drive forward, a short pan from the kerb, a turn of about 350° in the street, a high orbit over the
    street, a drive with the heading swinging."""
    if motion == 0:
        return LinearPath((-55.0, rng.uniform(-1, 1), 3.0), (-5.0, 0.0, 3.0), 0.0, rng.uniform(5, 9))
    if motion == 1:
        return TurnPath((-40.0, -4.0, 1.7), -rng.uniform(25, 35), rng.uniform(50, 70), rng.uniform(3, 7))
    if motion == 2:
        return TurnPath((0.0, rng.uniform(-1, 1), 2.0), rng.uniform(0, 360), 350.0, rng.uniform(6, 10))
    if motion == 3:
        return OrbitPath((0.0, 0.0, 0.0), rng.uniform(55, 65), rng.uniform(38, 45), rng.uniform(0, 360),
                         rng.uniform(70, 100))
    return LinearPath((-50.0, 0.0, 4.0), (0.0, 0.0, 4.0), 0.0, rng.uniform(8, 12), rng.uniform(20, 30), 1.0)


def build_outdoor(rng: np.random.Generator, motion: int) -> SceneContent:
    path = _street_path(rng, motion)
    accept = _seen_and_clear(path.poses(CHECK_FRAMES), 3.0)
    road_half = rng.uniform(4.5, 6.0)
    builder = SceneBuilder(rng, outdoor.GAP_M)

    def off_road(box: OrientedBox) -> bool:
        return accept(box) and all(footprint_distance(box, (x, 0.0)) > road_half + 3.0
                                   for x in np.linspace(-150, 150, 121))

    for side in (-1.0, 1.0):
        for _ in range(int(rng.integers(3, 5))):
            builder.place("building", lambda r: (r.uniform(12, 26), r.uniform(10, 18), r.uniform(8, 25)),
                          uniform_xy(70.0, 12.0, (0.0, side * (road_half + 18.0))), any_yaw, off_road)

    def lane(x_range: tuple[float, float]):
        side = rng.choice((-1, 1)) * road_half / 2
        return uniform_xy((x_range[1] - x_range[0]) / 2, 0.3, (sum(x_range) / 2, side))

    for _ in range(2):
        builder.place(str(rng.choice(("truck", "bus"))), outdoor.LARGE_VEHICLE, lane((-40, 40)),
                      jittered_yaw(0.0, 2.0), accept)
    for _ in range(int(rng.integers(5, 8))):
        builder.place("car", outdoor.CAR, lane((-40, 40)), jittered_yaw(0.0, 4.0), accept)
    for _ in range(2):
        builder.place("car", outdoor.CAR, lane((70, 130)), jittered_yaw(0.0, 4.0), accept)
    for _ in range(int(rng.integers(3, 6))):
        side = rng.choice((-1, 1)) * (road_half + 2.3)
        builder.place("tree", outdoor.TREE, uniform_xy(60.0, 0.2, (0.0, side)), any_yaw, accept, gap_m=0.5)
    street = make_box((0.0, 0.0), (300.0, 2 * road_half, 0.0))
    world = World(
        texture_cell_m=outdoor.TEXTURE_CELL_M, light_dir=(0.45, -0.35, 0.82),
        sky_zenith=(0.32, 0.52, 0.85), sky_horizon=(0.78, 0.86, 0.95), ground_half_size_m=outdoor.GROUND_HALF_SIZE_M,
        ground=(GroundPatch(make_box((0, 0), (600.0, 600.0, 0)), Material((0.36, 0.48, 0.24))),
                GroundPatch(make_box((0, 0), (600.0, 2 * (road_half + outdoor.SIDEWALK_WIDTH_M), 0)),
                            Material((0.66, 0.64, 0.60))),
                GroundPatch(make_box((0, 0), (600.0, 2 * road_half, 0)), Material((0.30, 0.30, 0.32), contrast=0.5))))
    return builder.content(regions=[RegionAnnotation(kind="street", box=street)], world=world, camera_path=path)


def _flight_path(rng: np.random.Generator, motion: int) -> CameraPath:
    """A nadir flight (looking 88° down), an orbit around the site, an oblique flight forward, a short pan while
    hovering, a turn of about 350° while hovering."""
    heading = rng.uniform(0, 360)
    direction = np.array([math.cos(math.radians(heading)), math.sin(math.radians(heading)), 0.0])
    if motion == 0:
        altitude = rng.uniform(400, 500)
        return LinearPath(tuple(-120 * direction + [0, 0, altitude]), tuple(120 * direction + [0, 0, altitude]),
                          heading, 88.0)
    if motion == 1:
        return OrbitPath((0.0, 0.0, 0.0), rng.uniform(380, 450), rng.uniform(35, 45), heading, rng.uniform(80, 110))
    if motion == 2:
        altitude = rng.uniform(150, 200)
        return LinearPath(tuple(-450 * direction + [0, 0, altitude]), tuple(-250 * direction + [0, 0, altitude]),
                          heading, rng.uniform(30, 40))
    if motion == 3:
        return TurnPath(tuple(-300 * direction + [0, 0, 220.0]), heading - 25.0, rng.uniform(45, 60),
                        rng.uniform(35, 45))
    return TurnPath((0.0, 0.0, rng.uniform(220, 260)), heading, 350.0, rng.uniform(45, 55))


def build_drone(rng: np.random.Generator, motion: int) -> SceneContent:
    path = _flight_path(rng, motion)
    accept = _seen_and_clear(path.poses(CHECK_FRAMES), 20.0)
    while True:
        builder = SceneBuilder(rng, drone.GAP_M)
        where = uniform_xy(drone.PLACEMENT_HALF_M, drone.PLACEMENT_HALF_M)
        for _ in range(int(rng.integers(4, 8))):
            category = str(rng.choice(("building", "warehouse")))
            builder.place(category, drone.BUILDING if category == "building" else drone.WAREHOUSE, where, any_yaw,
                          accept)
        builder.place("pond", drone.POND, where, any_yaw, accept)
        for _ in range(int(rng.integers(3, 6))):
            builder.place("tree", drone.TREE, _ring(250.0, 340.0), any_yaw, accept)
        for _ in range(int(rng.integers(3, 6))):
            builder.place("field", drone.FIELD, where, any_yaw, accept)
        if builder.count("building") + builder.count("warehouse") >= 3:
            break
    survey = make_box((0.0, 0.0), (800.0, 700.0, 0.0), rng.uniform(0, 180))
    world = World(
        texture_cell_m=drone.TEXTURE_CELL_M, light_dir=(0.4, 0.25, 0.88),
        sky_zenith=(0.32, 0.52, 0.85), sky_horizon=(0.78, 0.86, 0.95), ground_half_size_m=drone.GROUND_HALF_SIZE_M,
        ground=(GroundPatch(make_box((0, 0), (2 * drone.GROUND_HALF_SIZE_M,) * 2 + (0,)), Material((0.44, 0.50, 0.30))),
                GroundPatch(survey, Material((0.52, 0.50, 0.36)))))
    return builder.content(regions=[RegionAnnotation(kind="survey_area", box=survey)], world=world, camera_path=path)


WIDE_RECIPES: dict[ScaleTier, WideRecipe] = {
    ScaleTier.TINY_TABLETOP: build_tiny_tabletop,
    ScaleTier.TABLETOP: build_tabletop,
    ScaleTier.INDOOR: build_indoor,
    ScaleTier.OUTDOOR: build_outdoor,
    ScaleTier.DRONE: build_drone,
}
