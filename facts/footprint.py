"""The footprint of an object's lifted points: the floor rectangle its box stands on, oriented by its faces.

A box's side faces stand at right angles, so the horizontal normals of the points' vertical surfaces, folded
modulo 90°, vote for the box's axes. Where they agree, they decide the orientation (its exact angle: that of the
smallest rectangle along an outline edge within their tolerance, a face's own edge), and the rectangle is the
points' extent along those axes. The minimum-area rectangle alone cannot decide it: when only two side faces are
seen, the points' outline is a right triangle, and the rectangle along its hypotenuse has the same area as the true
one (a building 23.65 × 11.43 m came out 26.27 × 10.29 m, yaw 25.8° off). Without agreeing faces (a top seen from
above, a round object) the minimum-area rectangle is used, and the footprint is ambiguous when another orientation
gives a rectangle of about the same area but another size or centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_VERTICAL_NZ = 0.3
"""A surface is a side face when its normal's vertical component is under this."""
FACE_TOLERANCE_DEG = 8.0
"""Side-face normals within this many degrees (modulo 90°) of an orientation vote for it."""
MIN_FACE_POINTS = 50
MIN_FACE_SUPPORT = 0.6
"""The faces decide when at least this share of the side-face points vote for one orientation."""
AREA_TIE = 0.05
"""Rectangles whose areas are within this share of the smallest explain the outline equally well…"""
SHAPE_TIE = 0.05
"""…and are different footprints when a side or the centre differs by more than this share of the length."""
MIN_ORIENTATION_APART_DEG = 10.0


@dataclass(frozen=True)
class Footprint:
    centre: tuple[float, float]
    length: float
    width: float
    yaw_deg: float
    """direction of the length axis, degrees"""
    from_faces: bool
    ambiguous: bool
    """two rectangles of different size or centre explain the points about equally well"""


def fit_footprint(points_xy: np.ndarray, normals: np.ndarray) -> Footprint:
    """Footprint of points [N, 2] (floor projection) with their unit surface normals [N, 3] (0 where unknown)."""
    orientation = face_orientation(normals)
    angles = _hull_angles(points_xy)
    if orientation is not None:  # the faces pick the orientation; a hull edge along them gives it exactly
        near = [a for a in angles if _angle_apart(a, orientation) <= FACE_TOLERANCE_DEG] or [orientation]
        return min((_aligned(points_xy, a, from_faces=True) for a in near),
                   key=lambda f: f.length * f.width)
    candidates = [_aligned(points_xy, angle, from_faces=False) for angle in angles]
    best = min(candidates, key=lambda f: f.length * f.width)
    rivals = [f for f in candidates
              if f.length * f.width <= (1 + AREA_TIE) * best.length * best.width
              and _angle_apart(f.yaw_deg, best.yaw_deg) >= MIN_ORIENTATION_APART_DEG and _differ(f, best)]
    return Footprint(best.centre, best.length, best.width, best.yaw_deg, from_faces=False, ambiguous=bool(rivals))


def face_orientation(normals: np.ndarray) -> float | None:
    """The box orientation (degrees in [0, 90)) the side faces agree on, or None where too few or they disagree."""
    horizontal = normals[:, :2]
    side = (np.abs(normals[:, 2]) < MAX_VERTICAL_NZ) & (np.linalg.norm(horizontal, axis=1) > 0.5)
    if side.sum() < MIN_FACE_POINTS:
        return None
    folded = np.degrees(np.arctan2(horizontal[side, 1], horizontal[side, 0])) % 90.0
    bins = np.bincount(np.floor(folded).astype(int) % 90, minlength=90)
    window = int(FACE_TOLERANCE_DEG)
    votes = sum(np.roll(bins, shift) for shift in range(-window, window + 1))
    peak = int(np.argmax(votes)) + 0.5
    near = np.abs((folded - peak + 45.0) % 90.0 - 45.0) <= FACE_TOLERANCE_DEG
    if near.mean() < MIN_FACE_SUPPORT:
        return None
    mean = np.angle(np.exp(4j * np.radians(folded[near])).mean())  # 4× folds the right angles into one direction
    return float(np.degrees(mean) / 4.0 % 90.0)


def _aligned(points_xy: np.ndarray, angle_deg: float, from_faces: bool) -> Footprint:
    """The points' bounding rectangle along the axes at `angle_deg` and `angle_deg` + 90° (not yet judged
    ambiguous: `fit_footprint` decides that)."""
    angle = np.radians(angle_deg)
    axes = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    local = points_xy @ axes.T
    low, high = local.min(axis=0), local.max(axis=0)
    centre = ((low + high) / 2) @ axes
    side_a, side_b = high - low
    yaw = angle_deg if side_a >= side_b else angle_deg + 90.0
    return Footprint((float(centre[0]), float(centre[1])), float(max(side_a, side_b)), float(min(side_a, side_b)),
                     float(yaw), from_faces, False)


def _hull_angles(points_xy: np.ndarray) -> list[float]:
    """Directions (mod 90°) of the convex hull's edges: a minimum-area rectangle has a side along one of them."""
    hull = cv2.convexHull(points_xy.astype(np.float32)).reshape(-1, 2).astype(float)
    if len(hull) < 3:
        edge = hull[-1] - hull[0] if len(hull) == 2 else np.array([1.0, 0.0])
        return [float(np.degrees(np.arctan2(edge[1], edge[0])) % 90.0)]
    edges = np.roll(hull, -1, axis=0) - hull
    edges = edges[np.linalg.norm(edges, axis=1) > 0]
    return sorted({round(float(a), 3) for a in np.degrees(np.arctan2(edges[:, 1], edges[:, 0])) % 90.0})


def _angle_apart(a_deg: float, b_deg: float) -> float:
    """Smallest difference of two box orientations, modulo 90°."""
    return abs((a_deg - b_deg + 45.0) % 90.0 - 45.0)


def _differ(a: Footprint, b: Footprint) -> bool:
    scale = max(a.length, b.length)
    apart = np.hypot(a.centre[0] - b.centre[0], a.centre[1] - b.centre[1])
    return max(abs(a.length - b.length), abs(a.width - b.width), apart) > SHAPE_TIE * scale
