"""Tiny tabletop (mm): small hardware parts on a cutting mat, filmed on a close orbit."""

from __future__ import annotations

import numpy as np

from sources.synthetic.camera_paths import OrbitPath
from sources.synthetic.geometry import make_box
from sources.synthetic.scene_builder import SceneBuilder, uniform_size, uniform_xy
from sources.synthetic.world import GroundPatch, Material, SceneContent, World

TEXTURE_CELL_M = 0.0012
SPREAD_HALF_M = 0.10
GAP_M = 0.004


def _disc(diameter: tuple[float, float], thickness: tuple[float, float]):
    def size(rng: np.random.Generator):
        d = rng.uniform(*diameter)
        return d, d, rng.uniform(*thickness)
    return size


def _hex_nut(rng: np.random.Generator):
    across_flats = rng.uniform(0.008, 0.014)
    return across_flats * 1.1547, across_flats, across_flats * rng.uniform(0.5, 0.8)


PARTS = {
    "coin": _disc((0.018, 0.030), (0.0015, 0.0025)),
    "hex_nut": _hex_nut,
    "washer": _disc((0.010, 0.020), (0.0010, 0.0020)),
    "coin_cell_battery": _disc((0.0195, 0.0205), (0.0030, 0.0033)),
    "sd_card": uniform_size((0.0315, 0.0325), (0.0235, 0.0245), (0.0019, 0.0022)),
    "resistor": uniform_size((0.0063, 0.0090), (0.0024, 0.0032), (0.0024, 0.0032)),
    "chip": uniform_size((0.010, 0.020), (0.010, 0.020), (0.0015, 0.0030)),
    "usb_stick": uniform_size((0.040, 0.055), (0.013, 0.019), (0.0045, 0.0090)),
    "eraser": uniform_size((0.035, 0.050), (0.018, 0.025), (0.008, 0.012)),
}
REPEATED = ("coin", "hex_nut", "washer", "coin_cell_battery")


def build(rng: np.random.Generator) -> SceneContent:
    builder = SceneBuilder(rng, GAP_M)
    total = int(rng.integers(6, 10))
    repeated = str(rng.choice(REPEATED))
    num_repeated = int(rng.integers(2, 5))
    others = rng.choice([c for c in PARTS if c != repeated], size=total - num_repeated, replace=False)
    spread = uniform_xy(SPREAD_HALF_M, SPREAD_HALF_M)
    for category in [repeated] * num_repeated + [str(c) for c in others]:
        builder.place(category, PARTS[category], spread)
    mat_side = rng.uniform(0.38, 0.45)
    world = World(
        texture_cell_m=TEXTURE_CELL_M, light_dir=(0.3, -0.4, 0.87),
        sky_zenith=(0.55, 0.55, 0.58), sky_horizon=(0.55, 0.55, 0.58), ground_half_size_m=0.6,
        ground=(GroundPatch(make_box((0, 0), (1.2, 1.2, 0)), Material((0.62, 0.45, 0.30))),
                GroundPatch(make_box((0, 0), (mat_side, mat_side * rng.uniform(0.7, 1.0), 0), rng.uniform(-10, 10)),
                            Material((0.16, 0.42, 0.30), contrast=0.6))),
    )
    # close enough that what the camera sees of the mat and the table spans under 0.45 m (the tier is 0–0.5 m),
    # and parts at the spread's edge come into view one after another
    path = OrbitPath(target=(0.0, 0.0, 0.003), radius_m=rng.uniform(0.13, 0.17), elevation_deg=rng.uniform(45, 60),
                     start_azimuth_deg=rng.uniform(0, 360), arc_deg=rng.uniform(90, 120))
    return builder.content(regions=[], world=world, camera_path=path)
