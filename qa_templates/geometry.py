"""Geometry over facts: cameras, projections, box corners, distances, rotations (canonical frame, metres)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from schemas.facts import CameraFact, ObjectFact

_CORNER_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)


def camera_to_canonical(cam: CameraFact) -> np.ndarray:
    """The camera's 4×4 pose (read-only: shared by every question about the same keyframe)."""
    return _pose(cam.camera_to_canonical)


@lru_cache(maxsize=4096)
def _pose(row_major: tuple[float, ...]) -> np.ndarray:
    pose = np.asarray(row_major, dtype=float).reshape(4, 4)
    pose.setflags(write=False)
    return pose


def to_camera(cam: CameraFact, points: np.ndarray) -> np.ndarray:
    """Canonical points (…, 3) into the camera's OpenCV axes (x right, y down, z forward)."""
    pose = camera_to_canonical(cam)
    rotation, centre = pose[:3, :3], pose[:3, 3]
    return (np.asarray(points, dtype=float) - centre) @ rotation


def project(cam: CameraFact, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates (…, 2) of canonical points; only meaningful where camera z > 0."""
    xyz = to_camera(cam, points)
    z = xyz[..., 2:3]
    return np.concatenate([cam.fx * xyz[..., 0:1] / z + cam.cx, cam.fy * xyz[..., 1:2] / z + cam.cy], axis=-1)


def camera_centre(cam: CameraFact) -> np.ndarray:
    return camera_to_canonical(cam)[:3, 3]


def camera_forward(cam: CameraFact) -> np.ndarray:
    return camera_to_canonical(cam)[:3, 2]


def relative_rotation_deg(a: CameraFact, b: CameraFact) -> float:
    """Angle of the rotation taking camera a's orientation to camera b's."""
    r = camera_to_canonical(a)[:3, :3].T @ camera_to_canonical(b)[:3, :3]
    cos = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)))


def yaw_change_deg(a: CameraFact, b: CameraFact) -> float:
    """Signed change of heading from a to b about the up axis (positive = turned left)."""
    fa, fb = camera_forward(a)[:2], camera_forward(b)[:2]
    return float(np.degrees(np.arctan2(fa[0] * fb[1] - fa[1] * fb[0], fa @ fb)))


def box_axes(obj: ObjectFact) -> np.ndarray:
    """Unit axes (3, 3) of the object's box: length, width, up."""
    yaw = np.radians(obj.yaw_deg)
    return np.array([[np.cos(yaw), np.sin(yaw), 0.0], [-np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])


def box_corners(obj: ObjectFact) -> np.ndarray:
    """The 8 corners (8, 3) of the object's oriented box."""
    half = np.asarray(obj.size_lwh) / 2.0
    return np.asarray(obj.center) + (_CORNER_SIGNS * half) @ box_axes(obj)


def centre_distance(a: ObjectFact, b: ObjectFact) -> float:
    return float(np.linalg.norm(np.asarray(a.center) - np.asarray(b.center)))


def box_distance(a: ObjectFact, b: ObjectFact) -> float:
    """Closest distance between the two objects' boxes (0 when they touch or overlap).

    Exact for gravity-aligned boxes: the set of differences a − b of their points is a vertical prism (the
    footprints' difference over the height ranges' difference), so the distance is the footprints' 2-D distance
    and the height ranges' gap, combined by Pythagoras."""
    vertical = max(0.0, a.bottom_z - b.top_z, b.bottom_z - a.top_z)
    return float(np.hypot(footprint_distance(footprint(a), footprint(b)), vertical))


def footprint(obj: ObjectFact) -> np.ndarray:
    """The box's footprint corners (4, 2), in order around it."""
    return box_corners(obj)[::2, :2][[0, 1, 3, 2]]


def footprint_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Distance between two convex polygons (corners in order around each): 0 when they overlap, else the
    smallest distance from a corner of one to an edge of the other. Cached by the corners' values: a scene asks
    for the same pairs again for every question (and phrasing) that names them."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return _polygon_distance(p.tobytes(), q.tobytes(), p.shape, q.shape)


@lru_cache(maxsize=65536)
def _polygon_distance(p_bytes: bytes, q_bytes: bytes, p_shape: tuple[int, ...], q_shape: tuple[int, ...]) -> float:
    p, q = np.frombuffer(p_bytes).reshape(p_shape), np.frombuffer(q_bytes).reshape(q_shape)
    if not any(_separates(edge_start, edge_end, own, other) for own, other in ((p, q), (q, p))
               for edge_start, edge_end in zip(own, np.roll(own, -1, axis=0))):
        return 0.0
    return min(_point_segment_distance(point, start, end) for own, other in ((p, q), (q, p))
               for point in own for start, end in zip(other, np.roll(other, -1, axis=0)))


def _separates(start: np.ndarray, end: np.ndarray, own: np.ndarray, other: np.ndarray) -> bool:
    """Whether the normal of edge start→end of polygon `own` is an axis on which the two polygons do not overlap."""
    normal = np.array([end[1] - start[1], start[0] - end[0]])
    own_side, other_side = own @ normal, other @ normal
    return bool(other_side.min() > own_side.max() or other_side.max() < own_side.min())


def _point_segment_distance(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    along = end - start
    t = np.clip((point - start) @ along / max(float(along @ along), 1e-300), 0.0, 1.0)
    return float(np.linalg.norm(point - (start + t * along)))


def footprint_area(obj: ObjectFact) -> float:
    return float(obj.size_lwh[0] * obj.size_lwh[1])


def longest_dimension(obj: ObjectFact) -> float:
    return float(max(obj.size_lwh))
