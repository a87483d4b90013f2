"""Exact views of gravity-aligned boxes on a ground plane, cast per pixel with plain numpy (never through facts/):
axial depth and the instance id of the nearest surface, the truth that visibility and lifting tests hold against."""

from __future__ import annotations

import numpy as np

from schemas.annotations import Intrinsics, OrientedBox


def look_at(position, target) -> np.ndarray:
    """camera_to_world with OpenCV axes (x right, y down, z forward) and zero roll."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(forward, right), forward, position
    return pose


def cast(boxes: dict[int, OrientedBox], camera_to_world: np.ndarray, k: Intrinsics,
         ground: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(depth [H, W] float32 along the optical axis, 0 where nothing is hit; ids [H, W] uint16, 0 = ground or sky)
    at pixel centres (u + 0.5, v + 0.5)."""
    u, v = np.meshgrid(np.arange(k.width) + 0.5, np.arange(k.height) + 0.5)
    rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1) @ camera_to_world[:3, :3].T
    origin = camera_to_world[:3, 3]
    nearest = np.full(u.shape, np.inf)
    ids = np.zeros(u.shape, np.uint16)
    if ground and origin[2] > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -origin[2] / rays[..., 2]
        nearest = np.where(t > 0, t, np.inf)
    for instance, box in boxes.items():
        t = _slab(origin, rays, box)
        closer = t < nearest
        nearest[closer], ids[closer] = t[closer], instance
    return np.where(np.isfinite(nearest), nearest, 0.0).astype(np.float32), ids


def _slab(origin: np.ndarray, rays: np.ndarray, box: OrientedBox) -> np.ndarray:
    yaw = np.radians(box.yaw_deg)
    to_box = np.array([[np.cos(yaw), np.sin(yaw), 0.0], [-np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    local_origin = to_box @ (origin - np.asarray(box.center))
    local_rays = rays @ to_box.T
    half = np.asarray(box.size) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - local_origin) / local_rays
        t2 = (half - local_origin) / local_rays
    low = np.where(np.isnan(t1), -np.inf, np.minimum(t1, t2)).max(axis=-1)
    high = np.where(np.isnan(t2), np.inf, np.maximum(t1, t2)).min(axis=-1)
    return np.where((low <= high) & (low > 0), low, np.inf)
