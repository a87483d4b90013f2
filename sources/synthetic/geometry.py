"""Geometry of gravity-aligned boxes and zero-roll cameras.

World: Z up, metres. Camera: OpenCV axes (x right, y down, z forward); poses are 4×4 camera_to_world.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from schemas.annotations import OrientedBox

WORLD_UP = np.array([0.0, 0.0, 1.0])
_DECIMALS = 6  # µm: exact enough for every tier, short in JSON


def yaw_rotation(yaw_deg: float) -> np.ndarray:
    """3×3 rotation about +Z by `yaw_deg`."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def make_box(center_xy: Sequence[float], size: Sequence[float], yaw_deg: float = 0.0,
             z_min: float = 0.0) -> OrientedBox:
    """Box resting at `z_min`, normalised to length ≥ width along yaw, yaw in [0, 180)."""
    length, width, height = (round(float(v), _DECIMALS) for v in size)
    if width > length:
        length, width, yaw_deg = width, length, yaw_deg + 90.0
    return OrientedBox(
        center=(round(float(center_xy[0]), _DECIMALS), round(float(center_xy[1]), _DECIMALS), z_min + height / 2),
        size=(length, width, height),
        yaw_deg=round(yaw_deg % 180.0, 4) % 180.0,
    )


def z_range(box: OrientedBox) -> tuple[float, float]:
    """Bottom and top height of a box."""
    return box.center[2] - box.size[2] / 2, box.center[2] + box.size[2] / 2


def box_corners(box: OrientedBox) -> np.ndarray:
    """The 8 corners [8, 3] in world coordinates."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    local = signs * np.asarray(box.size) / 2
    return local @ yaw_rotation(box.yaw_deg).T + np.asarray(box.center)


def footprint_corners(box: OrientedBox) -> np.ndarray:
    """The 4 footprint corners [4, 2] in world x, y (counter-clockwise)."""
    half_l, half_w = box.size[0] / 2, box.size[1] / 2
    local = np.array([[half_l, half_w], [-half_l, half_w], [-half_l, -half_w], [half_l, -half_w]])
    return local @ yaw_rotation(box.yaw_deg)[:2, :2].T + np.asarray(box.center[:2])


def footprint_separation(a: OrientedBox, b: OrientedBox) -> float:
    """Largest gap between the footprints' projections over the separating axes (< 0: footprints overlap).

    Never larger than the true distance between the footprints, so requiring it ≥ gap is conservative.
    """
    pa, pb = footprint_corners(a), footprint_corners(b)
    separation = -math.inf
    for box in (a, b):
        rot = yaw_rotation(box.yaw_deg)
        for axis in (rot[:2, 0], rot[:2, 1]):
            proj_a, proj_b = pa @ axis, pb @ axis
            gap = max(proj_b.min() - proj_a.max(), proj_a.min() - proj_b.max())
            separation = max(separation, gap)
    return separation


def boxes_conflict(a: OrientedBox, b: OrientedBox, gap_m: float, tolerance_m: float = 1e-9) -> bool:
    """True when two boxes share height and their footprints are closer than `gap_m` (touching stacks are fine)."""
    a_lo, a_hi = z_range(a)
    b_lo, b_hi = z_range(b)
    if a_lo >= b_hi - tolerance_m or b_lo >= a_hi - tolerance_m:
        return False
    return footprint_separation(a, b) < gap_m


def footprint_distance(box: OrientedBox, point_xy: Sequence[float]) -> float:
    """Distance from a ground point to the box footprint (0 inside)."""
    local = yaw_rotation(box.yaw_deg)[:2, :2].T @ (np.asarray(point_xy, dtype=float) - np.asarray(box.center[:2]))
    outside = np.maximum(np.abs(local) - np.asarray(box.size[:2]) / 2, 0.0)
    return float(np.hypot(*outside))


def footprint_within(box: OrientedBox, area: OrientedBox, margin_m: float = 0.0) -> bool:
    """True when the box footprint lies inside `area`'s footprint shrunk by `margin_m`."""
    local = (footprint_corners(box) - np.asarray(area.center[:2])) @ yaw_rotation(area.yaw_deg)[:2, :2]
    limit = np.asarray(area.size[:2]) / 2 - margin_m
    return bool(np.all(np.abs(local) <= limit + 1e-12))


def boxes_extent_m(boxes: Sequence[OrientedBox]) -> float:
    """Longest side of the axis-aligned bounds of all box corners."""
    corners = np.concatenate([box_corners(b) for b in boxes])
    return float((corners.max(0) - corners.min(0)).max())


def direction_from_angles(yaw_deg: float, pitch_down_deg: float) -> np.ndarray:
    """Unit viewing direction with heading `yaw_deg` (from +X towards +Y) tilted `pitch_down_deg` below horizontal."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_down_deg)
    return np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch)])


def camera_pose(eye: Sequence[float], forward: Sequence[float]) -> np.ndarray:
    """Zero-roll camera_to_world (OpenCV axes) at `eye` looking along `forward` (never straight up/down)."""
    z_axis = np.asarray(forward, dtype=float)
    z_axis = z_axis / np.linalg.norm(z_axis)
    x_axis = np.cross(z_axis, WORLD_UP)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x_axis, y_axis, z_axis], axis=1)
    pose[:3, 3] = eye
    return pose


def look_at(eye: Sequence[float], target: Sequence[float]) -> np.ndarray:
    """Zero-roll camera_to_world at `eye` looking at `target`."""
    return camera_pose(eye, np.asarray(target, dtype=float) - np.asarray(eye, dtype=float))
