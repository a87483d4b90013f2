"""Rejection sampling of non-interpenetrating objects, each with its own material."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from schemas.annotations import ObjectAnnotation, OrientedBox, RegionAnnotation
from sources.synthetic.camera_paths import CameraPath
from sources.synthetic.geometry import boxes_conflict, footprint_within, make_box, yaw_rotation
from sources.synthetic.materials import object_material
from sources.synthetic.world import Material, SceneContent, World

Sampler = Callable[[np.random.Generator], Sequence[float]]
YawSampler = Callable[[np.random.Generator], float]
Acceptance = Callable[[OrientedBox], bool]


def uniform_size(*bounds: tuple[float, float]) -> Sampler:
    """Box size (length, width, height) with each edge uniform in its (low, high) bounds in metres."""
    return lambda rng: tuple(float(rng.uniform(lo, hi)) for lo, hi in bounds)


def any_yaw(rng: np.random.Generator) -> float:
    """Uniform yaw in [0, 180) degrees."""
    return float(rng.uniform(0.0, 180.0))


def aligned_yaw(jitter_deg: float = 0.0) -> YawSampler:
    """Yaw 0° or 90° (aligned to walls or the street) plus uniform jitter."""
    return lambda rng: float(rng.choice((0.0, 90.0)) + rng.uniform(-jitter_deg, jitter_deg))


def jittered_yaw(yaw_deg: float, jitter_deg: float) -> YawSampler:
    """Yaw `yaw_deg` plus uniform jitter."""
    return lambda rng: float(yaw_deg + rng.uniform(-jitter_deg, jitter_deg))


def uniform_xy(half_x: float, half_y: float, center: Sequence[float] = (0.0, 0.0)) -> Sampler:
    """Uniform ground point in an axis-aligned rectangle."""
    return lambda rng: (center[0] + rng.uniform(-half_x, half_x), center[1] + rng.uniform(-half_y, half_y))


class SceneBuilder:
    """Places objects one by one; a new box must keep `gap_m` from every box sharing its height."""

    def __init__(self, rng: np.random.Generator, gap_m: float, attempts: int = 300):
        self.rng = rng
        self.gap_m = gap_m
        self.attempts = attempts
        self._objects: list[ObjectAnnotation] = []
        self._materials: dict[int, Material] = {}

    @property
    def boxes(self) -> list[OrientedBox]:
        return [o.box for o in self._objects]

    def count(self, category: str) -> int:
        return sum(o.category == category for o in self._objects)

    def fits(self, box: OrientedBox, gap_m: float | None = None) -> bool:
        gap = self.gap_m if gap_m is None else gap_m
        return not any(boxes_conflict(box, other, gap) for other in self.boxes)

    def add(self, category: str, box: OrientedBox) -> OrientedBox:
        instance_id = len(self._objects) + 1
        self._objects.append(ObjectAnnotation(instance_id=instance_id, category=category, box=box))
        self._materials[instance_id] = object_material(category, self.rng)
        return box

    def place(self, category: str, size: Sampler, where: Sampler, yaw: YawSampler = any_yaw,
              accept: Acceptance | None = None, gap_m: float | None = None) -> OrientedBox | None:
        """Try random size, position and yaw until the box fits; None when every attempt failed."""
        for _ in range(self.attempts):
            box = make_box(where(self.rng), size(self.rng), yaw(self.rng))
            if (accept is None or accept(box)) and self.fits(box, gap_m):
                return self.add(category, box)
        return None

    def place_on(self, category: str, size: Sampler, support: OrientedBox, margin_m: float) -> OrientedBox | None:
        """Rest a box on top of `support`, fully inside its top face (shrunk by `margin_m`), same yaw ± 10°."""
        top = support.center[2] + support.size[2] / 2
        rot = yaw_rotation(support.yaw_deg)[:2, :2]
        for _ in range(self.attempts):
            local = self.rng.uniform(-0.5, 0.5, 2) * np.asarray(support.size[:2])
            yaw = support.yaw_deg + self.rng.uniform(-10.0, 10.0)
            box = make_box(np.asarray(support.center[:2]) + rot @ local, size(self.rng), yaw, z_min=top)
            if footprint_within(box, support, margin_m) and self.fits(box):
                return self.add(category, box)
        return None

    def content(self, regions: list[RegionAnnotation], world: World, camera_path: CameraPath) -> SceneContent:
        return SceneContent(objects=list(self._objects), regions=regions, object_materials=dict(self._materials),
                            world=world, camera_path=camera_path)
