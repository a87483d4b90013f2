"""Colours of object categories and surfaces, with per-instance variation."""

from __future__ import annotations

import numpy as np

from sources.synthetic.world import RGB, Material

CATEGORY_COLORS: dict[str, RGB] = {
    # tiny tabletop
    "coin": (0.80, 0.62, 0.30), "hex_nut": (0.62, 0.63, 0.66), "washer": (0.72, 0.72, 0.74),
    "coin_cell_battery": (0.78, 0.79, 0.81), "sd_card": (0.18, 0.24, 0.55), "resistor": (0.82, 0.70, 0.50),
    "chip": (0.16, 0.16, 0.18), "usb_stick": (0.80, 0.16, 0.12), "eraser": (0.95, 0.56, 0.62),
    # tabletop
    "cup": (0.92, 0.90, 0.84), "book": (0.62, 0.22, 0.16), "box": (0.74, 0.56, 0.35), "bowl": (0.30, 0.50, 0.78),
    "bottle": (0.24, 0.62, 0.36), "laptop": (0.56, 0.57, 0.62), "phone": (0.14, 0.14, 0.17),
    # indoor
    "bed": (0.86, 0.82, 0.74), "sofa": (0.34, 0.40, 0.62), "table": (0.56, 0.38, 0.22), "chair": (0.46, 0.30, 0.18),
    "wardrobe": (0.76, 0.68, 0.54), "tv_stand": (0.24, 0.24, 0.27), "plant": (0.22, 0.56, 0.22),
    "lamp": (0.95, 0.90, 0.68),
    # outdoor and drone
    "building": (0.72, 0.66, 0.58), "truck": (0.86, 0.86, 0.82), "bus": (0.92, 0.76, 0.12),
    "tree": (0.18, 0.46, 0.16), "field": (0.58, 0.66, 0.26), "warehouse": (0.62, 0.64, 0.68),
    "pond": (0.20, 0.36, 0.56),
}
CAR_COLORS: tuple[RGB, ...] = ((0.70, 0.10, 0.10), (0.12, 0.22, 0.60), (0.85, 0.85, 0.85), (0.10, 0.10, 0.12),
                               (0.55, 0.57, 0.60), (0.85, 0.70, 0.10))


def object_material(category: str, rng: np.random.Generator) -> Material:
    """Material of one instance: the category colour (cars: one of several) with ±15% variation per channel."""
    if category == "car":
        base = np.asarray(CAR_COLORS[rng.integers(len(CAR_COLORS))])
    else:
        base = np.asarray(CATEGORY_COLORS[category])
    color = np.clip(base * rng.uniform(0.85, 1.15, 3), 0.03, 1.0)
    return Material(color=(float(color[0]), float(color[1]), float(color[2])))
