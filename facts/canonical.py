"""The canonical frame: first keyframe's camera centre at the origin, z up, x = its right axis made horizontal."""

from __future__ import annotations

import numpy as np


def canonical_from_world(first_camera_to_world: np.ndarray, up_world: np.ndarray) -> np.ndarray:
    """4×4 transform from world coordinates into the scene's canonical frame."""
    up = np.asarray(up_world, dtype=float)
    up = up / np.linalg.norm(up)
    right = first_camera_to_world[:3, 0] - (first_camera_to_world[:3, 0] @ up) * up
    if np.linalg.norm(right) < 1e-6:  # camera right axis along gravity: a 90° roll; use its forward axis instead
        right = np.cross(first_camera_to_world[:3, 2], up)
    right = right / np.linalg.norm(right)
    forward = np.cross(up, right)
    rotation = np.stack([right, forward, up])  # rows: canonical axes in world coordinates
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = -rotation @ first_camera_to_world[:3, 3]
    return out


def yaw_in_canonical(canonical: np.ndarray, yaw_world_deg: float) -> float:
    """A world yaw (about up) expressed in the canonical frame, in [-180, 180)."""
    yaw = np.radians(yaw_world_deg)
    direction = canonical[:3, :3] @ np.array([np.cos(yaw), np.sin(yaw), 0.0])
    return float((np.degrees(np.arctan2(direction[1], direction[0])) + 180.0) % 360.0 - 180.0)
