"""Sparse structure under known poses: SIFT features matched between nearby keyframes and triangulated with the
source's own cameras. A source whose poses are up to scale (COLMAP, e.g. DL3DV) gets from it the points a metric
depth map is compared with to find that scale, without re-estimating poses it already has."""

from __future__ import annotations

import cv2
import numpy as np

from schemas.annotations import Intrinsics
from specialists.sfm import SfMError, SfMReconstruction

NEIGHBOURS = 2
"""Each keyframe is matched with this many following ones."""
RATIO = 0.75
"""Lowe's ratio test for a match."""
MAX_REPROJECTION_PX = 1.0
MIN_PARALLAX_DEG = 1.0
"""Rays meeting at a smaller angle fix a point's depth too loosely to measure a scale with."""
MAX_FEATURES = 4000


def triangulate(frames: np.ndarray, k: Intrinsics, camera_to_world: np.ndarray) -> SfMReconstruction:
    """Points triangulated from keyframes [N,H,W,3] (uint8 RGB) with their known OpenCV camera-to-world poses
    [N,4,4] (any unit); each point is observed in the two keyframes it came from."""
    sift = cv2.SIFT_create(nfeatures=MAX_FEATURES)
    features = [sift.detectAndCompute(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), None) for frame in frames]
    matrix = np.array([[k.fx, 0.0, k.cx - 0.5], [0.0, k.fy, k.cy - 0.5], [0.0, 0.0, 1.0]])  # OpenCV: centres at i
    world_to_camera = np.linalg.inv(camera_to_world)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    points, observations = [], [([], []) for _ in frames]
    errors = []
    for a in range(len(frames)):
        for b in range(a + 1, min(a + 1 + NEIGHBOURS, len(frames))):
            (kp_a, desc_a), (kp_b, desc_b) = features[a], features[b]
            if desc_a is None or desc_b is None or len(kp_a) < 2 or len(kp_b) < 2:
                continue
            good = [m for m, n in matcher.knnMatch(desc_a, desc_b, k=2) if m.distance < RATIO * n.distance]
            if not good:
                continue
            uv_a = np.float64([kp_a[m.queryIdx].pt for m in good])
            uv_b = np.float64([kp_b[m.trainIdx].pt for m in good])
            xyz, kept, error = _triangulate_pair(matrix, world_to_camera[a], world_to_camera[b], uv_a, uv_b)
            first = sum(len(p) for p in points)
            for i, uv in ((a, uv_a), (b, uv_b)):
                observations[i][0].append(uv[kept] + 0.5)  # back to pixel centres at i + 0.5
                observations[i][1].append(np.arange(first, first + len(xyz)))
            points.append(xyz)
            errors.append(error)
    if not points or not sum(len(p) for p in points):
        raise SfMError(f"no point triangulated from {len(frames)} keyframes with their own poses: too few matched "
                       f"features or too little parallax")
    return SfMReconstruction(
        registered=np.ones(len(frames), dtype=bool), fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=k.width,
        height=k.height, camera_to_world=np.asarray(camera_to_world, dtype=float), points_xyz=np.concatenate(points),
        observations=[(np.concatenate(uv) if uv else np.zeros((0, 2)), np.concatenate(ix) if ix else
                       np.zeros(0, dtype=np.int64)) for uv, ix in observations],
        mean_reprojection_px=float(np.mean(np.concatenate(errors))))


def _triangulate_pair(matrix: np.ndarray, w2c_a: np.ndarray, w2c_b: np.ndarray, uv_a: np.ndarray,
                      uv_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World points of the matches that lie in front of both cameras, reproject within MAX_REPROJECTION_PX and
    meet at MIN_PARALLAX_DEG or more; the mask of those matches and their reprojection errors."""
    homogeneous = cv2.triangulatePoints(matrix @ w2c_a[:3], matrix @ w2c_b[:3], uv_a.T, uv_b.T)
    xyz = (homogeneous[:3] / np.where(np.abs(homogeneous[3]) > 1e-12, homogeneous[3], np.nan)).T
    keep = np.isfinite(xyz).all(axis=1)
    worst = np.zeros(len(xyz))
    rays = []
    for w2c, uv in ((w2c_a, uv_a), (w2c_b, uv_b)):
        local = xyz @ w2c[:3, :3].T + w2c[:3, 3]
        keep &= local[:, 2] > 0
        projected = local @ matrix.T
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.linalg.norm(projected[:, :2] / projected[:, 2:] - uv, axis=1)
        worst = np.maximum(worst, np.nan_to_num(error, nan=np.inf))
        centre = -w2c[:3, :3].T @ w2c[:3, 3]
        rays.append(xyz - centre)
    cosine = np.einsum("ij,ij->i", *rays) / np.maximum(
        np.linalg.norm(rays[0], axis=1) * np.linalg.norm(rays[1], axis=1), 1e-30)
    keep &= (worst <= MAX_REPROJECTION_PX) & (cosine <= np.cos(np.radians(MIN_PARALLAX_DEG)))
    return xyz[keep], keep, worst[keep]
