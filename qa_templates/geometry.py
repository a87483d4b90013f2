"""Geometry over facts: cameras, projections, box corners, distances, rotations (canonical frame, metres)."""

from __future__ import annotations

import numpy as np

from schemas.facts import CameraFact, ObjectFact


def camera_to_canonical(cam: CameraFact) -> np.ndarray:
    return np.asarray(cam.camera_to_canonical, dtype=float).reshape(4, 4)


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
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    half = np.asarray(obj.size_lwh) / 2.0
    return np.asarray(obj.center) + (signs * half) @ box_axes(obj)


def centre_distance(a: ObjectFact, b: ObjectFact) -> float:
    return float(np.linalg.norm(np.asarray(a.center) - np.asarray(b.center)))


def footprint_area(obj: ObjectFact) -> float:
    return float(obj.size_lwh[0] * obj.size_lwh[1])


def longest_dimension(obj: ObjectFact) -> float:
    return float(max(obj.size_lwh))
