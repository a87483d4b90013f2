"""Gravity for sources whose world has no defined up (SLAM or COLMAP frames): estimated from the cameras."""

from __future__ import annotations

import numpy as np

ESTIMATED_FROM_CAMERAS = "estimated:camera_up"
"""Provenance of an up vector estimated here (a source's own gravity is `native:<dataset>/<file>`)."""
SPREAD = 0.1
"""A set of directions spans a plane when its second singular value is at least this share of its first."""


def estimate_up(camera_to_world: np.ndarray) -> np.ndarray:
    """World up from OpenCV camera-to-world poses [N, 4, 4] of a handheld, drone or vehicle video.

    People, gimbals and vehicles keep cameras level (no roll), whatever their pitch: every camera's right axis (x)
    is then horizontal, and where the video turns, those axes span the horizontal plane, whose normal is gravity.
    A video that never turns gives one right axis; up is then across it and across the direction of travel
    (drives and survey flights are level), or, standing still, the cameras' mean up axis (−y) made perpendicular
    to it. The mean up axis only ever picks the sign: it is tilted by the pitch (a drone looking down).
    """
    poses = np.asarray(camera_to_world, dtype=float)
    mean_up = -poses[:, :3, 1].mean(axis=0)
    rights = poses[:, :3, 0]
    _, singular, vt = np.linalg.svd(rights)  # vt is 3×3 however few cameras there are
    if len(singular) > 1 and singular[1] >= SPREAD * singular[0]:
        return _signed(vt[2], mean_up)
    right = vt[0]
    centres = poses[:, :3, 3] - poses[:, :3, 3].mean(axis=0)
    if len(centres) >= 2 and np.abs(centres).max() > 0:
        travel = np.linalg.svd(centres)[2][0]
        across = np.cross(right, travel)
        if np.linalg.norm(across) > 0.5:
            return _signed(across, mean_up)
    return _signed(mean_up - (mean_up @ right) * right, mean_up)


def _signed(direction: np.ndarray, mean_up: np.ndarray) -> np.ndarray:
    direction = direction / max(np.linalg.norm(direction), 1e-12)
    return direction if direction @ mean_up >= 0 else -direction
